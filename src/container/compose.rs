//! Reading a Compose project the way `docker compose config` does, without Docker: the files
//! (`-f` overrides merged in order), `${VAR}` from the project's `.env`, YAML anchors and merge
//! keys, and, per service, what decides where its files live: `build`, `image`, `volumes`,
//! `tmpfs`, `env_file`, `environment`, `user`, `working_dir`, `command`, `entrypoint`.
//!
//! YAML is parsed with serde_yaml_ng (a maintained fork of serde_yaml that keeps its
//! `Value::apply_merge` for `<<` merge keys, and its alias-expansion limit against billion-laughs
//! files). Paths are system paths (under `--root`), read through `SysRoot`.

use super::interpolate::{self, interpolate};
use crate::report::Location;
use crate::sysroot::SysRoot;
use serde_yaml_ng::{Mapping, Value};
use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

/// File names Compose looks for, in its order of preference.
pub const DEFAULT_FILES: &[&str] = &[
    "compose.yaml",
    "compose.yml",
    "docker-compose.yaml",
    "docker-compose.yml",
];
pub const OVERRIDE_FILES: &[&str] = &[
    "compose.override.yaml",
    "compose.override.yml",
    "docker-compose.override.yaml",
    "docker-compose.override.yml",
];
/// Compose files larger than this are not read (a real one is a few kilobytes).
const MAX_FILE: u64 = 4 << 20;

/// A compose project: the merged services and volumes.
#[derive(Debug, Clone, Default)]
pub struct Project {
    /// The project directory (the first file's directory): relative paths start here.
    pub dir: PathBuf,
    /// The files merged, in order.
    pub files: Vec<PathBuf>,
    pub services: BTreeMap<String, Service>,
    /// Top-level `volumes:`, by key.
    pub volumes: BTreeMap<String, VolumeDecl>,
    /// `.env` in the project directory: the variables for `${...}`.
    pub dotenv: BTreeMap<String, String>,
    /// What could not be read or understood (a file that is not YAML, a missing env_file, an
    /// unset variable), said once each.
    pub problems: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VolumeDecl {
    pub name: Option<String>,
    pub external: bool,
    pub driver: Option<String>,
    /// The local driver's `driver_opts: {type: none, o: bind, device: /host/dir}`: a named
    /// volume that is really a host directory.
    pub bind_device: Option<String>,
}

/// `build:` of a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Build {
    /// The context directory (system path), or the URL as written for a remote context.
    pub context: PathBuf,
    pub remote: bool,
    /// The Dockerfile (system path); `None` with `dockerfile_inline`.
    pub dockerfile: Option<PathBuf>,
    pub dockerfile_inline: Option<String>,
    /// The stage to build (`target:`), else the last.
    pub target: Option<String>,
    pub args: BTreeMap<String, Option<String>>,
}

/// Where a mount's data lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountSource {
    /// A named volume (the key under top-level `volumes:`).
    Volume(String),
    /// A host directory or file (system path; may hold an unset-variable marker).
    Bind(PathBuf),
    /// A volume with no name: new for each container created.
    Anonymous,
    /// Memory: gone when the container stops.
    Tmpfs,
    /// Another kind Compose accepts (npipe, image, cluster), as written.
    Other(String),
}

/// One entry of a service's `volumes:` (or `tmpfs:`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub source: MountSource,
    /// The path inside the container (may hold an unset-variable marker).
    pub target: String,
    pub read_only: bool,
    /// Long syntax `volume.subpath`: only this subdirectory of the volume is mounted.
    pub subpath: Option<String>,
    /// Long syntax `volume.nocopy`: the image's content is not copied into a new volume.
    pub nocopy: bool,
    /// As written (short syntax) or summarised (long syntax), for messages.
    pub spec: String,
    pub at: Location,
}

/// One `environment:` or env_file variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvVar {
    /// `None`: listed without a value (`- DEBUG`): Compose takes it from the shell, which a
    /// reading of files cannot know.
    pub value: Option<String>,
    /// `environment in docker-compose.yml` or `env_file ./.env.prod`.
    pub source: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    pub name: String,
    pub image: Option<String>,
    pub build: Option<Build>,
    pub volumes: Vec<Mount>,
    /// The container's environment from Compose (environment: over env_file), by name.
    pub environment: BTreeMap<String, EnvVar>,
    /// env_file entries that are not there (often kept out of git), as written.
    pub missing_env_files: Vec<String>,
    pub user: Option<String>,
    pub working_dir: Option<String>,
    pub command: Option<Command>,
    pub entrypoint: Option<Command>,
    /// `volumes_from`: other services whose mounts this one shares.
    pub volumes_from: Vec<String>,
    pub at: Location,
}

