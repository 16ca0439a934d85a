//! Where a block edit lands in its file, as lines: the printed fix says what to write at which
//! line (the one block to add, or the lines to replace, not the whole server block again), and
//! `check --diff` shows the same as a unified diff of each file.
//!
//! The loaded config knows where a directive starts, not where it ends, so the file is read
//! again and scanned the way nginx's reader does (quotes, backslash escapes, `#` comments). An
//! edit whose place cannot be told line by line (a block that shares its lines with others, a
//! file that no longer reads as it did) has no splice: the caller prints the whole block.

use super::edit::{render, render_block, BlockEdit, Change};
use crate::nginx::{Config, Directive};
use crate::sysroot::SysRoot;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

pub use crate::report::edit::{Splice, SpliceKind};

/// A config file's lines, read where a fix needs them: where every `MARK`th line starts is
/// kept, the text is read from the file a window at a time and a line found from the mark
/// before it. One file may hold 500,000 server blocks (50 MB): its whole text, held while every
/// fix of a big site was settled, was the largest thing in memory then, and the start of every
/// line (4 bytes a line, 7 MB) the next largest. The fixes of a file are settled in the order
/// of its blocks, so the window in hand serves nearly every line asked for.
pub struct FileText {
    file: std::fs::File,
    /// The file's length when it was read: lines are read within it.
    len: u64,
    /// How many lines it has.
    lines: usize,
    /// Where line `k * MARK` starts, for each `k`.
    marks: Vec<u32>,
    window: Mutex<Window>,
}

/// The bytes of a `FileText` last read, and the line last found.
#[derive(Default)]
struct Window {
    /// Where `held` starts in the file.
    at: u64,
    held: Vec<u8>,
    /// The last line `get` found, and where it starts: the next line asked for (nearly
    /// always the next one) is found from it rather than from its mark.
    line: usize,
    start: u64,
}

/// How much of the file is read at a time.
const WINDOW: usize = 64 << 10;

/// Every how many lines a line's start is kept (`FileText::marks`): a line is found by reading
/// at most this many lines on from its mark (~3 KB of a server block's lines, in the window).
const MARK: usize = 32;

impl FileText {
    /// The file's lines, when it reads as UTF-8 text of fewer than 4 GiB.
    pub fn read(path: &Path) -> Option<FileText> {
        use std::io::Read;
        let mut file = std::fs::File::open(path).ok()?;
        let mut marks = vec![0u32];
        // Lines begun (the first at 0), and where the last one begins.
        let mut begun = 1usize;
        let mut last = 0u64;
        // A small file (one site's of a box of 10,000) is read in one buffer of its size; room
        // for a character cut by the end of a read (4 bytes) in any case.
        let size = file.metadata().map_or(WINDOW as u64, |m| m.len() + 1);
        let mut buf = vec![0u8; usize::try_from(size).unwrap_or(WINDOW).clamp(8, WINDOW)];
        // Bytes of a UTF-8 sequence cut by the end of a read, carried to the next.
        let mut carried = 0usize;
        let mut len = 0u64;
        loop {
            let n = match file.read(&mut buf[carried..]) {
                Ok(0) if carried > 0 => return None,
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => return None,
            };
            let read = &buf[carried..carried + n];
            for i in memchr::memchr_iter(b'\n', read) {
                last = len + i as u64 + 1;
                if begun % MARK == 0 {
                    marks.push(u32::try_from(last).ok()?);
                }
                begun += 1;
            }
            len += n as u64;
            let have = carried + n;
            carried = match std::str::from_utf8(&buf[..have]) {
                Ok(_) => 0,
                // Cut at the end of this read: the rest comes with the next.
                Err(e) if e.error_len().is_none() => have - e.valid_up_to(),
                Err(_) => return None,
            };
            buf.copy_within(have - carried..have, 0);
        }
        u32::try_from(len).ok()?;
        // As `str::lines`: no empty line after the last newline.
        if last == len {
            begun -= 1;
            if begun % MARK == 0 {
                marks.pop();
            }
        }
        marks.shrink_to_fit();
        Some(FileText {
            file,
            len,
            lines: begun,
            marks,
            window: Mutex::default(),
        })
    }

