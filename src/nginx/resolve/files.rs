//! The system calls nginx makes on a path, answered from the files as the worker user sees them
//! (through `fs::walk`): `stat()` (try_files, index tests), `open(O_RDONLY)` (the static module),
//! `opendir()` (autoindex), and their `disable_symlinks` variants (nginx then opens every
//! component with `openat(O_NOFOLLOW)`).
//!
//! The answer is an errno, because nginx's status follows from the errno: ENOENT, ENOTDIR and
//! ENAMETOOLONG give 404, EACCES and ELOOP give 403.

use super::conf::Symlinks;
use crate::fs::access::Access;
use crate::fs::identity::Identity;
use crate::fs::walk::{self, Outcome, Walk};
use crate::sysroot::SysRoot;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File,
    /// A FIFO or a device: nginx's static module opens it (O_NONBLOCK), sees it is not a
    /// regular file and answers 404.
    Other,
    /// A unix socket: `open()` fails with ENXIO (500); `stat()` finds it.
    Socket,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Errno {
    NoEnt,
    NotDir,
    Access,
    Loop,
    NameTooLong,
    /// ENXIO: `open()` of a unix socket.
    NoDevice,
    /// media-doctor could not tell (not root, unreadable metadata, unknown worker user).
    Unknown(String),
}

impl Errno {
    /// As nginx prints it in the error log: `2: No such file or directory`.
    pub fn log_text(&self) -> String {
        match self {
            Errno::NoEnt => "2: No such file or directory".into(),
            Errno::NotDir => "20: Not a directory".into(),
            Errno::Access => "13: Permission denied".into(),
            Errno::Loop => "40: Too many levels of symbolic links".into(),
            Errno::NameTooLong => "36: File name too long".into(),
            Errno::NoDevice => "6: No such device or address".into(),
            Errno::Unknown(why) => format!("unknown: {why}"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `stat()`: x on every directory on the way; nothing on the file itself.
    Stat,
    /// `open(O_RDONLY)`: also r on the file (or directory) itself.
    Open,
    /// `opendir()`: like `open`, and it must be a directory.
    OpenDir,
}

/// How `disable_symlinks` applies to one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SymlinkPolicy {
    pub mode: Symlinks,
    /// Bytes of the path (from `from=`) whose symlinks are not checked.
    pub from: usize,
}

impl SymlinkPolicy {
    pub const OFF: SymlinkPolicy = SymlinkPolicy {
        mode: Symlinks::Off,
        from: 0,
    };
}

#[derive(Debug, Clone)]
pub struct Probe {
    pub result: Result<Kind, Errno>,
    /// The walk behind the answer (the last one made, for the trace).
    pub walk: Option<Walk>,
    /// `disable_symlinks` made the error (a symlink refused), not the path itself: nginx logs
    /// ELOOP for both a refused link and a real loop, and the cause told is not the same.
    pub by_policy: bool,
}

pub struct Files<'a> {
    pub root: &'a SysRoot,
    /// What the resolver's walks share: user names and the metadata already read.
    pub cache: &'a walk::WalkCache,
    /// Walks with their display strings (`resolve`), or outcome only (`predict`).
    pub explain: bool,
    /// The worker user, or why it is unknown.
    pub who: Result<&'a Identity, String>,
}

/// The kernel's limit on one path component (NAME_MAX) and on a whole path (PATH_MAX).
const NAME_MAX: usize = 255;
const PATH_MAX: usize = 4096;

impl Files<'_> {
    fn walk(&self, who: &Identity, path: &Path, want: Access) -> Walk {
        walk::walk_cached(self.root, self.cache, path, who, want, self.explain)
    }

