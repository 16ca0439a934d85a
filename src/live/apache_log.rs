//! Apache httpd's error log: which files the site logs to and the lines that explain a 403/404
//! for a file, parsed with the meaning of their `AH` code (what MD405 reads when Apache is the
//! server judged; nginx's lines are `errorlog`'s).
//!
//! Apache 2.4's default `ErrorLogFormat`:
//!
//! ```text
//! [Thu Dec 03 03:30:10.123456 2026] [authz_core:error] [pid 811:tid 812] [client 127.0.0.1:5555] AH01630: client denied by server configuration: /srv/myapp/media/a.jpg
//! ```

use crate::apache::Config;
use std::path::PathBuf;

/// The error logs the configuration writes to: every `ErrorLog` (main server and virtual hosts,
/// relative to ServerRoot), else the distribution's default. Pipes (`|program`) and `syslog`
/// are not files and are left out.
pub fn sources(cfg: &Config, vhosts: &[crate::apache::NodeId]) -> Vec<super::errorlog::LogSource> {
    let mut out: Vec<super::errorlog::LogSource> = Vec::new();
    let mut push = |path: PathBuf, why: String| {
        if !out.iter().any(|s| s.path == path) {
            out.push(super::errorlog::LogSource { path, why });
        }
    };
    let file = |d: &crate::apache::Directive<'_>| {
        let t = d.arg(0)?;
        (!t.starts_with('|') && !t.starts_with("syslog")).then(|| cfg.root_relative(t))
    };
    let main = cfg.top().filter(|d| d.is("ErrorLog")).last();
    for &v in vhosts {
        if let Some(d) = cfg
            .directive(v)
            .children()
            .filter(|d| d.is("ErrorLog"))
            .last()
        {
            if let Some(p) = file(&d) {
                push(
                    p,
                    format!("ErrorLog at {}:{}", d.file().display(), d.line()),
                );
            }
        }
    }
    match main {
        Some(d) => {
            if let Some(p) = file(&d) {
                push(
                    p,
                    format!("ErrorLog at {}:{}", d.file().display(), d.line()),
                );
            }
        }
        None => {
            let rhel = cfg.server_root.starts_with("/etc/httpd");
            let (p, why) = if rhel {
                (
                    "/var/log/httpd/error_log",
                    "httpd's default (logs/error_log)",
                )
            } else {
                (
                    "/var/log/apache2/error.log",
                    "the distribution's usual error log",
                )
            };
            push(PathBuf::from(p), why.into());
        }
    }
    out
}

/// What a line says went wrong, by its `AH` code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Code {
    /// AH01630: `Require` denied the request (no `<Directory>` granting the path: `<Directory />`'s
    /// deny applies), 403.
    Denied,
    /// AH01797: denied by 2.2's `Order`/`Deny` (mod_access_compat), 403.
    DeniedCompat,
    /// AH00035: a directory on the path cannot be searched by Apache's user, 403.
    Search,
    /// AH00132: the file's permissions deny Apache's user, 403.
    FilePermissions,
    /// AH00037: a symbolic link Options do not let Apache follow (or its target is gone), 403.
    Symlink,
    /// AH00529: a `.htaccess` Apache's user cannot read (or whose directory it cannot search), 403.
    Htaccess,
    /// AH00128: the file does not exist, 404.
    NotFound,
    /// AH01276: a directory without an index and without `Options Indexes`, 403 (expected for a
    /// request of a directory).
    NoIndex,
}

impl Code {
    fn of(ah: &str) -> Option<Code> {
        Some(match ah {
            "AH01630" => Code::Denied,
            "AH01797" => Code::DeniedCompat,
            "AH00035" => Code::Search,
            "AH00132" => Code::FilePermissions,
            "AH00037" => Code::Symlink,
            "AH00529" => Code::Htaccess,
            "AH00128" => Code::NotFound,
            "AH01276" => Code::NoIndex,
            _ => return None,
        })
    }

    pub fn ah(self) -> &'static str {
        match self {
            Code::Denied => "AH01630",
            Code::DeniedCompat => "AH01797",
            Code::Search => "AH00035",
            Code::FilePermissions => "AH00132",
            Code::Symlink => "AH00037",
            Code::Htaccess => "AH00529",
            Code::NotFound => "AH00128",
            Code::NoIndex => "AH01276",
        }
    }

    /// The status the client got.
    pub fn status(self) -> u16 {
        match self {
            Code::NotFound => 404,
            _ => 403,
        }
    }

    /// What it means, and the check that finds its cause.
    pub fn meaning(self) -> (&'static str, &'static str) {
        match self {
            Code::Denied => (
                "no <Directory> section grants the path (Require all granted), so <Directory />'s \
                 `Require all denied` applies, or a section denies it",
                "MD501",
            ),
            Code::DeniedCompat => (
                "denied by Apache 2.2's Order/Deny lines (mod_access_compat): replace them with \
                 Require",
                "MD501",
            ),
            Code::Search => (
                "Apache's user cannot search (x) a directory on the path",
                "MD202",
            ),
            Code::FilePermissions => ("Apache's user cannot read the file", "MD203"),
            Code::Symlink => (
                "a symbolic link on the path is not followed (Options without FollowSymLinks, \
                 SymLinksIfOwnerMatch with another owner) or points to nothing",
                "MD505",
            ),
            Code::Htaccess => (
                "a .htaccess Apache's user cannot read (or in a directory it cannot search) \
                 refuses every request below it",
                "MD202",
            ),
            Code::NotFound => (
                "the file Apache built the path to does not exist (an Alias without its trailing \
                 slash runs the name into the directory's, MD501; a missing directory, MD201)",
                "MD201",
            ),
            Code::NoIndex => (
                "a directory was asked for: no index file and no Options Indexes (expected: the \
                 uploads are not listed)",
                "MD503",
            ),
        }
    }
}

