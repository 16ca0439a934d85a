//! systemd service units, read without systemd: the app server's unit says who the app runs as
//! (`User=`, `Group=`), where (`WorkingDirectory=`), with which environment (`Environment=`,
//! `EnvironmentFile=`) and what it runs (`ExecStart=`: gunicorn/uwsgi, `--chdir`, `module:app`).
//!
//! Files are read under `--root` from the unit search path in systemd's order of precedence;
//! drop-ins (`NAME.service.d/*.conf`) are applied after the unit file, sorted by file name, a
//! drop-in in an earlier directory masking one of the same name in a later directory, as systemd
//! does. Only what media-doctor needs is interpreted; everything else is kept as raw entries.

use super::server::AppServerCommand;
use crate::report::Location;
use crate::sysroot::SysRoot;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The unit search path, highest precedence first (systemd.unit(5), system instance).
pub const UNIT_DIRS: &[&str] = &[
    "/etc/systemd/system",
    "/run/systemd/system",
    "/lib/systemd/system",
    "/usr/lib/systemd/system",
];

/// A value and where it was set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Located<T> {
    pub value: T,
    pub at: Location,
}

/// One `EnvironmentFile=`: `-/etc/default/myapp` is optional (a missing file is no error).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EnvironmentFile {
    pub path: PathBuf,
    pub optional: bool,
    pub at: Location,
}

/// One `KEY=VALUE` from `Environment=`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EnvVar {
    pub name: String,
    pub value: String,
    pub at: Location,
}

/// A raw `Key=Value` line of the unit, after line continuations are joined.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    pub section: String,
    pub key: String,
    pub value: String,
    pub at: Location,
}

#[derive(Debug, Clone, Serialize)]
pub struct Unit {
    /// `myapp.service`.
    pub name: String,
    /// The unit file (system path), then its drop-ins in the order applied.
    pub path: PathBuf,
    pub dropins: Vec<PathBuf>,
    pub user: Option<Located<String>>,
    pub group: Option<Located<String>>,
    pub working_directory: Option<Located<PathBuf>>,
    /// Reports show the names only: values are often secrets.
    #[serde(serialize_with = "names_only")]
    pub environment: Vec<EnvVar>,
    pub environment_files: Vec<EnvironmentFile>,
    /// The last `ExecStart=` (a service has one; an empty assignment in a drop-in resets it).
    pub exec_start: Option<Located<Vec<String>>>,
    /// Every entry, in reading order (unit file first, then drop-ins).
    #[serde(skip)]
    pub entries: Vec<Entry>,
}

impl Unit {
    /// Loads `name` (e.g. `myapp.service`) from the unit search path under `root`. `Ok(None)` when
    /// no such unit exists or it is masked (a symlink to /dev/null, or an empty file).
    pub fn load(root: &SysRoot, name: &str) -> anyhow::Result<Option<Unit>> {
        let Some(path) = find_unit_file(root, name) else {
            return Ok(None);
        };
        let real = root.real_path(&path).unwrap_or_else(|_| path.clone());
        if real == Path::new("/dev/null") {
            return Ok(None);
        }
        let text = read_text(root, &path)?;
        if text.trim().is_empty() {
            return Ok(None);
        }
        let mut entries = parse(&text, &path);
        let dropins = find_dropins(root, name);
        for d in &dropins {
            // An unreadable drop-in is skipped, not fatal: the unit is still mostly right.
            if let Ok(t) = read_text(root, d) {
                entries.extend(parse(&t, d));
            }
        }
        Ok(Some(Unit::from_entries(name, path, dropins, entries)))
    }

    /// Builds the typed view from raw entries (applies systemd's override and reset rules).
    pub fn from_entries(
        name: &str,
        path: PathBuf,
        dropins: Vec<PathBuf>,
        entries: Vec<Entry>,
    ) -> Unit {
        let mut unit = Unit {
            name: name.to_string(),
            path,
            dropins,
            user: None,
            group: None,
            working_directory: None,
            environment: Vec::new(),
            environment_files: Vec::new(),
            exec_start: None,
            entries: Vec::new(),
        };
        for e in entries.iter().filter(|e| e.section == "Service") {
            let located = |v: String| Located {
                value: v,
                at: e.at.clone(),
            };
            match e.key.as_str() {
                "User" => unit.user = non_empty(&e.value).map(located),
                "Group" => unit.group = non_empty(&e.value).map(located),
                "WorkingDirectory" => {
                    // `-/path` ignores a missing directory; `~` is the user's home (unknown here).
                    let v = e.value.trim().trim_start_matches('-');
                    unit.working_directory = non_empty(v).map(|v| Located {
                        value: PathBuf::from(v),
                        at: e.at.clone(),
                    });
                }
                "Environment" => {
                    if e.value.trim().is_empty() {
                        unit.environment.clear();
                    }
                    for word in split_words(&e.value) {
                        if let Some((k, v)) = word.split_once('=') {
                            unit.environment.retain(|x| x.name != k);
                            unit.environment.push(EnvVar {
                                name: k.to_string(),
                                value: v.to_string(),
                                at: e.at.clone(),
                            });
                        }
                    }
                }
                "EnvironmentFile" => {
                    let v = e.value.trim();
                    if v.is_empty() {
                        unit.environment_files.clear();
                    } else {
                        let (optional, p) = match v.strip_prefix('-') {
                            Some(rest) => (true, rest),
                            None => (false, v),
                        };
                        unit.environment_files.push(EnvironmentFile {
                            path: PathBuf::from(p),
                            optional,
                            at: e.at.clone(),
                        });
                    }
                }
                "ExecStart" => {
                    let argv = exec_argv(&e.value);
                    unit.exec_start = (!argv.is_empty()).then(|| Located {
                        value: argv,
                        at: e.at.clone(),
                    });
                }
                _ => {}
            }
        }
        unit.entries = entries;
        unit
    }

