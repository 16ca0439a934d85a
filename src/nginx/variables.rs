//! Variables nginx does not know: `alias ${MEDIA_ROOT}/;` left by a docker template that was
//! never rendered, or `$undefined_var`. nginx compiles the variables of a directive's value
//! when it reads the config and refuses an unknown one at the end (`unknown "media_root"
//! variable`, with no file:line: `nginx -t` fails and does not say where). Names are
//! case-insensitive (`${MEDIA_ROOT}` is `$media_root`).
//!
//! Only the directives that name a request's paths and upstreams are read (`alias`, `root`,
//! `try_files`, `proxy_pass` and the other `*_pass`: `PATHS`) and those that make its answer
//! (`return`, `rewrite`, `error_page`, `add_header`: `VALUES`), never a regex nor a directive
//! that takes `$` as text (`error_log`, `include`, `listen`). A name
//! is known when nginx or one of its modules defines it (the variable index of nginx.org, every
//! module, so a build with fewer modules is not judged), by a prefix (`$http_`, `$arg_`...), or
//! when the config declares it (`set`, `map`, `geo`, a named capture, a module's `js_set`...).

use super::ast::{Config, Directive};
use std::collections::HashSet;

/// The directives read for unknown variables: those that name the paths and upstreams of a
/// request (each taken once per block, so the loader's rules find them by their rule).
pub(super) const PATHS: &[&str] = &[
    "root",
    "alias",
    "try_files",
    "proxy_pass",
    "fastcgi_pass",
    "uwsgi_pass",
    "scgi_pass",
    "grpc_pass",
];

/// The repeatable directives read for unknown variables: those that make a request's answer
/// (found by their rule's own bit, as they may repeat).
pub(super) const VALUES: &[&str] = &["add_header", "error_page", "return", "rewrite"];

/// Which arguments of `name` nginx compiles as a value with variables: from the `from`th, the
/// last one only when `last`. None for a directive not read here.
pub(super) fn compiled_args(name: &str) -> Option<(usize, bool)> {
    Some(match name {
        "root" | "alias" | "try_files" | "index" | "return" | "proxy_pass" | "fastcgi_pass"
        | "uwsgi_pass" | "scgi_pass" | "grpc_pass" | "access_log" => (0, false),
        "rewrite" | "set" | "add_header" | "proxy_set_header" | "fastcgi_param" | "uwsgi_param"
        | "scgi_param" => (1, false),
        "error_page" => (0, true),
        _ => return None,
    })
}

/// The variables `d`'s compiled arguments name (as written), when `d` is a directive read here,
/// each given to `found` (the rules ask this of every path directive: most name no variable,
/// so each argument is first searched for a `$`, read straight from the arena).
pub(super) fn named_in_to<'c>(d: &Directive<'c>, mut found: impl FnMut(&'c str)) {
    let Some((from, last)) = compiled_args(d.name()) else {
        return;
    };
    let cfg = d.config();
    let words = cfg.arg_words(d.id());
    let n = words.len();
    // From the `from`th argument; only the last one when `last` (and it is past `from`).
    let from = if last {
        from.max(n.saturating_sub(1))
    } else {
        from
    };
    let mut out = Vec::new();
    for i in words.skip(from.min(n)) {
        let a = cfg.word_str(i);
        if a.as_bytes().contains(&b'$') {
            names(a, &mut out);
            out.drain(..).for_each(&mut found);
        }
    }
}

/// The variable names of a value, as `ngx_http_script_compile` reads them: `$name`, `${name}`
/// (`$1`..`$9` are captures, a `$` without a name is text). The resolver's `vars::parts` reads
/// templates the same way; this layer is below it.
fn names<'a>(template: &'a str, out: &mut Vec<&'a str>) {
    let b = template.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'$' {
            i += 1;
            continue;
        }
        i += 1;
        if i < b.len() && (b'1'..=b'9').contains(&b[i]) {
            i += 1;
            continue;
        }
        if i < b.len() && b[i] == b'{' {
            i += 1;
        }
        let start = i;
        while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
            i += 1;
        }
        if i > start {
            out.push(&template[start..i]);
        }
    }
}

