//! Loading a configuration: from files on disk (includes resolved as nginx does) or from an
//! `nginx -T` dump (includes re-expanded from the dump's sections), into one `Config`.
//!
//! Both paths share one `Loader`: parse the entry, infer what kind of file it is, then follow the
//! includes breadth-first, reading and parsing each file once however often it is included, and
//! linking every `include` node to the files it matched. Then include cycles are cut (and
//! reported), and the context rules are checked with each included file in its includer's context.
//!
//! Include resolution, as nginx's `ngx_conf_include`:
//! - a relative path is relative to `conf_dir`: the main config's directory (nginx's conf
//!   prefix), not the including file's;
//! - a path holding `*`, `?` or `[` is a glob: matches are taken in byte order, none is fine;
//! - otherwise the file must exist: a missing one is fatal (`nginx -t` fails), except in a
//!   fragment, where nginx would resolve it against a main config we do not have: there it is a
//!   warning and loading goes on.
//!
//! For a fragment (a site file or snippet checked on its own), relative includes resolve against
//! /etc/nginx under the root when that directory exists (where the fragment would live on a
//! Debian-like server, so `include snippets/x.conf` finds the real snippet), else against the
//! fragment's own directory (a repo's deploy/ folder that carries its snippets alongside).
//!
//! Everything is read under `--root` (`SysRoot`): paths are system paths, symlinks are followed
//! inside the root, and reports show system paths.

use super::ast::{Config, ConfigKind, Diagnostic, FileId, NewNode, Node, NodeId, SourceFile};
use super::context::{self, Ctx};
use super::parser::{self, IncludeArgs, ParsedFile, Placement, Scratch};
use crate::sysroot::SysRoot;
use std::collections::{HashMap, VecDeque};
use std::path::{Component, Path, PathBuf};

/// Move `from` onto the end of `to` through `f`, the last elements first, a step (1 MiB) at a
/// time, shrinking `from` after each step: a large `from` gives its pages back while `to`
/// fills, so the two are never both whole in memory.
fn append_freeing<T, U>(to: &mut Vec<U>, mut from: Vec<T>, f: impl Fn(T) -> U) {
    let n = from.len();
    let base = to.len();
    to.reserve_exact(n);
    let step = ((1 << 20) / std::mem::size_of::<T>().max(1)).max(1);
    let spare = &mut to.spare_capacity_mut()[..n];
    let mut end = n;
    while end > 0 {
        let start = end.saturating_sub(step);
        // `from` holds exactly `end` elements here: the drain yields `end - start`.
        for (slot, x) in spare[start..end].iter_mut().zip(from.drain(start..)) {
            slot.write(f(x));
        }
        from.shrink_to_fit();
        end = start;
    }
    // SAFETY: the loop wrote each of the `n` slots after `base`, from `end == n` down to 0,
    // and `reserve_exact` made room for them.
    unsafe { to.set_len(base + n) };
}

/// Why nothing could be loaded at all (the run cannot go on: exit 2). Problems inside a config
/// (syntax errors, a missing include) are `Diagnostic`s on the `Config` instead.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read {path}: {source}")]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a regular file")]
    NotAFile { path: PathBuf },
    #[error(
        "{name} is not an nginx -T dump: it has no \"# configuration file PATH:\" section header"
    )]
    NotADump { name: String },
}

/// Total text the arena may hold (offsets are u32); far above any real config.
const MAX_TOTAL_BYTES: usize = 1 << 31;

/// From how many new files a batch (a glob's matches, a dump's sections) is split between two
/// threads.
const PARALLEL_MIN: usize = 16;

/// From how many directives the context check and the rules run on two threads.
const PARALLEL_MIN_NODES: usize = 20_000;

/// From what size a dump's headers are searched for on two threads.
const PARALLEL_MIN_DUMP: usize = 1 << 20;

/// Non-UTF-8 lines reported per file before summarising.
const MAX_ENCODING_DIAGNOSTICS: usize = 5;

/// Load the config whose entry file is `entry` (a system path, read under `root`).
pub fn load_files(root: &SysRoot, entry: &Path) -> Result<Config, LoadError> {
    load_files_prepared(root, entry, |text| text)
}

/// `load_files` with the entry's text passed through `prepare` before it is parsed: the text
/// nginx reads when something renders the file first (the nginx image's envsubst of
/// /etc/nginx/templates/*.template). `prepare` must keep the lines where they are, so that
/// file:line still points into the file on disk.
pub fn load_files_prepared(
    root: &SysRoot,
    entry: &Path,
    prepare: impl FnOnce(Vec<u8>) -> Vec<u8>,
) -> Result<Config, LoadError> {
    let entry = lexical_normal(entry);
    let mut buf = Vec::new();
    read_regular(root, &entry, &mut buf).map_err(|e| match e {
        ReadError::Io(source) => LoadError::Unreadable {
            path: entry.clone(),
            source,
        },
        ReadError::NotAFile => LoadError::NotAFile {
            path: entry.clone(),
        },
    })?;
    let buf = prepare(buf);
    let mut l = Loader::new(Source::Disk(root.clone()));
    l.read_buf = buf;
    let main = l.add_file(entry.clone(), None);
    l.finish(main, &entry, |kind| match kind {
        ConfigKind::Main => parent(&entry),
        _ => {
            // A repository's fragment checked on this machine (no --root, the file outside
            // /etc/nginx) is judged alone: this machine's /etc/nginx is not where it will run
            // (a container has its image's, a server its own), so its includes resolve beside it.
            let etc = Path::new("/etc/nginx");
            let repo_run = root.is_live() && !entry.starts_with(etc);
            if root.is_dir(etc) && !repo_run {
                etc.to_path_buf()
            } else {
                parent(&entry)
            }
        }
    });
    Ok(l.cfg)
}

/// Load an `nginx -T` dump (`name` is shown in messages: the dump's path or `-`).
///
/// The dump is split at its `# configuration file PATH:` lines; each section runs to the next
/// header (nginx prints each file once, the includer before what it includes, and adds one
/// newline after each file). `include`s are then matched against the section paths, so the tree
/// is the same as loading the files themselves.
pub fn load_dump(_root: &SysRoot, dump: &[u8], name: &str) -> Result<Config, LoadError> {
    let sections = split_dump(dump);
    if sections.is_empty() {
        return Err(LoadError::NotADump {
            name: name.to_string(),
        });
    }
    let (mut paths, bodies, sorted) = unique_sections(sections);
    let rest = paths.split_off(1);
    let entry = paths.remove(0);
    let (entry_body, bodies) = (bodies[0], &bodies[1..]);
    // Two halves of about the same size, one per thread.
    let total: usize = bodies.iter().map(|b| b.len()).sum();
    let mut acc = 0;
    let split = bodies
        .iter()
        .position(|b| {
            acc += b.len();
            acc * 2 >= total
        })
        .map_or(bodies.len(), |i| i + 1);
    let theirs_bytes = bodies[split..].iter().map(|b| b.len()).sum();
    let mut l = Loader::new(Source::Dump(Vec::new()));
    l.arena().reserve(dump.len());
    l.add_file(entry.clone(), Some(entry_body));
    let fetch = |i: usize, _: &mut Vec<u8>| Ok(Some(bodies[i]));
    l.parse_batch(rest, split, &fetch, theirs_bytes);
    debug_assert_eq!(l.cfg.files.len(), sorted.len());
    l.source = Source::Dump(sorted);
    l.finish(0, &entry, |_| parent(&entry));
    Ok(l.cfg)
}

/// The first sections of a dump, parsed once and loaded again under different later sections
/// (`load_dump_after`): the fix prover's copies of one box all start with the same main file and
/// files without servers, and differ only in the edited site's files. What is kept is the
/// loader's state after parsing them, before any include is resolved, so loading it with more
/// sections gives the same configuration as loading the whole dump.
#[derive(Clone)]
pub struct ParsedSections {
    cfg: Config,
    text: String,
    include_args: IncludeArgs,
    includes: Vec<Vec<(NodeId, Option<u32>)>>,
    top_names: Vec<(String, bool)>,
    too_big_reported: bool,
}

impl ParsedSections {
    /// `dump`'s sections parsed (None: it has no section header).
    pub fn parse(dump: &[u8]) -> Option<ParsedSections> {
        let sections = split_dump(dump);
        if sections.is_empty() {
            return None;
        }
        let (paths, bodies, _) = unique_sections(sections);
        let mut l = Loader::new(Source::Dump(Vec::new()));
        l.arena().reserve(dump.len());
        for (p, b) in paths.into_iter().zip(bodies) {
            l.add_file(p, Some(b));
        }
        Some(ParsedSections {
            cfg: l.cfg,
            text: l.text,
            include_args: l.include_args,
            includes: l.includes,
            top_names: l.top_names,
            too_big_reported: l.too_big_reported,
        })
    }
}

