//! The app side end to end: the fixture projects in fixtures/apps/ (realistic Django and Flask
//! layouts, correct and broken), discovery without options and with profiles, real paths through
//! symlinks, bad input, and `--eval` against real Django and Flask installed with pip.

use crate::run::{media_doctor, REPO};
use crate::support;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn check(args: &[&str]) -> (i32, Value) {
    let mut all = vec!["check", "--offline", "--format", "json", "--color", "never"];
    all.extend_from_slice(args);
    let out = media_doctor(&all);
    let json = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\nstderr: {}", out.stdout, out.stderr));
    (out.code, json)
}

/// MD3xx id → status.
fn app_statuses(report: &Value) -> BTreeMap<String, String> {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["id"].as_str().unwrap().starts_with("MD3"))
        .map(|c| {
            (
                c["id"].as_str().unwrap().to_string(),
                c["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn check_of<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap()
}

fn fixture(name: &str) -> String {
    format!("fixtures/apps/{name}")
}

fn expect(report: &Value, want: &[(&str, &str)]) {
    let got = app_statuses(report);
    for (id, status) in want {
        assert_eq!(
            got.get(*id).map(String::as_str),
            Some(*status),
            "{id}: {}",
            check_of(report, id)
        );
    }
}

#[test]
fn correct_projects_give_no_finding() {
    for (fx, site) in [("django-split", "shop"), ("flask-factory", "gallery")] {
        let (_, r) = check(&["--root", &fixture(fx), "--site", site]);
        let statuses = app_statuses(&r);
        assert_eq!(statuses.len(), 9, "{statuses:?}");
        for (id, status) in &statuses {
            assert_eq!(status, "pass", "{fx} {id}: {}", check_of(&r, id));
        }
        assert!(r["site"]["app"]["settings_files"].as_array().unwrap().len() >= 2);
    }
}

#[test]
fn django_split_settings_are_read_from_the_unit_environment() {
    let (_, r) = check(&["--root", &fixture("django-split"), "--site", "shop"]);
    let app = &r["site"]["app"];
    assert_eq!(app["framework"], "django");
    assert_eq!(app["settings_module"], "shop.settings.production");
    assert_eq!(
        app["settings_module_source"],
        "EnvironmentFile /etc/default/shop"
    );
    assert_eq!(app["media_root"]["value"], "/var/lib/shop/media");
    assert_eq!(
        app["media_root"]["at"]["file"],
        "/srv/shop/shop/settings/production.py"
    );
    assert_eq!(app["static_root"]["value"], "/srv/shop/staticfiles");
    assert_eq!(app["media_url"]["value"], "media/");
    assert_eq!(app["user"], "deploy");
    assert_eq!(app["group"], "www-data");
    assert_eq!(app["python"], "/srv/shop/venv/bin/python");
    assert_eq!(app["static_sources"][0], "/srv/shop/assets");
    assert_eq!(app["debug"]["value"], false);
    // The JSON shows which variables were read and from where, never their values.
    assert!(app["env_reads"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["name"] == "SHOP_MEDIA_ROOT"
            && e["source"] == "EnvironmentFile /etc/default/shop"));
}

#[test]
fn broken_projects_fail_the_right_checks() {
    let (code, r) = check(&["--root", &fixture("django-broken"), "--site", "blog"]);
    assert_eq!(code, 1);
    expect(
        &r,
        &[
            ("MD301", "pass"),
            ("MD303", "fail"),
            ("MD304", "fail"),
            ("MD305", "pass"),
            ("MD306", "fail"),
            ("MD307", "fail"),
            ("MD309", "pass"),
        ],
    );
    let md303 = check_of(&r, "MD303");
    assert!(md303["summary"].as_str().unwrap().contains("/uploads/"));
    assert_eq!(
        md303["findings"][0]["location"]["file"],
        "/etc/nginx/sites-enabled/blog"
    );
    // MD307: DEBUG, and the `serve` pattern for /uploads/ that nginx does not map.
    let md307: Vec<&str> = check_of(&r, "MD307")["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["message"].as_str().unwrap())
        .collect();
    assert!(
        md307.iter().any(|m| m.contains("DEBUG is True")),
        "{md307:?}"
    );
    assert!(
        md307
            .iter()
            .any(|m| m.contains("/uploads/") && m.contains("django serve")),
        "{md307:?}"
    );
    let md306 = &check_of(&r, "MD306")["findings"];
    assert_eq!(
        md306[0]["location"]["file"],
        "/srv/blog/templates/post.html"
    );
    assert_eq!(md306[0]["location"]["line"], 2);

    let (_, r) = check(&["--root", &fixture("flask-plain"), "--site", "notes"]);
    expect(
        &r,
        &[
            ("MD302", "fail"),
            ("MD303", "pass"),
            ("MD306", "warn"),
            ("MD307", "fail"),
        ],
    );
    let md302 = &check_of(&r, "MD302")["findings"][0];
    assert!(md302["message"]
        .as_str()
        .unwrap()
        .contains("/var/www/notes/uploads"));
    // One block per place: the location is printed once, under the first check that edits it
    // (MD110 adds nosniff to it), with MD302's alias; MD302 points there.
    assert_eq!(
        md302["remediation"]["text"],
        "the block for /etc/nginx/sites-enabled/notes:5 under MD110 fixes this too"
    );
    let block = &check_of(&r, "MD110")["findings"][0]["remediation"];
    let text = block["text"].as_str().unwrap();
    assert!(text.contains("alias /srv/notes/uploads/;"), "{text}");
    assert!(
        text.contains("add_header X-Content-Type-Options nosniff always;"),
        "{text}"
    );
    // The corrected block is text to paste; the commands are shell only (the reload: the
    // fixture's tree has no /run/systemd/system, so the signal, not systemctl).
    assert_eq!(
        block["commands"][0],
        "sudo nginx -t && sudo nginx -s reload"
    );
}

#[test]
fn remote_storage_turns_disk_checks_into_skips() {
    let (_, r) = check(&["--root", &fixture("django-s3"), "--site", "press"]);
    expect(
        &r,
        &[
            ("MD302", "skip"),
            ("MD303", "skip"),
            ("MD308", "warn"),
            ("MD304", "pass"),
        ],
    );
    assert!(check_of(&r, "MD302")["summary"]
        .as_str()
        .unwrap()
        .contains("storages.backends.s3.S3Storage"));
    assert_eq!(
        r["site"]["app"]["remote_media_storage"],
        "storages.backends.s3.S3Storage"
    );
}

#[test]
fn with_no_options_the_only_site_is_found() {
    for fx in ["django-split", "flask-factory"] {
        let (_, r) = check(&["--root", &fixture(fx)]);
        let app = &r["site"]["app"];
        assert!(app.is_object(), "{fx}: {}", r["site"]["app_search"]);
        assert!(
            app["found_by"]
                .as_str()
                .unwrap()
                .contains("the only app server unit"),
            "{}",
            app["found_by"]
        );
        assert!(app_statuses(&r).values().all(|s| s == "pass"), "{fx}");
    }
}

#[test]
fn app_and_framework_options_and_explicit_failures() {
    // --app pointing at a settings file (under --root: a system path).
    let (_, r) = check(&[
        "--root",
        &fixture("django-broken"),
        "--app",
        "/srv/blog/blog/settings.py",
        "--framework",
        "django",
    ]);
    assert_eq!(r["site"]["app"]["media_url"]["value"], "/uploads/");
    assert_eq!(r["site"]["app"]["found_by"], "--app");
    // A named app that does not exist is a bad argument: exit 2, naming it (was an MD301 fail).
    let o = media_doctor(&[
        "check",
        "--offline",
        "--root",
        &fixture("django-broken"),
        "--app",
        "/srv/nothing",
    ]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(
        o.stderr
            .contains("--app /srv/nothing: No such file or directory"),
        "{}",
        o.stderr
    );
}

fn copy_tree(from: &Path, to: &Path) {
    let st = Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", from.display()))
        .arg(to)
        .status()
        .unwrap();
    assert!(st.success());
}

#[test]
fn profiles_and_real_paths_through_symlinks() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    copy_tree(&Path::new(REPO).join(fixture("django-split")), root);
    // A capistrano-style layout: the project is reached through `current`, nginx names the
    // release directly: the real paths are equal.
    std::fs::create_dir_all(root.join("srv/releases")).unwrap();
    std::fs::rename(root.join("srv/shop"), root.join("srv/releases/42")).unwrap();
    std::os::unix::fs::symlink("/srv/releases/42", root.join("srv/shop")).unwrap();
    let site = root.join("etc/nginx/sites-enabled/shop");
    let conf = std::fs::read_to_string(&site).unwrap().replace(
        "alias /srv/shop/staticfiles/;",
        "alias /srv/releases/42/staticfiles/;",
    );
    std::fs::write(&site, conf).unwrap();
    // A profile names the app; the unit is found from it.
    std::fs::create_dir_all(root.join("etc/media-doctor")).unwrap();
    std::fs::write(
        root.join("etc/media-doctor/storefront.toml"),
        "app = \"/srv/shop\"\nframework = \"django\"\nunit = \"shop.service\"\nsamples = [\"/media/products/mug.jpg\"]\n",
    )
    .unwrap();
    let root_s = root.display().to_string();
    let (_, r) = check(&["--root", &root_s, "--site", "storefront"]);
    assert_eq!(r["site"]["profile"], "/etc/media-doctor/storefront.toml");
    assert!(r["site"]["app"]["found_by"]
        .as_str()
        .unwrap()
        .contains("storefront.toml"));
    expect(
        &r,
        &[("MD302", "pass"), ("MD304", "pass"), ("MD303", "pass")],
    );
    // A profile with a typo stops the run (exit 2) rather than half-applying it.
    std::fs::write(root.join("etc/media-doctor/typo.toml"), "ap = \"/srv\"\n").unwrap();
    let out = media_doctor(&["check", "--root", &root_s, "--site", "typo", "--offline"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("unknown field"), "{}", out.stderr);
}

#[test]
fn unreadable_settings_are_reported_not_guessed() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    copy_tree(&Path::new(REPO).join(fixture("django-broken")), root);
    let settings = root.join("srv/blog/blog/settings.py");
    let text = std::fs::read_to_string(&settings).unwrap().replace(
        "MEDIA_ROOT = os.path.join(BASE_DIR, \"media\")",
        "MEDIA_ROOT = os.environ[\"BLOG_MEDIA\"]\nfrom .other import *\nBROKEN = (",
    );
    std::fs::write(&settings, text).unwrap();
    std::fs::write(
        root.join("srv/blog/blog/other.py"),
        "from .settings import *\n",
    )
    .unwrap();
    let (_, r) = check(&["--root", &root.display().to_string(), "--site", "blog"]);
    let md301 = check_of(&r, "MD301");
    assert_eq!(md301["status"], "warn", "{md301}");
    let messages: Vec<&str> = md301["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["message"].as_str().unwrap())
        .collect();
    assert!(
        messages
            .iter()
            .any(|m| m.contains("MEDIA_ROOT") && m.contains("BLOG_MEDIA")),
        "{messages:?}"
    );
    assert!(
        messages.iter().any(|m| m.contains("syntax error")),
        "{messages:?}"
    );
    assert_eq!(r["site"]["app"]["media_root"]["state"], "unknown");
    assert_eq!(check_of(&r, "MD302")["status"], "skip");
}

/// A venv with real Django and Flask: the sites tests' one (made once, by one test while the
/// others wait; two tests making it side by side broke each other's pip install).
fn venv() -> Option<PathBuf> {
    crate::sites::venv()
}

#[test]
fn static_reading_agrees_with_eval_on_every_fixture() {
    let venv = venv();
    if !support::require(
        venv.is_some(),
        "needs `python3 -m venv` and pip access to PyPI (Django, Flask)",
    ) {
        return;
    }
    let venv = venv.unwrap();
    for (fx, site, venv_at) in [
        ("django-split", "shop", "srv/shop/venv"),
        ("django-broken", "blog", "srv/blog/venv"),
        ("django-s3", "press", "srv/press/.venv"),
        ("flask-factory", "gallery", "srv/gallery/venv"),
        ("flask-plain", "notes", "srv/notes/venv"),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        copy_tree(&Path::new(REPO).join(fixture(fx)), tmp.path());
        std::os::unix::fs::symlink(&venv, tmp.path().join(venv_at)).unwrap();
        let (_, r) = check(&[
            "--root",
            &tmp.path().display().to_string(),
            "--site",
            site,
            "--eval",
        ]);
        let ev = &r["site"]["app"]["evaluated"];
        assert_eq!(ev["app_code_executed"], true, "{fx}: {ev}");
        assert!(ev["error"].is_null(), "{fx}: {}", ev["error"]);
        assert_eq!(
            ev["differences"].as_array().map(Vec::len),
            Some(0),
            "{fx}: static and --eval differ: {}",
            ev["differences"]
        );
        let md301 = check_of(&r, "MD301");
        assert!(
            md301["summary"]
                .as_str()
                .unwrap()
                .contains("app code was executed"),
            "{fx}: {md301}"
        );
        // --eval writes nothing into the project (no __pycache__).
        let pycache = walkdir::WalkDir::new(tmp.path().join("srv"))
            .follow_links(false)
            .into_iter()
            .flatten()
            .any(|e| e.file_name() == "__pycache__");
        assert!(!pycache, "{fx}: --eval wrote bytecode into the project");
    }
}

#[test]
fn eval_reports_a_difference_when_the_static_reading_cannot_decide() {
    let venv = venv();
    if !support::require(
        venv.is_some(),
        "needs `python3 -m venv` and pip access to PyPI (Django, Flask)",
    ) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    copy_tree(&Path::new(REPO).join(fixture("django-broken")), tmp.path());
    std::os::unix::fs::symlink(venv.unwrap(), tmp.path().join("srv/blog/venv")).unwrap();
    // A value computed by code the evaluator does not model (a call into the stdlib).
    let settings = tmp.path().join("srv/blog/blog/settings.py");
    let text = std::fs::read_to_string(&settings).unwrap().replace(
        "MEDIA_URL = \"/uploads/\"",
        "from urllib.parse import urljoin\nMEDIA_URL = urljoin('/', 'uploads/')",
    );
    std::fs::write(&settings, text).unwrap();
    let (_, r) = check(&[
        "--root",
        &tmp.path().display().to_string(),
        "--site",
        "blog",
        "--eval",
    ]);
    let diffs = r["site"]["app"]["evaluated"]["differences"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(diffs.len(), 1, "{diffs:?}");
    assert_eq!(diffs[0]["setting"], "MEDIA_URL");
    assert_eq!(diffs[0]["evaluated"], "/uploads/");
    assert_eq!(check_of(&r, "MD301")["status"], "warn");
}
