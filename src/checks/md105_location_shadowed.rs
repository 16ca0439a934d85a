//! MD105 location-shadowed: media and static URLs reach the location meant for them (no regex or
//! longer prefix steals them).
//! The page: checks/MD105.md.

use super::shared::nginx::{
    config_fix, findings_or_pass, goal_for, loc_of, opened_path, prefix_urls, skip_if_incomplete,
    RELOAD,
};
use super::shared::nginx_routing::*;
use super::{Band, Check, Context, Meta, Outcome};
use crate::nginx::resolve::Modifier;
use crate::nginx::NodeId;
use crate::report::Finding;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// File names a media or static prefix serves, one per common type.
pub const SAMPLES: &[&str] = &[
    "x.jpg", "x.jpeg", "x.png", "x.gif", "x.webp", "x.svg", "x.ico", "x.css", "x.js", "x.pdf",
    "x.mp4", "x.woff2", "x.txt", "x.json",
];

/// Whether `meant` is the server's one location, a prefix (not a regex) that every URL under
/// `base` starts with: then each sample URL reaches it, as matching them one by one (fourteen
/// matches a server, most of this check on a site of many one-location servers) would find.
fn only_location(
    r: &crate::nginx::resolve::Resolver<'_>,
    server: NodeId,
    meant: NodeId,
    base: &str,
) -> bool {
    r.locations_of(server).as_slice() == [meant]
        && r.location_pattern(meant).is_some_and(|(m, pattern)| {
            matches!(m, Modifier::Prefix | Modifier::NoRegex) && base.starts_with(&pattern)
        })
}

/// A sample URL another location took: (url, the path nginx opens, the path meant).
type Stolen = (String, Option<PathBuf>, Option<PathBuf>);

pub struct LocationShadowed;

static LOCATION_SHADOWED: Meta = Meta {
    id: "MD105",
    name: "location-shadowed",
    band: Band::Nginx,
    summary: "media and static URLs reach the location meant for them (no regex or longer prefix steals them)",
    docs: include_str!("../../checks/MD105.md"),
};

impl Check for LocationShadowed {
    fn meta(&self) -> &'static Meta {
        &LOCATION_SHADOWED
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
                "no media/static URL prefix: no app settings found and no location serves files from disk",
            ));
        }
        let mut findings = Vec::new();
        for p in prefixes {
            // The URLs a page uses: files under the prefix as a directory (`location /static`
            // serves /static/x.jpg; /staticx.jpg is no file's URL, and a fix that ends the
            // location with a slash rightly stops answering it).
            let base = if p.url.ends_with('/') {
                p.url.to_string()
            } else {
                format!("{}/", p.url)
            };
            for t in targets_for(p, &all) {
                // The location meant for the prefix: the one a plain file under it reaches.
                // `concat`, not `format!`: sized once (15 URLs a server, on 360,000 servers).
                let Some(meant) = r.location_for(t.server, &[base.as_str(), "md-probe"].concat())
                else {
                    continue;
                };
                let Some(meant_info) = r.block_info(meant) else {
                    continue;
                };
                if meant_info.handler.is_some() {
                    continue; // not served from disk at all: MD106
                }
                if only_location(&r, t.server, meant, &base) {
                    continue; // nothing else to take a sample URL: none is asked
                }
                // Group the stolen samples by the location that steals them.
                let mut stolen: BTreeMap<NodeId, Vec<Stolen>> = BTreeMap::new();
                for s in SAMPLES {
                    let uri = [base.as_str(), s].concat();
                    // Matched once for the winner and the path it opens.
                    let Some(found) = r.location_match(t.server, &uri) else {
                        continue;
                    };
                    let winner = found.node;
                    if winner == meant {
                        continue;
                    }
                    let Some(w) = r.block_info(winner) else {
                        continue;
                    };
                    // A deliberate guard (`deny all`, e.g. no scripts under /media/) is not a theft.
                    if w.denies_all {
                        continue;
                    }
                    let got = r.path_of_match(t.server, &uri, found);
                    let wanted = r.path_in(t.server, meant, &uri);
                    if w.handler.is_none() && !w.internal && got == wanted {
                        continue; // same file, other headers/expiry: fine
                    }
                    stolen.entry(winner).or_default().push((uri, got, wanted));
                }
                for (winner, cases) in stolen {
                    let w = r.block_info(winner).expect("checked above");
                    let (uri, got, wanted) = &cases[0];
                    let urls: Vec<&str> = cases.iter().map(|c| c.0.as_str()).collect();
                    let res = r.predict_on(t.server, &request(&t, uri));
                    let what = match (&w.handler, w.internal) {
                        (Some((d, _)), _) => format!("passes them to {d}"),
                        (None, true) => "is internal (404)".into(),
                        (None, false) => format!(
                            "opens {} instead of {}",
                            got.as_deref().map(opened_path).unwrap_or_default(),
                            wanted.as_deref().map(opened_path).unwrap_or_default()
                        ),
                    };
                    // The winner's file:line is in the evidence ("winner") and in the fix.
                    let mut f = Finding::error(format!(
                        "{} wins for {uri} over {}: it {what}",
                        r.location_label(winner),
                        r.location_label(meant),
                    ))
                    .at(loc_of(cfg, meant))
                    .evidence("prefix", p.from(cfg))
                    .evidence(
                        "winner",
                        format!("{} at {}", r.location_label(winner), loc_of(cfg, winner)),
                    )
                    .evidence("urls", urls.join(" "))
                    .evidence(
                        "predicted status",
                        res.predicted_status
                            .map_or_else(|| "not predictable".into(), |s| s.to_string()),
                    );
                    if let Some(g) = got {
                        f = f.evidence("nginx opens", opened_path(g));
                    }
                    if let Some(wp) = wanted {
                        f = f.evidence("meant", opened_path(wp));
                    }
                    let winner_modifier = r.location_pattern(winner).map(|(m, _)| m);
                    let meant_modifier = r.location_pattern(meant).map(|(m, _)| m);
                    f = if winner_modifier.is_some_and(Modifier::is_regex)
                        && meant_modifier == Some(Modifier::Prefix)
                    {
                        let (_, name) = r
                            .location_pattern(meant)
                            .unwrap_or((Modifier::Prefix, String::new()));
                        let edit = crate::fix::BlockEdit::new(meant)
                            .head(format!("location ^~ {}", crate::fix::edit::quote(&name)));
                        let goal = crate::report::edit::Goal {
                            location: Some(name.clone()),
                            ..goal_for(site, &t, uri, None, None)
                        };
                        config_fix(
                            f,
                            cfg,
                            "mark the prefix location `^~` so regex locations do not take its URLs:",
                            edit,
                            Some(goal),
                        )
                    } else {
                        f.fix(
                            format!(
                                "the other location is more specific ({}): remove it, or give it the same root/alias as {}",
                                r.location_label(winner),
                                r.location_label(meant)
                            ),
                            vec![RELOAD.into()],
                        )
                    };
                    findings.push(f);
                }
            }
        }
        Ok(findings_or_pass(
            findings,
            format!(
                "media/static URLs ({}) reach the locations meant for them",
                prefix_urls(prefixes)
            ),
        ))
    }
}
