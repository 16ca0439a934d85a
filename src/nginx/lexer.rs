//! The nginx config tokenizer, following nginx's own `ngx_conf_read_token` (src/core/ngx_conf_file.c)
//! rule for rule, because the resolver reasons on the arguments nginx would see:
//!
//! - blanks are space, tab, CR and LF; `;` and `{` end a word; `}` only counts at the start of a
//!   token (`foo}` is one word, as in nginx);
//! - `#` starts a comment only at the start of a token (`a#b` is one word);
//! - a token starting with `"` or `'` runs to the matching unescaped quote, and must be followed by
//!   a blank, `;`, `{` or `)`, else nginx says `unexpected "x"`;
//! - `\` escapes the next byte while scanning; the stored word is then "cooked" as nginx does:
//!   `\"`, `\'`, `\\` become the character, `\t`, `\r`, `\n` the control character, and any other
//!   `\x` stays as the two bytes (so regexes keep `\.`);
//! - `${` does not open a block: `${host}x` is one word;
//! - a `*_by_lua_block` directive's body is raw Lua (lua-nginx-module's own tokenizer: braces
//!   inside Lua strings, long brackets and comments do not count), returned as one token.
//!
//! Tokens borrow from the source: a word is a span of it unless cooking changed the bytes.
//! The grammar pieces are nom parsers over bytes (every delimiter is ASCII, so spans always fall
//! on UTF-8 boundaries of the `&str` source). Errors never stop the lexer: they come out as
//! located `Error` tokens and scanning goes on, so one mistake does not hide the rest of a file.

use memchr::{memchr, memchr_iter, memrchr};
use nom::bytes::complete::tag;
use nom::sequence::delimited;
use nom::{IResult, Parser};
use std::ops::Range;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tok {
    /// An argument (or directive name). `span` is the raw text (inside the quotes for a quoted
    /// word); `cooked` is set only when escape processing changed it.
    Word {
        span: Range<usize>,
        cooked: Option<String>,
        quoted: bool,
    },
    Semicolon,
    BlockStart,
    BlockEnd,
    /// The raw body of a `*_by_lua_block { ... }`, braces excluded. It ends the directive.
    LuaBody {
        span: Range<usize>,
    },
    /// A located problem; the lexer has already skipped past it.
    Error(String),
    Eof,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub tok: Tok,
    pub line: u32,
    pub column: u32,
    /// Byte offset of the token's first byte in the source.
    pub offset: usize,
}

pub struct Lexer<'a> {
    src: &'a str,
    pos: usize,
    line: u32,
    line_start: usize,
    /// Words seen in the current statement (the first is the directive name).
    words: u32,
    /// The current statement is a `*_by_lua_block`: its `{` opens raw Lua.
    lua: bool,
    /// An error found just after a token, returned by the next call.
    pending: Option<Token>,
}

type In<'a> = &'a [u8];

