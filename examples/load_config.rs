//! Time loading alone: `cargo run --release --example load_config -- [--root DIR] [--dump] [--tree] PATH`.
//!
//! Prints the load time, files, directives and diagnostics; `--tree` prints every directive
//! (includes expanded) as `file:line name args`, which is how scripts/bench-nginx.sh and the
//! dump-vs-files test compare two loads. `--dump` reads PATH as an `nginx -T` dump.

use media_doctor::nginx::{self, Config};
use media_doctor::sysroot::SysRoot;
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

fn main() -> std::process::ExitCode {
    let mut root = SysRoot::live();
    let (mut dump, mut tree, mut path, mut repeat) = (false, false, None, 1usize);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--root" => root = SysRoot::new(args.next().expect("--root DIR")),
            "--dump" => dump = true,
            "--tree" => tree = true,
            // Load N times and report the fastest: a shared machine's noise only ever adds time.
            "--repeat" => repeat = args.next().and_then(|n| n.parse().ok()).unwrap_or(1),
            _ => path = Some(std::path::absolute(&a).unwrap_or_else(|_| PathBuf::from(&a))),
        }
    }
    let Some(path) = path else {
        eprintln!("usage: load_config [--root DIR] [--dump] [--tree] PATH");
        return std::process::ExitCode::from(2);
    };
    let bytes = if dump {
        std::fs::read(&path).unwrap_or_default()
    } else {
        Vec::new()
    };
    let mut best = None;
    let mut loaded = None;
    for _ in 0..repeat.max(1) {
        drop(loaded.take());
        let t = Instant::now();
        loaded = Some(if dump {
            nginx::load_dump(&root, &bytes, &path.display().to_string())
        } else {
            nginx::load_files(&root, &path)
        });
        let e = t.elapsed();
        best = Some(best.map_or(e, |b: std::time::Duration| b.min(e)));
    }
    let elapsed = best.unwrap_or_default();
    let Some(loaded) = loaded else {
        return std::process::ExitCode::from(2);
    };
    let cfg = match loaded {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let out = std::io::stdout();
    let mut out = std::io::BufWriter::new(out.lock());
    if tree {
        print_tree(&cfg, &mut out);
    }
    for d in &cfg.diagnostics {
        let _ = writeln!(out, "{}{d}", if d.fatal { "error: " } else { "warning: " });
    }
    let _ = writeln!(
        out,
        "loaded {} files, {} directives, {} bytes of text, kind {:?}, {} diagnostics in {:.3} s ({:.0} MB/s)",
        cfg.files.len(),
        cfg.directive_count(),
        cfg.text_len(),
        cfg.kind,
        cfg.diagnostics.len(),
        elapsed.as_secs_f64(),
        cfg.text_len() as f64 / 1e6 / elapsed.as_secs_f64()
    );
    std::process::ExitCode::SUCCESS
}

fn print_tree(cfg: &Config, out: &mut impl Write) {
    for (depth, d) in cfg.depth_first() {
        let _ = writeln!(
            out,
            "{}{}:{} {} {:?}{}",
            "  ".repeat(depth),
            d.file().display(),
            d.line(),
            d.name(),
            d.args().collect::<Vec<_>>(),
            if d.has_block() { " {" } else { "" }
        );
    }
}