/// One parsed line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// Seconds since the epoch (UTC as written; Apache writes local time, which is UTC on a
    /// server set so).
    pub when: Option<i64>,
    pub code: Code,
    /// The file or directory (the filesystem path Apache names).
    pub path: Option<PathBuf>,
    /// The URL path, when the line names it (AH00035).
    pub uri: Option<String>,
    pub client: Option<String>,
    pub text: String,
}

/// A line of the error log, when it is one of the `Code`s.
pub fn parse_line(line: &str) -> Option<Line> {
    let rest = line.strip_prefix('[')?;
    let (time, rest) = rest.split_once(']')?;
    let when = parse_time(time);
    // `[module:level] [pid P:tid T] (13)Permission denied: [client IP:PORT] AHnnnnn: text`: the
    // errno part (when there is one) comes before the client.
    let client = rest
        .split_once("[client ")
        .and_then(|(_, c)| c.split_once(']'))
        .map(|(c, _)| c.to_string());
    let at = ah_code_at(rest)?;
    let msg = rest[at..].trim();
    let (ah, text) = msg.split_once(": ")?;
    let code = Code::of(ah)?;
    let (path, uri) = match code {
        // "access to /media/a.jpg denied (filesystem path '/srv/media/a.jpg') because ..."
        Code::Search => {
            let uri = text
                .strip_prefix("access to ")
                .and_then(|t| t.split_once(" denied"))
                .map(|(u, _)| u.to_string());
            let path = text
                .split_once("(filesystem path '")
                .and_then(|(_, t)| t.split_once("')"))
                .map(|(p, _)| PathBuf::from(p));
            (path, uri)
        }
        // "/srv/media/.htaccess pcfg_openfile: unable to check htaccess file, ..."
        Code::Htaccess => (text.split_once(' ').map(|(p, _)| PathBuf::from(p)), None),
        // "Cannot serve directory /srv/media/: No matching DirectoryIndex ..."
        Code::NoIndex => (
            text.strip_prefix("Cannot serve directory ")
                .and_then(|t| t.split_once(": "))
                .map(|(p, _)| PathBuf::from(p)),
            None,
        ),
        // "...: /srv/media/a.jpg" (the path last; a referer may follow after ", referer: ")
        _ => {
            let t = text.split(", referer: ").next().unwrap_or(text);
            (
                t.rsplit_once(": ")
                    .map(|(_, p)| p)
                    .filter(|p| p.starts_with('/'))
                    .map(PathBuf::from),
                None,
            )
        }
    };
    Some(Line {
        when,
        code,
        path,
        uri,
        client,
        text: msg.to_string(),
    })
}

/// The last time the log says Apache (re)loaded its configuration: its MPM's notice
/// "configured -- resuming normal operations" (AH00163 prefork, AH00292 worker, AH00489 event),
/// written at every start and every restart, graceful or not (a notice is logged whatever the
/// `LogLevel`). The time (`parse_time`'s seconds) and the line.
pub fn last_start(text: &str) -> Option<(i64, &str)> {
    text.lines().rev().find_map(|line| {
        if !line.contains("configured -- resuming normal operations") {
            return None;
        }
        let (time, _) = line.strip_prefix('[')?.split_once(']')?;
        Some((parse_time(time)?, line))
    })
}

/// Where the first `AHnnnnn: ` of the text starts.
fn ah_code_at(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    (0..b.len().saturating_sub(8)).find(|&i| {
        b[i] == b'A'
            && b[i + 1] == b'H'
            && b[i + 2..i + 7].iter().all(u8::is_ascii_digit)
            && b[i + 7] == b':'
            && (i == 0 || !b[i - 1].is_ascii_alphanumeric())
    })
}

