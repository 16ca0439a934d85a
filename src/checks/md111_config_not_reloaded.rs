//! MD111 config-not-reloaded (nginx band, built on the live probes of the running system): is
//! the running nginx serving the files on disk?
//!
//! Two independent witnesses:
//! - time: the running master's last (re)load, from /proc (its current workers' start time),
//!   against each config file's mtime;
//! - the config nginx would load now: the master's own config (its -c) read from disk by
//!   media-doctor's loader, as `nginx -t` would read it. When it does not load, a reload is
//!   refused and the running nginx keeps an older config; when it takes in other files than the
//!   config media-doctor checks, media-doctor is looking at another config than nginx runs.
//!
//! nginx itself (`nginx -t`/`-T`) is never run for this: it opens, and creates, every log file
//! and temp directory the config names, new ones included, and the tool promises to change
//! nothing. The loader reads the same files nginx would, and writes nothing.

use super::{Band, Check, Context, Meta, Outcome};
use crate::nginx::ConfigKind;
use crate::report::Finding;
use crate::site::NginxSource;
use crate::sysroot::SysRoot;
use crate::system::loaded::{
    find_master, find_master_in_namespace, master_conf, newer_than, reload_commands,
    reload_in_namespace, same_file, same_file_in, Inputs,
};
use crate::system::{self, LoadEvidence};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::SystemTime;

pub struct ConfigNotReloaded;

static CONFIG_NOT_RELOADED: Meta = Meta {
    id: "MD111",
    name: "config-not-reloaded",
    band: Band::Nginx,
    summary: "the running nginx serves the config on disk (loaded after the last change; the config on disk loads)",
    docs: include_str!("../../checks/MD111.md"),
};

impl Check for ConfigNotReloaded {
    fn meta(&self) -> &'static Meta {
        &CONFIG_NOT_RELOADED
    }

    fn run(&self, site: &Context<'_>) -> anyhow::Result<Outcome> {
        if site.offline {
            return Ok(Outcome::skip("--offline: MD111 reads /proc"));
        }
        // nginx in a mount namespace of its own (`--root /proc/PID/root`): its files are read
        // in its view, its master is found among the masters of that namespace.
        if !site.root.is_live() && site.root.process().is_none() {
            return Ok(Outcome::skip(format!(
                "--root {}: /proc describes this machine, not the system under the root",
                site.root.dir().display()
            )));
        }
        if !nix::unistd::geteuid().is_root() {
            return Ok(Outcome::skip(
                "not root: the running nginx's config can only be compared as root (it reads \
                 every file nginx reads)",
            ));
        }
        if let NginxSource::Dump { name } = &site.nginx.source {
            return Ok(Outcome::skip(format!(
                "the config came from the dump {name}: MD111 compares the running nginx with \
                 files on disk"
            )));
        }
        match site.running_config_inputs() {
            Some(inputs) => Ok(assess_in(&site.root, &inputs)),
            None => Ok(Outcome::skip("no config file was loaded")),
        }
    }
}

/// Judge the running nginx against the files on disk.
pub fn assess(inputs: &Inputs) -> Outcome {
    assess_in(&SysRoot::live(), inputs)
}

