//! Config edits as data: what a fix changes in one block (a location, a server), so that every
//! fix to the same block can be merged into one final block, printed once, and proven on an
//! in-memory copy of the configuration before it is printed (`prove`).
//!
//! An edit never touches text: it names directives of the loaded `Config` and says what each
//! becomes. Rendering writes the block back in nginx syntax (includes kept as written).

use crate::nginx::{Config, Directive};

pub use crate::report::edit::{merge_all, BlockEdit, Change, Conflict};

/// The block as it should read, `# file:line` first.
pub fn render(cfg: &Config, e: &BlockEdit) -> String {
    let d = cfg.directive(e.block);
    let mut out = format!("# {}\n", d.location());
    render_block(&d, 0, Some(e), &mut out);
    out
}

/// nginx's quoting for an argument written back into a config. A backslash alone does not need
/// quotes: nginx's reader unescapes only `\"`, `\'`, `\\`, `\t`, `\r` and `\n`, so a regex as
/// written (`\.(?:jpg|png)$`) reads back the same unquoted, and is pasted as the user wrote it.
pub fn quote(arg: &str) -> String {
    let mut out = String::with_capacity(arg.len());
    push_quoted(&mut out, arg);
    out
}

/// `quote`, written at the end of `out` (the prover renders every directive of each copy).
fn push_quoted(out: &mut String, arg: &str) {
    let plain = is_plain(arg);
    if plain {
        out.push_str(arg);
    } else {
        out.push('"');
        for c in arg.chars() {
            if matches!(c, '\\' | '"') {
                out.push('\\');
            }
            out.push(c);
        }
        out.push('"');
    }
}

/// Whether `arg` reads back the same unquoted: not empty, no blank (`char::is_whitespace`),
/// none of `;{}#"'`, no escape nginx's reader would take (`\\"`, `\\'`, `\\\\`, `\\t`, `\\r`,
/// `\\n`), no backslash at the end. One pass over the bytes; the characters only when some
/// are not ASCII.
fn is_plain(arg: &str) -> bool {
    let b = arg.as_bytes();
    if b.is_empty() || b.last() == Some(&b'\\') {
        return false;
    }
    let mut ascii = true;
    for (i, &c) in b.iter().enumerate() {
        match c {
            b'\t'..=b'\r' | b' ' | b';' | b'{' | b'}' | b'#' | b'"' | b'\'' => return false,
            b'\\'
                if matches!(
                    b.get(i + 1),
                    Some(b'"' | b'\'' | b'\\' | b't' | b'r' | b'n')
                ) =>
            {
                return false
            }
            0x80.. => ascii = false,
            _ => {}
        }
    }
    ascii || !arg.chars().any(char::is_whitespace)
}

/// A directive's first line as nginx reads it back (`if` keeps its parentheses).
pub fn head_of(d: &Directive<'_>) -> String {
    let mut out = String::new();
    push_head(&mut out, d);
    out
}

/// `head_of`, written at the end of `out`.
fn push_head(out: &mut String, d: &Directive<'_>) {
    let is_if = d.is("if");
    out.push_str(if is_if { "if (" } else { d.name() });
    for (i, a) in d.args().enumerate() {
        if i > 0 || !is_if {
            out.push(' ');
        }
        push_quoted(out, a);
    }
    if is_if {
        out.push(')');
    }
}

fn push_pad(out: &mut String, depth: usize) {
    for _ in 0..depth {
        out.push_str("    ");
    }
}

