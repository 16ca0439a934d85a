//! Finding the app: its project directory, framework, systemd unit, user, environment; then
//! reading its settings. Every step records what it looked at, so "no app found" says where.
//!
//! Order: `--app` (or the profile's `app`), the unit `NAME.service` (`--chdir`, then
//! `WorkingDirectory=`), `/var/www/NAME`, `/srv/NAME`, `/opt/NAME`; without a name, the one unit
//! that runs an app server, the directories nginx serves (a project holds its `media/`), and the
//! one project under /var/www, /srv or /opt.

use super::env::{dotenv_candidates, Env};
use super::python::Module;
use super::running::RunningApp;
use super::server::ServerKind;
use super::systemd::{self, Unit};
use super::{App, Framework, Setting};
use crate::sysroot::SysRoot;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What the user (options, profile) and the nginx config tell about the app.
#[derive(Debug, Clone, Default)]
pub struct Hints {
    /// `--app` or the profile's `app`: the project directory or a settings/app file (system path).
    pub app: Option<PathBuf>,
    /// Where `app` came from (`--app`, `profile /etc/media-doctor/x.toml`).
    pub app_from: String,
    pub framework: Option<Framework>,
    pub name: Option<String>,
    /// The profile's `unit`.
    pub unit: Option<String>,
    /// The profile's `settings_module` (Django).
    pub settings_module: Option<String>,
    /// The profile's `app_user`.
    pub app_user: Option<String>,
    /// Directories the site's nginx config serves (root/alias arguments): the first
    /// `MAX_SERVED_HINTS` of them, the search looks near no more (`nginx_dir_count` says how
    /// many there are).
    pub nginx_dirs: Vec<PathBuf>,
    /// How many directories the config serves, when there are more than `nginx_dirs` holds (one
    /// site of 360,000 servers held a path each, ~60 bytes, for the search to read 64).
    pub nginx_dir_count: usize,
    /// `--eval`: run the app's interpreter to print the settings.
    pub eval: bool,
    /// Where the site's server blocks hand requests (proxy_pass, uwsgi_pass, ...): the app is
    /// the process listening there.
    pub upstreams: Vec<super::running::Upstream>,
    /// The nginx config was named (`--nginx-conf`, `--nginx-dump`): an app is taken only from
    /// what that config points at, never from elsewhere on the machine.
    pub config_given: bool,
    /// The box's listening sockets, read once for every site (None: read them when needed).
    pub listeners: Option<std::sync::Arc<super::running::Listeners>>,
    /// The directories every site's search looks in, listed once for every site of the box
    /// (None: look at each path).
    pub listings: Option<std::sync::Arc<Listings>>,
}

/// The directories the search looks in for every site by its name (/var/www, /srv, /opt, the
/// homes, the systemd unit directories), each listed once for the sites of a box: a site's
/// `/var/www/NAME`, `/srv/NAME`, `NAME.service` ... that its directory does not list is known to
/// be missing without asking (a 10,000-site box asked ~30 missing paths per site). The
/// directories are taken as they were at the first look, as `fs::walk` takes the ancestors the
/// sites share. Only for a view this machine's paths lead to directly (no mounts of another
/// namespace to map each path through).
#[derive(Debug, Default)]
pub struct Listings {
    /// By system path and how it is looked up: the names in the directory the path leads to,
    /// `Some(empty)` when it is missing or not a directory (nothing below it exists), `None`
    /// when it could not be read (then each path below it is looked at).
    dirs: std::sync::Mutex<std::collections::HashMap<(PathBuf, Lookup), Option<Names>>>,
    /// `list_dirs(/home)`.
    homes: std::sync::OnceLock<Vec<PathBuf>>,
}

/// The names in a directory.
type Names = std::sync::Arc<std::collections::HashSet<std::ffi::OsString>>;

/// How a directory of `Listings` is read: `real` resolves its system path inside the root (as
/// `SysRoot::real_path` does before a project is looked for there), else the host path's own
/// symlinks are left to the kernel (as `Unit::load` reads the unit directories).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Lookup {
    Real,
    Host,
}

impl Listings {
    /// Whether `dir/name` is known to be missing: `dir`'s listing (read once) lacks `name`, so
    /// an lstat of it would fail (ENOENT, or ENOTDIR below a file). False when that cannot be
    /// told from the listing: `dir` unreadable, `name` not one plain component, a view with
    /// mounts.
    fn lacks(&self, root: &SysRoot, dir: &Path, name: &std::ffi::OsStr, how: Lookup) -> bool {
        let mut parts = Path::new(name).components();
        let plain = matches!(
            (parts.next(), parts.next()),
            (Some(std::path::Component::Normal(n)), None) if n == name
        );
        if !plain || root.mounts().is_some() {
            return false;
        }
        let listing = {
            let mut dirs = self.dirs.lock().unwrap_or_else(|p| p.into_inner());
            dirs.entry((dir.to_path_buf(), how))
                .or_insert_with(|| list(root, dir, how))
                .clone()
        };
        listing.is_some_and(|names| !names.contains(name))
    }
}

