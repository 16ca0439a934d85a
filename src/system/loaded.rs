//! What the running nginx loaded, against the config files on disk: the master that runs a
//! config, when it last (re)loaded, the files changed since, and the command that reloads that
//! very master. (`nginx -T` is never run: it creates the log files and temp directories the
//! config names; MD111 reads the config with the loader instead.) Facts for MD111, MD406 and `trace`; the judging is
//! theirs.

use super::{MasterArgs, Process};
use crate::sysroot::mounts::same_namespace;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// A file changed less than this after the load is not called newer: start times are derived
/// from clock ticks and uptime, and editors touch files while saving.
pub const TOLERANCE: Duration = Duration::from_secs(1);
/// Debian's compiled-in pid path, and nginx's own default under the prefix.
pub const DEFAULT_PID_FILES: &[&str] = &["/run/nginx.pid", "/var/run/nginx.pid"];

/// Config files changed after the running nginx last loaded its config, and how to reload
/// that very master.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stale {
    pub files: Vec<PathBuf>,
    /// `nginx -t` with the master's own -p/-c, then a reload of that master.
    pub reload: Vec<String>,
    /// When that master last (re)loaded its config: evidence from before it (error-log lines)
    /// is about a config that no longer runs.
    pub loaded: SystemTime,
}

/// The config files changed after the running nginx (the master for `inputs`) last loaded its
/// config: `None` when no master is running for it. For MD406 and `trace`, which name a stale
/// config as the likely cause of a live answer the model did not predict. Callers make sure
/// this is the live system and that they run as root.
pub fn changed_since_load(inputs: &Inputs) -> Option<Stale> {
    let (master, _) = find_master(inputs)?;
    let (loaded, _) = super::last_load(&master);
    let args = master.master_args();
    let conf = master_conf(&master, &args);
    Some(Stale {
        files: newer_than(&crate::sysroot::SysRoot::live(), &inputs.files, loaded)
            .into_iter()
            .map(|(f, _)| f)
            .collect(),
        reload: reload_commands(&master, &args, conf.as_deref()),
        loaded,
    })
}

