//! MD110 uploads-executable: uploaded files are served as files: never passed to PHP/CGI/uwsgi, and
//! not content-sniffed.
//! The page: checks/MD110.md.

use super::shared::nginx::{config_fix, loc_of, skip_if_incomplete, Prefix, Target, RELOAD};
use super::shared::nginx_uploads::*;
use super::{Band, Check, Context, Meta, Outcome};
use crate::fix;
use crate::nginx::resolve::Request;
use crate::nginx::resolve::{Handler, Modifier, Resolver};
use crate::report::Finding;

pub struct UploadsExecutable;

static UPLOADS_EXECUTABLE: Meta = Meta {
    id: "MD110",
    name: "uploads-executable",
    band: Band::Nginx,
    summary:
        "uploaded files are served as files: never passed to PHP/CGI/uwsgi, and not content-sniffed",
    docs: include_str!("../../checks/MD110.md"),
};

/// What nosniff does, and what it does not: the fix's text says exactly that.
const NOSNIFF_WHY: &str = "add nosniff (browsers keep to the type nginx sends: an upload sent as \
text or octet-stream is not sniffed into HTML or a script; an .html or .svg one still opens as a \
page, see `explain MD110`):";

/// The block that refuses the scripts among the uploads (SCRIPTS' extensions).
const DENY_SCRIPTS: &str = "location ~* \\.(php|phtml|php5|py|pl|cgi|sh)$ { deny all; }";

const SCRIPTS: &[&str] = &[
    "x.php", "x.phtml", "x.php5", "x.py", "x.pl", "x.cgi", "x.sh",
];

