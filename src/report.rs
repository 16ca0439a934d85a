//! The data every check produces and every renderer consumes.
//!
//! Renderers see only `&Report`, so the text checklist and the JSON output can never drift apart:
//! both are views of these types. The JSON shape is the contract in docs/json-schema.md
//! (schema_version 1); field names here are that contract, do not rename them.

use serde::Serialize;
use std::fmt;

/// How a check ended. Ordered from best to worst so `max()` gives the overall state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Skip,
    Warn,
    Fail,
    /// The probe itself broke (an I/O error it did not expect, a panic). Not a verdict on the site.
    Error,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Pass => "pass",
            Status::Skip => "skip",
            Status::Warn => "warn",
            Status::Fail => "fail",
            Status::Error => "error",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

/// A place in a config file. `line` is 1-based; `column` is 1-based when known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Location {
    pub file: String,
    pub line: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<u32>,
}

impl Location {
    pub fn new(file: impl Into<String>, line: u32) -> Self {
        Location {
            file: file.into(),
            line,
            column: None,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.column {
            Some(col) => write!(f, "{}:{}:{}", self.file, self.line, col),
            None => write!(f, "{}:{}", self.file, self.line),
        }
    }
}

/// One fact that supports a finding: `path = /var/www/media`, `mode = drwx------ root root`, `status = 404`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Evidence {
    pub label: String,
    pub value: String,
    /// The value is lines made by the tool (a walk, a list of paths), each line's outside text
    /// with its own line breaks escaped (`Finding::evidence_lines`): terminals show it as lines.
    /// Otherwise the value is one line, and a line break in it is shown escaped.
    #[serde(skip)]
    pub lines: bool,
}

/// What to do about a finding. Printed, never executed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Remediation {
    pub text: String,
    pub commands: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub severity: Severity,
    pub message: String,
    pub location: Option<Location>,
    pub evidence: Vec<Evidence>,
    pub remediation: Option<Remediation>,
    /// A config fix as data (the block, what changes, the request it must fix): merged with the
    /// other fixes of the same block and proven before it is printed. Not part of the JSON.
    #[serde(skip)]
    pub config_fix: Option<Box<edit::ConfigFix>>,
    /// An Apache config fix as data, proven alone: merged with the other fixes of the same lines
    /// and proven again before the report is made (`checks::fixes`). Not part of the JSON.
    #[serde(skip)]
    pub apache_fix: Option<Box<edit::ApacheFix>>,
}

impl Finding {
    pub fn new(severity: Severity, message: impl Into<String>) -> Self {
        Finding {
            severity,
            message: message.into(),
            location: None,
            evidence: Vec::new(),
            remediation: None,
            config_fix: None,
            apache_fix: None,
        }
    }
    pub fn error(message: impl Into<String>) -> Self {
        Self::new(Severity::Error, message)
    }
    pub fn warning(message: impl Into<String>) -> Self {
        Self::new(Severity::Warning, message)
    }
    pub fn info(message: impl Into<String>) -> Self {
        Self::new(Severity::Info, message)
    }
    /// Where the finding points. Takes an `Option` too, so a check whose setting may have no
    /// known line does not need a branch at each finding.
    pub fn at(mut self, location: impl Into<Option<Location>>) -> Self {
        if let Some(l) = location.into() {
            self.location = Some(l);
        }
        self
    }
    pub fn evidence(mut self, label: impl Into<String>, value: impl fmt::Display) -> Self {
        self.evidence.push(Evidence {
            label: label.into(),
            value: value.to_string(),
            lines: false,
        });
        self
    }
    /// Evidence of several lines (a walk, the paths found): one item per line. A line break
    /// inside an item (a file name may hold one) is escaped (`\n`), since in the value it could
    /// not be told from the separator.
    pub fn evidence_lines<T: fmt::Display>(
        mut self,
        label: impl Into<String>,
        items: impl IntoIterator<Item = T>,
    ) -> Self {
        let value = items
            .into_iter()
            .map(|i| crate::text_safe::list_item(&i.to_string()).into_owned())
            .collect::<Vec<_>>()
            .join("\n");
        self.evidence.push(Evidence {
            label: label.into(),
            value,
            lines: true,
        });
        self
    }
    /// A fix that is text to paste into a file (an nginx block, a settings line, a template
    /// expression) rather than a command: the lines go into the remediation text, indented under
    /// it, and `commands` stays shell-only (scripts and "Fix the most first" run or show them).
    pub fn fix_with_block(
        self,
        text: impl Into<String>,
        block: &[String],
        commands: Vec<String>,
    ) -> Self {
        let mut text = text.into();
        for line in block {
            text.push_str("\n    ");
            text.push_str(line);
        }
        self.fix(text, commands)
    }

    /// A fix with interchangeable commands (`chmod o+x DIR` or `setfacl -m u:www-data:x DIR`):
    /// `commands` is pasted in order, so it holds only the first (the one that widens least);
    /// the others go into the text, each on an `or instead:` line.
    pub fn fix_either(self, text: impl Into<String>, mut alternatives: Vec<String>) -> Self {
        let others = alternatives.split_off(alternatives.len().min(1));
        self.fix(with_alternatives(text.into(), &others), alternatives)
    }

    /// Its strings and lists at their length: one site of 360,000 servers keeps a million
    /// findings until its report is written, and a `format!`'s spare capacity and an evidence
    /// list grown to four were a fifth of each.
    pub fn shrink_to_fit(&mut self) {
        self.message.shrink_to_fit();
        if let Some(l) = &mut self.location {
            l.file.shrink_to_fit();
        }
        self.evidence.shrink_to_fit();
        for e in &mut self.evidence {
            e.label.shrink_to_fit();
            e.value.shrink_to_fit();
        }
        if let Some(r) = &mut self.remediation {
            r.text.shrink_to_fit();
            r.commands.shrink_to_fit();
            for c in &mut r.commands {
                c.shrink_to_fit();
            }
        }
    }

