//! MD101 alias-trailing-slash: every `location /x/` with `alias` ends the alias with a slash.
//! The page: checks/MD101.md.

use super::shared::nginx::{
    config_fix, exists, findings_or_pass, goal_for, loc_of, opened_path, sample_file,
    skip_if_incomplete,
};
use super::shared::nginx_paths::*;
use super::{Band, Check, Context, Meta, Outcome};
use crate::nginx::resolve::AliasKind;
use crate::report::Finding;
use std::path::PathBuf;

pub struct AliasTrailingSlash;

static ALIAS_TRAILING_SLASH: Meta = Meta {
    id: "MD101",
    name: "alias-trailing-slash",
    band: Band::Nginx,
    summary: "every `location /x/` with `alias` ends the alias with a slash",
    docs: include_str!("../../checks/MD101.md"),
};

impl Check for AliasTrailingSlash {
    fn meta(&self) -> &'static Meta {
        &ALIAS_TRAILING_SLASH
    }

    fn run(&self, site: &Context<'_>) -> anyhow::Result<Outcome> {
        if let Some(skip) = skip_if_incomplete(site) {
            return Ok(skip);
        }
        let r = site.resolver();
        let cfg = r.config();
        let mut findings = Vec::new();
        for o in own_roots(&r) {
            if !prefix_location(&o)
                || o.scripted
                || !matches!(o.alias, AliasKind::Prefix(_))
                || !o.name.ends_with('/')
                || o.value.ends_with('/')
            {
                continue;
            }
            let intended = PathBuf::from(format!("{}/", o.value));
            let mut names: Vec<String> = sample_file(&site.root, &intended).into_iter().collect();
            names.extend(["a.jpg".to_string(), "file".to_string()]);
            let Some(uri) = reaching(&r, &o, &o.name, &names) else {
                continue;
            };
            let Some(path) = r.path_for(o.target.server, &uri) else {
                continue;
            };
            let res = r.predict_on(o.target.server, &request(&o.target, &uri));
            let file = &uri[o.name.len()..];
            let meant = intended.join(file);
            let mut f = Finding::error(format!(
                "{} has `alias {}` without a trailing slash: {uri} opens {}",
                r.location_label(o.location),
                o.value,
                path.display()
            ))
            .at(loc_of(cfg, o.location))
            .evidence(
                "alias",
                format!("{} ({})", o.value, loc_of(cfg, o.directive)),
            )
            .evidence("url", &uri)
            .evidence("nginx opens", opened_path(&path))
            .evidence("predicted status", status_text(res.predicted_status));
            if exists(&site.root, &meant) {
                f = f.evidence("the file is at", format!("{} (exists)", meant.display()));
            }
            let fixed = format!("{}/", o.value);
            let edit = crate::fix::BlockEdit::new(o.location)
                .replace(o.directive, format!("alias {fixed};"));
            let goal = goal_for(site, &o.target, &uri, Some(&meant), None);
            findings.push(config_fix(
                f,
                cfg,
                "end the alias with a slash, like the location:",
                edit,
                Some(goal),
            ));
        }
        Ok(findings_or_pass(
            findings,
            "no `location /x/` maps its files next to the alias directory",
        ))
    }
}
