//! The check engine: the `Check` trait, each check's `Meta`, the registry, and the runner.
//!
//! A check reads the already-gathered `Site` (it never re-parses config) and returns an `Outcome`.
//! The runner turns outcomes into `CheckResult`s; a check that returns an error or panics becomes
//! status `error` with the reason, and the run goes on.
//!
//! Checks live one band per file (`nginx.rs` = MD1xx, ...); each band file exposes `CHECKS`.

use crate::report::{CheckResult, Finding, Severity, Status};
use crate::site::Site;
use serde::Serialize;
use std::panic::{catch_unwind, AssertUnwindSafe};

pub mod app;
pub mod fs;
pub mod live;
pub mod nginx;
pub mod nginx_common;
pub mod nginx_paths;
pub mod nginx_reload;
pub mod nginx_routing;
pub mod nginx_uploads;
pub mod select;

/// The catalogue's bands: the first digit of the id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Band {
    Nginx,
    Filesystem,
    App,
    Live,
}

impl Band {
    /// The band's name as in the JSON (`"band": "nginx"`) and in `list-checks`.
    pub fn name(self) -> &'static str {
        match self {
            Band::Nginx => "nginx",
            Band::Filesystem => "filesystem",
            Band::App => "app",
            Band::Live => "live",
        }
    }
    pub fn title(self) -> &'static str {
        match self {
            Band::Nginx => "nginx configuration",
            Band::Filesystem => "filesystem",
            Band::App => "app \u{2194} nginx alignment",
            Band::Live => "live",
        }
    }
    /// `MD1` for nginx, ...: the prefix `--select`/`--ignore` accept for a whole band.
    pub fn prefix(self) -> &'static str {
        match self {
            Band::Nginx => "MD1",
            Band::Filesystem => "MD2",
            Band::App => "MD3",
            Band::Live => "MD4",
        }
    }
}

/// What never changes about a check: its stable id and name (scripts depend on both), and its page.
#[derive(Debug, Serialize)]
pub struct Meta {
    pub id: &'static str,
    pub name: &'static str,
    pub band: Band,
    pub summary: &'static str,
    /// The check's page, checks/ID.md, compiled in for `explain`.
    #[serde(skip)]
    pub docs: &'static str,
}

impl Meta {
    /// The sections every page has, in order (after its `# ID name` title).
    pub const PAGE_SECTIONS: [&'static str; 4] = [
        "What it checks",
        "Why it breaks media",
        "How to fix",
        "Example",
    ];

    /// The text of the page's `## {title}` section, without its heading, trimmed.
    pub fn section(&self, title: &str) -> Option<&'static str> {
        let docs: &'static str = self.docs;
        let heading = format!("## {title}");
        let mut offset = 0;
        let mut start = None;
        let mut in_fence = false;
        for line in docs.split_inclusive('\n') {
            let end = offset + line.len();
            let trimmed = line.trim_end();
            if trimmed.starts_with("```") {
                in_fence = !in_fence;
            } else if in_fence {
                // A `# comment` inside a fenced block is not a heading.
            } else if let Some(s) = start {
                if trimmed.starts_with("## ") || trimmed.starts_with("# ") {
                    return Some(docs[s..offset].trim());
                }
            } else if trimmed == heading {
                start = Some(end);
            }
            offset = end;
        }
        start.map(|s| docs[s..].trim())
    }
}

/// What a check concluded.
#[derive(Debug, Default)]
pub struct Outcome {
    pub findings: Vec<Finding>,
    /// Set when the check could not decide: the reason ("--offline", "no app config found", ...).
    pub skipped: Option<String>,
    /// A one-line summary; when absent the runner derives one from the findings.
    pub summary: Option<String>,
}

impl Outcome {
    pub fn pass(summary: impl Into<String>) -> Self {
        Outcome {
            summary: Some(summary.into()),
            ..Default::default()
        }
    }
    pub fn skip(reason: impl Into<String>) -> Self {
        Outcome {
            skipped: Some(reason.into()),
            ..Default::default()
        }
    }
    pub fn findings(findings: Vec<Finding>) -> Self {
        Outcome {
            findings,
            ..Default::default()
        }
    }
    pub fn with_summary(mut self, summary: impl Into<String>) -> Self {
        self.summary = Some(summary.into());
        self
    }
}

pub trait Check: Sync {
    fn meta(&self) -> &'static Meta;
    fn run(&self, site: &Site) -> anyhow::Result<Outcome>;
}