/// `load_dump` of `first`'s dump followed by `rest` (more sections; one whose path `first`
/// already has is a repeat, and the first section wins, as in `load_dump`), without parsing
/// `first`'s sections again.
pub fn load_dump_after(first: &ParsedSections, rest: &[u8]) -> Config {
    let mut l = Loader::new(Source::Dump(Vec::new()));
    l.cfg = first.cfg.clone();
    l.text = first.text.clone();
    l.include_args = first.include_args.clone();
    l.includes = first.includes.clone();
    l.top_names = first.top_names.clone();
    l.too_big_reported = first.too_big_reported;
    l.queue = (0..l.cfg.files.len() as FileId).collect();
    let n_first = l.cfg.files.len();
    let mut sections = split_dump(rest);
    // A path `first` has is a repeated section: the first one wins.
    sections.retain(|(p, _)| !first.cfg.files.iter().any(|f| &f.path == p));
    let (paths, bodies, _) = unique_sections(sections);
    let bytes = bodies.iter().map(|b| b.len()).sum();
    l.arena().reserve(bytes);
    let fetch = |i: usize, _: &mut Vec<u8>| Ok(Some(bodies[i]));
    let count = paths.len();
    l.parse_batch(paths, count, &fetch, 0);
    debug_assert_eq!(l.cfg.files.len(), n_first + count);
    // Every file, sorted by path: what include globs are matched against.
    let files = &l.cfg.files;
    let mut sorted: Vec<FileId> = (0..files.len() as FileId).collect();
    sorted.sort_by(|&a, &b| {
        path_bytes(&files[a as usize].path).cmp(path_bytes(&files[b as usize].path))
    });
    l.source = Source::Dump(sorted);
    let entry = l.cfg.files[0].path.clone();
    l.finish(0, &entry, |_| parent(&entry));
    l.cfg
}

enum Source {
    /// Read included files from disk under this root.
    Disk(SysRoot),
    /// Every file is a section of the dump: their ids, sorted by path.
    Dump(Vec<FileId>),
}

/// What one `include` argument resolved to. The filesystem is taken as fixed during a load, so
/// the 10,000 servers that include the same snippet resolve it once.
#[derive(Default)]
struct Resolved {
    files: Vec<FileId>,
    /// Problems, reported at every include that names this argument: (message, fatal).
    problems: Vec<(String, bool)>,
}

struct Loader {
    cfg: Config,
    source: Source,
    /// Each system path (lexically normalised) read from disk to its file, so a file is read
    /// once. (A dump's files are found in `Source::Dump` instead.)
    /// Keyed by the path's bytes: `Path`'s own hash walks its components, a tenth of a load of
    /// 10,000 files.
    ids: crate::fnv::FnvMap<std::ffi::OsString, FileId>,
    /// Every include node of each file, in file order, with its argument's number.
    includes: Vec<Vec<(NodeId, Option<u32>)>>,
    /// Files parsed whose includes are not resolved yet.
    queue: VecDeque<FileId>,
    /// Every word's text (see `Config::text`), in file order: `Config::text` once loading ends.
    text: String,
    /// The include arguments met so far, numbered.
    include_args: IncludeArgs,
    scratch: Scratch,
    /// A reused buffer for reading files.
    read_buf: Vec<u8>,
    /// What each include argument (by number) resolved to, once resolved.
    resolutions: Vec<Option<Resolved>>,
    /// The entry file's top-level directive names.
    top_names: Vec<(String, bool)>,
    too_big_reported: bool,
}

enum ReadError {
    Io(std::io::Error),
    NotAFile,
}

/// The i-th file of a batch: bytes already in memory (a dump's section), or read into the
/// buffer (`None`). Shared by the two threads of `parse_batch`.
type Fetch<'a> = dyn Fn(usize, &mut Vec<u8>) -> Result<Option<&'a [u8]>, ReadError> + Sync + 'a;

/// Where files are parsed to: an arena (the loader's, or a second thread's `Partial`).
struct Arena<'a> {
    cfg: &'a mut Config,
    text: &'a mut String,
    include_args: &'a mut IncludeArgs,
    scratch: &'a mut Scratch,
    too_big_reported: &'a mut bool,
}

impl Arena<'_> {
    /// Make room for `bytes` of config at once: growing by doubling would copy each vector and
    /// fault its pages in again, several times over. The densities are above those of real
    /// configs (the bench config has a directive per 40 bytes and a word per 17); room reserved
    /// and not used is address space that is never touched, so it costs no memory.
    fn reserve(&mut self, bytes: usize) {
        self.text.reserve(bytes * 2 / 3);
        self.cfg.nodes.reserve(bytes / 32);
        self.cfg.children.reserve(bytes / 32);
        self.cfg.words.reserve(bytes / 12);
    }

    /// Decode and parse one file; registers it in `cfg.files` with the next id.
    fn parse(&mut self, path: PathBuf, bytes: &[u8], want_top_names: bool) -> ParsedFile {
        let id = self.cfg.files.len() as FileId;
        let mut parsed = ParsedFile::default();
        if self.text.len() + bytes.len() * 2 > MAX_TOTAL_BYTES {
            self.report_too_big(&path);
        } else {
            let lossy;
            let src = match std::str::from_utf8(bytes) {
                Ok(src) => src,
                Err(_) => {
                    let diags = encoding_diagnostics(&path, bytes);
                    self.cfg.diagnostics.extend(diags);
                    lossy = String::from_utf8_lossy(bytes);
                    &lossy
                }
            };
            let at = Placement {
                text: self.text,
                include_args: self.include_args,
                scratch: self.scratch,
                want_top_names,
            };
            parsed = parser::parse_file(self.cfg, id, &path, src, at);
        }
        self.add_empty(path, &parsed.top);
        parsed
    }

    /// Register a file whose top-level nodes are parsed (none when it was not examined).
    fn add_empty(&mut self, path: PathBuf, top: &[NodeId]) {
        let start = self.cfg.children.len() as u32;
        self.cfg.children.extend_from_slice(top);
        let top = start..self.cfg.children.len() as u32;
        self.cfg.files.push(SourceFile { path, top });
    }

    fn report_too_big(&mut self, path: &Path) {
        if std::mem::replace(self.too_big_reported, true) {
            return;
        }
        self.cfg.diagnostics.push(Diagnostic {
            file: path.to_path_buf(),
            line: 1,
            column: 1,
            message: format!(
                "the configuration is larger than {} MiB: this file and any later ones are not examined",
                MAX_TOTAL_BYTES >> 20
            ),
            fatal: true,
        });
    }
}

/// Files parsed by a second thread into their own arena, numbered from 0 (see `absorb`).
#[derive(Default)]
struct Partial {
    cfg: Config,
    text: String,
    include_args: IncludeArgs,
    scratch: Scratch,
    too_big_reported: bool,
    includes: Vec<Vec<(NodeId, Option<u32>)>>,
    outcomes: Vec<Option<ReadError>>,
}

impl Partial {
    /// Read (`fetch(first + i)`) and parse `paths` in order; `bytes`: their size when known.
    fn parse(paths: Vec<PathBuf>, first: usize, fetch: &Fetch<'_>, bytes: usize) -> Partial {
        let mut p = Partial::default();
        p.outcomes.reserve(paths.len());
        p.arena().reserve(bytes);
        let mut buf = Vec::new();
        for (i, path) in paths.into_iter().enumerate() {
            match fetch(first + i, &mut buf) {
                Ok(held) => {
                    let parsed = p.arena().parse(path, held.unwrap_or(&buf), false);
                    p.includes.push(parsed.includes);
                    p.outcomes.push(None);
                }
                Err(e) => p.outcomes.push(Some(e)),
            }
        }
        p
    }

    fn arena(&mut self) -> Arena<'_> {
        Arena {
            cfg: &mut self.cfg,
            text: &mut self.text,
            include_args: &mut self.include_args,
            scratch: &mut self.scratch,
            too_big_reported: &mut self.too_big_reported,
        }
    }
}

impl Loader {
    fn new(source: Source) -> Self {
        Loader {
            cfg: Config::default(),
            source,
            ids: Default::default(),
            includes: Vec::new(),
            queue: VecDeque::new(),
            text: String::new(),
            include_args: IncludeArgs::default(),
            scratch: Scratch::default(),
            read_buf: Vec::new(),
            resolutions: Vec::new(),
            top_names: Vec::new(),
            too_big_reported: false,
        }
    }

