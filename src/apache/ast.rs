//! The loaded Apache configuration: every directive Apache keeps after reading (includes and
//! the true `<IfModule>`/`<IfDefine>`/`<IfVersion>`/`<IfFile>` bodies spliced in place, as
//! Apache's read-time commands do), held in one arena and read through `Directive` handles.
//!
//! Why pre-order with an `end`: the loader appends directives in reading order, so a section's
//! descendants are the nodes right after it, up to its `end`. Children are found by jumping from
//! one child to the next child's `end`: no per-section vector, which keeps a 10,000-vhost load
//! close to the cost of reading the files.

use std::ops::Range;
use std::path::{Path, PathBuf};

pub type NodeId = u32;
pub type FileId = u32;

/// Nesting deeper than this is refused (readers of the tree may recurse).
pub const MAX_DEPTH: usize = 200;

#[derive(Debug, Clone)]
pub(crate) struct Node {
    /// Into `Config::spans`: the name first, then the arguments.
    pub words: Range<u32>,
    pub file: FileId,
    pub line: u32,
    /// One past the last descendant (`id + 1` for a plain directive).
    pub end: u32,
    pub section: bool,
}

/// A problem found while loading, at `file:line`, worded like `apache2ctl -t`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostic {
    pub file: PathBuf,
    pub line: u32,
    pub message: String,
    /// True for what makes `apache2ctl -t` fail; false for its warnings (an undefined
    /// `${VAR}`) and for what we could not examine.
    pub fatal: bool,
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)
    }
}

/// How the entry file was understood.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConfigKind {
    /// apache2.conf / httpd.conf: modules, includes and the server's own settings.
    Main,
    /// A site file read alone (a `<VirtualHost>` in a repository, sites-available/x.conf):
    /// modules it tests with `<IfModule>` are taken as loaded.
    Fragment,
}

/// A module Apache loads (`LoadModule`) or has compiled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Module {
    /// `alias_module`.
    pub name: String,
    /// `mod_alias.c`, the other name `<IfModule>` accepts.
    pub source: String,
}

#[derive(Debug, Clone, Default)]
pub struct Config {
    /// Every file read, in reading order (a file included twice is read twice, as Apache does,
    /// and listed once).
    pub files: Vec<PathBuf>,
    pub(crate) nodes: Vec<Node>,
    pub(crate) spans: Vec<Range<u32>>,
    pub(crate) text: String,
    /// The top-level directives.
    pub(crate) top: Vec<NodeId>,
    pub kind: Option<ConfigKind>,
    /// Where relative paths resolve (`ServerRoot`, as it stood at the end of reading).
    pub server_root: PathBuf,
    /// Modules compiled in and loaded, in loading order.
    pub modules: Vec<Module>,
    /// `Define NAME VALUE` and the envvars file's variables, as `${NAME}` resolves them.
    pub variables: Vec<(String, String)>,
    /// Names `<IfDefine>` sees (`Define NAME`, `Define NAME VALUE`).
    pub defines: Vec<String>,
    /// The envvars file read, if any.
    pub envvars: Option<PathBuf>,
    pub diagnostics: Vec<Diagnostic>,
}

impl Config {
    pub(crate) fn str_at(&self, r: &Range<u32>) -> &str {
        &self.text[r.start as usize..r.end as usize]
    }

    /// The top-level directives, includes expanded.
    pub fn top(&self) -> impl Iterator<Item = Directive<'_>> + '_ {
        self.top.iter().map(move |&id| Directive { cfg: self, id })
    }

