//! The whole-tree scan: every file under a served directory that the worker cannot read, and
//! every directory it cannot enter, counted, with the first examples and the facts a fix needs.
//!
//! Speed is the point (a media tree can hold millions of files), so the hot path is one
//! `fstatat(dirfd, name, AT_SYMLINK_NOFOLLOW)` per entry relative to the open directory (the
//! `du -s` floor), no allocation per file, no per-entry process or as-user call: the access
//! decision is computed from the metadata (fs::access), and only the few failures are verified
//! as the user afterwards. Directories are shared between threads through one LIFO stack, so
//! memory holds the frontier of the tree, never a list of all entries.
//!
//! ACLs: the kernel consults an ACL only for a non-owner when the group bits (the ACL mask) are
//! non-zero. Reading the xattr for every such entry would double the syscalls, so the scan reads
//! it when it can change the answer in the usual ways: when the mode bits deny but the mask would
//! allow (a named-user/group entry may grant), and for every entry of a directory that carries a
//! default ACL (its files inherited access ACLs). Not seen: an explicit deny entry
//! (`setfacl -m u:www-data:---`) on a file whose directory has no default ACL; fs::walk, which
//! always reads ACLs, sees it for any single path.
//!
//! Never fatal: symlink loops, dangling links, directories media-doctor itself cannot open (not
//! root), entries that vanish during the scan, and non-UTF-8 names are counted and reported.

use super::access::{self, Access, Meta, Via};
use super::acl;
use super::as_user::{self, Op, Probe};
use super::identity::Identity;
use super::walk::{self, Outcome};
use crate::sysroot::SysRoot;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::{CStr, OsStr};
use std::os::fd::{BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// Symlinks are judged with a full walk each (their targets may lie anywhere); beyond this many
/// they are only counted.
const MAX_SYMLINKS_JUDGED: usize = 2000;

#[derive(Debug, Clone)]
pub struct Options {
    /// Worker threads (1 = the calling thread only).
    pub threads: usize,
    /// How many examples of each kind to keep (the first ones in path order).
    pub examples: usize,
    /// Draw a progress line on stderr (only when it is a terminal; the caller decides).
    pub progress: bool,
    /// What a file needs (nginx: r) and what a directory needs (nginx: x).
    pub file_needs: Access,
    pub dir_needs: Access,
    /// Check directories only (skips the per-file stat: the app's write check).
    pub dirs_only: bool,
    /// Ask the kernel as the user about the examples (live system, as root).
    pub verify: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            threads: crate::system::cores().min(8),
            examples: 10,
            progress: false,
            file_needs: Access::READ,
            dir_needs: Access::EXEC,
            dirs_only: false,
            verify: true,
        }
    }
}

/// One entry the user cannot use.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Example {
    /// System path.
    pub path: PathBuf,
    pub mode: String,
    pub uid: u32,
    pub gid: u32,
    /// The permission class that decided (`other`, `group`, `owner`, `acl`).
    pub class: String,
}

/// Counts of failures by the class a fix has to change: `(kind, class)` where kind is `d`/`f`
/// and class is `other`, `owner:UID`, `group:GID` or `acl`.
pub type FixClasses = BTreeMap<(char, String), u64>;

#[derive(Debug, Clone, Default, Serialize)]
pub struct Scan {
    /// The directory scanned (system path).
    pub root: PathBuf,
    pub user: String,
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    /// Sockets, fifos, devices.
    pub other: u64,
    /// Files the user cannot read: own permissions, or under a directory it cannot enter.
    pub files_unreadable: u64,
    /// Of those, the ones under a directory it cannot enter.
    pub files_hidden: u64,
    /// Directories whose own permissions deny the user entry.
    pub dirs_untraversable: u64,
    /// Directories that allow entry but lie under one that does not.
    pub dirs_hidden: u64,
    pub unreadable_examples: Vec<Example>,
    pub untraversable_examples: Vec<Example>,
    #[serde(skip)]
    pub fix_classes: FixClasses,
    /// Symlinks whose target loops (ELOOP) or does not exist; symlinks to directories (not
    /// descended: nginx follows them, the scan counts them so the reader knows).
    pub symlink_loops: Vec<PathBuf>,
    pub symlinks_dangling: Vec<PathBuf>,
    pub symlinked_dirs: Vec<PathBuf>,
    /// The first symlinks to readable files (path order), for probes that need one.
    pub symlink_examples: Vec<PathBuf>,
    /// Symlinks beyond MAX_SYMLINKS_JUDGED, counted only.
    pub symlinks_unjudged: u64,
    /// Directories media-doctor could not open itself (not root): their subtrees are unknown.
    pub unverified: Vec<(PathBuf, String)>,
    pub unverified_count: u64,
    /// Entries that disappeared between listing and stat (a live upload directory).
    pub vanished: u64,
    pub non_utf8_names: u64,
    pub non_utf8_example: Option<PathBuf>,
    /// One readable regular file, for probes that need a real file (MD210).
    pub sample_file: Option<PathBuf>,
    /// The kernel's answers for the examples, when asked (live, root): disagreements only.
    pub disagreements: Vec<String>,
    pub verified: bool,
    pub elapsed_ms: u64,
}

