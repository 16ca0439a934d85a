//! The app side: what the Django/Flask settings say, read without running the app.
//!
//! This module holds the data model that checks read (`App`); discovery (`discover`) finds the
//! project, its systemd unit and environment, and the readers (`django`, `flask`, on top of the
//! `python` evaluator) fill it. A value that could not be evaluated statically is kept as
//! `Setting::Unknown` with the expression, never guessed. `--eval` (`eval`) runs the app's own
//! interpreter, only when asked, and records the differences.

pub mod discover;
pub mod django;
pub mod env;
pub mod eval;
pub mod flask;
pub mod python;
pub mod running;
pub mod server;
pub mod systemd;

use crate::report::Location;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Framework {
    Django,
    Flask,
}

impl std::fmt::Display for Framework {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Framework::Django => "Django",
            Framework::Flask => "Flask",
        })
    }
}

/// One setting as read from the app's files.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum Setting<T> {
    /// Not set anywhere (the framework default applies, if any).
    #[default]
    Unset,
    /// Evaluated statically; `at` is where the deciding assignment is.
    Known { value: T, at: Option<Location> },
    /// Set, but by an expression the safe evaluator cannot decide (shown as written), and why.
    Unknown {
        expr: String,
        at: Option<Location>,
        why: String,
    },
}

impl<T> Setting<T> {
    pub fn value(&self) -> Option<&T> {
        match self {
            Setting::Known { value, .. } => Some(value),
            _ => None,
        }
    }
    pub fn at(&self) -> Option<&Location> {
        match self {
            Setting::Known { at, .. } | Setting::Unknown { at, .. } => at.as_ref(),
            Setting::Unset => None,
        }
    }
    pub fn is_unset(&self) -> bool {
        matches!(self, Setting::Unset)
    }
    /// For messages: `'/srv/media' (settings.py:12)`, `unknown: env("X") (...)`, `not set`.
    pub fn describe(&self) -> String
    where
        T: std::fmt::Debug,
    {
        let at = |a: &Option<Location>| a.as_ref().map(|l| format!(" ({l})")).unwrap_or_default();
        match self {
            Setting::Unset => "not set".into(),
            Setting::Known { value, at: a } => format!("{value:?}{}", at(a)),
            Setting::Unknown { expr, at: a, why } => {
                format!("cannot be read statically: {expr}{}: {why}", at(a))
            }
        }
    }
}

/// A route of the app that serves files itself (Flask `send_from_directory`, Werkzeug's
/// `SharedDataMiddleware`, Django's `static()` or `django.views.static.serve`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct AppRoute {
    pub kind: String,
    /// The URL prefix it answers (`/uploads/`).
    pub prefix: Setting<String>,
    /// The directory it sends files from.
    pub dir: Setting<PathBuf>,
    pub at: Location,
    /// Django's `static()` adds no pattern unless DEBUG is True.
    pub debug_only: bool,
}