    pub fn fix(mut self, text: impl Into<String>, commands: Vec<String>) -> Self {
        self.remediation = Some(Remediation {
            text: text.into(),
            commands,
        });
        self
    }
}

/// The catalogue's bands: the first digit of the id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Band {
    Nginx,
    Filesystem,
    App,
    Live,
    /// Apache httpd's configuration (MD5xx), when Apache is the server judged.
    Apache,
    Containers,
}

impl Band {
    /// Every band, in report order.
    pub const ALL: [Band; 6] = [
        Band::Nginx,
        Band::Filesystem,
        Band::App,
        Band::Live,
        Band::Apache,
        Band::Containers,
    ];

    /// The band's name as in the JSON (`"band": "nginx"`) and in `list-checks`.
    pub fn name(self) -> &'static str {
        match self {
            Band::Nginx => "nginx",
            Band::Filesystem => "filesystem",
            Band::App => "app",
            Band::Live => "live",
            Band::Apache => "apache",
            Band::Containers => "containers",
        }
    }
    pub fn title(self) -> &'static str {
        match self {
            Band::Nginx => "nginx configuration",
            Band::Filesystem => "filesystem",
            Band::App => "app \u{2194} nginx alignment",
            Band::Live => "live",
            Band::Apache => "Apache httpd configuration",
            Band::Containers => "containers (Docker Compose)",
        }
    }
    /// The title in a report of the server judged: the app band names it (`app ↔ Apache
    /// alignment` when Apache is judged); on Apache the MD1xx band holds only the rules both
    /// servers share (MD104, MD108), so it is not called nginx's; the others are the same for both.
    pub fn title_on(self, apache: bool) -> &'static str {
        match self {
            Band::App if apache => "app \u{2194} Apache alignment",
            Band::Nginx if apache => "configuration rules shared with nginx",
            other => other.title(),
        }
    }
    /// `MD1` for nginx, ...: the prefix `--select`/`--ignore` accept for a whole band.
    pub fn prefix(self) -> &'static str {
        match self {
            Band::Nginx => "MD1",
            Band::Filesystem => "MD2",
            Band::App => "MD3",
            Band::Live => "MD4",
            Band::Apache => "MD5",
            Band::Containers => "MD6",
        }
    }
}

/// What never changes about a check: its stable id and name (scripts depend on both), and its page.
#[derive(Debug, Serialize)]
pub struct Meta {
    pub id: &'static str,
    pub name: &'static str,
    pub band: Band,
    pub summary: &'static str,
    /// The check's page, checks/ID.md, compiled in for `explain`.
    #[serde(skip)]
    pub docs: &'static str,
}

impl Meta {
    /// The sections every page has, in order (after its `# ID name` title).
    pub const PAGE_SECTIONS: [&'static str; 4] = [
        "What it checks",
        "Why it breaks media",
        "How to fix",
        "Example",
    ];

    /// The text of the page's `## {title}` section, without its heading, trimmed.
    pub fn section(&self, title: &str) -> Option<&'static str> {
        let docs: &'static str = self.docs;
        let heading = format!("## {title}");
        let mut offset = 0;
        let mut start = None;
        let mut in_fence = false;
        for line in docs.split_inclusive('\n') {
            let end = offset + line.len();
            let trimmed = line.trim_end();
            if trimmed.starts_with("```") {
                in_fence = !in_fence;
            } else if in_fence {
                // A `# comment` inside a fenced block is not a heading.
            } else if let Some(s) = start {
                if trimmed.starts_with("## ") || trimmed.starts_with("# ") {
                    return Some(docs[s..offset].trim());
                }
            } else if trimmed == heading {
                start = Some(end);
            }
            offset = end;
        }
        start.map(|s| docs[s..].trim())
    }
}

/// How an alternative command is introduced in a remediation text (the text renderer shows
/// these lines after the commands).
pub const OR_INSTEAD: &str = "or instead: ";

/// `text`, then one indented `or instead: COMMAND` line per alternative command.
pub fn with_alternatives(mut text: String, others: &[String]) -> String {
    for alt in others {
        text.push_str("\n    ");
        text.push_str(OR_INSTEAD);
        text.push_str(alt);
    }
    text
}

/// One check's result, as it appears in the report.
#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    pub id: &'static str,
    pub name: &'static str,
    #[serde(skip)]
    pub band: Band,
    pub status: Status,
    /// One line. For a skip or an error, the reason.
    pub summary: String,
    pub findings: Vec<Finding>,
    /// Set when the site's profile accepts this check's result (`ignore = [{ id, reason }]`): the
    /// reason. The check still ran and keeps its status, but it counts as `ignored` in the summary
    /// and never against `--fail-on`. Absent from the JSON when not ignored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ignored: Option<String>,
}

