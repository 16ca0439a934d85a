//! MD201 roots-exist: every root/alias target, MEDIA_ROOT and STATIC_ROOT exists and is a
//! directory.
//! The page: checks/MD201.md.

use super::shared::fs::*;
use super::shared::nginx::config_fix;
use super::{Band, Check, Context, Meta, Outcome};
use crate::fs::walk::{shell_quote, walk_cached, WalkCache};
use crate::fs::{Access, Identity, Outcome as WalkOutcome};
use crate::nginx::resolve::served::{ServedDir, ServedDirs};
use crate::nginx::resolve::ServedKind;
use crate::report::{Finding, Location, Severity};
use crate::site::Site;
use std::path::{Path, PathBuf};

/// MD201: every root/alias target, MEDIA_ROOT and STATIC_ROOT exists and is a directory.
pub struct RootsExist;

static ROOTS_EXIST: Meta = Meta {
    id: "MD201",
    name: "roots-exist",
    band: Band::Filesystem,
    summary: "every root/alias target, MEDIA_ROOT and STATIC_ROOT exists and is a directory",
    docs: include_str!("../../checks/MD201.md"),
};

impl Check for RootsExist {
    fn meta(&self) -> &'static Meta {
        &ROOTS_EXIST
    }

    fn run(&self, site: &Context<'_>) -> anyhow::Result<Outcome> {
        super::collected(|sink| self.run_into(site, sink))
    }

    /// A finding per served directory (one site of 360,000 servers has as many), each handed
    /// over as it is made.
    fn run_into(
        &self,
        site: &Context<'_>,
        sink: &mut dyn FnMut(Finding),
    ) -> anyhow::Result<Outcome> {
        // Apache's directories when it is the server judged (its Alias targets and
        // DocumentRoots), else nginx's roots and aliases.
        let apache = site
            .apache()
            .map(|(a, _)| super::shared::apache::served_dirs(a));
        let none = ServedDirs::default();
        let served = match apache {
            Some(_) => &none,
            None => site.served_dirs(),
        };
        // Apache's directories and the app's settings, as (directory, what, where); nginx's
        // served directories are read in place (`Targets`): one site of 360,000 servers has as
        // many, and a copy of each (its path, its words, its place) was ~200 bytes.
        let mut named: Vec<(PathBuf, String, Option<Location>)> = match &apache {
            Some(dirs) => dirs
                .iter()
                .map(|s| {
                    let what = match s.kind {
                        "Alias" => format!("Alias {} target", s.url),
                        kind => kind.to_string(),
                    };
                    (s.dir.clone(), what, Some(s.at.clone()))
                })
                .collect(),
            None => Vec::new(),
        };
        if let Some(app) = site.app() {
            for (name, s) in [
                ("MEDIA_ROOT", &app.media_root),
                ("STATIC_ROOT", &app.static_root),
            ] {
                if let Some(p) = setting_path(s) {
                    named.push((p.to_path_buf(), name.to_string(), setting_at(s)));
                }
            }
        }
        let mut targets = Targets {
            served,
            named,
            cfg: site.config(),
        };
        let app_dir = site.app().map(|a| a.dir.clone());
        // In a compose run the paths are in containers: only a bind mount's host directory is
        // on this machine to look at; the rest is the MD6xx checks' business.
        let mut inside = Vec::new();
        if let Ok(c) = site.containers() {
            targets = Targets {
                served: &none,
                named: in_containers(c, targets.into_named(), &mut inside),
                cfg: site.config(),
            };
            if targets.len() == 0 {
                return Ok(super::shared::containers::inside_containers(
                    c,
                    &format!("the {} directories are", inside.len()),
                ));
            }
        }
        if targets.len() == 0 {
            return Ok(Outcome::skip(
                "no root/alias directory in the site's servers and no app settings",
            ));
        }
        // Sorted indexes, not sets: a big config serves hundreds of thousands of directories
        // (4 bytes each, where a hash set of borrowed keys was ~40).
        let path_of = |i| served.get(i).expect("a served directory").dir;
        let served_by = FirstByDir::new(served.len(), path_of);
        let repeated = targets.repeated();
        // Whether every finding is an info (the summary says how many directories are there).
        let mut clean = true;
        let mut push = |f: Finding| {
            clean &= f.severity == Severity::Info;
            sink(f)
        };
        // The directories on the way (`/`, `/srv`, `/srv/www` ...) read once for every target:
        // one site of 360,000 servers has as many, most under the same few parents.
        let cache = WalkCache::new(&site.root);
        let root = Identity::root();
        let mut n = 0;
        for i in (0..targets.len()).filter(|&i| !repeated[i]) {
            n += 1;
            let (dir, what, at) = (targets.dir(i), targets.what(i), targets.at(i));
            let what = what.as_str();
            // Existence is asked as root: who may see it is MD202's question.
            let w = walk_cached(&site.root, &cache, dir, &root, Access::EXEC, true);
            let problem = match &w.outcome {
                WalkOutcome::Found { is_dir: true } => None,
                WalkOutcome::Found { is_dir: false } => {
                    Some(format!("{} ({what}) is not a directory", dir.display()))
                }
                WalkOutcome::Missing { at } if at == dir => {
                    Some(format!("{} ({what}) does not exist", dir.display()))
                }
                WalkOutcome::Missing { at } => Some(format!(
                    "{} ({what}) does not exist: {} is missing",
                    dir.display(),
                    at.display()
                )),
                WalkOutcome::NotADirectory { at } => Some(format!(
                    "{} ({what}) cannot exist: {} is not a directory",
                    dir.display(),
                    at.display()
                )),
                WalkOutcome::SymlinkLoop { at } => Some(format!(
                    "{} ({what}) is unreachable: symlink loop at {}",
                    dir.display(),
                    at.display()
                )),
                WalkOutcome::CannotVerify { why, .. } => {
                    let mut f = Finding::warning(format!(
                        "cannot tell whether {} ({what}) exists: {why}",
                        dir.display()
                    ))
                    .evidence("path", dir.display());
                    if let Some(at) = at {
                        f = f.at(at);
                    }
                    push(f);
                    continue;
                }
                WalkOutcome::Denied { .. } => None,
            };
            match problem {
                Some(msg) => {
                    let mut f = with_walk(Finding::error(msg).evidence("path", dir.display()), &w);
                    if let Some(at) = at {
                        f = f.at(at);
                    }
                    // An Alias on a missing directory while the app's root for its URL path
                    // exists: the Alias is what is wrong; MD302/MD304 print its proven edit.
                    if let Some(text) = apache
                        .as_ref()
                        .and_then(|dirs| dirs.iter().find(|s| s.dir == dir))
                        .and_then(|s| apache_to_app_dir(site, s))
                    {
                        push(f.fix(text, Vec::new()));
                        continue;
                    }
                    let served_dir = served_by.find(dir, path_of).and_then(|i| served.get(i));
                    // nginx's directory is gone and the app's is there: the config is what
                    // is wrong, not the disk (creating an empty directory serves nothing).
                    if let Some((intro, edit, goal)) = served_dir.and_then(|s| to_app_dir(site, s))
                    {
                        push(config_fix(f, site.config(), &intro, edit, goal));
                        continue;
                    }
                    let (text, cmds) =
                        missing_fix(site, dir, &what, served_dir, app_dir.as_deref());
                    push(f.fix(text, cmds));
                }
                None => push(
                    Finding::info(format!("{} ({what}) exists", dir.display()))
                        .evidence("path", dir.display()),
                ),
            }
        }
        let also = if inside.is_empty() {
            String::new()
        } else {
            format!("; {} only inside containers (MD6xx)", inside.len())
        };
        let outcome = Outcome::default();
        Ok(if clean {
            outcome.with_summary(format!(
                "{} present{also}",
                plural(n as u64, "directory", "directories")
            ))
        } else {
            outcome
        })
    }
}

