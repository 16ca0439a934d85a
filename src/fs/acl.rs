//! POSIX ACLs, read from the `system.posix_acl_access` extended attribute as the kernel stores
//! it (include/uapi/linux/posix_acl_xattr.h): a little-endian u32 version (2), then entries of
//! (u16 tag, u16 perm, u32 id), sorted by tag then id.

use std::ffi::CString;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

pub const ACCESS_XATTR: &str = "system.posix_acl_access";
pub const DEFAULT_XATTR: &str = "system.posix_acl_default";

const VERSION: u32 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tag {
    UserObj,
    User(u32),
    GroupObj,
    Group(u32),
    Mask,
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub tag: Tag,
    /// rwx as 4/2/1.
    pub perm: u8,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acl {
    /// In the kernel's order; the order matters to the permission algorithm.
    pub entries: Vec<Entry>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParseError {
    #[error("ACL xattr too short or not a multiple of 8 bytes ({0} bytes)")]
    Length(usize),
    #[error("ACL xattr version {0}, expected 2")]
    Version(u32),
    #[error("unknown ACL tag {0:#x}")]
    Tag(u16),
}

impl Acl {
    pub fn parse(bytes: &[u8]) -> Result<Acl, ParseError> {
        if bytes.len() < 4 || (bytes.len() - 4) % 8 != 0 {
            return Err(ParseError::Length(bytes.len()));
        }
        let version = u32::from_le_bytes(bytes[0..4].try_into().expect("4 bytes"));
        if version != VERSION {
            return Err(ParseError::Version(version));
        }
        let entries = bytes[4..]
            .chunks_exact(8)
            .map(|e| {
                let tag = u16::from_le_bytes([e[0], e[1]]);
                let perm = (u16::from_le_bytes([e[2], e[3]]) & 7) as u8;
                let id = u32::from_le_bytes([e[4], e[5], e[6], e[7]]);
                let tag = match tag {
                    0x01 => Tag::UserObj,
                    0x02 => Tag::User(id),
                    0x04 => Tag::GroupObj,
                    0x08 => Tag::Group(id),
                    0x10 => Tag::Mask,
                    0x20 => Tag::Other,
                    t => return Err(ParseError::Tag(t)),
                };
                Ok(Entry { tag, perm })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Acl { entries })
    }

    /// The encoded xattr value (used by tests to compare with setfacl's output).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = VERSION.to_le_bytes().to_vec();
        for e in &self.entries {
            let (tag, id): (u16, u32) = match e.tag {
                Tag::UserObj => (0x01, u32::MAX),
                Tag::User(id) => (0x02, id),
                Tag::GroupObj => (0x04, u32::MAX),
                Tag::Group(id) => (0x08, id),
                Tag::Mask => (0x10, u32::MAX),
                Tag::Other => (0x20, u32::MAX),
            };
            out.extend_from_slice(&tag.to_le_bytes());
            out.extend_from_slice(&(e.perm as u16).to_le_bytes());
            out.extend_from_slice(&id.to_le_bytes());
        }
        out
    }

    pub fn mask(&self) -> Option<u8> {
        self.entries
            .iter()
            .find(|e| e.tag == Tag::Mask)
            .map(|e| e.perm)
    }

    /// `getfacl`-style short form of the entries beyond the mode bits, naming ids with `names`:
    /// `user:www-data:r-x,group:media:r--,mask::r-x`.
    pub fn describe(&self, user: impl Fn(u32) -> String, group: impl Fn(u32) -> String) -> String {
        self.entries
            .iter()
            .filter_map(|e| {
                let p = super::access::rwx(e.perm);
                match e.tag {
                    Tag::User(id) => Some(format!("user:{}:{p}", user(id))),
                    Tag::Group(id) => Some(format!("group:{}:{p}", group(id))),
                    Tag::Mask => Some(format!("mask::{p}")),
                    _ => None,
                }
            })
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// What reading an ACL found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Read {
    /// No extended ACL (ENODATA), or the filesystem has none (ENOTSUP).
    None,
    Acl(Acl),
    /// The attribute exists but could not be read or parsed; the decision is then unsure.
    Failed(String),
}

impl Read {
    pub fn acl(&self) -> Option<&Acl> {
        match self {
            Read::Acl(a) => Some(a),
            _ => None,
        }
    }
}

/// Read an ACL attribute of a path without following a final symlink.
pub fn read_path(path: &Path, name: &str) -> Read {
    let Ok(cpath) = CString::new(path.as_os_str().as_bytes()) else {
        return Read::Failed("path contains a NUL byte".into());
    };
    let cname = CString::new(name).expect("static name");
    read_with(|buf, len| unsafe {
        // SAFETY: both strings are NUL-terminated and live for the call; buf has len bytes.
        libc::lgetxattr(cpath.as_ptr(), cname.as_ptr(), buf, len)
    })
}

/// Read an ACL attribute of an open file.
pub fn read_fd(fd: BorrowedFd<'_>, name: &str) -> Read {
    let cname = CString::new(name).expect("static name");
    read_with(|buf, len| unsafe {
        // SAFETY: cname is NUL-terminated; buf has len bytes.
        libc::fgetxattr(fd.as_raw_fd(), cname.as_ptr(), buf, len)
    })
}

fn read_with(get: impl Fn(*mut libc::c_void, usize) -> isize) -> Read {
    // Almost every ACL fits in 256 bytes (31 entries); grow once when it does not.
    let mut buf = vec![0u8; 256];
    loop {
        let n = get(buf.as_mut_ptr().cast(), buf.len());
        if n >= 0 {
            buf.truncate(n as usize);
            return match Acl::parse(&buf) {
                Ok(acl) => Read::Acl(acl),
                Err(e) => Read::Failed(e.to_string()),
            };
        }
        let err = std::io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::ENODATA) | Some(libc::ENOTSUP) => return Read::None,
            Some(libc::ERANGE) if buf.len() < 1 << 16 => {
                let size = get(std::ptr::null_mut(), 0);
                buf = vec![0u8; (size.max(0) as usize).max(buf.len() * 2)];
            }
            _ => return Read::Failed(err.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_encodes() {
        let acl = Acl {
            entries: vec![
                Entry {
                    tag: Tag::UserObj,
                    perm: 7,
                },
                Entry {
                    tag: Tag::User(33),
                    perm: 5,
                },
                Entry {
                    tag: Tag::GroupObj,
                    perm: 0,
                },
                Entry {
                    tag: Tag::Mask,
                    perm: 5,
                },
                Entry {
                    tag: Tag::Other,
                    perm: 0,
                },
            ],
        };
        assert_eq!(Acl::parse(&acl.encode()).unwrap(), acl);
        assert_eq!(acl.mask(), Some(5));
        assert_eq!(
            acl.describe(|u| format!("u{u}"), |g| format!("g{g}")),
            "user:u33:r-x,mask::r-x"
        );
        assert_eq!(Acl::parse(&[2, 0, 0]), Err(ParseError::Length(3)));
        assert_eq!(Acl::parse(&[1, 0, 0, 0]), Err(ParseError::Version(1)));
        let mut bad = acl.encode();
        bad[4] = 0x40;
        assert_eq!(Acl::parse(&bad), Err(ParseError::Tag(0x40)));
    }
}
