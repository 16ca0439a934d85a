//! A real box with two sites (issue #11): a Django shop under gunicorn on a unix socket
//! (project /srv/shop/app, venv /srv/shop/venv, user deploy) and a Flask blog under gunicorn on
//! 127.0.0.1:PORT (/home/deploy/blog), behind one real nginx on 127.0.0.1. The tree is built
//! under a temporary directory (its paths stand for /srv/shop, /home/deploy/blog) and the tool
//! runs on the live system, so it finds each app from the process that listens where nginx
//! proxies.

use crate::run::{media_doctor, REPO};
use crate::support::{self, Nginx};
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A venv with Django, Flask and gunicorn, made once per target directory.
pub fn venv() -> Option<PathBuf> {
    // Tests run in parallel: one makes the venv, the others wait for it.
    static MAKING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = MAKING.lock().unwrap_or_else(|e| e.into_inner());
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("py-venv-sites");
    let python = dir.join("bin/python");
    let ready = |p: &Path| {
        Command::new(p)
            .args(["-c", "import django, flask, gunicorn"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if ready(&python) {
        return Some(dir);
    }
    // The system's Python, as on a server: the app user must be able to read its stdlib (a
    // pyenv under /root is not readable by `deploy`).
    let system = Path::new("/usr/bin/python3");
    let made = Command::new(if system.is_file() {
        system
    } else {
        Path::new("python3")
    })
    .args(["-m", "venv"])
    .arg(&dir)
    .status()
    .is_ok_and(|s| s.success());
    let installed = made
        && Command::new(dir.join("bin/pip"))
            .args([
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "Django>=5.1,<6",
                "Flask>=3,<4",
                "gunicorn>=22",
            ])
            .status()
            .is_ok_and(|s| s.success());
    (installed && ready(&python)).then_some(dir)
}

/// The app user: `deploy`, made when the box has none (tests run as root on a throwaway box).
fn deploy_user() -> Option<(u32, u32)> {
    let lookup = || nix::unistd::User::from_name("deploy").ok().flatten();
    if lookup().is_none() {
        let _ = Command::new("useradd")
            .args([
                "--system",
                "--user-group",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                "deploy",
            ])
            .status();
    }
    lookup().map(|u| (u.uid.as_raw(), u.gid.as_raw()))
}

pub struct TwoSites {
    /// nginx, in the box's directory BOX (BOX/nginx.conf, BOX/sites-{available,enabled}/ as in
    /// /etc/nginx; BOX/srv/shop, BOX/home/deploy/blog, BOX/run/shop.sock).
    pub nginx: Nginx,
    apps: Vec<Child>,
}

impl Drop for TwoSites {
    fn drop(&mut self) {
        for c in &mut self.apps {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(c.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
            let _ = c.wait();
        }
    }
}

fn write(p: &Path, text: &str) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn chown_tree(dir: &Path, uid: u32, gid: u32) {
    for e in walkdir::WalkDir::new(dir)
        .follow_links(false)
        .into_iter()
        .flatten()
    {
        let _ = std::os::unix::fs::lchown(e.path(), Some(uid), Some(gid));
    }
}

const SHOP_SETTINGS: &str = r#"from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = "only-for-tests"
DEBUG = False
ALLOWED_HOSTS = ["shop.test", "127.0.0.1", "localhost"]
INSTALLED_APPS = ["django.contrib.staticfiles", "catalog"]
MIDDLEWARE = []
ROOT_URLCONF = "shop.urls"
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
MEDIA_URL = "/media/"
MEDIA_ROOT = BASE_DIR / "media"
FILE_UPLOAD_PERMISSIONS = 0o644
FILE_UPLOAD_DIRECTORY_PERMISSIONS = 0o755
"#;

const MANAGE_PY: &str = r#"import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")
    from django.core.management import execute_from_command_line
    execute_from_command_line(sys.argv)
"#;

const WSGI_PY: &str = r#"import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")
application = get_wsgi_application()
"#;

const BLOG_APP: &str = r#"import os

from flask import Flask

app = Flask(__name__)
app.config["UPLOAD_FOLDER"] = os.path.join(app.root_path, "uploads")
app.config["MEDIA_URL"] = "/uploads/"


@app.route("/")
def index():
    return "blog"
"#;

/// The shop's server block (`{DIR}` is the box, `{PORT}` nginx's port).
pub const SHOP_SITE: &str = "server {
    listen 127.0.0.1:{PORT};
    server_name shop.test;

    location / {
        proxy_pass http://unix:{DIR}/run/shop.sock;
    }

    location /static/ {
        alias {DIR}/srv/shop/app/staticfiles/;
    }

    location /media/ {
        alias {DIR}/srv/shop/app/media/;
        add_header X-Content-Type-Options nosniff always;
    }
}
";

pub const BLOG_SITE: &str = "server {
    listen 127.0.0.1:{PORT};
    server_name blog.test;

    location / {
        proxy_pass http://127.0.0.1:{BLOG_PORT};
    }

    location /static/ {
        alias {DIR}/home/deploy/blog/static/;
    }

    location /uploads/ {
        alias {DIR}/home/deploy/blog/uploads/;
        add_header X-Content-Type-Options nosniff always;
    }
}
";

impl TwoSites {
    /// Builds and starts the box; None (after `support::require`) when it cannot run here.
    pub fn start() -> Option<TwoSites> {
        if !support::require_root_and_nginx() {
            return None;
        }
        let venv = venv();
        if !support::require(
            venv.is_some(),
            "needs python3 -m venv and pip access to PyPI (Django, Flask, gunicorn)",
        ) {
            return None;
        }
        let venv = venv.unwrap();
        let (uid, gid) = deploy_user().expect("a deploy user (useradd)");
        let tmp = tempfile::Builder::new()
            .prefix("md-box-")
            .tempdir()
            .unwrap();
        let dir = tmp.path();
        support::open_ancestors(&venv.join("bin/python"));
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        support::open_ancestors(dir);

        // The shop: Django, collectstatic run, one upload.
        let shop = dir.join("srv/shop");
        write(&shop.join("app/manage.py"), MANAGE_PY);
        write(&shop.join("app/shop/__init__.py"), "");
        write(&shop.join("app/shop/settings.py"), SHOP_SETTINGS);
        write(&shop.join("app/shop/urls.py"), "urlpatterns = []\n");
        write(&shop.join("app/shop/wsgi.py"), WSGI_PY);
        write(&shop.join("app/catalog/__init__.py"), "");
        write(
            &shop.join("app/catalog/static/catalog/site.css"),
            "body{}\n",
        );
        write(&shop.join("app/media/products/a.jpg"), "jpeg\n");
        std::os::unix::fs::symlink(&venv, shop.join("venv")).unwrap();
        let collected = Command::new(shop.join("venv/bin/python"))
            .args(["manage.py", "collectstatic", "--noinput", "-v0"])
            .current_dir(shop.join("app"))
            .status()
            .expect("run collectstatic");
        assert!(collected.success(), "collectstatic");
        chown_tree(&shop.join("app"), uid, gid);

        // The blog: Flask, its static folder and uploads.
        let blog = dir.join("home/deploy/blog");
        write(&blog.join("app.py"), BLOG_APP);
        write(&blog.join("static/style.css"), "p{}\n");
        write(&blog.join("uploads/cat.png"), "png\n");
        std::os::unix::fs::symlink(&venv, blog.join("venv")).unwrap();
        chown_tree(&dir.join("home/deploy"), uid, gid);
        std::fs::create_dir_all(dir.join("run")).unwrap();
        chown_tree(&dir.join("run"), uid, gid);
        for d in walkdir::WalkDir::new(dir).into_iter().flatten() {
            let mode = if d.file_type().is_dir() { 0o755 } else { 0o644 };
            if !d.file_type().is_symlink() {
                let _ = std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(mode));
            }
        }

        let blog_port = support::free_port();
        let log_dir = dir.join("log");
        std::fs::create_dir_all(&log_dir).unwrap();
        let mut apps = Vec::new();
        // The shop's socket is group www-data, mode 0770 (umask 0007): nginx can connect.
        let gunicorn = |python: PathBuf,
                        chdir: &Path,
                        bind: String,
                        target: &str,
                        group: &str,
                        umask: &str| {
            Command::new(python)
                .args(["-m", "gunicorn", "--chdir"])
                .arg(chdir)
                .args([
                    "--bind",
                    &bind,
                    "--workers",
                    "1",
                    "--user",
                    "deploy",
                    "--group",
                    group,
                    "--umask",
                    umask,
                    target,
                ])
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(log_dir.join(format!("{target}.log"))).unwrap())
                .spawn()
                .expect("start gunicorn")
        };
        apps.push(gunicorn(
            shop.join("venv/bin/python"),
            &shop.join("app"),
            format!("unix:{}/run/shop.sock", dir.display()),
            "shop.wsgi:application",
            "www-data",
            "0007",
        ));
        apps.push(gunicorn(
            blog.join("venv/bin/python"),
            &blog,
            format!("127.0.0.1:{blog_port}"),
            "app:app",
            "deploy",
            "0022",
        ));

        // nginx: sites-available + sites-enabled links, as Debian lays them out.
        let sites = dir.to_path_buf();
        let d = dir.display().to_string();
        let port = support::free_port();
        for (name, text) in [("shop", SHOP_SITE), ("blog", BLOG_SITE)] {
            write(
                &sites.join("sites-available").join(name),
                &text
                    .replace("{DIR}", &d)
                    .replace("{PORT}", &port.to_string())
                    .replace("{BLOG_PORT}", &blog_port.to_string()),
            );
            std::fs::create_dir_all(sites.join("sites-enabled")).unwrap();
            std::os::unix::fs::symlink(
                sites.join("sites-available").join(name),
                sites.join("sites-enabled").join(name),
            )
            .unwrap();
        }
        let nginx = Nginx::start_in(
            tmp,
            "www-data",
            &format!("include {d}/sites-enabled/*;"),
            port,
        )
        .expect("start nginx");
        let boxed = TwoSites { nginx, apps };
        boxed.wait_for_apps();
        Some(boxed)
    }

    /// The box's directory (BOX).
    pub fn dir(&self) -> &Path {
        self.nginx.dir.path()
    }

    fn wait_for_apps(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        for host in ["shop.test", "blog.test"] {
            loop {
                let status = self.get(host, "/static/nothing-here");
                // Any answer from the app through nginx (not 502) means the app is up.
                if self.get(host, "/").is_some_and(|s| s != 502) && status.is_some() {
                    break;
                }
                if Instant::now() > deadline {
                    let logs: Vec<String> = std::fs::read_dir(self.dir().join("log"))
                        .into_iter()
                        .flatten()
                        .flatten()
                        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
                        .collect();
                    panic!("{host}: the app did not come up:\n{}", logs.join("\n"));
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }

    /// The status nginx answers for `path` on `host`.
    pub fn get(&self, host: &str, path: &str) -> Option<u16> {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.nginx.port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(s, "GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").ok()?;
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf);
        let text = String::from_utf8_lossy(&buf);
        text.split_whitespace().nth(1)?.parse().ok()
    }

    pub fn check(&self, extra: &[&str]) -> (i32, Value) {
        let mut args = vec!["--offline"];
        args.extend_from_slice(extra);
        self.check_live(&args)
    }

    /// `check` without --offline (what reads /proc, like MD111, runs).
    pub fn check_live(&self, extra: &[&str]) -> (i32, Value) {
        let conf = self.nginx.conf_path().display().to_string();
        let mut args = vec!["check", "--nginx-conf", &conf, "--format", "json"];
        args.extend_from_slice(extra);
        let out = media_doctor(&args);
        let code = out.code;
        let json = serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}\n{}", out.stdout, out.stderr));
        (code, json)
    }
}

/// Every check that is not pass or skip, as `ID status: summary`.
pub fn not_passing(r: &Value) -> Vec<String> {
    r["checks"]
        .as_array()
        .map(|a| a.as_slice())
        .unwrap_or_default()
        .iter()
        .filter(|c| !matches!(c["status"].as_str(), Some("pass" | "skip")))
        .map(|c| {
            format!(
                "{} {}: {}",
                c["id"].as_str().unwrap_or(""),
                c["status"].as_str().unwrap_or(""),
                c["summary"].as_str().unwrap_or("")
            )
        })
        .collect()
}

#[test]
fn a_healthy_two_site_box_passes_site_by_site() {
    let Some(b) = TwoSites::start() else { return };
    assert_eq!(b.get("shop.test", "/static/catalog/site.css"), Some(200));
    assert_eq!(b.get("shop.test", "/media/products/a.jpg"), Some(200));
    assert_eq!(b.get("blog.test", "/static/style.css"), Some(200));
    assert_eq!(b.get("blog.test", "/uploads/cat.png"), Some(200));
    for site in ["shop", "blog"] {
        let (code, r) = b.check(&["--site", site]);
        assert_eq!(
            not_passing(&r),
            Vec::<String>::new(),
            "--site {site}: {}",
            r["site"]
        );
        assert_eq!(code, 0, "--site {site}");
        let app = &r["site"]["app"];
        let dir = app["dir"].as_str().unwrap_or("");
        let want = match site {
            "shop" => "srv/shop/app",
            _ => "home/deploy/blog",
        };
        assert!(dir.ends_with(want), "--site {site}: app {app}");
        assert_eq!(app["user"], "deploy", "--site {site}");
    }
    // With no --site, every site on its own: each with its own app, nothing failing.
    let (code, r) = b.check(&[]);
    let sites = r["sites"].as_array().expect("one entry per site");
    let names: Vec<&str> = sites.iter().filter_map(|s| s["name"].as_str()).collect();
    assert_eq!(names, ["blog", "shop"]);
    for s in sites {
        let name = s["name"].as_str().unwrap_or("");
        assert_eq!(
            not_passing(s),
            Vec::<String>::new(),
            "{name}: {}",
            s["site"]
        );
        let want = if name == "shop" {
            "srv/shop/app"
        } else {
            "home/deploy/blog"
        };
        let dir = s["site"]["app"]["dir"].as_str().unwrap_or("");
        assert!(dir.ends_with(want), "{name}: app {}", s["site"]["app"]);
    }
    assert_eq!(code, 0, "{}", r["checks"]);
    let _ = REPO;
}

/// Two sites under --root (no server needed): the shop's media alias lacks its slash, the blog
/// is right. `check` with no --site checks each on its own: one line per site in text, one entry
/// per site in JSON, and no finding of one site names the other's file.
#[test]
fn every_site_is_checked_on_its_own() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    write(
        &t.join("etc/passwd"),
        "root:x:0:0::/root:/bin/sh\nwww-data:x:33:33::/var/www:/bin/sh\n",
    );
    write(&t.join("etc/group"), "root:x:0:\nwww-data:x:33:\n");
    write(
        &t.join("etc/nginx/nginx.conf"),
        "user www-data;\nevents {}\nhttp {\n    include /etc/nginx/sites-enabled/*;\n}\n",
    );
    write(
        &t.join("etc/nginx/sites-enabled/shop"),
        "server {\n    listen 80;\n    server_name shop.test;\n    location /media/ {\n        alias /srv/shop/media;\n    }\n}\n",
    );
    write(
        &t.join("etc/nginx/sites-enabled/blog"),
        "server {\n    listen 80;\n    server_name blog.test;\n    location /uploads/ {\n        alias /srv/blog/uploads/;\n    }\n}\n",
    );
    write(&t.join("srv/shop/media/a.jpg"), "x");
    write(&t.join("srv/blog/uploads/b.png"), "x");
    let root = t.display().to_string();
    let out = media_doctor(&["check", "--root", &root, "--offline", "--format", "json"]);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    let r: Value = serde_json::from_str(&out.stdout).unwrap();
    let sites = r["sites"].as_array().expect("sites[]");
    assert_eq!(sites.len(), 2, "{}", out.stdout);
    for s in sites {
        let name = s["name"].as_str().unwrap();
        let other = if name == "shop" {
            "sites-enabled/blog"
        } else {
            "sites-enabled/shop"
        };
        let text = s["checks"].to_string();
        assert!(!text.contains(other), "{name} names {other}: {text}");
        let failing: Vec<&str> = s["checks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["status"] == "fail")
            .filter_map(|c| c["id"].as_str())
            .collect();
        match name {
            "shop" => assert!(failing.contains(&"MD101"), "{failing:?}"),
            _ => assert_eq!(failing, Vec::<&str>::new(), "blog: {}", s["checks"]),
        }
    }
    // The top level: each check's worst status over the sites, the findings in the sites.
    let md101 = r["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "MD101")
        .unwrap();
    assert_eq!(md101["status"], "fail");
    assert_eq!(md101["summary"], "fails on 1 of 2 sites");
    let text = media_doctor(&["check", "--root", &root, "--offline"]);
    assert_eq!(text.code, 1);
    let lines: Vec<&str> = text.stdout.lines().collect();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("[✓] blog") || l.starts_with("[!] blog: warns")),
        "{}",
        text.stdout
    );
    assert!(
        lines.iter().any(|l| l.starts_with("[✗] shop: fails MD101")),
        "{}",
        text.stdout
    );
    assert!(
        lines
            .last()
            .is_some_and(|l| l.starts_with("Summary: 1 of 2 sites fail")),
        "{}",
        text.stdout
    );
    // Each site, asked by name, is the same report as its entry.
    for site in ["shop", "blog"] {
        let one = media_doctor(&["check", "--root", &root, "--offline", "--site", site]);
        assert_eq!(
            one.code,
            i32::from(site == "shop"),
            "{site}: {}",
            one.stdout
        );
    }
}

