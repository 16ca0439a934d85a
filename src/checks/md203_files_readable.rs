//! MD203 files-readable: every file under each served root is readable by the nginx worker user.
//! The page: checks/MD203.md.

use super::shared::fs::*;
use super::{Band, Check, Context, Meta, Outcome};
use crate::fs::identity::UserDb;
use crate::fs::scan::{self, Scan};
use crate::fs::Identity;
use crate::nginx::resolve::served::outermost;
use crate::report::{Finding, Location};
use std::collections::HashMap;
use std::path::Path;

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
                "{} under {} loop (nginx answers 403)",
                plural(s.symlink_loops.len() as u64, "symlink", "symlinks"),
                s.root.display()
            ))
            .evidence_lines("symlinks", paths(&s.symlink_loops)),
        ));
    }
    if !s.symlinks_dangling.is_empty() {
        out.push(locate(
            Finding::warning(format!(
                "{} under {} point to nothing (nginx answers 404)",
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
