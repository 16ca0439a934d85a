//! Shared test support: the CI=true rule, and private nginx instances on 127.0.0.1 as the oracle.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

/// True under CI (`CI=true`), where a test that cannot run must fail instead of skipping.
pub fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Returns whether the test can go on. When it cannot: under CI, panic (the test fails);
/// elsewhere, say why and let the test return early.
///
/// The reason goes straight to the process's stderr, not through `eprintln!`: the harness
/// captures what the print macros write and shows it only for failures, so a skip would read
/// as a plain "ok". Written directly, it appears in the run's output next to the test's name
/// (`SKIPPED fs::x: needs root (...)`), whatever the capture setting.
#[must_use]
pub fn require(ok: bool, what: &str) -> bool {
    if ok {
        return true;
    }
    assert!(!ci(), "cannot run under CI=true: {what}");
    say_skipped(what);
    false
}

/// Says, visibly (see `require`), that the current test skips its work and why. For the few
/// skips that are right even under CI (a corpus that is not beside this checkout).
pub fn say_skipped(what: &str) {
    use std::io::Write;
    let test = std::thread::current()
        .name()
        .unwrap_or("this test")
        .to_string();
    let _ = writeln!(std::io::stderr().lock(), "SKIPPED {test}: {what}");
}

/// The team bench kit, ../shared/bench (its generators make the large configs and trees): the
/// nearest ancestor of the repository that has it.
pub fn bench_dir() -> Option<PathBuf> {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .skip(1)
        .map(|d| d.join("shared/bench"))
        .find(|d| d.join("gen_nginx.py").is_file())
}

pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

pub fn nginx_binary() -> Option<PathBuf> {
    [
        "/usr/sbin/nginx",
        "/usr/local/sbin/nginx",
        "/usr/local/nginx/sbin/nginx",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.is_file())
}

/// Root and nginx, the usual needs of an oracle test.
#[must_use]
pub fn require_root_and_nginx() -> bool {
    require(
        is_root(),
        "needs root (chown, and nginx's `user` directive)",
    ) && require(
        nginx_binary().is_some(),
        "needs nginx (apt-get install nginx-light)",
    )
}

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0")
}

/// A private nginx: its own prefix directory, pid, logs and temp paths; stopped (only its own
/// master, by pid) on drop. `http_body` is placed inside `http {}`; `{PORT}` and `{DIR}` in it are
/// replaced with the instance's port and directory.
pub struct Nginx {
    pub dir: tempfile::TempDir,
    pub port: u16,
    pid: Option<i32>,
    /// Run the master in its own mount namespace (`unshare -m`), after these shell commands
    /// (its mounts): a container without a daemon (`start_in_namespace`).
    namespace_setup: Option<String>,
    /// A moment after the master had started its workers: the config was loaded before it.
    ready: SystemTime,
}

impl Nginx {
    pub fn start(user: &str, http_body: &str) -> Result<Nginx, String> {
        let dir = tempfile::Builder::new()
            .prefix("md-nginx-")
            .tempdir()
            .map_err(|e| e.to_string())?;
        Nginx::start_in(dir, user, http_body, free_port())
    }

    /// `start` on a port chosen beforehand, in a directory prepared beforehand (which holds
    /// the files that `http_body` includes; nginx.conf is written there, as in /etc/nginx).
    pub fn start_in(
        dir: tempfile::TempDir,
        user: &str,
        http_body: &str,
        port: u16,
    ) -> Result<Nginx, String> {
        Nginx::start_with(dir, user, http_body, port, None)
    }

    /// `start_in`, the master in a mount namespace of its own (`unshare -m --propagation
    /// private`) made by `setup` (shell commands: `mount -t tmpfs`, `mount --bind`), as a
    /// container's: its /proc/PID/mountinfo and /proc/PID/root are real, no daemon needed.
    pub fn start_in_namespace(
        dir: tempfile::TempDir,
        user: &str,
        http_body: &str,
        setup: &str,
    ) -> Result<Nginx, String> {
        Nginx::start_with(dir, user, http_body, free_port(), Some(setup.to_string()))
    }

