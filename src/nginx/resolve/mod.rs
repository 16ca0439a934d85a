//! The nginx model: what nginx does with one request, decided from the configuration and the
//! files alone (never by asking a running nginx).
//!
//! `Request::from_url` → `Resolver::resolve` → `Resolution`: the server and location chosen, the
//! handler, the file path exactly as nginx builds it, the namei-style walk of that path as the
//! worker user, the status nginx will answer and why. Checks and `trace` share this one model:
//! nothing else in media-doctor matches locations or maps URIs to paths.
//!
//! Modules, in the order a request meets them:
//! - `uri`: request-target decoding and normalisation (`ngx_http_parse_complex_uri`);
//! - `server`: listen sockets and `server_name` matching;
//! - `location`: the location tree (`=`, `^~`, regex order, nesting, auto redirect);
//! - `conf`: each block's merged configuration (root/alias inheritance, access, error pages);
//! - `vars`, `regex`: variables, `map`, PCRE captures;
//! - `engine`: the phases (rewrite, access, try_files, index, autoindex, static, error_page) and
//!   the questions that are not one request (`served_prefix`, `static_locations`);
//! - `served`: the directories served from disk, with their directives and the URL of a file;
//! - `files`: the system calls nginx makes, answered from the files as the worker user sees them.

mod conf;
mod engine;
mod files;
mod location;
pub mod regex;
pub mod served;
mod server;
pub mod uri;
pub mod vars;

pub use conf::{AliasKind, Symlinks};
pub use files::Errno;
pub use location::Modifier;
pub use server::{
    listen_port, listen_ports, parse_listen, validate_host, Listen, ListenAddr, ServerInfo,
};

use crate::fs::walk::Walk;
use crate::fs::Worker;
use crate::nginx::{Config, ConfigKind, Directive, NodeId};
use crate::sysroot::SysRoot;
use anyhow::{bail, Result};
use conf::Blocks;
use location::Locations;
use serde::Serialize;
use server::ServerIndex;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

/// One request, as a client would send it for a URL.
#[derive(Debug, Clone, Serialize)]
pub struct Request {
    /// The URL as given.
    pub url: String,
    pub scheme: String,
    /// The Host header as sent (`example.com:8080`): `$http_host`.
    pub host_header: String,
    pub port: u16,
    /// The request target as sent (`/media/a%20b.png?x=1`).
    #[serde(serialize_with = "ser_lossy")]
    pub target: Vec<u8>,
    pub method: String,
    /// The client address allow/deny rules see (`$remote_addr`); 127.0.0.1 unless set.
    pub client: IpAddr,
    /// The local address the connection reaches, when known (picks among listen addresses).
    pub local_addr: Option<IpAddr>,
}

fn ser_lossy<S: serde::Serializer>(b: &[u8], s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&crate::text_safe::bytes(b))
}

impl Request {
    /// Parse `http[s]://host[:port]/path?query`. The scheme defaults to http; the path is sent
    /// as written (like `curl --path-as-is`), bytes a client cannot send raw are %-escaped.
    pub fn from_url(url: &str) -> Result<Request> {
        let url = url.trim();
        let (scheme, rest) = match url.split_once("://") {
            Some((s, r)) => (s.to_ascii_lowercase(), r),
            None => ("http".to_string(), url),
        };
        if scheme != "http" && scheme != "https" {
            bail!("{url}: only http:// and https:// URLs can be traced");
        }
        let (authority, path) = match rest.find(['/', '?', '#']) {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        if authority.is_empty() {
            bail!("{url}: the URL has no host");
        }
        let default_port = if scheme == "https" { 443 } else { 80 };
        let (host_part, port) = split_port(authority, default_port)?;
        let path = path.split('#').next().unwrap_or("");
        let path = if path.starts_with('?') || path.is_empty() {
            format!("/{path}")
        } else {
            path.to_string()
        };
        let mut target = Vec::with_capacity(path.len());
        for &b in path.as_bytes() {
            if b <= 0x20 || b >= 0x7f {
                target.extend_from_slice(format!("%{b:02X}").as_bytes());
            } else {
                target.push(b);
            }
        }
        let host_header = if port == default_port {
            host_part.to_string()
        } else {
            format!("{host_part}:{port}")
        };
        Ok(Request {
            url: url.to_string(),
            scheme,
            host_header,
            port,
            target,
            method: "GET".into(),
            client: IpAddr::V4(Ipv4Addr::LOCALHOST),
            local_addr: None,
        })
    }

    /// A request for `uri` with this Host on this port (for checks asking about a path).
    pub fn for_path(host: &str, port: u16, target: &str) -> Request {
        // Sized once: `format!` grew it twice (a check asks ~60 paths a site).
        let mut url = String::with_capacity(7 + host.len() + target.len());
        url.push_str("http://");
        url.push_str(host);
        url.push_str(target);
        Request {
            url,
            scheme: "http".into(),
            host_header: host.to_string(),
            port,
            target: target.as_bytes().to_vec(),
            method: "GET".into(),
            client: IpAddr::V4(Ipv4Addr::LOCALHOST),
            local_addr: None,
        }
    }

    pub fn with_method(mut self, m: &str) -> Request {
        self.method = m.to_ascii_uppercase();
        self
    }
    pub fn with_client(mut self, ip: IpAddr) -> Request {
        self.client = ip;
        self
    }
    pub fn with_local_addr(mut self, ip: IpAddr) -> Request {
        self.local_addr = Some(ip);
        self
    }
}

fn split_port(authority: &str, default: u16) -> Result<(&str, u16)> {
    if authority.starts_with('[') {
        let end = authority
            .find(']')
            .ok_or_else(|| anyhow::anyhow!("{authority}: unterminated IPv6 literal"))?;
        let port = match authority[end + 1..].strip_prefix(':') {
            Some(p) if !p.is_empty() => p.parse()?,
            _ => default,
        };
        return Ok((&authority[..=end], port));
    }
    match authority.rsplit_once(':') {
        Some((h, p)) if !p.is_empty() => Ok((
            h,
            p.parse()
                .map_err(|_| anyhow::anyhow!("{authority}: bad port {p:?}"))?,
        )),
        Some((h, _)) => Ok((h, default)),
        None => Ok((authority, default)),
    }
}

/// What produced the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handler {
    /// A file from disk (the static module).
    Static,
    /// A directory URI answered by the index module (its redirect, or its 403/404).
    Index,
    Autoindex,
    /// `proxy_pass`, `fastcgi_pass`, `uwsgi_pass`, `scgi_pass`, `grpc_pass`, `memcached_pass`.
    Proxy,
    Fastcgi,
    Uwsgi,
    Scgi,
    Grpc,
    Memcached,
    /// Another module's handler (`empty_gif`, `stub_status`, `content_by_lua_block`, ...).
    Module(String),
    /// `return`.
    Return,
    /// `rewrite ... redirect|permanent` or a rewrite to an absolute URL.
    Rewrite,
    /// 301 to add the trailing slash (a directory, or a `*_pass` location ending in `/`).
    Redirect,
    /// An `internal` location asked for from outside: 404.
    Internal,
    /// `deny` (403).
    Access,
    /// `auth_basic` without credentials (401).
    Auth,
    /// `try_files ... =CODE`.
    TryFiles,
    /// nginx refused the request line (400) or failed internally (500).
    Error,
}

