//! Run as a user who cannot read everything (#13: "unreadable is not fine"): what the tool could
//! not read makes the check skip with "needs root: PATH (Permission denied)", never pass and
//! never "not found". The fixture is made by root; the tool runs as nobody (setpriv).

use crate::support;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

fn mode(p: &Path, m: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
}

fn write(p: &Path, text: &str) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

/// `check --format json` as nobody; the report's results by check id.
fn check_as_nobody(args: &[&str]) -> serde_json::Value {
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_media-doctor"))
        .args(["check", "--format", "json"])
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("setpriv (util-linux)");
    let code = out.status.code();
    assert!(
        code == Some(0) || code == Some(1),
        "exit {code:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("a JSON report")
}

fn result<'a>(report: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no {id} in {report}"))
}

/// A Django project in a directory only root can enter, served by nginx, and an error log only
/// root can read. As nobody: MD301 does not say "no app", MD405 does not pass; both name the
/// path that needs root.
#[test]
fn what_could_not_be_read_is_named_not_passed() {
    if !support::require(support::is_root(), "needs root (to run the tool as nobody)") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let top = t.path();
    mode(top, 0o755);
    support::open_ancestors(top);
    // A filesystem root (--root): the config names system paths, as on a server.
    let shop = top.join("srv/shop");
    write(
        &shop.join("manage.py"),
        "import os\nos.environ.setdefault('DJANGO_SETTINGS_MODULE', 'shop.settings')\n",
    );
    write(&shop.join("shop/__init__.py"), "");
    write(
        &shop.join("shop/settings.py"),
        "MEDIA_URL = '/media/'\nMEDIA_ROOT = '/srv/shop/media'\n",
    );
    std::fs::create_dir_all(shop.join("media")).unwrap();
    mode(&top.join("srv"), 0o755);
    mode(&shop, 0o700);
    let log = top.join("var/log/nginx/error.log");
    write(
        &log,
        "2026/12/02 10:00:00 [error] 7#7: *1 open() \"/srv/shop/media/a.jpg\" failed (13: Permission denied)\n",
    );
    for d in ["var", "var/log", "var/log/nginx"] {
        mode(&top.join(d), 0o755);
    }
    mode(&log, 0o600);
    let port = support::free_port();
    write(
        &top.join("etc/nginx/nginx.conf"),
        &format!(
            "events {{}}\nhttp {{\n  error_log /var/log/nginx/error.log;\n  server {{\n    \
             listen 127.0.0.1:{port};\n    server_name localhost;\n    \
             location /media/ {{ alias /srv/shop/media/; }}\n  }}\n}}\n"
        ),
    );
    for d in ["etc", "etc/nginx"] {
        mode(&top.join(d), 0o755);
    }
    mode(&top.join("etc/nginx/nginx.conf"), 0o644);

    let report = check_as_nobody(&[
        "--root",
        top.to_str().unwrap(),
        "--select",
        "MD301",
        "--select",
        "MD405",
    ]);
    let md301 = result(&report, "MD301");
    assert_eq!(md301["status"], "skip", "{md301}");
    let why = md301.to_string();
    assert!(
        why.contains("needs root: /srv/shop (Permission denied)"),
        "{md301}"
    );
    let md405 = result(&report, "MD405");
    assert_eq!(md405["status"], "skip", "{md405}");
    assert!(
        md405
            .to_string()
            .contains("needs root: /var/log/nginx/error.log (Permission denied)"),
        "{md405}"
    );
}
