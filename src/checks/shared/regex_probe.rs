//! Reading a location's regex to ask the resolver about it: a URL the regex matches, with a
//! chosen text in one capture group (`/images(.*)` with `../x` in group 1: `/images../x`), and
//! whether a group captures an open-ended part of the URL (`(.+)`, not `(en|fr)`).
//!
//! The regex is parsed with regex-syntax, whose syntax covers what location regexes use; a
//! pattern it cannot read (PCRE-only syntax) gives no URL, so no finding is built on a guess.
//! What a generated URL really does is always the resolver's answer (PCRE, as nginx), never
//! this module's.

use regex_syntax::hir::{Class, Hir, HirKind};
use std::collections::HashMap;

fn parse(pattern: &str, caseless: bool) -> Option<Hir> {
    regex_syntax::ParserBuilder::new()
        .case_insensitive(caseless)
        .utf8(false)
        .unicode(false)
        .build()
        .parse(pattern)
        .ok()
}

/// How many URLs [`examples`] gives at most: one per branch of a few alternations, not their
/// every combination in a long regex.
const MAX_EXAMPLES: usize = 32;

/// A URL path that `pattern` matches, with `inject[k]` as the text of capture group k: the first
/// of [`examples`].
pub fn example(pattern: &str, caseless: bool, inject: &HashMap<u32, String>) -> Option<String> {
    examples(pattern, caseless, inject).into_iter().next()
}

