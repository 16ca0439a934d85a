//! What `nginx -t` refuses beyond syntax and where a directive may sit (`context`): the rules
//! nginx applies while it reads the blocks, in nginx's own words, at the file:line it names.
//!
//! - a directive given twice in one block where nginx takes it once (`"try_files" directive is
//!   duplicate`; root and alias share one: `"alias" directive is duplicate, "root" directive was
//!   specified earlier`). `NON_REPEATABLE` is nginx's own directive table read for the
//!   directives whose handler refuses a second value: the `ngx_conf_set_*_slot` handlers that
//!   do (flag, str, num, size, off, msec, sec, enum, path) and the modules' own handlers that
//!   return "is duplicate" whatever the arguments (nginx's src/http, src/core/nginx.c,
//!   src/event/ngx_event.c). Left out: directives that append (`add_header`, `index`,
//!   `error_page`, `allow`, `set`, `ssl_certificate`...) and those duplicate only for the same
//!   argument (`limit_req` of one zone, `proxy_redirect off` after others, `mirror off`);
//! - `a duplicate listen 0.0.0.0:80`: one server listening twice on one address;
//! - `a duplicate default server for 0.0.0.0:80`: two servers claiming `default_server` there;
//! - `no servers are inside upstream`: an `upstream {}` without `server`;
//! - `no "ssl_certificate" is defined for the "listen ... ssl" directive in FILE:LINE`: a server
//!   listening with `ssl` with no certificate of its own nor from `http {}` (and no
//!   `ssl_reject_handshake on`). In a fragment, `http {}` is not in view: a warning.
//!
//! nginx stops at the first error; these are all reported.

use super::ast::{Config, ConfigKind, Diagnostic, Directive};
use std::collections::HashSet;

