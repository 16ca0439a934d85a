//! The namei-style walk: a system path, component by component, as the kernel resolves it for a
//! given user. Each component is lstat'ed; symlinks are followed inside the root like the kernel
//! follows them (relative targets from the link's directory, absolute ones from the root, ELOOP
//! after 40); every directory on the way needs search (x) and the last component needs what the
//! caller wants. The first failing component is the verdict; the steps after it are still shown
//! when they can be read, as `namei -l` does.
//!
//! On the live system as root the verdict is also checked for real (fs::as_user): the kernel's
//! errno as the user, and any disagreement with the metadata decision, is part of the result.

use super::access::{self, Access, Decision, Meta, Via};
use super::acl;
use super::as_user::{self, Op, Probe};
use super::identity::{Identity, UserDb};
use crate::fnv::FnvMap;
use crate::sysroot::SysRoot;
use crate::text_safe::{self, list_item};
use serde::Serialize;
use std::collections::{HashMap, VecDeque};
use std::ffi::{OsStr, OsString};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

/// The kernel's limit on symlinks followed in one lookup (MAXSYMLINKS).
pub const MAX_SYMLINKS: usize = 40;

#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// The component's system path (physical: symlinks before it resolved).
    pub path: PathBuf,
    /// The name as `namei` prints it: the last part of `path` (`/` for the root).
    pub name: String,
    /// `drwxr-xr-x`.
    pub mode: String,
    pub owner: String,
    pub group: String,
    #[serde(skip)]
    pub meta: Meta,
    /// Whether the user gets what this component needs (x on a directory passed through, the
    /// wanted access on the last component; a symlink itself needs nothing).
    pub ok: bool,
    /// Why not, or which rule granted it.
    pub why: Option<String>,
    /// For a symlink: its target as written.
    pub link_target: Option<PathBuf>,
    /// The extended ACL entries, `getfacl`-style, when the kernel consulted an ACL here.
    pub acl: Option<String>,
    #[serde(skip)]
    pub decision: Option<Decision>,
    /// What this component was checked for (`x` for a directory passed through).
    #[serde(skip)]
    pub needs: Access,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Outcome {
    /// Everything passed: the last component is a file (or a directory, or something else).
    Found { is_dir: bool },
    /// ENOENT at `at`.
    Missing { at: PathBuf },
    /// ENOTDIR: `at` is not a directory but the path goes on below it.
    NotADirectory { at: PathBuf },
    /// EACCES: the user lacks `needs` on `at`.
    Denied { at: PathBuf, needs: Access },
    /// ELOOP: more than 40 symlinks, or a loop, at `at`.
    SymlinkLoop { at: PathBuf },
    /// media-doctor itself could not read `at` (not root), or another error: no guess is made.
    CannotVerify { at: PathBuf, why: String },
}

impl Outcome {
    /// The errno the kernel gives for this outcome (None when unknown).
    pub fn errno(&self) -> Option<i32> {
        match self {
            Outcome::Found { .. } => Some(0),
            Outcome::Missing { .. } => Some(libc::ENOENT),
            Outcome::NotADirectory { .. } => Some(libc::ENOTDIR),
            Outcome::Denied { .. } => Some(libc::EACCES),
            Outcome::SymlinkLoop { .. } => Some(libc::ELOOP),
            Outcome::CannotVerify { .. } => None,
        }
    }

    pub fn is_found(&self) -> bool {
        matches!(self, Outcome::Found { .. })
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Found { is_dir: true } => f.write_str("found (a directory)"),
            Outcome::Found { is_dir: false } => f.write_str("found"),
            Outcome::Missing { at } => write!(f, "missing: {} does not exist", at.display()),
            Outcome::NotADirectory { at } => write!(f, "{} is not a directory", at.display()),
            Outcome::Denied { at, needs } => {
                write!(f, "denied at {} (needs {needs})", at.display())
            }
            Outcome::SymlinkLoop { at } => write!(f, "symlink loop at {}", at.display()),
            Outcome::CannotVerify { at, why } => {
                write!(f, "cannot verify {}: {why}", at.display())
            }
        }
    }
}

/// The real kernel's answer, when it could be asked.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum Verification {
    /// Asked as the user: `errno` for the whole path (0 = allowed); `disagreements` lists every
    /// place where the metadata decision and the kernel differ (empty when they agree).
    Kernel {
        errno: i32,
        says: String,
        disagreements: Vec<String>,
    },
    /// Not asked, and why (`--root`, not root, the probe failed).
    NotVerified { why: String },
}

#[derive(Debug, Clone, Serialize)]
pub struct Walk {
    /// The path asked about (a system path).
    pub path: PathBuf,
    pub user: String,
    pub want: Access,
    pub steps: Vec<Step>,
    pub outcome: Outcome,
    /// Where the path leads with every symlink resolved (when the walk got to the end).
    pub resolved: Option<PathBuf>,
    pub verification: Verification,
}

impl Walk {
    /// The step of the first failure.
    pub fn failing_step(&self) -> Option<&Step> {
        let at = match &self.outcome {
            Outcome::Denied { at, .. }
            | Outcome::NotADirectory { at }
            | Outcome::SymlinkLoop { at } => at,
            _ => return None,
        };
        self.steps.iter().find(|s| &s.path == at)
    }

    /// Differences between the metadata decision and the kernel (empty when verified and agreeing
    /// or when not verified).
    pub fn disagreements(&self) -> &[String] {
        match &self.verification {
            Verification::Kernel { disagreements, .. } => disagreements,
            Verification::NotVerified { .. } => &[],
        }
    }

    /// Whether the symlinks on the way are part of the path (for `disable_symlinks`).
    pub fn symlinks(&self) -> impl Iterator<Item = &Step> {
        self.steps.iter().filter(|s| s.link_target.is_some())
    }

