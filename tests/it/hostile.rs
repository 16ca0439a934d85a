//! Hostile input (issue 12): bytes from outside never reach the operator's terminal raw.
//!
//! Each path by which outside text gets into the output is fed ESC, BEL, CR, LF, NUL and invalid
//! UTF-8: a file name found by the scan, config values (alias, server_name), the URL given to
//! `trace`, and an error-log line a real nginx wrote for a real request. The text and github
//! outputs must hold no control byte but the newlines they make themselves; JSON keeps the exact
//! value.

use crate::run::REPO;
use crate::support::{self, Nginx};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::Command;

/// The hostile piece, as nginx decodes `%1b%5d0;X%07%1b%5b2J`: retitle the terminal to X, then
/// clear the screen.
const TITLE_AND_CLEAR: &str = "\x1b]0;X\x07\x1b[2J";

pub struct Raw {
    pub code: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

pub fn media_doctor_raw(args: &[&std::ffi::OsStr]) -> Raw {
    let out = Command::new(env!("CARGO_BIN_EXE_media-doctor"))
        .args(args)
        .current_dir(REPO)
        .env("NO_COLOR", "1")
        .output()
        .expect("run media-doctor");
    Raw {
        code: out.status.code().unwrap_or(-1),
        stdout: out.stdout,
        stderr: out.stderr,
    }
}

fn os(s: &str) -> &std::ffi::OsStr {
    std::ffi::OsStr::new(s)
}

/// No byte a terminal acts on: C0 controls but LF, DEL, and C1 controls (as UTF-8, U+0080–U+009F).
fn assert_no_control_bytes(what: &str, out: &[u8]) {
    let text = String::from_utf8_lossy(out);
    let chars: Vec<char> = text.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        let bad = (c.is_control() && c != '\n') || ('\u{202a}'..='\u{202e}').contains(&c);
        let around: String = chars[i.saturating_sub(80)..(i + 40).min(chars.len())]
            .iter()
            .collect();
        assert!(!bad, "{what}: raw {c:?} at char {i}: ...{around:?}...");
    }
}

/// A --root tree whose names and config values carry control bytes: an unreadable file and an
/// unreadable directory (one not UTF-8) in the media directory, an alias and a server_name with
/// ESC in them.
fn hostile_tree(t: &Path) {
    std::fs::create_dir_all(t.join("etc/nginx")).unwrap();
    std::fs::write(
        t.join("etc/passwd"),
        "root:x:0:0::/root:/bin/sh\nwww-data:x:33:33::/var/www:/bin/false\n",
    )
    .unwrap();
    std::fs::write(t.join("etc/group"), "root:x:0:\nwww-data:x:33:\n").unwrap();
    let conf = format!(
        "user www-data;\nevents {{}}\nhttp {{\n  server {{\n    listen 80;\n    server_name \"evil{TITLE_AND_CLEAR}.example\" site.example;\n\
         \x20   location /media/ {{ alias /srv/media/; }}\n\
         \x20   location /gone/ {{ alias \"/srv/gone{TITLE_AND_CLEAR}\r\nline/\"; }}\n  }}\n}}\n"
    );
    std::fs::write(t.join("etc/nginx/nginx.conf"), conf).unwrap();
    let media = t.join("srv/media");
    std::fs::create_dir_all(&media).unwrap();
    std::fs::write(media.join("ok.jpg"), b"jpg").unwrap();
    let evil = media.join(format!("a{TITLE_AND_CLEAR}\r\n[✓] forged\x08.jpg"));
    std::fs::write(&evil, b"jpg").unwrap();
    let not_utf8 = media.join(std::ffi::OsStr::from_bytes(b"caf\xe9\x1b[8m"));
    std::fs::create_dir(&not_utf8).unwrap();
    std::fs::write(not_utf8.join("b.jpg"), b"jpg").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&evil, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::set_permissions(&not_utf8, std::fs::Permissions::from_mode(0o700)).unwrap();
}

