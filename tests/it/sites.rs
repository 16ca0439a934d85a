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
    let md101 = check_of(&r, "MD101");
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

/// Applies a remediation as printed. Each `# FILE:LINE` header is followed by what goes there:
/// alone, the block that replaces the block at that line; `: replace this line with` (or `lines
/// A-B`), the lines that replace those; `: delete ...`, nothing; `: add before this line ...`,
/// the lines to insert there. Then each command runs in a shell, in order.
fn apply_as_printed(rem: &Value) {
    apply_in(rem, None)
}

/// `apply_as_printed` on a copy of a system at `root`: the files and the commands' paths
/// under it (`command_in_copy`); what needs a running nginx is left out.
pub(crate) fn apply_in(rem: &Value, root: Option<&Path>) {
    let text = rem["text"].as_str().unwrap_or("");
    // (file, line, what the header says, the lines under it)
    let mut edits: Vec<(String, usize, String, Vec<String>)> = Vec::new();
    for l in text.lines() {
        let header = l.strip_prefix("# /").and_then(|rest| {
            let (path, after) = rest.split_once(':')?;
            let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
            let line = digits.parse::<usize>().ok()?;
            let file = match root {
                Some(r) => format!("{}/{path}", r.display()),
                None => format!("/{path}"),
            };
            Some((file, line, after[digits.len()..].to_string()))
        });
        match header {
            Some((file, line, what)) => edits.push((file, line, what, Vec::new())),
            None => {
                if let Some(e) = edits.last_mut() {
                    e.3.push(l.to_string());
                }
            }
        }
    }
    // From the bottom of each file up, so the line numbers printed stay right.
    edits.sort_by(|a, b| (&b.0, b.1).cmp(&(&a.0, a.1)));
    for (file, line, what, body) in edits {
        let mut lines: Vec<String> = std::fs::read_to_string(&file)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect();
        let at = line - 1;
        if what.is_empty() {
            let end = block_end(&lines, at);
            lines.splice(at..=end, body);
        } else if let Some(rest) = what.strip_prefix(": replace ") {
            let end = match rest.strip_prefix("lines ") {
                Some(r) => {
                    r.split_once('-')
                        .and_then(|(_, b)| b.split_whitespace().next()?.parse::<usize>().ok())
                        .expect("lines A-B")
                        - 1
                }
                None => at,
            };
            lines.splice(at..=end, body);
        } else if let Some(rest) = what.strip_prefix(": delete ") {
            let end = match rest.strip_prefix("lines ") {
                Some(r) => {
                    r.split_once('-')
                        .and_then(|(_, b)| b.parse::<usize>().ok())
                        .expect("lines A-B")
                        - 1
                }
                None => at,
            };
            lines.drain(at..=end);
        } else if what.starts_with(": add before this line") {
            lines.splice(at..at, body);
        } else {
            panic!("a header this test cannot apply: {what:?} in\n{text}");
        }
        std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    }
    for c in rem["commands"]
        .as_array()
        .map(|a| a.as_slice())
        .unwrap_or_default()
    {
        let c = c.as_str().unwrap();
        let c = match root {
            Some(r) => match command_in_copy(c, r) {
                Some(c) => c,
                None => continue,
            },
            None => c.to_string(),
        };
        let c = c.as_str();
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
    seed(expect_first, url, args, false, cause)
}

/// The seed contract. `cause_in_blog`: the cause is a line of the blog's file (a server_name it
/// took from the shop), so the shop's finding names that file; nothing else of the blog.
fn seed(
    expect_first: &str,
    url: &str,
    args: &[&str],
    cause_in_blog: bool,
    cause: impl Fn(&TwoSites),
) {
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
    // No finding names a file of the blog (but the one that is the cause).
    let text = if cause_in_blog {
        checks
            .iter()
            .filter(|c| c["id"] != expect_first)
            .map(|c| c.to_string())
            .collect()
    } else {
        r["checks"].to_string()
    };
    assert!(
        !text.contains("sites-enabled/blog") && !text.contains("sites-available/blog"),
        "{text}"
    );
    // The blog, checked on its own, stays clean (the duplicate name is its problem too).
    if !cause_in_blog {
        let (code, r) = b.check(&["--site", "blog"]);
        assert_eq!(not_passing(&r), Vec::<String>::new(), "--site blog");
        assert_eq!(code, 0, "--site blog");
    }
    let fix = first["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|f| f["remediation"].as_object().filter(|r| !r.is_empty()))
        .map(|r| Value::Object(r.clone()))
        .expect("a printed fix");
    // The user's comments (whole lines, or after a statement) survive the fix as printed.
    let comments = |b: &TwoSites| -> Vec<String> {
        ["shop", "blog"]
            .iter()
            .flat_map(|s| {
                std::fs::read_to_string(b.site_file(s))
                    .unwrap_or_default()
                    .lines()
                    .filter_map(|l| l.find('#').map(|i| l[i..].to_string()))
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    let kept = comments(&b);
    apply_and_reload(&b, &fix);
    assert_eq!(comments(&b), kept, "after the fix {fix}");
    assert_eq!(b.get("shop.test", url), Some(200), "after the fix {fix}");
    assert_eq!(
        b.statuses(),
        before,
        "the fix changed another URL's answer: {fix}"
    );
}

/// Applies `fix` as printed on the box and waits for the reload it runs (a reload is
/// asynchronous: until the workers that ran the old config are gone).
fn apply_and_reload(b: &TwoSites, fix: &Value) {
    let master = b.nginx.pid().expect("nginx runs");
    let old_workers = support::worker_pids(master);
    apply_as_printed(fix);
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
            &format!("    location ~* \\.(?:jpg|png)$ {{\n        root {d}/var/www/html;\n    }}\n\n    location /media/ {{ # the uploads\n        # served by nginx, not the app\n"),
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

impl TwoSites {
    /// Rewrites the shop's settings.py (`from` → `to`, which must be there).
    fn edit_settings(&self, from: &str, to: &str) {
        let p = self.dir().join("srv/shop/app/shop/settings.py");
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.contains(from), "{from:?} not in {text}");
        std::fs::write(&p, text.replacen(from, to, 1)).unwrap();
    }
}

#[test]
fn seed_the_app_writes_to_another_directory() {
    // A deploy moved the uploads to app/uploads and MEDIA_ROOT with them; nginx still
    // aliases app/media/, which is gone.
    seed_cause("MD201", "/media/products/a.jpg", |b| {
        let app = b.dir().join("srv/shop/app");
        std::fs::rename(app.join("media"), app.join("uploads")).unwrap();
        b.edit_settings(
            "MEDIA_ROOT = BASE_DIR / \"media\"",
            "MEDIA_ROOT = BASE_DIR / \"uploads\"",
        );
    });
}

#[test]
fn seed_media_url_is_not_the_location_prefix() {
    // The app builds /uploads/... URLs; nginx serves /media/.
    seed_cause("MD106", "/uploads/products/a.jpg", |b| {
        b.edit_settings("MEDIA_URL = \"/media/\"", "MEDIA_URL = \"/uploads/\"");
    });
}

#[test]
fn seed_no_location_for_the_media() {
    seed_cause("MD106", "/media/products/a.jpg", |b| {
        let d = b.dir().display().to_string();
        b.edit_site(
            "shop",
            &format!("    location /media/ {{\n        alias {d}/srv/shop/app/media/;\n        add_header X-Content-Type-Options nosniff always;\n    }}\n"),
            "",
        );
    });
}

#[test]
fn seed_a_duplicate_server_name() {
    // The blog's file (first by name) also claims shop.test: nginx gives it the shop's requests.
    seed(
        "MD108",
        "/media/products/a.jpg",
        &["--offline"],
        true,
        |b| {
            b.edit_site(
                "blog",
                "server_name blog.test;",
                "server_name blog.test shop.test;",
            );
        },
    );
}

#[test]
fn seed_disable_symlinks_blocks_a_symlinked_media_dir() {
    // The uploads live on a data disk; app/media is a symlink to them, and the shop's server
    // has `disable_symlinks on`.
    seed_cause("MD207", "/media/products/a.jpg", |b| {
        let app = b.dir().join("srv/shop/app");
        let data = b.dir().join("data/shop-media");
        std::fs::create_dir_all(data.parent().unwrap()).unwrap();
        std::fs::rename(app.join("media"), &data).unwrap();
        std::os::unix::fs::symlink(&data, app.join("media")).unwrap();
        b.edit_site(
            "shop",
            "    server_name shop.test;\n",
            "    server_name shop.test;\n    disable_symlinks on;\n",
        );
    });
}

// ---------------------------------------------------------------------------------------------
// Fixes seen from `check` with no --site, and MD405 on a real error log.

impl TwoSites {
    /// The response head nginx sends for `path` on `host` (status line and headers).
    fn head(&self, host: &str, path: &str) -> String {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.nginx.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        write!(s, "GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").unwrap();
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf);
        let text = String::from_utf8_lossy(&buf);
        text.split("\r\n\r\n").next().unwrap_or("").to_string()
    }
}

/// The result of check `id` in a report (or a site's entry).
fn check_of<'r>(r: &'r Value, id: &str) -> &'r Value {
    r["checks"]
        .as_array()
        .and_then(|a| a.iter().find(|c| c["id"] == id))
        .unwrap_or_else(|| panic!("{id} did not run: {r}"))
}

/// One site's entry of a `check` with no --site.
fn site_entry<'r>(r: &'r Value, name: &str) -> &'r Value {
    r["sites"]
        .as_array()
        .expect("sites[]")
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no site {name}: {r}"))
}

