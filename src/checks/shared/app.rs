//! What the app checks share.
//!
//! MD3xx: the app ↔ nginx alignment. The app's side comes from `site.app` (read statically, see
//! src/app/); nginx's side always from the resolver (`served_prefix`, `static_locations`), never
//! from matching location text here. Paths are compared as real paths (symlinks resolved inside
//! `--root`), URLs as the path prefixes the browser requests.

use crate::app::{App, Framework, Setting};
use crate::checks::{Context, Outcome};
use crate::nginx::resolve::{Modifier, Resolver};
use crate::nginx::resolve::{Served, ServedKind};
use crate::nginx::NodeId;
use crate::report::{Finding, Location};
use crate::site::Site;
use std::path::{Path, PathBuf};

/// The app, or the reason every MD3xx check skips.
pub(crate) fn app_of(site: &Site) -> Result<&App, Outcome> {
    site.app()
        .ok_or_else(|| Outcome::skip("no app found (MD301 says where media-doctor looked)"))
}

pub(crate) fn setting_location(s: &Setting<impl Sized>) -> Option<Location> {
    s.at().cloned()
}

/// Which of the two kinds of file a check is about.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Files {
    Media,
    Static,
}

impl Files {
    pub(crate) fn root_name(self, app: &App) -> &'static str {
        match (self, app.framework) {
            (Files::Media, Framework::Django) => "MEDIA_ROOT",
            (Files::Media, Framework::Flask) => "UPLOAD_FOLDER",
            (Files::Static, Framework::Django) => "STATIC_ROOT",
            (Files::Static, Framework::Flask) => "static_folder",
        }
    }
    pub(crate) fn url_name(self, app: &App) -> &'static str {
        match (self, app.framework) {
            (Files::Media, Framework::Django) => "MEDIA_URL",
            (Files::Media, Framework::Flask) => {
                "the upload URL (MEDIA_URL or the route serving uploads)"
            }
            (Files::Static, Framework::Django) => "STATIC_URL",
            (Files::Static, Framework::Flask) => "static_url_path",
        }
    }
    pub(crate) fn root(self, app: &App) -> &Setting<PathBuf> {
        match self {
            Files::Media => &app.media_root,
            Files::Static => &app.static_root,
        }
    }
    pub(crate) fn url(self, app: &App) -> &Setting<String> {
        match self {
            Files::Media => &app.media_url,
            Files::Static => &app.static_url,
        }
    }
    /// Where the app, read in a mount namespace of its own, has this directory (and on this
    /// machine).
    pub(crate) fn seen(self, app: &App) -> Option<&crate::app::NsPath> {
        let ns = app.namespace.as_ref()?;
        match self {
            Files::Media => ns.media_root.as_ref(),
            Files::Static => ns.static_root.as_ref(),
        }
    }
    pub(crate) fn remote(self, app: &App) -> Option<&String> {
        match self {
            Files::Media => app.remote_media_storage.as_ref(),
            Files::Static => app.remote_static_storage.as_ref(),
        }
    }
}

/// What nginx does with a URL prefix in each of the site's servers.
pub(crate) struct Served2 {
    pub(crate) server: NodeId,
    pub(crate) served: Option<Served>,
}

pub(crate) fn served_in_servers(
    site: &Site,
    resolver: &Resolver<'_>,
    prefix: &str,
) -> Vec<Served2> {
    site.nginx
        .servers
        .iter()
        .map(|&server| Served2 {
            server,
            served: resolver.served_prefix(server, prefix),
        })
        .collect()
}

/// A `~`/`~*` location: its name is a pattern.
fn is_regex(resolver: &Resolver<'_>, location: Option<NodeId>) -> bool {
    location
        .and_then(|l| resolver.location_pattern(l))
        .is_some_and(|(m, _)| matches!(m, Modifier::Regex | Modifier::RegexCaseless))
}

pub(crate) fn node_location(site: &Site, node: Option<NodeId>, server: NodeId) -> Location {
    site.config().directive(node.unwrap_or(server)).location()
}

