//! `--eval`: ask the app's own interpreter (its venv's python) what the settings are, and show
//! where that differs from the static reading. This EXECUTES APP CODE (the settings module, or the
//! Flask module and its factory), so it only runs when the user passes `--eval`, with a timeout,
//! in the app's working directory, with the app's environment, and with bytecode writing off so
//! the project directory is not modified.

use super::discover::Project;
use super::env::Env;
use super::{App, Framework, Setting};
use crate::sysroot::SysRoot;
use serde::Serialize;
use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(30);
const MARK: &str = "MEDIA_DOCTOR_EVAL:";

#[derive(Debug, Clone, Serialize)]
pub struct Evaluated {
    /// Always true when present: the report must say that app code ran.
    pub app_code_executed: bool,
    pub python: PathBuf,
    /// What was imported: `shop.settings.production`, `app:create_app()`.
    pub target: String,
    pub error: Option<String>,
    pub values: BTreeMap<String, Json>,
    pub differences: Vec<Difference>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Difference {
    pub setting: String,
    pub static_value: String,
    pub evaluated: String,
}

const DJANGO_SCRIPT: &str = r#"
import json, os, sys
sys.path[:0] = ARGS["path"]
os.environ["DJANGO_SETTINGS_MODULE"] = ARGS["target"]
from django.conf import settings
def s(x):
    return None if x is None else str(x)
def dirs(v):
    out = []
    for d in v or ():
        out.append(str(d[1] if isinstance(d, (tuple, list)) else d))
    return out
storages = getattr(settings, "STORAGES", None) or {}
def backend(alias, old):
    b = (storages.get(alias) or {}).get("BACKEND")
    return b or getattr(settings, old, None)
out = {
    "MEDIA_ROOT": s(settings.MEDIA_ROOT) or None,
    "MEDIA_URL": s(settings.MEDIA_URL) or None,
    "STATIC_ROOT": s(settings.STATIC_ROOT) or None,
    "STATIC_URL": s(settings.STATIC_URL) or None,
    "STATICFILES_DIRS": dirs(getattr(settings, "STATICFILES_DIRS", ())),
    "DEBUG": bool(settings.DEBUG),
    "ALLOWED_HOSTS": list(settings.ALLOWED_HOSTS),
    "whitenoise": any(str(m).startswith("whitenoise.") for m in settings.MIDDLEWARE),
    "media_storage": backend("default", "DEFAULT_FILE_STORAGE"),
    "static_storage": backend("staticfiles", "STATICFILES_STORAGE"),
}
print(MARK + json.dumps(out))
"#;

const FLASK_SCRIPT: &str = r#"
import importlib, json, os, sys
sys.path[:0] = ARGS["path"]
module, _, target = ARGS["target"].partition(":")
mod = importlib.import_module(module)
if target:
    app = eval(target, vars(mod))
else:
    app = getattr(mod, "app", None) or getattr(mod, "application", None)
    if app is None:
        factory = getattr(mod, "create_app", None) or getattr(mod, "make_app", None)
        app = factory()
if not hasattr(app, "config") and callable(app):
    app = app()
cfg = app.config
def first(keys):
    for k in keys:
        v = cfg.get(k)
        if v is None:
            v = getattr(mod, k, None)
        if v is not None:
            return str(v)
    return None
upload = first(ARGS["upload_keys"])
out = {
    "UPLOAD_FOLDER": os.path.normpath(os.path.join(os.getcwd(), upload)) if upload else None,
    "MEDIA_URL": first(ARGS["url_keys"]),
    "DEBUG": bool(cfg.get("DEBUG")),
    "static_folder": app.static_folder,
    "static_url_path": app.static_url_path,
    "rules": sorted(r.rule for r in app.url_map.iter_rules()),
}
print(MARK + json.dumps(out))
"#;

pub fn run(root: &SysRoot, app: &mut App, project: &Project, env: &Env) {
    let Some(python) = app.python.clone() else {
        app.evaluated = Some(failed(
            PathBuf::new(),
            String::new(),
            "--eval: the app's interpreter is unknown (no venv found beside the app server or in the project)",
        ));
        return;
    };
    // Executed as a program on this machine: host path, symlinks followed by the kernel.
    let host_python = root.host_path(&python);
    let (script, target) = match app.framework {
        Framework::Django => match &app.settings_module {
            Some(m) => (DJANGO_SCRIPT, m.clone()),
            None => {
                app.evaluated = Some(failed(
                    python,
                    String::new(),
                    "--eval: no settings module to import",
                ));
                return;
            }
        },
        Framework::Flask => match &app.target {
            Some(t) => (FLASK_SCRIPT, t.clone()),
            None => {
                app.evaluated = Some(failed(
                    python,
                    String::new(),
                    "--eval: no Flask module to import",
                ));
                return;
            }
        },
    };
    let host_cwd = root.host_path(&app.cwd);
    let paths: Vec<String> = [&app.cwd, &project.dir]
        .iter()
        .map(|p| root.host_path(p).display().to_string())
        .collect();
    let args = serde_json::json!({
        "path": paths,
        "target": target,
        "upload_keys": super::flask::UPLOAD_KEYS,
        "url_keys": super::flask::MEDIA_URL_KEYS,
    });
    let program = format!(
        "import json\nARGS = json.loads({:?})\nMARK = {MARK:?}\n{script}",
        args.to_string()
    );
    let mut cmd = Command::new(&host_python);
    cmd.arg("-c")
        .arg(program)
        .current_dir(if host_cwd.is_dir() {
            host_cwd
        } else {
            root.host_path(&project.dir)
        })
        .env_clear()
        .envs(env.merged())
        .env(
            "PATH",
            std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into()),
        )
        // Read-only promise: no __pycache__ written into the project.
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let out = match run_bounded(cmd, BOUNDS) {
        Ok(o) => o,
        Err(e) => {
            // Name the interpreter: "No such file or directory" alone does not say which file.
            let why = format!("--eval: running {}: {e}", host_python.display());
            app.evaluated = Some(failed(python, target, &why));
            return;
        }
    };
    let Some(line) = out.0.lines().rev().find_map(|l| l.strip_prefix(MARK)) else {
        let err = out
            .1
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("no output");
        app.evaluated = Some(failed(
            python,
            target,
            &format!("--eval: the app's python failed: {err}"),
        ));
        return;
    };
    let values: BTreeMap<String, Json> = match serde_json::from_str(line) {
        Ok(v) => v,
        Err(e) => {
            app.evaluated = Some(failed(
                python,
                target,
                &format!("--eval: unreadable output: {e}"),
            ));
            return;
        }
    };
    let values = to_system_paths(root, values);
    let differences = compare(app, &values);
    app.evaluated = Some(Evaluated {
        app_code_executed: true,
        python,
        target,
        error: None,
        values,
        differences,
    });
}

