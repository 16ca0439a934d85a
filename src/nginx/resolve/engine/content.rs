//! The precontent and content phases: try_files, the content handler a location installs
//! (proxy_pass & co.), index, autoindex and the static module, with the path nginx builds from
//! root/alias and the system calls it makes on it.

use super::*;
use crate::nginx::resolve::conf::{AliasKind, GzipStatic, Stage, Symlinks};
use crate::nginx::resolve::files::{Errno, Kind, Op, SymlinkPolicy};
use crate::nginx::resolve::uri::escape_uri;
use crate::nginx::resolve::vars::{self};
use crate::nginx::resolve::Handler;

impl<'r, 's> Run<'r, 's> {
    pub(super) fn has_user_file(&self) -> bool {
        // auth_basic does nothing without auth_basic_user_file (inherited like auth_basic).
        let mut b = Some(self.conf);
        while let Some(i) = b {
            let block = self.r.blocks.get(i);
            if let Some(n) = block.node() {
                if self
                    .r
                    .config()
                    .directive(n)
                    .children()
                    .any(|d| d.is("auth_basic_user_file"))
                {
                    return true;
                }
            }
            b = block.parent();
        }
        false
    }

    pub(super) fn try_files(&mut self) -> Flow {
        let Some(tf) = self.conf().try_files else {
            return Flow::Go(Phase::Content);
        };
        let d = self.r.config().directive(tf);
        let at = self.explained_at(tf);
        let args: Vec<&str> = d.args().collect();
        if args.len() < 2 {
            return Flow::Go(Phase::Content);
        }
        let alias = self.conf().root.alias();
        for (i, raw) in args.iter().enumerate() {
            let last = i + 1 == args.len();
            let mut name: &str = raw;
            let mut test_dir = false;
            if !last && !name.is_empty() && name.ends_with('/') {
                test_dir = true;
                name = &name[..name.len() - 1];
            }
            let has_vars = vars::has_vars(name);
            let mut value = match self.eval(name) {
                Ok(v) => v,
                Err(u) => return self.unknown_var(&u, &d),
            };
            let base = match self.map_root() {
                Ok(b) => b,
                Err(f) => return f,
            };
            if has_vars {
                if let AliasKind::Prefix(len) = alias {
                    let len = len as usize;
                    if value.len() >= len
                        && self.uri.len() >= len
                        && value[..len] == self.uri[..len]
                    {
                        value.drain(..len);
                    }
                }
            }
            if last {
                if let Some(code) = raw.strip_prefix('=').and_then(|c| c.parse::<u16>().ok()) {
                    self.handler = Handler::TryFiles;
                    why!(self, "try_files at {at} found none of its files: ={code}");
                    step!(self, "try_files: nothing found → ={code} ({at})");
                    return Flow::Finalize(code);
                }
                if value.first() == Some(&b'@') {
                    let n = String::from_utf8_lossy(&value).into_owned();
                    step!(self, "try_files: nothing found → named location {n} ({at})");
                    return self.named_location(&n);
                }
                let (u, a) = match value.iter().position(|&b| b == b'?') {
                    Some(q) => (value[..q].to_vec(), value[q + 1..].to_vec()),
                    None => (value.clone(), Vec::new()),
                };
                step!(
                    self,
                    "try_files: nothing found → internal redirect to {} ({at})",
                    crate::text_safe::bytes(&u)
                );
                return self.internal_redirect(u, a);
            }
            let mut path = base.clone();
            path.extend_from_slice(&value);
            let policy = match self.symlink_policy(&path) {
                Ok(p) => p,
                Err(f) => return f,
            };
            let probe = self.files.call(&path, Op::Stat, policy);
            let shown = self.explained_path(&path);
            match probe.result {
                Err(Errno::Unknown(why)) => {
                    let why = format!(
                        "try_files at {} tests {}: {why}",
                        self.dir_of(tf),
                        crate::text_safe::bytes(&path)
                    );
                    self.path = Some(path);
                    self.walk = probe.walk;
                    return Flow::End(End::Unknown(why));
                }
                Err(e) => {
                    if !matches!(e, Errno::NoEnt | Errno::NotDir | Errno::NameTooLong) {
                        let op = if policy.mode == Symlinks::Off {
                            "stat()"
                        } else {
                            "openat()"
                        };
                        log!(self, "{op} \"{shown}\" failed ({})", e.log_text());
                    }
                    step!(self, "try_files: {shown}: {} → next", e.log_text());
                    continue;
                }
                Ok(kind) => {
                    if (kind == Kind::Dir) != test_dir {
                        step!(
                            self,
                            "try_files: {shown} is {} → next",
                            if kind == Kind::Dir {
                                "a directory, not a file"
                            } else {
                                "not a directory"
                            }
                        );
                        continue;
                    }
                    step!(self, "try_files: {shown} exists ({at})");
                    match alias {
                        AliasKind::Root => self.uri = value,
                        AliasKind::Regex => {
                            if !test_dir {
                                self.uri = value;
                                self.add_uri_to_alias = true;
                            }
                        }
                        AliasKind::Prefix(len) => {
                            let len = len as usize;
                            let mut u = self.uri[..len.min(self.uri.len())].to_vec();
                            u.extend_from_slice(&value);
                            self.uri = u;
                        }
                    }
                    return Flow::Go(Phase::Content);
                }
            }
        }
        Flow::Go(Phase::Content)
    }

