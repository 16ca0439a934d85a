//! Every check on its fixture pair, as a user runs it (the binary, `check --root`): the mistake
//! in `fixtures/checks/MDxxx/fail` is the first thing the report finds (no other check fails or
//! warns before it), `fixtures/checks/MDxxx/pass` passes that check, and the text the check
//! prints on `fail` is a snapshot (tests/it/snapshots/check_MDxxx_fail.snap; refresh with
//! `INSTA_UPDATE=always cargo test --test it check_fixtures`, then review the diff).
//!
//! Most pairs are variants of fixtures/checks/base, stored as their change and assembled by
//! `tree` (fixtures/checks/README.md). Git keeps neither owners nor most modes, so each fixture
//! is run on a copy: every directory
//! root:root 0755, every file root:root 0644, all dated 2026-01-01 00:00 UTC, then the lines of
//! the fixture's `.modes` (PATH OWNER:GROUP MODE [SECONDS AFTER THAT DATE], names from the
//! fixture's own etc/passwd and etc/group). That needs root: under CI=true the test fails
//! without it. Checks without a static pair are listed in `WITHOUT`, with the reason and the
//! test that covers them (fixtures/checks/README.md says the same).

use crate::compose_variant::compose_project;
use crate::run::{media_doctor, stable, Output, REPO};
use crate::snapshots::snap;
use crate::support;
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Checks with a fixture pair in fixtures/checks, and the arguments they run with besides
/// `check --root FIXTURE` (`--offline` unless the check reads logs: MD405).
const PAIRS: &[(&str, &[&str])] = &[
    ("MD100", &["--offline"]),
    ("MD101", &["--offline"]),
    ("MD102", &["--offline"]),
    ("MD103", &["--offline"]),
    ("MD104", &["--offline"]),
    ("MD105", &["--offline"]),
    ("MD106", &["--offline"]),
    ("MD107", &["--offline", "--site", "myapp"]),
    ("MD108", &["--offline"]),
    ("MD109", &["--offline"]),
    ("MD110", &["--offline"]),
    ("MD112", &["--offline"]),
    ("MD201", &["--offline"]),
    ("MD202", &["--offline"]),
    ("MD203", &["--offline"]),
    ("MD204", &["--offline"]),
    ("MD205", &["--offline"]),
    ("MD206", &["--offline"]),
    ("MD207", &["--offline"]),
    ("MD208", &["--offline"]),
    ("MD209", &["--offline"]),
    ("MD210", &["--offline"]),
    ("MD301", &["--offline"]),
    ("MD302", &["--offline"]),
    ("MD303", &["--offline"]),
    ("MD304", &["--offline"]),
    ("MD305", &["--offline"]),
    ("MD306", &["--offline"]),
    ("MD307", &["--offline"]),
    ("MD308", &["--offline"]),
    ("MD309", &["--offline"]),
    // Under --root no request is sent: the log is the only live input.
    ("MD405", &[]),
    ("MD501", &["--offline"]),
    ("MD502", &["--offline"]),
    ("MD503", &["--offline"]),
    ("MD504", &["--offline"]),
    ("MD505", &["--offline"]),
    ("MD506", &["--offline", "--site", "myapp"]),
];

/// Container checks: their pairs are the compose fixtures (fixtures/compose), a variant broken
/// one way against its base; tests/it/compose.rs requires each variant to fail first on its
/// check. Here: the base passes the check, and the variant's text is a snapshot.
const COMPOSE: &[(&str, &str, &str)] = &[
    ("MD601", "django-media-not-on-volume", "django-on-docker"),
    ("MD602", "django-nginx-without-media", "django-on-docker"),
    ("MD603", "django-alias-app-path", "django-on-docker"),
    ("MD604", "django-static-off-volume", "django-on-docker"),
    ("MD605", "django-media-owned-by-root", "django-on-docker"),
    ("MD606", "django-stale-static", "django-on-docker"),
];

