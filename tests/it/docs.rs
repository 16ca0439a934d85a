//! The check pages and docs/checks.md, which is generated from the registry and the pages.
//!
//! Refresh docs/checks.md after adding or changing a check or its page:
//!
//!     UPDATE_DOCS=1 cargo test --test it docs

use crate::run::REPO;
use media_doctor::checks::{self, Band, Meta};
use std::path::Path;

const REFRESH: &str = "UPDATE_DOCS=1 cargo test --test it docs";

const BANDS: [Band; 6] = Band::ALL;

fn metas() -> Vec<&'static Meta> {
    checks::registry().iter().map(|c| c.meta()).collect()
}

/// docs/checks.md: per band, a table of its checks, then each check's page with its headings
/// moved two levels down.
fn checks_md() -> String {
    let mut out = String::new();
    out.push_str("# Checks\n\n");
    out.push_str(&format!(
        "<!-- Generated from the check registry and checks/*.md: do not edit by hand.\n     Refresh with `{REFRESH}`. -->\n\n"
    ));
    out.push_str(
        "Every check media-doctor runs, by band. `media-doctor explain ID` prints a check's page,\n\
         `media-doctor list-checks` lists them, and `--select` / `--ignore` take ids, names or bands\n\
         (`MD1`, `MD2`, ...). Ids are stable: one never changes meaning and is never reused.\n",
    );
    let metas = metas();
    for band in BANDS {
        let in_band: Vec<&&Meta> = metas.iter().filter(|m| m.band == band).collect();
        if in_band.is_empty() {
            continue;
        }
        out.push_str(&format!("\n## {} ({}xx)\n\n", band.title(), band.prefix()));
        out.push_str("| id | name | summary |\n|---|---|---|\n");
        for m in &in_band {
            out.push_str(&format!(
                "| [{id}](../checks/{id}.md) | {name} | {summary} |\n",
                id = m.id,
                name = m.name,
                summary = m.summary.replace('|', "\\|")
            ));
        }
        for m in &in_band {
            out.push('\n');
            out.push_str(&demote(m.docs.trim_end()));
            out.push('\n');
        }
    }
    out
}

/// `# X` → `### X`, outside fenced code blocks.
fn demote(page: &str) -> String {
    let mut in_fence = false;
    let mut lines = Vec::new();
    for line in page.lines() {
        if line.starts_with("```") {
            in_fence = !in_fence;
        }
        if !in_fence && line.starts_with('#') {
            lines.push(format!("##{line}"));
        } else {
            lines.push(line.to_string());
        }
    }
    lines.join("\n")
}

#[test]
fn checks_md_is_generated_from_the_registry() {
    let path = Path::new(REPO).join("docs/checks.md");
    let want = checks_md();
    if std::env::var("UPDATE_DOCS").is_ok_and(|v| v == "1") {
        std::fs::write(&path, &want).expect("write docs/checks.md");
        return;
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    if have != want {
        let first = have
            .lines()
            .zip(want.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(have.lines().count().min(want.lines().count()));
        panic!(
            "docs/checks.md is stale (first difference at line {}): refresh it with\n\n    {REFRESH}\n\nand commit it.",
            first + 1
        );
    }
}

#[test]
fn every_check_has_a_complete_page() {
    let mut problems = Vec::new();
    for m in metas() {
        let file = format!("checks/{}.md", m.id);
        match std::fs::read_to_string(Path::new(REPO).join(&file)) {
            Ok(text) if text == m.docs => {}
            Ok(_) => problems.push(format!(
                "{}: `docs` is not include_str!(\"../../{file}\")",
                m.id
            )),
            Err(_) => problems.push(format!(
                "{}: no page {file}: write it (see checks/MD100.md) and include_str! it as `docs`",
                m.id
            )),
        }
        let title = format!("# {} {}", m.id, m.name);
        if m.docs.lines().next() != Some(title.as_str()) {
            problems.push(format!("{file}: the first line must be `{title}`"));
        }
        let mut last = 0;
        for section in Meta::PAGE_SECTIONS {
            let heading = format!("\n## {section}\n");
            match m.docs.find(&heading) {
                None => problems.push(format!("{file}: no `## {section}` section")),
                Some(at) if at < last => {
                    problems.push(format!("{file}: `## {section}` is out of order"))
                }
                Some(at) => last = at,
            }
            if m.section(section).is_some_and(str::is_empty) {
                problems.push(format!("{file}: `## {section}` is empty"));
            }
        }
    }
    // A page without a registered check: `explain` cannot show it and docs/checks.md omits it.
    let ids: Vec<&str> = metas().iter().map(|m| m.id).collect();
    for entry in std::fs::read_dir(Path::new(REPO).join("checks")).expect("checks/") {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if let Some(id) = name.strip_suffix(".md") {
            if !ids.contains(&id) {
                problems.push(format!(
                    "checks/{name}: no registered check {id} (add it to its band's CHECKS)"
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "check pages need fixing (each page: `# ID name`, then ## {}):\n  {}",
        Meta::PAGE_SECTIONS.join(", ## "),
        problems.join("\n  ")
    );
}
