//! MD210 probe-file: a real file sampled from each served directory is readable by nginx at its
//! URL's path.
//! The page: checks/MD210.md.

use super::shared::fs::*;
use super::shared::nginx::sample_file_where;
use super::{Band, Check, Context, Meta, Outcome};
use crate::nginx::resolve::served::ServedDir;
use crate::nginx::resolve::{Handler, Request, Resolution, Resolver};
use crate::report::Finding;
use std::path::PathBuf;

/// MD210: a real file under each served directory is where its URL says, and readable.
pub struct ProbeFile;

static PROBE_FILE: Meta = Meta {
    id: "MD210",
    name: "probe-file",
    band: Band::Filesystem,
    summary:
        "a real file sampled from each served directory is readable by nginx at its URL's path",
    docs: include_str!("../../checks/MD210.md"),
};

impl Check for ProbeFile {
    fn meta(&self) -> &'static Meta {
        &PROBE_FILE
    }

    fn run(&self, site: &Context<'_>) -> anyhow::Result<Outcome> {
        if site.apache().is_some() {
            return Ok(run_apache(site));
        }
        let who = match worker(site) {
            Ok(w) => w,
            Err(o) => return Ok(o),
        };
        let resolver = site.resolver();
        let reload = site.reload_command();
        let served = site.served_dirs();
        if served.is_empty() && site.samples.is_empty() {
            return Ok(Outcome::skip(
                "no root/alias directory in the site's servers and no sample URL",
            ));
        }
        let mut findings = Vec::new();
        let mut probed = 0;
        // Known files first: the profile's `samples`, resolved as nginx would.
        for url in &site.samples {
            probed += 1;
            let req = match Request::from_url(url) {
                Ok(r) => r,
                Err(e) => {
                    findings.push(Finding::warning(format!("sample {url}: {e:#}")));
                    continue;
                }
            };
            let mut res = resolver.resolve(&req);
            if res.server.is_none() {
                // `https://` in front of a TLS terminator: ask the site's own server for the path.
                if let Some(s) = served.first() {
                    let target = String::from_utf8_lossy(&req.target).into_owned();
                    res = s.resolve(&resolver, &target);
                }
            }
            findings.push(judge_probe(&resolver, &reload, url, None, &res));
        }
        // Then a real file from each served tree, at the URL that should serve it.
        for s in served {
            if !site.root.is_dir(s.dir) {
                continue;
            }
            let scan = site.fs.scan(&site.root, s.dir, who, &scan_options(site));
            let Some(sample) = &scan.sample_file else {
                findings.push(
                    Finding::info(format!(
                        "no readable file under {} to probe",
                        s.dir.display()
                    ))
                    .at(s.at(site.config())),
                );
                continue;
            };
            let Some(url) = s.url_for(sample) else {
                continue;
            };
            let res = s.resolve(&resolver, &url);
            // Below a regex location only the URLs its regex matches are served from the
            // directory (an image location's root also holds index.html): a file whose URL goes
            // to another location says nothing about this one, so probe one the regex takes.
            let (sample, url, res) = if s.regex && res.location != s.location {
                let url_of = |rel: &str| s.url_for(&s.dir.join(rel));
                let matched = sample_file_where(&site.root, s.dir, |rel| {
                    url_of(rel).is_some_and(|u| s.resolve(&resolver, &u).location == s.location)
                });
                let Some((file, url)) =
                    matched.and_then(|rel| Some((s.dir.join(&rel), url_of(&rel)?)))
                else {
                    findings.push(
                        Finding::info(format!(
                            "no file under {} has a URL that location {} matches: not probed",
                            s.dir.display(),
                            s.prefix
                        ))
                        .at(s.at(site.config())),
                    );
                    continue;
                };
                let res = s.resolve(&resolver, &url);
                (file, url, res)
            } else {
                (sample.clone(), url, res)
            };
            probed += 1;
            findings.push(
                judge_probe(&resolver, &reload, &url, Some((&sample, s)), &res)
                    .at(s.at(site.config())),
            );
        }
        Ok(Outcome::findings(findings).with_summary_if_clean(format!(
            "{} probed: each served with 200",
            plural(probed as u64, "file", "files")
        )))
    }
}

