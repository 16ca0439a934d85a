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
use crate::report::cause::{At, Key, Keys, Texts, NONE};
use crate::report::{Band, Report, Severity};
use serde::ser::SerializeStruct;
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

/// One cause and what it explains, made from `Causes` when asked (`Causes::get`).
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
    pub fn place(&self) -> Option<String> {
        let at = self.at.as_deref().unwrap_or_default();
        self.place.map(|k| format!("{} {at}", place_words(k)))
    }
}

fn place_words(k: PlaceKind) -> &'static str {
    match k {
        PlaceKind::Nginx => "nginx block at",
        PlaceKind::Apache => "Apache config at",
    }
}

/// The causes of a report in the order to act on them, as numbers: per cause 20 bytes (its
/// place, severity and where its members start), per member 8 (check, finding). One site of
/// 360,000 servers has as many causes; each is made into words only as it is written.
pub struct Causes {
    /// The texts the causes' places number.
    texts: Texts,
    causes: Vec<Grouped>,
    /// Per cause, and one past the last: where its members start in `members`.
    starts: Vec<u32>,
    /// Per cause: its problems, then the findings of other checks that see its effect.
    members: Vec<Slot>,
}

/// A cause as `Causes` keeps it.
#[derive(Debug, Clone, Copy)]
struct Grouped {
    /// The block (placed), else the leading finding's place (`At::NONE`: none).
    at: At,
    place: Option<PlaceKind>,
    severity: Severity,
    /// How many of its members are problems (the first ones).
    problems: u32,
}

/// A member as `Causes` keeps it.
#[derive(Debug, Clone, Copy)]
struct Slot {
    check: u32,
    finding: u32,
}

impl Slot {
    fn member(self) -> Member {
        Member {
            check: self.check as usize,
            finding: self.finding as usize,
        }
    }
}

impl Causes {
    pub fn len(&self) -> usize {
        self.causes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.causes.is_empty()
    }

    /// Cause `i` (in the order to act on them).
    pub fn get(&self, i: usize) -> Cause {
        let (problems, also) = self.members_of(i);
        let c = &self.causes[i];
        Cause {
            place: c.place,
            at: c.at.get().map(|at| at.text(&self.texts)),
            severity: c.severity,
            problems: problems.iter().map(|s| s.member()).collect(),
            also_seen_by: also.iter().map(|s| s.member()).collect(),
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = Cause> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }

    /// Cause `i`'s problems and the findings that also see it.
    fn members_of(&self, i: usize) -> (&[Slot], &[Slot]) {
        let all = &self.members[self.starts[i] as usize..self.starts[i + 1] as usize];
        all.split_at(self.causes[i].problems as usize)
    }
}

/// The causes of every actionable finding (warning or error, check not ignored), in the order
/// to act on them: errors first, then the nginx config before the files, the app and the live
/// server (a reload then applies all config edits at once), then report order.
pub fn of(report: &Report) -> Causes {
    of_keyed(report, &[])
}

/// A finding as grouping reads it: its key, its texts' numbers those of the grouping's table.
struct Seen {
    severity: Severity,
    location: Option<At>,
    block: Option<At>,
    fix: Option<u128>,
    has_remediation: bool,
    refs: Option<u32>,
    segment: Option<u32>,
}

/// One actionable check's keys and their texts' numbers in the grouping's table.
struct List<'k> {
    check: usize,
    keys: &'k Keys,
    /// This list's text number -> the grouping's.
    map: Vec<u32>,
    /// The member number of its first key.
    first: u32,
}

impl List<'_> {
    fn seen(&self, k: &Key) -> Seen {
        let text = |id: Option<u32>| id.map(|id| self.map[id as usize]);
        Seen {
            severity: k.severity,
            location: k.location().map(|at| at.mapped(&self.map)),
            block: k.block().map(|at| at.mapped(&self.map)),
            fix: k.fix(),
            has_remediation: k.has_remediation(),
            refs: text(k.refs()),
            segment: text(k.segment()),
        }
    }

    /// Its actionable keys with their member numbers.
    fn actionable(&self) -> impl Iterator<Item = (usize, &Key)> + '_ {
        let first = self.first as usize;
        self.keys
            .keys()
            .iter()
            .enumerate()
            .filter(|(_, k)| k.severity > Severity::Info)
            .map(move |(i, k)| (first + i, k))
    }
}

/// A cause while grouping.
struct Building {
    at: At,
    place: Option<PlaceKind>,
    severity: Severity,
    /// The check of its first problem.
    lead: usize,
}

