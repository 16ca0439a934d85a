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
        // In a compose run the paths are in two containers: compare what they hold.
        if let Ok(c) = site.containers() {
            return Ok(super::shared::containers::root_aligned_in_containers(
                site,
                c,
                crate::container::judge::Files::Static,
            ));
        }
        root_aligned(site, Files::Static)
    }
}
