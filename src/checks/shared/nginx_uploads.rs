//! What the nginx_uploads checks share.
//!
//! MD109, MD110: what nginx does with user uploads (the media prefix): no directory listings,
//! no uploaded script executed, no content sniffing.

use crate::checks::shared::nginx::{Prefix, PrefixKind, Target};
pub(crate) use crate::checks::shared::nginx_routing::Targets;
use crate::checks::shared::nginx_routing::{count_for, targets_for};

/// The media prefixes of the context's, read in place (one per server of a big site).
pub(crate) fn media<'c>(
    cx: &'c crate::checks::Context<'_>,
) -> impl Iterator<Item = Prefix<'c>> + Clone + 'c {
    cx.prefixes().iter().filter(|p| p.kind == PrefixKind::Media)
}

/// Each prefix of `ps` with each target it is checked on (`targets_for`), in order, handed out
/// one at a time: one a server on a site of many, where MD110 asks them again as the report is
/// written (a list of them was 16 bytes a server more at that moment).
pub(crate) fn pairs<'p: 'a, 'a, 's>(
    ps: impl Iterator<Item = Prefix<'p>> + 'a,
    all: &'a Targets<'_, 's>,
) -> impl Iterator<Item = (Prefix<'p>, Target<'s>)> + 'a {
    ps.flat_map(move |p| targets_for(p, all).map(move |t| (p, t)))
}

/// How many `pairs` there are.
pub(crate) fn pair_count<'p>(ps: impl Iterator<Item = Prefix<'p>>, all: &Targets<'_, '_>) -> usize {
    ps.map(|p| count_for(p, all)).sum()
}