    /// `namei -l`-style lines: mode, owner, group, name, and a mark on the failing component.
    pub fn render(&self) -> String {
        let ow = self.steps.iter().map(|s| s.owner.len()).max().unwrap_or(0);
        let gw = self.steps.iter().map(|s| s.group.len()).max().unwrap_or(0);
        // Names from outside, one per line: a line break inside one is escaped (text_safe), an
        // invalid UTF-8 byte shown as \xNN.
        let shown = |p: &Path| list_item(&text_safe::path(p)).into_owned();
        // Pushed piece by piece into one string, not a `format!` per line: one site of 360,000
        // servers renders as many walks. `{:w$}` pads a string to `w` characters.
        let pad = |out: &mut String, s: &str, w: usize| {
            out.push_str(s);
            for _ in s.chars().count()..w {
                out.push(' ');
            }
        };
        let mut out = String::with_capacity(48 * (self.steps.len() + 2));
        out.push_str("f: ");
        out.push_str(&shown(&self.path));
        out.push('\n');
        for s in &self.steps {
            out.push(' ');
            out.push_str(&s.mode);
            out.push(' ');
            pad(&mut out, &s.owner, ow);
            out.push(' ');
            pad(&mut out, &s.group, gw);
            out.push(' ');
            out.push_str(&list_item(&s.name));
            if let Some(t) = &s.link_target {
                out.push_str(" -> ");
                out.push_str(&shown(t));
            }
            if !s.ok {
                out.push_str("   \u{2717} ");
                out.push_str(s.why.as_deref().unwrap_or("denied"));
            }
            if let Some(a) = &s.acl {
                out.push_str("   [acl ");
                out.push_str(a);
                out.push(']');
            }
            out.push('\n');
        }
        if !self.outcome.is_found() {
            out.push_str("=> ");
            out.push_str(&list_item(&self.outcome.to_string()));
            out.push('\n');
        }
        out.pop();
        out
    }
}

/// Walk `path` (a system path, read under `root`) as `who`, wanting `want` on its last component.
/// On the live system as root, the verdict is checked as the user.
pub fn walk(root: &SysRoot, path: &Path, who: &Identity, want: Access) -> Walk {
    let mut w = walk_unverified(root, path, who, want);
    w.verification = verify(root, &w, who);
    w
}

/// The walk from metadata alone (for callers that verify many paths in one batch).
pub fn walk_unverified(root: &SysRoot, path: &Path, who: &Identity, want: Access) -> Walk {
    let db = UserDb::load(root);
    let w = Walker {
        root,
        who,
        db: &db,
        explain: true,
        cache: None,
        steps: Vec::new(),
        outcome: None,
        shared: false,
    };
    w.finish(path, want)
}

/// What many walks of one analysis share: the root's user database, and each path's metadata,
/// symlink target and ACL, read once. The files are taken as they were at the first look, so
/// keep one only for a batch (the resolver predicting thousands of URLs walks `/`, `/srv`,
/// `/srv/www` ... again for each).
#[derive(Debug)]
pub struct WalkCache {
    pub db: UserDb,
    /// The root directory, followed (`/` may be a symlink under --root).
    // Keyed by the host path's bytes: hashing a `Path` walks its components, which costs more
    // than the lookup saves. FNV: the paths are the config's, and every step of every walk
    // looks one up (SipHash was a tenth of a walk).
    root: std::sync::Mutex<FnvMap<OsString, Result<Meta, i32>>>,
    lstat: std::sync::Mutex<FnvMap<OsString, Result<Meta, i32>>>,
    links: std::sync::Mutex<FnvMap<OsString, Result<PathBuf, i32>>>,
    acls: std::sync::Mutex<FnvMap<OsString, acl::Read>>,
    /// Where the walks got after a prefix of their path (see `Reached`), for each user and
    /// `explain`: the walks of one site of 360,000 servers pass through the same `/`, `/srv`,
    /// `/srv/www`, and a walk judged those steps (and wrote their display strings) each time.
    reached: std::sync::Mutex<Vec<ReachedBy>>,
    /// Whole walks, when kept (`keeping_walks`): the same path asked again for the same
    /// access by the same user is the same walk (every step is read from the maps above), so
    /// it is given again rather than made again.
    walks: Option<std::sync::Mutex<FnvMap<WalkKey, KeptWalk>>>,
}

/// A kept walk, and the groups of the user it was made as.
type KeptWalk = (Vec<u32>, Walk);

/// A kept walk: its path, the access wanted, the user's uid and gid, whether it was explained
/// (the user's groups are compared on the entry).
type WalkKey = (OsString, Access, u32, u32, bool);

/// At most this many walks are kept (then they are let go, and kept again from there): the
/// fix prover asks the same few paths for the two copies of each proof, close together, and
/// one site of 360,000 servers would otherwise keep a walk per server. 1,024 (~1.3 MB of walks),
/// not 4,096: the 50 MB site's checks held 5 MB of walks no one asked again.
const WALKS_KEPT: usize = 1024;

impl WalkCache {
    pub fn new(root: &SysRoot) -> WalkCache {
        WalkCache {
            db: UserDb::load(root),
            root: Default::default(),
            lstat: Default::default(),
            links: Default::default(),
            acls: Default::default(),
            reached: Default::default(),
            walks: None,
        }
    }

    /// A cache that also keeps whole walks (see `walks`): for the fix prover, whose unedited
    /// and edited copies walk the same paths.
    pub fn keeping_walks(root: &SysRoot) -> WalkCache {
        WalkCache {
            walks: Some(Default::default()),
            ..WalkCache::new(root)
        }
    }

    /// The longest prefix of `parts` (at most all but the last) some walk as `who` reached,
    /// with how many components it covers.
    fn reached(
        &self,
        who: &Identity,
        explain: bool,
        parts: &Parts,
    ) -> Option<(usize, Arc<Reached>)> {
        let lock = self.reached.lock().unwrap_or_else(|p| p.into_inner());
        let by = lock
            .iter()
            .find(|r| r.explain == explain && &r.who == who)?;
        (1..parts.len())
            .rev()
            .find_map(|k| by.map.get(parts.key(k)).map(|r| (k, r.clone())))
    }

