//! Choosing the `server {}` block: the listen socket first, then the Host header against
//! `server_name` in nginx's order (exact, longest leading wildcard, longest trailing wildcard,
//! first matching regex), else the socket's default server.
//!
//! nginx keeps one list of servers per listen *address*: a connection to 127.0.0.1:80 only sees
//! the servers that listen on 127.0.0.1:80 when such a listen exists, never the `*:80` ones. A URL
//! does not say which local address the client reaches, so when a port has several addresses the
//! resolver picks the one whose servers know the host (and says so).

use super::location::FnvMap;
use super::regex::{Captures, Exec, NgxRegex};
use crate::nginx::rules::nginx_port;
use crate::nginx::{Config, Directive, NodeId};
use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

/// The address part of a `listen` directive.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ListenAddr {
    AnyV4,
    AnyV6,
    Ip(IpAddr),
    /// A host name (nginx resolves it at start-up; `localhost` is 127.0.0.1).
    Name(String),
    Unix(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listen {
    pub addr: ListenAddr,
    pub port: u16,
    pub default_server: bool,
    pub ssl: bool,
}

impl Selection<'_> {
    /// `127.0.0.1:80`, `*:443`, ...
    pub fn listen_text(&self) -> String {
        Listen {
            addr: self.listen.0.clone(),
            port: self.listen.1,
            default_server: false,
            ssl: false,
        }
        .describe()
    }
}

impl Listen {
    pub fn describe(&self) -> String {
        let addr = match &self.addr {
            ListenAddr::AnyV4 => "*".to_string(),
            ListenAddr::AnyV6 => "[::]".to_string(),
            ListenAddr::Ip(IpAddr::V6(ip)) => format!("[{ip}]"),
            ListenAddr::Ip(ip) => ip.to_string(),
            ListenAddr::Name(n) => n.clone(),
            ListenAddr::Unix(p) => return format!("unix:{p}"),
        };
        format!("{addr}:{}", self.port)
    }
}

/// Parse `listen` arguments the way nginx does (`80`, `127.0.0.1:8080`, `[::]:80`, `*:80`,
/// `localhost`, `unix:/run/x.sock`, then flags such as `default_server` and `ssl`).
pub fn parse_listen(d: &Directive<'_>) -> Option<Listen> {
    let mut args = d.args();
    let first = args.next()?;
    let (addr, port) = parse_listen_addr(first)?;
    let mut listen = Listen {
        addr,
        port,
        default_server: false,
        ssl: false,
    };
    for flag in args {
        match flag {
            "default_server" | "default" => listen.default_server = true,
            "ssl" => listen.ssl = true,
            _ => {}
        }
    }
    Some(listen)
}

fn parse_listen_addr(s: &str) -> Option<(ListenAddr, u16)> {
    if let Some(path) = s.strip_prefix("unix:") {
        return Some((ListenAddr::Unix(path.to_string()), 0));
    }
    if let Some(rest) = s.strip_prefix('[') {
        let (ip, after) = rest.split_once(']')?;
        let ip: Ipv6Addr = ip.parse().ok()?;
        let port = match after.strip_prefix(':') {
            Some(p) => nginx_port(p)?,
            None if after.is_empty() => 80,
            None => return None,
        };
        let addr = if ip.is_unspecified() {
            ListenAddr::AnyV6
        } else {
            ListenAddr::Ip(IpAddr::V6(ip))
        };
        return Some((addr, port));
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return Some((ListenAddr::AnyV4, nginx_port(s)?));
    }
    let (host, port) = match s.rsplit_once(':') {
        Some((h, p)) => (h, nginx_port(p)?),
        None => (s, 80),
    };
    let addr = if host == "*" {
        ListenAddr::AnyV4
    } else if let Ok(ip) = host.parse::<Ipv4Addr>() {
        if ip.is_unspecified() {
            ListenAddr::AnyV4
        } else {
            ListenAddr::Ip(IpAddr::V4(ip))
        }
    } else if host.eq_ignore_ascii_case("localhost") {
        ListenAddr::Ip(IpAddr::V4(Ipv4Addr::LOCALHOST))
    } else {
        ListenAddr::Name(host.to_ascii_lowercase())
    };
    Some((addr, port))
}

