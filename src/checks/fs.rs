//! MD2xx: the filesystem, on the real files, as the real users (nginx's worker, the app's user).
//!
//! Every check here reads the tree through fs::walk (one path) or fs::scan (a whole tree); the
//! decisions come from the metadata as the kernel makes them, and on the live system as root they
//! are checked as the user (a disagreement is itself a finding).

use super::nginx_common::sample_file_where;
use super::{Band, Check, Context, Meta, Outcome};
use crate::app::{App, Framework};
use crate::fs::identity::{app_identity, UserDb};
use crate::fs::scan::{self, group_digits, Scan};
use crate::fs::walk::{self, grant_commands, shell_quote, walk, walk_many, walk_unverified, Walk};
use crate::fs::{mac, Access, Identity, Outcome as WalkOutcome};
use crate::nginx::resolve::served::{outermost, ServedDir};
use crate::nginx::resolve::{Request, Resolution, Resolver};
use crate::nginx::Directive;
use crate::report::{Finding, Location};
use crate::site::Site;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

pub static CHECKS: &[&dyn Check] = &[
    &RootsExist,
    &ParentTraversal,
    &FilesReadable,
    &AppCanWrite,
    &StaticCollected,
    &EphemeralStorage,
    &SymlinksBlocked,
    &MacPolicy,
    &MediaStaticOverlap,
    &ProbeFile,
];

const NO_APP: &str = "no app settings found";

fn worker(site: &Site) -> Result<&Identity, Outcome> {
    site.worker.identity().map_err(Outcome::skip)
}

fn app(site: &Site) -> Result<&App, Outcome> {
    site.app.as_ref().ok_or_else(|| Outcome::skip(NO_APP))
}

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

/// The app and its MEDIA_ROOT on this disk, or why a check of the media tree has nothing to look at.
fn local_media_root(site: &Site) -> Result<(&App, &Path), Outcome> {
    let app = app(site)?;
    if let Some(backend) = &app.remote_media_storage {
        return Err(Outcome::skip(format!(
            "media is stored remotely ({backend}): nothing is written to this disk"
        )));
    }
    let media =
        setting_path(&app.media_root).ok_or_else(|| Outcome::skip("MEDIA_ROOT is not known"))?;
    Ok((app, media))
}

fn setting_path(s: &crate::app::Setting<PathBuf>) -> Option<&Path> {
    s.value().map(PathBuf::as_path)
}

fn setting_at(s: &crate::app::Setting<PathBuf>) -> Option<Location> {
    s.at().cloned()
}

fn scan_options(site: &Site) -> scan::Options {
    scan::Options {
        progress: site.progress,
        ..Default::default()
    }
}

/// Attach a walk as evidence: the `namei -l` rendering.
fn with_walk(f: Finding, w: &Walk) -> Finding {
    let f = f.evidence("walk", w.render());
    match &w.verification {
        walk::Verification::Kernel { says, .. } => {
            f.evidence(format!("kernel as {}", w.user), says)
        }
        walk::Verification::NotVerified { .. } => f,
    }
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{} {}", group_digits(n), if n == 1 { one } else { many })
}

// ---------------------------------------------------------------------------------------------

/// MD201: every root/alias target, MEDIA_ROOT and STATIC_ROOT exists and is a directory.
pub struct RootsExist;

static ROOTS_EXIST: Meta = Meta {
    id: "MD201",
    name: "roots-exist",
    band: Band::Filesystem,
    summary: "every root/alias target, MEDIA_ROOT and STATIC_ROOT exists and is a directory",
    docs: include_str!("../../checks/MD201.md"),
};

