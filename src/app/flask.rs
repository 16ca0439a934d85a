//! Flask: find the module that builds the app (the server's `module:callable`, FLASK_APP, or
//! wsgi.py/app.py/... in the project), evaluate it (calling the factory when the target is
//! `create_app()` or when there is no module-level app), then read the app object: its config
//! (UPLOAD_FOLDER, MEDIA_URL, DEBUG, set however the code sets them), its static folder and URL,
//! and the routes that serve files with `send_from_directory`.

use super::discover::Project;
use super::django::{value_to_path_setting, value_to_string_setting};
use super::env::Env;
use super::python::interp::Object;
use super::python::{Interp, Module, Value};
use super::{bool_setting, path_setting, string_setting, App, AppRoute, Setting};
use crate::sysroot::SysRoot;
use std::path::{Path, PathBuf};

/// Config keys that name the upload directory, most common first (Flask-Uploads last).
pub const UPLOAD_KEYS: &[&str] = &[
    "UPLOAD_FOLDER",
    "MEDIA_ROOT",
    "UPLOAD_DIR",
    "UPLOAD_PATH",
    "UPLOADS_FOLDER",
    "MEDIA_FOLDER",
    "UPLOADED_FILES_DEST",
    "UPLOADS_DEFAULT_DEST",
];
pub const MEDIA_URL_KEYS: &[&str] = &["MEDIA_URL", "UPLOAD_URL", "UPLOADS_DEFAULT_URL"];

pub fn read(root: &SysRoot, app: &mut App, project: &Project, env: &Env) {
    let mut sys_path = vec![app.cwd.clone(), project.dir.clone()];
    if let Some(s) = &app.server {
        sys_path.extend(s.pythonpath.iter().map(|p| app.absolute(p)));
    }
    sys_path.dedup();
    let mut interp = Interp::new(root, env.clone(), sys_path, app.cwd.clone());

    // The target: gunicorn/uwsgi `module:callable`, else FLASK_APP, else a conventional module.
    let target = app
        .server
        .as_ref()
        .and_then(|s| s.target.clone())
        .or_else(|| env.get("FLASK_APP").map(|(v, _)| v.to_string()));
    let (module_name, callable) = match &target {
        Some(t) => match t.split_once(':') {
            Some((m, c)) => (Some(m.trim().to_string()), Some(c.trim().to_string())),
            None => (Some(t.trim_end_matches(".py").replace('/', ".")), None),
        },
        None => (None, None),
    };
    let entry = project
        .file
        .clone()
        .or_else(|| module_name.as_deref().and_then(|m| interp.find_module(m)))
        .or_else(|| entry_module(root, &project.dir));
    let Some(entry) = entry else {
        app.problems.push(format!(
            "no module that creates the Flask app was found in {}{}",
            project.dir.display(),
            target.map(|t| format!(" (target {t})")).unwrap_or_default()
        ));
        return;
    };
    let ns = match interp.load_file(&entry) {
        Ok(ns) => ns,
        Err(e) => {
            app.problems.push(e);
            return;
        }
    };
    let label = format!("the app target in {}", entry.display());
    let module_dotted = module_name.clone().unwrap_or_else(|| {
        interp
            .sys_path
            .iter()
            .find_map(|b| entry.strip_prefix(b).ok())
            .map(|rel| {
                let s = rel
                    .with_extension("")
                    .display()
                    .to_string()
                    .replace('/', ".");
                s.trim_end_matches(".__init__").to_string()
            })
            .unwrap_or_default()
    });
    app.target = Some(match &callable {
        Some(c) => format!("{module_dotted}:{c}"),
        None => module_dotted,
    });
    let value = match &callable {
        Some(c) if c.contains('(') => interp.eval_in_module(&entry, c, &label),
        Some(c) => match ns.vars.get(c).map(|b| b.value.clone()) {
            // Flask's CLI calls a factory named as the target; gunicorn would not.
            Some(Value::Func(_)) => interp.eval_in_module(&entry, &format!("{c}()"), &label),
            Some(v) => v,
            None => Value::unknown(
                c.as_str(),
                format!("{c} is not defined in {}", entry.display()),
            ),
        },
        None => {
            let named = ["app", "application"]
                .iter()
                .find_map(|n| ns.vars.get(n).map(|b| b.value.clone()))
                .filter(|v| matches!(v, Value::Obj(_)));
            match named {
                Some(v) => v,
                None => match ["create_app", "make_app"]
                    .iter()
                    .find(|n| matches!(ns.vars.get(n).map(|b| &b.value), Some(Value::Func(_))))
                {
                    Some(f) => interp.eval_in_module(&entry, &format!("{f}()"), &label),
                    None => Value::None,
                },
            }
        }
    };
    interp.finish_routes();
    let apps = interp.flask_apps();
    let chosen = match value {
        Value::Obj(i) if matches!(interp.objects.get(i), Some(Object::FlaskApp(_))) => Some(i),
        _ if apps.len() == 1 => Some(apps[0].0),
        _ => None,
    };
    let Some(app_id) = chosen else {
        app.problems.push(match apps.len() {
            0 => format!(
                "no Flask(...) app is created by {} as read statically",
                entry.display()
            ),
            n => format!("{n} Flask apps are created; which one the server runs is unclear"),
        });
        finish(app, &interp);
        return;
    };
    let Some(Object::FlaskApp(fapp)) = interp.objects.get(app_id).cloned() else {
        return;
    };
    let config = interp.flask_config(app_id);
    let module_var = |k: &str| ns.vars.get(k);
    let upload = UPLOAD_KEYS
        .iter()
        .find_map(|k| config.get(*k))
        .or_else(|| UPLOAD_KEYS.iter().find_map(|k| module_var(k)));
    app.media_root = path_setting(upload, app);
    let media_url = MEDIA_URL_KEYS
        .iter()
        .find_map(|k| config.get(*k))
        .or_else(|| MEDIA_URL_KEYS.iter().find_map(|k| module_var(k)));
    app.media_url = string_setting(media_url);
    app.debug = bool_setting(config.get("DEBUG"));

    // Static files: the folder (relative to the app's root_path) and its URL.
    let sf = &fapp.static_folder;
    match &sf.value {
        Value::None => {}
        v @ (Value::Str(_) | Value::Path(_)) => {
            let folder = fapp.root_path.join(v.as_path().unwrap_or_default());
            let folder = PathBuf::from(super::python::interp::normpath(
                &folder.display().to_string(),
            ));
            app.static_root = Setting::Known {
                value: folder.clone(),
                at: sf.at.clone(),
            };
            app.static_sources.push(folder.clone());
            app.static_url = match &fapp.static_url_path {
                Some(b) => string_setting(Some(b)),
                None => Setting::Known {
                    value: format!(
                        "/{}/",
                        folder
                            .file_name()
                            .map(|n| n.to_string_lossy())
                            .unwrap_or_default()
                    ),
                    at: sf.at.clone(),
                },
            };
            if let Some(u) = app.static_url.value().cloned() {
                if !u.ends_with('/') {
                    // Flask's rule is `<static_url_path>/<path:filename>`.
                    app.static_url = Setting::Known {
                        value: format!("{u}/"),
                        at: app.static_url.at().cloned(),
                    };
                }
            }
        }
        other => app.static_root = super::unknown_setting(sf, other),
    }

    // Routes that serve files; send_from_directory resolves a relative directory against the
    // app's root_path.
    for r in &interp.served {
        let dir = match (&r.dir, r.kind) {
            (Value::Str(s), "send_from_directory") if !s.starts_with('/') => {
                Value::Str(fapp.root_path.join(s).display().to_string())
            }
            (v, _) => v.clone(),
        };
        app.served_routes.push(AppRoute {
            kind: r.kind.to_string(),
            prefix: value_to_string_setting(&r.prefix, r.at.clone()),
            dir: value_to_path_setting(&dir, r.at.clone(), app),
            at: r.at.clone(),
            debug_only: false,
        });
    }
    if app.media_url.is_unset() {
        // The URL of uploads is the route that serves the upload folder (or the only such route).
        let root_dir = app.media_root.value().cloned();
        let by_dir = app
            .served_routes
            .iter()
            .find(|r| root_dir.is_some() && r.dir.value() == root_dir.as_ref());
        let only = match app.served_routes.as_slice() {
            [one] => Some(one),
            _ => None,
        };
        if let Some(r) = by_dir.or(only) {
            app.media_url = r.prefix.clone();
        }
    }
    finish(app, &interp);
}

