//! GFLOP/s of JIT-compiled GEMM kernels vs ndarray (`general_mat_mul`, one
//! thread, matrixmultiply underneath) and vs `host_sgemm` (matrixmultiply
//! called directly with the same contract), plus compile time per kernel.
//!
//! Run: `cargo bench --bench jit_gemm` (set `JIT_GEMM_QUICK=1` for a short
//! run, `JIT_GEMM_FILTER=substring` to select shapes, `JIT_GEMM_OPT=speed`
//! for Cranelift's optimiser, `JIT_GEMM_DISASM=1` to print the code).

use std::hint::black_box;
use std::time::{Duration, Instant};

use ammc::jit::host_sgemm::host_sgemm;
use ammc::jit::{
    Activation, GemmArgs, GemmKernel, GemmSpec, GemmTuning, GemmWorkspace, JitOptions, OptLevel,
    Transpose, compile_gemms,
};
use ndarray::linalg::general_mat_mul;
use ndarray::{Array2, ArrayView2, ShapeBuilder};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

struct Case {
    label: &'static str,
    spec: GemmSpec,
}

fn cases() -> Vec<Case> {
    use Transpose::{No, Yes};
    let nn = |m, k, n| GemmSpec::new(m, k, n);
    let nt = |m, k, n| GemmSpec::new(m, k, n).with_transpose(No, Yes);
    let tn = |m, k, n| GemmSpec::new(m, k, n).with_transpose(Yes, No);
    vec![
        Case {
            label: "square",
            spec: nn(64, 64, 64),
        },
        Case {
            label: "square",
            spec: nn(128, 128, 128),
        },
        Case {
            label: "square",
            spec: nn(256, 256, 256),
        },
        Case {
            label: "square",
            spec: nn(384, 384, 384),
        },
        Case {
            label: "square",
            spec: nn(512, 512, 512),
        },
        Case {
            label: "fc1 fwd X·Wᵀ",
            spec: nt(64, 400, 120),
        },
        Case {
            label: "fc1 NN",
            spec: nn(64, 400, 120),
        },
        Case {
            label: "fc1 dX=dY·W",
            spec: nn(64, 120, 400),
        },
        Case {
            label: "fc1 dW=dYᵀ·X",
            spec: tn(120, 64, 400),
        },
        Case {
            label: "mlp fwd",
            spec: nt(64, 64, 128),
        },
        Case {
            label: "mlp fwd",
            spec: nt(32, 64, 128),
        },
        Case {
            label: "mlp fwd",
            spec: nt(32, 128, 64),
        },
        Case {
            label: "mlp dW",
            spec: tn(128, 32, 64),
        },
        Case {
            label: "fc1 +b+relu",
            spec: nt(64, 400, 120).with_epilogue(true, Activation::Relu),
        },
        Case {
            label: "conv1 im2col",
            spec: nt(64 * 24 * 24, 25, 6),
        },
        Case {
            label: "conv1 +b+relu",
            spec: nt(64 * 24 * 24, 25, 6).with_epilogue(true, Activation::Relu),
        },
        Case {
            label: "conv2 im2col",
            spec: nt(64 * 8 * 8, 150, 16),
        },
        Case {
            label: "conv2 dW",
            spec: tn(16, 64 * 8 * 8, 150),
        },
        Case {
            label: "conv2 dX",
            spec: nn(64 * 8 * 8, 16, 150),
        },
    ]
}

/// CPU time consumed by this thread (`CLOCK_THREAD_CPUTIME_ID`), or `None`
/// if the clock is unavailable.
fn thread_cpu_time() -> Option<Duration> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the call only writes it.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    (rc == 0).then(|| Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
}