impl Handler {
    pub fn as_str(&self) -> &str {
        match self {
            Handler::Static => "static",
            Handler::Index => "index",
            Handler::Autoindex => "autoindex",
            Handler::Proxy => "proxy",
            Handler::Fastcgi => "fastcgi",
            Handler::Uwsgi => "uwsgi",
            Handler::Scgi => "scgi",
            Handler::Grpc => "grpc",
            Handler::Memcached => "memcached",
            Handler::Module(m) => m,
            Handler::Return => "return",
            Handler::Rewrite => "rewrite",
            Handler::Redirect => "redirect",
            Handler::Internal => "internal",
            Handler::Access => "access",
            Handler::Auth => "auth",
            Handler::TryFiles => "try_files",
            Handler::Error => "error",
        }
    }
    /// True for handlers whose answer comes from an upstream (status not predictable offline).
    pub fn is_upstream(&self) -> bool {
        matches!(
            self,
            Handler::Proxy
                | Handler::Fastcgi
                | Handler::Uwsgi
                | Handler::Scgi
                | Handler::Grpc
                | Handler::Memcached
        )
    }
    fn for_directive(d: &str) -> Handler {
        match d {
            "proxy_pass" => Handler::Proxy,
            "fastcgi_pass" => Handler::Fastcgi,
            "uwsgi_pass" => Handler::Uwsgi,
            "scgi_pass" => Handler::Scgi,
            "grpc_pass" => Handler::Grpc,
            "memcached_pass" => Handler::Memcached,
            other => Handler::Module(other.to_string()),
        }
    }
}

impl Serialize for Handler {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// How nginx answers one request, and why.
#[derive(Debug, Clone)]
pub struct Resolution {
    /// The decoded, normalised URI nginx matched (`$uri`, lossy UTF-8), None on a 400.
    pub uri: Option<String>,
    pub server: Option<NodeId>,
    /// How the server was chosen (`server_name example.com`, `default_server of *:80`).
    pub server_choice: String,
    /// The location in effect when the answer was produced.
    pub location: Option<NodeId>,
    pub handler: Handler,
    /// The file (or directory) nginx opens first for the request, exactly as it built the path
    /// (for a directory URI with an index, `dir/index.html`; before any error page).
    pub path: Option<PathBuf>,
    /// The file the answer ends on when it is not `path`: the error page, or the index file
    /// served after the internal redirect. None when the answer ends on `path` itself.
    pub final_path: Option<PathBuf>,
    /// The status nginx answers; None when it cannot be known from the config and files
    /// (a proxied request, an unknown worker user, an unverifiable path).
    pub predicted_status: Option<u16>,
    pub reason: String,
    /// Why the answer cannot be predicted, when it cannot and the reason is not an upstream
    /// (a directive the model does not follow, a variable it cannot evaluate, a file it cannot
    /// see): `predicted_status` is None then.
    pub unknown: Option<String>,
    /// The walk of `path` as the worker user.
    pub walk: Option<Walk>,
    /// The Location header of a 3xx.
    pub redirect: Option<String>,
    /// The upstream of a proxied request.
    pub upstream: Option<String>,
    /// The lines nginx writes to its error log for this request (message part).
    pub log: Vec<String>,
    /// What happened, step by step (for `trace`).
    pub steps: Vec<String>,
}

impl Resolution {
    /// The file the answer ends on: `final_path` when the request moved on (error page, index),
    /// else `path`. What "nginx serves this file" compares with.
    pub fn served_path(&self) -> Option<&std::path::Path> {
        self.final_path.as_deref().or(self.path.as_deref())
    }
}

/// A block's merged configuration, as the checks need it.
#[derive(Debug, Clone)]
pub struct BlockInfo {
    pub root: RootInfo,
    pub autoindex: bool,
    /// The block's own `try_files`.
    pub try_files: Option<NodeId>,
    /// The content handler the block installs: (`proxy_pass`, its directive).
    pub handler: Option<(String, NodeId)>,
    /// `add_header`s in effect (nginx's all-or-nothing inheritance applied).
    pub add_headers: Vec<(String, String)>,
    pub internal: bool,
    /// The first access rule is `deny all`.
    pub denies_all: bool,
}

/// The `root`/`alias` of a block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootInfo {
    /// The `root`/`alias` directive (None: nginx's default `html` under the prefix).
    pub directive: Option<NodeId>,
    pub alias: AliasKind,
    /// As nginx stores it: absolute (prefix applied), `root`'s trailing slash dropped.
    pub value: String,
    /// Contains variables (or is a regex location's alias): evaluated per request.
    pub scripted: bool,
}

/// A location that serves files from disk, and the directory it serves for its URL prefix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Served {
    pub server: NodeId,
    pub location: Option<NodeId>,
    /// The URL prefix (the location's name; for a regex location its pattern).
    pub prefix: String,
    /// The directory on disk that the prefix maps to (for `= /x` locations, the file).
    pub dir: PathBuf,
    pub kind: ServedKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ServedKind {
    Root,
    Alias,
}

impl std::fmt::Display for ServedKind {
    /// The directive: `root` or `alias`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ServedKind::Root => "root",
            ServedKind::Alias => "alias",
        })
    }
}

/// What every model of one config shares, whichever servers it covers: the listen sockets and
/// server names of every server (choosing the server for a request needs them all), the `http`
/// block's merged configuration, the `map`s. Built once per config (`Shared::build`) and shared
/// by the models of its sites: a check of each of 10,000 sites would otherwise index 21,000
/// servers 10,000 times.
#[derive(Debug)]
pub struct Shared {
    servers: ServerIndex,
    /// The http block alone, its index, and the server blocks that are its direct children.
    http: (Blocks, conf::BlockIdx, conf::NodeSet),
    maps: HashMap<String, vars::Map>,
    /// Variables the config declares (`set $x`, named regex captures): unset, they are empty.
    /// Found on first need (a variable no module provides): the walk covers every directive.
    declared: std::sync::OnceLock<std::collections::HashSet<String>>,
    /// `server_name`s given twice on one listen socket (MD108), found on first use.
    duplicates: std::sync::OnceLock<Vec<DuplicateName>>,
}

