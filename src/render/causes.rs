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
pub use crate::report::cause::{fix_block, referenced_ids};
use crate::report::cause::{fix_hash, url_segment, Key};
use crate::report::{Band, CheckResult, Finding, Report, Severity};
use serde::Serialize;
use std::collections::BTreeMap;

/// One finding of the report: the check (index in `report.checks`) and the finding's index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member {
    pub check: usize,
    pub finding: usize,
}

/// Whose configuration a block that fixes edit is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlaceKind {
    Nginx,
    Apache,
}

/// One cause and what it explains.
#[derive(Debug, Clone)]
pub struct Cause {
    /// Set when the cause is a block of the config that fixes edit (at `at`): `place()`.
    pub place: Option<PlaceKind>,
    /// `FILE:LINE` of the block or of the leading finding.
    pub at: Option<String>,
    pub severity: Severity,
    /// The findings that are this cause, in report order.
    pub problems: Vec<Member>,
    /// Findings of other checks that see its effect.
    pub also_seen_by: Vec<Member>,
}

impl Cause {
    /// `nginx block at FILE:LINE` when the cause is a block of the config that fixes edit.
    /// Made when it is written: one site of 360,000 servers has as many causes.
    pub fn place(&self) -> Option<String> {
        let at = self.at.as_deref().unwrap_or_default();
        self.place.map(|k| match k {
            PlaceKind::Nginx => format!("nginx block at {at}"),
            PlaceKind::Apache => format!("Apache config at {at}"),
        })
    }
}

/// The causes of every actionable finding (warning or error, check not ignored), in the order
/// to act on them: errors first, then the nginx config before the files, the app and the live
/// server (a reload then applies all config edits at once), then report order.
pub fn of(report: &Report) -> Vec<Cause> {
    of_keyed(report, &[])
}

