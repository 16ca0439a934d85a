//! `cargo run --release --example scan -- DIR [--threads N] [--user USER] [--json]`: the MD203
//! tree scan on its own, for benchmarks (scripts/bench-scan.sh) and for poking at a tree.
use media_doctor::fs::{scan, Identity};
use media_doctor::sysroot::SysRoot;
use std::io::IsTerminal;

fn main() -> anyhow::Result<()> {
    let mut dir = None;
    let mut opts = scan::Options::default();
    let mut user = "www-data".to_string();
    let mut json = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--threads" => opts.threads = args.next().unwrap_or_default().parse()?,
            "--user" => user = args.next().unwrap_or_default(),
            "--json" => json = true,
            "--no-verify" => opts.verify = false,
            _ => dir = Some(a),
        }
    }
    let dir =
        dir.ok_or_else(|| anyhow::anyhow!("usage: scan DIR [--threads N] [--user U] [--json]"))?;
    opts.progress = !json && std::io::stderr().is_terminal();
    let root = SysRoot::live();
    let who = Identity::lookup(&root, &user)?;
    let s = scan::scan(&root, std::path::Path::new(&dir), &who, &opts);
    if json {
        println!("{}", serde_json::to_string_pretty(&s)?);
    } else {
        println!(
            "files={} dirs={} symlinks={} files_unreadable={} files_hidden={} dirs_untraversable={} dirs_hidden={} vanished={} unverified={} ms={}",
            s.files, s.dirs, s.symlinks, s.files_unreadable, s.files_hidden, s.dirs_untraversable,
            s.dirs_hidden, s.vanished, s.unverified_count, s.elapsed_ms
        );
    }
    Ok(())
}
