//! MD4xx: the site as it runs: live HEAD probes and nginx's error log. Skipped with `--offline`.

use super::{Band, Check, Context, Meta, Outcome};
use crate::http::Probe;
use crate::live::errorlog::{self, Group, Line};
use crate::live::explain::explain;
use crate::live::probes::{Item, Live, Prediction};
use crate::live::signature::{cache_hit, who_answered, Answerer};
use crate::live::{app_prefixes, failure_advice, mismatch_cause, server_names, AppPrefix};
use crate::nginx::resolve::Resolver;
use crate::report::{Finding, Severity};
use crate::site::Site;
use reqwest::Url;
use std::path::PathBuf;

pub static CHECKS: &[&dyn Check] = &[
    &OriginServesFile,
    &PublicServesFile,
    &RequestHitsApp,
    &CachedError,
    &ErrorLog,
    &PredictionMismatch,
];

const OFFLINE: &str = "--offline: no request is sent and no log is read";

/// MD405: recent lines of nginx's error log about files it could not serve, each mapped to the
/// check that explains it.
pub struct ErrorLog;

static ERROR_LOG: Meta = Meta {
    id: "MD405",
    name: "error-log",
    band: Band::Live,
    summary: "nginx's error log has no recent open() failures or forbidden lines for media/static",
    docs: include_str!("../../checks/MD405.md"),
};

/// Lines within this long before the newest line read are "recent".
const RECENT_SECS: i64 = 24 * 3600;
/// Groups shown one by one; the rest are counted.
const MAX_GROUPS: usize = 12;

impl Check for ErrorLog {
    fn meta(&self) -> &'static Meta {
        &ERROR_LOG
    }

    fn run(&self, site: &Context<'_>) -> anyhow::Result<Outcome> {
        if site.offline {
            return Ok(Outcome::skip(OFFLINE));
        }
        let sources = errorlog::sources(site.config());
        let mut read = Vec::new(); // (system path, text)
        let mut unreadable = Vec::new();
        for src in &sources {
            let rotated = PathBuf::from(format!("{}.1", src.path.display()));
            for path in [src.path.clone(), rotated] {
                match errorlog::tail(&site.root, &path, errorlog::TAIL_BYTES) {
                    Ok(Some(text)) => read.push((path, text)),
                    Ok(None) => {}
                    Err(e) => unreadable.push(format!("{}: {e}", path.display())),
                }
            }
        }
        if read.is_empty() {
            let looked: Vec<String> = sources
                .iter()
                .map(|s| format!("{} ({})", s.path.display(), s.why))
                .collect();
            return Ok(Outcome::skip(if unreadable.is_empty() {
                format!("no error log found; looked at {}", looked.join(", "))
            } else {
                format!("cannot read the error log: {}", unreadable.join("; "))
            }));
        }

        let filter = Relevance::of(site);
        let mut lines: Vec<(PathBuf, Line)> = Vec::new();
        let mut other_sites = 0usize;
        let mut elsewhere = 0usize;
        for (path, text) in &read {
            for line in text.lines().filter_map(errorlog::parse_line) {
                if !filter.is_site(&line) {
                    other_sites += 1;
                } else if !filter.is_media_or_static(&line) {
                    elsewhere += 1;
                } else {
                    lines.push((path.clone(), line));
                }
            }
        }
        let newest = lines.iter().filter_map(|(_, l)| l.when()).max();
        let (recent, older): (Vec<_>, Vec<_>) =
            lines
                .into_iter()
                .partition(|(_, l)| match (l.when(), newest) {
                    (Some(t), Some(n)) => t >= n - RECENT_SECS,
                    _ => true,
                });
        let read_names: Vec<String> = read.iter().map(|(p, _)| p.display().to_string()).collect();
        let groups = errorlog::group(recent);
        let mut findings: Vec<Finding> = Vec::new();
        // One model of the config for every line: which location answered each request.
        let resolver = (!groups.is_empty()).then(|| site.resolver());
        for g in groups.iter().take(MAX_GROUPS) {
            findings.push(finding_for(site, resolver.as_ref(), &filter, g));
        }
        // Worst first; within a severity, most recent first (the groups' order).
        findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
        if groups.len() > MAX_GROUPS {
            let rest: usize = groups[MAX_GROUPS..].iter().map(|g| g.count).sum();
            findings.push(Finding::info(format!(
                "{} more kinds of error ({rest} lines) not shown",
                groups.len() - MAX_GROUPS
            )));
        }
        let mut context = Finding::info(format!(
            "read the last {} KiB of each log",
            errorlog::TAIL_BYTES / 1024
        ))
        .evidence("logs", read_names.join(", "));
        if !older.is_empty() {
            context = context.evidence(
                "older lines",
                format!(
                    "{} media/static lines more than 24 h before the newest one (not judged)",
                    older.len()
                ),
            );
        }
        if other_sites > 0 {
            context = context.evidence("other sites", format!("{other_sites} lines ignored"));
        }
        if elsewhere > 0 {
            context = context.evidence(
                "other URLs",
                format!("{elsewhere} lines outside the media/static prefixes ignored"),
            );
        }
        for u in &unreadable {
            context = context.evidence("unreadable", u);
        }
        if findings.iter().all(|f| f.severity == Severity::Info) {
            let summary = if findings.is_empty() {
                format!(
                    "no recent file errors for media/static in {}",
                    read_names.join(", ")
                )
            } else {
                format!(
                    "only expected lines (directory requests) in {}",
                    read_names.join(", ")
                )
            };
            findings.push(context);
            return Ok(Outcome::findings(findings).with_summary(summary));
        }
        findings.push(context);
        Ok(Outcome::findings(findings))
    }
}

