//! The render boundary for terminals and line formats: the report (or trace) with every string
//! escaped by `text_safe`, made before the text and github renderers see it (a copy, or the report
//! itself in place: `make_safe`, where a string changes only if something in it is escaped).
//!
//! Done here, on the whole value, rather than where each finding is written: a check cannot
//! forget it, and a renderer cannot either. Each struct is taken apart field by field with no
//! `..`, so a field added later does not compile until it is handled here.
//!
//! Which text keeps its line breaks: fix texts (a config block to paste) and evidence made of lines
//! (`Finding::evidence_lines`: a walk, a list of paths, each item's own breaks escaped);
//! everything else (summaries, messages, single evidence values, file names, commands, URLs, log
//! lines) is one line, and a line break in it is shown as `\n`.

use crate::live::trace::{Answer, TraceLive};
use crate::live::Cause;
use crate::render::trace::{LocationRef, ServerRef, Trace, WalkStep};
use crate::report::{CheckResult, Evidence, Finding, Location, Remediation, Report, SiteFacts};
use crate::text_safe::{line, lines, path};
use std::path::PathBuf;

fn one(s: &str) -> String {
    line(s).into_owned()
}

fn each(v: &[String]) -> Vec<String> {
    v.iter().map(|s| one(s)).collect()
}

/// A path shown exactly (invalid UTF-8 as `\xNN`) and with control bytes escaped.
fn shown_path(p: &std::path::Path) -> PathBuf {
    PathBuf::from(one(&path(p)))
}

/// The report as a terminal may see it.
pub fn report(r: &Report) -> Report {
    let mut copy = r.clone();
    make_safe(&mut copy);
    copy
}

/// `r` made as a terminal may see it, in place: a string is replaced only where something in it
/// is escaped, so a report of a site of 360,000 servers is not copied to be shown.
pub fn make_safe(r: &mut Report) {
    let Report {
        schema_version: _,
        tool: _,
        site,
        checks,
        summary: _,
    } = r;
    site_facts(site);
    checks.iter_mut().for_each(check);
}

/// `s` with `escape` applied, replaced only when that changed it.
fn set(s: &mut String, escape: fn(&str) -> std::borrow::Cow<'_, str>) {
    if let std::borrow::Cow::Owned(x) = escape(s) {
        *s = x;
    }
}

fn check(c: &mut CheckResult) {
    let CheckResult {
        id: _,
        name: _,
        band: _,
        status: _,
        summary,
        findings,
        ignored,
    } = c;
    set(summary, line);
    findings.iter_mut().for_each(finding);
    if let Some(i) = ignored {
        set(i, line);
    }
}

fn finding(f: &mut Finding) {
    let Finding {
        severity: _,
        message,
        location,
        evidence,
        remediation,
        // Data for proving fixes, not shown.
        config_fix,
        apache_fix,
    } = f;
    *config_fix = None;
    *apache_fix = None;
    set(message, line);
    if let Some(l) = location {
        let Location {
            file,
            line: _,
            column: _,
        } = l;
        set(file, line);
    }
    for e in evidence {
        let Evidence {
            label,
            value,
            lines: is_lines,
        } = e;
        set(label, line);
        set(value, if *is_lines { lines } else { line });
    }
    if let Some(r) = remediation {
        let Remediation { text, commands } = r;
        set(text, lines);
        for c in commands {
            set(c, line);
        }
    }
}

/// The site facts: every string one line.
fn site_facts(site: &mut SiteFacts) {
    let SiteFacts { value, servers } = site;
    json_value(value);
    if let Some(list) = servers {
        for f in &mut list.files {
            set(f, line);
        }
        list.map_names(line);
    }
}

/// The site facts (free-form JSON): every string one line.
fn json_value(v: &mut serde_json::Value) {
    use serde_json::Value;
    match v {
        Value::String(s) => set(s, line),
        Value::Array(a) => a.iter_mut().for_each(json_value),
        Value::Object(o) => {
            if o.keys()
                .any(|k| matches!(line(k), std::borrow::Cow::Owned(_)))
            {
                *o = std::mem::take(o)
                    .into_iter()
                    .map(|(k, v)| (one(&k), v))
                    .collect();
            }
            o.values_mut().for_each(json_value);
        }
        _ => {}
    }
}

