//! The Apache side of a site under examination (#14 part 4): the configuration loaded once, the
//! site's virtual hosts, and how this Apache is reloaded. `Site` holds one when Apache is the
//! server judged; the MD5xx checks read it (through `checks::Context::apache`), as the nginx
//! checks read the nginx facets.

use crate::apache::{self, Config, NodeId};
use crate::sysroot::SysRoot;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug)]
pub struct ApacheSite {
    /// The entry file (apache2.conf, httpd.conf, or a bare `<VirtualHost>` file).
    pub entry: PathBuf,
    pub config: Arc<Config>,
    /// The site's `<VirtualHost>` sections: those whose file or names match `--site`, else all.
    pub vhosts: Vec<NodeId>,
    /// How `vhosts` was chosen, for the report.
    pub matched_by: String,
    /// `--site NAME` named no `<VirtualHost>` Apache reads (then `vhosts` is every one).
    pub unmatched: bool,
    /// One site of a `check` over every site (`for_site`): its report lists its own files.
    pub one_of_many: bool,
}

impl ApacheSite {
    /// Load `entry` under `root` and choose the site's virtual hosts.
    pub fn load(root: &SysRoot, entry: &Path, name: Option<&str>) -> anyhow::Result<ApacheSite> {
        let config = apache::load_files(root, entry)?;
        let all: Vec<NodeId> = config.virtual_hosts().map(|v| v.id()).collect();
        let mut unmatched = false;
        let (vhosts, matched_by) = match name {
            None => (all, "every <VirtualHost> (no --site given)".to_string()),
            Some(name) => {
                let by_file: Vec<NodeId> = all
                    .iter()
                    .copied()
                    .filter(|&v| file_names_site(config.directive(v).file(), name))
                    .collect();
                let by_name: Vec<NodeId> = all
                    .iter()
                    .copied()
                    .filter(|&v| {
                        config.directive(v).children().any(|d| {
                            (d.is("ServerName") || d.is("ServerAlias"))
                                && d.args().any(|h| {
                                    let h = h.split("://").last().unwrap_or(h);
                                    h.split([':', '.']).any(|label| label == name)
                                })
                        })
                    })
                    .collect();
                if !by_file.is_empty() {
                    (by_file, format!("file name {name}"))
                } else if !by_name.is_empty() {
                    (by_name, format!("ServerName/ServerAlias {name}"))
                } else {
                    unmatched = true;
                    (all, format!("every <VirtualHost> (none is named {name})"))
                }
            }
        };
        Ok(ApacheSite {
            entry: entry.to_path_buf(),
            config: Arc::new(config),
            vhosts,
            matched_by,
            unmatched,
            one_of_many: false,
        })
    }

