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

use super::value::{string_prefix, unescape, FuncDef, Namespace, Value};
use super::Module;
use crate::app::env::Env;
use crate::report::Location;
use crate::sysroot::SysRoot;
use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::rc::Rc;
use tree_sitter::Node;

/// A name's value and where it was bound (`expr` is the right-hand side as written).
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

#[derive(Debug, Clone)]
pub struct FlaskApp {
    pub at: Location,
    /// The directory of the module that created the app (`Flask(__name__)`).
    pub root_path: PathBuf,
    pub config: BTreeMap<String, Binding>,
    /// The static folder as given (relative to `root_path`), `Value::None` when disabled.
    pub static_folder: Binding,
    pub static_url_path: Option<Binding>,
    pub instance_relative_config: bool,
    pub instance_path: Option<PathBuf>,
    /// Blueprints registered on the app, with the `url_prefix` given at registration.
    pub blueprints: Vec<(usize, Option<String>)>,
}

#[derive(Debug, Clone)]
pub struct Blueprint {
    pub name: String,
    pub url_prefix: Option<String>,
}

/// A view decorated with `@app.route(...)` / `@bp.route(...)`, read after all the code ran
/// (routes are often declared before the config they use is set).
#[derive(Clone)]
pub struct PendingRoute {
    pub owner: usize,
    pub rule: String,
    pub at: Location,
    pub func: Rc<FuncDef>,
}

