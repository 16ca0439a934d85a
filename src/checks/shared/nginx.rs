//! What the nginx checks share: the site's servers as request targets, the media/static URL
//! prefixes to ask about, real file names for concrete evidence, and remediations that print
//! the corrected config block (with its file:line) and the reload command.
//!
//! Nothing here matches locations or maps URIs: that is the resolver's job.

use crate::checks::Outcome;
use crate::nginx::resolve::Resolver;
use crate::nginx::{Config, Directive, NodeId};
use crate::report::{Finding, Location};
use crate::site::Site;
use crate::sysroot::SysRoot;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The reload printed by the checks; `checks::fixes` puts the box's own in its place.
pub const RELOAD: &str = crate::site::DEFAULT_RELOAD;

/// A config that does not load is not what nginx runs (a reload is refused) and parts of it are
/// missing from the model: the checks that judge it through the resolver skip rather than
/// guess. MD100 says what is wrong.
pub fn skip_if_incomplete(site: &Site) -> Option<Outcome> {
    let cfg = site.config();
    cfg.diagnostics.iter().find(|d| d.fatal)?;
    Some(Outcome::skip(
        "the nginx configuration does not load (see MD100): fix it first",
    ))
}

pub use crate::nginx::resolve::Target;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrefixKind {
    Media,
    Static,
}

/// The URL prefixes whose files nginx should serve from disk, held for the run.
///
/// One is kept per serving location of every server when the app is unknown (359,711 on
/// issue #12's one big site): each is 12 bytes here, its url one of a few distinct texts
/// (`/media/` once per server) kept once, its origin the location's node, not the text saying
/// where it is; a prefix with its url as a `String` was ~56 bytes. `iter` hands out `Prefix`
/// views.
#[derive(Debug, Default)]
pub struct Prefixes {
    entries: Vec<Entry>,
    /// The distinct urls, in the order first seen.
    urls: Vec<Box<str>>,
    /// Where the app's prefixes come from (`MEDIA_URL at settings.py:12`).
    settings: Vec<Box<str>>,
}

/// One prefix in `Prefixes`.
#[derive(Debug, Clone, Copy)]
struct Entry {
    /// Its url's index in `urls`, with `MEDIA` set for a media prefix.
    url: u32,
    /// The location's node; for an app's prefix, its index in `settings`.
    origin: u32,
    /// The location's server; `APP` for an app's prefix.
    server: NodeId,
}

impl Entry {
    const MEDIA: u32 = 1 << 31;
    const APP: NodeId = NodeId::MAX;
}

/// A URL prefix whose files nginx should serve from disk, as `Prefixes` hands it out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prefix<'a> {
    pub kind: PrefixKind,
    /// `/media/`.
    pub url: &'a str,
    origin: Origin<'a>,
}

/// Where a prefix comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin<'a> {
    /// The app's setting, as shown (`MEDIA_URL at settings.py:12`): every server of the site.
    App(&'a str),
    /// A location of one server.
    Location { location: NodeId, server: NodeId },
}

impl Prefix<'_> {
    /// Only for this server (a location's prefix); None: every server of the site (the app's).
    pub fn server(&self) -> Option<NodeId> {
        match self.origin {
            Origin::App(_) => None,
            Origin::Location { server, .. } => Some(server),
        }
    }

    /// Where it comes from (`MEDIA_URL at settings.py:12`, `location /media/ at f:7`); `cfg` is
    /// the config the prefixes were found in.
    pub fn from(&self, cfg: &Config) -> String {
        match self.origin {
            Origin::App(from) => from.to_string(),
            Origin::Location { location, .. } => {
                format!(
                    "location {} at {}",
                    self.url,
                    cfg.directive(location).location()
                )
            }
        }
    }
}

impl Prefixes {
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn iter(&self) -> Iter<'_> {
        Iter {
            prefixes: self,
            entries: self.entries.iter(),
        }
    }
}

/// `Prefixes::iter`.
#[derive(Clone)]
pub struct Iter<'a> {
    prefixes: &'a Prefixes,
    entries: std::slice::Iter<'a, Entry>,
}

impl<'a> Iterator for Iter<'a> {
    type Item = Prefix<'a>;

