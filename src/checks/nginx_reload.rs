//! MD111 config-not-reloaded (nginx band, built on the live probes of the running system): is
//! the running nginx serving the files on disk?
//!
//! Two independent witnesses:
//! - time: the running master's last (re)load, from /proc (its current workers' start time),
//!   against each config file's mtime;
//! - nginx itself: `nginx -T` on the same config. When it fails, a reload is refused and the
//!   running nginx keeps an older config; when it reads other files than media-doctor did,
//!   media-doctor is looking at another config than nginx runs.

use super::{Band, Check, Meta, Outcome};
use crate::nginx::ConfigKind;
use crate::report::Finding;
use crate::site::{NginxSource, Site};
use crate::system::{self, LoadEvidence, Process};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

pub static CHECKS: &[&dyn Check] = &[&ConfigNotReloaded];

pub struct ConfigNotReloaded;

static CONFIG_NOT_RELOADED: Meta = Meta {
    id: "MD111",
    name: "config-not-reloaded",
    band: Band::Nginx,
    summary: "the running nginx serves the config on disk (loaded after the last change; nginx -t passes)",
    docs: include_str!("../../checks/MD111.md"),
};

/// A file changed less than this after the load is not called newer: start times are derived
/// from clock ticks and uptime, and editors touch files while saving.
pub const TOLERANCE: Duration = Duration::from_secs(1);
const NGINX_T_TIMEOUT: Duration = Duration::from_secs(15);
/// Above this much config, `nginx -T` is not run: nginx tests a config at ~0.6 MB/s (a
/// 1,000-site config takes it 4 s and 10,000 sites 47 s and 1.7 GB), while the time witness
/// costs one stat per file.
const NGINX_T_MAX_BYTES: u64 = 1 << 20;
/// Debian's compiled-in pid path, and nginx's own default under the prefix.
const DEFAULT_PID_FILES: &[&str] = &["/run/nginx.pid", "/var/run/nginx.pid"];

impl Check for ConfigNotReloaded {
    fn meta(&self) -> &'static Meta {
        &CONFIG_NOT_RELOADED
    }

    fn run(&self, site: &Site) -> anyhow::Result<Outcome> {
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
        let entry = match &site.nginx.source {
            NginxSource::Files { entry } => entry.clone(),
            NginxSource::Dump { name } => {
                return Ok(Outcome::skip(format!(
                    "the config came from the dump {name}: MD111 compares the running nginx with \
                     files on disk"
                )))
            }
        };
        let cfg = site.config();
        if cfg.files.is_empty() {
            return Ok(Outcome::skip("no config file was loaded"));
        }
        Ok(assess(&Inputs::of(site, entry)))
    }
}

/// Config files changed after the running nginx last loaded its config, and how to reload
/// that very master.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stale {
    pub files: Vec<PathBuf>,
    /// `nginx -t` with the master's own -p/-c, then a reload of that master.
    pub reload: Vec<String>,
}

/// The config files changed after the running nginx last loaded its config: `None` when that
/// cannot be told (not the live system, not root, a dump, no master running). For MD406 and
/// `trace`, which name a stale config as the likely cause of a live answer the model did not
/// predict.
pub fn changed_since_load(site: &Site) -> Option<Stale> {
    if !site.root.is_live() || !nix::unistd::geteuid().is_root() {
        return None;
    }
    let NginxSource::Files { entry } = &site.nginx.source else {
        return None;
    };
    if site.config().files.is_empty() {
        return None;
    }
    let inputs = Inputs::of(site, entry.clone());
    let (master, _) = find_master(&inputs)?;
    let (loaded, _) = system::last_load(&master);
    let args = master.master_args();
    let conf = master_conf(&master, &args);
    Some(Stale {
        files: newer_than(&inputs.files, loaded)
            .into_iter()
            .map(|(f, _)| f)
            .collect(),
        reload: reload_commands(&master, &args, conf.as_deref()),
    })
}

fn newer_than(files: &[PathBuf], loaded: SystemTime) -> Vec<(PathBuf, SystemTime)> {
    files
        .iter()
        .filter_map(|f| Some((f.clone(), changed_at(f)?)))
        .filter(|(_, t)| *t > loaded + TOLERANCE)
        .collect()
}

/// What MD111 needs to know about the config media-doctor loaded (system paths = host paths:
/// MD111 runs only on the live root).
#[derive(Debug, Clone)]
pub struct Inputs {
    /// The file media-doctor started from.
    pub entry: PathBuf,
    /// True for a whole nginx.conf; false for a site file or snippet (part of the running config).
    pub is_main: bool,
    /// Every file loaded.
    pub files: Vec<PathBuf>,
    /// Where the running master's pid may be written (the `pid` directive, else the defaults).
    pub pid_files: Vec<PathBuf>,
}

impl Inputs {
    fn of(site: &Site, entry: PathBuf) -> Inputs {
        let cfg = site.config();
        Inputs {
            entry,
            is_main: matches!(cfg.kind, Some(ConfigKind::Main)),
            files: cfg.files.iter().map(|f| f.path.clone()).collect(),
            pid_files: pid_files(site),
        }
    }
}

