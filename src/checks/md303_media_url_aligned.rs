//! MD303 media-url-aligned: MEDIA_URL is the prefix nginx serves the media directory under, with
//! the slashes Django needs.
//! The page: checks/MD303.md.

use super::shared::app::*;
use super::{Band, Check, Context, Meta, Outcome};

pub struct MediaUrlAligned;

static MEDIA_URL_ALIGNED: Meta = Meta {
    id: "MD303",
    name: "media-url-aligned",
    band: Band::App,
    summary: "MEDIA_URL is the prefix nginx serves the media directory under, with the slashes Django needs",
    docs: include_str!("../../checks/MD303.md"),
};

impl Check for MediaUrlAligned {
    fn meta(&self) -> &'static Meta {
        &MEDIA_URL_ALIGNED
    }
    fn run(&self, site: &Context<'_>) -> anyhow::Result<Outcome> {
        url_aligned(site, Files::Media)
    }
}
