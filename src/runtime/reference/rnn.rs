//! Recurrent layers over `[N, T, F]` (batch first), with PyTorch's equations and weight
//! layout (`nn.GRU` / `nn.LSTM`, one layer, one direction per call):
//!
//! GRU, gates stacked r, z, n in `w_ih [3H, F]`, `w_hh [3H, H]`, `b_ih`, `b_hh [3H]`:
//! `r = σ(W_ir x + b_ir + W_hr h + b_hr)`, `z = σ(W_iz x + b_iz + W_hz h + b_hz)`,
//! `n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))`, `h' = (1 − z) ⊙ n + z ⊙ h`.
//!
//! LSTM, gates stacked i, f, g, o in `w_ih [4H, F]`, `w_hh [4H, H]`, `b_ih`, `b_hh [4H]`:
//! `i, f, o = σ(·)`, `g = tanh(·)` of `W_i* x + b_i* + W_h* h + b_h*`,
//! `c' = f ⊙ c + i ⊙ g`, `h' = o ⊙ tanh(c')`.
//!
//! The state starts at zero. A reverse direction reads the steps from `T − 1` down to 0;
//! its output at time index `t` is the state after reading step `t`, as in PyTorch. The
//! forward pass keeps what the backward pass through time needs (the trace).

use ndarray::{Array1, Array2, Array3, ArrayView1, ArrayView2, ArrayView3, Axis, s};

use super::check::same_shape;
use super::error::OpError;
use super::real::Real;
use crate::check::RnnCell;

const OP: &str = "rnn";

/// The four tensors of one direction, PyTorch layout.
#[derive(Debug, Clone, PartialEq)]
pub struct RnnWeights<T> {
    /// Input-to-hidden weights `[G·H, F]`.
    pub w_ih: Array2<T>,
    /// Hidden-to-hidden weights `[G·H, H]`.
    pub w_hh: Array2<T>,
    /// Input bias `[G·H]`.
    pub b_ih: Array1<T>,
    /// Hidden bias `[G·H]`.
    pub b_hh: Array1<T>,
}

/// Borrowed weights of one direction.
#[derive(Debug, Clone, Copy)]
pub struct RnnWeightsView<'a, T> {
    /// Input-to-hidden weights `[G·H, F]`.
    pub w_ih: ArrayView2<'a, T>,
    /// Hidden-to-hidden weights `[G·H, H]`.
    pub w_hh: ArrayView2<'a, T>,
    /// Input bias `[G·H]`.
    pub b_ih: ArrayView1<'a, T>,
    /// Hidden bias `[G·H]`.
    pub b_hh: ArrayView1<'a, T>,
}

impl<T: Real> RnnWeights<T> {
    /// A borrowed view.
    pub fn view(&self) -> RnnWeightsView<'_, T> {
        RnnWeightsView {
            w_ih: self.w_ih.view(),
            w_hh: self.w_hh.view(),
            b_ih: self.b_ih.view(),
            b_hh: self.b_hh.view(),
        }
    }
}

/// Values per step and sample the trace keeps (see [`RnnCell::trace_width`]).
pub fn trace_width(cell: RnnCell, hidden: usize) -> usize {
    cell.trace_width(hidden)
}

/// What one direction's forward pass produces.
#[derive(Debug, Clone, PartialEq)]
pub struct RnnTrace<T> {
    /// The hidden state at each time index `[N, T, H]`.
    pub h: Array3<T>,
    /// Gate values per step `[N, T, trace_width]`.
    pub gates: Array3<T>,
}

/// Gradients of one direction.
#[derive(Debug, Clone, PartialEq)]
pub struct RnnGrads<T> {
    /// `dL/dx` `[N, T, F]`.
    pub dx: Array3<T>,
    /// `dL/d(weights)`.
    pub dw: RnnWeights<T>,
}

fn sigmoid<T: Real>(v: T) -> T {
    T::one() / (T::one() + (-v).exp())
}

