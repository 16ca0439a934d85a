//! Causes, not symptoms: the findings that share one cause become one item, led by the cause.
//!
//! A cause is a place: an nginx block that a config fix edits (the `# FILE:LINE` line of its fix
//! block), else the finding's own place. The nginx checks (MD1xx) that find something at that
//! place are its problems; a check of another band whose finding points there — it names a check
//! of the item (`explained by: MD105`, `(see MD101)`) or sits at the same file:line — only sees
//! the effect, and is listed under the item as "also seen by". Everything else is its own item.
//!
//! The text report opens with these items in the order to act on them; the JSON report adds
//! them as `causes` (docs/json-schema.md) next to every check result, which it keeps.

use crate::fnv::FnvMap;
use crate::report::{Band, CheckResult, Finding, Report, Severity};
use serde::Serialize;
use std::collections::BTreeMap;

/// One finding of the report: the check (index in `report.checks`) and the finding's index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member {
    pub check: usize,
    pub finding: usize,
}

/// One cause and what it explains.
#[derive(Debug, Clone)]
pub struct Cause {
    /// `nginx block at FILE:LINE` when the cause is a block of the config that fixes edit.
    pub place: Option<String>,
    /// `FILE:LINE` of the block or of the leading finding.
    pub at: Option<String>,
    pub severity: Severity,
    /// The findings that are this cause, in report order.
    pub problems: Vec<Member>,
    /// Findings of other checks that see its effect.
    pub also_seen_by: Vec<Member>,
}

/// The causes of every actionable finding (warning or error, check not ignored), in the order
/// to act on them: errors first, then the nginx config before the files, the app and the live
/// server (a reload then applies all config edits at once), then report order.
pub fn of(report: &Report) -> Vec<Cause> {
    let actionable: Vec<Member> = report
        .checks
        .iter()
        .enumerate()
        .filter(|(_, c)| c.is_actionable())
        .flat_map(|(ci, c)| {
            c.findings
                .iter()
                .enumerate()
                .filter(|(_, f)| f.severity > Severity::Info)
                .map(move |(fi, _)| Member {
                    check: ci,
                    finding: fi,
                })
        })
        .collect();
    let finding = |m: Member| &report.checks[m.check].findings[m.finding];
    let check = |m: Member| &report.checks[m.check];

    let mut causes: Vec<Cause> = Vec::new();
    // Every lookup below goes through an index, so grouping stays linear in the findings (a
    // 10,000-site config has tens of thousands of them).
    let mut index = Index::default();
    // First the blocks a config fix edits: each is one cause, whatever check found it.
    let mut placed = vec![false; actionable.len()];
    // Where Apache is judged, every config fix edits its configuration (MD104/MD108 too).
    let apache = report.site.get("web_server").and_then(|w| w.as_str()) == Some("apache");
    for (i, &m) in actionable.iter().enumerate() {
        let Some(at) = fix_block(finding(m)) else {
            continue;
        };
        placed[i] = true;
        let c = match index.block.get(&at) {
            Some(&c) => {
                causes[c].problems.push(m);
                c
            }
            None => {
                let c = causes.len();
                index.block.insert(at.clone(), c);
                causes.push(Cause {
                    place: Some(if apache || check(m).band == crate::report::Band::Apache {
                        format!("Apache config at {at}")
                    } else {
                        format!("nginx block at {at}")
                    }),
                    at: Some(at),
                    severity: finding(m).severity,
                    problems: vec![m],
                    also_seen_by: Vec::new(),
                });
                c
            }
        };
        index.add_problem(report, &causes, c, m);
    }
    // Then the rest: a pointer to a check already placed, or the same place, joins that cause.
    for (i, &m) in actionable.iter().enumerate() {
        if placed[i] {
            continue;
        }
        let f = finding(m);
        let here = f
            .location
            .as_ref()
            .map(|l| format!("{}:{}", l.file, l.line));
        // Only placed causes are in `index.block`: they all exist before this loop.
        let same_place = here.as_ref().and_then(|h| index.block.get(h).copied());
        let named = referenced_ids(f, check(m).id)
            .into_iter()
            .find_map(|id| index.pick(&id, f));
        let is_config_check = check(m).band == Band::Nginx;
        // A symptom (a finding with nothing to do of its own: MD210's probe answering 404) at
        // the very place another check found the cause (MD207's alias line): seen by, under it.
        let same_place = same_place.or_else(|| {
            let c = *index.problem_at.get(here.as_ref()?)?;
            (f.remediation.is_none() && !causes[c].problems.iter().any(|p| p.check == m.check))
                .then_some(c)
        });
        match (same_place, named) {
            // An nginx finding at a block's line is one more problem of that block.
            (Some(c), _) if is_config_check => {
                causes[c].problems.push(m);
                index.add_problem(report, &causes, c, m);
            }
            (_, Some(c)) | (Some(c), None) => {
                if !causes[c].also_seen_by.iter().any(|s| s.check == m.check) {
                    causes[c].also_seen_by.push(m);
                }
            }
            (None, None) => {
                // The same fix (one directory to open, one setting to change): one cause.
                let fix = f
                    .remediation
                    .as_ref()
                    .map(|r| (r.text.as_str(), r.commands.as_slice()));
                let c = match fix.and_then(|k| index.fix.get(&k).copied()) {
                    Some(c) => {
                        causes[c].problems.push(m);
                        c
                    }
                    None => {
                        causes.push(Cause {
                            place: None,
                            at: here,
                            severity: f.severity,
                            problems: vec![m],
                            also_seen_by: Vec::new(),
                        });
                        causes.len() - 1
                    }
                };
                if let Some(k) = fix {
                    index.fix.entry(k).or_insert(c);
                }
                index.add_problem(report, &causes, c, m);
            }
        }
    }
    for c in &mut causes {
        c.severity = c
            .problems
            .iter()
            .map(|&m| finding(m).severity)
            .max()
            .unwrap_or(Severity::Warning);
    }
    // The config first (one reload applies all its edits), then in band order.
    let band_rank = |b: Band| Band::ALL.iter().position(|x| *x == b).unwrap_or(usize::MAX);
    // Stable: report order within equal keys.
    causes.sort_by_key(|c| {
        (
            std::cmp::Reverse(c.severity),
            band_rank(check(c.problems[0]).band),
        )
    });
    causes
}

