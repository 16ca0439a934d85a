//! What the fs checks share.
//!
//! MD2xx: the filesystem, on the real files, as the real users (nginx's worker, the app's user).
//!
//! Every check here reads the tree through fs::walk (one path) or fs::scan (a whole tree); the
//! decisions come from the metadata as the kernel makes them, and on the live system as root they
//! are checked as the user (a disagreement is itself a finding).

use crate::app::App;
use crate::checks::Outcome;
use crate::fs::scan::{self, group_digits};
use crate::fs::walk::{self, Walk};
use crate::fs::Identity;
use crate::nginx::resolve::served::ServedDirs;
use crate::report::{Finding, Location};
use crate::site::Site;
use std::path::{Path, PathBuf};

pub(crate) const NO_APP: &str = "no app settings found";

pub(crate) fn worker(site: &Site) -> Result<&Identity, Outcome> {
    site.worker().identity().map_err(Outcome::skip)
}

/// The directories the server judged serves files from (nginx's roots and aliases, or Apache's
/// Alias targets and DocumentRoots), each with the directive that names it, and the user that
/// server opens them as: what the filesystem checks walk, written once for both servers.
pub(crate) struct ServedFiles<'a> {
    pub who: &'a Identity,
    /// The server, as the report names it (`nginx`, `Apache`).
    pub server: &'static str,
    /// Where the user comes from.
    pub source: String,
    pub dirs: ServedList<'a>,
}

pub(crate) fn served_files<'a>(
    cx: &'a crate::checks::Context<'_>,
) -> Result<ServedFiles<'a>, Outcome> {
    let (server, dirs) = served_dirs_of(cx);
    let (who, source) = served_user(cx)?;
    Ok(ServedFiles {
        who,
        server,
        source,
        dirs,
    })
}

/// The server judged (as the report names it) and the directories it serves files from.
pub(crate) fn served_dirs_of<'a>(
    cx: &'a crate::checks::Context<'_>,
) -> (&'static str, ServedList<'a>) {
    match cx.apache() {
        Some((a, _)) => (
            "Apache",
            ServedList::Apache(
                super::apache::served_dirs(a)
                    .into_iter()
                    .map(|s| (s.dir, s.at))
                    .collect(),
            ),
        ),
        None => ("nginx", ServedList::Nginx(cx.served_dirs(), cx.config())),
    }
}

/// The directories the server judged serves files from, in order, each with the directive that
/// names it: nginx's read in place from the site's served directories (one site of 360,000
/// servers has as many; a copy of each path and place was ~130 bytes), Apache's listed.
pub(crate) enum ServedList<'a> {
    Nginx(&'a ServedDirs, &'a crate::nginx::Config),
    Apache(Vec<(PathBuf, Location)>),
}

impl ServedList<'_> {
    pub fn len(&self) -> usize {
        match self {
            ServedList::Nginx(dirs, _) => dirs.len(),
            ServedList::Apache(dirs) => dirs.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn dir(&self, i: usize) -> &Path {
        match self {
            ServedList::Nginx(dirs, _) => dirs.get(i).expect("a served directory").dir,
            ServedList::Apache(dirs) => &dirs[i].0,
        }
    }

    /// Where the directive naming directory `i` is.
    pub fn at(&self, i: usize) -> Location {
        match self {
            ServedList::Nginx(dirs, cfg) => dirs.get(i).expect("a served directory").at(cfg),
            ServedList::Apache(dirs) => dirs[i].1.clone(),
        }
    }

    /// Each directory and where it is named.
    pub fn iter(&self) -> impl Iterator<Item = (&Path, Location)> + '_ {
        (0..self.len()).map(|i| (self.dir(i), self.at(i)))
    }
}

/// The first of a list of directories naming a directory, by a binary search over the list's
/// indexes sorted by directory, then position: 4 bytes an entry, where a map of borrowed paths
/// was ~40 (a big config serves hundreds of thousands of directories).
pub(crate) struct FirstByDir {
    order: Vec<u32>,
}

impl FirstByDir {
    /// Over the `len` directories `dir(0)`, `dir(1)`, ...
    pub fn new<'p>(len: usize, dir: impl Fn(usize) -> &'p Path) -> FirstByDir {
        let len = u32::try_from(len).expect("fewer than 2^32 directories");
        let mut order: Vec<u32> = (0..len).collect();
        order.sort_unstable_by(|&a, &b| (dir(a as usize), a).cmp(&(dir(b as usize), b)));
        FirstByDir { order }
    }

    /// The directories to scan, in path order: each one not inside another (the first of equal
    /// ones), as its index (the same `dir` as `new`'s). Read off the order already sorted: one
    /// site of 360,000 servers sorted a copy of every path again for it (~30 bytes a path).
    pub fn outermost<'p>(&self, dir: impl Fn(usize) -> &'p Path) -> Vec<u32> {
        let mut out: Vec<u32> = Vec::new();
        // Paths sort component by component, so whatever is inside a directory comes right
        // after it (`/srv/a`, `/srv/a/b`, `/srv/ab`): comparing with the last one kept is enough.
        for &i in &self.order {
            let d = dir(i as usize);
            if out
                .last()
                .map_or(true, |&o| !d.starts_with(dir(o as usize)))
            {
                out.push(i);
            }
        }
        out
    }

    /// The index of the first directory equal to `want` (the same `dir` as `new`'s).
    pub fn find<'p>(&self, want: &Path, dir: impl Fn(usize) -> &'p Path) -> Option<usize> {
        let at = self.order.partition_point(|&i| dir(i as usize) < want);
        let i = *self.order.get(at)? as usize;
        (dir(i) == want).then_some(i)
    }
}

