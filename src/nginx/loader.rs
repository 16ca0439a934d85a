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

use super::ast::{Config, ConfigKind, Diagnostic, FileId, Node, NodeId, SourceFile};
use super::context::{self, Ctx};
use super::parser::{self, ParsedFile};
use crate::sysroot::SysRoot;
use std::collections::{HashMap, VecDeque};
use std::io::Read;
use std::path::{Component, Path, PathBuf};

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

/// Non-UTF-8 lines reported per file before summarising.
const MAX_ENCODING_DIAGNOSTICS: usize = 5;

/// Load the config whose entry file is `entry` (a system path, read under `root`).
pub fn load_files(root: &SysRoot, entry: &Path) -> Result<Config, LoadError> {
    let entry = lexical_normal(entry);
    let bytes = read_regular(root, &entry).map_err(|e| match e {
        ReadError::Io(source) => LoadError::Unreadable {
            path: entry.clone(),
            source,
        },
        ReadError::NotAFile => LoadError::NotAFile {
            path: entry.clone(),
        },
    })?;
    let mut l = Loader::new(Source::Disk(root.clone()));
    let main = l.add_file(entry.clone(), bytes);
    l.finish(main, &entry, |kind| match kind {
        ConfigKind::Main => parent(&entry),
        _ => {
            let etc = Path::new("/etc/nginx");
            if root.host_path(etc).is_dir() {
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
    let paths: Vec<PathBuf> = sections.iter().map(|s| s.0.clone()).collect();
    let mut l = Loader::new(Source::Dump(HashMap::new()));
    let mut ids = Vec::with_capacity(sections.len());
    for (path, body) in sections {
        if l.ids.contains_key(&path) {
            continue; // nginx prints a file once; a repeat is a hand-edited dump: first wins
        }
        ids.push(l.add_file(path, body.to_vec()));
    }
    if let Source::Dump(map) = &mut l.source {
        for (p, id) in paths.iter().zip(ids.iter()) {
            map.insert(p.clone(), *id);
        }
    }
    let entry = paths[0].clone();
    l.finish(0, &entry, |_| parent(&entry));
    Ok(l.cfg)
}

enum Source {
    /// Read included files from disk under this root.
    Disk(SysRoot),
    /// Every file is already a section of the dump: path → file id.
    Dump(HashMap<PathBuf, FileId>),
}

struct Loader {
    cfg: Config,
    source: Source,
    /// Each system path (lexically normalised) to its file, so a file is read once.
    ids: HashMap<PathBuf, FileId>,
    /// Every include node of each file, in file order.
    includes: Vec<Vec<NodeId>>,
    /// Files parsed whose includes are not resolved yet.
    queue: VecDeque<FileId>,
    /// Cooked words of the file being parsed (reused).
    extra: String,
    too_big_reported: bool,
}

enum ReadError {
    Io(std::io::Error),
    NotAFile,
}

impl Loader {
    fn new(source: Source) -> Self {
        Loader {
            cfg: Config::default(),
            source,
            ids: HashMap::new(),
            includes: Vec::new(),
            queue: VecDeque::new(),
            extra: String::new(),
            too_big_reported: false,
        }
    }

    /// Register and parse one file's bytes; returns its id.
    fn add_file(&mut self, path: PathBuf, bytes: Vec<u8>) -> FileId {
        let id = self.cfg.files.len() as FileId;
        self.ids.insert(path.clone(), id);
        self.cfg.files.push(SourceFile {
            path: path.clone(),
            top: 0..0,
        });
        let text = self.decode(&path, bytes);
        let parsed = if self.cfg.text.len() + text.len() * 2 > MAX_TOTAL_BYTES {
            if !self.too_big_reported {
                self.too_big_reported = true;
                self.cfg.diagnostics.push(Diagnostic {
                    file: path.clone(),
                    line: 1,
                    column: 1,
                    message: format!(
                        "the configuration is larger than {} MiB: this file and any later ones are not examined",
                        MAX_TOTAL_BYTES >> 20
                    ),
                    fatal: true,
                });
            }
            ParsedFile::default()
        } else {
            let base = self.cfg.text.len();
            self.extra.clear();
            let parsed = parser::parse_file(&mut self.cfg, id, &path, &text, base, &mut self.extra);
            self.cfg.text.push_str(&text);
            self.cfg.text.push_str(&self.extra);
            parsed
        };
        let start = self.cfg.children.len() as u32;
        self.cfg.children.extend_from_slice(&parsed.top);
        self.cfg.files[id as usize].top = start..self.cfg.children.len() as u32;
        self.includes.push(parsed.includes);
        self.queue.push_back(id);
        id
    }

    /// The file as text. Bytes that are not UTF-8 are replaced (U+FFFD) and reported at their
    /// line: nginx compares bytes, so a path or name holding them will not match what we show.
    fn decode(&mut self, path: &Path, bytes: Vec<u8>) -> String {
        match String::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => {
                let bytes = e.into_bytes();
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
                    if at >= bytes.len() {
                        break;
                    }
                }
                let more = lines.len().saturating_sub(MAX_ENCODING_DIAGNOSTICS);
                for (i, &(line, column)) in lines.iter().take(MAX_ENCODING_DIAGNOSTICS).enumerate()
                {
                    let tail = if more > 0 && i + 1 == MAX_ENCODING_DIAGNOSTICS {
                        format!(" ({more} more lines like this)")
                    } else {
                        String::new()
                    };
                    self.cfg.diagnostics.push(Diagnostic {
                        file: path.to_path_buf(),
                        line,
                        column,
                        message: format!(
                            "bytes that are not UTF-8 are shown as U+FFFD: a path or name holding them will not match the disk{tail}"
                        ),
                        fatal: false,
                    });
                }
                String::from_utf8_lossy(&bytes).into_owned()
            }
        }
    }

    /// Resolve every include, breadth-first; then cut cycles, set the kind and check contexts.
    fn finish(&mut self, main: FileId, entry: &Path, conf_dir_for: impl Fn(ConfigKind) -> PathBuf) {
        self.cfg.main = main;
        let kind = infer_kind(&self.cfg, main, entry);
        self.cfg.kind = Some(kind);
        self.cfg.conf_dir = conf_dir_for(kind);
        let fragment = kind != ConfigKind::Main;
        while let Some(file) = self.queue.pop_front() {
            let incs = self.includes[file as usize].clone();
            for node in incs {
                self.resolve_include(node, fragment);
            }
        }
        self.cut_cycles();
        let top = match kind {
            ConfigKind::Main => Ctx::Main,
            ConfigKind::HttpFragment => Ctx::Http,
            ConfigKind::ServerFragment => Ctx::Snippet,
        };
        context::check(&mut self.cfg, top);
        // Reported in reading order: by file (as loaded), then position.
        let order: HashMap<&Path, usize> = self
            .cfg
            .files
            .iter()
            .enumerate()
            .map(|(i, f)| (f.path.as_path(), i))
            .collect();
        let mut diags = std::mem::take(&mut self.cfg.diagnostics);
        diags.sort_by_key(|d| {
            (
                order.get(d.file.as_path()).copied().unwrap_or(usize::MAX),
                d.line,
                d.column,
            )
        });
        self.cfg.diagnostics = diags;
        self.cfg.nodes.shrink_to_fit();
        self.cfg.arg_spans.shrink_to_fit();
        self.cfg.children.shrink_to_fit();
        self.cfg.text.shrink_to_fit();
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

    fn resolve_include(&mut self, node: NodeId, fragment: bool) {
        let d = self.cfg.directive(node);
        if d.arg_count() != 1 {
            self.diag(
                node,
                "invalid number of arguments in \"include\" directive".into(),
                true,
            );
            return;
        }
        let arg = d.arg(0).unwrap_or_default().to_string();
        let pattern = lexical_normal(&self.cfg.conf_dir.join(&arg));
        let mut linked: Vec<FileId> = Vec::new();
        if arg.contains(['*', '?', '[']) {
            match self.glob(&pattern) {
                Ok(paths) => {
                    for p in paths {
                        if let Some(id) = self.file_for(node, p, fragment) {
                            linked.push(id);
                        }
                    }
                }
                Err(msg) => self.diag(node, msg, !fragment),
            }
        } else if let Some(id) = self.file_for(node, pattern, fragment) {
            linked.push(id);
        }
        let start = self.cfg.include_links.len() as u32;
        self.cfg.include_links.extend(linked);
        self.cfg.nodes[node as usize].kids = start..self.cfg.include_links.len() as u32;
    }

    /// The file for an included path: already loaded, or read and parsed now.
    fn file_for(&mut self, node: NodeId, path: PathBuf, fragment: bool) -> Option<FileId> {
        if let Some(&id) = self.ids.get(&path) {
            return Some(id);
        }
        match &self.source {
            Source::Dump(_) => {
                // nginx -T prints every file it read: one missing was not read by that nginx.
                let msg = format!(
                    "include \"{}\" has no section in the dump: this part of the config is not examined",
                    path.display()
                );
                self.diag(node, msg, false);
                None
            }
            Source::Disk(root) => match read_regular(root, &path) {
                Ok(bytes) => Some(self.add_file(path, bytes)),
                Err(e) => {
                    let (msg, missing) = match e {
                        ReadError::NotAFile => (
                            format!("\"{}\" is not a regular file (nginx cannot read a directory as a config)", path.display()),
                            false,
                        ),
                        ReadError::Io(e) => (
                            format!(
                                "open() \"{}\" failed ({}: {})",
                                path.display(),
                                e.raw_os_error().unwrap_or(0),
                                io_reason(&e)
                            ),
                            e.kind() == std::io::ErrorKind::NotFound,
                        ),
                    };
                    if fragment && missing {
                        let msg = format!(
                            "{msg}: nginx resolves this against its own main config; this part is not examined"
                        );
                        self.diag(node, msg, false);
                    } else {
                        self.diag(node, msg, true);
                    }
                    None
                }
            },
        }
    }

    /// The system paths a glob include matches, in byte order (nginx's glob(3) in the C locale).
    fn glob(&self, pattern: &Path) -> Result<Vec<PathBuf>, String> {
        let opts = glob::MatchOptions {
            case_sensitive: true,
            require_literal_separator: true,
            require_literal_leading_dot: true,
        };
        let text = pattern.to_string_lossy();
        let mut out: Vec<PathBuf> = match &self.source {
            Source::Dump(map) => {
                let pat = glob::Pattern::new(&text)
                    .map_err(|e| format!("invalid include pattern \"{text}\": {e}"))?;
                map.keys()
                    .filter(|p| pat.matches_path_with(p, opts))
                    .cloned()
                    .collect()
            }
            Source::Disk(root) => {
                // The root itself may hold glob characters: escape it, keep the pattern.
                let host_root = glob::Pattern::escape(&root.dir().to_string_lossy());
                let host_pattern = if root.is_live() {
                    text.to_string()
                } else {
                    format!(
                        "{}/{}",
                        host_root.trim_end_matches('/'),
                        text.trim_start_matches('/')
                    )
                };
                let paths = glob::glob_with(&host_pattern, opts)
                    .map_err(|e| format!("invalid include pattern \"{text}\": {e}"))?;
                let mut v = Vec::new();
                for p in paths {
                    match p {
                        Ok(host) => {
                            if let Some(sys) = root.system_path(&host) {
                                v.push(sys);
                            }
                        }
                        Err(e) => {
                            return Err(format!(
                                "glob() \"{text}\" failed: {}",
                                io_reason(e.error())
                            ))
                        }
                    }
                }
                v
            }
        };
        out.sort_by(|a, b| {
            a.as_os_str()
                .as_encoded_bytes()
                .cmp(b.as_os_str().as_encoded_bytes())
        });
        Ok(out)
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
            let incs = &self.includes[file as usize];
            let Some(&node) = incs.get(*inc) else {
                state[file as usize] = 2;
                stack.pop();
                continue;
            };
            let links = self.cfg.directive(node).included_files();
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
                1 => cut.push((node, target)),
                _ => {}
            }
            if state[target as usize] == 1 && cut.last() == Some(&(node, target)) {
                let from = stack.iter().position(|s| s.0 == target).unwrap_or(0);
                let chain: Vec<String> = stack[from..]
                    .iter()
                    .map(|s| self.cfg.files[s.0 as usize].path.display().to_string())
                    .chain(std::iter::once(
                        self.cfg.files[target as usize].path.display().to_string(),
                    ))
                    .collect();
                let msg = format!(
                    "include cycle: {}: this include is not followed",
                    chain.join(" -> ")
                );
                self.diag(node, msg, true);
            }
        }
        for (node, target) in cut {
            let r = self.cfg.nodes[node as usize].kids.clone();
            let links = &mut self.cfg.include_links[r.start as usize..r.end as usize];
            let mut w = 0;
            for i in 0..links.len() {
                if links[i] != target {
                    links[w] = links[i];
                    w += 1;
                }
            }
            self.cfg.nodes[node as usize].kids = r.start..r.start + w as u32;
        }
    }
}

/// What the entry file is, from its top-level directives (before includes).
fn infer_kind(cfg: &Config, main: FileId, entry: &Path) -> ConfigKind {
    let mut http_level = false;
    let mut server_level = false;
    for d in cfg.file_raw_top(main) {
        match d.name() {
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
            "server" if d.has_block() => http_level = true,
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

/// Read a regular file under the root. Opened non-blocking and checked with fstat before any
/// read, so a FIFO or device named by an include cannot hang the run.
fn read_regular(root: &SysRoot, path: &Path) -> Result<Vec<u8>, ReadError> {
    use std::os::unix::fs::OpenOptionsExt;
    let host = root.resolve(path).map_err(ReadError::Io)?;
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
        .open(&host)
        .map_err(ReadError::Io)?;
    let meta = f.metadata().map_err(ReadError::Io)?;
    if !meta.is_file() {
        return Err(ReadError::NotAFile);
    }
    let mut buf = Vec::with_capacity(meta.len() as usize + 1);
    f.read_to_end(&mut buf).map_err(ReadError::Io)?;
    Ok(buf)
}

/// The OS's words for an error, without Rust's " (os error N)" suffix.
fn io_reason(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
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
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// Split an `nginx -T` dump into (path, bytes) sections.
fn split_dump(dump: &[u8]) -> Vec<(PathBuf, &[u8])> {
    const HEADER: &[u8] = b"# configuration file ";
    let mut heads: Vec<(usize, usize, PathBuf)> = Vec::new(); // (header start, body start, path)
    let mut at = 0;
    while at < dump.len() {
        let end = memchr::memchr(b'\n', &dump[at..]).map_or(dump.len(), |p| at + p);
        let line = &dump[at..end];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if let Some(rest) = line.strip_prefix(HEADER) {
            if let Some(path) = rest.strip_suffix(b":") {
                use std::os::unix::ffi::OsStrExt;
                let path = PathBuf::from(std::ffi::OsStr::from_bytes(path));
                heads.push((at, (end + 1).min(dump.len()), path));
            }
        }
        at = end + 1;
    }
    let mut out = Vec::with_capacity(heads.len());
    for i in 0..heads.len() {
        let (_, body, ref path) = heads[i];
        let stop = heads.get(i + 1).map_or(dump.len(), |h| h.0);
        let mut bytes = &dump[body..stop.max(body)];
        // nginx writes one newline after each file's content.
        if let Some(b) = bytes.strip_suffix(b"\n") {
            bytes = b;
        }
        out.push((lexical_normal(path), bytes));
    }
    out
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
        let mut out = Vec::new();
        let mut stack = vec![cfg.top().collect::<Vec<_>>().into_iter()];
        while let Some(it) = stack.last_mut() {
            let Some(d) = it.next() else {
                stack.pop();
                continue;
            };
            out.push(format!(
                "{}:{} {} {}",
                d.file().display(),
                d.line(),
                d.name(),
                d.args().collect::<Vec<_>>().join(" ")
            ));
            stack.push(d.children().collect::<Vec<_>>().into_iter());
        }
        out
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
        assert_eq!(errors(&cfg), Vec::<String>::new());
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
}
