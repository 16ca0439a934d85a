//! `list-checks`: every check's id, name, band and summary, as a table or as JSON.

use crate::checks::Meta;
use std::io::Write;

/// One line per check, the summary wrapped under itself:
///
/// ```text
/// MD100  nginx-config-loads  nginx  the nginx configuration loads: every file readable,
///                                   every include found, no syntax error
/// ```
///
/// Narrower than the columns plus 30, the summary goes on the lines below, indented.
pub fn write_text(out: &mut dyn Write, metas: &[&Meta], width: usize) -> std::io::Result<()> {
    let name_w = metas.iter().map(|m| m.name.len()).max().unwrap_or(0);
    let band_w = metas.iter().map(|m| m.band.name().len()).max().unwrap_or(0);
    for m in metas {
        let lead = format!(
            "{:<6} {:<name_w$}  {:<band_w$}  ",
            m.id,
            m.name,
            m.band.name()
        );
        // A narrow terminal gets the summary under the line instead of beside it.
        let (first, rest) = if width >= lead.len() + 30 {
            (lead.clone(), " ".repeat(lead.len()))
        } else {
            writeln!(out, "{}", lead.trim_end())?;
            ("    ".to_string(), "    ".to_string())
        };
        let options = textwrap::Options::new(width)
            .initial_indent(&first)
            .subsequent_indent(&rest)
            .break_words(false)
            .word_splitter(textwrap::WordSplitter::NoHyphenation);
        for line in textwrap::wrap(m.summary, options) {
            writeln!(out, "{}", line.trim_end())?;
        }
    }
    Ok(())
}

/// The JSON array: `[{"id", "name", "band", "summary"}]`.
pub fn write_json(out: &mut dyn Write, metas: &[&Meta]) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, metas)?;
    writeln!(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fits_narrow_and_wide_terminals() {
        let metas: Vec<&Meta> = crate::checks::registry().iter().map(|c| c.meta()).collect();
        for width in [50, 80, 120] {
            let mut out = Vec::new();
            write_text(&mut out, &metas, width).unwrap();
            let text = String::from_utf8(out).unwrap();
            for line in text.lines() {
                assert!(line.chars().count() <= width, "{width}: {line:?}");
            }
            for m in &metas {
                assert!(text.contains(m.id) && text.contains(m.name), "{text}");
            }
        }
    }
}
