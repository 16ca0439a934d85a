//! Every nginx check on its fixture pair (fixtures/checks/MDxxx/{fail,pass}): the mistake is
//! found, the corrected config passes, and the evidence names the concrete URL and path.

use crate::run::REPO;
use media_doctor::checks;
use media_doctor::cli::SiteArgs;
use media_doctor::report::{CheckResult, Status};
use media_doctor::site::Site;

const IDS: &[&str] = &[
    "MD101", "MD102", "MD103", "MD104", "MD105", "MD106", "MD107", "MD108", "MD109", "MD110",
    "MD112",
];

fn run(id: &str, kind: &str) -> CheckResult {
    let args = SiteArgs {
        root: Some(format!("{REPO}/fixtures/checks/{id}/{kind}").into()),
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
    let args = SiteArgs {
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
    let args = SiteArgs {
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
    let args = SiteArgs {
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
            "meant=/var/www/myapp/staticfiles//x.jpg (nginx opens the path as built: the same file as /var/www/myapp/staticfiles/x.jpg)"
        ),
        "{e}"
    );
}
