//! The site's live probes, planned from the resolver's view of the config and run once per
//! process: checks MD401–MD406 read the same answers.
//!
//! For each server block of the site and each URL prefix it serves from disk (MEDIA_URL and
//! STATIC_URL when the app is known, else every prefix location serving files), one real file is
//! picked (or `--probe` / the profile's samples are used) and asked for:
//! - from the local origin: every socket the server listens on, reached on this machine (a
//!   wildcard address on loopback), with the server's name as Host and TLS SNI;
//! - from the public base URL, when there is one.
//!
//! Each origin answer is paired with the resolver's prediction for that very request, so a
//! difference between the model and the running nginx can be shown (MD406).

use super::public::{self, Base, Source};
use super::sample;
use super::{app_prefixes, Kind};
use crate::answer::Answer;
use crate::http::{self, Limits, Probe, Route, Target};
use crate::nginx::resolve::{parse_listen, ListenAddr, Request, Resolver, Served};
use crate::nginx::NodeId;
use crate::report::Location;
use crate::site::Site;
use reqwest::Url;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Server blocks probed at most (a config without --site may hold thousands).
const MAX_SERVERS: usize = 4;
/// URL prefixes probed per server at most.
const MAX_PREFIXES: usize = 4;

/// Everything the live checks know about the running site.
#[derive(Debug)]
pub struct Live {
    pub items: Vec<Item>,
    /// Why some prefixes or servers were not probed, and other things the reader should know.
    pub notes: Vec<String>,
    /// Why there are no origin probes at all (`--root`), when so.
    pub no_origin: Option<String>,
    /// The public base URL, or why there is none.
    pub public: Result<Base, String>,
    pub limits: Limits,
    /// How long the probes took in all.
    pub took: Duration,
}

/// One URL asked for, from the origin and from the public URL.
#[derive(Debug)]
pub struct Item {
    /// `media`, `static`, `/assets/`, `--probe`.
    pub label: String,
    pub kind: Option<Kind>,
    pub server: NodeId,
    /// `server example.com at /etc/nginx/sites-enabled/app:3`.
    pub server_desc: String,
    /// The location serving the prefix and the directory it maps to (None when not from disk).
    pub served: Option<Served>,
    /// `/media/a.jpg`.
    pub url_path: String,
    /// The file the URL names, when it was picked from disk.
    pub file: Option<PathBuf>,
    pub origin: Vec<OriginProbe>,
    pub public: Option<Probe>,
    /// The model's answer for the public URL (as if it reached this nginx directly).
    pub public_prediction: Option<Prediction>,
}

#[derive(Debug)]
pub struct OriginProbe {
    pub probe: Probe,
    /// The `listen` this socket comes from: `127.0.0.1:8080 ssl`.
    pub listen: String,
    pub prediction: Prediction,
}

/// What the resolver says nginx answers for a request.
#[derive(Debug, Clone)]
pub struct Prediction {
    pub status: Option<u16>,
    pub reason: String,
    pub handler: String,
    pub location: Option<Location>,
    pub path: Option<PathBuf>,
}

impl Prediction {
    /// Either model's answer as the probes keep it, with the place in the config that answered.
    pub(crate) fn of(a: &impl Answer, location: Option<Location>) -> Prediction {
        Prediction {
            status: a.predicted_status(),
            reason: a.reason().to_string(),
            handler: a.handler().as_str().to_string(),
            location,
            path: a.path().map(Path::to_path_buf),
        }
    }

    /// The model's answer for the `HEAD` request of `url` (on `local`, the address the server
    /// sees the connection on), or why the URL is no request.
    pub(crate) fn for_url(model: &impl Predict, url: &str, local: Option<IpAddr>) -> Prediction {
        match head_request(url, local) {
            Ok(req) => model.predict(&req),
            Err(e) => Prediction {
                status: None,
                reason: format!("{e:#}"),
                handler: String::new(),
                location: None,
                path: None,
            },
        }
    }
}

/// The `HEAD` request of `url`, seen on the local address `local` when known.
fn head_request(url: &str, local: Option<IpAddr>) -> anyhow::Result<Request> {
    let req = Request::from_url(url)?.with_method("HEAD");
    Ok(match local {
        Some(ip) => req.with_local_addr(ip),
        None => req,
    })
}

