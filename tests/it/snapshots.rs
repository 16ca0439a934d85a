//! Snapshot tests (insta) of every output format: on the hand-built sample report (changes only
//! when a renderer changes) and on the fixture sites (changes when a check's output does).
//!
//! Refresh after an intended change, then review the diff of tests/it/snapshots/ in git:
//!
//!     INSTA_UPDATE=always cargo test --test it snapshots
//!
//! (or `cargo insta review` with cargo-insta installed). Under CI=true insta never writes
//! snapshots: a stale one fails the test.

use crate::run::{check_fixture, stable};
use crate::sample;
use media_doctor::render::{self, files::SourceFiles};
use media_doctor::sysroot::SysRoot;

const REFRESH: &str = "refresh: INSTA_UPDATE=always cargo test --test it snapshots";

pub(crate) fn snap(name: &str, value: &str) {
    let mut settings = insta::Settings::clone_current();
    settings.set_prepend_module_to_snapshot(false);
    settings.set_description(REFRESH);
    settings.set_omit_expression(true);
    settings.bind(|| insta::assert_snapshot!(name.to_string(), value));
}

fn render(f: impl FnOnce(&mut Vec<u8>) -> std::io::Result<()>) -> String {
    colored::control::set_override(false);
    let mut out = Vec::new();
    f(&mut out).unwrap();
    String::from_utf8(out).unwrap()
}

fn sample_files() -> SourceFiles {
    SourceFiles::new(
        SysRoot::new("/work/repo/fixtures/img"),
        Some("/work/repo".into()),
    )
    .with_target(Some("/etc/nginx/nginx.conf".into()))
}

#[test]
fn sample_text() {
    let report = sample::report();
    let text = |opts: render::text::Options| render(|out| render::text::write(out, &report, &opts));
    let default = render::text::Options::default();
    snap("sample_text_80", &text(default.clone()));
    snap(
        "sample_text_120",
        &text(render::text::Options {
            width: 120,
            ..default.clone()
        }),
    );
    snap(
        "sample_text_quiet",
        &text(render::text::Options {
            quiet: true,
            ..default.clone()
        }),
    );
    snap(
        "sample_text_verbose",
        &text(render::text::Options {
            verbose: true,
            ..default
        }),
    );
}

#[test]
fn sample_json_sarif_github() {
    let report = sample::report();
    snap(
        "sample_json",
        &render(|out| render::json::write(out, &report)),
    );
    snap(
        "sample_sarif",
        &render(|out| render::sarif::write(out, &report, &sample_files())),
    );
    snap(
        "sample_github",
        &render(|out| render::github::write(out, &report, &sample_files())),
    );
}

#[test]
fn fixture_sites() {
    for site in ["healthy", "broken", "unloadable"] {
        for format in ["text", "json", "sarif", "github"] {
            let out = check_fixture(site, &["--format", format]);
            assert!(
                out.code == 0 || out.code == 1,
                "{site} {format}: exit {}: {}",
                out.code,
                out.stderr
            );
            snap(&format!("{site}_{format}"), &stable(&out.stdout));
        }
    }
}
