//! The Docker ways media breaks, judged on a compose project (the MD6xx checks are thin
//! adapters over these). Every comparison is of places (storage, path inside it), never of path
//! strings; every fix names the compose file, the service and the exact lines or command.

use super::app::{ContainerApp, ContainerPath};
use super::mounts::{Container, Deployment, Place, Storage};
use crate::app::{Framework, Setting};
use crate::fs::access::Access;
use crate::fs::walk::{grant_commands, shell_quote};
use crate::fs::{walk, Identity, Outcome};
use crate::report::{Finding, Location};
use crate::sysroot::SysRoot;
use std::path::Path;

/// Which files a judgment is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Files {
    Media,
    Static,
}

/// A directory nginx opens for a URL prefix (as the resolver found it), a path in the nginx
/// container.
#[derive(Debug, Clone)]
pub struct NginxDir {
    pub prefix: String,
    /// As written in the config (`/home/app/web/mediafiles/`).
    pub dir: String,
    pub alias: bool,
    pub at: Location,
}

/// What a judgment needs.
pub struct View<'a> {
    pub dep: &'a Deployment,
    pub app: &'a ContainerApp,
    pub app_c: &'a Container,
    pub nginx_c: Option<&'a Container>,
}

#[derive(Debug)]
pub enum Verdict {
    Pass(String),
    Skip(String),
    Findings(Vec<Finding>),
}

impl<'a> View<'a> {
    fn root(&self, files: Files) -> &ContainerPath {
        match files {
            Files::Media => &self.app.media_root,
            Files::Static => &self.app.static_root,
        }
    }

    pub fn root_name(&self, files: Files) -> &'static str {
        match (files, self.app.app.framework) {
            (Files::Media, Framework::Django) => "MEDIA_ROOT",
            (Files::Media, Framework::Flask) => "UPLOAD_FOLDER",
            (Files::Static, Framework::Django) => "STATIC_ROOT",
            (Files::Static, Framework::Flask) => "static_folder",
        }
    }

    /// The app's directory for `files` as a place, or why there is none.
    fn app_place(&self, files: Files) -> Result<(&str, &Place, &ContainerPath), String> {
        let name = self.root_name(files);
        let cp = self.root(files);
        match (&cp.path, &cp.place) {
            (Setting::Known { value, .. }, Some(place)) if !value.is_empty() => {
                if let Storage::Unknown(vars) = &place.storage {
                    return Err(format!(
                        "{name} {} in the {} container depends on ${{{}}}, which no file sets",
                        place.path,
                        self.app.service,
                        vars.join("}, ${")
                    ));
                }
                Ok((value.as_str(), place, cp))
            }
            (Setting::Unknown { why, expr, .. }, _) => Err(format!(
                "{name} is unknown in the {} container ({expr}): {why}",
                self.app.service
            )),
            _ => Err(format!("{name} is not set")),
        }
    }

    /// `docker compose` with the `-f` files of this project (paths from the project directory).
    pub fn compose(&self) -> String {
        compose_command(self.dep)
    }

    /// The compose project's name, the prefix of its volumes' names (`proj_media_volume`):
    /// its directory's name, lowercased.
    fn project_name(&self) -> String {
        self.dep
            .project
            .dir
            .file_name()
            .map(|n| n.to_string_lossy().to_lowercase())
            .unwrap_or_default()
    }

    fn rel(&self, p: &str) -> String {
        rel_to_project(self.dep, Path::new(p))
    }
}

/// `docker compose`, with `-f FILE` for each file unless the project uses the default file (and
/// its override), which compose reads without being told.
pub fn compose_command(dep: &Deployment) -> String {
    let default_name = |f: &std::path::PathBuf| {
        f.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
            super::compose::DEFAULT_FILES.contains(&n)
                || super::compose::OVERRIDE_FILES.contains(&n)
        })
    };
    let files = &dep.project.files;
    if files.len() <= 2 && files.first().is_some_and(default_name) && files.iter().all(default_name)
    {
        return "docker compose".into();
    }
    let mut s = "docker compose".to_string();
    for f in files {
        s.push_str(" -f ");
        s.push_str(&rel_to_project(dep, f));
    }
    s
}

fn rel_to_project(dep: &Deployment, p: &Path) -> String {
    match p.strip_prefix(&dep.project.dir) {
        Ok(r) if !r.as_os_str().is_empty() => r.display().to_string(),
        _ => p.display().to_string(),
    }
}

/// A compose volume spec for `storage` at `target` (`media_volume:/x`, `./uploads:/x`).
fn volume_spec(dep: &Deployment, storage: &Storage, target: &str, ro: bool) -> Option<String> {
    let ro = if ro { ":ro" } else { "" };
    match storage {
        Storage::Volume(v) => Some(format!("{v}:{target}{ro}")),
        Storage::Bind(h) => {
            let r = rel_to_project(dep, h);
            let r = if h.is_absolute() && r != h.display().to_string() {
                format!("./{r}")
            } else {
                r
            };
            Some(format!("{r}:{target}{ro}"))
        }
        _ => None,
    }
}

fn trim_dir(d: &str) -> String {
    let t = d.trim_end_matches('/');
    if t.is_empty() {
        "/".into()
    } else {
        t.to_string()
    }
}

