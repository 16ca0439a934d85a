//! Asking the real kernel, as the real user: fork, drop to the user in the child
//! (setgroups + setresgid + setresuid), run `open()`/`access()` on each path, and send the errnos
//! back through a pipe. The metadata decision (fs::access) is the explanation; this is the proof.
//!
//! Only possible on the live system (no `--root`: inside a root, absolute symlinks would escape it)
//! or in the view of a process in another mount namespace (`--root /proc/PID/root`: the child
//! enters that namespace, setns on /proc/PID/ns/mnt, before it drops to the user, so each path
//! is the one the process opens), and as root (dropping to another user needs CAP_SETUID).
//! Nothing is ever created: read probes open read-only, write and search probes use `access()`.

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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// `open(path, O_RDONLY)`, as nginx opens a file it serves (directories open too).
    Open,
    /// `access(path, mode)`: search (x) on a directory, write (w), ...
    Access(Access),
}

/// Whether as-user verification is possible here.
pub fn can_verify(root: &SysRoot) -> bool {
    (root.is_live() || root.process().is_some()) && nix::unistd::geteuid().is_root()
}

/// The errno of each probe (0 = allowed), in order, as seen by a process running as `who` in
/// the view `root` is: this machine's, or the mount namespace of the process of
/// `--root /proc/PID/root` (probe paths are then that process's paths).
pub fn probe(root: &SysRoot, who: &Identity, probes: &[Probe]) -> Result<Vec<i32>> {
    if !nix::unistd::geteuid().is_root() {
        bail!("not root: cannot switch to {}", who.name);
    }
    // Its mount namespace, opened here (the child may not allocate); closed on return.
    let ns: Option<std::fs::File> = match root.process() {
        Some(pid) => Some(
            std::fs::File::open(format!("/proc/{pid}/ns/mnt"))
                .with_context(|| format!("open /proc/{pid}/ns/mnt"))?,
        ),
        None => None,
    };
    let ns_fd = ns.as_ref().map_or(-1, std::os::fd::AsRawFd::as_raw_fd);
    // Everything the child needs is prepared here: after fork() in a threaded process the child
    // may only make async-signal-safe calls (no allocation).
    // Each question once: the walks of a batch pass through the same directories (a site's
    // walks ask for `/` and `/srv` six times each); each probe's answer is its question's.
    // FNV: the paths are the config's (SipHash was most of a batch of 4,096 walks' probing).
    let mut asked: crate::fnv::FnvMap<(&Path, Op), usize> = Default::default();
    let mut paths: Vec<CString> = Vec::new();
    let mut ops: Vec<Op> = Vec::new();
    let mut answer_of: Vec<usize> = Vec::with_capacity(probes.len());
    for p in probes {
        let at = match asked.entry((p.path.as_path(), p.op)) {
            std::collections::hash_map::Entry::Occupied(e) => *e.get(),
            std::collections::hash_map::Entry::Vacant(e) => {
                paths.push(
                    CString::new(p.path.as_os_str().as_bytes())
                        .context("a path contains a NUL byte")?,
                );
                ops.push(p.op);
                *e.insert(paths.len() - 1)
            }
        };
        answer_of.push(at);
    }
    let groups: Vec<libc::gid_t> = who.groups.clone();
    let (uid, gid) = (who.uid, who.gid);

    let out = match on_probe_thread(root, uid, gid, &groups, &paths, &ops) {
        Some(out) => out,
        None => in_child(ns_fd, uid, gid, &groups, &paths, &ops)?,
    };
    match out.split_first() {
        Some((0, rest)) => Ok(answer_of.iter().map(|&at| rest[at]).collect()),
        Some((&step, rest)) if step < 0 && step != ENDED_EARLY => bail!(
            "could not switch to {} (uid {uid}, gid {gid}): {} failed: {}",
            who.name,
            [
                "setns (mount namespace)",
                "setgroups",
                "setresgid",
                "setresuid"
            ][(-step - 1) as usize % 4],
            std::io::Error::from_raw_os_error(rest.first().copied().unwrap_or(0))
        ),
        _ => bail!("the as-user probe process for {} ended early", who.name),
    }
}

/// The threads that ask as a user for a check of every site (`with_probe_threads`), one per
/// identity and thread that asks; `None` outside one. A child process per site cost 10,000 clones (and as many exits
/// and waits) on a 10,000-site box: a thread that took the user's credentials for good asks the
/// kernel the same questions with the same credentials, without a process each time.
static PROBE_THREADS: std::sync::Mutex<Option<Vec<ProbeThread>>> = std::sync::Mutex::new(None);