    pub(super) fn content(&mut self) -> Flow {
        if let Some(h) = self.content_handler {
            let at = self.explained_at(h.at);
            self.handler = Handler::for_directive(&h.directive);
            step!(self, "{} {} ({at})", h.directive, h.target);
            return match h.directive.as_str() {
                "empty_gif" | "stub_status" => {
                    why!(self, "{} at {at} answers itself", h.directive);
                    Flow::Sent(200)
                }
                d if crate::nginx::resolve::conf::PASS_DIRECTIVES.contains(&d) => {
                    why!(
                        self,
                        "passed to the upstream {} by {} at {at}: the status is the upstream's",
                        h.target,
                        h.directive
                    );
                    Flow::End(End::Upstream(h.target.clone()))
                }
                _ => {
                    why!(
                        self,
                        "{} at {at} produces the answer: media-doctor does not model it",
                        h.directive
                    );
                    Flow::End(End::Unknown(self.reason.clone()))
                }
            };
        }
        let dav = matches!(&*self.method, "PUT" | "DELETE" | "MKCOL" | "COPY" | "MOVE");
        for (stage, applies) in [
            (Stage::Dav, dav),
            (Stage::Index, self.uri.last() == Some(&b'/')),
        ] {
            if let (true, Some(u)) = (applies, self.unmodelled(stage)) {
                self.handler = Handler::Module(u.directive.clone());
                return Flow::End(End::Unknown(format!(
                    "{} at {} is not modelled: it answers this request",
                    u.directive,
                    self.dir_of(u.at)
                )));
            }
        }
        if let Some(f) = self.index() {
            return f;
        }
        if let Some(f) = self.autoindex() {
            return f;
        }
        if let Some(f) = self.static_file() {
            return f;
        }
        if self.uri.last() == Some(&b'/') {
            if let Ok(p) = self.map_uri_to_path() {
                log!(
                    self,
                    "directory index of \"{}\" is forbidden",
                    crate::text_safe::bytes(&p)
                );
                self.path = Some(p);
            }
            self.handler = Handler::Index;
            if self.reason.is_empty() {
                self.reason =
                    "a directory URI, no index file and autoindex off: nginx forbids listing it"
                        .into();
            }
            return Flow::Finalize(403);
        }
        self.log.push("no handler found".into());
        self.handler = Handler::Error;
        Flow::Finalize(404)
    }

