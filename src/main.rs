//! media-doctor: why do uploaded/static files answer 403/404 behind nginx?
//!
//! main → run → exit code. Exit codes are the contract: 0 nothing at or above --fail-on,
//! 1 findings at or above it, 2 the tool could not run (one-line reason on stderr).

use anyhow::Context;
use clap::{CommandFactory, Parser};
use media_doctor::checks::{
    self,
    select::{Accepted, Selection},
};
use media_doctor::cli::{CheckFormat, Cli, ColorChoice, Command, ListFormat, SiteArgs};
use media_doctor::render::{self, files::SourceFiles};
use media_doctor::report::Report;
use media_doctor::site::{NginxSource, Site};
use std::io::{IsTerminal, Write};
use std::process::ExitCode;

#[cfg(not(feature = "system-alloc"))]
mod alloc;

// `--features system-alloc` builds with the C library's malloc alone, so that heap profilers
// that hook malloc (valgrind --tool=massif, scripts/massif-top.py) see every block: jemalloc,
// linked in statically, hides them.
#[cfg(not(feature = "system-alloc"))]
#[global_allocator]
static ALLOC: alloc::Split = alloc::Split;

fn main() -> ExitCode {
    #[cfg(not(feature = "system-alloc"))]
    alloc::mmap_large_blocks();
    let cli = Cli::parse();
    configure_colors(cli.color);
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            // Broken pipe (`media-doctor check | head`) is not an error worth a message.
            if err
                .downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            {
                return ExitCode::SUCCESS;
            }
            eprintln!("media-doctor: error: {}", one_line(&err));
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    // Into a pipe or a file, written in large blocks: stdout is line-buffered, and a report of
    // millions of lines (JSON of one site of 360,000 servers) was as many write(2) calls. On a
    // terminal, line by line as before.
    let stdout = std::io::stdout();
    let mut out: Box<dyn Write> = if stdout.is_terminal() {
        Box::new(stdout.lock())
    } else {
        Box::new(std::io::BufWriter::with_capacity(1 << 16, stdout.lock()))
    };
    match cli.command {
        Command::Check(args) => {
            check_site_args(&args.site)?;
            let mut options = args.site.options();
            if let Judged::Apache(conf) = judged_server(&args.site) {
                options.apache_conf = Some(conf.ok_or_else(|| {
                    anyhow::anyhow!(
                        "no Apache configuration found (/etc/apache2/apache2.conf, /etc/httpd/conf/httpd.conf): give --apache-conf PATH"
                    )
                })?);
            }
            // Parse the selection before gathering: a typo is reported before any work.
            let selection = Selection::parse(&args.select, &args.ignore)?;
            // Never freed: the process ends after the report, and freeing the loaded config
            // (millions of nodes for a large box) cost a tenth of `check --site` on one.
            let mut site = std::mem::ManuallyDrop::new(Site::gather(&options, args.offline)?);
            refuse_missing(&site)?;
            // Progress for long scans: only for a person watching text output, never in JSON/CI.
            site.progress = args.format == CheckFormat::Text
                && std::io::stderr().is_terminal()
                && std::env::var_os("CI").is_none();
            let accepted = match &site.profile {
                Some(p) => Accepted::parse(&p.ignore)
                    .with_context(|| format!("profile {}", p.source.display()))?,
                None => Accepted::default(),
            };
            if let Some(sites) = each_site(&site, &args) {
                return check_each_site(&mut out, &site, sites, &args, &selection, &accepted);
            }
            // The fixes as data are kept for `--diff` only. A JSON report is written once, as
            // it is made: a check of many findings (one site of many servers) lets them go
            // once settled and makes them again as they are written (`checks::Run`).
            let (mut results, run) = if args.format == CheckFormat::Json && !args.diff {
                let (results, made) =
                    checks::run_made_again(&mut site, &selection.checks(), checks::MADE_AGAIN_FROM);
                (results, Some(made))
            } else {
                let results = checks::run_keeping(&site, &selection.checks(), args.diff);
                (results, None)
            };
            refuse_unread_input()?;
            accepted.apply(&mut results);
            // Never freed, as the site: a report of a site of 360,000 servers holds a million
            // findings, and the process ends after it is written.
            let mut report = std::mem::ManuallyDrop::new(Report::new(site.to_json(), results));
            let fails = report.fails_at(args.fail_on);
            let target = match &site.nginx.source {
                NginxSource::Files { entry } => Some(entry.display().to_string()),
                NginxSource::Dump { .. } => None,
            };
            let files = || {
                SourceFiles::new(site.root.clone(), std::env::current_dir().ok())
                    .with_target(target.clone())
            };
            match args.format {
                _ if args.diff => render::diff::write(&mut out, &report, &site.root)?,
                CheckFormat::Text => {
                    let opts = render::text::Options {
                        verbose: args.verbose,
                        quiet: args.quiet,
                        fail_on: args.fail_on,
                        width: render::text::terminal_width(),
                    };
                    render::text::write_in_place(&mut out, &mut report, &opts)?
                }
                CheckFormat::Json => match run {
                    Some(made) => {
                        let run = made.over(&site);
                        let keys =
                            render::json::write_checks_made_again(&mut out, &mut report, run)?;
                        site.let_go_of_models();
                        #[cfg(not(feature = "system-alloc"))]
                        media_doctor::heap::return_freed_pages_now();
                        render::json::write_causes(&mut out, &report, &keys)?
                    }
                    None => render::json::write(&mut out, &report)?,
                },
                CheckFormat::Sarif => render::sarif::write(&mut out, &report, &files())?,
                CheckFormat::Github => render::github::write(&mut out, &report, &files())?,
            }
            out.flush()?;
            Ok(if fails {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Trace(args) => {
            check_site_args(&args.site)?;
            // A URL that is not one is a bad argument, before any work.
            let path_only = args.url.starts_with('/');
            if !path_only {
                check_trace_url(&args.url)?;
            }
            if let Judged::Apache(conf) = judged_server(&args.site) {
                return trace_apache(&mut out, &args, conf);
            }
            // Never freed, as for `check`: the process ends after the trace.
            let site =
                std::mem::ManuallyDrop::new(Site::gather(&args.site.options(), args.offline)?);
            refuse_unloadable(&site)?;
            refuse_missing(&site)?;
            let url = if path_only {
                url_on_site(&site, &args.url, args.site.site.as_deref())?
            } else {
                args.url.clone()
            };
            let req = media_doctor::nginx::resolve::Request::from_url(&url)?;
            let resolver = site.resolver_for(&req);
            let resolution = resolver.resolve(&req);
            refuse_unread_input()?;
            let mut trace = render::trace::Trace::new(&resolver, &req, &resolution);
            if !args.offline {
                trace.live = Some(media_doctor::live::trace::probe(
                    &site,
                    &resolver,
                    &req,
                    &resolution,
                ));
            }
            write_trace(&mut out, &trace, &args)
        }
        Command::Explain { id } => {
            let check = checks::find(&id).ok_or_else(|| {
                anyhow::anyhow!("no check {id:?}: `media-doctor list-checks` lists them")
            })?;
            out.write_all(check.meta().docs.as_bytes())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::ListChecks { format } => {
            let metas: Vec<_> = checks::registry().into_iter().map(|c| c.meta()).collect();
            match format {
                ListFormat::Json => render::list::write_json(&mut out, &metas)?,
                ListFormat::Text => {
                    render::list::write_text(&mut out, &metas, render::text::terminal_width())?
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Completions { shell } => {
            let mut cmd = Cli::command();
            // Into a buffer first: clap_complete panics on a write error (`| head`).
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut cmd, "media-doctor", &mut script);
            out.write_all(&script)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Man { command } => {
            render::man::write(
                &mut out,
                Cli::command(),
                command.as_deref(),
                media_doctor::cli::VERSION,
            )?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Whether `check` runs on every site of the box, each on its own: no `--site`, nothing that
/// names one site's app or URLs (`--app`, a profile, `--url`, `--probe`, `--compose`), and more
/// than one site. SARIF is one document of every result: it keeps the whole-box run.
fn each_site(site: &Site, args: &media_doctor::cli::CheckArgs) -> Option<Vec<(String, Vec<u32>)>> {
    let o = &site.options;
    if site.name.is_some()
        || site.profile.is_some()
        || o.app.is_some()
        || o.url.is_some()
        || !o.probe.is_empty()
        || !o.compose.is_empty()
        || args.format == CheckFormat::Sarif
    {
        return None;
    }
    let sites = site.sites();
    (sites.len() > 1).then_some(sites)
}

/// `check` over every site of the box, each on its own (its servers, the app they hand requests
/// to): reported as each is checked, so memory stays bounded however many sites there are.
fn check_each_site(
    out: &mut dyn Write,
    site: &Site,
    sites: Vec<(String, Vec<u32>)>,
    args: &media_doctor::cli::CheckArgs,
    selection: &Selection,
    accepted: &Accepted,
) -> anyhow::Result<ExitCode> {
    use render::sites::{Json, Text};
    #[cfg(not(feature = "system-alloc"))]
    media_doctor::heap::return_freed_pages();
    let checks = selection.checks();
    let run = |name: &str, servers: &[u32]| {
        let one = site.for_site(name, servers.to_vec());
        let mut results = checks::run_keeping(&one, &checks, args.diff);
        accepted.apply(&mut results);
        Report::new(one.to_json(), results)
    };
    if args.diff {
        // Every site's proven fixes in one diff; the exit status is the check's over them all.
        let mut diff = render::diff::Sites::default();
        let mut fails = false;
        each_report(&sites, &run, |name, report| {
            fails |= report.fails_at(args.fail_on);
            diff.add(name, report);
            Ok(())
        })?;
        diff.write(out, &site.root)?;
        out.flush()?;
        return Ok(if fails {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        });
    }
    let totals = match args.format {
        CheckFormat::Json => {
            let mut w = Json::start(out, args.fail_on, &site.box_json(&sites))?;
            each_report(&sites, &run, |name, report| Ok(w.site(name, report)?))?;
            w.finish()?
        }
        CheckFormat::Github => {
            let target = match (&site.apache, &site.nginx.source) {
                (Some(a), _) => Some(a.entry.display().to_string()),
                (None, NginxSource::Files { entry }) => Some(entry.display().to_string()),
                (None, NginxSource::Dump { .. }) => None,
            };
            let files = SourceFiles::new(site.root.clone(), std::env::current_dir().ok())
                .with_target(target);
            let mut fails = false;
            each_report(&sites, &run, |_, report| {
                fails |= report.fails_at(args.fail_on);
                Ok(render::github::write(out, report, &files)?)
            })?;
            out.flush()?;
            return Ok(if fails {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            });
        }
        CheckFormat::Text | CheckFormat::Sarif => {
            let opts = render::text::Options {
                verbose: args.verbose,
                quiet: args.quiet,
                fail_on: args.fail_on,
                width: render::text::terminal_width(),
            };
            let source = match (&site.apache, &site.nginx.source) {
                (Some(a), _) => format!("Apache httpd ({})", a.entry.display()),
                (None, NginxSource::Files { entry }) => entry.display().to_string(),
                (None, NginxSource::Dump { name }) => name.clone(),
            };
            let mut w = Text::start(out, opts, sites.len(), &source)?;
            each_report(&sites, &run, |name, report| Ok(w.site(name, report)?))?;
            w.finish()?
        }
    };
    out.flush()?;
    Ok(if totals.fails() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// A site of the box: its name and its server blocks.
type SiteServers = (String, Vec<u32>);

/// How many sites may be checked ahead of the one being written (see `each_report`).
const WINDOW: usize = 32;

/// Every site's report, handed to `write` in the order of `sites`. The sites are checked on
/// every core by workers that each take the next site as soon as they are free (a slow site
/// holds up no other), at most `WINDOW` sites ahead of the one being written: the output is
/// byte for byte that of checking them one by one, and memory holds `WINDOW` reports at most.
fn each_report(
    sites: &[SiteServers],
    run: &(dyn Fn(&str, &[u32]) -> Report + Sync),
    write: impl FnMut(&str, &Report) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    // What the sites share on this machine (the directories their roots share, the MAC state,
    // a thread that asks the kernel as the worker user) is read or made once for them all.
    media_doctor::fs::for_every_site(|| each_report_of(sites, run, write))
}

fn each_report_of(
    sites: &[SiteServers],
    run: &(dyn Fn(&str, &[u32]) -> Report + Sync),
    mut write: impl FnMut(&str, &Report) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    // A report, and the worker that made it.
    type Checked = (usize, std::thread::Result<Report>);
    let threads = media_doctor::system::cores();
    if threads <= 1 || sites.len() <= 1 {
        return sites
            .iter()
            .try_for_each(|(name, servers)| write(name, &run(name, servers)));
    }
    let next = AtomicUsize::new(0);
    // Set when writing fails: the workers stop.
    let stop = AtomicBool::new(false);
    // The reports checked and not yet written, by index, and the index written next.
    let state = std::sync::Mutex::new((std::collections::BTreeMap::<usize, Checked>::new(), 0));
    let changed = std::sync::Condvar::new();
    let lock = || state.lock().unwrap_or_else(|e| e.into_inner());
    // The reports written, by the worker that made them: each is freed by its own worker. The
    // allocator gives each thread its own arena, and a block freed by another thread waits on
    // that arena's lock while its owner allocates (10,000 reports of thousands of blocks each).
    let written: Vec<std::sync::Mutex<Vec<Report>>> =
        (0..threads).map(|_| Default::default()).collect();
    let take_written =
        |w: usize| std::mem::take(&mut *written[w].lock().unwrap_or_else(|e| e.into_inner()));
    std::thread::scope(|scope| {
        let mut workers = 0;
        for w in 0..threads {
            let (take_written, lock, next, stop, changed) =
                (&take_written, &lock, &next, &stop, &changed);
            // The main thread's stack size: the settings reader's depth limits are set for it.
            let worker = std::thread::Builder::new()
                .stack_size(8 << 20)
                .spawn_scoped(scope, move || loop {
                    drop(take_written(w));
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((name, servers)) = sites.get(i) else {
                        break;
                    };
                    // Not more than WINDOW ahead of the writer.
                    let mut st = lock();
                    while i >= st.1 + WINDOW && !stop.load(Ordering::Relaxed) {
                        st = changed.wait(st).unwrap_or_else(|e| e.into_inner());
                    }
                    drop(st);
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let report = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        run(name, servers)
                    }));
                    lock().0.insert(i, (w, report));
                    changed.notify_all();
                });
            if worker.is_err() {
                // No thread to be had: the ones running (or this one, below) do the work.
                break;
            }
            workers += 1;
        }
        let result = (|| -> anyhow::Result<()> {
            for (i, (name, servers)) in sites.iter().enumerate() {
                let (by, report) = if workers == 0 {
                    (None, Ok(run(name, servers)))
                } else {
                    let mut st = lock();
                    loop {
                        if let Some((w, r)) = st.0.remove(&i) {
                            break (Some(w), r);
                        }
                        st = changed.wait(st).unwrap_or_else(|e| e.into_inner());
                    }
                };
                let report = match report {
                    Ok(r) => r,
                    Err(panic) => {
                        stop.store(true, Ordering::Relaxed);
                        changed.notify_all();
                        std::panic::resume_unwind(panic)
                    }
                };
                write(name, &report)?;
                if let Some(w) = by {
                    written[w]
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(report);
                }
                lock().1 = i + 1;
                changed.notify_all();
            }
            Ok(())
        })();
        if result.is_err() {
            stop.store(true, Ordering::Relaxed);
            changed.notify_all();
        }
        result
    })
}

/// Options that name something that is not there are bad arguments (exit 2), never a quiet
/// run without them: an `--app` that does not exist or cannot be read, an unknown `--as-user`.
fn refuse_missing(site: &Site) -> anyhow::Result<()> {
    if let Some(app) = &site.options.app {
        // Under --root, an absolute path is the system's (inside the root, its symlinks followed
        // there), as for --nginx-conf.
        let host = if app.is_absolute() && !site.root.is_live() {
            site.root.resolve(app)
        } else {
            Ok(app.clone())
        };
        if let Err(e) = host.and_then(|host| {
            let m = std::fs::metadata(&host)?;
            if m.is_dir() {
                std::fs::read_dir(&host).map(|_| ())
            } else {
                std::fs::File::open(&host).map(|_| ())
            }
        }) {
            anyhow::bail!(
                "--app {}: {e}: give the app's project directory or its settings file",
                app.display()
            );
        }
    }
    let worker = site.worker();
    if let (Some(user), Err(why)) = (&site.options.as_user, &worker.identity) {
        anyhow::bail!(
            "--as-user {user}: {why}: give a user of this system (nginx's worker is usually \
             www-data or nginx; the `user` directive names it)"
        );
    }
    Ok(())
}

/// A file refused for its size (`crate::input`: over `--max-config-bytes`) is an input the run
/// could not judge, whichever reader met it (a settings module found during app discovery, an
/// env file): exit 2 naming the file, rather than a report on the rest as if it had been read.
fn refuse_unread_input() -> anyhow::Result<()> {
    match media_doctor::input::first_refused() {
        Some(why) => anyhow::bail!("{why}"),
        None => Ok(()),
    }
}

/// `trace` on a config nginx would refuse (`nginx -t` fails: an include loop, an unterminated
/// quote, unbalanced braces, a directory as an include): no prediction, since no nginx runs that
/// config; the located error instead, exit 2. (`check` reports the same under MD100.)
fn refuse_unloadable(site: &Site) -> anyhow::Result<()> {
    let cfg = site.config();
    let Some(first) = cfg.diagnostics.iter().find(|d| d.fatal) else {
        return Ok(());
    };
    // Listed or not (MD100 lists the first ones of each file and counts the rest).
    let more = cfg.fatal_count() - 1;
    anyhow::bail!(
        "the nginx config does not load, so nginx would not run it: {first}{}",
        if more > 0 {
            let which = if cfg.omitted.is_empty() {
                "them"
            } else {
                "the first ones of each file"
            };
            format!(" (and {more} more error(s): `media-doctor check` lists {which})")
        } else {
            String::new()
        }
    )
}

/// The web server `trace`/`check` judge: `--server`/`--apache-conf`, else the nginx options,
/// else the one running (an nginx master, else an apache2/httpd process), else the one whose
/// configuration exists under --root (nginx first).
enum Judged {
    Nginx,
    /// With the main config found, if any.
    Apache(Option<std::path::PathBuf>),
}

fn judged_server(args: &SiteArgs) -> Judged {
    use media_doctor::cli::WebServer;
    let root = args.root.as_ref().map_or_else(
        media_doctor::sysroot::SysRoot::live,
        media_doctor::sysroot::SysRoot::new,
    );
    let apache_conf = || {
        args.apache_conf
            .clone()
            .or_else(|| media_doctor::apache::find_main(&root))
    };
    match args.server {
        Some(WebServer::Apache) => return Judged::Apache(apache_conf()),
        Some(WebServer::Nginx) => return Judged::Nginx,
        None => {}
    }
    if args.apache_conf.is_some() {
        return Judged::Apache(apache_conf());
    }
    if args.nginx_conf.is_some() || args.nginx_dump.is_some() {
        return Judged::Nginx;
    }
    if root.is_live() {
        if !media_doctor::system::nginx_masters().is_empty() {
            return Judged::Nginx;
        }
        if apache_running() {
            return Judged::Apache(apache_conf());
        }
    }
    let nginx_conf = root.host_path(std::path::Path::new("/etc/nginx/nginx.conf"));
    if !nginx_conf.is_file() {
        if let Some(conf) = media_doctor::apache::find_main(&root) {
            return Judged::Apache(Some(conf));
        }
    }
    Judged::Nginx
}

/// The system's Apache httpd runs: the pid in its pid file (Debian's, RHEL's) is an `apache2` or
/// `httpd` process. (A private instance with its own PidFile, as the tests start, is not the
/// box's server.)
fn apache_running() -> bool {
    [
        "/run/apache2/apache2.pid",
        "/run/httpd/httpd.pid",
        "/var/run/httpd.pid",
    ]
    .iter()
    .filter_map(|f| std::fs::read_to_string(f).ok())
    .filter_map(|pid| pid.trim().parse::<u32>().ok())
    .any(|pid| {
        std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .is_ok_and(|c| matches!(c.trim(), "apache2" | "httpd"))
    })
}

/// `trace URL` judged against Apache: its configuration loaded, the URL resolved, the same
/// trace printed (`web_server: apache`). No live probe yet.
fn trace_apache(
    out: &mut dyn Write,
    args: &media_doctor::cli::TraceArgs,
    conf: Option<std::path::PathBuf>,
) -> anyhow::Result<ExitCode> {
    let root = args.site.root.as_ref().map_or_else(
        media_doctor::sysroot::SysRoot::live,
        media_doctor::sysroot::SysRoot::new,
    );
    if let Some(n) = args.site.max_config_bytes {
        media_doctor::input::set_max_bytes(n);
    }
    if let Some(secs) = args.site.input_timeout {
        media_doctor::input::set_idle_timeout(std::time::Duration::from_secs(secs));
    }
    let conf = conf.ok_or_else(|| {
        anyhow::anyhow!(
            "no Apache configuration found (/etc/apache2/apache2.conf, /etc/httpd/conf/httpd.conf): give --apache-conf PATH"
        )
    })?;
    // Never freed, as for nginx: the process ends after the trace.
    let cfg = std::mem::ManuallyDrop::new(media_doctor::apache::load_files(&root, &conf)?);
    let resolver =
        std::mem::ManuallyDrop::new(media_doctor::apache::resolve::Resolver::new(&cfg, &root));
    let url = if args.url.starts_with('/') {
        // A bare path: on the first virtual host's name.
        let host = resolver
            .virtual_hosts()
            .iter()
            .find_map(|v| v.name.clone())
            .unwrap_or_else(|| "localhost".into());
        format!("http://{host}{}", args.url)
    } else {
        args.url.clone()
    };
    let req = media_doctor::nginx::resolve::Request::from_url(&url)?;
    let res = resolver.resolve(&req);
    let mut trace = render::trace::Trace::from_apache(&resolver, &req, &res);
    if let Some(e) = cfg.first_error() {
        trace.steps.insert(
            0,
            format!(
                "apache2ctl -t would fail: {e} (the rest of the configuration is judged as read)"
            ),
        );
    }
    if !args.offline {
        trace
            .steps
            .push("no live request: the live answer is compared for nginx only so far".into());
    }
    write_trace(out, &trace, args)
}

/// A trace in the format asked for, and its exit code (`--fail-on`): one way for both servers.
fn write_trace(
    out: &mut dyn Write,
    trace: &render::trace::Trace,
    args: &media_doctor::cli::TraceArgs,
) -> anyhow::Result<ExitCode> {
    match args.format {
        ListFormat::Json => render::trace::write_json(out, trace)?,
        ListFormat::Text => {
            render::trace::write_text(out, trace, render::text::terminal_columns())?
        }
    }
    out.flush()?;
    Ok(
        if trace
            .severity()
            .is_some_and(|s| args.fail_on.counts_severity(s))
        {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        },
    )
}

/// Site options checked before any work: a malformed `--url` is a bad argument (exit 2), not a
/// finding.
fn check_site_args(args: &SiteArgs) -> anyhow::Result<()> {
    if let Some(url) = &args.url {
        media_doctor::live::public::parse_base(url).map_err(|e| anyhow::anyhow!("--url {e}"))?;
    }
    Ok(())
}

/// `trace URL`: something nginx could be asked for, `http[s]://HOST[:PORT]/PATH` (the scheme may
/// be left out). Anything else — a word, a path with spaces, `%%%` — is a bad argument (exit 2)
/// with the way forward.
fn check_trace_url(url: &str) -> anyhow::Result<()> {
    let how = "give http://HOST/PATH (http://example.com/media/a.jpg), or a /PATH with --site NAME";
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        anyhow::bail!("{url:?} is not a URL (it has spaces): {how}");
    }
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    let valid = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | ':'));
    if !valid {
        anyhow::bail!("{url:?} is not a URL (no host name in it): {how}");
    }
    Ok(())
}

/// `trace /PATH --site NAME`: the path on the site's first server_name.
fn url_on_site(site: &Site, path: &str, name: Option<&str>) -> anyhow::Result<String> {
    let Some(name) = name else {
        anyhow::bail!(
            "{path} is a path: give the site it is on (--site NAME, whose first server_name is \
             the host) or a whole URL (http://example.com{path})"
        );
    };
    let cfg = &site.nginx.config;
    let names: Vec<&str> = site
        .nginx
        .servers
        .iter()
        .flat_map(|&s| cfg.directive(s).server_names())
        .collect();
    let host = media_doctor::nginx::resolve::host_for(&names);
    match host {
        Some(host) => Ok(format!("http://{host}{path}")),
        None => anyhow::bail!(
            "site {name} has no server_name to put in the URL: give the whole URL (http://HOST{path})"
        ),
    }
}

fn configure_colors(choice: ColorChoice) {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let on = match choice {
        ColorChoice::Never => false,
        ColorChoice::Always => !no_color,
        ColorChoice::Auto => {
            !no_color
                && std::io::stdout().is_terminal()
                && std::env::var("TERM").map_or(true, |t| t != "dumb")
        }
    };
    colored::control::set_override(on);
}

/// The contract wants a one-line reason on stderr: the error chain joined with ": ", each cause
/// once (an error that already quotes its cause, like "cannot read X: Permission denied", is not
/// followed by the cause again), control bytes from file names or config values escaped.
fn one_line(err: &anyhow::Error) -> String {
    let mut line = String::new();
    for e in err.chain() {
        let text = e.to_string();
        let text = text.trim();
        if text.is_empty() || line.contains(text) || line.contains(os_reason(text)) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(text);
    }
    media_doctor::text_safe::line(&line).into_owned()
}

/// "Permission denied (os error 13)" -> "Permission denied": the words an error already quoted.
fn os_reason(text: &str) -> &str {
    match text.find(" (os error ") {
        Some(i) if text.ends_with(')') => &text[..i],
        _ => text,
    }
}