/// Where, inside container `c`, the files of `place` (from another container) are seen: the
/// path through a mount of the same storage, when `c` has one.
fn seen_in(c: &Container, place: &Place) -> Option<String> {
    for m in c.mounts() {
        let probe = c.locate(&m.target);
        let (same_storage, msub) = match (&probe.storage, &place.storage) {
            (Storage::Volume(a), Storage::Volume(b)) if a == b => (true, probe.sub.clone()),
            (Storage::Bind(a), Storage::Bind(b)) => {
                let full = b.join(&place.sub);
                match full.strip_prefix(a) {
                    Ok(rel) => {
                        let r = rel.display().to_string();
                        return Some(if r.is_empty() {
                            trim_dir(&m.target)
                        } else {
                            format!("{}/{r}", trim_dir(&m.target))
                        });
                    }
                    Err(_) => (false, String::new()),
                }
            }
            _ => (false, String::new()),
        };
        if !same_storage {
            continue;
        }
        // The mount shows the volume from `msub`; the place is at `place.sub`.
        let rest = if msub.is_empty() {
            Some(place.sub.clone())
        } else if place.sub == msub {
            Some(String::new())
        } else {
            place
                .sub
                .strip_prefix(&format!("{msub}/"))
                .map(str::to_string)
        };
        if let Some(rest) = rest {
            return Some(if rest.is_empty() {
                trim_dir(&m.target)
            } else {
                format!("{}/{rest}", trim_dir(&m.target))
            });
        }
    }
    None
}

/// How nginx's new config takes effect: a rebuild when the config is copied into the image, a
/// reload when it is mounted.
fn nginx_apply(v: &View, nginx: &Container) -> String {
    let mounted = nginx.service.volumes.iter().any(|m| {
        matches!(&m.source, super::compose::MountSource::Bind(_))
            && m.target.starts_with("/etc/nginx")
    });
    if mounted {
        format!(
            "{c} exec {n} nginx -t && {c} exec {n} nginx -s reload",
            c = v.compose(),
            n = nginx.name()
        )
    } else {
        format!("{} up -d --build {}", v.compose(), nginx.name())
    }
}

// ------------------------------------------------------------------------------------ MD601

/// Uploads written where they do not survive the container: its writable layer, an anonymous
/// volume, a tmpfs.
pub fn uploads_on_volume(v: &View, served: &[NginxDir]) -> Verdict {
    let (path, place, cp) = match v.app_place(Files::Media) {
        Ok(x) => x,
        Err(why) => return Verdict::Skip(why),
    };
    let name = v.root_name(Files::Media);
    if place.storage.persistent() {
        return Verdict::Pass(format!(
            "{name} is {} in the {} container",
            place.describe(),
            v.app.service
        ));
    }
    // The volume nginx already uses for these URLs, if any: the one to share.
    let shared = v.nginx_c.and_then(|n| {
        served
            .iter()
            .map(|d| n.locate(&d.dir))
            .find(|p| p.storage.persistent())
    });
    let storage = shared
        .as_ref()
        .map(|p| p.storage.clone())
        .unwrap_or_else(|| Storage::Volume("media_volume".into()));
    let spec = volume_spec(v.dep, &storage, path, false).unwrap_or_default();
    let mut block = vec![
        "services:".to_string(),
        format!("  {}:", v.app.service),
        "    volumes:".into(),
        format!("      - {spec}"),
    ];
    if let (Storage::Volume(name), None) = (&storage, &shared) {
        block.extend(["volumes:".to_string(), format!("  {name}:")]);
    }
    let text = match &shared {
        Some(p) => format!(
            "mount {} at {name} in the {} service ({}); nginx already serves it:",
            p.storage.describe(),
            v.app.service,
            v.rel(&v.app_c.service.at.file)
        ),
        None => format!(
            "mount a named volume at {name} in the {} service ({}), and the same volume in the nginx service where nginx serves the uploads:",
            v.app.service,
            v.rel(&v.app_c.service.at.file)
        ),
    };
    let mut f = Finding::error(format!(
        "uploads are written to {path} in the {} container: {}; every upload is lost when the container is recreated",
        v.app.service,
        place.storage.describe()
    ))
    .at(cp.path.at().cloned().unwrap_or_else(|| v.app_c.service.at.clone()))
    .evidence(name, cp.path.describe());
    if let Some(how) = &cp.how {
        f = f.evidence("mapped", how);
    }
    if let Some(m) = &place.mount {
        f = f.evidence("mount", format!("{} ({})", m.spec, m.at));
    }
    f = f.evidence(
        "service",
        format!("{} ({})", v.app.service, v.app_c.service.at),
    );
    Verdict::Findings(vec![f.fix_with_block(
        text,
        &block,
        vec![format!("{} up -d", v.compose())],
    )])
}

// ------------------------------------------------------------------------------- MD602, MD603

/// For each directory nginx opens for `files`: the app's files, or not, and why.
enum Seen {
    Same,
    /// The app's storage is not mounted in the nginx container at all.
    NotMounted {
        dir: NginxDir,
        nginx_place: Place,
    },
    /// It is mounted, at `at`, but nginx opens another path.
    Elsewhere {
        dir: NginxDir,
        at: String,
        nginx_place: Place,
    },
}

fn compare(v: &View, files: Files, served: &[NginxDir]) -> Result<Vec<Seen>, String> {
    let nginx = v.nginx_c.ok_or(
        "no compose service runs nginx with this config (nginx is not in the compose project)",
    )?;
    let (_, app_place, _) = v.app_place(files)?;
    if !app_place.storage.persistent() {
        return Err(format!(
            "{} is not on a volume in the {} container (MD601/MD604)",
            v.root_name(files),
            v.app.service
        ));
    }
    if served.is_empty() {
        return Err("nginx serves these URLs from no directory (MD106)".into());
    }
    Ok(served
        .iter()
        .map(|d| {
            let np = nginx.locate(&d.dir);
            if np.same_files(app_place) {
                Seen::Same
            } else {
                match seen_in(nginx, app_place) {
                    Some(at) => Seen::Elsewhere {
                        dir: d.clone(),
                        at,
                        nginx_place: np,
                    },
                    None => Seen::NotMounted {
                        dir: d.clone(),
                        nginx_place: np,
                    },
                }
            }
        })
        .collect())
}

