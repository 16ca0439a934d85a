//! Proving a config fix before it is printed: the edits are applied to an in-memory copy of the
//! configuration (`edit::edited_dump`), the copy is loaded again with the loader's own `nginx -t`
//! rules (a duplicate location in a block among them, plus one nginx enforces that the loader
//! leaves to the resolver: no directive left without its arguments), and resolved:
//!
//! - the failing URL must get the answer meant (a status, or the file nginx should open);
//! - no other URL may change its answer: a sample per location of every server block (a real
//!   file under the location's directory when there is one, and a made-up name), except the
//!   URLs of the location the fix is about.
//!
//! A fix that fails is not printed as a fix: the caller says what to decide instead.

use super::edit::{dump_section, render_node, skeleton, BlockEdit, Change, Skeleton};
use crate::nginx::loader::ParsedSections;
use crate::nginx::resolve::{Request, Resolution, Resolver};
use crate::nginx::{Config, Directive, FileId, NodeId};
use crate::site::{listen_port, server_names_of, Site};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use crate::report::edit::Goal;

/// The model of every server of a spliced copy (`Prover::overlay`), built when a request
/// first reaches a server its own model does not cover.
struct Wide<'c> {
    config: &'c Config,
    shared: Arc<crate::nginx::resolve::Shared>,
    servers: &'c [NodeId],
    model: std::sync::OnceLock<crate::nginx::resolve::Model>,
}

impl crate::nginx::resolve::WholeModel for Wide<'_> {
    fn whole(&self) -> &crate::nginx::resolve::Model {
        self.model.get_or_init(|| {
            crate::nginx::resolve::Model::for_servers(
                self.config,
                self.shared.clone(),
                Some(self.servers),
            )
        })
    }
}

/// Why a fix is not proven.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The edited configuration would not load (`nginx -t` fails): the message.
    DoesNotLoad(String),
    /// The failing URL still does not get the answer meant.
    Unmet(String),
    /// Another URL's answer changes: the URL, before, after.
    SideEffect(String),
}

/// On one line: the reason names URLs and paths from outside, and it is written into a fix's
/// text, which is shown keeping its line breaks (`text_safe::lines`).
impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use crate::text_safe::line;
        match self {
            Refusal::DoesNotLoad(m) => {
                write!(f, "the edited configuration would not load: {}", line(m))
            }
            Refusal::Unmet(m) => write!(f, "the edit does not fix the URL: {}", line(m)),
            Refusal::SideEffect(m) => write!(f, "the edit changes another URL: {}", line(m)),
        }
    }
}

/// `copy` (a dump loaded as nginx would load it) compared with `before` (the same files
/// unedited): an error or a start error the edit brings in refuses it.
fn load_copy(
    site: &Site,
    copy: Result<Config, crate::nginx::LoadError>,
    before: Option<(&Config, &[String])>,
) -> Result<Config, Refusal> {
    let cfg = site.config();
    let mut copy = copy.map_err(|e| Refusal::DoesNotLoad(e.to_string()))?;
    copy.prefix = cfg.prefix.clone();
    let Some((before, was)) = before else {
        return Ok(copy);
    };
    // Only problems the edit brings in count: a warning already there is not the fix's doing.
    let fatal: HashSet<&str> = before
        .diagnostics
        .iter()
        .filter(|d| d.fatal)
        .map(|d| d.message.as_str())
        .collect();
    if let Some(d) = copy
        .diagnostics
        .iter()
        .find(|d| d.fatal && !fatal.contains(d.message.as_str()))
    {
        return Err(Refusal::DoesNotLoad(d.message.clone()));
    }
    if let Some(m) = start_errors(&copy).into_iter().find(|m| !was.contains(m)) {
        return Err(Refusal::DoesNotLoad(m));
    }
    Ok(copy)
}

/// An unedited copy and its model.
/// An unedited copy, its model and its `start_errors` (the proofs of one site share them).
type Before = (
    Arc<Config>,
    Arc<crate::nginx::resolve::Model>,
    Arc<Vec<String>>,
    Arc<Asked>,
    Arc<crate::nginx::overlay::Declared>,
);

/// What the proofs on one unedited copy asked of it: the sample URLs of each server, and the
/// answer to each (with the place of the server that gave it). The copy does not change, so
/// neither do they: each fix of a site compares its edited copy with the same answers.
#[derive(Default)]
struct Asked {
    samples: std::sync::Mutex<HashMap<NodeId, Arc<Vec<String>>>>,
    answers: std::sync::Mutex<HashMap<(NodeId, String), Asked1>>,
}

/// One answer of the unedited copy, and the place of the server that gave it.
type Asked1 = (Answer, Option<usize>);

/// The sections every copy of a box starts with, and the text they were parsed from.
/// (And whether that text is the same for every copy of the box.)
type First = std::sync::Mutex<Option<Arc<(String, ParsedSections, bool)>>>;

/// Proves the fixes of one site's report: what every proof shares (the sections of the files
/// without server blocks, rendered once; the unedited copy of the same files) is kept between
/// them.
pub struct Prover<'s> {
    site: &'s Site,
    /// The last unedited copy and what it was loaded from (the files, and the servers when only
    /// some of theirs were put back): the fixes of one site follow each other and load the same.
    before: std::sync::Mutex<Option<(LoadKey, Before)>>,
    /// Each file's sections without its server blocks (None: it cannot be cut).
    skeletons: std::sync::Mutex<HashMap<FileId, Option<Arc<Skeleton>>>>,
    /// In a check over every site: the skeletons of the files that hold other sites' servers
    /// too (`shares`), cut once per box, not once per site (a nginx.conf of 30,000 servers).
    box_skeletons: Option<Arc<Skeletons>>,
    /// How many of this site's servers each file holds (one of many sites only).
    mine: HashMap<FileId, usize>,
    /// What the walks of every copy's resolver share: the copies name the same files, on the
    /// same filesystem, as the site (its metadata and users read once, not twice per proof),
    /// and the walks themselves (the edited copy walks the paths the unedited one did).
    walks: std::sync::OnceLock<crate::fs::walk::WalkCache>,
    /// The sections every copy of the box starts with (the main file, the files without
    /// servers), parsed once: the text they were parsed from, and what the loader made of it.
    /// Each copy parses only its own servers' files after them (`load_dump_after`).
    first: Arc<First>,
    /// Every copy loaded from its whole dump text (the reference `first` must agree with).
    reload_whole: bool,
    /// How many edited copies were spliced over the unedited one (`overlay`), not loaded.
    overlaid: std::sync::atomic::AtomicUsize,
    /// How many of those had only one location's text parsed again (`splice_location`).
    by_location: std::sync::atomic::AtomicUsize,
}

/// Skeletons by file.
type Skeletons = std::sync::Mutex<HashMap<FileId, Option<Arc<Skeleton>>>>;

/// What a copy was loaded from.
type LoadKey = (Vec<FileId>, Option<Vec<usize>>);

