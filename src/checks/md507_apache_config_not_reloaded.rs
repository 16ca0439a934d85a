//! MD507 apache-config-not-reloaded: the running Apache serves the configuration on disk: no
//! file it reads (nor a sites-enabled/conf-enabled/mods-enabled link added or removed) changed
//! after it last loaded its configuration. The page: checks/MD507.md.

use super::md111_config_not_reloaded::clock;
use super::shared::apache::{model, reload};
use super::{Band, Check, Context, Meta, Outcome};
use crate::live::{apache_log, errorlog};
use crate::report::Finding;
use crate::system::loaded::{newer_than, TOLERANCE};
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
        let children = crate::apache::site::children_started(&master);
        let oldest = children.iter().copied().min().unwrap_or(master.started);
        let youngest = children.iter().copied().max().unwrap_or(master.started);
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
        // Changed after the oldest child started: perhaps not loaded.
        let mut newer = newer_than(&cx.root, &read, oldest);
        if newer.is_empty() {
            return Ok(Outcome::pass(format!(
                "Apache (pid {}) loaded its configuration after the last change on disk",
                master.pid
            )));
        }
        newer.sort_by_key(|(_, t)| std::cmp::Reverse(*t));
        let last_change = newer[0].1;
        // A restart starts children of the new configuration at once, so a change made after
        // every current child started was not loaded. A change between the oldest and the
        // youngest child is another matter: after a graceful restart a child of the old
        // configuration finishes its requests (a long download keeps it for minutes) beside the
        // new ones, and Apache also starts children of its own accord under load. The error
        // log's restart line tells which; without it, the check cannot decide.
        let mut loaded = oldest;
        let mut log_line = None;
        if last_change <= youngest + TOLERANCE {
            match last_restart(cx, site, master.started) {
                Restart::At(t, line) if t > log_time(last_change) => {
                    return Ok(Outcome::pass(format!(
                        "Apache (pid {}) restarted after the last change on disk (its error log: {line})",
                        master.pid
                    )));
                }
                Restart::At(t, line) if t < log_time(last_change) => {
                    log_line = Some(line);
                }
                Restart::At(_, line) => {
                    return Ok(Outcome::skip(format!(
                        "cannot tell whether Apache (pid {}) loaded {}: it changed in the second its \
                         error log says Apache restarted ({line}); to be sure: {}",
                        master.pid,
                        newer[0].0.display(),
                        reload(cx, site)
                    )));
                }
                Restart::Unknown(why) => {
                    return Ok(Outcome::skip(format!(
                        "cannot tell whether Apache (pid {}) loaded {} (changed {}): its children \
                         started both before it (the oldest {}) and after it (the youngest {}), as \
                         after a graceful restart that lets an old child finish its requests, or \
                         when Apache starts children under load, and {why}; to be sure: {}",
                        master.pid,
                        newer[0].0.display(),
                        clock(last_change),
                        clock(oldest),
                        clock(youngest),
                        reload(cx, site)
                    )));
                }
            }
        } else {
            loaded = youngest;
            newer.retain(|(_, t)| *t > youngest + TOLERANCE);
        }
        let (first, _) = &newer[0];
        let mut f = Finding::error(format!(
            "the running Apache (pid {}) loaded its configuration before {} changed: it serves the old one",
            master.pid,
            first.display()
        ))
        .evidence("master", format!("pid {} ({})", master.pid, master.program))
        .evidence("last loaded", clock(loaded));
        if let Some(line) = log_line {
            f = f.evidence("last restart in the error log", line);
        }
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

/// What Apache's error log says of its last (re)start.
enum Restart {
    /// Its time (`errorlog::log_time`'s seconds) and the line.
    At(i64, String),
    /// Why the log cannot say.
    Unknown(String),
}

/// The last restart line of the main error log, written since `master_started` (an older one
/// is another master's).
fn last_restart(
    cx: &Context<'_>,
    site: &crate::apache::site::ApacheSite,
    master_started: std::time::SystemTime,
) -> Restart {
    let Some(log) = apache_log::sources(&site.config, &[]).into_iter().next() else {
        return Restart::Unknown("its error log is not a file".into());
    };
    let text = match errorlog::tail(&cx.root, &log.path, errorlog::TAIL_BYTES) {
        Ok(Some(text)) => text,
        Ok(None) => {
            return Restart::Unknown(format!("its error log {} is not there", log.path.display()))
        }
        Err(e) => {
            return Restart::Unknown(format!(
                "its error log {} could not be read ({e})",
                log.path.display()
            ))
        }
    };
    let since = log_time(master_started).saturating_sub(1);
    match apache_log::last_start(&text) {
        Some((t, line)) if t >= since => Restart::At(t, line.trim().to_string()),
        _ => Restart::Unknown(format!(
            "its error log {} has no restart line since the master started",
            log.path.display()
        )),
    }
}

/// A moment in the error log's clock (local time, whole seconds).
fn log_time(t: std::time::SystemTime) -> i64 {
    errorlog::log_time(t).unwrap_or(i64::MIN)
}
