//! Django: find the settings module (DJANGO_SETTINGS_MODULE from the unit, .env or environment,
//! else the `os.environ.setdefault(...)` in the wsgi module or manage.py), evaluate it (with its
//! `from .base import *` chain), and read what matters for media and static files; then the root
//! URLconf for `static()` / `serve` patterns.

use super::discover::{Hints, Project};
use super::env::Env;
use super::python::value::literal_text;
use super::python::{Binding, Interp, Module, Value};
use super::{bool_setting, path_setting, string_setting, unknown_setting, App, AppRoute, Setting};
use crate::sysroot::SysRoot;
use std::path::{Path, PathBuf};

pub fn read(root: &SysRoot, app: &mut App, project: &Project, hints: &Hints, env: &Env) {
    let mut sys_path = vec![app.cwd.clone(), project.dir.clone()];
    if let Some(s) = &app.server {
        sys_path.extend(s.pythonpath.iter().map(|p| app.absolute(p)));
    }
    sys_path.dedup();
    let mut interp = Interp::new(root, env.clone(), sys_path, app.cwd.clone());

    let settings_file = match &project.file {
        Some(f) if !is_entry_script(f) => {
            app.settings_module_source = Some(format!("--app {}", f.display()));
            Some(f.clone())
        }
        _ => {
            let found = settings_module(root, app, project, hints, env);
            match found {
                Some((module, source)) => {
                    app.settings_module = Some(module.clone());
                    app.settings_module_source = Some(source.clone());
                    let file = interp.find_module(&module);
                    if file.is_none() {
                        app.problems.push(format!(
                            "the settings module {module} (from {source}) is not on the app's path ({})",
                            interp
                                .sys_path
                                .iter()
                                .map(|p| p.display().to_string())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ));
                    }
                    file
                }
                None => {
                    app.problems.push(
                        "DJANGO_SETTINGS_MODULE is set nowhere: not in the unit, .env or environment, \
                         nor by os.environ.setdefault in wsgi.py or manage.py"
                            .into(),
                    );
                    None
                }
            }
        }
    };
    let Some(settings_file) = settings_file else {
        return;
    };
    let ns = match interp.load_file(&settings_file) {
        Ok(ns) => ns,
        Err(e) => {
            app.problems.push(e);
            return;
        }
    };
    let get = |name: &str| ns.vars.get(name);
    app.media_root = path_setting(get("MEDIA_ROOT"), app);
    app.media_url = string_setting(get("MEDIA_URL"));
    app.static_root = path_setting(get("STATIC_ROOT"), app);
    app.static_url = string_setting(get("STATIC_URL"));
    app.debug = bool_setting(get("DEBUG"));
    // As written: the fix names the line and what it says.
    let as_written = |b: Option<&Binding>| match b {
        Some(b) if !matches!(b.value, Value::None) => Setting::Known {
            value: b.expr.clone(),
            at: b.at.clone(),
        },
        _ => Setting::Unset,
    };
    app.file_upload_permissions = as_written(get("FILE_UPLOAD_PERMISSIONS"));
    app.file_upload_directory_permissions = as_written(get("FILE_UPLOAD_DIRECTORY_PERMISSIONS"));
    app.allowed_hosts = list_of_strings(get("ALLOWED_HOSTS"));
    if let Some(b) = get("STATICFILES_DIRS") {
        match &b.value {
            Value::List(items) | Value::Tuple(items) => {
                for item in items {
                    // An entry is a path or a (prefix, path) pair.
                    let p = match item {
                        Value::Tuple(pair) if pair.len() == 2 => pair[1].as_path(),
                        other => other.as_path(),
                    };
                    match p {
                        Some(p) => app.static_sources.push(app.absolute(&p)),
                        None => app.problems.push(format!(
                            "STATICFILES_DIRS has an entry that cannot be read statically: {}",
                            item.describe()
                        )),
                    }
                }
            }
            other => app.problems.push(format!(
                "STATICFILES_DIRS cannot be read statically: {} ({})",
                b.expr,
                other.describe()
            )),
        }
    }
    app.static_sources.extend(installed_app_static(
        root,
        app,
        &interp,
        get("INSTALLED_APPS"),
    ));
    app.whitenoise = match get("MIDDLEWARE") {
        None => Setting::Unset,
        Some(b) => match &b.value {
            Value::List(items) | Value::Tuple(items) => Setting::Known {
                value: items
                    .iter()
                    .any(|i| i.as_str().is_some_and(|s| s.starts_with("whitenoise."))),
                at: b.at.clone(),
            },
            other => unknown_setting(b, other),
        },
    };
    read_storages(
        app,
        get("STORAGES"),
        get("DEFAULT_FILE_STORAGE"),
        get("STATICFILES_STORAGE"),
    );

    // The URLconf: does the app serve media itself?
    interp.django_settings = Some(ns.clone());
    if let Some(urlconf) = get("ROOT_URLCONF").and_then(|b| b.value.as_str().map(str::to_string)) {
        match interp.find_module(&urlconf) {
            Some(file) => {
                if let Err(e) = interp.load_file(&file) {
                    app.problems.push(e);
                }
            }
            None => app
                .problems
                .push(format!("ROOT_URLCONF {urlconf} is not on the app's path")),
        }
    }
    for r in &interp.served {
        app.served_routes.push(AppRoute {
            kind: r.kind.to_string(),
            prefix: value_to_string_setting(&r.prefix, r.at.clone()),
            dir: value_to_path_setting(&r.dir, r.at.clone(), app),
            at: r.at.clone(),
            debug_only: r.debug_only,
        });
    }
    app.settings_files = interp.files_read.clone();
    app.env_reads = interp.env_reads.clone();
    app.problems.extend(interp.problems.iter().cloned());
}

