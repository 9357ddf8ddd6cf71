//! Dense linear algebra for the small symmetric positive-definite systems of the Gaussian
//! process (at most a few hundred rows): Cholesky factorisation and triangular solves.
//!
//! Written by hand instead of pulling a LAPACK binding: matrices are tiny, plain loops
//! are fast enough, and a fixed summation order keeps results bit-identical everywhere.

// Index loops mirror the matrix formulas; iterator chains would obscure them.
#![allow(clippy::needless_range_loop)]

/// A square matrix stored row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Matrix {
    /// Number of rows (= columns).
    pub n: usize,
    /// Row-major entries, `n * n` long.
    pub data: Vec<f64>,
}

impl Matrix {
    /// An `n × n` zero matrix.
    pub fn zeros(n: usize) -> Matrix {
        Matrix {
            n,
            data: vec![0.0; n * n],
        }
    }

    /// Entry `(i, j)`.
    #[inline]
    pub fn at(&self, i: usize, j: usize) -> f64 {
        self.data[i * self.n + j]
    }

    /// Mutable entry `(i, j)`.
    #[inline]
    pub fn at_mut(&mut self, i: usize, j: usize) -> &mut f64 {
        &mut self.data[i * self.n + j]
    }
}

/// Dot product with four independent accumulators (fixed order, so still deterministic);
/// breaking the single dependency chain makes the O(n³) loops several times faster.
#[inline]
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f64; 4];
    let ca = a.chunks_exact(4);
    let cb = b.chunks_exact(4);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        acc[0] += x[0] * y[0];
        acc[1] += x[1] * y[1];
        acc[2] += x[2] * y[2];
        acc[3] += x[3] * y[3];
    }
    let mut tail = 0.0;
    for (x, y) in ra.iter().zip(rb) {
        tail += x * y;
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

/// Lower-triangular Cholesky factor `L` with `A = L Lᵀ`, or `None` if `A` is not
/// (numerically) positive definite.
pub fn cholesky(a: &Matrix) -> Option<Matrix> {
    let n = a.n;
    let mut l = Matrix::zeros(n);
    for j in 0..n {
        let rj = &l.data[j * n..j * n + j];
        let d = a.at(j, j) - dot(rj, rj);
        if d.is_nan() || d <= 0.0 {
            return None;
        }
        let djj = d.sqrt();
        l.data[j * n + j] = djj;
        for i in j + 1..n {
            let (head, tail) = l.data.split_at_mut(i * n);
            let s = a.at(i, j) - dot(&tail[..j], &head[j * n..j * n + j]);
            tail[j] = s / djj;
        }
    }
    Some(l)
}

/// Solves `L x = b` for lower-triangular `L`.
pub fn solve_lower(l: &Matrix, b: &[f64]) -> Vec<f64> {
    let n = l.n;
    let mut x = b.to_vec();
    for i in 0..n {
        let s = x[i] - dot(&l.data[i * n..i * n + i], &x[..i]);
        x[i] = s / l.data[i * n + i];
    }
    x
}

/// Solves `Lᵀ x = b` for lower-triangular `L`.
pub fn solve_upper_t(l: &Matrix, b: &[f64]) -> Vec<f64> {
    let n = l.n;
    let mut x = b.to_vec();
    // Column-oriented: once x[i] is known, remove its contribution from all earlier rows.
    for i in (0..n).rev() {
        x[i] /= l.data[i * n + i];
        let xi = x[i];
        let row = &l.data[i * n..i * n + i];
        for (xk, lik) in x[..i].iter_mut().zip(row) {
            *xk -= lik * xi;
        }
    }
    x
}

/// Solves `A x = b` given the Cholesky factor `L` of `A`.
pub fn chol_solve(l: &Matrix, b: &[f64]) -> Vec<f64> {
    solve_upper_t(l, &solve_lower(l, b))
}

/// `A⁻¹` from the Cholesky factor `L` of `A` (symmetric result).
pub fn chol_inverse(l: &Matrix) -> Matrix {
    let n = l.n;
    // Row j of `u` holds column j of L⁻¹ (entries j..n), so A⁻¹ = L⁻ᵀ L⁻¹ becomes
    // (A⁻¹)_ij = Σ_k u[i][k] u[j][k]: contiguous dot products throughout.
    let mut u = Matrix::zeros(n);
    for j in 0..n {
        let row = &mut u.data[j * n..(j + 1) * n];
        row[j] = 1.0 / l.data[j * n + j];
        for i in j + 1..n {
            let s = dot(&l.data[i * n + j..i * n + i], &row[j..i]);
            row[i] = -s / l.data[i * n + i];
        }
    }
    let mut inv = Matrix::zeros(n);
    for i in 0..n {
        for j in 0..=i {
            let s = dot(
                &u.data[i * n + i..(i + 1) * n],
                &u.data[j * n + i..(j + 1) * n],
            );
            inv.data[i * n + j] = s;
            inv.data[j * n + i] = s;
        }
    }
    inv
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spd3() -> Matrix {
        Matrix {
            n: 3,
            data: vec![4.0, 2.0, 0.6, 2.0, 5.0, 1.0, 0.6, 1.0, 3.0],
        }
    }

    #[test]
    fn cholesky_reconstructs_the_matrix() {
        let a = spd3();
        let l = cholesky(&a).unwrap();
        for i in 0..3 {
            for j in 0..3 {
                let s: f64 = (0..3).map(|k| l.at(i, k) * l.at(j, k)).sum();
                assert!((s - a.at(i, j)).abs() < 1e-12);
            }
        }
        assert_eq!(l.at(0, 0), 2.0);
        assert_eq!(l.at(1, 0), 1.0);
    }

    #[test]
    fn solve_and_inverse_agree() {
        let a = spd3();
        let l = cholesky(&a).unwrap();
        let b = [1.0, -2.0, 0.5];
        let x = chol_solve(&l, &b);
        for i in 0..3 {
            let s: f64 = (0..3).map(|k| a.at(i, k) * x[k]).sum();
            assert!((s - b[i]).abs() < 1e-12);
        }
        let inv = chol_inverse(&l);
        for i in 0..3 {
            for j in 0..3 {
                let s: f64 = (0..3).map(|k| a.at(i, k) * inv.at(k, j)).sum();
                let want = if i == j { 1.0 } else { 0.0 };
                assert!((s - want).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn rejects_indefinite_matrices() {
        let a = Matrix {
            n: 2,
            data: vec![1.0, 2.0, 2.0, 1.0],
        };
        assert!(cholesky(&a).is_none());
    }
}
