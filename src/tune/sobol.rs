//! Sobol low-discrepancy sequence (Joe & Kuo direction numbers, `new-joe-kuo-6.21201`),
//! with an optional random digital shift.
//!
//! Points are produced by random access in Gray-code order (`x_n = ⊕ V_k` over the set bits
//! of `n ⊕ (n >> 1)`), which is the order SciPy's `qmc.Sobol(scramble=False)` emits, so
//! unscrambled points can be compared with SciPy directly. A digital shift (XOR of every
//! coordinate with one random 32-bit word per dimension) keeps the net properties while
//! letting each seed see a different design.

use rand::Rng;

/// Bits of precision per coordinate.
const BITS: usize = 32;

/// Largest dimension supported by the embedded direction numbers.
pub const MAX_SOBOL_DIMS: usize = 64;

/// Primitive polynomial and initial direction numbers of one Sobol dimension (2, 3, …).
struct DirectionNumbers {
    /// Degree `s` of the primitive polynomial.
    degree: u32,
    /// Inner coefficients `a` of the polynomial (bits `a_1 … a_{s-1}`).
    coeffs: u32,
    /// Initial odd direction integers `m_1 … m_s`.
    m: &'static [u32],
}

/// Joe & Kuo (2008) `new-joe-kuo-6.21201`, dimensions 2 to 64 (dimension 1 is the van der
/// Corput sequence and needs no table).
const JOE_KUO: [DirectionNumbers; MAX_SOBOL_DIMS - 1] = [
    DirectionNumbers {
        degree: 1,
        coeffs: 0,
        m: &[1],
    },
    DirectionNumbers {
        degree: 2,
        coeffs: 1,
        m: &[1, 3],
    },
    DirectionNumbers {
        degree: 3,
        coeffs: 1,
        m: &[1, 3, 1],
    },
    DirectionNumbers {
        degree: 3,
        coeffs: 2,
        m: &[1, 1, 1],
    },
    DirectionNumbers {
        degree: 4,
        coeffs: 1,
        m: &[1, 1, 3, 3],
    },
    DirectionNumbers {
        degree: 4,
        coeffs: 4,
        m: &[1, 3, 5, 13],
    },
    DirectionNumbers {
        degree: 5,
        coeffs: 2,
        m: &[1, 1, 5, 5, 17],
    },
    DirectionNumbers {
        degree: 5,
        coeffs: 4,
        m: &[1, 1, 5, 5, 5],
    },
    DirectionNumbers {
        degree: 5,
        coeffs: 7,
        m: &[1, 1, 7, 11, 19],
    },
    DirectionNumbers {
        degree: 5,
        coeffs: 11,
        m: &[1, 1, 5, 1, 1],
    },
    DirectionNumbers {
        degree: 5,
        coeffs: 13,
        m: &[1, 1, 1, 3, 11],
    },
    DirectionNumbers {
        degree: 5,
        coeffs: 14,
        m: &[1, 3, 5, 5, 31],
    },
    DirectionNumbers {
        degree: 6,
        coeffs: 1,
        m: &[1, 3, 3, 9, 7, 49],
    },
    DirectionNumbers {
        degree: 6,
        coeffs: 13,
        m: &[1, 1, 1, 15, 21, 21],
    },
    DirectionNumbers {
        degree: 6,
        coeffs: 16,
        m: &[1, 3, 1, 13, 27, 49],
    },
    DirectionNumbers {
        degree: 6,
        coeffs: 19,
        m: &[1, 1, 1, 15, 7, 5],
    },
    DirectionNumbers {
        degree: 6,
        coeffs: 22,
        m: &[1, 3, 1, 15, 13, 25],
    },
    DirectionNumbers {
        degree: 6,
        coeffs: 25,
        m: &[1, 1, 5, 5, 19, 61],
    },
    DirectionNumbers {
        degree: 7,
        coeffs: 1,
        m: &[1, 3, 7, 11, 23, 15, 103],
    },
    DirectionNumbers {
        degree: 7,
        coeffs: 4,
        m: &[1, 3, 7, 13, 13, 15, 69],
    },
    DirectionNumbers {
        degree: 7,
        coeffs: 7,
        m: &[1, 1, 3, 13, 7, 35, 63],
    },
    DirectionNumbers {
        degree: 7,
        coeffs: 8,
        m: &[1, 3, 5, 9, 1, 25, 53],
    },
    DirectionNumbers {
        degree: 7,
        coeffs: 14,
        m: &[1, 3, 1, 13, 9, 35, 107],
    },
    DirectionNumbers {
        degree: 7,
        coeffs: 19,
        m: &[1, 3, 1, 5, 27, 61, 31],
    },
    DirectionNumbers {
        degree: 7,
        coeffs: 21,
        m: &[1, 1, 5, 11, 19, 41, 61],
    },
    DirectionNumbers {
        degree: 7,
        coeffs: 28,
        m: &[1, 3, 5, 3, 3, 13, 69],
    },
    DirectionNumbers {
        degree: 7,
        coeffs: 31,
        m: &[1, 1, 7, 13, 1, 19, 1],
    },
    DirectionNumbers {
        degree: 7,
        coeffs: 32,
        m: &[1, 3, 7, 5, 13, 19, 59],
    },
    DirectionNumbers {
        degree: 7,
        coeffs: 37,
        m: &[1, 1, 3, 9, 25, 29, 41],
    },
    DirectionNumbers {
        degree: 7,
        coeffs: 41,
        m: &[1, 3, 5, 13, 23, 1, 55],
    },
    DirectionNumbers {
        degree: 7,
        coeffs: 42,
        m: &[1, 3, 7, 3, 13, 59, 17],
    },
    DirectionNumbers {
        degree: 7,
        coeffs: 50,
        m: &[1, 3, 1, 3, 5, 53, 69],
    },
    DirectionNumbers {
        degree: 7,
        coeffs: 55,
        m: &[1, 1, 5, 5, 23, 33, 13],
    },
    DirectionNumbers {
        degree: 7,
        coeffs: 56,
        m: &[1, 1, 7, 7, 1, 61, 123],
    },
    DirectionNumbers {
        degree: 7,
        coeffs: 59,
        m: &[1, 1, 7, 9, 13, 61, 49],
    },
    DirectionNumbers {
        degree: 7,
        coeffs: 62,
        m: &[1, 3, 3, 5, 3, 55, 33],
    },
    DirectionNumbers {
        degree: 8,
        coeffs: 14,
        m: &[1, 3, 1, 15, 31, 13, 49, 245],
    },
    DirectionNumbers {
        degree: 8,
        coeffs: 21,
        m: &[1, 3, 5, 15, 31, 59, 63, 97],
    },
    DirectionNumbers {
        degree: 8,
        coeffs: 22,
        m: &[1, 3, 1, 11, 11, 11, 77, 249],
    },
    DirectionNumbers {
        degree: 8,
        coeffs: 38,
        m: &[1, 3, 1, 11, 27, 43, 71, 9],
    },
    DirectionNumbers {
        degree: 8,
        coeffs: 47,
        m: &[1, 1, 7, 15, 21, 11, 81, 45],
    },
    DirectionNumbers {
        degree: 8,
        coeffs: 49,
        m: &[1, 3, 7, 3, 25, 31, 65, 79],
    },
    DirectionNumbers {
        degree: 8,
        coeffs: 50,
        m: &[1, 3, 1, 1, 19, 11, 3, 205],
    },
    DirectionNumbers {
        degree: 8,
        coeffs: 52,
        m: &[1, 1, 5, 9, 19, 21, 29, 157],
    },
    DirectionNumbers {
        degree: 8,
        coeffs: 56,
        m: &[1, 3, 7, 11, 1, 33, 89, 185],
    },
    DirectionNumbers {
        degree: 8,
        coeffs: 67,
        m: &[1, 3, 3, 3, 15, 9, 79, 71],
    },
    DirectionNumbers {
        degree: 8,
        coeffs: 70,
        m: &[1, 3, 7, 11, 15, 39, 119, 27],
    },
    DirectionNumbers {
        degree: 8,
        coeffs: 84,
        m: &[1, 1, 3, 1, 11, 31, 97, 225],
    },
    DirectionNumbers {
        degree: 8,
        coeffs: 97,
        m: &[1, 1, 1, 3, 23, 43, 57, 177],
    },
    DirectionNumbers {
        degree: 8,
        coeffs: 103,
        m: &[1, 3, 7, 7, 17, 17, 37, 71],
    },
    DirectionNumbers {
        degree: 8,
        coeffs: 115,
        m: &[1, 3, 1, 5, 27, 63, 123, 213],
    },
    DirectionNumbers {
        degree: 8,
        coeffs: 122,
        m: &[1, 1, 3, 5, 11, 43, 53, 133],
    },
    DirectionNumbers {
        degree: 9,
        coeffs: 8,
        m: &[1, 3, 5, 5, 29, 17, 47, 173, 479],
    },
    DirectionNumbers {
        degree: 9,
        coeffs: 13,
        m: &[1, 3, 3, 11, 3, 1, 109, 9, 69],
    },
    DirectionNumbers {
        degree: 9,
        coeffs: 16,
        m: &[1, 1, 1, 5, 17, 39, 23, 5, 343],
    },
    DirectionNumbers {
        degree: 9,
        coeffs: 22,
        m: &[1, 3, 1, 5, 25, 15, 31, 103, 499],
    },
    DirectionNumbers {
        degree: 9,
        coeffs: 25,
        m: &[1, 1, 1, 11, 11, 17, 63, 105, 183],
    },
    DirectionNumbers {
        degree: 9,
        coeffs: 44,
        m: &[1, 1, 5, 11, 9, 29, 97, 231, 363],
    },
    DirectionNumbers {
        degree: 9,
        coeffs: 47,
        m: &[1, 1, 5, 15, 19, 45, 41, 7, 383],
    },
    DirectionNumbers {
        degree: 9,
        coeffs: 52,
        m: &[1, 3, 7, 7, 31, 19, 83, 137, 221],
    },
    DirectionNumbers {
        degree: 9,
        coeffs: 55,
        m: &[1, 1, 1, 3, 23, 15, 111, 223, 83],
    },
    DirectionNumbers {
        degree: 9,
        coeffs: 59,
        m: &[1, 1, 5, 13, 31, 15, 55, 25, 161],
    },
    DirectionNumbers {
        degree: 9,
        coeffs: 62,
        m: &[1, 1, 3, 13, 25, 47, 39, 87, 257],
    },
];

