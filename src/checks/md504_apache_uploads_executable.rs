//! MD504 apache-uploads-executable: no handler runs uploaded files (PHP through mod_php or
//! PHP-FPM, `cgi-script`, FastCGI) in the uploads directory. The page: checks/MD504.md.

use super::shared::apache::{
    alias_for, ask, first_proven, loc, model, place, uploads, vhost_maps, word,
};
use super::shared::nginx::{findings_or_pass, sample_file_where};
use super::{Band, Check, Context, Meta, Outcome};
use crate::apache::{Config, Directive, NodeId};
use crate::fix::apache::{Goal, LineEdit, Place};
use crate::report::Finding;
use std::path::PathBuf;

pub struct ApacheUploadsExecutable;

static APACHE_UPLOADS_EXECUTABLE: Meta = Meta {
    id: "MD504",
    name: "apache-uploads-executable",
    band: Band::Apache,
    summary: "no PHP, CGI or FastCGI handler runs uploaded files in the uploads directory",
    docs: include_str!("../../checks/MD504.md"),
};

/// What uploads must never be run as, in Apache's words: the handler or type names.
fn executes(handler: &str) -> bool {
    let h = handler.to_ascii_lowercase();
    h.contains("php") || h.contains("cgi-script") || h.contains("fcgid") || h.starts_with("proxy:")
}

/// The suffixes the fix refuses in the uploads directory.
const SCRIPT_SUFFIXES: &str = "\\.(?i:php[0-9]?|phar|phtml|cgi|pl|py|sh)$";

impl Check for ApacheUploadsExecutable {
    fn meta(&self) -> &'static Meta {
        &APACHE_UPLOADS_EXECUTABLE
    }

    fn run(&self, cx: &Context<'_>) -> anyhow::Result<Outcome> {
        let (site, r) = match model(cx) {
            Ok(m) => m,
            Err(skip) => return Ok(skip),
        };
        let cfg = r.config();
        let media = match uploads(cx, site) {
            Ok(m) => m,
            Err(skip) => return Ok(skip),
        };
        let mut findings = Vec::new();
        for (v, maps) in vhost_maps(site) {
            for p in &media {
                let Some(dir) = p
                    .dir
                    .as_ref()
                    .map(|d| format!("{}/", d.trim_end_matches('/')))
                else {
                    continue;
                };
                let handlers = handlers_for(cfg, v, &dir);
                let Some(first) = handlers.first() else {
                    continue;
                };
                let name = sample_file_where(&cx.root, &PathBuf::from(&dir), |n| {
                    pcre2::bytes::Regex::new(SCRIPT_SUFFIXES)
                        .is_ok_and(|re| re.is_match(n.as_bytes()).unwrap_or(false))
                })
                .unwrap_or_else(|| "upload.php".into());
                let uri = format!("{}{name}", p.url);
                let res = ask(r, v, &uri);
                // Refused by the configuration before any handler runs (a <FilesMatch> with
                // `Require all denied` over scripts): protected.
                if res.path.is_none() || res.log.iter().any(|l| l.starts_with("AH01630")) {
                    continue;
                }
                let mut f = Finding::error(format!(
                    "an uploaded {name} under {} would be run, not served: `{} {}` at {} applies to {dir}",
                    p.url,
                    first.name(),
                    first.args().collect::<Vec<_>>().join(" "),
                    place(first)
                ))
                .at(loc(first))
                .evidence("url", &uri);
                for h in &handlers {
                    f = f.evidence(
                        "handler",
                        format!(
                            "{} {} ({})",
                            h.name(),
                            h.args().collect::<Vec<_>>().join(" "),
                            place(h)
                        ),
                    );
                }
                let alias = alias_for(&maps, &p.url);
                let vhost = cfg.directive(v);
                // After the Alias, else after the vhost's first plain directive (a new <Directory>
                // cannot go inside another section).
                let Some(anchor) = alias.or_else(|| vhost.children().find(|d| !d.is_section()))
                else {
                    findings.push(f);
                    continue;
                };
                let edit = LineEdit::at(
                    &anchor,
                    Place::After,
                    vec![
                        format!("<Directory {}>", word(&dir)),
                        format!("    <FilesMatch \"{SCRIPT_SUFFIXES}\">"),
                        "        Require all denied".into(),
                        "    </FilesMatch>".into(),
                        "</Directory>".into(),
                    ],
                );
                let goal = Goal {
                    request: crate::fix::apache::request_on(cfg, Some(v), &uri),
                    status: 403,
                    path: None,
                    prefix: p.url.clone(),
                };
                findings.push(first_proven(
                    cx,
                    f,
                    &[(
                        vec![edit],
                        "refuse scripts in the uploads directory (a <Files> section nested in its <Directory> is merged after the handler's):",
                    )],
                    std::slice::from_ref(&goal),
                ));
            }
        }
        Ok(findings_or_pass(findings, "no handler runs uploaded files"))
    }
}

/// The directives that hand files in `dir` to a program: `SetHandler`, `AddHandler`, `AddType`
/// naming PHP, CGI or FastCGI, at the main server's and `v`'s level, in their `<Files>`/
/// `<FilesMatch>` sections, and in `<Directory>` sections over `dir` (with what they nest).
fn handlers_for<'c>(cfg: &'c Config, v: NodeId, dir: &str) -> Vec<Directive<'c>> {
    let vhost = cfg.directive(v);
    let mut out = Vec::new();
    for d in cfg.top().chain(vhost.children()) {
        let applies = !d.is_section()
            || d.is("Files")
            || d.is("FilesMatch")
            || (d.is("Directory")
                && d.arg(0).is_some_and(|p| {
                    p != "~" && dir.starts_with(&format!("{}/", p.trim_end_matches('/')))
                }));
        if !applies {
            continue;
        }
        let items: Vec<Directive<'c>> = if d.is_section() {
            d.descendants().collect()
        } else {
            vec![d]
        };
        for h in items {
            let hands = (h.is("SetHandler") || h.is("AddHandler") || h.is("AddType"))
                && h.arg(0).is_some_and(executes);
            if hands {
                out.push(h);
            }
        }
    }
    out
}
