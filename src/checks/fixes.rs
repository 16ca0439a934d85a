//! After the checks ran, before the report is made: the fixes are made to work when pasted.
//!
//! - The reload command is the one for how this nginx runs (`Site::reload_command`), not
//!   Debian's default, wherever a check printed the default.
//! - One fix per place: the config fixes that edit the same block are merged into one final
//!   block, printed once (under the first finding; the others point to it), and proven together
//!   on a copy of the configuration (`fix::prove`). A fix that fails the proof is not printed as
//!   a fix: the finding says why, and what to decide instead.

use crate::fix::{self, BlockEdit};
use crate::report::edit::ConfigFix;
use crate::report::{CheckResult, Remediation};
use crate::site::Site;
use std::sync::Arc;

pub fn settle(site: &Site, results: &mut [CheckResult]) {
    settle_keeping(site, results, true)
}

/// `settle`; unless `keep_data`, each block's config fixes (`Finding::config_fix`) are taken
/// out of the findings as the block is settled, not kept for `check --diff`.
pub fn settle_keeping(site: &Site, results: &mut [CheckResult], keep_data: bool) {
    settle_with_pending(site, results, &[], keep_data, &mut |_, _, _, _| {})
}

/// The config fix of a finding that was let go as it was made (`checks::Run`): what settling
/// needs of it (the fix as data, and the finding's own commands, which the merged block keeps).
/// The finding itself is made again as the report is written, and given the remediation
/// settling writes (`Seal`, `Settled`). 24 bytes and the rare parts a fix has of its own: what
/// fixes say alike (an intro, the lines appended, the commands) is held once, shared
/// (`Shapes`). One site of 360,000 servers held one per server (MD110's nosniff) until
/// settling, ~290 bytes each as a boxed `ConfigFix` and a `Remediation`.
#[derive(Debug)]
pub struct Pending {
    block: crate::nginx::NodeId,
    shape: Arc<Shape>,
    /// What the fix says that no other says (a new first line, changed directives, a goal);
    /// most fixes only append lines (None).
    own: Option<Box<Own>>,
}

/// What the let-go fixes that say the same hold once (`Pending`).
#[derive(Debug, PartialEq, Eq, Hash)]
struct Shape {
    intro: String,
    append: Vec<String>,
    /// The commands the finding printed (the server's test and reload).
    commands: Vec<String>,
}

/// A let-go fix's own parts, `ConfigFix`'s but the splices (which only a settled fix has).
#[derive(Debug, Clone)]
struct Own {
    head: Option<String>,
    changes: std::collections::BTreeMap<u32, crate::report::edit::Change>,
    goal: Option<crate::report::edit::Goal>,
}

impl Pending {
    /// `fix` of a finding let go, which printed `commands`, what it says alike taken from
    /// `shapes`.
    pub fn of(fix: ConfigFix, commands: Vec<String>, shapes: &mut Shapes) -> Pending {
        let ConfigFix {
            edit,
            intro,
            goal,
            splices: _,
        } = fix;
        let BlockEdit {
            block,
            head,
            changes,
            append,
        } = edit;
        let own = (head.is_some() || !changes.is_empty() || goal.is_some()).then(|| {
            Box::new(Own {
                head,
                changes,
                goal,
            })
        });
        Pending {
            block,
            shape: shapes.get(Shape {
                intro,
                append,
                commands,
            }),
            own,
        }
    }

    /// The commands the finding printed.
    pub fn commands(&self) -> &[String] {
        &self.shape.commands
    }

    /// The fix as it was made.
    fn config_fix(&self) -> ConfigFix {
        ConfigFix {
            edit: self.edit(),
            intro: self.shape.intro.clone(),
            goal: self.own.as_deref().and_then(|o| o.goal.clone()),
            splices: Vec::new(),
        }
    }

    fn edit(&self) -> BlockEdit {
        let own = self.own.as_deref();
        BlockEdit {
            block: self.block,
            head: own.and_then(|o| o.head.clone()),
            changes: own.map(|o| o.changes.clone()).unwrap_or_default(),
            append: self.shape.append.clone(),
        }
    }

    /// The text settling writes for this fix when it is its block's only one, proven, and the
    /// block is printed as rendered (`fix::render`: no comment of it kept, not line by line).
    /// A settled text that is this one is not held, but made again (`Settled::apply`).
    pub fn rendered(&self, cfg: &crate::nginx::Config) -> String {
        let intro = self.shape.intro.trim_end_matches(':');
        fix_text(&[intro], &fix::render(cfg, &self.edit()))
    }
}

/// The shapes of the let-go fixes, each held once (`Pending`): a few per check, however many
/// fixes say them.
#[derive(Default)]
pub struct Shapes(std::collections::HashSet<Arc<Shape>>);

impl Shapes {
    fn get(&mut self, shape: Shape) -> Arc<Shape> {
        match self.0.get(&shape) {
            Some(s) => s.clone(),
            None => {
                let s = Arc::new(shape);
                self.0.insert(s.clone());
                s
            }
        }
    }
}

/// What becomes of a let-go finding's remediation as soon as settling writes it: called with
/// its result's index, its index among that result's `Pending`, the `Pending` and the
/// remediation (`checks::run_made_again` keeps it compactly, `Settled`). One site of 360,000
/// servers held every remediation written (~370 bytes each) until the last block was settled.
pub type Seal<'a> = dyn FnMut(usize, usize, &Pending, Remediation) + 'a;