#[test]
fn names_and_config_values_reach_text_and_github_escaped() {
    if !support::require(
        support::is_root(),
        "needs root (files the worker cannot read)",
    ) {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    hostile_tree(t.path());
    let root = t.path().as_os_str();
    for format in ["text", "github"] {
        let o = media_doctor_raw(&[
            os("check"),
            os("--root"),
            root,
            os("--offline"),
            os("--verbose"),
            os("--format"),
            os(format),
        ]);
        assert!(
            o.code == 0 || o.code == 1,
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert_no_control_bytes(format, &o.stdout);
        let text = String::from_utf8_lossy(&o.stdout);
        // The names are still there, shown exactly.
        // (The text output may wrap the name at its space.)
        assert!(
            text.contains("a\\x1b]0;X\\x07\\x1b[2J\\r\\n[✓]") && text.contains("forged\\x08.jpg"),
            "{format}: the file name is not shown escaped:\n{text}"
        );
        assert!(
            !text.contains('\u{fffd}'),
            "{format}: U+FFFD instead of \\xNN:\n{text}"
        );
        // Not UTF-8: its byte shown as \xNN, not as U+FFFD.
        assert!(text.contains("caf\\xe9\\x1b[8m"), "{format}:\n{text}");
        assert!(
            text.contains("/srv/gone\\x1b]0;X\\x07\\x1b[2J\\r\\nline"),
            "{format}:\n{text}"
        );
        assert!(
            !text
                .lines()
                .any(|l| l.trim_start().starts_with("[✓] forged")),
            "{text}"
        );
    }
    // JSON keeps the exact value.
    let o = media_doctor_raw(&[
        os("check"),
        os("--root"),
        root,
        os("--offline"),
        os("--format"),
        os("json"),
    ]);
    let json = String::from_utf8(o.stdout).unwrap();
    // A single value exactly (the alias, in MD201's message); in a list of lines (MD203's files)
    // only the name's line breaks are escaped, the rest exact.
    assert!(
        json.contains(r"/srv/gone\u001b]0;X\u0007\u001b[2J\r\nline"),
        "{json}"
    );
    assert!(
        json.contains(r"a\u001b]0;X\u0007\u001b[2J\\r\\n[✓] forged\b.jpg"),
        "{json}"
    );
}

/// A served directory whose one file has a line break in its name: the name is no sample for
/// a URL (a URL would have to encode it), so MD101's fix is proven on a plain one and printed,
/// and no line of the report is split by it.
#[test]
fn a_line_break_in_a_file_name_neither_splits_a_fix_nor_holds_it_back() {
    // The demo site (its /media/ alias lacks the slash), with that one file in its media.
    let t = tempfile::tempdir().unwrap();
    let ok = Command::new("cp")
        .args(["-a", &format!("{REPO}/fixtures/demo"), "."])
        .current_dir(t.path())
        .status()
        .unwrap()
        .success();
    assert!(ok, "cp -a fixtures/demo");
    let root = t.path().join("demo");
    let media = root.join("var/www/myapp/media");
    std::fs::remove_dir_all(media.join("uploads")).unwrap();
    std::fs::write(media.join("a\nb.jpg"), b"jpg").unwrap();
    let o = media_doctor_raw(&[
        os("check"),
        os("--root"),
        root.as_os_str(),
        os("--site"),
        os("myapp"),
        os("--color"),
        os("never"),
    ]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.code, 1, "{text}");
    assert_no_control_bytes("text", &o.stdout);
    assert!(text.contains("✗ MD101"), "{text}");
    assert!(!text.contains("no edit is printed"), "{text}");
    assert!(text.contains("alias /var/www/myapp/media/;"), "{text}");
    assert!(
        !text.lines().any(|l| l.trim_start().starts_with("b.jpg")),
        "{text}"
    );
}

/// A symlink loop under the root: nginx fails with ELOOP (403) whether `disable_symlinks` is
/// off or `if_not_owner` (the owners alike: nginx follows the link into the loop), and the
/// cause told is the loop; with `on` the link is refused before it is followed (ENOTDIR, 404),
/// and the cause is the directive. A real nginx answers each.
#[test]
fn a_symlink_loop_is_blamed_on_the_loop_not_on_disable_symlinks() {
    if !support::require_root_and_nginx() {
        return;
    }
    for (mode, status, errno, cause) in [
        ("off", 403, "(40: ", "a symlink loop"),
        ("if_not_owner", 403, "(40: ", "a symlink loop"),
        ("on", 404, "(20: ", "disable_symlinks forbids it"),
    ] {
        let nginx = Nginx::start(
            "www-data",
            &format!(
                "server {{ listen 127.0.0.1:{{PORT}}; server_name site.test;\n\
                 root {{DIR}}/html; disable_symlinks {mode}; }}"
            ),
        )
        .expect("nginx");
        let html = nginx.dir.path().join("html");
        std::fs::create_dir_all(&html).unwrap();
        std::os::unix::fs::symlink("selfdir", html.join("selfdir")).unwrap();
        support::open_ancestors(&html.join("x"));
        let answer = {
            use std::io::{Read, Write};
            let mut s = std::net::TcpStream::connect(("127.0.0.1", nginx.port)).unwrap();
            s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
                .unwrap();
            write!(s, "GET /selfdir/a/b HTTP/1.0\r\nHost: site.test\r\n\r\n").unwrap();
            let mut answer = String::new();
            let _ = s.read_to_string(&mut answer);
            answer
        };
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {status}")),
            "{mode}: {answer}"
        );
        nginx.wait_for_requests_logged(1);
        let log = std::fs::read_to_string(nginx.error_log()).unwrap();
        assert!(log.contains(errno), "{mode}: {log}");

        let url = format!("http://site.test:{}/selfdir/a/b", nginx.port);
        let conf = nginx.conf_path();
        let o = media_doctor_raw(&[
            os("trace"),
            os("--offline"),
            os("--nginx-conf"),
            conf.as_os_str(),
            os(&url),
        ]);
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(
            text.contains(&format!("{status} (predicted)")),
            "{mode}: {text}"
        );
        let reason = text.lines().find(|l| l.starts_with("reason")).unwrap_or("");
        assert!(reason.contains(cause), "{mode}: {reason}\n{text}");
    }
}

#[test]
fn a_trace_url_is_shown_escaped() {
    let url = "http://myapp.example.com/media/%1b%5d0;X%07%1b%5b2J%0d%0a%ff%c2%9b.jpg";
    let args = |format: &'static str| {
        vec![
            os("trace"),
            os("--root"),
            os("fixtures/demo"),
            os("--offline"),
            os("--format"),
            os(format),
            os(url),
        ]
    };
    let o = media_doctor_raw(&args("text"));
    assert_eq!(o.code, 0, "{}", String::from_utf8_lossy(&o.stderr));
    assert_no_control_bytes("trace text", &o.stdout);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("\\x1b]0;X\\x07\\x1b[2J\\r\\n"), "{text}");
    // A byte that is not UTF-8 is shown as itself (\xff), not as U+FFFD, in every line.
    assert!(!text.contains('\u{fffd}'), "{text}");
    assert!(
        text.lines()
            .filter(|l| l.starts_with("uri ") || l.starts_with("path "))
            .all(|l| l.contains("\\xff")),
        "{text}"
    );
    let o = media_doctor_raw(&args("json"));
    assert_eq!(o.code, 0, "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        v["uri"].as_str().unwrap().contains(TITLE_AND_CLEAR),
        "JSON keeps the decoded URI exactly: {v}"
    );
}

#[test]
fn an_error_message_on_stderr_is_escaped() {
    let o = media_doctor_raw(&[
        os("check"),
        os("--nginx-conf"),
        os(&format!("/nonexistent/{TITLE_AND_CLEAR}\n.conf")),
        os("--offline"),
    ]);
    assert_eq!(o.code, 2);
    assert_no_control_bytes("stderr", &o.stderr[..o.stderr.len().saturating_sub(1)]);
    assert_eq!(o.stderr.iter().filter(|&&b| b == b'\n').count(), 1);
}