    /// ngx_http_index_handler.
    pub(super) fn index(&mut self) -> Option<Flow> {
        if self.uri.last() != Some(&b'/') {
            return None;
        }
        if !matches!(&*self.method, "GET" | "HEAD" | "POST") {
            return None;
        }
        let conf = self.conf();
        let mut dir_tested = false;
        for name in conf.index.iter() {
            let has_vars = vars::has_vars(name);
            if !has_vars && name.starts_with('/') {
                self.handler = Handler::Index;
                step!(self, "index {name}: internal redirect");
                return Some(self.internal_redirect(name.as_bytes().to_vec(), self.args.clone()));
            }
            let mapped = match self.map_uri_to_path() {
                Ok(p) => p,
                Err(f) => return Some(f),
            };
            let value = match self.eval(name) {
                Ok(v) => v,
                Err(u) => {
                    return Some(Flow::End(End::Unknown(format!(
                        "index {name} uses ${u}, which media-doctor cannot evaluate"
                    ))))
                }
            };
            if has_vars && value.first() == Some(&b'/') {
                self.handler = Handler::Index;
                return Some(self.internal_redirect(value, self.args.clone()));
            }
            let mut path = mapped.clone();
            path.extend_from_slice(&value);
            let policy = match self.symlink_policy(&path) {
                Ok(p) => p,
                Err(f) => return Some(f),
            };
            let probe = self.files.call(&path, Op::Stat, policy);
            let shown = crate::text_safe::bytes(&path).into_owned();
            self.path = Some(path.clone());
            self.walk = probe.walk.clone();
            self.handler = Handler::Index;
            match probe.result {
                Ok(_) => {
                    let mut u = self.uri.clone();
                    u.extend_from_slice(&value);
                    step!(
                        self,
                        "index: {shown} exists → internal redirect to {}",
                        crate::text_safe::bytes(&u)
                    );
                    return Some(self.internal_redirect(u, self.args.clone()));
                }
                Err(Errno::Unknown(why)) => {
                    return Some(Flow::End(End::Unknown(format!(
                        "index file {shown}: {why}"
                    ))))
                }
                Err(Errno::Loop) => {
                    // ngx_http_index_handler: ELOOP/EMLINK are forbidden, without a log line.
                    self.reason = if !probe.by_policy {
                        format!("index file {shown}: a symlink loop (too many levels of symbolic links)")
                    } else {
                        format!("index file {shown}: a symlink, and disable_symlinks forbids it")
                    };
                    return Some(Flow::Finalize(403));
                }
                Err(e @ (Errno::NotDir | Errno::NameTooLong | Errno::Access)) => {
                    return Some(self.index_error(&shown, &e));
                }
                // A unix socket as the index file, with symlinks checked (the test is then an
                // open): ngx_http_index_handler logs any other errno at crit and answers 500
                // (its directory test passes: the socket is in it).
                Err(e @ Errno::NoDevice) => {
                    log!(self, "openat() \"{shown}\" failed ({})", e.log_text());
                    why!(
                        self,
                        "the index file {shown} is a unix socket: open() fails with ENXIO"
                    );
                    return Some(Flow::Finalize(500));
                }
                Err(Errno::NoEnt) => {
                    if !dir_tested {
                        // ngx_http_index_test_dir: the directory itself.
                        let dir = if mapped.len() > 1 && mapped.ends_with(b"/") {
                            mapped[..mapped.len() - 1].to_vec()
                        } else {
                            mapped.clone()
                        };
                        let dprobe = self.files.call(&dir, Op::Stat, policy);
                        match dprobe.result {
                            Ok(Kind::Dir) | Err(Errno::Access) => {}
                            Ok(_) => {
                                log!(
                                    self,
                                    "\"{}\" is not a directory",
                                    crate::text_safe::bytes(&dir)
                                );
                                self.walk = dprobe.walk;
                                self.reason = "the index directory is not a directory".into();
                                return Some(Flow::Finalize(500));
                            }
                            Err(Errno::NoEnt) => {
                                self.walk = dprobe.walk;
                                self.path = Some(dir.clone());
                                return Some(self.index_error(&shown, &Errno::NoEnt));
                            }
                            Err(Errno::Loop) => {
                                self.walk = dprobe.walk;
                                return Some(Flow::Finalize(403));
                            }
                            Err(Errno::Unknown(why)) => {
                                return Some(Flow::End(End::Unknown(why)));
                            }
                            Err(e) => {
                                log!(
                                    self,
                                    "stat() \"{}\" failed ({})",
                                    crate::text_safe::bytes(&dir),
                                    e.log_text()
                                );
                                return Some(Flow::Finalize(500));
                            }
                        }
                        dir_tested = true;
                    }
                    step!(self, "index: {shown} does not exist");
                    continue;
                }
            }
        }
        None
    }

