//! MD605 media-owner-in-image: the app's user owns the media directory in its image.
//! The judging is in src/container/judge.rs; the page is checks/MD605.md.

use super::shared::containers::{containers, outcome};
use super::{Band, Check, Context, Meta, Outcome};
use crate::container::judge;

/// MD605: the media directory belongs, in the image, to the user the app runs as.
pub struct MediaOwnerInImage;

static MEDIA_OWNER_IN_IMAGE: Meta = Meta {
    id: "MD605",
    name: "media-owner-in-image",
    band: Band::Containers,
    summary: "the media directory belongs, in the image, to the user the app runs as",
    docs: include_str!("../../checks/MD605.md"),
};

impl Check for MediaOwnerInImage {
    fn meta(&self) -> &'static Meta {
        &MEDIA_OWNER_IN_IMAGE
    }

    fn run(&self, site: &Context<'_>) -> anyhow::Result<Outcome> {
        let c = match containers(site) {
            Ok(c) => c,
            Err(o) => return Ok(o),
        };
        Ok(outcome(judge::media_owner(&c.view())))
    }
}
