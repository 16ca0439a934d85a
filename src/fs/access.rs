//! The kernel's permission decision, computed from metadata: fs/namei.c `acl_permission_check`,
//! `generic_permission` and fs/posix_acl.c `posix_acl_permission`, in that order.
//!
//! - The owner gets the owner bits and nothing else: an owner with no bits is denied even when
//!   "other" may (ACLs do not matter to the owner).
//! - Otherwise, when the inode has an ACL and the group bits are non-zero, the ACL decides: named
//!   user entries, then the owning group and named groups (any matching entry granting all wanted
//!   bits, each limited by the mask; a match that grants nothing denies), then other.
//! - Otherwise a member of the owning group (primary or supplementary) gets the group bits, anyone
//!   else the other bits.
//! - Root (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH) then overrides a denial: read and write always,
//!   execute when some x bit is set, and anything on a directory.

use super::acl::{Acl, Tag};
use super::identity::Identity;
use serde::Serialize;

/// What is wanted of a file: r, w, x as the kernel's MAY_READ/MAY_WRITE/MAY_EXEC (4/2/1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Access(u8);

impl Access {
    pub const READ: Access = Access(4);
    pub const WRITE: Access = Access(2);
    pub const EXEC: Access = Access(1);
    pub const NONE: Access = Access(0);

    pub const fn union(self, other: Access) -> Access {
        Access(self.0 | other.0)
    }
    pub fn bits(self) -> u8 {
        self.0
    }
    pub fn contains(self, other: Access) -> bool {
        self.0 & other.0 == other.0
    }
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    /// The bits of `self` that `granted` does not have.
    pub fn missing_from(self, granted: u8) -> Access {
        Access(self.0 & !granted & 7)
    }
    /// What `access(2)` calls it.
    pub fn access_mode(self) -> libc::c_int {
        let mut m = 0;
        if self.contains(Access::READ) {
            m |= libc::R_OK;
        }
        if self.contains(Access::WRITE) {
            m |= libc::W_OK;
        }
        if self.contains(Access::EXEC) {
            m |= libc::X_OK;
        }
        m
    }
}

impl std::ops::BitOr for Access {
    type Output = Access;
    fn bitor(self, o: Access) -> Access {
        Access(self.0 | o.0)
    }
}

