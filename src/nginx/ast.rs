//! The loaded nginx configuration: every file parsed once, held in one arena, read through
//! `Directive` handles.
//!
//! Why an arena: the 10,000-site bench config has ~1M directives and the budget is 4x the input
//! bytes of memory, which rules out a heap `String` per argument. All argument text lives in one
//! `String`; directives are fixed-size nodes; a block's children are a contiguous range.
//!
//! Includes are kept as links, not copies: an `include` node lists the files it matched, and
//! `children()` expands them transparently, so a snippet included by 1,000 servers is parsed once
//! and every directive still knows its own file and line. The loader guarantees the include graph
//! is acyclic (a cycle is reported and not linked), so expansion always terminates.

use super::context::{self, NameId};
use crate::report::Location;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// Deeper than any real config (nginx's own are under 10), shallow enough for recursive readers.
pub const MAX_DEPTH: usize = 200;

/// Problems listed per file (`Config::diagnostics`); the rest of a file's are counted
/// (`Config::omitted`). A real config has a handful; a file of 500,000 `{` has 500,000, and
/// `nginx -t` names only the first.
pub const MAX_DIAGNOSTICS_PER_FILE: usize = 20;

/// Problems listed in all; the rest are counted.
pub const MAX_DIAGNOSTICS: usize = 100;

pub type FileId = u32;
pub type NodeId = u32;

/// How the entry file was understood: a full nginx.conf, or a fragment whose context was inferred.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConfigKind {
    /// A main config (has `http {}`/`events {}` or main-only directives at the top).
    Main,
    /// A bare site file: `server {}` blocks (and http-level directives) at the top, as in sites-available/.
    HttpFragment,
    /// A snippet: bare `location {}` blocks and server-level directives, as in snippets/.
    ServerFragment,
}

#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The path as the system sees it (under `--root` this is the path inside the root, e.g. /etc/nginx/nginx.conf).
    pub path: PathBuf,
    /// Top-level directives of this file: a range into `Config::children`.
    pub top: Range<u32>,
}

/// One directive node. Internal layout; use `Directive` to read it.
///
/// 20 bytes: the 50 MB bench config has 1.8M of these, and the memory budget is 4x the input.
/// A known name is its `NameId` alone (nginx's own names are most directives' names); any other
/// name is the first of the node's words, before its arguments; where a node's words end is
/// where the next node's begin (4 bytes a node less than a range). `kids` is either the block's
/// children or, for an `include`, `kids.start` is its set of files in `Config::include_sets`
/// (an include has no block). What is not here is in `Config`: the node's file (`file_runs`)
/// and a column past `Node::WIDE` (`wide_columns`).
#[derive(Debug, Clone)]
pub(crate) struct Node {
    /// The node's first word in `Config::words` (the name's when not known, then the
    /// arguments). Its words end where the next node's start (`Config::node_words`): the parser
    /// writes each node's words just before the node.
    pub first_word: u32,
    pub kids: Range<u32>, // into Config::children (block); for an include, its include set
    pub line: u32,
    /// The column, or `WIDE` when it is not below it.
    column: u16,
    /// The name (`context::NameId`, set by the parser) and, in the two high bits, `BLOCK` and
    /// `INCLUDE`.
    head: u16,
}

const _: () = assert!(std::mem::size_of::<Node>() == 20);

impl Node {
    const BLOCK: u16 = 1 << 15;
    const INCLUDE: u16 = 1 << 14;
    /// A column at or past this is kept in `Config::wide_columns`.
    const WIDE: u16 = u16::MAX;
    /// The include set of an include whose files are not linked (set 0 is always empty).
    pub const NO_FILES: u32 = 0;
    /// Link an include node to a set of `Config::include_sets`.
    pub fn link_include_set(&mut self, set: u32) {
        self.kids = set..set + 1;
    }
    #[inline]
    pub fn name(&self) -> NameId {
        self.head & !(Node::BLOCK | Node::INCLUDE)
    }
    #[inline]
    pub fn has_block(&self) -> bool {
        self.head & Node::BLOCK != 0
    }
    #[inline]
    pub fn is_include(&self) -> bool {
        self.head & Node::INCLUDE != 0
    }
}