/// A `server_name` a server of a socket gives after an earlier server of the same socket gave
/// it: nginx warns "conflicting server name" and ignores it there.
#[derive(Debug, Clone)]
pub struct DuplicateName {
    /// The socket as `Listen::describe` writes it.
    pub listen: String,
    /// The name as the later server writes it.
    pub name: String,
    /// The name in lowercase (how nginx compares names).
    pub key: String,
    /// The server that ignores it, and the first server that gave it.
    pub ignored: NodeId,
    pub first: NodeId,
}

impl Shared {
    /// Every server block of the config, in config order (`Config::servers()`), with its
    /// names as written and its listens.
    pub fn servers(&self) -> &[ServerInfo] {
        &self.servers.servers
    }

    pub fn build(cfg: &Config) -> Shared {
        let all: Vec<NodeId> = cfg.servers().iter().map(Directive::id).collect();
        let http = http_block(cfg);
        let top: Vec<Directive<'_>> = match http {
            Some(h) => h.children().collect(),
            None => cfg.top().collect(),
        };
        /// Below this many servers a second thread costs more than it saves.
        const PARALLEL_MIN: usize = 2_000;
        // The http context is walked once (it holds every server: 21,000 in a large box). On a
        // large box a second thread reads the http block, its maps and the last third of the
        // servers while this one reads the others (the same values as on one thread).
        let (infos, http_only, maps) = if all.len() < PARALLEL_MIN || crate::system::cores() < 2 {
            let infos = ServerIndex::infos(cfg, &all);
            (
                infos,
                Blocks::http_only(http, &top, &cfg.prefix),
                vars::collect_maps(top.into_iter()),
            )
        } else {
            let (mine, theirs) = all.split_at(all.len() * 2 / 3);
            std::thread::scope(|scope| {
                let other = scope.spawn(|| {
                    (
                        Blocks::http_only(http, &top, &cfg.prefix),
                        vars::collect_maps(top.iter().copied()),
                        ServerIndex::infos(cfg, theirs),
                    )
                });
                let mut infos = ServerIndex::infos(cfg, mine);
                let (http_only, maps, rest) = other
                    .join()
                    .unwrap_or_else(|p| std::panic::resume_unwind(p));
                // Exactly: `extend` would double the room of two thirds (a third unused).
                infos.reserve_exact(rest.len());
                infos.extend(rest);
                (infos, http_only, maps)
            })
        };
        Shared {
            servers: ServerIndex::of(cfg, infos),
            http: http_only,
            maps,
            declared: std::sync::OnceLock::new(),
            duplicates: std::sync::OnceLock::new(),
        }
    }

    /// Every `server_name` given twice on one listen socket, by socket (in `Listen::describe`
    /// order), then in config order; empty names, regexes and `_` are not names. `cfg` is the
    /// config `build` read (its names are read there).
    pub fn duplicate_names(&self, cfg: &Config) -> &[DuplicateName] {
        self.duplicates
            .get_or_init(|| self.find_duplicate_names(cfg, |_| true))
    }

    /// `duplicate_names` of these names only (lowercase): what one site asks for, without
    /// indexing every name of the config (the whole list is built once per box, for a check of
    /// every site).
    pub fn duplicate_names_of(
        &self,
        cfg: &Config,
        keys: &std::collections::HashSet<String>,
    ) -> Vec<DuplicateName> {
        self.find_duplicate_names(cfg, |n| {
            keys.iter()
                .any(|k| k.len() == n.len() && k.eq_ignore_ascii_case(n))
        })
    }

    fn find_duplicate_names(
        &self,
        cfg: &Config,
        wanted: impl Fn(&str) -> bool,
    ) -> Vec<DuplicateName> {
        let mut sockets: Vec<(String, &[u32])> = self.servers.sockets().collect();
        sockets.sort();
        let mut out = Vec::new();
        for (listen, servers) in sockets {
            // Keyed by the names as the config holds them, compared as nginx compares them: a
            // lowercase copy of each was ~170 bytes a name while one big site's 360,000 were
            // read.
            let mut first: crate::fnv::FnvMap<Folded<'_>, NodeId> = Default::default();
            for &i in servers {
                let s = &self.servers.servers[i as usize];
                for n in s.names(cfg) {
                    if n.is_empty() || n.starts_with('~') || n == "_" || !wanted(n) {
                        continue;
                    }
                    match first.get(&Folded(n)) {
                        None => {
                            first.insert(Folded(n), s.id);
                        }
                        Some(&winner) if winner != s.id => out.push(DuplicateName {
                            listen: listen.clone(),
                            name: n.to_string(),
                            key: n.to_ascii_lowercase(),
                            ignored: s.id,
                            first: winner,
                        }),
                        _ => {}
                    }
                }
            }
        }
        out
    }
}

/// A server name as nginx compares them: ASCII letters in either case alike (`Folded` hashes and
/// compares the name as written, with no lowercase copy).
#[derive(Clone, Copy)]
struct Folded<'c>(&'c str);

impl std::hash::Hash for Folded<'_> {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        for b in self.0.bytes() {
            h.write_u8(b.to_ascii_lowercase());
        }
        h.write_u8(0xff);
    }
}

impl PartialEq for Folded<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.0.eq_ignore_ascii_case(other.0)
    }
}

impl Eq for Folded<'_> {}

/// The `http` block of a main config (None for a fragment: its top level is the http level).
fn http_block(cfg: &Config) -> Option<Directive<'_>> {
    match cfg.kind {
        Some(ConfigKind::Main) => cfg.top().find(|d| d.is("http")),
        _ => None,
    }
}

/// The indexes the resolver works from, built once per `Site` (and cached on it): merged block
/// configurations, location trees and scripts of the servers it covers, over what every model of
/// the config shares (`Shared`: listen sockets and server names, `map`s).
#[derive(Debug)]
pub struct Model {
    shared: std::sync::Arc<Shared>,
    blocks: Blocks,
    locations: Locations,
    /// The rewrite-module directives (rewrite, return, set, if, break) of each server, location
    /// and `if` block, in order: the script nginx compiles for it.
    scripts: HashMap<NodeId, Vec<engine::ScriptOp>>,
    /// The regexes of `rewrite` and `if (... ~ ...)`, by directive, compiled on first use.
    script_regexes: HashMap<NodeId, regex::NgxRegex>,
    /// The server blocks whose blocks, locations and scripts are built; None: every one. The
    /// listen sockets and server names always cover every server (choosing the server for a
    /// request needs them all).
    covers: Option<conf::NodeSet>,
}

