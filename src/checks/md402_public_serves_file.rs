//! MD402 public-serves-file: the public URL answers 200 for the same files, like the origin.
//! The page: checks/MD402.md.

use super::shared::live::*;
use super::{Band, Check, Context, Meta, Outcome};
use crate::live::failure_advice;
use crate::report::Finding;

/// MD402: the public URL answers 200 for the same files, as the origin does.
pub struct PublicServesFile;

static PUBLIC_SERVES_FILE: Meta = Meta {
    id: "MD402",
    name: "public-serves-file",
    band: Band::Live,
    summary: "the public URL answers 200 for the same files, like the origin",
    docs: include_str!("../../checks/MD402.md"),
};

impl Check for PublicServesFile {
    fn meta(&self) -> &'static Meta {
        &PUBLIC_SERVES_FILE
    }

    fn run(&self, site: &Context<'_>) -> anyhow::Result<Outcome> {
        let live = match probes_or_skip(site) {
            Ok(l) => l,
            Err(skip) => return Ok(skip),
        };
        let base = match &live.public {
            Ok(b) => b,
            Err(why) => return Ok(Outcome::skip(why.clone())),
        };
        let server = site.server_word();
        let mut findings = Vec::new();
        let mut ok = Vec::new();
        for item in &live.items {
            let Some(p) = &item.public else { continue };
            let url = &p.target.url;
            let origin_200 = item
                .origin
                .iter()
                .find(|o| o.probe.status() == Some(200))
                .and_then(|o| o.probe.answer());
            let f = match &p.outcome {
                Ok(a) if a.status == 200 => {
                    let same_size = match origin_200 {
                        Some(o) => o.header("content-length") == a.header("content-length"),
                        None => true,
                    };
                    if !item.origin.is_empty() && origin_200.is_none() {
                        Finding::warning(format!(
                            "{url} answers 200 but the local {server} does not: the public URL is \
                             served by something else (a CDN's copy, another server)"
                        ))
                    } else if !same_size {
                        Finding::warning(format!(
                            "{url} answers 200 with another Content-Length than the origin: a \
                             stale copy, or another server"
                        ))
                    } else {
                        ok.push(url.to_string());
                        continue;
                    }
                }
                Ok(a) if a.redirects_to_itself(url) => {
                    Finding::error(format!("{url}: redirect loop ({} to itself)", a.status)).fix(
                        format!(
                            "a proxy in front and {server} redirecting each other (often \
                             http↔https: set X-Forwarded-Proto and let only one side redirect)"
                        ),
                        Vec::new(),
                    )
                }
                Ok(a) if a.is_redirect() => {
                    let to = a.redirect_target(url);
                    let to_https = to.as_ref().is_some_and(|t| {
                        t.scheme() == "https" && url.scheme() == "http" && t.path() == url.path()
                    });
                    let to_s = to.map(|u| u.to_string()).unwrap_or_default();
                    if to_https {
                        let mut https = base.url.clone();
                        let _ = https.set_scheme("https");
                        Finding::warning(format!("{url}: {} to {to_s}", a.status)).fix(
                            "the site redirects to https: probe that instead:",
                            vec![format!("media-doctor check --url {https}")],
                        )
                    } else {
                        Finding::warning(format!("{url}: {} to {to_s}, not the file", a.status))
                    }
                }
                Ok(a) => {
                    let msg = match origin_200 {
                        Some(_) => format!(
                            "{url}: {} while the local {server} answers 200 (a proxy/CDN in front \
                             answers differently: see MD404)",
                            a.status
                        ),
                        None => format!("{url}: {}", a.status),
                    };
                    Finding::error(msg).fix(
                        "compare with the origin, and trace the URL:",
                        vec![format!("media-doctor trace {url}")],
                    )
                }
                Err(failure) => {
                    let (text, commands) = failure_advice(failure, url.as_str(), None);
                    Finding::error(format!("{url}: {failure}")).fix(text, commands)
                }
            };
            let mut f = item_evidence(probe_evidence(f, p), item)
                .evidence("public URL from", base.source.to_string());
            if let Some(o) = item.origin.first() {
                f = f.evidence("origin answer", o.probe.summary());
            }
            findings.push(f);
        }
        if findings.is_empty() && ok.is_empty() {
            return Ok(Outcome::skip("no public URL to probe for the files found"));
        }
        let outcome = Outcome::findings(findings);
        Ok(if outcome.findings.is_empty() {
            outcome.with_summary(format!("the public URL answers 200: {}", ok.join(", ")))
        } else {
            outcome
        })
    }
}
