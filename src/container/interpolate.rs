//! `${VAR}` in compose files, as Compose substitutes it: `$VAR`, `${VAR}`, `${VAR:-default}`
//! (unset or empty), `${VAR-default}` (unset), `${VAR:?err}` / `${VAR?err}` (an error),
//! `${VAR:+alt}` / `${VAR+alt}`, `$$` for a literal `$`; defaults may hold `${...}` themselves.
//!
//! Compose substitutes an empty string for an unset variable (with a warning). media-doctor reads
//! files, not the shell of whoever runs `docker compose up`, so a variable that neither `.env` nor
//! the file sets is not "empty": it is unknown. The result says which variables those were, and the
//! text holds a marker in their place so that a path built from one is never taken for a real path.

/// Marks the place of an unset variable in interpolated text (never in a real path or value).
pub const UNSET_MARK: char = '\u{0}';

/// An interpolated string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interpolated {
    /// The text, with `UNSET_MARK` + name + `UNSET_MARK` where an unset variable was.
    pub text: String,
    /// Variables that were unset (no value and no default), in order of appearance.
    pub unset: Vec<String>,
    /// `${VAR:?message}` that fired: Compose refuses the file with this message.
    pub errors: Vec<String>,
}

impl Interpolated {
    pub fn is_known(&self) -> bool {
        self.unset.is_empty() && self.errors.is_empty()
    }
}

/// True when `s` holds the place of an unset variable.
pub fn has_unset(s: &str) -> bool {
    s.contains(UNSET_MARK)
}

/// The names of the unset variables whose places `s` holds.
pub fn unset_names(s: &str) -> Vec<String> {
    s.split(UNSET_MARK)
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// `s` for messages: unset places shown as `${NAME}`.
pub fn display(s: &str) -> String {
    let mut out = String::new();
    for (i, part) in s.split(UNSET_MARK).enumerate() {
        if i % 2 == 1 {
            out.push_str("${");
            out.push_str(part);
            out.push('}');
        } else {
            out.push_str(part);
        }
    }
    out
}

/// Substitutes variables in `s`; `lookup` answers a variable's value, `None` when unset.
pub fn interpolate(s: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Interpolated {
    let mut out = Interpolated {
        text: String::with_capacity(s.len()),
        unset: Vec::new(),
        errors: Vec::new(),
    };
    expand(s, lookup, &mut out, 0);
    out
}

const MAX_NESTING: usize = 16;

fn expand(s: &str, lookup: &dyn Fn(&str) -> Option<String>, out: &mut Interpolated, depth: usize) {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'$' {
            let next = s[i..].find('$').map_or(s.len(), |n| i + n);
            out.text.push_str(&s[i..next]);
            i = next;
            continue;
        }
        match b.get(i + 1) {
            Some(b'$') => {
                out.text.push('$');
                i += 2;
            }
            Some(b'{') => {
                let Some(end) = matching_brace(s, i + 2) else {
                    // Compose calls this an invalid interpolation; keep the text as written.
                    out.errors
                        .push(format!("invalid interpolation format in {s:?}"));
                    out.text.push_str(&s[i..]);
                    return;
                };
                braced(&s[i + 2..end], lookup, out, depth);
                i = end + 1;
            }
            Some(c) if c.is_ascii_alphabetic() || *c == b'_' => {
                let start = i + 1;
                let mut j = start;
                while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
                    j += 1;
                }
                let name = &s[start..j];
                value_or_unset(name, lookup(name), out);
                i = j;
            }
            _ => {
                out.text.push('$');
                i += 1;
            }
        }
    }
}

