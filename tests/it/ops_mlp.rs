//! End-to-end sanity checks: the reference ops composed into small networks.

use ammc::runtime::reference::*;
use ndarray::{Array1, Array2, Array4, Ix4};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// XOR-style quadrants: class 1 iff x*y > 0. Not linearly separable, so the hidden layer matters.
/// Points closer than 0.1 to an axis are skipped to keep a margin.
fn quadrant_data(n: usize, seed: u64) -> (Array2<f32>, Vec<usize>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut xs = Vec::new();
    let mut labels = Vec::new();
    while labels.len() < n {
        let a = rng.random::<f32>() * 2.0 - 1.0;
        let b = rng.random::<f32>() * 2.0 - 1.0;
        if a.abs() < 0.1 || b.abs() < 0.1 {
            continue;
        }
        xs.extend_from_slice(&[a, b]);
        labels.push(usize::from(a * b > 0.0));
    }
    (Array2::from_shape_vec((n, 2), xs).unwrap(), labels)
}

struct Mlp {
    l1: DenseParams<f32>,
    l2: DenseParams<f32>,
}

/// Full-batch training of dense(2→16) relu dense(16→2) with Adam; returns (loss history, model).
fn train_mlp(steps: usize, seed: u64) -> (Vec<f32>, Mlp) {
    let (x, labels) = quadrant_data(64, seed);
    let mut rng = ChaCha8Rng::seed_from_u64(seed + 1);
    let mut m = Mlp {
        l1: init_dense(2, 16, &mut rng).unwrap(),
        l2: init_dense(16, 2, &mut rng).unwrap(),
    };
    let cfg = AdamConfig {
        lr: 0.02,
        ..AdamConfig::adam()
    };
    let sched = LrSchedule::new(
        cfg.lr,
        LrDecay::Cosine {
            t_max: steps as u64,
            eta_min: 1e-4,
        },
    )
    .unwrap()
    .with_warmup(10);
    let mut states: Vec<AdamState<f32>> = [m.l1.w.len(), m.l1.b.len(), m.l2.w.len(), m.l2.b.len()]
        .into_iter()
        .map(AdamState::new)
        .collect();
    let mut losses = Vec::new();
    for t in 0..steps {
        let h_pre = dense_forward(x.view(), m.l1.w.view(), Some(m.l1.b.view())).unwrap();
        let h = relu_forward(h_pre.view());
        let z = dense_forward(h.view(), m.l2.w.view(), Some(m.l2.b.view())).unwrap();
        let ce = softmax_cross_entropy_forward(z.view(), &labels, 0.0).unwrap();
        losses.push(ce.loss);
        let dz = softmax_cross_entropy_backward(ce.probs.view(), &labels, 0.0, 1.0).unwrap();
        let g2 = dense_backward(dz.view(), h.view(), m.l2.w.view()).unwrap();
        let dh_pre = relu_backward(g2.dx.view(), h_pre.view()).unwrap();
        let g1 = dense_backward(dh_pre.view(), x.view(), m.l1.w.view()).unwrap();
        let (mut dw1, mut db1, mut dw2, mut db2) = (g1.dw, g1.db, g2.dw, g2.db);
        clip_grad_norm(
            &mut [
                dw1.as_slice_mut().unwrap(),
                db1.as_slice_mut().unwrap(),
                dw2.as_slice_mut().unwrap(),
                db2.as_slice_mut().unwrap(),
            ],
            5.0,
        )
        .unwrap();
        let step_cfg = AdamConfig {
            lr: sched.lr_at(t as u64),
            ..cfg
        };
        let params = [
            m.l1.w.as_slice_mut().unwrap(),
            m.l1.b.as_slice_mut().unwrap(),
            m.l2.w.as_slice_mut().unwrap(),
            m.l2.b.as_slice_mut().unwrap(),
        ];
        let grads = [
            dw1.as_slice().unwrap(),
            db1.as_slice().unwrap(),
            dw2.as_slice().unwrap(),
            db2.as_slice().unwrap(),
        ];
        for ((p, g), s) in params.into_iter().zip(grads).zip(states.iter_mut()) {
            adam_step(p, g, s, &step_cfg).unwrap();
        }
    }
    (losses, m)
}

