//! Command-line arguments (clap derive). The contract is ../shared/design/cli-contract.md,
//! mirrored in docs/cli.md: do not rename or remove options.

use crate::report::FailOn;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// The package version and, when built from a git checkout, the commit: "0.1.0 (1a2b3c4)".
pub const VERSION: &str = env!("MEDIA_DOCTOR_VERSION");

#[derive(Debug, Parser)]
#[command(
    name = "media-doctor",
    version = VERSION,
    about = "Find out why uploaded or static files answer 403/404 behind nginx or Apache (Django, Flask)",
    long_about = "Find out why uploaded or static files answer 403/404 behind nginx or Apache httpd.\n\n\
        media-doctor reads the server's configuration (nginx, or Apache when that is what runs) \
        and the app's settings, resolves media URLs exactly as the server does, walks the \
        directories as its worker user, and prints a checklist with evidence and fixes. It never \
        changes anything."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// When to use colours (never with NO_COLOR set).
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run every check on a site and print a checklist with fixes.
    Check(CheckArgs),
    /// Show how the server (nginx or Apache) serves one URL: server, location, file path, the walk,
    /// the status, and why.
    Trace(TraceArgs),
    /// Print a check's documentation page.
    Explain {
        /// A check id (MD101) or name (alias-trailing-slash).
        id: String,
    },
    /// List every check: id, name, band, summary.
    ListChecks {
        /// text: one check per line; json: an array of {id, name, band, summary, ...}.
        #[arg(long, value_enum, default_value_t = ListFormat::Text)]
        format: ListFormat,
    },
    /// Print a shell completion script (see docs/install.md).
    Completions {
        /// The shell to complete for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print a man page in roff: media-doctor(1), or a command's page (`man check`).
    Man {
        /// A command (check, trace, ...): print media-doctor-COMMAND(1) instead.
        command: Option<String>,
    },
}

