//! Reading a Dockerfile, and what its build leaves in the image: the stages (`FROM ... AS`), the
//! working directory (each `WORKDIR` relative to the previous), `USER`, `ENV`/`ARG`, `VOLUME`,
//! `COPY`/`ADD` (with `--chown`, `--from`), what `RUN` does to directories (`mkdir`, `chown`,
//! `chmod`, `install -d`, `collectstatic`, split on `&&`/`;`/`||` as a shell would, variables
//! expanded from ENV and ARG), and `ENTRYPOINT`/`CMD`.
//!
//! `Image` simulates the build of one stage over this: which user owns a directory of the image,
//! where a file of the build context ends up (the checkout-to-container map), and whether a path
//! holds image content at all. Nothing is built and nothing is run.

use super::compose::Command;
use super::dockerignore::DockerIgnore;
use super::interpolate::{self, interpolate};
use crate::report::Location;
use crate::sysroot::SysRoot;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Default)]
pub struct Dockerfile {
    pub path: PathBuf,
    /// `ARG` before the first `FROM` (usable in `FROM` lines).
    pub global_args: Vec<(String, Option<String>)>,
    pub stages: Vec<Stage>,
}

#[derive(Debug, Clone)]
pub struct Stage {
    /// `AS name`, lowercased as Docker compares it.
    pub name: Option<String>,
    /// The image or stage it starts from, as written.
    pub base: String,
    pub at: Location,
    pub instructions: Vec<Instruction>,
}

#[derive(Debug, Clone)]
pub struct Instruction {
    pub at: Location,
    pub kind: Kind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Workdir(String),
    Copy(Copy),
    User(String),
    Volume(Vec<String>),
    Env(Vec<(String, String)>),
    Arg(String, Option<String>),
    /// The shell text (exec form joined with spaces).
    Run(String),
    Entrypoint(Command),
    Cmd(Command),
    Other(String),
}

/// `COPY`/`ADD`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copy {
    pub add: bool,
    pub sources: Vec<String>,
    pub dest: String,
    pub from: Option<String>,
    pub chown: Option<String>,
    pub chmod: Option<String>,
}

impl Dockerfile {
    pub fn read(root: &SysRoot, path: &Path) -> Result<Dockerfile, String> {
        let host = root.host_path(path);
        let meta =
            std::fs::metadata(&host).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if meta.len() > 4 << 20 {
            return Err(format!("{}: larger than 4 MiB, not read", path.display()));
        }
        let bytes = crate::input::read(&host)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Ok(Dockerfile::parse(path, &String::from_utf8_lossy(&bytes)))
    }

    pub fn parse(path: &Path, text: &str) -> Dockerfile {
        let mut df = Dockerfile {
            path: path.to_path_buf(),
            ..Default::default()
        };
        let file = path.display().to_string();
        for (line, inst) in logical_lines(text) {
            let (word, rest) = match inst.split_once(char::is_whitespace) {
                Some((w, r)) => (w, r.trim()),
                None => (inst.as_str(), ""),
            };
            let at = Location::new(file.clone(), line);
            let word = word.to_ascii_uppercase();
            if word == "FROM" {
                let args = words(leading_flags(rest).1);
                let base = args.first().cloned().unwrap_or_default();
                let name = match args.as_slice() {
                    [_, as_, name] if as_.eq_ignore_ascii_case("as") => {
                        Some(name.to_ascii_lowercase())
                    }
                    _ => None,
                };
                df.stages.push(Stage {
                    name,
                    base,
                    at,
                    instructions: Vec::new(),
                });
                continue;
            }
            let kind = match word.as_str() {
                "WORKDIR" => Kind::Workdir(rest.to_string()),
                "USER" => Kind::User(rest.to_string()),
                "COPY" | "ADD" => {
                    let (fl, body) = leading_flags(rest);
                    let mut args = json_array(body).unwrap_or_else(|| words(body));
                    let flag = |n: &str| fl.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
                    if args.len() < 2 {
                        Kind::Other(inst.clone())
                    } else {
                        let dest = args.pop().unwrap_or_default();
                        Kind::Copy(Copy {
                            add: word == "ADD",
                            sources: args,
                            dest,
                            from: flag("from").map(|f| f.to_ascii_lowercase()),
                            chown: flag("chown"),
                            chmod: flag("chmod"),
                        })
                    }
                }
                "VOLUME" => Kind::Volume(
                    json_array(rest)
                        .unwrap_or_else(|| rest.split_whitespace().map(str::to_string).collect()),
                ),
                "ENV" => Kind::Env(env_pairs(rest)),
                "ARG" => {
                    let (k, v) = match rest.split_once('=') {
                        Some((k, v)) => (k.trim().to_string(), Some(unquote(v.trim()))),
                        None => (rest.trim().to_string(), None),
                    };
                    if df.stages.is_empty() {
                        df.global_args.push((k, v));
                        continue;
                    }
                    Kind::Arg(k, v)
                }
                "RUN" => {
                    let body = strip_run_flags(rest);
                    match json_array(body) {
                        Some(a) => Kind::Run(a.join(" ")),
                        None => Kind::Run(body.to_string()),
                    }
                }
                "ENTRYPOINT" => Kind::Entrypoint(exec_or_shell(rest)),
                "CMD" => Kind::Cmd(exec_or_shell(rest)),
                _ => Kind::Other(inst.clone()),
            };
            if let Some(stage) = df.stages.last_mut() {
                stage.instructions.push(Instruction { at, kind });
            }
        }
        df
    }

