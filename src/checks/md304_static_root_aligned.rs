//! MD304 static-root-aligned: STATIC_ROOT is the directory nginx serves for STATIC_URL.
//! The page: checks/MD304.md.

use super::shared::app::*;
use super::{Band, Check, Context, Meta, Outcome};

pub struct StaticRootAligned;

static STATIC_ROOT_ALIGNED: Meta = Meta {
    id: "MD304",
    name: "static-root-aligned",
    band: Band::App,
    summary: "STATIC_ROOT is the directory nginx serves for STATIC_URL",
    docs: include_str!("../../checks/MD304.md"),
};

impl Check for StaticRootAligned {
    fn meta(&self) -> &'static Meta {
        &STATIC_ROOT_ALIGNED
    }
    fn run(&self, site: &Context<'_>) -> anyhow::Result<Outcome> {
        root_aligned(site, Files::Static)
    }
}