/// Which lines belong to the site, and which are about its media/static files.
struct Relevance {
    /// Empty when every server block is the site (no --site), or the site has no names.
    names: Vec<String>,
    prefixes: Vec<AppPrefix>,
}

impl Relevance {
    fn of(site: &Site) -> Relevance {
        let names = if site.name.is_some() {
            server_names(site)
                .into_iter()
                .filter(|n| !n.is_empty() && n != "_" && !n.starts_with('~'))
                .map(|n| n.to_ascii_lowercase())
                .collect()
        } else {
            Vec::new()
        };
        Relevance {
            names,
            prefixes: app_prefixes(site),
        }
    }

    fn is_site(&self, line: &Line) -> bool {
        if self.names.is_empty() {
            return true;
        }
        let known = |v: &Option<String>| {
            v.as_deref()
                .is_some_and(|n| self.names.iter().any(|m| name_matches(m, n)))
        };
        // A line without a server names no site: keep it rather than hide a problem.
        line.server.is_none() || known(&line.server) || known(&line.host)
    }

    /// Lines under the app's media/static URL prefixes or roots. With neither known, all lines.
    fn is_media_or_static(&self, line: &Line) -> bool {
        if self.prefixes.is_empty() {
            return true;
        }
        self.prefix_of(line).is_some()
    }

    fn prefix_of(&self, line: &Line) -> Option<&AppPrefix> {
        let uri = line.uri_path();
        self.prefixes.iter().find(|p| {
            p.url
                .as_deref()
                .zip(uri.as_deref())
                .is_some_and(|(u, uri)| uri.starts_with(u))
                || p.root
                    .as_deref()
                    .zip(line.path.as_deref())
                    .is_some_and(|(r, path)| path.starts_with(r))
        })
    }
}

/// `server_name` matching for log filtering: exact, `*.example.com`, `.example.com`.
fn name_matches(pattern: &str, name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    let name = name.split(':').next().unwrap_or("");
    if let Some(suffix) = pattern.strip_prefix("*.") {
        return name.ends_with(&format!(".{suffix}"));
    }
    if let Some(base) = pattern.strip_prefix('.') {
        return name == base || name.ends_with(pattern);
    }
    pattern == name
}

