//! The random number generator of the RL loop: xoshiro256++ seeded from ChaCha8.
//!
//! Why not ChaCha8 directly: a tabular step costs a few nanoseconds and draws two or three
//! numbers, so the generator is a large share of the step. xoshiro256++ is a 4-word state
//! and a handful of shifts per draw. Its 256-bit state is filled from
//! `ChaCha8Rng::seed_from_u64(seed)`, whose stream is stable across `rand_chacha` versions,
//! so a seed gives bit-identical runs on every machine.

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// xoshiro256++ (Blackman and Vigna), seeded from ChaCha8.
#[derive(Clone, Debug)]
pub struct Rng {
    s: [u64; 4],
}

impl Rng {
    /// A generator whose state is the first four words of `ChaCha8Rng::seed_from_u64(seed)`.
    pub fn seed_from_u64(seed: u64) -> Rng {
        let mut chacha = ChaCha8Rng::seed_from_u64(seed);
        let mut s = [0u64; 4];
        for w in &mut s {
            *w = chacha.next_u64();
        }
        // An all-zero state is the one fixed point of xoshiro; ChaCha8 never yields it in
        // practice, but the guard costs nothing.
        if s == [0; 4] {
            s[0] = 0x9E37_79B9_7F4A_7C15;
        }
        Rng { s }
    }

    /// The next 64 random bits.
    #[inline(always)]
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in [0, 1) with 53 random bits.
    #[inline(always)]
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform integer in `0..n` (`n ≥ 1`), by Lemire's multiply-shift; the bias is below
    /// n / 2^64, far under anything measurable here.
    #[inline(always)]
    pub fn below(&mut self, n: u32) -> u32 {
        (((self.next_u64() >> 32) * n as u64) >> 32) as u32
    }

    /// Uniform in [low, high).
    #[inline(always)]
    pub fn uniform(&mut self, low: f64, high: f64) -> f64 {
        low + (high - low) * self.unit()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_and_seeds_differ() {
        let mut a = Rng::seed_from_u64(7);
        let mut b = Rng::seed_from_u64(7);
        let mut c = Rng::seed_from_u64(8);
        let xs: Vec<u64> = (0..8).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..8).map(|_| b.next_u64()).collect();
        let zs: Vec<u64> = (0..8).map(|_| c.next_u64()).collect();
        assert_eq!(xs, ys);
        assert_ne!(xs, zs);
    }

    #[test]
    fn below_and_unit_are_in_range_and_roughly_uniform() {
        let mut r = Rng::seed_from_u64(1);
        let mut counts = [0u32; 5];
        for _ in 0..50_000 {
            let k = r.below(5);
            counts[k as usize] += 1;
            let u = r.unit();
            assert!((0.0..1.0).contains(&u));
        }
        for c in counts {
            assert!((9_000..11_000).contains(&c), "{counts:?}");
        }
    }
}