/// MD210 when Apache is the server judged: a real file (readable by Apache's user) from each
/// `Alias` target and `DocumentRoot` of the site, asked of Apache's model at the URL that names it
/// on its virtual host: 200 with that very file, else what Apache does instead and the check that
/// finds the cause.
fn run_apache(cx: &Context<'_>) -> Outcome {
    use super::shared::apache::{ask, model, served_dirs};
    let (a, r) = match model(cx) {
        Ok(m) => m,
        Err(o) => return o,
    };
    let who = match r.worker() {
        Ok(w) => w,
        Err(why) => return Outcome::skip(why.to_string()),
    };
    let served = served_dirs(a);
    if served.is_empty() {
        return Outcome::skip("no Alias or DocumentRoot directory in the site's virtual hosts");
    }
    let mut findings = Vec::new();
    let mut probed = 0;
    for s in &served {
        if !cx.root.is_dir(&s.dir) {
            continue; // MD201's finding
        }
        let scan = cx.fs.scan(&cx.root, &s.dir, who, &scan_options(cx));
        let Some(sample) = &scan.sample_file else {
            findings.push(
                Finding::info(format!(
                    "no file under {} {} can read to probe",
                    s.dir.display(),
                    who.name
                ))
                .at(s.at.clone()),
            );
            continue;
        };
        let prefix = format!("{}/", s.url.trim_end_matches('/'));
        let Some(url) = crate::live::sample::url_path(&prefix, &s.dir, sample) else {
            continue;
        };
        probed += 1;
        let res = ask(r, s.vhost, &url);
        let opened = res
            .path
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "no file".into());
        let status = super::shared::apache::status_text(res.predicted_status);
        let same_file = res.path.as_deref() == Some(sample.as_path());
        // Handed to a program (ProxyPass /, WSGIScriptAlias /): the directory is not served from
        // disk at that URL; whether the media URLs are is MD502's question.
        if res.handler.is_upstream() || matches!(res.handler, Handler::Module(_)) {
            findings.push(
                Finding::info(format!(
                    "{url}: {} (not served from disk; MD502 judges the media URLs)",
                    res.reason
                ))
                .at(s.at.clone()),
            );
            continue;
        }
        let mut f = match (res.predicted_status, same_file) {
            (Some(200), true) => {
                findings.push(Finding::info(format!("{url} -> {opened}: 200")).at(s.at.clone()));
                continue;
            }
            // Another file: the Alias's slash does not match its target's, which MD501 reports
            // with its proven edit (one cause, one finding).
            (_, false) if res.path.is_some() => {
                findings.push(
                    Finding::info(format!(
                        "{url} should serve {} but Apache opens {opened} ({status}): MD501 \
                         reports the Alias",
                        sample.display()
                    ))
                    .at(s.at.clone()),
                );
                continue;
            }
            (None, _) => Finding::warning(format!(
                "{url}: the answer cannot be predicted: {}",
                res.reason
            )),
            _ => Finding::error(format!("{url} -> {opened}: {status}: {}", res.reason)),
        };
        f = f
            .at(s.at.clone())
            .evidence("url", &url)
            .evidence("status", &status)
            .evidence("apache opens", &opened);
        if let Some(w) = &res.walk {
            f = with_walk(f, w);
        }
        for line in &res.log {
            f = f.evidence("error log", line);
        }
        // The check that finds the cause, from what Apache would log (or the path it builds).
        let log = res.log.join("\n");
        let check = [
            ("AH01630", "MD501"),
            ("AH00035", "MD202"),
            ("AH00132", "MD203"),
            ("AH00037", "MD505"),
        ]
        .iter()
        .find(|(ah, _)| log.contains(ah))
        .map(|(_, id)| *id);
        f = match check {
            Some(id) => f.fix(
                format!(
                    "{id} names the cause and prints its fix (`media-doctor explain {id}` says \
                     what it checks)"
                ),
                Vec::new(),
            ),
            None => f.fix(
                "trace the URL to see each step Apache takes:".to_string(),
                vec![format!(
                    "media-doctor trace {}",
                    crate::fs::walk::shell_quote(&format!("http://{}{url}", host_of(r, s.vhost)))
                )],
            ),
        };
        findings.push(f);
    }
    Outcome::findings(findings).with_summary_if_clean(format!(
        "{} probed: each served with 200 by Apache's model",
        plural(probed as u64, "file", "files")
    ))
}

