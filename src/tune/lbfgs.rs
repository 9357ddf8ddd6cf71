//! Box-constrained limited-memory BFGS (projected variant) used to fit Gaussian-process
//! hyperparameters and to maximise the acquisition function.
//!
//! Search directions come from the usual two-loop recursion restricted to the variables
//! that are not held at a bound; steps are projected back into the box and accepted by an
//! Armijo backtracking test on the projected step. This is simpler than L-BFGS-B's
//! Cauchy-point machinery and more than accurate enough for the smooth, low-dimensional
//! problems here.

// Index loops mirror the matrix formulas; iterator chains would obscure them.
#![allow(clippy::needless_range_loop)]

/// Stopping rules.
#[derive(Debug, Clone, Copy)]
pub struct LbfgsSettings {
    /// Maximum number of iterations.
    pub max_iter: usize,
    /// Number of correction pairs remembered.
    pub memory: usize,
    /// Stop when the projected gradient's largest component is below this.
    pub gtol: f64,
    /// Stop when an iteration improves `f` by less than this (relative).
    pub ftol: f64,
}

impl Default for LbfgsSettings {
    fn default() -> Self {
        LbfgsSettings {
            max_iter: 100,
            memory: 8,
            gtol: 1e-6,
            ftol: 1e-10,
        }
    }
}

