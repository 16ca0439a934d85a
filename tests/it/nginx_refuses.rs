//! What `nginx -t` refuses beyond syntax (the audit of issue #12: "trace on a config that does
//! not load: exit 2 with the located error, or the prediction marked uncertain with the error
//! beside it. Never silent"): a duplicate location, a regex PCRE2 does not compile, a directive
//! no module of nginx's has. Each case is run through `trace` and `check` (exit code, message,
//! file:line), and the real nginx is the oracle: `nginx -t` refuses the config with the same
//! words at the same line, or accepts it where we do.

use crate::hostile::media_doctor_raw;
use serde_json::Value;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

/// What media-doctor says of a case.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Verdict {
    /// A load error at this line of the file (nginx -t fails with these words there).
    Refused(&'static str, u32),
    /// A warning at this line: nginx -t refuses it as `unknown directive "NAME"` unless a module
    /// provides it.
    Module(&'static str, u32),
    /// Loads (nginx -t agrees).
    Loads,
}
use Verdict::*;

/// (what, the lines written in the server block from line 6, the verdict).
const CASES: &[(&str, &str, Verdict)] = &[
    (
        "two prefix locations of one name",
        "location / { root /tmp; }\nlocation / { root /srv; }",
        Refused("duplicate location \"/\"", 7),
    ),
    (
        "^~ and a prefix location of one name",
        "location ^~ /media/ { root /tmp; }\nlocation /media/ { root /srv; }",
        Refused("duplicate location \"/media/\"", 7),
    ),
    (
        "two exact locations, one written =/a",
        "location =/a { return 200; }\nlocation = /a { return 201; }",
        Refused("duplicate location \"/a\"", 7),
    ),
    (
        "an exact, a prefix and a ^~ location of one name",
        "location = /a { return 200; }\nlocation /a { return 201; }\nlocation ^~ /a { return 202; }",
        Refused("duplicate location \"/a\"", 8),
    ),
    (
        "two nested locations of one name",
        "location /a/ {\n    location /a/b { return 200; }\n    location /a/b { return 201; }\n}",
        Refused("duplicate location \"/a/b\"", 8),
    ),
    (
        "a regex location that does not compile",
        "location ~ \"(\" { root /tmp; }",
        Refused(
            "pcre2_compile() failed: missing closing parenthesis in \"(\"",
            6,
        ),
    ),
    (
        "a caseless regex location that does not compile",
        "location ~* \"a)b\" { root /tmp; }",
        Refused(
            "pcre2_compile() failed: unmatched closing parenthesis in \"a)b\" at \")b\"",
            6,
        ),
    ),
    (
        "a rewrite regex that does not compile",
        "location / {\n    rewrite \"x{2,1}\" /y;\n}",
        Refused(
            "pcre2_compile() failed: numbers out of order in {} quantifier in \"x{2,1}\" at \"}\"",
            7,
        ),
    ),
    (
        "an if regex that does not compile",
        "location / {\n    if ($uri !~* \"[a-\" ) { return 404; }\n}",
        Refused(
            "pcre2_compile() failed: missing terminating ] for character class in \"[a-\"",
            7,
        ),
    ),
    (
        "a server_name regex that does not compile",
        "server_name ~^(www\\.a\\.test$;",
        Refused(
            "pcre2_compile() failed: missing closing parenthesis in \"^(www\\.a\\.test$\"",
            6,
        ),
    ),
    (
        "an unknown directive",
        "location / { root /tmp;\n    foo bar; }",
        Module("foo", 7),
    ),
    (
        "a misspelt directive",
        "location / {\n    proxy_passs http://127.0.0.1:9;\n}",
        Module("proxy_passs", 7),
    ),
    (
        "an exact and a prefix location of one name",
        "location = / { return 200; }\nlocation / { root /tmp; }",
        Loads,
    ),
    (
        "two regex locations of one pattern",
        "location ~ \\.jpg$ { root /tmp; }\nlocation ~ \\.jpg$ { root /srv; }",
        Loads,
    ),
    (
        "two named locations of one name (nginx uses the first)",
        "location @x { return 200; }\nlocation @x { return 201; }\nlocation / { try_files $uri @x; }",
        Loads,
    ),
    (
        "locations whose names differ in case",
        "location /a { return 200; }\nlocation /A { return 201; }",
        Loads,
    ),
    (
        "regexes that compile",
        "location ~ \"\\.(?!well-known)\" { return 403; }\nif ($request_method !~ ^(GET|HEAD)$ ) { return 405; }\nrewrite ^/old/(.*)$ /new/$1;",
        Loads,
    ),
];

/// The config of a case: the server block's lines from line 6.
fn config(server_lines: &str) -> String {
    format!(
        "events {{}}\nhttp {{\n    server {{\n        listen 127.0.0.1:8080;\n        server_name a.test;\n{}\n    }}\n}}\n",
        server_lines
            .lines()
            .map(|l| format!("        {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    )
}

/// One case written to disk: the main config, the file the verdict's line is in.
struct Case {
    what: String,
    conf: PathBuf,
    at: PathBuf,
    want: Verdict,
}

/// Every case, written under `dir`: `CASES`, a duplicate an include brings (located in the
/// included file, the later one in reading order, as nginx names it) and a `map` key.
fn cases(dir: &Path) -> Vec<Case> {
    let mut out = Vec::new();
    for (i, (what, lines, want)) in CASES.iter().enumerate() {
        let conf = dir.join(format!("case{i}.conf"));
        std::fs::write(&conf, config(lines)).unwrap();
        out.push(Case {
            what: what.to_string(),
            at: conf.clone(),
            conf,
            want: *want,
        });
    }
    let inc = dir.join("media.conf");
    std::fs::write(&inc, "# the snippet\nlocation /media/ { root /srv; }\n").unwrap();
    let conf = dir.join("includes.conf");
    std::fs::write(
        &conf,
        config(&format!(
            "location /media/ {{ root /tmp; }}\ninclude {};",
            inc.display()
        )),
    )
    .unwrap();
    out.push(Case {
        what: "a duplicate an include brings".into(),
        conf,
        at: inc,
        want: Refused("duplicate location \"/media/\"", 2),
    });
    let conf = dir.join("map.conf");
    std::fs::write(
        &conf,
        "events {}\nhttp {\n    map $uri $m {\n        default 0;\n        \"~*[z-a]\" 1;\n    }\n    server { listen 127.0.0.1:8080; server_name a.test; }\n}\n",
    )
    .unwrap();
    out.push(Case {
        what: "a map key that does not compile".into(),
        at: conf.clone(),
        conf,
        want: Refused(
            "pcre2_compile() failed: range out of order in character class in \"[z-a]\" at \"a]\"",
            5,
        ),
    });
    out
}

fn run(args: &[&OsStr]) -> (i32, String, String) {
    let o = media_doctor_raw(args);
    (
        o.code,
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn os(s: &str) -> &OsStr {
    OsStr::new(s)
}

/// `trace` and `check` on a case, held to its verdict.
fn judge(case: &Case) {
    let Case {
        what,
        conf,
        at,
        want,
    } = case;
    let file = at.display().to_string();
    let trace = |format: &str| {
        run(&[
            os("trace"),
            os("--offline"),
            os("--format"),
            os(format),
            os("--nginx-conf"),
            conf.as_os_str(),
            os("http://a.test:8080/x"),
        ])
    };
    let (code, out, err) = trace("text");
    let (check_code, json, check_err) = run(&[
        os("check"),
        os("--offline"),
        os("--format"),
        os("json"),
        os("--select"),
        os("MD100"),
        os("--nginx-conf"),
        conf.as_os_str(),
    ]);
    let report: Value = serde_json::from_str(&json)
        .unwrap_or_else(|e| panic!("{what}: check's JSON: {e}: {json} {check_err}"));
    let md100 = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "MD100")
        .unwrap_or_else(|| panic!("{what}: no MD100 in {json}"));
    let findings = md100["findings"].as_array().unwrap();
    match *want {
        Refused(message, line) => {
            // trace: no prediction, the located error; exit 2.
            assert_eq!(code, 2, "{what}: trace exit {code}: {out}{err}");
            assert!(out.is_empty(), "{what}: a prediction was printed: {out}");
            assert!(
                err.contains("does not load") && err.contains(&format!("{file}:{line}:")),
                "{what}: not located at {file}:{line}: {err}"
            );
            assert!(err.contains(message), "{what}: {err}");
            // check: MD100 fails with nginx's words at the line.
            assert_eq!(check_code, 1, "{what}: check exit {check_code}: {json}");
            assert_eq!(md100["status"], "fail", "{what}: {md100}");
            assert!(
                findings.iter().any(|f| f["severity"] == "error"
                    && f["message"] == message
                    && f["location"]["file"] == file.as_str()
                    && f["location"]["line"] == line),
                "{what}: no error {message:?} at {file}:{line}: {md100}"
            );
        }
        Module(name, line) => {
            let warning = format!(
                "unknown directive \"{name}\": nginx refuses it unless a module provides it"
            );
            // trace: the prediction, with the warning beside it.
            assert_eq!(code, 0, "{what}: trace exit {code}: {out}{err}");
            assert!(out.contains("status "), "{what}: no prediction: {out}");
            let beside = out.lines().find(|l| l.starts_with("config ")).unwrap_or("");
            assert!(
                beside.contains(&format!("warning: {file}:{line}:")) && beside.contains(&warning),
                "{what}: no warning beside the prediction: {out}"
            );
            let (_, json, _) = trace("json");
            let t: Value = serde_json::from_str(&json).unwrap();
            assert!(t["predicted_status"].is_u64(), "{what}: {json}");
            let warnings = t["config_warnings"].as_array().unwrap();
            assert!(
                warnings.iter().any(|w| w.as_str().is_some_and(|w| w
                    .starts_with(&format!("{file}:{line}:"))
                    && w.ends_with(&warning))),
                "{what}: {json}"
            );
            // check: MD100 warns (never "loaded"), naming the directive and its line.
            assert_eq!(check_code, 0, "{what}: check exit {check_code}: {json}");
            assert_eq!(md100["status"], "warn", "{what}: {md100}");
            assert!(
                findings.iter().any(|f| f["severity"] == "warning"
                    && f["message"] == warning.as_str()
                    && f["location"]["file"] == file.as_str()
                    && f["location"]["line"] == line),
                "{what}: {md100}"
            );
        }
        Loads => {
            assert_eq!(code, 0, "{what}: trace exit {code}: {out}{err}");
            assert!(
                !out.lines().any(|l| l.starts_with("config ")),
                "{what}: a warning was printed: {out}"
            );
            assert_eq!(check_code, 0, "{what}: {json}");
            assert_eq!(md100["status"], "pass", "{what}: {md100}");
        }
    }
}

#[test]
fn trace_and_check_on_what_nginx_refuses() {
    let t = tempfile::tempdir().unwrap();
    for case in cases(t.path()) {
        judge(&case);
    }
}

/// A directive of a third-party module distributions ship (headers-more, lua) is not warned of:
/// a config that uses it was written for an nginx that has it (nginx-light has neither, and
/// refuses it).
#[test]
fn a_third_party_modules_directive_is_not_warned_of() {
    let t = tempfile::tempdir().unwrap();
    let conf = t.path().join("nginx.conf");
    std::fs::write(
        &conf,
        config("location / {\n    more_set_headers \"X-A: b\";\n    content_by_lua_block { ngx.say(\"x\") }\n}"),
    )
    .unwrap();
    judge(&Case {
        what: "module directives".into(),
        at: conf.clone(),
        conf,
        want: Loads,
    });
}

/// The real nginx as the oracle: for every case, `nginx -t` fails with our words at our
/// file:line (nginx stops at its first error, and each case has one), or accepts what we
/// accept.
#[test]
fn nginx_agrees_on_every_case() {
    let Some(nginx) = crate::support::nginx_binary() else {
        let _ = crate::support::require(false, "needs nginx (apt-get install nginx-light)");
        return;
    };
    let t = tempfile::tempdir().unwrap();
    std::fs::create_dir(t.path().join("logs")).unwrap();
    for Case {
        what,
        conf,
        at,
        want,
    } in cases(t.path())
    {
        let o = Command::new(&nginx)
            .args(["-t", "-q", "-e", "stderr", "-p"])
            .arg(t.path())
            .arg("-c")
            .arg(&conf)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        let emerg = stderr
            .lines()
            .find_map(|l| l.split_once("[emerg] "))
            .map(|(_, m)| m.split_once(": ").map_or(m, |(_, m)| m))
            .unwrap_or("");
        let place = |line: u32| format!(" in {}:{line}", at.display());
        match want {
            Refused(message, line) => assert_eq!(
                (o.status.success(), emerg),
                (false, format!("{message}{}", place(line)).as_str()),
                "{what}: nginx -t says {stderr}"
            ),
            Module(name, line) => assert_eq!(
                (o.status.success(), emerg),
                (
                    false,
                    format!("unknown directive \"{name}\"{}", place(line)).as_str()
                ),
                "{what}: nginx -t says {stderr}"
            ),
            Loads => assert!(o.status.success(), "{what}: nginx -t says {stderr}"),
        }
    }
}