/// The names in `dir` (see `Listings::dirs`).
fn list(root: &SysRoot, dir: &Path, how: Lookup) -> Option<Names> {
    let host = match how {
        Lookup::Real => match root.real_path(dir) {
            Ok(real) => root.host_path(&real),
            Err(_) => return None,
        },
        Lookup::Host => root.host_path(dir),
    };
    let names = match std::fs::read_dir(&host) {
        Ok(rd) => rd
            .map(|e| e.map(|e| e.file_name()))
            .collect::<std::io::Result<_>>()
            .ok()?,
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) => {
            Default::default()
        }
        Err(_) => return None,
    };
    Some(std::sync::Arc::new(names))
}

/// The result of discovery: the app (when found) and what was looked at.
#[derive(Debug, Default)]
pub struct Discovery {
    pub app: Option<App>,
    pub tried: Vec<String>,
    /// Candidate directories this user could not read (`DIR (Permission denied)`): where the
    /// project may be, unseen. "No project" would be a guess; MD301 says what needs root.
    pub unreadable: Vec<String>,
}

/// Directory names that never hold the project (virtualenvs, assets, VCS).
const SKIP_DIRS: &[&str] = &[
    "venv",
    ".venv",
    "env",
    ".env",
    "node_modules",
    ".git",
    "static",
    "media",
    "staticfiles",
    "templates",
    "__pycache__",
    "site-packages",
    "logs",
    "uploads",
];

/// How many served directories the search looks near (see `discover`).
pub const MAX_SERVED_HINTS: usize = 64;