/// The block a fix edits: the `FILE:LINE` of its `# FILE:LINE` comment. (Not the block's first
/// line: a fix may rewrite it, `location ^~ /media/`.)
pub fn fix_block(f: &Finding) -> Option<String> {
    let text = &f.remediation.as_ref()?.text;
    for line in text.lines().map(str::trim) {
        let Some(at) = line.strip_prefix("# ") else {
            continue;
        };
        // `# FILE:LINE`, or a splice's `# FILE:LINE: replace 2 lines with` (fix::text); not
        // `: add before this line`, whose line is where lines go, not a block's.
        let at = match at.split_once(": ") {
            Some((head, what)) if head.starts_with('/') && !what.starts_with("add ") => head,
            Some(_) => continue,
            None => at,
        };
        let (_, n) = at.rsplit_once(':')?;
        if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        return Some(at.to_string());
    }
    None
}

/// Check ids (MD + three digits) a finding names, other than its own check's.
fn referenced_ids(f: &Finding, own: &str) -> Vec<String> {
    let mut texts: Vec<&str> = vec![&f.message];
    texts.extend(f.evidence.iter().map(|e| e.value.as_str()));
    if let Some(r) = &f.remediation {
        texts.push(&r.text);
    }
    let mut ids = Vec::new();
    for text in texts {
        let bytes = text.as_bytes();
        let mut i = 0;
        while let Some(at) = text[i..].find("MD") {
            let start = i + at;
            let digits = &bytes[start + 2..(start + 5).min(bytes.len())];
            let whole = digits.len() == 3
                && digits.iter().all(u8::is_ascii_digit)
                && bytes
                    .get(start + 5)
                    .map_or(true, |b| !b.is_ascii_alphanumeric())
                && (start == 0 || !bytes[start - 1].is_ascii_alphanumeric());
            if whole {
                let id = &text[start..start + 5];
                if id != own && !ids.iter().any(|x| x == id) {
                    ids.push(id.to_string());
                }
            }
            i = start + 2;
        }
    }
    ids
}

