//! The directories nginx serves files from, for the resolver's servers: `static_locations()`
//! (the one model of how nginx maps URLs to files), with the directive that names each
//! directory, and URLs for files under them.

use super::{Modifier, Request, Resolution, Resolver, ServedKind};
use crate::nginx::{Config, NodeId};
use crate::report::Location;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Every directory the resolver's servers serve files from, held for the whole run: one per
/// serving location of every server (359,711 on issue #12's one big site). Each is 20 bytes
/// here and its path's bytes in one buffer shared by all, the prefixes (a few distinct texts:
/// `/media/` once per server) kept once each; a boxed path and prefix each was ~96 bytes.
/// `get`/`iter` hand out `ServedDir` views.
#[derive(Debug, Default)]
pub struct ServedDirs {
    /// Every directory's bytes, back to back, in the entries' order.
    bytes: Vec<u8>,
    entries: Vec<Entry>,
    /// The distinct prefixes, in the order first seen.
    prefixes: Vec<Box<str>>,
}

/// One served directory in `ServedDirs`.
#[derive(Debug, Clone, Copy)]
struct Entry {
    /// Where its path ends in `bytes` (it starts where the one before ends).
    end: u32,
    /// Its prefix's index in `prefixes`, with `ALIAS` and `REGEX` set for an alias and a regex
    /// location.
    prefix: u32,
    at_node: NodeId,
    server: NodeId,
    /// `NO_LOCATION` for none.
    location: NodeId,
}

impl Entry {
    const ALIAS: u32 = 1 << 31;
    const REGEX: u32 = 1 << 30;
    const NO_LOCATION: NodeId = NodeId::MAX;
}

/// One place nginx serves files from, as `ServedDirs` hands it out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServedDir<'a> {
    /// The directory (system path) nginx maps `prefix` to.
    pub dir: &'a Path,
    /// The URL prefix (the location's pattern; for a regex location, its regex).
    pub prefix: &'a str,
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

impl ServedDirs {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The `i`th directory, in config order.
    pub fn get(&self, i: usize) -> Option<ServedDir<'_>> {
        let e = self.entries.get(i)?;
        let start = match i {
            0 => 0,
            _ => self.entries[i - 1].end as usize,
        };
        let flags = Entry::ALIAS | Entry::REGEX;
        Some(ServedDir {
            dir: Path::new(OsStr::from_bytes(&self.bytes[start..e.end as usize])),
            prefix: &self.prefixes[(e.prefix & !flags) as usize],
            kind: if e.prefix & Entry::ALIAS != 0 {
                ServedKind::Alias
            } else {
                ServedKind::Root
            },
            at_node: e.at_node,
            server: e.server,
            location: (e.location != Entry::NO_LOCATION).then_some(e.location),
            regex: e.prefix & Entry::REGEX != 0,
        })
    }

    pub fn first(&self) -> Option<ServedDir<'_>> {
        self.get(0)
    }

    pub fn iter(&self) -> Iter<'_> {
        Iter {
            dirs: self,
            next: 0,
        }
    }
}

impl<'a> FromIterator<ServedDir<'a>> for ServedDirs {
    fn from_iter<I: IntoIterator<Item = ServedDir<'a>>>(dirs: I) -> ServedDirs {
        let mut out = Building::default();
        for d in dirs {
            out.push(d);
        }
        out.finish()
    }
}

/// `ServedDirs` as it is made, a directory at a time: the prefixes interned through a map (a
/// site may have as many distinct ones as servers, each with its own regex), and what tells a
/// directory already served (`first_time`).
#[derive(Default)]
struct Building {
    dirs: ServedDirs,
    interned: crate::fnv::FnvMap<Box<str>, u32>,
    /// Each directory by its hash: the first entry of each hash, then the others of a hash met
    /// twice. One entry per directory, as paths compare (`/srv//media/` is `/srv/media`): a set
    /// of the paths themselves held ~70 bytes a directory while it was made.
    by_hash: crate::fnv::FnvMap<u32, u32>,
    others: Vec<(u32, u32)>,
}

/// A directory's hash in `Building::by_hash`: 32 bits (8 bytes a directory in the table, where
/// 64 made it 16), its collisions told apart by the paths themselves.
fn path_hash(dir: &Path) -> u32 {
    use std::hash::Hasher;
    let mut h = crate::fnv::Fnv::default();
    h.write(dir.as_os_str().as_bytes());
    let h = h.finish();
    (h ^ (h >> 32)) as u32
}

impl Building {
    fn push(&mut self, d: ServedDir<'_>) {
        let out = &mut self.dirs;
        let limit = (Entry::REGEX, "prefixes");
        let mut prefix = crate::fnv::intern(&mut self.interned, &mut out.prefixes, d.prefix, limit);
        if d.kind == ServedKind::Alias {
            prefix |= Entry::ALIAS;
        }
        if d.regex {
            prefix |= Entry::REGEX;
        }
        out.bytes.extend_from_slice(d.dir.as_os_str().as_bytes());
        out.entries.push(Entry {
            end: u32::try_from(out.bytes.len()).expect("served paths of fewer than 4 GiB"),
            prefix,
            at_node: d.at_node,
            server: d.server,
            location: d.location.unwrap_or(Entry::NO_LOCATION),
        });
    }

