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
pub(crate) struct Targets<'c> {
    all: Vec<Target<'c>>,
    /// The indexes of `all` sorted by server, each server's in order: its targets are a range
    /// found by binary search. 4 bytes a target; a table of a `Vec` per server was ~50 (one a
    /// server on a site of many, while each check that asks them runs).
    by_server: Vec<u32>,
}

impl<'c> Targets<'c> {
    pub(crate) fn new(all: Vec<Target<'c>>) -> Targets<'c> {
        let n = u32::try_from(all.len()).expect("fewer than 2^32 targets");
        let mut by_server: Vec<u32> = (0..n).collect();
        // Stable: a server's targets stay in order.
        by_server.sort_by_key(|&i| all[i as usize].server);
        Targets { all, by_server }
    }

    /// The range of `by_server` that holds server `s`'s targets.
    fn of_server(&self, s: crate::nginx::NodeId) -> std::ops::Range<usize> {
        let server = |i: &u32| self.all[*i as usize].server;
        let start = self.by_server.partition_point(|i| server(i) < s);
        let len = self.by_server[start..].partition_point(|i| server(i) == s);
        start..start + len
    }
}

/// The targets `p` is checked on, in config order: every one for a prefix of the app
/// (MEDIA_URL), the target of its server for a prefix found in a server's location.
pub(crate) fn targets_for<'a, 'c>(p: Prefix<'_>, all: &'a Targets<'c>) -> Vec<&'a Target<'c>> {
    match p.server() {
        None => all.all.iter().collect(),
        Some(s) => all.by_server[all.of_server(s)]
            .iter()
            .map(|&i| &all.all[i as usize])
            .collect(),
    }
}

/// How many targets `p` is checked on (`targets_for`).
pub(crate) fn count_for(p: Prefix<'_>, all: &Targets<'_>) -> usize {
    match p.server() {
        None => all.all.len(),
        Some(s) => all.of_server(s).len(),
    }
}

pub(crate) fn request(t: &Target<'_>, uri: &str) -> Request {
    Request::for_path(t.host, t.port, uri)
}