/// Per-call time of each function, measured in interleaved rounds
/// (round-robin, 7 rounds of ~`budget/7` each) so that slow phases of a
/// shared machine hit all contenders alike. Two estimates are kept and the
/// smaller one is reported: the fastest single call by wall clock (robust
/// for short calls) and the thread's CPU time per call over a round (robust
/// for calls longer than a scheduler time slice, which on a loaded machine
/// are almost never left unpreempted).
fn time_interleaved(budget: Duration, fs: &mut [&mut dyn FnMut()]) -> Vec<Duration> {
    let rounds = 7;
    let per_batch: Vec<u32> = fs
        .iter_mut()
        .map(|f| {
            f(); // warm caches and lazily allocated workspaces
            let start = Instant::now();
            f();
            let one = start.elapsed().max(Duration::from_nanos(50));
            ((budget.as_secs_f64() / rounds as f64) / one.as_secs_f64()).clamp(1.0, 1e6) as u32
        })
        .collect();
    let mut best = vec![Duration::MAX; fs.len()];
    for _ in 0..rounds {
        for ((f, &n), best) in fs.iter_mut().zip(&per_batch).zip(&mut best) {
            let cpu_start = thread_cpu_time();
            for _ in 0..n {
                let t = Instant::now();
                f();
                *best = (*best).min(t.elapsed());
            }
            if let (Some(start), Some(end)) = (cpu_start, thread_cpu_time()) {
                *best = (*best).min((end - start) / n);
            }
        }
    }
    best
}

fn gflops(spec: &GemmSpec, t: Duration) -> f64 {
    spec.flops() as f64 / t.as_secs_f64() / 1e9
}

/// Stored operand as an ndarray view with the logical (op) shape.
fn op_view(data: &[f32], rows: usize, cols: usize, trans: Transpose) -> ArrayView2<'_, f32> {
    match trans {
        Transpose::No => ArrayView2::from_shape((rows, cols), data).unwrap(),
        Transpose::Yes => ArrayView2::from_shape((rows, cols).f(), data).unwrap(),
    }
}

fn cpu_name() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into())
}

/// Default tuning, overridable through `JIT_GEMM_{MR,NR,UNROLL,KC,MC,PB_KIB,PACK_MIN_M,SERP,BPF}`
/// environment variables for exploring the design space.
fn tuning_from_env() -> GemmTuning {
    let get = |name: &str| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
    };
    let mut t = GemmTuning::default();
    if let Some(v) = get("JIT_GEMM_MR") {
        t.mr = v;
    }
    if let Some(v) = get("JIT_GEMM_NR") {
        t.nr = v;
    }
    if let Some(v) = get("JIT_GEMM_UNROLL") {
        t.k_unroll = v;
    }
    if let Some(v) = get("JIT_GEMM_KC") {
        t.kc_max = v;
    }
    if let Some(v) = get("JIT_GEMM_PB_KIB") {
        t.packed_b_max_bytes = v * 1024;
    }
    if let Some(v) = get("JIT_GEMM_PACK_MIN_M") {
        t.pack_b_min_m = v;
    }
    if let Some(v) = get("JIT_GEMM_MC") {
        t.mc = v;
    }
    if let Some(v) = get("JIT_GEMM_SERP") {
        t.serpentine = v != 0;
    }
    if let Some(v) = get("JIT_GEMM_BPF") {
        t.broadcast_per_fma = v != 0;
    }
    t
}

