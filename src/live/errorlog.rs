//! nginx's error log: which files the site logs to, the tail of each (bounded, the rotated `.1`
//! too), and the lines that explain a 403/404 for a file, parsed and grouped.
//!
//! Only the lines nginx writes when it cannot serve a file are kept:
//!
//! ```text
//! 2024/05/01 12:00:01 [error] 811#811: *3 open() "/srv/media/a.jpg" failed (13: Permission denied), client: 10.0.0.9, server: example.com, request: "GET /media/a.jpg HTTP/1.1", host: "example.com"
//! 2024/05/01 12:00:02 [error] 811#811: *4 directory index of "/srv/media/" is forbidden, client: ...
//! 2024/05/01 12:00:03 [error] 811#811: *5 access forbidden by rule, client: ...
//! 2024/05/01 12:00:04 [error] 811#811: *6 "/srv/www/index.html" is not found (2: No such file or directory), client: ...
//! ```

use crate::nginx::Config;
use crate::sysroot::SysRoot;
use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// How much of each log file's end is read. Enough for thousands of lines; never the whole log.
pub const TAIL_BYTES: u64 = 512 * 1024;

/// A log file worth reading, and why (shown in the evidence).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSource {
    /// The system path.
    pub path: PathBuf,
    pub why: String,
}

/// The error logs the config writes to: every `error_log` directive (main, http, server,
/// location), and nginx's defaults when the main context sets none (`logs/error.log` under the
/// prefix, and Debian's /var/log/nginx/error.log). `stderr`, `syslog:` and `memory:` targets
/// are not files and are left out.
pub fn sources(cfg: &Config) -> Vec<LogSource> {
    let mut out: Vec<LogSource> = Vec::new();
    let mut push = |path: PathBuf, why: String| {
        if !out.iter().any(|s| s.path == path) {
            out.push(LogSource { path, why });
        }
    };
    let mut main_sets_one = false;
    // A config with no files (nothing loaded) has no main context to look in.
    let mut stack: Vec<(crate::nginx::Directive<'_>, bool)> = if cfg.files.is_empty() {
        Vec::new()
    } else {
        cfg.top().map(|d| (d, true)).collect()
    };
    stack.reverse();
    while let Some((d, at_main)) = stack.pop() {
        if d.is("error_log") {
            if at_main {
                main_sets_one = true;
            }
            if let Some(target) = d.arg(0) {
                if let Some(path) = file_target(target, &cfg.prefix) {
                    push(path, format!("error_log at {}", d.location()));
                }
            }
        }
        if d.has_block() {
            let mut kids: Vec<_> = d.children().map(|c| (c, false)).collect();
            kids.reverse();
            stack.extend(kids);
        }
    }
    if !main_sets_one {
        push(
            cfg.prefix.join("logs/error.log"),
            "nginx's default (logs/error.log under the prefix)".into(),
        );
        push(
            PathBuf::from("/var/log/nginx/error.log"),
            "the distribution's usual error log".into(),
        );
    }
    out
}

fn file_target(target: &str, prefix: &Path) -> Option<PathBuf> {
    if target == "stderr" || target.starts_with("syslog:") || target.starts_with("memory:") {
        return None;
    }
    let p = Path::new(target);
    Some(if p.is_absolute() {
        p.to_path_buf()
    } else {
        prefix.join(p)
    })
}

/// The last `max` bytes of a file, from the first whole line. `Ok(None)` when it does not exist.
/// Only a regular file is read: a log shipped through a named pipe (or a device) would block
/// the open, or the read, for ever.
pub fn tail(root: &SysRoot, path: &Path, max: u64) -> std::io::Result<Option<String>> {
    use std::os::unix::fs::OpenOptionsExt;
    let host = root.host_path(path);
    // O_NONBLOCK: opening a FIFO with no writer returns at once instead of waiting for one.
    let mut f = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&host)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let meta = f.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::other(
            "not a regular file (a pipe or a device): not read",
        ));
    }
    let len = meta.len();
    let start = len.saturating_sub(max);
    f.seek(SeekFrom::Start(start))?;
    let mut buf = Vec::with_capacity((len - start) as usize);
    f.take(max).read_to_end(&mut buf)?;
    let mut text = String::from_utf8_lossy(&buf).into_owned();
    if start > 0 {
        // The first line was cut: drop it.
        text = text
            .split_once('\n')
            .map(|(_, rest)| rest.to_string())
            .unwrap_or_default();
    }
    Ok(Some(text))
}

