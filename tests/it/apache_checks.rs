//! Every Apache check (MD5xx) on its fixture pair (fixtures/checks/MD5xx/{fail,pass}): the
//! mistake is found with a fix that tests and reloads Apache, the corrected config passes. A real
//! Apache started on each fixture (system paths moved into a copy, `*:80` on a free port) answers
//! the status a finding predicts on `fail`, and on `pass` what the model predicts for the same URL.

use crate::apache_differential::{main_conf, Apache};
use crate::apache_loader::require_apache;
use crate::run::REPO;
use crate::support;
use media_doctor::checks;
use media_doctor::report::{CheckResult, Status};
use media_doctor::site::{Options, Site};
use std::path::{Path, PathBuf};

/// The checks with a fixture pair (the site is myapp.example.com in each).
const CASES: &[&str] = &["MD501", "MD502", "MD503", "MD504", "MD505", "MD506"];

fn fixture(id: &str, kind: &str) -> PathBuf {
    PathBuf::from(format!("{REPO}/fixtures/checks/{id}/{kind}"))
}

fn run(id: &str, kind: &str) -> CheckResult {
    let args = Options {
        root: Some(fixture(id, kind)),
        apache_conf: Some("/etc/apache2/apache2.conf".into()),
        // MD506 judges the site it is asked about.
        site: (id == "MD506").then(|| "myapp".to_string()),
        ..Default::default()
    };
    let site = Site::gather(&args, true).expect("gather the fixture");
    let check = checks::find(id).expect("registered");
    checks::run_one(check, &site)
}

fn evidence<'a>(r: &'a CheckResult, label: &str) -> Option<&'a str> {
    r.findings
        .iter()
        .flat_map(|f| f.evidence.iter())
        .find(|e| e.label == label)
        .map(|e| e.value.as_str())
}

#[test]
fn each_apache_check_fails_on_its_mistake_and_passes_when_fixed() {
    for id in CASES {
        let fail = run(id, "fail");
        assert_eq!(
            fail.status,
            Status::Fail,
            "{id} on fail: {} {:#?}",
            fail.summary,
            fail.findings
        );
        let fix = fail.findings[0]
            .remediation
            .as_ref()
            .unwrap_or_else(|| panic!("{id}: no remediation"));
        assert!(
            fix.commands
                .iter()
                // The fixture tree has no /run/systemd: the reload that works under any init.
                .any(|c| c == "sudo apache2ctl configtest && sudo apache2ctl graceful"),
            "{id}: the fix must test and reload Apache: {fix:?}"
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
fn md501_names_the_file_and_the_directory_meant() {
    let r = run("MD501", "fail");
    let f = &r.findings[0];
    assert_eq!(evidence(&r, "url"), Some("/media/uploads/a.jpg"));
    assert_eq!(
        evidence(&r, "apache opens"),
        Some("/srv/myapp/mediauploads/a.jpg")
    );
    assert!(
        evidence(&r, "a <Directory> on another path")
            .is_some_and(|v| v.starts_with("<Directory /srv/myapp/uploads/>")),
        "{:#?}",
        f.evidence
    );
    // The slash and the <Directory> in one proven edit at the Alias's line.
    let text = &f.remediation.as_ref().unwrap().text;
    assert!(
        text.contains(
            "# /etc/apache2/sites-enabled/myapp.conf:4\nAlias /media/ /srv/myapp/media/\n<Directory /srv/myapp/media/>\n    Require all granted\n</Directory>"
        ),
        "{text}"
    );
}

/// The fixture's sites as a config a private Apache runs: system paths moved under `base`,
/// `*:80` on `port`, after the test's own main config (and mod_proxy, for ProxyPass and PHP-FPM handlers).
fn runnable(fixture: &Path, base: &Path, port: u16) -> String {
    let enabled = fixture.join("etc/apache2/sites-enabled");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&enabled)
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    let b = base.display().to_string();
    // Debian's apache2.conf grants /var/www/ (the default site's DocumentRoot).
    let mut conf = format!(
        "{}<Directory {b}/var/www/>\n  Require all granted\n</Directory>\n",
        main_conf(base, port)
    );
    for m in ["proxy", "proxy_http", "proxy_fcgi"] {
        conf.push_str(&format!(
            "LoadModule {m}_module /usr/lib/apache2/modules/mod_{m}.so\n"
        ));
    }
    for f in files {
        let real = match std::fs::read_link(&f) {
            Ok(l) if l.is_absolute() => fixture.join(l.strip_prefix("/").unwrap()),
            Ok(l) => enabled.join(l),
            Err(_) => f.clone(),
        };
        let text = std::fs::read_to_string(&real).unwrap();
        conf.push_str(
            &text
                .replace(" /srv/", &format!(" {b}/srv/"))
                .replace(" /var/www", &format!(" {b}/var/www"))
                .replace("*:80", &format!("*:{port}")),
        );
    }
    conf
}

fn copy_tree(from: &Path, to: &Path) {
    let ok = std::process::Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "cp -a {} {}", from.display(), to.display());
}

/// What a real Apache answers for `url` on the fixture.
fn real_status(id: &str, kind: &str, host: &str, url: &str) -> Option<u16> {
    real_status_in(&fixture(id, kind), host, url)
}

/// What a real Apache answers for `url` on the fixture tree `fx`.
fn real_status_in(fx: &Path, host: &str, url: &str) -> Option<u16> {
    use std::os::unix::fs::PermissionsExt;
    let t = tempfile::tempdir().unwrap();
    let base = t.path();
    std::fs::set_permissions(base, std::fs::Permissions::from_mode(0o755)).unwrap();
    for dir in ["srv", "var"] {
        if fx.join(dir).is_dir() {
            copy_tree(&fx.join(dir), base);
        }
    }
    let port = support::free_port();
    let conf = base.join("apache2.conf");
    std::fs::write(&conf, runnable(fx, base, port)).unwrap();
    let apache = Apache::start(base, &conf, port)
        .unwrap_or_else(|e| panic!("{}: {e}\n{}", fx.display(), runnable(fx, base, port)));
    apache.get(host, url)
}

/// The `fail` fixture with the printed fix pasted in as a person would: each `# FILE:LINE`
/// block is what that line becomes (the new lines, with the line they go beside).
fn with_printed_fix(id: &str, text: &str) -> tempfile::TempDir {
    with_printed_fix_in(&fixture(id, "fail"), id, text)
}

/// The fixture tree `fx` with the printed fix pasted in (see `with_printed_fix`).
fn with_printed_fix_in(fx: &Path, id: &str, text: &str) -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    let ok = std::process::Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", fx.display()))
        .arg(t.path())
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok);
    let mut blocks: Vec<(String, usize, Vec<String>)> = Vec::new();
    for line in text.lines() {
        let header = line.strip_prefix("# ").and_then(|h| {
            let (file, n) = h.rsplit_once(':')?;
            Some((file.to_string(), n.parse::<usize>().ok()?))
        });
        match (header, blocks.last_mut()) {
            (Some((file, n)), _) => blocks.push((file, n, Vec::new())),
            (None, Some(b)) => b.2.push(line.to_string()),
            (None, None) => {}
        }
    }
    assert!(!blocks.is_empty(), "{id}: no block in {text}");
    // From the bottom up, so that the line numbers above stay right.
    blocks.sort_by(|a, b| (&b.0, b.1).cmp(&(&a.0, a.1)));
    for (file, n, new) in blocks {
        let host = t.path().join(file.trim_start_matches('/'));
        let host = std::fs::canonicalize(&host).unwrap();
        let old = std::fs::read_to_string(&host).unwrap();
        let mut lines: Vec<String> = old.lines().map(str::to_string).collect();
        lines.splice(n - 1..n, new);
        std::fs::write(&host, lines.join("\n") + "\n").unwrap();
    }
    t
}

