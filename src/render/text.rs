//! The text checklist, in the style of `flutter doctor`:
//!
//! ```text
//! nginx configuration: 1 failed, 3 passed
//! [✗] MD101 alias-trailing-slash: /media/a.jpg opens /srv/mediaa.jpg
//!       at /etc/nginx/sites-enabled/myapp:12
//!       path: /srv/mediaa.jpg
//!       fix: add the trailing slash to alias
//!         sudo nginx -t && sudo systemctl reload nginx
//! [✓] MD100 nginx-config-loads: 3 files loaded from /etc/nginx/nginx.conf
//!
//! Summary: 1 failed, 3 passed
//! Fix the most first:
//!     # after the config edits above (MD101 alias-trailing-slash)
//!     sudo nginx -t && sudo systemctl reload nginx
//! ```
//!
//! Checks are grouped by band; inside a band the failing ones come first, with their evidence and
//! fixes, then warnings, then passes and skips on one line each. Prose is wrapped to the width
//! (the terminal's, else 80); commands and indented blocks are never wrapped, so they paste.
//! Colours come from `colored`, whose global override main() sets (terminal only, never NO_COLOR).

use crate::checks::Band;
use crate::report::{CheckResult, FailOn, Finding, Report, Severity, Status, OR_INSTEAD};
use colored::{ColoredString, Colorize};
use std::collections::{HashMap, HashSet};
use std::io::{IsTerminal, Write};

#[derive(Debug, Clone)]
pub struct Options {
    /// Show the evidence and info findings of passing checks too (`-v`).
    pub verbose: bool,
    /// Show only the checks that count against `fail_on`, and the summary (`-q`).
    pub quiet: bool,
    /// The `--fail-on` threshold `quiet` keeps (fail and error when it is `never`).
    pub fail_on: FailOn,
    /// Columns to wrap prose at.
    pub width: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            verbose: false,
            quiet: false,
            fail_on: FailOn::Error,
            width: DEFAULT_WIDTH,
        }
    }
}

const DEFAULT_WIDTH: usize = 80;
/// Past this, lines of prose get hard to follow; wider terminals still get 120-column text.
const MAX_WIDTH: usize = 120;
const MIN_WIDTH: usize = 40;

/// The width to wrap at: the terminal's when stdout is one, else 80.
pub fn terminal_width() -> usize {
    terminal_columns().unwrap_or(DEFAULT_WIDTH)
}

/// The terminal's width (clamped to what stays readable) when stdout is a terminal; None when
/// it is a pipe or a file.
pub fn terminal_columns() -> Option<usize> {
    if !std::io::stdout().is_terminal() {
        return None;
    }
    Some(
        crossterm::terminal::size()
            .map(|(cols, _)| (cols as usize).clamp(MIN_WIDTH, MAX_WIDTH))
            .unwrap_or(DEFAULT_WIDTH),
    )
}

const BANDS: [Band; 6] = Band::ALL;

pub fn write(out: &mut dyn Write, report: &Report, opts: &Options) -> std::io::Result<()> {
    // Strings from outside reach the terminal escaped (render::safe), whatever the check wrote.
    write_safe(out, &super::safe::report(report), opts)
}

/// `write`, the report made safe in place (`safe::make_safe`) rather than copied: one site of
/// 360,000 servers has a million findings.
pub fn write_in_place(
    out: &mut dyn Write,
    report: &mut Report,
    opts: &Options,
) -> std::io::Result<()> {
    super::safe::make_safe(report);
    write_safe(out, report, opts)
}

/// `write` of a report already made safe.
fn write_safe(out: &mut dyn Write, report: &Report, opts: &Options) -> std::io::Result<()> {
    let w = Wrapper { width: opts.width };
    if opts.quiet {
        return write_checklist(out, report, opts, &w);
    }
    write_judged(out, report, &w)?;
    // What to do first, in order; then the checks: one line per band, or everything with -v.
    let cap = (!opts.verbose).then_some(CAUSES_PER_CHECK);
    write_causes(out, report, &w, cap)?;
    if opts.verbose {
        write_checklist(out, report, opts, &w)
    } else {
        write_compact(out, report, &w)?;
        writeln!(out, "{}", summary_line(report))
    }
}

