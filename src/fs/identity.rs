//! Who is asking: users and all their groups, as the system under examination defines them.
//!
//! Under `--root` the users are read from the root's etc/passwd and etc/group (never from this
//! machine: uid 33 is not www-data everywhere). On the live system they come from NSS (nix), which
//! also sees LDAP/sssd users that /etc/passwd does not list.
//!
//! The nginx worker's identity follows nginx exactly (core/nginx.c `ngx_set_user`, and the worker's
//! `setgid(group); initgroups(user, group); setuid(user)`): the group is the one named in the
//! `user` directive, else the group with the user's name; the supplementary groups are those that
//! list the user as a member. The passwd primary group is *not* added unless it is that group.

use crate::report::Location;
use crate::sysroot::SysRoot;
use anyhow::{anyhow, bail, Result};
use serde::Serialize;
use std::collections::BTreeSet;

/// A user and every group it has (primary included), as the kernel sees the process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Identity {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    /// All group ids, `gid` included, sorted, no duplicates.
    pub groups: Vec<u32>,
}

impl Identity {
    /// A user as a login would get it: passwd primary group plus every group listing the user.
    pub fn lookup(root: &SysRoot, user: &str) -> Result<Identity> {
        let db = UserDb::load(root);
        let (uid, gid) = db.user(user).ok_or_else(|| no_such_user(root, user))?;
        Ok(Identity::new(user, uid, gid, db.memberships(user)))
    }

    /// A user switched to an explicit group, as nginx's worker is: `setgid(group)` then
    /// `initgroups(user, group)`.
    pub fn with_group(root: &SysRoot, user: &str, group: &str) -> Result<Identity> {
        let db = UserDb::load(root);
        let (uid, _) = db.user(user).ok_or_else(|| no_such_user(root, user))?;
        let gid = db.group_gid(group).ok_or_else(|| {
            anyhow!(
                "no group {group:?} in {}",
                where_users_come_from(root, "group")
            )
        })?;
        Ok(Identity::new(user, uid, gid, db.memberships(user)))
    }

    /// The superuser, for probes that ask what exists rather than who may see it.
    pub fn root() -> Identity {
        Identity::new("root", 0, 0, Vec::new())
    }

    pub fn new(name: &str, uid: u32, gid: u32, supplementary: Vec<u32>) -> Identity {
        let groups: BTreeSet<u32> = supplementary.into_iter().chain([gid]).collect();
        Identity {
            name: name.to_string(),
            uid,
            gid,
            groups: groups.into_iter().collect(),
        }
    }

    pub fn is_root(&self) -> bool {
        self.uid == 0
    }

    pub fn in_group(&self, gid: u32) -> bool {
        self.groups.binary_search(&gid).is_ok()
    }
}

fn no_such_user(root: &SysRoot, user: &str) -> anyhow::Error {
    anyhow!(
        "no user {user:?} in {}",
        where_users_come_from(root, "passwd")
    )
}

fn where_users_come_from(root: &SysRoot, file: &str) -> String {
    if root.is_live() {
        format!("the system's user database (/etc/{file}, NSS)")
    } else {
        format!("/etc/{file} under --root {}", root.dir().display())
    }
}

/// The user and group database of a root: names for ids (for `namei -l`-style output) and ids
/// for names.
#[derive(Debug, Default)]
pub struct UserDb {
    /// On the live system, NSS answers (nix); the parsed files are unused.
    live: bool,
    users: Vec<PasswdEntry>,
    groups: Vec<GroupEntry>,
}

/// Names already asked of NSS on the live system (a walk asks for every component, and each
/// NSS call re-reads /etc/passwd): (is a user, uid/gid) → name. One per process: every resolver
/// has its own `UserDb`, and a check of every site makes thousands.
static LIVE_NAMES: std::sync::OnceLock<
    std::sync::Mutex<std::collections::HashMap<(bool, u32), String>>,
> = std::sync::OnceLock::new();

#[derive(Debug, Clone)]
struct PasswdEntry {
    name: String,
    uid: u32,
    gid: u32,
}

#[derive(Debug, Clone)]
struct GroupEntry {
    name: String,
    gid: u32,
    members: Vec<String>,
}

impl UserDb {
    /// Reads etc/passwd and etc/group under the root (missing files give an empty database:
    /// ids are then shown as numbers).
    pub fn load(root: &SysRoot) -> UserDb {
        if root.is_live() {
            return UserDb {
                live: true,
                ..Default::default()
            };
        }
        let read = |f: &str| {
            crate::input::read(&root.host_path(std::path::Path::new(f)))
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default()
        };
        UserDb {
            live: false,
            users: parse_passwd(&read("/etc/passwd")),
            groups: parse_group(&read("/etc/group")),
        }
    }