/// `assign`'s mark of a member that sees a cause's effect (not one of its problems).
const ALSO: u32 = 1 << 31;

/// `of`, where the findings of some checks are not held but made again as they are written:
/// `keys[i]`, when set, stands for the actionable findings of `report.checks[i]` (whose
/// `findings` are then empty). The other actionable checks' keys are made here from their
/// findings, and let go when the causes are grouped.
pub fn of_keyed(report: &Report, keys: &[Option<Keys>]) -> Causes {
    let checks = &report.checks;
    let kept = |ci: usize| keys.get(ci).and_then(Option::as_ref);
    // A check as grouping names it (an id a finding names, a cause's checks): the first result
    // of its id. A report lists each check once.
    let mut by_id: FnvMap<&str, u32> = FnvMap::default();
    let idn: Vec<u32> = (0..checks.len())
        .map(|ci| *by_id.entry(checks[ci].id).or_insert(ci as u32))
        .collect();
    let made: Vec<Option<Keys>> = checks
        .iter()
        .enumerate()
        .map(|(ci, c)| {
            (c.is_actionable() && kept(ci).is_none()).then(|| Keys::of_findings(&c.findings, c.id))
        })
        .collect();
    let mut texts = Texts::default();
    let mut lists: Vec<List<'_>> = Vec::new();
    let mut members = 0usize;
    for (ci, c) in checks.iter().enumerate() {
        let Some(keys) = c
            .is_actionable()
            .then(|| kept(ci).or(made[ci].as_ref()))
            .flatten()
        else {
            continue;
        };
        let t = keys.texts();
        let map = (0..t.len() as u32).map(|i| texts.id(t.get(i))).collect();
        let first = u32::try_from(members).expect("fewer than 2^31 findings");
        members += keys.len();
        lists.push(List {
            check: ci,
            keys,
            map,
            first,
        });
    }
    assert!(members < ALSO as usize, "fewer than 2^31 findings");
    // The checks a text of ids names (`Key::refs`), those of the report, in order.
    let mut named: FnvMap<u32, Box<[u32]>> = FnvMap::default();

    // Per member: the cause it is a problem of, or `ALSO` | the cause it is seen by, or NONE.
    let mut assign = vec![NONE; members];
    let mut causes: Vec<Building> = Vec::new();
    // Every lookup below goes through an index, so grouping stays linear in the findings (a
    // 10,000-site config has tens of thousands of them).
    let mut index = Index {
        of_check: vec![(0, 0); checks.len()],
        ..Index::default()
    };
    let new_cause = |causes: &mut Vec<Building>, index: &mut Index, b: Building| {
        index.ids.add_cause();
        index.segments.add_cause();
        index.also.add_cause();
        causes.push(b);
        (causes.len() - 1) as u32
    };
    let problem = |causes: &mut Vec<Building>, assign: &mut [u32], c: u32, m: usize, f: &Seen| {
        assign[m] = c;
        let cause = &mut causes[c as usize];
        cause.severity = cause.severity.max(f.severity);
    };
    // Where Apache is judged, every config fix edits its configuration (MD104/MD108 too).
    let apache = report.site.get("web_server").and_then(|w| w.as_str()) == Some("apache");
    // First the blocks a config fix edits: each is one cause, whatever check found it.
    for l in &lists {
        let id = idn[l.check];
        for (m, k) in l.actionable() {
            let f = l.seen(k);
            let Some(block) = f.block else {
                continue;
            };
            let c = match index.places.entry(block).or_insert(Place::NONE).block {
                NONE => {
                    let kind = if apache || checks[l.check].band == Band::Apache {
                        PlaceKind::Apache
                    } else {
                        PlaceKind::Nginx
                    };
                    let b = Building {
                        at: block,
                        place: Some(kind),
                        severity: f.severity,
                        lead: l.check,
                    };
                    let c = new_cause(&mut causes, &mut index, b);
                    // Looked up again: the entry is not held across `new_cause`.
                    index.places.get_mut(&block).expect("entered above").block = c;
                    c
                }
                c => c,
            };
            problem(&mut causes, &mut assign, c, m, &f);
            index.add_problem(&texts, id, &f, block, c);
        }
    }
    // Then the rest: a pointer to a check already placed, or the same place, joins that cause.
    for l in &lists {
        let id = idn[l.check];
        let is_config_check = checks[l.check].band == Band::Nginx;
        for (m, k) in l.actionable() {
            let f = l.seen(k);
            if f.block.is_some() {
                continue;
            }
            let place = f.location.and_then(|at| index.places.get(&at).copied());
            // Only placed causes have a block: they all exist before this loop.
            let same_place = place.map(|p| p.block).filter(|&c| c != NONE);
            let named = f.refs.and_then(|refs| {
                named
                    .entry(refs)
                    .or_insert_with(|| {
                        let ids = texts.get(refs).split(' ');
                        ids.filter_map(|id| by_id.get(id).copied()).collect()
                    })
                    .iter()
                    .find_map(|&named| index.pick(&texts, named, &f))
            });
            // A symptom (a finding with nothing to do of its own: MD210's probe answering 404)
            // at the very place another check found the cause (MD207's alias line): seen by,
            // under it.
            let same_place = same_place.or_else(|| {
                let c = place?.problem;
                (c != NONE && !f.has_remediation && !index.ids.contains(c, id)).then_some(c)
            });
            match (same_place, named) {
                // An nginx finding at a block's line is one more problem of that block.
                (Some(c), _) if is_config_check => {
                    problem(&mut causes, &mut assign, c, m, &f);
                    let at = causes[c as usize].at;
                    index.add_problem(&texts, id, &f, at, c);
                }
                (_, Some(c)) | (Some(c), None) => {
                    if index.also.insert(c, l.check as u32) {
                        assign[m] = ALSO | c;
                    }
                }
                (None, None) => {
                    // The same fix (one directory to open, one setting to change): one cause.
                    let c = match f.fix.and_then(|k| index.fix.get(&k).copied()) {
                        Some(c) => c,
                        None => {
                            let b = Building {
                                at: f.location.unwrap_or(At::NONE),
                                place: None,
                                severity: f.severity,
                                lead: l.check,
                            };
                            new_cause(&mut causes, &mut index, b)
                        }
                    };
                    problem(&mut causes, &mut assign, c, m, &f);
                    if let Some(k) = f.fix {
                        index.fix.entry(k).or_insert(c);
                    }
                    let at = causes[c as usize].at;
                    index.add_problem(&texts, id, &f, at, c);
                }
            }
        }
    }
    drop(index);

    // The config first (one reload applies all its edits), then in band order. Stable: report
    // order within equal keys.
    let band_rank = |b: Band| Band::ALL.iter().position(|x| *x == b).unwrap_or(usize::MAX);
    let mut order: Vec<u32> = (0..causes.len() as u32).collect();
    order.sort_by_key(|&c| {
        let c = &causes[c as usize];
        (
            std::cmp::Reverse(c.severity),
            band_rank(checks[c.lead].band),
        )
    });
    let mut rank = vec![0u32; causes.len()];
    for (r, &c) in order.iter().enumerate() {
        rank[c as usize] = r as u32;
    }
    // Each cause's members, in the order they joined it: the placed problems, then the rest in
    // report order, then those that see it.
    let mut problems = vec![0u32; causes.len()];
    let mut count = vec![0u32; causes.len()];
    for &a in assign.iter().filter(|&&a| a != NONE) {
        let r = rank[(a & !ALSO) as usize] as usize;
        count[r] += 1;
        problems[r] += u32::from(a & ALSO == 0);
    }
    let mut starts = Vec::with_capacity(causes.len() + 1);
    let mut at = 0u32;
    for n in &count {
        starts.push(at);
        at += n;
    }
    starts.push(at);
    drop(count);
    let mut next = starts.clone();
    let mut slots = vec![
        Slot {
            check: 0,
            finding: 0
        };
        at as usize
    ];
    let mut fill = |placed: bool, also: bool| {
        for l in &lists {
            for (m, k) in l.actionable() {
                let a = assign[m];
                if a == NONE || (a & ALSO != 0) != also || k.block().is_some() != placed {
                    continue;
                }
                let r = rank[(a & !ALSO) as usize] as usize;
                slots[next[r] as usize] = Slot {
                    check: l.check as u32,
                    finding: k.index,
                };
                next[r] += 1;
            }
        }
    };
    fill(true, false);
    fill(false, false);
    fill(false, true);
    let grouped = order
        .iter()
        .zip(problems)
        .map(|(&c, problems)| {
            let c = &causes[c as usize];
            Grouped {
                at: c.at,
                place: c.place,
                severity: c.severity,
                problems,
            }
        })
        .collect();
    Causes {
        texts,
        causes: grouped,
        starts,
        members: slots,
    }
}

