//! Gaussian-process regression with a Matérn 5/2 ARD kernel, hyperparameters fitted by
//! maximising the (lightly regularised) log marginal likelihood with multi-start L-BFGS
//! and analytic gradients.
//!
//! Why hand-written: the systems are tiny (one row per trial, rarely above a few hundred),
//! the engine needs bit-identical results for a seed on every machine, and the parts a
//! crate would give (a Cholesky, an optimiser) are a few dozen lines each. Owning the code
//! also lets the kernel treat categorical parameters exactly as documented below.
//!
//! Inputs live in the unit cube (see [`crate::tune::space`]); log-scaled parameters are
//! already in log space there. Outputs are standardised (zero mean, unit variance) before
//! fitting. Categorical coordinates hold a choice index and contribute a Hamming term
//! `[a ≠ b] / ℓ²` to the scaled distance — exactly what one-hot encoding with one shared
//! length scale per categorical parameter gives (up to a factor 2 absorbed in `ℓ`), without
//! pretending the one-hot coordinates can take fractional values.

// Index loops mirror the matrix formulas; iterator chains would obscure them.
#![allow(clippy::needless_range_loop)]

use rand::Rng;

use super::lbfgs::{self, LbfgsSettings};
use super::linalg::{Matrix, chol_inverse, chol_solve, cholesky, solve_lower};
use super::space::DimKind;

const SQRT5: f64 = 2.236_067_977_499_79;
const LN_2PI: f64 = 1.837_877_066_409_345_5;

/// Box bounds (natural-log scale) for the hyperparameters.
const LOG_LS_BOUNDS: (f64, f64) = (-6.907_755_278_982_137, 3.912_023_005_428_146); // 1e-3 .. 50
const LOG_SIGNAL_BOUNDS: (f64, f64) = (-4.605_170_185_988_091, 4.605_170_185_988_091); // 1e-2 .. 1e2
const LOG_NOISE_BOUNDS: (f64, f64) = (-20.723_265_836_946_41, 0.0); // 1e-9 .. 1
/// Weak Gaussian prior on log length scales, centred on ℓ = 0.5 (half the unit cube).
const LS_PRIOR_MEAN: f64 = -std::f64::consts::LN_2;
const LS_PRIOR_SD: f64 = 1.5;

/// Kernel hyperparameters, all on a natural-log scale.
#[derive(Debug, Clone, PartialEq)]
pub struct GpHyper {
    /// `ln ℓ_d` per input dimension.
    pub log_lengthscales: Vec<f64>,
    /// `ln σ_f²`, the signal variance (standardised output units).
    pub log_signal: f64,
    /// `ln σ_n²`, the observation-noise variance (standardised output units).
    pub log_noise: f64,
}

impl GpHyper {
    /// A neutral starting point: ℓ = 0.5, σ_f² = 1, σ_n² = 1e-4.
    pub fn default_for(dims: usize) -> GpHyper {
        GpHyper {
            log_lengthscales: vec![LS_PRIOR_MEAN; dims],
            log_signal: 0.0,
            log_noise: (1e-4f64).ln(),
        }
    }

    fn to_vec(&self) -> Vec<f64> {
        let mut v = self.log_lengthscales.clone();
        v.push(self.log_signal);
        v.push(self.log_noise);
        v
    }

    fn from_vec(v: &[f64]) -> GpHyper {
        let d = v.len() - 2;
        GpHyper {
            log_lengthscales: v[..d].to_vec(),
            log_signal: v[d],
            log_noise: v[d + 1],
        }
    }
}

/// Squared scaled difference contribution of one coordinate, before dividing by `ℓ²`.
#[inline]
fn sq_diff(kind: DimKind, a: f64, b: f64) -> f64 {
    match kind {
        DimKind::Continuous => (a - b) * (a - b),
        DimKind::Categorical(_) => {
            if a == b {
                0.0
            } else {
                1.0
            }
        }
    }
}

/// Matérn 5/2 correlation `(1 + √5 r + 5r²/3) e^{-√5 r}` from `r²`.
#[inline]
fn matern52(r2: f64) -> f64 {
    let r = r2.sqrt();
    (1.0 + SQRT5 * r + 5.0 / 3.0 * r2) * (-SQRT5 * r).exp()
}

/// `(5/3)(1 + √5 r) e^{-√5 r}`: minus the derivative of [`matern52`] with respect to `r²`,
/// times 2. Used for both length-scale and input gradients.
#[inline]
fn matern52_dr2(r2: f64) -> f64 {
    let r = r2.sqrt();
    5.0 / 3.0 * (1.0 + SQRT5 * r) * (-SQRT5 * r).exp()
}