    /// (uid, primary gid) for a user name; a number is taken as a uid, as `chown` does.
    pub fn user(&self, name: &str) -> Option<(u32, u32)> {
        if self.live {
            use nix::unistd::{Uid, User};
            let found = User::from_name(name).ok().flatten().or_else(|| {
                let uid = name.parse().ok()?;
                User::from_uid(Uid::from_raw(uid)).ok().flatten()
            });
            return found.map(|u| (u.uid.as_raw(), u.gid.as_raw()));
        }
        self.users
            .iter()
            .find(|u| u.name == name)
            .or_else(|| {
                let uid: u32 = name.parse().ok()?;
                self.users.iter().find(|u| u.uid == uid)
            })
            .map(|u| (u.uid, u.gid))
    }

    pub fn group_gid(&self, name: &str) -> Option<u32> {
        if self.live {
            use nix::unistd::{Gid, Group};
            let found = Group::from_name(name).ok().flatten().or_else(|| {
                let gid = name.parse().ok()?;
                Group::from_gid(Gid::from_raw(gid)).ok().flatten()
            });
            return found.map(|g| g.gid.as_raw());
        }
        self.groups
            .iter()
            .find(|g| g.name == name)
            .map(|g| g.gid)
            .or_else(|| {
                let gid: u32 = name.parse().ok()?;
                self.groups.iter().any(|g| g.gid == gid).then_some(gid)
            })
    }

    /// The groups that list `user` as a member (what `initgroups` adds).
    pub fn memberships(&self, user: &str) -> Vec<u32> {
        if self.live {
            // getgrouplist needs a base group; pass the primary one and keep what NSS adds.
            let Some((_, gid)) = self.user(user) else {
                return Vec::new();
            };
            let Ok(cname) = std::ffi::CString::new(user) else {
                return Vec::new();
            };
            return nix::unistd::getgrouplist(&cname, nix::unistd::Gid::from_raw(gid))
                .map(|gs| {
                    gs.into_iter()
                        .map(|g| g.as_raw())
                        .filter(|&g| g != gid || self.lists_member_live(g, user))
                        .collect()
                })
                .unwrap_or_default();
        }
        self.groups
            .iter()
            .filter(|g| g.members.iter().any(|m| m == user))
            .map(|g| g.gid)
            .collect()
    }

    fn lists_member_live(&self, gid: u32, user: &str) -> bool {
        nix::unistd::Group::from_gid(nix::unistd::Gid::from_raw(gid))
            .ok()
            .flatten()
            .is_some_and(|g| g.mem.iter().any(|m| m == user))
    }

    pub fn has_group(&self, name: &str) -> bool {
        self.group_gid(name).is_some()
    }

    /// The user name for a uid, or the number when the root does not name it.
    pub fn user_name(&self, uid: u32) -> String {
        if self.live {
            return self.cached((true, uid), || {
                nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
                    .ok()
                    .flatten()
                    .map(|u| u.name)
            });
        }
        self.users
            .iter()
            .find(|u| u.uid == uid)
            .map_or_else(|| uid.to_string(), |u| u.name.clone())
    }

    pub fn group_name(&self, gid: u32) -> String {
        if self.live {
            return self.cached((false, gid), || {
                nix::unistd::Group::from_gid(nix::unistd::Gid::from_raw(gid))
                    .ok()
                    .flatten()
                    .map(|g| g.name)
            });
        }
        self.groups
            .iter()
            .find(|g| g.gid == gid)
            .map_or_else(|| gid.to_string(), |g| g.name.clone())
    }

    /// A live-system name, asked of NSS once per id.
    fn cached(&self, key: (bool, u32), ask: impl FnOnce() -> Option<String>) -> String {
        let mut names = LIVE_NAMES
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        names
            .entry(key)
            .or_insert_with(|| ask().unwrap_or_else(|| key.1.to_string()))
            .clone()
    }
}

/// `name:passwd:uid:gid:gecos:home:shell`; comments, blank and malformed lines (and NIS `+`
/// entries) are skipped.
fn parse_passwd(text: &str) -> Vec<PasswdEntry> {
    text.lines()
        .filter_map(|line| {
            let mut f = line.split(':');
            let name = f.next()?.trim();
            if name.is_empty() || name.starts_with('#') || name.starts_with(['+', '-']) {
                return None;
            }
            let _password = f.next()?;
            let uid = f.next()?.trim().parse().ok()?;
            let gid = f.next()?.trim().parse().ok()?;
            Some(PasswdEntry {
                name: name.to_string(),
                uid,
                gid,
            })
        })
        .collect()
}