/// Which site to examine. With none of these, the site is discovered on the live system.
#[derive(Debug, Clone, Default, Args)]
pub struct SiteArgs {
    /// A site: profile /etc/media-doctor/NAME.toml or ./media-doctor.toml, else discovered by name.
    #[arg(long, value_name = "NAME")]
    pub site: Option<String>,
    /// Main nginx config to load (default: `nginx -V`'s conf path, else /etc/nginx/nginx.conf).
    /// A bare server block or a snippet is accepted too.
    #[arg(long, value_name = "PATH", conflicts_with = "nginx_dump")]
    pub nginx_conf: Option<PathBuf>,
    /// Read an `nginx -T` dump instead of the files on disk (`-` for stdin).
    #[arg(long, value_name = "PATH|-")]
    pub nginx_dump: Option<PathBuf>,
    /// The app's project directory or its settings/config file.
    #[arg(long, value_name = "PATH")]
    pub app: Option<PathBuf>,
    /// The app's framework (default: auto, found from the project's files).
    #[arg(long, value_enum)]
    pub framework: Option<Framework>,
    /// Public base URL for live checks (e.g. https://example.com).
    #[arg(long, value_name = "BASE")]
    pub url: Option<String>,
    /// A file the live checks request, as a URL path (/media/a.jpg) or a file under a served
    /// directory (default: the first file found in each served media/static directory).
    /// Repeatable.
    #[arg(long, value_name = "URL|PATH")]
    pub probe: Vec<String>,
    /// Treat DIR as the filesystem root (a mounted image, a container export, a fixture tree).
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Override the nginx worker user (default: the `user` directive, else nginx's default).
    #[arg(long, value_name = "USER")]
    pub as_user: Option<String>,
    /// Also run the app's own Python (its venv) to print its settings, with a timeout, and show
    /// where they differ from the static reading. This EXECUTES the app's settings code.
    #[arg(long)]
    pub eval: bool,
    /// Refuse any input file (a config, a dump, stdin, a settings file) larger than this many
    /// bytes [default: 268435456, 256 MiB].
    #[arg(long, value_name = "BYTES")]
    pub max_config_bytes: Option<u64>,
    /// Give up on a pipe, FIFO or stdin (not a terminal) that sends nothing for this many
    /// seconds [default: 120]. `nginx -T` prints nothing until it has read the whole config.
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    pub input_timeout: Option<u64>,
    /// The app runs with Docker Compose: this compose file (repeat for overrides, merged in
    /// order as `docker compose -f A -f B`). Default: the compose file beside --app whose
    /// services run the nginx config given, else compose.yaml/docker-compose.yml there.
    #[arg(long, value_name = "FILE")]
    pub compose: Vec<PathBuf>,
    /// The web server to judge (default: the one running, else the one whose configuration
    /// exists, nginx first).
    #[arg(long, value_enum)]
    pub server: Option<WebServer>,
    /// Main Apache httpd config to load (default: /etc/apache2/apache2.conf, else
    /// /etc/httpd/conf/httpd.conf). A bare <VirtualHost> file is accepted too. Implies
    /// --server apache.
    #[arg(long, value_name = "PATH", conflicts_with_all = ["nginx_conf", "nginx_dump"])]
    pub apache_conf: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum WebServer {
    Nginx,
    Apache,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub site: SiteArgs,
    /// Send no request and read no log: every live check is skipped.
    #[arg(long)]
    pub offline: bool,
    /// text: the checklist for a person; json: the report (docs/json-schema.md); sarif: for code
    /// scanning; github: workflow annotations.
    #[arg(long, value_enum, default_value_t = CheckFormat::Text)]
    pub format: CheckFormat,
    /// The lowest status that makes the exit code 1.
    #[arg(long, value_enum, default_value_t = FailOn::Error)]
    pub fail_on: FailOn,
    /// Run only these checks: ids (MD101), names (alias-trailing-slash) or bands (MD1, MD2, ...).
    #[arg(long, value_name = "ID,...", value_delimiter = ',')]
    pub select: Vec<String>,
    /// Do not run these checks (ids, names or bands, as --select).
    #[arg(long, value_name = "ID,...", value_delimiter = ',')]
    pub ignore: Vec<String>,
    /// Text format: print only the checks that count against --fail-on, and the summary.
    #[arg(short, long, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Text format: show the evidence of passing checks too.
    #[arg(short, long)]
    pub verbose: bool,
    /// Print the proven config fixes instead of the report: one unified diff of each config file
    /// they edit (--- a/etc/nginx/..., +++ b/...), applied with `patch -p1` from / (or from the
    /// --root directory). On a box of several sites, without --site, the fixes of every site in
    /// one diff. The exit status is the check's.
    #[arg(long)]
    pub diff: bool,
}

#[derive(Debug, Args)]
pub struct TraceArgs {
    /// The URL to trace, e.g. https://example.com/media/a.jpg
    // Its own id: `url` is taken by the flattened `--url BASE` (clap's debug asserts say so).
    #[arg(id = "trace_url", value_name = "URL")]
    pub url: String,
    #[command(flatten)]
    pub site: SiteArgs,
    /// Send no request: only the prediction from the config and the files, no live answer.
    #[arg(long)]
    pub offline: bool,
    /// text: the trace for a person; json: the same as one JSON document.
    #[arg(long, value_enum, default_value_t = ListFormat::Text)]
    pub format: ListFormat,
    /// Exit 1 when the URL fails at or above this level: error (it answers 4xx or 5xx, live or
    /// else predicted), warning (also when the prediction is unknown or the live answer
    /// differs from it). The default, never, exits 0 whatever the URL answers.
    #[arg(long, value_enum, default_value_t = FailOn::Never)]
    pub fail_on: FailOn,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CheckFormat {
    Text,
    Json,
    Sarif,
    Github,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    Text,
    Json,
}

impl SiteArgs {
    /// The site layer's own options (it knows nothing of clap).
    pub fn options(&self) -> crate::site::Options {
        crate::site::Options {
            site: self.site.clone(),
            nginx_conf: self.nginx_conf.clone(),
            nginx_dump: self.nginx_dump.clone(),
            app: self.app.clone(),
            framework: match self.framework {
                Some(Framework::Django) => Some(crate::app::Framework::Django),
                Some(Framework::Flask) => Some(crate::app::Framework::Flask),
                Some(Framework::Auto) | None => None,
            },
            url: self.url.clone(),
            probe: self.probe.clone(),
            root: self.root.clone(),
            as_user: self.as_user.clone(),
            eval: self.eval,
            max_config_bytes: self.max_config_bytes,
            input_timeout: self.input_timeout,
            compose: self.compose.clone(),
            apache_conf: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Framework {
    Django,
    Flask,
    Auto,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// clap checks the whole definition (duplicate ids, conflicts naming unknown args...) only
    /// when every subcommand is built, as completions and the man page do.
    #[test]
    fn the_cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    /// The man pages and `--help` describe every option: none may be a bare name.
    #[test]
    fn every_argument_has_help_text() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                if arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("{path} {}", arg.get_id()));
                }
            }
            for sub in cmd.get_subcommands() {
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut cmd = Cli::command();
        cmd.build();
        let mut missing = Vec::new();
        walk(&cmd, "media-doctor", &mut missing);
        assert!(missing.is_empty(), "arguments without help: {missing:?}");
    }

    #[test]
    fn version_names_the_package_version() {
        assert!(VERSION.starts_with(env!("CARGO_PKG_VERSION")), "{VERSION}");
    }
}