impl<'s> Prover<'s> {
    pub fn new(site: &'s Site) -> Prover<'s> {
        let (mut mine, mut box_skeletons) = (HashMap::new(), None);
        if site.is_one_of_many() {
            let cfg = site.config();
            for &s in &site.nginx.servers {
                *mine.entry(cfg.directive(s).file_id()).or_insert(0) += 1;
            }
            box_skeletons = Some(site.per_box("fix::prove::skeletons", Skeletons::default));
        }
        Prover {
            site,
            before: std::sync::Mutex::new(None),
            skeletons: std::sync::Mutex::new(HashMap::new()),
            box_skeletons,
            mine,
            walks: std::sync::OnceLock::new(),
            first: site.per_box("fix::prove::first", Default::default),
            reload_whole: false,
            overlaid: Default::default(),
            by_location: Default::default(),
        }
    }

    /// A prover that loads every copy from its whole dump text, parsing every section again:
    /// what `load` must agree with (tested).
    #[cfg(test)]
    fn reloading_whole(site: &'s Site) -> Prover<'s> {
        Prover {
            reload_whole: true,
            ..Prover::new(site)
        }
    }

    /// The model of every server of a copy, built over what its models share (`Shared`): the
    /// http block is merged once, for the index and the servers (`Model::build`, which the
    /// reference prover keeps, merges it twice).
    fn model_of(&self, cfg: &Config) -> crate::nginx::resolve::Model {
        use crate::nginx::resolve::{Model, Shared};
        if self.reload_whole {
            return Model::build(cfg);
        }
        let all: Vec<NodeId> = cfg.servers().iter().map(Directive::id).collect();
        Model::for_servers(cfg, Arc::new(Shared::build(cfg)), Some(&all))
    }

    /// The edited copy made from the unedited one `before` when every edit lies in one server
    /// block whose `listen` and `server_name` lines stay (`nginx::overlay::splice_server`):
    /// that server's text alone is parsed and put in place of the old, the rules nginx applies
    /// inside it asked again, and its model built over what the unedited copy's models share.
    /// `server_of`: the unedited copy's server of an edited server (index into
    /// `ServerPlaces::all`). Err: what the copy would refuse, as `load_copy` says it. None:
    /// the copy is loaded.
    fn overlay(
        &self,
        scope: &Scope,
        edits: &[BlockEdit],
        before: &Before,
        server_of: impl Fn(usize) -> Option<NodeId>,
    ) -> Option<Result<(Config, crate::nginx::resolve::Model), Refusal>> {
        let cfg = self.site.config();
        let places = self.site.server_places();
        let edited = (*scope.edited.first()?)?;
        if edits.is_empty() || scope.edited.iter().any(|e| *e != Some(edited)) {
            return None;
        }
        let server = places.all[edited];
        // A server's own head stays `server`.
        if edits.iter().any(|e| e.block == server && e.head.is_some()) {
            return None;
        }
        let (old_cfg, old_model, was, _, declared) = before;
        let at = server_of(edited)?;
        // The block is written at its depth: four spaces a level.
        let column = old_cfg.directive(at).column() as usize;
        if column == 0 || (column - 1) % 4 != 0 {
            return None;
        }
        // One location edited: its text alone is parsed again (the place of the block in the
        // copy is the place of the edited one in its server: the copy's server is the box's,
        // rendered). Else (or if that cannot be spliced) the server's.
        let in_copy = match edits {
            [e] if e.block != server => same_place(cfg, server, e.block, old_cfg, at),
            _ => None,
        };
        let by_location = in_copy.and_then(|loc| {
            let column = old_cfg.directive(loc).column() as usize;
            if column == 0 || (column - 1) % 4 != 0 {
                return None;
            }
            let mut text = String::new();
            render_node(cfg, edits[0].block, (column - 1) / 4, edits, &mut text);
            crate::nginx::overlay::splice_location(
                old_cfg,
                at,
                loc,
                super::edit::rendered_lines(cfg, edits[0].block),
                &text,
                declared,
            )
        });
        let spliced = match by_location {
            Some(s) => {
                self.by_location
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                s
            }
            None => {
                let mut new_text = String::new();
                render_node(cfg, server, (column - 1) / 4, edits, &mut new_text);
                crate::nginx::overlay::splice_server(
                    old_cfg,
                    at,
                    super::edit::rendered_lines(cfg, server),
                    &new_text,
                    declared,
                )?
            }
        };
        self.overlaid
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // What `load_copy` refuses: only what lies in the block can be new.
        let fatal: HashSet<&str> = old_cfg
            .diagnostics
            .iter()
            .filter(|d| d.fatal)
            .map(|d| d.message.as_str())
            .collect();
        if let Some(d) = spliced
            .diagnostics
            .iter()
            .find(|d| d.fatal && !fatal.contains(d.message.as_str()))
        {
            return Some(Err(Refusal::DoesNotLoad(d.message.clone())));
        }
        let copy = spliced.config;
        if let Some(m) = start_errors_under(&copy, at)
            .into_iter()
            .find(|m| !was.contains(m))
        {
            return Some(Err(Refusal::DoesNotLoad(m)));
        }
        let model = crate::nginx::resolve::Model::for_servers(
            &copy,
            old_model.shared().clone(),
            Some(&[at]),
        );
        Some(Ok((copy, model)))
    }

    /// The servers `scope` loads (indexes into `ServerPlaces::all`), in config order (None:
    /// every one).
    fn loaded(&self, scope: &Scope) -> Option<Vec<usize>> {
        let cfg = self.site.config();
        let places = self.site.server_places();
        scope.files.as_ref().map(|files| {
            if let Some(servers) = &scope.servers {
                return servers.clone();
            }
            let mut v: Vec<usize> = files
                .iter()
                .chain(std::iter::once(&cfg.main))
                .collect::<HashSet<_>>()
                .into_iter()
                .flat_map(|f| places.by_file.get(f).into_iter().flatten().copied())
                .collect();
            v.sort_unstable();
            v
        })
    }

    /// The copy of the files `scope` loads with `edits` applied, as the loader makes it of the
    /// dump `dump` writes; the sections the copies of the box start with are parsed once.
    fn load(&self, scope: &Scope, edits: &[BlockEdit]) -> Result<Config, crate::nginx::LoadError> {
        let cfg = self.site.config();
        // The main file and the files without servers are written the same for every copy
        // when the main file holds no server and no edit is in it: not written again.
        let constant = scope.files.is_some()
            && !self.site.server_places().by_file.contains_key(&cfg.main)
            && edits
                .iter()
                .all(|e| cfg.directive(e.block).file_id() != cfg.main);
        if constant && !self.reload_whole {
            let cached = self.first.lock().unwrap_or_else(|e| e.into_inner()).clone();
            if let Some(first) = cached.filter(|f| f.2) {
                let (_, rest) = self.dump_parts(scope, edits, false);
                if !rest.is_empty() {
                    return Ok(crate::nginx::loader::load_dump_after(
                        &first.1,
                        rest.as_bytes(),
                    ));
                }
            }
        }
        let (head, rest) = self.dump_parts(scope, edits, true);
        if self.reload_whole || rest.is_empty() {
            let whole = head + &rest;
            return crate::nginx::load_dump(&self.site.root, whole.as_bytes(), "the edited copy");
        }
        let cached = self.first.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let first = match cached {
            Some(f) if f.0 == head => f,
            _ => {
                let Some(parsed) = ParsedSections::parse(head.as_bytes()) else {
                    let whole = head + &rest;
                    return crate::nginx::load_dump(
                        &self.site.root,
                        whole.as_bytes(),
                        "the edited copy",
                    );
                };
                let f = Arc::new((head, parsed, constant));
                *self.first.lock().unwrap_or_else(|e| e.into_inner()) = Some(f.clone());
                f
            }
        };
        Ok(crate::nginx::loader::load_dump_after(
            &first.1,
            rest.as_bytes(),
        ))
    }

    /// Whether `file` holds servers of other sites of the box than this one (in a check over
    /// every site): what is made of it is made once per box.
    pub fn shares(&self, file: FileId) -> bool {
        self.box_skeletons.is_some()
            && self
                .site
                .server_places()
                .by_file
                .get(&file)
                .is_some_and(|all| all.len() > self.mine.get(&file).copied().unwrap_or(0))
    }

    /// The files of this site's servers that hold other sites' servers too.
    pub fn shared_files(&self) -> impl Iterator<Item = FileId> + '_ {
        self.mine.keys().copied().filter(|&f| self.shares(f))
    }

    fn skeleton(&self, file: FileId) -> Option<Arc<Skeleton>> {
        let all = match &self.box_skeletons {
            Some(shared) if self.shares(file) => shared,
            _ => &self.skeletons,
        };
        let mut all = all.lock().unwrap_or_else(|e| e.into_inner());
        all.entry(file)
            .or_insert_with(|| skeleton(self.site.config(), file).map(Arc::new))
            .clone()
    }

    /// Keeps `scope.servers` only when every file that holds them can be cut into a skeleton;
    /// otherwise the whole files are loaded (all their servers).
    fn narrow(&self, mut scope: Scope) -> Scope {
        let places = self.site.server_places();
        let main = self.site.config().main;
        let cuttable = scope.files.as_ref().is_some_and(|files| {
            files
                .iter()
                .chain(std::iter::once(&main))
                .filter(|f| places.by_file.contains_key(f))
                .all(|&f| self.skeleton(f).is_some())
        });
        if !cuttable {
            scope.servers = None;
        }
        scope
    }

    /// One file's section: only the servers of `keep` when given (and the file can be cut),
    /// else the whole file.
    fn write_file(&self, f: FileId, keep: Option<&[usize]>, edits: &[BlockEdit], out: &mut String) {
        let cfg = self.site.config();
        let places = self.site.server_places();
        let cut = keep.and_then(|k| Some((k, places.by_file.get(&f)?, self.skeleton(f)?)));
        let Some((keep, servers, sk)) = cut else {
            dump_section(cfg, f, edits, out);
            return;
        };
        out.push_str(&sk.head);
        // `keep` is a few servers, the file's may be 500,000 (both sorted, in config order).
        for &i in keep.iter().filter(|i| servers.binary_search(i).is_ok()) {
            render_node(cfg, places.all[i], sk.depth, edits, out);
        }
        out.push_str(&sk.tail);
    }

    /// The dump of the files `scope` loads, with `edits` applied: the main file first (nginx
    /// -T's order: the entry, then what it includes).
    #[cfg(test)]
    fn dump(&self, scope: &Scope, edits: &[BlockEdit]) -> String {
        let (head, rest) = self.dump_parts(scope, edits, true);
        head + &rest
    }

    /// `dump` in two parts: the main file and the files without servers (the same in every
    /// copy of a site, and of a box when the main file holds no server), then the rest.
    /// (`with_head` false: the first part is not written, left empty.)
    fn dump_parts(&self, scope: &Scope, edits: &[BlockEdit], with_head: bool) -> (String, String) {
        let cfg = self.site.config();
        let Some(files) = &scope.files else {
            return (super::edit::edited_dump(cfg, edits), String::new());
        };
        let places = self.site.server_places();
        // Rendered once per box (the sites of a check over every site share it).
        let fixed = places.serverless_dump.get_or_init(|| {
            let mut out = String::new();
            for &f in places.serverless.iter().filter(|&&f| f != cfg.main) {
                super::edit::dump_section_for_proof(cfg, f, &mut out);
            }
            out
        });
        let keep = scope.servers.as_deref();
        let mut head = String::new();
        if with_head {
            head.reserve(fixed.len() + 4096);
            self.write_file(cfg.main, keep, edits, &mut head);
            // An edit lies in a server block, so never in a file of `fixed`.
            head.push_str(fixed);
        }
        let mut rest: Vec<FileId> = files.iter().copied().filter(|&f| f != cfg.main).collect();
        rest.sort_unstable();
        let mut out = String::with_capacity(4096);
        for f in rest {
            self.write_file(f, keep, edits, &mut out);
        }
        (head, out)
    }
}

/// The node of `copy` at the place `block` has under `server` in `cfg` (the same child of the
/// same child..., written children, includes not followed), `copy_server` being `server`
/// rendered: a location of a server, found in the copy loaded from its text. None: `block` is
/// not written under `server`, or not a location.
fn same_place(
    cfg: &Config,
    server: NodeId,
    block: NodeId,
    copy: &Config,
    copy_server: NodeId,
) -> Option<NodeId> {
    /// The child index of each block from `d` down to `block`, if it is written under `d`.
    fn path_to(d: Directive<'_>, block: NodeId, path: &mut Vec<usize>) -> bool {
        for (i, c) in d.raw_children().enumerate() {
            if !c.has_block() {
                continue;
            }
            path.push(i);
            if c.id() == block || path_to(c, block, path) {
                return true;
            }
            path.pop();
        }
        false
    }
    let mut path: Vec<usize> = Vec::new();
    if !path_to(cfg.directive(server), block, &mut path) {
        return None;
    }
    let mut node = copy.directive(copy_server);
    for &i in &path {
        node = node.raw_children().nth(i)?;
    }
    let (was, is) = (cfg.directive(block), node);
    let same =
        is.is("location") && was.is("location") && is.has_block() && is.args().eq(was.args());
    same.then_some(node.id())
}

/// What a set of edits can matter to: the servers they edit, the servers that share a name with
/// those (a server_name edit moves requests between them), the servers with wildcard or regex
/// names and the default servers of their ports. The copy loads the main file, every file
/// without server blocks (snippets, maps, upstreams) and the files of those servers: a fix in
/// one site of a 10,000-site config is proven on that site, not on the whole config again.
struct Scope {
    /// The files of server blocks that are loaded; None: every file (an edit outside a server,
    /// or in a snippet several servers include).
    files: Option<HashSet<FileId>>,
    /// The servers loaded (indexes into `ServerPlaces::all`, sorted) when only they are put
    /// back into their files (see `Prover::narrow`); None: every server of `files`.
    servers: Option<Vec<usize>>,
    /// The edited server of each edit (index into `ServerPlaces::all`).
    edited: Vec<Option<usize>>,
}

impl Scope {
    #[cfg(test)]
    fn of(site: &Site, edits: &[BlockEdit]) -> Scope {
        Scope::with(site, edits)
    }

