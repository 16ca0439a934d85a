//! The Apache model: what httpd 2.4 does with one request, decided from the configuration and
//! the files alone (docs/apache.md). The request and the answer are the nginx model's types
//! (`nginx::resolve::{Request, Handler}`), and `Resolution` has the same fields, so that what
//! is judged from an answer (the file, the walk, the status, the upstream) is written once
//! (`crate::answer`).
//!
//! The phases, as `ap_process_request_internal` runs them:
//! 1. the URI: `ap_normalize_path` (unreserved escapes decoded, `.`/`..` resolved, `//` merged;
//!    above `/` is 400), then `ap_unescape_url` (`%2F`, `%00`: 404; a bad escape: 400);
//! 2. the virtual host: the connection's address:port (IP-specific vhosts before `*`), then
//!    `ServerName`/`ServerAlias` against Host, else the first vhost of the address;
//! 3. translate_name: `ProxyPass` (mod_proxy runs first; `!` excludes), then mod_alias
//!    (every `Redirect*` before any `Alias*`; each list in order, first match wins, with
//!    `alias_matches`' slash rules), then `WSGIScriptAlias` (after mod_alias), then
//!    `DocumentRoot` + URI;
//! 4. map_to_storage: the directory walk of the file name as written (symlinks checked with the
//!    `Options` of the directory holding them; a missing component stops the walk), merging
//!    `<Directory>` (shortest first, then in order), `<DirectoryMatch>`, `.htaccess` where
//!    `AllowOverride` lets it in, `<Files>`/`<FilesMatch>`, `<Location>`/`<LocationMatch>`;
//! 5. access: the last merged section with `Require` lines decides (`AuthMerging Off`);
//! 6. the handler: a directory without `/` is redirected (mod_dir), with `/` its
//!    `DirectoryIndex` is looked up (each candidate a sub-request), else a listing
//!    (`Options Indexes`) or 403; a file is opened as the `User` from the config (403 when it
//!    cannot be read, 404 when it is missing or has path info).

mod conf;

pub use conf::{MapKind, Require, SectionKind, Server};

use crate::apache::{Config, NodeId};
use crate::fs::access::Access;
use crate::fs::identity::Identity;
use crate::fs::walk::{self, Outcome, Walk, WalkCache};
use crate::nginx::resolve::{Handler, Request};
use crate::sysroot::SysRoot;
#[cfg(test)]
use conf::OptionsSet;
use conf::{Map, Section, OPT_DEFAULT, OPT_FOLLOW, OPT_INDEXES, OPT_SYM_OWNER};
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

/// How Apache answers one request, and why: the fields of `nginx::resolve::Resolution`, with
/// the virtual host and the mapping in place of the server block and the location.
#[derive(Debug, Clone)]
pub struct Resolution {
    pub uri: Option<String>,
    /// The `<VirtualHost>` chosen (None: the main server).
    pub vhost: Option<NodeId>,
    pub server_choice: String,
    /// The `Alias`/`ProxyPass`/... that mapped the URL (None: `DocumentRoot`).
    pub mapping: Option<NodeId>,
    pub handler: Handler,
    pub path: Option<PathBuf>,
    pub predicted_status: Option<u16>,
    pub reason: String,
    pub walk: Option<Walk>,
    pub redirect: Option<String>,
    pub upstream: Option<String>,
    /// What Apache writes to its error log for this request.
    pub log: Vec<String>,
    pub steps: Vec<String>,
    /// The path is a regular file that exists (what mod_dir asks of an index candidate).
    pub is_file: bool,
}

/// What a resolver works from.
pub struct Resolver<'s> {
    cfg: &'s Config,
    root: &'s SysRoot,
    /// The user Apache's children run as (`User`/`Group`), or why it is unknown.
    who: Result<Identity, String>,
    servers: std::sync::Arc<Servers>,
    cache: WalkCache,
}

/// The servers of one configuration, as every resolver of it reads them: a check over each of
/// the 10,000 sites of a box builds a resolver per site, and shares these (`Site::per_box`)
/// rather than reading every `<VirtualHost>` again for each site.
pub struct Servers {
    main: Server,
    /// Each vhost's addresses and names (for choosing it).
    vhosts: Vec<Server>,
    /// Each vhost read whole, on first need.
    full: Vec<std::sync::OnceLock<Server>>,
}

impl Servers {
    pub fn of(cfg: &Config) -> Servers {
        let (main, vhosts) = conf::servers(cfg);
        Servers {
            main,
            full: (0..vhosts.len())
                .map(|_| std::sync::OnceLock::new())
                .collect(),
            vhosts,
        }
    }
}

/// Apache's compiled-in DocumentRoot on Debian.
const DEFAULT_DOCUMENT_ROOT: &str = "/var/www/html";

