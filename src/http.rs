//! Live HEAD probes: the only code that sends network requests.
//!
//! Every request is a HEAD, never follows a redirect (a 301 is an answer worth reporting), and is
//! bounded: a connect timeout, a total timeout per request, and one budget for the whole batch so
//! that `check` stays quick even when a host silently drops packets. Requests run on a few threads
//! at once. Whatever goes wrong on the network (refused, timeout, DNS, TLS, reset, a server that
//! sends headers forever) comes back as a `Failure` value, never as a panic or an `Err` that stops
//! the run: to media-doctor a dead origin is a finding.
//!
//! Where a request may go is decided by the caller through `Route`:
//! - `Route::Origin(addr)`: the site's own nginx, on the socket it listens on. The URL keeps the
//!   site's name (so the Host header and TLS SNI are the site's), but the name is pinned to `addr`
//!   instead of being looked up, and proxies from the environment are ignored. Certificate
//!   verification is off only when `addr` is loopback (a local origin's certificate is issued for
//!   the public name, or is self-signed); the probe records that.
//! - `Route::Unix(path)`: an nginx `listen unix:PATH` socket; same rules as a loopback origin.
//! - `Route::Public`: the public URL as any client sees it: DNS, and HTTP(S)_PROXY/NO_PROXY from
//!   the environment honoured, certificates verified against the system's roots.

use reqwest::blocking::Client;
use reqwest::Url;
use serde::Serialize;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Time and concurrency bounds for a batch of probes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest wait for a TCP (and TLS) connection.
    pub connect: Duration,
    /// Longest wait for one whole request, headers included.
    pub request: Duration,
    /// Longest the whole batch may take; requests not started when it runs out are not sent.
    pub budget: Duration,
    /// How many requests run at once.
    pub concurrency: usize,
}

impl Default for Limits {
    /// Chosen so that a batch of ~8 probes to a blackholing host ends within the budget: each
    /// blackholed request costs `connect`, four run at once.
    fn default() -> Self {
        Limits {
            connect: Duration::from_secs(2),
            request: Duration::from_secs(4),
            budget: Duration::from_secs(6),
            concurrency: 4,
        }
    }
}

/// Where a request is sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "to", rename_all = "lowercase")]
pub enum Route {
    /// The site's own nginx at this socket (the URL's host is pinned to it; no proxy).
    Origin(SocketAddr),
    /// The site's own nginx on a unix socket (no proxy).
    Unix(PathBuf),
    /// The public URL: DNS and environment proxies as any client.
    Public,
}

impl Route {
    /// Certificates are checked everywhere except on this machine's own sockets.
    pub fn verifies_tls(&self) -> bool {
        match self {
            Route::Origin(addr) => !addr.ip().is_loopback(),
            Route::Unix(_) => false,
            Route::Public => true,
        }
    }
}

/// One request to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// What is asked for; its host is the Host header and the TLS server name.
    pub url: Url,
    pub route: Route,
}

/// A response: the status and the headers (names lower-case, in the order received).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
}

/// The headers that tell who answered and whether a cache was involved, in report order.
pub const REPORTED_HEADERS: &[&str] = &[
    "server",
    "content-type",
    "content-length",
    "cache-control",
    "age",
    "x-cache",
    "x-cache-status",
    "cf-cache-status",
    "via",
    "location",
    "x-powered-by",
];

impl Answer {
    /// The first value of a header (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn is_redirect(&self) -> bool {
        (300..400).contains(&self.status)
    }

    /// Where a redirect points, resolved against the requested URL.
    pub fn redirect_target(&self, requested: &Url) -> Option<Url> {
        if !self.is_redirect() {
            return None;
        }
        requested.join(self.header("location")?).ok()
    }

    /// A redirect back to the very URL requested: a client following it never gets an answer.
    pub fn redirects_to_itself(&self, requested: &Url) -> bool {
        self.redirect_target(requested)
            .is_some_and(|to| same_resource(&to, requested))
    }

    /// The reported headers that are present, as `name: value` pairs.
    pub fn reported_headers(&self) -> Vec<(&'static str, &str)> {
        REPORTED_HEADERS
            .iter()
            .filter_map(|&n| self.header(n).map(|v| (n, v)))
            .collect()
    }
}

fn same_resource(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
        && a.path() == b.path()
        && a.query() == b.query()
}