    /// The stage a build ends with: `target` when named, else the last.
    pub fn stage_index(&self, target: Option<&str>) -> Option<usize> {
        match target {
            Some(t) => {
                let t = t.to_ascii_lowercase();
                self.stages
                    .iter()
                    .position(|s| s.name.as_deref() == Some(t.as_str()))
            }
            None => self.stages.len().checked_sub(1),
        }
    }
}

/// Joins `\` continuations, drops comments and blank lines, and skips heredoc bodies; each
/// instruction with the line it starts on.
fn logical_lines(text: &str) -> Vec<(u32, String)> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut start = 0u32;
    let mut heredoc: Option<String> = None;
    for (i, raw) in text.lines().enumerate() {
        let n = i as u32 + 1;
        if let Some(end) = &heredoc {
            if raw.trim() == end {
                heredoc = None;
            } else if let Some((_, body)) = out.last_mut() {
                let body: &mut String = body;
                body.push('\n');
                body.push_str(raw);
            }
            continue;
        }
        let t = raw.trim();
        if cur.is_empty() && (t.is_empty() || t.starts_with('#')) {
            continue;
        }
        if !cur.is_empty() && t.starts_with('#') {
            continue;
        }
        if cur.is_empty() {
            start = n;
        }
        match t.strip_suffix('\\') {
            Some(part) => {
                cur.push_str(part);
                cur.push(' ');
            }
            None => {
                cur.push_str(t);
                heredoc = heredoc_end(&cur);
                out.push((start, std::mem::take(&mut cur)));
            }
        }
    }
    if !cur.trim().is_empty() {
        out.push((start, cur));
    }
    out
}

/// `RUN <<EOF` / `<<-EOF` / `<<"EOF"`: the word that ends the body.
fn heredoc_end(inst: &str) -> Option<String> {
    let i = inst.find("<<")?;
    let rest = inst[i + 2..].trim_start_matches('-');
    let word: String = rest
        .trim_matches(|c| c == '"' || c == '\'')
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    (!word.is_empty()
        && inst
            .split_whitespace()
            .next()
            .is_some_and(|w| w.eq_ignore_ascii_case("RUN")))
    .then_some(word)
}

/// Shell words (no expansion); an unbalanced quote falls back to whitespace splitting.
fn words(s: &str) -> Vec<String> {
    shlex::split(s).unwrap_or_else(|| s.split_whitespace().map(str::to_string).collect())
}

/// Leading `--flag=value` words, and the text after them.
fn leading_flags(rest: &str) -> (Vec<(String, String)>, &str) {
    let mut fl = Vec::new();
    let mut r = rest.trim_start();
    while let Some(after) = r.strip_prefix("--") {
        let (word, tail) = after.split_once(char::is_whitespace).unwrap_or((after, ""));
        let (k, v) = word.split_once('=').unwrap_or((word, ""));
        fl.push((k.to_string(), unquote(v)));
        r = tail.trim_start();
    }
    (fl, r)
}

fn strip_run_flags(rest: &str) -> &str {
    leading_flags(rest).1
}

/// `["a", "b"]` (exec form), else `None`.
fn json_array(rest: &str) -> Option<Vec<String>> {
    if !rest.trim_start().starts_with('[') {
        return None;
    }
    serde_json::from_str::<Vec<String>>(rest.trim()).ok()
}

fn exec_or_shell(rest: &str) -> Command {
    match json_array(rest) {
        Some(a) => Command::Exec(a),
        None => Command::Shell(rest.to_string()),
    }
}

/// `ENV A=1 B="two words"` or the old `ENV A 1`.
fn env_pairs(rest: &str) -> Vec<(String, String)> {
    let words = words(rest);
    if words.first().is_some_and(|w| !w.contains('=')) {
        let (k, v) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        return vec![(k.to_string(), unquote(v.trim()))];
    }
    words
        .into_iter()
        .filter_map(|w| {
            w.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect()
}

fn unquote(v: &str) -> String {
    let t = v.trim();
    if t.len() >= 2
        && (t.starts_with('"') && t.ends_with('"') || t.starts_with('\'') && t.ends_with('\''))
    {
        t[1..t.len() - 1].to_string()
    } else {
        t.to_string()
    }
}

/// A shell command line split into simple commands at `&&`, `||`, `;`, `|` and newlines (outside
/// quotes), each split into words. Enough for the `mkdir`/`chown` chains of Dockerfiles.
pub fn simple_commands(text: &str) -> Vec<Vec<String>> {
    let mut segments = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => {
                quote = None;
                cur.push(c);
            }
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                cur.push(c);
            }
            (None, '\\') => {
                cur.push(c);
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            (None, '&' | '|') => {
                if chars.peek() == Some(&c) {
                    chars.next();
                }
                segments.push(std::mem::take(&mut cur));
            }
            (None, ';' | '\n') => segments.push(std::mem::take(&mut cur)),
            (None, c) => cur.push(c),
        }
    }
    segments.push(cur);
    segments
        .into_iter()
        .filter_map(|s| {
            let w = words(s.trim());
            (!w.is_empty()).then_some(w)
        })
        .collect()
}