/// `settle_keeping`, with the fixes of the findings let go: `pending[i]` are result `i`'s, in
/// the order of its findings (a result's findings are either held or let go). Settled as if
/// they were its findings: merged by block with the fixes of every other check, proven once;
/// each handed to `seal` as its block is settled (in the order of the blocks, not of the
/// findings).
pub fn settle_with_pending(
    site: &Site,
    results: &mut [CheckResult],
    pending: &[Vec<Pending>],
    keep_data: bool,
    seal: &mut Seal<'_>,
) {
    merge_and_prove_pending(site, results, pending, keep_data, BATCH, seal);
    merge_apache(site, results);
    let reload = site.reload_command();
    if reload != super::shared::nginx::RELOAD {
        for f in results.iter_mut().flat_map(|r| r.findings.iter_mut()) {
            with_reload(f, &reload);
        }
    }
    in_namespace(site, &reload, results);
}

/// The finding's commands with `reload` (`Site::reload_command`) where they say Debian's
/// default: what settling does to every finding, and to each one made again as it is written
/// (`checks::Run`).
pub fn with_reload(f: &mut crate::report::Finding, reload: &str) {
    if let Some(rem) = &mut f.remediation {
        reload_in(rem, reload);
    }
}

/// A settled remediation kept for a finding made again as the report is written (`checks::Run`):
/// its text as a head shared with the texts that start alike (up to the first line break: the
/// intros of a merged block, ~200 bytes that every server's block repeats) and a body of its
/// own, both numbered in its `Heads`; and whether it prints the commands the finding makes (its
/// block's first finding: the merged fix keeps them) or none. One site of 360,000 servers held
/// a finding per server, ~760 bytes with its fix text, until the report was written; this is
/// 8 bytes, and the body (~150 bytes) unless the text is the one its fix renders to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settled {
    /// Its head's number in `Heads::all` (not read for a text its fix renders to).
    head: u32,
    /// Its body's number in `Heads::bodies`, `RENDERED` for the text its fix renders to
    /// (`Pending::rendered`), `UNSEALED` before it is settled; `COMMANDS` set when it keeps
    /// the finding's commands.
    body: u32,
}

impl Settled {
    const COMMANDS: u32 = 1 << 31;
    const RENDERED: u32 = Settled::COMMANDS - 1;
    const UNSEALED: u32 = Settled::COMMANDS - 2;

    /// A fix not settled yet (`is_sealed` says no).
    pub const NOT_YET: Settled = Settled {
        head: 0,
        body: Settled::UNSEALED,
    };

    pub fn is_sealed(self) -> bool {
        self.body & !Settled::COMMANDS != Settled::UNSEALED
    }

    /// The finding `f` made again, as settling left it (its head and body in `heads`, its fix
    /// `p` of `cfg`): its remediation settled (its own commands kept or not), its fix as data
    /// let go.
    pub fn apply(
        self,
        heads: &Heads,
        (p, cfg): (&Pending, &crate::nginx::Config),
        f: &mut crate::report::Finding,
    ) {
        let commands = match f.remediation.take() {
            Some(rem) if self.body & Settled::COMMANDS != 0 => rem.commands,
            _ => Vec::new(),
        };
        let text = match self.body & !Settled::COMMANDS {
            Settled::RENDERED => p.rendered(cfg),
            body => {
                let head = &heads.all[self.head as usize];
                let body = &heads.bodies[body as usize];
                let mut text = String::with_capacity(head.len() + body.len());
                text.push_str(head);
                text.push_str(body);
                text
            }
        };
        f.remediation = Some(Remediation { text, commands });
        f.config_fix = None;
    }
}

/// The heads of the `Settled` texts, numbered in the order first seen, each held once (a few:
/// the intros of the merged blocks), and their bodies.
#[derive(Default)]
pub struct Heads {
    all: Vec<Arc<str>>,
    ids: std::collections::HashMap<Arc<str>, u32>,
    bodies: Vec<Box<str>>,
}

impl Heads {
    /// `rem`, as settling left the `Pending` `p` of `cfg`: its text not held when it is the
    /// one `p` renders to; its commands are either the finding's own (`reload_of`) or none, so a
    /// flag says which.
    pub fn settled(
        &mut self,
        rem: &Remediation,
        p: &Pending,
        cfg: &crate::nginx::Config,
    ) -> Settled {
        let commands = if rem.commands.is_empty() {
            0
        } else {
            Settled::COMMANDS
        };
        if rem.text == p.rendered(cfg) {
            return Settled {
                head: 0,
                body: Settled::RENDERED | commands,
            };
        }
        let cut = rem.text.find('\n').map_or(0, |i| i + 1);
        let (head, body) = rem.text.split_at(cut);
        let head = match self.ids.get(head) {
            Some(&id) => id,
            None => {
                let id = u32::try_from(self.all.len()).expect("fewer than 2^32 heads");
                let h: Arc<str> = Arc::from(head);
                self.all.push(h.clone());
                self.ids.insert(h, id);
                id
            }
        };
        let id = u32::try_from(self.bodies.len())
            .ok()
            .filter(|&id| id < Settled::UNSEALED)
            .expect("fewer than 2^31 - 2 settled texts");
        self.bodies.push(Box::from(body));
        Settled {
            head,
            body: id | commands,
        }
    }
}

/// `with_reload` of one remediation.
pub fn reload_in(rem: &mut Remediation, reload: &str) {
    if reload == super::shared::nginx::RELOAD {
        return;
    }
    for c in &mut rem.commands {
        if c.contains(super::shared::nginx::RELOAD) {
            *c = c.replace(super::shared::nginx::RELOAD, reload);
            c.shrink_to_fit();
        }
    }
}