/// The user the server judged opens files as, and where that comes from.
pub(crate) fn served_user<'a>(
    cx: &'a crate::checks::Context<'_>,
) -> Result<(&'a Identity, String), Outcome> {
    if let Some((_, r)) = cx.apache() {
        let who = r.worker().map_err(|why| Outcome::skip(why.to_string()))?;
        return Ok((who, "User in the Apache config".into()));
    }
    let site: &'a Site = cx.site;
    Ok((worker(site)?, site.worker().source.to_string()))
}

pub(crate) fn app(site: &Site) -> Result<&App, Outcome> {
    site.app().ok_or_else(|| Outcome::skip(NO_APP))
}

/// The app and its MEDIA_ROOT on this disk, or why a check of the media tree has nothing to look at.
pub(crate) fn local_media_root(site: &Site) -> Result<(&App, &Path), Outcome> {
    let app = app(site)?;
    if let Some(backend) = &app.remote_media_storage {
        return Err(Outcome::skip(format!(
            "media is stored remotely ({backend}): nothing is written to this disk"
        )));
    }
    let media =
        setting_path(&app.media_root).ok_or_else(|| Outcome::skip("MEDIA_ROOT is not known"))?;
    Ok((app, media))
}

pub(crate) fn setting_path(s: &crate::app::Setting<PathBuf>) -> Option<&Path> {
    s.value().map(PathBuf::as_path)
}

pub(crate) fn setting_at(s: &crate::app::Setting<PathBuf>) -> Option<Location> {
    s.at().cloned()
}

pub(crate) fn scan_options(site: &Site) -> scan::Options {
    scan::Options {
        progress: site.progress,
        ..Default::default()
    }
}

/// Attach a walk as evidence: the `namei -l` rendering.
pub(crate) fn with_walk(mut f: Finding, w: &Walk) -> Finding {
    let shown = w.render();
    // The rendering is already the value `evidence_lines` makes of its lines (names escaped
    // by `render`), unless a line ends in CR (`lines` drops it) or holds one (escaped there),
    // or the last line is empty: then the lines go through it. Checked, not assumed: a walk
    // is rendered per server of a big site, and this saves splitting and joining each.
    let f = if shown.contains('\r') || shown.ends_with('\n') {
        f.evidence_lines("walk", shown.lines())
    } else {
        f.evidence.push(crate::report::Evidence {
            label: "walk".into(),
            value: shown,
            lines: true,
        });
        f
    };
    match &w.verification {
        walk::Verification::Kernel { says, .. } => {
            f.evidence(format!("kernel as {}", w.user), says)
        }
        walk::Verification::NotVerified { .. } => f,
    }
}

pub(crate) fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{} {}", group_digits(n), if n == 1 { one } else { many })
}

/// Give an outcome a summary only when nothing is wrong (the runner summarises failures).
pub(crate) trait CleanSummary {
    fn with_summary_if_clean(self, s: String) -> Self;
}

impl CleanSummary for Outcome {
    fn with_summary_if_clean(self, s: String) -> Self {
        if self
            .findings
            .iter()
            .all(|f| f.severity == crate::report::Severity::Info)
        {
            self.with_summary(s)
        } else {
            self
        }
    }
}

/// Up to ten paths, one per line (for `Finding::evidence_lines`), then how many more.
pub(crate) fn paths(v: &[PathBuf]) -> Vec<String> {
    let mut lines: Vec<String> = v
        .iter()
        .take(10)
        .map(|p| crate::text_safe::path(p).into_owned())
        .collect();
    if v.len() > 10 {
        lines.push(format!("... and {} more", v.len() - 10));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::FirstByDir;
    use std::path::Path;

    #[test]
    fn outermost_keeps_the_covering_dirs_the_first_of_each() {
        let dirs = ["/srv/a/b", "/srv/a", "/srv/ab", "/srv/a"].map(Path::new);
        let by_dir = FirstByDir::new(dirs.len(), |i| dirs[i]);
        assert_eq!(by_dir.outermost(|i| dirs[i]), [1, 2]);
        assert_eq!(by_dir.find(Path::new("/srv/a"), |i| dirs[i]), Some(1));
    }
}