    /// Keep where a walk as `who` got after the first `k` components of `parts`.
    fn keep_reached(&self, who: &Identity, explain: bool, parts: &Parts, k: usize, r: Reached) {
        let mut lock = self.reached.lock().unwrap_or_else(|p| p.into_inner());
        let map = &mut reached_by(&mut lock, who, explain).map;
        if map.len() < REACHED_MAX {
            map.entry(parts.key(k).to_owned())
                .or_insert_with(|| Arc::new(r));
        }
    }

    /// Whether a prefix of `parts` is worth keeping: not yet kept and room left; with
    /// `again`, only once a walk got there before (its hash is noted the first time).
    fn wants_reached(
        &self,
        who: &Identity,
        explain: bool,
        parts: &Parts,
        k: usize,
        again: bool,
    ) -> bool {
        let mut lock = self.reached.lock().unwrap_or_else(|p| p.into_inner());
        let by = reached_by(&mut lock, who, explain);
        let key = parts.key(k);
        if by.map.len() >= REACHED_MAX || by.map.contains_key(key) {
            return false;
        }
        if !again {
            return true;
        }
        let mut h = crate::fnv::Fnv::default();
        std::hash::Hasher::write(&mut h, key.as_encoded_bytes());
        let h = std::hash::Hasher::finish(&h);
        // A hash seen before (or colliding with one): keeping it costs a copy, never a
        // wrong walk (the state kept is this prefix's own).
        by.seen.contains(&h) || {
            if by.seen.len() < SEEN_MAX {
                by.seen.insert(h);
            }
            false
        }
    }
}

/// The prefixes of `who`'s walks (with or without display strings), made on first use.
fn reached_by<'a>(all: &'a mut Vec<ReachedBy>, who: &Identity, explain: bool) -> &'a mut ReachedBy {
    let at = match all
        .iter()
        .position(|r| r.explain == explain && &r.who == who)
    {
        Some(i) => i,
        None => {
            all.push(ReachedBy {
                who: who.clone(),
                explain,
                map: FnvMap::default(),
                seen: Default::default(),
            });
            all.len() - 1
        }
    };
    &mut all[at]
}

/// The prefixes kept per user in one `WalkCache`: the shared parents come first in a config's
/// walks; a bound keeps the memory of 360,000 distinct paths out.
const REACHED_MAX: usize = 1024;
/// The parents noted once (a hash each) before they are kept.
const SEEN_MAX: usize = 65_536;

/// The prefixes one user's walks reached (keyed by `Parts::key`).
#[derive(Debug)]
struct ReachedBy {
    who: Identity,
    explain: bool,
    map: FnvMap<OsString, Arc<Reached>>,
    /// The parents reached once (`wants_reached`), by hash.
    seen: std::collections::HashSet<u64, std::hash::BuildHasherDefault<crate::fnv::Fnv>>,
}

/// A walk's state after a prefix of its path's components, at a point where no symlink's
/// target was left to read (what follows is the rest of the path itself): every component
/// was judged as a directory passed through, so any path with that prefix and at least one
/// more component gets the same steps and verdict so far, from the same cached metadata.
#[derive(Debug)]
struct Reached {
    steps: Vec<Step>,
    outcome: Option<Outcome>,
    at: PathBuf,
    depth: usize,
    links: usize,
    /// The walk stopped there (a missing or unreadable component, not a directory, a loop).
    ended: bool,
}

/// A path's components (as `push_components` gives them: no `/`, no `.`) joined by `/` (which
/// no component holds), with the end of each: the first `k` components are one slice, a map key.
/// Split from the bytes, not by `Path::components` (a third of a walk from a kept prefix).
struct Parts {
    joined: Vec<u8>,
    /// `ends[k]`: where the first `k` components end (`ends[0] == 0`).
    ends: Vec<usize>,
}

impl Parts {
    fn of(path: &Path) -> Parts {
        use std::os::unix::ffi::OsStrExt;
        let bytes = path.as_os_str().as_bytes();
        let mut joined = Vec::with_capacity(bytes.len());
        let mut ends = Vec::with_capacity(8);
        ends.push(0);
        for c in bytes.split(|&b| b == b'/') {
            if c.is_empty() || c == b"." {
                continue;
            }
            if !joined.is_empty() {
                joined.push(b'/');
            }
            joined.extend_from_slice(c);
            ends.push(joined.len());
        }
        Parts { joined, ends }
    }

    fn len(&self) -> usize {
        self.ends.len() - 1
    }

    /// The first `k` components.
    fn key(&self, k: usize) -> &OsStr {
        use std::os::unix::ffi::OsStrExt;
        OsStr::from_bytes(&self.joined[..self.ends[k]])
    }

    /// The components from the `k`th (from 0) on.
    fn from(&self, k: usize) -> VecDeque<OsString> {
        use std::os::unix::ffi::OsStrExt;
        (k..self.len())
            .map(|i| {
                let start = if i == 0 { 0 } else { self.ends[i] + 1 };
                OsStr::from_bytes(&self.joined[start..self.ends[i + 1]]).to_os_string()
            })
            .collect()
    }
}

/// The shallow directories that many sites' roots share (`/`, `/srv`, `/srv/www`, `/var/www` ...):
/// their metadata, symlink target and ACL, read once for a whole every-site run instead of once
/// per site. Only directories passed through at depth `SHARED_DEPTH` or less are kept, and at most
/// `SHARED_MAX` of them: memory stays bounded whatever the number of sites. Off (`None`) outside
/// `with_shared_ancestors`, so a walk elsewhere reads the files as they are now.
static SHARED: std::sync::Mutex<Option<HashMap<OsString, Shared>>> = std::sync::Mutex::new(None);
const SHARED_DEPTH: usize = 3;
const SHARED_MAX: usize = 4096;