    pub fn len(&self) -> usize {
        self.lines
    }

    pub fn is_empty(&self) -> bool {
        self.lines == 0
    }

    /// Line `i` (0-based), without its line end. None past the last line, or when the file
    /// no longer reads as it did.
    pub fn get(&self, i: usize) -> Option<String> {
        if i >= self.lines {
            return None;
        }
        let mut window = self.window.lock().unwrap_or_else(|e| e.into_inner());
        // From the mark before it (or the line last found, when that is nearer), on past the
        // line ends before it, to the end of line `i`.
        let (mut line, mut start) = (i / MARK * MARK, u64::from(*self.marks.get(i / MARK)?));
        if (line..=i).contains(&window.line) {
            (line, start) = (window.line, window.start);
        }
        while line < i {
            start = self.line_end(&mut window, start)?;
            line += 1;
        }
        let end = self.line_end(&mut window, start)?;
        (window.line, window.start) = (i, start);
        let held = |at: u64| usize::try_from(at - window.at).ok();
        let bytes = window.held.get(held(start)?..held(end)?)?;
        let mut line = String::from_utf8(bytes.to_vec()).ok()?;
        for end in ['\n', '\r'] {
            if line.ends_with(end) {
                line.pop();
            }
        }
        Some(line)
    }

    /// Where the line that starts at `start` ends (past its `\n`; the file's end for the last
    /// line), that line then in the window (read again when it is not).
    fn line_end(&self, window: &mut Window, start: u64) -> Option<u64> {
        use std::os::unix::fs::FileExt;
        // The window from `start` is searched; read again when it does not hold the line's
        // end, as far as the line goes (a line longer than a window: twice as far each time).
        let mut size = WINDOW;
        loop {
            let end = window.at + window.held.len() as u64;
            if (window.at..=end).contains(&start) {
                let from = usize::try_from(start - window.at).ok()?;
                if let Some(n) = memchr::memchr(b'\n', &window.held[from..]) {
                    return Some(start + n as u64 + 1);
                }
                if end >= self.len {
                    return (start < self.len).then_some(self.len);
                }
            }
            let want = usize::try_from(self.len.checked_sub(start)?)
                .ok()?
                .min(size);
            if want == 0 {
                return None;
            }
            window.held.resize(want, 0);
            self.file.read_exact_at(&mut window.held, start).ok()?;
            window.at = start;
            size = size.checked_mul(2)?;
        }
    }
}

/// The files the fixes of one report are in, each read once (None: it could not be read). In a
/// check over every site, a file that also holds other sites' servers (many servers in
/// nginx.conf itself) is read once per box, not once per site: `box_wide` names those files
/// and holds their texts, shared by the sites.
#[derive(Default)]
pub struct Texts {
    own: HashMap<PathBuf, Option<Arc<FileText>>>,
    box_wide: Option<(HashSet<PathBuf>, Arc<BoxTexts>)>,
}

/// The texts of the files several sites of a box have fixes in.
pub type BoxTexts = Mutex<HashMap<PathBuf, Option<Arc<FileText>>>>;

impl Texts {
    /// Texts that take `files` from `shared` (read there once for every site of the box).
    pub fn sharing(files: HashSet<PathBuf>, shared: Arc<BoxTexts>) -> Texts {
        Texts {
            own: HashMap::new(),
            box_wide: (!files.is_empty()).then_some((files, shared)),
        }
    }

    pub fn get(&mut self, root: &SysRoot, file: &Path) -> Option<Arc<FileText>> {
        let read = || FileText::read(&root.host_path(file)).map(Arc::new);
        match &self.box_wide {
            Some((files, shared)) if files.contains(file) => shared
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .entry(file.to_path_buf())
                .or_insert_with(read)
                .clone(),
            _ => self
                .own
                .entry(file.to_path_buf())
                .or_insert_with(read)
                .clone(),
        }
    }
}