/// A server's model as the probes read it: nginx's resolver or Apache's (the same `Request` in,
/// one `Prediction` out), so that one plan serves both servers.
pub(crate) trait Predict {
    fn predict(&self, req: &Request) -> Prediction;
}

impl Predict for Resolver<'_> {
    fn predict(&self, req: &Request) -> Prediction {
        let r = self.resolve(req);
        let location = r.location.map(|l| self.config().directive(l).location());
        Prediction::of(&r, location)
    }
}

/// The probes planned so far, whichever server: the items, the targets to ask, and where each
/// answer goes; `run` asks them all at once within the limits.
#[derive(Default)]
pub(crate) struct Plan {
    pub items: Vec<Item>,
    targets: Vec<Target>,
    /// Where each target's answer goes: (item, None = public | Some(origin index)).
    slots: Vec<(usize, Option<usize>)>,
}

impl Plan {
    /// Whether `target` is asked already.
    pub fn asks(&self, target: &Target) -> bool {
        self.targets.contains(target)
    }

    /// Ask `target` on the origin for `item` (not yet pushed: the next item), with the model's
    /// `prediction` for it and the listen it comes from.
    pub fn origin(
        &mut self,
        item: &mut Item,
        target: Target,
        listen: String,
        prediction: Prediction,
    ) {
        self.slots.push((self.items.len(), Some(item.origin.len())));
        self.targets.push(target.clone());
        item.origin.push(OriginProbe {
            probe: Probe {
                target,
                outcome: Err(http::Failure::Budget),
                elapsed: Duration::ZERO,
            },
            listen,
            prediction,
        });
    }

    /// Add `item`, with its public URL under `public` (asked once across items) and the model's
    /// prediction for that request.
    pub fn push(&mut self, mut item: Item, public: &Result<Base, String>, model: &impl Predict) {
        if let Ok(base) = public {
            if let Some(url) = base.join(&item.url_path) {
                if !self
                    .targets
                    .iter()
                    .any(|t| t.route == Route::Public && t.url == url)
                {
                    item.public_prediction = public_prediction(model, &item, &url);
                    self.slots.push((self.items.len(), None));
                    self.targets.push(Target {
                        url,
                        route: Route::Public,
                    });
                }
            }
        }
        self.items.push(item);
    }

    /// Ask every target within `limits`; each answer lands in its item.
    pub fn run(self, limits: &Limits) -> Vec<Item> {
        let Plan {
            mut items,
            targets,
            slots,
        } = self;
        for ((item, slot), probe) in slots.into_iter().zip(http::probe_all(targets, limits)) {
            match slot {
                Some(o) => items[item].origin[o].probe = probe,
                None => items[item].public = Some(probe),
            }
        }
        items
    }
}

impl Live {
    /// Every probe made, origin and public.
    pub fn probes(&self) -> impl Iterator<Item = &Probe> {
        self.items
            .iter()
            .flat_map(|i| i.origin.iter().map(|o| &o.probe).chain(i.public.as_ref()))
    }
}

/// Plan and run the probes within `limits`.
pub fn gather(site: &Site, limits: Limits) -> Live {
    let started = Instant::now();
    let resolver = site.resolver();
    let mut notes = Vec::new();
    let no_origin = (!site.root.is_live()).then(|| {
        format!(
            "--root {}: the local nginx is not the system under the root",
            site.root.dir().display()
        )
    });
    let public = public_base(site, &resolver);

    let mut servers: Vec<NodeId> = site.nginx.servers.clone();
    if servers.len() > MAX_SERVERS {
        notes.push(format!(
            "{} server blocks: only the first {MAX_SERVERS} are probed (name one with --site)",
            servers.len()
        ));
        servers.truncate(MAX_SERVERS);
    }

    let mut plan = Plan::default();
    for &server in &servers {
        let names = resolver.server_names(server);
        let server_desc = describe_server(site, server, &names);
        for wanted in wanted_urls(site, &resolver, server, &mut notes) {
            let mut item = Item {
                label: wanted.label,
                kind: wanted.kind,
                server,
                server_desc: server_desc.clone(),
                served: wanted.served,
                url_path: wanted.url_path,
                file: wanted.file,
                origin: Vec::new(),
                public: None,
                public_prediction: None,
            };
            if no_origin.is_none() {
                let host = host_name(&names);
                for o in origin_routes(&resolver, server, host, &item.url_path, &mut notes) {
                    let prediction = Prediction::for_url(&resolver, o.url.as_str(), o.local);
                    let target = Target {
                        url: o.url,
                        route: o.route,
                    };
                    plan.origin(&mut item, target, o.listen, prediction);
                }
            }
            plan.push(item, &public, &resolver);
        }
    }
    let items = plan.run(&limits);
    Live {
        items,
        notes,
        no_origin,
        public,
        limits,
        took: started.elapsed(),
    }
}

