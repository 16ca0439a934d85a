//! MD202 parent-traversal: the nginx worker user can traverse every directory down to each served
//! root.
//! The page: checks/MD202.md.

use super::shared::fs::*;
use super::{Band, Check, Context, Meta, Outcome};
use crate::fs::identity::UserDb;
use crate::fs::walk::{self, grant_commands, walk_cached, walk_many_in, WalkCache};
use crate::fs::{Access, Outcome as WalkOutcome};
use crate::report::{Finding, Severity};
use std::path::PathBuf;

/// MD202: the worker can traverse every directory down to each served root.
/// Directories walked (and verified as the user by one child) at a time.
const WALKS_AT_ONCE: usize = 4096;

pub struct ParentTraversal;

static PARENT_TRAVERSAL: Meta = Meta {
    id: "MD202",
    name: "parent-traversal",
    band: Band::Filesystem,
    summary: "the nginx worker user can traverse every directory down to each served root",
    docs: include_str!("../../checks/MD202.md"),
};

impl Check for ParentTraversal {
    fn meta(&self) -> &'static Meta {
        &PARENT_TRAVERSAL
    }

    fn run(&self, site: &Context<'_>) -> anyhow::Result<Outcome> {
        super::collected(|sink| self.run_into(site, sink))
    }

    /// A finding per served directory (one site of 360,000 servers has as many), each handed
    /// over as it is made.
    fn run_into(
        &self,
        site: &Context<'_>,
        sink: &mut dyn FnMut(Finding),
    ) -> anyhow::Result<Outcome> {
        if let Some(c) = site
            .containers()
            .ok()
            .filter(|c| c.nginx_container().is_some())
        {
            // nginx runs in its container, as that image's user, on that container's files.
            return Ok(super::shared::containers::inside_containers(
                c,
                "nginx and the directories it serves are",
            ));
        }
        // The directories served and the user who walks them: Apache's when it is judged.
        let ServedFiles {
            who,
            source,
            dirs: served,
            ..
        } = match served_files(site) {
            Ok(s) => s,
            Err(o) => return Ok(o),
        };
        if served.is_empty() {
            return Ok(Outcome::skip(
                "no root/alias directory in the site's servers",
            ));
        }
        let db = UserDb::load(&site.root);
        // Whether every finding is an info (the summary says how many directories are reached).
        let mut clean = true;
        let mut push = |f: Finding| {
            clean &= f.severity == Severity::Info;
            sink(f)
        };
        let mut ok = 0;
        // A batch of walks at a time (one child verifies each batch as the user): one site of
        // 360,000 servers has as many directories, and their walks are not all held at once.
        // The walks without their display strings: only a denied or disagreeing one is shown,
        // and it is walked again with them (the same answer, from the same cache).
        let batches = (0..served.len()).step_by(WALKS_AT_ONCE);
        let walks = batches.flat_map(|start| {
            let end = (start + WALKS_AT_ONCE).min(served.len());
            let dirs: Vec<PathBuf> = (start..end).map(|i| served.dir(i).to_path_buf()).collect();
            let cache = WalkCache::new(&site.root);
            let mut walks = walk_many_in(&site.root, &cache, &dirs, who, Access::EXEC, false);
            for (w, dir) in walks.iter_mut().zip(&dirs) {
                if matches!(w.outcome, WalkOutcome::Denied { .. }) || !w.disagreements().is_empty()
                {
                    let verification = std::mem::replace(
                        &mut w.verification,
                        walk::Verification::NotVerified { why: String::new() },
                    );
                    *w = walk_cached(&site.root, &cache, dir, who, Access::EXEC, true);
                    w.verification = verification;
                }
            }
            walks
        });
        for ((dir, named_at), w) in served.iter().zip(walks) {
            for d in w.disagreements() {
                push(
                    with_walk(
                        Finding::warning(format!("metadata and kernel disagree: {d}")),
                        &w,
                    )
                    .at(named_at.clone()),
                );
            }
            match &w.outcome {
                WalkOutcome::Found { .. } => {
                    ok += 1;
                    push(Finding::info(format!(
                        "{} can reach {}",
                        who.name,
                        dir.display()
                    )));
                }
                WalkOutcome::Denied { at, needs } => {
                    let step = w.failing_step().expect("a denied walk has a failing step");
                    let cmds = grant_commands(step, who, |g| db.group_name(g));
                    let f = Finding::error(format!(
                        "{} cannot {} {} ({} {} {}), so every file under {} answers 403",
                        who.name,
                        if *needs == Access::EXEC {
                            "enter"
                        } else {
                            "use"
                        },
                        at.display(),
                        step.mode,
                        step.owner,
                        step.group,
                        dir.display()
                    ))
                    .at(named_at.clone())
                    .evidence("path", dir.display())
                    .evidence("denied at", at.display());
                    push(with_walk(f, &w).fix_either(
                        format!(
                            "give {} search (x) on {} only (this widens least; never chmod -R \
                             777):",
                            who.name,
                            at.display()
                        ),
                        cmds,
                    ));
                }
                WalkOutcome::CannotVerify { why, .. } => push(
                    Finding::warning(format!("cannot verify {}: {why}", dir.display()))
                        .at(named_at.clone()),
                ),
                other => push(
                    Finding::info(format!("{}: {other} (MD201 reports it)", dir.display()))
                        .at(named_at.clone()),
                ),
            }
        }
        let outcome = Outcome::default();
        Ok(if clean {
            outcome.with_summary(format!(
                "{} can reach {} served {} ({})",
                who.name,
                ok,
                if ok == 1 { "directory" } else { "directories" },
                source
            ))
        } else {
            outcome
        })
    }
}
