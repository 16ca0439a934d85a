//! Paths through containers. For each service of a compose project: its mount table (a container
//! path → a named volume, a host directory, an anonymous volume, tmpfs, or the image's own
//! layer), the image its Dockerfile builds, and the map between checkout paths and container
//! paths (COPY, and bind mounts of the checkout). Two containers see the same file when their
//! paths resolve to the same storage and the same path inside it: that, not the path strings, is
//! what media-doctor compares.

use super::compose::{Command, Mount, MountSource, Project, Service};
use super::dockerfile::{clean, Dockerfile, Image};
use super::interpolate;
use crate::sysroot::SysRoot;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where a container path's data lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Storage {
    /// A named volume of the project (its key under `volumes:`).
    Volume(String),
    /// A host directory (system path).
    Bind(PathBuf),
    /// An anonymous volume: a new, empty one for each container created.
    Anonymous,
    /// Memory: gone when the container stops.
    Tmpfs,
    /// The container's writable layer over its image: gone when the container is recreated
    /// (every `docker compose up` after a new image, every `down`/`up`).
    Layer,
    /// The path depends on a variable no file sets.
    Unknown(Vec<String>),
}

impl Storage {
    /// Survives the container being recreated.
    pub fn persistent(&self) -> bool {
        matches!(self, Storage::Volume(_) | Storage::Bind(_))
    }
    pub fn describe(&self) -> String {
        match self {
            Storage::Volume(v) => format!("the named volume {v}"),
            Storage::Bind(h) => format!("the host directory {}", h.display()),
            Storage::Anonymous => "an anonymous volume (new for each container)".into(),
            Storage::Tmpfs => "a tmpfs (memory, gone when the container stops)".into(),
            Storage::Layer => {
                "the container's own writable layer (gone when the container is recreated)".into()
            }
            Storage::Unknown(v) => format!("unknown (it depends on ${{{}}})", v.join("}, ${")),
        }
    }
}

/// A container path resolved: the storage, the path inside it, and the mount that decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    pub path: String,
    pub storage: Storage,
    /// The path inside the storage (`uploads/2024` below a volume's root); "" for its root.
    pub sub: String,
    pub mount: Option<Mount>,
}

impl Place {
    /// True when both places are the same files: the same volume and sub-path, or the same host
    /// directory. An image layer, an anonymous volume or a tmpfs is never shared.
    pub fn same_files(&self, other: &Place) -> bool {
        match (&self.storage, &other.storage) {
            (Storage::Volume(a), Storage::Volume(b)) => a == b && self.sub == other.sub,
            (Storage::Bind(a), Storage::Bind(b)) => a.join(&self.sub) == b.join(&other.sub),
            _ => false,
        }
    }
    /// For messages: `/home/app/web/mediafiles (the named volume media_volume)`.
    pub fn describe(&self) -> String {
        let sub = if self.sub.is_empty() {
            String::new()
        } else {
            format!(", at {}", self.sub)
        };
        format!("{} ({}{sub})", self.path, self.storage.describe())
    }
}

