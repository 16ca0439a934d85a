//! The app's settings as its container sees them. The settings are read again with the
//! container's environment (compose `environment:` over `env_file`, over the image's `ENV`),
//! from the container's working directory, and each path setting is carried into the container:
//! a checkout path (`BASE_DIR / "mediafiles"`, BASE_DIR being the checkout) becomes the path
//! COPY or a bind mount puts it at (`/home/app/web/mediafiles`); any other absolute path is
//! taken as the container path it is written as. Then each path is located: which storage holds
//! it (see `mounts`).

use super::interpolate;
use super::mounts::{Container, Place};
use crate::app::discover::{find_project, Hints};
use crate::app::env::Env;
use crate::app::server::AppServerCommand;
use crate::app::{App, Framework, Setting};
use crate::report::Location;
use crate::sysroot::SysRoot;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A path setting carried into the container.
#[derive(Debug, Clone)]
pub struct ContainerPath {
    /// The container path, or why it cannot be known.
    pub path: Setting<String>,
    /// How it was carried: `checkout app/mediafiles → /home/app/web/mediafiles (COPY at ...)`.
    pub how: Option<String>,
    /// Its storage in the app container (`None` when the path is not known).
    pub place: Option<Place>,
}

/// The app's settings in its container.
#[derive(Debug, Clone)]
pub struct ContainerApp {
    pub service: String,
    /// The settings read with the container's environment (paths still checkout paths).
    pub app: App,
    pub media_root: ContainerPath,
    pub static_root: ContainerPath,
    /// The user the app runs as in the container, and where that is said.
    pub user: (String, String),
    /// The environment's sources, highest precedence first (names only: values may be secrets).
    pub env_sources: Vec<String>,
}

/// Reads the settings of the app in `host_app.dir` as container `c` runs it.
pub fn read(root: &SysRoot, c: &Container, host_app: &App) -> ContainerApp {
    let env = container_env(root, c, host_app);
    let mut app = App::new(
        host_app.framework,
        host_app.dir.clone(),
        format!("{} (compose service {})", host_app.found_by, c.name()),
    );
    // The working directory as a checkout path, so relative paths and imports resolve there.
    app.cwd = c
        .host_of(&c.workdir())
        .unwrap_or_else(|| host_app.dir.clone());
    app.server = c.start_commands().iter().find_map(|cmd| {
        let words = cmd.words();
        let s = AppServerCommand::parse(&words, c.service.at.clone());
        (s.target.is_some() || s.script.is_some()).then_some(s)
    });
    let (user, user_source) = c.user();
    app.user = Some(user.clone());
    app.user_source = Some(user_source.clone());
    app.env_sources = env.layers.iter().map(|l| l.source.clone()).collect();
    match find_project(root, &host_app.dir, Some(host_app.framework)) {
        Some(project) => match project.framework {
            Framework::Django => {
                crate::app::django::read(root, &mut app, &project, &Hints::default(), &env)
            }
            Framework::Flask => crate::app::flask::read(root, &mut app, &project, &env),
        },
        None => app.problems.push(format!(
            "no {} project in {}",
            host_app.framework,
            host_app.dir.display()
        )),
    }
    let unset: Vec<String> = app
        .env_reads
        .iter()
        .filter(|r| r.source.is_none())
        .map(|r| r.name.clone())
        .fold(Vec::new(), |mut v, n| {
            if !v.contains(&n) {
                v.push(n);
            }
            v
        });
    let media_root = carry(c, host_app, &app.media_root, &unset);
    let static_root = carry(c, host_app, &app.static_root, &unset);
    ContainerApp {
        service: c.name().to_string(),
        env_sources: app.env_sources.clone(),
        app,
        media_root,
        static_root,
        user: (user, user_source),
    }
}

/// The container's environment, highest precedence first: compose (environment: and env_file,
/// each variable with its own source), env files that are not there (named, empty: what they set
/// is unknown), the image's ENV, and a `.env` the image holds in the app directory.
fn container_env(root: &SysRoot, c: &Container, host_app: &App) -> Env {
    let mut env = Env::default();
    let mut by_source: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    for (k, v) in &c.service.environment {
        // Listed without a value (from the shell), or built from an unset variable: unknown.
        let Some(val) = &v.value else { continue };
        if interpolate::has_unset(val) {
            continue;
        }
        if !order.contains(&v.source) {
            order.push(v.source.clone());
        }
        by_source
            .entry(v.source.clone())
            .or_default()
            .insert(k.clone(), val.clone());
    }
    // `environment:` entries first (they win over env_file).
    order.sort_by_key(|s| s.starts_with("env_file"));
    for s in order {
        let vars = by_source.remove(&s).unwrap_or_default();
        env.push(format!("compose {s}"), vars);
    }
    for missing in &c.service.missing_env_files {
        env.push(
            format!("env_file {missing} (not in the repository)"),
            BTreeMap::new(),
        );
    }
    if let Some(img) = &c.image {
        let vars: BTreeMap<String, String> = img
            .env
            .iter()
            .filter(|(_, (v, _))| !interpolate::has_unset(v))
            .map(|(k, (v, _))| (k.clone(), v.clone()))
            .collect();
        if !vars.is_empty() {
            env.push(format!("ENV in {}", img.dockerfile.display()), vars);
        }
    }
    let dotenv = host_app.dir.join(".env");
    if c.container_of_host(&dotenv).is_some() && root.is_file(&dotenv) {
        env.push_file(root, &dotenv, ".env (in the image)", true);
    }
    env
}

