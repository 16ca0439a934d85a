//! `--format json`: the contract's schema (schema_version 1), pretty-printed, one document.
//! Every check result as it is, then `causes`: the grouping the text report opens with
//! (render::causes), whose members point into `checks` by id and finding index.

use super::causes;
use crate::checks;
use crate::report::cause::Keys;
use crate::report::{CheckResult, Report};
use serde::Serialize;
use serde_json::ser::Formatter as _;
use std::io::Write;

/// The report's fields in their order, then `causes`.
#[derive(Serialize)]
struct WithCauses<'r> {
    #[serde(flatten)]
    report: &'r Report,
    causes: causes::Json<'r>,
}

pub fn write(out: &mut dyn Write, report: &Report) -> std::io::Result<()> {
    let doc = WithCauses {
        report,
        causes: causes::Json { report, keys: &[] },
    };
    // serde_json writes a document in pieces of a few bytes (each key, quote, indent): through
    // `dyn Write` each was two calls through vtables (one site of 360,000 servers writes 1 GB
    // of JSON, a tenth of its run). A buffer of its own takes them inline and hands `out` the
    // blocks.
    let mut buffered = std::io::BufWriter::with_capacity(64 << 10, &mut *out);
    doc.serialize(&mut serde_json::Serializer::with_formatter(
        &mut buffered,
        Pretty::default(),
    ))?;
    writeln!(buffered)?;
    buffered.flush()
}

/// `write`, the findings of the checks that let them go (`checks::Run`) made again as they are
/// written, one check at a time, and the causes grouped from their keys once the checks are
/// written: the same document, in two steps. This one writes everything before `causes` and
/// hands back the keys; the run is let go, and with it what its checks kept. Between the two
/// the caller lets go of what else the checks read (`Site::let_go_of_models`), so that grouping
/// the causes does not add to it; `write_causes` ends the document.
pub fn write_checks_made_again(
    out: &mut dyn Write,
    report: &mut Report,
    run: checks::Run<'_>,
) -> std::io::Result<Vec<Option<Keys>>> {
    use serde::ser::{SerializeMap, Serializer};
    let mut buffered = std::io::BufWriter::with_capacity(64 << 10, &mut *out);
    let mut json = serde_json::Serializer::with_formatter(&mut buffered, Pretty::default());
    let mut m = (&mut json).serialize_map(None)?;
    m.serialize_entry("schema_version", &report.schema_version)?;
    m.serialize_entry("tool", &report.tool)?;
    m.serialize_entry("site", &report.site)?;
    // Written: the site's server blocks (one site lists 360,000) are not read again.
    report.site.servers = None;
    let keys = std::cell::RefCell::new(vec![None; report.checks.len()]);
    let results = Results {
        report: &*report,
        run: &run,
        keys: &keys,
    };
    m.serialize_entry("checks", &results)?;
    m.serialize_entry("summary", &report.summary)?;
    // Not ended (`m.end()` is not called): `write_causes` adds the last entry and ends the
    // object, as `Pretty` would.
    buffered.flush()?;
    Ok(keys.into_inner())
}

/// The last entry of a document `write_checks_made_again` began, `causes`, grouped from `keys`,
/// and the document's end: the bytes `Pretty` writes for them inside the top object (a level
/// deep, after an entry).
pub fn write_causes(
    out: &mut dyn Write,
    report: &Report,
    keys: &[Option<Keys>],
) -> std::io::Result<()> {
    let mut buffered = std::io::BufWriter::with_capacity(64 << 10, &mut *out);
    let mut top = Pretty {
        level: 1,
        has_value: true,
    };
    top.begin_object_key(&mut buffered, false)?;
    serde_json::to_writer(&mut buffered, "causes")?;
    top.begin_object_value(&mut buffered)?;
    causes::Json { report, keys }.serialize(&mut serde_json::Serializer::with_formatter(
        &mut buffered,
        Pretty {
            level: 1,
            has_value: false,
        },
    ))?;
    top.end_object_value(&mut buffered)?;
    top.end_object(&mut buffered)?;
    writeln!(buffered)?;
    buffered.flush()
}

struct Results<'r, 's> {
    report: &'r Report,
    run: &'r checks::Run<'s>,
    /// Per result: the keys of the findings made again, as they are written (the causes are
    /// grouped from them, `write_causes`).
    keys: &'r std::cell::RefCell<Vec<Option<Keys>>>,
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
                    run: self.run,
                    keys: self.keys,
                    i,
                }),
        )
    }
}

/// Result `i`: as it is, or with its findings made again (`CheckResult`'s fields, in order).
struct MadeResult<'r, 's> {
    result: &'r CheckResult,
    run: &'r checks::Run<'s>,
    keys: &'r std::cell::RefCell<Vec<Option<Keys>>>,
    i: usize,
}

impl Serialize for MadeResult<'_, '_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        if !self.run.makes_again_at(self.i) {
            return self.result.serialize(s);
        }
        let r = self.result;
        let mut st = s.serialize_struct("CheckResult", 6)?;
        st.serialize_field("id", r.id)?;
        st.serialize_field("name", r.name)?;
        st.serialize_field("status", &r.status)?;
        st.serialize_field("summary", &r.summary)?;
        st.serialize_field(
            "findings",
            &Made {
                run: self.run,
                keys: self.keys,
                id: r.id,
                i: self.i,
            },
        )?;
        if let Some(why) = &r.ignored {
            st.serialize_field("ignored", why)?;
        } else {
            st.skip_field("ignored")?;
        }
        st.end()
    }
}

