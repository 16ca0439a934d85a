//! MD604 static-root-off-volume: collectstatic writes onto the storage nginx serves static files from.
//! The judging is in src/container/judge.rs; the page is checks/MD604.md.

use super::shared::containers::{containers, nginx_dirs, outcome};
use super::{Band, Check, Context, Meta, Outcome};
use crate::container::judge::{self, Files};

/// MD604: STATIC_ROOT is on the storage nginx serves STATIC_URL from.
pub struct StaticRootOffVolume;

static STATIC_ROOT_OFF_VOLUME: Meta = Meta {
    id: "MD604",
    name: "static-root-off-volume",
    band: Band::Containers,
    summary: "STATIC_ROOT is on the storage nginx serves STATIC_URL from",
    docs: include_str!("../../checks/MD604.md"),
};

impl Check for StaticRootOffVolume {
    fn meta(&self) -> &'static Meta {
        &STATIC_ROOT_OFF_VOLUME
    }

    fn run(&self, site: &Context<'_>) -> anyhow::Result<Outcome> {
        let c = match containers(site) {
            Ok(c) => c,
            Err(o) => return Ok(o),
        };
        let dirs = nginx_dirs(site, c, Files::Static);
        Ok(outcome(judge::static_root_on_volume(&c.view(), &dirs)))
    }
}
