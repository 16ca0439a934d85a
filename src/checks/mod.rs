//! The check engine: the `Check` trait, each check's `Meta`, the registry, and the runner.
//!
//! A check reads the already-gathered `Site` (it never re-parses config) and returns an `Outcome`.
//! The runner turns outcomes into `CheckResult`s; a check that returns an error or panics becomes
//! status `error` with the reason, and the run goes on.
//!
//! Checks live one band per file (`nginx.rs` = MD1xx, ...); each band file exposes `CHECKS`.

use crate::http::Limits;
use crate::live::probes::Live;
pub use crate::report::{Band, Meta};
use crate::report::{CheckResult, Finding, Severity, Status};
use crate::site::Site;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::OnceLock;

pub mod app;
pub mod container_common;
pub mod fs;
pub mod live;
pub mod md601_uploads_not_on_volume;
pub mod md602_nginx_dir_not_mounted;
pub mod md603_alias_other_container_path;
pub mod md604_static_root_off_volume;
pub mod md605_media_owner_in_image;
pub mod md606_volume_hides_image_files;
pub mod nginx;
pub mod nginx_common;
pub mod nginx_paths;
pub mod nginx_reload;
pub mod nginx_routing;
pub mod nginx_uploads;
pub mod select;

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
}

/// What the checks of one run share besides the `Site`: the live probes, made on first use by a
/// live check. It lives here, not on `Site`, because the live layer sits above the site.
pub struct Context<'s> {
    pub site: &'s Site,
    live: OnceLock<Live>,
}

impl<'s> Context<'s> {
    pub fn new(site: &'s Site) -> Context<'s> {
        Context {
            site,
            live: OnceLock::new(),
        }
    }

    /// The live probes (HEAD requests), made on first use.
    pub fn live(&self) -> &Live {
        self.live
            .get_or_init(|| crate::live::probes::gather(self.site, Limits::default()))
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

/// Every check, in id order. Ids are unique (a unit test holds that).
pub fn registry() -> Vec<&'static dyn Check> {
    let mut all: Vec<&'static dyn Check> = Vec::new();
    all.extend_from_slice(nginx::CHECKS);
    all.extend_from_slice(nginx_paths::CHECKS);
    all.extend_from_slice(nginx_routing::CHECKS);
    all.extend_from_slice(nginx_uploads::CHECKS);
    all.extend_from_slice(fs::CHECKS);
    all.extend_from_slice(nginx_reload::CHECKS);
    all.extend_from_slice(app::CHECKS);
    all.extend_from_slice(live::CHECKS);
    all.extend_from_slice(&[
        &md601_uploads_not_on_volume::UploadsNotOnVolume,
        &md602_nginx_dir_not_mounted::NginxDirNotMounted,
        &md603_alias_other_container_path::AliasOtherContainerPath,
        &md604_static_root_off_volume::StaticRootOffVolume,
        &md605_media_owner_in_image::MediaOwnerInImage,
        &md606_volume_hides_image_files::VolumeHidesImageFiles,
    ]);
    all.sort_by_key(|c| c.meta().id);
    all
}

pub fn find(id: &str) -> Option<&'static dyn Check> {
    registry()
        .into_iter()
        .find(|c| c.meta().id.eq_ignore_ascii_case(id) || c.meta().name == id)
}

/// Run one check on its own, turning errors and panics into status `error`.
pub fn run_one(check: &dyn Check, site: &Site) -> CheckResult {
    run_in(check, &Context::new(site))
}

/// Run one check in a run's context, turning errors and panics into status `error`.
pub fn run_in(check: &dyn Check, site: &Context<'_>) -> CheckResult {
    let meta = check.meta();
    let result = catch_unwind(AssertUnwindSafe(|| check.run(site)));
    let (status, summary, findings) = match result {
        Ok(Ok(outcome)) => settle(meta, outcome),
        Ok(Err(err)) => (
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
    };
    CheckResult {
        id: meta.id,
        name: meta.name,
        band: meta.band,
        status,
        summary,
        findings,
        ignored: None,
    }
}

fn settle(meta: &Meta, outcome: Outcome) -> (Status, String, Vec<Finding>) {
    if let Some(reason) = outcome.skipped {
        return (Status::Skip, reason, outcome.findings);
    }
    let worst = outcome.findings.iter().map(|f| f.severity).max();
    let status = match worst {
        Some(Severity::Error) => Status::Fail,
        Some(Severity::Warning) => Status::Warn,
        Some(Severity::Info) | None => Status::Pass,
    };
    let summary = outcome.summary.unwrap_or_else(|| {
        let actionable: Vec<&Finding> = outcome
            .findings
            .iter()
            .filter(|f| f.severity > Severity::Info)
            .collect();
        match actionable.as_slice() {
            [] => meta.summary.to_string(),
            [one] => one.message.clone(),
            [first, rest @ ..] => format!("{} (and {} more)", first.message, rest.len()),
        }
    });
    (status, summary, outcome.findings)
}

/// Run every check in the registry, in id order.
pub fn run_all(site: &Site) -> Vec<CheckResult> {
    run(site, &registry())
}

/// Run the given checks (e.g. `select::Selection::checks()`), in the order given.
pub fn run(site: &Site, checks: &[&'static dyn Check]) -> Vec<CheckResult> {
    let cx = Context::new(site);
    checks.iter().map(|c| run_in(*c, &cx)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

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
