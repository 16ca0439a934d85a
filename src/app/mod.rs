//! The app side: what the Django/Flask settings say, read without running the app.
//!
//! This module holds the data model that checks read (`App`); discovery and the settings reader
//! fill it. A value that could not be evaluated statically is kept as `Setting::Unknown` with the
//! expression, never guessed.

use crate::report::Location;
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Framework {
    Django,
    Flask,
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
    /// Set, but by an expression the safe evaluator cannot decide (shown as written).
    Unknown { expr: String, at: Option<Location> },
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
    pub media_url: Setting<String>,
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
}