/// Whether the report judged Apache httpd (`site.web_server`; nginx reports have no such key).
fn judged_apache(report: &Report) -> bool {
    report.site.get("web_server").and_then(|v| v.as_str()) == Some("apache")
}

/// The server judged, named first when it is Apache httpd (an nginx report keeps its shape):
/// `Judged: Apache httpd (/etc/apache2/apache2.conf)`, with the site's virtual hosts when
/// `--site` chose them.
fn write_judged(out: &mut dyn Write, report: &Report, w: &Wrapper) -> std::io::Result<()> {
    if !judged_apache(report) {
        return Ok(());
    }
    let a = &report.site["apache"];
    let entry = a["entry"].as_str().unwrap_or("");
    let mut line = format!("{} Apache httpd ({entry})", "Judged:".bold());
    if report.site["name"].is_string() {
        if let Some(by) = a["matched_by"].as_str() {
            line.push_str(&format!("; the site's <VirtualHost>s by {by}"));
        }
    }
    w.write(out, &line, "", "    ")?;
    writeln!(out)
}

/// The checklist by band with each check's evidence and fixes (`-v`: passing checks too; `-q`:
/// only what counts against --fail-on), then the summary and the first fixes.
fn write_checklist(
    out: &mut dyn Write,
    report: &Report,
    opts: &Options,
    w: &Wrapper,
) -> std::io::Result<()> {
    let w = Wrapper { width: w.width };
    let shown = |c: &&CheckResult| {
        c.ignored.is_none()
            && (!opts.quiet
                || opts.fail_on.counts(c.status)
                || matches!(c.status, Status::Fail | Status::Error))
    };
    for band in BANDS {
        let mut in_band: Vec<&CheckResult> = report
            .checks
            .iter()
            .filter(|c| c.band == band)
            .filter(shown)
            .collect();
        if in_band.is_empty() {
            continue;
        }
        // Failing checks first within the band: that is where the eye lands.
        in_band.sort_by_key(|c| rank(c.status));
        writeln!(
            out,
            "{}",
            band_heading(band, judged_apache(report), &in_band)
        )?;
        for check in in_band {
            write_check(out, &w, check, opts)?;
        }
        writeln!(out)?;
    }
    let ignored: Vec<&CheckResult> = report
        .checks
        .iter()
        .filter(|c| c.ignored.is_some())
        .collect();
    if !ignored.is_empty() && !opts.quiet {
        writeln!(out, "{}", "ignored by the site's profile".bold())?;
        for check in ignored {
            let head = format!(
                "{} {} ({}): {}",
                "[~]".dimmed(),
                format!("{} {}", check.id, check.name).bold(),
                check.status,
                check.summary
            );
            w.write(out, &head, "", "    ")?;
            let reason = check.ignored.as_deref().unwrap_or_default();
            let reason = format!("{} {reason}", "accepted:".dimmed());
            w.write(out, &reason, "      ", "          ")?;
        }
        writeln!(out)?;
    }
    writeln!(out, "{}", summary_line(report))?;
    // With -q, only what was shown may be suggested.
    let fixable = report
        .checks
        .iter()
        .filter(|c| c.is_actionable())
        .filter(shown);
    if opts.quiet {
        write_first_fixes(out, &w, fixable)
    } else {
        // Without -q the report opened with what to do.
        Ok(())
    }
}

/// How many causes led by one check "What to do" shows without `-v`; the rest are counted (one
/// site of 500,000 servers can have a cause per server: JSON lists every one).
pub const CAUSES_PER_CHECK: usize = 10;