impl Scan {
    pub fn is_clean(&self) -> bool {
        self.files_unreadable == 0 && self.dirs_untraversable == 0
    }

    /// Commands that fix every failure, one per permission class, touching only entries that
    /// lack the bit (never a recursive chmod, never 777). `root` is the scanned directory.
    pub fn fix_commands(&self, who: &Identity, names: &dyn Fn(char, u32) -> String) -> Vec<String> {
        let q = walk::shell_quote(&self.root.display().to_string());
        let mut out = Vec::new();
        let mut acl = false;
        for (kind, class) in self.fix_classes.keys() {
            let (ty, bit) = if *kind == 'd' { ("d", "x") } else { ("f", "r") };
            if class == "other" {
                out.push(format!(
                    "sudo find {q} -type {ty} ! -perm -o={bit} -exec chmod o+{bit} {{}} +"
                ));
            } else if let Some(gid) = class.strip_prefix("group:") {
                let g = names('g', gid.parse().unwrap_or(0));
                out.push(format!(
                    "sudo find {q} -type {ty} -group {g} ! -perm -g={bit} -exec chmod g+{bit} {{}} +"
                ));
            } else if let Some(uid) = class.strip_prefix("owner:") {
                let u = names('u', uid.parse().unwrap_or(0));
                out.push(format!(
                    "sudo find {q} -type {ty} -user {u} ! -perm -u={bit} -exec chmod u+{bit} {{}} +"
                ));
            } else {
                acl = true;
            }
        }
        if acl {
            out.push(format!("sudo setfacl -R -m u:{}:rX {q}", who.name));
        }
        out
    }
}

