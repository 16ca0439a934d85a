//! MD101–MD104, MD112: where `root`/`alias` send media and static URLs.
//!
//! Each check picks the locations that have the shape of the mistake, then asks the resolver
//! what a concrete URL under them maps to (a real file name when the directory can be listed),
//! and reports the URL, the path nginx opens and the status it predicts. Only a mapping that
//! the resolver confirms becomes a finding.

use super::nginx_common::{
    block_replacing, corrected_block, exists, findings_or_pass, fix_with_block, list_dir, loc_of,
    normalised, opened_path, sample_file, skip_if_incomplete, Edit, Target,
};
use super::{Band, Check, Context, Meta, Outcome};
use crate::nginx::resolve::regex::NgxRegex;
use crate::nginx::resolve::Request;
use crate::nginx::resolve::{AliasKind, Modifier, Resolver};
use crate::nginx::NodeId;
use crate::report::Finding;
use std::path::{Component, Path, PathBuf};

pub static CHECKS: &[&dyn Check] = &[
    &AliasTrailingSlash,
    &AliasTraversal,
    &RootDuplicatesPrefix,
    &RegexAliasCapture,
    &TryFilesAlias,
];

/// A location with its own `root`/`alias` (not inherited), in one of the site's servers.
struct OwnRoot {
    target: Target,
    location: NodeId,
    modifier: Modifier,
    name: String,
    /// The `root`/`alias` directive.
    directive: NodeId,
    alias: AliasKind,
    value: String,
    scripted: bool,
}

fn own_roots(r: &Resolver<'_>) -> Vec<OwnRoot> {
    let cfg = r.config();
    let mut out = Vec::new();
    for t in r.targets() {
        for loc in r.locations_of(t.server) {
            let Some((modifier, name)) = r.location_pattern(loc) else {
                continue;
            };
            let Some(root) = r.root_of(loc) else { continue };
            let Some(directive) = root.directive else {
                continue;
            };
            // Only the location that says it: nested blocks inherit the same finding.
            if !cfg.directive(loc).children().any(|c| c.id() == directive) {
                continue;
            }
            out.push(OwnRoot {
                target: t.clone(),
                location: loc,
                modifier,
                name,
                directive,
                alias: root.alias,
                value: root.value,
                scripted: root.scripted,
            });
        }
    }
    out
}

fn request(t: &Target, uri: &str) -> Request {
    Request::for_path(&t.host, t.port, uri)
}

fn status_text(s: Option<u16>) -> String {
    s.map_or_else(|| "not predictable".into(), |s| s.to_string())
}

/// `/srv/media/../app` → `/srv/app` (what the kernel reaches when no symlink is involved).
fn lexical(p: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(n) => out.push(n),
            _ => {}
        }
    }
    out
}

fn prefix_location(o: &OwnRoot) -> bool {
    matches!(o.modifier, Modifier::Prefix | Modifier::NoRegex)
}

/// The first name of `candidates` whose URL under `prefix` reaches `loc` (a regex may steal some).
fn reaching(r: &Resolver<'_>, o: &OwnRoot, prefix: &str, candidates: &[String]) -> Option<String> {
    candidates
        .iter()
        .map(|c| format!("{prefix}{c}"))
        .filter(|uri| normalised(uri).as_deref() == Some(uri.as_str()))
        .find(|uri| r.location_for(o.target.server, uri) == Some(o.location))
}

// ---------------------------------------------------------------------------------------------

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
            let res = r.resolve_on(o.target.server, &request(&o.target, &uri));
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
            let alias_dir = o.directive;
            let fixed = format!("{}/", o.value);
            let block = block_replacing(cfg, o.location, alias_dir, &format!("alias {fixed};"));
            findings.push(fix_with_block(
                f,
                "end the alias with a slash, like the location:",
                block,
            ));
        }
        Ok(findings_or_pass(
            findings,
            "no `location /x/` maps its files next to the alias directory",
        ))
    }
}

// ---------------------------------------------------------------------------------------------

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
            let loc_node = o.location;
            let alias_node = o.directive;
            let block = block_replacing(
                cfg,
                o.location,
                alias_node,
                &format!("alias {fixed_alias};"),
            )
            .replacen(
                &format!("location {}", o.name),
                &format!("location {fixed_name}"),
                1,
            );
            let _ = loc_node;
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
            findings.push(fix_with_block(
                f,
                "end both the location and the alias with a slash:",
                block,
            ));
        }
        Ok(findings_or_pass(
            findings,
            "no alias location lets URLs leave its directory",
        ))
    }
}

// ---------------------------------------------------------------------------------------------

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
            let res = r.resolve_on(o.target.server, &request(&o.target, &uri));
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
            let root_node = o.directive;
            let alias = format!("{}/", o.value);
            let block = block_replacing(cfg, o.location, root_node, &format!("alias {alias};"));
            findings.push(fix_with_block(
                f,
                "use alias (root appends the whole URI, prefix included):",
                block,
            ));
        }
        Ok(findings_or_pass(
            findings,
            "no location's root repeats its own prefix",
        ))
    }
}

// ---------------------------------------------------------------------------------------------

pub struct RegexAliasCapture;

static REGEX_ALIAS_CAPTURE: Meta = Meta {
    id: "MD104",
    name: "regex-alias-capture",
    band: Band::Nginx,
    summary: "every `alias` in a regex location builds the path from the regex's captures, safely",
    docs: include_str!("../../checks/MD104.md"),
};

/// The literal start of a regex (`^/media/(.*)$` → `/media/`), for building a matching URL.
pub fn literal_prefix(pattern: &str) -> String {
    // Unanchored, the regex may match anywhere: no known start.
    let Some(p) = pattern.strip_prefix('^') else {
        return String::new();
    };
    let b: Vec<char> = p.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < b.len() {
        let (c, next) = match b[i] {
            '\\' => match b.get(i + 1) {
                Some(n) if !n.is_ascii_alphanumeric() => (*n, i + 2),
                _ => break,
            },
            '(' | '[' | '.' | '*' | '+' | '?' | '{' | '|' | '$' | ')' => break,
            c => (c, i + 1),
        };
        // A quantifier after it makes this character optional: stop before it.
        if matches!(b.get(next), Some('*' | '?' | '{')) {
            break;
        }
        out.push(c);
        i = next;
    }
    out
}

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
                let uri = format!("{lit}a.jpg");
                let path = (r.location_for(o.target.server, &uri) == Some(o.location))
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

// ---------------------------------------------------------------------------------------------

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
                if res.path.as_deref() == Some(meant.as_path()) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_prefixes() {
        assert_eq!(literal_prefix("^/media/(.*)$"), "/media/");
        assert_eq!(literal_prefix("^/media(.*)$"), "/media");
        assert_eq!(literal_prefix(r"^/img\.d/(.+)"), "/img.d/");
        assert_eq!(literal_prefix(r"\.(png|jpg)$"), "");
        assert_eq!(literal_prefix("^/ab?c"), "/a");
    }

    #[test]
    fn dotdot_is_resolved_lexically() {
        assert_eq!(
            lexical(Path::new("/srv/media/../app/x")),
            Path::new("/srv/app/x")
        );
    }
}