/// Writes `d` (and its block) at `depth`, applying `edit` to its children (and to `d` itself
/// when `d` is the edited block).
pub fn render_block(d: &Directive<'_>, depth: usize, edit: Option<&BlockEdit>, out: &mut String) {
    let is_edited = edit.is_some_and(|e| e.block == d.id());
    push_pad(out, depth);
    match edit.and_then(|e| e.head.as_deref()) {
        Some(head) if is_edited => out.push_str(head),
        _ => push_head(out, d),
    }
    if !d.has_block() {
        out.push_str(";\n");
        return;
    }
    out.push_str(" {\n");
    let line = |out: &mut String, l: &str| {
        push_pad(out, depth + 1);
        out.push_str(l);
        out.push('\n');
    };
    for c in d.raw_children() {
        match edit.and_then(|e| e.changes.get(&c.id())) {
            Some(Change::Drop) => {}
            Some(Change::Replace(lines)) => {
                for l in lines {
                    line(out, l);
                }
            }
            None => render_block(&c, depth + 1, edit, out),
        }
    }
    if is_edited {
        for l in edit.map(|e| e.append.as_slice()).unwrap_or_default() {
            for part in l.lines() {
                line(out, part);
            }
        }
    }
    push_pad(out, depth);
    out.push_str("}\n");
}

/// How many lines `render_node` writes for `node` with no edit: a line a directive (and the
/// line breaks its words hold), and one more for a block's `}`.
pub fn rendered_lines(cfg: &Config, node: crate::nginx::NodeId) -> usize {
    let breaks = |w: &str| memchr::memchr_iter(b'\n', w.as_bytes()).count();
    let mut n = 0;
    let mut stack = vec![cfg.directive(node)];
    while let Some(d) = stack.pop() {
        n += 1 + breaks(d.name()) + d.args().map(breaks).sum::<usize>();
        if d.has_block() {
            n += 1;
            stack.extend(d.raw_children());
        }
    }
    n
}

/// The whole configuration with `edits` applied, as an `nginx -T` dump (one section per file,
/// includes as written): what `prove` loads again.
pub fn edited_dump(cfg: &Config, edits: &[BlockEdit]) -> String {
    let mut out = String::new();
    for i in 0..cfg.files.len() {
        dump_section(cfg, i as crate::nginx::FileId, edits, &mut out);
    }
    out
}

/// One file's section of `edited_dump`: the prover builds a dump of the few files an edit can
/// matter to, not of the other sites of a 10,000-site config.
pub fn dump_section(
    cfg: &Config,
    file: crate::nginx::FileId,
    edits: &[BlockEdit],
    out: &mut String,
) {
    let f = &cfg.files[file as usize];
    out.push_str(&format!("# configuration file {}:\n", f.path.display()));
    for d in cfg.file_raw_top(file) {
        render_with(&d, 0, edits, out);
    }
    out.push('\n');
}

/// `dump_section` of an unedited file for the prover's copies, each top-level `types` block
/// written empty: the MIME table (mime.types, a third of the copy of a small site) decides no
/// answer the prover compares (status, handler, path, location, redirect, upstream), and no
/// edit lies in it (edits are in server blocks).
pub fn dump_section_for_proof(cfg: &Config, file: crate::nginx::FileId, out: &mut String) {
    let f = &cfg.files[file as usize];
    out.push_str("# configuration file ");
    out.push_str(&f.path.display().to_string());
    out.push_str(":\n");
    for d in cfg.file_raw_top(file) {
        if d.is("types") && d.has_block() {
            out.push_str("types {\n}\n");
        } else {
            render_with(&d, 0, &[], out);
        }
    }
    out.push('\n');
}

/// A file's section with its server blocks taken out, cut where the first one stood: the prover
/// puts back only the servers an edit can matter to, so a file of 500,000 server blocks is
/// rendered once, not once per fix.
#[derive(Debug)]
pub struct Skeleton {
    /// The section up to the place of the first server block (its header included).
    pub head: String,
    /// From there to the end of the section.
    pub tail: String,
    /// The depth the server blocks are written at.
    pub depth: usize,
}