    fn with(site: &Site, edits: &[BlockEdit]) -> Scope {
        let cfg = site.config();
        let places = site.server_places();
        let edited: Vec<Option<usize>> = edits
            .iter()
            .map(|e| places.enclosing(cfg, e.block))
            .collect();
        if edited.iter().any(Option::is_none) {
            return Scope {
                files: None,
                servers: None,
                edited,
            };
        }
        let mut servers: HashSet<usize> = HashSet::new();
        for (e, i) in edits.iter().zip(edited.iter().flatten()) {
            servers.insert(*i);
            // The servers that compete with the edited one for its requests are loaded even
            // for an edit inside a location, which cannot move requests between servers:
            // without them, the copy would send the edited server requests another one takes.
            let server = cfg.directive(places.all[*i]);
            let mut names: Vec<String> = server_names_of(&server)
                .map(str::to_ascii_lowercase)
                .collect();
            // The names the edit writes (a server_name replaced or added; none in a location).
            let in_location = cfg.directive(e.block).is("location");
            let written = e
                .changes
                .values()
                .filter_map(|c| match c {
                    Change::Replace(lines) => Some(lines),
                    Change::Drop => None,
                })
                .flatten()
                .chain(&e.append)
                .filter(|_| !in_location);
            for line in written {
                let mut words = line.split(|c: char| c.is_whitespace() || c == ';');
                if words.next() == Some("server_name") {
                    names.extend(words.filter(|w| !w.is_empty()).map(str::to_ascii_lowercase));
                }
            }
            for n in &names {
                servers.extend(places.named(cfg, n));
            }
            // An exact name beats wildcards, regexes and the default server: a location edit
            // in a server with one is contested only by the servers sharing that name.
            let exact = |n: &String| {
                !(n.is_empty() || n.contains('*') || n.starts_with('~') || n.starts_with('.'))
            };
            if in_location && names.iter().any(exact) {
                continue;
            }
            servers.extend(&places.wild);
            let mut ports: Vec<u16> = server
                .children()
                .filter(|c| c.is("listen"))
                .map(|l| l.arg(0).map_or(80, listen_port))
                .collect();
            if ports.is_empty() {
                ports.push(80);
            }
            for p in ports {
                servers.extend(places.defaults.get(&p).into_iter().flatten());
            }
        }
        let files = servers
            .iter()
            .map(|&i| cfg.directive(places.all[i]).file_id())
            .collect();
        let mut servers: Vec<usize> = servers.into_iter().collect();
        servers.sort_unstable();
        Scope {
            files: Some(files),
            servers: Some(servers),
            edited,
        }
    }
}

/// Directives that need at least one argument, which an edit could leave empty.
const NEED_ARGS: &[&str] = &[
    "server_name",
    "root",
    "alias",
    "listen",
    "try_files",
    "proxy_pass",
    "location",
    "include",
    "index",
    "return",
];

/// What `nginx -t` refuses that the loader leaves to the resolver: a directive without
/// arguments. (A duplicate location is the loader's: a fatal diagnostic.)
pub fn start_errors(cfg: &Config) -> Vec<String> {
    errors_in(cfg.depth_first().map(|(_, d)| d))
}

/// `start_errors` of one block and what is under it, in the same order.
fn start_errors_under(cfg: &Config, block: NodeId) -> Vec<String> {
    let d = cfg.directive(block);
    errors_in(std::iter::once(d).chain(d.descendants().map(|(_, d)| d)))
}

/// `start_errors` of these directives.
fn errors_in<'c>(all: impl Iterator<Item = Directive<'c>>) -> Vec<String> {
    let mut out = Vec::new();
    for d in all {
        if d.arg_count() == 0 && NEED_ARGS.iter().any(|n| d.is(n)) {
            out.push(format!(
                "invalid number of arguments in \"{}\" directive",
                d.name()
            ));
        }
    }
    out
}

fn location_key(d: &Directive<'_>) -> (String, String) {
    let (m, p) = location_key_of(d);
    (m.to_string(), p.to_string())
}

/// A location's modifier and name, borrowed from the config.
fn location_key_of<'c>(d: &Directive<'c>) -> (&'c str, &'c str) {
    let mut args = d.args();
    match (args.next(), args.next()) {
        (Some(p), None) => match p.strip_prefix('=') {
            Some(rest) if !rest.is_empty() => ("=", rest),
            _ => ("", p),
        },
        (Some(m), Some(p)) => (m, p),
        (None, _) => ("", ""),
    }
}

/// The answer to compare: what nginx does, not how it explains it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Answer {
    status: Option<u16>,
    handler: String,
    path: Option<PathBuf>,
    location: Option<(String, String)>,
    redirect: Option<String>,
    upstream: Option<String>,
}

impl Answer {
    fn of(r: &Resolver<'_>, res: &Resolution) -> Answer {
        Answer::of_with(res, |l| r.location_pattern(l))
    }

    /// `of`, with the location's modifier and pattern read by `pattern`.
    fn of_with(
        res: &Resolution,
        pattern: impl Fn(NodeId) -> Option<(crate::nginx::resolve::Modifier, String)>,
    ) -> Answer {
        Answer {
            status: res.predicted_status,
            handler: res.handler.as_str().to_string(),
            path: res.path.clone(),
            location: res
                .location
                .and_then(pattern)
                .map(|(m, p)| (m.as_str().to_string(), p)),
            redirect: res.redirect.clone(),
            upstream: res.upstream.clone(),
        }
    }
    fn short(&self) -> String {
        let status = self
            .status
            .map(|s| s.to_string())
            .unwrap_or_else(|| "?".into());
        match &self.path {
            Some(p) => format!("{status} ({}, {})", self.handler, p.display()),
            None => format!("{status} ({})", self.handler),
        }
    }

    /// This answer and `other`, each as `short` plus what tells them apart when `short` does
    /// not: the location, the redirect, the upstream. Two 404s from different locations read
    /// `404 (static) in location /a/` and `404 (static) in location /b/`, never `404 instead of
    /// 404`.
    fn contrast(&self, other: &Answer) -> (String, String) {
        let (mut a, mut b) = (self.short(), other.short());
        if self.location != other.location {
            let place = |l: &Option<(String, String)>| match l {
                Some((m, p)) if m.is_empty() => format!(" in location {p}"),
                Some((m, p)) => format!(" in location {m} {p}"),
                None => " in no location".to_string(),
            };
            a.push_str(&place(&self.location));
            b.push_str(&place(&other.location));
        }
        let mut field = |x: &Option<String>, y: &Option<String>, what: &str, none: &str| {
            if x != y {
                let say = |v: &Option<String>| match v {
                    Some(v) => format!(", {what} {v}"),
                    None => format!(", {none}"),
                };
                a.push_str(&say(x));
                b.push_str(&say(y));
            }
        };
        field(
            &self.redirect,
            &other.redirect,
            "redirect to",
            "no redirect",
        );
        field(&self.upstream, &other.upstream, "to", "no upstream");
        (a, b)
    }
}

/// Proves `edits` against every goal of `goals` (none: the edit must only load and leave the
/// other URLs alone): Ok with what was checked, or why not.
pub fn prove(site: &Site, edits: &[BlockEdit], goals: &[Goal]) -> Result<String, Refusal> {
    Prover::new(site).prove(edits, goals)
}

