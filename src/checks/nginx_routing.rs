//! MD105–MD108: which server and which location a media/static request really reaches.
//!
//! The media/static URL prefixes come from the app (MEDIA_URL/STATIC_URL) when it is known, else
//! from the locations that serve files from disk; every question about them is put to the
//! resolver.

use super::nginx_common::{
    corrected_block, findings_or_pass, fix_with_block, loc_of, opened_path, prefix_urls, prefixes,
    skip_if_incomplete, Edit, Prefix, PrefixKind, Target, RELOAD,
};
use super::{Band, Check, Context, Meta, Outcome};
use crate::nginx::resolve::Modifier;
use crate::nginx::resolve::Request;
use crate::nginx::NodeId;
use crate::report::Finding;
use std::collections::BTreeMap;
use std::path::PathBuf;

pub static CHECKS: &[&dyn Check] = &[
    &LocationShadowed,
    &UrlPrefixNotServed,
    &SiteNotEnabled,
    &ServerConflict,
];

/// File names a media or static prefix serves, one per common type.
pub const SAMPLES: &[&str] = &[
    "x.jpg", "x.jpeg", "x.png", "x.gif", "x.webp", "x.svg", "x.ico", "x.css", "x.js", "x.pdf",
    "x.mp4", "x.woff2", "x.txt", "x.json",
];

/// A sample URL another location took: (url, the path nginx opens, the path meant).
type Stolen = (String, Option<PathBuf>, Option<PathBuf>);

fn targets_for<'a>(p: &'a Prefix, all: &'a [Target]) -> impl Iterator<Item = &'a Target> + 'a {
    all.iter()
        .filter(move |t| p.server.map_or(true, |s| s == t.server))
}

fn request(t: &Target, uri: &str) -> Request {
    Request::for_path(&t.host, t.port, uri)
}

// ---------------------------------------------------------------------------------------------

pub struct LocationShadowed;

static LOCATION_SHADOWED: Meta = Meta {
    id: "MD105",
    name: "location-shadowed",
    band: Band::Nginx,
    summary: "media and static URLs reach the location meant for them (no regex or longer prefix steals them)",
    docs: include_str!("../../checks/MD105.md"),
};