    pub(super) fn index_error(&mut self, shown: &str, e: &Errno) -> Flow {
        if *e == Errno::Access {
            log!(self, "\"{shown}\" is forbidden ({})", e.log_text());
            why!(
                self,
                "the index file {shown} cannot be reached by the worker user"
            );
            return Flow::Finalize(403);
        }
        if self.conf().log_not_found {
            log!(self, "\"{shown}\" is not found ({})", e.log_text());
        }
        why!(self, "{shown}: {}", e.log_text());
        Flow::Finalize(404)
    }

    /// ngx_http_autoindex_handler.
    pub(super) fn autoindex(&mut self) -> Option<Flow> {
        if self.uri.last() != Some(&b'/')
            || !matches!(&*self.method, "GET" | "HEAD")
            || !self.conf().autoindex
        {
            return None;
        }
        let mut path = match self.map_uri_to_path() {
            Ok(p) => p,
            Err(f) => return Some(f),
        };
        // nginx drops the last byte unconditionally (`if (path.len > 1) path.len--;`), assuming
        // it is the URI's trailing slash. With `location /media/ { alias /srv/www; }` the mapped
        // path is `/srv/www` and nginx opens `/srv/ww`: a 404, or a listing of a sibling.
        if path.len() > 1 {
            path.pop();
        }
        let probe = self.files.call(&path, Op::OpenDir, SymlinkPolicy::OFF);
        let shown = crate::text_safe::bytes(&path).into_owned();
        self.path = Some(path);
        self.walk = probe.walk;
        self.handler = Handler::Autoindex;
        Some(match probe.result {
            Ok(_) => {
                why!(self, "autoindex lists {shown}");
                Flow::Sent(200)
            }
            Err(Errno::Unknown(why)) => Flow::End(End::Unknown(why)),
            Err(e) => {
                log!(self, "opendir() \"{shown}\" failed ({})", e.log_text());
                why!(self, "autoindex cannot open {shown}: {}", e.log_text());
                match e {
                    Errno::NoEnt | Errno::NotDir | Errno::NameTooLong => Flow::Finalize(404),
                    Errno::Access => Flow::Finalize(403),
                    _ => Flow::Finalize(500),
                }
            }
        })
    }

