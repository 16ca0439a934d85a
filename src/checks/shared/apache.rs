//! What the Apache checks (MD5xx) share: the site's model, the URLs they ask it about, and a
//! fix proven on a copy of the configuration (`fix::apache`) with the reload for how this Apache
//! runs.

use crate::apache::resolve::{Resolution, Resolver};
use crate::apache::site::ApacheSite;
use crate::apache::{Config, Directive, NodeId};
use crate::checks::{Context, Outcome};
use crate::fix::apache::{self as afix, Goal, LineEdit};
use crate::report::{Finding, Location};

/// The Apache site and its model, or the skip when Apache is not the server judged or its
/// configuration does not load.
pub fn model<'a, 's>(cx: &'a Context<'s>) -> Result<(&'s ApacheSite, &'a Resolver<'s>), Outcome> {
    let Some((site, r)) = cx.apache() else {
        return Err(Outcome::skip("Apache httpd is not the server judged"));
    };
    if let Some(e) = site.config.first_error() {
        return Err(Outcome::skip(format!(
            "the Apache configuration does not load (apache2ctl -t: {e}): fix it first"
        )));
    }
    Ok((site, r))
}

pub fn loc(d: &Directive<'_>) -> Location {
    Location::new(d.file().display().to_string(), d.line())
}

pub fn place(d: &Directive<'_>) -> String {
    format!("{}:{}", d.file().display(), d.line())
}

/// The site's virtual hosts, each with the mapping directives that apply to it: its own, then
/// the main server's (mod_alias appends them in that order).
pub fn vhost_maps<'c>(site: &'c ApacheSite) -> Vec<(NodeId, Vec<Directive<'c>>)> {
    let cfg: &'c Config = &site.config;
    let main: Vec<Directive<'c>> = cfg.top().filter(is_mapping).collect();
    site.vhosts
        .iter()
        .map(|&v| {
            let mut maps: Vec<Directive<'c>> =
                cfg.directive(v).children().filter(is_mapping).collect();
            maps.extend(main.iter().copied());
            (v, maps)
        })
        .collect()
}

fn is_mapping(d: &Directive<'_>) -> bool {
    !d.is_section()
        && ["Alias", "ProxyPass", "WSGIScriptAlias", "ScriptAlias"]
            .iter()
            .any(|n| d.is(n))
}

/// What Apache answers for `uri` on the virtual host `v`.
pub fn ask(r: &Resolver<'_>, v: NodeId, uri: &str) -> Resolution {
    r.resolve(&afix::request_on(r.config(), Some(v), uri))
}

pub fn status_text(s: Option<u16>) -> String {
    s.map_or(
        "unknown (decided by a program or a rule not modelled)".into(),
        |s| s.to_string(),
    )
}

/// The configuration test and graceful reload for how this Apache runs.
pub fn reload(cx: &Context<'_>, site: &ApacheSite) -> String {
    let master = crate::apache::site::running_master(&cx.root, Some(&site.config));
    crate::apache::site::reload_command(master.as_ref(), &site.entry)
}

/// The finding with its fix: the edits printed (after `intro`) with the reload when a copy of
/// the configuration with them gets `goal` and changes no other URL's answer; else what to
/// decide instead.
pub fn proven_fix(
    cx: &Context<'_>,
    f: Finding,
    intro: &str,
    edits: &[LineEdit],
    goal: &Goal,
) -> Finding {
    let Some((site, r)) = cx.apache() else {
        return f;
    };
    match afix::prove(site, &cx.root, r, edits, goal) {
        Ok(()) => {
            let text = format!("{intro}\n{}", afix::render(edits).trim_end());
            f.fix(text, vec![reload(cx, site)])
        }
        Err(refusal) => f.fix(
            format!(
                "no edit is printed: {refusal}. Decide what {} should serve (media-doctor trace \
                 URL --server apache shows each step), edit it by hand, then check again",
                goal.request.url
            ),
            Vec::new(),
        ),
    }
}