/// What a new node is (`Config::push_node`).
pub(crate) struct NewNode {
    pub words: Range<u32>,
    pub kids: Range<u32>,
    pub file: FileId,
    pub line: u32,
    pub column: u32,
    pub name: NameId,
    pub block: bool,
    pub include: bool,
}

/// A problem found while loading: `file:line:col: message`, like `nginx -t`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostic {
    pub file: PathBuf,
    pub line: u32,
    pub column: u32,
    pub message: String,
    /// False for what nginx itself would accept or ignore (e.g. a missing include inside a fragment
    /// that we report and skip); true for what makes `nginx -t` fail.
    pub fatal: bool,
}

impl Diagnostic {
    /// The warning of a directive nginx's own modules do not have (`nginx -t` refuses it as an
    /// `unknown directive` unless a module built in or loaded provides it).
    pub fn is_unknown_directive(&self) -> bool {
        !self.fatal && self.message.starts_with("unknown directive \"")
    }
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file.display(),
            self.line,
            self.column,
            self.message
        )
    }
}

/// Problems found and not listed in `Config::diagnostics`: past `MAX_DIAGNOSTICS_PER_FILE` of one
/// file, or past `MAX_DIAGNOSTICS` in all. The first error (the one `nginx -t` reports) is
/// always listed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Omitted {
    /// The file they are in, whose first problems are listed; None: problems of files none of
    /// whose problems is listed (past `MAX_DIAGNOSTICS`).
    pub file: Option<PathBuf>,
    /// Where the first of them is, in `file` (0 when `file` is None).
    pub line: u32,
    pub column: u32,
    pub count: u64,
    /// How many of them make `nginx -t` fail.
    pub fatal: u64,
    /// How many files they are in (1 for a file's own).
    pub files: u64,
}

impl Omitted {
    pub(crate) fn new(file: Option<PathBuf>) -> Omitted {
        let far = if file.is_some() { u32::MAX } else { 0 };
        Omitted {
            file,
            line: far,
            column: far,
            count: 0,
            fatal: 0,
            files: 1,
        }
    }

    /// Count one more, at `line`:`column`, fatal or not.
    pub(crate) fn add(&mut self, line: u32, column: u32, fatal: bool) {
        self.add_many(line, column, 1, u64::from(fatal));
    }

    pub(crate) fn add_many(&mut self, line: u32, column: u32, count: u64, fatal: u64) {
        if self.file.is_some() && (line, column) < (self.line, self.column) {
            (self.line, self.column) = (line, column);
        }
        self.count += count;
        self.fatal += fatal;
    }
}

