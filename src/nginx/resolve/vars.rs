//! nginx variables in directive arguments (`/srv/$host/media`, `${uri}x`, `$1`) and the `map`
//! blocks that define variables from other variables.
//!
//! Expansion is separated from lookup: `expand` parses the template exactly as nginx's script
//! compiler does (`$1`..`$9`, `$name`, `${name}`) and asks a lookup function for each variable.

use super::regex::{Exec, NgxRegex};
use crate::nginx::Directive;
use std::collections::HashMap;

/// A value, or the name of the first variable that could not be evaluated.
pub type Value = Result<Vec<u8>, String>;

/// One piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part<'a> {
    Text(&'a [u8]),
    Capture(usize),
    Var(&'a str),
}

/// Split a template the way `ngx_http_script_compile` does (as a list: the tests' view of
/// `parts`).
#[cfg(test)]
pub fn parse(template: &str) -> Vec<Part<'_>> {
    parts(template).collect()
}

/// A template's parts, as `ngx_http_script_compile` splits it (`$1`..`$9`, `$name`, `${name}`,
/// text), one by one: expanding a template allocates nothing for its parts.
pub fn parts(template: &str) -> Parts<'_> {
    Parts { template, at: 0 }
}

pub struct Parts<'a> {
    template: &'a str,
    at: usize,
}

impl<'a> Iterator for Parts<'a> {
    type Item = Part<'a>;

    fn next(&mut self) -> Option<Part<'a>> {
        let b = self.template.as_bytes();
        let start = self.at;
        if start >= b.len() {
            return None;
        }
        if b[start] != b'$' {
            // Text up to the next `$`.
            let end = b[start..]
                .iter()
                .position(|&c| c == b'$')
                .map_or(b.len(), |p| start + p);
            self.at = end;
            return Some(Part::Text(&b[start..end]));
        }
        let mut i = start + 1;
        if i < b.len() && (b'1'..=b'9').contains(&b[i]) {
            self.at = i + 1;
            return Some(Part::Capture((b[i] - b'0') as usize));
        }
        let bracket = i < b.len() && b[i] == b'{';
        if bracket {
            i += 1;
        }
        let name_start = i;
        while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
            i += 1;
        }
        let name = &self.template[name_start..i];
        if bracket && i < b.len() && b[i] == b'}' {
            i += 1;
        }
        self.at = i;
        if name.is_empty() {
            // nginx -t refuses this ("invalid variable name"); keep the text as written.
            Some(Part::Text(&b[start..i]))
        } else {
            Some(Part::Var(name))
        }
    }
}

pub fn has_vars(template: &str) -> bool {
    template.contains('$')
}

/// Expand a template; `capture(n)` gives `$n`, `var(name)` a named variable.
pub fn expand(
    template: &str,
    capture: &dyn Fn(usize) -> Vec<u8>,
    var: &mut dyn FnMut(&str) -> Value,
) -> Value {
    let mut out = Vec::with_capacity(template.len());
    for p in parts(template) {
        match p {
            Part::Text(t) => out.extend_from_slice(t),
            Part::Capture(n) => out.extend_from_slice(&capture(n)),
            Part::Var(name) => out.extend_from_slice(&var(name)?),
        }
    }
    Ok(out)
}

/// A `map $source $name { ... }` block.
#[derive(Debug)]
pub struct Map {
    pub source: String,
    pub default: Option<String>,
    exact: HashMap<Vec<u8>, String>,
    regex: Vec<(NgxRegex, String)>,
    /// `hostnames`: keys `.example.com`, `*.example.com` (leading) and `www.example.*`
    /// (trailing), lower-case, without the wildcard part.
    leading: Vec<(Vec<u8>, bool, String)>,
    trailing: Vec<(Vec<u8>, String)>,
    /// `volatile`: not cached for the request.
    pub volatile: bool,
}

impl Map {
    /// The value for a source value (`None`: no default and no match: the empty string).
    pub fn lookup(
        &self,
        source: &[u8],
    ) -> (String, Option<crate::nginx::resolve::regex::Captures>) {
        let low = source.to_ascii_lowercase();
        if let Some(v) = self.exact.get(&low) {
            return (v.clone(), None);
        }
        // ngx_hash_find_combined: leading wildcards, then trailing ones, the longest first.
        let lead = self
            .leading
            .iter()
            .filter(|(k, dot, _)| {
                low.len() > k.len() && low.ends_with(k) && low[low.len() - k.len() - 1] == b'.'
                    || (*dot && low == *k)
            })
            .max_by_key(|(k, _, _)| k.len());
        if let Some((_, _, v)) = lead {
            return (v.clone(), None);
        }
        let trail = self
            .trailing
            .iter()
            .filter(|(k, _)| low.len() > k.len() + 1 && low.starts_with(k) && low[k.len()] == b'.')
            .max_by_key(|(k, _)| k.len());
        if let Some((_, v)) = trail {
            return (v.clone(), None);
        }
        for (re, v) in &self.regex {
            match re.exec(source) {
                Ok(Exec::Match(caps)) => return (v.clone(), caps),
                Ok(Exec::NoMatch) => {}
                // ngx_http_map_find gives up at a failing regex (the match limit): the
                // variable takes the default.
                Err(_) => break,
            }
        }
        (self.default.clone().unwrap_or_default(), None)
    }
}