/// What MD201 looks at, in order: nginx's served directories (read in place), then the named
/// ones (Apache's directories, MEDIA_ROOT and STATIC_ROOT, or a compose run's host paths).
struct Targets<'a> {
    served: &'a ServedDirs,
    named: Vec<(PathBuf, String, Option<Location>)>,
    cfg: &'a crate::nginx::Config,
}

/// What a target is, as its findings say it: `root of location /media/`, `MEDIA_ROOT`, ...
#[derive(PartialEq, Eq, PartialOrd, Ord)]
enum What<'a> {
    /// A served directory's directive and its location's prefix.
    Served(ServedKind, &'a str),
    Named(&'a str),
}

impl What<'_> {
    fn as_str(&self) -> std::borrow::Cow<'_, str> {
        match self {
            What::Served(kind, prefix) => format!("{kind} of location {prefix}").into(),
            What::Named(what) => (*what).into(),
        }
    }
}

impl Targets<'_> {
    fn len(&self) -> usize {
        self.served.len() + self.named.len()
    }

    fn dir(&self, i: usize) -> &Path {
        match self.served.get(i) {
            Some(s) => s.dir,
            None => &self.named[i - self.served.len()].0,
        }
    }

    /// Equal `What`s say the same words (a served directory's never name a setting).
    fn what(&self, i: usize) -> What<'_> {
        match self.served.get(i) {
            Some(s) => What::Served(s.kind, s.prefix),
            None => What::Named(&self.named[i - self.served.len()].1),
        }
    }

    fn at(&self, i: usize) -> Option<Location> {
        match self.served.get(i) {
            Some(s) => Some(s.at(self.cfg)),
            None => self.named[i - self.served.len()].2.clone(),
        }
    }

    /// Every target as (directory, what, where), the served directories' words written out.
    fn into_named(self) -> Vec<(PathBuf, String, Option<Location>)> {
        let mut all: Vec<_> = (0..self.served.len())
            .map(|i| {
                let what = self.what(i).as_str().into_owned();
                (self.dir(i).to_path_buf(), what, self.at(i))
            })
            .collect();
        all.extend(self.named);
        all
    }

    /// Per target: whether an earlier one names the same directory in the same words (one
    /// finding for both).
    fn repeated(&self) -> Vec<bool> {
        let mut order: Vec<u32> = (0..self.len() as u32).collect();
        let key = |i: u32| (self.dir(i as usize), self.what(i as usize), i);
        order.sort_unstable_by(|&a, &b| key(a).cmp(&key(b)));
        let mut repeated = vec![false; self.len()];
        for pair in order.windows(2) {
            let (a, b) = (pair[0] as usize, pair[1] as usize);
            repeated[b] = self.dir(a) == self.dir(b) && self.what(a) == self.what(b);
        }
        repeated
    }
}

