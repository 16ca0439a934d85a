//! Growing the vectors a big site fills one entry a server (the keys of a check's findings, its
//! let-go fixes) by an eighth once they are large, not by doubling: a vector of 360,000
//! 40-byte keys doubled to room for 524,288 (45% of it spare) while the checks ran. A large
//! block is grown in place or by moving its pages (the binary's allocator hands blocks of 1 MiB
//! and more to the C library's malloc, whose `realloc` remaps them), not by copying its
//! bytes, so growing it more often costs little.

/// From this many bytes a vector grows by an eighth.
const LARGE: usize = 1 << 20;

/// `v.push(x)`, growing `v` by an eighth of its length when it is full and large.
pub fn push<T>(v: &mut Vec<T>, x: T) {
    if v.len() == v.capacity() && v.capacity() * std::mem::size_of::<T>() >= LARGE {
        v.reserve_exact(v.len() / 8);
    }
    v.push(x);
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_large_vector_grows_by_an_eighth() {
        let mut v: Vec<u64> = Vec::new();
        for i in 0..1_000_000u64 {
            super::push(&mut v, i);
            assert!(v.capacity() <= (v.len() + v.len() / 8).max(256 << 10));
        }
        assert!(v.iter().copied().eq(0..1_000_000));
    }
}