/// `command:` / `entrypoint:`, shell form or exec form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Shell(String),
    Exec(Vec<String>),
}

impl Command {
    /// The words, shell form split as a shell would (no expansion).
    pub fn words(&self) -> Vec<String> {
        match self {
            Command::Exec(v) => v.clone(),
            Command::Shell(s) => shlex::split(s)
                .unwrap_or_else(|| s.split_whitespace().map(str::to_string).collect()),
        }
    }
    pub fn text(&self) -> String {
        match self {
            Command::Shell(s) => s.clone(),
            Command::Exec(v) => v.join(" "),
        }
    }
}

impl Project {
    /// The compose files of the directory `dir` when it holds one: the default file and its
    /// override, as `docker compose` with no `-f` takes them.
    pub fn default_files(root: &SysRoot, dir: &Path) -> Vec<PathBuf> {
        let first = DEFAULT_FILES
            .iter()
            .map(|n| dir.join(n))
            .find(|p| root.is_file(p));
        let Some(first) = first else {
            return Vec::new();
        };
        let mut out = vec![first];
        if let Some(o) = OVERRIDE_FILES
            .iter()
            .map(|n| dir.join(n))
            .find(|p| root.is_file(p))
        {
            out.push(o);
        }
        out
    }

    /// Every compose file in `dir`: the defaults and the variants (`docker-compose.prod.yml`,
    /// `compose.production.yaml`), sorted by name.
    pub fn candidates(root: &SysRoot, dir: &Path) -> Vec<PathBuf> {
        let Ok(entries) = std::fs::read_dir(root.host_path(dir)) else {
            return Vec::new();
        };
        let mut out: Vec<PathBuf> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| is_compose_name(n))
            .map(|n| dir.join(n))
            .filter(|p| root.is_file(p))
            .collect();
        out.sort();
        out
    }

    /// Reads and merges `files` (system paths) in order. Never fails: what cannot be read is a
    /// problem on the project; `None` only when no file could be read at all.
    pub fn load(root: &SysRoot, files: &[PathBuf]) -> Option<Project> {
        let first = files.first()?;
        let dir = first.parent().unwrap_or(Path::new("/")).to_path_buf();
        let mut p = Project {
            dir: dir.clone(),
            ..Default::default()
        };
        let dotenv_path = dir.join(".env");
        if let Ok(text) = read_text(root, &dotenv_path) {
            p.dotenv = crate::app::env::parse_env_file(&text);
        }
        let mut merged = Value::Mapping(Mapping::new());
        let mut sources: Vec<(PathBuf, String)> = Vec::new();
        for f in files {
            let text = match read_text(root, f) {
                Ok(t) => t,
                Err(e) => {
                    p.problems.push(e);
                    continue;
                }
            };
            let mut doc: Value = match serde_yaml_ng::from_str(&text) {
                Ok(v) => v,
                Err(e) => {
                    p.problems
                        .push(format!("{}: not valid YAML: {e}", f.display()));
                    continue;
                }
            };
            if let Err(e) = doc.apply_merge() {
                p.problems
                    .push(format!("{}: YAML merge key (<<): {e}", f.display()));
            }
            let mut unset = Vec::new();
            let mut errors = Vec::new();
            interpolate_tree(&mut doc, &p.dotenv, &mut unset, &mut errors);
            for v in unset {
                p.problems.push(format!(
                    "{}: ${{{v}}} is set neither in {} nor in the file: its value is unknown (Compose would read it from the shell that runs it)",
                    f.display(),
                    dotenv_path.display()
                ));
            }
            for e in errors {
                p.problems.push(format!("{}: {e}", f.display()));
            }
            merge_file(&mut merged, doc);
            p.files.push(f.clone());
            sources.push((f.clone(), text));
        }
        if p.files.is_empty() {
            return None;
        }
        p.read_volumes(&merged);
        if let Some(services) = merged.get("services").and_then(Value::as_mapping) {
            for (k, v) in services {
                let Some(name) = scalar(k) else { continue };
                let svc = p.read_service(root, &name, v, &sources);
                p.services.insert(name, svc);
            }
        } else {
            p.problems
                .push("no services: section in the compose file(s)".to_string());
        }
        Some(p)
    }

    fn read_volumes(&mut self, merged: &Value) {
        let Some(vols) = merged.get("volumes").and_then(Value::as_mapping) else {
            return;
        };
        for (k, v) in vols {
            let Some(key) = scalar(k) else { continue };
            let mut d = VolumeDecl::default();
            if let Some(m) = v.as_mapping() {
                d.name = m.get("name").and_then(scalar);
                d.external = match m.get("external") {
                    Some(Value::Bool(b)) => *b,
                    Some(Value::Mapping(_)) => true,
                    _ => false,
                };
                d.driver = m.get("driver").and_then(scalar);
                if let Some(opts) = m.get("driver_opts").and_then(Value::as_mapping) {
                    let o = opts.get("o").and_then(scalar).unwrap_or_default();
                    if o.split(',')
                        .any(|x| x.trim() == "bind" || x.trim() == "rbind")
                    {
                        d.bind_device = opts.get("device").and_then(scalar);
                    }
                }
            }
            self.volumes.insert(key, d);
        }
    }

    fn read_service(
        &mut self,
        root: &SysRoot,
        name: &str,
        v: &Value,
        sources: &[(PathBuf, String)],
    ) -> Service {
        let at = service_location(name, sources);
        let mut svc = Service {
            name: name.to_string(),
            image: v.get("image").and_then(scalar),
            build: None,
            volumes: Vec::new(),
            environment: BTreeMap::new(),
            missing_env_files: Vec::new(),
            user: v.get("user").and_then(scalar),
            working_dir: v.get("working_dir").and_then(scalar),
            command: v.get("command").and_then(command),
            entrypoint: v.get("entrypoint").and_then(command),
            volumes_from: seq_of_strings(v.get("volumes_from")),
            at: at.clone(),
        };
        svc.build = v.get("build").and_then(|b| self.read_build(b));
        for entry in v
            .get("volumes")
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
        {
            match self.read_mount(entry, name, sources, &at) {
                Some(m) => svc.volumes.push(m),
                None => self.problems.push(format!(
                    "service {name}: a volumes entry cannot be read: {}",
                    describe(entry)
                )),
            }
        }
        let tmpfs = match v.get("tmpfs") {
            Some(Value::String(s)) => vec![s.clone()],
            other => seq_of_strings(other),
        };
        for t in tmpfs {
            let target = t.split(':').next().unwrap_or("").to_string();
            svc.volumes.push(Mount {
                source: MountSource::Tmpfs,
                at: line_in_service(name, &t, sources).unwrap_or_else(|| at.clone()),
                spec: format!("tmpfs {t}"),
                target,
                read_only: false,
                subpath: None,
                nocopy: false,
            });
        }
        self.read_environment(root, &mut svc, v, sources);
        svc
    }

    fn read_build(&mut self, b: &Value) -> Option<Build> {
        let (context, dockerfile, inline, target, args) = match b {
            Value::String(s) => (s.clone(), None, None, None, BTreeMap::new()),
            Value::Mapping(m) => (
                m.get("context")
                    .and_then(scalar)
                    .unwrap_or_else(|| ".".into()),
                m.get("dockerfile").and_then(scalar),
                m.get("dockerfile_inline").and_then(scalar),
                m.get("target").and_then(scalar),
                key_values(m.get("args")),
            ),
            _ => return None,
        };
        let remote = context.contains("://") || context.starts_with("git@");
        let ctx = if remote {
            PathBuf::from(&context)
        } else {
            self.resolve(&context)
        };
        let dockerfile = match (&inline, remote) {
            (Some(_), _) | (None, true) => None,
            (None, false) => {
                let name = dockerfile.unwrap_or_else(|| "Dockerfile".into());
                Some(if Path::new(&name).is_absolute() {
                    PathBuf::from(name)
                } else {
                    normalize(&ctx.join(name))
                })
            }
        };
        Some(Build {
            context: ctx,
            remote,
            dockerfile,
            dockerfile_inline: inline,
            target,
            args,
        })
    }

    /// A host path as written in the compose file: relative to the project directory, `~` kept
    /// as written (it is the home of whoever runs compose).
    pub fn resolve(&self, written: &str) -> PathBuf {
        let p = Path::new(written);
        if p.is_absolute() || written.starts_with('~') {
            normalize(p)
        } else {
            normalize(&self.dir.join(p))
        }
    }

    fn read_mount(
        &mut self,
        entry: &Value,
        service: &str,
        sources: &[(PathBuf, String)],
        at: &Location,
    ) -> Option<Mount> {
        match entry {
            Value::String(spec) => {
                let (source, target, mode) = split_short_volume(spec);
                let target = target?;
                let modes: Vec<&str> = mode.map(|m| m.split(',').collect()).unwrap_or_default();
                let source = match source {
                    None => MountSource::Anonymous,
                    Some(s) if is_host_path(s) => MountSource::Bind(self.resolve(s)),
                    Some(s) => MountSource::Volume(s.to_string()),
                };
                Some(Mount {
                    source,
                    at: line_in_service(service, spec, sources).unwrap_or_else(|| at.clone()),
                    target: target.to_string(),
                    read_only: modes.contains(&"ro"),
                    subpath: None,
                    nocopy: modes.contains(&"nocopy"),
                    spec: spec.clone(),
                })
            }
            Value::Mapping(m) => {
                let kind = m
                    .get("type")
                    .and_then(scalar)
                    .unwrap_or_else(|| "volume".into());
                let target = m.get("target").and_then(scalar)?;
                let src = m.get("source").and_then(scalar);
                let source = match (kind.as_str(), src) {
                    ("volume", None) => MountSource::Anonymous,
                    ("volume", Some(s)) => MountSource::Volume(s),
                    ("bind", Some(s)) => MountSource::Bind(self.resolve(&s)),
                    ("tmpfs", _) => MountSource::Tmpfs,
                    (other, _) => MountSource::Other(other.to_string()),
                };
                let vol = m.get("volume");
                Some(Mount {
                    source,
                    at: line_in_service(service, &target, sources).unwrap_or_else(|| at.clone()),
                    spec: format!("type: {kind}, target: {target}"),
                    target,
                    read_only: matches!(m.get("read_only"), Some(Value::Bool(true))),
                    subpath: vol.and_then(|v| v.get("subpath")).and_then(scalar),
                    nocopy: matches!(vol.and_then(|v| v.get("nocopy")), Some(Value::Bool(true))),
                })
            }
            _ => None,
        }
    }

    /// env_file (in order, later files win), then `environment:` over them, as Compose does.
    fn read_environment(
        &mut self,
        root: &SysRoot,
        svc: &mut Service,
        v: &Value,
        sources: &[(PathBuf, String)],
    ) {
        let entries: Vec<(String, bool)> = match v.get("env_file") {
            Some(Value::String(s)) => vec![(s.clone(), true)],
            Some(Value::Sequence(items)) => items
                .iter()
                .filter_map(|i| match i {
                    Value::String(s) => Some((s.clone(), true)),
                    Value::Mapping(m) => Some((
                        m.get("path").and_then(scalar)?,
                        !matches!(m.get("required"), Some(Value::Bool(false))),
                    )),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        for (written, required) in entries {
            let path = self.resolve(&written);
            match read_text(root, &path) {
                Ok(text) => {
                    for (k, val) in crate::app::env::parse_env_file(&text) {
                        svc.environment.insert(
                            k,
                            EnvVar {
                                value: Some(val),
                                source: format!("env_file {}", path.display()),
                            },
                        );
                    }
                }
                Err(_) => {
                    svc.missing_env_files.push(written.clone());
                    if required {
                        self.problems.push(format!(
                            "service {}: env_file {} is not there (kept out of the repository?): the variables it sets are unknown",
                            svc.name,
                            path.display()
                        ));
                    }
                }
            }
        }
        let file = sources
            .last()
            .map(|(f, _)| f.display().to_string())
            .unwrap_or_default();
        for (k, val) in key_values(v.get("environment")) {
            let source = line_in_service(&svc.name, &k, sources)
                .map(|l| format!("environment at {l}"))
                .unwrap_or_else(|| format!("environment in {file}"));
            svc.environment.insert(k, EnvVar { value: val, source });
        }
    }

    /// The service whose build context, Dockerfile or mounts hold `file` (a system path), e.g.
    /// the nginx service for the nginx config given with `--nginx-conf`.
    pub fn service_using(&self, file: &Path) -> Option<&Service> {
        self.services.values().find(|s| s.uses(file))
    }
}

impl Service {
    /// The service builds from a context holding `file` (a checkout path), or bind-mounts it.
    pub fn uses(&self, file: &Path) -> bool {
        self.build
            .as_ref()
            .is_some_and(|b| !b.remote && file.starts_with(&b.context))
            || self.mounts_under(file, "/")
    }

    /// A bind mount shows `file` at a container path below `dir` (`/etc/nginx`).
    pub fn mounts_under(&self, file: &Path, dir: &str) -> bool {
        self.volumes.iter().any(|m| match &m.source {
            MountSource::Bind(h) => file.starts_with(h) && m.target.starts_with(dir),
            _ => false,
        })
    }
}

/// `docker-compose.yml`, `compose.prod.yaml`, `docker-compose.production.yml`...
pub fn is_compose_name(n: &str) -> bool {
    let Some(stem) = n.strip_suffix(".yml").or_else(|| n.strip_suffix(".yaml")) else {
        return false;
    };
    stem == "compose"
        || stem == "docker-compose"
        || stem.starts_with("compose.")
        || stem.starts_with("docker-compose.")
        || stem.starts_with("docker-compose-")
}

fn read_text(root: &SysRoot, path: &Path) -> Result<String, String> {
    let host = root.host_path(path);
    let meta =
        std::fs::metadata(&host).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if !meta.is_file() {
        return Err(format!("{}: not a file", path.display()));
    }
    if meta.len() > MAX_FILE {
        return Err(format!("{}: larger than 4 MiB, not read", path.display()));
    }
    crate::input::read(&host)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .map_err(|e| format!("cannot read {}: {e}", path.display()))
}

/// `./data`, `../x`, `/srv/x`, `~/x` are host paths; anything else names a volume.
fn is_host_path(s: &str) -> bool {
    s.starts_with('.') || s.starts_with('/') || s.starts_with('~') || s.starts_with('\0')
}

/// `SOURCE:TARGET:MODE`, `TARGET`, `SOURCE:TARGET`. An unset-variable marker holds no colon.
fn split_short_volume(spec: &str) -> (Option<&str>, Option<&str>, Option<&str>) {
    let parts: Vec<&str> = spec.splitn(3, ':').collect();
    match parts.as_slice() {
        [t] => (None, Some(t), None),
        [s, t] => (Some(s), Some(t), None),
        [s, t, m] => (Some(s), Some(t), Some(m)),
        _ => (None, None, None),
    }
}

/// Lexical normalisation (`a/./b/../c` → `a/c`), as Compose does with paths in the file.
pub fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

pub(crate) fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn seq_of_strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_sequence)
        .map(|s| s.iter().filter_map(scalar).collect())
        .unwrap_or_default()
}

