//! A process in another mount namespace (a container, or anything started with `unshare -m`):
//! where each path it opens is on this machine. Its /proc/PID/mountinfo gives, for every mount it
//! sees, the filesystem (device) and the directory of that filesystem mounted there; our own
//! /proc/self/mountinfo says where this machine mounts the same filesystem. A path of the
//! process maps to a host path when the filesystem behind it is mounted here too (a bind mount,
//! a named volume's directory, the container's overlay), and is "only inside the container"
//! otherwise (a tmpfs of its own, a filesystem this machine does not mount, or one this
//! machine's mounts hide): that is said, with the mount, never guessed.

use std::path::{Component, Path, PathBuf};

/// The mount namespace of `who` (a pid, or `self`): the link /proc/WHO/ns/mnt (`mnt:[N]`).
fn namespace_link(who: impl std::fmt::Display) -> std::io::Result<PathBuf> {
    std::fs::read_link(format!("/proc/{who}/ns/mnt"))
}

/// Whether processes `a` and `b` are known to share a mount namespace: both readable, the same.
pub fn same_namespace(a: i32, b: i32) -> bool {
    match (namespace_link(a), namespace_link(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// One line of /proc/PID/mountinfo (proc(5)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub id: u64,
    /// `major:minor` of the filesystem.
    pub dev: String,
    /// The directory of that filesystem shown at the mount point (`/` for a whole filesystem;
    /// a bind mount's source directory on it).
    pub root: PathBuf,
    /// Where it is mounted, as the process sees it.
    pub point: PathBuf,
    pub fstype: String,
    /// The mount source (`/dev/sda1`, `tmpfs`, `overlay`).
    pub source: String,
}

/// Where a path of the process is on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// The same file at this host path (the process's mount holding it is `mount`).
    Host { path: PathBuf, mount: PathBuf },
    /// Only inside the process's mount namespace: no host path shows it.
    Inside { mount: PathBuf, why: String },
}

/// The mounts of a process in another mount namespace, and ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mounts {
    pub pid: i32,
    /// What the process sees, in mount order (a later mount on the same point hides an earlier).
    pub inside: Vec<Mount>,
    /// What this machine (our own namespace) sees.
    pub host: Vec<Mount>,
}

impl Mounts {
    /// The mounts of `pid` against ours, when it runs in another mount namespace than this
    /// process (`None` in the same one: its paths are ours). Needs root for another user's
    /// process.
    pub fn of_pid(pid: i32) -> std::io::Result<Option<Mounts>> {
        if namespace_link(pid)? == namespace_link("self")? {
            return Ok(None);
        }
        Ok(Some(Mounts {
            pid,
            inside: parse(&std::fs::read_to_string(format!("/proc/{pid}/mountinfo"))?),
            host: parse(&std::fs::read_to_string("/proc/self/mountinfo")?),
        }))
    }

    /// Where the process's `path` (absolute, lexically normal) is on this machine.
    pub fn place(&self, path: &Path) -> Place {
        let Some((m, rel)) = deepest(&self.inside, path) else {
            return Place::Inside {
                mount: PathBuf::from("/"),
                why: "no mount of the process holds it".into(),
            };
        };
        let on_fs = join(&m.root, &rel);
        // Where this machine shows that directory of the same filesystem: a mount of it whose
        // root holds the directory, and that no deeper mount of ours hides there.
        let mut hidden = None;
        for h in self.host.iter().filter(|h| h.dev == m.dev) {
            let Ok(below) = on_fs.strip_prefix(&h.root) else {
                continue;
            };
            let host = join(&h.point, below);
            match deepest(&self.host, &host) {
                Some((top, _)) if top.id == h.id => {
                    return Place::Host {
                        path: host,
                        mount: m.point.clone(),
                    }
                }
                _ => hidden = Some(host),
            }
        }
        let why = match hidden {
            Some(h) => format!(
                "its {} mount at {} is mounted here at {}, under another mount that hides it",
                m.fstype,
                m.point.display(),
                h.display()
            ),
            None => format!(
                "its {} mount at {} ({}) is not mounted on this machine",
                m.fstype,
                m.point.display(),
                m.source
            ),
        };
        Place::Inside {
            mount: m.point.clone(),
            why,
        }
    }

    /// The process's path for a host path: the inverse of `place`, through the deepest of its
    /// mounts that shows it.
    pub fn container_path(&self, host: &Path) -> Option<PathBuf> {
        let mut best: Option<(usize, PathBuf)> = None;
        for m in &self.inside {
            if let Place::Host { path: base, .. } = self.place(&m.point) {
                if let Ok(rel) = host.strip_prefix(&base) {
                    let depth = m.point.components().count();
                    let path = join(&m.point, rel);
                    // Not where a deeper mount of the process hides it.
                    let shown = deepest(&self.inside, &path).is_some_and(|(t, _)| t.id == m.id);
                    if shown && best.as_ref().map_or(true, |(d, _)| depth >= *d) {
                        best = Some((depth, path));
                    }
                }
            }
        }
        best.map(|(_, p)| p)
    }
}

