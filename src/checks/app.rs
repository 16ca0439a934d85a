//! MD3xx: the app ↔ nginx alignment. The app's side comes from `site.app` (read statically, see
//! src/app/); nginx's side always from the resolver (`served_prefix`, `static_locations`), never
//! from matching location text here. Paths are compared as real paths (symlinks resolved inside
//! `--root`), URLs as the path prefixes the browser requests.

use super::{Band, Check, Context, Meta, Outcome};
use crate::app::{App, AppRoute, Framework, Setting};
use crate::nginx::resolve::Resolver;
use crate::nginx::resolve::{Served, ServedKind};
use crate::nginx::NodeId;
use crate::report::{Finding, Location};
use crate::site::Site;
use std::path::{Path, PathBuf};

pub mod urls;

pub static CHECKS: &[&dyn Check] = &[
    &AppConfigFound,
    &MediaRootAligned,
    &MediaUrlAligned,
    &StaticRootAligned,
    &StaticUrlAligned,
    &urls::TemplateUrlPrefix,
    &AppServesMedia,
    &StorageBackend,
    &SameUrlOrRoot,
];

/// The app, or the reason every MD3xx check skips.
fn app_of(site: &Site) -> Result<&App, Outcome> {
    site.app
        .as_ref()
        .ok_or_else(|| Outcome::skip("no app found (MD301 says where media-doctor looked)"))
}

fn setting_location(s: &Setting<impl Sized>) -> Option<Location> {
    s.at().cloned()
}

/// Which of the two kinds of file a check is about.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Files {
    Media,
    Static,
}

impl Files {
    fn root_name(self, app: &App) -> &'static str {
        match (self, app.framework) {
            (Files::Media, Framework::Django) => "MEDIA_ROOT",
            (Files::Media, Framework::Flask) => "UPLOAD_FOLDER",
            (Files::Static, Framework::Django) => "STATIC_ROOT",
            (Files::Static, Framework::Flask) => "static_folder",
        }
    }
    fn url_name(self, app: &App) -> &'static str {
        match (self, app.framework) {
            (Files::Media, Framework::Django) => "MEDIA_URL",
            (Files::Media, Framework::Flask) => {
                "the upload URL (MEDIA_URL or the route serving uploads)"
            }
            (Files::Static, Framework::Django) => "STATIC_URL",
            (Files::Static, Framework::Flask) => "static_url_path",
        }
    }
    fn root(self, app: &App) -> &Setting<PathBuf> {
        match self {
            Files::Media => &app.media_root,
            Files::Static => &app.static_root,
        }
    }
    fn url(self, app: &App) -> &Setting<String> {
        match self {
            Files::Media => &app.media_url,
            Files::Static => &app.static_url,
        }
    }
    fn remote(self, app: &App) -> Option<&String> {
        match self {
            Files::Media => app.remote_media_storage.as_ref(),
            Files::Static => app.remote_static_storage.as_ref(),
        }
    }
}

/// What nginx does with a URL prefix in each of the site's servers.
struct Served2 {
    server: NodeId,
    served: Option<Served>,
}

fn served_in_servers(site: &Site, resolver: &Resolver<'_>, prefix: &str) -> Vec<Served2> {
    site.nginx
        .servers
        .iter()
        .map(|&server| Served2 {
            server,
            served: resolver.served_prefix(server, prefix),
        })
        .collect()
}

fn node_location(site: &Site, node: Option<NodeId>, server: NodeId) -> Location {
    site.config().directive(node.unwrap_or(server)).location()
}

/// A path for comparison: symlinks resolved inside the root; a trailing slash does not matter.
fn real(site: &Site, p: &Path) -> PathBuf {
    let r = site.root.real_path(p).unwrap_or_else(|_| p.to_path_buf());
    PathBuf::from(crate::app::python::interp::normpath(
        &r.display().to_string(),
    ))
}