fn command(v: &Value) -> Option<Command> {
    match v {
        Value::String(s) => Some(Command::Shell(s.clone())),
        Value::Sequence(items) => Some(Command::Exec(items.iter().filter_map(scalar).collect())),
        _ => None,
    }
}

/// `environment:`/`args:` in either form: a list of `K=V` (or bare `K`) or a mapping.
fn key_values(v: Option<&Value>) -> BTreeMap<String, Option<String>> {
    let mut out = BTreeMap::new();
    match v {
        Some(Value::Sequence(items)) => {
            for i in items.iter().filter_map(scalar) {
                match i.split_once('=') {
                    Some((k, val)) => out.insert(k.to_string(), Some(val.to_string())),
                    None => out.insert(i, None),
                };
            }
        }
        Some(Value::Mapping(m)) => {
            for (k, val) in m {
                if let Some(k) = scalar(k) {
                    out.insert(k, scalar(val));
                }
            }
        }
        _ => {}
    }
    out
}

fn describe(v: &Value) -> String {
    serde_yaml_ng::to_string(v)
        .map(|s| s.trim().replace('\n', ", "))
        .unwrap_or_default()
}

/// Substitutes `${...}` in every string value (keys stay as written, as in Compose).
fn interpolate_tree(
    v: &mut Value,
    vars: &BTreeMap<String, String>,
    unset: &mut Vec<String>,
    errors: &mut Vec<String>,
) {
    match v {
        Value::String(s) if s.contains('$') => {
            let r = interpolate(s, &|n| vars.get(n).cloned());
            for u in r.unset {
                if !unset.contains(&u) {
                    unset.push(u);
                }
            }
            errors.extend(r.errors);
            *s = r.text;
        }
        Value::Sequence(items) => {
            for i in items {
                interpolate_tree(i, vars, unset, errors);
            }
        }
        Value::Mapping(m) => {
            for (_, val) in m.iter_mut() {
                interpolate_tree(val, vars, unset, errors);
            }
        }
        Value::Tagged(t) => interpolate_tree(&mut t.value, vars, unset, errors),
        _ => {}
    }
}