#[derive(Debug, Clone, Default)]
pub struct Config {
    pub files: Vec<SourceFile>,
    pub(crate) nodes: Vec<Node>,
    /// Each node's file: `(first node, file)` for every run of nodes of one file, in node order
    /// (a file's nodes are made together, but for the fix prover's overlay, which makes a
    /// server's anew at the end). A node's file is the one of the last run starting at or
    /// before it.
    pub(crate) file_runs: Vec<(NodeId, FileId)>,
    /// The columns at or past `Node::WIDE`, by node (in node order).
    pub(crate) wide_columns: Vec<(NodeId, u32)>,
    pub(crate) children: Vec<NodeId>,
    /// Where each word (an argument, or a name that is not known) starts in `text`: the words
    /// are written there back to back, so word i ends where word i + 1 starts (the last one at
    /// the end of the text).
    pub(crate) words: Vec<u32>,
    pub(crate) include_links: Vec<FileId>,
    /// Each include node's files: a range of `include_links`. Includes that name the same
    /// argument share one set (the bench config's 60,000 includes name 7 arguments); set
    /// `Node::NO_FILES` is empty.
    pub(crate) include_sets: Vec<Range<u32>>,
    /// Every word's text, as nginx sees it, back to back (no blanks, comments, quotes or known
    /// names: about half of the source).
    pub(crate) text: String,
    /// The one node whose words are not before the next node's: the block the fix prover's
    /// overlay replaced keeps its id but takes the words of its new text, written at the end
    /// (`overlay`); None in a config as loaded.
    pub(crate) moved_words: Option<(NodeId, Range<u32>)>,
    /// The line of the `}` that closes each `upstream` block, by node (in node order; nginx
    /// reports an empty upstream there).
    pub(crate) block_ends: Vec<(NodeId, u32)>,
    /// The entry file (files[0] by convention).
    pub main: FileId,
    pub kind: Option<ConfigKind>,
    /// Where relative `include`s resolve: the directory of the main config (nginx's conf prefix).
    pub conf_dir: PathBuf,
    /// nginx's prefix (`-p`), where relative root/alias paths resolve. Debian: /usr/share/nginx.
    pub prefix: PathBuf,
    /// The problems found, in reading order: at most `MAX_DIAGNOSTICS_PER_FILE` of a file and
    /// `MAX_DIAGNOSTICS` in all (and the first fatal one), the rest counted in `omitted`.
    pub diagnostics: Vec<Diagnostic>,
    /// The problems not listed in `diagnostics`: one entry per file that has some (in file
    /// order), then one for the files none of whose problems is listed.
    pub omitted: Vec<Omitted>,
    /// A snippet (bare `location` blocks, server-level directives) is examined as nginx would
    /// run it: included in a server. The loader wraps its top level in this `server` block,
    /// which has no line of its own in any file (it reports the snippet's first line).
    pub implicit_server: Option<NodeId>,
}

/// A read-only handle on one directive.
#[derive(Clone, Copy)]
pub struct Directive<'c> {
    cfg: &'c Config,
    id: NodeId,
}

impl std::fmt::Debug for Directive<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {:?} @{}:{}",
            self.name(),
            self.args().collect::<Vec<_>>(),
            self.file().display(),
            self.line()
        )
    }
}

