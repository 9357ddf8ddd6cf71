//! Sobol low-discrepancy sequence (Joe & Kuo 2008, `new-joe-kuo-6.21201` direction numbers) for
//! the initial design of Bayesian optimisation, optionally with a seeded digital shift.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Bits of precision of each coordinate.
const BITS: usize = 32;

/// Joe–Kuo rows for dimensions 2…: (degree `s`, coefficients `a`, initial `m_i`).
const JOE_KUO: &[(u32, u32, &[u32])] = &[
    (1, 0, &[1]),
    (2, 1, &[1, 3]),
    (3, 1, &[1, 3, 1]),
    (3, 2, &[1, 1, 1]),
    (4, 1, &[1, 1, 3, 3]),
    (4, 4, &[1, 3, 5, 13]),
    (5, 2, &[1, 1, 5, 5, 17]),
    (5, 4, &[1, 1, 5, 5, 5]),
    (5, 7, &[1, 1, 7, 11, 19]),
    (5, 11, &[1, 1, 5, 1, 1]),
    (5, 13, &[1, 1, 1, 3, 11]),
    (5, 14, &[1, 3, 5, 5, 31]),
    (6, 1, &[1, 3, 3, 9, 7, 49]),
    (6, 13, &[1, 1, 1, 15, 21, 21]),
    (6, 16, &[1, 3, 1, 13, 27, 49]),
];

/// Largest dimension with Joe–Kuo direction numbers here; further dimensions are filled with
/// seeded uniform random numbers.
pub const MAX_SOBOL_DIMS: usize = JOE_KUO.len() + 1;

/// A Sobol sequence generator in `dims` dimensions.
#[derive(Clone, Debug)]
pub struct Sobol {
    /// Direction numbers per Sobol dimension, scaled to 32 bits.
    directions: Vec<[u32; BITS]>,
    /// Digital shift per dimension (0 for the plain sequence).
    shift: Vec<u32>,
    /// Total requested dimensions.
    dims: usize,
}

fn directions(dim: usize) -> [u32; BITS] {
    let mut v = [0u32; BITS];
    if dim == 0 {
        for (i, x) in v.iter_mut().enumerate() {
            *x = 1 << (BITS - 1 - i);
        }
        return v;
    }
    let (s, a, m) = JOE_KUO[dim - 1];
    let s = s as usize;
    for i in 0..s.min(BITS) {
        v[i] = m[i] << (BITS - 1 - i);
    }
    for i in s..BITS {
        let mut x = v[i - s] ^ (v[i - s] >> s);
        for k in 1..s {
            if (a >> (s - 1 - k)) & 1 == 1 {
                x ^= v[i - k];
            }
        }
        v[i] = x;
    }
    v
}

impl Sobol {
    /// The plain (unshifted) sequence.
    pub fn new(dims: usize) -> Sobol {
        let n = dims.min(MAX_SOBOL_DIMS);
        Sobol {
            directions: (0..n).map(directions).collect(),
            shift: vec![0; n],
            dims,
        }
    }

    /// The sequence with a random digital shift (XOR), which keeps its net structure.
    pub fn shifted(dims: usize, rng: &mut ChaCha8Rng) -> Sobol {
        let mut s = Sobol::new(dims);
        for x in &mut s.shift {
            *x = rng.random();
        }
        s
    }

    /// The `index`-th point (index 0 is the origin of the plain sequence). Dimensions beyond
    /// [`MAX_SOBOL_DIMS`] are drawn from `rng`.
    pub fn point(&self, index: u64, rng: &mut ChaCha8Rng) -> Vec<f64> {
        // Gray-code construction: x_n = XOR of v_k for the bits k of gray(n).
        let gray = index ^ (index >> 1);
        let mut out = Vec::with_capacity(self.dims);
        for (d, v) in self.directions.iter().enumerate() {
            let mut x = 0u32;
            for (k, vk) in v.iter().enumerate().take(64.min(BITS)) {
                if (gray >> k) & 1 == 1 {
                    x ^= vk;
                }
            }
            x ^= self.shift[d];
            out.push(f64::from(x) / 4_294_967_296.0);
        }
        while out.len() < self.dims {
            out.push(rng.random::<f64>());
        }
        out
    }
}
