//! The convolution helper kernels against the reference ops, bit for bit (each kernel
//! performs the reference's operations in the reference's order), on seeded random
//! geometries, plus the chunking property: a kernel over samples `0..n` equals kernels
//! over consecutive sub-ranges.

use ammc::jit::JitModule;
use ammc::jit::conv::{
    ChannelBiasActKernel, ChannelBiasActSpec, ChannelSumKernel, ChannelSumSpec, Col2imKernel,
    ColumnSumKernel, ColumnSumSpec, Im2colKernel, Im2colSpec, ReluMaskKernel, ReluMaskSpec,
};
use ammc::runtime::reference::{
    Conv2dSpec, Hw, col2im, conv2d_backward, conv2d_forward, dense_backward, im2col, relu_backward,
    relu_forward, window_output_len,
};
use ndarray::{Array1, Array2, Array3, Array4, ArrayView1, ArrayView2, ArrayView4};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn random_vec(rng: &mut ChaCha8Rng, len: usize) -> Vec<f32> {
    (0..len).map(|_| rng.random_range(-1.0f32..1.0)).collect()
}

fn assert_bits(got: &[f32], want: &[f32], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            g.to_bits() == w.to_bits(),
            "{what}[{i}]: jit {g} vs reference {w}"
        );
    }
}

/// A random geometry: sizes 1..=12, kernel 1..=4, stride 1..=3, pad 0..=2, dilation 1..=2.
fn random_spec(rng: &mut ChaCha8Rng) -> Im2colSpec {
    Im2colSpec {
        channels: rng.random_range(1..=3),
        height: rng.random_range(1..=12),
        width: rng.random_range(1..=13),
        kernel: rng.random_range(1..=4),
        stride: rng.random_range(1..=3),
        pad: rng.random_range(0..=2),
        dilation: rng.random_range(1..=2),
        samples: rng.random_range(1..=3),
    }
}

fn conv_spec(s: &Im2colSpec) -> Conv2dSpec {
    Conv2dSpec::square(s.stride, s.pad, s.dilation)
}

/// Reference im2col of every sample, concatenated.
fn reference_im2col(s: &Im2colSpec, x: &[f32]) -> Vec<f32> {
    let x = ArrayView4::from_shape((s.samples, s.channels, s.height, s.width), x).unwrap();
    let out = Hw::new(s.out_h(), s.out_w());
    let mut all = Vec::new();
    for n in 0..s.samples {
        let cols = im2col(
            x.index_axis(ndarray::Axis(0), n),
            Hw::square(s.kernel),
            &conv_spec(s),
            out,
        );
        all.extend(cols.iter().copied());
    }
    all
}

fn reference_col2im(s: &Im2colSpec, dcol: &[f32]) -> Vec<f32> {
    let out = Hw::new(s.out_h(), s.out_w());
    let per = s.rows() * s.cols();
    let mut all = Vec::new();
    for n in 0..s.samples {
        let c =
            ArrayView2::from_shape((s.rows(), s.cols()), &dcol[n * per..(n + 1) * per]).unwrap();
        let img: Array3<f32> = col2im(
            c,
            s.channels,
            Hw::new(s.height, s.width),
            Hw::square(s.kernel),
            &conv_spec(s),
            out,
        );
        all.extend(img.iter().copied());
    }
    all
}