impl Check for RootsExist {
    fn meta(&self) -> &'static Meta {
        &ROOTS_EXIST
    }

    fn run(&self, site: &Context<'_>) -> anyhow::Result<Outcome> {
        let served = site.served_dirs();
        let mut targets: Vec<(PathBuf, String, Option<Location>)> = served
            .iter()
            .map(|s| {
                let what = format!("{} of location {}", s.kind, s.prefix);
                (s.dir.clone(), what, Some(s.at.clone()))
            })
            .collect();
        if let Some(app) = &site.app {
            for (name, s) in [
                ("MEDIA_ROOT", &app.media_root),
                ("STATIC_ROOT", &app.static_root),
            ] {
                if let Some(p) = setting_path(s) {
                    targets.push((p.to_path_buf(), name.to_string(), setting_at(s)));
                }
            }
        }
        let app_dir = site.app.as_ref().map(|a| a.dir.clone());
        if targets.is_empty() {
            return Ok(Outcome::skip(
                "no root/alias directory in the site's servers and no app settings",
            ));
        }
        // Sets and maps, not scans: a big config serves tens of thousands of directories.
        let served_by: HashMap<&Path, &ServedDir> =
            served.iter().rev().map(|s| (s.dir.as_path(), s)).collect();
        let mut findings = Vec::new();
        let mut seen = HashSet::new();
        for (dir, what, at) in targets {
            if !seen.insert((dir.clone(), what.clone())) {
                continue;
            }
            // Existence is asked as root: who may see it is MD202's question.
            let w = walk_unverified(&site.root, &dir, &Identity::root(), Access::EXEC);
            let problem = match &w.outcome {
                WalkOutcome::Found { is_dir: true } => None,
                WalkOutcome::Found { is_dir: false } => {
                    Some(format!("{} ({what}) is not a directory", dir.display()))
                }
                WalkOutcome::Missing { at } if at == &dir => {
                    Some(format!("{} ({what}) does not exist", dir.display()))
                }
                WalkOutcome::Missing { at } => Some(format!(
                    "{} ({what}) does not exist: {} is missing",
                    dir.display(),
                    at.display()
                )),
                WalkOutcome::NotADirectory { at } => Some(format!(
                    "{} ({what}) cannot exist: {} is not a directory",
                    dir.display(),
                    at.display()
                )),
                WalkOutcome::SymlinkLoop { at } => Some(format!(
                    "{} ({what}) is unreachable: symlink loop at {}",
                    dir.display(),
                    at.display()
                )),
                WalkOutcome::CannotVerify { why, .. } => {
                    let mut f = Finding::warning(format!(
                        "cannot tell whether {} ({what}) exists: {why}",
                        dir.display()
                    ))
                    .evidence("path", dir.display());
                    if let Some(at) = &at {
                        f = f.at(at.clone());
                    }
                    findings.push(f);
                    continue;
                }
                WalkOutcome::Denied { .. } => None,
            };
            match problem {
                Some(msg) => {
                    let mut f = with_walk(Finding::error(msg).evidence("path", dir.display()), &w);
                    if let Some(at) = &at {
                        f = f.at(at.clone());
                    }
                    let served_dir = served_by.get(dir.as_path()).copied();
                    let (text, cmds) =
                        missing_fix(site, &dir, &what, served_dir, app_dir.as_deref());
                    findings.push(f.fix(text, cmds));
                }
                None => findings.push(
                    Finding::info(format!("{} ({what}) exists", dir.display()))
                        .evidence("path", dir.display()),
                ),
            }
        }
        let n = seen.len();
        Ok(Outcome::findings(findings).with_summary_if_clean(format!(
            "{} present",
            plural(n as u64, "directory", "directories")
        )))
    }
}

/// What to do about a missing directory: the config fix when the location repeats its prefix
/// under `root`, collectstatic for STATIC_ROOT, else create it (media: owned by the app's user).
fn missing_fix(
    site: &Site,
    dir: &Path,
    what: &str,
    served: Option<&ServedDir>,
    app_dir: Option<&Path>,
) -> (String, Vec<String>) {
    let q = shell_quote(&dir.display().to_string());
    if let Some(s) = served.filter(|s| s.kind == "root" && s.prefix != "/") {
        // root + prefix = dir: the root is dir without the prefix.
        let shown = s.dir.display().to_string();
        let root = shown
            .strip_suffix(s.prefix.trim_end_matches('/'))
            .unwrap_or(&shown)
            .trim_end_matches('/');
        if !root.is_empty() && site.root.host_path(Path::new(root)).is_dir() {
            let slash = if s.prefix.ends_with('/') { "/" } else { "" };
            return (
                // The config block goes in the text: `commands` are shell commands only.
                format!(
                    "nginx looks for {} files in root + URI = {}; if they are in {root}, use \
                     alias instead of root (MD103):\n    location {} {{ alias {root}{slash}; }}",
                    s.prefix,
                    dir.display(),
                    s.prefix
                ),
                vec!["sudo nginx -t && sudo systemctl reload nginx".into()],
            );
        }
    }
    if what == "STATIC_ROOT" {
        let cd = app_dir
            .map(|d| format!("cd {} && ", shell_quote(&d.display().to_string())))
            .unwrap_or_default();
        return (
            "collectstatic creates and fills it:".into(),
            vec![format!("{cd}python manage.py collectstatic --noinput")],
        );
    }
    if what == "MEDIA_ROOT" {
        let owner = site
            .app
            .as_ref()
            .and_then(|a| a.user.clone())
            .unwrap_or_else(|| "APP_USER".into());
        return (
            "create it, owned by the app's user (uploads are written there):".into(),
            vec![format!("sudo install -d -o {owner} -m 2775 {q}")],
        );
    }
    (
        "correct the path in the config, or create the directory:".into(),
        vec![format!("sudo mkdir -p {q}")],
    )
}

/// Give an outcome a summary only when nothing is wrong (the runner summarises failures).
trait CleanSummary {
    fn with_summary_if_clean(self, s: String) -> Self;
}

impl CleanSummary for Outcome {
    fn with_summary_if_clean(self, s: String) -> Self {
        if self
            .findings
            .iter()
            .all(|f| f.severity == crate::report::Severity::Info)
        {
            self.with_summary(s)
        } else {
            self
        }
    }
}

// ---------------------------------------------------------------------------------------------