/// A path for comparison: symlinks resolved inside the root; a trailing slash does not matter.
pub(crate) fn real(site: &Site, p: &Path) -> PathBuf {
    let r = site.root.real_path(p).unwrap_or_else(|_| p.to_path_buf());
    PathBuf::from(crate::app::python::interp::normpath(
        &r.display().to_string(),
    ))
}

pub(crate) fn server_label(site: &Site, server: NodeId) -> String {
    let d = site.config().directive(server);
    let names: Vec<&str> = d.server_names().collect();
    if names.is_empty() {
        format!("server at {}", d.location())
    } else {
        format!("server {} ({})", names.join(" "), d.location())
    }
}

pub(crate) fn root_aligned(site: &Context<'_>, files: Files) -> anyhow::Result<Outcome> {
    let app = match app_of(site) {
        Ok(a) => a,
        Err(o) => return Ok(o),
    };
    if let Some(backend) = files.remote(app) {
        return Ok(Outcome::skip(format!(
            "files are stored remotely ({backend}): there is no local directory to align (MD308)"
        )));
    }
    let root_name = files.root_name(app);
    let url_name = files.url_name(app);
    let dir = match files.root(app) {
        Setting::Known { value, .. } if !value.as_os_str().is_empty() => value.clone(),
        Setting::Known { .. } | Setting::Unset => {
            return Ok(Outcome::skip(format!("{root_name} is not set")))
        }
        Setting::Unknown { expr, .. } => {
            if let Some(seen) = files.seen(app).filter(|s| s.server.is_none()) {
                if let Some(o) = not_shown_to_nginx(site, app, files, seen) {
                    return Ok(o);
                }
            }
            return Ok(Outcome::skip(format!(
                "{root_name} cannot be read statically ({expr}); see MD301"
            )));
        }
    };
    let Some(prefix) = files.url(app).value().and_then(|u| App::url_path(u)) else {
        return Ok(Outcome::skip(format!(
            "{url_name} is not a local URL path ({}): nothing to compare",
            files.url(app).describe()
        )));
    };
    let seen = files.seen(app);
    if site.site.apache.is_some() {
        return Ok(super::apache_app::root_aligned(
            site, app, files, &dir, &prefix,
        ));
    }
    if files == Files::Static && app.whitenoise.value() == Some(&true) {
        let resolver = site.resolver();
        if served_in_servers(site, &resolver, &prefix)
            .iter()
            .all(|s| s.served.is_none())
        {
            return Ok(Outcome::pass(format!(
                "WhiteNoise serves {prefix} from {} inside the app; nginx does not map it",
                dir.display()
            )));
        }
    }
    let resolver = site.resolver();
    let served = served_in_servers(site, &resolver, &prefix);
    let want = real(site, &dir);
    let mut findings = Vec::new();
    let mut aligned = Vec::new();
    for s in served.iter() {
        let Some(sv) = &s.served else { continue };
        let at = node_location(site, sv.location, s.server);
        let dir_text = sv.dir.display().to_string();
        if sv.kind == ServedKind::Alias && !dir_text.ends_with('/') {
            let f = Finding::error(format!(
                "nginx maps {prefix}NAME to {dir_text}NAME (alias without a trailing slash), not to files in {}",
                dir.display()
            ))
            .at(at)
            .evidence(root_name, files.root(app).describe())
            .evidence("nginx serves", format!("{dir_text}NAME ({})", server_label(site, s.server)));
            // MD101's words: the two fixes are one block with one line above it.
            let intro = "end the alias with a slash, like the location:";
            // MD101's edit (nginx's own directory with the slash): the two merge into one block.
            findings.push(serve_from(
                site, &resolver, sv, &prefix, &sv.dir, &want, f, intro,
            ));
            continue;
        }
        let got = real(site, &sv.dir);
        // nginx in a mount namespace of its own: the storage behind each path on this machine.
        let got_host = host_of(site, &got);
        let want_host = seen
            .map(|s| s.host.display().to_string())
            .or_else(|| host_of(site, &want));
        if got == want || (got_host.is_some() && got_host == want_host) {
            let storage = match (&got_host, seen) {
                (Some(h), Some(s)) => format!(
                    "; on this machine {h}, the app's {} in its mount namespace",
                    s.inside.display()
                ),
                (Some(h), None) => format!("; on this machine {h}"),
                _ => String::new(),
            };
            aligned.push(format!("{} → {} ({at}{storage})", prefix, got.display()));
            continue;
        }
        let directive = if sv.kind == ServedKind::Alias {
            "alias"
        } else {
            "root"
        };
        let f = Finding::error(format!(
            "nginx serves {prefix} from {}, but the app's {root_name} is {}",
            got.display(),
            want.display()
        ))
        .at(at)
        .evidence(root_name, files.root(app).describe())
        .evidence(
            format!("nginx {directive} (real path)"),
            format!("{} → {}", sv.dir.display(), got.display()),
        )
        .evidence("server", server_label(site, s.server));
        let f = match (got_host, want_host) {
            (Some(g), Some(w)) => {
                let f = f.evidence("nginx's directory on this machine", g);
                match seen {
                    Some(s) => f.evidence(
                        format!("{root_name} on this machine"),
                        format!(
                            "{w} (the app's {} in pid {}'s mount namespace)",
                            s.inside.display(),
                            app.namespace.as_ref().map_or(0, |n| n.pid)
                        ),
                    ),
                    None => f.evidence(format!("{root_name} on this machine"), w),
                }
            }
            _ => f,
        };
        let intro = format!(
            "serve {prefix} from {root_name} (or point {root_name} at the served directory):"
        );
        // The location's own block, edited and proven (`checks::fixes`), not a one-line copy.
        findings.push(serve_from(
            site, &resolver, sv, &prefix, &dir, &want, f, &intro,
        ));
    }
    if findings.is_empty() && aligned.is_empty() {
        return Ok(Outcome::skip(format!(
            "no server of the site serves {prefix} from disk (MD303/MD305 and MD106 say where it goes)"
        )));
    }
    if findings.is_empty() {
        return Ok(Outcome::pass(format!(
            "{root_name} is the directory nginx serves: {}",
            aligned.join("; ")
        )));
    }
    Ok(Outcome::findings(findings))
}