impl Model {
    /// The indexes of every server block of `cfg`.
    pub fn build(cfg: &Config) -> Model {
        Model::with_shared(cfg, std::sync::Arc::new(Shared::build(cfg)), None)
    }

    /// The indexes of the server blocks `only` (every one when None): a check of one site of a
    /// 10,000-site config builds the locations of its own servers, not of all of them.
    pub fn build_for(cfg: &Config, only: Option<&[NodeId]>) -> Model {
        Model::for_servers(cfg, std::sync::Arc::new(Shared::build(cfg)), only)
    }

    /// `build_for` over what the models of `cfg` share. The default server of each socket the
    /// servers listen on is covered too: every request to them is also the default server's
    /// (its `merge_slashes`, its large header buffers), and a model without it would hand each
    /// one to the model of every server.
    pub fn for_servers(
        cfg: &Config,
        shared: std::sync::Arc<Shared>,
        only: Option<&[NodeId]>,
    ) -> Model {
        let Some(only) = only else {
            return Model::with_shared(cfg, shared, None);
        };
        let mut covered: Vec<NodeId> = only.to_vec();
        let index = &shared.servers;
        for &s in only {
            let Some(i) = index.position(s) else {
                continue;
            };
            for d in index.defaults_around(cfg, i) {
                let id = index.servers[d].id;
                if !covered.contains(&id) {
                    covered.push(id);
                }
            }
        }
        Model::with_shared(cfg, shared, Some(&covered))
    }

    /// The indexes for answering `req`: the server nginx picks for it (and the default server of
    /// its socket, whose `merge_slashes` applies), chosen among every server of `cfg`.
    pub fn for_request(cfg: &Config, req: &Request) -> Model {
        Model::for_request_with(cfg, std::sync::Arc::new(Shared::build(cfg)), req)
    }

    /// `for_request` over what the models of `cfg` share.
    pub fn for_request_with(cfg: &Config, shared: std::sync::Arc<Shared>, req: &Request) -> Model {
        let servers = &shared.servers;
        let host = validate_host(&req.host_header);
        let chosen = servers
            .select(cfg, host.as_deref().unwrap_or(""), req.port, req.local_addr)
            .map(|s| servers.servers[s.server].id);
        let default = servers
            .default_for(cfg, req.port, req.local_addr)
            .map(|d| servers.servers[d].id);
        let only: Vec<NodeId> = chosen.into_iter().chain(default).collect();
        Model::with_shared(cfg, shared, Some(&only))
    }

    fn with_shared(cfg: &Config, shared: std::sync::Arc<Shared>, only: Option<&[NodeId]>) -> Model {
        let covers: Option<conf::NodeSet> = only.map(|o| o.iter().copied().collect());
        let (http_blocks, http_idx, direct) = &shared.http;
        let blocks = match only {
            // The site's servers under a copy of the shared http block, in config order (as
            // the http context lists them), each once.
            Some(o) if o.iter().all(|s| direct.contains(s)) => {
                let mut ordered: Vec<NodeId> = o.to_vec();
                ordered.sort_unstable_by_key(|&s| shared.servers.position(s));
                ordered.dedup();
                http_blocks.with_servers(*http_idx, cfg, &ordered, &cfg.prefix)
            }
            _ => Blocks::build(cfg, http_block(cfg), &cfg.prefix, covers.as_ref()).0,
        };
        let server_ids: Vec<NodeId> = match only {
            Some(o) => o.to_vec(),
            None => cfg.servers().iter().map(Directive::id).collect(),
        };
        let mut blocks = blocks;
        let mut locations = Locations::build(cfg, &server_ids, &mut blocks);
        // Grown by doubling: up to half of each is room never used (a 360,000-server model).
        blocks.blocks.shrink_to_fit();
        locations.locs.shrink_to_fit();
        let (scripts, script_regexes) = engine::compile_scripts(cfg, &server_ids);
        Model {
            shared,
            scripts,
            script_regexes,
            blocks,
            locations,
            covers,
        }
    }

    /// What this model shares with the other models of its config.
    pub fn shared(&self) -> &std::sync::Arc<Shared> {
        &self.shared
    }

    /// Whether `$name` is declared anywhere in `cfg` (`set`, a named capture).
    pub(crate) fn declares(&self, cfg: &Config, name: &str) -> bool {
        self.shared
            .declared
            .get_or_init(|| match http_block(cfg) {
                Some(h) => vars::declared_variables(h.children()),
                None => vars::declared_variables(cfg.top()),
            })
            .contains(name)
    }

    /// Whether the blocks, locations and scripts of `server` are built.
    pub fn covers(&self, server: NodeId) -> bool {
        self.covers.as_ref().map_or(true, |c| c.contains(&server))
    }

    /// Where `locations` keeps the locations of `server` (`Block::locations`).
    fn server_locations(&self, server: NodeId) -> Option<usize> {
        self.blocks
            .of(server)
            .and_then(|b| self.blocks.get(b).locations())
    }
}

/// Where a resolver whose model covers some servers finds the model of all of them, when a
/// request leaves its servers (built on first need by whoever owns it: the `Site`).
pub trait WholeModel: Sync {
    fn whole(&self) -> &Model;
}

/// What a resolver works from: plain inputs, never a whole `Site` (the site layer builds them).
#[derive(Clone, Copy)]
pub struct Inputs<'s> {
    pub config: &'s Config,
    /// The indexes of `config` (`Model::build`), built once by the caller and shared.
    pub model: &'s Model,
    /// Where system paths are read.
    pub root: &'s SysRoot,
    /// The worker user the files are walked as.
    pub worker: &'s Worker,
    /// The server blocks under examination (`static_locations` covers these).
    pub servers: &'s [NodeId],
    /// The model of every server, for a request that reaches a server `model` does not cover.
    pub whole: Option<&'s dyn WholeModel>,
}

/// The nginx model of one site; `resolve` is cheap (hash lookups per level). The indexes are
/// built once by the caller (`Inputs::model`), so every check and `trace` share them. The files
/// are read once per resolver (its `WalkCache`): keep a resolver for one analysis.
pub struct Resolver<'s> {
    inputs: Inputs<'s>,
    walks: std::sync::OnceLock<crate::fs::walk::WalkCache>,
    /// A cache the caller keeps for several resolvers over the same files (`with_walks`).
    shared_walks: Option<&'s crate::fs::walk::WalkCache>,
}

impl std::ops::Deref for Resolver<'_> {
    type Target = Model;
    fn deref(&self) -> &Model {
        self.inputs.model
    }
}

