//! A real file to ask for: picked from the directory nginx serves for a prefix, and the URL that
//! names it.

use crate::sysroot::SysRoot;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Entries looked at before giving up on finding a file (a media tree can hold millions).
const MAX_ENTRIES: usize = 5_000;
const MAX_DEPTH: usize = 8;

/// The first regular file under `dir` (a system path), in name order, skipping hidden entries.
/// `Err` says why none was found.
pub fn pick_file(root: &SysRoot, dir: &Path) -> Result<PathBuf, String> {
    let host = root.host_path(dir);
    match std::fs::metadata(&host) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(format!("{} is not a directory", dir.display())),
        Err(e) => return Err(format!("cannot read {}: {e}", dir.display())),
    }
    let walker = walkdir::WalkDir::new(&host)
        .max_depth(MAX_DEPTH)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.'));
    let mut unreadable = None;
    for entry in walker.take(MAX_ENTRIES) {
        match entry {
            Ok(e) if e.file_type().is_file() => {
                let rel = e.path().strip_prefix(&host).unwrap_or(e.path());
                return Ok(dir.join(rel));
            }
            Ok(_) => {}
            Err(e) => {
                unreadable.get_or_insert_with(|| e.to_string());
            }
        }
    }
    Err(match unreadable {
        Some(e) => format!("no file found under {} ({e})", dir.display()),
        None => format!("no file under {}", dir.display()),
    })
}

/// The URL path for `file` served under `prefix` from `dir`: `/media/` + `a b.jpg` → `/media/a%20b.jpg`
/// (percent-encoded by `served::encode`, as `ServedDir::url_for` does).
/// None when the file is not under the directory.
pub fn url_path(prefix: &str, dir: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(dir).ok()?;
    let mut out = prefix.trim_end_matches('/').to_string();
    for part in rel.components() {
        let std::path::Component::Normal(seg) = part else {
            return None;
        };
        out.push('/');
        // The bytes of the name, as every URL of a file is spelled (not the lossy UTF-8 text,
        // which turned a Latin-1 byte into %EF%BF%BD, a file that does not exist).
        out.push_str(&crate::nginx::resolve::served::encode(seg.as_bytes()));
    }
    if rel.as_os_str().is_empty() {
        // An exact location naming the file itself.
        return Some(prefix.to_string());
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_escape_each_segment() {
        assert_eq!(
            url_path(
                "/media/",
                Path::new("/srv/m"),
                Path::new("/srv/m/up loads/a#1.jpg")
            )
            .unwrap(),
            "/media/up%20loads/a%231.jpg"
        );
        assert_eq!(
            url_path(
                "/favicon.ico",
                Path::new("/srv/f.ico"),
                Path::new("/srv/f.ico")
            )
            .unwrap(),
            "/favicon.ico"
        );
        assert!(url_path("/media/", Path::new("/srv/m"), Path::new("/etc/passwd")).is_none());
    }

    /// A name that is not UTF-8 gets the same URL from the live sample as from the served
    /// directories (the sample once encoded U+FFFD in place of the byte).
    #[test]
    fn a_file_has_one_url_whoever_spells_it() {
        use std::ffi::OsStr;
        let name = OsStr::from_bytes(b"caf\xe9 #1.jpg");
        let file = Path::new("/srv/m/up").join(name);
        let sample = url_path("/media/", Path::new("/srv/m"), &file).unwrap();
        assert_eq!(sample, "/media/up/caf%E9%20%231.jpg");
        let dir = crate::nginx::resolve::served::ServedDir {
            dir: Path::new("/srv/m"),
            prefix: "/media/",
            kind: crate::nginx::resolve::ServedKind::Alias,
            at_node: 0,
            server: 0,
            location: None,
            regex: false,
        };
        assert_eq!(dir.url_for(&file).as_deref(), Some(sample.as_str()));
    }

    #[test]
    fn the_first_visible_file_is_picked() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("b/c")).unwrap();
        std::fs::create_dir_all(d.path().join(".cache")).unwrap();
        std::fs::write(d.path().join(".cache/x"), "").unwrap();
        std::fs::write(d.path().join("b/c/z.jpg"), "").unwrap();
        std::fs::write(d.path().join("b/a.jpg"), "").unwrap();
        let root = SysRoot::new(d.path());
        assert_eq!(
            pick_file(&root, Path::new("/")).unwrap(),
            Path::new("/b/a.jpg")
        );
        assert!(pick_file(&root, Path::new("/missing")).is_err());
        std::fs::remove_file(d.path().join("b/a.jpg")).unwrap();
        std::fs::remove_file(d.path().join("b/c/z.jpg")).unwrap();
        assert!(pick_file(&root, Path::new("/b"))
            .unwrap_err()
            .starts_with("no file under"));
    }
}
