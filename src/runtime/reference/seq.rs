//! Sequence ops over `[N, T, F]` (time first, features last): token embedding, 1-D
//! convolution and pooling over time, and the glue from a sequence to a vector (the last
//! step, the mean over time). Windows use PyTorch's output-length formula; a convolution's
//! weight is `[out, in, kernel]` as in `nn.Conv1d`, which reads `[N, C, T]`, so
//! `conv1d(x) = Conv1d(x.transpose(1, 2)).transpose(1, 2)`.

use ndarray::{Array1, Array2, Array3, ArrayView1, ArrayView2, ArrayView3, Axis};

use super::check::same_shape;
use super::error::OpError;
use super::real::Real;
use crate::lower::window_output_len;

/// Window of a 1-D convolution or pooling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window1d {
    /// Taps.
    pub kernel: usize,
    /// Steps between windows.
    pub stride: usize,
    /// Zero steps at each end.
    pub pad: usize,
    /// Spacing between taps.
    pub dilation: usize,
}

impl Window1d {
    fn out_len(&self, op: &'static str, steps: usize) -> Result<usize, OpError> {
        window_output_len(steps, self.kernel, self.stride, self.pad, self.dilation).ok_or_else(
            || OpError::TooSmall {
                op,
                height: 1,
                width: steps,
                reason: format!(
                    "a window of {} steps does not fit {steps} steps padded by {}",
                    self.dilation * self.kernel.saturating_sub(1) + 1,
                    self.pad
                ),
            },
        )
    }

    /// The input step read by tap `k` of output step `o`, if inside the sequence.
    fn source(&self, o: usize, k: usize, steps: usize) -> Option<usize> {
        (o * self.stride + k * self.dilation)
            .checked_sub(self.pad)
            .filter(|i| *i < steps)
    }
}

/// Embedding lookup: `ids [N, T]` (whole numbers in `0..vocab`, as f32) → `[N, T, dim]`.
pub fn embedding_forward<T: Real>(
    ids: ArrayView2<f32>,
    w: ArrayView2<T>,
) -> Result<Array3<T>, OpError> {
    let (n, steps) = ids.dim();
    let rows = token_rows(ids, w.nrows())?;
    let mut y = Array3::<T>::zeros((n, steps, w.ncols()));
    for ((b, t), r) in rows.indexed_iter() {
        y.slice_mut(ndarray::s![b, t, ..]).assign(&w.row(*r));
    }
    Ok(y)
}

/// Embedding backward: `dW[id] += dy[n, t]` for every position holding `id`.
pub fn embedding_backward<T: Real>(
    ids: ArrayView2<f32>,
    dy: ArrayView3<T>,
    vocab: usize,
) -> Result<Array2<T>, OpError> {
    let (n, steps) = ids.dim();
    same_shape(
        "embedding",
        "upstream gradient",
        &dy.shape()[..2],
        &[n, steps],
    )?;
    let rows = token_rows(ids, vocab)?;
    let mut dw = Array2::<T>::zeros((vocab, dy.shape()[2]));
    for ((b, t), r) in rows.indexed_iter() {
        let mut row = dw.row_mut(*r);
        row += &dy.slice(ndarray::s![b, t, ..]);
    }
    Ok(dw)
}

/// The rows ids select, or an error naming the first id that is not a whole number in
/// `0..vocab`.
fn token_rows(ids: ArrayView2<f32>, vocab: usize) -> Result<Array2<usize>, OpError> {
    if let Some(((row, _), v)) = ids
        .indexed_iter()
        .find(|(_, v)| !(v.fract() == 0.0 && **v >= 0.0 && (**v as usize) < vocab))
    {
        return Err(OpError::TokenId {
            op: "embedding",
            row,
            value: f64::from(*v),
            vocab,
        });
    }
    Ok(ids.mapv(|v| v as usize))
}

/// 1-D convolution: `x [N, T, C]`, `w [O, C, K]`, `b [O]` → `[N, T', O]`.
pub fn conv1d_forward<T: Real>(
    x: ArrayView3<T>,
    w: ArrayView3<T>,
    b: Option<ArrayView1<T>>,
    win: &Window1d,
) -> Result<Array3<T>, OpError> {
    let (n, steps, cin) = x.dim();
    let (cout, wc, k) = w.dim();
    same_shape("conv1d", "weight", w.shape(), &[cout, cin, win.kernel])?;
    let _ = (wc, k);
    let tout = win.out_len("conv1d", steps)?;
    let mut y = Array3::<T>::zeros((n, tout, cout));
    if let Some(b) = b {
        same_shape("conv1d", "bias", b.shape(), &[cout])?;
        y += &b;
    }
    for bi in 0..n {
        for o in 0..tout {
            for kk in 0..win.kernel {
                let Some(i) = win.source(o, kk, steps) else {
                    continue;
                };
                for co in 0..cout {
                    let mut acc = T::zero();
                    for ci in 0..cin {
                        acc += w[[co, ci, kk]] * x[[bi, i, ci]];
                    }
                    y[[bi, o, co]] += acc;
                }
            }
        }
    }
    Ok(y)
}

