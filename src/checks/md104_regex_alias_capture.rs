//! MD104 regex-alias-capture: every `alias` in a regex location builds the path from the regex's
//! captures, safely.
//! The page: checks/MD104.md.

use super::shared::nginx::{
    config_fix, findings_or_pass, loc_of, opened_path, skip_if_incomplete, RELOAD,
};
use super::shared::nginx_paths::*;
use super::shared::regex_probe;
use super::{Band, Check, Context, Meta, Outcome};
use crate::nginx::resolve::regex::NgxRegex;
use crate::nginx::resolve::vars::{self, Part};
use crate::nginx::resolve::{AliasKind, Modifier};
use crate::report::Finding;
use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

pub struct RegexAliasCapture;

static REGEX_ALIAS_CAPTURE: Meta = Meta {
    id: "MD104",
    name: "regex-alias-capture",
    band: Band::Nginx,
    summary: "every `alias` in a regex location builds the path from the regex's captures, safely",
    docs: include_str!("../../checks/MD104.md"),
};

/// Whether `value` reads a capture of the regex: `$1`..`$9` up to its group count, or one of its
/// named groups (as a variable: case-insensitive, `(?<Name>...)` is `$name`).
fn uses_captures(value: &str, groups: usize, names: &[String]) -> bool {
    vars::parts(value).any(|p| match p {
        Part::Capture(n) => n <= groups,
        Part::Var(v) => names.iter().any(|n| n.eq_ignore_ascii_case(v)),
        Part::Text(_) => false,
    })
}

impl Check for RegexAliasCapture {
    fn meta(&self) -> &'static Meta {
        &REGEX_ALIAS_CAPTURE
    }

    fn run(&self, site: &Context<'_>) -> anyhow::Result<Outcome> {
        if site.apache().is_some() {
            return Ok(on_apache(site));
        }
        if let Some(skip) = skip_if_incomplete(site) {
            return Ok(skip);
        }
        let r = site.resolver();
        let cfg = r.config();
        let mut findings = Vec::new();
        for o in own_roots(&r) {
            // A regex location's alias, or its root built from the captures (`root /srv/$1;`:
            // the capture can climb out the same way; root appends the URI after it).
            let root = o.alias == AliasKind::Root;
            if !o.modifier.is_regex() || !(o.alias == AliasKind::Regex || root) {
                continue;
            }
            let re = NgxRegex::new(&o.name, o.modifier == Modifier::RegexCaseless);
            let groups = re.group_count();
            let names = re.group_names();
            if root && !uses_captures(&o.value, groups, &names) {
                continue;
            }
            let which = if root { "root" } else { "alias" };
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
                let from_prefix = site
                    .prefixes()
                    .iter()
                    .filter(|p| p.server().map_or(true, |s| s == o.target.server))
                    .map(|p| format!("{}a.jpg", p.url))
                    .find(reaches);
                let uri = match from_prefix {
                    Some(u) => u,
                    None if !open.is_empty() => {
                        let inject = open.iter().map(|&g| (g, "a.jpg".to_string())).collect();
                        regex_probe::examples(&o.name, caseless, &inject)
                            .into_iter()
                            .find(reaches)
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
                    let res = r.predict_on(o.target.server, &request(&o.target, &uri));
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
                let edit = crate::fix::BlockEdit::new(o.location)
                    .replace(alias_node, format!("alias {value};"));
                findings.push(config_fix(f, cfg, suggestion, edit, None));
                continue;
            }
            // Escaping URLs, asked of the resolver: `..` (plain and percent-encoded) and a
            // sibling name in each capture the alias uses. A finding exactly when nginx opens a
            // path outside the directory the alias names before its first variable; a capture
            // that cannot hold `..` (`([^.]*)`, `(/.*)`) gives none.
            let Some(dir_text) = o.value.split('$').next().filter(|t| t.starts_with('/')) else {
                continue;
            };
            let dir = lexical(Path::new(dir_text));
            let caseless = o.modifier == Modifier::RegexCaseless;
            let named = regex_probe::group_names(&o.name, caseless);
            let mut escaping: Vec<(String, PathBuf, Option<u16>)> = Vec::new();
            for g in used_groups(&o.value, groups, &named) {
                for text in ["../x", "%2e%2e/x", "-x/y"] {
                    // Every branch of the regex: a URL may reach the capture through the
                    // second (`^/(static/|media)(.*)$`) when the first normalises away.
                    let inject = HashMap::from([(g, text.to_string())]);
                    for uri in regex_probe::examples(&o.name, caseless, &inject) {
                        let Some((res, path)) = probe(&r, &o, &uri) else {
                            continue;
                        };
                        if !lexical(&path).starts_with(&dir) {
                            escaping.push((uri, path, res.predicted_status));
                        }
                    }
                }
            }
            let Some((uri, path, status)) = escaping.first().cloned() else {
                continue;
            };
            let climbs = path.components().any(|c| c == Component::ParentDir);
            let reached = lexical(&path);
            let label = r.location_label(o.location);
            let f = if climbs {
                Finding::error(format!(
                    "{label} with `{which} {}`: the capture may start with `..`: {uri} opens {} ({})",
                    o.value,
                    path.display(),
                    reached.display()
                ))
            } else {
                Finding::warning(format!(
                    "{label} with `{which} {}`: the capture is glued to `{dir_text}`: {uri} opens {}, outside {}",
                    o.value,
                    path.display(),
                    dir.display()
                ))
            };
            let mut f = f
                .at(loc_of(cfg, o.location))
                .evidence(
                    "alias",
                    format!("{} ({})", o.value, loc_of(cfg, o.directive)),
                )
                .evidence("url", &uri)
                .evidence("nginx opens", opened_path(&path))
                .evidence("which is", reached.display())
                .evidence("outside", dir.display())
                .evidence("predicted status", status_text(status));
            let also: Vec<&str> = escaping
                .iter()
                .skip(1)
                .filter(|(u, _, _)| u.contains('%'))
                .map(|(u, _, _)| u.as_str())
                .collect();
            if !also.is_empty() {
                f = f.evidence("also", also.join(" "));
            }
            findings.push(match (!root).then(|| simple_fix(&o, dir_text)).flatten() {
                Some(edit) => config_fix(
                    f,
                    cfg,
                    "make the regex require a slash before the capture, and the alias end with one:",
                    edit,
                    None,
                ),
                None => f.fix(
                    "make each capture the alias uses start after a slash of the URL (`^/media/(.+)$`) and follow a slash of the alias (`alias /srv/media/$1;`), or use a prefix location (`location /media/ { alias /srv/media/; }`)",
                    vec![RELOAD.to_string()],
                ),
            });
        }
        Ok(findings_or_pass(
            findings,
            "every regex alias uses its captures, and none can climb out",
        ))
    }
}