impl Check for LocationShadowed {
    fn meta(&self) -> &'static Meta {
        &LOCATION_SHADOWED
    }

    fn run(&self, site: &Context<'_>) -> anyhow::Result<Outcome> {
        if let Some(skip) = skip_if_incomplete(site) {
            return Ok(skip);
        }
        let r = site.resolver();
        let cfg = r.config();
        let all = r.targets();
        let prefixes = prefixes(site, &r);
        if prefixes.is_empty() {
            return Ok(Outcome::skip(
                "no media/static URL prefix: no app settings found and no location serves files from disk",
            ));
        }
        let mut findings = Vec::new();
        for p in &prefixes {
            for t in targets_for(p, &all) {
                // The location meant for the prefix: the one a plain file under it reaches.
                let Some(meant) = r.location_for(t.server, &format!("{}md-probe", p.url)) else {
                    continue;
                };
                let Some(meant_info) = r.block_info(meant) else {
                    continue;
                };
                if meant_info.handler.is_some() {
                    continue; // not served from disk at all: MD106
                }
                // Group the stolen samples by the location that steals them.
                let mut stolen: BTreeMap<NodeId, Vec<Stolen>> = BTreeMap::new();
                for s in SAMPLES {
                    let uri = format!("{}{s}", p.url);
                    let Some(winner) = r.location_for(t.server, &uri) else {
                        continue;
                    };
                    if winner == meant {
                        continue;
                    }
                    let Some(w) = r.block_info(winner) else {
                        continue;
                    };
                    // A deliberate guard (`deny all`, e.g. no scripts under /media/) is not a theft.
                    if w.denies_all {
                        continue;
                    }
                    let got = r.path_for(t.server, &uri);
                    let wanted = r.path_in(t.server, meant, &uri);
                    if w.handler.is_none() && !w.internal && got == wanted {
                        continue; // same file, other headers/expiry: fine
                    }
                    stolen.entry(winner).or_default().push((uri, got, wanted));
                }
                for (winner, cases) in stolen {
                    let w = r.block_info(winner).expect("checked above");
                    let (uri, got, wanted) = &cases[0];
                    let urls: Vec<&str> = cases.iter().map(|c| c.0.as_str()).collect();
                    let res = r.resolve_on(t.server, &request(t, uri));
                    let what = match (&w.handler, w.internal) {
                        (Some((d, _)), _) => format!("passes them to {d}"),
                        (None, true) => "is internal (404)".into(),
                        (None, false) => format!(
                            "opens {} instead of {}",
                            got.as_deref().map(opened_path).unwrap_or_default(),
                            wanted.as_deref().map(opened_path).unwrap_or_default()
                        ),
                    };
                    let mut f = Finding::error(format!(
                        "{} ({}) wins for {uri} over {} ({}): it {what}",
                        r.location_label(winner),
                        loc_of(cfg, winner),
                        r.location_label(meant),
                        p.from
                    ))
                    .at(loc_of(cfg, meant))
                    .evidence(
                        "winner",
                        format!("{} at {}", r.location_label(winner), loc_of(cfg, winner)),
                    )
                    .evidence("urls", urls.join(" "))
                    .evidence(
                        "predicted status",
                        res.predicted_status
                            .map_or_else(|| "not predictable".into(), |s| s.to_string()),
                    );
                    if let Some(g) = got {
                        f = f.evidence("nginx opens", opened_path(g));
                    }
                    if let Some(wp) = wanted {
                        f = f.evidence("meant", opened_path(wp));
                    }
                    let winner_modifier = r.location_pattern(winner).map(|(m, _)| m);
                    let meant_modifier = r.location_pattern(meant).map(|(m, _)| m);
                    f = if winner_modifier.is_some_and(Modifier::is_regex)
                        && meant_modifier == Some(Modifier::Prefix)
                    {
                        let (_, name) = r
                            .location_pattern(meant)
                            .unwrap_or((Modifier::Prefix, String::new()));
                        let block = corrected_block(cfg, meant, &|_| Edit::Keep).replacen(
                            &format!("location {name} "),
                            &format!("location ^~ {name} "),
                            1,
                        );
                        fix_with_block(
                            f,
                            "mark the prefix location `^~` so that regex locations are not tried for it:",
                            block,
                        )
                    } else {
                        f.fix(
                            format!(
                                "the other location is more specific ({}): remove it, or give it the same root/alias as {}",
                                r.location_label(winner),
                                r.location_label(meant)
                            ),
                            vec![RELOAD.into()],
                        )
                    };
                    findings.push(f);
                }
            }
        }
        Ok(findings_or_pass(
            findings,
            format!(
                "media/static URLs ({}) reach the locations meant for them",
                prefix_urls(&prefixes)
            ),
        ))
    }
}

// ---------------------------------------------------------------------------------------------

pub struct UrlPrefixNotServed;

static URL_PREFIX_NOT_SERVED: Meta = Meta {
    id: "MD106",
    name: "url-prefix-not-served",
    band: Band::Nginx,
    summary: "MEDIA_URL and STATIC_URL are served from disk by nginx, not passed to the app",
    docs: include_str!("../../checks/MD106.md"),
};

impl Check for UrlPrefixNotServed {
    fn meta(&self) -> &'static Meta {
        &URL_PREFIX_NOT_SERVED
    }

    fn run(&self, site: &Context<'_>) -> anyhow::Result<Outcome> {
        if let Some(skip) = skip_if_incomplete(site) {
            return Ok(skip);
        }
        let r = site.resolver();
        let cfg = r.config();
        let all = r.targets();
        let prefixes = prefixes(site, &r);
        if prefixes.is_empty() {
            return Ok(Outcome::skip(
                "no media/static URL prefix: no app settings found (MEDIA_URL/STATIC_URL) and no location serves files from disk",
            ));
        }
        let mut findings = Vec::new();
        for p in &prefixes {
            for t in targets_for(p, &all) {
                let sample = match p.kind {
                    PrefixKind::Media => "x.jpg",
                    PrefixKind::Static => "x.css",
                };
                let uri = format!("{}{sample}", p.url);
                // The location that takes the prefix passes it on: a missing file that a
                // try_files fallback sends to the app is not this problem.
                let winner = r.location_for(t.server, &uri);
                let passes = winner
                    .and_then(|w| r.block_info(w))
                    .is_some_and(|i| i.handler.is_some());
                if !passes {
                    continue;
                }
                let res = r.resolve_on(t.server, &request(t, &uri));
                if !res.handler.is_upstream() {
                    continue;
                }
                let loc = res.location;
                let mut f = Finding::error(format!(
                    "{} ({}) is not served from disk: {uri} goes to {} ({})",
                    p.url,
                    p.from,
                    res.upstream.as_deref().unwrap_or("the upstream"),
                    res.handler.as_str()
                ))
                .evidence("url", &uri)
                .evidence("reason", &res.reason);
                if let Some(l) = loc {
                    f = f.at(loc_of(cfg, l)).evidence(
                        "location",
                        format!("{} at {}", r.location_label(l), loc_of(cfg, l)),
                    );
                }
                let dir = match p.kind {
                    PrefixKind::Media => "/path/to/MEDIA_ROOT/",
                    PrefixKind::Static => "/path/to/STATIC_ROOT/",
                };
                f = f.fix(
                    format!(
                        "the app only serves these with DEBUG=True; add a location for the prefix to the server block at {}:\n    location ^~ {} {{\n        alias {dir};\n    }}",
                        loc_of(cfg, t.server),
                        p.url
                    ),
                    vec![RELOAD.into()],
                );
                findings.push(f);
            }
        }
        Ok(findings_or_pass(
            findings,
            format!(
                "media/static URLs ({}) are served from disk",
                prefix_urls(&prefixes)
            ),
        ))
    }
}

