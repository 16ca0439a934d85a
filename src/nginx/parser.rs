//! Tokens → directive nodes in the `Config` arena, for one file.
//!
//! The parser is context-free (which directive may sit where is checked later, in `context.rs`,
//! once includes are linked) and iterative: blocks are an explicit stack, so a file nested 100,000
//! levels deep cannot overflow the call stack. Blocks deeper than `MAX_DEPTH` are still read (to
//! keep the braces balanced) but dropped from the tree with one located error, which also bounds
//! the depth every later consumer of the tree may recurse to.
//!
//! Errors use nginx's own wording (`unexpected "}"`, `unexpected end of file, expecting ";" or
//! "}"`) and never stop the parse: an unterminated statement is dropped, a stray `}` ignored, a
//! nameless `{` kept as a nameless block, and parsing goes on, so one typo does not hide the rest
//! of the tree. Past `MAX_DIAGNOSTICS_PER_FILE` errors in the file they are only counted
//! (`Config::omitted`): a file of 500,000 `{` is read in linear time and reports 20 of them.

use super::ast::{
    Config, Diagnostic, FileId, NewNode, Node, NodeId, Omitted, MAX_DEPTH, MAX_DIAGNOSTICS_PER_FILE,
};
use super::context::{self, NameId};
use super::lexer::{Lexer, Tok, Token};
use std::ops::Range;
use std::path::Path;

/// What the loader needs from one parsed file (it cannot read the arena's text until the end).
#[derive(Debug, Default)]
pub(crate) struct ParsedFile {
    /// Top-level node ids, in order.
    pub top: Vec<NodeId>,
    /// Every `include` node of the file, in file order (at any depth), with its argument's number
    /// in `IncludeArgs` when it has exactly one.
    pub includes: Vec<(NodeId, Option<u32>)>,
    /// Top-level directive names and whether each has a block (to tell a main config from a fragment).
    pub top_names: Vec<(String, bool)>,
}

/// The distinct `include` arguments seen, numbered from 0 in order of first appearance.
///
/// The 10,000-site bench config has 60,000 includes naming six snippets: the loader resolves
/// each argument once, by number. Numbering here, while the argument is in cache, is what keeps
/// that cheap (looking every include's text up again afterwards means a cache miss per include).
#[derive(Debug, Default, Clone)]
pub(crate) struct IncludeArgs {
    numbers: crate::fnv::FnvMap<String, u32>,
    pub names: Vec<String>,
}

impl IncludeArgs {
    pub fn number(&mut self, arg: &str) -> u32 {
        if let Some(&n) = self.numbers.get(arg) {
            return n;
        }
        let n = self.names.len() as u32;
        self.numbers.insert(arg.to_string(), n);
        self.names.push(arg.to_string());
        n
    }
}

/// The parser's working vectors, kept by the arena from one file to the next (10,000 small
/// files would otherwise grow fresh ones each).
#[derive(Default)]
pub(crate) struct Scratch {
    frames: Vec<Frame>,
    kids: Vec<NodeId>,
    words: Vec<Range<u32>>,
}

struct Frame {
    /// The block's directive, or None for the file's top level.
    node: Option<NodeId>,
    /// Where this block's children start in `Parser::kids`.
    kids_start: usize,
    /// Beyond MAX_DEPTH: read, not kept.
    dropped: bool,
    /// An `upstream` block, whose closing line is kept (`Config::block_ends`).
    upstream: bool,
}

struct Parser<'p> {
    cfg: &'p mut Config,
    file: FileId,
    path: &'p Path,
    /// The arena's text (`Config::text` once loaded): every word that is not a known name, as
    /// nginx sees it (escapes processed), back to back.
    text: &'p mut String,
    /// The statement's name (`context::name_id`).
    name: NameId,
    /// The text's length before the statement's words: what it is cut back to when the
    /// statement is dropped (the text holds only the words of nodes, back to back).
    stmt_text: usize,
    frames: &'p mut Vec<Frame>,
    kids: &'p mut Vec<NodeId>,
    words: &'p mut Vec<Range<u32>>,
    stmt_line: u32,
    stmt_column: u32,
    includes: Vec<(NodeId, Option<u32>)>,
    include_args: &'p mut IncludeArgs,
    top_names: Vec<(String, bool)>,
    want_top_names: bool,
    depth_reported: bool,
    /// Errors listed so far.
    errors: usize,
    /// Errors past `MAX_DIAGNOSTICS_PER_FILE`, counted.
    omitted: Option<Omitted>,
}

