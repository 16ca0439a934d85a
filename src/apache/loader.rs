//! Loading an Apache httpd configuration as `httpd` reads it (server/config.c, util.c):
//!
//! - Lines: a `\` at the end of a line joins the next one (`\\` does not); leading and trailing
//!   whitespace is trimmed; a line starting with `#` is a comment (a `#` later on is not).
//! - `${NAME}` is replaced in the whole line before it is split into words, from `Define`d
//!   variables, then the environment (Debian's /etc/apache2/envvars, which apache2ctl exports);
//!   an undefined one stays as written, with Apache's warning (AH00111).
//! - Words as `ap_getword_conf`: `"..."` or `'...'` quoted (`\"`, `\\` unescaped inside),
//!   otherwise up to whitespace (`\\` unescaped).
//! - Read-time directives are done in reading order, as Apache's `EXEC_ON_READ` commands:
//!   `Include`/`IncludeOptional` (relative to `ServerRoot`; wildcards in any component, matches
//!   sorted by byte order, a leading `.` only matched by a literal `.`; a directory includes every
//!   file under it, sorted; `Include` fails on a wildcard that matches nothing, `IncludeOptional`
//!   does not), `Define`/`UnDefine`, `LoadModule`, `ServerRoot`, and the conditional sections
//!   `<IfModule>`, `<IfDefine>`, `<IfVersion>`, `<IfFile>` (`<IfDirective>`, `<IfSection>` are
//!   taken as true): a true one's body is spliced into its parent, a false one's is skipped
//!   (only its nesting is checked).
//! - Errors are worded as `apache2ctl -t` words them, at file:line. Apache stops at the first;
//!   the loader records it as fatal and goes on, so the rest can still be examined.
//!
//! Every file is read through `crate::input` (bounded, a FIFO never blocks) under `--root`; an
//! include loop is reported (Apache gives up after 128 nested includes) and not followed.

use super::ast::{Config, ConfigKind, Diagnostic, FileId, Module, Node, NodeId, MAX_DEPTH};
use crate::fnv::FnvMap;
use crate::sysroot::SysRoot;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

/// Why nothing could be loaded (exit 2). Problems inside the config are `Diagnostic`s.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read {path}: {source}")]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a regular file")]
    NotAFile { path: PathBuf },
}

/// Apache's limit on nested includes (AP_MAX_INCLUDE_DEPTH).
const MAX_INCLUDE_DEPTH: usize = 128;
/// Files read in one load, at most (an `Include /` would otherwise read the whole disk).
const MAX_FILES: usize = 200_000;
/// The version `<IfVersion>` is compared with: the 2.4 line every supported distribution ships.
pub const ASSUMED_VERSION: (u32, u32, u32) = (2, 4, 62);

/// Modules compiled into Debian's and RHEL's httpd (`apache2 -l`).
const STATIC_MODULES: &[(&str, &str)] = &[
    ("core_module", "core.c"),
    ("so_module", "mod_so.c"),
    ("watchdog_module", "mod_watchdog.c"),
    ("http_module", "http_core.c"),
    ("log_config_module", "mod_log_config.c"),
    ("logio_module", "mod_logio.c"),
    ("version_module", "mod_version.c"),
    ("unixd_module", "mod_unixd.c"),
];

/// Where Apache's main configuration usually is, Debian first.
pub const MAIN_CANDIDATES: &[&str] = &[
    "/etc/apache2/apache2.conf",
    "/etc/httpd/conf/httpd.conf",
    "/usr/local/apache2/conf/httpd.conf",
    "/usr/local/etc/apache24/httpd.conf",
];

/// The first main configuration that exists under `root`.
pub fn find_main(root: &SysRoot) -> Option<PathBuf> {
    MAIN_CANDIDATES
        .iter()
        .map(PathBuf::from)
        .find(|p| root.is_file(p))
}

/// Load the configuration whose entry file is `entry` (a system path read under `root`).
pub fn load_files(root: &SysRoot, entry: &Path) -> Result<Config, LoadError> {
    let entry = lexical_normal(entry);
    let source = Source::Disk(root.clone());
    let bytes = source.read(&entry).map_err(|e| match e {
        ReadError::Io(source) => LoadError::Unreadable {
            path: entry.clone(),
            source,
        },
        ReadError::NotAFile => LoadError::NotAFile {
            path: entry.clone(),
        },
    })?;
    Ok(Loader::new(source).run(&entry, bytes))
}

/// Load from files held in memory (system path → bytes): a fix applied to a copy, the fuzzer.
/// Includes and `<IfFile>` see only these files.
pub fn load_memory(files: BTreeMap<PathBuf, Vec<u8>>, entry: &Path) -> Result<Config, LoadError> {
    let entry = lexical_normal(entry);
    let source = Source::Memory(files);
    let bytes = source.read(&entry).map_err(|_| LoadError::NotAFile {
        path: entry.clone(),
    })?;
    Ok(Loader::new(source).run(&entry, bytes))
}