/// `name:passwd:gid:member,member`.
fn parse_group(text: &str) -> Vec<GroupEntry> {
    text.lines()
        .filter_map(|line| {
            let mut f = line.split(':');
            let name = f.next()?.trim();
            if name.is_empty() || name.starts_with('#') || name.starts_with(['+', '-']) {
                return None;
            }
            let _password = f.next()?;
            let gid = f.next()?.trim().parse().ok()?;
            let members = f
                .next()
                .unwrap_or("")
                .split(',')
                .map(str::trim)
                .filter(|m| !m.is_empty())
                .map(String::from)
                .collect();
            Some(GroupEntry {
                name: name.to_string(),
                gid,
                members,
            })
        })
        .collect()
}

/// Where the worker user came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum WorkerSource {
    /// The `user` directive of the main context.
    Directive { at: Location },
    /// No `user` directive: nginx's compiled-in default.
    CompiledDefault,
    /// `--as-user`.
    AsUser,
}

impl std::fmt::Display for WorkerSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WorkerSource::Directive { at } => write!(f, "`user` directive at {at}"),
            WorkerSource::CompiledDefault => {
                f.write_str("nginx's compiled-in default (no `user` directive)")
            }
            WorkerSource::AsUser => f.write_str("--as-user"),
        }
    }
}

/// The nginx worker process's user: what the config (or `--as-user`) names, and the resolved
/// identity, or why it could not be resolved.
#[derive(Debug, Clone, Serialize)]
pub struct Worker {
    pub user: String,
    pub group: Option<String>,
    pub source: WorkerSource,
    /// `Err` holds why the user is unknown (no such user in the root's etc/passwd, ...).
    #[serde(serialize_with = "ser_identity")]
    pub identity: std::result::Result<Identity, String>,
    /// Something the reader should know about how the user was chosen (e.g. the config is a
    /// fragment, so the main config's `user` is not visible).
    pub note: Option<String>,
}

fn ser_identity<S: serde::Serializer>(
    id: &std::result::Result<Identity, String>,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut m = s.serialize_map(None)?;
    match id {
        Ok(i) => {
            m.serialize_entry("uid", &i.uid)?;
            m.serialize_entry("gid", &i.gid)?;
            m.serialize_entry("groups", &i.groups)?;
        }
        Err(why) => m.serialize_entry("error", why)?,
    }
    m.end()
}

/// What the loaded nginx config says about its worker user.
#[derive(Debug, Clone, Default)]
pub struct UserDirective {
    /// The main context's `user USER [GROUP];`, when present.
    pub user: Option<NamedUser>,
    /// The config is a fragment (a site file): its main nginx.conf's `user` is not visible.
    pub fragment: bool,
}

/// `user USER [GROUP];` and where it is written.
#[derive(Debug, Clone)]
pub struct NamedUser {
    pub user: String,
    pub group: Option<String>,
    pub at: crate::report::Location,
}

impl Worker {
    /// nginx's worker user for this config: `--as-user` (USER or USER:GROUP), else the main
    /// context's `user USER [GROUP];`, else the compiled default `nobody` (group `nobody` when the
    /// root has one, else `nogroup`: nginx's configure makes the same choice).
    /// `config` is what the loaded nginx config says (its `user` directive, whether it is a
    /// whole nginx.conf): read by the caller, so this module knows nothing of nginx's syntax.
    pub fn resolve(root: &SysRoot, config: &UserDirective, as_user: Option<&str>) -> Worker {
        if let Some(spec) = as_user {
            let (user, group) = match spec.split_once(':') {
                Some((u, g)) => (u.to_string(), Some(g.to_string())),
                None => (spec.to_string(), None),
            };
            let identity = match &group {
                Some(g) => Identity::with_group(root, &user, g),
                None => Identity::lookup(root, &user),
            }
            .map_err(|e| format!("{e:#}"));
            return Worker {
                user,
                group,
                source: WorkerSource::AsUser,
                identity,
                note: None,
            };
        }
        if let Some(d) = &config.user {
            let user = d.user.clone();
            // nginx: "If group is omitted, a group whose name equals that of user is used."
            let group = d.group.clone().unwrap_or_else(|| user.clone());
            let identity = Identity::with_group(root, &user, &group).map_err(|e| format!("{e:#}"));
            return Worker {
                user,
                group: Some(group),
                source: WorkerSource::Directive { at: d.at.clone() },
                identity,
                note: Some(
                    "nginx applies `user` only when its master runs as root; otherwise the \
                     workers keep the master's user"
                        .into(),
                ),
            };
        }
        let db = UserDb::load(root);
        let group = if db.has_group("nobody") {
            "nobody"
        } else {
            "nogroup"
        };
        let identity = Identity::with_group(root, "nobody", group).map_err(|e| format!("{e:#}"));
        let note = match config.fragment {
            false => None,
            true => Some(
                "the config loaded is a fragment: the `user` of its main nginx.conf is not \
                 visible (Debian's says www-data); pass --as-user to set it"
                    .into(),
            ),
        };
        Worker {
            user: "nobody".into(),
            group: Some(group.into()),
            source: WorkerSource::CompiledDefault,
            identity,
            note,
        }
    }