/// MD602: the directory nginx opens is not mounted in the nginx container: it sees only its own
/// image there, never the app's files.
pub fn nginx_dir_mounted(v: &View, files: Files, served: &[NginxDir]) -> Verdict {
    let seen = match compare(v, files, served) {
        Ok(s) => s,
        Err(why) => return Verdict::Skip(why),
    };
    let Some(nginx) = v.nginx_c else {
        return Verdict::Skip("no nginx service".into());
    };
    let (_, app_place, _) = match v.app_place(files) {
        Ok(x) => x,
        Err(why) => return Verdict::Skip(why),
    };
    let name = v.root_name(files);
    let mut findings = Vec::new();
    for s in &seen {
        let Seen::NotMounted { dir, nginx_place } = s else {
            continue;
        };
        // Mount the app's storage so that nginx's path holds the app's directory.
        let dir_t = trim_dir(&dir.dir);
        let target = if app_place.sub.is_empty() {
            Some(dir_t.clone())
        } else {
            dir_t
                .strip_suffix(&format!("/{}", app_place.sub))
                .map(str::to_string)
        };
        let (spec, alias_note) = match target {
            Some(t) => (volume_spec(v.dep, &app_place.storage, &t, true), None),
            None => {
                let t = app_place
                    .mount
                    .as_ref()
                    .map(|m| trim_dir(&m.target))
                    .unwrap_or(dir_t.clone());
                (
                    volume_spec(v.dep, &app_place.storage, &t, true),
                    Some(format!(
                        "location {} {{ alias {t}/{}/; }}",
                        dir.prefix, app_place.sub
                    )),
                )
            }
        };
        let Some(spec) = spec else { continue };
        let mut block = vec![
            "services:".to_string(),
            format!("  {}:", nginx.name()),
            "    volumes:".into(),
            format!("      - {spec}"),
        ];
        if let Some(a) = alias_note {
            block.push(format!("and in the nginx config: {a}"));
        }
        findings.push(
            Finding::error(format!(
                "nginx opens {} for {} inside the {} container, where {}: it never sees the {} container's {name} ({})",
                dir.dir,
                dir.prefix,
                nginx.name(),
                match nginx_place.storage {
                    Storage::Layer => "nothing is mounted (only its image is there)".to_string(),
                    ref s => format!("{} is mounted", s.describe()),
                },
                v.app.service,
                app_place.describe()
            ))
            .at(dir.at.clone())
            .evidence("nginx service", format!("{} ({})", nginx.name(), nginx.service.at))
            .evidence(name, format!("{} in {}", app_place.describe(), v.app.service))
            .fix_with_block(
                format!(
                    "mount the same storage in the {} service ({}):",
                    nginx.name(),
                    v.rel(&nginx.service.at.file)
                ),
                &block,
                vec![format!("{} up -d {}", v.compose(), nginx.name())],
            ),
        );
    }
    if findings.is_empty() {
        return match seen.iter().any(|s| matches!(s, Seen::Same)) {
            true => Verdict::Pass(format!(
                "nginx sees the {} container's {name} ({}) where it looks",
                v.app.service,
                app_place.describe()
            )),
            false => Verdict::Skip(format!(
                "the nginx container mounts the app's {name} at another path (MD603)"
            )),
        };
    }
    Verdict::Findings(findings)
}

/// MD603: the app's storage is mounted in the nginx container, but nginx's alias/root names
/// another path (often the app container's path).
pub fn alias_own_path(v: &View, files: Files, served: &[NginxDir]) -> Verdict {
    let seen = match compare(v, files, served) {
        Ok(s) => s,
        Err(why) => return Verdict::Skip(why),
    };
    let Some(nginx) = v.nginx_c else {
        return Verdict::Skip("no nginx service".into());
    };
    let (app_path, app_place, _) = match v.app_place(files) {
        Ok(x) => x,
        Err(why) => return Verdict::Skip(why),
    };
    let name = v.root_name(files);
    let mut findings = Vec::new();
    for s in &seen {
        let Seen::Elsewhere {
            dir,
            at,
            nginx_place,
        } = s
        else {
            continue;
        };
        let whose = if trim_dir(&dir.dir) == trim_dir(app_path) {
            format!(" (that is the path in the {} container)", v.app.service)
        } else {
            String::new()
        };
        let directive = if dir.alias { "alias" } else { "root" };
        let fixed = format!("location {} {{ alias {at}/; }}", dir.prefix);
        findings.push(
            Finding::error(format!(
                "nginx's {directive} {}{whose} names {} in the {} container; the app's {name} is mounted there at {at}",
                dir.dir,
                match nginx_place.storage {
                    Storage::Layer => "a directory of nginx's own image (nothing is mounted there)".to_string(),
                    ref s => s.describe(),
                },
                nginx.name()
            ))
            .at(dir.at.clone())
            .evidence(name, format!("{} in {}", app_place.describe(), v.app.service))
            .evidence("in nginx", format!("{at} ({})", nginx.name()))
            .fix_with_block(
                format!(
                    "serve {} from the path where the nginx container sees the files (or mount the volume at {} in the {} service):",
                    dir.prefix, dir.dir, nginx.name()
                ),
                &[fixed],
                vec![nginx_apply(v, nginx)],
            ),
        );
    }
    if findings.is_empty() {
        return match seen.iter().any(|s| matches!(s, Seen::Same)) {
            true => Verdict::Pass(format!(
                "nginx opens the path where the {} container has the {} container's {name}",
                nginx.name(),
                v.app.service
            )),
            false => Verdict::Skip(format!(
                "the nginx container does not mount the app's {name} at all (MD602)"
            )),
        };
    }
    Verdict::Findings(findings)
}

// ------------------------------------------------------------------------------------ MD604

