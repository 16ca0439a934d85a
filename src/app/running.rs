//! The app where it runs: from a server block's upstream (`proxy_pass`, `uwsgi_pass`,
//! `fastcgi_pass`, through `upstream {}` blocks) to the socket or port it names, to the process
//! listening there (/proc/net/unix, /proc/net/tcp{,6}: the socket's inode; /proc/PID/fd: who
//! holds it), and what that process says about the app: its command line, working directory,
//! interpreter, user, environment and systemd unit (from its cgroup).
//!
//! Everything is read under the `SysRoot`, so a fixture tree can carry a /proc of its own, and a
//! test can link the live /proc into a temporary root: link targets (cwd, exe) that lie inside
//! the root are mapped back to system paths. The same box gives the same answer: endpoints are
//! taken in config order, holders of a socket in pid order.

use crate::sysroot::SysRoot;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

/// Where nginx hands a request to the app.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Endpoint {
    Unix(PathBuf),
    /// `addr` None: a host name that is not a literal address or `localhost` (not resolved).
    Tcp {
        host: String,
        addr: Option<IpAddr>,
        port: u16,
    },
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Unix(p) => write!(f, "unix:{}", p.display()),
            Endpoint::Tcp { host, port, .. } => write!(f, "{host}:{port}"),
        }
    }
}

/// An endpoint and the directive that names it (`proxy_pass at /etc/nginx/sites-enabled/shop:14`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    pub endpoint: Endpoint,
    pub named_by: String,
}

/// The directives that hand a request to an app server.
pub const PASS_DIRECTIVES: &[&str] = &[
    "proxy_pass",
    "uwsgi_pass",
    "fastcgi_pass",
    "scgi_pass",
    "grpc_pass",
];

/// The endpoint one pass directive's argument names (`http://unix:/run/app.sock:/`,
/// `127.0.0.1:8000`, `http://localhost`); none for a variable or a name that is not an address
/// (an `upstream` group is expanded by the caller, member by member).
pub fn endpoints_of(directive: &str, arg: &str) -> Vec<Endpoint> {
    if arg.contains('$') {
        return Vec::new();
    }
    let (scheme, rest) = match arg.split_once("://") {
        Some((s, r)) => (s, r),
        None => ("", arg),
    };
    if let Some(path) = rest.strip_prefix("unix:") {
        // proxy_pass http://unix:/run/app.sock:/uri; uwsgi_pass unix:/run/app.sock;
        let path = if scheme.is_empty() {
            path
        } else {
            path.split(':').next().unwrap_or(path)
        };
        return vec![Endpoint::Unix(PathBuf::from(path))];
    }
    let hostport = rest.split('/').next().unwrap_or(rest);
    let default_port = match (directive, scheme) {
        (_, "https") | (_, "grpcs") => 443,
        ("proxy_pass", _) => 80,
        _ => return tcp(hostport, None).into_iter().collect(),
    };
    tcp(hostport, Some(default_port)).into_iter().collect()
}

/// `127.0.0.1:8000`, `[::1]:8000`, `localhost:8000`, `localhost` (with a default port).
fn tcp(hostport: &str, default_port: Option<u16>) -> Option<Endpoint> {
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (h, after) = v6.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None => default_port?,
        };
        (h.to_string(), port)
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), p.parse().ok()?),
            None => (hostport.to_string(), default_port?),
        }
    };
    let addr = match host.parse::<IpAddr>() {
        Ok(a) => Some(a),
        Err(_) if host == "localhost" => Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        Err(_) => None,
    };
    Some(Endpoint::Tcp { host, addr, port })
}

/// A socket some process listens on.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Listening {
    Unix(PathBuf),
    Tcp(IpAddr, u16),
}

/// The listening sockets of the box, by inode, from /proc/net/{unix,tcp,tcp6}.
fn listening_sockets(root: &SysRoot) -> Vec<(u64, Listening)> {
    let mut out = Vec::new();
    // In the view of a process of this machine (nginx in a mount namespace of its own): the
    // sockets of its network namespace.
    let proc = proc_dir(root);
    let read = |p: &str| {
        let rel = p.trim_start_matches("/proc/");
        let file = match root.process() {
            Some(pid) => proc.join(format!("{pid}/{rel}")),
            None => proc.join(rel),
        };
        std::fs::read_to_string(file).unwrap_or_default()
    };
    // Num RefCount Protocol Flags Type St Inode Path; __SO_ACCEPTCON (0x10000) marks a listener.
    for line in read("/proc/net/unix").lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 8 {
            continue;
        }
        let flags = u32::from_str_radix(f[3], 16).unwrap_or(0);
        let Ok(inode) = f[6].parse::<u64>() else {
            continue;
        };
        if flags & 0x10000 != 0 && !f[7].starts_with('@') {
            out.push((inode, Listening::Unix(to_system(root, Path::new(f[7])))));
        }
    }
    for (file, v6) in [("/proc/net/tcp", false), ("/proc/net/tcp6", true)] {
        for (inode, addr, port) in tcp_listeners(&read(file), v6) {
            out.push((inode, Listening::Tcp(addr, port)));
        }
    }
    out
}

/// The LISTEN sockets of a /proc/net/tcp (`v6`: tcp6) table: (inode, address, port).
fn tcp_listeners(text: &str, v6: bool) -> Vec<(u64, IpAddr, u16)> {
    let mut out = Vec::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        // sl local rem st tx:rx tr:when retrnsmt uid timeout inode; st 0A is LISTEN.
        if f.len() < 10 || f[3] != "0A" {
            continue;
        }
        let (Some((addr, port)), Ok(inode)) = (f[1].split_once(':'), f[9].parse::<u64>()) else {
            continue;
        };
        let (Some(addr), Ok(port)) = (hex_addr(addr, v6), u16::from_str_radix(port, 16)) else {
            continue;
        };
        out.push((inode, addr, port));
    }
    out
}