fn server_label(site: &Site, server: NodeId) -> String {
    let d = site.config().directive(server);
    let names: Vec<&str> = d
        .children()
        .filter(|c| c.is("server_name"))
        .flat_map(|c| c.args())
        .collect();
    if names.is_empty() {
        format!("server at {}", d.location())
    } else {
        format!("server {} ({})", names.join(" "), d.location())
    }
}

// ---------------------------------------------------------------------------------------- MD301

pub struct AppConfigFound;

static APP_CONFIG_FOUND: Meta = Meta {
    id: "MD301",
    name: "app-config-found",
    band: Band::App,
    summary: "the app's settings were found and the media/static values could be read",
    docs: include_str!("../../checks/MD301.md"),
};

impl Check for AppConfigFound {
    fn meta(&self) -> &'static Meta {
        &APP_CONFIG_FOUND
    }

    fn run(&self, site: &Context<'_>) -> anyhow::Result<Outcome> {
        let Some(app) = &site.app else {
            let explicit = site.options.app.is_some() || site.name.is_some();
            let msg = "no Django or Flask app was found".to_string();
            let mut f = if explicit {
                Finding::error(msg)
            } else {
                Finding::warning(msg)
            };
            for t in &site.app_search {
                f = f.evidence("looked at", t);
            }
            f = f.fix(
                "name the project directory (or its settings file) and the framework:",
                vec!["media-doctor check --app /srv/myapp --framework django".into()],
            );
            return Ok(Outcome::findings(vec![f]));
        };
        let mut findings = Vec::new();
        for p in &app.problems {
            let fatal = p.contains("is not on the app's path")
                || p.contains("set nowhere")
                || p.contains("no module that creates the Flask app")
                || p.contains("no Flask(...) app");
            let f = if fatal {
                Finding::error(p.clone())
            } else {
                Finding::warning(p.clone())
            };
            findings.push(f.fix(
                "media-doctor reads the settings without running them; check the file, or give it explicitly:",
                vec![format!(
                    "media-doctor check --app {} --framework {}",
                    app.dir.display(),
                    app.framework.to_string().to_lowercase()
                )],
            ));
        }
        let mut unknown = |name: &str, s: &dyn Describe| {
            if let Some((expr, at, why)) = s.unknown() {
                let mut f = Finding::warning(format!(
                    "{name} cannot be read without running the app: {why}"
                ))
                .evidence("expression", expr);
                if let Some(at) = at {
                    f = f.at(at);
                }
                findings.push(f.fix(
                    "set the variable where the app gets it (unit Environment=, EnvironmentFile=, .env), \
                     or let media-doctor run the app's python to read it (executes the settings code):",
                    vec!["media-doctor check --eval".into()],
                ));
            }
        };
        unknown(Files::Media.root_name(app), &app.media_root);
        unknown(Files::Media.url_name(app), &app.media_url);
        unknown(Files::Static.root_name(app), &app.static_root);
        unknown(Files::Static.url_name(app), &app.static_url);
        unknown("DEBUG", &app.debug);
        if let Some(ev) = &app.evaluated {
            let mut f = Finding::info(format!(
                "--eval: app code was executed: {} imported {}",
                ev.python.display(),
                ev.target
            ));
            for (k, v) in &ev.values {
                f = f.evidence(k.clone(), v);
            }
            findings.push(f);
            if let Some(e) = &ev.error {
                findings.push(Finding::warning(e.clone()));
            }
            for d in &ev.differences {
                findings.push(
                    Finding::warning(format!(
                        "{}: the static reading differs from what the app computes",
                        d.setting
                    ))
                    .evidence("read statically", &d.static_value)
                    .evidence("the app computes (--eval)", &d.evaluated),
                );
            }
        }
        if findings
            .iter()
            .any(|f| f.severity > crate::report::Severity::Info)
        {
            return Ok(Outcome::findings(findings));
        }
        let mut summary = format!(
            "{} project {} ({}); settings read from {}",
            app.framework,
            app.dir.display(),
            app.found_by,
            app.settings_files
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
        if app.evaluated.is_some() {
            summary.push_str("; --eval agrees (app code was executed)");
        }
        Ok(Outcome::findings(findings).with_summary(summary))
    }
}

