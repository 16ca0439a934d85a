//! What the nginx_routing checks share.
//!
//! MD105–MD108: which server and which location a media/static request really reaches.
//!
//! The media/static URL prefixes come from the app (MEDIA_URL/STATIC_URL) when it is known, else
//! from the locations that serve files from disk; every question about them is put to the
//! resolver.

use crate::checks::shared::nginx::{Prefix, Target};
use crate::nginx::resolve::Request;

/// The targets of a resolver, indexed by server: a prefix found in one server's location is
/// checked on that server's target, looked up rather than searched for (a config of 500,000
/// servers, each with its own `/media/`, made a search per prefix quadratic).
pub(crate) struct Targets {
    all: Vec<Target>,
    by_server: std::collections::HashMap<crate::nginx::NodeId, Vec<usize>>,
}

impl Targets {
    pub(crate) fn new(all: Vec<Target>) -> Targets {
        let mut by_server: std::collections::HashMap<_, Vec<usize>> = Default::default();
        for (i, t) in all.iter().enumerate() {
            by_server.entry(t.server).or_default().push(i);
        }
        Targets { all, by_server }
    }
}

/// The targets `p` is checked on, in config order: every one for a prefix of the app
/// (MEDIA_URL), the target of its server for a prefix found in a server's location.
pub(crate) fn targets_for<'a>(p: &'a Prefix, all: &'a Targets) -> Vec<&'a Target> {
    match p.server() {
        None => all.all.iter().collect(),
        Some(s) => all
            .by_server
            .get(&s)
            .into_iter()
            .flatten()
            .map(|&i| &all.all[i])
            .collect(),
    }
}

pub(crate) fn request(t: &Target, uri: &str) -> Request {
    Request::for_path(&t.host, t.port, uri)
}