/// The lookups `of` needs, kept up to date as problems join causes. Looked up, never iterated:
/// the hash (FNV, keys from the report) changes only the time.
#[derive(Default)]
struct Index<'r> {
    /// A placed cause by its block's `FILE:LINE`.
    block: FnvMap<String, usize>,
    /// An unplaced cause by the fix (text and commands) of one of its problems: the first.
    fix: FnvMap<(&'r str, &'r [String]), usize>,
    /// Per check id: how many causes have a problem of it, and the first of them.
    of_check: FnvMap<&'static str, (usize, usize)>,
    /// Per cause: the check ids and URL segments of its problems (a few each).
    ids: FnvMap<usize, Vec<&'static str>>,
    segments: FnvMap<usize, Vec<&'r str>>,
    /// Per check id and the file of a cause's `at`: the causes by line, the highest per line.
    at_line: FnvMap<(&'static str, String), BTreeMap<u32, usize>>,
    /// Per check id and URL segment: the first cause with a problem of that check and a
    /// problem (of any check) about a URL under that segment.
    by_segment: FnvMap<(&'static str, &'r str), usize>,
    /// The first cause with a problem found at a `FILE:LINE` (the finding's own place).
    problem_at: FnvMap<String, usize>,
}

impl<'r> Index<'r> {
    /// Record that `m` became a problem of cause `c`.
    fn add_problem(&mut self, report: &'r Report, causes: &[Cause], c: usize, m: Member) {
        let id = report.checks[m.check].id;
        let f = &report.checks[m.check].findings[m.finding];
        if let Some(l) = &f.location {
            self.problem_at
                .entry(format!("{}:{}", l.file, l.line))
                .or_insert(c);
        }
        let segment = url_segment(f);
        let ids = self.ids.entry(c).or_default();
        if !ids.contains(&id) {
            ids.push(id);
            let e = self.of_check.entry(id).or_insert((0, c));
            e.0 += 1;
            e.1 = e.1.min(c);
            if let Some((file, line)) = causes[c].at.as_deref().and_then(|a| a.rsplit_once(':')) {
                if let Ok(line) = line.parse::<u32>() {
                    let lines = self.at_line.entry((id, file.to_string())).or_default();
                    let e = lines.entry(line).or_insert(c);
                    *e = (*e).max(c);
                }
            }
            for &s in self.segments.get(&c).into_iter().flatten() {
                let e = self.by_segment.entry((id, s)).or_insert(c);
                *e = (*e).min(c);
            }
        }
        if let Some(s) = segment {
            let segments = self.segments.entry(c).or_default();
            if !segments.contains(&s) {
                segments.push(s);
                for &id in &self.ids[&c] {
                    let e = self.by_segment.entry((id, s)).or_insert(c);
                    *e = (*e).min(c);
                }
            }
        }
    }

    /// The cause of check `id` that finding `f` points at: the one in the same file just above
    /// it, else the one whose block serves the first segment of `f`'s URL, else the first.
    fn pick(&self, id: &str, f: &Finding) -> Option<usize> {
        let (&key, &(count, first)) = self.of_check.get_key_value(id)?;
        if count <= 1 {
            return Some(first);
        }
        if let Some(loc) = &f.location {
            let above = self
                .at_line
                .get(&(key, loc.file.clone()))
                .and_then(|lines| lines.range(..=loc.line).next_back());
            if let Some((_, &c)) = above {
                return Some(c);
            }
        }
        if let Some(segment) = url_segment(f) {
            if let Some(&c) = self.by_segment.get(&(key, segment)) {
                return Some(c);
            }
        }
        Some(first)
    }
}