pub fn discover(root: &SysRoot, hints: &Hints) -> Discovery {
    let mut d = Discovery::default();
    let mut unit: Option<Unit> = None;
    let mut unit_names: Vec<String> = Vec::new();
    if let Some(u) = &hints.unit {
        unit_names.push(if u.ends_with(".service") {
            u.clone()
        } else {
            format!("{u}.service")
        });
    }
    if let Some(n) = &hints.name {
        unit_names.push(format!("{n}.service"));
    }
    let unit_missing = |name: &str| {
        hints.listings.as_ref().is_some_and(|l| {
            systemd::UNIT_DIRS
                .iter()
                .all(|d| l.lacks(root, Path::new(d), name.as_ref(), Lookup::Host))
        })
    };
    for name in unit_names {
        let loaded = match unit_missing(&name) {
            true => Ok(None),
            false => Unit::load(root, &name),
        };
        match loaded {
            Ok(Some(u)) => {
                d.tried
                    .push(format!("unit {name}: found at {}", u.path.display()));
                unit = Some(u);
                break;
            }
            Ok(None) => d.tried.push(format!("unit {name}: not found (or masked)")),
            Err(e) => d.tried.push(format!("unit {name}: {e:#}")),
        }
    }

    // Candidate directories, with how each was found. Ancestors of served directories are only
    // checked themselves: looking below /srv from /srv/a/media could find another site's project.
    let mut candidates: Vec<(PathBuf, String)> = Vec::new();
    let mut shallow: std::collections::HashSet<PathBuf> = std::collections::HashSet::new();
    if let Some(p) = &hints.app {
        candidates.push((p.clone(), hints.app_from.clone()));
    }
    // The process the server blocks hand requests to: the most direct evidence there is.
    let mut running: Option<(PathBuf, RunningApp)> = None;
    if hints.app.is_none() {
        let search = super::running::find(root, &hints.upstreams, hints.listeners.as_deref());
        d.tried.extend(search.tried);
        if let Some(r) = search.app {
            if unit.is_none() {
                if let Some(name) = &r.unit {
                    if let Ok(Some(u)) = Unit::load(root, name) {
                        unit = Some(u);
                    }
                }
            }
            // In a mount namespace of its own (a container): its paths are that namespace's.
            // Read the app there, as it sees its files, and bring its paths to this machine.
            // nginx in a container of its own too (`root` is its view): the app's paths come
            // to this machine, then into nginx's view through nginx's mounts.
            let apart = match root.process() {
                None => root.is_live(),
                Some(n) => !crate::sysroot::mounts::same_namespace(n, r.pid),
            };
            if apart {
                let view = SysRoot::of_process(r.pid);
                // The app on this machine, nginx in a container: read here, its paths taken
                // into nginx's view.
                let here = view.mounts().is_none() && root.process().is_some();
                let view = if here { SysRoot::live() } else { view };
                if view.mounts().is_some() || here {
                    if let Some(dir) = process_dir(&r) {
                        let mut h = hints.clone();
                        h.app = Some(dir.clone());
                        h.app_from = if here {
                            format!(
                                "{}, on this machine (nginx in a mount namespace of its own): its directory {}",
                                r.describe(),
                                dir.display()
                            )
                        } else {
                            format!(
                                "{}, in a mount namespace of its own: its directory {} there",
                                r.describe(),
                                dir.display()
                            )
                        };
                        h.upstreams = Vec::new();
                        h.listeners = None;
                        h.listings = None;
                        h.nginx_dirs = Vec::new();
                        h.nginx_dir_count = 0;
                        let mut inner = discover(&view, &h);
                        d.tried.append(&mut inner.tried);
                        d.unreadable.append(&mut inner.unreadable);
                        if let Some(mut app) = inner.app {
                            to_host(&mut app, &view, r.pid);
                            if let Some(m) = root.mounts() {
                                into_server_view(&mut app, m);
                            }
                            // Its uid, by this machine's name for it (the files are judged
                            // by number on this machine).
                            if app.user.is_none() {
                                if let Some(uid) = r.uid {
                                    app.user = Some(
                                        super::running::user_name(root, uid)
                                            .unwrap_or_else(|| uid.to_string()),
                                    );
                                    app.user_source =
                                        Some(format!("the running process (pid {})", r.pid));
                                }
                            }
                            app.running = Some(r);
                            d.app = Some(app);
                            return d;
                        }
                    }
                }
            }
            // In a container its directory is a path of the container: say so, and look at
            // the host directory a bind mount shows there (docker inspect, on this machine).
            if r.container.is_some() {
                if let Some(c) = crate::system::container::of_pid(root, r.pid) {
                    let mut note = format!(
                        "pid {} runs in {}: its paths are the container's",
                        r.pid,
                        c.describe()
                    );
                    if let Some(cmd) = c.check_command() {
                        note.push_str(&format!(
                            "; check its compose project, which maps them: {cmd}"
                        ));
                    }
                    d.tried.push(note);
                    if let Some(host) =
                        process_dir(&r).and_then(|dir| c.host_path(&dir.display().to_string()))
                    {
                        candidates.push((
                            host,
                            format!("{}, its directory bind-mounted from here", r.describe()),
                        ));
                    }
                }
            }
            if let Some(dir) = process_dir(&r) {
                candidates.push((dir.clone(), r.describe()));
                running = Some((dir, r));
            }
        }
    }
    if let Some(u) = &unit {
        if let Some(dir) = unit_dir(root, u) {
            candidates.push((dir, format!("systemd unit {}", u.name)));
        }
    }
    // Candidates known to be missing (see `Listings`): no project there, nothing denied.
    let mut missing: std::collections::HashSet<PathBuf> = std::collections::HashSet::new();
    let lacks = |dir: &Path, name: &str| {
        hints
            .listings
            .as_ref()
            .is_some_and(|l| l.lacks(root, dir, name.as_ref(), Lookup::Real))
    };
    if let Some(n) = &hints.name {
        for base in ["/var/www", "/srv", "/opt"] {
            let dir = Path::new(base).join(n);
            if lacks(Path::new(base), n) {
                missing.insert(dir.clone());
            }
            candidates.push((dir, format!("{base}/{n} (named by --site)")));
        }
        // /home/deploy/blog: a project in a user's home, users in name order.
        let homes = match &hints.listings {
            Some(l) => l
                .homes
                .get_or_init(|| list_dirs(root, Path::new("/home")))
                .clone(),
            None => list_dirs(root, Path::new("/home")),
        };
        for home in homes {
            let dir = home.join(n);
            if !lacks(&home, n) && root.is_dir(&dir) {
                let how = format!("{} (named by --site)", dir.display());
                candidates.push((dir, how));
            }
        }
    }
    // With a named config, the app is what that config points at: no machine-wide search.
    if hints.app.is_none() && unit.is_none() && !hints.config_given {
        let servers = app_server_units(root);
        let chosen: Vec<&Unit> = match &hints.name {
            Some(n) => servers
                .iter()
                .filter(|u| {
                    unit_dir(root, u).is_some_and(|dir| dir.iter().any(|c| c == n.as_str()))
                })
                .collect(),
            None => servers.iter().collect(),
        };
        match chosen.as_slice() {
            [one] => {
                if let Some(dir) = unit_dir(root, one) {
                    candidates.push((dir, format!("systemd unit {} (the only app server unit)", one.name)));
                }
            }
            [] => d.tried.push("systemd units: none runs gunicorn/uwsgi/uvicorn/waitress".into()),
            many => d.tried.push(format!(
                "systemd units: several run an app server ({}); name one with --site or the profile's `unit`",
                many.iter().map(|u| u.name.as_str()).collect::<Vec<_>>().join(", ")
            )),
        }
        // A config with hundreds of thousands of sites gives as many directories; the project
        // is looked for near the first few (each costs a handful of stats), and the search says
        // so: with that many sites, --site or --app names the one meant.
        let served = hints.nginx_dir_count.max(hints.nginx_dirs.len());
        if served > MAX_SERVED_HINTS {
            d.tried.push(format!(
                "served directories: looked near the first {MAX_SERVED_HINTS} of {served}; name \
                 the site with --site or the app with --app"
            ));
        }
        for dir in hints.nginx_dirs.iter().take(MAX_SERVED_HINTS) {
            for anc in dir.ancestors().skip(1).take(3) {
                if anc == Path::new("/") {
                    break;
                }
                candidates.push((
                    anc.to_path_buf(),
                    format!("parent of {} (served by nginx)", dir.display()),
                ));
                shallow.insert(anc.to_path_buf());
            }
        }
        if hints.name.is_none() {
            let mut found = Vec::new();
            for base in ["/var/www", "/srv", "/opt"] {
                for sub in list_dirs(root, Path::new(base)) {
                    if find_project(root, &sub, hints.framework).is_some() {
                        found.push(sub);
                    }
                }
            }
            if found.len() == 1 {
                let p = found.remove(0);
                let how = format!(
                    "{} (the only project under /var/www, /srv, /opt)",
                    p.display()
                );
                candidates.push((p, how));
            } else if found.len() > 1 {
                d.tried.push(format!(
                    "several projects under /var/www, /srv, /opt ({}); name one with --site or --app",
                    found.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
                ));
            }
        }
    }

    let mut seen: std::collections::HashSet<PathBuf> = std::collections::HashSet::new();
    candidates.retain(|(dir, _)| seen.insert(dir.clone()));
    let mut chosen = None;
    for (dir, how) in candidates {
        if missing.contains(&dir) {
            d.tried.push(format!(
                "{}: no Django or Flask project ({how})",
                dir.display()
            ));
            continue;
        }
        let found = if shallow.contains(&dir) {
            project_here(root, &dir, hints.framework)
        } else {
            find_project(root, &dir, hints.framework)
        };
        match found {
            Some(found) => {
                d.tried.push(format!(
                    "{}: {} project ({how})",
                    found.dir.display(),
                    found.framework
                ));
                chosen = Some((found, how));
                break;
            }
            None => match denied(root, &dir) {
                Some(e) => {
                    let e = crate::text_safe::io_error(&e);
                    d.unreadable.push(format!("{} ({e})", dir.display()));
                    d.tried
                        .push(format!("{}: cannot be read ({e}; {how})", dir.display()));
                }
                None => d.tried.push(format!(
                    "{}: no Django or Flask project ({how})",
                    dir.display()
                )),
            },
        }
    }
    let Some((found, how)) = chosen else {
        return d;
    };
    if unit.is_none() {
        unit = app_server_units(root).into_iter().find(|u| {
            unit_dir(root, u).is_some_and(|ud| {
                let a = root.real_path(&ud).unwrap_or(ud);
                let b = root.real_path(&found.dir).unwrap_or(found.dir.clone());
                a.starts_with(&b) || b.starts_with(&a)
            })
        });
        if let Some(u) = &unit {
            d.tried
                .push(format!("unit {}: runs the app (same directory)", u.name));
        }
    }
    // The running process counts only when it is the project chosen (not an --app elsewhere).
    let running = running
        .filter(|(dir, _)| found.dir.starts_with(dir) || dir.starts_with(&found.dir))
        .map(|(_, r)| r);
    let mut app = App::new(found.framework, found.dir.clone(), how);
    let env = apply_unit(root, &mut app, unit, running.as_ref(), hints);
    app.running = running;
    match found.framework {
        Framework::Django => super::django::read(root, &mut app, &found, hints, &env),
        Framework::Flask => super::flask::read(root, &mut app, &found, &env),
    }
    if hints.eval {
        super::eval::run(root, &mut app, &found, &env);
    }
    d.app = Some(app);
    d
}

