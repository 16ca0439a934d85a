//! Which directive may sit where: a small table of nginx's core context rules, checked once the
//! includes are linked (an included file takes the context of its `include`).
//!
//! Only the structure that media-doctor's answers depend on is known here (main, events, http,
//! server, location, if, upstream, limit_except, and the stream/mail skeleton). Any other
//! directive of nginx's own modules (`directives::NGINX`) is accepted anywhere; inside blocks
//! whose contents are not directives (`map`, `types`, `geo`, ...) or whose kind is unknown,
//! nothing is checked. A name nginx's modules do not have, where directives are judged, is
//! nginx's `unknown directive` unless a third-party module provides it: a warning that says so
//! (none for the names of the modules distributions ship: `directives::module_of`); a name no
//! module can have is an error. Messages are nginx's own: `"location" directive is not allowed
//! here`, `directive "rewrite" is not terminated by ";"`, `directive "http" has no opening "{"`,
//! `unknown directive "x"`.

use super::ast::{Config, Diagnostic, Node, NodeId, MAX_DEPTH};

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
    /// A directive we do not model (nginx's, or a module's): accepted.
    Unknown,
    /// A leaf, taking this many arguments.
    Leaf(u8, u8),
    /// A block opening this context, taking this many arguments.
    Block(Ctx, u8, u8),
    NotHere,
}

