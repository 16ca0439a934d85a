//! The CLI's output behaviour: --fail-on, --select/--ignore, explain, list-checks, the text
//! checklist's layout rules, the GitHub and SARIF shapes, completions, the man page, --version.

use crate::run::{check_fixture, media_doctor};
use crate::sample;
use media_doctor::checks::{self, Band};
use media_doctor::render::{self, files::SourceFiles};
use media_doctor::report::{CheckResult, FailOn, Finding, Report, Status};
use media_doctor::sysroot::SysRoot;

fn no_colours() {
    colored::control::set_override(false);
}

fn text(report: &Report, opts: &render::text::Options) -> String {
    no_colours();
    let mut out = Vec::new();
    render::text::write(&mut out, report, opts).unwrap();
    String::from_utf8(out).unwrap()
}

fn one(status: Status) -> CheckResult {
    let finding = match status {
        Status::Warn => vec![Finding::warning("w")],
        Status::Fail => vec![Finding::error("f")],
        _ => vec![],
    };
    CheckResult {
        id: "MD190",
        name: "fictional",
        band: Band::Nginx,
        status,
        summary: "s".into(),
        findings: finding,
        ignored: None,
    }
}

#[test]
fn fail_on_thresholds() {
    let with = |checks: Vec<CheckResult>| Report::new(serde_json::json!({}), checks);
    let cases = [
        // statuses, fails at error, at warning, at never
        (vec![Status::Pass, Status::Skip], false, false, false),
        (vec![Status::Pass, Status::Warn], false, true, false),
        (vec![Status::Warn, Status::Fail], true, true, false),
        // A probe that broke fails the run: CI must not go green because a check could not look.
        (vec![Status::Error], true, true, false),
    ];
    for (statuses, at_error, at_warning, at_never) in cases {
        let report = with(statuses.iter().map(|&s| one(s)).collect());
        assert_eq!(report.fails_at(FailOn::Error), at_error, "{statuses:?}");
        assert_eq!(report.fails_at(FailOn::Warning), at_warning, "{statuses:?}");
        assert_eq!(report.fails_at(FailOn::Never), at_never, "{statuses:?}");
    }
    // A failure the profile accepts fails nothing, and is counted apart.
    let mut accepted = one(Status::Fail);
    accepted.ignored = Some("known".into());
    let report = with(vec![one(Status::Pass), accepted]);
    assert!(!report.fails_at(FailOn::Warning));
    assert_eq!((report.summary.fail, report.summary.ignored), (0, 1));
}

#[test]
fn fail_on_sets_the_exit_code() {
    for fail_on in ["error", "warning", "never"] {
        let out = check_fixture("healthy", &["--fail-on", fail_on]);
        let report: serde_json::Value = {
            let json = check_fixture("healthy", &["--fail-on", fail_on, "--format", "json"]);
            serde_json::from_str(&json.stdout).unwrap()
        };
        let s = &report["summary"];
        let n = |k: &str| s[k].as_u64().unwrap();
        let expected = match fail_on {
            "error" => n("fail") + n("error") > 0,
            "warning" => n("fail") + n("error") + n("warn") > 0,
            _ => false,
        };
        assert_eq!(
            out.code,
            i32::from(expected),
            "--fail-on {fail_on}: {}",
            out.stderr
        );
    }
    // A real failure (MD100: a missing include) fails the run unless --fail-on never.
    for (fail_on, code) in [("error", 1), ("warning", 1), ("never", 0)] {
        let out = check_fixture("unloadable", &["--fail-on", fail_on, "-q"]);
        assert_eq!(out.code, code, "--fail-on {fail_on}: {}", out.stdout);
        assert!(out.stdout.contains("MD100"), "{}", out.stdout);
    }
    let bad = check_fixture("healthy", &["--fail-on", "sometimes"]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);
}

