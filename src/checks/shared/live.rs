//! What the live checks share.
//!
//! MD4xx: the site as it runs: live HEAD probes and nginx's error log. Skipped with `--offline`.

use crate::checks::{Context, Outcome};
use crate::http::Probe;
use crate::live::probes::{Item, Live, Prediction};
use crate::report::Finding;

pub(crate) const OFFLINE: &str = "--offline: no request is sent and no log is read";

/// `server_name` matching for log filtering: exact, `*.example.com`, `.example.com`.
pub(crate) fn name_matches(pattern: &str, name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    let name = name.split(':').next().unwrap_or("");
    if let Some(suffix) = pattern.strip_prefix("*.") {
        return name.ends_with(&format!(".{suffix}"));
    }
    if let Some(base) = pattern.strip_prefix('.') {
        return name == base || name.ends_with(pattern);
    }
    pattern == name
}

/// The probes, or why the checks built on them cannot run.
pub(crate) fn probes_or_skip<'c>(site: &'c Context<'_>) -> Result<&'c Live, Outcome> {
    if site.offline {
        return Err(Outcome::skip(OFFLINE));
    }
    let live = site.live();
    if live.items.is_empty() {
        let why = if live.notes.is_empty() {
            "no media/static prefix served from disk was found to probe".to_string()
        } else {
            live.notes.join("; ")
        };
        return Err(Outcome::skip(format!("nothing to probe: {why}")));
    }
    Ok(live)
}

/// The facts of one probe, as evidence lines.
pub(crate) fn probe_evidence(mut f: Finding, p: &Probe) -> Finding {
    f = f.evidence("request", p.describe());
    f = f.evidence("answer", p.summary());
    if let Some(note) = p.tls_note() {
        f = f.evidence("tls", note);
    }
    f
}

pub(crate) fn item_evidence(mut f: Finding, item: &Item) -> Finding {
    f = f.evidence("server", &item.server_desc);
    if let Some(file) = &item.file {
        f = f.evidence("file", file.display());
    }
    if let Some(s) = &item.served {
        f = f.evidence("served from", s.dir.display());
    }
    f
}

pub(crate) fn prediction_text(p: &Prediction) -> String {
    match p.status {
        Some(s) => format!("{s} ({})", p.reason),
        None => format!("not predictable: {}", p.reason),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_like_server_name() {
        assert!(name_matches("example.com", "EXAMPLE.com:8080"));
        assert!(name_matches("*.example.com", "www.example.com"));
        assert!(!name_matches("*.example.com", "example.com"));
        assert!(name_matches(".example.com", "example.com"));
        assert!(name_matches(".example.com", "a.example.com"));
        assert!(!name_matches("example.com", "example.org"));
    }
}