    /// The name of each site Apache reads, as `--site` takes it: a `<VirtualHost>` file's name
    /// (without `.conf`) when it is not the main file, else its ServerName; sorted, once each.
    pub fn site_names(&self) -> Vec<String> {
        let cfg = &self.config;
        let mut names: Vec<String> = cfg
            .virtual_hosts()
            .filter_map(|v| {
                if v.file() != self.entry.as_path() {
                    let f = v.file().file_name()?.to_str()?;
                    return Some(f.strip_suffix(".conf").unwrap_or(f).to_string());
                }
                v.children()
                    .filter(|d| d.is("ServerName"))
                    .last()
                    .and_then(|d| d.arg(0))
                    .map(str::to_string)
            })
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// The sites of this box, as `check` without `--site` judges them one by one: the
    /// `<VirtualHost>` sections of one file (`shop` for sites-enabled/shop.conf), or, for one in
    /// the entry file, its ServerName (else its file:line); in name order.
    pub fn sites(&self) -> Vec<(String, Vec<NodeId>)> {
        let cfg = &self.config;
        let mut by_name: std::collections::BTreeMap<String, Vec<NodeId>> = Default::default();
        for v in cfg.virtual_hosts() {
            let name = if v.file() != self.entry.as_path() {
                v.file()
                    .file_name()
                    .and_then(|f| f.to_str())
                    .map(|f| f.strip_suffix(".conf").unwrap_or(f).to_string())
            } else {
                v.children()
                    .filter(|d| d.is("ServerName"))
                    .last()
                    .and_then(|d| d.arg(0))
                    .map(str::to_string)
            };
            let name = name.unwrap_or_else(|| format!("{}:{}", v.file().display(), v.line()));
            by_name.entry(name).or_default().push(v.id());
        }
        by_name.into_iter().collect()
    }

    /// The site `name` of this box, made of the virtual hosts `vhosts`: it shares the loaded
    /// configuration.
    pub fn for_site(&self, name: &str, vhosts: Vec<NodeId>) -> ApacheSite {
        ApacheSite {
            entry: self.entry.clone(),
            config: self.config.clone(),
            vhosts,
            matched_by: format!("the site {name} of this box (every site is checked on its own)"),
            unmatched: false,
            one_of_many: true,
        }
    }

    /// What the report says about the configuration of a run over every site: the sites are
    /// in `sites[]`, each with its own virtual hosts.
    pub fn box_json(&self, sites: usize) -> serde_json::Value {
        use crate::text_safe::path;
        serde_json::json!({
            "entry": path(&self.entry),
            "kind": self.config.kind,
            "files": self.config.files.iter().map(|f| path(f)).collect::<Vec<_>>(),
            "virtual_hosts": [],
            "matched_by": format!("every site on its own ({sites} sites)"),
        })
    }

    /// The paths the site's virtual hosts name (Alias targets, DocumentRoot, the WSGI script,
    /// `WSGIDaemonProcess python-path=`/`home=`): app discovery looks above them, as it does
    /// above nginx's roots.
    pub fn literal_dirs(&self) -> Vec<PathBuf> {
        let cfg = &self.config;
        let mut out: Vec<PathBuf> = Vec::new();
        let mut add = |p: &str| {
            let p = PathBuf::from(p);
            if p.is_absolute() && !out.contains(&p) {
                out.push(p);
            }
        };
        for &v in &self.vhosts {
            for d in cfg.directive(v).descendants() {
                if d.is("Alias") || d.is("DocumentRoot") {
                    if let Some(t) = d.args().last() {
                        add(t);
                    }
                } else if d.is("WSGIScriptAlias") {
                    // The script itself: discovery looks in the directories above what it is
                    // given, the script's own first.
                    if let Some(script) = d.arg(1) {
                        add(script);
                    }
                } else if d.is("WSGIDaemonProcess") {
                    for a in d.args() {
                        if let Some(p) = a
                            .strip_prefix("python-path=")
                            .or_else(|| a.strip_prefix("home="))
                        {
                            p.split(':').for_each(&mut add);
                        }
                    }
                }
            }
        }
        out
    }

    /// What the report says about the Apache configuration judged.
    pub fn to_json(&self) -> serde_json::Value {
        use crate::text_safe::path;
        let cfg = &self.config;
        let vhosts: Vec<_> = self
            .vhosts
            .iter()
            .map(|&v| {
                let d = cfg.directive(v);
                let names: Vec<&str> = d
                    .children()
                    .filter(|c| c.is("ServerName") || c.is("ServerAlias"))
                    .flat_map(|c| c.args())
                    .collect();
                serde_json::json!({"file": path(d.file()), "line": d.line(), "names": names})
            })
            .collect();
        // One site of many: the entry and its own virtual hosts' files (the others are other
        // sites'), so that the report over 10,000 sites does not list every file 10,000 times.
        let files: Vec<_> = cfg
            .files
            .iter()
            .filter(|f| {
                !self.one_of_many
                    || f.as_path() == self.entry.as_path()
                    || self
                        .vhosts
                        .iter()
                        .any(|&v| cfg.directive(v).file() == f.as_path())
            })
            .map(|f| path(f))
            .collect();
        serde_json::json!({
            "entry": path(&self.entry),
            "kind": cfg.kind,
            "files": files,
            "virtual_hosts": vhosts,
            "matched_by": self.matched_by,
        })
    }
}

/// `sites-enabled/myapp.conf` (or `myapp`) names the site `myapp`.
fn file_names_site(file: &Path, name: &str) -> bool {
    let Some(f) = file.file_name().and_then(|f| f.to_str()) else {
        return false;
    };
    f == name || f.strip_suffix(".conf") == Some(name)
}

/// How a running Apache master was started, for its reload command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Master {
    pub pid: i32,
    /// The program it runs (`apache2`, `httpd`).
    pub program: String,
    /// The `-d`/`-f` it was started with (a private instance: apache2ctl would not reach it).
    pub args: Vec<String>,
    pub supervisor: crate::system::loaded::Supervisor,
    pub started: std::time::SystemTime,
}

