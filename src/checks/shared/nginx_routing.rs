//! What the nginx_routing checks share.
//!
//! MD105–MD108: which server and which location a media/static request really reaches.
//!
//! The media/static URL prefixes come from the app (MEDIA_URL/STATIC_URL) when it is known, else
//! from the locations that serve files from disk; every question about them is put to the
//! resolver.

use crate::checks::shared::nginx::{Prefix, Target};
use crate::nginx::resolve::Request;

pub(crate) fn targets_for<'a>(
    p: &'a Prefix,
    all: &'a [Target],
) -> impl Iterator<Item = &'a Target> + 'a {
    all.iter()
        .filter(move |t| p.server.map_or(true, |s| s == t.server))
}

pub(crate) fn request(t: &Target, uri: &str) -> Request {
    Request::for_path(&t.host, t.port, uri)
}