#[test]
fn the_nosniff_fix_works_when_every_site_is_checked() {
    let Some(b) = TwoSites::start() else { return };
    let before = b.statuses();
    b.edit_site(
        "shop",
        "        add_header X-Content-Type-Options nosniff always;\n",
        "",
    );
    let (code, r) = b.check(&[]);
    // A warning: the exit status stays 0.
    assert_eq!(code, 0, "{r}");
    let shop = site_entry(&r, "shop");
    assert_eq!(
        not_passing(shop),
        ["MD110 warn: uploads under /media/ are served without `X-Content-Type-Options: nosniff`"],
        "{shop}"
    );
    assert_eq!(not_passing(site_entry(&r, "blog")), Vec::<String>::new());
    let fix = check_of(shop, "MD110")["findings"][0]["remediation"].clone();
    let text = fix.to_string();
    assert!(!text.contains("sites-available/blog") && !text.contains("sites-enabled/blog"));
    apply_and_reload(&b, &fix);
    let head = b.head("shop.test", "/media/products/a.jpg");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("x-content-type-options: nosniff"),
        "{head}"
    );
    assert_eq!(b.statuses(), before, "after {fix}");
    let (code, r) = b.check(&[]);
    assert_eq!(code, 0);
    for site in ["shop", "blog"] {
        assert_eq!(
            not_passing(site_entry(&r, site)),
            Vec::<String>::new(),
            "{site}"
        );
    }
}