/// The box's running Apache master: the pid in Debian's or RHEL's pid file, or in the `PidFile`
/// the configuration names, when that pid is an `apache2`/`httpd` process. Only on the live
/// system.
pub fn running_master(root: &SysRoot, cfg: Option<&Config>) -> Option<Master> {
    if !root.is_live() {
        return None;
    }
    let mut pid_files: Vec<PathBuf> = Vec::new();
    if let Some(cfg) = cfg {
        if let Some(p) = cfg
            .top()
            .filter(|d| d.is("PidFile"))
            .last()
            .and_then(|d| d.arg(0))
        {
            pid_files.push(cfg.root_relative(p));
        }
    }
    pid_files.extend(
        [
            "/run/apache2/apache2.pid",
            "/run/httpd/httpd.pid",
            "/var/run/httpd.pid",
        ]
        .map(PathBuf::from),
    );
    pid_files.iter().find_map(|f| {
        let pid: i32 = crate::input::read_to_string(f).ok()?.trim().parse().ok()?;
        let p = crate::system::Process::read(pid).ok()?;
        if !matches!(p.comm.as_str(), "apache2" | "httpd") {
            return None;
        }
        let words: Vec<&str> = p.cmdline.split_whitespace().collect();
        let mut args = Vec::new();
        let mut i = 1;
        while i < words.len() {
            if matches!(words[i], "-d" | "-f") {
                if let Some(v) = words.get(i + 1) {
                    args.push(format!("{} {v}", words[i]));
                }
                i += 2;
            } else {
                i += 1;
            }
        }
        let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
        Some(Master {
            pid,
            program: p.comm.clone(),
            args,
            supervisor: crate::system::loaded::Supervisor::from_cgroup(&cgroup),
            started: p.started,
        })
    })
}

/// The configuration test and graceful reload for how this Apache runs: its systemd unit's
/// reload, `apache2ctl graceful` for the packaged server started by hand, a USR1 (graceful) to a
/// master started with its own `-d`/`-f` (apache2ctl would signal another one), the container's
/// own apachectl. With no running master (off the box, under --root), the distribution's unit
/// where systemd runs the system (`systemd`), else `apache2ctl graceful`, which works under any
/// init (a systemctl line on a box without systemd would fail as pasted).
pub fn reload_command(master: Option<&Master>, entry: &Path, systemd: bool) -> String {
    let rhel = entry.starts_with("/etc/httpd");
    let ctl = if rhel { "apachectl" } else { "apache2ctl" };
    use crate::system::loaded::Supervisor;
    match master {
        None if systemd => {
            let unit = if rhel { "httpd" } else { "apache2" };
            format!("sudo {ctl} configtest && sudo systemctl reload {unit}")
        }
        None => format!("sudo {ctl} configtest && sudo {ctl} graceful"),
        Some(m) => {
            let ctl = if m.program == "httpd" {
                "apachectl"
            } else {
                "apache2ctl"
            };
            match &m.supervisor {
                Supervisor::Systemd(unit) => {
                    let unit = unit.strip_suffix(".service").unwrap_or(unit);
                    if m.args.is_empty() {
                        format!("sudo {ctl} configtest && sudo systemctl reload {unit}")
                    } else {
                        format!(
                            "sudo {} {} -t && sudo systemctl reload {unit}",
                            m.program,
                            m.args.join(" ")
                        )
                    }
                }
                Supervisor::Container { engine, id } => format!(
                    "sudo {engine} exec {id} {ctl} configtest && sudo {engine} exec {id} {ctl} graceful"
                ),
                Supervisor::Plain if m.args.is_empty() => {
                    format!("sudo {ctl} configtest && sudo {ctl} graceful")
                }
                Supervisor::Plain => format!(
                    "sudo {} {} -t && sudo kill -USR1 {}",
                    m.program,
                    m.args.join(" "),
                    m.pid
                ),
            }
        }
    }
}

