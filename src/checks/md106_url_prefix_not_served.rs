//! MD106 url-prefix-not-served: MEDIA_URL and STATIC_URL are served from disk by nginx, not passed
//! to the app.
//! The page: checks/MD106.md.

use super::shared::nginx::{
    findings_or_pass, loc_of, prefix_urls, prefixes, skip_if_incomplete, PrefixKind, RELOAD,
};
use super::shared::nginx_routing::*;
use super::{Band, Check, Context, Meta, Outcome};
use crate::report::Finding;

pub struct UrlPrefixNotServed;

static URL_PREFIX_NOT_SERVED: Meta = Meta {
    id: "MD106",
    name: "url-prefix-not-served",
    band: Band::Nginx,
    summary: "MEDIA_URL and STATIC_URL are served from disk by nginx, not passed to the app",
    docs: include_str!("../../checks/MD106.md"),
};

impl Check for UrlPrefixNotServed {
    fn meta(&self) -> &'static Meta {
        &URL_PREFIX_NOT_SERVED
    }

    fn run(&self, site: &Context<'_>) -> anyhow::Result<Outcome> {
        if let Some(skip) = skip_if_incomplete(site) {
            return Ok(skip);
        }
        let r = site.resolver();
        let cfg = r.config();
        let all = r.targets();
        let prefixes = prefixes(site, &r);
        if prefixes.is_empty() {
            return Ok(Outcome::skip(
                "no media/static URL prefix: no app settings found (MEDIA_URL/STATIC_URL) and no location serves files from disk",
            ));
        }
        let mut findings = Vec::new();
        for p in &prefixes {
            for t in targets_for(p, &all) {
                let sample = match p.kind {
                    PrefixKind::Media => "x.jpg",
                    PrefixKind::Static => "x.css",
                };
                let uri = format!("{}{sample}", p.url);
                // The location that takes the prefix passes it on: a missing file that a
                // try_files fallback sends to the app is not this problem.
                let winner = r.location_for(t.server, &uri);
                let passes = winner
                    .and_then(|w| r.block_info(w))
                    .is_some_and(|i| i.handler.is_some());
                if !passes {
                    continue;
                }
                let res = r.resolve_on(t.server, &request(t, &uri));
                if !res.handler.is_upstream() {
                    continue;
                }
                let loc = res.location;
                let mut f = Finding::error(format!(
                    "{} ({}) is not served from disk: {uri} goes to {} ({})",
                    p.url,
                    p.from,
                    res.upstream.as_deref().unwrap_or("the upstream"),
                    res.handler.as_str()
                ))
                .evidence("url", &uri)
                .evidence("reason", &res.reason);
                if let Some(l) = loc {
                    f = f.at(loc_of(cfg, l)).evidence(
                        "location",
                        format!("{} at {}", r.location_label(l), loc_of(cfg, l)),
                    );
                }
                let dir = match p.kind {
                    PrefixKind::Media => "/path/to/MEDIA_ROOT/",
                    PrefixKind::Static => "/path/to/STATIC_ROOT/",
                };
                f = f.fix(
                    format!(
                        "the app only serves these with DEBUG=True; add a location for the prefix to the server block at {}:\n    location ^~ {} {{\n        alias {dir};\n    }}",
                        loc_of(cfg, t.server),
                        p.url
                    ),
                    vec![RELOAD.into()],
                );
                findings.push(f);
            }
        }
        Ok(findings_or_pass(
            findings,
            format!(
                "media/static URLs ({}) are served from disk",
                prefix_urls(&prefixes)
            ),
        ))
    }
}