impl<'c> Directive<'c> {
    fn node(&self) -> &'c Node {
        &self.cfg.nodes[self.id as usize]
    }
    pub fn id(&self) -> NodeId {
        self.id
    }
    pub fn config(&self) -> &'c Config {
        self.cfg
    }
    #[inline]
    pub fn name(&self) -> &'c str {
        let n = self.node();
        match context::known_name(n.name()) {
            Some(name) => name,
            None => {
                let words = self.cfg.node_words(self.id);
                if words.is_empty() {
                    ""
                } else {
                    self.cfg.word_str(words.start)
                }
            }
        }
    }
    /// Whether the directive is named `name`: the length first, then the bytes (no UTF-8
    /// boundary checks: every tree walk asks this of each directive it passes).
    #[inline]
    pub fn is(&self, name: &str) -> bool {
        let n = self.node();
        if let Some(known) = context::known_name(n.name()) {
            return context::same_bytes(known.as_bytes(), name.as_bytes());
        }
        let words = self.cfg.node_words(self.id);
        if words.is_empty() {
            return name.is_empty();
        }
        let r = self.cfg.word(words.start);
        (r.end - r.start) as usize == name.len()
            && self
                .cfg
                .text
                .as_bytes()
                .get(r.start as usize..r.end as usize)
                == Some(name.as_bytes())
    }
    /// Arguments as nginx sees them: quotes removed, escapes processed (`\"`, `\'`, `\\`, `\t`,
    /// `\r`, `\n`; any other `\x` is kept as written, as nginx does). Two shapes differ from the
    /// raw token list, both as nginx's own modules read them: an `if` condition is stored without
    /// its surrounding parentheses (`if ($a = b)` has args `$a`, `=`, `b`), and a
    /// `*_by_lua_block { ... }` has no block: its raw Lua body is its last argument.
    pub fn args(&self) -> impl ExactSizeIterator<Item = &'c str> + Clone + 'c {
        let cfg = self.cfg;
        self.cfg.arg_words(self.id).map(move |i| cfg.word_str(i))
    }
    pub fn arg(&self, i: usize) -> Option<&'c str> {
        let words = self.cfg.arg_words(self.id);
        let i = u32::try_from(i).ok()?.checked_add(words.start)?;
        words.contains(&i).then(|| self.cfg.word_str(i))
    }
    pub fn arg_count(&self) -> usize {
        self.cfg.arg_words(self.id).len()
    }
    pub fn has_block(&self) -> bool {
        self.node().has_block()
    }
    /// True for an `include` directive (its files are expanded by `children()`).
    pub fn is_include(&self) -> bool {
        self.node().is_include()
    }
    /// The block's directives with `include`s expanded in place (empty when there is no block).
    pub fn children(&self) -> Children<'c> {
        Children::over(self.cfg, self.block_ids())
    }
    /// The block's directives as written, `include` nodes included (for tools that show the tree).
    pub fn raw_children(&self) -> impl Iterator<Item = Directive<'c>> + 'c {
        let cfg = self.cfg;
        self.block_ids()
            .iter()
            .map(move |&id| Directive { cfg, id })
    }
    fn block_ids(&self) -> &'c [NodeId] {
        let n = self.node();
        if !n.has_block() {
            return &[];
        }
        &self.cfg.children[n.kids.start as usize..n.kids.end as usize]
    }
    /// For an `include`: the files it matched, in the order nginx reads them (a cycle or a
    /// missing file is left out and reported as a diagnostic).
    pub fn included_files(&self) -> &'c [FileId] {
        let n = self.node();
        if !n.is_include() {
            return &[];
        }
        match self.cfg.include_sets.get(n.kids.start as usize) {
            Some(set) => &self.cfg.include_links[set.start as usize..set.end as usize],
            None => &[],
        }
    }
    pub fn file_id(&self) -> FileId {
        self.cfg.file_of(self.id)
    }
    pub fn file(&self) -> &'c Path {
        &self.cfg.files[self.file_id() as usize].path
    }
    pub fn line(&self) -> u32 {
        self.node().line
    }
    pub fn column(&self) -> u32 {
        let column = self.node().column;
        if column != Node::WIDE {
            return column.into();
        }
        let wide = &self.cfg.wide_columns;
        wide.binary_search_by_key(&self.id, |&(n, _)| n)
            .map_or(column.into(), |i| wide[i].1)
    }
    pub fn location(&self) -> Location {
        Location::new(self.file().display().to_string(), self.line())
    }
    /// The first child directive with this name (includes expanded).
    pub fn find(&self, name: &str) -> Option<Directive<'c>> {
        self.children().find(|d| d.is(name))
    }
    /// For a `server` block: its names as written, every `server_name`'s arguments in order
    /// (includes expanded). The one reading of a server's names from the syntax tree.
    pub fn server_names(&self) -> impl Iterator<Item = &'c str> + 'c {
        self.children()
            .filter(|c| c.is("server_name"))
            .flat_map(|c| c.args())
    }
    /// Every directive under this block, depth first, includes expanded, with its depth (0
    /// for the block's own children): `Config::depth_first` of one block.
    pub fn descendants(&self) -> DepthFirst<'c> {
        DepthFirst {
            stack: vec![self.children()],
        }
    }
}

/// See `Config::depth_first`.
pub struct DepthFirst<'c> {
    stack: Vec<Children<'c>>,
}

