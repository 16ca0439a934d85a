//! Location matching, as `ngx_http_core_find_location` does it, level by level:
//!
//! 1. among the prefix and `=` locations of the level: an `=` equal to the URI wins at once; a
//!    prefix equal to the URI, or else the longest prefix, is remembered (and its nested
//!    locations are searched the same way, recursively);
//! 2. unless the remembered prefix has `^~`, the level's regex locations are tried in config
//!    order (after the nested levels had their turn) and the first match wins (its own nested
//!    regexes are searched too);
//! 3. when no location equals the URI but `URI/` is a prefix location with `proxy_pass` & co.,
//!    nginx answers 301 to `URI/` (auto redirect) without trying regexes.
//!
//! Each level indexes its static names by hash and by length, so a lookup costs a few hash
//! probes per level, not a scan of every location.

use super::conf::{location_modifier, BlockIdx, Blocks, PASS_DIRECTIVES};
use super::regex::{Captures, Exec, NgxRegex};
use crate::nginx::{Config, Directive, NodeId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Modifier {
    #[serde(rename = "")]
    Prefix,
    #[serde(rename = "=")]
    Exact,
    #[serde(rename = "^~")]
    NoRegex,
    #[serde(rename = "~")]
    Regex,
    #[serde(rename = "~*")]
    RegexCaseless,
    #[serde(rename = "@")]
    Named,
}

impl Modifier {
    pub fn as_str(self) -> &'static str {
        match self {
            Modifier::Prefix => "",
            Modifier::Exact => "=",
            Modifier::NoRegex => "^~",
            Modifier::Regex => "~",
            Modifier::RegexCaseless => "~*",
            Modifier::Named => "",
        }
    }
    pub fn is_regex(self) -> bool {
        matches!(self, Modifier::Regex | Modifier::RegexCaseless)
    }
}

/// A location, in 36 bytes (one per location of a 360,000-server config): its compiled
/// pattern, when it is a regex, is its level's (`LevelExtra::regex`).
#[derive(Debug)]
pub struct Loc {
    pub node: NodeId,
    /// Its block (`block()`), a `u32` like `Level`'s indexes.
    block: u32,
    pub modifier: Modifier,
    /// The pattern as written (`/media/`, `\.(jpg|png)$`, `@app`): its start and length in
    /// `Locations::names` (`Locations::name`). One string for every name, not one allocation
    /// each: 40 bytes a location of a 360,000-server config.
    name: (u32, u32),
    /// Nested locations.
    pub level: Level,
    /// A prefix location ending in `/` with a `*_pass` handler: `URI` without the slash is 301'd.
    pub auto_redirect: bool,
}

pub use crate::fnv::FnvMap;

/// The modifier and the pattern of a `location` directive.
pub fn pattern<'c>(d: &Directive<'c>) -> (Modifier, &'c str) {
    let (m, name) = location_modifier(d);
    let modifier = match m {
        "=" => Modifier::Exact,
        "^~" => Modifier::NoRegex,
        "~" => Modifier::Regex,
        "~*" => Modifier::RegexCaseless,
        _ if name.starts_with('@') => Modifier::Named,
        _ => Modifier::Prefix,
    };
    (modifier, name)
}

/// Up to this many locations in a level, its `=` and prefix names are compared one by one
/// (as nginx's own static location tree does): no hash table per level. A 360,000-server
/// config has a level per server and per location, nearly all of one location or none.
pub const SMALL_LEVEL: usize = 8;

/// The locations directly inside one block: side by side in `Locations::locs` (a range, not a
/// list of indexes: a site of 360,000 servers has a level per server and per location, nearly
/// all of one location or none, and each list was an allocation of its own).
#[derive(Debug)]
pub struct Level {
    /// The hashed names and the regex locations, for a level that has either: an index in
    /// `Locations::extras`, `NO_EXTRA` for the others (an index, not a pointer: 16 bytes in
    /// each of 720,000 levels, where they were 24).
    extra: u32,
    /// The level's locations: `locs[start..start + len]`, in config order.
    start: u32,
    len: u32,
    /// Some location of the level redirects `URI` to `URI/` (saves a lookup when none does).
    auto_redirect: bool,
}

// One per server and one per location, held for the run (see `Level::extra`).
const _: () = assert!(std::mem::size_of::<Level>() == 16);
const _: () = assert!(std::mem::size_of::<Loc>() == 36);

/// `Level::extra` of a level without `LevelExtra`.
const NO_EXTRA: u32 = u32::MAX;

impl Default for Level {
    fn default() -> Level {
        Level {
            extra: NO_EXTRA,
            start: 0,
            len: 0,
            auto_redirect: false,
        }
    }
}

