//! MD302 media-root-aligned: MEDIA_ROOT / UPLOAD_FOLDER is the directory nginx serves for
//! MEDIA_URL.
//! The page: checks/MD302.md.

use super::shared::app::*;
use super::{Band, Check, Context, Meta, Outcome};

pub struct MediaRootAligned;

static MEDIA_ROOT_ALIGNED: Meta = Meta {
    id: "MD302",
    name: "media-root-aligned",
    band: Band::App,
    summary: "MEDIA_ROOT / UPLOAD_FOLDER is the directory nginx serves for MEDIA_URL",
    docs: include_str!("../../checks/MD302.md"),
};

impl Check for MediaRootAligned {
    fn meta(&self) -> &'static Meta {
        &MEDIA_ROOT_ALIGNED
    }
    fn run(&self, site: &Context<'_>) -> anyhow::Result<Outcome> {
        // In a compose run the paths are in two containers: compare what they hold.
        if let Ok(c) = site.containers() {
            return Ok(super::shared::containers::root_aligned_in_containers(
                site,
                c,
                crate::container::judge::Files::Media,
            ));
        }
        root_aligned(site, Files::Media)
    }
}