/// What we know of a directive.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    /// A leaf allowed in these contexts, taking min..=max arguments (255: no limit).
    Leaf(&'static [Ctx], u8, u8),
    /// A block whose contents are not directives (`map`, `types`...): contexts, arguments.
    Opaque(&'static [Ctx], u8, u8),
    Include,
    Http,
    Events,
    Stream,
    Mail,
    Server,
    Location,
    If,
    Upstream,
    LimitExcept,
}

/// Every directive we know, sorted by name.
static KNOWN: &[(&str, Kind)] = &[
    ("accept_mutex", Kind::Leaf(&[Events], 1, 1)),
    ("accept_mutex_delay", Kind::Leaf(&[Events], 1, 1)),
    (
        "add_header",
        Kind::Leaf(&[Http, Server, Location, LocationIf], 2, 3),
    ),
    ("alias", Kind::Leaf(&[Location], 1, 1)),
    ("autoindex", Kind::Leaf(&[Http, Server, Location], 1, 1)),
    (
        "break",
        Kind::Leaf(&[Server, Location, ServerIf, LocationIf], 0, 0),
    ),
    ("charset_map", Kind::Opaque(&[Http], 2, 2)),
    (
        "client_max_body_size",
        Kind::Leaf(&[Http, Server, Location], 1, 1),
    ),
    ("daemon", Kind::Leaf(&[Main], 1, 1)),
    ("default_type", Kind::Leaf(&[Http, Server, Location], 1, 1)),
    (
        "disable_symlinks",
        Kind::Leaf(&[Http, Server, Location], 1, 2),
    ),
    ("env", Kind::Leaf(&[Main], 1, 1)),
    (
        "error_page",
        Kind::Leaf(&[Http, Server, Location, LocationIf], 2, 255),
    ),
    ("events", Kind::Events),
    (
        "expires",
        Kind::Leaf(&[Http, Server, Location, LocationIf], 1, 2),
    ),
    ("fastcgi_pass", Kind::Leaf(&[Location, LocationIf], 1, 1)),
    ("geo", Kind::Opaque(&[Http, Stream], 1, 2)),
    ("grpc_pass", Kind::Leaf(&[Location, LocationIf], 1, 1)),
    ("http", Kind::Http),
    ("if", Kind::If),
    ("include", Kind::Include),
    ("index", Kind::Leaf(&[Http, Server, Location], 1, 255)),
    ("internal", Kind::Leaf(&[Location], 0, 0)),
    (
        "keepalive_timeout",
        Kind::Leaf(&[Http, Server, Location], 1, 2),
    ),
    ("limit_except", Kind::LimitExcept),
    (
        "listen",
        Kind::Leaf(&[Server, StreamServer, MailServer], 1, 255),
    ),
    ("load_module", Kind::Leaf(&[Main], 1, 1)),
    ("location", Kind::Location),
    ("lock_file", Kind::Leaf(&[Main], 1, 1)),
    ("mail", Kind::Mail),
    ("map", Kind::Opaque(&[Http, Stream], 2, 2)),
    ("master_process", Kind::Leaf(&[Main], 1, 1)),
    ("multi_accept", Kind::Leaf(&[Events], 1, 1)),
    ("pcre_jit", Kind::Leaf(&[Main], 1, 1)),
    ("pid", Kind::Leaf(&[Main], 1, 1)),
    (
        "rewrite",
        Kind::Leaf(&[Server, Location, ServerIf, LocationIf], 2, 3),
    ),
    (
        "root",
        Kind::Leaf(&[Http, Server, Location, LocationIf], 1, 1),
    ),
    ("scgi_pass", Kind::Leaf(&[Location, LocationIf], 1, 1)),
    (
        "sendfile",
        Kind::Leaf(&[Http, Server, Location, LocationIf], 1, 1),
    ),
    ("server", Kind::Server),
    (
        "server_name",
        Kind::Leaf(&[Server, Mail, MailServer], 1, 255),
    ),
    ("split_clients", Kind::Opaque(&[Http, Stream], 2, 2)),
    ("ssl_engine", Kind::Leaf(&[Main], 1, 1)),
    ("stream", Kind::Stream),
    ("thread_pool", Kind::Leaf(&[Main], 2, 3)),
    ("timer_resolution", Kind::Leaf(&[Main], 1, 1)),
    ("try_files", Kind::Leaf(&[Server, Location], 2, 255)),
    ("types", Kind::Opaque(&[Http, Server, Location], 0, 0)),
    ("upstream", Kind::Upstream),
    ("use", Kind::Leaf(&[Events], 1, 1)),
    ("user", Kind::Leaf(&[Main], 1, 2)),
    ("uwsgi_pass", Kind::Leaf(&[Location, LocationIf], 1, 1)),
    ("worker_connections", Kind::Leaf(&[Events], 1, 1)),
    ("worker_cpu_affinity", Kind::Leaf(&[Main], 1, 255)),
    ("worker_priority", Kind::Leaf(&[Main], 1, 1)),
    ("worker_processes", Kind::Leaf(&[Main], 1, 1)),
    ("worker_rlimit_nofile", Kind::Leaf(&[Main], 1, 1)),
    ("worker_shutdown_timeout", Kind::Leaf(&[Main], 1, 1)),
    ("working_directory", Kind::Leaf(&[Main], 1, 1)),
];

/// A directive name's class, kept on its node (`Node::class`): the parser classifies each name
/// once, while its text is in cache, so the context check reads nodes only.
pub(crate) type Class = u8;
/// A directive of nginx's own modules we do not model: accepted anywhere.
const CLASS_OTHER: Class = 0;
/// A name no module can have (see `plausible_name`).
const CLASS_IMPLAUSIBLE: Class = u8::MAX;
/// A name nginx's own modules do not have (`directives::NGINX`): only a third-party module can
/// give it.
const CLASS_FOREIGN: Class = u8::MAX - 1;
// Known names are 1 + their index in KNOWN.
const _: () = assert!(KNOWN.len() < CLASS_FOREIGN as usize - 1);

/// What the loader's rules know of a name, kept on its node (`Node::rule`): see
/// `rules::rule_of`. 0: nothing.
pub(crate) type Rule = u16;

/// Every name either table knows (KNOWN here, the rules' own in `rules`, nginx's others in
/// `directives::NGINX`), with its class and rule, found by one lookup: the parser asks it for
/// each directive it makes. Slots are keyed by the name's length and three of its bytes; a slot
/// lists its names (rarely more than one).
struct Names {
    /// For each slot, its entries: `entries[heads[k]..heads[k + 1]]`.
    heads: Vec<u16>,
    /// (name, class, rule); a known name's `NameId` is its index here.
    entries: Vec<(&'static str, Class, Rule)>,
}

/// A directive's name as the parser found it, kept on its node instead of the name's text,
/// class and rule: a known name's index in the names table, or, for any other name (whose
/// text is then the node's first word), `UNKNOWN` plus what its class and rule are
/// (`UNKNOWN_IMPLAUSIBLE`, `UNKNOWN_DATA`: `rules::rule_of_unknown` gives no other rule).
/// Below 2^14: a node keeps two flags beside it.
pub(crate) type NameId = u16;
const UNKNOWN: NameId = 0x3FFC;
const UNKNOWN_IMPLAUSIBLE: NameId = 2;
const UNKNOWN_DATA: NameId = 1;

const SLOT_BITS: u32 = 12;

fn slot(n: &[u8]) -> usize {
    let len = n.len();
    let h = (len as u32)
        .wrapping_mul(0x9E37_79B1)
        .wrapping_add((n[0] as u32).wrapping_mul(0x85EB_CA6B))
        .wrapping_add((n[len - 1] as u32).wrapping_mul(0xC2B2_AE35))
        .wrapping_add((n[len / 2] as u32).wrapping_mul(0x27D4_EB2F));
    (h >> (32 - SLOT_BITS)) as usize
}

fn names() -> &'static Names {
    static NAMES: std::sync::OnceLock<Names> = std::sync::OnceLock::new();
    NAMES.get_or_init(|| {
        let mut all: Vec<(&'static str, Class, Rule)> = KNOWN
            .iter()
            .enumerate()
            .map(|(i, (n, _))| (*n, i as Class + 1, super::rules::rule_of(n)))
            .collect();
        let mut others: Vec<&'static str> = super::rules::names_with_rules()
            .chain(super::directives::NGINX.iter().copied())
            .filter(|n| !KNOWN.iter().any(|(k, _)| k == n))
            .collect();
        others.sort_unstable();
        others.dedup();
        // nginx's own names (the rules' are all nginx's: `directives` tests it).
        all.extend(
            others
                .into_iter()
                .map(|n| (n, CLASS_OTHER, super::rules::rule_of(n))),
        );
        all.sort_by_key(|(n, _, _)| slot(n.as_bytes()));
        let mut heads = vec![0u16; (1 << SLOT_BITS) + 1];
        for (n, _, _) in &all {
            heads[slot(n.as_bytes()) + 1] += 1;
        }
        for k in 1..heads.len() {
            heads[k] += heads[k - 1];
        }
        assert!(all.len() < UNKNOWN as usize);
        Names {
            heads,
            entries: all,
        }
    })
}

/// The class and rule of a name (`classify`, `rules::rule_of`) in one lookup.
pub(crate) fn classify_name(name: &str) -> (Class, Rule) {
    let id = name_id(name);
    (class_of(id), rule_of_id(id))
}

/// `a == b` for slices of one length, by words (a name is compared per directive parsed; the
/// library's comparison is a call for the few bytes of a directive name).
#[inline(always)]
pub(crate) fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    let word = |s: &[u8], i: usize| u64::from_le_bytes(s[i..i + 8].try_into().unwrap_or([0; 8]));
    let half = |s: &[u8], i: usize| u32::from_le_bytes(s[i..i + 4].try_into().unwrap_or([0; 4]));
    if n >= 8 {
        let mut i = 0;
        while i + 8 < n {
            if word(a, i) != word(b, i) {
                return false;
            }
            i += 8;
        }
        word(a, n - 8) == word(b, n - 8)
    } else if n >= 4 {
        half(a, 0) == half(b, 0) && half(a, n - 4) == half(b, n - 4)
    } else {
        a == b
    }
}

/// The `NameId` of a directive name (the parser asks it for each directive it makes).
pub(crate) fn name_id(name: &str) -> NameId {
    let b = name.as_bytes();
    if b.is_empty() {
        return UNKNOWN + UNKNOWN_IMPLAUSIBLE;
    }
    let t = names();
    let k = slot(b);
    let first = t.heads[k] as usize;
    for (i, &(n, ..)) in t.entries[first..t.heads[k + 1] as usize].iter().enumerate() {
        if n.len() == b.len() && same_bytes(n.as_bytes(), b) {
            return (first + i) as NameId;
        }
    }
    let mut id = UNKNOWN;
    if classify_unknown(name) == CLASS_IMPLAUSIBLE {
        id += UNKNOWN_IMPLAUSIBLE;
    }
    if super::rules::rule_of_unknown(name) != 0 {
        id += UNKNOWN_DATA;
    }
    id
}

/// Whether a name is known (else its text is the node's first word).
#[inline]
pub(crate) fn is_known(id: NameId) -> bool {
    id < UNKNOWN
}

/// The text of a known name (None: the name is the node's first word).
#[inline]
pub(crate) fn known_name(id: NameId) -> Option<&'static str> {
    names().entries.get(id as usize).map(|e| e.0)
}