/// The users a base image is known to have, with their uid and gid, from what fixes them: Debian's
/// base-passwd gives its system users static ids in every Debian and Ubuntu image (the official
/// python, node, nginx, httpd, php, ruby, golang images are Debian unless tagged alpine); Alpine's
/// base layout keeps a few; the official nginx image adds nginx (101:101), node adds node
/// (1000:1000), php's Alpine variant www-data (82:82). Another base: nothing is known.
pub fn base_passwd(base: &str) -> Vec<(&'static str, u32, u32)> {
    const DEBIAN: &[(&str, u32, u32)] = &[
        ("daemon", 1, 1),
        ("bin", 2, 2),
        ("sys", 3, 3),
        ("sync", 4, 65534),
        ("games", 5, 60),
        ("man", 6, 12),
        ("lp", 7, 7),
        ("mail", 8, 8),
        ("news", 9, 9),
        ("uucp", 10, 10),
        ("proxy", 13, 13),
        ("www-data", 33, 33),
        ("backup", 34, 34),
        ("list", 38, 38),
        ("irc", 39, 39),
        ("nobody", 65534, 65534),
    ];
    const ALPINE: &[(&str, u32, u32)] =
        &[("bin", 1, 1), ("daemon", 2, 2), ("nobody", 65534, 65534)];
    let last = base.rsplit('/').next().unwrap_or(base);
    let last = last.split('@').next().unwrap_or(last);
    let (name, tag) = last.split_once(':').unwrap_or((last, ""));
    let alpine = name == "alpine" || tag.contains("alpine");
    let official = !base.contains('/')
        || base.starts_with("library/")
        || base.starts_with("docker.io/library/");
    let debian_based = [
        "debian",
        "ubuntu",
        "python",
        "node",
        "nginx",
        "httpd",
        "php",
        "ruby",
        "golang",
        "buildpack-deps",
    ];
    let mut out: Vec<(&'static str, u32, u32)> = Vec::new();
    if !official {
        return out;
    }
    if alpine && (name == "alpine" || debian_based.contains(&name)) {
        out.extend_from_slice(ALPINE);
    } else if !alpine && debian_based.contains(&name) {
        out.extend_from_slice(DEBIAN);
    } else {
        return out;
    }
    match name {
        "nginx" => out.push(("nginx", 101, 101)),
        "node" => out.push(("node", 1000, 1000)),
        "php" if alpine => out.push(("www-data", 82, 82)),
        _ => {}
    }
    out
}

/// One service, as its containers see files.
#[derive(Debug, Clone)]
pub struct Container {
    pub service: Service,
    /// The image its Dockerfile builds (when it has `build:` and the Dockerfile was read).
    pub image: Option<Image>,
    /// The base image of the build, or `image:` when not built (`nginx:1.25`, `python:3.12`).
    pub base: Option<String>,
    /// Named volumes that are really host directories (local driver, `o: bind`).
    bind_devices: BTreeMap<String, PathBuf>,
}

/// A compose project with each service's container.
#[derive(Debug, Clone)]
pub struct Deployment {
    pub project: Project,
    pub containers: BTreeMap<String, Container>,
    /// What could not be read: the project's problems and each Dockerfile's.
    pub problems: Vec<String>,
}

/// Programs that serve a Python web app.
const APP_SERVERS: &[&str] = &[
    "gunicorn",
    "uwsgi",
    "uvicorn",
    "daphne",
    "hypercorn",
    "waitress-serve",
    "runserver",
    "granian",
];

impl Deployment {
    /// Reads `files` (merged in order) and each built service's Dockerfile.
    pub fn load(root: &SysRoot, files: &[PathBuf]) -> Option<Deployment> {
        let project = Project::load(root, files)?;
        let mut problems = project.problems.clone();
        let bind_devices: BTreeMap<String, PathBuf> = project
            .volumes
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), project.resolve(v.bind_device.as_deref()?))))
            .collect();
        let mut containers = BTreeMap::new();
        for (name, svc) in &project.services {
            let mut image = None;
            let mut base = svc.image.clone();
            if let Some(b) = &svc.build {
                if let Some(path) = &b.dockerfile {
                    let df = match Dockerfile::read(root, path) {
                        Ok(df) => Some(df),
                        Err(e) => {
                            problems.push(format!("service {name}: {e}"));
                            None
                        }
                    };
                    if let Some(df) = df {
                        match df.stage_index(b.target.as_deref()) {
                            Some(i) => {
                                let img = Image::build(root, &df, i, &b.context, &b.args);
                                problems.extend(img.problems.iter().cloned());
                                base = Some(img.base.clone());
                                image = Some(img);
                            }
                            None => problems.push(format!(
                                "service {name}: {} has no stage {}",
                                path.display(),
                                b.target.as_deref().unwrap_or("(no FROM)")
                            )),
                        }
                    }
                } else if let Some(text) = &b.dockerfile_inline {
                    let df = Dockerfile::parse(Path::new("dockerfile_inline"), text);
                    if let Some(i) = df.stage_index(b.target.as_deref()) {
                        let img = Image::build(root, &df, i, &b.context, &b.args);
                        base = Some(img.base.clone());
                        image = Some(img);
                    }
                }
            }
            containers.insert(
                name.clone(),
                Container {
                    service: svc.clone(),
                    image,
                    base,
                    bind_devices: bind_devices.clone(),
                },
            );
        }
        problems.dedup();
        Some(Deployment {
            project,
            containers,
            problems,
        })
    }

    /// The compose project for a repository run: `explicit` files (`--compose`) when given;
    /// otherwise, in `dir` and up to two parents, the compose file that runs `nginx_conf` (one of
    /// its services builds from or mounts it), else the default file (with its override).
    pub fn find(
        root: &SysRoot,
        explicit: &[PathBuf],
        dir: &Path,
        nginx_conf: Option<&Path>,
    ) -> Option<Deployment> {
        if !explicit.is_empty() {
            return Self::load(root, explicit);
        }
        for d in dir.ancestors().take(3) {
            let mut fallback = None;
            for candidate in Project::candidates(root, d) {
                let files = if Project::default_files(root, d).first() == Some(&candidate) {
                    Project::default_files(root, d)
                } else {
                    vec![candidate]
                };
                let Some(dep) = Self::load(root, &files) else {
                    continue;
                };
                if nginx_conf.is_some_and(|c| dep.nginx_using(c).is_some()) {
                    return Some(dep);
                }
                if files.len() > 1 || fallback.is_none() && is_default(&files[0]) {
                    fallback = Some(dep);
                }
            }
            if let Some(dep) = fallback {
                return Some(dep);
            }
        }
        None
    }

    /// The service that runs nginx with the config file `conf` (system path on the checkout):
    /// the one building from or mounting it, else the one service on an nginx image.
    pub fn nginx_container(&self, conf: Option<&Path>) -> Option<&Container> {
        if let Some(c) = conf.and_then(|c| self.nginx_using(c)) {
            return Some(c);
        }
        let nginx: Vec<&Container> = self.containers.values().filter(|c| c.is_nginx()).collect();
        match nginx.as_slice() {
            [one] => Some(one),
            _ => None,
        }
    }

    /// The service that runs nginx with the config file `conf`: it uses the file (builds from a
    /// context holding it or bind-mounts it) and runs an nginx image, or mounts the file under
    /// /etc/nginx. An app service whose build context is the whole repository holds the nginx
    /// config too, and is not nginx for that.
    pub fn nginx_using(&self, conf: &Path) -> Option<&Container> {
        self.containers.values().find(|c| {
            c.service.uses(conf) && (c.is_nginx() || c.service.mounts_under(conf, "/etc/nginx"))
        })
    }

    /// The build contexts where an app may be (`--app` names the repository, the app is in
    /// `services/web`): services that run an app server first, then the others; nginx's never.
    pub fn app_contexts(&self) -> Vec<(String, PathBuf)> {
        let mut v: Vec<(bool, String, PathBuf)> = self
            .containers
            .values()
            .filter(|c| !c.is_nginx())
            .filter_map(|c| {
                let b = c.service.build.as_ref().filter(|b| !b.remote)?;
                Some((
                    !c.runs_app_server(),
                    c.name().to_string(),
                    b.context.clone(),
                ))
            })
            .collect();
        v.sort();
        v.dedup_by(|a, b| a.2 == b.2);
        v.into_iter().map(|(_, n, p)| (n, p)).collect()
    }

    /// The service that runs the app in `app_dir` (system path): built from a context holding it
    /// (or bind-mounting it), preferring one that runs an app server (not a celery worker).
    pub fn app_container(&self, app_dir: &Path) -> Option<&Container> {
        let holds: Vec<&Container> = self
            .containers
            .values()
            .filter(|c| !c.is_nginx())
            .filter(|c| c.container_of_host(app_dir).is_some())
            .collect();
        holds
            .iter()
            .find(|c| c.runs_app_server())
            .or_else(|| holds.iter().find(|c| !c.runs_worker()))
            .or(holds.first())
            .copied()
    }
}

