//! MD403 request-hits-app: media/static answers come from the web server's own file handler
//! (nginx's static module, Apache's core handler), not from the app.
//! The page: checks/MD403.md.

use super::shared::live::*;
use super::{Band, Check, Context, Meta, Outcome};
use crate::live::signature::{who_answered_by, Answerer};
use crate::report::Finding;

/// MD403: media/static answers come from nginx's static module, not from the app.
pub struct RequestHitsApp;

static REQUEST_HITS_APP: Meta = Meta {
    id: "MD403",
    name: "request-hits-app",
    band: Band::Live,
    summary: "media/static answers come from nginx's static module, not from the app",
    docs: include_str!("../../checks/MD403.md"),
};

impl Check for RequestHitsApp {
    fn meta(&self) -> &'static Meta {
        &REQUEST_HITS_APP
    }

    fn run(&self, site: &Context<'_>) -> anyhow::Result<Outcome> {
        let live = match probes_or_skip(site) {
            Ok(l) => l,
            Err(skip) => return Ok(skip),
        };
        // The judged server's own file handler: nginx's static module, Apache's core handler.
        let apache = site.apache().is_some();
        let (server, files_by) = if apache {
            ("Apache", "Apache's file handler")
        } else {
            ("nginx", "nginx's static module")
        };
        let mut findings = Vec::new();
        let mut answered = 0usize;
        let mut static_ok = Vec::new();
        for item in &live.items {
            let probes = item
                .origin
                .iter()
                .map(|o| (&o.probe, Some(&o.prediction), true))
                .chain(
                    item.public
                        .iter()
                        .map(|p| (p, item.public_prediction.as_ref(), false)),
                );
            for (p, prediction, is_origin) in probes {
                let Some(a) = p.answer() else { continue };
                answered += 1;
                let proxied = prediction.is_some_and(|pr| {
                    matches!(
                        pr.handler.as_str(),
                        "proxy" | "uwsgi" | "fastcgi" | "scgi" | "grpc" | "wsgi"
                    )
                });
                let where_ = prediction
                    .and_then(|pr| pr.location.as_ref())
                    .map(|l| {
                        if apache {
                            format!(" (the mapping at {l} hands it to the app)")
                        } else {
                            format!(" (the location at {l} passes it to the app)")
                        }
                    })
                    .filter(|_| proxied)
                    .unwrap_or_default();
                let f = match who_answered_by(a, site.server_kind()) {
                    Answerer::NginxStatic => {
                        static_ok.push(p.target.url.to_string());
                        continue;
                    }
                    Answerer::App(evidence) => Finding::error(format!(
                        "{} was answered by the app, not by {files_by}{where_}",
                        p.target.url
                    ))
                    .evidence("because", evidence),
                    Answerer::Nginx if a.status == 200 && proxied => {
                        Finding::error(format!("{} was proxied to the app{where_}", p.target.url))
                            .evidence(
                                "because",
                                format!(
                            "200 without Last-Modified/Accept-Ranges, the headers {files_by} sends"
                        ),
                            )
                    }
                    Answerer::Nginx if a.status == 200 => Finding::warning(format!(
                        "{} answered 200 without {server}'s static-file headers (Last-Modified, \
                         Accept-Ranges): proxied to the app?",
                        p.target.url
                    )),
                    Answerer::Other(other) if is_origin => Finding::warning(format!(
                        "{} was answered by `Server: {other}`, not {server}: another server on \
                         this socket?",
                        p.target.url
                    )),
                    Answerer::Nginx | Answerer::Other(_) | Answerer::Unknown => continue,
                };
                let f = item_evidence(probe_evidence(f, p), item);
                let f = match (item.kind, site.app()) {
                    // Apache: MD502 finds the mapping that hands the prefix to the app and prints
                    // the edit that serves it from disk, proven on a copy of the configuration.
                    _ if apache => f.fix(
                        "Apache hands the prefix to the app: MD502 names the mapping and prints \
                         the edit that serves it from disk, proven on a copy of the configuration:",
                        vec!["media-doctor check --select MD502".to_string()],
                    ),
                    (Some(kind), Some(_)) => {
                        let root = crate::live::app_prefixes(site)
                            .into_iter()
                            .find(|ap| ap.kind == kind)
                            .and_then(|ap| ap.root)
                            .map(|r| r.display().to_string())
                            .unwrap_or_else(|| "/path/to/files".into());
                        let prefix = item
                            .served
                            .as_ref()
                            .map(|s| s.prefix.clone())
                            .unwrap_or_else(|| format!("/{}/", kind.as_str()));
                        f.fix(
                            format!(
                                "serve {prefix} from disk in the server block, before the app's location:\n\
                                 location ^~ {prefix} {{ alias {}/; }}",
                                root.trim_end_matches('/')
                            ),
                            vec![site.reload_command()],
                        )
                    }
                    _ => f.fix(
                        "give the prefix a location that serves files from disk (alias/root), \
                         marked ^~ so no other location takes it:",
                        vec![site.trace_command(p.target.url.as_str())],
                    ),
                };
                findings.push(f);
            }
        }
        if answered == 0 {
            return Ok(Outcome::skip("no probe got an answer (see MD401/MD402)"));
        }
        let outcome = Outcome::findings(findings);
        Ok(if outcome.findings.is_empty() {
            outcome.with_summary(format!("answered by {files_by}: {}", static_ok.join(", ")))
        } else {
            outcome
        })
    }
}
