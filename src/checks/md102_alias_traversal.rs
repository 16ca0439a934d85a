//! MD102 alias-traversal: no `location /x` (without slash) + `alias` lets URLs climb out of the
//! directory.
//! The page: checks/MD102.md.

use super::shared::nginx::{
    config_fix, findings_or_pass, list_dir, loc_of, opened_path, sample_file, skip_if_incomplete,
};
use super::shared::nginx_paths::*;
use super::{Band, Check, Context, Meta, Outcome};
use crate::nginx::resolve::AliasKind;
use crate::report::Finding;
use std::path::{Path, PathBuf};

pub struct AliasTraversal;

static ALIAS_TRAVERSAL: Meta = Meta {
    id: "MD102",
    name: "alias-traversal",
    band: Band::Nginx,
    summary: "no `location /x` (without slash) + `alias` lets URLs climb out of the directory",
    docs: include_str!("../../checks/MD102.md"),
};

impl Check for AliasTraversal {
    fn meta(&self) -> &'static Meta {
        &ALIAS_TRAVERSAL
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
                || o.name.ends_with('/')
                || o.name.is_empty()
            {
                continue;
            }
            if file_alias(site, &o.name, &o.value) {
                continue;
            }
            let dir = PathBuf::from(o.value.trim_end_matches('/'));
            let Some(parent) = dir.parent().map(Path::to_path_buf) else {
                continue;
            };
            let base = dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let siblings = list_dir(&site.root, &parent);
            let traversal = o.value.ends_with('/');
            // The concrete URL: into the parent directory (traversal), or into a sibling whose
            // name starts with the alias directory's (prefix reach).
            let candidates: Vec<String> = if traversal {
                let mut c: Vec<String> = siblings
                    .iter()
                    .filter(|(n, _)| *n != base)
                    .map(|(n, is_dir)| {
                        if *is_dir {
                            // A file inside makes the strongest evidence (200 if readable).
                            let inner =
                                sample_file(&site.root, &parent.join(n)).unwrap_or_default();
                            format!("../{n}/{inner}")
                        } else {
                            format!("../{n}")
                        }
                    })
                    .collect();
                c.push("../".into());
                c
            } else {
                siblings
                    .iter()
                    .filter(|(n, _)| n.starts_with(&base) && *n != base)
                    .map(|(n, is_dir)| {
                        let rest = &n[base.len()..];
                        if *is_dir {
                            let inner =
                                sample_file(&site.root, &parent.join(n)).unwrap_or_default();
                            format!("{rest}/{inner}")
                        } else {
                            rest.to_string()
                        }
                    })
                    .collect()
            };
            let uri = reaching(&r, &o, &o.name, &candidates);
            let fixed_name = format!("{}/", o.name);
            let fixed_alias = format!("{}/", o.value.trim_end_matches('/'));
            let modifier = r
                .location_pattern(o.location)
                .map(|(m, _)| m.as_str().to_string())
                .filter(|m| !m.is_empty());
            let head = match modifier {
                Some(m) => format!("location {m} {fixed_name}"),
                None => format!("location {fixed_name}"),
            };
            let edit = crate::fix::BlockEdit::new(o.location)
                .head(head)
                .replace(o.directive, format!("alias {fixed_alias};"));
            let finding = match uri {
                Some(uri) => {
                    let Some(path) = r.path_for(o.target.server, &uri) else {
                        continue;
                    };
                    let reached = lexical(&path);
                    let res = r.resolve_on(o.target.server, &request(&o.target, &uri));
                    let what = if traversal {
                        "path traversal out of the alias directory"
                    } else {
                        "a sibling directory is served"
                    };
                    Finding::error(format!(
                        "{} with `alias {}`: {uri} reaches {} ({what})",
                        r.location_label(o.location),
                        o.value,
                        reached.display()
                    ))
                    .evidence("url", &uri)
                    .evidence("nginx opens", opened_path(&path))
                    .evidence("which is", reached.display())
                    .evidence("predicted status", status_text(res.predicted_status))
                }
                None if traversal => Finding::error(format!(
                    "{} with `alias {}`: {}../X opens {}../X, outside the alias directory",
                    r.location_label(o.location),
                    o.value,
                    o.name,
                    o.value
                ))
                .evidence("url", format!("{}../X", o.name))
                .evidence("nginx opens", format!("{}../X", o.value)),
                None => Finding::warning(format!(
                    "{} with `alias {}`: any {}* directory next to it would be served ({}-backup/x opens {}-backup/x)",
                    r.location_label(o.location),
                    o.value,
                    dir.display(),
                    o.name,
                    o.value
                ))
                .evidence("url", format!("{}-backup/x", o.name))
                .evidence("nginx opens", format!("{}-backup/x", o.value)),
            };
            let f = finding.at(loc_of(cfg, o.location)).evidence(
                "alias",
                format!("{} ({})", o.value, loc_of(cfg, o.directive)),
            );
            findings.push(config_fix(
                f,
                cfg,
                "end both the location and the alias with a slash:",
                edit,
                None,
            ));
        }
        Ok(findings_or_pass(
            findings,
            "no alias location lets URLs leave its directory",
        ))
    }
}

/// `location ^~ /sad.svg { alias /var/www/errors/sad.svg; }`: the alias names one file, for the
/// one URL. Longer URLs open names that start with the file's (`sad.svg-x/y`): nothing of a
/// directory is exposed, and "add slashes" cannot apply to a file. A file: a regular file on
/// disk, or (not there to look at) the same name with an extension at both ends.
fn file_alias(site: &Context<'_>, name: &str, value: &str) -> bool {
    if value.ends_with('/') || name.ends_with('/') {
        return false;
    }
    let path = Path::new(value);
    if let Ok(m) = std::fs::metadata(site.root.host_path(path)) {
        return m.is_file();
    }
    let last = |s: &str| s.rsplit('/').next().unwrap_or("").to_string();
    let (url_name, file_name) = (last(name), last(value));
    let has_ext = |n: &str| n.rfind('.').is_some_and(|i| i > 0 && i + 1 < n.len());
    url_name == file_name && has_ext(&file_name)
}
