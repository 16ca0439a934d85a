//! The containers of a run: the compose project found for the app (or named with `--compose`),
//! which service runs the app and which runs nginx, and the app's settings in its container.
//! Built once per run, on first use, by `Site::containers`.

use super::app::{self as capp, ContainerApp};
use super::judge::View;
use super::mounts::{Container, Deployment};
use crate::app::App;
use crate::sysroot::SysRoot;
use serde_json::json;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct Containers {
    pub deployment: Deployment,
    pub app_service: String,
    pub nginx_service: Option<String>,
    pub app: ContainerApp,
    /// How the compose files were chosen.
    pub found_by: String,
}

/// Why a run has no containers (said in the report when a compose file was there).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotContainers {
    /// No compose file beside the app (the normal case off Docker): nothing to say.
    NoCompose,
    /// A compose project, but no service runs this app.
    NoAppService(String),
}

impl Containers {
    /// The compose project of `app` (`compose`: the `--compose` files, else found beside the
    /// app, preferring the file whose services run `nginx_conf`).
    pub fn gather(
        root: &SysRoot,
        compose: &[PathBuf],
        app: &App,
        nginx_conf: Option<&Path>,
    ) -> Result<Containers, NotContainers> {
        let dep = Deployment::find(root, compose, &app.dir, nginx_conf)
            .ok_or(NotContainers::NoCompose)?;
        let found_by = if compose.is_empty() {
            format!(
                "{} (beside the app{})",
                files_text(&dep),
                if nginx_conf.is_some_and(|c| dep.nginx_using(c).is_some()) {
                    "; it runs the nginx config given"
                } else {
                    ""
                }
            )
        } else {
            format!("{} (--compose)", files_text(&dep))
        };
        let Some(app_c) = dep.app_container(&app.dir) else {
            return Err(NotContainers::NoAppService(format!(
                "{found_by}: no service builds from or mounts {}",
                app.dir.display()
            )));
        };
        let app_service = app_c.name().to_string();
        let nginx_service = dep
            .nginx_container(nginx_conf)
            .map(|c| c.name().to_string());
        let capp = capp::read(root, app_c, app);
        Ok(Containers {
            app_service,
            nginx_service,
            app: capp,
            found_by,
            deployment: dep,
        })
    }

    pub fn app_container(&self) -> &Container {
        &self.deployment.containers[&self.app_service]
    }

    pub fn nginx_container(&self) -> Option<&Container> {
        self.nginx_service
            .as_ref()
            .and_then(|n| self.deployment.containers.get(n))
    }

    pub fn view(&self) -> View<'_> {
        View {
            dep: &self.deployment,
            app: &self.app,
            app_c: self.app_container(),
            nginx_c: self.nginx_container(),
        }
    }

    /// The JSON `site.containers` object: the files, the two services, each service's mounts
    /// and where MEDIA_ROOT/STATIC_ROOT are (no environment values: they may be secrets).
    pub fn to_json(&self) -> serde_json::Value {
        let services: serde_json::Map<String, serde_json::Value> = self
            .deployment
            .containers
            .values()
            .map(|c| {
                let mounts: Vec<_> = c
                    .mounts()
                    .iter()
                    .map(|m| {
                        let p = c.locate(&m.target);
                        json!({
                            "target": m.target,
                            "storage": p.storage.describe(),
                            "read_only": m.read_only,
                            "at": m.at.to_string(),
                        })
                    })
                    .collect();
                (
                    c.name().to_string(),
                    json!({
                        "image": c.base,
                        "built": c.image.is_some(),
                        "user": c.user().0,
                        "workdir": c.workdir(),
                        "mounts": mounts,
                    }),
                )
            })
            .collect();
        let path = |cp: &super::app::ContainerPath| {
            json!({
                "path": cp.path.value(),
                "storage": cp.place.as_ref().map(|p| p.storage.describe()),
                "how": cp.how,
                "unknown": match &cp.path {
                    crate::app::Setting::Unknown { why, .. } => Some(why.clone()),
                    _ => None,
                },
            })
        };
        json!({
            "files": self.deployment.project.files,
            "found_by": self.found_by,
            "app_service": self.app_service,
            "nginx_service": self.nginx_service,
            "media_root": path(&self.app.media_root),
            "static_root": path(&self.app.static_root),
            "env_sources": self.app.env_sources,
            "services": services,
            "problems": self.deployment.problems,
        })
    }
}

fn files_text(dep: &Deployment) -> String {
    dep.project
        .files
        .iter()
        .map(|f| f.display().to_string())
        .collect::<Vec<_>>()
        .join(" + ")
}