/// What a build reads besides the Dockerfile's text.
#[derive(Clone, Copy)]
struct BuildInput<'a> {
    root: &'a SysRoot,
    df: &'a Dockerfile,
    context: &'a Path,
    build_args: &'a BTreeMap<String, Option<String>>,
}

/// Who owns something in the image, and which line decided it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// The user part as written (`app`, `1000`, `root`).
    pub user: String,
    pub at: Location,
    /// `COPY`, `mkdir`, `chown -R`, `WORKDIR`...
    pub how: String,
}

/// Content copied from the build context: a directory's contents (or a file) at `dest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied {
    /// Where it comes from (system path in the checkout).
    pub host: PathBuf,
    /// The container path.
    pub dest: String,
    pub owner: Owner,
}

#[derive(Debug, Clone)]
struct Node {
    owner: Owner,
    /// Directory contents copied here (later ones over earlier ones).
    contents: Vec<Copied>,
}

/// A user a `RUN useradd`/`adduser` of the build creates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildUser {
    pub name: String,
    /// `-u`/`--uid`, when given; without it the uid is the next free one in the base image's
    /// /etc/passwd.
    pub uid: Option<String>,
    /// The command (`useradd`, `adduser`) and where.
    pub how: String,
    pub at: Location,
}

/// The image one stage builds, as far as files and users go.
#[derive(Debug, Clone, Default)]
pub struct Image {
    pub dockerfile: PathBuf,
    /// The stage built (its name, or its index).
    pub stage: String,
    /// The base image the chain of stages starts from (`python:3.11-slim`, `nginx:1.25`).
    pub base: String,
    /// The last `USER`; `None`: the base image's user (root for python and nginx images).
    pub user: Option<(String, Location)>,
    pub workdir: String,
    pub env: BTreeMap<String, (String, Location)>,
    pub volumes: Vec<(String, Location)>,
    pub entrypoint: Option<(Command, Location)>,
    pub cmd: Option<(Command, Location)>,
    /// `RUN ... collectstatic` at build time.
    pub collectstatic: Vec<Location>,
    /// Users the build creates (`adduser`, `useradd`), with the uid when given.
    pub users: Vec<BuildUser>,
    /// Every copy from the build context, in order (the checkout-to-container map).
    pub copies: Vec<Copied>,
    nodes: BTreeMap<String, Node>,
    /// Where checkout paths are read (existence of copied files).
    root: Option<SysRoot>,
    /// The build context's `.dockerignore`: what it excludes is never in the image.
    pub ignore: Option<DockerIgnore>,
    /// What could not be followed (an unset ARG in a path, a COPY from an unknown stage).
    pub problems: Vec<String>,
}

impl Image {
    /// Simulates the build of `stage` (an index into `df.stages`) with the build context `context`
    /// and the compose `build.args`.
    pub fn build(
        root: &SysRoot,
        df: &Dockerfile,
        stage: usize,
        context: &Path,
        build_args: &BTreeMap<String, Option<String>>,
    ) -> Image {
        let input = BuildInput {
            root,
            df,
            context,
            build_args,
        };
        Self::build_depth(&input, stage, 0)
    }

    fn build_depth(input: &BuildInput, stage: usize, depth: usize) -> Image {
        let BuildInput {
            root,
            df,
            build_args,
            ..
        } = *input;
        let Some(st) = df.stages.get(stage) else {
            return Image::default();
        };
        // A stage built FROM an earlier stage starts with that stage's files.
        let base_stage = df
            .stages
            .iter()
            .take(stage)
            .position(|s| s.name.as_deref() == Some(st.base.to_ascii_lowercase().as_str()));
        let mut img = match base_stage {
            Some(i) if depth < 16 => Self::build_depth(input, i, depth + 1),
            _ => Image {
                base: st.base.clone(),
                workdir: "/".into(),
                ..Default::default()
            },
        };
        img.dockerfile = df.path.clone();
        img.root = Some(root.clone());
        if img.ignore.is_none() {
            img.ignore = Some(DockerIgnore::read(root, input.context, &df.path));
        }
        img.stage = st.name.clone().unwrap_or_else(|| stage.to_string());
        let mut args: BTreeMap<String, Option<String>> = BTreeMap::new();
        for ins in &st.instructions {
            let at = ins.at.clone();
            match &ins.kind {
                Kind::Arg(k, default) => {
                    let v = match build_args.get(k) {
                        Some(Some(v)) => Some(v.clone()),
                        _ => default.clone().or_else(|| {
                            df.global_args
                                .iter()
                                .find(|(g, _)| g == k)
                                .and_then(|(_, v)| v.clone())
                        }),
                    };
                    args.insert(k.clone(), v);
                }
                Kind::Env(pairs) => {
                    for (k, v) in pairs {
                        let v = img.expand(v, &args);
                        img.env.insert(k.clone(), (v, at.clone()));
                    }
                }
                Kind::Workdir(w) => {
                    let w = img.expand(w, &args);
                    let path = img.absolute(&w);
                    let user = img.current_user();
                    img.mkdir_p(&path, &user, &at, "WORKDIR");
                    img.workdir = path;
                }
                Kind::User(u) => {
                    let u = img.expand(u, &args);
                    img.user = Some((u, at));
                }
                Kind::Volume(vs) => {
                    for v in vs {
                        let v = img.expand(v, &args);
                        let p = img.absolute(&v);
                        img.volumes.push((p, at.clone()));
                    }
                }
                Kind::Copy(c) => {
                    let c = Copy {
                        sources: c.sources.iter().map(|s| img.expand(s, &args)).collect(),
                        dest: img.expand(&c.dest, &args),
                        chown: c.chown.as_ref().map(|o| img.expand(o, &args)),
                        ..c.clone()
                    };
                    img.copy(input, &c, &at, depth);
                }
                Kind::Run(text) => img.run(text, &args, &at),
                Kind::Entrypoint(c) => {
                    img.entrypoint = Some((c.clone(), at));
                    // Docker: a new ENTRYPOINT clears an inherited CMD.
                    img.cmd = None;
                }
                Kind::Cmd(c) => img.cmd = Some((c.clone(), at)),
                Kind::Other(_) => {}
            }
        }
        img
    }