    fn start_with(
        dir: tempfile::TempDir,
        user: &str,
        http_body: &str,
        port: u16,
        namespace_setup: Option<String>,
    ) -> Result<Nginx, String> {
        let d = dir.path().display().to_string();
        for sub in [
            "tmp/body",
            "tmp/proxy",
            "tmp/fastcgi",
            "tmp/uwsgi",
            "tmp/scgi",
            "logs",
        ] {
            std::fs::create_dir_all(dir.path().join(sub)).map_err(|e| e.to_string())?;
        }
        let body = http_body
            .replace("{PORT}", &port.to_string())
            .replace("{DIR}", &d);
        let conf = format!(
            "user {user};\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/logs/error.log info;\n\
             events {{ worker_connections 64; }}\n\
             http {{\n  access_log {d}/logs/access.log;\n  client_body_temp_path {d}/tmp/body;\n\
             proxy_temp_path {d}/tmp/proxy;\n  fastcgi_temp_path {d}/tmp/fastcgi;\n  uwsgi_temp_path {d}/tmp/uwsgi;\n\
             scgi_temp_path {d}/tmp/scgi;\n{body}\n}}\n"
        );
        std::fs::write(dir.path().join("nginx.conf"), conf).map_err(|e| e.to_string())?;
        let mut nginx = Nginx {
            dir,
            port,
            pid: None,
            namespace_setup,
            ready: SystemTime::now(),
        };
        nginx.run_master()?;
        Ok(nginx)
    }

    pub fn conf_path(&self) -> PathBuf {
        self.dir.path().join("nginx.conf")
    }

    pub fn error_log(&self) -> PathBuf {
        self.dir.path().join("logs/error.log")
    }

    pub fn access_log(&self) -> PathBuf {
        self.dir.path().join("logs/access.log")
    }