impl Check for UploadsExecutable {
    fn meta(&self) -> &'static Meta {
        &UPLOADS_EXECUTABLE
    }

    fn run(&self, site: &Context<'_>) -> anyhow::Result<Outcome> {
        super::collected(|sink| self.run_into(site, sink))
    }

    /// Up to two findings per server (one site of 360,000 servers has as many), each handed
    /// over as it is made: a JSON report makes them again as it is written
    /// (`checks::Run`), and they were all made (and held) at once there.
    fn run_into(
        &self,
        site: &Context<'_>,
        sink: &mut dyn FnMut(Finding),
    ) -> anyhow::Result<Outcome> {
        if let Some(skip) = skip_if_incomplete(site) {
            return Ok(skip);
        }
        // Made again as the report is written (its first pass's facts kept) when the site let go
        // of its model: a chunk of servers at a time, each on a model of its own (one big site's
        // model, ~150 bytes a server, is not made again for this check alone). The targets are
        // the servers' names and ports, which every model shares: the model of no server reads
        // them.
        let chunked =
            site.facts::<Facts>(UPLOADS_EXECUTABLE.id).is_some() && site.built_model().is_none();
        let no_server;
        let r = match chunked {
            true => {
                no_server = site.model_of(&[]);
                site.resolver_over(&no_server)
            }
            false => site.resolver(),
        };
        let cfg = r.config();
        let ps = media(site);
        if ps.clone().next().is_none() {
            return Ok(Outcome::skip("no media (uploads) URL prefix found"));
        }
        let all = Targets::new(&r);
        // Such a directive outside a location (nginx -t refuses it; read once per box).
        let http_passes = *site.per_box("md110::http_passes", || {
            let http = cfg
                .top()
                .filter(|d| d.is("http"))
                .flat_map(|h| h.children());
            cfg.top()
                .chain(http)
                .any(|d| d.is("fastcgi_pass") || d.is("uwsgi_pass") || d.is("scgi_pass"))
        });
        let mut found = false;
        let mut findings = |f: Finding| {
            found = true;
            sink(f)
        };
        let count = pair_count(ps.clone(), &all);
        // Made again as the report is written (`checks::Run`), the check reads what its first
        // pass found per server instead of predicting it again (~18,000 instructions a server:
        // as much as the first pass, on one thread, while the report is written).
        let kept = site
            .facts::<Facts>(UPLOADS_EXECUTABLE.id)
            .filter(|k| k.0.len() == count);
        // One a pair (a server, on one site of 360,000): made at its length.
        let mut facts = Vec::with_capacity(if kept.is_none() { count } else { 0 });
        let mut each = |i: usize, p: Prefix<'_>, t: Target<'_>, r: &Resolver<'_>| {
            let fact = match &kept {
                Some(k) => k.0[i],
                None => {
                    let fact = Fact::new(
                        http_passes || passes_to_interpreter(&cfg.directive(t.server)),
                        nosniff_missing(r, p, &t),
                    );
                    facts.push(fact);
                    fact
                }
            };
            // An uploaded script reaching an interpreter.
            let mut executed = Vec::new();
            // Only a server with an interpreter to pass to can run one (fastcgi_pass and the
            // others are only allowed in its locations): the others are not asked URL by URL.
            let scripts = if fact.scripts { SCRIPTS } else { &[] };
            for s in scripts {
                let uri = format!("{}{s}", p.url);
                let res = r.predict_on(t.server, &Request::for_path(t.host, t.port, &uri));
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
                // The prefix location that serves the uploads gets `^~` (no regex location of
                // the server takes its URLs) and refuses scripts inside: an edit proven like
                // the others (the upload script answers 403, the other URLs keep theirs).
                let uploads = r
                    .location_for(t.server, &format!("{}x.jpg", p.url))
                    .map(|l| meant_for_uploads(r, t.server, p.url, l))
                    .filter(|&l| {
                        r.location_pattern(l)
                            .is_some_and(|(m, _)| !m.is_regex() && m != Modifier::Exact)
                            && r.block_info(l).is_some_and(|i| i.handler.is_none())
                    });
                if let Some(l) = uploads {
                    let mut edit = crate::fix::BlockEdit::new(l).append(DENY_SCRIPTS);
                    if let Some((m, pattern)) = r.location_pattern(l) {
                        if m != Modifier::NoRegex {
                            edit = edit.head(format!("location ^~ {}", fix::edit::quote(&pattern)));
                        }
                    }
                    let goal = crate::report::edit::Goal {
                        host: t.host.to_string(),
                        port: t.port,
                        uri: uri.clone(),
                        status: Some(403),
                        path: None,
                        location: None,
                    };
                    findings(config_fix(
                        f,
                        cfg,
                        "keep uploads away from the interpreter: no regex location takes the media URLs (`^~`), and scripts among the uploads are refused:",
                        edit,
                        Some(goal),
                    ));
                } else {
                    let guard = format!(
                        "location ^~ {} {{\n    # serve uploads as files, never run them\n    {DENY_SCRIPTS}\n}}",
                        p.url
                    );
                    findings(f.fix(
                        format!(
                            "keep uploads away from the interpreter: give the media location `^~` and deny scripts inside it (server block at {}):\n{guard}",
                            loc_of(cfg, t.server)
                        ),
                        vec![RELOAD.into()],
                    ));
                }
            }
            let Some(missing) = fact.nosniff() else {
                return;
            };
            let uri = format!("{}x.jpg", p.url);
            let mut f = Finding::warning(format!(
                "uploads under {} are served without `X-Content-Type-Options: nosniff`",
                p.url,
            ))
            .at(loc_of(cfg, missing.loc))
            .evidence("location", r.location_label(missing.loc))
            .evidence("url", &uri);
            if missing.inherited_lost {
                f = f.evidence(
                    "why",
                    "the location has add_header directives of its own, so nginx drops every add_header of the server/http level",
                );
            }
            let edit = crate::fix::BlockEdit::new(missing.block)
                .append("add_header X-Content-Type-Options nosniff always;");
            findings(config_fix(f, cfg, NOSNIFF_WHY, edit, None));
        };
        if chunked {
            let mut pairs = pairs(ps, &all).enumerate();
            loop {
                let chunk: Vec<_> = pairs.by_ref().take(CHUNK_SERVERS).collect();
                if chunk.is_empty() {
                    break;
                }
                let mut servers: Vec<crate::nginx::NodeId> =
                    chunk.iter().map(|(_, (_, t))| t.server).collect();
                servers.sort_unstable();
                servers.dedup();
                let model = site.model_of(&servers);
                let r = site.resolver_over(&model);
                for (i, (p, t)) in chunk {
                    each(i, p, t, &r);
                }
            }
        } else {
            for (i, (p, t)) in pairs(ps, &all).enumerate() {
                each(i, p, t, &r);
            }
        }
        if kept.is_none() {
            site.keep_facts(UPLOADS_EXECUTABLE.id, Facts(facts));
        }
        Ok(if found {
            Outcome::default()
        } else {
            Outcome::pass("uploads are served as plain files")
        })
    }
}

/// The servers modelled at a time when the check is made again on a site that let go of its
/// model (a chunk's model is ~150 bytes a server).
const CHUNK_SERVERS: usize = 4096;

/// What the check found of one (prefix, server) pair, kept for the check made again: whether
/// the server can pass a request to an interpreter (its scripts' URLs are asked), and where
/// nosniff is missing. `Missing`'s fields side by side with the flags: 12 bytes, not 16 (one
/// a server).
#[derive(Debug, Clone, Copy)]
struct Fact {
    scripts: bool,
    /// nosniff is missing: `loc`, `block` and `inherited_lost` say where (`Missing`).
    missing: bool,
    inherited_lost: bool,
    loc: crate::nginx::NodeId,
    block: crate::nginx::NodeId,
}

