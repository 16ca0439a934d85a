//! Running the real binary, from the repository's top (so fixture paths are relative), without
//! colours, and making its output stable for snapshots.

use std::path::Path;
use std::process::Command;

pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub const REPO: &str = env!("CARGO_MANIFEST_DIR");

pub fn media_doctor(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_media-doctor"))
        .args(args)
        .current_dir(REPO)
        .env("NO_COLOR", "1")
        .output()
        .expect("run media-doctor");
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `check` on a fixture site (fixtures/sites/NAME), offline, plus `extra` arguments.
pub fn check_fixture(site: &str, extra: &[&str]) -> Output {
    let root = format!("fixtures/sites/{site}");
    assert!(Path::new(REPO).join(&root).is_dir(), "no fixture {root}");
    let mut args = vec!["check", "--root", &root, "--offline", "--color", "never"];
    args.extend_from_slice(extra);
    media_doctor(&args)
}

/// Output without what differs between machines: the checkout's absolute path and the version.
pub fn stable(text: &str) -> String {
    text.replace(REPO, "[REPO]").replace(
        &format!("\"{}\"", env!("CARGO_PKG_VERSION")),
        "\"[VERSION]\"",
    )
}