/// Checks that a static tree cannot decide, why, and where they are tested instead.
const WITHOUT: &[(&str, &str)] = &[
    (
        "MD111",
        "compares the running master's load time (/proc) with the files: tests/it/live.rs md111",
    ),
    (
        "MD401",
        "asks the running server over HTTP: tests/it/live.rs probes_site (a private nginx), tests/it/apache_checks.rs live_checks_ask_a_private_apache",
    ),
    (
        "MD402",
        "asks the public URL: tests/it/live.rs probes_site (listeners that misbehave)",
    ),
    (
        "MD403",
        "judges the answers of MD401/MD402: tests/it/live.rs media_proxied_to_the_app_is_caught_by_its_headers",
    ),
    (
        "MD404",
        "judges a cache's headers on a live answer: tests/it/live.rs a_cdn_serving_a_cached_404_is_caught",
    ),
    (
        "MD406",
        "compares live answers with the model: tests/it/live.rs probes_site, tests/it/apache_checks.rs live_checks_ask_a_private_apache",
    ),
    (
        "MD507",
        "compares the running Apache's children's start with the files: tests/it/apache_checks.rs md507_names_a_change_made_after_apache_loaded_its_config",
    ),
    // A compose project with a bind mount whose host directory the test builds (owners and
    // modes as the container's uid sees them); no compose fixture holds one yet.
    (
        "MD607",
        "a bind mount's host directory with real owners: tests/it/compose.rs a_bind_mounted_host_directory_is_judged_as_the_containers_uid",
    ),
    (
        "MD608",
        "nginx on the host in front of a bind mount: tests/it/compose.rs nginx_on_the_host_serves_the_bind_mounts_source",
    ),
];

/// A fixture's system tree: a full tree in place (fixtures/checks/MDxxx/KIND), or a variant of
/// fixtures/checks/base assembled in a temp dir. A variant is its `variant.toml` (comments say
/// why; `base`; `remove`: paths of the base left out; `[[edit]]`: find/replace in a file of the
/// base, each finding its text exactly once), the other files of its directory laid over the
/// base, and its `.modes` lines applied after the base's (those under a removed path dropped).
pub struct Tree {
    pub root: PathBuf,
    _tmp: Option<tempfile::TempDir>,
}

pub fn tree(id: &str, kind: &str) -> Tree {
    let dir = PathBuf::from(format!("{REPO}/fixtures/checks/{id}/{kind}"));
    let spec = dir.join("variant.toml");
    let Ok(text) = std::fs::read_to_string(&spec) else {
        assert!(dir.is_dir(), "no fixture {}", dir.display());
        return Tree {
            root: dir,
            _tmp: None,
        };
    };
    let table: toml::Table =
        toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", spec.display()));
    let base = PathBuf::from(format!(
        "{REPO}/fixtures/checks/{}",
        table["base"].as_str().expect("variant.toml: base")
    ));
    let tmp = tempfile::Builder::new()
        .prefix("md-variant-")
        .tempdir()
        .unwrap();
    let root = tmp.path().join("t");
    let cp = |from: &Path, to: &Path| {
        // -T: the contents of `from` onto `to`; -a keeps the variant's symlinks as links.
        let ok = std::process::Command::new("cp")
            .arg("-aT")
            .arg(from)
            .arg(to)
            .status()
            .unwrap();
        assert!(ok.success(), "copy {}", from.display());
    };
    cp(&base, &root);
    let in_root = |p: &str| root.join(p.trim_start_matches('/'));
    let removed: Vec<String> = table
        .get("remove")
        .and_then(|r| r.as_array())
        .into_iter()
        .flatten()
        .map(|r| r.as_str().expect("remove: paths").to_string())
        .collect();
    for r in &removed {
        let p = in_root(r);
        let gone = if p.is_dir() {
            std::fs::remove_dir_all(&p)
        } else {
            std::fs::remove_file(&p)
        };
        gone.unwrap_or_else(|e| panic!("{}: remove {r}: {e}", spec.display()));
    }
    for edit in table
        .get("edit")
        .and_then(|e| e.as_array())
        .into_iter()
        .flatten()
    {
        let field = |k: &str| {
            edit.get(k)
                .and_then(|v| v.as_str())
                .unwrap_or_else(|| panic!("{}: an edit without {k}", spec.display()))
        };
        let (file, find, replace) = (field("file"), field("find"), field("replace"));
        let before = std::fs::read_to_string(in_root(file)).unwrap();
        assert_eq!(
            before.matches(find).count(),
            1,
            "{}: the edit of {file} must find its text exactly once:\n{find}",
            spec.display()
        );
        std::fs::write(in_root(file), before.replacen(find, replace, 1)).unwrap();
    }
    let base_modes = std::fs::read_to_string(root.join(".modes")).unwrap_or_default();
    cp(&dir, &root);
    std::fs::remove_file(root.join("variant.toml")).unwrap();
    let own_modes = std::fs::read_to_string(dir.join(".modes")).unwrap_or_default();
    let kept: String = base_modes
        .lines()
        .filter(|l| {
            let path = l.split_whitespace().next().unwrap_or("");
            !removed
                .iter()
                .any(|r| path == r || path.starts_with(&format!("{r}/")))
        })
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(root.join(".modes"), kept + &own_modes).unwrap();
    Tree {
        root,
        _tmp: Some(tmp),
    }
}