/// "What to do, in order": one item per cause (render::causes), each with its problems, its
/// fix, and the checks that only see its effect; the reload that applies config edits once,
/// last. With `cap`, at most that many causes led by the same check, the others counted.
fn write_causes(
    out: &mut dyn Write,
    report: &Report,
    w: &Wrapper,
    cap: Option<usize>,
) -> std::io::Result<()> {
    let causes = super::causes::of(report);
    if causes.is_empty() {
        return Ok(());
    }
    let s = &report.summary;
    let mut counts = Vec::new();
    if s.fail > 0 {
        counts.push(format!("{} failed", s.fail));
    }
    if s.warn > 0 {
        counts.push(format!("{} warned", s.warn));
    }
    let heading = format!(
        "What to do, in order ({} cause{} of {} check{}):",
        causes.len(),
        if causes.len() == 1 { "" } else { "s" },
        counts.join(", "),
        if s.fail + s.warn == 1 { "" } else { "s" },
    );
    writeln!(out, "{}", heading.bold())?;
    let mut reloads: Vec<String> = Vec::new();
    // Whether a fix shown edits nginx's config (the reload then applies it).
    let mut config_edits = false;
    let mut n = 0;
    // Per leading check: how many of its causes were shown, how many not.
    let mut led: Vec<(usize, usize, usize)> = Vec::new();
    for cause in causes.iter() {
        let finding = |m: &super::causes::Member| &report.checks[m.check].findings[m.finding];
        let check = |m: &super::causes::Member| &report.checks[m.check];
        let lead = cause.problems[0].check;
        let at = match led.iter().position(|(c, _, _)| *c == lead) {
            Some(i) => i,
            None => {
                led.push((lead, 0, 0));
                led.len() - 1
            }
        };
        if cap.is_some_and(|cap| led[at].1 >= cap) {
            led[at].2 += 1;
            // Not shown, but its edits are applied by the same reload.
            for m in &cause.problems {
                let Some(fix) = &finding(m).remediation else {
                    continue;
                };
                config_edits |=
                    matches!(check(m).band, Band::Nginx | Band::Apache) || cause.place.is_some();
                for c in fix.commands.iter().filter(|c| applies_config(c)) {
                    if !reloads.contains(c) {
                        reloads.push(c.clone());
                    }
                }
            }
            continue;
        }
        led[at].1 += 1;
        n += 1;
        let number = format!("{n:>2}. ");
        let mark = match cause.severity {
            Severity::Error => "✗".red(),
            _ => "!".yellow(),
        };
        let label = |m: &super::causes::Member| {
            let c = check(m);
            format!("{} {}", c.id, c.name).bold().to_string()
        };
        match cause.place() {
            Some(place) => {
                w.write(
                    out,
                    &format!("{number}{mark} {}", place.bold()),
                    "",
                    "       ",
                )?;
                for m in &cause.problems {
                    let f = finding(m);
                    let bullet = match f.severity {
                        Severity::Error => "✗".red(),
                        _ => "!".yellow(),
                    };
                    w.write(
                        out,
                        &format!("{bullet} {}: {}", label(m), f.message),
                        "      ",
                        "        ",
                    )?;
                }
            }
            None => {
                let m = &cause.problems[0];
                w.write(
                    out,
                    &format!("{number}{mark} {}: {}", label(m), finding(m).message),
                    "",
                    "       ",
                )?;
                if let Some(at) = &cause.at {
                    w.write(
                        out,
                        &format!("{} {at}", "at".dimmed()),
                        "      ",
                        "        ",
                    )?;
                }
                // Other findings with the very same fix (`correct the file at that line`):
                // each with its own place when it is not the item's.
                for other in &cause.problems[1..] {
                    let who = if check(other).id == check(m).id {
                        String::new()
                    } else {
                        format!("{}: ", label(other))
                    };
                    let f = finding(other);
                    let bullet = match f.severity {
                        Severity::Error => "✗".red(),
                        _ => "!".yellow(),
                    };
                    let at = f
                        .location
                        .as_ref()
                        .map(|l| format!("{}:{}", l.file, l.line))
                        .filter(|a| cause.at.as_ref() != Some(a))
                        .map(|a| format!(" (at {a})"))
                        .unwrap_or_default();
                    let line = format!("{bullet} {who}{}{at}", f.message);
                    w.write(out, &line, "      ", "        ")?;
                }
            }
        }
        // One fix per text: merged fixes point to the first with a sentence naming its check.
        // The checks of the cause, once each: a cause may hold thousands of one check's
        // findings, and each is compared with these.
        let mut members: Vec<&str> = Vec::new();
        for m in &cause.problems {
            if !members.contains(&check(m).id) {
                members.push(check(m).id);
            }
        }
        let mut shown: HashSet<&str> = HashSet::new();
        for m in &cause.problems {
            let Some(fix) = &finding(m).remediation else {
                continue;
            };
            let points_to_another = members
                .iter()
                .any(|id| *id != check(m).id && fix.text.contains(id))
                && !fix.text.contains('\n');
            // "the block for X under MD110 fixes this too", in the item that prints that block.
            let block_shown_here = cause.place.is_some()
                && cause
                    .at
                    .as_ref()
                    .is_some_and(|a| fix.text.starts_with(&format!("the block for {a} under ")))
                && fix.text.ends_with(" fixes this too");
            if shown.contains(&fix.text.as_str()) || points_to_another || block_shown_here {
                continue;
            }
            shown.insert(&fix.text);
            // An app check's fix may be a config edit too (MD302's alias): its `# FILE:LINE`.
            config_edits |= matches!(check(m).band, Band::Nginx | Band::Apache)
                || cause.place.is_some()
                || fix.text.lines().any(|l| l.trim_start().starts_with("# /"));
            // media-doctor's own commands (trace, explain) are left to -v, unless they are
            // all the fix has (MD401's "the trace shows why …:").
            let ours = |c: &String| {
                c.starts_with("media-doctor trace ") || c.starts_with("media-doctor explain ")
            };
            let only_ours = fix.commands.iter().all(ours);
            let (apply, commands): (Vec<String>, Vec<String>) = fix
                .commands
                .iter()
                .filter(|c| only_ours || !ours(c))
                .cloned()
                .partition(|c| applies_config(c));
            for c in apply {
                if !reloads.contains(&c) {
                    reloads.push(c);
                }
            }
            // The block's `# FILE:LINE` line repeats the item's title.
            let text = match &cause.at {
                Some(at) if cause.place.is_some() => {
                    let comment = format!("# {at}");
                    fix.text
                        .lines()
                        .filter(|l| l.trim() != comment)
                        .collect::<Vec<_>>()
                        .join("\n")
                }
                _ => fix.text.clone(),
            };
            write_fix(out, w, &text, &commands)?;
        }
        if !cause.also_seen_by.is_empty() {
            let mut seen: Vec<String> = Vec::new();
            for m in &cause.also_seen_by {
                let c = check(m);
                let name = format!("{} {}", c.id, c.name);
                if !seen.contains(&name) {
                    seen.push(name);
                }
            }
            w.write(
                out,
                &format!("{} {}", "also seen by:".dimmed(), seen.join(", ")),
                "      ",
                "        ",
            )?;
        }
    }
    for &(c, _, hidden) in led.iter().filter(|(_, _, hidden)| *hidden > 0) {
        let c = &report.checks[c];
        let line = format!(
            "… and {hidden} more cause{} led by {} {}, not shown (-v or --format json lists every one)",
            if hidden == 1 { "" } else { "s" },
            c.id,
            c.name
        );
        w.write(out, &line.dimmed().to_string(), "    ", "      ")?;
    }
    if !reloads.is_empty() {
        n += 1;
        // A reload or restart goes last; it applies config edits only when a fix shown makes
        // some (a restart may be the fix itself: nginx not running).
        let then = if config_edits {
            "Then apply the config edits above:"
        } else {
            "Then:"
        };
        writeln!(out, "{n:>2}. {}", then.bold())?;
        for c in reloads {
            writeln!(out, "        {}", c.cyan())?;
        }
    }
    writeln!(out)
}

