//! The safe evaluator: walks module-level statements (and the functions they call, such as a
//! Flask app factory) and computes what it can. It never imports third-party code, never touches
//! the network, never writes; library calls it does not model give `Value::Unknown`.
//!
//! Modelled: literals and f-strings; `+ / % -` on strings, paths, lists; `and or not`, `==`,
//! `in`, `x if c else y`; pathlib (`Path(__file__).resolve().parent`, `/`, `.parents[n]`);
//! os.path (`join dirname abspath realpath normpath basename`); `os.environ.get/[]/setdefault`,
//! `os.getenv`; django-environ (`environ.Env(...)`, `env("X", default=...)`, `env.bool/str/list/
//! path`, `environ.Path(__file__) - 2`); python-decouple (`config("X", default=, cast=)`);
//! project imports (`from .base import *`, relative and absolute); classes (config classes with
//! inheritance); user functions with defaults; if/try/with; Flask's app object and config
//! (`Flask(...)`, `app.config[...] =`, `update`, `from_object`, `from_pyfile`, `from_envvar`,
//! `from_mapping`, `from_prefixed_env`, blueprints, `@route` + `send_from_directory`), and
//! Django's `static()` / `serve` url patterns.
//!
//! Files: this one is the core (modules and imports, statements, expressions, calls of user
//! functions); `builtins` (Python's builtins, value methods, and the dispatch to the library
//! models); the library models `paths` (os.path, pathlib), `environ` (os.environ,
//! django-environ, decouple) and `flask` (the app object, its config, blueprints, routes).

mod builtins;
mod environ;
mod flask;
mod paths;

use crate::app::env::Env;
use crate::app::python::value::{string_prefix, unescape, FuncDef, Namespace, Value};
use crate::app::python::Module;
use crate::report::Location;
use crate::sysroot::SysRoot;
use environ::*;
use flask::*;
pub use flask::{route_prefix, Blueprint, FlaskApp, PendingRoute, ServedRoute};
pub use paths::normpath;
use paths::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use tree_sitter::Node;

/// A name's value and where it was bound (`expr` is the right-hand side as written, its first
/// 200 bytes: `value::shown`).
#[derive(Debug, Clone)]
pub struct Binding {
    pub value: Value,
    pub expr: String,
    pub at: Option<Location>,
}

#[derive(Debug, Clone, Default)]
pub struct Scope {
    pub vars: BTreeMap<String, Binding>,
}

impl Scope {
    pub fn get(&self, name: &str) -> Option<&Binding> {
        self.vars.get(name)
    }
    pub fn set(&mut self, name: &str, b: Binding) {
        self.vars.insert(name.to_string(), b);
    }
}

/// Objects with identity (mutated in place by the code), kept in the interpreter's arena.
#[derive(Debug, Clone)]
pub enum Object {
    FlaskApp(Box<FlaskApp>),
    /// `app.config` of the app at that index.
    FlaskConfig(usize),
    Blueprint(Blueprint),
    /// A django-environ `Env` reader, with its scheme (`DEBUG=(bool, False)`).
    EnvReader(BTreeMap<String, Value>),
}

/// An environment variable the code read, and where its value came from.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EnvRead {
    pub name: String,
    /// The source (`EnvironmentFile /etc/default/myapp`), or `None` when it was not set.
    pub source: Option<String>,
    pub at: Location,
}

enum Flow {
    Normal,
    Return(Value),
    /// An import that cannot succeed (a relative import of a missing file): `except` may catch it.
    Raise(String),
}

#[derive(Clone)]
struct Frame {
    globals: usize,
    locals: Option<Scope>,
}

const MAX_DEPTH: usize = 24;

/// How deeply expressions and statements may nest (each level is a frame of the evaluator's
/// recursion): past it, the rest is Unknown, "too deeply nested", instead of a stack overflow.
/// CPython itself refuses more than 200 nested parentheses; real settings nest a handful.
/// Attribute chains (`a.b.c...`) do not count: they are followed in a loop.
pub const MAX_NESTING: usize = 100;

use crate::app::python::value::{shown, MAX_SHOWN_EXPR};

/// A node's text as an Unknown shows it (`shown`), taken from the source without reading the
/// whole node (a node as long as the file costs nothing more than a short one).
fn clip<'m>(m: &'m Module, n: Node) -> std::borrow::Cow<'m, str> {
    let (start, end) = (n.start_byte(), n.end_byte());
    let mut cut = end.min(start + MAX_SHOWN_EXPR + 4);
    while cut > start && !m.src.is_char_boundary(cut) {
        cut -= 1;
    }
    match m.src.get(start..cut) {
        Some(t) if cut == end => t.into(),
        Some(t) => shown(t).into_owned().into(),
        None => "".into(),
    }
}

const MAX_STEPS: usize = 200_000;

pub struct Interp<'a> {
    pub root: &'a SysRoot,
    pub env: Env,
    /// Where absolute imports are looked for (the app's directory first), system paths.
    pub sys_path: Vec<PathBuf>,
    /// The process's working directory (relative paths and `abspath`).
    pub cwd: PathBuf,
    modules: BTreeMap<PathBuf, Rc<Namespace>>,
    /// Each loaded file's globals (an index into `globals`).
    module_globals: BTreeMap<PathBuf, usize>,
    loading: Vec<PathBuf>,
    globals: Vec<Scope>,
    pub objects: Vec<Object>,
    pub files_read: Vec<PathBuf>,
    pub problems: Vec<String>,
    pub env_reads: Vec<EnvRead>,
    /// What `django.conf.settings` answers (set after the settings module was read).
    pub django_settings: Option<Rc<Namespace>>,
    pub pending_routes: Vec<PendingRoute>,
    pub served: Vec<ServedRoute>,
    capture: Option<Vec<(Value, Location)>>,
    depth: usize,
    /// Current nesting of eval/exec (see MAX_NESTING).
    nesting: usize,
    steps: usize,
}

impl<'a> Interp<'a> {
    pub fn new(root: &'a SysRoot, env: Env, sys_path: Vec<PathBuf>, cwd: PathBuf) -> Self {
        Interp {
            root,
            env,
            sys_path,
            cwd,
            modules: BTreeMap::new(),
            module_globals: BTreeMap::new(),
            loading: Vec::new(),
            globals: Vec::new(),
            objects: Vec::new(),
            files_read: Vec::new(),
            problems: Vec::new(),
            env_reads: Vec::new(),
            django_settings: None,
            pending_routes: Vec::new(),
            served: Vec::new(),
            capture: None,
            depth: 0,
            nesting: 0,
            steps: 0,
        }
    }

    // ---------------------------------------------------------------- modules and imports

    /// Finds a module by dotted name on `sys_path` (a `.py` file or a package's `__init__.py`).
    pub fn find_module(&self, dotted: &str) -> Option<PathBuf> {
        self.sys_path
            .iter()
            .find_map(|base| self.module_file(base, dotted))
    }

    fn module_file(&self, base: &Path, dotted: &str) -> Option<PathBuf> {
        let mut p = base.to_path_buf();
        for part in dotted.split('.').filter(|s| !s.is_empty()) {
            p.push(part);
        }
        let file = p.with_extension("py");
        let init = p.join("__init__.py");
        [file, init]
            .into_iter()
            .find(|c| self.exists(c))
            .or_else(|| (dotted.is_empty() || self.is_dir(&p)).then_some(p))
            .filter(|c| self.exists(c) || self.is_dir(c))
    }

