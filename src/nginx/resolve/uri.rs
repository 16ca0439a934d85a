//! The request URI as nginx sees it: `ngx_http_parse_complex_uri` (nginx 1.22), byte for byte.
//!
//! nginx decodes `%XX`, resolves `.` and `..` segments and merges `//` (while `merge_slashes` is on)
//! *before* it matches locations, and answers 400 when the URI is malformed (a bad `%` escape, a
//! `%00`, a `..` that climbs above `/`). Everything downstream (location matching, `alias`
//! arithmetic) works on this decoded form, so it must be reproduced exactly: `/media%2f..%2fx` and
//! `/media/../x` are the same request to nginx.

/// The result of parsing a request target (`/path?args`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedUri {
    /// The decoded, normalised path (`$uri`): raw bytes, since `%XX` may decode to anything.
    pub uri: Vec<u8>,
    /// The query string as sent (`$args`), without the `?`.
    pub args: Vec<u8>,
    /// The target had a `%` escape (nginx's `quoted_uri`).
    pub quoted: bool,
    /// The target had a `+` in the path (nginx's `plus_in_uri`).
    pub plus: bool,
}

/// Why nginx refuses a request target with 400 Bad Request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRequest(pub &'static str);

/// nginx's `usual` table: bytes that need no attention in a URI path (Linux build).
fn usual(ch: u8) -> bool {
    !matches!(
        ch,
        0x00..=0x1f | b' ' | b'#' | b'%' | b'+' | b'.' | b'/' | b'?' | 0x7f
    )
}

