//! MD404 cached-error: no CDN or proxy in front serves a cached 403/404 for a file the origin
//! serves.
//! The page: checks/MD404.md.

use super::shared::live::*;
use super::{Band, Check, Context, Meta, Outcome};
use crate::live::signature::cache_hit;
use crate::report::Finding;
use reqwest::Url;

/// MD404: no CDN or proxy serves a cached 4xx for a file the origin serves.
pub struct CachedError;

static CACHED_ERROR: Meta = Meta {
    id: "MD404",
    name: "cached-error",
    band: Band::Live,
    summary: "no CDN or proxy in front serves a cached 403/404 for a file the origin serves",
    docs: include_str!("../../checks/MD404.md"),
};

impl Check for CachedError {
    fn meta(&self) -> &'static Meta {
        &CACHED_ERROR
    }

    fn run(&self, site: &Context<'_>) -> anyhow::Result<Outcome> {
        let live = match probes_or_skip(site) {
            Ok(l) => l,
            Err(skip) => return Ok(skip),
        };
        if let Err(why) = &live.public {
            return Ok(Outcome::skip(why.clone()));
        }
        if let Some(why) = &live.no_origin {
            return Ok(Outcome::skip(format!(
                "{why}: without the origin's answer a cached error cannot be told from a real one"
            )));
        }
        let mut findings = Vec::new();
        let mut compared = 0usize;
        for item in &live.items {
            let Some(public) = item
                .public
                .as_ref()
                .and_then(|p| p.answer().map(|a| (p, a)))
            else {
                continue;
            };
            let Some(origin) = item.origin.iter().find(|o| o.probe.status() == Some(200)) else {
                continue;
            };
            compared += 1;
            let (p, a) = public;
            if !(400..500).contains(&a.status) {
                continue;
            }
            let url = &p.target.url;
            let f = match cache_hit(a) {
                Some(hit) => {
                    let (text, commands) = purge_commands(a, url);
                    Finding::error(format!(
                        "{url}: a cache in front serves a stored {} while the origin answers 200",
                        a.status
                    ))
                    .evidence("cache", hit)
                    .fix(text, commands)
                }
                None => Finding::warning(format!(
                    "{url}: {} at the edge while the origin answers 200, with no cache-hit \
                     header: a proxy in front answers from elsewhere",
                    a.status
                )),
            };
            let f = item_evidence(probe_evidence(f, p), item)
                .evidence("origin answer", origin.probe.summary());
            findings.push(f);
        }
        if compared == 0 {
            return Ok(Outcome::skip(
                "no file answered 200 at the origin and was asked at the public URL",
            ));
        }
        let outcome = Outcome::findings(findings);
        Ok(if outcome.findings.is_empty() {
            outcome.with_summary(format!(
                "no cached error at the edge ({compared} file(s) compared with the origin)"
            ))
        } else {
            outcome
        })
    }
}

/// How to purge one URL from the cache the headers name.
fn purge_commands(a: &crate::http::Answer, url: &Url) -> (String, Vec<String>) {
    let via = a.header("via").unwrap_or("").to_ascii_lowercase();
    let xcache = a.header("x-cache").unwrap_or("").to_ascii_lowercase();
    let path = url.path();
    if a.header("cf-cache-status").is_some() {
        return (
            "purge the URL from Cloudflare (dashboard: Caching → Configuration → Custom Purge), \
             and stop caching errors for long (Cache Rules: status-code TTL):"
                .into(),
            vec![format!(
                "curl -X POST \"https://api.cloudflare.com/client/v4/zones/$ZONE_ID/purge_cache\" \
                 -H \"Authorization: Bearer $CF_API_TOKEN\" -H \"Content-Type: application/json\" \
                 --data '{{\"files\":[\"{url}\"]}}'"
            )],
        );
    }
    if via.contains("cloudfront") || xcache.contains("cloudfront") {
        return (
            "invalidate the path in CloudFront, and lower the error caching TTL:".into(),
            vec![format!(
                "aws cloudfront create-invalidation --distribution-id \"$DISTRIBUTION_ID\" --paths '{path}'"
            )],
        );
    }
    if via.contains("varnish") || a.header("x-varnish").is_some() {
        return (
            "ban the URL in Varnish:".into(),
            vec![format!("sudo varnishadm 'ban req.url == {path}'")],
        );
    }
    if a.header("x-cache-status").is_some() {
        return (
            "a front nginx's proxy_cache holds the error: remove the entry (or the cache \
             directory's files), and set `proxy_cache_valid 404 1m;` at most:"
                .into(),
            vec![
                "sudo find /var/cache/nginx -type f -delete   # the proxy_cache_path directory"
                    .into(),
            ],
        );
    }
    (
        "purge the URL from the cache in front, and cache errors briefly if at all".into(),
        Vec::new(),
    )
}