    fn current_user(&self) -> String {
        self.user
            .as_ref()
            .map(|(u, _)| owner_user(u))
            .unwrap_or_else(|| "root".into())
    }

    /// `$VAR`/`${VAR:-x}` from ENV and ARG; an unset variable stays marked (unknown).
    fn expand(&mut self, s: &str, args: &BTreeMap<String, Option<String>>) -> String {
        if !s.contains('$') {
            return s.to_string();
        }
        let r = interpolate(s, &|n| {
            self.env
                .get(n)
                .map(|(v, _)| v.clone())
                .or_else(|| args.get(n).cloned().flatten())
        });
        for u in &r.unset {
            let msg = format!(
                "{}: ${{{u}}} has no value in the Dockerfile (ARG without default, not in build.args)",
                self.dockerfile.display()
            );
            if !self.problems.contains(&msg) {
                self.problems.push(msg);
            }
        }
        r.text
    }

    /// A container path, relative ones taken from the working directory.
    pub fn absolute(&self, p: &str) -> String {
        let joined = if p.starts_with('/') {
            p.to_string()
        } else {
            format!("{}/{}", self.workdir.trim_end_matches('/'), p)
        };
        clean(&joined)
    }

    fn mkdir_p(&mut self, path: &str, user: &str, at: &Location, how: &str) {
        let mut acc = String::new();
        for part in path.split('/').filter(|p| !p.is_empty()) {
            acc.push('/');
            acc.push_str(part);
            if self.owner_of(&acc).is_none() {
                self.nodes.insert(
                    acc.clone(),
                    Node {
                        owner: Owner {
                            user: user.to_string(),
                            at: at.clone(),
                            how: how.to_string(),
                        },
                        contents: Vec::new(),
                    },
                );
            }
        }
    }

    fn copy(&mut self, input: &BuildInput, c: &Copy, at: &Location, depth: usize) {
        let BuildInput {
            root, df, context, ..
        } = *input;
        let owner = Owner {
            user: c
                .chown
                .as_deref()
                .map(owner_user)
                .unwrap_or_else(|| "root".into()),
            at: at.clone(),
            how: if c.add { "ADD" } else { "COPY" }.into(),
        };
        let dest = self.absolute(&c.dest);
        let dest_is_dir = c.dest.ends_with('/')
            || c.dest == "."
            || c.sources.len() > 1
            || self.nodes.contains_key(&dest);
        // The parents of the destination are created as root, whatever --chown says.
        if let Some(parent) = Path::new(&dest).parent() {
            self.mkdir_p(
                &parent.display().to_string(),
                "root",
                at,
                owner.how.as_str(),
            );
        }
        if let Some(from) = &c.from {
            // COPY --from a stage: follow what that stage copied from the context.
            let Some(i) = df
                .stages
                .iter()
                .position(|s| s.name.as_deref() == Some(from.as_str()))
            else {
                return;
            };
            if depth >= 16 {
                return;
            }
            let other = Image::build_depth(input, i, depth + 1);
            for src in &c.sources {
                let src_abs = other.absolute(src);
                let target = if dest_is_dir && other.is_file_source(&src_abs) {
                    join(&dest, base_name(&src_abs))
                } else {
                    dest.clone()
                };
                let host = other.host_of(&src_abs);
                self.place(&target, host, owner.clone());
            }
            return;
        }
        for src in &c.sources {
            if src.contains("://") || src.contains(['*', '?', '[']) {
                continue;
            }
            let host = super::compose::normalize(&context.join(src.trim_start_matches('/')));
            if self.ignored(&host) {
                // Never sent to the builder: the build stops here ("not found").
                self.problems.push(format!(
                    "{at}: {} copies {src}, which {} excludes from the build context: the build fails",
                    owner.how,
                    self.ignore
                        .as_ref()
                        .and_then(|i| i.file.as_ref())
                        .map_or(".dockerignore".into(), |f| f.display().to_string())
                ));
                continue;
            }
            let is_dir = root.is_dir(&host);
            let target = if !is_dir && dest_is_dir {
                join(&dest, base_name(src))
            } else {
                dest.clone()
            };
            self.place(&target, Some(host), owner.clone());
        }
    }