/// Parse a request target the way `ngx_http_parse_request_line` + `ngx_http_parse_complex_uri`
/// do. `target` must start with `/`.
pub fn parse_target(target: &[u8], merge_slashes: bool) -> Result<ParsedUri, BadRequest> {
    if target.first() != Some(&b'/') {
        return Err(BadRequest("the request target does not start with /"));
    }
    // The request-line parser rejects control bytes and DEL anywhere in the target.
    if target.iter().any(|&c| c < 0x20 || c == 0x7f || c == b' ') {
        return Err(BadRequest(
            "control character or space in the request target",
        ));
    }
    #[derive(Clone, Copy, PartialEq, Eq)]
    enum S {
        Usual,
        Slash,
        Dot,
        DotDot,
        Quoted,
        QuotedSecond,
    }
    let mut state = S::Usual;
    let mut quoted_state = S::Usual;
    let mut decoded: u8 = 0;
    let mut u: Vec<u8> = Vec::with_capacity(target.len());
    let mut quoted = false;
    let mut plus = false;
    let mut args_at: Option<usize> = None;
    // nginx reads one byte past the URI (the line feed); a NUL sentinel behaves the same for
    // every state that can still be active at the end.
    let end = target.len();
    let mut p = 0usize;
    let next = |p: &mut usize| -> u8 {
        let c = if *p < end { target[*p] } else { b'\n' };
        *p += 1;
        c
    };
    let mut ch = next(&mut p);

    // Walks `u` back to just after the previous '/', as nginx's `u -= 4; for (;;)` loop does
    // for a `/..` segment: fails when it would climb above the root.
    fn climb(u: &mut Vec<u8>) -> Result<(), BadRequest> {
        // u ends with "/.." (the segment's slash and two dots); drop them and the segment before.
        let mut i = u.len() as isize - 4;
        loop {
            if i < 0 {
                return Err(BadRequest("the URI climbs above / with .."));
            }
            if u[i as usize] == b'/' {
                u.truncate(i as usize + 1);
                return Ok(());
            }
            i -= 1;
        }
    }

    'outer: while p <= end {
        match state {
            S::Usual => {
                if usual(ch) {
                    u.push(ch);
                    ch = next(&mut p);
                    continue;
                }
                match ch {
                    b'/' => {
                        state = S::Slash;
                        u.push(ch);
                    }
                    b'%' => {
                        quoted_state = state;
                        state = S::Quoted;
                    }
                    b'?' => {
                        args_at = Some(p);
                        break 'outer;
                    }
                    b'#' => break 'outer,
                    b'+' => {
                        plus = true;
                        u.push(ch);
                    }
                    _ => u.push(ch),
                }
                ch = next(&mut p);
            }
            S::Slash => {
                if usual(ch) {
                    state = S::Usual;
                    u.push(ch);
                    ch = next(&mut p);
                    continue;
                }
                match ch {
                    b'/' => {
                        if !merge_slashes {
                            u.push(ch);
                        }
                    }
                    b'.' => {
                        state = S::Dot;
                        u.push(ch);
                    }
                    b'%' => {
                        quoted_state = state;
                        state = S::Quoted;
                    }
                    b'?' => {
                        args_at = Some(p);
                        break 'outer;
                    }
                    b'#' => break 'outer,
                    b'+' => {
                        plus = true;
                        state = S::Usual;
                        u.push(ch);
                    }
                    _ => {
                        state = S::Usual;
                        u.push(ch);
                    }
                }
                ch = next(&mut p);
            }
            S::Dot => {
                if usual(ch) {
                    state = S::Usual;
                    u.push(ch);
                    ch = next(&mut p);
                    continue;
                }
                match ch {
                    b'/' => {
                        state = S::Slash;
                        u.pop();
                    }
                    b'.' => {
                        state = S::DotDot;
                        u.push(ch);
                    }
                    b'%' => {
                        quoted_state = state;
                        state = S::Quoted;
                    }
                    b'?' => {
                        u.pop();
                        args_at = Some(p);
                        break 'outer;
                    }
                    b'#' => {
                        u.pop();
                        break 'outer;
                    }
                    b'+' => {
                        plus = true;
                        state = S::Usual;
                        u.push(ch);
                    }
                    _ => {
                        state = S::Usual;
                        u.push(ch);
                    }
                }
                ch = next(&mut p);
            }
            S::DotDot => {
                if usual(ch) {
                    state = S::Usual;
                    u.push(ch);
                    ch = next(&mut p);
                    continue;
                }
                match ch {
                    b'/' | b'?' | b'#' => {
                        climb(&mut u)?;
                        if ch == b'?' {
                            args_at = Some(p);
                            break 'outer;
                        }
                        if ch == b'#' {
                            break 'outer;
                        }
                        state = S::Slash;
                    }
                    b'%' => {
                        quoted_state = state;
                        state = S::Quoted;
                    }
                    b'+' => {
                        plus = true;
                        state = S::Usual;
                        u.push(ch);
                    }
                    _ => {
                        state = S::Usual;
                        u.push(ch);
                    }
                }
                ch = next(&mut p);
            }
            S::Quoted => {
                quoted = true;
                if ch.is_ascii_digit() {
                    decoded = ch - b'0';
                    state = S::QuotedSecond;
                    ch = next(&mut p);
                    continue;
                }
                let c = ch | 0x20;
                if (b'a'..=b'f').contains(&c) {
                    decoded = c - b'a' + 10;
                    state = S::QuotedSecond;
                    ch = next(&mut p);
                    continue;
                }
                return Err(BadRequest("invalid % escape in the URI"));
            }
            S::QuotedSecond => {
                if ch.is_ascii_digit() {
                    ch = (decoded << 4) + (ch - b'0');
                    if ch == b'%' || ch == b'#' {
                        state = S::Usual;
                        u.push(ch);
                        ch = next(&mut p);
                        continue;
                    } else if ch == 0 {
                        return Err(BadRequest("%00 in the URI"));
                    }
                    // The decoded byte is processed again by the state before the escape.
                    state = quoted_state;
                    continue;
                }
                let c = ch | 0x20;
                if (b'a'..=b'f').contains(&c) {
                    ch = (decoded << 4) + (c - b'a') + 10;
                    if ch == b'?' {
                        state = S::Usual;
                        u.push(ch);
                        ch = next(&mut p);
                        continue;
                    } else if ch == b'+' {
                        plus = true;
                    }
                    state = quoted_state;
                    continue;
                }
                return Err(BadRequest("invalid % escape in the URI"));
            }
        }
    }

    if args_at.is_none() && p > end {
        // Reached the end of the target (not `?`/`#`): finish pending states as nginx does.
        match state {
            S::Quoted | S::QuotedSecond => {
                return Err(BadRequest("incomplete % escape at the end of the URI"))
            }
            S::Dot => {
                u.pop();
            }
            S::DotDot => {
                // u ends with "/.."; treat it as if a '/' followed.
                climb(&mut u)?;
            }
            _ => {}
        }
    }
    // `args` are taken from the raw target: everything after the first raw '?' (a '#' ends them).
    let hash = target
        .iter()
        .position(|&c| c == b'#')
        .unwrap_or(target.len());
    let args = match target[..hash].iter().position(|&c| c == b'?') {
        Some(q) => {
            let rest = &target[q + 1..];
            let stop = rest.iter().position(|&c| c == b'#').unwrap_or(rest.len());
            rest[..stop].to_vec()
        }
        None => Vec::new(),
    };
    // A raw '?' after an escape-decoded one still starts the args for nginx; the decoded path
    // stopped at `args_at`. The two agree because `args_at` is always the first raw '?'.
    let _ = args_at;
    Ok(ParsedUri {
        uri: u,
        args,
        quoted,
        plus,
    })
}

