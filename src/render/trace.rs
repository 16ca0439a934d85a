//! `media-doctor trace URL`: how nginx serves one URL, as text or as the contract's JSON.
//!
//! Both views come from one `Trace` value built from the resolver's `Resolution`, so they cannot
//! drift apart.

use crate::nginx::resolve::Request;
use crate::nginx::resolve::{Resolution, Resolver};
use colored::Colorize;
use serde::Serialize;
use std::io::Write;
use std::path::PathBuf;

/// The version of the trace JSON (docs/trace.schema.json): raised on an incompatible change,
/// kept on additions.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Serialize)]
pub struct Trace {
    pub schema_version: u32,
    pub url: String,
    /// The server judged: `nginx` or `apache`.
    pub web_server: &'static str,
    /// The decoded, normalised URI nginx matched.
    pub uri: Option<String>,
    pub server: Option<ServerRef>,
    pub location: Option<LocationRef>,
    pub handler: String,
    #[serde(serialize_with = "crate::text_safe::serialize_opt_path")]
    pub path: Option<PathBuf>,
    /// The file the answer ends on when it is not `path` (the error page, the index file).
    #[serde(serialize_with = "crate::text_safe::serialize_opt_path")]
    pub final_path: Option<PathBuf>,
    pub predicted_status: Option<u16>,
    /// Why the status cannot be predicted (null when it is, or when an upstream answers):
    /// `predicted_status` is null then.
    pub unknown: Option<String>,
    pub reason: String,
    /// The loader's warnings, beside the prediction: what `nginx -t` may refuse (a directive
    /// nginx's own modules do not have, that only a module can provide) or what media-doctor
    /// could not see (an include a fragment names), each `file:line:col: message`; the first
    /// `CONFIG_WARNINGS`, then how many more.
    pub config_warnings: Vec<String>,
    pub walk: Vec<WalkStep>,
    /// Where the walk stopped, when it did not reach the file (`denied at /srv (needs x)`).
    pub walk_outcome: Option<String>,
    /// The worker user the walk was made as.
    pub user: Option<String>,
    pub redirect: Option<String>,
    pub upstream: Option<String>,
    /// The lines nginx writes to its error log for this request.
    pub error_log: Vec<String>,
    /// What happened, step by step.
    pub steps: Vec<String>,
    /// The live answer (null with --offline; filled by the live probe).
    pub live: Option<crate::live::trace::TraceLive>,
}

#[derive(Debug, Serialize)]
pub struct ServerRef {
    pub file: String,
    pub line: u32,
    pub names: Vec<String>,
    /// How it was chosen.
    pub chosen_by: String,
}

#[derive(Debug, Serialize)]
pub struct LocationRef {
    pub file: String,
    pub line: u32,
    pub modifier: String,
    pub pattern: String,
}

#[derive(Debug, Serialize)]
pub struct WalkStep {
    #[serde(serialize_with = "crate::text_safe::serialize_path")]
    pub path: PathBuf,
    pub mode: String,
    pub owner: String,
    pub group: String,
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::text_safe::serialize_opt_path"
    )]
    pub link_target: Option<PathBuf>,
}

/// How many of the loader's warnings a trace lists (`Trace::config_warnings`).
pub const CONFIG_WARNINGS: usize = 10;

/// The loader's warnings as a trace lists them: the first `CONFIG_WARNINGS`, then a count.
fn config_warnings(cfg: &crate::nginx::Config) -> Vec<String> {
    let warnings: Vec<&crate::nginx::Diagnostic> =
        cfg.diagnostics.iter().filter(|d| !d.fatal).collect();
    let mut out: Vec<String> = warnings
        .iter()
        .take(CONFIG_WARNINGS)
        .map(|d| d.to_string())
        .collect();
    // Listed or not (the loader lists the first ones of each file and counts the rest).
    let unlisted: u64 = cfg.omitted.iter().map(|o| o.count - o.fatal).sum();
    let more = warnings.len().saturating_sub(CONFIG_WARNINGS) as u64 + unlisted;
    if more > 0 {
        out.push(format!(
            "and {more} more: `media-doctor check` lists them (MD100)"
        ));
    }
    out
}