/// `Thu Dec 03 03:30:10.123456 2026` as seconds since the epoch.
pub fn parse_time(t: &str) -> Option<i64> {
    let w: Vec<&str> = t.split_whitespace().collect();
    let [_, mon, day, hms, year] = w.as_slice() else {
        return None;
    };
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let m = MONTHS.iter().position(|x| x == mon)? as i64 + 1;
    let d: i64 = day.parse().ok()?;
    let y: i64 = year.parse().ok()?;
    let hms = hms.split('.').next()?;
    let mut parts = hms.split(':').map(|p| p.parse::<i64>().ok());
    let (h, mi, s) = (parts.next()??, parts.next()??, parts.next()??);
    // The nginx log's date parser, on the same civil date: one calendar for both logs.
    super::errorlog::parse_time(&format!("{y:04}/{m:02}/{d:02} {h:02}:{mi:02}:{s:02}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_start_is_the_last_resuming_line() {
        let log = "[Thu Dec 03 03:00:00.000001 2026] [mpm_event:notice] [pid 10:tid 11] AH00489: Apache/2.4.62 (Debian) configured -- resuming normal operations\n\
                   [Thu Dec 03 03:10:00.5 2026] [mpm_event:notice] [pid 10:tid 11] AH00493: SIGUSR1 received.  Doing graceful restart\n\
                   [Thu Dec 03 03:10:01.5 2026] [mpm_prefork:notice] [pid 10] AH00163: Apache/2.4.62 (Debian) configured -- resuming normal operations\n\
                   [Thu Dec 03 03:20:00.5 2026] [core:error] [pid 12] AH00132: file permissions deny server access: /srv/a.jpg\n";
        let (t, line) = last_start(log).unwrap();
        assert_eq!(t, parse_time("Thu Dec 03 03:10:01.5 2026").unwrap());
        assert!(line.contains("AH00163"), "{line}");
        assert_eq!(
            last_start("[Thu Dec 03 03:20:00.5 2026] [core:error] [pid 12] AH00132: x\n"),
            None
        );
    }

    #[test]
    fn apache_lines_parse_with_their_meaning() {
        let l = parse_line("[Thu Dec 03 03:30:10.123456 2026] [authz_core:error] [pid 811:tid 812] [client 127.0.0.1:5555] AH01630: client denied by server configuration: /srv/myapp/media/a.jpg").unwrap();
        assert_eq!(l.code, Code::Denied);
        assert_eq!(l.path, Some(PathBuf::from("/srv/myapp/media/a.jpg")));
        assert_eq!(l.client.as_deref(), Some("127.0.0.1:5555"));
        assert_eq!(
            l.when,
            super::super::errorlog::parse_time("2026/12/03 03:30:10")
        );
        let l = parse_line("[Thu Dec 03 03:30:11.000001 2026] [core:error] [pid 811:tid 812] [client 127.0.0.1:5556] AH00035: access to /media/uploads/a.jpg denied (filesystem path '/srv/myapp/media/uploads/a.jpg') because search permissions are missing on a component of the path").unwrap();
        assert_eq!(l.code, Code::Search);
        assert_eq!(l.uri.as_deref(), Some("/media/uploads/a.jpg"));
        assert_eq!(
            l.path,
            Some(PathBuf::from("/srv/myapp/media/uploads/a.jpg"))
        );
        let l = parse_line("[Thu Dec 03 03:30:12.5 2026] [core:error] [pid 1] [client ::1:4] AH00132: file permissions deny server access: /srv/myapp/media/uploads/a.jpg, referer: http://x/").unwrap();
        assert_eq!(l.code, Code::FilePermissions);
        assert_eq!(
            l.path,
            Some(PathBuf::from("/srv/myapp/media/uploads/a.jpg"))
        );
        let l = parse_line("[Thu Dec 03 03:30:12.5 2026] [autoindex:error] [pid 1] [client 1.2.3.4:5] AH01276: Cannot serve directory /srv/myapp/media/: No matching DirectoryIndex (index.html) found, and server-generated directory index forbidden by Options directive").unwrap();
        assert_eq!(l.code, Code::NoIndex);
        assert_eq!(l.path, Some(PathBuf::from("/srv/myapp/media/")));
        // A .htaccess Apache's user cannot reach (AllowOverride lets .htaccess files in).
        let l = parse_line("[Thu Dec 03 04:10:44.793439 2026] [core:crit] [pid 3146:tid 3204] (13)Permission denied: [client 127.0.0.1:42486] AH00529: /srv/myapp/.htaccess pcfg_openfile: unable to check htaccess file, ensure it is readable and that '/srv/myapp/' is executable").unwrap();
        assert_eq!(l.code, Code::Htaccess);
        assert_eq!(l.path, Some(PathBuf::from("/srv/myapp/.htaccess")));
        // Start-up notices and unknown codes are not file errors.
        assert!(parse_line("[Thu Dec 03 03:30:09.1 2026] [mpm_event:notice] [pid 1:tid 1] AH00489: Apache/2.4.62 (Debian) configured -- resuming normal operations").is_none());
        assert!(parse_line("garbage").is_none());
    }
}