fn is_blank(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

/// Byte classes for the word scanner, so the hot loop is one table lookup per byte.
const WORD: u8 = 0;
const STOP: u8 = 1;
const ESCAPE: u8 = 2;
const DOLLAR: u8 = 3;
static CLASS: [u8; 256] = {
    let mut t = [WORD; 256];
    t[b' ' as usize] = STOP;
    t[b'\t' as usize] = STOP;
    t[b'\r' as usize] = STOP;
    t[b'\n' as usize] = STOP;
    t[b';' as usize] = STOP;
    t[b'{' as usize] = STOP;
    t[b'\\' as usize] = ESCAPE;
    t[b'$' as usize] = DOLLAR;
    t
};

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// Eight bytes at `k` as one little-endian word (the caller checks `k + 8 <= b.len()`).
#[inline(always)]
fn eight(b: &[u8], k: usize) -> u64 {
    u64::from_le_bytes(b[k..k + 8].try_into().unwrap_or([0; 8]))
}

/// The high bit of each byte of `x` equal to `c`; exact for the lowest such byte (a borrow
/// can only mark bytes above it), which is all the scanners below use.
#[inline(always)]
fn bytes_eq(x: u64, c: u8) -> u64 {
    let y = x ^ (ONES * c as u64);
    y.wrapping_sub(ONES) & !y & HIGHS
}

/// How many of the eight bytes in `x` (first byte lowest) come before the first that may stop
/// a bare word: a byte up to 0x20 (the blanks, and control bytes, which `CLASS` then reads as
/// ordinary), `;`, `{`, `\` or `$`. 8 when none may.
#[inline(always)]
fn ordinary_run(x: u64) -> usize {
    let low = x.wrapping_sub(ONES * 0x21) & !x & HIGHS;
    let m = low | bytes_eq(x, b';') | bytes_eq(x, b'{') | bytes_eq(x, b'\\') | bytes_eq(x, b'$');
    (m.trailing_zeros() / 8) as usize
}

/// The high bit of each byte of `x` that is not a space (exact for every byte: no carry
/// crosses bytes).
#[inline(always)]
fn not_spaces(x: u64) -> u64 {
    const LOWS: u64 = 0x7F7F_7F7F_7F7F_7F7F;
    let y = x ^ (ONES * b' ' as u64);
    (((y & LOWS) + LOWS) | y) & HIGHS
}

fn fail(i: In) -> nom::Err<nom::error::Error<In>> {
    nom::Err::Error(nom::error::Error::new(i, nom::error::ErrorKind::TakeWhile1))
}

/// An unquoted word, and whether it holds a `\`. It runs to a blank, `;` or `{`; a `\` protects
/// the next byte, and a `{` right after `$` is part of the variable (`${host}`), not a block.
/// (A nom parser written as a loop: this is the hottest code of a load.)
fn bare_word(i: In) -> IResult<In, (In, bool)> {
    let mut k = 0;
    let mut escaped = false;
    while let Some(&c) = i.get(k) {
        match CLASS[c as usize] {
            WORD => {
                // Most bytes are ordinary: eight at a time while they are, then one by one.
                k += 1;
                while k + 8 <= i.len() {
                    let n = ordinary_run(eight(i, k));
                    k += n;
                    if n < 8 {
                        break;
                    }
                }
                while k < i.len() && CLASS[i[k] as usize] == WORD {
                    k += 1;
                }
            }
            STOP => break,
            ESCAPE => {
                escaped = true;
                k = (k + 2).min(i.len());
            }
            _ => k += if i.get(k + 1) == Some(&b'{') { 2 } else { 1 },
        }
    }
    if k == 0 {
        return Err(fail(i));
    }
    Ok((&i[k..], (&i[..k], escaped)))
}

/// The inside of a quoted word up to the closing quote `q`, and whether it holds a `\`.
fn quoted_body(q: u8) -> impl Fn(In) -> IResult<In, (In, bool)> {
    move |i| {
        let mut k = 0;
        let mut escaped = false;
        while let Some(p) = memchr::memchr2(q, b'\\', &i[k..]) {
            k += p;
            if i[k] == q {
                return Ok((&i[k..], (&i[..k], escaped)));
            }
            escaped = true;
            k = (k + 2).min(i.len());
        }
        Ok((&i[i.len()..], (i, escaped)))
    }
}

/// A quoted word: the opening quote, the body, the closing quote (an error if it never closes).
fn quoted(q: u8) -> impl Fn(In) -> IResult<In, (In, bool)> {
    move |i| delimited(tag(&[q][..]), quoted_body(q), tag(&[q][..])).parse(i)
}

/// nginx's escape processing of a finished word (the loop at the end of ngx_conf_read_token).
pub fn cook(raw: &str) -> Option<String> {
    let b = raw.as_bytes();
    // Most escapes in configs are a regex's (`\.`), which stay as written: nothing to build.
    memchr_iter(b'\\', b).find(|&i| {
        matches!(
            b.get(i + 1),
            Some(b'"' | b'\'' | b'\\' | b't' | b'r' | b'n')
        )
    })?;
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 1 < b.len() {
            match b[i + 1] {
                c @ (b'"' | b'\'' | b'\\') => {
                    out.push(c);
                    i += 2;
                    continue;
                }
                b't' => {
                    out.push(b'\t');
                    i += 2;
                    continue;
                }
                b'r' => {
                    out.push(b'\r');
                    i += 2;
                    continue;
                }
                b'n' => {
                    out.push(b'\n');
                    i += 2;
                    continue;
                }
                _ => {}
            }
        }
        out.push(b[i]);
        i += 1;
    }
    // Only ASCII bytes were removed or replaced, next to ASCII bytes: still UTF-8.
    let cooked = String::from_utf8(out)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
    (cooked != raw).then_some(cooked)
}