/// Every check, in id order. Ids are unique (a unit test holds that).
pub fn registry() -> Vec<&'static dyn Check> {
    let mut all: Vec<&'static dyn Check> = Vec::new();
    all.extend_from_slice(nginx::CHECKS);
    all.extend_from_slice(nginx_paths::CHECKS);
    all.extend_from_slice(nginx_routing::CHECKS);
    all.extend_from_slice(nginx_uploads::CHECKS);
    all.extend_from_slice(fs::CHECKS);
    all.extend_from_slice(nginx_reload::CHECKS);
    all.extend_from_slice(app::CHECKS);
    all.extend_from_slice(live::CHECKS);
    all.sort_by_key(|c| c.meta().id);
    all
}

pub fn find(id: &str) -> Option<&'static dyn Check> {
    registry()
        .into_iter()
        .find(|c| c.meta().id.eq_ignore_ascii_case(id) || c.meta().name == id)
}

/// Run one check, turning errors and panics into status `error`.
pub fn run_one(check: &dyn Check, site: &Site) -> CheckResult {
    let meta = check.meta();
    let result = catch_unwind(AssertUnwindSafe(|| check.run(site)));
    let (status, summary, findings) = match result {
        Ok(Ok(outcome)) => settle(meta, outcome),
        Ok(Err(err)) => (
            Status::Error,
            format!("the check could not run: {err:#}"),
            Vec::new(),
        ),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            (
                Status::Error,
                format!("internal error in the check (please report it): {what}"),
                Vec::new(),
            )
        }
    };
    CheckResult {
        id: meta.id,
        name: meta.name,
        band: meta.band,
        status,
        summary,
        findings,
        ignored: None,
    }
}

fn settle(meta: &Meta, outcome: Outcome) -> (Status, String, Vec<Finding>) {
    if let Some(reason) = outcome.skipped {
        return (Status::Skip, reason, outcome.findings);
    }
    let worst = outcome.findings.iter().map(|f| f.severity).max();
    let status = match worst {
        Some(Severity::Error) => Status::Fail,
        Some(Severity::Warning) => Status::Warn,
        Some(Severity::Info) | None => Status::Pass,
    };
    let summary = outcome.summary.unwrap_or_else(|| {
        let actionable: Vec<&Finding> = outcome
            .findings
            .iter()
            .filter(|f| f.severity > Severity::Info)
            .collect();
        match actionable.as_slice() {
            [] => meta.summary.to_string(),
            [one] => one.message.clone(),
            [first, rest @ ..] => format!("{} (and {} more)", first.message, rest.len()),
        }
    });
    (status, summary, outcome.findings)
}

/// Run every check in the registry, in id order.
pub fn run_all(site: &Site) -> Vec<CheckResult> {
    run(site, &registry())
}

/// Run the given checks (e.g. `select::Selection::checks()`), in the order given.
pub fn run(site: &Site, checks: &[&'static dyn Check]) -> Vec<CheckResult> {
    checks.iter().map(|c| run_one(*c, site)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn band_names_are_their_json_names() {
        for band in [Band::Nginx, Band::Filesystem, Band::App, Band::Live] {
            assert_eq!(serde_json::to_value(band).unwrap(), band.name());
        }
    }

    #[test]
    fn page_sections_are_found_and_fences_are_not_headings() {
        let meta = Meta {
            id: "MD999",
            name: "test",
            band: Band::Nginx,
            summary: "",
            docs: "# MD999 test\n\n## What it checks\nThis.\n\n## How to fix\n```sh\n# a comment\nrun\n```\n\n## Example\nx\n",
        };
        assert_eq!(meta.section("What it checks"), Some("This."));
        assert_eq!(
            meta.section("How to fix"),
            Some("```sh\n# a comment\nrun\n```")
        );
        assert_eq!(meta.section("Example"), Some("x"));
        assert_eq!(meta.section("Why it breaks media"), None);
    }

    #[test]
    fn ids_and_names_are_unique_and_well_formed() {
        let mut ids = HashSet::new();
        let mut names = HashSet::new();
        for c in registry() {
            let m = c.meta();
            assert!(ids.insert(m.id), "duplicate id {}", m.id);
            assert!(names.insert(m.name), "duplicate name {}", m.name);
            assert!(m.id.len() == 5 && m.id.starts_with("MD"), "bad id {}", m.id);
            assert!(
                m.id.starts_with(m.band.prefix()),
                "{} is not in band {:?}",
                m.id,
                m.band
            );
            assert!(
                m.docs.starts_with(&format!("# {}", m.id)),
                "{}: page must start with '# {}'",
                m.id,
                m.id
            );
        }
    }
}
