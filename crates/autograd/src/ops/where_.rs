//! `where_(mask, a, b)`: `a` where the mask is non-zero, `b` elsewhere (broadcasting), and the
//! comparisons (`gt`, `lt`, `ge`, `le`, `eq`) that make its masks. A mask is a constant of 0s
//! and 1s: nothing flows back through it.

use std::borrow::Cow;

use crate::float::Float;
use crate::ops::{EngineExt, Family, Grads, Operand, kernels};
use crate::shape::broadcast_or_panic;
use crate::tape::{Engine, Var};
use crate::tensor::Tensor;

/// The `where_` op: inputs mask (a constant), a, b.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Where;

impl<F: Float> Family<F> for Where {
    fn name(&self) -> Cow<'static, str> {
        Cow::Borrowed("where_")
    }

    #[track_caller]
    fn forward(&self, x: &[&Tensor<F>]) -> Tensor<F> {
        let (mask, a, b) = (x[0], x[1], x[2]);
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
    fn backward<E: Engine<F>>(&self, e: &E, x: &[&E::V], _y: &E::V, g: E::V, needs: &[bool]) -> Grads<E::V> {
        let gshape = e.shape(&g);
        let m = kernels::broadcast_to(&e.value(x[0]), &gshape).map(|v| if v != F::ZERO { F::ONE } else { F::ZERO });
        let pick = |i: usize, m: Tensor<F>| needs[i].then(|| e.sum_to(e.mul_const(&g, m), &e.shape(x[i])));
        let not_m = m.map(|v| F::ONE - v);
        smallvec::smallvec![None, pick(1, m), pick(2, not_m)]
    }

    /// Linear in its branches: `where_(mask, da, db)`; the mask has no tangent.
    fn tangent<E: Engine<F>>(&self, e: &E, x: &[&E::V], _y: &E::V, dx: &[Option<E::V>]) -> Option<E::V> {
        let d = [None, dx[1].clone(), dx[2].clone()];
        super::linear_tangent(e, Where.into(), x, &d, &[0])
    }
}