fn is_default(p: &Path) -> bool {
    p.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| super::compose::DEFAULT_FILES.contains(&n))
}

impl Container {
    pub fn name(&self) -> &str {
        &self.service.name
    }

    /// Runs the official nginx image (or one built on it).
    pub fn is_nginx(&self) -> bool {
        self.base.as_deref().is_some_and(|b| {
            let repo = b.rsplit('/').next().unwrap_or(b);
            repo.starts_with("nginx") || repo.starts_with("openresty")
        })
    }

    /// The command the container starts: compose `entrypoint`/`command` over the image's.
    pub fn start_commands(&self) -> Vec<Command> {
        let mut out = Vec::new();
        let entry = self.service.entrypoint.clone().or_else(|| {
            self.image
                .as_ref()
                .and_then(|i| i.entrypoint.clone().map(|e| e.0))
        });
        out.extend(entry);
        let cmd = self
            .service
            .command
            .clone()
            .or_else(|| self.image.as_ref().and_then(|i| i.cmd.clone().map(|e| e.0)));
        out.extend(cmd);
        out
    }

    /// The text of what runs at start, including the entrypoint/start scripts found in the build
    /// context (`/entrypoint` → `compose/production/django/entrypoint`).
    pub fn start_text(&self, root: &SysRoot) -> String {
        let mut text = String::new();
        for c in self.start_commands() {
            text.push_str(&c.text());
            text.push('\n');
            for w in c.words() {
                if !w.starts_with('/') && !w.starts_with("./") && !w.ends_with(".sh") {
                    continue;
                }
                let path = self.absolute(&w);
                if let Some(host) = self.host_of(&path) {
                    if let Ok(bytes) = crate::input::read(&root.host_path(&host)) {
                        if bytes.len() < 1 << 20 {
                            text.push_str(&String::from_utf8_lossy(&bytes));
                            text.push('\n');
                        }
                    }
                }
            }
        }
        text
    }

