//! FNV-1a, the hash of the tables keyed by short names, paths and node ids: the loaders' file
//! tables and variables, the resolver's location and server-name indexes. Keys come from the configuration
//! being read, so a cryptographic hash is wasted on them.

use std::collections::HashMap;

/// FNV-1a over the bytes written.
#[derive(Default, Clone, Copy)]
pub struct Fnv(u64);

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for &b in bytes {
            h ^= b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

pub type FnvMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<Fnv>>;

/// The number of `text` in `all`, where it is pushed the first time `seen` meets it: the few
/// distinct texts of a table held one an entry (a served directory's URL prefix, a prefix's
/// url: `/media/` once, not once a server), `seen` keyed by the texts borrowed or owned.
/// Numbers stay below `limit`, the caller's flag bits above it; `what` names the texts in the
/// panic past it.
pub fn intern<'a, K>(
    seen: &mut FnvMap<K, u32>,
    all: &mut Vec<Box<str>>,
    text: &'a str,
    (limit, what): (u32, &str),
) -> u32
where
    K: std::borrow::Borrow<str> + std::hash::Hash + Eq + From<&'a str>,
{
    if let Some(&n) = seen.get(text) {
        return n;
    }
    all.push(text.into());
    let n = u32::try_from(all.len() - 1)
        .ok()
        .filter(|&n| n < limit)
        .unwrap_or_else(|| panic!("fewer than {limit} distinct {what}"));
    seen.insert(K::from(text), n);
    n
}

/// Sorts pairs of (hash, value) by hash, the pairs of one hash kept in the order they came:
/// one pass spreads them into as many buckets as pairs by the hash's top bits (the hashes are
/// well mixed), then each bucket, of a pair or two, is sorted alone. The sorted slices that
/// replace hash tables for the names of a box are built in linear time: a comparison sort of
/// 43,000 names cost ~10 M instructions, a tenth of a `check --site`'s start.
pub fn sort_by_hash(pairs: &mut Vec<(u64, u32)>) {
    let n = pairs.len();
    if n < 64 {
        pairs.sort_by_key(|&(h, _)| h);
        return;
    }
    // 2^bits >= n buckets, by the top bits.
    let bits = usize::BITS - (n - 1).leading_zeros();
    let shift = 64 - bits;
    let bucket = |h: u64| (h >> shift) as usize;
    // start[b]..start[b + 1]: where bucket b goes.
    let mut start = vec![0u32; (1 << bits) + 1];
    for &(h, _) in pairs.iter() {
        start[bucket(h) + 1] += 1;
    }
    for b in 1..start.len() {
        start[b] += start[b - 1];
    }
    let mut out = vec![(0u64, 0u32); n];
    let mut next = start.clone();
    for &p in pairs.iter() {
        let b = bucket(p.0);
        out[next[b] as usize] = p;
        next[b] += 1;
    }
    for b in start.windows(2) {
        let run = &mut out[b[0] as usize..b[1] as usize];
        if run.len() > 1 {
            run.sort_by_key(|&(h, _)| h);
        }
    }
    *pairs = out;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same order as a stable sort by hash, for few and many pairs, hashes repeated.
    #[test]
    fn sorted_by_hash_as_a_stable_sort() {
        for n in [0usize, 1, 5, 63, 64, 65, 1000, 4099] {
            let mut pairs: Vec<(u64, u32)> = (0..n as u32)
                .map(|i| {
                    // Every seventh pair repeats the hash of the one before.
                    let k = if i % 7 == 6 { i - 1 } else { i };
                    (u64::from(k).wrapping_mul(0x9e37_79b9_7f4a_7c15), i)
                })
                .collect();
            let mut want = pairs.clone();
            want.sort_by_key(|&(h, _)| h);
            sort_by_hash(&mut pairs);
            assert_eq!(pairs, want, "{n} pairs");
        }
    }
}
