//! The Site's facets are found on first use: `trace` models only the server that answers and
//! never looks for the app; a check of one site models its own servers, and a request that
//! leaves them gets the answer the whole model gives.

use media_doctor::checks;
use media_doctor::nginx::resolve::Request;
use media_doctor::site::{Options, Site};
use std::path::{Path, PathBuf};

/// Three sites on port 80 (`first` is the default server), each in its own file.
fn three_sites() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("sites")).unwrap();
    std::fs::write(
        d.join("nginx.conf"),
        "events {}\nhttp {\n    include sites/*.conf;\n}\n",
    )
    .unwrap();
    for (name, extra) in [("first", " default_server"), ("second", ""), ("third", "")] {
        std::fs::write(
            d.join(format!("sites/{name}.conf")),
            format!(
                "server {{\n    listen 80{extra};\n    server_name {name}.example;\n    \
                 root /srv/{name};\n    location /media/ {{ alias /srv/{name}/media/; }}\n    \
                 location /go/ {{ return 302 /media/x.jpg; }}\n}}\n"
            ),
        )
        .unwrap();
    }
    let conf = d.join("nginx.conf");
    (dir, conf)
}

fn gather(conf: &Path, site: Option<&str>) -> Site {
    let args = Options {
        nginx_conf: Some(conf.to_path_buf()),
        site: site.map(str::to_string),
        ..Default::default()
    };
    Site::gather(&args, true).expect("gather")
}

#[test]
fn trace_models_the_answering_server_and_never_looks_for_the_app() {
    let (_dir, conf) = three_sites();
    let site = gather(&conf, None);
    let req = Request::from_url("http://second.example/media/a.jpg").unwrap();
    let r = site.resolver_for(&req);
    let res = r.resolve(&req);
    let servers: Vec<_> = site.config().servers().iter().map(|d| d.id()).collect();
    assert_eq!(res.server, Some(servers[1]), "{}", res.server_choice);
    assert_eq!(
        res.path.as_deref(),
        Some("/srv/second/media/a.jpg".as_ref())
    );
    // The answering server and the socket's default server, not the third.
    assert!(r.covers(servers[1]) && r.covers(servers[0]));
    assert!(!r.covers(servers[2]), "the third site was modelled");
    assert!(!site.app_searched(), "trace looked for an app");
}

#[test]
fn a_request_that_leaves_the_sites_servers_gets_the_whole_models_answer() {
    let (_dir, conf) = three_sites();
    let one = gather(&conf, Some("second"));
    let all = gather(&conf, None);
    let servers: Vec<_> = one.config().servers().iter().map(|d| d.id()).collect();
    assert_eq!(one.nginx.servers, vec![servers[1]]);
    let r = one.resolver();
    assert!(!r.covers(servers[2]));
    for url in [
        "http://third.example/media/b.jpg",
        "http://nobody.example/go/",
        "http://second.example/media/c.jpg",
    ] {
        let req = Request::from_url(url).unwrap();
        let (a, b) = (r.resolve(&req), all.resolver().resolve(&req));
        assert_eq!(a.server, b.server, "{url}");
        assert_eq!(a.path, b.path, "{url}");
        assert_eq!(a.predicted_status, b.predicted_status, "{url}");
        assert_eq!(a.redirect, b.redirect, "{url}");
    }
}

#[test]
fn the_app_is_looked_for_only_when_a_check_asks() {
    let (_dir, conf) = three_sites();
    let site = gather(&conf, Some("second"));
    assert!(!site.app_searched(), "gather looked for an app");
    let md100 = checks::find("MD100").unwrap();
    checks::run_one(md100, &site);
    assert!(!site.app_searched(), "MD100 does not need the app");
    let md301 = checks::find("MD301").unwrap();
    checks::run_one(md301, &site);
    assert!(site.app_searched());
    assert!(!site.app_search().is_empty(), "MD301 says where it looked");
}
