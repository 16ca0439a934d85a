//! MD205 static-collected: STATIC_ROOT is not empty and not older than the app's static sources.
//! The page: checks/MD205.md.

use super::shared::fs::*;
use super::{Band, Check, Context, Meta, Outcome};
use crate::app::Framework;
use crate::report::Finding;

/// MD205: STATIC_ROOT holds an up-to-date copy of the static sources.
pub struct StaticCollected;

static STATIC_COLLECTED: Meta = Meta {
    id: "MD205",
    name: "static-collected",
    band: Band::Filesystem,
    summary: "STATIC_ROOT is not empty and not older than the app's static sources",
    docs: include_str!("../../checks/MD205.md"),
};

/// Stop comparing after this many source files (a huge node_modules is not static sources).
const MAX_STATIC_SOURCES: usize = 200_000;

impl Check for StaticCollected {
    fn meta(&self) -> &'static Meta {
        &STATIC_COLLECTED
    }

    fn run(&self, site: &Context<'_>) -> anyhow::Result<Outcome> {
        if let Ok(c) = site.containers() {
            // collectstatic runs in the app container: MD604 and MD606 judge where it writes.
            return Ok(super::shared::containers::inside_containers(
                c,
                "STATIC_ROOT is",
            ));
        }
        let app = match app(site) {
            Ok(a) => a,
            Err(o) => return Ok(o),
        };
        if app.framework == Framework::Flask {
            return Ok(Outcome::skip(
                "Flask serves its static folder as it is: there is no collect step",
            ));
        }
        let Some(static_root) = setting_path(&app.static_root) else {
            return Ok(Outcome::skip(
                "STATIC_ROOT is not set: nothing is collected",
            ));
        };
        let at = setting_at(&app.static_root);
        let locate = |f: Finding| f.at(at.clone());
        let host_root = site.root.host_path(static_root);
        // With the app's own interpreter, as the app's user; never a guessed `python`.
        let (collect, how) = match crate::fix::commands::manage_py(app, "collectstatic --noinput") {
            Ok(cmd) => (vec![cmd], String::new()),
            Err(why) => (
                Vec::new(),
                format!(
                    " (run `manage.py collectstatic --noinput` in {} with the Python that runs the app, as its user: {why})",
                    app.dir.display()
                ),
            ),
        };
        if !host_root.is_dir() {
            return Ok(Outcome::findings(vec![locate(Finding::error(format!(
                "STATIC_ROOT {} does not exist: collectstatic has not run",
                static_root.display()
            )))
            .fix(format!("collect the static files{how}:"), collect.clone())]));
        }
        let empty = std::fs::read_dir(&host_root)
            .map(|mut d| d.next().is_none())
            .unwrap_or(false);
        if empty {
            return Ok(Outcome::findings(vec![locate(Finding::error(format!(
                "STATIC_ROOT {} is empty: collectstatic has not run",
                static_root.display()
            )))
            .fix(format!("collect the static files{how}:"), collect.clone())]));
        }
        let (mut compared, mut missing, mut stale) = (0u64, Vec::new(), Vec::new());
        let (mut n_missing, mut n_stale) = (0u64, 0u64);
        // A source on storage nginx's mounts do not show is not read in its view (another
        // file or none there): compared with nothing, it could not pass.
        let mut unseen = Vec::new();
        for src in &app.static_sources {
            if let Some(u) = app.unseen(src) {
                unseen.push(u.why.clone());
                continue;
            }
            let host_src = site.root.host_path(src);
            for entry in walkdir::WalkDir::new(&host_src)
                .follow_links(true)
                .into_iter()
                .filter_map(Result::ok)
                .filter(|e| e.file_type().is_file())
                .take(MAX_STATIC_SOURCES)
            {
                let Ok(rel) = entry.path().strip_prefix(&host_src) else {
                    continue;
                };
                compared += 1;
                let target = host_root.join(rel);
                let src_mtime = entry.metadata().ok().and_then(|m| m.modified().ok());
                match std::fs::metadata(&target).and_then(|m| m.modified()) {
                    Err(_) => {
                        n_missing += 1;
                        if missing.len() < 10 {
                            missing.push(src.join(rel));
                        }
                    }
                    Ok(t) if src_mtime.is_some_and(|s| s > t) => {
                        n_stale += 1;
                        if stale.len() < 10 {
                            stale.push(src.join(rel));
                        }
                    }
                    Ok(_) => {}
                }
            }
        }
        if n_missing == 0 && n_stale == 0 && !unseen.is_empty() {
            // What was compared, so that a skip does not hide how much was judged.
            let total = app.static_sources.len() as u64;
            let seen = total - unseen.len() as u64;
            let (which, others) = match seen {
                0 => (
                    format!("its {}", plural(total, "static source", "static sources")),
                    "no source file was compared".to_string(),
                ),
                _ => (
                    format!("{} of its {total} static sources", unseen.len()),
                    format!(
                        "the {} of the other {seen} {} collected and up to date",
                        plural(compared, "source file", "source files"),
                        if compared == 1 { "is" } else { "are" }
                    ),
                ),
            };
            return Ok(Outcome::skip(format!(
                "STATIC_ROOT {} cannot be compared with {which}: {}; {others}",
                static_root.display(),
                unseen.join("; ")
            )));
        }
        if n_missing == 0 && n_stale == 0 {
            return Ok(Outcome::pass(if compared == 0 {
                format!("STATIC_ROOT {} is populated", static_root.display())
            } else {
                format!(
                    "STATIC_ROOT {} is up to date with {}",
                    static_root.display(),
                    plural(compared, "source file", "source files")
                )
            }));
        }
        let mut f = Finding::error(format!(
            "STATIC_ROOT {} is behind the static sources: {} missing, {} older than the source \
             (404 or old assets)",
            static_root.display(),
            plural(n_missing, "file", "files"),
            plural(n_stale, "file", "files"),
        ))
        .evidence("static_missing", n_missing)
        .evidence("static_stale", n_stale);
        if !missing.is_empty() {
            f = f.evidence_lines("missing", paths(&missing));
        }
        if !stale.is_empty() {
            f = f.evidence_lines("stale", paths(&stale));
        }
        Ok(Outcome::findings(vec![locate(f).fix(
            format!("collect again (and make it part of every deploy){how}:"),
            collect,
        )]))
    }
}