/// Gradients of a 1-D convolution.
#[derive(Debug, Clone, PartialEq)]
pub struct Conv1dGrads<T> {
    /// `dL/dx` `[N, T, C]`.
    pub dx: Array3<T>,
    /// `dL/dw` `[O, C, K]`.
    pub dw: Array3<T>,
    /// `dL/db` `[O]`.
    pub db: Array1<T>,
}

/// Backward of [`conv1d_forward`] given `dy [N, T', O]`.
pub fn conv1d_backward<T: Real>(
    dy: ArrayView3<T>,
    x: ArrayView3<T>,
    w: ArrayView3<T>,
    win: &Window1d,
) -> Result<Conv1dGrads<T>, OpError> {
    let (n, steps, cin) = x.dim();
    let cout = w.shape()[0];
    same_shape("conv1d", "weight", w.shape(), &[cout, cin, win.kernel])?;
    let tout = win.out_len("conv1d", steps)?;
    same_shape("conv1d", "upstream gradient", dy.shape(), &[n, tout, cout])?;
    let mut dx = Array3::<T>::zeros((n, steps, cin));
    let mut dw = Array3::<T>::zeros(w.raw_dim());
    for bi in 0..n {
        for o in 0..tout {
            for kk in 0..win.kernel {
                let Some(i) = win.source(o, kk, steps) else {
                    continue;
                };
                for co in 0..cout {
                    let g = dy[[bi, o, co]];
                    for ci in 0..cin {
                        dw[[co, ci, kk]] += g * x[[bi, i, ci]];
                        dx[[bi, i, ci]] += g * w[[co, ci, kk]];
                    }
                }
            }
        }
    }
    let db = dy.sum_axis(Axis(0)).sum_axis(Axis(0));
    Ok(Conv1dGrads { dx, dw, db })
}

/// Max over windows of steps, per feature; padded steps never win. Returns the output
/// `[N, T', F]` and, per output element, the input step that won.
pub fn maxpool1d_forward<T: Real>(
    x: ArrayView3<T>,
    win: &Window1d,
) -> Result<(Array3<T>, Array3<usize>), OpError> {
    let (n, steps, f) = x.dim();
    let tout = win.out_len("maxpool1d", steps)?;
    let mut y = Array3::<T>::zeros((n, tout, f));
    let mut arg = Array3::<usize>::zeros((n, tout, f));
    for b in 0..n {
        for o in 0..tout {
            for c in 0..f {
                let mut best: Option<(usize, T)> = None;
                for k in 0..win.kernel {
                    if let Some(i) = win.source(o, k, steps) {
                        let v = x[[b, i, c]];
                        // The first maximum wins ties (PyTorch's rule); NaN propagates.
                        if best.is_none_or(|(_, m)| v > m || v.is_nan())
                            && !best.is_some_and(|(_, m)| m.is_nan())
                        {
                            best = Some((i, v));
                        }
                    }
                }
                let (i, v) = best.ok_or(OpError::TooSmall {
                    op: "maxpool1d",
                    height: 1,
                    width: steps,
                    reason: "a window covers only padding".into(),
                })?;
                y[[b, o, c]] = v;
                arg[[b, o, c]] = i;
            }
        }
    }
    Ok((y, arg))
}

/// Routes `dy [N, T', F]` to the steps that won.
pub fn maxpool1d_backward<T: Real>(
    dy: ArrayView3<T>,
    arg: ArrayView3<usize>,
    steps: usize,
) -> Result<Array3<T>, OpError> {
    same_shape("maxpool1d", "argmax", arg.shape(), dy.shape())?;
    let (n, _, f) = dy.dim();
    let mut dx = Array3::<T>::zeros((n, steps, f));
    for ((b, o, c), i) in arg.indexed_iter() {
        if *i >= steps {
            return Err(OpError::Shape {
                op: "maxpool1d",
                what: "argmax",
                got: vec![*i],
                expected: format!("steps below {steps}"),
            });
        }
        dx[[b, *i, c]] += dy[[b, o, c]];
    }
    Ok(dx)
}