/// STATIC_ROOT not on the storage nginx serves STATIC_URL from: collectstatic writes where
/// nginx never looks.
pub fn static_root_on_volume(v: &View, served: &[NginxDir]) -> Verdict {
    let Some(nginx) = v.nginx_c else {
        return Verdict::Skip("no compose service runs nginx with this config".into());
    };
    let (path, place, cp) = match v.app_place(Files::Static) {
        Ok(x) => x,
        Err(why) => return Verdict::Skip(why),
    };
    let name = v.root_name(Files::Static);
    if served.is_empty() {
        return Verdict::Skip("nginx serves the static URL from no directory".into());
    }
    let mut findings = Vec::new();
    let mut same = Vec::new();
    for d in served {
        let np = nginx.locate(&d.dir);
        if np.same_files(place) {
            same.push(d.dir.clone());
            continue;
        }
        if !np.storage.persistent() {
            continue; // nginx's own layer: MD602
        }
        if place.storage.persistent() && seen_in(nginx, place).is_some() {
            continue; // on a volume nginx mounts elsewhere: MD603
        }
        // The app should write STATIC_ROOT onto the storage nginx reads: mount it there.
        let Some(spec) = volume_spec(v.dep, &np.storage, path, false) else {
            continue;
        };
        let existing = v
            .app_c
            .service
            .volumes
            .iter()
            .find(|m| v.app_c.locate(&m.target).storage == np.storage);
        let text = match existing {
            Some(m) => format!(
                "mount it at {name} in the {} service, instead of `{}` ({}):",
                v.app.service, m.spec, m.at
            ),
            None => format!("mount it at {name} in the {} service:", v.app.service),
        };
        let mut f = Finding::error(format!(
            "{name} {path} is {} in the {} container, not {} that nginx serves {} from: collectstatic writes where nginx never looks",
            place.storage.describe(),
            v.app.service,
            np.storage.describe(),
            d.prefix
        ))
        .at(cp.path.at().cloned().unwrap_or_else(|| v.app_c.service.at.clone()))
        .evidence(name, cp.path.describe());
        if let Some(how) = &cp.how {
            f = f.evidence("mapped", how);
        }
        f = f.evidence(
            "nginx",
            format!("{} {} ({})", d.prefix, np.describe(), d.at),
        );
        findings.push(f.fix_with_block(
            text,
            &[
                "services:".into(),
                format!("  {}:", v.app.service),
                "    volumes:".into(),
                format!("      - {spec}"),
            ],
            vec![
                format!("{} up -d {}", v.compose(), v.app.service),
                format!(
                    "{} exec {} python manage.py collectstatic --noinput",
                    v.compose(),
                    v.app.service
                ),
            ],
        ));
    }
    if !findings.is_empty() {
        return Verdict::Findings(findings);
    }
    if same.is_empty() {
        return Verdict::Skip(
            "nginx does not read the static files from a volume (MD602/MD603 say why)".to_string(),
        );
    }
    Verdict::Pass(format!(
        "{name} is {}, which nginx serves",
        place.describe()
    ))
}

// ------------------------------------------------------------------------------------ MD605

/// The media directory belongs to another user than the one the app runs as.
pub fn media_owner(v: &View) -> Verdict {
    let (path, place, cp) = match v.app_place(Files::Media) {
        Ok(x) => x,
        Err(why) => return Verdict::Skip(why),
    };
    let name = v.root_name(Files::Media);
    let (user, user_src) = v.app.user.clone();
    if user == "root" || user == "0" {
        return Verdict::Pass(format!(
            "the {} container runs as root ({user_src}): it can write {name}",
            v.app.service
        ));
    }
    match &place.storage {
        Storage::Bind(h) => {
            return Verdict::Skip(format!(
                "{name} is the host directory {}: its owner is set on the host, not by the image",
                h.join(&place.sub).display()
            ))
        }
        Storage::Tmpfs => return Verdict::Skip(format!("{name} is a tmpfs")),
        _ => {}
    }
    let Some(img) = &v.app_c.image else {
        return Verdict::Skip(format!(
            "the {} service is not built here (image {}): its files are not known",
            v.app.service,
            v.app_c.base.as_deref().unwrap_or("?")
        ));
    };
    let (owner, how) = match img.owner_of(path) {
        Some(o) => (o.user.clone(), format!("{} at {}", o.how, o.at)),
        None => (
            "root".to_string(),
            format!("the image has no {path}: Docker creates the mount point, owned by root"),
        ),
    };
    if owner == user {
        return Verdict::Pass(format!(
            "{name} {path} belongs to {user} in the image ({how}), the user the app runs as"
        ));
    }
    let numeric = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    if numeric(&owner) != numeric(&user) {
        let known = img
            .users
            .iter()
            .find(|u| (u.name == owner || u.name == user) && u.uid.is_some())
            .map(|u| (&u.name, &u.uid));
        match known {
            Some((n, Some(uid))) if (n == &owner && uid == &user) || (n == &user && uid == &owner) => {
                return Verdict::Pass(format!("{name} belongs to {owner}, which is {user}"))
            }
            _ => {
                return Verdict::Skip(format!(
                    "{name} belongs to {owner} and the app runs as {user}: whether they are the same user needs the image's /etc/passwd"
                ))
            }
        }
    }
    let group = v
        .app_c
        .service
        .user
        .as_deref()
        .or(img.user.as_ref().map(|(u, _)| u.as_str()))
        .and_then(|u| u.split_once(':').map(|(_, g)| g.to_string()))
        .unwrap_or_else(|| user.clone());
    let user_line = img
        .user
        .as_ref()
        .map(|(u, at)| format!("before `USER {u}` ({at})"))
        .unwrap_or_else(|| "before the app starts".into());
    let volume_note = match &place.storage {
        Storage::Volume(vol) => format!(
            " A new named volume ({vol}) copies this ownership from the image, and keeps it."
        ),
        _ => String::new(),
    };
    let f = Finding::error(format!(
        "{name} {path} belongs to {owner} in the {} image, but the app runs as {user}: every upload fails with Permission denied.{volume_note}",
        v.app.service
    ))
    .at(cp.path.at().cloned().unwrap_or_else(|| v.app_c.service.at.clone()))
    .evidence("owner", format!("{owner} ({how})"))
    .evidence("app user", format!("{user} ({user_src})"))
    .evidence(name, place.describe())
    .fix_with_block(
        format!(
            "in {}, {user_line}, create it owned by the app's user; an existing volume keeps root's ownership, so change it once with the command below:",
            v.rel(&img.dockerfile.display().to_string())
        ),
        &[format!("RUN mkdir -p {path} && chown {user}:{group} {path}")],
        vec![format!(
            "{} exec -u root {} chown -R {user}:{group} {path}",
            v.compose(),
            v.app.service
        )],
    );
    Verdict::Findings(vec![f])
}