/// Where one statement of `lines` ends: the line of its `;`, or of the `}` that closes its block.
/// `start` is 0-based (line, byte column). None when the text ends first.
fn statement_end(lines: &FileText, start: (usize, usize)) -> Option<(usize, usize)> {
    let mut depth = 0usize;
    let mut quote: Option<u8> = None;
    for i in start.0..lines.len() {
        let line = lines.get(i)?;
        let b = line.as_bytes();
        let mut j = if i == start.0 { start.1 } else { 0 };
        while j < b.len() {
            let c = b[j];
            match quote {
                Some(q) => {
                    if c == b'\\' {
                        j += 1;
                    } else if c == q {
                        quote = None;
                    }
                }
                None => match c {
                    b'#' => break,
                    b'"' | b'\'' => quote = Some(c),
                    b'\\' => j += 1,
                    b'{' => depth += 1,
                    b';' if depth == 0 => return Some((i, j)),
                    b'}' => {
                        depth = depth.checked_sub(1)?;
                        if depth == 0 {
                            return Some((i, j));
                        }
                    }
                    _ => {}
                },
            }
            j += 1;
        }
    }
    None
}

/// Whether only blanks (and a comment) follow byte `at` on `line`.
fn ends_line(line: &str, at: usize) -> bool {
    let rest = line.get(at + 1..).unwrap_or("").trim_start();
    rest.is_empty() || rest.starts_with('#')
}

/// The 0-based line range of directive `d` when it stands on lines of its own.
fn own_lines(lines: &FileText, d: &Directive<'_>) -> Option<(usize, usize)> {
    let first = (d.line() as usize).checked_sub(1)?;
    let text = lines.get(first)?;
    let col = (d.column() as usize).saturating_sub(1);
    // The directive starts its line, and its name is where the loader saw it.
    if !text.get(..col)?.trim().is_empty() || !text.get(col..)?.starts_with(d.name()) {
        return None;
    }
    let (last, at) = statement_end(lines, (first, col))?;
    ends_line(&lines.get(last)?, at).then_some((first, last))
}

fn indent(line: &str) -> &str {
    &line[..line.len() - line.trim_start().len()]
}

/// Lines `first..=last` of `lines` (block `d` on lines of its own) with `e` applied, the file's
/// text kept wherever the edit leaves it: comments, blank lines and unchanged directives as
/// written. None when the block has no comment or blank line to keep (it is rendered, as
/// before), or its text does not split into one statement per run of lines.
fn kept_text(
    lines: &FileText,
    d: &Directive<'_>,
    (first, last): (usize, usize),
    e: &BlockEdit,
) -> Option<Vec<String>> {
    let worth = (first..=last).any(|i| {
        lines
            .get(i)
            .is_some_and(|l| l.trim().is_empty() || l.contains('#'))
    });
    if !worth {
        return None;
    }
    let mut out = Vec::new();
    kept_block(lines, d, (first, last), e, &mut out)?;
    Some(out)
}

/// `kept_text` of one block (nested blocks an edit reaches are walked the same way).
fn kept_block(
    lines: &FileText,
    d: &Directive<'_>,
    (first, last): (usize, usize),
    e: &BlockEdit,
    out: &mut Vec<String>,
) -> Option<()> {
    let is_edited = e.block == d.id();
    let head = lines.get(first)?;
    // The `{` ends the first line; the `}` stands alone on the last.
    let open = block_open(&head, (d.column() as usize).checked_sub(1)?)?;
    let close = lines.get(last)?;
    if last == first || !ends_line(&head, open) || close.trim_start().get(..1) != Some("}") {
        return None;
    }
    if !ends_line(&close, close.len() - close.trim_start().len()) {
        return None;
    }
    match &e.head {
        Some(h) if is_edited => {
            let comment = head.get(open + 1..).unwrap_or("").trim();
            let sep = if comment.is_empty() { "" } else { " " };
            out.push(format!("{}{h} {{{sep}{comment}", indent(&head)));
        }
        _ => out.push(head.to_string()),
    }
    let mut at = first + 1;
    let mut inner: Option<String> = None;
    let push_text = |out: &mut Vec<String>, pad: &str, text: &str| {
        for l in text.lines() {
            out.push(if l.is_empty() {
                String::new()
            } else {
                format!("{pad}{l}")
            });
        }
    };
    for c in d.raw_children() {
        if c.file_id() != d.file_id() {
            return None;
        }
        let (a, b) = own_lines(lines, &c)?;
        if a < at || b >= last {
            return None;
        }
        kept_gap(lines, at, a, out)?;
        let pad = indent(&lines.get(a)?).to_string();
        match e.changes.get(&c.id()) {
            Some(Change::Drop) => {}
            Some(Change::Replace(ls)) => ls.iter().for_each(|l| push_text(out, &pad, l)),
            None if changes_within(&c, e) => kept_block(lines, &c, (a, b), e, out)?,
            None => {
                for i in a..=b {
                    out.push(lines.get(i)?.to_string());
                }
            }
        }
        inner.get_or_insert(pad);
        at = b + 1;
    }
    kept_gap(lines, at, last, out)?;
    if is_edited {
        let pad = inner.unwrap_or_else(|| format!("{}    ", indent(&head)));
        e.append.iter().for_each(|l| push_text(out, &pad, l));
    }
    out.push(close.to_string());
    Some(())
}

