//! Elementwise steps (sums, products, activations and their backward, each one generated
//! kernel over whole buffers) and the plain copy.

use crate::check::Activation;
use crate::jit::elementwise::{ElementwiseKernel, ElementwiseSpec};
use crate::jit::{F32Bits, JitError};
use crate::lower::{BufferId, Kernel};

use super::super::ExecError;
use super::super::store::borrow;
use super::{Compiler, Ctx, Step, rows_len, uses};

/// One elementwise kernel over whole buffers (prefixes of the current rows).
pub(crate) struct MapStep {
    inputs: Vec<(BufferId, usize)>,
    output: (BufferId, usize),
    kernel: ElementwiseKernel,
}

impl Compiler<'_> {
    fn map(
        &mut self,
        spec: ElementwiseSpec,
        inputs: &[(BufferId, usize)],
        output: (BufferId, usize),
    ) -> Result<Step, JitError> {
        Ok(Step::Map(Box::new(MapStep {
            inputs: inputs.to_vec(),
            output,
            kernel: ElementwiseKernel::compile(self.jit, spec)?,
        })))
    }
}

/// Compiles an elementwise kernel (add, accumulate, dropout backward, activation and its
/// backward) or a copy for `rows` rows; any other kernel, or softmax, runs the reference op.
pub(super) fn compile(c: &mut Compiler<'_>, k: &Kernel, rows: usize) -> Result<Step, JitError> {
    Ok(match k {
        Kernel::Add { a, b, y } => {
            let len = rows * c.per_row(*y);
            c.map(
                ElementwiseSpec::Add { len },
                &[(*a, len), (*b, len)],
                (*y, len),
            )?
        }
        Kernel::Accumulate { src, dst } => {
            let len = rows_len(c, *dst, rows);
            c.map(
                ElementwiseSpec::Accumulate { len },
                &[(*src, len)],
                (*dst, len),
            )?
        }
        Kernel::DropoutBackward { dy, mask, dx } => {
            let len = rows * c.per_row(*dx);
            c.map(
                ElementwiseSpec::Mul { len },
                &[(*dy, len), (*mask, len)],
                (*dx, len),
            )?
        }
        Kernel::Act { x, y, act } => {
            let len = rows * c.per_row(*y);
            let spec = match act {
                Activation::Relu => ElementwiseSpec::Relu { len },
                Activation::LeakyRelu(s) => ElementwiseSpec::LeakyRelu {
                    len,
                    slope: F32Bits::new(*s),
                },
                Activation::Sigmoid => ElementwiseSpec::Sigmoid { len },
                Activation::Tanh => ElementwiseSpec::Tanh { len },
                Activation::Gelu => ElementwiseSpec::Gelu { len },
                Activation::Softmax => {
                    return Ok(Step::Reference(k.clone()));
                }
            };
            c.map(spec, &[(*x, len)], (*y, len))?
        }
        Kernel::ActBackward { x, y, dy, dx, act } => {
            let len = rows * c.per_row(*dx);
            let (spec, first) = match act {
                Activation::Relu => (ElementwiseSpec::ReluBackward { len }, *y),
                Activation::LeakyRelu(s) => (
                    ElementwiseSpec::LeakyReluBackward {
                        len,
                        slope: F32Bits::new(*s),
                    },
                    *x,
                ),
                Activation::Sigmoid => (ElementwiseSpec::SigmoidBackward { len }, *y),
                Activation::Tanh => (ElementwiseSpec::TanhBackward { len }, *y),
                Activation::Gelu => (ElementwiseSpec::GeluBackward { len }, *x),
                Activation::Softmax => {
                    return Ok(Step::Reference(k.clone()));
                }
            };
            c.map(spec, &[(first, len), (*dy, len)], (*dx, len))?
        }
        Kernel::Copy { src, dst } => Step::Copy {
            src: (*src, rows_len(c, *src, rows)),
            dst: *dst,
        },
        other => Step::Reference(other.clone()),
    })
}

impl MapStep {
    pub(super) fn run(&mut self, ctx: &mut Ctx<'_>) -> Result<(), ExecError> {
        let mut v = borrow(
            ctx.store,
            ctx.plan,
            &uses(&self.inputs),
            &uses(&[self.output]),
        )?;
        let out = v.writes.remove(0);
        self.kernel.run(&v.reads, out)?;
        Ok(())
    }
}

/// Runs [`Step::Copy`]: `dst = src` over `src`'s used length.
pub(super) fn run_copy(
    src: (BufferId, usize),
    dst: BufferId,
    ctx: &mut Ctx<'_>,
) -> Result<(), ExecError> {
    let mut v = borrow(ctx.store, ctx.plan, &uses(&[src]), &uses(&[(dst, src.1)]))?;
    v.writes[0].copy_from_slice(v.reads[0]);
    Ok(())
}
