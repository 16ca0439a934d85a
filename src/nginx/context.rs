//! Which directive may sit where: a small table of nginx's core context rules, checked once the
//! includes are linked (an included file takes the context of its `include`).
//!
//! Only the structure that media-doctor's answers depend on is known here (main, events, http,
//! server, location, if, upstream, limit_except, and the stream/mail skeleton). Any other
//! directive is accepted anywhere, as it may come from a module; inside blocks whose contents
//! are not directives (`map`, `types`, `geo`, ...) or whose kind is unknown, nothing is checked.
//! Messages are nginx's own: `"location" directive is not allowed here`, `directive "rewrite" is
//! not terminated by ";"`, `directive "http" has no opening "{"`, `unknown directive "x"`.

use super::ast::{Config, Diagnostic, FileId, NodeId};
use super::parser::MAX_DEPTH;
use std::collections::HashSet;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Ctx {
    Main,
    Events,
    Http,
    Server,
    Location,
    /// `if` in a server block (nginx's NGX_HTTP_SIF_CONF).
    ServerIf,
    /// `if` in a location (NGX_HTTP_LIF_CONF).
    LocationIf,
    Upstream,
    LimitExcept,
    Stream,
    StreamServer,
    StreamUpstream,
    Mail,
    MailServer,
    /// The top of a server-level snippet: it may be included in a server or in a location.
    Snippet,
    /// Not directives (`map`, `types`, ...) or a block we do not know: nothing is checked.
    Free,
}

use Ctx::*;

enum Verdict {
    /// A module directive we do not model: accepted.
    Unknown,
    /// A leaf, taking this many arguments.
    Leaf(u8, u8),
    /// A block opening this context, taking this many arguments.
    Block(Ctx, u8, u8),
    NotHere,
}

/// Leaf directives: where each is allowed and how many arguments nginx accepts (255: no
/// limit). Sorted by name: binary-searched for every directive of the config.
static LEAVES: &[(&str, &[Ctx], u8, u8)] = &[
    ("accept_mutex", &[Events], 1, 1),
    ("accept_mutex_delay", &[Events], 1, 1),
    (
        "access_log",
        &[
            Http,
            Server,
            Location,
            LocationIf,
            LimitExcept,
            Stream,
            StreamServer,
        ],
        1,
        255,
    ),
    ("add_header", &[Http, Server, Location, LocationIf], 2, 3),
    ("alias", &[Location], 1, 1),
    (
        "allow",
        &[Http, Server, Location, LimitExcept, Stream, StreamServer],
        1,
        1,
    ),
    ("autoindex", &[Http, Server, Location], 1, 1),
    ("break", &[Server, Location, ServerIf, LocationIf], 0, 0),
    ("client_max_body_size", &[Http, Server, Location], 1, 1),
    ("daemon", &[Main], 1, 1),
    ("default_type", &[Http, Server, Location], 1, 1),
    (
        "deny",
        &[Http, Server, Location, LimitExcept, Stream, StreamServer],
        1,
        1,
    ),
    ("disable_symlinks", &[Http, Server, Location], 1, 2),
    ("env", &[Main], 1, 1),
    (
        "error_log",
        &[
            Main,
            Http,
            Server,
            Location,
            Stream,
            StreamServer,
            Mail,
            MailServer,
        ],
        1,
        255,
    ),
    ("error_page", &[Http, Server, Location, LocationIf], 2, 255),
    ("expires", &[Http, Server, Location, LocationIf], 1, 2),
    ("fastcgi_pass", &[Location, LocationIf], 1, 1),
    ("grpc_pass", &[Location, LocationIf], 1, 1),
    ("index", &[Http, Server, Location], 1, 255),
    ("internal", &[Location], 0, 0),
    ("keepalive_timeout", &[Http, Server, Location], 1, 2),
    ("listen", &[Server, StreamServer, MailServer], 1, 255),
    ("load_module", &[Main], 1, 1),
    ("lock_file", &[Main], 1, 1),
    ("master_process", &[Main], 1, 1),
    ("multi_accept", &[Events], 1, 1),
    ("pcre_jit", &[Main], 1, 1),
    ("pid", &[Main], 1, 1),
    (
        "proxy_pass",
        &[Location, LocationIf, LimitExcept, StreamServer],
        1,
        1,
    ),
    (
        "return",
        &[Server, Location, ServerIf, LocationIf, StreamServer],
        1,
        2,
    ),
    ("rewrite", &[Server, Location, ServerIf, LocationIf], 2, 3),
    ("root", &[Http, Server, Location, LocationIf], 1, 1),
    ("scgi_pass", &[Location, LocationIf], 1, 1),
    ("sendfile", &[Http, Server, Location, LocationIf], 1, 1),
    ("server_name", &[Server, Mail, MailServer], 1, 255),
    (
        "set",
        &[Server, Location, ServerIf, LocationIf, StreamServer],
        2,
        2,
    ),
    ("ssl_engine", &[Main], 1, 1),
    ("thread_pool", &[Main], 2, 3),
    ("timer_resolution", &[Main], 1, 1),
    ("try_files", &[Server, Location], 2, 255),
    ("use", &[Events], 1, 1),
    ("user", &[Main], 1, 2),
    ("uwsgi_pass", &[Location, LocationIf], 1, 1),
    ("worker_connections", &[Events], 1, 1),
    ("worker_cpu_affinity", &[Main], 1, 255),
    ("worker_priority", &[Main], 1, 1),
    ("worker_processes", &[Main], 1, 1),
    ("worker_rlimit_nofile", &[Main], 1, 1),
    ("worker_shutdown_timeout", &[Main], 1, 1),
    ("working_directory", &[Main], 1, 1),
];

