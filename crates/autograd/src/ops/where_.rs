//! `where_(mask, a, b)`: picks `a` where the mask is non-zero, `b` elsewhere (broadcasting).

use crate::float::Float;
use crate::ops::{EngineExt, Op, kernels};
use crate::shape::broadcast_or_panic;
use crate::tape::{Engine, Var};
use crate::tensor::Tensor;

#[track_caller]
pub(crate) fn forward<F: Float>(mask: &Tensor<F>, a: &Tensor<F>, b: &Tensor<F>) -> Tensor<F> {
    let s = broadcast_or_panic("where_", mask.shape(), a.shape());
    let s = broadcast_or_panic("where_", &s, b.shape());
    let (m, a, b) = (
        kernels::broadcast_to(mask, &s),
        kernels::broadcast_to(a, &s),
        kernels::broadcast_to(b, &s),
    );
    let data = m
        .data()
        .iter()
        .zip(a.data().iter().zip(b.data()))
        .map(|(&m, (&x, &y))| if m != F::ZERO { x } else { y })
        .collect();
    Tensor::from_parts(data, s)
}

/// `da = g [mask]`, `db = g [!mask]`, each summed back to its operand's shape.
pub(crate) fn backward<F: Float, E: Engine<F>>(e: &E, x: &[&E::V], g: &E::V, needs: &[bool]) -> super::Grads<E::V> {
    let gshape = e.shape(g);
    let m = kernels::broadcast_to(&e.value(x[0]), &gshape).map(|v| if v != F::ZERO { F::ONE } else { F::ZERO });
    let pick = |i: usize, m: Tensor<F>| needs[i].then(|| e.sum_to(e.mul_const(g, m), &e.shape(x[i])));
    let not_m = m.map(|v| F::ONE - v);
    smallvec::smallvec![None, pick(1, m), pick(2, not_m)]
}

impl<'t, F: Float> Var<'t, F> {
    /// `where_(mask, a, b)`: `a` where `mask != 0`, else `b`, with broadcasting of all three.
    /// The mask is not differentiated; `a` and `b` get the gradient where they were picked.
    ///
    /// ```
    /// use borel_autograd::{Tape, Tensor};
    /// let tape = Tape::<f64>::new();
    /// let x = tape.var(Tensor::from_vec(vec![-2.0, 3.0], &[2]));
    /// let y = Var::where_(x.gt(tape.scalar(0.0)), x, x * 0.1);
    /// assert_eq!(y.value().data(), &[-0.2, 3.0]);
    /// # use borel_autograd::Var;
    /// ```
    #[track_caller]
    pub fn where_(mask: Var<'t, F>, a: Var<'t, F>, b: Var<'t, F>) -> Var<'t, F> {
        mask.tape.check_same("where_", a.tape);
        mask.tape.check_same("where_", b.tape);
        Var {
            tape: mask.tape,
            id: mask.tape.apply(Op::Where, &[mask.id, a.id, b.id]),
        }
    }
}
