//! `check --diff`: the proven config fixes of the report as one unified diff, a file section per
//! config file they edit (`--- a/etc/nginx/...`, `+++ b/etc/nginx/...`), to read, or to apply
//! with `patch -p1` from the filesystem root (or from the --root directory).
//!
//! Only fixes that were proven (`checks::fixes`) are in it, each block once, as the text report
//! prints them; a fix that is not a config edit (a command, a settings line) is not. On a box of
//! several sites, every site's fixes are merged into one diff (`Sites`).

use crate::report::edit::Splice;
use crate::report::Report;
use crate::sysroot::SysRoot;
use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::PathBuf;

/// The splices of every proven config fix of `report`, by file (in path order).
pub fn by_file(report: &Report) -> BTreeMap<PathBuf, Vec<&Splice>> {
    let mut out: BTreeMap<PathBuf, Vec<&Splice>> = BTreeMap::new();
    let fixes = report
        .checks
        .iter()
        .flat_map(|c| &c.findings)
        .filter_map(|f| f.config_fix.as_ref());
    for s in fixes.flat_map(|cf| &cf.splices) {
        let list = out.entry(s.file.clone()).or_default();
        if !list.contains(&s) {
            list.push(s);
        }
    }
    out
}

/// Writes the diff; a file that can no longer be read is named on stderr's stead in a comment
/// line, not guessed at.
pub fn write(out: &mut dyn Write, report: &Report, root: &SysRoot) -> io::Result<()> {
    write_files(out, by_file(report), root)
}

/// `check --diff` on a box of several sites without `--site`: the proven fixes of every site in
/// one diff, a file section per config file as for one site (two sites in one file are one
/// section, so `patch -p1` applies it whole). A fix that changes lines another site's fix
/// already changes differently (a snippet both include) cannot be in the same diff: it is left
/// out, and a comment line (patch skips it) says to run `--diff --site NAME` once this one is
/// applied.
#[derive(Default)]
pub struct Sites {
    files: BTreeMap<PathBuf, Vec<Splice>>,
    left_out: Vec<String>,
}

impl Sites {
    /// Adds the proven fixes of `site`'s report.
    pub fn add(&mut self, site: &str, report: &Report) {
        let fixes = report
            .checks
            .iter()
            .flat_map(|c| &c.findings)
            .filter_map(|f| f.config_fix.as_ref());
        let mut kept: Vec<&Splice> = Vec::new();
        for cf in fixes {
            // Only other sites' edits are compared: one site's fixes are merged per block.
            let clash = cf.splices.iter().find(|s| {
                self.files
                    .get(&s.file)
                    .is_some_and(|l| l.iter().any(|o| o != *s && overlaps(o, s)))
            });
            if let Some(s) = clash {
                let note = format!(
                    "# site {site}: its fix of {}:{} changes lines another site's fix changes: apply this diff, then run `check --diff --site {site}`",
                    s.file.display(),
                    s.first
                );
                if !self.left_out.contains(&note) {
                    self.left_out.push(note);
                }
                continue;
            }
            kept.extend(&cf.splices);
        }
        for s in kept {
            let list = self.files.entry(s.file.clone()).or_default();
            if !list.contains(s) {
                list.push(s.clone());
            }
        }
    }

    /// Writes the notes of what was left out, then the diff.
    pub fn write(&self, out: &mut dyn Write, root: &SysRoot) -> io::Result<()> {
        for note in &self.left_out {
            writeln!(out, "{note}")?;
        }
        let files = self
            .files
            .iter()
            .map(|(f, l)| (f.clone(), l.iter().collect()))
            .collect();
        write_files(out, files, root)
    }
}

/// Whether two splices change a line in common (an insertion counts as its line).
fn overlaps(a: &Splice, b: &Splice) -> bool {
    let end = |s: &Splice| s.last.max(s.first);
    a.file == b.file && a.first <= end(b) && b.first <= end(a)
}

fn write_files(
    out: &mut dyn Write,
    files: BTreeMap<PathBuf, Vec<&Splice>>,
    root: &SysRoot,
) -> io::Result<()> {
    for (file, splices) in files {
        // The file itself, not the sites-enabled link to it: patch refuses to write through a
        // symlink.
        let real = root.real_path(&file).unwrap_or_else(|_| file.clone());
        let rel = real.display().to_string();
        let rel = rel.trim_start_matches('/');
        match std::fs::read_to_string(root.host_path(&file)) {
            Ok(text) => {
                let diff = crate::fix::text::unified(rel, &text, &splices);
                out.write_all(diff.as_bytes())?;
            }
            Err(e) => writeln!(
                out,
                "# {}: not shown: {}",
                file.display(),
                crate::text_safe::io_error(&e)
            )?,
        }
    }
    Ok(())
}