impl<'c> Iterator for DepthFirst<'c> {
    type Item = (usize, Directive<'c>);
    fn next(&mut self) -> Option<(usize, Directive<'c>)> {
        loop {
            let depth = self.stack.len().checked_sub(1)?;
            let Some(d) = self.stack.last_mut()?.next() else {
                self.stack.pop();
                continue;
            };
            if d.has_block() {
                self.stack.push(d.children());
            }
            return Some((depth, d));
        }
    }
}

/// Iterates a block's directives, descending into `include`d files as nginx does.
///
/// The runs being read (the block, then each included file's top level above it) are kept in
/// place while they are few: a walk over every server of a large config asks for the children
/// of each block, and a heap stack per call was a tenth of such a walk.
pub struct Children<'c> {
    cfg: &'c Config,
    /// The run read now (the innermost include's file, or the block itself).
    cur: std::slice::Iter<'c, NodeId>,
    /// The runs below it, to go back to: `inline[..depth]`, then `spill` once that is full.
    inline: [std::slice::Iter<'c, NodeId>; INLINE_RUNS],
    depth: usize,
    spill: Vec<std::slice::Iter<'c, NodeId>>,
}

const INLINE_RUNS: usize = 4;

impl<'c> Children<'c> {
    fn over(cfg: &'c Config, ids: &'c [NodeId]) -> Children<'c> {
        const EMPTY: &[NodeId] = &[];
        Children {
            cfg,
            cur: ids.iter(),
            inline: [EMPTY.iter(), EMPTY.iter(), EMPTY.iter(), EMPTY.iter()],
            depth: 0,
            spill: Vec::new(),
        }
    }

    /// Read `run` now, and come back to the current run after it.
    fn push(&mut self, run: std::slice::Iter<'c, NodeId>) {
        let below = std::mem::replace(&mut self.cur, run);
        if self.depth < INLINE_RUNS {
            self.inline[self.depth] = below;
        } else {
            self.spill.push(below);
        }
        self.depth += 1;
    }

    /// Go back to the run below the current one; false when there is none.
    fn pop(&mut self) -> bool {
        if self.depth == 0 {
            return false;
        }
        self.depth -= 1;
        self.cur = if self.depth < INLINE_RUNS {
            std::mem::replace(&mut self.inline[self.depth], [].iter())
        } else {
            match self.spill.pop() {
                Some(run) => run,
                None => return false,
            }
        };
        true
    }
}

impl<'c> Iterator for Children<'c> {
    type Item = Directive<'c>;
    fn next(&mut self) -> Option<Directive<'c>> {
        loop {
            let Some(&id) = self.cur.next() else {
                if !self.pop() {
                    return None;
                }
                continue;
            };
            let d = Directive { cfg: self.cfg, id };
            if d.is_include() {
                // Pushed last-first so the first matched file is on top and read first.
                for &f in d.included_files().iter().rev() {
                    let r = &self.cfg.files[f as usize].top;
                    self.push(self.cfg.children[r.start as usize..r.end as usize].iter());
                }
                continue;
            }
            return Some(d);
        }
    }
}

