//! MD208 mac-policy: SELinux labels and AppArmor profiles let the web server (nginx or Apache) read the served directories.
//! The page: checks/MD208.md.

use super::shared::fs::*;
use super::{Band, Check, Context, Meta, Outcome};
use crate::fs::walk::{shell_quote, walk_unverified};
use crate::fs::{mac, Access, Identity};
use crate::report::Finding;
use std::path::PathBuf;

/// MD208: SELinux labels and AppArmor profiles let nginx read the served files.
pub struct MacPolicy;

static MAC_POLICY: Meta = Meta {
    id: "MD208",
    name: "mac-policy",
    band: Band::Filesystem,
    summary: "SELinux labels and AppArmor profiles let nginx read the served directories",
    docs: include_str!("../../checks/MD208.md"),
};

impl Check for MacPolicy {
    fn meta(&self) -> &'static Meta {
        &MAC_POLICY
    }

    fn run(&self, site: &Context<'_>) -> anyhow::Result<Outcome> {
        // The server judged (nginx, or Apache httpd: its profile is usr.sbin.apache2).
        let apache = site.apache().is_some();
        let (server, profile_word, profile_file) = if apache {
            ("Apache", "apache2", "usr.sbin.apache2")
        } else {
            ("nginx", "nginx", "usr.sbin.nginx")
        };
        let selinux = mac::selinux(&site.root);
        let apparmor = mac::apparmor_profiles(&site.root);
        let enforcing_selinux = matches!(selinux, Some((mac::SelinuxMode::Enforcing, _)));
        let nginx_profiles: Vec<mac::Profile> = apparmor
            .iter()
            .flatten()
            .filter(|p| {
                (p.name.contains(profile_word) || (apache && p.name.contains("httpd")))
                    && p.mode == "enforce"
            })
            .cloned()
            .collect();
        if !enforcing_selinux && nginx_profiles.is_empty() {
            let why = match (&selinux, &apparmor) {
                (Some((mode, from)), _) => {
                    format!("SELinux is {mode:?} ({from}), not enforcing").to_lowercase()
                }
                (None, Some(_)) => {
                    format!("AppArmor has no {profile_word} profile in enforce mode")
                }
                (None, None) if site.root.is_live() => {
                    "neither SELinux nor AppArmor is enabled on this system".into()
                }
                (None, None) => {
                    "the root has no SELinux state (/sys/fs/selinux, /etc/selinux/config) \
                                 and no AppArmor state (/sys/kernel/security/apparmor)"
                        .into()
                }
            };
            return Ok(Outcome::skip(why));
        }
        let (_, dirs) = served_dirs_of(site);
        let who = served_user(site).ok().map(|(w, _)| w);
        if dirs.is_empty() {
            return Ok(Outcome::skip(
                "no root/alias directory in the site's servers",
            ));
        }
        let mut findings = Vec::new();
        if enforcing_selinux {
            for (dir, at) in dirs.iter() {
                let host = site.root.host_path(dir);
                if !host.exists() {
                    continue;
                }
                let mut targets: Vec<PathBuf> = vec![dir.to_path_buf()];
                if let Some(who) = who {
                    let scan = site.fs.scan(&site.root, dir, who, &scan_options(site));
                    targets.extend(scan.sample_file.clone());
                }
                for t in targets {
                    // The server opens through symlinks: the label that counts is the target's.
                    let real = walk_unverified(&site.root, &t, &Identity::root(), Access::NONE)
                        .resolved
                        .unwrap_or_else(|| t.clone());
                    let label = mac::selinux_label(&site.root.host_path(&real));
                    let ty = label
                        .as_deref()
                        .and_then(mac::label_type)
                        .unwrap_or("unlabeled_t");
                    if mac::HTTPD_READABLE.contains(&ty) {
                        continue;
                    }
                    let q = shell_quote(&format!("{}(/.*)?", dir.display()));
                    let mut cmds = vec![format!(
                        "sudo semanage fcontext -a -t httpd_sys_content_t {q} && sudo restorecon -Rv {}",
                        shell_quote(&dir.display().to_string())
                    )];
                    if ty.starts_with("user_home") {
                        cmds.push("sudo setsebool -P httpd_enable_homedirs 1".into());
                    }
                    findings.push(
                        Finding::error(format!(
                            "SELinux is enforcing and {} is labelled {ty}, which httpd_t may not read (403 with the mode bits allowing it)",
                            t.display()
                        ))
                        .at(at.clone())
                        .evidence("label", label.unwrap_or_else(|| "(none)".into()))
                        .fix("label the tree for httpd (persists across relabels):", cmds),
                    );
                }
            }
        }
        for p in &nginx_profiles {
            let Some(rules) = mac::Rules::load(&site.root, &p.name) else {
                findings.push(Finding::warning(format!(
                    "AppArmor profile {} is enforced but its file was not found in /etc/apparmor.d",
                    p.name
                )));
                continue;
            };
            for (dir, at) in dirs.iter() {
                // AppArmor matches the path with symlinks resolved; any file name in the tree.
                let real = walk_unverified(&site.root, dir, &Identity::root(), Access::NONE)
                    .resolved
                    .unwrap_or_else(|| dir.to_path_buf());
                let probe = real.join("media-doctor-probe");
                let (ok, rule) = rules.allows_read(&probe);
                if !ok {
                    let mut f = Finding::error(format!(
                        "AppArmor profile {} (enforce) does not let {server} read {}{}",
                        p.name,
                        dir.display(),
                        if real != *dir {
                            format!(" ({})", real.display())
                        } else {
                            String::new()
                        }
                    ))
                    .at(at.clone())
                    .evidence_lines(
                        "profile files",
                        rules.files.iter().map(|f| crate::text_safe::path(f)),
                    );
                    if let Some(r) = rule {
                        f = f.evidence("rule", r);
                    }
                    findings.push(f.fix(
                        "allow reading the tree in the profile's local override, then reload it:",
                        vec![
                            format!(
                                "echo '{}/** r,' | sudo tee -a /etc/apparmor.d/local/{profile_file}",
                                real.display()
                            ),
                            format!("sudo apparmor_parser -r /etc/apparmor.d/{profile_file}"),
                        ],
                    ));
                }
            }
        }
        Ok(Outcome::findings(findings).with_summary_if_clean(format!(
            "{} allow {server} to read {}",
            match (enforcing_selinux, nginx_profiles.is_empty()) {
                (true, true) => "SELinux labels",
                (false, _) => "AppArmor profiles",
                (true, false) => "SELinux labels and AppArmor profiles",
            },
            plural(dirs.len() as u64, "served directory", "served directories")
        )))
    }
}