    fn arena(&mut self) -> Arena<'_> {
        Arena {
            cfg: &mut self.cfg,
            text: &mut self.text,
            include_args: &mut self.include_args,
            scratch: &mut self.scratch,
            too_big_reported: &mut self.too_big_reported,
        }
    }

    /// Register and parse one file: `body`, or else what was just read into `read_buf`.
    fn add_file(&mut self, path: PathBuf, body: Option<&[u8]>) -> FileId {
        let id = self.cfg.files.len() as FileId;
        if let Source::Disk(_) = self.source {
            self.ids.insert(path.clone().into_os_string(), id);
        }
        let read_buf = std::mem::take(&mut self.read_buf);
        let parsed = self.arena().parse(path, body.unwrap_or(&read_buf), id == 0);
        self.read_buf = read_buf;
        if id == 0 {
            self.top_names = parsed.top_names;
        }
        self.includes.push(parsed.includes);
        self.queue.push_back(id);
        id
    }

    /// The file already loaded for a path, if any.
    fn loaded(&self, path: &Path) -> Option<FileId> {
        match &self.source {
            Source::Disk(_) => self.ids.get(path.as_os_str()).copied(),
            Source::Dump(sorted) => {
                let key = path_bytes(path);
                let files = &self.cfg.files;
                sorted
                    .binary_search_by(|&f| path_bytes(&files[f as usize].path).cmp(key))
                    .ok()
                    .map(|i| sorted[i])
            }
        }
    }

    /// Read (with `fetch`) and parse new files, in order: on two cores the files from `split`
    /// on (`their_bytes` long, when known) are read and parsed by a second thread into its own
    /// arena, merged after. Returns why each file that could not be read was not (None: loaded
    /// with the next id).
    fn parse_batch(
        &mut self,
        mut paths: Vec<PathBuf>,
        split: usize,
        fetch: &Fetch<'_>,
        their_bytes: usize,
    ) -> Vec<Option<ReadError>> {
        let mut out = Vec::with_capacity(paths.len());
        let split = if paths.len() < PARALLEL_MIN {
            paths.len()
        } else {
            split
        };
        let theirs = paths.split_off(split);
        let their_count = theirs.len();
        std::thread::scope(|scope| {
            let worker = (their_count > 0)
                .then(|| scope.spawn(move || Partial::parse(theirs, split, fetch, their_bytes)));
            let mut buf = std::mem::take(&mut self.read_buf);
            for (i, p) in paths.into_iter().enumerate() {
                match fetch(i, &mut buf) {
                    Ok(held) => {
                        self.add_file(p, Some(held.unwrap_or(&buf)));
                        out.push(None);
                    }
                    Err(e) => out.push(Some(e)),
                }
            }
            self.read_buf = buf;
            if let Some(w) = worker {
                let w = w.join();
                match w {
                    Ok(partial) => out.extend(self.absorb(partial)),
                    // The worker cannot panic on any input (fuzzed); if it did, say so.
                    Err(_) => out.extend((0..their_count).map(|_| {
                        Some(ReadError::Io(std::io::Error::other("parser thread failed")))
                    })),
                }
            }
        });
        out
    }

    /// Append a second thread's arena: its node, child, span, text, file and include argument
    /// numbers move up by what is already loaded.
    fn absorb(&mut self, p: Partial) -> Vec<Option<ReadError>> {
        let Partial {
            cfg,
            text,
            include_args,
            scratch: _,
            too_big_reported: _,
            includes,
            outcomes,
        } = p;
        if self.text.len() + text.len() > MAX_TOTAL_BYTES {
            // As when parsed here: the files are registered, not examined.
            for f in cfg.files {
                if let Source::Disk(_) = self.source {
                    self.ids.insert(
                        f.path.clone().into_os_string(),
                        self.cfg.files.len() as FileId,
                    );
                }
                self.arena().report_too_big(&f.path);
                self.arena().add_empty(f.path, &[]);
                self.includes.push(Vec::new());
            }
            return outcomes;
        }
        let node_off = self.cfg.nodes.len() as u32;
        let child_off = self.cfg.children.len() as u32;
        let word_off = self.cfg.words.len() as u32;
        let text_off = self.text.len() as u32;
        let file_off = self.cfg.files.len() as u32;
        let arg_numbers: Vec<u32> = include_args
            .names
            .iter()
            .map(|a| self.include_args.number(a))
            .collect();
        // Each piece moved in steps, the last elements first, each step's memory given back as
        // it goes (`append_freeing`): the peak is the whole config and one step, not the whole
        // config and all of the second arena.
        let Config {
            nodes,
            file_runs,
            wide_columns,
            children,
            words,
            block_ends,
            diagnostics,
            omitted,
            files,
            ..
        } = cfg;
        append_freeing(&mut self.cfg.nodes, nodes, |mut n| {
            n.first_word += word_off;
            if n.has_block() {
                n.kids = n.kids.start + child_off..n.kids.end + child_off;
            } else if n.is_include() && n.kids.start != Node::NO_FILES {
                n.link_include_set(arg_numbers[n.kids.start as usize - 1] + 1);
            }
            n
        });
        self.cfg.file_runs.extend(
            file_runs
                .into_iter()
                .map(|(n, f)| (n + node_off, f + file_off)),
        );
        self.cfg
            .wide_columns
            .extend(wide_columns.into_iter().map(|(n, c)| (n + node_off, c)));
        append_freeing(&mut self.cfg.words, words, |w| w + text_off);
        let mut ours = std::mem::take(&mut self.text).into_bytes();
        append_freeing(&mut ours, text.into_bytes(), |b| b);
        // Two whole UTF-8 texts, joined: still UTF-8.
        self.text = String::from_utf8(ours)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
        append_freeing(&mut self.cfg.children, children, |c| c + node_off);
        self.cfg
            .block_ends
            .extend(block_ends.into_iter().map(|(n, l)| (n + node_off, l)));
        self.cfg.diagnostics.extend(diagnostics);
        self.cfg.omitted.extend(omitted);
        for (f, incs) in files.into_iter().zip(includes) {
            let id = self.cfg.files.len() as FileId;
            if let Source::Disk(_) = self.source {
                self.ids.insert(f.path.clone().into_os_string(), id);
            }
            self.cfg.files.push(SourceFile {
                path: f.path,
                top: f.top.start + child_off..f.top.end + child_off,
            });
            self.includes.push(
                incs.into_iter()
                    .map(|(n, a)| (n + node_off, a.map(|a| arg_numbers[a as usize])))
                    .collect(),
            );
            self.queue.push_back(id);
        }
        outcomes
    }

    /// Resolve every include, breadth-first; then cut cycles, place the text, check contexts.
    fn finish(&mut self, main: FileId, entry: &Path, conf_dir_for: impl Fn(ConfigKind) -> PathBuf) {
        self.cfg.main = main;
        let kind = infer_kind(&self.top_names, entry);
        self.cfg.kind = Some(kind);
        self.cfg.conf_dir = conf_dir_for(kind);
        let fragment = kind != ConfigKind::Main;
        while let Some(file) = self.queue.pop_front() {
            let incs = std::mem::take(&mut self.includes[file as usize]);
            for &(node, arg) in &incs {
                self.resolve_include(node, arg, fragment);
            }
            self.includes[file as usize] = incs;
        }
        self.cut_cycles();
        self.place_text();
        let top = match kind {
            ConfigKind::Main => Ctx::Main,
            ConfigKind::HttpFragment => Ctx::Http,
            ConfigKind::ServerFragment => Ctx::Snippet,
        };
        if kind == ConfigKind::ServerFragment || self.cfg.nodes.len() < PARALLEL_MIN_NODES {
            // A snippet is judged as written, then wrapped in its server for the rules.
            context::check(&mut self.cfg, top);
            if kind == ConfigKind::ServerFragment {
                self.wrap_in_server(main);
            }
            let refused = super::rules::check(&self.cfg);
            self.cfg.diagnostics.extend(refused);
        } else {
            // Both read the whole tree: on two cores at once. An include unlinked for depth
            // (the context check's only change to the tree) is rare: the rules then read the
            // tree again without it.
            //
            // The rules take longer: this thread also works out the variables the config
            // declares, which their unknown-variable rule asks for once the blocks are read
            // (nearly every config uses one that is not built in, `$connection_upgrade`; when
            // none does, this thread had nothing else to do).
            let cfg = &self.cfg;
            let declared = super::rules::Declared::new();
            let ((diags, unlink), refused) = std::thread::scope(|scope| {
                let rules = scope.spawn(|| super::rules::check_with(cfg, &declared));
                let judged = context::judge_tree(cfg, top);
                super::variables::declared_once(cfg, &declared);
                (judged, rules.join())
            });
            context::apply(&mut self.cfg, diags, &unlink);
            let refused = match refused {
                Ok(r) if unlink.is_empty() => r,
                _ => super::rules::check(&self.cfg),
            };
            self.cfg.diagnostics.extend(refused);
        }
        // Reported in reading order: by file (as loaded), then position; the first ones listed,
        // the rest counted.
        if self.cfg.diagnostics.len() > 1 {
            self.sort_diagnostics();
        }
        self.cap_diagnostics();
        self.cfg.nodes.shrink_to_fit();
        self.cfg.words.shrink_to_fit();
        self.cfg.children.shrink_to_fit();
        self.cfg.text.shrink_to_fit();
    }

    /// A snippet is examined as if included in a server (issue #16): its top level becomes the
    /// children of one `server` node, so the resolver and every check see a server with these
    /// locations and directives, each still at its own file and line. Done after the context
    /// check, which judged the snippet's directives where a snippet may hold them.
    fn wrap_in_server(&mut self, main: FileId) {
        let cfg = &mut self.cfg;
        let Some(file) = cfg.files.get(main as usize) else {
            return;
        };
        let top = file.top.clone();
        let ids: Vec<NodeId> = cfg.children[top.start as usize..top.end as usize].to_vec();
        let line = ids
            .first()
            .and_then(|&id| cfg.nodes.get(id as usize))
            .map_or(1, |n| n.line);
        let words = cfg.words.len() as u32;
        let kids = cfg.children.len() as u32;
        cfg.children.extend_from_slice(&ids);
        let id = cfg.push_node(NewNode {
            words: words..words,
            kids: kids..cfg.children.len() as u32,
            file: main,
            line,
            column: 1,
            name: context::name_id("server"),
            block: true,
            include: false,
        });
        let at = cfg.children.len() as u32;
        cfg.children.push(id);
        cfg.files[main as usize].top = at..at + 1;
        cfg.implicit_server = Some(id);
    }

    /// Each file's position in reading order, by path.
    fn file_order(&self) -> HashMap<&Path, usize> {
        self.cfg
            .files
            .iter()
            .enumerate()
            .map(|(i, f)| (f.path.as_path(), i))
            .collect()
    }

    fn sort_diagnostics(&mut self) {
        let mut diags = std::mem::take(&mut self.cfg.diagnostics);
        let order = self.file_order();
        diags.sort_by_cached_key(|d| {
            (
                order.get(d.file.as_path()).copied().unwrap_or(usize::MAX),
                d.line,
                d.column,
            )
        });
        self.cfg.diagnostics = diags;
    }

    /// List the first `MAX_DIAGNOSTICS_PER_FILE` problems of each file and `MAX_DIAGNOSTICS` in
    /// all, and the first error wherever it is (the one `nginx -t` stops at); count the rest in
    /// `Config::omitted`, with what the parser counted already. The diagnostics are sorted.
    fn cap_diagnostics(&mut self) {
        use super::ast::{Omitted, MAX_DIAGNOSTICS, MAX_DIAGNOSTICS_PER_FILE};
        let parsed = std::mem::take(&mut self.cfg.omitted);
        if parsed.is_empty() && self.cfg.diagnostics.len() <= MAX_DIAGNOSTICS_PER_FILE {
            return;
        }
        let diags = std::mem::take(&mut self.cfg.diagnostics);
        let mut kept: Vec<Diagnostic> = Vec::with_capacity(diags.len().min(MAX_DIAGNOSTICS + 1));
        // Per file: how many are listed, and its entry in `files` once some are not.
        let mut per_file: HashMap<PathBuf, (usize, Option<usize>)> = HashMap::new();
        let mut files: Vec<Omitted> = Vec::new();
        let mut elsewhere = Omitted::new(None);
        let mut elsewhere_files: std::collections::HashSet<PathBuf> = Default::default();
        let mut fatal_listed = false;
        let mut count =
            |file: &Path,
             line: u32,
             column: u32,
             n: u64,
             fatal: u64,
             per_file: &mut HashMap<PathBuf, (usize, Option<usize>)>| {
                match per_file.get_mut(file) {
                    Some((listed, entry)) if *listed > 0 => {
                        let i = *entry.get_or_insert_with(|| {
                            files.push(Omitted::new(Some(file.to_path_buf())));
                            files.len() - 1
                        });
                        files[i].add_many(line, column, n, fatal);
                    }
                    _ => {
                        elsewhere.add_many(line, column, n, fatal);
                        if !elsewhere_files.contains(file) {
                            elsewhere_files.insert(file.to_path_buf());
                        }
                    }
                }
            };
        for d in diags {
            let listed = match per_file.get_mut(d.file.as_path()) {
                Some((n, _)) => n,
                None => &mut per_file.entry(d.file.clone()).or_default().0,
            };
            let room = *listed < MAX_DIAGNOSTICS_PER_FILE && kept.len() < MAX_DIAGNOSTICS;
            if room || (d.fatal && !fatal_listed) {
                *listed += 1;
                fatal_listed |= d.fatal;
                kept.push(d);
            } else {
                let fatal = u64::from(d.fatal);
                count(&d.file, d.line, d.column, 1, fatal, &mut per_file);
            }
        }
        for o in parsed {
            let file = o.file.as_deref().unwrap_or(Path::new(""));
            count(file, o.line, o.column, o.count, o.fatal, &mut per_file);
        }
        let order = self.file_order();
        files.sort_by_key(|o| {
            o.file
                .as_deref()
                .and_then(|f| order.get(f).copied())
                .unwrap_or(usize::MAX)
        });
        if elsewhere.count > 0 {
            elsewhere.files = elsewhere_files.len() as u64;
            files.push(elsewhere);
        }
        self.cfg.diagnostics = kept;
        self.cfg.omitted = files;
    }

    /// `Config::text` = every word; the closing lines in node order.
    fn place_text(&mut self) {
        self.cfg.text = std::mem::take(&mut self.text);
        self.cfg.block_ends.sort_unstable_by_key(|&(n, _)| n);
    }

    fn diag(&mut self, node: NodeId, message: String, fatal: bool) {
        let d = self.cfg.directive(node);
        let diag = Diagnostic {
            file: d.file().to_path_buf(),
            line: d.line(),
            column: d.column(),
            message,
            fatal,
        };
        self.cfg.diagnostics.push(diag);
    }

    /// Resolve an include node's argument (by number) when it is met first, and report its
    /// problems at the node. The node is already linked to its argument's include set (by the
    /// parser), filled here once for all the includes that name it.
    fn resolve_include(&mut self, node: NodeId, arg: Option<u32>, fragment: bool) {
        let Some(arg) = arg else {
            self.diag(
                node,
                "invalid number of arguments in \"include\" directive".into(),
                true,
            );
            return;
        };
        let arg = arg as usize;
        if self.resolutions.len() <= arg {
            self.resolutions.resize_with(arg + 1, || None);
        }
        // Taken out while in use (resolving needs the whole loader), put back after.
        let resolved = match self.resolutions[arg].take() {
            Some(r) => r,
            None => {
                let text = self.include_args.names[arg].clone();
                let r = self.resolve(&text, fragment);
                let set = arg + 1;
                if self.cfg.include_sets.len() <= set {
                    self.cfg.include_sets.resize(set + 1, 0..0);
                }
                let start = self.cfg.include_links.len() as u32;
                self.cfg.include_links.extend_from_slice(&r.files);
                self.cfg.include_sets[set] = start..self.cfg.include_links.len() as u32;
                r
            }
        };
        for (msg, fatal) in &resolved.problems {
            self.diag(node, msg.clone(), *fatal);
        }
        self.resolutions[arg] = Some(resolved);
    }

    /// What an include argument names: the files (read and parsed when new) and any problems.
    fn resolve(&mut self, arg: &str, fragment: bool) -> Resolved {
        let pattern = lexical_normal(&self.cfg.conf_dir.join(arg));
        let mut r = Resolved::default();
        if !arg.contains(['*', '?', '[']) {
            self.file_for(pattern, fragment, &mut r);
            return r;
        }
        let opts = glob::MatchOptions {
            case_sensitive: true,
            require_literal_separator: true,
            require_literal_leading_dot: true,
        };
        match &self.source {
            Source::Dump(sorted) => match glob_dump(&self.cfg.files, sorted, &pattern, opts) {
                Ok(files) => r.files = files,
                Err(msg) => r.problems.push((msg, !fragment)),
            },
            Source::Disk(root) => {
                let mut warnings = Vec::new();
                let mut paths = glob_disk(root, &pattern, opts, &mut warnings);
                // glob(3) sorts the whole list (each directory's matches in order is not enough).
                paths.sort_by(|a, b| path_bytes(a).cmp(path_bytes(b)));
                r.problems.extend(warnings.into_iter().map(|w| (w, false)));
                self.files_for(paths, fragment, &mut r);
            }
        }
        r
    }

    /// The files a glob matched on disk, in order. When many are new (`sites-enabled/*` on a big
    /// host), two threads read and parse them (`parse_batch`).
    fn files_for(&mut self, paths: Vec<PathBuf>, fragment: bool, r: &mut Resolved) {
        let Source::Disk(root) = &self.source else {
            return;
        };
        let root = root.clone();
        let new: Vec<PathBuf> = paths
            .iter()
            .filter(|p| !self.ids.contains_key(p.as_os_str()))
            .cloned()
            .collect();
        let fetch = |i: usize, buf: &mut Vec<u8>| read_regular(&root, &new[i], buf).map(|()| None);
        let half = new.len() / 2;
        let outcomes = self.parse_batch(new.clone(), half, &fetch, 0);
        let mut failed: HashMap<&Path, ReadError> = HashMap::new();
        for (p, o) in new.iter().zip(outcomes) {
            if let Some(e) = o {
                failed.insert(p, e);
            }
        }
        for p in paths {
            if let Some(&id) = self.ids.get(p.as_os_str()) {
                r.files.push(id);
            } else if let Some(e) = failed.remove(p.as_path()) {
                self.file_read(p, Err(e), fragment, r);
            }
        }
    }

    /// The file for an included path: already loaded, or read and parsed now.
    fn file_for(&mut self, path: PathBuf, fragment: bool, r: &mut Resolved) {
        if let Some(id) = self.loaded(&path) {
            r.files.push(id);
            return;
        }
        let root = match &self.source {
            Source::Dump(_) => {
                // nginx -T prints every file it read: one missing was not read by that nginx.
                r.problems.push((
                    format!(
                        "include \"{}\" has no section in the dump: this part of the config is not examined",
                        path.display()
                    ),
                    false,
                ));
                return;
            }
            Source::Disk(root) => root,
        };
        let mut buf = std::mem::take(&mut self.read_buf);
        let read = read_regular(root, &path, &mut buf).map(|()| buf);
        self.file_read(path, read, fragment, r);
    }

    /// Parse a file just read (keeping its buffer for the next read), or report why it could not
    /// be read.
    fn file_read(
        &mut self,
        path: PathBuf,
        read: Result<Vec<u8>, ReadError>,
        fragment: bool,
        r: &mut Resolved,
    ) {
        match read {
            Ok(buf) => {
                self.read_buf = buf;
                r.files.push(self.add_file(path, None));
            }
            Err(e) => {
                let (msg, missing) = match e {
                    ReadError::NotAFile => (
                        format!(
                            "\"{}\" is not a regular file (a directory, a device or a FIFO: nginx reads its configuration from regular files)",
                            path.display()
                        ),
                        false,
                    ),
                    ReadError::Io(e) => (
                        format!(
                            "open() \"{}\" failed ({}: {})",
                            path.display(),
                            e.raw_os_error().unwrap_or(0),
                            crate::text_safe::io_error(&e)
                        ),
                        e.kind() == std::io::ErrorKind::NotFound,
                    ),
                };
                if fragment && missing {
                    r.problems.push((
                        format!("{msg}: nginx resolves this against its own main config; this part is not examined"),
                        false,
                    ));
                } else {
                    r.problems.push((msg, true));
                }
            }
        }
    }

    /// Depth-first from the main file over the include graph: an include of a file that is still
    /// open above it is a cycle (nginx would recurse until it runs out of files). Each such link
    /// is reported and removed, which leaves the graph acyclic, so `children()` terminates.
    fn cut_cycles(&mut self) {
        let n = self.cfg.files.len();
        let mut state = vec![0u8; n]; // 0 new, 1 open (on the stack), 2 done
        let mut cut: Vec<(NodeId, FileId)> = Vec::new();
        // (file, index into its includes, index into that include's links)
        let mut stack: Vec<(FileId, usize, usize)> = vec![(self.cfg.main, 0, 0)];
        state[self.cfg.main as usize] = 1;
        while let Some(&mut (file, ref mut inc, ref mut link)) = stack.last_mut() {
            let Some(&(node, arg)) = self.includes[file as usize].get(*inc) else {
                state[file as usize] = 2;
                stack.pop();
                continue;
            };
            // The node's files are its argument's (read here without touching the node).
            let links = match arg.and_then(|a| self.resolutions[a as usize].as_ref()) {
                Some(r) => &r.files[..],
                None => &[],
            };
            let Some(&target) = links.get(*link) else {
                *inc += 1;
                *link = 0;
                continue;
            };
            *link += 1;
            match state[target as usize] {
                0 => {
                    state[target as usize] = 1;
                    stack.push((target, 0, 0));
                }
                1 => {
                    cut.push((node, target));
                    let from = stack.iter().position(|s| s.0 == target).unwrap_or(0);
                    let chain: Vec<String> = stack[from..]
                        .iter()
                        .map(|s| s.0)
                        .chain(std::iter::once(target))
                        .map(|f| self.cfg.files[f as usize].path.display().to_string())
                        .collect();
                    let msg = format!(
                        "include cycle: {}: this include is not followed",
                        chain.join(" -> ")
                    );
                    self.diag(node, msg, true);
                }
                _ => {}
            }
        }
        // A cut include gets a set of its own, without the file that closed the cycle.
        for (node, target) in cut {
            let start = self.cfg.include_links.len() as u32;
            let kept: Vec<FileId> = self.cfg.directive(node).included_files().to_vec();
            self.cfg
                .include_links
                .extend(kept.into_iter().filter(|&f| f != target));
            let set = self.cfg.include_sets.len() as u32;
            self.cfg
                .include_sets
                .push(start..self.cfg.include_links.len() as u32);
            self.cfg.nodes[node as usize].link_include_set(set);
        }
    }
}