    /// Requests logged so far (lines of the access log).
    pub fn requests_logged(&self) -> usize {
        std::fs::read(self.access_log()).map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count())
    }

    /// Wait until the access log holds `n` lines. nginx writes it when a request is finished,
    /// after anything the request wrote to the error log: once a request's line is there, its
    /// error-log lines are too.
    pub fn wait_for_requests_logged(&self, n: usize) {
        wait_until(
            &format!("{n} lines in {}", self.access_log().display()),
            || self.requests_logged() >= n,
        );
    }

    fn run_master(&mut self) -> Result<(), String> {
        let bin = nginx_binary().ok_or("nginx is not installed")?;
        let out = match &self.namespace_setup {
            None => Command::new(bin)
                .arg("-p")
                .arg(self.dir.path())
                .arg("-c")
                .arg(self.conf_path())
                .output(),
            // set -e: a mount that fails stops the start (nginx never runs unmounted).
            Some(setup) => Command::new("unshare")
                .args(["-m", "--propagation", "private", "sh", "-c"])
                .arg(format!("set -e; {setup}; exec \"$0\" -p \"$1\" -c \"$2\""))
                .arg(bin)
                .arg(self.dir.path())
                .arg(self.conf_path())
                .output(),
        }
        .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(format!(
                "nginx failed to start: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let pid_file = self.dir.path().join("nginx.pid");
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Some(pid) = std::fs::read_to_string(&pid_file)
                .ok()
                .and_then(|s| s.trim().parse().ok())
            {
                self.pid = Some(pid);
                wait_for_port(self.port)?;
                wait_for_workers(pid)?;
                self.wait_for_start_notices(pid)?;
                self.ready = SystemTime::now();
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Err("nginx wrote no pid file within 5 s".into())
    }

    /// The master logs `start worker process N` after the fork, so a worker can be up before
    /// its line is written: a test that compares the files under the prefix before and after
    /// (the read-only tests) must start once the master has written its start-up lines.
    fn wait_for_start_notices(&self, master: i32) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let log = std::fs::read_to_string(self.error_log()).unwrap_or_default();
            let workers = worker_pids(master);
            if !workers.is_empty()
                && workers
                    .iter()
                    .all(|w| log.contains(&format!("start worker process {w}")))
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "nginx {master} did not log the start of its workers {workers:?} within 5 s"
                ));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Rewrite the config file (without reloading: the running nginx keeps the old one).
    pub fn write_conf(&self, conf: &str) {
        std::fs::write(self.conf_path(), conf).expect("write nginx.conf");
    }

    /// Rewrite the config file and date it certainly later than the running nginx's last load by
    /// more than MD111's tolerance (utimensat, not a sleep past the tolerance). The date counts
    /// from `ready`, taken after the workers (whose start is the load MD111 sees) were up: nginx
    /// writes its pid file and binds its port before it forks them, and on a loaded machine that
    /// fork can come much later.
    pub fn write_conf_after_load(&self, conf: &str) {
        self.write_conf(conf);
        let at = self.ready + media_doctor::system::loaded::TOLERANCE + Duration::from_millis(300);
        set_mtime(&self.conf_path(), at.max(SystemTime::now()));
    }

    /// `write_conf_after_load` for a master in a mount namespace of its own whose nginx.conf
    /// there is not this machine's file: written through /proc/PID/root.
    pub fn write_conf_in_namespace_after_load(&self, conf: &str) {
        let pid = self.pid.expect("running");
        let inside = PathBuf::from(format!("/proc/{pid}/root")).join(
            self.conf_path()
                .strip_prefix("/")
                .expect("an absolute config path"),
        );
        std::fs::write(&inside, conf).expect("write nginx.conf in its namespace");
        let at = self.ready + media_doctor::system::loaded::TOLERANCE + Duration::from_millis(300);
        set_mtime(&inside, at.max(SystemTime::now()));
    }

    /// Reload (SIGHUP) and wait until only new workers are left: an old worker may still
    /// accept a connection until it has exited.
    pub fn reload(&self) {
        let master = self.pid.expect("running");
        // `write_conf_after_load` dates the file ahead; a real edit is older than the reload
        // that follows it, so bring it back to now first.
        let conf = self.conf_path();
        let now = SystemTime::now();
        if media_doctor::system::loaded::changed_at(&conf).is_some_and(|t| t > now) {
            set_mtime(&conf, now);
        }
        let old = worker_pids(master);
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(master),
            nix::sys::signal::Signal::SIGHUP,
        )
        .expect("SIGHUP");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let now = worker_pids(master);
            if !now.is_empty() && now.iter().all(|w| !old.contains(w)) {
                return;
            }
            assert!(Instant::now() < deadline, "nginx {master} did not reload");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn pid(&self) -> Option<i32> {
        self.pid
    }
}

/// Wait until a socket listens on `port`, read from /proc/net/tcp{,6} (state 0A, LISTEN), never
/// by connecting: a connection is one the worker logs at its own moment (`client closed
/// connection while waiting for request`, at info), which could land in error.log after the
/// start-up wait and look like something a tool under test wrote.
fn wait_for_port(port: u16) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if listening(port) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Err(format!(
        "nginx is not listening on 127.0.0.1:{port} after 5 s"
    ))
}

/// Whether a socket of this network namespace listens on `port` (any address).
pub fn listening(port: u16) -> bool {
    let local = format!(":{port:04X}");
    ["/proc/net/tcp", "/proc/net/tcp6"].iter().any(|table| {
        std::fs::read_to_string(table)
            .unwrap_or_default()
            .lines()
            .skip(1)
            .any(|line| {
                // sl local_address rem_address st ...
                let mut w = line.split_whitespace().skip(1);
                let addr = w.next().unwrap_or("");
                let state = w.nth(1).unwrap_or("");
                addr.ends_with(&local) && state == "0A"
            })
    })
}

/// Wait until the master has a worker (nginx forks them after it wrote its pid file).
fn wait_for_workers(master: i32) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if has_worker(master) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Err(format!("nginx {master} started no worker within 5 s"))
}