/// The checks in one line per band (`✗ MD101 MD105  ! MD110  ✓ 6 passed`), the reasons for
/// skipping grouped by reason, and what the profile accepts. `-v` shows each check in full.
fn write_compact(out: &mut dyn Write, report: &Report, w: &Wrapper) -> std::io::Result<()> {
    let apache = judged_apache(report);
    writeln!(
        out,
        "{}",
        "Checks (-v: each with its evidence, and why it skipped):".bold()
    )?;
    let mut skipped_bands: Vec<String> = Vec::new();
    for band in BANDS {
        let in_band: Vec<&CheckResult> = report
            .checks
            .iter()
            .filter(|c| c.band == band && c.ignored.is_none())
            .collect();
        if in_band.is_empty() {
            continue;
        }
        // A band that did not run at all (live checks offline, containers without a compose
        // file) shares one line with the others like it.
        if in_band.iter().all(|c| c.status == Status::Skip) {
            skipped_bands.push(format!("{} ({})", band.title_on(apache), in_band.len()));
            continue;
        }
        let ids = |status: Status| {
            in_band
                .iter()
                .filter(|c| c.status == status)
                .map(|c| c.id)
                .collect::<Vec<_>>()
        };
        let mut parts = Vec::new();
        for status in [Status::Fail, Status::Error, Status::Warn, Status::Skip] {
            let ids = ids(status);
            if !ids.is_empty() {
                parts.push(format!("{} {}", mark_bare(status), ids.join(" ")));
            }
        }
        let passed = ids(Status::Pass).len();
        if passed > 0 {
            parts.push(format!("{} {passed}", mark_bare(Status::Pass)));
        }
        w.write(
            out,
            &format!("  {}: {}", band.title_on(apache), parts.join("  ")),
            "",
            "      ",
        )?;
    }
    if !skipped_bands.is_empty() {
        w.write(
            out,
            &format!(
                "  {} {}: all skipped",
                mark_bare(Status::Skip),
                skipped_bands.join(", ")
            ),
            "",
            "      ",
        )?;
    }
    // Checks that a failing one blocks (a config that does not load): one line for them all.
    let failing: Vec<&str> = report
        .checks
        .iter()
        .filter(|c| c.is_actionable())
        .map(|c| c.id)
        .collect();
    let mut blocked: Vec<(&str, Vec<&str>)> = Vec::new();
    for c in report.checks.iter().filter(|c| c.status == Status::Skip) {
        if !failing.iter().any(|id| c.summary.contains(id)) {
            continue;
        }
        match blocked.iter_mut().find(|(r, _)| *r == c.summary) {
            Some((_, ids)) => ids.push(c.id),
            None => blocked.push((&c.summary, vec![c.id])),
        }
    }
    for (reason, ids) in blocked {
        let line = format!(
            "{} {} ({}): {reason}",
            mark_bare(Status::Skip),
            ids.join(" "),
            ids.len()
        );
        w.write(out, &line, "  ", "      ")?;
    }
    for c in report.checks.iter().filter(|c| c.ignored.is_some()) {
        let reason = c.ignored.as_deref().unwrap_or_default();
        w.write(
            out,
            &format!(
                "{} {} {} ({}): {reason}",
                "[~]".dimmed(),
                "accepted by the profile:".dimmed(),
                c.id,
                c.status
            ),
            "  ",
            "      ",
        )?;
    }
    writeln!(out)
}

