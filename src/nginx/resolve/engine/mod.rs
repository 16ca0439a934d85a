//! The request's journey through nginx's phases, as `ngx_http_core_run_phases` runs them:
//!
//!   server rewrite → find location → location rewrite → (location changed? find again)
//!   → access (allow/deny, auth_basic) → try_files → content (proxy & co., index, autoindex,
//!   static) → finalize (error_page, possibly an internal redirect back to the start).
//!
//! Every branch follows nginx 1.22's source: the function named in each comment is the one whose
//! behaviour is reproduced. Internal redirects and URI changes count down from 11 like
//! `r->uri_changes`; the tenth change is a 500 ("rewrite or internal redirection cycle").
//!
//! This file holds the phase machine; `rewrite` the rewrite module's scripts, `content` try_files
//! and the content handlers, `queries` what the checks ask that is not one request.

use crate::fs::walk::Walk;
use crate::nginx::resolve::conf::{BlockIdx, Conf, ErrorPage, Stage, Unmodelled, Upstream};
use crate::nginx::resolve::files::Files;
use crate::nginx::resolve::location::{Found, MatchCtx, Modifier};
use crate::nginx::resolve::regex::Captures;
use crate::nginx::resolve::server::{validate_host, Chosen};
use crate::nginx::resolve::uri::{escape_uri, parse_target, unescape};
use crate::nginx::resolve::vars::{self, Value};
use crate::nginx::resolve::{Handler, Request, Resolution, Resolver};
use crate::nginx::NodeId;
pub(super) use queries::{
    each_static_location, location_match, mapped_path, path_in_block, path_of_match, served_prefix,
    static_locations,
};
pub(super) use rewrite::{compile_scripts, ScriptOp};
use std::borrow::Cow;
use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

/// Explanations cost string formatting: only made when the caller wants them (`trace`, the
/// checks), not when statuses are predicted in bulk.
macro_rules! step {
    ($s:ident, $($t:tt)*) => {
        if $s.explain {
            $s.steps.push(format!($($t)*));
        }
    };
}

macro_rules! why {
    ($s:ident, $($t:tt)*) => {
        if $s.explain {
            $s.reason = format!($($t)*);
        }
    };
}

macro_rules! log {
    ($s:ident, $($t:tt)*) => {
        if $s.explain {
            $s.log.push(format!($($t)*));
        }
    };
}

// After the macros: the phases' modules use them.
mod content;
mod queries;
mod rewrite;

/// NGX_HTTP_MAX_URI_CHANGES + 1.
const URI_CHANGES: u8 = 11;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    ServerRewrite,
    FindConfig,
    Rewrite,
    PostRewrite,
    Access,
    TryFiles,
    Content,
}

/// What a phase asks for next.
enum Flow {
    Go(Phase),
    /// `ngx_http_finalize_request(r, code)`: special responses go through `error_page`.
    Finalize(u16),
    /// A response was sent with this status (`r->err_status` may override it).
    Sent(u16),
    /// The answer comes from elsewhere (an upstream) or cannot be known.
    End(End),
}

enum End {
    Status(u16),
    /// 444: the connection is closed without a response.
    Close,
    /// Passed to an upstream: its address as configured.
    Upstream(String),
    Unknown(String),
}

struct Run<'r, 's> {
    r: &'r Resolver<'s>,
    /// Record steps, reasons and error-log lines (off for bulk status prediction).
    explain: bool,
    req: &'r Request,
    files: Files<'r>,
    server: NodeId,
    server_block: BlockIdx,
    /// The server's first `server_name` (`$server_name`), borrowed from the index.
    server_name: &'r str,
    /// The Host as `ngx_http_validate_host` leaves it (empty when invalid): `$host`.
    host: String,
    uri: Vec<u8>,
    args: Vec<u8>,
    quoted: bool,
    plus: bool,
    /// The request method; `error_page` turns it into GET.
    method: Cow<'r, str>,
    internal: bool,
    uri_changes: u8,
    uri_changed: bool,
    valid_location: bool,
    add_uri_to_alias: bool,
    error_page: bool,
    err_status: u16,
    captures: Option<Captures>,
    named: Vec<(String, Vec<u8>)>,
    set_vars: HashMap<String, Vec<u8>>,
    conf: BlockIdx,
    location: Option<NodeId>,
    /// The content handler of the location in effect (borrowed from its merged configuration).
    content_handler: Option<&'r Upstream>,
    // What the answer is made of:
    handler: Handler,
    reason: String,
    path: Option<Vec<u8>>,
    walk: Option<Walk>,
    /// The first path of the request (and its walk), kept when an internal redirect (error
    /// page, index, try_files fallback) moves on to another: `Resolution::path`.
    first: Option<(Vec<u8>, Option<Walk>)>,
    /// A variable that only `set` gives is unknown (not empty) until a `set` ran: for the
    /// questions that are not one request (`queries`), which run no script.
    strict_vars: bool,
    /// A subrequest (auth_request's): nginx skips the access phase for it.
    subrequest: bool,
    redirect: Option<String>,
    log: Vec<String>,
    steps: Vec<String>,
    notes: Vec<String>,
}