/// One `server_name` entry, classified the way nginx's hashes are.
#[derive(Debug)]
enum Name {
    Exact(String),
    /// `*.example.com` (suffix `example.com`, at least one more label).
    StarHead(String),
    /// `.example.com`: `example.com` itself and every name below it.
    DotHead(String),
    /// `www.example.*` (prefix `www.example`, at least one more label).
    StarTail(String),
    Regex,
}

fn classify(name: &str) -> Name {
    if let Some(re) = name.strip_prefix('~') {
        let _ = re;
        return Name::Regex;
    }
    // One copy, in lowercase, cut in place (every name of every server comes here).
    let mut name = name.to_ascii_lowercase();
    if name.starts_with("*.") {
        name.replace_range(..2, "");
        Name::StarHead(name)
    } else if name.starts_with('.') {
        name.remove(0);
        Name::DotHead(name)
    } else if name.ends_with(".*") {
        name.truncate(name.len() - 2);
        Name::StarTail(name)
    } else {
        Name::Exact(name)
    }
}

/// Whether `classify` takes `name` for an exact name.
fn is_exact(name: &str) -> bool {
    !(name.starts_with('~')
        || name.starts_with("*.")
        || name.starts_with('.')
        || name.ends_with(".*"))
}

/// The key of an exact name (lowercase) in `Socket::exact`: two names may share one. FNV,
/// then multiplied by an odd constant so that the low bits' mixing reaches the top bits,
/// which `fnv::sort_by_hash` buckets by.
fn exact_key(name: &str) -> u64 {
    use std::hash::Hasher;
    let mut h = crate::fnv::Fnv::default();
    h.write(name.as_bytes());
    h.finish().wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

impl Socket {
    /// `default_server`, else the first server: where a Host no name matches goes.
    fn default_server(&self) -> Option<usize> {
        self.default
            .or_else(|| self.servers.first().map(|&s| s as usize))
    }

    /// Once every server is in: `exact` sorted (pushed in config order, the pairs of a key keep
    /// it, and the first server that gives a name comes first), and no room left over in it or
    /// in `servers` (grown by doubling: a socket of 360,000 servers).
    fn finish(&mut self) {
        crate::fnv::sort_by_hash(&mut self.exact);
        self.exact.shrink_to_fit();
        self.servers.shrink_to_fit();
    }
}

/// Names (lowercase, wildcards cut) → the first server (index into `ServerIndex::servers`) that
/// gives each: 24 bytes a name, where a `String` and a `usize` were 32 (a socket of 360,000
/// servers has a name each).
type NameMap = FnvMap<Box<str>, u32>;

/// The servers that share one listen address:port, with their name indexes.
#[derive(Debug, Default)]
struct Socket {
    /// Servers in config order (indexes into `ServerIndex::servers`).
    servers: Vec<u32>,
    default: Option<usize>,
    /// The exact names (lowercase): `exact_key` of each and the first server that gives it,
    /// sorted, the name itself compared with the server's names when the key matches (16 bytes
    /// a name where a table of copies held ~60: a socket of 360,000 servers has a name each).
    exact: Vec<(u64, u32)>,
    star_head: NameMap,
    dot_head: NameMap,
    star_tail: NameMap,
    /// The regex names of the socket's servers, in config order: (server, index into
    /// `ServerIndex::regexes`).
    regex: Vec<(u32, u32)>,
}

/// One per server of the config, held for the whole run (359,711 on issue #12's one big site):
/// the `listen`s of a server shared with the server before it when they are the same (a site of
/// many servers has one `listen 80` in each), and its names left in the config (`names`), where
/// a copy of each was ~70 bytes a server: 16 bytes (the listens behind a thin pointer: a slice's
/// length beside it was 8 bytes a server more).
#[derive(Debug)]
pub struct ServerInfo {
    pub id: NodeId,
    pub listens: Arc<Box<[Listen]>>,
    /// Whether `listens` is nginx's implicit `*:80` (no `listen` line could be read).
    pub implicit_listen: bool,
}

impl ServerInfo {
    /// `server_name` arguments as written, read from `cfg`: the config the index was built
    /// from, or a copy of it whose server blocks have the same names (`nginx::overlay`).
    pub fn names<'c>(&self, cfg: &'c Config) -> impl Iterator<Item = &'c str> + 'c {
        cfg.directive(self.id).server_names()
    }
}

