//! The live probes when Apache httpd is the server judged: the same `Live` the nginx plan
//! builds (`probes::gather`), planned from Apache's model, so that MD401-MD406 read one kind of
//! answer whichever server runs (#14: "checks about live answers are written once").
//!
//! For each of the site's virtual hosts and each URL prefix it serves from disk (MEDIA_URL and
//! STATIC_URL when the app is known, else each `Alias` of the virtual host), one real file is
//! picked (or `--probe` / the profile's samples are used) and asked for on every address the
//! virtual host answers on (`<VirtualHost *:80>`: loopback, port 80), with its `ServerName` as
//! Host; each answer is paired with Apache's model's prediction for that very request (MD406).

use super::probes::{Item, Live, Plan, Predict, Prediction};
use super::public::{self, Base, Source};
use super::{app_prefixes, sample, Kind};
use crate::apache::resolve::Resolver;
use crate::apache::site::ApacheSite;
use crate::apache::NodeId;
use crate::http::{Limits, Route, Target};
use crate::nginx::resolve::{Handler, Request};
use crate::report::Location;
use crate::site::Site;
use reqwest::Url;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Instant;

/// Virtual hosts probed at most (a config without --site may hold thousands).
const MAX_VHOSTS: usize = 4;
/// URL prefixes probed per virtual host at most.
const MAX_PREFIXES: usize = 4;
/// The made-up name asked under a prefix: where Apache would open it says which directory it
/// serves the prefix from.
const PROBE: &str = "media-doctor-probe";

impl Predict for Resolver<'_> {
    /// What Apache's model says it answers for a request.
    fn predict(&self, req: &Request) -> Prediction {
        let res = self.resolve(req);
        let location = res.mapping.map(|m| {
            let d = self.config().directive(m);
            Location::new(d.file().display().to_string(), d.line())
        });
        Prediction::of(&res, location)
    }
}