/// The fix as printed, pasted into the fail fixture: the check passes on it, and a real Apache
/// on it answers the failing URL as on the pass fixture.
#[test]
fn the_printed_fix_pasted_in_works_in_real_apache() {
    if !root_and_apache() {
        return;
    }
    for id in CASES.iter().filter(|id| **id != "MD506") {
        let fail = run(id, "fail");
        let url = evidence(&fail, "url").unwrap();
        let text = &fail.findings[0].remediation.as_ref().unwrap().text;
        let fixed = with_printed_fix(id, text);
        let args = Options {
            root: Some(fixed.path().to_path_buf()),
            apache_conf: Some("/etc/apache2/apache2.conf".into()),
            ..Default::default()
        };
        let site = Site::gather(&args, true).unwrap();
        let again = checks::run_one(checks::find(id).unwrap(), &site);
        assert_eq!(
            again.status,
            Status::Pass,
            "{id} with its fix: {:#?}\n{text}",
            again.findings
        );
        let real = real_status_in(fixed.path(), "myapp.example.com", url);
        let want = real_status(id, "pass", "myapp.example.com", url);
        eprintln!("{id} with the printed fix: real Apache answers {real:?} for {url}");
        assert_eq!(real, want, "{id}: real Apache with the printed fix\n{text}");
    }
}

/// MD503 and MD505 rewrite the same `Options` line (fixtures/checks/MD505/fail-with-listing:
/// `Options Indexes` on the media `<Directory>`, a link under it): their fixes are one edit of
/// that line, proven with both goals and printed once; pasted as printed, both checks pass, and a
/// real Apache stops listing /media/ and serves the file behind the link.
#[test]
fn fixes_of_one_options_line_are_one_edit_that_works_pasted() {
    let ids = ["MD503", "MD505"];
    let judge = |root: &Path| {
        let args = Options {
            root: Some(root.to_path_buf()),
            apache_conf: Some("/etc/apache2/apache2.conf".into()),
            ..Default::default()
        };
        let site = Site::gather(&args, true).unwrap();
        let list: Vec<&'static dyn checks::Check> =
            ids.iter().map(|id| checks::find(id).unwrap()).collect();
        checks::run(&site, &list)
    };
    let fx = fixture("MD505", "fail-with-listing");
    let results = judge(&fx);
    for r in &results {
        assert_eq!(r.status, Status::Fail, "{}: {:#?}", r.id, r.findings);
    }
    let first = results[0].findings[0].remediation.as_ref().unwrap();
    let text = &first.text;
    assert!(
        text.contains(
            "(one edit):\n# /etc/apache2/sites-enabled/myapp.conf:6\nOptions FollowSymLinks"
        ),
        "{text}"
    );
    assert_eq!(text.matches("\n# ").count(), 1, "one place: {text}");
    assert!(first
        .commands
        .iter()
        .any(|c| c.contains("apache2ctl configtest")));
    let second = results[1].findings[0].remediation.as_ref().unwrap();
    assert!(
        second.text.contains("under MD503 fixes this too") && second.commands.is_empty(),
        "{second:?}"
    );
    let fixed = with_printed_fix_in(&fx, "MD503+MD505", text);
    for r in judge(fixed.path()) {
        assert_eq!(
            r.status,
            Status::Pass,
            "{} with the merged fix: {:#?}\n{text}",
            r.id,
            r.findings
        );
    }
    if !root_and_apache() {
        return;
    }
    let host = "myapp.example.com";
    for (url, before, after) in [("/media/", 200, 403), ("/media/avatars/me.jpg", 403, 200)] {
        assert_eq!(real_status_in(&fx, host, url), Some(before), "{url} before");
        assert_eq!(
            real_status_in(fixed.path(), host, url),
            Some(after),
            "{url} with the merged fix\n{text}"
        );
    }
}

/// The filesystem and app checks written once for both servers, on their Apache pairs
/// (fixtures/checks/MDxxx/apache-{fail,pass}: variants of fixtures/checks/apache-base, a healthy
/// Apache site in front of the base's Django app), as a user runs them (`check --root`): on
/// `apache-fail` the check is the first of the report that fails or warns, on `apache-pass`
/// nothing does. Where the finding is about a URL, a real Apache on the prepared tree (owners and
/// modes applied) answers the failing status, and the printed commands pasted into the copy
/// make the check pass and real Apache serve the file.
const EITHER_SERVER: &[(&str, Option<(&str, u16)>)] = &[
    // A missing directory: its <Directory> does not apply, `<Directory />` denies (403).
    ("MD201", Some(("/static/css/app.css", 403))),
    ("MD202", Some(("/media/uploads/a.jpg", 403))),
    ("MD203", Some(("/media/uploads/a.jpg", 403))),
    ("MD204", None),
    ("MD205", None),
    ("MD208", None),
    ("MD209", None),
    // The media Alias without its <Directory>: the model's 403 for a real upload (AH01630).
    ("MD210", Some(("/media/uploads/a.jpg", 403))),
    ("MD308", None),
];

