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
        let conf = self.nginx.conf_path().display().to_string();
        let mut args = vec![
            "check",
            "--nginx-conf",
            &conf,
            "--offline",
            "--format",
            "json",
        ];
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
    let _ = REPO;
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
