//! The command-line contract: exit codes, the JSON shape, and the demo site's real checklist.

use crate::run::{media_doctor, Output};
use serde_json::Value;

/// The demo sysroot, relative to the repository top where `media_doctor` runs.
fn demo() -> String {
    "fixtures/demo".into()
}

fn stderr(o: &Output) -> String {
    o.stderr.clone()
}

#[test]
fn bad_arguments_exit_2_with_one_line() {
    let o = media_doctor(&["check", "--format", "yaml"]);
    assert_eq!(Some(o.code), Some(2));
    let o = media_doctor(&["check", "--root", "/nonexistent/sysroot"]);
    assert_eq!(Some(o.code), Some(2));
    assert_eq!(stderr(&o).trim().lines().count(), 1, "{}", stderr(&o));
    assert!(stderr(&o).contains("/nonexistent/sysroot"));
}

#[test]
fn unreadable_main_config_exits_2() {
    let tmp = tempfile::tempdir().unwrap();
    let o = media_doctor(&["check", "--root", tmp.path().to_str().unwrap()]);
    assert_eq!(Some(o.code), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("/etc/nginx/nginx.conf"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn json_report_follows_the_contract() {
    let o = media_doctor(&[
        "check",
        "--root",
        &demo(),
        "--site",
        "myapp",
        "--offline",
        "--format",
        "json",
    ]);
    let v: Value = serde_json::from_str(&o.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", stderr(&o)));
    assert_eq!(v["schema_version"], 1);
    assert_eq!(v["tool"]["name"], "media-doctor");
    assert!(v["site"].is_object());
    let checks = v["checks"].as_array().unwrap();
    assert!(!checks.is_empty());
    let mut counted = std::collections::HashMap::new();
    for c in checks {
        let status = c["status"].as_str().unwrap();
        assert!(["pass", "warn", "fail", "skip", "error"].contains(&status));
        *counted.entry(status.to_string()).or_insert(0u64) += 1;
        assert!(c["id"].as_str().unwrap().starts_with("MD"));
        assert!(c["summary"].is_string());
        for f in c["findings"].as_array().unwrap() {
            assert!(["error", "warning", "info"].contains(&f["severity"].as_str().unwrap()));
            assert!(f["message"].is_string());
            assert!(
                f["location"].is_null()
                    || (f["location"]["file"].is_string() && f["location"]["line"].is_u64())
            );
            assert!(f["evidence"].is_array());
            assert!(f["remediation"].is_null() || f["remediation"]["commands"].is_array());
        }
    }
    for status in ["pass", "warn", "fail", "skip", "error"] {
        assert_eq!(
            v["summary"][status].as_u64().unwrap(),
            counted.get(status).copied().unwrap_or(0),
            "{status}"
        );
    }
    // The demo is broken on purpose: the exit code says so.
    assert_eq!(Some(o.code), Some(1));
}

#[test]
fn fail_on_never_exits_0_on_the_broken_demo() {
    let o = media_doctor(&[
        "check",
        "--root",
        &demo(),
        "--site",
        "myapp",
        "--offline",
        "--fail-on",
        "never",
    ]);
    assert_eq!(Some(o.code), Some(0), "{}", stderr(&o));
}

#[test]
fn demo_checklist_shows_failures_with_fixes() {
    let o = media_doctor(&["check", "--root", &demo(), "--site", "myapp", "--offline"]);
    let text = o.stdout.as_str();
    // What to do comes first, each cause with its fix; the checks and the summary follow.
    assert!(text.starts_with("What to do, in order ("), "{text}");
    let summary = text
        .lines()
        .position(|l| l.starts_with("Summary:"))
        .expect("a summary line");
    let chown = text
        .lines()
        .position(|l| l.contains("sudo chown -R deploy:www-data /var/www/myapp/media"))
        .expect("MD204's fix");
    assert!(chown < summary, "{text}");
    assert!(text.contains("fix:"), "{text}");
    assert!(text.contains("  nginx configuration: ✗ MD101"), "{text}");
    assert!(!text.contains("\x1b["), "colour codes with NO_COLOR set");
}

#[test]
fn explain_and_list_checks() {
    let o = media_doctor(&["explain", "MD100"]);
    assert_eq!(Some(o.code), Some(0));
    assert!(o.stdout.as_str().starts_with("# MD100 nginx-config-loads"));
    assert_eq!(Some(media_doctor(&["explain", "MD999"]).code), Some(2));
    let o = media_doctor(&["list-checks", "--format", "json"]);
    let v: Value = serde_json::from_str(&o.stdout).unwrap();
    assert!(v
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["id"] == "MD100" && c["name"] == "nginx-config-loads"));
}

/// `trace --offline --format json URL` on the demo root.
fn demo_trace_json(url: &str) -> Value {
    let o = media_doctor(&[
        "trace",
        "--root",
        &demo(),
        "--offline",
        "--format",
        "json",
        url,
    ]);
    serde_json::from_str(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", o.stderr))
}

/// Regression (differential seed 449429214): autoindex drops the last byte of the mapped path, so
/// `location /media/ { alias /var/www/myapp/media; autoindex on; }` opens `/var/www/myapp/medi`
/// for `/media/` and answers 404, as real nginx does.
#[test]
fn trace_autoindex_under_an_alias_without_slash() {
    let v = demo_trace_json("http://myapp.example.com/media/");
    assert_eq!(v["handler"], "autoindex", "{v}");
    assert_eq!(v["path"], "/var/www/myapp/medi", "{v}");
    assert_eq!(v["predicted_status"], 404, "{v}");
}

/// trace names the prefix location a regex location took the URL from (the demo's image
/// location answers /media/*.jpg), and says nothing of the kind where no regex wins.
#[test]
fn trace_names_the_prefix_location_a_regex_location_shadows() {
    let steps = |url: &str| -> Vec<String> {
        let v = demo_trace_json(url);
        v["steps"]
            .as_array()
            .unwrap_or_else(|| panic!("no steps: {v}"))
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect()
    };
    let stolen = steps("http://myapp.example.com/media/uploads/2026/11/photo.jpg");
    assert!(
        stolen.iter().any(|s| s.starts_with(
            "location /media/ (/etc/nginx/sites-enabled/myapp:16) matches by prefix too, but it \
             is not `^~`"
        ) && s.ends_with("(MD105)")),
        "{stolen:#?}"
    );
    let own = steps("http://myapp.example.com/media/uploads/2026/11/invoice.pdf");
    assert!(own.iter().all(|s| !s.contains("MD105")), "{own:#?}");
}

/// trace's exit status: 0 by default whatever the URL answers; with --fail-on error, 1 for a URL
/// that fails (the demo's /media/a.jpg: 404) and 0 for one that is served (its favicon).
#[test]
fn trace_fail_on_error_exits_1_only_for_a_failing_url() {
    let run = |url: &str, extra: &[&str]| {
        let mut args = vec![
            "trace",
            "--root",
            "fixtures/demo",
            "--site",
            "myapp",
            "--offline",
        ];
        args.extend_from_slice(extra);
        args.push(url);
        let o = media_doctor(&args);
        (o.code, o.stdout, o.stderr)
    };
    let (code, out, err) = run("/media/a.jpg", &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("404 (predicted)"), "{out}");
    let (code, out, err) = run("/media/a.jpg", &["--fail-on", "error"]);
    assert_eq!(code, 1, "{out}{err}");
    let served = "/static/css/site.css";
    let (code, out, err) = run(served, &["--fail-on", "warning"]);
    assert!(out.contains("200 (predicted)"), "{out}{err}");
    assert_eq!(code, 0, "{out}{err}");
}

/// On a terminal, trace wraps to its width (a real pty from util-linux `script`, 60 columns),
/// continuing under the value; into a pipe, one line per fact, for grep.
#[test]
fn trace_wraps_on_a_terminal_and_not_into_a_pipe() {
    let bin = env!("CARGO_BIN_EXE_media-doctor");
    let cmd = format!(
        "stty cols 60; NO_COLOR=1 {bin} trace --root fixtures/demo --site myapp --offline /media/a.jpg"
    );
    let out = std::process::Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .current_dir(crate::run::REPO)
        .output()
        .expect("script (util-linux)");
    let text = String::from_utf8_lossy(&out.stdout).replace('\r', "");
    assert!(out.status.success(), "{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.iter().all(|l| l.chars().count() <= 60), "{text}");
    let server = lines
        .iter()
        .position(|l| l.starts_with("server "))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(lines[server + 1].starts_with("          "), "{text}");
    let piped = media_doctor(&[
        "trace",
        "--root",
        "fixtures/demo",
        "--site",
        "myapp",
        "--offline",
        "/media/a.jpg",
    ]);
    assert!(
        piped
            .stdout
            .lines()
            .any(|l| l.starts_with("server ") && l.chars().count() > 60 && l.ends_with("*:80))")),
        "{}",
        piped.stdout
    );
}

/// Every page the .deb installs (media-doctor(1) and one per command, as its SUBCOMMANDS section
/// names them) has the sections a reader looks for: OPTIONS, EXIT STATUS and EXAMPLES.
#[test]
fn every_man_page_has_options_exit_status_and_examples() {
    let top = media_doctor(&["man"]);
    assert_eq!(top.code, 0, "{}", top.stderr);
    let commands: Vec<String> = top
        .stdout
        .lines()
        .filter_map(|l| l.strip_prefix("media\\-doctor\\-")?.strip_suffix("(1)"))
        .map(|c| c.replace("\\-", "-"))
        .collect();
    for want in [
        "check",
        "trace",
        "explain",
        "list-checks",
        "completions",
        "man",
    ] {
        assert!(
            commands.iter().any(|c| c == want),
            "{want} not in {commands:?}"
        );
    }
    let mut pages = vec![(String::from("media-doctor"), top)];
    for c in &commands {
        pages.push((format!("media-doctor-{c}"), media_doctor(&["man", c])));
    }
    for (name, page) in pages {
        assert_eq!(page.code, 0, "{name}: {}", page.stderr);
        let text = &page.stdout;
        assert!(text.contains(&format!(".TH {name} 1 ")), "{name}: {text}");
        assert!(
            text.contains(".SH \"EXIT STATUS\"\n"),
            "{name}: no EXIT STATUS"
        );
        // clap's `help` command has no option and nothing to show by example.
        if name != "media-doctor-help" {
            assert!(text.contains(".SH OPTIONS\n"), "{name}: no OPTIONS");
            assert!(text.contains(".SH EXAMPLES\n"), "{name}: no EXAMPLES");
        }
    }
}

/// The demo's report opens with what to do: every failing or warning check is named there, as a
/// cause or under one ("also seen by"), before the one-line-per-band checklist; `-v` shows all.
#[test]
fn the_demo_report_names_every_failure_in_what_to_do_first() {
    let o = media_doctor(&[
        "check",
        "--root",
        &demo(),
        "--site",
        "myapp",
        "--color",
        "never",
    ]);
    let json = media_doctor(&[
        "check",
        "--root",
        &demo(),
        "--site",
        "myapp",
        "--format",
        "json",
    ]);
    let v: Value = serde_json::from_str(&json.stdout).expect("JSON");
    let first = &o.stdout[..o.stdout.find("\nChecks (").expect("the checklist")];
    let failing: Vec<&str> = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "fail" || c["status"] == "warn")
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert!(failing.len() >= 10, "{failing:?}");
    for id in &failing {
        assert!(first.contains(id), "{id} not in what to do:\n{first}");
    }
    // Every finding of a cause is a real finding of `checks`.
    for cause in v["causes"].as_array().unwrap() {
        for r in cause["findings"]
            .as_array()
            .unwrap()
            .iter()
            .chain(cause["also_seen_by"].as_array().unwrap())
        {
            let check = v["checks"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["id"] == r["check"])
                .expect("the check a cause names");
            assert!(check["findings"][r["finding"].as_u64().unwrap() as usize].is_object());
        }
    }
    // Two screens at 80 columns: at most 80 lines (313 before causes came first; the blocks of
    // one place print as one once its fixes merge; what a check knows beyond the cause, its
    // evidence), and -v still shows every check with its evidence.
    let lines = o.stdout.lines().count();
    assert!(lines <= 80, "{lines} lines:\n{}", o.stdout);
    assert!(
        o.stdout.lines().all(|l| l.chars().count() <= 80),
        "{}",
        o.stdout
    );
    let verbose = media_doctor(&["check", "--root", &demo(), "--site", "myapp", "-v"]);
    assert!(
        verbose.stdout.contains("[✓] MD100 nginx-config-loads"),
        "{}",
        verbose.stdout
    );
}

/// Mistakes are exit 2 with one line that says what to give instead, never a quiet run without
/// the option (issue: `--app /nonexistent` was ignored, `trace '%%%'` exited 0).
#[test]
fn mistaken_arguments_exit_2_with_a_way_forward() {
    let d = demo();
    let cases: [(&[&str], &str); 5] = [
        (
            &[
                "check",
                "--root",
                &d,
                "--site",
                "myapp",
                "--offline",
                "--app",
                "/nonexistent",
            ],
            "--app /nonexistent: No such file or directory",
        ),
        (
            &[
                "check",
                "--root",
                &d,
                "--site",
                "myapp",
                "--offline",
                "--as-user",
                "wwwdata",
            ],
            "--as-user wwwdata: no user \"wwwdata\"",
        ),
        (
            &["trace", "%%%", "--root", &d, "--offline"],
            "\"%%%\" is not a URL (no host name in it): give http://HOST/PATH",
        ),
        (
            &["trace", "hello world", "--root", &d, "--offline"],
            "\"hello world\" is not a URL (it has spaces)",
        ),
        (
            &["trace", "/media/a.jpg", "--root", &d, "--offline"],
            "/media/a.jpg is a path: give the site it is on (--site NAME",
        ),
    ];
    for (args, says) in cases {
        let o = media_doctor(args);
        assert_eq!(o.code, 2, "{args:?}: {}", o.stderr);
        assert_eq!(o.stderr.trim().lines().count(), 1, "{args:?}: {}", o.stderr);
        assert!(o.stderr.contains(says), "{args:?}: {}", o.stderr);
        assert!(o.stdout.is_empty(), "{args:?}: {}", o.stdout);
    }
}

/// `trace /PATH --site NAME` traces on the site's first server_name.
#[test]
fn trace_a_path_on_a_site_uses_its_first_server_name() {
    let o = media_doctor(&[
        "trace",
        "/media/uploads/2026/11/avatar.png",
        "--site",
        "myapp",
        "--root",
        &demo(),
        "--offline",
        "--format",
        "json",
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let v: Value = serde_json::from_str(&o.stdout).expect("JSON");
    assert_eq!(
        v["url"],
        "http://myapp.example.com/media/uploads/2026/11/avatar.png"
    );
}

/// The reload a fix ends with, under a root whose running nginx cannot be asked: systemd's where
/// systemd runs that system (its /run/systemd/system), else `nginx -s reload` (`systemctl`
/// fails in a container or under another init).
#[test]
fn the_reload_follows_the_roots_init() {
    let t = tempfile::tempdir().unwrap();
    let etc = t.path().join("etc/nginx");
    std::fs::create_dir_all(&etc).unwrap();
    std::fs::write(
        etc.join("nginx.conf"),
        "events {}\nhttp {\n  include /etc/nginx/missing.conf;\n}\n",
    )
    .unwrap();
    let root = t.path().to_str().unwrap();
    let reload = || {
        let out = crate::run::media_doctor(&[
            "check",
            "--root",
            root,
            "--offline",
            "--select",
            "MD100",
            "--format",
            "json",
        ]);
        let v: serde_json::Value = serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}{}", out.stdout, out.stderr));
        v["checks"][0]["findings"][0]["remediation"]["commands"][0]
            .as_str()
            .unwrap_or_else(|| panic!("no fix command: {v:#}"))
            .to_string()
    };
    assert_eq!(reload(), "sudo nginx -t && sudo nginx -s reload");
    std::fs::create_dir_all(t.path().join("run/systemd/system")).unwrap();
    assert_eq!(reload(), "sudo nginx -t && sudo systemctl reload nginx");
}

/// Under --root the tree is a copy: `trace` of a URL whose host is one of the tree's server_names
/// asks nothing on the network (that host is not confirmed to be this system: `check` guesses no
/// public URL there either) and says how to ask it. It sent a real request to the public name.
#[test]
fn trace_under_root_does_not_ask_the_public_host_a_server_name_names() {
    let out = media_doctor(&[
        "trace",
        "--root",
        "fixtures/demo",
        "--format",
        "json",
        "http://myapp.example.com/media/a.jpg",
    ]);
    let trace: serde_json::Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", out.stdout, out.stderr));
    let live = &trace["live"];
    assert_eq!(live["answers"], serde_json::json!([]), "{live}");
    assert!(
        live["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n.as_str().unwrap().contains("give it with --url")),
        "{live}"
    );
}
