//! FNV-1a: a stable 64-bit hash for seeds and fingerprints, fixed by its definition (std's hasher may change).

/// FNV-1a of the bytes of `s`.
pub fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    })
}
