//! The directories nginx serves files from, for the resolver's servers: `static_locations()`
//! (the one model of how nginx maps URLs to files), with the directive that names each
//! directory, and URLs for files under them.

use super::{Modifier, Request, Resolution, Resolver, ServedKind};
use crate::nginx::{Config, NodeId};
use crate::report::Location;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// One place nginx serves files from: one is held per serving location of every server for the
/// whole run (359,711 on issue #12's one big site), so its texts are boxed, no room left over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedDir {
    /// The directory (system path) nginx maps `prefix` to.
    pub dir: Box<Path>,
    /// The URL prefix (the location's pattern; for a regex location, its regex).
    pub prefix: Box<str>,
    /// `root` or `alias`.
    pub kind: ServedKind,
    /// The `root`/`alias` directive that names the directory (the location when it is
    /// nginx's default root): its node, not its place as text (a file name for every served
    /// directory of a site of many servers); `at` says where it is.
    pub at_node: NodeId,
    pub server: NodeId,
    pub location: Option<NodeId>,
    /// A regex location: URLs under it are not `prefix + path`.
    pub regex: bool,
}

impl ServedDir {
    /// Where the directive that names the directory is; `cfg` is the resolver's config.
    pub fn at(&self, cfg: &Config) -> Location {
        cfg.directive(self.at_node).location()
    }

    /// The URL path for a file under `dir` (percent-encoded): `prefix + rest` for a prefix
    /// location, `/ + rest` below a regex location's root. None when the file is not under `dir`.
    pub fn url_for(&self, file: &Path) -> Option<String> {
        let rel = file.strip_prefix(&self.dir).ok()?;
        let rel = encode(rel.as_os_str().as_bytes());
        if self.regex {
            return Some(format!("/{rel}"));
        }
        let sep = if self.prefix.ends_with('/') { "" } else { "/" };
        Some(format!("{}{sep}{rel}", self.prefix))
    }

    /// How nginx answers the URL path `target` on this directory's server.
    pub fn resolve(&self, resolver: &Resolver<'_>, target: &str) -> Resolution {
        let t = resolver.target(self.server);
        resolver.resolve_on(self.server, &Request::for_path(t.host, t.port, target))
    }
}

/// Every directory the resolver's servers serve files from, in config order, one entry per
/// directory (paths with variables are left out: they have no single directory).
pub fn served_dirs(resolver: &Resolver<'_>) -> Vec<ServedDir> {
    let mut dirs: Vec<ServedDir> = resolver
        .static_locations()
        .into_iter()
        .map(|s| {
            let block = s.location.unwrap_or(s.server);
            let directive = resolver.root_of(block).and_then(|r| r.directive);
            let regex = s
                .location
                .and_then(|l| resolver.location_pattern(l))
                .is_some_and(|(m, _)| matches!(m, Modifier::Regex | Modifier::RegexCaseless));
            ServedDir {
                dir: s.dir.components().collect::<PathBuf>().into_boxed_path(),
                prefix: s.prefix.into_boxed_str(),
                kind: s.kind,
                at_node: directive.unwrap_or(block),
                server: s.server,
                location: s.location,
                regex,
            }
        })
        .collect();
    // Held for the run: collected in place into the buffer of `static_locations`' 64-byte
    // entries, the 56-byte ones left 8 bytes an entry written and unused (3 MB on one site of
    // 360,000 servers), and room for up to as many more (not in memory until written).
    dirs.shrink_to_fit();
    dirs
}

/// Percent-encode a path for a request target: unreserved bytes and `/` stay as they are.
pub fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The directories to scan: every served directory not inside another one.
pub fn outermost(dirs: impl IntoIterator<Item = PathBuf>) -> Vec<PathBuf> {
    let mut all: Vec<PathBuf> = dirs.into_iter().collect();
    // Paths sort component by component, so whatever is inside a directory comes right after
    // it (`/srv/a`, `/srv/a/b`, `/srv/ab`): comparing with the last one kept is enough.
    all.sort();
    all.dedup();
    let mut out: Vec<PathBuf> = Vec::new();
    for d in all {
        if out.last().map_or(true, |o| !d.starts_with(o)) {
            out.push(d);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outermost_keeps_the_covering_dirs() {
        let v = outermost(
            ["/srv/a/b", "/srv/a", "/srv/ab", "/srv/a"]
                .into_iter()
                .map(PathBuf::from),
        );
        assert_eq!(v, vec![PathBuf::from("/srv/a"), PathBuf::from("/srv/ab")]);
    }

    /// One is held per served directory of every server: the directive's place is its node
    /// (120 bytes and the file's name as text before), its texts boxed (88 bytes before).
    #[test]
    fn a_served_dir_is_small() {
        assert_eq!(std::mem::size_of::<ServedDir>(), 56);
    }

    #[test]
    fn urls_are_encoded() {
        assert_eq!(encode(b"/a b/caf\xe9.jpg"), "/a%20b/caf%E9.jpg");
    }
}