impl Trace {
    pub fn new(resolver: &Resolver<'_>, req: &Request, res: &Resolution) -> Trace {
        let cfg = resolver.config();
        let server = res.server.map(|s| {
            let d = cfg.directive(s);
            ServerRef {
                file: crate::text_safe::path(d.file()).into_owned(),
                line: d.line(),
                names: resolver.server_names(s),
                chosen_by: res
                    .server_choice
                    .strip_prefix("server: ")
                    .unwrap_or(&res.server_choice)
                    .to_string(),
            }
        });
        let location = res.location.and_then(|l| {
            let d = cfg.directive(l);
            let (m, p) = resolver.location_pattern(l)?;
            Some(LocationRef {
                file: crate::text_safe::path(d.file()).into_owned(),
                line: d.line(),
                modifier: m.as_str().to_string(),
                pattern: p,
            })
        });
        let walk = walk_steps(res.walk.as_ref());
        Trace {
            schema_version: SCHEMA_VERSION,
            url: req.url.clone(),
            web_server: "nginx",
            uri: res.uri.clone(),
            server,
            location,
            handler: res.handler.as_str().to_string(),
            path: res.path.clone(),
            final_path: res.final_path.clone(),
            predicted_status: res.predicted_status,
            unknown: res.unknown.clone(),
            reason: res.reason.clone(),
            config_warnings: config_warnings(cfg),
            walk,
            walk_outcome: res
                .walk
                .as_ref()
                .filter(|w| !w.outcome.is_found())
                .map(|w| w.outcome.to_string()),
            user: res.walk.as_ref().map(|w| w.user.clone()),
            redirect: res.redirect.clone(),
            upstream: res.upstream.clone(),
            error_log: res.log.clone(),
            steps: res.steps.clone(),
            live: None,
        }
    }
}

impl Trace {
    /// The trace of Apache's answer: the `<VirtualHost>` as the server, the mapping
    /// (`Alias /media/`, `ProxyPass /`...) as the location, its modifier empty.
    pub fn from_apache(
        resolver: &crate::apache::resolve::Resolver<'_>,
        req: &Request,
        res: &crate::apache::resolve::Resolution,
    ) -> Trace {
        let cfg = resolver.config();
        let server = res.vhost.map(|v| {
            let d = cfg.directive(v);
            let names = d
                .children()
                .filter(|c| c.is("ServerName") || c.is("ServerAlias"))
                .flat_map(|c| c.args().map(str::to_string).collect::<Vec<_>>())
                .collect();
            ServerRef {
                file: crate::text_safe::path(d.file()).into_owned(),
                line: d.line(),
                names,
                chosen_by: res.server_choice.clone(),
            }
        });
        let location = res.mapping.map(|m| {
            let d = cfg.directive(m);
            LocationRef {
                file: crate::text_safe::path(d.file()).into_owned(),
                line: d.line(),
                modifier: String::new(),
                pattern: format!("{} {}", d.name(), d.arg(0).unwrap_or("")),
            }
        });
        let walk = walk_steps(res.walk.as_ref());
        let upstream_handler = res.handler.is_upstream()
            || matches!(res.handler, crate::nginx::resolve::Handler::Module(_));
        Trace {
            schema_version: SCHEMA_VERSION,
            url: req.url.clone(),
            web_server: "apache",
            uri: res.uri.clone(),
            server,
            location,
            handler: res.handler.as_str().to_string(),
            path: res.path.clone(),
            final_path: None,
            predicted_status: res.predicted_status,
            unknown: (res.predicted_status.is_none() && !upstream_handler)
                .then(|| res.reason.clone()),
            reason: res.reason.clone(),
            config_warnings: Vec::new(),
            walk,
            walk_outcome: res
                .walk
                .as_ref()
                .filter(|w| !w.outcome.is_found())
                .map(|w| w.outcome.to_string()),
            user: res
                .walk
                .as_ref()
                .map(|w| w.user.clone())
                .or_else(|| resolver.worker().ok().map(|w| w.name.clone())),
            redirect: res.redirect.clone(),
            upstream: res.upstream.clone(),
            error_log: res.log.clone(),
            steps: res.steps.clone(),
            live: None,
        }
    }
}