/// An app route that serves files from a directory: Flask `send_from_directory`, Werkzeug
/// `SharedDataMiddleware`, Django `static()` or `django.views.static.serve`.
#[derive(Debug, Clone)]
pub struct ServedRoute {
    /// `send_from_directory`, `SharedDataMiddleware`, `django static()`, `django serve`.
    pub kind: &'static str,
    /// The URL prefix (`/uploads/`), as far as it is known.
    pub prefix: Value,
    pub dir: Value,
    pub at: Location,
    /// Django's `static()` returns no pattern unless DEBUG is on.
    pub debug_only: bool,
    /// The app object (Flask) or blueprint the route belongs to, for prefixing.
    pub owner: Option<usize>,
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
        self.root
            .real_path(p)
            .map(|r| self.root.host_path(&r).is_file())
            .unwrap_or(false)
    }

    fn is_dir(&self, p: &Path) -> bool {
        self.root
            .real_path(p)
            .map(|r| self.root.host_path(&r).is_dir())
            .unwrap_or(false)
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

    fn exec(&mut self, m: &Rc<Module>, s: Node, f: &mut Frame) -> Flow {
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
                            expr: expr.to_string(),
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
                expr: expr.to_string(),
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

    fn eval(&mut self, m: &Rc<Module>, n: Node, f: &mut Frame) -> Value {
        self.steps += 1;
        if self.steps > MAX_STEPS {
            return Value::unknown(m.text(n), "the evaluator's step budget ran out");
        }
        let text = || m.text(n).to_string();
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
                let (Some(obj), Some(attr)) = (
                    n.child_by_field_name("object"),
                    n.child_by_field_name("attribute"),
                ) else {
                    return Value::unknown(text(), "unreadable attribute");
                };
                let o = self.eval(m, obj, f);
                self.attribute(o, m.text(attr), m.text(n))
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
                        if let Some(u) = self.unset_env_in(m, e, m.text(n)) {
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
            Value::Unknown { .. } => unknown_from(&o, text),
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

    /// `f"{os.getenv('X')}/media"` with X set by no source read: Python would write "None" into
    /// the path, but only if nothing else (a shell, a container runtime) sets X, which a reading
    /// of files cannot rule out. The value is unknown, with the variable named.
    fn unset_env_in(&self, m: &Module, e: Node, text: &str) -> Option<Value> {
        let (start, end) = (e.start_position(), e.end_position());
        let file = m.path.display().to_string();
        let pos = |l: &Location| (l.line as usize - 1, l.column.unwrap_or(1) as usize - 1);
        let names: Vec<&str> = self
            .env_reads
            .iter()
            .filter(|r| r.source.is_none() && r.at.file == file)
            .filter(|r| {
                let p = pos(&r.at);
                p >= (start.row, start.column) && p < (end.row, end.column)
            })
            .map(|r| r.name.as_str())
            .collect();
        let name = names.last()?;
        let sources: Vec<&str> = self.env.layers.iter().map(|l| l.source.as_str()).collect();
        let seen = if sources.is_empty() {
            "no environment source was found".to_string()
        } else {
            format!("not in {}", sources.join(", "))
        };
        Some(Value::unknown(
            text,
            format!("environment variable {name} has no value ({seen}), so this is unknown (Python would write \"None\" into it)"),
        ))
    }

    fn env_get(&mut self, name: &str, at: &Location) -> Option<String> {
        let found = self
            .env
            .get(name)
            .map(|(v, s)| (v.to_string(), s.to_string()));
        self.env_reads.push(EnvRead {
            name: name.to_string(),
            source: found.as_ref().map(|(_, s)| s.clone()),
            at: at.clone(),
        });
        found.map(|(v, _)| v)
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

    fn call_builtin(&mut self, name: &str, call: Call) -> Value {
        let text = call.text.clone();
        let arg = |i: usize, kw: &str| -> Option<Value> {
            call.pos.get(i).cloned().or_else(|| {
                call.kw
                    .iter()
                    .find(|(k, _)| k == kw)
                    .map(|(_, v)| v.clone())
            })
        };
        if let Some(u) = call
            .pos
            .iter()
            .chain(call.kw.iter().map(|(_, v)| v))
            .find(|v| v.is_unknown())
        {
            // Environment look-ups and Flask/django calls cope with unknown arguments themselves.
            if !matches!(
                name,
                "flask.Flask"
                    | "flask.Blueprint"
                    | "django.conf.urls.static.static"
                    | "django.urls.path"
                    | "django.urls.re_path"
                    | "django.conf.urls.url"
                    | "flask.send_from_directory"
                    | "flask.helpers.send_from_directory"
                    | "werkzeug.middleware.shared_data.SharedDataMiddleware"
                    | "werkzeug.wsgi.SharedDataMiddleware"
            ) {
                return unknown_from(u, &text);
            }
        }
        match name {
            "str" => match call.pos.first() {
                None => Value::Str(String::new()),
                Some(v) => v
                    .to_py_str()
                    .map(Value::Str)
                    .unwrap_or_else(|| Value::unknown(text, "str() of this value")),
            },
            "int" => match call.pos.first() {
                Some(Value::Str(s)) => s
                    .trim()
                    .parse()
                    .map(Value::Int)
                    .unwrap_or_else(|_| Value::unknown(text, format!("int({s:?}) fails"))),
                Some(Value::Int(i)) => Value::Int(*i),
                Some(Value::Bool(b)) => Value::Int(*b as i64),
                _ => Value::unknown(text, "int() of this value"),
            },
            "bool" => match call.pos.first().map(|v| v.truthy()) {
                Some(Some(b)) => Value::Bool(b),
                None => Value::Bool(false),
                _ => Value::unknown(text, "bool() of this value"),
            },
            "list" | "tuple" => match call.pos.first() {
                Some(Value::List(v) | Value::Tuple(v)) => {
                    if name == "list" {
                        Value::List(v.clone())
                    } else {
                        Value::Tuple(v.clone())
                    }
                }
                None => Value::List(vec![]),
                _ => Value::unknown(text, format!("{name}() of this value")),
            },
            "dict" => Value::Dict(
                call.kw
                    .iter()
                    .map(|(k, v)| (Value::Str(k.clone()), v.clone()))
                    .collect(),
            ),
            "print" => Value::None,
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
            "os.getenv" | "os.environ.get" => {
                let Some(Value::Str(var)) = arg(0, "key") else {
                    return Value::unknown(text, "variable name is not a string");
                };
                match self.env_get(&var, &call.at) {
                    Some(v) => Value::Str(v),
                    None => arg(1, "default").unwrap_or(Value::None),
                }
            }
            "os.environ.setdefault" => {
                let Some(Value::Str(var)) = arg(0, "key") else {
                    return Value::unknown(text, "variable name is not a string");
                };
                match self.env_get(&var, &call.at) {
                    Some(v) => Value::Str(v),
                    None => arg(1, "value").unwrap_or(Value::None),
                }
            }
            "environ.Env" | "environ.environ.Env" => {
                let scheme = call.kw.iter().cloned().collect();
                self.objects.push(Object::EnvReader(scheme));
                Value::Obj(self.objects.len() - 1)
            }
            "environ.Env.read_env" | "dotenv.load_dotenv" | "environ.Env.smart_cast" => {
                // The project's .env is already one of the environment's layers.
                Value::None
            }
            "decouple.config" | "decouple.AutoConfig" => {
                let Some(Value::Str(var)) = arg(0, "option") else {
                    return Value::unknown(text, "variable name is not a string");
                };
                let cast = call
                    .kw
                    .iter()
                    .find(|(k, _)| k == "cast")
                    .map(|(_, v)| v.clone());
                let raw = match self.env_get(&var, &call.at) {
                    Some(v) => Value::Str(v),
                    None => match call.kw.iter().find(|(k, _)| k == "default") {
                        Some((_, d)) => d.clone(),
                        None => {
                            return Value::unknown(
                                text,
                                format!("{var} is not set and has no default (decouple raises UndefinedValueError)"),
                            )
                        }
                    },
                };
                cast_value(raw, cast.as_ref(), CastStyle::Decouple, &text)
            }
            "decouple.Csv" => Value::Builtin("decouple.Csv()".into()),
            "flask.Flask" => self.new_flask_app(call),
            "flask.Blueprint" => {
                let name = arg(0, "name").and_then(|v| v.as_str().map(str::to_string));
                let url_prefix = call
                    .kw
                    .iter()
                    .find(|(k, _)| k == "url_prefix")
                    .and_then(|(_, v)| v.as_str().map(str::to_string));
                self.objects.push(Object::Blueprint(Blueprint {
                    name: name.unwrap_or_default(),
                    url_prefix,
                }));
                Value::Obj(self.objects.len() - 1)
            }
            "flask.send_from_directory" | "flask.helpers.send_from_directory" => {
                if let (Some(cap), Some(dir)) = (&mut self.capture, arg(0, "directory")) {
                    cap.push((dir, call.at.clone()));
                }
                Value::unknown(text, "a response")
            }
            "werkzeug.middleware.shared_data.SharedDataMiddleware"
            | "werkzeug.wsgi.SharedDataMiddleware" => {
                if let Some(Value::Dict(exports)) = arg(1, "exports") {
                    for (prefix, dir) in exports {
                        self.served.push(ServedRoute {
                            kind: "SharedDataMiddleware",
                            prefix,
                            dir,
                            at: call.at.clone(),
                            debug_only: false,
                            owner: None,
                        });
                    }
                }
                Value::unknown(text, "a WSGI app")
            }
            "django.conf.urls.static.static" => {
                let prefix = arg(0, "prefix").unwrap_or(Value::None);
                let dir = call
                    .kw
                    .iter()
                    .find(|(k, _)| k == "document_root")
                    .map(|(_, v)| v.clone())
                    .unwrap_or(Value::None);
                self.served.push(ServedRoute {
                    kind: "django static()",
                    prefix,
                    dir,
                    at: call.at.clone(),
                    debug_only: true,
                    owner: None,
                });
                Value::List(vec![])
            }
            "django.urls.path" | "django.urls.re_path" | "django.conf.urls.url" => {
                let is_serve = matches!(call.pos.get(1), Some(Value::Builtin(v)) if v.ends_with("static.serve"));
                if is_serve {
                    let root = call
                        .pos
                        .get(2)
                        .or_else(|| call.kw.iter().find(|(k, _)| k == "kwargs").map(|(_, v)| v))
                        .and_then(|d| d.dict_get("document_root").cloned())
                        .unwrap_or(Value::None);
                    let prefix = match call.pos.first() {
                        Some(Value::Str(route)) => {
                            Value::Str(route_prefix(route, name != "django.urls.path"))
                        }
                        Some(other) => other.clone(),
                        None => Value::None,
                    };
                    self.served.push(ServedRoute {
                        kind: "django serve",
                        prefix,
                        dir: root,
                        at: call.at.clone(),
                        debug_only: false,
                        owner: None,
                    });
                }
                Value::unknown(text, "a URL pattern")
            }
            "distutils.util.strtobool" | "str2bool" => match call.pos.first() {
                Some(Value::Str(s)) => cast_value(
                    Value::Str(s.clone()),
                    Some(&Value::Builtin("bool".into())),
                    CastStyle::Decouple,
                    &text,
                ),
                _ => Value::unknown(text, "strtobool() of a non-string"),
            },
            _ => Value::unknown(text, format!("{name}() is not evaluated")),
        }
    }

    fn call_method(&mut self, o: Value, method: &str, call: Call) -> Value {
        let text = call.text.clone();
        match &o {
            Value::Unknown { .. } => return unknown_from(&o, &text),
            Value::Builtin(name) => {
                return self.call_builtin(&format!("{name}.{method}"), call);
            }
            Value::Module(_) | Value::Class(_) => {
                let callee = self.attribute(o, method, &text);
                return self.call_value(callee, call);
            }
            _ => {}
        }
        if let Some(u) = call.pos.iter().find(|v| v.is_unknown()) {
            if !matches!(o, Value::Obj(_)) {
                return unknown_from(u, &text);
            }
        }
        match (&o, method) {
            (Value::Path(p), "resolve" | "absolute") => {
                let abs = if p.is_absolute() {
                    p.clone()
                } else {
                    self.cwd.join(p)
                };
                let abs = PathBuf::from(normpath(&abs.display().to_string()));
                if method == "resolve" {
                    Value::Path(self.root.real_path(&abs).unwrap_or(abs))
                } else {
                    Value::Path(abs)
                }
            }
            (Value::Path(p), "joinpath") => {
                let mut out = p.clone();
                for a in &call.pos {
                    match a.as_path() {
                        Some(x) => out.push(x),
                        None => return Value::unknown(text, "joinpath() of a non-path"),
                    }
                }
                Value::Path(pathlib_norm(&out))
            }
            (Value::Path(p), "expanduser") if !p.starts_with("~") => Value::Path(p.clone()),
            // django-environ's Path: `root.path("media")`
            (Value::Path(p), "path") => {
                let mut out = p.clone();
                for a in &call.pos {
                    if let Some(x) = a.as_path() {
                        out.push(x);
                    }
                }
                Value::Path(out)
            }
            (Value::Str(s), _) => string_method(s, method, &call.pos, &text),
            (Value::Dict(_), "get") => {
                let key = call.pos.first().and_then(|k| k.as_str()).unwrap_or("");
                o.dict_get(key)
                    .cloned()
                    .unwrap_or_else(|| call.pos.get(1).cloned().unwrap_or(Value::None))
            }
            (Value::Obj(i), _) => self.call_object_method(*i, method, call),
            _ => Value::unknown(text, format!(".{method}() is not modelled on this value")),
        }
    }

    fn call_object_method(&mut self, i: usize, method: &str, call: Call) -> Value {
        let text = call.text.clone();
        match self.objects.get(i).cloned() {
            Some(Object::EnvReader(scheme)) => match method {
                "str" | "bool" | "int" | "list" | "tuple" | "path" => {
                    self.environ_get(&scheme, Some(method), call)
                }
                "read_env" => Value::None,
                _ => Value::unknown(text, format!("env.{method}() is not evaluated")),
            },
            Some(Object::FlaskConfig(app)) => self.flask_config_method(app, method, call),
            Some(Object::FlaskApp(_)) => {
                if method == "register_blueprint" {
                    if let Some(Value::Obj(bp)) = call.pos.first() {
                        let prefix = call
                            .kw
                            .iter()
                            .find(|(k, _)| k == "url_prefix")
                            .and_then(|(_, v)| v.as_str().map(str::to_string));
                        if let Some(Object::FlaskApp(a)) = self.objects.get_mut(i) {
                            a.blueprints.push((*bp, prefix));
                        }
                    }
                }
                Value::unknown(text, format!("app.{method}() is not evaluated"))
            }
            _ => Value::unknown(text, format!(".{method}() is not modelled")),
        }
    }

    /// django-environ: `env("X", default=..., cast=...)`, `env.bool("X", default=False)`; the
    /// scheme given to `Env(X=(cast, default))` supplies the cast and the default.
    fn environ_get(
        &mut self,
        scheme: &BTreeMap<String, Value>,
        typed: Option<&str>,
        call: Call,
    ) -> Value {
        let Some(Value::Str(var)) = call.pos.first().cloned().or_else(|| {
            call.kw
                .iter()
                .find(|(k, _)| k == "var")
                .map(|(_, v)| v.clone())
        }) else {
            return Value::unknown(call.text, "variable name is not a string");
        };
        let (scheme_cast, scheme_default) = match scheme.get(&var) {
            Some(Value::Tuple(t)) if t.len() == 2 => (Some(t[0].clone()), Some(t[1].clone())),
            Some(v @ Value::Builtin(_)) => (Some(v.clone()), None),
            _ => (None, None),
        };
        let cast = typed
            .map(|t| Value::Builtin(t.to_string()))
            .or_else(|| {
                call.kw
                    .iter()
                    .find(|(k, _)| k == "cast")
                    .map(|(_, v)| v.clone())
            })
            .or(scheme_cast);
        let default = call
            .kw
            .iter()
            .find(|(k, _)| k == "default")
            .map(|(_, v)| v.clone())
            .or_else(|| call.pos.get(1).cloned())
            .or(scheme_default);
        match self.env_get(&var, &call.at) {
            Some(v) => cast_value(Value::Str(v), cast.as_ref(), CastStyle::Environ, &call.text),
            None => match default {
                Some(d) => d,
                None => Value::unknown(
                    call.text,
                    format!("{var} is not set and has no default (django-environ raises ImproperlyConfigured)"),
                ),
            },
        }
    }

    // ---------------------------------------------------------------- Flask

    fn new_flask_app(&mut self, call: Call) -> Value {
        let kw = |k: &str| call.kw.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let module_dir = Path::new(&call.at.file)
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let root_path = match kw("root_path") {
            Some(v) => v.as_path().unwrap_or(module_dir),
            None => module_dir,
        };
        let binding = |v: Value, expr: &str| Binding {
            value: v,
            expr: expr.to_string(),
            at: Some(call.at.clone()),
        };
        let static_folder = match kw("static_folder") {
            Some(v) => binding(v, &call.text),
            None => binding(Value::Str("static".into()), "the default static_folder"),
        };
        let static_url_path = kw("static_url_path").map(|v| binding(v, &call.text));
        let instance_relative_config = kw("instance_relative_config")
            .and_then(|v| v.truthy())
            .unwrap_or(false);
        let instance_path = kw("instance_path")
            .and_then(|v| v.as_path())
            .or_else(|| Some(root_path.join("instance")));
        let mut config = BTreeMap::new();
        // Flask's own defaults that media-doctor reads.
        config.insert(
            "DEBUG".into(),
            Binding {
                value: Value::Bool(false),
                expr: "Flask's default".into(),
                at: None,
            },
        );
        let app = FlaskApp {
            at: call.at.clone(),
            root_path,
            config,
            static_folder,
            static_url_path,
            instance_relative_config,
            instance_path,
            blueprints: Vec::new(),
        };
        self.objects.push(Object::FlaskApp(Box::new(app)));
        let id = self.objects.len() - 1;
        self.objects.push(Object::FlaskConfig(id));
        Value::Obj(id)
    }

    pub fn flask_apps(&self) -> Vec<(usize, &FlaskApp)> {
        self.objects
            .iter()
            .enumerate()
            .filter_map(|(i, o)| match o {
                Object::FlaskApp(a) => Some((i, &**a)),
                _ => None,
            })
            .collect()
    }

    fn single_flask_app(&self) -> Option<usize> {
        match self.flask_apps().as_slice() {
            [(i, _)] => Some(*i),
            _ => None,
        }
    }

    pub fn flask_config(&self, app: usize) -> BTreeMap<String, Binding> {
        match self.objects.get(app) {
            Some(Object::FlaskApp(a)) => a.config.clone(),
            _ => BTreeMap::new(),
        }
    }

    fn flask_static_folder(&self, app: &FlaskApp) -> Value {
        match &app.static_folder.value {
            v @ (Value::Str(_) | Value::Path(_)) => {
                let p = v.as_path().unwrap_or_default();
                Value::Str(app.root_path.join(p).display().to_string())
            }
            other => other.clone(),
        }
    }

    fn set_config(
        &mut self,
        app: usize,
        key: &str,
        value: Value,
        expr: &str,
        at: Option<Location>,
    ) {
        if let Some(Object::FlaskApp(a)) = self.objects.get_mut(app) {
            a.config.insert(
                key.to_string(),
                Binding {
                    value,
                    expr: expr.to_string(),
                    at,
                },
            );
        }
    }

    fn flask_config_method(&mut self, app: usize, method: &str, call: Call) -> Value {
        let text = call.text.clone();
        match method {
            "update" | "from_mapping" => {
                let mut pairs: Vec<(String, Value)> = Vec::new();
                if let Some(Value::Dict(items)) = call.pos.first() {
                    for (k, v) in items {
                        if let Some(k) = k.as_str() {
                            pairs.push((k.to_string(), v.clone()));
                        }
                    }
                } else if let Some(u) = call.pos.first().filter(|v| v.is_unknown()) {
                    self.problems.push(format!(
                        "{}: app.config.{method}() with a value that cannot be read: {}",
                        call.at,
                        u.describe()
                    ));
                }
                pairs.extend(call.kw.iter().cloned());
                for (k, v) in pairs {
                    if k.chars().next().is_some_and(|c| c.is_ascii_uppercase()) {
                        self.set_config(app, &k, v, &text, Some(call.at.clone()));
                    }
                }
                Value::None
            }
            "setdefault" => {
                if let (Some(Value::Str(k)), Some(v)) = (call.pos.first(), call.pos.get(1)) {
                    if !self.flask_config(app).contains_key(k) {
                        self.set_config(app, k, v.clone(), &text, Some(call.at.clone()));
                    }
                }
                Value::None
            }
            "get" => {
                let key = call.pos.first().and_then(|k| k.as_str()).unwrap_or("");
                self.flask_config(app)
                    .get(key)
                    .map(|b| b.value.clone())
                    .unwrap_or_else(|| call.pos.get(1).cloned().unwrap_or(Value::None))
            }
            "from_object" => {
                let obj = match call.pos.first().cloned() {
                    Some(Value::Str(dotted)) => self.import_string(&dotted, &call.at),
                    Some(v) => v,
                    None => return Value::None,
                };
                match obj {
                    Value::Class(ns) | Value::Module(ns) => {
                        for (k, b) in &ns.vars.vars {
                            if k.chars()
                                .all(|c| c.is_ascii_uppercase() || c == '_' || c.is_ascii_digit())
                                && k.chars().next().is_some_and(|c| c.is_ascii_uppercase())
                            {
                                self.set_config(app, k, b.value.clone(), &b.expr, b.at.clone());
                            }
                        }
                    }
                    other => self.problems.push(format!(
                        "{}: app.config.from_object({}) cannot be read: {}",
                        call.at,
                        other.describe(),
                        why_of(&other)
                    )),
                }
                Value::None
            }
            "from_pyfile" | "from_envvar" => {
                let silent = call
                    .kw
                    .iter()
                    .find(|(k, _)| k == "silent")
                    .and_then(|(_, v)| v.truthy())
                    .unwrap_or(false);
                let file = if method == "from_envvar" {
                    match call.pos.first() {
                        Some(Value::Str(var)) => match self.env_get(var, &call.at) {
                            Some(f) => Value::Str(f),
                            None => {
                                if !silent {
                                    self.problems.push(format!(
                                        "{}: app.config.from_envvar({var:?}): {var} is not set (the app would fail to start)",
                                        call.at
                                    ));
                                }
                                return Value::Bool(false);
                            }
                        },
                        _ => return Value::Bool(false),
                    }
                } else {
                    call.pos.first().cloned().unwrap_or(Value::None)
                };
                let Some(file) = file.as_path() else {
                    self.problems.push(format!(
                        "{}: app.config.{method}() with a file name that cannot be read: {}",
                        call.at,
                        file.describe()
                    ));
                    return Value::Bool(false);
                };
                let base = match self.objects.get(app) {
                    Some(Object::FlaskApp(a)) if a.instance_relative_config => a
                        .instance_path
                        .clone()
                        .unwrap_or_else(|| a.root_path.clone()),
                    Some(Object::FlaskApp(a)) => a.root_path.clone(),
                    _ => PathBuf::new(),
                };
                let path = base.join(file);
                if !self.exists(&path) {
                    if !silent {
                        self.problems.push(format!(
                            "{}: app.config.{method}(): {} does not exist (the app would fail to start)",
                            call.at,
                            path.display()
                        ));
                    }
                    return Value::Bool(false);
                }
                match self.load_file(&path) {
                    Ok(ns) => {
                        for (k, b) in &ns.vars.vars {
                            if k.chars().next().is_some_and(|c| c.is_ascii_uppercase()) {
                                self.set_config(app, k, b.value.clone(), &b.expr, b.at.clone());
                            }
                        }
                        Value::Bool(true)
                    }
                    Err(e) => {
                        self.problems.push(e);
                        Value::Bool(false)
                    }
                }
            }
            "from_prefixed_env" => {
                let prefix = call
                    .pos
                    .first()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_else(|| "FLASK".into());
                let vars: Vec<(String, String, String)> = self
                    .env
                    .merged()
                    .into_iter()
                    .filter_map(|(k, v)| {
                        k.strip_prefix(&format!("{prefix}_"))
                            .map(|rest| (rest.to_string(), v, k.clone()))
                    })
                    .collect();
                for (key, v, full) in vars {
                    self.env_get(&full, &call.at);
                    self.set_config(app, &key, Value::Str(v), &text, Some(call.at.clone()));
                }
                Value::None
            }
            _ => Value::unknown(text, format!("app.config.{method}() is not evaluated")),
        }
    }

    /// werkzeug's import_string: `"config.ProductionConfig"` → the class in module `config`.
    fn import_string(&mut self, dotted: &str, at: &Location) -> Value {
        if let Some(file) = self.find_module(dotted) {
            return self
                .load_file(&file)
                .map(Value::Module)
                .unwrap_or_else(|e| Value::unknown(dotted, e));
        }
        let (module, attr) = dotted
            .rsplit_once(':')
            .or_else(|| dotted.rsplit_once('.'))
            .unwrap_or(("", dotted));
        match self.find_module(module) {
            Some(file) => match self.load_file(&file) {
                Ok(ns) => ns
                    .vars
                    .get(attr)
                    .map(|b| b.value.clone())
                    .unwrap_or_else(|| {
                        Value::unknown(dotted, format!("{attr} is not defined in {module}"))
                    }),
                Err(e) => Value::unknown(dotted, e),
            },
            None => Value::unknown(
                dotted,
                format!("{at}: module {module} not found on the app's path"),
            ),
        }
    }

    /// Evaluates the routes declared with `@app.route`/`@bp.route` whose view calls
    /// `send_from_directory`: runs each view once (its parameters unknown) and records the
    /// directory it sends from, with the full URL prefix (blueprint prefixes included).
    pub fn finish_routes(&mut self) {
        let pending = std::mem::take(&mut self.pending_routes);
        for r in pending {
            self.capture = Some(Vec::new());
            let call = Call {
                pos: vec![],
                kw: vec![],
                text: format!("{}()", r.func.name),
                at: r.at.clone(),
            };
            self.call_function(r.func.clone(), call);
            let captured = self.capture.take().unwrap_or_default();
            for (dir, at) in captured {
                let prefix = self.route_url_prefix(r.owner, &r.rule);
                self.served.push(ServedRoute {
                    kind: "send_from_directory",
                    prefix,
                    dir,
                    at,
                    debug_only: false,
                    owner: Some(r.owner),
                });
            }
        }
    }

    fn route_url_prefix(&self, owner: usize, rule: &str) -> Value {
        let mut prefix = String::new();
        if let Some(Object::Blueprint(bp)) = self.objects.get(owner) {
            // The prefix given at registration wins over the blueprint's own.
            let registered = self.flask_apps().iter().find_map(|(_, a)| {
                a.blueprints
                    .iter()
                    .find(|(b, _)| *b == owner)
                    .map(|(_, p)| p.clone())
            });
            match registered {
                Some(Some(p)) => prefix = p,
                Some(None) | None => prefix = bp.url_prefix.clone().unwrap_or_default(),
            }
        }
        let full = format!("{}{}", prefix.trim_end_matches('/'), rule);
        Value::Str(route_prefix(&full, false))
    }
}

fn first_block(n: Node) -> Option<Node> {
    let mut c = n.walk();
    let found = n.named_children(&mut c).find(|x| x.kind() == "block");
    found
}

/// The literal part of a route before its first variable: `/uploads/<path:f>` → `/uploads/`;
/// a Django regex `^media/(?P<path>.*)$` → `/media/`.
pub fn route_prefix(rule: &str, regex: bool) -> String {
    let mut s = rule.to_string();
    if regex {
        s = s.trim_start_matches('^').to_string();
        let end = s
            .find(['(', '[', '.', '*', '+', '?', '$', '\\'])
            .unwrap_or(s.len());
        s.truncate(end);
    } else if let Some(i) = s.find('<') {
        s.truncate(i);
    }
    if !s.starts_with('/') {
        s.insert(0, '/');
    }
    s
}

struct Call {
    pos: Vec<Value>,
    kw: Vec<(String, Value)>,
    text: String,
    at: Location,
}

#[derive(Clone, Copy)]
enum CastStyle {
    Environ,
    Decouple,
}

fn cast_value(raw: Value, cast: Option<&Value>, style: CastStyle, text: &str) -> Value {
    let Some(cast) = cast else { return raw };
    let Value::Str(s) = &raw else {
        return raw; // a default is returned as given (both libraries do so for non-strings)
    };
    let cast_name = match cast {
        Value::Builtin(n) => n.as_str(),
        _ => return Value::unknown(text, "cast with a function media-doctor does not model"),
    };
    match cast_name {
        "bool" => {
            let l = s.trim().to_ascii_lowercase();
            match style {
                CastStyle::Environ => Value::Bool(matches!(
                    l.as_str(),
                    "true" | "on" | "ok" | "y" | "yes" | "1"
                )),
                CastStyle::Decouple => match l.as_str() {
                    "y" | "yes" | "t" | "true" | "on" | "1" => Value::Bool(true),
                    "n" | "no" | "f" | "false" | "off" | "0" | "" => Value::Bool(false),
                    _ => Value::unknown(
                        text,
                        format!("{s:?} is not a boolean (the app fails to start)"),
                    ),
                },
            }
        }
        "int" => s
            .trim()
            .parse()
            .map(Value::Int)
            .unwrap_or_else(|_| Value::unknown(text, format!("{s:?} is not an integer"))),
        "str" => raw,
        "list" | "tuple" | "decouple.Csv()" => {
            let items: Vec<Value> = if s.is_empty() {
                vec![]
            } else {
                s.split(',')
                    .map(|x| Value::Str(x.trim().to_string()))
                    .collect()
            };
            if cast_name == "tuple" {
                Value::Tuple(items)
            } else {
                Value::List(items)
            }
        }
        "path" => Value::Path(PathBuf::from(s)),
        _ => Value::unknown(text, format!("cast={cast_name} is not modelled")),
    }
}

fn string_method(s: &str, method: &str, args: &[Value], text: &str) -> Value {
    let a0 = args.first().and_then(|v| v.as_str());
    match method {
        "lower" => Value::Str(s.to_lowercase()),
        "upper" => Value::Str(s.to_uppercase()),
        "strip" => Value::Str(match a0 {
            Some(c) => s.trim_matches(|x| c.contains(x)).to_string(),
            None => s.trim().to_string(),
        }),
        "rstrip" => Value::Str(match a0 {
            Some(c) => s.trim_end_matches(|x| c.contains(x)).to_string(),
            None => s.trim_end().to_string(),
        }),
        "lstrip" => Value::Str(match a0 {
            Some(c) => s.trim_start_matches(|x| c.contains(x)).to_string(),
            None => s.trim_start().to_string(),
        }),
        "split" => Value::List(match a0 {
            Some(sep) if !sep.is_empty() => s.split(sep).map(|x| Value::Str(x.into())).collect(),
            _ => s.split_whitespace().map(|x| Value::Str(x.into())).collect(),
        }),
        "startswith" => a0.map_or(Value::unknown(text, "startswith"), |p| {
            Value::Bool(s.starts_with(p))
        }),
        "endswith" => a0.map_or(Value::unknown(text, "endswith"), |p| {
            Value::Bool(s.ends_with(p))
        }),
        "replace" => match (a0, args.get(1).and_then(|v| v.as_str())) {
            (Some(a), Some(b)) => Value::Str(s.replace(a, b)),
            _ => Value::unknown(text, "replace() arguments"),
        },
        "join" => match args.first() {
            Some(Value::List(items) | Value::Tuple(items)) => {
                let parts: Option<Vec<&str>> = items.iter().map(|v| v.as_str()).collect();
                parts
                    .map(|p| Value::Str(p.join(s)))
                    .unwrap_or_else(|| Value::unknown(text, "join() of non-strings"))
            }
            _ => Value::unknown(text, "join() argument"),
        },
        "format" => {
            let mut out = String::new();
            let mut rest = s;
            let mut i = 0;
            while let Some(open) = rest.find('{') {
                out.push_str(&rest[..open]);
                let Some(close) = rest[open..].find('}') else {
                    return Value::unknown(text, "format string");
                };
                let field = &rest[open + 1..open + close];
                let v = if field.is_empty() {
                    i += 1;
                    args.get(i - 1)
                } else {
                    field.parse::<usize>().ok().and_then(|n| args.get(n))
                };
                match v.and_then(|v| v.to_py_str()) {
                    Some(x) => out.push_str(&x),
                    None => return Value::unknown(text, "format() field"),
                }
                rest = &rest[open + close + 1..];
            }
            out.push_str(rest);
            Value::Str(out)
        }
        _ => Value::unknown(text, format!("str.{method}() is not modelled")),
    }
}

fn str_path_fn(call: &Call, text: &str, f: impl Fn(&str) -> String) -> Value {
    match call.pos.first().and_then(|v| v.as_path()) {
        Some(p) => Value::Str(f(&p.display().to_string())),
        None => Value::unknown(text, "a path function of a non-path value"),
    }
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
    Value::unknown(text, why)
}

fn why_of(v: &Value) -> String {
    match v {
        Value::Unknown { expr, why } if why.contains(expr.as_str()) || expr.is_empty() => {
            why.clone()
        }
        Value::Unknown { expr, why } => format!("{expr}: {why}"),
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

/// pathlib's normal form: no `.` parts, no trailing slash (`..` is kept, as pathlib does).
fn pathlib_norm(p: &Path) -> PathBuf {
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

fn path_parent(p: &Path) -> PathBuf {
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