impl<'s> Resolver<'s> {
    pub fn new(cfg: &'s Config, root: &'s SysRoot) -> Resolver<'s> {
        Resolver::with_servers(cfg, root, std::sync::Arc::new(Servers::of(cfg)))
    }

    /// A resolver of `cfg` with its servers already read (`Servers::of(cfg)`, shared).
    pub fn with_servers(
        cfg: &'s Config,
        root: &'s SysRoot,
        servers: std::sync::Arc<Servers>,
    ) -> Resolver<'s> {
        Resolver {
            cfg,
            root,
            who: worker(cfg, root),
            servers,
            cache: WalkCache::new(root),
        }
    }

    pub fn config(&self) -> &'s Config {
        self.cfg
    }

    /// The user files are walked as.
    pub fn worker(&self) -> Result<&Identity, &str> {
        self.who.as_ref().map_err(|e| e.as_str())
    }

    pub fn virtual_hosts(&self) -> &[Server] {
        &self.servers.vhosts
    }

    pub fn resolve(&self, req: &Request) -> Resolution {
        let mut r = Resolution {
            uri: None,
            vhost: None,
            server_choice: String::new(),
            mapping: None,
            handler: Handler::Error,
            path: None,
            predicted_status: None,
            reason: String::new(),
            walk: None,
            redirect: None,
            upstream: None,
            log: Vec::new(),
            steps: Vec::new(),
            is_file: false,
        };
        let (path, query) = match req.target.iter().position(|&b| b == b'?') {
            Some(i) => (&req.target[..i], &req.target[i + 1..]),
            None => (&req.target[..], &b""[..]),
        };
        let uri = match parse_uri(path) {
            Ok(u) => u,
            Err(status) => {
                r.predicted_status = Some(status);
                r.reason = format!("Apache refuses the request target ({status})");
                r.steps.push(r.reason.clone());
                return r;
            }
        };
        r.uri = Some(uri.clone());
        let (light, choice) = self.select(req);
        let server = match (
            light.node,
            self.servers
                .vhosts
                .iter()
                .position(|v| v.node == light.node),
        ) {
            (Some(node), Some(i)) => {
                self.servers.full[i].get_or_init(|| conf::full_vhost(self.cfg, node))
            }
            _ => light,
        };
        r.vhost = server.node;
        r.server_choice = choice;
        r.steps.push(format!("virtual host: {}", r.server_choice));
        self.translate(&mut r, server, &uri, query, req, 0);
        r
    }

    /// The virtual host for the request: address:port, then name, then the first of them.
    fn select(&self, req: &Request) -> (&Server, String) {
        let local = req.local_addr.unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
        let port = req.port;
        let addr_match = |s: &&Server, exact: bool| {
            s.addrs.iter().any(|(ip, p)| {
                p.map_or(true, |p| p == port)
                    && match ip {
                        Some(ip) => exact && *ip == local,
                        None => !exact,
                    }
            })
        };
        let mut set: Vec<&Server> = self
            .servers
            .vhosts
            .iter()
            .filter(|s| addr_match(s, true))
            .collect();
        if set.is_empty() {
            set = self
                .servers
                .vhosts
                .iter()
                .filter(|s| addr_match(s, false))
                .collect();
        }
        if set.is_empty() {
            return (
                &self.servers.main,
                format!("no <VirtualHost> for port {port}: the main server"),
            );
        }
        let host = req
            .host_header
            .rsplit_once(':')
            .filter(|(_, p)| p.chars().all(|c| c.is_ascii_digit()))
            .map_or(req.host_header.as_str(), |(h, _)| h)
            .trim_end_matches('.')
            .to_ascii_lowercase();
        for s in &set {
            let name = s.name.as_ref().or(self.servers.main.name.as_ref());
            if name == Some(&host) {
                return (s, format!("ServerName {host}"));
            }
            let opts = glob::MatchOptions {
                case_sensitive: false,
                require_literal_separator: false,
                require_literal_leading_dot: false,
            };
            // A name without wildcards is compared as it is: compiling a pattern for each alias
            // of every virtual host before the one that answers was a tenth of a trace.
            let literal = |a: &str| a.is_ascii() && host.is_ascii() && !a.contains(['*', '?', '[']);
            if let Some(a) = s.aliases.iter().find(|a| {
                if literal(a) {
                    a.eq_ignore_ascii_case(&host)
                } else {
                    glob::Pattern::new(a).is_ok_and(|p| p.matches_with(&host, opts))
                }
            }) {
                return (s, format!("ServerAlias {a}"));
            }
        }
        (
            set[0],
            format!("the first <VirtualHost> for port {port} (no name matches {host})"),
        )
    }

    fn translate(
        &self,
        r: &mut Resolution,
        s: &Server,
        uri: &str,
        query: &[u8],
        req: &Request,
        depth: u8,
    ) {
        // The vhost's mappings, then the main server's (mod_alias appends them in that order).
        let maps: Vec<&Map> = s
            .maps
            .iter()
            .chain(if s.node.is_some() {
                self.servers.main.maps.iter()
            } else {
                [].iter()
            })
            .collect();
        // mod_proxy's translate_name runs first.
        for m in maps.iter().filter(|m| {
            matches!(
                m.kind,
                MapKind::ProxyPass { .. } | MapKind::ProxyPassMatch { .. }
            )
        }) {
            let hit = match m.kind {
                MapKind::ProxyPass { .. } => alias_matches(uri, &m.from).is_some(),
                _ => regex_match(&m.from, uri).is_some(),
            };
            if !hit {
                continue;
            }
            if matches!(
                m.kind,
                MapKind::ProxyPass { excluded: true } | MapKind::ProxyPassMatch { excluded: true }
            ) {
                r.steps
                    .push(format!("ProxyPass {} ! excludes it from proxying", m.from));
                break;
            }
            r.mapping = Some(m.node);
            r.handler = Handler::Proxy;
            r.upstream = m.to.clone();
            r.reason = format!(
                "ProxyPass {} hands it to {}",
                m.from,
                m.to.as_deref().unwrap_or("?")
            );
            r.steps.push(r.reason.clone());
            return;
        }
        // mod_alias: redirects first, then aliases.
        for m in maps
            .iter()
            .filter(|m| matches!(m.kind, MapKind::Redirect(_) | MapKind::RedirectMatch(_)))
        {
            let (status, target) = match m.kind {
                MapKind::Redirect(st) => match alias_matches(uri, &m.from) {
                    Some(n) => (
                        st,
                        m.to.as_ref()
                            .map(|t| format!("{t}{}", escape_path(&uri[n..]))),
                    ),
                    None => continue,
                },
                MapKind::RedirectMatch(st) => match regex_match(&m.from, uri) {
                    Some(caps) => (st, m.to.as_ref().map(|t| substitute(t, &caps))),
                    None => continue,
                },
                _ => continue,
            };
            r.mapping = Some(m.node);
            r.handler = Handler::Rewrite;
            r.predicted_status = Some(status);
            r.redirect = target.map(|t| {
                if query.is_empty() || m.kind != MapKind::Redirect(status) {
                    t
                } else {
                    format!("{t}?{}", String::from_utf8_lossy(query))
                }
            });
            r.reason = format!("Redirect {} answers {status}", m.from);
            r.steps.push(r.reason.clone());
            return;
        }
        let mut filename = None;
        for m in maps.iter().filter(|m| {
            matches!(
                m.kind,
                MapKind::Alias
                    | MapKind::AliasMatch
                    | MapKind::ScriptAlias
                    | MapKind::ScriptAliasMatch
            )
        }) {
            let Some(to) = &m.to else { continue };
            let target = match m.kind {
                MapKind::Alias | MapKind::ScriptAlias => match alias_matches(uri, &m.from) {
                    Some(n) => format!("{to}{}", &uri[n..]),
                    None => continue,
                },
                _ => match regex_match(&m.from, uri) {
                    Some(caps) => substitute(to, &caps),
                    None => continue,
                },
            };
            r.mapping = Some(m.node);
            r.steps
                .push(format!("{:?} {} {to} maps it to {target}", m.kind, m.from));
            if matches!(m.kind, MapKind::ScriptAlias | MapKind::ScriptAliasMatch) {
                r.handler = Handler::Module("cgi-script".into());
                r.path = Some(PathBuf::from(&target));
                r.reason = format!("ScriptAlias {}: {target} is run as a CGI program", m.from);
                return;
            }
            filename = Some(target);
            break;
        }
        if filename.is_none() {
            for m in maps.iter().filter(|m| {
                matches!(
                    m.kind,
                    MapKind::WsgiScriptAlias | MapKind::WsgiScriptAliasMatch
                )
            }) {
                let hit = match m.kind {
                    MapKind::WsgiScriptAlias => alias_matches(uri, &m.from).is_some(),
                    _ => regex_match(&m.from, uri).is_some(),
                };
                if hit {
                    r.mapping = Some(m.node);
                    r.handler = Handler::Module("wsgi".into());
                    r.path = m.to.as_ref().map(PathBuf::from);
                    r.upstream = m.to.clone();
                    r.reason = format!(
                        "WSGIScriptAlias {} hands it to the app {}",
                        m.from,
                        m.to.as_deref().unwrap_or("")
                    );
                    r.steps.push(r.reason.clone());
                    return;
                }
            }
        }
        let filename = match filename {
            Some(f) => f,
            None => {
                let root = s
                    .document_root
                    .as_deref()
                    .or(self.servers.main.document_root.as_deref())
                    .unwrap_or(DEFAULT_DOCUMENT_ROOT);
                let root = self.cfg.root_relative(root).to_string_lossy().into_owned();
                let root = root.trim_end_matches('/');
                r.steps.push(format!("DocumentRoot {root}"));
                format!("{root}{uri}")
            }
        };
        self.serve(r, s, uri, &filename, req, depth);
    }

    /// Sections that apply to the directory `dir` (a logical path ending in `/`), merged in
    /// Apache's order: `<Directory>` by depth, then `<DirectoryMatch>`, each server's in order
    /// (main server first). Returns the sections.
    fn dir_sections<'a>(&'a self, s: &'a Server, dir: &str) -> Vec<&'a Section> {
        let servers: Vec<&Server> = if s.node.is_some() {
            vec![&self.servers.main, s]
        } else {
            vec![s]
        };
        let mut plain: Vec<(usize, usize, &Section)> = Vec::new();
        let mut regex: Vec<&Section> = Vec::new();
        let mut order = 0;
        for srv in servers {
            for sec in &srv.sections {
                order += 1;
                match sec.kind {
                    SectionKind::Directory if dir_matches(&sec.pattern, dir) => {
                        plain.push((components(&sec.pattern), order, sec));
                    }
                    SectionKind::DirectoryMatch if regex_match(&sec.pattern, dir).is_some() => {
                        regex.push(sec);
                    }
                    _ => {}
                }
            }
        }
        plain.sort_by_key(|&(c, o, _)| (c, o));
        plain.into_iter().map(|(_, _, s)| s).chain(regex).collect()
    }

    /// Options in effect for directory `dir` (for the symlinks in it).
    fn dir_options(&self, s: &Server, dir: &str) -> u8 {
        let mut o = OPT_DEFAULT;
        for srv in self.servers_of(s) {
            if let Some(set) = srv.base.options {
                o = set.apply(o);
            }
        }
        for sec in self.dir_sections(s, dir) {
            if let Some(set) = sec.options {
                o = set.apply(o);
            }
        }
        o
    }

    /// `AllowOverride` for directory `dir`: the last `<Directory>` that applies and sets it
    /// (none sets it: `Overrides::UNSET`, the .htaccess is read and allows nothing).
    fn overrides(&self, s: &Server, dir: &str) -> conf::Overrides {
        self.dir_sections(s, dir)
            .into_iter()
            .filter(|sec| sec.kind == SectionKind::Directory)
            .filter_map(|sec| sec.allow_override)
            .next_back()
            .unwrap_or(conf::Overrides::UNSET)
    }

    fn access_file_name(&self) -> String {
        self.cfg
            .top()
            .filter(|d| d.is("AccessFileName"))
            .last()
            .and_then(|d| d.arg(0).map(str::to_string))
            .unwrap_or_else(|| ".htaccess".into())
    }

    /// The .htaccess of `dir` as a section, None when there is none, or the status Apache
    /// answers (None: not modelled) and why.
    fn read_htaccess(
        &self,
        dir: &str,
        allowed: conf::Overrides,
        who: &Identity,
    ) -> Result<Option<Section>, (Option<u16>, String)> {
        let path = format!("{dir}{}", self.access_file_name());
        let w = walk::walk_cached(
            self.root,
            &self.cache,
            Path::new(&path),
            who,
            Access::READ,
            false,
        );
        match &w.outcome {
            Outcome::Found { is_dir: false } => {}
            Outcome::Missing { .. } | Outcome::NotADirectory { .. } => return Ok(None),
            Outcome::Denied { .. } | Outcome::SymlinkLoop { .. } => {
                return Err((
                    Some(403),
                    format!(
                        "{path} cannot be read by {}: Apache denies access to be safe (AH00529)",
                        who.name
                    ),
                ))
            }
            other => return Err((None, format!("{path}: {other}"))),
        }
        let cfg = crate::apache::load_files(self.root, Path::new(&path))
            .map_err(|e| (None, format!("{path}: {e}")))?;
        if let Some(e) = cfg.first_error() {
            return Err((Some(500), format!("{path}: {}", e.message)));
        }
        // Every directive, those inside <Files> too, needs its override class.
        for d in cfg.all() {
            let name = d.name().to_ascii_lowercase();
            let ok = match name.as_str() {
                "require" => allowed.auth,
                "options" => allowed.options,
                "directoryindex" => allowed.indexes,
                "files" | "filesmatch" if d.is_section() => true,
                _ => {
                    return Err((
                        None,
                        format!("{path}: {} in .htaccess is not modelled", d.name()),
                    ))
                }
            };
            if !ok {
                return Err((
                    Some(500),
                    format!("{path}: {} not allowed here (AllowOverride)", d.name()),
                ));
            }
        }
        let mut sec = Section::new(SectionKind::Htaccess, None, path);
        conf::read_section_body(&mut sec, cfg.top());
        for f in &mut sec.nested_files {
            f.node = None;
        }
        Ok(Some(sec))
    }

    fn servers_of<'a>(&'a self, s: &'a Server) -> Vec<&'a Server> {
        if s.node.is_some() {
            vec![&self.servers.main, s]
        } else {
            vec![s]
        }
    }

    /// The map_to_storage, access and handler phases for `filename`. `depth` counts
    /// DirectoryIndex sub-requests.
    fn serve(
        &self,
        r: &mut Resolution,
        s: &Server,
        uri: &str,
        filename: &str,
        req: &Request,
        depth: u8,
    ) {
        r.handler = Handler::Static;
        let filename = merge_slashes(filename);
        r.path = Some(PathBuf::from(&filename));
        let who = match &self.who {
            Ok(w) => w,
            Err(why) => {
                r.reason = format!("the user Apache runs as is unknown: {why}");
                return;
            }
        };
        // The walk of the logical path, as root, for its shape: where it stops, its symlinks.
        let comps: Vec<&str> = filename.split('/').filter(|c| !c.is_empty()).collect();
        let mut dir = String::from("/");
        let mut exists_as: Option<bool> = None; // Some(is_dir) when the whole path exists
        let mut path_info = false;
        let mut applied_dirs: Vec<String> = vec![dir.clone()];
        for (i, c) in comps.iter().enumerate() {
            let p = format!("{dir}{c}");
            let last = i + 1 == comps.len();
            let meta = self.lstat(&p);
            let Some(meta) = meta else {
                // ENOENT (or unreadable as root): the walk stops; the rest is path info.
                break;
            };
            if meta.file_type().is_symlink() {
                let opts = self.dir_options(s, &dir);
                let target = self.stat(&p);
                let allowed = if opts & OPT_FOLLOW != 0 {
                    target.is_some()
                } else if opts & OPT_SYM_OWNER != 0 {
                    use std::os::unix::fs::MetadataExt;
                    target.as_ref().is_some_and(|t| t.uid() == meta.uid())
                } else {
                    false
                };
                if !allowed {
                    r.predicted_status = Some(403);
                    r.reason = format!(
                        "{p} is a symlink and the Options for {dir} do not let it be followed (or its target is missing)"
                    );
                    r.log.push(format!(
                        "AH00037: Symbolic link not allowed or link target not accessible: {p}"
                    ));
                    r.steps.push(r.reason.clone());
                    return;
                }
            }
            let Some(st) = self.stat(&p) else { break };
            if st.is_dir() {
                dir = format!("{p}/");
                applied_dirs.push(dir.clone());
                if last {
                    exists_as = Some(true);
                }
            } else {
                if last {
                    exists_as = Some(false);
                } else {
                    path_info = true;
                }
                break;
            }
        }
        // Permission: the walk as the worker, x on every directory, r on the file.
        let walk = walk::walk_cached(
            self.root,
            &self.cache,
            Path::new(&filename),
            who,
            Access::READ,
            true,
        );
        let denied_dir = match &walk.outcome {
            // Denied on the last step (the file, or the link's target): the read, not the walk.
            Outcome::Denied { at, needs } => {
                let is_last = walk.steps.last().is_some_and(|s| &s.path == at);
                !is_last || *needs != Access::READ
            }
            Outcome::SymlinkLoop { .. } => true,
            _ => false,
        };
        let cannot = matches!(walk.outcome, Outcome::CannotVerify { .. });
        let walk_outcome = walk.outcome.clone();
        r.walk = Some(walk);
        if cannot {
            r.reason = format!("the files cannot be read to tell: {walk_outcome}");
            return;
        }
        if denied_dir {
            r.predicted_status = Some(403);
            r.reason = format!("{} cannot reach the file: {walk_outcome}", who.name);
            r.log.push(format!(
                "(13)Permission denied: AH00035: access to {uri} denied (filesystem path '{filename}') because search permissions are missing on a component of the path"
            ));
            r.steps.push(r.reason.clone());
            return;
        }
        // The sections: directories reached, then Files for the last name, then Location.
        let last_dir = applied_dirs.last().cloned().unwrap_or_else(|| "/".into());
        // The .htaccess of each directory reached, where AllowOverride lets it in.
        let mut htaccess: Vec<(usize, Section)> = Vec::new();
        for d in &applied_dirs {
            let allowed = self.overrides(s, d);
            if !allowed.any {
                continue;
            }
            match self.read_htaccess(d, allowed, who) {
                Ok(Some(sec)) => {
                    r.steps.push(format!(
                        "{}{} is read (AllowOverride)",
                        d,
                        self.access_file_name()
                    ));
                    htaccess.push((components(d), sec));
                }
                Ok(None) => {}
                Err((status, why)) => {
                    r.predicted_status = status;
                    r.reason = why;
                    r.steps.push(r.reason.clone());
                    return;
                }
            }
        }
        let mut sections: Vec<&Section> = Vec::new();
        for srv in self.servers_of(s) {
            sections.push(&srv.base);
        }
        // <Directory> by depth with each directory's .htaccess right after the sections of its
        // own depth, then <DirectoryMatch>.
        let (plain, regex): (Vec<&Section>, Vec<&Section>) = self
            .dir_sections(s, &last_dir)
            .into_iter()
            .partition(|sec| sec.kind == SectionKind::Directory);
        let mut merged: Vec<(usize, usize, &Section)> = plain
            .into_iter()
            .enumerate()
            .map(|(i, sec)| (components(&sec.pattern), i, sec))
            .collect();
        merged.extend(htaccess.iter().map(|(c, sec)| (*c, usize::MAX, sec)));
        merged.sort_by_key(|&(c, o, _)| (c, o));
        sections.extend(merged.into_iter().map(|(_, _, sec)| sec));
        sections.extend(regex);
        let file_name = if exists_as == Some(true) {
            None
        } else {
            let base = &filename[filename.rfind('/').map_or(0, |i| i + 1)..];
            // With path info, <Files> sees the file that exists, not the missing name.
            if path_info || exists_as.is_none() {
                comps.get(applied_dirs.len() - 1).copied().or(Some(base))
            } else {
                Some(base)
            }
        };
        let mut files: Vec<&Section> = Vec::new();
        if let Some(name) = file_name {
            let dir_secs: Vec<&Section> = sections.clone();
            for sec in dir_secs.iter().flat_map(|d| d.nested_files.iter()) {
                if files_match(sec, name) {
                    files.push(sec);
                }
            }
            for srv in self.servers_of(s) {
                for sec in &srv.sections {
                    if matches!(sec.kind, SectionKind::Files | SectionKind::FilesMatch)
                        && files_match(sec, name)
                    {
                        files.push(sec);
                    }
                }
            }
        }
        // Apache applies the server's <Files> before the ones nested in <Directory>? Both are
        // in the merged per-dir config's list in order: server first.
        files.sort_by_key(|f| f.node.unwrap_or(0));
        sections.extend(files);
        for srv in self.servers_of(s) {
            for sec in &srv.sections {
                let hit = match sec.kind {
                    SectionKind::Location => alias_matches_location(uri, &sec.pattern),
                    SectionKind::LocationMatch => regex_match(&sec.pattern, uri).is_some(),
                    _ => false,
                };
                if hit {
                    sections.push(sec);
                }
            }
        }
        // Access.
        if let Some(why) = sections.iter().flat_map(|s| s.unmodelled.iter()).next() {
            r.reason = format!("{why} decides access here: not modelled");
            return;
        }
        if sections.iter().any(|s| !s.access_compat.is_empty()) {
            r.reason = "Order/Allow/Deny (Apache 2.2 access control, obsolete in 2.4) applies here: not modelled".into();
            r.steps.push(r.reason.clone());
            return;
        }
        let authz = sections.iter().rev().find(|s| !s.require.is_empty());
        match authz.map(|s| decide(&s.require, req.client)) {
            Some(Some(false)) => {
                r.handler = Handler::Access;
                r.predicted_status = Some(403);
                r.reason = "Require denies it: client denied by server configuration".into();
                r.log.push(format!(
                    "AH01630: client denied by server configuration: {filename}"
                ));
                r.steps.push(r.reason.clone());
                return;
            }
            Some(None) => {
                r.reason = "a Require rule that is not modelled decides access".into();
                return;
            }
            Some(Some(true)) | None => {}
        }
        if sections.iter().any(|s| s.require.contains(&Require::Login))
            && authz.is_some_and(|a| a.require.contains(&Require::Login))
        {
            r.handler = Handler::Auth;
            r.predicted_status = Some(401);
            r.reason = "Require asks for a login".into();
            return;
        }
        if let Some(h) = sections.iter().rev().find_map(|s| s.handler.as_deref()) {
            if let Some(url) = h.strip_prefix("proxy:") {
                r.handler = Handler::Proxy;
                r.upstream = Some(url.to_string());
            } else {
                r.handler = Handler::Module(h.to_string());
            }
            r.reason = format!("the handler {h} answers");
            return;
        }
        let mut options = OPT_DEFAULT;
        let mut index: Vec<String> = vec!["index.html".into()];
        for sec in &sections {
            if let Some(o) = sec.options {
                options = o.apply(options);
            }
            if let Some(i) = &sec.directory_index {
                index = i.clone();
            }
        }
        match exists_as {
            None => {
                r.predicted_status = Some(404);
                r.reason = if path_info {
                    format!("{filename}: a file with more path after it (no path info for static files)")
                } else {
                    format!("{filename} does not exist")
                };
                r.log
                    .push(format!("AH00128: File does not exist: {filename}"));
                r.steps.push(r.reason.clone());
            }
            Some(false) => {
                r.is_file = true;
                if matches!(walk_outcome, Outcome::Denied { .. }) {
                    r.predicted_status = Some(403);
                    r.reason = format!("{} cannot read {filename}", who.name);
                    r.log.push(format!("(13)Permission denied: AH00132: file permissions deny server access: {filename}"));
                } else {
                    r.predicted_status = Some(200);
                    r.reason = format!("the file {filename} is served");
                }
                r.steps.push(r.reason.clone());
            }
            Some(true) => {
                if !uri.ends_with('/') {
                    r.handler = Handler::Redirect;
                    r.predicted_status = Some(301);
                    r.redirect = Some(format!("{uri}/"));
                    r.reason = "a directory without its trailing slash: mod_dir redirects".into();
                    r.steps.push(r.reason.clone());
                    return;
                }
                r.handler = Handler::Index;
                let mut error = None;
                if !(index.len() == 1 && index[0].eq_ignore_ascii_case("disabled")) && depth < 4 {
                    for name in &index {
                        // Each candidate is a sub-request for its URL: translated again (an
                        // Alias may send it elsewhere than the directory's own file).
                        let sub_uri = if name.starts_with('/') {
                            name.clone()
                        } else {
                            format!("{uri}{name}")
                        };
                        let mut sub = Resolution {
                            steps: Vec::new(),
                            log: Vec::new(),
                            is_file: false,
                            predicted_status: None,
                            mapping: None,
                            walk: None,
                            redirect: None,
                            upstream: None,
                            ..r.clone()
                        };
                        self.translate(&mut sub, s, &sub_uri, b"", req, depth + 1);
                        let chosen = sub.is_file
                            || sub.handler.is_upstream()
                            || matches!(sub.handler, Handler::Module(_));
                        if chosen {
                            r.handler = sub.handler;
                            r.predicted_status = sub.predicted_status;
                            r.path = sub.path;
                            r.walk = sub.walk;
                            r.log = sub.log;
                            r.upstream = sub.upstream;
                            r.is_file = sub.is_file;
                            r.reason = format!("DirectoryIndex {name}: {}", sub.reason);
                            r.steps.push(r.reason.clone());
                            return;
                        }
                        match (sub.handler.clone(), sub.predicted_status) {
                            (Handler::Rewrite, Some(st)) => {
                                r.handler = Handler::Rewrite;
                                r.predicted_status = Some(st);
                                r.redirect = sub.redirect;
                                r.reason = format!("DirectoryIndex {name}: {}", sub.reason);
                                return;
                            }
                            (_, Some(404))
                            | (Handler::Redirect, _)
                            | (Handler::Index, _)
                            | (Handler::Autoindex, _) => {}
                            (_, Some(other)) => error = Some(other),
                            (_, None) => {
                                r.reason = format!("DirectoryIndex {name}: {}", sub.reason);
                                return;
                            }
                        }
                    }
                }
                if let Some(e) = error {
                    r.predicted_status = Some(e);
                    r.reason = format!("a DirectoryIndex candidate answered {e}");
                    return;
                }
                if options & OPT_INDEXES != 0 {
                    r.handler = Handler::Autoindex;
                    let w = walk::walk_cached(
                        self.root,
                        &self.cache,
                        Path::new(&filename),
                        who,
                        Access::READ,
                        true,
                    );
                    let ok = w.outcome.is_found();
                    r.walk = Some(w);
                    r.predicted_status = Some(if ok { 200 } else { 403 });
                    r.reason = if ok {
                        "Options Indexes: a listing of the directory".into()
                    } else {
                        format!(
                            "Options Indexes, but {} cannot read the directory",
                            who.name
                        )
                    };
                } else {
                    r.predicted_status = Some(403);
                    r.reason = format!(
                        "no DirectoryIndex ({}) in {filename}, and Options has no Indexes",
                        index.join(" ")
                    );
                    r.log.push(format!("AH01276: Cannot serve directory {filename}: No matching DirectoryIndex ({}) found, and server-generated directory index forbidden by Options directive", index.join(",")));
                }
                r.steps.push(r.reason.clone());
            }
        }
    }

    fn lstat(&self, p: &str) -> Option<std::fs::Metadata> {
        let path = Path::new(p);
        let parent = path.parent()?;
        let host = self.root.resolve(parent).ok()?.join(path.file_name()?);
        std::fs::symlink_metadata(host).ok()
    }

    fn stat(&self, p: &str) -> Option<std::fs::Metadata> {
        std::fs::metadata(self.root.resolve(Path::new(p)).ok()?).ok()
    }
}