/// MD405 on the real box: a failed media request in the error log fails the check until nginx
/// reloads its config; after the reload that line is history (counted, not judged); a new one
/// fails the check again.
#[test]
fn md405_judges_only_what_was_logged_since_the_last_reload() {
    let Some(b) = TwoSites::start() else { return };
    let md405 = |b: &TwoSites| -> Value {
        let (_, r) = b.check_live(&["--site", "shop", "--select", "MD405"]);
        check_of(&r, "MD405").clone()
    };
    let log = b.nginx.error_log();
    let logged = |name: &str| {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains(name)
        {
            assert!(Instant::now() < deadline, "nginx did not log {name}");
            std::thread::sleep(Duration::from_millis(20));
        }
        std::time::SystemTime::now()
    };
    assert_eq!(b.get("shop.test", "/media/products/gone.jpg"), Some(404));
    let written = logged("gone.jpg");
    // A missing upload is a warning (the app may have deleted it).
    let c = md405(&b);
    assert_eq!(c["status"], "warn", "{c}");
    assert!(c.to_string().contains("gone.jpg"), "{c}");
    // The log has whole seconds, and a line of the reload's own second is kept: reload in a
    // later second than the line's. The tool dates the reload by the new workers' start tick
    // (10 ms steps, rounded down), so a reload just after the second turned can read as the
    // line's own second (seen once under load: warn here). Reload until the load time, as the
    // tool reads it (less a margin for its own reading of the boot clock), is in a later second.
    let secs = |t: std::time::SystemTime| {
        t.duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs()
    };
    let master = b.nginx.pid().expect("running");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        while secs(std::time::SystemTime::now()) <= secs(written) {
            std::thread::sleep(Duration::from_millis(20));
        }
        b.nginx.reload();
        let process = ::media_doctor::system::Process::read(master).expect("the master runs");
        let (loaded, _) = ::media_doctor::system::last_load(&process);
        if secs(loaded - Duration::from_millis(5)) > secs(written) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "every reload read as the line's second"
        );
    }
    let c = md405(&b);
    assert_eq!(c["status"], "pass", "{c}");
    assert!(!c.to_string().contains("gone.jpg"), "{c}");
    assert!(c.to_string().contains("before the reload"), "{c}");
    // A failure after the reload is judged.
    assert_eq!(b.get("shop.test", "/media/products/lost.jpg"), Some(404));
    logged("lost.jpg");
    let c = md405(&b);
    assert_eq!(c["status"], "warn", "{c}");
    assert!(c.to_string().contains("lost.jpg"), "{c}");
    assert!(!c.to_string().contains("gone.jpg"), "{c}");
}
// ---------------------------------------------------------------------------------------------
// #13: one fix per place. Every fix the demo's report prints, applied in the printed order to a
// copy of the demo (config blocks at their file:line, commands inside the copy), converges:
// `check` then finds nothing failing but the live checks, which need a server.