/// The files of `files` changed after `loaded`, each with its time where `root`'s view has it
/// (the host path behind a mount of nginx's namespace, or through /proc/PID/root).
pub fn newer_than(
    root: &crate::sysroot::SysRoot,
    files: &[PathBuf],
    loaded: SystemTime,
) -> Vec<(PathBuf, SystemTime)> {
    files
        .iter()
        .filter_map(|f| Some((f.clone(), changed_at(&root.host_path(f))?)))
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

/// The config the master runs: its -c (under its -p when relative), else the compiled-in path.
pub fn master_conf(master: &Process, args: &MasterArgs) -> Option<PathBuf> {
    args.conf
        .clone()
        .map(|c| match &args.prefix {
            Some(p) if c.is_relative() => p.join(c),
            _ => c,
        })
        .or_else(|| compiled_conf_path(master))
}

/// The running master for this config, and how it was found.
pub fn find_master(inputs: &Inputs) -> Option<(Process, String)> {
    for pid_file in &inputs.pid_files {
        if let Some(p) = super::master_from_pid_file(pid_file) {
            return Some((p, format!("from {}", pid_file.display())));
        }
    }
    super::nginx_masters()
        .into_iter()
        .find(|m| {
            m.master_args()
                .conf
                .is_some_and(|c| same_file(&c, &inputs.entry))
        })
        .map(|m| (m, "started with -c for this config".to_string()))
}

/// The master of the nginx whose view `root` is (`--root /proc/PID/root` of pid, in a mount
/// namespace of its own): of the masters in pid's mount namespace, the one its pid file names
/// (read in its view), else pid itself, else the one started with -c for this config, else the
/// only one there.
pub fn find_master_in_namespace(
    root: &crate::sysroot::SysRoot,
    pid: i32,
    inputs: &Inputs,
) -> Option<(Process, String)> {
    let masters: Vec<Process> = super::nginx_masters()
        .into_iter()
        .filter(|m| same_namespace(m.pid, pid))
        .collect();
    for pid_file in &inputs.pid_files {
        let Ok(text) = crate::input::read_to_string(&root.host_path(pid_file)) else {
            continue;
        };
        if let Some(m) = text
            .trim()
            .parse::<i32>()
            .ok()
            .and_then(|n| masters.iter().find(|m| m.pid == n))
        {
            return Some((
                m.clone(),
                format!("from {} in pid {pid}'s mount namespace", pid_file.display()),
            ));
        }
    }
    if let Some(m) = masters.iter().find(|m| m.pid == pid) {
        return Some((m.clone(), format!("the process of --root /proc/{pid}/root")));
    }
    if let Some(m) = masters
        .iter()
        .find(|m| m.master_args().conf.as_ref() == Some(&inputs.entry))
    {
        return Some((
            m.clone(),
            format!("started with -c for this config in pid {pid}'s mount namespace"),
        ));
    }
    match masters.as_slice() {
        [m] => Some((
            m.clone(),
            format!("the only nginx master in pid {pid}'s mount namespace"),
        )),
        _ => None,
    }
}

/// The config path compiled into the master's binary (`nginx -V`'s --conf-path).
pub fn compiled_conf_path(master: &Process) -> Option<PathBuf> {
    let bin = runnable_exe(master).or_else(super::nginx_binary)?;
    let out = super::run(&bin, &["-V".as_ref()], Duration::from_secs(5)).ok()?;
    out.stderr
        .split_whitespace()
        .find_map(|w| w.strip_prefix("--conf-path="))
        .map(PathBuf::from)
}

/// The binary the master runs, unless it was replaced on disk since.
pub fn runnable_exe(master: &Process) -> Option<PathBuf> {
    master
        .exe()
        .filter(|p| !p.to_string_lossy().ends_with(" (deleted)") && p.is_file())
}

/// `nginx -t` with the master's own flags, then the reload its supervisor expects: its systemd
/// unit's, the container's, or a HUP to that very master (a master started by hand or by a
/// script: `systemctl reload` would not reach it).
pub fn reload_commands(master: &Process, args: &MasterArgs, conf: Option<&Path>) -> Vec<String> {
    let cgroup =
        std::fs::read_to_string(format!("/proc/{}/cgroup", master.pid)).unwrap_or_default();
    let bin = runnable_exe(master);
    // In a container that compose made: `docker compose exec nginx ...` from its project.
    if let Some(c) = super::container::of_pid(&crate::sysroot::SysRoot::live(), master.pid) {
        return vec![c.reload_nginx()];
    }
    vec![reload_with(
        &Supervisor::from_cgroup(&cgroup),
        master.pid,
        args,
        conf,
        bin.as_deref(),
    )]
}

/// How to check and reload the nginx whose filesystem view is `--root /proc/PID/root` (another
/// mount namespace): its container's way (`docker compose exec …`) when a container engine
/// started it; else, for a namespace made some other way (`unshare -m`, a sandboxing unit), the
/// nginx of that namespace (`nsenter -t PID -m`) tests the config, and the master gets a HUP
/// (signals cross mount namespaces). `pid` may be the master or another process of its view.
pub fn reload_in_namespace(pid: i32) -> String {
    if let Some(c) = super::container::of_pid(&crate::sysroot::SysRoot::live(), pid) {
        return c.reload_nginx();
    }
    let master = super::Process::read(pid)
        .ok()
        .filter(|p| p.is_nginx_master())
        .or_else(|| {
            super::nginx_masters()
                .into_iter()
                .find(|m| same_namespace(m.pid, pid))
        });
    let Some(master) = master else {
        return format!(
            "sudo nsenter -t {pid} -m nginx -t && sudo nsenter -t {pid} -m nginx -s reload"
        );
    };
    let args = master.master_args();
    let mut flags = String::new();
    if let Some(p) = &args.prefix {
        flags.push_str(&format!(
            " -p {}",
            crate::text_safe::shell_quote(&p.display().to_string())
        ));
    }
    if let Some(c) = &args.conf {
        flags.push_str(&format!(
            " -c {}",
            crate::text_safe::shell_quote(&c.display().to_string())
        ));
    }
    format!(
        "sudo nsenter -t {m} -m nginx -t{flags} && sudo kill -HUP {m}",
        m = master.pid
    )
}

/// What started a process, from its cgroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Supervisor {
    /// A systemd service (`nginx.service`).
    Systemd(String),
    /// A container (docker or podman) by its short id.
    Container { engine: &'static str, id: String },
    /// Started by hand or by a script.
    Plain,
}

impl Supervisor {
    pub fn from_cgroup(text: &str) -> Supervisor {
        for line in text.lines() {
            let path = line.splitn(3, ':').nth(2).unwrap_or("");
            for part in path.split('/') {
                for (prefix, engine) in [("docker-", "docker"), ("libpod-", "podman")] {
                    if let Some(id) = part
                        .strip_prefix(prefix)
                        .and_then(|p| p.strip_suffix(".scope"))
                    {
                        return Supervisor::Container {
                            engine,
                            id: id.chars().take(12).collect(),
                        };
                    }
                }
            }
            // The innermost component names the service the process runs in.
            if let Some(last) = path.rsplit('/').find(|p| !p.is_empty()) {
                if last.ends_with(".service") && !last.starts_with("user@") {
                    return Supervisor::Systemd(last.to_string());
                }
            }
        }
        Supervisor::Plain
    }
}

pub fn reload_with(
    sup: &Supervisor,
    pid: i32,
    args: &MasterArgs,
    conf: Option<&Path>,
    bin: Option<&Path>,
) -> String {
    let bin = bin
        .map(|b| crate::text_safe::shell_quote(&b.display().to_string()))
        .unwrap_or_else(|| "nginx".into());
    let mut flags = String::new();
    if let Some(p) = &args.prefix {
        flags.push_str(&format!(
            " -p {}",
            crate::text_safe::shell_quote(&p.display().to_string())
        ));
    }
    if let (Some(_), Some(c)) = (&args.conf, conf) {
        flags.push_str(&format!(
            " -c {}",
            crate::text_safe::shell_quote(&c.display().to_string())
        ));
    }
    match sup {
        Supervisor::Systemd(unit) => {
            let unit = unit.strip_suffix(".service").unwrap_or(unit);
            format!("sudo {bin} -t{flags} && sudo systemctl reload {unit}")
        }
        Supervisor::Container { engine, id } => {
            format!("sudo {engine} exec {id} nginx -t && sudo {engine} exec {id} nginx -s reload")
        }
        Supervisor::Plain => format!("sudo {bin} -t{flags} && sudo kill -HUP {pid}"),
    }
}

/// When a config file last changed: its content (mtime through symlinks) or the link itself (a
/// site enabled by a new symlink in sites-enabled/).
pub fn changed_at(path: &Path) -> Option<SystemTime> {
    let target = std::fs::metadata(path).and_then(|m| m.modified()).ok();
    let link = std::fs::symlink_metadata(path)
        .and_then(|m| m.modified())
        .ok();
    target.max(link)
}

pub fn same_file(a: &Path, b: &Path) -> bool {
    a == b
        || match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
            (Ok(x), Ok(y)) => x == y,
            _ => false,
        }
}

