//! The values the evaluator can know. Anything else is `Unknown`, carrying the expression as
//! written and why it could not be evaluated.

use super::Module;
use std::path::PathBuf;
use std::rc::Rc;
use tree_sitter::Node;

#[derive(Debug, Clone)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    Str(String),
    /// A `pathlib.Path` (or django-environ `environ.Path`): a system path.
    Path(PathBuf),
    List(Vec<Value>),
    Tuple(Vec<Value>),
    Dict(Vec<(Value, Value)>),
    /// A module, builtin or library object the evaluator models, by dotted name
    /// (`os.path.join`, `pathlib.Path`, `flask.Flask`).
    Builtin(String),
    /// An imported module of the project, evaluated.
    Module(Rc<Namespace>),
    /// A class body's attributes (bases first, own attributes override).
    Class(Rc<Namespace>),
    Func(Rc<FuncDef>),
    /// An object in the interpreter's arena (a Flask app, a blueprint, an env reader...).
    Obj(usize),
    Unknown {
        expr: String,
        why: String,
    },
}

/// A module's or a class's names, with where each was bound.
#[derive(Debug, Clone, Default)]
pub struct Namespace {
    pub name: String,
    pub vars: super::Scope,
}

/// A function definition: its module and the node's byte range (tree-sitter nodes borrow their
/// tree, so the definition is found again by range when called).
pub struct FuncDef {
    pub name: String,
    pub module: Rc<Module>,
    pub start: usize,
    pub end: usize,
    /// The scope of the module it was defined in, at call time (names are looked up there).
    pub globals_of: usize,
    /// The enclosing function's locals when it was defined (closures: views in app factories).
    pub closure: Option<super::Scope>,
}

impl std::fmt::Debug for FuncDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "def {}() in {}", self.name, self.module.path.display())
    }
}

/// The longest expression text kept in an Unknown (what reports show "as written"): a longer
/// one is cut, so a huge expression costs its size once, not once per level.
pub(crate) const MAX_SHOWN_EXPR: usize = 200;

/// `text`, cut to `max` bytes (at a character boundary) with an ellipsis.
fn cut(text: &str, max: usize) -> std::borrow::Cow<'_, str> {
    if text.len() <= max {
        return text.into();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end]).into()
}

/// `text`, cut to MAX_SHOWN_EXPR bytes with an ellipsis.
pub(crate) fn shown(text: &str) -> std::borrow::Cow<'_, str> {
    cut(text, MAX_SHOWN_EXPR)
}

impl Value {
    /// An unknown value: its expression as written and why it is not known, each cut to what a
    /// report line can show (a reason names the expression: `os.path.path…` 5,000 links long is
    /// shown by its first 200 bytes, in every message that carries it).
    pub fn unknown(expr: impl Into<String>, why: impl Into<String>) -> Value {
        let (expr, why) = (expr.into(), why.into());
        let short = |s: String, max| match cut(&s, max) {
            std::borrow::Cow::Borrowed(_) => s,
            std::borrow::Cow::Owned(c) => c,
        };
        Value::Unknown {
            expr: short(expr, MAX_SHOWN_EXPR),
            why: short(why, 2 * MAX_SHOWN_EXPR),
        }
    }

