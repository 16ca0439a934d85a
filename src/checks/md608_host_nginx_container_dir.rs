//! MD608 host-nginx-container-dir: nginx on this machine serving files an app container
//! writes. The judging is in src/container/judge.rs; the page is checks/MD608.md.

use super::shared::containers::{both, containers, nginx_dirs, outcome};
use super::{Band, Check, Context, Meta, Outcome};
use crate::container::judge::{self, Files};

/// MD608: nginx outside the compose project opens the host directory the app's container
/// writes to (a bind mount's source), not a container path or a named volume.
pub struct HostNginxContainerDir;

static HOST_NGINX_CONTAINER_DIR: Meta = Meta {
    id: "MD608",
    name: "host-nginx-container-dir",
    band: Band::Containers,
    summary: "nginx on the host serves the host directory bind-mounted into the app's container",
    docs: include_str!("../../checks/MD608.md"),
};

impl Check for HostNginxContainerDir {
    fn meta(&self) -> &'static Meta {
        &HOST_NGINX_CONTAINER_DIR
    }

    fn run(&self, site: &Context<'_>) -> anyhow::Result<Outcome> {
        let c = match containers(site) {
            Ok(c) => c,
            Err(o) => return Ok(o),
        };
        let v = c.view();
        let media = judge::host_nginx_dir(
            &v,
            Files::Media,
            &nginx_dirs(site, c, Files::Media),
            &site.reload_command(),
        );
        let stat = judge::host_nginx_dir(
            &v,
            Files::Static,
            &nginx_dirs(site, c, Files::Static),
            &site.reload_command(),
        );
        Ok(outcome(both(media, stat)))
    }
}
