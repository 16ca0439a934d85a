//! Python's builtins and the methods of values (`str`, `int`, `list`, `dict`, string
//! methods), and the dispatch of calls to the library models: `call_builtin` names each modelled
//! callable once.

use super::*;
use crate::app::python::value::Value;
use std::path::PathBuf;

impl<'a> Interp<'a> {
    pub(super) fn call_builtin(&mut self, name: &str, call: Call) -> Value {
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
            n if PATHS_CALLS.contains(&n) => self.call_path(n, call),
            n if ENVIRON_CALLS.contains(&n) => self.call_environ(n, call),
            n if FLASK_CALLS.contains(&n) => self.call_flask(n, call),
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

    pub(super) fn call_method(&mut self, o: Value, method: &str, call: Call) -> Value {
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

    pub(super) fn call_object_method(&mut self, i: usize, method: &str, call: Call) -> Value {
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
}

pub(super) fn string_method(s: &str, method: &str, args: &[Value], text: &str) -> Value {
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
