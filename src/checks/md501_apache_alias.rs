//! MD501 apache-alias: every `Alias /x/ DIR` maps its URLs into DIR (the trailing slashes
//! agree) and a `<Directory>` grants DIR (else 403, AH01630). The page: checks/MD501.md.

use super::shared::apache::{
    ask, directory_lines, first_proven, loc, model, place, status_text, vhost_maps, word,
};
use super::shared::nginx::{exists, findings_or_pass, sample_file};
use super::{Band, Check, Context, Meta, Outcome};
use crate::apache::{Directive, NodeId};
use crate::fix::apache::{Goal, LineEdit, Place};
use crate::report::Finding;
use std::path::PathBuf;

pub struct ApacheAlias;

static APACHE_ALIAS: Meta = Meta {
    id: "MD501",
    name: "apache-alias",
    band: Band::Apache,
    summary:
        "every Apache `Alias` maps into its directory (slashes agree) and a `<Directory>` grants it",
    docs: include_str!("../../checks/MD501.md"),
};

impl Check for ApacheAlias {
    fn meta(&self) -> &'static Meta {
        &APACHE_ALIAS
    }

    fn run(&self, cx: &Context<'_>) -> anyhow::Result<Outcome> {
        let (site, r) = match model(cx) {
            Ok(m) => m,
            Err(skip) => return Ok(skip),
        };
        let mut findings = Vec::new();
        let mut seen: Vec<NodeId> = Vec::new();
        for (v, maps) in vhost_maps(site) {
            for a in maps.iter().filter(|d| d.is("Alias")) {
                if seen.contains(&a.id()) {
                    continue;
                }
                seen.push(a.id());
                let (Some(from), Some(to)) = (a.arg(0), a.arg(1)) else {
                    continue;
                };
                if let Some(f) = judge(cx, r, v, a, from, to) {
                    findings.push(f);
                }
            }
        }
        Ok(findings_or_pass(
            findings,
            "every Alias maps its URLs into its directory, and a <Directory> grants it",
        ))
    }
}

/// One `Alias from to` on the virtual host `v`.
fn judge(
    cx: &Context<'_>,
    r: &crate::apache::resolve::Resolver<'_>,
    v: NodeId,
    a: &Directive<'_>,
    from: &str,
    to: &str,
) -> Option<Finding> {
    let dir = format!("{}/", to.trim_end_matches('/'));
    let slash_missing = from.ends_with('/') && !to.ends_with('/');
    let name = sample_file(&cx.root, &PathBuf::from(&dir)).unwrap_or_else(|| "a.jpg".into());
    let base = if from.ends_with('/') {
        from.to_string()
    } else {
        format!("{from}/")
    };
    let uri = format!("{base}{name}");
    let res = ask(r, v, &uri);
    // Another mapping takes the URL first (a ProxyPass): MD502's finding, not this one.
    if res.mapping != Some(a.id()) {
        return None;
    }
    // Denied for want of a grant only where the directory exists: under a missing directory
    // Apache applies the sections of the part that exists (`<Directory />`'s denial), whatever
    // grants the missing one (MD201 says it is missing).
    let denied = res.log.iter().any(|l| l.starts_with("AH01630"))
        && cx.root.is_dir(std::path::Path::new(&dir));
    if !slash_missing && !denied {
        return None;
    }
    let meant = PathBuf::from(format!("{dir}{name}"));
    let opened = res
        .path
        .as_deref()
        .map_or("nothing".into(), |p| p.display().to_string());
    let message = if slash_missing {
        format!("`Alias {from} {to}` has no trailing slash on the directory: {uri} opens {opened}")
    } else {
        format!(
            "no <Directory> grants {dir} (`Alias {from}` at {}): Apache denies every file under it (403, AH01630)",
            place(a)
        )
    };
    let mut f = Finding::error(message)
        .at(loc(a))
        .evidence("alias", format!("Alias {from} {to} ({})", place(a)))
        .evidence("url", &uri)
        .evidence("apache opens", &opened)
        .evidence("predicted status", status_text(res.predicted_status));
    for l in &res.log {
        f = f.evidence("error log", l);
    }
    let real = exists(&cx.root, &meant);
    if real {
        f = f.evidence("the file is at", format!("{} (exists)", meant.display()));
    }
    for other in granting_elsewhere(r.config(), v, &dir) {
        f = f.evidence(
            "a <Directory> on another path",
            format!(
                "<Directory {}> at {} grants that path, not {dir}",
                other.0, other.1
            ),
        );
    }
    let slash_edit = LineEdit::at(
        a,
        Place::Replace,
        vec![format!("Alias {} {}", word(from), word(&dir))],
    );
    let dir_edit = LineEdit::at(a, Place::After, directory_lines(&dir));
    let goal = Goal {
        request: crate::fix::apache::request_on(r.config(), Some(v), &uri),
        status: if real { 200 } else { 404 },
        path: Some(meant),
        prefix: base,
    };
    let candidates: Vec<(Vec<LineEdit>, &str)> = if slash_missing {
        vec![
            (
                vec![slash_edit.clone()],
                "end the directory with a slash, like the URL path:",
            ),
            (
                vec![slash_edit, dir_edit],
                "end the directory with a slash, like the URL path, and grant it (no <Directory> does):",
            ),
        ]
    } else {
        vec![(vec![dir_edit], "grant the directory the Alias serves:")]
    };
    Some(first_proven(
        cx,
        f,
        &candidates,
        std::slice::from_ref(&goal),
    ))
}

/// `<Directory>` sections (the main server's and `v`'s) that grant a path which is not `dir`
/// nor one of its parents: most often the one meant for `dir`, written for another path.
fn granting_elsewhere(cfg: &crate::apache::Config, v: NodeId, dir: &str) -> Vec<(String, String)> {
    let vhost = cfg.directive(v);
    let served: Vec<String> = cfg
        .top()
        .chain(vhost.children())
        .filter(|d| d.is("Alias") || d.is("DocumentRoot"))
        .filter_map(|d| d.args().last())
        .map(|t| format!("{}/", t.trim_end_matches('/')))
        .filter(|t| t != dir)
        .collect();
    cfg.top()
        .chain(vhost.children())
        .filter(|d| d.is_section() && d.is("Directory") && d.arg(0) != Some("~"))
        .filter(|d| {
            d.children().any(|c| {
                c.is("Require")
                    && c.arg(0).is_some_and(|a| a.eq_ignore_ascii_case("all"))
                    && c.arg(1).is_some_and(|a| a.eq_ignore_ascii_case("granted"))
            })
        })
        .filter_map(|d| {
            let p = d.arg(0)?;
            let with = format!("{}/", p.trim_end_matches('/'));
            // A section over something served (another Alias's directory, a DocumentRoot) is
            // there for that; only one that serves nothing is likely the one meant for `dir`.
            let serves_other = served
                .iter()
                .any(|s| s.starts_with(&with) || with.starts_with(s.as_str()));
            (!dir.starts_with(&with) && !serves_other).then(|| (p.to_string(), place(&d)))
        })
        .collect()
}
