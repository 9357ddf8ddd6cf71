//! A Gaussian-process regressor for Bayesian optimisation: Matérn 5/2 kernel with one length
//! scale per dimension (ARD), constant signal variance and Gaussian noise, on inputs in the unit
//! cube and standardised outputs. Categorical dimensions hold the category index and use an
//! exact-match distance (0 when equal, 1 otherwise, divided by their length scale), so every
//! pair of distinct categories is equally far apart. Hyperparameters maximise the log marginal
//! likelihood by multi-start projected gradient ascent with an analytic gradient.

// Index loops mirror the matrix formulas (K_ij, L_ik) and read better than iterator chains.
#![allow(clippy::needless_range_loop)]

use rand::Rng;
use rand_chacha::ChaCha8Rng;

const SQRT5: f64 = 2.236_067_977_499_79;
const LOG_2PI: f64 = 1.837_877_066_409_345_5;

/// Box bounds of the log hyperparameters: length scale, signal variance, noise variance.
const LOG_LS: (f64, f64) = (-4.6, 3.0);
const LOG_SIGNAL: (f64, f64) = (-4.6, 4.6);
const LOG_NOISE: (f64, f64) = (-16.0, 0.0);

/// Kernel hyperparameters, all in log space.
#[derive(Clone, Debug, PartialEq)]
pub struct Hyper {
    /// Log length scale per dimension.
    pub log_ls: Vec<f64>,
    /// Log signal variance.
    pub log_signal: f64,
    /// Log noise variance.
    pub log_noise: f64,
}

impl Hyper {
    /// A neutral starting point: length scale 0.5, unit signal, small noise.
    pub fn default_for(dims: usize) -> Hyper {
        Hyper {
            log_ls: vec![0.5f64.ln(); dims],
            log_signal: 0.0,
            log_noise: 1e-6f64.ln(),
        }
    }

    fn to_vec(&self) -> Vec<f64> {
        let mut v = self.log_ls.clone();
        v.push(self.log_signal);
        v.push(self.log_noise);
        v
    }

    fn from_vec(v: &[f64]) -> Hyper {
        let d = v.len() - 2;
        Hyper {
            log_ls: v[..d].to_vec(),
            log_signal: v[d],
            log_noise: v[d + 1],
        }
    }

    fn bounds(dims: usize) -> Vec<(f64, f64)> {
        let mut b = vec![LOG_LS; dims];
        b.push(LOG_SIGNAL);
        b.push(LOG_NOISE);
        b
    }

    /// A random point of the hyperparameter box (small noise).
    pub fn random(dims: usize, rng: &mut ChaCha8Rng) -> Hyper {
        let v: Vec<f64> = Hyper::bounds(dims)
            .iter()
            .enumerate()
            .map(|(i, (lo, hi))| {
                // Noise starts small: the objectives are mostly deterministic.
                let hi = if i == dims + 1 { -6.0 } else { *hi };
                lo + rng.random::<f64>() * (hi - lo)
            })
            .collect();
        Hyper::from_vec(&v)
    }
}

/// Scaled squared distance per dimension (exact match for categorical dimensions).
fn delta(a: f64, b: f64, categorical: bool) -> f64 {
    if categorical {
        if a == b { 0.0 } else { 1.0 }
    } else {
        a - b
    }
}

/// Matérn 5/2 correlation at scaled distance `r`.
fn matern(r: f64) -> f64 {
    (1.0 + SQRT5 * r + 5.0 / 3.0 * r * r) * (-SQRT5 * r).exp()
}

/// Lower Cholesky factor of a symmetric positive-definite matrix (row-major `n × n`).
fn cholesky(a: &[f64], n: usize) -> Option<Vec<f64>> {
    let mut l = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            let mut s = a[i * n + j];
            for k in 0..j {
                s -= l[i * n + k] * l[j * n + k];
            }
            if i == j {
                if s <= 0.0 || !s.is_finite() {
                    return None;
                }
                l[i * n + i] = s.sqrt();
            } else {
                l[i * n + j] = s / l[j * n + j];
            }
        }
    }
    Some(l)
}