/// A client asks for `/media/%1b%5d0;X%07%1b%5b2J.jpg`; nginx logs the decoded bytes. `check`
/// (MD405 reads the log) and `trace` (the predicted log lines, the live answer) show them
/// escaped.
#[test]
fn an_error_log_line_from_a_real_request_is_shown_escaped() {
    if !support::require_root_and_nginx() {
        return;
    }
    let nginx = Nginx::start(
        "www-data",
        "server { listen 127.0.0.1:{PORT}; server_name site.test;\n\
         location /media/ { alias {DIR}/app/media/; } }",
    )
    .expect("nginx");
    let media = nginx.dir.path().join("app/media");
    std::fs::create_dir_all(&media).unwrap();
    support::open_ancestors(&media.join("x"));
    let path = "/media/%1b%5d0;X%07%1b%5b2J.jpg";
    {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", nginx.port)).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        write!(s, "GET {path} HTTP/1.0\r\nHost: site.test\r\n\r\n").unwrap();
        let mut answer = String::new();
        let _ = s.read_to_string(&mut answer);
        assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
    }
    // The worker writes the error line before the access line that ends the request.
    nginx.wait_for_requests_logged(1);
    let log = std::fs::read(nginx.error_log()).unwrap();
    assert!(
        log.windows(TITLE_AND_CLEAR.len())
            .any(|w| w == TITLE_AND_CLEAR.as_bytes()),
        "nginx did not log the raw bytes: {}",
        String::from_utf8_lossy(&log)
    );
    let conf = nginx.conf_path();
    let o = media_doctor_raw(&[os("check"), os("--nginx-conf"), conf.as_os_str()]);
    assert!(
        o.code == 0 || o.code == 1,
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_no_control_bytes("check with the live error log", &o.stdout);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("MD405"), "{text}");
    assert!(text.contains("\\x1b]0;X\\x07\\x1b[2J.jpg"), "{text}");

    let url = format!("http://site.test:{}{path}", nginx.port);
    let o = media_doctor_raw(&[os("trace"), os("--nginx-conf"), conf.as_os_str(), os(&url)]);
    assert_eq!(o.code, 0, "{}", String::from_utf8_lossy(&o.stderr));
    assert_no_control_bytes("trace with the live answer", &o.stdout);
}