/// Of `EITHER_SERVER`, those whose printed fix is commands a static tree can run (MD201 and
/// MD205 run collectstatic with the app's virtualenv, MD208 reloads an AppArmor profile, MD209
/// is a settings edit: fixtures/checks/README.md).
const PASTED: &[&str] = &["MD202", "MD203", "MD204"];

/// `check --select ID --format json` of a prepared fixture tree, `args` first.
fn select(id: &str, root: &Path, args: &[&str]) -> crate::run::Output {
    crate::check_fixtures::check(root, args, &["--select", id, "--format", "json"])
}

/// ID's apache-fail fixture, prepared, and its report: ID fails there.
fn failing(id: &str, args: &[&str]) -> (crate::check_fixtures::Prepared, serde_json::Value) {
    use crate::check_fixtures::{prepare, status_of};
    let fail = prepare(id, "apache-fail");
    let out = select(id, &fail.root, args);
    assert_eq!(status_of(&out, id), "fail", "{}", out.stdout);
    let report = serde_json::from_str(&out.stdout).unwrap();
    (fail, report)
}

/// A report where Apache was judged says `nginx` only where a check did not run for Apache (its
/// skip names the check it leaves the question to): each check that ran says what it judged in
/// Apache's words (summary, messages, evidence labels, fix texts), with Apache's User where the
/// nginx worker would be named. Paths (`/etc/nginx`) and a caching nginx in front are not prose.
fn names_apache_not_nginx(id: &str, report: &serde_json::Value) {
    use media_doctor::checks::on_apache::prose_nginx;
    let mut said = Vec::new();
    for c in report["checks"].as_array().unwrap() {
        let summary = c["summary"].as_str().unwrap_or("");
        if c["status"] == "skip" && summary.starts_with("Apache httpd is the server judged") {
            continue;
        }
        let mut texts = vec![summary.to_string()];
        for f in c["findings"].as_array().into_iter().flatten() {
            texts.push(f["message"].as_str().unwrap_or("").into());
            texts.push(f["remediation"]["text"].as_str().unwrap_or("").into());
            for e in f["evidence"].as_array().into_iter().flatten() {
                texts.push(e["label"].as_str().unwrap_or("").into());
            }
        }
        for t in texts {
            if !prose_nginx(&t).is_empty() {
                said.push(format!("{}: {t}", c["id"]));
            }
        }
    }
    assert!(
        said.is_empty(),
        "{id}: nginx named where Apache was judged:\n{}",
        said.join("\n")
    );
    // The worker is Apache's User, from envvars.
    if let Some(c) = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "MD202" && c["status"] == "pass")
    {
        let s = c["summary"].as_str().unwrap();
        assert!(s.contains("www-data"), "{s}");
    }
}