impl Config {
    pub(crate) fn str_at(&self, r: &Range<u32>) -> &str {
        &self.text[r.start as usize..r.end as usize]
    }
    /// Add a node (the parser's, or the loader's implicit server); returns its id.
    pub(crate) fn push_node(&mut self, n: NewNode) -> NodeId {
        let id = self.nodes.len() as NodeId;
        // A node's words end where the next one's begin (`node_words`).
        debug_assert_eq!(n.words.end as usize, self.words.len());
        debug_assert!(self
            .nodes
            .last()
            .map_or(true, |p| p.first_word <= n.words.start));
        if !matches!(self.file_runs.last(), Some(&(_, f)) if f == n.file) {
            self.file_runs.push((id, n.file));
        }
        let column = match u16::try_from(n.column) {
            Ok(c) if c < Node::WIDE => c,
            _ => {
                self.wide_columns.push((id, n.column));
                Node::WIDE
            }
        };
        let flags =
            if n.block { Node::BLOCK } else { 0 } | if n.include { Node::INCLUDE } else { 0 };
        debug_assert!(n.name & (Node::BLOCK | Node::INCLUDE) == 0);
        self.nodes.push(Node {
            first_word: n.words.start,
            kids: n.kids,
            line: n.line,
            column,
            head: n.name | flags,
        });
        id
    }
    /// A node's file (see `file_runs`).
    #[inline]
    pub(crate) fn file_of(&self, id: NodeId) -> FileId {
        let i = self.file_runs.partition_point(|&(first, _)| first <= id);
        match i.checked_sub(1).and_then(|i| self.file_runs.get(i)) {
            Some(&(_, file)) => file,
            None => self.main,
        }
    }
    /// Each file's runs of nodes (see `file_runs`), in node order.
    pub(crate) fn file_runs(&self) -> impl Iterator<Item = (FileId, Range<NodeId>)> + '_ {
        let ends = self.file_runs.iter().skip(1).map(|&(first, _)| first);
        let ends = ends.chain(std::iter::once(self.nodes.len() as NodeId));
        self.file_runs
            .iter()
            .zip(ends)
            .map(|(&(first, file), end)| (file, first..end))
    }
    /// Node `id`'s words (see `Node::first_word`).
    #[inline]
    pub(crate) fn node_words(&self, id: NodeId) -> Range<u32> {
        if let Some((moved, words)) = &self.moved_words {
            if *moved == id {
                return words.clone();
            }
        }
        let start = self.nodes[id as usize].first_word;
        let end = match self.nodes.get(id as usize + 1) {
            Some(next) => next.first_word,
            None => self.words.len() as u32,
        };
        start..end
    }
    /// Node `id`'s arguments' words (the name's own word left out).
    #[inline]
    pub(crate) fn arg_words(&self, id: NodeId) -> Range<u32> {
        let words = self.node_words(id);
        if context::is_known(self.nodes[id as usize].name()) || words.is_empty() {
            words
        } else {
            words.start + 1..words.end
        }
    }
    /// Where word `i` is in `text` (see `words`).
    #[inline]
    pub(crate) fn word(&self, i: u32) -> Range<u32> {
        let start = self.words[i as usize];
        let end = match self.words.get(i as usize + 1) {
            Some(&next) => next,
            None => self.text.len() as u32,
        };
        start..end
    }
    /// Word `i`'s text.
    pub(crate) fn word_str(&self, i: u32) -> &str {
        self.str_at(&self.word(i))
    }
    /// The entry file's top-level directives, includes expanded.
    pub fn top(&self) -> Children<'_> {
        self.file_top(self.main)
    }
    /// One file's top-level directives, includes expanded.
    pub fn file_top(&self, file: FileId) -> Children<'_> {
        let r = &self.files[file as usize].top;
        Children::over(self, &self.children[r.start as usize..r.end as usize])
    }
    /// One file's top-level directives as written (`include` nodes kept).
    pub fn file_raw_top(&self, file: FileId) -> impl Iterator<Item = Directive<'_>> + '_ {
        let r = &self.files[file as usize].top;
        self.children[r.start as usize..r.end as usize]
            .iter()
            .map(move |&id| Directive { cfg: self, id })
    }
    pub fn directive(&self, id: NodeId) -> Directive<'_> {
        Directive { cfg: self, id }
    }
    /// Whether any directive of the loaded files is named `name` (every node once, no walk): a
    /// quick no before a walk that looks for it.
    pub fn any_named(&self, name: &str) -> bool {
        (0..self.nodes.len() as NodeId).any(|id| self.directive(id).is(name))
    }
    /// Which files the entry file reaches through linked includes, by file id: every loaded
    /// file, unless a cycle or the depth check unlinked the only include of one. A reader that
    /// goes through the nodes in order (each once) skips the others, and so reads what a walk
    /// from `top()` reads.
    pub(crate) fn reached_files(&self) -> Vec<bool> {
        // The include sets of each file's include nodes (one pass over the nodes), grouped by
        // file with a counting sort: `sets[at[f]..at[f + 1]]` are file f's.
        let links: Vec<(FileId, u32)> = self
            .file_runs()
            .flat_map(|(file, nodes)| {
                self.nodes[nodes.start as usize..nodes.end as usize]
                    .iter()
                    .filter(|n| n.is_include())
                    .map(move |n| (file, n.kids.start))
            })
            .collect();
        let files = self.files.len();
        let mut at = vec![0u32; files + 1];
        for &(f, _) in &links {
            if let Some(c) = at.get_mut(f as usize + 1) {
                *c += 1;
            }
        }
        for f in 0..files {
            at[f + 1] += at[f];
        }
        let mut next = at.clone();
        let mut sets = vec![0u32; at[files] as usize];
        for &(f, set) in &links {
            if let Some(i) = next.get_mut(f as usize) {
                sets[*i as usize] = set;
                *i += 1;
            }
        }
        let mut reached = vec![false; self.files.len()];
        let mut queue = Vec::new();
        if let Some(r) = reached.get_mut(self.main as usize) {
            *r = true;
            queue.push(self.main);
        }
        while let Some(file) = queue.pop() {
            let f = file as usize;
            for &set in &sets[at[f] as usize..at[f + 1] as usize] {
                let Some(set) = self.include_sets.get(set as usize) else {
                    continue;
                };
                for &t in &self.include_links[set.start as usize..set.end as usize] {
                    if let Some(r) = reached.get_mut(t as usize) {
                        if !*r {
                            *r = true;
                            queue.push(t);
                        }
                    }
                }
            }
        }
        reached
    }
    /// Every directive of the config, depth first, includes expanded, with its depth (0 for the
    /// entry file's top level): the whole tree in reading order.
    pub fn depth_first(&self) -> DepthFirst<'_> {
        DepthFirst {
            stack: vec![self.top()],
        }
    }
    /// The line of the `}` that closes an `upstream` block (None for any other directive, or
    /// when the file ended first).
    pub fn closing_line(&self, id: NodeId) -> Option<u32> {
        let i = self
            .block_ends
            .binary_search_by_key(&id, |&(n, _)| n)
            .ok()?;
        Some(self.block_ends[i].1)
    }
    pub fn has_fatal_errors(&self) -> bool {
        self.diagnostics.iter().any(|d| d.fatal)
    }
    /// How many errors (`nginx -t` fails) were found, listed or not.
    pub fn fatal_count(&self) -> u64 {
        self.diagnostics.iter().filter(|d| d.fatal).count() as u64
            + self.omitted.iter().map(|o| o.fatal).sum::<u64>()
    }
}

impl Config {
    /// The http-level `server {}` blocks, in config order (a snippet's: the implicit server the
    /// loader wraps it in).
    pub fn servers(&self) -> Vec<Directive<'_>> {
        match self.kind {
            Some(ConfigKind::Main) => self
                .top()
                .filter(|d| d.is("http"))
                .flat_map(|http| {
                    http.children()
                        .filter(|d| d.is("server"))
                        .collect::<Vec<_>>()
                })
                .collect(),
            Some(ConfigKind::HttpFragment) | Some(ConfigKind::ServerFragment) => {
                self.top().filter(|d| d.is("server")).collect()
            }
            None => Vec::new(),
        }
    }
}

impl Config {
    /// How many directive nodes were parsed (each file once; `include` nodes count).
    pub fn directive_count(&self) -> usize {
        self.nodes.len()
    }
    /// Bytes of argument text held (see `text`).
    pub fn text_len(&self) -> usize {
        self.text.len()
    }
}