#[test]
fn im2col_and_col2im_match_reference_on_random_geometries() {
    let mut jit = JitModule::new().unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(41);
    let (mut tested, mut rejected) = (0, 0);
    // Fixed cases first: LeNet's layers, stride 2 with long rows (vector gather), pad 2.
    let mut specs = vec![
        Im2colSpec {
            channels: 1,
            height: 28,
            width: 28,
            kernel: 5,
            stride: 1,
            pad: 2,
            dilation: 1,
            samples: 2,
        },
        Im2colSpec {
            channels: 6,
            height: 14,
            width: 14,
            kernel: 5,
            stride: 1,
            pad: 0,
            dilation: 1,
            samples: 1,
        },
        Im2colSpec {
            channels: 2,
            height: 9,
            width: 37,
            kernel: 3,
            stride: 2,
            pad: 1,
            dilation: 2,
            samples: 2,
        },
    ];
    specs.extend((0..150).map(|_| random_spec(&mut rng)));
    for (case, s) in specs.into_iter().enumerate() {
        let fits = window_output_len(s.height, s.kernel, s.stride, s.pad, s.dilation).is_some()
            && window_output_len(s.width, s.kernel, s.stride, s.pad, s.dilation).is_some();
        let fwd = Im2colKernel::compile(&mut jit, s);
        let bwd = Col2imKernel::compile(&mut jit, s);
        if !fits {
            assert!(
                fwd.is_err() && bwd.is_err(),
                "case {case}: {s:?} should not fit"
            );
            rejected += 1;
            continue;
        }
        let (fwd, bwd) = (fwd.unwrap(), bwd.unwrap());
        let x = random_vec(&mut rng, s.x_len());
        // NaN fill: every element must be written.
        let mut col = vec![f32::NAN; s.col_len()];
        fwd.run(&x, &mut col).unwrap();
        assert_bits(
            &col,
            &reference_im2col(&s, &x),
            &format!("im2col {case} {s:?}"),
        );

        let dcol = random_vec(&mut rng, s.col_len());
        let mut dx = vec![f32::NAN; s.x_len()];
        bwd.run(&dcol, &mut dx).unwrap();
        assert_bits(
            &dx,
            &reference_col2im(&s, &dcol),
            &format!("col2im {case} {s:?}"),
        );
        tested += 1;
    }
    assert!(
        tested >= 100 && rejected > 0,
        "{tested} tested, {rejected} rejected"
    );
}

#[test]
fn im2col_and_col2im_are_chunk_invariant() {
    let mut jit = JitModule::new().unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(42);
    let mut done = 0;
    while done < 12 {
        let s = Im2colSpec {
            samples: 5,
            ..random_spec(&mut rng)
        };
        let Ok(whole) = Im2colKernel::compile(&mut jit, s) else {
            continue;
        };
        let whole_b = Col2imKernel::compile(&mut jit, s).unwrap();
        let x = random_vec(&mut rng, s.x_len());
        let dcol = random_vec(&mut rng, s.col_len());
        let (mut col, mut dx) = (vec![0.0; s.col_len()], vec![0.0; s.x_len()]);
        whole.run(&x, &mut col).unwrap();
        whole_b.run(&dcol, &mut dx).unwrap();
        let (xs, cs) = (s.x_len() / 5, s.col_len() / 5);
        let (mut col2, mut dx2) = (vec![0.0; s.col_len()], vec![0.0; s.x_len()]);
        let mut start = 0;
        for chunk in [2, 1, 2] {
            let cs_spec = Im2colSpec {
                samples: chunk,
                ..s
            };
            let f = Im2colKernel::compile(&mut jit, cs_spec).unwrap();
            let g = Col2imKernel::compile(&mut jit, cs_spec).unwrap();
            let (x0, c0) = (start * xs, start * cs);
            f.run(&x[x0..x0 + chunk * xs], &mut col2[c0..c0 + chunk * cs])
                .unwrap();
            g.run(&dcol[c0..c0 + chunk * cs], &mut dx2[x0..x0 + chunk * xs])
                .unwrap();
            start += chunk;
        }
        assert_bits(&col2, &col, "chunked im2col");
        assert_bits(&dx2, &dx, "chunked col2im");
        done += 1;
    }
}

#[test]
fn channel_bias_act_matches_conv_bias_and_relu() {
    let mut jit = JitModule::new().unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(43);
    for case in 0..40 {
        let (n, c, o) = (
            rng.random_range(1..=3),
            rng.random_range(1..=2),
            rng.random_range(1..=5),
        );
        let (h, w, k) = (
            rng.random_range(3..=9),
            rng.random_range(3..=9),
            rng.random_range(1..=3),
        );
        let relu = case % 2 == 0;
        let x = Array4::from_shape_vec((n, c, h, w), random_vec(&mut rng, n * c * h * w)).unwrap();
        let wt = Array4::from_shape_vec((o, c, k, k), random_vec(&mut rng, o * c * k * k)).unwrap();
        let b = Array1::from(random_vec(&mut rng, o));
        let spec = Conv2dSpec::default();
        let mut want = conv2d_forward(x.view(), wt.view(), Some(b.view()), &spec).unwrap();
        if relu {
            want = relu_forward(want.view());
        }
        let mut y: Vec<f32> = conv2d_forward(x.view(), wt.view(), None, &spec)
            .unwrap()
            .iter()
            .copied()
            .collect();
        let plane = (h - k + 1) * (w - k + 1);
        let kern = ChannelBiasActKernel::compile(
            &mut jit,
            ChannelBiasActSpec {
                samples: n,
                channels: o,
                plane,
                relu,
            },
        )
        .unwrap();
        kern.run(b.as_slice().unwrap(), &mut y).unwrap();
        let want: Vec<f32> = want.iter().copied().collect();
        assert_bits(&y, &want, &format!("bias act case {case}"));
    }
}