    /// The identity, or the reason it is unknown, phrased for a skip.
    pub fn identity(&self) -> std::result::Result<&Identity, String> {
        self.identity
            .as_ref()
            .map_err(|why| format!("the nginx worker user is unknown: {why}"))
    }
}

/// A user named by the app side (systemd unit `User=`/`Group=`, the profile): a login-style
/// lookup, switched to `group` when one is named (systemd's `Group=`).
pub fn app_identity(root: &SysRoot, user: &str, group: Option<&str>) -> Result<Identity> {
    match group {
        Some(g) => {
            // systemd: Group= sets the primary group; supplementary groups come from the user.
            let db = UserDb::load(root);
            let (uid, _) = db.user(user).ok_or_else(|| no_such_user(root, user))?;
            let Some(gid) = db.group_gid(g) else {
                bail!("no group {g:?} in {}", where_users_come_from(root, "group"));
            };
            Ok(Identity::new(user, uid, gid, db.memberships(user)))
        }
        None => Identity::lookup(root, user),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> (tempfile::TempDir, SysRoot) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("etc")).unwrap();
        std::fs::write(
            dir.path().join("etc/passwd"),
            "# comment\nroot:x:0:0:root:/root:/bin/sh\nwww-data:x:33:33::/var/www:/usr/sbin/nologin\n\
             deploy:x:1000:1000::/home/deploy:/bin/bash\nbroken:line\nnobody:x:65534:65534::/:/bin/false\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("etc/group"),
            "root:x:0:\nwww-data:x:33:\ndeploy:x:1000:www-data\nmedia:x:2000:deploy, www-data\nnogroup:x:65534:\n",
        )
        .unwrap();
        let root = SysRoot::new(dir.path());
        (dir, root)
    }

    #[test]
    fn looks_users_up_in_the_roots_files() {
        let (_d, root) = fixture();
        let w = Identity::lookup(&root, "www-data").unwrap();
        assert_eq!((w.uid, w.gid), (33, 33));
        assert_eq!(w.groups, vec![33, 1000, 2000]);
        assert!(w.in_group(2000) && !w.in_group(0));
        let by_uid = Identity::lookup(&root, "1000").unwrap();
        assert_eq!(by_uid.uid, 1000);
        let err = Identity::lookup(&root, "nginx").unwrap_err().to_string();
        assert!(err.contains("no user \"nginx\""), "{err}");
        let db = UserDb::load(&root);
        assert_eq!(db.user_name(1000), "deploy");
        assert_eq!(db.group_name(2000), "media");
        assert_eq!(db.user_name(4242), "4242");
    }

    #[test]
    fn nginx_worker_group_replaces_the_primary_group() {
        let (_d, root) = fixture();
        let w = Identity::with_group(&root, "deploy", "www-data").unwrap();
        assert_eq!(w.gid, 33);
        // deploy's passwd group 1000 lists no members: initgroups does not add it.
        assert_eq!(w.groups, vec![33, 2000]);
    }

    #[test]
    fn worker_defaults_to_nobody_nogroup() {
        let (_d, root) = fixture();
        let w = Worker::resolve(&root, &UserDirective::default(), None);
        assert_eq!(w.source, WorkerSource::CompiledDefault);
        assert_eq!(w.group.as_deref(), Some("nogroup"));
        let id = w.identity().unwrap();
        assert_eq!((id.uid, id.gid), (65534, 65534));
        let o = Worker::resolve(&root, &UserDirective::default(), Some("deploy:media"));
        assert_eq!(o.source, WorkerSource::AsUser);
        assert_eq!(o.identity().unwrap().gid, 2000);
        let bad = Worker::resolve(&root, &UserDirective::default(), Some("ghost"));
        assert!(bad.identity().unwrap_err().contains("no user \"ghost\""));
    }
}