/// What a level of regex locations, or of more than `SMALL_LEVEL` locations, has.
#[derive(Debug, Default)]
struct LevelExtra {
    /// The `=` and prefix names by value, for a level of more than `SMALL_LEVEL` locations.
    maps: Option<LevelMaps>,
    /// The regex locations of the level (indexes in `Locations::locs`), in order, with their
    /// compiled patterns.
    regex: Vec<(usize, NgxRegex)>,
}

impl Level {
    /// The indexes of the level's locations in `Locations::locs`, in config order.
    pub fn all(&self) -> std::ops::Range<usize> {
        let start = self.start as usize;
        start..start + self.len as usize
    }
}

impl Loc {
    /// The location's block.
    pub fn block(&self) -> BlockIdx {
        self.block as BlockIdx
    }

    /// The length of the pattern as written.
    pub fn name_len(&self) -> usize {
        self.name.1 as usize
    }
}

/// The hashed names of a large level: the first location of each name wins.
#[derive(Debug, Default)]
struct LevelMaps {
    exact: FnvMap<Box<[u8]>, usize>,
    prefix: FnvMap<Box<[u8]>, usize>,
    /// Distinct lengths of the prefix names, longest first (a small level finds its longest
    /// prefix by comparing each name).
    prefix_lens: Box<[usize]>,
}

/// What a lookup found (`Outcome::Again` etc. mirror nginx's return codes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// No location matched: the enclosing block's configuration applies.
    None,
    Location(usize),
    /// 301 to `URI/` because of this location's auto redirect.
    AutoRedirect(usize),
    /// A regex failed while matching (PCRE's match limit): nginx answers 500.
    Failed(String),
}

/// The locations of the servers of a model. A server's are found from its block
/// (`Block::locations`: the index of its top level in `levels`), a location's block from its
/// `Loc`: no map by node (two maps were 26 bytes a server of a 360,000-server config).
#[derive(Debug, Default)]
pub struct Locations {
    pub locs: Vec<Loc>,
    /// Every location's name, side by side (`Loc::name`), each of the recent ones once
    /// (`name_at`).
    names: String,
    /// The last names added to `names`, newest first (`name_at`; (0, 0) is the empty name).
    recent_names: [(u32, u32); 8],
    /// What the levels of regex locations or of many locations have (`Level::extra`).
    extras: Vec<LevelExtra>,
    /// Each server's top level.
    levels: Vec<Level>,
    /// The named locations of the servers that have any (the first of each name), by index in
    /// `levels`: most servers have none.
    named: FnvMap<u32, Named>,
    /// Levels of more than this many locations hash their names (`SMALL_LEVEL`; the tests
    /// build with every level hashed, the reference, and with none).
    small: usize,
}

/// A server's named locations: the first location of each name, sorted by name.
type Named = Box<[(Box<str>, usize)]>;

/// The state a lookup may change: the request's regex captures.
pub struct MatchCtx<'a> {
    pub captures: &'a mut Option<Captures>,
    pub named: &'a mut Vec<(String, Vec<u8>)>,
    pub errors: &'a mut Vec<String>,
}

impl Locations {
    /// The locations of `servers`, each server's level recorded on its block
    /// (`Blocks::set_locations`).
    pub fn build(cfg: &Config, servers: &[NodeId], blocks: &mut Blocks) -> Locations {
        Locations::build_with(cfg, servers, blocks, SMALL_LEVEL)
    }

    /// `build`, with the levels of more than `small` locations hashed.
    pub(super) fn build_with(
        cfg: &Config,
        servers: &[NodeId],
        blocks: &mut Blocks,
        small: usize,
    ) -> Locations {
        let mut me = Locations {
            small,
            ..Locations::default()
        };
        me.levels.reserve(servers.len());
        // What an earlier build recorded on the blocks is not this one's.
        for &s in servers {
            if let Some(b) = blocks.of(s) {
                blocks.set_locations(b, None);
            }
        }
        for &s in servers {
            // A server outside the http context has no block, and so no location; a server
            // given twice has its level already.
            let Some(b) = blocks.of(s) else {
                continue;
            };
            if blocks.get(b).locations().is_some() {
                continue;
            }
            let d = cfg.directive(s);
            let mut named = Vec::new();
            let level = me.level(d, blocks, &mut Some(&mut named));
            // Every location of the server is in: none is pushed after this one (grown by
            // doubling, up to half of each vector is room never used).
            // By name, the first location of each name kept (a stable sort keeps the config's
            // order among equal names): looked up by binary search. A server of 100,000 named
            // locations was 5 * 10^9 name comparisons to build when each name was checked
            // against those before it.
            named.sort_by(|a, b| a.0.cmp(&b.0));
            named.dedup_by(|later, first| later.0 == first.0);
            let i = me.levels.len();
            me.levels.push(level);
            blocks.set_locations(b, Some(i));
            if !named.is_empty() {
                me.named.insert(i as u32, named.into());
            }
        }
        // Grown by doubling: up to half is room never used.
        me.names.shrink_to_fit();
        me
    }

