//! MD405 error-log: nginx's error log has no recent open() failures or forbidden lines for
//! media/static.
//! The page: checks/MD405.md.

use super::shared::live::*;
use super::{Band, Check, Context, Meta, Outcome};
use crate::live::errorlog::{self, Group, Line};
use crate::live::explain::explain;
use crate::live::{app_prefixes, server_names, AppPrefix};
use crate::nginx::resolve::Resolver;
use crate::report::{Finding, Severity};
use crate::site::Site;
use std::path::PathBuf;

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
        if let Some((a, _)) = site.apache() {
            return Ok(run_apache(site, a));
        }
        let (read, unreadable) = match read_logs(site, &errorlog::sources(site.config())) {
            Ok(r) => r,
            Err(skip) => return Ok(skip),
        };

        let filter = Relevance::of(site);
        // Lines written before the running master last (re)loaded its config are about a
        // config that no longer runs: after a fix and a reload they must not fail the check.
        let loaded = site
            .changed_since_load()
            .and_then(|s| errorlog::log_time(s.loaded));
        let mut lines: Vec<(PathBuf, Line)> = Vec::new();
        let mut other_sites = 0usize;
        let mut elsewhere = 0usize;
        let mut before_load = 0usize;
        for (path, text) in &read {
            for line in text.lines().filter_map(errorlog::parse_line) {
                // The log has whole seconds: a line of the reload's own second is kept. The
                // load time is a start tick rounded down (never after the reload), so a line is
                // dropped only when it is surely older than the running config.
                if let (Some(t), Some(l)) = (line.when(), loaded) {
                    if t < l {
                        before_load += 1;
                        continue;
                    }
                }
                if !filter.is_site(&line) {
                    other_sites += 1;
                } else if !filter.is_media_or_static(&line) {
                    elsewhere += 1;
                } else {
                    lines.push((path.clone(), line));
                }
            }
        }
        let (recent, older) = split_recent(lines, Line::when);
        let groups = errorlog::group(recent);
        let mut findings: Vec<Finding> = Vec::new();
        // One model of the config for every line: which location answered each request.
        let resolver = (!groups.is_empty()).then(|| site.resolver());
        for g in groups.iter().take(MAX_GROUPS) {
            findings.push(finding_for(site, resolver.as_ref(), &filter, g));
        }
        let hidden = hidden(groups.iter().map(|g| g.count));
        let mut notes: Vec<_> = before_reload(before_load, "nginx", "config")
            .into_iter()
            .collect();
        if other_sites > 0 {
            notes.push(("other sites", format!("{other_sites} lines ignored")));
        }
        if elsewhere > 0 {
            notes.push((
                "other URLs",
                format!("{elsewhere} lines outside the media/static prefixes ignored"),
            ));
        }
        Ok(conclude(
            findings,
            hidden,
            &read,
            older.len(),
            notes,
            &unreadable,
        ))
    }
}