/// A Sobol sequence generator for a fixed number of dimensions.
#[derive(Debug, Clone)]
pub struct Sobol {
    /// `directions[d][k]`: direction integer `V_k` of dimension `d`.
    directions: Vec<[u32; BITS]>,
    /// Digital shift per dimension (all zero when unscrambled).
    shift: Vec<u32>,
}

impl Sobol {
    /// An unscrambled generator; `None` when `dims` is 0 or above [`MAX_SOBOL_DIMS`].
    pub fn new(dims: usize) -> Option<Sobol> {
        if dims == 0 || dims > MAX_SOBOL_DIMS {
            return None;
        }
        let mut directions = Vec::with_capacity(dims);
        let mut first = [0u32; BITS];
        for (k, v) in first.iter_mut().enumerate() {
            *v = 1u32 << (BITS - 1 - k);
        }
        directions.push(first);
        for dn in JOE_KUO.iter().take(dims - 1) {
            let s = dn.degree as usize;
            let mut v = [0u32; BITS];
            for k in 0..BITS {
                v[k] = if k < s {
                    dn.m[k] << (BITS - 1 - k)
                } else {
                    let mut x = v[k - s] ^ (v[k - s] >> s);
                    for i in 1..s {
                        if (dn.coeffs >> (s - 1 - i)) & 1 == 1 {
                            x ^= v[k - i];
                        }
                    }
                    x
                };
            }
            directions.push(v);
        }
        Some(Sobol {
            directions,
            shift: vec![0; dims],
        })
    }

    /// A generator whose points are XOR-shifted by random words drawn from `rng`.
    pub fn scrambled<R: Rng>(dims: usize, rng: &mut R) -> Option<Sobol> {
        let mut s = Sobol::new(dims)?;
        for w in s.shift.iter_mut() {
            *w = rng.random::<u32>();
        }
        Some(s)
    }

    /// Number of dimensions.
    pub fn dims(&self) -> usize {
        self.directions.len()
    }

    /// The `index`-th point (0-based) in `[0, 1)^dims`.
    pub fn point(&self, index: u32) -> Vec<f64> {
        let gray = index ^ (index >> 1);
        self.directions
            .iter()
            .zip(&self.shift)
            .map(|(v, shift)| {
                let mut x = *shift;
                for (k, vk) in v.iter().enumerate() {
                    if (gray >> k) & 1 == 1 {
                        x ^= vk;
                    }
                }
                x as f64 / 4_294_967_296.0
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_unsupported_dims() {
        assert!(Sobol::new(0).is_none());
        assert!(Sobol::new(MAX_SOBOL_DIMS + 1).is_none());
        assert!(Sobol::new(MAX_SOBOL_DIMS).is_some());
    }
}