/// Each `listen` line of a server block as its port (`listen_port` of the first word) and
/// whether any word says `default_server` (or `default`), in order: the fix prover's reading,
/// which does not need the address (none for a server without `listen` lines).
pub fn listen_ports<'c>(server: &Directive<'c>) -> impl Iterator<Item = (u16, bool)> + 'c {
    server
        .children()
        .filter(|c| c.is("listen"))
        .map(|c| rough_listen(&c))
}

/// A `listen` line as the fix prover reads it: the port `listen_port` finds in the first word
/// (80 when there is none), and whether any word says `default_server` or `default`.
fn rough_listen(d: &Directive<'_>) -> (u16, bool) {
    (
        d.arg(0).map_or(80, listen_port),
        d.args().any(|a| a == "default_server" || a == "default"),
    )
}

/// The port of a `listen` argument (`80`, `[::]:443`, `127.0.0.1:8080`, `unix:...` reads as 0),
/// without reading the address: where `parse_listen` reads a line, the same port.
pub fn listen_port(arg: &str) -> u16 {
    if arg.starts_with("unix:") {
        return 0;
    }
    if let Some(p) = nginx_port(arg) {
        return p;
    }
    match arg.rsplit_once(':') {
        Some((_, p)) if !p.ends_with(']') => nginx_port(p).unwrap_or(80),
        _ => 80,
    }
}

/// How the server was chosen, for the trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chosen<'h> {
    /// The Host matched this `server_name` entry (an exact name borrows the Host: no copy per
    /// request).
    Name(Cow<'h, str>),
    /// No name matched: the socket's default server (`default_server`, else the first).
    Default { explicit: bool },
}

#[derive(Debug)]
pub struct Selection<'h> {
    pub server: usize,
    pub chosen: Chosen<'h>,
    /// The listen socket (address, port) the request arrived on.
    pub listen: (ListenAddr, u16),
    /// Captures of a matching `server_name` regex (they are `$1`.. for what follows).
    pub captures: Option<Captures>,
    pub named_captures: Vec<(String, Vec<u8>)>,
    /// Set when the port had several listen addresses and the choice among them was a guess.
    pub note: Option<String>,
}

#[derive(Debug)]
pub struct ServerIndex {
    pub servers: Vec<ServerInfo>,
    /// Indexes into `servers`, sorted by server node (`position` searches it by halves): 4
    /// bytes a server, where a hash table of (node, index) held ~13.
    by_node: Box<[u32]>,
    /// Every regex `server_name` of every server, compiled, in config order.
    regexes: Vec<NgxRegex>,
    /// (address, port) → servers listening there.
    sockets: FnvMap<(ListenAddr, u16), Socket>,
    /// port → the addresses bound on it, in first-seen order.
    ports: FnvMap<u16, Vec<ListenAddr>>,
}