    /// The pattern of location `l` as written.
    /// Where `name` is in `names`: where a recent location's same name is (a site of many
    /// servers names `/media/` in each: 7 bytes a server), else added. Offsets fit in a u32 as
    /// the config's node ids do: the names are words of the config.
    fn name_at(&mut self, name: &str) -> (u32, u32) {
        let len = name.len() as u32;
        let held = |&(start, l): &(u32, u32)| {
            l == len && &self.names[start as usize..(start + l) as usize] == name
        };
        if let Some(&at) = self.recent_names.iter().find(|at| held(at)) {
            return at;
        }
        let at = (self.names.len() as u32, len);
        self.names.push_str(name);
        self.recent_names.rotate_right(1);
        self.recent_names[0] = at;
        at
    }

    pub fn name(&self, l: usize) -> &str {
        let (start, len) = self.locs[l].name;
        &self.names[start as usize..(start + len) as usize]
    }

    /// The regex locations of `level` (indexes in `locs`) with their patterns, in config order.
    fn regexes(&self, level: &Level) -> &[(usize, NgxRegex)] {
        match self.extras.get(level.extra as usize) {
            Some(e) => &e.regex,
            None => &[],
        }
    }

    /// The hashed names of a level of more than `SMALL_LEVEL` locations.
    fn maps(&self, level: &Level) -> Option<&LevelMaps> {
        self.extras.get(level.extra as usize)?.maps.as_ref()
    }

    fn level(
        &mut self,
        parent: Directive<'_>,
        blocks: &Blocks,
        named: &mut Option<&mut Vec<(Box<str>, usize)>>,
    ) -> Level {
        // The level's locations first, side by side (`Level::all`), then the level nested in
        // each, in the same order.
        let start = self.locs.len();
        let mut kids: Vec<Directive<'_>> = Vec::new();
        let mut regexes = Vec::new();
        let mut auto = false;
        for d in parent.children() {
            if !d.is("location") || !d.has_block() {
                continue;
            }
            let Some(block) = blocks.of(d.id()) else {
                continue;
            };
            let (modifier, name) = pattern(&d);
            let auto_redirect = name.ends_with('/')
                && blocks
                    .get(block)
                    .conf
                    .handler
                    .as_ref()
                    .is_some_and(|h| PASS_DIRECTIVES.contains(&h.directive.as_str()));
            let i = self.locs.len();
            let at = self.name_at(name);
            self.locs.push(Loc {
                node: d.id(),
                block: block as u32,
                modifier,
                name: at,
                level: Level::default(),
                auto_redirect,
            });
            kids.push(d);
            auto |= auto_redirect;
            match modifier {
                Modifier::Regex | Modifier::RegexCaseless => {
                    let caseless = modifier == Modifier::RegexCaseless;
                    regexes.push((i, NgxRegex::new(name, caseless)));
                }
                Modifier::Named => {
                    if let Some(n) = named.as_deref_mut() {
                        n.push((name.into(), i));
                    }
                }
                Modifier::Exact | Modifier::Prefix | Modifier::NoRegex => {}
            }
        }
        let end = self.locs.len();
        for (i, d) in (start..end).zip(kids) {
            let nested = self.level(d, blocks, &mut None);
            self.locs[i].level = nested;
        }
        let maps = (end - start > self.small).then(|| {
            let mut lens: Vec<usize> = self.locs[start..end]
                .iter()
                .filter(|l| matches!(l.modifier, Modifier::Prefix | Modifier::NoRegex))
                .map(Loc::name_len)
                .collect();
            lens.sort_unstable_by(|a, b| b.cmp(a));
            lens.dedup();
            let mut maps = LevelMaps {
                prefix_lens: lens.into_boxed_slice(),
                ..LevelMaps::default()
            };
            for i in start..end {
                let key: Box<[u8]> = self.name(i).as_bytes().into();
                match self.locs[i].modifier {
                    Modifier::Exact => {
                        maps.exact.entry(key).or_insert(i);
                    }
                    Modifier::Prefix | Modifier::NoRegex => {
                        maps.prefix.entry(key).or_insert(i);
                    }
                    _ => {}
                }
            }
            maps
        });
        let extra = if maps.is_some() || !regexes.is_empty() {
            self.extras.push(LevelExtra {
                maps,
                regex: regexes,
            });
            self.extras.len() as u32 - 1
        } else {
            NO_EXTRA
        };
        Level {
            extra,
            start: start as u32,
            len: (end - start) as u32,
            auto_redirect: auto,
        }
    }