/// URL paths that `pattern` matches, with `inject[k]` as the text of capture group k: one for
/// each branch of each alternation (`^/media/(a|b)/(.*)$`: `/media/a/...` and `/media/b/...`),
/// as a URL can reach the location, and the capture its alias uses, through any of them; the
/// first-branch URL first, at most [`MAX_EXAMPLES`]. A representative character stands for
/// each class (`a` when the class has it) and each repetition is taken its least number of
/// times. Empty when the regex cannot be read.
pub fn examples(pattern: &str, caseless: bool, inject: &HashMap<u32, String>) -> Vec<String> {
    let Some(hir) = parse(pattern, caseless) else {
        return Vec::new();
    };
    let Some(all) = build(&hir, inject, 0) else {
        return Vec::new();
    };
    let mut out: Vec<String> = Vec::new();
    for bytes in all {
        let Ok(s) = String::from_utf8(bytes) else {
            continue;
        };
        // A location regex is searched in the URI: one that does not start at `/` gets one.
        let s = if s.starts_with('/') {
            s
        } else {
            format!("/{s}")
        };
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

/// The texts `h` matches, one per combination of alternation branches (at most
/// [`MAX_EXAMPLES`], first branches first). None when a part matches no text this can write.
fn build(h: &Hir, inject: &HashMap<u32, String>, depth: usize) -> Option<Vec<Vec<u8>>> {
    if depth > 100 {
        return None;
    }
    let one = |b: Vec<u8>| Some(vec![b]);
    match h.kind() {
        HirKind::Empty | HirKind::Look(_) => one(Vec::new()),
        HirKind::Literal(l) => one(l.0.to_vec()),
        HirKind::Class(c) => one(vec![pick(c)?]),
        HirKind::Repetition(r) => {
            let times = r.min.min(8) as usize;
            if times == 0 {
                return one(Vec::new());
            }
            let sub = build(&r.sub, inject, depth + 1)?;
            concat(std::iter::repeat(sub).take(times))
        }
        HirKind::Capture(c) => match inject.get(&c.index) {
            Some(text) => one(text.as_bytes().to_vec()),
            None => build(&c.sub, inject, depth + 1),
        },
        HirKind::Concat(v) => {
            let parts = v
                .iter()
                .map(|s| build(s, inject, depth + 1))
                .collect::<Option<Vec<_>>>()?;
            concat(parts)
        }
        HirKind::Alternation(v) => {
            let mut out = Vec::new();
            for s in v {
                // A branch this cannot write (a class of no printable byte) is left out; the
                // others still give URLs.
                for t in build(s, inject, depth + 1).unwrap_or_default() {
                    if out.len() < MAX_EXAMPLES && !out.contains(&t) {
                        out.push(t);
                    }
                }
            }
            (!out.is_empty()).then_some(out)
        }
    }
}

/// Every text of the first part followed by every text of the next...: first choices first, at
/// most [`MAX_EXAMPLES`] texts, each at most 4 KiB.
fn concat(parts: impl IntoIterator<Item = Vec<Vec<u8>>>) -> Option<Vec<Vec<u8>>> {
    let mut acc: Vec<Vec<u8>> = vec![Vec::new()];
    for choices in parts {
        let mut next = Vec::new();
        'all: for a in &acc {
            for c in &choices {
                if next.len() >= MAX_EXAMPLES {
                    break 'all;
                }
                let mut t = a.clone();
                t.extend_from_slice(c);
                if t.len() > 4096 {
                    return None;
                }
                next.push(t);
            }
        }
        acc = next;
    }
    Some(acc)
}

/// One byte the class matches: a letter when it has one (a URL stays plain), else its first.
fn pick(c: &Class) -> Option<u8> {
    let ranges: Vec<(u32, u32)> = match c {
        Class::Unicode(u) => u
            .ranges()
            .iter()
            .map(|r| (r.start() as u32, r.end() as u32))
            .collect(),
        Class::Bytes(b) => b
            .ranges()
            .iter()
            .map(|r| (r.start() as u32, r.end() as u32))
            .collect(),
    };
    let has = |b: u8| ranges.iter().any(|&(s, e)| s <= b as u32 && b as u32 <= e);
    [b'a', b'x', b'0', b'-', b'_']
        .into_iter()
        .find(|&b| has(b))
        .or_else(|| {
            ranges
                .iter()
                .flat_map(|&(s, e)| s..=e.min(0x7e))
                .find(|&b| (0x21..0x7f).contains(&b) && !b"?#%".contains(&(b as u8)))
                .map(|b| b as u8)
        })
}

/// The capture groups of `pattern` (numbered as `$1`...) that can hold unboundedly long text:
/// an open-ended part of the URL (a file name, a path), not a choice among a few words.
pub fn open_groups(pattern: &str, caseless: bool) -> Option<Vec<u32>> {
    let hir = parse(pattern, caseless)?;
    let mut out = Vec::new();
    collect_groups(&hir, &mut out);
    Some(out)
}

fn collect_groups(h: &Hir, out: &mut Vec<u32>) {
    match h.kind() {
        HirKind::Capture(c) => {
            if c.sub.properties().maximum_len().is_none() {
                out.push(c.index);
            }
            collect_groups(&c.sub, out);
        }
        HirKind::Repetition(r) => collect_groups(&r.sub, out),
        HirKind::Concat(v) | HirKind::Alternation(v) => {
            v.iter().for_each(|s| collect_groups(s, out))
        }
        _ => {}
    }
}

/// Named groups and their numbers (`(?P<file>.+)` is `$file` and `$1`).
pub fn group_names(pattern: &str, caseless: bool) -> Vec<(String, u32)> {
    let mut out = Vec::new();
    if let Some(h) = parse(pattern, caseless) {
        names(&h, &mut out);
    }
    out
}

fn names(h: &Hir, out: &mut Vec<(String, u32)>) {
    match h.kind() {
        HirKind::Capture(c) => {
            if let Some(n) = &c.name {
                out.push((n.to_string(), c.index));
            }
            names(&c.sub, out);
        }
        HirKind::Repetition(r) => names(&r.sub, out),
        HirKind::Concat(v) | HirKind::Alternation(v) => v.iter().for_each(|s| names(s, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(p: &str, inject: &[(u32, &str)]) -> Option<String> {
        let m = inject.iter().map(|(k, v)| (*k, v.to_string())).collect();
        example(p, false, &m)
    }

    #[test]
    fn examples_put_the_text_in_the_group() {
        assert_eq!(
            ex("/images(.*)", &[(1, "../x")]).as_deref(),
            Some("/images../x")
        );
        assert_eq!(
            ex("/images(.*)/lol", &[(1, "../x")]).as_deref(),
            Some("/images../x/lol")
        );
        assert_eq!(
            ex("/site(2)(.*)", &[(2, "../x")]).as_deref(),
            Some("/site2../x")
        );
        assert_eq!(ex(r"^/favicon.ico$", &[]).as_deref(), Some("/faviconaico"));
        assert_eq!(ex(r"^/media/(.+)$", &[]).as_deref(), Some("/media/a"));
        assert_eq!(ex(r"\.(png|jpg)$", &[]).as_deref(), Some("/.png"));
        assert_eq!(ex(r"(?<=x)a", &[]), None, "PCRE-only syntax gives no URL");
    }

    #[test]
    fn examples_take_every_branch() {
        let m = HashMap::from([(2, "../x".to_string())]);
        assert_eq!(
            examples(r"^/media/(a|bb)/(.*)$", false, &m),
            vec!["/media/a/../x", "/media/bb/../x"]
        );
        assert_eq!(
            examples(r"^/(?:m|media)(?:/thumbs|)(.*)$", false, &HashMap::new()),
            vec!["/m/thumbs", "/m", "/media/thumbs", "/media"]
        );
        // Combinations stop at MAX_EXAMPLES, first branches first.
        let many = "(ab|cd)".repeat(8);
        let all = examples(&many, false, &HashMap::new());
        assert_eq!(all.len(), MAX_EXAMPLES);
        assert_eq!(all[0], "/abababababababab");
    }

    #[test]
    fn open_groups_are_told_from_word_choices() {
        assert_eq!(open_groups("^/files-(en|fr|es)", true), Some(vec![]));
        assert_eq!(open_groups(r"^/media/(.+)$", false), Some(vec![1]));
        assert_eq!(open_groups(r"/site(2)(.*)", false), Some(vec![2]));
        assert_eq!(
            group_names(r"^/m/(?P<f>.+)$", false),
            vec![("f".to_string(), 1)]
        );
    }
}
