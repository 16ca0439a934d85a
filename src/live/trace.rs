//! The live part of `media-doctor trace URL`: what the running nginx (and, when the URL is the
//! site's public one, the public URL) answers for that very URL, beside the prediction, and why
//! they differ when they do.

use super::probes::{origin_routes, public_base};
use super::{mismatch_cause, Cause};
use crate::http::{self, Limits, Probe, Route, Target};
use crate::nginx::resolve::{Request, Resolution, Resolver};
use crate::site::Site;
use reqwest::Url;
use serde::Serialize;
use std::collections::BTreeMap;

/// `live` in the trace JSON. `status` and `headers` are the first answer's (the contract);
/// `answers` holds every request made.
#[derive(Debug, Clone, Serialize)]
pub struct TraceLive {
    pub status: Option<u16>,
    pub headers: BTreeMap<String, String>,
    pub answers: Vec<Answer>,
    /// The first answer against the prediction: `matches`, `differs`, `no-answer` (the origin
    /// did not answer: `cause` says what to do), or `unknown` (nothing to compare).
    pub agreement: &'static str,
    /// Why the live answer differs from the prediction, or why there is none.
    pub cause: Option<Cause>,
    /// The public URL answers another status than the local nginx: what is in front.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_differs: Option<String>,
    /// Requests not made, and why.
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Answer {
    /// `origin` (the local nginx, on one of its sockets) or `public`.
    pub kind: &'static str,
    /// `HEAD http://example.com/media/a.jpg via 127.0.0.1:80`.
    pub request: String,
    pub status: Option<u16>,
    /// The reported headers (Server, Content-Type, cache headers...), lower-case names.
    pub headers: BTreeMap<String, String>,
    pub error: Option<String>,
    pub time_ms: u64,
    /// Said when a certificate was not checked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<&'static str>,
}

impl Answer {
    fn of(kind: &'static str, p: &Probe) -> Answer {
        Answer {
            kind,
            request: p.describe(),
            status: p.status(),
            headers: p
                .answer()
                .map(|a| {
                    a.reported_headers()
                        .into_iter()
                        .map(|(n, v)| (n.to_string(), v.to_string()))
                        .collect()
                })
                .unwrap_or_default(),
            error: p.outcome.as_ref().err().map(|f| f.to_string()),
            time_ms: p.elapsed.as_millis() as u64,
            tls: p.tls_note(),
        }
    }

