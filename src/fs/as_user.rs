//! Asking the real kernel, as the real user: fork, drop to the user in the child
//! (setgroups + setresgid + setresuid), run `open()`/`access()` on each path, and send the errnos
//! back through a pipe. The metadata decision (fs::access) is the explanation; this is the proof.
//!
//! Only possible on the live system (no `--root`: inside a root, absolute symlinks would escape it)
//! and as root (dropping to another user needs CAP_SETUID). Nothing is ever created: read probes
//! open read-only, write and search probes use `access()`.

use super::access::Access;
use super::identity::Identity;
use crate::sysroot::SysRoot;
use anyhow::{bail, Context, Result};
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// One question to the kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub path: PathBuf,
    pub op: Op,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `open(path, O_RDONLY)`, as nginx opens a file it serves (directories open too).
    Open,
    /// `access(path, mode)`: search (x) on a directory, write (w), ...
    Access(Access),
}

/// Whether as-user verification is possible here.
pub fn can_verify(root: &SysRoot) -> bool {
    root.is_live() && nix::unistd::geteuid().is_root()
}

/// The errno of each probe (0 = allowed), in order, as seen by a process running as `who`.
pub fn probe(who: &Identity, probes: &[Probe]) -> Result<Vec<i32>> {
    if !nix::unistd::geteuid().is_root() {
        bail!("not root: cannot switch to {}", who.name);
    }
    // Everything the child needs is prepared here: after fork() in a threaded process the child
    // may only make async-signal-safe calls (no allocation).
    let paths: Vec<CString> = probes
        .iter()
        .map(|p| CString::new(p.path.as_os_str().as_bytes()))
        .collect::<Result<_, _>>()
        .context("a path contains a NUL byte")?;
    let ops: Vec<Op> = probes.iter().map(|p| p.op).collect();
    let groups: Vec<libc::gid_t> = who.groups.clone();
    let (uid, gid) = (who.uid, who.gid);

    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: fds has room for two descriptors.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error()).context("pipe2");
    }
    let (rd, wr) = (fds[0], fds[1]);
    // SAFETY: fork; the child only calls async-signal-safe functions and _exit.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        let e = std::io::Error::last_os_error();
        unsafe {
            libc::close(rd);
            libc::close(wr);
        }
        return Err(e).context("fork");
    }
    if pid == 0 {
        unsafe { child(wr, rd, uid, gid, &groups, &paths, &ops) }
    }
    // SAFETY: wr is ours to close; rd is read until EOF below.
    unsafe { libc::close(wr) };
    let mut bytes = Vec::with_capacity(probes.len() * 4 + 4);
    let mut buf = [0u8; 4096];
    loop {
        let n = unsafe { libc::read(rd, buf.as_mut_ptr().cast(), buf.len()) };
        if n > 0 {
            bytes.extend_from_slice(&buf[..n as usize]);
        } else if n == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            break;
        }
    }
    unsafe { libc::close(rd) };
    let mut status = 0;
    loop {
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r >= 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            break;
        }
    }
    let words: Vec<i32> = bytes
        .chunks_exact(4)
        .map(|c| i32::from_ne_bytes(c.try_into().expect("4 bytes")))
        .collect();
    match words.split_first() {
        Some((0, results)) if results.len() == probes.len() => Ok(results.to_vec()),
        Some((&step, _)) if step < 0 => bail!(
            "could not switch to {} (uid {uid}, gid {gid}): {} failed: {}",
            who.name,
            ["setgroups", "setresgid", "setresuid"][(-step - 1) as usize % 3],
            std::io::Error::from_raw_os_error(words.get(1).copied().unwrap_or(0))
        ),
        _ => bail!("the as-user probe process for {} ended early", who.name),
    }
}

/// The child: drop privileges, run the probes, report, exit. Never returns.
unsafe fn child(
    wr: libc::c_int,
    rd: libc::c_int,
    uid: u32,
    gid: u32,
    groups: &[libc::gid_t],
    paths: &[CString],
    ops: &[Op],
) -> ! {
    libc::close(rd);
    let send = |v: i32| {
        let b = v.to_ne_bytes();
        libc::write(wr, b.as_ptr().cast(), 4);
    };
    let errno = || *libc::__errno_location();
    // Groups first (needs privilege), then gid, then uid (after which privilege is gone).
    let steps: [&dyn Fn() -> libc::c_int; 3] = [
        &|| libc::setgroups(groups.len(), groups.as_ptr()),
        &|| libc::setresgid(gid, gid, gid),
        &|| libc::setresuid(uid, uid, uid),
    ];
    for (i, step) in steps.iter().enumerate() {
        if step() != 0 {
            send(-(i as i32) - 1);
            send(errno());
            libc::_exit(1);
        }
    }
    send(0);
    for (path, op) in paths.iter().zip(ops) {
        let result = match op {
            Op::Open => {
                let fd = libc::open(
                    path.as_ptr(),
                    libc::O_RDONLY | libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC,
                );
                if fd >= 0 {
                    libc::close(fd);
                    0
                } else {
                    errno()
                }
            }
            Op::Access(a) => {
                if libc::access(path.as_ptr(), a.access_mode()) == 0 {
                    0
                } else {
                    errno()
                }
            }
        };
        send(result);
    }
    libc::_exit(0)
}

/// `13: Permission denied`, as nginx's error log writes errnos.
pub fn errno_text(errno: i32) -> String {
    if errno == 0 {
        return "0: allowed".into();
    }
    let msg = std::io::Error::from_raw_os_error(errno).to_string();
    // std appends " (os error N)"; nginx's form is "N: message".
    let msg = msg.split(" (os error").next().unwrap_or(&msg).to_string();
    format!("{errno}: {msg}")
}

/// Convenience for one path.
pub fn probe_one(who: &Identity, path: &Path, op: Op) -> Result<i32> {
    Ok(probe(
        who,
        &[Probe {
            path: path.to_path_buf(),
            op,
        }],
    )?[0])
}