/// Scans already made in this run, so checks that need the same tree (MD203, MD207, MD210) walk
/// it once.
#[derive(Debug, Default)]
pub struct Cache {
    scans: Mutex<Vec<(CacheKey, std::sync::Arc<Scan>)>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct CacheKey {
    dir: PathBuf,
    who: Identity,
    file_needs: Access,
    dir_needs: Access,
    dirs_only: bool,
}

impl Cache {
    pub fn scan(
        &self,
        root: &SysRoot,
        dir: &Path,
        who: &Identity,
        opts: &Options,
    ) -> std::sync::Arc<Scan> {
        let key = CacheKey {
            dir: dir.to_path_buf(),
            who: who.clone(),
            file_needs: opts.file_needs,
            dir_needs: opts.dir_needs,
            dirs_only: opts.dirs_only,
        };
        if let Some((_, s)) = self
            .scans
            .lock()
            .expect("scan cache")
            .iter()
            .find(|(k, _)| *k == key)
        {
            return s.clone();
        }
        let s = std::sync::Arc::new(scan(root, dir, who, opts));
        self.scans
            .lock()
            .expect("scan cache")
            .push((key, s.clone()));
        s
    }
}

/// Scan the tree at `dir` (a system path under `root`) as `who`.
pub fn scan(root: &SysRoot, dir: &Path, who: &Identity, opts: &Options) -> Scan {
    let started = Instant::now();
    // A served directory reached through symlinks (`/srv/static -> releases/1/static`) is
    // scanned where it really is (resolved inside the root); paths are reported under `dir`.
    let top = walk::walk_unverified(root, dir, &Identity::root(), Access::NONE);
    let host = root.host_path(top.resolved.as_deref().unwrap_or(dir));
    let shared = Shared {
        stack: Mutex::new(Work {
            items: Vec::new(),
            busy: 0,
        }),
        wake: Condvar::new(),
        entries: AtomicU64::new(0),
        done: AtomicBool::new(false),
    };
    let ctx = Ctx {
        who,
        opts,
        host_root: &host,
        sys_root: dir,
        shared: &shared,
    };
    let mut total = Local::new(opts.examples);
    // The top directory: decided like any other (its parents are fs::walk's business).
    match (&top.outcome, top.steps.last()) {
        (Outcome::Found { is_dir: true }, Some(step)) => push_top(&ctx, &mut total, step.meta),
        (Outcome::Found { is_dir: false }, _) => {
            total.unverified(dir.to_path_buf(), "not a directory".into())
        }
        (other, _) => total.unverified(dir.to_path_buf(), other.to_string()),
    }

    let threads = opts.threads.max(1);
    std::thread::scope(|s| {
        let progress = (opts.progress).then(|| s.spawn(|| draw_progress(&shared, dir)));
        let helpers: Vec<_> = (1..threads).map(|_| s.spawn(|| ctx.work())).collect();
        let mine = ctx.work();
        total.merge(mine);
        for h in helpers {
            total.merge(h.join().expect("scan thread panicked"));
        }
        shared.done.store(true, Ordering::Relaxed);
        if let Some(p) = progress {
            let _ = p.join();
        }
    });

    let (mut scan, links) = total.finish(dir, who);
    judge_symlinks(root, who, &mut scan, links, opts.examples);
    scan.elapsed_ms = started.elapsed().as_millis() as u64;
    if opts.verify && as_user::can_verify(root) {
        verify_examples(root, who, &mut scan, opts);
    }
    scan
}

fn push_top(ctx: &Ctx, total: &mut Local, meta: Meta) {
    let d = access::decide(&meta, None, ctx.who, ctx.opts.dir_needs);
    let acl_decision = if !d.allowed && may_grant(&meta, ctx.who, ctx.opts.dir_needs) {
        let read = acl::read_path(ctx.host_root, acl::ACCESS_XATTR);
        access::decide(&meta, read.acl(), ctx.who, ctx.opts.dir_needs)
    } else {
        d
    };
    let hidden = !acl_decision.allowed;
    if hidden {
        total.untraversable(ctx.sys_root.to_path_buf(), &meta, acl_decision.via);
    }
    total.dirs += 1;
    let mut st = ctx.shared.stack.lock().expect("scan stack");
    st.items.push(Item {
        host: ctx.host_root.to_path_buf(),
        hidden,
    });
}

/// Whether an ACL could turn a mode-bit denial into a grant: not the owner, and the mask (the
/// group bits) has every wanted bit.
fn may_grant(meta: &Meta, who: &Identity, want: Access) -> bool {
    access::acl_consulted(meta, who) && ((meta.mode >> 3) as u8 & want.bits()) == want.bits()
}

struct Item {
    host: PathBuf,
    /// An ancestor (or the directory itself) denies the user entry.
    hidden: bool,
}

struct Work {
    items: Vec<Item>,
    /// Threads processing a directory (they may push more work).
    busy: usize,
}

struct Shared {
    stack: Mutex<Work>,
    wake: Condvar,
    entries: AtomicU64,
    done: AtomicBool,
}

struct Ctx<'a> {
    who: &'a Identity,
    opts: &'a Options,
    host_root: &'a Path,
    sys_root: &'a Path,
    shared: &'a Shared,
}

/// Per-thread results, merged at the end (no locking on the hot path).
struct Local {
    keep: usize,
    files: u64,
    dirs: u64,
    symlinks: u64,
    other: u64,
    files_unreadable: u64,
    files_hidden: u64,
    dirs_untraversable: u64,
    dirs_hidden: u64,
    unreadable: BTreeSet<Example>,
    untraversable: BTreeSet<Example>,
    fix_classes: FixClasses,
    symlink_paths: Vec<(PathBuf, bool)>,
    symlinks_unjudged: u64,
    unverified: Vec<(PathBuf, String)>,
    unverified_count: u64,
    vanished: u64,
    non_utf8: u64,
    non_utf8_example: Option<PathBuf>,
    sample: Option<PathBuf>,
    dir_sample: Option<PathBuf>,
}

