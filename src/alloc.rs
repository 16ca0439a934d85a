//! The allocator: jemalloc for everything but the largest blocks, which go to the C library's
//! malloc (why: Cargo.toml, at the dependency).
//!
//! jemalloc keeps a cache per thread: the sites checked on every core allocate and free millions
//! of small blocks, which glibc's malloc serialised on its arenas' locks (a report freed by
//! another thread than the one that made it waits on that arena's lock). But jemalloc grows a
//! large block by copying it into fresh pages, where glibc moves an mmap'd block's pages
//! (mremap): the loader's arrays of a 22 MiB config, grown by doubling, were copied page by
//! page and took twice the page faults. So a block of `LARGE` bytes or more is the C library's,
//! made with mmap (`mmap_large_blocks`) and grown in place; which allocator owns a block is
//! told by its layout alone, which Rust hands back to `dealloc` and `realloc` unchanged.

use std::alloc::{GlobalAlloc, Layout};
use tikv_jemallocator::Jemalloc;

/// The size from which a block is the C library's: the loader's arrays of a large config, a
/// large site's report. Below it, every block a site's check makes.
pub const LARGE: usize = 1 << 20;

/// Below this size a block is in one of jemalloc's small size classes (slabs, up to 14 KiB with
/// 4 KiB pages): `realloc` moves it itself. A larger one may grow in place (jemalloc extends its
/// extent), and its copy costs more than jemalloc's bookkeeping.
const SMALL: usize = 8192;

/// What malloc guarantees on this platform (x86_64 and aarch64 Linux, glibc and musl).
const MALLOC_ALIGN: usize = 16;

pub struct Split;

fn is_large(size: usize, align: usize) -> bool {
    size >= LARGE && align <= MALLOC_ALIGN
}

