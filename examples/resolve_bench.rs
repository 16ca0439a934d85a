//! Resolving many URLs against a big config: `scripts/bench-resolve.sh` runs this.
//!
//!     cargo run --release --example resolve_bench -- /tmp/ngx/s10000/nginx.conf 100000
//!
//! Prints the load time, the index build time and the time to resolve N URLs (the Host of each
//! is a server_name of the config, the path one of the usual media/static/app paths), one by one
//! on this thread, then again with `predict_many` on all cores.

use media_doctor::nginx::resolve::Request;
use media_doctor::site::Options;
use media_doctor::site::Site;
use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Counts allocations: a figure the machine's load does not blur.
struct Counting;
static ALLOCS: AtomicUsize = AtomicUsize::new(0);
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        System.alloc(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        System.dealloc(p, l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        System.realloc(p, l, n)
    }
}
#[global_allocator]
static GLOBAL: Counting = Counting;

/// CPU time of this thread: on a shared machine the wall clock also counts other processes.
fn cpu() -> Duration {
    clock(nix::time::ClockId::CLOCK_THREAD_CPUTIME_ID)
}

/// CPU time of the whole process (all threads: `predict_many`).
fn process_cpu() -> Duration {
    clock(nix::time::ClockId::CLOCK_PROCESS_CPUTIME_ID)
}

fn clock(id: nix::time::ClockId) -> Duration {
    nix::time::clock_gettime(id)
        .map(Duration::from)
        .unwrap_or_default()
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let conf = args
        .next()
        .unwrap_or_else(|| "/tmp/ngx/s10000/nginx.conf".into());
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let t0 = Instant::now();
    let site = Site::gather(
        &Options {
            nginx_conf: Some(conf.clone().into()),
            ..Default::default()
        },
        true,
    )?;
    let loaded = t0.elapsed();
    let t1 = Instant::now();
    let r = site.resolver();
    let built = t1.elapsed();
    // Hosts: the first name of every server; paths: what a site gets asked for.
    let hosts: Vec<(String, u16)> = site
        .config()
        .servers()
        .iter()
        .filter_map(|s| {
            let name = r
                .server_names(s.id())
                .into_iter()
                .find(|n| n.contains('.') && !n.starts_with('~'))?;
            let port = r.server_ports(s.id()).into_iter().next().unwrap_or(80);
            Some((name, port))
        })
        .collect();
    let paths = [
        "/media/uploads/2024/05/a.jpg",
        "/static/css/app.css",
        "/static/js/app.js",
        "/",
        "/api/v1/items",
        "/favicon.ico",
        "/robots.txt",
        "/media/x.php",
        "/.env",
        "/about/",
    ];
    let reqs: Vec<Request> = (0..n)
        .map(|i| {
            let (h, port) = &hosts[(i * 7919) % hosts.len()];
            let scheme = if *port == 443 { "https" } else { "http" };
            Request::from_url(&format!("{scheme}://{h}{}", paths[i % paths.len()])).expect("url")
        })
        .collect();
    // MD_BENCH_SAME=1: the same URL every time (steady-state cost, no first-use regex compiles).
    let reqs = if std::env::var_os("MD_BENCH_SAME").is_some() {
        vec![reqs[0].clone(); n]
    } else {
        reqs
    };
    let (t2, c2) = (Instant::now(), cpu());
    let mut statuses: BTreeMap<String, usize> = BTreeMap::new();
    for req in &reqs {
        let res = r.predict(req);
        let key = match res.predicted_status {
            Some(s) => s.to_string(),
            None => format!("upstream/{}", res.handler.as_str()),
        };
        *statuses.entry(key).or_default() += 1;
    }
    let (resolved, resolved_cpu) = (t2.elapsed(), cpu() - c2);
    // A second pass over the same URLs: regexes compiled, memory warm.
    let (t3, c3, a3) = (Instant::now(), cpu(), ALLOCS.load(Ordering::Relaxed));
    for req in &reqs {
        std::hint::black_box(r.predict(req));
    }
    let (again, again_cpu) = (t3.elapsed(), cpu() - c3);
    let allocs = ALLOCS.load(Ordering::Relaxed) - a3;
    println!(
        "{conf}: {} servers; load {:.3}s, index {:.3}s, {n} URLs resolved in {:.3}s wall, {:.3}s CPU ({:.1} µs/URL)",
        hosts.len(),
        loaded.as_secs_f64(),
        built.as_secs_f64(),
        resolved.as_secs_f64(),
        resolved_cpu.as_secs_f64(),
        resolved_cpu.as_secs_f64() * 1e6 / n as f64
    );
    println!(
        "second pass: {:.3}s wall, {:.3}s CPU ({:.1} µs/URL), {:.1} allocations/URL",
        again.as_secs_f64(),
        again_cpu.as_secs_f64(),
        again_cpu.as_secs_f64() * 1e6 / n as f64,
        allocs as f64 / n as f64
    );
    // On all cores (`predict_many`, one resolver per thread): a fresh resolver, so its walks
    // start cold like the first pass.
    let fresh = site.resolver();
    let (t4, c4) = (Instant::now(), process_cpu());
    let many = fresh.predict_many(&reqs);
    let (bulk, bulk_cpu) = (t4.elapsed(), process_cpu() - c4);
    let mut bulk_statuses: BTreeMap<String, usize> = BTreeMap::new();
    for res in &many {
        let key = match res.predicted_status {
            Some(s) => s.to_string(),
            None => format!("upstream/{}", res.handler.as_str()),
        };
        *bulk_statuses.entry(key).or_default() += 1;
    }
    println!(
        "predict_many on {} threads: {:.3}s wall, {:.3}s CPU (all threads)",
        std::thread::available_parallelism().map_or(1, |n| n.get().min(8)),
        bulk.as_secs_f64(),
        bulk_cpu.as_secs_f64(),
    );
    println!("statuses: {statuses:?}");
    anyhow::ensure!(
        bulk_statuses == statuses,
        "predict_many disagrees with predict: {bulk_statuses:?}"
    );
    Ok(())
}
