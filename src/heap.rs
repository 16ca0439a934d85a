//! The heap's pages: when jemalloc (the binary's allocator, `src/alloc.rs`) gives the pages of
//! freed blocks back to the system. By default it keeps them ten seconds for reuse, which is
//! right for a short run and wrong where a long one lets go of much at once: a check over every
//! site (`return_freed_pages`), and one big site after each check and at each let-go of its
//! models (`return_freed_pages_now`).

// Linked here, not only by the binary that makes it the allocator: the lib's own tests call
// jemalloc's control interface too.
#[cfg(not(target_env = "msvc"))]
use tikv_jemallocator as _;

// jemalloc's control interface (tikv-jemalloc-sys builds it with this prefix).
extern "C" {
    #[link_name = "_rjem_mallctl"]
    fn mallctl(
        name: *const std::ffi::c_char,
        oldp: *mut std::ffi::c_void,
        oldlenp: *mut usize,
        newp: *mut std::ffi::c_void,
        newlen: usize,
    ) -> std::ffi::c_int;
}

/// Has jemalloc give freed pages back to the system at once (by default it keeps them ten
/// seconds for reuse): for a run that checks every site, whose freed reports would otherwise add
/// up in every thread's arena (peak RSS 89 -> 83 MiB on 10,000 sites). A one-shot command keeps
/// the default: its freed pages are reused before it ends, and purging them would cost page faults
/// (a `trace` on the 10,000-site config: 24 K -> 30 K).
pub fn return_freed_pages() {
    // The arenas made from now on, then every arena there is (4096: MALLCTL_ARENAS_ALL).
    for name in [
        c"arenas.dirty_decay_ms",
        c"arenas.muzzy_decay_ms",
        c"arena.4096.dirty_decay_ms",
        c"arena.4096.muzzy_decay_ms",
    ] {
        let mut ms: libc::ssize_t = 0;
        // SAFETY: each name takes an ssize_t; nothing is read back. A failure leaves the default.
        unsafe {
            mallctl(
                name.as_ptr(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                (&mut ms as *mut libc::ssize_t).cast(),
                std::mem::size_of::<libc::ssize_t>(),
            );
        }
    }
}

/// Has jemalloc give the pages of the blocks freed so far back to the system now, not in ten
/// seconds (`return_freed_pages`): a one-shot `check` that lets go of what its checks read
/// (`Site::let_go_of_models`) does not hold those pages under what its next step makes, nor one
/// check's under the next's (`checks::run_each`).
pub fn return_freed_pages_now() {
    // SAFETY: `arena.<i>.purge` takes and returns nothing; 4096 is every arena
    // (MALLCTL_ARENAS_ALL). A failure leaves the pages to the decay.
    unsafe {
        mallctl(
            c"arena.4096.purge".as_ptr(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The every-site run's setting reaches jemalloc (a name it does not know would be ignored).
    #[test]
    fn freed_pages_are_returned_at_once() {
        let read = |name: &std::ffi::CStr| {
            let mut ms: libc::ssize_t = -2;
            let mut len = std::mem::size_of::<libc::ssize_t>();
            // SAFETY: the name takes an ssize_t.
            let rc = unsafe {
                mallctl(
                    name.as_ptr(),
                    (&mut ms as *mut libc::ssize_t).cast(),
                    &mut len,
                    std::ptr::null_mut(),
                    0,
                )
            };
            assert_eq!(rc, 0, "{name:?}");
            ms
        };
        assert_eq!(read(c"arenas.dirty_decay_ms"), 10_000);
        return_freed_pages();
        for name in [
            c"arenas.dirty_decay_ms",
            c"arenas.muzzy_decay_ms",
            c"arena.0.dirty_decay_ms",
            c"arena.0.muzzy_decay_ms",
        ] {
            assert_eq!(read(name), 0, "{name:?}");
        }
    }
}