/// The user from `User`/`Group` (after `${APACHE_RUN_USER}`), as Apache's children run.
fn worker(cfg: &Config, root: &SysRoot) -> Result<Identity, String> {
    let user = cfg
        .top()
        .filter(|d| d.is("User"))
        .last()
        .and_then(|d| d.arg(0).map(str::to_string));
    let group = cfg
        .top()
        .filter(|d| d.is("Group"))
        .last()
        .and_then(|d| d.arg(0).map(str::to_string));
    // Debian's default when the config does not say (unixd's compiled-in #-1 is not a user).
    let user = user.unwrap_or_else(|| "www-data".into());
    let lookup_user = user
        .strip_prefix('#')
        .map_or(user.clone(), |u| u.to_string());
    let r = match &group {
        Some(g) => Identity::with_group(root, &lookup_user, g.trim_start_matches('#')),
        None => Identity::lookup(root, &lookup_user),
    };
    r.map_err(|e| e.to_string())
}

/// `AuthMerging Off`'s one section: its Require lines as an implicit `<RequireAny>`.
/// Some(true) granted, Some(false) denied, None when a rule is not modelled.
fn decide(rules: &[Require], client: IpAddr) -> Option<bool> {
    let mut unknown = false;
    for q in rules {
        let g = match q {
            Require::All(g) => Some(*g),
            Require::Ip { not: false, nets } => {
                Some(nets.iter().any(|n| conf::ip_matches(n, client)))
            }
            Require::Local { not: false } => Some(client.is_loopback()),
            Require::Login => Some(false),
            _ => None,
        };
        match g {
            Some(true) => return Some(true),
            Some(false) => {}
            None => unknown = true,
        }
    }
    if unknown {
        None
    } else {
        Some(false)
    }
}