/// The directory walk as the trace shows it (the same for both servers: one `fs` walk).
fn walk_steps(walk: Option<&crate::fs::walk::Walk>) -> Vec<WalkStep> {
    walk.map(|w| {
        w.steps
            .iter()
            .map(|s| WalkStep {
                path: s.path.clone(),
                mode: s.mode.clone(),
                owner: s.owner.clone(),
                group: s.group.clone(),
                ok: s.ok,
                why: (!s.ok).then(|| s.why.clone()).flatten(),
                link_target: s.link_target.clone(),
            })
            .collect()
    })
    .unwrap_or_default()
}

pub fn write_json(out: &mut dyn Write, t: &Trace) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, t)?;
    writeln!(out)
}

impl Trace {
    /// The severity of what the trace shows, for `--fail-on` (as for `check`): an error when
    /// the URL fails (the live answer when there is one, else the prediction: 4xx or 5xx), a
    /// warning when the prediction is unknown, the live answer differs from it or the config
    /// has a warning nginx may refuse it for; none for a URL that is served.
    pub fn severity(&self) -> Option<crate::report::Severity> {
        use crate::report::Severity;
        let live = self.live.as_ref();
        let status = live.and_then(|l| l.status).or(self.predicted_status);
        if status.is_some_and(|s| s >= 400) {
            return Some(Severity::Error);
        }
        if self.predicted_status.is_none()
            || live.is_some_and(|l| l.agreement != "matches")
            || !self.config_warnings.is_empty()
        {
            return Some(Severity::Warning);
        }
        None
    }
}

/// The text trace, lines longer than `width` wrapped under their label (paths kept whole);
/// `width` None (output to a pipe or a file): one line per fact, for grep.
pub fn write_text(out: &mut dyn Write, t: &Trace, width: Option<usize>) -> std::io::Result<()> {
    let Some(width) = width else {
        return write_lines(out, t);
    };
    let mut unwrapped = Vec::new();
    write_lines(&mut unwrapped, t)?;
    let w = super::text::Wrapper { width };
    for line in String::from_utf8_lossy(&unwrapped).lines() {
        // A labelled line continues under its value (the labels are 9 wide + a space); an
        // indented one under its own indent + 2.
        let lead = line.len() - line.trim_start().len();
        let rest = if lead == 0 {
            " ".repeat(10)
        } else {
            " ".repeat(lead + 2)
        };
        for l in w.lines(line, "", &rest) {
            writeln!(out, "{l}")?;
        }
    }
    Ok(())
}

fn write_lines(out: &mut dyn Write, t: &Trace) -> std::io::Result<()> {
    // The URL, the log lines, the names and paths come from outside: escaped (render::safe).
    let t = &super::safe::trace(t);
    let label = |s: &str| format!("{s:<9}").bold();
    writeln!(out, "{} {}", label("url"), t.url)?;
    // nginx is the default the reader expects; another server is named.
    if t.web_server != "nginx" {
        writeln!(out, "{} {}", label("judged"), t.web_server)?;
    }
    if let Some(u) = &t.uri {
        writeln!(out, "{} {u}", label("uri"))?;
    }
    match &t.server {
        Some(s) => writeln!(
            out,
            "{} {}:{} ({})",
            label("server"),
            s.file,
            s.line,
            s.chosen_by
        )?,
        None => writeln!(out, "{} none", label("server"))?,
    }
    match &t.location {
        Some(l) => {
            let m = if l.modifier.is_empty() {
                String::new()
            } else {
                format!("{} ", l.modifier)
            };
            writeln!(
                out,
                "{} location {m}{} at {}:{}",
                label("location"),
                l.pattern,
                l.file,
                l.line
            )?
        }
        None => writeln!(
            out,
            "{} none (the server's own configuration)",
            label("location")
        )?,
    }
    writeln!(out, "{} {}", label("handler"), t.handler)?;
    if let Some(p) = &t.path {
        writeln!(out, "{} {}", label("path"), p.display())?;
    }
    if let Some(p) = &t.final_path {
        writeln!(out, "{} {}", label("then"), p.display())?;
    }
    if !t.walk.is_empty() {
        writeln!(
            out,
            "{} as {}",
            label("walk"),
            t.user.as_deref().unwrap_or("the worker user")
        )?;
        let ow = t.walk.iter().map(|s| s.owner.len()).max().unwrap_or(0);
        let gw = t.walk.iter().map(|s| s.group.len()).max().unwrap_or(0);
        for s in &t.walk {
            let mut line = format!(
                "  {} {:ow$} {:gw$} {}",
                s.mode,
                s.owner,
                s.group,
                s.path.display()
            );
            if let Some(l) = &s.link_target {
                line.push_str(&format!(" -> {}", l.display()));
            }
            if s.ok {
                writeln!(out, "{line}")?;
            } else {
                let why = s.why.as_deref().unwrap_or("denied");
                writeln!(out, "{}", format!("{line}   \u{2717} {why}").red())?;
            }
        }
        if let Some(o) = &t.walk_outcome {
            writeln!(out, "  => {o}")?;
        }
    }
    if let Some(r) = &t.redirect {
        writeln!(out, "{} {r}", label("location:"))?;
    }
    let status = match t.predicted_status {
        Some(s) if s < 300 => s.to_string().green(),
        Some(s) if s < 400 => s.to_string().yellow(),
        Some(s) => s.to_string().red(),
        None => "unknown".dimmed(),
    };
    match &t.unknown {
        Some(why) if t.predicted_status.is_none() => {
            writeln!(out, "{} {status}: {why}", label("status"))?
        }
        _ => writeln!(out, "{} {status} (predicted)", label("status"))?,
    }
    writeln!(out, "{} {}", label("reason"), t.reason)?;
    for (i, w) in t.config_warnings.iter().enumerate() {
        let head = label(if i == 0 { "config" } else { "" });
        writeln!(out, "{head} {}", format!("warning: {w}").yellow())?;
    }
    if let Some(live) = &t.live {
        write_live(out, live, t.predicted_status, &label)?;
    }
    if let Some(u) = &t.upstream {
        writeln!(out, "{} {u}", label("upstream"))?;
    }
    if !t.error_log.is_empty() {
        writeln!(out, "{}", label("error log"))?;
        for l in &t.error_log {
            writeln!(out, "  {l}")?;
        }
    }
    if t.steps.len() > 1 {
        writeln!(out, "{}", label("steps"))?;
        for s in &t.steps {
            writeln!(out, "  {s}")?;
        }
    }
    Ok(())
}