/// `of`, where the findings of some checks are not held but made again as they are written:
/// `keys[i]`, when set, stands for the actionable findings of `report.checks[i]` (whose
/// `findings` are then empty), in the order of their index.
pub fn of_keyed(report: &Report, keys: &[Option<Vec<Key>>]) -> Vec<Cause> {
    let keys_of = |ci: usize| keys.get(ci).and_then(Option::as_ref);
    let mut actionable: Vec<Member> = Vec::new();
    let mut seen: Vec<Seen<'_>> = Vec::new();
    for (ci, c) in report.checks.iter().enumerate() {
        if !c.is_actionable() {
            continue;
        }
        if let Some(ks) = keys_of(ci) {
            for k in ks.iter().filter(|k| k.severity > Severity::Info) {
                actionable.push(Member {
                    check: ci,
                    finding: k.index as usize,
                });
                seen.push(Seen::Key(k));
            }
            continue;
        }
        for (fi, f) in c.findings.iter().enumerate() {
            if f.severity > Severity::Info {
                actionable.push(Member {
                    check: ci,
                    finding: fi,
                });
                seen.push(Seen::Held(f));
            }
        }
    }
    // A member's finding as grouping reads it (the severity of each problem, at the end).
    let seen_of = |m: Member| -> Seen<'_> {
        match keys_of(m.check) {
            Some(ks) => match ks.binary_search_by_key(&(m.finding as u32), |k| k.index) {
                Ok(i) => Seen::Key(&ks[i]),
                Err(_) => unreachable!("every member of a keyed check has its key"),
            },
            None => Seen::Held(&report.checks[m.check].findings[m.finding]),
        }
    };
    let check = |m: Member| &report.checks[m.check];

    let mut causes: Vec<Cause> = Vec::new();
    // Every lookup below goes through an index, so grouping stays linear in the findings (a
    // 10,000-site config has tens of thousands of them).
    // Each fix's block once: `fix_block` is asked in both passes below.
    let blocks: Vec<Option<std::borrow::Cow<'_, str>>> = seen.iter().map(|s| s.block()).collect();
    let mut index = Index::default();
    // First the blocks a config fix edits: each is one cause, whatever check found it.
    let mut placed = vec![false; actionable.len()];
    // Where Apache is judged, every config fix edits its configuration (MD104/MD108 too).
    let apache = report.site.get("web_server").and_then(|w| w.as_str()) == Some("apache");
    for (i, &m) in actionable.iter().enumerate() {
        let Some(at) = blocks[i].as_deref() else {
            continue;
        };
        placed[i] = true;
        let c = match index.block.get(at) {
            Some(&c) => {
                causes[c].problems.push(m);
                c
            }
            None => {
                let c = causes.len();
                index.block.insert(at, c);
                causes.push(Cause {
                    place: Some(if apache || check(m).band == crate::report::Band::Apache {
                        PlaceKind::Apache
                    } else {
                        PlaceKind::Nginx
                    }),
                    at: Some(at.to_string()),
                    severity: seen[i].severity(),
                    problems: vec![m],
                    also_seen_by: Vec::new(),
                });
                c
            }
        };
        index.add_problem(check(m).id, seen[i], &causes, c);
    }
    // Then the rest: a pointer to a check already placed, or the same place, joins that cause.
    for (i, &m) in actionable.iter().enumerate() {
        if placed[i] {
            continue;
        }
        let f = seen[i];
        let location = f.location();
        let here = location.map(|(file, line)| format!("{file}:{line}"));
        // Only placed causes are in `index.block`: they all exist before this loop.
        let same_place = here.as_deref().and_then(|h| index.block.get(h).copied());
        let named = f
            .refs(check(m).id)
            .into_iter()
            .find_map(|id| index.pick(&id, f));
        let is_config_check = check(m).band == Band::Nginx;
        // A symptom (a finding with nothing to do of its own: MD210's probe answering 404) at
        // the very place another check found the cause (MD207's alias line): seen by, under it.
        let same_place = same_place.or_else(|| {
            let c = *index.problem_at.get(&location?)?;
            (!f.has_remediation() && !causes[c].problems.iter().any(|p| p.check == m.check))
                .then_some(c)
        });
        match (same_place, named) {
            // An nginx finding at a block's line is one more problem of that block.
            (Some(c), _) if is_config_check => {
                causes[c].problems.push(m);
                index.add_problem(check(m).id, f, &causes, c);
            }
            (_, Some(c)) | (Some(c), None) => {
                if !causes[c].also_seen_by.iter().any(|s| s.check == m.check) {
                    causes[c].also_seen_by.push(m);
                }
            }
            (None, None) => {
                // The same fix (one directory to open, one setting to change): one cause.
                let fix = f.fix();
                let c = match fix.and_then(|k| index.fix.get(&k).copied()) {
                    Some(c) => {
                        causes[c].problems.push(m);
                        c
                    }
                    None => {
                        causes.push(Cause {
                            place: None,
                            at: here,
                            severity: f.severity(),
                            problems: vec![m],
                            also_seen_by: Vec::new(),
                        });
                        causes.len() - 1
                    }
                };
                if let Some(k) = fix {
                    index.fix.entry(k).or_insert(c);
                }
                index.add_problem(check(m).id, f, &causes, c);
            }
        }
    }
    for c in &mut causes {
        c.severity = c
            .problems
            .iter()
            .map(|&m| seen_of(m).severity())
            .max()
            .unwrap_or(Severity::Warning);
    }
    // As many as there are (one site of 360,000 servers has as many), then sorted.
    causes.shrink_to_fit();
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

