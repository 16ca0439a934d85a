//! `--format sarif`: SARIF 2.1.0 for code-scanning tools (GitHub code scanning, GitLab, IDEs).
//!
//! - The rules table is built from the registry: one rule per check in the report, with its
//!   summary, the "What it checks" section, its whole page as help, and a link to the page when
//!   the package names its repository.
//! - Only actionable results: the findings (warning or error severity) of checks that warn or
//!   fail. Passes, skips and info findings are not results.
//! - A finding with a config location gets a physical location (file, line, column), the file
//!   named as `files::SourceFiles` says; any other finding is placed on the analysis target (the
//!   site's nginx entry config), because GitHub code scanning rejects a result without a file. A
//!   finding about a path on disk (evidence labelled `path`) also gets a logical location naming
//!   that path.
//! - A check the profile ignores still reports its results, each with an external suppression
//!   carrying the profile's reason, so code scanning shows it as dismissed, not as fixed.
//! - A check that could not run is a tool execution notification, not a result.

use super::files::{SourceFile, SourceFiles};
use crate::checks;
use crate::report::{CheckResult, Finding, Report, Severity, Status};
use serde_json::json;
use serde_sarif::sarif::{
    ArtifactLocation, Invocation, Location as SarifLocation, LogicalLocation, Message,
    MultiformatMessageString, Notification, PhysicalLocation, PropertyBag, Region,
    ReportingDescriptor, ReportingDescriptorReference, Result as SarifResult, ResultLevel, Run,
    Sarif, Suppression, Tool, ToolComponent,
};
use std::collections::BTreeMap;
use std::io::Write;

/// The OASIS schema this output follows (also vendored for the tests: tests/data/).
pub const SCHEMA_URI: &str =
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";

/// The base id of relative file URIs: the working directory the tool ran in.
const SRCROOT: &str = "SRCROOT";

pub fn write(out: &mut dyn Write, report: &Report, files: &SourceFiles) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, &log(report, files))?;
    writeln!(out)
}

/// The whole SARIF log for one report: one run.
pub fn log(report: &Report, files: &SourceFiles) -> Sarif {
    let rules: Vec<ReportingDescriptor> = report.checks.iter().map(rule).collect();
    let results: Vec<SarifResult> = report
        .checks
        .iter()
        .enumerate()
        .filter(|(_, c)| matches!(c.status, Status::Warn | Status::Fail))
        .flat_map(|(index, check)| {
            check
                .findings
                .iter()
                .filter(|f| f.severity > Severity::Info)
                .map(move |f| result(check, index, f, files))
        })
        .collect();
    let notifications: Vec<Notification> = report
        .checks
        .iter()
        .enumerate()
        .filter(|(_, c)| c.status == Status::Error)
        .map(|(index, check)| {
            Notification::builder()
                .level("error")
                .message(text(format!("{}: {}", check.id, check.summary)))
                .descriptor(rule_ref(check, index))
                .build()
        })
        .collect();
    let invocation = if notifications.is_empty() {
        Invocation::builder().execution_successful(true).build()
    } else {
        Invocation::builder()
            .execution_successful(true)
            .tool_execution_notifications(notifications)
            .build()
    };

    let mut driver = ToolComponent::builder()
        .name(report.tool.name)
        .version(report.tool.version)
        .semantic_version(report.tool.version)
        .rules(rules)
        .build();
    driver.information_uri = repository();

    let mut run = Run::builder()
        .tool(Tool::builder().driver(driver).build())
        .invocations(vec![invocation])
        .results(results)
        .build();
    if let Some(base) = files.base() {
        let mut dir = super::files::file_uri(&base.to_string_lossy());
        if !dir.ends_with('/') {
            dir.push('/');
        }
        let mut bases = BTreeMap::new();
        bases.insert(
            SRCROOT.to_string(),
            ArtifactLocation::builder().uri(dir).build(),
        );
        run.original_uri_base_ids = Some(bases);
    }

    Sarif::builder()
        .schema(SCHEMA_URI)
        .version("2.1.0")
        .runs(vec![run])
        .build()
}

fn text(s: impl Into<String>) -> Message {
    Message::builder().text(s.into()).build()
}