/// Lines `from..to` between two statements: kept when each is blank or a comment.
fn kept_gap(lines: &FileText, from: usize, to: usize, out: &mut Vec<String>) -> Option<()> {
    for i in from..to {
        let l = lines.get(i)?;
        let t = l.trim();
        if !t.is_empty() && !t.starts_with('#') {
            return None;
        }
        out.push(if t.is_empty() {
            String::new()
        } else {
            l.to_string()
        });
    }
    Some(())
}

/// Whether `e` changes a directive inside `d`'s block (at any depth).
fn changes_within(d: &Directive<'_>, e: &BlockEdit) -> bool {
    d.raw_children()
        .any(|c| e.changes.contains_key(&c.id()) || changes_within(&c, e))
}

/// The byte of the `{` that opens the block of the statement starting at `col` of `line`, when
/// it is on that line.
fn block_open(line: &str, col: usize) -> Option<usize> {
    let b = line.as_bytes();
    let mut quote: Option<u8> = None;
    let mut j = col;
    while j < b.len() {
        let c = b[j];
        match quote {
            Some(_) if c == b'\\' => j += 1,
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None => match c {
                b'#' | b';' | b'}' => return None,
                b'"' | b'\'' => quote = Some(c),
                b'\\' => j += 1,
                b'{' => return Some(j),
                _ => {}
            },
        }
        j += 1;
    }
    None
}

/// Whether two texts hold the same statements as nginx reads them (comments and layout aside).
fn same_statements(a: &str, b: &str) -> bool {
    use crate::nginx::lexer::{Lexer, Tok};
    fn next(l: &mut Lexer<'_>) -> Option<Option<(u8, String)>> {
        let t = l.next_token();
        Some(match t.tok {
            Tok::Word { span, cooked, .. } => {
                Some((0, cooked.unwrap_or_else(|| l.source()[span].to_string())))
            }
            Tok::Semicolon => Some((1, String::new())),
            Tok::BlockStart => Some((2, String::new())),
            Tok::BlockEnd => Some((3, String::new())),
            Tok::LuaBody { span } => Some((4, l.source()[span].to_string())),
            Tok::Error(_) => return None,
            Tok::Eof => None,
        })
    }
    let (mut x, mut y) = (Lexer::new(a), Lexer::new(b));
    loop {
        match (next(&mut x), next(&mut y)) {
            (Some(p), Some(q)) if p == q => {
                if p.is_none() {
                    return true;
                }
            }
            _ => return false,
        }
    }
}