fn failed(python: PathBuf, target: String, why: &str) -> Evaluated {
    Evaluated {
        app_code_executed: !target.is_empty(),
        python,
        target,
        error: Some(why.to_string()),
        values: BTreeMap::new(),
        differences: Vec::new(),
    }
}

/// What the app's python may use. The time covers everything: the child, anything it started,
/// and the pipes they hold (a grandchild holding stdout does not keep the run waiting).
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    pub time: Duration,
    /// Address space of the child (RLIMIT_AS, inherited by what it starts): a settings module
    /// that allocates without end fails with MemoryError instead of taking the machine.
    pub memory: u64,
    /// Output read from each pipe; the rest is discarded.
    pub output: u64,
}

pub const BOUNDS: Bounds = Bounds {
    time: TIMEOUT,
    memory: 4 << 30,
    output: 16 << 20,
};

/// The environment variable that marks every process started for one bounded run: children
/// inherit it, so a descendant that left the process group (`setsid`, a daemon's double fork)
/// is still found and killed.
const RUN_MARK: &str = "MEDIA_DOCTOR_BOUNDED_RUN";

/// Runs `cmd` in its own process group under `bounds`. When the time is up, the whole group is
/// killed (SIGKILL); when the child ends first, what it left running is killed too, so no app
/// process outlives the run: the group, and any process that carries this run's mark in its
/// environment (one that called `setsid` has left the group but not the environment; only a
/// process that clears its own environment escapes, and it keeps the memory limit). Returns
/// (stdout, stderr).
pub fn run_bounded(mut cmd: Command, bounds: Bounds) -> anyhow::Result<(String, String)> {
    use std::os::unix::process::CommandExt;
    use std::sync::mpsc;
    let memory = bounds.memory;
    let mark = format!("{}-{}", std::process::id(), run_serial());
    cmd.process_group(0).env(RUN_MARK, &mark);
    // SAFETY: the closure only makes the setrlimit system call (async-signal-safe), in the child
    // between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            use nix::sys::resource::{setrlimit, Resource};
            setrlimit(Resource::RLIMIT_AS, memory, memory).map_err(std::io::Error::from)?;
            setrlimit(Resource::RLIMIT_CORE, 0, 0).map_err(std::io::Error::from)
        });
    }
    let deadline = Instant::now() + bounds.time;
    let mut child = cmd.spawn()?;
    let group = nix::unistd::Pid::from_raw(child.id() as i32);
    let kill_group = || {
        let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
        kill_marked(&format!("{RUN_MARK}={mark}"));
    };
    // Each pipe is read on a thread that reports when it reaches the end: the end comes when
    // every process holding the pipe has closed it or died.
    let (tx, rx) = mpsc::channel::<(bool, String)>();
    let read = |pipe: Option<Box<dyn Read + Send>>, is_out: bool| {
        let tx = tx.clone();
        let max = bounds.output;
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(p) = pipe {
                let mut p = p.take(max);
                let _ = p.read_to_end(&mut buf);
                // Past the limit: drain without keeping, so the writer is not blocked.
                let _ = std::io::copy(p.get_mut(), &mut std::io::sink());
            }
            let _ = tx.send((is_out, String::from_utf8_lossy(&buf).into_owned()));
        });
    };
    read(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
        true,
    );
    read(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
        false,
    );
    drop(tx);
    let (mut out, mut err) = (None, None);
    let mut exited = false;
    while !(exited && out.is_some() && err.is_some()) {
        let now = Instant::now();
        if now >= deadline {
            kill_group();
            let _ = child.wait();
            anyhow::bail!(
                "the app's python did not finish within {} s (its process group was killed)",
                bounds.time.as_secs()
            );
        }
        if !exited && has_exited(group) {
            exited = true;
            // The child is done; whatever it left in its group (a daemonised helper holding
            // the pipes) goes with it. Killed before the child is reaped, so the group's id
            // cannot have been given to another process meanwhile.
            kill_group();
            child.wait()?;
        }
        match rx.recv_timeout((deadline - now).min(Duration::from_millis(20))) {
            Ok((true, s)) => out = Some(s),
            Ok((false, s)) => err = Some(s),
            Err(_) => {}
        }
    }
    Ok((out.unwrap_or_default(), err.unwrap_or_default()))
}