    /// One call, as nginx makes it for `path` (bytes, as nginx built it).
    pub fn call(&self, path: &[u8], op: Op, policy: SymlinkPolicy) -> Probe {
        let who = match &self.who {
            Ok(w) => *w,
            Err(why) => {
                return Probe {
                    result: Err(Errno::Unknown(why.clone())),
                    walk: None,
                    by_policy: false,
                }
            }
        };
        if path.len() >= PATH_MAX {
            return Probe {
                result: Err(Errno::NameTooLong),
                walk: None,
                by_policy: false,
            };
        }
        if !path.starts_with(b"/") {
            return Probe {
                result: Err(Errno::Unknown(format!(
                    "the path {:?} is relative to nginx's working directory",
                    crate::text_safe::bytes(path)
                ))),
                walk: None,
                by_policy: false,
            };
        }
        // A component longer than NAME_MAX fails with ENAMETOOLONG once the walk reaches it.
        let mut offset = 0;
        for comp in path.split(|&b| b == b'/') {
            if comp.len() > NAME_MAX {
                let parent = &path[..offset.max(1)];
                let w = self.walk(who, Path::new(OsStr::from_bytes(parent)), Access::EXEC);
                let result = match errno_of(&w.outcome) {
                    None => Err(Errno::NameTooLong),
                    Some(e) => Err(e),
                };
                return Probe {
                    result,
                    walk: Some(w),
                    by_policy: false,
                };
            }
            offset += comp.len() + 1;
        }
        // nginx opens the final component for reading whenever symlinks are checked (even to
        // test a file in try_files/index), so the file's r bit matters there too.
        let needs_read = op != Op::Stat || policy.mode != Symlinks::Off;
        let want = if needs_read {
            Access::READ
        } else {
            Access::NONE
        };
        let sys = Path::new(OsStr::from_bytes(path));
        let w = self.walk(who, sys, want);
        if policy.mode != Symlinks::Off {
            if let Some(e) = self.symlink_errno(who, path, &w, policy) {
                return Probe {
                    result: Err(e),
                    walk: Some(w),
                    by_policy: true,
                };
            }
        }
        let result = match errno_of(&w.outcome) {
            Some(e) => Err(e),
            None => {
                let last = w.steps.last();
                let kind = match last {
                    Some(s) if s.meta.is_dir() => Kind::Dir,
                    Some(s) if s.meta.is_file() => Kind::File,
                    Some(s) if s.meta.mode & libc::S_IFMT == libc::S_IFSOCK => Kind::Socket,
                    Some(_) => Kind::Other,
                    None => Kind::Dir,
                };
                if (path.ends_with(b"/") || op == Op::OpenDir) && kind != Kind::Dir {
                    Err(Errno::NotDir)
                } else if kind == Kind::Socket && (op == Op::Open || needs_read) {
                    // With symlinks checked, even nginx's "stat" is an open (O_NONBLOCK) and
                    // an fstat (ngx_file_info_wrapper): a socket fails there with ENXIO too.
                    Err(Errno::NoDevice)
                } else {
                    Ok(kind)
                }
            }
        };
        Probe {
            result,
            walk: Some(w),
            by_policy: false,
        }
    }

    /// What `openat(O_NOFOLLOW)` component by component changes: a symlink as the last
    /// component fails with ELOOP; as a directory on the way, `O_PATH|O_DIRECTORY|O_NOFOLLOW`
    /// opens the link itself, which is not a directory: ENOTDIR. With `if_not_owner`, a link whose
    /// owner differs from its target's fails with ELOOP. Failures before the first symlink keep
    /// their own errno (the walk reports them).
    fn symlink_errno(
        &self,
        who: &Identity,
        path: &[u8],
        w: &Walk,
        policy: SymlinkPolicy,
    ) -> Option<Errno> {
        // The literal components, and which of them the walk found to be symlinks.
        let literal: Vec<PathBuf> = literal_prefixes(path);
        let last = literal.last().cloned();
        for step in &w.steps {
            if !step.ok {
                // The walk failed before reaching any symlink.
                return None;
            }
            if step.link_target.is_none() {
                continue;
            }
            // Only symlinks met at a literal component (not inside a link's target) matter:
            // nginx stops at the first one it meets.
            if !literal.contains(&step.path) {
                continue;
            }
            if step.path.as_os_str().as_bytes().len() <= policy.from {
                continue;
            }
            let is_last = Some(&step.path) == last.as_ref();
            match policy.mode {
                Symlinks::Off => return None,
                Symlinks::On => {
                    return Some(if is_last { Errno::Loop } else { Errno::NotDir });
                }
                Symlinks::IfNotOwner => {
                    let target = self.walk(who, &step.path, Access::NONE);
                    if target.outcome.is_found() {
                        let t = target.steps.last().map(|s| s.meta.uid);
                        if t != Some(step.meta.uid) {
                            return Some(Errno::Loop);
                        }
                    }
                    // Same owner: nginx follows it; later links are checked the same way.
                }
            }
        }
        None
    }
}

fn literal_prefixes(path: &[u8]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut cur = PathBuf::from("/");
    for comp in path.split(|&b| b == b'/').filter(|c| !c.is_empty()) {
        if comp == b"." {
            continue;
        }
        if comp == b".." {
            // The kernel follows `..` physically; nginx never builds such paths from a
            // normalised URI except through alias/root values, which are rare: stop here.
            break;
        }
        cur.push(OsStr::from_bytes(comp));
        out.push(cur.clone());
    }
    out
}

fn errno_of(o: &Outcome) -> Option<Errno> {
    match o {
        Outcome::Found { .. } => None,
        Outcome::Missing { .. } => Some(Errno::NoEnt),
        Outcome::NotADirectory { .. } => Some(Errno::NotDir),
        Outcome::Denied { .. } => Some(Errno::Access),
        Outcome::SymlinkLoop { .. } => Some(Errno::Loop),
        Outcome::CannotVerify { why, .. } => Some(Errno::Unknown(why.clone())),
    }
}