fn has_worker(master: i32) -> bool {
    !worker_pids(master).is_empty()
}

/// The pids of a master's workers (all of them, old ones finishing a reload included).
pub fn worker_pids(master: i32) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, r)| r.split_whitespace().nth(1)?.parse::<i32>().ok());
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            ppid == Some(master) && cmdline.starts_with(b"nginx: worker process")
        })
        .collect()
}

impl Nginx {
    /// Stop the master (only this instance's, by pid) and wait until it is gone.
    pub fn stop(&mut self) {
        if let Some(pid) = self.pid.take() {
            let pid = nix::unistd::Pid::from_raw(pid);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGQUIT);
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline && nix::sys::signal::kill(pid, None).is_ok() {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Set a file's modification time (and access time) to `t` with utimensat: a test that needs a
/// file newer than an event by some margin dates it, instead of sleeping past the margin.
pub fn set_mtime(path: &Path, t: SystemTime) {
    use nix::sys::stat::{utimensat, UtimensatFlags};
    use nix::sys::time::TimeSpec;
    let since = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("a time after 1970");
    let ts = TimeSpec::from_duration(since);
    utimensat(
        nix::fcntl::AT_FDCWD,
        path,
        &ts,
        &ts,
        UtimensatFlags::FollowSymlink,
    )
    .unwrap_or_else(|e| panic!("utimensat {}: {e}", path.display()));
}

/// Poll (every 5 ms, up to 10 s) until `ready()` holds; panics with `what` when it never does.
/// Tests wait for the event they need (a log line, a process gone), never a fixed time.
pub fn wait_until(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ready() {
        assert!(Instant::now() < deadline, "waited 10 s for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Make every ancestor of `path` traversable by others (0755 adds o+x), as nginx-semantics.md asks
/// for oracle trees: tests decide the permissions below their own root, not the temp dir's.
pub fn open_ancestors(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    for anc in path.ancestors().skip(1) {
        if let Ok(meta) = std::fs::metadata(anc) {
            let mode = meta.permissions().mode();
            if mode & 0o001 == 0 {
                let _ =
                    std::fs::set_permissions(anc, std::fs::Permissions::from_mode(mode | 0o011));
            }
        }
    }
}

/// Send `request` to 127.0.0.1:`port` as written and read the whole answer (HTTP/1.0: the
/// server closes).
pub fn exchange(port: u16, request: &[u8]) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(request).unwrap();
    let mut buf = String::new();
    s.read_to_string(&mut buf).unwrap();
    buf
}

#[test]
fn a_private_nginx_starts_serves_and_stops() {
    if !require_root_and_nginx() {
        return;
    }
    let nginx = Nginx::start(
        "www-data",
        "server { listen 127.0.0.1:{PORT}; return 204; }",
    )
    .expect("start");
    let buf = exchange(nginx.port, b"HEAD / HTTP/1.0\r\n\r\n");
    assert!(buf.starts_with("HTTP/1.1 204"), "{buf}");
    let pid = nginx.pid().unwrap();
    drop(nginx);
    assert!(
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_err(),
        "nginx {pid} still running"
    );
}

/// The start-up wait makes no connection of its own: the first request a test sends is the
/// worker's first connection (`$connection` 1), so nothing the wait did can reach error.log
/// after it (a connect-and-close is logged at info, at the worker's own moment: the flake of
/// `hostile::read_only::md111_on_an_edited_config_creates_nothing`).
#[test]
fn starting_a_private_nginx_connects_to_nothing() {
    if !require_root_and_nginx() {
        return;
    }
    let nginx = Nginx::start(
        "www-data",
        "server { listen 127.0.0.1:{PORT}; return 200 \"$connection\\n\"; }",
    )
    .expect("start");
    let log = std::fs::read_to_string(nginx.error_log()).unwrap();
    let buf = exchange(nginx.port, b"GET / HTTP/1.0\r\n\r\n");
    assert!(buf.ends_with("\r\n\r\n1\n"), "{buf}");
    assert!(!log.contains("client closed connection"), "{log}");
}
