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
    /// Boxed: a location's regex that never runs (most of a big config's) costs a pointer, not
    /// two compiled patterns and a capture block.
    compiled: OnceLock<Result<Box<Compiled>, String>>,
}

/// A pattern compiled for PCRE's interpreter (what nginx runs with `pcre_jit off`, its
/// default), and as machine code once the pattern is hot (`JIT_AFTER`).
#[derive(Debug)]
struct Compiled {
    interpreted: Matcher,
    jit: Option<Matcher>,
}

/// A compiled pattern and the capture block its matches reuse (`Regex::captures` allocated one,
/// ~450 instructions, for every try).
#[derive(Debug)]
struct Matcher {
    re: pcre2::bytes::Regex,
    locs: Mutex<Option<pcre2::bytes::CaptureLocations>>,
}

impl Matcher {
    fn new(re: pcre2::bytes::Regex) -> Matcher {
        Matcher {
            re,
            locs: Mutex::new(None),
        }
    }

    fn exec(&self, subject: &[u8]) -> Result<Exec, pcre2::Error> {
        let re = &self.re;
        if re.captures_len() <= 1 {
            return Ok(match re.is_match(subject)? {
                true => Exec::Match(None),
                false => Exec::NoMatch,
            });
        }
        // Taken out while matching: another thread matching the same pattern makes its own.
        let taken = self.locs.lock().unwrap_or_else(|p| p.into_inner()).take();
        let mut locs = taken.unwrap_or_else(|| re.capture_locations());
        let got = re.captures_read(&mut locs, subject);
        let out = match got {
            Ok(Some(_)) => {
                let groups = (0..locs.len()).map(|i| locs.get(i)).collect();
                let names = re
                    .capture_names()
                    .iter()
                    .enumerate()
                    // nginx adds each named group as a variable, lower-case
                    // (`ngx_http_add_variable`).
                    .filter_map(|(i, n)| n.as_ref().map(|n| (n.to_ascii_lowercase(), i)))
                    .collect();
                Ok(Exec::Match(Some(Captures {
                    subject: subject.to_vec(),
                    groups,
                    names,
                })))
            }
            Ok(None) => Ok(Exec::NoMatch),
            Err(e) => Err(e),
        };
        *self.locs.lock().unwrap_or_else(|p| p.into_inner()) = Some(locs);
        out
    }
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

/// How many times a pattern is compiled (for as many blocks of the configs modelled) before it
/// is compiled to machine code too: a check of every site of a big config matches the same few
/// patterns (`\.(jpg|png|css|js)$` in every site) millions of times, where the interpreter
/// costs ~1,500 instructions a try; most patterns of a config run a handful of times.
const JIT_AFTER: usize = 64;

/// The match limit of the machine code, a hundredth of the interpreter's (PCRE2's default,
/// 10,000,000, which nginx keeps). Where the interpreter hits its limit, nginx answers 500; the
/// machine code counts its own way and, with the same limit, got further (`^(a+)+$` against 22
/// `a`s and a `b`: the interpreter fails, the machine code said "no match": a 404 predicted for
/// nginx's 500). Limited a hundredfold lower, it gives up on a backtracking pattern six or
/// seven doublings of work before the interpreter would (measured with pcre2 10.42 on four
/// catastrophic patterns), and the interpreter, asked then, decides as nginx does.
const JIT_MATCH_LIMIT: u32 = 100_000;

/// A pattern once compiled, and how many times it was asked for.
type Cached = (
    Result<pcre2::bytes::Regex, String>,
    Option<pcre2::bytes::Regex>,
    usize,
);

/// Big configs repeat the same patterns in every site (`\.(jpg|png|css|js)$`, `\.php$`, ...):
/// each distinct pattern is compiled once per process and shared.
fn compile_shared(pattern: &str, caseless: bool) -> Result<Box<Compiled>, String> {
    static CACHE: OnceLock<Mutex<HashMap<(String, bool), Cached>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let key = (pattern.to_string(), caseless);
    let build = |pattern: &str, jit: bool| {
        pcre2::bytes::RegexBuilder::new()
            .caseless(caseless)
            .jit_if_available(jit)
            .build(pattern)
    };
    let mut all = cache.lock().unwrap_or_else(|p| p.into_inner());
    let entry = all.entry(key).or_insert_with(|| {
        let re =
            build(pattern, false).map_err(|e| format!("regex {pattern:?} does not compile: {e}"));
        (re, None, 0)
    });
    entry.2 += 1;
    // A pattern that sets its own limits (`(*LIMIT_MATCH=…)` and the like at its start) is
    // left to the interpreter: how two limits in one pattern combine is not PCRE's promise.
    if entry.2 == JIT_AFTER && entry.0.is_ok() && !pattern.starts_with("(*") {
        // JIT may be unavailable here (an error): the interpreter does it all then.
        let limited = format!("(*LIMIT_MATCH={JIT_MATCH_LIMIT}){pattern}");
        entry.1 = build(&limited, true).ok();
    }
    let re = entry.0.clone()?;
    Ok(Box::new(Compiled {
        interpreted: Matcher::new(re),
        jit: entry.1.clone().map(Matcher::new),
    }))
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

    fn compiled(&self) -> Result<&Compiled, String> {
        self.compiled
            .get_or_init(|| compile_shared(&self.pattern, self.caseless))
            .as_deref()
            .map_err(|e| e.clone())
    }

    fn regex(&self) -> Result<&pcre2::bytes::Regex, String> {
        self.compiled().map(|c| &c.interpreted.re)
    }

    /// An error means the pattern does not compile (nginx -t would have refused the config).
    pub fn exec(&self, subject: &[u8]) -> Result<Exec, String> {
        let c = self.compiled()?;
        // Machine code matches as the interpreter does; where it fails (its stack or match
        // limit, counted its own way), the interpreter's answer is the one nginx gives.
        if let Some(Ok(got)) = c.jit.as_ref().map(|j| j.exec(subject)) {
            return Ok(got);
        }
        c.interpreted.exec(subject).map_err(|e| e.to_string())
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
        self.regex()
            .map(|r| r.captures_len().saturating_sub(1))
            .unwrap_or(0)
    }

    pub fn group_names(&self) -> Vec<String> {
        self.regex()
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

    /// A pattern compiled `JIT_AFTER` times is matched by machine code from then on, with the
    /// interpreter's answers and captures; a capture block reused between matches keeps no
    /// group of the match before.
    #[test]
    fn hot_patterns_match_as_interpreted() {
        let patterns = [
            (r"\.(jpg|jpeg|png|gif|ico|css|js)$", true),
            (r"^/(?<dir>[^/]+)/(a)?(b)?(\w+)\.php$", false),
            (r"/\.(?!well-known)", false),
            (r"^(GET|HEAD)$", false),
            (r"^/x$", false),
        ];
        let subjects: [&[u8]; 9] = [
            b"/media/x.JPG",
            b"/static/app.css",
            b"/d/ab1.php",
            b"/d/b2.php",
            b"/d/3.php",
            b"/.git/config",
            b"/.well-known/acme",
            b"HEAD",
            b"",
        ];
        for (pattern, caseless) in patterns {
            let cold = NgxRegex::new(pattern, caseless);
            let mut hot = NgxRegex::new(pattern, caseless);
            for _ in 0..=JIT_AFTER {
                hot = NgxRegex::new(pattern, caseless);
                hot.compiles();
            }
            assert!(hot.compiled().unwrap().jit.is_some(), "{pattern}");
            for _ in 0..2 {
                for subject in subjects {
                    let want = cold.compiled().unwrap().interpreted.exec(subject).unwrap();
                    let got = hot.exec(subject).unwrap();
                    let key = |e: &Exec| match e {
                        Exec::NoMatch => None,
                        Exec::Match(c) => Some(c.clone()),
                    };
                    assert_eq!(key(&got), key(&want), "{pattern} on {subject:?}");
                }
            }
        }
    }

    /// Where PCRE's interpreter hits its match limit (nginx answers 500), a hot pattern's
    /// machine code does not answer in its place: it gives up first, and the interpreter's error
    /// is the answer.
    #[test]
    fn hot_patterns_fail_where_the_interpreter_does() {
        for pattern in [r"^(a+)+$", r"^/(a|aa)+\.jpg$", r"^(\w+\s?)*$"] {
            let cold = NgxRegex::new(pattern, false);
            let mut hot = NgxRegex::new(pattern, false);
            for _ in 0..=JIT_AFTER {
                hot = NgxRegex::new(pattern, false);
                hot.compiles();
            }
            assert!(hot.compiled().unwrap().jit.is_some(), "{pattern}");
            let subject = |n: usize| -> Vec<u8> {
                match pattern {
                    r"^(\w+\s?)*$" => [b"ab ".repeat(n), b"!".to_vec()].concat(),
                    r"^/(a|aa)+\.jpg$" => [&b"/"[..], &b"a".repeat(n), b".png"].concat(),
                    _ => [b"a".repeat(n), b"b".to_vec()].concat(),
                }
            };
            let interpreted = |s: &[u8]| cold.compiled().unwrap().interpreted.exec(s).is_err();
            // The interpreter's first failures (each step doubles the work): the machine code,
            // with PCRE2's default limit, still answered at the first of them.
            let first = (1..64)
                .find(|&n| interpreted(&subject(n)))
                .unwrap_or_else(|| panic!("{pattern}: the interpreter never hit its limit"));
            for n in first.saturating_sub(3)..first + 3 {
                let s = subject(n);
                assert_eq!(hot.exec(&s).is_err(), interpreted(&s), "{pattern}, n = {n}");
            }
        }
    }

    #[test]
    fn caseless_and_bad_patterns() {
        assert!(NgxRegex::new(r"\.JPG$", true).is_match(b"/a.jpg").unwrap());
        assert!(!NgxRegex::new(r"\.JPG$", false).is_match(b"/a.jpg").unwrap());
        assert!(NgxRegex::new(r"(", false).exec(b"x").is_err());
        assert!(NgxRegex::for_server_name("^WWW").caseless);
    }
}