/// One finding for a group of repeated lines: what nginx said, how often, and which check
/// explains it.
fn finding_for(
    site: &Site,
    resolver: Option<&Resolver<'_>>,
    filter: &Relevance,
    g: &Group,
) -> Finding {
    let line = &g.latest;
    let why = explain(site, resolver, filter.prefix_of(line), line);
    let times = if g.count == 1 {
        "1 time".to_string()
    } else {
        format!("{} times", g.count)
    };
    let mut f = Finding::new(why.severity, format!("{times}: {}", line.message))
        .evidence("cause", &why.cause);
    if !why.checks.is_empty() {
        f = f.evidence("explained by", why.checks.join(", "));
    }
    if let Some(req) = &line.request {
        f = f.evidence("request", req);
    }
    if let Some(host) = line.host.as_ref().or(line.server.as_ref()) {
        f = f.evidence("host", host);
    }
    f = f.evidence(
        "seen",
        if g.first == g.last {
            g.last.clone()
        } else {
            format!("{} .. {}", g.first, g.last)
        },
    );
    f = f.evidence(
        "log",
        g.logs
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
    );
    if let Some(w) = &why.walk {
        f = f.evidence("walk", w);
    }
    let mut commands = why.commands.clone();
    if let Some(url) = trace_url(line) {
        commands.push(format!("media-doctor trace {}", shell_word(&url)));
    }
    for id in &why.checks {
        commands.push(format!("media-doctor explain {id}"));
    }
    f.fix(why.fix, commands)
}

/// The URL to trace for a line: the host it was asked for, and its URI.
fn trace_url(line: &Line) -> Option<String> {
    let host = line
        .host
        .as_deref()
        .or(line.server.as_deref())
        .filter(|h| !h.is_empty() && *h != "_")?;
    Some(format!("http://{host}{}", line.uri()?))
}

fn shell_word(s: &str) -> String {
    if s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"/:._-%=+,@".contains(&b))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

// ---- HEAD probes: MD401, MD402, MD403, MD404, MD406 ----

/// The probes, or why the checks built on them cannot run.
fn probes_or_skip<'c>(site: &'c Context<'_>) -> Result<&'c Live, Outcome> {
    if site.offline {
        return Err(Outcome::skip(OFFLINE));
    }
    let live = site.live();
    if live.items.is_empty() {
        let why = if live.notes.is_empty() {
            "no media/static prefix served from disk was found to probe".to_string()
        } else {
            live.notes.join("; ")
        };
        return Err(Outcome::skip(format!("nothing to probe: {why}")));
    }
    Ok(live)
}

/// The facts of one probe, as evidence lines.
fn probe_evidence(mut f: Finding, p: &Probe) -> Finding {
    f = f.evidence("request", p.describe());
    f = f.evidence("answer", p.summary());
    if let Some(note) = p.tls_note() {
        f = f.evidence("tls", note);
    }
    f
}

fn item_evidence(mut f: Finding, item: &Item) -> Finding {
    f = f.evidence("server", &item.server_desc);
    if let Some(file) = &item.file {
        f = f.evidence("file", file.display());
    }
    if let Some(s) = &item.served {
        f = f.evidence("served from", s.dir.display());
    }
    f
}

fn prediction_text(p: &Prediction) -> String {
    match p.status {
        Some(s) => format!("{s} ({})", p.reason),
        None => format!("not predictable: {}", p.reason),
    }
}

fn notes_finding(live: &Live) -> Option<Finding> {
    if live.notes.is_empty() {
        return None;
    }
    let mut f = Finding::info("not everything could be probed");
    for n in &live.notes {
        f = f.evidence("note", n);
    }
    Some(f)
}

/// MD401: the local nginx answers 200 for a real file of each served prefix.
pub struct OriginServesFile;

static ORIGIN_SERVES_FILE: Meta = Meta {
    id: "MD401",
    name: "origin-serves-file",
    band: Band::Live,
    summary: "the local nginx answers 200 for a real file of each media/static prefix",
    docs: include_str!("../../checks/MD401.md"),
};