fn main() {
    let quick = std::env::var_os("JIT_GEMM_QUICK").is_some();
    let filter = std::env::var("JIT_GEMM_FILTER").ok();
    let budget = Duration::from_millis(if quick { 150 } else { 600 });
    let tuning = tuning_from_env();
    println!(
        "CPU: {}; one thread; GFLOP/s = 2·M·N·K / min(fastest call, CPU time per call)",
        cpu_name()
    );
    println!("{tuning:?}");
    println!(
        "{:<14} {:>2} {:>16} {:>7} {:>7} {:>6} {:>7} {:>6} {:>9} {:>6}",
        "case", "op", "M×K×N", "jit", "ndarray", "ratio", "mm", "ratio", "compile", "code"
    );
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut ws = GemmWorkspace::new();
    let options = JitOptions {
        verify: false,
        keep_disassembly: std::env::var_os("JIT_GEMM_DISASM").is_some(),
        opt_level: if std::env::var("JIT_GEMM_OPT").is_ok_and(|v| v == "speed") {
            OptLevel::Speed
        } else {
            OptLevel::None
        },
        ..JitOptions::default()
    };
    for case in cases() {
        let spec = case.spec;
        if let Some(f) = &filter
            && !format!("{} {}", case.label, spec).contains(f.as_str())
        {
            continue;
        }
        let t0 = Instant::now();
        let kernel: GemmKernel = compile_gemms(&[spec], tuning, options)
            .unwrap()
            .pop()
            .unwrap();
        let compile_ms = t0.elapsed().as_secs_f64() * 1e3;
        if let Some(text) = &kernel.info().disassembly {
            println!("{text}");
        }

        let a: Vec<f32> = (0..spec.a_len())
            .map(|_| rng.random_range(-1.0..1.0))
            .collect();
        let b: Vec<f32> = (0..spec.b_len())
            .map(|_| rng.random_range(-1.0..1.0))
            .collect();
        let mut c = vec![0.0f32; spec.c_len()];

        let av = op_view(&a, spec.m, spec.k, spec.trans_a);
        let bv = op_view(&b, spec.k, spec.n, spec.trans_b);
        let mut cn = Array2::<f32>::zeros((spec.m, spec.n));
        let mut cm = vec![0.0f32; spec.c_len()];
        let bias: Vec<f32> = (0..spec.n).map(|_| rng.random_range(-1.0..1.0)).collect();
        let bias_arg = spec.bias.then_some(bias.as_slice());
        let bias_row = ndarray::ArrayView1::from(&bias[..]);
        let mut jit = || {
            let args = GemmArgs {
                a: black_box(&a),
                b: black_box(&b),
                bias: bias_arg,
                c: &mut c,
            };
            kernel.run(&mut ws, args).unwrap();
        };
        // ndarray has no fused epilogue: bias and ReLU are separate passes.
        let mut nd = || {
            general_mat_mul(1.0, black_box(&av), black_box(&bv), 0.0, &mut cn);
            if spec.bias {
                cn += &bias_row;
            }
            if spec.activation == Activation::Relu {
                cn.mapv_inplace(|x| if x > 0.0 { x } else { 0.0 });
            }
        };
        let mut mm = || {
            let args = GemmArgs {
                a: black_box(&a),
                b: black_box(&b),
                bias: bias_arg,
                c: &mut cm,
            };
            host_sgemm(&spec, args).unwrap();
        };
        let times = time_interleaved(budget, &mut [&mut jit, &mut nd, &mut mm]);
        let (t_jit, t_nd, t_mm) = (times[0], times[1], times[2]);

        // Sanity: the three agree (catches a benchmark measuring garbage).
        let max_diff = c
            .iter()
            .zip(cn.iter())
            .chain(cm.iter().zip(cn.iter()))
            .map(|(x, y)| (x - y).abs())
            .fold(0.0f32, f32::max);
        assert!(
            max_diff < 1e-3 * (spec.k as f32).sqrt(),
            "{spec}: results differ by {max_diff}"
        );

        let (g_jit, g_nd, g_mm) = (
            gflops(&spec, t_jit),
            gflops(&spec, t_nd),
            gflops(&spec, t_mm),
        );
        let t = |t: Transpose| if t == Transpose::Yes { 'T' } else { 'N' };
        println!(
            "{:<14} {}{} {:>16} {:>7.1} {:>7.1} {:>6.2} {:>7.1} {:>6.2} {:>7.2}ms {:>5}B",
            case.label,
            t(spec.trans_a),
            t(spec.trans_b),
            format!("{}×{}×{}", spec.m, spec.k, spec.n),
            g_jit,
            g_nd,
            g_jit / g_nd,
            g_mm,
            g_mm / g_nd,
            compile_ms,
            kernel.info().code_bytes
        );
    }
}