/// MD405 when Apache httpd is the server judged: the same question of Apache's error log, each
/// line read by its `AH` code (`live::apache_log`); a permission line is walked again as
/// Apache's user to name the directory or file that stops it (`explain::explain_denied_as`, the
/// walk nginx's lines get).
fn run_apache(site: &Context<'_>, a: &crate::apache::site::ApacheSite) -> Outcome {
    use crate::live::apache_log::{self, Code};
    let (read, unreadable) = match read_logs(site, &apache_log::sources(&a.config, &a.vhosts)) {
        Ok(r) => r,
        Err(skip) => return skip,
    };
    // The site's files: its directories (Alias targets, DocumentRoot, the app's roots) and URL
    // prefixes (the app's, each Alias's).
    let mut dirs: Vec<PathBuf> = super::shared::apache::served_dirs(a)
        .into_iter()
        .map(|s| s.dir)
        .collect();
    let mut prefixes: Vec<String> = Vec::new();
    for p in app_prefixes(site) {
        dirs.extend(p.root);
        prefixes.extend(p.url);
    }
    let relevant = |l: &apache_log::Line| {
        l.path
            .as_deref()
            .is_some_and(|p| dirs.iter().any(|d| p.starts_with(d)))
            // A directory above a served one that Apache's user cannot search, or whose
            // .htaccess it cannot read, refuses everything below it.
            || (matches!(l.code, Code::Search | Code::Htaccess)
                && l.path.as_deref().is_some_and(|p| {
                    let above = if l.code == Code::Htaccess {
                        p.parent().unwrap_or(p)
                    } else {
                        p
                    };
                    dirs.iter().any(|d| d.starts_with(above))
                }))
            || l.uri
                .as_deref()
                .is_some_and(|u| prefixes.iter().any(|p| u.starts_with(p.as_str())))
    };
    // Lines written before the running master last (re)loaded its configuration are about a
    // configuration that no longer runs.
    let loaded = crate::apache::site::running_master(&site.root, Some(&a.config))
        .and_then(|m| errorlog::log_time(crate::apache::site::last_load(&m)));
    let (mut before_load, mut elsewhere) = (0usize, 0usize);
    let mut lines: Vec<(PathBuf, apache_log::Line)> = Vec::new();
    for (path, text) in &read {
        for line in text.lines().filter_map(apache_log::parse_line) {
            if let (Some(t), Some(l)) = (line.when, loaded) {
                if t < l {
                    before_load += 1;
                    continue;
                }
            }
            if relevant(&line) {
                lines.push((path.clone(), line));
            } else {
                elsewhere += 1;
            }
        }
    }
    let (recent, older) = split_recent(lines, |l| l.when);
    // One group per (code, path), the newest line last.
    // (code, path, how many, the newest line, the logs it is in)
    type Group = (Code, Option<PathBuf>, usize, apache_log::Line, Vec<PathBuf>);
    let mut groups: Vec<Group> = Vec::new();
    for (log, line) in recent {
        match groups
            .iter_mut()
            .find(|g| g.0 == line.code && g.1 == line.path)
        {
            Some(g) => {
                g.2 += 1;
                if !g.4.contains(&log) {
                    g.4.push(log);
                }
                g.3 = line;
            }
            None => groups.push((line.code, line.path.clone(), 1, line, vec![log])),
        }
    }
    let who = site
        .apache()
        .map(|(_, r)| r.worker().map_err(str::to_string));
    let mut findings: Vec<Finding> = Vec::new();
    for (code, path, count, line, logs) in groups.iter().take(MAX_GROUPS) {
        let (meaning, check) = code.meaning();
        let severity = match code {
            Code::NoIndex => Severity::Info,
            Code::NotFound => Severity::Warning,
            _ => Severity::Error,
        };
        let times = if *count == 1 {
            "1 time".to_string()
        } else {
            format!("{count} times")
        };
        let mut f = Finding::new(severity, format!("{times}: {}", line.text))
            .evidence(
                "meaning",
                format!("{} ({}): {meaning}", code.ah(), code.status()),
            )
            .evidence("explained by", check);
        if let Some(c) = &line.client {
            f = f.evidence("client", c);
        }
        f = f.evidence(
            "log",
            logs.iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        );
        // A permission line: walk the path again as Apache's user.
        let denied = matches!(code, Code::Search | Code::FilePermissions | Code::Htaccess);
        match (denied, path, &who) {
            (true, Some(p), Some(who)) => {
                let who = match who {
                    Ok(w) => Ok(*w),
                    Err(e) => Err(e.clone()),
                };
                let why =
                    crate::live::explain::explain_denied_as(&site.root, who, "Apache's user", p);
                f = f.evidence("cause", &why.cause);
                if let Some(w) = &why.walk {
                    f = f.evidence_lines("walk", w.lines());
                }
                let mut commands = why.commands.clone();
                commands.push(format!("media-doctor explain {check}"));
                f = f.fix(why.fix, commands);
            }
            _ => {
                f = f.fix(
                    format!("{check} finds the cause and prints its fix:"),
                    vec![format!("media-doctor explain {check}")],
                );
            }
        }
        findings.push(f);
    }
    let hidden = hidden(groups.iter().map(|g| g.2));
    let mut notes: Vec<_> = before_reload(before_load, "Apache", "configuration")
        .into_iter()
        .collect();
    if elsewhere > 0 {
        notes.push((
            "other lines",
            format!("{elsewhere} file errors outside the site's directories and prefixes ignored"),
        ));
    }
    conclude(findings, hidden, &read, older.len(), notes, &unreadable)
}

/// The tail of each error log and of its last rotation (`.1`), as (system path, text), and why
/// any could not be read; the skip when none was read.
#[allow(clippy::type_complexity)]
fn read_logs(
    site: &Context<'_>,
    sources: &[errorlog::LogSource],
) -> Result<(Vec<(PathBuf, String)>, Vec<String>), Outcome> {
    let mut read = Vec::new();
    let mut unreadable = Vec::new();
    for src in sources {
        let rotated = PathBuf::from(format!("{}.1", src.path.display()));
        for path in [src.path.clone(), rotated] {
            match errorlog::tail(&site.root, &path, errorlog::TAIL_BYTES) {
                Ok(Some(text)) => read.push((path, text)),
                Ok(None) => {}
                Err(e) => unreadable.push(super::shared::could_not_read(&path, &e)),
            }
        }
    }
    if read.is_empty() {
        let looked: Vec<String> = sources
            .iter()
            .map(|s| format!("{} ({})", s.path.display(), s.why))
            .collect();
        return Err(Outcome::skip(if unreadable.is_empty() {
            format!("no error log found; looked at {}", looked.join(", "))
        } else {
            format!("could not read the error log: {}", unreadable.join("; "))
        }));
    }
    Ok((read, unreadable))
}

