//! Why nginx logged what it logged: each error-log line mapped to its likely cause and the
//! check that covers it (for MD405). A permission error is walked again, as the worker user, to
//! name the very directory or file that stops it.

use super::errorlog::{Kind as LineKind, Line};
use super::{AppPrefix, Kind};
use crate::fs::{walk, Access, Outcome as WalkOutcome};
use crate::nginx::resolve::{Modifier, Resolver};
use crate::nginx::NodeId;
use crate::report::Severity;
use crate::site::Site;
use std::path::Path;

pub struct Explanation {
    pub severity: Severity,
    pub cause: String,
    pub checks: Vec<&'static str>,
    /// The walk of the path as the worker user (`namei -l` style), for a permission error.
    pub walk: Option<String>,
    pub fix: String,
    pub commands: Vec<String>,
}

impl Explanation {
    fn new(severity: Severity, cause: impl Into<String>, checks: &[&'static str]) -> Self {
        Explanation {
            severity,
            cause: cause.into(),
            checks: checks.to_vec(),
            walk: None,
            fix: "see the explaining check; trace the URL to see how nginx maps it".into(),
            commands: Vec::new(),
        }
    }
}

const EACCES: i32 = 13;
const ENOENT: i32 = 2;
const ENOTDIR: i32 = 20;
const ENAMETOOLONG: i32 = 36;
const ELOOP: i32 = 40;
const EMLINK: i32 = 31;

/// Map a line to its likely cause and the check that covers it.
/// `prefix` is the app's media/static prefix the line falls under, when known.
/// `resolver` is the site's nginx model, to see which location answered the logged request.
pub fn explain(
    site: &Site,
    resolver: Option<&Resolver<'_>>,
    prefix: Option<&AppPrefix>,
    line: &Line,
) -> Explanation {
    match &line.kind {
        LineKind::DirectoryIndex => {
            let mut e = Explanation::new(
                Severity::Info,
                "a directory URL was requested; there is no index file and autoindex is off, \
                 so nginx answers 403: expected unless a page links to the directory",
                &["MD109"],
            );
            e.fix =
                "link to files, not to the directory; never turn autoindex on for uploads".into();
            e
        }
        LineKind::DeniedByRule => {
            let mut e = Explanation::new(
                Severity::Warning,
                "an allow/deny rule in the location that serves this URL refused it (a `deny \
                 all` location such as `location ~ /\\.` can win for media URLs)",
                &["MD105"],
            );
            e.fix =
                "trace the URL to see which location answers, and give the media location `^~` \
                     if a deny location shadows it"
                    .into();
            e
        }
        LineKind::IndexNotFound { .. } => Explanation::new(
            Severity::Info,
            "a directory URL was requested and its index file does not exist",
            &[],
        ),
        LineKind::CallFailed { errno, .. } | LineKind::IndexForbidden { errno, .. } => {
            let path = line.path.as_deref().unwrap_or(Path::new(""));
            match *errno {
                EACCES => explain_denied(site, path),
                ELOOP | EMLINK => {
                    let mut e = Explanation::new(
                        Severity::Error,
                        "a symlink on the path is refused: `disable_symlinks` is on, or the \
                         links loop",
                        &["MD207"],
                    );
                    e.fix = "serve the real directory (point alias/root at the link's target), \
                             or set `disable_symlinks off;` for this location"
                        .into();
                    e
                }
                ENOENT | ENOTDIR | ENAMETOOLONG => {
                    let answered = resolver.and_then(|r| Answered::find(r, line));
                    answered
                        .as_ref()
                        .zip(prefix)
                        .and_then(|(a, p)| a.stolen_from(p))
                        .unwrap_or_else(|| {
                            explain_missing(site, prefix, answered.as_ref(), line, path)
                        })
                }
                _ => Explanation::new(
                    Severity::Warning,
                    format!("nginx could not open the file (errno {errno})"),
                    &[],
                ),
            }
        }
    }
}

/// EACCES: walk the path as the worker user now, and name the component that stops it.
fn explain_denied(site: &Site, path: &Path) -> Explanation {
    explain_denied_as(
        &site.root,
        site.worker().identity().map_err(|e| e.to_string()),
        "the nginx worker user",
        path,
    )
}

/// A permission denial logged by the server judged (nginx's EACCES, Apache's AH00035/AH00132):
/// walk the path now as `who` (the server's user, `user` naming it in the text), and name the
/// component that stops it, with the grant that lets it through.
pub fn explain_denied_as(
    root: &crate::sysroot::SysRoot,
    who: Result<&crate::fs::Identity, String>,
    user: &str,
    path: &Path,
) -> Explanation {
    let mut e = Explanation::new(
        Severity::Error,
        format!("{user} may not traverse a parent directory (x) or read the file (r)"),
        &["MD202", "MD203"],
    );
    e.fix = format!("give {user} what it lacks (least widening first):");
    let who = match who {
        Ok(who) => who,
        Err(why) => {
            e.cause = format!("{}; {why}", e.cause);
            return e;
        }
    };
    let w = walk(root, path, who, Access::READ);
    match &w.outcome {
        WalkOutcome::Denied { at, needs } => {
            e.cause = if at == path {
                e.checks = vec!["MD203"];
                format!("{} cannot read {} (needs {needs})", who.name, at.display())
            } else {
                e.checks = vec!["MD202"];
                format!(
                    "{} cannot traverse {} (needs {needs})",
                    who.name,
                    at.display()
                )
            };
            if let Some(step) = w.failing_step() {
                let db = crate::fs::identity::UserDb::load(root);
                let mut grants =
                    crate::fs::walk::grant_commands(step, who, |gid| db.group_name(gid));
                // Commands are pasted in order: the first grant, the others as alternatives.
                let others = grants.split_off(grants.len().min(1));
                e.fix = crate::report::with_alternatives(std::mem::take(&mut e.fix), &others);
                e.commands = grants;
            }
        }
        WalkOutcome::Found { .. } if !mac_may_deny(root) => {
            // Nothing but the mode bits (and ACLs) can deny it here, and they allow it now:
            // the line was logged before they were fixed.
            e.severity = Severity::Info;
            e.checks = Vec::new();
            e.cause = format!(
                "{} can read it now, and neither SELinux nor AppArmor denies anything here: \
                 fixed since that line",
                who.name
            );
            e.fix = "nothing to do if it answers 200 now:".into();
        }
        WalkOutcome::Found { .. } => {
            e.severity = Severity::Warning;
            e.checks = vec!["MD208"];
            e.cause = format!(
                "{} can read it now by the mode bits: fixed since that line, or SELinux/AppArmor \
                 denies what the mode bits allow",
                who.name
            );
            e.fix = "if it still fails, check the security label or profile (MD208)".into();
        }
        WalkOutcome::Missing { at } => {
            e.severity = Severity::Warning;
            e.cause = format!("{} does not exist any more", at.display());
        }
        other => e.cause = format!("{}; the walk now says: {other}", e.cause),
    }
    e.walk = Some(w.render());
    e
}

/// Whether SELinux (enforcing) or an AppArmor profile (in enforce mode) may deny what the mode
/// bits allow, as MD208 reads their state; true when that state cannot be read (not a live
/// root, nothing to read there): unknown is not "off".
fn mac_may_deny(root: &crate::sysroot::SysRoot) -> bool {
    use crate::fs::mac;
    let selinux = mac::selinux(root);
    let apparmor = mac::apparmor_profiles(root);
    let enforcing = matches!(selinux, Some((mac::SelinuxMode::Enforcing, _)))
        || apparmor.iter().flatten().any(|p| p.mode == "enforce");
    let state_read = selinux.is_some() || apparmor.is_some() || root.is_live();
    enforcing || !state_read
}

/// The location the site's nginx model picks for a logged request (on the server its Host names).
struct Answered<'r, 's> {
    r: &'r Resolver<'s>,
    server: NodeId,
    location: NodeId,
    uri: String,
}

impl<'r, 's> Answered<'r, 's> {
    fn find(r: &'r Resolver<'s>, line: &Line) -> Option<Self> {
        let uri = line.uri_path()?;
        let host = line.host.as_deref().or(line.server.as_deref());
        let host = host.map(|h| h.split(':').next().unwrap_or(h).to_ascii_lowercase());
        r.targets()
            .filter(|t| {
                host.as_ref()
                    .map_or(true, |h| r.server_names(t.server).iter().any(|n| n == h))
            })
            .find_map(|t| {
                Some(Answered {
                    r,
                    server: t.server,
                    location: r.location_for(t.server, &uri)?,
                    uri: uri.clone(),
                })
            })
    }