/// The files of a dump whose paths a glob include matches, in byte order (nginx's glob(3) in
/// the C locale). `sorted`: every file, sorted by path.
fn glob_dump(
    files: &[SourceFile],
    sorted: &[FileId],
    pattern: &Path,
    opts: glob::MatchOptions,
) -> Result<Vec<FileId>, String> {
    let text = pattern.to_string_lossy();
    let pat = glob::Pattern::new(&text)
        .map_err(|e| format!("invalid include pattern \"{text}\": {e}"))?;
    // Only the paths that start with the pattern's literal head can match: one sorted run.
    let bytes = path_bytes(pattern);
    let head = &bytes[..bytes
        .iter()
        .position(|b| b"*?[".contains(b))
        .unwrap_or(bytes.len())];
    // When only the last component holds wildcards (`sites-enabled/*`, the usual case), only
    // the file name is matched: no wildcard matches `/`, so a name holding one is out at once.
    // (`**` is left to the whole-path match, which reads it as the glob crate does.)
    let dir = head.iter().rposition(|&b| b == b'/').map_or(0, |i| i + 1);
    let tail = &bytes[dir..];
    let name_pat = (!tail.contains(&b'/') && memchr::memmem::find(tail, b"**").is_none())
        .then(|| std::str::from_utf8(tail).ok())
        .flatten()
        .and_then(|t| glob::Pattern::new(t).ok());
    let matches = |p: &Path| match &name_pat {
        Some(name_pat) => {
            let name = &path_bytes(p)[dir..];
            !name.contains(&b'/')
                && std::str::from_utf8(name).is_ok_and(|n| name_pat.matches_with(n, opts))
        }
        None => pat.matches_path_with(p, opts),
    };
    let path = |f: &FileId| path_bytes(&files[*f as usize].path);
    let from = sorted.partition_point(|f| path(f) < head);
    Ok(sorted[from..]
        .iter()
        .take_while(|f| path(f).starts_with(head))
        .filter(|f| matches(&files[**f as usize].path))
        .copied()
        .collect())
}