    fn exists(&self, p: &Path) -> bool {
        self.root.is_file(p)
    }

    fn is_dir(&self, p: &Path) -> bool {
        self.root.is_dir(p)
    }

    /// The dotted name of a file under `sys_path` (for `__name__` and relative imports).
    fn dotted_name_of(&self, path: &Path) -> String {
        for base in &self.sys_path {
            if let Ok(rel) = path.strip_prefix(base) {
                let mut parts: Vec<String> = rel
                    .components()
                    .filter_map(|c| c.as_os_str().to_str().map(str::to_string))
                    .collect();
                if let Some(last) = parts.last_mut() {
                    *last = last.trim_end_matches(".py").to_string();
                    if last == "__init__" {
                        parts.pop();
                    }
                }
                return parts.join(".");
            }
        }
        path.file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("")
            .to_string()
    }

    /// Reads and runs a file as a module (once; later imports get the same namespace).
    pub fn load_file(&mut self, path: &Path) -> Result<Rc<Namespace>, String> {
        if let Some(ns) = self.modules.get(path) {
            return Ok(ns.clone());
        }
        if self.loading.iter().any(|p| p == path) {
            return Err(format!("circular import of {}", path.display()));
        }
        if path.extension().is_none() || self.is_dir(path) {
            // A namespace package: no code, its submodules are imported on demand.
            let ns = Rc::new(Namespace {
                name: self.dotted_name_of(path),
                vars: Scope::default(),
            });
            return Ok(ns);
        }
        let module = Module::read(self.root, path).map_err(|e| e.to_string())?;
        if let Some(err) = module.syntax_error() {
            self.problems.push(err);
        }
        self.files_read.push(path.to_path_buf());
        let module = Rc::new(module);
        let g = self.globals.len();
        let mut scope = Scope::default();
        let name = self.dotted_name_of(path);
        let file_binding = |v: Value| Binding {
            value: v,
            expr: String::new(),
            at: None,
        };
        scope.set(
            "__file__",
            file_binding(Value::Str(path.display().to_string())),
        );
        scope.set("__name__", file_binding(Value::Str(name.clone())));
        self.globals.push(scope);
        self.module_globals.insert(path.to_path_buf(), g);
        self.loading.push(path.to_path_buf());
        let mut frame = Frame {
            globals: g,
            locals: None,
        };
        let flow = self.exec_block(&module, module.tree.root_node(), &mut frame);
        self.loading.pop();
        if let Flow::Raise(why) = flow {
            self.problems.push(why);
        }
        let ns = Rc::new(Namespace {
            name,
            vars: std::mem::take(&mut self.globals[g]),
        });
        self.globals[g] = ns.vars.clone();
        self.modules.insert(path.to_path_buf(), ns.clone());
        Ok(ns)
    }

    /// `import dotted` relative to `from` (`level` leading dots). Not-found absolute modules are
    /// libraries (modelled or not): a `Builtin` by name. A missing relative module raises.
    fn import(&mut self, dotted: &str, level: usize, from: &Path) -> Result<Value, String> {
        if level == 0 {
            if let Some(file) = self.find_module(dotted) {
                return self.load_file(&file).map(Value::Module);
            }
            return Ok(Value::Builtin(dotted.to_string()));
        }
        let mut base = from.parent().map(Path::to_path_buf).unwrap_or_default();
        for _ in 1..level {
            base.pop();
        }
        match self.module_file(&base, dotted) {
            Some(file) => self.load_file(&file).map(Value::Module),
            None => Err(format!(
                "ImportError: no module {}{dotted} next to {}",
                ".".repeat(level),
                from.display()
            )),
        }
    }

    fn exec_import(&mut self, m: &Rc<Module>, n: Node, f: &mut Frame) -> Flow {
        let at = m.location(n);
        if n.kind() == "import_statement" {
            let mut c = n.walk();
            let names: Vec<Node> = n.children_by_field_name("name", &mut c).collect();
            for name in names {
                let (dotted, alias) = if name.kind() == "aliased_import" {
                    (
                        name.child_by_field_name("name").map(|x| m.text(x)),
                        name.child_by_field_name("alias").map(|x| m.text(x)),
                    )
                } else {
                    (Some(m.text(name)), None)
                };
                let Some(dotted) = dotted else { continue };
                let bind_as = alias.unwrap_or_else(|| dotted.split('.').next().unwrap_or(dotted));
                let target = if alias.is_some() {
                    dotted.to_string()
                } else {
                    dotted.split('.').next().unwrap_or(dotted).to_string()
                };
                let value = match self.import(&target, 0, &m.path) {
                    Ok(v) => v,
                    Err(e) => return Flow::Raise(e),
                };
                self.bind(f, bind_as, value, m.text(name), Some(at.clone()));
            }
            return Flow::Normal;
        }
        // from X import a, b as c, *
        let Some(module_node) = n.child_by_field_name("module_name") else {
            return Flow::Normal;
        };
        let (level, dotted) = if module_node.kind() == "relative_import" {
            let text = m.text(module_node);
            let level = text.chars().take_while(|c| *c == '.').count();
            (level, text[level..].to_string())
        } else {
            (0, m.text(module_node).to_string())
        };
        let module = match self.import(&dotted, level, &m.path) {
            Ok(v) => v,
            Err(e) => return Flow::Raise(e),
        };
        let mut c = n.walk();
        let wildcard = n.children(&mut c).any(|ch| ch.kind() == "wildcard_import");
        if wildcard {
            match &module {
                Value::Module(ns) => {
                    for (k, b) in ns.vars.vars.iter().filter(|(k, _)| !k.starts_with('_')) {
                        self.bind_binding(f, k, b.clone());
                    }
                }
                Value::Builtin(name) if !is_modelled_library(name) => self.problems.push(format!(
                    "{at}: `from {name} import *` brings names from a library media-doctor does not read"
                )),
                _ => {}
            }
            return Flow::Normal;
        }
        let mut c = n.walk();
        let names: Vec<Node> = n.children_by_field_name("name", &mut c).collect();
        for name in names {
            let (orig, alias) = if name.kind() == "aliased_import" {
                (
                    name.child_by_field_name("name")
                        .map(|x| m.text(x))
                        .unwrap_or(""),
                    name.child_by_field_name("alias").map(|x| m.text(x)),
                )
            } else {
                (m.text(name), None)
            };
            let value = match &module {
                Value::Module(ns) => match ns.vars.get(orig) {
                    Some(b) => b.value.clone(),
                    None => {
                        // `from pkg import submodule`
                        let sub = if dotted.is_empty() {
                            orig.to_string()
                        } else {
                            format!("{dotted}.{orig}")
                        };
                        match self.import(&sub, level, &m.path) {
                            Ok(v @ Value::Module(_)) => v,
                            _ => Value::unknown(
                                m.text(name),
                                format!("{orig} is not defined in module {}", ns.name),
                            ),
                        }
                    }
                },
                Value::Builtin(lib) => Value::Builtin(format!("{lib}.{orig}")),
                other => other.clone(),
            };
            self.bind(f, alias.unwrap_or(orig), value, m.text(n), Some(at.clone()));
        }
        Flow::Normal
    }

    // ---------------------------------------------------------------- statements

