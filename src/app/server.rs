//! The app server's command line (from `ExecStart=`): gunicorn, uwsgi (and its ini file), uvicorn,
//! waitress, or `python script.py`. What matters to media-doctor: the directory the app is
//! imported from (`--chdir`), the WSGI target (`myproject.wsgi:application`, `app:create_app()`),
//! the interpreter (the venv next to the server binary), extra environment (`--env`), and the
//! user it switches to.

use crate::report::Location;
use crate::sysroot::SysRoot;
use serde::Serialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ServerKind {
    Gunicorn,
    Uwsgi,
    Uvicorn,
    Waitress,
    /// `python app.py` / `python -m flask run` ...
    Python,
    Other,
}

#[derive(Debug, Clone, Serialize)]
pub struct AppServerCommand {
    pub kind: ServerKind,
    pub argv: Vec<String>,
    pub at: Location,
    /// `--chdir` (gunicorn, uwsgi), `--app-dir` (uvicorn), or `cd DIR &&` in a `sh -c` line.
    pub chdir: Option<PathBuf>,
    /// The WSGI/ASGI target: `module:callable` (`myproject.wsgi:application`, `app:create_app()`).
    pub target: Option<String>,
    /// A script file: uwsgi `--wsgi-file`, or `python app.py`.
    pub script: Option<PathBuf>,
    /// The app's interpreter: `python` beside the server binary (a venv), uwsgi `--home`.
    pub python: Option<PathBuf>,
    /// `--env KEY=VALUE` (gunicorn `-e`, uwsgi `--env`): set in the worker, over the unit's.
    /// Reports show the names only: values are often secrets.
    #[serde(serialize_with = "names_only")]
    pub env: Vec<(String, String)>,
    /// gunicorn `-c FILE`, uwsgi `--ini FILE`.
    pub config_file: Option<PathBuf>,
    pub pythonpath: Vec<PathBuf>,
    /// gunicorn `-u/--user`, uwsgi `--uid`; and the group.
    pub user: Option<String>,
    pub group: Option<String>,
}

/// gunicorn options that take no value (everything else that starts with `-` takes one).
const GUNICORN_FLAGS: &[&str] = &[
    "--reload",
    "--spew",
    "--check-config",
    "--print-config",
    "--preload",
    "--no-sendfile",
    "--reuse-port",
    "-D",
    "--daemon",
    "--capture-output",
    "-R",
    "--enable-stdio-inheritance",
    "--strip-header-spaces",
    "--disable-redirect-access-to-syslog",
    "--do-handshake-on-connect",
    "--suppress-ragged-eofs",
    "--proxy-protocol",
    "--log-syslog",
    "--dogstatsd-tags",
    "-v",
    "--version",
    "-h",
    "--help",
];

impl AppServerCommand {
    pub fn parse(argv: &[String], at: Location) -> AppServerCommand {
        let mut cmd = AppServerCommand {
            kind: ServerKind::Other,
            argv: argv.to_vec(),
            at,
            chdir: None,
            target: None,
            script: None,
            python: None,
            env: Vec::new(),
            config_file: None,
            pythonpath: Vec::new(),
            user: None,
            group: None,
        };
        cmd.read(argv, 0);
        cmd
    }

    fn read(&mut self, argv: &[String], depth: usize) {
        let Some(prog) = argv.first() else { return };
        let base = file_name(prog);
        let rest = &argv[1..];
        if base == "env" {
            // `/usr/bin/env [-i] [K=V ...] prog args`
            let skip = rest
                .iter()
                .take_while(|a| a.starts_with('-') || a.contains('='))
                .count();
            for kv in rest[..skip].iter().filter_map(|a| a.split_once('=')) {
                self.env.push((kv.0.to_string(), kv.1.to_string()));
            }
            return self.read(&rest[skip..], depth);
        }
        if matches!(base, "sh" | "bash" | "dash") && depth < 3 {
            if let Some(pos) = rest.iter().position(|a| a == "-c" || a == "-lc") {
                if let Some(script) = rest.get(pos + 1) {
                    return self.read_shell(script, depth + 1);
                }
            }
            return;
        }
        if base.starts_with("python") {
            self.python = Some(PathBuf::from(prog));
            let mut i = 0;
            while i < rest.len() {
                let a = &rest[i];
                if a == "-m" {
                    if let Some(module) = rest.get(i + 1) {
                        let mut inner = vec![module.clone()];
                        inner.extend_from_slice(&rest[i + 2..]);
                        // `python -m gunicorn ...` is gunicorn; the interpreter is already known.
                        return self.read_server(&inner, None);
                    }
                    return;
                }
                if a.starts_with('-') {
                    i += 1;
                    continue;
                }
                self.kind = ServerKind::Python;
                self.script = Some(PathBuf::from(a));
                return;
            }
            self.kind = ServerKind::Python;
            return;
        }
        self.read_server(argv, Some(prog));
    }