    fn runs_app_server(&self) -> bool {
        let text: String = self
            .start_commands()
            .iter()
            .map(|c| c.text())
            .collect::<Vec<_>>()
            .join(" ");
        APP_SERVERS.iter().any(|s| text.contains(s))
    }

    fn runs_worker(&self) -> bool {
        self.start_commands()
            .iter()
            .any(|c| c.text().contains("celery") || c.text().contains("rq worker"))
    }

    /// The working directory: compose `working_dir`, else the image's last WORKDIR.
    pub fn workdir(&self) -> String {
        self.service
            .working_dir
            .clone()
            .or_else(|| self.image.as_ref().map(|i| i.workdir.clone()))
            .unwrap_or_else(|| "/".into())
    }

    /// A container path, a relative one from the working directory.
    pub fn absolute(&self, p: &str) -> String {
        if p.starts_with('/') {
            clean(p)
        } else {
            clean(&format!("{}/{p}", self.workdir()))
        }
    }

    /// The user the container runs as, and where that is said: compose `user:`, the image's
    /// `USER`, else the base image's (root for the python and nginx images).
    pub fn user(&self) -> (String, String) {
        if let Some(u) = &self.service.user {
            return (
                super::dockerfile::owner_user(u),
                format!("user: in {}", self.service.at),
            );
        }
        if let Some((u, at)) = self.image.as_ref().and_then(|i| i.user.clone()) {
            return (super::dockerfile::owner_user(&u), format!("USER at {at}"));
        }
        (
            "root".into(),
            format!(
                "the base image's default ({})",
                self.base.as_deref().unwrap_or("no USER")
            ),
        )
    }

    /// The uid and gid the container's processes run as, when its files fix them: a numeric
    /// compose `user:` or `USER`, root, a user the build creates with `-u`/`--uid` (its gid:
    /// the numeric group of `user:`/`USER`, else taken to equal the uid, as `useradd` makes
    /// it), or a user the base image is known to have (`base_passwd`: Debian's static
    /// base-passwd users such as www-data 33, nobody; the official nginx image's nginx 101, the
    /// node image's node 1000). Otherwise `Err`, why it is unknown: a user the build creates
    /// without a uid gets the next free one of the base image's /etc/passwd, which no file here
    /// says. nginx images' workers run as their `nginx` user, uid 101, unless `user:` is set.
    pub fn ids(&self) -> Result<(u32, u32), String> {
        let spec = self.service.user.clone().or_else(|| {
            self.image
                .as_ref()
                .and_then(|i| i.user.clone().map(|u| u.0))
        });
        let Some(spec) = spec else {
            let official_nginx = self.base.as_deref().is_some_and(|b| {
                let repo = b.rsplit('/').next().unwrap_or(b);
                repo == "nginx" || repo.starts_with("nginx:") || repo.starts_with("nginx@")
            });
            return Ok(if official_nginx && self.is_nginx() {
                (101, 101)
            } else {
                (0, 0)
            });
        };
        let (user, group) = match spec.split_once(':') {
            Some((u, g)) => (u.trim(), Some(g.trim())),
            None => (spec.trim(), None),
        };
        let base = self.base.as_deref().unwrap_or("");
        let known = |name: &str| -> Option<(u32, u32)> {
            if name == "root" {
                return Some((0, 0));
            }
            if let Ok(n) = name.parse::<u32>() {
                return Some((n, n));
            }
            base_passwd(base)
                .iter()
                .find(|(n, _, _)| *n == name)
                .map(|&(_, u, g)| (u, g))
        };
        let (uid, gid) = match known(user) {
            // A user the build creates shadows nothing: its uid is the one given, or unknown.
            Some(ids) if !self.built_user(user) => ids,
            _ => match self
                .image
                .as_ref()
                .and_then(|i| i.users.iter().rev().find(|u| u.name == user))
            {
                Some(u) => match u.uid.as_deref().and_then(|n| n.parse::<u32>().ok()) {
                    Some(n) => (n, n),
                    None => {
                        return Err(format!(
                            "it runs as {user}, which `{}` at {} creates without a uid: it gets the next free uid of {}'s /etc/passwd, which no file here says (give it one: `{} --uid N {user}` or compose `user: \"N:N\"`)",
                            u.how,
                            u.at,
                            if base.is_empty() { "the base image" } else { base },
                            u.how
                        ))
                    }
                },
                None => {
                    return Err(format!(
                        "it runs as {user}, which the build does not create and {} is not known to have: its uid is in that image's /etc/passwd (give it one: compose `user: \"N:N\"`, or `adduser --uid N {user}` in the Dockerfile)",
                        if base.is_empty() { "the base image" } else { base }
                    ))
                }
            },
        };
        // A group by number, root, or the primary group of a known user of that name.
        let gid = match group {
            Some("root") => 0,
            Some(g) => g
                .parse::<u32>()
                .ok()
                .or_else(|| known(g).map(|(_, gid)| gid))
                .unwrap_or(gid),
            None => gid,
        };
        Ok((uid, gid))
    }

