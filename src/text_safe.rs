//! Text from outside (file names, config values, log lines, URLs, HTTP headers) made safe to show
//! on a terminal or in a line-oriented format.
//!
//! Anyone who can name a file, send a request nginx logs, or edit a config can put bytes into
//! what media-doctor prints: ESC starts a terminal control sequence (retitle the window, clear
//! the screen, hide text), CR rewrites the line shown, a newline forges a report line. Every
//! renderer for a terminal or a line format passes the report through here (`render::safe`), so
//! these bytes are shown as escapes (`\x1b`, `\r`, `\n`, `\0`), never sent. JSON and SARIF keep
//! the exact values (their own escaping makes them safe).
//!
//! Escaped: the C0 controls, DEL, the C1 controls (U+0080–U+009F: some terminals take U+009B as
//! CSI) and the bidirectional overrides and isolates (U+202A–U+202E, U+2066–U+2069), which reorder
//! what is shown. A backslash is left as it is: nginx regexes are full of them, and an escape is
//! only ever made of characters that are not control bytes themselves.

use std::borrow::Cow;
use std::ffi::OsStr;
use std::path::Path;

/// Whether `c` must not reach a terminal as it is.
pub fn is_unsafe(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `s` on one line: every unsafe character escaped, newlines included.
pub fn line(s: &str) -> Cow<'_, str> {
    escape(s, false)
}

/// `s` keeping its line breaks (`\n`; a tab too) for text that is made of lines (a config block,
/// a list of paths): every other unsafe character escaped. Line breaks inside a value from outside
/// are made visible where such lists are built (`list_item`).
pub fn lines(s: &str) -> Cow<'_, str> {
    escape(s, true)
}

/// One item of a newline-separated list (evidence listing paths, a block of config lines): a line
/// break inside it is escaped, since inside the list it could not be told from the separator.
pub fn list_item(s: &str) -> Cow<'_, str> {
    if s.contains(['\n', '\r']) {
        Cow::Owned(s.replace('\n', "\\n").replace('\r', "\\r"))
    } else {
        Cow::Borrowed(s)
    }
}

fn escape(s: &str, keep_lines: bool) -> Cow<'_, str> {
    let kept = |c: char| keep_lines && (c == '\n' || c == '\t');
    if !s.chars().any(|c| is_unsafe(c) && !kept(c)) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if !is_unsafe(c) || kept(c) {
            out.push(c);
            continue;
        }
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\0' => out.push_str("\\0"),
            c if (c as u32) < 0x100 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
        }
    }
    Cow::Owned(out)
}

/// Bytes as text: valid UTF-8 as it is, each byte of an invalid sequence as `\xNN` (so a file
/// name that is not UTF-8 is still shown exactly, not as U+FFFD). Control characters are kept:
/// the renderers escape them (`line`), JSON keeps them.
pub fn bytes(b: &[u8]) -> Cow<'_, str> {
    if let Ok(s) = std::str::from_utf8(b) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(b.len() + 8);
    for chunk in b.utf8_chunks() {
        out.push_str(chunk.valid());
        for byte in chunk.invalid() {
            out.push_str(&format!("\\x{byte:02x}"));
        }
    }
    Cow::Owned(out)
}

/// A path as text (see `bytes`): what reports show for a file name.
pub fn path(p: &Path) -> Cow<'_, str> {
    os(p.as_os_str())
}

pub fn os(s: &OsStr) -> Cow<'_, str> {
    use std::os::unix::ffi::OsStrExt;
    bytes(s.as_bytes())
}

/// Serde for a path field: its text as `path` gives it (serde's own refuses a path that is not
/// UTF-8, which would cut the JSON document short).
pub fn serialize_path<S: serde::Serializer>(p: &Path, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&path(p))
}

pub fn serialize_opt_path<S: serde::Serializer>(
    p: &Option<std::path::PathBuf>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match p {
        Some(p) => serialize_path(p, s),
        None => s.serialize_none(),
    }
}

/// An I/O error in the kernel's words alone ("Permission denied"), without Rust's
/// "(os error 13)": the cause said once, as `ls` or `nginx -t` would say it.
pub fn io_error(err: &std::io::Error) -> String {
    match err.raw_os_error() {
        Some(code) => nix::errno::Errno::from_raw(code).desc().to_string(),
        None => err.to_string(),
    }
}

/// Quote a path for a POSIX shell when it needs it.
pub fn shell_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+,:@%=".contains(&b));
    if plain {
        s.to_string()
    } else if s.chars().any(is_unsafe) {
        // A control byte in a name: bash's $'...' spells it out, so the command pastes as it is
        // meant and carries no raw byte to the terminal (or a newline that would end it).
        let mut out = String::from("$'");
        for c in s.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\'' => out.push_str("\\'"),
                c if is_unsafe(c) => {
                    for b in c.to_string().bytes() {
                        out.push_str(&format!("\\x{b:02x}"));
                    }
                }
                c => out.push(c),
            }
        }
        out.push('\'');
        out
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_bytes_are_escaped() {
        assert_eq!(
            line("/media/\x1b]0;X\x07\x1b[2J.jpg"),
            "/media/\\x1b]0;X\\x07\\x1b[2J.jpg"
        );
        assert_eq!(line("a\r\nb\0c\td\x7f"), "a\\r\\nb\\0c\\td\\x7f");
        assert_eq!(
            line("\u{9b}31m \u{202e}gpj.exe"),
            "\\x9b31m \\u{202e}gpj.exe"
        );
        assert!(matches!(
            line("plain /srv/media ~ \\.jpg$ é"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn lines_keep_their_breaks_only() {
        assert_eq!(lines("a\n  b\x1b[2J\r"), "a\n  b\\x1b[2J\\r");
        assert_eq!(list_item("a\nb\rc"), "a\\nb\\rc");
    }

    #[test]
    fn invalid_utf8_shows_its_bytes() {
        assert_eq!(bytes(b"caf\xe9.jpg"), "caf\\xe9.jpg");
        assert_eq!(bytes(b"\xff\xfe"), "\\xff\\xfe");
        assert_eq!(bytes("é".as_bytes()), "é");
        use std::os::unix::ffi::OsStrExt;
        assert_eq!(path(Path::new(OsStr::from_bytes(b"/m/\xff"))), "/m/\\xff");
    }
}
