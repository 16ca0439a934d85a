//! The check engine: the `Check` trait, each check's `Meta`, the registry, and the runner.
//!
//! A check reads the already-gathered `Site` (it never re-parses config) and returns an `Outcome`.
//! The runner turns outcomes into `CheckResult`s; a check that returns an error or panics becomes
//! status `error` with the reason, and the run goes on.
//!
//! One check per file, `mdNNN_name.rs` (its id and name, lowercase, `-` as `_`), listed once in
//! `ALL`; what several checks of a band share is in `shared/`.

use crate::http::Limits;
use crate::live::probes::Live;
pub use crate::report::{Band, Meta};
use crate::report::{CheckResult, Finding, Severity, Status};
use crate::site::Site;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::OnceLock;

pub mod fixes;
pub mod md100_nginx_config_loads;
pub mod md101_alias_trailing_slash;
pub mod md102_alias_traversal;
pub mod md103_root_duplicates_prefix;
pub mod md104_regex_alias_capture;
pub mod md105_location_shadowed;
pub mod md106_url_prefix_not_served;
pub mod md107_site_not_enabled;
pub mod md108_server_conflict;
pub mod md109_uploads_listing;
pub mod md110_uploads_executable;
pub mod md111_config_not_reloaded;
pub mod md112_try_files_alias;
pub mod md201_roots_exist;
pub mod md202_parent_traversal;
pub mod md203_files_readable;
pub mod md204_app_can_write;
pub mod md205_static_collected;
pub mod md206_ephemeral_storage;
pub mod md207_symlinks_blocked;
pub mod md208_mac_policy;
pub mod md209_media_static_overlap;
pub mod md210_probe_file;
pub mod md301_app_config_found;
pub mod md302_media_root_aligned;
pub mod md303_media_url_aligned;
pub mod md304_static_root_aligned;
pub mod md305_static_url_aligned;
pub mod md306_template_url_prefix;
pub mod md307_app_serves_media;
pub mod md308_storage_backend;
pub mod md309_same_url_or_root;
pub mod md401_origin_serves_file;
pub mod md402_public_serves_file;
pub mod md403_request_hits_app;
pub mod md404_cached_error;
pub mod md405_error_log;
pub mod md406_prediction_mismatch;
pub mod md501_apache_alias;
pub mod md502_apache_media_to_app;
pub mod md503_apache_uploads_listing;
pub mod md504_apache_uploads_executable;
pub mod md505_apache_symlinks_blocked;
pub mod md506_apache_site_not_enabled;
pub mod md507_apache_config_not_reloaded;
pub mod md601_uploads_not_on_volume;
pub mod md602_nginx_dir_not_mounted;
pub mod md603_alias_other_container_path;
pub mod md604_static_root_off_volume;
pub mod md605_media_owner_in_image;
pub mod md606_volume_hides_image_files;
pub mod md607_bind_mount_access;
pub mod md608_host_nginx_container_dir;
pub mod on_apache;
pub mod select;
pub mod shared;

/// What a check concluded.
#[derive(Debug, Default)]
pub struct Outcome {
    pub findings: Vec<Finding>,
    /// Set when the check could not decide: the reason ("--offline", "no app config found", ...).
    pub skipped: Option<String>,
    /// A one-line summary; when absent the runner derives one from the findings.
    pub summary: Option<String>,
}

impl Outcome {
    pub fn pass(summary: impl Into<String>) -> Self {
        Outcome {
            summary: Some(summary.into()),
            ..Default::default()
        }
    }
    pub fn skip(reason: impl Into<String>) -> Self {
        Outcome {
            skipped: Some(reason.into()),
            ..Default::default()
        }
    }
    pub fn findings(findings: Vec<Finding>) -> Self {
        Outcome {
            findings,
            ..Default::default()
        }
    }
    pub fn with_summary(mut self, summary: impl Into<String>) -> Self {
        self.summary = Some(summary.into());
        self
    }
}

