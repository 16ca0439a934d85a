//! MD104 regex-alias-capture: every `alias` in a regex location builds the path from the regex's
//! captures, safely.
//! The page: checks/MD104.md.

use super::shared::nginx::{
    block_replacing, corrected_block, findings_or_pass, fix_with_block, loc_of, normalised,
    opened_path, prefixes, skip_if_incomplete, Edit,
};
use super::shared::nginx_paths::*;
use super::shared::regex_probe;
use super::{Band, Check, Context, Meta, Outcome};
use crate::nginx::resolve::regex::NgxRegex;
use crate::nginx::resolve::{AliasKind, Modifier};
use crate::report::Finding;

pub struct RegexAliasCapture;

static REGEX_ALIAS_CAPTURE: Meta = Meta {
    id: "MD104",
    name: "regex-alias-capture",
    band: Band::Nginx,
    summary: "every `alias` in a regex location builds the path from the regex's captures, safely",
    docs: include_str!("../../checks/MD104.md"),
};

fn uses_captures(value: &str, groups: usize, names: &[String]) -> bool {
    (1..=groups.min(9)).any(|n| value.contains(&format!("${n}")))
        || names
            .iter()
            .any(|n| value.contains(&format!("${n}")) || value.contains(&format!("${{{n}}}")))
}

impl Check for RegexAliasCapture {
    fn meta(&self) -> &'static Meta {
        &REGEX_ALIAS_CAPTURE
    }

    fn run(&self, site: &Context<'_>) -> anyhow::Result<Outcome> {
        if let Some(skip) = skip_if_incomplete(site) {
            return Ok(skip);
        }
        let r = site.resolver();
        let cfg = r.config();
        let mut findings = Vec::new();
        for o in own_roots(&r) {
            if !o.modifier.is_regex() || o.alias != AliasKind::Regex {
                continue;
            }
            let re = NgxRegex::new(&o.name, o.modifier == Modifier::RegexCaseless);
            let groups = re.group_count();
            let names = re.group_names();
            let lit = literal_prefix(&o.name);
            let alias_node = o.directive;
            if !uses_captures(&o.value, groups, &names) {
                // Without captures every matching URL opens the one path: right for an
                // exact-file regex (`^/favicon.ico$`) or one that chooses among a few words
                // (`^/files-(en|fr)`). A mistake when the regex captures an open-ended part of
                // the URL (a file name) and drops it, or where the site's media or static files
                // are asked for (MEDIA_URL, STATIC_URL, a location serving them): each of those
                // URLs gets the same file or directory.
                let caseless = o.modifier == Modifier::RegexCaseless;
                let open = regex_probe::open_groups(&o.name, caseless).unwrap_or_default();
                let reaches = |u: &String| r.location_for(o.target.server, u) == Some(o.location);
                let from_prefix = prefixes(site, &r)
                    .iter()
                    .filter(|p| p.server.map_or(true, |s| s == o.target.server))
                    .map(|p| format!("{}a.jpg", p.url))
                    .find(reaches);
                let uri = match from_prefix {
                    Some(u) => u,
                    None if !open.is_empty() => {
                        let inject = open.iter().map(|&g| (g, "a.jpg".to_string())).collect();
                        regex_probe::example(&o.name, caseless, &inject)
                            .filter(reaches)
                            .unwrap_or_else(|| format!("{lit}a.jpg"))
                    }
                    None => continue,
                };
                let path = reaches(&uri)
                    .then(|| r.path_for(o.target.server, &uri))
                    .flatten();
                let mut f = Finding::error(format!(
                    "{} has `alias {}` without the regex's captures: every matching URL opens {}",
                    r.location_label(o.location),
                    o.value,
                    o.value
                ))
                .at(loc_of(cfg, o.location))
                .evidence(
                    "alias",
                    format!("{} ({})", o.value, loc_of(cfg, o.directive)),
                );
                if let Some(p) = path {
                    let res = r.resolve_on(o.target.server, &request(&o.target, &uri));
                    f = f
                        .evidence("url", &uri)
                        .evidence("nginx opens", opened_path(&p))
                        .evidence("predicted status", status_text(res.predicted_status));
                }
                let suggestion = if groups == 0 {
                    "capture the file part of the URI and put it in the alias (e.g. `location ~ ^/media/(.+)$ { alias /srv/media/$1; }`), or use a prefix location:"
                } else {
                    "append the capture to the alias:"
                };
                let value = format!("{}{}", o.value, if groups > 0 { "$1" } else { "" });
                let block =
                    block_replacing(cfg, o.location, alias_node, &format!("alias {value};"));
                findings.push(fix_with_block(f, suggestion, block));
                continue;
            }
            // A capture that can start with `..` right after a `/` of the alias climbs out.
            if lit.is_empty() {
                continue;
            }
            let uri = format!("{lit}../etc/passwd");
            // nginx resolves `..` segments before matching: only a `..` glued to the literal
            // text (`/media../`) survives into the capture.
            if normalised(&uri).as_deref() != Some(uri.as_str()) {
                continue;
            }
            if r.location_for(o.target.server, &uri) != Some(o.location) {
                continue;
            }
            let Some(path) = r.path_for(o.target.server, &uri) else {
                continue;
            };
            if !path.to_string_lossy().contains("/../") {
                continue;
            }
            let res = r.resolve_on(o.target.server, &request(&o.target, &uri));
            let f = Finding::error(format!(
                "{} with `alias {}`: the capture may start with `..`: {uri} opens {} ({})",
                r.location_label(o.location),
                o.value,
                path.display(),
                lexical(&path).display()
            ))
            .at(loc_of(cfg, o.location))
            .evidence(
                "alias",
                format!("{} ({})", o.value, loc_of(cfg, o.directive)),
            )
            .evidence("url", &uri)
            .evidence("nginx opens", opened_path(&path))
            .evidence("predicted status", status_text(res.predicted_status));
            let fixed = format!(
                "location {} {}/",
                o.modifier.as_str(),
                lit.trim_end_matches('/')
            );
            let block = corrected_block(cfg, o.location, &|_| Edit::Keep);
            findings.push(fix_with_block(
                f,
                &format!(
                    "make the regex require a slash before the capture (e.g. `{fixed}(.+)$`), as in:"
                ),
                block.replacen(&format!("location {} {}", o.modifier.as_str(), o.name), &format!("{fixed}(.+)$"), 1),
            ));
        }
        Ok(findings_or_pass(
            findings,
            "every regex alias uses its captures, and none can climb out",
        ))
    }
}