/// Why no answer came back. Each is a finding about the site, not an error of the tool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "detail", rename_all = "kebab-case")]
pub enum Failure {
    /// Nothing listens there (TCP RST on connect).
    Refused,
    /// No connection within the connect timeout: a firewall dropping packets, a host down.
    ConnectTimeout,
    /// Connected, but no complete response head within the request timeout.
    ResponseTimeout,
    /// The host name did not resolve.
    Dns(String),
    /// The TLS handshake failed (certificate, protocol, or not TLS at all).
    Tls(String),
    /// The connection was reset or closed before a response head arrived.
    Reset(String),
    /// Something answered, but not valid HTTP (e.g. headers that never end).
    Protocol(String),
    /// Not sent: the batch's time budget had run out.
    Budget,
    /// Anything else the HTTP stack reported.
    Other(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Refused => f.write_str("connection refused (nothing listens there)"),
            Failure::ConnectTimeout => {
                f.write_str("connect timed out (packets dropped: a firewall, or the host is down)")
            }
            Failure::ResponseTimeout => {
                f.write_str("timed out waiting for the response (connected, no complete answer)")
            }
            Failure::Dns(d) => write!(f, "DNS lookup failed: {d}"),
            Failure::Tls(d) => write!(f, "TLS handshake failed: {d}"),
            Failure::Reset(d) => write!(f, "connection reset or closed: {d}"),
            Failure::Protocol(d) => write!(f, "invalid HTTP response: {d}"),
            Failure::Budget => f.write_str("not sent: the live probes' time budget ran out"),
            Failure::Other(d) => write!(f, "request failed: {d}"),
        }
    }
}

/// One request and what came of it.
#[derive(Debug, Clone)]
pub struct Probe {
    pub target: Target,
    pub outcome: Result<Answer, Failure>,
    pub elapsed: Duration,
}

impl Probe {
    pub fn answer(&self) -> Option<&Answer> {
        self.outcome.as_ref().ok()
    }
    pub fn status(&self) -> Option<u16> {
        self.answer().map(|a| a.status)
    }
    /// `HEAD https://example.com/media/a.jpg via 127.0.0.1:443`: what was asked, and where.
    pub fn describe(&self) -> String {
        let via = match &self.target.route {
            Route::Origin(addr) => format!(" via {addr}"),
            Route::Unix(path) => format!(" via unix:{}", path.display()),
            Route::Public => String::new(),
        };
        format!("HEAD {}{via}", self.target.url)
    }
    /// One line: `200, Server: nginx, Content-Type: image/jpeg, ... (12 ms)`, or the failure.
    pub fn summary(&self) -> String {
        let ms = self.elapsed.as_millis();
        match &self.outcome {
            Ok(a) => {
                let mut parts = vec![a.status.to_string()];
                parts.extend(
                    a.reported_headers()
                        .into_iter()
                        .map(|(n, v)| format!("{}: {v}", header_title(n))),
                );
                format!("{} ({ms} ms)", parts.join(", "))
            }
            Err(f) => format!("{f} ({ms} ms)"),
        }
    }
    /// Said in the evidence whenever a certificate was not checked.
    pub fn tls_note(&self) -> Option<&'static str> {
        (self.target.url.scheme() == "https" && !self.target.route.verifies_tls())
            .then_some("certificate not verified (a local socket: only the public URL is checked)")
    }
}

/// `content-type` → `Content-Type`, `cf-cache-status` → `CF-Cache-Status`.
pub fn header_title(name: &str) -> String {
    name.split('-')
        .map(|w| match w {
            "cf" => "CF".into(),
            _ => {
                let mut c = w.chars();
                match c.next() {
                    Some(first) => first.to_uppercase().chain(c).collect(),
                    None => String::new(),
                }
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// Send every target's HEAD request, at most `limits.concurrency` at once, within `limits.budget`.
/// Results come back in the order of `targets`.
pub fn probe_all(targets: Vec<Target>, limits: &Limits) -> Vec<Probe> {
    install_crypto_provider();
    let deadline = Instant::now() + limits.budget;
    let next = AtomicUsize::new(0);
    let results: Vec<Mutex<Option<Probe>>> = targets.iter().map(|_| Mutex::new(None)).collect();
    let workers = limits.concurrency.clamp(1, targets.len().max(1));
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(target) = targets.get(i) else { break };
                let probe = probe_one(target.clone(), limits, deadline);
                *results[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(probe);
            });
        }
    });
    results
        .into_iter()
        .zip(targets)
        .map(|(slot, target)| {
            slot.into_inner()
                .unwrap_or_else(|e| e.into_inner())
                .unwrap_or(Probe {
                    target,
                    outcome: Err(Failure::Other("the probe thread stopped".into())),
                    elapsed: Duration::ZERO,
                })
        })
        .collect()
}