enum Source {
    Disk(SysRoot),
    Memory(BTreeMap<PathBuf, Vec<u8>>),
}

enum ReadError {
    Io(std::io::Error),
    NotAFile,
}

enum Kind {
    File,
    Dir,
    Other,
}

impl Source {
    fn read(&self, path: &Path) -> Result<Vec<u8>, ReadError> {
        match self {
            Source::Disk(root) => {
                use crate::input::{open, read_stream, Opened};
                let host = root.resolve(path).map_err(ReadError::Io)?;
                match open(&host).map_err(ReadError::Io)? {
                    Opened::File(f, meta) if meta.is_file() => {
                        let mut buf = Vec::with_capacity(meta.len() as usize + 1);
                        read_stream(f, &mut buf).map_err(ReadError::Io)?;
                        Ok(buf)
                    }
                    _ => Err(ReadError::NotAFile),
                }
            }
            Source::Memory(m) => m
                .get(path)
                .cloned()
                .ok_or_else(|| ReadError::Io(std::io::Error::from(std::io::ErrorKind::NotFound))),
        }
    }

    /// What `path` is (symlinks followed), None when it does not exist.
    fn kind(&self, path: &Path) -> Option<Kind> {
        match self {
            Source::Disk(root) => {
                let m = std::fs::metadata(root.resolve(path).ok()?).ok()?;
                Some(if m.is_dir() {
                    Kind::Dir
                } else if m.is_file() {
                    Kind::File
                } else {
                    Kind::Other
                })
            }
            Source::Memory(m) => {
                if m.contains_key(path) {
                    return Some(Kind::File);
                }
                let dir = path.as_os_str().as_encoded_bytes();
                m.range(path.to_path_buf()..)
                    .next()
                    .filter(|(k, _)| {
                        let k = k.as_os_str().as_encoded_bytes();
                        k.starts_with(dir) && (dir == b"/" || k.get(dir.len()) == Some(&b'/'))
                    })
                    .map(|_| Kind::Dir)
            }
        }
    }

    /// The names in directory `dir` (with whether each is a directory, symlinks not followed),
    /// or the error of opening it.
    fn list(&self, dir: &Path) -> std::io::Result<Vec<(std::ffi::OsString, bool)>> {
        match self {
            Source::Disk(root) => {
                let host = root.resolve(dir)?;
                let mut out = Vec::new();
                for e in std::fs::read_dir(host)?.flatten() {
                    let is_dir = e.file_type().is_ok_and(|t| t.is_dir());
                    out.push((e.file_name(), is_dir));
                }
                Ok(out)
            }
            Source::Memory(m) => {
                let mut out: Vec<(std::ffi::OsString, bool)> = Vec::new();
                for k in m.keys() {
                    let Ok(rest) = k.strip_prefix(dir) else {
                        continue;
                    };
                    let mut comps = rest.components();
                    if let Some(Component::Normal(first)) = comps.next() {
                        let is_dir = comps.next().is_some();
                        if out.last().map(|(n, _)| n.as_os_str()) != Some(first) {
                            out.push((first.to_os_string(), is_dir));
                        }
                    }
                }
                if out.is_empty() && !m.is_empty() && self.kind(dir).is_none() {
                    return Err(std::io::Error::from(std::io::ErrorKind::NotFound));
                }
                Ok(out)
            }
        }
    }
}

/// A frame of the section stack of the file being read.
enum Frame {
    /// A section kept in the tree.
    Section { id: NodeId, name: String },
    /// A true conditional: its body goes to the parent.
    Cond { name: String, line: u32 },
}

struct Loader {
    cfg: Config,
    source: Source,
    /// Files being read, outermost first (include loop detection).
    reading: Vec<PathBuf>,
    ids: FnvMap<PathBuf, FileId>,
    /// Sections open around the include being read (in its includer files).
    outer_depth: usize,
    files_read: usize,
    /// The environment `${VAR}` falls back to (envvars).
    env: FnvMap<String, String>,
    /// `Define`d variables.
    vars: FnvMap<String, String>,
    /// Each undefined variable is warned about once.
    undefined_warned: Vec<String>,
}

/// An error that stops reading the current file (Apache stops reading altogether).
struct Stop;

impl Loader {
    fn new(source: Source) -> Loader {
        let cfg = Config {
            modules: STATIC_MODULES
                .iter()
                .map(|(n, s)| Module {
                    name: n.to_string(),
                    source: s.to_string(),
                })
                .collect(),
            ..Config::default()
        };
        Loader {
            cfg,
            source,
            reading: Vec::new(),
            ids: FnvMap::default(),
            outer_depth: 0,
            files_read: 0,
            env: FnvMap::default(),
            vars: FnvMap::default(),
            undefined_warned: Vec::new(),
        }
    }