    /// `cd /srv/app && source venv/bin/activate && exec gunicorn ...`: follow the `cd`s, read the
    /// last command.
    fn read_shell(&mut self, script: &str, depth: usize) {
        let words = super::systemd::split_words(script);
        let mut commands: Vec<Vec<String>> = vec![Vec::new()];
        for w in words {
            if matches!(w.as_str(), "&&" | ";" | "||") {
                commands.push(Vec::new());
            } else if let Some(stripped) = w.strip_suffix(';') {
                commands.last_mut().unwrap().push(stripped.to_string());
                commands.push(Vec::new());
            } else {
                commands.last_mut().unwrap().push(w);
            }
        }
        commands.retain(|c| !c.is_empty());
        let Some(last) = commands.pop() else { return };
        for c in &commands {
            if c[0] == "cd" {
                if let Some(d) = c.get(1) {
                    self.chdir = Some(self.relative_to_chdir(d));
                }
            }
        }
        let last: Vec<String> = if last[0] == "exec" {
            last[1..].to_vec()
        } else {
            last
        };
        self.read(&last, depth);
    }

    fn relative_to_chdir(&self, p: &str) -> PathBuf {
        match &self.chdir {
            Some(base) if !Path::new(p).is_absolute() => base.join(p),
            _ => PathBuf::from(p),
        }
    }

    fn read_server(&mut self, argv: &[String], binary: Option<&String>) {
        let base = file_name(&argv[0]);
        let rest = &argv[1..];
        // A server binary given by path lives in the venv's bin/, beside its python.
        if let Some(bin) = binary.filter(|b| b.contains('/')) {
            if self.python.is_none() {
                self.python = Path::new(bin).parent().map(|d| d.join("python"));
            }
        }
        match base {
            "gunicorn" | "gunicorn3" => {
                self.kind = ServerKind::Gunicorn;
                self.read_gunicorn(rest);
            }
            "uwsgi" => {
                self.kind = ServerKind::Uwsgi;
                self.read_uwsgi_args(rest);
            }
            "uvicorn" | "hypercorn" | "daphne" => {
                self.kind = ServerKind::Uvicorn;
                for (opt, value) in
                    options(rest, &["--reload", "--proxy-headers", "--no-access-log"])
                {
                    match (opt.as_deref(), value) {
                        (Some("--app-dir"), Some(v)) => self.chdir = Some(PathBuf::from(v)),
                        (None, Some(v)) if self.target.is_none() => self.target = Some(v),
                        _ => {}
                    }
                }
            }
            "waitress-serve" => {
                self.kind = ServerKind::Waitress;
                for (opt, value) in options(rest, &["--call", "--expose-tracebacks"]) {
                    if let (None, Some(v)) = (opt.as_deref(), value) {
                        self.target.get_or_insert(v);
                    }
                }
            }
            "flask" => {
                self.kind = ServerKind::Python;
                for (opt, value) in options(rest, &["--debug", "--reload"]) {
                    if let (Some("--app" | "-A"), Some(v)) = (opt.as_deref(), value) {
                        self.target = Some(v);
                    }
                }
            }
            _ => {}
        }
    }

    fn read_gunicorn(&mut self, args: &[String]) {
        for (opt, value) in options(args, GUNICORN_FLAGS) {
            let Some(v) = value else { continue };
            match opt.as_deref() {
                Some("--chdir") => self.chdir = Some(self.relative_to_chdir(&v)),
                Some("-c" | "--config") => {
                    self.config_file = Some(PathBuf::from(v.trim_start_matches("file:")))
                }
                Some("-e" | "--env") => {
                    if let Some((k, val)) = v.split_once('=') {
                        self.env.push((k.into(), val.into()));
                    }
                }
                Some("--pythonpath") => self
                    .pythonpath
                    .extend(v.split(',').map(|p| PathBuf::from(p.trim()))),
                Some("-u" | "--user") => self.user = Some(v),
                Some("-g" | "--group") => self.group = Some(v),
                None if self.target.is_none() => self.target = Some(v),
                _ => {}
            }
        }
    }