/// The `pid` directive (relative to the prefix), else the usual defaults.
fn pid_files(site: &Site) -> Vec<PathBuf> {
    let cfg = site.config();
    let directive = matches!(cfg.kind, Some(ConfigKind::Main))
        .then(|| cfg.top().find(|d| d.is("pid")))
        .flatten()
        .and_then(|d| d.arg(0).map(PathBuf::from));
    match directive {
        Some(p) if p.is_absolute() => vec![p],
        Some(p) => vec![cfg.prefix.join(p)],
        None => DEFAULT_PID_FILES
            .iter()
            .map(PathBuf::from)
            .chain([cfg.prefix.join("logs/nginx.pid")])
            .collect(),
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

/// The config the master runs: its -c (under its -p when relative), else the compiled-in path.
fn master_conf(master: &Process, args: &system::MasterArgs) -> Option<PathBuf> {
    args.conf
        .clone()
        .map(|c| match &args.prefix {
            Some(p) if c.is_relative() => p.join(c),
            _ => c,
        })
        .or_else(|| compiled_conf_path(master))
}

/// The running master for this config, and how it was found.
fn find_master(inputs: &Inputs) -> Option<(Process, String)> {
    for pid_file in &inputs.pid_files {
        if let Some(p) = system::master_from_pid_file(pid_file) {
            return Some((p, format!("from {}", pid_file.display())));
        }
    }
    system::nginx_masters()
        .into_iter()
        .find(|m| {
            m.master_args()
                .conf
                .is_some_and(|c| same_file(&c, &inputs.entry))
        })
        .map(|m| (m, "started with -c for this config".to_string()))
}

/// The config path compiled into the master's binary (`nginx -V`'s --conf-path).
fn compiled_conf_path(master: &Process) -> Option<PathBuf> {
    let bin = runnable_exe(master).or_else(system::nginx_binary)?;
    let out = system::run(&bin, &["-V".as_ref()], Duration::from_secs(5)).ok()?;
    out.stderr
        .split_whitespace()
        .find_map(|w| w.strip_prefix("--conf-path="))
        .map(PathBuf::from)
}

/// The binary the master runs, unless it was replaced on disk since.
fn runnable_exe(master: &Process) -> Option<PathBuf> {
    master
        .exe()
        .filter(|p| !p.to_string_lossy().ends_with(" (deleted)") && p.is_file())
}

enum NginxT {
    Fails {
        complaint: String,
        command: String,
    },
    Reads {
        files: Vec<PathBuf>,
        command: String,
    },
}

fn nginx_t(
    master: &Process,
    args: &system::MasterArgs,
    master_conf: Option<&Path>,
    entry: &Path,
) -> Result<NginxT, String> {
    let bin = runnable_exe(master)
        .or_else(system::nginx_binary)
        .ok_or("nginx is not installed")?;
    let conf = master_conf.unwrap_or(entry);
    let command = format!(
        "{} -T -q{} -c {}",
        bin.display(),
        args.prefix
            .as_ref()
            .map(|p| format!(" -p {}", p.display()))
            .unwrap_or_default(),
        conf.display()
    );
    let out = system::nginx_dump(&bin, conf, args.prefix.as_deref(), NGINX_T_TIMEOUT)
        .map_err(|e| format!("{e:#}"))?;
    if !out.success {
        return Ok(NginxT::Fails {
            complaint: system::nginx_complaint(&out.stderr),
            command,
        });
    }
    Ok(NginxT::Reads {
        files: system::dump_sections(&out.stdout)
            .into_iter()
            .map(|(p, _)| p)
            .collect(),
        command,
    })
}

/// `nginx -t` with the master's own flags, then a reload: the packaged service's way when the
/// master runs the compiled-in config, else a HUP to that very master.
fn reload_commands(
    master: &Process,
    args: &system::MasterArgs,
    conf: Option<&Path>,
) -> Vec<String> {
    if args.conf.is_none() && args.prefix.is_none() {
        return vec!["sudo nginx -t && sudo systemctl reload nginx".into()];
    }
    let bin = runnable_exe(master)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "nginx".into());
    let mut test = format!("sudo {bin} -t");
    if let Some(p) = &args.prefix {
        test.push_str(&format!(" -p {}", p.display()));
    }
    if let (Some(_), Some(c)) = (&args.conf, conf) {
        test.push_str(&format!(" -c {}", c.display()));
    }
    vec![format!("{test} && sudo kill -HUP {}", master.pid)]
}

/// When a config file last changed: its content (mtime through symlinks) or the link itself (a
/// site enabled by a new symlink in sites-enabled/).
fn changed_at(path: &Path) -> Option<SystemTime> {
    let target = std::fs::metadata(path).and_then(|m| m.modified()).ok();
    let link = std::fs::symlink_metadata(path)
        .and_then(|m| m.modified())
        .ok();
    target.max(link)
}

fn same_file(a: &Path, b: &Path) -> bool {
    a == b
        || match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
            (Ok(x), Ok(y)) => x == y,
            _ => false,
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

    #[test]
    fn clock_prints_utc_dates() {
        assert_eq!(clock(SystemTime::UNIX_EPOCH), "1970-01-01 00:00:00 UTC");
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_709_251_200 + 3661);
        assert_eq!(clock(t), "2024-03-01 01:01:01 UTC");
    }
}