    /// Whether the build creates the user `name` (`useradd`/`adduser` in a RUN).
    fn built_user(&self, name: &str) -> bool {
        self.image
            .as_ref()
            .is_some_and(|i| i.users.iter().any(|u| u.name == name))
    }

    /// The mounts in effect, innermost last: compose volumes, and the image's `VOLUME`s that no
    /// compose mount covers (Docker gives those an anonymous volume).
    pub fn mounts(&self) -> Vec<Mount> {
        let mut out = self.service.volumes.clone();
        if let Some(img) = &self.image {
            for (v, at) in &img.volumes {
                if !out.iter().any(|m| clean(&m.target) == clean(v)) {
                    out.push(Mount {
                        source: MountSource::Anonymous,
                        target: v.clone(),
                        read_only: false,
                        subpath: None,
                        nocopy: false,
                        spec: format!("VOLUME {v}"),
                        at: at.clone(),
                    });
                }
            }
        }
        out
    }

    /// Where `path` (a container path) lives: the deepest mount containing it, else the layer.
    pub fn locate(&self, path: &str) -> Place {
        let p = clean(path);
        if interpolate::has_unset(path) {
            return Place {
                path: interpolate::display(path),
                storage: Storage::Unknown(interpolate::unset_names(path)),
                sub: String::new(),
                mount: None,
            };
        }
        let best = self
            .mounts()
            .into_iter()
            .filter(|m| !interpolate::has_unset(&m.target))
            .filter_map(|m| rel_below(&p, &clean(&m.target)).map(|rel| (rel, m)))
            .min_by_key(|(rel, _)| rel.len());
        match best {
            Some((rel, m)) => {
                let sub = match &m.subpath {
                    Some(s) if rel.is_empty() => s.trim_matches('/').to_string(),
                    Some(s) => format!("{}/{rel}", s.trim_matches('/')),
                    None => rel,
                };
                let storage = match &m.source {
                    MountSource::Volume(v) => match self.bind_devices.get(v) {
                        Some(dev) => Storage::Bind(dev.clone()),
                        None => Storage::Volume(v.clone()),
                    },
                    MountSource::Bind(h) if interpolate::has_unset(&h.display().to_string()) => {
                        Storage::Unknown(interpolate::unset_names(&h.display().to_string()))
                    }
                    MountSource::Bind(h) => Storage::Bind(h.clone()),
                    MountSource::Anonymous => Storage::Anonymous,
                    MountSource::Tmpfs => Storage::Tmpfs,
                    MountSource::Other(_) => Storage::Layer,
                };
                Place {
                    path: p,
                    storage,
                    sub,
                    mount: Some(m),
                }
            }
            None => Place {
                path: p,
                storage: Storage::Layer,
                sub: String::new(),
                mount: None,
            },
        }
    }

    /// The container path where a checkout path is seen: a bind mount of it first (it hides
    /// the image), else where the image's COPY put it.
    pub fn container_of_host(&self, host: &Path) -> Option<String> {
        for m in self.service.volumes.iter().rev() {
            if let MountSource::Bind(h) = &m.source {
                if let Ok(rel) = host.strip_prefix(h) {
                    return Some(join(&m.target, rel));
                }
            }
        }
        self.image.as_ref().and_then(|i| i.container_of(host))
    }