/// The groups past MAX_GROUPS, from each group's line count: (kinds, lines), None when all are
/// shown.
fn hidden(counts: impl Iterator<Item = usize>) -> Option<(usize, usize)> {
    let rest: Vec<usize> = counts.skip(MAX_GROUPS).collect();
    (!rest.is_empty()).then(|| (rest.len(), rest.iter().sum()))
}

/// The note on the lines written before `server` last loaded its `config`, when any were.
fn before_reload(n: usize, server: &str, config: &str) -> Option<(&'static str, String)> {
    (n > 0).then(|| {
        (
            "before the reload",
            format!(
                "{n} lines written before {server} last loaded its {config} (not judged: that {config} no longer runs)"
            ),
        )
    })
}

/// The lines within RECENT_SECS of the newest one (and those without a time), then the older.
#[allow(clippy::type_complexity)]
fn split_recent<L>(
    lines: Vec<(PathBuf, L)>,
    when: impl Fn(&L) -> Option<i64>,
) -> (Vec<(PathBuf, L)>, Vec<(PathBuf, L)>) {
    let newest = lines.iter().filter_map(|(_, l)| when(l)).max();
    lines
        .into_iter()
        .partition(|(_, l)| match (when(l), newest) {
            (Some(t), Some(n)) => t >= n - RECENT_SECS,
            _ => true,
        })
}

/// The outcome from the groups' findings: worst first (within a severity, the groups' order:
/// most recent first), then `hidden` (kinds, lines) not shown, then what was read and set aside
/// (`notes`: evidence). Only info findings pass, unless a log went unread.
fn conclude(
    mut findings: Vec<Finding>,
    hidden: Option<(usize, usize)>,
    read: &[(PathBuf, String)],
    older: usize,
    notes: Vec<(&str, String)>,
    unreadable: &[String],
) -> Outcome {
    findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
    if let Some((kinds, lines)) = hidden {
        findings.push(Finding::info(format!(
            "{kinds} more kinds of error ({lines} lines) not shown"
        )));
    }
    let read_names: Vec<String> = read.iter().map(|(p, _)| p.display().to_string()).collect();
    let mut context = Finding::info(format!(
        "read the last {} KiB of each log",
        errorlog::TAIL_BYTES / 1024
    ))
    .evidence("logs", read_names.join(", "));
    if older > 0 {
        context = context.evidence(
            "older lines",
            format!("{older} media/static lines more than 24 h before the newest one (not judged)"),
        );
    }
    for (what, note) in notes {
        context = context.evidence(what, note);
    }
    for u in unreadable {
        context = context.evidence("unreadable", u);
    }
    if findings.iter().all(|f| f.severity == Severity::Info) {
        if !unreadable.is_empty() {
            // Nothing wrong in what could be read, but a log went unread (the current one,
            // while an old rotation was readable): not a pass.
            return Outcome::skip(format!(
                "could not read all of the error log: {} (read: {})",
                unreadable.join("; "),
                read_names.join(", ")
            ));
        }
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
        return Outcome::findings(findings).with_summary(summary);
    }
    findings.push(context);
    Outcome::findings(findings)
}

/// Which lines belong to the site, and which are about its media/static files.
struct Relevance {
    /// Empty when every server block is the site (no --site), or the site has no names.
    names: Vec<String>,
    /// A site of a box whose only names are `_` (a catch-all, Debian's `default`): nginx logs
    /// its requests with `server: _`. A line that names another server is not its.
    catch_all: Vec<String>,
    prefixes: Vec<AppPrefix>,
}

impl Relevance {
    fn of(site: &Site) -> Relevance {
        let all: Vec<String> = if site.name.is_some() {
            server_names(site)
                .into_iter()
                .map(|n| n.to_ascii_lowercase())
                .collect()
        } else {
            Vec::new()
        };
        let names: Vec<String> = all
            .iter()
            .filter(|n| !n.is_empty() && *n != "_" && !n.starts_with('~'))
            .cloned()
            .collect();
        let catch_all = if names.is_empty() && all.iter().all(|n| n == "_") {
            all
        } else {
            Vec::new()
        };
        Relevance {
            names,
            catch_all,
            prefixes: app_prefixes(site),
        }
    }

    fn is_site(&self, line: &Line) -> bool {
        if !self.catch_all.is_empty() {
            return line
                .server
                .as_deref()
                .map_or(true, |s| s.is_empty() || s == "_");
        }
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
        f = f.evidence_lines("walk", w.lines());
    }
    let mut commands = why.commands.clone();
    if let Some(url) = trace_url(line) {
        commands.push(format!(
            "media-doctor trace {}",
            crate::fs::walk::shell_quote(&url)
        ));
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
    // Control bytes and spaces %-encoded: the command is pasted as one line, and asks the
    // same URI (nginx decodes it again).
    const UNSAFE: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS.add(b' ');
    let uri = percent_encoding::utf8_percent_encode(line.uri()?, UNSAFE);
    Some(format!("http://{host}{uri}"))
}
