//! What the nginx_uploads checks share.
//!
//! MD109, MD110: what nginx does with user uploads (the media prefix): no directory listings,
//! no uploaded script executed, no content sniffing.

use crate::checks::shared::nginx::{Prefix, PrefixKind, Target};
use crate::checks::shared::nginx_routing::targets_for;
pub(crate) use crate::checks::shared::nginx_routing::Targets;

/// The media prefixes of the context's (borrowed: one per server of a big site, not copied).
pub(crate) fn media<'c>(cx: &'c crate::checks::Context<'_>) -> Vec<&'c Prefix> {
    cx.prefixes()
        .iter()
        .filter(|p| p.kind == PrefixKind::Media)
        .collect()
}

pub(crate) fn pairs<'a>(ps: &[&'a Prefix], all: &'a Targets) -> Vec<(&'a Prefix, &'a Target)> {
    ps.iter()
        .flat_map(|&p| targets_for(p, all).into_iter().map(move |t| (p, t)))
        .collect()
}