impl Check for OriginServesFile {
    fn meta(&self) -> &'static Meta {
        &ORIGIN_SERVES_FILE
    }

    fn run(&self, site: &Context<'_>) -> anyhow::Result<Outcome> {
        let live = match probes_or_skip(site) {
            Ok(l) => l,
            Err(skip) => return Ok(skip),
        };
        if let Some(why) = &live.no_origin {
            return Ok(Outcome::skip(why.clone()));
        }
        let mut findings = Vec::new();
        let mut ok = Vec::new();
        for item in &live.items {
            if item.origin.is_empty() {
                findings.push(item_evidence(
                    Finding::warning(format!(
                        "{} ({}): the server has no listen socket media-doctor can reach",
                        item.label, item.url_path
                    )),
                    item,
                ));
                continue;
            }
            let any_200 = item.origin.iter().any(|o| o.probe.status() == Some(200));
            for o in &item.origin {
                let p = &o.probe;
                let url = &p.target.url;
                let f = match &p.outcome {
                    Ok(a) if a.status == 200 => {
                        ok.push(format!("{} via {}", item.url_path, o.listen));
                        continue;
                    }
                    Ok(a) if a.redirects_to_itself(url) => Finding::error(format!(
                        "{} on {}: redirect loop ({} to itself)",
                        item.url_path, o.listen, a.status
                    ))
                    .fix(
                        "find the rewrite/return that redirects this URL to itself:",
                        vec![format!("media-doctor trace {url}")],
                    ),
                    Ok(a) if a.is_redirect() => {
                        let to = a
                            .redirect_target(url)
                            .map(|u| u.to_string())
                            .unwrap_or_default();
                        let f = if any_200 {
                            Finding::info(format!(
                                "{} on {}: {} to {to}",
                                item.url_path, o.listen, a.status
                            ))
                        } else {
                            Finding::warning(format!(
                                "{} on {}: {} to {to}, not the file",
                                item.url_path, o.listen, a.status
                            ))
                        };
                        f.fix(
                            "a redirect is fine when it is the http→https one; otherwise trace it:",
                            vec![format!("media-doctor trace {url}")],
                        )
                    }
                    Ok(a) => Finding::error(format!(
                        "{} on {}: {} for a file that exists",
                        item.url_path, o.listen, a.status
                    ))
                    .fix(
                        "the trace shows why nginx refuses it (the walk names the blocking directory):",
                        vec![format!("media-doctor trace {url}")],
                    ),
                    Err(failure) => {
                        let (text, commands) = failure_advice(failure, &o.listen, true);
                        Finding::error(format!(
                            "{} on {}: {failure}",
                            item.url_path, o.listen
                        ))
                        .fix(text, commands)
                    }
                };
                let f = item_evidence(probe_evidence(f, p), item)
                    .evidence("predicted", prediction_text(&o.prediction));
                findings.push(f);
            }
        }
        findings.extend(notes_finding(live));
        let outcome = Outcome::findings(findings);
        Ok(
            if outcome
                .findings
                .iter()
                .all(|f| f.severity == Severity::Info)
            {
                outcome.with_summary(format!("the local nginx answers 200: {}", ok.join(", ")))
            } else {
                outcome
            },
        )
    }
}

/// MD402: the public URL answers 200 for the same files, as the origin does.
pub struct PublicServesFile;

static PUBLIC_SERVES_FILE: Meta = Meta {
    id: "MD402",
    name: "public-serves-file",
    band: Band::Live,
    summary: "the public URL answers 200 for the same files, like the origin",
    docs: include_str!("../../checks/MD402.md"),
};

