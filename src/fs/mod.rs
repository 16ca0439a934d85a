//! The filesystem as the real users see it: identities (users and all their groups), the
//! kernel's access decision from metadata (mode bits, POSIX ACLs, root), the namei-style walk of a
//! path, the whole-tree scan of a served directory, and, on the live system as root, the same
//! questions asked of the kernel as the user.
//!
//! Every path here is a system path read under a `SysRoot`.

pub mod access;
pub mod acl;
pub mod as_user;
pub mod identity;
pub mod mac;
pub mod scan;
pub mod walk;

pub use access::Access;
pub use identity::{Identity, Worker, WorkerSource};
pub use walk::{walk, Outcome, Step, Walk};

/// Runs `f`, the checks of every site of a box, with what the sites share on this machine read
/// or made once for them all: the directories their roots share (`walk`), SELinux's and
/// AppArmor's state (`mac`), and a thread per user that asks the kernel as that user
/// (`as_user`) instead of a child process per site.
pub fn for_every_site<T>(f: impl FnOnce() -> T) -> T {
    walk::with_shared_ancestors(|| mac::with_state_read_once(|| as_user::with_probe_threads(f)))
}