/// What the app's settings say about media and static files. Paths are system paths (under `--root`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct App {
    pub framework: Framework,
    /// The project directory.
    pub dir: PathBuf,
    /// The files the settings were read from, in reading order.
    pub settings_files: Vec<PathBuf>,
    pub media_root: Setting<PathBuf>,
    /// As written in the settings (Django accepts `media/`, served as `/media/`); for Flask, the
    /// `MEDIA_URL` config key, else the URL prefix of the route serving the upload folder.
    pub media_url: Setting<String>,
    /// Django STATIC_ROOT; for Flask the static folder itself (there is no collect step).
    pub static_root: Setting<PathBuf>,
    pub static_url: Setting<String>,
    /// Django STATICFILES_DIRS / Flask static_folder: where the static sources live.
    pub static_sources: Vec<PathBuf>,
    pub debug: Setting<bool>,
    /// A remote storage backend for media (django-storages S3/GCS/...), by its dotted name.
    pub remote_media_storage: Option<String>,
    /// The user (and group) the app runs as: gunicorn/uwsgi unit `User=`/`Group=`, the profile, or
    /// the running process's owner; `None` when unknown.
    pub user: Option<String>,
    pub group: Option<String>,

    /// How the project was found: `--app`, the profile, `systemd unit myapp.service`, `/srv/myapp`.
    pub found_by: String,
    /// Where `user` comes from (`User= in /etc/systemd/system/myapp.service:7`).
    pub user_source: Option<String>,
    /// The app server's systemd unit, when one was found.
    pub unit: Option<systemd::Unit>,
    /// The app server's command line (gunicorn/uwsgi...), from the unit.
    pub server: Option<server::AppServerCommand>,
    /// The app's interpreter (its venv's python), for `--eval`.
    pub python: Option<PathBuf>,
    /// The app process's working directory (relative paths in the settings resolve here).
    pub cwd: PathBuf,
    /// Django: the settings module and where that name came from.
    pub settings_module: Option<String>,
    pub settings_module_source: Option<String>,
    /// Flask: the app target read, as `module:callable` (`shop:create_app()`).
    pub target: Option<String>,
    pub allowed_hosts: Setting<Vec<String>>,
    /// WhiteNoise in MIDDLEWARE: the app serves STATIC_URL itself.
    pub whitenoise: Setting<bool>,
    /// The storage backends (Django STORAGES / DEFAULT_FILE_STORAGE / STATICFILES_STORAGE).
    pub media_storage: Setting<String>,
    pub static_storage: Setting<String>,
    pub remote_static_storage: Option<String>,
    /// Routes through which the app serves files itself.
    pub served_routes: Vec<AppRoute>,
    /// The environment's sources, highest precedence first.
    pub env_sources: Vec<String>,
    /// Environment variables the settings read, and where each value came from.
    pub env_reads: Vec<python::interp::EnvRead>,
    /// What could not be read, and why (missing settings module, syntax errors, ...).
    pub problems: Vec<String>,
    /// `--eval`: the settings as the app's own interpreter computed them.
    pub evaluated: Option<eval::Evaluated>,
    /// Django FILE_UPLOAD_PERMISSIONS / FILE_UPLOAD_DIRECTORY_PERMISSIONS, as written (`0o644`).
    pub file_upload_permissions: Setting<String>,
    pub file_upload_directory_permissions: Setting<String>,
    /// The process serving the app, when it was found through the site's upstream.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub running: Option<running::RunningApp>,
    /// Read in the mount namespace of its own process (a container), or on this machine for
    /// an nginx in a container: where MEDIA_ROOT and STATIC_ROOT are there, on this machine and
    /// in nginx's view.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<AppNamespace>,
    /// The app's own paths (its directory, settings files, static sources) the view its files
    /// are judged in does not show (`Unseen`): no check reads them there.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unseen: Vec<Unseen>,
}

/// A path of the app that the view its files are judged in does not show: storage the mounts of
/// the server judged (in a mount namespace of its own) do not show, or the app's own (a tmpfs of
/// its mount namespace) on no mount of this machine. Read at that path, it would be another file
/// or none.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Unseen {
    /// "project directory", "working directory", "settings file" or "static source".
    pub what: &'static str,
    /// The path as `App` gives it: the host path behind it, else the app's own.
    pub path: PathBuf,
    pub why: String,
}

/// An app read in its process's mount namespace, not the one of the server judged.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AppNamespace {
    pub pid: i32,
    pub media_root: Option<NsPath>,
    pub static_root: Option<NsPath>,
}

/// A directory of the app as it sees it, the storage behind it on this machine, and the path
/// the server judged opens for the same storage (none when its mounts do not show it).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NsPath {
    /// The app's own path (in its mount namespace).
    pub inside: PathBuf,
    /// The host path behind it.
    pub host: PathBuf,
    /// The same storage in the server's view (for nginx on this machine, `host`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<PathBuf>,
}

impl App {
    /// Why `p` (at or below a path of the app the server judged cannot see) cannot be read in
    /// the server's view, the nearest such path's; `None` when it can.
    pub fn unseen(&self, p: &Path) -> Option<&Unseen> {
        self.unseen
            .iter()
            .filter(|u| p.starts_with(&u.path))
            .max_by_key(|u| u.path.as_os_str().len())
    }

