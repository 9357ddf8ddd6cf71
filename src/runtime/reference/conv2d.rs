//! 2-D convolution (cross-correlation, groups = 1), NCHW input and OIHW weights like PyTorch,
//! computed per image as one matrix product over the [`im2col`](fn@super::im2col::im2col) unrolling.

use ndarray::{Array1, Array4, ArrayView1, ArrayView4, Axis, s};

use super::check::same_shape;
use super::error::OpError;
use super::geometry::{Hw, require_positive, window_output_hw};
use super::im2col::{col2im, im2col};
use super::real::Real;

const OP: &str = "conv2d";

/// Stride, zero padding and dilation of a convolution (PyTorch's defaults: 1, 0, 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Conv2dSpec {
    /// Step between neighbouring windows.
    pub stride: Hw,
    /// Zeros added on each side (top and bottom get `padding.h`, left and right `padding.w`).
    pub padding: Hw,
    /// Spacing between kernel taps (1 = dense kernel).
    pub dilation: Hw,
}

impl Default for Conv2dSpec {
    fn default() -> Self {
        Self {
            stride: Hw::square(1),
            padding: Hw::square(0),
            dilation: Hw::square(1),
        }
    }
}

impl Conv2dSpec {
    /// The same stride, padding and dilation along height and width.
    pub const fn square(stride: usize, padding: usize, dilation: usize) -> Self {
        Self {
            stride: Hw::square(stride),
            padding: Hw::square(padding),
            dilation: Hw::square(dilation),
        }
    }

    fn validate(&self) -> Result<(), OpError> {
        require_positive(OP, "stride", self.stride)?;
        require_positive(OP, "dilation", self.dilation)
    }
}

/// Output spatial size `H' = floor((H + 2p - d(k-1) - 1)/s) + 1` (same for `W'`).
///
/// Errors if the kernel, stride or dilation has a zero, or the dilated kernel does not fit.
pub fn conv2d_output_hw(input: Hw, kernel: Hw, spec: &Conv2dSpec) -> Result<Hw, OpError> {
    spec.validate()?;
    require_positive(OP, "kernel", kernel)?;
    window_output_hw(OP, input, kernel, spec.stride, spec.padding, spec.dilation)
}

/// Gradients of a convolution with respect to its input and parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Conv2dGrads<T> {
    /// `dL/dx`, shape `[N, C, H, W]`.
    pub dx: Array4<T>,
    /// `dL/dW`, shape `[O, C, kh, kw]`.
    pub dw: Array4<T>,
    /// `dL/db`, shape `[O]` (meaningful only if the layer has a bias).
    pub db: Array1<T>,
}

/// Validated geometry of one convolution call.
struct Geometry {
    batch: usize,
    in_channels: usize,
    out_channels: usize,
    input: Hw,
    kernel: Hw,
    output: Hw,
}

fn geometry<T>(
    x: &ArrayView4<T>,
    w: &ArrayView4<T>,
    spec: &Conv2dSpec,
) -> Result<Geometry, OpError> {
    let (batch, in_channels, h, wd) = x.dim();
    let (out_channels, w_in, kh, kw) = w.dim();
    if w_in != in_channels {
        return Err(OpError::Shape {
            op: OP,
            what: "weight",
            got: w.shape().to_vec(),
            expected: format!(
                "[O, {in_channels}, kh, kw] to match the input's {in_channels} channels"
            ),
        });
    }
    let input = Hw::new(h, wd);
    let kernel = Hw::new(kh, kw);
    let output = conv2d_output_hw(input, kernel, spec)?;
    Ok(Geometry {
        batch,
        in_channels,
        out_channels,
        input,
        kernel,
        output,
    })
}