/// With nginx in a mount namespace of its own: where `p` (nginx's path) is on this machine (a
/// host path, or "only inside" and why). None for nginx on this machine.
fn host_of(site: &Site, p: &Path) -> Option<String> {
    site.root.mounts()?;
    Some(match site.root.place(p)? {
        crate::sysroot::mounts::Place::Host { path, .. } => path.display().to_string(),
        crate::sysroot::mounts::Place::Inside { why, .. } => format!(
            "only inside nginx's mount namespace ({why}), read through {}",
            site.root.host_path(p).display()
        ),
    })
}

/// The app read in a mount namespace of its own, its directory on storage that no mount of
/// nginx's namespace shows: whatever nginx serves for the prefix is other storage. Both host
/// paths are the evidence.
fn not_shown_to_nginx(
    site: &Context<'_>,
    app: &App,
    files: Files,
    seen: &crate::app::NsPath,
) -> Option<Outcome> {
    let root_name = files.root_name(app);
    let prefix = files.url(app).value().and_then(|u| App::url_path(u))?;
    let pid = app.namespace.as_ref()?.pid;
    let nginx_pid = site.root.process()?;
    let resolver = site.resolver();
    let mut findings = Vec::new();
    for s in served_in_servers(site, &resolver, &prefix) {
        let Some(sv) = &s.served else { continue };
        let got = real(site, &sv.dir);
        let nginx_host = host_of(site, &got).unwrap_or_else(|| got.display().to_string());
        findings.push(
            Finding::error(format!(
                "nginx serves {prefix} from {} ({nginx_host} on this machine), but the app's {root_name} {} is {} on this machine, which no mount of nginx's mount namespace shows: different storage",
                got.display(),
                seen.inside.display(),
                seen.host.display()
            ))
            .at(node_location(site, sv.location, s.server))
            .evidence(root_name, files.root(app).describe())
            .evidence("nginx's directory on this machine", &nginx_host)
            .evidence(
                format!("{root_name} on this machine"),
                format!(
                    "{} (the app's {} in pid {pid}'s mount namespace)",
                    seen.host.display(),
                    seen.inside.display()
                ),
            )
            .evidence("server", server_label(site, s.server))
            .fix(
                format!(
                    "mount the app's storage ({}) in nginx's container (pid {nginx_pid}) at {} — the same named volume or host directory in both services — and recreate it",
                    seen.host.display(),
                    got.display()
                ),
                Vec::new(),
            ),
        );
    }
    (!findings.is_empty()).then(|| Outcome::findings(findings))
}

