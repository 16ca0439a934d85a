//! One site of many servers, its report made in less memory (`checks::run_keeping` without the
//! fixes as data; no fix text made by the checks, settling writes it): the same report as the
//! reference path, kept here, where each check makes its fix's text as it runs and the fixes as
//! data are cloned and kept until the report is made.

use media_doctor::checks::{self, Context};
use media_doctor::report::{Band, CheckResult, FailOn, Report};
use media_doctor::site::{Options, Site};
use std::path::PathBuf;

/// One site of `n` servers on port 80 in one file; every `bad`-th alias without its slash, so
/// that MD101 and MD110 fix the same location (one merged block); no directory exists (MD201).
fn many_servers(n: usize, bad: usize) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("sites")).unwrap();
    std::fs::write(
        d.join("nginx.conf"),
        "user www-data;\nevents {}\nhttp {\n    include sites/*;\n}\n",
    )
    .unwrap();
    let mut text = String::new();
    for i in 0..n {
        let slash = if i % bad == 0 { "" } else { "/" };
        text.push_str(&format!(
            "server {{\n    listen 80;\n    server_name s{i}.example.com;\n    \
             location /media/ {{ alias /srv/www/s{i}/media{slash}; }}\n}}\n"
        ));
    }
    std::fs::write(d.join("sites/big"), text).unwrap();
    let conf = d.join("nginx.conf");
    (dir, conf)
}

/// The checks run one by one, each config fix's text made as the check runs, then settled;
/// the fixes as data let go after, unless `keep`.
fn reference(site: &Site, keep: bool) -> Vec<CheckResult> {
    let cx = Context::new(site);
    let mut results: Vec<CheckResult> = checks::registry()
        .into_iter()
        .filter(|c| c.meta().band != Band::Apache)
        .map(|c| checks::run_in(c, &cx))
        .collect();
    let fixes = results
        .iter()
        .flat_map(|r| &r.findings)
        .filter(|f| f.config_fix.is_some());
    for f in fixes {
        let text = &f
            .remediation
            .as_ref()
            .expect("a config fix's remediation")
            .text;
        assert!(
            text.contains("location /media"),
            "the reference's own text: {text}"
        );
    }
    checks::fixes::settle(site, &mut results);
    if !keep {
        checks::fixes::forget_data(&mut results);
    }
    results
}

fn json(site: &Site, results: Vec<CheckResult>) -> String {
    let report = Report::new(site.to_json(), results);
    let mut out = Vec::new();
    media_doctor::render::json::write(&mut out, &report).unwrap();
    String::from_utf8(out).unwrap()
}

fn text(site: &Site, results: Vec<CheckResult>) -> String {
    let mut report = Report::new(site.to_json(), results);
    let opts = media_doctor::render::text::Options {
        verbose: true,
        quiet: false,
        fail_on: FailOn::Error,
        width: 100,
    };
    let mut out = Vec::new();
    media_doctor::render::text::write_in_place(&mut out, &mut report, &opts).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn a_report_made_without_the_fixes_as_data_is_the_reference_report() {
    // More servers than `checks::MANY_FINDINGS`: their findings are shrunk to fit.
    let (_dir, conf) = many_servers(checks::MANY_FINDINGS + 4, 7);
    let options = Options {
        nginx_conf: Some(conf),
        ..Default::default()
    };
    let site = Site::gather(&options, true).unwrap();
    let all = checks::registry();
    let lean = checks::run_keeping(&site, &all, false);
    assert!(lean
        .iter()
        .flat_map(|r| &r.findings)
        .all(|f| f.config_fix.is_none() && f.apache_fix.is_none()));
    let want = reference(&site, false);
    for (a, b) in lean.iter().zip(&want) {
        assert_eq!(a.findings, b.findings, "{}", a.id);
    }
    let (lean_json, want_json) = (json(&site, lean), json(&site, want));
    // The merged blocks (MD101 and MD110 at one location) are there, and proven.
    assert!(lean_json.contains("(one block)"), "{lean_json}");
    assert_eq!(lean_json, want_json);
    let lean_text = text(&site, checks::run_keeping(&site, &all, false));
    assert_eq!(lean_text, text(&site, reference(&site, false)));
    // Kept for `--diff`: the fixes as data too, as the reference keeps them.
    let kept = checks::run(&site, &all);
    let want = reference(&site, true);
    assert!(kept
        .iter()
        .flat_map(|r| &r.findings)
        .any(|f| f.config_fix.as_ref().is_some_and(|c| !c.splices.is_empty())));
    for (a, b) in kept.iter().zip(&want) {
        assert_eq!(a.findings, b.findings, "{}", a.id);
    }
}

/// A JSON report whose checks of many findings let them go after the first pass and make them
/// again as it is written (`checks::run_made_again`), its causes grouped from their keys: the
/// reference report, byte for byte.
#[test]
fn a_report_whose_findings_are_made_again_as_written_is_the_reference_report() {
    let (_dir, conf) = many_servers(300, 7);
    let options = Options {
        nginx_conf: Some(conf),
        ..Default::default()
    };
    let mut site = Site::gather(&options, true).unwrap();
    let all = checks::registry();
    let want = json(&site, reference(&site, false));
    // Every check of a finding or more lets them go, if it may.
    let (results, run) = checks::run_made_again(&mut site, &all, 1);
    let run = run.over(&site);
    assert!(run.makes_again());
    // The blocks MD101 and MD110 both fix are merged, proven and printed once.
    assert!(want.contains("(one block)"), "{want}");
    // MD201 (a missing directory per server: errors, in the causes as seen by MD110's blocks)
    // and MD202 (an info per server) are made again; so are MD110's and MD101's, their fixes
    // as data kept until merged and proven, then what settling wrote.
    let held = |results: &[CheckResult], run: &checks::Run<'_>, id: &str| {
        let i = results.iter().position(|r| r.id == id).unwrap();
        (results[i].findings.len(), run.findings(i).map(|f| f.len()))
    };
    assert_eq!(held(&results, &run, "MD201"), (0, Some(300)));
    assert_eq!(held(&results, &run, "MD202"), (0, Some(300)));
    assert_eq!(held(&results, &run, "MD110"), (0, Some(300)));
    assert_eq!(held(&results, &run, "MD101"), (0, Some(43)));
    let first = made_again(&site, results, run);
    assert!(first.contains("\"also_seen_by\": [\n        {\n          \"check\": \"MD201\""));
    assert_eq!(first, want);
    // MD101's fixes held, MD110's let go: merged at their blocks all the same.
    let (results, run) = checks::run_made_again(&mut site, &all, 44);
    let run = run.over(&site);
    assert_eq!(held(&results, &run, "MD101"), (43, None));
    assert_eq!(held(&results, &run, "MD110"), (0, Some(300)));
    assert_eq!(made_again(&site, results, run), want);
    // Past the budget nothing is made again, and the report is the same.
    let (results, run) = checks::run_made_again(&mut site, &all, 301);
    let run = run.over(&site);
    assert!(!run.makes_again());
    assert_eq!(made_again(&site, results, run), want);
}

