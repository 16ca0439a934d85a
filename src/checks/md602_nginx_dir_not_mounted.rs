//! MD602 nginx-dir-not-mounted: the nginx container mounts the app's media and static storage at all.
//! The judging is in src/container/judge.rs; the page is checks/MD602.md.

use super::shared::containers::{both, containers, nginx_dirs, outcome};
use super::{Band, Check, Context, Meta, Outcome};
use crate::container::judge::{self, Files};

/// MD602: the nginx container mounts the storage that holds the app's media and static files.
pub struct NginxDirNotMounted;

static NGINX_DIR_NOT_MOUNTED: Meta = Meta {
    id: "MD602",
    name: "nginx-dir-not-mounted",
    band: Band::Containers,
    summary: "the nginx container mounts the storage that holds the app's media and static files",
    docs: include_str!("../../checks/MD602.md"),
};

impl Check for NginxDirNotMounted {
    fn meta(&self) -> &'static Meta {
        &NGINX_DIR_NOT_MOUNTED
    }

    fn run(&self, site: &Context<'_>) -> anyhow::Result<Outcome> {
        let c = match containers(site) {
            Ok(c) => c,
            Err(o) => return Ok(o),
        };
        let v = c.view();
        let media = judge::nginx_dir_mounted(&v, Files::Media, &nginx_dirs(site, c, Files::Media));
        let stat = judge::nginx_dir_mounted(&v, Files::Static, &nginx_dirs(site, c, Files::Static));
        Ok(outcome(both(media, stat)))
    }
}
