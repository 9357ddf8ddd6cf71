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

/// Lower-triangular Cholesky factor `L` with `A = L Lᵀ`, or `None` if `A` is not
/// (numerically) positive definite.
pub fn cholesky(a: &Matrix) -> Option<Matrix> {
    let n = a.n;
    let mut l = Matrix::zeros(n);
    for j in 0..n {
        let mut d = a.at(j, j);
        let lj = &l.data[j * n..j * n + j];
        for v in lj {
            d -= v * v;
        }
        if d.is_nan() || d <= 0.0 {
            return None;
        }
        let djj = d.sqrt();
        *l.at_mut(j, j) = djj;
        for i in j + 1..n {
            let mut s = a.at(i, j);
            let (li, lj) = (i * n, j * n);
            for k in 0..j {
                s -= l.data[li + k] * l.data[lj + k];
            }
            *l.at_mut(i, j) = s / djj;
        }
    }
    Some(l)
}

/// Solves `L x = b` for lower-triangular `L`.
pub fn solve_lower(l: &Matrix, b: &[f64]) -> Vec<f64> {
    let n = l.n;
    let mut x = b.to_vec();
    for i in 0..n {
        let row = &l.data[i * n..i * n + i];
        let mut s = x[i];
        for (k, v) in row.iter().enumerate() {
            s -= v * x[k];
        }
        x[i] = s / l.at(i, i);
    }
    x
}

/// Solves `Lᵀ x = b` for lower-triangular `L`.
pub fn solve_upper_t(l: &Matrix, b: &[f64]) -> Vec<f64> {
    let n = l.n;
    let mut x = b.to_vec();
    for i in (0..n).rev() {
        let mut s = x[i];
        for k in i + 1..n {
            s -= l.at(k, i) * x[k];
        }
        x[i] = s / l.at(i, i);
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
    // Invert L (lower triangular) column by column, then A⁻¹ = L⁻ᵀ L⁻¹.
    let mut linv = Matrix::zeros(n);
    for j in 0..n {
        *linv.at_mut(j, j) = 1.0 / l.at(j, j);
        for i in j + 1..n {
            let mut s = 0.0;
            for k in j..i {
                s -= l.at(i, k) * linv.at(k, j);
            }
            *linv.at_mut(i, j) = s / l.at(i, i);
        }
    }
    let mut inv = Matrix::zeros(n);
    for i in 0..n {
        for j in 0..=i {
            let mut s = 0.0;
            for k in i..n {
                s += linv.at(k, i) * linv.at(k, j);
            }
            *inv.at_mut(i, j) = s;
            *inv.at_mut(j, i) = s;
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