/// The findings of result `i` (of check `id`), each written as it is made and let go, its key
/// kept if it is actionable.
struct Made<'r, 's> {
    run: &'r checks::Run<'s>,
    keys: &'r std::cell::RefCell<Vec<Option<Keys>>>,
    id: &'static str,
    i: usize,
}

impl Serialize for Made<'_, '_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        // The length is not known before they are made: an empty list is `[]` either way.
        let mut seq = s.serialize_seq(None)?;
        let mut failed = None;
        let (mut keys, mut index) = (Keys::default(), 0u32);
        made_ahead(self.run, self.i, &mut |f| {
            if f.severity > crate::report::Severity::Info {
                keys.push(&f, self.id, index);
            }
            index += 1;
            if failed.is_none() {
                failed = seq.serialize_element(&f).err();
            }
        });
        // Held until the causes are grouped: at their length, not the capacity they grew to.
        keys.shrink_to_fit();
        self.keys.borrow_mut()[self.i] = Some(keys);
        match failed {
            Some(e) => Err(e),
            None => seq.end(),
        }
    }
}

/// Findings a batch handed from the thread that makes them to the writer, and batches made
/// ahead of the writer at most: ~1 KB a finding, so about a megabyte in flight.
const AHEAD_BATCH: usize = 64;
const AHEAD_BATCHES: usize = 16;

/// `run.each_finding(i, sink)`, the findings made on a thread of their own and handed to
/// `sink` (the writer) in order, a bounded number ahead of it: one thread made them and wrote
/// them in turn (one site of 360,000 servers: MD201's and MD202's findings made again, a
/// million, and 1 GB of JSON written, with the other core idle).
fn made_ahead(run: &checks::Run<'_>, i: usize, sink: &mut dyn FnMut(crate::report::Finding)) {
    if crate::system::cores() < 2 {
        run.each_finding(i, sink);
        return;
    }
    std::thread::scope(|scope| {
        let (batches, made) = std::sync::mpsc::sync_channel(AHEAD_BATCHES);
        // The main thread's stack size, as for the checks' first pass (`checks::run_each`).
        let maker = std::thread::Builder::new()
            .stack_size(8 << 20)
            .spawn_scoped(scope, move || {
                let mut batch = Vec::with_capacity(AHEAD_BATCH);
                run.each_finding(i, &mut |f| {
                    batch.push(f);
                    if batch.len() == AHEAD_BATCH {
                        let full = std::mem::replace(&mut batch, Vec::with_capacity(AHEAD_BATCH));
                        // The writer takes every batch until this thread ends.
                        let _ = batches.send(full);
                    }
                });
                if !batch.is_empty() {
                    let _ = batches.send(batch);
                }
            });
        match maker {
            Ok(_) => made.into_iter().flatten().for_each(sink),
            // No thread to be had: made here, as they are written.
            Err(_) => {
                run.each_finding(i, sink);
            }
        }
    });
}

/// serde_json's `PrettyFormatter` (two spaces a level), each line's break and indent written
/// at once: it wrote the indent a level at a time, each a call into the writer (one site of
/// 360,000 servers writes 1 GB of JSON, ~40 million lines, most six levels deep).
#[derive(Default)]
struct Pretty {
    level: usize,
    has_value: bool,
}

/// `,`, a line break and the indent of 32 levels: a line's start is a slice of it.
const LINE: &[u8] = b",\n                                                                ";

impl Pretty {
    /// A line break and the indent of this level, after a comma unless `first`.
    fn line<W: ?Sized + Write>(&self, w: &mut W, first: bool) -> std::io::Result<()> {
        let start = usize::from(first);
        match LINE.get(start..2 + 2 * self.level) {
            Some(line) => w.write_all(line),
            None => {
                w.write_all(&LINE[start..2])?;
                (0..self.level).try_for_each(|_| w.write_all(b"  "))
            }
        }
    }
}

impl serde_json::ser::Formatter for Pretty {
    fn begin_array<W: ?Sized + Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.level += 1;
        self.has_value = false;
        w.write_all(b"[")
    }

    fn end_array<W: ?Sized + Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.level -= 1;
        if self.has_value {
            self.line(w, true)?;
        }
        w.write_all(b"]")
    }

    fn begin_array_value<W: ?Sized + Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.line(w, first)
    }

    fn end_array_value<W: ?Sized + Write>(&mut self, _w: &mut W) -> std::io::Result<()> {
        self.has_value = true;
        Ok(())
    }

    fn begin_object<W: ?Sized + Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.level += 1;
        self.has_value = false;
        w.write_all(b"{")
    }

    fn end_object<W: ?Sized + Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.level -= 1;
        if self.has_value {
            self.line(w, true)?;
        }
        w.write_all(b"}")
    }

    fn begin_object_key<W: ?Sized + Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.line(w, first)
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        w.write_all(b": ")
    }

    fn end_object_value<W: ?Sized + Write>(&mut self, _w: &mut W) -> std::io::Result<()> {
        self.has_value = true;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Pretty` writes what serde_json's pretty printer writes, deeper than its line too.
    #[test]
    fn pretty_is_serde_jsons_pretty_printer() {
        let mut deep = serde_json::json!([]);
        for i in 0..40 {
            deep = serde_json::json!({ "level": i, "empty": {}, "none": [], "in": [deep, "x"] });
        }
        let mut ours = Vec::new();
        deep.serialize(&mut serde_json::Serializer::with_formatter(
            &mut ours,
            Pretty::default(),
        ))
        .unwrap();
        assert_eq!(
            String::from_utf8(ours).unwrap(),
            serde_json::to_string_pretty(&deep).unwrap()
        );
    }
}