/// Expand a glob under the root as glob(3) does for nginx: each component holding a wildcard is
/// matched against the entries of the directories reached so far (`*` does not cross `/` or
/// match a leading dot), symlinks are followed inside the root, and a directory that cannot be
/// read is skipped (glob(3) without GLOB_ERR) with a warning, since nginx, running as root, may
/// see what we cannot. Written here rather than with `glob::glob_with`, which panics on a file
/// name that is not UTF-8 (glob 0.3.4); `glob::Pattern` still does the matching.
fn glob_disk(
    root: &SysRoot,
    pattern: &Path,
    opts: glob::MatchOptions,
    warnings: &mut Vec<String>,
) -> Vec<PathBuf> {
    let comps: Vec<&std::ffi::OsStr> = pattern
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s),
            Component::ParentDir => Some("..".as_ref()),
            _ => None,
        })
        .collect();
    let mut found: Vec<PathBuf> = vec![PathBuf::from("/")];
    let mut last_literal = true;
    for comp in &comps {
        let text = comp.to_string_lossy();
        last_literal = !text.contains(['*', '?', '[']);
        if last_literal {
            for p in &mut found {
                p.push(comp);
            }
            continue;
        }
        let Ok(pat) = glob::Pattern::new(&text) else {
            warnings.push(format!("invalid include pattern \"{}\"", pattern.display()));
            return Vec::new();
        };
        let mut next = Vec::new();
        for dir in &found {
            let Ok(host) = root.resolve(dir) else {
                continue;
            };
            let entries = match std::fs::read_dir(&host) {
                Ok(e) => e,
                Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                    warnings.push(format!(
                        "cannot read directory \"{}\" ({}): files this include may pull in are not examined",
                        dir.display(),
                        crate::text_safe::io_error(&e)
                    ));
                    continue;
                }
                Err(_) => continue, // missing, or not a directory: no match
            };
            let mut names: Vec<std::ffi::OsString> = entries
                .filter_map(|e| e.ok().map(|e| e.file_name()))
                .filter(|n| pat.matches_with(&n.to_string_lossy(), opts))
                .collect();
            names.sort_by(|a, b| a.as_encoded_bytes().cmp(b.as_encoded_bytes()));
            next.extend(names.into_iter().map(|n| dir.join(n)));
        }
        found = next;
    }
    if last_literal {
        // `dir/*/site.conf`: only the matches where the literal tail exists.
        found.retain(|p| root.resolve(p).is_ok_and(|h| h.symlink_metadata().is_ok()));
    }
    found
}

/// One warning per line holding bytes that are not UTF-8 (they are shown as U+FFFD): nginx
/// compares bytes, so a path or name holding them will not match what we show.
fn encoding_diagnostics(path: &Path, bytes: &[u8]) -> Vec<Diagnostic> {
    let mut lines: Vec<(u32, u32)> = Vec::new();
    let mut at = 0;
    while let Err(err) = std::str::from_utf8(&bytes[at..]) {
        let bad = at + err.valid_up_to();
        let line = 1 + memchr::memchr_iter(b'\n', &bytes[..bad]).count() as u32;
        let line_start = memchr::memrchr(b'\n', &bytes[..bad]).map_or(0, |p| p + 1);
        if lines.last().map(|l| l.0) != Some(line) {
            lines.push((line, (bad - line_start) as u32 + 1));
        }
        at = bad + err.error_len().unwrap_or(bytes.len() - bad);
        if at >= bytes.len() || lines.len() > MAX_ENCODING_DIAGNOSTICS {
            break;
        }
    }
    let truncated = lines.len() > MAX_ENCODING_DIAGNOSTICS;
    lines
        .iter()
        .take(MAX_ENCODING_DIAGNOSTICS)
        .enumerate()
        .map(|(i, &(line, column))| Diagnostic {
            file: path.to_path_buf(),
            line,
            column,
            message: format!(
                "bytes that are not UTF-8 are shown as U+FFFD: a path or name holding them will not match the disk{}",
                if truncated && i + 1 == MAX_ENCODING_DIAGNOSTICS { " (and on later lines)" } else { "" }
            ),
            fatal: false,
        })
        .collect()
}