#[test]
fn select_and_ignore_by_id_name_and_band() {
    let ids = |extra: &[&str]| -> Vec<String> {
        let out = check_fixture("healthy", &[&["--format", "json"], extra].concat());
        assert_eq!(out.stderr, "", "{extra:?}");
        let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        v["checks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_string())
            .collect()
    };
    // An nginx report lists every check but Apache's (MD5xx run when Apache is judged).
    let all: Vec<String> = checks::registry()
        .iter()
        .filter(|c| c.meta().band != media_doctor::report::Band::Apache)
        .map(|c| c.meta().id.to_string())
        .collect();
    assert_eq!(ids(&[]), all);
    let first = checks::registry()[0].meta();
    assert_eq!(ids(&["--select", first.id]), vec![first.id]);
    assert_eq!(ids(&["--select", first.name]), vec![first.id]);
    let band: Vec<String> = checks::registry()
        .iter()
        .filter(|c| c.meta().band == first.band)
        .map(|c| c.meta().id.to_string())
        .collect();
    assert_eq!(ids(&["--select", first.band.prefix()]), band);
    assert_eq!(
        ids(&["--select", &format!("{}xx", first.band.prefix())]),
        band
    );
    assert!(!ids(&["--ignore", &first.id.to_lowercase()]).contains(&first.id.to_string()));
    assert!(ids(&[
        "--select",
        first.band.prefix(),
        "--ignore",
        first.band.prefix()
    ])
    .is_empty());
    // Comma-separated and repeated both work.
    let both = format!("{},{}", first.id, first.band.prefix());
    assert_eq!(ids(&["--select", &both]), band);

    // A typo is an error (exit 2, one line), never an empty selection.
    let typo = check_fixture("healthy", &["--select", "MD1O1"]);
    assert_eq!(typo.code, 2);
    assert_eq!(typo.stderr.lines().count(), 1, "{}", typo.stderr);
    assert!(typo.stderr.contains("list-checks"), "{}", typo.stderr);
}

#[test]
fn explain_prints_the_page() {
    for check in checks::registry() {
        let m = check.meta();
        let page =
            std::fs::read_to_string(format!("{}/checks/{}.md", crate::run::REPO, m.id)).unwrap();
        for key in [m.id.to_string(), m.id.to_lowercase(), m.name.to_string()] {
            let out = media_doctor(&["explain", &key]);
            assert_eq!(out.code, 0, "explain {key}: {}", out.stderr);
            assert_eq!(out.stdout, page, "explain {key}");
        }
    }
    let unknown = media_doctor(&["explain", "MD999"]);
    assert_eq!(unknown.code, 2);
    assert!(unknown.stderr.contains("list-checks"), "{}", unknown.stderr);
}

#[test]
fn list_checks_text_and_json() {
    let metas: Vec<_> = checks::registry().iter().map(|c| c.meta()).collect();
    let out = media_doctor(&["list-checks"]);
    assert_eq!(out.code, 0);
    for m in &metas {
        let line = out
            .stdout
            .lines()
            .find(|l| l.starts_with(m.id))
            .unwrap_or_else(|| panic!("{} missing:\n{}", m.id, out.stdout));
        assert!(
            line.contains(m.name) && line.contains(m.band.name()),
            "{line}"
        );
    }
    for line in out.stdout.lines() {
        assert!(
            line.chars().count() <= 80,
            "wider than 80 columns: {line:?}"
        );
    }
    let json = media_doctor(&["list-checks", "--format", "json"]);
    let v: Vec<serde_json::Value> = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(v.len(), metas.len());
    for (item, m) in v.iter().zip(&metas) {
        assert_eq!(
            item,
            &serde_json::json!({"id": m.id, "name": m.name, "band": m.band.name(), "summary": m.summary})
        );
    }
}

#[test]
fn text_fits_the_width_except_what_must_paste() {
    let report = sample::report();
    let commands: Vec<String> = report
        .checks
        .iter()
        .flat_map(|c| &c.findings)
        .flat_map(|f| f.remediation.iter().flat_map(|r| r.commands.clone()))
        .collect();
    for width in [80, 100, 120] {
        for verbose in [false, true] {
            let opts = render::text::Options {
                width,
                verbose,
                ..Default::default()
            };
            let out = text(&report, &opts);
            for line in out.lines() {
                let pasteable =
                    commands.iter().any(|c| line.trim() == c) || line.starts_with("          ");
                let long_word = line.split_whitespace().any(|w| w.len() > width / 2);
                assert!(
                    line.chars().count() <= width || pasteable || long_word,
                    "wider than {width}: {line:?}\n{out}"
                );
            }
        }
    }
}

#[test]
fn text_opens_with_what_to_do_and_ends_with_the_summary() {
    let report = sample::report();
    let out = text(&report, &Default::default());
    let pos = |needle: &str| {
        out.find(needle)
            .unwrap_or_else(|| panic!("{needle} missing:\n{out}"))
    };
    // What to do first: the causes in order, the reload that applies config edits last.
    assert!(out.starts_with("What to do, in order ("), "{out}");
    let chmod = pos("sudo chmod o+x /home/deploy");
    let reload = pos("sudo nginx -t && sudo systemctl reload nginx");
    assert!(chmod < reload, "{out}");
    assert!(reload < pos("Checks ("), "{out}");
    // Then one line per band, in band order, and the summary last.
    assert!(pos("  nginx configuration: ✗ MD191") < pos("  filesystem: "));
    assert!(out.trim_end().ends_with(
        "Summary: 2 failed, 1 could not run, 1 warning, 2 passed, 2 skipped, 1 ignored"
    ));
    // Passing checks show their evidence only with -v.
    assert!(!out.contains("MEDIA_ROOT: /srv/myapp/media"));
    // The ignored check is shown with its reason.
    assert!(
        out.contains("MD498 (fail): private uploads are meant to be"),
        "{out}"
    );
}

#[test]
fn verbose_shows_every_check_failures_first_in_each_band() {
    let report = sample::report();
    let out = text(
        &report,
        &render::text::Options {
            verbose: true,
            ..Default::default()
        },
    );
    let pos = |needle: &str| {
        out.find(needle)
            .unwrap_or_else(|| panic!("{needle} missing:\n{out}"))
    };
    let checklist = pos("\nnginx configuration");
    assert!(pos("What to do, in order (") < checklist);
    // Band order is kept; inside a band, failures come before warnings and passes.
    let at = |needle: &str| checklist + out[checklist..].find(needle).expect(needle);
    assert!(at("MD191") < at("MD192") && at("MD192") < at("MD190"));
    assert!(at("nginx configuration") < at("filesystem"));
    assert!(at("filesystem") < at("app ") && at("app ") < at("live"));
    assert!(out.contains("MEDIA_ROOT: /srv/myapp/media"), "{out}");
    assert!(out.contains("[~] MD498 fictional-ignored (fail): GET /media/private/ answers 403"));
    assert!(out.contains("accepted: private uploads are meant to be forbidden"));
}

#[test]
fn quiet_shows_only_what_counts_against_fail_on() {
    let report = sample::report();
    let quiet = |fail_on| {
        text(
            &report,
            &render::text::Options {
                quiet: true,
                fail_on,
                ..Default::default()
            },
        )
    };
    let at_error = quiet(FailOn::Error);
    for shown in ["MD191", "MD290", "MD390"] {
        assert!(at_error.contains(shown), "{shown}:\n{at_error}");
    }
    for hidden in ["MD190", "MD192", "MD291", "MD391", "MD490", "MD498"] {
        assert!(!at_error.contains(hidden), "{hidden}:\n{at_error}");
    }
    assert!(quiet(FailOn::Warning).contains("MD192"));
    assert!(!quiet(FailOn::Never).contains("MD192"));
    assert!(at_error.contains("Summary: "));

    let mut clean = sample::report();
    clean.checks.retain(|c| c.status == Status::Pass);
    let clean = Report::new(clean.site.clone(), clean.checks);
    let out = text(
        &clean,
        &render::text::Options {
            quiet: true,
            ..Default::default()
        },
    );
    assert_eq!(out, "Summary: 2 passed\n");
}

fn sample_files() -> SourceFiles {
    SourceFiles::new(
        SysRoot::new("/work/repo/fixtures/img"),
        Some("/work/repo".into()),
    )
    .with_target(Some("/etc/nginx/nginx.conf".into()))
}

#[test]
fn github_annotations_one_line_per_finding() {
    let report = sample::report();
    let mut out = Vec::new();
    render::github::write(&mut out, &report, &sample_files()).unwrap();
    let out = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    // 1 alias + 1 listing + 2 traversal findings + the check that could not run; not the ignored one.
    assert_eq!(lines.len(), 5, "{out}");
    assert!(lines
        .iter()
        .all(|l| l.starts_with("::error ") || l.starts_with("::warning ")));
    assert!(lines[0].starts_with(
        "::error file=fixtures/img/etc/nginx/sites-enabled/myapp,line=12,col=9,title=MD191 fictional-alias-slash::"
    ));
    assert!(lines[1].starts_with(
        "::warning file=fixtures/img/etc/nginx/sites-enabled/myapp,line=14,title=MD192"
    ));
    assert!(
        lines[2].contains("100%25 of uploads, under a, b: c"),
        "{}",
        lines[2]
    );
    // A line break inside a message is text from outside: escaped before github's own escapes.
    assert!(
        lines[3].contains("/home/deploy\\r\\nto reach"),
        "{}",
        lines[3]
    );
    assert!(
        lines[4].starts_with("::error title=MD390 fictional-broken-probe::the check could not run")
    );
    assert!(!out.contains("MD498"));
}

#[test]
fn sarif_results_locations_and_suppressions() {
    let report = sample::report();
    let log = serde_json::to_value(render::sarif::log(&report, &sample_files())).unwrap();
    let run = &log["runs"][0];
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    assert_eq!(rules.len(), report.checks.len());
    let results = run["results"].as_array().unwrap();
    // Warn and fail findings only (the ignored one included, suppressed).
    assert_eq!(results.len(), 5, "{results:#?}");
    for r in results {
        let index = r["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[index]["id"], r["ruleId"]);
    }
    let alias = &results[0]["locations"][0]["physicalLocation"];
    assert_eq!(
        alias["artifactLocation"],
        serde_json::json!({"uri": "fixtures/img/etc/nginx/sites-enabled/myapp", "uriBaseId": "SRCROOT"})
    );
    assert_eq!(
        alias["region"],
        serde_json::json!({"startLine": 12, "startColumn": 9})
    );
    assert_eq!(
        run["originalUriBaseIds"]["SRCROOT"]["uri"],
        "file:///work/repo/"
    );
    // Without a file of its own, a result is shown on the site's nginx config (the analysis
    // target), and names its path as a logical location.
    assert_eq!(
        results[2]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "fixtures/img/etc/nginx/nginx.conf"
    );
    let traversal = &results[2]["locations"][1]["logicalLocations"][0];
    assert_eq!(
        traversal["fullyQualifiedName"],
        "/home/deploy/apps/a-rather-long-project-directory-name/shared/media/uploads/2024"
    );
    let ignored = results.last().unwrap();
    assert_eq!(ignored["ruleId"], "MD498");
    assert_eq!(
        ignored["suppressions"][0]["justification"],
        "private uploads are meant to be forbidden"
    );
    let notes = &run["invocations"][0]["toolExecutionNotifications"];
    assert_eq!(notes[0]["descriptor"]["id"], "MD390");
    // Registered checks get their page as help.
    let real = Report::new(
        serde_json::json!({}),
        vec![checks::run_one(checks::registry()[0], &dummy_site())],
    );
    let real =
        serde_json::to_value(render::sarif::log(&real, &SourceFiles::system_paths())).unwrap();
    let rule = &real["runs"][0]["tool"]["driver"]["rules"][0];
    let meta = checks::registry()[0].meta();
    assert_eq!(rule["help"]["markdown"], meta.docs);
    assert_eq!(rule["shortDescription"]["text"], meta.summary);
    assert_eq!(rule["properties"]["tags"][0], meta.band.name());
}

/// A site gathered from the healthy fixture.
fn dummy_site() -> media_doctor::site::Site {
    let args = media_doctor::site::Options {
        root: Some(format!("{}/fixtures/sites/healthy", crate::run::REPO).into()),
        ..Default::default()
    };
    media_doctor::site::Site::gather(&args, true).expect("gather the healthy fixture")
}

#[test]
fn completions_and_man_pages() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = media_doctor(&["completions", shell]);
        assert_eq!(out.code, 0, "{shell}: {}", out.stderr);
        assert!(out.stdout.contains("list-checks"), "{shell}");
        assert!(out.stdout.contains("fail-on"), "{shell}");
    }
    let man = media_doctor(&["man"]);
    assert_eq!(man.code, 0, "{}", man.stderr);
    assert!(man.stdout.contains(".TH media-doctor 1"), "{}", man.stdout);
    assert!(man.stdout.contains("media\\-doctor\\-check(1)"));
    let check = media_doctor(&["man", "check"]);
    assert!(check.stdout.contains(".TH media-doctor-check 1"));
    assert!(check.stdout.contains("\\-\\-fail\\-on"));
    assert_eq!(media_doctor(&["man", "nope"]).code, 2);
}