impl CheckResult {
    /// Warn or fail, and not ignored: a result someone should act on.
    pub fn is_actionable(&self) -> bool {
        self.ignored.is_none() && matches!(self.status, Status::Warn | Status::Fail)
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub pass: usize,
    pub warn: usize,
    pub fail: usize,
    pub skip: usize,
    pub error: usize,
    /// Checks whose result the profile accepts (see `CheckResult::ignored`); not counted above.
    pub ignored: usize,
}

impl Summary {
    pub fn of(checks: &[CheckResult]) -> Self {
        let mut s = Summary::default();
        for c in checks {
            if c.ignored.is_some() {
                s.ignored += 1;
                continue;
            }
            match c.status {
                Status::Pass => s.pass += 1,
                Status::Warn => s.warn += 1,
                Status::Fail => s.fail += 1,
                Status::Skip => s.skip += 1,
                Status::Error => s.error += 1,
            }
        }
        s
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Tool {
    pub name: &'static str,
    pub version: &'static str,
}

impl Default for Tool {
    fn default() -> Self {
        Tool {
            name: "media-doctor",
            version: env!("CARGO_PKG_VERSION"),
        }
    }
}

/// The whole run: what was discovered (`site`, free-form but stable keys) and every check's result.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub schema_version: u32,
    pub tool: Tool,
    pub site: SiteFacts,
    pub checks: Vec<CheckResult>,
    pub summary: Summary,
}

/// The report's `site` object: the facts as free-form JSON (read through `Deref`), and the
/// site's server blocks, kept compact and written in place of `nginx.servers` (one site may have
/// 360,000 servers: as JSON values they took ~1.5 KB each, more than the config itself).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SiteFacts {
    pub value: serde_json::Value,
    /// When set, `value["nginx"]["servers"]` is a placeholder these are written in place of.
    pub servers: Option<ServerList>,
}

/// Server blocks as the report lists them (`{"file", "line", "names"}`), their files named once
/// and every server's names back to back in one text: a name a boxed string of its own and a
/// boxed list of them per server was ~70 bytes a server (one site lists 360,000).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServerList {
    pub files: Vec<String>,
    servers: Vec<ServerFact>,
    /// Every server's names, back to back.
    names: String,
    /// Where each name ends in `names`.
    ends: Vec<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct ServerFact {
    /// Index in `ServerList::files`.
    file: u32,
    line: u32,
    /// Where its names end in `ServerList::ends` (they start where the server before's end).
    names_end: u32,
}

impl ServerList {
    /// Names a file once; its index for `push`.
    pub fn add_file(&mut self, file: String) -> u32 {
        self.files.push(file);
        (self.files.len() - 1) as u32
    }

    /// Adds a server of the file `add_file` returned `file` for.
    pub fn push<'n>(&mut self, file: u32, line: u32, names: impl IntoIterator<Item = &'n str>) {
        for n in names {
            self.names.push_str(n);
            self.ends.push(Self::offset(self.names.len()));
        }
        let names_end = Self::offset(self.ends.len());
        self.servers.push(ServerFact {
            file,
            line,
            names_end,
        });
    }

    fn offset(n: usize) -> u32 {
        u32::try_from(n).expect("a site's server names are fewer than 4 GiB")
    }

    /// Each server: its file, its line, its names.
    pub fn servers(&self) -> impl Iterator<Item = (&str, u32, impl Iterator<Item = &str>)> {
        let mut start = 0usize;
        self.servers.iter().map(move |s| {
            let (from, to) = (start, s.names_end as usize);
            start = to;
            (
                self.files[s.file as usize].as_str(),
                s.line,
                (from..to).map(|i| self.name(i)),
            )
        })
    }

    /// Name `i` of `ends`.
    fn name(&self, i: usize) -> &str {
        let from = i.checked_sub(1).map_or(0, |p| self.ends[p] as usize);
        &self.names[from..self.ends[i] as usize]
    }

    /// Every name as `f` makes it (the names of each server kept as they are grouped).
    pub fn map_names(&mut self, f: impl Fn(&str) -> std::borrow::Cow<'_, str>) {
        let mut names = String::with_capacity(self.names.len());
        let mut ends = Vec::with_capacity(self.ends.len());
        for i in 0..self.ends.len() {
            names.push_str(&f(self.name(i)));
            ends.push(Self::offset(names.len()));
        }
        (self.names, self.ends) = (names, ends);
    }
}

impl From<serde_json::Value> for SiteFacts {
    fn from(value: serde_json::Value) -> Self {
        SiteFacts {
            value,
            servers: None,
        }
    }
}

impl std::ops::Deref for SiteFacts {
    type Target = serde_json::Value;
    fn deref(&self) -> &serde_json::Value {
        &self.value
    }
}

impl Serialize for SiteFacts {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let (Some(list), serde_json::Value::Object(top)) = (&self.servers, &self.value) else {
            return self.value.serialize(s);
        };
        /// `nginx`, its `servers` written from the list.
        struct Nginx<'a>(
            &'a serde_json::Map<String, serde_json::Value>,
            &'a ServerList,
        );
        impl Serialize for Nginx<'_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut m = s.serialize_map(Some(self.0.len()))?;
                for (k, v) in self.0 {
                    if k == "servers" {
                        m.serialize_entry(k, &Servers(self.1))?;
                    } else {
                        m.serialize_entry(k, v)?;
                    }
                }
                m.end()
            }
        }
        struct Servers<'a>(&'a ServerList);
        impl Serialize for Servers<'_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_seq(self.0.servers().map(|(file, line, names)| {
                    One(file, line, Names(std::cell::Cell::new(Some(names))))
                }))
            }
        }
        struct One<'a, N>(&'a str, u32, Names<N>);
        impl<'a, N: Iterator<Item = &'a str>> Serialize for One<'a, N> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                // The keys in the order a JSON object of the facts has them (sorted).
                let mut m = s.serialize_map(Some(3))?;
                m.serialize_entry("file", self.0)?;
                m.serialize_entry("line", &self.1)?;
                m.serialize_entry("names", &self.2)?;
                m.end()
            }
        }
        /// A server's names, written once.
        struct Names<N>(std::cell::Cell<Option<N>>);
        impl<'a, N: Iterator<Item = &'a str>> Serialize for Names<N> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_seq(self.0.take().into_iter().flatten())
            }
        }
        let mut m = s.serialize_map(Some(top.len()))?;
        for (k, v) in top {
            match v {
                serde_json::Value::Object(nginx) if k == "nginx" => {
                    m.serialize_entry(k, &Nginx(nginx, list))?
                }
                _ => m.serialize_entry(k, v)?,
            }
        }
        m.end()
    }
}

impl Report {
    pub const SCHEMA_VERSION: u32 = 1;

    pub fn new(site: impl Into<SiteFacts>, checks: Vec<CheckResult>) -> Self {
        let summary = Summary::of(&checks);
        Report {
            schema_version: Self::SCHEMA_VERSION,
            tool: Tool::default(),
            site: site.into(),
            checks,
            summary,
        }
    }

    /// True when some check (not ignored by the profile) is at or above the `--fail-on` threshold.
    pub fn fails_at(&self, threshold: FailOn) -> bool {
        self.checks
            .iter()
            .any(|c| c.ignored.is_none() && threshold.counts(c.status))
    }
}