/// Directives nginx takes once per block (see the module comment for how the list was made).
#[rustfmt::skip]
const NON_REPEATABLE: &[&str] = &[
    "absolute_redirect", "accept_mutex", "accept_mutex_delay", "add_after_body",
    "add_before_body", "add_header_inherit", "add_trailer_inherit", "aio", "aio_write", "alias",
    "auth_basic_user_file", "auth_delay", "auth_request", "autoindex", "autoindex_exact_size",
    "autoindex_format", "autoindex_localtime", "charset", "chunked_transfer_encoding",
    "client_body_buffer_size", "client_body_in_file_only", "client_body_in_single_buffer",
    "client_body_temp_path", "client_body_timeout", "client_header_buffer_size",
    "client_header_timeout", "client_max_body_size", "connection_pool_size",
    "create_full_put_path", "daemon", "debug_points", "default_type", "degrade", "directio",
    "directio_alignment", "disable_symlinks", "etag", "events", "expires", "fastcgi_buffer_size",
    "fastcgi_buffering", "fastcgi_busy_buffers_size", "fastcgi_cache",
    "fastcgi_cache_background_update", "fastcgi_cache_key", "fastcgi_cache_lock",
    "fastcgi_cache_lock_age", "fastcgi_cache_lock_timeout", "fastcgi_cache_max_range_offset",
    "fastcgi_cache_min_uses", "fastcgi_cache_revalidate", "fastcgi_connect_timeout",
    "fastcgi_force_ranges", "fastcgi_ignore_client_abort", "fastcgi_index",
    "fastcgi_intercept_errors", "fastcgi_keep_conn", "fastcgi_max_temp_file_size",
    "fastcgi_next_upstream_timeout", "fastcgi_next_upstream_tries", "fastcgi_pass",
    "fastcgi_pass_request_body", "fastcgi_pass_request_headers", "fastcgi_read_timeout",
    "fastcgi_request_buffering", "fastcgi_send_lowat", "fastcgi_send_timeout",
    "fastcgi_socket_keepalive", "fastcgi_socket_rcvbuf", "fastcgi_socket_sndbuf",
    "fastcgi_store", "fastcgi_temp_file_write_size", "fastcgi_temp_path", "geoip_city",
    "geoip_country", "geoip_org", "geoip_proxy_recursive", "grpc_buffer_size",
    "grpc_connect_timeout", "grpc_intercept_errors", "grpc_next_upstream_timeout",
    "grpc_next_upstream_tries", "grpc_pass", "grpc_read_timeout", "grpc_send_timeout",
    "grpc_socket_keepalive", "grpc_socket_rcvbuf", "grpc_socket_sndbuf",
    "grpc_ssl_certificate_cache", "grpc_ssl_ciphers", "grpc_ssl_crl", "grpc_ssl_password_file",
    "grpc_ssl_server_name", "grpc_ssl_session_reuse", "grpc_ssl_trusted_certificate",
    "grpc_ssl_verify", "grpc_ssl_verify_depth", "gunzip", "gzip", "gzip_comp_level", "gzip_hash",
    "gzip_http_version", "gzip_min_length", "gzip_no_buffer", "gzip_static", "gzip_vary",
    "gzip_window", "http", "http2", "http2_body_preread_size", "http2_chunk_size",
    "http2_max_concurrent_streams", "http2_pool_size", "http2_recv_buffer_size",
    "http2_streams_index_size", "http3", "http3_hq", "http3_max_concurrent_streams",
    "http3_stream_buffer_size", "if_modified_since", "ignore_invalid_headers",
    "image_filter_buffer", "image_filter_interlace", "image_filter_transparency", "internal",
    "keepalive", "keepalive_min_timeout", "keepalive_requests", "keepalive_time",
    "keepalive_timeout", "limit_conn_dry_run", "limit_conn_log_level", "limit_conn_status",
    "limit_except", "limit_req_dry_run", "limit_req_log_level", "limit_req_status",
    "lingering_close", "lingering_time", "lingering_timeout", "lock_file", "log_not_found",
    "log_subrequest", "map_hash_bucket_size", "map_hash_max_size", "master_process",
    "max_headers", "max_ranges", "memcached_buffer_size", "memcached_connect_timeout",
    "memcached_gzip_flag", "memcached_next_upstream_timeout", "memcached_next_upstream_tries",
    "memcached_pass", "memcached_read_timeout", "memcached_send_timeout",
    "memcached_socket_keepalive", "merge_slashes", "min_delete_depth", "mirror_request_body",
    "mp4_buffer_size", "mp4_max_buffer_size", "mp4_start_key_frame", "msie_padding",
    "msie_refresh", "multi_accept", "open_file_cache", "open_file_cache_errors",
    "open_file_cache_events", "open_file_cache_min_uses", "open_file_cache_valid",
    "open_log_file_cache", "override_charset", "pcre_jit", "pid", "port_in_redirect",
    "post_action", "postpone_gzipping", "postpone_output", "proxy_buffer_size",
    "proxy_buffering", "proxy_busy_buffers_size", "proxy_cache", "proxy_cache_background_update",
    "proxy_cache_convert_head", "proxy_cache_key", "proxy_cache_lock", "proxy_cache_lock_age",
    "proxy_cache_lock_timeout", "proxy_cache_max_range_offset", "proxy_cache_min_uses",
    "proxy_cache_revalidate", "proxy_connect_timeout", "proxy_force_ranges",
    "proxy_headers_hash_bucket_size", "proxy_headers_hash_max_size", "proxy_http_version",
    "proxy_ignore_client_abort", "proxy_intercept_errors", "proxy_max_temp_file_size",
    "proxy_next_upstream_timeout", "proxy_next_upstream_tries", "proxy_pass",
    "proxy_pass_request_body", "proxy_pass_request_headers", "proxy_pass_trailers",
    "proxy_read_timeout", "proxy_request_buffering", "proxy_send_lowat", "proxy_send_timeout",
    "proxy_set_body", "proxy_socket_keepalive", "proxy_socket_rcvbuf", "proxy_socket_sndbuf",
    "proxy_ssl_certificate_cache", "proxy_ssl_ciphers", "proxy_ssl_crl",
    "proxy_ssl_password_file", "proxy_ssl_server_name", "proxy_ssl_session_reuse",
    "proxy_ssl_trusted_certificate", "proxy_ssl_verify", "proxy_ssl_verify_depth", "proxy_store",
    "proxy_temp_file_write_size", "proxy_temp_path", "quic_active_connection_id_limit",
    "quic_gso", "quic_host_key", "quic_retry", "random_index", "read_ahead", "real_ip_header",
    "real_ip_recursive", "recursive_error_pages", "referer_hash_bucket_size",
    "referer_hash_max_size", "request_pool_size", "reset_timedout_connection", "resolver",
    "resolver_timeout", "rewrite_log", "root", "satisfy", "scgi_buffer_size", "scgi_buffering",
    "scgi_busy_buffers_size", "scgi_cache", "scgi_cache_background_update", "scgi_cache_key",
    "scgi_cache_lock", "scgi_cache_lock_age", "scgi_cache_lock_timeout",
    "scgi_cache_max_range_offset", "scgi_cache_min_uses", "scgi_cache_revalidate",
    "scgi_connect_timeout", "scgi_force_ranges", "scgi_ignore_client_abort",
    "scgi_intercept_errors", "scgi_max_temp_file_size", "scgi_next_upstream_timeout",
    "scgi_next_upstream_tries", "scgi_pass", "scgi_pass_request_body",
    "scgi_pass_request_headers", "scgi_read_timeout", "scgi_request_buffering",
    "scgi_send_timeout", "scgi_socket_keepalive", "scgi_socket_rcvbuf", "scgi_socket_sndbuf",
    "scgi_store", "scgi_temp_file_write_size", "scgi_temp_path", "secure_link_secret",
    "send_lowat", "send_timeout", "sendfile", "sendfile_max_chunk", "server_name_in_redirect",
    "server_names_hash_bucket_size", "server_names_hash_max_size", "server_tokens", "slice",
    "source_charset", "ssi", "ssi_ignore_recycled_buffers", "ssi_last_modified",
    "ssi_min_file_chunk", "ssi_silent_errors", "ssi_value_length", "ssl_buffer_size",
    "ssl_certificate_cache", "ssl_certificate_compression", "ssl_ciphers",
    "ssl_client_certificate", "ssl_crl", "ssl_dhparam", "ssl_early_data", "ssl_ecdh_curve",
    "ssl_ocsp", "ssl_ocsp_cache", "ssl_ocsp_responder", "ssl_password_file",
    "ssl_prefer_server_ciphers", "ssl_reject_handshake", "ssl_session_tickets",
    "ssl_session_timeout", "ssl_stapling", "ssl_stapling_file", "ssl_stapling_responder",
    "ssl_stapling_verify", "ssl_trusted_certificate", "ssl_verify_client", "ssl_verify_depth",
    "sticky", "sub_filter_last_modified", "sub_filter_once", "subrequest_output_buffer_size",
    "tcp_nodelay", "tcp_nopush", "timer_resolution", "try_files", "tunnel_buffer_size",
    "tunnel_connect_timeout", "tunnel_next_upstream_timeout", "tunnel_next_upstream_tries",
    "tunnel_pass", "tunnel_read_timeout", "tunnel_send_lowat", "tunnel_send_timeout",
    "tunnel_socket_keepalive", "tunnel_socket_rcvbuf", "tunnel_socket_sndbuf",
    "types_hash_bucket_size", "types_hash_max_size", "underscores_in_headers",
    "uninitialized_variable_warn", "use", "user", "userid", "userid_domain", "userid_expires",
    "userid_mark", "userid_name", "userid_p3p", "userid_path", "userid_service",
    "uwsgi_buffer_size", "uwsgi_buffering", "uwsgi_busy_buffers_size", "uwsgi_cache",
    "uwsgi_cache_background_update", "uwsgi_cache_key", "uwsgi_cache_lock",
    "uwsgi_cache_lock_age", "uwsgi_cache_lock_timeout", "uwsgi_cache_max_range_offset",
    "uwsgi_cache_min_uses", "uwsgi_cache_revalidate", "uwsgi_connect_timeout",
    "uwsgi_force_ranges", "uwsgi_ignore_client_abort", "uwsgi_intercept_errors",
    "uwsgi_max_temp_file_size", "uwsgi_modifier1", "uwsgi_modifier2",
    "uwsgi_next_upstream_timeout", "uwsgi_next_upstream_tries", "uwsgi_pass",
    "uwsgi_pass_request_body", "uwsgi_pass_request_headers", "uwsgi_read_timeout",
    "uwsgi_request_buffering", "uwsgi_send_timeout", "uwsgi_socket_keepalive",
    "uwsgi_socket_rcvbuf", "uwsgi_socket_sndbuf", "uwsgi_ssl_certificate_cache",
    "uwsgi_ssl_ciphers", "uwsgi_ssl_crl", "uwsgi_ssl_password_file", "uwsgi_ssl_server_name",
    "uwsgi_ssl_session_reuse", "uwsgi_ssl_trusted_certificate", "uwsgi_ssl_verify",
    "uwsgi_ssl_verify_depth", "uwsgi_store", "uwsgi_string", "uwsgi_temp_file_write_size",
    "uwsgi_temp_path", "variables_hash_bucket_size", "variables_hash_max_size",
    "worker_connections", "worker_cpu_affinity", "worker_priority", "worker_processes",
    "worker_rlimit_core", "worker_rlimit_nofile", "worker_shutdown_timeout", "working_directory",
    "xml_entities", "xml_external_entities", "xslt_last_modified",
];