    /// One line for the text trace: `200 via 127.0.0.1:80 (Server: nginx, ...; 3 ms)`.
    pub fn line(&self) -> String {
        let head = match (self.status, &self.error) {
            (Some(s), _) => s.to_string(),
            (None, Some(e)) => e.clone(),
            (None, None) => "no answer".into(),
        };
        let headers: Vec<String> = http::REPORTED_HEADERS
            .iter()
            .filter_map(|n| {
                let v = self.headers.get(*n)?;
                Some(format!("{}: {v}", http::header_title(n)))
            })
            .collect();
        let mut tail = headers.join(", ");
        if !tail.is_empty() {
            tail.push_str("; ");
        }
        format!("{head}  {} ({tail}{} ms)", self.request, self.time_ms)
    }
}

/// Ask the running nginx (and the public URL, when `req` names it) for the traced URL.
pub fn probe(site: &Site, resolver: &Resolver<'_>, req: &Request, res: &Resolution) -> TraceLive {
    let mut notes = Vec::new();
    let url = match Url::parse(&req.url).or_else(|_| Url::parse(&format!("http://{}", req.url))) {
        Ok(u) => u,
        Err(e) => {
            notes.push(format!(
                "{}: not a URL media-doctor can send ({e})",
                req.url
            ));
            return TraceLive::empty(notes);
        }
    };
    let host = url
        .host_str()
        .map(|h| h.trim_matches(['[', ']']).to_string());
    let mut path = url.path().to_string();
    if let Some(q) = url.query() {
        path.push('?');
        path.push_str(q);
    }

    // (kind, the listen it comes from or the URL, the request)
    let mut targets: Vec<(&'static str, String, Target)> = Vec::new();
    if !site.root.is_live() {
        notes.push(format!(
            "--root {}: the local nginx is not the system under the root (not asked)",
            site.root.dir().display()
        ));
    } else if let Some(server) = res.server {
        let routes = origin_routes(resolver, server, host.clone(), &path, &mut notes);
        let on_port: Vec<_> = routes.into_iter().filter(|o| o.port == req.port).collect();
        if on_port.is_empty() {
            notes.push(format!(
                "the server listens on no socket for port {}: the origin was not asked",
                req.port
            ));
        }
        for o in on_port {
            targets.push((
                "origin",
                o.listen,
                Target {
                    url: o.url,
                    route: o.route,
                },
            ));
        }
    } else {
        notes.push("no server block takes this URL: the origin was not asked".into());
    }

    // The URL itself goes out only when it is the site's public URL.
    let public_host = public_base(site, resolver)
        .ok()
        .and_then(|b| b.url.host_str().map(str::to_ascii_lowercase));
    let names: Vec<String> = res
        .server
        .map(|s| resolver.server_names(s))
        .unwrap_or_default()
        .iter()
        .filter_map(|n| super::public::public_name(n))
        .collect();
    let url_host = host.clone().unwrap_or_default().to_ascii_lowercase();
    // Under --root the tree is a copy (a backup, a CI checkout): a server_name of it names some
    // host on the internet, not confirmed to be this system (`check` guesses no public URL there
    // either); only a URL the user gave as the site's (--url, the profile) is asked.
    let named_here = site.root.is_live() && names.contains(&url_host);
    if public_host.as_deref() == Some(url_host.as_str()) || named_here {
        targets.push((
            "public",
            url.to_string(),
            Target {
                url: url.clone(),
                route: Route::Public,
            },
        ));
    } else if !site.root.is_live() && names.contains(&url_host) {
        notes.push(format!(
            "--root {}: {url_host} is a server_name of the tree, not confirmed to be this system's public URL: not asked (give it with --url to ask it)",
            site.root.dir().display()
        ));
    } else {
        notes.push(format!(
            "{url_host} is not the site's public URL (--url, the profile, or a public server_name): not asked"
        ));
    }

    let kinds: Vec<(&'static str, String)> =
        targets.iter().map(|(k, w, _)| (*k, w.clone())).collect();
    let probes = http::probe_all(
        targets.into_iter().map(|(_, _, t)| t).collect(),
        &Limits::default(),
    );
    let answers: Vec<Answer> = kinds
        .iter()
        .zip(&probes)
        .map(|((k, _), p)| Answer::of(k, p))
        .collect();

    let first = probes.first().zip(kinds.first());
    let (agreement, cause) = match (first, res.predicted_status) {
        (Some((p, _)), Some(want)) if p.status() == Some(want) => ("matches", None),
        (Some((p, _)), Some(_)) if p.answer().is_some() => {
            let stale = site.changed_since_load();
            let a = p.answer().expect("checked");
            ("differs", Some(mismatch_cause(a, stale.as_ref())))
        }
        (Some((p, (kind, where_))), _) => match &p.outcome {
            Err(failure) => {
                let origin = *kind == "origin";
                let start = origin.then(|| super::start_command(site));
                let (fix, commands) = super::failure_advice(failure, where_, start.as_deref());
                let whom = if origin {
                    format!("the running nginx did not answer on {where_}")
                } else {
                    format!("{where_} did not answer")
                };
                let text = format!("{whom}: {failure}");
                (
                    "no-answer",
                    Some(Cause {
                        text,
                        fix,
                        commands,
                    }),
                )
            }
            Ok(_) => ("unknown", None),
        },
        _ => ("unknown", None),
    };
    let public_differs = public_difference(&kinds, &probes);
    TraceLive {
        status: answers.first().and_then(|a| a.status),
        headers: answers
            .first()
            .map(|a| a.headers.clone())
            .unwrap_or_default(),
        answers,
        agreement,
        cause,
        public_differs,
        notes,
    }
}

/// When the local nginx answered and the public URL answers another status: a proxy, CDN or
/// another server is in front (MD402/MD404 judge it in `check`).
fn public_difference(kinds: &[(&'static str, String)], probes: &[Probe]) -> Option<String> {
    let status_of = |want: &str| {
        kinds
            .iter()
            .zip(probes)
            .find(|((k, _), p)| *k == want && p.answer().is_some())
            .and_then(|(_, p)| p.answer())
    };
    let (origin, public) = (status_of("origin")?, status_of("public")?);
    if origin.status == public.status {
        return None;
    }
    let front: Vec<String> = ["server", "via", "age", "x-cache", "cf-cache-status"]
        .iter()
        .filter_map(|n| Some(format!("{}: {}", http::header_title(n), public.header(n)?)))
        .collect();
    Some(format!(
        "the public URL answers {} where the local nginx answers {}: something in front of nginx \
         (a proxy, CDN or cache) answers differently{} (see MD402, MD404)",
        public.status,
        origin.status,
        if front.is_empty() {
            String::new()
        } else {
            format!(" [{}]", front.join(", "))
        }
    ))
}

impl TraceLive {
    fn empty(notes: Vec<String>) -> TraceLive {
        TraceLive {
            status: None,
            headers: BTreeMap::new(),
            answers: Vec::new(),
            agreement: "unknown",
            cause: None,
            public_differs: None,
            notes,
        }
    }
}
