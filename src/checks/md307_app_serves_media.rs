//! MD307 app-serves-media: DEBUG is off, and the app does not serve media itself for a prefix nginx
//! also maps.
//! The page: checks/MD307.md.

use super::shared::app::*;
use super::{Band, Check, Context, Meta, Outcome};
use crate::app::{App, AppRoute, Framework};
use crate::report::Finding;
use crate::site::Site;

pub struct AppServesMedia;

static APP_SERVES_MEDIA: Meta = Meta {
    id: "MD307",
    name: "app-serves-media",
    band: Band::App,
    summary: "DEBUG is off, and the app does not serve media itself for a prefix nginx also maps",
    docs: include_str!("../../checks/MD307.md"),
};

impl Check for AppServesMedia {
    fn meta(&self) -> &'static Meta {
        &APP_SERVES_MEDIA
    }

    fn run(&self, site: &Context<'_>) -> anyhow::Result<Outcome> {
        let app = match app_of(site) {
            Ok(a) => a,
            Err(o) => return Ok(o),
        };
        let mut findings = Vec::new();
        let debug_on = app.debug.value() == Some(&true);
        if debug_on {
            // When the server already serves MEDIA_URL from disk (an nginx location, an Apache
            // Alias), the media do not depend on DEBUG: the clause would be a false alarm.
            let media_by_app = match app.media_url.value().and_then(|u| App::url_path(u)) {
                None => true,
                Some(p) if site.apache().is_some() => {
                    super::shared::apache_app::served_from_disk(site, &p).is_empty()
                }
                Some(p) => served_in_servers(site, &site.resolver(), &p)
                    .iter()
                    .all(|s| s.served.is_none()),
            };
            let mut f = Finding::error(format!(
                "DEBUG is True{}: tracebacks and settings are shown to visitors{}",
                if app.unit.is_some() {
                    " in the service that runs the site"
                } else {
                    ""
                },
                if media_by_app {
                    ", and media \"work\" only through the app"
                } else {
                    ""
                }
            ))
            .evidence("DEBUG", app.debug.describe());
            // The running app read its settings when it started: it keeps DEBUG on until then.
            let (restart, commands) = match crate::fix::commands::restart_app(app) {
                Ok(cmd) => (
                    "then restart the app: it reads its settings when it starts".to_string(),
                    vec![cmd],
                ),
                Err(why) => (why, Vec::new()),
            };
            let edit = match app.framework {
                Framework::Django => {
                    "turn DEBUG off for production (and let nginx serve media), in the settings:\n    DEBUG = False"
                }
                Framework::Flask => {
                    "turn DEBUG off for production, where the app is configured:\n    app.config[\"DEBUG\"] = False"
                }
            };
            f = f.fix(format!("{edit}\n{restart}"), commands);
            if let Some(at) = app.debug.at() {
                f = f.at(at.clone());
            }
            if site.apache().is_some() {
                f = with_apache_media(site, app, f);
            }
            findings.push(f);
        }
        let resolver = site.apache().is_none().then(|| site.resolver());
        for r in &app.served_routes {
            let Some(prefix) = r.prefix.value().and_then(|p| App::url_path(p)) else {
                continue;
            };
            if r.debug_only && !debug_on {
                findings.push(
                    Finding::info(format!(
                        "{} for {prefix} is only active with DEBUG=True (it is off)",
                        r.kind
                    ))
                    .at(r.at.clone()),
                );
                continue;
            }
            findings.extend(match &resolver {
                None => on_apache(site, r, &prefix),
                Some(resolver) => {
                    let nginx: Vec<Served2> = served_in_servers(site, resolver, &prefix)
                        .into_iter()
                        .filter(|s| s.served.is_some())
                        .collect();
                    route_finding(site, r, &prefix, &nginx)
                }
            });
        }
        Ok(outcome(app, findings))
    }
}

/// Whether Apache serves MEDIA_URL from disk, on the DEBUG finding: when it does, turning DEBUG
/// off keeps the uploads; when it does not, they then answer 404 (or go to the app) until an
/// Alias serves them (MD303, MD502).
fn with_apache_media(cx: &Context<'_>, app: &App, f: Finding) -> Finding {
    let Some(prefix) = app.media_url.value().and_then(|u| App::url_path(u)) else {
        return f;
    };
    match super::shared::apache_app::served_from_disk(cx, &prefix).first() {
        Some((dir, at)) => f.evidence(
            "apache serves MEDIA_URL",
            format!(
                "{prefix} from {dir} ({}): with DEBUG off the uploads are still served",
                at.as_ref()
                    .map_or("DocumentRoot".to_string(), |l| format!("Alias at {l}"))
            ),
        ),
        None => f.evidence(
            "apache serves MEDIA_URL",
            format!("{prefix} not from disk: with DEBUG off uploads answer 404 or go to the app until an Alias serves them (MD303, MD502)"),
        ),
    }
}

fn outcome(app: &App, findings: Vec<Finding>) -> Outcome {
    if findings.is_empty() {
        return Outcome::pass(if app.served_routes.is_empty() {
            "DEBUG is off; the app has no route serving files".to_string()
        } else {
            "DEBUG is off; the app's file routes are inactive".to_string()
        });
    }
    Outcome::findings(findings)
}