/// Blocks whose contents are not directives nginx's tables check for repeats: stream {} and
/// mail {} have tables of their own; map, geo, types... hold data, not directives; a
/// `*_by_lua_block` holds Lua (`rule_of_unknown`).
const DATA_BLOCKS: &[&str] = &[
    "stream",
    "mail",
    "types",
    "map",
    "geo",
    "split_clients",
    "charset_map",
    "match",
];

/// A name's rule (`context::Rule`, kept on its node): 1 + its index in NON_REPEATABLE (0: it
/// may repeat), with `RULE_DATA` when its block is not checked for repeats, and `RULE_VALUES`
/// for a repeatable directive whose values are read for unknown variables
/// (`variables::VALUES`).
pub(crate) const RULE_DATA: u16 = 1 << 15;
const RULE_VALUES: u16 = 1 << 14;
/// The NON_REPEATABLE index part of a rule.
const RULE_ONCE: u16 = !(RULE_DATA | RULE_VALUES);
const _: () = assert!(NON_REPEATABLE.len() < BITS);

/// Bits of a block's set of names seen (one per NON_REPEATABLE entry).
const BITS: usize = 512;

/// The rule of a name (see `RULE_DATA`); the parser finds it through `context::classify_name`.
pub(crate) fn rule_of(name: &str) -> u16 {
    let once = NON_REPEATABLE
        .binary_search(&name)
        .map_or(0, |i| i as u16 + 1);
    let values = if super::variables::VALUES.contains(&name) {
        RULE_VALUES
    } else {
        0
    };
    once | values | rule_of_unknown(name)
}

/// The rule of a name in no table: only a `*_by_lua_block` has one.
pub(crate) fn rule_of_unknown(name: &str) -> u16 {
    if DATA_BLOCKS.contains(&name) || name.ends_with("_block") {
        RULE_DATA
    } else {
        0
    }
}

/// Every name with a rule, for `context::classify_name`'s table.
pub(crate) fn names_with_rules() -> impl Iterator<Item = &'static str> {
    NON_REPEATABLE
        .iter()
        .chain(DATA_BLOCKS)
        .chain(super::variables::VALUES)
        .copied()
}