/// Checks the weights against the cell and input; returns the hidden size.
fn check<T>(cell: RnnCell, x: &ArrayView3<T>, w: &RnnWeightsView<T>) -> Result<usize, OpError> {
    let g = cell.gates();
    let rows = w.w_hh.nrows();
    if !rows.is_multiple_of(g) || rows == 0 {
        return Err(OpError::Shape {
            op: OP,
            what: "weight_hh",
            got: w.w_hh.shape().to_vec(),
            expected: format!("[{g}·H, H]"),
        });
    }
    let h = rows / g;
    same_shape(OP, "weight_hh", w.w_hh.shape(), &[rows, h])?;
    same_shape(OP, "weight_ih", w.w_ih.shape(), &[rows, x.shape()[2]])?;
    same_shape(OP, "bias_ih", w.b_ih.shape(), &[rows])?;
    same_shape(OP, "bias_hh", w.b_hh.shape(), &[rows])?;
    Ok(h)
}

/// Time indices in reading order.
fn order(steps: usize, reverse: bool) -> Vec<usize> {
    if reverse {
        (0..steps).rev().collect()
    } else {
        (0..steps).collect()
    }
}

/// Runs one direction over `x [N, T, F]`.
pub fn rnn_forward<T: Real>(
    cell: RnnCell,
    x: ArrayView3<T>,
    w: RnnWeightsView<T>,
    reverse: bool,
) -> Result<RnnTrace<T>, OpError> {
    let hid = check(cell, &x, &w)?;
    let (n, steps, _) = x.dim();
    let mut hs = Array3::<T>::zeros((n, steps, hid));
    let mut gates = Array3::<T>::zeros((n, steps, trace_width(cell, hid)));
    let mut h = Array2::<T>::zeros((n, hid));
    let mut c = Array2::<T>::zeros((n, hid));
    for t in order(steps, reverse) {
        let gi = x.slice(s![.., t, ..]).dot(&w.w_ih.t()) + w.b_ih;
        let gh = h.dot(&w.w_hh.t()) + w.b_hh;
        let mut saved = gates.slice_mut(s![.., t, ..]);
        for b in 0..n {
            for j in 0..hid {
                match cell {
                    RnnCell::Gru => {
                        let r = sigmoid(gi[[b, j]] + gh[[b, j]]);
                        let z = sigmoid(gi[[b, hid + j]] + gh[[b, hid + j]]);
                        let hn = gh[[b, 2 * hid + j]];
                        let nn = (gi[[b, 2 * hid + j]] + r * hn).tanh();
                        let hp = h[[b, j]];
                        hs[[b, t, j]] = (T::one() - z) * nn + z * hp;
                        for (k, v) in [r, z, nn, hn].into_iter().enumerate() {
                            saved[[b, k * hid + j]] = v;
                        }
                    }
                    RnnCell::Lstm => {
                        let pre = |k: usize| gi[[b, k * hid + j]] + gh[[b, k * hid + j]];
                        let (i, f, g, o) = (
                            sigmoid(pre(0)),
                            sigmoid(pre(1)),
                            pre(2).tanh(),
                            sigmoid(pre(3)),
                        );
                        let cn = f * c[[b, j]] + i * g;
                        c[[b, j]] = cn;
                        hs[[b, t, j]] = o * cn.tanh();
                        for (k, v) in [i, f, g, o, cn].into_iter().enumerate() {
                            saved[[b, k * hid + j]] = v;
                        }
                    }
                }
            }
        }
        h.assign(&hs.slice(s![.., t, ..]));
    }
    Ok(RnnTrace { h: hs, gates })
}

