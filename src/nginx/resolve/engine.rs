//! The request's journey through nginx's phases, as `ngx_http_core_run_phases` runs them:
//!
//!   server rewrite → find location → location rewrite → (location changed? find again)
//!   → access (allow/deny, auth_basic) → try_files → content (proxy & co., index, autoindex,
//!   static) → finalize (error_page, possibly an internal redirect back to the start).
//!
//! Every branch follows nginx 1.22's source: the function named in each comment is the one whose
//! behaviour is reproduced. Internal redirects and URI changes count down from 11 like
//! `r->uri_changes`; the tenth change is a 500 ("rewrite or internal redirection cycle").

use super::conf::{AliasKind, BlockIdx, BlockKind, Conf, ErrorPage, Symlinks, Upstream};
use super::files::{Errno, Files, Kind, Op, SymlinkPolicy};
use super::location::{Found, MatchCtx, Modifier};
use super::regex::{Captures, Exec, NgxRegex};
use super::server::{validate_host, Chosen};
use super::uri::{escape_uri, parse_target, unescape};
use super::vars::{self, Value};
use super::{Handler, Request, Resolution, Resolver, Served, ServedKind};
use crate::fs::walk::Walk;
use crate::nginx::{Directive, NodeId};
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

/// The rewrite module's verdict on a script.
enum Script {
    /// Fell off the end, or `break`/`rewrite ... last|break` stopped it.
    Continue,
    Stop,
    Flow(Flow),
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
            let Some(sel) =
                r.servers
                    .select(host.as_deref().unwrap_or(""), req.port, req.local_addr)
            else {
                empty.reason = format!(
                    "no server block listens on port {}: the connection is refused",
                    req.port
                );
                return empty;
            };
            let info = &r.servers.servers[sel.server];
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
                .servers
                .default_for(req.port, req.local_addr)
                .map(|d| r.servers.servers[d].id)
                .unwrap_or(info.id);
            (info.id, how, sel.captures, sel.named_captures, default)
        }
    };
    empty.server = Some(server);
    empty.server_choice = choice.clone();
    let Some(server_block) = r.blocks.of(server) else {
        empty.reason = "the server block is not part of the http context".into();
        return empty;
    };
    let server_name = r
        .server_info(server)
        .and_then(|s| s.names.first())
        .map_or("", String::as_str);
    // The request line is parsed before the Host header picks the server: merge_slashes comes
    // from the socket's default server (ngx_http_process_request_uri).
    let merge = r
        .blocks
        .of(default_server)
        .map_or(true, |b| r.blocks.get(b).conf.merge_slashes);
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
            String::from_utf8_lossy(path).into_owned()
        } else {
            String::new()
        }
    }

    fn uri_str(&self) -> String {
        String::from_utf8_lossy(&self.uri).into_owned()
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
            let flow = match flow {
                Flow::Finalize(code) => self.finalize(code),
                other => other,
            };
            match flow {
                Flow::Go(p) => phase = p,
                Flow::Sent(code) => {
                    let status = if self.err_status != 0 {
                        self.err_status
                    } else {
                        code
                    };
                    return End::Status(status);
                }
                Flow::End(e) => return e,
                Flow::Finalize(_) => unreachable!("finalize resolved above"),
            }
        }
        End::Unknown("the request loops inside media-doctor's model".into())
    }

    // ---- server and location rewrite phases (ngx_http_rewrite_handler) ----

    fn server_rewrite(&mut self) -> Flow {
        self.conf = self.server_block;
        let r = self.r;
        let script = r.scripts.get(&self.server).map_or(&[][..], Vec::as_slice);
        match self.script(script, false) {
            Script::Continue | Script::Stop => Flow::Go(Phase::FindConfig),
            Script::Flow(f) => f,
        }
    }

    fn location_rewrite(&mut self) -> Flow {
        // "skipping location rewrite phase for server null location"
        if self.conf == self.server_block {
            return Flow::Go(Phase::PostRewrite);
        }
        let block = self.r.blocks.get(self.conf);
        let owner = match block.kind {
            // limit_except blocks have no rewrite directives of their own (and inherit none).
            BlockKind::LimitExcept => return Flow::Go(Phase::PostRewrite),
            // An `if` shares its enclosing block's script.
            BlockKind::If => {
                let mut b = block.parent;
                while let Some(p) = b {
                    if self.r.blocks.get(p).kind != BlockKind::If {
                        break;
                    }
                    b = self.r.blocks.get(p).parent;
                }
                b.and_then(|p| self.r.blocks.get(p).node)
            }
            _ => block.node,
        };
        let Some(owner) = owner else {
            return Flow::Go(Phase::PostRewrite);
        };
        let r = self.r;
        let script = r.scripts.get(&owner).map_or(&[][..], Vec::as_slice);
        match self.script(script, true) {
            Script::Continue | Script::Stop => Flow::Go(Phase::PostRewrite),
            Script::Flow(f) => f,
        }
    }

    fn post_rewrite(&mut self) -> Flow {
        if !self.uri_changed {
            return Flow::Go(Phase::Access);
        }
        self.uri_changes -= 1;
        if self.uri_changes == 0 {
            log!(
                self,
                "rewrite or internal redirection cycle while processing \"{}\"",
                self.uri_str()
            );
            self.handler = Handler::Error;
            self.reason =
                "more than 10 rewrites/internal redirects: nginx gives up with 500".into();
            return Flow::Finalize(500);
        }
        self.conf = self.server_block;
        Flow::Go(Phase::FindConfig)
    }

    /// Run rewrite-module directives in order: rewrite, return, set, if, break.
    /// `in_location`: the script of a location. A true `if` there switches to the if block's
    /// configuration; a server-level `if` does not (ngx_http_rewrite_if leaves its loc_conf
    /// NULL), so locations are still searched afterwards.
    fn script(&mut self, directives: &[ScriptOp], in_location: bool) -> Script {
        let r = self.r;
        for &ScriptOp { kind, id } in directives {
            let d = &r.config().directive(id);
            match kind {
                OpKind::Rewrite => {
                    if let Some(s) = self.rewrite(d) {
                        return s;
                    }
                }
                OpKind::Return => return Script::Flow(self.return_(d)),
                OpKind::Set => {
                    let (Some(var), Some(val)) = (d.arg(0), d.arg(1)) else {
                        continue;
                    };
                    let name = var.trim_start_matches('$').to_string();
                    match self.eval(val) {
                        Ok(v) => {
                            self.set_vars.insert(name, v);
                        }
                        Err(u) => {
                            self.notes.push(format!(
                                "`set ${name}` uses ${u}, which media-doctor cannot evaluate"
                            ));
                            self.set_vars.insert(name, Vec::new());
                        }
                    }
                }
                OpKind::Break => {
                    // ngx_http_script_break_code
                    if self.uri_changed {
                        self.valid_location = false;
                        self.uri_changed = false;
                    }
                    return Script::Stop;
                }
                OpKind::If => match self.condition(d) {
                    Err(e) => return Script::Flow(e),
                    Ok(false) => {}
                    Ok(true) => {
                        step!(
                            self,
                            "if ({}) is true ({})",
                            cond_text(d),
                            self.dir_of(d.id())
                        );
                        if let (true, Some(b)) = (in_location, self.r.blocks.of(d.id())) {
                            self.conf = b;
                            self.update_location_config();
                        }
                        let inner = r.scripts.get(&d.id()).map_or(&[][..], Vec::as_slice);
                        match self.script(inner, in_location) {
                            Script::Continue => {}
                            other => return other,
                        }
                    }
                },
            }
        }
        Script::Continue
    }

    /// `rewrite REGEX REPLACEMENT [last|break|redirect|permanent]`; None: continue the script.
    fn rewrite(&mut self, d: &Directive<'_>) -> Option<Script> {
        let (Some(re), Some(rep)) = (d.arg(0), d.arg(1)) else {
            return None;
        };
        let flag = d.arg(2).unwrap_or("");
        // Compiled with the model (compile_scripts).
        let regex = self.r.script_regexes.get(&d.id())?;
        match regex.exec(&self.uri) {
            Ok(Exec::NoMatch) => return None,
            Ok(Exec::Match(caps)) => self.take_captures(caps),
            Err(e) => {
                self.notes.push(e);
                return None;
            }
        }
        let is_url =
            rep.starts_with("http://") || rep.starts_with("https://") || rep.starts_with("$scheme");
        let value = match self.eval(rep) {
            Ok(v) => v,
            Err(u) => return Some(Script::Flow(self.unknown_var(&u, d))),
        };
        let at = self.explained_at(d.id());
        if is_url || flag == "redirect" || flag == "permanent" {
            let code = if flag == "permanent" { 301 } else { 302 };
            let mut loc = String::from_utf8_lossy(&value).into_owned();
            if !loc.contains('?') && !self.args.is_empty() && !rep.ends_with('?') {
                loc.push('?');
                loc.push_str(&String::from_utf8_lossy(&self.args));
            }
            let loc = loc.trim_end_matches('?').to_string();
            step!(self, "rewrite {re} → {code} {loc} ({at})");
            self.handler = Handler::Rewrite;
            why!(self, "rewrite at {at} redirects with {code} to {loc}");
            self.redirect = Some(loc);
            return Some(Script::Flow(Flow::Finalize(code)));
        }
        // An internal rewrite: the new URI is used as written (not decoded again).
        let (new_uri, new_args) = match value.iter().position(|&b| b == b'?') {
            Some(q) => {
                let mut a = value[q + 1..].to_vec();
                if !rep.ends_with('?') && !self.args.is_empty() {
                    if !a.is_empty() {
                        a.push(b'&');
                    }
                    a.extend_from_slice(&self.args);
                }
                (value[..q].to_vec(), Some(a))
            }
            None => (value, None),
        };
        if new_uri.is_empty() {
            self.log
                .push("the rewritten URI has a zero length".to_string());
            self.handler = Handler::Error;
            why!(self, "rewrite at {at} produces an empty URI: 500");
            return Some(Script::Flow(Flow::Finalize(500)));
        }
        step!(
            self,
            "rewrite {re} → {} {}({at})",
            String::from_utf8_lossy(&new_uri),
            if flag.is_empty() {
                String::new()
            } else {
                format!("{flag} ")
            }
        );
        self.uri = new_uri;
        if let Some(a) = new_args {
            self.args = a;
        }
        self.internal = true;
        match flag {
            "break" => {
                self.valid_location = false;
                self.uri_changed = false;
                Some(Script::Stop)
            }
            "last" => {
                self.uri_changed = true;
                Some(Script::Stop)
            }
            _ => {
                self.uri_changed = true;
                None
            }
        }
    }

    /// `return CODE [TEXT|URL]` / `return URL` (ngx_http_script_return_code).
    fn return_(&mut self, d: &Directive<'_>) -> Flow {
        let at = self.explained_at(d.id());
        let a0 = d.arg(0).unwrap_or("");
        let (code, text) = match a0.parse::<u16>() {
            Ok(c) => (c, d.arg(1)),
            Err(_) => (302, Some(a0)),
        };
        self.handler = Handler::Return;
        step!(self, "return {code} ({at})");
        if matches!(code, 301 | 302 | 303 | 307 | 308) {
            let target = match text.map(|t| self.eval(t)) {
                Some(Ok(v)) => String::from_utf8_lossy(&v).into_owned(),
                Some(Err(u)) => format!("(depends on ${u})"),
                None => String::new(),
            };
            why!(self, "`return {code}` at {at} redirects to {target}");
            self.redirect = Some(target);
            return Flow::Finalize(code);
        }
        why!(self, "`return {code}` at {at}");
        if code < 400 || text.is_some() {
            return Flow::Sent(code);
        }
        Flow::Finalize(code)
    }

    /// The condition of `if (...)` (ngx_http_rewrite_if_condition).
    fn condition(&mut self, d: &Directive<'_>) -> Result<bool, Flow> {
        // Conditions have one to three arguments; more match none of the forms below.
        let mut buf = [""; 3];
        let n = d.arg_count();
        if n <= buf.len() {
            for (slot, a) in buf.iter_mut().zip(d.args()) {
                *slot = a;
            }
        }
        let args: &[&str] = if n <= buf.len() { &buf[..n] } else { &[] };
        let unknown = |me: &mut Self, u: String| -> Flow { me.unknown_var(&u, d) };
        match args {
            [var] if var.starts_with('$') => {
                let v = self.eval(var).map_err(|u| unknown(self, u))?;
                Ok(!(v.is_empty() || v == b"0"))
            }
            [var, op, rhs] if var.starts_with('$') => {
                let v = self.eval(var).map_err(|u| unknown(self, u))?;
                match *op {
                    "=" | "!=" => {
                        let r = self.eval(rhs).map_err(|u| unknown(self, u))?;
                        Ok((v == r) == (*op == "="))
                    }
                    "~" | "~*" | "!~" | "!~*" => {
                        // Compiled with the model (compile_scripts reads the same arguments).
                        let Some(re) = self.r.script_regexes.get(&d.id()) else {
                            return Ok(false);
                        };
                        let m = match re.exec(&v) {
                            Ok(Exec::Match(c)) => {
                                self.take_captures(c);
                                true
                            }
                            Ok(Exec::NoMatch) => false,
                            Err(e) => {
                                self.notes.push(e);
                                false
                            }
                        };
                        Ok(m != op.starts_with('!'))
                    }
                    _ => Ok(false),
                }
            }
            [test, file] if test.starts_with('-') || test.starts_with("!-") => {
                let negate = test.starts_with('!');
                let f = self.eval(file).map_err(|u| unknown(self, u))?;
                let policy = self.symlink_policy(&f);
                let probe = self.files.call(&f, Op::Stat, policy);
                let kind = match probe.result {
                    Ok(k) => Some(k),
                    Err(Errno::Unknown(why)) => {
                        return Err(Flow::End(End::Unknown(format!(
                            "`if ({test} ...)` at {} tests {}: {why}",
                            self.dir_of(d.id()),
                            String::from_utf8_lossy(&f)
                        ))))
                    }
                    Err(_) => None,
                };
                let yes = match test.trim_start_matches('!') {
                    "-f" => kind == Some(Kind::File),
                    "-d" => kind == Some(Kind::Dir),
                    "-e" => kind.is_some(),
                    "-x" => {
                        kind.is_some()
                            && probe
                                .walk
                                .as_ref()
                                .and_then(|w| w.steps.last())
                                .is_some_and(|s| s.meta.mode & 0o111 != 0)
                    }
                    _ => false,
                };
                Ok(yes != negate)
            }
            _ => Ok(false),
        }
    }

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
            self.r.locations.find(self.server, &self.uri, &mut ctx)
        };
        self.notes.extend(errors);
        let mut auto_redirect = false;
        match found {
            Found::Location(l) | Found::AutoRedirect(l) => {
                let loc = &self.r.locations.locs[l];
                self.conf = loc.block;
                self.location = Some(loc.node);
                auto_redirect = matches!(found, Found::AutoRedirect(_));
                step!(
                    self,
                    "location {}{} ({}) for {}",
                    match loc.modifier {
                        Modifier::Prefix | Modifier::Named => String::new(),
                        m => format!("{} ", m.as_str()),
                    },
                    loc.name,
                    self.dir_of(loc.node),
                    self.uri_str()
                );
                let regex = matches!(loc.modifier, Modifier::Regex | Modifier::RegexCaseless);
                if self.explain && regex {
                    if let Some(p) = self.r.locations.shadowed_prefix(self.server, &self.uri, l) {
                        let prefix = &self.r.locations.locs[p];
                        step!(
                            self,
                            "location {} ({}) matches by prefix too, but it is not `^~`: the \
                             regex locations are tried after it, and this one wins (MD105)",
                            prefix.name,
                            self.dir_of(prefix.node)
                        );
                    }
                }
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
            return Flow::Go(Phase::TryFiles);
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
        if code != 0 {
            return Flow::Finalize(code);
        }
        Flow::Go(Phase::TryFiles)
    }

    fn has_user_file(&self) -> bool {
        // auth_basic does nothing without auth_basic_user_file (inherited like auth_basic).
        let mut b = Some(self.conf);
        while let Some(i) = b {
            let block = self.r.blocks.get(i);
            if let Some(n) = block.node {
                if self
                    .r
                    .config()
                    .directive(n)
                    .children()
                    .any(|d| d.is("auth_basic_user_file"))
                {
                    return true;
                }
            }
            b = block.parent;
        }
        false
    }

    // ---- try_files (ngx_http_try_files_handler) ----

    fn try_files(&mut self) -> Flow {
        let Some(tf) = self.conf().try_files else {
            return Flow::Go(Phase::Content);
        };
        let d = self.r.config().directive(tf);
        let at = self.explained_at(tf);
        let args: Vec<&str> = d.args().collect();
        if args.len() < 2 {
            return Flow::Go(Phase::Content);
        }
        let alias = self.conf().root.alias;
        for (i, raw) in args.iter().enumerate() {
            let last = i + 1 == args.len();
            let mut name: &str = raw;
            let mut test_dir = false;
            if !last && !name.is_empty() && name.ends_with('/') {
                test_dir = true;
                name = &name[..name.len() - 1];
            }
            let has_vars = vars::has_vars(name);
            let mut value = match self.eval(name) {
                Ok(v) => v,
                Err(u) => return self.unknown_var(&u, &d),
            };
            let base = match self.map_root() {
                Ok(b) => b,
                Err(f) => return f,
            };
            if has_vars {
                if let AliasKind::Prefix(len) = alias {
                    if value.len() >= len
                        && self.uri.len() >= len
                        && value[..len] == self.uri[..len]
                    {
                        value.drain(..len);
                    }
                }
            }
            if last {
                if let Some(code) = raw.strip_prefix('=').and_then(|c| c.parse::<u16>().ok()) {
                    self.handler = Handler::TryFiles;
                    why!(self, "try_files at {at} found none of its files: ={code}");
                    step!(self, "try_files: nothing found → ={code} ({at})");
                    return Flow::Finalize(code);
                }
                if value.first() == Some(&b'@') {
                    let n = String::from_utf8_lossy(&value).into_owned();
                    step!(self, "try_files: nothing found → named location {n} ({at})");
                    return self.named_location(&n);
                }
                let (u, a) = match value.iter().position(|&b| b == b'?') {
                    Some(q) => (value[..q].to_vec(), value[q + 1..].to_vec()),
                    None => (value.clone(), Vec::new()),
                };
                step!(
                    self,
                    "try_files: nothing found → internal redirect to {} ({at})",
                    String::from_utf8_lossy(&u)
                );
                return self.internal_redirect(u, a);
            }
            let mut path = base.clone();
            path.extend_from_slice(&value);
            let policy = self.symlink_policy(&path);
            let probe = self.files.call(&path, Op::Stat, policy);
            let shown = self.explained_path(&path);
            match probe.result {
                Err(Errno::Unknown(why)) => {
                    let why = format!(
                        "try_files at {} tests {}: {why}",
                        self.dir_of(tf),
                        String::from_utf8_lossy(&path)
                    );
                    self.path = Some(path);
                    self.walk = probe.walk;
                    return Flow::End(End::Unknown(why));
                }
                Err(e) => {
                    if !matches!(e, Errno::NoEnt | Errno::NotDir | Errno::NameTooLong) {
                        let op = if policy.mode == Symlinks::Off {
                            "stat()"
                        } else {
                            "openat()"
                        };
                        log!(self, "{op} \"{shown}\" failed ({})", e.log_text());
                    }
                    step!(self, "try_files: {shown}: {} → next", e.log_text());
                    continue;
                }
                Ok(kind) => {
                    if (kind == Kind::Dir) != test_dir {
                        step!(
                            self,
                            "try_files: {shown} is {} → next",
                            if kind == Kind::Dir {
                                "a directory, not a file"
                            } else {
                                "not a directory"
                            }
                        );
                        continue;
                    }
                    step!(self, "try_files: {shown} exists ({at})");
                    match alias {
                        AliasKind::Root => self.uri = value,
                        AliasKind::Regex => {
                            if !test_dir {
                                self.uri = value;
                                self.add_uri_to_alias = true;
                            }
                        }
                        AliasKind::Prefix(len) => {
                            let mut u = self.uri[..len.min(self.uri.len())].to_vec();
                            u.extend_from_slice(&value);
                            self.uri = u;
                        }
                    }
                    return Flow::Go(Phase::Content);
                }
            }
        }
        Flow::Go(Phase::Content)
    }

    // ---- content phase ----

    fn content(&mut self) -> Flow {
        if let Some(h) = self.content_handler {
            let at = self.explained_at(h.at);
            self.handler = Handler::for_directive(&h.directive);
            step!(self, "{} {} ({at})", h.directive, h.target);
            return match h.directive.as_str() {
                "empty_gif" | "stub_status" => {
                    why!(self, "{} at {at} answers itself", h.directive);
                    Flow::Sent(200)
                }
                d if super::conf::PASS_DIRECTIVES.contains(&d) => {
                    why!(
                        self,
                        "passed to the upstream {} by {} at {at}: the status is the upstream's",
                        h.target,
                        h.directive
                    );
                    Flow::End(End::Upstream(h.target.clone()))
                }
                _ => {
                    why!(
                        self,
                        "{} at {at} produces the answer: media-doctor does not model it",
                        h.directive
                    );
                    Flow::End(End::Unknown(self.reason.clone()))
                }
            };
        }
        if let Some(f) = self.index() {
            return f;
        }
        if let Some(f) = self.autoindex() {
            return f;
        }
        if let Some(f) = self.static_file() {
            return f;
        }
        if self.uri.last() == Some(&b'/') {
            if let Ok(p) = self.map_uri_to_path() {
                log!(
                    self,
                    "directory index of \"{}\" is forbidden",
                    String::from_utf8_lossy(&p)
                );
                self.path = Some(p);
            }
            self.handler = Handler::Index;
            if self.reason.is_empty() {
                self.reason =
                    "a directory URI, no index file and autoindex off: nginx forbids listing it"
                        .into();
            }
            return Flow::Finalize(403);
        }
        self.log.push("no handler found".into());
        self.handler = Handler::Error;
        Flow::Finalize(404)
    }

    /// ngx_http_index_handler.
    fn index(&mut self) -> Option<Flow> {
        if self.uri.last() != Some(&b'/') {
            return None;
        }
        if !matches!(&*self.method, "GET" | "HEAD" | "POST") {
            return None;
        }
        let conf = self.conf();
        let mut dir_tested = false;
        for name in conf.index.iter() {
            let has_vars = vars::has_vars(name);
            if !has_vars && name.starts_with('/') {
                self.handler = Handler::Index;
                step!(self, "index {name}: internal redirect");
                return Some(self.internal_redirect(name.as_bytes().to_vec(), self.args.clone()));
            }
            let mapped = match self.map_uri_to_path() {
                Ok(p) => p,
                Err(f) => return Some(f),
            };
            let value = match self.eval(name) {
                Ok(v) => v,
                Err(u) => {
                    return Some(Flow::End(End::Unknown(format!(
                        "index {name} uses ${u}, which media-doctor cannot evaluate"
                    ))))
                }
            };
            if has_vars && value.first() == Some(&b'/') {
                self.handler = Handler::Index;
                return Some(self.internal_redirect(value, self.args.clone()));
            }
            let mut path = mapped.clone();
            path.extend_from_slice(&value);
            let policy = self.symlink_policy(&path);
            let probe = self.files.call(&path, Op::Stat, policy);
            let shown = String::from_utf8_lossy(&path).into_owned();
            self.path = Some(path.clone());
            self.walk = probe.walk.clone();
            self.handler = Handler::Index;
            match probe.result {
                Ok(_) => {
                    let mut u = self.uri.clone();
                    u.extend_from_slice(&value);
                    step!(
                        self,
                        "index: {shown} exists → internal redirect to {}",
                        String::from_utf8_lossy(&u)
                    );
                    return Some(self.internal_redirect(u, self.args.clone()));
                }
                Err(Errno::Unknown(why)) => {
                    return Some(Flow::End(End::Unknown(format!(
                        "index file {shown}: {why}"
                    ))))
                }
                Err(Errno::Loop) => {
                    self.reason =
                        format!("index file {shown}: a symlink, and disable_symlinks is on");
                    return Some(Flow::Finalize(403));
                }
                Err(e @ (Errno::NotDir | Errno::NameTooLong | Errno::Access)) => {
                    return Some(self.index_error(&shown, &e));
                }
                Err(Errno::NoEnt) => {
                    if !dir_tested {
                        // ngx_http_index_test_dir: the directory itself.
                        let dir = if mapped.len() > 1 && mapped.ends_with(b"/") {
                            mapped[..mapped.len() - 1].to_vec()
                        } else {
                            mapped.clone()
                        };
                        let dprobe = self.files.call(&dir, Op::Stat, policy);
                        match dprobe.result {
                            Ok(Kind::Dir) | Err(Errno::Access) => {}
                            Ok(_) => {
                                log!(
                                    self,
                                    "\"{}\" is not a directory",
                                    String::from_utf8_lossy(&dir)
                                );
                                self.walk = dprobe.walk;
                                self.reason = "the index directory is not a directory".into();
                                return Some(Flow::Finalize(500));
                            }
                            Err(Errno::NoEnt) => {
                                self.walk = dprobe.walk;
                                self.path = Some(dir.clone());
                                return Some(self.index_error(&shown, &Errno::NoEnt));
                            }
                            Err(Errno::Loop) => {
                                self.walk = dprobe.walk;
                                return Some(Flow::Finalize(403));
                            }
                            Err(Errno::Unknown(why)) => {
                                return Some(Flow::End(End::Unknown(why)));
                            }
                            Err(e) => {
                                log!(
                                    self,
                                    "stat() \"{}\" failed ({})",
                                    String::from_utf8_lossy(&dir),
                                    e.log_text()
                                );
                                return Some(Flow::Finalize(500));
                            }
                        }
                        dir_tested = true;
                    }
                    step!(self, "index: {shown} does not exist");
                    continue;
                }
            }
        }
        None
    }

    fn index_error(&mut self, shown: &str, e: &Errno) -> Flow {
        if *e == Errno::Access {
            log!(self, "\"{shown}\" is forbidden ({})", e.log_text());
            why!(
                self,
                "the index file {shown} cannot be reached by the worker user"
            );
            return Flow::Finalize(403);
        }
        if self.conf().log_not_found {
            log!(self, "\"{shown}\" is not found ({})", e.log_text());
        }
        why!(self, "{shown}: {}", e.log_text());
        Flow::Finalize(404)
    }

    /// ngx_http_autoindex_handler.
    fn autoindex(&mut self) -> Option<Flow> {
        if self.uri.last() != Some(&b'/')
            || !matches!(&*self.method, "GET" | "HEAD")
            || !self.conf().autoindex
        {
            return None;
        }
        let mut path = match self.map_uri_to_path() {
            Ok(p) => p,
            Err(f) => return Some(f),
        };
        // nginx drops the last byte unconditionally (`if (path.len > 1) path.len--;`), assuming
        // it is the URI's trailing slash. With `location /media/ { alias /srv/www; }` the mapped
        // path is `/srv/www` and nginx opens `/srv/ww`: a 404, or a listing of a sibling.
        if path.len() > 1 {
            path.pop();
        }
        let probe = self.files.call(&path, Op::OpenDir, SymlinkPolicy::OFF);
        let shown = String::from_utf8_lossy(&path).into_owned();
        self.path = Some(path);
        self.walk = probe.walk;
        self.handler = Handler::Autoindex;
        Some(match probe.result {
            Ok(_) => {
                why!(self, "autoindex lists {shown}");
                Flow::Sent(200)
            }
            Err(Errno::Unknown(why)) => Flow::End(End::Unknown(why)),
            Err(e) => {
                log!(self, "opendir() \"{shown}\" failed ({})", e.log_text());
                why!(self, "autoindex cannot open {shown}: {}", e.log_text());
                match e {
                    Errno::NoEnt | Errno::NotDir | Errno::NameTooLong => Flow::Finalize(404),
                    Errno::Access => Flow::Finalize(403),
                    _ => Flow::Finalize(500),
                }
            }
        })
    }

    /// ngx_http_static_handler.
    fn static_file(&mut self) -> Option<Flow> {
        if !matches!(&*self.method, "GET" | "HEAD" | "POST") {
            self.handler = Handler::Static;
            return Some(Flow::Finalize(405));
        }
        if self.uri.last() == Some(&b'/') {
            return None;
        }
        let path = match self.map_uri_to_path() {
            Ok(p) => p,
            Err(f) => return Some(f),
        };
        let policy = self.symlink_policy(&path);
        let probe = self.files.call(&path, Op::Open, policy);
        let shown = self.explained_path(&path);
        let unknown = match &probe.result {
            Err(Errno::Unknown(why)) => Some(format!("{}: {why}", String::from_utf8_lossy(&path))),
            _ => None,
        };
        self.path = Some(path);
        self.walk = probe.walk;
        self.handler = Handler::Static;
        let failed = if policy.mode == Symlinks::Off {
            "open()"
        } else {
            "openat()"
        };
        Some(match probe.result {
            Err(Errno::Unknown(_)) => Flow::End(End::Unknown(unknown.unwrap_or_default())),
            Err(e) => {
                let code = match e {
                    Errno::NoEnt | Errno::NotDir | Errno::NameTooLong => 404,
                    _ => 403,
                };
                if code == 403 || self.conf().log_not_found {
                    log!(self, "{failed} \"{shown}\" failed ({})", e.log_text());
                }
                if self.explain {
                    self.reason = match e {
                        Errno::NoEnt => format!("{shown} does not exist"),
                        Errno::NotDir => format!("a component of {shown} is not a directory"),
                        Errno::Access => format!("the worker user cannot open {shown}"),
                        Errno::Loop => {
                            format!(
                                "{shown} goes through a symlink and disable_symlinks forbids it"
                            )
                        }
                        _ => format!("{shown}: {}", e.log_text()),
                    };
                }
                Flow::Finalize(code)
            }
            Ok(Kind::Dir) => {
                let mut loc = escape_uri(&self.uri);
                loc.push('/');
                if !self.args.is_empty() {
                    loc.push('?');
                    loc.push_str(&String::from_utf8_lossy(&self.args));
                }
                self.handler = Handler::Redirect;
                why!(
                    self,
                    "{shown} is a directory: nginx adds the trailing slash"
                );
                self.redirect = Some(loc);
                Flow::Finalize(301)
            }
            Ok(Kind::Other) => {
                log!(self, "\"{shown}\" is not a regular file");
                why!(self, "{shown} is not a regular file");
                Flow::Finalize(404)
            }
            Ok(Kind::File) => {
                if self.method == "POST" {
                    return Some(Flow::Finalize(405));
                }
                why!(self, "{shown} is served");
                Flow::Sent(200)
            }
        })
    }

    // ---- paths (ngx_http_map_uri_to_path) ----

    /// The root part of the path (the root, or the alias), evaluated and made absolute.
    fn map_root(&mut self) -> Result<Vec<u8>, Flow> {
        let root = &self.conf().root;
        if root.alias != AliasKind::Root && !self.valid_location {
            let name = self
                .location
                .and_then(|n| self.r.location_pattern(n))
                .map(|(_, n)| n)
                .unwrap_or_default();
            log!(
                self,
                "\"alias\" cannot be used in location \"{name}\" where URI was rewritten"
            );
            self.handler = Handler::Error;
            self.reason = "alias in a location where the URI was rewritten (rewrite ... break): nginx fails with 500".into();
            return Err(Flow::Finalize(500));
        }
        if !root.scripted {
            return Ok(root.value.as_bytes().to_vec());
        }
        let v = match self.eval(&root.value) {
            Ok(v) => v,
            Err(u) => {
                return Err(Flow::End(End::Unknown(format!(
                    "the root/alias {} uses ${u}, which media-doctor cannot evaluate",
                    root.value
                ))))
            }
        };
        if v.first() == Some(&b'/') {
            Ok(v)
        } else {
            Ok(
                super::conf::join_prefix(&self.r.config().prefix, &String::from_utf8_lossy(&v))
                    .into_bytes(),
            )
        }
    }

    fn map_uri_to_path(&mut self) -> Result<Vec<u8>, Flow> {
        let alias = self.conf().root.alias;
        let mut p = self.map_root()?;
        match alias {
            AliasKind::Root => p.extend_from_slice(&self.uri),
            AliasKind::Prefix(len) => {
                if len <= self.uri.len() {
                    p.extend_from_slice(&self.uri[len..]);
                }
            }
            AliasKind::Regex => {
                if self.add_uri_to_alias {
                    p.extend_from_slice(&self.uri);
                }
            }
        }
        Ok(p)
    }

    fn symlink_policy(&mut self, path: &[u8]) -> SymlinkPolicy {
        let conf = self.conf();
        let mode = conf.disable_symlinks;
        if mode == Symlinks::Off {
            return SymlinkPolicy::OFF;
        }
        let Some(from) = conf.disable_symlinks_from.clone() else {
            return SymlinkPolicy { mode, from: 0 };
        };
        let from = match self.eval(&from) {
            Ok(f) => f,
            Err(_) => return SymlinkPolicy { mode, from: 0 },
        };
        // ngx_http_set_disable_symlinks
        if from.is_empty() || from.len() > path.len() || path[..from.len()] != from[..] {
            return SymlinkPolicy { mode, from: 0 };
        }
        if from.len() == path.len() {
            return SymlinkPolicy::OFF;
        }
        if path[from.len()] == b'/' {
            return SymlinkPolicy {
                mode,
                from: from.len(),
            };
        }
        if path[from.len() - 1] == b'/' {
            return SymlinkPolicy {
                mode,
                from: from.len() - 1,
            };
        }
        SymlinkPolicy { mode, from: 0 }
    }

    // ---- redirects inside nginx ----

    /// ngx_http_internal_redirect.
    fn internal_redirect(&mut self, uri: Vec<u8>, args: Vec<u8>) -> Flow {
        self.uri_changes -= 1;
        if self.uri_changes == 0 {
            log!(
                self,
                "rewrite or internal redirection cycle while internally redirecting to \"{}\"",
                String::from_utf8_lossy(&uri)
            );
            self.handler = Handler::Error;
            self.reason = "more than 10 internal redirects: nginx gives up with 500".into();
            return Flow::Finalize(500);
        }
        self.uri = uri;
        self.args = args;
        self.internal = true;
        self.valid_location = true;
        self.add_uri_to_alias = false;
        self.conf = self.server_block;
        self.content_handler = None;
        Flow::Go(Phase::ServerRewrite)
    }

    /// ngx_http_named_location.
    fn named_location(&mut self, name: &str) -> Flow {
        self.uri_changes -= 1;
        if self.uri_changes == 0 {
            log!(
                self,
                "rewrite or internal redirection cycle while redirect to named location \"{name}\""
            );
            self.handler = Handler::Error;
            return Flow::Finalize(500);
        }
        let Some(l) = self.r.locations.named(self.server, name) else {
            log!(self, "could not find named location \"{name}\"");
            self.handler = Handler::Error;
            why!(self, "named location {name} does not exist: 500");
            return Flow::Finalize(500);
        };
        let loc = &self.r.locations.locs[l];
        self.internal = true;
        self.content_handler = None;
        self.uri_changed = false;
        self.conf = loc.block;
        self.location = Some(loc.node);
        step!(self, "location {} ({})", loc.name, self.dir_of(loc.node));
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
        let shown = String::from_utf8_lossy(&target).into_owned();
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

    fn take_captures(&mut self, caps: Option<Captures>) {
        if let Some(c) = caps {
            for (n, v) in c.named() {
                self.named.retain(|(m, _)| m != n);
                self.named.push((n.to_string(), v.to_vec()));
            }
            self.captures = Some(c);
        }
    }

    fn unknown_var(&mut self, var: &str, d: &Directive<'_>) -> Flow {
        Flow::End(End::Unknown(format!(
            "`{}` at {} depends on ${var}, which media-doctor cannot evaluate offline",
            d.name(),
            self.dir_of(d.id())
        )))
    }

    fn eval(&mut self, template: &str) -> Value {
        if !template.contains('$') {
            return Ok(template.as_bytes().to_vec());
        }
        // A lone variable (`if ($request_method ...)`): its value, without a second buffer.
        let mut parts = vars::parts(template);
        if let (Some(vars::Part::Var(name)), None) = (parts.next(), parts.next()) {
            return self.var(name, 0);
        }
        // Copying the captures costs allocations: only for a template that reads `$1`..`$9`.
        let caps = if vars::uses_captures(template) {
            self.captures.clone()
        } else {
            None
        };
        let capture = move |n: usize| caps.as_ref().map(|c| c.get(n).to_vec()).unwrap_or_default();
        let mut lookup = |name: &str| self.var(name, 0);
        vars::expand(template, &capture, &mut lookup)
    }

    fn var(&mut self, name: &str, depth: usize) -> Value {
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
                    String::from_utf8_lossy(&req.target)
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
                return Ok(std::fs::read_to_string(f)
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
        if let Some(map) = r.maps.get(name) {
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
            if !value.contains('$') {
                return Ok(value.into_bytes());
            }
            let capture =
                move |n: usize| caps.as_ref().map(|c| c.get(n).to_vec()).unwrap_or_default();
            let mut f = |n: &str| self.var(n, depth + 1);
            return vars::expand(&value, &capture, &mut f);
        }
        if self.r.declared.contains(name) {
            return Ok(Vec::new());
        }
        Err(name.to_string())
    }

    fn into_resolution(mut self, end: End) -> Resolution {
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
                self.reason = why;
                (None, None)
            }
        };
        if let Some(s) = status {
            if self.reason.is_empty() {
                why!(self, "nginx answers {s}");
            }
            if !self.notes.is_empty() {
                self.reason
                    .push_str(&format!(" (note: {})", self.notes.join("; ")));
            }
        }
        Resolution {
            uri: Some(self.uri_str()),
            server: Some(self.server),
            server_choice: self.steps.first().cloned().unwrap_or_default(),
            location: self.location,
            handler: self.handler,
            path: self.path.map(|p| PathBuf::from(OsStr::from_bytes(&p))),
            predicted_status: status,
            reason: self.reason,
            walk: self.walk,
            redirect: self.redirect,
            upstream,
            log: self.log,
            steps: self.steps,
        }
    }
}