pub(super) fn run(
    r: &Resolver<'_>,
    req: &Request,
    forced: Option<NodeId>,
    explain: bool,
) -> Resolution {
    let files = Files {
        root: r.inputs.root,
        cache: r.walk_cache(),
        explain,
        who: r.inputs.worker.identity(),
    };
    let mut empty = Resolution {
        uri: None,
        server: None,
        server_choice: String::new(),
        location: None,
        handler: Handler::Error,
        path: None,
        predicted_status: None,
        reason: String::new(),
        unknown: None,
        final_path: None,
        walk: None,
        redirect: None,
        upstream: None,
        log: Vec::new(),
        steps: Vec::new(),
    };
    // The server: by listen socket, then Host (ngx_http_set_virtual_server).
    let host = validate_host(&req.host_header);
    let (server, choice, captures, named, default_server) = match forced {
        Some(s) => (s, "given".to_string(), None, Vec::new(), s),
        None => {
            let Some(sel) = r.shared().servers.select(
                r.config(),
                host.as_deref().unwrap_or(""),
                req.port,
                req.local_addr,
            ) else {
                empty.reason = format!(
                    "no server block listens on port {}: the connection is refused",
                    req.port
                );
                return empty;
            };
            let info = &r.shared().servers.servers[sel.server];
            let how = match &sel.chosen {
                _ if !explain => String::new(),
                Chosen::Name(n) => format!("server_name {n} on {}", sel.listen_text()),
                Chosen::Default { explicit: true } => format!(
                    "no server_name matches: default_server of {}",
                    sel.listen_text()
                ),
                Chosen::Default { explicit: false } => format!(
                    "no server_name matches: the first server of {} is its default",
                    sel.listen_text()
                ),
            };
            let mut how = how;
            if let (Some(n), true) = (&sel.note, explain) {
                how.push_str(&format!(" ({n})"));
            }
            let default = r
                .shared()
                .servers
                .default_for(r.config(), req.port, req.local_addr)
                .map(|d| r.shared().servers.servers[d].id)
                .unwrap_or(info.id);
            (info.id, how, sel.captures, sel.named_captures, default)
        }
    };
    if !r.covers(server) || !r.covers(default_server) {
        // The request reached a server this model does not cover: ask the model of all of them.
        if let Some(wide) = r.widened() {
            return run(&wide, req, forced, explain);
        }
    }
    empty.server = Some(server);
    empty.server_choice = choice.clone();
    let Some(server_block) = r.blocks.of(server) else {
        empty.reason = "the server block is not part of the http context".into();
        return empty;
    };
    let server_name = r.names_of(server).next().unwrap_or("");
    // The request line is parsed before the Host header picks the server: merge_slashes comes
    // from the socket's default server (ngx_http_process_request_uri).
    let merge = r
        .blocks
        .of(default_server)
        .map_or(true, |b| r.blocks.get(b).conf.merge_slashes);
    // The request line is read into the default server's large_client_header_buffers; one that
    // does not fit in a buffer (with its CRLF) is refused (ngx_http_alloc_large_header_buffer).
    let line_buffer = r
        .blocks
        .of(default_server)
        .map_or(8192, |b| r.blocks.get(b).conf.large_header_buffer);
    let line_len = req.method.len() + 1 + req.target.len() + " HTTP/1.1\r\n".len();
    let host_valid = host.is_some();
    let mut run = Run {
        r,
        explain,
        req,
        files,
        server,
        server_block,
        server_name,
        host: host.unwrap_or_default(),
        uri: Vec::new(),
        args: Vec::new(),
        quoted: false,
        plus: false,
        method: Cow::Borrowed(&req.method),
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
        conf: server_block,
        location: None,
        content_handler: None,
        handler: Handler::Error,
        reason: String::new(),
        path: None,
        walk: None,
        first: None,
        strict_vars: false,
        subrequest: false,
        redirect: None,
        log: Vec::new(),
        steps: if explain {
            vec![format!("server: {choice}")]
        } else {
            Vec::new()
        },
        notes: Vec::new(),
    };
    let end = match (host_valid, parse_target(&req.target, merge)) {
        _ if line_len > line_buffer => {
            run.reason = format!(
                "the request line is {line_len} bytes, longer than a large_client_header_buffers \
                 buffer ({line_buffer}): nginx answers 414"
            );
            run.log
                .push("client sent too long URI while reading client request line".into());
            run.finish_status(414)
        }
        (false, _) => {
            run.reason = format!("invalid Host {:?}: nginx answers 400", req.host_header);
            run.finish_status(400)
        }
        (_, Err(bad)) => {
            run.reason = format!("{}: nginx answers 400 Bad Request", bad.0);
            run.log.push("client sent invalid request".into());
            run.finish_status(400)
        }
        (true, Ok(parsed)) => {
            run.uri = parsed.uri;
            run.args = parsed.args;
            run.quoted = parsed.quoted;
            run.plus = parsed.plus;
            run.main_loop()
        }
    };
    run.into_resolution(end)
}

