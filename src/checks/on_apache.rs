//! On Apache, the checks written once for both servers (`EITHER_SERVER`) say what they judged in
//! Apache's words. Their texts were first written for nginx ("the nginx worker user", "the
//! directory nginx serves"); a report on an Apache box names Apache, and its `User` (from
//! envvars' `APACHE_RUN_USER`) where nginx's worker was named. Paths and program names that
//! hold the word (`/var/cache/nginx`, `usr.sbin.nginx`, `nginx-light`) are left as they are,
//! and so is another nginx than the one judged (a caching nginx in front of Apache).

use crate::report::CheckResult;
use std::borrow::Cow;

/// nginx's phrases and Apache's, the longer first (`{user}`: Apache's `User`).
const PHRASES: &[(&str, &str)] = &[
    ("the nginx worker user", "Apache's User ({user})"),
    ("The nginx worker user", "Apache's User ({user})"),
    ("nginx worker user", "Apache User ({user})"),
    ("the nginx worker", "Apache's worker ({user})"),
    ("nginx worker", "Apache worker ({user})"),
    ("nginx's static module", "Apache's file handler"),
    ("nginx location", "Apache mapping"),
    ("nginx's", "Apache's"),
    ("Nginx's", "Apache's"),
];

/// Another nginx than the one judged: kept.
pub const OTHER_NGINX: &[&str] = &["front nginx"];

/// Whether the byte can be part of a path or a program name around the word.
fn joins(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'/' | b'_' | b'-' | b'.' | b'@')
}

/// The places of the word `nginx` (any case) as a word in prose: not inside a path, a program
/// or a file name (a `.` after it that ends a sentence is prose).
pub fn prose_nginx(text: &str) -> Vec<usize> {
    let b = text.as_bytes();
    let lower = text.to_ascii_lowercase();
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = lower[from..].find("nginx") {
        let at = from + i;
        from = at + 5;
        let before = at.checked_sub(1).map(|j| b[j]);
        let after = b.get(at + 5).copied();
        let after2 = b.get(at + 6).copied();
        let joined_before = before.is_some_and(joins);
        let joined_after = match after {
            // `nginx.` ends a sentence; `nginx.conf` is a file.
            Some(b'.') | Some(b'-') | Some(b'_') | Some(b'@') => {
                after2.is_some_and(|c| c.is_ascii_alphanumeric())
            }
            Some(c) => c.is_ascii_alphanumeric() || c == b'/',
            None => false,
        };
        if joined_before || joined_after {
            continue;
        }
        if OTHER_NGINX
            .iter()
            .any(|o| lower[..at + 5].ends_with(&o.to_ascii_lowercase()))
        {
            continue;
        }
        out.push(at);
    }
    out
}

/// `text` in Apache's words (`user`: Apache's `User`).
pub fn words<'t>(text: &'t str, user: &str) -> Cow<'t, str> {
    if prose_nginx(text).is_empty() {
        return Cow::Borrowed(text);
    }
    let mut s = text.to_string();
    for (from, to) in PHRASES {
        if s.contains(from) {
            let to = to.replace("{user}", user);
            s = replace_prose(&s, from, &to);
        }
    }
    // What is left: the server itself.
    let at = prose_nginx(&s);
    let mut out = String::with_capacity(s.len() + 8 * at.len());
    let mut last = 0;
    for i in at {
        out.push_str(&s[last..i]);
        out.push_str("Apache");
        last = i + 5;
    }
    out.push_str(&s[last..]);
    Cow::Owned(out)
}

/// `from` replaced by `to` where its `nginx` is prose.
fn replace_prose(s: &str, from: &str, to: &str) -> String {
    let prose = prose_nginx(s);
    let offset = from.to_ascii_lowercase().find("nginx").unwrap_or(0);
    let mut out = String::with_capacity(s.len());
    let mut last = 0;
    let mut search = 0;
    while let Some(i) = s[search..].find(from) {
        let at = search + i;
        search = at + from.len();
        if !prose.contains(&(at + offset)) {
            continue;
        }
        out.push_str(&s[last..at]);
        out.push_str(to);
        last = at + from.len();
    }
    out.push_str(&s[last..]);
    out
}

/// A result of a check run on Apache in Apache's words: its summary, and each finding's message,
/// evidence labels and remediation text (evidence values are data: a `Server: nginx` header
/// stays what it was; commands are run as printed).
pub fn result(r: &mut CheckResult, user: &str) {
    if let Cow::Owned(s) = words(&r.summary, user) {
        r.summary = s;
    }
    for f in &mut r.findings {
        if let Cow::Owned(s) = words(&f.message, user) {
            f.message = s;
        }
        for e in &mut f.evidence {
            if let Cow::Owned(s) = words(&e.label, user) {
                e.label = s;
            }
        }
        if let Some(rem) = &mut f.remediation {
            if let Cow::Owned(s) = remediation_words(&rem.text, user) {
                rem.text = s;
            }
        }
    }
}

/// A remediation text in Apache's words, but its `or instead:` lines are commands, pasted as
/// printed (`sudo nginx -t`, `setfacl -m u:nginx:x` must not become `Apache`).
fn remediation_words<'t>(text: &'t str, user: &str) -> Cow<'t, str> {
    if !text.contains(crate::report::OR_INSTEAD) {
        return words(text, user);
    }
    let lines: Vec<Cow<'_, str>> = text
        .split('\n')
        .map(|line| {
            if line.trim_start().starts_with(crate::report::OR_INSTEAD) {
                Cow::Borrowed(line)
            } else {
                words(line, user)
            }
        })
        .collect();
    if lines.iter().all(|l| matches!(l, Cow::Borrowed(_))) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(lines.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nginx_in_prose_becomes_apache_and_its_user() {
        let cases = [
            (
                "the nginx worker user can traverse every directory down to each served root",
                "Apache's User (www-data) can traverse every directory down to each served root",
            ),
            (
                "MEDIA_ROOT / UPLOAD_FOLDER is the directory nginx serves for MEDIA_URL",
                "MEDIA_ROOT / UPLOAD_FOLDER is the directory Apache serves for MEDIA_URL",
            ),
            (
                "media/static answers come from nginx's static module, not from the app",
                "media/static answers come from Apache's file handler, not from the app",
            ),
            ("served by nginx.", "served by Apache."),
            // Paths, files and programs keep the word; so does another nginx in front.
            (
                "see /etc/nginx/nginx.conf and usr.sbin.nginx (nginx-light)",
                "see /etc/nginx/nginx.conf and usr.sbin.nginx (nginx-light)",
            ),
            (
                "a front nginx's proxy_cache holds the error",
                "a front nginx's proxy_cache holds the error",
            ),
        ];
        for (nginx, apache) in cases {
            assert_eq!(words(nginx, "www-data"), apache, "{nginx}");
            assert!(prose_nginx(&words(nginx, "www-data")).is_empty(), "{nginx}");
        }
        assert_eq!(prose_nginx("nginx, then Nginx"), vec![0, 12]);
    }

    #[test]
    fn alternative_commands_are_pasted_as_printed() {
        let text = crate::report::with_alternatives(
            "let the nginx worker enter /srv/app:".into(),
            &[
                "sudo setfacl -m u:nginx:x /srv/app".into(),
                "sudo nginx -t && sudo nginx -s reload".into(),
            ],
        );
        assert_eq!(
            remediation_words(&text, "www-data"),
            "let Apache's worker (www-data) enter /srv/app:\n    \
             or instead: sudo setfacl -m u:nginx:x /srv/app\n    \
             or instead: sudo nginx -t && sudo nginx -s reload"
        );
    }
}