/// Plan and run the probes of the Apache site within `limits`.
pub fn gather(site: &Site, a: &ApacheSite, r: &Resolver<'_>, limits: Limits) -> Live {
    let started = Instant::now();
    let mut notes = Vec::new();
    let no_origin = (!site.root.is_live()).then(|| {
        format!(
            "--root {}: the local Apache is not the system under the root",
            site.root.dir().display()
        )
    });
    let public = public_base(site, a);
    let mut vhosts: Vec<NodeId> = a.vhosts.clone();
    if vhosts.len() > MAX_VHOSTS {
        notes.push(format!(
            "{} virtual hosts: only the first {MAX_VHOSTS} are probed (name one with --site)",
            vhosts.len()
        ));
        vhosts.truncate(MAX_VHOSTS);
    }
    let mut plan = Plan::default();
    for &v in &vhosts {
        let host = server_name(a, v);
        let desc = describe(a, v, host.as_deref());
        for (label, kind, url_path, file) in wanted(site, a, r, v, &mut notes) {
            let mut item = Item {
                label,
                kind,
                server: v,
                server_desc: desc.clone(),
                served: None,
                url_path,
                file,
                origin: Vec::new(),
                public: None,
                public_prediction: None,
            };
            if no_origin.is_none() {
                for (addr, listen, scheme) in sockets(a, r, v, &mut notes) {
                    let authority = match &host {
                        Some(h) => format!("{h}:{}", addr.port()),
                        None => addr.to_string(),
                    };
                    let Ok(url) = Url::parse(&format!("{scheme}://{authority}{}", item.url_path))
                    else {
                        continue;
                    };
                    let prediction = Prediction::for_url(r, url.as_str(), Some(addr.ip()));
                    let target = Target {
                        url,
                        route: Route::Origin(addr),
                    };
                    if !plan.asks(&target) {
                        plan.origin(&mut item, target, listen, prediction);
                    }
                }
            }
            plan.push(item, &public, r);
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

/// The virtual host's `ServerName` (host part), else its first plain `ServerAlias`.
fn server_name(a: &ApacheSite, v: NodeId) -> Option<String> {
    let d = a.config.directive(v);
    let name = d
        .children()
        .filter(|c| c.is("ServerName"))
        .last()
        .and_then(|c| c.arg(0).map(str::to_string))
        .or_else(|| {
            d.children()
                .filter(|c| c.is("ServerAlias"))
                .flat_map(|c| c.args().map(str::to_string).collect::<Vec<_>>())
                .find(|a| !a.contains(['*', '?']))
        })?;
    let name = name.split("://").last().unwrap_or(&name);
    Some(name.split(':').next().unwrap_or(name).to_ascii_lowercase())
}

fn describe(a: &ApacheSite, v: NodeId, host: Option<&str>) -> String {
    let d = a.config.directive(v);
    format!(
        "<VirtualHost {}> {} at {}:{}",
        d.args().collect::<Vec<_>>().join(" "),
        host.unwrap_or("(no ServerName)"),
        d.file().display(),
        d.line()
    )
}

/// Each address the virtual host answers on, reached on this machine (`*` on loopback), as
/// `(socket, the address as written, scheme)`: https when the virtual host turns `SSLEngine` on.
fn sockets(
    a: &ApacheSite,
    r: &Resolver<'_>,
    v: NodeId,
    notes: &mut Vec<String>,
) -> Vec<(SocketAddr, String, &'static str)> {
    let d = a.config.directive(v);
    let tls = d
        .children()
        .filter(|c| c.is("SSLEngine"))
        .last()
        .and_then(|c| c.arg(0))
        .is_some_and(|on| on.eq_ignore_ascii_case("on"));
    let scheme = if tls { "https" } else { "http" };
    let Some(server) = r.virtual_hosts().iter().find(|s| s.node == Some(v)) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (ip, port) in &server.addrs {
        let written = format!(
            "{}:{}",
            ip.map_or("*".to_string(), |ip| ip.to_string()),
            port.map_or("*".to_string(), |p| p.to_string())
        );
        let Some(port) = port else {
            let note = format!(
                "<VirtualHost {written}>: any port: not probed (give the URL with --probe)"
            );
            if !notes.contains(&note) {
                notes.push(note);
            }
            continue;
        };
        let ip = match ip {
            None => IpAddr::V4(Ipv4Addr::LOCALHOST),
            Some(ip) if is_local_address(*ip) => *ip,
            Some(ip) => {
                let note = format!(
                    "<VirtualHost {written}>: {ip} is not an address of this machine, so the \
                     Apache here cannot be listening on it: not probed"
                );
                if !notes.contains(&note) {
                    notes.push(note);
                }
                continue;
            }
        };
        let addr = SocketAddr::new(ip, *port);
        if !out.iter().any(|(a, _, _)| *a == addr) {
            out.push((addr, format!("<VirtualHost {written}>"), scheme));
        }
    }
    out
}

/// Whether an address is one of this machine's (binding a socket to it tells, sending nothing).
fn is_local_address(ip: IpAddr) -> bool {
    ip.is_loopback() || std::net::UdpSocket::bind(SocketAddr::new(ip, 0)).is_ok()
}

/// The URLs to probe on `v`: `--probe` and the profile's samples when given, else one real file
/// per URL prefix the virtual host serves from disk, as `(label, kind, URL path, file)`.
fn wanted(
    site: &Site,
    a: &ApacheSite,
    r: &Resolver<'_>,
    v: NodeId,
    notes: &mut Vec<String>,
) -> Vec<(String, Option<Kind>, String, Option<PathBuf>)> {
    let kind_of = |url: &str| {
        app_prefixes(site)
            .into_iter()
            .find(|p| p.url.as_deref().is_some_and(|u| url.starts_with(u)))
            .map(|p| p.kind)
    };
    let explicit: Vec<(String, &str)> = site
        .options
        .probe
        .iter()
        .map(|p| (p.clone(), "--probe"))
        .chain(site.samples.iter().map(|s| (s.clone(), "profile sample")))
        .collect();
    if !explicit.is_empty() {
        let mut out = Vec::new();
        for (given, label) in explicit {
            if let Ok(u) = Url::parse(&given) {
                if u.scheme() == "http" || u.scheme() == "https" {
                    let mut path = u.path().to_string();
                    if let Some(q) = u.query() {
                        path.push('?');
                        path.push_str(q);
                    }
                    out.push((label.to_string(), kind_of(&path), path, None));
                    continue;
                }
            }
            if !given.starts_with('/') {
                notes.push(format!(
                    "{given:?}: neither a URL, a URL path, nor an absolute file path"
                ));
                continue;
            }
            // A file under a directory the site serves: its URL.
            let file = PathBuf::from(&given);
            let url = prefixes(a, v).into_iter().find_map(|prefix| {
                let dir = served_dir(a, r, v, &prefix)?;
                file.starts_with(&dir)
                    .then(|| sample::url_path(&prefix, &dir, &file))
                    .flatten()
            });
            match url {
                Some(url) => out.push((label.to_string(), kind_of(&url), url, Some(file))),
                None => out.push((label.to_string(), kind_of(&given), given, None)),
            }
        }
        return out;
    }
    // (label, kind, URL prefix, the app's directory for it)
    let mut wanted: Vec<(String, Option<Kind>, String, Option<PathBuf>)> = app_prefixes(site)
        .into_iter()
        .filter_map(|p| {
            let url = p.url?;
            Some((p.kind.as_str().to_string(), Some(p.kind), url, p.root))
        })
        .collect();
    if wanted.is_empty() {
        wanted = prefixes(a, v)
            .into_iter()
            .map(|p| (p.clone(), None, p, None))
            .collect();
    }
    if wanted.len() > MAX_PREFIXES {
        notes.push(format!(
            "{} served prefixes: only the first {MAX_PREFIXES} are probed",
            wanted.len()
        ));
        wanted.truncate(MAX_PREFIXES);
    }
    let mut out = Vec::new();
    for (label, kind, prefix, app_root) in wanted {
        // The directory Apache serves the prefix from; when it does not, the app's.
        let Some(dir) = served_dir(a, r, v, &prefix).or(app_root) else {
            notes.push(format!(
                "{label} ({prefix}): not served from disk and no directory known: not probed"
            ));
            continue;
        };
        match sample::pick_file(&site.root, &dir) {
            Ok(file) => match sample::url_path(&prefix, &dir, &file) {
                Some(url_path) => out.push((label, kind, url_path, Some(file))),
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

/// The URL path of each `Alias` of the virtual host (with its slash).
fn prefixes(a: &ApacheSite, v: NodeId) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for d in a.config.directive(v).children().filter(|d| d.is("Alias")) {
        if let Some(from) = d.arg(0).filter(|f| f.starts_with('/')) {
            let p = format!("{}/", from.trim_end_matches('/'));
            if !out.contains(&p) {
                out.push(p);
            }
        }
    }
    out
}

/// The directory Apache opens names under `prefix` in (None: it hands them to a program or
/// redirects).
fn served_dir(a: &ApacheSite, r: &Resolver<'_>, v: NodeId, prefix: &str) -> Option<PathBuf> {
    let res = r.resolve(&crate::fix::apache::request_on(
        &a.config,
        Some(v),
        &format!("{}/{PROBE}", prefix.trim_end_matches('/')),
    ));
    if res.handler.is_upstream() || matches!(res.handler, Handler::Module(_) | Handler::Rewrite) {
        return None;
    }
    let path = res.path?.display().to_string();
    let dir = path.strip_suffix(PROBE)?;
    // An Alias without its slash runs the names into the directory's: MD501's finding.
    dir.ends_with('/').then(|| PathBuf::from(dir))
}

/// The public base URL: --url / the profile's, else (live system only) a ServerName that is a
/// public host name.
fn public_base(site: &Site, a: &ApacheSite) -> Result<Base, String> {
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
    for &v in &a.vhosts {
        let tls =
            a.config.directive(v).children().any(|c| {
                c.is("SSLEngine") && c.arg(0).is_some_and(|x| x.eq_ignore_ascii_case("on"))
            });
        let names: Vec<String> = server_name(a, v).into_iter().collect();
        if let Some(url) = public::from_server_names(names.iter().map(String::as_str), tls) {
            return Ok(Base {
                url,
                source: Source::ServerName,
            });
        }
    }
    Err("no public URL: give one with --url (no ServerName is a public host name)".into())
}
