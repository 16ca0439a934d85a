//! The layers of docs/architecture.md, held: a module may import only from layers below its own
//! (and from itself). Reads src/ and fails on an upward or sideways import, naming the file,
//! so the module graph cannot grow a cycle between folders again.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Each top-level module (a folder or a file of src/) and its layer, lowest first. Modules of
/// one layer do not import each other either: that keeps the order total and the graph acyclic.
const LAYERS: &[(&str, u8)] = &[
    // 1 ground: no nginx, no site
    ("text_safe", 9),
    ("fnv", 9),
    ("heap", 9),
    ("input", 9),
    ("sysroot", 10),
    ("report", 11),
    ("http", 12),
    ("system", 13),
    // 2 readers
    ("fs", 20),
    ("nginx", 20),
    ("apache", 20),
    ("app", 20),
    ("profile", 20),
    // 2b containers: compose and Dockerfiles, over the app reader
    ("container", 25),
    // 3 the nginx model
    ("nginx::resolve", 30),
    // 3 the Apache model, answering with the nginx model's request and handler types
    ("apache::resolve", 32),
    // 3b one answer for both servers' models
    ("answer", 35),
    // 4 the site and its facets
    ("site", 40),
    // 4b fixes proven on a copy of the site's configuration
    ("fix", 45),
    // 5 what the running server answers
    ("live", 50),
    // 6 the checks
    ("checks", 60),
    // 7 output
    ("render", 70),
    // 8 the front end
    ("cli", 80),
    ("lib", 90),
    ("main", 90),
    // the binary's allocator (a module of main.rs): imports nothing of the crate
    ("alloc", 90),
];

fn layer(unit: &str) -> Option<u8> {
    LAYERS.iter().find(|(u, _)| *u == unit).map(|&(_, l)| l)
}

/// The unit a source file belongs to: its first path component, `nginx::resolve` for the model.
fn unit_of(rel: &Path) -> String {
    let s = rel.to_string_lossy();
    if s.starts_with("nginx/resolve") {
        return "nginx::resolve".into();
    }
    if s.starts_with("apache/resolve") {
        return "apache::resolve".into();
    }
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_string()
}

/// The units a file imports through `crate::` paths (in `use` lines, groups and inline paths).
fn imports(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    // Comments may name modules freely.
    let code: String = text
        .lines()
        .map(|l| match l.trim_start().starts_with("//") {
            true => "",
            false => l,
        })
        .collect::<Vec<_>>()
        .join("\n");
    let mut rest = code.as_str();
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // `use crate::{a, b::c}`: each first segment.
            let end = group.find('}').unwrap_or(group.len());
            for part in group[..end].split(',') {
                push(&mut out, part.trim());
            }
        } else {
            push(&mut out, rest);
        }
    }
    out
}

fn push(out: &mut BTreeSet<String>, path: &str) {
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let first = ident(path);
    if first.is_empty() {
        return;
    }
    if first == "nginx" || first == "apache" {
        if let Some(after) = path.strip_prefix(&format!("{first}::")) {
            if ident(after) == "resolve" {
                out.insert(format!("{first}::resolve"));
                return;
            }
        }
    }
    out.insert(first);
}

pub fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn imports_only_go_down() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    files.sort();
    let mut wrong = Vec::new();
    for f in &files {
        let rel = f.strip_prefix(&src).unwrap();
        let unit = unit_of(rel);
        let Some(own) = layer(&unit) else {
            wrong.push(format!(
                "{}: module {unit:?} has no layer (add it to LAYERS and docs/architecture.md)",
                rel.display()
            ));
            continue;
        };
        for target in imports(&std::fs::read_to_string(f).unwrap()) {
            if target == unit || target == "self" || target == "super" {
                continue;
            }
            match layer(&target) {
                Some(l) if l < own => {}
                Some(l) => wrong.push(format!(
                    "{}: {unit} (layer {own}) imports {target} (layer {l})",
                    rel.display()
                )),
                None => {}
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports must go down the layers of docs/architecture.md:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_scanner_sees_groups_inline_paths_and_the_model() {
    let text = "use crate::{report::Finding, site::Site};\n\
                // crate::checks in a comment\n\
                let x = crate::nginx::resolve::Model::build(c);\n\
                use crate::nginx::Config;\n";
    let got: Vec<String> = imports(text).into_iter().collect();
    assert_eq!(got, ["nginx", "nginx::resolve", "report", "site"]);
}