/// Solves `L z = b` in place.
fn forward(l: &[f64], n: usize, b: &mut [f64]) {
    for i in 0..n {
        let mut s = b[i];
        for k in 0..i {
            s -= l[i * n + k] * b[k];
        }
        b[i] = s / l[i * n + i];
    }
}

/// Solves `Lᵀ z = b` in place.
fn backward(l: &[f64], n: usize, b: &mut [f64]) {
    for i in (0..n).rev() {
        let mut s = b[i];
        for k in i + 1..n {
            s -= l[k * n + i] * b[k];
        }
        b[i] = s / l[i * n + i];
    }
}

/// Training inputs with the per-dimension kind.
#[derive(Clone, Debug)]
pub struct Data {
    /// Points (unit cube; category index for categorical dimensions).
    pub x: Vec<Vec<f64>>,
    /// Observations.
    pub y: Vec<f64>,
    /// Which dimensions are categorical.
    pub categorical: Vec<bool>,
}

impl Data {
    fn dims(&self) -> usize {
        self.categorical.len()
    }

    /// Standardised outputs and the (mean, std) used.
    fn standardised(&self) -> (Vec<f64>, f64, f64) {
        let n = self.y.len().max(1) as f64;
        let mean = self.y.iter().sum::<f64>() / n;
        let var = self.y.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
        let std = if var > 1e-24 { var.sqrt() } else { 1.0 };
        (self.y.iter().map(|v| (v - mean) / std).collect(), mean, std)
    }
}

/// Log marginal likelihood of standardised outputs and its gradient in the log hyperparameters.
fn lml(data: &Data, ys: &[f64], h: &Hyper, want_grad: bool) -> Option<(f64, Vec<f64>)> {
    let n = data.x.len();
    let d = data.dims();
    let signal = h.log_signal.exp();
    let noise = h.log_noise.exp();
    let ls: Vec<f64> = h.log_ls.iter().map(|v| v.exp()).collect();
    // Scaled squared differences per pair, kept for the gradient.
    let mut k = vec![0.0; n * n];
    let mut r_of = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            let mut r2 = 0.0;
            for m in 0..d {
                let t = delta(data.x[i][m], data.x[j][m], data.categorical[m]) / ls[m];
                r2 += t * t;
            }
            let r = r2.sqrt();
            let v = signal * matern(r);
            k[i * n + j] = v;
            k[j * n + i] = v;
            r_of[i * n + j] = r;
            r_of[j * n + i] = r;
        }
        k[i * n + i] += noise + 1e-10;
    }
    let l = cholesky(&k, n)?;
    let mut alpha = ys.to_vec();
    forward(&l, n, &mut alpha);
    let quad: f64 = alpha.iter().map(|a| a * a).sum();
    backward(&l, n, &mut alpha);
    let logdet: f64 = (0..n).map(|i| l[i * n + i].ln()).sum::<f64>() * 2.0;
    let value = -0.5 * quad - 0.5 * logdet - 0.5 * n as f64 * LOG_2PI;
    if !want_grad {
        return Some((value, Vec::new()));
    }
    // K⁻¹ column by column.
    // K⁻¹ = L⁻ᵀ L⁻¹: invert the triangle row by row (contiguous access), then multiply.
    let mut linv = vec![0.0; n * n];
    for i in 0..n {
        linv[i * n + i] = 1.0 / l[i * n + i];
        for j in 0..i {
            let mut s = 0.0;
            for k in j..i {
                s += l[i * n + k] * linv[k * n + j];
            }
            linv[i * n + j] = -s / l[i * n + i];
        }
    }
    let mut kinv = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            // (L⁻ᵀ L⁻¹)_ij = Σ_k L⁻¹_ki L⁻¹_kj over k ≥ max(i, j) = i.
            let mut s = 0.0;
            for k in i..n {
                s += linv[k * n + i] * linv[k * n + j];
            }
            kinv[i * n + j] = s;
            kinv[j * n + i] = s;
        }
    }
    let mut grad = vec![0.0; d + 2];
    for i in 0..n {
        for j in 0..n {
            let w = alpha[i] * alpha[j] - kinv[i * n + j];
            let r = r_of[i * n + j];
            let kf = if i == j {
                k[i * n + j] - noise - 1e-10
            } else {
                k[i * n + j]
            };
            grad[d] += 0.5 * w * kf;
            if i == j {
                grad[d + 1] += 0.5 * w * noise;
                continue;
            }
            let common = signal * 5.0 / 3.0 * (1.0 + SQRT5 * r) * (-SQRT5 * r).exp();
            for m in 0..d {
                let t = delta(data.x[i][m], data.x[j][m], data.categorical[m]) / ls[m];
                grad[m] += 0.5 * w * common * t * t;
            }
        }
    }
    Some((value, grad))
}