/// What the server would answer if the public URL's request reached it directly: the public
/// Host and path, on the first socket the origin was probed on (the public URL's own port is
/// usually a CDN's or a load balancer's, not the server's).
fn public_prediction(model: &impl Predict, item: &Item, public: &Url) -> Option<Prediction> {
    let host = public.host_str()?;
    let req = match item.origin.first() {
        Some(o) => {
            let origin = &o.probe.target.url;
            let port = origin.port_or_known_default()?;
            let url = format!("{}://{host}:{port}{}", origin.scheme(), item.url_path);
            let local = match o.probe.target.route {
                Route::Origin(addr) => Some(addr.ip()),
                _ => None,
            };
            head_request(&url, local).ok()?
        }
        None => head_request(public.as_str(), None).ok()?,
    };
    Some(model.predict(&req))
}

/// One URL to ask for in a server.
struct Wanted {
    label: String,
    kind: Option<Kind>,
    served: Option<Served>,
    url_path: String,
    file: Option<PathBuf>,
}

/// The URLs to probe in `server`: `--probe` and the profile's samples when given, else one real
/// file per served media/static prefix.
fn wanted_urls(
    site: &Site,
    resolver: &Resolver<'_>,
    server: NodeId,
    notes: &mut Vec<String>,
) -> Vec<Wanted> {
    let explicit: Vec<(String, &str)> = site
        .options
        .probe
        .iter()
        .map(|p| (p.clone(), "--probe"))
        .chain(site.samples.iter().map(|s| (s.clone(), "profile sample")))
        .collect();
    if !explicit.is_empty() {
        return explicit
            .into_iter()
            .filter_map(|(given, label)| {
                explicit_url(resolver, server, &given, notes).map(|(url_path, served, file)| {
                    Wanted {
                        label: label.to_string(),
                        kind: kind_of(site, &url_path),
                        served,
                        url_path,
                        file,
                    }
                })
            })
            .collect();
    }

    // (label, kind, URL prefix, the app's directory for it)
    let mut prefixes: Vec<(String, Option<Kind>, String, Option<PathBuf>)> = app_prefixes(site)
        .into_iter()
        .filter_map(|p| {
            let url = p.url?;
            Some((p.kind.as_str().to_string(), Some(p.kind), url, p.root))
        })
        .collect();
    if prefixes.is_empty() {
        prefixes = resolver
            .static_locations()
            .into_iter()
            .filter(|s| s.server == server && s.prefix.starts_with('/'))
            .filter(|s| {
                s.location.is_some_and(|l| {
                    resolver
                        .location_pattern(l)
                        .is_some_and(|(m, _)| !m.is_regex())
                })
            })
            .map(|s| (s.prefix.clone(), None, s.prefix.clone(), None))
            .collect();
    }
    if prefixes.len() > MAX_PREFIXES {
        notes.push(format!(
            "{} served prefixes: only the first {MAX_PREFIXES} are probed",
            prefixes.len()
        ));
        prefixes.truncate(MAX_PREFIXES);
    }
    let mut out = Vec::new();
    for (label, kind, prefix, app_root) in prefixes {
        let served = resolver.served_prefix(server, &prefix);
        // The directory nginx serves; when nginx does not serve the prefix from disk, the app's.
        let dir = served.as_ref().map(|s| s.dir.clone()).or(app_root);
        let Some(dir) = dir else {
            notes.push(format!(
                "{label} ({prefix}): not served from disk and no directory known: not probed"
            ));
            continue;
        };
        match sample::pick_file(&site.root, &dir) {
            Ok(file) => match sample::url_path(&prefix, &dir, &file) {
                Some(url_path) => out.push(Wanted {
                    label,
                    kind,
                    served,
                    url_path,
                    file: Some(file),
                }),
                None => notes.push(format!(
                    "{label}: {} is not under {}",
                    file.display(),
                    dir.display()
                )),
            },
            Err(why) => notes.push(format!(
                "{label} ({prefix}): {why}: not probed (give a file with --probe)"
            )),
        }
    }
    out
}