/// `assess` for the nginx whose view `root` is: this machine's, or (`--root /proc/PID/root`)
/// the one of a master in a mount namespace of its own, whose files are read there (through its
/// mounts, or /proc/PID/root for what only it sees) and parsed by our loader, never by running
/// its nginx.
pub fn assess_in(root: &SysRoot, inputs: &Inputs) -> Outcome {
    let found = match root.process() {
        Some(pid) => find_master_in_namespace(root, pid, inputs),
        None => find_master(inputs),
    };
    let Some((master, found_by)) = found else {
        return Outcome::skip(format!(
            "no running nginx master for {} (pid file {}; no master started with -c {})",
            inputs.entry.display(),
            inputs
                .pid_files
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(" or "),
            inputs.entry.display()
        ));
    };
    let args = master.master_args();
    let master_conf = master_conf(&master, &args);
    let mut findings = Vec::new();
    let master_line = format!("pid {} ({found_by}): {}", master.pid, master.cmdline);

    // The master must run the config media-doctor read (for a whole nginx.conf).
    if inputs.is_main {
        if let Some(conf) = &master_conf {
            let same = match root.process() {
                None => same_file(conf, &inputs.entry),
                Some(_) => same_file_in(root, conf, &inputs.entry),
            };
            if !same {
                findings.push(
                    Finding::error(format!(
                        "the running nginx was started with {}, not {}",
                        conf.display(),
                        inputs.entry.display()
                    ))
                    .evidence("master", &master_line)
                    .fix(
                        "check the config nginx actually runs (or pass it with --nginx-conf):",
                        vec![format!(
                            "media-doctor check --nginx-conf {}",
                            conf.display()
                        )],
                    ),
                );
            }
        }
    }

    // Witness 1: file times against the last load.
    let (loaded, evidence) = system::last_load(&master);
    let load_how = match evidence {
        LoadEvidence::Workers(n) => format!("the start of its {n} current worker(s)"),
        LoadEvidence::MasterStart => "the master's start".to_string(),
    };
    // Each file's time where nginx's view has it (the host path behind its mount, or through
    // /proc/PID/root); on this machine, the file itself.
    let newer = newer_than(root, &inputs.files, loaded);
    let reload = match root.process() {
        None => reload_commands(&master, &args, master_conf.as_deref()),
        Some(_) => vec![reload_in_namespace(master.pid)],
    };
    for (file, t) in &newer {
        let mut f = Finding::error(format!(
            "{} changed after nginx last loaded its config: the running nginx does not serve it",
            file.display()
        ));
        if root.process().is_some() {
            f = f.evidence("file on this machine", root.host_path(file).display());
        }
        findings.push(
            f.evidence("file changed", format!("{} ({})", clock(*t), ago(*t)))
                .evidence(
                    "config loaded",
                    format!("{} ({}; {load_how})", clock(loaded), ago(loaded)),
                )
                .evidence("master", &master_line)
                .fix("test the config, then reload nginx:", reload.clone()),
        );
    }

    // Witness 2: the config the master would load on a reload, read by our loader (nginx is not
    // run: see the module comment).
    let conf = master_conf.as_deref().unwrap_or(&inputs.entry);
    let check_cmd = reload
        .first()
        .and_then(|c| c.split(" && ").next())
        .unwrap_or("sudo nginx -t")
        .to_string();
    let dump_note = match crate::nginx::load_files(root, conf) {
        Err(e) => Some(format!("{} not read: {e}", conf.display())),
        Ok(cfg) if cfg.has_fatal_errors() => {
            let first = cfg
                .diagnostics
                .iter()
                .find(|d| d.fatal)
                .map(|d| d.to_string())
                .unwrap_or_default();
            findings.push(
                Finding::error(
                    "the config on disk does not load (nginx -t would fail): a reload is refused, \
                     so the running nginx still serves an older config",
                )
                .evidence("error", &first)
                .evidence("confirm with", &check_cmd)
                .fix(
                    "correct the error named, then test and reload:",
                    reload.clone(),
                ),
            );
            None
        }
        Ok(cfg) => {
            let ours: BTreeSet<PathBuf> = inputs.files.iter().cloned().collect();
            let theirs: BTreeSet<PathBuf> = cfg.files.iter().map(|f| f.path.clone()).collect();
            let only_nginx: Vec<_> = theirs.difference(&ours).collect();
            let only_ours: Vec<_> = ours.difference(&theirs).collect();
            let whole = matches!(cfg.kind, Some(ConfigKind::Main));
            if inputs.is_main && (!only_nginx.is_empty() || !only_ours.is_empty()) {
                let mut f = Finding::warning(format!(
                    "the config the running nginx loads ({}) takes in other files than \
                     media-doctor checked: the checks may judge another config than nginx runs",
                    conf.display()
                ));
                if !only_nginx.is_empty() {
                    f = f.evidence("only nginx reads", list(&only_nginx));
                }
                if !only_ours.is_empty() {
                    f = f.evidence("only media-doctor read", list(&only_ours));
                }
                findings.push(f.fix(
                    "point media-doctor at the config nginx runs:",
                    vec![format!(
                        "media-doctor check --nginx-conf {}",
                        conf.display()
                    )],
                ));
            } else if !inputs.is_main && whole && !theirs.contains(&inputs.entry) {
                findings.push(
                    Finding::warning(format!(
                        "the running nginx's config ({}) does not include {}: the site is not \
                         enabled",
                        conf.display(),
                        inputs.entry.display()
                    ))
                    .fix(
                        "enable the site (see MD107), then test and reload:",
                        reload.clone(),
                    ),
                );
            }
            Some(format!(
                "{} loads and reads {} file(s)",
                conf.display(),
                theirs.len()
            ))
        }
    };

    let mut info = Finding::info(format!(
        "nginx loaded its config at {} ({load_how})",
        clock(loaded)
    ))
    .evidence("master", &master_line)
    .evidence("files compared", inputs.files.len());
    if let Some(note) = &dump_note {
        info = info.evidence("config on disk", note);
    }
    let summary = format!(
        "the running nginx (pid {}) loaded its config after the last change to its {} file(s){}",
        master.pid,
        inputs.files.len(),
        dump_note
            .as_deref()
            .filter(|n| n.contains(" loads and reads "))
            .map(|_| "; the config on disk loads")
            .unwrap_or("")
    );
    findings.push(info);
    let outcome = Outcome::findings(findings);
    if outcome
        .findings
        .iter()
        .all(|f| f.severity == crate::report::Severity::Info)
    {
        outcome.with_summary(summary)
    } else {
        outcome
    }
}

fn list(paths: &[&PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// UTC wall-clock time, `2024-05-01 12:00:01 UTC`.
pub(crate) fn clock(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn ago(t: SystemTime) -> String {
    match SystemTime::now().duration_since(t) {
        Ok(d) if d.as_secs() < 120 => format!("{} s ago", d.as_secs()),
        Ok(d) if d.as_secs() < 7200 => format!("{} min ago", d.as_secs() / 60),
        Ok(d) if d.as_secs() < 172_800 => format!("{} h ago", d.as_secs() / 3600),
        Ok(d) => format!("{} days ago", d.as_secs() / 86400),
        Err(_) => "in the future".into(),
    }
}

/// (year, month, day) of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn clock_prints_utc_dates() {
        assert_eq!(clock(SystemTime::UNIX_EPOCH), "1970-01-01 00:00:00 UTC");
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_709_251_200 + 3661);
        assert_eq!(clock(t), "2024-03-01 01:01:01 UTC");
    }
}
