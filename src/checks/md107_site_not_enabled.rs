//! MD107 site-not-enabled: the site's server block is enabled (linked from sites-enabled, or
//! included).
//! The page: checks/MD107.md.

use super::shared::nginx::RELOAD;
use super::{Band, Check, Context, Meta, Outcome};
use crate::report::Finding;
use std::path::PathBuf;

pub struct SiteNotEnabled;

static SITE_NOT_ENABLED: Meta = Meta {
    id: "MD107",
    name: "site-not-enabled",
    band: Band::Nginx,
    summary: "the site's server block is enabled (linked from sites-enabled, or included)",
    docs: include_str!("../../checks/MD107.md"),
};

impl Check for SiteNotEnabled {
    fn meta(&self) -> &'static Meta {
        &SITE_NOT_ENABLED
    }

    fn run(&self, site: &Context<'_>) -> anyhow::Result<Outcome> {
        let cfg = site.config();
        let available_dir = cfg.conf_dir.join("sites-available");
        let host = site.root.host_path(&available_dir);
        let Ok(rd) = std::fs::read_dir(&host) else {
            return Ok(Outcome::skip(format!(
                "no {} directory: sites are not managed with sites-available/sites-enabled",
                available_dir.display()
            )));
        };
        // Every file the loaded config consists of, symlinks resolved inside the root as the
        // system sees them (sites-enabled/x -> ../sites-available/x, or an absolute
        // /etc/nginx/sites-available/x, which under --root means the root's own file).
        let loaded: std::collections::HashSet<PathBuf> = cfg
            .files
            .iter()
            .filter_map(|f| site.root.real_path(&f.path).ok())
            .collect();
        let mut disabled: Vec<std::ffi::OsString> = rd
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file() || t.is_symlink()))
            .map(|e| e.file_name())
            .filter(|f| {
                site.root
                    .real_path(&available_dir.join(f))
                    .is_ok_and(|real| !loaded.contains(&real) && site.root.exists(&real))
            })
            .collect();
        disabled.sort();
        let name = site.name.as_deref();
        let mut findings = Vec::new();
        for file in disabled {
            let file = file.to_string_lossy().into_owned();
            let sys = available_dir.join(&file);
            let enabled = cfg.conf_dir.join("sites-enabled").join(&file);
            let ours = name.is_some_and(|n| file == n || file.strip_suffix(".conf") == Some(n));
            let text = format!("{} is not enabled: nginx never reads it", sys.display());
            let f = if ours {
                Finding::error(text)
            } else {
                Finding::info(text)
            };
            findings.push(
                f.evidence("file", sys.display())
                    .evidence("missing link", enabled.display())
                    .fix(
                        "link it into sites-enabled, then check and reload:",
                        vec![format!(
                            "sudo ln -s {} {} && {RELOAD}",
                            sys.display(),
                            enabled.display()
                        )],
                    ),
            );
        }
        if let Some(n) = name {
            let any_ours = findings
                .iter()
                .any(|f| f.severity > crate::report::Severity::Info);
            if !any_ours && site.nginx.matched_by.starts_with("no server block matches") {
                return Ok(Outcome::findings(vec![Finding::error(format!(
                    "no loaded server block belongs to the site {n:?}, and {} has no file of that name",
                    available_dir.display()
                ))
                .evidence("matched by", &site.nginx.matched_by)]));
            }
        }
        Ok(
            if findings
                .iter()
                .any(|f| f.severity > crate::report::Severity::Info)
            {
                Outcome::findings(findings)
            } else if findings.is_empty() {
                Outcome::pass("every file in sites-available is enabled")
            } else {
                let n = findings.len();
                Outcome::findings(findings).with_summary(format!(
                    "the site is enabled ({n} other file(s) in sites-available are not)"
                ))
            },
        )
    }
}