/// An app read in the view of its process's mount namespace (`view`: /proc/PID/root), its paths
/// brought to this machine: each at the host path behind the mount that holds it. MEDIA_ROOT or
/// STATIC_ROOT on no mount this machine has (a tmpfs of the container's) is unknown, and why;
/// the project's own paths stay as they are there when they are not on this machine, listed in
/// `app.unseen` with why: at that path this machine has another file or none.
fn to_host(app: &mut App, view: &SysRoot, pid: i32) {
    use crate::sysroot::mounts::Place;
    let mut unseen: Vec<super::Unseen> = Vec::new();
    let mut host = |what: &'static str, p: &Path| match view.place(p) {
        Some(Place::Host { path, .. }) => path,
        Some(Place::Inside { why, .. }) => {
            if !unseen.iter().any(|u| u.path == p) {
                unseen.push(super::Unseen {
                    what,
                    path: p.to_path_buf(),
                    why: format!(
                        "{what} {} is only inside the app's mount namespace (pid {pid}), on no \
                         mount of this machine ({why}): at that path this machine has another \
                         file or none",
                        p.display()
                    ),
                });
            }
            p.to_path_buf()
        }
        None => p.to_path_buf(),
    };
    app.dir = host("project directory", &app.dir);
    app.cwd = host("working directory", &app.cwd);
    app.settings_files = app
        .settings_files
        .iter()
        .map(|p| host("settings file", p))
        .collect();
    app.static_sources = app
        .static_sources
        .iter()
        .map(|p| host("static source", p))
        .collect();
    app.unseen = unseen;
    let mut ns = super::AppNamespace {
        pid,
        media_root: None,
        static_root: None,
    };
    for (s, seen) in [
        (&mut app.media_root, &mut ns.media_root),
        (&mut app.static_root, &mut ns.static_root),
    ] {
        let Setting::Known { value, at } = s else {
            continue;
        };
        match view.place(value) {
            Some(Place::Host { path, .. }) => {
                *seen = Some(super::NsPath {
                    inside: value.clone(),
                    host: path.clone(),
                    server: Some(path.clone()),
                });
                *value = path
            }
            Some(Place::Inside { why, .. }) => {
                *s = Setting::Unknown {
                    expr: value.display().to_string(),
                    at: at.clone(),
                    why: format!(
                        "{} is only inside the app's mount namespace (pid {pid}), on no mount of this machine: {why}",
                        value.display()
                    ),
                }
            }
            // Read on this machine: the path is the host path.
            None => {
                *seen = Some(super::NsPath {
                    inside: value.clone(),
                    host: value.clone(),
                    server: Some(value.clone()),
                })
            }
        }
    }
    app.namespace = Some(ns);
}