/// Below this much budget left, a request is not worth starting.
const MIN_USEFUL: Duration = Duration::from_millis(100);

fn probe_one(target: Target, limits: &Limits, deadline: Instant) -> Probe {
    let started = Instant::now();
    let left = deadline.saturating_duration_since(started);
    if left < MIN_USEFUL {
        return Probe {
            target,
            outcome: Err(Failure::Budget),
            elapsed: Duration::ZERO,
        };
    }
    let request_timeout = limits.request.min(left);
    // The connect limit fires a little before the total one, so that a connect that never
    // completes is reported as such, not as a slow response.
    let connect_timeout = limits
        .connect
        .min(request_timeout.saturating_sub(MIN_USEFUL / 2));
    // The clock starts once the client is set up (loading the system's root certificates is
    // not the server's time).
    let mut sent = started;
    let outcome = client_for(&target, connect_timeout, request_timeout)
        .and_then(|client| {
            sent = Instant::now();
            let (url, host) = pinned_ip(&target);
            let mut req = client.head(url);
            if let Some(host) = host {
                req = req.header(reqwest::header::HOST, host);
            }
            req.send().map_err(|e| classify(&e))
        })
        .map(|resp| Answer {
            status: resp.status().as_u16(),
            headers: resp
                .headers()
                .iter()
                .map(|(n, v)| {
                    (
                        n.as_str().to_ascii_lowercase(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect(),
        });
    Probe {
        target,
        outcome,
        elapsed: sent.elapsed(),
    }
}

/// The URL to send, and the Host header to send it with when that is not the URL's own. A
/// name is pinned to the origin socket by the client's resolver (see `client_for`), but an IP
/// address is never looked up, so the client would connect to the URL's address itself: for
/// the origin, the URL is pointed at the socket and the Host header keeps the asked-for
/// authority (an IP address gets no TLS server name either way).
fn pinned_ip(target: &Target) -> (Url, Option<String>) {
    let url = target.url.clone();
    let Route::Origin(addr) = &target.route else {
        return (url, None);
    };
    let ip_host = url
        .host_str()
        .and_then(|h| h.trim_matches(['[', ']']).parse::<std::net::IpAddr>().ok());
    if ip_host.is_none()
        || (ip_host == Some(addr.ip()) && url.port_or_known_default() == Some(addr.port()))
    {
        return (url, None);
    }
    let authority = match url.port() {
        Some(p) => format!("{}:{p}", url.host_str().unwrap_or_default()),
        None => url.host_str().unwrap_or_default().to_string(),
    };
    let mut to_socket = url;
    // Both only fail for URLs that cannot have a host, which an http(s) URL always has.
    let _ = to_socket.set_ip_host(addr.ip());
    let _ = to_socket.set_port(Some(addr.port()));
    (to_socket, Some(authority))
}

fn client_for(target: &Target, connect: Duration, total: Duration) -> Result<Client, Failure> {
    let mut b = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(connect)
        .timeout(total)
        .user_agent(concat!(
            "media-doctor/",
            env!("CARGO_PKG_VERSION"),
            " (read-only HEAD probe)"
        ))
        .pool_max_idle_per_host(0)
        .tls_danger_accept_invalid_certs(!target.route.verifies_tls());
    match &target.route {
        Route::Origin(addr) => {
            b = b.no_proxy();
            if let Some(host) = target.url.host_str() {
                // Pins the name to the socket: Host and SNI stay the site's, nothing is looked up.
                b = b.resolve(host, *addr);
            }
        }
        Route::Unix(path) => b = b.no_proxy().unix_socket(path.clone()),
        Route::Public => {}
    }
    b.build()
        .map_err(|e| Failure::Other(format!("cannot set up the HTTP client: {}", chain(&e))))
}

/// rustls needs one process-wide crypto provider; ring is the one compiled in.
fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Err means another provider was installed first, which serves as well.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// The error chain as one line: reqwest's top-level message alone says little ("error sending
/// request"); the cause at the bottom says what happened ("Connection refused").
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    for c in causes(e) {
        let s = c.to_string();
        if !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
    }
    parts.join(": ")
}

/// Every error in the chain, outermost first. `std::io::Error::source()` skips the error it
/// wraps (it returns that error's source), so a wrapped io::Error is opened with `get_ref()`.
fn causes<'e>(
    e: &'e (dyn std::error::Error + 'static),
) -> Vec<&'e (dyn std::error::Error + 'static)> {
    let mut out = Vec::new();
    let mut cur = Some(e);
    while let Some(c) = cur {
        out.push(c);
        if out.len() > 32 {
            break;
        }
        cur = match c
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => c.source(),
        };
    }
    out
}