impl ServerIndex {
    /// What each server says of itself (its listens and names), in the order of `server_ids`:
    /// the part of `build` that can be split between threads.
    pub fn infos(cfg: &Config, server_ids: &[NodeId]) -> Vec<ServerInfo> {
        let mut servers = Vec::with_capacity(server_ids.len());
        // The listens of the server before: the next one shares them when it has the same.
        let mut last: Option<Arc<Box<[Listen]>>> = None;
        // Each server's listens are read into this one vector, then shared or copied.
        let mut listens: Vec<Listen> = Vec::new();
        for &id in server_ids {
            let d = cfg.directive(id);
            listens.clear();
            listens.extend(
                d.children()
                    .filter(|c| c.is("listen"))
                    .filter_map(|c| parse_listen(&c)),
            );
            let implicit_listen = listens.is_empty();
            if implicit_listen {
                listens.push(Listen {
                    addr: ListenAddr::AnyV4,
                    port: 80,
                    default_server: false,
                    ssl: false,
                });
            }
            let shared = match last.take() {
                Some(l) if l[..] == listens[..] => l,
                _ => Arc::new(listens.as_slice().into()),
            };
            last = Some(shared.clone());
            servers.push(ServerInfo {
                id,
                listens: shared,
                implicit_listen,
            });
        }
        servers
    }

    /// The listen sockets of `servers` (in config order, read from `cfg` by `infos`) and the
    /// names each socket answers to.
    pub fn of(cfg: &Config, servers: Vec<ServerInfo>) -> ServerIndex {
        let mut sockets: FnvMap<(ListenAddr, u16), Socket> = FnvMap::default();
        let mut ports: FnvMap<u16, Vec<ListenAddr>> = FnvMap::default();
        let mut regexes = Vec::new();
        for (si, s) in servers.iter().enumerate() {
            let si = si as u32;
            // The server's regex names, compiled once whatever the sockets it listens on.
            let regex_from = regexes.len() as u32;
            regexes.extend(
                s.names(cfg)
                    .filter_map(|n| n.strip_prefix('~'))
                    .map(NgxRegex::for_server_name),
            );
            for l in s.listens.iter() {
                let key = (l.addr.clone(), l.port);
                let addrs = ports.entry(l.port).or_default();
                if !addrs.contains(&l.addr) {
                    addrs.push(l.addr.clone());
                }
                let sock = sockets.entry(key).or_default();
                // Servers are visited in order, so a socket's list only grows by increasing
                // index: `si` is already in it exactly when it is the last one (a scan with
                // `contains` made this quadratic: 380,000 servers on one port).
                if sock.servers.last() != Some(&si) {
                    sock.servers.push(si);
                    let mut regex_i = regex_from;
                    for n in s.names(cfg) {
                        match classify(n) {
                            Name::Exact(n) => sock.exact.push((exact_key(&n), si)),
                            Name::StarHead(n) => {
                                sock.star_head.entry(n.into()).or_insert(si);
                            }
                            Name::DotHead(n) => {
                                sock.dot_head.entry(n.into()).or_insert(si);
                            }
                            Name::StarTail(n) => {
                                sock.star_tail.entry(n.into()).or_insert(si);
                            }
                            Name::Regex => {
                                sock.regex.push((si, regex_i));
                                regex_i += 1;
                            }
                        }
                    }
                }
                if l.default_server && sock.default.is_none() {
                    sock.default = Some(si as usize);
                }
            }
        }
        for sock in sockets.values_mut() {
            sock.finish();
        }
        regexes.shrink_to_fit();
        let mut by_node: Box<[u32]> = (0..servers.len() as u32).collect();
        by_node.sort_unstable_by_key(|&i| servers[i as usize].id);
        ServerIndex {
            by_node,
            regexes,
            servers,
            sockets,
            ports,
        }
    }

    /// The index in `servers` of the server block `node` (None: not a server of the index).
    pub fn position(&self, node: NodeId) -> Option<usize> {
        let at = self
            .by_node
            .binary_search_by_key(&node, |&i| self.servers[i as usize].id)
            .ok()?;
        Some(self.by_node[at] as usize)
    }