pub trait Check: Sync {
    fn meta(&self) -> &'static Meta;
    /// `site` is the run's `Context`: the `Site` (through `Deref`) and what the checks of one
    /// run share (the live probes).
    fn run(&self, site: &Context<'_>) -> anyhow::Result<Outcome>;
    /// `run`, each finding handed to `sink` as it is made, in order; the outcome's own
    /// findings (if any) come after them. A check of a finding per server (one site of
    /// 360,000 servers) makes them one at a time here, so that a run that lets them go
    /// (`run_made_again`) never holds them all; the others hand over `run`'s.
    fn run_into(
        &self,
        site: &Context<'_>,
        sink: &mut dyn FnMut(Finding),
    ) -> anyhow::Result<Outcome> {
        let mut outcome = self.run(site)?;
        outcome.findings.drain(..).for_each(sink);
        Ok(outcome)
    }
}

/// `run` for a check that makes its findings in `run_into`: collected.
pub fn collected(
    run_into: impl FnOnce(&mut dyn FnMut(Finding)) -> anyhow::Result<Outcome>,
) -> anyhow::Result<Outcome> {
    let mut findings = Vec::new();
    let mut outcome = run_into(&mut |f| findings.push(f))?;
    findings.append(&mut outcome.findings);
    outcome.findings = findings;
    Ok(outcome)
}

/// What the checks of one run share besides the `Site`: the live probes, made on first use by a
/// live check. It lives here, not on `Site`, because the live layer sits above the site.
pub struct Context<'s> {
    pub site: &'s Site,
    live: OnceLock<Live>,
    /// The site's media/static URL prefixes (`shared::nginx::prefixes`), found once: five
    /// checks ask.
    prefixes: OnceLock<shared::nginx::Prefixes>,
    /// Apache's model of the site, built on first use by an MD5xx check.
    apache: OnceLock<Option<crate::apache::resolve::Resolver<'s>>>,
    /// What a check's first pass found that the same check, made again as the report is
    /// written (`Run`), reads instead of asking again (MD110's predictions, per server): by
    /// check id.
    facts: std::sync::Mutex<Vec<(&'static str, Facts)>>,
}

/// What a context hands the next one over the same site (`Context::into_kept`).
struct Kept {
    live: OnceLock<Live>,
    facts: std::sync::Mutex<Vec<(&'static str, Facts)>>,
    /// Found from the served directories and the model: the checks made again read them
    /// without the model (MD110 made again models a chunk of servers at a time: `Site::model_of`).
    prefixes: OnceLock<shared::nginx::Prefixes>,
}

/// A check's facts, of its own type (`Context::facts`).
type Facts = std::sync::Arc<dyn std::any::Any + Send + Sync>;

impl<'s> Context<'s> {
    pub fn new(site: &'s Site) -> Context<'s> {
        Context {
            site,
            live: OnceLock::new(),
            prefixes: OnceLock::new(),
            apache: OnceLock::new(),
            facts: Default::default(),
        }
    }

    /// A context that starts with what another kept (`into_kept`).
    fn with_kept(site: &'s Site, kept: Kept) -> Context<'s> {
        Context {
            live: kept.live,
            facts: kept.facts,
            prefixes: kept.prefixes,
            ..Context::new(site)
        }
    }

    /// What the checks of this context found that the same checks made again read: the live
    /// probes made, if any were, the facts kept and the prefixes.
    fn into_kept(self) -> Kept {
        Kept {
            live: self.live,
            facts: self.facts,
            prefixes: self.prefixes,
        }
    }

    /// The facts check `id` kept in this run (`keep_facts`), if they are a `T`.
    pub fn facts<T: std::any::Any + Send + Sync>(&self, id: &str) -> Option<std::sync::Arc<T>> {
        let facts = self.facts.lock().unwrap_or_else(|e| e.into_inner());
        let (_, f) = facts.iter().find(|(k, _)| *k == id)?;
        f.clone().downcast().ok()
    }

    /// Keeps check `id`'s facts for the rest of the run (the first kept stay).
    pub fn keep_facts<T: std::any::Any + Send + Sync>(&self, id: &'static str, facts: T) {
        let mut all = self.facts.lock().unwrap_or_else(|e| e.into_inner());
        if !all.iter().any(|(k, _)| *k == id) {
            all.push((id, std::sync::Arc::new(facts)));
        }
    }

    /// `shared::nginx::prefixes` over the site's resolver, found on first use.
    pub fn prefixes(&self) -> &shared::nginx::Prefixes {
        self.prefixes
            .get_or_init(|| shared::nginx::prefixes(self.site, &self.site.resolver()))
    }

    /// When Apache httpd is the server judged: its site and its model (built on first use).
    pub fn apache(
        &self,
    ) -> Option<(
        &'s crate::apache::site::ApacheSite,
        &crate::apache::resolve::Resolver<'s>,
    )> {
        let site: &'s Site = self.site;
        let a = site.apache.as_deref()?;
        let r = self
            .apache
            .get_or_init(|| {
                // Every site of a box reads the same configuration: its servers are read once.
                let servers = site.per_box("apache::resolve::Servers", || {
                    crate::apache::resolve::Servers::of(&a.config)
                });
                Some(crate::apache::resolve::Resolver::with_servers(
                    &a.config, &site.root, servers,
                ))
            })
            .as_ref()?;
        Some((a, r))
    }

    /// The live probes (HEAD requests), made on first use: planned from Apache's model when
    /// Apache is the server judged, else from nginx's (one `Live` for the MD4xx checks).
    pub fn live(&self) -> &Live {
        self.live.get_or_init(|| match self.apache() {
            Some((a, r)) => crate::live::apache::gather(self.site, a, r, Limits::default()),
            None => crate::live::probes::gather(self.site, Limits::default()),
        })
    }

    /// The server judged.
    pub fn server_kind(&self) -> crate::answer::ServerKind {
        if self.site.apache.is_some() {
            crate::answer::ServerKind::Apache
        } else {
            crate::answer::ServerKind::Nginx
        }
    }

    /// `media-doctor trace URL` as pasted here: with `--apache-conf` when Apache is judged from
    /// a configuration of its own (trace would otherwise pick the box's server).
    pub fn trace_command(&self, url: &str) -> String {
        let q = crate::fs::walk::shell_quote(url);
        match self.site.apache.as_deref() {
            Some(a)
                if !matches!(
                    a.entry.to_str(),
                    Some("/etc/apache2/apache2.conf" | "/etc/httpd/conf/httpd.conf")
                ) =>
            {
                format!(
                    "media-doctor trace {q} --apache-conf {}",
                    crate::fs::walk::shell_quote(&a.entry.display().to_string())
                )
            }
            _ => format!("media-doctor trace {q}"),
        }
    }

    /// The server judged, as the report names it (`nginx`, `Apache`).
    pub fn server_word(&self) -> &'static str {
        match self.server_kind() {
            crate::answer::ServerKind::Nginx => "nginx",
            crate::answer::ServerKind::Apache => "Apache",
        }
    }

    /// The live probes if a check made them (None: nothing was sent).
    pub fn probes_made(&self) -> Option<&Live> {
        self.live.get()
    }
}

impl std::ops::Deref for Context<'_> {
    type Target = Site;
    fn deref(&self) -> &Site {
        self.site
    }
}

/// Every check, in id order: the one place a check is declared (its `Meta` is in its file,
/// `checks/mdNNN_name.rs`, named after its id and name; a test holds the file names).
pub static ALL: &[&dyn Check] = &[
    &md100_nginx_config_loads::ConfigLoads,
    &md101_alias_trailing_slash::AliasTrailingSlash,
    &md102_alias_traversal::AliasTraversal,
    &md103_root_duplicates_prefix::RootDuplicatesPrefix,
    &md104_regex_alias_capture::RegexAliasCapture,
    &md105_location_shadowed::LocationShadowed,
    &md106_url_prefix_not_served::UrlPrefixNotServed,
    &md107_site_not_enabled::SiteNotEnabled,
    &md108_server_conflict::ServerConflict,
    &md109_uploads_listing::UploadsListing,
    &md110_uploads_executable::UploadsExecutable,
    &md111_config_not_reloaded::ConfigNotReloaded,
    &md112_try_files_alias::TryFilesAlias,
    &md201_roots_exist::RootsExist,
    &md202_parent_traversal::ParentTraversal,
    &md203_files_readable::FilesReadable,
    &md204_app_can_write::AppCanWrite,
    &md205_static_collected::StaticCollected,
    &md206_ephemeral_storage::EphemeralStorage,
    &md207_symlinks_blocked::SymlinksBlocked,
    &md208_mac_policy::MacPolicy,
    &md209_media_static_overlap::MediaStaticOverlap,
    &md210_probe_file::ProbeFile,
    &md301_app_config_found::AppConfigFound,
    &md302_media_root_aligned::MediaRootAligned,
    &md303_media_url_aligned::MediaUrlAligned,
    &md304_static_root_aligned::StaticRootAligned,
    &md305_static_url_aligned::StaticUrlAligned,
    &md306_template_url_prefix::TemplateUrlPrefix,
    &md307_app_serves_media::AppServesMedia,
    &md308_storage_backend::StorageBackend,
    &md309_same_url_or_root::SameUrlOrRoot,
    &md401_origin_serves_file::OriginServesFile,
    &md402_public_serves_file::PublicServesFile,
    &md403_request_hits_app::RequestHitsApp,
    &md404_cached_error::CachedError,
    &md405_error_log::ErrorLog,
    &md406_prediction_mismatch::PredictionMismatch,
    &md501_apache_alias::ApacheAlias,
    &md502_apache_media_to_app::ApacheMediaToApp,
    &md503_apache_uploads_listing::ApacheUploadsListing,
    &md504_apache_uploads_executable::ApacheUploadsExecutable,
    &md505_apache_symlinks_blocked::ApacheSymlinksBlocked,
    &md506_apache_site_not_enabled::ApacheSiteNotEnabled,
    &md507_apache_config_not_reloaded::ApacheConfigNotReloaded,
    &md601_uploads_not_on_volume::UploadsNotOnVolume,
    &md602_nginx_dir_not_mounted::NginxDirNotMounted,
    &md603_alias_other_container_path::AliasOtherContainerPath,
    &md604_static_root_off_volume::StaticRootOffVolume,
    &md605_media_owner_in_image::MediaOwnerInImage,
    &md606_volume_hides_image_files::VolumeHidesImageFiles,
    &md607_bind_mount_access::BindMountAccess,
    &md608_host_nginx_container_dir::HostNginxContainerDir,
];

/// Every check, in id order. Ids are unique (a unit test holds that).
pub fn registry() -> Vec<&'static dyn Check> {
    ALL.to_vec()
}

pub fn find(id: &str) -> Option<&'static dyn Check> {
    // `ALL` itself, not a copy (`registry`): asked for each result of each site of a check
    // over every site.
    ALL.iter()
        .copied()
        .find(|c| c.meta().id.eq_ignore_ascii_case(id) || c.meta().name == id)
}