/// nginx (or the app) seen through `--root /proc/PID/root` of another mount namespace (a
/// container): each path a finding names is the container's, so the finding also says where
/// that path is on this machine (the host path behind the mount, or only inside the container),
/// and each `sudo` command runs in the container's mount namespace (`nsenter -t PID -m`), where
/// the path and the user names it uses mean what they meant to the check (the reload is already
/// the container's).
fn in_namespace(site: &Site, reload: &str, results: &mut [CheckResult]) {
    let Some(pid) = site.root.process() else {
        return;
    };
    for f in results.iter_mut().flat_map(|r| r.findings.iter_mut()) {
        // FILE:LINE is the file as nginx opens it: also where the operator opens it from here
        // (the host path behind its mount, or /proc/PID/root/… for what only nginx sees).
        if let Some(at) = &f.location {
            let file = std::path::Path::new(&at.file);
            let here = site.root.host_path(file);
            if file.is_absolute() && here != file {
                let said = format!("{}:{} (nginx's {at})", here.display(), at.line);
                *f = std::mem::replace(f, crate::report::Finding::info(""))
                    .evidence("file_on_host", said);
            }
        }
        // Access decided from the modes, owners and ACLs read through the mounts, the kernel
        // not asked (it is, entering nginx's mount namespace, wherever it can be): said.
        if f.evidence.iter().any(|e| e.label == "walk")
            && !f.evidence.iter().any(|e| e.label.starts_with("kernel as "))
        {
            *f = std::mem::replace(f, crate::report::Finding::info("")).evidence(
                "decided from",
                format!(
                    "modes, owners and ACLs read through pid {pid}'s mounts; the kernel was not asked as the user"
                ),
            );
        }
        let paths: Vec<String> = f
            .evidence
            .iter()
            .filter(|e| e.label == "path")
            .map(|e| e.value.clone())
            .collect();
        for p in paths {
            let said = match site.root.place(std::path::Path::new(&p)) {
                Some(crate::sysroot::mounts::Place::Host { path, mount }) => format!(
                    "{} (mount {} of pid {pid}'s mount namespace)",
                    path.display(),
                    mount.display()
                ),
                Some(crate::sysroot::mounts::Place::Inside { why, .. }) => format!(
                    "only inside pid {pid}'s mount namespace: {why}; read through /proc/{pid}/root"
                ),
                None => continue,
            };
            *f = std::mem::replace(f, crate::report::Finding::info("")).evidence("host_path", said);
        }
        if let Some(rem) = &mut f.remediation {
            for c in &mut rem.commands {
                if c != reload {
                    *c = nsenter_each_sudo(c, pid);
                }
            }
            // The `or instead:` alternatives in the text are pasted as well.
            let marker = crate::report::OR_INSTEAD;
            if rem.text.contains(marker) {
                rem.text = rem
                    .text
                    .split('\n')
                    .map(|line| match line.split_once(marker) {
                        Some((indent, alt)) if alt != reload => {
                            format!("{indent}{marker}{}", nsenter_each_sudo(alt, pid))
                        }
                        _ => line.to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join("\n");
            }
        }
    }
}

/// The fixes as data (`Finding::config_fix`, `apache_fix`) let go once settled, for a report
/// that does not print them as a diff (`check --diff` reads them): on one site of 360,000
/// servers they are a few hundred bytes a finding.
pub fn forget_data(results: &mut [CheckResult]) {
    for f in results.iter_mut().flat_map(|r| r.findings.iter_mut()) {
        f.config_fix = None;
        f.apache_fix = None;
    }
}

/// `sudo X && sudo Y` → each part run in pid's mount namespace: `sudo nsenter -t PID -m X`.
/// A `sudo -u USER …` (the app's own commands) is left as it is: nsenter would take its options.
fn nsenter_each_sudo(cmd: &str, pid: i32) -> String {
    cmd.split(" && ")
        .map(|part| match part.strip_prefix("sudo ") {
            Some(rest) if !rest.starts_with("nsenter ") && !rest.starts_with('-') => {
                format!("sudo nsenter -t {pid} -m {rest}")
            }
            _ => part.to_string(),
        })
        .collect::<Vec<_>>()
        .join(" && ")
}

/// One config fix to settle, in report order: its result (by index), the next slot whose fix
/// edits the same block (`link_groups`), and its fix.
struct Slot<'a> {
    result: u32,
    next: u32,
    fix: FixRef<'a>,
}

/// `Slot::next` of the last slot of its block.
const NO_NEXT: u32 = u32::MAX;

/// A slot's fix as data and the remediation settling writes: a held finding's, or a let-go
/// one's (`Pending`, its index among its result's, for `Seal`).
enum FixRef<'a> {
    Held {
        fix: &'a mut Option<Box<ConfigFix>>,
        remediation: &'a mut Option<Remediation>,
    },
    Pending {
        pending: &'a Pending,
        index: u32,
    },
}

impl FixRef<'_> {
    /// The block it edits (None once taken).
    fn block(&self) -> Option<crate::nginx::NodeId> {
        match self {
            FixRef::Held { fix, .. } => fix.as_ref().map(|f| f.edit.block),
            FixRef::Pending { pending, .. } => Some(pending.block),
        }
    }

    /// The fix, taken out (or a copy when `keep_data`). A let-go one is held until settling
    /// ends (`checks::run_made_again`): a copy.
    fn get(&mut self, keep_data: bool) -> Option<ConfigFix> {
        match self {
            FixRef::Held { fix, .. } if keep_data => fix.as_deref().cloned(),
            FixRef::Held { fix, .. } => fix.take().map(|b| *b),
            FixRef::Pending { pending, .. } => Some(pending.config_fix()),
        }
    }

    /// The commands the finding's own fix prints (the server's test and reload), taken out of
    /// the remediation settling is about to write: they stay under the merged edit of its
    /// group.
    fn own_commands(&mut self) -> Vec<String> {
        match self {
            FixRef::Held { remediation, .. } => remediation
                .as_mut()
                .map(|r| std::mem::take(&mut r.commands))
                .unwrap_or_default(),
            FixRef::Pending { pending, .. } => pending.commands().to_vec(),
        }
    }

    /// `rem` written as the finding's remediation (at its length when `many`); a let-go
    /// finding's handed to `seal` at once.
    fn settled(&mut self, result: u32, mut rem: Remediation, many: bool, seal: &mut Seal<'_>) {
        match self {
            FixRef::Held { remediation, .. } => {
                if many {
                    rem.text.shrink_to_fit();
                }
                **remediation = Some(rem);
            }
            FixRef::Pending { pending, index } => {
                seal(result as usize, *index as usize, pending, rem);
            }
        }
    }
}