/// `--fail-on`: the lowest status that makes the exit code 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FailOn {
    Error,
    Warning,
    Never,
}

impl FailOn {
    /// Whether a check with this status makes the exit code 1.
    /// A check that errored counts as failing: CI must not go green because a probe broke.
    pub fn counts(self, status: Status) -> bool {
        match self {
            FailOn::Never => false,
            FailOn::Error => status >= Status::Fail,
            FailOn::Warning => status >= Status::Warn,
        }
    }

    /// Whether something of this severity makes the exit code 1 (`trace`, which judges one URL
    /// rather than checks).
    pub fn counts_severity(self, severity: Severity) -> bool {
        match self {
            FailOn::Never => false,
            FailOn::Error => severity >= Severity::Error,
            FailOn::Warning => severity >= Severity::Warning,
        }
    }
}

/// Config fixes as data: what a fix changes in one block (a location, a server), so that every
/// fix to the same block can be merged into one final block, printed once, and proven on a copy
/// of the configuration before it is printed (`fix::prove`). Directives are named by their node
/// in the loaded configuration (`nginx::NodeId`).
pub mod edit {
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    /// A finding's config fix: the edit, the line that introduces it, and what it must achieve.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct ConfigFix {
        pub edit: BlockEdit,
        /// `end the alias with a slash, like the location:`.
        pub intro: String,
        pub goal: Option<Goal>,
        /// Where the proven fix lands in its file, line by line (`check --diff`): set on the
        /// finding that prints the merged block, once it is proven.
        pub splices: Vec<Splice>,
    }

    /// What the fixed configuration must do for the failing request.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Goal {
        pub host: String,
        pub port: u16,
        /// The request target (`/media/x.jpg`).
        pub uri: String,
        /// The status meant (200 for a file that exists).
        pub status: Option<u16>,
        /// The file nginx should open (when no real file can be asked for).
        pub path: Option<PathBuf>,
        /// The location that should answer (its pattern: `/media/`).
        pub location: Option<String>,
    }

    /// What becomes of one directive of the block (or of the block itself).
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum Change {
        /// Written as these lines instead (each a whole directive: `alias /srv/media/;`).
        Replace(Vec<String>),
        Drop,
    }

    /// The edits to one block. `block` is a location or server block; `head` rewrites its first
    /// line (`location ^~ /media/`); `changes` are keyed by the directive's node; `append` adds
    /// directives (or whole blocks, one line each) at the end of the block.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct BlockEdit {
        pub block: u32,
        pub head: Option<String>,
        pub changes: BTreeMap<u32, Change>,
        pub append: Vec<String>,
    }

    /// Lines `first..=last` (1-based) of `file` become `lines`; `last == first - 1` inserts
    /// before `first` (`fix::text` computes them from the file).
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Splice {
        pub file: PathBuf,
        pub first: usize,
        pub last: usize,
        pub lines: Vec<String>,
        /// How the fix says it: the whole block at `first`, lines replaced, or lines added.
        pub kind: SpliceKind,
        /// The first line of the block the lines are added to, for an insertion.
        pub within: usize,
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum SpliceKind {
        Block,
        Lines,
        Insert,
    }

    /// Two fixes that want the same directive to read differently: the choice is the user's.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Conflict {
        pub what: String,
    }

    impl BlockEdit {
        pub fn new(block: u32) -> BlockEdit {
            BlockEdit {
                block,
                head: None,
                changes: BTreeMap::new(),
                append: Vec::new(),
            }
        }

        /// Replace one directive with `line` (`alias /srv/media/;`).
        pub fn replace(mut self, directive: u32, line: impl Into<String>) -> BlockEdit {
            self.changes
                .insert(directive, Change::Replace(vec![line.into()]));
            self
        }

        pub fn drop(mut self, directive: u32) -> BlockEdit {
            self.changes.insert(directive, Change::Drop);
            self
        }

        /// Rewrite the block's own first line (without the `{`).
        pub fn head(mut self, head: impl Into<String>) -> BlockEdit {
            self.head = Some(head.into());
            self
        }

        pub fn append(mut self, line: impl Into<String>) -> BlockEdit {
            let line = line.into();
            if !self.append.contains(&line) {
                self.append.push(line);
            }
            self
        }

        /// Both edits as one (same block). Equal changes merge; different ones conflict.
        pub fn merge(&self, other: &BlockEdit) -> Result<BlockEdit, Conflict> {
            if self.block != other.block {
                return Err(Conflict {
                    what: "edits of two different blocks".into(),
                });
            }
            let mut out = self.clone();
            match (&self.head, &other.head) {
                (Some(a), Some(b)) if a != b => {
                    // `location ^~ /media/` and `location /media/` (one fix adds ^~, the other the
                    // slash) compose when one is the other with the modifier added.
                    out.head = Some(compose_heads(a, b).ok_or_else(|| Conflict {
                        what: format!("the block's first line: `{a}` or `{b}`"),
                    })?);
                }
                (None, Some(b)) => out.head = Some(b.clone()),
                _ => {}
            }
            for (id, c) in &other.changes {
                match out.changes.get(id) {
                    Some(existing) if existing != c => {
                        return Err(Conflict {
                            what: format!(
                                "one directive changed two ways: {} or {}",
                                describe(existing),
                                describe(c)
                            ),
                        })
                    }
                    _ => {
                        out.changes.insert(*id, c.clone());
                    }
                }
            }
            for line in &other.append {
                if !out.append.contains(line) {
                    out.append.push(line.clone());
                }
            }
            Ok(out)
        }
    }

    fn describe(c: &Change) -> String {
        match c {
            Change::Replace(lines) => format!("`{}`", lines.join(" ")),
            Change::Drop => "removed".into(),
        }
    }

    /// `location ^~ /media` + `location /media/` → `location ^~ /media/`.
    pub fn compose_heads(a: &str, b: &str) -> Option<String> {
        let words = |h: &str| h.split_whitespace().map(str::to_string).collect::<Vec<_>>();
        let (wa, wb) = (words(a), words(b));
        if wa.first()? != "location" || wb.first()? != "location" {
            return None;
        }
        // (modifier, pattern) of each.
        let split = |w: &[String]| match w.len() {
            2 => Some((None, w[1].clone())),
            3 => Some((Some(w[1].clone()), w[2].clone())),
            _ => None,
        };
        let (ma, pa) = split(&wa)?;
        let (mb, pb) = split(&wb)?;
        let modifier = match (ma, mb) {
            (Some(x), Some(y)) if x != y => return None,
            (Some(x), _) | (_, Some(x)) => Some(x),
            (None, None) => None,
        };
        // The pattern: the one that differs from the original is the change; both changed (and
        // differently) cannot be told apart here, so the longer (the one with the slash) wins only
        // when it extends the other.
        let pattern = if pa == pb {
            pa
        } else if pb.starts_with(&pa) {
            pb
        } else if pa.starts_with(&pb) {
            pa
        } else {
            return None;
        };
        Some(match modifier {
            Some(m) => format!("location {m} {pattern}"),
            None => format!("location {pattern}"),
        })
    }

    /// Merges a list of edits: one per block, in the order the blocks first appear. Edits that
    /// conflict are kept apart (the second is returned with the conflict).
    pub fn merge_all(edits: &[BlockEdit]) -> (Vec<BlockEdit>, Vec<(BlockEdit, Conflict)>) {
        let mut merged: Vec<BlockEdit> = Vec::new();
        let mut conflicts = Vec::new();
        for e in edits {
            match merged.iter_mut().find(|m| m.block == e.block) {
                Some(m) => match m.merge(e) {
                    Ok(x) => *m = x,
                    Err(c) => conflicts.push((e.clone(), c)),
                },
                None => merged.push(e.clone()),
            }
        }
        (merged, conflicts)
    }

    // Apache's fixes (`fix::apache`): Apache's configuration is line-based, so an edit is lines.

    /// What an edit does at its line.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Place {
        /// The line (one directive, one physical line) becomes `lines`.
        Replace,
        /// `lines` go right before it (the section's opening line, or a directive).
        Before,
        /// `lines` go right after it.
        After,
    }

    /// One edit of one file.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct LineEdit {
        pub file: PathBuf,
        pub line: u32,
        pub place: Place,
        /// Indented like the line they replace or sit beside.
        pub lines: Vec<String>,
        /// The line edited as Apache reads it (`ProxyPass / http://...`, `<Directory /srv/>`): shown
        /// beside what goes before or after it, so the printed block reads as the file will.
        pub context: String,
        /// For an `Options` line replaced: its words as they were and the rewrites made of them, so
        /// that two checks' rewrites of the same line compose into one line (`merge`).
        pub options: Option<OptionsEdit>,
    }

    /// A rewrite of one `Options` line (MD503 takes Indexes out, MD505 lets links be followed).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum OptionsRewrite {
        /// Indexes off (`Options None` when nothing is left of an absolute list).
        NoIndexes,
        /// FollowSymLinks on (and `None` and SymLinksIfOwnerMatch, whose owner test Apache makes
        /// even when FollowSymLinks is on, out).
        FollowSymLinks,
    }

    /// An `Options` line's words as they were and the rewrites made of them, in order.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct OptionsEdit {
        pub was: Vec<String>,
        pub rewrites: Vec<OptionsRewrite>,
    }

    /// What an Apache fix must achieve, as a finding keeps it: the request (on the virtual
    /// host's name, port and address), the status meant, the file then opened, and the URL prefix
    /// the fix is about (`fix::apache::Goal`).
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct ApacheGoal {
        pub host: String,
        pub port: u16,
        pub uri: String,
        pub local_addr: Option<std::net::IpAddr>,
        pub status: u16,
        pub path: Option<PathBuf>,
        pub prefix: String,
    }

    /// An Apache fix proven alone, kept with its finding so that fixes of the same lines are
    /// merged into one edit, proven again together and printed once (`checks::fixes`).
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct ApacheFix {
        pub edits: Vec<LineEdit>,
        /// `take Indexes out of the Options that list it:`.
        pub intro: String,
        pub goals: Vec<ApacheGoal>,
    }
}