/// A server block and the request that reaches it. One is made per server for each check that
/// asks (every server of one site of 360,000, while the report is written too): its Host is a
/// name of the config, borrowed, not a copy.
#[derive(Debug, Clone, Copy)]
pub struct Target<'c> {
    pub server: NodeId,
    /// The Host to send (see `Resolver::target`).
    pub host: &'c str,
    pub port: u16,
}

impl<'s> Resolver<'s> {
    /// The same resolver over the model of every server (itself when its model covers all).
    fn widened(&self) -> Option<Resolver<'s>> {
        let whole = self.inputs.whole?.whole();
        (!std::ptr::eq(whole, self.inputs.model)).then(|| Resolver {
            shared_walks: self.shared_walks,
            ..Resolver::new(Inputs {
                model: whole,
                ..self.inputs
            })
        })
    }

    pub fn new(inputs: Inputs<'s>) -> Resolver<'s> {
        Resolver {
            inputs,
            walks: std::sync::OnceLock::new(),
            shared_walks: None,
        }
    }

    /// A resolver whose walks share `walks` with other resolvers over the same files (the fix
    /// prover's copies of one config, which read the same directories again and again).
    pub fn with_walks(inputs: Inputs<'s>, walks: &'s crate::fs::walk::WalkCache) -> Resolver<'s> {
        Resolver {
            shared_walks: Some(walks),
            ..Resolver::new(inputs)
        }
    }

    /// What the walks of this resolver share (user names, metadata), made on first use.
    fn walk_cache(&self) -> &crate::fs::walk::WalkCache {
        match self.shared_walks {
            Some(w) => w,
            None => self
                .walks
                .get_or_init(|| crate::fs::walk::WalkCache::new(self.inputs.root)),
        }
    }

    pub fn config(&self) -> &'s Config {
        self.inputs.config
    }

    /// The server blocks under examination.
    pub fn servers(&self) -> &'s [NodeId] {
        self.inputs.servers
    }

    /// The request that reaches `server`: its first server_name a client can send as a Host
    /// (`host_for`), else `localhost`; its first listen port, else 80. Checks and served
    /// directories ask here.
    pub fn target(&self, server: NodeId) -> Target<'s> {
        let cfg = self.config();
        let host = self
            .server_info(server)
            .and_then(|s| host_for(s.names(cfg)))
            .unwrap_or("localhost");
        let port = self.server_ports(server).into_iter().next().unwrap_or(80);
        Target { server, host, port }
    }

    /// `target` of every server under examination, in config order.
    /// Each server's target, made as it is asked for (one site of 360,000 servers: 17 MB
    /// held at once).
    pub fn targets(&self) -> impl ExactSizeIterator<Item = Target<'s>> + '_ {
        self.servers().iter().map(|&s| self.target(s))
    }

    /// `location /media/` as written (modifier and pattern); `the server block` for a server.
    pub fn location_label(&self, node: NodeId) -> String {
        match self.location_pattern(node) {
            Some((m, p)) if m.as_str().is_empty() => format!("location {p}"),
            Some((m, p)) => format!("location {} {p}", m.as_str()),
            None => "the server block".into(),
        }
    }

    /// How nginx answers `req`.
    pub fn resolve(&self, req: &Request) -> Resolution {
        self.guarded(req, None, true)
    }

    /// `engine::run`, with a panic (a bug of the model, never a verdict on the config) turned
    /// into an unknown answer that says so, instead of ending the program (exit 101).
    fn guarded(&self, req: &Request, forced: Option<NodeId>, explain: bool) -> Resolution {
        let run = std::panic::AssertUnwindSafe(|| engine::run(self, req, forced, explain));
        std::panic::catch_unwind(run).unwrap_or_else(|panic| {
            let why = format!("{MODEL_FAILURE}: {}", panic_text(&*panic));
            Resolution {
                uri: None,
                server: forced,
                server_choice: String::new(),
                location: None,
                handler: Handler::Error,
                path: None,
                predicted_status: None,
                reason: why.clone(),
                unknown: Some(why),
                walk: None,
                redirect: None,
                upstream: None,
                log: Vec::new(),
                steps: Vec::new(),
                final_path: None,
            }
        })
    }

    /// The same decision as `resolve`, without the explanations (`reason`, `steps` and `log`
    /// stay empty, and the walk's steps have no display strings): for predicting the status of
    /// many URLs.
    pub fn predict(&self, req: &Request) -> Resolution {
        self.guarded(req, None, false)
    }

    /// `predict` for many requests, spread over the machine's cores (at most `MAX_THREADS`):
    /// the answers in the order of `reqs`. The indexes are shared (built once, by the caller);
    /// each extra thread has its own resolver, so its own cache of the files it walked.
    pub fn predict_many(&self, reqs: &[Request]) -> Vec<Resolution> {
        /// Below this many requests per thread, starting a thread costs more than it saves.
        const MIN_PER_THREAD: usize = 2_000;
        // Each thread keeps its own file cache: past a few threads, the walks repeated in each
        // cache cost more than the extra cores bring.
        const MAX_THREADS: usize = 8;
        let cores = crate::system::cores();
        let threads = cores
            .min(MAX_THREADS)
            .min(reqs.len() / MIN_PER_THREAD)
            .max(1);
        self.predict_on_threads(reqs, threads)
    }

    /// `predict_many` on exactly `threads` threads (this one included; at least one).
    pub fn predict_on_threads(&self, reqs: &[Request], threads: usize) -> Vec<Resolution> {
        let threads = threads.clamp(1, reqs.len().max(1));
        if threads == 1 {
            return reqs.iter().map(|r| self.predict(r)).collect();
        }
        let chunk = reqs.len().div_ceil(threads);
        let mut parts = reqs.chunks(chunk);
        let mine = parts.next().unwrap_or_default();
        let inputs = self.inputs;
        std::thread::scope(|scope| {
            let others: Vec<_> = parts
                .map(|part| {
                    scope.spawn(move || {
                        let r = Resolver::new(inputs);
                        part.iter().map(|q| r.predict(q)).collect::<Vec<_>>()
                    })
                })
                .collect();
            let mut out: Vec<Resolution> = mine.iter().map(|r| self.predict(r)).collect();
            for t in others {
                match t.join() {
                    Ok(v) => out.extend(v),
                    Err(panic) => std::panic::resume_unwind(panic),
                }
            }
            out
        })
    }

    /// How nginx answers `req` once it has reached `server` (skips the choice of server).
    pub fn resolve_on(&self, server: NodeId, req: &Request) -> Resolution {
        self.guarded(req, Some(server), true)
    }

    /// `resolve_on` without the explanations, as `predict` is `resolve` without them: for
    /// comparing answers (the fix prover).
    pub fn predict_on(&self, server: NodeId, req: &Request) -> Resolution {
        self.guarded(req, Some(server), false)
    }

    /// Every server block nginx would consider for requests on `port`, in config order.
    pub fn servers_on_port(&self, port: u16) -> Vec<NodeId> {
        self.shared
            .servers
            .on_port(port)
            .into_iter()
            .map(|i| self.shared.servers.servers[i].id)
            .collect()
    }

    /// `server_name`s of a server block as written, borrowed from the config (none for a node
    /// that is not a server of the http context).
    pub fn names_of(&self, server: NodeId) -> impl Iterator<Item = &'s str> + 's {
        let known = self.server_info(server).is_some();
        let cfg = self.config();
        known
            .then(|| cfg.directive(server).server_names())
            .into_iter()
            .flatten()
    }

    /// `server_name`s of a server block as written.
    pub fn server_names(&self, server: NodeId) -> Vec<String> {
        self.names_of(server).map(str::to_string).collect()
    }

    /// The ports a server listens on.
    pub fn server_ports(&self, server: NodeId) -> Vec<u16> {
        self.server_info(server)
            .map(|s| s.listens.iter().map(|l| l.port).collect())
            .unwrap_or_default()
    }

    /// The sockets a server listens on (the implicit `*:80` when it has no `listen`).
    pub fn server_listens(&self, server: NodeId) -> Vec<Listen> {
        self.server_info(server)
            .map(|s| s.listens.to_vec())
            .unwrap_or_default()
    }

    pub(crate) fn server_info(&self, server: NodeId) -> Option<&server::ServerInfo> {
        let index = &self.shared.servers;
        index.position(server).map(|i| &index.servers[i])
    }

    /// The directory nginx serves for URL `prefix` (e.g. `/media/`) in `server`: the location
    /// that wins for files under the prefix, and where its root/alias maps the prefix. None when
    /// that location does not serve files from disk (proxy_pass, return, ...).
    pub fn served_prefix(&self, server: NodeId, prefix: &str) -> Option<Served> {
        no_panic(|| engine::served_prefix(self, server, prefix)).flatten()
    }

    /// Every location of the site's servers that serves files from disk, with its directory:
    /// the roots a tree scan must cover.
    pub fn static_locations(&self) -> Vec<Served> {
        no_panic(|| engine::static_locations(self)).unwrap_or_default()
    }

    /// Every location of the site's servers that serves files from disk, as it is found, with
    /// its directory (`static_locations` keeps the first of each directory): false when the
    /// walk failed part way.
    pub fn each_static_location(&self, each: &mut dyn FnMut(Served)) -> bool {
        no_panic(|| engine::each_static_location(self, each)).is_some()
    }

    /// The location nodes of a server (all levels, config order).
    pub fn locations_of(&self, server: NodeId) -> Vec<NodeId> {
        let mut out = Vec::new();
        if let Some(level) = self.locations.server_level(self.server_locations(server)) {
            let mut stack: Vec<usize> = level.all().rev().collect();
            while let Some(l) = stack.pop() {
                out.push(self.locations.locs[l].node);
                stack.extend(self.locations.locs[l].level.all().rev());
            }
        }
        out
    }

    /// The `root`/`alias` in effect in a block (location, server, `if`), as nginx merged it:
    /// the directive that set it (None: the compiled-in `html`), and how it maps URIs.
    pub fn root_of(&self, block: NodeId) -> Option<RootInfo> {
        let b = self.blocks.of(block)?;
        let root = &self.blocks.get(b).conf.root;
        Some(RootInfo {
            directive: root.at(),
            alias: root.alias(),
            value: self.blocks.root_value(root, self.config()).to_string(),
            scripted: root.scripted(),
        })
    }

    /// What the checks read about a block's merged configuration.
    pub fn block_info(&self, block: NodeId) -> Option<BlockInfo> {
        let b = self.blocks.of(block)?;
        let c = &self.blocks.get(b).conf;
        Some(BlockInfo {
            root: self.root_of(block)?,
            autoindex: c.autoindex,
            try_files: c.try_files,
            handler: c.handler.as_ref().map(|h| (h.directive.clone(), h.at)),
            add_headers: c.add_headers.as_ref().clone(),
            internal: c.internal,
            denies_all: c
                .access
                .first()
                .is_some_and(|r| !r.allow && r.target == conf::AccessTarget::All),
        })
    }

    /// The server nginx picks for `host` on `port` (any listen address).
    pub fn select_server(&self, host: &str, port: u16) -> Option<NodeId> {
        let h = validate_host(host)?;
        self.shared
            .servers
            .select(self.config(), &h, port, None)
            .map(|s| self.shared.servers.servers[s.server].id)
    }

    /// The location nginx picks for a (decoded, normalised) URI in a server, by location
    /// matching alone (no rewrite, no try_files). None: no location matches.
    pub fn location_for(&self, server: NodeId, uri: &str) -> Option<NodeId> {
        let mut captures = None;
        let mut named = Vec::new();
        let mut errors = Vec::new();
        let mut ctx = location::MatchCtx {
            captures: &mut captures,
            named: &mut named,
            errors: &mut errors,
        };
        match self
            .locations
            .find(self.server_locations(server), uri.as_bytes(), &mut ctx)
        {
            location::Found::Location(l) | location::Found::AutoRedirect(l) => {
                Some(self.locations.locs[l].node)
            }
            location::Found::None | location::Found::Failed(_) => None,
        }
    }

    /// `location_for`, kept with what the match captured: `path_of_match` then builds the path
    /// `path_for` would, without matching the locations again.
    pub fn location_match(&self, server: NodeId, uri: &str) -> Option<LocationMatch> {
        engine::location_match(self, server, uri)
    }

    /// `path_for(server, uri)` for the location `m` that `location_match(server, uri)` found.
    pub fn path_of_match(&self, server: NodeId, uri: &str, m: LocationMatch) -> Option<PathBuf> {
        no_panic(|| engine::path_of_match(self, server, uri, m)).flatten()
    }

    /// The path nginx builds for `uri` in the location that matches it (root/alias and
    /// captures applied; no try_files, no rewrite).
    pub fn path_for(&self, server: NodeId, uri: &str) -> Option<PathBuf> {
        no_panic(|| engine::mapped_path(self, server, uri)).flatten()
    }

    /// The path `location`'s own root/alias would build for `uri` (whether or not nginx picks
    /// that location for it): what the author of the location meant.
    pub fn path_in(&self, server: NodeId, location: NodeId, uri: &str) -> Option<PathBuf> {
        no_panic(|| engine::path_in_block(self, server, location, uri)).flatten()
    }

    /// The content handler directive (`proxy_pass` & co.) a block installs itself.
    pub fn handler_of(&self, block: NodeId) -> Option<NodeId> {
        let b = self.blocks.of(block)?;
        self.blocks.get(b).conf.handler.as_ref().map(|h| h.at)
    }

    /// The modifier and pattern of a location node of a server of the model (read from the
    /// config: `Locations` keeps no map by node).
    pub fn location_pattern(&self, node: NodeId) -> Option<(Modifier, String)> {
        // A location of the model's: in a server, or nested in such a location (a `location`
        // in an `if` has a block but is no location: nginx refuses it).
        let mut b = self.blocks.get(self.blocks.of(node)?);
        while b.kind() == conf::BlockKind::Location {
            b = self.blocks.get(b.parent()?);
        }
        if b.kind() != conf::BlockKind::Server {
            return None;
        }
        let (modifier, name) = location::pattern(&self.config().directive(node));
        Some((modifier, name.to_string()))
    }
}