impl Check for PublicServesFile {
    fn meta(&self) -> &'static Meta {
        &PUBLIC_SERVES_FILE
    }

    fn run(&self, site: &Context<'_>) -> anyhow::Result<Outcome> {
        let live = match probes_or_skip(site) {
            Ok(l) => l,
            Err(skip) => return Ok(skip),
        };
        let base = match &live.public {
            Ok(b) => b,
            Err(why) => return Ok(Outcome::skip(why.clone())),
        };
        let mut findings = Vec::new();
        let mut ok = Vec::new();
        for item in &live.items {
            let Some(p) = &item.public else { continue };
            let url = &p.target.url;
            let origin_200 = item
                .origin
                .iter()
                .find(|o| o.probe.status() == Some(200))
                .and_then(|o| o.probe.answer());
            let f = match &p.outcome {
                Ok(a) if a.status == 200 => {
                    let same_size = match origin_200 {
                        Some(o) => o.header("content-length") == a.header("content-length"),
                        None => true,
                    };
                    if !item.origin.is_empty() && origin_200.is_none() {
                        Finding::warning(format!(
                            "{url} answers 200 but the local nginx does not: the public URL is \
                             served by something else (a CDN's copy, another server)"
                        ))
                    } else if !same_size {
                        Finding::warning(format!(
                            "{url} answers 200 with another Content-Length than the origin: a \
                             stale copy, or another server"
                        ))
                    } else {
                        ok.push(url.to_string());
                        continue;
                    }
                }
                Ok(a) if a.redirects_to_itself(url) => {
                    Finding::error(format!("{url}: redirect loop ({} to itself)", a.status)).fix(
                        "a proxy in front and nginx redirecting each other (often http↔https: set \
                     X-Forwarded-Proto and let only one side redirect)",
                        Vec::new(),
                    )
                }
                Ok(a) if a.is_redirect() => {
                    let to = a.redirect_target(url);
                    let to_https = to.as_ref().is_some_and(|t| {
                        t.scheme() == "https" && url.scheme() == "http" && t.path() == url.path()
                    });
                    let to_s = to.map(|u| u.to_string()).unwrap_or_default();
                    if to_https {
                        let mut https = base.url.clone();
                        let _ = https.set_scheme("https");
                        Finding::warning(format!("{url}: {} to {to_s}", a.status)).fix(
                            "the site redirects to https: probe that instead:",
                            vec![format!("media-doctor check --url {https}")],
                        )
                    } else {
                        Finding::warning(format!("{url}: {} to {to_s}, not the file", a.status))
                    }
                }
                Ok(a) => {
                    let msg = match origin_200 {
                        Some(_) => format!(
                            "{url}: {} while the local nginx answers 200 (a proxy/CDN in front \
                             answers differently: see MD404)",
                            a.status
                        ),
                        None => format!("{url}: {}", a.status),
                    };
                    Finding::error(msg).fix(
                        "compare with the origin, and trace the URL:",
                        vec![format!("media-doctor trace {url}")],
                    )
                }
                Err(failure) => {
                    let (text, commands) = failure_advice(failure, url.as_str(), false);
                    Finding::error(format!("{url}: {failure}")).fix(text, commands)
                }
            };
            let mut f = item_evidence(probe_evidence(f, p), item)
                .evidence("public URL from", base.source.to_string());
            if let Some(o) = item.origin.first() {
                f = f.evidence("origin answer", o.probe.summary());
            }
            findings.push(f);
        }
        if findings.is_empty() && ok.is_empty() {
            return Ok(Outcome::skip("no public URL to probe for the files found"));
        }
        let outcome = Outcome::findings(findings);
        Ok(if outcome.findings.is_empty() {
            outcome.with_summary(format!("the public URL answers 200: {}", ok.join(", ")))
        } else {
            outcome
        })
    }
}

/// MD403: media/static answers come from nginx's static module, not from the app.
pub struct RequestHitsApp;

static REQUEST_HITS_APP: Meta = Meta {
    id: "MD403",
    name: "request-hits-app",
    band: Band::Live,
    summary: "media/static answers come from nginx's static module, not from the app",
    docs: include_str!("../../checks/MD403.md"),
};