/// An address as /proc/net/tcp prints it: 32-bit words in hex, each in the host's byte order.
fn hex_addr(s: &str, v6: bool) -> Option<IpAddr> {
    let words: Vec<u32> = (0..s.len() / 8)
        .map(|i| u32::from_str_radix(s.get(i * 8..i * 8 + 8)?, 16).ok())
        .collect::<Option<_>>()?;
    match (v6, words.as_slice()) {
        (false, [w]) => Some(IpAddr::V4(Ipv4Addr::from(w.to_ne_bytes()))),
        (true, [a, b, c, d]) => {
            let mut bytes = [0u8; 16];
            for (i, w) in [a, b, c, d].iter().enumerate() {
                bytes[i * 4..i * 4 + 4].copy_from_slice(&w.to_ne_bytes());
            }
            let v6 = Ipv6Addr::from(bytes);
            Some(match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => IpAddr::V6(v6),
            })
        }
        _ => None,
    }
}

/// Whether a listener answers connections to `endpoint` (`real`: a unix endpoint's path as the
/// system resolves it).
fn answers(l: &Listening, endpoint: &Endpoint, real: Option<&Path>, root: &SysRoot) -> bool {
    match (l, endpoint) {
        (Listening::Unix(p), Endpoint::Unix(want)) => {
            p == want
                || real.is_some_and(|real| real == p || root.real_path(p).is_ok_and(|r| r == real))
        }
        (
            Listening::Tcp(addr, port),
            Endpoint::Tcp {
                addr: Some(want),
                port: want_port,
                ..
            },
        ) => {
            port == want_port
                && (addr == want
                    || addr.is_unspecified()
                    || (want.is_loopback() && addr.is_loopback()))
        }
        _ => false,
    }
}

/// A link target read under the root, as a system path: a path inside the root (a live /proc
/// linked into a test root) loses the root's prefix; anything else is already a system path.
fn to_system(root: &SysRoot, p: &Path) -> PathBuf {
    if root.is_live() {
        return p.to_path_buf();
    }
    root.system_path(p).unwrap_or_else(|| p.to_path_buf())
}

/// The process serving an endpoint, and what /proc says about it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RunningApp {
    /// `unix:/run/shop.sock`.
    pub endpoint: String,
    /// The directive that names the endpoint.
    pub named_by: String,
    /// The process that opened the socket (a master whose parent does not hold it).
    pub pid: i32,
    pub argv: Vec<String>,
    /// Its working directory (system path).
    pub cwd: Option<PathBuf>,
    /// The binary it runs (system path).
    pub exe: Option<PathBuf>,
    /// The effective uid of a process serving requests (a worker when there are workers: a
    /// gunicorn master started as root switches only its workers to `--user`).
    pub uid: Option<u32>,
    /// The systemd service it runs in (from /proc/PID/cgroup).
    pub unit: Option<String>,
    /// A container id when the cgroup says it runs in one (docker, containerd, podman).
    pub container: Option<String>,
    /// Its environment at exec (/proc/PID/environ). Never reported: it may hold secrets.
    #[serde(skip)]
    pub environ: BTreeMap<String, String>,
    /// How it was told to be the upstream's when its socket is in another network namespace
    /// than nginx's (a container of its own): the port, and the compose service when needed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matched: Option<String>,
}

impl RunningApp {
    /// For MD301's evidence: how the app was found.
    pub fn describe(&self) -> String {
        // The program: past the interpreter and `-m` (`python -m gunicorn` is gunicorn).
        let prog = self
            .argv
            .iter()
            .map(|a| a.rsplit('/').next().unwrap_or(a))
            .find(|a| !a.starts_with("python") && !a.starts_with('-'))
            .unwrap_or("a process");
        let mut s = format!(
            "{prog} (pid {}) listening on {}, named by the {}",
            self.pid, self.endpoint, self.named_by
        );
        if let Some(u) = &self.unit {
            s.push_str(&format!(", systemd unit {u}"));
        }
        if let Some(m) = &self.matched {
            s.push_str(&format!(" ({m})"));
        }
        s
    }
}

/// What looking for the running app found, and what it looked at.
#[derive(Debug, Default)]
pub struct Search {
    pub app: Option<RunningApp>,
    pub tried: Vec<String>,
}

/// The listening sockets of the box and the processes that hold them: read once per run (every
/// site of a box looks its app up in the same tables; a 10,000-site config must not read /proc
/// 10,000 times).
#[derive(Debug, Default)]
pub struct Listeners {
    /// None: the tree has no /proc (a fixture, an image): nothing runs there.
    sockets: Option<Vec<(u64, Listening)>>,
    /// Every listening socket's holders, read on first need.
    holders: std::sync::OnceLock<HashMap<u64, Vec<i32>>>,
}

impl Listeners {
    pub fn read(root: &SysRoot) -> Listeners {
        Listeners {
            sockets: proc_dir(root)
                .join("net")
                .is_dir()
                .then(|| listening_sockets(root)),
            holders: std::sync::OnceLock::new(),
        }
    }

    fn holders(&self, root: &SysRoot) -> &HashMap<u64, Vec<i32>> {
        self.holders.get_or_init(|| {
            let all: BTreeSet<u64> = self.sockets.iter().flatten().map(|(i, _)| *i).collect();
            socket_holders(root, &all)
        })
    }
}