/// What grouping knows of a `FILE:LINE`: the cause of the block there, and the first cause
/// with a problem found there (`NONE`: none).
#[derive(Clone, Copy)]
struct Place {
    block: u32,
    problem: u32,
}

impl Place {
    const NONE: Place = Place {
        block: NONE,
        problem: NONE,
    };
}

/// A few numbers per cause (most causes have one): the first in a list, the others aside.
#[derive(Default)]
struct Sets {
    first: Vec<u32>,
    more: FnvMap<u32, Vec<u32>>,
}

impl Sets {
    fn add_cause(&mut self) {
        self.first.push(NONE);
    }

    fn contains(&self, c: u32, v: u32) -> bool {
        let first = self.first[c as usize];
        first == v || (first != NONE && self.more.get(&c).is_some_and(|m| m.contains(&v)))
    }

    /// Whether `v` was not in cause `c`'s set.
    fn insert(&mut self, c: u32, v: u32) -> bool {
        if self.contains(c, v) {
            return false;
        }
        match &mut self.first[c as usize] {
            first @ &mut NONE => *first = v,
            _ => self.more.entry(c).or_default().push(v),
        }
        true
    }

    fn each(&self, c: u32) -> impl Iterator<Item = u32> + '_ {
        let first = self.first[c as usize];
        (first != NONE)
            .then_some(first)
            .into_iter()
            .chain(self.more.get(&c).into_iter().flatten().copied())
    }
}

