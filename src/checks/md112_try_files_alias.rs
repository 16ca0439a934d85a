//! MD112 try-files-alias: try_files with alias tests the file the alias maps the URL to.
//! The page: checks/MD112.md.

use super::shared::nginx::{
    corrected_block, fix_with_block, loc_of, sample_file, skip_if_incomplete, Edit,
};
use super::shared::nginx_paths::*;
use super::{Band, Check, Context, Meta, Outcome};
use crate::nginx::resolve::{AliasKind, Modifier};
use crate::report::Finding;
use std::path::PathBuf;

pub struct TryFilesAlias;

static TRY_FILES_ALIAS: Meta = Meta {
    id: "MD112",
    name: "try-files-alias",
    band: Band::Nginx,
    summary: "try_files with alias tests the file the alias maps the URL to",
    docs: include_str!("../../checks/MD112.md"),
};

impl Check for TryFilesAlias {
    fn meta(&self) -> &'static Meta {
        &TRY_FILES_ALIAS
    }

    fn run(&self, site: &Context<'_>) -> anyhow::Result<Outcome> {
        if let Some(skip) = skip_if_incomplete(site) {
            return Ok(skip);
        }
        let r = site.resolver();
        let cfg = r.config();
        let mut findings = Vec::new();
        let mut unverifiable = 0;
        for t in r.targets() {
            for loc in r.locations_of(t.server) {
                let Some(info) = r.block_info(loc) else {
                    continue;
                };
                let Some(tf) = info.try_files else { continue };
                if info.root.alias == AliasKind::Root
                    || info.root.scripted && info.root.alias != AliasKind::Regex
                {
                    continue;
                }
                let Some((modifier, name)) = r.location_pattern(loc) else {
                    continue;
                };
                // Where the alias sends a file, and a real file there.
                let (dir, url_prefix) = match info.root.alias {
                    AliasKind::Regex => {
                        let fixed = info.root.value.split('$').next().unwrap_or("").to_string();
                        (PathBuf::from(fixed), literal_prefix(&name))
                    }
                    _ => {
                        let prefix = if name.ends_with('/') || modifier == Modifier::Exact {
                            name.clone()
                        } else {
                            format!("{name}/")
                        };
                        let dir = r.path_for(t.server, &prefix).unwrap_or_default();
                        (dir, prefix)
                    }
                };
                if url_prefix.is_empty() || modifier == Modifier::Exact {
                    continue;
                }
                let Some(file) = sample_file(&site.root, &dir) else {
                    unverifiable += 1;
                    continue;
                };
                let uri = format!("{url_prefix}{file}");
                if r.location_for(t.server, &uri) != Some(loc) {
                    continue;
                }
                let meant = dir.join(&file);
                let res = r.resolve_on(t.server, &request(&t, &uri));
                if res.served_path() == Some(meant.as_path()) {
                    continue;
                }
                let tried: Vec<String> = res
                    .steps
                    .iter()
                    .filter(|s| s.starts_with("try_files"))
                    .cloned()
                    .collect();
                let mut f = Finding::error(format!(
                    "{} combines alias and try_files: {uri} should open {} but try_files tests another path ({})",
                    r.location_label(loc),
                    meant.display(),
                    tried.first().cloned().unwrap_or_default()
                ))
                .at(loc_of(cfg, loc))
                .evidence("try_files", loc_of(cfg, tf))
                .evidence("url", &uri)
                .evidence("the file", format!("{} (exists)", meant.display()))
                .evidence("predicted status", status_text(res.predicted_status));
                for s in tried.iter().skip(1) {
                    f = f.evidence("then", s);
                }
                let block = corrected_block(cfg, loc, &|d| {
                    if d.id() == tf {
                        if info.root.alias == AliasKind::Regex {
                            Edit::Drop
                        } else {
                            Edit::Replace("try_files $uri =404;".into())
                        }
                    } else {
                        Edit::Keep
                    }
                });
                let intro = if info.root.alias == AliasKind::Regex {
                    "with a regex alias the alias is already the file: drop try_files (nginx answers 404 for a missing file by itself):"
                } else {
                    "test `$uri` (nginx strips the location prefix from it under alias):"
                };
                findings.push(fix_with_block(f, intro, block));
            }
        }
        Ok(if !findings.is_empty() {
            Outcome::findings(findings)
        } else if unverifiable > 0 {
            Outcome::pass(format!(
                "no try_files + alias mismatch found ({unverifiable} location(s) have no file to test with)"
            ))
        } else {
            Outcome::pass("try_files and alias agree on every file tested")
        })
    }
}
