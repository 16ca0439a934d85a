//! MD111 config-not-reloaded (nginx band, built on the live probes of the running system): is
//! the running nginx serving the files on disk?
//!
//! Two independent witnesses:
//! - time: the running master's last (re)load, from /proc (its current workers' start time),
//!   against each config file's mtime;
//! - nginx itself: `nginx -T` on the same config. When it fails, a reload is refused and the
//!   running nginx keeps an older config; when it reads other files than media-doctor did,
//!   media-doctor is looking at another config than nginx runs.

use super::{Band, Check, Context, Meta, Outcome};
use crate::report::Finding;
use crate::site::NginxSource;
use crate::system::loaded::{
    find_master, master_conf, newer_than, nginx_t, reload_commands, same_file, Inputs, NginxT,
};
use crate::system::{self, LoadEvidence};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::SystemTime;

pub static CHECKS: &[&dyn Check] = &[&ConfigNotReloaded];

pub struct ConfigNotReloaded;

static CONFIG_NOT_RELOADED: Meta = Meta {
    id: "MD111",
    name: "config-not-reloaded",
    band: Band::Nginx,
    summary: "the running nginx serves the config on disk (loaded after the last change; nginx -t passes)",
    docs: include_str!("../../checks/MD111.md"),
};

/// Above this much config, `nginx -T` is not run: nginx tests a config at ~0.6 MB/s (a
/// 1,000-site config takes it 4 s and 10,000 sites 47 s and 1.7 GB), while the time witness
/// costs one stat per file.
const NGINX_T_MAX_BYTES: u64 = 1 << 20;

impl Check for ConfigNotReloaded {
    fn meta(&self) -> &'static Meta {
        &CONFIG_NOT_RELOADED
    }

    fn run(&self, site: &Context<'_>) -> anyhow::Result<Outcome> {
        if site.offline {
            return Ok(Outcome::skip(
                "--offline: MD111 reads /proc and runs nginx -T",
            ));
        }
        if !site.root.is_live() {
            return Ok(Outcome::skip(format!(
                "--root {}: /proc and nginx -T describe this machine, not the system under the root",
                site.root.dir().display()
            )));
        }
        if !nix::unistd::geteuid().is_root() {
            return Ok(Outcome::skip(
                "not root: the running nginx's config can only be compared as root (nginx -T \
                 reads every file nginx reads)",
            ));
        }
        if let NginxSource::Dump { name } = &site.nginx.source {
            return Ok(Outcome::skip(format!(
                "the config came from the dump {name}: MD111 compares the running nginx with \
                 files on disk"
            )));
        }
        match site.running_config_inputs() {
            Some(inputs) => Ok(assess(&inputs)),
            None => Ok(Outcome::skip("no config file was loaded")),
        }
    }
}

/// Judge the running nginx against the files on disk.
pub fn assess(inputs: &Inputs) -> Outcome {
    let Some((master, found_by)) = find_master(inputs) else {
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
            if !same_file(conf, &inputs.entry) {
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
    let newer = newer_than(&inputs.files, loaded);
    let reload = reload_commands(&master, &args, master_conf.as_deref());
    for (file, t) in &newer {
        findings.push(
            Finding::error(format!(
                "{} changed after nginx last loaded its config: the running nginx does not serve it",
                file.display()
            ))
            .evidence("file changed", format!("{} ({})", clock(*t), ago(*t)))
            .evidence(
                "config loaded",
                format!("{} ({}; {load_how})", clock(loaded), ago(loaded)),
            )
            .evidence("master", &master_line)
            .fix("test the config, then reload nginx:", reload.clone()),
        );
    }

    // Witness 2: nginx -T on the files on disk.
    let config_bytes: u64 = inputs
        .files
        .iter()
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .sum();
    let dump = if config_bytes > NGINX_T_MAX_BYTES {
        Err(format!(
            "the config is {} KiB: testing it would take nginx seconds (the file times are \
             compared instead)",
            config_bytes / 1024
        ))
    } else {
        nginx_t(&master, &args, master_conf.as_deref(), &inputs.entry)
    };
    let dump_note = match dump {
        Ok(NginxT::Fails { complaint, command }) => {
            findings.push(
                Finding::error(
                    "nginx -t fails on the files on disk: a reload is refused, so the running \
                     nginx still serves an older config",
                )
                .evidence("nginx says", &complaint)
                .evidence("command", &command)
                .fix(
                    "correct the error nginx names, then test and reload:",
                    reload.clone(),
                ),
            );
            None
        }
        Ok(NginxT::Reads { files, command }) => {
            let ours: BTreeSet<PathBuf> = inputs.files.iter().cloned().collect();
            let theirs: BTreeSet<PathBuf> = files.into_iter().collect();
            let only_nginx: Vec<_> = theirs.difference(&ours).collect();
            let only_ours: Vec<_> = ours.difference(&theirs).collect();
            if inputs.is_main && (!only_nginx.is_empty() || !only_ours.is_empty()) {
                let mut f = Finding::warning(
                    "nginx -T reads other files than media-doctor loaded: the checks may judge \
                     another config than nginx runs",
                )
                .evidence("command", &command);
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
                        master_conf.as_deref().unwrap_or(&inputs.entry).display()
                    )],
                ));
            } else if !inputs.is_main && !theirs.contains(&inputs.entry) {
                findings.push(
                    Finding::warning(format!(
                        "the running nginx's config does not include {}: the site is not enabled",
                        inputs.entry.display()
                    ))
                    .evidence("command", &command)
                    .fix(
                        "enable the site (see MD107), then test and reload:",
                        reload.clone(),
                    ),
                );
            }
            Some(format!(
                "nginx -T passes and reads {} file(s)",
                theirs.len()
            ))
        }
        Err(why) => Some(format!("nginx -T not run: {why}")),
    };

    let mut info = Finding::info(format!(
        "nginx loaded its config at {} ({load_how})",
        clock(loaded)
    ))
    .evidence("master", &master_line)
    .evidence("files compared", inputs.files.len());
    if let Some(note) = &dump_note {
        info = info.evidence("nginx -T", note);
    }
    let summary = format!(
        "the running nginx (pid {}) loaded its config after the last change to its {} file(s){}",
        master.pid,
        inputs.files.len(),
        dump_note
            .as_deref()
            .filter(|n| n.starts_with("nginx -T passes"))
            .map(|_| "; nginx -t passes")
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
fn clock(t: SystemTime) -> String {
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
