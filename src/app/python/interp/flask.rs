//! Flask's app object as settings code builds it: `Flask(...)`, `app.config` and its loaders
//! (`from_object`, `from_pyfile`, `from_envvar`, `from_mapping`, `from_prefixed_env`), blueprints
//! and the routes that serve files.

use super::*;
use crate::app::python::value::{FuncDef, Value};
use crate::report::Location;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

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

impl<'a> Interp<'a> {
    pub(super) fn new_flask_app(&mut self, call: Call) -> Value {
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
            expr: crate::app::python::value::shown(expr).into_owned(),
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

    pub(super) fn single_flask_app(&self) -> Option<usize> {
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

    pub(super) fn flask_static_folder(&self, app: &FlaskApp) -> Value {
        match &app.static_folder.value {
            v @ (Value::Str(_) | Value::Path(_)) => {
                let p = v.as_path().unwrap_or_default();
                Value::Str(app.root_path.join(p).display().to_string())
            }
            other => other.clone(),
        }
    }

    pub(super) fn set_config(
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
                    expr: crate::app::python::value::shown(expr).into_owned(),
                    at,
                },
            );
        }
    }

    pub(super) fn flask_config_method(&mut self, app: usize, method: &str, call: Call) -> Value {
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
    pub(super) fn import_string(&mut self, dotted: &str, at: &Location) -> Value {
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

    pub(super) fn route_url_prefix(&self, owner: usize, rule: &str) -> Value {
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

/// The callables this module models (`call_builtin` dispatches them here).
pub(super) const FLASK_CALLS: &[&str] = &[
    "flask.Flask",
    "flask.Blueprint",
    "flask.send_from_directory",
    "flask.helpers.send_from_directory",
    "werkzeug.middleware.shared_data.SharedDataMiddleware",
    "werkzeug.wsgi.SharedDataMiddleware",
];

impl<'a> Interp<'a> {
    /// A call of one of `FLASK_CALLS`.
    pub(super) fn call_flask(&mut self, name: &str, call: Call) -> Value {
        let text = call.text.clone();
        let arg = |i: usize, kw: &str| -> Option<Value> {
            call.pos.get(i).cloned().or_else(|| {
                call.kw
                    .iter()
                    .find(|(k, _)| k == kw)
                    .map(|(_, v)| v.clone())
            })
        };
        match name {
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
            _ => Value::unknown(call.text.clone(), "not modelled"),
        }
    }
}