fn multiformat(text: &str, markdown: Option<&str>) -> MultiformatMessageString {
    let mut m = MultiformatMessageString::builder().text(text).build();
    m.markdown = markdown.map(str::to_string);
    m
}

/// The package's repository (Cargo.toml `repository`), if it names one.
fn repository() -> Option<String> {
    let repo = env!("CARGO_PKG_REPOSITORY").trim_end_matches('/');
    (!repo.is_empty()).then(|| repo.to_string())
}

/// Where a check's page is published: checks/ID.md in the repository.
pub fn help_uri(id: &str) -> Option<String> {
    repository().map(|repo| format!("{repo}/blob/main/checks/{id}.md"))
}

fn rule(check: &CheckResult) -> ReportingDescriptor {
    let mut rule = ReportingDescriptor::builder()
        .id(check.id)
        .name(check.name)
        .build();
    rule.properties = Some(
        PropertyBag::builder()
            .tags(vec![check.band.name().to_string()])
            .build(),
    );
    if let Some(meta) = checks::find(check.id).map(|c| c.meta()) {
        rule.short_description = Some(multiformat(meta.summary, None));
        rule.full_description = meta
            .section("What it checks")
            .map(|what| multiformat(what, Some(what)));
        rule.help = Some(multiformat(meta.docs, Some(meta.docs)));
        rule.help_uri = help_uri(meta.id);
    }
    rule
}

fn rule_ref(check: &CheckResult, index: usize) -> ReportingDescriptorReference {
    ReportingDescriptorReference::builder()
        .id(check.id)
        .index(index as i64)
        .build()
}

fn result(check: &CheckResult, index: usize, f: &Finding, files: &SourceFiles) -> SarifResult {
    let level = match f.severity {
        Severity::Error => ResultLevel::Error,
        Severity::Warning => ResultLevel::Warning,
        Severity::Info => ResultLevel::Note,
    };
    let mut locations = Vec::new();
    let artifact = |file: &str| match files.name(file) {
        rel @ SourceFile::Relative(_) => ArtifactLocation::builder()
            .uri(rel.uri())
            .uri_base_id(SRCROOT)
            .build(),
        sys @ SourceFile::System(_) => ArtifactLocation::builder().uri(sys.uri()).build(),
    };
    if let Some(loc) = &f.location {
        let mut physical = PhysicalLocation::builder()
            .artifact_location(artifact(&loc.file))
            .build();
        if loc.line > 0 {
            let mut region = Region::builder().start_line(loc.line as i64).build();
            region.start_column = loc.column.filter(|&c| c > 0).map(i64::from);
            physical.region = Some(region);
        }
        locations.push(SarifLocation::builder().physical_location(physical).build());
    } else if let Some(target) = files.target() {
        // No file of its own (a directory on disk, a live response): show it on the site's
        // nginx config, which is what serves that path.
        let physical = PhysicalLocation::builder()
            .artifact_location(artifact(target))
            .build();
        locations.push(SarifLocation::builder().physical_location(physical).build());
    }
    let paths = f.evidence.iter().filter(|e| e.label == "path");
    for e in paths {
        let logical = LogicalLocation::builder()
            .name(e.value.as_str())
            .fully_qualified_name(e.value.as_str())
            .kind("resource")
            .build();
        locations.push(
            SarifLocation::builder()
                .logical_locations(vec![logical])
                .build(),
        );
    }

    let mut message = f.message.clone();
    if let Some(fix) = &f.remediation {
        message.push_str("\n\nfix: ");
        message.push_str(&fix.text);
        for cmd in &fix.commands {
            message.push_str("\n    ");
            message.push_str(cmd);
        }
    }
    let mut props = BTreeMap::new();
    props.insert("evidence".to_string(), json!(f.evidence));
    if let Some(fix) = &f.remediation {
        props.insert("remediation".to_string(), json!(fix));
    }

    let mut result = SarifResult::builder()
        .rule_id(check.id)
        .rule_index(index as i64)
        .level(level)
        .message(text(message))
        .properties(PropertyBag::builder().additional_properties(props).build())
        .build();
    if !locations.is_empty() {
        result.locations = Some(locations);
    }
    if let Some(reason) = &check.ignored {
        result.suppressions = Some(vec![Suppression::builder()
            .kind("external")
            .status("accepted")
            .justification(reason.as_str())
            .build()]);
    }
    result
}