/// Run one check on its own, turning errors and panics into status `error`.
pub fn run_one(check: &dyn Check, site: &Site) -> CheckResult {
    run_in(check, &Context::new(site))
}

/// Run one check in a run's context, turning errors and panics into status `error`.
pub fn run_in(check: &dyn Check, site: &Context<'_>) -> CheckResult {
    run_shrinking(check, site, true)
}

/// `run_in`; a check of `MANY_FINDINGS` keeps each at its length only when `shrink` (not the
/// findings made again to be written and let go, `Run::findings`).
fn run_shrinking(check: &dyn Check, site: &Context<'_>, shrink: bool) -> CheckResult {
    let meta = check.meta();
    if let Some(why) = repository_skip(meta.id, site).or_else(|| other_server_skip(meta, site)) {
        return CheckResult {
            id: meta.id,
            name: meta.name,
            band: meta.band,
            status: Status::Skip,
            summary: why,
            findings: Vec::new(),
            ignored: None,
        };
    }
    let result = catch_unwind(AssertUnwindSafe(|| check.run(site)));
    let (status, summary, findings) = match result {
        Ok(Ok(outcome)) => settle(meta, outcome, shrink),
        Ok(Err(err)) => could_not_run(Ok(err)),
        Err(panic) => could_not_run(Err(panic)),
    };
    let mut result = CheckResult {
        id: meta.id,
        name: meta.name,
        band: meta.band,
        status,
        summary,
        findings,
        ignored: None,
    };
    // Written once for both servers: on Apache, in Apache's words (its User where nginx's
    // worker was named).
    if EITHER_SERVER.contains(&meta.id) {
        if let Some((_, r)) = site.apache() {
            let user = r.worker().map_or("its User", |w| w.name.as_str());
            on_apache::result(&mut result, user);
        }
    }
    result
}