    /// The servers listening on `port` (any address), in config order.
    pub fn on_port(&self, port: u16) -> Vec<usize> {
        let mut out: Vec<usize> = Vec::new();
        for addr in self.ports.get(&port).into_iter().flatten() {
            for &s in &self.sockets[&(addr.clone(), port)].servers {
                let s = s as usize;
                if !out.contains(&s) {
                    out.push(s);
                }
            }
        }
        out.sort_unstable();
        out
    }

    /// Every (listen, servers) socket, for MD108.
    pub fn sockets(&self) -> impl Iterator<Item = (String, &[u32])> + '_ {
        self.sockets.iter().map(|((a, p), s)| {
            let l = Listen {
                addr: a.clone(),
                port: *p,
                default_server: false,
                ssl: false,
            };
            (l.describe(), s.servers.as_slice())
        })
    }

    /// The listen address a connection to `port` uses (and a note when that is a guess).
    fn pick_addr(
        &self,
        cfg: &Config,
        host: &str,
        port: u16,
        local: Option<IpAddr>,
    ) -> Option<(&ListenAddr, Option<String>)> {
        let addrs = self.ports.get(&port)?;
        if addrs.len() == 1 {
            return Some((&addrs[0], None));
        }
        if let Some(ip) = local {
            // nginx: the socket bound to exactly this address, else the wildcard of its family.
            let exact = ListenAddr::Ip(ip);
            let wildcard = if ip.is_ipv4() {
                ListenAddr::AnyV4
            } else {
                ListenAddr::AnyV6
            };
            return addrs
                .iter()
                .find(|a| **a == exact)
                .or_else(|| addrs.iter().find(|a| **a == wildcard))
                .map(|a| (a, None));
        }
        // Unknown local address: the address whose servers know the host by name, else the
        // IPv4 wildcard, else the first one.
        let by_name = addrs.iter().find(|a| {
            self.match_name(cfg, &self.sockets[&((*a).clone(), port)], host)
                .is_some()
        });
        let pick = by_name
            .or_else(|| addrs.iter().find(|a| **a == ListenAddr::AnyV4))
            .unwrap_or(&addrs[0]);
        let describe = |a: &ListenAddr| {
            Listen {
                addr: a.clone(),
                port,
                default_server: false,
                ssl: false,
            }
            .describe()
        };
        let note = format!(
            "port {port} is bound on several addresses ({}); the client's local address decides which servers apply, assumed {}",
            addrs.iter().map(describe).collect::<Vec<_>>().join(", "),
            describe(pick)
        );
        Some((pick, Some(note)))
    }

    /// The default server of the socket a connection to `port` reaches.
    pub fn default_for(&self, cfg: &Config, port: u16, local: Option<IpAddr>) -> Option<usize> {
        let (addr, _) = self.pick_addr(cfg, "", port, local)?;
        self.sockets[&(addr.clone(), port)].default_server()
    }

    /// The default servers a request to server `i` may also meet: of each socket it listens on,
    /// and of its ports when the local address is not known.
    pub fn defaults_around(&self, cfg: &Config, i: usize) -> Vec<usize> {
        let mut out = Vec::new();
        for l in self.servers[i].listens.iter() {
            let of_socket = self
                .sockets
                .get(&(l.addr.clone(), l.port))
                .and_then(Socket::default_server);
            for d in of_socket
                .into_iter()
                .chain(self.default_for(cfg, l.port, None))
            {
                if !out.contains(&d) {
                    out.push(d);
                }
            }
        }
        out
    }

    /// Pick the server for `host` (already validated and lower-cased) on `port`.
    /// `local` is the address the connection reached, when known.
    pub fn select<'h>(
        &self,
        cfg: &Config,
        host: &'h str,
        port: u16,
        local: Option<IpAddr>,
    ) -> Option<Selection<'h>> {
        let (addr, note) = self.pick_addr(cfg, host, port, local)?;
        let sock = &self.sockets[&(addr.clone(), port)];
        let listen = (addr.clone(), port);
        if let Some((server, entry, exec)) = self.match_name(cfg, sock, host) {
            let (captures, named_captures) = match exec {
                Some(Exec::Match(Some(c))) => {
                    let named = c
                        .named()
                        .map(|(n, v)| (n.to_string(), v.to_vec()))
                        .collect();
                    (Some(c), named)
                }
                _ => (None, Vec::new()),
            };
            return Some(Selection {
                server,
                chosen: Chosen::Name(entry),
                listen,
                captures,
                named_captures,
                note,
            });
        }
        let (server, explicit) = match sock.default {
            Some(s) => (s, true),
            None => (*sock.servers.first()? as usize, false),
        };
        Some(Selection {
            server,
            chosen: Chosen::Default { explicit },
            listen,
            captures: None,
            named_captures: Vec::new(),
            note,
        })
    }

    /// nginx's `ngx_http_find_virtual_server`: exact, then the longest leading wildcard, then the
    /// longest trailing wildcard, then regexes in order.
    fn match_name<'h>(
        &self,
        cfg: &Config,
        sock: &Socket,
        host: &'h str,
    ) -> Option<(usize, Cow<'h, str>, Option<Exec>)> {
        let key = exact_key(host);
        let from = sock.exact.partition_point(|&(k, _)| k < key);
        // In config order: the first server that gives the name.
        let exact = sock.exact[from..]
            .iter()
            .take_while(|&&(k, _)| k == key)
            .map(|&(_, s)| s as usize)
            .find(|&s| {
                self.servers[s]
                    .names(cfg)
                    .any(|n| is_exact(n) && n.eq_ignore_ascii_case(host))
            });
        if let Some(s) = exact {
            return Some((s, Cow::Borrowed(host), None));
        }
        // Leading wildcards: try suffixes from the longest.
        let mut suffix = host;
        let mut first = true;
        loop {
            if !first {
                if let Some(&s) = sock.star_head.get(suffix) {
                    return Some((s as usize, format!("*.{suffix}").into(), None));
                }
            }
            if let Some(&s) = sock.dot_head.get(suffix) {
                return Some((s as usize, format!(".{suffix}").into(), None));
            }
            first = false;
            match suffix.split_once('.') {
                Some((_, rest)) if !rest.is_empty() => suffix = rest,
                _ => break,
            }
        }
        // Trailing wildcards: try prefixes from the longest, leaving at least one label.
        let mut end = host.len();
        while let Some(dot) = host[..end].rfind('.') {
            let prefix = &host[..dot];
            if let Some(&s) = sock.star_tail.get(prefix) {
                return Some((s as usize, format!("{prefix}.*").into(), None));
            }
            end = dot;
        }
        if !host.is_empty() {
            for &(s, ri) in &sock.regex {
                let re = &self.regexes[ri as usize];
                if let Ok(exec @ Exec::Match(_)) = re.exec(host.as_bytes()) {
                    return Some((s as usize, format!("~{}", re.pattern).into(), Some(exec)));
                }
            }
        }
        None
    }
}