/// The start of the reason of an answer the model could not give because of a bug of its own
/// (a panic caught at the resolver's boundary): tests look for it.
pub const MODEL_FAILURE: &str = "internal error in media-doctor's nginx model";

/// The message of a caught panic.
fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// A query of the checks, with a panic of the model turned into "no answer" (None) rather than
/// the end of the run.
/// A location a URI matched (`Resolver::location_match`), and what the match captured.
pub struct LocationMatch {
    /// The location block.
    pub node: NodeId,
    block: conf::BlockIdx,
    captures: Option<regex::Captures>,
    named: Vec<(String, Vec<u8>)>,
}

fn no_panic<T>(f: impl FnOnce() -> T) -> Option<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).ok()
}

/// A server_name a client can send as its Host as written: not a regex, no wildcard anywhere
/// (`example.*` is a pattern, not a name), not `.x`, not `_`, and only the bytes of a host name.
pub fn usable_host(n: &str) -> bool {
    !n.is_empty()
        && n != "_"
        && !n.starts_with('.')
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
}

/// The Host to send to a server with these `server_name`s: the first one a client can send
/// (`.example.com` as `example.com`, which it also matches), else None. The one choice of a
/// Host for a server: `Resolver::target`, the live probes and `trace --site` ask here.
pub fn host_for<'a, S, I>(names: I) -> Option<&'a str>
where
    S: AsRef<str> + ?Sized + 'a,
    I: IntoIterator<Item = &'a S>,
{
    names
        .into_iter()
        .map(|n| n.as_ref())
        .map(|n| n.strip_prefix('.').unwrap_or(n))
        .find(|n| usable_host(n))
}