impl Prover<'_> {
    /// `prove`, sharing what the proofs of one report share.
    pub fn prove(&self, edits: &[BlockEdit], goals: &[Goal]) -> Result<String, Refusal> {
        let site = self.site;
        let cfg = site.config();
        let scope = self.narrow(Scope::with(site, edits));
        // Both sides are loaded from the same files, so they have the same servers in the same
        // order, and are modelled whole.
        let before: Option<Before> = match &scope.files {
            None => None,
            Some(files) => {
                let mut files: Vec<FileId> = files.iter().copied().collect();
                files.sort_unstable();
                let key: LoadKey = (files, scope.servers.clone());
                // Not locked while loading: the proofs of one site may run on several threads.
                let last = self
                    .before
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .clone();
                match last {
                    Some((k, b)) if k == key => Some(b),
                    _ => {
                        let c = load_copy(site, self.load(&scope, &[]), None)?;
                        let m = self.model_of(&c);
                        let was = start_errors(&c);
                        let b = (
                            Arc::new(c),
                            Arc::new(m),
                            Arc::new(was),
                            Arc::default(),
                            Arc::default(),
                        );
                        *self.before.lock().unwrap_or_else(|e| e.into_inner()) =
                            Some((key, b.clone()));
                        Some(b)
                    }
                }
            }
        };
        let (whole_model, whole_was, whole_asked);
        let (old_cfg, old_model, was, asked): (
            &Config,
            &crate::nginx::resolve::Model,
            &[String],
            &Asked,
        ) = match &before {
            // The reference prover asks every URL again.
            Some((c, m, w, ..)) if self.reload_whole => {
                whole_asked = Asked::default();
                (c, m, w, &whole_asked)
            }
            Some((c, m, w, a, _)) => (c, m, w, a),
            None => {
                whole_model = crate::nginx::resolve::Model::build(cfg);
                whole_was = start_errors(cfg);
                whole_asked = Asked::default();
                (cfg, &whole_model, &whole_was, &whole_asked)
            }
        };
        let loaded = self.loaded(&scope);
        // The place of an edited server among the loaded ones.
        let loaded_index = |i: usize| -> Option<usize> {
            match &loaded {
                None => Some(i),
                Some(v) => v.binary_search(&i).ok(),
            }
        };
        let old_servers: Vec<NodeId> = old_cfg.servers().iter().map(|d| d.id()).collect();
        let spliced = match &before {
            Some(b) if !self.reload_whole => self.overlay(&scope, edits, b, |i| {
                loaded_index(i).and_then(|k| old_servers.get(k).copied())
            }),
            _ => None,
        };
        let (copy, model, shared) = match spliced {
            Some(got) => {
                let (copy, model) = got?;
                let shared = model.shared().clone();
                (copy, model, Some(shared))
            }
            None => {
                let copy = load_copy(site, self.load(&scope, edits), Some((old_cfg, was)))?;
                let model = self.model_of(&copy);
                (copy, model, None)
            }
        };
        let new_servers: Vec<NodeId> = copy.servers().iter().map(|d| d.id()).collect();
        // A spliced copy's model covers the edited server (and the default servers of its
        // sockets); a request that reaches another is answered by the model of every server,
        // built then.
        let wide = shared.map(|shared| Wide {
            config: &copy,
            shared,
            servers: &new_servers,
            model: std::sync::OnceLock::new(),
        });
        let walks = self
            .walks
            .get_or_init(|| crate::fs::walk::WalkCache::keeping_walks(&site.root));
        let old = Resolver::with_walks(
            crate::nginx::resolve::Inputs {
                config: old_cfg,
                model: old_model,
                root: &site.root,
                worker: site.worker(),
                servers: &old_servers,
                whole: None,
            },
            walks,
        );
        let new = Resolver::with_walks(
            crate::nginx::resolve::Inputs {
                config: &copy,
                model: &model,
                root: &site.root,
                worker: site.worker(),
                servers: &new_servers,
                whole: wide
                    .as_ref()
                    .map(|w| w as &dyn crate::nginx::resolve::WholeModel),
            },
            walks,
        );
        // The answer of the edited copy: a location of a server its model does not cover is
        // read in the model of every server.
        let answer_new = |res: &Resolution| {
            Answer::of_with(res, |l| {
                new.location_pattern(l).or_else(|| {
                    let w = wide.as_ref()?;
                    Resolver::new(crate::nginx::resolve::Inputs {
                        config: &copy,
                        model: crate::nginx::resolve::WholeModel::whole(w),
                        root: &site.root,
                        worker: site.worker(),
                        servers: &new_servers,
                        whole: None,
                    })
                    .location_pattern(l)
                })
            })
        };
        // The locations the fix is about, before and after, by server: their URLs may change
        // (without a goal, the edited blocks; with one, the locations that answer it).
        let mut about: Vec<(usize, Option<(String, String)>)> = Vec::new();
        // Locations whose head the edit rewrites (`location /media/` to `location ^~ /media/`):
        // the same block, so a URL it answers before and after keeps its answer.
        type Key = (String, String);
        let mut renamed: Vec<(usize, Key, Key)> = Vec::new();
        for (e, i) in edits.iter().zip(&scope.edited) {
            let d = cfg.directive(e.block);
            let Some(i) = i.and_then(loaded_index) else {
                continue;
            };
            if d.is("location") {
                let (m, p) = location_key(&d);
                about.push((i, Some((m, p.clone()))));
                // The head as rewritten (`location ^~ /media/`).
                if let Some(h) = &e.head {
                    let w: Vec<&str> = h.split_whitespace().skip(1).collect();
                    let (m, p) = match w.as_slice() {
                        [p] => (String::new(), p.to_string()),
                        [m, p, ..] => (m.to_string(), p.to_string()),
                        [] => (String::new(), String::new()),
                    };
                    renamed.push((i, location_key(&d), (m.clone(), p.clone())));
                    about.push((i, Some((m, p))));
                }
            } else {
                // A server block edit (server_name, a new location): its URLs are the point.
                about.push((i, None));
            }
        }
        let mut summaries: Vec<String> = Vec::new();
        if !goals.is_empty() {
            // With goals, only the goals' URLs are meant to change: the edited blocks' other URLs
            // are held to their answers too.
            about.clear();
        }
        for goal in goals {
            let req = Request::for_path(&goal.host, goal.port, &goal.uri);
            let (before, after) = (old.predict(&req), new.predict(&req));
            let got = answer_new(&after);
            if let Some(refusal) = unmet(goal, &after, &got) {
                return Err(refusal);
            }
            if let Some(i) = before
                .server
                .and_then(|s| old_servers.iter().position(|&x| x == s))
            {
                about.push((i, Answer::of(&old, &before).location));
                about.push((i, got.location.clone()));
            }
            summaries.push(format!(
                "{} answers {} with the edit",
                goal.uri,
                got.short()
            ));
        }
        if old_servers.len() != new_servers.len() {
            return Err(Refusal::SideEffect(format!(
                "the edit changes the number of server blocks from {} to {}",
                old_servers.len(),
                new_servers.len()
            )));
        }
        // With every edit inside a location of its server's own file, no `listen` or
        // `server_name` changes (each request picks the same server on both sides) and no
        // other server's text changes: only the edited servers' URLs can answer differently,
        // so only theirs are sampled (a site's other servers, 500,000 of them in one file, are
        // the same blocks on both sides).
        let inside_locations = scope.files.is_some()
            && edits.iter().all(|e| {
                let head_kept = match &e.head {
                    Some(h) => h.split_whitespace().next() == Some("location"),
                    None => true,
                };
                cfg.directive(e.block).is("location") && head_kept
            });
        let sampled: Option<HashSet<usize>> = inside_locations.then(|| {
            scope
                .edited
                .iter()
                .flatten()
                .filter_map(|&i| loaded_index(i))
                .collect()
        });
        let mut checked = 0;
        for (i, (&s, &new_server)) in old_servers.iter().zip(&new_servers).enumerate() {
            if sampled.as_ref().is_some_and(|only| !only.contains(&i)) {
                continue;
            }
            let host = first_name(&old, s);
            let port = old.server_ports(s).into_iter().next().unwrap_or(80);
            // A request for the server's own name is chosen as nginx chooses (an edit of a
            // server_name moves requests between servers); one that reaches it only by being
            // sent there (no name of its own) is resolved on it.
            let selected = old.select_server(host, port) == Some(s);
            let at = |servers: &[NodeId], res: &Resolution| {
                res.server
                    .and_then(|x| servers.iter().position(|&y| y == x))
            };
            let cached = asked
                .samples
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&s)
                .cloned();
            let uris = cached.unwrap_or_else(|| {
                let v = Arc::new(samples(site, &old, s));
                asked
                    .samples
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(s, v.clone());
                v
            });
            for uri in uris.iter() {
                let req = Request::for_path(host, port, uri);
                // Answers compared, not explained: `predict` decides as `resolve` does. The
                // unedited copy's answer is asked once for every fix proven on it.
                let key = (s, uri.clone());
                let known = asked
                    .answers
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get(&key)
                    .cloned();
                let (a, at_a) = known.unwrap_or_else(|| {
                    let ra = if selected {
                        old.predict(&req)
                    } else {
                        old.predict_on(s, &req)
                    };
                    let got = (Answer::of(&old, &ra), at(&old_servers, &ra));
                    asked
                        .answers
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(key, got.clone());
                    got
                });
                let is_about = |si: usize, loc: &Option<(String, String)>| {
                    about
                        .iter()
                        .any(|(x, l)| *x == si && (l.is_none() || l == loc))
                };
                // A URL of the place the fix is about may change, whatever the edited copy
                // answers: not asked of it (half the predictions of a location's fix).
                let sa = at_a.unwrap_or(i);
                if is_about(sa, &a.location) {
                    continue;
                }
                let rb = if selected {
                    new.predict(&req)
                } else {
                    new.predict_on(new_server, &req)
                };
                let b = answer_new(&rb);
                let sb = at(&new_servers, &rb).unwrap_or(i);
                // One that another server answered and the edited server now takes is a side
                // effect.
                if sa == sb && is_about(sb, &b.location) {
                    continue;
                }
                checked += 1;
                let mut a = a;
                if let Some((.., to)) = renamed
                    .iter()
                    .find(|(x, from, _)| *x == sa && a.location.as_ref() == Some(from))
                {
                    a.location = Some(to.clone());
                }
                if (sa, &a) != (sb, &b) {
                    let by = |k: usize, servers: &[NodeId], c: &Config| {
                        if k == sa && k == sb {
                            String::new()
                        } else {
                            format!(
                                " from the server block at {}",
                                c.directive(servers[k]).location()
                            )
                        }
                    };
                    let (now, was) = b.contrast(&a);
                    return Err(Refusal::SideEffect(format!(
                        "{host}{uri} ({}) would answer {now}{} instead of {was}{}",
                        old_cfg.directive(s).location(),
                        by(sb, &new_servers, &copy),
                        by(sa, &old_servers, old_cfg),
                    )));
                }
            }
        }
        let summary = if summaries.is_empty() {
            "the edit loads".to_string()
        } else {
            summaries.join("; ")
        };
        Ok(format!("{summary}; {checked} other URLs keep their answer"))
    }
}

/// A fix of a batch (`Prover::prove_batch`): its merged edits and its goals.
pub type Member<'a> = (&'a [BlockEdit], &'a [Goal]);