/// Backward through time of one direction: `dh [N, T, H]` is the gradient of the loss
/// with respect to the hidden state at each time index (zero where the output was not
/// used); `trace` is the forward pass's.
pub fn rnn_backward<T: Real>(
    cell: RnnCell,
    x: ArrayView3<T>,
    w: RnnWeightsView<T>,
    trace: &RnnTrace<T>,
    dh: ArrayView3<T>,
    reverse: bool,
) -> Result<RnnGrads<T>, OpError> {
    let hid = check(cell, &x, &w)?;
    let (n, steps, f) = x.dim();
    same_shape(OP, "upstream gradient", dh.shape(), &[n, steps, hid])?;
    same_shape(OP, "saved states", trace.h.shape(), &[n, steps, hid])?;
    same_shape(
        OP,
        "saved gates",
        trace.gates.shape(),
        &[n, steps, trace_width(cell, hid)],
    )?;
    let g = cell.gates();
    let mut dx = Array3::<T>::zeros((n, steps, f));
    let mut dw = RnnWeights {
        w_ih: Array2::zeros((g * hid, f)),
        w_hh: Array2::zeros((g * hid, hid)),
        b_ih: Array1::zeros(g * hid),
        b_hh: Array1::zeros(g * hid),
    };
    // Gradient reaching the state read by the step processed after this one.
    let mut carry_h = Array2::<T>::zeros((n, hid));
    let mut carry_c = Array2::<T>::zeros((n, hid));
    let reading = order(steps, reverse);
    for (pos, &t) in reading.iter().enumerate().rev() {
        let prev = pos.checked_sub(1).map(|p| reading[p]);
        let h_prev = match prev {
            Some(p) => trace.h.slice(s![.., p, ..]).to_owned(),
            None => Array2::zeros((n, hid)),
        };
        let mut da_i = Array2::<T>::zeros((n, g * hid));
        let mut da_h = Array2::<T>::zeros((n, g * hid));
        let mut direct = Array2::<T>::zeros((n, hid));
        let saved = trace.gates.slice(s![.., t, ..]);
        for b in 0..n {
            for j in 0..hid {
                let dht = dh[[b, t, j]] + carry_h[[b, j]];
                let at = |k: usize| saved[[b, k * hid + j]];
                match cell {
                    RnnCell::Gru => {
                        let (r, z, nn, hn) = (at(0), at(1), at(2), at(3));
                        let dn = dht * (T::one() - z);
                        let dz = dht * (h_prev[[b, j]] - nn);
                        direct[[b, j]] = dht * z;
                        let dan = dn * (T::one() - nn * nn);
                        let dar = dan * hn * r * (T::one() - r);
                        let daz = dz * z * (T::one() - z);
                        da_i[[b, j]] = dar;
                        da_i[[b, hid + j]] = daz;
                        da_i[[b, 2 * hid + j]] = dan;
                        da_h[[b, j]] = dar;
                        da_h[[b, hid + j]] = daz;
                        da_h[[b, 2 * hid + j]] = dan * r;
                    }
                    RnnCell::Lstm => {
                        let (i, fg, gg, o, cn) = (at(0), at(1), at(2), at(3), at(4));
                        let c_prev = match prev {
                            Some(p) => trace.gates[[b, p, 4 * hid + j]],
                            None => T::zero(),
                        };
                        let tc = cn.tanh();
                        let dc = carry_c[[b, j]] + dht * o * (T::one() - tc * tc);
                        let ds = [
                            dc * gg * i * (T::one() - i),
                            dc * c_prev * fg * (T::one() - fg),
                            dc * i * (T::one() - gg * gg),
                            dht * tc * o * (T::one() - o),
                        ];
                        for (k, v) in ds.into_iter().enumerate() {
                            da_i[[b, k * hid + j]] = v;
                            da_h[[b, k * hid + j]] = v;
                        }
                        carry_c[[b, j]] = dc * fg;
                    }
                }
            }
        }
        let xt = x.slice(s![.., t, ..]);
        dw.w_ih += &da_i.t().dot(&xt);
        dw.w_hh += &da_h.t().dot(&h_prev);
        dw.b_ih += &da_i.sum_axis(Axis(0));
        dw.b_hh += &da_h.sum_axis(Axis(0));
        dx.slice_mut(s![.., t, ..]).assign(&da_i.dot(&w.w_ih));
        carry_h = direct + da_h.dot(&w.w_hh);
    }
    Ok(RnnGrads { dx, dw })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::reference::testutil::{assert_grad_close, numeric_grad, random_array};
    use ndarray::{Ix1, Ix2, Ix3};

    fn weights(cell: RnnCell, f: usize, h: usize, seed: u64) -> RnnWeights<f64> {
        let g = cell.gates();
        RnnWeights {
            w_ih: random_array::<Ix2>(&[g * h, f], seed),
            w_hh: random_array::<Ix2>(&[g * h, h], seed + 1),
            b_ih: random_array::<Ix1>(&[g * h], seed + 2),
            b_hh: random_array::<Ix1>(&[g * h], seed + 3),
        }
    }

    #[test]
    fn gru_one_step_matches_the_equations() {
        // One sample, one step, H = 1, F = 1: h' = (1 − z)·n with h = 0.
        let w = RnnWeights {
            w_ih: ndarray::array![[0.5], [-1.0], [2.0]],
            w_hh: ndarray::array![[0.3], [0.2], [0.1]],
            b_ih: ndarray::array![0.1, 0.2, 0.3],
            b_hh: ndarray::array![-0.1, 0.4, 0.5],
        };
        let x = ndarray::Array3::from_elem((1, 1, 1), 0.7f64);
        let tr = rnn_forward(RnnCell::Gru, x.view(), w.view(), false).unwrap();
        let sig = |v: f64| 1.0 / (1.0 + (-v).exp());
        let r = sig(0.5 * 0.7 + 0.1 - 0.1);
        let z = sig(-0.7 + 0.2 + 0.4);
        let n = (2.0 * 0.7 + 0.3 + r * 0.5).tanh();
        assert!((tr.h[[0, 0, 0]] - (1.0 - z) * n).abs() < 1e-15);
    }

    #[test]
    fn lstm_one_step_matches_the_equations() {
        let w = RnnWeights {
            w_ih: ndarray::array![[0.5], [-1.0], [2.0], [0.3]],
            w_hh: ndarray::array![[0.3], [0.2], [0.1], [0.4]],
            b_ih: ndarray::array![0.1, 0.2, 0.3, -0.2],
            b_hh: ndarray::array![-0.1, 0.4, 0.5, 0.1],
        };
        let x = ndarray::Array3::from_elem((1, 1, 1), 0.7f64);
        let tr = rnn_forward(RnnCell::Lstm, x.view(), w.view(), false).unwrap();
        let sig = |v: f64| 1.0 / (1.0 + (-v).exp());
        let i = sig(0.35);
        let g = (1.4 + 0.8f64).tanh();
        let o = sig(0.21 - 0.1);
        let c = i * g;
        assert!((tr.h[[0, 0, 0]] - o * c.tanh()).abs() < 1e-15);
    }

    #[test]
    fn gradients_match_finite_differences() {
        for cell in [RnnCell::Gru, RnnCell::Lstm] {
            for (seed, (n, t, f, h), reverse) in [
                (1u64, (2, 4, 3, 2), false),
                (7, (3, 3, 2, 3), true),
                (11, (1, 1, 1, 1), false),
            ] {
                let x = random_array::<Ix3>(&[n, t, f], seed);
                let w = weights(cell, f, h, seed + 10);
                let dh = random_array::<Ix3>(&[n, t, h], seed + 20);
                let loss = |x: &Array3<f64>, w: &RnnWeights<f64>| {
                    (rnn_forward(cell, x.view(), w.view(), reverse).unwrap().h * &dh).sum()
                };
                let tr = rnn_forward(cell, x.view(), w.view(), reverse).unwrap();
                let gr = rnn_backward(cell, x.view(), w.view(), &tr, dh.view(), reverse).unwrap();
                let what = format!("{cell:?} reverse={reverse}");
                assert_grad_close(&gr.dx, &numeric_grad(&x, |x| loss(x, &w)), &what);
                let probe = |pick: fn(&mut RnnWeights<f64>) -> &mut Array2<f64>| {
                    let mut base = w.clone();
                    let at = pick(&mut base).clone();
                    numeric_grad(&at, |v| {
                        let mut ww = w.clone();
                        *pick(&mut ww) = v.clone();
                        loss(&x, &ww)
                    })
                };
                assert_grad_close(&gr.dw.w_ih, &probe(|w| &mut w.w_ih), &what);
                assert_grad_close(&gr.dw.w_hh, &probe(|w| &mut w.w_hh), &what);
                let probe1 = |pick: fn(&mut RnnWeights<f64>) -> &mut Array1<f64>| {
                    let mut base = w.clone();
                    let at = pick(&mut base).clone();
                    numeric_grad(&at, |v| {
                        let mut ww = w.clone();
                        *pick(&mut ww) = v.clone();
                        loss(&x, &ww)
                    })
                };
                assert_grad_close(&gr.dw.b_ih, &probe1(|w| &mut w.b_ih), &what);
                assert_grad_close(&gr.dw.b_hh, &probe1(|w| &mut w.b_hh), &what);
            }
        }
    }

    #[test]
    fn mismatched_shapes_are_errors() {
        let w = weights(RnnCell::Gru, 3, 2, 1);
        let x = random_array::<Ix3>(&[2, 4, 5], 2);
        assert!(matches!(
            rnn_forward(RnnCell::Gru, x.view(), w.view(), false),
            Err(OpError::Shape { .. })
        ));
        // GRU weights read as an LSTM's: 6 rows are not 4·H for H = 2.
        let x = random_array::<Ix3>(&[2, 4, 3], 2);
        assert!(rnn_forward(RnnCell::Lstm, x.view(), w.view(), false).is_err());
    }
}