/// A number unique to each bounded run of this process (with the pid, the run's mark).
fn run_serial() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static SERIAL: AtomicU64 = AtomicU64::new(0);
    SERIAL.fetch_add(1, Ordering::Relaxed)
}

/// Kills (SIGKILL) every process whose environment holds `entry` (`NAME=value`), again until
/// none is left, since one may fork while the first are being killed. Reads /proc/PID/environ:
/// as root every process's, otherwise those of our own user, which is what a run we started can
/// become without root.
fn kill_marked(entry: &str) {
    let me = std::process::id();
    for _round in 0..10 {
        let mut killed = 0;
        let Ok(procs) = std::fs::read_dir("/proc") else {
            return;
        };
        for p in procs.flatten() {
            let Some(pid) = p.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
                continue;
            };
            if pid as u32 == me {
                continue;
            }
            let Ok(env) = std::fs::read(p.path().join("environ")) else {
                continue;
            };
            if env.split(|&b| b == 0).any(|kv| kv == entry.as_bytes()) {
                let pid = nix::unistd::Pid::from_raw(pid);
                if nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL).is_ok() {
                    killed += 1;
                }
            }
        }
        if killed == 0 {
            return;
        }
        // A killed process stays in /proc until reaped (a zombie has an empty environ, so the
        // next round does not count it again).
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Whether `pid` (our child) has exited, leaving it unreaped (WNOWAIT).
fn has_exited(pid: nix::unistd::Pid) -> bool {
    use nix::sys::wait::{waitid, Id, WaitPidFlag, WaitStatus};
    let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
    !matches!(waitid(Id::Pid(pid), flags), Ok(WaitStatus::StillAlive))
}