/// What was read of one shared ancestor (by its host path); `None` = not read yet.
#[derive(Debug, Clone, Default)]
struct Shared {
    followed: Option<Result<Meta, i32>>,
    lstat: Option<Result<Meta, i32>>,
    link: Option<Result<PathBuf, i32>>,
    acl: Option<Result<acl::Read, i32>>,
}

/// Run `f` (the checks of every site of a box) with the shared ancestors read once: the files
/// are taken as they were at the first look, as within a `WalkCache`.
pub fn with_shared_ancestors<T>(f: impl FnOnce() -> T) -> T {
    let lock = || SHARED.lock().unwrap_or_else(|p| p.into_inner());
    *lock() = Some(HashMap::new());
    let r = f();
    *lock() = None;
    r
}

/// The shared ancestor `host`'s field `get`: kept on first use (an I/O error by its errno; one
/// without errno is read again each time, as in `cached`).
fn shared<T: Clone>(
    host: &Path,
    get: fn(&mut Shared) -> &mut Option<Result<T, i32>>,
    read: impl FnOnce() -> std::io::Result<T>,
) -> std::io::Result<T> {
    let lock = || SHARED.lock().unwrap_or_else(|p| p.into_inner());
    match lock().as_mut() {
        None => return read(),
        Some(map) => {
            if let Some(v) = map.get_mut(host.as_os_str()).and_then(|e| get(e).clone()) {
                return v.map_err(std::io::Error::from_raw_os_error);
            }
        }
    }
    let r = read();
    let kept = match &r {
        Ok(v) => Ok(v.clone()),
        Err(e) => match e.raw_os_error() {
            Some(errno) => Err(errno),
            None => return r,
        },
    };
    if let Some(map) = lock().as_mut() {
        if let Some(e) = map.get_mut(host.as_os_str()) {
            *get(e) = Some(kept);
        } else if map.len() < SHARED_MAX {
            let mut e = Shared::default();
            *get(&mut e) = Some(kept);
            map.insert(host.as_os_str().to_owned(), e);
        }
    }
    r
}

/// Read once per key: an I/O error is kept by its errno (one without errno is not kept).
fn cached<T: Clone>(
    map: &std::sync::Mutex<FnvMap<OsString, Result<T, i32>>>,
    key: &Path,
    read: impl FnOnce() -> std::io::Result<T>,
) -> std::io::Result<T> {
    let lock = || map.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(r) = lock().get(key.as_os_str()) {
        return r.clone().map_err(std::io::Error::from_raw_os_error);
    }
    let r = read();
    match &r {
        Ok(v) => {
            lock().insert(key.as_os_str().to_owned(), Ok(v.clone()));
        }
        Err(e) => {
            if let Some(errno) = e.raw_os_error() {
                lock().insert(key.as_os_str().to_owned(), Err(errno));
            }
        }
    }
    r
}

/// `walk_unverified` with what the walks of one batch share (see `WalkCache`). Without
/// `explain`, the steps keep their paths, metadata and decisions but not the display strings
/// (name, mode, owner, group, why, ACL text): for callers that only need the outcome.
pub fn walk_cached(
    root: &SysRoot,
    cache: &WalkCache,
    path: &Path,
    who: &Identity,
    want: Access,
    explain: bool,
) -> Walk {
    let walk = || {
        Walker {
            root,
            who,
            db: &cache.db,
            explain,
            cache: Some(cache),
            steps: Vec::new(),
            outcome: None,
            shared: false,
        }
        .finish(path, want)
    };
    let Some(kept) = &cache.walks else {
        return walk();
    };
    let key: WalkKey = (
        path.as_os_str().to_os_string(),
        want,
        who.uid,
        who.gid,
        explain,
    );
    let known = kept
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&key)
        .filter(|(groups, w)| *groups == who.groups && w.user == who.name)
        .map(|(_, w)| w.clone());
    if let Some(w) = known {
        return w;
    }
    let w = walk();
    let mut kept = kept.lock().unwrap_or_else(|e| e.into_inner());
    if kept.len() >= WALKS_KEPT {
        kept.clear();
    }
    kept.insert(key, (who.groups.clone(), w.clone()));
    w
}

impl Walker<'_> {
    fn finish(mut self, path: &Path, want: Access) -> Walk {
        let resolved = self.run(path, want);
        let outcome = self.outcome.take().unwrap_or_else(|| Outcome::Found {
            is_dir: self.steps.last().is_some_and(|s| s.meta.is_dir()),
        });
        Walk {
            path: path.to_path_buf(),
            user: self.who.name.clone(),
            want,
            steps: self.steps,
            resolved: if outcome.is_found() { resolved } else { None },
            outcome,
            verification: Verification::NotVerified {
                why: "not asked".into(),
            },
        }
    }
}

/// Where a walk is: the directory reached (a system path), how deep, how many symlinks read.
struct Pos {
    at: PathBuf,
    depth: usize,
    links: usize,
}

struct Walker<'a> {
    root: &'a SysRoot,
    who: &'a Identity,
    db: &'a UserDb,
    cache: Option<&'a WalkCache>,
    /// Make the display strings of each step (off for bulk status prediction).
    explain: bool,
    steps: Vec<Step>,
    /// The first failure; later components are still shown when readable.
    outcome: Option<Outcome>,
    /// The component being read is a shallow directory passed through (see `SHARED`).
    shared: bool,
}