/// A check that returned an error (`Ok`) or panicked: status `error` and why.
fn could_not_run(
    why: Result<anyhow::Error, Box<dyn std::any::Any + Send>>,
) -> (Status, String, Vec<Finding>) {
    match why {
        Ok(err) => (
            Status::Error,
            format!("the check could not run: {err:#}"),
            Vec::new(),
        ),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            (
                Status::Error,
                format!("internal error in the check (please report it): {what}"),
                Vec::new(),
            )
        }
    }
}

/// A check's status: its worst finding's.
fn status_of(worst: Option<Severity>) -> Status {
    match worst {
        Some(Severity::Error) => Status::Fail,
        Some(Severity::Warning) => Status::Warn,
        Some(Severity::Info) | None => Status::Pass,
    }
}

/// A check's summary when it gives none: its first actionable finding's message, and how many
/// more there are.
fn summary_of(meta: &Meta, first: Option<&str>, actionable: usize) -> String {
    match (first, actionable) {
        (None, _) | (_, 0) => meta.summary.to_string(),
        (Some(one), 1) => one.to_string(),
        (Some(first), n) => format!("{first} (and {} more)", n - 1),
    }
}

fn settle(meta: &Meta, outcome: Outcome, shrink: bool) -> (Status, String, Vec<Finding>) {
    if let Some(reason) = outcome.skipped {
        return (Status::Skip, reason, outcome.findings);
    }
    // A check of one site of 360,000 servers may hold a million findings: no spare capacity.
    let mut outcome = outcome;
    outcome.findings.shrink_to_fit();
    if shrink && outcome.findings.len() >= MANY_FINDINGS {
        outcome.findings.iter_mut().for_each(Finding::shrink_to_fit);
    }
    let status = status_of(outcome.findings.iter().map(|f| f.severity).max());
    let summary = outcome.summary.unwrap_or_else(|| {
        let mut actionable = outcome
            .findings
            .iter()
            .filter(|f| f.severity > Severity::Info);
        let first = actionable.next().map(|f| f.message.as_str());
        summary_of(meta, first, first.map_or(0, |_| 1 + actionable.count()))
    });
    (status, summary, outcome.findings)
}

/// A check with this many findings keeps each at its length (`Finding::shrink_to_fit`); fewer
/// are not worth the calls.
pub const MANY_FINDINGS: usize = 256;

/// Run every check in the registry, in id order.
pub fn run_all(site: &Site) -> Vec<CheckResult> {
    run(site, &registry())
}

/// The checks that judge directories on the server itself (they exist, nginx can reach and read
/// them, collectstatic filled them): in a repository checked in CI they are not there to judge.
const SERVER_PATH_CHECKS: &[&str] = &[
    "MD201", "MD202", "MD203", "MD204", "MD205", "MD207", "MD208", "MD210",
];

/// The checks that judge Apache's mapping as well as nginx's, written once: the directories the
/// server serves (MD201-MD203, MD208, MD210: Apache's Alias targets and DocumentRoots, walked,
/// scanned and probed as its `User`), the app's own (MD204-MD206, MD209, MD301, MD309), and the alignment
/// of its settings with what the server maps (MD302-MD305, `shared::apache_app`).
/// The live checks (MD401-MD406) read one `Live` whichever server is judged (`live::apache`
/// plans Apache's probes from its model, `live::apache_log` reads its error log).
const EITHER_SERVER: &[&str] = &[
    "MD104", "MD108", "MD201", "MD202", "MD203", "MD204", "MD205", "MD206", "MD208", "MD209",
    "MD210", "MD301", "MD302", "MD303", "MD304", "MD305", "MD306", "MD307", "MD308", "MD309",
    "MD401", "MD402", "MD403", "MD404", "MD405", "MD406",
];

/// nginx checks whose question Apache asks differently (and the check that asks it there), or
/// that do not apply to Apache, and why.
const ON_APACHE_ELSEWHERE: &[(&str, &str)] = &[
    (
        "MD100",
        "Apache's configuration is loaded as apache2ctl -t reads it; its first error is in the \
         site's facts (site.apache) and makes the MD5xx checks skip until it is fixed",
    ),
    (
        "MD101",
        "an Alias whose trailing slash does not match its target's is MD501's finding",
    ),
    (
        "MD102",
        "Apache's Alias matches the URL at a segment boundary (/media.. is not under \
         /media), so its target cannot be climbed out of as nginx's prefix alias can",
    ),
    (
        "MD103",
        "where Apache serves the app's prefixes from (DocumentRoot + URL, or an Alias) is \
         judged by MD302 and MD304",
    ),
    (
        "MD105",
        "a ProxyPass or WSGIScriptAlias taking the media URL is MD502's finding",
    ),
    (
        "MD106",
        "a prefix no Alias serves is MD303/MD305's and MD502's finding",
    ),
    ("MD107", "a site not enabled (a2ensite) is MD506's finding"),
    (
        "MD109",
        "a listing of the uploads (Options Indexes) is MD503's finding",
    ),
    (
        "MD110",
        "a script handler on the uploads (SetHandler, AddHandler, PHP) is MD504's finding",
    ),
    (
        "MD111",
        "a configuration changed after Apache loaded it is MD507's finding",
    ),
    (
        "MD112",
        "try_files is nginx's: Apache has no equivalent that misreads an Alias",
    ),
    (
        "MD207",
        "Apache follows a symbolic link only where Options FollowSymLinks (or \
         SymLinksIfOwnerMatch) allows it, not by nginx's disable_symlinks: MD505 judges the \
         links under Apache's directories",
    ),
];

