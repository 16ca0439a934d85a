//! The app's environment, as the running app would see it, layered by precedence:
//! the app server's `--env` (set inside the worker), the unit's `EnvironmentFile=` (which systemd
//! lets override `Environment=`), the unit's `Environment=`, the project's `.env` (python-dotenv
//! and django-environ do not override variables already set), then, on the live system only,
//! media-doctor's own environment. Under `--root` the host's environment says nothing about the
//! image, so it is not consulted.

use crate::sysroot::SysRoot;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Serialize)]
pub struct Layer {
    /// Where these values come from: "gunicorn --env", "EnvironmentFile /etc/default/myapp", ...
    pub source: String,
    #[serde(skip)]
    pub vars: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Env {
    /// Highest precedence first.
    pub layers: Vec<Layer>,
    /// Problems reading the sources (a required EnvironmentFile that is missing, ...).
    pub problems: Vec<String>,
}

impl Env {
    pub fn push(&mut self, source: impl Into<String>, vars: BTreeMap<String, String>) {
        self.layers.push(Layer {
            source: source.into(),
            vars,
        });
    }

    /// The value and the source it came from.
    pub fn get(&self, name: &str) -> Option<(&str, &str)> {
        self.layers
            .iter()
            .find_map(|l| l.vars.get(name).map(|v| (v.as_str(), l.source.as_str())))
    }

    /// Every variable with its winning value (for running the app with `--eval`).
    pub fn merged(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for l in self.layers.iter().rev() {
            out.extend(l.vars.clone());
        }
        out
    }

    /// Adds an env file (`EnvironmentFile=` or `.env`) read under `root`.
    pub fn push_file(&mut self, root: &SysRoot, path: &Path, label: &str, optional: bool) {
        let host = root.host_path(&root.real_path(path).unwrap_or_else(|_| path.to_path_buf()));
        match crate::input::read(&host) {
            Ok(bytes) => {
                let vars = parse_env_file(&String::from_utf8_lossy(&bytes));
                self.push(format!("{label} {}", path.display()), vars);
            }
            Err(e) if optional && e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => self
                .problems
                .push(format!("cannot read {label} {}: {e}", path.display())),
        }
    }
}

/// The `.env` files a project is likely to load: in the project and working directories.
pub fn dotenv_candidates(dirs: &[&Path]) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = Vec::new();
    for d in dirs {
        let p = d.join(".env");
        if !out.contains(&p) {
            out.push(p);
        }
    }
    out
}

/// `KEY=VALUE` lines as systemd's EnvironmentFile and python-dotenv read them: `#`/`;` comment
/// lines, an optional `export `, single quotes literal, double quotes with backslash escapes, an
/// unquoted value ends at ` #`, and a trailing backslash continues the line.
pub fn parse_env_file(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let mut line = line.trim_start().to_string();
        if line.starts_with('#') || line.starts_with(';') || line.trim().is_empty() {
            continue;
        }
        let rest = line.strip_prefix("export ").map(str::to_string);
        if let Some(r) = rest {
            line = r;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let key = key.trim().to_string();
        if key.is_empty() || key.contains(char::is_whitespace) {
            continue;
        }
        let mut value = value.trim_start().to_string();
        let quote = value.chars().next().filter(|c| *c == '"' || *c == '\'');
        let parsed = match quote {
            Some(q) => {
                // A quoted value may span lines.
                while !closes(&value[1..], q) {
                    match lines.next() {
                        Some(next) => {
                            value.push('\n');
                            value.push_str(next);
                        }
                        None => break,
                    }
                }
                unquote(&value[1..], q)
            }
            None => {
                while value.ends_with('\\') {
                    value.pop();
                    match lines.next() {
                        Some(next) => value.push_str(next.trim()),
                        None => break,
                    }
                }
                let v = match value.find(" #") {
                    Some(i) => &value[..i],
                    None => &value,
                };
                v.trim().to_string()
            }
        };
        out.insert(key, parsed);
    }
    out
}

fn closes(s: &str, q: char) -> bool {
    let mut escaped = false;
    for c in s.chars() {
        if escaped {
            escaped = false;
        } else if c == '\\' && q == '"' {
            escaped = true;
        } else if c == q {
            return true;
        }
    }
    false
}

fn unquote(s: &str, q: char) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == q {
            break;
        }
        if c == '\\' && q == '"' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some(other) => out.push(other),
                None => {}
            }
            continue;
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_files() {
        let m = parse_env_file(
            "# comment\nexport A=1\nB = 'x y # not a comment'\nC=\"a\\\"b\"\nD=plain # comment\nE=\"multi\nline\"\nbad line\nF=cont\\\ninued\n",
        );
        assert_eq!(m["A"], "1");
        assert_eq!(m["B"], "x y # not a comment");
        assert_eq!(m["C"], "a\"b");
        assert_eq!(m["D"], "plain");
        assert_eq!(m["E"], "multi\nline");
        assert_eq!(m["F"], "continued");
        assert_eq!(m.len(), 6);
    }

    #[test]
    fn layers_in_order_of_precedence() {
        let mut env = Env::default();
        env.push("unit", BTreeMap::from([("A".into(), "unit".into())]));
        env.push(
            ".env",
            BTreeMap::from([("A".into(), "dotenv".into()), ("B".into(), "dotenv".into())]),
        );
        assert_eq!(env.get("A"), Some(("unit", "unit")));
        assert_eq!(env.get("B"), Some(("dotenv", ".env")));
        assert_eq!(env.merged()["A"], "unit");
        assert!(env.get("C").is_none());
    }
}
