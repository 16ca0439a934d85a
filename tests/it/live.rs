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

/// An origin probe for a URL whose host is an IP address still goes to the origin socket (an IP
/// is not looked up, so pinning the name is not enough), with the URL's authority as Host.
#[test]
fn an_ip_url_on_the_origin_route_goes_to_the_origin_socket() {
    let origin_socket = Listener::start(Behaviour::Respond(
        "HTTP/1.1 200 OK\r\nServer: origin\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    ));
    let port = origin_socket.addr.port();
    let Ok(elsewhere) = std::net::TcpListener::bind(("127.0.0.2", port)) else {
        support::say_skipped(&format!("127.0.0.2:{port} is taken"));
        return;
    };
    elsewhere.set_nonblocking(true).unwrap();
    let p = one(origin(
        &format!("http://127.0.0.2:{port}/media/a.jpg"),
        origin_socket.addr,
    ));
    assert_eq!(
        p.answer().and_then(|a| a.header("server")),
        Some("origin"),
        "{}",
        p.summary()
    );
    assert!(
        elsewhere.accept().is_err(),
        "a request went to the URL's own address"
    );
    let head = &origin_socket.heads()[0];
    assert!(head.starts_with("HEAD /media/a.jpg HTTP/1.1\r\n"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains(&format!("\r\nhost: 127.0.0.2:{port}\r\n")),
        "{head}"
    );
    assert!(p.describe().starts_with(&format!(
        "HEAD http://127.0.0.2:{port}/media/a.jpg via 127.0.0.1:{port}"
    )));
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

mod md111 {
    use crate::support::{self, Nginx};
    use media_doctor::checks::md111_config_not_reloaded::assess;
    use media_doctor::checks::Outcome;
    use media_doctor::report::Severity;
    use media_doctor::system::loaded::Inputs;

    fn errors(o: &Outcome) -> Vec<String> {
        o.findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .map(|f| f.message.clone())
            .collect()
    }

    fn inputs(nginx: &Nginx, pid_file: bool) -> Inputs {
        Inputs {
            entry: nginx.conf_path(),
            is_main: true,
            files: vec![nginx.conf_path()],
            pid_files: if pid_file {
                vec![nginx.dir.path().join("nginx.pid")]
            } else {
                vec![nginx.dir.path().join("no-such.pid")]
            },
        }
    }

    #[test]
    fn a_config_changed_after_start_is_not_served_until_reload() {
        if !support::require_root_and_nginx() {
            return;
        }
        let nginx = Nginx::start(
            "www-data",
            "server { listen 127.0.0.1:{PORT}; return 204; }",
        )
        .expect("nginx");
        let fresh = assess(&inputs(&nginx, true));
        assert!(fresh.skipped.is_none(), "{:?}", fresh.skipped);
        assert!(errors(&fresh).is_empty(), "{:?}", errors(&fresh));
        let summary = fresh.summary.clone().unwrap();
        assert!(summary.contains("the config on disk loads"), "{summary}");

        // Change the file on disk (more than the 1 s tolerance after the load), do not reload.
        let conf = std::fs::read_to_string(nginx.conf_path()).unwrap();
        nginx.write_conf_after_load(&conf.replace("return 204;", "return 200;"));
        let stale = assess(&inputs(&nginx, true));
        let errs = errors(&stale);
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(
            errs[0].contains("changed after nginx last loaded"),
            "{errs:?}"
        );
        let fix = stale.findings[0].remediation.as_ref().unwrap();
        assert!(
            fix.commands[0].contains(&format!("kill -HUP {}", nginx.pid().unwrap())),
            "{fix:?}"
        );

        // A reload makes it current again.
        nginx.reload();
        let reloaded = assess(&inputs(&nginx, true));
        assert!(errors(&reloaded).is_empty(), "{:?}", errors(&reloaded));
    }

    #[test]
    fn a_config_that_fails_nginx_t_cannot_be_reloaded() {
        if !support::require_root_and_nginx() {
            return;
        }
        let nginx = Nginx::start(
            "www-data",
            "server { listen 127.0.0.1:{PORT}; return 204; }",
        )
        .expect("nginx");
        let conf = std::fs::read_to_string(nginx.conf_path()).unwrap();
        nginx.write_conf(&conf.replace("return 204;", "return 204"));
        // Found by its -c even without the pid file.
        let broken = assess(&inputs(&nginx, false));
        let errs = errors(&broken);
        assert!(
            errs.iter().any(|e| e.contains("nginx -t would fail")),
            "{errs:?}"
        );
        let f = broken
            .findings
            .iter()
            .find(|f| f.message.contains("nginx -t would fail"))
            .unwrap();
        // The error is located, and nginx agrees that the config fails.
        let error = &f
            .evidence
            .iter()
            .find(|e| e.label == "error")
            .unwrap()
            .value;
        assert!(
            error.starts_with(&format!("{}:", nginx.conf_path().display())),
            "{error}"
        );
        let bin = support::nginx_binary().unwrap();
        let t = std::process::Command::new(bin)
            .args(["-t", "-q", "-p"])
            .arg(nginx.dir.path())
            .arg("-c")
            .arg(nginx.conf_path())
            .output()
            .unwrap();
        assert!(!t.status.success());
    }

    #[test]
    fn no_running_master_is_a_skip() {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("nginx.conf");
        std::fs::write(&conf, "events {}\n").unwrap();
        let o = assess(&Inputs {
            entry: conf.clone(),
            is_main: true,
            files: vec![conf],
            pid_files: vec![dir.path().join("nginx.pid")],
        });
        assert!(o.skipped.unwrap().starts_with("no running nginx master"));
    }
}

mod md405 {
    use crate::support;
    use media_doctor::checks::{self, md405_error_log::ErrorLog};
    use media_doctor::report::{CheckResult, Status};
    use media_doctor::site::Options;
    use media_doctor::site::Site;
    use std::os::unix::fs::{chown, PermissionsExt};
    use std::path::Path;

    const SITE: &str = "user nobody nogroup;\nerror_log /var/log/nginx/error.log;\nevents {}\nhttp {\n  server {\n    listen 80;\n    server_name site.test;\n    location /media/ { alias /home/deploy/app/media/; }\n  }\n}\n";

    fn line(time: &str, msg: &str, uri: &str) -> String {
        format!("{time} [error] 811#811: *3 {msg}, client: 10.0.0.9, server: site.test, request: \"GET {uri} HTTP/1.1\", host: \"site.test\"\n")
    }

    fn write(path: &Path, text: &str, mode: u32) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    /// A system image: users, an nginx.conf, an app whose home is closed to others, and a log.
    fn image(log: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        std::fs::set_permissions(r, std::fs::Permissions::from_mode(0o755)).unwrap();
        write(&r.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\ndeploy:x:1000:1000::/home/deploy:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n", 0o644);
        write(
            &r.join("etc/group"),
            "root:x:0:\ndeploy:x:1000:\nnogroup:x:65534:\n",
            0o644,
        );
        write(&r.join("etc/nginx/nginx.conf"), SITE, 0o644);
        write(&r.join("home/deploy/app/media/a.jpg"), "jpeg", 0o644);
        for d in ["home", "home/deploy/app", "home/deploy/app/media"] {
            std::fs::set_permissions(r.join(d), std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let home = r.join("home/deploy");
        std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700)).unwrap();
        chown(&home, Some(1000), Some(1000)).unwrap();
        write(&r.join("var/log/nginx/error.log"), log, 0o640);
        dir
    }

    fn run(root: &Path, offline: bool) -> CheckResult {
        let args = Options {
            root: Some(root.to_path_buf()),
            nginx_conf: Some("/etc/nginx/nginx.conf".into()),
            ..Default::default()
        };
        let site = Site::gather(&args, offline).unwrap();
        checks::run_one(&ErrorLog, &site)
    }

    #[test]
    fn permission_errors_are_grouped_and_traced_to_the_blocking_directory() {
        if !support::require(support::is_root(), "needs root (chown)") {
            return;
        }
        let denied = r#"open() "/home/deploy/app/media/a.jpg" failed (13: Permission denied)"#;
        let mut log = String::new();
        log.push_str(&line("2024/04/28 10:00:00", denied, "/media/a.jpg")); // > 24 h older
        log.push_str("2024/05/01 11:59:00 [notice] 811#811: signal process started\n");
        for t in [
            "2024/05/01 12:00:01",
            "2024/05/01 12:00:05",
            "2024/05/01 12:10:00",
        ] {
            log.push_str(&line(t, denied, "/media/a.jpg"));
        }
        log.push_str(&line(
            "2024/05/01 12:11:00",
            r#"open() "/srv/mediab.jpg" failed (2: No such file or directory)"#,
            "/media/b.jpg",
        ));
        log.push_str(&line(
            "2024/05/01 12:12:00",
            r#"directory index of "/home/deploy/app/media/" is forbidden"#,
            "/media/",
        ));
        let img = image(&log);
        let r = run(img.path(), false);
        assert_eq!(r.status, Status::Fail, "{r:#?}");
        let perm = r
            .findings
            .iter()
            .find(|f| f.message.contains("13: Permission denied"))
            .unwrap();
        assert!(
            perm.message.starts_with("3 times: open()"),
            "{}",
            perm.message
        );
        let ev = |f: &media_doctor::report::Finding, label: &str| {
            f.evidence
                .iter()
                .find(|e| e.label == label)
                .map(|e| e.value.clone())
                .unwrap_or_default()
        };
        assert_eq!(
            ev(perm, "cause"),
            "nobody cannot traverse /home/deploy (needs x)"
        );
        assert_eq!(ev(perm, "explained by"), "MD202");
        assert_eq!(
            ev(perm, "seen"),
            "2024/05/01 12:00:01 .. 2024/05/01 12:10:00"
        );
        let cmds = &perm.remediation.as_ref().unwrap().commands;
        assert!(cmds.iter().any(|c| c.contains("/home/deploy")), "{cmds:?}");
        assert!(cmds
            .iter()
            .any(|c| c == "media-doctor trace http://site.test/media/a.jpg"));
        let glued = r
            .findings
            .iter()
            .find(|f| f.message.contains("/srv/mediab.jpg"))
            .unwrap();
        assert_eq!(ev(glued, "explained by"), "MD101");
        let context = r.findings.last().unwrap();
        assert!(
            ev(context, "older lines").starts_with("1 media/static lines"),
            "{context:?}"
        );
    }

    #[test]
    fn a_quiet_log_passes_and_offline_reads_nothing() {
        let img = image(&line(
            "2024/05/01 12:12:00",
            r#"directory index of "/home/deploy/app/media/" is forbidden"#,
            "/media/",
        ));
        let r = run(img.path(), false);
        assert_eq!(r.status, Status::Pass, "{r:#?}");
        assert!(
            r.summary.starts_with("only expected lines"),
            "{}",
            r.summary
        );
        let off = run(img.path(), true);
        assert_eq!(off.status, Status::Skip);
        assert!(off.summary.starts_with("--offline"));
    }

    #[test]
    fn no_log_is_a_skip_that_says_where_it_looked() {
        let img = image("");
        std::fs::remove_file(img.path().join("var/log/nginx/error.log")).unwrap();
        let r = run(img.path(), false);
        assert_eq!(r.status, Status::Skip);
        assert!(
            r.summary.contains("/var/log/nginx/error.log"),
            "{}",
            r.summary
        );
    }
}

/// The whole path on a real nginx: it logs a real 403, the site is gathered from its config, and
/// MD405 and MD111 judge it as `check` does.
mod real_site {
    use crate::support::{self, Nginx};
    use media_doctor::checks::md111_config_not_reloaded::ConfigNotReloaded;
    use media_doctor::checks::{self, md405_error_log::ErrorLog};
    use media_doctor::live::errorlog;
    use media_doctor::report::Status;
    use media_doctor::site::Options;
    use media_doctor::site::Site;
    use std::io::{Read, Write};
    use std::os::unix::fs::PermissionsExt;
    use std::time::Duration;

    fn get(port: u16, path: &str) -> String {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        write!(s, "GET {path} HTTP/1.0\r\nHost: site.test\r\n\r\n").unwrap();
        let mut buf = String::new();
        let _ = s.read_to_string(&mut buf);
        buf
    }

    fn gather(nginx: &Nginx) -> Site {
        let args = Options {
            nginx_conf: Some(nginx.conf_path()),
            ..Default::default()
        };
        Site::gather(&args, false).expect("gather")
    }

    #[test]
    fn a_real_403_in_the_log_is_traced_to_the_closed_directory() {
        if !support::require_root_and_nginx() {
            return;
        }
        let nginx = Nginx::start(
            "www-data",
            "server { listen 127.0.0.1:{PORT}; server_name site.test;\n\
             location /media/ { alias {DIR}/app/media/; } }",
        )
        .expect("nginx");
        let app = nginx.dir.path().join("app");
        std::fs::create_dir_all(app.join("media")).unwrap();
        std::fs::write(app.join("media/a.jpg"), b"jpeg").unwrap();
        support::open_ancestors(&app.join("media/a.jpg"));
        std::fs::set_permissions(&app, std::fs::Permissions::from_mode(0o700)).unwrap();
        let answer = get(nginx.port, "/media/a.jpg");
        assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
        // The error line is written before the access line that ends the request.
        nginx.wait_for_requests_logged(1);

        let site = gather(&nginx);
        let r = checks::run_one(&ErrorLog, &site);
        assert_eq!(r.status, Status::Fail, "{r:#?}");
        let f = &r.findings[0];
        assert!(f.message.starts_with("1 time: open()"), "{}", f.message);
        let cause = &f
            .evidence
            .iter()
            .find(|e| e.label == "cause")
            .unwrap()
            .value;
        assert_eq!(
            cause,
            &format!("www-data cannot traverse {} (needs x)", app.display())
        );
        let log = &f.evidence.iter().find(|e| e.label == "log").unwrap().value;
        assert_eq!(log, &nginx.error_log().display().to_string());
    }

    /// Every error-log pattern MD405 maps, as a real nginx writes it, through a logrotate-style
    /// rotation (the rotated `.1` is read too) and a tail bound (a line further back than the
    /// bound in `.1` is not read). Each group is counted and mapped to its check.
    #[test]
    fn every_pattern_a_real_nginx_logs_is_mapped_to_its_check() {
        if !support::require_root_and_nginx() {
            return;
        }
        let nginx = Nginx::start(
            "www-data",
            "server { listen 127.0.0.1:{PORT}; server_name site.test;\n\
             location /media/ { alias {DIR}/app/media/; }\n\
             location /media/glued/ { alias {DIR}/app/media; }\n\
             location /static/ { root {DIR}/app/static; }\n\
             location ~* \\.png$ { root {DIR}/html; }\n\
             location ~ /\\. { deny all; } }",
        )
        .expect("nginx");
        let dir = nginx.dir.path().to_path_buf();
        let d = dir.display().to_string();
        let media = dir.join("app/media");
        for sub in ["private", "uploads"] {
            std::fs::create_dir_all(media.join(sub)).unwrap();
        }
        std::fs::create_dir_all(dir.join("app/static")).unwrap();
        std::fs::write(dir.join("app/static/site.css"), "body{}").unwrap();
        std::fs::write(media.join("private/a.jpg"), b"jpeg").unwrap();
        std::fs::write(media.join("secret.jpg"), b"jpeg").unwrap();
        std::fs::write(media.join("a.jpg"), b"jpeg").unwrap();
        support::open_ancestors(&media.join("private/a.jpg"));
        let mode = |p: &str, m: u32| {
            std::fs::set_permissions(media.join(p), std::fs::Permissions::from_mode(m)).unwrap()
        };
        std::fs::write(media.join("uploads/index.html"), "<p>").unwrap();
        mode("private", 0o700);
        mode("secret.jpg", 0o600);
        mode("uploads/index.html", 0o600);
        // The app keeps its uploads elsewhere than nginx serves /media/ from.
        let proj = dir.join("proj");
        std::fs::create_dir_all(proj.join("proj")).unwrap();
        std::fs::write(
            proj.join("manage.py"),
            "import os\nos.environ.setdefault(\"DJANGO_SETTINGS_MODULE\", \"proj.settings\")\n",
        )
        .unwrap();
        std::fs::write(proj.join("proj/__init__.py"), "").unwrap();
        std::fs::write(
            proj.join("proj/settings.py"),
            format!(
                "MEDIA_URL = \"/media/\"\nMEDIA_ROOT = \"{d}/app/uploads\"\n\
                 STATIC_URL = \"/static/\"\nSTATIC_ROOT = \"{d}/app/static\"\n"
            ),
        )
        .unwrap();

        // Before the rotation: two of the 403s, and a line the tail bound will push out.
        let get_status = |path: &str| {
            get(nginx.port, path)
                .lines()
                .next()
                .unwrap_or("")
                .to_string()
        };
        assert!(get_status("/media/ancient.jpg").contains(" 404 "));
        for _ in 0..2 {
            assert!(get_status("/media/private/a.jpg").contains(" 403 "));
        }
        // logrotate: rename, then USR1 (nginx reopens its logs); wait until the worker did.
        let log = nginx.error_log();
        let rotated = dir.join("logs/error.log.1");
        std::fs::rename(&log, &rotated).unwrap();
        let master = nix::unistd::Pid::from_raw(nginx.pid().unwrap());
        nix::sys::signal::kill(master, nix::sys::signal::Signal::SIGUSR1).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while support::worker_pids(master.as_raw())
            .iter()
            .any(|w| writes_to(*w, &rotated))
        {
            assert!(
                std::time::Instant::now() < deadline,
                "the worker kept the old log"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        // .1 now starts with the ancient line and more than the tail bound after it.
        let old = std::fs::read_to_string(&rotated).unwrap();
        let cut = old.find("ancient.jpg").expect("the ancient line");
        let cut = cut + old[cut..].find('\n').unwrap() + 1;
        let (head, rest) = old.split_at(cut);
        let filler = format!("{} [notice] 1#1: {}\n", &head[..19], "x".repeat(200));
        let pad = filler.repeat((errorlog::TAIL_BYTES as usize / filler.len()) + 10);
        std::fs::write(&rotated, format!("{head}{pad}{rest}")).unwrap();

        // After the rotation.
        let logged = nginx.requests_logged();
        for (path, status) in [
            ("/media/private/a.jpg", " 403 "),
            ("/media/secret.jpg", " 403 "),
            ("/media/glued/a.jpg", " 404 "),
            ("/media/logo.png", " 404 "),
            ("/static/site.css", " 404 "),
            ("/media/missing.jpg", " 404 "),
            ("/media/.env", " 403 "),
            ("/media/", " 403 "),
            ("/media/nodir/", " 404 "),
            ("/media/uploads/", " 403 "),
        ] {
            let got = get_status(path);
            assert!(got.contains(status), "{path}: {got}");
        }
        // Each request's error lines are written before its access line.
        nginx.wait_for_requests_logged(logged + 10);

        let args = Options {
            nginx_conf: Some(nginx.conf_path()),
            app: Some(proj.clone()),
            framework: Some(media_doctor::app::Framework::Django),
            ..Default::default()
        };
        let site = Site::gather(&args, false).expect("gather");
        let r = checks::run_one(&ErrorLog, &site);
        assert_eq!(r.status, Status::Fail, "{r:#?}");
        let find = |needle: &str| {
            r.findings
                .iter()
                .find(|f| f.message.contains(needle))
                .unwrap_or_else(|| panic!("no finding for {needle}: {r:#?}"))
        };
        let ev = |f: &media_doctor::report::Finding, label: &str| {
            f.evidence
                .iter()
                .find(|e| e.label == label)
                .map(|e| e.value.clone())
                .unwrap_or_default()
        };
        // (the logged message, the count, the explaining check, a word of the cause)
        let cases = [
            (format!("open() \"{d}/app/media/private/a.jpg\" failed (13: Permission denied)"), "3 times", "MD202", format!("www-data cannot traverse {d}/app/media/private (needs x)")),
            (format!("open() \"{d}/app/media/secret.jpg\" failed (13: Permission denied)"), "1 time", "MD203", format!("www-data cannot read {d}/app/media/secret.jpg (needs r)")),
            (format!("open() \"{d}/app/mediaa.jpg\" failed (2: No such file or directory)"), "1 time", "MD101", "an `alias` without the trailing slash".to_string()),
            (format!("open() \"{d}/app/static/static/site.css\" failed (2: No such file or directory)"), "1 time", "MD103", "`root` where `alias` was meant".to_string()),
            (format!("open() \"{d}/app/media/missing.jpg\" failed (2: No such file or directory)"), "1 time", "MD302", format!("the app's MEDIA_ROOT is {d}/app/uploads")),
            ("access forbidden by rule".to_string(), "1 time", "MD105", "allow/deny rule".to_string()),
            (format!("open() \"{d}/html/media/logo.png\" failed (2: No such file or directory)"), "1 time", "MD105", "location ~* \\.png$ answers /media/logo.png, not location /media/".to_string()),
            (format!("directory index of \"{d}/app/media/\" is forbidden"), "1 time", "MD109", "no index file and autoindex is off".to_string()),
        ];
        for (message, count, check, cause) in &cases {
            let f = find(message);
            assert_eq!(f.message, format!("{count}: {message}"), "{f:#?}");
            assert_eq!(&ev(f, "explained by"), check, "{f:#?}");
            assert!(ev(f, "cause").contains(cause.as_str()), "{f:#?}");
        }
        // An index file the worker may not read (nginx 1.22 logs it as the open() that failed).
        let index = find(&format!(
            "open() \"{d}/app/media/uploads/index.html\" failed (13: Permission denied)"
        ));
        assert_eq!(ev(index, "explained by"), "MD203", "{index:#?}");
        // `"…/nodir/index.html" is not found (2: …)`: a directory that does not exist.
        let missing_dir = find(&format!(
            "\"{d}/app/media/nodir/index.html\" is not found (2: No such file or directory)"
        ));
        assert!(
            ev(missing_dir, "cause").contains("index file does not exist"),
            "{missing_dir:#?}"
        );
        // The 403 seen before and after the rotation: one group, from both files.
        let denied = find("private/a.jpg");
        assert_eq!(
            ev(denied, "log"),
            format!("{}, {}", log.display(), rotated.display()),
            "{denied:#?}"
        );
        // Past the tail bound: not read.
        assert!(
            r.findings
                .iter()
                .all(|f| !f.message.contains("ancient.jpg")),
            "{r:#?}"
        );
    }

    /// Whether a process holds `path` open (its fd links name the file).
    fn writes_to(pid: i32, path: &std::path::Path) -> bool {
        std::fs::read_dir(format!("/proc/{pid}/fd"))
            .map(|fds| {
                fds.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
                    .any(|target| target == path)
            })
            .unwrap_or(false)
    }

    #[test]
    fn md111_through_the_site_passes_then_fails_after_an_edit() {
        if !support::require_root_and_nginx() {
            return;
        }
        let nginx = Nginx::start(
            "www-data",
            "server { listen 127.0.0.1:{PORT}; server_name site.test; return 204; }",
        )
        .expect("nginx");
        let before = checks::run_one(&ConfigNotReloaded, &gather(&nginx));
        assert_eq!(before.status, Status::Pass, "{before:#?}");
        let conf = std::fs::read_to_string(nginx.conf_path()).unwrap();
        nginx.write_conf_after_load(&conf.replace("return 204;", "return 200;"));
        let after = checks::run_one(&ConfigNotReloaded, &gather(&nginx));
        assert_eq!(after.status, Status::Fail, "{after:#?}");
        assert!(after.summary.contains("changed after nginx last loaded"));
    }
}

/// MD401–MD404 and MD406 on a real nginx, with misbehaving listeners as the app, the CDN, or a
/// blackholed public URL.
mod probes_site {
    use crate::listeners::{Behaviour, Blackhole, Listener};
    use crate::support::{self, Nginx};
    use media_doctor::checks::md401_origin_serves_file::OriginServesFile;
    use media_doctor::checks::md402_public_serves_file::PublicServesFile;
    use media_doctor::checks::md403_request_hits_app::RequestHitsApp;
    use media_doctor::checks::md404_cached_error::CachedError;
    use media_doctor::checks::md406_prediction_mismatch::PredictionMismatch;
    use media_doctor::checks::{self, Check};
    use media_doctor::report::{CheckResult, Status};
    use media_doctor::site::Options;
    use media_doctor::site::Site;
    use std::os::unix::fs::PermissionsExt;
    use std::time::{Duration, Instant};

    /// A private nginx serving {DIR}/app/media/ at /media/ for site.test, with one file.
    fn media_site(extra_server: &str) -> Nginx {
        let nginx = Nginx::start(
            "www-data",
            &format!(
                "server {{ listen 127.0.0.1:{{PORT}}; server_name site.test;\n\
                 location /media/ {{ alias {{DIR}}/app/media/; }}\n{extra_server} }}"
            ),
        )
        .expect("nginx");
        let media = nginx.dir.path().join("app/media/uploads");
        std::fs::create_dir_all(&media).unwrap();
        std::fs::write(media.join("a b.jpg"), b"jpeg").unwrap();
        support::open_ancestors(&media.join("a b.jpg"));
        nginx
    }

    /// `media_site` with the app directory closed to the worker (0700): every upload is a 403.
    fn closed_media_site(extra_server: &str) -> Nginx {
        let nginx = media_site(extra_server);
        let app = nginx.dir.path().join("app");
        std::fs::set_permissions(&app, std::fs::Permissions::from_mode(0o700)).unwrap();
        nginx
    }

    fn gather(nginx: &Nginx, url: Option<String>, probe: Vec<String>) -> Site {
        let args = Options {
            nginx_conf: Some(nginx.conf_path()),
            url,
            probe,
            ..Default::default()
        };
        Site::gather(&args, false).expect("gather")
    }

    /// Checks of one run share its probes: run them in one context.
    fn run(site: &checks::Context<'_>, check: &dyn Check) -> CheckResult {
        checks::run_in(check, site)
    }

    fn evidence(r: &CheckResult, label: &str) -> Vec<String> {
        r.findings
            .iter()
            .flat_map(|f| f.evidence.iter())
            .filter(|e| e.label == label)
            .map(|e| e.value.clone())
            .collect()
    }

    #[test]
    fn a_healthy_site_passes_every_probe_check() {
        if !support::require_root_and_nginx() {
            return;
        }
        let nginx = media_site("");
        let site = gather(
            &nginx,
            Some(format!("http://127.0.0.1:{}/", nginx.port)),
            vec![],
        );
        let site = checks::Context::new(&site);
        let r401 = run(&site, &OriginServesFile);
        assert_eq!(r401.status, Status::Pass, "{r401:#?}");
        assert!(
            r401.summary
                .contains("/media/uploads/a%20b.jpg via 127.0.0.1:"),
            "{}",
            r401.summary
        );
        // The public URL here is the same nginx (by IP, so the default server answers: the
        // only one): it serves the file too.
        let r402 = run(&site, &PublicServesFile);
        assert_eq!(r402.status, Status::Pass, "{r402:#?}");
        let r403 = run(&site, &RequestHitsApp);
        assert_eq!(r403.status, Status::Pass, "{r403:#?}");
        assert!(r403
            .summary
            .starts_with("answered by nginx's static module"));
        let r404 = run(&site, &CachedError);
        assert_eq!(r404.status, Status::Pass, "{r404:#?}");
        let r406 = run(&site, &PredictionMismatch);
        assert_eq!(r406.status, Status::Pass, "{r406:#?}");
        assert!(
            r406.summary.contains("match the prediction"),
            "{}",
            r406.summary
        );
    }

    #[test]
    fn a_closed_directory_is_a_403_the_model_predicted() {
        if !support::require_root_and_nginx() {
            return;
        }
        let nginx = closed_media_site("");
        let site = gather(&nginx, None, vec![]);
        let site = checks::Context::new(&site);
        let r401 = run(&site, &OriginServesFile);
        assert_eq!(r401.status, Status::Fail, "{r401:#?}");
        assert!(
            r401.summary.contains(": 403 for a file that exists"),
            "{}",
            r401.summary
        );
        let predicted = evidence(&r401, "predicted");
        assert!(predicted[0].starts_with("403"), "{predicted:?}");
        // The model agrees with nginx: no mismatch.
        let r406 = run(&site, &PredictionMismatch);
        assert_eq!(r406.status, Status::Pass, "{r406:#?}");
        // No public URL for site.test: MD402 says so.
        let r402 = run(&site, &PublicServesFile);
        assert_eq!(r402.status, Status::Skip);
        assert!(r402.summary.contains("--url"), "{}", r402.summary);
    }

    /// A server on two sockets that refuse the file the same way is one finding naming both
    /// (one cause, one fix), not a finding per socket.
    #[test]
    fn sockets_failing_alike_are_one_finding() {
        if !support::require_root_and_nginx() {
            return;
        }
        let nginx = closed_media_site("listen 127.0.0.2:{PORT};");
        let site = gather(&nginx, None, vec![]);
        let site = checks::Context::new(&site);
        let r401 = run(&site, &OriginServesFile);
        assert_eq!(r401.status, Status::Fail, "{r401:#?}");
        let errors: Vec<_> = r401
            .findings
            .iter()
            .filter(|f| f.severity == media_doctor::report::Severity::Error)
            .collect();
        assert_eq!(errors.len(), 1, "{r401:#?}");
        let port = nginx.port;
        let message = &errors[0].message;
        assert!(
            message.contains(&format!("127.0.0.1:{port}, 127.0.0.2:{port}: 403")),
            "{message}"
        );
        assert_eq!(evidence(&r401, "also on").len(), 1, "{r401:#?}");
    }

    #[test]
    fn a_config_changed_but_not_reloaded_is_named_as_the_cause() {
        if !support::require_root_and_nginx() {
            return;
        }
        let nginx = media_site("");
        // On disk the media location now answers 410; the running nginx still serves files.
        let conf = std::fs::read_to_string(nginx.conf_path()).unwrap();
        let dir = nginx.dir.path().display().to_string();
        nginx.write_conf_after_load(&conf.replace(
            &format!("location /media/ {{ alias {dir}/app/media/; }}"),
            "location /media/ { return 410; }",
        ));
        let site = gather(&nginx, None, vec!["/media/uploads/a%20b.jpg".into()]);
        let site = checks::Context::new(&site);
        let r406 = run(&site, &PredictionMismatch);
        assert_eq!(r406.status, Status::Fail, "{r406:#?}");
        assert!(
            r406.summary
                .contains("nginx answers 200, the config and files predict 410"),
            "{}",
            r406.summary
        );
        let cause = evidence(&r406, "likely cause");
        assert!(
            cause[0].starts_with("the config was changed after nginx loaded it (MD111)"),
            "{cause:?}"
        );
    }

    #[test]
    fn media_proxied_to_the_app_is_caught_by_its_headers() {
        if !support::require_root_and_nginx() {
            return;
        }
        // The "app": answers like Django behind nginx would (security middleware headers).
        let app = Listener::start(Behaviour::Respond(
            "HTTP/1.1 404 Not Found\r\nServer: gunicorn\r\nContent-Type: text/html; charset=utf-8\r\n\
             Cross-Origin-Opener-Policy: same-origin\r\nReferrer-Policy: same-origin\r\n\
             Content-Length: 0\r\nConnection: close\r\n\r\n",
        ));
        let nginx = Nginx::start(
            "www-data",
            &format!(
                "server {{ listen 127.0.0.1:{{PORT}}; server_name site.test;\n\
                 location / {{ proxy_pass http://{}; }} }}",
                app.addr
            ),
        )
        .expect("nginx");
        let site = gather(&nginx, None, vec!["/media/a.jpg".into()]);
        let site = checks::Context::new(&site);
        let r403 = run(&site, &RequestHitsApp);
        assert_eq!(r403.status, Status::Fail, "{r403:#?}");
        assert!(
            r403.summary.contains("was answered by the app"),
            "{}",
            r403.summary
        );
        let because = evidence(&r403, "because");
        assert!(
            because[0].contains("Cross-Origin-Opener-Policy"),
            "{because:?}"
        );
        let r401 = run(&site, &OriginServesFile);
        assert_eq!(r401.status, Status::Fail);
        // A proxied URL has no prediction to compare.
        assert_eq!(run(&site, &PredictionMismatch).status, Status::Skip);
    }

    #[test]
    fn a_cdn_serving_a_cached_404_is_caught() {
        if !support::require_root_and_nginx() {
            return;
        }
        let cdn = Listener::start(Behaviour::Respond(
            "HTTP/1.1 404 Not Found\r\nServer: cloudflare\r\nCF-Cache-Status: HIT\r\nAge: 5120\r\n\
             Content-Length: 0\r\nConnection: close\r\n\r\n",
        ));
        let nginx = media_site("");
        let site = gather(&nginx, Some(cdn.url("/")), vec![]);
        let site = checks::Context::new(&site);
        let r404 = run(&site, &CachedError);
        assert_eq!(r404.status, Status::Fail, "{r404:#?}");
        assert!(r404
            .summary
            .contains("a cache in front serves a stored 404 while the origin answers 200"));
        assert_eq!(
            evidence(&r404, "cache"),
            ["Age: 5120, CF-Cache-Status: HIT"]
        );
        let fix = r404.findings[0].remediation.as_ref().unwrap();
        assert!(fix.commands[0].contains("purge_cache"), "{fix:?}");
        let r402 = run(&site, &PublicServesFile);
        assert_eq!(r402.status, Status::Fail);
        assert!(r402.summary.contains("while the local nginx answers 200"));
        let r406 = run(&site, &PredictionMismatch);
        assert_eq!(r406.status, Status::Warn, "{r406:#?}");
        assert!(r406
            .summary
            .contains("a proxy or CDN in front answers differently"));
    }

    #[test]
    fn a_public_redirect_loop_and_a_refused_origin_are_findings() {
        if !support::require_root_and_nginx() {
            return;
        }
        let looping = Listener::start(Behaviour::Respond(
            "HTTP/1.1 301 Moved Permanently\r\nLocation: /media/uploads/a%20b.jpg\r\n\
             Content-Length: 0\r\nConnection: close\r\n\r\n",
        ));
        let nginx = media_site("");
        // A second listen on a port nothing is bound to (nginx was started with the config
        // before this listen existed).
        let dead = support::free_port();
        let conf = std::fs::read_to_string(nginx.conf_path()).unwrap();
        nginx.write_conf(&conf.replace(
            &format!("listen 127.0.0.1:{};", nginx.port),
            &format!("listen 127.0.0.1:{}; listen 127.0.0.1:{dead};", nginx.port),
        ));
        let site = gather(&nginx, Some(looping.url("/")), vec![]);
        let site = checks::Context::new(&site);
        let r402 = run(&site, &PublicServesFile);
        assert_eq!(r402.status, Status::Fail);
        assert!(
            r402.summary.contains("redirect loop (301 to itself)"),
            "{}",
            r402.summary
        );
        let r401 = run(&site, &OriginServesFile);
        assert_eq!(r401.status, Status::Fail, "{r401:#?}");
        let refused = r401
            .findings
            .iter()
            .find(|f| f.message.contains(&format!("127.0.0.1:{dead}")))
            .expect("a finding for the dead socket");
        assert!(
            refused.message.contains("connection refused"),
            "{}",
            refused.message
        );
    }

    #[test]
    fn a_blackholed_public_url_costs_at_most_the_budget() {
        if !support::require_root_and_nginx() {
            return;
        }
        let hole = Blackhole::start();
        let nginx = media_site("");
        let site = gather(&nginx, Some(format!("http://{}/", hole.addr)), vec![]);
        let site = checks::Context::new(&site);
        let t0 = Instant::now();
        let r402 = run(&site, &PublicServesFile);
        let took = t0.elapsed();
        assert_eq!(r402.status, Status::Fail);
        assert!(
            r402.summary.contains("connect timed out"),
            "{}",
            r402.summary
        );
        assert!(took < Duration::from_secs(7), "{took:?}");
        // The other checks reuse the same answers: no second wait.
        let t1 = Instant::now();
        assert_eq!(run(&site, &OriginServesFile).status, Status::Pass);
        assert!(t1.elapsed() < Duration::from_millis(500));
    }

    /// A real nginx redirecting media URLs to themselves (a server-level `return 301` meant for
    /// http→https, on the https side): a redirect loop finding on the origin, not a hang.
    #[test]
    fn an_origin_redirecting_to_itself_is_a_loop() {
        if !support::require_root_and_nginx() {
            return;
        }
        let nginx = media_site("if ($request_uri ~ ^/media/) { return 301 $request_uri; }");
        let site = gather(&nginx, None, vec![]);
        let site = checks::Context::new(&site);
        let results = live_results(&site);
        let r401 = results.iter().find(|r| r.id == "MD401").unwrap();
        assert_eq!(r401.status, Status::Fail, "{r401:#?}");
        assert!(
            r401.findings
                .iter()
                .any(|f| f.message.contains("redirect loop (301 to itself)")),
            "{r401:#?}"
        );
    }

    /// A listen on an address this machine does not have (a config copied from another host)
    /// is not the local nginx's socket: nothing is sent there.
    #[test]
    fn a_listen_on_another_machines_address_is_not_probed() {
        if !support::require_root_and_nginx() {
            return;
        }
        let nginx = media_site("");
        let conf = std::fs::read_to_string(nginx.conf_path()).unwrap();
        // 192.0.2.1 (TEST-NET-1) is on no interface here; nginx could not have started with it.
        nginx.write_conf(&conf.replace(
            &format!("listen 127.0.0.1:{};", nginx.port),
            &format!(
                "listen 127.0.0.1:{}; listen 192.0.2.1:{};",
                nginx.port, nginx.port
            ),
        ));
        let site = gather(&nginx, None, vec![]);
        let site = checks::Context::new(&site);
        let t0 = Instant::now();
        let r401 = run(&site, &OriginServesFile);
        assert_eq!(r401.status, Status::Pass, "{r401:#?}");
        let notes = evidence(&r401, "note");
        assert!(
            notes
                .iter()
                .any(|n| n.contains("192.0.2.1 is not an address of this machine")),
            "{notes:?}"
        );
        // A probe there would have waited for the 2 s connect limit.
        assert!(
            t0.elapsed() < Duration::from_millis(1500),
            "{:?}",
            t0.elapsed()
        );
    }

    #[test]
    fn sockets_a_plain_client_cannot_use_are_noted_not_probed() {
        if !support::require_root_and_nginx() {
            return;
        }
        let pp = support::free_port();
        let nginx = media_site(&format!("listen 127.0.0.1:{pp} proxy_protocol;"));
        let site = gather(&nginx, None, vec![]);
        let site = checks::Context::new(&site);
        let r401 = run(&site, &OriginServesFile);
        assert_eq!(r401.status, Status::Pass, "{r401:#?}");
        let notes = evidence(&r401, "note");
        assert!(
            notes
                .iter()
                .any(|n| n.contains("proxy_protocol: not probed")),
            "{notes:?}"
        );
    }

    /// The live checks on a site, run as `check` runs them: none may break (status error).
    fn live_results(site: &checks::Context<'_>) -> Vec<CheckResult> {
        let results: Vec<CheckResult> = checks::registry()
            .into_iter()
            .filter(|c| c.meta().id.starts_with("MD4"))
            .map(|c| checks::run_in(c, site))
            .collect();
        for r in &results {
            assert_ne!(r.status, Status::Error, "{r:#?}");
        }
        results
    }

    fn messages(r: &CheckResult) -> String {
        r.findings
            .iter()
            .map(|f| f.message.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Every network failure the issue lists, as the public URL: each is a failed MD402 that
    /// names it (never a broken check), within the probe budget. The cases run at once, as
    /// each waits on its own server.
    #[test]
    fn every_network_failure_of_the_public_url_is_a_finding() {
        if !support::require_root_and_nginx() {
            return;
        }
        let silent = Listener::start(Behaviour::Silent);
        let reset = Listener::start(Behaviour::Reset);
        let endless = Listener::start(Behaviour::EndlessHeaders);
        let plain = Listener::start(Behaviour::Respond(
            "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        ));
        let looping = Listener::start(Behaviour::Respond(
            "HTTP/1.1 302 Found\r\nLocation: /media/uploads/a%20b.jpg\r\n\
             Content-Length: 0\r\nConnection: close\r\n\r\n",
        ));
        let dead = support::free_port();
        // A real nginx in front (a load balancer) whose upstream is down: a real 502.
        let balancer = Nginx::start(
            "www-data",
            &format!(
                "server {{ listen 127.0.0.1:{{PORT}}; location / {{ proxy_pass http://127.0.0.1:{dead}; }} }}"
            ),
        )
        .expect("balancer nginx");
        let nginx = media_site("");
        let cases: Vec<(&str, String, &str)> = vec![
            (
                "refused",
                format!("http://127.0.0.1:{dead}/"),
                "connection refused",
            ),
            (
                "timeout",
                silent.url("/"),
                "timed out waiting for the response",
            ),
            (
                "dns",
                "http://no-such-host.invalid/".into(),
                "DNS lookup failed",
            ),
            (
                "tls",
                format!("https://{}/", plain.addr),
                "TLS handshake failed",
            ),
            ("reset", reset.url("/"), "connection reset or closed"),
            ("endless headers", endless.url("/"), "invalid HTTP response"),
            (
                "redirect loop",
                looping.url("/"),
                "redirect loop (302 to itself)",
            ),
            (
                "5xx",
                format!("http://127.0.0.1:{}/", balancer.port),
                ": 502 while the local nginx answers 200",
            ),
        ];
        std::thread::scope(|scope| {
            for (name, url, want) in &cases {
                let nginx = &nginx;
                scope.spawn(move || {
                    let site = gather(nginx, Some(url.clone()), vec![]);
                    let site = checks::Context::new(&site);
                    let t0 = Instant::now();
                    let results = live_results(&site);
                    let took = t0.elapsed();
                    let md402 = results.iter().find(|r| r.id == "MD402").unwrap();
                    assert_eq!(md402.status, Status::Fail, "{name}: {md402:#?}");
                    assert!(messages(md402).contains(want), "{name}: {md402:#?}");
                    let md401 = results.iter().find(|r| r.id == "MD401").unwrap();
                    assert_eq!(md401.status, Status::Pass, "{name}: {md401:#?}");
                    // The probes' 6 s budget, and slack for a loaded machine.
                    assert!(took < Duration::from_secs(9), "{name}: took {took:?}");
                });
            }
        });
    }

    /// The same failures on sockets the site's server listens on (the config on disk names
    /// them; the running nginx never bound them): one MD401 finding per socket, each naming
    /// the socket and what went wrong.
    #[test]
    fn every_network_failure_on_an_origin_socket_is_a_finding() {
        if !support::require_root_and_nginx() {
            return;
        }
        let silent = Listener::start(Behaviour::Silent);
        let reset = Listener::start(Behaviour::Reset);
        let endless = Listener::start(Behaviour::EndlessHeaders);
        let plain = Listener::start(Behaviour::Respond(
            "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        ));
        let bad_gateway = Listener::start(Behaviour::Respond(
            "HTTP/1.1 502 Bad Gateway\r\nServer: nginx\r\nContent-Length: 0\r\n\
             Connection: close\r\n\r\n",
        ));
        let dead = support::free_port();
        let nginx = media_site("");
        let conf = std::fs::read_to_string(nginx.conf_path()).unwrap();
        let extra = format!(
            "listen {}; listen {}; listen {}; listen {} ssl; listen {}; listen 127.0.0.1:{dead};",
            silent.addr, reset.addr, endless.addr, plain.addr, bad_gateway.addr
        );
        nginx.write_conf(&conf.replace(
            &format!("listen 127.0.0.1:{};", nginx.port),
            &format!("listen 127.0.0.1:{}; {extra}", nginx.port),
        ));
        let site = gather(&nginx, None, vec![]);
        let site = checks::Context::new(&site);
        let t0 = Instant::now();
        let results = live_results(&site);
        let took = t0.elapsed();
        let md401 = results.iter().find(|r| r.id == "MD401").unwrap();
        assert_eq!(md401.status, Status::Fail, "{md401:#?}");
        let finding_for = |addr: String| {
            md401
                .findings
                .iter()
                .find(|f| f.message.contains(&addr))
                .unwrap_or_else(|| panic!("no finding for {addr}: {md401:#?}"))
                .message
                .clone()
        };
        for (addr, want) in [
            (
                silent.addr.to_string(),
                "timed out waiting for the response",
            ),
            (reset.addr.to_string(), "connection reset or closed"),
            (endless.addr.to_string(), "invalid HTTP response"),
            (plain.addr.to_string(), "TLS handshake failed"),
            (bad_gateway.addr.to_string(), "502 for a file that exists"),
            (format!("127.0.0.1:{dead}"), "connection refused"),
        ] {
            let msg = finding_for(addr);
            assert!(msg.contains(want), "{msg}");
        }
        // Refused on a listen the running nginx never bound: the fix reloads THAT master (it
        // was started by hand: no systemctl), which binds the listen.
        let refused = md401
            .findings
            .iter()
            .find(|f| f.message.contains(&format!("127.0.0.1:{dead}")))
            .and_then(|f| f.remediation.as_ref())
            .expect("a fix for the refused socket");
        let master = nginx.pid().expect("nginx runs");
        assert!(
            refused.commands[0].ends_with(&format!("sudo kill -HUP {master}")),
            "{refused:?}"
        );
        // The socket nginx really listens on still serves the file.
        assert!(
            md401
                .findings
                .iter()
                .all(|f| !f.message.contains(&format!("127.0.0.1:{}:", nginx.port))),
            "{md401:#?}"
        );
        // The probes' 6 s budget, and slack for a loaded machine.
        assert!(took < Duration::from_secs(9), "took {took:?}");
    }

    #[test]
    fn offline_sends_nothing() {
        if !support::require_root_and_nginx() {
            return;
        }
        let nginx = media_site("");
        let args = Options {
            nginx_conf: Some(nginx.conf_path()),
            ..Default::default()
        };
        let site = Site::gather(&args, true).unwrap();
        let cx = checks::Context::new(&site);
        for c in checks::registry()
            .into_iter()
            .filter(|c| c.meta().id.starts_with("MD4") || c.meta().id == "MD111")
        {
            let r = checks::run_in(c, &cx);
            assert_eq!(r.status, Status::Skip, "{}", r.id);
            assert!(
                r.summary.starts_with("--offline"),
                "{}: {}",
                r.id,
                r.summary
            );
        }
        assert!(cx.probes_made().is_none(), "no probe was planned");
    }
}

/// The binary end to end: `trace` shows the live answer beside the prediction, `check` stays
/// within the probe budget against a blackhole, and `--offline` sends nothing.
mod binary {
    use crate::listeners::{Behaviour, Blackhole, Listener};
    use crate::run::media_doctor;
    use crate::support::{self, Nginx};
    use std::time::{Duration, Instant};

    fn media_site() -> Nginx {
        let nginx = Nginx::start(
            "www-data",
            "server { listen 127.0.0.1:{PORT}; server_name site.test;\n\
             location /media/ { alias {DIR}/app/media/; } }",
        )
        .expect("nginx");
        let media = nginx.dir.path().join("app/media");
        std::fs::create_dir_all(&media).unwrap();
        std::fs::write(media.join("a.jpg"), b"jpeg").unwrap();
        support::open_ancestors(&media.join("a.jpg"));
        nginx
    }

    fn json(text: &str) -> serde_json::Value {
        serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
    }

    #[test]
    fn trace_shows_the_live_answer_and_explains_a_difference() {
        if !support::require_root_and_nginx() {
            return;
        }
        let nginx = media_site();
        let conf = nginx.conf_path().display().to_string();
        let url = format!("http://site.test:{}/media/a.jpg", nginx.port);
        let out = media_doctor(&["trace", &url, "--nginx-conf", &conf, "--format", "json"]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        let t = json(&out.stdout);
        assert_eq!(t["predicted_status"], 200);
        assert_eq!(t["live"]["status"], 200, "{}", out.stdout);
        assert_eq!(t["live"]["agreement"], "matches");
        assert_eq!(t["live"]["headers"]["content-length"], "4");
        assert_eq!(t["live"]["answers"][0]["kind"], "origin");
        // site.test is not public: the URL itself is not sent.
        assert_eq!(t["live"]["answers"].as_array().unwrap().len(), 1);

        // Change the config without reloading: the model now predicts 410.
        let text = std::fs::read_to_string(nginx.conf_path()).unwrap();
        nginx.write_conf_after_load(&text.replace(
            &format!("alias {}/app/media/;", nginx.dir.path().display()),
            "return 410;",
        ));
        let out = media_doctor(&["trace", &url, "--nginx-conf", &conf]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert!(
            out.stdout.contains("status    410 (predicted)"),
            "{}",
            out.stdout
        );
        assert!(
            out.stdout.contains("live      origin 200"),
            "{}",
            out.stdout
        );
        assert!(
            out.stdout.contains(
                "the running nginx answers 200, the config and files on disk predict 410"
            ),
            "{}",
            out.stdout
        );
        assert!(
            out.stdout
                .contains("likely cause: the config was changed after nginx loaded it (MD111)"),
            "{}",
            out.stdout
        );

        let off = media_doctor(&[
            "trace",
            &url,
            "--nginx-conf",
            &conf,
            "--offline",
            "--format",
            "json",
        ]);
        assert!(json(&off.stdout)["live"].is_null());
    }

    const PROXY_VARS: &[&str] = &[
        "http_proxy",
        "https_proxy",
        "all_proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "no_proxy",
        "NO_PROXY",
    ];

    /// `media-doctor check` with the proxy variables set to `proxy` (or all removed).
    fn check_with_proxy(args: &[&str], proxy: Option<&str>) -> crate::run::Output {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_media-doctor"));
        cmd.arg("check").args(args).env("NO_COLOR", "1");
        for var in PROXY_VARS {
            cmd.env_remove(var);
        }
        if let Some(p) = proxy {
            for var in PROXY_VARS
                .iter()
                .filter(|v| !v.ends_with("no_proxy") && !v.ends_with("NO_PROXY"))
            {
                cmd.env(var, p);
            }
        }
        let out = cmd.output().expect("run media-doctor");
        crate::run::Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// The HEAD requests nginx logged so far.
    fn origin_heads(nginx: &Nginx) -> usize {
        std::fs::read_to_string(nginx.dir.path().join("logs/access.log"))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("\"HEAD /media/a.jpg "))
            .count()
    }

    /// No request goes anywhere but the site's own origin and its public URL. With every proxy
    /// variable pointing at a listener, the origin is still asked directly and the proxy sees
    /// only the public URL's requests; a redirect from the public URL is reported, not
    /// followed; `--offline` sends nothing to any of them.
    #[test]
    fn requests_go_only_to_the_origin_and_the_public_url() {
        if !support::require_root_and_nginx() {
            return;
        }
        let nginx = media_site();
        let conf = nginx.conf_path().display().to_string();
        let ok = "HTTP/1.1 200 OK\r\nServer: elsewhere\r\nContent-Length: 4\r\nConnection: close\r\n\r\n";
        let proxy = Listener::start(Behaviour::Respond(ok));
        let elsewhere = Listener::start(Behaviour::Respond(ok));
        let redirect: &'static str = Box::leak(
            format!(
                "HTTP/1.1 301 Moved Permanently\r\nLocation: {}\r\nContent-Length: 0\r\n\
                 Connection: close\r\n\r\n",
                elsewhere.url("/media/a.jpg")
            )
            .into_boxed_str(),
        );
        let public = Listener::start(Behaviour::Respond(redirect));
        let public_url = public.url("/");
        let args = [
            "--nginx-conf",
            &conf,
            "--url",
            &public_url,
            "--format",
            "json",
        ];

        // 1. Proxies in the environment: used for the public URL only.
        let out = check_with_proxy(&args, Some(&proxy.url("")));
        json(&out.stdout);
        let via_proxy = proxy.requests();
        assert!(
            !via_proxy.is_empty(),
            "the public URL goes through the proxy"
        );
        for r in &via_proxy {
            assert!(
                r.starts_with(&format!("HEAD http://{}/media/", public.addr)),
                "the proxy got a request for something else than the public URL: {r}"
            );
        }
        assert_eq!(public.connections(), 0, "the proxy answered for it");
        let heads = origin_heads(&nginx);
        assert!(
            heads >= 1,
            "the origin is asked directly, not through the proxy"
        );

        // 2. No proxy: the public URL answers a redirect elsewhere, which is not followed.
        let out = check_with_proxy(&args, None);
        let report = json(&out.stdout);
        assert!(!public.requests().is_empty());
        for r in public.requests() {
            assert!(r.starts_with("HEAD /media/a.jpg "), "{r}");
        }
        assert_eq!(elsewhere.connections(), 0, "a redirect was followed");
        let md402 = report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == "MD402")
            .unwrap();
        assert!(md402.to_string().contains("301 to"), "{md402}");
        assert!(origin_heads(&nginx) > heads);

        // 3. --offline: nothing to anyone.
        let before = (
            proxy.connections(),
            public.connections(),
            elsewhere.connections(),
            origin_heads(&nginx),
        );
        let mut offline = args.to_vec();
        offline.push("--offline");
        let out = check_with_proxy(&offline, Some(&proxy.url("")));
        json(&out.stdout);
        // Whatever the run sent has arrived once each listener took a connection made after it
        // and nginx logged a request sent after it.
        for l in [&proxy, &public, &elsewhere] {
            l.settle();
        }
        let logged = nginx.requests_logged();
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", nginx.port)).unwrap();
        s.write_all(b"GET /settle HTTP/1.0\r\n\r\n").unwrap();
        let _ = s.read_to_end(&mut Vec::new());
        nginx.wait_for_requests_logged(logged + 1);
        assert_eq!(
            (
                proxy.connections(),
                public.connections(),
                elsewhere.connections(),
                origin_heads(&nginx),
            ),
            before,
            "--offline sent a request"
        );
    }

    /// `--offline` reads no log: nothing opens the error log or its rotated copy (inotify
    /// reports every open in the logs directory), where the same check online does.
    #[test]
    fn offline_opens_no_log() {
        use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
        if !support::require_root_and_nginx() {
            return;
        }
        let nginx = media_site();
        let conf = nginx.conf_path().display().to_string();
        let logs = nginx.dir.path().join("logs");
        std::fs::write(logs.join("error.log.1"), "").unwrap();
        let watch = Inotify::init(InitFlags::IN_NONBLOCK).unwrap();
        watch.add_watch(&logs, AddWatchFlags::IN_OPEN).unwrap();
        let opened = || -> Vec<String> {
            let mut names = Vec::new();
            while let Ok(events) = watch.read_events() {
                names.extend(
                    events
                        .into_iter()
                        .filter_map(|e| e.name?.into_string().ok())
                        .filter(|n| n.starts_with("error.log")),
                );
            }
            names
        };
        let out = media_doctor(&[
            "check",
            "--nginx-conf",
            &conf,
            "--offline",
            "--format",
            "json",
        ]);
        assert!(out.stdout.contains("\"MD405\""), "{}", out.stdout);
        assert_eq!(opened(), Vec::<String>::new(), "--offline opened a log");
        // The watch sees the opens of a check that reads the logs.
        media_doctor(&["check", "--nginx-conf", &conf]);
        let online = opened();
        for name in ["error.log", "error.log.1"] {
            assert!(online.iter().any(|n| n == name), "{name}: {online:?}");
        }
    }

    /// The status line nginx answers a HEAD for site.test with.
    fn head_status(port: u16, path: &str) -> String {
        use std::io::{Read, Write};
        let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
            return String::new();
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        let _ = write!(s, "HEAD {path} HTTP/1.0\r\nHost: site.test\r\n\r\n");
        let mut buf = String::new();
        let _ = s.read_to_string(&mut buf);
        buf.lines().next().unwrap_or_default().to_string()
    }

    /// The 3 a.m. case: a fix was written to the config but nginx was never reloaded. The
    /// model predicts 200 from the files on disk, the running nginx (old config) answers 404;
    /// trace says so in one line, names the stale file, and gives the reload command for that
    /// very master. Then the same trace with a CDN in front answering a cached 404, and with
    /// nginx stopped.
    #[test]
    fn trace_explains_an_old_config_a_cdn_in_front_and_a_dead_origin() {
        if !support::require_root_and_nginx() {
            return;
        }
        // Running: /media/ from app/old/ (no a.jpg there). On disk: fixed to app/media/.
        let mut nginx = Nginx::start(
            "www-data",
            "server { listen 127.0.0.1:{PORT}; server_name site.test;\n\
             location /media/ { alias {DIR}/app/old/; } }",
        )
        .expect("nginx");
        let dir = nginx.dir.path().to_path_buf();
        std::fs::create_dir_all(dir.join("app/old")).unwrap();
        std::fs::create_dir_all(dir.join("app/media")).unwrap();
        std::fs::write(dir.join("app/media/a.jpg"), b"jpeg").unwrap();
        support::open_ancestors(&dir.join("app/media/a.jpg"));
        let text = std::fs::read_to_string(nginx.conf_path()).unwrap();
        nginx.write_conf_after_load(&text.replace("/app/old/", "/app/media/"));
        let conf = nginx.conf_path().display().to_string();
        let pid = nginx.pid().unwrap();
        let url = format!("http://site.test:{}/media/a.jpg", nginx.port);

        let out = media_doctor(&["trace", &url, "--nginx-conf", &conf]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        let t = &out.stdout;
        eprintln!("{t}");
        for want in [
            "status    200 (predicted)".to_string(),
            format!(
                "live      origin 404  HEAD {url} via 127.0.0.1:{}",
                nginx.port
            ),
            "\u{2717} the running nginx answers 404, the config and files on disk predict 200"
                .to_string(),
            format!("likely cause: the config was changed after nginx loaded it (MD111): {conf}"),
            format!("-c {conf} && sudo kill -HUP {pid}"),
        ] {
            assert!(t.contains(&want), "{want:?} not in:\n{t}");
        }
        let j =
            json(&media_doctor(&["trace", &url, "--nginx-conf", &conf, "--format", "json"]).stdout);
        assert_eq!(j["predicted_status"], 200);
        assert_eq!(j["live"]["status"], 404);
        assert_eq!(j["live"]["agreement"], "differs");
        let cause = &j["live"]["cause"];
        assert!(
            cause["text"].as_str().unwrap().contains("(MD111)"),
            "{cause}"
        );
        assert!(
            cause["commands"][0]
                .as_str()
                .unwrap()
                .ends_with(&format!("kill -HUP {pid}")),
            "{cause}"
        );

        // A CDN on the public address (same port, another loopback address) serves a stored
        // 404 while nginx, reloaded, now answers 200.
        nginx.reload();
        assert!(head_status(nginx.port, "/media/a.jpg").starts_with("HTTP/1.1 200"));
        let cdn = Listener::start_at(
            &format!("127.0.0.2:{}", nginx.port),
            Behaviour::Respond(
                "HTTP/1.1 404 Not Found\r\nServer: cloudflare\r\nCF-Cache-Status: HIT\r\n\
                 Age: 5120\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            ),
        );
        let public = format!("http://127.0.0.2:{}/", nginx.port);
        let public_url = format!("{public}media/a.jpg");
        let out = media_doctor(&[
            "trace",
            &public_url,
            "--nginx-conf",
            &conf,
            "--url",
            &public,
        ]);
        let t = &out.stdout;
        eprintln!("{t}");
        assert!(t.contains("the live answer matches the prediction"), "{t}");
        assert!(
            t.contains(
                "the public URL answers 404 where the local nginx answers 200: something in \
                 front of nginx (a proxy, CDN or cache) answers differently [Server: cloudflare, \
                 Age: 5120, CF-Cache-Status: HIT]"
            ),
            "{t}"
        );
        assert!(cdn.connections() >= 1);

        // nginx stopped: no answer, and what to do about it.
        let port = nginx.port;
        nginx.stop();
        let out = media_doctor(&["trace", &url, "--nginx-conf", &conf]);
        let t = &out.stdout;
        eprintln!("{t}");
        for want in [
            "\u{2717} no live answer to compare with the prediction".to_string(),
            format!(
                "because: the running nginx did not answer on 127.0.0.1:{port}: connection refused"
            ),
            format!("fix: nothing listens on 127.0.0.1:{port}: start nginx"),
        ] {
            assert!(t.contains(&want), "{want:?} not in:\n{t}");
        }
        let j =
            json(&media_doctor(&["trace", &url, "--nginx-conf", &conf, "--format", "json"]).stdout);
        assert_eq!(j["live"]["agreement"], "no-answer");
        assert!(j["live"]["status"].is_null());
    }

    #[test]
    fn check_with_a_blackholing_public_url_stays_within_the_budget() {
        if !support::require_root_and_nginx() {
            return;
        }
        let hole = Blackhole::start();
        let nginx = media_site();
        let conf = nginx.conf_path().display().to_string();
        let url = format!("http://{}/", hole.addr);
        let t0 = Instant::now();
        let out = media_doctor(&[
            "check",
            "--nginx-conf",
            &conf,
            "--url",
            &url,
            "--format",
            "json",
        ]);
        let took = t0.elapsed();
        assert_eq!(out.code, 1, "{}", out.stderr);
        let r = json(&out.stdout);
        let md402 = r["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == "MD402")
            .unwrap();
        assert_eq!(md402["status"], "fail");
        // The 2 s connect limit, within the 6 s budget, plus the rest of check.
        assert!(took < Duration::from_secs(6), "check took {took:?}");
        eprintln!("check against a blackhole: {took:?}");
    }

    #[test]
    fn offline_check_skips_every_live_check_and_a_bad_url_is_exit_2() {
        let out = media_doctor(&[
            "check",
            "--root",
            "fixtures/sites/healthy",
            "--offline",
            "--format",
            "json",
        ]);
        let r = json(&out.stdout);
        for c in r["checks"].as_array().unwrap() {
            let id = c["id"].as_str().unwrap();
            if id.starts_with("MD4") || id == "MD111" {
                assert_eq!(c["status"], "skip", "{id}");
                assert!(
                    c["summary"].as_str().unwrap().starts_with("--offline"),
                    "{c}"
                );
            }
        }
        let bad = media_doctor(&[
            "check",
            "--url",
            "example.com",
            "--root",
            "fixtures/sites/healthy",
        ]);
        assert_eq!(bad.code, 2);
        assert!(bad.stderr.contains("--url"), "{}", bad.stderr);
    }
}

/// With no master running (here: a tree under --root), nginx is started the way this box starts
/// it: the packaged systemd unit when there is one and systemd runs the box, else nginx itself with the config that was
/// read (`-c` when it is not Debian's default), never `systemctl` where there is no unit.
#[test]
fn nginx_is_started_the_way_the_box_starts_it() {
    use media_doctor::site::{Options, Site};
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("t");
    let ok = std::process::Command::new("cp")
        .arg("-a")
        .arg(format!(
            "{}/fixtures/checks/base",
            env!("CARGO_MANIFEST_DIR")
        ))
        .arg(&root)
        .status()
        .unwrap();
    assert!(ok.success());
    let start = |conf: Option<&str>| {
        let site = Site::gather(
            &Options {
                root: Some(root.clone()),
                nginx_conf: conf.map(Into::into),
                ..Default::default()
            },
            true,
        )
        .expect("gather");
        media_doctor::live::start_command(&site)
    };
    assert_eq!(start(None), "sudo nginx -t && sudo nginx");
    std::fs::copy(
        root.join("etc/nginx/nginx.conf"),
        root.join("etc/nginx/other.conf"),
    )
    .unwrap();
    assert_eq!(
        start(Some("/etc/nginx/other.conf")),
        "sudo nginx -t -c /etc/nginx/other.conf && sudo nginx -c /etc/nginx/other.conf"
    );
    let units = root.join("lib/systemd/system");
    std::fs::create_dir_all(&units).unwrap();
    std::fs::write(units.join("nginx.service"), "[Service]\nType=forking\n").unwrap();
    // A unit file without systemd running the box (an image, a copy of a disk): systemctl
    // would fail as pasted.
    assert_eq!(start(None), "sudo nginx -t && sudo nginx");
    std::fs::create_dir_all(root.join("run/systemd/system")).unwrap();
    assert_eq!(start(None), "sudo nginx -t && sudo systemctl restart nginx");
}