/// The process behind the first of `upstreams` that some process listens on (`listeners`: the
/// box's, read once; None: read them now).
pub fn find(root: &SysRoot, upstreams: &[Upstream], listeners: Option<&Listeners>) -> Search {
    let mut s = Search::default();
    if upstreams.is_empty() {
        return s;
    }
    let read;
    let listeners = match listeners {
        Some(l) => l,
        None => {
            read = Listeners::read(root);
            &read
        }
    };
    // A tree without /proc (a fixture, an image): nothing runs there, nothing to say.
    let Some(sockets) = &listeners.sockets else {
        return s;
    };
    // A host name, as nginx's /etc/hosts resolves it (read once, and only for a name).
    let hosts = std::sync::OnceLock::new();
    let hosts = || hosts.get_or_init(|| read_hosts(root));
    let mut wanted: Vec<(&Upstream, Vec<u64>)> = Vec::new();
    for u in upstreams {
        // The socket path as the system resolves it, once per upstream (not per listener).
        let real = match &u.endpoint {
            Endpoint::Unix(want) => root.real_path(want).ok(),
            _ => None,
        };
        let endpoint = match &u.endpoint {
            Endpoint::Tcp {
                host,
                addr: None,
                port,
            } => Endpoint::Tcp {
                host: host.clone(),
                addr: hosts().get(host).copied(),
                port: *port,
            },
            e => e.clone(),
        };
        let inodes: Vec<u64> = sockets
            .iter()
            .filter(|(_, l)| answers(l, &endpoint, real.as_deref(), root))
            .map(|(i, _)| *i)
            .collect();
        if inodes.is_empty() {
            s.tried.push(format!(
                "running app: nothing listens on {} ({})",
                u.endpoint, u.named_by
            ));
        }
        wanted.push((u, inodes));
    }
    if wanted.iter().all(|(_, i)| i.is_empty()) {
        // A host name (a compose service, `app:8000`) that is no socket of nginx's network
        // namespace: an app server listening on that port in another one (its own container).
        for u in upstreams {
            let Endpoint::Tcp {
                host,
                addr: None,
                port,
            } = &u.endpoint
            else {
                continue;
            };
            let to = hosts().get(host).copied();
            // A loopback address is nginx's own network namespace: nothing elsewhere answers it.
            if to.is_some_and(|a| a.is_loopback()) {
                continue;
            }
            if let Some(app) = find_elsewhere(root, u, host, *port, to, &mut s.tried) {
                s.tried.push(format!("running app: {}", app.describe()));
                s.app = Some(app);
                return s;
            }
        }
        return s;
    }
    let holders = listeners.holders(root);
    for (u, inodes) in wanted {
        let pids: BTreeSet<i32> = inodes
            .iter()
            .filter_map(|i| holders.get(i))
            .flatten()
            .copied()
            .collect();
        if pids.is_empty() {
            if !inodes.is_empty() {
                s.tried.push(format!(
                    "running app: a socket listens on {}, but no process that holds it could be read (needs root?)",
                    u.endpoint
                ));
            }
            continue;
        }
        let (master, worker) = master_of(root, &pids);
        let app = read_process(root, master, worker, u);
        s.tried.push(format!("running app: {}", app.describe()));
        s.app = Some(app);
        return s;
    }
    s
}

/// Name → address from the root's /etc/hosts (the first address a name has, as the resolver
/// takes it).
fn read_hosts(root: &SysRoot) -> HashMap<String, IpAddr> {
    let text = std::fs::read_to_string(root.host_path(Path::new("/etc/hosts"))).unwrap_or_default();
    let mut out = HashMap::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("");
        let mut f = line.split_whitespace();
        let Some(addr) = f.next().and_then(|a| a.parse::<IpAddr>().ok()) else {
            continue;
        };
        for name in f {
            out.entry(name.to_string()).or_insert(addr);
        }
    }
    out
}

/// An app server holding a socket on the wanted port in another network namespace.
struct Elsewhere {
    netns: String,
    master: i32,
    worker: Option<i32>,
    prog: String,
    container: Option<String>,
}