/// A `--probe` value or a profile sample: an absolute URL, a URL path, or a file under a served
/// directory.
fn explicit_url(
    resolver: &Resolver<'_>,
    server: NodeId,
    given: &str,
    notes: &mut Vec<String>,
) -> Option<(String, Option<Served>, Option<PathBuf>)> {
    if let Ok(u) = Url::parse(given) {
        if u.scheme() == "http" || u.scheme() == "https" {
            let mut path = u.path().to_string();
            if let Some(q) = u.query() {
                path.push('?');
                path.push_str(q);
            }
            return Some((path, None, None));
        }
    }
    if !given.starts_with('/') {
        notes.push(format!(
            "{given:?}: neither a URL, a URL path, nor an absolute file path"
        ));
        return None;
    }
    // A file under a directory the server serves: map it back to its URL.
    let file = PathBuf::from(given);
    for s in resolver.static_locations() {
        if s.server != server || !s.prefix.starts_with('/') || !file.starts_with(&s.dir) {
            continue;
        }
        if let Some(url) = sample::url_path(&s.prefix, &s.dir, &file) {
            return Some((url, Some(s.clone()), Some(file)));
        }
    }
    Some((given.to_string(), None, None))
}

fn kind_of(site: &Site, url_path: &str) -> Option<Kind> {
    app_prefixes(site)
        .into_iter()
        .find(|p| p.url.as_deref().is_some_and(|u| url_path.starts_with(u)))
        .map(|p| p.kind)
}

/// The Host to send to a server: the one chosen for it everywhere (`resolve::host_for`), else
/// none (nginx then picks the socket's default server).
fn host_name(names: &[String]) -> Option<String> {
    crate::nginx::resolve::host_for(names).map(str::to_ascii_lowercase)
}

/// A probe of one listen socket: where to connect, the URL to ask (the server's name, the
/// socket's port and scheme), the listen as written, and the local address nginx sees.
pub(crate) struct OriginRoute {
    pub route: Route,
    pub url: Url,
    pub listen: String,
    pub local: Option<IpAddr>,
    pub port: u16,
}