/// `ap_normalize_path` + `ap_unescape_url`: the decoded URI, or the status Apache answers.
pub fn parse_uri(path: &[u8]) -> Result<String, u16> {
    if path.first() != Some(&b'/') {
        return Err(400);
    }
    // 1. Unreserved escapes decoded; a bad escape is 400.
    let mut out: Vec<u8> = Vec::with_capacity(path.len());
    let mut i = 0;
    while i < path.len() {
        let c = path[i];
        if c == b'%' {
            let hex = |b: u8| (b as char).to_digit(16);
            let (Some(h), Some(l)) = (
                path.get(i + 1).and_then(|&b| hex(b)),
                path.get(i + 2).and_then(|&b| hex(b)),
            ) else {
                return Err(400);
            };
            let v = (h * 16 + l) as u8;
            if v.is_ascii_alphanumeric() || b"-._~".contains(&v) {
                out.push(v);
            } else {
                out.extend_from_slice(&path[i..i + 3]);
            }
            i += 3;
            continue;
        }
        out.push(c);
        i += 1;
    }
    // 2. Segments: `//` merged, `.` dropped, `..` climbs (not above /: 400).
    let mut segs: Vec<&[u8]> = Vec::new();
    let trailing = out.ends_with(b"/") || out.ends_with(b"/.") || out.ends_with(b"/..");
    for seg in out.split(|&b| b == b'/') {
        match seg {
            b"" | b"." => {}
            b".." => {
                if segs.pop().is_none() {
                    return Err(400);
                }
            }
            s => segs.push(s),
        }
    }
    let mut norm = Vec::with_capacity(out.len());
    for s in &segs {
        norm.push(b'/');
        norm.extend_from_slice(s);
    }
    if norm.is_empty() || trailing {
        norm.push(b'/');
    }
    // 3. Everything else decoded: an encoded `/` or NUL is 404 (AllowEncodedSlashes Off).
    let mut dec = Vec::with_capacity(norm.len());
    let mut i = 0;
    while i < norm.len() {
        if norm[i] == b'%' && i + 2 < norm.len() {
            let v =
                u8::from_str_radix(std::str::from_utf8(&norm[i + 1..i + 3]).unwrap_or("zz"), 16)
                    .map_err(|_| 400u16)?;
            if v == b'/' || v == 0 {
                return Err(404);
            }
            dec.push(v);
            i += 3;
        } else {
            dec.push(norm[i]);
            i += 1;
        }
    }
    Ok(String::from_utf8_lossy(&dec).into_owned())
}