// ------------------------------------------------------------------------------------ MD606

/// A named volume mounted over content the image provides: Docker copies it into the volume
/// only when the volume is new, so what later builds put there never appears.
pub fn volume_over_image(v: &View, root: &crate::sysroot::SysRoot) -> Verdict {
    let mut findings = Vec::new();
    let mut checked = 0;
    let static_place = v
        .app_place(Files::Static)
        .ok()
        .map(|(p, pl, _)| (p.to_string(), pl.clone()));
    let media_place = v.app_place(Files::Media).ok().map(|(_, pl, _)| pl.clone());
    for c in v.dep.containers.values() {
        let Some(img) = &c.image else { continue };
        let start = c.start_text(root);
        for m in c.mounts() {
            let super::compose::MountSource::Volume(vol) = &m.source else {
                continue;
            };
            if m.nocopy {
                continue;
            }
            checked += 1;
            let mut what: Vec<String> = img
                .files_at(&m.target, 3)
                .iter()
                .map(|(h, at)| format!("{} (COPY at {at})", rel_to_project(v.dep, h)))
                .collect();
            let is_app = c.name() == v.app.service;
            let collects_here = is_app
                && !img.collectstatic.is_empty()
                && static_place.as_ref().is_some_and(|(_, sp)| {
                    c.locate(&m.target).same_files(sp)
                        || sp.mount.as_ref().is_some_and(|sm| sm.target == m.target)
                });
            if collects_here {
                if start.contains("collectstatic") {
                    continue; // collected again at each start: the volume is refreshed
                }
                what.insert(
                    0,
                    format!(
                        "the static files collectstatic writes at build time (RUN at {})",
                        img.collectstatic[0]
                    ),
                );
            }
            if what.is_empty() {
                continue;
            }
            let holds_media = media_place
                .as_ref()
                .is_some_and(|p| matches!(&p.storage, Storage::Volume(x) if x == vol));
            let project = v.project_name();
            let mut commands = Vec::new();
            let text = if collects_here {
                commands.push(format!(
                    "{} exec {} python manage.py collectstatic --noinput",
                    v.compose(),
                    c.name()
                ));
                "collect static files when the container starts (in its command or entrypoint), so each start refreshes the volume; the command below refreshes it now:".to_string()
            } else if holds_media {
                "keep the image's files out of the uploads volume's path (the volume must keep the uploads: never remove it)".to_string()
            } else {
                commands.push(format!("{} down", v.compose()));
                commands.push(format!("docker volume rm {project}_{vol}"));
                commands.push(format!("{} up -d", v.compose()));
                "give nginx these files another way (build them into its image), or copy them into the volume at each start; until then, recreate the volume after each build:".to_string()
            };
            findings.push(
                Finding::warning(format!(
                    "the named volume {vol} is mounted over {} in the {} container, where the image has files: Docker copies them into the volume only when it is created, so the files of every later build never appear",
                    m.target,
                    c.name()
                ))
                .at(m.at.clone())
                .evidence("image content", what.join("; "))
                .evidence("mount", format!("{} ({})", m.spec, m.at))
                .fix(text, commands),
            );
        }
    }
    if findings.is_empty() {
        return if checked == 0 {
            Verdict::Skip("no named volume is mounted in a service built here".into())
        } else {
            Verdict::Pass(format!(
                "{checked} named volume mount(s): none hides files the image provides"
            ))
        };
    }
    Verdict::Findings(findings)
}

// ------------------------------------------------------------------------------------ MD607

