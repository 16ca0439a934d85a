//! MD601 uploads-not-on-volume: uploads are written where they survive the container being recreated.
//! The judging is in src/container/judge.rs; the page is checks/MD601.md.

use super::shared::containers::{containers, nginx_dirs, outcome};
use super::{Band, Check, Context, Meta, Outcome};
use crate::container::judge::{self, Files};

/// MD601: MEDIA_ROOT (UPLOAD_FOLDER) is on a named volume or host directory in the app's container.
pub struct UploadsNotOnVolume;

static UPLOADS_NOT_ON_VOLUME: Meta = Meta {
    id: "MD601",
    name: "uploads-not-on-volume",
    band: Band::Containers,
    summary:
        "MEDIA_ROOT (UPLOAD_FOLDER) is on a named volume or host directory in the app's container",
    docs: include_str!("../../checks/MD601.md"),
};

impl Check for UploadsNotOnVolume {
    fn meta(&self) -> &'static Meta {
        &UPLOADS_NOT_ON_VOLUME
    }

    fn run(&self, site: &Context<'_>) -> anyhow::Result<Outcome> {
        let c = match containers(site) {
            Ok(c) => c,
            Err(o) => return Ok(o),
        };
        let dirs = nginx_dirs(site, c, Files::Media);
        Ok(outcome(judge::uploads_on_volume(&c.view(), &dirs)))
    }
}