/// mod_alias's `alias_matches`: the bytes of `uri` the alias covers, when it does (any run of
/// `/` in the alias matches any run in the URI; the alias must end at a segment boundary).
pub fn alias_matches(uri: &str, alias: &str) -> Option<usize> {
    let (a, u) = (alias.as_bytes(), uri.as_bytes());
    let (mut ai, mut ui) = (0, 0);
    while ai < a.len() {
        if a[ai] == b'/' {
            if u.get(ui) != Some(&b'/') {
                return None;
            }
            while a.get(ai) == Some(&b'/') {
                ai += 1;
            }
            while u.get(ui) == Some(&b'/') {
                ui += 1;
            }
        } else {
            if u.get(ui) != Some(&a[ai]) {
                return None;
            }
            ai += 1;
            ui += 1;
        }
    }
    if ai > 0 && a[ai - 1] != b'/' && ui < u.len() && u[ui] != b'/' {
        return None;
    }
    Some(ui)
}

/// `<Location>`: a prefix of the URI ending at a segment boundary (slashes merged).
fn alias_matches_location(uri: &str, pattern: &str) -> bool {
    if pattern.contains(['*', '?', '[']) {
        let opts = glob::MatchOptions {
            case_sensitive: true,
            require_literal_separator: true,
            require_literal_leading_dot: false,
        };
        return glob::Pattern::new(pattern).is_ok_and(|p| p.matches_with(uri, opts));
    }
    let p = merge_slashes(pattern);
    uri.starts_with(&p)
        && (p.ends_with('/') || uri.len() == p.len() || uri.as_bytes()[p.len()] == b'/')
}