/// A fixture copied to a temp dir with its owners, modes and dates.
pub(crate) struct Prepared {
    _tmp: tempfile::TempDir,
    pub(crate) root: PathBuf,
}

pub(crate) fn prepare(id: &str, kind: &str) -> Prepared {
    let assembled = tree(id, kind);
    let fixture = assembled.root.as_path();
    let tmp = tempfile::Builder::new()
        .prefix("md-fixture-")
        .tempdir_in("/tmp")
        .unwrap();
    // The checks verify access as the worker user: the temp dir's own ancestors must let it in.
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    support::open_ancestors(tmp.path());
    let root = tmp.path().join("t");
    let ok = std::process::Command::new("cp")
        .arg("-a")
        .arg(fixture)
        .arg(&root)
        .status()
        .unwrap();
    assert!(ok.success(), "copy {}", fixture.display());
    let epoch = SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600);
    for e in walkdir::WalkDir::new(&root) {
        let e = e.unwrap();
        let p = e.path();
        std::os::unix::fs::lchown(p, Some(0), Some(0)).unwrap();
        if e.path_is_symlink() {
            continue;
        }
        let mode = if e.file_type().is_dir() { 0o755 } else { 0o644 };
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
        support::set_mtime(p, epoch);
    }
    let modes = root.join(".modes");
    if let Ok(text) = std::fs::read_to_string(&modes) {
        let users = ids(&root.join("etc/passwd"));
        let groups = ids(&root.join("etc/group"));
        for line in text.lines() {
            let words: Vec<&str> = line.split('#').next().unwrap().split_whitespace().collect();
            let [path, owner, mode, rest @ ..] = words.as_slice() else {
                assert!(words.is_empty(), "{}: {line:?}", modes.display());
                continue;
            };
            let p = root.join(path.trim_start_matches('/'));
            let is_link = p.symlink_metadata().map(|m| m.is_symlink());
            assert!(is_link.is_ok(), "{}: no {path}", modes.display());
            if *owner != "-" {
                let (u, g) = owner.split_once(':').expect("OWNER:GROUP");
                let id = |map: &[(String, u32)], name: &str| {
                    map.iter()
                        .find(|(n, _)| n == name)
                        .map(|(_, id)| *id)
                        .unwrap_or_else(|| panic!("{}: no {name} in the fixture", modes.display()))
                };
                std::os::unix::fs::lchown(&p, Some(id(&users, u)), Some(id(&groups, g))).unwrap();
            }
            // A symlink has no mode or date of its own to set (both would follow it).
            if is_link.unwrap() {
                continue;
            }
            if *mode != "-" {
                let m = u32::from_str_radix(mode, 8).expect("an octal MODE");
                std::fs::set_permissions(&p, std::fs::Permissions::from_mode(m)).unwrap();
            }
            if let Some(secs) = rest.first() {
                let secs: u64 = secs.parse().expect("MTIME: seconds after 2026-01-01");
                support::set_mtime(&p, epoch + Duration::from_secs(secs));
            }
        }
    }
    Prepared { _tmp: tmp, root }
}