// ---------------------------------------------------------------------------------------------

pub struct SiteNotEnabled;

static SITE_NOT_ENABLED: Meta = Meta {
    id: "MD107",
    name: "site-not-enabled",
    band: Band::Nginx,
    summary: "the site's server block is enabled (linked from sites-enabled, or included)",
    docs: include_str!("../../checks/MD107.md"),
};

impl Check for SiteNotEnabled {
    fn meta(&self) -> &'static Meta {
        &SITE_NOT_ENABLED
    }

    fn run(&self, site: &Context<'_>) -> anyhow::Result<Outcome> {
        let cfg = site.config();
        let available_dir = cfg.conf_dir.join("sites-available");
        let host = site.root.host_path(&available_dir);
        let Ok(rd) = std::fs::read_dir(&host) else {
            return Ok(Outcome::skip(format!(
                "no {} directory: sites are not managed with sites-available/sites-enabled",
                available_dir.display()
            )));
        };
        // Every file the loaded config consists of, symlinks resolved inside the root as the
        // system sees them (sites-enabled/x -> ../sites-available/x, or an absolute
        // /etc/nginx/sites-available/x, which under --root means the root's own file).
        let loaded: std::collections::HashSet<PathBuf> = cfg
            .files
            .iter()
            .filter_map(|f| site.root.real_path(&f.path).ok())
            .collect();
        let mut disabled: Vec<std::ffi::OsString> = rd
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file() || t.is_symlink()))
            .map(|e| e.file_name())
            .filter(|f| {
                site.root
                    .real_path(&available_dir.join(f))
                    .is_ok_and(|real| {
                        !loaded.contains(&real) && site.root.host_path(&real).exists()
                    })
            })
            .collect();
        disabled.sort();
        let name = site.name.as_deref();
        let mut findings = Vec::new();
        for file in disabled {
            let file = file.to_string_lossy().into_owned();
            let sys = available_dir.join(&file);
            let enabled = cfg.conf_dir.join("sites-enabled").join(&file);
            let ours = name.is_some_and(|n| file == n || file.strip_suffix(".conf") == Some(n));
            let text = format!("{} is not enabled: nginx never reads it", sys.display());
            let f = if ours {
                Finding::error(text)
            } else {
                Finding::info(text)
            };
            findings.push(
                f.evidence("file", sys.display())
                    .evidence("missing link", enabled.display())
                    .fix(
                        "link it into sites-enabled, then check and reload:",
                        vec![format!(
                            "sudo ln -s {} {} && {RELOAD}",
                            sys.display(),
                            enabled.display()
                        )],
                    ),
            );
        }
        if let Some(n) = name {
            let any_ours = findings
                .iter()
                .any(|f| f.severity > crate::report::Severity::Info);
            if !any_ours && site.nginx.matched_by.starts_with("no server block matches") {
                return Ok(Outcome::findings(vec![Finding::error(format!(
                    "no loaded server block belongs to the site {n:?}, and {} has no file of that name",
                    available_dir.display()
                ))
                .evidence("matched by", &site.nginx.matched_by)]));
            }
        }
        Ok(
            if findings
                .iter()
                .any(|f| f.severity > crate::report::Severity::Info)
            {
                Outcome::findings(findings)
            } else if findings.is_empty() {
                Outcome::pass("every file in sites-available is enabled")
            } else {
                let n = findings.len();
                Outcome::findings(findings).with_summary(format!(
                    "the site is enabled ({n} other file(s) in sites-available are not)"
                ))
            },
        )
    }
}

