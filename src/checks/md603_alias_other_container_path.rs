//! MD603 alias-other-container-path: nginx names the path where its own container has the files.
//! The judging is in src/container/judge.rs; the page is checks/MD603.md.

use super::shared::containers::{both, containers, nginx_dirs, outcome};
use super::{Band, Check, Context, Meta, Outcome};
use crate::container::judge::{self, Files};

/// MD603: nginx's alias/root names the path where the nginx container sees the app's files.
pub struct AliasOtherContainerPath;

static ALIAS_OTHER_CONTAINER_PATH: Meta = Meta {
    id: "MD603",
    name: "alias-other-container-path",
    band: Band::Containers,
    summary: "nginx's alias/root names the path where the nginx container sees the app's files",
    docs: include_str!("../../checks/MD603.md"),
};

impl Check for AliasOtherContainerPath {
    fn meta(&self) -> &'static Meta {
        &ALIAS_OTHER_CONTAINER_PATH
    }

    fn run(&self, site: &Context<'_>) -> anyhow::Result<Outcome> {
        let c = match containers(site) {
            Ok(c) => c,
            Err(o) => return Ok(o),
        };
        let v = c.view();
        let media = judge::alias_own_path(&v, Files::Media, &nginx_dirs(site, c, Files::Media));
        let stat = judge::alias_own_path(&v, Files::Static, &nginx_dirs(site, c, Files::Static));
        Ok(outcome(both(media, stat)))
    }
}