/// The variables the config declares (`variables::declared`), worked out once by whichever
/// thread asks first: the loader's main thread works them out while another reads the blocks
/// (`Loader::finish`), the block rules ask once they know a name is not built in.
pub(crate) type Declared = std::sync::OnceLock<HashSet<String>>;

/// The diagnostics of every rule, in reading order.
pub fn check(cfg: &Config) -> Vec<Diagnostic> {
    check_with(cfg, &Declared::new())
}

/// `check`, with the variables the config declares taken from `declared` (or worked out into
/// it when no other thread has).
pub(crate) fn check_with(cfg: &Config, declared: &Declared) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let mut vars = Vec::new();
    duplicates(cfg, &mut out, &mut vars);
    if !vars.is_empty() {
        unknown_variables(cfg, vars, declared, &mut out);
    }
    out.extend(check_servers(cfg));
    out
}

/// The directives at http level: the `http` block's children in a main config, the top level of a
/// fragment (a site file is read as if included in `http`).
fn http_level(cfg: &Config) -> Vec<Directive<'_>> {
    match cfg.kind {
        Some(ConfigKind::Main) => cfg
            .top()
            .filter(|d| d.is("http"))
            .flat_map(|h| h.children().collect::<Vec<_>>())
            .collect(),
        _ => cfg.top().collect(),
    }
}

/// The rules of http's upstreams and servers: empty upstreams, listen addresses, certificates.
fn check_servers(cfg: &Config) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let fragment = cfg.kind != Some(ConfigKind::Main);
    let http = http_level(cfg);
    let http_cert = http.iter().any(|d| d.is("ssl_certificate"));
    let mut defaults: HashSet<Address<'_>> = HashSet::new();
    let http_unseen = std::cell::OnceCell::new();
    for d in &http {
        if d.is("upstream") && d.has_block() && !d.children().any(|c| c.is("server")) {
            let mut e = diag(d, "no servers are inside upstream".into(), true);
            // nginx says so when it reaches the block's end: the closing brace's line.
            if let Some(line) = cfg.closing_line(d.id()) {
                e.line = line;
                e.column = 1;
            }
            out.push(e);
        }
    }
    for server in cfg.servers() {
        // A server has a listen or two: a list, not a set.
        let mut seen: Vec<Address<'_>> = Vec::new();
        let mut ssl = false;
        let mut cert = false;
        for c in server.children() {
            if c.is("ssl_certificate") || (c.is("ssl_reject_handshake") && c.arg(0) == Some("on")) {
                cert = true;
            }
            if !c.is("listen") {
                continue;
            }
            let l = c;
            if let Some(e) = l.arg(0).and_then(listen_refusal) {
                out.push(diag(&l, e, true));
                continue;
            }
            let Some(addr) = l.arg(0).and_then(address_key) else {
                continue;
            };
            ssl |= l.args().skip(1).any(|p| p == "ssl");
            if seen.contains(&addr) {
                out.push(diag(&l, format!("a duplicate listen {addr}"), true));
                continue;
            }
            seen.push(addr.clone());
            if l.args()
                .skip(1)
                .any(|p| p == "default_server" || p == "default")
                && !defaults.insert(addr.clone())
            {
                out.push(diag(
                    &l,
                    format!("a duplicate default server for {addr}"),
                    true,
                ));
            }
        }
        if ssl && !cert && !http_cert {
            out.extend(no_certificate(&server, &http, &http_unseen, fragment));
        }
    }
    out
}