/// The app's host paths (`to_host`) in the view of the server judged, itself in a mount
/// namespace of its own (`m`: its mounts): each at the server's path for the same storage.
/// MEDIA_ROOT or STATIC_ROOT on storage the server's mounts do not show is unknown there: the
/// server cannot open it (MD302/MD304 say so, with both host paths). The app's directory,
/// settings files and static sources there stay at their host paths, listed in `app.unseen`
/// with why: read at that path in the server's view they would be another file or none.
fn into_server_view(app: &mut App, m: &crate::sysroot::mounts::Mounts) {
    // Paths already on no mount of this machine (`to_host`) stay as they are, said once.
    let mut unseen = std::mem::take(&mut app.unseen);
    let mut to = |what: &'static str, p: &Path| match m.container_path(p) {
        _ if unseen.iter().any(|u| u.path == p) => p.to_path_buf(),
        Some(q) => q,
        None => {
            if !unseen.iter().any(|u| u.path == p) {
                unseen.push(super::Unseen {
                    what,
                    path: p.to_path_buf(),
                    why: format!(
                        "{what} {} is on this machine, which no mount of nginx's mount namespace \
                         (pid {}) shows: at that path nginx's view has another file or none",
                        p.display(),
                        m.pid
                    ),
                });
            }
            p.to_path_buf()
        }
    };
    app.dir = to("project directory", &app.dir);
    app.cwd = to("working directory", &app.cwd);
    app.settings_files = app
        .settings_files
        .iter()
        .map(|p| to("settings file", p))
        .collect();
    app.static_sources = app
        .static_sources
        .iter()
        .map(|p| to("static source", p))
        .collect();
    app.unseen = unseen;
    let Some(ns) = app.namespace.as_mut() else {
        return;
    };
    let pid = ns.pid;
    for (s, seen, name) in [
        (&mut app.media_root, &mut ns.media_root, "MEDIA_ROOT"),
        (&mut app.static_root, &mut ns.static_root, "STATIC_ROOT"),
    ] {
        let (Setting::Known { value, at }, Some(seen)) = (&mut *s, seen.as_mut()) else {
            continue;
        };
        seen.server = m.container_path(&seen.host);
        match &seen.server {
            Some(p) => *value = p.clone(),
            None => {
                *s = Setting::Unknown {
                    expr: seen.inside.display().to_string(),
                    at: at.clone(),
                    why: format!(
                        "{name} {} of the app (pid {pid}) is {} on this machine, which no mount of nginx's mount namespace (pid {}) shows",
                        seen.inside.display(),
                        seen.host.display(),
                        m.pid
                    ),
                }
            }
        }
    }
}