/// The trace as a terminal may see it.
pub fn trace(t: &Trace) -> Trace {
    let Trace {
        schema_version,
        url,
        web_server,
        uri,
        server,
        location,
        handler,
        path,
        final_path,
        predicted_status,
        unknown,
        reason,
        config_warnings,
        walk,
        walk_outcome,
        user,
        redirect,
        upstream,
        error_log,
        steps,
        live,
    } = t;
    Trace {
        schema_version: *schema_version,
        url: one(url),
        web_server,
        uri: uri.as_deref().map(one),
        server: server.as_ref().map(|s| {
            let ServerRef {
                file,
                line,
                names,
                chosen_by,
            } = s;
            ServerRef {
                file: one(file),
                line: *line,
                names: each(names),
                chosen_by: one(chosen_by),
            }
        }),
        location: location.as_ref().map(|l| {
            let LocationRef {
                file,
                line,
                modifier,
                pattern,
            } = l;
            LocationRef {
                file: one(file),
                line: *line,
                modifier: one(modifier),
                pattern: one(pattern),
            }
        }),
        handler: one(handler),
        path: path.as_deref().map(shown_path),
        final_path: final_path.as_deref().map(shown_path),
        predicted_status: *predicted_status,
        unknown: unknown.as_deref().map(one),
        reason: one(reason),
        config_warnings: each(config_warnings),
        walk: walk
            .iter()
            .map(|s| {
                let WalkStep {
                    path,
                    mode,
                    owner,
                    group,
                    ok,
                    why,
                    link_target,
                } = s;
                WalkStep {
                    path: shown_path(path),
                    mode: one(mode),
                    owner: one(owner),
                    group: one(group),
                    ok: *ok,
                    why: why.as_deref().map(one),
                    link_target: link_target.as_deref().map(shown_path),
                }
            })
            .collect(),
        walk_outcome: walk_outcome.as_deref().map(one),
        user: user.as_deref().map(one),
        redirect: redirect.as_deref().map(one),
        upstream: upstream.as_deref().map(one),
        error_log: each(error_log),
        steps: each(steps),
        live: live.as_ref().map(trace_live),
    }
}

fn trace_live(l: &TraceLive) -> TraceLive {
    let TraceLive {
        status,
        headers,
        answers,
        agreement,
        cause,
        public_differs,
        notes,
    } = l;
    TraceLive {
        status: *status,
        headers: headers.iter().map(|(k, v)| (one(k), one(v))).collect(),
        answers: answers.iter().map(answer).collect(),
        agreement,
        cause: cause.as_ref().map(|c| {
            let Cause {
                text,
                fix,
                commands,
            } = c;
            Cause {
                text: one(text),
                fix: one(fix),
                commands: each(commands),
            }
        }),
        public_differs: public_differs.as_deref().map(one),
        notes: each(notes),
    }
}

fn answer(a: &Answer) -> Answer {
    let Answer {
        kind,
        request,
        status,
        headers,
        error,
        time_ms,
        tls,
    } = a;
    Answer {
        kind,
        request: one(request),
        status: *status,
        headers: headers.iter().map(|(k, v)| (one(k), one(v))).collect(),
        error: error.as_deref().map(one),
        time_ms: *time_ms,
        tls: *tls,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Band;
    use crate::report::Status;

    #[test]
    fn every_string_of_a_report_is_escaped() {
        let f = Finding::error("cannot read /m/\x1b]0;X\x07a\nb.jpg")
            .at(Location::new("/etc/nginx/\x1b[2Jx", 3))
            .evidence("path", "/m/\x1b[31ma")
            .evidence_lines("files", ["/m/a", "/m/\rb"])
            .evidence("one path", "/m/a\nb")
            .fix(
                "open it:\n    location /m/ {}",
                vec!["chmod o+r '/m/\x1b'".into()],
            );
        let r = Report::new(
            serde_json::json!({"root": "/\x07", "list": ["\x1b"]}),
            vec![CheckResult {
                id: "MD202",
                name: "x",
                band: Band::Filesystem,
                status: Status::Fail,
                summary: "a\x1bb".into(),
                findings: vec![f],
                ignored: Some("why\x07".into()),
            }],
        );
        let safe = report(&r);
        let text = format!("{safe:?}");
        // Debug shows control characters escaped; look at the strings themselves.
        let json = serde_json::to_string(&safe).unwrap();
        let strings: Vec<String> = serde_json::from_str::<serde_json::Value>(&json)
            .map(|v| collect_strings(&v))
            .unwrap();
        for s in &strings {
            assert!(
                !s.chars().any(|c| c.is_control() && c != '\n'),
                "{s:?} in {text}"
            );
        }
        let f = &safe.checks[0].findings[0];
        assert_eq!(f.message, "cannot read /m/\\x1b]0;X\\x07a\\nb.jpg");
        // Lines made by the tool stay lines.
        assert_eq!(f.evidence[1].value, "/m/a\n/m/\\rb");
        // A single value is one line, whatever it holds.
        assert_eq!(f.evidence[2].value, "/m/a\\nb");
        assert_eq!(
            f.remediation.as_ref().unwrap().text,
            "open it:\n    location /m/ {}"
        );
    }

    fn collect_strings(v: &serde_json::Value) -> Vec<String> {
        match v {
            serde_json::Value::String(s) => vec![s.clone()],
            serde_json::Value::Array(a) => a.iter().flat_map(collect_strings).collect(),
            serde_json::Value::Object(o) => o
                .iter()
                .flat_map(|(k, v)| {
                    let mut out = vec![k.clone()];
                    out.extend(collect_strings(v));
                    out
                })
                .collect(),
            _ => vec![],
        }
    }
}
