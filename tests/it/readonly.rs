//! media-doctor is read-only: a full `check` (and `trace`) over a fixture tree leaves every file's
//! content, mode, owner and mtime as they were, and creates nothing.

use crate::support::{is_root, require};
use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Debug, PartialEq, Eq)]
struct Entry {
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: (i64, i64),
    content: Option<Vec<u8>>,
    link: Option<PathBuf>,
}

fn snapshot(root: &Path) -> BTreeMap<PathBuf, Entry> {
    walkdir::WalkDir::new(root)
        .follow_links(false)
        .into_iter()
        .map(|e| e.expect("walk"))
        .map(|e| {
            let m = e.path().symlink_metadata().expect("lstat");
            let content = m.is_file().then(|| std::fs::read(e.path()).expect("read"));
            let link = m
                .file_type()
                .is_symlink()
                .then(|| std::fs::read_link(e.path()).expect("readlink"));
            let entry = Entry {
                mode: m.mode(),
                uid: m.uid(),
                gid: m.gid(),
                mtime: (m.mtime(), m.mtime_nsec()),
                content,
                link,
            };
            (e.path().to_path_buf(), entry)
        })
        .collect()
}

fn copy_tree(from: &Path, to: &Path) {
    let status = Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", from.display()))
        .arg(to)
        .status()
        .expect("cp");
    assert!(status.success());
}

#[test]
fn check_and_trace_change_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("sysroot");
    std::fs::create_dir(&root).unwrap();
    copy_tree(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo"),
        &root,
    );
    // Real owners and modes of the kind media-doctor reports on (and would be tempted to "fix").
    let media = root.join("var/www/myapp/media");
    std::fs::set_permissions(
        media.join("uploads/2026/11/photo.jpg"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    std::fs::set_permissions(
        root.join("var/www/myapp/downloads"),
        std::fs::Permissions::from_mode(0o700),
    )
    .unwrap();
    if require(
        is_root(),
        "chown needs root; checking modes and contents only",
    ) {
        std::os::unix::fs::chown(&media, Some(1000), Some(33)).unwrap();
        std::os::unix::fs::chown(
            media.join("uploads/2026/11/avatar.png"),
            Some(65534),
            Some(65534),
        )
        .unwrap();
    }
    let before = snapshot(tmp.path());

    let bin = env!("CARGO_BIN_EXE_media-doctor");
    let root_arg = root.to_str().unwrap();
    let runs: [&[&str]; 4] = [
        &["check", "--root", root_arg, "--site", "myapp"],
        &[
            "check",
            "--root",
            root_arg,
            "--site",
            "myapp",
            "--offline",
            "--format",
            "json",
        ],
        &["check", "--root", root_arg],
        &[
            "trace",
            "--root",
            root_arg,
            "--offline",
            "http://myapp.example.com/media/uploads/2026/11/photo.jpg",
        ],
    ];
    for args in runs {
        let out = Command::new(bin)
            .args(args)
            .current_dir(tmp.path())
            .output()
            .unwrap();
        assert!(
            out.status.code().is_some(),
            "{args:?} was killed by a signal"
        );
    }

    let after = snapshot(tmp.path());
    let created: Vec<_> = after.keys().filter(|p| !before.contains_key(*p)).collect();
    assert!(created.is_empty(), "check created files: {created:?}");
    for (path, was) in &before {
        assert_eq!(after.get(path), Some(was), "{} changed", path.display());
    }
}
