//! Live probes against real servers on 127.0.0.1: a private nginx, and listeners that misbehave on
//! purpose. Every network failure must come back as a `Failure`, within the time bounds.

use crate::listeners::{Behaviour, Blackhole, Listener};
use crate::support::{self, Nginx};
use media_doctor::http::{probe_all, Failure, Limits, Probe, Route, Target};
use reqwest::Url;
use std::path::Path;
use std::time::{Duration, Instant};

fn quick() -> Limits {
    Limits {
        connect: Duration::from_millis(500),
        request: Duration::from_millis(1500),
        budget: Duration::from_secs(4),
        concurrency: 4,
    }
}

fn origin(url: &str, addr: std::net::SocketAddr) -> Target {
    Target {
        url: Url::parse(url).unwrap(),
        route: Route::Origin(addr),
    }
}

fn one(target: Target) -> Probe {
    probe_all(vec![target], &quick()).pop().unwrap()
}

#[test]
fn refused_is_a_finding() {
    let port = support::free_port();
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    let p = one(origin(
        &format!("http://site.test:{port}/media/a.jpg"),
        addr,
    ));
    assert_eq!(p.outcome, Err(Failure::Refused), "{}", p.summary());
}

#[test]
fn a_blackholed_connect_times_out_within_the_connect_limit() {
    let hole = Blackhole::start();
    let t0 = Instant::now();
    let p = one(origin(
        &format!("http://site.test:{}/media/a.jpg", hole.addr.port()),
        hole.addr,
    ));
    assert_eq!(p.outcome, Err(Failure::ConnectTimeout), "{}", p.summary());
    assert!(
        t0.elapsed() < Duration::from_millis(1500),
        "{:?}",
        t0.elapsed()
    );
}

#[test]
fn a_batch_against_a_blackhole_stays_within_its_budget() {
    let hole = Blackhole::start();
    let limits = Limits {
        connect: Duration::from_millis(800),
        request: Duration::from_secs(2),
        budget: Duration::from_millis(1500),
        concurrency: 2,
    };
    let targets: Vec<Target> = (0..8)
        .map(|i| {
            origin(
                &format!("http://site.test:{}/media/{i}.jpg", hole.addr.port()),
                hole.addr,
            )
        })
        .collect();
    let t0 = Instant::now();
    let probes = probe_all(targets, &limits);
    let took = t0.elapsed();
    assert!(took < Duration::from_millis(2300), "took {took:?}");
    assert!(probes.iter().all(|p| matches!(
        p.outcome,
        Err(Failure::ConnectTimeout) | Err(Failure::Budget)
    )));
    assert!(probes.iter().any(|p| p.outcome == Err(Failure::Budget)));
}

#[test]
fn a_silent_server_times_out() {
    let l = Listener::start(Behaviour::Silent);
    let p = one(origin(&l.url("/media/a.jpg"), l.addr));
    assert_eq!(p.outcome, Err(Failure::ResponseTimeout), "{}", p.summary());
    assert!(p.elapsed < Duration::from_millis(2500));
}

#[test]
fn a_reset_is_a_finding() {
    let l = Listener::start(Behaviour::Reset);
    let p = one(origin(&l.url("/media/a.jpg"), l.addr));
    assert!(
        matches!(p.outcome, Err(Failure::Reset(_))),
        "{}",
        p.summary()
    );
}

#[test]
fn endless_headers_end_in_a_finding() {
    let l = Listener::start(Behaviour::EndlessHeaders);
    let p = one(origin(&l.url("/media/a.jpg"), l.addr));
    assert!(
        matches!(p.outcome, Err(Failure::Protocol(_))),
        "{}",
        p.summary()
    );
}