/// `c` as it would act on the copy at `root`: system paths under it, user and group names as
/// the copy's ids (its etc/passwd and etc/group). None for what needs a running nginx.
fn command_in_copy(c: &str, root: &Path) -> Option<String> {
    if c.contains("nginx -t") || c.contains("systemctl ") || c.starts_with("media-doctor ") {
        return None;
    }
    let id_of = |file: &str, name: &str| -> String {
        std::fs::read_to_string(root.join(file))
            .unwrap_or_default()
            .lines()
            .find_map(|l| {
                let mut f = l.split(':');
                (f.next() == Some(name)).then(|| f.nth(1).map(str::to_string))?
            })
            .unwrap_or_else(|| panic!("{name} is not in the copy's {file}"))
    };
    let c = c.strip_prefix("sudo ").unwrap_or(c);
    let words: Vec<&str> = c.split_whitespace().collect();
    let mut out = Vec::new();
    for (i, w) in words.iter().enumerate() {
        let owner = words[0] == "chown" && i > 0 && !w.starts_with('-') && !w.starts_with('/');
        out.push(if w.starts_with('/') {
            format!("{}{w}", root.display())
        } else if owner {
            let (u, g) = w.split_once(':').unwrap_or((w, ""));
            let mut s = id_of("etc/passwd", u);
            if !g.is_empty() {
                s = format!("{s}:{}", id_of("etc/group", g));
            }
            s
        } else {
            w.to_string()
        });
    }
    Some(out.join(" "))
}

/// A copy of fixtures/demo (modes and owners kept), and the directory that holds it.
fn demo_copy() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let copy = tmp.path().join("demo");
    let copied = Command::new("cp")
        .arg("-a")
        .arg(Path::new(REPO).join("fixtures/demo"))
        .arg(&copy)
        .status()
        .unwrap();
    assert!(copied.success());
    (tmp, copy)
}

#[test]
fn every_fix_the_demo_prints_applied_in_order_leaves_only_live_checks() {
    if !support::require(
        nix::unistd::geteuid().is_root(),
        "needs root (the fixes chown files)",
    ) {
        return;
    }
    let (_tmp, copy) = demo_copy();
    let root = copy.display().to_string();
    let check = |extra: &[&str]| {
        let mut args = vec![
            "check", "--root", &root, "--site", "myapp", "--format", "json",
        ];
        args.extend_from_slice(extra);
        let out = media_doctor(&args);
        let r: Value = serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}\n{}", out.stdout, out.stderr));
        (out.code, r)
    };
    let (code, r) = check(&[]);
    assert_eq!(code, 1);
    let mut applied = 0;
    for c in r["checks"].as_array().unwrap() {
        for f in c["findings"].as_array().unwrap() {
            let rem = &f["remediation"];
            if rem.is_null() {
                continue;
            }
            apply_in(rem, Some(&copy));
            applied += 1;
        }
    }
    assert!(applied > 5, "{applied} fixes");
    let (code, r) = check(&["--ignore", "MD4"]);
    let failing: Vec<String> = not_passing(&r)
        .into_iter()
        .filter(|l| l.contains(" fail:") || l.contains(" error:"))
        .collect();
    assert_eq!(failing, Vec::<String>::new(), "after every printed fix");
    assert_eq!(code, 0, "{}", not_passing(&r).join("\n"));
}