/// The container checks read a Compose project's nginx service.
const CONTAINERS_ON_APACHE: &str = "a Docker Compose project is judged with its nginx service; \
     an Apache service in a project is not modelled yet";

/// A check written for the other server than the one judged.
fn other_server_skip(meta: &Meta, site: &Site) -> Option<String> {
    match (site.apache.is_some(), meta.band == Band::Apache) {
        (false, false) | (true, true) => None,
        (false, true) => Some("nginx is the server judged: this check is Apache httpd's".into()),
        (true, false) if EITHER_SERVER.contains(&meta.id) => None,
        (true, false) => Some(
            match ON_APACHE_ELSEWHERE.iter().find(|(id, _)| *id == meta.id) {
                Some((_, why)) => format!("Apache httpd is the server judged: {why}"),
                None if meta.band == Band::Containers => {
                    format!("Apache httpd is the server judged: {CONTAINERS_ON_APACHE}")
                }
                None => "Apache httpd is the server judged: this check reads nginx's \
                         configuration (the MD5xx checks are Apache's)"
                    .into(),
            },
        ),
    }
}

fn repository_skip(id: &str, site: &Site) -> Option<String> {
    if !SERVER_PATH_CHECKS.contains(&id) {
        return None;
    }
    let repo = site.repository()?;
    Some(format!(
        "a repository ({}, with its own nginx config, --offline): the directories nginx and the \
         app use exist only on the server; run `media-doctor check` there",
        repo.display()
    ))
}

/// Run the given checks (e.g. `select::Selection::checks()`), in the order given.
pub fn run(site: &Site, checks: &[&'static dyn Check]) -> Vec<CheckResult> {
    run_keeping(site, checks, true)
}

/// `run`, the fixes as data (`Finding::config_fix`) kept for `check --diff` only when
/// `keep_fix_data`: otherwise each block's fixes are let go as soon as it is settled (on one
/// site of 360,000 servers they were a few hundred bytes a finding until the report was made).
pub fn run_keeping(
    site: &Site,
    checks: &[&'static dyn Check],
    keep_fix_data: bool,
) -> Vec<CheckResult> {
    let cx = Context::new(site);
    // Apache's checks are not listed in an nginx report (its shape stays as it was).
    let checks: Vec<&'static dyn Check> = checks
        .iter()
        .copied()
        .filter(|c| site.apache.is_some() || c.meta().band != Band::Apache)
        .collect();
    let mut results = run_each(&cx, &checks, |c| {
        shared::nginx::fix_text_settled_later(|| run_in(c, &cx))
    });
    fixes::settle_keeping(site, &mut results, keep_fix_data);
    if !keep_fix_data {
        fixes::forget_data(&mut results);
    }
    results
}

/// A check that makes at least this many findings (one site of many servers: MD201 and MD202
/// make one per server) lets them go as it makes them, and they are made again as the report
/// is written (`run_made_again`); fewer are held: a site of few findings pays nothing.
pub const MADE_AGAIN_FROM: usize = 4096;

/// The checks of a run whose findings were let go after the first pass, to be made again,
/// one check at a time, as the report is written (`Run::findings`): one site of 360,000
/// servers made a million findings (~1 KB each, 20 times the config) that were all held until
/// the report was written. Their status and summary were settled from the first pass's
/// findings; the causes are grouped from the keys of the findings made again, as they are
/// written (`render::json::write_checks_made_again`): held from the first pass, ~40 bytes a
/// finding, they were a million keys under the checks, the settling and the findings made again.
pub struct Run<'s> {
    /// The run's context: the second pass asks what the first asked (the live probes made).
    cx: Context<'s>,
    /// Per result: its check, when its findings were let go.
    again: Vec<Option<&'static dyn Check>>,
    /// The reload command the findings' commands say (`fixes::with_reload`).
    reload: String,
    /// Per result: the settled remediation of each of its findings with a fix as data, in
    /// order, when they were let go (MD110's, one per server), the heads of their texts, and
    /// their fixes (a text that is the one its fix renders to is made again from it).
    settled: Vec<Vec<fixes::Settled>>,
    heads: fixes::Heads,
    pending: Vec<Vec<fixes::Pending>>,
}

impl Run<'_> {
    /// The findings of result `i` made again, handed to `sink` one at a time as settling left
    /// them in the first pass; false (and nothing made) when they are held in the result. The
    /// check runs again: a directory created or removed between the two passes is seen as it
    /// is now (the run is a snapshot only as far as the machine keeps still). An error or a
    /// panic now ends the findings there.
    pub fn each_finding(&self, i: usize, sink: &mut dyn FnMut(Finding)) -> bool {
        let Some(&Some(check)) = self.again.get(i) else {
            return false;
        };
        // A finding with a fix as data gets what settling made of it (the check makes the
        // same findings in the same order: what the machine changed in between aside).
        let cfg = self.cx.site.config();
        let pending = self.pending.get(i).into_iter().flatten();
        let mut settled = self.settled.get(i).into_iter().flatten().zip(pending);
        let mut each = |mut f: Finding| {
            if f.config_fix.is_some() {
                if let Some((&s, p)) = settled.next() {
                    s.apply(&self.heads, (p, cfg), &mut f);
                }
                f.config_fix = None;
            }
            fixes::with_reload(&mut f, &self.reload);
            sink(f)
        };
        let _ = catch_unwind(AssertUnwindSafe(|| {
            shared::nginx::fix_text_settled_later(|| {
                let outcome = check.run_into(&self.cx, &mut each)?;
                outcome.findings.into_iter().for_each(&mut each);
                anyhow::Ok(())
            })
        }));
        true
    }

    /// `each_finding`, collected.
    pub fn findings(&self, i: usize) -> Option<Vec<Finding>> {
        let mut all = Vec::new();
        self.each_finding(i, &mut |f| all.push(f)).then_some(all)
    }

    /// Whether some result's findings are made again.
    pub fn makes_again(&self) -> bool {
        self.again.iter().any(Option::is_some)
    }

    /// Whether result `i`'s findings are made again (`each_finding`).
    pub fn makes_again_at(&self, i: usize) -> bool {
        matches!(self.again.get(i), Some(Some(_)))
    }
}