/// The fixtures set owners and modes (their .modes): root, or a visible skip (a failure under
/// CI=true).
pub(crate) fn needs_root() -> bool {
    support::require(
        support::is_root(),
        "needs root: the fixtures set owners and modes (their .modes)",
    )
}

/// `name -> id` of an etc/passwd or etc/group.
fn ids(file: &Path) -> Vec<(String, u32)> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            Some((f.first()?.to_string(), f.get(2)?.parse().ok()?))
        })
        .collect()
}

pub(crate) fn check(root: &Path, args: &[&str], extra: &[&str]) -> Output {
    let root = root.display().to_string();
    let mut all = vec!["check", "--root", &root, "--color", "never"];
    all.extend_from_slice(args);
    all.extend_from_slice(extra);
    media_doctor(&all)
}

/// The report's (id, status) of each check that failed, warned or erred, in report order.
pub(crate) fn not_passed(out: &Output) -> Vec<(String, String)> {
    let r: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", out.stdout, out.stderr));
    r["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| !matches!(c["status"].as_str(), Some("pass" | "skip")))
        .map(|c| {
            (
                c["id"].as_str().unwrap().into(),
                c["status"].as_str().unwrap().into(),
            )
        })
        .collect()
}

pub(crate) fn status_of(out: &Output, id: &str) -> String {
    let r: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", out.stdout, out.stderr));
    r["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .map(|c| c["status"].as_str().unwrap().to_string())
        .unwrap_or_else(|| panic!("{id} not in the report"))
}

#[test]
fn every_check_has_a_fixture_pair_or_a_stated_reason() {
    let readme = std::fs::read_to_string(format!("{REPO}/fixtures/checks/README.md")).unwrap();
    for c in media_doctor::checks::registry() {
        let id = c.meta().id;
        let listed = PAIRS.iter().filter(|(p, _)| *p == id).count()
            + COMPOSE.iter().filter(|(p, _, _)| *p == id).count()
            + WITHOUT.iter().filter(|(p, _)| *p == id).count();
        assert_eq!(
            listed, 1,
            "{id}: a fixture pair, a compose pair or a reason, once"
        );
        assert!(
            readme.contains(id),
            "fixtures/checks/README.md does not name {id}"
        );
    }
    for (id, _) in PAIRS {
        for kind in ["fail", "pass"] {
            let d = format!("{REPO}/fixtures/checks/{id}/{kind}");
            assert!(Path::new(&d).is_dir(), "no {d}");
        }
    }
}

#[test]
fn each_fail_fixture_fails_first_on_its_check_and_each_pass_passes_it() {
    if !needs_root() {
        return;
    }
    let mut wrong = Vec::new();
    for (id, args) in PAIRS {
        let fail = prepare(id, "fail");
        let report = check(&fail.root, args, &["--format", "json"]);
        let bad = not_passed(&report);
        match bad.first() {
            Some((first, status)) if first == id && matches!(status.as_str(), "fail" | "warn") => {}
            _ => wrong.push(format!("{id}/fail: the checks that did not pass: {bad:?}")),
        }
        let text = check(&fail.root, args, &["--select", id]);
        snap(
            &format!("check_{id}_fail"),
            &stable(
                &text
                    .stdout
                    .replace(&fail.root.display().to_string(), "[ROOT]"),
            ),
        );
        let pass = prepare(id, "pass");
        let status = status_of(&check(&pass.root, args, &["--format", "json"]), id);
        if status != "pass" {
            wrong.push(format!("{id}/pass: {id} is {status}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn each_compose_variant_prints_its_check_and_its_base_passes_it() {
    for (id, variant, base) in COMPOSE {
        let run = |name: &str, extra: &[&str]| {
            // The text wraps around the project's path: copied to a path of one length
            // whatever TMPDIR says, so the snapshot is the same on every machine.
            let p = compose_project(name);
            let tmp = tempfile::Builder::new()
                .prefix("md-snap-")
                .tempdir_in("/tmp")
                .unwrap();
            let copy = tmp.path().join(name);
            let ok = std::process::Command::new("cp")
                .arg("-a")
                .arg(&p.dir)
                .arg(&copy)
                .status()
                .unwrap();
            assert!(ok.success(), "copy {}", p.dir.display());
            let dir = copy.display().to_string();
            let conf = format!("{dir}/nginx/nginx.conf");
            let mut args = vec![
                "check",
                "--app",
                &dir,
                "--nginx-conf",
                &conf,
                "--offline",
                "--color",
                "never",
            ];
            args.extend_from_slice(extra);
            let out = media_doctor(&args);
            (out, dir)
        };
        let (out, dir) = run(variant, &["--select", id]);
        snap(
            &format!("check_{id}_fail"),
            &stable(&out.stdout.replace(&dir, &format!("[{variant}]"))),
        );
        let (out, _) = run(base, &["--format", "json"]);
        assert_eq!(status_of(&out, id), "pass", "{id} on {base}");
    }
}

/// A served directory that is itself an absolute symlink (`/srv/myapp/media ->
/// /srv/shared/media`) is judged where the link leads inside the root, not on this machine's
/// own /srv: an upload there that www-data cannot read fails MD203 (it used to pass with the
/// directory never scanned), and with `disable_symlinks on` MD207 names the link.
#[test]
fn a_served_directory_behind_an_absolute_symlink_is_checked() {
    if !needs_root() {
        return;
    }
    let fixture = prepare("MD203", "fail");
    let srv = fixture.root.join("srv");
    std::fs::create_dir(srv.join("shared")).unwrap();
    std::fs::rename(srv.join("myapp/media"), srv.join("shared/media")).unwrap();
    std::os::unix::fs::symlink("/srv/shared/media", srv.join("myapp/media")).unwrap();
    let out = check(&fixture.root, &["--offline"], &["--format", "json"]);
    assert_eq!(status_of(&out, "MD203"), "fail", "{}", out.stdout);
    assert!(
        out.stdout
            .contains("www-data cannot read under /srv/myapp/media"),
        "{}",
        out.stdout
    );

    // With no file www-data can read there, disable_symlinks cannot be tested on the uploads:
    // the summary says so (the static files are tested).
    let site = fixture.root.join("etc/nginx/sites-enabled/myapp");
    let conf = std::fs::read_to_string(&site).unwrap();
    std::fs::write(
        &site,
        conf.replacen(
            "    listen 80;",
            "    listen 80;\n    disable_symlinks on;",
            1,
        ),
    )
    .unwrap();
    let out = check(&fixture.root, &["--offline"], &["--format", "json"]);
    assert!(
        out.stdout
            .contains("(not tested: /srv/myapp/media, no file www-data can read there)"),
        "{}",
        out.stdout
    );
    let upload = srv.join("shared/media/uploads/a.jpg");
    std::fs::set_permissions(&upload, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = check(&fixture.root, &["--offline"], &["--format", "json"]);
    assert_eq!(status_of(&out, "MD207"), "fail", "{}", out.stdout);
    assert!(
        out.stdout.contains("/srv/myapp/media is a symlink"),
        "{}",
        out.stdout
    );
}

/// Every printed fix, pasted as printed: on each `fail` fixture, the fixes its check prints
/// (config edits at their FILE:LINE, commands run inside the copy with its users) make that
/// check pass. Fixes that need something a static tree does not have are in `NOT_PASTED`.
#[test]
fn each_fail_fixture_is_fixed_by_the_fix_its_check_prints() {
    if !needs_root() {
        return;
    }
    let mut wrong = Vec::new();
    for (id, args) in PAIRS {
        if NOT_PASTED.iter().any(|(n, _)| n == id) {
            continue;
        }
        let fail = prepare(id, "fail");
        let report = |root: &Path| -> Value {
            let out = check(root, args, &["--select", id, "--format", "json"]);
            serde_json::from_str(&out.stdout)
                .unwrap_or_else(|e| panic!("{e}: {}\n{}", out.stdout, out.stderr))
        };
        let r = report(&fail.root);
        let fixes: Vec<Value> = r["checks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["id"] == *id)
            .flat_map(|c| c["findings"].as_array().unwrap().clone())
            .map(|f| f["remediation"].clone())
            .filter(|rem| !rem.is_null())
            .collect();
        if fixes.is_empty() {
            wrong.push(format!("{id}: no fix printed"));
            continue;
        }
        let root = fail.root.clone();
        let pasted = std::panic::catch_unwind(|| {
            for rem in &fixes {
                crate::sites::apply_in(rem, Some(&root));
            }
        });
        if pasted.is_err() {
            wrong.push(format!(
                "{id}: a printed fix could not be applied: {fixes:?}"
            ));
            continue;
        }
        let status = status_of(
            &check(&fail.root, args, &["--select", id, "--format", "json"]),
            id,
        );
        if status != "pass" {
            wrong.push(format!("{id}: {status} after its printed fix {fixes:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n\n"));
}

/// Checks whose printed fix cannot be pasted on a static tree, and why.
const NOT_PASTED: &[(&str, &str)] = &[
    ("MD100", "a syntax error: only a person can write the corrected line"),
    ("MD107", "links into sites-enabled by absolute path, which in a copy points out of it (pasted on a real box: sites.rs seed_site_not_enabled)"),
    ("MD108", "the name is the only one in both blocks: which keeps it is the user's call (the decidable edit is pasted in sites.rs)"),
    ("MD201", "collectstatic with the app's virtualenv, which a static tree has not (pasted on a real box: sites.rs)"),
    ("MD205", "collectstatic with the app's virtualenv, which a static tree has not (pasted on a real box: sites.rs)"),
    ("MD206", "moving the uploads out of a release and a settings edit"),
    ("MD207", "the link is a file: the user chooses the real path or `from=`"),
    ("MD208", "reloading an AppArmor profile needs the kernel's AppArmor"),
    ("MD209", "a settings edit (text for the settings file) and moving the uploads"),
    ("MD210", "the request is refused before a file is opened (`internal`): the finding gives nginx's reason, no path fix"),
    ("MD301", "a diagnosis: `--eval` runs the app's code only when asked"),
    ("MD303", "a settings edit, printed as text for the settings file"),
    ("MD305", "a settings edit, printed as text for the settings file"),
    ("MD306", "a template edit"),
    ("MD307", "a settings edit, printed as text for the settings file"),
    ("MD308", "a settings edit: the storage's URL is the user's"),
    ("MD309", "a settings edit, printed as text for the settings file"),
    ("MD405", "a diagnosis: the logged failure's cause is another check's"),
    ("MD501", "Apache's fixes are pasted by tests/it/apache_checks.rs"),
    ("MD502", "Apache's fixes are pasted by tests/it/apache_checks.rs"),
    ("MD503", "Apache's fixes are pasted by tests/it/apache_checks.rs"),
    ("MD504", "Apache's fixes are pasted by tests/it/apache_checks.rs"),
    ("MD505", "Apache's fixes are pasted by tests/it/apache_checks.rs"),
    ("MD506", "Apache's fixes are pasted by tests/it/apache_checks.rs"),
];

/// MD307's DEBUG finding says media "work" only through the app only when the server does not
/// serve MEDIA_URL from disk: on nginx it said so even with a location serving /media/ (a false
/// alarm Apache's version did not raise).
#[test]
fn md307_says_media_go_through_the_app_only_when_nginx_does_not_serve_them() {
    let message = |root: &Path| {
        let out = check(
            root,
            &["--offline"],
            &["--select", "MD307", "--format", "json"],
        );
        assert_eq!(status_of(&out, "MD307"), "fail", "{}", out.stdout);
        let report: Value = serde_json::from_str(&out.stdout).unwrap();
        report["checks"][0]["findings"][0]["message"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let fail = prepare("MD307", "fail");
    let served = message(&fail.root);
    assert!(!served.contains("only through the app"), "{served}");
    // Without the media location, nginx does not serve /media/ from disk.
    let conf = fail.root.join("etc/nginx/sites-enabled/myapp");
    let text = std::fs::read_to_string(&conf).unwrap();
    let start = text
        .find("    location /media/ {")
        .expect("the base's media location");
    let end = start + text[start..].find("    }\n").unwrap() + "    }\n".len();
    std::fs::write(&conf, format!("{}{}", &text[..start], &text[end..])).unwrap();
    let not_served = message(&fail.root);
    assert!(not_served.contains("only through the app"), "{not_served}");
}

/// A regex location (or an AliasMatch) that takes MEDIA_URL but drops its capture opens the
/// media directory for every URL: MD104's finding, with its proven fix. MD303 leaves it to MD104:
/// it told the app to use the regex as MEDIA_URL (`MEDIA_URL = "^/media/(.+)$"`) and printed a
/// second `location /media/` for the same URLs.
#[test]
fn md303_leaves_a_media_mapping_without_its_capture_to_md104() {
    let verdicts = |root: &Path| {
        let out = check(
            root,
            &["--offline"],
            &["--select", "MD104,MD303", "--format", "json"],
        );
        assert_eq!(status_of(&out, "MD104"), "fail", "{}", out.stdout);
        assert_eq!(status_of(&out, "MD303"), "skip", "{}", out.stdout);
        let report: Value = serde_json::from_str(&out.stdout).unwrap();
        let md303 = report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == "MD303")
            .unwrap()
            .clone();
        let reason = md303["summary"].as_str().unwrap_or_default().to_string();
        assert!(reason.contains("MD104"), "{md303}");
    };
    let nginx = prepare("MD303", "pass");
    let conf = nginx.root.join("etc/nginx/sites-enabled/myapp");
    let text = std::fs::read_to_string(&conf).unwrap();
    assert!(text.contains("    location /media/ {"), "{text}");
    std::fs::write(
        &conf,
        text.replace("    location /media/ {", "    location ~ ^/media/(.+)$ {"),
    )
    .unwrap();
    verdicts(&nginx.root);
    verdicts(&prepare("MD104", "apache-fail").root);
    // A regex location serving the media directory under another URL: its name is a pattern,
    // never a MEDIA_URL to propose.
    std::fs::write(
        &conf,
        text.replace("    location /media/ {", "    location ~ ^/files/(.+)$ {")
            .replace("alias /srv/myapp/media/;", "alias /srv/myapp/media/$1;"),
    )
    .unwrap();
    let out = check(
        &nginx.root,
        &["--offline"],
        &["--select", "MD303", "--format", "json"],
    );
    assert_eq!(status_of(&out, "MD303"), "warn", "{}", out.stdout);
    assert!(!out.stdout.contains("MEDIA_URL = \\\"^"), "{}", out.stdout);
}