/// Where the parsed text goes: words in `text` (the arena's), include arguments numbered in
/// `include_args`.
pub(crate) struct Placement<'p> {
    pub text: &'p mut String,
    pub include_args: &'p mut IncludeArgs,
    pub scratch: &'p mut Scratch,
    /// Also report the top-level names (for the entry file).
    pub want_top_names: bool,
}

/// Parse `src` (the text of `file`) into `cfg`. Diagnostics go to `cfg.diagnostics`.
pub(crate) fn parse_file(
    cfg: &mut Config,
    file: FileId,
    path: &Path,
    src: &str,
    at: Placement<'_>,
) -> ParsedFile {
    let Scratch {
        frames,
        kids,
        words,
    } = at.scratch;
    frames.clear();
    frames.push(Frame {
        node: None,
        kids_start: 0,
        dropped: false,
        upstream: false,
    });
    kids.clear();
    words.clear();
    let mut p = Parser {
        cfg,
        file,
        path,
        text: at.text,
        name: 0,
        stmt_text: 0,
        frames,
        kids,
        words,
        stmt_line: 0,
        stmt_column: 0,
        includes: Vec::new(),
        include_args: at.include_args,
        top_names: Vec::new(),
        want_top_names: at.want_top_names,
        depth_reported: false,
        errors: 0,
        omitted: None,
    };
    let mut lexer = Lexer::new(src);
    loop {
        let t = lexer.next_token();
        if !p.step(t, src) {
            break;
        }
    }
    let top = p.kids.to_vec();
    if let Some(o) = p.omitted {
        p.cfg.omitted.push(o);
    }
    ParsedFile {
        top,
        includes: p.includes,
        top_names: p.top_names,
    }
}

/// A word's text in the arena's text.
fn word_at<'s>(text: &'s str, r: &Range<u32>) -> &'s str {
    &text[r.start as usize..r.end as usize]
}

