//! Man pages in roff: clap_mangen's sections from the command-line definition, plus the two it
//! cannot know, EXIT STATUS and EXAMPLES, written here for each page.
//!
//! `media-doctor man` prints media-doctor(1); `media-doctor man check` prints
//! media-doctor-check(1). scripts/package.sh installs every page in the .deb.

use clap::Command;
use clap_mangen::Man;
use std::io::{self, Write};

/// One example: what it is for, then the command line.
type Example = (&'static str, &'static str);

/// The examples of a page: the top page shows one of each job, a command's page its own.
fn examples(page: Option<&str>) -> &'static [Example] {
    match page {
        None => &[
            (
                "On the server, as root, check one site (its nginx file name or server_name):",
                "sudo media-doctor check --site myapp",
            ),
            (
                "In CI, check the repository's config without sending a request:",
                "media-doctor check --app . --nginx-conf deploy/nginx.conf --offline --format json",
            ),
            (
                "Why does this one URL fail?",
                "media-doctor trace https://example.com/media/a.jpg",
            ),
            (
                "What a check means and how to fix it:",
                "media-doctor explain MD101",
            ),
        ],
        Some("check") => &[
            (
                "Check one site on this server, as the nginx worker sees it:",
                "sudo media-doctor check --site myapp",
            ),
            (
                "Examine a copy of a server (a container export, a fixture) without touching the network:",
                "media-doctor check --root /srv/image --site myapp --offline",
            ),
            (
                "A CI gate on the repository, failing on warnings too, with GitHub annotations:",
                "media-doctor check --nginx-conf deploy/nginx.conf --app . --offline --fail-on warning --format github",
            ),
            (
                "Only the nginx configuration checks, as JSON:",
                "media-doctor check --site myapp --select MD1 --format json",
            ),
        ],
        Some("trace") => &[
            (
                "Which server, location and file answer this URL, and what nginx will say:",
                "sudo media-doctor trace https://example.com/media/a.jpg",
            ),
            (
                "The same from an nginx -T dump, without asking the live server:",
                "nginx -T | media-doctor trace https://example.com/media/a.jpg --nginx-dump - --offline",
            ),
        ],
        Some("explain") => &[
            ("By id:", "media-doctor explain MD101"),
            ("By name:", "media-doctor explain alias-trailing-slash"),
        ],
        Some("list-checks") => &[
            ("Every check, one per line:", "media-doctor list-checks"),
            (
                "The ids of the filesystem band, for a script:",
                "media-doctor list-checks --format json | jq -r '.[].id | select(startswith(\"MD2\"))'",
            ),
        ],
        Some("completions") => &[(
            "Install the bash completions for yourself:",
            "media-doctor completions bash > ~/.local/share/bash-completion/completions/media-doctor",
        )],
        Some("man") => &[
            (
                "Read the page of the check command without installing it:",
                "media-doctor man check | man -l -",
            ),
            (
                "Install the main page for yourself:",
                "media-doctor man > ~/.local/share/man/man1/media-doctor.1",
            ),
        ],
        Some(_) => &[],
    }
}

/// The exit statuses of a page: check (and trace, whose --fail-on works the same way) can find
/// something; the other commands only succeed or fail to run.
fn exit_status(page: Option<&str>) -> &'static [(&'static str, &'static str)] {
    const CANNOT_RUN: &str =
        "The tool could not run: a bad argument, a site or file that does not \
        exist or cannot be read, a main nginx config that does not load. One line on standard \
        error says why.";
    match page {
        None | Some("check") => &[
            (
                "0",
                "Nothing at or above \\-\\-fail\\-on (default: error): every check passed, or \
                 what did not is below the threshold or accepted by the site's profile.",
            ),
            (
                "1",
                "A check at or above \\-\\-fail\\-on: fail for error, also warn for warning. A \
                 check that broke while probing (status error) counts as failing.",
            ),
            ("2", CANNOT_RUN),
        ],
        Some("trace") => &[
            (
                "0",
                "The trace was made; with the default \\-\\-fail\\-on never, whatever the URL \
                 answers. With \\-\\-fail\\-on error or warning: the URL is served (and, for \
                 warning, the prediction is known and the live answer agrees with it).",
            ),
            (
                "1",
                "With \\-\\-fail\\-on error: the URL answers 4xx or 5xx (live when there is a \
                 live answer, else as predicted). With \\-\\-fail\\-on warning: also when the \
                 prediction is unknown or the live answer differs from it.",
            ),
            ("2", CANNOT_RUN),
        ],
        _ => &[("0", "Success."), ("2", CANNOT_RUN)],
    }
}