/// The capture groups `value` uses: `$1`..`$9`, `${1}`, and named groups by name.
fn used_groups(value: &str, groups: usize, named: &[(String, u32)]) -> Vec<u32> {
    let mut out: Vec<u32> = Vec::new();
    for p in vars::parts(value) {
        let n = match p {
            Part::Capture(n) if n <= groups => Some(n as u32),
            Part::Var(v) => named
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(v))
                .map(|&(_, n)| n),
            _ => None,
        };
        if let Some(n) = n.filter(|n| !out.contains(n)) {
            out.push(n);
        }
    }
    out
}

/// The corrected block for the common shape, `location ~ ^/media(.*)$ { alias /srv/media$1; }`:
/// `^/media/(.+)$` and `alias /srv/media/$1;`. None for any other shape (the advice is
/// given in words).
fn simple_fix(o: &OwnRoot<'_>, dir_text: &str) -> Option<crate::fix::BlockEdit> {
    let body = o.name.strip_prefix('^').unwrap_or(&o.name);
    let body = body.strip_suffix('$').unwrap_or(body);
    let lit = body
        .strip_suffix("(.*)")
        .or_else(|| body.strip_suffix("(.+)"))?;
    let plain = |t: &str| {
        !t.is_empty()
            && t.starts_with('/')
            && t.chars()
                .all(|c| c.is_ascii_alphanumeric() || "/-_".contains(c))
    };
    if !plain(lit) || o.value != format!("{dir_text}$1") {
        return None;
    }
    let head = format!(
        "location {} ^{}/(.+)$",
        o.modifier.as_str(),
        lit.trim_end_matches('/')
    );
    Some(crate::fix::BlockEdit::new(o.location).head(head).replace(
        o.directive,
        format!("alias {}/$1;", dir_text.trim_end_matches('/')),
    ))
}