impl Prover<'_> {
    /// The server (index into `ServerPlaces::all`) a fix may be proven in a batch for: every
    /// edit inside a location of that one server's own text, its head still a location's (the
    /// prover's `inside_locations`: no `listen`, `server_name` or server head changes), and
    /// that server the only one its proof alone loads (no other server shares its names). None:
    /// it is proven alone.
    fn batch_server(&self, edits: &[BlockEdit]) -> Option<usize> {
        let cfg = self.site.config();
        let inside = edits.iter().all(|e| {
            cfg.directive(e.block).is("location")
                && e.head
                    .as_ref()
                    .map_or(true, |h| h.split_whitespace().next() == Some("location"))
        });
        if edits.is_empty() || !inside {
            return None;
        }
        let scope = self.narrow(Scope::with(self.site, edits));
        let (Some(_), Some(servers)) = (&scope.files, &scope.servers) else {
            return None;
        };
        let &[i] = servers.as_slice() else {
            return None;
        };
        scope.edited.iter().all(|&e| e == Some(i)).then_some(i)
    }

    /// Several fixes of one site proven on one copy: the unedited copy of their servers (and
    /// of the main file and the files without servers) loaded and modelled once for them all,
    /// and once with every edit applied, instead of once (and a splice) per fix. Each answer is
    /// Some only for a fix the batch proves (what `prove` would say of it alone); None: prove
    /// it alone (a fix that cannot be batched, or that the batch does not prove: its refusal's
    /// words, and whether it is refused at all, are then `prove`'s own).
    ///
    /// Why a fix the batch proves passes alone. The batch takes only fixes whose edits all lie
    /// inside locations of one server S each (a server of its own per fix), where S is the only
    /// server `prove` would load for it (`batch_server`). Its proof alone compares, on S and
    /// nothing else, the answers to its goals' URLs and to S's sample URLs (`samples`, made
    /// from S's own locations), between a copy of (the main file, the files without servers,
    /// S) and the same copy with its edits. The batch's copies hold the same files and S, and
    /// the other batched servers, unedited then edited. A request that reaches S is answered
    /// from S's text, what it inherits (the http block, the same on every copy) and the files
    /// on disk; another server's text can only matter through
    ///
    /// - the choice of server: every URL compared must reach S on both of the batch's copies
    ///   (S chosen for its host and port, or no server at all), else the fix is proven alone;
    ///   S chosen among more servers is S chosen when it is the only one listening there;
    /// - the variables declared anywhere in the config (`set`, named captures), which decide
    ///   whether a `$name` is known to the loader and to the resolver: no batched server
    ///   declares one, in its text or what it includes, before or after its edit
    ///   (`may_declare`), else the batch is not used;
    /// - what the copy refuses to load: the batch is used only when neither of its copies has
    ///   a fatal diagnostic or a start error, and every rule of the loader asks of one block
    ///   and its context (the variables aside, above): a fix refused alone for not loading
    ///   would make the batch's edited copy refuse too.
    ///
    /// Its answers on the batch's copies are then its answers alone, and so is the verdict.
    pub fn prove_batch(&self, members: &[Member<'_>]) -> Vec<Option<String>> {
        let mut out: Vec<Option<String>> = vec![None; members.len()];
        let site = self.site;
        let cfg = site.config();
        let places = site.server_places();
        // The server of each member batched (the first of two on one server: the other alone).
        let mut server_of: Vec<Option<usize>> = Vec::with_capacity(members.len());
        let mut taken: HashSet<usize> = HashSet::new();
        for (edits, _) in members {
            let s = self.batch_server(edits).filter(|&i| taken.insert(i));
            server_of.push(s);
        }
        if taken.len() < 2 || self.reload_whole {
            return out;
        }
        let mut servers: Vec<usize> = taken.into_iter().collect();
        servers.sort_unstable();
        let edits: Vec<BlockEdit> = members
            .iter()
            .zip(&server_of)
            .filter(|(_, s)| s.is_some())
            .flat_map(|((e, _), _)| e.iter().cloned())
            .collect();
        let scope = Scope {
            files: Some(
                servers
                    .iter()
                    .map(|&i| cfg.directive(places.all[i]).file_id())
                    .collect(),
            ),
            servers: Some(servers.clone()),
            edited: Vec::new(),
        };
        // Both copies with no error at all: then none is new to any one fix (see above).
        let loads = |edits: &[BlockEdit]| -> Option<Config> {
            let c = load_copy(site, self.load(&scope, edits), None).ok()?;
            let clean = !c.diagnostics.iter().any(|d| d.fatal) && start_errors(&c).is_empty();
            clean.then_some(c)
        };
        let Some(old_cfg) = loads(&[]) else {
            return out;
        };
        let Some(copy) = loads(&edits) else {
            return out;
        };
        let old_servers: Vec<NodeId> = old_cfg.servers().iter().map(|d| d.id()).collect();
        let new_servers: Vec<NodeId> = copy.servers().iter().map(|d| d.id()).collect();
        if old_servers.len() != servers.len() || new_servers.len() != servers.len() {
            return out;
        }
        if old_servers
            .iter()
            .any(|&s| may_declare(old_cfg.directive(s)))
            || new_servers.iter().any(|&s| may_declare(copy.directive(s)))
        {
            return out;
        }
        let (old_model, model) = (self.model_of(&old_cfg), self.model_of(&copy));
        let walks = self
            .walks
            .get_or_init(|| crate::fs::walk::WalkCache::keeping_walks(&site.root));
        let inputs = |config, model, servers| crate::nginx::resolve::Inputs {
            config,
            model,
            root: &site.root,
            worker: site.worker(),
            servers,
            whole: None,
        };
        let old = Resolver::with_walks(inputs(&old_cfg, &old_model, &old_servers), walks);
        let new = Resolver::with_walks(inputs(&copy, &model, &new_servers), walks);
        for (((edits, goals), server), slot) in members.iter().zip(&server_of).zip(&mut out) {
            let Some(k) = server.and_then(|i| servers.binary_search(&i).ok()) else {
                continue;
            };
            *slot = self.batch_member(edits, goals, k, (&old, &old_servers), (&new, &new_servers));
        }
        out
    }

    /// One fix of `prove_batch`, on the batch's copies, its server at `k` of both: what
    /// `prove` says of it alone when it passes, None when it is to be proven alone (it fails,
    /// or a URL it compares reaches another server).
    fn batch_member(
        &self,
        edits: &[BlockEdit],
        goals: &[Goal],
        k: usize,
        (old, old_servers): (&Resolver<'_>, &[NodeId]),
        (new, new_servers): (&Resolver<'_>, &[NodeId]),
    ) -> Option<String> {
        let cfg = self.site.config();
        let (s, new_s) = (old_servers[k], new_servers[k]);
        // The answer's server: S (as `k`) or none; another server leaves the batch's reach.
        let on_s = |res: &Resolution, me: NodeId| match res.server {
            None => Some(None),
            Some(x) if x == me => Some(Some(k)),
            Some(_) => None,
        };
        // As `prove`: the locations the fix is about (without goals, the edited ones; with
        // goals, those that answer them) and the heads it rewrites.
        type Key = (String, String);
        let mut about: Vec<(usize, Option<Key>)> = Vec::new();
        let mut renamed: Vec<(usize, Key, Key)> = Vec::new();
        for e in edits {
            let d = cfg.directive(e.block);
            let (m, p) = location_key(&d);
            about.push((k, Some((m, p))));
            if let Some(h) = &e.head {
                let w: Vec<&str> = h.split_whitespace().skip(1).collect();
                let (m, p) = match w.as_slice() {
                    [p] => (String::new(), p.to_string()),
                    [m, p, ..] => (m.to_string(), p.to_string()),
                    [] => (String::new(), String::new()),
                };
                renamed.push((k, location_key(&d), (m.clone(), p.clone())));
                about.push((k, Some((m, p))));
            }
        }
        if !goals.is_empty() {
            about.clear();
        }
        let mut summaries: Vec<String> = Vec::new();
        for goal in goals {
            let req = Request::for_path(&goal.host, goal.port, &goal.uri);
            let (before, after) = (old.predict(&req), new.predict(&req));
            on_s(&before, s)?;
            on_s(&after, new_s)?;
            let got = Answer::of(new, &after);
            if unmet(goal, &after, &got).is_some() {
                return None;
            }
            if before.server.is_some() {
                about.push((k, Answer::of(old, &before).location));
                about.push((k, got.location.clone()));
            }
            summaries.push(format!(
                "{} answers {} with the edit",
                goal.uri,
                got.short()
            ));
        }
        let host = first_name(old, s);
        let port = old.server_ports(s).into_iter().next().unwrap_or(80);
        // Alone, S is the only server: chosen for its own host whenever it listens there.
        if old.select_server(host, port) != Some(s) {
            return None;
        }
        let is_about = |si: usize, loc: &Option<Key>| {
            about
                .iter()
                .any(|(x, l)| *x == si && (l.is_none() || l == loc))
        };
        let mut checked = 0;
        for uri in samples(self.site, old, s) {
            let req = Request::for_path(host, port, &uri);
            let ra = old.predict(&req);
            let sa = on_s(&ra, s)?.unwrap_or(k);
            let mut a = Answer::of(old, &ra);
            if is_about(sa, &a.location) {
                continue;
            }
            let rb = new.predict(&req);
            let sb = on_s(&rb, new_s)?.unwrap_or(k);
            let b = Answer::of(new, &rb);
            if sa == sb && is_about(sb, &b.location) {
                continue;
            }
            checked += 1;
            if let Some((.., to)) = renamed
                .iter()
                .find(|(x, from, _)| *x == sa && a.location.as_ref() == Some(from))
            {
                a.location = Some(to.clone());
            }
            if (sa, &a) != (sb, &b) {
                return None;
            }
        }
        let summary = if summaries.is_empty() {
            "the edit loads".to_string()
        } else {
            summaries.join("; ")
        };
        Some(format!("{summary}; {checked} other URLs keep their answer"))
    }
}

/// Whether `server` (with what it includes) may declare a variable: a `set`, a regex that
/// may name a group, a `map`, `geo` or `split_clients`, a directive named or led by `$name`
/// (what `nginx::variables` reads declarations from, `declared_by` included). Over-counted: a
/// server said to declare one is only proven alone (`prove_batch`).
fn may_declare(server: Directive<'_>) -> bool {
    server.descendants().any(|(_, d)| {
        let name = d.name();
        name == "set"
            || name.starts_with('$')
            || matches!(name, "map" | "split_clients" | "geo")
            || d.arg(0).is_some_and(|a| a.starts_with('$'))
            || (crate::nginx::variables::registers_captures(name)
                && std::iter::once(name)
                    .chain(d.args())
                    .any(|a| a.contains("(?")))
    })
}

/// Why the edited copy's answer `after` (`got`) to `goal`'s URL is not the one meant, if not.
fn unmet(goal: &Goal, after: &Resolution, got: &Answer) -> Option<Refusal> {
    if let Some(want) = goal.status {
        if after.predicted_status != Some(want) {
            return Some(Refusal::Unmet(format!(
                "{} would answer {} instead of {want}",
                goal.uri,
                got.short()
            )));
        }
    }
    if let Some(want) = &goal.path {
        if !same_file(after.served_path(), want) {
            return Some(Refusal::Unmet(format!(
                "{} would open {} instead of {}",
                goal.uri,
                after
                    .served_path()
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|| "no file".into()),
                want.display()
            )));
        }
    }
    if let Some(want) = &goal.location {
        // `/static` and `/static/` (a fix may add the slash) name the same place.
        let same = |p: &String| p.trim_end_matches('/') == want.trim_end_matches('/');
        if !got.location.as_ref().is_some_and(|(_, p)| same(p)) {
            return Some(Refusal::Unmet(format!(
                "{} would still not be answered by location {want}",
                goal.uri
            )));
        }
    }
    None
}

fn same_file(got: Option<&Path>, want: &Path) -> bool {
    let norm = |p: &Path| {
        let s = p.display().to_string();
        let mut out = String::with_capacity(s.len());
        for c in s.chars() {
            if !(c == '/' && out.ends_with('/')) {
                out.push(c);
            }
        }
        out
    };
    got.is_some_and(|g| norm(g) == norm(want))
}

fn first_name<'s>(r: &Resolver<'s>, server: NodeId) -> &'s str {
    r.target(server).host
}

