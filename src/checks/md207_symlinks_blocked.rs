//! MD207 symlinks-blocked: no served path goes through a symlink that disable_symlinks blocks.
//! The page: checks/MD207.md.

use super::shared::fs::*;
use super::{Band, Check, Context, Meta, Outcome};
use crate::fs::walk::shell_quote;
use crate::nginx::{Directive, NodeId};
use crate::report::Finding;
use crate::site::Site;

/// MD207: `disable_symlinks` is off, or no served path goes through a symlink.
pub struct SymlinksBlocked;

static SYMLINKS_BLOCKED: Meta = Meta {
    id: "MD207",
    name: "symlinks-blocked",
    band: Band::Filesystem,
    summary: "no served path goes through a symlink that disable_symlinks blocks",
    docs: include_str!("../../checks/MD207.md"),
};

impl Check for SymlinksBlocked {
    fn meta(&self) -> &'static Meta {
        &SYMLINKS_BLOCKED
    }

    fn run(&self, site: &Context<'_>) -> anyhow::Result<Outcome> {
        let set: Vec<Directive<'_>> = symlink_settings(site);
        if set.is_empty() {
            return Ok(Outcome::pass(
                "disable_symlinks is not set (nginx's default: off)",
            ));
        }
        let who = match worker(site) {
            Ok(w) => w,
            Err(o) => return Ok(o),
        };
        let resolver = site.resolver();
        let served = site.served_dirs();
        let mut findings = Vec::new();
        // Served directories with nothing to ask the resolver about (no readable file, no
        // symlink): not judged, and said so, rather than passed.
        let (mut tested, mut untested) = (0usize, Vec::new());
        for s in served {
            if !site.root.is_dir(s.dir) {
                continue;
            }
            // Ask the resolver (which applies disable_symlinks as nginx does) about a real file,
            // and about a symlink inside the tree.
            let scan = site.fs.scan(&site.root, s.dir, who, &scan_options(site));
            if scan.sample_file.is_none() && scan.symlink_examples.is_empty() {
                untested.push(s.dir.display().to_string());
                continue;
            }
            tested += 1;
            let probes = scan
                .sample_file
                .iter()
                .map(|p| (p, false))
                .chain(scan.symlink_examples.first().map(|p| (p, true)));
            for (file, is_link) in probes {
                let Some(url) = s.url_for(file) else {
                    continue;
                };
                let res = s.resolve(&resolver, &url);
                // The file is there and readable when symlinks are followed, yet nginx fails:
                // disable_symlinks. A symlinked directory on the way fails openat(O_NOFOLLOW|
                // O_DIRECTORY) with ENOTDIR (404); a symlink as the file itself with ELOOP (403).
                let status = res.predicted_status.unwrap_or(0);
                let blocked = matches!(status, 403 | 404)
                    && res
                        .walk
                        .as_ref()
                        .is_some_and(|w| w.outcome.is_found() && w.symlinks().next().is_some());
                if !blocked {
                    continue;
                }
                let link = res
                    .walk
                    .as_ref()
                    .and_then(|w| w.symlinks().next())
                    .map(|l| l.path.display().to_string())
                    .unwrap_or_default();
                let message = if is_link {
                    format!(
                        "{} under {} answer {status}: disable_symlinks forbids them ({url})",
                        plural(scan.symlinks, "symlink", "symlinks"),
                        s.dir.display()
                    )
                } else {
                    format!(
                        "every file under {} answers {status}: disable_symlinks is on and {link} \
                         is a symlink",
                        s.dir.display()
                    )
                };
                let mut f = if is_link {
                    Finding::warning(message)
                } else {
                    Finding::error(message)
                }
                .at(s.at(site.config()))
                .evidence("url", &url)
                .evidence("nginx", &res.reason)
                .evidence_lines(
                    "disable_symlinks",
                    set.iter().map(|d| {
                        format!(
                            "{} at {}",
                            d.args().collect::<Vec<_>>().join(" "),
                            d.location()
                        )
                    }),
                );
                if let Some(w) = &res.walk {
                    f = with_walk(f, w);
                }
                // The directory itself lies behind a symlink: serve it by its real path.
                let real = super::shared::app::real(site, s.dir);
                let edit = s
                    .location
                    .filter(|_| !is_link && !s.regex && *real != *s.dir)
                    .and_then(|l| super::shared::nginx::alias_edit(site.config(), l, &real));
                if let Some(edit) = edit {
                    let goal = super::shared::nginx::goal_in_dir(
                        site, &resolver, s.server, s.prefix, &real,
                    );
                    findings.push(super::shared::nginx::config_fix(
                        f,
                        site.config(),
                        &format!(
                            "serve {} from the real directory, {} (no symlink on the way):",
                            s.prefix,
                            real.display()
                        ),
                        edit,
                        goal,
                    ));
                    continue;
                }
                findings.push(f.fix(
                    format!(
                        "point the {} at the real directory (readlink -f prints it), or exempt the \
                         part of the path you control: `disable_symlinks on from=$document_root;`",
                        s.kind
                    ),
                    vec![format!(
                        "readlink -f {}",
                        shell_quote(&s.dir.display().to_string())
                    )],
                ));
            }
        }
        if findings.is_empty() && tested == 0 && !untested.is_empty() {
            return Ok(Outcome::skip(format!(
                "no file {} can read under {} to test disable_symlinks with (see MD203)",
                who.name,
                untested.join(", ")
            )));
        }
        let mut clean = "no served file goes through a blocked symlink".to_string();
        if !untested.is_empty() {
            clean.push_str(&format!(
                " (not tested: {}, no file {} can read there)",
                untested.join(", "),
                who.name
            ));
        }
        Ok(Outcome::findings(findings).with_summary_if_clean(clean))
    }
}