/// `run_keeping` without the fixes as data, each check of `from` findings or more letting
/// them go as it makes them (`Run`, `Check::run_into`): for a report written once, as JSON.
/// Settling does to a finding without fixes as data only what `Run::each_finding` does again
/// (the reload command), except on Apache (its words, `on_apache`) and in another mount
/// namespace (`in_namespace`): there every finding is held. So are the findings of the live
/// checks (asked once). A finding with a config fix as data is let go too, its fix kept
/// (`fixes::Pending`) to be merged and proven with the others at its block; what settling
/// writes is kept compactly (`fixes::Settled`) and given to the finding made again.
///
/// Between the checks and the settling, the site lets go of what the checks read of its servers
/// (`Site::let_go_of_models`): the fix prover reads the config, not them, and the findings made
/// again read them anew (one site of 360,000 servers held ~90 MB of them under the prover's own).
/// So does the run's context, but for what it kept for the checks made again (`Kept`).
pub fn run_made_again(
    site: &mut Site,
    checks: &[&'static dyn Check],
    from: usize,
) -> (Vec<CheckResult>, MadeAgain) {
    let checks: Vec<&'static dyn Check> = checks
        .iter()
        .copied()
        .filter(|c| site.apache.is_some() || c.meta().band != Band::Apache)
        .collect();
    let may = site.apache.is_none() && site.root.process().is_none();
    let reload = if may {
        site.reload_command()
    } else {
        String::new()
    };
    let first = Context::new(site);
    let done = run_each(&first, &checks, |c| {
        if may && c.meta().band != Band::Live {
            shared::nginx::fix_text_settled_later(|| run_letting_go(c, &first, from))
        } else {
            (
                shared::nginx::fix_text_settled_later(|| run_in(c, &first)),
                None,
            )
        }
    });
    // The live checks' probes are made once, and MD110's predictions and the prefixes: the
    // findings made again read them.
    let kept = first.into_kept();
    let lets_go = done.iter().any(|(_, k)| k.is_some());
    let let_go = |site: &mut Site| {
        if lets_go {
            site.let_go_of_models_but_served_dirs();
            crate::heap::return_freed_pages_now();
        }
    };
    let_go(site);
    let mut results = Vec::with_capacity(done.len());
    let mut again = Vec::with_capacity(done.len());
    let mut pending = Vec::with_capacity(done.len());
    for (c, (r, p)) in checks.iter().zip(done) {
        results.push(r);
        again.push(p.as_ref().map(|_| *c));
        pending.push(p.unwrap_or_default());
    }
    let mut sealer = Sealer {
        cfg: site.config(),
        reload: &reload,
        heads: fixes::Heads::default(),
        settled: pending
            .iter()
            .map(|p| vec![fixes::Settled::NOT_YET; p.len()])
            .collect(),
    };
    let mut seal = |r: usize, i: usize, p: &fixes::Pending, rem| sealer.seal(r, i, p, rem);
    fixes::settle_with_pending(site, &mut results, &pending, false, &mut seal);
    let (settled, heads) = sealer.finish(&pending);
    fixes::forget_data(&mut results);
    // And what the prover read (the server places, the values kept per box), before the
    // findings are made again.
    let_go(site);
    let made = MadeAgain {
        kept,
        again,
        reload,
        settled,
        heads,
        pending,
    };
    (results, made)
}

/// What `run_made_again` kept to make the findings it let go again (`Run`), and what its checks
/// found that they read again (`Kept`): none of it borrows the site, which let go of its models
/// in between.
pub struct MadeAgain {
    kept: Kept,
    again: Vec<Option<&'static dyn Check>>,
    reload: String,
    settled: Vec<Vec<fixes::Settled>>,
    heads: fixes::Heads,
    pending: Vec<Vec<fixes::Pending>>,
}

impl MadeAgain {
    /// The run that makes the findings again, on `site` (the one they were made on).
    pub fn over(self, site: &Site) -> Run<'_> {
        Run {
            cx: Context::with_kept(site, self.kept),
            again: self.again,
            reload: self.reload,
            settled: self.settled,
            heads: self.heads,
            pending: self.pending,
        }
    }
}