    fn next(&mut self) -> Option<Prefix<'a>> {
        let e = self.entries.next()?;
        let all = self.prefixes;
        Some(Prefix {
            kind: if e.url & Entry::MEDIA != 0 {
                PrefixKind::Media
            } else {
                PrefixKind::Static
            },
            url: &all.urls[(e.url & !Entry::MEDIA) as usize],
            origin: match e.server {
                Entry::APP => Origin::App(&all.settings[e.origin as usize]),
                server => Origin::Location {
                    location: e.origin,
                    server,
                },
            },
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.entries.size_hint()
    }
}

impl<'a> IntoIterator for &'a Prefixes {
    type Item = Prefix<'a>;
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

/// Held together: the urls interned through a map for the build (each server may have its
/// own).
impl<'a> FromIterator<Prefix<'a>> for Prefixes {
    fn from_iter<I: IntoIterator<Item = Prefix<'a>>>(prefixes: I) -> Prefixes {
        let mut out = Prefixes::default();
        let mut interned: crate::fnv::FnvMap<&str, u32> = Default::default();
        for p in prefixes {
            let mut url =
                crate::fnv::intern(&mut interned, &mut out.urls, p.url, (Entry::MEDIA, "urls"));
            if p.kind == PrefixKind::Media {
                url |= Entry::MEDIA;
            }
            let (origin, server) = match p.origin {
                Origin::App(from) => {
                    out.settings.push(from.into());
                    let i = u32::try_from(out.settings.len() - 1).expect("two settings");
                    (i, Entry::APP)
                }
                Origin::Location { location, server } => (location, server),
            };
            out.entries.push(Entry {
                url,
                origin,
                server,
            });
        }
        // Kept for the whole run: no room left over from growing them.
        out.entries.shrink_to_fit();
        out.urls.shrink_to_fit();
        out
    }
}

/// MEDIA_URL/STATIC_URL when the app is known, else the prefixes of the locations that serve
/// files from disk.
pub fn prefixes(site: &Site, r: &Resolver<'_>) -> Prefixes {
    if let Some(app) = site.app() {
        let mut urls = Vec::new();
        for (kind, setting, name) in [
            (PrefixKind::Media, &app.media_url, "MEDIA_URL"),
            (PrefixKind::Static, &app.static_url, "STATIC_URL"),
        ] {
            let Some(url) = setting.value() else { continue };
            // An absolute URL (a CDN) is not served by this nginx.
            if !url.starts_with('/') {
                continue;
            }
            let mut url = url.clone();
            if !url.ends_with('/') {
                url.push('/');
            }
            let from = match setting.at() {
                Some(at) => format!("{name} at {at}"),
                None => name.to_string(),
            };
            urls.push((kind, url, from));
        }
        return urls
            .iter()
            .map(|(kind, url, from)| Prefix {
                kind: *kind,
                url,
                origin: Origin::App(from),
            })
            .collect();
    }
    // The served directories' locations (`Site::served_dirs`, kept for the run): the servers'
    // locations are not walked again.
    site.served_dirs()
        .iter()
        .filter_map(|s| {
            if s.prefix.is_empty() || s.prefix == "/" || !s.prefix.starts_with('/') {
                return None;
            }
            let loc = s.location?;
            if let Some((m, _)) = r.location_pattern(loc) {
                if m.is_regex() || m == crate::nginx::resolve::Modifier::Exact {
                    return None;
                }
            }
            // A location that refuses clients (deny all, internal, return) serves nobody's
            // files: its name says nothing about where uploads are served.
            if r.block_info(loc)
                .is_some_and(|i| i.internal || i.denies_all)
                || r.config().directive(loc).children().any(|d| d.is("return"))
            {
                return None;
            }
            // Nor one that only inherits the server's root (an `expires` or `mp4` tweak of the
            // general file serving, Drupal's /sites/default/files/audio/mp3): the uploads
            // location of a site says where they are, with its own root or alias.
            let own = r
                .root_of(loc)
                .and_then(|root| root.directive)
                .is_some_and(|d| r.config().directive(loc).children().any(|c| c.id() == d));
            if !own {
                return None;
            }
            let lower = s.prefix.to_ascii_lowercase();
            let kind = if ["media", "upload", "files", "user"]
                .iter()
                .any(|w| lower.contains(w))
            {
                PrefixKind::Media
            } else {
                PrefixKind::Static
            };
            Some(Prefix {
                kind,
                url: s.prefix,
                origin: Origin::Location {
                    location: loc,
                    server: s.server,
                },
            })
        })
        .collect()
}

/// A real file in `dir` or below it (a system path read under the root; breadth first, names
/// sorted, a bounded look): concrete evidence beats a made-up name. Returns the path relative to
/// `dir`. Hidden files and names that need escaping in a URL are skipped.
pub fn sample_file(root: &SysRoot, dir: &Path) -> Option<String> {
    sample_file_where(root, dir, |_| true)
}

/// The same, for the first file `accept` takes (given the path relative to `dir`): e.g. one
/// whose URL a regex location matches.
pub fn sample_file_where(
    root: &SysRoot,
    dir: &Path,
    accept: impl Fn(&str) -> bool,
) -> Option<String> {
    let mut queue: std::collections::VecDeque<(PathBuf, String)> =
        std::collections::VecDeque::from([(dir.to_path_buf(), String::new())]);
    let mut looked = 0;
    while let Some((d, rel)) = queue.pop_front() {
        let mut entries: Vec<(String, bool)> = std::fs::read_dir(root.host_path(&d))
            .ok()?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let t = e.file_type().ok()?;
                let name = e.file_name().to_str()?.to_string();
                (t.is_file() || t.is_dir()).then_some((name, t.is_dir()))
            })
            // A name a URL must encode is no sample: the URL is shown and asked as written.
            .filter(|(n, _)| {
                !n.starts_with('.')
                    && !n.contains(['?', '#', '%', ' '])
                    && !n.chars().any(crate::text_safe::is_unsafe)
            })
            .collect();
        entries.sort();
        let accepted = entries
            .iter()
            .filter(|(_, is_dir)| !is_dir)
            .map(|(f, _)| format!("{rel}{f}"))
            .find(|f| accept(f));
        if accepted.is_some() {
            return accepted;
        }
        for (n, _) in entries {
            looked += 1;
            if looked > 200 || rel.matches('/').count() >= 3 {
                return None;
            }
            queue.push_back((d.join(&n), format!("{rel}{n}/")));
        }
    }
    None
}

