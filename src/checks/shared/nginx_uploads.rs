//! What the nginx_uploads checks share.
//!
//! MD109, MD110: what nginx does with user uploads (the media prefix): no directory listings,
//! no uploaded script executed, no content sniffing.

use crate::checks::shared::nginx::{Prefix, PrefixKind, Target};
pub(crate) use crate::checks::shared::nginx_routing::Targets;
use crate::checks::shared::nginx_routing::{count_for, targets_for};

/// The media prefixes of the context's (borrowed: one per server of a big site, not copied;
/// made at their length, not grown by doubling).
pub(crate) fn media<'c>(cx: &'c crate::checks::Context<'_>) -> Vec<&'c Prefix> {
    let media = || cx.prefixes().iter().filter(|p| p.kind == PrefixKind::Media);
    let mut out = Vec::with_capacity(media().count());
    out.extend(media());
    out
}

/// Each prefix of `ps` with each target it is checked on (`targets_for`), in order, handed out
/// one at a time: one a server on a site of many, where MD110 asks them again as the report is
/// written (a list of them was 16 bytes a server more at that moment).
pub(crate) fn pairs<'a, 'c>(
    ps: &'a [&'a Prefix],
    all: &'a Targets<'c>,
) -> impl Iterator<Item = (&'a Prefix, &'a Target<'c>)> + 'a {
    ps.iter()
        .flat_map(|&p| targets_for(p, all).into_iter().map(move |t| (p, t)))
}

/// How many `pairs` there are.
pub(crate) fn pair_count(ps: &[&Prefix], all: &Targets<'_>) -> usize {
    ps.iter().map(|p| count_for(p, all)).sum()
}