/// For a missing directory that a location serves for the app's MEDIA_URL/STATIC_URL, while
/// the app's MEDIA_ROOT/STATIC_ROOT exists: the edit that serves the prefix from the app's.
fn to_app_dir(
    site: &Site,
    s: ServedDir<'_>,
) -> Option<(
    String,
    crate::fix::BlockEdit,
    Option<crate::report::edit::Goal>,
)> {
    let location = s.location.filter(|_| !s.regex)?;
    // `root` + the prefix is missing but `root` holds the files: alias (MD103's edit, so the
    // two merge into one block; a prefix without its slash gets one, see `alias_edit`). Only
    // when the root ends with the prefix (`root /srv/media` for /media/, MD103's mistake): a
    // root that exists but does not name the prefix (`root /usr/share/nginx/html` for
    // /api/docs/, whose files a container image adds) says nothing of where the files are.
    let exact = site.config().directive(location).arg(0) == Some("=");
    if s.kind == ServedKind::Root && s.prefix != "/" && !exact {
        let shown = s.dir.display().to_string();
        let root = shown
            .strip_suffix(s.prefix.trim_end_matches('/'))
            .unwrap_or(&shown)
            .trim_end_matches('/');
        let root = Path::new(root);
        let names_prefix = root.ends_with(s.prefix.trim_matches('/'));
        if !root.as_os_str().is_empty() && names_prefix && site.root.is_dir(root) {
            let edit = super::shared::nginx::alias_edit(site.config(), location, root)?;
            let r = site.resolver();
            let goal = super::shared::nginx::goal_in_dir(site, &r, s.server, s.prefix, root);
            // MD103's words: the two fixes are one block with one line above it.
            return Some((
                "use alias (root appends the whole URI, prefix included):".into(),
                edit,
                goal,
            ));
        }
    }
    let app = site.app()?;
    let same = |url: Option<&String>| {
        url.and_then(|u| crate::app::App::url_path(u))
            .is_some_and(|u| u.trim_end_matches('/') == s.prefix.trim_end_matches('/'))
    };
    let (name, root) = if same(app.media_url.value()) {
        ("MEDIA_ROOT", app.media_root.value()?)
    } else if same(app.static_url.value()) {
        ("STATIC_ROOT", app.static_root.value()?)
    } else {
        return None;
    };
    if **root == *s.dir || !site.root.is_dir(root) {
        return None;
    }
    let edit = super::shared::nginx::alias_edit(site.config(), location, root)?;
    let r = site.resolver();
    let goal = super::shared::nginx::goal_in_dir(site, &r, s.server, s.prefix, root);
    Some((
        format!(
            "the app's {name} is {} (it exists): serve {} from it:",
            root.display(),
            s.prefix
        ),
        edit,
        goal,
    ))
}

/// For a missing Alias target whose URL path is the app's MEDIA_URL/STATIC_URL, while the app's
/// MEDIA_ROOT/STATIC_ROOT exists: what to do (the edit itself is MD302's/MD304's, proven there).
fn apache_to_app_dir(site: &Site, s: &super::shared::apache::ServedDir) -> Option<String> {
    if s.kind != "Alias" {
        return None;
    }
    let app = site.app()?;
    let same = |url: Option<&String>| {
        url.and_then(|u| crate::app::App::url_path(u))
            .is_some_and(|u| u.trim_end_matches('/') == s.url.trim_end_matches('/'))
    };
    let (name, root, check) = if same(app.media_url.value()) {
        ("MEDIA_ROOT", app.media_root.value()?, "MD302")
    } else if same(app.static_url.value()) {
        ("STATIC_ROOT", app.static_root.value()?, "MD304")
    } else {
        return None;
    };
    if root == &s.dir || !site.root.is_dir(root) {
        return None;
    }
    Some(format!(
        "the app's {name} is {} (it exists): the Alias {} at {} should name it (creating an \
         empty {} serves nothing); {check} prints the edit of that Alias, proven on a copy",
        root.display(),
        s.url,
        s.at,
        s.dir.display()
    ))
}

