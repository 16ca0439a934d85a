//! MD305 static-url-aligned: STATIC_URL is the prefix nginx serves the static directory under.
//! The page: checks/MD305.md.

use super::shared::app::*;
use super::{Band, Check, Context, Meta, Outcome};

pub struct StaticUrlAligned;

static STATIC_URL_ALIGNED: Meta = Meta {
    id: "MD305",
    name: "static-url-aligned",
    band: Band::App,
    summary: "STATIC_URL is the prefix nginx serves the static directory under",
    docs: include_str!("../../checks/MD305.md"),
};

impl Check for StaticUrlAligned {
    fn meta(&self) -> &'static Meta {
        &STATIC_URL_ALIGNED
    }
    fn run(&self, site: &Context<'_>) -> anyhow::Result<Outcome> {
        url_aligned(site, Files::Static)
    }
}
