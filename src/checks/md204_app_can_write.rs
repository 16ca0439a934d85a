//! MD204 app-can-write: the app's user can create files in MEDIA_ROOT and its subdirectories.
//! The page: checks/MD204.md.

use super::shared::fs::*;
use super::{Band, Check, Context, Meta, Outcome};
use crate::app::App;
use crate::fs::identity::{app_identity, UserDb};
use crate::fs::scan::{self};
use crate::fs::walk::{self, grant_commands, shell_quote, walk};
use crate::fs::{Access, Identity, Outcome as WalkOutcome};
use crate::report::Finding;
use crate::site::Site;
use std::path::Path;

/// The app's user, resolved under the root.
fn app_user(site: &Site, app: &App) -> Result<Identity, Outcome> {
    let Some(user) = app.user.as_deref() else {
        return Err(Outcome::skip(
            "the app's user is unknown (no User= in its systemd unit, no profile, no running process)",
        ));
    };
    app_identity(&site.root, user, app.group.as_deref())
        .map_err(|e| Outcome::skip(format!("the app's user: {e:#}")))
}

/// MD204: the app's user can create files in MEDIA_ROOT (and its existing subdirectories).
pub struct AppCanWrite;

static APP_CAN_WRITE: Meta = Meta {
    id: "MD204",
    name: "app-can-write",
    band: Band::Filesystem,
    summary: "the app's user can create files in MEDIA_ROOT and its subdirectories",
    docs: include_str!("../../checks/MD204.md"),
};

const CREATE: Access = Access::WRITE.union(Access::EXEC);