impl Walker<'_> {
    /// Returns the resolved system path when the walk reached the end.
    fn run(&mut self, path: &Path, want: Access) -> Option<PathBuf> {
        // With a cache, the walk starts where an earlier one with the same prefix got.
        let parts = self.cache.map(|_| Parts::of(path));
        let reached = match (self.cache, &parts) {
            (Some(c), Some(p)) => c.reached(self.who, self.explain, p),
            _ => None,
        };
        let mut pending: VecDeque<OsString>;
        // The directories passed through so far, as a system path (`/` and each component):
        // kept as the walk goes, not joined again at every step.
        let mut pos;
        if let Some((k, r)) = reached {
            self.steps = r.steps.clone();
            self.outcome = r.outcome.clone();
            if r.ended {
                return None;
            }
            pending = parts.as_ref().map_or_else(VecDeque::new, |p| p.from(k));
            pos = Pos {
                at: r.at.clone(),
                depth: r.depth,
                links: r.links,
            };
        } else {
            pending = match &parts {
                Some(p) => p.from(0),
                None => {
                    let mut q = VecDeque::new();
                    push_components(&mut q, path);
                    q
                }
            };
            // The root itself: searched when anything follows, else it is the last component.
            let root_need = if pending.is_empty() {
                want
            } else {
                Access::EXEC
            };
            let root_host = self.root.host_path(Path::new("/"));
            let read_root = || std::fs::metadata(&root_host).map(|m| Meta::from(&m));
            let read_root = || match self.cache {
                Some(c) => cached(&c.root, Path::new("/"), read_root),
                None => read_root(),
            };
            self.shared = !pending.is_empty();
            let root_meta = if self.shared {
                shared(&root_host, |e| &mut e.followed, read_root)
            } else {
                read_root()
            };
            match root_meta {
                Ok(m) => self.judge(PathBuf::from("/"), m, None, root_need),
                Err(e) => {
                    self.fail_unreadable(PathBuf::from("/"), e);
                    return None;
                }
            }
            pos = Pos {
                at: PathBuf::from("/"),
                depth: 0,
                links: 0,
            };
        }
        // How many of the path's own components are still pending (a symlink's target is
        // read before them): when they are all that is pending, the state so far is the
        // prefix's own, kept for the walks that share it.
        let mut own_left = pending.len();
        while let Some(part) = pending.pop_front() {
            if pending.len() < own_left {
                own_left -= 1;
            }
            let went_on = self.advance(part, &mut pending, &mut pos, want);
            if pending.len() == own_left && own_left >= 1 {
                if let (Some(c), Some(p)) = (self.cache, &parts) {
                    let k = p.len() - own_left;
                    // A grandparent of the path or higher at once; its parent (most are one
                    // path's own) the second time a walk gets there.
                    if c.wants_reached(self.who, self.explain, p, k, own_left == 1) {
                        let r = Reached {
                            steps: self.steps.clone(),
                            outcome: self.outcome.clone(),
                            at: pos.at.clone(),
                            depth: pos.depth,
                            links: pos.links,
                            ended: !went_on,
                        };
                        c.keep_reached(self.who, self.explain, p, k, r);
                    }
                }
            }
            if !went_on {
                return None;
            }
        }
        Some(pos.at)
    }

    /// One component: false when the walk stops there.
    fn advance(
        &mut self,
        part: OsString,
        pending: &mut VecDeque<OsString>,
        pos: &mut Pos,
        want: Access,
    ) -> bool {
        if part == ".." {
            pos.depth = pos.depth.saturating_sub(usize::from(pos.at.pop()));
            return true;
        }
        let sys = system_path(&pos.at, &part);
        let host = self.root.host_path(&sys);
        self.shared = !pending.is_empty() && pos.depth < SHARED_DEPTH;
        let meta = match self.lstat(&host) {
            Ok(m) => m,
            Err(e) => {
                self.fail_unreadable(sys, e);
                return false;
            }
        };
        if meta.is_symlink() {
            let target = match self.read_link(&host) {
                Ok(t) => t,
                Err(e) => {
                    self.fail_unreadable(sys, e);
                    return false;
                }
            };
            self.push_step(sys.clone(), meta, None, Access::NONE, Some(target.clone()));
            pos.links += 1;
            if pos.links > MAX_SYMLINKS {
                self.fail(Outcome::SymlinkLoop { at: sys });
                return false;
            }
            if target.as_os_str().is_empty() {
                self.fail(Outcome::Missing { at: sys });
                return false;
            }
            if target.is_absolute() {
                pos.at = PathBuf::from("/");
                pos.depth = 0;
            }
            let mut front = VecDeque::new();
            push_components(&mut front, &target);
            while let Some(c) = front.pop_back() {
                pending.push_front(c);
            }
            return true;
        }
        let last = pending.is_empty();
        if !last && !meta.is_dir() {
            self.push_step(sys.clone(), meta, None, Access::NONE, None);
            self.fail(Outcome::NotADirectory { at: sys });
            return false;
        }
        let need = if last { want } else { Access::EXEC };
        self.judge(sys, meta, Some(&host), need);
        pos.at.push(part);
        pos.depth += 1;
        true
    }

    fn lstat(&self, host: &Path) -> std::io::Result<Meta> {
        let read = || std::fs::symlink_metadata(host).map(|m| Meta::from(&m));
        let read = || match self.cache {
            Some(c) => cached(&c.lstat, host, read),
            None => read(),
        };
        if self.shared {
            shared(host, |e| &mut e.lstat, read)
        } else {
            read()
        }
    }

    fn read_link(&self, host: &Path) -> std::io::Result<PathBuf> {
        let read = || std::fs::read_link(host);
        let read = || match self.cache {
            Some(c) => cached(&c.links, host, read),
            None => read(),
        };
        if self.shared {
            shared(host, |e| &mut e.link, read)
        } else {
            read()
        }
    }

    fn read_acl(&self, host: &Path) -> acl::Read {
        if self.shared {
            return shared(host, |e| &mut e.acl, || Ok(self.read_acl_now(host)))
                .unwrap_or_else(|e| acl::Read::Failed(e.to_string()));
        }
        self.read_acl_now(host)
    }

    fn read_acl_now(&self, host: &Path) -> acl::Read {
        let Some(c) = self.cache else {
            return acl::read_path(host, acl::ACCESS_XATTR);
        };
        let lock = || c.acls.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(r) = lock().get(host.as_os_str()) {
            return r.clone();
        }
        let r = acl::read_path(host, acl::ACCESS_XATTR);
        lock().insert(host.as_os_str().to_owned(), r.clone());
        r
    }

    /// Decide one non-symlink component and record it.
    fn judge(&mut self, sys: PathBuf, meta: Meta, host: Option<&Path>, need: Access) {
        let acl_read = if access::acl_consulted(&meta, self.who) && !need.is_empty() {
            match host {
                Some(h) => self.read_acl(h),
                None => self.read_acl(&self.root.host_path(&sys)),
            }
        } else {
            acl::Read::None
        };
        let decision = access::decide(&meta, acl_read.acl(), self.who, need);
        let step_at = self.steps.len();
        self.push_step(sys.clone(), meta, Some(decision), need, None);
        if let acl::Read::Failed(why) = &acl_read {
            if self.outcome.is_none() {
                self.fail(Outcome::CannotVerify {
                    at: sys.clone(),
                    why: format!("cannot read its ACL: {why}"),
                });
            }
        }
        if let (Some(a), true) = (acl_read.acl(), self.explain) {
            let db = self.db;
            self.steps[step_at].acl = Some(a.describe(|u| db.user_name(u), |g| db.group_name(g)));
        }
        if !decision.allowed && self.outcome.is_none() {
            self.fail(Outcome::Denied {
                at: sys,
                needs: decision.missing,
            });
        }
    }

    fn push_step(
        &mut self,
        path: PathBuf,
        meta: Meta,
        decision: Option<Decision>,
        needs: Access,
        link_target: Option<PathBuf>,
    ) {
        let ok = decision.map_or(true, |d| d.allowed);
        let (name, mode, owner, group, why) = if self.explain {
            (
                match path.file_name() {
                    Some(n) => n.to_string_lossy().into_owned(),
                    None => "/".into(),
                },
                access::mode_string(meta.mode),
                self.db.user_name(meta.uid),
                self.db.group_name(meta.gid),
                decision.map(|d| explain(&d, self.who, needs, &meta, self.db)),
            )
        } else {
            Default::default()
        };
        self.steps.push(Step {
            path,
            name,
            mode,
            owner,
            group,
            meta,
            ok,
            why,
            link_target,
            acl: None,
            decision,
            needs,
        });
    }

    fn fail(&mut self, outcome: Outcome) {
        if self.outcome.is_none() {
            self.outcome = Some(outcome);
        }
    }

    fn fail_unreadable(&mut self, at: PathBuf, e: std::io::Error) {
        let outcome = match e.raw_os_error() {
            Some(libc::ENOENT) => Outcome::Missing { at },
            Some(libc::ENOTDIR) => Outcome::NotADirectory { at },
            Some(libc::ELOOP) => Outcome::SymlinkLoop { at },
            Some(libc::EACCES) | Some(libc::EPERM) if !nix::unistd::geteuid().is_root() => {
                let why = format!("not root: cannot stat {}: run with sudo", at.display());
                Outcome::CannotVerify { at, why }
            }
            _ => Outcome::CannotVerify {
                why: e.to_string(),
                at,
            },
        };
        self.fail(outcome);
    }
}