/// A non-regex `<Directory>` (ending in `/`) applies to `dir` (a directory path ending in `/`)
/// when it names it or a parent; wildcards match whole components.
fn dir_matches(pattern: &str, dir: &str) -> bool {
    let pattern = merge_slashes(pattern);
    if pattern.contains(['*', '?', '[']) {
        let n = components(&pattern);
        let prefix: String = dir
            .split('/')
            .filter(|c| !c.is_empty())
            .take(n)
            .fold(String::from("/"), |acc, c| format!("{acc}{c}/"));
        if components(&prefix) < n {
            return false;
        }
        let opts = glob::MatchOptions {
            case_sensitive: true,
            require_literal_separator: true,
            require_literal_leading_dot: false,
        };
        return glob::Pattern::new(&pattern).is_ok_and(|p| p.matches_with(&prefix, opts));
    }
    dir.starts_with(pattern.as_str())
}

fn components(p: &str) -> usize {
    p.split('/').filter(|c| !c.is_empty()).count()
}

fn files_match(sec: &Section, name: &str) -> bool {
    match sec.kind {
        SectionKind::FilesMatch => regex_match(&sec.pattern, name).is_some(),
        _ => {
            let opts = glob::MatchOptions {
                case_sensitive: true,
                require_literal_separator: true,
                require_literal_leading_dot: false,
            };
            glob::Pattern::new(&sec.pattern).is_ok_and(|p| p.matches_with(name, opts))
        }
    }
}