fn project(v: &mut [f64], bounds: &[(f64, f64)]) {
    for (x, (lo, hi)) in v.iter_mut().zip(bounds) {
        *x = x.clamp(*lo, *hi);
    }
}

/// Projected gradient ascent with an adaptive step from one start; stops after `iters`
/// iterations, at a stationary point, or once an iteration gains less than `tol`.
fn ascend(data: &Data, ys: &[f64], start: &Hyper, iters: usize, tol: f64) -> Option<(f64, Hyper)> {
    let bounds = Hyper::bounds(data.dims());
    let mut theta = start.to_vec();
    project(&mut theta, &bounds);
    let (mut value, mut grad) = lml(data, ys, &Hyper::from_vec(&theta), true)?;
    let mut step = 0.1;
    for _ in 0..iters {
        let norm = grad.iter().map(|g| g * g).sum::<f64>().sqrt();
        if norm < 1e-6 {
            break;
        }
        let mut improved = false;
        for _ in 0..12 {
            let mut cand: Vec<f64> = theta
                .iter()
                .zip(&grad)
                .map(|(t, g)| t + step * g / norm)
                .collect();
            project(&mut cand, &bounds);
            if let Some((v, _)) = lml(data, ys, &Hyper::from_vec(&cand), false)
                && v > value + 1e-9
            {
                theta = cand;
                improved = true;
                break;
            }
            step *= 0.5;
        }
        if !improved {
            break;
        }
        step = (step * 2.0).min(2.0);
        match lml(data, ys, &Hyper::from_vec(&theta), true) {
            Some((v, g)) => {
                let gain = v - value;
                value = v;
                grad = g;
                if gain < tol {
                    break;
                }
            }
            None => break,
        }
    }
    Some((value, Hyper::from_vec(&theta)))
}

/// Fits hyperparameters: ascends from each of `starts` plus `random_starts` random points and
/// keeps the best log marginal likelihood. `None` when no start gives a valid kernel matrix.
pub fn fit_hyper(
    data: &Data,
    starts: &[Hyper],
    random_starts: usize,
    iters: usize,
    rng: &mut ChaCha8Rng,
) -> Option<Hyper> {
    let (ys, _, _) = data.standardised();
    let mut all: Vec<Hyper> = starts.to_vec();
    for _ in 0..random_starts {
        all.push(Hyper::random(data.dims(), rng));
    }
    let mut best: Option<(f64, Hyper)> = None;
    for s in &all {
        if let Some((v, h)) = ascend(data, &ys, s, iters, 0.0)
            && best.as_ref().is_none_or(|(bv, _)| v > *bv)
        {
            best = Some((v, h));
        }
    }
    best.map(|(_, h)| h)
}

