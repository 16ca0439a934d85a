//! MD607 bind-mount-access: a bind-mounted host directory gives the container's uid what it
//! needs. The judging is in src/container/judge.rs; the page is checks/MD607.md.

use super::shared::containers::{containers, nginx_dirs, outcome};
use super::{Band, Check, Context, Meta, Outcome};
use crate::container::judge::{self, Files};

/// MD607: the app's user can write, and nginx's can read, the host directories bind-mounted
/// into their containers.
pub struct BindMountAccess;

static BIND_MOUNT_ACCESS: Meta = Meta {
    id: "MD607",
    name: "bind-mount-access",
    band: Band::Containers,
    summary: "the container's uid can write (app) or read (nginx) the bind-mounted host directory",
    docs: include_str!("../../checks/MD607.md"),
};

impl Check for BindMountAccess {
    fn meta(&self) -> &'static Meta {
        &BIND_MOUNT_ACCESS
    }

    fn run(&self, site: &Context<'_>) -> anyhow::Result<Outcome> {
        let c = match containers(site) {
            Ok(c) => c,
            Err(o) => return Ok(o),
        };
        let mut served = nginx_dirs(site, c, Files::Media);
        served.extend(nginx_dirs(site, c, Files::Static));
        Ok(outcome(judge::bind_mount_access(
            &c.view(),
            &site.root,
            &served,
        )))
    }
}