/// Forward pass: `y[n,o,oh,ow] = b[o] + sum_{c,i,j} w[o,c,i,j] * xpad[n, c, oh*s_h + i*d_h, ow*s_w + j*d_w]`
/// where `xpad` is `x` with `padding` zeros on each side.
///
/// `x` is `[N, C, H, W]`, `w` is `[O, C, kh, kw]`, `b` (optional) is `[O]`; returns `[N, O, H', W']`.
pub fn conv2d_forward<T: Real>(
    x: ArrayView4<T>,
    w: ArrayView4<T>,
    b: Option<ArrayView1<T>>,
    spec: &Conv2dSpec,
) -> Result<Array4<T>, OpError> {
    let g = geometry(&x, &w, spec)?;
    if let Some(b) = &b {
        same_shape(OP, "bias", b.shape(), &[g.out_channels])?;
    }
    let w2 = w
        .to_shape((g.out_channels, g.in_channels * g.kernel.area()))
        .map_err(|_| OpError::Shape {
            op: OP,
            what: "weight",
            got: w.shape().to_vec(),
            expected: "a reshapeable OIHW tensor".into(),
        })?;
    let mut y = Array4::zeros((g.batch, g.out_channels, g.output.h, g.output.w));
    for n in 0..g.batch {
        let cols = im2col(x.slice(s![n, .., .., ..]), g.kernel, spec, g.output);
        let mut yn = w2.dot(&cols); // [O, H'*W']
        if let Some(b) = &b {
            yn += &b.view().insert_axis(Axis(1));
        }
        let yn = yn
            .into_shape_with_order((g.out_channels, g.output.h, g.output.w))
            .map_err(|_| OpError::Shape {
                op: OP,
                what: "output",
                got: vec![g.out_channels, g.output.area()],
                expected: "a reshapeable product".into(),
            })?;
        y.slice_mut(s![n, .., .., ..]).assign(&yn);
    }
    Ok(y)
}

