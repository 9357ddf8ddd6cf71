//! Log expected improvement and its maximisation over the (mixed) unit cube.
//!
//! `LogEI(x) = ln σ(x) + ln h((f* − μ(x)) / σ(x))` with `h(z) = φ(z) + zΦ(z)`, computed
//! stably far in the tail (see [`crate::tune::special::log_h`]) so the optimiser still sees
//! a useful gradient where plain EI underflows to zero.
//!
//! Maximisation: score quasi-random candidates plus Gaussian perturbations of the best
//! observed points, then run box-constrained L-BFGS on the continuous coordinates from the
//! most promising starts, alternating with exhaustive sweeps over each categorical
//! parameter. Integers are optimised as continuous coordinates and snapped at the end.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::tune::gp::Gp;
use crate::tune::lbfgs::{self, LbfgsSettings};
use crate::tune::sobol::Sobol;
use crate::tune::space::{DimKind, SearchSpace};
use crate::tune::special::{dlog_h, log_h};

/// Log expected improvement of a GP below the incumbent `best` (standardised units).
#[derive(Debug, Clone, Copy)]
pub struct LogEi<'a> {
    /// The surrogate model (on the loss, smaller is better).
    pub gp: &'a Gp,
    /// Best (smallest) standardised loss observed so far.
    pub best: f64,
}

impl LogEi<'_> {
    /// `ln EI(x)`.
    pub fn value(&self, x: &[f64]) -> f64 {
        let p = self.gp.predict(x);
        let s = p.var.sqrt();
        s.ln() + log_h((self.best - p.mean) / s)
    }

    /// `ln EI(x)` and its gradient (zero on categorical coordinates).
    pub fn value_grad(&self, x: &[f64], grad: &mut [f64]) -> f64 {
        let d = x.len();
        let mut dm = vec![0.0; d];
        let mut dv = vec![0.0; d];
        let p = self.gp.predict_grad(x, Some((&mut dm, &mut dv)));
        let s = p.var.sqrt();
        let z = (self.best - p.mean) / s;
        let dh = dlog_h(z);
        for k in 0..d {
            let ds = dv[k] / (2.0 * s);
            let dz = (-dm[k] - z * ds) / s;
            grad[k] = ds / s + dh * dz;
        }
        s.ln() + log_h(z)
    }
}

/// Acquisition-optimiser effort.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AcqSettings {
    /// Quasi-random candidates scored before local search.
    pub candidates: usize,
    /// Local searches started from the best candidates.
    pub local_starts: usize,
    /// L-BFGS iterations per local search.
    pub max_iter: usize,
}

impl Default for AcqSettings {
    fn default() -> Self {
        AcqSettings {
            candidates: 512,
            local_starts: 5,
            max_iter: 60,
        }
    }
}

/// Moves categorical coordinates to the centre of their cell.
fn snap_categorical(kinds: &[DimKind], x: &mut [f64]) {
    for (k, kind) in kinds.iter().enumerate() {
        if let DimKind::Categorical(n) = kind {
            let i = ((x[k].clamp(0.0, 1.0) * *n as f64).floor() as usize).min(n - 1);
            x[k] = (i as f64 + 0.5) / *n as f64;
        }
    }
}

/// Reflects `v` into `[0, 1]`.
pub(crate) fn reflect01(v: f64) -> f64 {
    let mut v = v;
    for _ in 0..4 {
        if v < 0.0 {
            v = -v;
        } else if v > 1.0 {
            v = 2.0 - v;
        } else {
            return v;
        }
    }
    v.clamp(0.0, 1.0)
}