/// The index of the `}` closing a `${` whose body starts at `from` (nested `${}` counted).
fn matching_brace(s: &str, from: usize) -> Option<usize> {
    let b = s.as_bytes();
    let mut depth = 0usize;
    let mut i = from;
    while i < b.len() {
        match b[i] {
            b'$' if b.get(i + 1) == Some(&b'{') => {
                depth += 1;
                i += 2;
                continue;
            }
            b'}' if depth == 0 => return Some(i),
            b'}' => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    None
}

fn braced(
    body: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    out: &mut Interpolated,
    depth: usize,
) {
    let name_len = body
        .bytes()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == b'_')
        .count();
    let (name, rest) = body.split_at(name_len);
    if name.is_empty() {
        out.errors
            .push(format!("invalid interpolation format: ${{{body}}}"));
        return;
    }
    let value = lookup(name);
    let nested = |text: &str, out: &mut Interpolated| {
        if depth < MAX_NESTING {
            expand(text, lookup, out, depth + 1);
        }
    };
    let (op, arg) = if let Some(a) = rest.strip_prefix(":-") {
        (":-", a)
    } else if let Some(a) = rest.strip_prefix(":?") {
        (":?", a)
    } else if let Some(a) = rest.strip_prefix(":+") {
        (":+", a)
    } else if rest.is_empty() {
        ("", "")
    } else {
        rest.split_at(1)
    };
    let empty = value.as_deref().map_or(true, str::is_empty);
    match op {
        "" => value_or_unset(name, value, out),
        ":-" if empty => nested(arg, out),
        "-" if value.is_none() => nested(arg, out),
        ":-" | "-" => out.text.push_str(value.as_deref().unwrap_or("")),
        ":?" | "?" if (op == ":?" && empty) || value.is_none() => {
            out.errors.push(if arg.is_empty() {
                format!("required variable {name} is missing a value")
            } else {
                format!("required variable {name} is missing a value: {arg}")
            });
            out.text.push(UNSET_MARK);
            out.text.push_str(name);
            out.text.push(UNSET_MARK);
        }
        ":?" | "?" => out.text.push_str(value.as_deref().unwrap_or("")),
        ":+" if !empty => nested(arg, out),
        "+" if value.is_some() => nested(arg, out),
        ":+" | "+" => {}
        _ => out
            .errors
            .push(format!("invalid interpolation format: ${{{body}}}")),
    }
}

fn value_or_unset(name: &str, value: Option<String>, out: &mut Interpolated) {
    match value {
        Some(v) => out.text.push_str(&v),
        None => {
            if !out.unset.iter().any(|u| u == name) {
                out.unset.push(name.to_string());
            }
            out.text.push(UNSET_MARK);
            out.text.push_str(name);
            out.text.push(UNSET_MARK);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn run(s: &str) -> Interpolated {
        let vars: BTreeMap<&str, &str> = [("APP", "/srv/app"), ("EMPTY", "")].into();
        interpolate(s, &|n| vars.get(n).map(|v| v.to_string()))
    }

    #[test]
    fn plain_and_braced() {
        assert_eq!(run("$APP/media").text, "/srv/app/media");
        assert_eq!(run("${APP}/media").text, "/srv/app/media");
        assert_eq!(run("cost $$5").text, "cost $5");
        assert_eq!(run("a$").text, "a$");
        assert_eq!(run("$1x").text, "$1x");
    }

    #[test]
    fn defaults_follow_compose() {
        assert_eq!(run("${NOPE:-/d}").text, "/d");
        assert_eq!(run("${EMPTY:-/d}").text, "/d");
        assert_eq!(run("${EMPTY-/d}").text, "");
        assert_eq!(run("${NOPE-/d}").text, "/d");
        assert_eq!(run("${NOPE:-${APP}/x}").text, "/srv/app/x");
        assert_eq!(run("${APP:+on}").text, "on");
        assert_eq!(run("${EMPTY:+on}").text, "");
        assert_eq!(run("${EMPTY+on}").text, "on");
        assert!(run("${NOPE:-x}").is_known());
    }

    #[test]
    fn unset_is_unknown_not_empty() {
        let r = run("${DATA_DIR}/media");
        assert_eq!(r.unset, vec!["DATA_DIR".to_string()]);
        assert!(has_unset(&r.text));
        assert_eq!(unset_names(&r.text), vec!["DATA_DIR".to_string()]);
        assert_eq!(display(&r.text), "${DATA_DIR}/media");
        let r = run("$A/$B");
        assert_eq!(r.unset, vec!["A".to_string(), "B".to_string()]);
        assert_eq!(display(&r.text), "${A}/${B}");
    }

    #[test]
    fn required_variables() {
        let r = run("${NOPE:?set NOPE}");
        assert_eq!(
            r.errors,
            vec!["required variable NOPE is missing a value: set NOPE"]
        );
        assert!(run("${EMPTY?x}").errors.is_empty());
        assert_eq!(run("${EMPTY:?x}").errors.len(), 1);
    }

    #[test]
    fn malformed_does_not_panic() {
        for s in ["${", "${}", "${APP", "${:-x}", "${APP!x}", "$${", "${${${"] {
            let _ = run(s);
        }
        assert_eq!(run("${APP").text, "${APP");
    }
}