/// How a named group opens in PCRE.
const OPENERS: [&str; 3] = ["(?<", "(?P<", "(?'"];

/// The variables the named groups of a regex declare (`(?<name>`, `(?P<name>`, `(?'name'`),
/// lower-case: nginx adds each as a variable, and variable names are case-insensitive
/// (`(?<Name>...)` is read as `$name`, `$Name` or `$NAME`). The loader's unknown-variable rule and
/// the resolver's declared variables both read them here.
pub(crate) fn named_groups(pattern: &str, out: &mut HashSet<String>) {
    for opener in OPENERS {
        let mut rest = pattern;
        while let Some(i) = rest.find(opener) {
            rest = &rest[i + opener.len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            // `(?<=` and `(?<!` are lookbehinds, not names.
            if !name.is_empty() {
                out.insert(name.to_ascii_lowercase());
            }
        }
    }
}

/// The variables nginx and its modules define (nginx.org's variable index; lower-case).
#[rustfmt::skip]
const BUILTIN: &[&str] = &[
    "ancient_browser", "args", "binary_remote_addr", "body_bytes_sent", "brotli_ratio",
    "bytes_received", "bytes_sent", "connection", "connection_requests", "connection_time",
    "connections_active", "connections_reading", "connections_waiting", "connections_writing",
    "content_length", "content_type", "date_gmt", "date_local", "document_root", "document_uri",
    "fastcgi_path_info", "fastcgi_script_name", "gzip_ratio", "host", "hostname", "http2",
    "http3", "https", "invalid_referer", "is_args", "limit_conn_status", "limit_rate",
    "limit_req_status", "memcached_key", "modern_browser", "msec", "msie", "nginx_version",
    "pid", "pipe", "proxy_add_x_forwarded_for", "proxy_host", "proxy_port", "query_string",
    "quic", "realip_remote_addr", "realip_remote_port", "realpath_root", "remote_addr",
    "remote_port", "remote_user", "request", "request_body", "request_body_file",
    "request_completion", "request_filename", "request_id", "request_length", "request_method",
    "request_time", "request_uri", "scheme", "secure_link", "secure_link_expires",
    "server_addr", "server_name", "server_port", "server_protocol", "session_log_binary_id",
    "session_log_id", "slice_range", "spdy", "spdy_request_priority", "status",
    "tcpinfo_rcv_space", "tcpinfo_rtt", "tcpinfo_rttvar", "tcpinfo_snd_cwnd", "time_iso8601",
    "time_local", "uid_got", "uid_reset", "uid_set", "uri", "zstd_ratio",
];

/// Prefixes of variable families (`$http_x_token`, `$ssl_client_s_dn`, a module's own).
const PREFIXES: &[&str] = &[
    "arg_",
    "cookie_",
    "http_",
    "sent_http_",
    "sent_trailer_",
    "upstream_",
    "ssl_",
    "proxy_protocol_",
    "jwt_",
    "geoip_",
    "geoip2_",
    "otel_",
    "app_protect_",
    "mqtt_",
];

fn builtin(name: &str) -> bool {
    BUILTIN.binary_search(&name).is_ok() || PREFIXES.iter().any(|p| name.starts_with(p))
}

/// Every variable `cfg` declares, lower-case: `set` and a module's like it (`perl_set`, `js_set`,
/// `auth_request_set`: a first argument `$name`), `map` and `split_clients`, `geo`, a `$name`
/// directive (a `geoip2` block's), and named captures of any regex.
///
/// Each parsed directive is read once, in node order, if its file is reached from the entry
/// file: the set is the same as a walk from the top with includes expanded, without reading a
/// snippet again for every server that includes it (the 10,000-site config: 843,000 visits
/// for the directives of one `trace`). Only the few directives that can declare anything are
/// looked at closely.
fn declared(cfg: &Config) -> HashSet<String> {
    use super::context::{class_of, classify};
    let mut out: HashSet<String> = HashSet::new();
    let reached = cfg.reached_files();
    let text = cfg.text.as_bytes();
    let captures = Captures::in_text(text);
    // The directives that declare by name (the parser classified every name).
    let by_name = [classify("map"), classify("split_clients"), classify("geo")];
    let dollar = |w: Option<u32>| {
        w.map(|i| cfg.word(i))
            .is_some_and(|r| r.start < r.end && text.get(r.start as usize) == Some(&b'$'))
    };
    let runs = cfg.file_runs().filter(|(file, _)| reached[*file as usize]);
    for id in runs.flat_map(|(_, nodes)| nodes) {
        let node = &cfg.nodes[id as usize];
        let d = cfg.directive(id);
        let words = cfg.node_words(id);
        // Named captures: in the regexes nginx registers them from (a location's, `rewrite`'s,
        // `if`'s, a map key...), in the name too (`~^/(?<x>.*)$ 1;` in a map is a directive
        // named so: not a known name, so its first word). The name is read only where an
        // opener may be.
        if let Some(captures) = &captures {
            if words.clone().any(|i| captures.maybe_in(&cfg.word(i)))
                && registers_captures(d.name())
            {
                for i in words.clone() {
                    let r = cfg.word(i);
                    if captures.maybe_in(&r) {
                        named_groups(cfg.str_at(&r), &mut out);
                    }
                }
            }
        }
        // What `declared_by` reads: a `$` name or first argument, or map/split_clients/geo.
        let first_arg = cfg.arg_words(id).next();
        let unknown_name = words
            .clone()
            .next()
            .filter(|_| !super::context::is_known(node.name()));
        if dollar(unknown_name) || dollar(first_arg) || by_name.contains(&class_of(node.name())) {
            declared_by(&d, &mut out);
        }
    }
    out
}

/// Whether nginx registers the named captures of a directive's regexes as variables
/// (ngx_http_regex_compile with its variables): `location`, `server_name`, `rewrite`, `if`,
/// `proxy_redirect`, `proxy_cookie_*` and a map's keys (directives named `~…`). Held to real
/// `nginx -t` (1.22): a named capture of `valid_referers`, `gzip_disable`,
/// `fastcgi_split_path_info` or `proxy_hide_header` declares nothing (`unknown "x" variable`).
pub(crate) fn registers_captures(directive: &str) -> bool {
    matches!(
        directive,
        "location"
            | "server_name"
            | "rewrite"
            | "if"
            | "proxy_redirect"
            | "proxy_cookie_domain"
            | "proxy_cookie_path"
            | "proxy_cookie_flags"
    ) || directive.starts_with('~')
}

/// Where `named_groups`' openers are in the arena's text, by 64-byte stretch: a quick no for
/// the words that hold none (nearly all: searching each word for `(?` was most of a `trace`'s
/// unknown-variable rule).
struct Captures {
    /// Bit `i`: an opener starts in `text[64 * i..64 * (i + 1)]`.
    chunks: Vec<u64>,
}

impl Captures {
    /// None when the text holds no opener at all (most configs).
    fn in_text(text: &[u8]) -> Option<Captures> {
        let mut chunks = Vec::new();
        // Every opener starts `(?`: one pass over the text for that, then the bytes after it.
        for at in memchr::memmem::find_iter(text, b"(?") {
            let after = text.get(at + 2..).unwrap_or(&[]);
            if !OPENERS
                .iter()
                .any(|o| after.starts_with(&o.as_bytes()[2..]))
            {
                continue;
            }
            let i = at / 64;
            if chunks.len() <= i / 64 {
                chunks.resize(i / 64 + 1, 0);
            }
            chunks[i / 64] |= 1 << (i % 64);
        }
        (!chunks.is_empty()).then_some(Captures { chunks })
    }

    /// Whether the word at `r` may hold an opener (false: it holds none).
    fn maybe_in(&self, r: &std::ops::Range<u32>) -> bool {
        if r.end < r.start + 3 {
            return false;
        }
        let (first, last) = (r.start as usize / 64, (r.end as usize - 1) / 64);
        (first..last + 1).any(|i| {
            self.chunks
                .get(i / 64)
                .is_some_and(|c| c & (1 << (i % 64)) != 0)
        })
    }
}

/// What one directive declares with its name or arguments (see `declared`; named captures
/// are read there).
fn declared_by(d: &Directive<'_>, out: &mut HashSet<String>) {
    let name = d.name();
    let n = d.args().len();
    // Any directive but a consumer read here (and `if`) whose first argument is a variable
    // may declare it: `set`, `perl_set`, `js_set`, `mruby_set_code`, `set_by_lua`... Too
    // many is only quieter; `map $uri $x` declares no `$uri`, which is built in anyway.
    let first = (name == "set" || (name != "if" && compiled_args(name).is_none()))
        .then(|| d.arg(0))
        .flatten();
    let other = match name {
        "map" | "split_clients" => d.arg(1),
        "geo" => n.checked_sub(1).and_then(|i| d.arg(i)),
        _ if name.starts_with('$') => Some(name),
        _ => None,
    };
    for v in [first, other].into_iter().flatten() {
        if let Some(v) = v.strip_prefix('$') {
            out.insert(v.to_ascii_lowercase());
        }
    }
}

/// The variables one block declares, its own directive and the directives of its text (what it
/// includes not read): every one `declared` finds there, and those the resolver finds
/// (`resolve::vars::declared_variables`: `set` and named captures, a regex location's head's
/// too). The fix prover's copy with one server's text (or one location's) replaced declares what
/// the config did when the two are the same before and after (`nginx::overlay`; what the block
/// includes is the same files either way).
pub(crate) fn declared_in_block(block: &Directive<'_>) -> (HashSet<String>, HashSet<String>) {
    declared_under(vec![*block])
}

/// The variables these directives and what is written under them declare.
fn declared_under(mut stack: Vec<Directive<'_>>) -> (HashSet<String>, HashSet<String>) {
    let (mut all, mut set) = (HashSet::new(), HashSet::new());
    while let Some(d) = stack.pop() {
        stack.extend(d.raw_children());
        let name = d.name();
        if registers_captures(name) {
            for a in d.args().chain(std::iter::once(name)) {
                if memchr::memmem::find(a.as_bytes(), b"(?").is_some() {
                    named_groups(a, &mut all);
                    named_groups(a, &mut set);
                }
            }
        }
        let arg0 = d.arg(0);
        if name == "set" {
            if let Some(v) = arg0.and_then(|a| a.strip_prefix('$')) {
                set.insert(v.to_ascii_lowercase());
            }
        }
        // What `declared` hands `declared_by`.
        if name.starts_with('$')
            || arg0.is_some_and(|a| a.starts_with('$'))
            || matches!(name, "map" | "split_clients" | "geo")
        {
            declared_by(&d, &mut all);
        }
    }
    (all, set)
}

/// `declared`, worked out once (see `rules::Declared`).
pub(super) fn declared_once<'d>(
    cfg: &Config,
    once: &'d super::rules::Declared,
) -> &'d HashSet<String> {
    once.get_or_init(|| declared(cfg))
}