/// nginx's refusal of a server listening with `ssl` and no certificate (its own and http's are
/// known to be missing), unless an include that brought nothing may hold it (h5bp's
/// tls/certificate_files.conf). (http's own includes are looked at once, not per server:
/// 500,000 servers share one http.)
fn no_certificate(
    server: &Directive<'_>,
    http: &[Directive<'_>],
    http_unseen: &std::cell::OnceCell<bool>,
    fragment: bool,
) -> Option<Diagnostic> {
    let unseen = *http_unseen.get_or_init(|| {
        http.iter()
            .any(|c| c.is_include() && c.included_files().is_empty())
    }) || server
        .raw_children()
        .any(|c| c.is_include() && c.included_files().is_empty());
    if unseen {
        return None;
    }
    let mut m = format!(
        "no \"ssl_certificate\" is defined for the \"listen ... ssl\" directive in {}:{}",
        server.file().display(),
        server.line()
    );
    if fragment {
        m.push_str(" (unless the main config's http block defines one)");
    }
    Some(diag(server, m, !fragment))
}

/// The rules of `check` that can refuse something inside one `server` block of the http
/// context, its own directives and what they include: the duplicates in its blocks, the unknown
/// variables they name (`declared`: the variables the config declares) and a missing
/// certificate. (Its listen addresses are judged against the other servers': not here.) What
/// `check` reports inside the block is among these; the fix prover's copy with one server's
/// text replaced asks only these (`nginx::overlay`).
pub(crate) fn check_server(
    cfg: &Config,
    server: super::NodeId,
    depth: usize,
    declared: &Declared,
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let mut vars = Vec::new();
    let d = cfg.directive(server);
    let kids = cfg.nodes[server as usize].kids.clone();
    duplicates_from(cfg, kids, depth + 1, &mut out, &mut vars);
    if !vars.is_empty() {
        unknown_variables(cfg, vars, declared, &mut out);
    }
    let mut ssl = false;
    let mut cert = false;
    for c in d.children() {
        if c.is("ssl_certificate") || (c.is("ssl_reject_handshake") && c.arg(0) == Some("on")) {
            cert = true;
        }
        if c.is("listen") && c.arg(0).and_then(address_key).is_some() {
            ssl |= c.args().skip(1).any(|p| p == "ssl");
        }
    }
    if !ssl || cert {
        return out;
    }
    let http = http_level(cfg);
    if !http.iter().any(|d| d.is("ssl_certificate")) {
        let fragment = cfg.kind != Some(ConfigKind::Main);
        out.extend(no_certificate(
            &d,
            &http,
            &std::cell::OnceCell::new(),
            fragment,
        ));
    }
    out
}

fn diag(d: &Directive<'_>, message: String, fatal: bool) -> Diagnostic {
    Diagnostic {
        file: d.file().to_path_buf(),
        line: d.line(),
        column: d.column(),
        message,
        fatal,
    }
}

/// The second of each non-repeatable directive in every block, depth first, from each node's
/// rule (set by the parser): every directive of the config passes here, so the walk reads nodes
/// and allocates nothing per block. `root` and `alias` share one slot.
///
/// Also gathers into `vars` the variables of the values nginx compiles in the directives that
/// name paths (`variables::PATHS`: `root`, `alias`, `try_files`, the `*_pass`) and answer
/// (`variables::VALUES`: `return`, `rewrite`, `error_page`, `add_header`), found by the same
/// rule, so the other directives cost nothing more; and, by name, the two rules nginx applies
/// to locations and regexes (`duplicate_locations`, `regex_errors`).
fn duplicates<'c>(
    cfg: &'c Config,
    out: &mut Vec<Diagnostic>,
    vars: &mut Vec<(Directive<'c>, &'c str)>,
) {
    let main = &cfg.files[cfg.main as usize];
    duplicates_from(cfg, main.top.clone(), 0, out, vars);
}

/// `duplicates` of one run of sibling ids (a block's children, a file's top level) at `depth`,
/// read as one block.
fn duplicates_from<'c>(
    cfg: &'c Config,
    start: std::ops::Range<u32>,
    depth: usize,
    out: &mut Vec<Diagnostic>,
    vars: &mut Vec<(Directive<'c>, &'c str)>,
) {
    let (root, alias) = (rule_of("root"), rule_of("alias"));
    // By rule: whether the name is one of `variables::PATHS` (a lookup per directive).
    let mut is_path = vec![false; NON_REPEATABLE.len() + 1];
    for n in super::variables::PATHS {
        is_path[(rule_of(n) & RULE_ONCE) as usize] = true;
    }
    let id_of = super::context::name_id;
    let (location, regexed) = (
        id_of("location"),
        [
            id_of("rewrite"),
            id_of("if"),
            id_of("server_name"),
            id_of("map"),
        ],
    );
    /// One block being read: which names it gave, its `root` or `alias`, and where its
    /// locations start in `locations`.
    struct Block {
        seen: [u64; BITS / 64],
        root_or_alias: u16,
        locations: usize,
    }
    let fresh = |locations: usize| Block {
        seen: [0; BITS / 64],
        root_or_alias: 0,
        locations,
    };
    // The static locations of the blocks being read, in reading order (`duplicate_locations`),
    // and every regex nginx compiles as it reads (`regex_errors`).
    let mut locations: Vec<(Directive<'c>, Static<'c>)> = Vec::new();
    let mut regexes: Vec<(Directive<'c>, &'c str, bool)> = Vec::new();
    // (what is left of a run of sibling ids, whether the run is a block's own (not an included
    // file's), the block depth): include runs read into the block below them.
    let mut stack: Vec<(std::ops::Range<u32>, bool, usize)> = Vec::new();
    let mut blocks: Vec<Block> = vec![fresh(0)];
    stack.push((start, true, depth));
    while let Some((run, own, depth)) = stack.last_mut() {
        let Some(i) = run.next() else {
            if *own {
                if let Some(b) = blocks.pop() {
                    duplicate_locations(&mut locations[b.locations..], out);
                    locations.truncate(b.locations);
                }
            }
            stack.pop();
            continue;
        };
        let depth = *depth;
        let id = cfg.children[i as usize];
        let node = &cfg.nodes[id as usize];
        if node.is_include() {
            let d = cfg.directive(id);
            for &f in d.included_files().iter().rev() {
                stack.push((cfg.files[f as usize].top.clone(), false, depth));
            }
            continue;
        }
        let name = node.name();
        if name == location {
            let d = cfg.directive(id);
            match location_head(&d) {
                Head::Static(s) => locations.push((d, s)),
                Head::Regex(p, caseless) => regexes.push((d, p, caseless)),
                Head::Other => {}
            }
        } else if regexed.contains(&name) {
            regexes_of(cfg.directive(id), &mut regexes);
        }
        let rule = super::context::rule_of_id(name);
        let once = rule & RULE_ONCE;
        if (once != 0 && is_path.get(once as usize) == Some(&true)) || rule & RULE_VALUES != 0 {
            let d = cfg.directive(id);
            super::variables::named_in_to(&d, |v| vars.push((d, v)));
        }
        if once != 0 {
            let Some(block) = blocks.last_mut() else {
                continue;
            };
            if once == root || once == alias {
                let name = NON_REPEATABLE[once as usize - 1];
                match block.root_or_alias {
                    0 => block.root_or_alias = once,
                    first if first == once => out.push(diag(
                        &cfg.directive(id),
                        format!("\"{name}\" directive is duplicate"),
                        true,
                    )),
                    first => {
                        let first = NON_REPEATABLE[first as usize - 1];
                        out.push(diag(
                            &cfg.directive(id),
                            format!("\"{name}\" directive is duplicate, \"{first}\" directive was specified earlier"),
                            true,
                        ))
                    }
                }
            } else {
                let (word, bit) = ((once as usize - 1) / 64, (once as usize - 1) % 64);
                if block.seen[word] & (1 << bit) != 0 {
                    let name = NON_REPEATABLE[once as usize - 1];
                    out.push(diag(
                        &cfg.directive(id),
                        format!("\"{name}\" directive is duplicate"),
                        true,
                    ));
                } else {
                    block.seen[word] |= 1 << bit;
                }
            }
        }
        if node.has_block() && rule & RULE_DATA == 0 && depth < super::ast::MAX_DEPTH {
            blocks.push(fresh(locations.len()));
            stack.push((node.kids.clone(), true, depth + 1));
        }
    }
    regex_errors(regexes, out);
}