/// Merges an override file into the merged project, with Compose's rules: mappings merge key by
/// key, scalars and `command`/`entrypoint` are replaced, `environment`/`labels`/`args` merge by
/// variable, `volumes` by target path, and other lists are appended.
fn merge_file(base: &mut Value, over: Value) {
    merge_at(base, over, &[]);
}

fn merge_at(base: &mut Value, over: Value, path: &[&str]) {
    let key = path.last().copied().unwrap_or("");
    let in_service = path.len() == 3 && path[0] == "services";
    match (base, over) {
        (b @ Value::Mapping(_), Value::Mapping(o)) if !(in_service && is_keyed_list(key)) => {
            let Value::Mapping(bm) = b else { return };
            for (k, v) in o {
                let name = scalar(&k).unwrap_or_default();
                match bm.get_mut(&k) {
                    Some(existing) => {
                        let mut p = path.to_vec();
                        p.push(&name);
                        merge_at(existing, v, &p);
                    }
                    None => {
                        bm.insert(k, v);
                    }
                }
            }
        }
        (b, o) if in_service && is_keyed_list(key) => {
            let mut merged = key_values(Some(b));
            merged.extend(key_values(Some(&o)));
            let mut m = Mapping::new();
            for (k, v) in merged {
                m.insert(
                    Value::String(k),
                    v.map(Value::String).unwrap_or(Value::Null),
                );
            }
            *b = Value::Mapping(m);
        }
        (Value::Sequence(b), Value::Sequence(o)) if in_service && key == "volumes" => {
            for entry in o {
                let t = volume_target(&entry);
                match b.iter_mut().find(|e| t.is_some() && volume_target(e) == t) {
                    Some(existing) => *existing = entry,
                    None => b.push(entry),
                }
            }
        }
        (Value::Sequence(b), Value::Sequence(o))
            if !(in_service && matches!(key, "command" | "entrypoint")) =>
        {
            for entry in o {
                if !b.contains(&entry) {
                    b.push(entry);
                }
            }
        }
        (b, o) => *b = o,
    }
}