/// The live answers beside the prediction, and why they differ when they do.
fn write_live(
    out: &mut dyn Write,
    live: &crate::live::trace::TraceLive,
    predicted_status: Option<u16>,
    label: &dyn Fn(&str) -> colored::ColoredString,
) -> std::io::Result<()> {
    for (i, a) in live.answers.iter().enumerate() {
        let head = if i == 0 { label("live") } else { label("") };
        let line = format!("{} {}", a.kind, a.line());
        let line = match a.status {
            Some(s) if s < 300 => line.green(),
            Some(s) if s < 400 => line.yellow(),
            _ => line.red(),
        };
        writeln!(out, "{head} {line}")?;
        if let Some(tls) = a.tls {
            writeln!(out, "{} {tls}", label(""))?;
        }
    }
    let live_status = |t: &crate::live::trace::TraceLive| {
        t.status
            .map(|s| s.to_string())
            .unwrap_or_else(|| "no answer".into())
    };
    match (live.agreement, &live.cause) {
        ("matches", _) => writeln!(out, "{} the live answer matches the prediction", label(""))?,
        (agreement, Some(c)) => {
            let verdict = if agreement == "differs" {
                format!(
                    "\u{2717} the running nginx answers {}, the config and files on disk predict {}",
                    live_status(live),
                    predicted_status.map_or("unknown".into(), |s| s.to_string())
                )
            } else {
                "\u{2717} no live answer to compare with the prediction".to_string()
            };
            writeln!(out, "{} {}", label(""), verdict.red())?;
            let cause_label = if agreement == "differs" {
                "likely cause:"
            } else {
                "because:"
            };
            writeln!(out, "{} {} {}", label(""), cause_label.bold(), c.text)?;
            writeln!(out, "{} {} {}", label(""), "fix:".cyan().bold(), c.fix)?;
            for cmd in &c.commands {
                writeln!(out, "{}     {}", label(""), cmd.cyan())?;
            }
        }
        _ => {}
    }
    if let Some(d) = &live.public_differs {
        writeln!(out, "{} {}", label(""), d.yellow())?;
    }
    for n in &live.notes {
        writeln!(
            out,
            "{} {}",
            label(if live.answers.is_empty() { "live" } else { "" }),
            n.dimmed()
        )?;
    }
    Ok(())
}
