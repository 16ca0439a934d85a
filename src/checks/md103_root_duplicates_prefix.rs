//! MD103 root-duplicates-prefix: no `location /x/` has a `root` that already ends in /x (nginx
//! would open /x/x/).
//! The page: checks/MD103.md.

use super::shared::nginx::{
    config_fix, exists, findings_or_pass, goal_for, loc_of, opened_path, sample_file,
    skip_if_incomplete,
};
use super::shared::nginx_paths::*;
use super::{Band, Check, Context, Meta, Outcome};
use crate::nginx::resolve::AliasKind;
use crate::report::Finding;
use std::path::PathBuf;

pub struct RootDuplicatesPrefix;

static ROOT_DUPLICATES_PREFIX: Meta = Meta {
    id: "MD103",
    name: "root-duplicates-prefix",
    band: Band::Nginx,
    summary: "no `location /x/` has a `root` that already ends in /x (nginx would open /x/x/)",
    docs: include_str!("../../checks/MD103.md"),
};

impl Check for RootDuplicatesPrefix {
    fn meta(&self) -> &'static Meta {
        &ROOT_DUPLICATES_PREFIX
    }

    fn run(&self, site: &Context<'_>) -> anyhow::Result<Outcome> {
        if let Some(skip) = skip_if_incomplete(site) {
            return Ok(skip);
        }
        let r = site.resolver();
        let cfg = r.config();
        let mut findings = Vec::new();
        for o in own_roots(&r) {
            if !prefix_location(&o) || o.scripted || o.alias != AliasKind::Root {
                continue;
            }
            let prefix = o.name.trim_end_matches('/');
            if prefix.is_empty() || !o.value.ends_with(prefix) {
                continue;
            }
            let doubled = PathBuf::from(format!("{}{}", o.value, o.name));
            if exists(&site.root, &doubled) {
                // The doubled directory exists: nginx finds files there, so it may be intended.
                continue;
            }
            let root_dir = PathBuf::from(&o.value);
            // With the root directory there (and not the doubled one) the files prove it; with
            // neither (a config checked away from its server), the mapping alone is a warning.
            let confirmed = exists(&site.root, &root_dir);
            let mut names: Vec<String> = sample_file(&site.root, &root_dir).into_iter().collect();
            names.extend(["a.jpg".to_string(), "file".to_string()]);
            let base = if o.name.ends_with('/') {
                o.name.clone()
            } else {
                format!("{}/", o.name)
            };
            let Some(uri) = reaching(&r, &o, &base, &names) else {
                continue;
            };
            let Some(path) = r.path_for(o.target.server, &uri) else {
                continue;
            };
            let res = r.predict_on(o.target.server, &request(&o.target, &uri));
            let file = &uri[base.len()..];
            let with_alias = root_dir.join(file);
            let f = if confirmed {
                Finding::error(String::new())
            } else {
                Finding::warning(String::new())
            };
            let mut f = Finding {
                message: format!(
                    "{} has `root {}`, which already ends with the prefix: {uri} opens {}",
                    r.location_label(o.location),
                    o.value,
                    path.display()
                ),
                ..f
            }
            .at(loc_of(cfg, o.location))
            .evidence(
                "root",
                format!("{} ({})", o.value, loc_of(cfg, o.directive)),
            )
            .evidence("url", &uri)
            .evidence("nginx opens", opened_path(&path))
            .evidence("predicted status", status_text(res.predicted_status));
            f = f.evidence(
                "with alias",
                format!(
                    "{} ({})",
                    with_alias.display(),
                    if exists(&site.root, &with_alias) {
                        "exists: alias would find the files"
                    } else {
                        "does not exist either"
                    }
                ),
            );
            let alias = format!("{}/", o.value);
            let mut edit = crate::fix::BlockEdit::new(o.location)
                .replace(o.directive, format!("alias {alias};"));
            // `location /media` gets its slash with the alias's (no /media../x traversal).
            if let Some(head) = super::shared::nginx::slashed_head(&cfg.directive(o.location)) {
                edit = edit.head(head);
            }
            let goal = goal_for(site, &o.target, &uri, Some(&with_alias), None);
            findings.push(config_fix(
                f,
                cfg,
                "use alias (root appends the whole URI, prefix included):",
                edit,
                Some(goal),
            ));
        }
        Ok(findings_or_pass(
            findings,
            "no location's root repeats its own prefix",
        ))
    }
}
