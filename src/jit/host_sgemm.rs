//! The [`GemmSpec`] contract implemented with `matrixmultiply::sgemm`
//! (BLIS-style packing, AVX2/FMA 8×8 micro-kernel chosen at run time).
//!
//! Cranelift only emits 128-bit vectors on x86-64, so for large products a
//! 256-bit native kernel is roughly twice as fast as anything we JIT; the
//! runtime can route such products here. Bias and activation are applied in
//! a second pass over C.

use super::error::JitError;
use super::gemm::{Activation, GemmArgs, GemmSpec, Transpose, check_args};

/// Computes `spec`'s product with `matrixmultiply::sgemm` on one thread.
pub fn host_sgemm(spec: &GemmSpec, args: GemmArgs<'_>) -> Result<(), JitError> {
    spec.validate()?;
    check_args(spec, &args)?;
    let (m, k, n) = (spec.m, spec.k, spec.n);
    let as_stride = |x: usize| x as isize; // < 2^29 after validate()
    let (rsa, csa) = match spec.trans_a {
        Transpose::No => (as_stride(k), 1),
        Transpose::Yes => (1, as_stride(m)),
    };
    let (rsb, csb) = match spec.trans_b {
        Transpose::No => (as_stride(n), 1),
        Transpose::Yes => (1, as_stride(k)),
    };
    let beta = if spec.accumulate { 1.0 } else { 0.0 };
    // SAFETY: check_args verified a.len() = m·k, b.len() = k·n and
    // c.len() = m·n; with the strides above sgemm reads exactly those
    // elements of A and B and reads/writes exactly those of C. With beta = 0
    // matrixmultiply does not read C, so uninitialised-looking contents are
    // fine. C is an exclusive borrow and cannot alias A or B.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            1.0,
            args.a.as_ptr(),
            rsa,
            csa,
            args.b.as_ptr(),
            rsb,
            csb,
            beta,
            args.c.as_mut_ptr(),
            as_stride(n),
            1,
        );
    }
    if let Some(bias) = args.bias {
        for row in args.c.chunks_exact_mut(n) {
            for (x, b) in row.iter_mut().zip(bias) {
                *x += b;
            }
        }
    }
    if spec.activation == Activation::Relu {
        for x in args.c.iter_mut() {
            // Same definition as the JIT epilogue: NaN maps to 0.
            *x = if *x > 0.0 { *x } else { 0.0 };
        }
    }
    Ok(())
}
