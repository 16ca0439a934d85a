//! MD4xx: the site as it runs: live HEAD probes and nginx's error log. Skipped with `--offline`.

use super::{Band, Check, Meta, Outcome};
use crate::fs::{walk, Access, Outcome as WalkOutcome};
use crate::live::errorlog::{self, Group, Kind as LineKind, Line};
use crate::live::{app_prefixes, server_names, AppPrefix, Kind};
use crate::report::{Finding, Severity};
use crate::site::Site;
use std::path::{Path, PathBuf};

pub static CHECKS: &[&dyn Check] = &[&ErrorLog];

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

    fn run(&self, site: &Site) -> anyhow::Result<Outcome> {
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
        for g in groups.iter().take(MAX_GROUPS) {
            findings.push(finding_for(site, &filter, g));
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
        let uri = line.uri().map(strip_query);
        self.prefixes.iter().find(|p| {
            p.url
                .as_deref()
                .zip(uri)
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

fn strip_query(uri: &str) -> &str {
    uri.split(['?', '#']).next().unwrap_or(uri)
}

/// One finding for a group of repeated lines: what nginx said, how often, and which check
/// explains it.
fn finding_for(site: &Site, filter: &Relevance, g: &Group) -> Finding {
    let line = &g.latest;
    let why = explain(site, filter, line);
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
        if g.count == 1 {
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

struct Explanation {
    severity: Severity,
    cause: String,
    checks: Vec<&'static str>,
    walk: Option<String>,
    fix: String,
    commands: Vec<String>,
}

impl Explanation {
    fn new(severity: Severity, cause: impl Into<String>, checks: &[&'static str]) -> Self {
        Explanation {
            severity,
            cause: cause.into(),
            checks: checks.to_vec(),
            walk: None,
            fix: "see the explaining check; trace the URL to see how nginx maps it".into(),
            commands: Vec::new(),
        }
    }
}

const EACCES: i32 = 13;
const ENOENT: i32 = 2;
const ENOTDIR: i32 = 20;
const ENAMETOOLONG: i32 = 36;
const ELOOP: i32 = 40;
const EMLINK: i32 = 31;

/// Map a line to its likely cause and the check that covers it.
fn explain(site: &Site, filter: &Relevance, line: &Line) -> Explanation {
    match &line.kind {
        LineKind::DirectoryIndex => {
            let mut e = Explanation::new(
                Severity::Info,
                "a directory URL was requested; there is no index file and autoindex is off, \
                 so nginx answers 403: expected unless a page links to the directory",
                &["MD109"],
            );
            e.fix =
                "link to files, not to the directory; never turn autoindex on for uploads".into();
            e
        }
        LineKind::DeniedByRule => {
            let mut e = Explanation::new(
                Severity::Warning,
                "an allow/deny rule in the location that serves this URL refused it (a `deny \
                 all` location such as `location ~ /\\.` can win for media URLs)",
                &["MD105"],
            );
            e.fix =
                "trace the URL to see which location answers, and give the media location `^~` \
                     if a deny location shadows it"
                    .into();
            e
        }
        LineKind::IndexNotFound { .. } => Explanation::new(
            Severity::Info,
            "a directory URL was requested and its index file does not exist",
            &[],
        ),
        LineKind::CallFailed { errno, .. } | LineKind::IndexForbidden { errno, .. } => {
            let path = line.path.as_deref().unwrap_or(Path::new(""));
            match *errno {
                EACCES => explain_denied(site, path),
                ELOOP | EMLINK => {
                    let mut e = Explanation::new(
                        Severity::Error,
                        "a symlink on the path is refused: `disable_symlinks` is on, or the \
                         links loop",
                        &["MD207"],
                    );
                    e.fix = "serve the real directory (point alias/root at the link's target), \
                             or set `disable_symlinks off;` for this location"
                        .into();
                    e
                }
                ENOENT | ENOTDIR | ENAMETOOLONG => explain_missing(filter, line, path),
                _ => Explanation::new(
                    Severity::Warning,
                    format!("nginx could not open the file (errno {errno})"),
                    &[],
                ),
            }
        }
    }
}

/// EACCES: walk the path as the worker user now, and name the component that stops it.
fn explain_denied(site: &Site, path: &Path) -> Explanation {
    let mut e = Explanation::new(
        Severity::Error,
        "the nginx worker user may not traverse a parent directory (x) or read the file (r)",
        &["MD202", "MD203"],
    );
    e.fix = "give the worker user what it lacks (least widening first):".into();
    let who = match site.worker.identity() {
        Ok(who) => who,
        Err(why) => {
            e.cause = format!("{}; {why}", e.cause);
            return e;
        }
    };
    let w = walk(&site.root, path, who, Access::READ);
    match &w.outcome {
        WalkOutcome::Denied { at, needs } => {
            e.cause = if at == path {
                e.checks = vec!["MD203"];
                format!("{} cannot read {} (needs {needs})", who.name, at.display())
            } else {
                e.checks = vec!["MD202"];
                format!(
                    "{} cannot traverse {} (needs {needs})",
                    who.name,
                    at.display()
                )
            };
            if let Some(step) = w.failing_step() {
                let db = crate::fs::identity::UserDb::load(&site.root);
                e.commands = crate::fs::walk::grant_commands(step, who, |gid| db.group_name(gid));
            }
        }
        WalkOutcome::Found { .. } => {
            e.severity = Severity::Warning;
            e.checks = vec!["MD208"];
            e.cause = format!(
                "{} can read it now by the mode bits: fixed since that line, or SELinux/AppArmor \
                 denies what the mode bits allow",
                who.name
            );
            e.fix = "if it still fails, check the security label or profile (MD208)".into();
        }
        WalkOutcome::Missing { at } => {
            e.severity = Severity::Warning;
            e.cause = format!("{} does not exist any more", at.display());
        }
        other => e.cause = format!("{}; the walk now says: {other}", e.cause),
    }
    e.walk = Some(w.render());
    e
}

/// ENOENT/ENOTDIR: a path nginx built wrongly (alias without slash, root repeating the prefix, a
/// root other than the app's), or simply a file that is not there.
fn explain_missing(filter: &Relevance, line: &Line, path: &Path) -> Explanation {
    let uri = line.uri().map(strip_query).map(percent_decode);
    let path_s = path.to_string_lossy();
    if let Some(uri) = uri.as_deref() {
        let last = uri.rsplit('/').next().unwrap_or("");
        // alias /srv/media; + /media/a.jpg → /srv/mediaa.jpg: the file name glued to the dir.
        if !last.is_empty() && path_s.ends_with(last) && !path_s.ends_with(&format!("/{last}")) {
            let mut e = Explanation::new(
                Severity::Error,
                format!(
                    "nginx glued the file name to the directory ({}): an `alias` without the \
                     trailing slash of its location",
                    path.display()
                ),
                &["MD101"],
            );
            e.fix = "end alias with / when the location ends with /".into();
            return e;
        }
        // root /srv/media; in location /media/ → /srv/media/media/a.jpg.
        if let Some(first) = uri.trim_start_matches('/').split('/').next() {
            let doubled = format!("/{first}/{first}/");
            if !first.is_empty() && uri.contains('/') && path_s.contains(&doubled) {
                let mut e = Explanation::new(
                    Severity::Error,
                    format!(
                        "the URL prefix appears twice in {}: `root` where `alias` was meant",
                        path.display()
                    ),
                    &["MD103"],
                );
                e.fix = "use `alias /dir/;` in the location, or root the parent directory".into();
                return e;
            }
        }
    }
    if let Some(p) = filter.prefix_of(line) {
        if let Some(root) = &p.root {
            let (check, setting) = match p.kind {
                Kind::Media => ("MD302", "MEDIA_ROOT"),
                Kind::Static => ("MD304", "STATIC_ROOT"),
            };
            if !path.starts_with(root) {
                let mut e = Explanation::new(
                    Severity::Error,
                    format!(
                        "nginx looks in {}, but the app's {setting} is {}",
                        path.parent().unwrap_or(path).display(),
                        root.display()
                    ),
                    &[check],
                );
                e.fix = format!("point the location's alias at {setting}");
                return e;
            }
            let (check, what) = match p.kind {
                Kind::Media => (
                    "MD210",
                    "the upload is not there (deleted, never saved, or saved on another host or release)",
                ),
                Kind::Static => (
                    "MD205",
                    "the static file is not in STATIC_ROOT: collectstatic (or the copy step) was not run",
                ),
            };
            let mut e = Explanation::new(Severity::Warning, what, &[check, "MD206"]);
            e.fix = match p.kind {
                Kind::Media => {
                    "check where the app saves uploads; keep media outside release directories"
                        .into()
                }
                Kind::Static => "run collectstatic:".into(),
            };
            if p.kind == Kind::Static {
                e.commands = vec!["python manage.py collectstatic --noinput".into()];
            }
            return e;
        }
    }
    let mut e = Explanation::new(
        Severity::Warning,
        "no such file: a link to a file that was never uploaded or was deleted, or a path \
         nginx builds wrongly",
        &["MD210"],
    );
    e.fix = "trace the URL: it shows the file nginx opens and why".into();
    e
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

/// `%20` → ` ` (the log's request line is as sent; its path is decoded).
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
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

    #[test]
    fn percent_escapes_are_decoded() {
        assert_eq!(percent_decode("/media/a%20b.jpg"), "/media/a b.jpg");
        assert_eq!(percent_decode("/x%2"), "/x%2");
        assert_eq!(percent_decode("/x%zz"), "/x%zz");
    }
}