/// Fitting settings.
#[derive(Debug, Clone, Copy)]
pub struct GpFitSettings {
    /// Random restarts in addition to the neutral start.
    pub restarts: usize,
    /// L-BFGS iterations per start.
    pub max_iter: usize,
}

impl Default for GpFitSettings {
    fn default() -> Self {
        GpFitSettings {
            restarts: 1,
            max_iter: 60,
        }
    }
}

/// A fitted (conditioned) Gaussian process.
#[derive(Debug, Clone)]
pub struct Gp {
    kinds: Vec<DimKind>,
    x: Vec<Vec<f64>>,
    /// Standardised targets.
    y: Vec<f64>,
    y_mean: f64,
    y_std: f64,
    hyper: GpHyper,
    inv_ls2: Vec<f64>,
    signal: f64,
    chol: Matrix,
    alpha: Vec<f64>,
}

/// Posterior at one point, in standardised output units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Posterior {
    /// Posterior mean of the latent function.
    pub mean: f64,
    /// Posterior variance of the latent function (noise excluded).
    pub var: f64,
}

/// Log marginal likelihood and (optionally) its gradient with respect to the hyperparameter
/// vector `[ln ℓ_1 … ln ℓ_d, ln σ_f², ln σ_n²]`.
///
/// `sq[d]` holds the squared coordinate differences of dimension `d` for every pair
/// `i > j`, packed row by row (`(1,0), (2,0), (2,1), (3,0), …`); the kernel is symmetric
/// with a constant diagonal, so only those pairs are needed.
fn log_marginal_likelihood(
    sq: &[Vec<f64>],
    n: usize,
    y: &[f64],
    theta: &[f64],
    grad: Option<&mut [f64]>,
) -> f64 {
    let d = sq.len();
    let pairs = n * n.saturating_sub(1) / 2;
    let inv_ls2: Vec<f64> = theta[..d].iter().map(|l| (-2.0 * l).exp()).collect();
    let signal = theta[d].exp();
    let noise = theta[d + 1].exp();
    let mut r2 = vec![0.0; pairs];
    for (dim, s) in sq.iter().enumerate() {
        let w = inv_ls2[dim];
        for (r, v) in r2.iter_mut().zip(s) {
            *r += w * v;
        }
    }
    // One exp per pair gives both the correlation and its r²-derivative factor.
    let mut corr = vec![0.0; pairs];
    let mut dcorr = vec![0.0; pairs];
    for p in 0..pairs {
        let r = r2[p].sqrt();
        let e = (-SQRT5 * r).exp();
        corr[p] = (1.0 + SQRT5 * r + 5.0 / 3.0 * r2[p]) * e;
        dcorr[p] = 5.0 / 3.0 * (1.0 + SQRT5 * r) * e;
    }
    let mut k = Matrix::zeros(n);
    let mut p = 0;
    for i in 0..n {
        for j in 0..i {
            let v = signal * corr[p];
            k.data[i * n + j] = v;
            k.data[j * n + i] = v;
            p += 1;
        }
        k.data[i * n + i] = signal + noise;
    }
    let Some(l) = cholesky(&k) else {
        return f64::NEG_INFINITY;
    };
    let alpha = chol_solve(&l, y);
    let fit: f64 = y.iter().zip(&alpha).map(|(a, b)| a * b).sum();
    let logdet: f64 = (0..n).map(|i| l.at(i, i).ln()).sum();
    let mut lml = -0.5 * fit - logdet - 0.5 * n as f64 * LN_2PI;
    // Weak prior on length scales (MAP); see module docs.
    for l in &theta[..d] {
        let z = (l - LS_PRIOR_MEAN) / LS_PRIOR_SD;
        lml -= 0.5 * z * z;
    }
    if let Some(g) = grad {
        let kinv = chol_inverse(&l);
        // W = α αᵀ − K⁻¹; dLML/dθ = ½ Σ_ab W_ab ∂K_ab/∂θ, off-diagonal pairs counted twice.
        let mut g_signal = 0.0;
        let mut g_noise = 0.0;
        let mut wd = vec![0.0; pairs];
        let mut p = 0;
        for i in 0..n {
            for j in 0..i {
                let w = alpha[i] * alpha[j] - kinv.data[i * n + j];
                g_signal += 2.0 * w * corr[p];
                wd[p] = 2.0 * w * dcorr[p];
                p += 1;
            }
            let w = alpha[i] * alpha[i] - kinv.data[i * n + i];
            g_signal += w;
            g_noise += w;
        }
        for dim in 0..d {
            // ∂k/∂ln ℓ = σ² (5/3)(1+√5 r) e^{-√5 r} · Δ²/ℓ².
            let acc = super::linalg::dot(&wd, &sq[dim]);
            let z = (theta[dim] - LS_PRIOR_MEAN) / LS_PRIOR_SD;
            g[dim] = 0.5 * signal * acc * inv_ls2[dim] - z / LS_PRIOR_SD;
        }
        g[d] = 0.5 * signal * g_signal;
        g[d + 1] = 0.5 * noise * g_noise;
    }
    lml
}