impl Local {
    fn new(keep: usize) -> Local {
        Local {
            keep,
            files: 0,
            dirs: 0,
            symlinks: 0,
            other: 0,
            files_unreadable: 0,
            files_hidden: 0,
            dirs_untraversable: 0,
            dirs_hidden: 0,
            unreadable: BTreeSet::new(),
            untraversable: BTreeSet::new(),
            fix_classes: FixClasses::new(),
            symlink_paths: Vec::new(),
            symlinks_unjudged: 0,
            unverified: Vec::new(),
            unverified_count: 0,
            vanished: 0,
            non_utf8: 0,
            non_utf8_example: None,
            sample: None,
            dir_sample: None,
        }
    }

    fn example(set: &mut BTreeSet<Example>, keep: usize, e: Example) {
        if set.len() < keep {
            set.insert(e);
        } else if set.last().is_some_and(|last| e < *last) {
            set.pop_last();
            set.insert(e);
        }
    }

    fn untraversable(&mut self, path: PathBuf, meta: &Meta, via: Via) {
        self.dirs_untraversable += 1;
        let class = class_of(via, meta);
        *self.fix_classes.entry(('d', class.clone())).or_default() += 1;
        let keep = self.keep;
        Self::example(&mut self.untraversable, keep, example(path, meta, class));
    }

    fn unreadable(&mut self, path: PathBuf, meta: &Meta, via: Via) {
        self.files_unreadable += 1;
        let class = class_of(via, meta);
        *self.fix_classes.entry(('f', class.clone())).or_default() += 1;
        let keep = self.keep;
        Self::example(&mut self.unreadable, keep, example(path, meta, class));
    }

    fn unverified(&mut self, path: PathBuf, why: String) {
        self.unverified_count += 1;
        if self.unverified.len() < self.keep {
            self.unverified.push((path, why));
        }
    }

    fn merge(&mut self, o: Local) {
        self.files += o.files;
        self.dirs += o.dirs;
        self.symlinks += o.symlinks;
        self.other += o.other;
        self.files_unreadable += o.files_unreadable;
        self.files_hidden += o.files_hidden;
        self.dirs_untraversable += o.dirs_untraversable;
        self.dirs_hidden += o.dirs_hidden;
        for e in o.unreadable {
            Self::example(&mut self.unreadable, self.keep, e);
        }
        for e in o.untraversable {
            Self::example(&mut self.untraversable, self.keep, e);
        }
        for (k, n) in o.fix_classes {
            *self.fix_classes.entry(k).or_default() += n;
        }
        self.symlink_paths.extend(o.symlink_paths);
        self.symlinks_unjudged += o.symlinks_unjudged;
        self.unverified.extend(o.unverified);
        self.unverified.sort();
        self.unverified.truncate(self.keep);
        self.unverified_count += o.unverified_count;
        self.vanished += o.vanished;
        self.non_utf8 += o.non_utf8;
        self.non_utf8_example = self.non_utf8_example.take().or(o.non_utf8_example);
        self.sample = match (self.sample.take(), o.sample) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }

    /// The merged result, and the symlinks still to judge (path, under a hidden directory).
    fn finish(self, dir: &Path, who: &Identity) -> (Scan, Vec<(PathBuf, bool)>) {
        let scan = Scan {
            root: dir.to_path_buf(),
            user: who.name.clone(),
            files: self.files,
            dirs: self.dirs,
            symlinks: self.symlinks,
            other: self.other,
            files_unreadable: self.files_unreadable,
            files_hidden: self.files_hidden,
            dirs_untraversable: self.dirs_untraversable,
            dirs_hidden: self.dirs_hidden,
            unreadable_examples: self.unreadable.into_iter().collect(),
            untraversable_examples: self.untraversable.into_iter().collect(),
            fix_classes: self.fix_classes,
            symlinks_unjudged: self.symlinks_unjudged,
            unverified: self.unverified,
            unverified_count: self.unverified_count,
            vanished: self.vanished,
            non_utf8_names: self.non_utf8,
            non_utf8_example: self.non_utf8_example,
            sample_file: self.sample,
            ..Default::default()
        };
        (scan, self.symlink_paths)
    }
}