/// When the master last (re)loaded its configuration, at the latest: a graceful restart keeps
/// the master and starts new children, so the oldest current child's start bounds the last load
/// from below; the master's own start when it has no children (caught between generations).
/// (Only a bound: a child of the old configuration still finishing a request after a graceful
/// restart is as much a child as the new ones. MD507 reads `children_started` and the error log.)
pub fn last_load(master: &Master) -> std::time::SystemTime {
    children_started(master)
        .into_iter()
        .min()
        .unwrap_or(master.started)
}

/// The start time of each current child of the master (never before the master's own: both
/// carry ~10 ms of jitter). Apache's process titles do not tell a child of the old generation,
/// finishing its requests after a graceful restart, from one of the new.
pub fn children_started(master: &Master) -> Vec<std::time::SystemTime> {
    std::fs::read_dir("/proc")
        .map(|rd| {
            rd.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
                .filter_map(|pid| crate::system::Process::read(pid).ok())
                .filter(|p| p.ppid == master.pid && p.comm == master.program)
                .map(|p| p.started.max(master.started))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::system::loaded::Supervisor;

    #[test]
    fn reload_follows_how_apache_runs() {
        let m = |sup: Supervisor, args: Vec<String>| Master {
            pid: 42,
            program: "apache2".into(),
            args,
            supervisor: sup,
            started: std::time::UNIX_EPOCH,
        };
        let entry = Path::new("/etc/apache2/apache2.conf");
        assert_eq!(
            reload_command(None, entry, true),
            "sudo apache2ctl configtest && sudo systemctl reload apache2"
        );
        assert_eq!(
            reload_command(None, Path::new("/etc/httpd/conf/httpd.conf"), true),
            "sudo apachectl configtest && sudo systemctl reload httpd"
        );
        // No systemd (a container, a copy of a disk without /run): a systemctl line would fail.
        assert_eq!(
            reload_command(None, entry, false),
            "sudo apache2ctl configtest && sudo apache2ctl graceful"
        );
        assert_eq!(
            reload_command(None, Path::new("/etc/httpd/conf/httpd.conf"), false),
            "sudo apachectl configtest && sudo apachectl graceful"
        );
        assert_eq!(
            reload_command(
                Some(&m(Supervisor::Systemd("apache2.service".into()), vec![])),
                entry,
                true
            ),
            "sudo apache2ctl configtest && sudo systemctl reload apache2"
        );
        assert_eq!(
            reload_command(Some(&m(Supervisor::Plain, vec![])), entry, true),
            "sudo apache2ctl configtest && sudo apache2ctl graceful"
        );
        assert_eq!(
            reload_command(
                Some(&m(Supervisor::Plain, vec!["-f /tmp/a.conf".into()])),
                entry,
                true
            ),
            "sudo apache2 -f /tmp/a.conf -t && sudo kill -USR1 42"
        );
    }
}