impl Parser<'_> {
    fn error(&mut self, line: u32, column: u32, message: impl Into<String>) {
        if self.errors >= MAX_DIAGNOSTICS_PER_FILE {
            let path = self.path;
            self.omitted
                .get_or_insert_with(|| Omitted::new(Some(path.to_path_buf())))
                .add(line, column, true);
            return;
        }
        self.errors += 1;
        self.cfg.diagnostics.push(Diagnostic {
            file: self.path.to_path_buf(),
            line,
            column,
            message: message.into(),
            fatal: true,
        });
    }

    fn dropping(&self) -> bool {
        self.frames.last().is_some_and(|f| f.dropped)
    }

    /// A word of the statement: a known directive name is not copied (its `NameId` says it),
    /// any other word is appended to the text.
    fn push_word(
        &mut self,
        src: &str,
        line: u32,
        column: u32,
        span: Range<usize>,
        cooked: Option<String>,
    ) {
        let w = cooked.as_deref().unwrap_or(&src[span]);
        if self.words.is_empty() {
            self.stmt_line = line;
            self.stmt_column = column;
            self.stmt_text = self.text.len();
            self.name = context::name_id(w);
            if context::is_known(self.name) {
                // A place holder: the name's word is not kept.
                self.words.push(0..0);
                return;
            }
        }
        let at = self.text.len() as u32;
        self.text.push_str(w);
        self.words.push(at..at + w.len() as u32);
    }

    /// Forget the words in hand, and their text.
    fn drop_statement(&mut self) {
        self.words.clear();
        self.text.truncate(self.stmt_text);
    }

    /// The statement's name.
    fn stmt_name(&self) -> &str {
        match context::known_name(self.name) {
            Some(name) => name,
            None => word_at(self.text, &self.words[0]),
        }
    }

    /// Turn the words in hand into a node; returns its id (None when dropped for depth).
    fn emit(&mut self, block: bool) -> Option<NodeId> {
        if self.dropping() {
            self.drop_statement();
            return None;
        }
        let name = self.stmt_name();
        let is_include = name == "include" && !block;
        let is_if = name == "if";
        let top_name = (self.want_top_names && self.frames.len() == 1).then(|| name.to_string());
        if let Some(name) = top_name {
            self.top_names.push((name, block));
        }
        let include_arg = if is_include && self.words.len() == 2 {
            let arg = word_at(self.text, &self.words[1]);
            Some(self.include_args.number(arg))
        } else {
            None
        };
        if is_if {
            self.strip_if_parens();
        }
        let first = self.cfg.words.len() as u32;
        let skip = usize::from(context::is_known(self.name));
        let words = self.words.get(skip..).unwrap_or(&[]);
        self.cfg.words.extend(words.iter().map(|w| w.start));
        self.words.clear();
        // An include is linked to the set of its argument (set 0, none, when it has not one
        // argument); the loader fills the sets.
        let set = include_arg.map_or(Node::NO_FILES, |a| a + 1);
        let id = self.cfg.push_node(NewNode {
            words: first..self.cfg.words.len() as u32,
            kids: if is_include { set..set + 1 } else { 0..0 },
            file: self.file,
            line: self.stmt_line,
            column: self.stmt_column,
            name: self.name,
            block,
            include: is_include,
        });
        self.kids.push(id);
        if is_include {
            self.includes.push((id, include_arg));
        }
        Some(id)
    }

    /// nginx's rewrite module reads `if (cond)` without the parentheses; so do we: `(` off the
    /// first argument, `)` off the last, and an argument left empty disappears. The arguments
    /// are the last words of the text (`if` is a known name): the `(` is taken out of it, the
    /// words after it moved back, and the `)` is its last byte.
    fn strip_if_parens(&mut self) {
        let (first, last) = (1, self.words.len());
        if first >= last {
            return;
        }
        let opens = word_at(self.text, &self.words[first]).starts_with('(');
        let closes = word_at(self.text, &self.words[last - 1]).ends_with(')');
        if !(opens && closes) {
            return;
        }
        self.text.remove(self.words[first].start as usize);
        self.words[first].end -= 1;
        for w in &mut self.words[first + 1..] {
            *w = w.start - 1..w.end - 1;
        }
        self.text.pop();
        self.words[last - 1].end -= 1;
        if self.words[last - 1].is_empty() {
            self.words.pop();
        }
        if first < self.words.len() && self.words[first].is_empty() {
            self.words.remove(first);
        }
    }

    fn open_block(&mut self, line: u32, column: u32) {
        if self.words.is_empty() {
            // nginx: `unexpected "{"`. Keep the block, nameless, so its braces still balance
            // and its contents stay visible.
            self.error(line, column, "unexpected \"{\"");
            self.stmt_line = line;
            self.stmt_column = column;
            self.stmt_text = self.text.len();
            self.name = context::name_id("");
            let at = self.text.len() as u32;
            self.words.push(at..at);
        }
        let depth = self.frames.len(); // the top level is frame 0
        let upstream = self.stmt_name() == "upstream";
        let node = self.emit(true);
        let dropped = self.dropping() || depth > MAX_DEPTH;
        if depth > MAX_DEPTH && !self.depth_reported {
            self.depth_reported = true;
            self.error(
                line,
                column,
                format!("blocks nested more than {MAX_DEPTH} levels deep: the deeper ones are not examined"),
            );
        }
        self.frames.push(Frame {
            node,
            kids_start: self.kids.len(),
            dropped,
            upstream,
        });
    }

    /// `line`: where the closing `}` is (None at the end of the file).
    fn close_block(&mut self, line: Option<u32>) {
        let Some(frame) = self.frames.pop() else {
            return;
        };
        if let (true, Some(id), Some(line)) = (frame.upstream, frame.node, line) {
            self.cfg.block_ends.push((id, line));
        }
        let start = self.cfg.children.len() as u32;
        self.cfg
            .children
            .extend(self.kids.drain(frame.kids_start..));
        if let Some(id) = frame.node {
            self.cfg.nodes[id as usize].kids = start..self.cfg.children.len() as u32;
        }
    }

    /// One token; false at the end of the file.
    fn step(&mut self, t: Token, src: &str) -> bool {
        let (line, column) = (t.line, t.column);
        match t.tok {
            Tok::Word { span, cooked, .. } => self.push_word(src, line, column, span, cooked),
            Tok::Semicolon => {
                if self.words.is_empty() {
                    self.error(line, column, "unexpected \";\"");
                } else {
                    self.emit(false);
                }
            }
            Tok::BlockStart => self.open_block(line, column),
            Tok::BlockEnd => {
                if !self.words.is_empty() {
                    // The unterminated statement is dropped (as crossplane does): nginx never
                    // accepted it, and guessing where it ended could invent a directive.
                    self.error(line, column, "unexpected \"}\"");
                    self.drop_statement();
                }
                if self.frames.len() == 1 {
                    self.error(line, column, "unexpected \"}\"");
                } else {
                    self.close_block(Some(line));
                }
            }
            Tok::LuaBody { span } => {
                self.push_word(src, line, column, span, None);
                self.emit(false);
            }
            Tok::Error(msg) => self.error(line, column, msg),
            Tok::Eof => {
                if !self.words.is_empty() {
                    self.error(
                        line,
                        column,
                        "unexpected end of file, expecting \";\" or \"}\"",
                    );
                    self.drop_statement();
                }
                if self.frames.len() > 1 {
                    self.error(line, column, "unexpected end of file, expecting \"}\"");
                    while self.frames.len() > 1 {
                        self.close_block(None);
                    }
                }
                return false;
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(src: &str) -> (Config, ParsedFile) {
        let mut cfg = Config::default();
        cfg.files.push(crate::nginx::SourceFile {
            path: "/t.conf".into(),
            top: 0..0,
        });
        let mut text = String::new();
        let mut include_args = IncludeArgs::default();
        let mut scratch = Scratch::default();
        let at = Placement {
            text: &mut text,
            include_args: &mut include_args,
            scratch: &mut scratch,
            want_top_names: true,
        };
        let p = parse_file(&mut cfg, 0, Path::new("/t.conf"), src, at);
        cfg.text = text;
        let start = cfg.children.len() as u32;
        cfg.children.extend_from_slice(&p.top);
        cfg.files[0].top = start..cfg.children.len() as u32;
        (cfg, p)
    }

    fn errors(cfg: &Config) -> Vec<String> {
        cfg.diagnostics
            .iter()
            .map(|d| format!("{}:{}: {}", d.line, d.column, d.message))
            .collect()
    }

    #[test]
    fn builds_the_tree() {
        let (cfg, p) = parse("http {\n  server { listen 80; include a/*.conf; }\n}\nuser x;");
        let top: Vec<_> = cfg.file_raw_top(0).collect();
        assert_eq!(top.len(), 2);
        assert_eq!(top[0].name(), "http");
        let server = top[0].raw_children().next().unwrap();
        assert_eq!(
            (server.name(), server.line(), server.column()),
            ("server", 2, 3)
        );
        let kids: Vec<_> = server.raw_children().map(|d| d.name()).collect();
        assert_eq!(kids, ["listen", "include"]);
        assert_eq!(p.includes.len(), 1);
        assert_eq!(top[1].args().collect::<Vec<_>>(), ["x"]);
        assert!(errors(&cfg).is_empty());
    }

    #[test]
    fn if_parentheses_are_removed() {
        let (cfg, _) = parse("if ($a = \"b c\") { } if ( -f $x ) { }");
        let ifs: Vec<Vec<&str>> = cfg.file_raw_top(0).map(|d| d.args().collect()).collect();
        assert_eq!(ifs, [vec!["$a", "=", "b c"], vec!["-f", "$x"]]);
    }

    #[test]
    fn words_are_written_back_to_back_and_only_kept_ones() {
        // Known names (`server`, `if`, `listen`) have no text; a dropped statement (`b 1`
        // before a stray `}`, `c` at the end) leaves none; an empty word is still a word.
        let src = "server { listen 80; my_x \"\" é; if (a) { } b 1 }\nlast \"(z)\";\nc";
        let (cfg, _) = parse(src);
        assert_eq!(cfg.text, "80my_xéalast(z)");
        let all: Vec<(&str, Vec<&str>)> = Config::depth_first(&cfg)
            .map(|(_, d)| (d.name(), d.args().collect()))
            .collect();
        assert_eq!(
            all,
            [
                ("server", vec![]),
                ("listen", vec!["80"]),
                ("my_x", vec!["", "é"]),
                ("if", vec!["a"]),
                ("last", vec!["(z)"]),
            ]
        );
        let last = cfg.file_raw_top(0).nth(1).unwrap();
        assert_eq!(
            (last.arg(0), last.arg(1), last.arg_count()),
            (Some("(z)"), None, 1)
        );
        // The `if`'s parentheses come out of the text, the words after them moved back.
        let (cfg, _) = parse("if ( $a = \"b\" ) { } if (x) { } if () { } k v;");
        assert_eq!(cfg.text, "$a=bxkv");
        let ifs: Vec<Vec<&str>> = cfg.file_raw_top(0).map(|d| d.args().collect()).collect();
        assert_eq!(ifs, [vec!["$a", "=", "b"], vec!["x"], vec![], vec!["v"]]);
        // A nameless block: an empty name, still a word.
        let (cfg, _) = parse("{ x; }");
        let top = cfg.file_raw_top(0).next().unwrap();
        assert_eq!((top.name(), top.arg_count(), top.is("")), ("", 0, true));
    }

    #[test]
    fn wide_columns_and_each_nodes_file() {
        // Columns up to u16's last value but one are on the node, the others beside it.
        let line = |col: usize| format!("{}c{col};", " ".repeat(col - 1));
        let src = [65_534, 65_535, 70_001, 2].map(line).join("\n");
        let (cfg, _) = parse(&src);
        let columns: Vec<u32> = cfg.file_raw_top(0).map(|d| d.column()).collect();
        assert_eq!(columns, [65_534, 65_535, 70_001, 2]);
        assert_eq!(cfg.wide_columns.len(), 2);
        // Files parsed one after the other (one of them empty) into one arena, and one parsed
        // again at the end (as the fix prover's overlay does): each node knows its file.
        let (mut cfg, _) = parse("a; b { c; }");
        let mut text = std::mem::take(&mut cfg.text);
        let mut include_args = IncludeArgs::default();
        let mut scratch = Scratch::default();
        for (file, src) in [(1, "d;"), (2, ""), (3, "e { f; }"), (1, "g;")] {
            let at = Placement {
                text: &mut text,
                include_args: &mut include_args,
                scratch: &mut scratch,
                want_top_names: false,
            };
            parse_file(&mut cfg, file, Path::new("/u.conf"), src, at);
        }
        cfg.text = text;
        let files: Vec<(&str, FileId)> = (0..cfg.nodes.len() as NodeId)
            .map(|id| (cfg.directive(id).name(), cfg.directive(id).file_id()))
            .collect();
        let want = [
            ("a", 0),
            ("b", 0),
            ("c", 0),
            ("d", 1),
            ("e", 3),
            ("f", 3),
            ("g", 1),
        ];
        assert_eq!(files, want);
    }

    #[test]
    fn nginx_errors_and_recovery() {
        let (cfg, _) = parse("a {\n b 1 }\n}\n}\n;\nc");
        assert_eq!(
            errors(&cfg),
            [
                "2:6: unexpected \"}\"",
                "3:1: unexpected \"}\"",
                "4:1: unexpected \"}\"",
                "5:1: unexpected \";\"",
                "6:2: unexpected end of file, expecting \";\" or \"}\""
            ]
        );
        let names: Vec<_> = cfg.file_raw_top(0).map(|d| d.name()).collect();
        assert_eq!(names, ["a"]);
        let (cfg, _) = parse("a {\n b {");
        assert_eq!(
            errors(&cfg),
            ["2:5: unexpected end of file, expecting \"}\""]
        );
    }

    #[test]
    fn deep_nesting_is_bounded_not_recursive() {
        let depth = 100_000;
        let src = format!("{}{}", "a {".repeat(depth), "}".repeat(depth));
        let (cfg, _) = parse(&src);
        assert_eq!(cfg.diagnostics.len(), 1, "{:?}", errors(&cfg));
        assert!(cfg.diagnostics[0].message.contains("nested more than"));
        assert_eq!(cfg.nodes.len(), MAX_DEPTH + 1);
    }

    #[test]
    fn errors_past_the_first_of_the_file_are_counted() {
        let (cfg, _) = parse(&"}".repeat(1000));
        assert_eq!(cfg.diagnostics.len(), MAX_DIAGNOSTICS_PER_FILE);
        assert_eq!(cfg.diagnostics[0].column, 1);
        let o = &cfg.omitted;
        assert_eq!(o.len(), 1);
        let first = MAX_DIAGNOSTICS_PER_FILE as u32 + 1;
        assert_eq!((o[0].count, o[0].fatal), (980, 980));
        assert_eq!((o[0].line, o[0].column), (1, first));
    }
}
