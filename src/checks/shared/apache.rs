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
    crate::apache::site::reload_command(
        master.as_ref(),
        &site.entry,
        crate::system::systemd_runs(&cx.root),
    )
}

/// The finding with its fix: the edits printed (after `intro`) with the reload when a copy of
/// the configuration with them gets `goal` and changes no other URL's answer; else what to
/// decide instead.
pub fn proven_fix(
    cx: &Context<'_>,
    f: Finding,
    intro: &str,
    edits: &[LineEdit],
    goals: &[Goal],
) -> Finding {
    proven_keeping(cx, f, intro, edits, goals, &[])
}

/// `proven_fix`, the edit also held to `keep` (`fix::apache::prove_keeping`).
pub fn proven_keeping(
    cx: &Context<'_>,
    f: Finding,
    intro: &str,
    edits: &[LineEdit],
    goals: &[Goal],
    keep: &[crate::nginx::resolve::Request],
) -> Finding {
    let Some((site, r)) = cx.apache() else {
        return f;
    };
    match afix::prove_keeping(site, &cx.root, r, edits, goals, keep) {
        Ok(()) => {
            let text = format!("{intro}\n{}", afix::render(edits).trim_end());
            let mut f = f.fix(text, vec![reload(cx, site)]);
            f.apache_fix = Some(Box::new(afix::ProvenFix {
                edits: edits.to_vec(),
                intro: intro.to_string(),
                goals: goals.iter().map(Goal::data).collect(),
            }));
            f
        }
        Err(refusal) => f.fix(
            format!(
                "no edit is printed: {refusal}. Decide what {} should serve (media-doctor trace \
                 URL --server apache shows each step), edit it by hand, then check again",
                goals
                    .iter()
                    .map(|g| g.request.url.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Vec::new(),
        ),
    }
}

/// The first candidate edit that is proven (the smallest first), as `proven_fix` prints it;
/// else the last candidate's refusal.
pub fn first_proven(
    cx: &Context<'_>,
    f: Finding,
    candidates: &[(Vec<LineEdit>, &str)],
    goals: &[Goal],
) -> Finding {
    let mut last = f.clone();
    for (edits, intro) in candidates {
        let tried = proven_fix(cx, f.clone(), intro, edits, goals);
        if tried
            .remediation
            .as_ref()
            .is_some_and(|rem| !rem.commands.is_empty())
        {
            return tried;
        }
        last = tried;
    }
    last
}

/// `<Directory DIR/>` granting it, as lines of an edit.
pub fn directory_lines(dir: &str) -> Vec<String> {
    vec![
        format!(
            "<Directory {}>",
            word(&format!("{}/", dir.trim_end_matches('/')))
        ),
        "    Require all granted".into(),
        "</Directory>".into(),
    ]
}

/// An argument as Apache reads it back.
pub fn word(s: &str) -> String {
    afix::quoted(s)
}

/// A URL path whose files Apache should serve from disk: MEDIA_URL/STATIC_URL with their roots
/// when the app is known, and the URL path of each `Alias` of the site.
#[derive(Debug, Clone)]
pub struct Served {
    /// `/media/` (with its slash).
    pub url: String,
    /// The directory the files are in (MEDIA_ROOT, the Alias target), when known.
    pub dir: Option<String>,
    /// Where it comes from (`MEDIA_URL at settings.py:12`, `Alias at FILE:LINE`).
    pub from: String,
    /// The upload directory (MEDIA_URL, or an Alias named like media/uploads).
    pub media: bool,
}

/// The site's served URL paths (see `Served`), the app's first, without repeats.
pub fn served(cx: &Context<'_>, site: &ApacheSite) -> Vec<Served> {
    let mut out: Vec<Served> = Vec::new();
    if let Some(app) = cx.app() {
        for (setting, root, name, media) in [
            (&app.media_url, &app.media_root, "MEDIA_URL", true),
            (&app.static_url, &app.static_root, "STATIC_URL", false),
        ] {
            let Some(url) = setting.value().filter(|u| u.starts_with('/')) else {
                continue;
            };
            let url = format!("{}/", url.trim_end_matches('/'));
            let from = match setting.at() {
                Some(at) => format!("{name} at {at}"),
                None => name.to_string(),
            };
            out.push(Served {
                url,
                dir: root.value().map(|p| p.display().to_string()),
                from,
                media,
            });
        }
    }
    for (_, maps) in vhost_maps(site) {
        for a in maps.iter().filter(|d| d.is("Alias")) {
            let (Some(from), Some(to)) = (a.arg(0), a.arg(1)) else {
                continue;
            };
            let url = format!("{}/", from.trim_end_matches('/'));
            if out.iter().any(|s| s.url == url) {
                continue;
            }
            let lower = format!("{url} {to}").to_ascii_lowercase();
            out.push(Served {
                url,
                dir: Some(to.to_string()),
                from: format!("Alias at {}", place(a)),
                media: lower.contains("media") || lower.contains("upload"),
            });
        }
    }
    out
}

/// The upload URL paths of the site (see `Served::media`), or the skip when there is none.
pub fn uploads(cx: &Context<'_>, site: &ApacheSite) -> Result<Vec<Served>, Outcome> {
    let media: Vec<Served> = served(cx, site).into_iter().filter(|s| s.media).collect();
    if media.is_empty() {
        return Err(Outcome::skip(
            "no uploads URL: no MEDIA_URL (no app found: --app) and no Alias named like media/uploads",
        ));
    }
    Ok(media)
}

/// The `Alias` for the URL path `url` among a virtual host's mappings (slashes aside).
pub fn alias_for<'c>(maps: &[Directive<'c>], url: &str) -> Option<Directive<'c>> {
    maps.iter()
        .find(|a| {
            a.is("Alias")
                && a.arg(0)
                    .is_some_and(|f| f.trim_end_matches('/') == url.trim_end_matches('/'))
        })
        .copied()
}

/// A directory one of the site's virtual hosts serves files from.
#[derive(Debug, Clone)]
pub struct ServedDir {
    pub dir: std::path::PathBuf,
    /// The directive that names it.
    pub at: Location,
    /// `Alias` or `DocumentRoot`.
    pub kind: &'static str,
    /// The URL path mapped to it (the Alias's first argument, `/` for DocumentRoot).
    pub url: String,
    pub vhost: NodeId,
}

/// The directories the site's virtual hosts serve files from (each `Alias` target, each
/// `DocumentRoot`), with the directive that names them: what the filesystem checks walk.
pub fn served_dirs(site: &ApacheSite) -> Vec<ServedDir> {
    let cfg = &site.config;
    let mut out: Vec<ServedDir> = Vec::new();
    for &v in &site.vhosts {
        for d in cfg.directive(v).children() {
            let (kind, url, dir) = if d.is("Alias") {
                ("Alias", d.arg(0).unwrap_or("/"), d.arg(1))
            } else if d.is("DocumentRoot") {
                ("DocumentRoot", "/", d.arg(0))
            } else {
                continue;
            };
            let Some(dir) = dir.filter(|p| p.starts_with('/')) else {
                continue;
            };
            let dir = std::path::PathBuf::from(dir);
            if !out.iter().any(|s| s.dir == dir) {
                out.push(ServedDir {
                    dir,
                    at: loc(&d),
                    kind,
                    url: url.to_string(),
                    vhost: v,
                });
            }
        }
    }
    out
}