/// A made-up name and a real file per location of `server` (prefix and exact locations; a
/// regex location is sampled by the real files of the others).
fn samples(site: &Site, r: &Resolver<'_>, server: NodeId) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut push = |u: String| {
        if !out.contains(&u) {
            out.push(u);
        }
    };
    push("/".into());
    for loc in r.locations_of(server) {
        let Some((m, p)) = r.location_pattern(loc) else {
            continue;
        };
        if m.is_regex() || !p.starts_with('/') {
            continue;
        }
        if m == crate::nginx::resolve::Modifier::Exact {
            push(p.clone());
            continue;
        }
        let base = if p.ends_with('/') {
            p.clone()
        } else {
            format!("{p}/")
        };
        push(format!("{base}md-sample.txt"));
        if let Some(dir) = r.path_in(server, loc, &base) {
            if let Some(f) = first_file(site, &dir) {
                push(format!("{base}{f}"));
            }
        }
    }
    out
}

/// The first regular file (by name) in `dir` or one level below: a real URL to compare.
fn first_file(site: &Site, dir: &Path) -> Option<String> {
    let list = |d: &Path| -> Vec<(String, bool)> {
        let mut v: Vec<(String, bool)> = std::fs::read_dir(site.root.host_path(d))
            .map(|rd| {
                rd.flatten()
                    .filter_map(|e| {
                        let t = e.file_type().ok()?;
                        let n = e.file_name().to_str()?.to_string();
                        let plain = !n.starts_with('.') && !n.contains(['?', '#', '%', ' ']);
                        (plain && (t.is_file() || t.is_dir())).then_some((n, t.is_dir()))
                    })
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    };
    let top = list(dir);
    if let Some((f, _)) = top.iter().find(|(_, d)| !d) {
        return Some(f.clone());
    }
    for (sub, _) in top.iter().filter(|(_, d)| *d).take(8) {
        if let Some((f, _)) = list(&dir.join(sub)).into_iter().find(|(_, d)| !d) {
            return Some(format!("{sub}/{f}"));
        }
    }
    None
}

/// A site of many servers in one file, for the batch proofs' tests (here and in
/// `checks::fixes`): server `sN.test` (N < `n`) with `location /media/` (an alias to
/// /srv/sN/media/, which holds a.jpg) and `location /` (root /srv/sN/www, with index.html);
/// the servers of `dup` are named `dup.test` instead; server 9 includes a snippet that sets
/// `$mine9`.
#[cfg(test)]
pub(crate) mod batch_fixture {
    use crate::nginx::{Config, NodeId};
    use crate::site::Site;

    pub fn site(n: usize, dup: &[usize]) -> (tempfile::TempDir, Site) {
        let tmp = tempfile::tempdir().unwrap();
        let w = |p: &str, text: &str| {
            let p = tmp.path().join(p);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        };
        w(
            "etc/passwd",
            "root:x:0:0::/root:/bin/sh\nwww-data:x:33:33::/var/www:/bin/sh\n",
        );
        w("etc/group", "root:x:0:\nwww-data:x:33:\n");
        w("etc/nginx/snippets/mine.conf", "set $mine9 1;\n");
        let mut conf = String::from("user www-data;\nevents {}\nhttp {\n");
        for i in 0..n {
            let name = if dup.contains(&i) {
                "dup.test".to_string()
            } else {
                format!("s{i}.test")
            };
            // Server 9 declares a variable in what it includes.
            let snippet = if i == 9 {
                "        include /etc/nginx/snippets/mine.conf;\n"
            } else {
                ""
            };
            conf.push_str(&format!(
                "    server {{\n        listen 80;\n        server_name {name};\n{snippet}        location /media/ {{\n            alias /srv/s{i}/media/;\n        }}\n        location / {{\n            root /srv/s{i}/www;\n        }}\n    }}\n"
            ));
            w(&format!("srv/s{i}/media/a.jpg"), "x");
            w(&format!("srv/s{i}/www/index.html"), "x");
        }
        conf.push_str("}\n");
        w("etc/nginx/nginx.conf", &conf);
        let args = crate::site::Options {
            root: Some(tmp.path().to_path_buf()),
            ..Default::default()
        };
        let site = Site::gather(&args, true).unwrap();
        (tmp, site)
    }

    /// The `location /media/` of server N.
    pub fn media(cfg: &Config, n: usize) -> NodeId {
        let alias = format!("/srv/s{n}/media/");
        cfg.depth_first()
            .map(|(_, d)| d)
            .find(|d| {
                d.is("location")
                    && d.children()
                        .any(|c| c.is("alias") && c.args().any(|a| a == alias))
            })
            .unwrap()
            .id()
    }

    /// The `location /` of server N.
    pub fn home(cfg: &Config, n: usize) -> NodeId {
        let root = format!("/srv/s{n}/www");
        cfg.depth_first()
            .map(|(_, d)| d)
            .find(|d| {
                d.is("location")
                    && d.children()
                        .any(|c| c.is("root") && c.args().any(|a| a == root))
            })
            .unwrap()
            .id()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fix::edit::BlockEdit;

    /// A filesystem root with the users nginx's worker needs.
    fn root_with_www_data() -> tempfile::TempDir {
        let tmp = tempfile::tempdir().unwrap();
        write(
            &tmp,
            "etc/passwd",
            "root:x:0:0::/root:/bin/sh\nwww-data:x:33:33::/var/www:/bin/sh\n",
        );
        write(&tmp, "etc/group", "root:x:0:\nwww-data:x:33:\n");
        tmp
    }

    fn write(root: &tempfile::TempDir, p: &str, text: &str) {
        let p = root.path().join(p);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    /// Two sites on one nginx: the shop (alias without its slash) and the blog.
    fn two_sites() -> (tempfile::TempDir, Site) {
        let tmp = root_with_www_data();
        let w = |p: &str, text: &str| write(&tmp, p, text);
        w(
            "etc/nginx/nginx.conf",
            "user www-data;\nevents {}\nhttp {\n    include /etc/nginx/sites-enabled/*;\n}\n",
        );
        w(
            "etc/nginx/sites-enabled/shop",
            "server {\n    listen 80;\n    server_name shop.example.com;\n    location / { proxy_pass http://unix:/run/shop.sock; }\n    location /media/ {\n        alias /srv/shop/media;\n    }\n    location /static/ { alias /srv/shop/static/; }\n}\n",
        );
        w(
            "etc/nginx/sites-enabled/blog",
            "server {\n    listen 80;\n    server_name blog.example.com;\n    root /home/deploy/blog;\n    location /static/ { }\n}\n",
        );
        w("srv/shop/media/a.jpg", "x");
        w("srv/shop/static/s.css", "x");
        w("home/deploy/blog/static/b.css", "x");
        let args = crate::site::Options {
            root: Some(tmp.path().to_path_buf()),
            site: Some("shop".into()),
            ..Default::default()
        };
        let site = Site::gather(&args, true).unwrap();
        (tmp, site)
    }

    /// The directive of the shop's file.
    fn node(cfg: &Config, name: &str, arg: &str) -> NodeId {
        cfg.depth_first()
            .map(|(_, d)| d)
            .find(|d| d.is(name) && d.args().any(|a| a == arg) && d.file().ends_with("shop"))
            .unwrap()
            .id()
    }

    fn goal() -> Goal {
        Goal {
            host: "shop.example.com".into(),
            port: 80,
            uri: "/media/a.jpg".into(),
            status: Some(200),
            path: Some(PathBuf::from("/srv/shop/media/a.jpg")),
            location: Some("/media/".into()),
        }
    }

    /// Many servers in one file (the main one): a fix inside one server is proven on that
    /// server and the ones that contest its name, put back into the file's skeleton, not on the
    /// whole file; and a server of the same name earlier in the file, which takes its requests,
    /// makes the proof fail as it would on the real nginx.
    #[test]
    fn in_one_big_file_only_the_contested_servers_are_loaded() {
        let tmp = root_with_www_data();
        let w = |p: &str, text: &str| write(&tmp, p, text);
        w("srv/s7/media/a.jpg", "x");
        let server = |i: usize, name: &str| {
            format!("  server {{ listen 80; server_name {name}; location /media/ {{ alias /srv/s{i}/media; }} }}\n")
        };
        let build = |first_is_s7: bool| {
            let mut conf =
                String::from("user www-data;\nevents {}\nhttp {\n  map $uri $x { default 1; }\n");
            for i in 0..40 {
                // With `first_is_s7`, server 3 also claims s7.test, before server 7 does.
                let name = if first_is_s7 && i == 3 {
                    "s7.test".to_string()
                } else {
                    format!("s{i}.test")
                };
                conf.push_str(&server(i, &name));
            }
            conf.push_str("}\n");
            w("etc/nginx/nginx.conf", &conf);
            let args = crate::site::Options {
                root: Some(tmp.path().to_path_buf()),
                ..Default::default()
            };
            Site::gather(&args, true).unwrap()
        };
        let goal = Goal {
            host: "s7.test".into(),
            port: 80,
            uri: "/media/a.jpg".into(),
            status: Some(200),
            path: Some(PathBuf::from("/srv/s7/media/a.jpg")),
            location: Some("/media/".into()),
        };
        let fix = |site: &Site| {
            let cfg = site.config();
            let alias = cfg
                .depth_first()
                .map(|(_, d)| d)
                .find(|d| d.is("alias") && d.args().any(|a| a == "/srv/s7/media"))
                .unwrap();
            let loc = cfg
                .depth_first()
                .map(|(_, d)| d)
                .find(|d| d.is("location") && d.children().any(|c| c.id() == alias.id()))
                .unwrap()
                .id();
            BlockEdit::new(loc).replace(alias.id(), "alias /srv/s7/media/;")
        };
        let site = build(false);
        let edit = fix(&site);
        let prover = Prover::new(&site);
        let scope = prover.narrow(Scope::of(&site, std::slice::from_ref(&edit)));
        assert_eq!(scope.servers, Some(vec![7]));
        let dump = prover.dump(&scope, std::slice::from_ref(&edit));
        assert_eq!(dump.matches("server {").count(), 1, "{dump}");
        assert!(dump.contains("map $uri $x"), "{dump}");
        prover
            .prove(std::slice::from_ref(&edit), std::slice::from_ref(&goal))
            .expect("proven");

        let site = build(true);
        let edit = fix(&site);
        let prover = Prover::new(&site);
        let scope = prover.narrow(Scope::of(&site, std::slice::from_ref(&edit)));
        assert_eq!(scope.servers, Some(vec![3, 7]));
        assert!(matches!(
            prover.prove(std::slice::from_ref(&edit), std::slice::from_ref(&goal)),
            Err(Refusal::Unmet(_))
        ));
        // An edit of the first of the two that adds lines: the second one's move, in the
        // spliced copy as in the loaded one; the proof is the reference prover's.
        let cfg = site.config();
        let alias = cfg
            .depth_first()
            .map(|(_, d)| d)
            .find(|d| d.is("alias") && d.args().any(|a| a == "/srv/s3/media"))
            .unwrap();
        let loc = cfg
            .depth_first()
            .map(|(_, d)| d)
            .find(|d| d.is("location") && d.children().any(|c| c.id() == alias.id()))
            .unwrap()
            .id();
        let grow = BlockEdit::new(loc)
            .replace(alias.id(), "alias /srv/s7/media/;")
            .append("add_header X-A a;\nadd_header X-B b;");
        let edits = std::slice::from_ref(&grow);
        let was = prover.overlaid.load(std::sync::atomic::Ordering::Relaxed);
        let got = prover.prove(edits, std::slice::from_ref(&goal));
        assert!(got.is_ok(), "{got:?}");
        assert_eq!(
            got,
            Prover::reloading_whole(&site).prove(edits, std::slice::from_ref(&goal))
        );
        assert_eq!(
            prover.overlaid.load(std::sync::atomic::Ordering::Relaxed),
            was + 1
        );
        prover.assert_spliced_as_loaded(edits);
    }

    /// A prover that parses the sections every copy shares once (and asks the unedited copy
    /// each URL once) proves exactly as one that loads each copy from its whole text: the same
    /// proof, or the same refusal, for fixes that pass, fail to load, miss their goal and
    /// change another URL, one after the other on one prover as a report's fixes are.
    #[test]
    fn parsed_once_proves_as_reloaded_whole() {
        let (_tmp, site) = two_sites();
        let cfg = site.config();
        let media = node(cfg, "location", "/media/");
        let alias = node(cfg, "alias", "/srv/shop/media");
        let shop = node(cfg, "server_name", "shop.example.com");
        let server = cfg
            .servers()
            .into_iter()
            .find(|s| s.children().any(|c| c.id() == shop))
            .unwrap()
            .id();
        let fixes: Vec<(Vec<BlockEdit>, Vec<Goal>)> = vec![
            (
                vec![BlockEdit::new(media).replace(alias, "alias /srv/shop/media/;")],
                vec![goal()],
            ),
            (
                vec![BlockEdit::new(media).replace(alias, "alias /srv/media/;")],
                vec![goal()],
            ),
            (
                vec![BlockEdit::new(server)
                    .append("location ^~ /media/ { alias /srv/shop/media/; }")],
                vec![goal()],
            ),
            (
                vec![BlockEdit::new(server).replace(shop, "server_name;")],
                vec![],
            ),
            (
                vec![
                    BlockEdit::new(media).replace(alias, "alias /srv/shop/media/;"),
                    BlockEdit::new(node(cfg, "location", "/static/")).replace(
                        node(cfg, "alias", "/srv/shop/static/"),
                        "alias /srv/shop/media/;",
                    ),
                ],
                vec![goal()],
            ),
            (
                vec![BlockEdit::new(media).head("location ^~ /media/")],
                vec![],
            ),
            (
                vec![BlockEdit::new(server).replace(shop, "server_name blog.example.com;")],
                vec![],
            ),
        ];
        // Inside the shop's server, spliced over the unedited copy (`Prover::overlay`): what
        // nginx -t refuses there (a directive out of place, given twice, an unknown variable).
        let spliced_fixes: Vec<(Vec<BlockEdit>, Vec<Goal>)> = vec![
            (vec![BlockEdit::new(media).append("listen 8080;")], vec![]),
            (
                vec![BlockEdit::new(media).replace(alias, "alias /srv/a/; alias /srv/b/;")],
                vec![],
            ),
            (
                vec![BlockEdit::new(media).append("add_header X-A $nosuchvar always;")],
                vec![],
            ),
            (
                vec![BlockEdit::new(media)
                    .replace(alias, "alias /srv/shop/media/;")
                    .append("add_header X-Content-Type-Options nosniff always;")],
                vec![goal()],
            ),
        ];
        // Loaded instead: a text that does not parse alone, a new variable declared.
        let loaded_fixes: Vec<(Vec<BlockEdit>, Vec<Goal>)> = vec![
            (
                vec![BlockEdit::new(media).replace(alias, "alias /srv/shop/media/")],
                vec![goal()],
            ),
            (
                vec![BlockEdit::new(media)
                    .replace(alias, "alias /srv/shop/media/;")
                    .append("set $fresh 1;")],
                vec![goal()],
            ),
        ];
        let (once, whole) = (Prover::new(&site), Prover::reloading_whole(&site));
        let (mut kinds, mut spliced_kinds) = (HashSet::new(), HashSet::new());
        let (mut spliced, mut loaded) = (0, 0);
        for (edits, goals) in fixes.iter().chain(&spliced_fixes).chain(&loaded_fixes) {
            let was = once.overlaid.load(std::sync::atomic::Ordering::Relaxed);
            let got = once.prove(edits, goals);
            assert_eq!(got, whole.prove(edits, goals), "{edits:?}");
            assert_eq!(got, prove(&site, edits, goals), "{edits:?}");
            let kind = match got {
                Ok(_) => 0,
                Err(Refusal::DoesNotLoad(_)) => 1,
                Err(Refusal::Unmet(_)) => 2,
                Err(Refusal::SideEffect(_)) => 3,
            };
            kinds.insert(kind);
            if once.overlaid.load(std::sync::atomic::Ordering::Relaxed) > was {
                spliced_kinds.insert(kind);
                spliced += 1;
                // The spliced copy is the copy the loader makes, node for node.
                once.assert_spliced_as_loaded(edits);
            } else {
                loaded += 1;
            }
        }
        assert_eq!(kinds.len(), 4, "every outcome is compared");
        assert_eq!(
            spliced_kinds.len(),
            4,
            "every outcome of a spliced copy is compared"
        );
        // Spliced: the fixes inside locations and the location added to the server (7 of the
        // first 11); loaded: the server_name edits and the last two.
        assert_eq!((spliced, loaded), (9, 4));
        assert_eq!(whole.overlaid.load(std::sync::atomic::Ordering::Relaxed), 0);
        // The sections were parsed once, for every copy.
        assert!(once.first.lock().unwrap().is_some());
    }

    /// One location's text spliced (`splice_location`) is the copy the loader makes, node for
    /// node, and proves as the copy loaded whole: a head rewritten, a nested location, a
    /// location with an include, lines gained and lost before other blocks of the file, a
    /// refusal inside the location; a head that declares a variable (a named capture) is not
    /// spliced by location.
    #[test]
    fn one_location_spliced_proves_as_reloaded_whole() {
        let tmp = root_with_www_data();
        let w = |p: &str, text: &str| write(&tmp, p, text);
        w(
            "etc/nginx/nginx.conf",
            "user www-data;\nevents {}\nhttp {\n    include /etc/nginx/sites-enabled/*;\n}\n",
        );
        w("etc/nginx/snippets/cache.conf", "expires 7d;\n");
        w(
            "etc/nginx/sites-enabled/shop",
            "upstream app { server 127.0.0.1:8000; }\nserver {\n    listen 80;\n    server_name shop.example.com;\n    location / { proxy_pass http://app; }\n    location /media/ {\n        alias /srv/shop/media;\n        include /etc/nginx/snippets/cache.conf;\n        location ~* \\.(php|sh)$ { deny all; }\n    }\n    location ~* \\.(jpg|png)$ { expires 1d; }\n    location /static/ { alias /srv/shop/static/; }\n}\nserver {\n    listen 80;\n    server_name www.shop.example.com;\n    return 301 http://shop.example.com$request_uri;\n}\n",
        );
        w("srv/shop/media/a.jpg", "x");
        w("srv/shop/media/b.txt", "x");
        w("srv/shop/static/s.css", "x");
        let args = crate::site::Options {
            root: Some(tmp.path().to_path_buf()),
            site: Some("shop".into()),
            ..Default::default()
        };
        let site = Site::gather(&args, true).unwrap();
        let cfg = site.config();
        let media = node(cfg, "location", "/media/");
        let alias = node(cfg, "alias", "/srv/shop/media");
        let inner = node(cfg, "location", "\\.(php|sh)$");
        let deny = node(cfg, "deny", "all");
        let stat = node(cfg, "location", "/static/");
        let goal = || Goal {
            uri: "/media/a.jpg".into(),
            ..goal()
        };
        let by_location: Vec<(BlockEdit, Vec<Goal>)> = vec![
            (
                BlockEdit::new(media).head("location ^~ /media/"),
                vec![goal()],
            ),
            (
                BlockEdit::new(media)
                    .head("location ^~ /media/")
                    .replace(alias, "alias /srv/shop/media/;")
                    .append("add_header X-Content-Type-Options nosniff always;"),
                vec![goal()],
            ),
            (
                BlockEdit::new(media)
                    .replace(alias, "alias /srv/shop/media/;")
                    .append("add_header X-A a;\nadd_header X-B b;\nadd_header X-C c;"),
                vec![],
            ),
            (BlockEdit::new(inner).replace(deny, "return 404;"), vec![]),
            (BlockEdit::new(stat).append("autoindex on;"), vec![]),
            (BlockEdit::new(stat).append("listen 8080;"), vec![]),
            (
                BlockEdit::new(media).replace(alias, "alias /srv/a/; alias /srv/b/;"),
                vec![],
            ),
            (BlockEdit::new(stat).head("location = /static/"), vec![]),
        ];
        let not_by_location: Vec<(BlockEdit, Vec<Goal>)> = vec![(
            BlockEdit::new(stat).head("location ~ ^/static/(?<rest>.*)$"),
            vec![],
        )];
        let (once, whole) = (Prover::new(&site), Prover::reloading_whole(&site));
        let mut kinds = HashSet::new();
        for (i, (edit, goals)) in by_location.iter().chain(&not_by_location).enumerate() {
            let edits = std::slice::from_ref(edit);
            let was = once.by_location.load(std::sync::atomic::Ordering::Relaxed);
            let got = once.prove(edits, goals);
            assert_eq!(got, whole.prove(edits, goals), "{edits:?}");
            kinds.insert(got.is_ok());
            let now = once.by_location.load(std::sync::atomic::Ordering::Relaxed);
            assert_eq!(now, was + usize::from(i < by_location.len()), "{edits:?}");
            once.assert_spliced_as_loaded(edits);
        }
        assert_eq!(kinds.len(), 2, "both proofs and refusals are compared");
    }

    impl Prover<'_> {
        /// Asserts that the copy `overlay` splices for `edits` is the one the loader makes of
        /// the edited dump: every directive, its file, line and column, in reading order.
        fn assert_spliced_as_loaded(&self, edits: &[BlockEdit]) {
            let scope = self.narrow(Scope::with(self.site, edits));
            let c = load_copy(self.site, self.load(&scope, &[]), None).unwrap();
            let m = self.model_of(&c);
            let was = start_errors(&c);
            let before: Before = (
                Arc::new(c),
                Arc::new(m),
                Arc::new(was),
                Arc::default(),
                Arc::default(),
            );
            let loaded = self.loaded(&scope).unwrap();
            let servers: Vec<NodeId> = before.0.servers().iter().map(|d| d.id()).collect();
            let at = |i: usize| Some(servers[loaded.binary_search(&i).ok()?]);
            let Some(Ok((spliced, _))) = self.overlay(&scope, edits, &before, at) else {
                // Refused inside the block: nothing to compare.
                return;
            };
            let reloaded = load_copy(self.site, self.load(&scope, edits), None).unwrap();
            let read = |c: &Config| -> Vec<String> {
                c.depth_first()
                    .map(|(depth, d)| {
                        format!(
                            "{depth} {}:{}:{} {:?}",
                            d.file().display(),
                            d.line(),
                            d.column(),
                            std::iter::once(d.name())
                                .chain(d.args())
                                .collect::<Vec<_>>()
                        )
                    })
                    .collect()
            };
            assert_eq!(read(&spliced), read(&reloaded), "{edits:?}");
            assert_eq!(start_errors(&spliced), start_errors(&reloaded));
        }
    }

    #[test]
    fn a_right_fix_is_proven() {
        let (_tmp, site) = two_sites();
        let cfg = site.config();
        let fix = BlockEdit::new(node(cfg, "location", "/media/")).replace(
            node(cfg, "alias", "/srv/shop/media"),
            "alias /srv/shop/media/;",
        );
        let proof = prove(&site, &[fix], std::slice::from_ref(&goal())).expect("proven");
        assert!(proof.contains("/media/a.jpg answers 200"), "{proof}");
    }

    #[test]
    fn a_fix_that_does_not_load_or_does_not_fix_is_refused() {
        let (_tmp, site) = two_sites();
        let cfg = site.config();
        let shop = node(cfg, "server_name", "shop.example.com");
        let server = cfg
            .servers()
            .into_iter()
            .find(|s| s.children().any(|c| c.id() == shop))
            .unwrap()
            .id();
        // A second `location /media/` beside the first: nginx -t says duplicate location.
        let dup = BlockEdit::new(server).append("location ^~ /media/ { alias /srv/shop/media/; }");
        assert_eq!(
            prove(&site, &[dup], std::slice::from_ref(&goal())),
            Err(Refusal::DoesNotLoad(
                "duplicate location \"/media/\"".into()
            ))
        );
        // An empty server_name.
        let empty = BlockEdit::new(server).replace(shop, "server_name;");
        assert!(matches!(
            prove(&site, &[empty], std::slice::from_ref(&goal())),
            Err(Refusal::DoesNotLoad(m)) if m.contains("server_name")
        ));
        // Loads, but the file is still not found.
        let wrong = BlockEdit::new(node(cfg, "location", "/media/"))
            .replace(node(cfg, "alias", "/srv/shop/media"), "alias /srv/media/;");
        assert!(matches!(
            prove(&site, &[wrong], std::slice::from_ref(&goal())),
            Err(Refusal::Unmet(_))
        ));
    }

    #[test]
    fn a_fix_is_proven_on_the_files_it_can_matter_to() {
        let (_tmp, site) = two_sites();
        let cfg = site.config();
        let file_of = |name: &str| {
            cfg.files
                .iter()
                .position(|f| f.path.ends_with(name))
                .unwrap() as FileId
        };
        // Inside a location: only the shop's file (the main file and snippets always load).
        let slash = BlockEdit::new(node(cfg, "location", "/media/")).replace(
            node(cfg, "alias", "/srv/shop/media"),
            "alias /srv/shop/media/;",
        );
        let scope = Scope::of(&site, std::slice::from_ref(&slash));
        assert_eq!(
            scope.files,
            Some(HashSet::from([file_of("sites-enabled/shop")]))
        );
        // A server_name edit in the blog (first by include order) that takes the shop's name:
        // the shop's file too (and the first server of port 80, the blog).
        let blog_name = cfg
            .depth_first()
            .map(|(_, d)| d)
            .find(|d| d.is("server_name") && d.args().any(|a| a == "blog.example.com"))
            .unwrap()
            .id();
        let blog = cfg
            .servers()
            .into_iter()
            .find(|s| s.children().any(|c| c.id() == blog_name))
            .unwrap()
            .id();
        let takes = BlockEdit::new(blog).replace(blog_name, "server_name shop.example.com;");
        let scope = Scope::of(&site, std::slice::from_ref(&takes));
        assert_eq!(
            scope.files,
            Some(HashSet::from([
                file_of("sites-enabled/shop"),
                file_of("sites-enabled/blog")
            ]))
        );
        // And the proof sees what it does to the shop: its requests now reach the blog.
        let got = prove(&site, &[takes], &[]);
        assert!(
            matches!(&got, Err(Refusal::SideEffect(m)) if m.contains("shop.example.com/")),
            "{got:?}"
        );
    }

    /// Answers that differ only where they come from say where: never "404 instead of 404".
    #[test]
    fn a_refusal_says_what_differs() {
        let a = Answer {
            status: Some(404),
            handler: "static".into(),
            path: None,
            location: Some((String::new(), "/media/".into())),
            redirect: None,
            upstream: None,
        };
        let b = Answer {
            location: Some(("~".into(), "\\.jpg$".into())),
            ..a.clone()
        };
        assert_eq!(
            b.contrast(&a),
            (
                "404 (static) in location ~ \\.jpg$".to_string(),
                "404 (static) in location /media/".to_string()
            )
        );
        let c = Answer {
            status: Some(301),
            handler: "redirect".into(),
            redirect: Some("http://x/".into()),
            ..a.clone()
        };
        let (now, was) = c.contrast(&a);
        assert_eq!(now, "301 (redirect), redirect to http://x/");
        assert_eq!(was, "404 (static), no redirect");
        assert_eq!(a.contrast(&a.clone()), (a.short(), a.short()));
    }

    #[test]
    fn a_fix_that_changes_another_url_is_refused() {
        let (_tmp, site) = two_sites();
        let cfg = site.config();
        // Right for /media/, but it also sends /static/ to the media directory.
        let fix = BlockEdit::new(node(cfg, "location", "/media/")).replace(
            node(cfg, "alias", "/srv/shop/media"),
            "alias /srv/shop/media/;",
        );
        let breaks = BlockEdit::new(node(cfg, "location", "/static/")).replace(
            node(cfg, "alias", "/srv/shop/static/"),
            "alias /srv/shop/media/;",
        );
        let got = prove(&site, &[fix, breaks], std::slice::from_ref(&goal()));
        assert!(
            matches!(&got, Err(Refusal::SideEffect(m)) if m.contains("shop.example.com/static/")),
            "{got:?}"
        );
    }
    /// Fixes proven in a batch are proven as each alone: a fix the batch proves is proven
    /// alone with the same words; one that misses its goal or changes another URL is left to
    /// be proven alone (and refused there); a server that shares its name is not batched; a
    /// batch whose edited copy does not load, or in which a server declares a variable (which
    /// another fix may use), proves none.
    #[test]
    fn a_batch_proves_what_each_fix_proves_alone() {
        use super::batch_fixture::{home, media, site};
        let (_tmp, site) = site(10, &[7, 8]);
        let cfg = site.config();
        let nosniff = |n: usize| {
            BlockEdit::new(media(cfg, n))
                .append("add_header X-Content-Type-Options nosniff always;")
        };
        let goal = |n: usize, status: u16| Goal {
            host: format!("s{n}.test"),
            port: 80,
            uri: "/media/a.jpg".into(),
            status: Some(status),
            path: None,
            location: None,
        };
        let prover = Prover::new(&site);
        let check = |fixes: &[(BlockEdit, Vec<Goal>)]| -> Vec<Option<String>> {
            let members: Vec<Member<'_>> = fixes
                .iter()
                .map(|(e, g)| (std::slice::from_ref(e), g.as_slice()))
                .collect();
            let got = prover.prove_batch(&members);
            for ((e, g), b) in fixes.iter().zip(&got) {
                let alone = Prover::new(&site).prove(std::slice::from_ref(e), g);
                if let Some(ok) = b {
                    assert_eq!(alone.as_ref(), Ok(ok), "{e:?}");
                }
            }
            got
        };
        let fixes = vec![
            (nosniff(0), vec![]),
            (nosniff(1), vec![goal(1, 200)]),
            // Misses its goal.
            (nosniff(2), vec![goal(2, 403)]),
            // Its goal met, but `/` (of `location /`, not the goal's) no longer finds its index.
            (
                BlockEdit::new(home(cfg, 3)).append("index none.html;"),
                vec![goal(3, 200)],
            ),
            (nosniff(4), vec![]),
            // Two servers named dup.test.
            (nosniff(7), vec![]),
            // A second fix of server 0: alone.
            (nosniff(0), vec![]),
        ];
        let got = check(&fixes);
        let batched: Vec<bool> = got.iter().map(Option::is_some).collect();
        assert_eq!(batched, [true, true, false, false, true, false, false]);
        assert!(matches!(
            prover.prove(std::slice::from_ref(&fixes[2].0), &fixes[2].1),
            Err(Refusal::Unmet(_))
        ));
        assert!(matches!(
            prover.prove(std::slice::from_ref(&fixes[3].0), &fixes[3].1),
            Err(Refusal::SideEffect(_))
        ));

        // A copy that does not load (two aliases), and a variable declared by one fix (or by
        // what a batched server includes) that another uses: nothing proven by the batch.
        for (bad, var) in [
            (
                BlockEdit::new(media(cfg, 5)).append("alias /srv/x/;"),
                "$mine",
            ),
            (
                BlockEdit::new(media(cfg, 5)).append("set $mine 1;"),
                "$mine",
            ),
            (nosniff(9), "$mine9"),
        ] {
            let uses = BlockEdit::new(media(cfg, 6)).append(format!("add_header X-Mine {var};"));
            let fixes = vec![(nosniff(0), vec![]), (bad, vec![]), (uses, vec![])];
            assert_eq!(check(&fixes), [None, None, None]);
            assert!(matches!(
                prover.prove(std::slice::from_ref(&fixes[2].0), &[]),
                Err(Refusal::DoesNotLoad(_))
            ));
        }
    }
}