    /// ngx_http_static_handler.
    pub(super) fn static_file(&mut self) -> Option<Flow> {
        if !matches!(&*self.method, "GET" | "HEAD" | "POST") {
            self.handler = Handler::Static;
            return Some(Flow::Finalize(405));
        }
        if self.uri.last() == Some(&b'/') {
            return None;
        }
        if let Some(f) = self.gzip_static() {
            return Some(f);
        }
        let path = match self.map_uri_to_path() {
            Ok(p) => p,
            Err(f) => return Some(f),
        };
        let policy = match self.symlink_policy(&path) {
            Ok(p) => p,
            Err(f) => return Some(f),
        };
        let probe = self.files.call(&path, Op::Open, policy);
        let shown = self.explained_path(&path);
        let unknown = match &probe.result {
            Err(Errno::Unknown(why)) => Some(format!("{}: {why}", crate::text_safe::bytes(&path))),
            _ => None,
        };
        self.path = Some(path);
        self.walk = probe.walk;
        self.handler = Handler::Static;
        let failed = if policy.mode == Symlinks::Off {
            "open()"
        } else {
            "openat()"
        };
        Some(match probe.result {
            Err(Errno::Unknown(_)) => Flow::End(End::Unknown(unknown.unwrap_or_default())),
            Err(e) => {
                let code = match e {
                    Errno::NoEnt | Errno::NotDir | Errno::NameTooLong => 404,
                    Errno::Access | Errno::Loop => 403,
                    // ENXIO (a unix socket) and the rest: logged at crit, 500.
                    _ => 500,
                };
                if code != 404 || self.conf().log_not_found {
                    log!(self, "{failed} \"{shown}\" failed ({})", e.log_text());
                }
                if self.explain {
                    self.reason = match e {
                        Errno::NoEnt => format!("{shown} does not exist"),
                        // openat(O_NOFOLLOW|O_DIRECTORY) on a symlinked directory: ENOTDIR,
                        // though the path resolves (MD207's case).
                        Errno::NotDir if probe.by_policy => {
                            format!(
                                "{shown} goes through a symlinked directory and disable_symlinks forbids it"
                            )
                        }
                        Errno::NotDir => format!("a component of {shown} is not a directory"),
                        Errno::Access => format!("the worker user cannot open {shown}"),
                        // A loop nginx follows (symlinks allowed, or `if_not_owner` with the
                        // owners alike) is the loop's, not the directive's.
                        Errno::Loop if !probe.by_policy => format!(
                            "{shown}: a symlink loop (too many levels of symbolic links)"
                        ),
                        Errno::Loop => {
                            format!(
                                "{shown} goes through a symlink and disable_symlinks forbids it"
                            )
                        }
                        Errno::NoDevice => format!(
                            "{shown} is a unix socket: open() fails with ENXIO and nginx answers 500"
                        ),
                        _ => format!("{shown}: {}", e.log_text()),
                    };
                }
                Flow::Finalize(code)
            }
            Ok(Kind::Dir) => {
                let mut loc = escape_uri(&self.uri);
                loc.push('/');
                if !self.args.is_empty() {
                    loc.push('?');
                    loc.push_str(&String::from_utf8_lossy(&self.args));
                }
                self.handler = Handler::Redirect;
                why!(
                    self,
                    "{shown} is a directory: nginx adds the trailing slash"
                );
                self.redirect = Some(loc);
                Flow::Finalize(301)
            }
            Ok(Kind::Other | Kind::Socket) => {
                log!(self, "\"{shown}\" is not a regular file");
                why!(self, "{shown} is not a regular file (a FIFO or a device)");
                Flow::Finalize(404)
            }
            Ok(Kind::File) => {
                if self.method == "POST" {
                    return Some(Flow::Finalize(405));
                }
                why!(self, "{shown} is served");
                Flow::Sent(200)
            }
        })
    }

    /// ngx_http_gzip_static_handler, before the static module: `always` serves `FILE.gz` when it
    /// is a file; `on` only for a client that accepts gzip, which the modelled request does not
    /// say (it still opens the .gz when `gzip_vary` is on, and logs what fails). None: declined.
    fn gzip_static(&mut self) -> Option<Flow> {
        let mode = self.conf().gzip_static;
        if mode == GzipStatic::Off
            || !matches!(&*self.method, "GET" | "HEAD")
            || (mode == GzipStatic::On && !self.conf().gzip_vary)
        {
            return None;
        }
        let mut path = match self.map_uri_to_path() {
            Ok(p) => p,
            Err(f) => return Some(f),
        };
        path.extend_from_slice(b".gz");
        let policy = match self.symlink_policy(&path) {
            Ok(p) => p,
            Err(f) => return Some(f),
        };
        let probe = self.files.call(&path, Op::Open, policy);
        let shown = self.explained_path(&path);
        let failed = if policy.mode == Symlinks::Off {
            "open()"
        } else {
            "openat()"
        };
        match probe.result {
            Err(Errno::Unknown(why)) => {
                let why = format!("gzip_static: {}: {why}", crate::text_safe::bytes(&path));
                self.path = Some(path);
                self.walk = probe.walk;
                Some(Flow::End(End::Unknown(why)))
            }
            Err(Errno::NoEnt | Errno::NotDir | Errno::NameTooLong) => None,
            Err(e) => {
                log!(self, "{failed} \"{shown}\" failed ({})", e.log_text());
                None
            }
            _ if mode == GzipStatic::On => None,
            Ok(Kind::Dir) => None,
            Ok(Kind::Other | Kind::Socket) => {
                log!(self, "\"{shown}\" is not a regular file");
                self.path = Some(path);
                self.walk = probe.walk;
                self.handler = Handler::Static;
                why!(self, "gzip_static always: {shown} is not a regular file");
                Some(Flow::Finalize(404))
            }
            Ok(Kind::File) => {
                self.path = Some(path);
                self.walk = probe.walk;
                self.handler = Handler::Static;
                step!(self, "gzip_static always: {shown} exists");
                why!(
                    self,
                    "gzip_static always: {shown} is served (whatever the client accepts)"
                );
                Some(Flow::Sent(200))
            }
        }
    }

