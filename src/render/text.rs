//! The text checklist, in the style of `flutter doctor`:
//!
//! ```text
//! nginx configuration
//! [✗] MD101 alias-trailing-slash: /media/a.jpg opens /srv/mediaa.jpg
//!     at /etc/nginx/sites-enabled/myapp:12
//!     path: /srv/mediaa.jpg
//!     fix: add the trailing slash to alias
//!         sudo nginx -t && sudo systemctl reload nginx
//! ```
//!
//! Colours come from `colored`, whose global override main() sets (terminal only, never NO_COLOR).

use crate::checks::Band;
use crate::report::{CheckResult, Finding, Report, Severity, Status};
use colored::Colorize;
use std::io::Write;

#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Show the evidence of passing checks too.
    pub verbose: bool,
}

pub fn write(out: &mut dyn Write, report: &Report, opts: &Options) -> std::io::Result<()> {
    let bands = [Band::Nginx, Band::Filesystem, Band::App, Band::Live];
    for band in bands {
        let in_band: Vec<&CheckResult> = report.checks.iter().filter(|c| c.band == band).collect();
        if in_band.is_empty() {
            continue;
        }
        writeln!(out, "{}", band.title().bold())?;
        // Failing checks first within the band: that is where the eye lands.
        let mut ordered = in_band;
        ordered.sort_by_key(|c| std::cmp::Reverse(c.status));
        for check in ordered {
            write_check(out, check, opts)?;
        }
        writeln!(out)?;
    }
    writeln!(out, "{}", summary_line(report))
}

fn write_check(out: &mut dyn Write, check: &CheckResult, opts: &Options) -> std::io::Result<()> {
    let mark = match check.status {
        Status::Pass => "[✓]".green(),
        Status::Warn => "[!]".yellow(),
        Status::Fail => "[✗]".red(),
        Status::Skip => "[-]".dimmed(),
        Status::Error => "[✗]".red(),
    };
    let head = format!("{} {}", check.id, check.name);
    let summary = match check.status {
        Status::Skip => format!("skipped: {}", check.summary).dimmed().to_string(),
        Status::Error => format!("could not run: {}", check.summary),
        _ => check.summary.clone(),
    };
    writeln!(out, "{mark} {}: {summary}", head.bold())?;
    let show = |f: &Finding| f.severity > Severity::Info || opts.verbose;
    let shown: Vec<&Finding> = check.findings.iter().filter(|f| show(f)).collect();
    let single_repeats_summary = shown.len() == 1 && shown[0].message == check.summary;
    for f in shown {
        if !single_repeats_summary {
            let bullet = match f.severity {
                Severity::Error => "✗".red(),
                Severity::Warning => "!".yellow(),
                Severity::Info => "·".normal(),
            };
            writeln!(out, "    {bullet} {}", f.message)?;
        }
        if let Some(loc) = &f.location {
            writeln!(out, "      {} {loc}", "at".dimmed())?;
        }
        for e in &f.evidence {
            write_labelled(out, &e.label, &e.value)?;
        }
        if let Some(fix) = &f.remediation {
            writeln!(
                out,
                "      {} {}",
                "fix:".cyan().bold(),
                indent_rest(&fix.text, 11)
            )?;
            for cmd in &fix.commands {
                writeln!(out, "          {}", cmd.cyan())?;
            }
        }
    }
    Ok(())
}

fn write_labelled(out: &mut dyn Write, label: &str, value: &str) -> std::io::Result<()> {
    if value.contains('\n') {
        writeln!(out, "      {}:", label.dimmed())?;
        for line in value.lines() {
            writeln!(out, "          {line}")?;
        }
        Ok(())
    } else {
        writeln!(out, "      {} {value}", format!("{label}:").dimmed())
    }
}

/// Continuation lines of a multi-line text, indented to sit under its first line.
fn indent_rest(text: &str, width: usize) -> String {
    let pad = " ".repeat(width);
    text.lines()
        .enumerate()
        .map(|(i, l)| {
            if i == 0 {
                l.to_string()
            } else {
                format!("\n{pad}{l}")
            }
        })
        .collect()
}

pub fn summary_line(report: &Report) -> String {
    let s = &report.summary;
    let mut parts = Vec::new();
    if s.fail > 0 {
        parts.push(format!("{} failed", s.fail).red().bold().to_string());
    }
    if s.error > 0 {
        parts.push(format!("{} could not run", s.error).red().to_string());
    }
    if s.warn > 0 {
        parts.push(
            format!("{} warning{}", s.warn, if s.warn == 1 { "" } else { "s" })
                .yellow()
                .to_string(),
        );
    }
    parts.push(format!("{} passed", s.pass).green().to_string());
    if s.skip > 0 {
        parts.push(format!("{} skipped", s.skip));
    }
    format!("Summary: {}", parts.join(", "))
}