impl Fact {
    fn new(scripts: bool, nosniff: Option<Missing>) -> Fact {
        let m = nosniff.unwrap_or(Missing {
            loc: 0,
            block: 0,
            inherited_lost: false,
        });
        Fact {
            scripts,
            missing: nosniff.is_some(),
            inherited_lost: m.inherited_lost,
            loc: m.loc,
            block: m.block,
        }
    }

    /// Where nosniff is missing, if it is.
    fn nosniff(self) -> Option<Missing> {
        self.missing.then_some(Missing {
            loc: self.loc,
            block: self.block,
            inherited_lost: self.inherited_lost,
        })
    }
}

/// The uploads' location serves them without nosniff.
#[derive(Debug, Clone, Copy)]
struct Missing {
    /// The location that answers.
    loc: crate::nginx::NodeId,
    /// The block the header belongs in (`meant_for_uploads`).
    block: crate::nginx::NodeId,
    /// The location has add_header directives of its own: the server's are dropped.
    inherited_lost: bool,
}

/// Every pair's `Fact`, in the order the check asks them.
struct Facts(Vec<Fact>);

/// nosniff on what serves uploaded files to clients: not a location that refuses them (deny,
/// internal, return), nor one that sends every file as a download. None when it is there.
fn nosniff_missing(
    r: &crate::nginx::resolve::Resolver<'_>,
    p: crate::checks::shared::nginx::Prefix<'_>,
    t: &crate::nginx::resolve::Target<'_>,
) -> Option<Missing> {
    let uri = format!("{}x.jpg", p.url);
    let loc = r.location_for(t.server, &uri)?;
    let info = r.block_info(loc)?;
    if info.handler.is_some() || !serves_to_clients(r, t, &uri) || attachment_only(&info) {
        return None;
    }
    let nosniff = info.add_headers.iter().any(|(n, v)| {
        n.eq_ignore_ascii_case("X-Content-Type-Options") && v.eq_ignore_ascii_case("nosniff")
    });
    if nosniff {
        return None;
    }
    let inherited_lost = r
        .config()
        .directive(loc)
        .children()
        .any(|d| d.is("add_header"));
    Some(Missing {
        loc,
        block: meant_for_uploads(r, t.server, p.url, loc),
        inherited_lost,
    })
}

/// Whether `block` or a block inside it (includes read) passes requests to FastCGI, uwsgi or
/// SCGI.
fn passes_to_interpreter(block: &crate::nginx::Directive<'_>) -> bool {
    block.children().any(|c| {
        c.is("fastcgi_pass")
            || c.is("uwsgi_pass")
            || c.is("scgi_pass")
            || (c.has_block() && passes_to_interpreter(&c))
    })
}

/// The location nosniff belongs in: `winner` (the one that answers now), unless it is a regex
/// that takes the uploads from a prefix location for `prefix` serving from disk: MD105's `^~`
/// gives them back to that one, and the header must be there once it does (and the two edits
/// are then one block).
fn meant_for_uploads(
    r: &crate::nginx::resolve::Resolver<'_>,
    server: crate::nginx::NodeId,
    prefix: &str,
    winner: crate::nginx::NodeId,
) -> crate::nginx::NodeId {
    let regex = r
        .location_pattern(winner)
        .is_some_and(|(m, _)| m.is_regex());
    if !regex {
        return winner;
    }
    let base = prefix.trim_end_matches('/');
    r.locations_of(server)
        .into_iter()
        .find(|&l| {
            r.location_pattern(l).is_some_and(|(m, pat)| {
                !m.is_regex()
                    && m != crate::nginx::resolve::Modifier::Exact
                    && pat.trim_end_matches('/') == base
            }) && r.block_info(l).is_some_and(|i| i.handler.is_none())
        })
        .unwrap_or(winner)
}

/// Whether nginx gives clients the file for `uri` (or would, given the file): not `deny`,
/// `internal`, `return` or a rewrite away.
fn serves_to_clients(
    r: &crate::nginx::resolve::Resolver<'_>,
    t: &crate::nginx::resolve::Target<'_>,
    uri: &str,
) -> bool {
    let res = r.predict_on(t.server, &Request::for_path(t.host, t.port, uri));
    !matches!(
        res.handler,
        Handler::Internal | Handler::Access | Handler::Return | Handler::Rewrite
    )
}

/// Every response carries `Content-Disposition: attachment`: the browser saves the file and
/// never renders it, so there is nothing to sniff.
fn attachment_only(info: &crate::nginx::resolve::BlockInfo) -> bool {
    info.add_headers.iter().any(|(n, v)| {
        n.eq_ignore_ascii_case("Content-Disposition")
            && v.trim_start()
                .to_ascii_lowercase()
                .starts_with("attachment")
    })
}