/// The JSON report of `results` written as `check` writes one whose findings are made again:
/// the checks, then the causes from the run's keys.
fn made_again(site: &Site, results: Vec<CheckResult>, run: checks::Run<'_>) -> String {
    let mut report = Report::new(site.to_json(), results);
    let mut out = Vec::new();
    let keys = media_doctor::render::json::write_checks_made_again(&mut out, &mut report, run);
    media_doctor::render::json::write_causes(&mut out, &report, &keys.unwrap()).unwrap();
    String::from_utf8(out).unwrap()
}

/// What `check` lets go of once every check result is written (`Site::let_go_of_models`, before
/// the causes are grouped) is made again when asked: the same served directories, the same
/// answers.
#[test]
fn a_site_that_let_go_of_its_models_makes_them_again() {
    let (_dir, conf) = many_servers(40, 7);
    let options = Options {
        nginx_conf: Some(conf),
        ..Default::default()
    };
    let mut site = Site::gather(&options, true).unwrap();
    let asked = |site: &Site| {
        let dirs: Vec<String> = site
            .served_dirs()
            .iter()
            .map(|d| d.dir.display().to_string())
            .collect();
        let results = checks::run(site, &checks::registry());
        (dirs, json(site, results))
    };
    let before = asked(&site);
    assert_eq!(before.0.len(), 40);
    site.let_go_of_models();
    assert_eq!(asked(&site), before);
}

/// MD110 made again on a site that let go of its model models a chunk of 4,096 servers at a
/// time: over more servers than a chunk, the report is the reference's all the same (the pairs'
/// order and their kept facts run on across the chunks).
#[test]
fn md110_made_again_a_chunk_of_servers_at_a_time_is_the_reference() {
    let (_dir, conf) = many_servers(4096 + 40, 7);
    let options = Options {
        nginx_conf: Some(conf),
        ..Default::default()
    };
    let mut site = Site::gather(&options, true).unwrap();
    let md110 = [checks::find("MD110").unwrap()];
    let cx = Context::new(&site);
    let mut held = vec![checks::run_in(md110[0], &cx)];
    drop(cx);
    checks::fixes::settle(&site, &mut held);
    checks::fixes::forget_data(&mut held);
    let want = json(&site, held);
    let (results, made) = checks::run_made_again(&mut site, &md110, 1);
    assert!(site.built_model().is_none(), "the site let go of its model");
    let run = made.over(&site);
    assert!(run.makes_again());
    let got = made_again(&site, results, run);
    assert_eq!(got, want);
    assert!(
        site.built_model().is_none(),
        "MD110 made again modelled chunks of its own"
    );
}