/// A project found in a directory.
#[derive(Debug, Clone)]
pub struct Project {
    pub framework: Framework,
    /// The import root (where manage.py / the Flask entry module is).
    pub dir: PathBuf,
    /// A file named directly: Django settings file, or the Flask module.
    pub file: Option<PathBuf>,
}

/// Finds a project at `path` (a directory or a file) or one directory level below it.
pub fn find_project(root: &SysRoot, path: &Path, want: Option<Framework>) -> Option<Project> {
    let host = root.host_path(&root.real_path(path).ok()?);
    if host.is_file() {
        let dir = path.parent()?.to_path_buf();
        let module = Module::read(root, path).ok()?;
        let imports = module.imported_modules();
        let flask = imports
            .iter()
            .any(|m| m == "flask" || m.starts_with("flask."));
        let framework = want.unwrap_or(if flask {
            Framework::Flask
        } else {
            Framework::Django
        });
        // A Django settings file: the import root is above its package.
        let dir = if framework == Framework::Django {
            django_import_root(root, &dir)
        } else {
            dir
        };
        return Some(Project {
            framework,
            dir,
            file: Some(path.to_path_buf()),
        });
    }
    if !host.is_dir() {
        return None;
    }
    let here = project_here(root, path, want);
    if here.is_some() {
        return here;
    }
    for sub in list_dirs(root, path) {
        if let Some(p) = project_here(root, &sub, want) {
            return Some(p);
        }
    }
    None
}

fn project_here(root: &SysRoot, dir: &Path, want: Option<Framework>) -> Option<Project> {
    let exists = |p: &Path| {
        root.host_path(&root.real_path(p).unwrap_or_default())
            .is_file()
    };
    let manage = dir.join("manage.py");
    if want != Some(Framework::Flask) && exists(&manage) {
        let is_django = Module::read(root, &manage)
            .map(|m| {
                m.imported_modules().iter().any(|i| i.starts_with("django"))
                    || m.src.contains("DJANGO_SETTINGS_MODULE")
            })
            .unwrap_or(false);
        if is_django {
            return Some(Project {
                framework: Framework::Django,
                dir: dir.to_path_buf(),
                file: None,
            });
        }
    }
    if want == Some(Framework::Django) {
        return None;
    }
    let mut files: Vec<PathBuf> = super::flask::ENTRY_FILES
        .iter()
        .map(|f| dir.join(f))
        .collect();
    for sub in list_dirs(root, dir) {
        files.push(sub.join("__init__.py"));
    }
    for f in files {
        if !exists(&f) {
            continue;
        }
        let Ok(m) = Module::read(root, &f) else {
            continue;
        };
        if m.imported_modules()
            .iter()
            .any(|i| i == "flask" || i.starts_with("flask."))
        {
            return Some(Project {
                framework: Framework::Flask,
                dir: dir.to_path_buf(),
                file: None,
            });
        }
    }
    None
}

/// For a settings file `/srv/app/proj/settings/prod.py`: the directory above the outermost
/// package (`/srv/app`), where manage.py lives.
fn django_import_root(root: &SysRoot, dir: &Path) -> PathBuf {
    let mut d = dir.to_path_buf();
    let exists = |p: &Path| {
        root.host_path(&root.real_path(p).unwrap_or_default())
            .is_file()
    };
    while exists(&d.join("__init__.py")) {
        match d.parent() {
            Some(p) => d = p.to_path_buf(),
            None => break,
        }
    }
    d
}

/// The running app's import root: its `--chdir` (relative to its working directory), else the
/// working directory itself.
fn process_dir(r: &RunningApp) -> Option<PathBuf> {
    let cmd = running_command(r);
    match (cmd.chdir, &r.cwd) {
        (Some(c), Some(w)) if c.is_relative() => Some(w.join(c)),
        (Some(c), _) => Some(c),
        (None, w) => w.clone(),
    }
}

/// The running process's command line, read as an app server command.
fn running_command(r: &RunningApp) -> super::server::AppServerCommand {
    let mut cmd = super::server::AppServerCommand::parse(
        &r.argv,
        crate::report::Location::new(format!("/proc/{}/cmdline", r.pid), 1),
    );
    // `python3 /srv/shop/venv/bin/gunicorn ...`: the interpreter is the one running.
    if cmd.python.is_none() {
        cmd.python = r.exe.clone();
    }
    cmd
}