#[test]
fn a_site_that_is_not_there_is_a_usage_error() {
    let out = media_doctor(&[
        "check",
        "--root",
        "fixtures/demo",
        "--site",
        "myap",
        "--offline",
    ]);
    assert_eq!(out.code, 2, "{}", out.stdout);
    assert_eq!(
        out.stderr.trim(),
        "media-doctor: error: no site named myap; did you mean myapp? sites here: default, myapp"
    );
    assert!(out.stdout.is_empty(), "no check ran: {}", out.stdout);
    let out = media_doctor(&[
        "check",
        "--root",
        "fixtures/demo",
        "--site",
        "zzz",
        "--offline",
    ]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("no site named zzz; sites here: default, myapp"),
        "{}",
        out.stderr
    );
}

// ---------------------------------------------------------------------------------------------
// Seed causes: each broken on the healthy box, one at a time. The cause must be the first
// failure of `check --site shop`, and its printed fix, applied as printed, must make the URL
// answer 200 from the real nginx and change no other URL's answer.

/// The URLs whose answers must not change when a fix is applied.
const WATCHED: &[(&str, &str)] = &[
    ("shop.test", "/static/catalog/site.css"),
    ("shop.test", "/media/products/a.jpg"),
    ("shop.test", "/"),
    ("blog.test", "/static/style.css"),
    ("blog.test", "/uploads/cat.png"),
    ("blog.test", "/"),
];