/// The app server behind `host:port` when that is no socket of nginx's network namespace: the
/// LISTEN sockets on `port` of every other network namespace of this machine (each read once,
/// through the first of its processes), held by a process that runs an app server: the one whose
/// container answers to `host` on a network: its compose service, its name or a network alias
/// (from /var/lib/docker/containers/ID/config.v2.json); with none readable, the only one, and
/// only when no other namespace listens on `port` (said: matched by port alone); else none, each
/// candidate said (never guessed). Names read that are all another rule a candidate out, the
/// only one too. `to`: the address nginx's
/// /etc/hosts gives the name (a socket bound to another address does not answer it).
fn find_elsewhere(
    root: &SysRoot,
    u: &Upstream,
    host: &str,
    port: u16,
    to: Option<IpAddr>,
    tried: &mut Vec<String>,
) -> Option<RunningApp> {
    let proc = proc_dir(root);
    let netns = |pid: &str| {
        std::fs::read_link(proc.join(pid).join("ns/net"))
            .ok()
            .map(|p| p.display().to_string())
    };
    let own = match root.process() {
        Some(n) => netns(&n.to_string()),
        None => netns("self"),
    };
    let mut by_ns: BTreeMap<String, Vec<i32>> = BTreeMap::new();
    for pid in all_pids(root) {
        if let Some(ns) = netns(&pid.to_string()) {
            if Some(&ns) != own.as_ref() {
                by_ns.entry(ns).or_default().push(pid);
            }
        }
    }
    let mut found: Vec<Elsewhere> = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    // The other network namespaces with a socket on `port` that could answer nginx, app server
    // or not.
    let mut listening = 0usize;
    for (ns, pids) in &by_ns {
        let mut inodes = BTreeSet::new();
        for (file, v6) in [("net/tcp", false), ("net/tcp6", true)] {
            let text = std::fs::read_to_string(proc_file(root, pids[0], file)).unwrap_or_default();
            for (inode, addr, p) in tcp_listeners(&text, v6) {
                if p != port {
                    continue;
                }
                if addr.is_loopback() {
                    notes.push(format!(
                        "{addr}:{port} in {ns} answers only its own loopback"
                    ));
                } else if addr.is_unspecified() || to.map_or(true, |t| t == addr) {
                    inodes.insert(inode);
                }
            }
        }
        if inodes.is_empty() {
            continue;
        }
        listening += 1;
        let holders: BTreeSet<i32> = socket_holders_among(root, pids, &inodes)
            .into_values()
            .flatten()
            .collect();
        if holders.is_empty() {
            notes.push(format!(
                "a socket listens on port {port} in {ns}, but no process that holds it could be read"
            ));
            continue;
        }
        let (master, worker) = master_of(root, &holders);
        let argv = cmdline(root, master);
        let exe = std::fs::read_link(proc_file(root, master, "exe")).ok();
        let prog = argv
            .first()
            .map(|a| a.split_whitespace().next().unwrap_or(a))
            .map(|a| {
                a.rsplit('/')
                    .next()
                    .unwrap_or(a)
                    .trim_end_matches(':')
                    .to_string()
            })
            .unwrap_or_else(|| "?".into());
        if !looks_like_app_server(&argv, exe.as_deref()) {
            notes.push(format!(
                "pid {master} ({prog}) listens on port {port} in {ns}, and runs no app server"
            ));
            continue;
        }
        let cgroup = std::fs::read_to_string(proc_file(root, master, "cgroup")).unwrap_or_default();
        found.push(Elsewhere {
            netns: ns.clone(),
            master,
            worker,
            prog,
            container: read_cgroup(&cgroup).1,
        });
    }
    let noted = if notes.is_empty() {
        String::new()
    } else {
        format!(" ({})", notes.join("; "))
    };
    let others = by_ns.len();
    let n = found.len();
    if n == 0 {
        tried.push(format!(
            "running app: {host}:{port} ({}) is no socket of nginx's network namespace, and no app server listens on port {port} in the {others} other network namespace(s) of this machine{noted}",
            u.named_by
        ));
        return None;
    }
    // The same evidence for one candidate as for several: a compose service label that names
    // another service rules a candidate out; the port alone is taken only when nothing else
    // listens on it anywhere else, and said as such.
    // What Docker's DNS answers to for each container (its compose service, its name, its
    // network aliases), from its config on disk: the same evidence, whichever names it.
    let seen: Vec<Option<crate::system::container::Inspected>> = found
        .iter()
        .map(|e| {
            e.container
                .as_deref()
                .and_then(|id| crate::system::container::inspected_on_disk(root, id))
                .filter(|i| !i.names_read().is_empty())
        })
        .collect();
    let answers: Vec<Option<(&str, String)>> = seen
        .iter()
        .map(|s| s.as_ref().and_then(|s| s.answers_to(host)))
        .collect();
    let named: Vec<usize> = (0..n).filter(|&i| answers[i].is_some()).collect();
    let list: Vec<String> = found
        .iter()
        .zip(&seen)
        .map(|(e, seen)| {
            let mut d = format!("pid {} ({}, {}", e.master, e.prog, e.netns);
            match (&e.container, seen) {
                (Some(c), Some(s)) => {
                    d.push_str(&format!(", container {}", short_id(c)));
                    if let Some(svc) = &s.service {
                        d.push_str(&format!(" of compose service {svc}"));
                    }
                    if let Some(name) = &s.name {
                        d.push_str(&format!(", named {name}"));
                    }
                    if !s.aliases.is_empty() {
                        let aliases: Vec<String> = s
                            .aliases
                            .iter()
                            .map(|(a, net)| format!("{a} on {net}"))
                            .collect();
                        d.push_str(&format!(", network aliases {}", aliases.join(", ")));
                    }
                }
                (Some(c), None) => d.push_str(&format!(
                    ", container {}, no compose service label readable",
                    short_id(c)
                )),
                (None, _) => d.push_str(", in no container"),
            }
            d.push(')');
            d
        })
        .collect();
    let (chosen, how) = if let [i] = named.as_slice() {
        let (kind, said) = answers[*i].clone().unwrap_or_default();
        let pids = found
            .iter()
            .map(|e| e.master.to_string())
            .collect::<Vec<_>>();
        let e = found.remove(*i);
        let cid = e.container.as_deref().map(short_id).unwrap_or_default();
        let how = if n == 1 {
            format!(
                "matched by port and {kind}: {host}:{port} is no socket of nginx's network namespace; the only app server listening on port {port} in another network namespace of this machine, {}, runs in container {cid}, {said}",
                e.netns
            )
        } else {
            format!(
                "matched by port and {kind}: of the {n} app servers listening on port {port} in other network namespaces (pids {}), the one whose container {cid} {} {said}",
                pids.join(", "),
                if kind == "compose service" { "is" } else { "has" }
            )
        };
        (e, how)
    } else if n == 1 && seen[0].is_none() && listening == 1 {
        let e = found.remove(0);
        let how = format!(
            "matched by port alone, not confirmed: {host}:{port} is no socket of nginx's network namespace; the only app server listening on port {port} in another network namespace of this machine, {}, and the only namespace with a listener on that port; no compose service label could be read to confirm it is {host} (not Docker, or not root): if it is not the site's app, name the app with --app",
            e.netns
        );
        (e, how)
    } else {
        let why = match seen.first() {
            Some(Some(s)) if n == 1 => {
                let read = s.names_read();
                format!(
                    "its {} {} not {host}, so it is not taken (name the app with --app)",
                    words_and(&read),
                    if read == ["compose service"] || read == ["container name"] {
                        "is"
                    } else {
                        "are"
                    }
                )
            }
            _ if n == 1 => format!(
                "{listening} network namespaces have a listener on port {port} and no compose service label, container name or network alias names {host}: by port alone it would be a guess, so it is not taken (name the app with --app)"
            ),
            _ => format!(
                "no compose service label, container name or network alias names {host}, so none is taken (name the app with --app)"
            ),
        };
        let servers = if n == 1 {
            "1 app server listens".to_string()
        } else {
            format!("{n} app servers listen")
        };
        tried.push(format!(
            "running app: unknown: {host}:{port} ({}) is no socket of nginx's network namespace, and {servers} on port {port} in other network namespaces of this machine: {}; {why}{noted}",
            u.named_by,
            list.join("; ")
        ));
        return None;
    };
    let mut app = read_process(root, chosen.master, chosen.worker, u);
    app.matched = Some(how);
    Some(app)
}