/// The mark of a status without brackets, for the compact lines.
fn mark_bare(status: Status) -> ColoredString {
    match status {
        Status::Pass => "✓".green(),
        Status::Warn => "!".yellow(),
        Status::Fail => "✗".red(),
        Status::Skip => "-".dimmed(),
        Status::Error => "?".red(),
    }
}

/// The order inside a band: verdicts that need action first, then what could not run, then the
/// good news, then what was not examined.
fn rank(status: Status) -> u8 {
    match status {
        Status::Fail => 0,
        Status::Error => 1,
        Status::Warn => 2,
        Status::Pass => 3,
        Status::Skip => 4,
    }
}

fn band_heading(band: Band, apache: bool, checks: &[&CheckResult]) -> String {
    let count = |s: Status| checks.iter().filter(|c| c.status == s).count();
    let mut parts = Vec::new();
    for (status, word) in [
        (Status::Fail, "failed"),
        (Status::Error, "could not run"),
        (Status::Warn, "warned"),
        (Status::Pass, "passed"),
        (Status::Skip, "skipped"),
    ] {
        let n = count(status);
        if n > 0 {
            parts.push(format!("{n} {word}"));
        }
    }
    format!(
        "{}{}",
        band.title_on(apache).bold(),
        format!(": {}", parts.join(", ")).dimmed()
    )
}

