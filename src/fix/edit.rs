//! Config edits as data: what a fix changes in one block (a location, a server), so that every
//! fix to the same block can be merged into one final block, printed once, and proven on an
//! in-memory copy of the configuration before it is printed (`prove`).
//!
//! An edit never touches text: it names directives of the loaded `Config` and says what each
//! becomes. Rendering writes the block back in nginx syntax (includes kept as written).

use crate::nginx::{Config, Directive, NodeId};
use std::collections::BTreeMap;

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
    pub block: NodeId,
    pub head: Option<String>,
    pub changes: BTreeMap<NodeId, Change>,
    pub append: Vec<String>,
}

/// Two fixes that want the same directive to read differently: the choice is the user's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    pub what: String,
}

impl BlockEdit {
    pub fn new(block: NodeId) -> BlockEdit {
        BlockEdit {
            block,
            head: None,
            changes: BTreeMap::new(),
            append: Vec::new(),
        }
    }

    /// Replace one directive with `line` (`alias /srv/media/;`).
    pub fn replace(mut self, directive: NodeId, line: impl Into<String>) -> BlockEdit {
        self.changes
            .insert(directive, Change::Replace(vec![line.into()]));
        self
    }

    pub fn drop(mut self, directive: NodeId) -> BlockEdit {
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

    /// The block as it should read, `# file:line` first.
    pub fn render(&self, cfg: &Config) -> String {
        let d = cfg.directive(self.block);
        let mut out = format!("# {}\n", d.location());
        render_block(&d, 0, Some(self), &mut out);
        out
    }
}

fn describe(c: &Change) -> String {
    match c {
        Change::Replace(lines) => format!("`{}`", lines.join(" ")),
        Change::Drop => "removed".into(),
    }
}

/// `location ^~ /media` + `location /media/` → `location ^~ /media/`.
fn compose_heads(a: &str, b: &str) -> Option<String> {
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

/// nginx's quoting for an argument written back into a config.
pub fn quote(arg: &str) -> String {
    let plain = !arg.is_empty()
        && !arg
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, ';' | '{' | '}' | '#' | '"' | '\'' | '\\'));
    if plain {
        arg.to_string()
    } else {
        format!("\"{}\"", arg.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

/// A directive's first line as nginx reads it back (`if` keeps its parentheses).
pub fn head_of(d: &Directive<'_>) -> String {
    let args: Vec<String> = d.args().map(quote).collect();
    if d.is("if") {
        return format!("if ({})", args.join(" "));
    }
    std::iter::once(d.name().to_string())
        .chain(args)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Writes `d` (and its block) at `depth`, applying `edit` to its children (and to `d` itself
/// when `d` is the edited block).
pub fn render_block(d: &Directive<'_>, depth: usize, edit: Option<&BlockEdit>, out: &mut String) {
    let pad = "    ".repeat(depth);
    let is_edited = edit.is_some_and(|e| e.block == d.id());
    let head = match edit {
        Some(e) if is_edited && e.head.is_some() => e.head.clone().unwrap_or_default(),
        _ => head_of(d),
    };
    if !d.has_block() {
        out.push_str(&format!("{pad}{head};\n"));
        return;
    }
    out.push_str(&format!("{pad}{head} {{\n"));
    for c in d.raw_children() {
        match edit.and_then(|e| e.changes.get(&c.id())) {
            Some(Change::Drop) => {}
            Some(Change::Replace(lines)) => {
                for l in lines {
                    out.push_str(&format!("{pad}    {l}\n"));
                }
            }
            None => render_block(&c, depth + 1, edit, out),
        }
    }
    if is_edited {
        for l in edit.map(|e| e.append.as_slice()).unwrap_or_default() {
            for part in l.lines() {
                out.push_str(&format!("{pad}    {part}\n"));
            }
        }
    }
    out.push_str(&format!("{pad}}}\n"));
}

/// The whole configuration with `edits` applied, as an `nginx -T` dump (one section per file,
/// includes as written): what `prove` loads again.
pub fn edited_dump(cfg: &Config, edits: &[BlockEdit]) -> String {
    let mut out = String::new();
    for (i, f) in cfg.files.iter().enumerate() {
        out.push_str(&format!("# configuration file {}:\n", f.path.display()));
        for d in cfg.file_raw_top(i as crate::nginx::FileId) {
            render_with(&d, 0, edits, &mut out);
        }
        out.push('\n');
    }
    out
}

/// Like `render_block`, with every edit of the list applied where its block is.
fn render_with(d: &Directive<'_>, depth: usize, edits: &[BlockEdit], out: &mut String) {
    if let Some(e) = edits.iter().find(|e| e.block == d.id()) {
        render_block(d, depth, Some(e), out);
        return;
    }
    let pad = "    ".repeat(depth);
    if !d.has_block() {
        out.push_str(&format!("{pad}{};\n", head_of(d)));
        return;
    }
    out.push_str(&format!("{pad}{} {{\n", head_of(d)));
    for c in d.raw_children() {
        render_with(&c, depth + 1, edits, out);
    }
    out.push_str(&format!("{pad}}}\n"));
}

#[cfg(test)]
mod tests {
    use super::*;
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
        let text = merged[0].render(&cfg);
        assert_eq!(
            text,
            "# /etc/nginx/nginx.conf:5\nlocation ^~ /media/ {\n    alias /srv/media/;\n    autoindex off;\n}\n"
        );
        // Two different values for one directive are the user's choice, not a merge.
        let other = BlockEdit::new(loc.id()).replace(alias.id(), "alias /srv/other/;");
        assert!(merged[0].merge(&other).is_err());
    }

    #[test]
    fn heads_compose() {
        assert_eq!(
            compose_heads("location ^~ /static", "location /static/").as_deref(),
            Some("location ^~ /static/")
        );
        assert_eq!(compose_heads("location = /a", "location ^~ /a"), None);
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
