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
