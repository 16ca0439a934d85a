//! MD406 prediction-mismatch: the live answers match what the loaded config and files predict.
//! The page: checks/MD406.md.

use super::shared::live::*;
use super::{Band, Check, Context, Meta, Outcome};
use crate::live::mismatch_cause;
use crate::report::Finding;

/// MD406: the live answers match what the loaded config and files predict.
pub struct PredictionMismatch;

static PREDICTION_MISMATCH: Meta = Meta {
    id: "MD406",
    name: "prediction-mismatch",
    band: Band::Live,
    summary: "the live answers match what the loaded config and files predict",
    docs: include_str!("../../checks/MD406.md"),
};

impl Check for PredictionMismatch {
    fn meta(&self) -> &'static Meta {
        &PREDICTION_MISMATCH
    }

    fn run(&self, site: &Context<'_>) -> anyhow::Result<Outcome> {
        let live = match probes_or_skip(site) {
            Ok(l) => l,
            Err(skip) => return Ok(skip),
        };
        if let Some(why) = &live.no_origin {
            return Ok(Outcome::skip(why.clone()));
        }
        let mut findings = Vec::new();
        let mut matched = 0usize;
        let mut stale: Option<Option<crate::system::loaded::Stale>> = None; // computed on first need
        for item in &live.items {
            let mut origin_agrees = true;
            for o in &item.origin {
                let (Some(a), Some(want)) = (o.probe.answer(), o.prediction.status) else {
                    continue;
                };
                if a.status == want {
                    matched += 1;
                    continue;
                }
                origin_agrees = false;
                let cause = match site.apache() {
                    Some((ap, _)) => crate::live::mismatch_cause_apache(
                        a,
                        &super::shared::apache::reload(site, ap),
                    ),
                    None => {
                        let stale_files = stale
                            .get_or_insert_with(|| site.changed_since_load())
                            .clone();
                        mismatch_cause(a, stale_files.as_ref())
                    }
                };
                let f = Finding::error(format!(
                    "{} on {}: {} answers {}, the config and files predict {want}",
                    item.url_path,
                    o.listen,
                    site.server_word(),
                    a.status
                ))
                .evidence("predicted", prediction_text(&o.prediction))
                .evidence("likely cause", &cause.text);
                let f = item_evidence(probe_evidence(f, &o.probe), item);
                let f = match &o.prediction.location {
                    Some(l) if site.apache().is_some() => f.evidence("mapping", l),
                    Some(l) => f.evidence("location", l),
                    None => f,
                };
                findings.push(f.fix(cause.fix, cause.commands));
            }
            // The public answer against the model, when the origin agreed with it.
            if let (Some(p), Some(pred)) = (&item.public, &item.public_prediction) {
                if let (Some(a), Some(want)) = (p.answer(), pred.status) {
                    if a.status != want && origin_agrees && !item.origin.is_empty() {
                        let front = [a.header("server"), a.header("via")]
                            .into_iter()
                            .flatten()
                            .collect::<Vec<_>>()
                            .join(", ");
                        findings.push(
                            item_evidence(
                                probe_evidence(
                                    Finding::warning(format!(
                                        "{}: the public URL answers {}, the local {} and the \
                                         model {want}: a proxy or CDN in front answers differently",
                                        p.target.url,
                                        a.status,
                                        site.server_word()
                                    )),
                                    p,
                                ),
                                item,
                            )
                            .evidence(
                                "in front",
                                if front.is_empty() {
                                    "unknown".into()
                                } else {
                                    front
                                },
                            ),
                        );
                    } else if a.status == want {
                        matched += 1;
                    }
                }
            }
        }
        if findings.is_empty() && matched == 0 {
            return Ok(Outcome::skip(
                "no live answer to compare with a prediction (no answer, or the URLs go to the app)",
            ));
        }
        let outcome = Outcome::findings(findings);
        Ok(if outcome.findings.is_empty() {
            outcome.with_summary(format!("{matched} live answer(s) match the prediction"))
        } else {
            outcome
        })
    }
}