/// Entries of `dir` (a system path), sorted; empty when unreadable.
pub fn list_dir(root: &SysRoot, dir: &Path) -> Vec<(String, bool)> {
    let mut out: Vec<(String, bool)> = std::fs::read_dir(root.host_path(dir))
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| {
                    let dir = e.file_type().is_ok_and(|t| t.is_dir());
                    e.file_name().to_str().map(|n| (n.to_string(), dir))
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

pub fn exists(root: &SysRoot, p: &Path) -> bool {
    root.exists(p)
}

/// The URI nginx matches for a request target (%-decoded, `.`/`..` resolved, `//` merged);
/// None when nginx refuses it with 400.
pub fn normalised(target: &str) -> Option<String> {
    crate::nginx::resolve::uri::parse_target(target.as_bytes(), true)
        .ok()
        .map(|p| String::from_utf8_lossy(&p.uri).into_owned())
}

/// nginx's quoting for an argument written back into a config.
fn quote(arg: &str) -> String {
    let plain = !arg.is_empty()
        && !arg
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, ';' | '{' | '}' | '#' | '"' | '\'' | '\\'));
    if plain {
        arg.to_string()
    } else {
        format!("\"{}\"", arg.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

/// How to change one directive of a block when printing the corrected version.
pub enum Edit {
    Keep,
    Replace(String),
    Drop,
}

/// The block of `node` as it should read, `# file:line` first: each directive passes through
/// `edit` (`include` lines are kept as written, not expanded).
pub fn corrected_block(
    cfg: &Config,
    node: NodeId,
    edit: &dyn Fn(&Directive<'_>) -> Edit,
) -> String {
    let d = cfg.directive(node);
    let mut out = format!("# {}\n", d.location());
    render(&d, 0, edit, &mut out, true);
    out
}

fn render(
    d: &Directive<'_>,
    depth: usize,
    edit: &dyn Fn(&Directive<'_>) -> Edit,
    out: &mut String,
    top: bool,
) {
    let pad = "    ".repeat(depth);
    if !top {
        match edit(d) {
            Edit::Drop => return,
            Edit::Replace(line) => {
                out.push_str(&format!("{pad}{line}\n"));
                return;
            }
            Edit::Keep => {}
        }
    }
    let head = std::iter::once(d.name().to_string())
        .chain(d.args().map(quote))
        .collect::<Vec<_>>()
        .join(" ");
    if d.has_block() {
        out.push_str(&format!("{pad}{head} {{\n"));
        for c in d.raw_children() {
            render(&c, depth + 1, edit, out, false);
        }
        out.push_str(&format!("{pad}}}\n"));
    } else {
        out.push_str(&format!("{pad}{head};\n"));
    }
}

/// The block of `node` with one directive (`directive`) written as `with` (e.g. `alias /srv/x/;`).
pub fn block_replacing(cfg: &Config, node: NodeId, directive: NodeId, with: &str) -> String {
    corrected_block(cfg, node, &|d| {
        if d.id() == directive {
            Edit::Replace(with.to_string())
        } else {
            Edit::Keep
        }
    })
}

/// A check's outcome: its findings, or a pass with `summary` when there are none.
pub fn findings_or_pass(findings: Vec<Finding>, summary: impl Into<String>) -> Outcome {
    if findings.is_empty() {
        Outcome::pass(summary)
    } else {
        Outcome::findings(findings)
    }
}

/// `/media/, /static/`: the URL prefixes a check looked at, for its pass summary. Each is named
/// once, with how many locations serve it when more than one do (`/media/ in 359711 locations`),
/// and only the first `PREFIX_URLS_NAMED`: one site of 360,000 servers, each with its own
/// `location /media/`, had a summary of 360,000 `/media/`s (3.2 MB, held for the run).
pub fn prefix_urls(prefixes: &Prefixes) -> String {
    // Counted by the urls' places in `urls`, the order they were first seen.
    let mut counts = vec![0usize; prefixes.urls.len()];
    for e in &prefixes.entries {
        counts[(e.url & !Entry::MEDIA) as usize] += 1;
    }
    let mut out = String::new();
    for (i, (url, n)) in prefixes
        .urls
        .iter()
        .zip(&counts)
        .take(PREFIX_URLS_NAMED)
        .enumerate()
    {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(url);
        if *n > 1 {
            let _ = write!(out, " in {n} locations");
        }
    }
    if let Some(more) = counts
        .len()
        .checked_sub(PREFIX_URLS_NAMED)
        .filter(|&m| m > 0)
    {
        let _ = write!(out, ", and {more} more");
    }
    out
}

/// How many distinct URL prefixes `prefix_urls` names.
const PREFIX_URLS_NAMED: usize = 8;

/// A config fix given as data: the finding carries the edit and what it must achieve, and the
/// block is printed (for now: `checks::fixes` merges the fixes of one block and proves them
/// before the report is made).
pub fn config_fix(
    f: Finding,
    cfg: &Config,
    intro: &str,
    edit: crate::fix::BlockEdit,
    goal: Option<crate::report::edit::Goal>,
) -> Finding {
    let mut f = if SETTLED_LATER.with(|s| s.get()) {
        // `checks::fixes::settle` writes the text of every config fix (merged with the other
        // fixes of its block, proven): only its commands are read from here.
        f.fix(String::new(), vec![RELOAD.to_string()])
    } else {
        fix_with_block(f, intro, crate::fix::render(cfg, &edit))
    };
    f.config_fix = Some(Box::new(crate::report::edit::ConfigFix {
        edit,
        intro: intro.to_string(),
        goal,
        splices: Vec::new(),
    }));
    f
}

thread_local! {
    /// Set while `checks::run_keeping` runs the checks on this thread (`fix_text_settled_later`).
    static SETTLED_LATER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` (the checks of a run whose fixes `checks::fixes::settle` settles after) with
/// `config_fix` leaving the remediation text empty: settling writes the text of every finding
/// with a config fix, whatever it said (one site of 360,000 servers rendered a block per
/// finding for nothing). A check run on its own (`run_one`) keeps the text it made.
pub fn fix_text_settled_later<T>(f: impl FnOnce() -> T) -> T {
    struct Reset(bool);
    impl Drop for Reset {
        fn drop(&mut self) {
            SETTLED_LATER.with(|s| s.set(self.0));
        }
    }
    let _reset = Reset(SETTLED_LATER.with(|s| s.replace(true)));
    f()
}

/// The request a fix must make work: `uri` on the target, answering the file `path` (200 when
/// it exists).
pub fn goal_for(
    site: &Site,
    t: &Target<'_>,
    uri: &str,
    path: Option<&Path>,
    location: Option<String>,
) -> crate::report::edit::Goal {
    crate::report::edit::Goal {
        host: t.host.to_string(),
        port: t.port,
        uri: uri.to_string(),
        status: path.filter(|p| exists(&site.root, p)).map(|_| 200),
        path: path.map(Path::to_path_buf),
        location,
    }
}

/// A real file under `dir` as a URL under `prefix` on `server`, and the goal a fix that serves
/// `prefix` from `dir` must meet: that URL answers that file (200). None when `dir` holds no
/// file to ask for.
pub fn goal_in_dir(
    site: &Site,
    r: &Resolver<'_>,
    server: NodeId,
    prefix: &str,
    dir: &Path,
) -> Option<crate::report::edit::Goal> {
    let rel = sample_file(&site.root, dir)?;
    let base = if prefix.ends_with('/') {
        prefix.to_string()
    } else {
        format!("{prefix}/")
    };
    let uri = format!("{base}{rel}");
    let file = dir.join(&rel);
    Some(goal_for(
        site,
        &r.target(server),
        &uri,
        Some(&file),
        Some(prefix.to_string()),
    ))
}

/// The edit that makes `location` serve its prefix from `dir`: its own root/alias becomes
/// `alias DIR/;` (or the alias is added when it inherits the server's root). A prefix without
/// its trailing slash gets one too (MD102's edit): `location /media { alias /srv/media/; }`
/// would open /srv/media/../x for /media../x. None for a regex location (its URLs are not
/// prefix + path).
pub fn alias_edit(cfg: &Config, location: NodeId, dir: &Path) -> Option<crate::fix::BlockEdit> {
    let loc = cfg.directive(location);
    if !loc.is("location") || loc.args().any(|a| a.starts_with('~')) {
        return None;
    }
    let line = format!(
        "alias {}/;",
        crate::fix::edit::quote(dir.display().to_string().trim_end_matches('/'))
    );
    let own = loc.raw_children().find(|c| c.is("alias") || c.is("root"));
    let mut edit = match own {
        Some(d) => crate::fix::BlockEdit::new(location).replace(d.id(), line),
        None => crate::fix::BlockEdit::new(location).append(line),
    };
    if let Some(head) = slashed_head(&loc) {
        edit = edit.head(head);
    }
    Some(edit)
}

/// The head of a prefix location given the trailing slash it lacks (`location /media/` for
/// `location /media`), for an edit that gives it an `alias DIR/;` (MD102's rule: a prefix
/// without its slash and an alias with one let /media../x open DIR/../x). None when it has one,
/// or for an exact or regex location.
pub fn slashed_head(loc: &Directive<'_>) -> Option<String> {
    let args: Vec<&str> = loc.args().collect();
    let (modifier, prefix) = match args.as_slice() {
        [p] => ("", *p),
        [m, p] => (*m, *p),
        _ => return None,
    };
    if prefix.ends_with('/')
        || modifier == "="
        || modifier.starts_with('~')
        || prefix.starts_with('=')
        || prefix.starts_with('~')
    {
        return None;
    }
    let slashed = crate::fix::edit::quote(&format!("{prefix}/"));
    Some(if modifier.is_empty() {
        format!("location {slashed}")
    } else {
        format!("location {modifier} {slashed}")
    })
}

/// A new location for `prefix` in `server`, serving `dir` (uploads get nosniff, as MD110
/// wants): the lines to add to the server block.
pub fn new_location(
    server: NodeId,
    prefix: &str,
    dir: &Path,
    media: bool,
) -> crate::fix::BlockEdit {
    let q = crate::fix::edit::quote;
    let mut block = format!(
        "location ^~ {} {{\n    alias {}/;\n",
        q(prefix),
        q(dir.display().to_string().trim_end_matches('/'))
    );
    if media {
        block.push_str("    add_header X-Content-Type-Options nosniff always;\n");
    }
    block.push('}');
    crate::fix::BlockEdit::new(server).append(block)
}

/// The remediation every config finding ends with: the corrected block, then check and reload.
pub fn fix_with_block(f: Finding, intro: &str, block: String) -> Finding {
    f.fix(
        format!("{intro}\n{}", block.trim_end()),
        vec![RELOAD.to_string()],
    )
}

/// A path as nginx builds it, made readable: nginx opens it byte for byte (`alias
/// /srv/static/;` in `location /static` gives `/srv/static//x.css` for `/static/x.css`), and the
/// kernel reads a doubled slash as one. The single-slash path is named beside it, so the evidence
/// stays what nginx really opens without looking like a second mistake.
pub fn opened_path(p: &Path) -> String {
    let s = p.display().to_string();
    if !s.contains("//") {
        return s;
    }
    let mut single = String::with_capacity(s.len());
    for c in s.chars() {
        if !(c == '/' && single.ends_with('/')) {
            single.push(c);
        }
    }
    format!("{s} (the same file as {single})")
}

pub fn loc_of(cfg: &Config, node: NodeId) -> Location {
    cfg.directive(node).location()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One is held per serving location of every server when the app is unknown: 12 bytes
    /// (48 and its url's 8 with its url a `String`; 64 and the text of where it comes from,
    /// ~100 bytes, before that).
    #[test]
    fn a_prefix_is_small() {
        assert_eq!(std::mem::size_of::<Entry>(), 12);
    }

    #[test]
    fn prefixes_are_handed_out_as_they_came() {
        let at = |location, url| Prefix {
            kind: PrefixKind::Media,
            url,
            origin: Origin::Location {
                location,
                server: location + 1,
            },
        };
        let given = [
            Prefix {
                kind: PrefixKind::Static,
                url: "/static/",
                origin: Origin::App("STATIC_URL at settings.py:3"),
            },
            at(4, "/media/"),
            at(9, "/uploads/"),
            at(12, "/media/"),
        ];
        let ps: Prefixes = given.into_iter().collect();
        assert_eq!(ps.urls.len(), 3);
        assert_eq!(ps.iter().collect::<Vec<_>>(), given);
    }

    fn at_locations(urls: &[&str]) -> Prefixes {
        (0..)
            .zip(urls)
            .map(|(i, url)| Prefix {
                kind: PrefixKind::Media,
                url,
                origin: Origin::Location {
                    location: i,
                    server: i,
                },
            })
            .collect()
    }

    #[test]
    fn prefix_urls_names_each_url_once() {
        let ps = at_locations(&["/media/", "/static/", "/media/"]);
        assert_eq!(prefix_urls(&ps), "/media/ in 2 locations, /static/");
        let urls: Vec<String> = (0..10).map(|i| format!("/u{i}/")).collect();
        let urls: Vec<&str> = urls.iter().map(String::as_str).collect();
        assert_eq!(
            prefix_urls(&at_locations(&urls)),
            "/u0/, /u1/, /u2/, /u3/, /u4/, /u5/, /u6/, /u7/, and 2 more"
        );
        assert_eq!(
            prefix_urls(&at_locations(&urls[..8])).matches(", ").count(),
            7
        );
    }

    #[test]
    fn opened_path_names_the_single_slash_file() {
        assert_eq!(opened_path(Path::new("/srv/a/x.css")), "/srv/a/x.css");
        assert_eq!(
            opened_path(Path::new("/srv/staticfiles//x.jpg")),
            "/srv/staticfiles//x.jpg (the same file as /srv/staticfiles/x.jpg)"
        );
    }

    #[test]
    fn quoting() {
        assert_eq!(quote("/srv/media/"), "/srv/media/");
        assert_eq!(quote("a b"), "\"a b\"");
        assert_eq!(quote(""), "\"\"");
        assert_eq!(quote("~*"), "~*");
    }
}