    pub fn is_unknown(&self) -> bool {
        matches!(self, Value::Unknown { .. })
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// A filesystem path from a `str` or a `Path`.
    pub fn as_path(&self) -> Option<PathBuf> {
        match self {
            Value::Str(s) => Some(PathBuf::from(s)),
            Value::Path(p) => Some(p.clone()),
            _ => None,
        }
    }

    /// Python's `str(x)` for the values where it is well defined.
    pub fn to_py_str(&self) -> Option<String> {
        Some(match self {
            Value::None => "None".into(),
            Value::Bool(true) => "True".into(),
            Value::Bool(false) => "False".into(),
            Value::Int(i) => i.to_string(),
            Value::Str(s) => s.clone(),
            Value::Path(p) => p.display().to_string(),
            _ => return None,
        })
    }

    /// Python truthiness; `None` when it cannot be decided.
    pub fn truthy(&self) -> Option<bool> {
        Some(match self {
            Value::None => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Str(s) => !s.is_empty(),
            Value::Path(_) => true,
            Value::List(v) | Value::Tuple(v) => !v.is_empty(),
            Value::Dict(v) => !v.is_empty(),
            Value::Builtin(_) | Value::Module(_) | Value::Class(_) | Value::Func(_) => true,
            Value::Obj(_) => true,
            Value::Unknown { .. } => return None,
        })
    }

    /// `==` where both sides are known plain values; `None` when undecidable.
    pub fn py_eq(&self, other: &Value) -> Option<bool> {
        Some(match (self, other) {
            (Value::Unknown { .. }, _) | (_, Value::Unknown { .. }) => return None,
            (Value::None, Value::None) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Int(a), Value::Int(b)) => a == b,
            (Value::Bool(a), Value::Int(b)) | (Value::Int(b), Value::Bool(a)) => (*a as i64) == *b,
            (Value::Str(a), Value::Str(b)) => a == b,
            (Value::Path(a), Value::Path(b)) => a == b,
            (Value::List(a), Value::List(b)) | (Value::Tuple(a), Value::Tuple(b)) => {
                if a.len() != b.len() {
                    return Some(false);
                }
                for (x, y) in a.iter().zip(b) {
                    if !x.py_eq(y)? {
                        return Some(false);
                    }
                }
                true
            }
            (Value::Str(_) | Value::Int(_) | Value::None | Value::Bool(_), _)
                if matches!(
                    other,
                    Value::Str(_) | Value::Int(_) | Value::None | Value::Bool(_)
                ) =>
            {
                false
            }
            _ => return None,
        })
    }

    /// A short description for reports: `'/srv/media'`, `Path('/srv/media')`, `True`.
    pub fn describe(&self) -> String {
        match self {
            Value::Str(s) => format!("{s:?}"),
            Value::Path(p) => format!("Path({:?})", p.display().to_string()),
            Value::List(v) => format!(
                "[{}]",
                v.iter()
                    .map(|x| x.describe())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Value::Tuple(v) => format!(
                "({})",
                v.iter()
                    .map(|x| x.describe())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Value::Unknown { expr, .. } => format!("<unknown: {expr}>"),
            Value::Builtin(n) => n.clone(),
            Value::Module(m) => format!("<module {}>", m.name),
            Value::Class(c) => format!("<class {}>", c.name),
            Value::Func(f) => format!("<function {}>", f.name),
            Value::Obj(i) => format!("<object #{i}>"),
            Value::Dict(_) => "{...}".into(),
            other => other.to_py_str().unwrap_or_default(),
        }
    }

    /// Looks up `key` in a dict value.
    pub fn dict_get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Dict(items) => items
                .iter()
                .rev()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }
}

/// The text of a string literal: escapes processed (unless raw), f-string holes kept as written
/// (`{name}`). For scanning code for URLs, not for evaluation.
pub fn literal_text(module: &Module, node: Node) -> String {
    let mut out = String::new();
    let raw = string_prefix(module, node).contains(['r', 'R']);
    let mut cursor = node.walk();
    for child in node.children(&mut cursor) {
        match child.kind() {
            "string_content" => out.push_str(&unescape(module.text(child), raw)),
            "interpolation" => out.push_str(module.text(child)),
            _ => {}
        }
    }
    out
}

/// The prefix letters of a string literal (`f`, `rb`, ...).
pub fn string_prefix<'m>(module: &'m Module, node: Node) -> &'m str {
    node.child(0)
        .map(|s| module.text(s).trim_end_matches(['"', '\'']))
        .unwrap_or("")
}

/// Python escape sequences in a non-raw literal.
pub fn unescape(s: &str, raw: bool) -> String {
    if raw || !s.contains('\\') {
        return s.to_string();
    }
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('0') => out.push('\0'),
            Some('\\') => out.push('\\'),
            Some('\'') => out.push('\''),
            Some('"') => out.push('"'),
            Some('\n') => {}
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}
