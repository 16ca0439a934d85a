//! MD301 app-config-found: the app's settings were found and the media/static values could be read.
//! The page: checks/MD301.md.

use super::shared::app::*;
use super::{Band, Check, Context, Meta, Outcome};
use crate::app::Setting;
use crate::report::{Finding, Location};

pub struct AppConfigFound;

static APP_CONFIG_FOUND: Meta = Meta {
    id: "MD301",
    name: "app-config-found",
    band: Band::App,
    summary: "the app's settings were found and the media/static values could be read",
    docs: include_str!("../../checks/MD301.md"),
};

impl Check for AppConfigFound {
    fn meta(&self) -> &'static Meta {
        &APP_CONFIG_FOUND
    }

    fn run(&self, site: &Context<'_>) -> anyhow::Result<Outcome> {
        let Some(app) = site.app() else {
            let unreadable = site.app_unreadable();
            if !unreadable.is_empty() {
                // The project may be in a directory this user cannot list: "no app" would be a
                // guess. Say what could not be read, and who can read it.
                let who = if nix::unistd::geteuid().is_root() {
                    "cannot read"
                } else {
                    "needs root"
                };
                return Ok(Outcome::skip(format!(
                    "{who}: {}; the app may be there (run with sudo, or give --app)",
                    unreadable.join(", ")
                )));
            }
            // A site (named, or one of every site of the box) whose servers hand no request
            // to an app serves files only: there is no app to find.
            if site.name.is_some() && site.options.app.is_none() && !site.hands_to_app() {
                return Ok(Outcome::skip(
                    "the site's server blocks hand no request to an app (no proxy_pass, \
                     uwsgi_pass or fastcgi_pass): it serves files only",
                ));
            }
            let explicit = site.options.app.is_some() || site.named_by_user();
            let msg = "no Django or Flask app was found".to_string();
            let mut f = if explicit {
                Finding::error(msg)
            } else {
                Finding::warning(msg)
            };
            for t in site.app_search() {
                f = f.evidence("looked at", t);
            }
            // No command: any directory printed here would be a placeholder (the search above
            // looked everywhere this tool knows to look).
            f = f.fix(
                "give the project directory with --app (the directory holding manage.py, or the \
                 Flask app's module or package; a settings file works too), and \
                 --framework django|flask if it is not recognised",
                Vec::new(),
            );
            return Ok(Outcome::findings(vec![f]));
        };
        // In a compose run, the settings as the app's container reads them (its environment,
        // its working directory): the host's reading is not what runs.
        let containers = site.containers().ok();
        let app = containers.map(|c| &c.app.app).unwrap_or(app);
        let set_where = match containers {
            Some(c) => format!(
                "set the variable in the {} service's environment: or env_file ({}), \
                 or let media-doctor run the app's python to read it (executes the settings code):",
                c.app_service,
                c.app_container().service.at.file
            ),
            None => "set the variable where the app gets it (unit Environment=, EnvironmentFile=, .env), \
                     or let media-doctor run the app's python to read it (executes the settings code):"
                .to_string(),
        };
        let mut findings = Vec::new();
        for p in &app.problems {
            let fatal = p.contains("is not on the app's path")
                || p.contains("set nowhere")
                || p.contains("no module that creates the Flask app")
                || p.contains("no Flask(...) app");
            let f = if fatal {
                Finding::error(p.clone())
            } else {
                Finding::warning(p.clone())
            };
            findings.push(f.fix(
                "media-doctor reads the settings without running them; check the file, or give it explicitly:",
                vec![format!(
                    "media-doctor check --app {} --framework {}",
                    app.dir.display(),
                    app.framework.to_string().to_lowercase()
                )],
            ));
        }
        let mut unknown = |name: &str, s: &dyn Describe| {
            if let Some((expr, at, why)) = s.unknown() {
                let mut f = Finding::warning(format!(
                    "{name} cannot be read without running the app: {why}"
                ))
                .evidence("expression", expr);
                if let Some(at) = at {
                    f = f.at(at);
                }
                findings.push(f.fix(set_where.clone(), vec!["media-doctor check --eval".into()]));
            }
        };
        unknown(Files::Media.root_name(app), &app.media_root);
        unknown(Files::Media.url_name(app), &app.media_url);
        unknown(Files::Static.root_name(app), &app.static_root);
        unknown(Files::Static.url_name(app), &app.static_url);
        unknown("DEBUG", &app.debug);
        if let Some(ev) = &app.evaluated {
            let mut f = Finding::info(format!(
                "--eval: app code was executed: {} imported {}",
                ev.python.display(),
                ev.target
            ));
            for (k, v) in &ev.values {
                f = f.evidence(k.clone(), v);
            }
            findings.push(f);
            if let Some(e) = &ev.error {
                findings.push(Finding::warning(e.clone()));
            }
            for d in &ev.differences {
                findings.push(
                    Finding::warning(format!(
                        "{}: the static reading differs from what the app computes",
                        d.setting
                    ))
                    .evidence("read statically", &d.static_value)
                    .evidence("the app computes (--eval)", &d.evaluated),
                );
            }
        }
        if findings
            .iter()
            .any(|f| f.severity > crate::report::Severity::Info)
        {
            return Ok(Outcome::findings(findings));
        }
        let mut summary = format!(
            "{} project {} ({}); settings read from {}",
            app.framework,
            app.dir.display(),
            app.found_by,
            app.settings_files
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
        if app.evaluated.is_some() {
            summary.push_str("; --eval agrees (app code was executed)");
        }
        Ok(Outcome::findings(findings).with_summary(summary))
    }
}

/// The unknown case of a setting, whatever its type.
trait Describe {
    fn unknown(&self) -> Option<(String, Option<Location>, String)>;
}

impl<T> Describe for Setting<T> {
    fn unknown(&self) -> Option<(String, Option<Location>, String)> {
        match self {
            Setting::Unknown { expr, at, why } => Some((expr.clone(), at.clone(), why.clone())),
            _ => None,
        }
    }
}