/// MD202: the worker can traverse every directory down to each served root.
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
        let who = match worker(site) {
            Ok(w) => w,
            Err(o) => return Ok(o),
        };
        let served = site.served_dirs();
        if served.is_empty() {
            return Ok(Outcome::skip(
                "no root/alias directory in the site's servers",
            ));
        }
        let db = UserDb::load(&site.root);
        let mut findings = Vec::new();
        let mut ok = 0;
        let dirs: Vec<PathBuf> = served.iter().map(|s| s.dir.clone()).collect();
        let walks = walk_many(&site.root, &dirs, who, Access::EXEC);
        for (s, w) in served.iter().zip(walks) {
            for d in w.disagreements() {
                findings.push(
                    with_walk(
                        Finding::warning(format!("metadata and kernel disagree: {d}")),
                        &w,
                    )
                    .at(s.at.clone()),
                );
            }
            match &w.outcome {
                WalkOutcome::Found { .. } => {
                    ok += 1;
                    findings.push(Finding::info(format!(
                        "{} can reach {}",
                        who.name,
                        s.dir.display()
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
                        s.dir.display()
                    ))
                    .at(s.at.clone())
                    .evidence("path", s.dir.display())
                    .evidence("denied at", at.display());
                    findings.push(with_walk(f, &w).fix_either(
                        format!(
                            "give {} search (x) on {} only (this widens least; never chmod -R \
                             777):",
                            who.name,
                            at.display()
                        ),
                        cmds,
                    ));
                }
                WalkOutcome::CannotVerify { why, .. } => findings.push(
                    Finding::warning(format!("cannot verify {}: {why}", s.dir.display()))
                        .at(s.at.clone()),
                ),
                other => findings.push(
                    Finding::info(format!("{}: {other} (MD201 reports it)", s.dir.display()))
                        .at(s.at.clone()),
                ),
            }
        }
        Ok(Outcome::findings(findings).with_summary_if_clean(format!(
            "{} can reach {} served {} ({})",
            who.name,
            ok,
            if ok == 1 { "directory" } else { "directories" },
            site.worker.source
        )))
    }
}

// ---------------------------------------------------------------------------------------------

/// MD203: every file under each served root is readable by the worker.
pub struct FilesReadable;

static FILES_READABLE: Meta = Meta {
    id: "MD203",
    name: "files-readable",
    band: Band::Filesystem,
    summary: "every file under each served root is readable by the nginx worker user",
    docs: include_str!("../../checks/MD203.md"),
};

impl Check for FilesReadable {
    fn meta(&self) -> &'static Meta {
        &FILES_READABLE
    }

    fn run(&self, site: &Context<'_>) -> anyhow::Result<Outcome> {
        let who = match worker(site) {
            Ok(w) => w,
            Err(o) => return Ok(o),
        };
        let served = site.served_dirs();
        let dirs = outermost(served.iter().map(|s| s.dir.clone()));
        if dirs.is_empty() {
            return Ok(Outcome::skip(
                "no root/alias directory in the site's servers",
            ));
        }
        let db = UserDb::load(&site.root);
        let names = |kind: char, id: u32| {
            if kind == 'u' {
                db.user_name(id)
            } else {
                db.group_name(id)
            }
        };
        let mut findings = Vec::new();
        let (mut files, mut scanned) = (0u64, 0usize);
        // Each outermost directory is itself served: its directive, by lookup (a big config
        // serves tens of thousands of directories).
        let at_of: HashMap<&Path, &Location> = served
            .iter()
            .rev()
            .map(|s| (s.dir.as_path(), &s.at))
            .collect();
        for dir in &dirs {
            let exists = site.root.host_path(dir).is_dir();
            if !exists {
                continue; // MD201's finding
            }
            let at = at_of.get(dir.as_path()).map(|&l| l.clone());
            let s = site.fs.scan(&site.root, dir, who, &scan_options(site));
            scanned += 1;
            files += s.files;
            findings.extend(scan_findings(&s, who, &names, at));
        }
        if scanned == 0 {
            return Ok(Outcome::skip("no served directory exists (see MD201)"));
        }
        Ok(Outcome::findings(findings).with_summary_if_clean(format!(
            "{} under {} readable by {}",
            plural(files, "file", "files"),
            plural(scanned as u64, "served directory", "served directories"),
            who.name
        )))
    }
}

