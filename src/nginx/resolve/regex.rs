//! Regular expressions as nginx runs them: PCRE (here pcre2, as nginx 1.22 built with PCRE2),
//! compiled lazily (a 10,000-site config has tens of thousands of regexes; most are never tried).
//!
//! nginx's capture semantics matter for `$1`..`$9` and named captures: a match of a regex that has
//! capture groups replaces the request's captures; a match of a regex without groups leaves the
//! previous ones in place; a failed match changes nothing.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

#[derive(Debug)]
pub struct NgxRegex {
    pub pattern: String,
    pub caseless: bool,
    compiled: OnceLock<Result<pcre2::bytes::Regex, String>>,
}

/// The captures of the last regex with groups that matched: `$0`..`$9` and named groups.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Captures {
    subject: Vec<u8>,
    groups: Vec<Option<(usize, usize)>>,
    names: Vec<(String, usize)>,
}

impl Captures {
    /// `$n`: empty when the group did not take part or does not exist (as nginx).
    pub fn get(&self, n: usize) -> &[u8] {
        match self.groups.get(n).copied().flatten() {
            // `\K` can leave a group ending before it starts: empty then, never a panic.
            Some((s, e)) => self.subject.get(s..e).unwrap_or(b""),
            None => b"",
        }
    }
    pub fn named(&self) -> impl Iterator<Item = (&str, &[u8])> + '_ {
        self.names.iter().map(|(n, i)| (n.as_str(), self.get(*i)))
    }
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }
}

/// What one regex execution did.
#[derive(Debug, Clone)]
pub enum Exec {
    NoMatch,
    /// Matched; `Some` when the regex has capture groups (they replace the request's captures).
    Match(Option<Captures>),
}

/// Big configs repeat the same patterns in every site (`\.(jpg|png|css|js)$`, `\.php$`, ...):
/// each distinct pattern is compiled once per process and shared.
fn compile_shared(pattern: &str, caseless: bool) -> Result<pcre2::bytes::Regex, String> {
    type Cache = HashMap<(String, bool), Result<pcre2::bytes::Regex, String>>;
    static CACHE: OnceLock<Mutex<Cache>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let key = (pattern.to_string(), caseless);
    if let Some(r) = cache.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
        return r.clone();
    }
    let compiled = pcre2::bytes::RegexBuilder::new()
        .caseless(caseless)
        // No JIT: most regexes of a big config run a handful of times, and compiling machine
        // code for each costs more than it saves.
        .jit_if_available(false)
        .build(pattern)
        .map_err(|e| format!("regex {pattern:?} does not compile: {e}"));
    cache
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(key, compiled.clone());
    compiled
}

impl NgxRegex {
    pub fn new(pattern: &str, caseless: bool) -> NgxRegex {
        NgxRegex {
            pattern: pattern.to_string(),
            caseless,
            compiled: OnceLock::new(),
        }
    }

    /// nginx makes a `server_name` regex caseless when the pattern has an upper-case letter.
    pub fn for_server_name(pattern: &str) -> NgxRegex {
        NgxRegex::new(pattern, pattern.bytes().any(|b| b.is_ascii_uppercase()))
    }

    fn compiled(&self) -> Result<&pcre2::bytes::Regex, String> {
        self.compiled
            .get_or_init(|| compile_shared(&self.pattern, self.caseless))
            .as_ref()
            .map_err(|e| e.clone())
    }

    /// An error means the pattern does not compile (nginx -t would have refused the config).
    pub fn exec(&self, subject: &[u8]) -> Result<Exec, String> {
        let re = self.compiled()?;
        if re.captures_len() <= 1 {
            return match re.is_match(subject) {
                Ok(true) => Ok(Exec::Match(None)),
                Ok(false) => Ok(Exec::NoMatch),
                Err(e) => Err(e.to_string()),
            };
        }
        let caps = match re.captures(subject) {
            Ok(Some(c)) => c,
            Ok(None) => return Ok(Exec::NoMatch),
            Err(e) => return Err(e.to_string()),
        };
        let groups = (0..caps.len())
            .map(|i| caps.get(i).map(|m| (m.start(), m.end())))
            .collect();
        let names = re
            .capture_names()
            .iter()
            .enumerate()
            // nginx adds each named group as a variable, lower-case (`ngx_http_add_variable`).
            .filter_map(|(i, n)| n.as_ref().map(|n| (n.to_ascii_lowercase(), i)))
            .collect();
        Ok(Exec::Match(Some(Captures {
            subject: subject.to_vec(),
            groups,
            names,
        })))
    }

    /// Whether the pattern compiles: an error of `exec` is then a failure to run on that
    /// subject (PCRE's match or depth limit), which nginx answers with 500.
    pub fn compiles(&self) -> bool {
        self.compiled().is_ok()
    }

    pub fn is_match(&self, subject: &[u8]) -> Result<bool, String> {
        Ok(matches!(self.exec(subject)?, Exec::Match(_)))
    }

    /// How many capture groups the pattern has (0 when it does not compile).
    pub fn group_count(&self) -> usize {
        self.compiled()
            .map(|r| r.captures_len().saturating_sub(1))
            .unwrap_or(0)
    }

    pub fn group_names(&self) -> Vec<String> {
        self.compiled()
            .map(|r| r.capture_names().iter().flatten().cloned().collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_numbered_and_named() {
        let re = NgxRegex::new(r"^/img/(?<name>[^/]+)\.(png|jpg)$", false);
        let Exec::Match(Some(c)) = re.exec(b"/img/cat.png").unwrap() else {
            panic!("no match")
        };
        assert_eq!(c.get(1), b"cat");
        assert_eq!(c.get(2), b"png");
        assert_eq!(c.get(3), b"");
        assert_eq!(c.named().collect::<Vec<_>>(), vec![("name", &b"cat"[..])]);
        assert!(matches!(re.exec(b"/img/cat.gif").unwrap(), Exec::NoMatch));
    }

    #[test]
    fn caseless_and_bad_patterns() {
        assert!(NgxRegex::new(r"\.JPG$", true).is_match(b"/a.jpg").unwrap());
        assert!(!NgxRegex::new(r"\.JPG$", false).is_match(b"/a.jpg").unwrap());
        assert!(NgxRegex::new(r"(", false).exec(b"x").is_err());
        assert!(NgxRegex::for_server_name("^WWW").caseless);
    }
}
