//! The running system: nginx processes from /proc, and the nginx binary itself (`nginx -V`).
//! The only code that runs a program (besides `--eval`, which the user asks for), and it only
//! ever runs `nginx -V`, which writes nothing (not `nginx -t`/`-T`, which create the log files
//! and temp directories the config names), and `docker inspect` of the container nginx runs in
//! (`container`), which only reads.
//!
//! Everything here describes this machine, so callers use it only on the live root (no `--root`).

pub mod container;
pub mod loaded;

use crate::sysroot::SysRoot;
use anyhow::{bail, Context, Result};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

/// A process as /proc shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Process {
    pub pid: i32,
    pub ppid: i32,
    /// The command name (/proc/PID/stat's second field): `nginx`.
    pub comm: String,
    /// The title nginx sets: `nginx: master process /usr/sbin/nginx -c /etc/nginx/nginx.conf`.
    pub cmdline: String,
    /// When the process started (from its start tick and /proc/uptime: ~10 ms precision).
    pub started: SystemTime,
}

const MASTER_TITLE: &str = "nginx: master process";
const WORKER_TITLE: &str = "nginx: worker process";

impl Process {
    pub fn read(pid: i32) -> Result<Process> {
        let dir = PathBuf::from(format!("/proc/{pid}"));
        let stat = std::fs::read_to_string(dir.join("stat"))
            .with_context(|| format!("cannot read /proc/{pid}/stat"))?;
        let comm = stat
            .split_once('(')
            .and_then(|(_, r)| r.rsplit_once(')'))
            .map(|(c, _)| c.to_string())
            .unwrap_or_default();
        let (ppid, start_ticks) =
            parse_stat(&stat).with_context(|| format!("unexpected /proc/{pid}/stat: {stat:?}"))?;
        let raw = std::fs::read(dir.join("cmdline"))
            .with_context(|| format!("cannot read /proc/{pid}/cmdline"))?;
        // nginx overwrites argv with its title; an ordinary process has NUL-separated arguments.
        let cmdline = String::from_utf8_lossy(&raw)
            .trim_end_matches('\0')
            .replace('\0', " ");
        Ok(Process {
            pid,
            ppid,
            comm,
            cmdline,
            started: start_time(start_ticks)?,
        })
    }

    pub fn is_nginx_master(&self) -> bool {
        self.cmdline.starts_with(MASTER_TITLE)
    }

    /// nginx between writing its pid file and setting its title: still its plain command line.
    fn is_starting_nginx(&self) -> bool {
        self.comm == "nginx" && !self.cmdline.starts_with("nginx: ")
    }

    /// A worker serving requests (not one finishing old connections after a reload).
    pub fn is_current_nginx_worker(&self) -> bool {
        self.cmdline.starts_with(WORKER_TITLE) && !self.cmdline.contains("shutting down")
    }

    /// The binary it runs (/proc/PID/exe). ` (deleted)` at the end means it was replaced on disk.
    pub fn exe(&self) -> Option<PathBuf> {
        std::fs::read_link(format!("/proc/{}/exe", self.pid)).ok()
    }

    /// For a master: the `-c` and `-p` it was started with (from its title, which keeps argv).
    pub fn master_args(&self) -> MasterArgs {
        // A title keeps argv after its prefix; a master that has not set it yet shows argv.
        let rest = self
            .cmdline
            .strip_prefix(MASTER_TITLE)
            .unwrap_or(&self.cmdline);
        let words: Vec<&str> = rest.split_whitespace().collect();
        let mut args = MasterArgs::default();
        let mut i = 1; // words[0] is the binary
        while i < words.len() {
            let (flag, value) = match words[i] {
                f @ ("-c" | "-p" | "-g") => (f, words.get(i + 1).copied()),
                w if w.len() > 2 && (w.starts_with("-c") || w.starts_with("-p")) => {
                    (&w[..2], Some(&w[2..]))
                }
                _ => {
                    i += 1;
                    continue;
                }
            };
            match (flag, value) {
                ("-c", Some(v)) => args.conf = Some(PathBuf::from(v)),
                ("-p", Some(v)) => args.prefix = Some(PathBuf::from(v)),
                _ => {}
            }
            i += if words[i].len() == 2 { 2 } else { 1 };
        }
        args
    }
}

/// What a master's command line says about where its config is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MasterArgs {
    pub conf: Option<PathBuf>,
    pub prefix: Option<PathBuf>,
}

/// (ppid, start time in clock ticks since boot) from /proc/PID/stat. The command name (field 2)
/// may contain spaces and parentheses, so fields are counted from the last `)`.
fn parse_stat(stat: &str) -> Option<(i32, u64)> {
    let after = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // after ')': state(3) ppid(4) ... starttime(22): index = field - 3
    let ppid = fields.get(1)?.parse().ok()?;
    let start = fields.get(19)?.parse().ok()?;
    Some((ppid, start))
}