#[test]
fn two_layer_mlp_learns_quadrants() {
    let (losses, m) = train_mlp(400, 3);
    let first = losses[0];
    let last = *losses.last().unwrap();
    assert!(first > 0.5, "initial loss {first} should be near ln 2");
    assert!(last < 0.05, "final loss {last} (first {first})");
    // Generalises to fresh points from the same distribution.
    let (x, labels) = quadrant_data(200, 99);
    let h = relu_forward(
        dense_forward(x.view(), m.l1.w.view(), Some(m.l1.b.view()))
            .unwrap()
            .view(),
    );
    let z = dense_forward(h.view(), m.l2.w.view(), Some(m.l2.b.view())).unwrap();
    let acc = accuracy(z.view(), &labels).unwrap();
    eprintln!("mlp: loss {first} -> {last}, held-out accuracy {acc}");
    assert!(acc > 0.9, "held-out accuracy {acc}");
}

#[test]
fn training_is_bit_for_bit_deterministic() {
    let (la, a) = train_mlp(30, 5);
    let (lb, b) = train_mlp(30, 5);
    assert_eq!(la, lb);
    assert_eq!(a.l1.w, b.l1.w);
    assert_eq!(a.l2.b, b.l2.b);
}

/// A small CNN in f64: conv → batchnorm → relu → maxpool → conv → gelu → avgpool →
/// global_avgpool → dropout → dense → softmax cross-entropy. Checks the chained backward pass
/// against finite differences of the whole network's loss.
struct Cnn {
    c1: Conv2dParams<f64>,
    bn: BatchNormParams<f64>,
    c2: Conv2dParams<f64>,
    fc: DenseParams<f64>,
}

const LABELS: [usize; 2] = [2, 0];
const DROP: f64 = 0.25;

fn cnn_loss(net: &Cnn, x: &Array4<f64>, mask: &ndarray::Array2<bool>) -> f64 {
    let s1 = Conv2dSpec::square(1, 1, 1);
    let s2 = Conv2dSpec::square(2, 1, 2);
    let y1 = conv2d_forward(x.view(), net.c1.w.view(), Some(net.c1.b.view()), &s1).unwrap();
    let mut running = BatchNormRunning::new(3);
    let bn = batchnorm_forward_train(
        y1.into_dyn().view(),
        net.bn.gamma.view(),
        net.bn.beta.view(),
        &mut running,
        &BatchNormSpec::default(),
    )
    .unwrap();
    let r = relu_forward(bn.y.view())
        .into_dimensionality::<Ix4>()
        .unwrap();
    let p = maxpool2d_forward(r.view(), &Pool2dSpec::new(2)).unwrap();
    let y2 = conv2d_forward(p.y.view(), net.c2.w.view(), Some(net.c2.b.view()), &s2).unwrap();
    let g = gelu_forward(y2.view());
    let a = avgpool2d_forward(
        g.view(),
        &Pool2dSpec::new(2).with_stride(1).with_padding(1),
        AvgPoolDivisor::ExcludePadding,
    )
    .unwrap();
    let gp = global_avgpool_forward(a.view()).unwrap();
    let d = dropout_forward(gp.view(), mask.view(), DROP).unwrap();
    let z = dense_forward(d.view(), net.fc.w.view(), Some(net.fc.b.view())).unwrap();
    softmax_cross_entropy_forward(z.view(), &LABELS, 0.1)
        .unwrap()
        .loss
}