fn leaf(name: &str) -> Option<(&'static [Ctx], u8, u8)> {
    LEAVES
        .binary_search_by(|e| e.0.cmp(name))
        .ok()
        .map(|i| (LEAVES[i].1, LEAVES[i].2, LEAVES[i].3))
}

fn judge(name: &str, ctx: Ctx) -> Verdict {
    if ctx == Free {
        return Verdict::Unknown;
    }
    if ctx == Snippet {
        // Allowed in a server or in a location; blocks open as they would in a location.
        return match (judge(name, Location), judge(name, Server)) {
            (v @ (Verdict::Block(..) | Verdict::Leaf(..) | Verdict::Unknown), _) => v,
            (_, v) => v,
        };
    }
    const ANY: u8 = u8::MAX;
    let block = |inner: Ctx, allowed: &[Ctx], min: u8, max: u8| {
        if allowed.contains(&ctx) {
            Verdict::Block(inner, min, max)
        } else {
            Verdict::NotHere
        }
    };
    match name {
        "include" => Verdict::Leaf(1, 1),
        "http" => block(Http, &[Main], 0, 0),
        "events" => block(Events, &[Main], 0, 0),
        "stream" => block(Stream, &[Main], 0, 0),
        "mail" => block(Mail, &[Main], 0, 0),
        "server" => match ctx {
            Http => Verdict::Block(Server, 0, 0),
            Stream => Verdict::Block(StreamServer, 0, 0),
            Mail => Verdict::Block(MailServer, 0, 0),
            Upstream | StreamUpstream => Verdict::Leaf(1, ANY),
            _ => Verdict::NotHere,
        },
        "location" => block(Location, &[Server, Location], 1, 2),
        "if" => match ctx {
            Server => Verdict::Block(ServerIf, 1, ANY),
            Location => Verdict::Block(LocationIf, 1, ANY),
            _ => Verdict::NotHere,
        },
        "upstream" => match ctx {
            Http => Verdict::Block(Upstream, 1, 1),
            Stream => Verdict::Block(StreamUpstream, 1, 1),
            _ => Verdict::NotHere,
        },
        "map" => block(Free, &[Http, Stream], 2, 2),
        "geo" => block(Free, &[Http, Stream], 1, 2),
        "split_clients" => block(Free, &[Http, Stream], 2, 2),
        "types" => block(Free, &[Http, Server, Location], 0, 0),
        "charset_map" => block(Free, &[Http], 2, 2),
        "limit_except" => block(LimitExcept, &[Location], 1, ANY),
        _ => match leaf(name) {
            Some((allowed, min, max)) if allowed.contains(&ctx) => Verdict::Leaf(min, max),
            Some(_) => Verdict::NotHere,
            None => Verdict::Unknown,
        },
    }
}