impl Check for RequestHitsApp {
    fn meta(&self) -> &'static Meta {
        &REQUEST_HITS_APP
    }

    fn run(&self, site: &Context<'_>) -> anyhow::Result<Outcome> {
        let live = match probes_or_skip(site) {
            Ok(l) => l,
            Err(skip) => return Ok(skip),
        };
        let mut findings = Vec::new();
        let mut answered = 0usize;
        let mut static_ok = Vec::new();
        for item in &live.items {
            let probes = item
                .origin
                .iter()
                .map(|o| (&o.probe, Some(&o.prediction), true))
                .chain(
                    item.public
                        .iter()
                        .map(|p| (p, item.public_prediction.as_ref(), false)),
                );
            for (p, prediction, is_origin) in probes {
                let Some(a) = p.answer() else { continue };
                answered += 1;
                let proxied = prediction.is_some_and(|pr| {
                    matches!(
                        pr.handler.as_str(),
                        "proxy" | "uwsgi" | "fastcgi" | "scgi" | "grpc"
                    )
                });
                let where_ = prediction
                    .and_then(|pr| pr.location.as_ref())
                    .map(|l| format!(" (the location at {l} passes it to the app)"))
                    .filter(|_| proxied)
                    .unwrap_or_default();
                let f = match who_answered(a) {
                    Answerer::NginxStatic => {
                        static_ok.push(p.target.url.to_string());
                        continue;
                    }
                    Answerer::App(evidence) => Finding::error(format!(
                        "{} was answered by the app, not by nginx's static module{where_}",
                        p.target.url
                    ))
                    .evidence("because", evidence),
                    Answerer::Nginx if a.status == 200 && proxied => Finding::error(format!(
                        "{} was proxied to the app{where_}",
                        p.target.url
                    ))
                    .evidence(
                        "because",
                        "200 without Last-Modified/Accept-Ranges, the headers nginx's static module sends",
                    ),
                    Answerer::Nginx if a.status == 200 => Finding::warning(format!(
                        "{} answered 200 without nginx's static-file headers (Last-Modified, \
                         Accept-Ranges): proxied to the app?",
                        p.target.url
                    )),
                    Answerer::Other(server) if is_origin => Finding::warning(format!(
                        "{} was answered by `Server: {server}`, not nginx: another server on \
                         this socket?",
                        p.target.url
                    )),
                    Answerer::Nginx | Answerer::Other(_) | Answerer::Unknown => continue,
                };
                let f = item_evidence(probe_evidence(f, p), item);
                let f = match (item.kind, site.app.as_ref()) {
                    (Some(kind), Some(_)) => {
                        let root = crate::live::app_prefixes(site)
                            .into_iter()
                            .find(|ap| ap.kind == kind)
                            .and_then(|ap| ap.root)
                            .map(|r| r.display().to_string())
                            .unwrap_or_else(|| "/path/to/files".into());
                        let prefix = item
                            .served
                            .as_ref()
                            .map(|s| s.prefix.clone())
                            .unwrap_or_else(|| format!("/{}/", kind.as_str()));
                        f.fix(
                            format!(
                                "serve {prefix} from disk in the server block, before the app's location:\n\
                                 location ^~ {prefix} {{ alias {}/; }}",
                                root.trim_end_matches('/')
                            ),
                            vec!["sudo nginx -t && sudo systemctl reload nginx".into()],
                        )
                    }
                    _ => f.fix(
                        "give the prefix a location that serves files from disk (alias/root), \
                         marked ^~ so no other location takes it:",
                        vec![format!("media-doctor trace {}", p.target.url)],
                    ),
                };
                findings.push(f);
            }
        }
        if answered == 0 {
            return Ok(Outcome::skip("no probe got an answer (see MD401/MD402)"));
        }
        let outcome = Outcome::findings(findings);
        Ok(if outcome.findings.is_empty() {
            outcome.with_summary(format!(
                "answered by nginx's static module: {}",
                static_ok.join(", ")
            ))
        } else {
            outcome
        })
    }
}

/// MD404: no CDN or proxy serves a cached 4xx for a file the origin serves.
pub struct CachedError;

