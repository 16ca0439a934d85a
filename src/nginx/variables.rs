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
/// each given to `found` (the rules ask this of every path directive: most name no variable).
pub(super) fn named_in_to<'c>(d: &Directive<'c>, mut found: impl FnMut(&'c str)) {
    let Some((from, last)) = compiled_args(d.name()) else {
        return;
    };
    let n = d.args().len();
    let args = d
        .args()
        .enumerate()
        .filter(|&(i, _)| i >= from && (!last || i + 1 == n))
        .map(|(_, a)| a);
    let mut out = Vec::new();
    for a in args.filter(|a| a.bytes().any(|c| c == b'$')) {
        names(a, &mut out);
        out.drain(..).for_each(&mut found);
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

/// The variables the named groups of a regex declare (`(?<name>`, `(?P<name>`, `(?'name'`),
/// lower-case: nginx adds each as a variable, and variable names are case-insensitive
/// (`(?<Name>...)` is read as `$name`, `$Name` or `$NAME`). The loader's unknown-variable rule and
/// the resolver's declared variables both read them here.
pub(crate) fn named_groups(pattern: &str, out: &mut HashSet<String>) {
    for opener in ["(?<", "(?P<", "(?'"] {
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
fn declared(cfg: &Config) -> HashSet<String> {
    let mut out: HashSet<String> = HashSet::new();
    let mut stack: Vec<Directive<'_>> = cfg.top().collect();
    while let Some(d) = stack.pop() {
        let name = d.name();
        // Named captures: in any regex (a location's, `rewrite`'s, `if`'s, a map key...).
        for a in d.args().chain(std::iter::once(name)) {
            if a.contains("(?") {
                named_groups(a, &mut out);
            }
        }
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
        stack.extend(d.children());
    }
    out
}

/// The names of `found` (directive, variable as written) nginx refuses as unknown.
pub(super) fn unknown<'c>(
    cfg: &Config,
    found: Vec<(Directive<'c>, &'c str)>,
) -> Vec<(Directive<'c>, &'c str)> {
    let mut declared_vars: Option<HashSet<String>> = None;
    let mut out = Vec::new();
    for (d, v) in found {
        let low = v.to_ascii_lowercase();
        if builtin(&low) {
            continue;
        }
        if declared_vars
            .get_or_insert_with(|| declared(cfg))
            .contains(&low)
        {
            continue;
        }
        out.push((d, v));
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
}