#[cfg(test)]
mod target_tests {
    use super::{host_for, usable_host};

    #[test]
    fn wildcards_anywhere_are_not_hosts() {
        // fs/served.rs once rejected only a leading `*`, so `example.*` was sent as a Host.
        assert!(!usable_host("example.*"));
        assert!(!usable_host("*.example.com"));
        assert!(!usable_host(".example.com"));
        assert!(!usable_host("~^www\\.(?<d>.+)$"));
        assert!(!usable_host("_"));
        assert!(!usable_host(""));
        assert!(usable_host("www.example.com"));
    }

    /// The live probes, `trace --site` and the checks each had their own rule: one rejected only
    /// a leading `*`, one turned `.example.com` into `example.com`, one sent it as written.
    #[test]
    fn one_host_for_a_server_whoever_asks() {
        assert_eq!(
            host_for(&["example.*", "www.example.com"]),
            Some("www.example.com")
        );
        assert_eq!(host_for(&["*.example.com", "example.*"]), None);
        assert_eq!(
            host_for(&["~^(?<s>.+)\\.test$", ".example.com"]),
            Some("example.com")
        );
        assert_eq!(host_for(&["_", "", "a_b.test"]), Some("a_b.test"));
        assert_eq!(host_for(&["$host", "a b", "x:80"]), None);
        assert_eq!(host_for(&[] as &[&str]), None);
    }
}

#[cfg(test)]
mod model_tests {
    use super::conf::Blocks;
    use super::location::{Found, Locations, MatchCtx, Modifier};
    use super::{http_block, Config, Directive, NodeId};
    use crate::sysroot::SysRoot;
    use std::path::Path;

    /// A server of more locations than `SMALL_LEVEL` (hashed), with names given twice, `=` and
    /// prefix locations of one name, an auto redirect, nested and named locations; small
    /// servers beside it (scanned), and a snippet two servers include.
    fn synthetic() -> Config {
        let mut big = String::from("server { listen 80; server_name big.example; ");
        for i in 0..12 {
            big.push_str(&format!("location /l{i}/ {{ root /srv/l{i}; }} "));
        }
        big.push_str(
            "location = /x { return 200; } location /x { } location /x { alias /dup/; } \
             location /p/ { proxy_pass http://127.0.0.1:8000; } location = /p/ { } \
             location ^~ /img/ { location ~ \\.png$ { } location /img/in/ { } } \
             location ~* \\.(jpg|gif)$ { root /srv/re; } location @app { } location @app { return 404; } \
             location / { try_files $uri @app; } include /etc/nginx/snippets/s.conf; }\n",
        );
        let dump = format!(
            "# configuration file /etc/nginx/nginx.conf:\nevents {{}}\nhttp {{ root /srv/http; add_header X-A 1; \
             {big} \
             server {{ listen 80; server_name a.example; location /media/ {{ alias /srv/a/; }} location = /media/ {{ }} location @x {{ }} include /etc/nginx/snippets/s.conf; }} \
             server {{ listen 81; server_name b.example; add_header X-B 2; location /m/ {{ alias /srv/b; add_header X-C 3; }} location /n/ {{ deny all; location /n/o/ {{ allow all; }} }} limit_except GET {{ deny all; }} }} \
             server {{ listen 82; location / {{ proxy_pass http://u/; location /s/ {{ }} }} location /up/ {{ uwsgi_pass 127.0.0.1:9; }} }} }}\n\
             # configuration file /etc/nginx/snippets/s.conf:\nlocation /snip/ {{ location /snip/in/ {{ }} }}\n"
        );
        crate::nginx::load_dump(&SysRoot::live(), dump.as_bytes(), "test").unwrap()
    }