    fn place(&mut self, target: &str, host: Option<PathBuf>, owner: Owner) {
        let node = self
            .nodes
            .entry(target.to_string())
            .or_insert_with(|| Node {
                owner: owner.clone(),
                contents: Vec::new(),
            });
        if let Some(host) = host {
            let c = Copied {
                host,
                dest: target.to_string(),
                owner,
            };
            node.contents.push(c.clone());
            self.copies.push(c);
        }
    }

    fn is_file_source(&self, path: &str) -> bool {
        self.nodes.get(path).is_some_and(|n| {
            n.contents.iter().any(|c| match &self.root {
                Some(r) => r.is_file(&c.host),
                None => false,
            })
        })
    }

    fn run(&mut self, text: &str, args: &BTreeMap<String, Option<String>>, at: &Location) {
        let user = self.current_user();
        for words in simple_commands(text) {
            let words: Vec<String> = words.iter().map(|w| self.expand(w, args)).collect();
            let Some(cmd) = words.first().map(|w| base_name(w).to_string()) else {
                continue;
            };
            let rest = &words[1..];
            match cmd.as_str() {
                "mkdir" => {
                    let parents = rest.iter().any(|w| {
                        w.starts_with('-') && !w.starts_with("--") && w.contains('p')
                            || w == "--parents"
                    });
                    for p in operands(rest, &["-m", "--mode"]) {
                        let p = self.absolute(&p);
                        if parents {
                            self.mkdir_p(&p, &user, at, "mkdir");
                        } else if self.owner_of(&p).is_none() {
                            self.nodes.insert(
                                p,
                                Node {
                                    owner: Owner {
                                        user: user.clone(),
                                        at: at.clone(),
                                        how: "mkdir".into(),
                                    },
                                    contents: Vec::new(),
                                },
                            );
                        }
                    }
                }
                "install" if rest.iter().any(|w| w == "-d" || w == "--directory") => {
                    let owner = flag_value(rest, &["-o", "--owner"]).map(|o| owner_user(&o));
                    for p in operands(rest, &["-o", "--owner", "-g", "--group", "-m", "--mode"]) {
                        let p = self.absolute(&p);
                        self.mkdir_p(&p, &user, at, "install -d");
                        if let Some(o) = &owner {
                            self.chown(&p, o, false, at, "install -d -o");
                        }
                    }
                }
                "chown" => {
                    let recursive = rest.iter().any(|w| {
                        w == "-R"
                            || w == "--recursive"
                            || (w.starts_with('-') && !w.starts_with("--") && w.contains('R'))
                    });
                    let ops = operands(rest, &["--from", "--reference"]);
                    if let Some((owner, paths)) = ops.split_first() {
                        let owner = owner_user(owner);
                        for p in paths {
                            let p = self.absolute(p);
                            let how = if recursive { "chown -R" } else { "chown" };
                            self.chown(&p, &owner, recursive, at, how);
                        }
                    }
                }
                "useradd" | "adduser" => {
                    let uid = flag_value(rest, &["-u", "--uid"]);
                    if let Some(name) = operands(
                        rest,
                        &[
                            "-u",
                            "--uid",
                            "-g",
                            "--gid",
                            "-G",
                            "--groups",
                            "--ingroup",
                            "-d",
                            "--home",
                            "--home-dir",
                            "-s",
                            "--shell",
                            "-c",
                            "--comment",
                            "--gecos",
                            "-h",
                            "-k",
                        ],
                    )
                    .last()
                    {
                        self.users.push(BuildUser {
                            name: name.clone(),
                            uid,
                            how: cmd.clone(),
                            at: at.clone(),
                        });
                    }
                }
                _ => {}
            }
            if words.iter().any(|w| w == "collectstatic") {
                self.collectstatic.push(at.clone());
            }
        }
    }

    fn chown(&mut self, path: &str, owner: &str, recursive: bool, at: &Location, how: &str) {
        let new = Owner {
            user: owner.to_string(),
            at: at.clone(),
            how: how.to_string(),
        };
        if !self.nodes.contains_key(path) {
            // A path inside copied content: it becomes a node of its own, its contents the
            // part of the copy below it.
            let inner = self.copied_at(path);
            if inner.is_none() && self.owner_of(path).is_none() {
                return; // chown of something the image does not have (it would fail the build)
            }
            self.nodes.insert(
                path.to_string(),
                Node {
                    owner: new.clone(),
                    contents: inner.into_iter().collect(),
                },
            );
        }
        let prefix = format!("{}/", path.trim_end_matches('/'));
        for (p, node) in self.nodes.iter_mut() {
            if p == path || (recursive && p.starts_with(&prefix)) {
                node.owner = new.clone();
                if recursive {
                    for c in &mut node.contents {
                        c.owner = new.clone();
                    }
                }
            }
        }
    }