/// The class of a name, by id (see `classify`).
#[inline]
pub(crate) fn class_of(id: NameId) -> Class {
    match names().entries.get(id as usize) {
        Some(e) => e.1,
        None if id.wrapping_sub(UNKNOWN) & UNKNOWN_IMPLAUSIBLE != 0 => CLASS_IMPLAUSIBLE,
        None => CLASS_FOREIGN,
    }
}

/// The rule of a name, by id (see `rules::rule_of`).
#[inline]
pub(crate) fn rule_of_id(id: NameId) -> Rule {
    match names().entries.get(id as usize) {
        Some(e) => e.2,
        None if id.wrapping_sub(UNKNOWN) & UNKNOWN_DATA != 0 => super::rules::RULE_DATA,
        None => 0,
    }
}

/// The class of a name in no table.
fn classify_unknown(name: &str) -> Class {
    if plausible_name(name) {
        CLASS_FOREIGN
    } else {
        CLASS_IMPLAUSIBLE
    }
}

/// The rule for a name: KNOWN's entry (1 + its index) when it has one.
#[cfg(test)]
fn lookup_index(name: &str) -> Option<usize> {
    match classify_name(name).0 {
        CLASS_OTHER | CLASS_IMPLAUSIBLE | CLASS_FOREIGN => None,
        c => Some(c as usize - 1),
    }
}