/// A thread that runs as one user (uid, gid, groups) and answers the probes one thread (a
/// worker checking sites) sends it: one per worker, so that the workers never wait on each
/// other's questions or on one queue's lock.
struct ProbeThread {
    asker: std::thread::ThreadId,
    uid: u32,
    gid: u32,
    groups: Vec<libc::gid_t>,
    jobs: std::sync::mpsc::Sender<Job>,
    thread: std::thread::JoinHandle<()>,
}

/// Probes for a probe thread, and where its answers go (laid out as `ChildArgs::out`).
struct Job {
    paths: Vec<CString>,
    ops: Vec<Op>,
    answer: std::sync::mpsc::SyncSender<Vec<i32>>,
}

/// Runs `f` (the checks of every site of a box) with the probes of the live system asked by a
/// thread per user, made on first use and ended when `f` returns. Outside it, and for the view
/// of a process in another mount namespace (the child enters it first), each `probe` makes a
/// child process.
pub fn with_probe_threads<T>(f: impl FnOnce() -> T) -> T {
    /// Ends the threads when `f` returns or unwinds.
    struct End;
    impl Drop for End {
        fn drop(&mut self) {
            let threads = probe_threads().take();
            for t in threads.into_iter().flatten() {
                // Its queue closed, the thread ends.
                drop(t.jobs);
                let _ = t.thread.join();
            }
        }
    }
    *probe_threads() = Some(Vec::new());
    let _end = End;
    f()
}

fn probe_threads() -> std::sync::MutexGuard<'static, Option<Vec<ProbeThread>>> {
    PROBE_THREADS.lock().unwrap_or_else(|p| p.into_inner())
}

/// The probes asked by the probe thread of this user (see `with_probe_threads`): None outside
/// one, for a view in another mount namespace, or when no thread could be had.
fn on_probe_thread(
    root: &SysRoot,
    uid: u32,
    gid: u32,
    groups: &[libc::gid_t],
    paths: &[CString],
    ops: &[Op],
) -> Option<Vec<i32>> {
    if root.process().is_some() {
        return None;
    }
    let asker = std::thread::current().id();
    let jobs = {
        let mut threads = probe_threads();
        let threads = threads.as_mut()?;
        let at = threads
            .iter()
            .position(|t| t.asker == asker && t.uid == uid && t.gid == gid && t.groups == groups);
        let at = match at {
            Some(at) => at,
            None => {
                let (jobs, queue) = std::sync::mpsc::channel::<Job>();
                let groups = groups.to_vec();
                let mine = groups.clone();
                let thread = std::thread::Builder::new()
                    .name("as-user".into())
                    .spawn(move || serve(uid, gid, &mine, queue))
                    .ok()?;
                threads.push(ProbeThread {
                    asker,
                    uid,
                    gid,
                    groups,
                    jobs,
                    thread,
                });
                threads.len() - 1
            }
        };
        threads[at].jobs.clone()
    };
    let (answer, answered) = std::sync::mpsc::sync_channel(1);
    jobs.send(Job {
        paths: paths.to_vec(),
        ops: ops.to_vec(),
        answer,
    })
    .ok()?;
    answered.recv().ok()
}

/// A probe thread: switches to the user once, then answers every job as the child would.
fn serve(uid: u32, gid: u32, groups: &[libc::gid_t], jobs: std::sync::mpsc::Receiver<Job>) {
    // SAFETY: this thread was made to ask as the user and does nothing else.
    let switched = unsafe { switch_user(uid, gid, groups) };
    for job in jobs {
        let mut out = vec![ENDED_EARLY; job.paths.len() + 2];
        match switched {
            Ok(()) => {
                for (k, (path, op)) in job.paths.iter().zip(&job.ops).enumerate() {
                    out[k + 1] = ask(path, *op);
                }
                out[0] = 0;
            }
            Err((status, errno)) => {
                out[0] = status;
                out[1] = errno;
            }
        }
        let _ = job.answer.send(out);
    }
}

/// The probes asked by a child process made for them (see `probe`): its answers, laid out as
/// `ChildArgs::out`.
fn in_child(
    ns_fd: i32,
    uid: u32,
    gid: u32,
    groups: &[libc::gid_t],
    paths: &[CString],
    ops: &[Op],
) -> Result<Vec<i32>> {
    // The child shares our memory and we wait while it runs (CLONE_VM | CLONE_VFORK, as
    // posix_spawn does): a fork copied the page tables of the whole process each time, which
    // a check of every site of a large config paid once per site (10,000 forks of a process of
    // hundreds of MB). It writes its answers straight into `out`: [status, then one errno per
    // probe], status 0 when it switched user, -step and the errno when a step failed.
    let mut out: Vec<i32> = vec![ENDED_EARLY; paths.len() + 2];
    let mut args = ChildArgs {
        ns_fd,
        uid,
        gid,
        groups,
        paths,
        ops,
        out: out.as_mut_ptr(),
    };
    let mut stack = vec![0u8; CHILD_STACK];
    // The stack grows down from its 16-byte aligned top.
    let top = (stack.as_mut_ptr() as usize + stack.len()) & !15;
    // No signal handler may run in the child (it would run on our memory, as another thread):
    // every signal is blocked across the clone, as posix_spawn does.
    // SAFETY: plain libc calls on local sigsets; `child_main` only makes raw system calls and
    // writes into `out`, which outlives the child (CLONE_VFORK: clone returns once it exited).
    let pid = unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
        let pid = libc::clone(
            child_main,
            top as *mut libc::c_void,
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
            (&mut args as *mut ChildArgs<'_>).cast(),
        );
        let err = std::io::Error::last_os_error();
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        if pid < 0 {
            return Err(err).context("clone");
        }
        pid
    };
    let mut status = 0;
    loop {
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r >= 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            break;
        }
    }
    drop(stack);
    Ok(out)
}