/// The splices of `e`, or None when its place cannot be told line by line.
pub fn splices(
    texts: &mut Texts,
    root: &SysRoot,
    cfg: &Config,
    e: &BlockEdit,
) -> Option<Vec<Splice>> {
    let d = cfg.directive(e.block);
    let file = d.file().to_path_buf();
    let lines = texts.get(root, &file)?;
    let lines = &*lines;
    let (first, last) = own_lines(lines, &d)?;
    let pad = indent(&lines.get(first)?).to_string();
    let in_own_file = |c: &Directive<'_>| c.file_id() == d.file_id();
    // A server edited in its own directives only: the lines that change, and the blocks added
    // before its closing brace. A location (or a new first line) is short: the whole block.
    let lines_only = d.is("server")
        && e.head.is_none()
        && e.changes.keys().all(|&id| {
            let c = cfg.directive(id);
            !c.has_block() && in_own_file(&c)
        });
    if !lines_only {
        let mut block = String::new();
        render_block(&d, 0, Some(e), &mut block);
        // The block's own comments and blank lines are kept (with the lines the edit leaves as
        // they were), when its text still reads as the rendered block: what is printed is what
        // was proven.
        let lines = kept_text(lines, &d, (first, last), e)
            .filter(|kept| same_statements(&kept.join("\n"), &block))
            .unwrap_or_else(|| block.lines().map(|l| format!("{pad}{l}")).collect());
        return Some(vec![Splice {
            file,
            first: first + 1,
            last: last + 1,
            lines,
            kind: SpliceKind::Block,
            within: first + 1,
        }]);
    }
    let mut out = Vec::new();
    for (&id, change) in &e.changes {
        let c = cfg.directive(id);
        let (a, b) = own_lines(lines, &c)?;
        let inner = indent(&lines.get(a)?).to_string();
        let new = match change {
            Change::Replace(ls) => ls.iter().map(|l| format!("{inner}{l}")).collect(),
            Change::Drop => Vec::new(),
        };
        out.push(Splice {
            file: file.clone(),
            first: a + 1,
            last: b + 1,
            lines: new,
            kind: SpliceKind::Lines,
            within: first + 1,
        });
    }
    if !e.append.is_empty() {
        // The closing brace must open its line: the lines go in just before it.
        if !lines.get(last)?.trim_start().starts_with('}') || last == first {
            return None;
        }
        let inner = format!("{pad}    ");
        let added: Vec<String> = e
            .append
            .iter()
            .flat_map(|l| l.lines())
            .map(|l| {
                if l.is_empty() {
                    String::new()
                } else {
                    format!("{inner}{l}")
                }
            })
            .collect();
        out.push(Splice {
            file: file.clone(),
            first: last + 1,
            last,
            lines: added,
            kind: SpliceKind::Insert,
            within: first + 1,
        });
    }
    Some(out)
}

/// The fix as printed: each splice with the line it goes to (`# FILE:LINE ...`), or the whole
/// block (`render`) when its place cannot be told line by line (`splices` None).
pub fn shown(cfg: &Config, e: &BlockEdit, splices: Option<&[Splice]>) -> String {
    let Some(splices) = splices else {
        return render(cfg, e);
    };
    let mut out = String::new();
    for s in splices {
        let f = s.file.display();
        // Printed without the file's indentation: the reader pastes at the place named.
        let common = s
            .lines
            .iter()
            .filter(|l| !l.trim().is_empty())
            .map(|l| indent(l).len())
            .min()
            .unwrap_or(0);
        let body: Vec<&str> = s
            .lines
            .iter()
            .map(|l| l.get(common..).unwrap_or(""))
            .collect();
        match s.kind {
            SpliceKind::Block => out.push_str(&format!("# {f}:{}\n", s.first)),
            SpliceKind::Lines if s.lines.is_empty() => {
                out.push_str(&format!("# {f}:{}: delete {}\n", s.first, span(s)));
                continue;
            }
            SpliceKind::Lines => {
                out.push_str(&format!("# {f}:{}: replace {} with\n", s.first, span(s)))
            }
            SpliceKind::Insert => {
                out.push_str(&format!("# {f}:{}: add before this line\n", s.first))
            }
        }
        for l in body {
            out.push_str(l);
            out.push('\n');
        }
    }
    out
}

fn span(s: &Splice) -> String {
    if s.last > s.first {
        format!("lines {}-{}", s.first, s.last)
    } else {
        "this line".into()
    }
}

/// `text` with `splices` applied (all of one file, not overlapping).
pub fn apply(text: &str, splices: &[&Splice]) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let mut order: Vec<&&Splice> = splices.iter().collect();
    // From the end, so earlier line numbers stay right; an insertion after a replacement of
    // the lines before it.
    order.sort_by_key(|s| std::cmp::Reverse((s.first, s.last)));
    for s in order {
        let (a, b) = (s.first - 1, s.last.min(lines.len()));
        lines.splice(a..b, s.lines.iter().cloned());
    }
    let mut out = lines.join("\n");
    if text.ends_with('\n') || text.is_empty() {
        out.push('\n');
    }
    out
}