/// The first path segment of the URL a finding is about (`media` for `GET /media/a.jpg`).
fn url_segment(f: &Finding) -> Option<&str> {
    f.evidence
        .iter()
        .filter(|e| matches!(e.label.as_str(), "url" | "urls" | "request"))
        .flat_map(|e| e.value.split_whitespace())
        .find(|w| w.starts_with('/'))
        .and_then(|path| path.trim_start_matches('/').split('/').next())
        .filter(|s| !s.is_empty())
}

/// `causes` in the JSON report: each cause with the checks and findings it groups.
#[derive(Debug, Serialize)]
pub struct CauseJson {
    pub place: Option<String>,
    pub at: Option<String>,
    pub severity: Severity,
    pub checks: Vec<&'static str>,
    pub findings: Vec<FindingRef>,
    pub also_seen_by: Vec<FindingRef>,
}

/// A finding of the report: `checks[i].findings[finding]` where `checks[i].id == check`.
#[derive(Debug, Serialize)]
pub struct FindingRef {
    pub check: &'static str,
    pub finding: usize,
}

pub fn to_json(report: &Report, causes: &[Cause]) -> Vec<CauseJson> {
    causes.iter().map(|c| json_of(report, c)).collect()
}

/// The causes as the JSON lists them, each made as it is written (one site of 360,000 servers
/// has as many causes: the list is not held).
pub struct Json<'r> {
    pub report: &'r Report,
    pub causes: &'r [Cause],
}

impl Serialize for Json<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.causes.iter().map(|c| json_of(self.report, c)))
    }
}

fn json_of(report: &Report, c: &Cause) -> CauseJson {
    let r = |m: &Member| FindingRef {
        check: report.checks[m.check].id,
        finding: m.finding,
    };
    let mut checks: Vec<&'static str> = Vec::new();
    for m in &c.problems {
        let id = report.checks[m.check].id;
        if !checks.contains(&id) {
            checks.push(id);
        }
    }
    CauseJson {
        place: c.place.clone(),
        at: c.at.clone(),
        severity: c.severity,
        checks,
        findings: c.problems.iter().map(r).collect(),
        also_seen_by: c.also_seen_by.iter().map(r).collect(),
    }
}