/// Gradients of `cnn_loss` w.r.t. the input and the first conv's weight, by the chain rule.
fn cnn_grads(
    net: &Cnn,
    x: &Array4<f64>,
    mask: &ndarray::Array2<bool>,
) -> (Array4<f64>, Array4<f64>) {
    let s1 = Conv2dSpec::square(1, 1, 1);
    let s2 = Conv2dSpec::square(2, 1, 2);
    let pool2 = Pool2dSpec::new(2).with_stride(1).with_padding(1);
    let y1 = conv2d_forward(x.view(), net.c1.w.view(), Some(net.c1.b.view()), &s1).unwrap();
    let mut running = BatchNormRunning::new(3);
    let bn = batchnorm_forward_train(
        y1.clone().into_dyn().view(),
        net.bn.gamma.view(),
        net.bn.beta.view(),
        &mut running,
        &BatchNormSpec::default(),
    )
    .unwrap();
    let bn_y = bn.y.clone().into_dimensionality::<Ix4>().unwrap();
    let r = relu_forward(bn_y.view());
    let p = maxpool2d_forward(r.view(), &Pool2dSpec::new(2)).unwrap();
    let y2 = conv2d_forward(p.y.view(), net.c2.w.view(), Some(net.c2.b.view()), &s2).unwrap();
    let g = gelu_forward(y2.view());
    let a = avgpool2d_forward(g.view(), &pool2, AvgPoolDivisor::ExcludePadding).unwrap();
    let gp = global_avgpool_forward(a.view()).unwrap();
    let d = dropout_forward(gp.view(), mask.view(), DROP).unwrap();
    let z = dense_forward(d.view(), net.fc.w.view(), Some(net.fc.b.view())).unwrap();
    let ce = softmax_cross_entropy_forward(z.view(), &LABELS, 0.1).unwrap();

    let dz = softmax_cross_entropy_backward(ce.probs.view(), &LABELS, 0.1, 1.0).unwrap();
    let dd = dense_backward(dz.view(), d.view(), net.fc.w.view())
        .unwrap()
        .dx;
    let dgp = dropout_backward(dd.view(), mask.view(), DROP).unwrap();
    let da = global_avgpool_backward(dgp.view(), Hw::new(a.shape()[2], a.shape()[3])).unwrap();
    let dg = avgpool2d_backward(
        da.view(),
        Hw::new(g.shape()[2], g.shape()[3]),
        &pool2,
        AvgPoolDivisor::ExcludePadding,
    )
    .unwrap();
    let dy2 = gelu_backward(dg.view(), y2.view()).unwrap();
    let dp = conv2d_backward(dy2.view(), p.y.view(), net.c2.w.view(), &s2)
        .unwrap()
        .dx;
    let dr = maxpool2d_backward(
        dp.view(),
        p.argmax.view(),
        Hw::new(r.shape()[2], r.shape()[3]),
    )
    .unwrap();
    let dbn = relu_backward(dr.view(), bn_y.view()).unwrap();
    let dy1 = batchnorm_backward(dbn.into_dyn().view(), net.bn.gamma.view(), &bn.saved)
        .unwrap()
        .dx;
    let dy1 = dy1.into_dimensionality::<Ix4>().unwrap();
    let g1 = conv2d_backward(dy1.view(), x.view(), net.c1.w.view(), &s1).unwrap();
    (g1.dx, g1.dw)
}

fn numeric<D: ndarray::Dimension>(
    a: &ndarray::Array<f64, D>,
    mut f: impl FnMut(&ndarray::Array<f64, D>) -> f64,
) -> ndarray::Array<f64, D> {
    let h = 1e-5;
    let mut probe = a.clone();
    let mut out = ndarray::Array::zeros(a.raw_dim());
    for i in 0..a.len() {
        let orig = a.as_slice().unwrap()[i];
        probe.as_slice_mut().unwrap()[i] = orig + h;
        let up = f(&probe);
        probe.as_slice_mut().unwrap()[i] = orig - h;
        let down = f(&probe);
        probe.as_slice_mut().unwrap()[i] = orig;
        out.as_slice_mut().unwrap()[i] = (up - down) / (2.0 * h);
    }
    out
}

#[test]
fn small_cnn_chain_rule_matches_finite_differences() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let mut net = Cnn {
        c1: init_conv2d(2, 3, Hw::square(3), &mut rng).unwrap(),
        bn: init_batchnorm(3),
        c2: init_conv2d(3, 4, Hw::square(3), &mut rng).unwrap(),
        fc: init_dense(4, 3, &mut rng).unwrap(),
    };
    net.bn.gamma = Array1::from(vec![1.2, 0.8, 1.5]);
    net.bn.beta = Array1::from(vec![0.1, -0.2, 0.3]);
    let x = uniform_array::<f64>(&[2, 2, 9, 8], 1.0, &mut rng)
        .into_dimensionality::<Ix4>()
        .unwrap();
    let mask = dropout_mask(&[2, 4], DROP, &mut rng)
        .unwrap()
        .into_dimensionality()
        .unwrap();
    let (dx, dw1) = cnn_grads(&net, &x, &mask);
    let num_dx = numeric(&x, |x| cnn_loss(&net, x, &mask));
    let w0 = net.c1.w.clone();
    let num_dw1 = numeric(&w0, |w| {
        net.c1.w.assign(w);
        cnn_loss(&net, &x, &mask)
    });
    for (what, a, n) in [
        ("dx", dx.into_dyn(), num_dx.into_dyn()),
        ("dw1", dw1.into_dyn(), num_dw1.into_dyn()),
    ] {
        let scale = n.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        assert!(scale > 1e-6, "{what}: gradient should not vanish");
        for (i, (av, nv)) in a.iter().zip(n.iter()).enumerate() {
            assert!(
                (av - nv).abs() <= 1e-6 * scale + 1e-9,
                "{what}[{i}]: {av} vs {nv}"
            );
        }
    }
}