    /// The first `=` location of `level` named `key`.
    fn exact(&self, level: &Level, key: &[u8]) -> Option<usize> {
        match self.maps(level) {
            Some(m) => m.exact.get(key).copied(),
            None => level.all().find(|&i| {
                self.locs[i].modifier == Modifier::Exact && self.name(i).as_bytes() == key
            }),
        }
    }

    /// The first prefix (or `^~`) location of `level` named `key`.
    fn prefix(&self, level: &Level, key: &[u8]) -> Option<usize> {
        match self.maps(level) {
            Some(m) => m.prefix.get(key).copied(),
            None => level.all().find(|&i| {
                matches!(self.locs[i].modifier, Modifier::Prefix | Modifier::NoRegex)
                    && self.name(i).as_bytes() == key
            }),
        }
    }

    /// The top level of a server, by its `Block::locations` (None: no location built).
    pub fn server_level(&self, server: Option<usize>) -> Option<&Level> {
        server.map(|i| &self.levels[i])
    }

    /// The first location named `name` of a server (by its `Block::locations`).
    pub fn named(&self, server: Option<usize>, name: &str) -> Option<usize> {
        let named = self.named.get(&(server? as u32))?;
        let at = named.binary_search_by(|(k, _)| (**k).cmp(name)).ok()?;
        Some(named[at].1)
    }

    /// Find the location for `uri` in a server, by its `Block::locations` (nginx's
    /// `ngx_http_core_find_location`).
    pub fn find(&self, server: Option<usize>, uri: &[u8], ctx: &mut MatchCtx<'_>) -> Found {
        let Some(level) = self.server_level(server) else {
            return Found::None;
        };
        match self.find_in(level, uri, ctx) {
            (Step::Error, _) => Found::Failed(ctx.errors.last().cloned().unwrap_or_default()),
            (Step::Declined, None) => Found::None,
            (Step::Done, Some(l)) => Found::AutoRedirect(l),
            (_, Some(l)) => Found::Location(l),
            (_, None) => Found::None,
        }
    }

    /// The prefix location that a regex location `winner` took `uri` from: the longest prefix
    /// match of the server's top level, when it is not `^~` and `winner` is not nested in it.
    /// For explanations only (MD105's case: an image regex location answering /media/ URLs).
    pub fn shadowed_prefix(
        &self,
        server: Option<usize>,
        uri: &[u8],
        winner: usize,
    ) -> Option<usize> {
        let level = self.server_level(server)?;
        match self.find_static(level, uri) {
            (Step::Again, Some(p))
                if p != winner
                    && self.locs[p].modifier != Modifier::NoRegex
                    && !(self.regexes(&self.locs[p].level).iter()).any(|&(r, _)| r == winner) =>
            {
                Some(p)
            }
            _ => None,
        }
    }

    /// One level of `ngx_http_core_find_location`; returns nginx's code and the location that
    /// `r->loc_conf` points at afterwards (None: unchanged).
    fn find_in(&self, level: &Level, uri: &[u8], ctx: &mut MatchCtx<'_>) -> (Step, Option<usize>) {
        let (mut rc, mut cur) = self.find_static(level, uri);
        let mut noregex = false;
        if let (Step::Again, Some(l)) = (rc, cur) {
            noregex = self.locs[l].modifier == Modifier::NoRegex;
            let (nrc, nloc) = self.find_in(&self.locs[l].level, uri, ctx);
            if nrc == Step::Error {
                return (nrc, None);
            }
            rc = nrc;
            if nloc.is_some() {
                cur = nloc;
            }
        }
        if rc == Step::Ok || rc == Step::Done {
            return (rc, cur);
        }
        if !noregex {
            for (ri, re) in self.regexes(level) {
                let ri = *ri;
                match re.exec(uri) {
                    Ok(Exec::NoMatch) => continue,
                    Ok(Exec::Match(caps)) => {
                        if let Some(c) = caps {
                            ctx.named.retain(|(n, _)| !c.named().any(|(m, _)| m == n));
                            ctx.named
                                .extend(c.named().map(|(n, v)| (n.to_string(), v.to_vec())));
                            *ctx.captures = Some(c);
                        }
                        let (nrc, nloc) = self.find_in(&self.locs[ri].level, uri, ctx);
                        if nrc == Step::Error {
                            return (nrc, None);
                        }
                        return (Step::Ok, Some(nloc.unwrap_or(ri)));
                    }
                    Err(e) => {
                        ctx.errors.push(e);
                        // A pattern that compiles failed on this URI (the match limit):
                        // ngx_http_core_find_location returns NGX_ERROR.
                        if re.compiles() {
                            return (Step::Error, None);
                        }
                        continue;
                    }
                }
            }
        }
        (rc, cur)
    }