    fn exec_block(&mut self, m: &Rc<Module>, block: Node, f: &mut Frame) -> Flow {
        let mut c = block.walk();
        let stmts: Vec<Node> = block.named_children(&mut c).collect();
        for s in stmts {
            match self.exec(m, s, f) {
                Flow::Normal => {}
                other => return other,
            }
        }
        Flow::Normal
    }

    /// One statement, within MAX_NESTING.
    fn exec(&mut self, m: &Rc<Module>, s: Node, f: &mut Frame) -> Flow {
        if self.nesting >= MAX_NESTING {
            return Flow::Raise(self.too_deep(m, s));
        }
        self.nesting += 1;
        let flow = self.exec_statement(m, s, f);
        self.nesting -= 1;
        flow
    }

    /// "too deeply nested at file:line:col", said once per file among the problems.
    fn too_deep(&mut self, m: &Rc<Module>, n: Node) -> String {
        let why = format!(
            "too deeply nested at {} (more than {MAX_NESTING} levels)",
            m.location(n)
        );
        let file = m.path.display().to_string();
        if !self
            .problems
            .iter()
            .any(|p| p.starts_with("too deeply nested at ") && p.contains(&file))
        {
            self.problems.push(why.clone());
        }
        why
    }

    fn exec_statement(&mut self, m: &Rc<Module>, s: Node, f: &mut Frame) -> Flow {
        self.steps += 1;
        if self.steps > MAX_STEPS {
            return Flow::Raise("the evaluator's step budget ran out".into());
        }
        match s.kind() {
            "expression_statement" => {
                let Some(e) = s.named_child(0) else {
                    return Flow::Normal;
                };
                match e.kind() {
                    "assignment" => self.exec_assignment(m, e, f),
                    "augmented_assignment" => self.exec_augmented(m, e, f),
                    _ => {
                        self.eval(m, e, f);
                    }
                }
                Flow::Normal
            }
            "import_statement" | "import_from_statement" => self.exec_import(m, s, f),
            "if_statement" => self.exec_if(m, s, f),
            "try_statement" => self.exec_try(m, s, f),
            "with_statement" => match s.child_by_field_name("body") {
                Some(body) => self.exec_block(m, body, f),
                None => Flow::Normal,
            },
            "for_statement" | "while_statement" => {
                self.forget_assigned(m, s, f, "assigned in a loop");
                Flow::Normal
            }
            "class_definition" => {
                self.exec_class(m, s, f);
                Flow::Normal
            }
            "function_definition" => {
                self.exec_def(m, s, f);
                Flow::Normal
            }
            "decorated_definition" => {
                self.exec_decorated(m, s, f);
                Flow::Normal
            }
            "return_statement" => {
                let v = match s.named_child(0) {
                    Some(e) => self.eval(m, e, f),
                    None => Value::None,
                };
                Flow::Return(v)
            }
            "raise_statement" => Flow::Raise(format!("{}: {}", m.location(s), m.text(s))),
            _ => Flow::Normal,
        }
    }

    fn exec_assignment(&mut self, m: &Rc<Module>, a: Node, f: &mut Frame) {
        let Some(left) = a.child_by_field_name("left") else {
            return;
        };
        let Some(right) = a.child_by_field_name("right") else {
            return; // an annotation without a value
        };
        // `A = B = expr`: the right side is itself an assignment.
        let (value, expr) = if right.kind() == "assignment" {
            self.exec_assignment(m, right, f);
            let inner = right.child_by_field_name("left").unwrap_or(right);
            (self.eval(m, inner, f), m.text(right).to_string())
        } else {
            (self.eval(m, right, f), m.text(right).to_string())
        };
        let at = m.location(a);
        self.assign(m, left, value, &expr, at, f);
    }

    fn exec_augmented(&mut self, m: &Rc<Module>, a: Node, f: &mut Frame) {
        let (Some(left), Some(right)) = (
            a.child_by_field_name("left"),
            a.child_by_field_name("right"),
        ) else {
            return;
        };
        let op = a
            .child_by_field_name("operator")
            .map(|o| m.text(o).trim_end_matches('=').to_string())
            .unwrap_or_default();
        let old = self.eval(m, left, f);
        let rhs = self.eval(m, right, f);
        let new = binary(&op, old, rhs, m.text(a), self);
        let at = m.location(a);
        self.assign(m, left, new, m.text(a), at, f);
    }