impl<'a> Lexer<'a> {
    pub fn new(src: &'a str) -> Self {
        Lexer {
            src,
            pos: 0,
            line: 1,
            line_start: 0,
            words: 0,
            lua: false,
            pending: None,
        }
    }

    pub fn source(&self) -> &'a str {
        self.src
    }

    fn rest(&self) -> &'a [u8] {
        &self.src.as_bytes()[self.pos..]
    }

    /// Move past `n` bytes, counting the lines they hold.
    fn advance(&mut self, n: usize) {
        let end = self.pos + n;
        let seg = &self.src.as_bytes()[self.pos..end];
        if n <= 64 {
            // Most tokens are short: a plain loop beats setting up a vectorised search.
            for (i, &c) in seg.iter().enumerate() {
                if c == b'\n' {
                    self.line += 1;
                    self.line_start = self.pos + i + 1;
                }
            }
        } else if let Some(last) = memrchr(b'\n', seg) {
            self.line += memchr_iter(b'\n', seg).count() as u32;
            self.line_start = self.pos + last + 1;
        }
        self.pos = end;
    }

    /// Blanks and comments between tokens (a comment starts only where a token could), counting
    /// lines in the same pass: this runs between every two tokens, so it is a plain loop.
    fn skip_blanks_and_comments(&mut self) {
        let b = self.src.as_bytes();
        let mut i = self.pos;
        loop {
            match b.get(i) {
                Some(b' ' | b'\t' | b'\r') => {
                    // Indentation comes in runs: eight bytes at a time.
                    i += 1;
                    while i + 8 <= b.len() {
                        let n = not_spaces(eight(b, i)).trailing_zeros() as usize / 8;
                        i += n;
                        if n < 8 {
                            break;
                        }
                    }
                    while i < b.len() && b[i] == b' ' {
                        i += 1;
                    }
                }
                Some(b'\n') => {
                    i += 1;
                    self.line += 1;
                    self.line_start = i;
                }
                Some(b'#') => i = memchr(b'\n', &b[i..]).map_or(b.len(), |p| i + p),
                _ => break,
            }
        }
        self.pos = i;
    }

    fn column_at(&self, pos: usize) -> u32 {
        (pos - self.line_start) as u32 + 1
    }

    #[inline(always)]
    fn token(&self, tok: Tok, start: usize, line: u32) -> Token {
        let line_start = if line == self.line {
            self.line_start
        } else {
            // The token began on an earlier line (a multi-line quoted word): find that line's start.
            memrchr(b'\n', &self.src.as_bytes()[..start]).map_or(0, |p| p + 1)
        };
        Token {
            tok,
            line,
            column: (start - line_start) as u32 + 1,
            offset: start,
        }
    }

    fn end_statement(&mut self) {
        self.words = 0;
        self.lua = false;
    }

    /// The next token. After `Eof` it keeps returning `Eof`.
    pub fn next_token(&mut self) -> Token {
        if let Some(t) = self.pending.take() {
            return t;
        }
        self.skip_blanks_and_comments();
        let start = self.pos;
        let line = self.line;
        let Some(&c) = self.rest().first() else {
            return self.token(Tok::Eof, start, line);
        };
        match c {
            b';' => {
                self.advance(1);
                self.end_statement();
                self.token(Tok::Semicolon, start, line)
            }
            b'{' => {
                self.advance(1);
                if self.lua {
                    self.end_statement();
                    return self.lua_body(start, line);
                }
                self.end_statement();
                self.token(Tok::BlockStart, start, line)
            }
            b'}' => {
                self.advance(1);
                self.end_statement();
                self.token(Tok::BlockEnd, start, line)
            }
            b'"' | b'\'' => self.quoted_word(c, start, line),
            _ => {
                // bare_word always consumes at least the first byte here: it is not a blank,
                // `;` or `{`.
                let (len, escaped) = bare_word(self.rest())
                    .map_or((1, false), |(_, (w, escaped))| (w.len(), escaped));
                if escaped {
                    self.advance(len); // `\` may protect a newline
                } else {
                    self.pos += len; // a blank ends the word: no newline inside
                }
                let span = start..start + len;
                self.word(span, false, escaped, start, line)
            }
        }
    }

    #[inline(always)]
    fn word(
        &mut self,
        span: Range<usize>,
        quoted: bool,
        escaped: bool,
        start: usize,
        line: u32,
    ) -> Token {
        let cooked = if escaped {
            cook(&self.src[span.clone()])
        } else {
            None
        };
        if self.words == 0 {
            let name = cooked.as_deref().unwrap_or(&self.src[span.clone()]);
            self.lua = name.ends_with("_by_lua_block");
        }
        self.words += 1;
        self.token(
            Tok::Word {
                span,
                cooked,
                quoted,
            },
            start,
            line,
        )
    }

    // Out of line, as `lua_body`: the word path of `next_token` keeps fewer registers to save.
    #[inline(never)]
    fn quoted_word(&mut self, q: u8, start: usize, line: u32) -> Token {
        let Ok((_, (body, escaped))) = quoted(q)(self.rest()) else {
            // nginx reads on to the end of the file and then complains there; say where the
            // quote opened, which is what the reader needs to find.
            let n = self.rest().len();
            self.advance(n);
            let msg = format!(
                "unexpected end of file, expecting \";\" or \"}}\" (the {} opened at {}:{} is never closed)",
                if q == b'"' { "double quote" } else { "single quote" },
                line,
                start - memrchr(b'\n', &self.src.as_bytes()[..start]).map_or(0, |p| p + 1) + 1
            );
            return self.token(Tok::Error(msg), self.pos, self.line);
        };
        let body = body.len();
        self.advance(body + 2);
        let tok = self.word(start + 1..start + 1 + body, true, escaped, start, line);
        // nginx's `need_space`: after a closing quote only a blank, `;`, `{` or `)` may follow.
        // `}` is left to the parser, which reports the same `unexpected "}"` nginx would.
        if let Some(&next) = self.rest().first() {
            if !is_blank(next) && !matches!(next, b';' | b'{' | b')' | b'}') {
                let ch = self.src[self.pos..].chars().next().unwrap_or('?');
                let err_pos = self.pos;
                self.pending = Some(Token {
                    tok: Tok::Error(format!("unexpected \"{ch}\"")),
                    line: self.line,
                    column: self.column_at(err_pos),
                    offset: err_pos,
                });
            }
        }
        tok
    }

    /// After the `{` of a `*_by_lua_block`: the raw Lua up to the matching `}`, as
    /// lua-nginx-module's block tokenizer reads it (strings, long brackets and comments hide
    /// braces).
    #[inline(never)]
    fn lua_body(&mut self, brace: usize, line: u32) -> Token {
        let b = self.src.as_bytes();
        let body_start = self.pos;
        let mut i = body_start;
        let mut depth = 1usize;
        while i < b.len() {
            match b[i] {
                b'{' => depth += 1,
                b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        self.advance(i + 1 - self.pos);
                        return self.token(
                            Tok::LuaBody {
                                span: body_start..i,
                            },
                            brace,
                            line,
                        );
                    }
                }
                b'"' | b'\'' => {
                    let q = b[i];
                    i += 1;
                    while i < b.len() && b[i] != q {
                        i += if b[i] == b'\\' { 2 } else { 1 };
                    }
                }
                b'[' => {
                    if let Some(end) = long_bracket_end(b, i) {
                        i = end;
                        continue;
                    }
                }
                b'-' if b.get(i + 1) == Some(&b'-') => {
                    i += 2;
                    if let Some(end) = long_bracket_end(b, i) {
                        i = end;
                        continue;
                    }
                    i = memchr(b'\n', &b[i..]).map_or(b.len(), |p| i + p);
                    continue;
                }
                _ => {}
            }
            i += 1;
        }
        let n = b.len() - self.pos;
        self.advance(n);
        Token {
            tok: Tok::Error(format!(
                "unexpected end of file, expecting \"}}\" (the Lua block opened at {line}:{} is never closed)",
                brace - memrchr(b'\n', &b[..brace]).map_or(0, |p| p + 1) + 1
            )),
            line: self.line,
            column: self.column_at(self.pos),
            offset: self.pos,
        }
    }
}

