//! MD502 apache-media-to-app: MEDIA_URL, STATIC_URL and each Alias's URL path are served from
//! disk by Apache, not handed to the app by a `ProxyPass` (mod_proxy maps before mod_alias) or a
//! `WSGIScriptAlias` (with no Alias for the prefix). The page: checks/MD502.md.

use super::shared::apache::{
    alias_for, ask, directory_lines, first_proven, loc, model, place, served, vhost_maps, word,
    Served,
};
use super::shared::nginx::{exists, findings_or_pass, sample_file};
use super::{Band, Check, Context, Meta, Outcome};
use crate::apache::{Directive, NodeId};
use crate::fix::apache::{Goal, LineEdit, Place};
use crate::nginx::resolve::Handler;
use crate::report::Finding;
use std::path::PathBuf;

pub struct ApacheMediaToApp;

/// A prefix a mapping takes to the app: the prefix, the URL asked, the file name in it.
type Caught<'a> = (&'a Served, String, String);

static APACHE_MEDIA_TO_APP: Meta = Meta {
    id: "MD502",
    name: "apache-media-to-app",
    band: Band::Apache,
    summary: "media and static URLs are served from disk by Apache, not handed to the app (ProxyPass, WSGIScriptAlias)",
    docs: include_str!("../../checks/MD502.md"),
};

impl Check for ApacheMediaToApp {
    fn meta(&self) -> &'static Meta {
        &APACHE_MEDIA_TO_APP
    }

    fn run(&self, cx: &Context<'_>) -> anyhow::Result<Outcome> {
        let (site, r) = match model(cx) {
            Ok(m) => m,
            Err(skip) => return Ok(skip),
        };
        let cfg = r.config();
        let prefixes = served(cx, site);
        if prefixes.is_empty() {
            return Ok(Outcome::skip(
                "no MEDIA_URL/STATIC_URL (no app found: --app) and no Alias to check",
            ));
        }
        let mut findings = Vec::new();
        for (v, maps) in vhost_maps(site) {
            // The prefixes each mapping takes: one finding, one edit per mapping.
            let mut caught: Vec<(NodeId, Vec<Caught<'_>>)> = Vec::new();
            for p in &prefixes {
                let name = p
                    .dir
                    .as_ref()
                    .and_then(|d| sample_file(&cx.root, &PathBuf::from(d)))
                    .unwrap_or_else(|| "a.jpg".into());
                let uri = format!("{}{name}", p.url);
                let res = ask(r, v, &uri);
                let to_app = matches!(res.handler, Handler::Proxy)
                    || matches!(&res.handler, Handler::Module(m) if m == "wsgi");
                let Some(m) = res.mapping.filter(|_| to_app) else {
                    continue;
                };
                match caught.iter_mut().find(|(n, _)| *n == m) {
                    Some((_, list)) => list.push((p, uri, name)),
                    None => caught.push((m, vec![(p, uri, name)])),
                }
            }
            for (m, list) in caught {
                findings.push(finding(cx, v, &maps, cfg.directive(m), &list));
            }
        }
        Ok(findings_or_pass(
            findings,
            "media and static URLs are served from disk, not handed to the app",
        ))
    }
}

/// One mapping that takes `list` (prefix, URL, file name) to the app, with the edit that serves
/// them from disk.
fn finding(
    cx: &Context<'_>,
    v: NodeId,
    maps: &[Directive<'_>],
    m: Directive<'_>,
    list: &[Caught<'_>],
) -> Finding {
    let cfg = m.config();
    let urls: Vec<&str> = list.iter().map(|(_, u, _)| u.as_str()).collect();
    let mut f = Finding::error(format!(
        "{} {} handed to the app by `{} {}` at {}, not served from disk",
        urls.join(" and "),
        if urls.len() == 1 { "is" } else { "are" },
        m.name(),
        m.args().collect::<Vec<_>>().join(" "),
        place(&m)
    ))
    .at(loc(&m));
    for (p, uri, _) in list {
        f = f.evidence("url", uri).evidence("served as", &p.from);
    }
    f = f.evidence("mapping", place(&m)).evidence(
        "predicted status",
        "decided by the app (Django answers 404 with DEBUG=False)",
    );
    let proxy = m.is("ProxyPass") || m.is("ProxyPassMatch");
    if proxy && m.arg_count() < 2 {
        // A `ProxyPass URL` inside a <Location>: the exclusion goes beside the section.
        return f.fix(
            format!(
                "exclude {} from proxying (`ProxyPass URL-PATH !`) before the <Location> that \
                 holds {}",
                list.iter()
                    .map(|(p, _, _)| p.url.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                place(&m)
            ),
            Vec::new(),
        );
    }
    let mut lines = Vec::new();
    let mut grants = Vec::new();
    let mut goals = Vec::new();
    for (p, uri, name) in list {
        let Some(dir) = &p.dir else {
            return f.fix(
                format!(
                    "serve {} from disk before the app sees it: `Alias {} DIR/` with a \
                     <Directory DIR/> granting it; the directory is unknown (no app found: --app)",
                    p.url, p.url
                ),
                Vec::new(),
            );
        };
        let dir = format!("{}/", dir.trim_end_matches('/'));
        if proxy {
            lines.push(format!("ProxyPass {} !", word(&p.url)));
        }
        let has_alias = alias_for(maps, &p.url).is_some();
        if !has_alias {
            lines.push(format!("Alias {} {}", word(&p.url), word(&dir)));
        }
        grants.extend(directory_lines(&dir));
        let meant = PathBuf::from(format!("{dir}{name}"));
        let real = exists(&cx.root, &meant);
        if real {
            f = f.evidence("the file is at", format!("{} (exists)", meant.display()));
        }
        goals.push(Goal {
            request: crate::fix::apache::request_on(cfg, Some(v), uri),
            status: if real { 200 } else { 404 },
            path: Some(meant),
            prefix: p.url.clone(),
        });
    }
    let intro = if proxy {
        "exclude them from proxying before the ProxyPass (mod_proxy maps before mod_alias)"
    } else {
        "serve them from disk with an Alias (mod_alias maps before mod_wsgi)"
    };
    let edit = |extra: &[String]| {
        LineEdit::at(
            &m,
            Place::Before,
            lines.iter().chain(extra).cloned().collect(),
        )
    };
    first_proven(
        cx,
        f,
        &[
            (vec![edit(&[])], &format!("{intro}:")),
            (
                vec![edit(&grants)],
                &format!("{intro}, and grant the directories:"),
            ),
        ],
        &goals,
    )
}