/// The skeleton of `file`; None when its server blocks do not all stand in one block (then the
/// whole file is rendered), or it has none.
pub fn skeleton(cfg: &Config, file: crate::nginx::FileId) -> Option<Skeleton> {
    struct Cut {
        parent: Option<crate::nginx::NodeId>,
        at: usize,
        depth: usize,
        mixed: bool,
    }
    fn walk(
        d: &Directive<'_>,
        parent: Option<crate::nginx::NodeId>,
        depth: usize,
        cut: &mut Option<Cut>,
        out: &mut String,
    ) {
        if d.is("server") && d.has_block() {
            match cut {
                None => {
                    *cut = Some(Cut {
                        parent,
                        at: out.len(),
                        depth,
                        mixed: false,
                    })
                }
                Some(c) if c.parent != parent => c.mixed = true,
                Some(_) => {}
            }
            return;
        }
        push_pad(out, depth);
        push_head(out, d);
        if !d.has_block() {
            out.push_str(";\n");
            return;
        }
        out.push_str(" {\n");
        for c in d.raw_children() {
            walk(&c, Some(d.id()), depth + 1, cut, out);
        }
        push_pad(out, depth);
        out.push_str("}\n");
    }
    let f = &cfg.files[file as usize];
    let mut out = format!("# configuration file {}:\n", f.path.display());
    let mut cut = None;
    for d in cfg.file_raw_top(file) {
        walk(&d, None, 0, &mut cut, &mut out);
    }
    out.push('\n');
    let cut = cut.filter(|c| !c.mixed)?;
    let tail = out.split_off(cut.at);
    Some(Skeleton {
        head: out,
        tail,
        depth: cut.depth,
    })
}

/// One block (a server) at `depth`, with every edit of the list applied where its block is.
pub fn render_node(
    cfg: &Config,
    node: crate::nginx::NodeId,
    depth: usize,
    edits: &[BlockEdit],
    out: &mut String,
) {
    render_with(&cfg.directive(node), depth, edits, out);
}