/// Sort reqwest's error into a `Failure`, from the most specific cause found in its chain.
fn classify(e: &reqwest::Error) -> Failure {
    let all = causes(e);
    let innermost = all.last().map(|c| c.to_string()).unwrap_or_default();
    if all.iter().any(|c| c.is::<rustls::Error>()) {
        return Failure::Tls(innermost);
    }
    for c in &all {
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind as K;
            match io.kind() {
                K::ConnectionRefused => return Failure::Refused,
                K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe => {
                    return Failure::Reset(innermost)
                }
                _ => {}
            }
        }
    }
    if e.is_timeout() {
        return if e.is_connect() {
            Failure::ConnectTimeout
        } else {
            Failure::ResponseTimeout
        };
    }
    let text = all
        .iter()
        .map(|c| c.to_string().to_ascii_lowercase())
        .collect::<Vec<_>>()
        .join(": ");
    if e.is_connect() && looks_like_dns(&text) {
        return Failure::Dns(innermost);
    }
    if looks_like_tls(&text) {
        return Failure::Tls(innermost);
    }
    if text.contains("connection closed before message completed")
        || text.contains("incomplete message")
        || text.contains("unexpected eof")
    {
        return Failure::Reset(innermost);
    }
    if e.is_connect() {
        return Failure::Other(innermost);
    }
    if text.contains("parse") || text.contains("too large") || text.contains("invalid") {
        return Failure::Protocol(innermost);
    }
    Failure::Other(chain(e))
}

fn looks_like_dns(t: &str) -> bool {
    t.contains("dns error")
        || t.contains("failed to lookup address")
        || t.contains("name or service not known")
        || t.contains("no address associated")
        || t.contains("temporary failure in name resolution")
}

fn looks_like_tls(t: &str) -> bool {
    t.contains("tls") || t.contains("certificate") || t.contains("handshake")
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
    fn a_redirect_to_the_same_url_is_a_loop() {
        let url = Url::parse("http://example.test/media/a.jpg").unwrap();
        assert!(answer(301, &[("location", "/media/a.jpg")]).redirects_to_itself(&url));
        assert!(
            answer(302, &[("location", "http://example.test:80/media/a.jpg")])
                .redirects_to_itself(&url)
        );
        assert!(
            !answer(301, &[("location", "https://example.test/media/a.jpg")])
                .redirects_to_itself(&url)
        );
        assert!(!answer(200, &[("location", "/media/a.jpg")]).redirects_to_itself(&url));
    }

    #[test]
    fn header_names_are_titled_for_people() {
        assert_eq!(header_title("content-type"), "Content-Type");
        assert_eq!(header_title("cf-cache-status"), "CF-Cache-Status");
        assert_eq!(header_title("x-cache"), "X-Cache");
        assert_eq!(header_title("age"), "Age");
    }

    #[test]
    fn only_local_sockets_skip_certificate_checks() {
        assert!(!Route::Origin("127.0.0.1:443".parse().unwrap()).verifies_tls());
        assert!(!Route::Origin("[::1]:443".parse().unwrap()).verifies_tls());
        assert!(Route::Origin("192.0.2.1:443".parse().unwrap()).verifies_tls());
        assert!(Route::Public.verifies_tls());
    }

    #[test]
    fn a_spent_budget_sends_nothing() {
        let target = Target {
            url: Url::parse("http://127.0.0.1:9/x").unwrap(),
            route: Route::Public,
        };
        let limits = Limits {
            budget: Duration::ZERO,
            ..Limits::default()
        };
        let probes = probe_all(vec![target], &limits);
        assert_eq!(probes[0].outcome, Err(Failure::Budget));
    }
}