pub(crate) fn classify(name: &str) -> Class {
    classify_name(name).0
}

fn judge(class: Class, ctx: Ctx) -> Verdict {
    if ctx == Free {
        return Verdict::Unknown;
    }
    if ctx == Snippet {
        // Allowed in a server or in a location; blocks open as they would in a location.
        return match (judge(class, Location), judge(class, Server)) {
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
    let kind = match class {
        CLASS_OTHER | CLASS_IMPLAUSIBLE | CLASS_FOREIGN => return Verdict::Unknown,
        known => KNOWN[known as usize - 1].1,
    };
    match kind {
        Kind::Leaf(allowed, min, max) => {
            if allowed.contains(&ctx) {
                Verdict::Leaf(min, max)
            } else {
                Verdict::NotHere
            }
        }
        Kind::Opaque(allowed, min, max) => block(Free, allowed, min, max),
        Kind::Include => Verdict::Leaf(1, 1),
        Kind::Http => block(Http, &[Main], 0, 0),
        Kind::Events => block(Events, &[Main], 0, 0),
        Kind::Stream => block(Stream, &[Main], 0, 0),
        Kind::Mail => block(Mail, &[Main], 0, 0),
        Kind::Server => match ctx {
            Http => Verdict::Block(Server, 0, 0),
            Stream => Verdict::Block(StreamServer, 0, 0),
            Mail => Verdict::Block(MailServer, 0, 0),
            Upstream | StreamUpstream => Verdict::Leaf(1, ANY),
            _ => Verdict::NotHere,
        },
        Kind::Location => block(Location, &[Server, Location], 1, 2),
        Kind::If => match ctx {
            Server => Verdict::Block(ServerIf, 1, ANY),
            Location => Verdict::Block(LocationIf, 1, ANY),
            _ => Verdict::NotHere,
        },
        Kind::Upstream => match ctx {
            Http => Verdict::Block(Upstream, 1, 1),
            Stream => Verdict::Block(StreamUpstream, 1, 1),
            _ => Verdict::NotHere,
        },
        Kind::LimitExcept => block(LimitExcept, &[Location], 1, ANY),
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
    let (diags, unlink) = judge_tree(cfg, top);
    apply(cfg, diags, &unlink);
}

/// `check` without touching the config: its diagnostics, and the includes to unlink (`apply`).
/// Read-only, so that the loader's other rules can read the tree at the same time.
pub(crate) fn judge_tree(cfg: &Config, top: Ctx) -> (Vec<Diagnostic>, Vec<NodeId>) {
    // Which contexts each file was checked in (a bit per `Ctx`).
    let mut seen = vec![0u32; cfg.files.len()];
    let main = cfg.main;
    seen[main as usize] |= 1 << top as u32;
    judge_run(cfg, cfg.files[main as usize].top.clone(), top, 0, seen)
}

/// `judge_tree` of one `server` block of the http context only (its directives, and the files
/// they include judged in their context as if met here first): the fix prover's copy with one
/// server's text replaced (`nginx::overlay`). `depth` is the block's own depth. None when the
/// block is not a server nginx takes in `http`.
pub(crate) fn judge_server(
    cfg: &Config,
    server: NodeId,
    depth: usize,
) -> Option<(Vec<Diagnostic>, Vec<NodeId>)> {
    let node = &cfg.nodes[server as usize];
    match judge(class_of(node.name()), Ctx::Http) {
        Verdict::Block(inner, ..) if node.has_block() => Some(judge_run(
            cfg,
            node.kids.clone(),
            inner,
            depth + 1,
            vec![0u32; cfg.files.len()],
        )),
        _ => None,
    }
}

/// The walk of `judge_tree` from one run of sibling ids in `ctx` at `depth`.
fn judge_run(
    cfg: &Config,
    run: std::ops::Range<u32>,
    ctx: Ctx,
    depth: usize,
    mut seen: Vec<u32>,
) -> (Vec<Diagnostic>, Vec<NodeId>) {
    let mut diags = Vec::new();
    let mut unlink = Vec::new();
    // (what is left of a run of sibling ids in cfg.children, their context, block depth):
    // blocks and file tops are both such runs, so the walk allocates nothing per block.
    let mut stack: Vec<(std::ops::Range<u32>, Ctx, usize)> = Vec::new();
    stack.push((run, ctx, depth));
    while let Some((run, ctx, depth)) = stack.last_mut() {
        let Some(i) = run.next() else {
            stack.pop();
            continue;
        };
        let id: NodeId = cfg.children[i as usize];
        let (ctx, depth) = (*ctx, *depth);
        let d = cfg.directive(id);
        if d.is_include() {
            let files = d.included_files();
            if !files.is_empty() && depth >= MAX_DEPTH {
                diags.push(diag(cfg, id, format!(
                    "includes nest blocks more than {MAX_DEPTH} levels deep: this include is not examined"
                )));
                unlink.push(id);
                continue;
            }
            for &f in files.iter().rev() {
                let bit = 1 << ctx as u32;
                if seen[f as usize] & bit == 0 {
                    seen[f as usize] |= bit;
                    stack.push((cfg.files[f as usize].top.clone(), ctx, depth));
                }
            }
            continue;
        }
        let node = &cfg.nodes[id as usize];
        let has_block = node.has_block();
        let class = class_of(node.name());
        // The name is read only to word a diagnostic.
        let name = || d.name();
        let inner = match judge(class, ctx) {
            Verdict::Unknown => {
                if ctx != Free && class == CLASS_IMPLAUSIBLE {
                    let name = name();
                    diags.push(diag(cfg, id, format!("unknown directive \"{name}\"")));
                } else if ctx != Free && class == CLASS_FOREIGN {
                    let name = name();
                    if super::directives::module_of(name).is_none() {
                        let mut w = diag(cfg, id, foreign(name));
                        w.fatal = false;
                        diags.push(w);
                    }
                }
                Free
            }
            Verdict::NotHere => {
                let name = name();
                diags.push(diag(
                    cfg,
                    id,
                    format!("\"{name}\" directive is not allowed here"),
                ));
                Free
            }
            Verdict::Leaf(min, max) => {
                if has_block {
                    let msg = format!("directive \"{}\" is not terminated by \";\"", name());
                    diags.push(diag(cfg, id, msg));
                } else if !arity_ok(&d, min, max) {
                    let msg = format!("invalid number of arguments in \"{}\" directive", name());
                    diags.push(diag(cfg, id, msg));
                }
                Free
            }
            Verdict::Block(inner, min, max) => {
                if !has_block {
                    let msg = format!("directive \"{}\" has no opening \"{{\"", name());
                    diags.push(diag(cfg, id, msg));
                } else if !arity_ok(&d, min, max) {
                    let msg = format!("invalid number of arguments in \"{}\" directive", name());
                    diags.push(diag(cfg, id, msg));
                }
                inner
            }
        };
        if has_block {
            stack.push((cfg.nodes[id as usize].kids.clone(), inner, depth + 1));
        }
    }
    (diags, unlink)
}

/// What `judge_tree` found, applied: the includes unlinked, the diagnostics added.
pub(crate) fn apply(cfg: &mut Config, diags: Vec<Diagnostic>, unlink: &[NodeId]) {
    for &id in unlink {
        cfg.nodes[id as usize].link_include_set(Node::NO_FILES);
    }
    cfg.diagnostics.extend(diags);
}

/// The warning for a name nginx's own modules do not have (nginx -t: `unknown directive "x"`).
fn foreign(name: &str) -> String {
    format!("unknown directive \"{name}\": nginx refuses it unless a module provides it")
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
    fn every_known_name_is_found_and_no_other() {
        assert!(KNOWN.windows(2).all(|w| w[0].0 < w[1].0));
        for (i, (name, _)) in KNOWN.iter().enumerate() {
            assert_eq!(lookup_index(name), Some(i), "{name}");
            assert_eq!(classify(name), i as Class + 1, "{name}");
        }
        let alias = classify("alias");
        assert_eq!(KNOWN[alias as usize - 1].1, Kind::Leaf(&[Location], 1, 1));
        for other in ["proxy_set_header", "", "a", "aliaz", "ser_ver", "ifx"] {
            assert_eq!(lookup_index(other), None, "{other}");
        }
        assert_eq!(classify("proxy_set_header"), CLASS_OTHER);
        for implausible in ["", "[a-z]", "^/a", "x-y"] {
            assert_eq!(classify(implausible), CLASS_IMPLAUSIBLE, "{implausible}");
        }
    }

    #[test]
    fn a_name_id_keeps_the_name_class_and_rule() {
        let mut known: Vec<&str> = KNOWN.iter().map(|k| k.0).collect();
        known.extend(super::super::rules::names_with_rules());
        for name in known {
            let id = name_id(name);
            assert!(is_known(id), "{name}");
            assert_eq!(known_name(id), Some(name));
            assert_eq!(class_of(id), classify(name), "{name}");
            assert_eq!(rule_of_id(id), super::super::rules::rule_of(name), "{name}");
        }
        // Names in no table: their class and rule still come back from the id alone.
        for name in [
            "",
            "x-y",
            "my_module_directive",
            "foo_by_lua_block",
            "[a]_block",
        ] {
            let id = name_id(name);
            assert!(!is_known(id) && known_name(id).is_none(), "{name}");
            assert_eq!(class_of(id), classify_unknown(name), "{name}");
            assert_eq!(
                rule_of_id(id),
                super::super::rules::rule_of_unknown(name),
                "{name}"
            );
        }
        assert_ne!(rule_of_id(name_id("foo_by_lua_block")), 0);
        assert_eq!(class_of(name_id("x-y")), CLASS_IMPLAUSIBLE);
    }

    #[test]
    fn word_comparison_is_byte_comparison() {
        let base: Vec<u8> = (0..40u8).map(|i| b'a' + i % 26).collect();
        for n in 0..base.len() {
            let a = &base[..n];
            assert!(same_bytes(a, a));
            assert!(!same_bytes(a, &base[..n + 1]));
            for i in 0..n {
                let mut b = a.to_vec();
                b[i] ^= 0x20;
                assert!(!same_bytes(a, &b), "{n} {i}");
            }
        }
        // Every known name finds itself, and only itself.
        for (n, _) in KNOWN {
            assert_eq!(lookup_index(n).map(|i| KNOWN[i].0), Some(*n));
        }
    }
}