/// MD607: bind-mounted directories, judged on this machine as the container's uid: the app's
/// MEDIA_ROOT on a host directory needs write and search (STATIC_ROOT too, when the container
/// collects static files at start), each directory nginx opens on one
/// needs read and search. Only the part below the mount's source counts: the container sees
/// the source as its own directory, not the host's parents.
pub fn bind_mount_access(v: &View, root: &SysRoot, served: &[NginxDir]) -> Verdict {
    let mut findings = Vec::new();
    let mut fine = Vec::new();
    let mut unknown = Vec::new();
    let mut subjects: Vec<(&Container, String, Place, Access, String)> = Vec::new();
    if let Ok((_, place, _)) = v.app_place(Files::Media) {
        subjects.push((
            v.app_c,
            v.root_name(Files::Media).to_string(),
            place.clone(),
            Access::WRITE.union(Access::EXEC),
            "write uploads into".into(),
        ));
    }
    // collectstatic at start (command or entrypoint) writes STATIC_ROOT as the app's user.
    if let Ok((_, place, _)) = v.app_place(Files::Static) {
        if v.app_c.start_text(root).contains("collectstatic") {
            subjects.push((
                v.app_c,
                v.root_name(Files::Static).to_string(),
                place.clone(),
                Access::WRITE.union(Access::EXEC),
                "collect static files into".into(),
            ));
        }
    }
    if let Some(n) = v.nginx_c {
        for d in served {
            subjects.push((
                n,
                format!("nginx's {}", trim_dir(&d.dir)),
                n.locate(&d.dir),
                Access::READ.union(Access::EXEC),
                format!("serve {} from", d.prefix),
            ));
        }
    }
    for (c, what, place, want, doing) in subjects {
        let Storage::Bind(source) = &place.storage else {
            continue;
        };
        let host = below(source, &place.sub);
        let who = match c.ids() {
            Ok((0, _)) => {
                fine.push(format!("{what}: the {} container runs as root", c.name()));
                continue;
            }
            // Named by its number: that is what the host's files and setfacl know.
            Ok((uid, gid)) => Identity::new(&uid.to_string(), uid, gid, Vec::new()),
            Err(why) => {
                unknown.push(format!(
                    "{what} ({}): the {} container's uid is unknown: {why}",
                    host.display(),
                    c.name()
                ));
                continue;
            }
        };
        let service = format!("{} ({})", c.name(), c.service.at);
        if !root.is_dir(source) {
            if want.contains(Access::WRITE) {
                findings.push(
                    Finding::warning(format!(
                        "{} does not exist on this machine: Docker creates it owned by root when the {} service starts, and the container's uid {} cannot {doing} it",
                        source.display(),
                        c.name(),
                        who.name
                    ))
                    .at(place.mount.as_ref().map(|m| m.at.clone()))
                    .evidence("service", &service)
                    .fix(
                        format!("create it owned by the container's uid {} before the service starts:", who.name),
                        vec![
                            format!("mkdir -p {}", shell_quote(&host.display().to_string())),
                            format!("sudo chown {}:{} {}", who.uid, who.gid, shell_quote(&host.display().to_string())),
                        ],
                    ),
                );
            }
            continue;
        }
        // The mount's source is the container's directory: walk from it, as the container's
        // uid (the host's user names do not apply inside).
        let inside = SysRoot::new(root.host_path(source));
        let w = walk(&inside, &Path::new("/").join(&place.sub), &who, want);
        let on_host = |p: &Path| match p.strip_prefix("/") {
            Ok(r) if !r.as_os_str().is_empty() => source.join(r),
            _ => source.clone(),
        };
        match &w.outcome {
            Outcome::Found { .. } => fine.push(format!(
                "{what}: {} gives uid {} {want}",
                host.display(),
                who.name
            )),
            Outcome::Denied { .. } => {
                let Some(step) = w.failing_step() else {
                    continue;
                };
                let mut shown = step.clone();
                shown.path = on_host(&step.path);
                let lines: Vec<String> = w
                    .steps
                    .iter()
                    .map(|s| {
                        format!(
                            "{} {} {} {}{}",
                            s.mode,
                            s.meta.uid,
                            s.meta.gid,
                            on_host(&s.path).display(),
                            if s.ok { "" } else { "   \u{2717}" }
                        )
                    })
                    .collect();
                let mut commands = grant_commands(&shown, &who, |g| g.to_string());
                if want.contains(Access::WRITE) {
                    commands.insert(
                        0,
                        format!(
                            "sudo chown -R {}:{} {}",
                            who.uid,
                            who.gid,
                            shell_quote(&host.display().to_string())
                        ),
                    );
                }
                findings.push(
                    Finding::error(format!(
                        "the {} container (uid {}, gid {}) cannot {doing} the host directory {}: {} (mode {}, owner uid {}, group gid {})",
                        c.name(),
                        who.name,
                        who.gid,
                        host.display(),
                        step.why.as_deref().unwrap_or("denied"),
                        step.mode,
                        step.meta.uid,
                        step.meta.gid
                    ))
                    .at(place.mount.as_ref().map(|m| m.at.clone()))
                    .evidence("mount", place.mount.as_ref().map(|m| m.spec.clone()).unwrap_or_default())
                    .evidence("service", &service)
                    .evidence_lines("walk (mode uid gid path)", &lines)
                    .fix_either(
                        format!(
                            "give uid {} {} on the host (the container sees the host's numbers, not its names):",
                            who.uid,
                            if want.contains(Access::WRITE) { "write and search (wx)" } else { "read and search (rx)" }
                        ),
                        commands,
                    ),
                );
            }
            Outcome::Missing { .. } => fine.push(format!(
                "{what}: {} is not there yet (MD201)",
                host.display()
            )),
            other => unknown.push(format!("{what} ({}): {other}", host.display())),
        }
    }
    if !findings.is_empty() {
        return Verdict::Findings(findings);
    }
    if !fine.is_empty() {
        let mut text = fine.join("; ");
        if !unknown.is_empty() {
            text.push_str(&format!("; not judged: {}", unknown.join("; ")));
        }
        return Verdict::Pass(text);
    }
    match unknown.is_empty() {
        true => Verdict::Skip(
            "no bind mount holds the uploads or a directory nginx serves (named volumes: MD605)"
                .into(),
        ),
        false => Verdict::Skip(unknown.join("; ")),
    }
}

/// `sub` below a bind mount's source (the source itself for "": no trailing slash).
fn below(source: &Path, sub: &str) -> std::path::PathBuf {
    if sub.is_empty() {
        source.to_path_buf()
    } else {
        source.join(sub)
    }
}

// ------------------------------------------------------------------------------------ MD608

