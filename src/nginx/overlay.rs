//! The fix prover's edited copy of a configuration made from the unedited copy it already
//! loaded, when the edit lies inside one `server` block of the http context: the server's new
//! text is parsed alone and spliced over the old one (the other servers, the main file and the
//! snippets are the unedited copy's, cloned, never parsed again), and only the rules `nginx -t`
//! applies inside that server are asked again.
//!
//! It is the configuration the loader makes of the edited dump (the unedited dump with the
//! server's text replaced), node for node, file, line and column (tested against it, in
//! `fix::prove`), whenever it is made at all: anything the splice cannot vouch for gives None,
//! and the copy is loaded whole instead:
//!
//! - the new text must parse alone, without a diagnostic, into one `server` block (then it
//!   parses the same in place: it is all of the block's text, its braces balanced);
//! - its `listen` and `server_name` lines are the old ones (every model of the copy shares the
//!   unedited copy's server index), it includes what the old block included (each include is
//!   linked to the files the old one's argument matched), and it declares the variables the
//!   old block declared (so does the config, then);
//! - no diagnostic of the unedited copy names a place in the server's file (those move with
//!   the lines after the server), and nothing is nested near `MAX_DEPTH`.
//!
//! What `nginx -t` refuses in the copy and not in the unedited one can then only lie in the
//! server block (everything outside it reads the same, at places that only moved): the
//! diagnostics returned are the block's own, in the loader's reading order.

use super::ast::{ConfigKind, Directive, MAX_DEPTH};
use super::parser::{self, IncludeArgs, Placement, Scratch};
use super::{Config, Diagnostic, NodeId};
use std::collections::{HashMap, HashSet};

/// The variables a config declares, worked out once (for the unknown-variable rule).
pub(crate) type Declared = super::rules::Declared;

/// A copy with one server's text replaced.
pub struct Overlay {
    pub config: Config,
    /// What the loader's rules refuse or warn of inside the server block (and in what it
    /// includes, read there), in reading order.
    pub diagnostics: Vec<Diagnostic>,
}

/// `base` with the text of `server` (`old_lines` long in `base`'s dump) replaced by `text`
/// (the whole block, written where the old one stood); `declared`: `base`'s declared
/// variables (worked out here from `base` when not yet). None: see the module comment.
pub(crate) fn splice_server(
    base: &Config,
    server: NodeId,
    old_lines: usize,
    text: &str,
    declared: &Declared,
) -> Option<Overlay> {
    splice(base, server, server, old_lines, text, declared)
}

/// `splice_server` of a `location` block of `server` (at any depth under it, in the server's own
/// text): only the location's text (`text`, the whole block at its depth, `old_lines` long in
/// `base`'s dump) is parsed and put in place of the old one, head and all; the rules are asked
/// again of the whole server, as after `splice_server`. The same copy as `splice_server` of the
/// server's text with that location rewritten, node for node (tested in `fix::prove`), for a
/// sixth of the parsing: the fix prover's edits are mostly a location's (MD105's `^~`, MD110's
/// header, MD101's slash).
pub(crate) fn splice_location(
    base: &Config,
    server: NodeId,
    location: NodeId,
    old_lines: usize,
    text: &str,
    declared: &Declared,
) -> Option<Overlay> {
    let l = base.directive(location);
    if location == server || !l.is("location") || !l.has_block() {
        return None;
    }
    splice(base, server, location, old_lines, text, declared)
}

