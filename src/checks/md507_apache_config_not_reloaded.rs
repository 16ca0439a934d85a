//! MD507 apache-config-not-reloaded: the running Apache serves the configuration on disk: no
//! file it reads (nor a sites-enabled/conf-enabled/mods-enabled link added or removed) changed
//! after it last loaded its configuration. The page: checks/MD507.md.

use super::md111_config_not_reloaded::clock;
use super::shared::apache::{model, reload};
use super::{Band, Check, Context, Meta, Outcome};
use crate::report::Finding;
use crate::system::loaded::newer_than;
use std::path::PathBuf;

pub struct ApacheConfigNotReloaded;

static APACHE_CONFIG_NOT_RELOADED: Meta = Meta {
    id: "MD507",
    name: "apache-config-not-reloaded",
    band: Band::Apache,
    summary: "the running Apache loaded its configuration after the last change on disk",
    docs: include_str!("../../checks/MD507.md"),
};

impl Check for ApacheConfigNotReloaded {
    fn meta(&self) -> &'static Meta {
        &APACHE_CONFIG_NOT_RELOADED
    }

    fn run(&self, cx: &Context<'_>) -> anyhow::Result<Outcome> {
        if !cx.root.is_live() {
            return Ok(Outcome::skip(
                "--root: the running Apache of another system cannot be asked",
            ));
        }
        let (site, _) = match model(cx) {
            Ok(m) => m,
            Err(skip) => return Ok(skip),
        };
        let Some(master) = crate::apache::site::running_master(&cx.root, Some(&site.config)) else {
            return Ok(Outcome::skip(
                "Apache is not running here (no apache2/httpd master in its pid file)",
            ));
        };
        let loaded = crate::apache::site::last_load(&master);
        let cfg = &site.config;
        // What a2ensite/a2dissite change: the links in these directories (system paths, read
        // through the root like every other file of the system).
        let dirs: Vec<PathBuf> = ["sites-enabled", "conf-enabled", "mods-enabled"]
            .iter()
            .filter_map(|d| Some(site.entry.parent()?.join(d)))
            .filter(|d| cx.root.is_dir(d))
            .collect();
        let read: Vec<PathBuf> = cfg
            .files
            .iter()
            .chain(cfg.envvars.iter())
            .chain(dirs.iter())
            .cloned()
            .collect();
        let mut newer = newer_than(&cx.root, &read, loaded);
        if newer.is_empty() {
            return Ok(Outcome::pass(format!(
                "Apache (pid {}) loaded its configuration after the last change on disk",
                master.pid
            )));
        }
        newer.sort_by_key(|(_, t)| std::cmp::Reverse(*t));
        let (first, _) = &newer[0];
        let mut f = Finding::error(format!(
            "the running Apache (pid {}) loaded its configuration before {} changed: it serves the old one",
            master.pid,
            first.display()
        ))
        .evidence("master", format!("pid {} ({})", master.pid, master.program))
        .evidence("last loaded", clock(loaded));
        for (file, t) in newer.iter().take(10) {
            f = f.evidence(
                "changed after",
                format!("{} ({})", file.display(), clock(*t)),
            );
        }
        if newer.len() > 10 {
            f = f.evidence("and", format!("{} more", newer.len() - 10));
        }
        let f = f.fix(
            "test the configuration, then reload Apache gracefully (running requests finish):",
            vec![reload(cx, site)],
        );
        Ok(Outcome::findings(vec![f]))
    }
}