/// A location nginx puts in its static tree, by the name it compares (ngx_http_core_location):
/// `=` names an exact one, none or `^~` an inclusive one.
#[derive(Clone, Copy)]
struct Static<'c> {
    name: &'c str,
    exact: bool,
}

/// What the rules read of a `location`'s head.
enum Head<'c> {
    Static(Static<'c>),
    /// `~` or `~*` (caseless) and the pattern nginx compiles.
    Regex(&'c str, bool),
    /// A named location (nginx keeps the first of a name: not an error), or a head nginx
    /// refuses for other reasons.
    Other,
}

/// A `location`'s head as nginx reads it: `location = /a`, `location =/a`, `^~`, `~`, `~*`,
/// `@name`.
fn location_head<'c>(d: &Directive<'c>) -> Head<'c> {
    let stat = |name, exact| Head::Static(Static { name, exact });
    let a0 = d.arg(0).unwrap_or("");
    match d.arg_count() {
        2 => {
            let name = d.arg(1).unwrap_or("");
            match a0 {
                "=" => stat(name, true),
                "^~" => stat(name, false),
                "~" => Head::Regex(name, false),
                "~*" => Head::Regex(name, true),
                _ => Head::Other,
            }
        }
        1 => {
            if let Some(name) = a0.strip_prefix('=') {
                stat(name, true)
            } else if let Some(name) = a0.strip_prefix("^~") {
                stat(name, false)
            } else if let Some(p) = a0.strip_prefix("~*") {
                Head::Regex(p, true)
            } else if let Some(p) = a0.strip_prefix('~') {
                Head::Regex(p, false)
            } else if a0.starts_with('@') {
                Head::Other
            } else {
                stat(a0, false)
            }
        }
        _ => Head::Other,
    }
}

/// `duplicate location "/a"` at each location of one block that nginx's static tree refuses
/// (ngx_http_join_exact_locations): sorted by name, an exact location before the inclusive ones
/// of its name, a name may be given once exact and once inclusive (`location = /a` and
/// `location /a`; `^~ /a` is inclusive), no more. nginx names the later one in reading order
/// (and stops there); each is reported. Regex and named locations are never duplicates.
fn duplicate_locations(block: &mut [(Directive<'_>, Static<'_>)], out: &mut Vec<Diagnostic>) {
    if block.len() < 2 {
        return;
    }
    // Stable: reading order within a name and kind.
    block.sort_by(|a, b| a.1.name.cmp(b.1.name).then(b.1.exact.cmp(&a.1.exact)));
    for pair in block.windows(2) {
        let ((_, a), (d, b)) = (&pair[0], &pair[1]);
        if a.name == b.name && a.exact == b.exact {
            out.push(diag(d, format!("duplicate location \"{}\"", b.name), true));
        }
    }
}

/// The regexes nginx compiles as it reads `rewrite`, `if`, `server_name` and a `map`'s keys:
/// (the directive, the pattern, caseless).
fn regexes_of<'c>(d: Directive<'c>, out: &mut Vec<(Directive<'c>, &'c str, bool)>) {
    match d.name() {
        "rewrite" => {
            if let Some(p) = d.arg(0) {
                out.push((d, p, false));
            }
        }
        // `if ($var ~ regex)`, `~*` caseless, `!~`, `!~*` (the parser took the parentheses
        // off).
        "if" if d.arg_count() == 3 => {
            let var = d.arg(0).unwrap_or("");
            let op = d.arg(1).unwrap_or("");
            if var.len() > 1 && var.starts_with('$') && matches!(op, "~" | "~*" | "!~" | "!~*") {
                if let Some(p) = d.arg(2) {
                    out.push((d, p, op.ends_with('*')));
                }
            }
        }
        // `~regex`, caseless when it holds an upper-case letter.
        "server_name" => {
            for name in d.args() {
                if let Some(p) = name.strip_prefix('~').filter(|p| !p.is_empty()) {
                    out.push((d, p, p.bytes().any(|b| b.is_ascii_uppercase())));
                }
            }
        }
        // A key `~regex`, `~*regex` caseless.
        "map" if d.has_block() => {
            for entry in d.children() {
                let key = entry.name();
                if let Some(p) = key.strip_prefix("~*") {
                    out.push((entry, p, true));
                } else if let Some(p) = key.strip_prefix('~') {
                    out.push((entry, p, false));
                }
            }
        }
        _ => {}
    }
}

