//! MD209 media-static-overlap: MEDIA_ROOT and STATIC_ROOT are separate directories, neither inside
//! the other.
//! The page: checks/MD209.md.

use super::shared::fs::*;
use super::{Band, Check, Context, Meta, Outcome};
use crate::fs::walk::walk_unverified;
use crate::fs::{Access, Identity};
use crate::report::Finding;
use std::path::Path;

/// MD209: MEDIA_ROOT and STATIC_ROOT are separate trees.
pub struct MediaStaticOverlap;

static MEDIA_STATIC_OVERLAP: Meta = Meta {
    id: "MD209",
    name: "media-static-overlap",
    band: Band::Filesystem,
    summary: "MEDIA_ROOT and STATIC_ROOT are separate directories, neither inside the other",
    docs: include_str!("../../checks/MD209.md"),
};

impl Check for MediaStaticOverlap {
    fn meta(&self) -> &'static Meta {
        &MEDIA_STATIC_OVERLAP
    }

    fn run(&self, site: &Context<'_>) -> anyhow::Result<Outcome> {
        let app = match app(site) {
            Ok(a) => a,
            Err(o) => return Ok(o),
        };
        let (Some(media), Some(stat)) = (
            setting_path(&app.media_root),
            setting_path(&app.static_root),
        ) else {
            return Ok(Outcome::skip("MEDIA_ROOT or STATIC_ROOT is not known"));
        };
        // Compare where they really are: symlinks resolved inside the root.
        let real = |p: &Path| {
            walk_unverified(&site.root, p, &Identity::root(), Access::NONE)
                .resolved
                .unwrap_or_else(|| p.components().collect())
        };
        let (rm, rs) = (real(media), real(stat));
        let at = setting_at(&app.media_root).or_else(|| setting_at(&app.static_root));
        let relation = if rm == rs {
            Some("are the same directory".to_string())
        } else if rm.starts_with(&rs) {
            Some("MEDIA_ROOT is inside STATIC_ROOT".to_string())
        } else if rs.starts_with(&rm) {
            Some("STATIC_ROOT is inside MEDIA_ROOT".to_string())
        } else {
            None
        };
        let Some(relation) = relation else {
            return Ok(Outcome::pass(format!(
                "MEDIA_ROOT {} and STATIC_ROOT {} are separate",
                rm.display(),
                rs.display()
            )));
        };
        let mut f = Finding::error(format!(
            "MEDIA_ROOT {} and STATIC_ROOT {} {relation}: collectstatic can overwrite or delete \
             uploads, and an upload can replace a site asset",
            media.display(),
            stat.display()
        ))
        .evidence("MEDIA_ROOT", rm.display())
        .evidence("STATIC_ROOT", rs.display());
        if let Some(at) = at {
            f = f.at(at);
        }
        let base = rm.parent().unwrap_or(Path::new("/"));
        Ok(Outcome::findings(vec![f.fix(
            format!(
                "give each its own directory, side by side, in the settings:\n\
                 MEDIA_ROOT = {:?}\nSTATIC_ROOT = {:?}\nthen move the uploads there and collect again",
                base.join("media").display().to_string(),
                base.join("static").display().to_string()
            ),
            Vec::new(),
        )]))
    }
}