/// What the grouping of the causes (`render::causes`) reads of a finding, kept as a key: one
/// site of 360,000 servers makes a finding per server for several checks, and those checks'
/// findings are made again as they are written (`checks::Run`), not held. A key is 40 bytes of
/// numbers (`Key`), its few texts (files, URL segments, the ids it names) kept once per check
/// (`Keys`); an MD201 finding was ~900 bytes, its key with its own strings ~100.
pub mod cause {
    use super::{Finding, Severity};
    use crate::fnv::FnvMap;
    use std::hash::{BuildHasher, Hash, Hasher};
    use std::sync::OnceLock;

    /// No number: a key field left empty.
    pub const NONE: u32 = u32::MAX;

    /// A line that is not written as Rust writes a `u32` below 2^31 (`007`, or past 2^31): its
    /// text's number in the `Texts`, with this bit set. Lines as Rust writes them are their own
    /// value, so two places are the same `At` when their `FILE:LINE` texts are the same.
    const ODD: u32 = 1 << 31;

    /// `FILE:LINE` (a finding's place, the block its fix edits): the file's number in a `Texts`
    /// and the line (`ODD`); `file == NONE` for no place.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct At {
        pub file: u32,
        pub line: u32,
    }

    impl At {
        pub const NONE: At = At {
            file: NONE,
            line: 0,
        };

        pub fn get(self) -> Option<At> {
            (self.file != NONE).then_some(self)
        }

        /// The same place with its texts' numbers in another table (`map`: this table's
        /// number -> that one's).
        pub fn mapped(self, map: &[u32]) -> At {
            if self.file == NONE {
                return self;
            }
            At {
                file: map[self.file as usize],
                line: if self.line & ODD != 0 {
                    ODD | map[(self.line & !ODD) as usize]
                } else {
                    self.line
                },
            }
        }

        /// The line as a number (`str::parse`: `007` is 7), when it is one.
        pub fn line_number(self, texts: &Texts) -> Option<u32> {
            if self.line & ODD == 0 {
                Some(self.line)
            } else {
                texts.get(self.line & !ODD).parse().ok()
            }
        }

        /// `FILE:LINE` as it was read, written to `out`.
        pub fn write(self, texts: &Texts, out: &mut impl std::fmt::Write) -> std::fmt::Result {
            out.write_str(texts.get(self.file))?;
            out.write_char(':')?;
            if self.line & ODD == 0 {
                write!(out, "{}", self.line)
            } else {
                out.write_str(texts.get(self.line & !ODD))
            }
        }

        pub fn text(self, texts: &Texts) -> String {
            let mut s = String::with_capacity(texts.get(self.file).len() + 11);
            let _ = self.write(texts, &mut s);
            s
        }
    }

    /// Texts numbered in the order first seen, each kept once.
    #[derive(Debug, Default, Clone)]
    pub struct Texts {
        all: Vec<Box<str>>,
        ids: FnvMap<Box<str>, u32>,
    }

    impl Texts {
        pub fn id(&mut self, s: &str) -> u32 {
            if let Some(&id) = self.ids.get(s) {
                return id;
            }
            let id = u32::try_from(self.all.len())
                .ok()
                .filter(|&id| id & ODD == 0)
                .expect("fewer than 2^31 texts");
            self.all.push(s.into());
            self.ids.insert(s.into(), id);
            id
        }

        pub fn get(&self, id: u32) -> &str {
            &self.all[id as usize]
        }

        pub fn len(&self) -> usize {
            self.all.len()
        }

        pub fn is_empty(&self) -> bool {
            self.all.is_empty()
        }

        /// `FILE`, `LINE` texts as an `At`.
        fn at(&mut self, file: &str, line: &str) -> At {
            let plain = !line.is_empty()
                && line.bytes().all(|b| b.is_ascii_digit())
                && (line.len() == 1 || !line.starts_with('0'));
            let line = match line.parse::<u32>() {
                Ok(n) if plain && n & ODD == 0 => n,
                _ => ODD | self.id(line),
            };
            At {
                file: self.id(file),
                line,
            }
        }

        /// A finding's place as an `At`; `last` is the file's number of the key before (a
        /// check's findings are mostly in one file: one text compare, not a hash).
        fn location(&mut self, file: &str, line: u32, last: u32) -> At {
            if line & ODD != 0 {
                return self.at(file, &line.to_string());
            }
            let file = match last {
                NONE => self.id(file),
                last if *self.get(last) == *file => last,
                _ => self.id(file),
            };
            At { file, line }
        }
    }

    /// What a key says of its finding's fix.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    #[repr(u8)]
    enum Fixed {
        /// No remediation.
        No,
        /// Its fix edits a block (`fix_block`): the key's `fix` holds the block's `At`.
        Block,
        /// A fix of no block: the key's `fix` holds `fix_hash` of it.
        Hash,
    }

    /// One actionable finding (warning or error) as grouping reads it: 40 bytes (a test holds
    /// it there), its texts numbered in its `Keys`'s table.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct Key {
        /// The finding's index in its check's findings.
        pub index: u32,
        pub severity: Severity,
        fixed: Fixed,
        /// The finding's `FILE:LINE` (`At::NONE`: none).
        location: At,
        /// `referenced_ids`, joined by spaces (the check ids it names other than its own
        /// check's), as a text's number; `NONE` when it names none or edits a block.
        refs: u32,
        /// `url_segment` as a text's number, or `NONE`.
        segment: u32,
        /// The `At` of the block its fix edits (`Fixed::Block`, the first two), or its fix's
        /// `fix_hash` (`Fixed::Hash`): a finding that edits a block is grouped by the block
        /// alone.
        fix: [u32; 4],
    }

    impl Key {
        pub fn location(&self) -> Option<At> {
            self.location.get()
        }

        /// `fix_block`.
        pub fn block(&self) -> Option<At> {
            (self.fixed == Fixed::Block).then_some(At {
                file: self.fix[0],
                line: self.fix[1],
            })
        }

        /// `fix_hash` of its fix, when it has one and that edits no block.
        pub fn fix(&self) -> Option<u128> {
            (self.fixed == Fixed::Hash).then(|| {
                self.fix
                    .iter()
                    .fold(0u128, |h, &w| (h << 32) | u128::from(w))
            })
        }

        pub fn has_remediation(&self) -> bool {
            self.fixed != Fixed::No
        }

        /// The text (in its `Keys`) of the check ids it names, joined by spaces, when it edits
        /// no block.
        pub fn refs(&self) -> Option<u32> {
            (self.refs != NONE).then_some(self.refs)
        }

        pub fn segment(&self) -> Option<u32> {
            (self.segment != NONE).then_some(self.segment)
        }
    }

    /// The keys of one check's actionable findings, in the order of their index, and the texts
    /// they number.
    #[derive(Debug, Default, Clone)]
    pub struct Keys {
        keys: Vec<Key>,
        texts: Texts,
        /// `referenced_ids` joined, reused.
        scratch: String,
    }

    impl Keys {
        /// The keys of the actionable findings of `findings`, those of check `own`.
        pub fn of_findings(findings: &[Finding], own: &str) -> Keys {
            let mut keys = Keys::default();
            keys.keys.reserve_exact(
                findings
                    .iter()
                    .filter(|f| f.severity > Severity::Info)
                    .count(),
            );
            for (i, f) in findings.iter().enumerate() {
                if f.severity > Severity::Info {
                    keys.push(f, own, i as u32);
                }
            }
            keys
        }

        /// Keep the key of `f`, finding `index` of check `own` (after the keys kept before).
        pub fn push(&mut self, f: &Finding, own: &str, index: u32) {
            let last = self.keys.last().map_or(NONE, |k| k.location.file);
            let texts = &mut self.texts;
            let location = f
                .location
                .as_ref()
                .map_or(At::NONE, |l| texts.location(&l.file, l.line, last));
            let (fixed, fix) = match &f.remediation {
                None => (Fixed::No, [0; 4]),
                Some(r) => match fix_block_at(f) {
                    Some((file, line)) => {
                        let at = texts.at(file, line);
                        // Grouped by its block alone: its fix and the ids it names are not
                        // read (nor looked for: MD110's every finding edits a block).
                        let key = Key {
                            index,
                            severity: f.severity,
                            fixed: Fixed::Block,
                            location,
                            refs: NONE,
                            segment: url_segment(f).map_or(NONE, |s| texts.id(s)),
                            fix: [at.file, at.line, 0, 0],
                        };
                        self.keys.push(key);
                        return;
                    }
                    None => (Fixed::Hash, hash_words(fix_hash(&r.text, &r.commands))),
                },
            };
            self.scratch.clear();
            each_referenced_id(f, own, |id| {
                if !self.scratch.is_empty() {
                    self.scratch.push(' ');
                }
                self.scratch.push_str(id);
            });
            let refs = if self.scratch.is_empty() {
                NONE
            } else {
                texts.id(&self.scratch)
            };
            let segment = url_segment(f).map_or(NONE, |s| texts.id(s));
            self.keys.push(Key {
                index,
                severity: f.severity,
                fixed,
                location,
                refs,
                segment,
                fix,
            });
        }

        pub fn keys(&self) -> &[Key] {
            &self.keys
        }

        pub fn texts(&self) -> &Texts {
            &self.texts
        }

        pub fn len(&self) -> usize {
            self.keys.len()
        }

        pub fn is_empty(&self) -> bool {
            self.keys.is_empty()
        }

        /// Let go of the room grown for more keys (a check's keys are kept until the report is
        /// written).
        pub fn shrink_to_fit(&mut self) {
            self.keys.shrink_to_fit();
            self.scratch = String::new();
        }
    }

    /// `fix_hash` as `Key::fix` holds it (`Key::fix` reads it back).
    fn hash_words(h: u128) -> [u32; 4] {
        let w = |i: u32| (h >> (96 - 32 * i)) as u32;
        [w(0), w(1), w(2), w(3)]
    }

    /// A fix (its text and commands) as two 64-bit SipHashes under keys of this process: findings
    /// whose fixes are the same join one cause, whether the finding is held or only its key is.
    /// Two different fixes share it with a chance of 2^-128; the keys are random, so no input
    /// can be made to.
    pub fn fix_hash(text: &str, commands: &[String]) -> u128 {
        static KEYS: OnceLock<(std::hash::RandomState, std::hash::RandomState)> = OnceLock::new();
        let (a, b) = KEYS.get_or_init(Default::default);
        let one = |s: &std::hash::RandomState| {
            let mut h = s.build_hasher();
            text.hash(&mut h);
            commands.hash(&mut h);
            h.finish()
        };
        (u128::from(one(a)) << 64) | u128::from(one(b))
    }

    /// The block a fix edits: the `FILE:LINE` of its `# FILE:LINE` comment. (Not the block's
    /// first line: a fix may rewrite it, `location ^~ /media/`.)
    pub fn fix_block(f: &Finding) -> Option<String> {
        fix_block_at(f).map(|(file, line)| format!("{file}:{line}"))
    }

    /// `fix_block`, as the `FILE` and `LINE` of the fix's text.
    fn fix_block_at(f: &Finding) -> Option<(&str, &str)> {
        fix_block_in(&f.remediation.as_ref()?.text)
    }

    /// `fix_block_at` of a remediation's text.
    fn fix_block_in(text: &str) -> Option<(&str, &str)> {
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
            let (file, n) = at.rsplit_once(':')?;
            if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            return Some((file, n));
        }
        None
    }

    /// Check ids (MD + three digits) a finding names, other than its own check's.
    pub fn referenced_ids(f: &Finding, own: &str) -> Vec<String> {
        let mut ids = Vec::new();
        each_referenced_id(f, own, |id| ids.push(id.to_string()));
        ids
    }

    /// `referenced_ids`, each handed to `each` once, in order.
    fn each_referenced_id<'f>(f: &'f Finding, own: &str, each: impl FnMut(&'f str)) {
        let texts = std::iter::once(f.message.as_str())
            .chain(f.evidence.iter().map(|e| e.value.as_str()))
            .chain(f.remediation.as_ref().map(|r| r.text.as_str()));
        each_id_in(texts, own, each);
    }

    /// The check ids `texts` name other than `own`, each handed to `each` once, in order.
    fn each_id_in<'f>(
        texts: impl Iterator<Item = &'f str>,
        own: &str,
        mut each: impl FnMut(&'f str),
    ) {
        let mut seen: [&str; 8] = [""; 8];
        let mut more: Vec<&str> = Vec::new();
        let mut n = 0;
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
                    let known = seen[..n.min(8)].contains(&id) || more.contains(&id);
                    if id != own && !known {
                        if n < 8 {
                            seen[n] = id;
                        } else {
                            more.push(id);
                        }
                        n += 1;
                        each(id);
                    }
                }
                i = start + 2;
            }
        }
    }

    /// The first path segment of the URL a finding is about (`media` for `GET /media/a.jpg`).
    pub fn url_segment(f: &Finding) -> Option<&str> {
        f.evidence
            .iter()
            .filter(|e| matches!(e.label.as_str(), "url" | "urls" | "request"))
            .flat_map(|e| e.value.split_whitespace())
            .find(|w| w.starts_with('/'))
            .and_then(|path| path.trim_start_matches('/').split('/').next())
            .filter(|s| !s.is_empty())
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use crate::report::Location;

        /// What is held per actionable finding let go (one site of 360,000 servers: a million).
        #[test]
        fn a_key_is_40_bytes() {
            assert_eq!(std::mem::size_of::<Key>(), 40);
        }

        #[test]
        fn places_are_the_same_at_when_their_texts_are() {
            let mut t = Texts::default();
            let a = t.at("/etc/nginx/a", "7");
            assert_eq!(a, t.location("/etc/nginx/a", 7, NONE));
            assert_eq!(a, t.location("/etc/nginx/a", 7, a.file));
            let zero = t.at("/etc/nginx/a", "007");
            assert_ne!(zero, a);
            assert_eq!(zero.line_number(&t), Some(7));
            assert_eq!(zero.text(&t), "/etc/nginx/a:007");
            let far = t.location("/etc/nginx/a", 3_000_000_000, NONE);
            assert_eq!(far, t.at("/etc/nginx/a", "3000000000"));
            assert_eq!(far.line_number(&t), Some(3_000_000_000));
            assert_eq!(far.text(&t), "/etc/nginx/a:3000000000");
            let huge = t.at("/x:y", "99999999999");
            assert_eq!(huge.line_number(&t), None);
            assert_eq!(huge.text(&t), "/x:y:99999999999");
        }

        #[test]
        fn a_key_reads_what_grouping_reads() {
            let block = Finding::error("see MD101")
                .evidence("url", "/media/x.jpg")
                .at(Location::new("/etc/nginx/app", 4))
                .fix_with_block(
                    "do this:",
                    &["# /etc/nginx/app:3".into(), "location /media/ {".into()],
                    vec![],
                );
            let plain = Finding::warning("x (MD999): see MD101 and MD105, MD101 again")
                .at(Location::new("/etc/nginx/app", 9))
                .fix("chown", vec!["sudo chown a /b".into()]);
            let mut keys = Keys::default();
            keys.push(&block, "MD999", 0);
            keys.push(&plain, "MD999", 5);
            let [b, p] = keys.keys() else {
                panic!("two keys")
            };
            let t = keys.texts();
            assert_eq!(b.block().unwrap().text(t), "/etc/nginx/app:3");
            assert_eq!(b.location().unwrap().text(t), "/etc/nginx/app:4");
            assert_eq!(b.fix(), None);
            // Grouped by its block alone: the ids it names are not looked for.
            assert_eq!(b.refs(), None);
            assert_eq!(t.get(b.segment().unwrap()), "media");
            assert_eq!(p.index, 5);
            assert_eq!(p.block(), None);
            assert_eq!(t.get(p.refs().unwrap()), "MD101 MD105");
            assert_eq!(p.location().unwrap().file, b.location().unwrap().file);
            let r = plain.remediation.as_ref().unwrap();
            assert_eq!(p.fix(), Some(fix_hash(&r.text, &r.commands)));
            assert!(p.has_remediation());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn band_names_are_their_json_names() {
        for band in Band::ALL {
            assert_eq!(serde_json::to_value(band).unwrap(), band.name());
        }
    }

    #[test]
    fn site_facts_with_a_server_list_write_as_the_json_value_of_the_same_facts() {
        let facts = |servers: serde_json::Value| {
            serde_json::json!({
                "name": "s",
                "nginx": {"files": ["/etc/nginx/nginx.conf"], "kind": "main", "servers": servers},
                "worker": null,
            })
        };
        let mut list = ServerList::default();
        let a = list.add_file("/etc/nginx/a".into());
        let b = list.add_file("/etc/nginx/b".into());
        list.push(a, 3, ["a.example", "b\u{1b}"]);
        list.push(b, 9, []);
        list.push(a, 12, ["c"]);
        let compact = SiteFacts {
            value: facts(serde_json::json!([])),
            servers: Some(list),
        };
        let whole = facts(serde_json::json!([
            {"file": "/etc/nginx/a", "line": 3, "names": ["a.example", "b\u{1b}"]},
            {"file": "/etc/nginx/b", "line": 9, "names": []},
            {"file": "/etc/nginx/a", "line": 12, "names": ["c"]},
        ]));
        assert_eq!(
            serde_json::to_string_pretty(&compact).unwrap(),
            serde_json::to_string_pretty(&whole).unwrap()
        );
        assert_eq!(
            serde_json::to_string(&compact).unwrap(),
            serde_json::to_string(&whole).unwrap()
        );
        // Without a list, or with facts that have no nginx object: the value as it is.
        let plain = SiteFacts::from(whole.clone());
        assert_eq!(serde_json::to_value(&plain).unwrap(), whole);
    }

    #[test]
    fn a_finding_shrunk_to_fit_is_the_same_finding_at_its_length() {
        let mut f = Finding::error(format!("{} is missing", "/srv/www/s1/media"))
            .at(Location::new(format!("{}/big", "/etc/nginx/sites"), 4))
            .evidence("path", "/srv/www/s1/media")
            .evidence_lines("walk", ["/", "srv"])
            .fix(
                format!("{}:", "correct the path"),
                vec![format!("sudo mkdir -p {}", "/srv/www/s1/media")],
            );
        let was = f.clone();
        assert!(f.evidence.capacity() > f.evidence.len());
        f.shrink_to_fit();
        assert_eq!(f, was);
        assert_eq!(f.message.capacity(), f.message.len());
        assert_eq!(f.evidence.capacity(), f.evidence.len());
        let rem = f.remediation.as_ref().unwrap();
        assert_eq!(rem.text.capacity(), rem.text.len());
        assert_eq!(rem.commands[0].capacity(), rem.commands[0].len());
    }

    #[test]
    fn page_sections_are_found_and_fences_are_not_headings() {
        let meta = Meta {
            id: "MD999",
            name: "test",
            band: Band::Nginx,
            summary: "",
            docs: "# MD999 test\n\n## What it checks\nThis.\n\n## How to fix\n```sh\n# a comment\nrun\n```\n\n## Example\nx\n",
        };
        assert_eq!(meta.section("What it checks"), Some("This."));
        assert_eq!(
            meta.section("How to fix"),
            Some("```sh\n# a comment\nrun\n```")
        );
        assert_eq!(meta.section("Example"), Some("x"));
        assert_eq!(meta.section("Why it breaks media"), None);
    }
}