/// The arguments of `if (...)`: the parser already took the parentheses off as
/// ngx_http_rewrite_if does (`if ($uri ~ \.(png|gif))` tests `\.(png|gif)`).
fn condition_args<'c>(d: &Directive<'c>) -> Vec<&'c str> {
    d.args().collect()
}

fn cond_text(d: &Directive<'_>) -> String {
    condition_args(d).join(" ")
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

// ---- what the checks ask: served directories ----

pub(super) fn served_prefix(r: &Resolver<'_>, server: NodeId, prefix: &str) -> Option<Served> {
    const PROBE: &str = "md-probe";
    let uri = format!("{}{PROBE}", prefix);
    let mut captures = None;
    let mut named = Vec::new();
    let mut errors = Vec::new();
    let found = {
        let mut ctx = MatchCtx {
            captures: &mut captures,
            named: &mut named,
            errors: &mut errors,
        };
        r.locations.find(server, uri.as_bytes(), &mut ctx)
    };
    let (block, location) = match found {
        Found::Location(l) => (r.locations.locs[l].block, Some(r.locations.locs[l].node)),
        Found::AutoRedirect(_) => return None,
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
        kind: match conf.root.alias {
            AliasKind::Root => ServedKind::Root,
            _ => ServedKind::Alias,
        },
    })
}

