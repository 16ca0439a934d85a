//! Reading Python without running it: files are parsed with tree-sitter-python and module-level
//! code is interpreted by a small, safe evaluator (`interp`) that knows exactly what settings files
//! do to compute paths and URLs (string literals, f-strings, pathlib, os.path, os.environ,
//! django-environ, python-decouple, Flask's config object) and nothing else. What it cannot decide
//! becomes `Value::Unknown` with the expression and the reason, never a guess.

pub mod interp;
pub mod value;

use crate::report::Location;
use crate::sysroot::SysRoot;
use std::path::{Path, PathBuf};
use tree_sitter::{Node, Parser, Tree};

pub use interp::{Binding, Interp, Scope};

#[cfg(test)]
mod eval_tests;
pub use value::Value;

/// One parsed file. `path` is the system path (what `__file__` is for the app).
pub struct Module {
    pub path: PathBuf,
    pub src: String,
    pub tree: Tree,
}

impl std::fmt::Debug for Module {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Module({})", self.path.display())
    }
}

impl Module {
    pub fn parse(path: &Path, src: String) -> anyhow::Result<Module> {
        let mut parser = Parser::new();
        parser.set_language(&tree_sitter_python::LANGUAGE.into())?;
        let tree = parser
            .parse(&src, None)
            .ok_or_else(|| anyhow::anyhow!("the Python parser gave up on {}", path.display()))?;
        Ok(Module {
            path: path.to_path_buf(),
            src,
            tree,
        })
    }

    /// Reads and parses a system path under `root` (symlinks resolved inside the root).
    pub fn read(root: &SysRoot, path: &Path) -> anyhow::Result<Module> {
        let real = root.real_path(path).unwrap_or_else(|_| path.to_path_buf());
        let bytes = crate::input::read(&root.host_path(&real))
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
        Module::parse(path, String::from_utf8_lossy(&bytes).into_owned())
    }

    pub fn text(&self, node: Node) -> &str {
        node.utf8_text(self.src.as_bytes()).unwrap_or("")
    }

    pub fn location(&self, node: Node) -> Location {
        let mut l = Location::new(
            self.path.display().to_string(),
            node.start_position().row as u32 + 1,
        );
        l.column = Some(node.start_position().column as u32 + 1);
        l
    }

    /// The first syntax error, as `file:line: near "..."`, when the file does not parse cleanly
    /// (tree-sitter still gives the statements around it).
    pub fn syntax_error(&self) -> Option<String> {
        let root = self.tree.root_node();
        if !root.has_error() {
            return None;
        }
        let mut cursor = root.walk();
        let mut stack = vec![root];
        while let Some(n) = stack.pop() {
            if n.is_error() || n.is_missing() {
                let text: String = self.text(n).chars().take(40).collect();
                return Some(format!(
                    "{}:{}: syntax error near {:?}",
                    self.path.display(),
                    n.start_position().row + 1,
                    text
                ));
            }
            if n.has_error() {
                let children: Vec<_> = n.children(&mut cursor).collect();
                stack.extend(children.into_iter().rev());
            }
        }
        Some(format!("{}: syntax error", self.path.display()))
    }

    /// Modules this file imports (`import a.b` → "a.b"; `from x import y` → "x"), relative ones
    /// with their leading dots.
    pub fn imported_modules(&self) -> Vec<String> {
        let mut out = Vec::new();
        let root = self.tree.root_node();
        let mut cursor = root.walk();
        let mut stack = vec![root];
        while let Some(n) = stack.pop() {
            match n.kind() {
                "import_statement" => {
                    let mut c = n.walk();
                    for name in n.children_by_field_name("name", &mut c) {
                        let name = if name.kind() == "aliased_import" {
                            name.child_by_field_name("name").unwrap_or(name)
                        } else {
                            name
                        };
                        out.push(self.text(name).to_string());
                    }
                }
                "import_from_statement" => {
                    if let Some(m) = n.child_by_field_name("module_name") {
                        out.push(self.text(m).to_string());
                    }
                }
                _ => {
                    let children: Vec<_> = n.named_children(&mut cursor).collect();
                    stack.extend(children);
                }
            }
        }
        out
    }
}

/// Every string literal in a file with its value (f-string holes kept as `{...}`) and location,
/// except those that declare a route (`@app.route("/uploads/<f>")`, `path("media/...")`): the
/// raw material for MD306's URL scan.
pub fn string_literals(module: &Module) -> Vec<(String, Location)> {
    let mut out = Vec::new();
    let root = module.tree.root_node();
    let mut cursor = root.walk();
    let mut stack = vec![root];
    while let Some(n) = stack.pop() {
        if n.kind() == "string" {
            if !declares_a_route(module, n) {
                out.push((value::literal_text(module, n), module.location(n)));
            }
            continue;
        }
        let children: Vec<_> = n.named_children(&mut cursor).collect();
        stack.extend(children);
    }
    out.sort_by_key(|(_, l)| (l.line, l.column));
    out
}

/// True for a string that is an argument of a decorator or of a route-declaring call.
fn declares_a_route(module: &Module, n: Node) -> bool {
    let mut cur = n.parent();
    while let Some(p) = cur {
        match p.kind() {
            "decorator" => return true,
            "call" => {
                let f = p
                    .child_by_field_name("function")
                    .map(|f| module.text(f))
                    .unwrap_or("");
                let last = f.rsplit('.').next().unwrap_or(f);
                return matches!(
                    last,
                    "route"
                        | "add_url_rule"
                        | "path"
                        | "re_path"
                        | "url"
                        | "Blueprint"
                        | "register_blueprint"
                        | "static"
                );
            }
            "module" | "block" => return false,
            _ => cur = p.parent(),
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_reports_syntax_errors() {
        let m = Module::parse(Path::new("/s.py"), "A = 1\nB = (\nC = 'x'\n".into()).unwrap();
        assert!(m.syntax_error().unwrap().starts_with("/s.py:"));
        let m = Module::parse(
            Path::new("/s.py"),
            "import os, os.path as p\nfrom .base import *\nfrom flask import Flask\n".into(),
        )
        .unwrap();
        assert!(m.syntax_error().is_none());
        let mut imports = m.imported_modules();
        imports.sort();
        assert_eq!(imports, vec![".base", "flask", "os", "os.path"]);
    }

    #[test]
    fn finds_string_literals() {
        let m = Module::parse(
            Path::new("/v.py"),
            "url = f\"/uploads/{name}\"\nx = 'a' 'b'\n@app.route('/r/<f>')\ndef v(f): pass\n"
                .into(),
        )
        .unwrap();
        let s = string_literals(&m);
        assert_eq!(s[0].0, "/uploads/{name}");
        assert_eq!(s[0].1.line, 1);
        assert!(s.iter().any(|(v, _)| v == "a"));
        assert!(!s.iter().any(|(v, _)| v.starts_with("/r/")));
    }
}