    fn run(mut self, entry: &Path, bytes: Vec<u8>) -> Config {
        let kind = infer_kind(&bytes, entry);
        self.cfg.kind = Some(kind);
        let dir = parent(entry);
        // httpd's compiled-in ServerRoot is where its config lives: /etc/apache2 on Debian,
        // /etc/httpd on RHEL (whose httpd.conf is in conf/ and says ServerRoot anyway).
        self.cfg.server_root = match kind {
            ConfigKind::Main if dir.file_name().is_some_and(|n| n == "conf") => parent(&dir),
            ConfigKind::Main => dir.clone(),
            ConfigKind::Fragment => {
                let etc = Path::new("/etc/apache2");
                match self.source.kind(etc) {
                    Some(Kind::Dir) if !entry.starts_with(&dir) || entry.starts_with(etc) => {
                        etc.to_path_buf()
                    }
                    _ => dir.clone(),
                }
            }
        };
        if kind == ConfigKind::Main {
            self.read_envvars(&dir.join("envvars"));
        }
        self.read_file(entry, bytes);
        // The environment first, `Define`s after: `Config::variable` takes the last.
        let mut env: Vec<(String, String)> = self.env.drain().collect();
        env.sort();
        let mut vars: Vec<(String, String)> = self.vars.drain().collect();
        vars.sort();
        self.cfg.variables = env.into_iter().chain(vars).collect();
        self.cfg.text.shrink_to_fit();
        self.cfg
    }