/// Packed pairwise squared differences per dimension (see [`log_marginal_likelihood`]).
fn pair_sq(kinds: &[DimKind], x: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let n = x.len();
    (0..kinds.len())
        .map(|dim| {
            let mut s = Vec::with_capacity(n * n.saturating_sub(1) / 2);
            for i in 0..n {
                for j in 0..i {
                    s.push(sq_diff(kinds[dim], x[i][dim], x[j][dim]));
                }
            }
            s
        })
        .collect()
}

impl Gp {
    /// Fits hyperparameters to `(x, y)` and conditions on the data. `y` is in raw units
    /// (it is standardised internally). Returns `None` only if no factorisation succeeds.
    pub fn fit<R: Rng>(
        kinds: &[DimKind],
        x: &[Vec<f64>],
        y: &[f64],
        rng: &mut R,
        settings: GpFitSettings,
    ) -> Option<Gp> {
        let (ys, mean, std) = standardise(y);
        let n = x.len();
        let d = kinds.len();
        let sq = pair_sq(kinds, x);
        let mut lo = vec![LOG_LS_BOUNDS.0; d];
        let mut hi = vec![LOG_LS_BOUNDS.1; d];
        lo.extend([LOG_SIGNAL_BOUNDS.0, LOG_NOISE_BOUNDS.0]);
        hi.extend([LOG_SIGNAL_BOUNDS.1, LOG_NOISE_BOUNDS.1]);
        let mut starts = vec![GpHyper::default_for(d).to_vec()];
        for _ in 0..settings.restarts {
            let mut t: Vec<f64> = (0..d)
                .map(|_| rng.random_range((0.05f64).ln()..(2.0f64).ln()))
                .collect();
            t.push(rng.random_range((0.3f64).ln()..(3.0f64).ln()));
            t.push(rng.random_range((1e-8f64).ln()..(1e-2f64).ln()));
            starts.push(t);
        }
        let lbfgs_settings = LbfgsSettings {
            max_iter: settings.max_iter,
            // Hyperparameters matter to ~1e-3 in log space; tighter tolerances only add
            // likelihood evaluations (each O(n³)).
            gtol: 1e-3,
            ftol: 1e-8,
            ..Default::default()
        };
        let mut best: Option<(f64, Vec<f64>)> = None;
        for start in starts {
            let m = lbfgs::minimize(
                |theta, g| {
                    let v = log_marginal_likelihood(&sq, n, &ys, theta, Some(g));
                    g.iter_mut().for_each(|v| *v = -*v);
                    -v
                },
                &start,
                &lo,
                &hi,
                lbfgs_settings,
            );
            if m.f.is_finite() && best.as_ref().is_none_or(|(f, _)| m.f < *f) {
                best = Some((m.f, m.x));
            }
        }
        let hyper = match best {
            Some((_, theta)) => GpHyper::from_vec(&theta),
            None => GpHyper::default_for(d),
        };
        Gp::build(kinds, x.to_vec(), ys, mean, std, hyper)
    }

    /// Conditions a GP with fixed hyperparameters on `(x, y)` (raw units).
    pub fn with_hyper(kinds: &[DimKind], x: &[Vec<f64>], y: &[f64], hyper: GpHyper) -> Option<Gp> {
        let (ys, mean, std) = standardise(y);
        Gp::build(kinds, x.to_vec(), ys, mean, std, hyper)
    }