    fn assign(
        &mut self,
        m: &Rc<Module>,
        target: Node,
        value: Value,
        expr: &str,
        at: Location,
        f: &mut Frame,
    ) {
        match target.kind() {
            "identifier" => self.bind(f, m.text(target), value, expr, Some(at)),
            "pattern_list" | "tuple_pattern" | "list_pattern" => {
                let mut c = target.walk();
                let targets: Vec<Node> = target.named_children(&mut c).collect();
                let items = match &value {
                    Value::Tuple(v) | Value::List(v) if v.len() == targets.len() => Some(v.clone()),
                    _ => None,
                };
                for (i, t) in targets.iter().enumerate() {
                    let v = match &items {
                        Some(v) => v[i].clone(),
                        None => Value::unknown(expr, "cannot unpack this value"),
                    };
                    self.assign(m, *t, v, expr, at.clone(), f);
                }
            }
            "attribute" => {
                let (Some(obj), Some(attr)) = (
                    target.child_by_field_name("object"),
                    target.child_by_field_name("attribute"),
                ) else {
                    return;
                };
                let attr = m.text(attr);
                if let Value::Obj(i) = self.eval(m, obj, f) {
                    if let Some(Object::FlaskApp(app)) = self.objects.get_mut(i) {
                        let b = Binding {
                            value,
                            expr: shown(expr).into_owned(),
                            at: Some(at),
                        };
                        match attr {
                            "static_folder" => app.static_folder = b,
                            "static_url_path" => app.static_url_path = Some(b),
                            "wsgi_app" => {}
                            _ => {}
                        }
                    }
                }
            }
            "subscript" => {
                let (Some(obj), Some(key)) = (
                    target.child_by_field_name("value"),
                    target.child_by_field_name("subscript"),
                ) else {
                    return;
                };
                let key = self.eval(m, key, f);
                let container = self.eval(m, obj, f);
                match container {
                    Value::Obj(i) => {
                        if let (Some(Object::FlaskConfig(app)), Some(k)) =
                            (self.objects.get(i).cloned(), key.as_str())
                        {
                            self.set_config(app, k, value, expr, Some(at));
                        }
                    }
                    Value::Dict(mut items) => {
                        items.retain(|(k, _)| k.py_eq(&key) != Some(true));
                        items.push((key, value));
                        // Write the updated dict back to where it came from (`A["x"]["y"] = v`).
                        self.assign(m, obj, Value::Dict(items), expr, at, f);
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }

    fn bind(&mut self, f: &mut Frame, name: &str, value: Value, expr: &str, at: Option<Location>) {
        self.bind_binding(
            f,
            name,
            Binding {
                value,
                expr: shown(expr).into_owned(),
                at,
            },
        );
    }

    fn bind_binding(&mut self, f: &mut Frame, name: &str, b: Binding) {
        match &mut f.locals {
            Some(l) => l.set(name, b),
            None => self.globals[f.globals].set(name, b),
        }
    }

    fn scope_snapshot(&self, f: &Frame) -> Scope {
        match &f.locals {
            Some(l) => l.clone(),
            None => self.globals[f.globals].clone(),
        }
    }

    fn restore(&mut self, f: &mut Frame, s: Scope) {
        match &mut f.locals {
            Some(l) => *l = s,
            None => self.globals[f.globals] = s,
        }
    }

    fn exec_if(&mut self, m: &Rc<Module>, s: Node, f: &mut Frame) -> Flow {
        // The chain of (condition, body) with the final else.
        let mut arms: Vec<(Option<Node>, Node)> = Vec::new();
        if let (Some(c), Some(b)) = (
            s.child_by_field_name("condition"),
            s.child_by_field_name("consequence"),
        ) {
            arms.push((Some(c), b));
        }
        let mut cur = s.walk();
        for alt in s.children_by_field_name("alternative", &mut cur) {
            match alt.kind() {
                "elif_clause" => {
                    if let (Some(c), Some(b)) = (
                        alt.child_by_field_name("condition"),
                        alt.child_by_field_name("consequence"),
                    ) {
                        arms.push((Some(c), b));
                    }
                }
                "else_clause" => {
                    if let Some(b) = alt.child_by_field_name("body") {
                        arms.push((None, b));
                    }
                }
                _ => {}
            }
        }
        for (i, (cond, body)) in arms.iter().enumerate() {
            let truth = match cond {
                None => Some(true),
                Some(c) => self.eval(m, *c, f).truthy(),
            };
            match truth {
                Some(true) => return self.exec_block(m, *body, f),
                Some(false) => continue,
                None => {
                    // Undecidable: run every remaining arm from the same start; names they set
                    // differently become unknown, naming the condition.
                    let cond_text = cond.map(|c| m.text(c)).unwrap_or("");
                    let start = self.scope_snapshot(f);
                    let mut outcomes = Vec::new();
                    for (_, b) in &arms[i..] {
                        self.restore(f, start.clone());
                        self.exec_block(m, *b, f);
                        outcomes.push(self.scope_snapshot(f));
                    }
                    if arms.last().is_some_and(|(c, _)| c.is_some()) {
                        outcomes.push(start.clone());
                    }
                    let merged = merge_branches(&start, &outcomes, cond_text);
                    self.restore(f, merged);
                    return Flow::Normal;
                }
            }
        }
        Flow::Normal
    }

    fn exec_try(&mut self, m: &Rc<Module>, s: Node, f: &mut Frame) -> Flow {
        let Some(body) = s.child_by_field_name("body") else {
            return Flow::Normal;
        };
        let start = self.scope_snapshot(f);
        let flow = self.exec_block(m, body, f);
        let mut c = s.walk();
        let clauses: Vec<Node> = s.named_children(&mut c).collect();
        let mut result = Flow::Normal;
        match flow {
            Flow::Raise(_) => {
                if let Some(handler) = clauses.iter().find(|n| n.kind() == "except_clause") {
                    self.restore(f, start);
                    if let Some(block) = first_block(*handler) {
                        result = self.exec_block(m, block, f);
                    }
                } else {
                    result = flow;
                }
            }
            Flow::Return(v) => result = Flow::Return(v),
            Flow::Normal => {
                if let Some(else_clause) = clauses.iter().find(|n| n.kind() == "else_clause") {
                    if let Some(b) = else_clause.child_by_field_name("body") {
                        result = self.exec_block(m, b, f);
                    }
                }
            }
        }
        if let Some(fin) = clauses.iter().find(|n| n.kind() == "finally_clause") {
            if let Some(block) = first_block(*fin) {
                self.exec_block(m, block, f);
            }
        }
        result
    }

    /// Names assigned inside a construct the evaluator does not run become unknown.
    fn forget_assigned(&mut self, m: &Rc<Module>, s: Node, f: &mut Frame, why: &str) {
        let mut stack = vec![s];
        while let Some(n) = stack.pop() {
            if matches!(n.kind(), "assignment" | "augmented_assignment") {
                if let Some(l) = n
                    .child_by_field_name("left")
                    .filter(|l| l.kind() == "identifier")
                {
                    let at = m.location(n);
                    self.bind(
                        f,
                        m.text(l),
                        Value::unknown(m.text(n), why),
                        m.text(n),
                        Some(at),
                    );
                }
            }
            let mut c = n.walk();
            stack.extend(n.named_children(&mut c));
        }
    }

    fn exec_class(&mut self, m: &Rc<Module>, s: Node, f: &mut Frame) {
        let Some(name) = s.child_by_field_name("name").map(|n| m.text(n).to_string()) else {
            return;
        };
        let mut vars = Scope::default();
        if let Some(bases) = s.child_by_field_name("superclasses") {
            let mut c = bases.walk();
            let base_nodes: Vec<Node> = bases.named_children(&mut c).collect();
            for b in base_nodes {
                if let Value::Class(ns) = self.eval(m, b, f) {
                    for (k, v) in &ns.vars.vars {
                        vars.set(k, v.clone());
                    }
                }
            }
        }
        // The body runs in its own namespace; module globals stay visible.
        let mut inner = Frame {
            globals: f.globals,
            locals: Some(Scope::default()),
        };
        if let Some(body) = s.child_by_field_name("body") {
            self.exec_block(m, body, &mut inner);
        }
        for (k, v) in inner.locals.unwrap_or_default().vars {
            vars.set(&k, v);
        }
        let at = m.location(s);
        self.bind(
            f,
            &name,
            Value::Class(Rc::new(Namespace {
                name: name.clone(),
                vars,
            })),
            &format!("class {name}"),
            Some(at),
        );
    }

    fn exec_def(&mut self, m: &Rc<Module>, s: Node, f: &mut Frame) -> Option<Rc<FuncDef>> {
        let name = s
            .child_by_field_name("name")
            .map(|n| m.text(n).to_string())?;
        let def = Rc::new(FuncDef {
            name: name.clone(),
            module: m.clone(),
            start: s.start_byte(),
            end: s.end_byte(),
            globals_of: f.globals,
            closure: f.locals.clone(),
        });
        let at = m.location(s);
        self.bind(
            f,
            &name,
            Value::Func(def.clone()),
            &format!("def {name}"),
            Some(at),
        );
        Some(def)
    }

    fn exec_decorated(&mut self, m: &Rc<Module>, s: Node, f: &mut Frame) {
        let Some(def) = s.child_by_field_name("definition") else {
            return;
        };
        if def.kind() == "class_definition" {
            self.exec_class(m, def, f);
            return;
        }
        let Some(func) = self.exec_def(m, def, f) else {
            return;
        };
        let mut c = s.walk();
        let decorators: Vec<Node> = s
            .named_children(&mut c)
            .filter(|n| n.kind() == "decorator")
            .collect();
        for d in decorators {
            let Some(call) = d.named_child(0).filter(|n| n.kind() == "call") else {
                continue;
            };
            let Some(callee) = call
                .child_by_field_name("function")
                .filter(|n| n.kind() == "attribute")
            else {
                continue;
            };
            let method = callee
                .child_by_field_name("attribute")
                .map(|a| m.text(a))
                .unwrap_or("");
            if !matches!(method, "route" | "get") {
                continue;
            }
            let Some(obj) = callee.child_by_field_name("object") else {
                continue;
            };
            let owner = match self.eval(m, obj, f) {
                Value::Obj(i)
                    if matches!(
                        self.objects.get(i),
                        Some(Object::FlaskApp(_) | Object::Blueprint(_))
                    ) =>
                {
                    i
                }
                _ => continue,
            };
            let (pos, _) = self.eval_args(m, call.child_by_field_name("arguments"), f);
            if let Some(rule) = pos.first().and_then(|v| v.as_str()) {
                self.pending_routes.push(PendingRoute {
                    owner,
                    rule: rule.to_string(),
                    at: m.location(d),
                    func: func.clone(),
                });
            }
        }
    }

    // ---------------------------------------------------------------- expressions

    /// Evaluates one expression (`create_app("production")` from a gunicorn target) in the
    /// globals of a module already loaded. `label` names it in locations.
    pub fn eval_in_module(&mut self, module_path: &Path, expr: &str, label: &str) -> Value {
        let Some(&g) = self.module_globals.get(module_path) else {
            return Value::unknown(expr, format!("{} was not read", module_path.display()));
        };
        let Ok(m) = Module::parse(Path::new(label), expr.to_string()) else {
            return Value::unknown(expr, "cannot parse");
        };
        let m = Rc::new(m);
        let Some(e) = m
            .tree
            .root_node()
            .named_child(0)
            .filter(|s| s.kind() == "expression_statement")
            .and_then(|s| s.named_child(0))
        else {
            return Value::unknown(expr, "not an expression");
        };
        let mut f = Frame {
            globals: g,
            locals: None,
        };
        self.eval(&m, e, &mut f)
    }

    fn lookup(&self, f: &Frame, name: &str) -> Option<Value> {
        if let Some(b) = f.locals.as_ref().and_then(|l| l.get(name)) {
            return Some(b.value.clone());
        }
        if let Some(b) = self.globals.get(f.globals).and_then(|g| g.get(name)) {
            return Some(b.value.clone());
        }
        match name {
            "str" | "int" | "bool" | "list" | "tuple" | "dict" | "len" | "print" | "set" => {
                Some(Value::Builtin(name.to_string()))
            }
            _ => None,
        }
    }

    /// One expression, within MAX_NESTING.
    fn eval(&mut self, m: &Rc<Module>, n: Node, f: &mut Frame) -> Value {
        if self.nesting >= MAX_NESTING {
            let why = self.too_deep(m, n);
            return Value::unknown(clip(m, n), why);
        }
        self.nesting += 1;
        let v = self.eval_expression(m, n, f);
        self.nesting -= 1;
        v
    }

    fn eval_expression(&mut self, m: &Rc<Module>, n: Node, f: &mut Frame) -> Value {
        self.steps += 1;
        if self.steps > MAX_STEPS {
            return Value::unknown(clip(m, n), "the evaluator's step budget ran out");
        }
        let text = || clip(m, n).into_owned();
        match n.kind() {
            "string" => self.eval_string(m, n, f),
            "concatenated_string" => {
                let mut out = String::new();
                let mut c = n.walk();
                let parts: Vec<Node> = n.named_children(&mut c).collect();
                for p in parts {
                    match self.eval_string(m, p, f) {
                        Value::Str(s) => out.push_str(&s),
                        other => return other,
                    }
                }
                Value::Str(out)
            }
            "integer" => m
                .text(n)
                .replace('_', "")
                .parse()
                .map(Value::Int)
                .unwrap_or_else(|_| Value::unknown(text(), "integer out of range")),
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            "none" => Value::None,
            "identifier" => self.lookup(f, m.text(n)).unwrap_or_else(|| {
                Value::unknown(text(), format!("{} is not defined here", m.text(n)))
            }),
            "parenthesized_expression" => match n.named_child(0) {
                Some(e) => self.eval(m, e, f),
                None => Value::Tuple(vec![]),
            },
            "list" | "tuple" | "set" => {
                let mut out = Vec::new();
                let mut c = n.walk();
                let items: Vec<Node> = n.named_children(&mut c).collect();
                for item in items {
                    if item.kind() == "list_splat" {
                        match item.named_child(0).map(|e| self.eval(m, e, f)) {
                            Some(Value::List(v) | Value::Tuple(v)) => out.extend(v),
                            _ => return Value::unknown(text(), "cannot expand *"),
                        }
                    } else {
                        out.push(self.eval(m, item, f));
                    }
                }
                if n.kind() == "tuple" {
                    Value::Tuple(out)
                } else {
                    Value::List(out)
                }
            }
            "dictionary" => {
                let mut out: Vec<(Value, Value)> = Vec::new();
                let mut c = n.walk();
                let items: Vec<Node> = n.named_children(&mut c).collect();
                for item in items {
                    match item.kind() {
                        "pair" => {
                            let (Some(k), Some(v)) = (
                                item.child_by_field_name("key"),
                                item.child_by_field_name("value"),
                            ) else {
                                continue;
                            };
                            let k = self.eval(m, k, f);
                            let v = self.eval(m, v, f);
                            out.retain(|(x, _)| x.py_eq(&k) != Some(true));
                            out.push((k, v));
                        }
                        "dictionary_splat" => {
                            match item.named_child(0).map(|e| self.eval(m, e, f)) {
                                Some(Value::Dict(v)) => out.extend(v),
                                _ => return Value::unknown(text(), "cannot expand **"),
                            }
                        }
                        _ => {}
                    }
                }
                Value::Dict(out)
            }
            "attribute" => {
                // `a.b.c...` in a loop, innermost object first: a chain of any length costs
                // its length, not a level of recursion per link.
                let mut links = Vec::new();
                let mut base = n;
                while base.kind() == "attribute" {
                    let (Some(obj), Some(attr)) = (
                        base.child_by_field_name("object"),
                        base.child_by_field_name("attribute"),
                    ) else {
                        return Value::unknown(text(), "unreadable attribute");
                    };
                    links.push((base, attr));
                    base = obj;
                }
                let mut o = self.eval(m, base, f);
                for (node, attr) in links.into_iter().rev() {
                    o = self.attribute(o, m.text(attr), &clip(m, node));
                }
                o
            }
            "subscript" => {
                let (Some(obj), Some(key)) = (
                    n.child_by_field_name("value"),
                    n.child_by_field_name("subscript"),
                ) else {
                    return Value::unknown(text(), "unreadable subscript");
                };
                let o = self.eval(m, obj, f);
                let k = self.eval(m, key, f);
                self.subscript(o, k, m.text(n), &m.location(n))
            }
            "call" => self.eval_call(m, n, f),
            "binary_operator" => {
                let (Some(l), Some(r), Some(op)) = (
                    n.child_by_field_name("left"),
                    n.child_by_field_name("right"),
                    n.child_by_field_name("operator"),
                ) else {
                    return Value::unknown(text(), "unreadable operator");
                };
                let l = self.eval(m, l, f);
                let r = self.eval(m, r, f);
                binary(m.text(op), l, r, m.text(n), self)
            }
            "boolean_operator" => {
                let (Some(l), Some(r), Some(op)) = (
                    n.child_by_field_name("left"),
                    n.child_by_field_name("right"),
                    n.child_by_field_name("operator"),
                ) else {
                    return Value::unknown(text(), "unreadable operator");
                };
                let lv = self.eval(m, l, f);
                match (m.text(op), lv.truthy()) {
                    (_, None) => unknown_from(&lv, m.text(n)),
                    ("or", Some(true)) | ("and", Some(false)) => lv,
                    _ => self.eval(m, r, f),
                }
            }
            "not_operator" => {
                let v = n
                    .child_by_field_name("argument")
                    .map(|a| self.eval(m, a, f))
                    .unwrap_or(Value::None);
                match v.truthy() {
                    Some(b) => Value::Bool(!b),
                    None => unknown_from(&v, m.text(n)),
                }
            }
            "unary_operator" => {
                let v = n
                    .child_by_field_name("argument")
                    .map(|a| self.eval(m, a, f))
                    .unwrap_or(Value::None);
                let op = n.child_by_field_name("operator").map(|o| m.text(o));
                match (op, v) {
                    (Some("-"), Value::Int(i)) => Value::Int(-i),
                    (Some("+"), Value::Int(i)) => Value::Int(i),
                    (_, v) => unknown_from(&v, m.text(n)),
                }
            }
            "comparison_operator" => self.eval_comparison(m, n, f),
            "conditional_expression" => {
                let mut c = n.walk();
                let parts: Vec<Node> = n.named_children(&mut c).collect();
                if parts.len() != 3 {
                    return Value::unknown(text(), "unreadable conditional");
                }
                let cond = self.eval(m, parts[1], f);
                match cond.truthy() {
                    Some(true) => self.eval(m, parts[0], f),
                    Some(false) => self.eval(m, parts[2], f),
                    None => unknown_from(&cond, m.text(n)),
                }
            }
            "keyword_argument" => match n.child_by_field_name("value") {
                Some(v) => self.eval(m, v, f),
                None => Value::None,
            },
            _ => Value::unknown(
                text(),
                format!("{} is not evaluated", n.kind().replace('_', " ")),
            ),
        }
    }

    fn eval_string(&mut self, m: &Rc<Module>, n: Node, f: &mut Frame) -> Value {
        if n.kind() != "string" {
            return self.eval(m, n, f);
        }
        let prefix = string_prefix(m, n).to_ascii_lowercase();
        let raw = prefix.contains('r');
        if prefix.contains('b') {
            return Value::unknown(m.text(n), "bytes literal");
        }
        let mut out = String::new();
        let mut c = n.walk();
        let children: Vec<Node> = n.children(&mut c).collect();
        for child in children {
            match child.kind() {
                "string_content" => out.push_str(&unescape(m.text(child), raw)),
                "interpolation" => {
                    let Some(e) = child.child_by_field_name("expression") else {
                        continue;
                    };
                    let has_spec = child.child_by_field_name("format_specifier").is_some()
                        || child.child_by_field_name("type_conversion").is_some();
                    let v = self.eval(m, e, f);
                    if matches!(v, Value::None) {
                        let u = self
                            .unset_env_in(m, e, m.text(n))
                            .or_else(|| self.unset_env_bound(f, m, e, m.text(n)));
                        if let Some(u) = u {
                            return u;
                        }
                    }
                    match (v.to_py_str(), has_spec) {
                        (Some(s), false) => out.push_str(&s),
                        _ => return unknown_from(&v, m.text(n)),
                    }
                }
                _ => {}
            }
        }
        Value::Str(out)
    }

    fn eval_comparison(&mut self, m: &Rc<Module>, n: Node, f: &mut Frame) -> Value {
        let mut c = n.walk();
        let children: Vec<Node> = n.children(&mut c).collect();
        let operands: Vec<Node> = children.iter().copied().filter(|x| x.is_named()).collect();
        let ops: Vec<&str> = children
            .iter()
            .filter(|x| !x.is_named())
            .map(|x| x.kind())
            .collect();
        if operands.len() != 2 || ops.is_empty() {
            return Value::unknown(m.text(n), "chained comparison");
        }
        let l = self.eval(m, operands[0], f);
        let r = self.eval(m, operands[1], f);
        let op = ops.join(" ");
        let result = match op.as_str() {
            "==" | "is" => l.py_eq(&r),
            "!=" | "is not" => l.py_eq(&r).map(|b| !b),
            "in" | "not in" => {
                let found = match (&l, &r) {
                    (Value::Str(a), Value::Str(b)) => Some(b.contains(a.as_str())),
                    (_, Value::List(items) | Value::Tuple(items)) => {
                        let mut any = Some(false);
                        for i in items {
                            match l.py_eq(i) {
                                Some(true) => {
                                    any = Some(true);
                                    break;
                                }
                                Some(false) => {}
                                None => any = None,
                            }
                        }
                        any
                    }
                    (_, Value::Dict(items)) => {
                        Some(items.iter().any(|(k, _)| k.py_eq(&l) == Some(true)))
                    }
                    _ => None,
                };
                found.map(|b| if op == "in" { b } else { !b })
            }
            _ => None,
        };
        match result {
            Some(b) => Value::Bool(b),
            None => {
                let inner = if l.is_unknown() { &l } else { &r };
                unknown_from(inner, m.text(n))
            }
        }
    }

    fn eval_args(
        &mut self,
        m: &Rc<Module>,
        args: Option<Node>,
        f: &mut Frame,
    ) -> (Vec<Value>, Vec<(String, Value)>) {
        let mut pos = Vec::new();
        let mut kw = Vec::new();
        let Some(args) = args else {
            return (pos, kw);
        };
        let mut c = args.walk();
        let items: Vec<Node> = args.named_children(&mut c).collect();
        for a in items {
            match a.kind() {
                "keyword_argument" => {
                    let name = a
                        .child_by_field_name("name")
                        .map(|x| m.text(x).to_string())
                        .unwrap_or_default();
                    let v = self.eval(m, a, f);
                    kw.push((name, v));
                }
                "list_splat" => match a.named_child(0).map(|e| self.eval(m, e, f)) {
                    Some(Value::List(v) | Value::Tuple(v)) => pos.extend(v),
                    _ => pos.push(Value::unknown(m.text(a), "cannot expand *")),
                },
                "dictionary_splat" => match a.named_child(0).map(|e| self.eval(m, e, f)) {
                    Some(Value::Dict(v)) => {
                        for (k, v) in v {
                            if let Some(k) = k.as_str() {
                                kw.push((k.to_string(), v));
                            }
                        }
                    }
                    _ => kw.push(("**".into(), Value::unknown(m.text(a), "cannot expand **"))),
                },
                "comment" => {}
                _ => pos.push(self.eval(m, a, f)),
            }
        }
        (pos, kw)
    }

    fn eval_call(&mut self, m: &Rc<Module>, n: Node, f: &mut Frame) -> Value {
        let Some(func) = n.child_by_field_name("function") else {
            return Value::unknown(m.text(n), "unreadable call");
        };
        let args = n.child_by_field_name("arguments");
        if args.is_some_and(|a| a.kind() != "argument_list") {
            return Value::unknown(m.text(n), "generator argument");
        }
        let (pos, kw) = self.eval_args(m, args, f);
        let at = m.location(n);
        let call = Call {
            pos,
            kw,
            text: m.text(n).to_string(),
            at,
        };
        if func.kind() == "attribute" {
            let (Some(obj), Some(attr)) = (
                func.child_by_field_name("object"),
                func.child_by_field_name("attribute"),
            ) else {
                return Value::unknown(m.text(n), "unreadable call");
            };
            let o = self.eval(m, obj, f);
            let method = m.text(attr);
            // List mutation on a name: `MIDDLEWARE.append(...)`, `INSTALLED_APPS += ...`.
            if let (Value::List(items), "append" | "extend" | "insert" | "remove") = (&o, method) {
                let mut items = items.clone();
                match (method, call.pos.as_slice()) {
                    ("append", [v]) => items.push(v.clone()),
                    ("extend", [Value::List(v) | Value::Tuple(v)]) => items.extend(v.clone()),
                    ("insert", [Value::Int(i), v]) => {
                        let i = (*i).clamp(0, items.len() as i64) as usize;
                        items.insert(i, v.clone());
                    }
                    ("remove", [v]) => {
                        if let Some(i) = items.iter().position(|x| x.py_eq(v) == Some(true)) {
                            items.remove(i);
                        }
                    }
                    _ => return Value::None,
                }
                let at = call.at.clone();
                self.assign(m, obj, Value::List(items), &call.text, at, f);
                return Value::None;
            }
            return self.call_method(o, method, call);
        }
        let callee = self.eval(m, func, f);
        self.call_value(callee, call)
    }

    // ---------------------------------------------------------------- the modelled library

    fn attribute(&mut self, o: Value, attr: &str, text: &str) -> Value {
        match o {
            // An attribute of something unknown: the reason is the object's (`os is not
            // defined here`), said once however long the chain.
            Value::Unknown { why, .. } => Value::unknown(shown(text), why),
            Value::Builtin(name) => match (name.as_str(), attr) {
                ("flask.current_app", _) | ("flask.g", _) => match self.single_flask_app() {
                    Some(app) => self.attribute(Value::Obj(app), attr, text),
                    None => Value::unknown(text, "current_app: not exactly one Flask app found"),
                },
                ("django.conf.settings", _) => match &self.django_settings {
                    Some(ns) => ns
                        .vars
                        .get(attr)
                        .map(|b| b.value.clone())
                        .unwrap_or_else(|| {
                            Value::unknown(text, format!("settings.{attr} is not set"))
                        }),
                    None => Value::unknown(text, "the Django settings were not read"),
                },
                _ => Value::Builtin(format!("{name}.{attr}")),
            },
            Value::Module(ns) => match ns.vars.get(attr) {
                Some(b) => b.value.clone(),
                None => {
                    // A submodule (`config.settings` after `import config`).
                    match self.find_module(&format!("{}.{attr}", ns.name)) {
                        Some(file) => self
                            .load_file(&file)
                            .map(Value::Module)
                            .unwrap_or_else(|e| Value::unknown(text, e)),
                        None => {
                            Value::unknown(text, format!("{attr} is not defined in {}", ns.name))
                        }
                    }
                }
            },
            Value::Class(ns) => ns
                .vars
                .get(attr)
                .map(|b| b.value.clone())
                .unwrap_or_else(|| {
                    Value::unknown(text, format!("{}.{attr} is not defined", ns.name))
                }),
            Value::Path(p) => match attr {
                "parent" => Value::Path(path_parent(&p)),
                "parents" => {
                    let mut out = Vec::new();
                    let mut cur = p.clone();
                    while let Some(parent) = cur.parent() {
                        if parent.as_os_str().is_empty() {
                            out.push(Value::Path(PathBuf::from(".")));
                            break;
                        }
                        out.push(Value::Path(parent.to_path_buf()));
                        cur = parent.to_path_buf();
                    }
                    Value::Tuple(out)
                }
                "name" => Value::Str(
                    p.file_name()
                        .map(|s| s.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                ),
                "stem" => Value::Str(
                    p.file_stem()
                        .map(|s| s.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                ),
                _ => Value::unknown(text, format!("Path.{attr} is not modelled")),
            },
            Value::Obj(i) => match self.objects.get(i).cloned() {
                Some(Object::FlaskApp(app)) => match attr {
                    "config" => Value::Obj(i + 1),
                    "root_path" => Value::Str(app.root_path.display().to_string()),
                    "static_folder" => self.flask_static_folder(&app),
                    "instance_path" => app
                        .instance_path
                        .map(|p| Value::Str(p.display().to_string()))
                        .unwrap_or_else(|| Value::unknown(text, "instance_path")),
                    _ => Value::unknown(text, format!("app.{attr} is not modelled")),
                },
                _ => Value::unknown(text, format!(".{attr} is not modelled")),
            },
            _ => Value::unknown(text, format!(".{attr} is not modelled on this value")),
        }
    }

    fn subscript(&mut self, o: Value, k: Value, text: &str, at: &Location) -> Value {
        if k.is_unknown() {
            return unknown_from(&k, text);
        }
        match (&o, &k) {
            (Value::Builtin(b), Value::Str(name)) if b == "os.environ" => {
                self.env_get(name, at).map(Value::Str).unwrap_or_else(|| {
                    Value::unknown(
                        text,
                        format!("environment variable {name} is not set (the app would fail with KeyError)"),
                    )
                })
            }
            (Value::Dict(_), Value::Str(key)) => o
                .dict_get(key)
                .cloned()
                .unwrap_or_else(|| Value::unknown(text, format!("no key {key:?}"))),
            (Value::List(v) | Value::Tuple(v), Value::Int(i)) => {
                let i = if *i < 0 { v.len() as i64 + i } else { *i };
                v.get(i as usize)
                    .cloned()
                    .unwrap_or_else(|| Value::unknown(text, "index out of range"))
            }
            (Value::Obj(i), Value::Str(key)) => match self.objects.get(*i) {
                Some(Object::FlaskConfig(app)) => self
                    .flask_config(*app)
                    .get(key.as_str())
                    .map(|b| b.value.clone())
                    .unwrap_or_else(|| Value::unknown(text, format!("config key {key} is not set"))),
                _ => Value::unknown(text, "subscript not modelled"),
            },
            _ => unknown_from(&o, text),
        }
    }

    fn call_value(&mut self, callee: Value, call: Call) -> Value {
        match callee {
            Value::Unknown { .. } => unknown_from(&callee, &call.text),
            Value::Builtin(name) => self.call_builtin(&name, call),
            Value::Class(_) => callee, // an instance of a config class reads like the class
            Value::Func(def) => self.call_function(def, call),
            Value::Obj(i) => match self.objects.get(i).cloned() {
                Some(Object::EnvReader(scheme)) => self.environ_get(&scheme, None, call),
                _ => Value::unknown(call.text, "calling this object is not modelled"),
            },
            Value::Path(p) => {
                // django-environ: `root = environ.Path(__file__) - 2; root("media")`
                let mut out = p;
                for a in &call.pos {
                    match a.as_str() {
                        Some(s) => out.push(s),
                        None => return Value::unknown(call.text, "non-string path part"),
                    }
                }
                Value::Str(out.display().to_string())
            }
            other => Value::unknown(
                call.text,
                format!("{} is not callable here", other.describe()),
            ),
        }
    }

    fn call_function(&mut self, def: Rc<FuncDef>, call: Call) -> Value {
        if self.depth >= MAX_DEPTH {
            return Value::unknown(call.text, "calls nested too deep");
        }
        let m = def.module.clone();
        let Some(node) = m
            .tree
            .root_node()
            .descendant_for_byte_range(def.start, def.end)
        else {
            return Value::unknown(call.text, "function body not found");
        };
        let node = if node.kind() == "function_definition" {
            node
        } else {
            match node.parent() {
                Some(p) if p.kind() == "function_definition" => p,
                _ => return Value::unknown(call.text, "function body not found"),
            }
        };
        let mut frame = Frame {
            globals: def.globals_of,
            // A nested function (a view inside an app factory) sees the enclosing locals.
            locals: Some(def.closure.clone().unwrap_or_default()),
        };
        self.bind_params(&m, node, &call, &mut frame);
        let Some(body) = node.child_by_field_name("body") else {
            return Value::None;
        };
        self.depth += 1;
        let flow = self.exec_block(&m, body, &mut frame);
        self.depth -= 1;
        match flow {
            Flow::Return(v) => v,
            Flow::Normal => Value::None,
            Flow::Raise(why) => Value::unknown(call.text, why),
        }
    }

    fn bind_params(&mut self, m: &Rc<Module>, def: Node, call: &Call, frame: &mut Frame) {
        let Some(params) = def.child_by_field_name("parameters") else {
            return;
        };
        let mut c = params.walk();
        let ps: Vec<Node> = params.named_children(&mut c).collect();
        let mut pos = call.pos.iter();
        for p in ps {
            let (name, default) = match p.kind() {
                "identifier" => (m.text(p), None),
                "typed_parameter" => (p.named_child(0).map(|x| m.text(x)).unwrap_or(""), None),
                "default_parameter" | "typed_default_parameter" => (
                    p.child_by_field_name("name")
                        .map(|x| m.text(x))
                        .unwrap_or(""),
                    p.child_by_field_name("value"),
                ),
                _ => continue,
            };
            if name.is_empty() {
                continue;
            }
            let value = if let Some(v) = pos.next() {
                v.clone()
            } else if let Some((_, v)) = call.kw.iter().find(|(k, _)| k == name) {
                v.clone()
            } else if let Some(d) = default {
                self.eval(m, d, frame)
            } else {
                Value::unknown(name, format!("parameter {name} has no value here"))
            };
            let at = m.location(p);
            self.bind(frame, name, value, m.text(p), Some(at));
        }
    }

    // ---------------------------------------------------------------- Flask
}

fn first_block(n: Node) -> Option<Node> {
    let mut c = n.walk();
    let found = n.named_children(&mut c).find(|x| x.kind() == "block");
    found
}

struct Call {
    pos: Vec<Value>,
    kw: Vec<(String, Value)>,
    text: String,
    at: Location,
}

fn binary(op: &str, l: Value, r: Value, text: &str, interp: &Interp) -> Value {
    if l.is_unknown() {
        return unknown_from(&l, text);
    }
    if r.is_unknown() {
        return unknown_from(&r, text);
    }
    match (op, &l, &r) {
        ("+", Value::Str(a), Value::Str(b)) => Value::Str(format!("{a}{b}")),
        ("+", Value::List(a), Value::List(b) | Value::Tuple(b)) => {
            Value::List(a.iter().chain(b).cloned().collect())
        }
        ("+", Value::Tuple(a), Value::Tuple(b)) => {
            Value::Tuple(a.iter().chain(b).cloned().collect())
        }
        ("+", Value::Int(a), Value::Int(b)) => Value::Int(a + b),
        ("/", Value::Path(a), b) | ("/", b, Value::Path(a)) if b.as_path().is_some() => {
            let (x, y) = if matches!(l, Value::Path(_)) {
                (a.clone(), b.as_path().unwrap_or_default())
            } else {
                (b.as_path().unwrap_or_default(), a.clone())
            };
            Value::Path(pathlib_norm(&x.join(y)))
        }
        // django-environ: `environ.Path(__file__) - 3` climbs three levels.
        ("-", Value::Path(p), Value::Int(n)) => {
            let mut p = p.clone();
            for _ in 0..*n {
                p = path_parent(&p);
            }
            Value::Path(p)
        }
        ("%", Value::Str(fmt), args) => {
            let args = match args {
                Value::Tuple(v) => v.clone(),
                other => vec![other.clone()],
            };
            let mut out = String::new();
            let mut it = args.iter();
            let mut chars = fmt.chars().peekable();
            while let Some(c) = chars.next() {
                if c == '%' {
                    match chars.next() {
                        Some('%') => out.push('%'),
                        Some('s' | 'd') => match it.next().and_then(|v| v.to_py_str()) {
                            Some(s) => out.push_str(&s),
                            None => return Value::unknown(text, "% formatting"),
                        },
                        _ => return Value::unknown(text, "% formatting"),
                    }
                } else {
                    out.push(c);
                }
            }
            Value::Str(out)
        }
        _ => {
            let _ = interp;
            Value::unknown(
                text,
                format!("{} {op} {} is not modelled", kind_name(&l), kind_name(&r)),
            )
        }
    }
}

fn kind_name(v: &Value) -> &'static str {
    match v {
        Value::Str(_) => "str",
        Value::Path(_) => "Path",
        Value::Int(_) => "int",
        Value::List(_) => "list",
        Value::Tuple(_) => "tuple",
        Value::Dict(_) => "dict",
        Value::None => "None",
        Value::Bool(_) => "bool",
        _ => "object",
    }
}

/// An unknown whose expression is `text`, keeping the innermost reason.
fn unknown_from(inner: &Value, text: &str) -> Value {
    let why = why_of(inner);
    Value::unknown(shown(text), why)
}

fn why_of(v: &Value) -> String {
    match v {
        Value::Unknown { expr, why } if why.contains(expr.as_str()) || expr.is_empty() => {
            why.clone()
        }
        // The inner expression named once: an Unknown made from an Unknown made from ... (a
        // chain) keeps the innermost reason without growing at each level.
        Value::Unknown { why, .. } if why.len() > MAX_SHOWN_EXPR => why.clone(),
        Value::Unknown { expr, why } => format!("{}: {why}", shown(expr)),
        other => format!("{} is not usable here", other.describe()),
    }
}

fn merge_branches(start: &Scope, outcomes: &[Scope], cond: &str) -> Scope {
    let mut merged = start.clone();
    let mut names: Vec<&String> = outcomes.iter().flat_map(|s| s.vars.keys()).collect();
    names.sort();
    names.dedup();
    for name in names {
        let values: Vec<Option<&Binding>> = outcomes.iter().map(|s| s.vars.get(name)).collect();
        let first = values[0];
        let all_same = values.iter().all(|v| match (v, first) {
            (Some(a), Some(b)) => a.value.py_eq(&b.value) == Some(true),
            (None, None) => true,
            _ => false,
        });
        if all_same {
            if let Some(b) = first {
                merged.set(name, b.clone());
            }
            continue;
        }
        let expr = values
            .iter()
            .flatten()
            .find(|b| b.at.is_some())
            .map(|b| b.expr.clone())
            .unwrap_or_default();
        let at = values.iter().flatten().find_map(|b| b.at.clone());
        merged.set(
            name,
            Binding {
                value: Value::unknown(
                    expr.clone(),
                    format!("depends on `{cond}`, which cannot be evaluated"),
                ),
                expr,
                at,
            },
        );
    }
    merged
}

/// Libraries whose names the evaluator models (a `*` import from them needs no warning).
fn is_modelled_library(name: &str) -> bool {
    let top = name.split('.').next().unwrap_or(name);
    matches!(
        top,
        "os" | "sys"
            | "pathlib"
            | "posixpath"
            | "environ"
            | "decouple"
            | "dotenv"
            | "flask"
            | "werkzeug"
            | "django"
    )
}