#[test]
fn version_includes_the_commit() {
    let out = media_doctor(&["--version"]);
    assert_eq!(out.code, 0);
    let expected = format!("media-doctor {}", env!("CARGO_PKG_VERSION"));
    assert!(out.stdout.starts_with(&expected), "{}", out.stdout);
    let head = std::process::Command::new("git")
        .args(["-C", crate::run::REPO, "rev-parse", "--short", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    match head {
        Some(hash) => assert_eq!(out.stdout.trim(), format!("{expected} ({hash})")),
        None => assert_eq!(out.stdout.trim(), expected),
    }
}

#[test]
fn a_profile_accepts_a_result_with_its_reason() {
    let reason = "the snippet is installed by the app's release job, after this check";
    let json = |extra: &[&str]| -> (i32, serde_json::Value) {
        let out = check_fixture("unloadable", &[&["--format", "json"], extra].concat());
        (out.code, serde_json::from_str(&out.stdout).unwrap())
    };
    let md100 = |v: &serde_json::Value| {
        v["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == "MD100")
            .cloned()
            .unwrap()
    };
    // Without the profile, the missing include fails the run.
    let (code, without) = json(&[]);
    assert_eq!(code, 1);
    assert_eq!(md100(&without)["status"], "fail");
    assert!(md100(&without).get("ignored").is_none());

    // With it, MD100 keeps its status but is accepted, counted apart, and fails nothing.
    let (code, with) = json(&["--site", "accepted"]);
    assert_eq!(md100(&with)["status"], "fail");
    assert_eq!(md100(&with)["ignored"], reason);
    let n = |v: &serde_json::Value, k: &str| v["summary"][k].as_u64().unwrap();
    assert_eq!(n(&with, "ignored"), 1);
    // (--site also changes other checks, e.g. app discovery: count from the report itself.)
    let failing_others = with["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c.get("ignored").is_none() && c["status"] == "fail")
        .count() as u64;
    assert_eq!(n(&with, "fail"), failing_others);
    let others_fail = n(&with, "fail") + n(&with, "error") > 0;
    assert_eq!(code, i32::from(others_fail));

    let text = check_fixture("unloadable", &["--site", "accepted"]);
    assert!(
        text.stdout
            .contains("[~] accepted by the profile: MD100 (fail)"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout.contains("(fail): the snippet is installed"),
        "{}",
        text.stdout
    );
    let github = check_fixture("unloadable", &["--site", "accepted", "--format", "github"]);
    assert!(!github.stdout.contains("title=MD100"), "{}", github.stdout);
}

#[test]
fn a_profile_ignore_needs_a_known_id_and_a_reason() {
    let root = tempfile::tempdir().unwrap();
    let etc = root.path().join("etc");
    std::fs::create_dir_all(etc.join("nginx")).unwrap();
    std::fs::create_dir_all(etc.join("media-doctor")).unwrap();
    std::fs::write(etc.join("nginx/nginx.conf"), "events {}\nhttp {}\n").unwrap();
    let profiles = [
        (
            "typo",
            "ignore = [{ id = \"MD1O0\", reason = \"x\" }]",
            "MD1O0",
        ),
        (
            "blank",
            "ignore = [{ id = \"MD100\", reason = \" \" }]",
            "reason",
        ),
        ("missing", "ignore = [{ id = \"MD100\" }]", "reason"),
    ];
    for (name, text, says) in profiles {
        std::fs::write(etc.join(format!("media-doctor/{name}.toml")), text).unwrap();
        let root = root.path().to_str().unwrap();
        let out = media_doctor(&["check", "--root", root, "--offline", "--site", name]);
        assert_eq!(out.code, 2, "{name}: {}", out.stdout);
        assert_eq!(out.stderr.lines().count(), 1, "{name}: {}", out.stderr);
        assert!(
            out.stderr
                .contains(&format!("/etc/media-doctor/{name}.toml"))
                && out.stderr.contains(says),
            "{name}: {}",
            out.stderr
        );
    }
}