#[test]
fn channel_sum_matches_conv_db_and_is_chunk_invariant() {
    let mut jit = JitModule::new().unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(44);
    // Plane sizes around the 8-wide unrolled fold: 1, 7, 8, 9, 16, 17, 28 …
    let sizes = [1, 2, 7, 8, 9, 15, 16, 17, 24, 28];
    for case in 0..60 {
        let (n, o) = (rng.random_range(1..=4), rng.random_range(1..=5));
        let oh = sizes[rng.random_range(0..sizes.len())];
        let ow = sizes[rng.random_range(0..sizes.len())];
        // A 1×1 convolution over a 1-channel input: dy has the plane we want.
        let x = Array4::from_shape_vec((n, 1, oh, ow), random_vec(&mut rng, n * oh * ow)).unwrap();
        let wt = Array4::from_shape_vec((o, 1, 1, 1), random_vec(&mut rng, o)).unwrap();
        let dy_v = random_vec(&mut rng, n * o * oh * ow);
        let dy = ArrayView4::from_shape((n, o, oh, ow), &dy_v).unwrap();
        let want = conv2d_backward(dy, x.view(), wt.view(), &Conv2dSpec::default())
            .unwrap()
            .db;
        let spec = ChannelSumSpec {
            samples: n,
            channels: o,
            height: oh,
            width: ow,
            accumulate: false,
        };
        let kern = ChannelSumKernel::compile(&mut jit, spec).unwrap();
        let mut db = vec![f32::NAN; o];
        kern.run(&dy_v, &mut db).unwrap();
        let want: Vec<f32> = want.iter().copied().collect();
        assert_bits(&db, &want, &format!("channel sum case {case} {spec:?}"));

        // Chunks in sample order: the first overwrites, the rest accumulate.
        let per = o * oh * ow;
        let mut db2 = vec![f32::NAN; o];
        let mut start = 0;
        while start < n {
            let chunk = rng.random_range(1..=n - start);
            let k = ChannelSumKernel::compile(
                &mut jit,
                ChannelSumSpec {
                    samples: chunk,
                    accumulate: start > 0,
                    ..spec
                },
            )
            .unwrap();
            k.run(&dy_v[start * per..(start + chunk) * per], &mut db2)
                .unwrap();
            start += chunk;
        }
        assert_bits(&db2, &db, &format!("chunked channel sum case {case}"));
    }
}

#[test]
fn relu_mask_matches_reference() {
    let mut jit = JitModule::new().unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(45);
    for len in [1, 3, 4, 5, 8, 31, 64, 1001] {
        let y: Vec<f32> = relu_forward(ArrayView1::from(&random_vec(&mut rng, len)[..]))
            .iter()
            .enumerate()
            .map(|(i, &v)| if i % 7 == 3 { f32::NAN } else { v })
            .collect();
        let dy = random_vec(&mut rng, len);
        let want = relu_backward(ArrayView1::from(&dy[..]), ArrayView1::from(&y[..])).unwrap();
        let k = ReluMaskKernel::compile(&mut jit, ReluMaskSpec { len }).unwrap();
        let mut got = dy.clone();
        k.run(&y, &mut got).unwrap();
        assert_bits(&got, want.as_slice().unwrap(), "relu mask");
    }
}