    /// The checkout path a container path comes from (bind mount, else COPY).
    pub fn host_of(&self, container: &str) -> Option<PathBuf> {
        let p = clean(container);
        let best = self
            .service
            .volumes
            .iter()
            .filter_map(|m| match &m.source {
                MountSource::Bind(h) => rel_below(&p, &clean(&m.target)).map(|rel| (rel, h)),
                _ => None,
            })
            .min_by_key(|(rel, _)| rel.len());
        if let Some((rel, h)) = best {
            return Some(if rel.is_empty() {
                h.clone()
            } else {
                h.join(rel)
            });
        }
        self.image.as_ref().and_then(|i| i.host_of(&p))
    }
}

/// `path` relative to `dir` when inside it ("" for `dir` itself).
fn rel_below(path: &str, dir: &str) -> Option<String> {
    if path == dir {
        return Some(String::new());
    }
    let d = dir.trim_end_matches('/');
    path.strip_prefix(d)
        .and_then(|r| r.strip_prefix('/'))
        .map(str::to_string)
}

fn join(target: &str, rel: &Path) -> String {
    if rel.as_os_str().is_empty() {
        clean(target)
    } else {
        clean(&format!("{}/{}", target, rel.display()))
    }
}

/// When `conf` (a checkout path, the `--nginx-conf` given) is a template that the official nginx
/// image renders when its container starts, the environment it is rendered with: the compose
/// project beside it runs nginx from an image that has the envsubst step (1.19 and later), and
/// that service sees `conf` in its template directory (`NGINX_ENVSUBST_TEMPLATE_DIR`, by default
/// /etc/nginx/templates) under the template suffix (`NGINX_ENVSUBST_TEMPLATE_SUFFIX`, by default
/// `.template`). Returns the service's name and its environment: compose `environment:` and
/// env files over the image's ENV; a variable without a known value is left out, so that it
/// stays unrendered, as envsubst leaves it.
pub fn nginx_template_env(
    root: &SysRoot,
    conf: &Path,
) -> Option<(String, BTreeMap<String, String>)> {
    let name = conf.file_name()?.to_str()?.to_string();
    let dep = Deployment::find(root, &[], conf.parent()?, Some(conf))?;
    let c = dep.nginx_container(Some(conf))?;
    let mut env: BTreeMap<String, String> = c
        .image
        .as_ref()
        .map(|i| {
            i.env
                .iter()
                .filter(|(_, (v, _))| !interpolate::has_unset(v))
                .map(|(k, (v, _))| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default();
    for (k, v) in &c.service.environment {
        match &v.value {
            Some(val) if !interpolate::has_unset(val) => {
                env.insert(k.clone(), val.clone());
            }
            _ => {
                env.remove(k);
            }
        }
    }
    let dir = env
        .get("NGINX_ENVSUBST_TEMPLATE_DIR")
        .map_or("/etc/nginx/templates", String::as_str);
    let suffix = env
        .get("NGINX_ENVSUBST_TEMPLATE_SUFFIX")
        .map_or(".template", String::as_str);
    let inside = c.container_of_host(conf)?;
    if !name.ends_with(suffix) || !rel_below(&inside, &clean(dir)).is_some_and(|r| !r.is_empty()) {
        return None;
    }
    Some((c.name().to_string(), env))
}

/// The official nginx image renders `/etc/nginx/templates/*.template` into `/etc/nginx/conf.d/`
/// at start with envsubst, substituting only the variables defined in the container's
/// environment (so nginx's own `$host`, `$uri` stay). `${VAR}` and `$VAR` are both replaced.
pub fn render_nginx_template(text: &str, env: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(text.len());
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'$' {
            let braced = b.get(i + 1) == Some(&b'{');
            let start = if braced { i + 2 } else { i + 1 };
            let mut j = start;
            while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
                j += 1;
            }
            let name = &text[start..j];
            let closed = !braced || b.get(j) == Some(&b'}');
            if !name.is_empty() && closed {
                if let Some(v) = env.get(name) {
                    out.push_str(v);
                    i = if braced { j + 1 } else { j };
                    continue;
                }
            }
        }
        let ch = text[i..].chars().next().unwrap_or('\0');
        out.push(ch);
        i += ch.len_utf8().max(1);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// django-on-docker (testdrivenio), reduced to what decides paths.
    fn django_on_docker(compose_extra: &str) -> (tempfile::TempDir, Deployment) {
        let d = tempfile::tempdir().unwrap();
        let w = |p: &str, t: &str| {
            let p = d.path().join(p);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, t).unwrap();
        };
        w("app/hello_django/settings.py", "");
        w("app/manage.py", "");
        w(
            "app/entrypoint.prod.sh",
            "#!/bin/sh\npython manage.py collectstatic --no-input\nexec \"$@\"\n",
        );
        w(
            "app/Dockerfile.prod",
            "FROM python:3.11 as builder\nWORKDIR /usr/src/app\nFROM python:3.11\nENV APP_HOME=/home/app/web\nRUN mkdir -p $APP_HOME/staticfiles $APP_HOME/mediafiles\nWORKDIR $APP_HOME\nCOPY ./entrypoint.prod.sh .\nCOPY . $APP_HOME\nRUN chown -R app:app $APP_HOME\nUSER app\nENTRYPOINT [\"/home/app/web/entrypoint.prod.sh\"]\n",
        );
        w("nginx/Dockerfile", "FROM nginx:1.25\nRUN rm /etc/nginx/conf.d/default.conf\nCOPY nginx.conf /etc/nginx/conf.d\n");
        w(
            "nginx/nginx.conf",
            "server { location /media/ { alias /home/app/web/mediafiles/; } }\n",
        );
        w(
            "docker-compose.prod.yml",
            &format!("services:\n  web:\n    build:\n      context: ./app\n      dockerfile: Dockerfile.prod\n    command: gunicorn hello_django.wsgi:application --bind 0.0.0.0:8000\n    volumes:\n      - static_volume:/home/app/web/staticfiles\n      - media_volume:/home/app/web/mediafiles\n  nginx:\n    build: ./nginx\n    volumes:\n      - static_volume:/home/app/web/staticfiles\n      - media_volume:/home/app/web/mediafiles\n{compose_extra}volumes:\n  static_volume:\n  media_volume:\n"),
        );
        w(
            "docker-compose.yml",
            "services:\n  web:\n    build: ./app\n    volumes:\n      - ./app/:/usr/src/app/\n",
        );
        let root = SysRoot::live();
        let dep = Deployment::find(
            &root,
            &[],
            d.path(),
            Some(&d.path().join("nginx/nginx.conf")),
        )
        .unwrap();
        (d, dep)
    }

    #[test]
    fn finds_the_file_that_runs_the_nginx_config() {
        let (d, dep) = django_on_docker("");
        assert_eq!(
            dep.project.files,
            vec![d.path().join("docker-compose.prod.yml")]
        );
        let nginx = dep
            .nginx_container(Some(&d.path().join("nginx/nginx.conf")))
            .unwrap();
        assert_eq!(nginx.name(), "nginx");
        assert!(nginx.is_nginx());
        let web = dep.app_container(&d.path().join("app")).unwrap();
        assert_eq!(web.name(), "web");
        assert_eq!(web.user().0, "app");
        assert_eq!(web.workdir(), "/home/app/web");
        assert!(web.start_text(&SysRoot::live()).contains("collectstatic"));
    }

    #[test]
    fn same_volume_same_files_whatever_the_paths() {
        let (d, dep) = django_on_docker("");
        let web = &dep.containers["web"];
        let nginx = &dep.containers["nginx"];
        let media = web
            .container_of_host(&d.path().join("app/mediafiles"))
            .unwrap();
        assert_eq!(media, "/home/app/web/mediafiles");
        let a = web.locate(&media);
        assert_eq!(a.storage, Storage::Volume("media_volume".into()));
        let b = nginx.locate("/home/app/web/mediafiles/x.jpg");
        assert_eq!(b.sub, "x.jpg");
        assert!(!a.same_files(&b));
        assert!(a.same_files(&nginx.locate("/home/app/web/mediafiles/")));
        // Not mounted in nginx: its own layer, never the app's files.
        let c = nginx.locate("/srv/media");
        assert_eq!(c.storage, Storage::Layer);
        assert!(!c.same_files(&c.clone()));
        assert_eq!(web.locate("/tmp/x").storage, Storage::Layer);
    }

    #[test]
    fn subpaths_binds_and_devices() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join("compose.yaml"),
            "services:\n  a:\n    image: python:3\n    volumes:\n      - ./data:/data\n      - type: volume\n        source: v\n        target: /m\n        volume: {subpath: media}\n      - dev:/d\n  b:\n    image: nginx\n    volumes:\n      - v:/srv\n      - ${HOST_DIR}:/h\nvolumes:\n  v: {}\n  dev:\n    driver: local\n    driver_opts: {type: none, o: bind, device: ./data}\n",
        )
        .unwrap();
        let dep = Deployment::find(&SysRoot::live(), &[], d.path(), None).unwrap();
        let (a, b) = (&dep.containers["a"], &dep.containers["b"]);
        assert!(a.locate("/m/x").same_files(&b.locate("/srv/media/x")));
        assert!(a.locate("/data/x").same_files(&a.locate("/d/x")));
        assert_eq!(a.host_of("/data/x"), Some(d.path().join("data/x")));
        assert_eq!(
            b.locate("/h/x").storage,
            Storage::Unknown(vec!["HOST_DIR".into()])
        );
        assert!(b.is_nginx());
        assert_eq!(dep.nginx_container(None).unwrap().name(), "b");
        assert_eq!(a.user().0, "root");
    }

    /// The uid a container runs as, from its Dockerfile (`FROM` + `RUN` + `USER`) and compose.
    fn ids_of(dockerfile: &str, compose_user: &str) -> Result<(u32, u32), String> {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("Dockerfile"), dockerfile).unwrap();
        std::fs::write(
            d.path().join("compose.yaml"),
            format!("services:\n  web:\n    build: .\n{compose_user}"),
        )
        .unwrap();
        let dep = Deployment::find(&SysRoot::live(), &[], d.path(), None).unwrap();
        dep.containers["web"].ids()
    }

    #[test]
    fn a_user_by_name_has_the_uid_the_build_or_the_base_image_gives_it() {
        // Created with a uid.
        assert_eq!(
            ids_of(
                "FROM python:3.12-slim\nRUN useradd -u 1001 app\nUSER app\n",
                ""
            ),
            Ok((1001, 1001))
        );
        // The base image's static users: Debian's base-passwd, Alpine's, the image's own.
        assert_eq!(
            ids_of("FROM python:3.12-slim\nUSER www-data\n", ""),
            Ok((33, 33))
        );
        assert_eq!(
            ids_of("FROM python:3.12-slim\nUSER nobody\n", ""),
            Ok((65534, 65534))
        );
        assert_eq!(ids_of("FROM node:20\nUSER node\n", ""), Ok((1000, 1000)));
        assert_eq!(
            ids_of("FROM python:3.12\n", "    user: \"www-data:root\"\n"),
            Ok((33, 0))
        );
        // Alpine has no www-data of its own (php's Alpine image adds 82).
        let why = ids_of("FROM python:3.12-alpine\nUSER www-data\n", "").unwrap_err();
        assert!(
            why.contains("python:3.12-alpine is not known to have"),
            "{why}"
        );
        assert_eq!(
            ids_of("FROM php:8-fpm-alpine\nUSER www-data\n", ""),
            Ok((82, 82))
        );
        // Created without a uid: the next free one of the base image's passwd. Unknown, said.
        let why = ids_of(
            "FROM python:3.12-slim\nRUN addgroup --system app && adduser --system --ingroup app app\nUSER app\n",
            "",
        )
        .unwrap_err();
        assert!(
            why.contains("which `adduser` at ")
                && why.contains("Dockerfile:2 creates without a uid")
                && why.contains("python:3.12-slim's /etc/passwd"),
            "{why}"
        );
        // A user the build creates again without a uid: its own, unknown, not the base's.
        assert!(ids_of(
            "FROM debian:12\nRUN useradd -m www-data || true\nUSER www-data\n",
            ""
        )
        .unwrap_err()
        .contains("creates without a uid"));
        // A base image nothing is known about.
        assert!(ids_of("FROM myorg/base:1\nUSER www-data\n", "")
            .unwrap_err()
            .contains("myorg/base:1 is not known to have"));
    }

    #[test]
    fn nginx_templates_substitute_only_defined_variables() {
        let env: BTreeMap<String, String> = [
            ("NGINX_HOST".to_string(), "example.com".to_string()),
            ("MEDIA".into(), "/srv/media".into()),
        ]
        .into();
        let out = render_nginx_template(
            "server_name ${NGINX_HOST};\nlocation /m/ { alias $MEDIA/; try_files $uri =404; }\n${UNSET} é\n",
            &env,
        );
        assert_eq!(
            out,
            "server_name example.com;\nlocation /m/ { alias /srv/media/; try_files $uri =404; }\n${UNSET} é\n"
        );
    }
}