/// MD608: nginx on this machine (no service of the project runs it) serving the app's files:
/// it can read them only through a bind mount, at the host directory, never at the container
/// path, and never inside a named volume (Docker keeps those under /var/lib/docker, which only
/// root may enter).
/// `reload`: how the host's nginx is checked and reloaded (the site knows how it runs).
pub fn host_nginx_dir(v: &View, files: Files, served: &[NginxDir], reload: &str) -> Verdict {
    if let Some(n) = v.nginx_c {
        return Verdict::Skip(format!(
            "nginx runs in the {} service, not on this machine (MD602/MD603)",
            n.name()
        ));
    }
    let (path, place, _) = match v.app_place(files) {
        Ok(x) => x,
        Err(why) => return Verdict::Skip(why),
    };
    let name = v.root_name(files);
    if served.is_empty() {
        return Verdict::Skip(format!(
            "nginx serves the {} URL from no directory",
            if files == Files::Media {
                "media"
            } else {
                "static"
            }
        ));
    }
    let reload = reload.to_string();
    let mut findings = Vec::new();
    let mut same = Vec::new();
    match &place.storage {
        Storage::Bind(source) => {
            let host = below(source, &place.sub);
            for d in served {
                if Path::new(&trim_dir(&d.dir)) == host {
                    same.push(d.dir.clone());
                    continue;
                }
                let whose = if trim_dir(&d.dir) == trim_dir(path) {
                    format!(", the path inside the {} container", v.app.service)
                } else {
                    String::new()
                };
                findings.push(
                    Finding::error(format!(
                        "nginx on this machine opens {}{whose} for {}; the {} container's {name} ({path}) is the host directory {}",
                        d.dir,
                        d.prefix,
                        v.app.service,
                        host.display()
                    ))
                    .at(d.at.clone())
                    .evidence(name, place.describe())
                    .fix_with_block(
                        "serve the host directory the container writes to:",
                        &[format!("location {} {{ alias {}/; }}", d.prefix, host.display())],
                        vec![reload.clone()],
                    ),
                );
            }
        }
        Storage::Volume(vol) => {
            let project = v.project_name();
            let host = v.dep.project.dir.join(if files == Files::Media {
                "media"
            } else {
                "static"
            });
            let spec =
                volume_spec(v.dep, &Storage::Bind(host.clone()), path, false).unwrap_or_default();
            for d in served {
                findings.push(
                    Finding::error(format!(
                        "nginx on this machine serves {} from {}, but the {} container's {name} is the named volume {vol}: Docker keeps it in /var/lib/docker/volumes/{project}_{vol}/_data, which nginx's user cannot enter",
                        d.prefix, d.dir, v.app.service
                    ))
                    .at(d.at.clone())
                    .evidence(name, place.describe())
                    .fix_with_block(
                        format!(
                            "bind-mount a host directory instead of the volume in the {} service ({}), and serve it:",
                            v.app.service,
                            v.rel(&v.app_c.service.at.file)
                        ),
                        &[
                            "services:".to_string(),
                            format!("  {}:", v.app.service),
                            "    volumes:".into(),
                            format!("      - {spec}"),
                            format!(
                                "and in the nginx config: location {} {{ alias {}/; }}",
                                d.prefix,
                                host.display()
                            ),
                        ],
                        vec![format!("{} up -d", v.compose()), reload.clone()],
                    ),
                );
            }
        }
        other => {
            return Verdict::Skip(format!(
                "{name} is {} in the {} container (MD601/MD604)",
                other.describe(),
                v.app.service
            ))
        }
    }
    if findings.is_empty() {
        return Verdict::Pass(format!(
            "nginx on this machine serves {} from {}, the host directory the {} container's {name} is bind-mounted from",
            served[0].prefix,
            same.join(", "),
            v.app.service
        ));
    }
    Verdict::Findings(findings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::App;
    use crate::sysroot::SysRoot;

    // The compose fixtures, a broken variant assembled from its base and its variant.toml.
    mod compose_variant {
        include!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/it/compose_variant.rs"
        ));
    }
    use compose_variant::compose_project;

    /// Every verdict on a fixture, in check order, as (id, verdict).
    fn verdicts(
        name: &str,
        app_dir: &str,
        fw: Framework,
        media: &str,
        stat: &str,
    ) -> Vec<(&'static str, Verdict)> {
        let root = SysRoot::live();
        let project = compose_project(name);
        let dir = project.dir.clone();
        let conf = dir.join(if fw == Framework::Django {
            "nginx/nginx.conf"
        } else {
            "services/nginx/nginx.conf"
        });
        let dep = Deployment::find(&root, &[], &dir, Some(&conf)).expect("compose project");
        let app_c = dep.app_container(&dir.join(app_dir)).expect("app service");
        let nginx_c = dep.nginx_container(Some(&conf));
        let host = App::new(fw, dir.join(app_dir), "--app");
        let ca = super::super::app::read(&root, app_c, &host);
        let v = View {
            dep: &dep,
            app: &ca,
            app_c,
            nginx_c,
        };
        let nd = |prefix: &str, d: &str| {
            vec![NginxDir {
                prefix: prefix.into(),
                dir: d.into(),
                alias: true,
                at: Location::new(conf.display().to_string(), 1),
            }]
        };
        let (m, s) = (nd("/media/", media), nd("/static/", stat));
        vec![
            ("MD601", uploads_on_volume(&v, &m)),
            (
                "MD602",
                merge(
                    nginx_dir_mounted(&v, Files::Media, &m),
                    nginx_dir_mounted(&v, Files::Static, &s),
                ),
            ),
            (
                "MD603",
                merge(
                    alias_own_path(&v, Files::Media, &m),
                    alias_own_path(&v, Files::Static, &s),
                ),
            ),
            ("MD604", static_root_on_volume(&v, &s)),
            ("MD605", media_owner(&v)),
            ("MD606", volume_over_image(&v, &root)),
        ]
    }

    fn merge(a: Verdict, b: Verdict) -> Verdict {
        match (a, b) {
            (Verdict::Findings(mut x), Verdict::Findings(y)) => {
                x.extend(y);
                Verdict::Findings(x)
            }
            (f @ Verdict::Findings(_), _) | (_, f @ Verdict::Findings(_)) => f,
            (p @ Verdict::Pass(_), _) | (_, p @ Verdict::Pass(_)) => p,
            (s, _) => s,
        }
    }

    fn first_finding(v: &[(&'static str, Verdict)]) -> Option<(&'static str, String)> {
        v.iter().find_map(|(id, v)| match v {
            Verdict::Findings(f) => Some((*id, f[0].message.clone())),
            _ => None,
        })
    }

    const D_MEDIA: &str = "/home/app/web/mediafiles/";
    const D_STATIC: &str = "/home/app/web/staticfiles/";

    fn django(name: &str) -> Vec<(&'static str, Verdict)> {
        verdicts(name, "app", Framework::Django, D_MEDIA, D_STATIC)
    }

    #[test]
    fn django_on_docker_is_right() {
        let v = django("django-on-docker");
        assert_eq!(first_finding(&v), None, "{v:#?}");
        for (id, verdict) in &v {
            if *id != "MD606" {
                assert!(matches!(verdict, Verdict::Pass(_)), "{id}: {verdict:?}");
            }
        }
    }

    #[test]
    fn each_broken_django_fails_on_its_cause_first() {
        for (name, id, words) in [
            ("django-media-not-on-volume", "MD601", "writable layer"),
            ("django-nginx-without-media", "MD602", "nothing is mounted"),
            ("django-alias-app-path", "MD603", "/usr/share/nginx/media"),
            (
                "django-static-off-volume",
                "MD604",
                "collectstatic writes where nginx never looks",
            ),
            ("django-media-owned-by-root", "MD605", "belongs to root"),
            ("django-stale-static", "MD606", "every later build"),
        ] {
            let v = django(name);
            let (got, msg) =
                first_finding(&v).unwrap_or_else(|| panic!("{name}: no finding {v:#?}"));
            assert_eq!(got, id, "{name}: {msg}");
            assert!(msg.contains(words), "{name}: {msg}");
        }
    }

    #[test]
    fn fixes_name_the_file_the_service_and_the_command() {
        let v = django("django-media-owned-by-root");
        let Verdict::Findings(f) = &v[4].1 else {
            panic!("{v:#?}")
        };
        let fix = f[0].remediation.as_ref().unwrap();
        assert!(
            fix.text.contains(
                "RUN mkdir -p /home/app/web/mediafiles && chown app:app /home/app/web/mediafiles"
            ),
            "{}",
            fix.text
        );
        assert!(fix.text.contains("Dockerfile.prod"), "{}", fix.text);
        assert_eq!(
            fix.commands,
            vec!["docker compose -f docker-compose.prod.yml exec -u root web chown -R app:app /home/app/web/mediafiles"]
        );
        let v = django("django-nginx-without-media");
        let Verdict::Findings(f) = &v[1].1 else {
            panic!("{v:#?}")
        };
        let fix = f[0].remediation.as_ref().unwrap();
        assert!(
            fix.text
                .contains("- media_volume:/home/app/web/mediafiles:ro"),
            "{}",
            fix.text
        );
        let v = django("django-alias-app-path");
        let Verdict::Findings(f) = &v[2].1 else {
            panic!("{v:#?}")
        };
        let fix = f[0].remediation.as_ref().unwrap();
        assert!(
            fix.text
                .contains("location /media/ { alias /usr/share/nginx/media/; }"),
            "{}",
            fix.text
        );
        assert_eq!(
            fix.commands,
            vec!["docker compose -f docker-compose.prod.yml up -d --build nginx"]
        );
    }

    #[test]
    fn flask_on_docker() {
        let v = verdicts(
            "flask-on-docker",
            "services/web",
            Framework::Flask,
            "/home/app/web/project/media/",
            "/home/app/web/project/static/",
        );
        let (id, msg) =
            first_finding(&v).expect("the static volume over the image's static folder");
        assert_eq!(id, "MD606", "{msg}");
        assert!(msg.contains("static_volume"), "{msg}");
        assert!(
            matches!(&v[0].1, Verdict::Pass(p) if p.contains("media_volume")),
            "{v:#?}"
        );
        let v = verdicts(
            "flask-nginx-without-media",
            "services/web",
            Framework::Flask,
            "/home/app/web/project/media/",
            "/home/app/web/project/static/",
        );
        assert_eq!(first_finding(&v).unwrap().0, "MD602", "{v:#?}");
    }

    #[test]
    fn an_env_file_out_of_git_makes_the_path_unknown_with_the_variable_named() {
        let d = tempfile::tempdir().unwrap();
        let src = compose_project("flask-on-docker").dir;
        for e in walkdir::WalkDir::new(&src)
            .into_iter()
            .filter_map(|e| e.ok())
        {
            let rel = e.path().strip_prefix(&src).unwrap();
            let to = d.path().join(rel);
            if e.file_type().is_dir() {
                std::fs::create_dir_all(&to).unwrap();
            } else if rel != std::path::Path::new(".env.prod") {
                std::fs::copy(e.path(), &to).unwrap();
            }
        }
        let root = SysRoot::live();
        let dep = Deployment::find(
            &root,
            &[],
            d.path(),
            Some(&d.path().join("services/nginx/nginx.conf")),
        )
        .unwrap();
        let app_c = dep.app_container(&d.path().join("services/web")).unwrap();
        let host = App::new(Framework::Flask, d.path().join("services/web"), "--app");
        let ca = super::super::app::read(&root, app_c, &host);
        let v = View {
            dep: &dep,
            app: &ca,
            app_c,
            nginx_c: dep.nginx_container(None),
        };
        match uploads_on_volume(&v, &[]) {
            Verdict::Skip(why) => {
                assert!(why.contains("APP_FOLDER"), "{why}");
                assert!(why.contains(".env.prod"), "{why}");
                assert!(!why.contains("None/"), "{why}");
            }
            other => panic!("{other:?}"),
        }
    }
}