fn path_bytes(p: &Path) -> &[u8] {
    p.as_os_str().as_encoded_bytes()
}

/// What the entry file is, from its top-level directives (before includes).
fn infer_kind(top_names: &[(String, bool)], entry: &Path) -> ConfigKind {
    let mut http_level = false;
    let mut server_level = false;
    for (name, has_block) in top_names {
        match name.as_str() {
            "http"
            | "events"
            | "stream"
            | "mail"
            | "user"
            | "worker_processes"
            | "pid"
            | "load_module"
            | "worker_rlimit_nofile"
            | "daemon"
            | "master_process"
            | "env" => return ConfigKind::Main,
            "server" if *has_block => http_level = true,
            "upstream" | "map" | "geo" | "split_clients" | "log_format" | "limit_req_zone"
            | "limit_conn_zone" | "proxy_cache_path" | "fastcgi_cache_path" => http_level = true,
            "location" | "listen" | "server_name" | "alias" | "try_files" | "return"
            | "rewrite" | "if" | "root" | "index" => server_level = true,
            _ => {}
        }
    }
    if http_level {
        ConfigKind::HttpFragment
    } else if server_level {
        ConfigKind::ServerFragment
    } else if entry.file_name().is_some_and(|n| n == "nginx.conf") {
        ConfigKind::Main
    } else {
        ConfigKind::ServerFragment
    }
}

/// Read a regular file under the root, bounded (crate::input): opened non-blocking and
/// checked with fstat before any read, so a FIFO or device named by an include cannot hang the
/// run, and a file over --max-config-bytes is refused from its size.
fn read_regular(root: &SysRoot, path: &Path, buf: &mut Vec<u8>) -> Result<(), ReadError> {
    use crate::input::{open, read_stream, Opened};
    let host = root.resolve(path).map_err(ReadError::Io)?;
    match open(&host).map_err(ReadError::Io)? {
        Opened::File(f, meta) if meta.is_file() => {
            buf.clear();
            buf.reserve(meta.len() as usize + 1);
            read_stream(f, buf).map_err(ReadError::Io)
        }
        _ => Err(ReadError::NotAFile),
    }
}

fn parent(p: &Path) -> PathBuf {
    p.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("/"))
        .to_path_buf()
}