/// A config file whose name is not UTF-8 (an include glob matched it): JSON, SARIF and the trace
/// JSON still come out whole, with the name's bytes as `\xNN` (serde alone refuses such a path).
#[test]
fn a_config_file_name_that_is_not_utf8_does_not_break_json() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    std::fs::create_dir(d.join("conf.d")).unwrap();
    std::fs::write(
        d.join("nginx.conf"),
        format!(
            "events {{}}\nhttp {{ include {}/conf.d/*; }}\n",
            d.display()
        ),
    )
    .unwrap();
    std::fs::write(
        d.join("conf.d")
            .join(std::ffi::OsStr::from_bytes(b"\xff\x1b.conf")),
        "server { listen 80; server_name a.test; location /media/ { alias /nonexistent/; } }\n",
    )
    .unwrap();
    let conf = d.join("nginx.conf");
    for format in ["json", "sarif", "text", "github"] {
        let o = media_doctor_raw(&[
            os("check"),
            os("--nginx-conf"),
            conf.as_os_str(),
            os("--offline"),
            os("--format"),
            os(format),
        ]);
        assert!(
            o.code == 0 || o.code == 1,
            "{format}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let out = String::from_utf8(o.stdout).expect("UTF-8 output");
        if format == "json" {
            assert!(out.contains(r"conf.d/\\xff\u001b.conf"), "{out}");
        }
        if format == "json" || format == "sarif" {
            serde_json::from_str::<serde_json::Value>(&out).expect("whole JSON");
        } else {
            assert_no_control_bytes(format, out.as_bytes());
        }
    }
    let o = media_doctor_raw(&[
        os("trace"),
        os("--nginx-conf"),
        conf.as_os_str(),
        os("--offline"),
        os("--format"),
        os("json"),
        os("http://a.test/media/x.jpg"),
    ]);
    assert_eq!(o.code, 0, "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("whole JSON");
    assert!(
        v["server"]["file"].as_str().unwrap().contains("\\xff"),
        "{v}"
    );
}

/// A config the user cannot read: exit 2, and the cause said once ("Permission denied", not
/// "Permission denied (os error 13): Permission denied (os error 13)").
#[test]
fn an_unreadable_config_says_its_cause_once() {
    if !support::require(support::is_root(), "needs root (to run the tool as nobody)") {
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let t = tempfile::tempdir().unwrap();
    std::fs::set_permissions(t.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let conf = t.path().join("nginx.conf");
    std::fs::write(&conf, "events {}\n").unwrap();
    std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(0o600)).unwrap();
    support::open_ancestors(&conf);
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_media-doctor"))
        .args(["check", "--offline", "--nginx-conf"])
        .arg(&conf)
        .output()
        .expect("setpriv (util-linux)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.matches("Permission denied").count(), 1, "{stderr}");
    assert!(stderr.contains(&conf.display().to_string()), "{stderr}");
}

mod eval_bounds {
    use media_doctor::app::eval::{run_bounded, Bounds};
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    fn sh(script: &str) -> Command {
        let mut c = Command::new("/bin/sh");
        c.arg("-c")
            .arg(script)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    }

    const BOUNDS: Bounds = Bounds {
        time: Duration::from_secs(2),
        memory: 1 << 30,
        output: 1 << 20,
    };

    /// Gone: no such process, or a zombie waiting for init to reap it.
    fn gone(pid: i32) -> bool {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => true,
            Ok(stat) => stat
                .rsplit_once(')')
                .is_some_and(|(_, r)| r.trim_start().starts_with('Z')),
        }
    }

    fn pid_in(file: &std::path::Path) -> i32 {
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            if let Some(pid) = std::fs::read_to_string(file)
                .ok()
                .and_then(|s| s.trim().parse().ok())
            {
                return pid;
            }
            assert!(Instant::now() < deadline, "no pid in {}", file.display());
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Runs `script` (which starts a grandchild holding stdout, writes its pid to the file `{}`
    /// and prints "done") and asserts the run ends at once with the child's output and that the
    /// grandchild did not outlive it.
    fn ends_at_once_leaving_nothing(script: &str) {
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("pid");
        let start = Instant::now();
        let (out, _) = run_bounded(sh(&script.replace("{}", &f.display().to_string())), BOUNDS)
            .expect("the child succeeded");
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "{:?}",
            start.elapsed()
        );
        assert_eq!(out.trim(), "done");
        let pid = pid_in(&f);
        // SIGKILL was sent; the kernel may take a moment to take the process away.
        crate::support::wait_until(&format!("the grandchild {pid} to be gone"), || gone(pid));
    }

    /// The child ends at once but leaves a grandchild holding stdout: the run does not wait for
    /// it, and it is killed.
    #[test]
    fn a_grandchild_holding_stdout_neither_delays_the_run_nor_survives_it() {
        ends_at_once_leaving_nothing("sleep 60 & echo $! > {}; echo done");
    }

    /// A grandchild that left the process group (`setsid`, as a daemon does) and holds stdout is
    /// found by the run's mark and killed: the run ends at once, and nothing outlives it.
    #[test]
    fn a_grandchild_that_called_setsid_is_killed_too() {
        ends_at_once_leaving_nothing("setsid sleep 60 & echo $! > {}; echo done");
    }

    /// The child overruns with a grandchild holding stdout: the whole group is killed at the
    /// limit, and the run ends within the limit + 1 s.
    #[test]
    fn at_the_time_limit_the_whole_group_is_killed() {
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("pid");
        let start = Instant::now();
        let r = run_bounded(
            sh(&format!("sleep 60 & echo $! > {}; sleep 60", f.display())),
            BOUNDS,
        );
        let took = start.elapsed();
        let err = r.expect_err("overran");
        assert!(
            err.to_string().contains("did not finish within 2 s"),
            "{err}"
        );
        assert!(took < BOUNDS.time + Duration::from_secs(1), "{took:?}");
        let pid = pid_in(&f);
        // SIGKILL was sent; the kernel may take a moment to take the process away.
        crate::support::wait_until(&format!("the grandchild {pid} to be gone"), || gone(pid));
    }

    /// Past the memory limit, the app's python gets MemoryError, not the machine's memory.
    #[test]
    fn the_child_cannot_allocate_past_the_memory_limit() {
        if !crate::support::require(
            Command::new("python3").arg("-V").output().is_ok(),
            "needs python3",
        ) {
            return;
        }
        let mut c = Command::new("python3");
        c.args(["-c", "b = bytearray(2 << 30); print('allocated')"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let (out, err) = run_bounded(c, BOUNDS).expect("python ends by itself");
        assert!(!out.contains("allocated"), "{out}");
        assert!(err.contains("MemoryError"), "{err}");
    }
}

mod bounded_input {
    use super::{media_doctor_raw, os};
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    fn assert_refused(what: &str, o: &super::Raw, started: Instant) {
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.code, 2, "{what}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{what}: {stderr}");
        assert!(stderr.contains("--max-config-bytes"), "{what}: {stderr}");
        assert!(started.elapsed() < Duration::from_secs(10), "{what}");
    }

    /// A 4 GB config (sparse: no disk used) is refused from its size: exit 2, not an
    /// allocation abort; a smaller --max-config-bytes refuses a small one too.
    #[test]
    fn a_config_over_the_limit_is_exit_2() {
        let t = tempfile::tempdir().unwrap();
        let big = t.path().join("nginx.conf");
        std::fs::File::create(&big)
            .unwrap()
            .set_len(4 << 30)
            .unwrap();
        let start = Instant::now();
        let o = media_doctor_raw(&[
            os("check"),
            os("--offline"),
            os("--nginx-conf"),
            big.as_os_str(),
        ]);
        assert_refused("4 GB config", &o, start);
        let small = t.path().join("small.conf");
        std::fs::write(&small, "events {}\nhttp { server { listen 80; } }\n").unwrap();
        let o = media_doctor_raw(&[
            os("trace"),
            os("--offline"),
            os("--max-config-bytes"),
            os("10"),
            os("--nginx-conf"),
            small.as_os_str(),
            os("http://a.test/"),
        ]);
        assert_refused("--max-config-bytes 10", &o, start);
    }

    /// A settings module over the limit, met deep in app discovery, ends the run with exit 2
    /// naming that file: the app it belongs to could not be judged.
    #[test]
    fn a_settings_module_over_the_limit_is_refused_by_name() {
        let t = tempfile::tempdir().unwrap();
        let app = t.path().join("shop");
        std::fs::create_dir_all(app.join("shop")).unwrap();
        std::fs::write(
            app.join("manage.py"),
            "import os\nos.environ.setdefault('DJANGO_SETTINGS_MODULE', 'shop.settings')\n",
        )
        .unwrap();
        std::fs::write(app.join("shop/__init__.py"), "").unwrap();
        let padding = "# padding\n".repeat(2000);
        std::fs::write(
            app.join("shop/settings.py"),
            format!("MEDIA_URL = '/media/'\nMEDIA_ROOT = '/srv/media'\n{padding}"),
        )
        .unwrap();
        let conf = t.path().join("nginx.conf");
        std::fs::write(
            &conf,
            "events {}\nhttp { server { listen 80; location /media/ { alias /srv/media/; } } }\n",
        )
        .unwrap();
        let start = Instant::now();
        let o = media_doctor_raw(&[
            os("check"),
            os("--offline"),
            os("--max-config-bytes"),
            os("4096"),
            os("--app"),
            app.as_os_str(),
            os("--nginx-conf"),
            conf.as_os_str(),
        ]);
        assert_refused("settings.py", &o, start);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(stderr.contains("settings.py"), "{stderr}");
    }

    /// Endless input, from a device or from stdin, stops at the limit.
    #[test]
    fn an_endless_dump_is_refused_at_the_limit() {
        let start = Instant::now();
        let o = media_doctor_raw(&[
            os("check"),
            os("--offline"),
            os("--max-config-bytes"),
            os("1000000"),
            os("--nginx-dump"),
            os("/dev/zero"),
        ]);
        assert_refused("/dev/zero", &o, start);
        let out = Command::new(env!("CARGO_BIN_EXE_media-doctor"))
            .args([
                "check",
                "--offline",
                "--max-config-bytes",
                "1000000",
                "--nginx-dump",
                "-",
            ])
            .stdin(std::fs::File::open("/dev/zero").unwrap())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        let o = super::Raw {
            code: out.status.code().unwrap_or(-1),
            stdout: out.stdout,
            stderr: out.stderr,
        };
        assert_refused("stdin from /dev/zero", &o, start);
    }

    /// A FIFO with no writer, as the dump or as the config: the run does not wait for a writer.
    #[test]
    fn a_fifo_with_no_writer_does_not_hang() {
        let t = tempfile::tempdir().unwrap();
        let fifo = t.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        for option in ["--nginx-dump", "--nginx-conf"] {
            let start = Instant::now();
            let o = media_doctor_raw(&[os("check"), os("--offline"), os(option), fifo.as_os_str()]);
            assert_eq!(
                o.code,
                2,
                "{option}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            assert!(start.elapsed() < Duration::from_secs(5), "{option} waited");
        }
        // A config whose `pid` is that FIFO: MD111 reads the pid file without waiting.
        let conf = t.path().join("nginx.conf");
        std::fs::write(
            &conf,
            format!(
                "pid {};\nevents {{}}\nhttp {{ server {{ listen 127.0.0.1:1; }} }}\n",
                fifo.display()
            ),
        )
        .unwrap();
        let start = Instant::now();
        let o = media_doctor_raw(&[
            os("check"),
            os("--select"),
            os("MD111"),
            os("--nginx-conf"),
            conf.as_os_str(),
        ]);
        assert!(
            o.code == 0 || o.code == 1,
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the pid FIFO was waited on"
        );
    }
}

/// A stream whose writer holds it open and never writes (or stops writing) is given up after
/// `--input-timeout`: exit 2 naming it, how long it waited and what came; one that only takes
/// a while to start (`nginx -T` reads the whole config before it prints) is waited for.
mod silent_writers {
    use super::{media_doctor_raw, os};
    use std::io::Write;
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    const DUMP: &str =
        "# configuration file /etc/nginx/nginx.conf:\nevents {}\nhttp { server { listen 80; } }\n";

    fn fifo(dir: &std::path::Path) -> std::path::PathBuf {
        let fifo = dir.join("dump.fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        fifo
    }

    /// Held open for reading and writing (a FIFO opened so never blocks): a writer that is
    /// there, and writes only what the test writes.
    fn hold(fifo: &std::path::Path) -> std::fs::File {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(fifo)
            .unwrap()
    }

    fn assert_given_up(what: &str, o: &super::Raw, start: Instant, names: &str, came: &str) {
        let took = start.elapsed();
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.code, 2, "{what}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{what}: {stderr}");
        assert!(stderr.contains(names), "{what}: {stderr}");
        assert!(stderr.contains(came), "{what}: {stderr}");
        assert!(stderr.contains("--input-timeout"), "{what}: {stderr}");
        assert!(
            took >= Duration::from_secs(2) && took < Duration::from_secs(10),
            "{what}: {took:?}"
        );
    }

    /// `check --nginx-dump FIFO` that gives up after 2 s without a byte.
    fn check_dump_waiting_2_s(fifo: &std::path::Path) -> super::Raw {
        media_doctor_raw(&[
            os("check"),
            os("--offline"),
            os("--input-timeout"),
            os("2"),
            os("--nginx-dump"),
            fifo.as_os_str(),
        ])
    }

    #[test]
    fn a_fifo_whose_writer_never_writes_is_given_up() {
        let t = tempfile::tempdir().unwrap();
        let fifo = fifo(t.path());
        let _writer = hold(&fifo);
        let start = Instant::now();
        let o = check_dump_waiting_2_s(&fifo);
        let name = format!("--nginx-dump {}", fifo.display());
        assert_given_up("silent FIFO", &o, start, &name, "nothing came in 2 s");
    }

    #[test]
    fn a_fifo_whose_writer_stops_says_what_came() {
        let t = tempfile::tempdir().unwrap();
        let fifo = fifo(t.path());
        let mut writer = hold(&fifo);
        writer.write_all(&DUMP.as_bytes()[..44]).unwrap();
        let start = Instant::now();
        let o = check_dump_waiting_2_s(&fifo);
        let came = "44 bytes came, then nothing for 2 s";
        assert_given_up("FIFO stopped", &o, start, &fifo.display().to_string(), came);
    }

    /// stdin from a pipe whose writer never writes nor closes.
    fn on_stdin(
        timeout: &str,
        feed: impl FnOnce(std::process::ChildStdin) + Send + 'static,
    ) -> super::Raw {
        let mut child = Command::new(env!("CARGO_BIN_EXE_media-doctor"))
            .args([
                "check",
                "--offline",
                "--input-timeout",
                timeout,
                "--nginx-dump",
                "-",
            ])
            .env("NO_COLOR", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let feeder = std::thread::spawn(move || feed(stdin));
        let out = child.wait_with_output().unwrap();
        feeder.join().unwrap();
        super::Raw {
            code: out.status.code().unwrap_or(-1),
            stdout: out.stdout,
            stderr: out.stderr,
        }
    }

    #[test]
    fn stdin_whose_writer_never_writes_is_given_up() {
        let start = Instant::now();
        let o = on_stdin("2", |stdin| {
            // Held open past the timeout, never written.
            std::thread::sleep(Duration::from_secs(4));
            drop(stdin);
        });
        assert_given_up("stdin", &o, start, "from stdin", "nothing came in 2 s");
    }

    /// `nginx -T | media-doctor check --nginx-dump -`: nothing for a while (nginx reading the
    /// config), then the dump in pieces, each within the timeout: read whole.
    #[test]
    fn a_slow_start_within_the_timeout_is_waited_for() {
        let start = Instant::now();
        let o = on_stdin("3", |mut stdin| {
            std::thread::sleep(Duration::from_millis(1500));
            for piece in DUMP.as_bytes().chunks(20) {
                stdin.write_all(piece).unwrap();
                std::thread::sleep(Duration::from_millis(300));
            }
        });
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(o.code == 0 || o.code == 1, "{stderr}");
        assert!(stderr.is_empty(), "{stderr}");
        let stdout = String::from_utf8_lossy(&o.stdout);
        assert!(stdout.contains("Summary:"), "{stdout}");
        assert!(start.elapsed() < Duration::from_secs(15));
    }
}

/// A config of 500,000 `{` (or `}`, or `alias /x;` where it may not be) is read in linear
/// time, and its report is bounded: the first errors of the file, located (the very first is
/// what `nginx -t` reports), then one that counts the rest, in text and in JSON.
#[test]
fn a_config_of_500000_errors_is_fast_and_reported_in_kilobytes() {
    use std::time::{Duration, Instant};
    let t = tempfile::tempdir().unwrap();
    let cases = [
        ("braces", "{".repeat(500_000), "unexpected \"{\"", (1, 1)),
        ("closing", "}".repeat(500_000), "unexpected \"}\"", (1, 1)),
        (
            "aliases",
            "alias /x;\n".repeat(200_000),
            "\"alias\" directive is duplicate",
            (2, 1),
        ),
    ];
    for (what, text, first, at) in cases {
        let conf = t.path().join(format!("{what}.conf"));
        std::fs::write(&conf, text).unwrap();
        for format in ["text", "json"] {
            let start = Instant::now();
            let o = media_doctor_raw(&[
                os("check"),
                os("--offline"),
                os("--format"),
                os(format),
                os("--nginx-conf"),
                conf.as_os_str(),
            ]);
            let took = start.elapsed();
            let stderr = String::from_utf8_lossy(&o.stderr);
            assert_eq!(o.code, 1, "{what} {format}: {stderr}");
            assert!(took < Duration::from_secs(10), "{what} {format}: {took:?}");
            assert!(
                o.stdout.len() < 64 << 10,
                "{what} {format}: {} bytes",
                o.stdout.len()
            );
            let stdout = String::from_utf8_lossy(&o.stdout);
            if format == "text" {
                assert!(stdout.contains(first), "{what}: {stdout}");
                assert!(
                    stdout.contains("more error(s) in this file, not listed"),
                    "{what}: {stdout}"
                );
                continue;
            }
            let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
            let md100 = report["checks"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["id"] == "MD100")
                .unwrap();
            let findings = md100["findings"].as_array().unwrap();
            let head = &findings[0];
            assert_eq!(head["message"], first, "{what}");
            let loc = &head["location"];
            assert_eq!(
                (loc["line"].as_u64(), loc["column"].as_u64()),
                (Some(at.0), Some(at.1)),
                "{what}"
            );
            assert_eq!(loc["file"], conf.display().to_string());
            let last = findings.last().unwrap();
            let message = last["message"].as_str().unwrap();
            assert!(
                message.contains("more error(s) in this file"),
                "{what}: {message}"
            );
            let rest: u64 = last["evidence"][0]["value"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap();
            assert_eq!(last["evidence"][0]["label"], "not listed");
            assert!(message.contains(&rest.to_string()), "{what}: {message}");
            assert!(findings.len() <= 101, "{what}: {}", findings.len());
            assert!(rest + findings.len() as u64 > 100_000, "{what}: {rest}");
        }
        // trace names the first and counts every other one, listed or not.
        let o = media_doctor_raw(&[
            os("trace"),
            os("--offline"),
            os("--nginx-conf"),
            conf.as_os_str(),
            os("http://a.test/"),
        ]);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.code, 2, "{what}: {stderr}");
        assert!(stderr.contains(first), "{what}: {stderr}");
        assert!(stderr.contains("more error(s)"), "{what}: {stderr}");
    }
}

/// `trace` on a config nginx would refuse: exit 2 with the error's file:line, never a
/// confident prediction.
#[test]
fn trace_on_a_config_that_does_not_load_is_exit_2_with_the_place() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    std::fs::create_dir(d.join("a_dir")).unwrap();
    let head = "events {}\nhttp {\n  server { listen 80; server_name a.test; location /media/ { alias /srv/m/; } }\n";
    let cases: Vec<(&str, String)> = vec![
        (
            "include loop",
            format!("{head}  include {}/loop.conf;\n}}\n", d.display()),
        ),
        (
            "unterminated quote",
            format!("{head}  server_name \"a.test;\n}}\n"),
        ),
        (
            "unbalanced braces",
            format!("{head}  server {{ listen 81;\n"),
        ),
        (
            "a directory as an include",
            format!("{head}  include {}/a_dir;\n}}\n", d.display()),
        ),
    ];
    std::fs::write(
        d.join("loop.conf"),
        format!("include {}/loop.conf;\n", d.display()),
    )
    .unwrap();
    for (what, text) in cases {
        let conf = d.join("nginx.conf");
        std::fs::write(&conf, text).unwrap();
        let o = media_doctor_raw(&[
            os("trace"),
            os("--offline"),
            os("--nginx-conf"),
            conf.as_os_str(),
            os("http://a.test/media/x.jpg"),
        ]);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.code, 2, "{what}: {stderr}");
        assert!(o.stdout.is_empty(), "{what}: a prediction was printed");
        assert!(stderr.contains("does not load"), "{what}: {stderr}");
        let located = stderr.match_indices(".conf:").any(|(i, _)| {
            stderr[i + 6..]
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_digit())
        });
        assert!(located, "{what}: no file:line in {stderr}");
    }
}

/// The read-only promise where it was broken: a running master with an edited, unreloaded config
/// (MD111's case) naming a new log file and a new temp directory. `check` must not make nginx
/// create them (it used to run `nginx -T`), and no run writes anything: proven by the files
/// under the nginx prefix, and by strace on every system call that could write.
mod read_only {
    use super::os;
    use crate::support::{self, Nginx};
    use std::collections::BTreeMap;
    use std::os::unix::fs::MetadataExt;
    use std::path::{Path, PathBuf};
    use std::process::Command;

    /// Every entry under `dir`: (mode, size, mtime). `except` (the running nginx's own logs,
    /// which it writes when the live checks probe it) is left out.
    fn snapshot(dir: &Path, except: &[PathBuf]) -> BTreeMap<PathBuf, (u32, u64, i64, i64)> {
        walkdir::WalkDir::new(dir)
            .into_iter()
            .map(|e| e.expect("walk"))
            .filter(|e| !except.iter().any(|x| x == e.path()))
            .map(|e| {
                let m = e.path().symlink_metadata().expect("lstat");
                (
                    e.path().to_path_buf(),
                    (m.mode(), m.size(), m.mtime(), m.mtime_nsec()),
                )
            })
            .collect()
    }

    /// A master running one config, then that config edited (not reloaded) to name a log file
    /// and a temp directory that do not exist yet (the temp path in the server: http {} has one
    /// already, and nginx -t refuses a second, `"client_body_temp_path" directive is duplicate`).
    fn stale_master() -> Nginx {
        let nginx = Nginx::start(
            "www-data",
            "server { listen 127.0.0.1:{PORT}; server_name site.test;\n\
             location /media/ { alias {DIR}/app/media/; } }",
        )
        .expect("nginx");
        let media = nginx.dir.path().join("app/media");
        std::fs::create_dir_all(&media).unwrap();
        std::fs::write(media.join("a.jpg"), b"jpg").unwrap();
        support::open_ancestors(&media.join("a.jpg"));
        let d = nginx.dir.path().display().to_string();
        let conf = std::fs::read_to_string(nginx.conf_path()).unwrap();
        nginx.write_conf_after_load(&conf.replace(
            "server { listen",
            &format!(
                "error_log {d}/logs/new-error.log;\n access_log {d}/logs/new-access.log;\n\
                 server {{ client_body_temp_path {d}/tmp/new-body;\n listen"
            ),
        ));
        nginx
    }

    fn json(out: &std::process::Output) -> serde_json::Value {
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stderr)))
    }

    #[test]
    fn md111_on_an_edited_config_creates_nothing() {
        if !support::require_root_and_nginx() {
            return;
        }
        let nginx = stale_master();
        let conf = nginx.conf_path();
        let logs = [
            nginx.dir.path().join("logs/access.log"),
            nginx.dir.path().join("logs/error.log"),
        ];
        let before = snapshot(nginx.dir.path(), &[]);
        let out = Command::new(env!("CARGO_BIN_EXE_media-doctor"))
            .args([
                "check",
                "--select",
                "MD111",
                "--format",
                "json",
                "--nginx-conf",
            ])
            .arg(&conf)
            .output()
            .unwrap();
        let report = json(&out);
        let md111 = report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == "MD111")
            .unwrap();
        assert_eq!(md111["status"], "fail", "{md111:#}");
        assert_eq!(
            before,
            snapshot(nginx.dir.path(), &[]),
            "MD111 changed files under the prefix"
        );
        assert!(!nginx.dir.path().join("logs/new-error.log").exists());
        assert!(!nginx.dir.path().join("tmp/new-body").exists());

        // A whole live check and a live trace: only the running nginx's own logs change (the
        // probes are requests it logs).
        let before = snapshot(nginx.dir.path(), &logs);
        let url = format!("http://site.test:{}/media/a.jpg", nginx.port);
        for args in [
            vec![os("check"), os("--nginx-conf"), conf.as_os_str()],
            vec![os("trace"), os("--nginx-conf"), conf.as_os_str(), os(&url)],
        ] {
            let o = super::media_doctor_raw(&args);
            assert!(
                o.code == 0 || o.code == 1,
                "{}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
        assert_eq!(before, snapshot(nginx.dir.path(), &logs));
    }

    /// System calls that change the filesystem, for strace.
    const WRITES: &str = "open,openat,openat2,creat,mkdir,mkdirat,unlink,unlinkat,rmdir,rename,\
        renameat,renameat2,chmod,fchmod,fchmodat,chown,fchown,lchown,fchownat,utimensat,utimes,\
        utime,futimesat,link,linkat,symlink,symlinkat,truncate,ftruncate,mknod,mknodat,setxattr,\
        lsetxattr,fsetxattr,removexattr,lremovexattr,fremovexattr";

    /// The successful calls in an strace log that wrote to the filesystem: an open for writing
    /// or creating, or any other call of WRITES that did not fail. /dev/null is allowed (a
    /// child's stdin/stdout).
    fn writes_in(log: &str) -> Vec<String> {
        log.lines()
            .filter(|l| !l.contains(" = -1 ") && !l.contains("\"/dev/null\""))
            .filter(|l| {
                let call = l
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or("")
                    .split('(')
                    .next()
                    .unwrap_or("");
                match call {
                    "open" | "openat" | "openat2" => ["O_WRONLY", "O_RDWR", "O_CREAT", "O_TRUNC"]
                        .iter()
                        .any(|f| l.contains(f)),
                    "" => false,
                    c => WRITES.split(',').any(|w| w.trim() == c),
                }
            })
            .map(str::to_string)
            .collect()
    }

    fn traced(args: &[&std::ffi::OsStr]) -> Vec<String> {
        let t = tempfile::tempdir().unwrap();
        let log = t.path().join("strace.log");
        // -ff: one log per process, so no call is split into "unfinished" and "resumed" halves.
        let out = Command::new("strace")
            .args(["-ff", "-qq", "-e"])
            .arg(format!("trace={}", WRITES.replace(char::is_whitespace, "")))
            .arg("-o")
            .arg(&log)
            .arg(env!("CARGO_BIN_EXE_media-doctor"))
            .args(args)
            .current_dir(crate::run::REPO)
            .output()
            .expect("strace");
        let code = out.status.code().unwrap_or(-1);
        assert!(
            code == 0 || code == 1,
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut logs = String::new();
        for e in std::fs::read_dir(t.path()).unwrap() {
            let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
            // Each line gets a pid-like first field, as writes_in expects.
            for l in text.lines() {
                logs.push_str("0 ");
                logs.push_str(l);
                logs.push('\n');
            }
        }
        assert!(logs.contains("openat("), "strace logged nothing");
        writes_in(&logs)
    }

    #[test]
    fn no_write_syscall_in_check_or_trace() {
        if !support::require(
            support::is_root() && Command::new("strace").arg("-V").output().is_ok(),
            "needs root and strace (apt-get install strace)",
        ) {
            return;
        }
        // The detector finds a write when there is one.
        assert_eq!(
            writes_in(
                "12 openat(AT_FDCWD, \"/x\", O_WRONLY|O_CREAT|O_CLOEXEC, 0666) = 3\n\
                 12 mkdir(\"/y\", 0777) = 0\n12 mkdir(\"/z\", 0777) = -1 EEXIST (File exists)\n\
                 12 openat(AT_FDCWD, \"/w\", O_RDONLY) = 3\n"
            )
            .len(),
            2
        );
        let demo = [
            vec![os("check"), os("--root"), os("fixtures/demo")],
            vec![
                os("trace"),
                os("--root"),
                os("fixtures/demo"),
                os("http://myapp.example.com/media/a.jpg"),
            ],
        ];
        for args in &demo {
            let w = traced(args);
            assert!(w.is_empty(), "{args:?} wrote:\n{}", w.join("\n"));
        }
        if !support::require_root_and_nginx() {
            return;
        }
        let nginx = stale_master();
        let conf = nginx.conf_path();
        let url = format!("http://site.test:{}/media/a.jpg", nginx.port);
        for args in [
            vec![os("check"), os("--nginx-conf"), conf.as_os_str()],
            vec![os("trace"), os("--nginx-conf"), conf.as_os_str(), os(&url)],
        ] {
            let w = traced(&args);
            assert!(w.is_empty(), "{args:?} wrote:\n{}", w.join("\n"));
        }
    }
}

/// The settings reader on hostile settings: deep nesting is "too deeply nested at file:line:col"
/// (no stack overflow, no abort), and a 5,000-link attribute chain is read in a loop, fast.
mod deep_settings {
    use super::{media_doctor_raw, os};
    use std::time::{Duration, Instant};

    /// A Django project whose settings.py is `settings`, checked offline: the report's app.
    fn app_of(settings: &str) -> (serde_json::Value, Duration) {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        std::fs::create_dir(d.join("proj")).unwrap();
        std::fs::write(d.join("proj/__init__.py"), "").unwrap();
        std::fs::write(d.join("proj/settings.py"), settings).unwrap();
        std::fs::write(
            d.join("manage.py"),
            "import os\nos.environ.setdefault('DJANGO_SETTINGS_MODULE', 'proj.settings')\n",
        )
        .unwrap();
        std::fs::write(
            d.join("n.conf"),
            "events {}\nhttp { server { listen 80; location /media/ { alias /srv/m/; } } }\n",
        )
        .unwrap();
        let start = Instant::now();
        let o = media_doctor_raw(&[
            os("check"),
            os("--offline"),
            os("--format"),
            os("json"),
            os("--nginx-conf"),
            d.join("n.conf").as_os_str(),
            os("--app"),
            d.as_os_str(),
        ]);
        let took = start.elapsed();
        assert!(
            o.code == 0 || o.code == 1,
            "exit {} (134 is an abort): {}",
            o.code,
            String::from_utf8_lossy(&o.stderr)
        );
        let report: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
        (report["site"]["app"].clone(), took)
    }

    fn problems(app: &serde_json::Value) -> String {
        app["problems"].to_string()
    }

    #[test]
    fn str_of_str_4000_deep_is_too_deeply_nested() {
        let n = 4000;
        let (app, _) = app_of(&format!(
            "MEDIA_ROOT = {}'/srv/m'{}\nMEDIA_URL = '/media/'\n",
            "str(".repeat(n),
            ")".repeat(n)
        ));
        let why = app["media_root"]["why"].as_str().unwrap_or_default();
        assert!(why.contains("too deeply nested at "), "{app:#}");
        assert!(why.contains("settings.py:1:"), "{why}");
        assert!(problems(&app).contains("too deeply nested at "), "{app:#}");
        // What is not nested is still read.
        assert_eq!(app["media_url"]["value"], "/media/", "{app:#}");
    }

    #[test]
    fn parentheses_and_lists_20000_deep_do_not_overflow() {
        let n = 20000;
        for (open, close) in [("(", ")"), ("[", "]")] {
            let (app, _) = app_of(&format!(
                "X = {}1{}\nMEDIA_ROOT = '/srv/m'\nMEDIA_URL = '/media/'\n",
                open.repeat(n),
                close.repeat(n)
            ));
            assert!(problems(&app).contains("too deeply nested at "), "{app:#}");
            assert_eq!(app["media_root"]["value"], "/srv/m", "{app:#}");
        }
    }

    #[test]
    fn statements_3000_deep_do_not_overflow() {
        let n = 3000;
        let nested: String = (0..n)
            .map(|i| format!("{}if True:\n", " ".repeat(i)))
            .collect();
        let (app, _) = app_of(&format!(
            "{nested}{}X = 1\nMEDIA_ROOT = '/srv/m'\n",
            " ".repeat(n)
        ));
        assert!(problems(&app).contains("too deeply nested at "), "{app:#}");
        assert_eq!(app["media_root"]["value"], "/srv/m", "{app:#}");
    }

    #[test]
    fn an_attribute_chain_of_5000_links_is_fast_and_says_why() {
        let (app, took) = app_of(&format!(
            "MEDIA_ROOT = os{}\nMEDIA_URL = '/media/'\n",
            ".path".repeat(5000)
        ));
        let why = app["media_root"]["why"].as_str().unwrap_or_default();
        assert!(why.ends_with("os is not defined here"), "{why}");
        assert!(
            why.len() < 400,
            "the reason grew with the chain: {} bytes",
            why.len()
        );
        // The expression as written is shown by its first 200 bytes (MD301's evidence, MD302's
        // reason to skip), not by its 25,000.
        let expr = app["media_root"]["expr"].as_str().unwrap_or_default();
        assert!(expr.len() < 210 && expr.ends_with('…'), "{expr}");
        // Was > 60 s (cubic); the whole debug-build run, parse included, takes well under this.
        assert!(took < Duration::from_secs(10), "{took:?}");
    }

    #[test]
    fn call_chains_are_cut_not_overflowed() {
        for chain in [
            "f".to_string() + &"()".repeat(5000),
            "a".to_string() + &".b()".repeat(5000),
        ] {
            let (app, took) = app_of(&format!("MEDIA_ROOT = {chain}\nMEDIA_URL = '/media/'\n"));
            assert_eq!(app["media_root"]["state"], "unknown", "{app:#}");
            assert!(took < Duration::from_secs(10), "{took:?}");
        }
    }
}