    /// What `ExecStart=` runs, understood as an app server command line (gunicorn, uwsgi, ...).
    pub fn app_server(&self) -> Option<AppServerCommand> {
        self.exec_start
            .as_ref()
            .map(|e| AppServerCommand::parse(&e.value, e.at.clone()))
    }

    /// The unit's `Environment=` values as `(name, value)`, later ones winning.
    pub fn environment_map(&self) -> BTreeMap<String, String> {
        self.environment
            .iter()
            .map(|v| (v.name.clone(), v.value.clone()))
            .collect()
    }
}

fn names_only<S: serde::Serializer>(vars: &[EnvVar], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(vars.iter().map(|v| &v.name))
}

fn non_empty(v: &str) -> Option<String> {
    let v = v.trim();
    (!v.is_empty()).then(|| v.to_string())
}

/// `ExecStart=` arguments: the special prefixes (`@-:+!`) are dropped; the rest is split with
/// quoting. `$VAR`/`${VAR}` expansion is left to the reader of each argument.
fn exec_argv(value: &str) -> Vec<String> {
    let v = value.trim_start_matches(['@', '-', ':', '+', '!']);
    let mut argv = split_words(v);
    if value.trim_start().starts_with('@') && argv.len() > 1 {
        // `@/usr/bin/prog argv0 args`: the second word is argv[0], not an argument.
        argv.remove(1);
    }
    argv
}

/// systemd's word splitting (quotes removed, backslash escapes), close enough to POSIX shell
/// that shlex does it; a line shlex rejects (an unclosed quote) falls back to whitespace.
pub fn split_words(value: &str) -> Vec<String> {
    shlex::split(value).unwrap_or_else(|| value.split_whitespace().map(str::to_string).collect())
}

/// Parses a unit file or drop-in into entries. Comments start with `#` or `;`; a line ending in a
/// backslash continues on the next one (the backslash becomes a space, as systemd does).
pub fn parse(text: &str, file: &Path) -> Vec<Entry> {
    let mut out = Vec::new();
    let mut section = String::new();
    let mut lines = text.lines().enumerate();
    while let Some((i, raw)) = lines.next() {
        let line_no = i as u32 + 1;
        let mut line = raw.trim().to_string();
        if line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        while line.ends_with('\\') {
            line.pop();
            line.push(' ');
            match lines.next() {
                Some((_, next)) => {
                    let next = next.trim();
                    if next.starts_with('#') || next.starts_with(';') {
                        continue;
                    }
                    line.push_str(next);
                }
                None => break,
            }
        }
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.trim().to_string();
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            out.push(Entry {
                section: section.clone(),
                key: k.trim().to_string(),
                value: v.trim().to_string(),
                at: Location::new(file.display().to_string(), line_no),
            });
        }
    }
    out
}

fn read_text(root: &SysRoot, path: &Path) -> anyhow::Result<String> {
    let bytes = crate::input::read(&root.host_path(&root.real_path(path)?))
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

fn find_unit_file(root: &SysRoot, name: &str) -> Option<PathBuf> {
    UNIT_DIRS
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| std::fs::symlink_metadata(root.host_path(p)).is_ok())
}

/// `NAME.d/*.conf` across the search path: sorted by file name; a name in a higher-precedence
/// directory masks the same name further down.
fn find_dropins(root: &SysRoot, name: &str) -> Vec<PathBuf> {
    let mut by_name: BTreeMap<std::ffi::OsString, PathBuf> = BTreeMap::new();
    for dir in UNIT_DIRS {
        let sys_dir = Path::new(dir).join(format!("{name}.d"));
        let Ok(rd) = std::fs::read_dir(root.host_path(&sys_dir)) else {
            continue;
        };
        for entry in rd.flatten() {
            let file_name = entry.file_name();
            if Path::new(&file_name)
                .extension()
                .is_some_and(|e| e == "conf")
            {
                by_name
                    .entry(file_name.clone())
                    .or_insert_with(|| sys_dir.join(&file_name));
            }
        }
    }
    by_name.into_values().collect()
}