    pub fn directive(&self, id: NodeId) -> Directive<'_> {
        Directive { cfg: self, id }
    }

    pub fn directive_count(&self) -> usize {
        self.nodes.len()
    }

    /// Every directive, in reading order (sections before what they hold).
    pub fn all(&self) -> impl Iterator<Item = Directive<'_>> + '_ {
        (0..self.nodes.len() as u32).map(move |id| Directive { cfg: self, id })
    }

    /// The `<VirtualHost>` sections at the top level, in order (Apache's vhost list).
    pub fn virtual_hosts(&self) -> impl Iterator<Item = Directive<'_>> + '_ {
        self.top().filter(|d| d.is_section() && d.is("VirtualHost"))
    }

    /// The first fatal diagnostic: what `apache2ctl -t` would print (it stops there).
    pub fn first_error(&self) -> Option<&Diagnostic> {
        self.diagnostics.iter().find(|d| d.fatal)
    }

    pub fn has_module(&self, name: &str) -> bool {
        self.modules
            .iter()
            .any(|m| m.name == name || m.source == name)
    }

    /// `${NAME}` as Apache resolves it: a `Define`d variable, else the environment (envvars).
    pub fn variable(&self, name: &str) -> Option<&str> {
        self.variables
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// A path relative to `ServerRoot` made absolute, as `ap_server_root_relative` does.
    pub fn root_relative(&self, p: &str) -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.server_root.join(p)
        }
    }
}

/// A read-only handle on one directive or section.
#[derive(Clone, Copy)]
pub struct Directive<'c> {
    cfg: &'c Config,
    id: NodeId,
}

impl std::fmt::Debug for Directive<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}{} {:?} @{}:{}",
            if self.is_section() { "<" } else { "" },
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
    /// The name as written (`Alias`, `VirtualHost` for `<VirtualHost ...>`).
    pub fn name(&self) -> &'c str {
        let w = &self.node().words;
        self.cfg.str_at(&self.cfg.spans[w.start as usize])
    }
    /// Apache's directive names are case-insensitive.
    /// (Compared as bytes, the length first: every walk asks it of each directive it passes.)
    pub fn is(&self, name: &str) -> bool {
        let w = &self.node().words;
        let r = &self.cfg.spans[w.start as usize];
        (r.end - r.start) as usize == name.len()
            && self
                .cfg
                .text
                .as_bytes()
                .get(r.start as usize..r.end as usize)
                .is_some_and(|n| n.eq_ignore_ascii_case(name.as_bytes()))
    }
    pub fn is_section(&self) -> bool {
        self.node().section
    }
    /// The arguments: quotes removed, `\"` and `\\` unescaped, `${VAR}` substituted (a
    /// section's without its closing `>`).
    pub fn args(&self) -> impl ExactSizeIterator<Item = &'c str> + Clone + 'c {
        let cfg = self.cfg;
        let w = self.node().words.clone();
        cfg.spans[w.start as usize + 1..w.end as usize]
            .iter()
            .map(move |s| cfg.str_at(s))
    }
    pub fn arg(&self, i: usize) -> Option<&'c str> {
        self.args().nth(i)
    }
    pub fn arg_count(&self) -> usize {
        self.node().words.len() - 1
    }
    pub fn line(&self) -> u32 {
        self.node().line
    }
    pub fn file(&self) -> &'c Path {
        &self.cfg.files[self.node().file as usize]
    }
    /// The section's directives (none for a plain directive).
    pub fn children(&self) -> Children<'c> {
        let n = self.node();
        Children {
            cfg: self.cfg,
            next: self.id + 1,
            end: n.end,
        }
    }
    /// Everything inside the section, at any depth, in order.
    pub fn descendants(&self) -> impl Iterator<Item = Directive<'c>> + 'c {
        let cfg = self.cfg;
        (self.id + 1..self.node().end).map(move |id| Directive { cfg, id })
    }
    /// The last child named `name` (Apache's "last one wins" for single-valued directives).
    pub fn last(&self, name: &str) -> Option<Directive<'c>> {
        self.children().filter(|d| d.is(name)).last()
    }
}

pub struct Children<'c> {
    cfg: &'c Config,
    next: NodeId,
    end: NodeId,
}

impl<'c> Iterator for Children<'c> {
    type Item = Directive<'c>;
    fn next(&mut self) -> Option<Directive<'c>> {
        if self.next >= self.end {
            return None;
        }
        let id = self.next;
        self.next = self.cfg.nodes[id as usize].end;
        Some(Directive { cfg: self.cfg, id })
    }
}