/// The permission class a fix has to change: `other`, `group:GID`, `owner:UID` or `acl`.
fn class_of(via: Via, meta: &Meta) -> String {
    match via {
        Via::Other => "other".into(),
        Via::Group { gid } => format!("group:{gid}"),
        Via::Owner => format!("owner:{}", meta.uid),
        Via::AclUser { .. } | Via::AclGroup { .. } | Via::Root => "acl".into(),
    }
}

fn example(path: PathBuf, meta: &Meta, class: String) -> Example {
    Example {
        path,
        mode: access::mode_string(meta.mode),
        uid: meta.uid,
        gid: meta.gid,
        class,
    }
}

impl Ctx<'_> {
    /// One thread's loop: take a directory, list it, push its subdirectories, until the stack is
    /// empty and nobody is busy.
    fn work(&self) -> Local {
        let mut local = Local::new(self.opts.examples);
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let item = {
                let mut st = self.shared.stack.lock().expect("scan stack");
                loop {
                    if let Some(item) = st.items.pop() {
                        st.busy += 1;
                        break Some(item);
                    }
                    if st.busy == 0 {
                        break None;
                    }
                    st = self.shared.wake.wait(st).expect("scan stack");
                }
            };
            let Some(item) = item else {
                self.shared.wake.notify_all();
                return local;
            };
            let mut found = Vec::new();
            self.list(&item, &mut local, &mut found, &mut buf);
            let mut st = self.shared.stack.lock().expect("scan stack");
            let n = found.len();
            st.items.extend(found);
            st.busy -= 1;
            let finished = st.busy == 0 && st.items.is_empty();
            drop(st);
            if finished || n > 1 {
                self.shared.wake.notify_all();
            } else if n == 1 {
                self.shared.wake.notify_one();
            }
        }
    }

    fn sys_path(&self, host: &Path) -> PathBuf {
        match host.strip_prefix(self.host_root) {
            Ok(rel) if rel.as_os_str().is_empty() => self.sys_root.to_path_buf(),
            Ok(rel) => self.sys_root.join(rel),
            Err(_) => host.to_path_buf(),
        }
    }

    /// List one directory: one fstatat per entry.
    fn list(&self, item: &Item, local: &mut Local, subdirs: &mut Vec<Item>, buf: &mut [u8]) {
        let Ok(cpath) = std::ffi::CString::new(item.host.as_os_str().as_bytes()) else {
            local.unverified(self.sys_path(&item.host), "NUL byte in path".into());
            return;
        };
        let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
        // SAFETY: cpath is NUL-terminated.
        let fd = unsafe { libc::open(cpath.as_ptr(), flags) };
        if fd < 0 {
            let e = std::io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::ENOENT) | Some(libc::ENOTDIR) | Some(libc::ELOOP) => local.vanished += 1,
                Some(libc::EACCES) | Some(libc::EPERM) => local.unverified(
                    self.sys_path(&item.host),
                    "not root: cannot list it (run with sudo)".into(),
                ),
                _ => local.unverified(self.sys_path(&item.host), e.to_string()),
            }
            return;
        }
        // SAFETY: fd is a fresh descriptor we own.
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        // Files inherit access ACLs from a default ACL: then every entry's ACL is read.
        let inherits_acl = matches!(
            acl::read_fd(std_fd(&owned), acl::DEFAULT_XATTR),
            acl::Read::Acl(_)
        );
        let dfd = std::os::fd::AsRawFd::as_raw_fd(&owned);
        let mut count = 0u64;
        loop {
            // getdents64 straight into our buffer: readdir(3) would add an fstat and two fcntl
            // per directory (fdopendir), 3 syscalls in 20 on a typical media tree.
            // SAFETY: buf is valid for buf.len() bytes.
            let n =
                unsafe { libc::syscall(libc::SYS_getdents64, dfd, buf.as_mut_ptr(), buf.len()) };
            if n < 0 {
                local.unverified(
                    self.sys_path(&item.host),
                    std::io::Error::last_os_error().to_string(),
                );
                break;
            }
            if n == 0 {
                break;
            }
            let mut off = 0usize;
            while off < n as usize {
                // struct linux_dirent64 { u64 d_ino; i64 d_off; u16 d_reclen; u8 d_type; char d_name[]; }
                let reclen = u16::from_ne_bytes([buf[off + 16], buf[off + 17]]) as usize;
                let d_type = buf[off + 18];
                let rec = &buf[off + 19..off + reclen];
                off += reclen;
                let Ok(name) = CStr::from_bytes_until_nul(rec) else {
                    continue;
                };
                let bytes = name.to_bytes();
                if bytes == b"." || bytes == b".." {
                    continue;
                }
                count += 1;
                self.entry(item, local, subdirs, dfd, name, d_type, inherits_acl);
            }
        }
        drop(owned);
        // The sample is the smallest of each directory's first readable file: the same for the
        // same tree whatever the thread count.
        if let Some(c) = local.dir_sample.take() {
            if local.sample.as_ref().map_or(true, |s| c < *s) {
                local.sample = Some(c);
            }
        }
        self.shared.entries.fetch_add(count, Ordering::Relaxed);
    }

    /// One directory entry: stat it, decide it, count it.
    #[allow(clippy::too_many_arguments)]
    fn entry(
        &self,
        item: &Item,
        local: &mut Local,
        subdirs: &mut Vec<Item>,
        dfd: libc::c_int,
        name: &CStr,
        d_type: u8,
        inherits_acl: bool,
    ) {
        let bytes = name.to_bytes();
        if self.opts.dirs_only && d_type != libc::DT_DIR && d_type != libc::DT_UNKNOWN {
            if d_type == libc::DT_REG {
                local.files += 1;
            } else if d_type == libc::DT_LNK {
                local.symlinks += 1;
            } else {
                local.other += 1;
            }
            return;
        }
        let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
        // SAFETY: dfd is open, name is NUL-terminated, st has room for a stat.
        let r = unsafe {
            libc::fstatat(
                dfd,
                name.as_ptr(),
                st.as_mut_ptr(),
                libc::AT_SYMLINK_NOFOLLOW,
            )
        };
        if r != 0 {
            // Vanished between readdir and stat (a live upload directory), or worse.
            local.vanished += 1;
            return;
        }
        // SAFETY: fstatat succeeded and filled st.
        let meta = Meta::from(unsafe { &st.assume_init() });
        if std::str::from_utf8(bytes).is_err() {
            local.non_utf8 += 1;
            if local.non_utf8_example.is_none() {
                local.non_utf8_example =
                    Some(self.sys_path(&item.host.join(OsStr::from_bytes(bytes))));
            }
        }
        match meta.mode & libc::S_IFMT {
            libc::S_IFREG => {
                local.files += 1;
                if self.opts.dirs_only {
                    return;
                }
                if item.hidden {
                    local.files_unreadable += 1;
                    local.files_hidden += 1;
                    return;
                }
                let d = self.decide(&meta, name, &item.host, inherits_acl, self.opts.file_needs);
                if !d.allowed {
                    let path = self.sys_path(&item.host.join(OsStr::from_bytes(bytes)));
                    local.unreadable(path, &meta, d.via);
                } else if local.dir_sample.is_none() {
                    local.dir_sample =
                        Some(self.sys_path(&item.host.join(OsStr::from_bytes(bytes))));
                }
            }
            libc::S_IFDIR => {
                local.dirs += 1;
                let host = item.host.join(OsStr::from_bytes(bytes));
                let d = self.decide(&meta, name, &item.host, inherits_acl, self.opts.dir_needs);
                if !d.allowed {
                    local.untraversable(self.sys_path(&host), &meta, d.via);
                } else if item.hidden {
                    local.dirs_hidden += 1;
                }
                subdirs.push(Item {
                    host,
                    hidden: item.hidden || !d.allowed,
                });
            }
            libc::S_IFLNK => {
                local.symlinks += 1;
                if local.symlink_paths.len() < MAX_SYMLINKS_JUDGED {
                    let path = self.sys_path(&item.host.join(OsStr::from_bytes(bytes)));
                    local.symlink_paths.push((path, item.hidden));
                } else {
                    local.symlinks_unjudged += 1;
                }
            }
            _ => local.other += 1,
        }
    }

    /// The mode-bit decision, with the ACL read only where it can change the answer.
    fn decide(
        &self,
        meta: &Meta,
        name: &CStr,
        dir_host: &Path,
        inherits_acl: bool,
        want: Access,
    ) -> access::Decision {
        let plain = access::decide(meta, None, self.who, want);
        let read_acl = if inherits_acl {
            access::acl_consulted(meta, self.who)
        } else {
            !plain.allowed && may_grant(meta, self.who, want)
        };
        if !read_acl {
            return plain;
        }
        let path = dir_host.join(OsStr::from_bytes(name.to_bytes()));
        match acl::read_path(&path, acl::ACCESS_XATTR) {
            acl::Read::Acl(a) => access::decide(meta, Some(&a), self.who, want),
            _ => plain,
        }
    }
}