/// The check a member belongs to.
pub fn check_of<'r>(report: &'r Report, m: &Member) -> &'r CheckResult {
    &report.checks[m.check]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Location, Status};

    fn result(id: &'static str, band: Band, findings: Vec<Finding>) -> CheckResult {
        CheckResult {
            id,
            name: "x",
            band,
            status: Status::Fail,
            summary: String::new(),
            findings,
            ignored: None,
        }
    }

    fn block_fix(line: u32, head: &str) -> Finding {
        let prefix = head.split_whitespace().last().unwrap_or_default();
        Finding::error(format!("problem at {line}"))
            .evidence("url", format!("{}/x.jpg", prefix.trim_end_matches('/')))
            .at(Location::new("/etc/nginx/sites-enabled/app", line))
            .fix_with_block(
                "do this:",
                &[
                    format!("# /etc/nginx/sites-enabled/app:{line}"),
                    format!("{head} {{"),
                    "}".into(),
                ],
                vec!["sudo nginx -t && sudo systemctl reload nginx".into()],
            )
    }

    #[test]
    fn fixes_of_one_block_are_one_cause_and_pointers_are_symptoms() {
        let report = Report::new(
            serde_json::json!({}),
            vec![
                result(
                    "MD101",
                    Band::Nginx,
                    vec![block_fix(16, "location /media/")],
                ),
                result(
                    "MD105",
                    Band::Nginx,
                    vec![
                        block_fix(16, "location /media/"),
                        block_fix(23, "location /static"),
                    ],
                ),
                result(
                    "MD210",
                    Band::Filesystem,
                    vec![Finding::error("probe fails")
                        .at(Location::new("/etc/nginx/sites-enabled/app", 17))
                        .fix("location ~ takes it (MD105)", vec![])],
                ),
                result(
                    "MD405",
                    Band::Live,
                    vec![Finding::error("open() failed")
                        .evidence("explained by", "MD105")
                        .evidence("request", "GET /static/x.jpg HTTP/1.1")],
                ),
                result(
                    "MD204",
                    Band::Filesystem,
                    vec![Finding::error("cannot write")
                        .fix("chown", vec!["sudo chown deploy /srv".into()])],
                ),
            ],
        );
        let causes = of(&report);
        assert_eq!(causes.len(), 3, "{causes:#?}");
        let media = &causes[0];
        assert_eq!(
            media.place.as_deref(),
            Some("nginx block at /etc/nginx/sites-enabled/app:16")
        );
        assert_eq!(media.at.as_deref(), Some("/etc/nginx/sites-enabled/app:16"));
        assert_eq!(media.problems.len(), 2);
        // MD210 sits inside the /media/ block (line 17, just below 16) and names MD105.
        assert_eq!(
            media.also_seen_by,
            vec![Member {
                check: 2,
                finding: 0
            }]
        );
        // MD405's request is under /static: the /static cause of MD105.
        let statics = &causes[1];
        assert_eq!(
            statics.at.as_deref(),
            Some("/etc/nginx/sites-enabled/app:23")
        );
        assert_eq!(
            statics.also_seen_by,
            vec![Member {
                check: 3,
                finding: 0
            }]
        );
        // MD204 points nowhere: its own cause, after the config.
        assert_eq!(
            causes[2].problems,
            vec![Member {
                check: 4,
                finding: 0
            }]
        );
        assert!(causes[2].place.is_none());
    }

    /// MD210's probe of a file MD207 explains (disable_symlinks and a symlinked media
    /// directory): no fix of its own, at the line MD207 found the cause: seen by, not an item.
    #[test]
    fn a_symptom_at_the_line_of_a_cause_is_seen_by_it() {
        let at = || Location::new("/etc/nginx/sites-enabled/app", 6);
        let report = Report::new(
            serde_json::json!({}),
            vec![
                result(
                    "MD207",
                    Band::Filesystem,
                    vec![block_fix(5, "location /media/").at(at())],
                ),
                result(
                    "MD210",
                    Band::Filesystem,
                    vec![Finding::error("/media/a.jpg -> /srv/media/a.jpg: 404")
                        .evidence("url", "/media/a.jpg")
                        .at(at())],
                ),
                // A finding with a fix of its own at that line stays its own item.
                result(
                    "MD204",
                    Band::Filesystem,
                    vec![Finding::error("cannot write")
                        .at(at())
                        .fix("chown", vec!["sudo chown deploy /srv".into()])],
                ),
            ],
        );
        let causes = of(&report);
        assert_eq!(causes.len(), 2, "{causes:#?}");
        assert_eq!(
            causes[0].also_seen_by,
            vec![Member {
                check: 1,
                finding: 0
            }]
        );
        assert_eq!(causes[1].problems[0].check, 2);
    }

    #[test]
    fn a_splice_header_names_its_place() {
        let f = Finding::error("x").fix_with_block(
            "do this:",
            &[
                "# /etc/nginx/sites-enabled/app:7: replace 1 line with".into(),
                "    alias /srv/m/;".into(),
            ],
            vec![],
        );
        assert_eq!(
            fix_block(&f).as_deref(),
            Some("/etc/nginx/sites-enabled/app:7")
        );
    }

    #[test]
    fn check_ids_are_found_whole() {
        let f = Finding::error("see MD101, not MD1010 or XMD102").fix("(MD103)", vec![]);
        assert_eq!(referenced_ids(&f, "MD999"), vec!["MD101", "MD103"]);
        assert_eq!(referenced_ids(&f, "MD101"), vec!["MD103"]);
    }
}
