//! os.path and pathlib: the path arithmetic settings files do (`Path(__file__).resolve().parent`,
//! `os.path.join(BASE_DIR, ...)`), lexical like Python's own.

use super::*;
use std::path::{Component, Path, PathBuf};

/// pathlib's normal form: no `.` parts, no trailing slash (`..` is kept, as pathlib does).
pub(super) fn pathlib_norm(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

pub(super) fn path_parent(p: &Path) -> PathBuf {
    match p.parent() {
        Some(x) if x.as_os_str().is_empty() => PathBuf::from("."),
        Some(x) => x.to_path_buf(),
        None => p.to_path_buf(),
    }
}

/// os.path.normpath: collapses `//`, `.` and `..` lexically.
pub fn normpath(s: &str) -> String {
    if s.is_empty() {
        return ".".into();
    }
    let absolute = s.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in s.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !absolute {
                    parts.push("..");
                }
            }
            p => parts.push(p),
        }
    }
    let joined = parts.join("/");
    match (absolute, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

pub(super) fn str_path_fn(call: &Call, text: &str, f: impl Fn(&str) -> String) -> Value {
    match call.pos.first().and_then(|v| v.as_path()) {
        Some(p) => Value::Str(f(&p.display().to_string())),
        None => Value::unknown(text, "a path function of a non-path value"),
    }
}

/// The callables this module models (`call_builtin` dispatches them here).
pub(super) const PATHS_CALLS: &[&str] = &[
    "pathlib.Path",
    "pathlib.PosixPath",
    "environ.Path",
    "environ.environ.Path",
    "os.path.join",
    "posixpath.join",
    "os.path.dirname",
    "os.path.basename",
    "os.path.normpath",
    "os.path.abspath",
    "os.path.realpath",
    "os.path.expanduser",
];

impl<'a> Interp<'a> {
    /// A call of one of `PATHS_CALLS`.
    pub(super) fn call_path(&mut self, name: &str, call: Call) -> Value {
        let text = call.text.clone();
        match name {
            "pathlib.Path" | "pathlib.PosixPath" | "environ.Path" | "environ.environ.Path" => {
                let mut p = PathBuf::new();
                for a in &call.pos {
                    match a.as_path() {
                        Some(part) => p.push(part),
                        None => return Value::unknown(text, "Path() of a non-path value"),
                    }
                }
                if p.as_os_str().is_empty() {
                    p = PathBuf::from(".");
                }
                Value::Path(pathlib_norm(&p))
            }
            "os.path.join" | "posixpath.join" => {
                let mut out = String::new();
                for a in &call.pos {
                    let Some(s) = a.as_path().map(|p| p.display().to_string()) else {
                        return Value::unknown(text, "os.path.join() of a non-string");
                    };
                    if s.starts_with('/') || out.is_empty() {
                        out = s;
                    } else if out.ends_with('/') {
                        out.push_str(&s);
                    } else {
                        out.push('/');
                        out.push_str(&s);
                    }
                }
                Value::Str(out)
            }
            "os.path.dirname" => str_path_fn(&call, &text, |s| {
                let head = match s.rfind('/') {
                    Some(i) => &s[..=i],
                    None => "",
                };
                let trimmed = head.trim_end_matches('/');
                if trimmed.is_empty() && head.starts_with('/') {
                    "/".to_string()
                } else {
                    trimmed.to_string()
                }
            }),
            "os.path.basename" => str_path_fn(&call, &text, |s| {
                s.rsplit('/').next().unwrap_or("").to_string()
            }),
            "os.path.normpath" => str_path_fn(&call, &text, normpath),
            "os.path.abspath" => {
                let cwd = self.cwd.clone();
                str_path_fn(&call, &text, |s| {
                    normpath(&cwd.join(s).display().to_string())
                })
            }
            "os.path.realpath" => {
                let cwd = self.cwd.clone();
                let root = self.root;
                str_path_fn(&call, &text, |s| {
                    let abs = normpath(&cwd.join(s).display().to_string());
                    root.real_path(Path::new(&abs))
                        .map(|p| p.display().to_string())
                        .unwrap_or(abs)
                })
            }
            "os.path.expanduser" => match call.pos.first() {
                Some(Value::Str(s)) if !s.starts_with('~') => Value::Str(s.clone()),
                _ => Value::unknown(text, "~ depends on the app user's home"),
            },
            _ => Value::unknown(call.text.clone(), "not modelled"),
        }
    }
}