/// The status word of a child that never wrote one.
const ENDED_EARLY: i32 = i32::MIN;

/// The child's stack: it calls open/access/close and nothing else.
const CHILD_STACK: usize = 64 * 1024;

/// What the child reads (prepared by the parent: the child may not allocate) and where it
/// writes its answers.
struct ChildArgs<'a> {
    /// A mount namespace to enter first (/proc/PID/ns/mnt), or -1.
    ns_fd: i32,
    uid: u32,
    gid: u32,
    groups: &'a [libc::gid_t],
    paths: &'a [CString],
    ops: &'a [Op],
    /// `paths.len() + 2` words (see `probe`).
    out: *mut i32,
}

/// The child: drop privileges, run the probes, write the answers, exit. Never returns. It
/// shares the parent's memory: the user is changed with raw system calls (libc's wrappers
/// would change it in every thread of the parent too), and nothing is allocated.
extern "C" fn child_main(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the parent's `ChildArgs`, alive until this process exits; `out` has
    // room for a status, an errno and one word per path.
    unsafe {
        let a = &*(arg as *const ChildArgs<'_>);
        let errno = || *libc::__errno_location();
        // Into the process's mount namespace while still privileged: its paths, its mounts.
        // (The child has its own fs_struct: no CLONE_FS, so setns may change it.)
        if a.ns_fd >= 0 && libc::syscall(libc::SYS_setns, a.ns_fd, libc::CLONE_NEWNS) != 0 {
            *a.out.add(1) = errno();
            *a.out = -1;
            libc::_exit(1);
        }
        if let Err((status, errno)) = switch_user(a.uid, a.gid, a.groups) {
            *a.out.add(1) = errno;
            *a.out = status;
            libc::_exit(1);
        }
        for (k, (path, op)) in a.paths.iter().zip(a.ops).enumerate() {
            *a.out.add(k + 1) = ask(path, *op);
        }
        *a.out = 0;
        libc::_exit(0)
    }
}

/// Drops the calling thread to the user: groups first (needs privilege), then gid, then uid
/// (after which privilege is gone). Raw system calls: they change the credentials of this
/// thread alone (libc's wrappers would change every thread of the process). On failure, the
/// status word (-2 - step) and the errno. Async-signal-safe: no allocation.
///
/// # Safety
/// The calling thread keeps the user's credentials for good: only a thread (or child) made to
/// ask as the user may call it.
unsafe fn switch_user(uid: u32, gid: u32, groups: &[libc::gid_t]) -> Result<(), (i32, i32)> {
    let steps: [(libc::c_long, [libc::c_long; 3]); 3] = [
        (
            libc::SYS_setgroups,
            [
                groups.len() as libc::c_long,
                groups.as_ptr() as libc::c_long,
                0,
            ],
        ),
        (libc::SYS_setresgid, [gid.into(), gid.into(), gid.into()]),
        (libc::SYS_setresuid, [uid.into(), uid.into(), uid.into()]),
    ];
    for (i, (nr, args)) in steps.iter().enumerate() {
        if libc::syscall(*nr, args[0], args[1], args[2]) != 0 {
            return Err((-(i as i32) - 2, *libc::__errno_location()));
        }
    }
    Ok(())
}

/// One probe, with the calling thread's credentials: its errno, 0 when allowed.
/// Async-signal-safe: no allocation.
fn ask(path: &CString, op: Op) -> i32 {
    // SAFETY: `path` is NUL-terminated; the descriptor opened is closed at once.
    unsafe {
        let errno = || *libc::__errno_location();
        match op {
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
            Op::Access(acc) => {
                if libc::access(path.as_ptr(), acc.access_mode()) == 0 {
                    0
                } else {
                    errno()
                }
            }
        }
    }
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
pub fn probe_one(root: &SysRoot, who: &Identity, path: &Path, op: Op) -> Result<i32> {
    Ok(probe(
        root,
        who,
        &[Probe {
            path: path.to_path_buf(),
            op,
        }],
    )?[0])
}
