//! MD401 origin-serves-file: the local web server (nginx, or Apache when it is judged) answers
//! 200 for a real file of each media/static prefix.
//! The page: checks/MD401.md.

use super::shared::live::*;
use super::{Band, Check, Context, Meta, Outcome};
use crate::live::failure_advice_for;
use crate::live::probes::{Live, OriginProbe};
use crate::report::{Finding, Severity};

fn notes_finding(live: &Live) -> Option<Finding> {
    if live.notes.is_empty() {
        return None;
    }
    let mut f = Finding::info("not everything could be probed");
    for n in &live.notes {
        f = f.evidence("note", n);
    }
    Some(f)
}

/// What went wrong on one socket, without naming the socket: sockets with equal keys are one
/// finding.
fn failure_key(o: &OriginProbe) -> String {
    match &o.probe.outcome {
        Ok(a) => format!(
            "{} {}",
            a.status,
            a.redirect_target(&o.probe.target.url)
                .map(|u| u.to_string())
                .unwrap_or_default()
        ),
        Err(failure) => failure.to_string(),
    }
}

/// The finding for a socket (`o`) that did not answer 200, said of every socket in `on`.
fn origin_finding(
    cx: &Context<'_>,
    o: &OriginProbe,
    path: &str,
    on: &str,
    any_200: bool,
    start: &str,
) -> Finding {
    let p = &o.probe;
    let url = &p.target.url;
    match &p.outcome {
        Ok(a) if a.redirects_to_itself(url) => Finding::error(format!(
            "{} on {on}: redirect loop ({} to itself)",
            path, a.status
        ))
        .fix(
            "find the rewrite/return that redirects this URL to itself:",
            vec![cx.trace_command(url.as_str())],
        ),
        Ok(a) if a.is_redirect() => {
            let to = a
                .redirect_target(url)
                .map(|u| u.to_string())
                .unwrap_or_default();
            let f = if any_200 {
                Finding::info(format!("{path} on {on}: {} to {to}", a.status))
            } else {
                Finding::warning(format!(
                    "{path} on {on}: {} to {to}, not the file",
                    a.status
                ))
            };
            f.fix(
                "a redirect is fine when it is the http→https one; otherwise trace it:",
                vec![cx.trace_command(url.as_str())],
            )
        }
        Ok(a) => Finding::error(format!(
            "{path} on {on}: {} for a file that exists",
            a.status
        ))
        .fix(
            format!(
                "the trace shows why {} refuses it (the walk names the blocking directory):",
                cx.server_word()
            ),
            vec![cx.trace_command(url.as_str())],
        ),
        Err(failure) => {
            let (text, commands) = failure_advice_for(cx.server_kind(), failure, on, Some(start));
            Finding::error(format!("{path} on {on}: {failure}")).fix(text, commands)
        }
    }
}

/// MD401: the local nginx answers 200 for a real file of each served prefix.
pub struct OriginServesFile;

static ORIGIN_SERVES_FILE: Meta = Meta {
    id: "MD401",
    name: "origin-serves-file",
    band: Band::Live,
    summary: "the local nginx answers 200 for a real file of each media/static prefix",
    docs: include_str!("../../checks/MD401.md"),
};

impl Check for OriginServesFile {
    fn meta(&self) -> &'static Meta {
        &ORIGIN_SERVES_FILE
    }

    fn run(&self, site: &Context<'_>) -> anyhow::Result<Outcome> {
        let live = match probes_or_skip(site) {
            Ok(l) => l,
            Err(skip) => return Ok(skip),
        };
        if let Some(why) = &live.no_origin {
            return Ok(Outcome::skip(why.clone()));
        }
        let mut findings = Vec::new();
        let mut ok = Vec::new();
        let start = match site.apache() {
            Some((a, _)) => crate::live::start_command_apache(site, a),
            None => crate::live::start_command(site),
        };
        for item in &live.items {
            if item.origin.is_empty() {
                findings.push(item_evidence(
                    Finding::warning(format!(
                        "{} ({}): the server has no listen socket media-doctor can reach",
                        item.label, item.url_path
                    )),
                    item,
                ));
                continue;
            }
            let any_200 = item.origin.iter().any(|o| o.probe.status() == Some(200));
            // Sockets that fail the same way are one finding: a server on `80` and `[::]:80`
            // refusing a file is one cause with one fix, not two.
            let mut groups: Vec<(String, Vec<usize>)> = Vec::new();
            for (i, o) in item.origin.iter().enumerate() {
                if o.probe.status() == Some(200) {
                    ok.push(format!("{} via {}", item.url_path, o.listen));
                    continue;
                }
                let key = failure_key(o);
                match groups.iter_mut().find(|(k, _)| *k == key) {
                    Some((_, members)) => members.push(i),
                    None => groups.push((key, vec![i])),
                }
            }
            for (_, members) in groups {
                let first = &item.origin[members[0]];
                let on = members
                    .iter()
                    .map(|&i| item.origin[i].listen.as_str())
                    .collect::<Vec<_>>()
                    .join(", ");
                let mut f = origin_finding(site, first, &item.url_path, &on, any_200, &start);
                f = item_evidence(probe_evidence(f, &first.probe), item)
                    .evidence("predicted", prediction_text(&first.prediction));
                for &i in &members[1..] {
                    f = f.evidence("also on", item.origin[i].probe.describe());
                }
                findings.push(f);
            }
        }
        findings.extend(notes_finding(live));
        let outcome = Outcome::findings(findings);
        Ok(
            if outcome
                .findings
                .iter()
                .all(|f| f.severity == Severity::Info)
            {
                outcome.with_summary(format!(
                    "the local {} answers 200: {}",
                    site.server_word(),
                    ok.join(", ")
                ))
            } else {
                outcome
            },
        )
    }
}