/// The names of `found` (directive, variable as written) nginx refuses as unknown.
pub(super) fn unknown<'c>(
    cfg: &Config,
    found: Vec<(Directive<'c>, &'c str)>,
    declared_vars: &super::rules::Declared,
) -> Vec<(Directive<'c>, &'c str)> {
    // A few names are used over and over (`$uri` in every server): each is judged once.
    let mut known: crate::fnv::FnvMap<&str, bool> = Default::default();
    let mut out = Vec::new();
    for (d, v) in found {
        let known = *known.entry(v).or_insert_with(|| {
            let low = v.to_ascii_lowercase();
            builtin(&low) || declared_once(cfg, declared_vars).contains(&low)
        });
        if !known {
            out.push((d, v));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_read_as_nginx_reads_them() {
        let mut out = Vec::new();
        names("/srv/${MEDIA_ROOT}/$1/$uri$ x$-y${a}b", &mut out);
        assert_eq!(out, vec!["MEDIA_ROOT", "uri", "a"]);
    }

    #[test]
    fn the_table_is_sorted_for_binary_search() {
        assert!(BUILTIN.windows(2).all(|w| w[0] < w[1]));
    }

    /// `declared` as it was: a walk from the top, includes expanded (each snippet read again
    /// for every includer), with the same rule per directive.
    fn declared_by_walking(cfg: &Config) -> HashSet<String> {
        let mut out: HashSet<String> = HashSet::new();
        let mut stack: Vec<Directive<'_>> = cfg.top().collect();
        while let Some(d) = stack.pop() {
            if registers_captures(d.name()) {
                for a in d.args().chain(std::iter::once(d.name())) {
                    if a.contains("(?") {
                        named_groups(a, &mut out);
                    }
                }
            }
            declared_by(&d, &mut out);
            stack.extend(d.children());
        }
        out
    }

    #[test]
    fn the_compiled_arguments_are_read_for_variables() {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(
            t.path().join("x.conf"),
            "error_page 404 /x$a.html; error_page $b 404 /e; rewrite ^$z /$c last; \
             add_header X-$y $d; return 301 $e; root /$f${g}$1; listen $h;",
        )
        .unwrap();
        let cfg = crate::nginx::loader::load_files(
            &crate::sysroot::SysRoot::new(t.path()),
            std::path::Path::new("/x.conf"),
        )
        .unwrap();
        let mut seen = Vec::new();
        for (_, d) in cfg.depth_first() {
            named_in_to(&d, |v| seen.push(format!("{} {v}", d.name())));
        }
        assert_eq!(
            seen,
            [
                "error_page a",
                "rewrite c",
                "add_header d",
                "return e",
                "root f",
                "root g"
            ]
        );
    }

    #[test]
    fn declared_reads_each_node_once_what_a_walk_from_the_top_reads() {
        let t = tempfile::tempdir().unwrap();
        let write = |rel: &str, text: &str| std::fs::write(t.path().join(rel), text).unwrap();
        // leaf.conf is included 201 blocks deep: unlinked by the depth check, so what it sets
        // is not declared; b.conf and a.conf include each other (the cycle is cut).
        let deep = format!("{}include leaf.conf;{}", "b {".repeat(150), "}".repeat(150));
        write("deep.conf", &deep);
        write("leaf.conf", "set $from_leaf 1;");
        write("a.conf", "include b.conf; set $From_A 1;");
        write(
            "b.conf",
            "include a.conf; location ~ ^/(?<Name>x)(?P<two>y)(?'three'z) { }",
        );
        let main = format!(
            "http {{ map $uri $Mapped {{ default 1; }} split_clients $a $split {{ }}\n\
             geo $remote_addr $geo_v {{ }} geoip2 /db {{ $country default=x country; }}\n\
             include a.conf; server {{ include a.conf; set $s 1; perl_set $perl 'sub {{}}'; \
             if ($x) {{ }} root $r; valid_referers ~(?<rf>x); }} }}\nevents {{ }}\n{}{}{}",
            "c {".repeat(60),
            "include deep.conf;",
            "}".repeat(60)
        );
        write("nginx.conf", &main);
        let cfg = crate::nginx::loader::load_files(
            &crate::sysroot::SysRoot::new(t.path()),
            std::path::Path::new("/nginx.conf"),
        )
        .unwrap();
        assert!(cfg.diagnostics.iter().any(|d| d
            .message
            .contains("levels deep: this include is not examined")));
        let fast = declared(&cfg);
        assert_eq!(fast, declared_by_walking(&cfg));
        for v in [
            "mapped", "split", "geo_v", "country", "from_a", "name", "two", "three", "s", "perl",
        ] {
            assert!(fast.contains(v), "{v}: {fast:?}");
        }
        // valid_referers' regexes register no capture (nginx -t: unknown "rf" variable).
        for v in ["from_leaf", "x", "r", "rf"] {
            assert!(!fast.contains(v), "{v}: {fast:?}");
        }
        // Without any named capture in the text, the capture gate is closed: the same answer.
        write("b.conf", "include a.conf; location ~ ^/(?:x) { }");
        let cfg = crate::nginx::loader::load_files(
            &crate::sysroot::SysRoot::new(t.path()),
            std::path::Path::new("/nginx.conf"),
        )
        .unwrap();
        assert_eq!(declared(&cfg), declared_by_walking(&cfg));
    }
}