/// A path setting (a checkout path when it came from BASE_DIR) as a container path.
fn carry(c: &Container, host_app: &App, s: &Setting<PathBuf>, unset: &[String]) -> ContainerPath {
    let unknown = |why: String, at: Option<Location>, expr: String| ContainerPath {
        path: Setting::Unknown { expr, at, why },
        how: None,
        place: None,
    };
    match s {
        Setting::Unset => ContainerPath {
            path: Setting::Unset,
            how: None,
            place: None,
        },
        Setting::Unknown { expr, at, why } => unknown(why.clone(), at.clone(), expr.clone()),
        Setting::Known { value, at } => {
            let p = value.display().to_string();
            // A `None` path component is Python's str(None): a variable read without a default
            // that no source sets (`f"{HOST}/media"` after `HOST = os.getenv("HOST")`).
            if !unset.is_empty() && p.split('/').any(|x| x == "None") {
                return unknown(
                    format!(
                        "built from an environment variable with no value in the container's environment ({}), and no default",
                        unset.join(", ")
                    ),
                    at.clone(),
                    p,
                );
            }
            let (path, how) = match c.container_of_host(value) {
                Some(cp) => {
                    let how = format!(
                        "{} in the checkout is {cp} in the {} container",
                        rel_to(value, &host_app.dir),
                        c.name()
                    );
                    (cp, Some(how))
                }
                None if under_checkout(value, host_app, c) => {
                    return unknown(
                        format!(
                            "{} is in the checkout, but nothing copies or mounts it into the {} container",
                            value.display(),
                            c.name()
                        ),
                        at.clone(),
                        p,
                    );
                }
                None => (p, None),
            };
            let place = c.locate(&path);
            ContainerPath {
                path: Setting::Known {
                    value: path,
                    at: at.clone(),
                },
                how,
                place: Some(place),
            }
        }
    }
}

fn under_checkout(p: &Path, host_app: &App, c: &Container) -> bool {
    p.starts_with(&host_app.dir)
        || c.service
            .build
            .as_ref()
            .is_some_and(|b| !b.remote && p.starts_with(&b.context))
}

fn rel_to(p: &Path, dir: &Path) -> String {
    match p.strip_prefix(dir.parent().unwrap_or(dir)) {
        Ok(r) => r.display().to_string(),
        Err(_) => p.display().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::mounts::{Deployment, Storage};
    use super::*;

    fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        for (p, t) in files {
            let p = d.path().join(p);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, t).unwrap();
        }
        d
    }

    const SETTINGS: &str = "import os\nfrom pathlib import Path\nBASE_DIR = Path(__file__).resolve().parent.parent\nSTATIC_URL = '/static/'\nSTATIC_ROOT = BASE_DIR / 'staticfiles'\nMEDIA_URL = '/media/'\nMEDIA_ROOT = os.environ.get('MEDIA_ROOT', BASE_DIR / 'mediafiles')\n";

    fn django(compose: &str) -> (tempfile::TempDir, ContainerApp) {
        let d = tree(&[
            ("app/manage.py", "import os\nos.environ.setdefault('DJANGO_SETTINGS_MODULE', 'hello_django.settings')\n"),
            ("app/hello_django/__init__.py", ""),
            ("app/hello_django/settings.py", SETTINGS),
            ("app/Dockerfile", "FROM python:3.11\nENV APP_HOME=/home/app/web\nWORKDIR $APP_HOME\nCOPY . $APP_HOME\nUSER app\n"),
            ("docker-compose.yml", compose),
        ]);
        let root = SysRoot::live();
        let dep = Deployment::find(&root, &[], d.path(), None).unwrap();
        let c = dep.app_container(&d.path().join("app")).unwrap();
        let host = App::new(Framework::Django, d.path().join("app"), "--app");
        let ca = read(&root, c, &host);
        (d, ca)
    }

    #[test]
    fn base_dir_becomes_the_container_path() {
        let (_d, ca) = django("services:\n  web:\n    build: ./app\n    command: gunicorn hello_django.wsgi\n    volumes:\n      - media:/home/app/web/mediafiles\nvolumes:\n  media:\n");
        assert_eq!(ca.service, "web");
        assert_eq!(
            ca.media_root.path.value().map(String::as_str),
            Some("/home/app/web/mediafiles")
        );
        let place = ca.media_root.place.as_ref().unwrap();
        assert_eq!(place.storage, Storage::Volume("media".into()));
        assert!(
            ca.media_root
                .how
                .as_deref()
                .unwrap()
                .contains("app/mediafiles"),
            "{:?}",
            ca.media_root.how
        );
        assert_eq!(
            ca.static_root.path.value().map(String::as_str),
            Some("/home/app/web/staticfiles")
        );
        assert_eq!(
            ca.static_root.place.as_ref().unwrap().storage,
            Storage::Layer
        );
        assert_eq!(ca.user.0, "app");
    }

    #[test]
    fn the_compose_environment_decides() {
        let (_d, ca) = django("services:\n  web:\n    build: ./app\n    environment:\n      MEDIA_ROOT: /vol/media\n    volumes:\n      - ./uploads:/vol/media\n");
        assert_eq!(
            ca.media_root.path.value().map(String::as_str),
            Some("/vol/media")
        );
        let place = ca.media_root.place.as_ref().unwrap();
        assert!(matches!(&place.storage, Storage::Bind(h) if h.ends_with("uploads")));
        assert!(
            ca.env_sources[0].starts_with("compose environment"),
            "{:?}",
            ca.env_sources
        );
    }
}
