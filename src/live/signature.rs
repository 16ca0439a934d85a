//! Who answered a HEAD request, and whether a cache did: read from the response headers alone.
//!
//! nginx's static module answers a file with `Server: nginx`, `Last-Modified`,
//! `Accept-Ranges: bytes` and (unless `etag off`) an ETag of the form `"<mtime hex>-<size hex>"`.
//! A response proxied from the app through nginx still says `Server: nginx` (nginx hides the
//! upstream's Server header) but lacks that signature; an app server reached directly says
//! `Server: gunicorn` and the like. Django's middleware adds its own headers.

use crate::http::Answer;

/// What the headers say about who produced the response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answerer {
    /// nginx's static module (the file signature is there).
    NginxStatic,
    /// nginx, but not a file from disk: an error page, a redirect, or a proxied response.
    Nginx,
    /// A Python app server (or the app behind nginx, by the headers it adds): the evidence.
    App(String),
    /// Something else (`Server: Apache`, a CDN's name), as it says.
    Other(String),
    /// No Server header and nothing else to go by.
    Unknown,
}

/// App servers that name themselves in `Server`.
const APP_SERVERS: &[&str] = &[
    "gunicorn",
    "uvicorn",
    "werkzeug",
    "daphne",
    "hypercorn",
    "waitress",
    "uwsgi",
    "granian",
    "cheroot",
    "cherrypy",
    "twistedweb",
    "tornadoserver",
    "wsgiserver",
    "python",
];

/// Headers Django's SecurityMiddleware adds (absent from nginx's own answers unless configured).
const DJANGO_MARKERS: &[&str] = &["cross-origin-opener-policy", "referrer-policy"];

pub fn who_answered(a: &Answer) -> Answerer {
    who_answered_by(a, crate::answer::ServerKind::Nginx)
}

/// `who_answered` when `judged` is the server of the site: for Apache, a `Server: Apache`
/// answer is the judged server's (`NginxStatic`/`Nginx` then mean "the judged server's static
/// files"/"the judged server, not a file"; Apache's static answers carry the same
/// Last-Modified, Accept-Ranges and size-mtime ETag).
pub fn who_answered_by(a: &Answer, judged: crate::answer::ServerKind) -> Answerer {
    let server = a.header("server").unwrap_or("").trim();
    let lower = server.to_ascii_lowercase();
    if let Some(app) = APP_SERVERS.iter().find(|s| lower.contains(*s)) {
        return Answerer::App(format!("Server: {server} ({app} is an app server)"));
    }
    if let Some(p) = a.header("x-powered-by") {
        return Answerer::App(format!("X-Powered-By: {p}"));
    }
    let ours = match judged {
        crate::answer::ServerKind::Nginx => {
            lower.starts_with("nginx") || lower.starts_with("openresty")
        }
        crate::answer::ServerKind::Apache => lower.starts_with("apache"),
    };
    if ours {
        if a.status == 200 && has_static_signature(a) {
            return Answerer::NginxStatic;
        }
        if let Some(m) = app_markers(a) {
            return Answerer::App(format!("Server: {server}, but {m}"));
        }
        return Answerer::Nginx;
    }
    if server.is_empty() {
        return match app_markers(a) {
            Some(m) => Answerer::App(m),
            None => Answerer::Unknown,
        };
    }
    Answerer::Other(server.to_string())
}

/// `Last-Modified` and `Accept-Ranges: bytes`, and an nginx-style ETag when there is one.
pub fn has_static_signature(a: &Answer) -> bool {
    let ranges = a
        .header("accept-ranges")
        .is_some_and(|v| v.eq_ignore_ascii_case("bytes"));
    let etag_ok = a.header("etag").map_or(true, is_nginx_etag);
    a.header("last-modified").is_some() && ranges && etag_ok
}

/// `"65f1c2a0-1f4"`: nginx's ETag is the mtime and the size in hex.
pub fn is_nginx_etag(etag: &str) -> bool {
    let Some(inner) = etag.strip_prefix('"').and_then(|e| e.strip_suffix('"')) else {
        return false;
    };
    let Some((mtime, size)) = inner.split_once('-') else {
        return false;
    };
    !mtime.is_empty()
        && !size.is_empty()
        && mtime.bytes().all(|b| b.is_ascii_hexdigit())
        && size.bytes().all(|b| b.is_ascii_hexdigit())
}

