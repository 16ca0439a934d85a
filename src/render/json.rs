//! `--format json`: the contract's schema (schema_version 1), pretty-printed, one document.
//! Every check result as it is, then `causes`: the grouping the text report opens with
//! (render::causes), whose members point into `checks` by id and finding index.

use super::causes;
use crate::checks;
use crate::report::{CheckResult, Finding, Report};
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

/// `write`, the findings of the checks that let them go (`checks::Run`) made again as they are
/// written, one check at a time, and the causes grouped from their keys: the same document.
pub fn write_made_again(
    out: &mut dyn Write,
    report: &Report,
    run: &checks::Run<'_>,
) -> std::io::Result<()> {
    if !run.makes_again() {
        return write(out, report);
    }
    let all = causes::of_keyed(report, &run.keys);
    let doc = MadeAgain {
        report,
        run,
        causes: causes::Json {
            report,
            causes: &all,
        },
    };
    let mut buffered = std::io::BufWriter::with_capacity(64 << 10, &mut *out);
    serde_json::to_writer_pretty(&mut buffered, &doc)?;
    writeln!(buffered)?;
    buffered.flush()
}

/// `WithCauses`, written by hand in the same order (a flattened struct is written as a map:
/// the text is the same), the results through `Result`.
struct MadeAgain<'r, 's> {
    report: &'r Report,
    run: &'r checks::Run<'s>,
    causes: causes::Json<'r>,
}

impl Serialize for MadeAgain<'_, '_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let r = self.report;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("schema_version", &r.schema_version)?;
        m.serialize_entry("tool", &r.tool)?;
        m.serialize_entry("site", &r.site)?;
        m.serialize_entry(
            "checks",
            &Results {
                report: r,
                run: self.run,
            },
        )?;
        m.serialize_entry("summary", &r.summary)?;
        m.serialize_entry("causes", &self.causes)?;
        m.end()
    }
}

struct Results<'r, 's> {
    report: &'r Report,
    run: &'r checks::Run<'s>,
}

impl Serialize for Results<'_, '_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(
            self.report
                .checks
                .iter()
                .enumerate()
                .map(|(i, result)| MadeResult {
                    result,
                    made: move || self.run.findings(i),
                }),
        )
    }
}

/// One result: as it is, or with its findings made again (`CheckResult`'s fields, in order).
struct MadeResult<'r, F> {
    result: &'r CheckResult,
    made: F,
}

impl<F: Fn() -> Option<Vec<Finding>>> Serialize for MadeResult<'_, F> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let Some(findings) = (self.made)() else {
            return self.result.serialize(s);
        };
        let r = self.result;
        let mut st = s.serialize_struct("CheckResult", 6)?;
        st.serialize_field("id", r.id)?;
        st.serialize_field("name", r.name)?;
        st.serialize_field("status", &r.status)?;
        st.serialize_field("summary", &r.summary)?;
        st.serialize_field("findings", &findings)?;
        // The findings written are let go before the next check's are made.
        drop(findings);
        if let Some(why) = &r.ignored {
            st.serialize_field("ignored", why)?;
        } else {
            st.skip_field("ignored")?;
        }
        st.end()
    }
}
