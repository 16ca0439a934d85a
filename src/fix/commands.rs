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
}