fn std_fd(fd: &OwnedFd) -> BorrowedFd<'_> {
    std::os::fd::AsFd::as_fd(fd)
}

/// Symlinks: nginx follows them (unless disable_symlinks), so each is judged by a full walk of
/// its path: readable target, loop, dangling, or a directory (not descended).
fn judge_symlinks(
    root: &SysRoot,
    who: &Identity,
    scan: &mut Scan,
    links: Vec<(PathBuf, bool)>,
    keep: usize,
) {
    let mut links = links;
    links.sort();
    for (path, hidden) in links {
        // Walks never ask the kernel here: the examples are verified together below.
        let w = walk::walk_unverified(root, &path, who, Access::READ);
        match &w.outcome {
            Outcome::SymlinkLoop { .. } => scan.symlink_loops.push(path),
            Outcome::Missing { .. } => scan.symlinks_dangling.push(path),
            Outcome::Found { is_dir: true } => scan.symlinked_dirs.push(path),
            Outcome::Found { is_dir: false } if !hidden => {
                if scan.symlink_examples.len() < keep {
                    scan.symlink_examples.push(path);
                }
            }
            _ => {
                scan.files_unreadable += 1;
                if hidden {
                    scan.files_hidden += 1;
                } else if scan.unreadable_examples.len() < keep {
                    let step = w.failing_step().or(w.steps.last());
                    if let Some(s) = step {
                        scan.unreadable_examples.push(Example {
                            path: path.clone(),
                            mode: s.mode.clone(),
                            uid: s.meta.uid,
                            gid: s.meta.gid,
                            class: "symlink".into(),
                        });
                    }
                }
            }
        }
    }
}

