//! MD302-MD305 when Apache is the server judged: the app's side is the same (`shared::app`),
//! Apache's side comes from its model: what each of the site's virtual hosts opens for a name
//! under the app's URL prefix (an `Alias`, `DocumentRoot`, or the app itself).

use super::apache::{ask, directory_lines, first_proven, loc, place, word};
use super::app::{real, Files};
use crate::apache::NodeId;
use crate::app::App;
use crate::checks::{Context, Outcome};
use crate::fix::apache::{Goal, LineEdit, Place};
use crate::nginx::resolve::Handler;
use crate::report::Finding;
use std::path::{Path, PathBuf};

/// The made-up name asked under a prefix: where Apache would open it says which directory it
/// serves the prefix from.
const PROBE: &str = "media-doctor-probe";

/// How one virtual host serves a URL prefix from disk.
struct ServedBy {
    vhost: NodeId,
    /// The directory (as Apache builds the path: an Alias without its slash gives `/srv/media`).
    dir: String,
    /// The `Alias` that maps it (None: `DocumentRoot`).
    alias: Option<NodeId>,
}

/// Each of the site's virtual hosts that serves `prefix` from disk.
fn served(cx: &Context<'_>, prefix: &str) -> Vec<ServedBy> {
    let Some((site, r)) = cx.apache() else {
        return Vec::new();
    };
    if site.unmatched {
        return Vec::new();
    }
    let cfg = r.config();
    site.vhosts
        .iter()
        .filter_map(|&v| {
            let res = ask(r, v, &format!("{prefix}{PROBE}"));
            // From disk whatever the status (a 403 there is MD501's or the files'): not a
            // mapping to a program or a redirect.
            if res.handler.is_upstream()
                || matches!(res.handler, Handler::Module(_) | Handler::Rewrite)
            {
                return None;
            }
            let path = res.path?.display().to_string();
            let dir = path.strip_suffix(PROBE)?.to_string();
            let alias = res.mapping.filter(|&m| cfg.directive(m).is("Alias"));
            Some(ServedBy {
                vhost: v,
                dir,
                alias,
            })
        })
        .collect()
}

/// The directories the site's virtual hosts serve `prefix` from disk, each with the `Alias` that
/// maps it (None: DocumentRoot).
pub(crate) fn served_from_disk(
    cx: &Context<'_>,
    prefix: &str,
) -> Vec<(String, Option<crate::report::Location>)> {
    let Some((_, r)) = cx.apache() else {
        return Vec::new();
    };
    served(cx, prefix)
        .into_iter()
        .map(|s| (s.dir, s.alias.map(|a| loc(&r.config().directive(a)))))
        .collect()
}

/// MD302/MD304 on Apache: the directory each virtual host serves the app's prefix from is the
/// app's root.
pub(crate) fn root_aligned(
    cx: &Context<'_>,
    app: &App,
    files: Files,
    dir: &Path,
    prefix: &str,
) -> Outcome {
    let root_name = files.root_name(app);
    let want = real(cx, dir);
    let Some((_, r)) = cx.apache() else {
        return Outcome::skip("Apache httpd is not the server judged");
    };
    let cfg = r.config();
    let mut findings = Vec::new();
    let mut aligned = Vec::new();
    let mut deferred = None;
    for s in served(cx, prefix) {
        let at = s.alias.map(|a| cfg.directive(a));
        if !s.dir.ends_with('/') {
            // The files run into the directory's name: MD501's finding (with its edit).
            deferred = Some(format!(
                "Apache maps {prefix}NAME to {}NAME (an Alias without its trailing slash): MD501 reports it",
                s.dir
            ));
            continue;
        }
        let got = real(cx, Path::new(&s.dir));
        let how = at.as_ref().map_or("DocumentRoot".to_string(), |a| {
            format!(
                "Alias {} {} ({})",
                a.arg(0).unwrap_or(""),
                a.arg(1).unwrap_or(""),
                place(a)
            )
        });
        if got == want {
            aligned.push(format!("{prefix} → {} ({how})", got.display()));
            continue;
        }
        let mut f = Finding::error(format!(
            "Apache serves {prefix} from {}, but the app's {root_name} is {}",
            got.display(),
            want.display()
        ))
        .evidence(root_name, files.root(app).describe())
        .evidence("apache serves it by", &how);
        let Some(a) = at else {
            findings.push(f.fix(
                format!("serve {prefix} from {root_name} with an Alias (and a <Directory> granting it), or point {root_name} at the served directory"),
                Vec::new(),
            ));
            continue;
        };
        f = f.at(loc(&a));
        let to = format!("{}/", want.display().to_string().trim_end_matches('/'));
        let replace = LineEdit::at(
            &a,
            Place::Replace,
            vec![format!(
                "Alias {} {}",
                word(a.arg(0).unwrap_or(prefix)),
                word(&to)
            )],
        );
        let grant = LineEdit::at(&a, Place::After, directory_lines(&to));
        let goal = Goal {
            request: crate::fix::apache::request_on(
                cfg,
                Some(s.vhost),
                &format!("{prefix}{PROBE}"),
            ),
            status: 404,
            path: Some(PathBuf::from(format!("{to}{PROBE}"))),
            prefix: prefix.to_string(),
        };
        let intro = format!(
            "serve {prefix} from {root_name} (or point {root_name} at the served directory)"
        );
        findings.push(first_proven(
            cx,
            f,
            &[
                (vec![replace.clone()], &format!("{intro}:")),
                (vec![replace, grant], &format!("{intro}, and grant it:")),
            ],
            std::slice::from_ref(&goal),
        ));
    }
    if findings.is_empty() && aligned.is_empty() {
        return Outcome::skip(deferred.unwrap_or_else(|| {
            format!(
                "no virtual host of the site serves {prefix} from disk (MD502 says where it goes)"
            )
        }));
    }
    if findings.is_empty() {
        return Outcome::pass(format!(
            "{root_name} is the directory Apache serves: {}",
            aligned.join("; ")
        ));
    }
    Outcome::findings(findings)
}