/// What settling reads of the results besides the slots: each one's id (`see MD105`), and
/// whether it has `MANY_FINDINGS` (their texts are kept at their length).
struct Report {
    ids: Vec<&'static str>,
    many: Vec<bool>,
}

/// Each slot linked to the next one whose fix edits the same block (`Slot::next`), and which
/// slots lead their group (the first fix of their block): a group is walked from its leader
/// (`group`), the groups in the order their blocks first appear. Four bytes and a flag a slot:
/// a `Vec` per group, all made before the first was settled, was ~60 bytes a fix.
fn link_groups(slots: &mut [Slot<'_>]) -> Vec<bool> {
    let mut last: crate::fnv::FnvMap<crate::nginx::NodeId, u32> = Default::default();
    let mut leads = vec![false; slots.len()];
    for i in 0..slots.len() {
        let Some(block) = slots[i].fix.block() else {
            continue;
        };
        let at = u32::try_from(i).expect("fewer than 2^32 config fixes");
        match last.insert(block, at) {
            Some(prev) => slots[prev as usize].next = at,
            None => leads[i] = true,
        }
    }
    leads
}

/// The slots (by index) of the group `lead` leads (`link_groups`), in order.
fn group(slots: &[Slot<'_>], lead: usize) -> Vec<usize> {
    let mut out = vec![lead];
    let mut i = slots[lead].next;
    while i != NO_NEXT {
        out.push(i as usize);
        i = slots[i as usize].next;
    }
    out
}

/// One block's fixes merged: the fixes in report order, the merged edit, the ones left apart
/// (with why), and the goals of the merged ones.
struct Merged {
    fixes: Vec<ConfigFix>,
    merged: BlockEdit,
    apart: Vec<(usize, String)>,
    goals: Vec<fix::Goal>,
}

fn merge(slots: &mut [Slot<'_>], group: &[usize], keep_data: bool) -> Merged {
    let fixes: Vec<ConfigFix> = group
        .iter()
        .filter_map(|&i| slots[i].fix.get(keep_data))
        .collect();
    // Merge in order; a fix that contradicts the merged block stays apart.
    let mut merged: BlockEdit = fixes[0].edit.clone();
    let mut apart: Vec<(usize, String)> = Vec::new();
    for (i, fx) in fixes.iter().enumerate().skip(1) {
        match merged.merge(&fx.edit) {
            Ok(m) => merged = m,
            Err(c) => apart.push((i, c.what)),
        }
    }
    let goals: Vec<_> = fixes
        .iter()
        .enumerate()
        .filter(|(i, _)| !apart.iter().any(|(a, _)| a == i))
        .filter_map(|(_, fx)| fx.goal.clone())
        .collect();
    Merged {
        fixes,
        merged,
        apart,
        goals,
    }
}

/// Fewer blocks than this are proven on one thread.
const PARALLEL_PROOFS: usize = 8;

/// One site's blocks are proven this many at a time on one copy (`fix::Prover::prove_batch`)
/// when it has `PARALLEL_PROOFS` or more: a site of 360,000 servers, each with a fix, loads and
/// models its unedited copy once per batch, not once per block. A check over every site proves
/// a few blocks per site, one by one.
const BATCH: usize = 64;

/// The proof of each merged block, in order. Every goal of a block at once: one copy of the
/// config is loaded and compared per block, or per batch of `batch` blocks (each block the
/// batch does not prove is proven alone, so its refusal is its own; 1: each block alone). One
/// site's many blocks (one site of 500,000 servers, each with a fix) are proven on every core;
/// in a check over every site, the sites already are.
fn prove_all(
    site: &Site,
    prover: &fix::Prover<'_>,
    merged: &[Merged],
    batch: usize,
) -> Vec<Result<String, fix::Refusal>> {
    let prove = |m: &Merged| prover.prove(std::slice::from_ref(&m.merged), &m.goals);
    let prove_range = |ms: &[Merged]| -> Vec<Result<String, fix::Refusal>> {
        if ms.len() < 2 {
            return ms.iter().map(prove).collect();
        }
        let members: Vec<fix::Member<'_>> = ms
            .iter()
            .map(|m| (std::slice::from_ref(&m.merged), m.goals.as_slice()))
            .collect();
        prover
            .prove_batch(&members)
            .into_iter()
            .zip(ms)
            .map(|(got, m)| got.map_or_else(|| prove(m), Ok))
            .collect()
    };
    let threads = crate::system::cores();
    let few = site.is_one_of_many() || merged.len() < PARALLEL_PROOFS;
    let batch = if few { 1 } else { batch.max(1) };
    let ranges: Vec<&[Merged]> = merged.chunks(batch).collect();
    if few || threads <= 1 {
        return ranges.into_iter().flat_map(prove_range).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    type Proofs = Vec<Result<String, fix::Refusal>>;
    let slots: Vec<std::sync::Mutex<Option<Proofs>>> =
        ranges.iter().map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            // The main thread's stack size, as for the sites of a check over every site.
            let worker = std::thread::Builder::new()
                .stack_size(8 << 20)
                .spawn_scoped(scope, || loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(ms) = ranges.get(i) else { break };
                    let proofs = prove_range(ms);
                    *slots[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(proofs);
                });
            if worker.is_err() {
                // No thread to be had: the ones running (or this one, below) do the work.
                break;
            }
        }
    });
    slots
        .into_iter()
        .zip(ranges)
        .flat_map(|(slot, ms)| {
            slot.into_inner()
                .unwrap_or_else(|e| e.into_inner())
                .unwrap_or_else(|| prove_range(ms))
        })
        .collect()
}

/// The config fixes of `results` and of `pending` (see `settle_with_pending`) merged by block
/// and proven (`batch` blocks to a copy: see `prove_all`).
fn merge_and_prove_pending(
    site: &Site,
    results: &mut [CheckResult],
    pending: &[Vec<Pending>],
    keep_data: bool,
    batch: usize,
    seal: &mut Seal<'_>,
) {
    let ids: Vec<&'static str> = results.iter().map(|r| r.id).collect();
    let many: Vec<bool> = results
        .iter()
        .enumerate()
        .map(|(i, r)| r.findings.len() + pending.get(i).map_or(0, Vec::len) >= super::MANY_FINDINGS)
        .collect();
    let count = results
        .iter()
        .map(|r| r.findings.iter().filter(|f| f.config_fix.is_some()).count())
        .sum::<usize>()
        + pending.iter().map(Vec::len).sum::<usize>();
    let mut pending = pending.iter();
    let mut slots: Vec<Slot<'_>> = Vec::with_capacity(count);
    for (ri, r) in results.iter_mut().enumerate() {
        let result = ri as u32;
        for f in r.findings.iter_mut().filter(|f| f.config_fix.is_some()) {
            let fix = FixRef::Held {
                fix: &mut f.config_fix,
                remediation: &mut f.remediation,
            };
            slots.push(Slot {
                result,
                next: NO_NEXT,
                fix,
            });
        }
        for (index, pending) in pending.next().into_iter().flatten().enumerate() {
            let index = index as u32;
            slots.push(Slot {
                result,
                next: NO_NEXT,
                fix: FixRef::Pending { pending, index },
            });
        }
    }
    let report = Report { ids, many };
    merge_and_prove(site, &report, &mut slots, keep_data, batch, seal);
}

/// The config fixes of `slots` merged by block and proven (`batch` blocks to a copy: see
/// `prove_all`).
fn merge_and_prove(
    site: &Site,
    report: &Report,
    slots: &mut [Slot<'_>],
    keep_data: bool,
    batch: usize,
    seal: &mut Seal<'_>,
) {
    let prover = fix::Prover::new(site);
    // Each config file read once for all its fixes (one file may hold thousands).
    // Those that hold other sites' servers too (in a check over every site), once per box.
    let cfg = site.config();
    let shared = prover
        .shared_files()
        .map(|f| cfg.files[f as usize].path.clone())
        .collect();
    let mut texts =
        fix::text::Texts::sharing(shared, site.per_box("fix::text::texts", Default::default));
    let leads = link_groups(slots);
    let mut leads = (0..slots.len()).filter(|&i| leads[i]);
    // A chunk of whole groups at a time: the merged blocks of 500,000 servers are not all held
    // at once, and a block's fixes are settled together wherever they are in the report.
    loop {
        let chunk: Vec<Vec<usize>> = leads.by_ref().take(256).map(|l| group(slots, l)).collect();
        if chunk.is_empty() {
            break;
        }
        let merged: Vec<Merged> = chunk.iter().map(|g| merge(slots, g, keep_data)).collect();
        let proofs = prove_all(site, &prover, &merged, batch);
        for ((group, m), proof) in chunk.iter().zip(merged).zip(proofs) {
            settle_group(site, &mut texts, report, slots, group, m, proof, seal);
        }
    }
}

/// The remediation of each finding of one merged block, from its proof.
#[allow(clippy::too_many_arguments)]
fn settle_group(
    site: &Site,
    texts: &mut fix::text::Texts,
    report: &Report,
    slots: &mut [Slot<'_>],
    group: &[usize],
    m: Merged,
    proof: Result<String, fix::Refusal>,
    seal: &mut Seal<'_>,
) {
    let cfg = site.config();
    let Merged {
        fixes,
        mut merged,
        apart,
        goals: _,
    } = m;
    let first_r = slots[group[0]].result as usize;
    let first_id = report.ids[first_r];
    let many = report.many[first_r];
    let place = cfg.directive(fixes[0].edit.block).location();
    let intros = merged_intros(fixes.iter().map(|fx| fx.intro.as_str()), &apart);
    // The one block to add or the lines to change, at their file:line (the whole block
    // when its place cannot be told line by line).
    let splices = fix::text::splices(texts, &site.root, cfg, &merged);
    let block = fix::text::shown(cfg, &merged, splices.as_deref());
    let mut splices = splices.unwrap_or_default();
    for (k, &i) in group.iter().enumerate() {
        let slot = &mut slots[i];
        let reload = slot.fix.own_commands();
        let rem = match (&proof, apart.iter().find(|(a, _)| *a == k)) {
                (_, Some((_, why))) => Remediation {
                    text: format!(
                        "not printed: this fix and the one under {first_id} change {place} in two ways ({why}); decide which the block should say, edit it, then run `media-doctor check` again"
                    ),
                    commands: Vec::new(),
                },
                (Err(refusal), _) if k == 0 => Remediation {
                    text: format!(
                        "no edit is printed: {refusal}. Decide what {place} should serve (media-doctor trace URL shows each step), edit it by hand, then check again"
                    ),
                    commands: Vec::new(),
                },
                (Err(_), _) => Remediation {
                    text: format!("see {first_id}: no edit of {place} could be proven"),
                    commands: Vec::new(),
                },
                (Ok(_), _) if k == 0 => {
                    // Only the first finding of the group keeps them: moved, not copied.
                    if let FixRef::Held { fix: Some(cf), .. } = &mut slot.fix {
                        cf.edit = std::mem::replace(&mut merged, BlockEdit::new(0));
                        cf.splices = std::mem::take(&mut splices);
                    }
                    Remediation {
                    text: fix_text(&intros, &block),
                    commands: reload,
                }
                }
                (Ok(_), _) => Remediation {
                    text: format!("the block for {place} under {first_id} fixes this too"),
                    commands: Vec::new(),
                },
            };
        slot.fix.settled(slot.result, rem, many, seal);
    }
}

/// The text of a merged block's fix under its first finding: the intros of its fixes, and the
/// block as printed (`fix::text::shown`).
fn fix_text(intros: &[&str], block: &str) -> String {
    format!(
        "{}{}:\n{}",
        intros.join("; "),
        if intros.len() > 1 { " (one block)" } else { "" },
        block.trim_end()
    )
}

/// The commands an Apache finding's own fix prints (the server's test and reload): they stay
/// under the merged edit of its group.
fn reload_of(remediation: &Option<Remediation>) -> Vec<String> {
    remediation
        .as_ref()
        .map(|rem| rem.commands.clone())
        .unwrap_or_default()
}

/// The intros of a group's fixes merged into one edit (those not left `apart`), each once as
/// shown (without the colon): two checks with the same words say it once.
fn merged_intros<'a>(
    intros: impl Iterator<Item = &'a str>,
    apart: &[(usize, String)],
) -> Vec<&'a str> {
    let mut out: Vec<&str> = Vec::new();
    for (i, intro) in intros.enumerate() {
        let intro = intro.trim_end_matches(':');
        if !apart.iter().any(|(a, _)| *a == i) && !out.contains(&intro) {
            out.push(intro);
        }
    }
    out
}

/// (result, finding) positions of the Apache fixes that edit the same lines (a line two fixes
/// edit joins their groups), in the order the groups first appear; only groups of two or more.
fn apache_groups(results: &[CheckResult]) -> Vec<Vec<(usize, usize)>> {
    use std::collections::HashMap;
    let mut owner: Vec<usize> = Vec::new();
    let mut members: Vec<(usize, usize)> = Vec::new();
    let mut by_line: HashMap<(&std::path::Path, u32), usize> = HashMap::new();
    fn find(owner: &mut [usize], mut i: usize) -> usize {
        while owner[i] != i {
            owner[i] = owner[owner[i]];
            i = owner[i];
        }
        i
    }
    for (ri, r) in results.iter().enumerate() {
        for (fi, f) in r.findings.iter().enumerate() {
            let Some(fx) = &f.apache_fix else { continue };
            let me = members.len();
            members.push((ri, fi));
            owner.push(me);
            for e in &fx.edits {
                match by_line.get(&(e.file.as_path(), e.line)) {
                    Some(&other) => {
                        let (a, b) = (find(&mut owner, other), find(&mut owner, me));
                        // The earlier finding leads the group.
                        owner[a.max(b)] = a.min(b);
                    }
                    None => {
                        by_line.insert((e.file.as_path(), e.line), me);
                    }
                }
            }
        }
    }
    let mut groups: Vec<Vec<(usize, usize)>> = Vec::new();
    let mut at: HashMap<usize, usize> = HashMap::new();
    for (i, &member) in members.iter().enumerate() {
        let root = find(&mut owner, i);
        let g = *at.entry(root).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[g].push(member);
    }
    groups.retain(|g| g.len() > 1);
    groups
}

/// One fix per place on Apache too: the proven fixes that edit the same lines (MD503 and MD505
/// both rewriting one `Options` line) become one edit, proven again with every goal on a copy
/// of the configuration (`fix::apache::prove`) and printed once, under the first finding.
fn merge_apache(site: &Site, results: &mut [CheckResult]) {
    use crate::fix::apache as afix;
    let Some(a) = site.apache.as_deref() else {
        return;
    };
    let groups = apache_groups(results);
    if groups.is_empty() {
        return;
    }
    let resolver = crate::apache::resolve::Resolver::new(&a.config, &site.root);
    for group in groups {
        let fixes: Vec<afix::ProvenFix> = group
            .iter()
            .filter_map(|&(r, f)| results[r].findings[f].apache_fix.as_deref().cloned())
            .collect();
        let mut edits = fixes[0].edits.clone();
        let mut apart: Vec<(usize, String)> = Vec::new();
        for (i, fx) in fixes.iter().enumerate().skip(1) {
            match afix::merge(&edits, &fx.edits) {
                Ok(m) => edits = m,
                Err(c) => apart.push((i, c.0)),
            }
        }
        let kept = |i: &usize| !apart.iter().any(|(a, _)| a == i);
        let goals: Vec<afix::Goal> = fixes
            .iter()
            .enumerate()
            .filter(|(i, _)| kept(i))
            .flat_map(|(_, fx)| fx.goals.iter().map(afix::Goal::from_data))
            .collect();
        let intros = merged_intros(fixes.iter().map(|fx| fx.intro.as_str()), &apart);
        let (first_r, _) = group[0];
        let first_id = results[first_r].id;
        let places = edits
            .iter()
            .map(|e| format!("{}:{}", e.file.display(), e.line))
            .fold(Vec::<String>::new(), |mut v, p| {
                if !v.contains(&p) {
                    v.push(p);
                }
                v
            })
            .join(", ");
        let proof = afix::prove(a, &site.root, &resolver, &edits, &goals);
        for (k, &(r, f)) in group.iter().enumerate() {
            let finding = &mut results[r].findings[f];
            let reload = reload_of(&finding.remediation);
            let (text, commands) = match (&proof, apart.iter().find(|(a, _)| *a == k)) {
                (_, Some((_, why))) => (
                    format!(
                        "not printed: this fix and the one under {first_id} edit the same lines in two ways ({why}); decide what the lines should say, edit them, then run `media-doctor check` again"
                    ),
                    Vec::new(),
                ),
                (Err(refusal), _) if k == 0 => (
                    format!(
                        "no edit is printed: the fixes of {places} proven together fail: {refusal}. Decide what the URLs should get (media-doctor trace URL --server apache shows each step), edit by hand, then check again"
                    ),
                    Vec::new(),
                ),
                (Err(_), _) => (
                    format!("see {first_id}: no edit of {places} could be proven"),
                    Vec::new(),
                ),
                (Ok(()), _) if k == 0 => {
                    finding.apache_fix = Some(Box::new(afix::ProvenFix {
                        edits: edits.clone(),
                        intro: intros.join("; "),
                        goals: goals.iter().map(afix::Goal::data).collect(),
                    }));
                    (
                        format!(
                            "{}{}:\n{}",
                            intros.join("; "),
                            if intros.len() > 1 { " (one edit)" } else { "" },
                            afix::render(&edits).trim_end()
                        ),
                        reload,
                    )
                }
                (Ok(()), _) => (
                    format!("the edit of {places} under {first_id} fixes this too"),
                    Vec::new(),
                ),
            };
            if k > 0 || proof.is_err() {
                finding.apache_fix = None;
            }
            finding.remediation = Some(Remediation { text, commands });
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn each_sudo_runs_in_the_namespace_but_the_apps_own() {
        assert_eq!(
            super::nsenter_each_sudo("sudo chmod o+x /srv && sudo setfacl -m u:33:rx /srv/m", 7),
            "sudo nsenter -t 7 -m chmod o+x /srv && sudo nsenter -t 7 -m setfacl -m u:33:rx /srv/m"
        );
        let app = "cd /srv/app && sudo -u app /srv/venv/bin/python manage.py collectstatic";
        assert_eq!(super::nsenter_each_sudo(app, 7), app);
    }

    /// A block's fixes are one group wherever they are in the report (another check's, or past
    /// a chunk of groups), led by the first; the groups in the order their blocks first appear;
    /// a fix already taken is in none.
    #[test]
    fn groups_hold_every_fix_of_their_block_in_order() {
        use super::{group, link_groups, FixRef, Pending, Shapes, Slot, NO_NEXT};
        let mut shapes = Shapes::default();
        let mut pending = |b: u32| {
            let fix = crate::report::edit::ConfigFix {
                edit: crate::fix::BlockEdit::new(b),
                intro: String::new(),
                goal: None,
                splices: Vec::new(),
            };
            Pending::of(fix, Vec::new(), &mut shapes)
        };
        let pending: Vec<Pending> = [1, 2, 1, 3, 2, 1].into_iter().map(&mut pending).collect();
        let (mut taken, mut remediation) = (None, None);
        let mut slots: Vec<Slot<'_>> = pending
            .iter()
            .enumerate()
            .map(|(i, pending)| Slot {
                result: 1,
                next: NO_NEXT,
                fix: FixRef::Pending {
                    pending,
                    index: i as u32,
                },
            })
            .collect();
        let fix = FixRef::Held {
            fix: &mut taken,
            remediation: &mut remediation,
        };
        slots.insert(
            1,
            Slot {
                result: 0,
                next: NO_NEXT,
                fix,
            },
        );
        let leads = link_groups(&mut slots);
        let groups: Vec<Vec<usize>> = (0..slots.len())
            .filter(|&i| leads[i])
            .map(|l| group(&slots, l))
            .collect();
        assert_eq!(groups, [vec![0, 3, 6], vec![2, 5], vec![4]]);
    }

    /// A fix let go is given back as it was made (with a new first line, changed directives
    /// and a goal, or only lines appended), with its commands; what two fixes say alike
    /// (their intro, lines and commands) held once.
    #[test]
    fn pending_fixes_give_back_their_fix_and_share_what_they_say_alike() {
        use super::{Pending, Shapes};
        use crate::report::edit::{ConfigFix, Goal};
        let fix = |block: u32, lines: &[&str]| ConfigFix {
            edit: lines
                .iter()
                .fold(crate::fix::BlockEdit::new(block), |e, l| e.append(*l)),
            intro: "add:".into(),
            goal: None,
            splices: Vec::new(),
        };
        let mut own = fix(7, &["types { }", "deny all;"]);
        own.edit = own.edit.head("location ^~ /m/").drop(9);
        own.goal = Some(Goal {
            host: "a.test".into(),
            port: 80,
            uri: "/m/x.php".into(),
            status: Some(403),
            path: None,
            location: None,
        });
        let mut shapes = Shapes::default();
        let reload = vec!["sudo nginx -t && sudo systemctl reload nginx".to_string()];
        for made in [fix(7, &[]), own] {
            let p = Pending::of(made.clone(), reload.clone(), &mut shapes);
            assert_eq!(p.config_fix(), made);
            assert_eq!(p.commands(), &reload[..]);
        }
        let (a, b) = (
            Pending::of(fix(1, &["deny all;"]), reload.clone(), &mut shapes),
            Pending::of(fix(2, &["deny all;"]), reload.clone(), &mut shapes),
        );
        assert!(std::sync::Arc::ptr_eq(&a.shape, &b.shape));
        assert!(a.own.is_none());
    }

    /// What is held per let-go fix (one a server on one site of many, MD110's) stays small:
    /// the fix until it is settled and made again, what settling wrote from then on.
    #[test]
    fn a_let_go_fix_is_held_in_24_bytes_and_settled_in_8() {
        use super::{Pending, Settled};
        use std::mem::size_of;
        assert_eq!(size_of::<Pending>(), 24);
        assert_eq!(size_of::<Settled>(), 8);
        assert!(!Settled::NOT_YET.is_sealed());
    }

    /// Fixes let go are settled as if held: merged with another check's fix of their block
    /// (printed under the first), each handed to `Seal` once, as its block is settled.
    #[test]
    fn pending_fixes_settle_as_held_ones() {
        use super::{Pending, Shapes};
        use crate::fix::prove::batch_fixture::{media, site};
        use crate::fix::BlockEdit;
        use crate::report::{Band, CheckResult, Finding, Remediation, Status};
        let (_tmp, site) = site(3, &[]);
        let cfg = site.config();
        let finding = |n: usize, header: &str| {
            crate::checks::shared::nginx::config_fix(
                Finding::warning("uploads are served without a header"),
                cfg,
                &format!("add {header}:"),
                BlockEdit::new(media(cfg, n)).append(format!("add_header {header} 1 always;")),
                None,
            )
        };
        let result = |id: &'static str, findings: Vec<Finding>| CheckResult {
            id,
            name: "uploads",
            band: Band::Nginx,
            status: Status::Warn,
            summary: String::new(),
            findings,
            ignored: None,
        };
        let made = || {
            let md110 = vec![finding(1, "X-B"), finding(0, "X-C"), finding(2, "X-D")];
            vec![
                result("MD109", vec![finding(0, "X-A")]),
                result("MD110", md110),
            ]
        };
        let reload = site.reload_command();
        let text =
            |rem: &Option<Remediation>| rem.as_ref().map(|r| (r.text.clone(), r.commands.clone()));
        let mut held = made();
        super::settle_keeping(&site, &mut held, false);
        assert!(text(&held[1].findings[1].remediation)
            .unwrap()
            .0
            .contains("under MD109"));
        let mut results = made();
        let mut shapes = Shapes::default();
        let let_go = results[1].findings.drain(..).map(|mut f| {
            let commands = f.remediation.take().unwrap().commands;
            Pending::of(*f.config_fix.unwrap(), commands, &mut shapes)
        });
        let pending = vec![Vec::new(), let_go.collect()];
        let mut sealed = Vec::new();
        // Each kept compactly, as `checks::Sealer` does, and given back whole; the text of a
        // fix alone on its block, printed as rendered, is not held.
        let (mut heads, mut rendered) = (super::Heads::default(), 0);
        super::settle_with_pending(&site, &mut results, &pending, false, &mut |r, i, p, rem| {
            let mut rem = Some(rem);
            rem.iter_mut()
                .for_each(|rem| super::reload_in(rem, &reload));
            let settled = heads.settled(rem.as_ref().unwrap(), p, cfg);
            rendered +=
                usize::from(settled.body & !super::Settled::COMMANDS == super::Settled::RENDERED);
            // As `checks::Run::each_finding` makes it again.
            let own = vec![crate::checks::shared::nginx::RELOAD.to_string()];
            let mut again = Finding::warning("made again").fix(String::new(), own);
            settled.apply(&heads, (p, cfg), &mut again);
            super::with_reload(&mut again, &reload);
            assert_eq!(text(&again.remediation), text(&rem));
            sealed.push((r, i, text(&rem)));
        });
        assert_eq!(rendered, 2, "X-B's and X-D's blocks are theirs alone");
        assert_eq!(
            text(&results[0].findings[0].remediation),
            text(&held[0].findings[0].remediation)
        );
        let want: Vec<_> = [1, 0, 2]
            .into_iter()
            .map(|i| (1, i, text(&held[1].findings[i].remediation)))
            .collect();
        assert_eq!(sealed, want);
    }

    /// A report's blocks proven in batches read as when each is proven alone, with real files:
    /// the fixes that pass print their block, the one that misses its goal and the one that
    /// changes another URL print their own refusal, the servers that share a name theirs.
    #[test]
    fn batches_report_as_blocks_proven_alone() {
        use crate::fix::prove::batch_fixture::{home, media, site};
        use crate::fix::BlockEdit;
        use crate::report::{edit::Goal, Band, CheckResult, Finding, Status};
        let (_tmp, site) = site(12, &[7, 8]);
        let cfg = site.config();
        let goal = |n: usize, status: u16| Goal {
            host: format!("s{n}.test"),
            port: 80,
            uri: "/media/a.jpg".into(),
            status: Some(status),
            path: None,
            location: None,
        };
        let nosniff = "add_header X-Content-Type-Options nosniff always;";
        let fixes: Vec<(BlockEdit, Option<Goal>)> = (0..12)
            .map(|n| match n {
                2 => (
                    BlockEdit::new(media(cfg, n)).append(nosniff),
                    Some(goal(n, 403)),
                ),
                3 => (
                    BlockEdit::new(home(cfg, n)).append("index none.html;"),
                    Some(goal(n, 200)),
                ),
                _ => (BlockEdit::new(media(cfg, n)).append(nosniff), None),
            })
            .collect();
        let results = || {
            let findings = fixes
                .iter()
                .map(|(edit, goal)| {
                    crate::checks::shared::nginx::config_fix(
                        Finding::warning("uploads are served without nosniff"),
                        cfg,
                        "add nosniff:",
                        edit.clone(),
                        goal.clone(),
                    )
                })
                .collect();
            vec![CheckResult {
                id: "MD110",
                name: "uploads-executable",
                band: Band::Nginx,
                status: Status::Warn,
                summary: String::new(),
                findings,
                ignored: None,
            }]
        };
        let settled = |batch: usize| {
            let mut r = results();
            super::merge_and_prove_pending(&site, &mut r, &[], true, batch, &mut |_, _, _, _| {});
            r.remove(0)
                .findings
                .into_iter()
                .map(|f| {
                    let rem = f.remediation.unwrap();
                    (
                        rem.text,
                        rem.commands,
                        f.config_fix.map(|c| c.splices.len()),
                    )
                })
                .collect::<Vec<_>>()
        };
        let (batched, alone) = (settled(super::BATCH), settled(1));
        assert_eq!(batched, alone);
        let refused: Vec<usize> = alone
            .iter()
            .enumerate()
            .filter(|(_, (text, ..))| text.starts_with("no edit is printed"))
            .map(|(i, _)| i)
            .collect();
        assert_eq!(refused, [2, 3], "{alone:#?}");
    }
}