fn finish(app: &mut App, interp: &Interp) {
    app.settings_files = interp.files_read.clone();
    app.env_reads = interp.env_reads.clone();
    app.problems.extend(interp.problems.iter().cloned());
}

/// Flask entry modules, most likely first: where discovery looks for a Flask project and where
/// its app is then read from (one list: discovery once found a project by its manage.py that
/// this module then could not read).
pub(crate) const ENTRY_FILES: &[&str] = &[
    "wsgi.py",
    "app.py",
    "application.py",
    "run.py",
    "main.py",
    "server.py",
    "manage.py",
];

/// A conventional entry module in `dir` that imports flask.
fn entry_module(root: &SysRoot, dir: &Path) -> Option<PathBuf> {
    let mut files: Vec<PathBuf> = ENTRY_FILES.iter().map(|f| dir.join(f)).collect();
    if let Ok(rd) = std::fs::read_dir(root.host_path(&root.real_path(dir).ok()?)) {
        let mut subs: Vec<PathBuf> = rd
            .flatten()
            .filter(|e| e.path().is_dir())
            .map(|e| dir.join(e.file_name()).join("__init__.py"))
            .collect();
        subs.sort();
        files.extend(subs);
    }
    files.into_iter().find(|f| {
        Module::read(root, f).is_ok_and(|m| {
            m.imported_modules()
                .iter()
                .any(|i| i == "flask" || i.starts_with("flask."))
                || m.src.contains("create_app")
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::discover::find_project;
    use crate::app::Framework;

    /// A project whose only Flask module is manage.py: discovery calls it Flask, and the app is
    /// read from that file (the two lists once disagreed on manage.py).
    #[test]
    fn the_module_that_made_it_a_flask_project_is_its_entry() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(t.path().join("srv/app")).unwrap();
        std::fs::write(
            t.path().join("srv/app/manage.py"),
            "from flask import Flask\napp = Flask(__name__)\n",
        )
        .unwrap();
        let root = SysRoot::new(t.path());
        let dir = Path::new("/srv/app");
        let project = find_project(&root, dir, None).expect("a project");
        assert_eq!(project.framework, Framework::Flask);
        assert_eq!(
            entry_module(&root, &project.dir),
            Some(dir.join("manage.py"))
        );
    }
}