    /// Debian's envvars: the `NAME=value` assignments at its top level (inside `if`/`case`
    /// only what apache2ctl computes for the default instance: nothing, SUFFIX stays empty).
    fn read_envvars(&mut self, path: &Path) {
        let Ok(bytes) = self.source.read(path) else {
            return;
        };
        self.cfg.envvars = Some(path.to_path_buf());
        let text = String::from_utf8_lossy(&bytes);
        let mut depth = 0usize;
        for line in text.lines() {
            let line = line.trim();
            let first = line.split_whitespace().next().unwrap_or("");
            match first {
                "if" | "case" | "while" | "for" => depth += 1,
                "fi" | "esac" | "done" => depth = depth.saturating_sub(1),
                _ => {}
            }
            if depth > 0 || line.starts_with('#') {
                continue;
            }
            let assignment = line.strip_prefix("export ").unwrap_or(line).trim();
            let Some((name, value)) = assignment.split_once('=') else {
                continue;
            };
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                continue;
            }
            let value = shell_value(value, &self.env);
            self.env.insert(name.to_string(), value);
        }
    }

    fn file_id(&mut self, path: &Path) -> FileId {
        if let Some(&id) = self.ids.get(path) {
            return id;
        }
        let id = self.cfg.files.len() as FileId;
        self.cfg.files.push(path.to_path_buf());
        self.ids.insert(path.to_path_buf(), id);
        id
    }

    fn diag(&mut self, file: FileId, line: u32, message: String, fatal: bool) {
        self.cfg.diagnostics.push(Diagnostic {
            file: self.cfg.files[file as usize].clone(),
            line,
            message,
            fatal,
        });
    }

    fn lookup(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .or_else(|| self.env.get(name))
            .map(String::as_str)
    }

    /// `ap_resolve_env`: `${NAME}` replaced; undefined ones kept and warned about.
    fn substitute<'a>(&mut self, line: &'a str, file: FileId, no: u32) -> Cow<'a, str> {
        // A `$` then its `{`, not `str::contains("${")`: every line of the config is asked,
        // and the substring searcher cost more to set up than the lines are long.
        let var = |s: &str| {
            let b = s.as_bytes();
            let mut from = 0;
            while let Some(p) = memchr::memchr(b'$', &b[from..]) {
                if b.get(from + p + 1) == Some(&b'{') {
                    return Some(from + p);
                }
                from += p + 1;
            }
            None
        };
        if var(line).is_none() {
            return Cow::Borrowed(line);
        }
        let mut out = String::with_capacity(line.len());
        let mut rest = line;
        while let Some(i) = var(rest) {
            out.push_str(&rest[..i]);
            let after = &rest[i + 2..];
            let Some(j) = after.find('}') else {
                out.push_str(&rest[i..]);
                rest = "";
                break;
            };
            let name = &after[..j];
            match self.lookup(name) {
                Some(v) => out.push_str(v),
                None => {
                    out.push_str(&rest[i..i + 3 + j]);
                    if !self.undefined_warned.iter().any(|n| n == name) {
                        self.undefined_warned.push(name.to_string());
                        self.diag(
                            file,
                            no,
                            format!("AH00111: Config variable ${{{name}}} is not defined"),
                            false,
                        );
                    }
                }
            }
            rest = &after[j + 1..];
        }
        out.push_str(rest);
        Cow::Owned(out)
    }

    /// Push a node with these words; returns its id.
    fn push_node(
        &mut self,
        name: &str,
        words: &[Cow<'_, str>],
        file: FileId,
        line: u32,
        section: bool,
    ) -> NodeId {
        let id = self.cfg.nodes.len() as NodeId;
        let start = self.cfg.spans.len() as u32;
        for w in std::iter::once(name).chain(words.iter().map(|w| w.as_ref())) {
            let s = self.cfg.text.len() as u32;
            self.cfg.text.push_str(w);
            self.cfg.spans.push(s..self.cfg.text.len() as u32);
        }
        self.cfg.nodes.push(Node {
            words: start..self.cfg.spans.len() as u32,
            file,
            line,
            end: id + 1,
            section,
        });
        id
    }

    /// Read one file and everything it includes, appending to the tree.
    fn read_file(&mut self, path: &Path, bytes: Vec<u8>) {
        let file = self.file_id(path);
        self.files_read += 1;
        self.reading.push(path.to_path_buf());
        let text: Cow<'_, str> = match std::str::from_utf8(&bytes) {
            Ok(s) => Cow::Borrowed(s),
            Err(e) => {
                let line = 1 + bytes[..e.valid_up_to()]
                    .iter()
                    .filter(|&&b| b == b'\n')
                    .count();
                self.diag(
                    file,
                    line as u32,
                    "bytes that are not UTF-8 are shown as U+FFFD: a path or name holding them will not match the disk".into(),
                    false,
                );
                String::from_utf8_lossy(&bytes)
            }
        };
        let _ = self.read_text(&text, file);
        self.reading.pop();
    }

    fn read_text(&mut self, text: &str, file: FileId) -> Result<(), Stop> {
        let mut frames: Vec<Frame> = Vec::new();
        // A false conditional being skipped: the names of the sections open inside it.
        let mut soak: Vec<String> = Vec::new();
        let mut soak_line = 0;
        let mut lines = Lines::new(text);
        while let Some((no, raw)) = lines.next_logical() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if !soak.is_empty() {
                // ap_soak_end_container: no variables, only the nesting.
                let mut rest = line;
                let cmd = getword(&mut rest);
                if let Some(closing) = cmd.strip_prefix("</") {
                    let name = strip_last(closing);
                    let open = soak.pop().unwrap_or_default();
                    if !name.eq_ignore_ascii_case(&open) {
                        // Reported at the conditional that was being skipped.
                        self.diag(
                            file,
                            soak_line,
                            format!("Expected </{open}> but saw </{name}>"),
                            true,
                        );
                    }
                } else if let Some(opening) = cmd.strip_prefix('<') {
                    soak.push(opening.trim_end_matches('>').to_string());
                }
                continue;
            }
            let line = self.substitute(line, file, no);
            let mut rest: &str = &line;
            let cmd = getword(&mut rest);
            if cmd.is_empty() {
                continue;
            }
            if let Some(closing) = cmd.strip_prefix("</") {
                let Some(frame) = frames.pop() else {
                    self.diag(
                        file,
                        no,
                        format!("{cmd} without matching <{closing} section"),
                        true,
                    );
                    continue;
                };
                if !closing.ends_with('>') {
                    self.diag(
                        file,
                        no,
                        format!("{cmd}> directive missing closing '>'"),
                        true,
                    );
                }
                let name = closing.trim_end_matches('>');
                let (open, id) = match &frame {
                    Frame::Section { id, name } => (name.as_str(), Some(*id)),
                    Frame::Cond { name, .. } => (name.as_str(), None),
                };
                if !name.eq_ignore_ascii_case(open) {
                    self.diag(
                        file,
                        no,
                        format!("Expected </{open}> but saw </{name}>"),
                        true,
                    );
                }
                if let Some(id) = id {
                    self.cfg.nodes[id as usize].end = self.cfg.nodes.len() as NodeId;
                }
                continue;
            }
            if let Some(opening) = cmd.strip_prefix('<') {
                let bare = opening.trim_end_matches('>');
                let name = bare.to_string();
                let args_text = rest.trim_end();
                let args_text = match args_text.strip_suffix('>') {
                    Some(a) => a,
                    None if opening.ends_with('>') && args_text.is_empty() => "",
                    None => {
                        self.diag(
                            file,
                            no,
                            format!("<{name}> directive missing closing '>'"),
                            true,
                        );
                        args_text
                    }
                };
                let words = split_words(args_text);
                if let Some(truth) = self.condition(&name, &words, file, no) {
                    if truth {
                        frames.push(Frame::Cond { name, line: no });
                    } else {
                        soak.push(name);
                        soak_line = no;
                    }
                    continue;
                }
                let depth = self.outer_depth
                    + frames
                        .iter()
                        .filter(|f| matches!(f, Frame::Section { .. }))
                        .count();
                if depth >= MAX_DEPTH {
                    self.diag(
                        file,
                        no,
                        format!("<{name}> nested more than {MAX_DEPTH} deep: not read"),
                        true,
                    );
                    return Err(Stop);
                }
                let id = self.push_node(&name, &words, file, no, true);
                if depth == 0 {
                    self.cfg.top.push(id);
                }
                frames.push(Frame::Section { id, name });
                continue;
            }
            let words = split_words(rest);
            let depth = self.outer_depth
                + frames
                    .iter()
                    .filter(|f| matches!(f, Frame::Section { .. }))
                    .count();
            let id = self.push_node(cmd.as_ref(), &words, file, no, false);
            if depth == 0 {
                self.cfg.top.push(id);
            }
            self.read_time(&cmd, &words, file, no, depth)?;
        }
        if let Some(open) = soak.first() {
            self.diag(
                file,
                soak_line,
                format!("Expected </{open}> before end of configuration"),
                true,
            );
        }
        // Sections left open: Apache fails; they end with the file here.
        let end = self.cfg.nodes.len() as NodeId;
        for f in frames.into_iter().rev() {
            match f {
                Frame::Section { id, name } => {
                    self.cfg.nodes[id as usize].end = end;
                    let line = self.cfg.nodes[id as usize].line;
                    self.diag(file, line, format!("<{name}> was not closed."), true);
                }
                // `ap_build_cont_config` takes the end of the file as the end of the body.
                Frame::Cond { name, line } => {
                    self.diag(
                        file,
                        line,
                        format!(
                            "<{name}> is not closed before the end of the file (Apache accepts it)"
                        ),
                        false,
                    );
                }
            }
        }
        Ok(())
    }

    /// A conditional section's truth, or None when `name` is not one.
    fn condition(
        &mut self,
        name: &str,
        words: &[Cow<'_, str>],
        file: FileId,
        no: u32,
    ) -> Option<bool> {
        const CONDITIONS: [&str; 6] = [
            "ifmodule",
            "ifdefine",
            "ifversion",
            "iffile",
            "ifdirective",
            "ifsection",
        ];
        if !CONDITIONS.iter().any(|n| n.eq_ignore_ascii_case(name)) {
            return None;
        }
        let lower = name.to_ascii_lowercase();
        let Some(first) = words.first() else {
            self.diag(
                file,
                no,
                format!("<{name}> directive requires additional arguments"),
                true,
            );
            return Some(false);
        };
        let (negate, arg) = match first.strip_prefix('!') {
            Some(a) => (true, a),
            None => (false, first.as_ref()),
        };
        let truth = match lower.as_str() {
            "ifmodule" => match self.cfg.kind {
                // A site file read alone: the server it goes to loads what it tests.
                Some(ConfigKind::Fragment) => true,
                _ => self.cfg.has_module(arg),
            },
            "ifdefine" => self.cfg.defines.iter().any(|d| d == arg),
            "iffile" => {
                let p = self.cfg.root_relative(arg);
                self.source.kind(&p).is_some()
            }
            "ifversion" => return Some(if_version(words)),
            _ => true,
        };
        Some(truth != negate)
    }

    /// The directives Apache carries out while reading.
    fn read_time(
        &mut self,
        cmd: &str,
        words: &[Cow<'_, str>],
        file: FileId,
        no: u32,
        depth: usize,
    ) -> Result<(), Stop> {
        // Most directives are none of these: told apart without a lowercase copy of each.
        const READ_TIME: [&str; 6] = [
            "include",
            "includeoptional",
            "define",
            "undefine",
            "loadmodule",
            "serverroot",
        ];
        if !READ_TIME.iter().any(|n| n.eq_ignore_ascii_case(cmd)) {
            return Ok(());
        }
        let lower = cmd.to_ascii_lowercase();
        match lower.as_str() {
            "include" | "includeoptional" => {
                let optional = lower == "includeoptional";
                let Some(arg) = words.first() else {
                    self.diag(
                        file,
                        no,
                        format!("{cmd} takes one argument, Name of the config file to be included"),
                        true,
                    );
                    return Ok(());
                };
                let path = lexical_normal(&self.cfg.root_relative(arg));
                let saved = self.outer_depth;
                self.outer_depth = depth;
                let r = self.include(&path, optional, file, no);
                self.outer_depth = saved;
                r
            }
            "define" => {
                match words {
                    [name, rest @ ..] if !name.contains(':') => {
                        if !self.cfg.defines.iter().any(|d| d == name.as_ref()) {
                            self.cfg.defines.push(name.to_string());
                        }
                        if let Some(v) = rest.first() {
                            self.vars.insert(name.to_string(), v.to_string());
                        }
                    }
                    [_, ..] => {
                        self.diag(file, no, "Variable name must not contain ':'".into(), true)
                    }
                    [] => self.diag(file, no, "Define takes one or two arguments".into(), true),
                }
                Ok(())
            }
            "undefine" => {
                if let Some(name) = words.first() {
                    self.cfg.defines.retain(|d| d != name.as_ref());
                    self.vars.remove(name.as_ref());
                }
                Ok(())
            }
            "loadmodule" => {
                let [name, path, ..] = words else {
                    self.diag(file, no, "LoadModule takes two arguments, a module name and the name of a shared object file to load it from".into(), true);
                    return Ok(());
                };
                if self.cfg.modules.iter().any(|m| m.name == name.as_ref()) {
                    self.diag(
                        file,
                        no,
                        format!("AH01574: module {name} is already loaded, skipping"),
                        false,
                    );
                    return Ok(());
                }
                let stem = Path::new(path.as_ref())
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
                self.cfg.modules.push(Module {
                    name: name.to_string(),
                    source: format!("{stem}.c"),
                });
                Ok(())
            }
            "serverroot" => {
                if let Some(dir) = words.first() {
                    let p = lexical_normal(Path::new(dir.as_ref()));
                    if !matches!(self.source.kind(&p), Some(Kind::Dir)) {
                        self.diag(
                            file,
                            no,
                            "ServerRoot must be a valid directory".into(),
                            true,
                        );
                    }
                    self.cfg.server_root = p;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn include(&mut self, path: &Path, optional: bool, file: FileId, no: u32) -> Result<(), Stop> {
        if self.reading.len() >= MAX_INCLUDE_DEPTH {
            self.diag(file, no, format!("Exceeded the maximum include directory nesting level of {MAX_INCLUDE_DEPTH}. You have probably a recursion somewhere."), true);
            return Err(Stop);
        }
        let has_wild = |s: &[u8]| s.iter().any(|b| b"*?[".contains(b));
        let bytes = path.as_os_str().as_encoded_bytes();
        let mut files = Vec::new();
        let result = if has_wild(bytes) {
            self.expand_glob(path, optional, &mut files)
        } else {
            match self.source.kind(path) {
                None if optional => Ok(()),
                None => Err(format!(
                    "Could not open configuration file {}: No such file or directory",
                    path.display()
                )),
                Some(_) => self.expand_dir(path, 0, &mut files),
            }
        };
        if let Err(message) = result {
            self.diag(file, no, message, true);
        }
        for f in files {
            if self.reading.contains(&f) {
                self.diag(file, no, format!("{} includes itself (through {}): Apache stops with \"Exceeded the maximum include directory nesting level of {MAX_INCLUDE_DEPTH}\"", f.display(), self.reading.last().map_or(String::new(), |p| p.display().to_string())), true);
                continue;
            }
            if self.files_read >= MAX_FILES {
                self.diag(
                    file,
                    no,
                    format!("more than {MAX_FILES} configuration files: the rest are not read"),
                    true,
                );
                return Err(Stop);
            }
            match self.source.read(&f) {
                Ok(bytes) => self.read_file(&f, bytes),
                Err(ReadError::Io(e)) => {
                    let reason = e.to_string();
                    let reason = reason.split(" (os error").next().unwrap_or("").to_string();
                    self.diag(
                        file,
                        no,
                        format!(
                            "Could not open configuration file {}: {reason}",
                            f.display()
                        ),
                        true,
                    );
                }
                Err(ReadError::NotAFile) => {
                    self.diag(
                        file,
                        no,
                        format!(
                            "Could not open configuration file {}: not a regular file",
                            f.display()
                        ),
                        true,
                    );
                }
            }
        }
        Ok(())
    }

    /// `process_resource_config_nofnmatch`: a file, or every entry of a directory, sorted,
    /// recursively (dot files too).
    fn expand_dir(&self, path: &Path, depth: usize, out: &mut Vec<PathBuf>) -> Result<(), String> {
        if !matches!(self.source.kind(path), Some(Kind::Dir)) {
            out.push(path.to_path_buf());
            return Ok(());
        }
        if depth + 1 > MAX_INCLUDE_DEPTH {
            return Err(format!("Directory {} exceeds the maximum include directory nesting level of {MAX_INCLUDE_DEPTH}. You have probably a recursion somewhere.", path.display()));
        }
        let mut names = self.source.list(path).map_err(|e| {
            format!(
                "Could not open config directory {}: {}",
                path.display(),
                crate::text_safe::io_error(&e)
            )
        })?;
        names.sort_by(|a, b| a.0.as_encoded_bytes().cmp(b.0.as_encoded_bytes()));
        for (n, _) in names {
            self.expand_dir(&path.join(n), depth + 1, out)?;
            if out.len() > MAX_FILES {
                return Err(format!(
                    "more than {MAX_FILES} configuration files under {}",
                    path.display()
                ));
            }
        }
        Ok(())
    }

    /// `process_resource_config_fnmatch`: component by component; a wildcard component is
    /// matched against the directory's names (sorted; a leading dot only literally), and only
    /// directories go on to the next component.
    fn expand_glob(
        &self,
        pattern: &Path,
        optional: bool,
        out: &mut Vec<PathBuf>,
    ) -> Result<(), String> {
        let comps: Vec<&std::ffi::OsStr> = pattern
            .components()
            .filter_map(|c| match c {
                Component::Normal(s) => Some(s),
                Component::ParentDir => Some("..".as_ref()),
                _ => None,
            })
            .collect();
        self.glob_from(Path::new("/"), &comps, optional, out)
    }

    fn glob_from(
        &self,
        dir: &Path,
        comps: &[&std::ffi::OsStr],
        optional: bool,
        out: &mut Vec<PathBuf>,
    ) -> Result<(), String> {
        let Some((first, rest)) = comps.split_first() else {
            return self.expand_dir(dir, 0, out);
        };
        let text = first.to_string_lossy();
        if !text.contains(['*', '?', '[']) {
            let next = dir.join(first);
            if rest.is_empty() {
                return self.expand_dir(&next, 0, out).or_else(|e| {
                    if optional {
                        Ok(())
                    } else {
                        Err(e)
                    }
                });
            }
            return self.glob_from(&next, rest, optional, out);
        }
        let opts = glob::MatchOptions {
            case_sensitive: true,
            require_literal_separator: true,
            require_literal_leading_dot: true,
        };
        let pat = glob::Pattern::new(&text)
            .map_err(|e| format!("Include has a bad path, {}: {e}", text))?;
        let names = match self.source.list(dir) {
            Ok(n) => n,
            Err(e) if optional && e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => {
                return Err(format!(
                    "Include/IncludeOptional: Could not open directory {}: {}",
                    dir.display(),
                    crate::text_safe::io_error(&e)
                ))
            }
        };
        let mut names: Vec<_> = names
            .into_iter()
            .filter(|(n, is_dir)| {
                (rest.is_empty() || *is_dir) && pat.matches_with(&n.to_string_lossy(), opts)
            })
            .collect();
        if names.is_empty() {
            if optional {
                return Ok(());
            }
            return Err(format!(
                "Include/IncludeOptional: No matches for the wildcard '{text}' in '{}', failing",
                dir.display()
            ));
        }
        names.sort_by(|a, b| a.0.as_encoded_bytes().cmp(b.0.as_encoded_bytes()));
        for (n, _) in names {
            let next = dir.join(n);
            if rest.is_empty() {
                self.expand_dir(&next, 0, out)?;
            } else {
                self.glob_from(&next, rest, optional, out)?;
            }
            if out.len() > MAX_FILES {
                return Err(format!(
                    "more than {MAX_FILES} configuration files match {text}"
                ));
            }
        }
        Ok(())
    }
}

/// `<IfVersion [[!]op] version>` against `ASSUMED_VERSION`.
fn if_version(words: &[Cow<'_, str>]) -> bool {
    let (op, value) = match words {
        [v] => ("=", v.as_ref()),
        [op, v, ..] => (op.as_ref(), v.as_ref()),
        [] => return false,
    };
    let (negate, op) = match op.strip_prefix('!') {
        Some(o) => (true, o),
        None => (false, op),
    };
    let (a, b, c) = ASSUMED_VERSION;
    let have = format!("{a}.{b}.{c}");
    let truth = if op == "~" || (value.starts_with('/') && value.ends_with('/') && value.len() > 1)
    {
        let re = value.trim_matches('/');
        pcre2::bytes::Regex::new(re).is_ok_and(|r| r.is_match(have.as_bytes()).unwrap_or(false))
    } else {
        let want: Vec<u32> = value.split('.').map(|p| p.parse().unwrap_or(0)).collect();
        let have_v = [a, b, c];
        let n = want.len().min(3);
        let ord = have_v[..n].cmp(&want[..n]);
        use std::cmp::Ordering::*;
        match op {
            "=" | "==" => ord == Equal,
            ">" => ord == Greater,
            ">=" => ord != Less,
            "<" => ord == Less,
            "<=" => ord != Greater,
            _ => false,
        }
    };
    truth != negate
}

/// A shell assignment's value: quotes removed, `$NAME`/`${NAME}` expanded (unknown: empty).
fn shell_value(value: &str, env: &FnvMap<String, String>) -> String {
    let value = value.split(" #").next().unwrap_or("").trim();
    let (quoted, body) =
        if let Some(b) = value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
            (true, b)
        } else if let Some(b) = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
            (false, b)
        } else {
            (false, value)
        };
    if quoted {
        return body.to_string();
    }
    let mut out = String::new();
    let mut chars = body.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c != '$' {
            out.push(c);
            continue;
        }
        let rest = &body[i + 1..];
        let (name, skip) = if let Some(r) = rest.strip_prefix('{') {
            match r.find('}') {
                Some(j) => (&r[..j], j + 2),
                None => (r, r.len() + 1),
            }
        } else {
            let n = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            (&rest[..n], n)
        };
        if let Some(v) = env.get(name) {
            out.push_str(v);
        }
        for _ in 0..rest[..skip].chars().count() {
            chars.next();
        }
    }
    out
}

/// Apache's logical lines: physical lines joined at a trailing `\` (not `\\`), `\r\n` as `\n`.
struct Lines<'a> {
    text: &'a str,
    pos: usize,
    line: u32,
}

impl<'a> Lines<'a> {
    fn new(text: &'a str) -> Lines<'a> {
        Lines {
            text,
            pos: 0,
            line: 0,
        }
    }

    fn physical(&mut self) -> Option<&'a str> {
        if self.pos >= self.text.len() {
            return None;
        }
        let rest = &self.text[self.pos..];
        let (l, adv) = match memchr::memchr(b'\n', rest.as_bytes()) {
            Some(i) => (&rest[..i], i + 1),
            None => (rest, rest.len()),
        };
        self.pos += adv;
        self.line += 1;
        Some(l.strip_suffix('\r').unwrap_or(l))
    }

    /// The next logical line and the number of its first physical line.
    fn next_logical(&mut self) -> Option<(u32, Cow<'a, str>)> {
        let first = self.physical()?;
        let no = self.line;
        if !continues(first) {
            return Some((no, Cow::Borrowed(first)));
        }
        let mut joined = first[..first.len() - 1].to_string();
        while let Some(next) = self.physical() {
            if continues(next) {
                joined.push_str(&next[..next.len() - 1]);
            } else {
                joined.push_str(next);
                break;
            }
        }
        Some((no, Cow::Owned(joined)))
    }
}

fn continues(l: &str) -> bool {
    l.ends_with('\\') && !l.ends_with("\\\\")
}

/// `ap_getword_conf`: the next word of `line`, quotes removed and escapes undone.
pub(crate) fn getword<'a>(line: &mut &'a str) -> Cow<'a, str> {
    let s = trim_blank(line);
    let bytes = s.as_bytes();
    if bytes.is_empty() {
        *line = s;
        return Cow::Borrowed("");
    }
    let quote = bytes[0];
    let (word, end) = if quote == b'"' || quote == b'\'' {
        let mut i = 1;
        while i < bytes.len() && bytes[i] != quote {
            if bytes[i] == b'\\'
                && i + 1 < bytes.len()
                && (bytes[i + 1] == quote || bytes[i + 1] == b'\\')
            {
                i += 2;
            } else {
                i += 1;
            }
        }
        let inner = &s[1..i.min(bytes.len())];
        let end = if i < bytes.len() { i + 1 } else { i };
        (unescape(inner, Some(quote)), end)
    } else {
        // One pass for the word's end and whether it holds a `\`.
        let (mut i, mut escaped) = (0, false);
        while i < bytes.len() && !bytes[i].is_ascii_whitespace() {
            escaped |= bytes[i] == b'\\';
            i += 1;
        }
        let word = &s[..i];
        (
            if escaped {
                unescape(word, None)
            } else {
                Cow::Borrowed(word)
            },
            i,
        )
    };
    *line = trim_blank(&s[end..]);
    word
}