/// A PCRE match of `re` in `subject`: the groups (`$0`..).
fn regex_match(re: &str, subject: &str) -> Option<Vec<String>> {
    let r = pcre2::bytes::Regex::new(re).ok()?;
    let caps = r.captures(subject.as_bytes()).ok()??;
    Some(
        (0..caps.len())
            .map(|i| {
                caps.get(i).map_or(String::new(), |m| {
                    String::from_utf8_lossy(m.as_bytes()).into_owned()
                })
            })
            .collect(),
    )
}

/// `ap_pregsub`: `$N` (and `\N`... Apache only knows `$N`) replaced by the groups.
fn substitute(template: &str, caps: &[String]) -> String {
    let mut out = String::new();
    let b = template.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if (b[i] == b'$' || b[i] == b'\\') && i + 1 < b.len() && b[i + 1].is_ascii_digit() {
            let n = (b[i + 1] - b'0') as usize;
            out.push_str(caps.get(n).map_or("", |s| s.as_str()));
            i += 2;
        } else {
            let ch = template[i..].chars().next().unwrap_or('\u{fffd}');
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

fn escape_path(s: &str) -> String {
    let mut out = String::new();
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/!$&'()*+,;=:@".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn merge_slashes(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c == '/' && out.ends_with('/') {
            continue;
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alias_matching_follows_mod_alias() {
        assert_eq!(alias_matches("/media/a.jpg", "/media/"), Some(7));
        assert_eq!(alias_matches("/media", "/media/"), None);
        assert_eq!(alias_matches("/media/a", "/media"), Some(6));
        assert_eq!(alias_matches("/mediax", "/media"), None);
        assert_eq!(alias_matches("/media//a", "/media/"), Some(8));
        assert_eq!(alias_matches("/", "/"), Some(1));
    }

    #[test]
    fn uris_as_apache_normalises_them() {
        assert_eq!(parse_uri(b"/a/./b/../c"), Ok("/a/c".into()));
        assert_eq!(parse_uri(b"/a//b"), Ok("/a/b".into()));
        assert_eq!(parse_uri(b"/.."), Err(400));
        assert_eq!(parse_uri(b"/a%2fb"), Err(404));
        assert_eq!(parse_uri(b"/a%zz"), Err(400));
        assert_eq!(parse_uri(b"/a%20b"), Ok("/a b".into()));
        assert_eq!(parse_uri(b"/a/"), Ok("/a/".into()));
        assert_eq!(parse_uri(b"/%2e%2e/x"), Err(400));
    }

    #[test]
    fn options_merge() {
        let o = OptionsSet::parse(&["-Indexes", "+FollowSymLinks"]).unwrap();
        assert_eq!(o.apply(OPT_INDEXES), OPT_FOLLOW);
        let o = OptionsSet::parse(&["Indexes"]).unwrap();
        assert_eq!(o.apply(OPT_FOLLOW), OPT_INDEXES);
    }

    #[test]
    fn require_ip_forms() {
        let ip: IpAddr = "10.1.2.3".parse().unwrap();
        assert!(conf::ip_matches("10.1", ip));
        assert!(conf::ip_matches("10.0.0.0/8", ip));
        assert!(conf::ip_matches("10.1.0.0/255.255.0.0", ip));
        assert!(!conf::ip_matches("10.2", ip));
        assert!(!conf::ip_matches("192.168.0.0/16", ip));
    }
}
