//! Commands built from what is on this box, never from a template: the app's own management
//! commands, run with the app's interpreter as the app's user (the reload for how nginx runs is
//! `system::loaded::reload_commands`).
//!
//! A command that cannot be built from facts is not printed with a placeholder: the caller
//! says what is missing instead.

use crate::app::App;
use crate::fs::walk::shell_quote;

/// `cd /srv/shop/app && sudo -u deploy /srv/shop/venv/bin/python manage.py collectstatic
/// --noinput`, or why it cannot be written without guessing.
pub fn manage_py(app: &App, args: &str) -> Result<String, String> {
    // In a container, this machine's paths and interpreter are not the app's: a `cd HOST_PATH &&
    // python manage.py` pasted here runs another Python (or none) against the container's files.
    if let Some(id) = app.running.as_ref().and_then(|r| r.container.as_deref()) {
        return Err(format!(
            "the app runs in a container ({}): run `manage.py {}` inside it (docker exec or compose exec), with the container's own interpreter and paths",
            &id[..id.len().min(12)],
            args.trim()
        ));
    }
    let python = app.python.as_ref().ok_or(
        "the interpreter that runs the app is unknown (no running process, unit or venv found)",
    )?;
    let mut cmd = format!("cd {} && ", shell_quote(&app.dir.display().to_string()));
    match app.user.as_deref() {
        Some(u) if u != "root" => cmd.push_str(&format!("sudo -u {} ", shell_quote(u))),
        Some(_) => cmd.push_str("sudo "),
        None => {}
    }
    // The settings module the app runs with, when it is not manage.py's own default.
    let settings = app
        .settings_module
        .as_ref()
        .filter(|_| {
            app.settings_module_source
                .as_deref()
                .is_some_and(|s| !s.contains("manage.py"))
        })
        .map(|m| format!(" --settings={}", shell_quote(m)))
        .unwrap_or_default();
    cmd.push_str(&format!(
        "{} manage.py {args}{settings}",
        shell_quote(&python.display().to_string())
    ));
    Ok(cmd)
}

/// The command that makes the running app read its settings again: its systemd unit's restart,
/// or a HUP to a gunicorn or uWSGI master started by hand (both reload their workers, which
/// import the app anew); or why it cannot be written without guessing.
pub fn restart_app(app: &App) -> Result<String, String> {
    let unit = app
        .unit
        .as_ref()
        .map(|u| u.name.clone())
        .or_else(|| app.running.as_ref().and_then(|r| r.unit.clone()));
    if let Some(unit) = unit {
        return Ok(format!("sudo systemctl restart {}", shell_quote(&unit)));
    }
    let Some(r) = &app.running else {
        return Err(
            "then restart the app server (media-doctor found no running process or unit of it)"
                .into(),
        );
    };
    if let Some(id) = &r.container {
        return Err(format!(
            "then restart the app's container ({})",
            &id[..id.len().min(12)]
        ));
    }
    let program = |name: &str| {
        r.argv
            .iter()
            .take(3)
            .any(|a| a.rsplit('/').next().is_some_and(|p| p == name))
    };
    if program("gunicorn") && r.argv.iter().any(|a| a == "--preload") {
        // A preloaded app is imported by the master: a HUP forks workers from the old import.
        return Err(format!(
            "then restart gunicorn (pid {}): it runs with --preload, so a HUP does not read the settings again",
            r.pid
        ));
    }
    if program("gunicorn") || program("uwsgi") {
        return Ok(format!("sudo kill -HUP {}", r.pid));
    }
    Err(format!("then restart the app (pid {})", r.pid))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn manage_py_runs_as_the_app() {
        let mut app = App::new(
            crate::app::Framework::Django,
            PathBuf::from("/srv/shop/app"),
            "test",
        );
        assert!(manage_py(&app, "collectstatic --noinput").is_err());
        app.python = Some(PathBuf::from("/srv/shop/venv/bin/python"));
        app.user = Some("deploy".into());
        assert_eq!(
            manage_py(&app, "collectstatic --noinput").unwrap(),
            "cd /srv/shop/app && sudo -u deploy /srv/shop/venv/bin/python manage.py collectstatic --noinput"
        );
        assert_eq!(shell_quote("a b"), "'a b'");
    }

    /// A containerised app: no command with this machine's paths (it printed `cd HOST_PATH &&
    /// sudo -u deploy PYTHON manage.py`, a Python outside the container).
    #[test]
    fn manage_py_of_an_app_in_a_container_names_the_container() {
        let mut app = App::new(
            crate::app::Framework::Django,
            PathBuf::from("/var/lib/docker/volumes/app/_data"),
            "test",
        );
        app.python = Some(PathBuf::from("/usr/local/bin/python"));
        app.running = Some(crate::app::running::RunningApp {
            endpoint: "127.0.0.1:8000".into(),
            named_by: "proxy_pass http://app:8000".into(),
            pid: 4242,
            argv: vec!["gunicorn".into()],
            cwd: None,
            exe: None,
            uid: Some(1000),
            unit: None,
            container: Some("0123456789abcdef0123".into()),
            environ: Default::default(),
            matched: None,
        });
        let why = manage_py(&app, "collectstatic --noinput").unwrap_err();
        assert!(why.contains("0123456789ab)"), "{why}");
        assert!(why.contains("manage.py collectstatic --noinput"), "{why}");
    }

    /// The app's restart: its unit's, else a HUP to a gunicorn/uWSGI master started by hand;
    /// never a HUP that would not read the settings again (`--preload`) or that another server
    /// takes as a stop.
    #[test]
    fn restart_app_is_the_units_or_a_hup_that_reloads() {
        let running = |argv: &[&str], unit: Option<&str>, container: Option<&str>| {
            crate::app::running::RunningApp {
                endpoint: "127.0.0.1:8001".into(),
                named_by: "proxy_pass http://127.0.0.1:8001".into(),
                pid: 4242,
                argv: argv.iter().map(|a| a.to_string()).collect(),
                cwd: None,
                exe: None,
                uid: Some(1000),
                unit: unit.map(String::from),
                container: container.map(String::from),
                environ: Default::default(),
                matched: None,
            }
        };
        let mut app = App::new(
            crate::app::Framework::Django,
            PathBuf::from("/srv/shop"),
            "test",
        );
        assert!(restart_app(&app).is_err());
        let gunicorn = [
            "/srv/shop/venv/bin/python",
            "/srv/shop/venv/bin/gunicorn",
            "shop.wsgi",
        ];
        app.running = Some(running(&gunicorn, None, None));
        assert_eq!(restart_app(&app).unwrap(), "sudo kill -HUP 4242");
        app.running = Some(running(&["uwsgi", "--ini", "shop.ini"], None, None));
        assert_eq!(restart_app(&app).unwrap(), "sudo kill -HUP 4242");
        app.running = Some(running(&["gunicorn", "--preload", "shop.wsgi"], None, None));
        assert!(restart_app(&app).unwrap_err().contains("--preload"));
        app.running = Some(running(&["python", "app.py"], None, None));
        assert!(restart_app(&app).unwrap_err().contains("pid 4242"));
        app.running = Some(running(&gunicorn, None, Some("0123456789abcdef")));
        assert!(restart_app(&app)
            .unwrap_err()
            .contains("container (0123456789ab)"));
        app.running = Some(running(&gunicorn, Some("shop.service"), None));
        assert_eq!(
            restart_app(&app).unwrap(),
            "sudo systemctl restart shop.service"
        );
    }
}