/// If a Lua long bracket (`[[`, `[=[`, ...) opens at `i`, the index just past its closing bracket
/// (or the end of input when it is never closed).
fn long_bracket_end(b: &[u8], i: usize) -> Option<usize> {
    if b.get(i) != Some(&b'[') {
        return None;
    }
    let mut j = i + 1;
    while b.get(j) == Some(&b'=') {
        j += 1;
    }
    if b.get(j) != Some(&b'[') {
        return None;
    }
    let level = j - i - 1;
    let mut k = j + 1;
    while let Some(p) = memchr(b']', &b[k..]) {
        let close = k + p;
        let mut m = close + 1;
        while m < b.len() && b[m] == b'=' && m - close - 1 < level {
            m += 1;
        }
        if m - close - 1 == level && b.get(m) == Some(&b']') {
            return Some(m + 1);
        }
        k = close + 1;
    }
    Some(b.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (kind, text) pairs: words cooked, `;`, `{`, `}`, `lua:` bodies, `error:` messages.
    fn lex(src: &str) -> Vec<String> {
        let mut l = Lexer::new(src);
        let mut out = Vec::new();
        loop {
            let t = l.next_token();
            out.push(match t.tok {
                Tok::Word { span, cooked, .. } => cooked.unwrap_or_else(|| src[span].to_string()),
                Tok::Semicolon => ";".into(),
                Tok::BlockStart => "{".into(),
                Tok::BlockEnd => "}".into(),
                Tok::LuaBody { span } => format!("lua:{}", &src[span]),
                Tok::Error(m) => format!("error:{}:{}:{m}", t.line, t.column),
                Tok::Eof => break,
            });
        }
        out
    }

    #[test]
    fn words_blocks_and_comments() {
        assert_eq!(
            lex("http {\n  # c\n  root /a;#x\n}"),
            ["http", "{", "root", "/a", ";", "}"]
        );
        // `}` and `#` only count at the start of a token, as in nginx.
        assert_eq!(lex("a b}c d#e;"), ["a", "b}c", "d#e", ";"]);
        assert_eq!(lex("a;}"), ["a", ";", "}"]);
    }

    #[test]
    fn variables_keep_their_braces() {
        assert_eq!(lex("set $a ${host}x;"), ["set", "$a", "${host}x", ";"]);
        assert_eq!(
            lex("try_files /a/${uri} =404;"),
            ["try_files", "/a/${uri}", "=404", ";"]
        );
        // An escaped `$` is not a variable: its `{` opens a block.
        assert_eq!(lex("a \\${"), ["a", "\\$", "{"]);
    }

    #[test]
    fn quotes_and_escapes_are_cooked_as_nginx_does() {
        assert_eq!(lex(r#"a "x y" 'p;q';"#), ["a", "x y", "p;q", ";"]);
        assert_eq!(
            lex(r#"return 200 "a\"b\\c\n\$x\.";"#),
            ["return", "200", "a\"b\\c\n\\$x\\.", ";"]
        );
        assert_eq!(
            lex(r"rewrite ^/a\ b\.png$ /c;"),
            ["rewrite", r"^/a\ b\.png$", "/c", ";"]
        );
        // A quote inside an unquoted word is an ordinary byte.
        assert_eq!(lex(r#"a b"c" ;"#), ["a", "b\"c\"", ";"]);
        assert_eq!(lex(r#"if ($a = "b"){"#), ["if", "($a", "=", "b", ")", "{"]);
        // Escapes that stay as written build nothing; the others wherever they are.
        assert_eq!(cook(r"^/a\.b\$x\ y\"), None);
        assert_eq!(cook(r"\.\\").as_deref(), Some(r"\.\"));
        assert_eq!(cook(r"x\.\n").as_deref(), Some("x\\.\n"));
        assert_eq!(cook(r#"\'\""#).as_deref(), Some(r#"'""#));
    }

    #[test]
    fn a_quote_must_be_followed_by_a_separator() {
        assert_eq!(
            lex(r#""a"-b;"#),
            ["a", "error:1:4:unexpected \"-\"", "-b", ";"]
        );
    }

    #[test]
    fn unterminated_quote_is_located() {
        let t = lex("a \"b;\n\n");
        assert_eq!(t[0], "a");
        assert!(
            t[1].starts_with("error:3:1:unexpected end of file"),
            "{t:?}"
        );
        assert!(t[1].contains("opened at 1:3"), "{t:?}");
    }

    #[test]
    fn lua_blocks_are_raw() {
        assert_eq!(
            lex("content_by_lua_block { a = \"}\" -- }\n b = [[}]] --[==[ } ]==] c = {1} }\nx;"),
            [
                "content_by_lua_block",
                "lua: a = \"}\" -- }\n b = [[}]] --[==[ } ]==] c = {1} ",
                "x",
                ";"
            ]
        );
        assert_eq!(
            lex("set_by_lua_block $v { return 1 }"),
            ["set_by_lua_block", "$v", "lua: return 1 "]
        );
        // Only as a directive name.
        assert_eq!(
            lex("server_name content_by_lua_block {"),
            ["server_name", "content_by_lua_block", "{"]
        );
        assert!(lex("access_by_lua_block { x")[1].starts_with("error:1:24:unexpected end of file"));
    }

    #[test]
    fn columns_and_lines() {
        let mut l = Lexer::new("a\n  bc;");
        l.next_token();
        let t = l.next_token();
        assert_eq!((t.line, t.column), (2, 3));
    }

    #[test]
    fn trailing_backslash_does_not_loop() {
        assert_eq!(lex("a \\"), ["a", "\\"]);
    }

    /// The word scanner, one byte at a time: what the eight-at-a-time scan must agree with.
    fn bare_word_bytewise(i: &[u8]) -> (usize, bool) {
        let (mut k, mut escaped) = (0, false);
        while let Some(&c) = i.get(k) {
            match CLASS[c as usize] {
                WORD => k += 1,
                STOP => break,
                ESCAPE => {
                    escaped = true;
                    k = (k + 2).min(i.len());
                }
                _ => k += if i.get(k + 1) == Some(&b'{') { 2 } else { 1 },
            }
        }
        (k, escaped)
    }

    #[test]
    fn eight_at_a_time_scans_agree_with_bytewise_ones() {
        // Every byte next to the borrow-prone ones, at every offset of a word and of a run of
        // spaces, before and after the eight-byte boundaries.
        let odd = [
            0u8, 1, 0x1f, b' ', b'\t', b'\r', b'\n', b'!', b'"', b'#', b'$', b':', b';', b'<',
            b'z', b'{', b'|', b'}', b'[', b'\\', b']', 0x7f, 0x80, 0xc3, 0xff,
        ];
        for len in 0..20 {
            for &a in &odd {
                for &b in &odd {
                    let mut w = vec![b'a'; len];
                    w.push(a);
                    w.push(b);
                    w.extend_from_slice(b"bcdefghijklmnop");
                    for start in 0..w.len() {
                        let i = &w[start..];
                        let ours = bare_word(i).map_or((0, false), |(_, (w, e))| (w.len(), e));
                        assert_eq!(ours, bare_word_bytewise(i), "{i:?}");
                    }
                    let mut sp = vec![b' '; len + 1];
                    sp.push(a);
                    sp.push(b);
                    sp.extend_from_slice(b"x;");
                    let src = String::from_utf8_lossy(&sp).into_owned();
                    let mut lx = Lexer::new(&src);
                    lx.skip_blanks_and_comments();
                    let want = src
                        .bytes()
                        .position(|c| !matches!(c, b' ' | b'\t' | b'\r' | b'\n'))
                        .unwrap_or(src.len());
                    if !src[want..].starts_with('#') {
                        assert_eq!(lx.pos, want, "{src:?}");
                    }
                }
            }
        }
    }
}
