//! The environment as settings read it: `os.environ` / `os.getenv`, django-environ's `env(...)`
//! casts and python-decouple's `config(..., cast=)`.

use super::*;
use crate::app::python::value::Value;
use crate::report::Location;
use std::collections::BTreeMap;
use std::path::PathBuf;

impl<'a> Interp<'a> {
    /// `f"{os.getenv('X')}/media"` with X set by no source read: Python would write "None" into
    /// the path, but only if nothing else (a shell, a container runtime) sets X, which a reading
    /// of files cannot rule out. The value is unknown, with the variable named.
    pub(super) fn unset_env_in(&self, m: &Module, e: Node, text: &str) -> Option<Value> {
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
        Some(self.unset_value(names.last()?, text))
    }

    /// `HOST = os.getenv("HOST")` then `f"https://{HOST}/media/"`: the name's binding was made
    /// on the line of an env read that found no value.
    pub(super) fn unset_env_bound(
        &self,
        f: &Frame,
        m: &Module,
        e: Node,
        text: &str,
    ) -> Option<Value> {
        if e.kind() != "identifier" {
            return None;
        }
        let name = m.text(e);
        let b = f
            .locals
            .as_ref()
            .and_then(|l| l.get(name))
            .or_else(|| self.globals.get(f.globals).and_then(|g| g.get(name)))?;
        let at = b.at.as_ref()?;
        let read = self
            .env_reads
            .iter()
            .rev()
            .find(|r| r.source.is_none() && r.at.file == at.file && r.at.line == at.line)?;
        Some(self.unset_value(&read.name, text))
    }

    fn unset_value(&self, name: &str, text: &str) -> Value {
        let sources: Vec<&str> = self.env.layers.iter().map(|l| l.source.as_str()).collect();
        let seen = if sources.is_empty() {
            "no environment source was found".to_string()
        } else {
            format!("not in {}", sources.join(", "))
        };
        Value::unknown(
            text,
            format!("environment variable {name} has no value ({seen}), so this is unknown (Python would write \"None\" into it)"),
        )
    }

    pub(super) fn env_get(&mut self, name: &str, at: &Location) -> Option<String> {
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

    /// django-environ: `env("X", default=..., cast=...)`, `env.bool("X", default=False)`; the
    /// scheme given to `Env(X=(cast, default))` supplies the cast and the default.
    pub(super) fn environ_get(
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
}

#[derive(Clone, Copy)]
pub(super) enum CastStyle {
    Environ,
    Decouple,
}

pub(super) fn cast_value(raw: Value, cast: Option<&Value>, style: CastStyle, text: &str) -> Value {
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

/// The callables this module models (`call_builtin` dispatches them here).
pub(super) const ENVIRON_CALLS: &[&str] = &[
    "os.getenv",
    "os.environ.get",
    "os.environ.setdefault",
    "environ.Env",
    "environ.environ.Env",
    "environ.Env.read_env",
    "dotenv.load_dotenv",
    "environ.Env.smart_cast",
    "decouple.config",
    "decouple.AutoConfig",
    "decouple.Csv",
];

impl<'a> Interp<'a> {
    /// A call of one of `ENVIRON_CALLS`.
    pub(super) fn call_environ(&mut self, name: &str, call: Call) -> Value {
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
            _ => Value::unknown(call.text.clone(), "not modelled"),
        }
    }
}