fn mark(status: Status) -> ColoredString {
    match status {
        Status::Pass => "[✓]".green(),
        Status::Warn => "[!]".yellow(),
        Status::Fail => "[✗]".red(),
        Status::Skip => "[-]".dimmed(),
        Status::Error => "[?]".red(),
    }
}

fn write_check(
    out: &mut dyn Write,
    w: &Wrapper,
    check: &CheckResult,
    opts: &Options,
) -> std::io::Result<()> {
    let summary = match check.status {
        Status::Skip => format!("skipped: {}", check.summary).dimmed().to_string(),
        // The runner's reason already says the check could not run, and why.
        _ => check.summary.clone(),
    };
    let head = format!(
        "{} {}: {summary}",
        mark(check.status),
        format!("{} {}", check.id, check.name).bold()
    );
    w.write(out, &head, "", "    ")?;

    let details = opts.verbose || matches!(check.status, Status::Warn | Status::Fail);
    if !details {
        return Ok(());
    }
    let shown: Vec<&Finding> = check
        .findings
        .iter()
        .filter(|f| f.severity > Severity::Info || opts.verbose)
        .collect();
    let single_repeats_summary = shown.len() == 1 && shown[0].message == check.summary;
    for f in shown {
        if !single_repeats_summary {
            let bullet = match f.severity {
                Severity::Error => "✗".red(),
                Severity::Warning => "!".yellow(),
                Severity::Info => "·".normal(),
            };
            w.write(out, &format!("{bullet} {}", f.message), "    ", "      ")?;
        }
        if let Some(loc) = &f.location {
            w.write(
                out,
                &format!("{} {loc}", "at".dimmed()),
                "      ",
                "        ",
            )?;
        }
        for e in &f.evidence {
            write_labelled(out, w, &e.label, &e.value)?;
        }
        if let Some(fix) = &f.remediation {
            write_fix(out, w, &fix.text, &fix.commands)?;
        }
    }
    Ok(())
}

/// `label: value`, wrapped under the value; a multi-line value (a config block) goes verbatim
/// below its label.
fn write_labelled(
    out: &mut dyn Write,
    w: &Wrapper,
    label: &str,
    value: &str,
) -> std::io::Result<()> {
    if value.contains('\n') {
        writeln!(out, "      {}", format!("{label}:").dimmed())?;
        for line in value.lines() {
            writeln!(out, "          {line}")?;
        }
        Ok(())
    } else if !value.contains(char::is_whitespace) {
        // One word (a path, a mode): whole on the label's line even when long, so it copies.
        writeln!(out, "      {} {value}", format!("{label}:").dimmed())
    } else {
        let line = format!("{} {value}", format!("{label}:").dimmed());
        w.write(out, &line, "      ", "          ")
    }
}

