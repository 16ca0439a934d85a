//! `--root DIR`: the filesystem root that every system path is read under.
//!
//! media-doctor reasons about paths as the server sees them (`/etc/nginx/nginx.conf`,
//! `/var/www/myapp/media`). With `--root fixtures/demo` those paths are read from
//! `fixtures/demo/etc/nginx/nginx.conf` and so on, like a chroot: a mounted image, a container
//! export or a fixture tree can be examined without being installed. Reports always show the
//! system path, never the host path.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

pub mod mounts;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SysRoot {
    dir: PathBuf,
    /// With `dir` = /proc/PID/root of a process in another mount namespace (a container): its
    /// mounts against ours, so that a path it opens is judged at the host path behind it.
    mounts: Option<Arc<mounts::Mounts>>,
}

impl SysRoot {
    /// The live system: system paths are host paths.
    pub fn live() -> Self {
        SysRoot {
            dir: PathBuf::from("/"),
            mounts: None,
        }
    }

    /// The tree under `dir`. /proc/PID/root of a process in another mount namespace (nginx or
    /// the app in a container) is that process's view: its paths map through its mounts
    /// (`mounts::Mounts`) to the host paths behind them, and what no host path shows is read
    /// through /proc/PID/root.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        let dir = dir.into();
        let dir = std::path::absolute(&dir).unwrap_or(dir);
        let mounts = process_of_root(&dir)
            .and_then(|pid| mounts::Mounts::of_pid(pid).ok().flatten())
            .map(Arc::new);
        SysRoot { dir, mounts }
    }

    /// The view of process `pid` (its /proc/PID/root).
    pub fn of_process(pid: i32) -> Self {
        SysRoot::new(format!("/proc/{pid}/root"))
    }

    /// The mounts of the process whose view this is, when it runs in another mount namespace.
    pub fn mounts(&self) -> Option<&mounts::Mounts> {
        self.mounts.as_deref()
    }

    /// The process whose view this is (`--root /proc/PID/root` of another mount namespace).
    pub fn process(&self) -> Option<i32> {
        self.mounts.as_ref().map(|m| m.pid)
    }

    /// Where a system path of the process whose view this is lies on this machine: a host path,
    /// or only inside its mount namespace (and why). None for other roots.
    pub fn place(&self, system_path: &Path) -> Option<mounts::Place> {
        let m = self.mounts.as_ref()?;
        Some(m.place(&lexical(system_path)?))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// True when examining the running system (no `--root`), where as-user verification,
    /// /proc and live requests make sense.
    pub fn is_live(&self) -> bool {
        self.dir == Path::new("/")
    }

    /// Where a system path is on this machine. Relative paths are taken as relative to `/`.
    pub fn host_path(&self, system_path: &Path) -> PathBuf {
        if self.is_live() {
            return if system_path.is_absolute() {
                system_path.to_path_buf()
            } else {
                Path::new("/").join(system_path)
            };
        }
        if let Some(m) = &self.mounts {
            if let Some(mounts::Place::Host { path, .. }) =
                lexical(system_path).map(|p| m.place(&p))
            {
                return path;
            }
        }
        let mut out = self.dir.clone();
        for c in system_path.components() {
            match c {
                Component::Normal(part) => out.push(part),
                // `..` and `.` are kept literally: the kernel resolves them, as it would under chroot
                // only when the path stays inside; lexical clamping is the walker's job (fs::walk).
                Component::ParentDir => out.push(".."),
                Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
            }
        }
        out
    }

    /// Where a system path is on this machine, with symlinks followed inside the root as the
    /// kernel would under chroot (an absolute link target is taken from the root, `..` stops at
    /// it). On the live system this is the path itself: the kernel resolves it when opened.
    /// Fails with ELOOP after 40 links, as the kernel does, and with the error of a missing or
    /// unreadable component.
    pub fn resolve(&self, system_path: &Path) -> std::io::Result<PathBuf> {
        if self.is_live() {
            return Ok(self.host_path(system_path));
        }
        const MAX_LINKS: usize = 40;
        let mut links = 0;
        // Components still to walk, last one first; `done` is the resolved system path so far.
        let mut todo: Vec<std::ffi::OsString> = components_rev(system_path);
        let mut done = PathBuf::from("/");
        while let Some(part) = todo.pop() {
            if part == ".." {
                done.pop();
                continue;
            }
            let candidate = done.join(&part);
            let host = self.host_path(&candidate);
            match std::fs::symlink_metadata(&host) {
                Ok(m) if m.file_type().is_symlink() => {
                    links += 1;
                    if links > MAX_LINKS {
                        return Err(std::io::Error::from_raw_os_error(nix::libc::ELOOP));
                    }
                    let target = std::fs::read_link(&host)?;
                    if target.is_absolute() {
                        done = PathBuf::from("/");
                    }
                    todo.extend(components_rev(&target));
                }
                Ok(_) => done = candidate,
                // The last component may be missing: report it from the real open().
                Err(e) if todo.is_empty() && e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(e)
                }
                Err(e) => return Err(e),
            }
        }
        Ok(self.host_path(&done))
    }

    /// Whether the system path is a directory, links followed inside the root (`host_path(p)
    /// .is_dir()` would follow an absolute link out of the root, to this machine's own files).
    pub fn is_dir(&self, system_path: &Path) -> bool {
        self.resolve(system_path).is_ok_and(|h| h.is_dir())
    }

    /// Whether the system path is a regular file, links followed inside the root.
    pub fn is_file(&self, system_path: &Path) -> bool {
        self.resolve(system_path).is_ok_and(|h| h.is_file())
    }

    /// Whether the system path exists, links followed inside the root.
    pub fn exists(&self, system_path: &Path) -> bool {
        self.resolve(system_path).is_ok_and(|h| h.exists())
    }

    /// The system path for a host path under the root (the inverse of `host_path`), when it is inside.
    pub fn system_path(&self, host_path: &Path) -> Option<PathBuf> {
        if self.is_live() {
            return Some(host_path.to_path_buf());
        }
        match host_path.strip_prefix(&self.dir) {
            Ok(rel) => Some(Path::new("/").join(rel)),
            Err(_) => self.mounts.as_ref()?.container_path(host_path),
        }
    }

    /// The system path (not the host path: compare `resolve`) with every symlink resolved inside
    /// the root, as the kernel would under chroot: an absolute link target starts again at the
    /// root, `..` never climbs above it. Also on the live system. Components that do not exist are kept as written (lexically normalised), so a missing
    /// MEDIA_ROOT still compares with the directory nginx serves. Errors: a symlink loop (more than
    /// 40 links, the kernel's limit) and I/O errors other than "not found" (e.g. permission denied).
    pub fn real_path(&self, path: &Path) -> std::io::Result<PathBuf> {
        const MAX_LINKS: usize = 40;
        let mut pending = components_rev(path);
        let mut current = PathBuf::from("/");
        let mut links = 0;
        let mut missing = false;
        while let Some(part) = pending.pop() {
            if part == ".." {
                current.pop();
                continue;
            }
            let candidate = current.join(&part);
            if missing {
                current = candidate;
                continue;
            }
            match std::fs::symlink_metadata(self.host_path(&candidate)) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    links += 1;
                    if links > MAX_LINKS {
                        return Err(std::io::Error::other(format!(
                            "too many levels of symbolic links at {}",
                            candidate.display()
                        )));
                    }
                    let target = std::fs::read_link(self.host_path(&candidate))?;
                    if target.is_absolute() {
                        current = PathBuf::from("/");
                    }
                    pending.extend(components_rev(&target));
                }
                Ok(_) => current = candidate,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    missing = true;
                    current = candidate;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(current)
    }
}