/// Under `--root`, the app ran from the host path of the project: report system paths.
fn to_system_paths(root: &SysRoot, values: BTreeMap<String, Json>) -> BTreeMap<String, Json> {
    let map = |s: &str| -> String {
        if root.is_live() || !s.starts_with('/') {
            return s.to_string();
        }
        root.system_path(Path::new(s))
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| s.to_string())
    };
    values
        .into_iter()
        .map(|(k, v)| {
            let v = match (k.as_str(), v) {
                (
                    "MEDIA_ROOT" | "STATIC_ROOT" | "UPLOAD_FOLDER" | "static_folder",
                    Json::String(s),
                ) => Json::String(map(&s)),
                ("STATICFILES_DIRS", Json::Array(items)) => Json::Array(
                    items
                        .into_iter()
                        .map(|i| match i {
                            Json::String(s) => Json::String(map(&s)),
                            other => other,
                        })
                        .collect(),
                ),
                (_, v) => v,
            };
            (k, v)
        })
        .collect()
}

fn norm_path(s: &str) -> String {
    super::python::interp::normpath(s)
}

/// The static reading against the evaluated values, setting by setting.
pub fn compare(app: &App, v: &BTreeMap<String, Json>) -> Vec<Difference> {
    let mut out = Vec::new();
    let mut diff = |name: &str, stat: String, eval: String| {
        if stat != eval {
            out.push(Difference {
                setting: name.to_string(),
                static_value: stat,
                evaluated: eval,
            });
        }
    };
    let path_of = |s: &Setting<PathBuf>| -> String {
        match s {
            Setting::Known { value, .. } if value.as_os_str().is_empty() => "(empty)".into(),
            Setting::Known { value, .. } => norm_path(&value.display().to_string()),
            Setting::Unset => "(empty)".into(),
            Setting::Unknown { expr, .. } => format!("unknown: {expr}"),
        }
    };
    let json_path = |k: &str| -> String {
        match v.get(k) {
            Some(Json::String(s)) if !s.is_empty() => norm_path(s),
            _ => "(empty)".into(),
        }
    };
    let url_of = |s: &Setting<String>| -> String {
        match s {
            Setting::Known { value, .. } => App::url_path(value).unwrap_or_else(|| value.clone()),
            Setting::Unset => "(empty)".into(),
            Setting::Unknown { expr, .. } => format!("unknown: {expr}"),
        }
    };
    let json_url = |k: &str| -> String {
        match v.get(k) {
            Some(Json::String(s)) if !s.is_empty() => App::url_path(s).unwrap_or_else(|| s.clone()),
            _ => "(empty)".into(),
        }
    };
    let bool_of = |s: &Setting<bool>| match s {
        Setting::Known { value, .. } => value.to_string(),
        Setting::Unset => "false".into(),
        Setting::Unknown { expr, .. } => format!("unknown: {expr}"),
    };
    let json_bool = |k: &str| {
        v.get(k)
            .and_then(|b| b.as_bool())
            .unwrap_or(false)
            .to_string()
    };
    match app.framework {
        Framework::Django => {
            diff(
                "MEDIA_ROOT",
                path_of(&app.media_root),
                json_path("MEDIA_ROOT"),
            );
            diff("MEDIA_URL", url_of(&app.media_url), json_url("MEDIA_URL"));
            diff(
                "STATIC_ROOT",
                path_of(&app.static_root),
                json_path("STATIC_ROOT"),
            );
            diff(
                "STATIC_URL",
                url_of(&app.static_url),
                json_url("STATIC_URL"),
            );
            diff("DEBUG", bool_of(&app.debug), json_bool("DEBUG"));
            let dirs_static: Vec<String> = app
                .static_sources
                .iter()
                .map(|p| norm_path(&p.display().to_string()))
                .collect();
            let dirs_eval: Vec<String> = v
                .get("STATICFILES_DIRS")
                .and_then(|a| a.as_array())
                .map(|a| a.iter().filter_map(|x| x.as_str()).map(norm_path).collect())
                .unwrap_or_default();
            diff(
                "STATICFILES_DIRS",
                dirs_static.join(", "),
                dirs_eval.join(", "),
            );
            let hosts = match &app.allowed_hosts {
                Setting::Known { value, .. } => value.join(", "),
                Setting::Unset => String::new(),
                Setting::Unknown { expr, .. } => format!("unknown: {expr}"),
            };
            let hosts_eval: Vec<&str> = v
                .get("ALLOWED_HOSTS")
                .and_then(|a| a.as_array())
                .map(|a| a.iter().filter_map(|x| x.as_str()).collect())
                .unwrap_or_default();
            diff("ALLOWED_HOSTS", hosts, hosts_eval.join(", "));
            diff(
                "whitenoise",
                bool_of(&app.whitenoise),
                json_bool("whitenoise"),
            );
            let remote_eval = v
                .get("media_storage")
                .and_then(|b| b.as_str())
                .filter(|b| super::django::is_remote_backend(b))
                .map(str::to_string);
            diff(
                "remote media storage",
                app.remote_media_storage
                    .clone()
                    .unwrap_or_else(|| "none".into()),
                remote_eval.unwrap_or_else(|| "none".into()),
            );
        }
        Framework::Flask => {
            diff(
                "UPLOAD_FOLDER",
                path_of(&app.media_root),
                json_path("UPLOAD_FOLDER"),
            );
            diff(
                "static_folder",
                path_of(&app.static_root),
                json_path("static_folder"),
            );
            let static_url_eval = match v.get("static_url_path") {
                Some(Json::String(s)) => format!("{}/", s.trim_end_matches('/')),
                _ => "(empty)".into(),
            };
            diff("static_url_path", url_of(&app.static_url), static_url_eval);
            diff("DEBUG", bool_of(&app.debug), json_bool("DEBUG"));
            // MEDIA_URL is a config key, or the prefix of a route: that route must exist.
            if v.get("MEDIA_URL").is_some_and(|u| !u.is_null()) {
                diff("MEDIA_URL", url_of(&app.media_url), json_url("MEDIA_URL"));
            } else if let Some(prefix) = app.media_url.value() {
                let rules: Vec<&str> = v
                    .get("rules")
                    .and_then(|a| a.as_array())
                    .map(|a| a.iter().filter_map(|x| x.as_str()).collect())
                    .unwrap_or_default();
                let served = rules.iter().any(|r| r.starts_with(prefix.as_str()));
                diff(
                    "media route",
                    format!("a route under {prefix}"),
                    if served {
                        format!("a route under {prefix}")
                    } else {
                        format!("no route under {prefix} ({})", rules.join(", "))
                    },
                );
            }
        }
    }
    out
}
