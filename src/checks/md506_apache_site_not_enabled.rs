//! MD506 apache-site-not-enabled: the site's file in sites-available is read by Apache (linked
//! from sites-enabled under a name the `IncludeOptional sites-enabled/*.conf` matches). The
//! page: checks/MD506.md.

use super::shared::apache::{model, reload, status_text};
use super::shared::nginx::{findings_or_pass, sample_file};
use super::{Band, Check, Context, Meta, Outcome};
use crate::apache::ConfigKind;
use crate::fs::walk::shell_quote as shell_word;
use crate::report::Finding;
use std::path::{Path, PathBuf};

pub struct ApacheSiteNotEnabled;

static APACHE_SITE_NOT_ENABLED: Meta = Meta {
    id: "MD506",
    name: "apache-site-not-enabled",
    band: Band::Apache,
    summary: "the site's file in sites-available is enabled: Apache reads it",
    docs: include_str!("../../checks/MD506.md"),
};

/// Debian's own sites, shipped disabled or replaced: not a mistake when they are off.
const STOCK: &[&str] = &["000-default.conf", "default-ssl.conf"];

impl Check for ApacheSiteNotEnabled {
    fn meta(&self) -> &'static Meta {
        &APACHE_SITE_NOT_ENABLED
    }

    fn run(&self, cx: &Context<'_>) -> anyhow::Result<Outcome> {
        let (site, r) = match model(cx) {
            Ok(m) => m,
            Err(skip) => return Ok(skip),
        };
        let cfg = &site.config;
        if cfg.kind != Some(ConfigKind::Main) {
            return Ok(Outcome::skip(
                "a site file read alone (--apache-conf): whether the box enables it is not in it",
            ));
        }
        let Some(conf_dir) = site.entry.parent() else {
            return Ok(Outcome::skip("the main config has no directory"));
        };
        let available = conf_dir.join("sites-available");
        let enabled = conf_dir.join("sites-enabled");
        let Ok(rd) = cx.root.resolve(&available).and_then(std::fs::read_dir) else {
            return Ok(Outcome::skip(format!(
                "no {} (not Debian's layout): the config includes what it reads",
                available.display()
            )));
        };
        let mut names: Vec<String> = rd
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| !t.is_dir()))
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .collect();
        names.sort();
        let named = cx.name.as_deref();
        let wanted: Vec<&String> = match named {
            Some(n) => names
                .iter()
                .filter(|f| *f == n || f.strip_suffix(".conf") == Some(n))
                .collect(),
            None => names
                .iter()
                .filter(|f| !STOCK.contains(&f.as_str()) && !f.starts_with('.'))
                .collect(),
        };
        let read: Vec<PathBuf> = cfg.files.iter().filter_map(|f| real(cx, f)).collect();
        let mut findings = Vec::new();
        for name in wanted {
            let file = available.join(name);
            let Some(target) = real(cx, &file) else {
                continue;
            };
            if read.contains(&target) {
                continue;
            }
            let stem = name.strip_suffix(".conf").unwrap_or(name);
            let link = enabled.join(format!("{stem}.conf"));
            let linked_without_conf =
                real(cx, &enabled.join(name)).as_ref() == Some(&target) && !name.ends_with(".conf");
            let message = if linked_without_conf {
                format!(
                    "{} is linked from sites-enabled as {name}, but Apache reads only sites-enabled/*.conf: the site is not served",
                    file.display()
                )
            } else {
                format!(
                    "{} is not enabled (no link in {}): Apache never reads it",
                    file.display(),
                    enabled.display()
                )
            };
            let mut f = if named.is_some() {
                Finding::error(message)
            } else {
                Finding::warning(message)
            }
            .evidence("site file", file.display())
            .evidence("sites-enabled", enabled.display());
            // The request the site is for: its first virtual host's name.
            let req = first_vhost_request(cx, &file);
            if let Some(req) = &req {
                let now = r.resolve(req);
                let path = String::from_utf8_lossy(&req.target).into_owned();
                f = f
                    .evidence("host", &req.host_header)
                    .evidence("url", &path)
                    .evidence("predicted status", status_text(now.predicted_status))
                    .evidence(
                        "reaches now",
                        now.vhost
                            .map(|v| {
                                let d = cfg.directive(v);
                                format!("the <VirtualHost> at {}:{}", d.file().display(), d.line())
                            })
                            .unwrap_or_else(|| "the main server".into()),
                    );
            }
            let mut commands = Vec::new();
            if !name.ends_with(".conf") {
                commands.push(format!(
                    "sudo mv {} {}",
                    shell_word(&file.display().to_string()),
                    shell_word(&format!("{}.conf", file.display()))
                ));
                if linked_without_conf {
                    commands.push(format!(
                        "sudo rm {}",
                        shell_word(&enabled.join(name).display().to_string())
                    ));
                }
            }
            commands.push(format!("sudo a2ensite {}", shell_word(stem)));
            commands.push(reload(cx, site));
            let proof = req
                .as_ref()
                .map(|req| crate::fix::apache::prove_enabled(site, &cx.root, r, &file, &link, req));
            f = match proof {
                Some(Err(refusal)) => f.fix(
                    format!("no command is printed: {refusal}. Decide which site should answer, then enable it with a2ensite"),
                    Vec::new(),
                ),
                _ => f.fix(
                    format!("enable it (a2ensite links it as {}), then reload:", link.display()),
                    commands,
                ),
            };
            findings.push(f);
        }
        Ok(findings_or_pass(
            findings,
            "every site in sites-available that is meant to be served is enabled",
        ))
    }
}

/// The host path with its links followed inside the root.
fn real(cx: &Context<'_>, p: &Path) -> Option<PathBuf> {
    cx.root.resolve(p).ok()?.canonicalize().ok()
}

/// A request for the first `ServerName` of `file` (read alone), on its port: for a file under
/// its first `Alias` when it has one (what the site serves that the default site does not).
fn first_vhost_request(cx: &Context<'_>, file: &Path) -> Option<crate::nginx::resolve::Request> {
    let alone = crate::apache::load_files(&cx.root, file).ok()?;
    let v = alone.virtual_hosts().next()?;
    v.children().find(|d| d.is("ServerName"))?;
    let uri = v
        .children()
        .find(|d| d.is("Alias"))
        .and_then(|a| {
            let (from, to) = (a.arg(0)?, a.arg(1)?);
            let name = sample_file(&cx.root, Path::new(to)).unwrap_or_else(|| "a.jpg".into());
            Some(format!("{}/{name}", from.trim_end_matches('/')))
        })
        .unwrap_or_else(|| "/".into());
    Some(crate::fix::apache::request_on(&alone, Some(v.id()), &uri))
}