    /// Whether no entry made so far is `dir` (its components as `ServedDirs` holds them).
    fn first_time(&self, dir: &Path) -> bool {
        let hash = path_hash(dir);
        let first = self.by_hash.get(&hash).copied();
        let others = self
            .others
            .iter()
            .filter(|&&(h, _)| h == hash)
            .map(|&(_, i)| i);
        let held = |i: u32| self.dirs.get(i as usize).map(|d| d.dir);
        !first
            .into_iter()
            .chain(others)
            .any(|i| held(i) == Some(dir))
    }

    /// `push`, of a directory `first_time` said is new.
    fn push_new(&mut self, d: ServedDir<'_>) {
        let hash = path_hash(d.dir);
        let next = u32::try_from(self.dirs.len()).expect("fewer than 4 G served directories");
        match self.by_hash.entry(hash) {
            std::collections::hash_map::Entry::Occupied(_) => self.others.push((hash, next)),
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(next);
            }
        }
        self.push(d);
    }

    fn finish(self) -> ServedDirs {
        let mut out = self.dirs;
        // Held for the run: no room left over from growing them.
        out.bytes.shrink_to_fit();
        out.entries.shrink_to_fit();
        out.prefixes.shrink_to_fit();
        out
    }
}

/// `ServedDirs::iter`.
pub struct Iter<'a> {
    dirs: &'a ServedDirs,
    next: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = ServedDir<'a>;

    fn next(&mut self) -> Option<ServedDir<'a>> {
        let d = self.dirs.get(self.next)?;
        self.next += 1;
        Some(d)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.dirs.len() - self.next;
        (left, Some(left))
    }
}

impl<'a> IntoIterator for &'a ServedDirs {
    type Item = ServedDir<'a>;
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

impl ServedDir<'_> {
    /// Where the directive that names the directory is; `cfg` is the resolver's config.
    pub fn at(self, cfg: &Config) -> Location {
        cfg.directive(self.at_node).location()
    }

    /// The URL path for a file under `dir` (percent-encoded): `prefix + rest` for a prefix
    /// location, `/ + rest` below a regex location's root. None when the file is not under `dir`.
    pub fn url_for(self, file: &Path) -> Option<String> {
        let rel = file.strip_prefix(self.dir).ok()?;
        let rel = encode(rel.as_os_str().as_bytes());
        if self.regex {
            return Some(format!("/{rel}"));
        }
        let sep = if self.prefix.ends_with('/') { "" } else { "/" };
        Some(format!("{}{sep}{rel}", self.prefix))
    }

    /// How nginx answers the URL path `target` on this directory's server.
    pub fn resolve(self, resolver: &Resolver<'_>, target: &str) -> Resolution {
        let t = resolver.target(self.server);
        resolver.resolve_on(self.server, &Request::for_path(t.host, t.port, target))
    }
}

/// Every directory the resolver's servers serve files from, in config order, one entry per
/// directory (paths with variables are left out: they have no single directory).
pub fn served_dirs(resolver: &Resolver<'_>) -> ServedDirs {
    let mut out = Building::default();
    // About a directory a server (most serve one or two): the table is not grown (and held
    // twice while it is) from empty.
    out.by_hash.reserve(resolver.servers().len());
    let whole = resolver.each_static_location(&mut |s| {
        // One entry per directory, the first in config order (paths compare by components:
        // `/srv/media/` and `/srv/media` are one).
        let dir: PathBuf = s.dir.components().collect();
        if !out.first_time(&dir) {
            return;
        }
        let block = s.location.unwrap_or(s.server);
        let directive = resolver.root_of(block).and_then(|r| r.directive);
        let regex = s
            .location
            .and_then(|l| resolver.location_pattern(l))
            .is_some_and(|(m, _)| matches!(m, Modifier::Regex | Modifier::RegexCaseless));
        out.push_new(ServedDir {
            dir: &dir,
            prefix: &s.prefix,
            kind: s.kind,
            at_node: directive.unwrap_or(block),
            server: s.server,
            location: s.location,
            regex,
        });
    });
    // A walk that failed part way gives none, as `Resolver::static_locations` does.
    if !whole {
        return ServedDirs::default();
    }
    out.finish()
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

#[cfg(test)]
mod tests {
    use super::*;

    /// One is held per served directory of every server: 20 bytes and its path's (~96 with
    /// its path and prefix boxed, 120 and its directive's place as text before that).
    #[test]
    fn a_served_dir_is_small() {
        assert_eq!(std::mem::size_of::<Entry>(), 20);
    }

    #[test]
    fn served_dirs_are_handed_out_as_they_came() {
        let dir = |dir: &'static str, prefix: &'static str, location: Option<NodeId>| ServedDir {
            dir: Path::new(dir),
            prefix,
            kind: if location.is_some() {
                ServedKind::Alias
            } else {
                ServedKind::Root
            },
            at_node: 7,
            server: 3,
            location,
            regex: prefix.starts_with('~'),
        };
        let given = [
            dir("/srv/a", "/media/", Some(5)),
            dir("/srv/b/c", "~ \\.jpg$", Some(9)),
            dir("", "/", None),
            dir("/srv/d", "/media/", Some(11)),
        ];
        let dirs: ServedDirs = given.into_iter().collect();
        assert_eq!(dirs.len(), 4);
        assert_eq!(dirs.iter().collect::<Vec<_>>(), given);
        assert_eq!(dirs.prefixes.len(), 3);
        assert_eq!(dirs.get(4), None);
    }

    #[test]
    fn urls_are_encoded() {
        assert_eq!(encode(b"/a b/caf\xe9.jpg"), "/a%20b/caf%E9.jpg");
    }
}
