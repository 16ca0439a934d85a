//! MD106 url-prefix-not-served: MEDIA_URL and STATIC_URL are served from disk by nginx, not passed
//! to the app.
//! The page: checks/MD106.md.

use super::shared::nginx::{
    config_fix, findings_or_pass, goal_in_dir, loc_of, new_location, prefix_urls,
    skip_if_incomplete, PrefixKind, RELOAD,
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
        let all = Targets::new(&r);
        let prefixes = site.prefixes();
        if prefixes.is_empty() {
            return Ok(Outcome::skip(
                "no media/static URL prefix: no app settings found (MEDIA_URL/STATIC_URL) and no location serves files from disk",
            ));
        }
        let mut findings = Vec::new();
        for p in prefixes {
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
                let res = r.resolve_on(t.server, &request(&t, &uri));
                if !res.handler.is_upstream() {
                    continue;
                }
                let loc = res.location;
                let mut f = Finding::error(format!(
                    "{} ({}) is not served from disk: {uri} goes to {} ({})",
                    p.url,
                    p.from(cfg),
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
                // The directory is the app's setting, never a placeholder.
                let (setting, root) = match (p.kind, site.app()) {
                    (PrefixKind::Media, Some(a)) => ("MEDIA_ROOT", a.media_root.value()),
                    (PrefixKind::Static, Some(a)) => ("STATIC_ROOT", a.static_root.value()),
                    (PrefixKind::Media, None) => ("MEDIA_ROOT", None),
                    (PrefixKind::Static, None) => ("STATIC_ROOT", None),
                };
                let intro = format!(
                    "the app only serves these with DEBUG=True; add a location for {} to the server block at {}",
                    p.url,
                    loc_of(cfg, t.server)
                );
                // A location for the prefix that serves from disk is there, but another (a
                // regex) takes its URLs: it is marked `^~`, not added a second time (nginx -t:
                // duplicate location).
                let base = p.url.trim_end_matches('/');
                let existing = r.locations_of(t.server).into_iter().find_map(|l| {
                    let (m, pat) = r.location_pattern(l)?;
                    let serves = r.block_info(l).is_some_and(|i| i.handler.is_none());
                    (!m.is_regex()
                        && m != crate::nginx::resolve::Modifier::Exact
                        && serves
                        && pat.trim_end_matches('/') == base)
                        .then_some((l, pat))
                });
                f = match (existing, root.filter(|d| !d.as_os_str().is_empty())) {
                    (Some((l, pat)), _) => {
                        let edit = crate::fix::BlockEdit::new(l)
                            .head(format!("location ^~ {}", crate::fix::edit::quote(&pat)));
                        let dir = r.path_in(t.server, l, &format!("{base}/"));
                        let goal = dir.and_then(|d| goal_in_dir(site, &r, t.server, p.url, &d));
                        config_fix(
                            f,
                            cfg,
                            "mark the location `^~` so regex locations do not take its URLs:",
                            edit,
                            goal,
                        )
                    }
                    (None, Some(dir)) => {
                        let edit =
                            new_location(t.server, p.url, dir, p.kind == PrefixKind::Media);
                        let goal = goal_in_dir(site, &r, t.server, p.url, dir);
                        config_fix(f, cfg, &format!("{intro}:"), edit, goal)
                    }
                    (None, None) => f.fix(
                        format!(
                            "{intro}, with `alias` naming the directory of {setting} (the app's {setting} is not known: see MD301)"
                        ),
                        vec![RELOAD.into()],
                    ),
                };
                findings.push(f);
            }
        }
        Ok(findings_or_pass(
            findings,
            format!(
                "media/static URLs ({}) are served from disk",
                prefix_urls(prefixes)
            ),
        ))
    }
}