/// Every `*.service` unit name on the search path (each once), sorted.
pub fn service_names(root: &SysRoot) -> Vec<String> {
    let mut names = std::collections::BTreeSet::new();
    for dir in UNIT_DIRS {
        let Ok(rd) = std::fs::read_dir(root.host_path(Path::new(dir))) else {
            continue;
        };
        for entry in rd.flatten() {
            if let Some(n) = entry.file_name().to_str() {
                // Template units (`foo@.service`) need an instance name to mean anything.
                if n.ends_with(".service") && !n.contains('@') {
                    names.insert(n.to_string());
                }
            }
        }
    }
    names.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, path: &str, text: &str) {
        let p = root.join(path.trim_start_matches('/'));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    #[test]
    fn reads_a_gunicorn_unit_with_dropins() {
        let tmp = tempfile::tempdir().unwrap();
        let r = SysRoot::new(tmp.path());
        write(
            tmp.path(),
            "/lib/systemd/system/myapp.service",
            "[Unit]\nDescription=x\n\n[Service]\nUser=nobody\n",
        );
        // /etc wins over /lib.
        write(
            tmp.path(),
            "/etc/systemd/system/myapp.service",
            "[Unit]\nDescription=My app\n# comment\n[Service]\nUser=deploy\nGroup=www-data\n\
             WorkingDirectory=/srv/myapp\n\
             Environment=\"DJANGO_SETTINGS_MODULE=myapp.settings.production\" MEDIA=/srv/m\n\
             Environment='A=x y'\n\
             EnvironmentFile=-/etc/default/myapp\nEnvironmentFile=/srv/myapp/.env\n\
             ExecStart=/srv/myapp/venv/bin/gunicorn \\\n  --workers 3 \\\n  --bind unix:/run/myapp.sock \\\n  myapp.wsgi:application\n",
        );
        write(
            tmp.path(),
            "/etc/systemd/system/myapp.service.d/20-env.conf",
            "[Service]\nEnvironment=MEDIA=/srv/media2\nUser=app\n",
        );
        write(
            tmp.path(),
            "/lib/systemd/system/myapp.service.d/10-base.conf",
            "[Service]\nGroup=app\n",
        );
        // Masked by /etc's file of the same name.
        write(
            tmp.path(),
            "/lib/systemd/system/myapp.service.d/20-env.conf",
            "[Service]\nUser=ignored\n",
        );
        let u = Unit::load(&r, "myapp.service").unwrap().unwrap();
        assert_eq!(u.path, Path::new("/etc/systemd/system/myapp.service"));
        assert_eq!(u.dropins.len(), 2);
        assert_eq!(u.user.as_ref().unwrap().value, "app");
        // The drop-in (applied after the unit file) wins.
        assert_eq!(u.group.as_ref().unwrap().value, "app");
        assert_eq!(
            u.working_directory.as_ref().unwrap().value,
            Path::new("/srv/myapp")
        );
        let env = u.environment_map();
        assert_eq!(env["DJANGO_SETTINGS_MODULE"], "myapp.settings.production");
        assert_eq!(env["MEDIA"], "/srv/media2");
        assert_eq!(env["A"], "x y");
        assert_eq!(u.environment_files.len(), 2);
        assert!(u.environment_files[0].optional);
        assert_eq!(u.environment_files[0].path, Path::new("/etc/default/myapp"));
        assert!(!u.environment_files[1].optional);
        let exec = u.exec_start.as_ref().unwrap();
        assert_eq!(exec.value.last().unwrap(), "myapp.wsgi:application");
        assert_eq!(exec.at.line, 12);
        assert_eq!(
            u.user.as_ref().unwrap().at.file,
            "/etc/systemd/system/myapp.service.d/20-env.conf"
        );
    }

    #[test]
    fn masked_and_missing_units_are_none() {
        let tmp = tempfile::tempdir().unwrap();
        let r = SysRoot::new(tmp.path());
        std::fs::create_dir_all(tmp.path().join("etc/systemd/system")).unwrap();
        std::fs::create_dir_all(tmp.path().join("dev")).unwrap();
        std::fs::write(tmp.path().join("dev/null"), "").unwrap();
        std::os::unix::fs::symlink(
            "/dev/null",
            tmp.path().join("etc/systemd/system/gone.service"),
        )
        .unwrap();
        assert!(Unit::load(&r, "gone.service").unwrap().is_none());
        assert!(Unit::load(&r, "nothere.service").unwrap().is_none());
    }

    #[test]
    fn empty_assignments_reset_lists() {
        let e = parse(
            "[Service]\nEnvironment=A=1\nEnvironment=\nEnvironment=B=2\nExecStart=/bin/a\nExecStart=\nExecStart=-/usr/bin/uwsgi --ini /etc/uwsgi/app.ini\n",
            Path::new("/x.service"),
        );
        let u = Unit::from_entries("x.service", "/x.service".into(), vec![], e);
        assert_eq!(u.environment.len(), 1);
        assert_eq!(u.environment[0].name, "B");
        assert_eq!(
            u.exec_start.unwrap().value,
            vec!["/usr/bin/uwsgi", "--ini", "/etc/uwsgi/app.ini"]
        );
    }
}
