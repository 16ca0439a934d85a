//! Rules about how the source does a thing, where one way is right and another looks the same
//! but is wrong; each read from src/ and failing with the file and line.

use std::path::{Path, PathBuf};

/// A system path is tested through `SysRoot::is_dir` / `is_file` / `exists`, which follow links
/// inside `--root`: `host_path(p).is_dir()` follows an absolute link (`media -> /srv/shared/media`)
/// out of the root to this machine's own files, and a served directory behind one was skipped
/// as missing (MD203 passed with nothing scanned).
#[test]
fn system_paths_are_tested_through_the_root() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files: Vec<PathBuf> = Vec::new();
    crate::layers::sources(&src, &mut files);
    let mut wrong = Vec::new();
    for f in files {
        if f.ends_with("sysroot.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        for (n, line) in text.lines().enumerate() {
            let Some(at) = line.find("host_path(") else {
                continue;
            };
            let rest = &line[at..];
            if [").is_dir()", ").is_file()", ").exists()"]
                .iter()
                .any(|t| rest.contains(t))
            {
                wrong.push(format!("{}:{}: {}", f.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "use root.is_dir/is_file/exists(p) instead:\n{}",
        wrong.join("\n")
    );
}

/// The reload printed with a fix is the site's (`Site::reload_command`: the running master's
/// systemd unit, its container, or a HUP to it), never a fixed `systemctl reload nginx`, which
/// fails where nginx was started by hand. Only the default for when nothing runs names it.
#[test]
fn reload_commands_come_from_the_site() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files: Vec<PathBuf> = Vec::new();
    crate::layers::sources(&src, &mut files);
    let mut wrong = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        // Unit tests may spell a command out.
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        for (n, line) in code.lines().enumerate() {
            let comment = line.trim_start().starts_with("//");
            if line.contains("systemctl reload nginx")
                && !line.contains("DEFAULT_RELOAD")
                && !comment
            {
                wrong.push(format!("{}:{}: {}", f.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "use site.reload_command() instead:\n{}",
        wrong.join("\n")
    );
}