fn push_components(into: &mut VecDeque<OsString>, path: &Path) {
    for c in path.components() {
        match c {
            Component::Normal(p) => into.push_back(p.to_os_string()),
            Component::ParentDir => into.push_back("..".into()),
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
        }
    }
}

/// `at` (a system path) and one more component, in one allocation.
fn system_path(at: &Path, next: &OsString) -> PathBuf {
    let mut p = PathBuf::with_capacity(at.as_os_str().len() + 1 + next.len());
    p.push(at);
    p.push(next);
    p
}

/// One line on why a component is (not) accessible: `www-data may not search (other: r--)`.
fn explain(d: &Decision, who: &Identity, needs: Access, meta: &Meta, db: &UserDb) -> String {
    let verb = verb(needs);
    let class = match d.via {
        Via::Owner => format!("as owner: {}", access::rwx(((meta.mode >> 6) & 7) as u8)),
        Via::Group { gid } => format!(
            "as group {}: {}",
            db.group_name(gid),
            access::rwx(((meta.mode >> 3) & 7) as u8)
        ),
        Via::Other => format!("as other: {}", access::rwx((meta.mode & 7) as u8)),
        Via::AclUser { .. } => format!("by ACL user:{}", who.name),
        Via::AclGroup { gid } => format!("by ACL group:{}", db.group_name(gid)),
        Via::Root => "as root".into(),
    };
    if d.allowed {
        format!("{} may {verb} ({class})", who.name)
    } else {
        format!("{} may not {verb} ({class})", who.name)
    }
}

fn verb(a: Access) -> &'static str {
    match a.bits() {
        1 => "search",
        4 => "read",
        2 => "write",
        3 => "create files in",
        5 => "read and search",
        0 => "pass",
        _ => "access",
    }
}

/// Pasteable commands that give `who` what it lacks on the failing step, least widening first
/// (only the user, then the group, then everyone). Never recursive, never 777.
pub fn grant_commands(
    step: &Step,
    who: &Identity,
    db_group: impl Fn(u32) -> String,
) -> Vec<String> {
    let Some(d) = step.decision else {
        return Vec::new();
    };
    let missing = if d.missing.is_empty() {
        step.needs
    } else {
        d.missing
    };
    let p = shell_quote(&step.path.display().to_string());
    let acl_user = format!("sudo setfacl -m u:{}:{} {p}", who.name, acl_perm(step, who));
    match d.via {
        Via::Owner => vec![format!("sudo chmod u+{missing} {p}")],
        Via::Group { gid } => vec![
            format!("sudo chmod g+{missing} {p}   # group {}", db_group(gid)),
            acl_user,
        ],
        Via::Other => vec![acl_user, format!("sudo chmod o+{missing} {p}")],
        Via::AclUser { .. } | Via::AclGroup { .. } | Via::Root => vec![acl_user],
    }
}

