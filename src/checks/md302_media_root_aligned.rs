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
        root_aligned(site, Files::Media)
    }
}