fn is_keyed_list(key: &str) -> bool {
    matches!(key, "environment" | "labels" | "args")
}

fn volume_target(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => split_short_volume(s).1.map(str::to_string),
        Value::Mapping(m) => m.get("target").and_then(scalar),
        _ => None,
    }
}

/// Where `name:` is declared under `services:` (the last file that declares it: an override
/// names the file a user edits).
fn service_location(name: &str, sources: &[(PathBuf, String)]) -> Location {
    for (file, text) in sources.iter().rev() {
        if let Some((line, _)) = service_block(text, name) {
            return Location::new(file.display().to_string(), line);
        }
    }
    let file = sources
        .first()
        .map(|(f, _)| f.display().to_string())
        .unwrap_or_default();
    Location::new(file, 1)
}

/// The line of `needle` inside the service's block (last file first), for file:line evidence.
fn line_in_service(service: &str, needle: &str, sources: &[(PathBuf, String)]) -> Option<Location> {
    let needle = interpolate::display(needle);
    for (file, text) in sources.iter().rev() {
        let Some((start, end)) = service_block(text, service) else {
            continue;
        };
        for (i, line) in text.lines().enumerate() {
            let n = i as u32 + 1;
            if n > start && n <= end && line.contains(needle.as_str()) {
                return Some(Location::new(file.display().to_string(), n));
            }
        }
    }
    None
}