/// `a`, `a and b`, `a, b and c`.
fn words_and(words: &[&str]) -> String {
    match words {
        [] => String::new(),
        [one] => one.to_string(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

fn short_id(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

/// Whether a process runs a Python app server (gunicorn, uwsgi, uvicorn, …, or python itself),
/// by its command line as the running-app search reads it, or its binary.
fn looks_like_app_server(argv: &[String], exe: Option<&Path>) -> bool {
    use super::server::{AppServerCommand, ServerKind};
    const SERVERS: &[&str] = &[
        "gunicorn",
        "uwsgi",
        "uvicorn",
        "daphne",
        "hypercorn",
        "waitress",
        "granian",
    ];
    if argv.is_empty() {
        return false;
    }
    let cmd = AppServerCommand::parse(argv, crate::report::Location::new("", 0));
    // Not `cmd.python`: the parse puts a python beside any binary given by path (a venv's
    // bin/), `/usr/bin/redis-server` too.
    if cmd.kind != ServerKind::Other {
        return true;
    }
    // A process title (`gunicorn: master [shop]`, `uWSGI master`), or the binary.
    let first = argv[0]
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_lowercase();
    let first = first.rsplit('/').next().unwrap_or("");
    let bin = exe
        .and_then(|e| e.file_name())
        .and_then(|n| n.to_str())
        .unwrap_or("");
    SERVERS
        .iter()
        .any(|s| first.starts_with(s) || bin.starts_with(s))
        || bin.starts_with("python")
        || first.starts_with("python")
}

fn cmdline(root: &SysRoot, pid: i32) -> Vec<String> {
    std::fs::read(proc_file(root, pid, "cmdline"))
        .map(|b| {
            b.split(|&c| c == 0)
                .filter(|w| !w.is_empty())
                .map(|w| String::from_utf8_lossy(w).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Of the processes that hold a socket, the one that opened it (whose parent does not hold it)
/// and a worker of it.
fn master_of(root: &SysRoot, pids: &BTreeSet<i32>) -> (i32, Option<i32>) {
    let parents: HashMap<i32, i32> = pids.iter().map(|&p| (p, ppid(root, p))).collect();
    let master = pids
        .iter()
        .copied()
        .find(|p| !pids.contains(&parents[p]))
        .unwrap_or(*pids.iter().next().unwrap_or(&0));
    let worker = pids.iter().copied().find(|p| parents[p] == master);
    (master, worker)
}

/// For each wanted socket inode, the pids whose fds hold it (pid order).
fn socket_holders(root: &SysRoot, inodes: &BTreeSet<u64>) -> HashMap<u64, Vec<i32>> {
    socket_holders_among(root, &all_pids(root), inodes)
}

/// The pids of the machine, in order.
fn all_pids(root: &SysRoot) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir(proc_dir(root)) else {
        return Vec::new();
    };
    let mut pids: Vec<i32> = dir
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    pids.sort_unstable();
    pids
}

/// `socket_holders` among `pids` only.
fn socket_holders_among(
    root: &SysRoot,
    pids: &[i32],
    inodes: &BTreeSet<u64>,
) -> HashMap<u64, Vec<i32>> {
    let mut out: HashMap<u64, Vec<i32>> = HashMap::new();
    for &pid in pids {
        let fd_dir = proc_file(root, pid, "fd");
        let Ok(fds) = std::fs::read_dir(&fd_dir) else {
            continue;
        };
        for fd in fds.flatten() {
            let Ok(target) = std::fs::read_link(fd.path()) else {
                continue;
            };
            let Some(inode) = target
                .to_str()
                .and_then(|t| t.strip_prefix("socket:["))
                .and_then(|t| t.strip_suffix(']'))
                .and_then(|t| t.parse::<u64>().ok())
            else {
                continue;
            };
            if inodes.contains(&inode) {
                let v = out.entry(inode).or_default();
                if v.last() != Some(&pid) {
                    v.push(pid);
                }
            }
        }
    }
    out
}

/// The /proc the processes of this machine are read in: the live one for the view of a process
/// (its own /proc may be a container's pid namespace), the root's otherwise (a fixture's).
fn proc_dir(root: &SysRoot) -> PathBuf {
    if root.process().is_some() {
        PathBuf::from("/proc")
    } else {
        root.host_path(Path::new("/proc"))
    }
}

fn proc_file(root: &SysRoot, pid: i32, name: &str) -> PathBuf {
    proc_dir(root).join(format!("{pid}/{name}"))
}

fn ppid(root: &SysRoot, pid: i32) -> i32 {
    let stat = std::fs::read_to_string(proc_file(root, pid, "stat")).unwrap_or_default();
    stat.rfind(')')
        .and_then(|i| stat[i + 1..].split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

fn read_process(root: &SysRoot, pid: i32, worker: Option<i32>, u: &Upstream) -> RunningApp {
    let nul_split = |name: &str| -> Vec<String> {
        std::fs::read(proc_file(root, pid, name))
            .map(|b| {
                b.split(|&c| c == 0)
                    .filter(|w| !w.is_empty())
                    .map(|w| String::from_utf8_lossy(w).into_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    let link = |name: &str| {
        std::fs::read_link(proc_file(root, pid, name))
            .ok()
            .map(|p| to_system(root, &p))
    };
    let environ = nul_split("environ")
        .into_iter()
        .filter_map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect();
    let uid = effective_uid(root, worker.unwrap_or(pid)).or_else(|| effective_uid(root, pid));
    let cgroup = std::fs::read_to_string(proc_file(root, pid, "cgroup")).unwrap_or_default();
    let (unit, container) = read_cgroup(&cgroup);
    RunningApp {
        endpoint: u.endpoint.to_string(),
        named_by: u.named_by.clone(),
        pid,
        argv: nul_split("cmdline"),
        cwd: link("cwd"),
        exe: link("exe"),
        uid,
        unit,
        container,
        environ,
        matched: None,
    }
}

/// The name of `uid` in the root's /etc/passwd.
pub fn user_name(root: &SysRoot, uid: u32) -> Option<String> {
    let text = std::fs::read_to_string(root.host_path(Path::new("/etc/passwd"))).ok()?;
    text.lines().find_map(|l| {
        let mut f = l.split(':');
        let name = f.next()?;
        (f.nth(1)?.parse::<u32>().ok()? == uid).then(|| name.to_string())
    })
}

fn effective_uid(root: &SysRoot, pid: i32) -> Option<u32> {
    let status = std::fs::read_to_string(proc_file(root, pid, "status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

/// The systemd service (`shop.service`) and container id in a /proc/PID/cgroup.
fn read_cgroup(text: &str) -> (Option<String>, Option<String>) {
    let mut unit = None;
    let mut container = None;
    for line in text.lines() {
        let path = line.splitn(3, ':').nth(2).unwrap_or("");
        for part in path.split('/') {
            if let Some(id) = part
                .strip_prefix("docker-")
                .or_else(|| part.strip_prefix("libpod-"))
                .or_else(|| part.strip_prefix("cri-containerd-"))
                .and_then(|p| p.strip_suffix(".scope"))
            {
                container = Some(id.to_string());
            } else if part.len() == 64 && part.bytes().all(|b| b.is_ascii_hexdigit()) {
                container = Some(part.to_string());
            } else if part.ends_with(".service") && !part.starts_with("user@") {
                unit = Some(part.to_string());
            }
        }
    }
    (unit, container)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pass_arguments() {
        assert_eq!(
            endpoints_of("proxy_pass", "http://unix:/run/shop.sock:/api/"),
            vec![Endpoint::Unix("/run/shop.sock".into())]
        );
        assert_eq!(
            endpoints_of("uwsgi_pass", "unix:/run/uwsgi/app.sock"),
            vec![Endpoint::Unix("/run/uwsgi/app.sock".into())]
        );
        assert_eq!(
            endpoints_of("proxy_pass", "http://127.0.0.1:8002"),
            vec![Endpoint::Tcp {
                host: "127.0.0.1".into(),
                addr: Some("127.0.0.1".parse().unwrap()),
                port: 8002
            }]
        );
        assert_eq!(
            endpoints_of("proxy_pass", "http://localhost/"),
            vec![Endpoint::Tcp {
                host: "localhost".into(),
                addr: Some("127.0.0.1".parse().unwrap()),
                port: 80
            }]
        );
        assert_eq!(endpoints_of("uwsgi_pass", "unix:/run/shop.sock").len(), 1);
        assert!(endpoints_of("proxy_pass", "http://$backend").is_empty());
        assert!(endpoints_of("fastcgi_pass", "php").is_empty());
        assert_eq!(
            endpoints_of("proxy_pass", "http://[::1]:9000"),
            vec![Endpoint::Tcp {
                host: "::1".into(),
                addr: Some("::1".parse().unwrap()),
                port: 9000
            }]
        );
    }

    #[test]
    fn proc_net_addresses() {
        let lo = u32::from_ne_bytes([127, 0, 0, 1]);
        assert_eq!(
            hex_addr(&format!("{lo:08X}"), false),
            Some("127.0.0.1".parse().unwrap())
        );
        assert_eq!(
            hex_addr("00000000000000000000000001000000", true).map(|a| a.is_loopback()),
            Some(cfg!(target_endian = "little"))
        );
    }

    #[test]
    fn proc_net_tcp_listeners() {
        let lo = u32::from_ne_bytes([127, 0, 0, 1]);
        let v4 = format!(
            "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
             0: 00000000:1F40 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 7001 1 0 100 0 0 10 0\n\
             1: {lo:08X}:1F41 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 7002 1 0 100 0 0 10 0\n\
             2: {lo:08X}:1F40 {lo:08X}:D431 01 00000000:00000000 00:00000000 00000000     0        0 7003 1 0 100 0 0 10 0\n\
             3: garbage\n"
        );
        assert_eq!(
            tcp_listeners(&v4, false),
            vec![
                (7001, "0.0.0.0".parse().unwrap(), 8000),
                (7002, "127.0.0.1".parse().unwrap(), 8001)
            ],
            "LISTEN (0A) only: the established connection (01) is not one"
        );
        // ::, ::1 and an IPv4-mapped address, each word in the host's byte order.
        let word = |b: [u8; 4]| format!("{:08X}", u32::from_ne_bytes(b));
        let v6 = |b: [u8; 16]| {
            (0..4)
                .map(|i| word([b[i * 4], b[i * 4 + 1], b[i * 4 + 2], b[i * 4 + 3]]))
                .collect::<String>()
        };
        let mut one = [0u8; 16];
        one[15] = 1;
        let mut mapped = [0u8; 16];
        mapped[10] = 0xff;
        mapped[11] = 0xff;
        mapped[12..].copy_from_slice(&[10, 0, 0, 5]);
        let text = format!(
            "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
             0: {}:1F40 {}:0000 0A 00000000:00000000 00:00000000 00000000     0        0 8001 1 0 100 0 0 10 0\n\
             1: {}:0050 {}:0000 0A 00000000:00000000 00:00000000 00000000     0        0 8002 1 0 100 0 0 10 0\n\
             2: {}:1F90 {}:0000 0A 00000000:00000000 00:00000000 00000000     0        0 8003 1 0 100 0 0 10 0\n\
             3: {}:1F40 {}:9C40 06 00000000:00000000 00:00000000 00000000     0        0 0 1 0 100 0 0 10 0\n",
            v6([0; 16]),
            v6([0; 16]),
            v6(one),
            v6([0; 16]),
            v6(mapped),
            v6([0; 16]),
            v6(one),
            v6(one),
        );
        assert_eq!(
            tcp_listeners(&text, true),
            vec![
                (8001, "::".parse().unwrap(), 8000),
                (8002, "::1".parse().unwrap(), 80),
                (8003, "10.0.0.5".parse().unwrap(), 8080)
            ],
            "LISTEN only (06 is TIME_WAIT)"
        );
    }

    /// Two app servers on port 8000, each in a network namespace (and container) of its own: the
    /// compose service label on disk tells them apart; without one, none is taken. One: its label
    /// rules it in or out; with none, the port alone, said so, while nothing else listens there.
    #[test]
    fn an_upstream_host_name_is_looked_for_in_other_network_namespaces() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let w = |p: &str, text: &str| {
            let p = dir.join(p);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        };
        w("proc/net/tcp", "  sl  local_address\n");
        w("proc/net/tcp6", "  sl  local_address\n");
        let ids = ["a".repeat(64), "b".repeat(64)];
        for (i, (pid, argv)) in [
            (
                300,
                "/usr/local/bin/python3\0/usr/local/bin/gunicorn\0-b\x000.0.0.0:8000\0shop.wsgi\0",
            ),
            (400, "/usr/local/bin/python3\0-m\0uvicorn\0worker:app\0"),
        ]
        .into_iter()
        .enumerate()
        {
            let inode = 9000 + i;
            w(
                &format!("proc/{pid}/net/tcp"),
                &format!(
                    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
                     0: 00000000:1F40 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 {inode} 1 0 100 0 0 10 0\n"
                ),
            );
            w(&format!("proc/{pid}/net/tcp6"), "  sl  local_address\n");
            w(&format!("proc/{pid}/stat"), &format!("{pid} (x) S 1 1 1 0"));
            w(&format!("proc/{pid}/status"), "Uid:\t0\t0\t0\t0\n");
            w(&format!("proc/{pid}/cmdline"), argv);
            w(
                &format!("proc/{pid}/cgroup"),
                &format!("0::/system.slice/docker-{}.scope\n", ids[i]),
            );
            std::fs::create_dir_all(dir.join(format!("proc/{pid}/fd"))).unwrap();
            std::fs::create_dir_all(dir.join(format!("proc/{pid}/ns"))).unwrap();
            std::os::unix::fs::symlink(
                format!("net:[{}]", 4026532000 + i),
                dir.join(format!("proc/{pid}/ns/net")),
            )
            .unwrap();
            std::os::unix::fs::symlink(
                format!("socket:[{inode}]"),
                dir.join(format!("proc/{pid}/fd/5")),
            )
            .unwrap();
        }
        let root = SysRoot::new(dir);
        let up = Upstream {
            endpoint: tcp("app:8000", None).unwrap(),
            named_by: "proxy_pass at x:1".into(),
        };
        let s = find(&root, std::slice::from_ref(&up), None);
        assert!(s.app.is_none(), "{:?}", s.app);
        let said = s.tried.join("\n");
        assert!(
            said.contains("running app: unknown: app:8000")
                && said.contains("pid 300 (python3, net:[4026532000]")
                && said.contains("pid 400 (python3, net:[4026532001]")
                && said.contains("no compose service label readable"),
            "{said}"
        );
        for (id, service) in ids.iter().zip(["worker", "app"]) {
            w(
                &format!("var/lib/docker/containers/{id}/config.v2.json"),
                &format!(
                    r#"{{"Config":{{"Labels":{{"com.docker.compose.service":"{service}"}}}}}}"#
                ),
            );
        }
        let s = find(&root, std::slice::from_ref(&up), None);
        let app = s.app.expect("the container of service app");
        assert_eq!(app.pid, 400);
        let how = app.matched.unwrap();
        assert!(
            how.contains("pids 300, 400") && how.contains("bbbbbbbbbbbb is compose service app"),
            "{how}"
        );
        // One candidate: its label is the evidence too. Another service's: unknown, said.
        std::fs::remove_dir_all(dir.join("proc/400")).unwrap();
        let s = find(&root, std::slice::from_ref(&up), None);
        assert!(s.app.is_none(), "{:?}", s.app);
        let said = s.tried.join("\n");
        assert!(
            said.contains("running app: unknown: app:8000")
                && said.contains("pid 300 (python3, net:[4026532000], container aaaaaaaaaaaa of compose service worker)")
                && said.contains("its compose service is not app, so it is not taken"),
            "{said}"
        );
        // Its own service: taken, by port and label.
        let label = format!("var/lib/docker/containers/{}/config.v2.json", ids[0]);
        w(
            &label,
            r#"{"Config":{"Labels":{"com.docker.compose.service":"app"}}}"#,
        );
        let s = find(&root, std::slice::from_ref(&up), None);
        let app = s.app.expect("the only container, of service app");
        assert_eq!(app.pid, 300);
        let how = app.matched.unwrap();
        assert!(
            how.starts_with("matched by port and compose service")
                && how.contains("aaaaaaaaaaaa, compose service app"),
            "{how}"
        );
        // Its container's name or a network alias is the same evidence as the service label:
        // Docker's DNS answers to each. Another service's label, the name `app`: taken.
        w(
            &label,
            r#"{"Name":"/app","Config":{"Labels":{"com.docker.compose.service":"web"}}}"#,
        );
        let s = find(&root, std::slice::from_ref(&up), None);
        let how = s.app.expect("the container named app").matched.unwrap();
        assert!(
            how.starts_with("matched by port and container name")
                && how.contains("aaaaaaaaaaaa, container name app"),
            "{how}"
        );
        let web = |aliases: &str| {
            format!(
                r#"{{"Name":"/shop-web-1","Config":{{"Labels":{{"com.docker.compose.service":"web"}}}},"NetworkSettings":{{"Networks":{{"shop_default":{{"Aliases":[{aliases}]}}}}}}}}"#
            )
        };
        w(&label, &web(r#""shop-web-1","app""#));
        let s = find(&root, std::slice::from_ref(&up), None);
        let how = s.app.expect("the container aliased app").matched.unwrap();
        assert!(
            how.starts_with("matched by port and network alias")
                && how.contains("network alias app on network shop_default"),
            "{how}"
        );
        // Named otherwise by every name it has: not taken, each said.
        w(&label, &web(r#""shop-web-1","web""#));
        let s = find(&root, std::slice::from_ref(&up), None);
        assert!(s.app.is_none(), "{:?}", s.app);
        let said = s.tried.join("\n");
        assert!(
            said.contains("container aaaaaaaaaaaa of compose service web, named shop-web-1, network aliases shop-web-1 on shop_default, web on shop_default)")
                && said.contains("its compose service, container name and network aliases are not app, so it is not taken"),
            "{said}"
        );
        // No label readable: by port alone, said so, while no other namespace listens there.
        std::fs::remove_file(dir.join(&label)).unwrap();
        let s = find(&root, std::slice::from_ref(&up), None);
        let how = s.app.expect("the only listener").matched.unwrap();
        assert!(
            how.starts_with("matched by port alone, not confirmed"),
            "{how}"
        );
        // A listener that runs no recognised app server in a third namespace: a guess, not taken.
        w(
            "proc/500/net/tcp",
            "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
             0: 00000000:1F40 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 9500 1 0 100 0 0 10 0\n",
        );
        w("proc/500/net/tcp6", "  sl  local_address\n");
        w("proc/500/stat", "500 (x) S 1 1 1 0");
        w("proc/500/status", "Uid:\t0\t0\t0\t0\n");
        w("proc/500/cmdline", "/usr/bin/redis-server\0*:8000\0");
        std::fs::create_dir_all(dir.join("proc/500/fd")).unwrap();
        std::fs::create_dir_all(dir.join("proc/500/ns")).unwrap();
        std::os::unix::fs::symlink("net:[4026532009]", dir.join("proc/500/ns/net")).unwrap();
        std::os::unix::fs::symlink("socket:[9500]", dir.join("proc/500/fd/5")).unwrap();
        let s = find(&root, std::slice::from_ref(&up), None);
        assert!(s.app.is_none(), "{:?}", s.app);
        let said = s.tried.join("\n");
        assert!(
            said.contains("running app: unknown: app:8000")
                && said.contains("2 network namespaces have a listener on port 8000")
                && said.contains("pid 500 (redis-server) listens on port 8000"),
            "{said}"
        );
        // A name nginx's /etc/hosts puts on loopback is nginx's own: not looked for elsewhere.
        w("etc/hosts", "127.0.0.1 localhost app\n");
        let s = find(&root, &[up], None);
        assert!(s.app.is_none() && s.tried.len() == 1, "{:?}", s.tried);
    }

    #[test]
    fn cgroups() {
        assert_eq!(
            read_cgroup("0::/system.slice/shop.service\n"),
            (Some("shop.service".into()), None)
        );
        let (_, c) = read_cgroup("0::/system.slice/docker-abc123.scope\n");
        assert_eq!(c.as_deref(), Some("abc123"));
        assert_eq!(
            read_cgroup("0::/user.slice/user-0.slice/session-1.scope\n"),
            (None, None)
        );
    }

    /// A /proc of a fixture: a gunicorn master (100) and worker (101) holding a unix socket,
    /// and a process listening on 127.0.0.1:8002 (200).
    fn fake_proc(dir: &Path) {
        let w = |p: &str, text: &str| {
            let p = dir.join(p);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        };
        w(
            "proc/net/unix",
            "Num       RefCount Protocol Flags    Type St Inode Path\n\
             0000000000000000: 00000002 00000000 00010000 0001 01 5001 /run/shop.sock\n\
             0000000000000000: 00000003 00000000 00000000 0001 03 5002 /run/other.sock\n",
        );
        let lo = u32::from_ne_bytes([127, 0, 0, 1]);
        w(
            "proc/net/tcp",
            &format!(
                "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
                 0: {lo:08X}:1F42 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 6001 1 0 100 0 0 10 0\n"
            ),
        );
        w("proc/net/tcp6", "  sl  local_address\n");
        for (pid, ppid, uid, sock, cwd, argv, cgroup) in [
            (100, 1, 0, 5001, "/srv/shop/app", "/srv/shop/venv/bin/python3\0/srv/shop/venv/bin/gunicorn\0--bind\0unix:/run/shop.sock\0shop.wsgi:application\0", "0::/system.slice/shop.service\n"),
            (101, 100, 1001, 5001, "/srv/shop/app", "/srv/shop/venv/bin/python3\0/srv/shop/venv/bin/gunicorn\0", "0::/system.slice/shop.service\n"),
            (200, 1, 1001, 6001, "/home/deploy/blog", "/home/deploy/blog/venv/bin/python3\0/home/deploy/blog/venv/bin/gunicorn\0-b\x00127.0.0.1:8002\0app:app\0", "0::/system.slice/blog.service\n"),
        ] {
            w(&format!("proc/{pid}/stat"), &format!("{pid} (gunicorn) S {ppid} 1 1 0"));
            w(&format!("proc/{pid}/status"), &format!("Name:\tgunicorn\nUid:\t{uid}\t{uid}\t{uid}\t{uid}\n"));
            w(&format!("proc/{pid}/cmdline"), argv);
            w(&format!("proc/{pid}/cgroup"), cgroup);
            w(&format!("proc/{pid}/environ"), "DJANGO_SETTINGS_MODULE=shop.settings\0");
            std::fs::create_dir_all(dir.join(format!("proc/{pid}/fd"))).unwrap();
            std::os::unix::fs::symlink(format!("socket:[{sock}]"), dir.join(format!("proc/{pid}/fd/3"))).unwrap();
            std::os::unix::fs::symlink("/dev/null", dir.join(format!("proc/{pid}/fd/0"))).unwrap();
            std::os::unix::fs::symlink(cwd, dir.join(format!("proc/{pid}/cwd"))).unwrap();
        }
    }

    #[test]
    fn finds_the_process_behind_each_upstream() {
        let tmp = tempfile::tempdir().unwrap();
        fake_proc(tmp.path());
        let root = SysRoot::new(tmp.path());
        let up = |e: Endpoint| Upstream {
            endpoint: e,
            named_by: "proxy_pass at x:1".into(),
        };
        // One read of the box serves every lookup.
        let box_ = Listeners::read(&root);
        let shop = find(
            &root,
            &[up(Endpoint::Unix("/run/shop.sock".into()))],
            Some(&box_),
        );
        let app = shop.app.expect("shop found");
        assert_eq!(app.pid, 100, "the master, not the worker");
        assert_eq!(app.uid, Some(1001), "the worker's user");
        assert_eq!(app.cwd.as_deref(), Some(Path::new("/srv/shop/app")));
        assert_eq!(app.unit.as_deref(), Some("shop.service"));
        assert_eq!(app.environ["DJANGO_SETTINGS_MODULE"], "shop.settings");
        assert!(app
            .describe()
            .contains("gunicorn (pid 100) listening on unix:/run/shop.sock"));

        let blog = find(
            &root,
            &[up(tcp("localhost:8002", None).unwrap())],
            Some(&box_),
        );
        assert_eq!(blog.app.expect("blog found").pid, 200);

        let none = find(&root, &[up(Endpoint::Unix("/run/other.sock".into()))], None);
        assert!(none.app.is_none());
        assert!(
            none.tried[0].contains("nothing listens on unix:/run/other.sock"),
            "{:?}",
            none.tried
        );
    }
}
