//! MD606 volume-hides-image-files: no named volume hides (and freezes) files the image provides.
//! The judging is in src/container/judge.rs; the page is checks/MD606.md.

use super::shared::containers::{containers, outcome};
use super::{Band, Check, Context, Meta, Outcome};
use crate::container::judge;

/// MD606: no named volume is mounted over files the image provides.
pub struct VolumeHidesImageFiles;

static VOLUME_HIDES_IMAGE_FILES: Meta = Meta {
    id: "MD606",
    name: "volume-hides-image-files",
    band: Band::Containers,
    summary: "no named volume is mounted over files the image provides",
    docs: include_str!("../../checks/MD606.md"),
};

impl Check for VolumeHidesImageFiles {
    fn meta(&self) -> &'static Meta {
        &VOLUME_HIDES_IMAGE_FILES
    }

    fn run(&self, site: &Context<'_>) -> anyhow::Result<Outcome> {
        let c = match containers(site) {
            Ok(c) => c,
            Err(o) => return Ok(o),
        };
        Ok(outcome(judge::volume_over_image(&c.view(), &site.root)))
    }
}