/// `check --diff` on the demo: one unified diff of the config file, which `patch -p1` applies in
/// the copy; the nginx checks then pass (the fixes that are not config edits are not in it).
#[test]
fn the_demo_diff_applies_with_patch_and_fixes_the_config() {
    let (_tmp, copy) = demo_copy();
    let root = copy.display().to_string();
    let out = media_doctor(&["check", "--root", &root, "--site", "myapp", "--diff"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let diff = out.stdout;
    assert!(
        diff.starts_with(
            // The file itself, not the sites-enabled link to it (patch writes no symlink).
            "--- a/etc/nginx/sites-available/myapp\n+++ b/etc/nginx/sites-available/myapp\n@@ "
        ),
        "{diff}"
    );
    // One section per file, each block once.
    assert_eq!(diff.matches("--- a/").count(), 1, "{diff}");
    assert_eq!(
        diff.matches("+    location ^~ /media/ {").count(),
        1,
        "{diff}"
    );
    let mut patch = Command::new("patch")
        .args(["-p1", "--quiet", "-d", &root])
        .stdin(Stdio::piped())
        .spawn()
        .expect("patch");
    use std::io::Write;
    patch
        .stdin
        .take()
        .unwrap()
        .write_all(diff.as_bytes())
        .unwrap();
    assert!(patch.wait().unwrap().success(), "patch -p1 of\n{diff}");
    let out = media_doctor(&[
        "check", "--root", &root, "--site", "myapp", "--select", "MD1", "--format", "json",
    ]);
    let r: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        not_passing(&r),
        Vec::<String>::new(),
        "after the diff:\n{diff}"
    );
    assert_eq!(out.code, 0);
    // Nothing left to change: the diff is empty.
    let again = media_doctor(&["check", "--root", &root, "--site", "myapp", "--diff"]);
    assert_eq!(again.stdout, "", "{}", again.stdout);
}

/// The demo without --site: Debian's `default` site (`server_name _`) is not blamed for the
/// lines myapp's requests logged (each names its server: `server: myapp.example.com`); it
/// failed MD405 with myapp's missing files.
#[test]
fn the_catch_all_site_is_not_blamed_for_another_sites_log_lines() {
    let root = format!("{REPO}/fixtures/demo");
    let out = media_doctor(&["check", "--root", &root, "--format", "json"]);
    let r: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", out.stdout, out.stderr));
    let md405 = check_of(site_entry(&r, "default"), "MD405");
    assert!(
        !md405.to_string().contains("/var/www/myapp"),
        "the default site is blamed for myapp's lines: {md405}"
    );
    assert_ne!(md405["status"], "fail", "{md405}");
    // myapp still has them.
    let md405 = check_of(site_entry(&r, "myapp"), "MD405");
    assert_eq!(md405["status"], "fail", "{md405}");
}

/// `check --diff` on a box of several sites, without `--site`: every site's proven fixes in one
/// diff (it was refused with exit 2), which `patch -p1` applies; then nothing is left to change.
#[test]
fn the_diff_of_a_box_of_several_sites_holds_every_sites_fixes() {
    let (_tmp, copy) = demo_copy();
    let root = copy.display().to_string();
    write(
        &copy.join("etc/nginx/sites-available/blog"),
        "server {\n    listen 80;\n    server_name blog.example.com;\n    location /media/ {\n        alias /var/www/blog/media;\n    }\n}\n",
    );
    std::os::unix::fs::symlink(
        "../sites-available/blog",
        copy.join("etc/nginx/sites-enabled/blog"),
    )
    .unwrap();
    write(&copy.join("var/www/blog/media/a.jpg"), "jpg");
    let out = media_doctor(&["check", "--root", &root, "--diff"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let diff = out.stdout;
    for file in ["blog", "myapp"] {
        let head = format!(
            "--- a/etc/nginx/sites-available/{file}\n+++ b/etc/nginx/sites-available/{file}\n"
        );
        assert_eq!(diff.matches(&head).count(), 1, "{diff}");
    }
    assert!(
        diff.contains("+        alias /var/www/blog/media/;"),
        "{diff}"
    );
    let mut patch = Command::new("patch")
        .args(["-p1", "--quiet", "-d", &root])
        .stdin(Stdio::piped())
        .spawn()
        .expect("patch");
    use std::io::Write;
    patch
        .stdin
        .take()
        .unwrap()
        .write_all(diff.as_bytes())
        .unwrap();
    assert!(patch.wait().unwrap().success(), "patch -p1 of\n{diff}");
    let again = media_doctor(&["check", "--root", &root, "--diff"]);
    assert_eq!(again.stdout, "", "{}", again.stdout);
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
