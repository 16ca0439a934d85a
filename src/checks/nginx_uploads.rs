//! MD109, MD110: what nginx does with user uploads (the media prefix): no directory listings,
//! no uploaded script executed, no content sniffing.

use super::nginx_common::{
    corrected_block, fix_with_block, loc_of, prefixes, skip_if_incomplete, Edit, Prefix,
    PrefixKind, Target, RELOAD,
};
use super::{Band, Check, Context, Meta, Outcome};
use crate::nginx::resolve::Request;
use crate::nginx::resolve::{Handler, Resolver};
use crate::report::Finding;
use crate::site::Site;

pub static CHECKS: &[&dyn Check] = &[&UploadsListing, &UploadsExecutable];

fn media(site: &Site, r: &Resolver<'_>) -> Vec<Prefix> {
    prefixes(site, r)
        .into_iter()
        .filter(|p| p.kind == PrefixKind::Media)
        .collect()
}

fn pairs<'a>(ps: &'a [Prefix], all: &'a [Target]) -> Vec<(&'a Prefix, &'a Target)> {
    ps.iter()
        .flat_map(|p| {
            all.iter()
                .filter(move |t| p.server.map_or(true, |s| s == t.server))
                .map(move |t| (p, t))
        })
        .collect()
}

pub struct UploadsListing;

static UPLOADS_LISTING: Meta = Meta {
    id: "MD109",
    name: "uploads-listing",
    band: Band::Nginx,
    summary: "the uploads (media) location does not list its directories (autoindex off)",
    docs: include_str!("../../checks/MD109.md"),
};

impl Check for UploadsListing {
    fn meta(&self) -> &'static Meta {
        &UPLOADS_LISTING
    }

    fn run(&self, site: &Context<'_>) -> anyhow::Result<Outcome> {
        if let Some(skip) = skip_if_incomplete(site) {
            return Ok(skip);
        }
        let r = site.resolver();
        let cfg = r.config();
        let ps = media(site, &r);
        if ps.is_empty() {
            return Ok(Outcome::skip("no media (uploads) URL prefix found"));
        }
        let all = r.targets();
        let mut findings = Vec::new();
        for (p, t) in pairs(&ps, &all) {
            let Some(loc) = r.location_for(t.server, &p.url) else {
                continue;
            };
            let Some(info) = r.block_info(loc) else {
                continue;
            };
            if !info.autoindex {
                continue;
            }
            let res = r.resolve_on(t.server, &Request::for_path(&t.host, t.port, &p.url));
            let status = res
                .predicted_status
                .map_or_else(|| "not predictable".into(), |s| s.to_string());
            // A listing that fails today (a broken alias: 404) starts working with the fix of
            // that other mistake, so the finding stands, but says so instead of "anyone can".
            let consequence = match res.predicted_status {
                Some(200) | None => "anyone can list the uploads".to_string(),
                Some(s) => format!(
                    "it answers {s} now, but anyone can list the uploads once the location \
                     serves the directory"
                ),
            };
            let mut f = Finding::error(format!(
                "autoindex is on for {} ({}): {consequence}",
                p.url,
                r.location_label(loc)
            ))
            .at(loc_of(cfg, loc))
            .evidence("url", &p.url)
            .evidence("handler", res.handler.as_str())
            .evidence("predicted status", status);
            if let Some(path) = &res.path {
                f = f.evidence("lists", path.display());
            }
            let own = cfg
                .directive(loc)
                .children()
                .find(|d| d.is("autoindex"))
                .map(|d| d.id());
            let block = corrected_block(cfg, loc, &|d| {
                if Some(d.id()) == own {
                    Edit::Replace("autoindex off;".into())
                } else {
                    Edit::Keep
                }
            });
            let block = if own.is_none() {
                // Inherited from the server or http level: say it here.
                block.replacen("{\n", "{\n    autoindex off;\n", 1)
            } else {
                block
            };
            findings.push(fix_with_block(f, "turn the listing off:", block));
        }
        Ok(if findings.is_empty() {
            Outcome::pass("no uploads location lists its directories")
        } else {
            Outcome::findings(findings)
        })
    }
}

pub struct UploadsExecutable;

