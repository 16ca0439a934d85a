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