/// One route per listen socket of the server (a wildcard address is reached on loopback), asking
/// for `url_path` with `host` as Host and TLS name (none: the socket's address).
pub(crate) fn origin_routes(
    resolver: &Resolver<'_>,
    server: NodeId,
    host: Option<String>,
    url_path: &str,
    notes: &mut Vec<String>,
) -> Vec<OriginRoute> {
    // Sockets a plain client cannot talk to: `proxy_protocol` wants a load balancer's PROXY
    // header first, `quic` is HTTP/3 over UDP.
    let unreachable: Vec<(String, bool, &str)> = resolver
        .config()
        .directive(server)
        .children()
        .filter(|d| d.is("listen"))
        .filter_map(|d| {
            let flag = d.args().find(|a| *a == "proxy_protocol" || *a == "quic")?;
            let l = parse_listen(&d)?;
            Some((l.describe(), l.ssl, flag))
        })
        .collect();
    let mut out: Vec<OriginRoute> = Vec::new();
    for l in resolver.server_listens(server) {
        let scheme = if l.ssl { "https" } else { "http" };
        let listen = format!("{}{}", l.describe(), if l.ssl { " ssl" } else { "" });
        if let Some((_, _, flag)) = unreachable
            .iter()
            .find(|(d, ssl, _)| *d == l.describe() && *ssl == l.ssl)
        {
            let note = format!(
                "listen {listen} {flag}: not probed (a plain HTTP client cannot speak to it)"
            );
            if !notes.contains(&note) {
                notes.push(note);
            }
            continue;
        }
        let addr = match &l.addr {
            ListenAddr::AnyV4 => SocketAddr::new(Ipv4Addr::LOCALHOST.into(), l.port),
            ListenAddr::AnyV6 => SocketAddr::new(Ipv6Addr::LOCALHOST.into(), l.port),
            ListenAddr::Ip(ip) if !is_local_address(*ip) => {
                let note = format!(
                    "listen {listen}: {ip} is not an address of this machine, so the nginx here \
                     cannot be listening on it: not probed (only this machine's sockets and the \
                     public URL are asked)"
                );
                if !notes.contains(&note) {
                    notes.push(note);
                }
                continue;
            }
            ListenAddr::Ip(ip) => SocketAddr::new(*ip, l.port),
            // nginx resolved the name when it started; media-doctor does not look names up.
            ListenAddr::Name(_) => continue,
            ListenAddr::Unix(path) => {
                let authority = host.clone().unwrap_or_else(|| "localhost".into());
                if let Ok(url) = Url::parse(&format!("{scheme}://{authority}{url_path}")) {
                    out.push(OriginRoute {
                        route: Route::Unix(path.into()),
                        url,
                        listen,
                        local: None,
                        port: l.port,
                    });
                }
                continue;
            }
        };
        let authority = match (&host, addr.ip()) {
            (Some(h), _) => format!("{h}:{}", l.port),
            (None, IpAddr::V6(v6)) => format!("[{v6}]:{}", l.port),
            (None, IpAddr::V4(v4)) => format!("{v4}:{}", l.port),
        };
        let Ok(url) = Url::parse(&format!("{scheme}://{authority}{url_path}")) else {
            continue;
        };
        let route = Route::Origin(addr);
        if out.iter().any(|o| o.route == route && o.url == url) {
            continue;
        }
        out.push(OriginRoute {
            route,
            url,
            listen,
            local: Some(addr.ip()),
            port: l.port,
        });
    }
    out
}

/// The public base URL: --url / the profile's, else (live system only) server_name + scheme.
pub(crate) fn public_base(site: &Site, resolver: &Resolver<'_>) -> Result<Base, String> {
    if let Some(given) = &site.options.url {
        let from_profile = site
            .profile
            .as_ref()
            .is_some_and(|p| p.url.as_ref() == Some(given));
        let source = if from_profile {
            Source::Profile
        } else {
            Source::Flag
        };
        return public::parse_base(given)
            .map(|url| Base {
                url,
                source: source.clone(),
            })
            .map_err(|e| format!("{source}: {e}"));
    }
    if !site.root.is_live() {
        return Err("no public URL given (--url); under --root none is guessed".into());
    }
    for &server in &site.nginx.servers {
        let names = resolver.server_names(server);
        let tls = resolver.server_listens(server).iter().any(|l| l.ssl);
        if let Some(url) = public::from_server_names(names.iter().map(String::as_str), tls) {
            return Ok(Base {
                url,
                source: Source::ServerName,
            });
        }
    }
    Err("no public URL: give one with --url (no server_name is a public host name)".into())
}

fn describe_server(site: &Site, server: NodeId, names: &[String]) -> String {
    let d = site.config().directive(server);
    let name = names
        .iter()
        .find(|n| !n.is_empty())
        .cloned()
        .unwrap_or_else(|| "(no server_name)".into());
    format!("server {name} at {}", d.location())
}

/// Whether an address is one of this machine's: only those can be the local nginx's sockets (a
/// config copied from another host names that host's addresses). Binding a socket to it tells,
/// without sending anything: the kernel refuses an address no interface has.
fn is_local_address(ip: IpAddr) -> bool {
    ip.is_loopback() || std::net::UdpSocket::bind(SocketAddr::new(ip, 0)).is_ok()
}