/// `pcre2_compile() failed: missing closing parenthesis in "("` at each directive whose regex
/// PCRE2 does not compile: nginx -t fails at the first. Each pattern is compiled once (a big
/// config repeats a handful of them in every site) and let go: the resolver compiles the ones a
/// request meets. A directive met twice (a snippet included in two servers) is reported once.
fn regex_errors(mut all: Vec<(Directive<'_>, &str, bool)>, out: &mut Vec<Diagnostic>) {
    if all.is_empty() {
        return;
    }
    all.sort_by_key(|(d, p, c)| (d.id(), *p, *c));
    all.dedup_by_key(|(d, p, c)| (d.id(), *p, *c));
    let mut compiled: std::collections::HashMap<(&str, bool), Option<String>> =
        std::collections::HashMap::new();
    for (d, pattern, caseless) in all {
        let error = compiled
            .entry((pattern, caseless))
            .or_insert_with(|| pcre_error(pattern, caseless));
        if let Some(e) = error {
            out.push(diag(&d, e.clone(), true));
        }
    }
}

/// What nginx says of a pattern PCRE2 does not compile (ngx_regex_compile, with the options
/// nginx gives: caseless or none), None when it compiles: `pcre2_compile() failed: MESSAGE in
/// "PATTERN"`, and ` at "REST"` when PCRE2 stopped before the pattern's end.
fn pcre_error(pattern: &str, caseless: bool) -> Option<String> {
    let e = pcre2::bytes::RegexBuilder::new()
        .caseless(caseless)
        .build(pattern)
        .err()?;
    // PCRE2's own words, after the binding's "PCRE2: error compiling pattern at offset N: ".
    let shown = e.to_string();
    let message = match shown.strip_prefix("PCRE2: error compiling pattern") {
        Some(rest) => match rest.strip_prefix(" at offset ") {
            Some(r) => r.split_once(": ").map_or(r, |(_, m)| m),
            None => rest.strip_prefix(": ").unwrap_or(rest),
        },
        None => shown.as_str(),
    };
    let mut m = format!("pcre2_compile() failed: {message} in \"{pattern}\"");
    if let Some(at) = e.offset().filter(|&o| o < pattern.len()) {
        let rest = String::from_utf8_lossy(&pattern.as_bytes()[at..]);
        m.push_str(&format!(" at \"{rest}\""));
    }
    Some(m)
}

/// `unknown "media_root" variable` for each variable nginx does not know, at the directive
/// (nginx names no line). A name written in lower case is judged only when the whole config is
/// in view: not in a fragment (`$connection_upgrade` is likely the main config's `map`), nor
/// past an include that brought nothing or a `load_module` (its module's variables). A name in
/// upper case (`${MEDIA_ROOT}`) is likely a template left unrendered: an error in a whole
/// config, a warning in a fragment (the including server may `set $MAGE_ROOT`).
fn unknown_variables<'c>(
    cfg: &Config,
    vars: Vec<(Directive<'c>, &'c str)>,
    declared: &Declared,
    out: &mut Vec<Diagnostic>,
) {
    let unknown = super::variables::unknown(cfg, vars, declared);
    if unknown.is_empty() {
        return;
    }
    let fragment = cfg.kind != Some(ConfigKind::Main);
    let out_of_view = fragment || {
        let mut stack: Vec<Directive<'_>> = cfg.top().collect();
        let mut unseen = false;
        while let Some(d) = stack.pop() {
            if d.is("load_module") || (d.is_include() && d.included_files().is_empty()) {
                unseen = true;
                break;
            }
            stack.extend(d.raw_children());
        }
        unseen
    };
    for (d, v) in unknown {
        let template = v.bytes().any(|b| b.is_ascii_uppercase());
        if out_of_view && !template {
            continue;
        }
        let written: Vec<&str> = d.args().collect();
        let mut m = format!(
            "unknown \"{}\" variable in `{} {}`: nginx -t fails (and names no line)",
            v.to_ascii_lowercase(),
            d.name(),
            written.join(" ")
        );
        if fragment {
            m = format!(
                "unknown \"{}\" variable in `{} {}` unless the config that includes this file sets it: nginx -t fails otherwise (and names no line)",
                v.to_ascii_lowercase(),
                d.name(),
                written.join(" ")
            );
        }
        if template {
            m.push_str(&format!(
                "; ${v} looks like a template variable left unrendered (envsubst, the nginx image's /etc/nginx/templates)"
            ));
        }
        out.push(diag(&d, m, !fragment));
    }
}

/// `listen`'s address as nginx prints it (`80` and `*:80` are `0.0.0.0:80`); None for a host
/// name (nginx resolves it) or what is not an address.
#[cfg(test)]
fn address(arg: &str) -> Option<String> {
    address_key(arg).map(|a| a.to_string())
}