fn scan_findings(
    s: &Scan,
    who: &Identity,
    names: &dyn Fn(char, u32) -> String,
    at: Option<Location>,
) -> Vec<Finding> {
    let mut out = Vec::new();
    let locate = |f: Finding| f.at(at.clone());
    let example_line = |e: &scan::Example| {
        format!(
            "{} {} {} {}",
            e.mode,
            names('u', e.uid),
            names('g', e.gid),
            e.path.display()
        )
    };
    if !s.is_clean() {
        let mut parts = Vec::new();
        if s.files_unreadable > 0 {
            parts.push(format!(
                "{} {} cannot read",
                plural(s.files_unreadable, "file", "files"),
                who.name
            ));
        }
        if s.dirs_untraversable > 0 {
            parts.push(format!(
                "{} it cannot enter",
                plural(s.dirs_untraversable, "directory", "directories")
            ));
        }
        let mut f = Finding::error(format!(
            "{} under {} (403 for each)",
            parts.join(" and "),
            s.root.display()
        ))
        .evidence("path", s.root.display())
        .evidence("files_unreadable", s.files_unreadable)
        .evidence("dirs_untraversable", s.dirs_untraversable);
        if s.files_hidden > 0 {
            f = f.evidence("files_under_untraversable_dirs", s.files_hidden);
        }
        f = f.evidence("files_scanned", s.files);
        if !s.untraversable_examples.is_empty() {
            let lines: Vec<String> = s.untraversable_examples.iter().map(example_line).collect();
            f = f.evidence("directories", lines.join("\n"));
        }
        if !s.unreadable_examples.is_empty() {
            let lines: Vec<String> = s.unreadable_examples.iter().map(example_line).collect();
            f = f.evidence("files", lines.join("\n"));
        }
        let cmds = s.fix_commands(who, names);
        out.push(locate(f).fix(
            format!(
                "give {} what it lacks on exactly the entries that lack it (directories x, files r), \
                 then make new uploads readable (umask 022 in the app's service):",
                who.name
            ),
            cmds,
        ));
    }
    if s.unverified_count > 0 {
        let lines: Vec<String> = s
            .unverified
            .iter()
            .map(|(p, why)| format!("{}: {why}", p.display()))
            .collect();
        out.push(locate(
            Finding::warning(format!(
                "{} under {} could not be examined: cannot verify: run with sudo",
                plural(s.unverified_count, "directory", "directories"),
                s.root.display()
            ))
            .evidence("unverified", lines.join("\n")),
        ));
    }
    if !s.symlink_loops.is_empty() {
        out.push(locate(
            Finding::warning(format!(
                "{} under {} loop (nginx answers 403)",
                plural(s.symlink_loops.len() as u64, "symlink", "symlinks"),
                s.root.display()
            ))
            .evidence("symlinks", paths(&s.symlink_loops)),
        ));
    }
    if !s.symlinks_dangling.is_empty() {
        out.push(locate(
            Finding::warning(format!(
                "{} under {} point to nothing (nginx answers 404)",
                plural(s.symlinks_dangling.len() as u64, "symlink", "symlinks"),
                s.root.display()
            ))
            .evidence("symlinks", paths(&s.symlinks_dangling)),
        ));
    }
    for d in &s.disagreements {
        out.push(locate(Finding::warning(format!(
            "metadata and kernel disagree: {d}"
        ))));
    }
    if s.vanished > 0 {
        out.push(Finding::info(format!(
            "{} vanished during the scan (files being written or deleted)",
            plural(s.vanished, "entry", "entries")
        )));
    }
    if s.non_utf8_names > 0 {
        let mut f = Finding::info(format!(
            "{} under {} are not UTF-8 (URLs must percent-encode their bytes)",
            plural(s.non_utf8_names, "name", "names"),
            s.root.display()
        ));
        if let Some(e) = &s.non_utf8_example {
            f = f.evidence("example", e.display());
        }
        out.push(f);
    }
    if s.symlinks_unjudged > 0 {
        out.push(Finding::info(format!(
            "{} beyond the first {} were counted, not followed",
            plural(s.symlinks_unjudged, "symlink", "symlinks"),
            2000
        )));
    }
    out.push(Finding::info(format!(
        "scanned {}: {}, {}, {}",
        s.root.display(),
        plural(s.files, "file", "files"),
        plural(s.dirs, "directory", "directories"),
        plural(s.symlinks, "symlink", "symlinks"),
    )));
    out
}

fn paths(v: &[PathBuf]) -> String {
    let mut lines: Vec<String> = v.iter().take(10).map(|p| p.display().to_string()).collect();
    if v.len() > 10 {
        lines.push(format!("... and {} more", v.len() - 10));
    }
    lines.join("\n")
}

// ---------------------------------------------------------------------------------------------

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
                        "{} (the app's user{}) cannot create files in MEDIA_ROOT {}: it lacks {needs} on {} ({} {} {}); uploads fail with PermissionError",
                        who.name,
                        app.user_source.as_deref().map(|s| format!(", {s}")).unwrap_or_default(),
                        media.display(),
                        denied.display(),
                        step.mode,
                        step.owner,
                        step.group
                    )),
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
                    .evidence("directories", lines.join("\n")),
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

// ---------------------------------------------------------------------------------------------

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
        let collect = format!(
            "cd {} && python manage.py collectstatic --noinput",
            shell_quote(&app.dir.display().to_string())
        );
        if !host_root.is_dir() {
            return Ok(Outcome::findings(vec![locate(Finding::error(format!(
                "STATIC_ROOT {} does not exist: collectstatic has not run",
                static_root.display()
            )))
            .fix("collect the static files:", vec![collect])]));
        }
        let empty = std::fs::read_dir(&host_root)
            .map(|mut d| d.next().is_none())
            .unwrap_or(false);
        if empty {
            return Ok(Outcome::findings(vec![locate(Finding::error(format!(
                "STATIC_ROOT {} is empty: collectstatic has not run",
                static_root.display()
            )))
            .fix("collect the static files:", vec![collect])]));
        }
        let (mut compared, mut missing, mut stale) = (0u64, Vec::new(), Vec::new());
        let (mut n_missing, mut n_stale) = (0u64, 0u64);
        for src in &app.static_sources {
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
            f = f.evidence("missing", paths(&missing));
        }
        if !stale.is_empty() {
            f = f.evidence("stale", paths(&stale));
        }
        Ok(Outcome::findings(vec![locate(f).fix(
            "collect again (and make it part of every deploy):",
            vec![collect],
        )]))
    }
}

// ---------------------------------------------------------------------------------------------

/// MD206: media is not inside a release directory or a container's writable layer.
pub struct EphemeralStorage;

static EPHEMERAL_STORAGE: Meta = Meta {
    id: "MD206",
    name: "ephemeral-storage",
    band: Band::Filesystem,
    summary: "MEDIA_ROOT lives outside release directories, tmpfs and container writable layers",
    docs: include_str!("../../checks/MD206.md"),
};

