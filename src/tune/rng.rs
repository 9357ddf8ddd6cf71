//! Derived random streams: each (purpose, slot) gets its own ChaCha8 stream from the study
//! seed, so a suggestion depends only on the seed, the slot and the history — never on how
//! many threads ran or whether the study was resumed.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// SplitMix64 finaliser: spreads nearby integers over the whole 64-bit range.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The stream for `purpose` at `slot` of a study seeded with `seed`.
pub fn stream(seed: u64, purpose: u64, slot: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(mix(mix(mix(seed) ^ purpose) ^ slot))
}
