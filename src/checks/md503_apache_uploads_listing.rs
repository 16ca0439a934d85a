//! MD503 apache-uploads-listing: the uploads directory (MEDIA_URL, or an Alias named like
//! media/uploads) is not listed by mod_autoindex (`Options Indexes`). The page: checks/MD503.md.

use super::shared::apache::{ask, first_proven, loc, model, place, uploads, vhost_maps};
use super::shared::nginx::findings_or_pass;
use super::{Band, Check, Context, Meta, Outcome};
use crate::apache::{Config, Directive, NodeId};
use crate::fix::apache::{Goal, LineEdit, OptionsRewrite};
use crate::nginx::resolve::Handler;
use crate::report::Finding;

pub struct ApacheUploadsListing;

static APACHE_UPLOADS_LISTING: Meta = Meta {
    id: "MD503",
    name: "apache-uploads-listing",
    band: Band::Apache,
    summary: "Apache does not list the uploads directory (no `Options Indexes` on it)",
    docs: include_str!("../../checks/MD503.md"),
};

impl Check for ApacheUploadsListing {
    fn meta(&self) -> &'static Meta {
        &APACHE_UPLOADS_LISTING
    }

    fn run(&self, cx: &Context<'_>) -> anyhow::Result<Outcome> {
        let (site, r) = match model(cx) {
            Ok(m) => m,
            Err(skip) => return Ok(skip),
        };
        let cfg = r.config();
        let media = match uploads(cx, site) {
            Ok(m) => m,
            Err(skip) => return Ok(skip),
        };
        let mut findings = Vec::new();
        for (v, _) in vhost_maps(site) {
            for p in &media {
                let res = ask(r, v, &p.url);
                if !(matches!(res.handler, Handler::Autoindex) && res.predicted_status == Some(200))
                {
                    continue;
                }
                let dir = res
                    .path
                    .as_deref()
                    .map_or(String::new(), |d| d.display().to_string());
                let setters = indexes_set_for(cfg, v, &dir);
                let mut f = Finding::error(format!(
                    "GET {} lists every upload: `Options Indexes` applies to {dir} ({})",
                    p.url, p.from
                ))
                .evidence("url", &p.url)
                .evidence(
                    "apache serves",
                    "a listing of the directory (mod_autoindex)",
                )
                .evidence("predicted status", "200");
                for s in &setters {
                    f = f.evidence("Options Indexes set at", place(s));
                }
                if let Some(first) = setters.first() {
                    f = f.at(loc(first));
                }
                let edits: Vec<LineEdit> = setters
                    .iter()
                    .map(|s| LineEdit::options(s, OptionsRewrite::NoIndexes))
                    .collect();
                if edits.is_empty() {
                    findings.push(f.fix(
                        format!("add `Options -Indexes` to the <Directory> of {dir}"),
                        Vec::new(),
                    ));
                    continue;
                }
                let goal = Goal {
                    request: crate::fix::apache::request_on(cfg, Some(v), &p.url),
                    status: 403,
                    path: None,
                    prefix: p.url.clone(),
                };
                findings.push(first_proven(
                    cx,
                    f,
                    &[(edits, "take Indexes out of the Options that list it:")],
                    std::slice::from_ref(&goal),
                ));
            }
        }
        Ok(findings_or_pass(
            findings,
            "the uploads directory is not listed",
        ))
    }
}

/// The `Options` lines that turn Indexes on for `dir`: in the main server's and `v`'s
/// `<Directory>` sections over `dir` (and at their server level).
fn indexes_set_for<'c>(cfg: &'c Config, v: NodeId, dir: &str) -> Vec<Directive<'c>> {
    let vhost = cfg.directive(v);
    let dir = format!("{}/", dir.trim_end_matches('/'));
    let mut out = Vec::new();
    for d in cfg.top().chain(vhost.children()) {
        let applies = !d.is_section()
            || (d.is("Directory")
                && d.arg(0).is_some_and(|p| {
                    p != "~" && dir.starts_with(&format!("{}/", p.trim_end_matches('/')))
                }));
        if !applies {
            continue;
        }
        let lines: Vec<Directive<'c>> = if d.is_section() {
            d.children().collect()
        } else {
            vec![d]
        };
        for o in lines.into_iter().filter(|o| o.is("Options")) {
            if o.args().any(|a| {
                let a = a.to_ascii_lowercase();
                a == "indexes" || a == "+indexes" || a == "all"
            }) {
                out.push(o);
            }
        }
    }
    out
}