impl Check for EphemeralStorage {
    fn meta(&self) -> &'static Meta {
        &EPHEMERAL_STORAGE
    }

    fn run(&self, site: &Context<'_>) -> anyhow::Result<Outcome> {
        let (app, media) = match local_media_root(site) {
            Ok(found) => found,
            Err(o) => return Ok(o),
        };
        let at = setting_at(&app.media_root);
        let locate = |f: Finding| f.at(at.clone());
        let w = walk_unverified(&site.root, media, &Identity::root(), Access::EXEC);
        let resolved = w.resolved.clone().unwrap_or_else(|| media.to_path_buf());
        let mut findings = Vec::new();
        let shared = app
            .dir
            .parent()
            .map(|p| p.join("shared/media"))
            .unwrap_or_else(|| PathBuf::from("/srv/media"));
        if let Some(release) = release_dir(&resolved).or_else(|| release_dir(media)) {
            findings.push(
                locate(with_walk(
                    Finding::error(format!(
                        "MEDIA_ROOT {} is inside the release directory {}: the next deploy \
                         replaces it and every upload in it is gone",
                        media.display(),
                        release.display()
                    ))
                    .evidence("resolved", resolved.display()),
                    &w,
                ))
                .fix(
                    "keep uploads in a shared directory outside the releases and point MEDIA_ROOT \
                 there (Capistrano/Deployer: linked_dirs / shared_dirs):",
                    vec![format!(
                        "sudo mkdir -p {0} && sudo rsync -a {1}/ {0}/",
                        shell_quote(&shared.display().to_string()),
                        shell_quote(&resolved.display().to_string())
                    )],
                ),
            );
        } else if let Some(link) = w.symlinks().find(|s| s.name == "current") {
            findings.push(locate(with_walk(
                Finding::warning(format!(
                    "MEDIA_ROOT {} goes through the deploy symlink {}: uploads land in one \
                     release and vanish when `current` moves",
                    media.display(),
                    link.path.display()
                )),
                &w,
            )));
        }
        if site.root.is_live() {
            if let Some(m) = mount_of(&resolved) {
                let container = ["/.dockerenv", "/run/.containerenv"]
                    .iter()
                    .any(|p| Path::new(p).exists());
                if m.fstype == "tmpfs" || m.fstype == "ramfs" {
                    findings.push(locate(
                        Finding::error(format!(
                            "MEDIA_ROOT {} is on {} ({}): uploads are lost at reboot",
                            media.display(),
                            m.fstype,
                            m.mount_point.display()
                        ))
                        .evidence(
                            "mount",
                            format!("{} on {}", m.fstype, m.mount_point.display()),
                        ),
                    ));
                } else if m.fstype == "overlay" && container && m.mount_point == Path::new("/") {
                    findings.push(
                        locate(
                            Finding::error(format!(
                            "MEDIA_ROOT {} is in the container's writable layer: uploads are lost \
                             when the container is recreated",
                            media.display()
                        ))
                            .evidence("mount", "overlay on / (container)"),
                        )
                        .fix(
                            "mount a volume at MEDIA_ROOT:",
                            vec![format!(
                                "docker run -v media:{} ...",
                                shell_quote(&media.display().to_string())
                            )],
                        ),
                    );
                }
            }
        }
        if findings.is_empty() {
            return Ok(Outcome::pass(format!(
                "MEDIA_ROOT {} is persistent storage (not a release directory{})",
                resolved.display(),
                if site.root.is_live() {
                    ", tmpfs or container layer"
                } else {
                    "; mounts not examined under --root"
                }
            )));
        }
        Ok(Outcome::findings(findings))
    }
}

/// `.../releases/<id>` in a path (Capistrano, Deployer, Ansistrano layouts).
fn release_dir(p: &Path) -> Option<PathBuf> {
    let comps: Vec<_> = p.components().collect();
    comps.windows(2).enumerate().find_map(|(i, w)| {
        (w[0].as_os_str() == "releases").then(|| comps[..i + 2].iter().collect())
    })
}

struct Mount {
    mount_point: PathBuf,
    fstype: String,
}

/// The mount holding `path` on the live system (the longest mount point that is a prefix).
fn mount_of(path: &Path) -> Option<Mount> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    text.lines()
        .filter_map(|l| {
            let (pre, post) = l.split_once(" - ")?;
            let mount_point = unescape_mount(pre.split(' ').nth(4)?);
            let fstype = post.split(' ').next()?.to_string();
            Some(Mount {
                mount_point: PathBuf::from(mount_point),
                fstype,
            })
        })
        .filter(|m| path.starts_with(&m.mount_point))
        .max_by_key(|m| m.mount_point.components().count())
}