    /// A copy conditioned on extra points whose targets are given in *standardised* units,
    /// keeping hyperparameters and standardisation (used for constant-liar batches).
    pub fn fantasize(&self, x_new: &[Vec<f64>], y_new_std: &[f64]) -> Option<Gp> {
        let mut x = self.x.clone();
        x.extend(x_new.iter().cloned());
        let mut y = self.y.clone();
        y.extend_from_slice(y_new_std);
        Gp::build(
            &self.kinds,
            x,
            y,
            self.y_mean,
            self.y_std,
            self.hyper.clone(),
        )
    }

    fn build(
        kinds: &[DimKind],
        x: Vec<Vec<f64>>,
        y: Vec<f64>,
        y_mean: f64,
        y_std: f64,
        hyper: GpHyper,
    ) -> Option<Gp> {
        let n = x.len();
        let inv_ls2: Vec<f64> = hyper
            .log_lengthscales
            .iter()
            .map(|l| (-2.0 * l).exp())
            .collect();
        let signal = hyper.log_signal.exp();
        let noise = hyper.log_noise.exp();
        let mut k = Matrix::zeros(n);
        for i in 0..n {
            for j in 0..=i {
                let r2: f64 = (0..kinds.len())
                    .map(|dim| inv_ls2[dim] * sq_diff(kinds[dim], x[i][dim], x[j][dim]))
                    .sum();
                let v = signal * matern52(r2);
                *k.at_mut(i, j) = v;
                *k.at_mut(j, i) = v;
            }
        }
        // Add noise; if rounding makes the matrix indefinite, add growing jitter.
        let mut jitter = 0.0;
        for _ in 0..8 {
            let mut kj = k.clone();
            for i in 0..n {
                *kj.at_mut(i, i) += noise + jitter;
            }
            if let Some(chol) = cholesky(&kj) {
                let alpha = chol_solve(&chol, &y);
                return Some(Gp {
                    kinds: kinds.to_vec(),
                    x,
                    y,
                    y_mean,
                    y_std,
                    hyper,
                    inv_ls2,
                    signal,
                    chol,
                    alpha,
                });
            }
            jitter = if jitter == 0.0 {
                1e-10 * signal
            } else {
                jitter * 10.0
            };
        }
        None
    }

    /// Fitted hyperparameters.
    pub fn hyper(&self) -> &GpHyper {
        &self.hyper
    }

    /// Number of conditioning points.
    pub fn len(&self) -> usize {
        self.x.len()
    }

    /// True when the GP has no data.
    pub fn is_empty(&self) -> bool {
        self.x.is_empty()
    }

    /// Standardised targets the GP was conditioned on.
    pub fn targets(&self) -> &[f64] {
        &self.y
    }

    /// Converts a raw output value to standardised units.
    pub fn standardise(&self, y: f64) -> f64 {
        (y - self.y_mean) / self.y_std
    }

    /// Converts a standardised value back to raw units.
    pub fn unstandardise(&self, z: f64) -> f64 {
        z * self.y_std + self.y_mean
    }

    /// Posterior mean and variance (standardised units) at `x`.
    pub fn predict(&self, x: &[f64]) -> Posterior {
        self.predict_grad(x, None)
    }

    /// Posterior at `x`; when `grad` is given, also writes `(∂mean/∂x_d, ∂var/∂x_d)` for
    /// each continuous dimension `d` (zero for categorical ones).
    pub fn predict_grad(&self, x: &[f64], grad: Option<(&mut [f64], &mut [f64])>) -> Posterior {
        let n = self.x.len();
        let d = self.kinds.len();
        let mut kvec = vec![0.0; n];
        let mut dr = vec![0.0; n];
        for (i, xi) in self.x.iter().enumerate() {
            let r2: f64 = (0..d)
                .map(|dim| self.inv_ls2[dim] * sq_diff(self.kinds[dim], x[dim], xi[dim]))
                .sum();
            kvec[i] = self.signal * matern52(r2);
            dr[i] = self.signal * matern52_dr2(r2);
        }
        let mean: f64 = kvec.iter().zip(&self.alpha).map(|(a, b)| a * b).sum();
        let v = solve_lower(&self.chol, &kvec);
        let var = (self.signal - v.iter().map(|a| a * a).sum::<f64>()).max(1e-12 * self.signal);
        if let Some((dmean, dvar)) = grad {
            // w = K⁻¹ k*; ∂var/∂x = −2 (∂k*/∂x)ᵀ w.
            let w = super::linalg::solve_upper_t(&self.chol, &v);
            for dim in 0..d {
                if self.kinds[dim] != DimKind::Continuous {
                    dmean[dim] = 0.0;
                    dvar[dim] = 0.0;
                    continue;
                }
                let mut gm = 0.0;
                let mut gv = 0.0;
                for (i, xi) in self.x.iter().enumerate() {
                    // ∂k/∂x_d = −σ² (5/3)(1+√5 r) e^{−√5 r} (x_d − x_id)/ℓ_d².
                    let dk = -dr[i] * (x[dim] - xi[dim]) * self.inv_ls2[dim];
                    gm += dk * self.alpha[i];
                    gv += dk * w[i];
                }
                dmean[dim] = gm;
                dvar[dim] = -2.0 * gv;
            }
        }
        Posterior { mean, var }
    }
}