/// `splice_server` with `block` (the server itself, or a location of its text) replaced.
fn splice(
    base: &Config,
    server: NodeId,
    block: NodeId,
    old_lines: usize,
    text: &str,
    declared: &Declared,
) -> Option<Overlay> {
    // An overlay of an overlay: one block of a config may have its words moved (`moved_words`).
    if base.implicit_server.is_some()
        || base.moved_words.is_some()
        || !matches!(base.kind, Some(ConfigKind::Main | ConfigKind::HttpFragment))
    {
        return None;
    }
    let old = base.directive(server);
    if !old.is("server") || !old.has_block() || old.arg_count() != 0 {
        return None;
    }
    // The block replaced: the server, or one of its locations (in the server's own file).
    let old_block = base.directive(block);
    if old_block.file_id() != old.file_id() {
        return None;
    }
    let file = old.file_id();
    let path = old.file().to_path_buf();
    let named = path.display().to_string();
    if base
        .diagnostics
        .iter()
        .any(|d| d.message.contains(&named) || d.message.starts_with("includes nest blocks"))
    {
        return None;
    }
    // The include arguments of the old block's own text, and the file set each links to.
    let mut sets: HashMap<&str, u32> = HashMap::new();
    let mut stack: Vec<Directive<'_>> = old_block.raw_children().collect();
    while let Some(d) = stack.pop() {
        if d.is_include() {
            let (Some(arg), 1) = (d.arg(0), d.arg_count()) else {
                return None;
            };
            let set = base.nodes[d.id() as usize].kids.start;
            if *sets.entry(arg).or_insert(set) != set {
                return None;
            }
        }
        stack.extend(d.raw_children());
    }

    let mut c = base.clone();
    let (n0, d0) = (c.nodes.len(), c.diagnostics.len());
    let mut words = std::mem::take(&mut c.text);
    let mut args = IncludeArgs::default();
    let mut scratch = Scratch::default();
    let at = Placement {
        text: &mut words,
        include_args: &mut args,
        scratch: &mut scratch,
        want_top_names: false,
    };
    let parsed = parser::parse_file(&mut c, file, &path, text, at);
    c.text = words;
    if c.diagnostics.len() != d0 || parsed.top.len() != 1 {
        return None;
    }
    let new = parsed.top[0];
    // The new text starts on the old block's line.
    let shift = old_block.line() - 1;
    for n in &mut c.nodes[n0..] {
        n.line += shift;
    }
    for e in c.block_ends.iter_mut().filter(|e| e.0 as usize >= n0) {
        e.1 += shift;
    }
    {
        let d = c.directive(new);
        let same_kind = if block == server {
            d.is("server") && d.arg_count() == 0
        } else {
            d.is("location")
        };
        if !same_kind || !d.has_block() || d.column() != old_block.column() {
            return None;
        }
    }
    let mut linked: HashSet<&str> = HashSet::new();
    for &(node, arg) in &parsed.includes {
        let name = args.names.get(arg? as usize)?.as_str();
        let set = *sets.get(name)?;
        c.nodes[node as usize].link_include_set(set);
        linked.insert(name);
    }
    if linked.len() != sets.len() {
        return None;
    }
    c.nodes[block as usize].kids = c.nodes[new as usize].kids.clone();
    // A location's head may be rewritten (`location ^~ /media/`); a server's has no argument.
    c.moved_words = Some((block, c.node_words(new)));

    let spliced = c.directive(server);
    // The variables the server's text declares stay when the replaced block's do (a location
    // that declares others than before loads the copy).
    let declares = |d: &Directive<'_>| super::variables::declared_in_block(d);
    if heads(&old) != heads(&spliced)
        || declares(&old_block) != declares(&c.directive(block))
        || spliced
            .descendants()
            .any(|(depth, _)| depth + 8 > MAX_DEPTH / 2)
    {
        return None;
    }

    // The lines after the block in its file move by what the text gained or lost.
    let old_end = old_block.line() as i64 + old_lines as i64 - 1;
    let delta = text.lines().count() as i64 - old_lines as i64;
    if delta != 0 {
        let moved = |line: &mut u32| {
            if *line as i64 > old_end {
                *line = (*line as i64 + delta) as u32;
            }
        };
        let runs: Vec<_> = c.file_runs().filter(|(f, _)| *f == file).collect();
        for (_, nodes) in runs {
            for n in &mut c.nodes[nodes.start as usize..(nodes.end as usize).min(n0)] {
                moved(&mut n.line);
            }
        }
        let ends = std::mem::take(&mut c.block_ends);
        c.block_ends = ends
            .into_iter()
            .map(|(node, mut line)| {
                if (node as usize) < n0 && c.file_of(node) == file {
                    moved(&mut line);
                }
                (node, line)
            })
            .collect();
    }

    // The block sits in http at depth 1 (a fragment's at 0: deeper is the safe side).
    let (mut diagnostics, unlink) = super::context::judge_server(&c, server, 1)?;
    if !unlink.is_empty() {
        return None;
    }
    super::variables::declared_once(base, declared);
    diagnostics.extend(super::rules::check_server(&c, server, 1, declared));
    // The loader's order: by file (as loaded), then place; the same place in the order found.
    if diagnostics.len() < 2 {
        return Some(Overlay {
            config: c,
            diagnostics,
        });
    }
    let order: HashMap<&std::path::Path, usize> = c
        .files
        .iter()
        .enumerate()
        .map(|(i, f)| (f.path.as_path(), i))
        .collect();
    diagnostics.sort_by_key(|d| {
        (
            order.get(d.file.as_path()).copied().unwrap_or(usize::MAX),
            d.line,
            d.column,
        )
    });
    Some(Overlay {
        config: c,
        diagnostics,
    })
}

/// A server's `listen` and `server_name` lines, includes expanded: what its socket and names
/// are read from.
fn heads<'c>(server: &Directive<'c>) -> Vec<Vec<&'c str>> {
    server
        .children()
        .filter(|c| c.is("listen") || c.is("server_name"))
        .map(|c| std::iter::once(c.name()).chain(c.args()).collect())
        .collect()
}