/// mountinfo escapes space, tab, newline and backslash as octal.
fn unescape_mount(s: &str) -> String {
    s.replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

// ---------------------------------------------------------------------------------------------

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
        let set: Vec<Directive<'_>> = all_directives(site)
            .into_iter()
            .filter(|d| d.is("disable_symlinks") && d.arg(0).is_some_and(|a| a != "off"))
            .collect();
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
        for s in served {
            if !site.root.host_path(&s.dir).is_dir() {
                continue;
            }
            // Ask the resolver (which applies disable_symlinks as nginx does) about a real file,
            // and about a symlink inside the tree.
            let scan = site.fs.scan(&site.root, &s.dir, who, &scan_options(site));
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
                .at(s.at.clone())
                .evidence("url", &url)
                .evidence("nginx", &res.reason)
                .evidence(
                    "disable_symlinks",
                    set.iter()
                        .map(|d| {
                            format!(
                                "{} at {}",
                                d.args().collect::<Vec<_>>().join(" "),
                                d.location()
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("\n"),
                );
                if let Some(w) = &res.walk {
                    f = with_walk(f, w);
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
        Ok(Outcome::findings(findings)
            .with_summary_if_clean("no served file goes through a blocked symlink".into()))
    }
}

/// Every directive of the config, includes expanded.
fn all_directives(site: &Site) -> Vec<Directive<'_>> {
    let cfg = site.config();
    if cfg.files.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut stack: Vec<Directive<'_>> = cfg.top().collect();
    while let Some(d) = stack.pop() {
        stack.extend(d.children());
        out.push(d);
    }
    out
}

// ---------------------------------------------------------------------------------------------

/// MD208: SELinux labels and AppArmor profiles let nginx read the served files.
pub struct MacPolicy;

static MAC_POLICY: Meta = Meta {
    id: "MD208",
    name: "mac-policy",
    band: Band::Filesystem,
    summary: "SELinux labels and AppArmor profiles let nginx read the served directories",
    docs: include_str!("../../checks/MD208.md"),
};

impl Check for MacPolicy {
    fn meta(&self) -> &'static Meta {
        &MAC_POLICY
    }

    fn run(&self, site: &Context<'_>) -> anyhow::Result<Outcome> {
        let selinux = mac::selinux(&site.root);
        let apparmor = mac::apparmor_profiles(&site.root);
        let enforcing_selinux = matches!(selinux, Some((mac::SelinuxMode::Enforcing, _)));
        let nginx_profiles: Vec<mac::Profile> = apparmor
            .iter()
            .flatten()
            .filter(|p| p.name.contains("nginx") && p.mode == "enforce")
            .cloned()
            .collect();
        if !enforcing_selinux && nginx_profiles.is_empty() {
            let why = match (&selinux, &apparmor) {
                (Some((mode, from)), _) => {
                    format!("SELinux is {mode:?} ({from}), not enforcing").to_lowercase()
                }
                (None, Some(_)) => "AppArmor has no nginx profile in enforce mode".into(),
                (None, None) if site.root.is_live() => {
                    "neither SELinux nor AppArmor is enabled on this system".into()
                }
                (None, None) => {
                    "the root has no SELinux state (/sys/fs/selinux, /etc/selinux/config) \
                                 and no AppArmor state (/sys/kernel/security/apparmor)"
                        .into()
                }
            };
            return Ok(Outcome::skip(why));
        }
        let dirs = site.served_dirs();
        if dirs.is_empty() {
            return Ok(Outcome::skip(
                "no root/alias directory in the site's servers",
            ));
        }
        let mut findings = Vec::new();
        if enforcing_selinux {
            for s in dirs {
                let host = site.root.host_path(&s.dir);
                if !host.exists() {
                    continue;
                }
                let mut targets: Vec<PathBuf> = vec![s.dir.clone()];
                if let Ok(who) = worker(site) {
                    let scan = site.fs.scan(&site.root, &s.dir, who, &scan_options(site));
                    targets.extend(scan.sample_file.clone());
                }
                for t in targets {
                    // nginx opens through symlinks: the label that counts is the target's.
                    let real = walk_unverified(&site.root, &t, &Identity::root(), Access::NONE)
                        .resolved
                        .unwrap_or_else(|| t.clone());
                    let label = mac::selinux_label(&site.root.host_path(&real));
                    let ty = label
                        .as_deref()
                        .and_then(mac::label_type)
                        .unwrap_or("unlabeled_t");
                    if mac::HTTPD_READABLE.contains(&ty) {
                        continue;
                    }
                    let q = shell_quote(&format!("{}(/.*)?", s.dir.display()));
                    let mut cmds = vec![format!(
                        "sudo semanage fcontext -a -t httpd_sys_content_t {q} && sudo restorecon -Rv {}",
                        shell_quote(&s.dir.display().to_string())
                    )];
                    if ty.starts_with("user_home") {
                        cmds.push("sudo setsebool -P httpd_enable_homedirs 1".into());
                    }
                    findings.push(
                        Finding::error(format!(
                            "SELinux is enforcing and {} is labelled {ty}, which httpd_t may not read (403 with the mode bits allowing it)",
                            t.display()
                        ))
                        .at(s.at.clone())
                        .evidence("label", label.unwrap_or_else(|| "(none)".into()))
                        .fix("label the tree for httpd (persists across relabels):", cmds),
                    );
                }
            }
        }
        for p in &nginx_profiles {
            let Some(rules) = mac::Rules::load(&site.root, &p.name) else {
                findings.push(Finding::warning(format!(
                    "AppArmor profile {} is enforced but its file was not found in /etc/apparmor.d",
                    p.name
                )));
                continue;
            };
            for s in dirs {
                // AppArmor matches the path with symlinks resolved; any file name in the tree.
                let real = walk_unverified(&site.root, &s.dir, &Identity::root(), Access::NONE)
                    .resolved
                    .unwrap_or_else(|| s.dir.clone());
                let probe = real.join("media-doctor-probe");
                let (ok, rule) = rules.allows_read(&probe);
                if !ok {
                    let mut f = Finding::error(format!(
                        "AppArmor profile {} (enforce) does not let nginx read {}{}",
                        p.name,
                        s.dir.display(),
                        if real != s.dir {
                            format!(" ({})", real.display())
                        } else {
                            String::new()
                        }
                    ))
                    .at(s.at.clone())
                    .evidence(
                        "profile files",
                        rules
                            .files
                            .iter()
                            .map(|f| f.display().to_string())
                            .collect::<Vec<_>>()
                            .join("\n"),
                    );
                    if let Some(r) = rule {
                        f = f.evidence("rule", r);
                    }
                    findings.push(f.fix(
                        "allow reading the tree in the profile's local override, then reload it:",
                        vec![
                            format!(
                                "echo '{}/** r,' | sudo tee -a /etc/apparmor.d/local/usr.sbin.nginx",
                                real.display()
                            ),
                            "sudo apparmor_parser -r /etc/apparmor.d/usr.sbin.nginx".into(),
                        ],
                    ));
                }
            }
        }
        Ok(Outcome::findings(findings).with_summary_if_clean(format!(
            "{} allow nginx to read {}",
            match (enforcing_selinux, nginx_profiles.is_empty()) {
                (true, true) => "SELinux labels",
                (false, _) => "AppArmor profiles",
                (true, false) => "SELinux labels and AppArmor profiles",
            },
            plural(dirs.len() as u64, "served directory", "served directories")
        )))
    }
}

// ---------------------------------------------------------------------------------------------

/// MD209: MEDIA_ROOT and STATIC_ROOT are separate trees.
pub struct MediaStaticOverlap;

static MEDIA_STATIC_OVERLAP: Meta = Meta {
    id: "MD209",
    name: "media-static-overlap",
    band: Band::Filesystem,
    summary: "MEDIA_ROOT and STATIC_ROOT are separate directories, neither inside the other",
    docs: include_str!("../../checks/MD209.md"),
};

impl Check for MediaStaticOverlap {
    fn meta(&self) -> &'static Meta {
        &MEDIA_STATIC_OVERLAP
    }

    fn run(&self, site: &Context<'_>) -> anyhow::Result<Outcome> {
        let app = match app(site) {
            Ok(a) => a,
            Err(o) => return Ok(o),
        };
        let (Some(media), Some(stat)) = (
            setting_path(&app.media_root),
            setting_path(&app.static_root),
        ) else {
            return Ok(Outcome::skip("MEDIA_ROOT or STATIC_ROOT is not known"));
        };
        // Compare where they really are: symlinks resolved inside the root.
        let real = |p: &Path| {
            walk_unverified(&site.root, p, &Identity::root(), Access::NONE)
                .resolved
                .unwrap_or_else(|| p.components().collect())
        };
        let (rm, rs) = (real(media), real(stat));
        let at = setting_at(&app.media_root).or_else(|| setting_at(&app.static_root));
        let relation = if rm == rs {
            Some("are the same directory".to_string())
        } else if rm.starts_with(&rs) {
            Some("MEDIA_ROOT is inside STATIC_ROOT".to_string())
        } else if rs.starts_with(&rm) {
            Some("STATIC_ROOT is inside MEDIA_ROOT".to_string())
        } else {
            None
        };
        let Some(relation) = relation else {
            return Ok(Outcome::pass(format!(
                "MEDIA_ROOT {} and STATIC_ROOT {} are separate",
                rm.display(),
                rs.display()
            )));
        };
        let mut f = Finding::error(format!(
            "MEDIA_ROOT {} and STATIC_ROOT {} {relation}: collectstatic can overwrite or delete \
             uploads, and an upload can replace a site asset",
            media.display(),
            stat.display()
        ))
        .evidence("MEDIA_ROOT", rm.display())
        .evidence("STATIC_ROOT", rs.display());
        if let Some(at) = at {
            f = f.at(at);
        }
        let base = rm.parent().unwrap_or(Path::new("/"));
        Ok(Outcome::findings(vec![f.fix(
            format!(
                "give each its own directory, side by side, in the settings:\n\
                 MEDIA_ROOT = {:?}\nSTATIC_ROOT = {:?}\nthen move the uploads there and collect again",
                base.join("media").display().to_string(),
                base.join("static").display().to_string()
            ),
            Vec::new(),
        )]))
    }
}

// ---------------------------------------------------------------------------------------------

/// MD210: a real file under each served directory is where its URL says, and readable.
pub struct ProbeFile;

static PROBE_FILE: Meta = Meta {
    id: "MD210",
    name: "probe-file",
    band: Band::Filesystem,
    summary:
        "a real file sampled from each served directory is readable by nginx at its URL's path",
    docs: include_str!("../../checks/MD210.md"),
};

impl Check for ProbeFile {
    fn meta(&self) -> &'static Meta {
        &PROBE_FILE
    }

    fn run(&self, site: &Context<'_>) -> anyhow::Result<Outcome> {
        let who = match worker(site) {
            Ok(w) => w,
            Err(o) => return Ok(o),
        };
        let resolver = site.resolver();
        let served = site.served_dirs();
        if served.is_empty() && site.samples.is_empty() {
            return Ok(Outcome::skip(
                "no root/alias directory in the site's servers and no sample URL",
            ));
        }
        let mut findings = Vec::new();
        let mut probed = 0;
        // Known files first: the profile's `samples`, resolved as nginx would.
        for url in &site.samples {
            probed += 1;
            let req = match Request::from_url(url) {
                Ok(r) => r,
                Err(e) => {
                    findings.push(Finding::warning(format!("sample {url}: {e:#}")));
                    continue;
                }
            };
            let mut res = resolver.resolve(&req);
            if res.server.is_none() {
                // `https://` in front of a TLS terminator: ask the site's own server for the path.
                if let Some(s) = served.first() {
                    let target = String::from_utf8_lossy(&req.target).into_owned();
                    res = s.resolve(&resolver, &target);
                }
            }
            findings.push(judge_probe(&resolver, url, None, &res));
        }
        // Then a real file from each served tree, at the URL that should serve it.
        for s in served {
            if !site.root.host_path(&s.dir).is_dir() {
                continue;
            }
            let scan = site.fs.scan(&site.root, &s.dir, who, &scan_options(site));
            let Some(sample) = &scan.sample_file else {
                findings.push(
                    Finding::info(format!(
                        "no readable file under {} to probe",
                        s.dir.display()
                    ))
                    .at(s.at.clone()),
                );
                continue;
            };
            let Some(url) = s.url_for(sample) else {
                continue;
            };
            let res = s.resolve(&resolver, &url);
            // Below a regex location only the URLs its regex matches are served from the
            // directory (an image location's root also holds index.html): a file whose URL goes
            // to another location says nothing about this one, so probe one the regex takes.
            let (sample, url, res) = if s.regex && res.location != s.location {
                let url_of = |rel: &str| s.url_for(&s.dir.join(rel));
                let matched = sample_file_where(&site.root, &s.dir, |rel| {
                    url_of(rel).is_some_and(|u| s.resolve(&resolver, &u).location == s.location)
                });
                let Some((file, url)) =
                    matched.and_then(|rel| Some((s.dir.join(&rel), url_of(&rel)?)))
                else {
                    findings.push(
                        Finding::info(format!(
                            "no file under {} has a URL that location {} matches: not probed",
                            s.dir.display(),
                            s.prefix
                        ))
                        .at(s.at.clone()),
                    );
                    continue;
                };
                let res = s.resolve(&resolver, &url);
                (file, url, res)
            } else {
                (sample.clone(), url, res)
            };
            probed += 1;
            findings.push(judge_probe(&resolver, &url, Some((&sample, s)), &res).at(s.at.clone()));
        }
        Ok(Outcome::findings(findings).with_summary_if_clean(format!(
            "{} probed: each served with 200",
            plural(probed as u64, "file", "files")
        )))
    }
}