/// `manage.py` and `wsgi.py` are entry scripts, not settings.
fn is_entry_script(f: &Path) -> bool {
    matches!(
        f.file_name().and_then(|n| n.to_str()),
        Some("manage.py" | "wsgi.py" | "asgi.py")
    )
}

/// DJANGO_SETTINGS_MODULE: the profile, the environment (gunicorn --env, unit, .env, live
/// environment), then `os.environ.setdefault` in the module the server loads, then manage.py.
fn settings_module(
    root: &SysRoot,
    app: &App,
    project: &Project,
    hints: &Hints,
    env: &Env,
) -> Option<(String, String)> {
    if let Some(m) = &hints.settings_module {
        return Some((m.clone(), "the profile's settings_module".into()));
    }
    if let Some((v, source)) = env.get("DJANGO_SETTINGS_MODULE") {
        return Some((v.to_string(), source.to_string()));
    }
    let mut scripts: Vec<PathBuf> = Vec::new();
    if let Some((module, _)) = app.server.as_ref().and_then(|s| s.target_parts()) {
        let rel = PathBuf::from(module.replace('.', "/")).with_extension("py");
        scripts.push(app.cwd.join(&rel));
        scripts.push(project.dir.join(&rel));
    }
    if let Some(f) = &project.file {
        scripts.push(f.clone());
    }
    scripts.push(project.dir.join("manage.py"));
    for script in scripts {
        let Ok(m) = Module::read(root, &script) else {
            continue;
        };
        if let Some((value, line)) = setdefault_in(&m) {
            return Some((
                value,
                format!("os.environ.setdefault at {}:{line}", script.display()),
            ));
        }
    }
    None
}