/// What an error line says went wrong.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// `open() "PATH" failed (13: Permission denied)`, also `stat()`, `realpath()`, ...
    CallFailed {
        call: String,
        errno: i32,
        text: String,
    },
    /// `"PATH" is forbidden (13: Permission denied)`: an index file nginx cannot open.
    IndexForbidden { errno: i32, text: String },
    /// `"PATH" is not found (2: No such file or directory)`: an index file that is missing.
    IndexNotFound { errno: i32, text: String },
    /// `directory index of "PATH" is forbidden`: a directory URL, no index file, autoindex off.
    DirectoryIndex,
    /// `access forbidden by rule`: an allow/deny rule.
    DeniedByRule,
}

impl Kind {
    pub fn errno(&self) -> Option<i32> {
        match self {
            Kind::CallFailed { errno, .. }
            | Kind::IndexForbidden { errno, .. }
            | Kind::IndexNotFound { errno, .. } => Some(*errno),
            Kind::DirectoryIndex | Kind::DeniedByRule => None,
        }
    }
}

/// One parsed error line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// As nginx wrote it (local time): `2024/05/01 12:00:01`.
    pub time: String,
    pub level: String,
    pub kind: Kind,
    /// The file or directory the line names (none for `access forbidden by rule`).
    pub path: Option<PathBuf>,
    /// The message as logged, without the connection context.
    pub message: String,
    /// `GET /media/a.jpg HTTP/1.1`.
    pub request: Option<String>,
    pub server: Option<String>,
    pub host: Option<String>,
    pub client: Option<String>,
}

impl Line {
    /// The URI the request line names (`/media/a.jpg`), when there is one.
    pub fn uri(&self) -> Option<&str> {
        // `METHOD URI PROTOCOL`, split at spaces only: a CR or a tab in the URI is the URI's.
        let request = self.request.as_deref()?;
        let (_, rest) = request.split_once(' ')?;
        let uri = match rest.rsplit_once(' ') {
            Some((uri, protocol)) if protocol.starts_with("HTTP/") => uri,
            _ => rest,
        };
        (!uri.is_empty()).then_some(uri)
    }
    /// The URI's path, without query, %-decoded (as nginx maps it to a file).
    pub fn uri_path(&self) -> Option<String> {
        let uri = self.uri()?;
        let path = uri.split(['?', '#']).next().unwrap_or(uri);
        Some(
            percent_encoding::percent_decode_str(path)
                .decode_utf8_lossy()
                .into_owned(),
        )
    }
    /// Seconds for ordering (local time as written; no time zone needed to compare lines).
    pub fn when(&self) -> Option<i64> {
        parse_time(&self.time)
    }
}

/// Parse one error-log line; `None` for lines that are not about serving a file.
pub fn parse_line(line: &str) -> Option<Line> {
    // `YYYY/MM/DD HH:MM:SS [level] PID#TID: *CID message, client: ...`
    let time = line.get(..19)?;
    parse_time(time)?;
    let rest = line.get(19..)?.trim_start();
    let rest = rest.strip_prefix('[')?;
    let (level, rest) = rest.split_once("] ")?;
    let (_, rest) = rest.split_once(": ")?; // PID#TID
    let rest = match rest.strip_prefix('*') {
        Some(r) => r.split_once(' ')?.1, // connection number
        None => rest,
    };
    let (kind, path, consumed) = parse_message(rest)?;
    let context = &rest[consumed..];
    let message = rest[..consumed].trim_end_matches(',').to_string();
    Some(Line {
        time: time.to_string(),
        level: level.to_string(),
        kind,
        path,
        message,
        request: field(context, "request"),
        server: field(context, "server"),
        host: field(context, "host"),
        client: field(context, "client"),
    })
}