/// The unknown case of a setting, whatever its type.
trait Describe {
    fn unknown(&self) -> Option<(String, Option<Location>, String)>;
}

impl<T> Describe for Setting<T> {
    fn unknown(&self) -> Option<(String, Option<Location>, String)> {
        match self {
            Setting::Unknown { expr, at, why } => Some((expr.clone(), at.clone(), why.clone())),
            _ => None,
        }
    }
}

// ---------------------------------------------------------------------------------- MD302/MD304

pub struct MediaRootAligned;
pub struct StaticRootAligned;

static MEDIA_ROOT_ALIGNED: Meta = Meta {
    id: "MD302",
    name: "media-root-aligned",
    band: Band::App,
    summary: "MEDIA_ROOT / UPLOAD_FOLDER is the directory nginx serves for MEDIA_URL",
    docs: include_str!("../../checks/MD302.md"),
};

static STATIC_ROOT_ALIGNED: Meta = Meta {
    id: "MD304",
    name: "static-root-aligned",
    band: Band::App,
    summary: "STATIC_ROOT is the directory nginx serves for STATIC_URL",
    docs: include_str!("../../checks/MD304.md"),
};

impl Check for MediaRootAligned {
    fn meta(&self) -> &'static Meta {
        &MEDIA_ROOT_ALIGNED
    }
    fn run(&self, site: &Context<'_>) -> anyhow::Result<Outcome> {
        root_aligned(site, Files::Media)
    }
}

impl Check for StaticRootAligned {
    fn meta(&self) -> &'static Meta {
        &STATIC_ROOT_ALIGNED
    }
    fn run(&self, site: &Context<'_>) -> anyhow::Result<Outcome> {
        root_aligned(site, Files::Static)
    }
}

fn root_aligned(site: &Site, files: Files) -> anyhow::Result<Outcome> {
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
            return Ok(Outcome::skip(format!(
                "{root_name} cannot be read statically ({expr}); see MD301"
            )))
        }
    };
    let Some(prefix) = files.url(app).value().and_then(|u| App::url_path(u)) else {
        return Ok(Outcome::skip(format!(
            "{url_name} is not a local URL path ({}): nothing to compare",
            files.url(app).describe()
        )));
    };
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
            findings.push(
                Finding::error(format!(
                    "nginx maps {prefix}NAME to {dir_text}NAME (alias without a trailing slash), not to files in {}",
                    dir.display()
                ))
                .at(at)
                .evidence(root_name, files.root(app).describe())
                .evidence("nginx serves", format!("{dir_text}NAME ({})", server_label(site, s.server)))
                .fix_with_block(
                    "end the alias with a slash, like the location (see MD101):",
                    &[format!("location {prefix} {{ alias {}/; }}", want.display())],
                    vec!["sudo nginx -t && sudo systemctl reload nginx".into()],
                ),
            );
            continue;
        }
        let got = real(site, &sv.dir);
        if got == want {
            aligned.push(format!("{} → {} ({at})", prefix, got.display()));
            continue;
        }
        let directive = if sv.kind == ServedKind::Alias {
            "alias"
        } else {
            "root"
        };
        findings.push(
            Finding::error(format!(
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
            .evidence("server", server_label(site, s.server))
            .fix_with_block(
                format!("serve {prefix} from {root_name} (or point {root_name} at the served directory), then reload:"),
                &[format!("location {prefix} {{ alias {}/; }}", want.display())],
                vec!["sudo nginx -t && sudo systemctl reload nginx".into()],
            ),
        );
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

// ---------------------------------------------------------------------------------- MD303/MD305

pub struct MediaUrlAligned;
pub struct StaticUrlAligned;

static MEDIA_URL_ALIGNED: Meta = Meta {
    id: "MD303",
    name: "media-url-aligned",
    band: Band::App,
    summary: "MEDIA_URL is the prefix nginx serves the media directory under, with the slashes Django needs",
    docs: include_str!("../../checks/MD303.md"),
};

static STATIC_URL_ALIGNED: Meta = Meta {
    id: "MD305",
    name: "static-url-aligned",
    band: Band::App,
    summary: "STATIC_URL is the prefix nginx serves the static directory under",
    docs: include_str!("../../checks/MD305.md"),
};

impl Check for MediaUrlAligned {
    fn meta(&self) -> &'static Meta {
        &MEDIA_URL_ALIGNED
    }
    fn run(&self, site: &Context<'_>) -> anyhow::Result<Outcome> {
        url_aligned(site, Files::Media)
    }
}

impl Check for StaticUrlAligned {
    fn meta(&self) -> &'static Meta {
        &STATIC_URL_ALIGNED
    }
    fn run(&self, site: &Context<'_>) -> anyhow::Result<Outcome> {
        url_aligned(site, Files::Static)
    }
}

