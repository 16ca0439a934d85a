//! Questions the checks ask of the model that are not one request: which directory a URL
//! prefix is served from, the path a location maps a URI to, every directory served from disk.

use super::*;
use crate::nginx::resolve::conf::{AliasKind, BlockIdx};
use crate::nginx::resolve::files::Files;
use crate::nginx::resolve::location::{Found, MatchCtx, Modifier};
use crate::nginx::resolve::regex::Captures;
use crate::nginx::resolve::server::validate_host;
use crate::nginx::resolve::{Handler, Request, Resolver, Served, ServedKind};
use crate::nginx::NodeId;
use std::borrow::Cow;
use std::collections::HashMap;
use std::path::PathBuf;

/// Named captures as the location phase leaves them: (lower-case name, value).
type NamedCaptures = Vec<(String, Vec<u8>)>;

/// The location `uri` matches in `server`, with what the match captured (numbered and named):
/// the questions below ask it as a request's location phase would, without its errors.
fn find_location(
    r: &Resolver<'_>,
    server: NodeId,
    uri: &str,
) -> (Found, Option<Captures>, NamedCaptures) {
    let mut captures = None;
    let mut named = Vec::new();
    let mut errors = Vec::new();
    let found = r.locations.find(
        r.server_locations(server),
        uri.as_bytes(),
        &mut MatchCtx {
            captures: &mut captures,
            named: &mut named,
            errors: &mut errors,
        },
    );
    (found, captures, named)
}

pub(in crate::nginx::resolve) fn served_prefix(
    r: &Resolver<'_>,
    server: NodeId,
    prefix: &str,
) -> Option<Served> {
    const PROBE: &str = "md-probe";
    let uri = format!("{}{PROBE}", prefix);
    let (found, captures, named) = find_location(r, server, &uri);
    let (block, location) = match found {
        Found::Location(l) => (r.locations.locs[l].block(), Some(r.locations.locs[l].node)),
        Found::AutoRedirect(_) | Found::Failed(_) => return None,
        Found::None => (r.blocks.of(server)?, None),
    };
    let conf = &r.blocks.get(block).conf;
    if conf.handler.is_some() || location.is_some_and(|l| returns_unconditionally(r, l)) {
        return None;
    }
    let path = path_for(r, server, block, uri.as_bytes(), captures, named)?;
    let dir = path.strip_suffix(PROBE)?.to_string();
    Some(Served {
        server,
        location,
        prefix: prefix.to_string(),
        dir: PathBuf::from(dir),
        kind: match conf.root.alias() {
            AliasKind::Root => ServedKind::Root,
            _ => ServedKind::Alias,
        },
    })
}

/// The path nginx builds for `uri` in `block` (no rewrite, no try_files), as a string.
pub(super) fn path_for(
    r: &Resolver<'_>,
    server: NodeId,
    block: BlockIdx,
    uri: &[u8],
    captures: Option<Captures>,
    named: Vec<(String, Vec<u8>)>,
) -> Option<String> {
    let req = Request::for_path("localhost", 80, &String::from_utf8_lossy(uri));
    let server_block = r.blocks.of(server)?;
    let mut run = Run {
        r,
        explain: false,
        req: &req,
        files: Files {
            root: r.inputs.root,
            cache: r.walk_cache(),
            explain: false,
            who: Err("not used".into()),
        },
        server,
        server_block,
        server_name: r.names_of(server).next().unwrap_or(""),
        host: validate_host(&req.host_header).unwrap_or_default(),
        uri: uri.to_vec(),
        args: Vec::new(),
        quoted: false,
        plus: false,
        method: Cow::Borrowed("GET"),
        internal: false,
        uri_changes: URI_CHANGES,
        uri_changed: false,
        valid_location: true,
        add_uri_to_alias: false,
        error_page: false,
        err_status: 0,
        captures,
        named,
        set_vars: HashMap::new(),
        conf: block,
        location: None,
        content_handler: None,
        handler: Handler::Static,
        reason: String::new(),
        path: None,
        walk: None,
        first: None,
        strict_vars: true,
        subrequest: false,
        redirect: None,
        log: Vec::new(),
        steps: Vec::new(),
        notes: Vec::new(),
    };
    // No request runs the scripts here: follow the `set`s every request runs (those of the
    // server, then of the location, outside any `if`), in order. A variable only set elsewhere
    // stays unknown (strict_vars): the path is unknown, never built with an empty value.
    let location_script = Some(r.blocks.get(block))
        .filter(|b| b.kind() == crate::nginx::resolve::conf::BlockKind::Location)
        .and_then(|b| b.node());
    for owner in std::iter::once(server).chain(location_script) {
        let Some(script) = r.scripts.get(&owner) else {
            continue;
        };
        for op in script.iter().filter(|op| op.kind == rewrite::OpKind::Set) {
            let d = r.config().directive(op.id);
            let (Some(var), Some(val)) = (d.arg(0), d.arg(1)) else {
                continue;
            };
            if let Ok(v) = run.eval(val) {
                // Kept lower-case, as `Run::var` reads them (nginx's names are case-insensitive).
                run.set_vars
                    .insert(var.trim_start_matches('$').to_ascii_lowercase(), v);
            }
        }
    }
    let p = run.map_uri_to_path().ok()?;
    Some(String::from_utf8_lossy(&p).into_owned())
}

