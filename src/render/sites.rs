//! `check` with no `--site` on a box with several sites: every site is checked on its own and
//! reported as it is checked (bounded memory, whatever the number of sites).
//!
//! Text: one line per site; the details (causes, checklist) only for a failing site, and for at
//! most `DETAILED` sites per failing check, the others counted at the end. JSON: the usual
//! document, with `sites[]` (one full report per site, written as each is done) and top-level
//! `checks` that give each check's worst status over the sites, without findings (they are in
//! `sites[].checks`); see docs/json-schema.md.

use crate::report::{CheckResult, FailOn, Report, Status, Summary};
use colored::Colorize;
use std::collections::BTreeMap;
use std::io::Write;

/// How many sites' details are shown per failing check in text.
pub const DETAILED: usize = 3;

/// One check over every site: its worst status, on how many sites it fails or warns, the first
/// few of those.
#[derive(Debug, Default, Clone)]
struct Over {
    id: &'static str,
    name: &'static str,
    band: Option<crate::report::Band>,
    worst: Option<Status>,
    failing: usize,
    warning: usize,
    skipped: usize,
    /// Sites whose details were shown for this check.
    shown: usize,
    /// Failing sites not detailed (their names, the first few).
    not_shown: Vec<String>,
    not_shown_count: usize,
}

/// What every site's report adds to the run's totals.
#[derive(Debug, Default)]
pub struct Totals {
    sites: usize,
    failing_sites: usize,
    checks: BTreeMap<&'static str, Over>,
    fails: bool,
}

fn worse(a: Option<Status>, b: Status) -> Status {
    let rank = |s: Status| match s {
        Status::Error => 5,
        Status::Fail => 4,
        Status::Warn => 3,
        Status::Pass => 2,
        Status::Skip => 1,
    };
    match a {
        Some(a) if rank(a) >= rank(b) => a,
        _ => b,
    }
}

impl Totals {
    /// Adds one site's report; returns whether the site fails at `fail_on`.
    fn add(&mut self, report: &Report, fail_on: FailOn) -> bool {
        self.sites += 1;
        let fails = report.fails_at(fail_on);
        self.fails |= fails;
        if fails {
            self.failing_sites += 1;
        }
        for c in &report.checks {
            let o = self.checks.entry(c.id).or_insert_with(|| Over {
                id: c.id,
                name: c.name,
                band: Some(c.band),
                ..Default::default()
            });
            if c.ignored.is_some() {
                continue;
            }
            o.worst = Some(worse(o.worst, c.status));
            match c.status {
                Status::Fail | Status::Error => o.failing += 1,
                Status::Warn => o.warning += 1,
                Status::Skip => o.skipped += 1,
                Status::Pass => {}
            }
        }
        fails
    }

    /// Whether any site fails at the threshold (the exit code).
    pub fn fails(&self) -> bool {
        self.fails
    }

    /// The top-level `checks`: each check's worst status over the sites, and on how many it
    /// fails; the findings are in each site's entry.
    fn checks(&self) -> Vec<CheckResult> {
        self.checks
            .values()
            .map(|o| {
                let status = o.worst.unwrap_or(Status::Skip);
                let summary = match (o.failing, o.warning) {
                    (0, 0) if status == Status::Skip => {
                        format!("skipped on every site ({} sites)", self.sites)
                    }
                    (0, 0) => format!("passes on every site ({} sites)", self.sites),
                    (f, 0) => format!("fails on {f} of {} sites", self.sites),
                    (0, w) => format!("warns on {w} of {} sites", self.sites),
                    (f, w) => format!("fails on {f} and warns on {w} of {} sites", self.sites),
                };
                CheckResult {
                    id: o.id,
                    name: o.name,
                    band: o.band.unwrap_or(crate::report::Band::Nginx),
                    status,
                    summary,
                    findings: Vec::new(),
                    ignored: None,
                }
            })
            .collect()
    }
}

/// The text of a run over every site, written as the sites are checked.
pub struct Text<'o> {
    out: &'o mut dyn Write,
    opts: super::text::Options,
    totals: Totals,
}

