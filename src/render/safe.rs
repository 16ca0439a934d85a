//! The render boundary for terminals and line formats: a copy of the report (or trace) whose every
//! string is escaped by `text_safe`, made before the text and github renderers see it.
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
use crate::report::{
    CheckResult, Evidence, Finding, Location, Remediation, Report, ServerFact, ServerList,
    SiteFacts,
};
use crate::text_safe::{line, lines, path};
use std::path::PathBuf;

fn one(s: &str) -> String {
    line(s).into_owned()
}

fn many(s: &str) -> String {
    lines(s).into_owned()
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
    let Report {
        schema_version,
        tool,
        site,
        checks,
        summary,
    } = r;
    Report {
        schema_version: *schema_version,
        tool: tool.clone(),
        site: site_facts(site),
        checks: checks.iter().map(check).collect(),
        summary: *summary,
    }
}

fn check(c: &CheckResult) -> CheckResult {
    let CheckResult {
        id,
        name,
        band,
        status,
        summary,
        findings,
        ignored,
    } = c;
    CheckResult {
        id,
        name,
        band: *band,
        status: *status,
        summary: one(summary),
        findings: findings.iter().map(finding).collect(),
        ignored: ignored.as_deref().map(one),
    }
}

fn finding(f: &Finding) -> Finding {
    let Finding {
        severity,
        message,
        location,
        evidence,
        remediation,
        // Data for proving fixes, not shown.
        config_fix: _,
        apache_fix: _,
    } = f;
    Finding {
        config_fix: None,
        apache_fix: None,
        severity: *severity,
        message: one(message),
        location: location.as_ref().map(|l| {
            let Location { file, line, column } = l;
            Location {
                file: one(file),
                line: *line,
                column: *column,
            }
        }),
        evidence: evidence
            .iter()
            .map(|e| {
                let Evidence {
                    label,
                    value,
                    lines,
                } = e;
                Evidence {
                    label: one(label),
                    value: if *lines { many(value) } else { one(value) },
                    lines: *lines,
                }
            })
            .collect(),
        remediation: remediation.as_ref().map(|r| {
            let Remediation { text, commands } = r;
            Remediation {
                text: many(text),
                commands: each(commands),
            }
        }),
    }
}

/// The site facts: every string one line.
fn site_facts(site: &SiteFacts) -> SiteFacts {
    let SiteFacts { value, servers } = site;
    SiteFacts {
        value: json_value(value),
        servers: servers.as_ref().map(|list| {
            let ServerList { files, servers } = list;
            ServerList {
                files: each(files),
                servers: servers
                    .iter()
                    .map(|s| {
                        let ServerFact { file, line, names } = s;
                        ServerFact {
                            file: *file,
                            line: *line,
                            names: names.iter().map(|n| Box::from(one(n))).collect(),
                        }
                    })
                    .collect(),
            }
        }),
    }
}

/// The site facts (free-form JSON): every string one line.
fn json_value(v: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::String(s) => Value::String(one(s)),
        Value::Array(a) => Value::Array(a.iter().map(json_value).collect()),
        Value::Object(o) => Value::Object(o.iter().map(|(k, v)| (one(k), json_value(v))).collect()),
        other => other.clone(),
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