/// The remediations settling writes for the findings let go (`fixes::Pending`), each kept
/// compactly as soon as it is written (`fixes::Seal`).
struct Sealer<'a> {
    cfg: &'a crate::nginx::Config,
    reload: &'a str,
    heads: fixes::Heads,
    /// Per result: each pending fix's settled remediation, once sealed (`Settled::NOT_YET`
    /// before).
    settled: Vec<Vec<fixes::Settled>>,
}

impl Sealer<'_> {
    /// Pending fix `p`, `i` of result `r`, its remediation `rem` written, kept compactly.
    fn seal(
        &mut self,
        r: usize,
        i: usize,
        p: &fixes::Pending,
        mut rem: crate::report::Remediation,
    ) {
        fixes::reload_in(&mut rem, self.reload);
        self.settled[r][i] = self.heads.settled(&rem, p, self.cfg);
    }

    /// Every pending fix's settled remediation, in order (`Run::settled`). Each fix of a block
    /// is sealed as it is settled: one is left only if settling was skipped, and sealed here
    /// with no text, as it was made (its commands).
    fn finish(
        mut self,
        pending: &[Vec<fixes::Pending>],
    ) -> (Vec<Vec<fixes::Settled>>, fixes::Heads) {
        for (r, ps) in pending.iter().enumerate() {
            for (i, p) in ps.iter().enumerate() {
                if !self.settled[r][i].is_sealed() {
                    let rem = crate::report::Remediation {
                        text: String::new(),
                        commands: p.commands().to_vec(),
                    };
                    self.seal(r, i, p, rem);
                }
            }
        }
        (self.settled, self.heads)
    }
}

/// What a check whose findings were let go keeps of them: the config fixes to settle
/// (`fixes::Pending`).
type LetGo = Vec<fixes::Pending>;

/// `run_in` of a check on a site where its findings may be let go (`run_made_again`): they
/// are held until `from` of them are, then, if none has Apache fixes as data, each is let go
/// as it is made, its config fix kept (returned). A check that makes Apache fixes
/// as data after that, or says it skipped, is run again and held whole.
fn run_letting_go(
    check: &'static dyn Check,
    cx: &Context<'_>,
    from: usize,
) -> (CheckResult, Option<LetGo>) {
    let meta = check.meta();
    if repository_skip(meta.id, cx).is_some() || other_server_skip(meta, cx).is_some() {
        return (run_in(check, cx), None);
    }
    let mut tally = Tally {
        from,
        count: 0,
        worst: None,
        actionable: 0,
        first: None,
        held: Vec::new(),
        has_data: false,
        letting_go: false,
        pending: Vec::new(),
        shapes: Default::default(),
        fell_back: false,
    };
    let result = catch_unwind(AssertUnwindSafe(|| {
        let outcome = check.run_into(cx, &mut |f| tally.add(f))?;
        anyhow::Ok(outcome)
    }));
    let (status, summary, findings) = match result {
        Ok(Ok(mut outcome)) => {
            outcome.findings.drain(..).for_each(|f| tally.add(f));
            match tally.letting_go {
                true if tally.fell_back || outcome.skipped.is_some() => {
                    return (run_in(check, cx), None);
                }
                true => {
                    let summary = outcome.summary.unwrap_or_else(|| {
                        summary_of(meta, tally.first.as_deref(), tally.actionable)
                    });
                    let result = CheckResult {
                        id: meta.id,
                        name: meta.name,
                        band: meta.band,
                        status: status_of(tally.worst),
                        summary,
                        findings: Vec::new(),
                        ignored: None,
                    };
                    tally.pending.shrink_to_fit();
                    return (result, Some(std::mem::take(&mut tally.pending)));
                }
                false => {
                    outcome.findings = std::mem::take(&mut tally.held);
                    settle(meta, outcome, true)
                }
            }
        }
        Ok(Err(err)) => could_not_run(Ok(err)),
        Err(panic) => could_not_run(Err(panic)),
    };
    let result = CheckResult {
        id: meta.id,
        name: meta.name,
        band: meta.band,
        status,
        summary,
        findings,
        ignored: None,
    };
    (result, None)
}

/// What `run_letting_go` keeps of a check's findings as it makes them.
struct Tally {
    from: usize,
    /// Findings made, their worst severity, how many are actionable and the first of those's
    /// message: what `settle` makes the status and summary of.
    count: usize,
    worst: Option<Severity>,
    actionable: usize,
    first: Option<String>,
    /// The findings held (all of them, until they are let go).
    held: Vec<Finding>,
    /// Some finding held has Apache fixes as data: they are all held (they are merged and
    /// proven on findings held, `fixes::merge_apache`).
    has_data: bool,
    /// Set once the findings are let go.
    letting_go: bool,
    /// The config fixes of the findings let go, in order.
    pending: Vec<fixes::Pending>,
    /// What they say alike, held once.
    shapes: fixes::Shapes,
    /// A finding with Apache fixes as data came after they were let go: the check is run again.
    fell_back: bool,
}