impl<'o> Text<'o> {
    pub fn start(
        out: &'o mut dyn Write,
        opts: super::text::Options,
        sites: usize,
        source: &str,
    ) -> std::io::Result<Text<'o>> {
        writeln!(
            out,
            "{}",
            format!("{sites} sites in {source}; each is checked on its own").bold()
        )?;
        Ok(Text {
            out,
            opts,
            totals: Totals::default(),
        })
    }

    /// One site: its line, then its details when it fails and one of its failing checks has
    /// not been detailed on `DETAILED` sites yet.
    pub fn site(&mut self, name: &str, report: &Report) -> std::io::Result<()> {
        let fails = self.totals.add(report, self.opts.fail_on);
        let bad: Vec<&CheckResult> = report
            .checks
            .iter()
            .filter(|c| c.ignored.is_none() && self.opts.fail_on.counts(c.status))
            .collect();
        let warn: Vec<&CheckResult> = report
            .checks
            .iter()
            .filter(|c| {
                c.ignored.is_none() && c.status == Status::Warn && !bad.iter().any(|b| b.id == c.id)
            })
            .collect();
        let ids = |v: &[&CheckResult]| v.iter().map(|c| c.id).collect::<Vec<_>>().join(" ");
        let line = if fails {
            format!("{} {name}: fails {}", "[✗]".red().bold(), ids(&bad))
        } else if !warn.is_empty() {
            format!("{} {name}: warns {}", "[!]".yellow().bold(), ids(&warn))
        } else {
            format!("{} {name}: ok", "[✓]".green().bold())
        };
        writeln!(self.out, "{line}")?;
        if !fails {
            return Ok(());
        }
        let detail = bad.iter().any(|c| {
            self.totals
                .checks
                .get(c.id)
                .is_some_and(|o| o.shown < DETAILED)
        });
        for c in &bad {
            let Some(o) = self.totals.checks.get_mut(c.id) else {
                continue;
            };
            if detail {
                o.shown += 1;
            } else {
                o.not_shown_count += 1;
                if o.not_shown.len() < 5 {
                    o.not_shown.push(name.to_string());
                }
            }
        }
        if detail {
            let mut buf: Vec<u8> = Vec::new();
            super::text::write(&mut buf, report, &self.opts)?;
            for l in String::from_utf8_lossy(&buf).lines() {
                if l.is_empty() {
                    writeln!(self.out)?;
                } else {
                    writeln!(self.out, "    {l}")?;
                }
            }
        }
        Ok(())
    }

    /// The sites not detailed, per check, and the summary over every site.
    pub fn finish(self) -> std::io::Result<Totals> {
        let Text { out, totals, .. } = self;
        let mut any = false;
        for o in totals.checks.values().filter(|o| o.not_shown_count > 0) {
            if !any {
                writeln!(out)?;
                any = true;
            }
            let more = o.not_shown_count - o.not_shown.len();
            writeln!(
                out,
                "{} {} also fails on {} more site{} not detailed above: {}{}",
                o.id,
                o.name,
                o.not_shown_count,
                if o.not_shown_count == 1 { "" } else { "s" },
                o.not_shown.join(", "),
                if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                }
            )?;
        }
        if any {
            writeln!(
                out,
                "(`media-doctor check --site NAME` shows one site in full; --format json keeps every finding)"
            )?;
        }
        writeln!(
            out,
            "Summary: {} of {} sites fail, {} pass",
            totals.failing_sites,
            totals.sites,
            totals.sites - totals.failing_sites
        )?;
        Ok(totals)
    }
}

/// The JSON of a run over every site, written as the sites are checked: `sites[]` first (one
/// report per site, each a line), then the top-level `checks`, `summary` and `causes`.
pub struct Json<'o> {
    out: &'o mut dyn Write,
    fail_on: FailOn,
    totals: Totals,
    first: bool,
    /// One site's entry, serialised here and written whole: serde_json writes a report in
    /// thousands of small pieces, each a call through `dyn Write` into the output's buffer.
    entry: Vec<u8>,
}

impl<'o> Json<'o> {
    pub fn start(
        out: &'o mut dyn Write,
        fail_on: FailOn,
        site: &serde_json::Value,
    ) -> std::io::Result<Json<'o>> {
        let tool = crate::report::Tool::default();
        write!(
            out,
            "{{\n  \"schema_version\": {},\n  \"tool\": {},\n  \"site\": {},\n  \"sites\": [",
            Report::SCHEMA_VERSION,
            serde_json::to_string(&tool)?,
            serde_json::to_string(site)?
        )?;
        Ok(Json {
            out,
            fail_on,
            totals: Totals::default(),
            first: true,
            entry: Vec::new(),
        })
    }

    /// One site's entry: its name, then the report as `check --site NAME` would give it.
    pub fn site(&mut self, name: &str, report: &Report) -> std::io::Result<()> {
        self.totals.add(report, self.fail_on);
        #[derive(serde::Serialize)]
        struct Entry<'r> {
            name: &'r str,
            #[serde(flatten)]
            report: &'r Report,
            causes: super::causes::Json<'r>,
        }
        let entry = Entry {
            name,
            report,
            causes: super::causes::Json { report, keys: &[] },
        };
        self.entry.clear();
        self.entry
            .extend_from_slice(if self.first { b"\n    " } else { b",\n    " });
        self.first = false;
        serde_json::to_writer(&mut self.entry, &entry)?;
        self.out.write_all(&self.entry)?;
        // A site of many servers leaves no large buffer behind.
        if self.entry.capacity() > 1 << 20 {
            self.entry = Vec::new();
        }
        Ok(())
    }

    pub fn finish(self) -> std::io::Result<Totals> {
        let Json { out, totals, .. } = self;
        let checks = totals.checks();
        let summary = Summary::of(&checks);
        write!(
            out,
            "\n  ],\n  \"checks\": {},\n  \"summary\": {},\n  \"causes\": []\n}}\n",
            serde_json::to_string(&checks)?,
            serde_json::to_string(&summary)?
        )?;
        Ok(totals)
    }
}