/// The message's kind, its path, and how many bytes it spans (the connection context follows).
fn parse_message(msg: &str) -> Option<(Kind, Option<PathBuf>, usize)> {
    if let Some(r) = msg.strip_prefix("directory index of \"") {
        let end = r.find("\" is forbidden")?;
        let consumed = "directory index of \"".len() + end + "\" is forbidden".len();
        return Some((
            Kind::DirectoryIndex,
            Some(PathBuf::from(&r[..end])),
            consumed,
        ));
    }
    if msg.starts_with("access forbidden by rule") {
        return Some((Kind::DeniedByRule, None, "access forbidden by rule".len()));
    }
    if let Some(r) = msg.strip_prefix('"') {
        // `"PATH" is forbidden (13: ...)` / `"PATH" is not found (2: ...)`
        for (tail, forbidden) in [("\" is forbidden (", true), ("\" is not found (", false)] {
            if let Some(end) = r.find(tail) {
                let (errno, text, len) = errno_part(&r[end + tail.len()..])?;
                let consumed = 1 + end + tail.len() + len;
                let kind = if forbidden {
                    Kind::IndexForbidden { errno, text }
                } else {
                    Kind::IndexNotFound { errno, text }
                };
                return Some((kind, Some(PathBuf::from(&r[..end])), consumed));
            }
        }
        return None;
    }
    // `open() "PATH" failed (13: Permission denied)`
    let (call, r) = msg.split_once("() \"")?;
    if call.is_empty() || !call.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return None;
    }
    let end = r.find("\" failed (")?;
    let after = &r[end + "\" failed (".len()..];
    let (errno, text, len) = errno_part(after)?;
    let consumed = call.len() + "() \"".len() + end + "\" failed (".len() + len;
    Some((
        Kind::CallFailed {
            call: call.to_string(),
            errno,
            text,
        },
        Some(PathBuf::from(&r[..end])),
        consumed,
    ))
}

/// `13: Permission denied)` → (13, "Permission denied", bytes up to and including `)`).
fn errno_part(s: &str) -> Option<(i32, String, usize)> {
    let close = s.find(')')?;
    let (num, text) = s[..close].split_once(": ")?;
    Some((num.trim().parse().ok()?, text.to_string(), close + 1))
}

/// `, request: "GET /x HTTP/1.1"` or `, client: 1.2.3.4` from the context after the message.
fn field(context: &str, name: &str) -> Option<String> {
    let key = format!(", {name}: ");
    let start = context.find(&key)? + key.len();
    let v = &context[start..];
    if let Some(q) = v.strip_prefix('"') {
        return Some(q[..q.find('"')?].to_string());
    }
    Some(v.split(',').next()?.trim().to_string())
}

/// A moment as nginx writes it in the error log (the local time of this machine), in the
/// seconds `parse_time` gives: lines can be compared with it.
pub fn log_time(t: std::time::SystemTime) -> Option<i64> {
    let secs = t.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs() as libc::time_t;
    // SAFETY: localtime_r writes only into `tm`, which outlives the call.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let ok = unsafe { !libc::localtime_r(&secs, &mut tm).is_null() };
    ok.then(|| secs as i64 + tm.tm_gmtoff as i64)
}

