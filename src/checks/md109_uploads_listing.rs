//! MD109 uploads-listing: the uploads (media) location does not list its directories (autoindex
//! off).
//! The page: checks/MD109.md.

use super::shared::nginx::{config_fix, loc_of, skip_if_incomplete};
use super::shared::nginx_uploads::*;
use super::{Band, Check, Context, Meta, Outcome};
use crate::nginx::resolve::Request;
use crate::report::Finding;

pub struct UploadsListing;

static UPLOADS_LISTING: Meta = Meta {
    id: "MD109",
    name: "uploads-listing",
    band: Band::Nginx,
    summary: "the uploads (media) location does not list its directories (autoindex off)",
    docs: include_str!("../../checks/MD109.md"),
};

impl Check for UploadsListing {
    fn meta(&self) -> &'static Meta {
        &UPLOADS_LISTING
    }

    fn run(&self, site: &Context<'_>) -> anyhow::Result<Outcome> {
        if let Some(skip) = skip_if_incomplete(site) {
            return Ok(skip);
        }
        let r = site.resolver();
        let cfg = r.config();
        let ps = media(site);
        if ps.clone().next().is_none() {
            return Ok(Outcome::skip("no media (uploads) URL prefix found"));
        }
        let all = Targets::new(&r);
        let mut findings = Vec::new();
        for (p, t) in pairs(ps, &all) {
            let Some(loc) = r.location_for(t.server, p.url) else {
                continue;
            };
            let Some(info) = r.block_info(loc) else {
                continue;
            };
            if !info.autoindex {
                continue;
            }
            let res = r.predict_on(t.server, &Request::for_path(t.host, t.port, p.url));
            let status = res
                .predicted_status
                .map_or_else(|| "not predictable".into(), |s| s.to_string());
            // A listing that fails today (a broken alias: 404) starts working with the fix of
            // that other mistake, so the finding stands, but says so instead of "anyone can".
            let consequence = match res.predicted_status {
                Some(200) | None => "anyone can list the uploads".to_string(),
                Some(s) => format!(
                    "it answers {s} now, but lists the uploads once the location serves \
                     the directory"
                ),
            };
            let mut f = Finding::error(format!("autoindex is on for {}: {consequence}", p.url))
                .at(loc_of(cfg, loc))
                .evidence("location", r.location_label(loc))
                .evidence("url", p.url)
                .evidence("handler", res.handler.as_str())
                .evidence("predicted status", status);
            if let Some(path) = &res.path {
                f = f.evidence("lists", path.display());
            }
            let own = cfg
                .directive(loc)
                .children()
                .find(|d| d.is("autoindex"))
                .map(|d| d.id());
            let edit = match own {
                Some(d) => crate::fix::BlockEdit::new(loc).replace(d, "autoindex off;"),
                // Inherited from the server or http level: say it here.
                None => crate::fix::BlockEdit::new(loc).append("autoindex off;"),
            };
            findings.push(config_fix(f, cfg, "turn the listing off:", edit, None));
        }
        Ok(if findings.is_empty() {
            Outcome::pass("no uploads location lists its directories")
        } else {
            Outcome::findings(findings)
        })
    }
}
