//! What the nginx_routing checks share.
//!
//! MD105–MD108: which server and which location a media/static request really reaches.
//!
//! The media/static URL prefixes come from the app (MEDIA_URL/STATIC_URL) when it is known, else
//! from the locations that serve files from disk; every question about them is put to the
//! resolver.

use crate::checks::shared::nginx::{Prefix, Target};
use crate::nginx::resolve::{Request, Resolver};

/// The targets of a resolver, indexed by server: a prefix found in one server's location is
/// checked on that server's target, looked up rather than searched for (a config of 500,000
/// servers, each with its own `/media/`, made a search per prefix quadratic). Each target is
/// made as it is asked for (`Resolver::target`): one site of 360,000 servers held them all
/// (24 bytes each) while each check that asks them ran, and MD110 asks them again as the
/// report is written.
pub(crate) struct Targets<'r, 's> {
    resolver: &'r Resolver<'s>,
    /// The indexes of the resolver's servers sorted by server node, each server's in order:
    /// its targets are a range found by binary search. 4 bytes a server; a table of a `Vec`
    /// per server was ~50.
    by_server: Vec<u32>,
}

impl<'r, 's> Targets<'r, 's> {
    pub(crate) fn new(resolver: &'r Resolver<'s>) -> Targets<'r, 's> {
        let servers = resolver.servers();
        let n = u32::try_from(servers.len()).expect("fewer than 2^32 targets");
        let mut by_server: Vec<u32> = (0..n).collect();
        // Stable: a server's targets stay in order.
        by_server.sort_by_key(|&i| servers[i as usize]);
        Targets {
            resolver,
            by_server,
        }
    }

    /// The range of `by_server` that holds server `s`'s targets.
    fn of_server(&self, s: crate::nginx::NodeId) -> std::ops::Range<usize> {
        let servers = self.resolver.servers();
        let server = |i: &u32| servers[*i as usize];
        let start = self.by_server.partition_point(|i| server(i) < s);
        let len = self.by_server[start..].partition_point(|i| server(i) == s);
        start..start + len
    }
}

/// The targets `p` is checked on, in config order: every one for a prefix of the app
/// (MEDIA_URL), the target of its server for a prefix found in a server's location.
pub(crate) fn targets_for<'a, 's>(
    p: Prefix<'_>,
    all: &'a Targets<'_, 's>,
) -> impl Iterator<Item = Target<'s>> + 'a {
    let r = all.resolver;
    let servers: &'s [crate::nginx::NodeId] = r.servers();
    let (every, one) = match p.server() {
        None => (0..servers.len(), &all.by_server[..0]),
        Some(s) => (0..0, &all.by_server[all.of_server(s)]),
    };
    let indexes = every.chain(one.iter().map(|&i| i as usize));
    indexes.map(move |i| r.target(servers[i]))
}

/// How many targets `p` is checked on (`targets_for`).
pub(crate) fn count_for(p: Prefix<'_>, all: &Targets<'_, '_>) -> usize {
    match p.server() {
        None => all.resolver.servers().len(),
        Some(s) => all.of_server(s).len(),
    }
}

pub(crate) fn request(t: &Target<'_>, uri: &str) -> Request {
    Request::for_path(t.host, t.port, uri)
}
