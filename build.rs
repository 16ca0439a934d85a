//! Puts the git commit into `--version` (MEDIA_DOCTOR_VERSION = "0.1.0 (1a2b3c4)").
//!
//! Tolerant by design: a build from a crate tarball, without git, or inside someone else's
//! repository gets the plain package version.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let version = env("CARGO_PKG_VERSION");
    let manifest_dir = PathBuf::from(env("CARGO_MANIFEST_DIR"));
    let full = match commit(&manifest_dir) {
        Some(hash) => format!("{version} ({hash})"),
        None => version,
    };
    println!("cargo:rustc-env=MEDIA_DOCTOR_VERSION={full}");
    println!("cargo:rerun-if-changed=build.rs");
    // Re-run when HEAD moves: HEAD itself (checkout), the branch it points to (commit), and
    // packed-refs (gc). Only existing files: a missing one would make cargo re-run every build.
    for file in ["HEAD", "packed-refs"]
        .into_iter()
        .map(String::from)
        .chain(git(&manifest_dir, &["symbolic-ref", "-q", "HEAD"]))
    {
        if let Some(path) = git(
            &manifest_dir,
            &["rev-parse", "--path-format=absolute", "--git-path", &file],
        ) {
            if Path::new(&path).exists() {
                println!("cargo:rerun-if-changed={path}");
            }
        }
    }
}

/// The short commit, when the package directory is the top of a git checkout.
fn commit(dir: &Path) -> Option<String> {
    let top = git(dir, &["rev-parse", "--show-toplevel"])?;
    let same = |a: &Path, b: &Path| a.canonicalize().ok() == b.canonicalize().ok();
    if !same(Path::new(&top), dir) {
        return None;
    }
    git(dir, &["rev-parse", "--short", "HEAD"])
}

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let text = text.trim();
    (out.status.success() && !text.is_empty()).then(|| text.to_string())
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_default()
}