    /// An app with nothing read yet.
    pub fn new(framework: Framework, dir: PathBuf, found_by: impl Into<String>) -> App {
        App {
            framework,
            cwd: dir.clone(),
            dir,
            settings_files: Vec::new(),
            media_root: Setting::Unset,
            media_url: Setting::Unset,
            static_root: Setting::Unset,
            static_url: Setting::Unset,
            static_sources: Vec::new(),
            debug: Setting::Unset,
            remote_media_storage: None,
            user: None,
            group: None,
            found_by: found_by.into(),
            user_source: None,
            unit: None,
            server: None,
            python: None,
            settings_module: None,
            settings_module_source: None,
            target: None,
            allowed_hosts: Setting::Unset,
            whitenoise: Setting::Unset,
            media_storage: Setting::Unset,
            static_storage: Setting::Unset,
            remote_static_storage: None,
            served_routes: Vec::new(),
            env_sources: Vec::new(),
            env_reads: Vec::new(),
            problems: Vec::new(),
            evaluated: None,
            file_upload_permissions: Setting::Unset,
            file_upload_directory_permissions: Setting::Unset,
            running: None,
            namespace: None,
            unseen: Vec::new(),
        }
    }

    /// The URL path a URL setting is served under: Django serves a relative `media/` under the
    /// script prefix (`/media/`). `None` for an absolute URL (another host, a CDN) or an empty one.
    pub fn url_path(url: &str) -> Option<String> {
        let url = url.trim();
        if url.is_empty() || url.contains("://") || url.starts_with("//") {
            return None;
        }
        Some(if url.starts_with('/') {
            url.to_string()
        } else {
            format!("/{url}")
        })
    }

    /// MEDIA_URL as a path prefix (see `url_path`).
    pub fn media_url_path(&self) -> Option<String> {
        self.media_url.value().and_then(|u| Self::url_path(u))
    }

    pub fn static_url_path(&self) -> Option<String> {
        self.static_url.value().and_then(|u| Self::url_path(u))
    }

    /// A relative path in the settings means relative to the process's working directory.
    pub fn absolute(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            PathBuf::from(python::interp::normpath(
                &self.cwd.join(p).display().to_string(),
            ))
        }
    }
}

/// Converts an evaluated binding into a setting of paths.
pub(crate) fn path_setting(b: Option<&python::Binding>, app: &App) -> Setting<PathBuf> {
    let Some(b) = b else {
        return Setting::Unset;
    };
    match &b.value {
        python::Value::Str(s) if s.is_empty() => Setting::Known {
            value: PathBuf::new(),
            at: b.at.clone(),
        },
        v @ (python::Value::Str(_) | python::Value::Path(_)) => Setting::Known {
            value: app.absolute(&v.as_path().unwrap_or_default()),
            at: b.at.clone(),
        },
        python::Value::None => Setting::Unset,
        other => unknown_setting(b, other),
    }
}

pub(crate) fn string_setting(b: Option<&python::Binding>) -> Setting<String> {
    let Some(b) = b else {
        return Setting::Unset;
    };
    match &b.value {
        python::Value::Str(s) => Setting::Known {
            value: s.clone(),
            at: b.at.clone(),
        },
        python::Value::Path(p) => Setting::Known {
            value: p.display().to_string(),
            at: b.at.clone(),
        },
        python::Value::None => Setting::Unset,
        other => unknown_setting(b, other),
    }
}

pub(crate) fn bool_setting(b: Option<&python::Binding>) -> Setting<bool> {
    let Some(b) = b else {
        return Setting::Unset;
    };
    match b.value.truthy() {
        Some(v) if !b.value.is_unknown() => Setting::Known {
            value: v,
            at: b.at.clone(),
        },
        _ => unknown_setting(b, &b.value),
    }
}

pub(crate) fn unknown_setting<T>(b: &python::Binding, v: &python::Value) -> Setting<T> {
    let why = match v {
        python::Value::Unknown { expr, why } if why.contains(expr.as_str()) => why.clone(),
        python::Value::Unknown { expr, why } if expr != &b.expr => format!("{expr}: {why}"),
        python::Value::Unknown { why, .. } => why.clone(),
        other => format!("not a usable value: {}", other.describe()),
    };
    Setting::Unknown {
        expr: b.expr.clone(),
        at: b.at.clone(),
        why,
    }
}