/// The first and last line (1-based) of `name:`'s block under the top-level `services:`.
fn service_block(text: &str, name: &str) -> Option<(u32, u32)> {
    let lines: Vec<&str> = text.lines().collect();
    let services = lines.iter().position(|l| {
        l.trim_end() == "services:" || l.starts_with("services:") && l[9..].trim().is_empty()
    })?;
    let indent = |l: &str| l.len() - l.trim_start().len();
    let mut child_indent = None;
    let mut start = None;
    for (i, l) in lines.iter().enumerate().skip(services + 1) {
        if l.trim().is_empty() || l.trim_start().starts_with('#') {
            continue;
        }
        let ind = indent(l);
        if ind == 0 {
            return start.map(|s| (s, i as u32));
        }
        let ci = *child_indent.get_or_insert(ind);
        if ind == ci {
            if start.is_some() {
                return start.map(|s| (s, i as u32));
            }
            let key = l
                .trim()
                .trim_end_matches(':')
                .trim_matches(|c| c == '"' || c == '\'');
            if key == name || l.trim().starts_with(&format!("{name}:")) {
                start = Some(i as u32 + 1);
            }
        }
    }
    start.map(|s| (s, lines.len() as u32))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(files: &[(&str, &str)]) -> (tempfile::TempDir, Project) {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            let p = dir.path().join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        let names: Vec<PathBuf> = files
            .iter()
            .filter(|(n, _)| is_compose_name(n))
            .map(|(n, _)| dir.path().join(n))
            .collect();
        let p = Project::load(&SysRoot::live(), &names).unwrap();
        (dir, p)
    }

    #[test]
    fn short_and_long_volumes() {
        let (dir, p) = project(&[(
            "docker-compose.yml",
            "services:\n  web:\n    build: ./app\n    volumes:\n      - static_volume:/home/app/web/staticfiles\n      - ./media:/srv/media:ro\n      - /cache\n      - type: volume\n        source: data\n        target: /data\n        volume:\n          subpath: uploads\n          nocopy: true\n      - type: tmpfs\n        target: /tmp/x\n    tmpfs: /run\nvolumes:\n  static_volume:\n  data:\n    driver_opts: {type: none, o: bind, device: /srv/data}\n",
        )]);
        let web = &p.services["web"];
        let v = &web.volumes;
        assert_eq!(v[0].source, MountSource::Volume("static_volume".into()));
        assert_eq!(v[0].target, "/home/app/web/staticfiles");
        assert_eq!(v[0].at.line, 5);
        assert_eq!(v[1].source, MountSource::Bind(dir.path().join("media")));
        assert!(v[1].read_only);
        assert_eq!(v[2].source, MountSource::Anonymous);
        assert_eq!(v[2].target, "/cache");
        assert_eq!(v[3].source, MountSource::Volume("data".into()));
        assert_eq!(v[3].subpath.as_deref(), Some("uploads"));
        assert!(v[3].nocopy);
        assert_eq!(v[4].source, MountSource::Tmpfs);
        assert_eq!(v[5].source, MountSource::Tmpfs);
        assert_eq!(v[5].target, "/run");
        let b = web.build.as_ref().unwrap();
        assert_eq!(b.context, dir.path().join("app"));
        assert_eq!(
            b.dockerfile.as_ref().unwrap(),
            &dir.path().join("app/Dockerfile")
        );
        assert_eq!(p.volumes["data"].bind_device.as_deref(), Some("/srv/data"));
        assert_eq!(web.at.line, 2);
    }

    #[test]
    fn env_files_environment_and_dotenv() {
        let (_dir, p) = project(&[
            (".env", "APP_HOME=/home/app/web\n"),
            ("prod.env", "A=from-file\nB=from-file\n"),
            (
                "compose.yaml",
                "services:\n  web:\n    image: x\n    working_dir: ${APP_HOME}\n    env_file: [prod.env, missing.env]\n    environment:\n      - B=from-compose\n      - C\n      - MEDIA=${APP_HOME}/media\n      - DATA=${DATA_DIR:-/data}\n      - OOPS=${NOT_SET}/x\n",
            ),
        ]);
        let web = &p.services["web"];
        assert_eq!(web.working_dir.as_deref(), Some("/home/app/web"));
        assert_eq!(web.environment["A"].value.as_deref(), Some("from-file"));
        assert!(web.environment["A"].source.starts_with("env_file "));
        assert_eq!(web.environment["B"].value.as_deref(), Some("from-compose"));
        assert!(
            web.environment["B"].source.contains("compose.yaml:7"),
            "{}",
            web.environment["B"].source
        );
        assert_eq!(web.environment["C"].value, None);
        assert_eq!(
            web.environment["MEDIA"].value.as_deref(),
            Some("/home/app/web/media")
        );
        assert_eq!(web.environment["DATA"].value.as_deref(), Some("/data"));
        let oops = web.environment["OOPS"].value.clone().unwrap();
        assert_eq!(interpolate::unset_names(&oops), vec!["NOT_SET".to_string()]);
        assert_eq!(web.missing_env_files, vec!["missing.env".to_string()]);
        assert!(
            p.problems.iter().any(|m| m.contains("${NOT_SET}")),
            "{:?}",
            p.problems
        );
        assert!(p.problems.iter().any(|m| m.contains("missing.env")));
    }

    #[test]
    fn anchors_merge_keys_and_overrides() {
        let (_dir, p) = project(&[
            (
                "docker-compose.yml",
                "x-app: &app\n  build:\n    context: .\n    dockerfile: compose/Dockerfile\n  environment:\n    A: '1'\n    B: '2'\n  volumes:\n    - media:/app/media\n  command: gunicorn a\nservices:\n  web:\n    <<: *app\n    environment:\n      A: '10'\n  worker:\n    <<: *app\n    command: celery\nvolumes:\n  media: {}\n",
            ),
            (
                "docker-compose.prod.yml",
                "services:\n  web:\n    environment:\n      - B=20\n    volumes:\n      - other:/app/media\n      - static:/app/static\n    command: [gunicorn, b]\n",
            ),
        ]);
        let web = &p.services["web"];
        assert_eq!(web.environment["A"].value.as_deref(), Some("10"));
        assert_eq!(web.environment["B"].value.as_deref(), Some("20"));
        assert_eq!(web.volumes.len(), 2);
        assert_eq!(web.volumes[0].source, MountSource::Volume("other".into()));
        assert_eq!(
            web.command,
            Some(Command::Exec(vec!["gunicorn".into(), "b".into()]))
        );
        assert!(web.volumes[0].at.file.ends_with("docker-compose.prod.yml"));
        let worker = &p.services["worker"];
        assert_eq!(worker.command, Some(Command::Shell("celery".into())));
        assert_eq!(
            worker.volumes[0].source,
            MountSource::Volume("media".into())
        );
        assert!(worker
            .build
            .as_ref()
            .unwrap()
            .dockerfile
            .as_ref()
            .unwrap()
            .ends_with("compose/Dockerfile"));
    }

    #[test]
    fn finds_files_and_the_service_of_a_file() {
        let (dir, p) = project(&[
            ("nginx/nginx.conf", "server {}\n"),
            (
                "docker-compose.prod.yml",
                "services:\n  nginx:\n    build: ./nginx\n  web:\n    image: x\n",
            ),
            ("docker-compose.yml", "services: {}\n"),
        ]);
        let root = SysRoot::live();
        assert_eq!(
            Project::default_files(&root, dir.path()),
            vec![dir.path().join("docker-compose.yml")]
        );
        assert_eq!(Project::candidates(&root, dir.path()).len(), 2);
        let conf = dir.path().join("nginx/nginx.conf");
        assert_eq!(
            p.service_using(&conf).map(|s| s.name.as_str()),
            Some("nginx")
        );
    }

    #[test]
    fn broken_input_is_a_problem_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("compose.yaml");
        for text in [
            "services: [",
            "services: 3",
            "services:\n  web: 3\n",
            "services:\n  web:\n    volumes: [3, {}, ':', '']\n    <<: 4\n",
            "a: &a [*a]",
            "",
        ] {
            std::fs::write(&f, text).unwrap();
            let _ = Project::load(&SysRoot::live(), std::slice::from_ref(&f));
        }
        assert!(Project::load(&SysRoot::live(), &[dir.path().join("nope.yml")]).is_none());
    }
}
