//! `--format json`: the contract's schema (schema_version 1), pretty-printed, one document.
//! Every check result as it is, then `causes`: the grouping the text report opens with
//! (render::causes), whose members point into `checks` by id and finding index.

use super::causes;
use crate::report::Report;
use serde::Serialize;
use std::io::Write;

/// The report's fields in their order, then `causes`.
#[derive(Serialize)]
struct WithCauses<'r> {
    #[serde(flatten)]
    report: &'r Report,
    causes: causes::Json<'r>,
}

pub fn write(out: &mut dyn Write, report: &Report) -> std::io::Result<()> {
    let all = causes::of(report);
    let doc = WithCauses {
        report,
        causes: causes::Json {
            report,
            causes: &all,
        },
    };
    // serde_json writes a document in pieces of a few bytes (each key, quote, indent): through
    // `dyn Write` each was two calls through vtables (one site of 360,000 servers writes 1 GB
    // of JSON, a tenth of its run). A buffer of its own takes them inline and hands `out` the
    // blocks.
    let mut buffered = std::io::BufWriter::with_capacity(64 << 10, &mut *out);
    serde_json::to_writer_pretty(&mut buffered, &doc)?;
    writeln!(buffered)?;
    buffered.flush()
}