pub(in crate::nginx::resolve) fn mapped_path(
    r: &Resolver<'_>,
    server: NodeId,
    uri: &str,
) -> Option<PathBuf> {
    let (found, captures, named) = find_location(r, server, uri);
    let block = match found {
        Found::Location(l) | Found::AutoRedirect(l) => r.locations.locs[l].block(),
        Found::None => r.blocks.of(server)?,
        Found::Failed(_) => return None,
    };
    path_for(r, server, block, uri.as_bytes(), captures, named).map(PathBuf::from)
}

/// The location `uri` matches in `server` (as `Resolver::location_for`) with what the match
/// captured, for `path_of_match`: a check that asks both matches once.
pub(in crate::nginx::resolve) fn location_match(
    r: &Resolver<'_>,
    server: NodeId,
    uri: &str,
) -> Option<super::super::LocationMatch> {
    let (found, captures, named) = find_location(r, server, uri);
    match found {
        Found::Location(l) | Found::AutoRedirect(l) => Some(super::super::LocationMatch {
            node: r.locations.locs[l].node,
            block: r.locations.locs[l].block(),
            captures,
            named,
        }),
        Found::None | Found::Failed(_) => None,
    }
}

/// `mapped_path` of the location `m` that `uri` matched.
pub(in crate::nginx::resolve) fn path_of_match(
    r: &Resolver<'_>,
    server: NodeId,
    uri: &str,
    m: super::super::LocationMatch,
) -> Option<PathBuf> {
    path_for(r, server, m.block, uri.as_bytes(), m.captures, m.named).map(PathBuf::from)
}

pub(in crate::nginx::resolve) fn path_in_block(
    r: &Resolver<'_>,
    server: NodeId,
    location: NodeId,
    uri: &str,
) -> Option<PathBuf> {
    let block = r.blocks.of(location)?;
    path_for(r, server, block, uri.as_bytes(), None, Vec::new()).map(PathBuf::from)
}

pub(super) fn returns_unconditionally(r: &Resolver<'_>, location: NodeId) -> bool {
    r.config()
        .directive(location)
        .children()
        .any(|d| d.is("return"))
}

pub(in crate::nginx::resolve) fn static_locations(r: &Resolver<'_>) -> Vec<Served> {
    let mut out: Vec<Served> = Vec::new();
    // One entry per directory, the first in config order; a set, not a scan of `out`: a big
    // config serves tens of thousands of directories.
    let mut seen: std::collections::HashSet<PathBuf> = std::collections::HashSet::new();
    each_static_location(r, &mut |served| {
        if seen.insert(served.dir.clone()) {
            out.push(served);
        }
    });
    out
}

/// Every location of the resolver's servers that serves files from disk, in config order, with
/// its directory, handed over as it is found: `static_locations` keeps the first of each
/// directory in a list, `served::served_dirs` in its compact entries (it was made from that
/// list: one site of 360,000 servers held them all, ~150 bytes each, to make 20-byte entries).
pub(in crate::nginx::resolve) fn each_static_location(
    r: &Resolver<'_>,
    each: &mut dyn FnMut(Served),
) {
    for server in r.servers().iter().copied() {
        for loc in r.locations_of(server) {
            let Some(block) = r.blocks.of(loc) else {
                continue;
            };
            let conf = &r.blocks.get(block).conf;
            if conf.handler.is_some() || returns_unconditionally(r, loc) {
                continue;
            }
            let Some((modifier, name)) = r.location_pattern(loc) else {
                continue;
            };
            let kind = match conf.root.alias() {
                AliasKind::Root => ServedKind::Root,
                _ => ServedKind::Alias,
            };
            let dir = match (modifier, conf.root.alias()) {
                (Modifier::Regex | Modifier::RegexCaseless | Modifier::Named, AliasKind::Root)
                | (Modifier::Regex | Modifier::RegexCaseless | Modifier::Named, AliasKind::Regex) =>
                {
                    // The whole root may be reached; for a regex alias, its fixed part.
                    let v = r.blocks.root_value(&conf.root, r.config());
                    let fixed = v.split('$').next().unwrap_or(v);
                    if fixed.is_empty() {
                        continue;
                    }
                    fixed.to_string()
                }
                _ => match path_for(r, server, block, name.as_bytes(), None, Vec::new()) {
                    Some(p) if !p.contains('$') => p,
                    _ => continue,
                },
            };
            each(Served {
                server,
                location: Some(loc),
                prefix: name,
                dir: PathBuf::from(dir),
                kind,
            });
        }
    }
}