/// The permissions to grant by ACL: what the component needs plus what the user already has
/// (setfacl -m replaces the user's entry).
fn acl_perm(step: &Step, _who: &Identity) -> String {
    let have = match step.decision.map(|d| d.via) {
        Some(Via::Other) => (step.meta.mode & 7) as u8,
        _ => 0,
    };
    let bits = step.needs.bits() | have;
    let mut s = String::new();
    for (b, c) in [(4, 'r'), (2, 'w'), (1, 'x')] {
        if bits & b != 0 {
            s.push(c);
        }
    }
    if s.is_empty() {
        s.push('x');
    }
    s
}

/// Quoting for the commands printed with a walk's findings lives with the sanitiser (the
/// ground layer: the reload commands of `system` quote paths too).
pub use crate::text_safe::shell_quote;

fn verify(root: &SysRoot, walk: &Walk, who: &Identity) -> Verification {
    if let Some(not) = cannot_verify(root) {
        return not;
    }
    let (probes, checked_steps) = plan(walk);
    match as_user::probe(root, who, &probes) {
        Ok(results) => judge(walk, who, &checked_steps, &results),
        Err(e) => Verification::NotVerified {
            why: format!("{e:#}"),
        },
    }
}

/// Walks of many paths for one user, verified by the kernel in one process running as that user
/// (one fork for all: a config can serve thousands of directories, and a fork of a big process
/// costs milliseconds).
pub fn walk_many(root: &SysRoot, paths: &[PathBuf], who: &Identity, want: Access) -> Vec<Walk> {
    // One batch: the directories the paths share are read once (see `WalkCache`).
    walk_many_in(root, &WalkCache::new(root), paths, who, want, true)
}

/// `walk_many` with the walks of `cache`; without `explain`, the steps have no display strings
/// (see `walk_cached`): the verification is the same, and a caller that shows a few of the
/// walks walks those again with them, from the same cache.
pub fn walk_many_in(
    root: &SysRoot,
    cache: &WalkCache,
    paths: &[PathBuf],
    who: &Identity,
    want: Access,
    explain: bool,
) -> Vec<Walk> {
    let mut walks: Vec<Walk> = paths
        .iter()
        .map(|p| walk_cached(root, cache, p, who, want, explain))
        .collect();
    if let Some(not) = cannot_verify(root) {
        for w in &mut walks {
            w.verification = not.clone();
        }
        return walks;
    }
    // Each distinct probe asked once: the walks of a batch pass through the same parents
    // (`/`, `/srv`, `/srv/www` for each of thousands of served directories). The probes
    // borrow the walks' paths; only the distinct ones are copied.
    let mut all: Vec<Probe> = Vec::new();
    let mut index: FnvMap<(&Path, Op), usize> = FnvMap::default();
    let mut planned: Vec<(&Path, Op)> = Vec::new();
    // Per walk: its probes' indices in `all` and the steps they check, end to end.
    let mut asked: Vec<usize> = Vec::new();
    let mut checked: Vec<usize> = Vec::new();
    let mut spans: Vec<(usize, usize)> = Vec::with_capacity(walks.len());
    for w in &walks {
        let from = (asked.len(), checked.len());
        planned.clear();
        plan_into(w, &mut planned, &mut checked);
        for &(path, op) in &planned {
            asked.push(*index.entry((path, op)).or_insert_with(|| {
                all.push(Probe {
                    path: path.to_path_buf(),
                    op,
                });
                all.len() - 1
            }));
        }
        spans.push(from);
    }
    drop(index);
    spans.push((asked.len(), checked.len()));
    let verification: Vec<Verification> = match as_user::probe(root, who, &all) {
        Ok(results) => {
            let mut mine: Vec<i32> = Vec::new();
            walks
                .iter()
                .zip(spans.windows(2))
                .map(|(w, span)| {
                    let ((a0, c0), (a1, c1)) = (span[0], span[1]);
                    mine.clear();
                    mine.extend(asked[a0..a1].iter().map(|&i| results[i]));
                    judge(w, who, &checked[c0..c1], &mine)
                })
                .collect()
        }
        Err(e) => {
            let why = format!("{e:#}");
            walks
                .iter()
                .map(|_| Verification::NotVerified { why: why.clone() })
                .collect()
        }
    };
    for (w, v) in walks.iter_mut().zip(verification) {
        w.verification = v;
    }
    walks
}

/// Why the kernel cannot be asked here, if it cannot.
fn cannot_verify(root: &SysRoot) -> Option<Verification> {
    if !root.is_live() && root.process().is_none() {
        return Some(Verification::NotVerified {
            why: "--root: the kernel cannot be asked about an image".into(),
        });
    }
    if !as_user::can_verify(root) {
        return Some(Verification::NotVerified {
            why: "not root: cannot switch to the user (run with sudo to verify)".into(),
        });
    }
    None
}

/// The probes that verify a walk: every directory passed through, up to and including the first
/// failure, then the whole path; with the index of the step each directory probe checks.
fn plan(walk: &Walk) -> (Vec<Probe>, Vec<usize>) {
    let mut probes = Vec::new();
    let mut checked_steps = Vec::new();
    plan_into(walk, &mut probes, &mut checked_steps);
    let probes = probes
        .into_iter()
        .map(|(path, op)| Probe {
            path: path.to_path_buf(),
            op,
        })
        .collect();
    (probes, checked_steps)
}

/// `plan`'s probes, borrowed from the walk, appended to `probes` and `checked_steps`.
fn plan_into<'w>(walk: &'w Walk, probes: &mut Vec<(&'w Path, Op)>, checked_steps: &mut Vec<usize>) {
    for (i, s) in walk.steps.iter().enumerate() {
        if s.link_target.is_none() && s.decision.is_some() && s.needs == Access::EXEC {
            probes.push((s.path.as_path(), Op::Access(Access::EXEC)));
            checked_steps.push(i);
        }
        if !s.ok {
            break;
        }
    }
    let whole_op = if walk.want == Access::READ {
        Op::Open
    } else {
        Op::Access(walk.want)
    };
    probes.push((walk.path.as_path(), whole_op));
}