fn url_aligned(site: &Site, files: Files) -> anyhow::Result<Outcome> {
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
        .fix(format!("end {url_name} with a slash:"), vec![format!("{url_name} = \"{url}/\"")]);
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
                    vec!["sudo nginx -t && sudo systemctl reload nginx".into()],
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
                vec!["sudo nginx -t && sudo systemctl reload nginx".into()],
            ));
        }
    }
    Ok(Outcome::findings(findings))
}

// ---------------------------------------------------------------------------------------- MD307

pub struct AppServesMedia;

static APP_SERVES_MEDIA: Meta = Meta {
    id: "MD307",
    name: "app-serves-media",
    band: Band::App,
    summary: "DEBUG is off, and the app does not serve media itself for a prefix nginx also maps",
    docs: include_str!("../../checks/MD307.md"),
};

impl Check for AppServesMedia {
    fn meta(&self) -> &'static Meta {
        &APP_SERVES_MEDIA
    }

    fn run(&self, site: &Context<'_>) -> anyhow::Result<Outcome> {
        let app = match app_of(site) {
            Ok(a) => a,
            Err(o) => return Ok(o),
        };
        let mut findings = Vec::new();
        let debug_on = app.debug.value() == Some(&true);
        if debug_on {
            let mut f = Finding::error(format!(
                "DEBUG is True{}: tracebacks and settings are shown to visitors, and media \"work\" only through the app",
                if app.unit.is_some() { " in the service that runs the site" } else { "" }
            ))
            .evidence("DEBUG", app.debug.describe())
            .fix(
                match app.framework {
                    Framework::Django => "turn DEBUG off for production (and let nginx serve media):",
                    Framework::Flask => "turn DEBUG off for production:",
                },
                vec![match app.framework {
                    Framework::Django => "DEBUG = False".into(),
                    Framework::Flask => "app.config[\"DEBUG\"] = False".into(),
                }],
            );
            if let Some(at) = app.debug.at() {
                f = f.at(at.clone());
            }
            findings.push(f);
        }
        let resolver = site.resolver();
        for r in &app.served_routes {
            let active = !r.debug_only || debug_on;
            let Some(prefix) = r.prefix.value().and_then(|p| App::url_path(p)) else {
                continue;
            };
            let nginx: Vec<Served2> = served_in_servers(site, &resolver, &prefix)
                .into_iter()
                .filter(|s| s.served.is_some())
                .collect();
            findings.extend(route_finding(site, r, &prefix, active, &nginx));
        }
        if findings.is_empty() {
            return Ok(Outcome::pass(if app.served_routes.is_empty() {
                "DEBUG is off; the app has no route serving files".to_string()
            } else {
                "DEBUG is off; the app's file routes are inactive".to_string()
            }));
        }
        Ok(Outcome::findings(findings))
    }
}