/// `f` with the fix that makes the location of `sv` serve `prefix` from `dir`: its block edited
/// (proven and merged with the other fixes of the block by `checks::fixes`), or, for a location
/// that cannot take an alias (a regex), the block to write by hand.
#[allow(clippy::too_many_arguments)]
fn serve_from(
    site: &Site,
    resolver: &Resolver<'_>,
    sv: &Served,
    prefix: &str,
    dir: &Path,
    want: &Path,
    f: Finding,
    intro: &str,
) -> Finding {
    match sv
        .location
        .and_then(|l| super::nginx::alias_edit(site.config(), l, dir))
    {
        Some(edit) => {
            let goal = super::nginx::goal_in_dir(site, resolver, sv.server, prefix, dir);
            super::nginx::config_fix(f, site.config(), intro, edit, goal)
        }
        None => f.fix_with_block(
            intro,
            &[format!(
                "location {prefix} {{ alias {}/; }}",
                want.display()
            )],
            vec![super::nginx::RELOAD.into()],
        ),
    }
}

pub(crate) fn url_aligned(site: &Context<'_>, files: Files) -> anyhow::Result<Outcome> {
    let app = match app_of(site) {
        Ok(a) => a,
        Err(o) => return Ok(o),
    };
    let url_name = files.url_name(app);
    let root_name = files.root_name(app);
    let url_setting = files.url(app);
    let url = match url_setting {
        Setting::Known { value, .. } => value.clone(),
        Setting::Unset => return Ok(Outcome::skip(format!("{url_name} is not set"))),
        Setting::Unknown { expr, .. } => {
            return Ok(Outcome::skip(format!(
                "{url_name} cannot be read statically ({expr}); see MD301"
            )))
        }
    };
    let mut findings = Vec::new();
    if app.framework == Framework::Django && !url.is_empty() && !url.ends_with('/') {
        let mut f = Finding::error(format!(
            "{url_name} = {url:?} does not end with a slash: Django refuses to start (ImproperlyConfigured)"
        ))
        .fix(format!("end {url_name} with a slash, in the settings:\n    {url_name} = \"{url}/\""), Vec::new());
        if let Some(at) = setting_location(url_setting) {
            f = f.at(at);
        }
        findings.push(f);
    }
    let Some(prefix) = App::url_path(&url) else {
        if let Some(b) = files.remote(app) {
            return Ok(Outcome::pass(format!(
                "{url_name} = {url:?}: files are served by the remote storage ({b}), not nginx"
            )));
        }
        return Ok(Outcome::skip(format!(
            "{url_name} = {url:?} is not a path on this site: another host serves it"
        )));
    };
    if files.remote(app).is_some() {
        return Ok(Outcome::skip(format!(
            "files are stored remotely ({}): nginx does not serve {url_name} (MD308)",
            files.remote(app).cloned().unwrap_or_default()
        )));
    }
    if site.site.apache.is_some() {
        return Ok(super::apache_app::url_aligned(
            site, app, files, &prefix, findings,
        ));
    }
    let resolver = site.resolver();
    let served = served_in_servers(site, &resolver, &prefix);
    if let Some(s) = served.iter().find(|s| s.served.is_some()) {
        if findings.is_empty() {
            let sv = s.served.as_ref().unwrap();
            return Ok(Outcome::pass(format!(
                "nginx serves {url_name} {prefix} from disk ({})",
                node_location(site, sv.location, s.server)
            )));
        }
        return Ok(Outcome::findings(findings));
    }
    if files == Files::Static && app.whitenoise.value() == Some(&true) && findings.is_empty() {
        return Ok(Outcome::pass(format!(
            "nginx passes {prefix} to the app, where WhiteNoise serves it"
        )));
    }
    // A static location takes the prefix but builds no path of a file under a directory for it
    // (a regex alias without its capture opens the directory itself for every URL): the prefix
    // agrees with nginx; the mapping is MD104's finding, whose fix is proven. A finding here
    // would print a second location for the same URLs.
    let probe = format!("{prefix}md-probe");
    for s in &served {
        let Some(location) = resolver.location_for(s.server, &probe) else {
            continue;
        };
        if resolver
            .block_info(location)
            .map_or(true, |b| b.handler.is_some())
        {
            continue;
        }
        if let Some(path) = resolver.path_for(s.server, &probe) {
            if !path.to_string_lossy().ends_with("md-probe") {
                return Ok(Outcome::skip(format!(
                    "{} ({}) takes {prefix}, but opens {} for every URL under it, whatever the file: the prefix agrees; the location's mapping is at fault (MD104)",
                    resolver.location_label(location),
                    node_location(site, Some(location), s.server),
                    path.display()
                )));
            }
        }
    }
    // nginx does not serve the app's prefix: does it serve the app's directory under another one?
    let dir = files
        .root(app)
        .value()
        .filter(|d| !d.as_os_str().is_empty())
        .map(|d| real(site, d));
    let elsewhere: Vec<Served> = match &dir {
        Some(want) => resolver
            .static_locations()
            .into_iter()
            .filter(|s| site.nginx.servers.contains(&s.server))
            // A regex location's name is a pattern, not a URL prefix the app could use.
            .filter(|s| !is_regex(&resolver, s.location))
            .filter(|s| &real(site, &s.dir) == want)
            .collect(),
        None => Vec::new(),
    };
    match elsewhere.first() {
        Some(other) => {
            let at = node_location(site, other.location, other.server);
            findings.push(
                Finding::error(format!(
                    "the app builds {url_name} URLs under {prefix}, but nginx serves {root_name} under {}",
                    other.prefix
                ))
                .at(at)
                .evidence(url_name, url_setting.describe())
                .evidence("nginx location", format!("{} → {}", other.prefix, other.dir.display()))
                .fix_with_block(
                    format!("make them agree: either set {url_name} to the prefix nginx serves, or serve the app's prefix:"),
                    &[
                        format!("{url_name} = \"{}\"", other.prefix),
                        format!(
                            "location {prefix} {{ alias {}/; }}",
                            dir.as_ref().map(|d| d.display().to_string()).unwrap_or_default()
                        ),
                    ],
                    vec![site.reload_command()],
                ),
            );
        }
        None => {
            let first = served.first().map(|s| s.server);
            let mut f = Finding::warning(format!(
                "no location of the site serves {url_name} {prefix} from disk: requests go to the app or 404 (MD106)"
            ))
            .evidence(url_name, url_setting.describe());
            if let Some(server) = first {
                f = f.evidence("server", server_label(site, server));
            }
            findings.push(f.fix_with_block(
                format!("serve {prefix} from {root_name}:"),
                &[format!(
                    "location {prefix} {{ alias {}/; }}",
                    dir.map(|d| d.display().to_string())
                        .unwrap_or_else(|| format!("/path/to/{root_name}"))
                )],
                vec![site.reload_command()],
            ));
        }
    }
    Ok(Outcome::findings(findings))
}
