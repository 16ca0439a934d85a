//! Commands built from what is on this box, never from a template: the reload for how this
//! nginx runs (its systemd unit, a container, or a plain master that gets a HUP), and the app's
//! own management commands run with the app's interpreter as the app's user.
//!
//! A command that cannot be built from facts is not printed with a placeholder: the caller
//! says what is missing instead.

use crate::app::App;
use crate::system::{MasterArgs, Process};
use std::path::Path;

/// How a running nginx master was started, from its cgroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Supervisor {
    /// A systemd service (`nginx.service`).
    Systemd(String),
    /// A container (docker or podman) by id.
    Container { engine: &'static str, id: String },
    /// Started by hand or by a script: nothing restarts or reloads it for us.
    Plain,
}

/// The supervisor of process `pid` (live /proc).
pub fn supervisor_of(pid: i32) -> Supervisor {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
    supervisor_from_cgroup(&text)
}

pub fn supervisor_from_cgroup(text: &str) -> Supervisor {
    for line in text.lines() {
        let path = line.splitn(3, ':').nth(2).unwrap_or("");
        for part in path.split('/') {
            if let Some(id) = part
                .strip_prefix("docker-")
                .and_then(|p| p.strip_suffix(".scope"))
            {
                return Supervisor::Container {
                    engine: "docker",
                    id: short_id(id),
                };
            }
            if let Some(id) = part
                .strip_prefix("libpod-")
                .and_then(|p| p.strip_suffix(".scope"))
            {
                return Supervisor::Container {
                    engine: "podman",
                    id: short_id(id),
                };
            }
        }
        // Only the innermost component names the service the process runs in.
        if let Some(last) = path.rsplit('/').find(|p| !p.is_empty()) {
            if last.ends_with(".service") && !last.starts_with("user@") {
                return Supervisor::Systemd(last.to_string());
            }
        }
    }
    Supervisor::Plain
}

fn short_id(id: &str) -> String {
    id.chars().take(12).collect()
}

/// `sudo ` when the commands will need it (media-doctor itself does not run as root).
pub fn sudo() -> &'static str {
    if nix::unistd::geteuid().is_root() {
        ""
    } else {
        "sudo "
    }
}

/// `nginx -t` with the master's own flags, then the reload its supervisor expects.
pub fn reload(master: &Process, args: &MasterArgs, bin: Option<&Path>) -> String {
    reload_with(&supervisor_of(master.pid), master.pid, args, bin, sudo())
}

pub fn reload_with(
    sup: &Supervisor,
    pid: i32,
    args: &MasterArgs,
    bin: Option<&Path>,
    sudo: &str,
) -> String {
    let bin = bin
        .map(|b| b.display().to_string())
        .unwrap_or_else(|| "nginx".into());
    let mut flags = String::new();
    if let Some(p) = &args.prefix {
        flags.push_str(&format!(" -p {}", p.display()));
    }
    if let Some(c) = &args.conf {
        flags.push_str(&format!(" -c {}", c.display()));
    }
    match sup {
        Supervisor::Systemd(unit) => {
            let unit = unit.strip_suffix(".service").unwrap_or(unit);
            format!("{sudo}{bin} -t{flags} && {sudo}systemctl reload {unit}")
        }
        Supervisor::Container { engine, id } => {
            format!("{sudo}{engine} exec {id} nginx -t && {sudo}{engine} exec {id} nginx -s reload")
        }
        Supervisor::Plain => format!("{sudo}{bin} -t{flags} && {sudo}kill -HUP {pid}"),
    }
}

/// `cd /srv/shop/app && sudo -u deploy /srv/shop/venv/bin/python manage.py collectstatic
/// --noinput`, or why it cannot be written without guessing.
pub fn manage_py(app: &App, args: &str) -> Result<String, String> {
    let python = app.python.as_ref().ok_or(
        "the interpreter that runs the app is unknown (no running process, unit or venv found)",
    )?;
    let mut cmd = format!("cd {} && ", shell_word(&app.dir.display().to_string()));
    match app.user.as_deref() {
        Some(u) if u != "root" => cmd.push_str(&format!("sudo -u {} ", shell_word(u))),
        Some(_) => cmd.push_str(sudo()),
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
        .map(|m| format!(" --settings={}", shell_word(m)))
        .unwrap_or_default();
    cmd.push_str(&format!(
        "{} manage.py {args}{settings}",
        shell_word(&python.display().to_string())
    ));
    Ok(cmd)
}

/// A word as the shell reads it back (single quotes when needed).
pub fn shell_word(s: &str) -> String {
    let plain = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+=:,@%".contains(&b));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn reload_follows_the_supervisor() {
        let none = MasterArgs::default();
        let bin = Path::new("/usr/sbin/nginx");
        assert_eq!(
            reload_with(
                &supervisor_from_cgroup("0::/system.slice/nginx.service\n"),
                10,
                &none,
                Some(bin),
                ""
            ),
            "/usr/sbin/nginx -t && systemctl reload nginx"
        );
        let custom = MasterArgs {
            conf: Some(PathBuf::from("/tmp/x/nginx.conf")),
            prefix: None,
        };
        assert_eq!(
            reload_with(
                &supervisor_from_cgroup("0::/user.slice/user-0.slice/session-3.scope\n"),
                42,
                &custom,
                Some(bin),
                "sudo "
            ),
            "sudo /usr/sbin/nginx -t -c /tmp/x/nginx.conf && sudo kill -HUP 42"
        );
        assert_eq!(
            reload_with(
                &supervisor_from_cgroup("0::/system.slice/docker-0123456789abcdef0123.scope\n"),
                7,
                &none,
                None,
                ""
            ),
            "docker exec 0123456789ab nginx -t && docker exec 0123456789ab nginx -s reload"
        );
    }

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
        assert_eq!(shell_word("a b"), "'a b'");
    }
}