/// The lookups grouping needs, kept up to date as problems join causes. Looked up, never
/// iterated: the hash (FNV, keys from the report) changes only the time. Causes are numbers in
/// the order made; checks are numbered as grouping names them (`idn`), texts in its table.
#[derive(Default)]
struct Index {
    /// Per `FILE:LINE`: the placed cause of the block there, the first cause with a problem
    /// found there.
    places: FnvMap<At, Place>,
    /// An unplaced cause by the fix (text and commands, `fix_hash`) of one of its problems:
    /// the first.
    fix: FnvMap<u128, u32>,
    /// Per check: how many causes have a problem of it (0: none), and the first of them.
    of_check: Vec<(u32, u32)>,
    /// Per cause: the checks and URL segments of its problems, the checks that see it.
    ids: Sets,
    segments: Sets,
    also: Sets,
    /// Per check and the file of a cause's `at`: the causes by line, the highest per line.
    at_line: FnvMap<(u32, u32), BTreeMap<u32, u32>>,
    /// Per check and URL segment: the first cause with a problem of that check and a problem
    /// (of any check) about a URL under that segment.
    by_segment: FnvMap<(u32, u32), u32>,
}

impl Index {
    /// Record that finding `f` of check `id` became a problem of cause `c` (at `at`).
    fn add_problem(&mut self, texts: &Texts, id: u32, f: &Seen, at: At, c: u32) {
        if let Some(here) = f.location {
            let p = self.places.entry(here).or_insert(Place::NONE);
            if p.problem == NONE {
                p.problem = c;
            }
        }
        if self.ids.insert(c, id) {
            let e = &mut self.of_check[id as usize];
            *e = match *e {
                (0, _) => (1, c),
                (n, first) => (n + 1, first.min(c)),
            };
            if let Some(line) = at.get().and_then(|at| at.line_number(texts)) {
                let lines = self.at_line.entry((id, at.file)).or_default();
                let e = lines.entry(line).or_insert(c);
                *e = (*e).max(c);
            }
            for s in self.segments.each(c) {
                let e = self.by_segment.entry((id, s)).or_insert(c);
                *e = (*e).min(c);
            }
        }
        if let Some(s) = f.segment {
            if self.segments.insert(c, s) {
                for id in self.ids.each(c) {
                    let e = self.by_segment.entry((id, s)).or_insert(c);
                    *e = (*e).min(c);
                }
            }
        }
    }

    /// The cause of check `id` that finding `f` points at: the one in the same file just above
    /// it, else the one whose block serves the first segment of `f`'s URL, else the first.
    fn pick(&self, texts: &Texts, id: u32, f: &Seen) -> Option<u32> {
        let (count, first) = self.of_check[id as usize];
        if count == 0 {
            return None;
        }
        if count == 1 {
            return Some(first);
        }
        if let Some(here) = f.location {
            let above = here.line_number(texts).and_then(|line| {
                self.at_line
                    .get(&(id, here.file))
                    .and_then(|lines| lines.range(..=line).next_back())
            });
            if let Some((_, &c)) = above {
                return Some(c);
            }
        }
        if let Some(segment) = f.segment {
            if let Some(&c) = self.by_segment.get(&(id, segment)) {
                return Some(c);
            }
        }
        Some(first)
    }
}