#[test]
fn file_and_app_checks_judge_apaches_directories() {
    use crate::check_fixtures::{check, needs_root, not_passed, prepare, status_of};
    if !needs_root() {
        return;
    }
    let with_apache = require_apache();
    for (id, url) in EITHER_SERVER {
        let fail = prepare(id, "apache-fail");
        let json = |root: &Path| check(root, &["--offline"], &["--format", "json"]);
        let out = json(&fail.root);
        let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(
            report["site"]["web_server"], "apache",
            "{id}: {}",
            out.stdout
        );
        assert_eq!(
            not_passed(&out).first().map(|(c, _)| c.as_str()),
            Some(*id),
            "{id} on apache-fail must be the first finding: {:?}\n{}",
            not_passed(&out),
            out.stdout
        );
        names_apache_not_nginx(id, &report);
        let pass = prepare(id, "apache-pass");
        let out = json(&pass.root);
        names_apache_not_nginx(id, &serde_json::from_str(&out.stdout).unwrap());
        assert_eq!(
            status_of(&out, id),
            "pass",
            "{id} on apache-pass: {}",
            out.stdout
        );
        assert_eq!(
            not_passed(&out),
            Vec::<(String, String)>::new(),
            "{id}: {}",
            out.stdout
        );
        if let (Some((url, status)), true) = (url, with_apache) {
            let real = real_status_in(&fail.root, "myapp.example.com", url);
            eprintln!("{id} apache-fail: real Apache answers {real:?} for {url}");
            assert_eq!(
                real,
                Some(*status),
                "{id}: real Apache on apache-fail for {url}"
            );
            let real = real_status_in(&pass.root, "myapp.example.com", url);
            assert_eq!(
                real,
                Some(200),
                "{id}: real Apache on apache-pass for {url}"
            );
        }
        if !PASTED.contains(id) {
            continue;
        }
        let out = check(
            &fail.root,
            &["--offline"],
            &["--select", id, "--format", "json"],
        );
        let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        let fixes: Vec<serde_json::Value> = report["checks"][0]["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["remediation"].clone())
            .filter(|r| !r.is_null())
            .collect();
        assert!(!fixes.is_empty(), "{id}: no fix printed: {}", out.stdout);
        for rem in &fixes {
            crate::sites::apply_in(rem, Some(&fail.root));
        }
        let out = check(
            &fail.root,
            &["--offline"],
            &["--select", id, "--format", "json"],
        );
        assert_eq!(
            status_of(&out, id),
            "pass",
            "{id} after {fixes:?}: {}",
            out.stdout
        );
        if let (Some((url, _)), true) = (url, with_apache) {
            let real = real_status_in(&fail.root, "myapp.example.com", url);
            assert_eq!(
                real,
                Some(200),
                "{id}: real Apache after the printed fix {fixes:?}"
            );
        }
    }
}

/// `--site NAME` on Apache as on nginx: a name no virtual host is (by its file or a label of its
/// ServerName) is an error naming the sites there are; a ServerName label selects its host.
#[test]
fn an_unknown_site_is_an_error_naming_the_sites() {
    let gather = |name: &str| {
        Site::gather(
            &Options {
                root: Some(fixture("MD501", "pass")),
                apache_conf: Some("/etc/apache2/apache2.conf".into()),
                site: Some(name.into()),
                ..Default::default()
            },
            true,
        )
    };
    let err = match gather("myap") {
        Ok(_) => panic!("an unknown site must be an error"),
        Err(e) => e.to_string(),
    };
    assert_eq!(
        err,
        "no site named myap; did you mean myapp? sites here: myapp"
    );
    let site = gather("example").unwrap();
    let a = site.apache.as_ref().unwrap();
    assert!(!a.unmatched, "{}", a.matched_by);
    assert_eq!(a.vhosts.len(), 1);
}

/// The text report names the server it judged: the first line, and the app band's title.
#[test]
fn the_text_report_names_apache() {
    use crate::check_fixtures::{check, needs_root, prepare};
    if !needs_root() {
        return;
    }
    let base = prepare("MD203", "apache-pass");
    let out = check(&base.root, &["--offline"], &[]);
    assert!(
        out.stdout
            .starts_with("Judged: Apache httpd (/etc/apache2/apache2.conf)\n"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("app \u{2194} Apache alignment"),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("app \u{2194} nginx"), "{}", out.stdout);
}

/// What the model predicts for `url` on the fixture (port 80, as its config says).
fn model_status(id: &str, kind: &str, host: &str, url: &str) -> Option<u16> {
    let root = media_doctor::sysroot::SysRoot::new(fixture(id, kind));
    let cfg =
        media_doctor::apache::load_files(&root, Path::new("/etc/apache2/apache2.conf")).unwrap();
    let r = media_doctor::apache::resolve::Resolver::new(&cfg, &root);
    r.resolve(&media_doctor::nginx::resolve::Request::for_path(
        host, 80, url,
    ))
    .predicted_status
}

#[test]
fn real_apache_answers_what_the_findings_predict() {
    if !root_and_apache() {
        return;
    }
    for id in CASES {
        let fail = run(id, "fail");
        let url = evidence(&fail, "url").unwrap_or_else(|| panic!("{id}: no url evidence"));
        let predicted = evidence(&fail, "predicted status").and_then(|s| s.parse::<u16>().ok());
        let real = real_status(id, "fail", "myapp.example.com", url);
        eprintln!("{id} fail: real Apache answers {real:?} for {url} (predicted {predicted:?})");
        match predicted {
            Some(p) => assert_eq!(real, Some(p), "{id}: real Apache on fail for {url}"),
            // Handed to a program: Apache does not serve the file.
            None => assert_ne!(real, Some(200), "{id}: real Apache on fail for {url}"),
        }
        let real = real_status(id, "pass", "myapp.example.com", url);
        eprintln!("{id} pass: real Apache answers {real:?} for {url}");
        assert_eq!(
            real,
            model_status(id, "pass", "myapp.example.com", url),
            "{id}: real Apache and the model on pass for {url}"
        );
    }
}

/// The MD501 pass fixture's tree with a Django app (manage.py, wsgi.py beside its settings) and
/// `site` as the site's file.
fn app_box(site: &str) -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    let root = t.path();
    copy_tree(&fixture("MD501", "pass").join("etc"), root);
    copy_tree(&fixture("MD501", "pass").join("srv"), root);
    let app = root.join("srv/myapp/app");
    std::fs::write(app.join("wsgi.py"), "application = None\n").unwrap();
    std::fs::write(
        app.join("manage.py"),
        "import os\nos.environ.setdefault(\"DJANGO_SETTINGS_MODULE\", \"settings\")\n",
    )
    .unwrap();
    std::fs::write(root.join("etc/apache2/sites-enabled/myapp.conf"), site).unwrap();
    t
}

/// The checks on an app box, the app found from the site's WSGIScriptAlias (no --app).
fn run_on(root: &Path, ids: &[&str]) -> Vec<CheckResult> {
    let args = Options {
        root: Some(root.to_path_buf()),
        apache_conf: Some("/etc/apache2/apache2.conf".into()),
        ..Default::default()
    };
    let site = Site::gather(&args, true).unwrap();
    ids.iter()
        .map(|id| checks::run_one(checks::find(id).unwrap(), &site))
        .collect()
}

/// `WSGIScriptAlias /` with no Alias for MEDIA_URL/STATIC_URL: mod_wsgi takes them (it maps
/// after mod_alias, so the fix is the Alias, with the app's MEDIA_ROOT/STATIC_ROOT).
#[test]
fn md502_maps_the_app_roots_when_mod_wsgi_takes_them() {
    let t = app_box(
        "<VirtualHost *:80>\n\tServerName myapp.example.com\n\tWSGIScriptAlias / /srv/myapp/app/wsgi.py\n</VirtualHost>\n",
    );
    let r = &run_on(t.path(), &["MD502"])[0];
    assert_eq!(r.status, Status::Fail, "{}: {:#?}", r.summary, r.findings);
    let text = &r.findings[0].remediation.as_ref().unwrap().text;
    assert!(
        text.contains("Alias /media/ /srv/myapp/media/\nAlias /static/ /srv/myapp/static/\n<Directory /srv/myapp/media/>"),
        "{text}"
    );
    assert!(
        text.ends_with("WSGIScriptAlias / /srv/myapp/app/wsgi.py"),
        "{text}"
    );
}

/// MD302-MD305 judge Apache's mapping as they judge nginx's: the Alias for MEDIA_URL opens
/// another directory than MEDIA_ROOT (a proven edit of that Alias); STATIC_URL is aligned.
#[test]
fn app_alignment_reads_apaches_mapping() {
    let t = app_box(
        "<VirtualHost *:80>\n\tServerName myapp.example.com\n\
         \tAlias /media/ /srv/myapp/uploads/\n\t<Directory /srv/myapp/uploads/>\n\t\tRequire all granted\n\t</Directory>\n\
         \tAlias /static/ /srv/myapp/static/\n\t<Directory /srv/myapp/static/>\n\t\tRequire all granted\n\t</Directory>\n\
         \tWSGIScriptAlias / /srv/myapp/app/wsgi.py\n</VirtualHost>\n",
    );
    std::fs::create_dir_all(t.path().join("srv/myapp/uploads")).unwrap();
    let rs = run_on(t.path(), &["MD302", "MD303", "MD304", "MD305"]);
    let by = |id: &str| rs.iter().find(|r| r.id == id).unwrap();
    let md302 = by("MD302");
    assert_eq!(
        md302.status,
        Status::Fail,
        "{}: {:#?}",
        md302.summary,
        md302.findings
    );
    assert!(
        md302.findings[0]
            .message
            .contains("Apache serves /media/ from /srv/myapp/uploads, but the app's MEDIA_ROOT is /srv/myapp/media"),
        "{}",
        md302.findings[0].message
    );
    let text = &md302.findings[0].remediation.as_ref().unwrap().text;
    assert!(
        text.contains("# /etc/apache2/sites-enabled/myapp.conf:3\nAlias /media/ /srv/myapp/media/\n<Directory /srv/myapp/media/>"),
        "{text}"
    );
    for id in ["MD303", "MD304", "MD305"] {
        assert_eq!(by(id).status, Status::Pass, "{id}: {}", by(id).summary);
    }
}

/// MD507 on a private Apache (live, its own PidFile): the config written before the start is
/// loaded; a change dated after the last load is not, and the fix reloads that very master (a
/// USR1 to the pid, with its own -d/-f: apache2ctl would signal the box's Apache).
#[test]
fn md507_names_a_change_made_after_apache_loaded_its_config() {
    if !root_and_apache() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let base = t.path();
    let now = std::time::SystemTime::now();
    let (conf, text, apache) = md507_apache(base);
    let check = || md507(&conf);
    let r = check();
    assert_eq!(r.status, Status::Pass, "{}: {:#?}", r.summary, r.findings);
    // Edited after the load (dated ahead, so that no wait is needed to be past the tolerance).
    std::fs::write(&conf, format!("{text}# edited\n")).unwrap();
    support::set_mtime(&conf, now + std::time::Duration::from_secs(30));
    let r = check();
    assert_eq!(r.status, Status::Fail, "{}: {:#?}", r.summary, r.findings);
    let pid = std::fs::read_to_string(base.join("apache.pid")).unwrap();
    let fix = r.findings[0].remediation.as_ref().unwrap();
    assert!(
        fix.commands[0].ends_with(&format!("-t && sudo kill -USR1 {}", pid.trim()))
            && fix.commands[0].contains(&format!("-f {}", conf.display())),
        "{fix:?}"
    );
    drop(apache);
}

/// MD507 after a graceful restart that a child of the old configuration outlives (it is still
/// reading a slow client's request): the children started both before and after the change, so
/// their start times cannot say whether the change was loaded; the error log's restart line,
/// written after it, does. (It was a failure: the oldest child was taken as the last load.)
#[test]
fn md507_after_a_graceful_restart_an_old_child_still_finishing_is_no_failure() {
    use std::io::Write;
    use std::time::{Duration, SystemTime, UNIX_EPOCH};
    if !root_and_apache() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let base = t.path();
    let (conf, text, apache) = md507_apache(base);
    let port = apache.port;
    let master: i32 = std::fs::read_to_string(base.join("apache.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let children = || -> Vec<(i32, SystemTime)> {
        std::fs::read_dir("/proc")
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
            .filter_map(|pid| media_doctor::system::Process::read(pid).ok())
            .filter(|p| p.ppid == master)
            .map(|p| (p.pid, p.started))
            .collect()
    };
    // A client that sends half a request and waits: the child reading it is busy.
    let mut slow = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    slow.write_all(b"GET / HTTP/1.1\r\nHost: myapp.example.com\r\n")
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let old = loop {
        let c = children();
        if !c.is_empty() {
            break c;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "Apache started no child"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let oldest = old.iter().map(|(_, t)| *t).min().unwrap();
    // The change: past the oldest child's start by more than the tolerance (1 s).
    let changed = oldest + Duration::from_millis(1500);
    std::fs::write(&conf, format!("{text}# edited\n")).unwrap();
    support::set_mtime(&conf, changed);
    // The restart must come in a later second of the log's clock than the change.
    let second = |t: SystemTime| t.duration_since(UNIX_EPOCH).unwrap().as_secs();
    while second(SystemTime::now()) <= second(changed) {
        std::thread::sleep(Duration::from_millis(20));
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(master),
        nix::sys::signal::Signal::SIGUSR1,
    )
    .unwrap();
    // Poll: the new generation's children, and the log's restart line.
    let log = base.join("error.log");
    loop {
        let restarted = std::fs::read_to_string(&log).is_ok_and(|l| {
            l.matches("configured -- resuming normal operations")
                .count()
                >= 2
        });
        if restarted && children().iter().any(|(_, t)| *t > changed) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no graceful restart");
        std::thread::sleep(Duration::from_millis(20));
    }
    let now = children();
    assert!(
        old.iter().any(|c| now.contains(c)),
        "a child of the old generation still runs (the case tested): {old:?} {now:?}"
    );
    let args = Options {
        apache_conf: Some(conf.clone()),
        ..Default::default()
    };
    let site = Site::gather(&args, true).unwrap();
    let r = checks::run_one(checks::find("MD507").unwrap(), &site);
    assert_eq!(r.status, Status::Pass, "{}: {:#?}", r.summary, r.findings);
    assert!(
        r.summary.contains("restarted after the last change"),
        "{}",
        r.summary
    );
    drop(slow);
    drop(apache);
}

/// A private Apache serving one virtual host from `base` (0755), its config dated a minute
/// before the start: (the config, its text, the server).
fn md507_apache(base: &Path) -> (PathBuf, String, Apache) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(base, std::fs::Permissions::from_mode(0o755)).unwrap();
    let port = support::free_port();
    let conf = base.join("apache2.conf");
    let text = format!(
        "{}<VirtualHost *:{port}>\n ServerName myapp.example.com\n</VirtualHost>\n",
        main_conf(base, port)
    );
    std::fs::write(&conf, &text).unwrap();
    support::set_mtime(
        &conf,
        std::time::SystemTime::now() - std::time::Duration::from_secs(60),
    );
    let apache = Apache::start(base, &conf, port).unwrap();
    (conf, text, apache)
}

/// MD507 on the Apache of `conf`.
fn md507(conf: &Path) -> media_doctor::report::CheckResult {
    let args = Options {
        apache_conf: Some(conf.to_path_buf()),
        ..Default::default()
    };
    let site = Site::gather(&args, true).unwrap();
    checks::run_one(checks::find("MD507").unwrap(), &site)
}

/// Root and Apache httpd: what a private Apache needs (a skip, or under CI a failure).
fn root_and_apache() -> bool {
    support::require(support::is_root(), "needs root (Apache's User)") && require_apache()
}

/// A private Apache's base directory (0755) holding srv/media/uploads/a.jpg, with the project
/// directory srv/ closed to Apache's user (www-data: AH00035, 403); a free port and the path of
/// its config: (the directory, media, port, config).
fn closed_media() -> (tempfile::TempDir, PathBuf, u16, PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let t = tempfile::tempdir().unwrap();
    let base = t.path();
    std::fs::set_permissions(base, std::fs::Permissions::from_mode(0o755)).unwrap();
    let media = base.join("srv/media");
    std::fs::create_dir_all(media.join("uploads")).unwrap();
    std::fs::write(media.join("uploads/a.jpg"), b"not really a jpeg").unwrap();
    std::fs::set_permissions(base.join("srv"), std::fs::Permissions::from_mode(0o700)).unwrap();
    let conf = base.join("apache2.conf");
    (t, media, support::free_port(), conf)
}

/// The live checks on a private Apache (the live system, its own config), planned from Apache's
/// model as nginx's are from nginx's: MD401 asks a real file under the Alias and gets the 403 of
/// a parent closed to Apache's user, MD405 reads that very AH00035 line in Apache's error log
/// and walks the path again (its printed grant, run, makes MD401 pass), MD406 compares each live
/// answer with the model's. Then the configuration is changed and not reloaded: MD406 finds the
/// live answer the model no longer predicts and prints the reload of this very master, which,
/// run, makes them agree again.
#[test]
fn live_checks_ask_a_private_apache() {
    if !root_and_apache() {
        return;
    }
    let (t, media, port, conf) = closed_media();
    let base = t.path();
    let config = |grant: &str| {
        format!(
            "{}<VirtualHost *:{port}>\n ServerName myapp.test\n Alias /media/ {m}/\n \
             <Directory {m}/>\n  Require all {grant}\n </Directory>\n</VirtualHost>\n",
            main_conf(base, port),
            m = media.display()
        )
    };
    std::fs::write(&conf, config("granted")).unwrap();
    let apache = Apache::start(base, &conf, port).unwrap();
    let run = || -> Vec<CheckResult> {
        let args = Options {
            apache_conf: Some(conf.clone()),
            ..Default::default()
        };
        // Not offline: the probes are sent and the log is read.
        let site = Site::gather(&args, false).unwrap();
        let ids = ["MD401", "MD405", "MD406"];
        checks::run(&site, &ids.map(|id| checks::find(id).unwrap()))
    };
    let by = |rs: &[CheckResult], id: &str| rs.iter().find(|r| r.id == id).unwrap().clone();
    let rs = run();
    let md401 = by(&rs, "MD401");
    assert_eq!(
        md401.status,
        Status::Fail,
        "{}: {:#?}",
        md401.summary,
        md401.findings
    );
    assert!(
        md401.findings[0].message.contains("/media/uploads/a.jpg")
            && md401.findings[0].message.contains("403"),
        "{:#?}",
        md401.findings
    );
    // Its trace, pasted, reads this Apache's own configuration.
    let trace = &md401.findings[0].remediation.as_ref().unwrap().commands[0];
    assert_eq!(
        trace,
        &format!(
            "media-doctor trace http://myapp.test:{port}/media/uploads/a.jpg --apache-conf {}",
            conf.display()
        )
    );
    // The model agrees with the live 403.
    let md406 = by(&rs, "MD406");
    assert_eq!(
        md406.status,
        Status::Pass,
        "{}: {:#?}",
        md406.summary,
        md406.findings
    );
    let md405 = by(&rs, "MD405");
    assert_eq!(
        md405.status,
        Status::Fail,
        "{}: {:#?}",
        md405.summary,
        md405.findings
    );
    let f = &md405.findings[0];
    assert!(f.message.contains("AH00035"), "{:#?}", md405.findings);
    let walk = f
        .evidence
        .iter()
        .find(|e| e.label == "walk")
        .unwrap_or_else(|| panic!("no walk: {f:#?}"));
    assert!(walk.value.contains("www-data"), "{}", walk.value);
    let grant = &f.remediation.as_ref().unwrap().commands[0];
    assert!(
        grant.contains(&base.join("srv").display().to_string()),
        "{grant}"
    );
    run_printed(grant);
    let rs = run();
    for id in ["MD401", "MD406"] {
        let r = by(&rs, id);
        assert_eq!(
            r.status,
            Status::Pass,
            "{id} after {grant}: {}: {:#?}",
            r.summary,
            r.findings
        );
    }
    // Changed, not reloaded: the model says 403 (AH01630), the running Apache still 200.
    std::fs::write(&conf, config("denied")).unwrap();
    let rs = run();
    let md406 = by(&rs, "MD406");
    assert_eq!(
        md406.status,
        Status::Fail,
        "{}: {:#?}",
        md406.summary,
        md406.findings
    );
    let f = &md406.findings[0];
    assert!(
        f.message
            .contains("Apache answers 200, the config and files predict 403"),
        "{}",
        f.message
    );
    let reload = &f.remediation.as_ref().unwrap().commands[0];
    let pid = std::fs::read_to_string(base.join("apache.pid")).unwrap();
    assert!(
        reload.ends_with(&format!("-t && sudo kill -USR1 {}", pid.trim())),
        "{reload}"
    );
    run_printed(reload);
    // A graceful restart: new children take the new configuration.
    let start = std::time::Instant::now();
    while apache.get("myapp.test", "/media/uploads/a.jpg") != Some(403) {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(15),
            "not reloaded"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let md406 = by(&run(), "MD406");
    assert_eq!(
        md406.status,
        Status::Pass,
        "{}: {:#?}",
        md406.summary,
        md406.findings
    );
    drop(apache);
}

/// MD405 on a private Apache where `AllowOverride` lets `.htaccess` files in above the media: a
/// parent closed to Apache's user is then logged as AH00529 on that parent's `.htaccess` (not
/// under the served directory): the line is the site's, walked as www-data, and its printed
/// grant, run, lets Apache serve the file.
#[test]
fn md405_reads_an_htaccess_apache_cannot_reach() {
    if !root_and_apache() {
        return;
    }
    let (t, media, port, conf) = closed_media();
    let base = t.path();
    std::fs::write(
        &conf,
        format!(
            "{}<Directory {b}/>\n AllowOverride All\n</Directory>\n<VirtualHost *:{port}>\n \
             ServerName myapp.test\n Alias /media/ {m}/\n <Directory {m}/>\n  Require all \
             granted\n </Directory>\n</VirtualHost>\n",
            main_conf(base, port),
            b = base.display(),
            m = media.display()
        ),
    )
    .unwrap();
    let apache = Apache::start(base, &conf, port).unwrap();
    let run = || {
        let args = Options {
            apache_conf: Some(conf.clone()),
            ..Default::default()
        };
        let site = Site::gather(&args, false).unwrap();
        let ids = ["MD401", "MD405"];
        checks::run(&site, &ids.map(|id| checks::find(id).unwrap()))
    };
    let rs = run();
    assert_eq!(rs[0].status, Status::Fail, "{:#?}", rs[0]);
    let md405 = &rs[1];
    assert_eq!(
        md405.status,
        Status::Fail,
        "{}: {:#?}",
        md405.summary,
        md405.findings
    );
    let f = &md405.findings[0];
    assert!(f.message.contains("AH00529"), "{f:#?}");
    let grant = &f.remediation.as_ref().unwrap().commands[0];
    assert!(
        grant.contains(&base.join("srv").display().to_string()),
        "{grant}"
    );
    run_printed(grant);
    assert_eq!(apache.get("myapp.test", "/media/uploads/a.jpg"), Some(200));
    drop(apache);
}

/// A printed command, run as printed (by a shell, as root).
fn run_printed(cmd: &str) {
    let ok = std::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "{cmd}");
}

/// #14: the worker user from envvars (APACHE_RUN_USER) cannot traverse a parent directory:
/// MD202 walks Apache's served directories as Apache's `User`, and a real Apache answers 403.
#[test]
fn md202_walks_apaches_directories_as_its_user() {
    use std::os::unix::fs::PermissionsExt;
    if !support::require(support::is_root(), "needs root (chown, Apache's User)")
        || !require_apache()
    {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let ok = std::process::Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", fixture("MD501", "pass").display()))
        .arg(t.path())
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok);
    let myapp = t.path().join("srv/myapp");
    std::fs::set_permissions(&myapp, std::fs::Permissions::from_mode(0o700)).unwrap();
    let args = Options {
        root: Some(t.path().to_path_buf()),
        apache_conf: Some("/etc/apache2/apache2.conf".into()),
        ..Default::default()
    };
    let site = Site::gather(&args, true).unwrap();
    let r = checks::run_one(checks::find("MD202").unwrap(), &site);
    assert_eq!(r.status, Status::Fail, "{}: {:#?}", r.summary, r.findings);
    assert!(
        r.summary.starts_with("www-data cannot enter /srv/myapp"),
        "{}",
        r.summary
    );
    let real = real_status_in(t.path(), "myapp.example.com", "/media/uploads/a.jpg");
    assert_eq!(real, Some(403));
    std::fs::set_permissions(&myapp, std::fs::Permissions::from_mode(0o755)).unwrap();
    let site = Site::gather(&args, true).unwrap();
    let r = checks::run_one(checks::find("MD202").unwrap(), &site);
    assert_eq!(r.status, Status::Pass, "{}: {:#?}", r.summary, r.findings);
}

/// MD108 on Apache (fixtures/checks/MD108/apache-{fail,pass}, variants of apache-base): a stale
/// site read first (000-old.conf, ServerName old.example.com) also has ServerAlias
/// myapp.example.com on *:80, so Apache gives it every request for the site's name. The check
/// finds it for `--site myapp`, prints the proven edit of the old site's alias line; pasted as
/// printed, the check passes, a real Apache serves the upload (404 from the old site's
/// DocumentRoot before, 200 after, as on apache-pass) and old.example.com still answers as before.
/// When the name is the old site's only one, no edit is printed: it may be the live site.
#[test]
fn md108_a_name_a_site_read_first_also_has() {
    use crate::check_fixtures::{needs_root, prepare, status_of};
    if !needs_root() {
        return;
    }
    let args = ["--offline", "--site", "myapp"];
    let json = |root: &Path| select("MD108", root, &args);
    let (fail, report) = failing("MD108", &args);
    let f = &report["checks"][0]["findings"][0];
    assert_eq!(f["evidence"][0]["value"], "myapp.example.com", "{f}");
    let text = f["remediation"]["text"].as_str().unwrap();
    assert!(
        text.contains(
            "# /etc/apache2/sites-enabled/000-old.conf:3\n#ServerAlias myapp.example.com"
        ),
        "{text}"
    );
    assert!(text.contains("it keeps old.example.com"), "{text}");
    assert!(
        f["remediation"]["commands"]
            .to_string()
            .contains("apache2ctl configtest"),
        "{f}"
    );
    let fixed = with_printed_fix_in(&fail.root, "MD108", text);
    let again = json(fixed.path());
    assert_eq!(
        status_of(&again, "MD108"),
        "pass",
        "{}\n{text}",
        again.stdout
    );
    let pass = prepare("MD108", "apache-pass");
    assert_eq!(status_of(&json(&pass.root), "MD108"), "pass");
    // The name is the old site's only one: taking it out is not proven harmless to that site.
    let only = tempfile::tempdir().unwrap();
    let copied = std::process::Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", fail.root.display()))
        .arg(only.path())
        .status()
        .is_ok_and(|s| s.success());
    assert!(copied);
    std::fs::write(
        only.path().join("etc/apache2/sites-enabled/000-old.conf"),
        "<VirtualHost *:80>\n\tServerName myapp.example.com\n\tDocumentRoot /var/www/html\n</VirtualHost>\n",
    )
    .unwrap();
    let out = json(only.path());
    assert_eq!(status_of(&out, "MD108"), "fail", "{}", out.stdout);
    let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let f = &report["checks"][0]["findings"][0];
    let refused = f["remediation"]["text"].as_str().unwrap();
    assert!(
        refused.starts_with("no edit is printed: myapp.example.com is the only name of the <VirtualHost> at /etc/apache2/sites-enabled/000-old.conf:1"),
        "{refused}"
    );
    assert!(!refused.contains("#ServerName"), "{refused}");
    assert_eq!(f["remediation"]["commands"], serde_json::json!([]), "{f}");
    if !require_apache() {
        return;
    }
    assert_eq!(
        real_status_in(&fail.root, "old.example.com", "/"),
        real_status_in(fixed.path(), "old.example.com", "/"),
        "the old site's own name answers as before\n{text}"
    );
    assert_eq!(
        real_status_in(only.path(), "myapp.example.com", "/media/uploads/a.jpg"),
        Some(404),
        "the only-name case is left as it was"
    );
    let (host, url) = ("myapp.example.com", "/media/uploads/a.jpg");
    assert_eq!(
        real_status_in(&fail.root, host, url),
        Some(404),
        "apache-fail"
    );
    assert_eq!(
        real_status_in(fixed.path(), host, url),
        Some(200),
        "with the printed fix\n{text}"
    );
    assert_eq!(
        real_status_in(&pass.root, host, url),
        Some(200),
        "apache-pass"
    );
}

/// MD307 on Apache (fixtures/checks/MD307/apache-{fail,pass}): DEBUG = True in the app behind
/// Apache is the finding, with the settings edit; the finding says Apache serves MEDIA_URL from
/// disk itself, so with DEBUG off the uploads are still served, and a real Apache answers the
/// upload 200 from the Alias (not through the app, which is not running).
#[test]
fn md307_debug_on_behind_apache() {
    use crate::check_fixtures::{needs_root, prepare, status_of};
    if !needs_root() {
        return;
    }
    let json = |root: &Path| select("MD307", root, &["--offline"]);
    let (fail, report) = failing("MD307", &["--offline"]);
    names_apache_not_nginx("MD307", &report);
    let f = &report["checks"][0]["findings"][0];
    assert!(
        f["remediation"]["text"]
            .as_str()
            .unwrap()
            .contains("DEBUG = False"),
        "{f}"
    );
    // Apache serves the media itself: they do not "work only through the app".
    let message = f["message"].as_str().unwrap();
    assert!(
        message.starts_with("DEBUG is True") && !message.contains("only through the app"),
        "{message}"
    );
    let served = f["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["label"] == "apache serves MEDIA_URL")
        .map(|e| e["value"].as_str().unwrap().to_string())
        .unwrap_or_default();
    assert!(
        served.starts_with(
            "/media/ from /srv/myapp/media/ (Alias at /etc/apache2/sites-enabled/myapp.conf:7"
        ),
        "{f}"
    );
    let pass = prepare("MD307", "apache-pass");
    assert_eq!(status_of(&json(&pass.root), "MD307"), "pass");
    if require_apache() {
        let real = real_status_in(&fail.root, "myapp.example.com", "/media/uploads/a.jpg");
        assert_eq!(real, Some(200), "Apache serves the upload from disk");
    }
}

/// MD104 on Apache (fixtures/checks/MD104/apache-{fail,pass}): `AliasMatch ^/media/(.*)$
/// /srv/myapp/media/` drops its capture, so every upload URL opens the media directory itself.
/// The check prints the target ending in `$1`, proven; pasted as printed, the check passes and a
/// real Apache serves the upload, as on apache-pass (and answers on apache-fail what the finding
/// predicts).
#[test]
fn md104_an_aliasmatch_that_drops_its_capture() {
    use crate::check_fixtures::{needs_root, prepare, status_of};
    if !needs_root() {
        return;
    }
    let json = |root: &Path| select("MD104", root, &["--offline"]);
    let (fail, report) = failing("MD104", &["--offline"]);
    names_apache_not_nginx("MD104", &report);
    let f = &report["checks"][0]["findings"][0];
    let ev = |label: &str| {
        f["evidence"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["label"] == label)
            .and_then(|e| e["value"].as_str())
            .unwrap_or("")
            .to_string()
    };
    let url = ev("url");
    assert_eq!(url, "/media/uploads/a.jpg", "{f}");
    assert_eq!(ev("apache opens"), "/srv/myapp/media/", "{f}");
    let text = f["remediation"]["text"].as_str().unwrap();
    assert!(
        text.contains("AliasMatch ^/media/(.*)$ /srv/myapp/media/$1"),
        "{text}"
    );
    let fixed = with_printed_fix_in(&fail.root, "MD104", text);
    assert_eq!(status_of(&json(fixed.path()), "MD104"), "pass", "{text}");
    let pass = prepare("MD104", "apache-pass");
    assert_eq!(status_of(&json(&pass.root), "MD104"), "pass");
    if !require_apache() {
        return;
    }
    let host = "myapp.example.com";
    let predicted: u16 = ev("predicted status").parse().unwrap();
    assert_eq!(
        real_status_in(&fail.root, host, &url),
        Some(predicted),
        "apache-fail"
    );
    assert_eq!(
        real_status_in(fixed.path(), host, &url),
        Some(200),
        "with the printed fix\n{text}"
    );
    assert_eq!(
        real_status_in(&pass.root, host, &url),
        Some(200),
        "apache-pass"
    );
}