fn arity_ok(d: &super::ast::Directive<'_>, min: u8, max: u8) -> bool {
    let n = d.arg_count();
    n >= min as usize && (max == u8::MAX || n <= max as usize)
}

/// nginx directive names are C identifiers; anything else cannot be any module's directive
/// (this is what catches a regex `{n}` read as a block, as in `[a-z]{2}`).
fn plausible_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

/// Check every directive reachable from the main file, starting in `top`. Also bounds the
/// nesting depth across includes: an include that would nest blocks deeper than MAX_DEPTH is
/// reported and unlinked, so every reader of the tree may recurse safely.
pub(crate) fn check(cfg: &mut Config, top: Ctx) {
    let mut seen: HashSet<(FileId, Ctx)> = HashSet::new();
    let mut diags = Vec::new();
    let mut unlink = Vec::new();
    // (what is left of a run of sibling ids in cfg.children, their context, block depth):
    // blocks and file tops are both such runs, so the walk allocates nothing per block.
    let mut stack: Vec<(std::ops::Range<u32>, Ctx, usize)> = Vec::new();
    let main = cfg.main;
    seen.insert((main, top));
    stack.push((cfg.files[main as usize].top.clone(), top, 0));
    while let Some((run, ctx, depth)) = stack.last_mut() {
        let Some(i) = run.next() else {
            stack.pop();
            continue;
        };
        let id: NodeId = cfg.children[i as usize];
        let (ctx, depth) = (*ctx, *depth);
        let d = cfg.directive(id);
        if d.is_include() {
            let files: Vec<FileId> = d.included_files().to_vec();
            if !files.is_empty() && depth >= MAX_DEPTH {
                diags.push(diag(cfg, id, format!(
                    "includes nest blocks more than {MAX_DEPTH} levels deep: this include is not examined"
                )));
                unlink.push(id);
                continue;
            }
            for f in files.into_iter().rev() {
                if seen.insert((f, ctx)) {
                    stack.push((cfg.files[f as usize].top.clone(), ctx, depth));
                }
            }
            continue;
        }
        let name = d.name();
        let has_block = d.has_block();
        let inner = match judge(name, ctx) {
            Verdict::Unknown => {
                if ctx != Free && !plausible_name(name) {
                    diags.push(diag(cfg, id, format!("unknown directive \"{name}\"")));
                }
                Free
            }
            Verdict::NotHere => {
                diags.push(diag(
                    cfg,
                    id,
                    format!("\"{name}\" directive is not allowed here"),
                ));
                Free
            }
            Verdict::Leaf(min, max) => {
                if has_block {
                    let msg = format!("directive \"{name}\" is not terminated by \";\"");
                    diags.push(diag(cfg, id, msg));
                } else if !arity_ok(&d, min, max) {
                    let msg = format!("invalid number of arguments in \"{name}\" directive");
                    diags.push(diag(cfg, id, msg));
                }
                Free
            }
            Verdict::Block(inner, min, max) => {
                if !has_block {
                    let msg = format!("directive \"{name}\" has no opening \"{{\"");
                    diags.push(diag(cfg, id, msg));
                } else if !arity_ok(&d, min, max) {
                    let msg = format!("invalid number of arguments in \"{name}\" directive");
                    diags.push(diag(cfg, id, msg));
                }
                inner
            }
        };
        if has_block {
            stack.push((cfg.nodes[id as usize].kids.clone(), inner, depth + 1));
        }
    }
    for id in unlink {
        let n = &mut cfg.nodes[id as usize];
        n.kids = n.kids.start..n.kids.start;
    }
    cfg.diagnostics.extend(diags);
}

fn diag(cfg: &Config, id: NodeId, message: String) -> Diagnostic {
    let d = cfg.directive(id);
    Diagnostic {
        file: d.file().to_path_buf(),
        line: d.line(),
        column: d.column(),
        message,
        fatal: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_leaf_table_is_sorted_for_binary_search() {
        assert!(LEAVES.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(leaf("alias"), Some((&[Location][..], 1, 1)));
        assert_eq!(leaf("proxy_set_header"), None);
    }
}