fn write_fix(
    out: &mut dyn Write,
    w: &Wrapper,
    text: &str,
    commands: &[String],
) -> std::io::Result<()> {
    let label = "fix:".cyan().bold();
    // Alternatives to the commands read best after them.
    let (alternatives, text): (Vec<&str>, Vec<&str>) = text
        .lines()
        .partition(|l| l.trim_start().starts_with(OR_INSTEAD));
    for (i, line) in text.iter().enumerate() {
        if i == 0 {
            w.write(out, &format!("{label} {line}"), "      ", "           ")?;
        } else if line.starts_with(char::is_whitespace) || line.is_empty() {
            // An indented line is a config block or a command: verbatim, so it pastes.
            writeln!(out, "           {line}")?;
        } else {
            w.write(out, line, "           ", "           ")?;
        }
    }
    if text.is_empty() {
        writeln!(out, "      {label}")?;
    }
    for cmd in commands {
        writeln!(out, "        {}", cmd.cyan())?;
    }
    for alt in alternatives {
        let cmd = alt.trim_start().trim_start_matches(OR_INSTEAD);
        writeln!(out, "        {OR_INSTEAD}{}", cmd.cyan())?;
    }
    Ok(())
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
    if s.ignored > 0 {
        parts.push(format!("{} ignored", s.ignored));
    }
    format!("Summary: {}", parts.join(", "))
}

/// How many fixes to suggest at the end: enough to start, few enough to read.
const FIRST_FIXES: usize = 3;

/// A command suggested by the findings, and which checks it answers.
struct Suggestion<'r> {
    command: &'r str,
    /// How many findings suggest it, errors weighing more than warnings.
    weight: usize,
    checks: Vec<&'r CheckResult>,
    first_seen: usize,
}

