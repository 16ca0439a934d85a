//! What the nginx_paths checks share.
//!
//! MD101–MD104, MD112: where `root`/`alias` send media and static URLs.
//!
//! Each check picks the locations that have the shape of the mistake, then asks the resolver
//! what a concrete URL under them maps to (a real file name when the directory can be listed),
//! and reports the URL, the path nginx opens and the status it predicts. Only a mapping that
//! the resolver confirms becomes a finding.

use crate::checks::shared::nginx::{normalised, Target};
use crate::nginx::resolve::{AliasKind, Handler, Modifier, Request, Resolution, Resolver};
use crate::nginx::NodeId;
use std::path::{Component, Path, PathBuf};

/// A location with its own `root`/`alias` (not inherited), in one of the site's servers.
pub(crate) struct OwnRoot<'c> {
    pub(crate) target: Target<'c>,
    pub(crate) location: NodeId,
    pub(crate) modifier: Modifier,
    pub(crate) name: String,
    /// The `root`/`alias` directive.
    pub(crate) directive: NodeId,
    pub(crate) alias: AliasKind,
    pub(crate) value: String,
    pub(crate) scripted: bool,
}

/// The locations of the site's servers with a `root`/`alias` of their own, made as they are
/// asked for: one site of 360,000 servers has as many, and MD101-MD104 (run side by side)
/// each held all of them at once (~200 bytes each, 15 MB a 10 MB config).
pub(crate) fn own_roots<'r, 's>(r: &'r Resolver<'s>) -> impl Iterator<Item = OwnRoot<'s>> + 'r {
    let cfg = r.config();
    r.servers().iter().flat_map(move |&server| {
        let t = r.target(server);
        r.locations_of(server).into_iter().filter_map(move |loc| {
            let (modifier, name) = r.location_pattern(loc)?;
            let root = r.root_of(loc)?;
            let directive = root.directive?;
            // Only the location that says it: nested blocks inherit the same finding.
            if !cfg.directive(loc).children().any(|c| c.id() == directive) {
                return None;
            }
            Some(OwnRoot {
                target: t,
                location: loc,
                modifier,
                name,
                directive,
                alias: root.alias,
                value: root.value,
                scripted: root.scripted,
            })
        })
    })
}

pub(crate) fn request(t: &Target, uri: &str) -> Request {
    Request::for_path(t.host, t.port, uri)
}

pub(crate) fn status_text(s: Option<u16>) -> String {
    s.map_or_else(|| "not predictable".into(), |s| s.to_string())
}

/// `/srv/media/../app` → `/srv/app` (what the kernel reaches when no symlink is involved).
pub(crate) fn lexical(p: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(n) => out.push(n),
            _ => {}
        }
    }
    out
}

pub(crate) fn prefix_location(o: &OwnRoot<'_>) -> bool {
    matches!(o.modifier, Modifier::Prefix | Modifier::NoRegex)
}

/// The first name of `candidates` whose URL under `prefix` reaches `loc` (a regex may steal some).
pub(crate) fn reaching(
    r: &Resolver<'_>,
    o: &OwnRoot<'_>,
    prefix: &str,
    candidates: &[String],
) -> Option<String> {
    candidates
        .iter()
        .map(|c| format!("{prefix}{c}"))
        .filter(|uri| normalised(uri).as_deref() == Some(uri.as_str()))
        .find(|uri| r.location_for(o.target.server, uri) == Some(o.location))
}

/// The resolver's answer for `uri` when `o`'s location takes it and gives clients what it
/// maps to, with the path nginx opens (None: another location, a refusal, or unknown).
pub(crate) fn probe(r: &Resolver<'_>, o: &OwnRoot<'_>, uri: &str) -> Option<(Resolution, PathBuf)> {
    let (block, res, path) = opened(r, &o.target, uri)?;
    (block == o.location).then_some((res, path))
}

/// For the request target `uri` on `t`: the block that first takes it (its location, else the
/// server), the resolver's answer, and the path that block maps it to. None when that block
/// refuses clients (`deny all`, `internal`, `return`, a handler of its own) or the path is
/// unknown. An `error_page` that answers afterwards does not undo the opening.
pub(crate) fn opened(
    r: &Resolver<'_>,
    t: &Target<'_>,
    uri: &str,
) -> Option<(NodeId, Resolution, PathBuf)> {
    let u = normalised(uri)?;
    let block = r.location_for(t.server, &u).unwrap_or(t.server);
    let info = r.block_info(block)?;
    if info.internal || info.denies_all || info.handler.is_some() {
        return None;
    }
    // Only the decision is read (location, handler, path, status): no explanation is made.
    let res = r.predict_on(t.server, &request(t, uri));
    let first = res.location.unwrap_or(t.server) == block;
    if first && !serves_files(&res.handler) {
        return None;
    }
    let path = first
        .then(|| res.path.clone())
        .flatten()
        .or_else(|| r.path_for(t.server, &u))?;
    Some((block, res, path))
}

/// A handler that gives clients a file or a listing (not a refusal, a redirect or an upstream).
pub(crate) fn serves_files(h: &Handler) -> bool {
    matches!(
        h,
        Handler::Static | Handler::Index | Handler::Autoindex | Handler::TryFiles | Handler::Auth
    )
}

/// The literal start of a regex (`^/media/(.*)$` → `/media/`), for building a matching URL.
pub fn literal_prefix(pattern: &str) -> String {
    // Unanchored, the regex may match anywhere: no known start.
    let Some(p) = pattern.strip_prefix('^') else {
        return String::new();
    };
    let b: Vec<char> = p.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < b.len() {
        let (c, next) = match b[i] {
            '\\' => match b.get(i + 1) {
                Some(n) if !n.is_ascii_alphanumeric() => (*n, i + 2),
                _ => break,
            },
            '(' | '[' | '.' | '*' | '+' | '?' | '{' | '|' | '$' | ')' => break,
            c => (c, i + 1),
        };
        // A quantifier after it makes this character optional: stop before it.
        if matches!(b.get(next), Some('*' | '?' | '{')) {
            break;
        }
        out.push(c);
        i = next;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_prefixes() {
        assert_eq!(literal_prefix("^/media/(.*)$"), "/media/");
        assert_eq!(literal_prefix("^/media(.*)$"), "/media");
        assert_eq!(literal_prefix(r"^/img\.d/(.+)"), "/img.d/");
        assert_eq!(literal_prefix(r"\.(png|jpg)$"), "");
        assert_eq!(literal_prefix("^/ab?c"), "/a");
    }

    #[test]
    fn dotdot_is_resolved_lexically() {
        assert_eq!(
            lexical(Path::new("/srv/media/../app/x")),
            Path::new("/srv/app/x")
        );
    }
}