/// MD104 when Apache is judged: `AliasMatch` is Apache's regex alias, and like nginx's its
/// target is the whole path. One whose target uses none of the regex's captures while the regex
/// captures an open-ended part of the URL (a file name) maps every URL it matches to the one
/// path: a finding, with the target ending in that capture, proven on a copy. Traversal through a
/// capture does not apply: Apache removes `..` segments (decoding `%2e` first) before mod_alias
/// matches, and `/media../x` stays a name inside the target's parent only as `media..`.
fn on_apache(cx: &Context<'_>) -> Outcome {
    use super::shared::apache::{ask, first_proven, loc, model, place, status_text, word};
    use super::shared::nginx::{exists, sample_file};
    use crate::fix::apache::{request_on, Goal, LineEdit, Place};
    let (site, r) = match model(cx) {
        Ok(m) => m,
        Err(skip) => return skip,
    };
    let cfg = r.config();
    let mut findings = Vec::new();
    let mut judged = 0usize;
    let mut seen = Vec::new();
    for &v in &site.vhosts {
        let own = cfg.directive(v).children().chain(cfg.top());
        for d in own.filter(|d| !d.is_section() && d.is("AliasMatch")) {
            let (Some(re), Some(target)) = (d.arg(0), d.arg(1)) else {
                continue;
            };
            if seen.contains(&d.id()) {
                continue;
            }
            seen.push(d.id());
            judged += 1;
            if (0..=9).any(|n| target.contains(&format!("${n}"))) {
                continue;
            }
            // An exact-file regex, or one that chooses among a few words, is right as it is.
            let Some(&group) = regex_probe::open_groups(re, false)
                .unwrap_or_default()
                .first()
            else {
                continue;
            };
            let dir = format!("{}/", target.trim_end_matches('/'));
            let name = sample_file(&cx.root, Path::new(&dir))
                .unwrap_or_else(|| "media-doctor-probe.jpg".into());
            let inject = HashMap::from([(group, name.clone())]);
            let Some(uri) = regex_probe::example(re, false, &inject) else {
                continue;
            };
            let res = ask(r, v, &uri);
            if res.mapping != Some(d.id()) {
                continue;
            }
            let opened = res
                .path
                .as_deref()
                .map_or("no file".into(), |p| p.display().to_string());
            let f = Finding::error(format!(
                "`AliasMatch {re} {target}` drops what its regex captures: {uri} opens {opened} ({}), and so does every URL it matches",
                status_text(res.predicted_status)
            ))
            .at(loc(&d))
            .evidence("url", &uri)
            .evidence("apache opens", &opened)
            .evidence("predicted status", status_text(res.predicted_status))
            .evidence("AliasMatch at", place(&d));
            let new_target = format!("{dir}${group}");
            let edit = LineEdit::at(
                &d,
                Place::Replace,
                vec![format!("AliasMatch {} {}", word(re), word(&new_target))],
            );
            let meant = PathBuf::from(format!("{dir}{name}"));
            let prefix = uri
                .rfind(name.as_str())
                .map_or(uri.clone(), |i| uri[..i].to_string());
            let goal = Goal {
                request: request_on(cfg, Some(v), &uri),
                status: if exists(&cx.root, &meant) { 200 } else { 404 },
                path: Some(meant),
                prefix,
            };
            findings.push(first_proven(
                cx,
                f,
                &[(
                    vec![edit],
                    &format!("end the target with the capture (${group}), so each URL opens its own file:"),
                )],
                std::slice::from_ref(&goal),
            ));
        }
    }
    if findings.is_empty() {
        return Outcome::pass(if judged == 0 {
            "the site has no AliasMatch".to_string()
        } else {
            format!("each of the site's {judged} AliasMatch builds its path from its captures (or matches fixed names)")
        });
    }
    Outcome::findings(findings)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A named group is a variable, read case-insensitively and by its whole name: `$Name` reads
    /// `(?<name>...)`, `$file` reads `(?<File>...)`, `$files` reads neither.
    #[test]
    fn captures_are_read_as_nginx_reads_variables() {
        let named = vec![("File".to_string(), 1)];
        assert_eq!(used_groups("/srv/$file", 1, &named), vec![1]);
        assert_eq!(used_groups("/srv/${FILE}.png", 1, &named), vec![1]);
        assert!(used_groups("/srv/$files", 1, &named).is_empty());
        assert!(used_groups("/srv/$2", 1, &named).is_empty());
        assert_eq!(used_groups("/srv/$1", 1, &[]), vec![1]);
        let names = vec!["Name".to_string()];
        assert!(uses_captures("/srv/$name", 0, &names));
        assert!(!uses_captures("/srv/$names", 0, &names));
        assert!(!uses_captures("/srv/$1", 0, &names));
    }
}
