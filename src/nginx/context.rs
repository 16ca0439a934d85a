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
    Leaf,
    Block(Ctx),
    NotHere,
}

/// Contexts where a leaf directive is allowed.
fn leaf_contexts(name: &str) -> Option<&'static [Ctx]> {
    Some(match name {
        "user"
        | "worker_processes"
        | "pid"
        | "worker_rlimit_nofile"
        | "load_module"
        | "daemon"
        | "master_process"
        | "env"
        | "pcre_jit"
        | "working_directory"
        | "worker_priority"
        | "worker_cpu_affinity"
        | "worker_shutdown_timeout"
        | "thread_pool"
        | "timer_resolution"
        | "lock_file"
        | "ssl_engine" => &[Main],
        "worker_connections" | "use" | "multi_accept" | "accept_mutex" | "accept_mutex_delay" => {
            &[Events]
        }
        "listen" => &[Server, StreamServer, MailServer],
        "server_name" => &[Server, MailServer],
        "alias" | "internal" => &[Location],
        "root" => &[Http, Server, Location, LocationIf],
        "try_files" => &[Server, Location],
        "rewrite" | "break" => &[Server, Location, ServerIf, LocationIf],
        "return" | "set" => &[Server, Location, ServerIf, LocationIf, StreamServer],
        "proxy_pass" => &[Location, LocationIf, LimitExcept, StreamServer],
        "fastcgi_pass" | "uwsgi_pass" | "scgi_pass" | "grpc_pass" => &[Location, LocationIf],
        "index"
        | "autoindex"
        | "client_max_body_size"
        | "default_type"
        | "disable_symlinks"
        | "keepalive_timeout" => &[Http, Server, Location],
        "error_page" | "add_header" | "expires" | "sendfile" => {
            &[Http, Server, Location, LocationIf]
        }
        "allow" | "deny" => &[Http, Server, Location, LimitExcept, Stream, StreamServer],
        "access_log" => &[
            Http,
            Server,
            Location,
            LocationIf,
            LimitExcept,
            Stream,
            StreamServer,
        ],
        "error_log" => &[
            Main,
            Http,
            Server,
            Location,
            Stream,
            StreamServer,
            Mail,
            MailServer,
        ],
        _ => return None,
    })
}

fn judge(name: &str, ctx: Ctx) -> Verdict {
    if ctx == Free {
        return Verdict::Unknown;
    }
    if ctx == Snippet {
        // Allowed in a server or in a location; blocks open as they would in a location.
        return match (judge(name, Location), judge(name, Server)) {
            (v @ (Verdict::Block(_) | Verdict::Leaf | Verdict::Unknown), _) => v,
            (_, v) => v,
        };
    }
    let block = |inner: Ctx, allowed: &[Ctx]| {
        if allowed.contains(&ctx) {
            Verdict::Block(inner)
        } else {
            Verdict::NotHere
        }
    };
    match name {
        "include" => Verdict::Leaf,
        "http" => block(Http, &[Main]),
        "events" => block(Events, &[Main]),
        "stream" => block(Stream, &[Main]),
        "mail" => block(Mail, &[Main]),
        "server" => match ctx {
            Http => Verdict::Block(Server),
            Stream => Verdict::Block(StreamServer),
            Mail => Verdict::Block(MailServer),
            Upstream | StreamUpstream => Verdict::Leaf,
            _ => Verdict::NotHere,
        },
        "location" => block(Location, &[Server, Location]),
        "if" => match ctx {
            Server => Verdict::Block(ServerIf),
            Location => Verdict::Block(LocationIf),
            _ => Verdict::NotHere,
        },
        "upstream" => match ctx {
            Http => Verdict::Block(Upstream),
            Stream => Verdict::Block(StreamUpstream),
            _ => Verdict::NotHere,
        },
        "map" | "geo" | "split_clients" => block(Free, &[Http, Stream]),
        "types" => block(Free, &[Http, Server, Location]),
        "charset_map" => block(Free, &[Http]),
        "limit_except" => block(LimitExcept, &[Location]),
        _ => match leaf_contexts(name) {
            Some(allowed) if allowed.contains(&ctx) => Verdict::Leaf,
            Some(_) => Verdict::NotHere,
            None => Verdict::Unknown,
        },
    }
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
    // (node ids still to visit, their context, block depth)
    let mut stack: Vec<(Vec<NodeId>, usize, Ctx, usize)> = Vec::new();
    let main = cfg.main;
    seen.insert((main, top));
    stack.push((file_top(cfg, main), 0, top, 0));
    while let Some((ids, i, ctx, depth)) = stack.last_mut() {
        let Some(&id) = ids.get(*i) else {
            stack.pop();
            continue;
        };
        *i += 1;
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
                    stack.push((file_top(cfg, f), 0, ctx, depth));
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
            Verdict::Leaf => {
                if has_block {
                    diags.push(diag(
                        cfg,
                        id,
                        format!("directive \"{name}\" is not terminated by \";\""),
                    ));
                }
                Free
            }
            Verdict::Block(inner) => {
                if !has_block {
                    diags.push(diag(
                        cfg,
                        id,
                        format!("directive \"{name}\" has no opening \"{{\""),
                    ));
                }
                inner
            }
        };
        if has_block {
            let kids: Vec<NodeId> = cfg.directive(id).raw_children().map(|c| c.id()).collect();
            if !kids.is_empty() {
                stack.push((kids, 0, inner, depth + 1));
            }
        }
    }
    for id in unlink {
        let n = &mut cfg.nodes[id as usize];
        n.kids = n.kids.start..n.kids.start;
    }
    cfg.diagnostics.extend(diags);
}

fn file_top(cfg: &Config, f: FileId) -> Vec<NodeId> {
    cfg.file_raw_top(f).map(|d| d.id()).collect()
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
