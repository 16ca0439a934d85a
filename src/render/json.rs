//! `--format json`: the contract's schema (schema_version 1), pretty-printed, one document.

use crate::report::Report;
use std::io::Write;

pub fn write(out: &mut dyn Write, report: &Report) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, report)?;
    writeln!(out)
}
