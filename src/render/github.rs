//! `--format github`: GitHub Actions workflow commands, one line per finding, which the runner
//! turns into annotations on the job and (for files of the repository) on the diff:
//!
//! ```text
//! ::error file=deploy/nginx.conf,line=12,col=5,title=MD101 alias-trailing-slash::/media/a.jpg opens …
//! ```
//!
//! Findings of failing checks are `::error`, of warning checks `::warning`; a check that could not
//! run is one `::error` (it fails the run, so the log must say why). Passes, skips and checks the
//! profile ignores print nothing. The message carries the evidence and the fix, on several lines
//! (`%0A`). Files are named as `files::SourceFiles` says.

use super::files::SourceFiles;
use crate::report::{CheckResult, Finding, Report, Severity, Status};
use std::io::Write;

pub fn write(out: &mut dyn Write, report: &Report, files: &SourceFiles) -> std::io::Result<()> {
    // Control bytes from outside escaped first (render::safe; the runner would pass ESC and BEL
    // on to the log viewer), then the workflow command's own escapes (`data`, `property`).
    let report = &super::safe::report(report);
    for check in report.checks.iter().filter(|c| c.ignored.is_none()) {
        match check.status {
            Status::Warn | Status::Fail => {
                for f in check
                    .findings
                    .iter()
                    .filter(|f| f.severity > Severity::Info)
                {
                    writeln!(out, "{}", annotation(check, f, files))?;
                }
            }
            Status::Error => writeln!(
                out,
                "::error title={}::{}",
                property(&title(check)),
                data(&check.summary)
            )?,
            Status::Pass | Status::Skip => {}
        }
    }
    Ok(())
}

fn title(check: &CheckResult) -> String {
    format!("{} {}", check.id, check.name)
}

/// One workflow command for one finding.
fn annotation(check: &CheckResult, f: &Finding, files: &SourceFiles) -> String {
    let command = match f.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "notice",
    };
    let mut props = Vec::new();
    if let Some(loc) = &f.location {
        props.push(format!("file={}", property(files.name(&loc.file).as_str())));
        if loc.line > 0 {
            props.push(format!("line={}", loc.line));
            if let Some(col) = loc.column.filter(|&c| c > 0) {
                props.push(format!("col={col}"));
            }
        }
    }
    props.push(format!("title={}", property(&title(check))));

    let mut message = f.message.clone();
    for e in &f.evidence {
        message.push_str(&format!("\n{}: {}", e.label, e.value));
    }
    if let Some(fix) = &f.remediation {
        message.push_str(&format!("\nfix: {}", fix.text));
        for cmd in &fix.commands {
            message.push_str(&format!("\n    {cmd}"));
        }
    }
    format!("::{command} {}::{}", props.join(","), data(&message))
}

/// Escape a command's message, as the runner's toolkit does (`escapeData`).
pub fn data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escape a property value (`escapeProperty`): also `:` and `,`, which delimit properties.
pub fn property(s: &str) -> String {
    data(s).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_like_the_actions_toolkit() {
        assert_eq!(data("100% done\r\nnext"), "100%25 done%0D%0Anext");
        assert_eq!(property("a:b,c%\n"), "a%3Ab%2Cc%25%0A");
        // A message may keep `:` and `,`: only properties delimit on them.
        assert_eq!(data("a: b, c"), "a: b, c");
    }
}
