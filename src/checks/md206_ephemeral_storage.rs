//! MD206 ephemeral-storage: MEDIA_ROOT lives outside release directories, tmpfs and container
//! writable layers.
//! The page: checks/MD206.md.

use super::shared::fs::*;
use super::{Band, Check, Context, Meta, Outcome};
use crate::fs::walk::{shell_quote, walk_unverified};
use crate::fs::{Access, Identity};
use crate::report::Finding;
use std::path::{Path, PathBuf};

/// MD206: media is not inside a release directory or a container's writable layer.
pub struct EphemeralStorage;

static EPHEMERAL_STORAGE: Meta = Meta {
    id: "MD206",
    name: "ephemeral-storage",
    band: Band::Filesystem,
    summary: "MEDIA_ROOT lives outside release directories, tmpfs and container writable layers",
    docs: include_str!("../../checks/MD206.md"),
};

impl Check for EphemeralStorage {
    fn meta(&self) -> &'static Meta {
        &EPHEMERAL_STORAGE
    }

    fn run(&self, site: &Context<'_>) -> anyhow::Result<Outcome> {
        if let Ok(c) = site.containers() {
            return Ok(in_containers(c));
        }
        let (app, media) = match local_media_root(site) {
            Ok(found) => found,
            Err(o) => return Ok(o),
        };
        let at = setting_at(&app.media_root);
        let locate = |f: Finding| f.at(at.clone());
        let w = walk_unverified(&site.root, media, &Identity::root(), Access::EXEC);
        let resolved = w.resolved.clone().unwrap_or_else(|| media.to_path_buf());
        let mut findings = Vec::new();
        let shared = app
            .dir
            .parent()
            .map(|p| p.join("shared/media"))
            .unwrap_or_else(|| PathBuf::from("/srv/media"));
        if let Some(release) = release_dir(&resolved).or_else(|| release_dir(media)) {
            findings.push(
                locate(with_walk(
                    Finding::error(format!(
                        "MEDIA_ROOT {} is inside the release directory {}: the next deploy \
                         replaces it and every upload in it is gone",
                        media.display(),
                        release.display()
                    ))
                    .evidence("resolved", resolved.display()),
                    &w,
                ))
                .fix(
                    "keep uploads in a shared directory outside the releases and point MEDIA_ROOT \
                 there (Capistrano/Deployer: linked_dirs / shared_dirs):",
                    vec![format!(
                        "sudo mkdir -p {0} && sudo rsync -a {1}/ {0}/",
                        shell_quote(&shared.display().to_string()),
                        shell_quote(&resolved.display().to_string())
                    )],
                ),
            );
        } else if let Some(link) = w.symlinks().find(|s| s.name == "current") {
            findings.push(locate(with_walk(
                Finding::warning(format!(
                    "MEDIA_ROOT {} goes through the deploy symlink {}: uploads land in one \
                     release and vanish when `current` moves",
                    media.display(),
                    link.path.display()
                )),
                &w,
            )));
        }
        if site.root.is_live() {
            if let Some(m) = mount_of(&resolved) {
                let container = ["/.dockerenv", "/run/.containerenv"]
                    .iter()
                    .any(|p| Path::new(p).exists());
                if m.fstype == "tmpfs" || m.fstype == "ramfs" {
                    findings.push(locate(
                        Finding::error(format!(
                            "MEDIA_ROOT {} is on {} ({}): uploads are lost at reboot",
                            media.display(),
                            m.fstype,
                            m.mount_point.display()
                        ))
                        .evidence(
                            "mount",
                            format!("{} on {}", m.fstype, m.mount_point.display()),
                        ),
                    ));
                } else if m.fstype == "overlay" && container && m.mount_point == Path::new("/") {
                    findings.push(
                        locate(
                            Finding::error(format!(
                            "MEDIA_ROOT {} is in the container's writable layer: uploads are lost \
                             when the container is recreated",
                            media.display()
                        ))
                            .evidence("mount", "overlay on / (container)"),
                        )
                        .fix(
                            "mount a volume at MEDIA_ROOT:",
                            vec![format!(
                                "docker run -v media:{} ...",
                                shell_quote(&media.display().to_string())
                            )],
                        ),
                    );
                }
            }
        }
        if findings.is_empty() {
            return Ok(Outcome::pass(format!(
                "MEDIA_ROOT {} is persistent storage (not a release directory{})",
                resolved.display(),
                if site.root.is_live() {
                    ", tmpfs or container layer"
                } else {
                    "; mounts not examined under --root"
                }
            )));
        }
        Ok(Outcome::findings(findings))
    }
}

/// `.../releases/<id>` in a path (Capistrano, Deployer, Ansistrano layouts).
fn release_dir(p: &Path) -> Option<PathBuf> {
    let comps: Vec<_> = p.components().collect();
    comps.windows(2).enumerate().find_map(|(i, w)| {
        (w[0].as_os_str() == "releases").then(|| comps[..i + 2].iter().collect())
    })
}

struct Mount {
    mount_point: PathBuf,
    fstype: String,
}

/// The mount holding `path` on the live system (the longest mount point that is a prefix).
fn mount_of(path: &Path) -> Option<Mount> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    text.lines()
        .filter_map(|l| {
            let (pre, post) = l.split_once(" - ")?;
            let mount_point = unescape_mount(pre.split(' ').nth(4)?);
            let fstype = post.split(' ').next()?.to_string();
            Some(Mount {
                mount_point: PathBuf::from(mount_point),
                fstype,
            })
        })
        .filter(|m| path.starts_with(&m.mount_point))
        .max_by_key(|m| m.mount_point.components().count())
}

/// mountinfo escapes space, tab, newline and backslash as octal.
fn unescape_mount(s: &str) -> String {
    s.replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

/// In a compose run, MEDIA_ROOT's storage in the app container: a volume or host directory
/// survives; anything else is MD601's finding (with the compose fix), not a second one here.
fn in_containers(c: &crate::container::Containers) -> Outcome {
    let cp = &c.app.media_root;
    let name = c.view().root_name(crate::container::judge::Files::Media);
    match &cp.place {
        Some(p) if p.storage.persistent() => Outcome::pass(format!(
            "{name} is {} in the {} container: it survives the container",
            p.describe(),
            c.app_service
        )),
        Some(p) => Outcome::skip(format!(
            "{name} is {} in the {} container: MD601 says how to put it on a volume",
            p.describe(),
            c.app_service
        )),
        None => Outcome::skip(format!(
            "{name} in the {} container: {}",
            c.app_service,
            cp.path.describe()
        )),
    }
}