/// `os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proj.settings")` anywhere in a file.
fn setdefault_in(m: &Module) -> Option<(String, u32)> {
    let root = m.tree.root_node();
    let mut stack = vec![root];
    while let Some(n) = stack.pop() {
        if n.kind() == "call" {
            let func = n
                .child_by_field_name("function")
                .map(|f| m.text(f))
                .unwrap_or("");
            if func.ends_with("environ.setdefault") || func.ends_with("environ.__setitem__") {
                if let Some(args) = n.child_by_field_name("arguments") {
                    let mut c = args.walk();
                    let strings: Vec<String> = args
                        .named_children(&mut c)
                        .filter(|a| a.kind() == "string")
                        .map(|a| literal_text(m, a))
                        .collect();
                    if strings.len() == 2 && strings[0] == "DJANGO_SETTINGS_MODULE" {
                        return Some((strings[1].clone(), n.start_position().row as u32 + 1));
                    }
                }
            }
        }
        let mut c = n.walk();
        stack.extend(n.named_children(&mut c));
    }
    None
}

fn list_of_strings(b: Option<&Binding>) -> Setting<Vec<String>> {
    let Some(b) = b else {
        return Setting::Unset;
    };
    match &b.value {
        Value::List(items) | Value::Tuple(items) => {
            let strings: Option<Vec<String>> = items
                .iter()
                .map(|i| i.as_str().map(str::to_string))
                .collect();
            match strings {
                Some(v) => Setting::Known {
                    value: v,
                    at: b.at.clone(),
                },
                None => unknown_setting(b, &b.value),
            }
        }
        other => unknown_setting(b, other),
    }
}

/// STORAGES (Django ≥ 4.2) or the older DEFAULT_FILE_STORAGE / STATICFILES_STORAGE; a
/// FileSystemStorage with OPTIONS.location/base_url overrides MEDIA_ROOT/MEDIA_URL.
fn read_storages(
    app: &mut App,
    storages: Option<&Binding>,
    default: Option<&Binding>,
    statics: Option<&Binding>,
) {
    let backend = |b: &Binding, alias: &str| -> Setting<String> {
        match &b.value {
            Value::Dict(_) => match b.value.dict_get(alias).and_then(|d| d.dict_get("BACKEND")) {
                Some(Value::Str(s)) => Setting::Known {
                    value: s.clone(),
                    at: b.at.clone(),
                },
                Some(other) => unknown_setting(b, other),
                None => Setting::Unset,
            },
            other => unknown_setting(b, other),
        }
    };
    if let Some(s) = storages {
        app.media_storage = backend(s, "default");
        app.static_storage = backend(s, "staticfiles");
        if let Some(opts) = s
            .value
            .dict_get("default")
            .and_then(|d| d.dict_get("OPTIONS"))
        {
            if let Some(loc) = opts.dict_get("location").and_then(|v| v.as_path()) {
                app.media_root = Setting::Known {
                    value: app.absolute(&loc),
                    at: s.at.clone(),
                };
            }
            if let Some(url) = opts.dict_get("base_url").and_then(|v| v.as_str()) {
                app.media_url = Setting::Known {
                    value: url.to_string(),
                    at: s.at.clone(),
                };
            }
        }
    }
    if app.media_storage.is_unset() {
        app.media_storage = string_setting(default);
    }
    if app.static_storage.is_unset() {
        app.static_storage = string_setting(statics);
    }
    app.remote_media_storage = app
        .media_storage
        .value()
        .filter(|b| is_remote_backend(b))
        .cloned();
    app.remote_static_storage = app
        .static_storage
        .value()
        .filter(|b| is_remote_backend(b))
        .cloned();
}

/// django-storages and the other remote backends (S3, GCS, Azure, Cloudinary, ...); Django's own
/// and WhiteNoise's storages write to local disk.
pub fn is_remote_backend(dotted: &str) -> bool {
    let d = dotted.to_ascii_lowercase();
    if d.starts_with("django.") || d.starts_with("whitenoise.") {
        return false;
    }
    d.starts_with("storages.")
        || [
            "s3",
            "gcloud",
            "google",
            "gcs",
            "azure",
            "cloudinary",
            "dropbox",
            "minio",
            "boto",
        ]
        .iter()
        .any(|k| d.contains(k))
}