/// Like `render_block`, with every edit of the list applied where its block is.
fn render_with(d: &Directive<'_>, depth: usize, edits: &[BlockEdit], out: &mut String) {
    if let Some(e) = edits.iter().find(|e| e.block == d.id()) {
        render_block(d, depth, Some(e), out);
        return;
    }
    push_pad(out, depth);
    push_head(out, d);
    if !d.has_block() {
        out.push_str(";\n");
        return;
    }
    out.push_str(" {\n");
    for c in d.raw_children() {
        render_with(&c, depth + 1, edits, out);
    }
    push_pad(out, depth);
    out.push_str("}\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::edit::compose_heads;
    use crate::sysroot::SysRoot;

    fn load(text: &str) -> Config {
        let dump = format!("# configuration file /etc/nginx/nginx.conf:\n{text}\n");
        crate::nginx::load_dump(&SysRoot::live(), dump.as_bytes(), "test").unwrap()
    }

    fn find<'c>(cfg: &'c Config, name: &str, arg: &str) -> Directive<'c> {
        cfg.depth_first()
            .map(|(_, d)| d)
            .find(|d| d.is(name) && d.args().any(|a| a == arg))
            .unwrap()
    }

    const CONF: &str = "events {}\nhttp {\n server {\n  listen 80;\n  location /media/ {\n   alias /srv/media;\n   autoindex on;\n  }\n  location ~ \\.jpg$ { root /x; }\n  if ($host = a) { return 404; }\n }\n}\n";

    #[test]
    fn edits_to_one_block_merge_into_one() {
        let cfg = load(CONF);
        let loc = find(&cfg, "location", "/media/");
        let alias = find(&cfg, "alias", "/srv/media");
        let autoindex = find(&cfg, "autoindex", "on");
        let slash = BlockEdit::new(loc.id()).replace(alias.id(), "alias /srv/media/;");
        let caret = BlockEdit::new(loc.id()).head("location ^~ /media/");
        let listing = BlockEdit::new(loc.id()).replace(autoindex.id(), "autoindex off;");
        let (merged, conflicts) = merge_all(&[slash, caret, listing]);
        assert!(conflicts.is_empty());
        assert_eq!(merged.len(), 1);
        let text = render(&cfg, &merged[0]);
        assert_eq!(
            text,
            "# /etc/nginx/nginx.conf:5\nlocation ^~ /media/ {\n    alias /srv/media/;\n    autoindex off;\n}\n"
        );
        // Two different values for one directive are the user's choice, not a merge.
        let other = BlockEdit::new(loc.id()).replace(alias.id(), "alias /srv/other/;");
        assert!(merged[0].merge(&other).is_err());
    }

    /// `rendered_lines` counts what `render_node` writes; `is_plain` is the character rule.
    #[test]
    fn rendered_lines_and_plain_words_are_as_written() {
        let cfg = load(CONF);
        for (_, d) in cfg.depth_first() {
            let mut out = String::new();
            render_node(&cfg, d.id(), 1, &[], &mut out);
            assert_eq!(rendered_lines(&cfg, d.id()), out.lines().count(), "{out}");
        }
        let lua = load("http { server { content_by_lua_block { ngx.say(1)\n ngx.say(2) } } }");
        let server = lua.servers()[0].id();
        let mut out = String::new();
        render_node(&lua, server, 0, &[], &mut out);
        assert_eq!(rendered_lines(&lua, server), out.lines().count(), "{out}");
        for w in [
            "",
            "a",
            "/srv/x",
            "a b",
            "a\tb",
            "a\u{b}b",
            "a;",
            "{",
            "#x",
            "\"",
            "'",
            "a\\",
            "a\\n",
            "a\\d",
            "\\.(?:jpg)$",
            "caf\u{e9}",
            "a\u{a0}b",
            "a\u{2028}b",
            "a\u{1c}b",
        ] {
            let escape_taken = w.as_bytes().windows(2).any(|p| {
                p[0] == b'\\' && matches!(p[1], b'"' | b'\'' | b'\\' | b't' | b'r' | b'n')
            }) || w.ends_with('\\');
            let plain = !w.is_empty()
                && !escape_taken
                && !w
                    .chars()
                    .any(|c| c.is_whitespace() || matches!(c, ';' | '{' | '}' | '#' | '"' | '\''));
            assert_eq!(is_plain(w), plain, "{w:?}");
        }
    }

    #[test]
    fn heads_compose() {
        assert_eq!(
            compose_heads("location ^~ /static", "location /static/").as_deref(),
            Some("location ^~ /static/")
        );
        assert_eq!(compose_heads("location = /a", "location ^~ /a"), None);
    }

    /// A skeleton with every server put back is the file as `dump_section` writes it.
    #[test]
    fn a_skeleton_with_its_servers_is_the_whole_section() {
        let text = "events {}\nhttp {\n map $a $b { default 1; }\n server { listen 80; server_name a; }\n upstream u { server 127.0.0.1:1; }\n server { listen 81; }\n include x.conf;\n}\n";
        let cfg = load(text);
        let sk = skeleton(&cfg, cfg.main).expect("one block holds the servers");
        let mut whole = String::new();
        dump_section(&cfg, cfg.main, &[], &mut whole);
        let mut again = sk.head.clone();
        for s in cfg.servers() {
            render_node(&cfg, s.id(), sk.depth, &[], &mut again);
        }
        again.push_str(&sk.tail);
        // The servers move to where the first stood; everything else keeps its order.
        let reloaded = crate::nginx::load_dump(&SysRoot::live(), again.as_bytes(), "x").unwrap();
        assert!(!reloaded.has_fatal_errors(), "{again}");
        assert_eq!(reloaded.servers().len(), 2, "{again}");
        assert_eq!(
            again.lines().count(),
            whole.lines().count(),
            "{again}\n{whole}"
        );
        assert!(sk.head.ends_with("default 1;\n    }\n"), "{:?}", sk.head);
    }

    #[test]
    fn the_edited_dump_loads_back_with_the_edit() {
        let cfg = load(CONF);
        let loc = find(&cfg, "location", "/media/");
        let alias = find(&cfg, "alias", "/srv/media");
        let e = BlockEdit::new(loc.id()).replace(alias.id(), "alias /srv/media/;");
        let dump = edited_dump(&cfg, &[e]);
        let again = crate::nginx::load_dump(&SysRoot::live(), dump.as_bytes(), "x").unwrap();
        assert!(!again.has_fatal_errors(), "{:?}\n{dump}", again.diagnostics);
        assert!(find(&again, "alias", "/srv/media/").is("alias"));
        // `if` keeps its parentheses, a regex its escapes.
        assert!(dump.contains("if ($host = a) {"), "{dump}");
        assert!(find(&again, "location", "\\.jpg$").is("location"));
    }
}
