//! What the MD6xx (containers) checks share: the compose project of the run, the directories
//! nginx opens for the app's media and static URLs (from the resolver), and a verdict of
//! `container::judge` as an `Outcome`. The judging itself is in src/container/judge.rs.

use crate::checks::{Context, Outcome};
use crate::container::judge::{Files, NginxDir, Verdict};
use crate::container::{Containers, NotContainers};
use crate::nginx::resolve::ServedKind;

/// The run's containers, or the skip every MD6xx check answers without them.
pub(crate) fn containers<'a>(site: &'a Context<'_>) -> Result<&'a Containers, Outcome> {
    match site.containers() {
        Ok(c) => Ok(c),
        Err(NotContainers::NoCompose) => Err(Outcome::skip(
            "no compose project: the app does not run in containers (no compose file beside --app, no --compose)",
        )),
        Err(NotContainers::NoAppService(why)) => Err(Outcome::skip(why.clone())),
    }
}

/// The directories nginx opens for the app's media (or static) URL, one per server serving it
/// from disk: paths in the nginx container.
pub(crate) fn nginx_dirs(site: &Context<'_>, c: &Containers, files: Files) -> Vec<NginxDir> {
    let app = &c.app.app;
    let url = match files {
        Files::Media => app.media_url_path(),
        Files::Static => app.static_url_path(),
    };
    let Some(prefix) = url.or_else(|| {
        // Read on the host when the container's reading has none (same files, other env).
        site.app().and_then(|a| match files {
            Files::Media => a.media_url_path(),
            Files::Static => a.static_url_path(),
        })
    }) else {
        return Vec::new();
    };
    let resolver = site.resolver();
    site.nginx
        .servers
        .iter()
        .filter_map(|&server| resolver.served_prefix(server, &prefix))
        .map(|s| NginxDir {
            prefix: prefix.clone(),
            dir: s.dir.display().to_string(),
            alias: s.kind == ServedKind::Alias,
            at: site
                .config()
                .directive(s.location.unwrap_or(s.server))
                .location(),
        })
        .collect()
}

pub(crate) fn outcome(v: Verdict) -> Outcome {
    match v {
        Verdict::Pass(s) => Outcome::pass(s),
        Verdict::Skip(s) => Outcome::skip(s),
        Verdict::Findings(f) => Outcome::findings(f),
    }
}

/// Two verdicts (media and static) as one: findings of both, else a pass, else a skip.
pub(crate) fn both(a: Verdict, b: Verdict) -> Verdict {
    match (a, b) {
        (Verdict::Findings(mut x), Verdict::Findings(y)) => {
            x.extend(y);
            Verdict::Findings(x)
        }
        (f @ Verdict::Findings(_), _) | (_, f @ Verdict::Findings(_)) => f,
        (Verdict::Pass(x), Verdict::Pass(y)) => Verdict::Pass(format!("{x}; {y}")),
        (p @ Verdict::Pass(_), _) | (_, p @ Verdict::Pass(_)) => p,
        (s, _) => s,
    }
}

/// Where a directory of the site is, seen from this machine, in a compose run.
pub(crate) enum Seen {
    /// A host directory (a bind mount's), which the filesystem checks can judge.
    Host(std::path::PathBuf),
    /// Only inside a container (a named volume, the container's layer...): described.
    Inside(String),
}

/// A directory nginx opens, in a compose run: through the nginx service's mounts (nginx on the
/// host, when no service runs it, opens the host path itself).
pub(crate) fn nginx_dir_seen(c: &Containers, dir: &std::path::Path) -> Seen {
    use crate::container::mounts::Storage;
    let Some(n) = c.nginx_container() else {
        return Seen::Host(dir.to_path_buf());
    };
    let place = n.locate(&dir.display().to_string());
    match &place.storage {
        Storage::Bind(h) => Seen::Host(h.join(&place.sub)),
        _ => Seen::Inside(format!(
            "{} in the {} container",
            place.describe(),
            n.name()
        )),
    }
}

/// The app's MEDIA_ROOT (or STATIC_ROOT) in a compose run; `None` when it is not known.
pub(crate) fn app_dir_seen(c: &Containers, files: Files) -> Option<Seen> {
    use crate::container::mounts::Storage;
    let cp = match files {
        Files::Media => &c.app.media_root,
        Files::Static => &c.app.static_root,
    };
    let place = cp.place.as_ref()?;
    Some(match &place.storage {
        Storage::Bind(h) => Seen::Host(h.join(&place.sub)),
        _ => Seen::Inside(format!(
            "{} in the {} container",
            place.describe(),
            c.app.service
        )),
    })
}

/// The skip of a filesystem check whose subject is inside the compose project's containers.
pub(crate) fn inside_containers(c: &Containers, what: &str) -> Outcome {
    Outcome::skip(format!(
        "{what} inside the containers of {} (app: {}{}): the MD6xx checks judge them from the compose file and the Dockerfiles",
        c.deployment
            .project
            .files
            .iter()
            .filter_map(|f| f.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" + "),
        c.app_service,
        c.nginx_service
            .as_ref()
            .map(|n| format!(", nginx: {n}"))
            .unwrap_or_default()
    ))
}

/// MD302/MD304 in a compose run: the directory nginx opens and the app's directory are the same
/// files (same storage, same path inside it), whatever their paths in each container.
pub(crate) fn root_aligned_in_containers(
    site: &Context<'_>,
    c: &Containers,
    files: Files,
) -> Outcome {
    let v = c.view();
    let dirs = nginx_dirs(site, c, files);
    let name = v.root_name(files);
    let cp = match files {
        Files::Media => &c.app.media_root,
        Files::Static => &c.app.static_root,
    };
    let Some(app_place) = &cp.place else {
        return Outcome::skip(format!(
            "{name} in the {} container: {}",
            c.app_service,
            cp.path.describe()
        ));
    };
    if dirs.is_empty() {
        return Outcome::skip(format!(
            "no server of the site serves the {} URL from disk (MD303/MD305 and MD106 say where it goes)",
            if files == Files::Media { "media" } else { "static" }
        ));
    }
    let Some(n) = c.nginx_container() else {
        return Outcome::skip(
            "nginx is not a service of the compose project: MD608 judges the directory it opens on this machine",
        );
    };
    let mut same = Vec::new();
    for d in &dirs {
        let np = n.locate(&d.dir);
        if np.same_files(app_place) {
            same.push(format!("{} → {}", d.prefix, np.describe()));
        } else if files == Files::Static && c.app.app.whitenoise.value() == Some(&true) {
            // The URL reaches nginx only by its server's default root; the app serves it.
            return Outcome::pass(format!(
                "WhiteNoise serves {} from {name} ({}) inside the {} container; nginx maps it only to {} (its front proxy sends it to the app)",
                d.prefix, app_place.path, c.app_service, d.dir
            ));
        } else {
            return Outcome::skip(format!(
                "nginx's {} ({} in the {} container) and {name} ({} in the {} container) are not the same files: MD601-MD604 say why and how to fix it",
                d.dir,
                np.storage.describe(),
                n.name(),
                app_place.path,
                c.app_service
            ));
        }
    }
    Outcome::pass(format!(
        "{name} is where nginx reads, across containers: {} (the {} container's {})",
        same.join("; "),
        c.app_service,
        app_place.path
    ))
}