fn route_finding(
    site: &Site,
    r: &AppRoute,
    prefix: &str,
    active: bool,
    nginx: &[Served2],
) -> Option<Finding> {
    if !active {
        return Some(
            Finding::info(format!(
                "{} for {prefix} is only active with DEBUG=True (it is off)",
                r.kind
            ))
            .at(r.at.clone()),
        );
    }
    match nginx.first().and_then(|s| s.served.as_ref().map(|sv| (s.server, sv))) {
        Some((server, sv)) => {
            let mut f = Finding::warning(format!(
                "the app serves {prefix} itself ({}), and nginx also maps it (to {}): nginx answers, the app route only hides mistakes in development",
                r.kind,
                sv.dir.display()
            ))
            .at(r.at.clone())
            .evidence("app route", format!("{} at {}", r.kind, r.at))
            .evidence("nginx location", node_location(site, sv.location, server).to_string());
            if let (Some(d), true) = (r.dir.value(), true) {
                if real(site, d) != real(site, &sv.dir) {
                    f = f.evidence(
                        "different directories",
                        format!("app: {}, nginx: {}", d.display(), sv.dir.display()),
                    );
                }
            }
            Some(f.fix_with_block(
                "serve uploads from nginx only; remove the app route in production (or guard it with DEBUG):",
                &[format!("location {prefix} {{ alias {}/; }}", sv.dir.display().to_string().trim_end_matches('/'))],
                vec!["sudo nginx -t && sudo systemctl reload nginx".into()],
            ))
        }
        None => Some(
            Finding::warning(format!(
                "the app serves {prefix} itself ({}): every file goes through a Python worker; nginx does not map it",
                r.kind
            ))
            .at(r.at.clone())
            .fix_with_block(
                "let nginx serve the directory instead:",
                &[format!(
                    "location {prefix} {{ alias {}/; }}",
                    r.dir
                        .value()
                        .map(|d| d.display().to_string())
                        .unwrap_or_else(|| "/path/to/uploads".into())
                )],
                vec!["sudo nginx -t && sudo systemctl reload nginx".into()],
            ),
        ),
    }
}

// ---------------------------------------------------------------------------------------- MD308

pub struct StorageBackend;

static STORAGE_BACKEND: Meta = Meta {
    id: "MD308",
    name: "storage-backend",
    band: Band::App,
    summary:
        "where uploads are stored: local disk (checked by the disk checks) or a remote backend",
    docs: include_str!("../../checks/MD308.md"),
};

impl Check for StorageBackend {
    fn meta(&self) -> &'static Meta {
        &STORAGE_BACKEND
    }

    fn run(&self, site: &Context<'_>) -> anyhow::Result<Outcome> {
        let app = match app_of(site) {
            Ok(a) => a,
            Err(o) => return Ok(o),
        };
        if let Setting::Unknown { expr, .. } = &app.media_storage {
            return Ok(Outcome::skip(format!(
                "the storage backend cannot be read statically ({expr}); see MD301"
            )));
        }
        let Some(backend) = &app.remote_media_storage else {
            return Ok(Outcome::pass(format!(
                "media are stored on local disk ({}); the disk checks apply",
                app.media_storage
                    .value()
                    .cloned()
                    .unwrap_or_else(|| match app.framework {
                        Framework::Django => "django.core.files.storage.FileSystemStorage".into(),
                        Framework::Flask => "the upload folder".into(),
                    })
            )));
        };
        // Remote media: nginx serving MEDIA_URL from a local directory serves stale leftovers.
        let mut findings = Vec::new();
        if let Some(prefix) = app.media_url_path() {
            let resolver = site.resolver();
            for s in served_in_servers(site, &resolver, &prefix) {
                if let Some(sv) = s.served {
                    findings.push(
                        Finding::warning(format!(
                            "uploads go to {backend}, but nginx serves MEDIA_URL {prefix} from {}: new uploads are not there",
                            sv.dir.display()
                        ))
                        .at(node_location(site, sv.location, s.server))
                        .evidence("storage", backend)
                        .evidence("MEDIA_URL", app.media_url.describe())
                        .fix(
                            "set MEDIA_URL to the bucket's URL (or the storage's custom_domain), or drop the local location:",
                            vec!["MEDIA_URL = \"https://<bucket>.s3.amazonaws.com/\"".into()],
                        ),
                    );
                }
            }
        }
        let summary = format!(
            "media are stored remotely ({backend}): the disk checks for MEDIA_ROOT are skipped; MEDIA_URL {}",
            app.media_url.describe()
        );
        if findings.is_empty() {
            return Ok(Outcome::pass(summary));
        }
        Ok(Outcome::findings(findings))
    }
}

