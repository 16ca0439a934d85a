//! Every nginx check on its fixture pair (fixtures/checks/MDxxx/{fail,pass}): the mistake is
//! found, the corrected config passes, and the evidence names the concrete URL and path. A real
//! nginx on each fixture answers the status a finding predicts.

use crate::run::REPO;
use crate::support::Nginx;
use media_doctor::checks;
use media_doctor::nginx::resolve::Request;
use media_doctor::report::{CheckResult, Status};
use media_doctor::site::Options;
use media_doctor::site::Site;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

const IDS: &[&str] = &[
    "MD101", "MD102", "MD103", "MD104", "MD105", "MD106", "MD107", "MD108", "MD109", "MD110",
    "MD112",
];

fn run(id: &str, kind: &str) -> CheckResult {
    let tree = crate::check_fixtures::tree(id, kind);
    let args = Options {
        root: Some(tree.root.clone()),
        site: (id == "MD107").then(|| "myapp".to_string()),
        ..Default::default()
    };
    let site = Site::gather(&args, true).expect("gather the fixture");
    let check = checks::find(id).expect("registered");
    checks::run_one(check, &site)
}

fn evidence(r: &CheckResult) -> String {
    r.findings
        .iter()
        .flat_map(|f| {
            std::iter::once(f.message.clone()).chain(
                f.evidence
                    .iter()
                    .map(|e| format!("{}={}", e.label, e.value)),
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn each_check_fails_on_its_mistake_and_passes_when_fixed() {
    for id in IDS {
        let fail = run(id, "fail");
        assert_eq!(
            fail.status,
            Status::Fail,
            "{id} on fail: {} {:#?}",
            fail.summary,
            fail.findings
        );
        let f = &fail.findings[0];
        let fix = f
            .remediation
            .as_ref()
            .unwrap_or_else(|| panic!("{id}: no remediation"));
        assert!(
            fix.commands.iter().any(|c| c.contains("nginx -t")),
            "{id}: the fix must check and reload: {fix:?}"
        );
        let pass = run(id, "pass");
        assert_eq!(
            pass.status,
            Status::Pass,
            "{id} on pass: {} {:#?}",
            pass.summary,
            pass.findings
        );
    }
}

#[test]
fn findings_carry_the_concrete_url_and_path() {
    let e = evidence(&run("MD101", "fail"));
    assert!(e.contains("url=/media/uploads/a.jpg"), "{e}");
    assert!(
        e.contains("nginx opens=/srv/myapp/mediauploads/a.jpg"),
        "{e}"
    );
    let e = evidence(&run("MD102", "fail"));
    assert!(e.contains("url=/media../app/settings.py"), "{e}");
    assert!(e.contains("which is=/srv/myapp/app/settings.py"), "{e}");
    assert!(e.contains("predicted status=200"), "{e}");
    let e = evidence(&run("MD103", "fail"));
    assert!(
        e.contains("nginx opens=/srv/myapp/static/static/css/app.css"),
        "{e}"
    );
    let e = evidence(&run("MD105", "fail"));
    assert!(e.contains("nginx opens=/var/www/html/static/x.css"), "{e}");
    let e = evidence(&run("MD112", "fail"));
    assert!(e.contains("predicted status=404"), "{e}");
    // The fix is the corrected block with its file:line.
    let r = run("MD101", "fail");
    let fix = &r.findings[0].remediation.as_ref().unwrap().text;
    assert!(fix.contains("# /etc/nginx/sites-enabled/myapp:4"), "{fix}");
    assert!(fix.contains("alias /srv/myapp/media/;"), "{fix}");
}

#[test]
fn sibling_directories_are_named_when_both_slashes_are_missing() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("etc/nginx")).unwrap();
    std::fs::create_dir_all(root.join("srv/myapp/media")).unwrap();
    std::fs::create_dir_all(root.join("srv/myapp/media-backup")).unwrap();
    std::fs::write(root.join("srv/myapp/media-backup/db.sql"), "--\n").unwrap();
    std::fs::copy(
        format!("{REPO}/fixtures/sites/healthy/etc/passwd"),
        root.join("etc/passwd"),
    )
    .unwrap();
    std::fs::copy(
        format!("{REPO}/fixtures/sites/healthy/etc/group"),
        root.join("etc/group"),
    )
    .unwrap();
    std::fs::write(
        root.join("etc/nginx/nginx.conf"),
        "user www-data; events {} http { server { listen 80; server_name a.test; location /media { alias /srv/myapp/media; } } }",
    )
    .unwrap();
    let args = Options {
        root: Some(root.to_path_buf()),
        ..Default::default()
    };
    let site = Site::gather(&args, true).unwrap();
    let r = checks::run_one(checks::find("MD102").unwrap(), &site);
    assert_eq!(r.status, Status::Fail, "{:#?}", r.findings);
    let e = evidence(&r);
    assert!(e.contains("url=/media-backup/db.sql"), "{e}");
    assert!(
        e.contains("nginx opens=/srv/myapp/media-backup/db.sql"),
        "{e}"
    );
}

/// Regression: the README demo enables `default` through an absolute symlink
/// (sites-enabled/default -> /etc/nginx/sites-available/default). Under --root that target is
/// the root's own file, not the host's, so every file of sites-available is enabled.
#[test]
fn md107_follows_absolute_symlinks_inside_the_root() {
    let args = Options {
        root: Some(format!("{REPO}/fixtures/demo").into()),
        site: Some("myapp".into()),
        ..Default::default()
    };
    let site = Site::gather(&args, true).expect("gather the demo");
    let link = std::fs::read_link(format!(
        "{REPO}/fixtures/demo/etc/nginx/sites-enabled/default"
    ))
    .expect("the demo links default");
    assert!(link.is_absolute(), "the regression needs an absolute link");
    let r = checks::run_one(checks::find("MD107").unwrap(), &site);
    assert_eq!(r.status, Status::Pass, "{}: {}", r.summary, evidence(&r));
    assert!(r.findings.is_empty(), "{}", evidence(&r));
}

/// Regression: `location /static { alias /var/www/myapp/staticfiles/; }` (the README demo) makes
/// nginx open `staticfiles//x.jpg`. The evidence keeps that path and says it is the same file as
/// the single-slash one.
#[test]
fn md105_names_the_single_slash_file_beside_nginx_path() {
    let args = Options {
        root: Some(format!("{REPO}/fixtures/demo").into()),
        site: Some("myapp".into()),
        ..Default::default()
    };
    let site = Site::gather(&args, true).expect("gather the demo");
    let r = checks::run_one(checks::find("MD105").unwrap(), &site);
    assert_eq!(r.status, Status::Fail, "{}", evidence(&r));
    let e = evidence(&r);
    assert!(
        e.contains(
            "meant=/var/www/myapp/staticfiles//x.jpg (the same file as /var/www/myapp/staticfiles/x.jpg)"
        ),
        "{e}"
    );
}

/// The fixture's sites (sites-enabled, links followed, in nginx's glob order) as one `http`
/// body for a private nginx: system paths moved under `tree`, `listen 80` on the test port.
fn fixture_sites_for_nginx(fixture: &Path, tree: &Path) -> String {
    let enabled = fixture.join("etc/nginx/sites-enabled");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&enabled)
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    let t = tree.display().to_string();
    let mut body = String::new();
    for f in files {
        // Links point at system paths (/etc/nginx/sites-available/x): read them in the fixture.
        let real = match std::fs::read_link(&f) {
            Ok(l) if l.is_absolute() => fixture.join(l.strip_prefix("/").unwrap()),
            Ok(l) => enabled.join(l),
            Err(_) => f.clone(),
        };
        let text = std::fs::read_to_string(&real).unwrap();
        body.push_str(
            &text
                .replace(" /srv/", &format!(" {t}/srv/"))
                .replace(" /var/", &format!(" {t}/var/"))
                .replace("listen 80", "listen 127.0.0.1:{PORT}"),
        );
        body.push('\n');
    }
    body
}

/// What the resolver predicts for `url` on a fixture, and what a real nginx answers with the
/// same config and files.
fn predicted_and_real(id: &str, kind: &str, host: &str, url: &str) -> (Option<u16>, u16) {
    let fixture = PathBuf::from(format!("{REPO}/fixtures/checks/{id}/{kind}"));
    let site = Site::gather(
        &Options {
            root: Some(fixture.clone()),
            ..Default::default()
        },
        true,
    )
    .unwrap();
    let predicted = site
        .resolver()
        .resolve(&Request::for_path(host, 80, url))
        .predicted_status;
    let tmp = tempfile::Builder::new()
        .prefix("md-oracle-")
        .tempdir()
        .unwrap();
    crate::support::open_ancestors(tmp.path());
    let tree = tmp.path().join("t");
    let ok = std::process::Command::new("cp")
        .arg("-a")
        .arg(&fixture)
        .arg(&tree)
        .status()
        .unwrap();
    assert!(ok.success(), "copy {}", fixture.display());
    std::fs::set_permissions(&tree, std::fs::Permissions::from_mode(0o755)).unwrap();
    let nginx = Nginx::start("www-data", &fixture_sites_for_nginx(&fixture, &tree))
        .unwrap_or_else(|e| panic!("{id}/{kind}: nginx refused the fixture: {e}"));
    let real = crate::differential::send(nginx.port, "GET", host, url);
    (predicted, real)
}

/// Each check that predicts a status is held to a real nginx: on the `fail` fixture, nginx
/// answers the status the finding predicts for its URL; on the `pass` fixture, nginx and the
/// resolver agree on the same URL (and it no longer answers the broken status).
#[test]
fn predicted_statuses_agree_with_real_nginx() {
    if !crate::support::require_root_and_nginx() {
        return;
    }
    let mut verified = Vec::new();
    for id in IDS {
        let fail = run(id, "fail");
        let Some(host) = fixture_host(id) else {
            continue;
        };
        for f in &fail.findings {
            let get = |label: &str| {
                f.evidence
                    .iter()
                    .find(|e| e.label == label)
                    .map(|e| e.value.clone())
            };
            let Some(status) = get("predicted status").and_then(|s| s.parse::<u16>().ok()) else {
                continue;
            };
            let Some(url) = get("url").or_else(|| {
                get("urls").and_then(|u| u.split_whitespace().next().map(str::to_string))
            }) else {
                continue;
            };
            let (predicted, real) = predicted_and_real(id, "fail", &host, &url);
            assert_eq!(
                predicted,
                Some(status),
                "{id} fail {url}: trace disagrees with the finding"
            );
            assert_eq!(
                real, status,
                "{id} fail {url}: nginx answers {real}, the finding says {status}"
            );
            let (predicted, real) = predicted_and_real(id, "pass", &host, &url);
            assert_eq!(
                predicted,
                Some(real),
                "{id} pass {url}: nginx answers {real}"
            );
            verified.push(format!("{id} {url}: fail {status}, pass {real}"));
        }
    }
    eprintln!(
        "checks verified against nginx:\n  {}",
        verified.join("\n  ")
    );
    for id in [
        "MD101", "MD102", "MD103", "MD104", "MD105", "MD109", "MD112",
    ] {
        assert!(
            verified.iter().any(|v| v.starts_with(id)),
            "{id} predicts a status and was not verified: {verified:?}"
        );
    }
}

/// The first server_name of the fixture's enabled sites.
fn fixture_host(id: &str) -> Option<String> {
    let fixture = PathBuf::from(format!("{REPO}/fixtures/checks/{id}/fail"));
    let text = fixture_sites_for_nginx(&fixture, Path::new("/unused"));
    text.split(';')
        .find_map(|d| d.trim().strip_prefix("server_name "))
        .and_then(|names| names.split_whitespace().next())
        .map(str::to_string)
}

/// The classic `location /static` (no slash) with `alias .../static/` and a regex image
/// location, no app known: MD105 samples the URLs a page uses (/static/x.jpg, not
/// /staticx.jpg), so the one block fixing MD102 and MD105 (`location ^~ /static/`) is proven
/// and printed (it was refused: "/staticx.jpg would still not be answered by location /static").
#[test]
fn a_slashless_prefix_location_shadowed_by_a_regex_gets_a_proven_fix() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let conf = d.join("nginx.conf");
    std::fs::write(
        &conf,
        "events {}\nhttp {\n  server {\n    listen 80;\n    server_name shop.example;\n\
         \x20   root /srv/shop/public;\n\
         \x20   location /static {\n      alias /srv/shop/static/;\n    }\n\
         \x20   location ~* \\.(jpg|png|css)$ {\n      expires 30d;\n    }\n\
         \x20   location / {\n      proxy_pass http://127.0.0.1:8000;\n    }\n  }\n}\n",
    )
    .unwrap();
    let out = crate::run::media_doctor(&[
        "check",
        "--nginx-conf",
        conf.to_str().unwrap(),
        "--offline",
        "--format",
        "json",
    ]);
    let json: serde_json::Value = serde_json::from_str(&out.stdout).expect(&out.stderr);
    let check = |id: &str| -> serde_json::Value {
        json["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .unwrap_or_else(|| panic!("no {id}: {json:#}"))
            .clone()
    };
    let md105 = check("MD105");
    let f = &md105["findings"][0];
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .contains(" wins for /static/x.jpg "),
        "{f:#}"
    );
    let fixes: Vec<String> = ["MD102", "MD105"]
        .iter()
        .flat_map(|id| {
            check(id)["findings"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|f| f["remediation"]["text"].as_str().map(str::to_string))
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(
        fixes
            .iter()
            .any(|t| t.contains("location ^~ /static/ {\n    alias /srv/shop/static/;\n}")),
        "{fixes:#?}"
    );
}