    /// The copy that holds `path` inside its contents (nearest ancestor first), re-rooted at `path`.
    fn copied_at(&self, path: &str) -> Option<Copied> {
        let mut anc = Some(Path::new(path));
        while let Some(a) = anc {
            let key = a.display().to_string();
            if let Some(node) = self.nodes.get(&key) {
                let rel = Path::new(path).strip_prefix(a).ok()?;
                for c in node.contents.iter().rev() {
                    let host = if rel.as_os_str().is_empty() {
                        c.host.clone()
                    } else {
                        c.host.join(rel)
                    };
                    if self.exists(&host) {
                        return Some(Copied {
                            host,
                            dest: path.to_string(),
                            owner: c.owner.clone(),
                        });
                    }
                }
                if key != path && !node.contents.is_empty() {
                    return None;
                }
            }
            anc = a.parent();
        }
        None
    }

    /// The checkout path is in the build context the builder receives (not excluded by
    /// `.dockerignore`) and there.
    fn exists(&self, host: &Path) -> bool {
        !self.ignored(host) && self.root.as_ref().is_some_and(|r| r.exists(host))
    }

    fn ignored(&self, host: &Path) -> bool {
        self.ignore.as_ref().is_some_and(|i| i.ignores(host))
    }

    /// Who owns `path` in the image; `None` when the image has nothing there (Docker then creates
    /// a mount point owned by root).
    pub fn owner_of(&self, path: &str) -> Option<Owner> {
        let path = clean(path);
        if path == "/" {
            return Some(Owner {
                user: "root".into(),
                at: Location::new(self.dockerfile.display().to_string(), 1),
                how: "the base image".into(),
            });
        }
        if let Some(n) = self.nodes.get(&path) {
            return Some(n.owner.clone());
        }
        self.copied_at(&path).map(|c| c.owner)
    }

    /// True when the build puts something at `path` (a directory it made, or copied content).
    pub fn has(&self, path: &str) -> bool {
        let p = clean(path);
        self.nodes.contains_key(&p) || self.copied_at(&p).is_some()
    }

    /// Copied content at or below `path` (the files a volume mounted there would hide).
    pub fn content_under(&self, path: &str) -> Vec<&Copied> {
        let p = clean(path);
        let prefix = format!("{}/", p.trim_end_matches('/'));
        self.copies
            .iter()
            .filter(|c| c.dest == p || c.dest.starts_with(&prefix))
            .collect()
    }

    /// Up to `max` files the build copies from the checkout to `path` or below it (checkout
    /// paths), with the COPY that put them there: what a volume mounted at `path` hides, or
    /// copies once into a new volume.
    pub fn files_at(&self, path: &str, max: usize) -> Vec<(PathBuf, Location)> {
        let p = clean(path);
        let prefix = format!("{}/", p.trim_end_matches('/'));
        let Some(root) = &self.root else {
            return Vec::new();
        };
        let mut out: Vec<(PathBuf, Location)> = Vec::new();
        for c in &self.copies {
            let host = if c.dest == p || c.dest.starts_with(&prefix) {
                c.host.clone()
            } else if let Some(rel) = p.strip_prefix(&format!("{}/", c.dest.trim_end_matches('/')))
            {
                c.host.join(rel)
            } else {
                continue;
            };
            let walk = walkdir::WalkDir::new(root.host_path(&host))
                .follow_links(false)
                .max_depth(8)
                .sort_by_file_name();
            for e in walk.into_iter().filter_map(|e| e.ok()) {
                if out.len() >= max {
                    return out;
                }
                if e.file_type().is_file()
                    && e.file_name() != ".gitkeep"
                    && e.file_name() != ".keep"
                {
                    let sys = root
                        .system_path(e.path())
                        .unwrap_or_else(|| e.path().to_path_buf());
                    if !self.ignored(&sys) && !out.iter().any(|(h, _)| h == &sys) {
                        out.push((sys, c.owner.at.clone()));
                    }
                }
            }
        }
        out
    }

    /// The checkout path that a container path was copied from, when it was.
    pub fn host_of(&self, container: &str) -> Option<PathBuf> {
        self.copied_at(&clean(container)).map(|c| c.host)
    }

    /// The container path where a checkout path ends up (the last COPY that covers it).
    pub fn container_of(&self, host: &Path) -> Option<String> {
        self.copies.iter().rev().find_map(|c| {
            let rel = host.strip_prefix(&c.host).ok()?;
            Some(if rel.as_os_str().is_empty() {
                c.dest.clone()
            } else {
                join(&c.dest, &rel.display().to_string())
            })
        })
    }

    /// The user the container runs as (compose `user:` wins over the image's `USER`).
    pub fn user_name(&self) -> String {
        self.current_user()
    }
}

/// The user part of `user:group` (or of `--chown=user:group`).
pub fn owner_user(s: &str) -> String {
    s.split(':').next().unwrap_or(s).trim().to_string()
}

fn flag_value(words: &[String], names: &[&str]) -> Option<String> {
    let mut it = words.iter();
    while let Some(w) = it.next() {
        for n in names {
            if w == n {
                return it.next().cloned();
            }
            if let Some(v) = w.strip_prefix(&format!("{n}=")) {
                return Some(v.to_string());
            }
        }
    }
    None
}