/// `/proc/PID/root` (as written or absolute): the PID.
fn process_of_root(dir: &Path) -> Option<i32> {
    let rest = dir.strip_prefix("/proc").ok()?;
    let mut c = rest.components();
    let pid = c.next()?.as_os_str().to_str()?.parse().ok()?;
    (c.next()?.as_os_str() == "root" && c.next().is_none()).then_some(pid)
}

/// An absolute path with only normal components (`..` left to the kernel: None).
fn lexical(p: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::from("/");
    for c in p.components() {
        match c {
            Component::Normal(part) => out.push(part),
            Component::CurDir | Component::RootDir => {}
            Component::ParentDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// A path's normal and `..` components, last first (a stack for `resolve`).
fn components_rev(p: &Path) -> Vec<std::ffi::OsString> {
    let mut v: Vec<std::ffi::OsString> = p
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_os_string()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect();
    v.reverse();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_system_paths_under_the_root() {
        let r = SysRoot::new("/tmp/img");
        assert_eq!(
            r.host_path(Path::new("/etc/nginx/nginx.conf")),
            Path::new("/tmp/img/etc/nginx/nginx.conf")
        );
        assert_eq!(
            r.system_path(Path::new("/tmp/img/etc/x")).unwrap(),
            Path::new("/etc/x")
        );
        assert!(r.system_path(Path::new("/etc/x")).is_none());
        assert_eq!(
            SysRoot::live().host_path(Path::new("/etc")),
            Path::new("/etc")
        );
    }

    #[test]
    fn resolves_symlinks_inside_the_root() {
        let tmp = tempfile::tempdir().unwrap();
        let r = SysRoot::new(tmp.path());
        std::fs::create_dir_all(tmp.path().join("srv/releases/42/media")).unwrap();
        // An absolute target means the root's /srv, not the host's.
        std::os::unix::fs::symlink("/srv/releases/42", tmp.path().join("srv/current")).unwrap();
        std::os::unix::fs::symlink("../../..", tmp.path().join("srv/releases/42/up")).unwrap();
        std::os::unix::fs::symlink("loop", tmp.path().join("srv/loop")).unwrap();
        assert_eq!(
            r.real_path(Path::new("/srv/current/media")).unwrap(),
            Path::new("/srv/releases/42/media")
        );
        // `..` stops at the root; missing parts are kept.
        assert_eq!(
            r.real_path(Path::new("/srv/current/up/../../etc/x"))
                .unwrap(),
            Path::new("/etc/x")
        );
        assert!(r.real_path(Path::new("/srv/loop/a")).is_err());
    }
}