/// The mount that shows `path` (the deepest mount point holding it; of several on one point,
/// the last mounted), and the rest of the path below it.
fn deepest<'m>(mounts: &'m [Mount], path: &Path) -> Option<(&'m Mount, PathBuf)> {
    let mut best: Option<(&Mount, PathBuf)> = None;
    for m in mounts {
        let Ok(rel) = path.strip_prefix(&m.point) else {
            continue;
        };
        let deeper = best.as_ref().map_or(true, |(b, _)| {
            m.point.components().count() >= b.point.components().count()
        });
        if deeper {
            best = Some((m, rel.to_path_buf()));
        }
    }
    best
}

fn join(base: &Path, rel: &Path) -> PathBuf {
    if rel.as_os_str().is_empty() {
        base.to_path_buf()
    } else {
        base.join(rel)
    }
}

/// /proc/PID/mountinfo: `36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw`.
/// Paths are octal-escaped (`\040` for a space).
pub fn parse(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let (before, after) = line.split_once(" - ")?;
            let f: Vec<&str> = before.split(' ').collect();
            let a: Vec<&str> = after.split(' ').collect();
            Some(Mount {
                id: f.first()?.parse().ok()?,
                dev: f.get(2)?.to_string(),
                root: unescape(f.get(3)?),
                point: unescape(f.get(4)?),
                fstype: a.first()?.to_string(),
                source: a.get(1).map(|s| s.to_string()).unwrap_or_default(),
            })
        })
        .collect()
}

fn unescape(s: &str) -> PathBuf {
    use std::os::unix::ffi::OsStringExt;
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    let p = PathBuf::from(std::ffi::OsString::from_vec(out));
    // Lexically normal, so prefixes compare by component.
    p.components()
        .filter(|c| !matches!(c, Component::CurDir))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST: &str = "\
22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw
30 27 0:50 / /var/lib/docker/overlay2/abc/merged rw - overlay overlay rw
31 27 8:2 / /data rw - ext4 /dev/sdb1 rw
32 31 0:60 / /data/hidden rw - tmpfs tmpfs rw
";
    const INSIDE: &str = "\
100 99 0:50 / / rw - overlay overlay rw
101 100 0:70 / /proc rw - proc proc rw
102 100 8:1 /var/lib/docker/volumes/shop_media/_data /srv/media rw - ext4 /dev/sda1 rw
103 100 8:2 /shop/static /srv/static\\040files ro - ext4 /dev/sdb1 rw
104 100 0:80 / /run/cache rw - tmpfs tmpfs rw
105 100 8:2 /hidden/x /srv/x rw - ext4 /dev/sdb1 rw
";

    fn mounts() -> Mounts {
        Mounts {
            pid: 1,
            inside: parse(INSIDE),
            host: parse(HOST),
        }
    }

    fn host(p: &str) -> Place {
        mounts().place(Path::new(p))
    }

    #[test]
    fn a_volume_and_a_bind_mount_map_to_their_host_directories() {
        assert_eq!(
            host("/srv/media/a/b.jpg"),
            Place::Host {
                path: "/var/lib/docker/volumes/shop_media/_data/a/b.jpg".into(),
                mount: "/srv/media".into()
            }
        );
        assert_eq!(
            host("/srv/static files/app.css"),
            Place::Host {
                path: "/data/shop/static/app.css".into(),
                mount: "/srv/static files".into()
            }
        );
        // The container's own layer: the overlay docker mounts on the host.
        assert_eq!(
            host("/etc/nginx/nginx.conf"),
            Place::Host {
                path: "/var/lib/docker/overlay2/abc/merged/etc/nginx/nginx.conf".into(),
                mount: "/".into()
            }
        );
        let m = mounts();
        assert_eq!(
            m.container_path(Path::new("/var/lib/docker/volumes/shop_media/_data/a")),
            Some("/srv/media/a".into())
        );
        assert_eq!(m.container_path(Path::new("/home")), None);
    }

    #[test]
    fn a_host_path_has_no_container_path_where_a_deeper_mount_of_the_container_hides_it() {
        let m = Mounts {
            pid: 1,
            inside: parse(
                "100 99 0:50 / / rw - overlay overlay rw\n\
                 106 100 8:2 / /mnt/data rw - ext4 /dev/sdb1 rw\n\
                 107 106 0:81 / /mnt/data/sub rw - tmpfs tmpfs rw\n",
            ),
            host: parse(HOST),
        };
        assert_eq!(
            m.container_path(Path::new("/data/other/f")),
            Some("/mnt/data/other/f".into())
        );
        // /mnt/data/sub is the container's tmpfs: the host's /data/sub is not seen there.
        assert_eq!(m.container_path(Path::new("/data/sub/f")), None);
    }

    #[test]
    fn a_mount_of_its_own_or_one_the_host_hides_is_only_inside() {
        let Place::Inside { mount, why } = host("/run/cache/x") else {
            panic!("a tmpfs of the container's own")
        };
        assert_eq!(mount, Path::new("/run/cache"));
        assert!(why.contains("not mounted on this machine"), "{why}");
        let Place::Inside { why, .. } = host("/srv/x/y") else {
            panic!("/data/hidden is under the host's tmpfs")
        };
        assert!(why.contains("hides"), "{why}");
    }
}
