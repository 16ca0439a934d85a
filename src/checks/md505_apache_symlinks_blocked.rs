//! MD505 apache-symlinks-blocked: files reached through a symbolic link under a served
//! directory are served: the `Options` of the directory holding the link allow following it
//! (`FollowSymLinks`, or `SymLinksIfOwnerMatch` with the same owner). The page: checks/MD505.md.

use super::shared::apache::{alias_for, ask, first_proven, model, served, vhost_maps, word};
use super::shared::nginx::{findings_or_pass, sample_file};
use super::{Band, Check, Context, Meta, Outcome};
use crate::fix::apache::{Goal, LineEdit, OptionsRewrite, Place};
use crate::report::Finding;
use std::path::Path;

pub struct ApacheSymlinksBlocked;

static APACHE_SYMLINKS_BLOCKED: Meta = Meta {
    id: "MD505",
    name: "apache-symlinks-blocked",
    band: Band::Apache,
    summary: "Apache follows the symbolic links under the served directories (FollowSymLinks)",
    docs: include_str!("../../checks/MD505.md"),
};

/// Entries looked at per served directory (the first levels, sorted): enough to find the links
/// a deployment makes (`current`, a shared uploads directory), bounded on a large tree.
const LOOK_AT: usize = 400;

impl Check for ApacheSymlinksBlocked {
    fn meta(&self) -> &'static Meta {
        &APACHE_SYMLINKS_BLOCKED
    }

    fn run(&self, cx: &Context<'_>) -> anyhow::Result<Outcome> {
        let (site, r) = match model(cx) {
            Ok(m) => m,
            Err(skip) => return Ok(skip),
        };
        let cfg = r.config();
        let prefixes = served(cx, site);
        let mut findings = Vec::new();
        let mut seen: Vec<String> = Vec::new();
        for (v, maps) in vhost_maps(site) {
            for p in &prefixes {
                let Some(dir) = &p.dir else { continue };
                // A file of the directory (the directory itself may be reached through a
                // link), then a file behind each link found under it.
                let mut names: Vec<String> =
                    sample_file(&cx.root, Path::new(dir)).into_iter().collect();
                for link in links_under(cx, Path::new(dir)) {
                    let behind = Path::new(dir).join(&link);
                    if cx.root.is_dir(&behind) {
                        if let Some(n) = sample_file(&cx.root, &behind) {
                            names.push(format!("{link}/{n}"));
                        }
                    } else {
                        names.push(link);
                    }
                }
                for name in names {
                    let uri = format!("{}{name}", p.url);
                    let res = ask(r, v, &uri);
                    let Some(link) = res.log.iter().find_map(|l| {
                        l.strip_prefix(
                            "AH00037: Symbolic link not allowed or link target not accessible: ",
                        )
                    }) else {
                        continue;
                    };
                    // A dangling link is a missing file, not an option to change.
                    if !cx.root.exists(Path::new(link)) {
                        continue;
                    }
                    if seen.contains(&format!("{v}{link}")) {
                        continue;
                    }
                    seen.push(format!("{v}{link}"));
                    let holder = Path::new(link)
                        .parent()
                        .map_or("/".into(), |h| h.display().to_string());
                    let f = Finding::error(format!(
                        "{uri} answers 403: {link} is a symbolic link and the Options of {holder} do not let Apache follow it (AH00037)"
                    ))
                    .evidence("url", &uri)
                    .evidence("symbolic link", link)
                    .evidence("predicted status", "403")
                    .evidence("error log", res.log.join(" | "));
                    let alias = alias_for(&maps, &p.url);
                    // After the Alias, else after the vhost's first plain directive (a new <Directory>
                    // cannot go inside another section).
                    let Some(anchor) =
                        alias.or_else(|| cfg.directive(v).children().find(|d| !d.is_section()))
                    else {
                        findings.push(f);
                        continue;
                    };
                    let holder_dir = format!("{}/", holder.trim_end_matches('/'));
                    // The Options of the <Directory> sections for that very directory decide
                    // (a new section before them would be overridden): edit them; else add one.
                    let exact: Vec<_> = cfg
                        .top()
                        .chain(cfg.directive(v).children())
                        .filter(|d| {
                            d.is_section()
                                && d.is("Directory")
                                && d.arg(0).is_some_and(|p| {
                                    format!("{}/", p.trim_end_matches('/')) == holder_dir
                                })
                        })
                        .collect();
                    let in_place: Vec<LineEdit> = exact
                        .iter()
                        .flat_map(|sec| sec.children().filter(|c| c.is("Options")))
                        .map(|o| LineEdit::options(&o, OptionsRewrite::FollowSymLinks))
                        .collect();
                    let added = LineEdit::at(
                        &anchor,
                        Place::After,
                        vec![
                            format!("<Directory {}>", word(&holder_dir)),
                            "    Options +FollowSymLinks".into(),
                            "</Directory>".into(),
                        ],
                    );
                    let mut candidates = Vec::new();
                    if !in_place.is_empty() {
                        candidates
                            .push((in_place, "let Apache follow the links in that directory:"));
                    }
                    candidates.push((
                        vec![added],
                        "let Apache follow the links in that directory:",
                    ));
                    let goal = Goal {
                        request: crate::fix::apache::request_on(cfg, Some(v), &uri),
                        status: 200,
                        path: None,
                        prefix: p.url.clone(),
                    };
                    findings.push(first_proven(
                        cx,
                        f,
                        &candidates,
                        std::slice::from_ref(&goal),
                    ));
                }
            }
        }
        Ok(findings_or_pass(
            findings,
            "no served file sits behind a symbolic link Apache refuses to follow",
        ))
    }
}

/// The symbolic links in the first two levels under `dir` (paths relative to it, sorted).
fn links_under(cx: &Context<'_>, dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut queue = vec![(dir.to_path_buf(), String::new(), 0)];
    let mut looked = 0;
    while let Some((d, rel, depth)) = queue.pop() {
        let Ok(rd) = cx.root.resolve(&d).and_then(std::fs::read_dir) else {
            continue;
        };
        let mut entries: Vec<_> = rd.filter_map(|e| e.ok()).collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            looked += 1;
            if looked > LOOK_AT {
                return out;
            }
            let Some(name) = e.file_name().to_str().map(str::to_string) else {
                continue;
            };
            let Ok(t) = e.file_type() else { continue };
            let rel_name = format!("{rel}{name}");
            if t.is_symlink() {
                out.push(rel_name);
            } else if t.is_dir() && depth < 1 {
                queue.push((d.join(&name), format!("{rel_name}/"), depth + 1));
            }
        }
    }
    out
}