/// Every `map` of the http context, by the variable it defines.
pub fn collect_maps<'c>(
    http_children: impl Iterator<Item = Directive<'c>>,
) -> HashMap<String, Map> {
    let mut maps = HashMap::new();
    for d in http_children.filter(|d| d.is("map") && d.has_block()) {
        let (Some(src), Some(dst)) = (d.arg(0), d.arg(1)) else {
            continue;
        };
        let Some(name) = dst.strip_prefix('$') else {
            continue;
        };
        let mut map = Map {
            source: src.to_string(),
            default: None,
            exact: HashMap::new(),
            regex: Vec::new(),
            leading: Vec::new(),
            trailing: Vec::new(),
            volatile: false,
        };
        let hostnames = d.children().any(|e| e.is("hostnames"));
        for e in d.children() {
            let key = e.name();
            let value = e.arg(0).unwrap_or("").to_string();
            match key {
                "default" => map.default = Some(value),
                "hostnames" => {}
                "volatile" => map.volatile = true,
                k if hostnames && (k.starts_with('.') || k.starts_with("*.")) => {
                    let dot = k.starts_with('.');
                    let rest = k.trim_start_matches('*').trim_start_matches('.');
                    map.leading
                        .push((rest.as_bytes().to_ascii_lowercase(), dot, value));
                }
                k if hostnames && k.ends_with(".*") => {
                    let rest = &k[..k.len() - 2];
                    map.trailing
                        .push((rest.as_bytes().to_ascii_lowercase(), value));
                }
                _ => {
                    if let Some(re) = key.strip_prefix("~*") {
                        map.regex.push((NgxRegex::new(re, true), value));
                    } else if let Some(re) = key.strip_prefix('~') {
                        map.regex.push((NgxRegex::new(re, false), value));
                    } else {
                        let k = key.strip_prefix('\\').unwrap_or(key);
                        map.exact
                            .entry(k.as_bytes().to_ascii_lowercase())
                            .or_insert(value);
                    }
                }
            }
        }
        maps.insert(name.to_ascii_lowercase(), map);
    }
    maps
}

/// Every variable the configuration declares, lower-case (nginx's names are case-insensitive):
/// `set $name` targets and named captures (`(?<name>...)`) of any regex. nginx knows them at start-up; read before being set they
/// are empty (with an "uninitialized variable" warning), not an error.
pub fn declared_variables<'c>(
    top: impl Iterator<Item = Directive<'c>>,
) -> std::collections::HashSet<String> {
    let mut out = std::collections::HashSet::new();
    let mut stack: Vec<Directive<'c>> = top.collect();
    while let Some(d) = stack.pop() {
        if d.is("set") {
            if let Some(v) = d.arg(0).and_then(|a| a.strip_prefix('$')) {
                out.insert(v.to_ascii_lowercase());
            }
        }
        // Named groups live in regexes: location/rewrite/if/server_name arguments, map keys.
        if matches!(d.name(), "location" | "rewrite" | "if" | "server_name")
            || d.name().starts_with('~')
        {
            for a in d.args().chain(std::iter::once(d.name())) {
                if memchr::memmem::find(a.as_bytes(), b"(?").is_some() {
                    crate::nginx::variables::named_groups(a, &mut out);
                }
            }
        }
        stack.extend(d.children());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_templates_split_as_written() {
        assert_eq!(
            parse("$/a${}b$$1${x}y$"),
            vec![
                Part::Text(b"$"),
                Part::Text(b"/a"),
                Part::Text(b"${}"),
                Part::Text(b"b"),
                Part::Text(b"$"),
                Part::Capture(1),
                Part::Var("x"),
                Part::Text(b"y"),
                Part::Text(b"$"),
            ]
        );
    }

    #[test]
    fn templates_parse_like_nginx() {
        assert_eq!(
            parse("/srv/$host/${uri}x$1"),
            vec![
                Part::Text(b"/srv/"),
                Part::Var("host"),
                Part::Text(b"/"),
                Part::Var("uri"),
                Part::Text(b"x"),
                Part::Capture(1)
            ]
        );
        assert_eq!(parse("plain"), vec![Part::Text(b"plain")]);
        let v = expand(
            "/a/$1/$uri",
            &|n| format!("c{n}").into_bytes(),
            &mut |name| Ok(name.as_bytes().to_vec()),
        )
        .unwrap();
        assert_eq!(v, b"/a/c1/uri");
    }
}