// ---------------------------------------------------------------------------------------------

pub struct ServerConflict;

static SERVER_CONFLICT: Meta = Meta {
    id: "MD108",
    name: "server-conflict",
    band: Band::Nginx,
    summary: "requests for the site's names reach the site's server block (no duplicate server_name, no other default)",
    docs: include_str!("../../checks/MD108.md"),
};

impl Check for ServerConflict {
    fn meta(&self) -> &'static Meta {
        &SERVER_CONFLICT
    }

    fn run(&self, site: &Context<'_>) -> anyhow::Result<Outcome> {
        if let Some(skip) = skip_if_incomplete(site) {
            return Ok(skip);
        }
        let r = site.resolver();
        let cfg = r.config();
        let mut findings = Vec::new();
        let mut reported: Vec<(String, u16)> = Vec::new();
        for &server in &site.nginx.servers {
            let names: Vec<String> = r
                .server_names(server)
                .into_iter()
                .filter(|n| {
                    !n.is_empty()
                        && !n.starts_with('~')
                        && !n.contains('*')
                        && !n.starts_with('.')
                        && n != "_"
                })
                .collect();
            let mut ports = r.server_ports(server);
            ports.dedup();
            for name in &names {
                for &port in &ports {
                    let Some(chosen) = r.select_server(name, port) else {
                        continue;
                    };
                    if chosen == server {
                        continue;
                    }
                    reported.push((name.to_ascii_lowercase(), port));
                    let same_name = r
                        .server_names(chosen)
                        .iter()
                        .any(|n| n.eq_ignore_ascii_case(name));
                    let why = if same_name {
                        format!(
                            "the server block at {} has the same server_name and comes first on this listen socket: nginx warns \"conflicting server name\" and ignores the later one",
                            loc_of(cfg, chosen)
                        )
                    } else {
                        format!(
                            "the server block at {} takes it (a more specific listen address, or a name that matches first)",
                            loc_of(cfg, chosen)
                        )
                    };
                    findings.push(
                        Finding::error(format!(
                            "requests for {name} on port {port} reach the server block at {}, not this one",
                            loc_of(cfg, chosen)
                        ))
                        .at(loc_of(cfg, server))
                        .evidence("host", name)
                        .evidence("port", port)
                        .evidence("chosen", loc_of(cfg, chosen))
                        .evidence("why", why)
                        .fix(
                            format!(
                                "keep {name} in one server block per port: remove it from the server_name at {} (or from this one)",
                                loc_of(cfg, chosen)
                            ),
                            vec![RELOAD.into()],
                        ),
                    );
                }
            }
        }
        // Duplicate names between other servers on one socket: nginx ignores the later ones.
        for (listen, servers) in r.sockets() {
            let mut first: BTreeMap<String, NodeId> = BTreeMap::new();
            for s in servers {
                for n in r.server_names(s) {
                    if n.is_empty() || n.starts_with('~') || n == "_" {
                        continue;
                    }
                    let key = n.to_ascii_lowercase();
                    match first.get(&key) {
                        None => {
                            first.insert(key, s);
                        }
                        Some(&winner) if winner != s => {
                            let port: u16 = listen
                                .rsplit(':')
                                .next()
                                .and_then(|p| p.parse().ok())
                                .unwrap_or(0);
                            if reported.contains(&(key.clone(), port)) {
                                continue;
                            }
                            reported.push((key.clone(), port));
                            findings.push(
                                Finding::warning(format!(
                                    "server_name {n} is used twice on {listen}: nginx ignores it in the server block at {}",
                                    loc_of(cfg, s)
                                ))
                                .at(loc_of(cfg, s))
                                .evidence("first", loc_of(cfg, winner))
                                .evidence("ignored", loc_of(cfg, s))
                                .fix(
                                    "remove the duplicate server_name from one of the two blocks:",
                                    vec![RELOAD.into()],
                                ),
                            );
                        }
                        _ => {}
                    }
                }
            }
        }
        Ok(findings_or_pass(
            findings,
            "every server_name of the site reaches its own server block",
        ))
    }
}
