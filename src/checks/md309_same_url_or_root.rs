//! MD309 same-url-or-root: MEDIA_URL differs from STATIC_URL and MEDIA_ROOT from STATIC_ROOT.
//! The page: checks/MD309.md.

use super::shared::app::*;
use super::{Band, Check, Context, Meta, Outcome};
use crate::app::Framework;
use crate::report::Finding;

pub struct SameUrlOrRoot;

static SAME_URL_OR_ROOT: Meta = Meta {
    id: "MD309",
    name: "same-url-or-root",
    band: Band::App,
    summary: "MEDIA_URL differs from STATIC_URL and MEDIA_ROOT from STATIC_ROOT",
    docs: include_str!("../../checks/MD309.md"),
};

impl Check for SameUrlOrRoot {
    fn meta(&self) -> &'static Meta {
        &SAME_URL_OR_ROOT
    }

    fn run(&self, site: &Context<'_>) -> anyhow::Result<Outcome> {
        let app = match app_of(site) {
            Ok(a) => a,
            Err(o) => return Ok(o),
        };
        let mut findings = Vec::new();
        let (mu, su) = (app.media_url_path(), app.static_url_path());
        if let (Some(m), Some(s)) = (&mu, &su) {
            if m == s {
                let mut f = Finding::error(format!(
                    "MEDIA_URL and STATIC_URL are both {m}: uploads and assets share one URL space{}",
                    if app.framework == Framework::Django {
                        " (Django refuses to start: ImproperlyConfigured)"
                    } else {
                        ""
                    }
                ))
                .evidence("MEDIA_URL", app.media_url.describe())
                .evidence("STATIC_URL", app.static_url.describe())
                .fix("give media their own prefix, in the settings:\n    MEDIA_URL = \"/media/\"", Vec::new());
                if let Some(at) = app.media_url.at() {
                    f = f.at(at.clone());
                }
                findings.push(f);
            } else if m.starts_with(s.as_str()) || s.starts_with(m.as_str()) {
                findings.push(
                    Finding::warning(format!(
                        "MEDIA_URL {m} and STATIC_URL {s} are nested: one location shadows the other"
                    ))
                    .evidence("MEDIA_URL", app.media_url.describe())
                    .evidence("STATIC_URL", app.static_url.describe())
                    .fix("use sibling prefixes, in the settings:\n    MEDIA_URL = \"/media/\"\n    STATIC_URL = \"/static/\"", Vec::new()),
                );
            }
        }
        if let (Some(m), Some(s)) = (app.media_root.value(), app.static_root.value()) {
            if !m.as_os_str().is_empty()
                && !s.as_os_str().is_empty()
                && real(site, m) == real(site, s)
            {
                let mut f = Finding::error(format!(
                    "MEDIA_ROOT and STATIC_ROOT are the same directory ({}): collectstatic and uploads overwrite each other",
                    real(site, m).display()
                ))
                .evidence("MEDIA_ROOT", app.media_root.describe())
                .evidence("STATIC_ROOT", app.static_root.describe())
                .fix(
                    "keep them apart:",
                    vec![
                        "MEDIA_ROOT = BASE_DIR / \"media\"".into(),
                        "STATIC_ROOT = BASE_DIR / \"staticfiles\"".into(),
                    ],
                );
                if let Some(at) = app.media_root.at() {
                    f = f.at(at.clone());
                }
                findings.push(f);
            }
        }
        if findings.is_empty() {
            if mu.is_none() && su.is_none() {
                return Ok(Outcome::skip(
                    "neither MEDIA_URL nor STATIC_URL is a local URL path",
                ));
            }
            return Ok(Outcome::pass(format!(
                "media ({}) and static ({}) are kept apart",
                mu.unwrap_or_else(|| "-".into()),
                su.unwrap_or_else(|| "-".into())
            )));
        }
        Ok(Outcome::findings(findings))
    }
}