impl Check for AppCanWrite {
    fn meta(&self) -> &'static Meta {
        &APP_CAN_WRITE
    }

    fn run(&self, site: &Context<'_>) -> anyhow::Result<Outcome> {
        if let Ok(c) = site.containers() {
            // The app writes as its container's user: MD605 follows the owner through the image.
            return Ok(super::shared::containers::inside_containers(
                c,
                "the app and its media directory are",
            ));
        }
        let (app, media) = match local_media_root(site) {
            Ok(found) => found,
            Err(o) => return Ok(o),
        };
        let who = match app_user(site, app) {
            Ok(w) => w,
            Err(o) => return Ok(o),
        };
        let at = setting_at(&app.media_root);
        let locate = |f: Finding| f.at(at.clone());
        let db = UserDb::load(&site.root);
        let mut findings = Vec::new();
        let w = walk(&site.root, media, &who, CREATE);
        for d in w.disagreements() {
            findings.push(locate(with_walk(
                Finding::warning(format!("metadata and kernel disagree: {d}")),
                &w,
            )));
        }
        match &w.outcome {
            WalkOutcome::Found { .. } => {}
            WalkOutcome::Missing { at: missing } if missing == media => {
                // Django creates MEDIA_ROOT on the first upload when it may write the parent.
                let parent = media.parent().unwrap_or(Path::new("/"));
                let pw = walk(&site.root, parent, &who, CREATE);
                if pw.outcome.is_found() {
                    return Ok(Outcome::findings(vec![locate(Finding::info(format!(
                        "MEDIA_ROOT {} does not exist yet; {} may create it in {}",
                        media.display(),
                        who.name,
                        parent.display()
                    )))])
                    .with_summary(format!("{} can create MEDIA_ROOT", who.name)));
                }
                findings.push(
                    locate(with_walk(
                        Finding::error(format!(
                            "MEDIA_ROOT {} does not exist and {} cannot create it",
                            media.display(),
                            who.name
                        )),
                        &pw,
                    ))
                    .fix(
                        "create it owned by the app's user:",
                        vec![format!(
                            "sudo install -d -o {} -g {} -m 2775 {}",
                            who.name,
                            db.group_name(who.gid),
                            shell_quote(&media.display().to_string())
                        )],
                    ),
                );
                return Ok(Outcome::findings(findings));
            }
            WalkOutcome::Denied { at: denied, needs } => {
                let step = w.failing_step().expect("a denied walk has a failing step");
                let cmds = if denied == media {
                    vec![
                        format!(
                            "sudo chown -R {}:{} {}",
                            who.name,
                            db.group_name(who.gid),
                            shell_quote(&media.display().to_string())
                        ),
                        grant_commands(step, &who, |g| db.group_name(g))
                            .into_iter()
                            .next()
                            .unwrap_or_default(),
                    ]
                } else {
                    grant_commands(step, &who, |g| db.group_name(g))
                };
                findings.push(locate(with_walk(
                    Finding::error(format!(
                        "{} (the app's user) cannot create files in MEDIA_ROOT {}: it lacks {needs} on {} ({} {} {}); uploads fail with PermissionError",
                        who.name,
                        media.display(),
                        denied.display(),
                        step.mode,
                        step.owner,
                        step.group
                    ))
                    .evidence(
                        "app user",
                        match app.user_source.as_deref() {
                            Some(from) => format!("{} ({from})", who.name),
                            None => who.name.clone(),
                        },
                    ),
                    &w,
                ))
                .fix_either("give the app's user write access (the usual layout: media owned by the app):", cmds));
                return Ok(Outcome::findings(findings));
            }
            other => {
                findings.push(locate(Finding::warning(format!(
                    "MEDIA_ROOT {}: {other}",
                    media.display()
                ))));
                return Ok(Outcome::findings(findings));
            }
        }
        // A read-only mount refuses writes whatever the mode says.
        if let Ok(vfs) = nix::sys::statvfs::statvfs(&site.root.host_path(media)) {
            if vfs.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY) {
                findings.push(locate(
                    Finding::error(format!(
                        "MEDIA_ROOT {} is on a read-only filesystem",
                        media.display()
                    ))
                    .fix(
                        "mount a writable volume there (container: a volume, not the image):",
                        vec![],
                    ),
                ));
            }
        }
        // Upload subdirectories (upload_to dates, user folders) made by hand or by root.
        let opts = scan::Options {
            dirs_only: true,
            dir_needs: CREATE,
            progress: site.progress,
            ..Default::default()
        };
        let s = site.fs.scan(&site.root, media, &who, &opts);
        let bad = s.dirs_untraversable;
        if bad > 0 {
            let lines: Vec<String> = s
                .untraversable_examples
                .iter()
                .map(|e| {
                    format!(
                        "{} {} {} {}",
                        e.mode,
                        db.user_name(e.uid),
                        db.group_name(e.gid),
                        e.path.display()
                    )
                })
                .collect();
            let q = shell_quote(&media.display().to_string());
            findings.push(
                locate(
                    Finding::error(format!(
                        "{} under MEDIA_ROOT {} {} not writable by {}: uploads into {} fail",
                        plural(bad, "directory", "directories"),
                        media.display(),
                        if bad == 1 { "is" } else { "are" },
                        who.name,
                        if bad == 1 { "it" } else { "them" }
                    ))
                    .evidence("dirs_unwritable", bad)
                    .evidence_lines("directories", lines),
                )
                .fix(
                    "give them back to the app's user:",
                    vec![format!(
                        "sudo find {q} -type d ! -user {} -exec chown {}:{} {{}} +",
                        who.name,
                        who.name,
                        db.group_name(who.gid)
                    )],
                ),
            );
        }
        if findings.is_empty() {
            let how = match &w.verification {
                walk::Verification::Kernel { .. } => " (verified as the user)",
                walk::Verification::NotVerified { .. } => "",
            };
            return Ok(Outcome::pass(format!(
                "{} can create files in {} and its {}{how}",
                who.name,
                media.display(),
                plural(s.dirs.saturating_sub(1), "subdirectory", "subdirectories")
            )));
        }
        Ok(Outcome::findings(findings))
    }
}
