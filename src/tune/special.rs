//! Special functions for the acquisition function: the normal distribution and a
//! numerically stable `log h(z)` with `h(z) = φ(z) + z Φ(z)` (expected improvement of a
//! standard normal), following Ament et al., "Unexpected Improvements to Expected
//! Improvement for Bayesian Optimization" (NeurIPS 2023).
//!
//! `erfc` comes from `libm` (a pure-Rust port of musl, so results are identical on every
//! platform — important for bit-reproducible studies).

use std::f64::consts::{FRAC_1_SQRT_2, LN_2, PI};

/// `ln(2π) / 2`.
const HALF_LN_2PI: f64 = 0.918_938_533_204_672_8;

/// Standard normal density.
pub fn norm_pdf(z: f64) -> f64 {
    (-0.5 * z * z - HALF_LN_2PI).exp()
}

/// Standard normal cumulative distribution.
pub fn norm_cdf(z: f64) -> f64 {
    0.5 * libm::erfc(-z * FRAC_1_SQRT_2)
}

/// Scaled complementary error function `exp(x²) erfc(x)` for `x >= 0`.
pub fn erfcx(x: f64) -> f64 {
    if x < 26.0 {
        (x * x).exp() * libm::erfc(x)
    } else {
        // Asymptotic series; at x >= 26 the omitted term is below 1e-17 relative.
        let t = 1.0 / (2.0 * x * x);
        let s = 1.0 - t + 3.0 * t * t - 15.0 * t * t * t + 105.0 * t * t * t * t;
        s / (x * PI.sqrt())
    }
}

/// `ln Φ(z)`, accurate far into the lower tail.
pub fn log_norm_cdf(z: f64) -> f64 {
    if z > -5.0 {
        norm_cdf(z).ln()
    } else {
        let x = -z * FRAC_1_SQRT_2;
        -LN_2 + erfcx(x).ln() - x * x
    }
}

/// `ln(1 - e^a)` for `a < 0`, accurate for `a` near 0 and very negative.
fn log1mexp(a: f64) -> f64 {
    if a > -LN_2 {
        (-a.exp_m1()).ln()
    } else {
        (-a.exp()).ln_1p()
    }
}

/// `ln h(z)` with `h(z) = φ(z) + z Φ(z)`, stable for all finite `z`.
pub fn log_h(z: f64) -> f64 {
    if z > -1.0 {
        (norm_pdf(z) + z * norm_cdf(z)).ln()
    } else if z > -1.0 / f64::EPSILON.sqrt() {
        let az = -z;
        let a = (erfcx(az * FRAC_1_SQRT_2) * az).ln() + 0.5 * (0.5 * PI).ln();
        -0.5 * z * z - HALF_LN_2PI + log1mexp(a)
    } else {
        -0.5 * z * z - HALF_LN_2PI - 2.0 * (-z).ln()
    }
}

/// `d ln h(z) / dz = Φ(z) / h(z)`.
pub fn dlog_h(z: f64) -> f64 {
    (log_norm_cdf(z) - log_h(z)).exp()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_h_matches_direct_formula_where_that_is_accurate() {
        for &z in &[-3.0, -1.5, -0.5, 0.0, 0.7, 2.0, 5.0] {
            let direct = (norm_pdf(z) + z * norm_cdf(z)).ln();
            assert!((log_h(z) - direct).abs() < 1e-9, "z={z}");
        }
    }

    #[test]
    fn log_h_is_finite_and_monotone_in_the_far_tail() {
        let mut prev = f64::INFINITY;
        for &z in &[-1.0, -10.0, -40.0, -100.0, -1e4, -1e9] {
            let v = log_h(z);
            assert!(v.is_finite(), "z={z}");
            assert!(v < prev, "z={z}");
            prev = v;
        }
        // Asymptote: ln h(z) ≈ -z²/2 - ln√(2π) - 2 ln|z|.
        let z = -200.0_f64;
        let asym = -0.5 * z * z - HALF_LN_2PI - 2.0 * (-z).ln();
        assert!((log_h(z) - asym).abs() < 1e-4);
    }

    #[test]
    fn dlog_h_matches_finite_differences() {
        for &z in &[-30.0, -4.0, -1.2, -0.3, 0.0, 1.0, 3.0] {
            let e = 1e-6;
            let fd = (log_h(z + e) - log_h(z - e)) / (2.0 * e);
            assert!((dlog_h(z) - fd).abs() < 1e-5 * (1.0 + fd.abs()), "z={z}");
        }
    }

    #[test]
    fn erfcx_is_continuous_at_the_switch() {
        let a = erfcx(26.0 - 1e-9);
        let b = erfcx(26.0);
        assert!((a - b).abs() / b < 1e-9);
    }
}