/// nginx's `ngx_http_validate_host`: lower-case, drop the port and a trailing dot; `None` is a 400.
pub fn validate_host(raw: &str) -> Option<String> {
    let b = raw.as_bytes();
    let mut dot_pos: Option<usize> = None;
    let mut host_len = b.len();
    #[derive(PartialEq)]
    enum St {
        Usual,
        Literal,
        Rest,
    }
    let mut st = St::Usual;
    for (i, &ch) in b.iter().enumerate() {
        match ch {
            b'.' => {
                if i > 0 && dot_pos == Some(i - 1) {
                    return None;
                }
                dot_pos = Some(i);
            }
            b':' if st == St::Usual => {
                host_len = i;
                st = St::Rest;
            }
            b'[' if i == 0 => st = St::Literal,
            b']' if st == St::Literal => {
                host_len = i + 1;
                st = St::Rest;
            }
            b':' | b'[' | b']' => {}
            b'/' | b'\0' => return None,
            c if c <= 0x20 || c == 0x7f => return None,
            _ => {}
        }
    }
    if host_len > 0 && dot_pos == Some(host_len - 1) {
        host_len -= 1;
    }
    if host_len == 0 {
        return None;
    }
    Some(raw[..host_len].to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// See `ServerInfo`: one per server of the config.
    #[test]
    fn a_server_info_is_small() {
        assert_eq!(std::mem::size_of::<ServerInfo>(), 16);
    }

    /// Servers with the same `listen`s share one list.
    #[test]
    fn equal_listens_are_shared() {
        let dump = "# configuration file /etc/nginx/nginx.conf:\n\
            http { server { listen 80; server_name a; } server { listen 80; server_name b; } \
            server { listen 8080; } }\n";
        let root = crate::sysroot::SysRoot::live();
        let cfg = crate::nginx::load_dump(&root, dump.as_bytes(), "test").unwrap();
        let ids: Vec<NodeId> = cfg.servers().iter().map(Directive::id).collect();
        let infos = ServerIndex::infos(&cfg, &ids);
        assert!(Arc::ptr_eq(&infos[0].listens, &infos[1].listens));
        assert!(!Arc::ptr_eq(&infos[1].listens, &infos[2].listens));
        assert_eq!(infos[2].listens[0].port, 8080);
    }

    #[test]
    fn listen_forms() {
        assert_eq!(parse_listen_addr("80"), Some((ListenAddr::AnyV4, 80)));
        assert_eq!(parse_listen_addr("*:8080"), Some((ListenAddr::AnyV4, 8080)));
        assert_eq!(
            parse_listen_addr("127.0.0.1:81"),
            Some((ListenAddr::Ip("127.0.0.1".parse().unwrap()), 81))
        );
        assert_eq!(
            parse_listen_addr("127.0.0.1"),
            Some((ListenAddr::Ip("127.0.0.1".parse().unwrap()), 80))
        );
        assert_eq!(parse_listen_addr("[::]:80"), Some((ListenAddr::AnyV6, 80)));
        assert_eq!(
            parse_listen_addr("[::1]:443"),
            Some((ListenAddr::Ip("::1".parse().unwrap()), 443))
        );
        assert_eq!(
            parse_listen_addr("unix:/run/a.sock"),
            Some((ListenAddr::Unix("/run/a.sock".into()), 0))
        );
        assert_eq!(
            parse_listen_addr("0.0.0.0:80"),
            Some((ListenAddr::AnyV4, 80))
        );
    }

    #[test]
    fn hosts_are_validated_like_nginx() {
        assert_eq!(
            validate_host("Example.COM:8080").as_deref(),
            Some("example.com")
        );
        assert_eq!(
            validate_host("example.com.").as_deref(),
            Some("example.com")
        );
        assert_eq!(validate_host("[::1]:80").as_deref(), Some("[::1]"));
        assert_eq!(validate_host("a..b"), None);
        assert_eq!(validate_host("a/b"), None);
        assert_eq!(validate_host(""), None);
    }

    /// The index of a config of `server`s, each written as its body.
    fn index_of(servers: &[&str]) -> (Config, ServerIndex) {
        let mut dump = String::from("# configuration file /etc/nginx/nginx.conf:\nhttp {\n");
        for body in servers {
            dump.push_str(&format!("server {{ {body} }}\n"));
        }
        dump.push_str("}\n");
        let root = crate::sysroot::SysRoot::live();
        let cfg = crate::nginx::load_dump(&root, dump.as_bytes(), "test").unwrap();
        let ids: Vec<NodeId> = cfg.servers().iter().map(Directive::id).collect();
        let index = ServerIndex::of(&cfg, ServerIndex::infos(&cfg, &ids));
        (cfg, index)
    }

    /// Names are read from the config: exact ones in any case, the first server of a socket
    /// that gives one wins; each server's regexes are its own on every socket it listens on.
    #[test]
    fn names_on_several_sockets() {
        let (cfg, idx) = index_of(&[
            "listen 80; server_name ~^a ~^b;",
            "listen 80; listen 81; server_name Dup.Example ~^c ~^d;",
            "listen 81; server_name dup.example ~^e;",
        ]);
        let on = |port: u16, host: &'static str| {
            let sel = idx.select(&cfg, host, port, None).unwrap();
            (sel.server, sel.chosen)
        };
        let name = |n: &'static str| Chosen::Name(n.into());
        assert_eq!(on(80, "dup.example"), (1, name("dup.example")));
        assert_eq!(on(81, "dup.example"), (1, name("dup.example")));
        assert_eq!(on(80, "b1"), (0, name("~^b")));
        assert_eq!(on(80, "d1"), (1, name("~^d")));
        assert_eq!(on(81, "d1"), (1, name("~^d")));
        assert_eq!(on(81, "e1"), (2, name("~^e")));
        assert_eq!(on(81, "b1").1, Chosen::Default { explicit: false });
        assert_eq!(idx.regexes.len(), 5);
    }

    /// `position` finds each server block's index, whatever the order of the nodes (servers
    /// of an included file may come first); none for a node that is not a server.
    #[test]
    fn servers_are_found_by_node() {
        let dump = "# configuration file /etc/nginx/nginx.conf:\n\
            http { server { server_name a; } include /etc/nginx/b.conf; server { server_name c; } }\n\
            # configuration file /etc/nginx/b.conf:\n\
            server { server_name b1; } server { server_name b2; }\n";
        let root = crate::sysroot::SysRoot::live();
        let cfg = crate::nginx::load_dump(&root, dump.as_bytes(), "test").unwrap();
        let ids: Vec<NodeId> = cfg.servers().iter().map(Directive::id).collect();
        let idx = ServerIndex::of(&cfg, ServerIndex::infos(&cfg, &ids));
        assert_eq!(ids.len(), 4);
        for (i, &id) in ids.iter().enumerate() {
            assert_eq!(idx.position(id), Some(i));
            assert_eq!(idx.servers[i].names(&cfg).count(), 1);
        }
        let http = cfg.top().find(|d| d.is("http")).unwrap().id();
        assert_eq!(idx.position(http), None);
    }

    #[test]
    fn name_precedence() {
        let (cfg, idx) = index_of(&[
            "server_name ~^www\\.;",
            "server_name *.example.com;",
            "server_name *.a.example.com;",
            "server_name .example.org;",
            "server_name www.example.*;",
            "server_name exact.example.com;",
        ]);
        let s = &idx.sockets[&(ListenAddr::AnyV4, 80)];
        let m = |h: &str| {
            idx.match_name(&cfg, s, h)
                .map(|(s, n, _)| (s, n.into_owned()))
        };
        assert_eq!(m("exact.example.com").unwrap().0, 5);
        assert_eq!(m("x.a.example.com").unwrap().0, 2);
        assert_eq!(m("x.b.example.com").unwrap().0, 1);
        assert_eq!(m("example.com"), None);
        assert_eq!(m("example.org").unwrap().0, 3);
        assert_eq!(m("deep.sub.example.org").unwrap().0, 3);
        // leading wildcard beats trailing wildcard and regex
        assert_eq!(m("www.example.com").unwrap().0, 1);
        assert_eq!(m("www.example.net").unwrap().0, 4);
        assert_eq!(m("www.other.net").unwrap().0, 0);
        assert_eq!(m("other.net"), None);
    }
}