/// Wall-clock time of a start tick: the boot time plus the tick count.
fn start_time(start_ticks: u64) -> Result<SystemTime> {
    let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .filter(|&h| h > 0)
        .unwrap_or(100) as u64;
    let since_boot = Duration::from_secs(start_ticks / hz)
        + Duration::from_nanos(start_ticks % hz * 1_000_000_000 / hz);
    Ok(boot_time()? + since_boot)
}

/// The wall-clock time the boot clock counts from, read once per run so that every process's
/// start time is measured against the same origin. Start ticks count on CLOCK_BOOTTIME (as
/// /proc/uptime does); the wall clock is read right before and after it, and a pair with a
/// gap (this thread was preempted between the reads, common on a loaded machine) is read
/// again: an origin off by the length of a preemption would move every start time by as
/// much, and MD111 compares those times with file mtimes.
fn boot_time() -> Result<SystemTime> {
    static BOOT: std::sync::OnceLock<SystemTime> = std::sync::OnceLock::new();
    if let Some(t) = BOOT.get() {
        return Ok(*t);
    }
    let mut best: Option<(Duration, SystemTime)> = None;
    for _ in 0..20 {
        let before = SystemTime::now();
        let up = nix::time::clock_gettime(nix::time::ClockId::CLOCK_BOOTTIME)
            .context("cannot read the boot clock")?;
        let after = SystemTime::now();
        let gap = after.duration_since(before).unwrap_or(Duration::MAX);
        let up = Duration::new(up.tv_sec() as u64, up.tv_nsec() as u32);
        if best.map_or(true, |(g, _)| gap < g) {
            best = Some((gap, before - up));
        }
        if gap < Duration::from_micros(200) {
            break;
        }
    }
    let (_, boot) = best.context("cannot read the boot clock")?;
    Ok(*BOOT.get_or_init(|| boot))
}

/// Every process whose title says it is an nginx master.
pub fn nginx_masters() -> Vec<Process> {
    all_processes()
        .into_iter()
        .filter(Process::is_nginx_master)
        .collect()
}

/// The master named by a pid file, when that pid is a running nginx master (or an nginx that
/// wrote its pid file and has not set its `master process` title yet).
pub fn master_from_pid_file(pid_file: &Path) -> Option<Process> {
    // Bounded and non-blocking: the pid path comes from the config (`pid /dev/zero;`, a FIFO).
    let pid: i32 = crate::input::read_to_string(pid_file)
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Process::read(pid)
        .ok()
        .filter(|p| p.is_nginx_master() || p.is_starting_nginx())
}

/// The current workers of a master.
pub fn workers_of(master: &Process) -> Vec<Process> {
    all_processes()
        .into_iter()
        .filter(|p| p.ppid == master.pid && p.is_current_nginx_worker())
        .collect()
}

/// When the master last (re)loaded its configuration. A reload (SIGHUP) keeps the master and
/// starts new workers, so the current workers' start time is the last load; the master's own
/// start time is used only when it has no workers (`master_process off`, or caught mid-reload).
pub fn last_load(master: &Process) -> (SystemTime, LoadEvidence) {
    let workers = workers_of(master);
    match workers.iter().map(|w| w.started).min() {
        // Not before the master: both times carry ~10 ms of jitter.
        Some(t) => (t.max(master.started), LoadEvidence::Workers(workers.len())),
        None => (master.started, LoadEvidence::MasterStart),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadEvidence {
    /// The start time of the master's current workers (N of them).
    Workers(usize),
    /// The master's own start time.
    MasterStart,
}

fn all_processes() -> Vec<Process> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| Process::read(pid).ok())
        .collect()
}

/// Where nginx is installed, when the running master does not say: the usual places, then PATH.
pub fn nginx_binary() -> Option<PathBuf> {
    let usual = [
        "/usr/sbin/nginx",
        "/usr/local/sbin/nginx",
        "/usr/local/nginx/sbin/nginx",
        "/usr/bin/nginx",
    ];
    usual
        .iter()
        .map(PathBuf::from)
        .chain(
            std::env::var_os("PATH")
                .map(|p| {
                    std::env::split_paths(&p)
                        .map(|d| d.join("nginx"))
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default(),
        )
        .find(|p| p.is_file())
}

/// What a program printed, and whether it succeeded.
#[derive(Debug, Clone)]
pub struct Output {
    pub success: bool,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

/// Output beyond this is not read (an `nginx -T` dump of a 10,000-site config is ~10 MB).
const MAX_OUTPUT: u64 = 64 << 20;

/// Run a program with no stdin, bounded in time; killed (by its own pid) when it overruns.
pub fn run(program: &Path, args: &[&std::ffi::OsStr], timeout: Duration) -> Result<Output> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {}", program.display()))?;
    // Read both pipes on threads so a full pipe never blocks the child.
    let mut out_pipe = child.stdout.take().context("stdout")?;
    let mut err_pipe = child.stderr.take().context("stderr")?;
    let out_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = (&mut out_pipe).take(MAX_OUTPUT).read_to_end(&mut buf);
        buf
    });
    let err_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = (&mut err_pipe).take(1 << 20).read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "{} did not finish within {} s",
                program.display(),
                timeout.as_secs()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Ok(Output {
        success: status.success(),
        stdout: out_reader.join().unwrap_or_default(),
        stderr: err_reader.join().unwrap_or_default(),
    })
}