/// What to do about a missing directory: the config fix when the location repeats its prefix
/// under `root`, collectstatic for STATIC_ROOT, else create it (media: owned by the app's user).
fn missing_fix(
    site: &Site,
    dir: &Path,
    what: &str,
    served: Option<ServedDir<'_>>,
    app_dir: Option<&Path>,
) -> (String, Vec<String>) {
    let q = shell_quote(&dir.display().to_string());
    if let Some(s) = served.filter(|s| s.kind == ServedKind::Root && s.prefix != "/") {
        // root + prefix = dir: the root is dir without the prefix.
        let shown = s.dir.display().to_string();
        let root = shown
            .strip_suffix(s.prefix.trim_end_matches('/'))
            .unwrap_or(&shown)
            .trim_end_matches('/');
        if !root.is_empty() && site.root.is_dir(Path::new(root)) {
            let slash = if s.prefix.ends_with('/') { "/" } else { "" };
            return (
                // The config block goes in the text: `commands` are shell commands only.
                format!(
                    "nginx looks for {} files in root + URI = {}; if they are in {root}, use \
                     alias instead of root (MD103):\n    location {} {{ alias {root}{slash}; }}",
                    s.prefix,
                    dir.display(),
                    s.prefix
                ),
                vec![site.reload_command()],
            );
        }
    }
    if what == "STATIC_ROOT" {
        // With the app's interpreter, as the app's user (fix::commands): never a bare `python`.
        return match site
            .app()
            .map(|a| crate::fix::commands::manage_py(a, "collectstatic --noinput"))
        {
            Some(Ok(cmd)) => ("collectstatic creates and fills it:".into(), vec![cmd]),
            Some(Err(_)) | None if app_dir.is_some() => (
                format!(
                    "collectstatic creates and fills it: run `manage.py collectstatic --noinput` \
                     in {} with the app's interpreter, as the app's user ({})",
                    app_dir.map(|d| d.display().to_string()).unwrap_or_default(),
                    site.app()
                        .and_then(|a| crate::fix::commands::manage_py(a, "").err())
                        .unwrap_or_else(|| "the app is unknown".into())
                ),
                Vec::new(),
            ),
            _ => (
                "collectstatic creates and fills it: run `manage.py collectstatic --noinput` \
                 with the app's interpreter, as the app's user"
                    .into(),
                Vec::new(),
            ),
        };
    }
    if what == "MEDIA_ROOT" {
        return match site.app().and_then(|a| a.user.clone()) {
            Some(owner) => (
                "create it, owned by the app's user (uploads are written there):".into(),
                vec![format!(
                    "sudo install -d -o {} -m 2775 {q}",
                    shell_quote(&owner)
                )],
            ),
            // No user to print: a placeholder pasted as printed makes `install` fail.
            None => (
                format!(
                    "create it, owned by the user the app runs as (uploads are written there): \
                     media-doctor could not tell that user (no running app server or unit names \
                     one; a profile's app_user does). Decide it, then create {} with \
                     `sudo install -d -o` that user `-m 2775`",
                    dir.display()
                ),
                Vec::new(),
            ),
        };
    }
    (
        "correct the path in the config, or create the directory:".into(),
        vec![format!("sudo mkdir -p {q}")],
    )
}

/// The targets as this machine sees them in a compose run: nginx's directories through the
/// nginx service's mounts, MEDIA_ROOT/STATIC_ROOT as the app container has them; a bind mount's
/// host directory is kept (its existence is this check's question), the rest goes to `inside`.
fn in_containers(
    c: &crate::container::Containers,
    targets: Vec<(PathBuf, String, Option<Location>)>,
    inside: &mut Vec<String>,
) -> Vec<(PathBuf, String, Option<Location>)> {
    use super::shared::containers::{app_dir_seen, nginx_dir_seen, Seen};
    use crate::container::judge::Files;
    let mut out = Vec::new();
    for (dir, what, at) in targets {
        let seen = match what.as_str() {
            "MEDIA_ROOT" => app_dir_seen(c, Files::Media),
            "STATIC_ROOT" => app_dir_seen(c, Files::Static),
            _ => Some(nginx_dir_seen(c, &dir)),
        };
        match seen {
            Some(Seen::Host(h)) => out.push((h, what, at)),
            Some(Seen::Inside(d)) => inside.push(format!("{what}: {d}")),
            None => inside.push(what),
        }
    }
    out
}