/// The unit's app directory: `--chdir` (the server imports from there), else WorkingDirectory=.
pub fn unit_dir(root: &SysRoot, u: &Unit) -> Option<PathBuf> {
    let wd = u.working_directory.as_ref().map(|w| w.value.clone());
    let mut server = u.app_server()?;
    let _ = server.load_config_file(root, wd.as_deref());
    match (server.chdir, wd) {
        (Some(c), Some(w)) if c.is_relative() => Some(w.join(c)),
        (Some(c), _) => Some(c),
        (None, w) => w,
    }
}

/// Every unit whose ExecStart runs an app server.
pub fn app_server_units(root: &SysRoot) -> Vec<Unit> {
    systemd::service_names(root)
        .into_iter()
        .filter_map(|n| Unit::load(root, &n).ok().flatten())
        .filter(|u| {
            u.app_server().is_some_and(|s| {
                matches!(
                    s.kind,
                    ServerKind::Gunicorn
                        | ServerKind::Uwsgi
                        | ServerKind::Uvicorn
                        | ServerKind::Waitress
                )
            })
        })
        .collect()
}

/// Why this user cannot list `dir`, when that is the reason nothing was found there (a directory
/// that exists, unreadable or untraversable); None when it could be read or does not exist.
fn denied(root: &SysRoot, dir: &Path) -> Option<std::io::Error> {
    let host = match root.real_path(dir) {
        Ok(real) => root.host_path(&real),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => return Some(e),
        Err(_) => return None,
    };
    match std::fs::read_dir(host) {
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => Some(e),
        _ => None,
    }
}

fn list_dirs(root: &SysRoot, dir: &Path) -> Vec<PathBuf> {
    let Ok(real) = root.real_path(dir) else {
        return Vec::new();
    };
    let Ok(rd) = std::fs::read_dir(root.host_path(&real)) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = rd
        .flatten()
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            !SKIP_DIRS.contains(&name.as_ref())
                && !name.starts_with('.')
                && e.path().is_dir()
                && !e.path().join("pyvenv.cfg").exists()
        })
        .map(|e| dir.join(e.file_name()))
        .collect();
    out.sort();
    out
}