    /// uwsgi options: `--key value`, `--key=value`; a positional argument is a config file.
    fn read_uwsgi_args(&mut self, args: &[String]) {
        let mut i = 0;
        while i < args.len() {
            let a = &args[i];
            let (key, value) = if let Some(k) = a.strip_prefix("--") {
                match k.split_once('=') {
                    Some((k, v)) => (k.to_string(), Some(v.to_string())),
                    None => {
                        let v = args.get(i + 1).filter(|n| !n.starts_with('-')).cloned();
                        if v.is_some() {
                            i += 1;
                        }
                        (k.to_string(), v)
                    }
                }
            } else if let Some(k) = a.strip_prefix('-') {
                let v = args.get(i + 1).filter(|n| !n.starts_with('-')).cloned();
                if v.is_some() {
                    i += 1;
                }
                (uwsgi_short(k).to_string(), v)
            } else {
                ("ini".to_string(), Some(a.clone()))
            };
            i += 1;
            if let Some(v) = value {
                self.uwsgi_option(&key, &v);
            }
        }
    }

    fn uwsgi_option(&mut self, key: &str, v: &str) {
        match key {
            "chdir" => self.chdir = Some(self.relative_to_chdir(v)),
            "module" | "wsgi" => self.target = Some(v.to_string()),
            "wsgi-file" | "file" => self.script = Some(PathBuf::from(v)),
            "mount" => {
                // `--mount /=myapp.wsgi:application` or `/=app.py`
                if let Some((_, t)) = v.split_once('=') {
                    if t.ends_with(".py") {
                        self.script = Some(PathBuf::from(t));
                    } else {
                        self.target = Some(t.to_string());
                    }
                }
            }
            "callable" => {
                if let Some(t) = &self.target {
                    if !t.contains(':') {
                        self.target = Some(format!("{t}:{v}"));
                    }
                }
            }
            "home" | "virtualenv" | "venv" | "pyhome" => {
                self.python = Some(Path::new(v).join("bin/python"))
            }
            "env" => {
                if let Some((k, val)) = v.split_once('=') {
                    self.env.push((k.into(), val.into()));
                }
            }
            "pythonpath" | "pp" => self.pythonpath.push(PathBuf::from(v)),
            "uid" => self.user = Some(v.to_string()),
            "gid" => self.group = Some(v.to_string()),
            "ini" => self.config_file = Some(PathBuf::from(v)),
            _ => {}
        }
    }

    /// Reads what the command points to: uwsgi's ini file (its `[uwsgi]` section). Relative
    /// paths are relative to `cwd` (the unit's working directory).
    pub fn load_config_file(&mut self, root: &SysRoot, cwd: Option<&Path>) -> Option<String> {
        if self.kind != ServerKind::Uwsgi {
            return None;
        }
        let file = self.config_file.clone()?;
        let file = match cwd {
            Some(c) if file.is_relative() => c.join(file),
            _ => file,
        };
        let host = root.host_path(&root.real_path(&file).ok()?);
        let text = match crate::input::read(&host) {
            Ok(b) => String::from_utf8_lossy(&b).into_owned(),
            Err(e) => return Some(format!("cannot read uwsgi config {}: {e}", file.display())),
        };
        let mut in_uwsgi = false;
        for line in text.lines() {
            let line = line.trim();
            if line.starts_with('#') || line.starts_with(';') || line.is_empty() {
                continue;
            }
            if let Some(section) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                in_uwsgi = section.trim() == "uwsgi";
                continue;
            }
            if let (true, Some((k, v))) = (in_uwsgi, line.split_once('=')) {
                let v = v.trim().trim_matches('"');
                // `%d` is the ini file's own directory.
                let dir = file.parent().map(|d| format!("{}/", d.display()));
                let v = v.replace("%d", dir.as_deref().unwrap_or(""));
                self.uwsgi_option(k.trim(), &v);
            }
        }
        None
    }

    /// The target's module and callable: `myproject.wsgi:application` → ("myproject.wsgi",
    /// "application"); a bare module means `application` (gunicorn's and uwsgi's default).
    pub fn target_parts(&self) -> Option<(String, String)> {
        let t = self.target.as_deref()?;
        let (m, c) = t.split_once(':').unwrap_or((t, "application"));
        Some((m.trim().to_string(), c.trim().to_string()))
    }
}