impl std::fmt::Display for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (bit, c) in [(4, 'r'), (2, 'w'), (1, 'x')] {
            if self.0 & bit != 0 {
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

impl Serialize for Access {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The inode fields a permission decision reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    /// `st_mode`: file type and permission bits.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

impl Meta {
    pub fn is_dir(&self) -> bool {
        self.mode & libc::S_IFMT == libc::S_IFDIR
    }
    pub fn is_symlink(&self) -> bool {
        self.mode & libc::S_IFMT == libc::S_IFLNK
    }
    pub fn is_file(&self) -> bool {
        self.mode & libc::S_IFMT == libc::S_IFREG
    }
    pub fn perm(&self) -> u32 {
        self.mode & 0o7777
    }
}

impl From<&libc::stat> for Meta {
    fn from(st: &libc::stat) -> Meta {
        Meta {
            mode: st.st_mode,
            uid: st.st_uid,
            gid: st.st_gid,
        }
    }
}

impl From<&std::fs::Metadata> for Meta {
    fn from(m: &std::fs::Metadata) -> Meta {
        use std::os::unix::fs::MetadataExt;
        Meta {
            mode: m.mode(),
            uid: m.uid(),
            gid: m.gid(),
        }
    }
}

/// Which rule decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "class", rename_all = "kebab-case")]
pub enum Via {
    /// The owner bits (the caller owns the file).
    Owner,
    /// A named-user ACL entry (masked).
    AclUser { uid: u32 },
    /// The group bits (the caller is in the owning group).
    Group { gid: u32 },
    /// The owning-group or a named-group ACL entry (masked); `gid` is the group that matched.
    AclGroup { gid: u32 },
    /// The other bits (from the mode, or the ACL's other entry).
    Other,
    /// Root's capability override.
    Root,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub allowed: bool,
    pub via: Via,
    /// The wanted bits the deciding rule does not grant (empty when allowed).
    pub missing: Access,
}

/// Whether the kernel would consult an ACL for this caller: it does only for a non-owner, and
/// only when the group bits (which hold the ACL mask when an ACL exists) are non-zero. When this
/// is false an ACL cannot change the answer and need not be read.
pub fn acl_consulted(meta: &Meta, who: &Identity) -> bool {
    meta.uid != who.uid && meta.mode & 0o070 != 0
}

/// The kernel's decision for `who` wanting `want` on an inode with `meta` and (when the inode has
/// one) its access ACL.
pub fn decide(meta: &Meta, acl: Option<&Acl>, who: &Identity, want: Access) -> Decision {
    let base = dac(meta, acl, who, want);
    if base.allowed || !who.is_root() {
        return base;
    }
    let overridable = meta.is_dir() || !want.contains(Access::EXEC) || meta.mode & 0o111 != 0;
    if overridable {
        Decision {
            allowed: true,
            via: Via::Root,
            missing: Access::NONE,
        }
    } else {
        Decision {
            via: Via::Root,
            ..base
        }
    }
}

fn dac(meta: &Meta, acl: Option<&Acl>, who: &Identity, want: Access) -> Decision {
    let mode = meta.mode;
    let verdict = |granted: u32, via: Via| {
        let missing = want.missing_from(granted as u8);
        Decision {
            allowed: missing.is_empty(),
            via,
            missing,
        }
    };
    if meta.uid == who.uid {
        return verdict((mode >> 6) & 7, Via::Owner);
    }
    if let Some(acl) = acl.filter(|_| mode & 0o070 != 0) {
        if let Some(d) = acl_decision(acl, meta, who, want) {
            return d;
        }
    }
    // Only look at the group when group and other differ in the wanted bits (as the kernel does:
    // the answer is the same either way, and `via` should name "other" then).
    let differs = want.bits() as u32 & (mode ^ (mode >> 3)) & 7 != 0;
    if differs && who.in_group(meta.gid) {
        return verdict((mode >> 3) & 7, Via::Group { gid: meta.gid });
    }
    verdict(mode & 7, Via::Other)
}

/// posix_acl_permission, for a caller who is not the owner. `None` when the ACL is malformed
/// (the kernel answers EIO; we then fall back to the mode bits).
fn acl_decision(acl: &Acl, meta: &Meta, who: &Identity, want: Access) -> Option<Decision> {
    let w = want.bits();
    let mask = acl.mask().unwrap_or(7);
    let masked = |perm: u8, via: Via| {
        let missing = want.missing_from(perm & mask);
        Decision {
            allowed: missing.is_empty(),
            via,
            missing,
        }
    };
    let mut matched_group: Option<(u8, u32)> = None;
    for e in &acl.entries {
        match e.tag {
            Tag::UserObj => {} // the caller is not the owner (checked before)
            Tag::User(uid) if uid == who.uid => return Some(masked(e.perm, Via::AclUser { uid })),
            Tag::User(_) => {}
            Tag::GroupObj | Tag::Group(_) => {
                let gid = match e.tag {
                    Tag::Group(g) => g,
                    _ => meta.gid,
                };
                if who.in_group(gid) {
                    if e.perm & w == w {
                        return Some(masked(e.perm, Via::AclGroup { gid }));
                    }
                    matched_group.get_or_insert((e.perm, gid));
                }
            }
            Tag::Mask => {}
            Tag::Other => {
                if let Some((perm, gid)) = matched_group {
                    // A group matched but none granted everything: denied, other is not tried.
                    return Some(Decision {
                        allowed: false,
                        via: Via::AclGroup { gid },
                        missing: want.missing_from(perm & mask),
                    });
                }
                let missing = want.missing_from(e.perm);
                return Some(Decision {
                    allowed: missing.is_empty(),
                    via: Via::Other,
                    missing,
                });
            }
        }
    }
    None
}

/// `rwx`, `r-x`, ... for 3 permission bits.
pub fn rwx(bits: u8) -> String {
    let mut s = String::with_capacity(3);
    s.push(if bits & 4 != 0 { 'r' } else { '-' });
    s.push(if bits & 2 != 0 { 'w' } else { '-' });
    s.push(if bits & 1 != 0 { 'x' } else { '-' });
    s
}

/// `ls -l`'s mode string: `drwxr-xr-x`, `-rw-------`, `lrwxrwxrwx`, with s/S/t/T.
pub fn mode_string(mode: u32) -> String {
    let kind = match mode & libc::S_IFMT {
        libc::S_IFDIR => 'd',
        libc::S_IFLNK => 'l',
        libc::S_IFCHR => 'c',
        libc::S_IFBLK => 'b',
        libc::S_IFIFO => 'p',
        libc::S_IFSOCK => 's',
        _ => '-',
    };
    let mut s = String::with_capacity(10);
    s.push(kind);
    let special = [
        (0o4000, 6, 's', 'S'),
        (0o2000, 3, 's', 'S'),
        (0o1000, 0, 't', 'T'),
    ];
    for (flag, shift, set_x, set_nox) in special {
        let bits = ((mode >> shift) & 7) as u8;
        let mut part: Vec<char> = rwx(bits).chars().collect();
        if mode & flag != 0 {
            part[2] = if bits & 1 != 0 { set_x } else { set_nox };
        }
        s.extend(part);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::acl::Entry;

    fn who(uid: u32, groups: &[u32]) -> Identity {
        Identity::new("u", uid, groups[0], groups.to_vec())
    }
    fn file(mode: u32, uid: u32, gid: u32) -> Meta {
        Meta {
            mode: libc::S_IFREG | mode,
            uid,
            gid,
        }
    }
    fn dir(mode: u32, uid: u32, gid: u32) -> Meta {
        Meta {
            mode: libc::S_IFDIR | mode,
            uid,
            gid,
        }
    }
    const R: Access = Access::READ;
    const X: Access = Access::EXEC;

    #[test]
    fn owner_bits_take_precedence() {
        let w = who(33, &[33]);
        // Owner with no bits is denied even though others may read.
        let d = decide(&file(0o044, 33, 0), None, &w, R);
        assert!(!d.allowed);
        assert_eq!(d.via, Via::Owner);
        // Group member with no group bits is denied even though others may.
        let d = decide(&file(0o604, 0, 33), None, &w, R);
        assert!(!d.allowed);
        assert_eq!(d.via, Via::Group { gid: 33 });
        assert!(decide(&file(0o604, 0, 0), None, &w, R).allowed);
        // Supplementary groups count.
        let s = who(33, &[33, 2000]);
        assert!(decide(&dir(0o710, 0, 2000), None, &s, X).allowed);
        assert!(!decide(&dir(0o710, 0, 2001), None, &s, X).allowed);
    }

    #[test]
    fn root_overrides_except_exec_without_any_x() {
        let r = Identity::root();
        assert!(decide(&file(0o000, 5, 5), None, &r, R | Access::WRITE).allowed);
        assert!(!decide(&file(0o600, 5, 5), None, &r, X).allowed);
        assert!(decide(&file(0o001, 5, 5), None, &r, X).allowed);
        assert!(decide(&dir(0o000, 5, 5), None, &r, X | Access::WRITE).allowed);
    }

    fn acl(entries: &[(Tag, u8)]) -> Acl {
        Acl {
            entries: entries
                .iter()
                .map(|&(tag, perm)| Entry { tag, perm })
                .collect(),
        }
    }

    #[test]
    fn acls_named_users_groups_and_mask() {
        let w = who(33, &[33]);
        let a = acl(&[
            (Tag::UserObj, 7),
            (Tag::User(33), 5),
            (Tag::GroupObj, 0),
            (Tag::Mask, 5),
            (Tag::Other, 0),
        ]);
        let m = dir(0o750, 1000, 1000); // group bits = mask r-x
        let d = decide(&m, Some(&a), &w, X);
        assert!(d.allowed);
        assert_eq!(d.via, Via::AclUser { uid: 33 });
        // The mask limits the named entry.
        let masked = acl(&[
            (Tag::UserObj, 7),
            (Tag::User(33), 5),
            (Tag::GroupObj, 0),
            (Tag::Mask, 4),
            (Tag::Other, 0),
        ]);
        assert!(!decide(&dir(0o740, 1000, 1000), Some(&masked), &w, X).allowed);
        // Group bits zero: the kernel never looks at the ACL.
        assert!(!decide(&dir(0o700, 1000, 1000), Some(&a), &w, X).allowed);
        // A named user entry denies even when other would allow.
        let deny = acl(&[
            (Tag::UserObj, 7),
            (Tag::User(33), 0),
            (Tag::GroupObj, 5),
            (Tag::Mask, 5),
            (Tag::Other, 5),
        ]);
        assert!(!decide(&dir(0o755, 1000, 1000), Some(&deny), &w, X).allowed);
        // A matching group that grants nothing denies; other is not tried.
        let g = acl(&[
            (Tag::UserObj, 7),
            (Tag::GroupObj, 0),
            (Tag::Group(33), 0),
            (Tag::Mask, 5),
            (Tag::Other, 5),
        ]);
        let d = decide(&dir(0o755, 1000, 1000), Some(&g), &w, X);
        assert!(!d.allowed);
        assert_eq!(d.via, Via::AclGroup { gid: 33 });
        // The owner ignores the ACL.
        let o = who(1000, &[1000]);
        assert!(decide(&dir(0o755, 1000, 1000), Some(&deny), &o, X).allowed);
    }

    #[test]
    fn mode_strings() {
        assert_eq!(mode_string(libc::S_IFDIR | 0o755), "drwxr-xr-x");
        assert_eq!(mode_string(libc::S_IFREG | 0o600), "-rw-------");
        assert_eq!(mode_string(libc::S_IFDIR | 0o1777), "drwxrwxrwt");
        assert_eq!(mode_string(libc::S_IFREG | 0o4644), "-rwSr--r--");
        assert_eq!(mode_string(libc::S_IFLNK | 0o777), "lrwxrwxrwx");
        assert_eq!(Access::READ.to_string(), "r");
        assert_eq!((Access::WRITE | Access::EXEC).to_string(), "wx");
    }
}