/// A finding as grouping reads it: held in the report, or its key (`of_keyed`).
#[derive(Clone, Copy)]
enum Seen<'r> {
    Held(&'r Finding),
    Key(&'r Key),
}

impl<'r> Seen<'r> {
    fn severity(self) -> Severity {
        match self {
            Seen::Held(f) => f.severity,
            Seen::Key(k) => k.severity,
        }
    }

    fn location(self) -> Option<(&'r str, u32)> {
        match self {
            Seen::Held(f) => f.location.as_ref().map(|l| (l.file.as_str(), l.line)),
            Seen::Key(k) => k.location.as_ref().map(|(file, line)| (&**file, *line)),
        }
    }

    fn block(self) -> Option<std::borrow::Cow<'r, str>> {
        match self {
            Seen::Held(f) => fix_block(f).map(Into::into),
            Seen::Key(k) => k.block.as_deref().map(Into::into),
        }
    }

    fn refs(self, own: &str) -> Vec<std::borrow::Cow<'r, str>> {
        match self {
            Seen::Held(f) => referenced_ids(f, own).into_iter().map(Into::into).collect(),
            Seen::Key(k) => k.refs.iter().map(|id| (&**id).into()).collect(),
        }
    }

    fn has_remediation(self) -> bool {
        match self {
            Seen::Held(f) => f.remediation.is_some(),
            Seen::Key(k) => k.fix.is_some(),
        }
    }

    fn fix(self) -> Option<u128> {
        match self {
            Seen::Held(f) => f
                .remediation
                .as_ref()
                .map(|r| fix_hash(&r.text, &r.commands)),
            Seen::Key(k) => k.fix,
        }
    }

    fn segment(self) -> Option<&'r str> {
        match self {
            Seen::Held(f) => url_segment(f),
            Seen::Key(k) => k.segment.as_deref(),
        }
    }
}

/// The lookups `of` needs, kept up to date as problems join causes. Looked up, never iterated:
/// the hash (FNV, keys from the report) changes only the time.
#[derive(Default)]
struct Index<'r> {
    /// A placed cause by its block's `FILE:LINE`.
    block: FnvMap<&'r str, usize>,
    /// An unplaced cause by the fix (text and commands, `fix_hash`) of one of its problems:
    /// the first.
    fix: FnvMap<u128, usize>,
    /// Per check id: how many causes have a problem of it, and the first of them.
    of_check: FnvMap<&'static str, (usize, usize)>,
    /// Per cause (by index): the check ids and URL segments of its problems (a few each).
    ids: Vec<Vec<&'static str>>,
    segments: Vec<Vec<&'r str>>,
    /// Per check id and the file of a cause's `at`: the causes by line, the highest per line.
    at_line: FnvMap<(&'static str, String), BTreeMap<u32, usize>>,
    /// Per check id and URL segment: the first cause with a problem of that check and a
    /// problem (of any check) about a URL under that segment.
    by_segment: FnvMap<(&'static str, &'r str), usize>,
    /// The first cause with a problem found at a `FILE:LINE` (the finding's own place).
    problem_at: FnvMap<(&'r str, u32), usize>,
}

impl<'r> Index<'r> {
    /// Record that finding `f` of check `id` became a problem of cause `c`.
    fn add_problem(&mut self, id: &'static str, f: Seen<'r>, causes: &[Cause], c: usize) {
        if let Some(at) = f.location() {
            self.problem_at.entry(at).or_insert(c);
        }
        let segment = f.segment();
        if self.ids.len() <= c {
            self.ids.resize_with(c + 1, Vec::new);
            self.segments.resize_with(c + 1, Vec::new);
        }
        let ids = &mut self.ids[c];
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
            for &s in &self.segments[c] {
                let e = self.by_segment.entry((id, s)).or_insert(c);
                *e = (*e).min(c);
            }
        }
        if let Some(s) = segment {
            let segments = &mut self.segments[c];
            if !segments.contains(&s) {
                segments.push(s);
                for &id in &self.ids[c] {
                    let e = self.by_segment.entry((id, s)).or_insert(c);
                    *e = (*e).min(c);
                }
            }
        }
    }

    /// The cause of check `id` that finding `f` points at: the one in the same file just above
    /// it, else the one whose block serves the first segment of `f`'s URL, else the first.
    fn pick(&self, id: &str, f: Seen<'_>) -> Option<usize> {
        let (&key, &(count, first)) = self.of_check.get_key_value(id)?;
        if count <= 1 {
            return Some(first);
        }
        if let Some((file, line)) = f.location() {
            let above = self
                .at_line
                .get(&(key, file.to_string()))
                .and_then(|lines| lines.range(..=line).next_back());
            if let Some((_, &c)) = above {
                return Some(c);
            }
        }
        if let Some(segment) = f.segment() {
            if let Some(&c) = self.by_segment.get(&(key, segment)) {
                return Some(c);
            }
        }
        Some(first)
    }
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
        place: c.place(),
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
            media.place().as_deref(),
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