/// The two or three commands that fix the most: those suggested by the most failing findings
/// (then warning ones), each under a shell comment naming the checks it answers, so the whole
/// block pastes. A reload or restart does not compete: it only applies the config edits the
/// checklist shows, so it comes last, after at most two other commands.
fn write_first_fixes<'r>(
    out: &mut dyn Write,
    w: &Wrapper,
    actionable: impl Iterator<Item = &'r CheckResult>,
) -> std::io::Result<()> {
    let mut by_command: HashMap<&str, Suggestion> = HashMap::new();
    let mut seen = 0;
    for check in actionable {
        for f in check
            .findings
            .iter()
            .filter(|f| f.severity > Severity::Info)
        {
            let weight = if f.severity == Severity::Error { 3 } else { 1 };
            // `media-doctor trace …` / `explain …` help to read a finding but change nothing:
            // they would crowd out the commands that fix something.
            let fixing = f
                .remediation
                .iter()
                .flat_map(|r| &r.commands)
                .filter(|cmd| {
                    !cmd.starts_with("media-doctor trace ")
                        && !cmd.starts_with("media-doctor explain ")
                });
            for cmd in fixing {
                seen += 1;
                let s = by_command.entry(cmd).or_insert(Suggestion {
                    command: cmd,
                    weight: 0,
                    checks: Vec::new(),
                    first_seen: seen,
                });
                s.weight += weight;
                if !s.checks.iter().any(|c| c.id == check.id) {
                    s.checks.push(check);
                }
            }
        }
    }
    if by_command.is_empty() {
        return Ok(());
    }
    let mut suggestions: Vec<Suggestion> = by_command.into_values().collect();
    suggestions.sort_by_key(|s| (std::cmp::Reverse(s.weight), s.first_seen));
    let (applies, mut fixes): (Vec<Suggestion>, Vec<Suggestion>) = suggestions
        .into_iter()
        .partition(|s| applies_config(s.command));
    let apply = applies.into_iter().next();
    fixes.truncate(if apply.is_some() {
        FIRST_FIXES - 1
    } else {
        FIRST_FIXES
    });

    writeln!(out, "{}", "Fix the most first:".bold())?;
    let names = |s: &Suggestion| {
        s.checks
            .iter()
            .map(|c| format!("{} {}", c.id, c.name))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let comment = |text: String| {
        w.lines(&text, "    # ", "    #   ")
            .into_iter()
            .map(|l| l.dimmed().to_string())
            .collect::<Vec<_>>()
    };
    for s in &fixes {
        for line in comment(names(s)) {
            writeln!(out, "{line}")?;
        }
        writeln!(out, "    {}", s.command.cyan())?;
    }
    if let Some(s) = &apply {
        let what = if fixes.is_empty() {
            format!("after the config edits above ({})", names(s))
        } else {
            format!("then, after the config edits above ({})", names(s))
        };
        for line in comment(what) {
            writeln!(out, "{line}")?;
        }
        writeln!(out, "    {}", s.command.cyan())?;
    }
    Ok(())
}

/// A command that reloads or restarts a service: it applies the other fixes, so it goes last.
/// Apache's graceful restart (`apache2ctl graceful`, or USR1 to a master started by hand) and a
/// HUP to a private nginx master are reloads too.
fn applies_config(cmd: &str) -> bool {
    cmd.split(|c: char| !c.is_ascii_alphanumeric())
        .any(|word| matches!(word, "reload" | "restart" | "graceful" | "HUP" | "USR1"))
}

/// Wraps prose with hanging indents. Words are never split (paths and names stay whole, so they
/// can be copied), and ANSI colour codes do not count towards the width.
pub(super) struct Wrapper {
    pub(super) width: usize,
}

impl Wrapper {
    fn write(
        &self,
        out: &mut dyn Write,
        text: &str,
        first: &str,
        rest: &str,
    ) -> std::io::Result<()> {
        for line in self.lines(text, first, rest) {
            writeln!(out, "{line}")?;
        }
        Ok(())
    }

    pub(super) fn lines(&self, text: &str, first: &str, rest: &str) -> Vec<String> {
        let options = textwrap::Options::new(self.width)
            .initial_indent(first)
            .subsequent_indent(rest)
            .break_words(false)
            .word_splitter(textwrap::WordSplitter::NoHyphenation);
        textwrap::wrap(text, options)
            .into_iter()
            .map(|l| l.trim_end().to_string())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reloads_go_last() {
        assert!(applies_config(
            "sudo nginx -t && sudo systemctl reload nginx"
        ));
        assert!(applies_config("sudo systemctl restart gunicorn"));
        assert!(applies_config(
            "sudo apache2ctl configtest && sudo apache2ctl graceful"
        ));
        assert!(applies_config("sudo kill -HUP 4242"));
        assert!(!applies_config("sudo chmod o+x /home/deploy"));
    }

    #[test]
    fn first_fixes_leave_out_media_doctor_commands() {
        let finding = Finding::error("2 times: open() failed (2: No such file or directory)").fix(
            "mark the media location `^~`",
            vec![
                "media-doctor trace http://site.test/media/a.jpg".into(),
                "media-doctor explain MD105".into(),
            ],
        );
        let chmod = Finding::error("www-data cannot traverse /home/deploy")
            .fix("open it", vec!["sudo chmod o+x /home/deploy".into()]);
        let check = |id, findings| CheckResult {
            id,
            name: "x",
            band: Band::Live,
            status: Status::Fail,
            summary: String::new(),
            findings,
            ignored: None,
        };
        let checks = [check("MD405", vec![finding]), check("MD202", vec![chmod])];
        let mut out = Vec::new();
        write_first_fixes(&mut out, &Wrapper { width: 80 }, checks.iter()).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("sudo chmod o+x /home/deploy"), "{text}");
        assert!(!text.contains("media-doctor"), "{text}");
    }

    #[test]
    fn wrapping_keeps_paths_whole_and_indents() {
        let w = Wrapper { width: 30 };
        let mut out = Vec::new();
        w.write(
            &mut out,
            "path: /var/www/some-really-long-directory-name/media and more words here",
            "  ",
            "      ",
        )
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains("/var/www/some-really-long-directory-name/media"),
            "{text}"
        );
        for line in text.lines().skip(1) {
            assert!(line.starts_with("      "), "{text}");
        }
    }
}