/// The path nginx builds for `uri` in `block` (no rewrite, no try_files), as a string.
fn path_for(
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
        server_name: r
            .server_info(server)
            .and_then(|s| s.names.first())
            .map_or("", String::as_str),
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
        redirect: None,
        log: Vec::new(),
        steps: Vec::new(),
        notes: Vec::new(),
    };
    let p = run.map_uri_to_path().ok()?;
    Some(String::from_utf8_lossy(&p).into_owned())
}

/// The rewrite-module directives a script runs.
#[derive(Debug, Clone, Copy)]
pub(super) enum OpKind {
    Rewrite,
    Return,
    Set,
    Break,
    /// `if (...) { ... }` (an `if` without a block is not part of the script).
    If,
}

/// One directive of a script, its kind read once when the model is built (reading the name
/// again for every request reaches cold configuration text).
#[derive(Debug, Clone, Copy)]
pub(super) struct ScriptOp {
    pub kind: OpKind,
    pub id: NodeId,
}

/// The script of every block (rewrite-module directives in order) and the regexes they use.
pub(super) fn compile_scripts(
    cfg: &crate::nginx::Config,
    servers: &[NodeId],
) -> (HashMap<NodeId, Vec<ScriptOp>>, HashMap<NodeId, NgxRegex>) {
    let mut scripts = HashMap::new();
    let mut regexes = HashMap::new();
    let mut stack: Vec<NodeId> = servers.to_vec();
    while let Some(id) = stack.pop() {
        let block = cfg.directive(id);
        let mut script = Vec::new();
        for d in block.children() {
            let kind = match d.name() {
                "rewrite" => Some(OpKind::Rewrite),
                "return" => Some(OpKind::Return),
                "set" => Some(OpKind::Set),
                "break" => Some(OpKind::Break),
                "if" if d.has_block() => Some(OpKind::If),
                _ => None,
            };
            if let Some(kind) = kind {
                script.push(ScriptOp { kind, id: d.id() });
            }
            if d.is("rewrite") {
                if let Some(re) = d.arg(0) {
                    regexes.insert(d.id(), NgxRegex::new(re, false));
                }
            }
            if d.is("if") {
                if let [var, op @ ("~" | "~*" | "!~" | "!~*"), rhs] = condition_args(&d).as_slice()
                {
                    if var.starts_with('$') {
                        regexes.insert(d.id(), NgxRegex::new(rhs, op.ends_with('*')));
                    }
                }
            }
            if d.has_block() && matches!(d.name(), "location" | "if") {
                stack.push(d.id());
            }
        }
        if !script.is_empty() {
            scripts.insert(id, script);
        }
    }
    (scripts, regexes)
}

