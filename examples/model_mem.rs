//! The heap of one config's nginx model, stage by stage:
//! `cargo run --release --example model_mem -- PATH`.
//!
//! Prints the bytes in use (glibc's `mallinfo2`: an example runs on the C library's malloc, not
//! the binary's jemalloc, so `valgrind --tool=massif` can see its blocks too) after loading the
//! config, after `resolve::Shared::build` and after the model of every server
//! (`Model::for_servers(.., None)`), each against the input's bytes.

use media_doctor::nginx;
use media_doctor::nginx::resolve::{Model, Shared};
use media_doctor::sysroot::SysRoot;
use std::path::PathBuf;
use std::sync::Arc;

fn in_use() -> usize {
    // SAFETY: mallinfo2 only reads the allocator's counters.
    let m = unsafe { libc::mallinfo2() };
    m.uordblks + m.hblkhd
}

fn main() -> std::process::ExitCode {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: model_mem PATH");
        return std::process::ExitCode::from(2);
    };
    let path = std::path::absolute(&path).unwrap_or_else(|_| PathBuf::from(&path));
    let start = in_use();
    let cfg = match nginx::load_files(&SysRoot::live(), &path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let input: u64 = cfg
        .files
        .iter()
        .filter_map(|f| std::fs::metadata(&f.path).ok())
        .map(|m| m.len())
        .sum();
    let servers = cfg.servers().len();
    let report = |what: &str, bytes: usize| {
        println!(
            "{what:<28} {:>10.1} MB  {:>5.2}x input  {:>6} B a server",
            bytes as f64 / 1e6,
            bytes as f64 / input.max(1) as f64,
            bytes / servers.max(1)
        );
    };
    println!("{servers} servers, {input} bytes of config");
    let loaded = in_use() - start;
    report("loaded config", loaded);
    let shared = Arc::new(Shared::build(&cfg));
    let with_shared = in_use() - start;
    report("resolve::Shared", with_shared - loaded);
    let model = Model::for_servers(&cfg, shared, None);
    let with_model = in_use() - start;
    report("Model of every server", with_model - with_shared);
    report("all", with_model);
    drop(model);
    std::process::ExitCode::SUCCESS
}