/// Standardises `y`; a constant vector gets unit scale so the GP stays well defined.
fn standardise(y: &[f64]) -> (Vec<f64>, f64, f64) {
    let n = y.len().max(1) as f64;
    let mean = y.iter().sum::<f64>() / n;
    let var = y.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
    let std = if var > 1e-24 { var.sqrt() } else { 1.0 };
    (y.iter().map(|v| (v - mean) / std).collect(), mean, std)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn lml_gradient_matches_finite_differences() {
        let kinds = [DimKind::Continuous, DimKind::Categorical(3)];
        let x = [
            vec![0.1, 0.0],
            vec![0.4, 1.0],
            vec![0.45, 2.0],
            vec![0.9, 0.0],
            vec![0.7, 1.0],
        ];
        let y = [0.3, -1.0, 0.5, 1.2, -0.4];
        let n = x.len();
        let sq = pair_sq(&kinds, &x);
        let theta = [-0.5, 0.3, 0.2, -3.0];
        let mut g = [0.0; 4];
        log_marginal_likelihood(&sq, n, &y, &theta, Some(&mut g));
        for k in 0..4 {
            let e = 1e-6;
            let mut tp = theta;
            tp[k] += e;
            let mut tm = theta;
            tm[k] -= e;
            let fd = (log_marginal_likelihood(&sq, n, &y, &tp, None)
                - log_marginal_likelihood(&sq, n, &y, &tm, None))
                / (2.0 * e);
            assert!(
                (fd - g[k]).abs() < 1e-5 * (1.0 + fd.abs()),
                "k={k} fd={fd} g={}",
                g[k]
            );
        }
    }

    #[test]
    fn predictive_gradient_matches_finite_differences() {
        let kinds = [DimKind::Continuous, DimKind::Continuous];
        let x = [
            vec![0.1, 0.2],
            vec![0.5, 0.9],
            vec![0.8, 0.4],
            vec![0.3, 0.6],
        ];
        let y = [1.0, -0.5, 0.25, 2.0];
        let gp = Gp::with_hyper(
            &kinds,
            &x,
            &y,
            GpHyper {
                log_lengthscales: vec![-1.0, -0.7],
                log_signal: 0.2,
                log_noise: -8.0,
            },
        )
        .unwrap();
        let p = [0.42, 0.33];
        let (mut dm, mut dv) = ([0.0; 2], [0.0; 2]);
        gp.predict_grad(&p, Some((&mut dm, &mut dv)));
        for k in 0..2 {
            let e = 1e-6;
            let mut a = p;
            a[k] += e;
            let mut b = p;
            b[k] -= e;
            let (pa, pb) = (gp.predict(&a), gp.predict(&b));
            let fdm = (pa.mean - pb.mean) / (2.0 * e);
            let fdv = (pa.var - pb.var) / (2.0 * e);
            assert!((fdm - dm[k]).abs() < 1e-6, "mean k={k}");
            assert!((fdv - dv[k]).abs() < 1e-6, "var k={k}");
        }
    }

    #[test]
    fn fit_recovers_a_smooth_function() {
        let kinds = [DimKind::Continuous];
        let x: Vec<Vec<f64>> = (0..12).map(|i| vec![i as f64 / 11.0]).collect();
        let y: Vec<f64> = x.iter().map(|v| (6.0 * v[0]).sin()).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let gp = Gp::fit(&kinds, &x, &y, &mut rng, GpFitSettings::default()).unwrap();
        for t in [0.13, 0.51, 0.77] {
            let p = gp.predict(&[t]);
            let mean = gp.unstandardise(p.mean);
            assert!((mean - (6.0 * t).sin()).abs() < 0.02, "t={t} mean={mean}");
        }
        // A noiseless function should get a small noise estimate.
        assert!(gp.hyper().log_noise < (1e-3f64).ln());
    }
}
