//! Log expected improvement, computed stably far into the tail where EI itself underflows.

use std::f64::consts::PI;

/// Complementary error function (Numerical Recipes' Chebyshev fit, relative error < 1.2e-7).
pub fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.265_512_23
            + t * (1.000_023_68
                + t * (0.374_091_96
                    + t * (0.096_784_18
                        + t * (-0.186_288_06
                            + t * (0.278_868_07
                                + t * (-1.135_203_98
                                    + t * (1.488_515_87
                                        + t * (-0.822_152_23 + t * 0.170_872_77)))))))))
            .exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

/// Standard normal density.
pub fn normal_pdf(z: f64) -> f64 {
    (-0.5 * z * z).exp() / (2.0 * PI).sqrt()
}

/// Standard normal distribution function.
pub fn normal_cdf(z: f64) -> f64 {
    0.5 * erfc(-z / std::f64::consts::SQRT_2)
}

/// `log(z Φ(z) + φ(z))`, the log of EI per unit of standard deviation.
pub fn log_h(z: f64) -> f64 {
    if z > -2.0 {
        (z * normal_cdf(z) + normal_pdf(z)).max(1e-300).ln()
    } else {
        // With x = −z, the Mills ratio Q(x)/φ(x) = 1/(x + c), c = 1/(x + 2/(x + 3/(x + …)));
        // then h = φ(x)(1 − x/(x + c)) = φ(x) c/(x + c), with no cancellation.
        let x = -z;
        let mut t = x;
        for k in (2..=120).rev() {
            t = x + k as f64 / t;
        }
        let c = 1.0 / t;
        -0.5 * x * x - 0.5 * (2.0 * PI).ln() + (c / (x + c)).ln()
    }
}

/// Log expected improvement below `best` (minimisation) for a Gaussian posterior.
pub fn log_ei(mean: f64, var: f64, best: f64) -> f64 {
    let sigma = var.max(1e-300).sqrt();
    let z = (best - mean) / sigma;
    sigma.ln() + log_h(z)
}