    fn is_regex(&self) -> bool {
        self.r
            .location_pattern(self.location)
            .is_some_and(|(m, _)| matches!(m, Modifier::Regex | Modifier::RegexCaseless))
    }

    /// The prefix of a prefix location (`/media/`), None for a regex one.
    fn prefix(&self) -> Option<String> {
        (!self.is_regex())
            .then(|| self.r.location_pattern(self.location).map(|(_, p)| p))
            .flatten()
    }

    /// A request under the app's prefix that a regex location answers (an image location, no
    /// `^~` on the media one): the model says so directly, before any guess from the path's
    /// shape. A longer prefix location (/media/thumbs/) is the config's own choice, not this.
    fn stolen_from(&self, prefix: &AppPrefix) -> Option<Explanation> {
        let url = prefix.url.as_deref()?;
        let own = self.r.location_for(self.server, url)?;
        if !self.uri.starts_with(url) || own == self.location || !self.is_regex() {
            return None;
        }
        let mut e = Explanation::new(
            Severity::Error,
            format!(
                "{} answers {}, not {} that serves {url}: it looks for the file elsewhere",
                self.r.location_label(self.location),
                self.uri,
                self.r.location_label(own)
            ),
            &["MD105"],
        );
        e.fix = format!(
            "mark the media location `^~` so that regex locations are not tried for it: \
             location ^~ {url} {{ ... }}"
        );
        Some(e)
    }
}

/// ENOENT/ENOTDIR: a path nginx built wrongly (alias without slash, root repeating the prefix, a
/// root other than the app's), or simply a file that is not there.
fn explain_missing(
    site: &Site,
    prefix: Option<&AppPrefix>,
    answered: Option<&Answered>,
    line: &Line,
    path: &Path,
) -> Explanation {
    let uri = line.uri_path();
    let path_s = path.to_string_lossy();
    if let Some(uri) = uri.as_deref() {
        // alias /srv/media; + /media/a/b.jpg → /srv/mediaa/b.jpg: what follows the answering
        // location's prefix (else, without a model, the file name) glued to the directory.
        let location_prefix = answered.and_then(Answered::prefix);
        let last = location_prefix
            .as_deref()
            .and_then(|p| uri.strip_prefix(p))
            .filter(|rest| !rest.is_empty() && !rest.starts_with('/'))
            .unwrap_or_else(|| uri.rsplit('/').next().unwrap_or(""));
        if !last.is_empty() && path_s.ends_with(last) && !path_s.ends_with(&format!("/{last}")) {
            let mut e = Explanation::new(
                Severity::Error,
                format!(
                    "nginx joined the rest of the URL to the directory without a slash ({}): an `alias` without the \
                     trailing slash of its location",
                    path.display()
                ),
                &["MD101"],
            );
            e.fix = "end alias with / when the location ends with /".into();
            return e;
        }
        // root /srv/media; in location /media/ → /srv/media/media/a.jpg.
        if let Some(first) = uri.trim_start_matches('/').split('/').next() {
            let doubled = format!("/{first}/{first}/");
            if !first.is_empty() && uri.contains('/') && path_s.contains(&doubled) {
                let mut e = Explanation::new(
                    Severity::Error,
                    format!(
                        "the URL prefix appears twice in {}: `root` where `alias` was meant",
                        path.display()
                    ),
                    &["MD103"],
                );
                e.fix = "use `alias /dir/;` in the location, or root the parent directory".into();
                return e;
            }
        }
    }
    if let Some(p) = prefix {
        if let Some(root) = &p.root {
            let (check, setting) = match p.kind {
                Kind::Media => ("MD302", "MEDIA_ROOT"),
                Kind::Static => ("MD304", "STATIC_ROOT"),
            };
            if !path.starts_with(root) {
                let mut e = Explanation::new(
                    Severity::Error,
                    format!(
                        "nginx looks in {}, but the app's {setting} is {}",
                        path.parent().unwrap_or(path).display(),
                        root.display()
                    ),
                    &[check],
                );
                e.fix = format!("point the location's alias at {setting}");
                return e;
            }
            let (check, what) = match p.kind {
                Kind::Media => (
                    "MD210",
                    "the upload is not there (deleted, never saved, or saved on another host or release)",
                ),
                Kind::Static => (
                    "MD205",
                    "the static file is not in STATIC_ROOT: collectstatic (or the copy step) was not run",
                ),
            };
            let mut e = Explanation::new(Severity::Warning, what, &[check, "MD206"]);
            e.fix = match p.kind {
                Kind::Media => {
                    "check where the app saves uploads; keep media outside release directories"
                        .into()
                }
                Kind::Static => "run collectstatic:".into(),
            };
            // With the app's interpreter, as the app's user (never a bare `python`, which is
            // not on a server's PATH or not the venv's).
            if p.kind == Kind::Static {
                let django = site
                    .app()
                    .filter(|a| a.framework == crate::app::Framework::Django);
                match django.map(|a| crate::fix::commands::manage_py(a, "collectstatic --noinput")) {
                    Some(Ok(cmd)) => e.commands = vec![cmd],
                    Some(Err(why)) => {
                        e.fix = format!(
                            "run `manage.py collectstatic --noinput` with the app's interpreter, as the app's user ({why})"
                        )
                    }
                    None => {
                        e.fix = "copy the app's static files to the directory nginx serves (the deploy's collect step)".into()
                    }
                }
            }
            return e;
        }
    }
    let mut e = Explanation::new(
        Severity::Warning,
        "no such file: a link to a file that was never uploaded or was deleted, or a path \
         nginx builds wrongly",
        &["MD210"],
    );
    e.fix = "trace the URL: it shows the file nginx opens and why".into();
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    /// "Fixed since that line" is said only where SELinux and AppArmor are known to deny
    /// nothing; a root whose state cannot be read keeps pointing at MD208.
    #[test]
    fn mac_may_deny_only_where_its_state_says_so() {
        let t = tempfile::tempdir().unwrap();
        let root = crate::sysroot::SysRoot::new(t.path());
        assert!(mac_may_deny(&root), "no state under a --root: unknown");
        let selinux = t.path().join("sys/fs/selinux");
        std::fs::create_dir_all(&selinux).unwrap();
        std::fs::write(selinux.join("enforce"), "0\n").unwrap();
        assert!(!mac_may_deny(&root), "permissive SELinux denies nothing");
        let apparmor = t.path().join("sys/kernel/security/apparmor");
        std::fs::create_dir_all(&apparmor).unwrap();
        std::fs::write(apparmor.join("profiles"), "/usr/sbin/nginx (enforce)\n").unwrap();
        assert!(mac_may_deny(&root), "an enforced AppArmor profile may");
    }
}