#[test]
fn a_redirect_is_reported_not_followed_and_a_self_redirect_is_a_loop() {
    let l = Listener::start(Behaviour::Respond(
        "HTTP/1.1 301 Moved Permanently\r\nServer: test\r\nLocation: /media/a.jpg\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    ));
    let p = one(origin(&l.url("/media/a.jpg"), l.addr));
    let a = p.answer().expect("an answer");
    assert_eq!(a.status, 301);
    assert!(a.redirects_to_itself(&p.target.url));
}

#[test]
fn a_5xx_is_an_answer() {
    let l = Listener::start(Behaviour::Respond(
        "HTTP/1.1 502 Bad Gateway\r\nServer: nginx\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    ));
    let p = one(origin(&l.url("/media/a.jpg"), l.addr));
    assert_eq!(p.status(), Some(502));
    assert!(
        p.summary().starts_with("502, Server: nginx"),
        "{}",
        p.summary()
    );
}

#[test]
fn tls_to_a_plain_http_port_is_a_tls_failure() {
    let l = Listener::start(Behaviour::Respond(
        "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    ));
    let p = one(origin(
        &format!("https://site.test:{}/media/a.jpg", l.addr.port()),
        l.addr,
    ));
    assert!(matches!(p.outcome, Err(Failure::Tls(_))), "{}", p.summary());
}

#[test]
fn an_unknown_name_is_a_dns_failure() {
    let p = one(Target {
        url: Url::parse("http://no-such-host.invalid/media/a.jpg").unwrap(),
        route: Route::Public,
    });
    assert!(matches!(p.outcome, Err(Failure::Dns(_))), "{}", p.summary());
}

#[test]
fn proxies_from_the_environment_are_not_used_for_the_origin() {
    // A proxy that answers 418 to anything. The environment is per process, so the probes run in
    // a child test process that has http_proxy set; the other tests here never see it.
    let proxy = Listener::start(Behaviour::Respond(
        "HTTP/1.1 418 I'm a teapot\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    ));
    let site = Listener::start(Behaviour::Respond(
        "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    ));
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "live::proxy_child", "--ignored", "--nocapture"])
        .env("http_proxy", proxy.url(""))
        .env("MD_TEST_SITE", site.addr.to_string())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("1 passed"), "{stdout}");
}

/// Run by the test above, in a process whose environment names a proxy.
#[test]
#[ignore = "run by proxies_from_the_environment_are_not_used_for_the_origin"]
fn proxy_child() {
    let site: std::net::SocketAddr = std::env::var("MD_TEST_SITE").unwrap().parse().unwrap();
    let url = format!("http://site.test:{}/x", site.port());
    let via_origin = one(origin(&url, site));
    let via_public = one(Target {
        url: Url::parse(&url).unwrap(),
        route: Route::Public,
    });
    assert_eq!(via_origin.status(), Some(200), "{}", via_origin.summary());
    assert_eq!(via_public.status(), Some(418), "{}", via_public.summary());
}

/// A real nginx serving a real file, over http and https (self-signed): the origin probe sends the
/// site's Host (and SNI), skips certificate checks on loopback, and says so.
#[test]
fn a_real_nginx_answers_the_origin_probe_over_http_and_https() {
    if !support::require_root_and_nginx()
        || !support::require(
            which_openssl(),
            "needs the openssl command for a test certificate",
        )
    {
        return;
    }
    let certs = tempfile::tempdir().unwrap();
    make_cert(certs.path(), "site.test");
    let tls_port = support::free_port();
    let body = format!(
        "server {{ listen 127.0.0.1:{{PORT}}; listen 127.0.0.1:{tls_port} ssl;\n\
         server_name site.test; ssl_certificate {c}/cert.pem; ssl_certificate_key {c}/key.pem;\n\
         root {{DIR}}/www; }}\n\
         server {{ listen 127.0.0.1:{{PORT}} default_server; return 421; }}",
        c = certs.path().display()
    );
    let nginx = Nginx::start("www-data", &body).expect("nginx");
    let www = nginx.dir.path().join("www/media");
    std::fs::create_dir_all(&www).unwrap();
    std::fs::write(www.join("a.jpg"), b"jpeg").unwrap();
    support::open_ancestors(&www.join("a.jpg"));
    let http_addr = format!("127.0.0.1:{}", nginx.port).parse().unwrap();
    let tls_addr = format!("127.0.0.1:{tls_port}").parse().unwrap();
    let probes = probe_all(
        vec![
            origin(
                &format!("http://site.test:{}/media/a.jpg", nginx.port),
                http_addr,
            ),
            origin(
                &format!("http://other.test:{}/media/a.jpg", nginx.port),
                http_addr,
            ),
            origin(
                &format!("https://site.test:{tls_port}/media/a.jpg"),
                tls_addr,
            ),
            Target {
                url: Url::parse(&format!("https://localhost:{tls_port}/media/a.jpg")).unwrap(),
                route: Route::Public,
            },
        ],
        &quick(),
    );
    let a = probes[0]
        .answer()
        .unwrap_or_else(|| panic!("{}", probes[0].summary()));
    assert_eq!(a.status, 200);
    assert!(a.header("server").unwrap().starts_with("nginx"));
    assert_eq!(a.header("content-length"), Some("4"));
    assert_eq!(a.header("content-type"), Some("image/jpeg"));
    assert_eq!(
        probes[1].status(),
        Some(421),
        "the Host header picks the server"
    );
    assert_eq!(probes[2].status(), Some(200), "{}", probes[2].summary());
    assert!(probes[2].tls_note().is_some());
    // The public route verifies certificates: a self-signed one fails.
    assert!(
        matches!(probes[3].outcome, Err(Failure::Tls(_))),
        "{}",
        probes[3].summary()
    );
}

fn which_openssl() -> bool {
    std::process::Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn make_cert(dir: &Path, name: &str) {
    let out = std::process::Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .arg("-subj")
        .arg(format!("/CN={name}"))
        .arg("-keyout")
        .arg(dir.join("key.pem"))
        .arg("-out")
        .arg(dir.join("cert.pem"))
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
