//! MD100 nginx-config-loads: every file readable, every include found, no syntax error, nothing
//! else `nginx -t` refuses (a duplicate location, a regex PCRE2 does not compile...); a
//! directive nginx's own modules do not have is a warning.

use super::{Band, Check, Context, Meta, Outcome};
use crate::report::{Finding, Location};
use crate::site::NginxSource;

/// MD100: every file readable, every include found, no syntax error.
pub struct ConfigLoads;

static CONFIG_LOADS: Meta = Meta {
    id: "MD100",
    name: "nginx-config-loads",
    band: Band::Nginx,
    summary:
        "the nginx configuration loads: every file readable, every include found, no syntax error",
    docs: include_str!("../../checks/MD100.md"),
};

impl Check for ConfigLoads {
    fn meta(&self) -> &'static Meta {
        &CONFIG_LOADS
    }

    fn run(&self, site: &Context<'_>) -> anyhow::Result<Outcome> {
        let cfg = site.config();
        let mut findings: Vec<Finding> = cfg
            .diagnostics
            .iter()
            .map(|d| {
                let f = if d.fatal {
                    Finding::error(&d.message)
                } else {
                    Finding::warning(&d.message)
                };
                let mut loc = Location::new(d.file.display().to_string(), d.line);
                loc.column = Some(d.column);
                let fix = if d.fatal {
                    "correct the file at that line, then check and reload:"
                } else if d.is_unknown_directive() {
                    "nginx -t fails here unless a module built into nginx or loaded with \
                     load_module provides it: correct the name (or load the module), then check \
                     and reload:"
                } else {
                    "nginx accepts this, but media-doctor could not see that part of the config:"
                };
                f.at(loc).fix(fix, vec![site.reload_command()])
            })
            .collect();
        // What was found past the first ones of a file (or of the config): one finding that
        // counts them, where the first of them is.
        for o in &cfg.omitted {
            findings.push(omitted(o, site));
        }
        if !findings.is_empty() {
            return Ok(Outcome::findings(findings));
        }
        let from = match &site.nginx.source {
            NginxSource::Files { entry } => entry.display().to_string(),
            NginxSource::Dump { name } => format!("the nginx -T dump {name}"),
        };
        let n = cfg.files.len();
        Ok(Outcome::pass(format!(
            "{n} file{} loaded from {from}",
            if n == 1 { "" } else { "s" }
        )))
    }
}

/// The finding that counts the problems not listed (`Config::omitted`): "and K more error(s) in
/// this file, not listed", at the first of them; its count is also the evidence "not listed".
fn omitted(o: &crate::nginx::Omitted, site: &Context<'_>) -> Finding {
    let what = if o.fatal == o.count {
        "error(s)".to_string()
    } else if o.fatal == 0 {
        "warning(s)".to_string()
    } else {
        format!("problem(s) ({} of them errors)", o.fatal)
    };
    let (message, loc) = match &o.file {
        Some(file) => {
            let mut loc = Location::new(file.display().to_string(), o.line);
            loc.column = Some(o.column);
            (
                format!("and {} more {what} in this file, not listed", o.count),
                Some(loc),
            )
        }
        None => (
            format!(
                "and {} more {what} in {} other file(s), not listed",
                o.count, o.files
            ),
            None,
        ),
    };
    let f = if o.fatal > 0 {
        Finding::error(&message)
    } else {
        Finding::warning(&message)
    };
    let mut f = f.at(loc).evidence("not listed", o.count);
    if o.file.is_none() {
        f = f.evidence("in files", o.files);
    }
    let fix = if o.fatal > 0 {
        "correct the file at that line, then check and reload:"
    } else {
        "nginx accepts this, but media-doctor could not see that part of the config:"
    };
    f.fix(fix, vec![site.reload_command()])
}