/// Percent-decode the way nginx's `ngx_unescape_uri` does for `$arg_*`-style values: invalid
/// escapes are kept literally.
pub fn unescape(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%' && i + 2 < s.len() {
            let h = (s[i + 1] as char).to_digit(16);
            let l = (s[i + 2] as char).to_digit(16);
            if let (Some(h), Some(l)) = (h, l) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(s[i]);
        i += 1;
    }
    out
}

/// Escape a decoded URI for a `Location` header or a display URL (nginx's NGX_ESCAPE_URI set:
/// space, `#`, `%`, `?`, control bytes and non-ASCII).
pub fn escape_uri(s: &[u8]) -> String {
    let mut out = String::with_capacity(s.len());
    for &c in s {
        if c <= 0x20 || c == b'#' || c == b'%' || c == b'?' || c >= 0x7f || c == b'"' {
            out.push_str(&format!("%{c:02X}"));
        } else {
            out.push(c as char);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(t: &str) -> String {
        String::from_utf8(parse_target(t.as_bytes(), true).unwrap().uri).unwrap()
    }

    #[test]
    fn plain_paths_are_unchanged() {
        assert_eq!(uri("/media/a.png"), "/media/a.png");
        assert_eq!(uri("/"), "/");
        assert_eq!(uri("/a+b"), "/a+b");
    }

    #[test]
    fn dot_segments_and_slashes() {
        assert_eq!(uri("/a/./b"), "/a/b");
        assert_eq!(uri("/a/../b"), "/b");
        assert_eq!(uri("/a//b"), "/a/b");
        assert_eq!(uri("/a/b/.."), "/a/");
        assert_eq!(uri("/a/b/."), "/a/b/");
        assert_eq!(uri("/media../etc/passwd"), "/media../etc/passwd");
        assert_eq!(uri("/a/..?x=1"), "/");
        assert!(parse_target(b"/..", true).is_err());
        assert!(parse_target(b"/../x", true).is_err());
        assert_eq!(
            String::from_utf8(parse_target(b"/a//b", false).unwrap().uri).unwrap(),
            "/a//b"
        );
    }

    #[test]
    fn percent_decoding_feeds_the_state_machine() {
        assert_eq!(uri("/a/%2e%2e/b"), "/b");
        assert_eq!(uri("/a%2fb"), "/a/b");
        assert_eq!(uri("/a%2F%2Fb"), "/a/b");
        assert_eq!(uri("/%41"), "/A");
        assert_eq!(uri("/a%3fb"), "/a?b");
        assert_eq!(uri("/a%25b"), "/a%b");
        assert!(parse_target(b"/a%zz", true).is_err());
        assert!(parse_target(b"/a%2", true).is_err());
        assert!(parse_target(b"/a%00", true).is_err());
    }

    #[test]
    fn args_are_split() {
        let p = parse_target(b"/a/b?x=1&y=%20", true).unwrap();
        assert_eq!(p.uri, b"/a/b");
        assert_eq!(p.args, b"x=1&y=%20");
    }
}