/// The cores this process may use, asked once: `available_parallelism` reads the cgroup files
/// (/proc/self/cgroup, the CPU quota) on every call, and a check over many sites asks per site.
pub fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Whether systemd runs the system under `root`, as sd_booted(3) tells: /run/systemd/system is a
/// directory; on the live system PID 1 is also systemd (a container may bind-mount the host's
/// /run). A tree without /run (a copy of a server's disk) says no: its reload is then the one
/// that works under any init.
pub fn systemd_runs(root: &SysRoot) -> bool {
    root.is_dir(Path::new("/run/systemd/system"))
        && (!root.is_live()
            || std::fs::read_to_string("/proc/1/comm").is_ok_and(|c| c.trim() == "systemd"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn systemd_runs_where_the_root_says_so() {
        let t = tempfile::tempdir().unwrap();
        let root = SysRoot::new(t.path());
        assert!(!systemd_runs(&root));
        std::fs::create_dir_all(t.path().join("run/systemd")).unwrap();
        std::fs::write(t.path().join("run/systemd/system"), "").unwrap();
        assert!(!systemd_runs(&root), "a file is not the directory");
        std::fs::remove_file(t.path().join("run/systemd/system")).unwrap();
        std::fs::create_dir_all(t.path().join("run/systemd/system")).unwrap();
        assert!(systemd_runs(&root));
    }

    #[test]
    fn stat_fields_count_from_the_last_parenthesis() {
        let stat = "1234 (nginx: a (b)) S 1 1234 1234 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 98765 1000 10";
        assert_eq!(parse_stat(stat), Some((1, 98765)));
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn master_args_come_from_the_title() {
        let p = |c: &str| Process {
            pid: 1,
            ppid: 0,
            comm: "nginx".into(),
            cmdline: c.into(),
            started: SystemTime::now(),
        };
        let a = p(
            "nginx: master process /usr/sbin/nginx -p /srv/ng -c /srv/ng/nginx.conf -g daemon on;",
        )
        .master_args();
        assert_eq!(a.conf.as_deref(), Some(Path::new("/srv/ng/nginx.conf")));
        assert_eq!(a.prefix.as_deref(), Some(Path::new("/srv/ng")));
        let b = p("nginx: master process /usr/sbin/nginx -c/etc/x.conf").master_args();
        assert_eq!(b.conf.as_deref(), Some(Path::new("/etc/x.conf")));
        assert_eq!(
            p("nginx: master process /usr/sbin/nginx").master_args(),
            MasterArgs::default()
        );
        // Before nginx sets its title, the command line is its argv.
        let early = p("/usr/sbin/nginx -p /srv/ng -c /srv/ng/nginx.conf");
        assert!(early.is_starting_nginx() && !early.is_nginx_master());
        assert_eq!(
            early.master_args().conf.as_deref(),
            Some(Path::new("/srv/ng/nginx.conf"))
        );
    }

    #[test]
    fn this_process_has_a_start_time_in_the_past() {
        let me = Process::read(std::process::id() as i32).unwrap();
        let age = SystemTime::now().duration_since(me.started).unwrap();
        assert!(age < Duration::from_secs(24 * 3600 * 365));
        assert!(!me.is_nginx_master());
    }

    #[test]
    fn a_start_time_is_the_wall_clock_time_of_the_fork() {
        let before = SystemTime::now();
        let mut child = Command::new("/bin/sleep").arg("2").spawn().unwrap();
        let after = SystemTime::now();
        let p = Process::read(child.id() as i32);
        let _ = child.kill();
        let _ = child.wait();
        // Start ticks are 10 ms; the boot clock and the wall clock agree to microseconds.
        let started = p.unwrap().started;
        let slack = Duration::from_millis(25);
        assert!(
            started + slack >= before && started <= after + slack,
            "{started:?} not within {before:?} .. {after:?}"
        );
    }

    #[test]
    fn a_program_that_overruns_is_stopped() {
        let t0 = Instant::now();
        let r = run(
            Path::new("/bin/sleep"),
            &["5".as_ref()],
            Duration::from_millis(200),
        );
        assert!(r.is_err());
        assert!(t0.elapsed() < Duration::from_secs(2));
    }
}