fn names_only<S: serde::Serializer>(vars: &[(String, String)], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(vars.iter().map(|(k, _)| k))
}

fn file_name(p: &str) -> &str {
    p.rsplit('/').next().unwrap_or(p)
}

fn uwsgi_short(k: &str) -> &str {
    match k {
        "w" => "module",
        "H" => "home",
        "s" => "socket",
        "M" => "master",
        _ => k,
    }
}

/// Splits argparse-style arguments into (option, value) pairs; a positional is (None, value).
/// `flags` take no value; `--opt=value`, `--opt value`, `-o value` and `-ovalue` are all read.
fn options(args: &[String], flags: &[&str]) -> Vec<(Option<String>, Option<String>)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        i += 1;
        if a == "--" {
            out.extend(args[i..].iter().map(|v| (None, Some(v.clone()))));
            break;
        }
        if !a.starts_with('-') || a == "-" {
            out.push((None, Some(a.clone())));
            continue;
        }
        if let Some((o, v)) = a.split_once('=').filter(|_| a.starts_with("--")) {
            out.push((Some(o.to_string()), Some(v.to_string())));
            continue;
        }
        if flags.contains(&a.as_str()) {
            out.push((Some(a.clone()), None));
            continue;
        }
        if !a.starts_with("--") && a.len() > 2 {
            out.push((Some(a[..2].to_string()), Some(a[2..].to_string())));
            continue;
        }
        let v = args.get(i).cloned();
        i += 1;
        out.push((Some(a.clone()), v));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> AppServerCommand {
        AppServerCommand::parse(
            &super::super::systemd::split_words(line),
            Location::new("/x.service", 1),
        )
    }

    #[test]
    fn gunicorn_command_lines() {
        let c = parse("/srv/app/venv/bin/gunicorn --workers 3 -b unix:/run/app.sock --chdir /srv/app/src -e DJANGO_SETTINGS_MODULE=proj.settings.prod --reload proj.wsgi:application");
        assert_eq!(c.kind, ServerKind::Gunicorn);
        assert_eq!(c.chdir.as_deref(), Some(Path::new("/srv/app/src")));
        assert_eq!(
            c.python.as_deref(),
            Some(Path::new("/srv/app/venv/bin/python"))
        );
        assert_eq!(
            c.env,
            vec![("DJANGO_SETTINGS_MODULE".into(), "proj.settings.prod".into())]
        );
        assert_eq!(
            c.target_parts().unwrap(),
            ("proj.wsgi".into(), "application".into())
        );

        let c = parse("/opt/venv/bin/python3 -m gunicorn --chdir=/opt/site -w4 'app:create_app()'");
        assert_eq!(c.kind, ServerKind::Gunicorn);
        assert_eq!(
            c.python.as_deref(),
            Some(Path::new("/opt/venv/bin/python3"))
        );
        assert_eq!(c.chdir.as_deref(), Some(Path::new("/opt/site")));
        assert_eq!(c.target.as_deref(), Some("app:create_app()"));

        let c = parse(
            "/bin/bash -c 'cd /srv/site && source venv/bin/activate && exec gunicorn wsgi:app'",
        );
        assert_eq!(c.kind, ServerKind::Gunicorn);
        assert_eq!(c.chdir.as_deref(), Some(Path::new("/srv/site")));
        assert_eq!(c.target.as_deref(), Some("wsgi:app"));
    }

    #[test]
    fn uwsgi_with_an_ini_file() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("etc/uwsgi")).unwrap();
        std::fs::write(
            tmp.path().join("etc/uwsgi/app.ini"),
            "[uwsgi]\nchdir = /srv/app\nmodule = proj.wsgi:application\nhome = /srv/app/.venv\nuid = deploy\nenv = DJANGO_SETTINGS_MODULE=proj.settings\n[other]\nchdir=/nope\n",
        )
        .unwrap();
        let mut c = parse("/usr/bin/uwsgi --ini /etc/uwsgi/app.ini --master");
        assert_eq!(c.kind, ServerKind::Uwsgi);
        assert!(c
            .load_config_file(&SysRoot::new(tmp.path()), None)
            .is_none());
        assert_eq!(c.chdir.as_deref(), Some(Path::new("/srv/app")));
        assert_eq!(c.user.as_deref(), Some("deploy"));
        assert_eq!(
            c.python.as_deref(),
            Some(Path::new("/srv/app/.venv/bin/python"))
        );
        assert_eq!(c.target_parts().unwrap().0, "proj.wsgi");
    }
}