unsafe impl GlobalAlloc for Split {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if is_large(layout.size(), layout.align()) {
            libc::malloc(layout.size()).cast()
        } else {
            Jemalloc.alloc(layout)
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if is_large(layout.size(), layout.align()) {
            libc::calloc(1, layout.size()).cast()
        } else {
            Jemalloc.alloc_zeroed(layout)
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if is_large(layout.size(), layout.align()) {
            libc::free(ptr.cast())
        } else {
            Jemalloc.dealloc(ptr, layout)
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        match (
            is_large(layout.size(), layout.align()),
            is_large(new_size, layout.align()),
        ) {
            (true, true) => libc::realloc(ptr.cast(), new_size).cast(),
            (false, false)
                if layout.size().max(new_size) < SMALL && layout.align() <= MALLOC_ALIGN =>
            {
                // jemalloc's `realloc` of a small block costs ~490 instructions (its slow path:
                // the block's size looked up, hooks, then malloc, copy and free); the strings and
                // vectors a site's check grows (~1,000 reallocs a site) are moved here with the
                // thread cache's malloc and sized free (~30 instructions each) and a copy. (A
                // small block never grows in place beyond its size class, and one that stays in
                // its class costs the same moved: Rust's vectors double, across classes.)
                let new = Layout::from_size_align_unchecked(new_size, layout.align());
                let to = Jemalloc.alloc(new);
                if !to.is_null() {
                    std::ptr::copy_nonoverlapping(ptr, to, layout.size().min(new_size));
                    Jemalloc.dealloc(ptr, layout);
                }
                to
            }
            // Larger ones may grow in place (jemalloc extends their extent).
            (false, false) => Jemalloc.realloc(ptr, layout, new_size),
            // From one allocator to the other.
            _ => {
                let new = Layout::from_size_align_unchecked(new_size, layout.align());
                let to = self.alloc(new);
                if !to.is_null() {
                    std::ptr::copy_nonoverlapping(ptr, to, layout.size().min(new_size));
                    self.dealloc(ptr, layout);
                }
                to
            }
        }
    }
}

/// jemalloc's options, read when it starts (before `main`): one arena for every thread. With
/// its default (four arenas a core) each short-lived worker took an arena of its own, and when
/// the last thread of an arena ends jemalloc purges every freed page of it at once (MADV_DONTNEED,
/// whatever the decay), so the next workers fault them in again: one site of 359,711 servers
/// proves its fixes 256 blocks at a time on threads made for each chunk (~2,800 threads),
/// and took 930 K page faults (4-5 s of system time) for a 1.2 GB peak. One arena is never
/// without a thread (the main thread's), its freed pages are reused by whichever thread asks
/// next (a worker's pages no longer sit in an arena no running thread uses), and each thread's
/// cache still serves most blocks without its lock. Measured (release binaries, 2 cores,
/// load 8-10, `_RJEM_MALLOC_CONF` on the same binary): the 50 MB site 930 -> 698 K page faults,
/// 3.9-4.9 -> 3.1 s of system time; every site of 10,000 32-33 -> 24.7 K page faults, 82.5 ->
/// 80.2 MiB, CPU 6.5-6.7 -> 6.3 s; `trace` one URL of them 23 -> 21.5 K page faults.
/// (`background_thread:true`, which also skips the purge at a thread's end, kept 10 s of
/// freed pages in each arena: 271 -> 336 MB on the 10 MB site.)
#[export_name = "_rjem_malloc_conf"]
pub static MALLOC_CONF: Option<&'static std::ffi::c_char> =
    // SAFETY: a pointer to the first byte of a NUL-terminated static string, as jemalloc reads it.
    Some(unsafe { &*c"narenas:1".as_ptr() });

/// Makes glibc's malloc map every large block on its own (never from its heap, whose blocks it
/// grows by copying once its adaptive threshold has risen), so `realloc` moves its pages and
/// `free` gives them back. Call before the first large allocation.
pub fn mmap_large_blocks() {
    #[cfg(target_env = "gnu")]
    {
        let large = LARGE as libc::c_int;
        // SAFETY: mallopt only sets a parameter of malloc.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, large);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Blocks grown and shrunk across `LARGE` keep their bytes, whichever allocator holds them.
    #[test]
    fn blocks_keep_their_bytes_across_allocators() {
        let large = LARGE;
        for align in [1, 8, 16, 64, 4096] {
            let sizes = [1, 100, large - 1, large, large + 1, 3 * large, large / 2, 7];
            let layout = Layout::from_size_align(sizes[0], align).unwrap();
            // SAFETY: each block is used within its current size and freed with its layout.
            unsafe {
                let mut p = Split.alloc(layout);
                assert!(!p.is_null());
                *p = 0xA5;
                let mut size = sizes[0];
                for &next in &sizes[1..] {
                    let old = Layout::from_size_align(size, align).unwrap();
                    p = Split.realloc(p, old, next);
                    assert!(!p.is_null());
                    assert_eq!(p as usize % align, 0, "align {align}, size {next}");
                    for i in 0..size.min(next) {
                        assert_eq!(
                            *p.add(i),
                            (i % 251) as u8 ^ 0xA5,
                            "byte {i} of {size} -> {next}"
                        );
                    }
                    for i in 0..next {
                        *p.add(i) = (i % 251) as u8 ^ 0xA5;
                    }
                    size = next;
                }
                Split.dealloc(p, Layout::from_size_align(size, align).unwrap());
                let z = Layout::from_size_align(large + 3, align).unwrap();
                let q = Split.alloc_zeroed(z);
                assert!((0..z.size()).all(|i| *q.add(i) == 0));
                Split.dealloc(q, z);
            }
        }
    }

    /// Small blocks (moved by `Split` itself, not jemalloc's realloc) keep their bytes when
    /// they grow or shrink, within their size class and across classes, at every alignment.
    #[test]
    fn small_blocks_keep_their_bytes() {
        for align in [1, 2, 8, 16, 32] {
            let sizes = [
                1, 3, 8, 9, 16, 17, 24, 100, 33, 4000, 8191, 12, 8192, 20_000, 5, 1,
            ];
            // SAFETY: each block is used within its current size and freed with its layout.
            unsafe {
                let mut size = sizes[0];
                let mut p = Split.alloc(Layout::from_size_align(size, align).unwrap());
                *p = 0x5A;
                for &next in &sizes[1..] {
                    let old = Layout::from_size_align(size, align).unwrap();
                    let q = Split.realloc(p, old, next);
                    assert!(!q.is_null());
                    assert_eq!(q as usize % align, 0, "align {align}, size {next}");
                    for i in 0..size.min(next) {
                        assert_eq!(
                            *q.add(i),
                            (i % 251) as u8 ^ 0x5A,
                            "byte {i}, {size} -> {next}"
                        );
                    }
                    for i in 0..next {
                        *q.add(i) = (i % 251) as u8 ^ 0x5A;
                    }
                    (p, size) = (q, next);
                }
                Split.dealloc(p, Layout::from_size_align(size, align).unwrap());
            }
        }
    }
}