/// `a/./b` → `a/b`, `a//b` → `a/b` (nginx does not normalise, but the same file reached by two
/// spellings of one path is then read once). `..` is kept: it depends on symlinks.
fn lexical_normal(p: &Path) -> PathBuf {
    let b = path_bytes(p);
    let find = |what: &[u8]| memchr::memmem::find(b, what).is_some();
    // Most paths are normal already: copied as they are, not taken apart and rebuilt.
    let normal = !b.is_empty()
        && b != b"."
        && !b.starts_with(b"./")
        && !b.ends_with(b"/.")
        && (b == b"/" || !b.ends_with(b"/"))
        && !find(b"//")
        && !find(b"/./");
    if normal {
        return p.to_path_buf();
    }
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// The sections to load, in dump order (paths and bodies), and their file ids (their ranks)
/// sorted by path, the list include globs are matched against. nginx prints each file once: a
/// repeated path is a hand-edited dump, and its first section wins.
fn unique_sections(sections: Vec<(PathBuf, &[u8])>) -> (Vec<PathBuf>, Vec<&[u8]>, Vec<FileId>) {
    // A stable sort: a repeated path keeps its first section first.
    let mut by_path: Vec<usize> = (0..sections.len()).collect();
    by_path.sort_by(|&a, &b| path_bytes(&sections[a].0).cmp(path_bytes(&sections[b].0)));
    let mut kept = vec![false; sections.len()];
    for (k, &i) in by_path.iter().enumerate() {
        kept[i] = k == 0 || sections[by_path[k - 1]].0 != sections[i].0;
    }
    let mut file_of = vec![0 as FileId; sections.len()];
    let mut next = 0;
    for (i, &k) in kept.iter().enumerate() {
        file_of[i] = next;
        next += k as FileId;
    }
    let sorted = by_path
        .iter()
        .filter(|&&i| kept[i])
        .map(|&i| file_of[i])
        .collect();
    let (paths, bodies) = sections
        .into_iter()
        .zip(kept)
        .filter_map(|(s, k)| k.then_some(s))
        .unzip();
    (paths, bodies, sorted)
}

/// Split an `nginx -T` dump into (path, bytes) sections. A big dump's two halves are searched
/// for headers at once.
fn split_dump(dump: &[u8]) -> Vec<(PathBuf, &[u8])> {
    let mid = if dump.len() >= PARALLEL_MIN_DUMP {
        dump.len() / 2
    } else {
        dump.len()
    };
    let heads = std::thread::scope(|scope| {
        let second =
            (mid < dump.len()).then(|| scope.spawn(|| dump_headers(dump, mid..dump.len())));
        let mut heads = dump_headers(dump, 0..mid);
        if let Some(second) = second {
            match second.join() {
                Ok(more) => heads.extend(more),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        heads
    });
    let stops: Vec<usize> = heads.iter().skip(1).map(|h| h.0).collect();
    let mut out = Vec::with_capacity(heads.len());
    for (i, (_, body, path)) in heads.into_iter().enumerate() {
        let stop = stops.get(i).copied().unwrap_or(dump.len());
        let mut bytes = &dump[body..stop.max(body)];
        // nginx writes one newline after each file's content.
        if let Some(b) = bytes.strip_suffix(b"\n") {
            bytes = b;
        }
        out.push((path, bytes));
    }
    out
}

/// The section headers of a dump that start in `starts`: (header start, body start, path).
fn dump_headers(dump: &[u8], starts: std::ops::Range<usize>) -> Vec<(usize, usize, PathBuf)> {
    const HEADER: &[u8] = b"# configuration file ";
    let mut heads = Vec::new();
    // Headers start a line: find each candidate with one vectorised search, not line by line.
    let finder = memchr::memmem::Finder::new(HEADER);
    let mut from = starts.start;
    while let Some(p) = finder.find(&dump[from..]) {
        let at = from + p;
        if at >= starts.end {
            break;
        }
        from = at + HEADER.len();
        if at > 0 && dump[at - 1] != b'\n' {
            continue;
        }
        let end = memchr::memchr(b'\n', &dump[at..]).map_or(dump.len(), |p| at + p);
        let line = &dump[at + HEADER.len()..end];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if let Some(path) = line.strip_suffix(b":") {
            use std::os::unix::ffi::OsStrExt;
            let path = lexical_normal(Path::new(std::ffi::OsStr::from_bytes(path)));
            heads.push((at, (end + 1).min(dump.len()), path));
        }
    }
    heads
}

// The arena's memory budget depends on it (see ast.rs).
const _: () = assert!(std::mem::size_of::<Node>() <= 32);

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn write(dir: &Path, rel: &str, text: &str) {
        let p = dir.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }

    fn errors(cfg: &Config) -> Vec<String> {
        cfg.diagnostics
            .iter()
            .map(|d| {
                format!(
                    "{}{}:{}: {}",
                    if d.fatal { "" } else { "warning: " },
                    d.file.display(),
                    d.line,
                    d.message
                )
            })
            .collect()
    }

    /// Every directive, includes expanded: `file:line name args`.
    fn flat(cfg: &Config) -> Vec<String> {
        cfg.depth_first()
            .map(|(_, d)| {
                format!(
                    "{}:{} {} {}",
                    d.file().display(),
                    d.line(),
                    d.name(),
                    d.args().collect::<Vec<_>>().join(" ")
                )
            })
            .collect()
    }

    #[test]
    fn includes_resolve_against_the_main_config_dir_in_sorted_order() {
        let t = tempfile::tempdir().unwrap();
        let root = SysRoot::new(t.path());
        write(
            t.path(),
            "etc/nginx/nginx.conf",
            "events {}\nhttp {\n include sites/*;\n include none/*.conf;\n}\n",
        );
        write(
            t.path(),
            "etc/nginx/sites/b",
            "server { include snip.conf; }\n",
        );
        write(
            t.path(),
            "etc/nginx/sites/a",
            "server { include snip.conf; }\n",
        );
        // Relative to the main config's directory, not to sites/.
        write(
            t.path(),
            "etc/nginx/snip.conf",
            "location /m/ { alias /srv/m/; }\n",
        );
        write(t.path(), "etc/nginx/sites/snip.conf", "wrong;\n");
        let cfg = load_files(&root, Path::new("/etc/nginx/nginx.conf")).unwrap();
        // `sites/*` takes sites/snip.conf into http too, where nginx refuses its `wrong;`.
        assert_eq!(
            errors(&cfg),
            ["warning: /etc/nginx/sites/snip.conf:1: unknown directive \"wrong\": nginx refuses it unless a module provides it"]
        );
        assert_eq!(cfg.kind, Some(ConfigKind::Main));
        assert_eq!(cfg.conf_dir, Path::new("/etc/nginx"));
        let servers = cfg.servers();
        assert_eq!(servers.len(), 2, "{:?}", flat(&cfg));
        assert_eq!(
            servers
                .iter()
                .map(|s| s.file().to_path_buf())
                .collect::<Vec<_>>()[..2],
            [
                PathBuf::from("/etc/nginx/sites/a"),
                PathBuf::from("/etc/nginx/sites/b")
            ]
        );
        let loc = servers[0].find("location").unwrap();
        assert_eq!(loc.file(), Path::new("/etc/nginx/snip.conf"));
        assert_eq!(loc.find("alias").unwrap().arg(0), Some("/srv/m/"));
        // Read once although included twice.
        assert_eq!(
            cfg.files
                .iter()
                .filter(|f| f.path.ends_with("snip.conf"))
                .count(),
            2
        );
    }

    #[test]
    fn missing_plain_include_is_fatal_in_a_main_config() {
        let t = tempfile::tempdir().unwrap();
        write(
            t.path(),
            "etc/nginx/nginx.conf",
            "events {}\nhttp {\n include missing.conf;\n}\n",
        );
        let cfg = load_files(&SysRoot::new(t.path()), Path::new("/etc/nginx/nginx.conf")).unwrap();
        assert_eq!(
            errors(&cfg),
            ["/etc/nginx/nginx.conf:3: open() \"/etc/nginx/missing.conf\" failed (2: No such file or directory)"]
        );
    }

    #[test]
    fn fragments_are_recognised_and_a_missing_include_is_a_warning() {
        let t = tempfile::tempdir().unwrap();
        write(t.path(), "repo/deploy/nginx.conf", "server {\n listen 80;\n include snippets/missing.conf;\n location /media/ { alias /srv/media/; }\n}\n");
        write(
            t.path(),
            "repo/deploy/snippet.conf",
            "location /static/ { alias /srv/static/; }\nexpires 1d;\n",
        );
        let root = SysRoot::new(t.path());
        let cfg = load_files(&root, Path::new("/repo/deploy/nginx.conf")).unwrap();
        assert_eq!(cfg.kind, Some(ConfigKind::HttpFragment));
        // No /etc/nginx under this root: the fragment's own directory.
        assert_eq!(cfg.conf_dir, Path::new("/repo/deploy"));
        assert_eq!(cfg.servers().len(), 1);
        assert!(!cfg.has_fatal_errors(), "{:?}", errors(&cfg));
        assert_eq!(cfg.diagnostics.len(), 1);
        assert!(cfg.diagnostics[0].message.contains("missing.conf"));
        let cfg = load_files(&root, Path::new("/repo/deploy/snippet.conf")).unwrap();
        assert_eq!(cfg.kind, Some(ConfigKind::ServerFragment));
        assert!(cfg.diagnostics.is_empty(), "{:?}", errors(&cfg));
        // With /etc/nginx present, a fragment's includes resolve there.
        write(
            t.path(),
            "etc/nginx/snippets/missing.conf",
            "add_header X 1;\n",
        );
        let cfg = load_files(&root, Path::new("/repo/deploy/nginx.conf")).unwrap();
        assert_eq!(cfg.conf_dir, Path::new("/etc/nginx"));
        assert!(cfg.diagnostics.is_empty(), "{:?}", errors(&cfg));
    }

    #[test]
    fn a_repository_fragment_never_reads_this_machines_etc_nginx() {
        let t = tempfile::tempdir().unwrap();
        let conf = t.path().join("deploy/nginx.conf");
        std::fs::create_dir_all(conf.parent().unwrap()).unwrap();
        std::fs::write(
            &conf,
            "server {\n listen 80;\n include snippets/x.conf;\n}\n",
        )
        .unwrap();
        let cfg = load_files(&SysRoot::live(), &conf).unwrap();
        assert_eq!(cfg.conf_dir, t.path().join("deploy"));
        assert!(cfg.files.iter().all(|f| !f.path.starts_with("/etc/nginx")));
    }

    #[test]
    fn include_cycles_are_cut_and_reported() {
        let t = tempfile::tempdir().unwrap();
        write(
            t.path(),
            "nginx.conf",
            "events {}\nhttp { include a.conf; }\n",
        );
        write(t.path(), "a.conf", "include b.conf;\nserver {}\n");
        write(t.path(), "b.conf", "include a.conf;\n");
        let cfg = load_files(&SysRoot::new(t.path()), Path::new("/nginx.conf")).unwrap();
        assert_eq!(
            errors(&cfg),
            ["/b.conf:1: include cycle: /a.conf -> /b.conf -> /a.conf: this include is not followed"]
        );
        assert_eq!(cfg.servers().len(), 1);
    }

    #[test]
    fn directories_symlink_loops_and_fifos_are_located_errors() {
        let t = tempfile::tempdir().unwrap();
        write(
            t.path(),
            "nginx.conf",
            "events {}\nhttp {\ninclude conf.d;\ninclude loop.conf;\ninclude fifo;\n}\n",
        );
        fs::create_dir(t.path().join("conf.d")).unwrap();
        std::os::unix::fs::symlink("loop.conf", t.path().join("loop.conf")).unwrap();
        nix::unistd::mkfifo(&t.path().join("fifo"), nix::sys::stat::Mode::S_IRWXU).unwrap();
        let cfg = load_files(&SysRoot::new(t.path()), Path::new("/nginx.conf")).unwrap();
        let e = errors(&cfg);
        assert_eq!(e.len(), 3, "{e:?}");
        assert!(
            e[0].starts_with("/nginx.conf:3: \"/conf.d\" is not a regular file"),
            "{e:?}"
        );
        assert!(
            e[1].starts_with("/nginx.conf:4: open() \"/loop.conf\" failed (40: "),
            "{e:?}"
        );
        assert!(
            e[2].starts_with("/nginx.conf:5: \"/fifo\" is not a regular file"),
            "{e:?}"
        );
    }

    #[test]
    fn absolute_symlinks_resolve_inside_the_root() {
        let t = tempfile::tempdir().unwrap();
        write(
            t.path(),
            "etc/nginx/nginx.conf",
            "events {}\nhttp { include /etc/nginx/sites-enabled/*; }\n",
        );
        write(
            t.path(),
            "etc/nginx/sites-available/app",
            "server { server_name app; }\n",
        );
        fs::create_dir_all(t.path().join("etc/nginx/sites-enabled")).unwrap();
        std::os::unix::fs::symlink(
            "/etc/nginx/sites-available/app",
            t.path().join("etc/nginx/sites-enabled/app"),
        )
        .unwrap();
        let cfg = load_files(&SysRoot::new(t.path()), Path::new("/etc/nginx/nginx.conf")).unwrap();
        assert!(cfg.diagnostics.is_empty(), "{:?}", errors(&cfg));
        // Reported under the name nginx reads it by.
        assert_eq!(
            cfg.servers()[0].file(),
            Path::new("/etc/nginx/sites-enabled/app")
        );
    }

    #[test]
    fn wrong_context_is_reported() {
        let t = tempfile::tempdir().unwrap();
        write(t.path(), "nginx.conf", "events {}\nhttp {\n location / {}\n server { location / { server {} } }\n upstream u { server 127.0.0.1; }\n rewrite ^/a /b;\n}\n");
        let cfg = load_files(&SysRoot::new(t.path()), Path::new("/nginx.conf")).unwrap();
        assert_eq!(
            errors(&cfg),
            [
                "/nginx.conf:3: \"location\" directive is not allowed here",
                "/nginx.conf:4: \"server\" directive is not allowed here",
                "/nginx.conf:6: \"rewrite\" directive is not allowed here",
            ]
        );
        // A regex quantifier read as a block, as nginx reads it.
        write(
            t.path(),
            "nginx.conf",
            "events {}\nhttp { server { rewrite ^/a{2}/ /b; } }\n}\n",
        );
        let cfg = load_files(&SysRoot::new(t.path()), Path::new("/nginx.conf")).unwrap();
        assert_eq!(
            errors(&cfg),
            ["/nginx.conf:2: directive \"rewrite\" is not terminated by \";\"",]
        );
    }

    #[test]
    fn the_entry_must_be_a_readable_file() {
        let t = tempfile::tempdir().unwrap();
        let root = SysRoot::new(t.path());
        assert!(matches!(
            load_files(&root, Path::new("/nope.conf")),
            Err(LoadError::Unreadable { .. })
        ));
        assert!(matches!(
            load_files(&root, Path::new("/")),
            Err(LoadError::NotAFile { .. })
        ));
    }

    #[test]
    fn a_dump_gives_the_same_tree_as_the_files() {
        let t = tempfile::tempdir().unwrap();
        write(
            t.path(),
            "etc/nginx/nginx.conf",
            "events {}\nhttp {\n include conf.d/*.conf;\n include snip;\n}\n",
        );
        write(
            t.path(),
            "etc/nginx/conf.d/b.conf",
            "server { include snip; }",
        );
        write(
            t.path(),
            "etc/nginx/conf.d/a.conf",
            "server { include snip; listen 81; }\n",
        );
        write(t.path(), "etc/nginx/snip", "root /srv;\n");
        let root = SysRoot::new(t.path());
        let files = load_files(&root, Path::new("/etc/nginx/nginx.conf")).unwrap();
        let mut dump = Vec::new();
        for (p, body) in [
            (
                "/etc/nginx/nginx.conf",
                "events {}\nhttp {\n include conf.d/*.conf;\n include snip;\n}\n",
            ),
            (
                "/etc/nginx/conf.d/a.conf",
                "server { include snip; listen 81; }\n",
            ),
            ("/etc/nginx/snip", "root /srv;\n"),
            ("/etc/nginx/conf.d/b.conf", "server { include snip; }"),
        ] {
            dump.extend_from_slice(format!("# configuration file {p}:\n{body}\n").as_bytes());
        }
        let from_dump = load_dump(&SysRoot::live(), &dump, "-").unwrap();
        assert_eq!(flat(&from_dump), flat(&files));
        assert!(from_dump.diagnostics.is_empty(), "{:?}", errors(&from_dump));
        assert!(matches!(
            load_dump(&root, b"http {}", "x"),
            Err(LoadError::NotADump { .. })
        ));
    }

    /// Sections parsed once and loaded under more sections give what the whole dump gives:
    /// the tree, the include links, every diagnostic (of the first sections, of the later ones,
    /// and of includes between them), and a repeated path's first section wins.
    #[test]
    fn sections_parsed_once_load_as_the_whole_dump() {
        let head = "# configuration file /etc/nginx/nginx.conf:\nuser www-data;\nevents {}\nhttp {\n include conf.d/*.conf;\n include sites/*;\n include missing.conf;\n}\n\n# configuration file /etc/nginx/conf.d/a.conf:\nmap $a $b { default 1; }\nroot /srv;\nlisten 80;\n\n# configuration file /etc/nginx/snip:\nlocation /s/ { alias /srv/s/; }\n\n";
        let rests = [
            "# configuration file /etc/nginx/sites/one:\nserver { listen 80; server_name one; include snip; location /m/ { alias /srv/m; } }\n\n",
            "# configuration file /etc/nginx/sites/b:\nserver { listen 80; include snip; location /m/ { } location /m/ { } }\n\n# configuration file /etc/nginx/sites/a:\nserver { server_name a; unknown_directive x; include ../snip; }\n\n",
            // A repeat of a first section (ignored), and one of its own.
            "# configuration file /etc/nginx/snip:\nlocation /other/ { }\n\n# configuration file /etc/nginx/sites/c:\nserver {\n",
            "",
        ];
        let first = ParsedSections::parse(head.as_bytes()).unwrap();
        for rest in rests {
            let whole = format!("{head}{rest}");
            let want = load_dump(&SysRoot::live(), whole.as_bytes(), "-").unwrap();
            let got = load_dump_after(&first, rest.as_bytes());
            assert_eq!(flat(&got), flat(&want), "{rest}");
            assert_eq!(errors(&got), errors(&want), "{rest}");
            assert!(!errors(&want).is_empty());
            let files = |c: &Config| c.files.iter().map(|f| f.path.clone()).collect::<Vec<_>>();
            assert_eq!(files(&got), files(&want));
            assert_eq!(
                (got.main, got.kind, &got.conf_dir),
                (want.main, want.kind, &want.conf_dir)
            );
            assert_eq!(got.servers().len(), want.servers().len());
        }
        assert!(ParsedSections::parse(b"http {}").is_none());
    }

    #[test]
    fn lexical_normal_copies_only_what_is_normal_already() {
        let rebuilt = |p: &str| {
            let mut out = PathBuf::new();
            for c in Path::new(p).components() {
                if c != Component::CurDir {
                    out.push(c.as_os_str());
                }
            }
            out
        };
        for p in [
            "/etc/nginx/nginx.conf",
            "/",
            "",
            ".",
            "./a",
            "a/.",
            "a/./b",
            "a//b",
            "//a",
            "/a/",
            "a/../b",
            "a/.b/..c",
            "/etc/nginx/./sites/",
            "rel/x.conf",
        ] {
            assert_eq!(lexical_normal(Path::new(p)), rebuilt(p), "{p:?}");
        }
    }

    #[test]
    fn dump_globs_match_as_glob3_does() {
        let mut dump = Vec::new();
        for (p, body) in [
            (
                "/e/nginx.conf",
                "http { include s/*; include s/*.conf; include */x.conf; }",
            ),
            ("/e/s/b.conf", "b;"),
            ("/e/s/.hidden", "hidden;"),
            ("/e/s/sub/c.conf", "c;"),
            ("/e/s/a", "a;"),
            ("/e/t/x.conf", "x;"),
            ("/e/s-x", "sx;"),
        ] {
            dump.extend_from_slice(format!("# configuration file {p}:\n{body}\n").as_bytes());
        }
        let cfg = load_dump(&SysRoot::live(), &dump, "-").unwrap();
        let names: Vec<_> = cfg
            .top()
            .next()
            .unwrap()
            .children()
            .map(|d| d.name())
            .collect();
        assert_eq!(names, ["a", "b", "b", "x"]);
    }

    #[test]
    fn a_repeated_dump_section_is_read_once_and_the_first_wins() {
        let mut dump = Vec::new();
        for (p, body) in [
            ("/etc/nginx/nginx.conf", "http { include /etc/nginx/s/*; }"),
            ("/etc/nginx/s/b", "server { listen 2; }"),
            ("/etc/nginx/s/a", "server { listen 1; }"),
            ("/etc/nginx/s/b", "server { listen 3; }"),
            ("/etc/nginx/nginx.conf", "wrong;"),
        ] {
            dump.extend_from_slice(format!("# configuration file {p}:\n{body}\n").as_bytes());
        }
        let cfg = load_dump(&SysRoot::live(), &dump, "-").unwrap();
        assert_eq!(cfg.files.len(), 3);
        assert!(cfg.diagnostics.is_empty(), "{:?}", errors(&cfg));
        let listens: Vec<_> = cfg
            .servers()
            .iter()
            .map(|s| s.find("listen").unwrap().arg(0).unwrap())
            .collect();
        assert_eq!(listens, ["1", "2"]);
    }

    #[test]
    fn appending_in_steps_keeps_every_element_in_order() {
        for (ours, theirs) in [
            (0usize, 0usize),
            (3, 0),
            (0, 5),
            (7, 300_000),
            (300_001, 262_145),
        ] {
            let mut to: Vec<u64> = (0..ours as u64).collect();
            let from: Vec<u32> = (0..theirs as u32).collect();
            append_freeing(&mut to, from, |x| u64::from(x) * 3);
            assert_eq!(to.len(), ours + theirs);
            assert!(to[..ours].iter().enumerate().all(|(i, &x)| x == i as u64));
            assert!(to[ours..]
                .iter()
                .enumerate()
                .all(|(i, &x)| x == i as u64 * 3));
        }
    }

    #[test]
    fn problems_past_the_caps_are_counted_and_the_first_error_kept() {
        use crate::nginx::Omitted;
        let t = tempfile::tempdir().unwrap();
        let root = SysRoot::new(t.path());
        // A fragment: 30 missing includes (warnings), then an error (nginx -t's).
        let mut site = String::from("server {\n listen 80;\n");
        for i in 0..30 {
            site += &format!(" include /nowhere/{i}.conf;\n");
        }
        site += " location /m/ { server { } }\n}\n";
        write(t.path(), "etc/nginx/sites-enabled/a", &site);
        let cfg = load_files(&root, Path::new("/etc/nginx/sites-enabled/a")).unwrap();
        let e = errors(&cfg);
        assert_eq!(e.len(), 21, "{e:?}");
        assert!(e[..20].iter().all(|m| m.starts_with("warning: ")), "{e:?}");
        assert!(!e[20].starts_with("warning: "), "{e:?}");
        assert!(e[20].contains(":33:"), "{e:?}");
        let o = &cfg.omitted;
        assert_eq!(o.len(), 1, "{o:?}");
        assert_eq!((o[0].count, o[0].fatal, o[0].line), (10, 0, 23), "{o:?}");
        assert_eq!(cfg.fatal_count(), 1);

        // One file of 30 stray `;` (the parser lists 20), eleven of 12: 100 listed in all, in
        // reading order; the rest counted by file, then the files none of whose is listed.
        let d = t.path().join("m");
        write(
            &d,
            "nginx.conf",
            "events {}\nhttp {\n include inc/*.conf;\n}\n",
        );
        write(&d, "inc/00.conf", &";\n".repeat(30));
        for i in 1..12 {
            write(&d, &format!("inc/{i:02}.conf"), &";\n".repeat(12));
        }
        let cfg = load_files(&SysRoot::new(&d), Path::new("/nginx.conf")).unwrap();
        assert_eq!(cfg.diagnostics.len(), 100);
        assert!(cfg.diagnostics[0].file.ends_with("inc/00.conf"));
        assert!(cfg.diagnostics[99].file.ends_with("inc/07.conf"));
        let brief: Vec<(Option<String>, u32, u64, u64, u64)> = cfg
            .omitted
            .iter()
            .map(|o: &Omitted| {
                let file = o.file.as_ref().map(|f| f.display().to_string());
                (file, o.line, o.count, o.fatal, o.files)
            })
            .collect();
        assert_eq!(
            brief,
            [
                (Some("/inc/00.conf".into()), 21, 10, 10, 1),
                (Some("/inc/07.conf".into()), 9, 4, 4, 1),
                (None, 0, 48, 48, 4),
            ]
        );
        assert_eq!(cfg.fatal_count(), 30 + 11 * 12);
    }
}
