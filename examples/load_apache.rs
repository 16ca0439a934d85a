//! Time loading an Apache configuration alone:
//! `cargo run --release --example load_apache -- [--root DIR] [--tree] [--repeat N] PATH`.
//!
//! Prints the load time, files, directives and diagnostics (file:line, like `apache2ctl -t`);
//! `--tree` prints every directive as `file:line name args` (scripts/bench-apache.sh times it).

use media_doctor::apache;
use media_doctor::sysroot::SysRoot;
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

fn main() -> std::process::ExitCode {
    let mut root = SysRoot::live();
    let (mut tree, mut path, mut repeat) = (false, None, 1usize);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--root" => root = SysRoot::new(args.next().expect("--root DIR")),
            "--tree" => tree = true,
            // Load N times and report the fastest: a shared machine's noise only ever adds time.
            "--repeat" => repeat = args.next().and_then(|n| n.parse().ok()).unwrap_or(1),
            _ => path = Some(std::path::absolute(&a).unwrap_or_else(|_| PathBuf::from(&a))),
        }
    }
    let Some(path) = path else {
        eprintln!("usage: load_apache [--root DIR] [--tree] [--repeat N] PATH");
        return std::process::ExitCode::from(2);
    };
    let mut best: Option<std::time::Duration> = None;
    let mut loaded = None;
    for _ in 0..repeat.max(1) {
        drop(loaded.take());
        let t = Instant::now();
        loaded = Some(apache::load_files(&root, &path));
        let e = t.elapsed();
        best = Some(best.map_or(e, |b| b.min(e)));
    }
    let cfg = match loaded {
        Some(Ok(c)) => c,
        Some(Err(e)) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::from(2);
        }
        None => return std::process::ExitCode::from(2),
    };
    let out = std::io::stdout();
    let mut out = out.lock();
    if tree {
        for d in cfg.all() {
            let _ = write!(out, "{}:{} {}", d.file().display(), d.line(), d.name());
            for a in d.args() {
                let _ = write!(out, " {a}");
            }
            let _ = writeln!(out);
        }
    }
    let _ = writeln!(
        out,
        "loaded in {:.1} ms: {} files, {} directives, {} virtual hosts",
        best.unwrap_or_default().as_secs_f64() * 1000.0,
        cfg.files.len(),
        cfg.directive_count(),
        cfg.virtual_hosts().count()
    );
    for d in &cfg.diagnostics {
        let _ = writeln!(out, "{} {d}", if d.fatal { "error:" } else { "warning:" });
    }
    std::process::ExitCode::from(if cfg.first_error().is_some() { 1 } else { 0 })
}