/// `s` without the lines it leaves as they are (at its start and end); None when it changes
/// nothing.
fn tighten(a: &[&str], s: &Splice) -> Option<Splice> {
    let old = a.get(s.first - 1..s.last.min(a.len())).unwrap_or(&[]);
    let new = &s.lines;
    let mut pre = 0;
    while pre < old.len() && pre < new.len() && old[pre] == new[pre] {
        pre += 1;
    }
    let mut suf = 0;
    while suf < old.len() - pre
        && suf < new.len() - pre
        && old[old.len() - 1 - suf] == new[new.len() - 1 - suf]
    {
        suf += 1;
    }
    if pre + suf == old.len() && pre + suf == new.len() {
        return None;
    }
    Some(Splice {
        first: s.first + pre,
        last: s.last.min(a.len()) - suf,
        lines: new[pre..new.len() - suf].to_vec(),
        ..s.clone()
    })
}

/// A unified diff (`diff -u`, 3 lines of context) of `old` with `splices` applied; `path` is
/// relative to the filesystem root (`--- a/etc/nginx/...`: `patch -p1` from `/`).
pub fn unified(path: &str, old: &str, splices: &[&Splice]) -> String {
    let a: Vec<&str> = old.lines().collect();
    // Only the lines that change: a block printed whole keeps most of its lines.
    let tight: Vec<Splice> = splices.iter().filter_map(|s| tighten(&a, s)).collect();
    let mut order: Vec<&Splice> = tight.iter().collect();
    order.sort_by_key(|s| (s.first, s.last));
    // Hunks: runs of splices whose contexts touch.
    let mut hunks: Vec<Vec<&Splice>> = Vec::new();
    for s in order {
        match hunks.last_mut() {
            Some(h) if h.last().is_some_and(|p| p.last + 6 >= s.first - 1) => h.push(s),
            _ => hunks.push(vec![s]),
        }
    }
    let mut out = format!("--- a/{path}\n+++ b/{path}\n");
    let mut shift: isize = 0;
    for h in hunks {
        let start = h[0].first.saturating_sub(3).max(1);
        let end = (h[h.len() - 1].last + 3).min(a.len());
        let mut body = Vec::new();
        let mut at = start;
        let (mut old_n, mut new_n) = (0usize, 0usize);
        for s in &h {
            while at < s.first {
                body.push(format!(" {}", a[at - 1]));
                at += 1;
                old_n += 1;
                new_n += 1;
            }
            for l in &a[s.first - 1..s.last.min(a.len())] {
                body.push(format!("-{l}"));
                old_n += 1;
            }
            for l in &s.lines {
                body.push(format!("+{l}"));
                new_n += 1;
            }
            at = s.last + 1;
        }
        while at <= end {
            body.push(format!(" {}", a[at - 1]));
            at += 1;
            old_n += 1;
            new_n += 1;
        }
        let new_start = (start as isize + shift).max(if new_n == 0 { 0 } else { 1 });
        let old_start = if old_n == 0 { start - 1 } else { start };
        out.push_str(&format!(
            "@@ -{old_start},{old_n} +{new_start},{new_n} @@\n"
        ));
        for l in body {
            out.push_str(&l);
            out.push('\n');
        }
        shift += new_n as isize - old_n as isize;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fix::edit::BlockEdit;

    fn setup(text: &str) -> (tempfile::TempDir, Config) {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("etc/nginx/nginx.conf");
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        let root = SysRoot::new(tmp.path());
        let cfg =
            crate::nginx::load_files(&root, std::path::Path::new("/etc/nginx/nginx.conf")).unwrap();
        (tmp, cfg)
    }

    fn find<'c>(cfg: &'c Config, name: &str, arg: &str) -> Directive<'c> {
        cfg.depth_first()
            .map(|(_, d)| d)
            .find(|d| d.is(name) && d.args().any(|a| a == arg))
            .unwrap()
    }

    const CONF: &str = "events {}\nhttp {\n    server {\n        listen 80;\n        server_name a.test b.test; # both\n        location / {\n            proxy_pass http://127.0.0.1:8000;\n        }\n    }\n}\n";

    #[test]
    fn a_new_location_is_the_lines_to_add_and_where() {
        let (tmp, cfg) = setup(CONF);
        let root = SysRoot::new(tmp.path());
        let server = cfg.servers()[0].id();
        let e = BlockEdit::new(server).append("location ^~ /media/ {\n    alias /srv/m/;\n}");
        let s = splices(&mut Texts::default(), &root, &cfg, &e).unwrap();
        let shown = shown(&cfg, &e, Some(&s));
        assert_eq!(
            shown,
            "# /etc/nginx/nginx.conf:9: add before this line\nlocation ^~ /media/ {\n    alias /srv/m/;\n}\n"
        );
        let new = apply(CONF, &s.iter().collect::<Vec<_>>());
        assert!(
            new.contains("        }\n        location ^~ /media/ {\n            alias /srv/m/;\n        }\n    }\n}\n"),
            "{new}"
        );
        let diff = unified("etc/nginx/nginx.conf", CONF, &s.iter().collect::<Vec<_>>());
        assert_eq!(
            diff,
            "--- a/etc/nginx/nginx.conf\n+++ b/etc/nginx/nginx.conf\n@@ -6,5 +6,8 @@\n         location / {\n             proxy_pass http://127.0.0.1:8000;\n         }\n+        location ^~ /media/ {\n+            alias /srv/m/;\n+        }\n     }\n }\n"
        );
    }

    #[test]
    fn a_server_level_line_is_replaced_alone() {
        let (tmp, cfg) = setup(CONF);
        let root = SysRoot::new(tmp.path());
        let server = cfg.servers()[0].id();
        let name = find(&cfg, "server_name", "a.test").id();
        let e = BlockEdit::new(server).replace(name, "server_name a.test;");
        assert_eq!(
            shown(
                &cfg,
                &e,
                splices(&mut Texts::default(), &root, &cfg, &e).as_deref()
            ),
            "# /etc/nginx/nginx.conf:5: replace this line with\nserver_name a.test;\n"
        );
        // A location is printed whole, at its own line.
        let loc = find(&cfg, "location", "/").id();
        let e = BlockEdit::new(loc).head("location ^~ /");
        let s = splices(&mut Texts::default(), &root, &cfg, &e).unwrap();
        assert_eq!(
            (s[0].first, s[0].last, s[0].kind),
            (6, 8, SpliceKind::Block)
        );
        assert_eq!(s[0].lines[0], "        location ^~ / {");
    }

    #[test]
    fn a_block_sharing_its_line_has_no_splice() {
        let text = "events {}\nhttp { server { listen 80; location / { return 200; } } }\n";
        let (tmp, cfg) = setup(text);
        let root = SysRoot::new(tmp.path());
        let loc = find(&cfg, "location", "/").id();
        assert_eq!(
            splices(
                &mut Texts::default(),
                &root,
                &cfg,
                &BlockEdit::new(loc).head("location = /")
            ),
            None
        );
        // Quotes and comments do not end a statement; a CRLF file reads as LF.
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("t.conf");
        std::fs::write(&file, "a \"x;}\" 'y\\';' # ;\r\n  b;\n").unwrap();
        let lines = FileText::read(&file).unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!(statement_end(&lines, (0, 0)), Some((1, 3)));
    }

    /// Lines are read a window at a time: a line across two windows, a character cut by the
    /// end of a read, lines asked for out of order, all read as the file has them; a file that
    /// is not UTF-8 has no lines.
    #[test]
    fn lines_read_by_window_are_the_files_lines() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("big.conf");
        let mut text = String::new();
        for i in 0..20_000 {
            text.push_str(&format!(
                "    server_name é{i}.example.com; # {}\n",
                "ü".repeat(i % 7)
            ));
        }
        text.push_str("last line without an end");
        std::fs::write(&file, &text).unwrap();
        let lines = FileText::read(&file).unwrap();
        let want: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), want.len());
        for i in (0..want.len()).rev().step_by(997).chain(0..want.len()) {
            assert_eq!(lines.get(i).as_deref(), Some(want[i]), "line {i}");
        }
        assert_eq!(lines.get(want.len()), None);
        // Around the marks (every `MARK` lines), with and without a last line end, an empty
        // line, and a line longer than two windows.
        let long = "x".repeat(3 * WINDOW + 5);
        for n in [0, 1, MARK - 1, MARK, MARK + 1, 2 * MARK, 2 * MARK + 1] {
            for end in ["", "\n", "\r\n"] {
                let mut text: Vec<String> = (0..n).map(|i| format!("line {i};")).collect();
                if n > 2 {
                    text[1] = String::new();
                    text[n / 2] = long.clone();
                }
                let sep = if end.is_empty() { "\n" } else { end };
                let text = text.join(sep) + end;
                std::fs::write(&file, &text).unwrap();
                let lines = FileText::read(&file).unwrap();
                let want: Vec<&str> = text.lines().collect();
                assert_eq!(lines.len(), want.len(), "{n} lines, end {end:?}");
                for i in (0..want.len()).chain((0..want.len()).rev()) {
                    assert_eq!(lines.get(i).as_deref(), Some(want[i]), "{n}: line {i}");
                }
                assert_eq!(lines.get(want.len()), None);
            }
        }
        std::fs::write(&file, b"a;\n\xff;\n").unwrap();
        assert!(FileText::read(&file).is_none());
    }

    #[test]
    fn a_block_printed_whole_keeps_its_comments() {
        let text = "events {}\nhttp {\n    server {\n        listen 80;\n        # uploads, see #42\n        location /media {   # the shop's\n            # keep: the CDN reads this\n            add_header X-A a;\n\n            alias /srv/m;  # no slash\n            autoindex on;\n            location ~ \\.php$ {\n                # never run uploads\n                return 403;\n            }\n            # end\n        }\n    }\n}\n";
        let (tmp, cfg) = setup(text);
        let root = SysRoot::new(tmp.path());
        let loc = find(&cfg, "location", "/media").id();
        let alias = find(&cfg, "alias", "/srv/m").id();
        let listing = find(&cfg, "autoindex", "on").id();
        let ret = find(&cfg, "return", "403").id();
        let e = BlockEdit::new(loc)
            .head("location ^~ /media/")
            .replace(alias, "alias /srv/m/;")
            .drop(listing)
            .replace(ret, "return 404;")
            .append("add_header X-Content-Type-Options nosniff always;");
        let s = splices(&mut Texts::default(), &root, &cfg, &e).unwrap();
        assert_eq!(
            (s[0].first, s[0].last, s[0].kind),
            (6, 17, SpliceKind::Block)
        );
        assert_eq!(
            shown(&cfg, &e, Some(&s)),
            "# /etc/nginx/nginx.conf:6\nlocation ^~ /media/ { # the shop's\n    # keep: the CDN reads this\n    add_header X-A a;\n\n    alias /srv/m/;\n    location ~ \\.php$ {\n        # never run uploads\n        return 404;\n    }\n    # end\n    add_header X-Content-Type-Options nosniff always;\n}\n"
        );
        // The text printed is the block proven: the same statements as the rendered one.
        let mut block = String::new();
        render_block(&cfg.directive(loc), 0, Some(&e), &mut block);
        assert!(same_statements(&s[0].lines.join("\n"), &block));
        assert!(!same_statements("a b;", "a c;") && !same_statements("a {", "a {}"));
        // A block whose text does not split into statements by lines is rendered, comments lost.
        let text = "events {}\nhttp {\n    server {\n        listen 80;\n        location /media { # x\n            alias /srv/m; autoindex on;\n        }\n    }\n}\n";
        let (tmp, cfg) = setup(text);
        let root = SysRoot::new(tmp.path());
        let loc = find(&cfg, "location", "/media").id();
        let e = BlockEdit::new(loc).head("location ^~ /media");
        let s = splices(&mut Texts::default(), &root, &cfg, &e).unwrap();
        assert_eq!(
            s[0].lines,
            [
                "        location ^~ /media {",
                "            alias /srv/m;",
                "            autoindex on;",
                "        }"
            ]
        );
    }
}