/// The kernel's answers (one per probe of `plan`) against the metadata's decisions.
fn judge(walk: &Walk, who: &Identity, checked_steps: &[usize], results: &[i32]) -> Verification {
    let mut disagreements = Vec::new();
    for (&i, &errno) in checked_steps.iter().zip(results) {
        let s = &walk.steps[i];
        if s.ok != (errno == 0) {
            disagreements.push(format!(
                "{}: the metadata says {} may{} search it, the kernel says {}",
                s.path.display(),
                who.name,
                if s.ok { "" } else { " not" },
                as_user::errno_text(errno)
            ));
        }
    }
    let errno = *results.last().expect("one probe per path");
    if let Some(expected) = walk.outcome.errno() {
        if expected != errno {
            disagreements.push(format!(
                "{}: the metadata says {}, the kernel says {} (an LSM such as SELinux/AppArmor, \
                 a mount option or an ACL entry media-doctor does not model?)",
                walk.path.display(),
                walk.outcome,
                as_user::errno_text(errno)
            ));
        }
    }
    Verification::Kernel {
        errno,
        says: as_user::errno_text(errno),
        disagreements,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_walk_from_a_kept_prefix_is_the_walk_from_the_root() {
        use std::os::unix::fs::{symlink, PermissionsExt};
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        let mk = |p: &str| std::fs::create_dir_all(d.join(p)).unwrap();
        let mode = |p: &str, m: u32| {
            std::fs::set_permissions(d.join(p), std::fs::Permissions::from_mode(m)).unwrap()
        };
        mk("etc");
        std::fs::write(
            d.join("etc/passwd"),
            "root:x:0:0::/:/bin/sh\nweb:x:5001:5001::/:/x\n",
        )
        .unwrap();
        std::fs::write(d.join("etc/group"), "root:x:0:\nweb:x:5001:\n").unwrap();
        mk("srv/www/a/media");
        mk("srv/www/b/media");
        std::fs::write(d.join("srv/www/file"), b"x").unwrap();
        std::fs::write(d.join("srv/www/a/media/x.jpg"), b"x").unwrap();
        mk("srv/closed/in/media");
        mode("srv/closed", 0o700);
        mk("srv/noread/in");
        mode("srv/noread/in", 0o711);
        symlink("www", d.join("srv/rel")).unwrap();
        symlink("/srv/www", d.join("srv/abs")).unwrap();
        symlink("../srv/www/a", d.join("srv/up")).unwrap();
        symlink("loop", d.join("srv/loop")).unwrap();
        symlink("", d.join("srv/empty")).ok();
        let paths = [
            "/srv/www/a/media",
            "/srv/www/a/media/x.jpg",
            "/srv/www/b/media",
            "/srv/www/c/media",
            "/srv/www/c/media/x.jpg",
            "/srv/www/file/media/x",
            "/srv/www/file/other",
            "/srv/closed/in/media",
            "/srv/closed/in/media/x",
            "/srv/noread/in/x",
            "/srv/noread/in",
            "/srv/rel/a/media",
            "/srv/rel/a/media/x.jpg",
            "/srv/rel/b/media",
            "/srv/abs/a/media/x.jpg",
            "/srv/abs/b/media",
            "/srv/up/media/x.jpg",
            "/srv/up/media",
            "/srv/loop/a/b",
            "/srv/loop/a/c",
            "/srv/empty/a/b",
            "/srv/www/../www/a/media",
            "/srv/www/a/../b/media",
            "/gone/a/b/c",
            "/gone/a/b/d",
            "/srv",
            "/",
        ];
        let root = SysRoot::new(d);
        let web = Identity::lookup(&root, "web").unwrap();
        for who in [&web, &Identity::root()] {
            for explain in [true, false] {
                for want in [Access::EXEC, Access::READ] {
                    let cache = WalkCache::new(&root);
                    // Twice: the second round starts every walk from a kept prefix.
                    for p in paths.iter().chain(&paths) {
                        let p = Path::new(p);
                        let kept = walk_cached(&root, &cache, p, who, want, explain);
                        let alone =
                            walk_cached(&root, &WalkCache::new(&root), p, who, want, explain);
                        assert_eq!(format!("{kept:?}"), format!("{alone:?}"), "{}", p.display());
                        if explain {
                            // And the walk with no cache at all (its components split apart).
                            let bare = walk_unverified(&root, p, who, want);
                            assert_eq!(format!("{kept:?}"), format!("{bare:?}"));
                        }
                    }
                    let lock = cache.reached.lock().unwrap();
                    let kept: usize = lock.iter().map(|r| r.map.len()).sum();
                    // srv, srv/www, srv/www/a, srv/closed ... were kept and used.
                    assert!(kept >= 8, "{kept} prefixes kept");
                    assert!(lock
                        .iter()
                        .all(|r| r.map.contains_key(OsStr::new("srv/www"))));
                    // A parent is kept the second time a walk gets there.
                    assert!(lock
                        .iter()
                        .all(|r| r.map.contains_key(OsStr::new("srv/www/a/media"))));
                }
            }
        }
    }

    #[test]
    fn shell_quote_keeps_an_empty_argument() {
        // MD405 had its own quoting, which printed an empty argument as nothing at all.
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("/srv/a b"), "'/srv/a b'");
        assert_eq!(shell_quote("http://x/a%20b"), "http://x/a%20b");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn quotes_only_when_needed() {
        assert_eq!(shell_quote("/srv/media"), "/srv/media");
        assert_eq!(shell_quote("/srv/my media"), "'/srv/my media'");
        assert_eq!(shell_quote("/srv/it's"), r"'/srv/it'\''s'");
        assert_eq!(shell_quote("/m/a\x1b\n'\\"), r"$'/m/a\x1b\x0a\'\\'");
    }
}