/// The Host a request for the virtual host `v` carries (its ServerName, else localhost).
fn host_of(r: &crate::apache::resolve::Resolver<'_>, v: crate::apache::NodeId) -> String {
    let req = crate::fix::apache::request_on(r.config(), Some(v), "/");
    req.url
        .split("://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap_or("localhost")
        .to_string()
}

/// Why a served directory's own file comes from somewhere else, and the fix: another location
/// answers its URL (MD105), or this location builds another path (MD101, MD103).
fn wrong_file_fix(
    resolver: &Resolver<'_>,
    f: Finding,
    s: ServedDir<'_>,
    res: &Resolution,
    reload: &str,
) -> Finding {
    let reload = vec![reload.to_string()];
    match res.location {
        Some(other) if Some(other) != s.location => {
            let winner = resolver.config().directive(other);
            let pattern = resolver
                .location_pattern(other)
                .map(|(m, p)| format!("{} {p}", m.as_str()).trim_start().to_string())
                .unwrap_or_default();
            f.evidence(
                "answered by",
                format!("location {pattern} ({})", winner.location()),
            )
            .fix(
                format!(
                    "location {pattern} takes the URL from location {} (MD105): mark the \
                     prefix location `^~` (or narrow the other one), then reload:",
                    s.prefix
                ),
                reload,
            )
        }
        _ => f.fix(
            format!(
                "make the {} and the location's prefix agree on trailing slashes (MD101, \
                 MD103), then reload:",
                s.kind
            ),
            reload,
        ),
    }
}

/// A probe passes when nginx answers 200 with the file (for a sampled file: that very file).
fn judge_probe(
    resolver: &Resolver<'_>,
    reload: &str,
    url: &str,
    expected: Option<(&PathBuf, ServedDir<'_>)>,
    res: &Resolution,
) -> Finding {
    let opened = res
        .served_path()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "no file".into());
    let status = res
        .predicted_status
        .map(|s| s.to_string())
        .unwrap_or_else(|| "unknown".into());
    // Another file opened, not none: a request refused before any file is opened (`internal`,
    // deny, a return) is not a path problem, and its reason says what it is.
    let wrong_file = expected.is_some_and(|(want, _)| {
        res.served_path()
            .is_some_and(|opened| opened != want.as_path())
    });
    let mut f = match (res.predicted_status, wrong_file) {
        (Some(200), false) => Finding::info(format!("{url} -> {opened}: 200")),
        (_, true) => {
            let (want, s) = expected.expect("wrong_file implies expected");
            let f = Finding::error(format!(
                "{url} should serve {} but nginx opens {opened} ({status}: {})",
                want.display(),
                res.reason
            ));
            wrong_file_fix(resolver, f, s, res, reload)
        }
        (None, _) => Finding::warning(format!(
            "{url}: the answer cannot be predicted: {}",
            res.reason
        )),
        (Some(_), false) => Finding::error(format!("{url} -> {opened}: {status}: {}", res.reason)),
    };
    f = f
        .evidence("url", url)
        .evidence("status", &status)
        .evidence("nginx opens", &opened);
    if f.severity > crate::report::Severity::Info {
        if let Some(w) = &res.walk {
            f = with_walk(f, w);
        }
        for line in &res.log {
            f = f.evidence("error log", line);
        }
    }
    f
}