/// Why a served directory's own file comes from somewhere else, and the fix: another location
/// answers its URL (MD105), or this location builds another path (MD101, MD103).
fn wrong_file_fix(resolver: &Resolver<'_>, f: Finding, s: &ServedDir, res: &Resolution) -> Finding {
    let reload = vec!["sudo nginx -t && sudo systemctl reload nginx".to_string()];
    match res.location {
        Some(other) if Some(other) != s.location => {
            let winner = resolver.config().directive(other);
            let pattern = resolver
                .location_pattern(other)
                .map(|(m, p)| format!("{} {p}", m.as_str()).trim_start().to_string())
                .unwrap_or_default();
            f.evidence(
                "answered by",
                format!("location {pattern} ({})", winner.location()),
            )
            .fix(
                format!(
                    "location {pattern} takes the URL from location {} (MD105): mark the \
                     prefix location `^~` (or narrow the other one), then reload:",
                    s.prefix
                ),
                reload,
            )
        }
        _ => f.fix(
            format!(
                "make the {} and the location's prefix agree on trailing slashes (MD101, \
                 MD103), then reload:",
                s.kind
            ),
            reload,
        ),
    }
}

/// A probe passes when nginx answers 200 with the file (for a sampled file: that very file).
fn judge_probe(
    resolver: &Resolver<'_>,
    url: &str,
    expected: Option<(&PathBuf, &ServedDir)>,
    res: &Resolution,
) -> Finding {
    let opened = res
        .path
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "no file".into());
    let status = res
        .predicted_status
        .map(|s| s.to_string())
        .unwrap_or_else(|| "unknown".into());
    let wrong_file = expected.is_some_and(|(want, _)| res.path.as_ref() != Some(want));
    let mut f = match (res.predicted_status, wrong_file) {
        (Some(200), false) => Finding::info(format!("{url} -> {opened}: 200")),
        (_, true) => {
            let (want, s) = expected.expect("wrong_file implies expected");
            let f = Finding::error(format!(
                "{url} should serve {} but nginx opens {opened} ({status}: {})",
                want.display(),
                res.reason
            ));
            wrong_file_fix(resolver, f, s, res)
        }
        (None, _) => Finding::warning(format!(
            "{url}: the answer cannot be predicted: {}",
            res.reason
        )),
        (Some(_), false) => Finding::error(format!("{url} -> {opened}: {status}: {}", res.reason)),
    };
    f = f
        .evidence("url", url)
        .evidence("status", &status)
        .evidence("nginx opens", &opened);
    if f.severity > crate::report::Severity::Info {
        if let Some(w) = &res.walk {
            f = with_walk(f, w);
        }
        for line in &res.log {
            f = f.evidence("error log", line);
        }
    }
    f
}