/// `2024/05/01 12:00:01` → seconds since 1970 as if UTC (for ordering and windows only).
pub fn parse_time(t: &str) -> Option<i64> {
    let b = t.as_bytes();
    if b.len() != 19 || b[4] != b'/' || b[7] != b'/' || b[10] != b' ' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> { t.get(r)?.parse().ok() };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    Some(days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// Repeats of the same problem on the same path, counted.
#[derive(Debug, Clone)]
pub struct Group {
    pub kind: Kind,
    pub path: Option<PathBuf>,
    pub count: usize,
    pub first: String,
    pub last: String,
    /// The most recent line of the group (its request, host, client).
    pub latest: Line,
    /// The log files it was seen in.
    pub logs: Vec<PathBuf>,
}

/// Group lines by (kind, path, request URI for path-less lines), most recent group first.
pub fn group(lines: Vec<(PathBuf, Line)>) -> Vec<Group> {
    type Key = (Kind, Option<PathBuf>, Option<String>);
    let mut groups: BTreeMap<Key, Group> = BTreeMap::new();
    for (log, line) in lines {
        let uri = match line.path {
            None => line.uri().map(str::to_string),
            Some(_) => None,
        };
        let key = (line.kind.clone(), line.path.clone(), uri);
        let g = groups.entry(key).or_insert_with(|| Group {
            kind: line.kind.clone(),
            path: line.path.clone(),
            count: 0,
            first: line.time.clone(),
            last: line.time.clone(),
            latest: line.clone(),
            logs: Vec::new(),
        });
        g.count += 1;
        if line.when() < g.first_when() {
            g.first = line.time.clone();
        }
        if line.when() >= g.latest.when() {
            g.last = line.time.clone();
            g.latest = line;
        }
        if !g.logs.contains(&log) {
            g.logs.push(log);
        }
    }
    let mut out: Vec<Group> = groups.into_values().collect();
    out.sort_by_key(|g| std::cmp::Reverse(g.latest.when()));
    out
}

impl Group {
    fn first_when(&self) -> Option<i64> {
        parse_time(&self.first)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPEN13: &str = r#"2024/05/01 12:00:01 [error] 811#811: *3 open() "/srv/media/a.jpg" failed (13: Permission denied), client: 10.0.0.9, server: example.com, request: "GET /media/a.jpg HTTP/1.1", host: "example.com""#;

    #[test]
    fn open_failures_are_parsed_with_their_request() {
        let l = parse_line(OPEN13).unwrap();
        assert_eq!(l.time, "2024/05/01 12:00:01");
        assert_eq!(l.level, "error");
        assert_eq!(l.path.as_deref(), Some(Path::new("/srv/media/a.jpg")));
        assert_eq!(
            l.kind,
            Kind::CallFailed {
                call: "open".into(),
                errno: 13,
                text: "Permission denied".into()
            }
        );
        assert_eq!(l.uri(), Some("/media/a.jpg"));
        assert_eq!(l.server.as_deref(), Some("example.com"));
        assert_eq!(l.host.as_deref(), Some("example.com"));
        assert_eq!(l.client.as_deref(), Some("10.0.0.9"));
        assert_eq!(
            l.message,
            r#"open() "/srv/media/a.jpg" failed (13: Permission denied)"#
        );
    }

    #[test]
    fn every_kind_of_file_error_is_recognised() {
        let d = parse_line(r#"2024/05/01 12:00:02 [error] 1#1: *4 directory index of "/srv/media/" is forbidden, client: 1.2.3.4, server: _, request: "GET /media/ HTTP/1.1", host: "x""#).unwrap();
        assert_eq!(d.kind, Kind::DirectoryIndex);
        assert_eq!(d.path.as_deref(), Some(Path::new("/srv/media/")));
        let r = parse_line(r#"2024/05/01 12:00:03 [error] 1#1: *5 access forbidden by rule, client: 1.2.3.4, server: x, request: "GET /media/.env HTTP/1.1", host: "x""#).unwrap();
        assert_eq!(r.kind, Kind::DeniedByRule);
        assert_eq!(r.uri(), Some("/media/.env"));
        let n = parse_line(r#"2024/05/01 12:00:04 [error] 1#1: *6 "/srv/www/index.html" is not found (2: No such file or directory), client: 1.2.3.4, server: x, request: "GET / HTTP/1.1", host: "x""#).unwrap();
        assert!(matches!(n.kind, Kind::IndexNotFound { errno: 2, .. }));
        let f = parse_line(r#"2024/05/01 12:00:05 [error] 1#1: *7 "/srv/www/index.html" is forbidden (13: Permission denied), client: 1.2.3.4"#).unwrap();
        assert!(matches!(f.kind, Kind::IndexForbidden { errno: 13, .. }));
        let s = parse_line(r#"2024/05/01 12:00:06 [crit] 1#1: *8 stat() "/home/u/media/a b.jpg" failed (13: Permission denied), client: 1.2.3.4, server: x, request: "HEAD /media/a%20b.jpg HTTP/1.1", host: "x""#).unwrap();
        assert_eq!(s.path.as_deref(), Some(Path::new("/home/u/media/a b.jpg")));
        assert_eq!(s.kind.errno(), Some(13));
    }

    #[test]
    fn a_uri_keeps_a_carriage_return_or_a_tab_of_its_own() {
        let d = parse_line("2024/05/01 12:00:01 [error] 1#1: *3 open() \"/srv/media/\x1b[2Jx\r.jpg\" failed (2: No such file or directory), client: 1.2.3.4, server: x, request: \"GET /media/\x1b[2Jx\r.jpg HTTP/1.1\", host: \"x\"").unwrap();
        assert_eq!(d.uri(), Some("/media/\x1b[2Jx\r.jpg"));
        let h = parse_line(r#"2024/05/01 12:00:01 [error] 1#1: *3 open() "/srv/a" failed (2: No such file or directory), client: 1.2.3.4, server: x, request: "GET /a	b", host: "x""#).unwrap();
        assert_eq!(h.uri(), Some("/a\tb"));
    }

    #[test]
    fn other_lines_are_ignored() {
        for l in [
            "2024/05/01 12:00:00 [notice] 1#1: signal process started",
            "2024/05/01 12:00:00 [error] 1#1: *1 upstream timed out (110: Connection timed out) while reading response header from upstream",
            "not a log line",
            "",
            "2024/13/01 12:00:00 [error] 1#1: *1 open() \"/x\" failed (2: No such file or directory)",
        ] {
            assert!(parse_line(l).is_none(), "{l}");
        }
    }

    #[test]
    fn repeats_are_grouped_and_counted() {
        let a = parse_line(OPEN13).unwrap();
        let mut b = a.clone();
        b.time = "2024/05/01 13:00:00".into();
        let other = parse_line(&OPEN13.replace("a.jpg", "b.jpg")).unwrap();
        let log = PathBuf::from("/var/log/nginx/error.log");
        let g = group(vec![
            (log.clone(), b),
            (log.clone(), a),
            (log.clone(), other),
        ]);
        assert_eq!(g.len(), 2);
        assert_eq!(g[0].count, 2);
        assert_eq!(g[0].first, "2024/05/01 12:00:01");
        assert_eq!(g[0].last, "2024/05/01 13:00:00");
        assert_eq!(g[1].count, 1);
    }

    #[test]
    fn times_order_across_months_and_years() {
        assert!(parse_time("2024/01/01 00:00:00") > parse_time("2023/12/31 23:59:59"));
        assert_eq!(parse_time("1970/01/01 00:00:10"), Some(10));
        assert_eq!(
            parse_time("2024/03/01 00:00:00").unwrap() - parse_time("2024/02/28 00:00:00").unwrap(),
            2 * 86400
        );
    }

    #[test]
    fn the_tail_starts_at_a_whole_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("error.log");
        std::fs::write(&p, "first line\nsecond line\nthird\n").unwrap();
        let root = SysRoot::live();
        assert_eq!(
            tail(&root, &p, 15).unwrap().unwrap(),
            "third\n",
            "a cut first line is dropped"
        );
        assert!(tail(&root, &dir.path().join("none"), 10).unwrap().is_none());
    }

    #[test]
    fn a_log_that_is_a_pipe_is_refused_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("error.log");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
        let t0 = std::time::Instant::now();
        let err = tail(&SysRoot::live(), &fifo, 1024).unwrap_err();
        assert!(err.to_string().contains("not a regular file"), "{err}");
        assert!(t0.elapsed() < std::time::Duration::from_secs(1));
    }
}