/// Backward pass given the upstream gradient `dy` (`[N, O, H', W']`) and the forward's `x`, `w`:
/// `dW = sum_n dy_n · cols_n^T`, `dx_n = col2im(W^T · dy_n)`, `db[o] = sum_{n,h,w} dy[n,o,h,w]`.
pub fn conv2d_backward<T: Real>(
    dy: ArrayView4<T>,
    x: ArrayView4<T>,
    w: ArrayView4<T>,
    spec: &Conv2dSpec,
) -> Result<Conv2dGrads<T>, OpError> {
    let g = geometry(&x, &w, spec)?;
    same_shape(
        OP,
        "upstream gradient",
        dy.shape(),
        &[g.batch, g.out_channels, g.output.h, g.output.w],
    )?;
    let rows = g.in_channels * g.kernel.area();
    let reshape_err = |what: &'static str, shape: &[usize]| OpError::Shape {
        op: OP,
        what,
        got: shape.to_vec(),
        expected: "a reshapeable tensor".into(),
    };
    let w2 = w
        .to_shape((g.out_channels, rows))
        .map_err(|_| reshape_err("weight", w.shape()))?;
    let mut dw2 = ndarray::Array2::<T>::zeros((g.out_channels, rows));
    let mut dx = Array4::zeros(x.raw_dim());
    for n in 0..g.batch {
        let cols = im2col(x.slice(s![n, .., .., ..]), g.kernel, spec, g.output);
        let dyn_ = dy.slice(s![n, .., .., ..]);
        let dyn2 = dyn_
            .to_shape((g.out_channels, g.output.area()))
            .map_err(|_| reshape_err("upstream gradient", dy.shape()))?;
        dw2 += &dyn2.dot(&cols.t());
        let dcols = w2.t().dot(&dyn2);
        let dxn = col2im(
            dcols.view(),
            g.in_channels,
            g.input,
            g.kernel,
            spec,
            g.output,
        );
        dx.slice_mut(s![n, .., .., ..]).assign(&dxn);
    }
    let dw = dw2
        .into_shape_with_order(w.raw_dim())
        .map_err(|_| reshape_err("weight gradient", w.shape()))?;
    let db = dy.sum_axis(Axis(3)).sum_axis(Axis(2)).sum_axis(Axis(0));
    Ok(Conv2dGrads { dx, dw, db })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::reference::testutil::{
        assert_all_close, assert_grad_close, numeric_grad, random_array,
    };
    use ndarray::{Ix1, Ix4};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// The definition, written as nested loops with explicit bounds checks.
    fn conv2d_direct(
        x: &Array4<f64>,
        w: &Array4<f64>,
        b: &Array1<f64>,
        spec: &Conv2dSpec,
    ) -> Array4<f64> {
        let (n, c, h, wd) = x.dim();
        let (o, _, kh, kw) = w.dim();
        let out = conv2d_output_hw(Hw::new(h, wd), Hw::new(kh, kw), spec).unwrap();
        Array4::from_shape_fn((n, o, out.h, out.w), |(n, o, oh, ow)| {
            let mut acc = b[o];
            for ci in 0..c {
                for i in 0..kh {
                    for j in 0..kw {
                        let ih = (oh * spec.stride.h + i * spec.dilation.h) as isize
                            - spec.padding.h as isize;
                        let iw = (ow * spec.stride.w + j * spec.dilation.w) as isize
                            - spec.padding.w as isize;
                        if ih >= 0 && iw >= 0 && (ih as usize) < h && (iw as usize) < wd {
                            acc += w[[o, ci, i, j]] * x[[n, ci, ih as usize, iw as usize]];
                        }
                    }
                }
            }
            acc
        })
    }

    /// Input `[N, C, H, W]`, weight `[O, C, kh, kw]` and the conv hyper-parameters.
    struct Case {
        input: [usize; 4],
        out_channels: usize,
        kernel: Hw,
        spec: Conv2dSpec,
    }

    /// Odd sizes, non-square kernels, stride, padding and dilation combinations.
    fn cases() -> Vec<Case> {
        let case = |input, out_channels, kernel, spec| Case {
            input,
            out_channels,
            kernel,
            spec,
        };
        vec![
            case([2, 3, 5, 5], 4, Hw::square(3), Conv2dSpec::default()),
            case([1, 2, 7, 6], 3, Hw::square(3), Conv2dSpec::square(1, 1, 1)),
            case([2, 1, 7, 7], 2, Hw::new(3, 2), Conv2dSpec::square(2, 1, 1)),
            case([1, 2, 9, 8], 2, Hw::square(3), Conv2dSpec::square(1, 2, 2)),
            case(
                [2, 2, 6, 9],
                3,
                Hw::new(2, 3),
                Conv2dSpec {
                    stride: Hw::new(2, 3),
                    padding: Hw::new(0, 2),
                    dilation: Hw::new(2, 1),
                },
            ),
            case([1, 3, 3, 3], 1, Hw::square(1), Conv2dSpec::default()),
            case([1, 1, 4, 4], 1, Hw::square(4), Conv2dSpec::square(3, 1, 1)),
        ]
    }

    #[test]
    fn im2col_conv_matches_direct_loops() {
        for (
            seed,
            Case {
                input: [n, c, h, wd],
                out_channels: o,
                kernel,
                spec,
            },
        ) in cases().into_iter().enumerate()
        {
            let seed = seed as u64;
            let (kh, kw) = (kernel.h, kernel.w);
            let x = random_array::<Ix4>(&[n, c, h, wd], seed);
            let w = random_array::<Ix4>(&[o, c, kh, kw], seed + 50);
            let b = random_array::<Ix1>(&[o], seed + 70);
            let fast = conv2d_forward(x.view(), w.view(), Some(b.view()), &spec).unwrap();
            let slow = conv2d_direct(&x, &w, &b, &spec);
            assert_all_close(&fast, &slow, 1e-12, "conv forward");
        }
    }

    #[test]
    fn gradients_match_finite_differences() {
        for (
            seed,
            Case {
                input: [n, c, h, wd],
                out_channels: o,
                kernel,
                spec,
            },
        ) in cases().into_iter().enumerate()
        {
            let seed = seed as u64 * 10;
            let (kh, kw) = (kernel.h, kernel.w);
            let x = random_array::<Ix4>(&[n, c, h, wd], seed);
            let w = random_array::<Ix4>(&[o, c, kh, kw], seed + 1);
            let b = random_array::<Ix1>(&[o], seed + 2);
            let out = conv2d_output_hw(Hw::new(h, wd), Hw::new(kh, kw), &spec).unwrap();
            let dy = random_array::<Ix4>(&[n, o, out.h, out.w], seed + 3);
            let loss = |x: &Array4<f64>, w: &Array4<f64>, b: &Array1<f64>| {
                (conv2d_forward(x.view(), w.view(), Some(b.view()), &spec).unwrap() * &dy).sum()
            };
            let g = conv2d_backward(dy.view(), x.view(), w.view(), &spec).unwrap();
            assert_grad_close(&g.dx, &numeric_grad(&x, |x| loss(x, &w, &b)), "dx");
            assert_grad_close(&g.dw, &numeric_grad(&w, |w| loss(&x, w, &b)), "dw");
            assert_grad_close(&g.db, &numeric_grad(&b, |b| loss(&x, &w, b)), "db");
        }
    }

    /// Random geometry from a seeded stream: sizes 1-3, kernels 1-4, stride 1-3, dilation 1-3,
    /// padding 0-2 per axis, and an input 0-4 larger than the smallest one that fits.
    fn random_case(rng: &mut ChaCha8Rng) -> Case {
        let mut axis = || {
            let k = rng.random_range(1..=4usize);
            let s = rng.random_range(1..=3usize);
            let d = rng.random_range(1..=3usize);
            let p = rng.random_range(0..=2usize);
            let span = d * (k - 1) + 1;
            let len = span.saturating_sub(2 * p).max(1) + rng.random_range(0..=4usize);
            (k, s, d, p, len)
        };
        let (kh, sh, dh, ph, h) = axis();
        let (kw, sw, dw, pw, w) = axis();
        Case {
            input: [rng.random_range(1..=3), rng.random_range(1..=3), h, w],
            out_channels: rng.random_range(1..=3),
            kernel: Hw::new(kh, kw),
            spec: Conv2dSpec {
                stride: Hw::new(sh, sw),
                padding: Hw::new(ph, pw),
                dilation: Hw::new(dh, dw),
            },
        }
    }

    #[test]
    fn random_geometries_match_direct_loops_and_finite_differences() {
        let mut rng = ChaCha8Rng::seed_from_u64(2024);
        for i in 0..25u64 {
            let Case {
                input: [n, c, h, wd],
                out_channels: o,
                kernel,
                spec,
            } = random_case(&mut rng);
            let ctx = format!("case {i}: x [{n},{c},{h},{wd}], o {o}, kernel {kernel:?}, {spec:?}");
            let out = conv2d_output_hw(Hw::new(h, wd), kernel, &spec).expect(&ctx);
            let x = random_array::<Ix4>(&[n, c, h, wd], 100 + i);
            let w = random_array::<Ix4>(&[o, c, kernel.h, kernel.w], 200 + i);
            let b = random_array::<Ix1>(&[o], 300 + i);
            let dy = random_array::<Ix4>(&[n, o, out.h, out.w], 400 + i);
            let y = conv2d_forward(x.view(), w.view(), Some(b.view()), &spec).unwrap();
            assert_all_close(&y, &conv2d_direct(&x, &w, &b, &spec), 1e-12, &ctx);
            let loss = |x: &Array4<f64>, w: &Array4<f64>| {
                (conv2d_forward(x.view(), w.view(), Some(b.view()), &spec).unwrap() * &dy).sum()
            };
            let g = conv2d_backward(dy.view(), x.view(), w.view(), &spec).unwrap();
            assert_grad_close(&g.dx, &numeric_grad(&x, |x| loss(x, &w)), &ctx);
            assert_grad_close(&g.dw, &numeric_grad(&w, |w| loss(&x, w)), &ctx);
        }
    }

    #[test]
    fn output_shape_formula() {
        let k3 = Hw::square(3);
        assert_eq!(
            conv2d_output_hw(Hw::new(28, 28), k3, &Conv2dSpec::square(1, 1, 1)).unwrap(),
            Hw::new(28, 28)
        );
        assert_eq!(
            conv2d_output_hw(Hw::new(28, 28), k3, &Conv2dSpec::default()).unwrap(),
            Hw::new(26, 26)
        );
        assert_eq!(
            conv2d_output_hw(Hw::new(32, 31), k3, &Conv2dSpec::square(2, 1, 1)).unwrap(),
            Hw::new(16, 16)
        );
        assert_eq!(
            conv2d_output_hw(Hw::new(10, 10), k3, &Conv2dSpec::square(1, 0, 2)).unwrap(),
            Hw::new(6, 6)
        );
        assert_eq!(
            conv2d_output_hw(
                Hw::new(224, 224),
                Hw::square(7),
                &Conv2dSpec::square(2, 3, 1)
            )
            .unwrap(),
            Hw::new(112, 112)
        );
        let x = Array4::<f32>::zeros((2, 3, 11, 9));
        let w = Array4::<f32>::zeros((5, 3, 3, 2));
        let y = conv2d_forward(x.view(), w.view(), None, &Conv2dSpec::square(2, 1, 1)).unwrap();
        assert_eq!(y.shape(), &[2, 5, 6, 5]);
    }

    #[test]
    fn bad_inputs_are_errors() {
        let x = Array4::<f32>::zeros((1, 3, 5, 5));
        let w = Array4::<f32>::zeros((2, 4, 3, 3));
        assert!(matches!(
            conv2d_forward(x.view(), w.view(), None, &Conv2dSpec::default()),
            Err(OpError::Shape { .. })
        ));
        let w = Array4::<f32>::zeros((2, 3, 6, 6));
        assert!(matches!(
            conv2d_forward(x.view(), w.view(), None, &Conv2dSpec::default()),
            Err(OpError::TooSmall { .. })
        ));
        let w = Array4::<f32>::zeros((2, 3, 3, 3));
        assert!(matches!(
            conv2d_forward(x.view(), w.view(), None, &Conv2dSpec::square(0, 0, 1)),
            Err(OpError::HyperParameter { name: "stride", .. })
        ));
        let b = Array1::<f32>::zeros(3);
        assert!(
            conv2d_forward(x.view(), w.view(), Some(b.view()), &Conv2dSpec::default()).is_err()
        );
        let dy = Array4::<f32>::zeros((1, 2, 4, 4));
        assert!(conv2d_backward(dy.view(), x.view(), w.view(), &Conv2dSpec::default()).is_err());
    }
}