/// `same_file` in the view of `root` (nginx in a mount namespace of its own: symlinks resolved
/// there). Two paths that cannot be resolved (a symlink loop) are not the same file.
pub fn same_file_in(root: &crate::sysroot::SysRoot, a: &Path, b: &Path) -> bool {
    a == b || matches!((root.real_path(a), root.real_path(b)), (Ok(x), Ok(y)) if x == y)
}

#[cfg(test)]
mod reload_tests {
    use super::*;

    #[test]
    fn same_file_in_a_view_follows_links_and_never_matches_two_failures() {
        let t = tempfile::tempdir().unwrap();
        let root = crate::sysroot::SysRoot::new(t.path());
        std::fs::create_dir_all(t.path().join("etc/nginx")).unwrap();
        std::fs::write(t.path().join("etc/nginx/nginx.conf"), "").unwrap();
        std::os::unix::fs::symlink("/etc/nginx/nginx.conf", t.path().join("main.conf")).unwrap();
        for (from, to) in [("a", "/b"), ("b", "/a"), ("c", "/d"), ("d", "/c")] {
            std::os::unix::fs::symlink(to, t.path().join(from)).unwrap();
        }
        let p = Path::new;
        assert!(same_file_in(
            &root,
            p("/main.conf"),
            p("/etc/nginx/nginx.conf")
        ));
        assert!(!same_file_in(
            &root,
            p("/main.conf"),
            p("/etc/nginx/other.conf")
        ));
        // Two symlink loops: neither path resolves, so nothing says they are one file.
        assert!(!same_file_in(&root, p("/a/nginx.conf"), p("/c/nginx.conf")));
    }

    #[test]
    fn reload_follows_the_supervisor() {
        let none = MasterArgs::default();
        let bin = Some(Path::new("/usr/sbin/nginx"));
        let sup = |c: &str| Supervisor::from_cgroup(c);
        assert_eq!(
            reload_with(
                &sup("0::/system.slice/nginx.service\n"),
                10,
                &none,
                None,
                bin
            ),
            "sudo /usr/sbin/nginx -t && sudo systemctl reload nginx"
        );
        let custom = MasterArgs {
            conf: Some(PathBuf::from("/tmp/x/nginx.conf")),
            prefix: None,
        };
        assert_eq!(
            reload_with(
                &sup("0::/user.slice/user-0.slice/session-3.scope\n"),
                42,
                &custom,
                custom.conf.as_deref(),
                bin
            ),
            "sudo /usr/sbin/nginx -t -c /tmp/x/nginx.conf && sudo kill -HUP 42"
        );
        // A prefix or config path with a space pastes as one argument.
        let spaced = MasterArgs {
            conf: Some(PathBuf::from("/srv/my site/nginx.conf")),
            prefix: Some(PathBuf::from("/srv/my site/")),
        };
        assert_eq!(
            reload_with(
                &sup("0::/user.slice/user-0.slice/session-3.scope\n"),
                42,
                &spaced,
                spaced.conf.as_deref(),
                bin
            ),
            "sudo /usr/sbin/nginx -t -p '/srv/my site/' -c '/srv/my site/nginx.conf' && sudo kill -HUP 42"
        );
        // Not started by systemd, default config: still a HUP, never systemctl.
        assert_eq!(
            reload_with(&sup("0::/init.scope\n"), 7, &none, None, bin),
            "sudo /usr/sbin/nginx -t && sudo kill -HUP 7"
        );
        assert_eq!(
            reload_with(
                &sup("0::/system.slice/docker-0123456789abcdef0123.scope\n"),
                7,
                &none,
                None,
                None
            ),
            "sudo docker exec 0123456789ab nginx -t && sudo docker exec 0123456789ab nginx -s reload"
        );
    }
}