/// The `disable_symlinks` (not `off`) that apply to the site's servers: of the main and http
/// contexts and of the site's own server blocks, includes expanded (another site's
/// `disable_symlinks` is not ours), in the order a walk from the top meets them.
fn symlink_settings(site: &Site) -> Vec<Directive<'_>> {
    let cfg = site.config();
    if cfg.files.is_empty() {
        return Vec::new();
    }
    let ours: std::collections::HashSet<_> = site.nginx.servers.iter().copied().collect();
    let all = site.per_box("md207 disable_symlinks", || every_setting(site));
    all.iter()
        .filter(|(_, under)| under.iter().all(|s| ours.contains(s)))
        .map(|&(id, _)| cfg.directive(id))
        .collect()
}

/// Every `disable_symlinks` (not `off`) of the config as a walk from the top meets it (a
/// snippet's once per block that includes it), with the server blocks it is met under: walked
/// once per box, each site keeps those under its own servers.
fn every_setting(site: &Site) -> Vec<(NodeId, Vec<NodeId>)> {
    let cfg = site.config();
    // Most configs never set it: no walk then.
    if !cfg.any_named("disable_symlinks") {
        return Vec::new();
    }
    // The server blocks around a directive, as indexes into `paths`.
    let mut paths: Vec<Vec<NodeId>> = vec![Vec::new()];
    let mut out = Vec::new();
    let mut stack: Vec<(Directive<'_>, usize)> = cfg.top().map(|d| (d, 0)).collect();
    while let Some((d, path)) = stack.pop() {
        let path = if d.is("server") && d.has_block() {
            let mut p = paths[path].clone();
            p.push(d.id());
            paths.push(p);
            paths.len() - 1
        } else {
            path
        };
        stack.extend(d.children().map(|c| (c, path)));
        if d.is("disable_symlinks") && d.arg(0).is_some_and(|a| a != "off") {
            out.push((d.id(), paths[path].clone()));
        }
    }
    out
}