/// Result of a minimisation.
#[derive(Debug, Clone)]
pub struct Minimum {
    /// Best point found (inside the box).
    pub x: Vec<f64>,
    /// Objective at `x` (`+inf` if it never evaluated finitely).
    pub f: f64,
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn project(x: &mut [f64], lo: &[f64], hi: &[f64]) {
    for i in 0..x.len() {
        x[i] = x[i].clamp(lo[i], hi[i]);
    }
}

/// Minimises `f` over the box `[lo, hi]` from `x0`. `f(x, grad)` returns the value and
/// writes the gradient; non-finite values are treated as "too far" by the line search.
pub fn minimize<F>(mut f: F, x0: &[f64], lo: &[f64], hi: &[f64], s: LbfgsSettings) -> Minimum
where
    F: FnMut(&[f64], &mut [f64]) -> f64,
{
    let n = x0.len();
    let mut x = x0.to_vec();
    project(&mut x, lo, hi);
    let mut g = vec![0.0; n];
    let mut fx = f(&x, &mut g);
    if !fx.is_finite() || g.iter().any(|v| !v.is_finite()) {
        return Minimum {
            x,
            f: if fx.is_nan() { f64::INFINITY } else { fx },
        };
    }
    let mut mem_s: Vec<Vec<f64>> = Vec::new();
    let mut mem_y: Vec<Vec<f64>> = Vec::new();
    let mut gn = vec![0.0; n];
    let mut prev_active: Vec<bool> = vec![false; n];
    for _ in 0..s.max_iter {
        // Variables pinned at a bound with the gradient pushing outwards are inactive.
        let active: Vec<bool> = (0..n)
            .map(|i| (x[i] <= lo[i] && g[i] > 0.0) || (x[i] >= hi[i] && g[i] < 0.0))
            .collect();
        // Curvature pairs gathered with another active set mislead the free subspace.
        if active != prev_active {
            mem_s.clear();
            mem_y.clear();
            prev_active.clone_from(&active);
        }
        let gfree: Vec<f64> = (0..n).map(|i| if active[i] { 0.0 } else { g[i] }).collect();
        let pg = gfree.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        if pg < s.gtol {
            break;
        }
        // Two-loop recursion.
        let mut q = gfree.clone();
        let k = mem_s.len();
        let mut alpha = vec![0.0; k];
        for j in (0..k).rev() {
            let rho = 1.0 / dot(&mem_y[j], &mem_s[j]);
            alpha[j] = rho * dot(&mem_s[j], &q);
            for i in 0..n {
                q[i] -= alpha[j] * mem_y[j][i];
            }
        }
        if k > 0 {
            let gamma = dot(&mem_s[k - 1], &mem_y[k - 1]) / dot(&mem_y[k - 1], &mem_y[k - 1]);
            q.iter_mut().for_each(|v| *v *= gamma);
        }
        for j in 0..k {
            let rho = 1.0 / dot(&mem_y[j], &mem_s[j]);
            let beta = rho * dot(&mem_y[j], &q);
            for i in 0..n {
                q[i] += (alpha[j] - beta) * mem_s[j][i];
            }
        }
        let mut d: Vec<f64> = (0..n)
            .map(|i| if active[i] { 0.0 } else { -q[i] })
            .collect();
        if dot(&d, &g) >= 0.0 || d.iter().any(|v| !v.is_finite()) {
            mem_s.clear();
            mem_y.clear();
            d = gfree.iter().map(|v| -v).collect();
        }
        // First step without curvature information: move at most ~0.1 per coordinate.
        let mut t = if mem_s.is_empty() {
            let dmax = d.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            (0.1 / dmax).min(1.0)
        } else {
            1.0
        };
        let mut accepted = None;
        for _ in 0..40 {
            let mut xn: Vec<f64> = (0..n).map(|i| x[i] + t * d[i]).collect();
            project(&mut xn, lo, hi);
            let fnew = f(&xn, &mut gn);
            let step: Vec<f64> = (0..n).map(|i| xn[i] - x[i]).collect();
            if fnew.is_finite()
                && gn.iter().all(|v| v.is_finite())
                && fnew <= fx + 1e-4 * dot(&g, &step)
            {
                accepted = Some((xn, fnew, step));
                break;
            }
            t *= 0.5;
        }
        let Some((xn, fnew, step)) = accepted else {
            break;
        };
        let yv: Vec<f64> = (0..n)
            .map(|i| if active[i] { 0.0 } else { gn[i] - g[i] })
            .collect();
        let sy = dot(&step, &yv);
        if sy > 1e-12 * dot(&yv, &yv).max(1e-300) {
            if mem_s.len() == s.memory {
                mem_s.remove(0);
                mem_y.remove(0);
            }
            mem_s.push(step);
            mem_y.push(yv);
        }
        let improvement = fx - fnew;
        x = xn;
        fx = fnew;
        g.copy_from_slice(&gn);
        if improvement <= s.ftol * fx.abs().max(1.0) {
            break;
        }
    }
    Minimum { x, f: fx }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimises_rosenbrock() {
        let f = |x: &[f64], g: &mut [f64]| {
            let (a, b) = (x[0], x[1]);
            g[0] = -2.0 * (1.0 - a) - 400.0 * a * (b - a * a);
            g[1] = 200.0 * (b - a * a);
            (1.0 - a).powi(2) + 100.0 * (b - a * a).powi(2)
        };
        let s = LbfgsSettings {
            max_iter: 500,
            ..Default::default()
        };
        let m = minimize(f, &[-1.2, 1.0], &[-5.0, -5.0], &[5.0, 5.0], s);
        assert!(
            (m.x[0] - 1.0).abs() < 1e-4 && (m.x[1] - 1.0).abs() < 1e-4,
            "{:?}",
            m.x
        );
    }

    #[test]
    fn respects_bounds() {
        // Unconstrained minimum at (3, -2); box forces (1, -1).
        let f = |x: &[f64], g: &mut [f64]| {
            g[0] = 2.0 * (x[0] - 3.0);
            g[1] = 2.0 * (x[1] + 2.0);
            (x[0] - 3.0).powi(2) + (x[1] + 2.0).powi(2)
        };
        let m = minimize(
            f,
            &[0.0, 0.0],
            &[-1.0, -1.0],
            &[1.0, 1.0],
            Default::default(),
        );
        assert!((m.x[0] - 1.0).abs() < 1e-9 && (m.x[1] + 1.0).abs() < 1e-9);
    }
}