/// The words that are not options (nor the values of the options named in `valued`).
fn operands(words: &[String], valued: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    let mut it = words.iter();
    while let Some(w) = it.next() {
        if valued.contains(&w.as_str()) {
            it.next();
        } else if w.starts_with('-') && w.len() > 1 {
            continue;
        } else {
            out.push(w.clone());
        }
    }
    out
}

fn base_name(p: &str) -> &str {
    p.trim_end_matches('/').rsplit('/').next().unwrap_or(p)
}

fn join(dir: &str, name: &str) -> String {
    clean(&format!("{}/{}", dir.trim_end_matches('/'), name))
}

/// `/a/./b/../c/` → `/a/c` (container paths, always absolute here).
pub fn clean(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            x => parts.push(x),
        }
    }
    let mut out = String::from("/");
    out.push_str(&parts.join("/"));
    out
}

/// True when a Dockerfile-expanded string still holds an unset variable.
pub fn is_unknown(s: &str) -> bool {
    interpolate::has_unset(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DJANGO_ON_DOCKER: &str = r#"
FROM python:3.11.4-slim-buster as builder
WORKDIR /usr/src/app
COPY . /usr/src/app/
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /usr/src/app/wheels -r requirements.txt

FROM python:3.11.4-slim-buster
RUN mkdir -p /home/app
RUN addgroup --system app && adduser --system --group app
ENV HOME=/home/app
ENV APP_HOME=/home/app/web
RUN mkdir $APP_HOME
RUN mkdir $APP_HOME/staticfiles
RUN mkdir $APP_HOME/mediafiles
WORKDIR $APP_HOME
COPY --from=builder /usr/src/app/wheels /wheels
COPY ./entrypoint.prod.sh .
RUN sed -i 's/\r$//g'  $APP_HOME/entrypoint.prod.sh && \
    chmod +x  $APP_HOME/entrypoint.prod.sh
COPY . $APP_HOME
RUN chown -R app:app $APP_HOME
USER app
ENTRYPOINT ["/home/app/web/entrypoint.prod.sh"]
"#;

    fn context() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("hello_django")).unwrap();
        std::fs::write(d.path().join("hello_django/settings.py"), "").unwrap();
        std::fs::write(d.path().join("entrypoint.prod.sh"), "#!/bin/sh\n").unwrap();
        std::fs::write(d.path().join("requirements.txt"), "").unwrap();
        d
    }

    fn image(text: &str, ctx: &Path) -> Image {
        let df = Dockerfile::parse(&ctx.join("Dockerfile"), text);
        let i = df.stage_index(None).unwrap_or(0);
        Image::build(&SysRoot::live(), &df, i, ctx, &BTreeMap::new())
    }

    /// What `.dockerignore` excludes never reaches the image: not a COPY's content, not a
    /// directory a volume would hide; `Dockerfile.dockerignore` beside the Dockerfile wins.
    #[test]
    fn dockerignored_paths_are_not_in_the_image() {
        let ctx = context();
        let w = |p: &str, t: &str| {
            let p = ctx.path().join(p);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, t).unwrap();
        };
        w("mediafiles/upload.jpg", "x");
        w("staticfiles/site.css", "x");
        let text = "FROM python:3.12\nWORKDIR /app\nCOPY . /app\nCOPY ./staticfiles /srv/static\n";
        let img = image(text, ctx.path());
        assert!(img.has("/app/mediafiles/upload.jpg"));
        assert_eq!(img.files_at("/app/mediafiles", 5).len(), 1);
        w(
            ".dockerignore",
            "# uploads stay out of the image\nmediafiles/\n*/*.css\n",
        );
        let img = image(text, ctx.path());
        assert!(!img.has("/app/mediafiles/upload.jpg"));
        assert!(!img.has("/app/mediafiles"));
        assert_eq!(img.owner_of("/app/mediafiles"), None);
        assert!(img.files_at("/app/mediafiles", 5).is_empty());
        assert!(img.files_at("/app/staticfiles", 5).is_empty());
        assert!(img.has("/app/requirements.txt"));
        assert!(img.problems.is_empty(), "{:?}", img.problems);
        // A COPY of an excluded directory: the build fails, said as a problem.
        w(".dockerignore", "staticfiles\n");
        let img = image(text, ctx.path());
        assert!(
            img.problems
                .iter()
                .any(|p| p.contains("staticfiles") && p.contains("build fails")),
            "{:?}",
            img.problems
        );
        // The Dockerfile's own ignore file is read instead of the context's.
        w("Dockerfile.dockerignore", "requirements.txt\n");
        let img = image(text, ctx.path());
        assert!(!img.has("/app/requirements.txt"));
        assert!(img.has("/app/staticfiles/site.css"));
    }

    #[test]
    fn stages_and_instructions() {
        let df = Dockerfile::parse(Path::new("/x/Dockerfile"), DJANGO_ON_DOCKER);
        assert_eq!(df.stages.len(), 2);
        assert_eq!(df.stages[0].name.as_deref(), Some("builder"));
        assert_eq!(df.stages[1].base, "python:3.11.4-slim-buster");
        let run = df.stages[1]
            .instructions
            .iter()
            .find(|i| matches!(&i.kind, Kind::Run(t) if t.contains("sed")))
            .unwrap();
        assert_eq!(run.at.line, 18);
        assert_eq!(df.stage_index(Some("BUILDER")), Some(0));
    }

    #[test]
    fn django_on_docker_image() {
        let ctx = context();
        let img = image(DJANGO_ON_DOCKER, ctx.path());
        assert_eq!(img.workdir, "/home/app/web");
        assert_eq!(img.user_name(), "app");
        let users: Vec<(&str, Option<&str>, &str)> = img
            .users
            .iter()
            .map(|u| (u.name.as_str(), u.uid.as_deref(), u.how.as_str()))
            .collect();
        assert_eq!(users, vec![("app", None, "adduser")]);
        // chown -R after the mkdirs and the COPY: everything under APP_HOME is app's.
        let o = img.owner_of("/home/app/web/mediafiles").unwrap();
        assert_eq!(
            (o.user.as_str(), o.how.as_str(), o.at.line),
            ("app", "chown -R", 21)
        );
        assert_eq!(
            img.owner_of("/home/app/web/hello_django/settings.py")
                .unwrap()
                .user,
            "app"
        );
        assert_eq!(img.owner_of("/home/app").unwrap().user, "root");
        assert!(img.owner_of("/home/app/web/nothere").is_none());
        assert_eq!(
            img.container_of(&ctx.path().join("hello_django/settings.py"))
                .as_deref(),
            Some("/home/app/web/hello_django/settings.py")
        );
        assert_eq!(
            img.host_of("/home/app/web/entrypoint.prod.sh"),
            Some(ctx.path().join("entrypoint.prod.sh"))
        );
        assert!(
            matches!(&img.entrypoint, Some((Command::Exec(v), _)) if v[0] == "/home/app/web/entrypoint.prod.sh")
        );
    }

    #[test]
    fn media_created_after_the_chown_stays_roots() {
        let ctx = context();
        let text = DJANGO_ON_DOCKER
            .replace("RUN mkdir $APP_HOME/mediafiles\n", "")
            .replace("USER app\n", "RUN mkdir $APP_HOME/mediafiles\nUSER app\n");
        let img = image(&text, ctx.path());
        let o = img.owner_of("/home/app/web/mediafiles").unwrap();
        assert_eq!((o.user.as_str(), o.how.as_str()), ("root", "mkdir"));
    }

    #[test]
    fn workdir_relative_copy_chown_and_install() {
        let ctx = context();
        let img = image(
            "FROM python:3.12\nARG APP=/srv\nWORKDIR $APP\nWORKDIR app\nCOPY --chown=web:web hello_django ./hello_django\nRUN install -d -o web -m 750 /srv/app/media && mkdir -p static/x; chmod 755 static\nRUN python manage.py collectstatic --noinput\nVOLUME /srv/app/media\nUSER 1000:1000\nCMD gunicorn x\n",
            ctx.path(),
        );
        assert_eq!(img.workdir, "/srv/app");
        assert_eq!(
            img.owner_of("/srv/app/hello_django/settings.py")
                .unwrap()
                .user,
            "web"
        );
        assert_eq!(img.owner_of("/srv/app/hello_django").unwrap().user, "web");
        assert_eq!(img.owner_of("/srv/app/media").unwrap().user, "web");
        assert_eq!(img.owner_of("/srv/app/static/x").unwrap().user, "root");
        assert_eq!(img.collectstatic.len(), 1);
        assert_eq!(img.volumes[0].0, "/srv/app/media");
        assert_eq!(img.user_name(), "1000");
        assert_eq!(img.content_under("/srv/app").len(), 1);
    }

    #[test]
    fn files_a_volume_would_hide() {
        let ctx = context();
        let img = image("FROM x\nWORKDIR /app\nCOPY . .\n", ctx.path());
        let files = img.files_at("/app/hello_django", 5);
        assert_eq!(files.len(), 1);
        assert!(files[0].0.ends_with("hello_django/settings.py"));
        assert_eq!(files[0].1.line, 3);
        assert!(img.files_at("/app/media", 5).is_empty());
        assert_eq!(img.files_at("/", 2).len(), 2);
    }

    #[test]
    fn shell_splitting() {
        let c = simple_commands("mkdir -p /a && chown app:app /a || true; echo 'x && y' | cat");
        assert_eq!(c[0], vec!["mkdir", "-p", "/a"]);
        assert_eq!(c[1], vec!["chown", "app:app", "/a"]);
        assert_eq!(c[2], vec!["true"]);
        assert_eq!(c[3], vec!["echo", "x && y"]);
        assert_eq!(c[4], vec!["cat"]);
    }

    #[test]
    fn unset_arg_is_unknown_and_odd_input_is_harmless() {
        let ctx = context();
        let img = image("FROM x\nARG DIR\nWORKDIR $DIR/app\n", ctx.path());
        assert!(is_unknown(&img.workdir));
        assert!(!img.problems.is_empty());
        for text in [
            "",
            "FROM",
            "COPY a",
            "WORKDIR",
            "RUN <<EOF\nmkdir /x\nEOF\nUSER a",
            "FROM a AS b\nFROM b AS a\nCOPY --from=a x y\n",
            "\\\n\\",
        ] {
            let _ = image(text, ctx.path());
        }
    }
}