    /// `ngx_http_core_find_static_location` on one level.
    fn find_static(&self, level: &Level, uri: &[u8]) -> (Step, Option<usize>) {
        if let Some(l) = self.exact(level, uri) {
            return (Step::Ok, Some(l));
        }
        if let Some(l) = self.prefix(level, uri) {
            return (Step::Again, Some(l));
        }
        if level.auto_redirect {
            let mut slashed = uri.to_vec();
            slashed.push(b'/');
            let exact = self.exact(level, &slashed);
            let inclusive = self.prefix(level, &slashed);
            let redirect = [exact, inclusive]
                .iter()
                .flatten()
                .any(|&l| self.locs[l].auto_redirect);
            if redirect {
                return (Step::Done, exact.or(inclusive));
            }
        }
        match self.maps(level) {
            Some(m) => {
                for &len in m.prefix_lens.iter() {
                    if len < uri.len() {
                        if let Some(l) = self.prefix(level, &uri[..len]) {
                            return (Step::Again, Some(l));
                        }
                    }
                }
            }
            None => {
                // The longest prefix name shorter than the URI that starts it, the first of
                // that length (the names of one length that start the URI are one name): what
                // trying each distinct length, longest first, finds.
                let mut best: Option<usize> = None;
                for i in level.all() {
                    let l = &self.locs[i];
                    if matches!(l.modifier, Modifier::Prefix | Modifier::NoRegex)
                        && l.name_len() < uri.len()
                        && uri.starts_with(self.name(i).as_bytes())
                        && best.map_or(true, |b| l.name_len() > self.locs[b].name_len())
                    {
                        best = Some(i);
                    }
                }
                if let Some(l) = best {
                    return (Step::Again, Some(l));
                }
            }
        }
        (Step::Declined, None)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// NGX_ERROR: a regex failed to run.
    Error,
    Ok,
    Again,
    Done,
    Declined,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sysroot::SysRoot;
    use std::path::Path;

    /// Every location's name reads back from the one string of names (empty, non-ASCII,
    /// nested, after a server given twice), and each regex location of a level is tried with
    /// its own pattern.
    #[test]
    fn names_and_regexes_read_back() {
        let dump = "# configuration file /etc/nginx/nginx.conf:\nevents {}\nhttp { server { \
                    location \"\" { } location /médias/ { location /médias/ç/ { } } \
                    location ~ \\.png$ { } location ~* \\.JPG$ { location ~ ^/in/ { } } \
                    location @app { } } }\n";
        let cfg = crate::nginx::load_dump(&SysRoot::live(), dump.as_bytes(), "test").unwrap();
        let http = cfg.top().find(|d| d.is("http"));
        let (mut blocks, _) = Blocks::build(&cfg, http, Path::new("/p"), None);
        let server = cfg.servers()[0].id();
        let locs = Locations::build(&cfg, &[server, server], &mut blocks);
        let names: Vec<&str> = (0..locs.locs.len()).map(|i| locs.name(i)).collect();
        assert_eq!(
            names,
            [
                "",
                "/médias/",
                "\\.png$",
                "\\.JPG$",
                "@app",
                "/médias/ç/",
                "^/in/"
            ]
        );
        for (i, l) in locs.locs.iter().enumerate() {
            let (modifier, name) = pattern(&cfg.directive(l.node));
            assert_eq!((l.modifier, locs.name(i)), (modifier, name));
            assert_eq!(l.name_len(), name.len());
            assert_eq!(blocks.get(l.block()).node(), Some(l.node));
        }
        let top = locs.server_level(blocks.get(blocks.of(server).unwrap()).locations());
        let regexes: Vec<(usize, &str, bool)> = (locs.regexes(top.unwrap()).iter())
            .map(|(i, re)| (*i, re.pattern.as_str(), re.caseless))
            .collect();
        assert_eq!(regexes, [(2, "\\.png$", false), (3, "\\.JPG$", true)]);
        assert_eq!(locs.regexes(&locs.locs[3].level)[0].0, 6);
        assert!(locs.regexes(&locs.locs[1].level).is_empty());
    }
}
