//! MD203 files-readable: every file under each served root is readable by the nginx worker user.
//! The page: checks/MD203.md.

use super::shared::fs::*;
use super::{Band, Check, Context, Meta, Outcome};
use crate::fs::identity::UserDb;
use crate::fs::scan::{self, Scan};
use crate::fs::Identity;
use crate::report::{Finding, Location};
use crate::site::Site;

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
        let ServedFiles {
            who,
            server,
            dirs: served,
            ..
        } = match served_files(site) {
            Ok(s) => s,
            Err(o) => return Ok(o),
        };
        // Each outermost directory is itself served: its directive, by lookup (a big config
        // serves tens of thousands of directories).
        let by_dir = FirstByDir::new(served.len(), |i| served.dir(i));
        let dirs = by_dir.outermost(|i| served.dir(i));
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
        for i in dirs.iter().map(|&i| i as usize) {
            let dir = served.dir(i);
            let exists = site.root.is_dir(dir);
            if !exists {
                continue; // MD201's finding
            }
            let at = Some(served.at(i));
            let s = site.fs.scan(&site.root, dir, who, &scan_options(site));
            scanned += 1;
            files += s.files;
            let cause = upload_cause(site);
            findings.extend(scan_findings(&s, who, server, &names, at, &cause));
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
    server: &str,
    names: &dyn Fn(char, u32) -> String,
    at: Option<Location>,
    cause: &str,
) -> Vec<Finding> {
    let mut out = Vec::new();
    let locate = |f: Finding| f.at(at.clone());
    let example_line = |e: &scan::Example| {
        format!(
            "{} {} {} {}",
            e.mode,
            names('u', e.uid),
            names('g', e.gid),
            crate::text_safe::path(&e.path)
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
            f = f.evidence_lines("directories", lines);
        }
        if !s.unreadable_examples.is_empty() {
            let lines: Vec<String> = s.unreadable_examples.iter().map(example_line).collect();
            f = f.evidence_lines("files", lines);
        }
        let cmds = s.fix_commands(who, names);
        out.push(locate(f).fix(
            format!(
                "give {} what it lacks on exactly the entries that lack it (directories x, files r); \
                 then fix the cause, or the next upload is unreadable again: {cause}:",
                who.name
            ),
            cmds,
        ));
    }
    if s.unverified_count > 0 {
        let lines: Vec<String> = s
            .unverified
            .iter()
            .map(|(p, why)| format!("{}: {why}", crate::text_safe::path(p)))
            .collect();
        out.push(locate(
            Finding::warning(format!(
                "{} under {} could not be examined: cannot verify: run with sudo",
                plural(s.unverified_count, "directory", "directories"),
                s.root.display()
            ))
            .evidence_lines("unverified", lines),
        ));
    }
    if !s.symlink_loops.is_empty() {
        out.push(locate(
            Finding::warning(format!(
                "{} under {} loop ({server} answers 403)",
                plural(s.symlink_loops.len() as u64, "symlink", "symlinks"),
                s.root.display()
            ))
            .evidence_lines("symlinks", paths(&s.symlink_loops)),
        ));
    }
    if !s.symlinks_dangling.is_empty() {
        out.push(locate(
            Finding::warning(format!(
                "{} under {} point to nothing ({server} answers 404)",
                plural(s.symlinks_dangling.len() as u64, "symlink", "symlinks"),
                s.root.display()
            ))
            .evidence_lines("symlinks", paths(&s.symlinks_dangling)),
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
            f = f.evidence("example", crate::text_safe::path(e));
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

/// What makes new uploads unreadable to the server, from the app's own settings and process: Django's
/// FILE_UPLOAD_PERMISSIONS (unset, Django leaves the process umask to decide), gunicorn's
/// `--umask`, systemd's `UMask=`. Each named where it is, with the value to write.
fn upload_cause(site: &Site) -> String {
    let Some(app) = site.app() else {
        return "the process that writes the files must create them readable (umask 022)".into();
    };
    let mut out: Vec<String> = Vec::new();
    if app.framework == crate::app::Framework::Django {
        let settings = app
            .settings_files
            .first()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "the settings".into());
        for (name, setting, want) in [
            (
                "FILE_UPLOAD_PERMISSIONS",
                &app.file_upload_permissions,
                "0o644",
            ),
            (
                "FILE_UPLOAD_DIRECTORY_PERMISSIONS",
                &app.file_upload_directory_permissions,
                "0o755",
            ),
        ] {
            match setting {
                crate::app::Setting::Known { value, at } if value != want => out.push(format!(
                    "{name} = {want} (now {value}{})",
                    at.as_ref().map(|a| format!(" at {a}")).unwrap_or_default()
                )),
                crate::app::Setting::Known { .. } => {}
                _ => out.push(format!("{name} = {want} in {settings}")),
            }
        }
    }
    let argv = app
        .running
        .as_ref()
        .map(|r| r.argv.clone())
        .or_else(|| app.server.as_ref().map(|s| s.argv.clone()))
        .unwrap_or_default();
    if let Some(i) = argv.iter().position(|a| a == "--umask" || a == "-m") {
        if let Some(v) = argv.get(i + 1) {
            if u32::from_str_radix(v.trim_start_matches("0o"), 8).is_ok_and(|m| m & 0o044 != 0) {
                out.push(format!("gunicorn --umask 0022 (it runs with --umask {v})"));
            }
        }
    }
    if let Some(u) = &app.unit {
        if let Some(e) = u.entries.iter().rev().find(|e| e.key == "UMask") {
            if u32::from_str_radix(e.value.trim(), 8).is_ok_and(|m| m & 0o044 != 0) {
                out.push(format!(
                    "UMask=0022 in {} (now {})",
                    u.path.display(),
                    e.value.trim()
                ));
            }
        }
    }
    if out.is_empty() {
        return "the app's upload settings and umask already make new files readable: these files were made another way (a copy, a script, another user)".into();
    }
    out.join("; ")
}