/// Ask the kernel, as the user, about every example: a disagreement is itself a finding.
fn verify_examples(root: &SysRoot, who: &Identity, scan: &mut Scan, _opts: &Options) {
    let mut probes = Vec::new();
    for e in &scan.unreadable_examples {
        probes.push(Probe {
            path: e.path.clone(),
            op: Op::Open,
        });
    }
    for e in &scan.untraversable_examples {
        probes.push(Probe {
            path: e.path.clone(),
            op: Op::Access(Access::EXEC),
        });
    }
    if probes.is_empty() {
        scan.verified = true;
        return;
    }
    match as_user::probe(root, who, &probes) {
        Ok(results) => {
            scan.verified = true;
            for (p, errno) in probes.iter().zip(results) {
                // Denied by the path above the scanned root is MD202's finding, not a disagreement;
                // allowed is one.
                if errno == 0 {
                    scan.disagreements.push(format!(
                        "{}: the metadata says {} may not use it, the kernel allows it",
                        p.path.display(),
                        who.name
                    ));
                }
            }
        }
        Err(e) => scan
            .disagreements
            .push(format!("could not verify as {}: {e:#}", who.name)),
    }
}

/// `scanning /srv/media: 123,456 entries` on stderr, redrawn every 200 ms after the first 500 ms,
/// erased at the end.
fn draw_progress(shared: &Shared, dir: &Path) {
    use std::io::Write;
    let start = Instant::now();
    let mut drawn = false;
    while !shared.done.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(50));
        let t = start.elapsed();
        if t < Duration::from_millis(500) || t.as_millis() % 200 >= 50 {
            continue;
        }
        let n = shared.entries.load(Ordering::Relaxed);
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r\x1b[Kscanning {}: {} entries ({:.0}/s)",
            dir.display(),
            group_digits(n),
            n as f64 / t.as_secs_f64()
        );
        let _ = err.flush();
        drawn = true;
    }
    if drawn {
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[K");
        let _ = err.flush();
    }
}

pub fn group_digits(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn digits() {
        assert_eq!(super::group_digits(1234567), "1,234,567");
        assert_eq!(super::group_digits(12), "12");
    }
}