/// MD303/MD305 on Apache: the app's prefix is served from disk; when it is not, whether the
/// app's root is served under another prefix. `findings` holds what the settings alone showed.
pub(crate) fn url_aligned(
    cx: &Context<'_>,
    app: &App,
    files: Files,
    prefix: &str,
    mut findings: Vec<Finding>,
) -> Outcome {
    let url_name = files.url_name(app);
    let root_name = files.root_name(app);
    let Some((site, r)) = cx.apache() else {
        return Outcome::skip("Apache httpd is not the server judged");
    };
    let cfg = r.config();
    if let Some(s) = served(cx, prefix).first() {
        if findings.is_empty() {
            let how = s
                .alias
                .map_or("DocumentRoot".to_string(), |a| place(&cfg.directive(a)));
            return Outcome::pass(format!(
                "Apache serves {url_name} {prefix} from disk ({how})"
            ));
        }
        return Outcome::findings(findings);
    }
    if site.unmatched {
        return Outcome::skip(format!(
            "no <VirtualHost> Apache reads is the site {} (MD506 says whether it is enabled)",
            cx.name.as_deref().unwrap_or("")
        ));
    }
    // A mapping that hands the prefix to the app (ProxyPass, WSGIScriptAlias): MD502's finding,
    // with the edit that serves it from disk.
    if let Some(&v) = site.vhosts.first() {
        let res = ask(r, v, &format!("{prefix}{PROBE}"));
        if res.handler.is_upstream() || matches!(&res.handler, Handler::Module(m) if m == "wsgi") {
            return Outcome::skip(format!(
                "Apache hands {prefix} to the app ({}): MD502 reports it",
                res.reason
            ));
        }
    }
    // An AliasMatch takes the prefix but builds no path of a file under a directory for it (its
    // target drops the capture): the prefix agrees with Apache; the mapping is MD104's finding,
    // whose fix is proven. A finding here would print a second Alias for the same URLs.
    for &v in &site.vhosts {
        let res = ask(r, v, &format!("{prefix}{PROBE}"));
        if let (Some(m), Some(path)) = (res.mapping, &res.path) {
            if !path.to_string_lossy().ends_with(PROBE) {
                let d = cfg.directive(m);
                return Outcome::skip(format!(
                    "`{} {}` ({}) takes {prefix}, but opens {} for every URL under it, whatever the file: the prefix agrees; the mapping is at fault (MD104)",
                    d.name(),
                    d.args().collect::<Vec<_>>().join(" "),
                    place(&d),
                    path.display()
                ));
            }
        }
    }
    let want = files
        .root(app)
        .value()
        .filter(|d| !d.as_os_str().is_empty())
        .map(|d| real(cx, d));
    // An Alias of the site over the app's root, under another URL path.
    let elsewhere = want.as_ref().and_then(|want| {
        site.vhosts.iter().find_map(|&v| {
            cfg.directive(v)
                .children()
                .filter(|d| d.is("Alias"))
                .find(|a| {
                    a.arg(0)
                        .is_some_and(|f| f.trim_end_matches('/') != prefix.trim_end_matches('/'))
                        && a.arg(1).is_some_and(|t| &real(cx, Path::new(t)) == want)
                })
        })
    });
    let f = match elsewhere {
        Some(a) => Finding::error(format!(
            "the app builds {url_name} URLs under {prefix}, but Apache serves {root_name} under {}",
            a.arg(0).unwrap_or("")
        ))
        .at(loc(&a))
        .evidence(url_name, files.url(app).describe())
        .evidence("apache alias", format!("Alias {} {} ({})", a.arg(0).unwrap_or(""), a.arg(1).unwrap_or(""), place(&a)))
        .fix_with_block(
            format!("make them agree: either set {url_name} to the URL path Apache serves, or serve the app's prefix too:"),
            &[
                format!("{url_name} = \"{}\"", a.arg(0).unwrap_or("")),
                format!("Alias {prefix} {}", word(a.arg(1).unwrap_or(""))),
            ],
            Vec::new(),
        ),
        None => Finding::warning(format!(
            "no Alias of the site serves {url_name} {prefix} from disk: requests go to the app or 404 (MD502)"
        ))
        .evidence(url_name, files.url(app).describe())
        .fix(
            format!(
                "serve {prefix} from {root_name}: `Alias {prefix} {}/` with a <Directory> granting it (MD502 prints the proven edit when the app's mapping takes it)",
                want.map_or(format!("/path/to/{root_name}"), |w| w.display().to_string())
            ),
            Vec::new(),
        ),
    };
    findings.push(f);
    Outcome::findings(findings)
}