/// What in the headers points at Django behind nginx.
fn app_markers(a: &Answer) -> Option<String> {
    let found: Vec<&str> = DJANGO_MARKERS
        .iter()
        .copied()
        .filter(|h| a.header(h).is_some())
        .collect();
    let vary_cookie = a
        .header("vary")
        .is_some_and(|v| v.to_ascii_lowercase().contains("cookie"));
    if found.is_empty() && !vary_cookie {
        return None;
    }
    let mut what: Vec<String> = found.iter().map(|h| crate::http::header_title(h)).collect();
    if vary_cookie {
        what.push("Vary: Cookie".into());
    }
    Some(format!(
        "{} (added by Django's middleware)",
        what.join(", ")
    ))
}

/// What the headers say about a cache in front: the hit markers found, if any.
pub fn cache_hit(a: &Answer) -> Option<String> {
    let mut hits = Vec::new();
    if let Some(age) = a.header("age") {
        if age.trim().parse::<u64>().is_ok_and(|n| n > 0) {
            hits.push(format!("Age: {age}"));
        }
    }
    for h in [
        "x-cache",
        "x-cache-status",
        "cf-cache-status",
        "x-proxy-cache",
    ] {
        if let Some(v) = a.header(h) {
            let up = v.to_ascii_uppercase();
            if ["HIT", "STALE", "UPDATING", "REVALIDATED"]
                .iter()
                .any(|k| up.contains(k))
            {
                hits.push(format!("{}: {v}", crate::http::header_title(h)));
            }
        }
    }
    (!hits.is_empty()).then(|| hits.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, headers: &[(&str, &str)]) -> Answer {
        Answer {
            status,
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn nginx_static_files_carry_their_signature() {
        let a = answer(
            200,
            &[
                ("server", "nginx/1.22.1"),
                ("last-modified", "Wed, 01 May 2024 12:00:00 GMT"),
                ("etag", "\"663234b0-4\""),
                ("accept-ranges", "bytes"),
            ],
        );
        assert_eq!(who_answered(&a), Answerer::NginxStatic);
        let proxied = answer(
            200,
            &[
                ("server", "nginx"),
                ("content-type", "image/jpeg"),
                ("last-modified", "Wed, 01 May 2024 12:00:00 GMT"),
            ],
        );
        assert_eq!(who_answered(&proxied), Answerer::Nginx);
    }

    #[test]
    fn app_servers_are_recognised() {
        assert!(matches!(
            who_answered(&answer(404, &[("server", "gunicorn")])),
            Answerer::App(_)
        ));
        assert!(matches!(
            who_answered(&answer(200, &[("server", "Werkzeug/3.0.1 Python/3.11.2")])),
            Answerer::App(_)
        ));
        let django_behind_nginx = answer(
            404,
            &[
                ("server", "nginx"),
                ("cross-origin-opener-policy", "same-origin"),
                ("referrer-policy", "same-origin"),
            ],
        );
        assert!(matches!(
            who_answered(&django_behind_nginx),
            Answerer::App(m) if m.contains("Cross-Origin-Opener-Policy")
        ));
        assert_eq!(
            who_answered(&answer(200, &[("server", "Apache/2.4")])),
            Answerer::Other("Apache/2.4".into())
        );
    }

    #[test]
    fn etags_are_nginx_shaped_or_not() {
        assert!(is_nginx_etag("\"663234b0-4\""));
        assert!(!is_nginx_etag("W/\"663234b0-4\""));
        assert!(!is_nginx_etag("\"d41d8cd98f00b204e9800998ecf8427e\""));
    }

    #[test]
    fn cache_hits_are_read_from_every_cdn_header() {
        assert_eq!(
            cache_hit(&answer(404, &[("cf-cache-status", "HIT"), ("age", "120")])).unwrap(),
            "Age: 120, CF-Cache-Status: HIT"
        );
        assert!(cache_hit(&answer(404, &[("x-cache", "Hit from cloudfront")])).is_some());
        assert!(cache_hit(&answer(404, &[("x-cache", "MISS"), ("age", "0")])).is_none());
    }
}