// ---------------------------------------------------------------------------------------- MD309

pub struct SameUrlOrRoot;

static SAME_URL_OR_ROOT: Meta = Meta {
    id: "MD309",
    name: "same-url-or-root",
    band: Band::App,
    summary: "MEDIA_URL differs from STATIC_URL and MEDIA_ROOT from STATIC_ROOT",
    docs: include_str!("../../checks/MD309.md"),
};

impl Check for SameUrlOrRoot {
    fn meta(&self) -> &'static Meta {
        &SAME_URL_OR_ROOT
    }

    fn run(&self, site: &Context<'_>) -> anyhow::Result<Outcome> {
        let app = match app_of(site) {
            Ok(a) => a,
            Err(o) => return Ok(o),
        };
        let mut findings = Vec::new();
        let (mu, su) = (app.media_url_path(), app.static_url_path());
        if let (Some(m), Some(s)) = (&mu, &su) {
            if m == s {
                let mut f = Finding::error(format!(
                    "MEDIA_URL and STATIC_URL are both {m}: uploads and assets share one URL space{}",
                    if app.framework == Framework::Django {
                        " (Django refuses to start: ImproperlyConfigured)"
                    } else {
                        ""
                    }
                ))
                .evidence("MEDIA_URL", app.media_url.describe())
                .evidence("STATIC_URL", app.static_url.describe())
                .fix("give media their own prefix:", vec!["MEDIA_URL = \"/media/\"".into()]);
                if let Some(at) = app.media_url.at() {
                    f = f.at(at.clone());
                }
                findings.push(f);
            } else if m.starts_with(s.as_str()) || s.starts_with(m.as_str()) {
                findings.push(
                    Finding::warning(format!(
                        "MEDIA_URL {m} and STATIC_URL {s} are nested: one location shadows the other"
                    ))
                    .evidence("MEDIA_URL", app.media_url.describe())
                    .evidence("STATIC_URL", app.static_url.describe())
                    .fix("use sibling prefixes:", vec!["MEDIA_URL = \"/media/\"".into(), "STATIC_URL = \"/static/\"".into()]),
                );
            }
        }
        if let (Some(m), Some(s)) = (app.media_root.value(), app.static_root.value()) {
            if !m.as_os_str().is_empty()
                && !s.as_os_str().is_empty()
                && real(site, m) == real(site, s)
            {
                let mut f = Finding::error(format!(
                    "MEDIA_ROOT and STATIC_ROOT are the same directory ({}): collectstatic and uploads overwrite each other",
                    real(site, m).display()
                ))
                .evidence("MEDIA_ROOT", app.media_root.describe())
                .evidence("STATIC_ROOT", app.static_root.describe())
                .fix(
                    "keep them apart:",
                    vec![
                        "MEDIA_ROOT = BASE_DIR / \"media\"".into(),
                        "STATIC_ROOT = BASE_DIR / \"staticfiles\"".into(),
                    ],
                );
                if let Some(at) = app.media_root.at() {
                    f = f.at(at.clone());
                }
                findings.push(f);
            }
        }
        if findings.is_empty() {
            if mu.is_none() && su.is_none() {
                return Ok(Outcome::skip(
                    "neither MEDIA_URL nor STATIC_URL is a local URL path",
                ));
            }
            return Ok(Outcome::pass(format!(
                "media ({}) and static ({}) are kept apart",
                mu.unwrap_or_else(|| "-".into()),
                su.unwrap_or_else(|| "-".into())
            )));
        }
        Ok(Outcome::findings(findings))
    }
}