impl<'t, F: Float> Var<'t, F> {
    /// `where_(mask, a, b)`: `a` where `mask != 0`, else `b`, with broadcasting of all three
    /// (PyTorch's `torch.where`); `a` and `b` may be scalars. The mask is not differentiated;
    /// `a` and `b` get the gradient where they were picked.
    ///
    /// ```
    /// use borel_autograd::{Tape, Tensor, Var};
    /// let tape = Tape::<f64>::new();
    /// let x = tape.var(Tensor::from_vec(vec![-2.0, 3.0], &[2]));
    /// let y = Var::where_(x.gt(tape.scalar(0.0)), x, x * 0.1);
    /// assert_eq!(y.value().data(), &[-0.2, 3.0]);
    /// ```
    #[track_caller]
    pub fn where_(mask: Var<'t, F>, a: impl Operand<'t, F>, b: impl Operand<'t, F>) -> Var<'t, F> {
        let (a, b) = (a.into_var(mask.tape), b.into_var(mask.tape));
        mask.tape.check_same("where_", a.tape);
        mask.tape.check_same("where_", b.tape);
        Var {
            tape: mask.tape,
            id: mask.tape.apply(Where.into(), &[mask.id, a.id, b.id]),
        }
    }
}

/// The mask of `cmp(a, b)` with broadcasting; panics naming `op` when the shapes do not
/// broadcast. Shared with the tensor comparisons, so both name the op the user called.
#[track_caller]
pub(crate) fn compare<F: Float>(
    op: &str,
    a: &Tensor<F>,
    b: &Tensor<F>,
    cmp: impl Fn(F, F) -> bool + Sync + Send,
) -> Tensor<F> {
    kernels::zip(op, a, b, move |x, y| if cmp(x, y) { F::ONE } else { F::ZERO })
}

macro_rules! comparisons {
    ($($(#[$doc:meta])* $name:ident: $cmp:expr;)*) => {
        impl<'t, F: Float> Var<'t, F> {
            $(
                $(#[$doc])*
                /// `other` is a var or a scalar. The result is a constant mask of 0s and 1s
                /// (broadcast shape); nothing flows back through it.
                #[track_caller]
                pub fn $name(self, other: impl Operand<'t, F>) -> Var<'t, F> {
                    let other = other.into_var(self.tape);
                    self.tape.check_same(stringify!($name), other.tape);
                    self.tape.constant(compare(stringify!($name), &self.value(), &other.value(), $cmp))
                }
            )*
        }
    };
}

comparisons! {
    /// `self > other` elementwise.
    ///
    /// ```
    /// use borel_autograd::{Tape, Tensor};
    /// let tape = Tape::<f32>::new();
    /// let x = tape.var(Tensor::from_vec(vec![-1.0, 2.0], &[2]));
    /// assert_eq!(x.gt(tape.scalar(0.0)).value().data(), &[0.0, 1.0]);
    /// ```
    gt: |x, y| x > y;
    /// `self < other` elementwise.
    ///
    /// ```
    /// use borel_autograd::{Tape, Tensor};
    /// let tape = Tape::<f32>::new();
    /// let x = tape.var(Tensor::from_vec(vec![-1.0, 2.0], &[2]));
    /// assert_eq!(x.lt(tape.scalar(0.0)).value().data(), &[1.0, 0.0]);
    /// ```
    lt: |x, y| x < y;
    /// `self >= other` elementwise.
    ///
    /// ```
    /// use borel_autograd::{Tape, Tensor};
    /// let tape = Tape::<f32>::new();
    /// let x = tape.var(Tensor::from_vec(vec![0.0, 2.0], &[2]));
    /// assert_eq!(x.ge(tape.scalar(2.0)).value().data(), &[0.0, 1.0]);
    /// ```
    ge: |x, y| x >= y;
    /// `self <= other` elementwise.
    ///
    /// ```
    /// use borel_autograd::{Tape, Tensor};
    /// let tape = Tape::<f32>::new();
    /// let x = tape.var(Tensor::from_vec(vec![0.0, 2.0], &[2]));
    /// assert_eq!(x.le(tape.scalar(0.0)).value().data(), &[1.0, 0.0]);
    /// ```
    le: |x, y| x <= y;
    /// `self == other` elementwise.
    ///
    /// ```
    /// use borel_autograd::{Tape, Tensor};
    /// let tape = Tape::<f32>::new();
    /// let x = tape.var(Tensor::from_vec(vec![0.0, 2.0], &[2]));
    /// assert_eq!(x.eq(tape.scalar(2.0)).value().data(), &[0.0, 1.0]);
    /// ```
    eq: |x, y| x == y;
}

#[cfg(test)]
mod tests {
    use crate::ops::testing::*;

    op_props! {
        where_((a, b) in broadcast_values((-2.0, 2.0), (-2.0, 2.0))) for [a, b] =>
            |v| Var::where_(v[0].gt(v[1]), v[0].sin(), v[1] * v[1]);
        where_le((a, b) in broadcast_values((-2.0, 2.0), (-2.0, 2.0))) for [a, b] =>
            |v| Var::where_(v[0].le(v[1]), v[0] * v[1], v[1].exp());
        where_scalars(x in values(-2.0, 2.0, &[0.5])) for [x] =>
            |v| Var::where_(v[0].lt(0.5), v[0].sin(), 0.25) * Var::where_(v[0].ge(0.5), 2.0, v[0]);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(CASES))]

        /// A scalar operand compares as the rank-0 constant it stands for.
        #[test]
        fn comparisons_take_scalars((x, s) in (values(-2.0, 2.0, &[]), -2.0f64..2.0)) {
            let tape = Tape::<f64>::new();
            let (v, c) = (tape.constant(x), tape.scalar(s));
            prop_assert_eq!(v.gt(s).value(), v.gt(c).value());
            prop_assert_eq!(v.lt(s).value(), v.lt(c).value());
            prop_assert_eq!(v.ge(s).value(), v.ge(c).value());
            prop_assert_eq!(v.le(s).value(), v.le(c).value());
            prop_assert_eq!(v.eq(s).value(), v.eq(c).value());
            prop_assert_eq!(Var::where_(v.gt(s), v, s).value(), Var::where_(v.gt(c), v, c).value());
        }
    }
}