/// A `listen` address, compared without being written out (every server of the config has one
/// or two): its `Display` is how nginx prints it.
#[derive(Clone, PartialEq, Eq, Hash)]
enum Address<'a> {
    Unix(&'a str),
    Ip(std::net::SocketAddr),
}

impl std::fmt::Display for Address<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Address::Unix(s) => f.write_str(s),
            Address::Ip(a) => write!(f, "{a}"),
        }
    }
}

/// A port as nginx reads one (`ngx_atoi`: digits only, no sign), when it is 1-65535.
pub fn nginx_port(s: &str) -> Option<u16> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.trim_start_matches('0').parse().ok().filter(|&p| p > 0)
}

/// What `nginx -t` says of a `listen` address it refuses, whatever the machine: a port that is
/// not 1-65535 in digits (`0`, `70000`, `127.0.0.1:+8080`), no host before the `:`, or a host
/// that is a signed number (`+8080`: not a port to nginx, a host name no resolver knows). A host
/// name nginx would resolve when it starts is not judged here (it depends on the machine).
fn listen_refusal(arg: &str) -> Option<String> {
    let refused = |what: &str| Some(format!("{what} in \"{arg}\" of the \"listen\" directive"));
    if arg.starts_with("unix:") {
        return None;
    }
    // nginx splits at the first `:` after an IPv6 address's brackets.
    let (host, port) = match arg.strip_prefix('[') {
        Some(rest) => {
            let (_, after) = rest.split_once(']')?;
            (&arg[..arg.len() - after.len()], after.strip_prefix(':'))
        }
        None => match arg.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (arg, None),
        },
    };
    match port {
        Some(p) if nginx_port(p).is_none() => return refused("invalid port"),
        Some(_) if host.is_empty() => return refused("no host"),
        Some(_) => {}
        // A word of digits alone is a port.
        None if !host.is_empty() && host.bytes().all(|b| b.is_ascii_digit()) => {
            return match nginx_port(host) {
                Some(_) => None,
                None => refused("invalid port"),
            };
        }
        None => {}
    }
    let signed = host
        .strip_prefix(['+', '-'])
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    if signed {
        return refused("host not found");
    }
    None
}

/// `listen`'s address (`80` and `*:80` are `0.0.0.0:80`); None for a host name (nginx resolves
/// it) or what is not an address.
fn address_key(arg: &str) -> Option<Address<'_>> {
    use std::net::{IpAddr, Ipv4Addr, SocketAddr};
    if arg.starts_with("unix:") {
        return Some(Address::Unix(arg));
    }
    if let Some(port) = nginx_port(arg) {
        return Some(Address::Ip(SocketAddr::new(
            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            port,
        )));
    }
    if let Some(rest) = arg.strip_prefix('[') {
        let (ip, port) = rest.split_once(']')?;
        let ip: std::net::Ipv6Addr = ip.parse().ok()?;
        let port = match port.strip_prefix(':') {
            Some(p) => nginx_port(p)?,
            None if port.is_empty() => 80,
            None => return None,
        };
        return Some(Address::Ip(SocketAddr::new(IpAddr::V6(ip), port)));
    }
    let (host, port) = match arg.rsplit_once(':') {
        Some((h, p)) => (h, nginx_port(p)?),
        None => (arg, 80),
    };
    let ip = if host == "*" {
        Ipv4Addr::UNSPECIFIED
    } else {
        host.parse().ok()?
    };
    Some(Address::Ip(SocketAddr::new(IpAddr::V4(ip), port)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_sorted_for_binary_search() {
        assert!(NON_REPEATABLE.windows(2).all(|w| w[0] < w[1]));
        for d in [
            "try_files",
            "root",
            "sendfile",
            "proxy_pass",
            "client_max_body_size",
        ] {
            assert!(NON_REPEATABLE.contains(&d) || d == "root", "{d}");
        }
        for d in [
            "add_header",
            "index",
            "error_page",
            "allow",
            "set",
            "listen",
            "limit_req",
        ] {
            assert!(!NON_REPEATABLE.contains(&d), "{d}");
        }
    }

    #[test]
    fn regex_errors_in_nginx_words() {
        assert_eq!(pcre_error("^/a(b)?$", false), None);
        assert_eq!(pcre_error("\\.(?!well-known)", true), None);
        // PCRE2 stopped at the end: no ` at`.
        assert_eq!(
            pcre_error("(", false).as_deref(),
            Some("pcre2_compile() failed: missing closing parenthesis in \"(\"")
        );
        assert_eq!(
            pcre_error("a)b", true).as_deref(),
            Some("pcre2_compile() failed: unmatched closing parenthesis in \"a)b\" at \")b\"")
        );
    }

    #[test]
    fn addresses_as_nginx_prints_them() {
        assert_eq!(address("80").as_deref(), Some("0.0.0.0:80"));
        assert_eq!(address("*:8080").as_deref(), Some("0.0.0.0:8080"));
        assert_eq!(address("127.0.0.1").as_deref(), Some("127.0.0.1:80"));
        assert_eq!(address("[::]:443").as_deref(), Some("[::]:443"));
        assert_eq!(address("example.com:80"), None);
    }
}