/// Refits hyperparameters starting from a previous fit: the likelihood is evaluated (without
/// gradient, one Cholesky each) at `warm` and at every probe, and only the best of them is
/// ascended, for at most `iters` iterations and until an iteration gains less than `tol`.
/// Consecutive Bayesian-optimisation steps differ by one observation, so the previous optimum
/// is an excellent start and this costs a fraction of [`fit_hyper`]; the probes (the neutral
/// start, a random point) keep a fit that drifted into a poor basin from staying there.
pub fn refit_hyper(
    data: &Data,
    warm: &Hyper,
    probes: &[Hyper],
    iters: usize,
    tol: f64,
) -> Option<Hyper> {
    let (ys, _, _) = data.standardised();
    let bounds = Hyper::bounds(data.dims());
    let start = std::iter::once(warm)
        .chain(probes)
        .filter(|h| h.log_ls.len() == data.dims())
        .filter_map(|h| {
            let mut v = h.to_vec();
            project(&mut v, &bounds);
            let h = Hyper::from_vec(&v);
            lml(data, &ys, &h, false).map(|(value, _)| (value, h))
        })
        // The first best wins ties: the warm start unless a probe is strictly better.
        .reduce(|a, b| if b.0 > a.0 { b } else { a })?;
    ascend(data, &ys, &start.1, iters, tol).map(|(_, h)| h)
}

/// The log marginal likelihood of the standardised data (for tests and diagnostics).
pub fn log_marginal_likelihood(data: &Data, h: &Hyper) -> Option<f64> {
    let (ys, _, _) = data.standardised();
    lml(data, &ys, h, false).map(|(v, _)| v)
}

/// A fitted Gaussian process.
#[derive(Clone, Debug)]
pub struct Gp {
    data: Data,
    hyper: Hyper,
    /// 1 / length scale per dimension, precomputed for prediction.
    inv_ls: Vec<f64>,
    chol: Vec<f64>,
    alpha: Vec<f64>,
    mean: f64,
    std: f64,
}

/// Posterior mean and variance at a point, in the units of the observations.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Prediction {
    /// Posterior mean.
    pub mean: f64,
    /// Posterior variance of the latent function (noise excluded).
    pub var: f64,
}

impl Gp {
    /// Conditions the process on the data with fixed hyperparameters; `None` if the kernel
    /// matrix is not positive definite.
    pub fn fit(data: Data, hyper: Hyper) -> Option<Gp> {
        let n = data.x.len();
        let (ys, mean, std) = data.standardised();
        let mut k = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..=i {
                let v = kernel(&data, &hyper, &data.x[i], &data.x[j]);
                k[i * n + j] = v;
                k[j * n + i] = v;
            }
            k[i * n + i] += hyper.log_noise.exp() + 1e-10;
        }
        let chol = cholesky(&k, n)?;
        let mut alpha = ys;
        forward(&chol, n, &mut alpha);
        backward(&chol, n, &mut alpha);
        let inv_ls = hyper.log_ls.iter().map(|l| (-l).exp()).collect();
        Some(Gp {
            data,
            inv_ls,
            hyper,
            chol,
            alpha,
            mean,
            std,
        })
    }

    /// The hyperparameters in use.
    pub fn hyper(&self) -> &Hyper {
        &self.hyper
    }

    /// Posterior at `x`.
    pub fn predict(&self, x: &[f64]) -> Prediction {
        let n = self.data.x.len();
        let signal = self.hyper.log_signal.exp();
        let mut ks: Vec<f64> = self
            .data
            .x
            .iter()
            .map(|xi| {
                let mut r2 = 0.0;
                for m in 0..self.inv_ls.len() {
                    let t = delta(x[m], xi[m], self.data.categorical[m]) * self.inv_ls[m];
                    r2 += t * t;
                }
                signal * matern(r2.sqrt())
            })
            .collect();
        let mean_s: f64 = ks.iter().zip(&self.alpha).map(|(a, b)| a * b).sum();
        forward(&self.chol, n, &mut ks);
        let reduce: f64 = ks.iter().map(|v| v * v).sum();
        let var_s = (self.hyper.log_signal.exp() - reduce).max(1e-18);
        Prediction {
            mean: self.mean + self.std * mean_s,
            var: var_s * self.std * self.std,
        }
    }
}

fn kernel(data: &Data, h: &Hyper, a: &[f64], b: &[f64]) -> f64 {
    let mut r2 = 0.0;
    for m in 0..data.categorical.len() {
        let t = delta(a[m], b[m], data.categorical[m]) / h.log_ls[m].exp();
        r2 += t * t;
    }
    h.log_signal.exp() * matern(r2.sqrt())
}