impl<'r, 's> Run<'r, 's> {
    fn conf(&self) -> &'r Conf {
        &self.r.blocks.get(self.conf).conf
    }

    fn dir_of(&self, node: NodeId) -> String {
        let d = self.r.config().directive(node);
        format!("{}:{}", d.file().display(), d.line())
    }

    /// `dir_of` for the explanations only (empty when they are off: the text costs more than
    /// the rest of a bulk prediction).
    fn explained_at(&self, node: NodeId) -> String {
        if self.explain {
            self.dir_of(node)
        } else {
            String::new()
        }
    }

    /// `path` as shown in explanations (empty when they are off).
    fn explained_path(&self, path: &[u8]) -> String {
        if self.explain {
            crate::text_safe::bytes(path).into_owned()
        } else {
            String::new()
        }
    }

    fn uri_str(&self) -> String {
        crate::text_safe::bytes(&self.uri).into_owned()
    }

    fn finish_status(&mut self, code: u16) -> End {
        self.handler = Handler::Error;
        End::Status(code)
    }

    fn main_loop(&mut self) -> End {
        let mut phase = Phase::ServerRewrite;
        // A generous bound: nginx itself stops at 10 URI changes.
        for _ in 0..500 {
            let flow = match phase {
                Phase::ServerRewrite => self.server_rewrite(),
                Phase::FindConfig => self.find_config(),
                Phase::Rewrite => self.location_rewrite(),
                Phase::PostRewrite => self.post_rewrite(),
                Phase::Access => self.access(),
                Phase::TryFiles => self.try_files(),
                Phase::Content => self.content(),
            };
            // Finalizing can finalize again: an error page whose redirect is the eleventh URI
            // change ends in a 500 that is finalized in turn (without error_page then, since
            // `uri_changes` is 0). Each round either ends or moves on, so a few are enough.
            let mut flow = flow;
            let mut rounds = 0;
            while let Flow::Finalize(code) = flow {
                rounds += 1;
                if rounds > URI_CHANGES as usize + 2 {
                    return End::Unknown(
                        "error_page handling loops inside media-doctor's model".into(),
                    );
                }
                flow = self.finalize(code);
            }
            match flow {
                Flow::Go(p) => phase = p,
                Flow::Sent(code) => {
                    let status = if self.err_status != 0 {
                        self.err_status
                    } else {
                        code
                    };
                    if status == 200 {
                        if let Some(u) = self.unmodelled(Stage::Filter) {
                            return End::Unknown(format!(
                                "{} at {} is not modelled: it filters the 200 answer and can \
                                 replace it (image_filter answers 415 for what is not an image)",
                                u.directive,
                                self.dir_of(u.at)
                            ));
                        }
                    }
                    return End::Status(status);
                }
                Flow::End(e) => return e,
                // Consumed by the loop above.
                Flow::Finalize(code) => return End::Status(code),
            }
        }
        End::Unknown("the request loops inside media-doctor's model".into())
    }

    // ---- server and location rewrite phases (ngx_http_rewrite_handler) ----
    // ---- find config (ngx_http_core_find_config_phase) ----
    fn find_config(&mut self) -> Flow {
        self.content_handler = None;
        self.uri_changed = false;
        let mut errors = Vec::new();
        let found = {
            let mut ctx = MatchCtx {
                captures: &mut self.captures,
                named: &mut self.named,
                errors: &mut errors,
            };
            let server = self.r.blocks.get(self.server_block).locations();
            self.r.locations.find(server, &self.uri, &mut ctx)
        };
        if !matches!(found, Found::Failed(_)) {
            self.notes.extend(errors);
        }
        let mut auto_redirect = false;
        match found {
            Found::Location(l) | Found::AutoRedirect(l) => {
                let loc = &self.r.locations.locs[l];
                self.conf = loc.block();
                self.location = Some(loc.node);
                auto_redirect = matches!(found, Found::AutoRedirect(_));
                step!(
                    self,
                    "location {}{} ({}) for {}",
                    match loc.modifier {
                        Modifier::Prefix | Modifier::Named => String::new(),
                        m => format!("{} ", m.as_str()),
                    },
                    self.r.locations.name(l),
                    self.dir_of(loc.node),
                    self.uri_str()
                );
                let regex = matches!(loc.modifier, Modifier::Regex | Modifier::RegexCaseless);
                if self.explain && regex {
                    let server = self.r.blocks.get(self.server_block).locations();
                    if let Some(p) = self.r.locations.shadowed_prefix(server, &self.uri, l) {
                        step!(
                            self,
                            "location {} ({}) matches by prefix too, but it is not `^~`: the \
                             regex locations are tried after it, and this one wins (MD105)",
                            self.r.locations.name(p),
                            self.dir_of(self.r.locations.locs[p].node)
                        );
                    }
                }
            }
            Found::Failed(e) => {
                log!(self, "{e} on \"{}\"", self.uri_str());
                self.handler = Handler::Error;
                why!(
                    self,
                    "a regex location failed to run on {} ({e}): nginx answers 500",
                    self.uri_str()
                );
                return Flow::Finalize(500);
            }
            Found::None => {
                self.location = None;
                step!(
                    self,
                    "no location matches {}: the server's own configuration applies",
                    self.uri_str()
                );
            }
        }
        if !self.internal && self.conf().internal {
            self.handler = Handler::Internal;
            self.reason = "the location is `internal`: requests from outside get 404".into();
            return Flow::Finalize(404);
        }
        self.update_location_config();
        if auto_redirect {
            let name = self
                .location
                .and_then(|n| self.r.location_pattern(n))
                .map(|(_, n)| n)
                .unwrap_or_default();
            let mut loc = escape_uri(name.as_bytes());
            if !self.args.is_empty() {
                loc.push('?');
                loc.push_str(&String::from_utf8_lossy(&self.args));
            }
            self.handler = Handler::Redirect;
            why!(self,
                "{} is the location {name} without its trailing slash, and that location passes to an upstream: nginx redirects",
                self.uri_str()
            );
            self.redirect = Some(loc);
            return Flow::Finalize(301);
        }
        Flow::Go(Phase::Rewrite)
    }

    /// ngx_http_update_location_config: limit_except, and the content handler.
    fn update_location_config(&mut self) {
        if let Some((methods, lmt)) = &self.conf().limit_except {
            let m = &*self.method;
            let allowed = methods.iter().any(|x| x == m)
                || (m == "HEAD" && methods.iter().any(|x| x == "GET"));
            if !allowed {
                step!(
                    self,
                    "limit_except {}: {m} gets the limit_except block",
                    methods.join(" ")
                );
                self.conf = *lmt;
            }
        }
        let conf: &'r Conf = self.conf();
        if let Some(h) = &conf.handler {
            self.content_handler = Some(h);
        }
    }

    // ---- access phase (ngx_http_core_access_phase) ----
    fn access(&mut self) -> Flow {
        // ngx_http_core_access_phase: "if (r != r->main)", a subrequest skips the access phase
        // (so an auth_request location that inherits auth_request does not ask itself).
        if self.subrequest {
            return Flow::Go(Phase::TryFiles);
        }
        if let Some(u) = self.unmodelled(Stage::Access) {
            self.handler = Handler::Module(u.directive.clone());
            return Flow::End(End::Unknown(format!(
                "{} at {} is not modelled: it decides in the rewrite/access phase",
                u.directive,
                self.dir_of(u.at)
            )));
        }
        let conf = self.conf();
        let rule = conf.access.iter().find(|r| r.matches(self.req.client));
        let access_rc: Option<u16> = match rule {
            Some(r) if r.allow => Some(0),
            Some(r) => {
                let at = self.explained_at(r.at);
                self.log.push("access forbidden by rule".into());
                self.handler = Handler::Access;
                why!(
                    self,
                    "`deny` at {at} matches the client {}: 403",
                    self.req.client
                );
                Some(403)
            }
            None => None,
        };
        let auth_rc: Option<u16> = match &conf.auth_basic {
            Some((realm, at)) if self.has_user_file() => {
                let _ = realm;
                Some((401, *at)).map(|(c, at)| {
                    if access_rc != Some(0) || !conf.satisfy_any {
                        self.handler = Handler::Auth;
                        why!(
                            self,
                            "auth_basic at {} asks for a password (401) and the request has none",
                            self.dir_of(at)
                        );
                    }
                    c
                })
            }
            _ => None,
        };
        if !conf.satisfy_any {
            if access_rc == Some(403) {
                self.handler = Handler::Access;
                return Flow::Finalize(403);
            }
            if let Some(c) = auth_rc {
                self.log
                    .push("no user/password was provided for basic authentication".into());
                return Flow::Finalize(c);
            }
            // auth_request runs last (the access phase runs its modules in reverse order of
            // registration: access, auth_basic, auth_request).
            return match self.auth_request() {
                Ok(None) => Flow::Go(Phase::TryFiles),
                Ok(Some(code)) => Flow::Finalize(code),
                Err(end) => Flow::End(end),
            };
        }
        // satisfy any: one allowing module is enough.
        if access_rc == Some(0) {
            return Flow::Go(Phase::TryFiles);
        }
        let mut code = access_rc.unwrap_or(0);
        if let Some(c) = auth_rc {
            if code != 401 {
                code = c;
            }
        }
        match self.auth_request() {
            Ok(None) if conf.auth_request.is_some() => return Flow::Go(Phase::TryFiles),
            Ok(None) => {}
            Ok(Some(c)) => {
                if code != 401 {
                    code = c;
                }
            }
            Err(end) => return Flow::End(end),
        }
        if code != 0 {
            return Flow::Finalize(code);
        }
        Flow::Go(Phase::TryFiles)
    }

    /// ngx_http_auth_request_handler: a subrequest to the `auth_request` URI. Ok(None): allowed
    /// (or no auth_request); Ok(code): the request ends with it (401, 403, or 500 for any other
    /// status); Err: the answer depends on what the model cannot see (an upstream).
    fn auth_request(&mut self) -> Result<Option<u16>, End> {
        let Some((uri, at)) = &self.conf().auth_request else {
            return Ok(None);
        };
        let at = *at;
        let uri = match self.eval(uri) {
            Ok(u) => u,
            Err(u) => {
                return Err(End::Unknown(format!(
                    "auth_request at {} uses ${u}, which media-doctor cannot evaluate",
                    self.dir_of(at)
                )))
            }
        };
        let (u, a) = match uri.iter().position(|&b| b == b'?') {
            Some(q) => (uri[..q].to_vec(), uri[q + 1..].to_vec()),
            None => (uri, Vec::new()),
        };
        let shown = crate::text_safe::bytes(&u).into_owned();
        let end = self.subrequest(u, a);
        let where_ = self.explained_at(at);
        match end {
            End::Status(s) if (200..300).contains(&s) => {
                step!(self, "auth_request {shown} ({where_}) answers {s}: allowed");
                Ok(None)
            }
            End::Status(s @ (401 | 403)) => {
                self.handler = Handler::Auth;
                why!(self, "auth_request at {where_}: {shown} answers {s}");
                Ok(Some(s))
            }
            End::Status(s) => {
                self.handler = Handler::Auth;
                log!(self, "auth request unexpected status: {s}");
                why!(
                    self,
                    "auth_request at {where_}: {shown} answers {s}, which nginx turns into 500"
                );
                Ok(Some(500))
            }
            End::Upstream(up) => {
                self.handler = Handler::Auth;
                why!(
                    self,
                    "auth_request at {where_} asks {shown}, passed to the upstream {up}: the status \
                     depends on its answer (2xx lets the request through, 401/403 are returned, \
                     anything else or no answer gives 500)"
                );
                Err(End::Upstream(up))
            }
            End::Close => Err(End::Unknown(format!(
                "auth_request at {where_}: {shown} closes the connection (444)"
            ))),
            End::Unknown(why) => Err(End::Unknown(format!(
                "auth_request at {}: {shown}: {why}",
                self.dir_of(at)
            ))),
        }
    }

    /// A subrequest for `uri` (ngx_http_subrequest): the same request, server and variables,
    /// an internal GET through every phase from the server's rewrites. Its status is used, and
    /// what it writes to the error log (nginx logs a subrequest's failed open like any other,
    /// with `subrequest: "/_auth"`).
    fn subrequest(&mut self, uri: Vec<u8>, args: Vec<u8>) -> End {
        let mut sub = Run {
            r: self.r,
            explain: self.explain,
            req: self.req,
            files: Files {
                root: self.files.root,
                cache: self.files.cache,
                explain: false,
                who: self.files.who.clone(),
            },
            server: self.server,
            server_block: self.server_block,
            server_name: self.server_name,
            host: self.host.clone(),
            uri,
            args,
            quoted: false,
            plus: false,
            method: Cow::Borrowed("GET"),
            internal: true,
            uri_changes: self.uri_changes,
            uri_changed: false,
            valid_location: true,
            add_uri_to_alias: false,
            error_page: false,
            err_status: 0,
            captures: self.captures.clone(),
            named: self.named.clone(),
            set_vars: self.set_vars.clone(),
            conf: self.server_block,
            location: None,
            content_handler: None,
            handler: Handler::Error,
            reason: String::new(),
            path: None,
            walk: None,
            first: None,
            strict_vars: self.strict_vars,
            subrequest: true,
            redirect: None,
            log: Vec::new(),
            steps: Vec::new(),
            notes: Vec::new(),
        };
        let end = sub.main_loop();
        self.log.append(&mut sub.log);
        end
    }

    // ---- try_files (ngx_http_try_files_handler) ----
    // ---- content phase ----
    // ---- paths (ngx_http_map_uri_to_path) ----
    // ---- redirects inside nginx ----
    /// ngx_http_internal_redirect.
    fn internal_redirect(&mut self, uri: Vec<u8>, args: Vec<u8>) -> Flow {
        self.uri_changes = self.uri_changes.saturating_sub(1);
        if self.uri_changes == 0 {
            log!(
                self,
                "rewrite or internal redirection cycle while internally redirecting to \"{}\"",
                crate::text_safe::bytes(&uri)
            );
            self.handler = Handler::Error;
            self.reason = "more than 10 internal redirects: nginx gives up with 500".into();
            return Flow::Finalize(500);
        }
        self.keep_first_path();
        self.uri = uri;
        self.args = args;
        self.internal = true;
        self.valid_location = true;
        self.add_uri_to_alias = false;
        self.conf = self.server_block;
        self.content_handler = None;
        Flow::Go(Phase::ServerRewrite)
    }

    /// The request moves on to another URI or location: the path it opened so far (if any) is the
    /// first one, what follows ends on `final_path`.
    fn keep_first_path(&mut self) {
        if self.first.is_none() {
            if let Some(p) = self.path.take() {
                self.first = Some((p, self.walk.take()));
            }
        }
    }

    /// The first unmodelled directive in effect that acts at `stage`.
    fn unmodelled(&self, stage: Stage) -> Option<&'r Unmodelled> {
        let conf: &'r Conf = self.conf();
        conf.unmodelled.iter().find(|u| u.stage == stage)
    }

    /// ngx_http_named_location.
    fn named_location(&mut self, name: &str) -> Flow {
        self.uri_changes = self.uri_changes.saturating_sub(1);
        if self.uri_changes == 0 {
            log!(
                self,
                "rewrite or internal redirection cycle while redirect to named location \"{name}\""
            );
            self.handler = Handler::Error;
            return Flow::Finalize(500);
        }
        let server = self.r.blocks.get(self.server_block).locations();
        let Some(l) = self.r.locations.named(server, name) else {
            log!(self, "could not find named location \"{name}\"");
            self.handler = Handler::Error;
            why!(self, "named location {name} does not exist: 500");
            return Flow::Finalize(500);
        };
        let loc = &self.r.locations.locs[l];
        self.keep_first_path();
        self.internal = true;
        self.content_handler = None;
        self.uri_changed = false;
        self.conf = loc.block();
        self.location = Some(loc.node);
        step!(
            self,
            "location {} ({})",
            self.r.locations.name(l),
            self.dir_of(loc.node)
        );
        self.update_location_config();
        Flow::Go(Phase::Rewrite)
    }

    /// ngx_http_finalize_request → ngx_http_special_response_handler.
    fn finalize(&mut self, code: u16) -> Flow {
        if code == 444 {
            return Flow::End(End::Close);
        }
        if !(code >= 300 || code == 201 || code == 204) {
            return Flow::Sent(code);
        }
        self.err_status = code;
        let conf = self.conf();
        if !self.error_page && !conf.error_pages.is_empty() && self.uri_changes != 0 {
            if !conf.recursive_error_pages {
                self.error_page = true;
            }
            if let Some(page) = conf.error_pages.iter().find(|p| p.codes.contains(&code)) {
                return self.send_error_page(page, code);
            }
        }
        Flow::End(End::Status(self.err_status))
    }

    /// ngx_http_send_error_page.
    fn send_error_page(&mut self, page: &ErrorPage, code: u16) -> Flow {
        let at = self.explained_at(page.at);
        if page.overwrite >= 0 {
            self.err_status = page.overwrite as u16;
        }
        let target = match self.eval(&page.target) {
            Ok(t) => t,
            Err(u) => {
                let d = self.r.config().directive(page.at);
                return self.unknown_var(&u, &d);
            }
        };
        let shown = crate::text_safe::bytes(&target).into_owned();
        step!(self, "error_page {code} → {shown} ({at})");
        if target.first() == Some(&b'/') {
            let (u, a) = match target.iter().position(|&b| b == b'?') {
                Some(q) => (target[..q].to_vec(), target[q + 1..].to_vec()),
                None => (target.clone(), Vec::new()),
            };
            if self.method != "HEAD" {
                self.method = Cow::Borrowed("GET");
            }
            return self.internal_redirect(u, a);
        }
        if target.first() == Some(&b'@') {
            return self.named_location(&shown);
        }
        let status = match page.overwrite {
            301 | 302 | 303 | 307 | 308 => page.overwrite as u16,
            _ => 302,
        };
        self.err_status = status;
        self.redirect = Some(shown.clone());
        self.handler = Handler::Redirect;
        why!(self, "error_page {code} at {at} redirects to {shown}");
        Flow::End(End::Status(status))
    }

    // ---- variables ----
    fn eval(&mut self, template: &str) -> Value {
        if !template.contains('$') {
            return Ok(template.as_bytes().to_vec());
        }
        // A lone variable (`if ($request_method ...)`): its value, without a second buffer.
        let mut parts = vars::parts(template);
        if let (Some(vars::Part::Var(name)), None) = (parts.next(), parts.next()) {
            return self.var(name, 0);
        }
        // In order, like nginx's script: a variable read before `$1` can change it (a map's
        // regex sets the request's captures).
        let mut out = Vec::with_capacity(template.len());
        for part in vars::parts(template) {
            match part {
                vars::Part::Text(t) => out.extend_from_slice(t),
                vars::Part::Capture(n) => {
                    if let Some(c) = &self.captures {
                        out.extend_from_slice(c.get(n));
                    }
                }
                vars::Part::Var(name) => out.extend(self.var(name, 0)?),
            }
        }
        Ok(out)
    }

    fn var(&mut self, name: &str, depth: usize) -> Value {
        // nginx's variable names are case-insensitive (`$URI` is `$uri`; `set $Base` and
        // `(?<Name>...)` declare `$base` and `$name`): every name is kept and read lower-case.
        if name.bytes().any(|b| b.is_ascii_uppercase()) {
            return self.var(&name.to_ascii_lowercase(), depth);
        }
        if let Some(v) = self.set_vars.get(name) {
            return Ok(v.clone());
        }
        if let Some((_, v)) = self.named.iter().rev().find(|(n, _)| n == name) {
            return Ok(v.clone());
        }
        let req = self.req;
        let bytes = |s: &str| Ok(s.as_bytes().to_vec());
        match name {
            "uri" | "document_uri" => return Ok(self.uri.clone()),
            "args" | "query_string" => return Ok(self.args.clone()),
            "is_args" => return bytes(if self.args.is_empty() { "" } else { "?" }),
            "request_uri" => return Ok(req.target.clone()),
            "host" => {
                let h = if self.host.is_empty() {
                    self.server_name
                } else {
                    &self.host
                };
                return Ok(h.as_bytes().to_vec());
            }
            "http_host" => return bytes(&req.host_header),
            "scheme" => return bytes(&req.scheme),
            "https" => return bytes(if req.scheme == "https" { "on" } else { "" }),
            "server_name" => return bytes(self.server_name),
            "server_port" => return bytes(&req.port.to_string()),
            "server_addr" => {
                return bytes(
                    &req.local_addr
                        .map(|a| a.to_string())
                        .unwrap_or_else(|| "127.0.0.1".into()),
                )
            }
            "server_protocol" => return bytes("HTTP/1.1"),
            "remote_addr" => return bytes(&req.client.to_string()),
            "binary_remote_addr" => {
                return Ok(match req.client {
                    std::net::IpAddr::V4(a) => a.octets().to_vec(),
                    std::net::IpAddr::V6(a) => a.octets().to_vec(),
                })
            }
            "request_method" => return Ok(self.method.as_bytes().to_vec()),
            "request" => {
                return Ok(format!(
                    "{} {} HTTP/1.1",
                    req.method,
                    crate::text_safe::bytes(&req.target)
                )
                .into_bytes())
            }
            "document_root" => {
                let r = self.map_root();
                return r.map_err(|_| "document_root".to_string());
            }
            "request_filename" => {
                let r = self.map_uri_to_path();
                return r.map_err(|_| "request_filename".to_string());
            }
            "invalid_referer" => {
                // ngx_http_referer_variable: the modelled request sends no Referer; valid
                // when no valid_referers applies, or when it lists `none`.
                let invalid = matches!(self.conf().valid_referers, Some((false, _)));
                return bytes(if invalid { "1" } else { "" });
            }
            "content_type"
            | "content_length"
            | "remote_user"
            | "http_cookie"
            | "http_user_agent"
            | "http_referer"
            | "http_x_forwarded_for"
            | "http_upgrade"
            | "http_authorization"
            | "sent_http_content_type" => return Ok(Vec::new()),
            "hostname" => {
                // The machine's name as the root records it.
                let f = self
                    .r
                    .inputs
                    .root
                    .host_path(std::path::Path::new("/etc/hostname"));
                return Ok(crate::input::read_to_string(&f)
                    .map(|h| h.trim().to_string())
                    .unwrap_or_default()
                    .into_bytes());
            }
            _ => {}
        }
        if let Some(arg) = name.strip_prefix("arg_") {
            return Ok(arg_value(&self.args, arg));
        }
        if name.starts_with("http_") || name.starts_with("cookie_") {
            // The modelled request sends no other header and no cookie.
            return Ok(Vec::new());
        }
        let r = self.r;
        if let Some(map) = r.shared().maps.get(name) {
            if depth > 8 {
                return Err(name.to_string());
            }
            let source: &str = &map.source;
            let src = if let Some(v) = source.strip_prefix('$') {
                self.var(v, depth + 1)?
            } else {
                let mut f = |n: &str| self.var(n, depth + 1);
                vars::expand(source, &|_| Vec::new(), &mut f)?
            };
            let (value, caps) = map.lookup(&src);
            // ngx_http_regex_exec: a map's regex sets the named captures as variables and
            // `$1`..`$9` of the request, like any regex of the config.
            self.take_captures(caps.clone());
            let value = if !value.contains('$') {
                value.into_bytes()
            } else {
                let capture =
                    move |n: usize| caps.as_ref().map(|c| c.get(n).to_vec()).unwrap_or_default();
                let mut f = |n: &str| self.var(n, depth + 1);
                vars::expand(&value, &capture, &mut f)?
            };
            // A map's variable is cacheable: evaluated once per request, then kept (even when
            // its source changes later, e.g. `$uri` after a rewrite).
            if !map.volatile {
                self.set_vars.insert(name.to_string(), value.clone());
            }
            return Ok(value);
        }
        if !self.strict_vars && self.r.declares(self.r.config(), name) {
            return Ok(Vec::new());
        }
        Err(name.to_string())
    }

    fn into_resolution(mut self, end: End) -> Resolution {
        let mut unknown = None;
        let (status, upstream) = match end {
            End::Status(s) => (Some(s), None),
            End::Close => {
                if self.reason.is_empty() {
                    self.reason =
                        "`return 444`: nginx closes the connection without answering".into();
                }
                (Some(444), None)
            }
            End::Upstream(target) => (None, Some(target)),
            End::Unknown(why) => {
                unknown = Some(why.clone());
                self.reason = why;
                (None, None)
            }
        };
        if let Some(s) = status {
            if self.reason.is_empty() {
                why!(self, "nginx answers {s}");
            }
            if !self.notes.is_empty() {
                // Each cause once, however many times the request met it.
                let mut seen = std::collections::HashSet::new();
                self.notes.retain(|n| seen.insert(n.clone()));
                self.reason
                    .push_str(&format!(" (note: {})", self.notes.join("; ")));
            }
        }
        let uri = self.uri_str();
        let (path, final_path, walk) = match self.first {
            Some((first, walk)) => {
                let last = self.path.filter(|p| *p != first);
                (Some(first), last, walk)
            }
            None => (self.path, None, self.walk),
        };
        let as_path = |p: Vec<u8>| PathBuf::from(OsStr::from_bytes(&p));
        Resolution {
            uri: Some(uri),
            server: Some(self.server),
            server_choice: self.steps.first().cloned().unwrap_or_default(),
            location: self.location,
            handler: self.handler,
            path: path.map(as_path),
            predicted_status: status,
            reason: self.reason,
            unknown,
            final_path: final_path.map(as_path),
            walk,
            redirect: self.redirect,
            upstream,
            log: self.log,
            steps: self.steps,
        }
    }
}

/// `$arg_NAME` (ngx_http_arg): the raw value of the first NAME= in the query, case-insensitive.
fn arg_value(args: &[u8], name: &str) -> Vec<u8> {
    for part in args.split(|&b| b == b'&') {
        if let Some(eq) = part.iter().position(|&b| b == b'=') {
            if part[..eq].eq_ignore_ascii_case(name.as_bytes()) {
                return part[eq + 1..].to_vec();
            }
        }
    }
    let _ = unescape;
    Vec::new()
}