/// The unit, the server command and the user, onto the app; returns the app's environment (kept
/// off `App`: it may hold secrets, and the report must not print them).
fn apply_unit(
    root: &SysRoot,
    app: &mut App,
    unit: Option<Unit>,
    running: Option<&RunningApp>,
    hints: &Hints,
) -> Env {
    let mut env = Env::default();
    // The running process's directory and command line are what runs now; the unit's are what
    // would run after a restart (they agree unless someone edited the unit since).
    let wd = match running.and_then(|r| r.cwd.clone()) {
        Some(cwd) => Some(cwd),
        None => unit
            .as_ref()
            .and_then(|u| u.working_directory.as_ref().map(|w| w.value.clone())),
    };
    let mut server = match running {
        Some(r) => Some(running_command(r)),
        None => unit.as_ref().and_then(|u| u.app_server()),
    };
    if let Some(s) = &mut server {
        if let Some(problem) = s.load_config_file(root, wd.as_deref()) {
            app.problems.push(problem);
        }
        if !s.env.is_empty() {
            let vars: BTreeMap<String, String> = s.env.iter().cloned().collect();
            env.push(format!("{:?} --env", s.kind).to_lowercase(), vars);
        }
    }
    app.cwd = match (&server.as_ref().and_then(|s| s.chdir.clone()), &wd) {
        (Some(c), Some(w)) if c.is_relative() => w.join(c),
        (Some(c), _) => c.clone(),
        (None, Some(w)) => w.clone(),
        (None, None) => app.dir.clone(),
    };
    if let Some(r) = running {
        env.push(
            format!("the running process (/proc/{}/environ)", r.pid),
            r.environ.clone(),
        );
    }
    if let Some(u) = &unit {
        // Later EnvironmentFile= lines override earlier ones: the last is consulted first.
        for f in u.environment_files.iter().rev() {
            env.push_file(root, &f.path, "EnvironmentFile", f.optional);
        }
        env.push(
            format!("Environment= in {}", u.path.display()),
            u.environment_map(),
        );
    }
    for f in dotenv_candidates(&[&app.dir, &app.cwd]) {
        env.push_file(root, &f, ".env", true);
    }
    if root.is_live() {
        env.push("media-doctor's environment", std::env::vars().collect());
    }
    app.problems.extend(env.problems.iter().cloned());
    app.env_sources = env.layers.iter().map(|l| l.source.clone()).collect();

    // Who the app runs as: explicit profile, then the server's own switch, then the unit.
    if let Some(u) = &hints.app_user {
        app.user = Some(u.clone());
        app.user_source = Some("the profile's app_user".into());
    } else if let Some(user) = server.as_ref().and_then(|s| s.user.clone()) {
        app.user = Some(user);
        app.user_source = server
            .as_ref()
            .map(|s| format!("the app server's user option at {}", s.at));
        app.group = server.as_ref().and_then(|s| s.group.clone());
    } else if let Some(uid) = running.and_then(|r| r.uid) {
        app.user = Some(super::running::user_name(root, uid).unwrap_or_else(|| uid.to_string()));
        app.user_source = running.map(|r| format!("the running process (pid {})", r.pid));
        app.group = unit
            .as_ref()
            .and_then(|u| u.group.as_ref().map(|g| g.value.clone()));
    } else if let Some(u) = &unit {
        match &u.user {
            Some(user) => {
                app.user = Some(user.value.clone());
                app.user_source = Some(format!("User= at {}", user.at));
            }
            None => {
                app.user = Some("root".into());
                app.user_source = Some(format!("{} has no User=: it runs as root", u.name));
            }
        }
        app.group = u.group.as_ref().map(|g| g.value.clone());
    }
    app.python = server.as_ref().and_then(|s| s.python.clone());
    if app.python.is_none() {
        // A venv inside the project.
        for v in ["venv", ".venv", "env"] {
            let py = app.dir.join(v).join("bin/python");
            if std::fs::symlink_metadata(root.host_path(&py)).is_ok() {
                app.python = Some(py);
                break;
            }
        }
    }
    app.server = server;
    app.unit = unit;
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, path: &str, text: &str) {
        let p = root.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    /// The directories listed once for every site (`Listings`) tell the same as asking each
    /// path: projects found by name in /srv, a home and a symlinked /opt, units by name, names
    /// nowhere, under a root whose /var/www holds another project and that has no /run.
    #[test]
    fn listings_find_what_each_path_finds() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        let django = "import os\nos.environ.setdefault('DJANGO_SETTINGS_MODULE', 'x.settings')\n";
        write(d, "srv/shop/manage.py", django);
        write(d, "var/www/other/manage.py", django);
        write(d, "home/deploy/blog/manage.py", django);
        write(d, "home/deploy/venv/pyvenv.cfg", "");
        write(d, "data/opt/tool/manage.py", django);
        std::os::unix::fs::symlink("/data/opt", d.join("opt")).unwrap();
        write(
            d,
            "etc/systemd/system/shop.service",
            "[Service]\nUser=shop\nWorkingDirectory=/srv/shop\nExecStart=/usr/bin/gunicorn x.wsgi\n",
        );
        let root = SysRoot::new(d);
        let listings = std::sync::Arc::new(Listings::default());
        let expect = [
            ("shop", Some("/srv/shop")),
            ("blog", Some("/home/deploy/blog")),
            ("tool", Some("/opt/tool")),
            ("nothing", None),
            ("other", Some("/var/www/other")),
            ("a/b", None),
            ("..", None),
        ];
        for (name, dir) in expect {
            let hints = |listings: Option<std::sync::Arc<Listings>>| Hints {
                name: Some(name.into()),
                config_given: true,
                listings,
                ..Default::default()
            };
            let asked = discover(&root, &hints(None));
            let listed = discover(&root, &hints(Some(listings.clone())));
            assert_eq!(listed.tried, asked.tried, "{name}");
            assert_eq!(listed.unreadable, asked.unreadable, "{name}");
            let dirs = [&asked, &listed].map(|f| f.app.as_ref().map(|a| a.dir.clone()));
            assert_eq!(dirs[0], dirs[1], "{name}");
            assert_eq!(dirs[1].as_deref(), dir.map(Path::new), "{name}");
        }
        let unit = discover(
            &root,
            &Hints {
                name: Some("shop".into()),
                config_given: true,
                listings: Some(listings.clone()),
                ..Default::default()
            },
        );
        assert!(
            unit.tried
                .iter()
                .any(|t| t.starts_with("unit shop.service: found")),
            "{:?}",
            unit.tried
        );
        // Read from the listings, not asked: what they list and what they do not.
        assert!(listings.lacks(
            &root,
            Path::new("/var/www"),
            "nothing".as_ref(),
            Lookup::Real
        ));
        assert!(!listings.lacks(&root, Path::new("/srv"), "shop".as_ref(), Lookup::Real));
        assert!(listings.lacks(&root, Path::new("/opt"), "shop".as_ref(), Lookup::Real));
        assert!(!listings.lacks(&root, Path::new("/opt"), "tool".as_ref(), Lookup::Real));
        assert!(listings.lacks(
            &root,
            Path::new("/run/systemd/system"),
            "shop.service".as_ref(),
            Lookup::Host
        ));
        assert!(!listings.lacks(&root, Path::new("/srv"), "..".as_ref(), Lookup::Real));
    }
}
