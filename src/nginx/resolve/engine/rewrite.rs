//! The rewrite module: each block's script (rewrite, return, set, if, break) compiled once with
//! the model, and run in the server-rewrite, location-rewrite and post-rewrite phases.

use super::*;
use crate::nginx::resolve::conf::BlockKind;
use crate::nginx::resolve::files::{Errno, Kind, Op};
use crate::nginx::resolve::regex::{Captures, Exec, NgxRegex};
use crate::nginx::resolve::Handler;
use crate::nginx::{Directive, NodeId};
use std::collections::HashMap;

/// The rewrite module's verdict on a script.
pub(super) enum Script {
    /// Fell off the end, or `break`/`rewrite ... last|break` stopped it.
    Continue,
    Stop,
    Flow(Flow),
}

impl<'r, 's> Run<'r, 's> {
    pub(super) fn server_rewrite(&mut self) -> Flow {
        self.conf = self.server_block;
        let r = self.r;
        let script = r.scripts.get(&self.server).map_or(&[][..], Vec::as_slice);
        match self.script(script, false) {
            Script::Continue | Script::Stop => Flow::Go(Phase::FindConfig),
            Script::Flow(f) => f,
        }
    }

    pub(super) fn location_rewrite(&mut self) -> Flow {
        // "skipping location rewrite phase for server null location"
        if self.conf == self.server_block {
            return Flow::Go(Phase::PostRewrite);
        }
        let block = self.r.blocks.get(self.conf);
        let owner = match block.kind() {
            // limit_except blocks have no rewrite directives of their own (and inherit none).
            BlockKind::LimitExcept => return Flow::Go(Phase::PostRewrite),
            // An `if` shares its enclosing block's script.
            BlockKind::If => {
                let mut b = block.parent();
                while let Some(p) = b {
                    if self.r.blocks.get(p).kind() != BlockKind::If {
                        break;
                    }
                    b = self.r.blocks.get(p).parent();
                }
                b.and_then(|p| self.r.blocks.get(p).node())
            }
            _ => block.node(),
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

    pub(super) fn post_rewrite(&mut self) -> Flow {
        if !self.uri_changed {
            return Flow::Go(Phase::Access);
        }
        self.uri_changes = self.uri_changes.saturating_sub(1);
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
    pub(super) fn script(&mut self, directives: &[ScriptOp], in_location: bool) -> Script {
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
                    let name = var.trim_start_matches('$').to_ascii_lowercase();
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
    pub(super) fn rewrite(&mut self, d: &Directive<'_>) -> Option<Script> {
        let (Some(re), Some(rep)) = (d.arg(0), d.arg(1)) else {
            return None;
        };
        let flag = d.arg(2).unwrap_or("");
        // Compiled with the model (compile_scripts).
        let regex = self.r.script_regexes.get(&d.id())?;
        match regex.exec(&self.uri) {
            Ok(Exec::NoMatch) => return None,
            Ok(Exec::Match(caps)) => self.take_captures(caps),
            Err(e) if regex.compiles() => return Some(Script::Flow(self.regex_failed(&e, d))),
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
            crate::text_safe::bytes(&new_uri),
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
    pub(super) fn return_(&mut self, d: &Directive<'_>) -> Flow {
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
    pub(super) fn condition(&mut self, d: &Directive<'_>) -> Result<bool, Flow> {
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
                            Err(e) if re.compiles() => return Err(self.regex_failed(&e, d)),
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
                let policy = self.symlink_policy(&f)?;
                let probe = self.files.call(&f, Op::Stat, policy);
                let kind = match probe.result {
                    Ok(k) => Some(k),
                    Err(Errno::Unknown(why)) => {
                        return Err(Flow::End(End::Unknown(format!(
                            "`if ({test} ...)` at {} tests {}: {why}",
                            self.dir_of(d.id()),
                            crate::text_safe::bytes(&f)
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

    pub(super) fn take_captures(&mut self, caps: Option<Captures>) {
        if let Some(c) = caps {
            for (n, v) in c.named() {
                self.named.retain(|(m, _)| m != n);
                self.named.push((n.to_string(), v.to_vec()));
            }
            self.captures = Some(c);
        }
    }

    /// A `rewrite` or `if` regex that compiles failed to run on its subject (PCRE's match
    /// limit): ngx_http_script_regex_start_code ends the request with 500.
    pub(super) fn regex_failed(&mut self, e: &str, d: &Directive<'_>) -> Flow {
        log!(self, "{e} on \"{}\"", self.uri_str());
        self.handler = Handler::Error;
        why!(
            self,
            "the regex of `{}` at {} failed to run ({e}): nginx answers 500",
            d.name(),
            self.dir_of(d.id())
        );
        Flow::Finalize(500)
    }

    pub(super) fn unknown_var(&mut self, var: &str, d: &Directive<'_>) -> Flow {
        Flow::End(End::Unknown(format!(
            "`{}` at {} depends on ${var}, which media-doctor cannot evaluate offline",
            d.name(),
            self.dir_of(d.id())
        )))
    }
}

/// The arguments of `if (...)`: the parser already took the parentheses off as
/// ngx_http_rewrite_if does (`if ($uri ~ \.(png|gif))` tests `\.(png|gif)`).
pub(super) fn condition_args<'c>(d: &Directive<'c>) -> Vec<&'c str> {
    d.args().collect()
}

pub(super) fn cond_text(d: &Directive<'_>) -> String {
    condition_args(d).join(" ")
}

/// The rewrite-module directives a script runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::nginx::resolve) enum OpKind {
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
pub(in crate::nginx::resolve) struct ScriptOp {
    pub kind: OpKind,
    pub id: NodeId,
}

/// The script of every block (rewrite-module directives in order) and the regexes they use.
pub(in crate::nginx::resolve) fn compile_scripts(
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