/// Write the man page of the whole tool (`page` None) or of one command. `version` goes on a
/// command's page too (clap keeps it on the top command only).
pub fn write(
    out: &mut dyn Write,
    cli: Command,
    page: Option<&str>,
    version: &'static str,
) -> anyhow::Result<()> {
    let mut cli = cli;
    // Building gives subcommands their display names (media-doctor-check), which clap_mangen
    // uses as the page's title.
    cli.build();
    let cmd = match page {
        None => cli,
        Some(name) => cli
            .find_subcommand(name)
            .cloned()
            .ok_or_else(|| {
                anyhow::anyhow!("no command {name:?}: `media-doctor --help` lists them")
            })?
            .version(version),
    };
    let mut page_text = Vec::new();
    Man::new(cmd).render(&mut page_text)?;
    let page_text = String::from_utf8(page_text)?;
    // Ours go where man(7) puts them: after the options and commands, before VERSION.
    let (head, tail) =
        page_text.split_at(page_text.find(".SH VERSION\n").unwrap_or(page_text.len()));
    out.write_all(head.as_bytes())?;
    write_exit_status(out, exit_status(page))?;
    write_examples(out, examples(page))?;
    out.write_all(tail.as_bytes())?;
    Ok(())
}

fn write_exit_status(out: &mut dyn Write, codes: &[(&str, &str)]) -> io::Result<()> {
    writeln!(out, ".SH \"EXIT STATUS\"")?;
    for (code, meaning) in codes {
        // The meanings are written as roff already (their dashes escaped).
        writeln!(out, ".TP\n\\fB{code}\\fR\n{meaning}")?;
    }
    Ok(())
}

fn write_examples(out: &mut dyn Write, examples: &[Example]) -> io::Result<()> {
    if examples.is_empty() {
        return Ok(());
    }
    writeln!(out, ".SH EXAMPLES")?;
    for (what, command) in examples {
        writeln!(out, ".PP\n{}", escape(what))?;
        // No filling, indented: the command prints exactly as it is typed.
        writeln!(out, ".PP\n.RS 4\n.nf\n{}\n.fi\n.RE", escape(command))?;
    }
    Ok(())
}

/// Text as roff prints it literally: backslashes and dashes escaped, and no line that starts
/// with a control character.
fn escape(text: &str) -> String {
    let body = text.replace('\\', "\\e").replace('-', "\\-");
    if body.starts_with('.') || body.starts_with('\'') {
        format!("\\&{body}")
    } else {
        body
    }
}

#[cfg(test)]
mod tests {
    //! The real command tree's pages are tested through the binary (tests/it/cli.rs).
    use super::*;

    fn toy() -> Command {
        Command::new("media-doctor")
            .version("1.2.3")
            .arg(
                clap::Arg::new("color")
                    .long("color")
                    .help("When to use colours"),
            )
            .subcommand(
                Command::new("check")
                    .about("Run every check")
                    .arg(clap::Arg::new("offline").long("offline").help("No request")),
            )
    }

    fn page(name: Option<&str>) -> String {
        let mut out = Vec::new();
        write(&mut out, toy(), name, "1.2.3").unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn the_check_page_gives_the_three_exit_codes_in_order_then_examples_then_version() {
        let text = page(Some("check"));
        assert!(text.contains("\n.TH media-doctor-check 1 "), "{text}");
        let at = |needle: &str| {
            text.find(needle)
                .unwrap_or_else(|| panic!("{needle}: {text}"))
        };
        assert!(at(".SH OPTIONS") < at(".SH \"EXIT STATUS\""));
        assert!(at("\\fB0\\fR\nNothing") < at("\\fB1\\fR\nA check"));
        assert!(at("\\fB1\\fR\nA check") < at("\\fB2\\fR\nThe tool could not run"));
        assert!(at("\\fB2\\fR\nThe tool") < at(".SH EXAMPLES"));
        assert!(at(".SH EXAMPLES") < at(".SH VERSION\nv1.2.3"));
        assert!(text.contains("media\\-doctor check \\-\\-site myapp \\-\\-select MD1"));
    }

    #[test]
    fn an_unknown_command_has_no_page() {
        let mut out = Vec::new();
        let err = write(&mut out, toy(), Some("chekc"), "1").unwrap_err();
        assert!(err.to_string().contains("no command \"chekc\""), "{err}");
    }

    #[test]
    fn escape_keeps_text_literal() {
        assert_eq!(escape("a-b \\n"), "a\\-b \\en");
        assert_eq!(escape(".hidden"), "\\&.hidden");
    }
}
