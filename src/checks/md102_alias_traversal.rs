//! MD102 alias-traversal: no `location /x` (without slash) + `alias` lets URLs climb out of the
//! directory.
//! The page: checks/MD102.md.

use super::shared::nginx::{
    config_fix, findings_or_pass, list_dir, loc_of, opened_path, sample_file, skip_if_incomplete,
    RELOAD,
};
use super::shared::nginx_paths::*;
use super::shared::regex_probe;
use super::{Band, Check, Context, Meta, Outcome};
use crate::nginx::resolve::{AliasKind, Modifier, Resolver};
use crate::report::Finding;
use std::path::{Component, Path, PathBuf};

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
        // Whether the http block's own `root`/`alias` could be `/` (read once per box).
        let http_risky = *site.per_box("md102::http_root", || {
            let http = cfg
                .top()
                .filter(|d| d.is("http"))
                .flat_map(|h| h.children());
            cfg.top().chain(http).any(|d| may_reach_passwd(&d))
        });
        let mut findings = root_exposures(&r, http_risky);
        for o in own_roots(&r) {
            if !prefix_location(&o)
                || !matches!(o.alias, AliasKind::Prefix(_))
                || o.name.ends_with('/')
                || o.name.is_empty()
                || file_alias(site, &o.name, &o.value)
            {
                continue;
            }
            // The directory meant: where the location's own URLs land, as the resolver builds
            // them (variables set in the server evaluated). Unknown: not judged.
            let Some((_, normal)) = probe(&r, &o, &format!("{}/a", o.name)) else {
                continue;
            };
            let Some(dir) = lexical(&normal).parent().map(Path::to_path_buf) else {
                continue;
            };
            let parent = dir.parent().map(Path::to_path_buf);
            let base = dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            // Escaping URLs: real names next to the directory first (a file inside makes the
            // strongest evidence: 200 if readable), then `..` glued to the prefix, plain and
            // percent-encoded, and a sibling name.
            let siblings = parent
                .as_deref()
                .map(|p| list_dir(&site.root, p))
                .unwrap_or_default();
            // Only an alias ending in a slash turns a `..` glued to the prefix into a segment.
            let climbing = o.value.ends_with('/');
            let mut candidates: Vec<String> = Vec::new();
            for (n, is_dir) in siblings.iter().filter(|(n, _)| *n != base) {
                let inner = |p: &Path| sample_file(&site.root, &p.join(n)).unwrap_or_default();
                let rest = match (n.strip_prefix(base.as_str()), &parent) {
                    (Some(rest), Some(p)) if !climbing && *is_dir => format!("{rest}/{}", inner(p)),
                    (Some(rest), _) if !climbing => rest.to_string(),
                    (_, Some(p)) if climbing && *is_dir => format!("../{n}/{}", inner(p)),
                    (_, _) if climbing => format!("../{n}"),
                    _ => continue,
                };
                candidates.push(format!("{}{rest}", o.name));
            }
            let generic: &[&str] = if climbing {
                &["../", "%2e%2e/"]
            } else {
                &["-backup/x"]
            };
            candidates.extend(generic.iter().map(|g| format!("{}{g}", o.name)));
            let escaping: Vec<(String, PathBuf, Option<u16>)> = candidates
                .iter()
                .filter_map(|uri| {
                    let (res, path) = probe(&r, &o, uri)?;
                    (!lexical(&path).starts_with(&dir))
                        .then(|| (uri.clone(), path, res.predicted_status))
                })
                .collect();
            let Some((uri, path, status)) = escaping.first().cloned() else {
                continue;
            };
            let climbs = path.components().any(|c| c == Component::ParentDir);
            let generic = uri.ends_with("-backup/x");
            let reached = lexical(&path);
            let finding = if generic {
                Finding::warning(format!(
                    "{} with `alias {}`: any {}* directory next to it would be served ({uri} opens {})",
                    r.location_label(o.location),
                    o.value,
                    dir.display(),
                    path.display()
                ))
            } else {
                // Climbing out is what the check's name says; a sibling is worth saying.
                let what = if climbs {
                    ""
                } else {
                    " (a sibling directory is served)"
                };
                Finding::error(format!(
                    "{} with `alias {}`: {uri} reaches {}{what}",
                    r.location_label(o.location),
                    o.value,
                    reached.display()
                ))
            };
            let mut f = finding;
            if o.value.contains('$') {
                f = f.evidence("variables", VARIABLES);
            }
            let mut f = f
                .evidence("url", &uri)
                .evidence("nginx opens", opened_path(&path))
                .evidence("which is", reached.display())
                .evidence("outside", dir.display())
                .evidence("predicted status", status_text(status));
            let also: Vec<&str> = escaping
                .iter()
                .skip(1)
                .filter(|(u, p, _)| {
                    u.contains('%') && p.components().any(|c| c == Component::ParentDir)
                })
                .map(|(u, _, _)| u.as_str())
                .collect();
            if !also.is_empty() {
                f = f.evidence("also", also.join(" "));
            }
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
            let f = f.at(loc_of(cfg, o.location)).evidence(
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

/// Why a path built from variables is judged: nginx evaluates them per request, and serves
/// what it builds (checked with the real nginx: `alias $public/;` with `$public` set only
/// under an `if` serves /etc/passwd to every other Host).
const VARIABLES: &str = "evaluated for this request as nginx does: a variable set nowhere on its way is empty (nginx logs `using uninitialized variable` and opens the path all the same)";

/// A `root`/`alias` that makes the whole filesystem the directory served (`root /;`,
/// `alias /./;`, `root /usr/..;`): `/etc/passwd` is one URL away. Asked of the resolver for
/// every location that serves files, and for the server's own root; one finding per directive.
///
/// Only a server where some `root`/`alias` could be `/` is asked (`may_reach_passwd`): the
/// path nginx opens is that directory with the rest of the URL after it, so none of the others
/// can open /etc/passwd (nginx's default root, `html` under the prefix, never can either).
fn root_exposures(r: &Resolver<'_>, http_risky: bool) -> Vec<Finding> {
    let cfg = r.config();
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for t in r.targets() {
        if !http_risky && !subtree_may_reach_passwd(&cfg.directive(t.server)) {
            continue;
        }
        let mut uris: Vec<String> = vec!["/etc/passwd".into()];
        for loc in r.locations_of(t.server) {
            let Some((m, name)) = r.location_pattern(loc) else {
                continue;
            };
            match m {
                Modifier::Prefix | Modifier::NoRegex => {
                    let sep = if name.ends_with('/') { "" } else { "/" };
                    uris.push(format!("{name}{sep}etc/passwd"));
                }
                Modifier::Regex | Modifier::RegexCaseless => {
                    let caseless = m == Modifier::RegexCaseless;
                    let inject = regex_probe::open_groups(&name, caseless)
                        .unwrap_or_default()
                        .into_iter()
                        .map(|g| (g, "etc/passwd".to_string()))
                        .collect();
                    uris.extend(regex_probe::examples(&name, caseless, &inject));
                }
                _ => {}
            }
        }
        for uri in uris {
            let Some((block, res, path)) = opened(r, &t, &uri) else {
                continue;
            };
            if lexical(&path) != Path::new("/etc/passwd") {
                continue;
            }
            let Some(root) = r.root_of(block) else {
                continue;
            };
            let Some(directive) = root.directive else {
                continue;
            };
            if !seen.insert(directive) {
                continue;
            }
            let d = cfg.directive(directive);
            let written = d.args().collect::<Vec<_>>().join(" ");
            let place = if block == t.server {
                "the server".to_string()
            } else {
                r.location_label(block)
            };
            let mut f = Finding::error(format!(
                "{place} with `{} {written}` serves the whole filesystem: {uri} opens {}",
                d.name(),
                path.display()
            ));
            if written.contains('$') {
                f = f.evidence("variables", VARIABLES);
            }
            out.push(
                f.at(loc_of(cfg, directive))
                .evidence("url", &uri)
                .evidence("nginx opens", opened_path(&path))
                .evidence("predicted status", status_text(res.predicted_status))
                .fix(
                    format!(
                        "point `{}` at the directory meant for this site (e.g. `{} /var/www/site/;`), never at /",
                        d.name(),
                        d.name()
                    ),
                    vec![RELOAD.to_string()],
                ),
            );
        }
    }
    out
}

/// Whether `d` is a `root`/`alias` that could make /etc/passwd one URL away: its directory is
/// `/`, `/etc` or the file itself (after `..`), or is not known from the text alone (built from
/// variables, relative to the prefix, no argument).
fn may_reach_passwd(d: &crate::nginx::Directive<'_>) -> bool {
    if !(d.is("root") || d.is("alias")) {
        return false;
    }
    match d.arg(0) {
        Some(v) if v.starts_with('/') && !v.contains('$') => {
            Path::new("/etc/passwd").starts_with(lexical(Path::new(v)))
        }
        _ => true,
    }
}

/// `may_reach_passwd` for any directive of the block `d` (includes read, at every depth).
fn subtree_may_reach_passwd(d: &crate::nginx::Directive<'_>) -> bool {
    d.children()
        .any(|c| may_reach_passwd(&c) || (c.has_block() && subtree_may_reach_passwd(&c)))
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
