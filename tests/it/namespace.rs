//! nginx in a mount namespace of its own, as in a container but with no daemon: started with
//! `unshare -m`, a tmpfs over a directory and a host directory bind-mounted into it, so that
//! /proc/PID/mountinfo and /proc/PID/root are real. `check --root /proc/PID/root` judges the
//! paths nginx opens there at the host paths behind its mounts.

use crate::run::media_doctor;
use crate::support::{self, Nginx};
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn check(args: &[&str]) -> Value {
    let out = media_doctor(args);
    serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", out.stdout, out.stderr))
}

fn result<'a>(r: &'a Value, id: &str) -> &'a Value {
    r["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no {id}"))
}

fn evidence<'a>(f: &'a Value, label: &str) -> Vec<&'a str> {
    f["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["label"] == label)
        .filter_map(|e| e["value"].as_str())
        .collect()
}

/// A temporary directory every user can enter (nginx's workers run as www-data).
fn open_tempdir(prefix: &str) -> tempfile::TempDir {
    let t = tempfile::Builder::new().prefix(prefix).tempdir().unwrap();
    std::fs::set_permissions(t.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    support::open_ancestors(t.path());
    t
}

/// A Django project at `proj`: manage.py naming `mysite.settings`, whose text is `settings`.
fn django_project(proj: &Path, settings: &str) {
    for (p, text) in [
        (
            "manage.py",
            "import os\nos.environ.setdefault('DJANGO_SETTINGS_MODULE', 'mysite.settings')\n",
        ),
        ("mysite/__init__.py", ""),
        ("mysite/settings.py", settings),
    ] {
        let p = proj.join(p);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
}

/// `check` of the nginx in a mount namespace of its own, through its view (/proc/PID/root).
fn check_in_namespace(nginx: &Nginx) -> Value {
    let pid = nginx.pid().unwrap();
    check(&[
        "check",
        "--root",
        &format!("/proc/{pid}/root"),
        "--nginx-conf",
        &nginx.conf_path().display().to_string(),
        "--offline",
        "--format",
        "json",
    ])
}

/// nginx in a "container" of its own: a tmpfs at ctr/ of a new directory, this machine's `host`
/// directory bind-mounted at ctr/`at` and served at /`at`/, every other request proxied to
/// `upstream`, and a tmpfs over this machine's `hidden` directory (a container does not see the
/// host's directories). `first` gives the setup run before, for that new directory. Returns
/// nginx and the directory.
fn nginx_in_container(
    host: &str,
    at: &str,
    hidden: &str,
    upstream: &str,
    first: impl FnOnce(&Path) -> String,
) -> (Nginx, String) {
    let n = open_tempdir("md-ns-ng-");
    let ns = n.path().display().to_string();
    std::fs::create_dir_all(n.path().join("ctr")).unwrap();
    let setup = format!(
        "{}mount -t tmpfs none {ns}/ctr; mkdir {ns}/ctr/{at}; \
         mount --bind {host} {ns}/ctr/{at}; mount -t tmpfs none {hidden}",
        first(n.path())
    );
    let body = format!(
        "server {{\n  listen 127.0.0.1:{{PORT}};\n  server_name shop.test;\n  \
         location /{at}/ {{ alias {{DIR}}/ctr/{at}/; }}\n  \
         location / {{ proxy_pass http://{upstream}; }}\n}}\n"
    );
    let nginx = Nginx::start_in_namespace(n, "www-data", &body, &setup).expect("nginx starts");
    (nginx, ns)
}

fn can_unshare() -> bool {
    std::process::Command::new("unshare")
        .args(["-m", "true"])
        .status()
        .is_ok_and(|s| s.success())
}

/// Root, nginx and `unshare -m`: what every test here needs (a skip, or under CI a failure,
/// saying which is missing).
fn can_run() -> bool {
    support::require_root_and_nginx()
        && support::require(
            can_unshare(),
            "needs `unshare -m` (util-linux, CAP_SYS_ADMIN)",
        )
}

/// A "container" directory: host/media on this machine and ctr/, which nginx's namespace covers
/// with a tmpfs of its own holding media/ (host/media bind-mounted there) and `extra`: the
/// directory and the namespace's setup for `Nginx::start_in_namespace`.
fn container_dir(extra: &[&str]) -> (tempfile::TempDir, String) {
    let dir = tempfile::Builder::new().prefix("md-ns-").tempdir().unwrap();
    let d = dir.path();
    std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
    support::open_ancestors(d);
    std::fs::create_dir_all(d.join("host/media")).unwrap();
    std::fs::create_dir_all(d.join("ctr")).unwrap();
    let ds = d.display();
    let mkdir: String = ["media"]
        .iter()
        .chain(extra)
        .map(|x| format!(" {ds}/ctr/{x}"))
        .collect();
    let setup = format!(
        "mount -t tmpfs none {ds}/ctr; mkdir{mkdir}; mount --bind {ds}/host/media {ds}/ctr/media"
    );
    (dir, setup)
}

#[test]
fn paths_nginx_opens_in_its_mount_namespace_are_judged_at_the_host_paths_behind_its_mounts() {
    if !can_run() {
        return;
    }
    // What nginx sees at ctr/: a tmpfs of its own, the host directory mounted at ctr/media.
    let (dir, setup) = container_dir(&["cache"]);
    let d = dir.path().to_path_buf();
    let ds = d.display().to_string();
    // The host's directory: one file only root can read.
    std::fs::write(d.join("host/media/a.jpg"), "a").unwrap();
    std::fs::set_permissions(
        d.join("host/media/a.jpg"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    let body = "server {\n  listen 127.0.0.1:{PORT};\n  server_name shop.test;\n  \
                location /media/ { alias {DIR}/ctr/media/; }\n  \
                location /cache/ { alias {DIR}/ctr/cache/; }\n}\n";
    let nginx = Nginx::start_in_namespace(dir, "www-data", body, &setup).expect("nginx starts");
    let pid = nginx.pid().expect("running");
    let conf = nginx.conf_path().display().to_string();
    let media = format!("{ds}/ctr/media");

    // Seen from the host, nginx's directory is not there: ctr/ is an empty directory here.
    let host = check(&[
        "check",
        "--nginx-conf",
        &conf,
        "--offline",
        "--format",
        "json",
    ]);
    assert_eq!(result(&host, "MD201")["status"], "fail", "{host:#}");

    // Seen through its mounts: it exists, and the unreadable file is found on the host.
    let root = format!("/proc/{pid}/root");
    let args = [
        "check",
        "--root",
        &root,
        "--nginx-conf",
        &conf,
        "--offline",
        "--format",
        "json",
    ];
    let r = check(&args);
    assert_eq!(
        result(&r, "MD201")["status"],
        "pass",
        "{:#}",
        result(&r, "MD201")
    );
    let md203 = result(&r, "MD203");
    assert_eq!(md203["status"], "fail", "{md203:#}");
    let f = md203["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["severity"] == "error")
        .expect("the unreadable file");
    assert!(
        evidence(f, "files")[0].ends_with("/ctr/media/a.jpg"),
        "{f:#}"
    );
    assert_eq!(
        evidence(f, "host_path"),
        [format!(
            "{ds}/host/media (mount {media} of pid {pid}'s mount namespace)"
        )]
    );
    // The tmpfs is only inside: said so, read through /proc/PID/root.
    let cache = result(&r, "MD201")["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["message"].as_str().unwrap().contains("/ctr/cache"))
        .expect("MD201 on the cache directory");
    let said = evidence(cache, "host_path")[0];
    assert!(
        said.starts_with(&format!("only inside pid {pid}'s mount namespace"))
            && said.contains("tmpfs mount at")
            && said.contains("not mounted on this machine"),
        "{said}"
    );
    // The site says where each mount is.
    let ns = &r["site"]["namespace"];
    assert_eq!(ns["pid"], pid);
    let mounts = ns["mounts"].as_array().unwrap();
    assert!(
        mounts
            .iter()
            .any(|m| m["path"] == media && m["host"] == format!("{ds}/host/media")),
        "{ns:#}"
    );
    assert!(
        mounts
            .iter()
            .any(|m| m["path"] == format!("{ds}/ctr") && m["inside"].is_string()),
        "{ns:#}"
    );
    // The reload is that master's, tested in its namespace.
    let commands: Vec<&str> = r["checks"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["findings"].as_array().unwrap())
        .filter_map(|f| f["remediation"]["commands"].as_array())
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let reload = format!("sudo nsenter -t {pid} -m ");
    assert!(
        commands
            .iter()
            .any(|c| c.starts_with(&reload) && c.ends_with(&format!("&& sudo kill -HUP {pid}"))),
        "{commands:#?}"
    );

    // The fix runs in nginx's namespace: pasted, it reaches the host file and MD203 passes.
    let fix = f["remediation"]["commands"][0].as_str().unwrap();
    assert!(
        fix.starts_with(&format!("sudo nsenter -t {pid} -m ")),
        "{fix}"
    );
    let ran = std::process::Command::new("sh")
        .args(["-c", fix.strip_prefix("sudo ").unwrap()])
        .status()
        .unwrap();
    assert!(ran.success(), "{fix}");
    let mode = std::fs::metadata(Path::new(&ds).join("host/media/a.jpg"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o004, 0o004, "{fix}");
    assert_eq!(result(&check(&args), "MD203")["status"], "pass");
    drop(nginx);
}

/// `check` run where this machine has no /etc/nginx/nginx.conf (a tmpfs over /etc/nginx, in a
/// mount namespace of the run's own) and nothing names a config: nginx is looked for in the
/// other mount namespaces. Returns (exit code, stdout, stderr).
fn check_without_host_nginx(args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c"])
        .arg("set -e; mount -t tmpfs none /etc/nginx; exec \"$@\"")
        .arg("sh")
        .arg(env!("CARGO_BIN_EXE_media-doctor"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run media-doctor under unshare");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn with_no_nginx_on_this_machine_the_one_in_a_container_is_judged() {
    if !can_run()
        || !support::require(
            Path::new("/etc/nginx").is_dir(),
            "needs /etc/nginx to lay a tmpfs over",
        )
    {
        return;
    }
    // Two "containers", each serving its own site from a directory bind-mounted at /srv/...
    let start = |site: &str| {
        let (dir, setup) = container_dir(&[]);
        let body = format!(
            "server {{\n  listen 127.0.0.1:{{PORT}};\n  server_name {site};\n  \
             location /media/ {{ alias {{DIR}}/ctr/media/; }}\n}}\n"
        );
        Nginx::start_in_namespace(dir, "www-data", &body, &setup).expect("nginx starts")
    };
    let tag = std::process::id();
    let (a_name, b_name) = (format!("shop-a-{tag}.test"), format!("shop-b-{tag}.test"));
    let a = start(&a_name);
    let b = start(&b_name);
    let (a_pid, b_pid) = (a.pid().unwrap(), b.pid().unwrap());

    // Several: never a guess. The run stops and names them.
    let (code, _, err) = check_without_host_nginx(&["check", "--offline", "--format", "json"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(&format!("pid {a_pid}")) && err.contains(&format!("pid {b_pid}")),
        "{err}"
    );
    assert!(err.contains("--root /proc/PID/root"), "{err}");

    // --site picks the one whose config has that site; its paths map through its mounts.
    let (code, out, err) =
        check_without_host_nginx(&["check", "--site", &a_name, "--offline", "--format", "json"]);
    assert_ne!(code, 2, "{err}");
    let r: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
    let ns = &r["site"]["namespace"];
    assert_eq!(ns["pid"], a_pid, "{ns:#}");
    assert!(
        ns["found"]
            .as_str()
            .unwrap()
            .contains("runs in a mount namespace of its own"),
        "{ns:#}"
    );
    assert_eq!(
        r["site"]["nginx"]["source"]["entry"],
        a.conf_path().display().to_string()
    );
    assert_eq!(
        result(&r, "MD201")["status"],
        "pass",
        "{:#}",
        result(&r, "MD201")
    );
    drop((a, b));
}

/// The app in a mount namespace of its own (nginx on this machine, in front of it): its project
/// is bind-mounted at the container's path, so its settings are read where it sees them and
/// each path comes back to this machine through its mounts. A STATIC_ROOT on a tmpfs of its own
/// is unknown, said so, never judged on this machine.
#[test]
fn an_app_in_its_own_mount_namespace_is_read_there_and_its_paths_mapped_to_this_machine() {
    if !can_run() || !support::require(has_python3(), "needs python3 (the app process)") {
        return;
    }
    let t = open_tempdir("md-ns-app-");
    let d = t.path().to_path_buf();
    let ds = d.display().to_string();
    django_project(
        &d.join("host/proj"),
        &format!("from pathlib import Path\nBASE_DIR = Path(__file__).resolve().parent.parent\nDEBUG = False\nMEDIA_URL = '/media/'\nMEDIA_ROOT = BASE_DIR / 'media'\nSTATIC_URL = '/static/'\nSTATIC_ROOT = '{ds}/ctr/static'\n"),
    );
    std::fs::create_dir_all(d.join("host/proj/media")).unwrap();
    std::fs::create_dir_all(d.join("ctr")).unwrap();
    // The "container": a tmpfs at ctr/, the project at ctr/app, the app serving from there.
    let port = support::free_port();
    let mut app = std::process::Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c"])
        .arg(format!(
            "set -e; mount -t tmpfs none {ds}/ctr; mkdir {ds}/ctr/app {ds}/ctr/static; \
             mount --bind {ds}/host/proj {ds}/ctr/app; cd {ds}/ctr/app; \
             exec python3 -m http.server {port} --bind 127.0.0.1"
        ))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start the app");
    support::wait_until(&format!("the app on 127.0.0.1:{port}"), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    let body = format!(
        "server {{\n  listen 127.0.0.1:{{PORT}};\n  server_name shop.test;\n  \
         location /media/ {{ alias {ds}/host/proj/media/; }}\n  \
         location / {{ proxy_pass http://127.0.0.1:{port}; }}\n}}\n"
    );
    let nginx = Nginx::start("www-data", &body).expect("nginx starts");
    let conf = nginx.conf_path().display().to_string();
    let r = check(&[
        "check",
        "--nginx-conf",
        &conf,
        "--offline",
        "--format",
        "json",
    ]);
    let _ = app.kill();
    let _ = app.wait();
    let a = &r["site"]["app"];
    assert_eq!(a["dir"], format!("{ds}/host/proj"), "{a:#}");
    assert_eq!(
        a["media_root"]["value"],
        format!("{ds}/host/proj/media"),
        "{a:#}"
    );
    assert_eq!(a["static_root"]["state"], "unknown", "{a:#}");
    let why = a["static_root"]["why"].as_str().unwrap();
    assert!(
        why.contains("only inside the app's mount namespace") && why.contains("tmpfs"),
        "{why}"
    );
    // nginx serves the bind mount's source: the same directory as MEDIA_ROOT.
    assert_eq!(
        result(&r, "MD302")["status"],
        "pass",
        "{:#}",
        result(&r, "MD302")
    );
    drop(nginx);
}

/// The app in a mount namespace of its own, nginx on this machine: a static source on the app's
/// own tmpfs is on no mount of this machine, whose directory at that path is another (empty)
/// one. Read there, MD205 passed ("populated", comparing nothing): the source is unknown on this
/// machine, and why, and MD205 says it cannot compare.
#[test]
fn an_apps_path_only_inside_its_namespace_is_unknown_on_this_machine() {
    if !can_run() || !support::require(has_python3(), "needs python3 (the app process)") {
        return;
    }
    let t = open_tempdir("md-ns-inside-");
    let d = t.path().to_path_buf();
    let ds = d.display().to_string();
    std::fs::create_dir_all(d.join("host/proj/collected")).unwrap();
    std::fs::write(d.join("host/proj/collected/old.css"), "o").unwrap();
    // A second source, seen the same on both sides and collected: compared, and counted.
    std::fs::create_dir_all(d.join("host/assets")).unwrap();
    std::fs::write(d.join("host/assets/a.css"), "a").unwrap();
    std::fs::write(d.join("host/proj/collected/a.css"), "a").unwrap();
    let (app, port) = app_in_namespace(
        &d,
        "shared",
        &format!(
            "STATIC_URL = '/static/'\nSTATIC_ROOT = '{ds}/actr/app/collected'\n\
             STATICFILES_DIRS = ['{ds}/actr', '{ds}/host/assets']\n"
        ),
    );
    let body = format!(
        "server {{\n  listen 127.0.0.1:{{PORT}};\n  server_name shop.test;\n  \
         location /static/ {{ alias {ds}/host/proj/collected/; }}\n  \
         location / {{ proxy_pass http://127.0.0.1:{port}; }}\n}}\n"
    );
    let nginx = Nginx::start("www-data", &body).expect("nginx starts");
    let r = check(&[
        "check",
        "--nginx-conf",
        &nginx.conf_path().display().to_string(),
        "--offline",
        "--format",
        "json",
    ]);
    drop((nginx, app));
    let a = &r["site"]["app"];
    assert_eq!(
        a["static_root"]["value"],
        format!("{ds}/host/proj/collected"),
        "{a:#}"
    );
    let unseen = a["unseen"].as_array().unwrap_or_else(|| panic!("{a:#}"));
    assert!(
        unseen.iter().any(|u| u["what"] == "static source"
            && u["path"] == format!("{ds}/actr")
            && u["why"]
                .as_str()
                .unwrap()
                .contains("only inside the app's mount namespace")),
        "{a:#}"
    );
    let md205 = result(&r, "MD205");
    assert_eq!(md205["status"], "skip", "{md205:#}");
    // The skip says what it could not compare, and what it did.
    let said = md205["summary"].as_str().unwrap_or_default();
    assert!(
        said.contains("cannot be compared with 1 of its 2 static sources")
            && said.ends_with("the 1 source file of the other 1 is collected and up to date"),
        "{md205:#}"
    );
}

/// A Django project at `d/host/proj`, run in a mount namespace of its own (`unshare -m`): a
/// tmpfs at `d/actr`, the project bind-mounted at `d/actr/app` and `d/host/<media>` at
/// `d/actr/media`, its MEDIA_ROOT; `settings` added to its settings. Returns the process
/// (killed on drop) and its port.
struct AppInNamespace(std::process::Child);

impl Drop for AppInNamespace {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn app_in_namespace(d: &Path, media: &str, settings: &str) -> (AppInNamespace, u16) {
    let ds = d.display().to_string();
    django_project(
        &d.join("host/proj"),
        &format!(
            "DEBUG = False\nMEDIA_URL = '/media/'\nMEDIA_ROOT = '{ds}/actr/media'\n{settings}"
        ),
    );
    std::fs::create_dir_all(d.join("host").join(media)).unwrap();
    std::fs::create_dir_all(d.join("actr")).unwrap();
    let port = support::free_port();
    let child = std::process::Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c"])
        .arg(format!(
            "set -e; mount -t tmpfs none {ds}/actr; mkdir {ds}/actr/app {ds}/actr/media; \
             mount --bind {ds}/host/proj {ds}/actr/app; \
             mount --bind {ds}/host/{media} {ds}/actr/media; cd {ds}/actr/app; \
             exec python3 -m http.server {port} --bind 127.0.0.1"
        ))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start the app");
    let app = AppInNamespace(child);
    support::wait_until(&format!("the app on 127.0.0.1:{port}"), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    (app, port)
}

fn has_python3() -> bool {
    std::process::Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// nginx and the app each in a mount namespace of their own, as two containers: the app's
/// MEDIA_ROOT and nginx's alias are different paths (`actr/media`, `ctr/media`), each a tmpfs's
/// mount point the other namespace does not have, and nginx's namespace hides the host's
/// directories (a tmpfs over them), as a container's does. MD302 compares the storage behind
/// them on this machine: the same host directory passes; another one fails with both host paths.
#[test]
fn nginx_and_the_app_in_two_namespaces_are_compared_by_the_storage_behind_their_mounts() {
    if !can_run() || !support::require(has_python3(), "needs python3 (the app process)") {
        return;
    }
    let run = |nginx_media: &str| -> (Value, String, String) {
        let t = open_tempdir("md-ns-two-");
        let d = t.path().to_path_buf();
        let ds = d.display().to_string();
        std::fs::create_dir_all(d.join("host").join(nginx_media)).unwrap();
        let (app, port) = app_in_namespace(&d, "shared", "");
        // nginx's "container": its own tmpfs at ctr/, a host directory at ctr/media.
        let (nginx, ns) = nginx_in_container(
            &format!("{ds}/host/{nginx_media}"),
            "media",
            &format!("{ds}/host"),
            &format!("127.0.0.1:{port}"),
            |_| String::new(),
        );
        let r = check_in_namespace(&nginx);
        drop((nginx, app));
        (r, ds, ns)
    };

    // The same host directory at two container paths: the same storage.
    let (r, ds, ns) = run("shared");
    let a = &r["site"]["app"];
    assert_eq!(
        a["namespace"]["media_root"]["host"],
        format!("{ds}/host/shared"),
        "{a:#}"
    );
    // In nginx's view, MEDIA_ROOT is nginx's path for that storage: judged there.
    assert_eq!(a["media_root"]["value"], format!("{ns}/ctr/media"), "{a:#}");
    assert_eq!(
        result(&r, "MD201")["status"],
        "pass",
        "{:#}",
        result(&r, "MD201")
    );
    let md302 = result(&r, "MD302");
    assert_eq!(md302["status"], "pass", "{md302:#}");
    let said = md302["summary"].to_string() + &md302.to_string();
    assert!(said.contains(&format!("{ds}/host/shared")), "{md302:#}");

    // Another host directory: different storage, both host paths said.
    let (r, ds, _) = run("other");
    // nginx's mounts do not show the app's storage: no path of nginx's is MEDIA_ROOT.
    let a = &r["site"]["app"];
    assert_eq!(a["media_root"]["state"], "unknown", "{a:#}");
    assert!(
        a["media_root"]["why"]
            .as_str()
            .unwrap()
            .contains("which no mount of nginx's mount namespace"),
        "{a:#}"
    );
    let md302 = result(&r, "MD302");
    assert_eq!(md302["status"], "fail", "{md302:#}");
    let f = &md302["findings"][0];
    assert_eq!(
        evidence(f, "nginx's directory on this machine"),
        [format!("{ds}/host/other")],
        "{f:#}"
    );
    let app_host = evidence(f, "MEDIA_ROOT on this machine");
    assert!(
        app_host.len() == 1
            && app_host[0].starts_with(&format!("{ds}/host/shared "))
            && app_host[0].contains(&format!("{ds}/actr/media")),
        "{f:#}"
    );
}

/// The app in a mount namespace of its own, nginx in another whose mounts show only the app's
/// STATIC_ROOT (a tmpfs hides this machine's directories, as a container does): the app's
/// settings file, project directory and static sources are on storage nginx cannot see. Read
/// at their host paths in nginx's view they would be another file or none (MD205 passed,
/// "populated", comparing no source while one was never collected): each is unknown there,
/// and why, and MD205 says it cannot compare rather than pass.
#[test]
fn the_apps_files_nginx_cannot_see_are_unknown_in_its_view_never_read_there() {
    if !can_run() || !support::require(has_python3(), "needs python3 (the app process)") {
        return;
    }
    let t = open_tempdir("md-ns-unseen-");
    let d = t.path().to_path_buf();
    let ds = d.display().to_string();
    // A static source collectstatic never copied: STATIC_ROOT is behind it.
    std::fs::create_dir_all(d.join("host/proj/assets")).unwrap();
    std::fs::write(d.join("host/proj/assets/app.css"), "a").unwrap();
    std::fs::create_dir_all(d.join("host/proj/collected")).unwrap();
    std::fs::write(d.join("host/proj/collected/old.css"), "o").unwrap();
    let (app, port) = app_in_namespace(
        &d,
        "shared",
        &format!(
            "STATIC_URL = '/static/'\nSTATIC_ROOT = '{ds}/actr/app/collected'\n\
             STATICFILES_DIRS = ['{ds}/actr/app/assets']\n"
        ),
    );
    let (nginx, ns) = nginx_in_container(
        &format!("{ds}/host/proj/collected"),
        "static",
        &format!("{ds}/host"),
        &format!("127.0.0.1:{port}"),
        |_| String::new(),
    );
    let pid = nginx.pid().unwrap();
    let r = check_in_namespace(&nginx);
    drop((nginx, app));
    let a = &r["site"]["app"];
    // STATIC_ROOT is on storage nginx's mounts show: nginx's path for it.
    assert_eq!(
        a["static_root"]["value"],
        format!("{ns}/ctr/static"),
        "{a:#}"
    );
    // The rest of the app's files are not: each unknown in nginx's view, and why.
    let unseen = a["unseen"].as_array().unwrap_or_else(|| panic!("{a:#}"));
    for (what, host) in [
        ("static source", format!("{ds}/host/proj/assets")),
        (
            "settings file",
            format!("{ds}/host/proj/mysite/settings.py"),
        ),
        ("project directory", format!("{ds}/host/proj")),
    ] {
        assert!(
            unseen.iter().any(|u| u["what"] == what
                && u["path"] == host.as_str()
                && u["why"]
                    .as_str()
                    .unwrap()
                    .contains(&format!("no mount of nginx's mount namespace (pid {pid})"))),
            "{what} {host}: {a:#}"
        );
    }
    // MD205 cannot compare a source it cannot see: no pass.
    let md205 = result(&r, "MD205");
    assert_eq!(md205["status"], "skip", "{md205:#}");
    assert!(
        md205
            .to_string()
            .contains(&format!("{ds}/host/proj/assets")),
        "{md205:#}"
    );
    // Nor MD306 a project directory it cannot see.
    let md306 = result(&r, "MD306");
    assert_eq!(md306["status"], "skip", "{md306:#}");
}

/// nginx in a mount namespace of its own whose nginx.conf there is a copy on its own tmpfs (a
/// bind mount over the path): this machine's file at that path is another one.
fn nginx_with_its_own_config(body: &str, extra_setup: &str) -> (Nginx, String) {
    let n = tempfile::Builder::new()
        .prefix("md-ns-conf-")
        .tempdir()
        .unwrap();
    std::fs::set_permissions(n.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    support::open_ancestors(n.path());
    std::fs::create_dir_all(n.path().join("ctr")).unwrap();
    let ns = n.path().display().to_string();
    let setup = format!(
        "mount -t tmpfs none {ns}/ctr; chmod 755 {ns}/ctr; cp {ns}/nginx.conf {ns}/ctr/nginx.conf; \
         mount --bind {ns}/ctr/nginx.conf {ns}/nginx.conf; {extra_setup}"
    );
    let nginx = Nginx::start_in_namespace(n, "www-data", body, &setup).expect("nginx starts");
    (nginx, ns)
}

fn finding_with<'a>(c: &'a Value, words: &str) -> &'a Value {
    c["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["message"].as_str().unwrap().contains(words))
        .unwrap_or_else(|| panic!("no finding with {words:?}: {c:#}"))
}

/// MD111 in nginx's mount namespace: its config read there (through /proc/PID/root: the file
/// only it sees), parsed by our loader, against its master's load; edited there, it is stale.
/// And a finding's FILE:LINE (nginx's path) also says where the operator opens the file.
#[test]
fn a_namespaced_nginx_config_edited_in_its_namespace_is_stale_and_its_file_is_shown_openable() {
    if !can_run() {
        return;
    }
    // An alias without its trailing slash: MD101 points at its FILE:LINE.
    let body = "server {\n  listen 127.0.0.1:{PORT};\n  server_name shop.test;\n  \
                location /media/ { alias {DIR}/ctr/media; }\n}\n";
    let (nginx, ns) = nginx_with_its_own_config(body, "true");
    let pid = nginx.pid().unwrap();
    let conf = nginx.conf_path().display().to_string();
    let args = [
        "check",
        "--root",
        &format!("/proc/{pid}/root"),
        "--nginx-conf",
        &conf,
        "--format",
        "json",
    ];
    let r = check(&args);
    let md111 = result(&r, "MD111");
    assert_eq!(md111["status"], "pass", "{md111:#}");

    let md101 = result(&r, "MD101");
    assert_eq!(md101["status"], "fail", "{md101:#}");
    let f = &md101["findings"][0];
    assert_eq!(f["location"]["file"], conf, "{f:#}");
    let line = f["location"]["line"].as_u64().unwrap();
    assert_eq!(
        evidence(f, "file_on_host"),
        [format!(
            "/proc/{pid}/root{conf}:{line} (nginx's {conf}:{line})"
        )],
        "{f:#}"
    );
    // That is the file nginx reads: this machine's file at its path is another.
    let inside = std::fs::read_to_string(format!("/proc/{pid}/root{conf}")).unwrap();
    assert!(inside.contains("location /media/"));

    // Edited in its namespace, after the load: stale. This machine's file is unchanged.
    nginx.write_conf_in_namespace_after_load(&inside.replace("shop.test", "shop2.test"));
    assert!(!std::fs::read_to_string(&conf)
        .unwrap()
        .contains("shop2.test"));
    let r = check(&args);
    let md111 = result(&r, "MD111");
    assert_eq!(md111["status"], "fail", "{md111:#}");
    let f = finding_with(md111, "changed after nginx last loaded");
    assert_eq!(
        evidence(f, "file on this machine"),
        [format!("/proc/{pid}/root{conf}")],
        "{f:#}"
    );
    let fix = f["remediation"]["commands"][0].as_str().unwrap();
    assert!(
        fix.starts_with(&format!("sudo nsenter -t {pid} -m nginx -t")),
        "{fix}"
    );
    let _ = ns;
    drop(nginx);
}

/// Access in nginx's mount namespace is asked of the kernel there: the probe enters that
/// namespace (setns) before it becomes www-data. The media directory's parent is 0700 on
/// nginx's own tmpfs: this machine has no such path (ENOENT here), the kernel in the namespace
/// answers EACCES.
#[test]
fn access_in_a_namespace_is_asked_of_the_kernel_in_that_namespace() {
    if !can_run() {
        return;
    }
    let body = "server {\n  listen 127.0.0.1:{PORT};\n  server_name shop.test;\n  \
                location /media/ { alias {DIR}/ctr/private/media/; }\n}\n";
    let (nginx, ns) = nginx_with_its_own_config(body, "true");
    let pid = nginx.pid().unwrap();
    // The private directory, made in its namespace (through /proc/PID/root: only it has it).
    let private = format!("/proc/{pid}/root{ns}/ctr/private");
    std::fs::create_dir_all(format!("{private}/media")).unwrap();
    std::fs::write(format!("{private}/media/a.jpg"), "a").unwrap();
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700)).unwrap();
    assert!(!Path::new(&format!("{ns}/ctr/private")).exists());
    let r = check(&[
        "check",
        "--root",
        &format!("/proc/{pid}/root"),
        "--nginx-conf",
        &nginx.conf_path().display().to_string(),
        "--offline",
        "--format",
        "json",
    ]);
    let md202 = result(&r, "MD202");
    assert_eq!(md202["status"], "fail", "{md202:#}");
    let f = finding_with(md202, "private");
    assert_eq!(
        evidence(f, "kernel as www-data"),
        ["13: Permission denied"],
        "{f:#}"
    );
    assert!(evidence(f, "decided from").is_empty(), "{f:#}");
    // Every command of the fix runs in nginx's namespace, the `or instead:` ones too.
    let text = f["remediation"]["text"].as_str().unwrap();
    assert!(
        text.contains(&format!(
            "or instead: sudo nsenter -t {pid} -m chmod o+x {ns}/ctr/private"
        )),
        "{text}"
    );
    drop(nginx);
}

/// The app on this machine, nginx in a container of its own that does not see this machine's
/// directories but the media directory bind-mounted at another path: the app's MEDIA_ROOT is
/// taken into nginx's view through nginx's mounts (its path there for the same storage).
#[test]
fn an_app_on_this_machine_is_judged_in_the_view_of_an_nginx_in_a_namespace() {
    if !can_run() || !support::require(has_python3(), "needs python3 (the app process)") {
        return;
    }
    let t = open_tempdir("md-ns-hostapp-");
    let d = t.path().to_path_buf();
    let ds = d.display().to_string();
    django_project(
        &d.join("host/proj"),
        &format!("DEBUG = False\nMEDIA_URL = '/media/'\nMEDIA_ROOT = '{ds}/host/shared'\n"),
    );
    std::fs::create_dir_all(d.join("host/shared")).unwrap();
    let port = support::free_port();
    let app = AppInNamespace(
        std::process::Command::new("python3")
            .args([
                "-m",
                "http.server",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
            ])
            .current_dir(d.join("host/proj"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start the app"),
    );
    support::wait_until(&format!("the app on 127.0.0.1:{port}"), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    let (nginx, ns) = nginx_in_container(
        &format!("{ds}/host/shared"),
        "media",
        &format!("{ds}/host"),
        &format!("127.0.0.1:{port}"),
        |_| String::new(),
    );
    let r = check_in_namespace(&nginx);
    drop((nginx, app));
    let a = &r["site"]["app"];
    assert_eq!(a["media_root"]["value"], format!("{ns}/ctr/media"), "{a:#}");
    assert_eq!(
        a["namespace"]["media_root"]["host"],
        format!("{ds}/host/shared"),
        "{a:#}"
    );
    let md302 = result(&r, "MD302");
    assert_eq!(md302["status"], "pass", "{md302:#}");
}

/// The app in a network namespace (and mount namespace) of its own, as in a container with its
/// own network: `unshare -n -m`, `lo` up, listening on 0.0.0.0:`port` there, its MEDIA_ROOT
/// `d/<ctr>/media` a bind mount of `d/host/<media>`, the project `d/host/<proj>`. Ready when
/// its network namespace's /proc/PID/net/tcp lists the socket as LISTEN (nothing here can
/// connect to it).
fn app_in_network_namespace(
    d: &Path,
    proj: &str,
    ctr: &str,
    media: &str,
    port: u16,
) -> (AppInNamespace, i32) {
    let ds = d.display().to_string();
    django_project(
        &d.join("host").join(proj),
        &format!("DEBUG = False\nMEDIA_URL = '/media/'\nMEDIA_ROOT = '{ds}/{ctr}/media'\n"),
    );
    std::fs::create_dir_all(d.join("host").join(media)).unwrap();
    std::fs::create_dir_all(d.join(ctr)).unwrap();
    let child = std::process::Command::new("unshare")
        .args(["-n", "-m", "--propagation", "private", "sh", "-c"])
        .arg(format!(
            "set -e; ip link set lo up; mount -t tmpfs none {ds}/{ctr}; \
             mkdir {ds}/{ctr}/app {ds}/{ctr}/media; \
             mount --bind {ds}/host/{proj} {ds}/{ctr}/app; \
             mount --bind {ds}/host/{media} {ds}/{ctr}/media; cd {ds}/{ctr}/app; \
             exec python3 -m http.server {port} --bind 0.0.0.0"
        ))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start the app");
    let pid = child.id() as i32;
    let app = AppInNamespace(child);
    let listening = format!(":{port:04X} 00000000:0000 0A ");
    support::wait_until(
        &format!("the app (pid {pid}) listening on port {port} in its network namespace"),
        || {
            std::fs::read_to_string(format!("/proc/{pid}/net/tcp"))
                .is_ok_and(|t| t.contains(&listening))
        },
    );
    (app, pid)
}

fn can_unshare_net() -> bool {
    std::process::Command::new("unshare")
        .args(["-n", "-m", "sh", "-c", "ip link set lo up"])
        .status()
        .is_ok_and(|s| s.success())
}

/// nginx (a mount namespace of its own, its /etc/hosts a private file naming `app`) proxies to
/// `http://app:PORT`; the app listens on that port only in a network namespace of its own, as a
/// compose service in its own container. Read from /proc/PID/net/tcp of the other network
/// namespaces: one app server there, no compose label, is the app by port alone (said so), read as it sees itself, and MD302
/// judged through both namespaces' mounts. Two on the same port, in two network namespaces,
/// with no compose label to tell them apart: unknown, both named, none taken.
#[test]
fn an_app_behind_a_service_name_in_another_network_namespace_is_found_by_its_port() {
    if !support::require_root_and_nginx()
        || !support::require(
            can_unshare_net(),
            "needs `unshare -n -m` and `ip` (util-linux, iproute2, CAP_SYS_ADMIN)",
        )
        || !support::require(has_python3(), "needs python3 (the app process)")
    {
        return;
    }
    let run = |apps: usize| -> (Value, String, Vec<i32>, u16) {
        let t = open_tempdir("md-netns-");
        let d = t.path().to_path_buf();
        let ds = d.display().to_string();
        // No process of this machine's network namespace listens on it.
        let port = support::free_port();
        let mut running = Vec::new();
        let mut pids = Vec::new();
        for i in 0..apps {
            let (a, pid) = app_in_network_namespace(
                &d,
                &format!("proj{i}"),
                &format!("actr{i}"),
                "shared",
                port,
            );
            running.push(a);
            pids.push(pid);
        }
        let (nginx, _) = nginx_in_container(
            &format!("{ds}/host/shared"),
            "media",
            &format!("{ds}/host"),
            &format!("app:{port}"),
            |n: &Path| {
                // `app` resolves at load in nginx's namespace only (no interface has it here).
                std::fs::write(n.join("hosts"), "127.0.0.1 localhost\n192.0.2.10 app\n").unwrap();
                std::fs::set_permissions(n.join("hosts"), std::fs::Permissions::from_mode(0o644))
                    .unwrap();
                format!("mount --bind {}/hosts /etc/hosts; ", n.display())
            },
        );
        let r = check_in_namespace(&nginx);
        drop((nginx, running));
        (r, ds, pids, port)
    };

    let (r, ds, pids, port) = run(1);
    let a = &r["site"]["app"];
    assert_eq!(a["dir"], format!("{ds}/host/proj0"), "{:#}", r["site"]);
    assert_eq!(a["running"]["pid"], pids[0], "{a:#}");
    let how = a["running"]["matched"].as_str().unwrap_or_default();
    assert!(
        how.starts_with("matched by port alone, not confirmed")
            && how.contains(&format!(
                "app:{port} is no socket of nginx's network namespace"
            ))
            && how.contains("net:["),
        "{a:#}"
    );
    assert_eq!(
        a["namespace"]["media_root"]["host"],
        format!("{ds}/host/shared"),
        "{a:#}"
    );
    let md302 = result(&r, "MD302");
    assert_eq!(md302["status"], "pass", "{md302:#}");
    let md301 = result(&r, "MD301").to_string();
    // No compose label here: MD301 says the port alone matched it, never a confident match.
    assert!(md301.contains("matched by port alone"), "{md301}");

    // Two app servers on that port in two network namespaces: unknown, both listed.
    let (r, _, pids, port) = run(2);
    assert!(r["site"]["app"].is_null(), "{:#}", r["site"]["app"]);
    let search = r["site"]["app_search"].to_string();
    assert!(
        search.contains(&format!("running app: unknown: app:{port}"))
            && pids
                .iter()
                .all(|p| search.contains(&format!("pid {p} (python3, net:["))),
        "{search}"
    );
    assert_ne!(result(&r, "MD302")["status"], "pass");
}