    /// The root part of the path (the root, or the alias), evaluated and made absolute.
    pub(super) fn map_root(&mut self) -> Result<Vec<u8>, Flow> {
        let root = &self.conf().root;
        if root.alias() != AliasKind::Root && !self.valid_location {
            let name = self
                .location
                .and_then(|n| self.r.location_pattern(n))
                .map(|(_, n)| n)
                .unwrap_or_default();
            log!(
                self,
                "\"alias\" cannot be used in location \"{name}\" where URI was rewritten"
            );
            self.handler = Handler::Error;
            self.reason = "alias in a location where the URI was rewritten (rewrite ... break): nginx fails with 500".into();
            return Err(Flow::Finalize(500));
        }
        let value = self.r.blocks.root_value(root, self.r.config());
        if !root.scripted() {
            return Ok(value.as_bytes().to_vec());
        }
        let v = match self.eval(value) {
            Ok(v) => v,
            Err(u) => {
                return Err(Flow::End(End::Unknown(format!(
                    "the root/alias {value} uses ${u}, which media-doctor cannot evaluate"
                ))))
            }
        };
        if v.first() == Some(&b'/') {
            Ok(v)
        } else {
            Ok(crate::nginx::resolve::conf::join_prefix(
                &self.r.config().prefix,
                &String::from_utf8_lossy(&v),
            )
            .into_bytes())
        }
    }

    pub(super) fn map_uri_to_path(&mut self) -> Result<Vec<u8>, Flow> {
        let alias = self.conf().root.alias();
        let mut p = self.map_root()?;
        match alias {
            AliasKind::Root => p.extend_from_slice(&self.uri),
            AliasKind::Prefix(len) => {
                let len = len as usize;
                if len <= self.uri.len() {
                    p.extend_from_slice(&self.uri[len..]);
                }
            }
            AliasKind::Regex => {
                if self.add_uri_to_alias {
                    p.extend_from_slice(&self.uri);
                }
            }
        }
        Ok(p)
    }

    /// How `disable_symlinks` applies to `path`; Err when its `from=` cannot be evaluated (which
    /// part of the path is checked is then unknown).
    pub(super) fn symlink_policy(&mut self, path: &[u8]) -> Result<SymlinkPolicy, Flow> {
        let conf = self.conf();
        let mode = conf.disable_symlinks;
        if mode == Symlinks::Off {
            return Ok(SymlinkPolicy::OFF);
        }
        let Some(from) = conf.disable_symlinks_from.clone() else {
            return Ok(SymlinkPolicy { mode, from: 0 });
        };
        let from = match self.eval(&from) {
            Ok(f) => f,
            Err(u) => {
                return Err(Flow::End(End::Unknown(format!(
                    "disable_symlinks from={from} uses ${u}, which media-doctor cannot evaluate"
                ))))
            }
        };
        Ok(self.symlink_from(mode, &from, path))
    }

    /// ngx_http_set_disable_symlinks: the part of `path` covered by `from=`.
    fn symlink_from(&self, mode: Symlinks, from: &[u8], path: &[u8]) -> SymlinkPolicy {
        // ngx_http_set_disable_symlinks
        if from.is_empty() || from.len() > path.len() || path[..from.len()] != from[..] {
            return SymlinkPolicy { mode, from: 0 };
        }
        if from.len() == path.len() {
            return SymlinkPolicy::OFF;
        }
        if path[from.len()] == b'/' {
            return SymlinkPolicy {
                mode,
                from: from.len(),
            };
        }
        if path[from.len() - 1] == b'/' {
            return SymlinkPolicy {
                mode,
                from: from.len() - 1,
            };
        }
        SymlinkPolicy { mode, from: 0 }
    }
}
