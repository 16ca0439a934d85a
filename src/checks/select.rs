//! Which checks run (`--select`, `--ignore`) and which results the site's profile accepts
//! (`ignore = [{ id, reason }]`).
//!
//! A selector names a check by id (`MD101`, any case) or name (`alias-trailing-slash`), or a whole
//! band by its prefix (`MD1`, also written `MD1xx`). An unknown selector is an error, not an empty
//! selection: a typo in a CI job must not silently turn a check off.

use super::{registry, Band, Check, Meta};
pub use crate::profile::IgnoreRule;
use crate::report::CheckResult;
use anyhow::{bail, Result};

const BANDS: [Band; 6] = Band::ALL;

/// One parsed selector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selector {
    Check(&'static str),
    Band(Band),
}

impl Selector {
    pub fn parse(text: &str) -> Result<Selector> {
        let t = text.trim();
        let band_part = t
            .strip_suffix("xx")
            .or_else(|| t.strip_suffix("XX"))
            .unwrap_or(t);
        if let Some(band) = BANDS
            .into_iter()
            .find(|b| b.prefix().eq_ignore_ascii_case(band_part))
        {
            return Ok(Selector::Band(band));
        }
        match super::find(t) {
            Some(check) => Ok(Selector::Check(check.meta().id)),
            None => bail!(
                "no check or band {t:?} (a check id such as MD101, a name such as \
                 alias-trailing-slash, or a band such as MD1): `media-doctor list-checks` lists them"
            ),
        }
    }

    pub fn matches(self, meta: &Meta) -> bool {
        match self {
            Selector::Check(id) => meta.id == id,
            Selector::Band(band) => meta.band == band,
        }
    }
}

/// `--select` and `--ignore` together: a check runs when some `--select` selector matches it (or
/// none was given) and no `--ignore` selector does.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    select: Vec<Selector>,
    ignore: Vec<Selector>,
}

impl Selection {
    pub fn parse(select: &[String], ignore: &[String]) -> Result<Selection> {
        let parse_all = |flag: &str, items: &[String]| -> Result<Vec<Selector>> {
            items
                .iter()
                .map(|s| Selector::parse(s).map_err(|e| e.context(format!("{flag} {s}"))))
                .collect()
        };
        Ok(Selection {
            select: parse_all("--select", select)?,
            ignore: parse_all("--ignore", ignore)?,
        })
    }

    pub fn includes(&self, meta: &Meta) -> bool {
        (self.select.is_empty() || self.select.iter().any(|s| s.matches(meta)))
            && !self.ignore.iter().any(|s| s.matches(meta))
    }

    /// The selected checks, in id order.
    pub fn checks(&self) -> Vec<&'static dyn Check> {
        registry()
            .into_iter()
            .filter(|c| self.includes(c.meta()))
            .collect()
    }
}

/// A profile's ignore rules, checked: every id known, every reason given.
#[derive(Debug, Clone, Default)]
pub struct Accepted {
    rules: Vec<(Selector, String)>,
}

impl Accepted {
    /// Fails on an unknown id or an empty reason, so a profile with a typo is reported (exit 2)
    /// instead of silently ignoring nothing.
    pub fn parse(rules: &[IgnoreRule]) -> Result<Accepted> {
        let mut parsed = Vec::with_capacity(rules.len());
        for rule in rules {
            let selector = Selector::parse(&rule.id)
                .map_err(|e| e.context(format!("ignore {:?}", rule.id)))?;
            if rule.reason.trim().is_empty() {
                bail!(
                    "ignore {:?}: a reason is required (why is this result accepted?)",
                    rule.id
                );
            }
            parsed.push((selector, rule.reason.trim().to_string()));
        }
        Ok(Accepted { rules: parsed })
    }

    /// Mark the results the rules accept with the reason (the first matching rule's).
    pub fn apply(&self, results: &mut [CheckResult]) {
        // No rule (no `--ignore`, the usual run): no check's metadata is looked up (~500
        // instructions a result, 46 results a site of a check over every site).
        if self.rules.is_empty() {
            return;
        }
        for result in results.iter_mut() {
            let Some(meta) = super::find(result.id).map(|c| c.meta()) else {
                continue;
            };
            if let Some((_, reason)) = self.rules.iter().find(|(s, _)| s.matches(meta)) {
                result.ignored = Some(reason.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Status;

    fn any_check() -> &'static Meta {
        registry()[0].meta()
    }

    #[test]
    fn selectors_by_id_name_and_band() {
        let m = any_check();
        assert_eq!(
            Selector::parse(&m.id.to_lowercase()).unwrap(),
            Selector::Check(m.id)
        );
        assert_eq!(Selector::parse(m.name).unwrap(), Selector::Check(m.id));
        for band in BANDS {
            assert_eq!(
                Selector::parse(band.prefix()).unwrap(),
                Selector::Band(band)
            );
            let xx = format!("{}xx", band.prefix().to_lowercase());
            assert_eq!(Selector::parse(&xx).unwrap(), Selector::Band(band));
        }
        assert!(Selector::Band(m.band).matches(m));
    }

    #[test]
    fn unknown_selectors_are_errors_that_say_where_to_look() {
        for bad in ["MD999", "MD9", "nope", ""] {
            let err = Selection::parse(&[bad.to_string()], &[]).unwrap_err();
            let msg = format!("{err:#}");
            assert!(msg.contains("list-checks"), "{msg}");
            assert!(msg.contains("--select"), "{msg}");
        }
    }

    #[test]
    fn select_then_ignore() {
        let m = any_check();
        let all = Selection::default();
        assert_eq!(all.checks().len(), registry().len());
        let band = Selection::parse(&[m.band.prefix().into()], &[]).unwrap();
        assert!(band.includes(m));
        let ignored = Selection::parse(&[m.band.prefix().into()], &[m.id.into()]).unwrap();
        assert!(!ignored.includes(m));
        assert!(ignored.checks().iter().all(|c| c.meta().id != m.id));
    }

    fn result(meta: &'static Meta, status: Status) -> CheckResult {
        CheckResult {
            id: meta.id,
            name: meta.name,
            band: meta.band,
            status,
            summary: String::new(),
            findings: Vec::new(),
            ignored: None,
        }
    }

    #[test]
    fn profile_ignores_need_a_known_id_and_a_reason() {
        let m = any_check();
        let mut results = vec![result(m, Status::Fail)];
        let rule = |id: &str, reason: &str| IgnoreRule {
            id: id.into(),
            reason: reason.into(),
        };
        assert!(Accepted::parse(&[rule("MD999", "x")]).is_err());
        assert!(Accepted::parse(&[rule(m.id, "  ")]).is_err());
        Accepted::parse(&[]).unwrap().apply(&mut results);
        assert_eq!(results[0].ignored, None);
        Accepted::parse(&[rule(m.name, "accepted: see ticket 12")])
            .unwrap()
            .apply(&mut results);
        assert_eq!(
            results[0].ignored.as_deref(),
            Some("accepted: see ticket 12")
        );
        assert!(!results[0].is_actionable());
    }
}