    /// A server of many named locations, some names given twice, in no order: each name finds
    /// the first location of that name in the config, as the linear scan of the server's
    /// locations does (the model sorts them by name once instead of checking each name against
    /// those before it: 100,000 of them were 5 * 10^9 comparisons).
    #[test]
    fn named_locations_many_and_repeated_find_the_first() {
        let n = 20_000u64;
        let mut dump = String::from(
            "# configuration file /etc/nginx/nginx.conf:\nevents {}\nhttp { server { listen 80; \
             location / { try_files $uri @n7; } ",
        );
        for i in 0..n {
            // A permutation of 0..n (n and 7919 are coprime), every tenth name once more.
            let k = i * 7919 % n;
            dump.push_str(&format!("location @n{k} {{ return 204; }} "));
            if i % 10 == 0 {
                dump.push_str(&format!("location @n{} {{ return 404; }} ", k / 2));
            }
        }
        dump.push_str("} }\n");
        let cfg = crate::nginx::load_dump(&SysRoot::live(), dump.as_bytes(), "test").unwrap();
        let http = http_block(&cfg);
        let (mut blocks, _) = Blocks::build(&cfg, http, &cfg.prefix, None);
        let servers: Vec<NodeId> = cfg.servers().iter().map(Directive::id).collect();
        let locs = Locations::build(&cfg, &servers, &mut blocks);
        let mut first: std::collections::HashMap<&str, usize> = Default::default();
        for (i, l) in locs.locs.iter().enumerate() {
            if l.modifier == Modifier::Named {
                first.entry(locs.name(i)).or_insert(i);
            }
        }
        assert_eq!(first.len() as u64, n);
        let server = level_of(&blocks, servers[0]);
        for (name, &i) in &first {
            assert_eq!(locs.named(server, name), Some(i), "{name}");
        }
        assert_eq!(locs.named(server, "@missing"), None);
        assert_eq!(locs.named(server, "@n"), None);
    }

    /// Where `Locations` keeps the locations of `server`.
    fn level_of(blocks: &Blocks, server: NodeId) -> Option<usize> {
        blocks.get(blocks.of(server)?).locations()
    }

    /// The real configurations of ../shared/corpus (when it is there) and `synthetic`.
    fn configs() -> Vec<Config> {
        let mut out = vec![synthetic()];
        let corpus = Path::new(env!("CARGO_MANIFEST_DIR"))
            .ancestors()
            .skip(1)
            .map(|d| d.join("shared/corpus"))
            .find(|d| d.is_dir());
        for dir in corpus
            .iter()
            .flat_map(|c| ["realworld", "crossplane", "nginx-lint-parser"].map(|s| c.join(s)))
        {
            let mut files: Vec<_> = walk(&dir);
            files.sort();
            for f in files {
                if let Ok(cfg) = crate::nginx::load_files(&SysRoot::live(), &f) {
                    out.push(cfg);
                }
            }
        }
        out
    }

    fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else if p.extension().is_some_and(|x| x == "conf") {
                out.push(p);
            }
        }
        out
    }

    /// URIs around each location's name: the name, inside it, past it, one byte short.
    fn uris(locs: &Locations) -> Vec<Vec<u8>> {
        let mut out: Vec<Vec<u8>> = ["/", "/a.jpg", "/media/a.jpg", "/x.php", "/index.html"]
            .iter()
            .map(|u| u.as_bytes().to_vec())
            .collect();
        for (i, l) in locs.locs.iter().enumerate() {
            if l.modifier.is_regex() || l.modifier == Modifier::Named {
                continue;
            }
            let n = locs.name(i).as_bytes();
            out.push(n.to_vec());
            out.push([n, b"a.png"].concat());
            out.push([n, b"/"].concat());
            out.push([n, b"x/y.gif"].concat());
            if let Some((_, short)) = n.split_last() {
                out.push(short.to_vec());
            }
        }
        out.sort();
        out.dedup();
        out
    }

    fn found(locs: &Locations, server: Option<usize>, uri: &[u8]) -> String {
        let (mut captures, mut named, mut errors) = (None, Vec::new(), Vec::new());
        let mut ctx = MatchCtx {
            captures: &mut captures,
            named: &mut named,
            errors: &mut errors,
        };
        let f = locs.find(server, uri, &mut ctx);
        let node = match &f {
            Found::Location(l) | Found::AutoRedirect(l) => Some(locs.locs[*l].node),
            _ => None,
        };
        format!("{f:?} {node:?} {captures:?} {named:?} {errors:?}")
    }

    /// The blocks share their configuration where they change none of it, and the levels of
    /// few locations compare names instead of hashing them: every block's configuration and
    /// every lookup is what the construction before them gave (kept as the reference: each
    /// block its own copy; every level hashed).
    #[test]
    fn shared_confs_and_scanned_levels_answer_as_copies_and_hashes_did() {
        let configs = configs();
        let mut lookups = 0;
        for cfg in &configs {
            let http = http_block(cfg);
            let (mut blocks, _) = Blocks::build(cfg, http, &cfg.prefix, None);
            let copied = Blocks::build_copying(cfg, http, &cfg.prefix);
            assert_eq!(
                format!("{:?}", blocks.blocks),
                format!("{:?}", copied.blocks),
                "{:?}",
                cfg.files[0].path
            );
            let servers: Vec<NodeId> = cfg.servers().iter().map(Directive::id).collect();
            // Built the same way over the same blocks, each records the same levels on them.
            let hashed = Locations::build_with(cfg, &servers, &mut blocks, 0);
            let scanned = Locations::build_with(cfg, &servers, &mut blocks, usize::MAX);
            let mixed = Locations::build(cfg, &servers, &mut blocks);
            let shape = |l: &Locations| {
                let locs: Vec<_> = (0..l.locs.len())
                    .map(|i| {
                        let loc = &l.locs[i];
                        (
                            loc.node,
                            loc.block(),
                            loc.modifier,
                            l.name(i),
                            loc.level.all(),
                        )
                    })
                    .collect();
                format!("{locs:?}")
            };
            assert_eq!(shape(&hashed), shape(&scanned));
            assert_eq!(shape(&hashed), shape(&mixed));
            let uris = uris(&hashed);
            for &node in &servers {
                let s = level_of(&blocks, node);
                for u in &uris {
                    let want = found(&hashed, s, u);
                    assert_eq!(
                        found(&scanned, s, u),
                        want,
                        "{}",
                        String::from_utf8_lossy(u)
                    );
                    assert_eq!(found(&mixed, s, u), want, "{}", String::from_utf8_lossy(u));
                    lookups += 1;
                }
                for (i, _) in
                    (hashed.locs.iter().enumerate()).filter(|(_, l)| l.modifier == Modifier::Named)
                {
                    let name = hashed.name(i);
                    let want = hashed.named(s, name);
                    assert_eq!(scanned.named(s, name), want);
                    assert_eq!(mixed.named(s, name), want);
                }
            }
        }
        assert!(
            lookups > 100,
            "{lookups} lookups on {} configs",
            configs.len()
        );
    }
}
