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

/// Each prefix of `ps` with each target it is checked on (`targets_for`), in order, and how
/// many: one a server on a site of many, made as they are asked for, not held in a list.
pub(crate) fn pairs<'p: 't, 't>(
    ps: impl Iterator<Item = Prefix<'p>> + Clone + 'p,
    all: &'t Targets,
) -> (usize, impl Iterator<Item = (Prefix<'p>, &'t Target)> + 't) {
    let count = ps.clone().map(|p| count_for(p, all)).sum();
    let pairs = ps.flat_map(move |p| targets_for(p, all).into_iter().map(move |t| (p, t)));
    (count, pairs)
}