/// An app route serving files, when Apache is judged: the prefix is given to Apache's model
/// (`shared::apache_app::served_from_disk`): when a virtual host of the site serves it from disk
/// (an Alias, DocumentRoot), Apache answers and the route is dead weight; when none does, every
/// file goes through a Python worker (or the app's mapping takes it: MD502 prints the edit).
fn on_apache(cx: &Context<'_>, r: &AppRoute, prefix: &str) -> Option<Finding> {
    let served = super::shared::apache_app::served_from_disk(cx, prefix);
    match served.first() {
        Some((dir, at)) => {
            let how = at
                .as_ref()
                .map_or("DocumentRoot".to_string(), |l| format!("Alias at {l}"));
            let mut f = Finding::warning(format!(
                "the app serves {prefix} itself ({}), and Apache also maps it (to {dir}, {how}): Apache answers, the app route only hides mistakes in development",
                r.kind
            ))
            .at(r.at.clone())
            .evidence("app route", format!("{} at {}", r.kind, r.at))
            .evidence("apache serves it by", &how);
            if let Some(d) = r.dir.value() {
                if real(cx, d) != real(cx, std::path::Path::new(dir)) {
                    f = f.evidence(
                        "different directories",
                        format!("app: {}, apache: {dir}", d.display()),
                    );
                }
            }
            Some(f.fix(
                format!("serve {prefix} from Apache only: remove the app route in production (or guard it with DEBUG); Apache already serves it ({how})"),
                Vec::new(),
            ))
        }
        None => {
            let f = Finding::warning(format!(
                "the app serves {prefix} itself ({}): every file goes through a Python worker; no Alias of the site serves it from disk",
                r.kind
            ))
            .at(r.at.clone());
            let Some(d) = r.dir.value() else {
                // No placeholder path to paste: say where the directory is named.
                return Some(f.fix(
                    format!(
                        "let Apache serve {prefix} from the directory the route at {} sends files from (media-doctor could not read which): `Alias {prefix} DIRECTORY/` and a `<Directory DIRECTORY/>` that grants it, in the site's <VirtualHost> before the app's mapping",
                        r.at
                    ),
                    Vec::new(),
                ));
            };
            let dir = format!("{}/", d.display().to_string().trim_end_matches('/'));
            Some(f.fix_with_block(
                "let Apache serve the directory instead, in the site's <VirtualHost> before the app's mapping (MD502 prints the proven edit when the app's mapping takes the prefix):",
                &[
                    format!("Alias {prefix} {dir}"),
                    format!("<Directory {dir}>"),
                    "    Require all granted".into(),
                    "</Directory>".into(),
                ],
                Vec::new(),
            ))
        }
    }
}

fn route_finding(site: &Site, r: &AppRoute, prefix: &str, nginx: &[Served2]) -> Option<Finding> {
    match nginx
        .first()
        .and_then(|s| s.served.as_ref().map(|sv| (s.server, sv)))
    {
        Some((server, sv)) => {
            let mut f = Finding::warning(format!(
                "the app serves {prefix} itself ({}), and nginx also maps it (to {}): nginx answers, the app route only hides mistakes in development",
                r.kind,
                sv.dir.display()
            ))
            .at(r.at.clone())
            .evidence("app route", format!("{} at {}", r.kind, r.at))
            .evidence("nginx location", node_location(site, sv.location, server).to_string());
            if let (Some(d), true) = (r.dir.value(), true) {
                if real(site, d) != real(site, &sv.dir) {
                    f = f.evidence(
                        "different directories",
                        format!("app: {}, nginx: {}", d.display(), sv.dir.display()),
                    );
                }
            }
            // nginx's location is already there: the fix is in the app alone (a location block
            // printed here would be a duplicate once pasted beside it, or beside the edit
            // another check proves for that location).
            Some(f.fix(
                format!(
                    "serve {prefix} from nginx only: nginx already maps it ({}); remove the app route at {} in production (or guard it with DEBUG), then restart the app",
                    node_location(site, sv.location, server),
                    r.at
                ),
                Vec::new(),
            ))
        }
        None => {
            let f = Finding::warning(format!(
                "the app serves {prefix} itself ({}): every file goes through a Python worker; nginx does not map it",
                r.kind
            ))
            .at(r.at.clone());
            Some(match r.dir.value() {
                Some(d) => f.fix_with_block(
                    "let nginx serve the directory instead (`^~`: no regex location takes its files), in the site's server block:",
                    &[format!(
                        "location ^~ {prefix} {{ alias {}/; }}",
                        d.display().to_string().trim_end_matches('/')
                    )],
                    vec![site.reload_command()],
                ),
                // No placeholder path to paste: say where the directory is named.
                None => f.fix(
                    format!(
                        "let nginx serve {prefix} from the directory the route at {} sends files from (media-doctor could not read which): `location ^~ {prefix} {{ alias DIRECTORY/; }}` in the site's server block",
                        r.at
                    ),
                    Vec::new(),
                ),
            })
        }
    }
}
