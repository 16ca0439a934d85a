//! `list-checks`: every check's id, name, band and summary, as a table or as JSON.

use crate::checks::Meta;
use std::io::Write;

/// One line per check, the summary wrapped under itself:
///
/// ```text
/// MD100  nginx-config-loads  nginx  the nginx configuration loads: every file readable,
///                                   every include found, no syntax error
/// ```
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
        let indent = " ".repeat(lead.len());
        // A very narrow terminal still gets at least 30 columns of summary per line.
        let width = width.max(lead.len() + 30);
        let options = textwrap::Options::new(width)
            .initial_indent(&lead)
            .subsequent_indent(&indent)
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