pub(super) fn mapped_path(r: &Resolver<'_>, server: NodeId, uri: &str) -> Option<PathBuf> {
    let mut captures = None;
    let mut named = Vec::new();
    let mut errors = Vec::new();
    let found = {
        let mut ctx = MatchCtx {
            captures: &mut captures,
            named: &mut named,
            errors: &mut errors,
        };
        r.locations.find(server, uri.as_bytes(), &mut ctx)
    };
    let block = match found {
        Found::Location(l) | Found::AutoRedirect(l) => r.locations.locs[l].block,
        Found::None => r.blocks.of(server)?,
    };
    path_for(r, server, block, uri.as_bytes(), captures, named).map(PathBuf::from)
}

pub(super) fn path_in_block(
    r: &Resolver<'_>,
    server: NodeId,
    location: NodeId,
    uri: &str,
) -> Option<PathBuf> {
    let block = r.blocks.of(location)?;
    path_for(r, server, block, uri.as_bytes(), None, Vec::new()).map(PathBuf::from)
}

fn returns_unconditionally(r: &Resolver<'_>, location: NodeId) -> bool {
    r.config()
        .directive(location)
        .children()
        .any(|d| d.is("return"))
}

pub(super) fn static_locations(r: &Resolver<'_>) -> Vec<Served> {
    let mut out: Vec<Served> = Vec::new();
    // One entry per directory, the first in config order; a set, not a scan of `out`: a big
    // config serves tens of thousands of directories.
    let mut seen: std::collections::HashSet<PathBuf> = std::collections::HashSet::new();
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
            let kind = match conf.root.alias {
                AliasKind::Root => ServedKind::Root,
                _ => ServedKind::Alias,
            };
            let dir = match (modifier, conf.root.alias) {
                (Modifier::Regex | Modifier::RegexCaseless | Modifier::Named, AliasKind::Root)
                | (Modifier::Regex | Modifier::RegexCaseless | Modifier::Named, AliasKind::Regex) =>
                {
                    // The whole root may be reached; for a regex alias, its fixed part.
                    let v = &conf.root.value;
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
            let served = Served {
                server,
                location: Some(loc),
                prefix: name,
                dir: PathBuf::from(dir),
                kind,
            };
            if seen.insert(served.dir.clone()) {
                out.push(served);
            }
        }
    }
    out
}