/// Mean over windows of steps, per feature, padding counted in the divisor.
pub fn avgpool1d_forward<T: Real>(x: ArrayView3<T>, win: &Window1d) -> Result<Array3<T>, OpError> {
    let (n, steps, f) = x.dim();
    let tout = win.out_len("avgpool1d", steps)?;
    let scale = T::one() / T::of_f64(win.kernel as f64);
    let mut y = Array3::<T>::zeros((n, tout, f));
    for b in 0..n {
        for o in 0..tout {
            for k in 0..win.kernel {
                if let Some(i) = win.source(o, k, steps) {
                    for c in 0..f {
                        y[[b, o, c]] += x[[b, i, c]];
                    }
                }
            }
        }
    }
    Ok(y * scale)
}

/// Spreads `dy` evenly over each window.
pub fn avgpool1d_backward<T: Real>(
    dy: ArrayView3<T>,
    steps: usize,
    win: &Window1d,
) -> Result<Array3<T>, OpError> {
    let (n, tout, f) = dy.dim();
    same_shape(
        "avgpool1d",
        "upstream gradient",
        &[tout],
        &[win.out_len("avgpool1d", steps)?],
    )?;
    let scale = T::one() / T::of_f64(win.kernel as f64);
    let mut dx = Array3::<T>::zeros((n, steps, f));
    for b in 0..n {
        for o in 0..tout {
            for k in 0..win.kernel {
                if let Some(i) = win.source(o, k, steps) {
                    for c in 0..f {
                        dx[[b, i, c]] += dy[[b, o, c]] * scale;
                    }
                }
            }
        }
    }
    Ok(dx)
}

/// The last step: `[N, T, F]` → `[N, F]`.
pub fn last_forward<T: Real>(x: ArrayView3<T>) -> Result<Array2<T>, OpError> {
    let steps = x.shape()[1];
    if steps == 0 {
        return Err(OpError::Empty {
            op: "last",
            what: "sequence",
        });
    }
    Ok(x.index_axis(Axis(1), steps - 1).to_owned())
}

/// Backward of [`last_forward`]: `dy` at the last step, zero elsewhere.
pub fn last_backward<T: Real>(dy: ArrayView2<T>, steps: usize) -> Result<Array3<T>, OpError> {
    let (n, f) = dy.dim();
    let mut dx = Array3::<T>::zeros((n, steps, f));
    if steps == 0 {
        return Err(OpError::Empty {
            op: "last",
            what: "sequence",
        });
    }
    dx.index_axis_mut(Axis(1), steps - 1).assign(&dy);
    Ok(dx)
}

/// The mean over time: `[N, T, F]` → `[N, F]`, summed in step order.
pub fn time_mean_forward<T: Real>(x: ArrayView3<T>) -> Result<Array2<T>, OpError> {
    let steps = x.shape()[1];
    if steps == 0 {
        return Err(OpError::Empty {
            op: "mean",
            what: "sequence",
        });
    }
    Ok(x.sum_axis(Axis(1)) * (T::one() / T::of_f64(steps as f64)))
}

