//! `--format json`: the contract's schema (schema_version 1), pretty-printed, one document.
//! Every check result as it is, plus `causes`: the grouping the text report opens with
//! (render::causes), whose members point into `checks` by id and finding index.

use crate::report::Report;
use std::io::Write;

pub fn write(out: &mut dyn Write, report: &Report) -> std::io::Result<()> {
    let mut doc = serde_json::to_value(report)?;
    let causes = super::causes::to_json(report, &super::causes::of(report));
    if let Some(object) = doc.as_object_mut() {
        object.insert("causes".into(), serde_json::to_value(causes)?);
    }
    serde_json::to_writer_pretty(&mut *out, &doc)?;
    writeln!(out)
}