static CACHED_ERROR: Meta = Meta {
    id: "MD404",
    name: "cached-error",
    band: Band::Live,
    summary: "no CDN or proxy in front serves a cached 403/404 for a file the origin serves",
    docs: include_str!("../../checks/MD404.md"),
};

impl Check for CachedError {
    fn meta(&self) -> &'static Meta {
        &CACHED_ERROR
    }

    fn run(&self, site: &Context<'_>) -> anyhow::Result<Outcome> {
        let live = match probes_or_skip(site) {
            Ok(l) => l,
            Err(skip) => return Ok(skip),
        };
        if let Err(why) = &live.public {
            return Ok(Outcome::skip(why.clone()));
        }
        if let Some(why) = &live.no_origin {
            return Ok(Outcome::skip(format!(
                "{why}: without the origin's answer a cached error cannot be told from a real one"
            )));
        }
        let mut findings = Vec::new();
        let mut compared = 0usize;
        for item in &live.items {
            let Some(public) = item
                .public
                .as_ref()
                .and_then(|p| p.answer().map(|a| (p, a)))
            else {
                continue;
            };
            let Some(origin) = item.origin.iter().find(|o| o.probe.status() == Some(200)) else {
                continue;
            };
            compared += 1;
            let (p, a) = public;
            if !(400..500).contains(&a.status) {
                continue;
            }
            let url = &p.target.url;
            let f = match cache_hit(a) {
                Some(hit) => {
                    let (text, commands) = purge_commands(a, url);
                    Finding::error(format!(
                        "{url}: a cache in front serves a stored {} while the origin answers 200",
                        a.status
                    ))
                    .evidence("cache", hit)
                    .fix(text, commands)
                }
                None => Finding::warning(format!(
                    "{url}: {} at the edge while the origin answers 200, with no cache-hit \
                     header: a proxy in front answers from elsewhere",
                    a.status
                )),
            };
            let f = item_evidence(probe_evidence(f, p), item)
                .evidence("origin answer", origin.probe.summary());
            findings.push(f);
        }
        if compared == 0 {
            return Ok(Outcome::skip(
                "no file answered 200 at the origin and was asked at the public URL",
            ));
        }
        let outcome = Outcome::findings(findings);
        Ok(if outcome.findings.is_empty() {
            outcome.with_summary(format!(
                "no cached error at the edge ({compared} file(s) compared with the origin)"
            ))
        } else {
            outcome
        })
    }
}

/// How to purge one URL from the cache the headers name.
fn purge_commands(a: &crate::http::Answer, url: &Url) -> (String, Vec<String>) {
    let via = a.header("via").unwrap_or("").to_ascii_lowercase();
    let xcache = a.header("x-cache").unwrap_or("").to_ascii_lowercase();
    let path = url.path();
    if a.header("cf-cache-status").is_some() {
        return (
            "purge the URL from Cloudflare (dashboard: Caching → Configuration → Custom Purge), \
             and stop caching errors for long (Cache Rules: status-code TTL):"
                .into(),
            vec![format!(
                "curl -X POST \"https://api.cloudflare.com/client/v4/zones/$ZONE_ID/purge_cache\" \
                 -H \"Authorization: Bearer $CF_API_TOKEN\" -H \"Content-Type: application/json\" \
                 --data '{{\"files\":[\"{url}\"]}}'"
            )],
        );
    }
    if via.contains("cloudfront") || xcache.contains("cloudfront") {
        return (
            "invalidate the path in CloudFront, and lower the error caching TTL:".into(),
            vec![format!(
                "aws cloudfront create-invalidation --distribution-id \"$DISTRIBUTION_ID\" --paths '{path}'"
            )],
        );
    }
    if via.contains("varnish") || a.header("x-varnish").is_some() {
        return (
            "ban the URL in Varnish:".into(),
            vec![format!("sudo varnishadm 'ban req.url == {path}'")],
        );
    }
    if a.header("x-cache-status").is_some() {
        return (
            "a front nginx's proxy_cache holds the error: remove the entry (or the cache \
             directory's files), and set `proxy_cache_valid 404 1m;` at most:"
                .into(),
            vec![
                "sudo find /var/cache/nginx -type f -delete   # the proxy_cache_path directory"
                    .into(),
            ],
        );
    }
    (
        "purge the URL from the cache in front, and cache errors briefly if at all".into(),
        Vec::new(),
    )
}

