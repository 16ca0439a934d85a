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
                .any(|c| c.contains("apache2ctl configtest") && c.contains("reload apache2")),
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
    use std::os::unix::fs::PermissionsExt;
    let t = tempfile::tempdir().unwrap();
    let base = t.path();
    std::fs::set_permissions(base, std::fs::Permissions::from_mode(0o755)).unwrap();
    let fx = fixture(id, kind);
    for dir in ["srv", "var"] {
        if fx.join(dir).is_dir() {
            copy_tree(&fx.join(dir), base);
        }
    }
    let port = support::free_port();
    let conf = base.join("apache2.conf");
    std::fs::write(&conf, runnable(&fx, base, port)).unwrap();
    let apache = Apache::start(base, &conf, port)
        .unwrap_or_else(|e| panic!("{id}/{kind}: {e}\n{}", runnable(&fx, base, port)));
    apache.get(host, url)
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
    if !support::require(support::is_root(), "needs root (Apache's User)") || !require_apache() {
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

/// `WSGIScriptAlias /` with no Alias for MEDIA_URL/STATIC_URL: mod_wsgi takes them (it maps
/// after mod_alias, so the fix is the Alias, with the app's MEDIA_ROOT/STATIC_ROOT).
#[test]
fn md502_maps_the_app_roots_when_mod_wsgi_takes_them() {
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
    std::fs::write(
        root.join("etc/apache2/sites-enabled/myapp.conf"),
        "<VirtualHost *:80>\n\tServerName myapp.example.com\n\tWSGIScriptAlias / /srv/myapp/app/wsgi.py\n</VirtualHost>\n",
    )
    .unwrap();
    let args = Options {
        root: Some(root.to_path_buf()),
        apache_conf: Some("/etc/apache2/apache2.conf".into()),
        app: Some("/srv/myapp/app".into()),
        ..Default::default()
    };
    let site = Site::gather(&args, true).unwrap();
    let r = checks::run_one(checks::find("MD502").unwrap(), &site);
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

/// MD507 on a private Apache (live, its own PidFile): the config written before the start is
/// loaded; a change dated after the last load is not, and the fix reloads that very master (a
/// USR1 to the pid, with its own -d/-f: apache2ctl would signal the box's Apache).
#[test]
fn md507_names_a_change_made_after_apache_loaded_its_config() {
    use std::os::unix::fs::PermissionsExt;
    if !support::require(support::is_root(), "needs root (Apache's User)") || !require_apache() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let base = t.path();
    std::fs::set_permissions(base, std::fs::Permissions::from_mode(0o755)).unwrap();
    let port = support::free_port();
    let conf = base.join("apache2.conf");
    let text = format!(
        "{}<VirtualHost *:{port}>\n ServerName myapp.example.com\n</VirtualHost>\n",
        main_conf(base, port)
    );
    std::fs::write(&conf, &text).unwrap();
    let now = std::time::SystemTime::now();
    set_mtime(&conf, now - std::time::Duration::from_secs(60));
    let apache = Apache::start(base, &conf, port).unwrap();
    let check = || {
        let args = Options {
            apache_conf: Some(conf.clone()),
            ..Default::default()
        };
        let site = Site::gather(&args, true).unwrap();
        checks::run_one(checks::find("MD507").unwrap(), &site)
    };
    let r = check();
    assert_eq!(r.status, Status::Pass, "{}: {:#?}", r.summary, r.findings);
    // Edited after the load (dated ahead, so that no wait is needed to be past the tolerance).
    std::fs::write(&conf, format!("{text}# edited\n")).unwrap();
    set_mtime(&conf, now + std::time::Duration::from_secs(30));
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

fn set_mtime(p: &Path, t: std::time::SystemTime) {
    let d = t.duration_since(std::time::UNIX_EPOCH).unwrap();
    let ts = nix::sys::time::TimeSpec::new(d.as_secs() as i64, d.subsec_nanos() as i64);
    nix::sys::stat::utimensat(
        nix::fcntl::AT_FDCWD,
        p,
        &ts,
        &ts,
        nix::sys::stat::UtimensatFlags::FollowSymlink,
    )
    .unwrap();
}
