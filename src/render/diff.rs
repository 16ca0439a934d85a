//! `check --diff`: the proven config fixes of the report as one unified diff, a file section per
//! config file they edit (`--- a/etc/nginx/...`, `+++ b/etc/nginx/...`), to read, or to apply
//! with `patch -p1` from the filesystem root (or from the --root directory).
//!
//! Only fixes that were proven (`checks::fixes`) are in it, each block once, as the text report
//! prints them; a fix that is not a config edit (a command, a settings line) is not.

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
    for (file, splices) in by_file(report) {
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