impl Tally {
    fn add(&mut self, f: Finding) {
        self.count += 1;
        self.worst = self.worst.max(Some(f.severity));
        if f.severity > Severity::Info {
            self.actionable += 1;
            if self.first.is_none() {
                self.first = Some(f.message.clone());
            }
        }
        let data = f.apache_fix.is_some();
        match self.letting_go {
            _ if self.fell_back => {}
            true if data => self.fell_back = true,
            true => let_go(f, (&mut self.pending, &mut self.shapes)),
            false => {
                self.has_data |= data;
                self.held.push(f);
                if !self.has_data && self.held.len() >= self.from {
                    for f in std::mem::take(&mut self.held) {
                        let_go(f, (&mut self.pending, &mut self.shapes));
                    }
                    self.letting_go = true;
                }
            }
        }
    }
}

/// A finding let go: its config fix kept (with its own commands, which its block's merged fix
/// keeps) if it has one.
fn let_go(mut f: Finding, (pending, shapes): (&mut Vec<fixes::Pending>, &mut fixes::Shapes)) {
    if let Some(fix) = f.config_fix.take() {
        // Settling writes the remediation's text: only its commands are kept.
        let commands = f.remediation.take().map(|r| r.commands).unwrap_or_default();
        pending.push(fixes::Pending::of(*fix, commands, shapes));
    }
}

/// A site of at least this many servers has its checks run on every core (see `run_each`).
const PARALLEL_CHECKS_SERVERS: usize = 1024;

/// `run` of each check of `checks` (run in `cx`), in the order of `checks`. Their config fixes
/// are settled after, which writes each one's text: not made twice
/// (`fix_text_settled_later`). One site of many servers (one of 360,000 servers: MD201, MD202,
/// MD105 and MD110 each walk or predict every one) has its checks taken one at a time by a
/// worker per core, each check on one thread: checked one after the other, they kept one core
/// of two busy for half the run. A site checked among many (every site of a box) is already
/// one of the sites checked on every core: its checks run here, one after the other.
fn run_each<T: Send>(
    cx: &Context<'_>,
    checks: &[&'static dyn Check],
    run: impl Fn(&'static dyn Check) -> T + Sync,
) -> Vec<T> {
    let one = |c: &&'static dyn Check| run(*c);
    let threads = crate::system::cores().min(checks.len());
    if cx.is_one_of_many() || threads <= 1 || cx.nginx.servers.len() < PARALLEL_CHECKS_SERVERS {
        return checks.iter().map(one).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let slots: Vec<std::sync::Mutex<Option<T>>> =
        checks.iter().map(|_| std::sync::Mutex::new(None)).collect();
    let work = || loop {
        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let Some(c) = checks.get(i) else { break };
        let r = one(c);
        // What the check read and let go goes back to the system now, not under the next
        // check's (jemalloc keeps freed pages ten seconds): one site of 360,000 servers,
        // peak 267 -> 251 MB.
        crate::heap::return_freed_pages_now();
        *slots[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(r);
    };
    std::thread::scope(|scope| {
        for _ in 1..threads {
            // The main thread's stack size, as for the sites of a check over every site.
            let spawned = std::thread::Builder::new()
                .stack_size(8 << 20)
                .spawn_scoped(scope, work);
            if spawned.is_err() {
                // No thread to be had: the ones running (and this one) do the work.
                break;
            }
        }
        work();
    });
    slots
        .into_iter()
        .zip(checks)
        .map(|(slot, c)| {
            slot.into_inner()
                .unwrap_or_else(|e| e.into_inner())
                .unwrap_or_else(|| one(c))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn each_check_is_in_its_own_file_named_after_it_in_id_order() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/checks");
        let ids: Vec<&str> = ALL.iter().map(|c| c.meta().id).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted, "ALL is in id order");
        for c in ALL {
            let m = c.meta();
            let file = format!(
                "{}_{}.rs",
                m.id.to_ascii_lowercase(),
                m.name.replace('-', "_")
            );
            let text = std::fs::read_to_string(dir.join(&file))
                .unwrap_or_else(|e| panic!("{}: src/checks/{file}: {e}", m.id));
            assert_eq!(
                text.matches("impl Check for ").count(),
                1,
                "{file}: one check per file"
            );
            assert!(
                text.contains(&format!("id: \"{}\"", m.id)),
                "{file} declares {}",
                m.id
            );
        }
    }

    #[test]
    fn every_check_runs_on_apache_or_says_why_not() {
        for c in ALL {
            let m = c.meta();
            if matches!(m.band, Band::Apache | Band::Containers) || EITHER_SERVER.contains(&m.id) {
                continue;
            }
            assert!(
                ON_APACHE_ELSEWHERE.iter().any(|(id, _)| *id == m.id),
                "{}: neither run on Apache nor given its reason",
                m.id
            );
        }
        for (id, _) in ON_APACHE_ELSEWHERE {
            assert!(
                !EITHER_SERVER.contains(id),
                "{id} both runs and skips on Apache"
            );
        }
    }

    #[test]
    fn ids_and_names_are_unique_and_well_formed() {
        let mut ids = HashSet::new();
        let mut names = HashSet::new();
        for c in registry() {
            let m = c.meta();
            assert!(ids.insert(m.id), "duplicate id {}", m.id);
            assert!(names.insert(m.name), "duplicate name {}", m.name);
            assert!(m.id.len() == 5 && m.id.starts_with("MD"), "bad id {}", m.id);
            assert!(
                m.id.starts_with(m.band.prefix()),
                "{} is not in band {:?}",
                m.id,
                m.band
            );
            assert!(
                m.docs.starts_with(&format!("# {}", m.id)),
                "{}: page must start with '# {}'",
                m.id,
                m.id
            );
        }
    }
}