/// Standard normal draw (Box–Muller; `rand` 0.9 has no normal distribution built in).
pub(crate) fn normal<R: Rng>(rng: &mut R) -> f64 {
    let u1 = 1.0 - rng.random::<f64>();
    let u2 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Local search from `x`: L-BFGS on continuous coordinates alternated with categorical sweeps.
fn local_search(
    acq: &LogEi<'_>,
    kinds: &[DimKind],
    x0: Vec<f64>,
    s: &AcqSettings,
) -> (Vec<f64>, f64) {
    let cont: Vec<usize> = (0..kinds.len())
        .filter(|&k| kinds[k] == DimKind::Continuous)
        .collect();
    let mut x = x0;
    let mut fx = acq.value(&x);
    for _round in 0..3 {
        if !cont.is_empty() {
            let sub0: Vec<f64> = cont.iter().map(|&k| x[k]).collect();
            let lo = vec![0.0; cont.len()];
            let hi = vec![1.0; cont.len()];
            let mut full = x.clone();
            let mut gfull = vec![0.0; x.len()];
            let m = lbfgs::minimize(
                |sub, g| {
                    for (i, &k) in cont.iter().enumerate() {
                        full[k] = sub[i];
                    }
                    let v = acq.value_grad(&full, &mut gfull);
                    for (i, &k) in cont.iter().enumerate() {
                        g[i] = -gfull[k];
                    }
                    -v
                },
                &sub0,
                &lo,
                &hi,
                LbfgsSettings {
                    max_iter: s.max_iter,
                    gtol: 1e-9,
                    ftol: 1e-12,
                    ..Default::default()
                },
            );
            if m.f.is_finite() && -m.f >= fx {
                for (i, &k) in cont.iter().enumerate() {
                    x[k] = m.x[i];
                }
                fx = -m.f;
            }
        }
        let mut changed = false;
        for (k, kind) in kinds.iter().enumerate() {
            if let DimKind::Categorical(n) = kind {
                for i in 0..*n {
                    let mut y = x.clone();
                    y[k] = (i as f64 + 0.5) / *n as f64;
                    let v = acq.value(&y);
                    if v > fx + 1e-12 {
                        x = y;
                        fx = v;
                        changed = true;
                    }
                }
            }
        }
        if !changed {
            break;
        }
    }
    (x, fx)
}

/// Returns the snapped unit-cube point maximising `acq` that is not in `avoid`, or `None`
/// when every scored point repeats an existing configuration.
pub fn maximize(
    acq: &LogEi<'_>,
    space: &SearchSpace,
    incumbents: &[Vec<f64>],
    avoid: &[Vec<f64>],
    rng: &mut ChaCha8Rng,
    s: &AcqSettings,
) -> Option<Vec<f64>> {
    let kinds = space.dim_kinds();
    let d = kinds.len();
    let mut cands: Vec<Vec<f64>> = Vec::with_capacity(s.candidates + 8 * incumbents.len());
    match Sobol::scrambled(d, rng) {
        Some(sobol) => {
            for i in 0..s.candidates {
                cands.push(sobol.point(i as u32));
            }
        }
        None => {
            for _ in 0..s.candidates {
                cands.push((0..d).map(|_| rng.random::<f64>()).collect());
            }
        }
    }
    for inc in incumbents {
        for scale in [0.01, 0.05, 0.15] {
            for _ in 0..4 {
                let mut x = inc.clone();
                for (k, kind) in kinds.iter().enumerate() {
                    match kind {
                        DimKind::Continuous => x[k] = reflect01(x[k] + scale * normal(rng)),
                        DimKind::Categorical(_) => {
                            if rng.random::<f64>() < scale {
                                x[k] = rng.random::<f64>();
                            }
                        }
                    }
                }
                cands.push(x);
            }
        }
    }
    for c in cands.iter_mut() {
        snap_categorical(&kinds, c);
    }
    let mut scored: Vec<(f64, Vec<f64>)> = cands
        .into_iter()
        .map(|c| (acq.value(&c), c))
        .filter(|(v, _)| !v.is_nan())
        .collect();
    // Stable sort keeps ties in generation order, so results are reproducible.
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut starts: Vec<Vec<f64>> = scored
        .iter()
        .take(s.local_starts)
        .map(|(_, c)| c.clone())
        .collect();
    if let Some(best) = incumbents.first() {
        starts.push(best.clone());
    }
    let mut finals: Vec<(f64, Vec<f64>)> = Vec::new();
    for x0 in starts {
        let (x, _) = local_search(acq, &kinds, x0, s);
        let snapped = space.snap(&x);
        finals.push((acq.value(&snapped), snapped));
    }
    for (_, c) in scored {
        let snapped = space.snap(&c);
        finals.push((acq.value(&snapped), snapped));
    }
    finals.sort_by(|a, b| b.0.total_cmp(&a.0));
    finals
        .into_iter()
        .map(|(_, x)| x)
        .find(|x| !avoid.iter().any(|a| a == x))
}