/// MD406: the live answers match what the loaded config and files predict.
pub struct PredictionMismatch;

static PREDICTION_MISMATCH: Meta = Meta {
    id: "MD406",
    name: "prediction-mismatch",
    band: Band::Live,
    summary: "the live answers match what the loaded config and files predict",
    docs: include_str!("../../checks/MD406.md"),
};

impl Check for PredictionMismatch {
    fn meta(&self) -> &'static Meta {
        &PREDICTION_MISMATCH
    }

    fn run(&self, site: &Context<'_>) -> anyhow::Result<Outcome> {
        let live = match probes_or_skip(site) {
            Ok(l) => l,
            Err(skip) => return Ok(skip),
        };
        if let Some(why) = &live.no_origin {
            return Ok(Outcome::skip(why.clone()));
        }
        let mut findings = Vec::new();
        let mut matched = 0usize;
        let mut stale: Option<Option<crate::system::loaded::Stale>> = None; // computed on first need
        for item in &live.items {
            let mut origin_agrees = true;
            for o in &item.origin {
                let (Some(a), Some(want)) = (o.probe.answer(), o.prediction.status) else {
                    continue;
                };
                if a.status == want {
                    matched += 1;
                    continue;
                }
                origin_agrees = false;
                let stale_files = stale
                    .get_or_insert_with(|| site.changed_since_load())
                    .clone();
                let cause = mismatch_cause(a, stale_files.as_ref());
                let f = Finding::error(format!(
                    "{} on {}: nginx answers {}, the config and files predict {want}",
                    item.url_path, o.listen, a.status
                ))
                .evidence("predicted", prediction_text(&o.prediction))
                .evidence("likely cause", &cause.text);
                let f = item_evidence(probe_evidence(f, &o.probe), item);
                let f = match &o.prediction.location {
                    Some(l) => f.evidence("location", l),
                    None => f,
                };
                findings.push(f.fix(cause.fix, cause.commands));
            }
            // The public answer against the model, when the origin agreed with it.
            if let (Some(p), Some(pred)) = (&item.public, &item.public_prediction) {
                if let (Some(a), Some(want)) = (p.answer(), pred.status) {
                    if a.status != want && origin_agrees && !item.origin.is_empty() {
                        let front = [a.header("server"), a.header("via")]
                            .into_iter()
                            .flatten()
                            .collect::<Vec<_>>()
                            .join(", ");
                        findings.push(
                            item_evidence(
                                probe_evidence(
                                    Finding::warning(format!(
                                        "{}: the public URL answers {}, the local nginx and the \
                                         model {want}: a proxy or CDN in front answers differently",
                                        p.target.url, a.status
                                    )),
                                    p,
                                ),
                                item,
                            )
                            .evidence(
                                "in front",
                                if front.is_empty() {
                                    "unknown".into()
                                } else {
                                    front
                                },
                            ),
                        );
                    } else if a.status == want {
                        matched += 1;
                    }
                }
            }
        }
        if findings.is_empty() && matched == 0 {
            return Ok(Outcome::skip(
                "no live answer to compare with a prediction (no answer, or the URLs go to the app)",
            ));
        }
        let outcome = Outcome::findings(findings);
        Ok(if outcome.findings.is_empty() {
            outcome.with_summary(format!("{matched} live answer(s) match the prediction"))
        } else {
            outcome
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_like_server_name() {
        assert!(name_matches("example.com", "EXAMPLE.com:8080"));
        assert!(name_matches("*.example.com", "www.example.com"));
        assert!(!name_matches("*.example.com", "example.com"));
        assert!(name_matches(".example.com", "example.com"));
        assert!(name_matches(".example.com", "a.example.com"));
        assert!(!name_matches("example.com", "example.org"));
    }
}