/// `s` without its leading ASCII whitespace, read as bytes (every word of the config passes
/// here: a `char` predicate decoded each one).
fn trim_blank(s: &str) -> &str {
    let n = s.bytes().take_while(u8::is_ascii_whitespace).count();
    &s[n..]
}

/// `substring_conf`: `\\` → `\`, and inside quotes `\"` → `"`.
fn unescape(s: &str, quote: Option<u8>) -> Cow<'_, str> {
    // A plain loop: words are short, and a `memchr` call cost more than the scan.
    if !s.bytes().any(|b| b == b'\\') {
        return Cow::Borrowed(s);
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 1 < b.len() && (b[i + 1] == b'\\' || Some(b[i + 1]) == quote) {
            out.push(b[i + 1]);
            i += 2;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    // Only ASCII bytes were removed: still UTF-8.
    Cow::Owned(String::from_utf8(out).unwrap_or_default())
}

/// Every word of `s`.
pub(crate) fn split_words(mut s: &str) -> Vec<Cow<'_, str>> {
    let mut out = Vec::new();
    loop {
        let before = s.len();
        let w = getword(&mut s);
        if before == 0 || (w.is_empty() && s.len() == before) {
            break;
        }
        out.push(w);
        if s.is_empty() {
            break;
        }
    }
    out
}

/// `</Name>` → `Name`: Apache drops the last character, whatever it is.
fn strip_last(s: &str) -> &str {
    match s.char_indices().last() {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// What the entry file is: a main config loads modules, listens or includes; a site file has
/// `<VirtualHost>` sections and the directives that go in them.
fn infer_kind(bytes: &[u8], entry: &Path) -> ConfigKind {
    let name = entry.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if name == "apache2.conf" || name == "httpd.conf" {
        return ConfigKind::Main;
    }
    let text = String::from_utf8_lossy(bytes);
    for line in text.lines() {
        let mut l = line.trim();
        let w = getword(&mut l).to_ascii_lowercase();
        if matches!(
            w.as_str(),
            "loadmodule"
                | "serverroot"
                | "listen"
                | "include"
                | "includeoptional"
                | "user"
                | "pidfile"
        ) {
            return ConfigKind::Main;
        }
    }
    ConfigKind::Fragment
}

fn parent(p: &Path) -> PathBuf {
    p.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("/"))
        .to_path_buf()
}

/// `a/./b` → `a/b`, `a//b` → `a/b` (`..` kept: it depends on symlinks).
fn lexical_normal(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        if c != Component::CurDir {
            out.push(c.as_os_str());
        }
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}