impl TwoSites {
    fn site_file(&self, name: &str) -> PathBuf {
        self.dir().join("sites-available").join(name)
    }

    /// Rewrites a site file (`from` → `to`, which must be there) and reloads nginx.
    fn edit_site(&self, name: &str, from: &str, to: &str) {
        let p = self.site_file(name);
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(
            text.contains(from),
            "{from:?} not in {}:\n{text}",
            p.display()
        );
        std::fs::write(&p, text.replacen(from, to, 1)).unwrap();
        self.nginx.reload();
    }

    fn statuses(&self) -> Vec<Option<u16>> {
        WATCHED.iter().map(|(h, p)| self.get(h, p)).collect()
    }
}

/// The end of the block that starts at `start` (0-based line index): brace depth back to 0.
fn block_end(lines: &[String], start: usize) -> usize {
    let mut depth = 0i32;
    for (i, l) in lines.iter().enumerate().skip(start) {
        let code = l.split('#').next().unwrap_or("");
        depth += code.matches('{').count() as i32 - code.matches('}').count() as i32;
        if depth <= 0 && code.contains('}') {
            return i;
        }
    }
    panic!("no end of the block at line {}", start + 1);
}

/// Applies a remediation as printed: a config block (`# FILE:LINE`, then the block) replaces
/// the block at that line; then each command runs in a shell, in order.
fn apply_as_printed(rem: &Value) {
    let text = rem["text"].as_str().unwrap_or("");
    let lines: Vec<&str> = text.lines().collect();
    if let Some(h) = lines.iter().position(|l| {
        l.trim_start().starts_with("# /")
            && l.trim_end()
                .rsplit(':')
                .next()
                .is_some_and(|n| n.parse::<usize>().is_ok())
    }) {
        let header = lines[h].trim_start().trim_start_matches("# ");
        let (file, line) = header.rsplit_once(':').unwrap();
        let line: usize = line.trim().parse().unwrap();
        let block: Vec<String> = lines[h + 1..].iter().map(|l| l.to_string()).collect();
        let mut file_lines: Vec<String> = std::fs::read_to_string(file)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect();
        let end = block_end(&file_lines, line - 1);
        file_lines.splice(line - 1..=end, block);
        std::fs::write(file, file_lines.join("\n") + "\n").unwrap();
    }
    for c in rem["commands"]
        .as_array()
        .map(|a| a.as_slice())
        .unwrap_or_default()
    {
        let c = c.as_str().unwrap();
        let out = Command::new("sh").args(["-c", c]).output().unwrap();
        assert!(
            out.status.success(),
            "{c}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Breaks the box with `cause`, then holds the contract for `url` on the shop.
fn seed_cause(expect_first: &str, url: &str, cause: impl Fn(&TwoSites)) {
    seed_cause_with(expect_first, url, &["--offline"], cause)
}

fn seed_cause_with(expect_first: &str, url: &str, args: &[&str], cause: impl Fn(&TwoSites)) {
    let Some(b) = TwoSites::start() else { return };
    let before = b.statuses();
    cause(&b);
    assert_ne!(
        b.get("shop.test", url),
        Some(200),
        "the cause must break {url}"
    );
    let mut args = args.to_vec();
    args.extend(["--site", "shop"]);
    let (code, r) = b.check_live(&args);
    assert_eq!(
        code,
        1,
        "{}",
        serde_json::to_string_pretty(&r["checks"]).unwrap()
    );
    let checks = r["checks"].as_array().unwrap();
    let first = checks
        .iter()
        .find(|c| matches!(c["status"].as_str(), Some("fail" | "warn")))
        .expect("a failure");
    assert_eq!(
        first["id"],
        expect_first,
        "first failure: {}",
        serde_json::to_string_pretty(first).unwrap()
    );
    // No finding names a file of the blog.
    let text = r["checks"].to_string();
    assert!(
        !text.contains("sites-enabled/blog") && !text.contains("sites-available/blog"),
        "{text}"
    );
    let fix = first["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|f| f["remediation"].as_object().filter(|r| !r.is_empty()))
        .map(|r| Value::Object(r.clone()))
        .expect("a printed fix");
    let master = b.nginx.pid().expect("nginx runs");
    let old_workers = support::worker_pids(master);
    apply_as_printed(&fix);
    // A reload is asynchronous: wait until the workers that ran the old config are gone.
    let deadline = Instant::now() + Duration::from_secs(10);
    while support::worker_pids(master)
        .iter()
        .any(|w| old_workers.contains(w))
        && fix.to_string().contains("kill -HUP")
    {
        assert!(
            Instant::now() < deadline,
            "nginx did not reload after {fix}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(b.get("shop.test", url), Some(200), "after the fix {fix}");
    assert_eq!(
        b.statuses(),
        before,
        "the fix changed another URL's answer: {fix}"
    );
}

#[test]
fn seed_alias_without_its_slash() {
    seed_cause("MD101", "/media/products/a.jpg", |b| {
        let d = b.dir().display().to_string();
        b.edit_site(
            "shop",
            &format!("alias {d}/srv/shop/app/media/;"),
            &format!("alias {d}/srv/shop/app/media;"),
        );
    });
}

#[test]
fn seed_root_instead_of_alias() {
    seed_cause("MD103", "/media/products/a.jpg", |b| {
        let d = b.dir().display().to_string();
        b.edit_site(
            "shop",
            &format!("alias {d}/srv/shop/app/media/;"),
            &format!("root {d}/srv/shop/app/media;"),
        );
    });
}

#[test]
fn seed_a_regex_location_steals_the_media() {
    seed_cause("MD105", "/media/products/a.jpg", |b| {
        let d = b.dir().display().to_string();
        b.edit_site(
            "shop",
            "    location /media/ {",
            &format!("    location ~* \\.(?:jpg|png)$ {{\n        root {d}/var/www/html;\n    }}\n\n    location /media/ {{"),
        );
    });
}

#[test]
fn seed_a_parent_not_traversable() {
    seed_cause("MD202", "/media/products/a.jpg", |b| {
        let dir = b.dir().join("srv/shop/app");
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o750)).unwrap();
    });
}

#[test]
fn seed_a_file_unreadable() {
    seed_cause("MD203", "/media/products/a.jpg", |b| {
        let f = b.dir().join("srv/shop/app/media/products/a.jpg");
        std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o600)).unwrap();
    });
}

#[test]
fn seed_collectstatic_not_run() {
    seed_cause("MD205", "/static/catalog/new.css", |b| {
        let f = b.dir().join("srv/shop/app/catalog/static/catalog/new.css");
        write(&f, "a{}\n");
        let _ = std::os::unix::fs::lchown(&f, Some(0), Some(0));
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
    });
}

#[test]
fn seed_the_site_not_enabled() {
    seed_cause("MD107", "/media/products/a.jpg", |b| {
        std::fs::remove_file(b.dir().join("sites-enabled/shop")).unwrap();
        b.nginx.reload();
    });
}

#[test]
fn seed_not_reloaded() {
    // MD111 reads /proc (not --offline); the live probes are left out.
    seed_cause_with(
        "MD111",
        "/media/products/a.jpg",
        &["--ignore", "MD4"],
        |b| {
            let d = b.dir().display().to_string();
            let good = std::fs::read_to_string(b.site_file("shop")).unwrap();
            // nginx runs a broken config; the file on disk is right again, but not loaded.
            b.edit_site(
                "shop",
                &format!("alias {d}/srv/shop/app/media/;"),
                &format!("alias {d}/srv/shop/app/media;"),
            );
            std::fs::write(b.site_file("shop"), good).unwrap();
            // Newer than the load by more than MD111's tolerance, dated rather than waited for.
            let later = std::time::SystemTime::now() + Duration::from_millis(1600);
            support::set_mtime(&b.site_file("shop"), later);
        },
    );
}

// ---------------------------------------------------------------------------------------------
// The README's CI gate: `check --app . --nginx-conf deploy/nginx.conf --offline --format json`
// in a repository. Server-only paths are skipped with a reason; a correct repository passes, a
// broken one fails.

fn ci_repo(alias_media: &str) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    write(&d.join("manage.py"), MANAGE_PY);
    write(&d.join("shop/__init__.py"), "");
    write(
        &d.join("shop/settings.py"),
        "DEBUG = False\nSTATIC_URL = \"/static/\"\nSTATIC_ROOT = \"/srv/shop/static\"\nMEDIA_URL = \"/media/\"\nMEDIA_ROOT = \"/srv/shop/media\"\n",
    );
    write(
        &d.join("deploy/nginx.conf"),
        &format!(
            "server {{\n    listen 80;\n    server_name shop.example.com;\n    location / {{ proxy_pass http://unix:/run/shop.sock; }}\n    location /static/ {{ alias /srv/shop/static/; }}\n    location /media/ {{\n        alias {alias_media};\n        add_header X-Content-Type-Options nosniff always;\n    }}\n}}\n"
        ),
    );
    tmp
}

fn ci_gate(repo: &Path) -> (i32, Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_media-doctor"))
        .args([
            "check",
            "--app",
            ".",
            "--nginx-conf",
            "deploy/nginx.conf",
            "--offline",
            "--format",
            "json",
        ])
        .current_dir(repo)
        .output()
        .unwrap();
    let json = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code().unwrap_or(-1), json)
}

#[test]
fn the_ci_gate_passes_a_correct_repository_and_fails_a_broken_one() {
    let good = ci_repo("/srv/shop/media/");
    let (code, r) = ci_gate(good.path());
    assert_eq!(not_passing(&r), Vec::<String>::new());
    assert_eq!(code, 0);
    let md201 = r["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "MD201")
        .unwrap();
    assert_eq!(md201["status"], "skip");
    assert!(
        md201["summary"]
            .as_str()
            .unwrap()
            .contains("exist only on the server"),
        "{md201}"
    );

    let bad = ci_repo("/srv/shop/media");
    let (code, r) = ci_gate(bad.path());
    assert_eq!(code, 1);
    let failing: Vec<&str> = r["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "fail")
        .filter_map(|c| c["id"].as_str())
        .collect();
    // The alias without its slash, first (MD302 sees the same alias from the app's side).
    assert_eq!(failing.first(), Some(&"MD101"), "{}", r["checks"]);
}