static UPLOADS_EXECUTABLE: Meta = Meta {
    id: "MD110",
    name: "uploads-executable",
    band: Band::Nginx,
    summary:
        "uploaded files are served as files: never passed to PHP/CGI/uwsgi, and not content-sniffed",
    docs: include_str!("../../checks/MD110.md"),
};

const SCRIPTS: &[&str] = &[
    "x.php", "x.phtml", "x.php5", "x.py", "x.pl", "x.cgi", "x.sh",
];

impl Check for UploadsExecutable {
    fn meta(&self) -> &'static Meta {
        &UPLOADS_EXECUTABLE
    }

    fn run(&self, site: &Context<'_>) -> anyhow::Result<Outcome> {
        if let Some(skip) = skip_if_incomplete(site) {
            return Ok(skip);
        }
        let r = site.resolver();
        let cfg = r.config();
        let ps = media(site, &r);
        if ps.is_empty() {
            return Ok(Outcome::skip("no media (uploads) URL prefix found"));
        }
        let all = r.targets();
        let mut findings = Vec::new();
        for (p, t) in pairs(&ps, &all) {
            // An uploaded script reaching an interpreter.
            let mut executed = Vec::new();
            for s in SCRIPTS {
                let uri = format!("{}{s}", p.url);
                let res = r.resolve_on(t.server, &Request::for_path(&t.host, t.port, &uri));
                if matches!(
                    res.handler,
                    Handler::Fastcgi | Handler::Uwsgi | Handler::Scgi
                ) {
                    executed.push((uri, res));
                }
            }
            if let Some((uri, res)) = executed.first() {
                let urls: Vec<&str> = executed.iter().map(|(u, _)| u.as_str()).collect();
                let mut f = Finding::error(format!(
                    "an upload named {} is passed to {}: uploaded scripts run on the server",
                    &uri[p.url.len()..],
                    res.handler.as_str()
                ))
                .evidence("urls", urls.join(" "))
                .evidence("upstream", res.upstream.as_deref().unwrap_or(""));
                if let Some(l) = res.location {
                    f = f.at(loc_of(cfg, l)).evidence(
                        "location",
                        format!("{} at {}", r.location_label(l), loc_of(cfg, l)),
                    );
                }
                let guard = format!(
                    "location ^~ {} {{\n    # serve uploads as files, never run them\n    location ~* \\.(php|phtml|php5|py|pl|cgi|sh)$ {{ deny all; }}\n}}",
                    p.url
                );
                findings.push(f.fix(
                    format!(
                        "keep uploads away from the interpreter: give the media location `^~` and deny scripts inside it (server block at {}):\n{guard}",
                        loc_of(cfg, t.server)
                    ),
                    vec![RELOAD.into()],
                ));
            }
            // nosniff on what serves uploaded files.
            let uri = format!("{}x.jpg", p.url);
            let Some(loc) = r.location_for(t.server, &uri) else {
                continue;
            };
            let Some(info) = r.block_info(loc) else {
                continue;
            };
            if info.handler.is_some() {
                continue;
            }
            let nosniff = info.add_headers.iter().any(|(n, v)| {
                n.eq_ignore_ascii_case("X-Content-Type-Options")
                    && v.eq_ignore_ascii_case("nosniff")
            });
            if nosniff {
                continue;
            }
            let inherited_lost = r
                .config()
                .directive(loc)
                .children()
                .any(|d| d.is("add_header"));
            let mut f = Finding::warning(format!(
                "uploads under {} are served without `X-Content-Type-Options: nosniff` ({})",
                p.url,
                r.location_label(loc)
            ))
            .at(loc_of(cfg, loc))
            .evidence("url", &uri);
            if inherited_lost {
                f = f.evidence(
                    "why",
                    "the location has add_header directives of its own, so nginx drops every add_header of the server/http level",
                );
            }
            let block = corrected_block(cfg, loc, &|_| Edit::Keep).replacen(
                "{\n",
                "{\n    add_header X-Content-Type-Options nosniff always;\n",
                1,
            );
            findings.push(fix_with_block(
                f,
                "a browser may otherwise run an uploaded HTML/SVG file as a page of the site; add:",
                block,
            ));
        }
        Ok(if findings.is_empty() {
            Outcome::pass("uploads are served as plain files")
        } else {
            Outcome::findings(findings)
        })
    }
}