#[test]
fn column_sum_matches_dense_db_and_is_chunk_invariant() {
    let mut jit = JitModule::new().unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(46);
    for case in 0..80 {
        let rows = rng.random_range(1..=20);
        let cols = [1, 2, 3, 4, 5, 7, 8, 12, 15, 16, 17, 33, 64, 70, 120][case % 15];
        let dy_v = random_vec(&mut rng, rows * cols);
        let x = Array2::from_shape_vec((rows, 2), random_vec(&mut rng, rows * 2)).unwrap();
        let w = Array2::from_shape_vec((cols, 2), random_vec(&mut rng, cols * 2)).unwrap();
        let dy = ArrayView2::from_shape((rows, cols), &dy_v).unwrap();
        let want = dense_backward(dy, x.view(), w.view()).unwrap().db;
        let spec = ColumnSumSpec {
            rows,
            cols,
            accumulate: false,
        };
        let k = ColumnSumKernel::compile(&mut jit, spec).unwrap();
        let mut db = vec![f32::NAN; cols];
        k.run(&dy_v, &mut db).unwrap();
        assert_bits(
            &db,
            want.as_slice().unwrap(),
            &format!("column sum {spec:?}"),
        );

        let mut db2 = vec![f32::NAN; cols];
        let mut start = 0;
        while start < rows {
            let chunk = rng.random_range(1..=rows - start);
            let k = ColumnSumKernel::compile(
                &mut jit,
                ColumnSumSpec {
                    rows: chunk,
                    cols,
                    accumulate: start > 0,
                },
            )
            .unwrap();
            k.run(&dy_v[start * cols..(start + chunk) * cols], &mut db2)
                .unwrap();
            start += chunk;
        }
        assert_bits(&db2, &db, &format!("chunked column sum {spec:?}"));
    }
}

#[test]
fn bad_specs_and_buffers_are_errors() {
    let mut jit = JitModule::new().unwrap();
    let s = Im2colSpec {
        channels: 1,
        height: 4,
        width: 4,
        kernel: 3,
        stride: 1,
        pad: 0,
        dilation: 1,
        samples: 1,
    };
    assert!(Im2colKernel::compile(&mut jit, Im2colSpec { kernel: 0, ..s }).is_err());
    assert!(Im2colKernel::compile(&mut jit, Im2colSpec { samples: 0, ..s }).is_err());
    assert!(Im2colKernel::compile(&mut jit, Im2colSpec { kernel: 5, ..s }).is_err());
    assert!(
        Col2imKernel::compile(
            &mut jit,
            Im2colSpec {
                channels: usize::MAX,
                ..s
            }
        )
        .is_err()
    );
    let k = Im2colKernel::compile(&mut jit, s).unwrap();
    assert_eq!((s.rows(), s.cols(), s.out_h(), s.out_w()), (9, 4, 2, 2));
    let mut col = vec![0.0; 35];
    assert!(k.run(&[0.0; 16], &mut col).is_err());
    let mut col = vec![0.0; 36];
    assert!(k.run(&[0.0; 15], &mut col).is_err());
    assert!(k.run(&[0.0; 16], &mut col).is_ok());
    assert!(
        ChannelSumKernel::compile(
            &mut jit,
            ChannelSumSpec {
                samples: 1,
                channels: 0,
                height: 1,
                width: 1,
                accumulate: false
            }
        )
        .is_err()
    );
    assert!(
        ColumnSumKernel::compile(
            &mut jit,
            ColumnSumSpec {
                rows: usize::MAX,
                cols: 3,
                accumulate: false
            }
        )
        .is_err()
    );
    assert!(ReluMaskKernel::compile(&mut jit, ReluMaskSpec { len: 0 }).is_err());
}

/// The executor shares compiled kernels between worker threads.
#[test]
fn kernels_are_send_and_sync() {
    fn check<T: Send + Sync + Clone>() {}
    check::<Im2colKernel>();
    check::<Col2imKernel>();
    check::<ChannelBiasActKernel>();
    check::<ChannelSumKernel>();
    check::<ReluMaskKernel>();
    check::<ColumnSumKernel>();
    check::<ammc::jit::pool::MaxPoolKernel>();
    check::<ammc::jit::pool::MaxPoolBackwardKernel>();
    check::<ammc::jit::pool::AvgPoolKernel>();
    check::<ammc::jit::pool::AvgPoolBackwardKernel>();
    check::<ammc::jit::pool::GlobalAvgPoolKernel>();
    check::<ammc::jit::pool::GlobalAvgPoolBackwardKernel>();
    check::<ammc::jit::loss::CrossEntropyKernel>();
    check::<ammc::jit::loss::RegressionLossKernel>();
    check::<ammc::jit::loss::LossMeanKernel>();
    check::<ammc::jit::sgd::SgdKernel>();
    check::<ammc::jit::elementwise::ElementwiseKernel>();
}