pub(crate) fn value_to_string_setting(v: &Value, at: crate::report::Location) -> Setting<String> {
    let b = Binding {
        value: v.clone(),
        expr: v.describe(),
        at: Some(at),
    };
    string_setting(Some(&b))
}

pub(crate) fn value_to_path_setting(
    v: &Value,
    at: crate::report::Location,
    app: &App,
) -> Setting<PathBuf> {
    let b = Binding {
        value: v.clone(),
        expr: match v {
            Value::Unknown { expr, .. } => expr.clone(),
            other => other.describe(),
        },
        at: Some(at),
    };
    path_setting(Some(&b), app)
}

/// The `static/` directory of each installed app (what collectstatic's AppDirectoriesFinder
/// copies), in INSTALLED_APPS order: apps of the project, and apps in the virtualenv the app
/// runs with (its interpreter's site-packages) when that is known. An entry may name an
/// AppConfig (`shop.apps.ShopConfig`): the app is the longest prefix that is a package.
fn installed_app_static(
    root: &SysRoot,
    app: &App,
    interp: &Interp,
    installed: Option<&Binding>,
) -> Vec<PathBuf> {
    let Some(Value::List(items) | Value::Tuple(items)) = installed.map(|b| &b.value) else {
        return Vec::new();
    };
    let site_packages = venv_site_packages(root, app);
    let is_dir = |p: &Path| root.real_path(p).map(|r| root.is_dir(&r)).unwrap_or(false);
    let mut out = Vec::new();
    for name in items.iter().filter_map(|i| i.as_str()) {
        let parts: Vec<&str> = name.split('.').collect();
        let package = (1..=parts.len()).rev().find_map(|n| {
            let dotted = parts[..n].join(".");
            let init = interp.find_module(&dotted).or_else(|| {
                site_packages.iter().find_map(|sp| {
                    let dir = sp.join(dotted.replace('.', "/"));
                    is_dir(&dir).then(|| dir.join("__init__.py"))
                })
            })?;
            (init.file_name()? == "__init__.py").then(|| init.parent().map(Path::to_path_buf))?
        });
        if let Some(static_dir) = package.map(|p| p.join("static")) {
            if is_dir(&static_dir) && !out.contains(&static_dir) {
                out.push(static_dir);
            }
        }
    }
    out
}

/// `VENV/lib/pythonX.Y/site-packages` of the app's interpreter (`VENV/bin/python`).
fn venv_site_packages(root: &SysRoot, app: &App) -> Vec<PathBuf> {
    let Some(venv) = app
        .python
        .as_ref()
        .and_then(|p| p.parent())
        .and_then(|bin| bin.parent())
    else {
        return Vec::new();
    };
    let lib = venv.join("lib");
    let Ok(rd) = root
        .real_path(&lib)
        .and_then(|r| std::fs::read_dir(root.host_path(&r)))
    else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = rd
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().to_str()?.to_string();
            n.starts_with("python")
                .then(|| lib.join(n).join("site-packages"))
        })
        .collect();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_backends() {
        assert!(is_remote_backend(
            "storages.backends.s3boto3.S3Boto3Storage"
        ));
        assert!(is_remote_backend(
            "storages.backends.gcloud.GoogleCloudStorage"
        ));
        assert!(is_remote_backend(
            "myproject.storage_backends.MediaS3Storage"
        ));
        assert!(!is_remote_backend(
            "django.core.files.storage.FileSystemStorage"
        ));
        assert!(!is_remote_backend(
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
        ));
    }

    #[test]
    fn finds_setdefault() {
        let m = Module::parse(
            Path::new("/srv/app/manage.py"),
            "import os\ndef main():\n    os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'shop.settings.production')\n"
                .into(),
        )
        .unwrap();
        assert_eq!(
            setdefault_in(&m),
            Some(("shop.settings.production".into(), 3))
        );
    }
}