/// Backward of [`time_mean_forward`]: `dy / T` at every step.
pub fn time_mean_backward<T: Real>(dy: ArrayView2<T>, steps: usize) -> Result<Array3<T>, OpError> {
    if steps == 0 {
        return Err(OpError::Empty {
            op: "mean",
            what: "sequence",
        });
    }
    let g = &dy * (T::one() / T::of_f64(steps as f64));
    let (n, f) = dy.dim();
    let mut dx = Array3::<T>::zeros((n, steps, f));
    for t in 0..steps {
        dx.index_axis_mut(Axis(1), t).assign(&g);
    }
    Ok(dx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::reference::testutil::{
        assert_grad_close, numeric_grad, random_array, random_array_away_from_zero,
    };
    use ndarray::{Ix1, Ix2, Ix3};

    const WINDOWS: [Window1d; 3] = [
        Window1d {
            kernel: 3,
            stride: 1,
            pad: 1,
            dilation: 1,
        },
        Window1d {
            kernel: 2,
            stride: 2,
            pad: 0,
            dilation: 1,
        },
        Window1d {
            kernel: 2,
            stride: 1,
            pad: 1,
            dilation: 2,
        },
    ];

    #[test]
    fn conv1d_gradients_match_finite_differences() {
        for (seed, win) in WINDOWS.iter().enumerate() {
            let seed = seed as u64;
            let x = random_array::<Ix3>(&[2, 6, 3], seed);
            let w = random_array::<Ix3>(&[4, 3, win.kernel], seed + 10);
            let b = random_array::<Ix1>(&[4], seed + 20);
            let tout = win.out_len("t", 6).unwrap();
            let dy = random_array::<Ix3>(&[2, tout, 4], seed + 30);
            let loss = |x: &Array3<f64>, w: &Array3<f64>, b: &Array1<f64>| {
                (conv1d_forward(x.view(), w.view(), Some(b.view()), win).unwrap() * &dy).sum()
            };
            let g = conv1d_backward(dy.view(), x.view(), w.view(), win).unwrap();
            assert_grad_close(&g.dx, &numeric_grad(&x, |x| loss(x, &w, &b)), "dx");
            assert_grad_close(&g.dw, &numeric_grad(&w, |w| loss(&x, w, &b)), "dw");
            assert_grad_close(&g.db, &numeric_grad(&b, |b| loss(&x, &w, b)), "db");
        }
    }

    #[test]
    fn conv1d_matches_a_hand_computed_window() {
        // x = steps 1, 2, 3 of one feature; kernel [1, 10], pad 0 → [1 + 20, 2 + 30].
        let x = Array3::from_shape_vec((1, 3, 1), vec![1.0f64, 2.0, 3.0]).unwrap();
        let w = Array3::from_shape_vec((1, 1, 2), vec![1.0, 10.0]).unwrap();
        let win = Window1d {
            kernel: 2,
            stride: 1,
            pad: 0,
            dilation: 1,
        };
        let y = conv1d_forward(x.view(), w.view(), None, &win).unwrap();
        assert_eq!(y.iter().copied().collect::<Vec<_>>(), vec![21.0, 32.0]);
    }

    #[test]
    fn pooling_gradients_match_finite_differences() {
        for (seed, win) in WINDOWS[..2].iter().enumerate() {
            let x = random_array_away_from_zero::<Ix3>(&[2, 6, 3], seed as u64, 0.01);
            let tout = win.out_len("t", 6).unwrap();
            let dy = random_array::<Ix3>(&[2, tout, 3], seed as u64 + 5);
            let (_, arg) = maxpool1d_forward(x.view(), win).unwrap();
            let g = maxpool1d_backward(dy.view(), arg.view(), 6).unwrap();
            let num = numeric_grad(&x, |x| {
                (maxpool1d_forward(x.view(), win).unwrap().0 * &dy).sum()
            });
            assert_grad_close(&g, &num, "maxpool1d");
            let g = avgpool1d_backward(dy.view(), 6, win).unwrap();
            let num = numeric_grad(&x, |x| {
                (avgpool1d_forward(x.view(), win).unwrap() * &dy).sum()
            });
            assert_grad_close(&g, &num, "avgpool1d");
        }
    }

    #[test]
    fn last_and_mean_gradients_match_finite_differences() {
        let x = random_array::<Ix3>(&[3, 5, 2], 1);
        let dy = random_array::<Ix2>(&[3, 2], 2);
        let g = last_backward(dy.view(), 5).unwrap();
        assert_grad_close(
            &g,
            &numeric_grad(&x, |x| (last_forward(x.view()).unwrap() * &dy).sum()),
            "last",
        );
        let g = time_mean_backward(dy.view(), 5).unwrap();
        assert_grad_close(
            &g,
            &numeric_grad(&x, |x| (time_mean_forward(x.view()).unwrap() * &dy).sum()),
            "mean",
        );
    }

    #[test]
    fn embedding_gradient_matches_finite_differences() {
        let ids = ndarray::array![[0.0f32, 2.0, 2.0], [1.0, 0.0, 3.0]];
        let w = random_array::<Ix2>(&[4, 3], 3);
        let dy = random_array::<Ix3>(&[2, 3, 3], 4);
        let g = embedding_backward(ids.view(), dy.view(), 4).unwrap();
        let num = numeric_grad(&w, |w| {
            (embedding_forward(ids.view(), w.view()).unwrap() * &dy).sum()
        });
        assert_grad_close(&g, &num, "embedding");
        let bad = ndarray::array![[0.0f32, 4.0]];
        assert!(matches!(
            embedding_forward(bad.view(), w.view()),
            Err(OpError::TokenId { value, vocab: 4, .. }) if value == 4.0
        ));
        let frac = ndarray::array![[0.5f32]];
        assert!(embedding_forward(frac.view(), w.view()).is_err());
    }
}