/// `causes` in the JSON report: each cause with the checks and findings it groups, grouped as
/// they are written (after every check result: nothing of them is held while those are) and
/// each made into words as it is written.
pub struct Json<'r> {
    pub report: &'r Report,
    /// `of_keyed`'s keys (empty: every finding is held in the report).
    pub keys: &'r [Option<Keys>],
}

impl Serialize for Json<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let causes = of_keyed(self.report, self.keys);
        s.collect_seq((0..causes.len()).map(|i| CauseJson {
            report: self.report,
            causes: &causes,
            i,
        }))
    }
}

/// Cause `i` as the JSON writes it (docs/json-schema.md): `place`, `at`, `severity`, `checks`,
/// `findings`, `also_seen_by`.
struct CauseJson<'c> {
    report: &'c Report,
    causes: &'c Causes,
    i: usize,
}

impl<'c> Serialize for CauseJson<'c> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let c = &self.causes.causes[self.i];
        let texts = &self.causes.texts;
        let (problems, also) = self.causes.members_of(self.i);
        // As strings: serde_json writes a string at once, a `Display` a piece at a time.
        let at = c.at.get().map(|at| at.text(texts));
        let mut checks: Vec<&'static str> = Vec::new();
        for m in problems {
            let id = self.report.checks[m.check as usize].id;
            if !checks.contains(&id) {
                checks.push(id);
            }
        }
        let refs = |slots: &'c [Slot]| Refs {
            report: self.report,
            slots,
        };
        let mut st = s.serialize_struct("CauseJson", 6)?;
        let place = c.place.map(|k| {
            let (words, at) = (place_words(k), at.as_deref().unwrap_or_default());
            let mut place = String::with_capacity(words.len() + 1 + at.len());
            place.push_str(words);
            place.push(' ');
            place.push_str(at);
            place
        });
        st.serialize_field("place", &place)?;
        st.serialize_field("at", &at)?;
        st.serialize_field("severity", &c.severity)?;
        st.serialize_field("checks", &checks)?;
        st.serialize_field("findings", &refs(problems))?;
        st.serialize_field("also_seen_by", &refs(also))?;
        st.end()
    }
}

/// Members as the JSON lists them: `{"check": ID, "finding": INDEX}`.
struct Refs<'c> {
    report: &'c Report,
    slots: &'c [Slot],
}

impl Serialize for Refs<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.slots.iter().map(|m| FindingRef {
            check: self.report.checks[m.check as usize].id,
            finding: m.finding as usize,
        }))
    }
}

/// A finding of the report: `checks[i].findings[finding]` where `checks[i].id == check`.
#[derive(Debug, Serialize)]
struct FindingRef {
    check: &'static str,
    finding: usize,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{CheckResult, Finding, Location, Status};

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
        let causes: Vec<Cause> = of(&report).iter().collect();
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
        let causes: Vec<Cause> = of(&report).iter().collect();
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

    /// A place is the same when its `FILE:LINE` text is: a block whose fix writes its line
    /// `007` is not the place of a finding at line 7 (grouping compares numbers, not texts).
    #[test]
    fn a_place_is_its_text() {
        let fix = |at: &str| {
            Finding::error("x").fix_with_block(
                "do this:",
                &[format!("# {at}"), "location /media/ {".into(), "}".into()],
                vec![],
            )
        };
        let at7 = || Location::new("/etc/nginx/a:b", 7);
        let report = Report::new(
            serde_json::json!({}),
            vec![
                result("MD101", Band::Nginx, vec![fix("/etc/nginx/a:b:007")]),
                result("MD102", Band::Nginx, vec![fix("/etc/nginx/a:b:7")]),
                result(
                    "MD201",
                    Band::Filesystem,
                    vec![Finding::error("y").at(at7())],
                ),
                result(
                    "MD103",
                    Band::Nginx,
                    vec![Finding::error("z")
                        .at(at7())
                        .fix("a fix of no block", vec![])],
                ),
            ],
        );
        let causes: Vec<Cause> = of(&report).iter().collect();
        assert_eq!(causes.len(), 2, "{causes:#?}");
        assert_eq!(causes[0].at.as_deref(), Some("/etc/nginx/a:b:007"));
        assert!(causes[0].also_seen_by.is_empty());
        assert_eq!(causes[1].at.as_deref(), Some("/etc/nginx/a:b:7"));
        let m = |check, finding| Member { check, finding };
        assert_eq!(causes[1].problems, vec![m(1, 0), m(3, 0)]);
        assert_eq!(causes[1].also_seen_by, vec![m(2, 0)]);
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
