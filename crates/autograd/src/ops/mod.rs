//! The differentiable ops, one file per family. In each file every op's public method (with
//! its doc and example), its forward kernel, its backward rule and its property test sit
//! together:
//!
//! | file | family |
//! |---|---|
//! | `unary.rs` | elementwise functions and activations (exp, tanh, relu, gelu, ...) |
//! | `binary.rs` | arithmetic with broadcasting, pow, maximum/minimum |
//! | `where_.rs` | `where_` and the comparisons that make its masks |
//! | `reduce.rs` | sum, max, min and the composite mean |
//! | `softmax.rs` | the composites logsumexp, softmax, log_softmax |
//! | `matmul.rs` | matrix products, `dot` |
//! | `linalg.rs` | solve, inv, det, slogdet, cholesky (batched small dense matrices) |
//! | `dense.rs` | the fused dense layer `act(x w + b)` |
//! | `shape_ops.rs` | reshape, permute, broadcast, slice, pad and friends |
//! | `concat.rs` | concat and stack (nodes of the shape family) |
//! | `index.rs` | integer indexing: index_select, gather, select and their adjoints |
//! | `custom.rs` | user-defined ops |
//!
//! Backward rules are written with the same differentiable ops as forward code (through
//! [`EngineExt`]), so running them while recording gives gradients that can be differentiated
//! again: that is all `create_graph` does. Composite ops are written with other ops and have no
//! backward rule of their own.
//!
//! Each family's tangent rule ([`Family::tangent`], forward mode) sits next to its backward
//! rule and is written the same way, reusing the backward's derivatives where the op is
//! elementwise (unary and binary tables): the output's tangent from the inputs' tangents. The
//! tangent sweep (`tape/forward.rs`) runs them in recording order for `jvp`, `jacfwd` and the
//! forward-over-reverse `hvp`. User ops derive theirs from their backward
//! (`custom.rs`).

pub(crate) mod binary;
pub(crate) mod concat;
pub(crate) mod custom;
pub(crate) mod dense;
pub(crate) mod gemm;
pub(crate) mod index;
pub(crate) mod kernels;
pub(crate) mod linalg;
pub(crate) mod matmul;
pub(crate) mod reduce;
pub(crate) mod shape_ops;
pub(crate) mod softmax;
#[cfg(test)]
pub(crate) mod testing;
pub(crate) mod unary;
pub(crate) mod where_;

use std::borrow::Cow;

use smallvec::SmallVec;

use crate::float::Float;
pub(crate) use crate::shape::Axes;
use crate::shape::Shape;
use crate::tape::{Engine, Tape, Var};
use crate::tensor::Tensor;

pub(crate) use binary::Binary;
pub(crate) use custom::Custom;
pub(crate) use dense::Dense;
pub(crate) use index::IndexOp;
pub(crate) use linalg::Linalg;
pub(crate) use matmul::MatMul;
pub(crate) use reduce::Reduce;
pub(crate) use shape_ops::ShapeOp;
pub(crate) use unary::Unary;
pub(crate) use where_::Where;

/// An operand of a comparison, `where_`, `maximum` or `minimum`: a var, or a scalar that
/// becomes a rank-0 constant on the other operand's tape (PyTorch's `x > 0`,
/// `torch.where(m, x, 0.0)`).
///
/// ```
/// use borel_autograd::{Tape, Tensor, Var};
/// let tape = Tape::<f32>::new();
/// let x = tape.var(Tensor::from_vec(vec![-1.0, 2.0], &[2]));
/// assert_eq!(x.gt(0.0).value().data(), &[0.0, 1.0]);
/// assert_eq!(Var::where_(x.gt(0.0), x, 0.5).value().data(), &[0.5, 2.0]);
/// assert_eq!(x.maximum(0.0).value().data(), &[0.0, 2.0]);
/// ```
pub trait Operand<'t, F: Float> {
    /// This operand as a var on `tape`.
    fn into_var(self, tape: &'t Tape<F>) -> Var<'t, F>;
}

impl<'t, F: Float> Operand<'t, F> for Var<'t, F> {
    #[inline]
    fn into_var(self, _tape: &'t Tape<F>) -> Var<'t, F> {
        self
    }
}

impl<'t, F: Float> Operand<'t, F> for F {
    #[inline]
    fn into_var(self, tape: &'t Tape<F>) -> Var<'t, F> {
        tape.scalar(self)
    }
}

/// The gradients of a node's inputs: `None` where an input needs none.
pub(crate) type Grads<V> = SmallVec<[Option<V>; 2]>;

/// What every family of ops provides: its name, the forward kernel, the backward rule and the
/// tangent rule (forward mode).
pub(crate) trait Family<F: Float> {
    /// The op's name as the user knows it (`log`, `add`, `matmul`, `sum`, ...): what error
    /// messages and NaN reports show.
    fn name(&self) -> Cow<'static, str>;

    /// The value of the op applied to `x`.
    #[track_caller]
    fn forward(&self, x: &[&Tensor<F>]) -> Tensor<F>;

    /// The gradients of the inputs flagged in `needs`, given the inputs `x`, the output `y`
    /// and the output's gradient `g`, computed with `e`'s differentiable ops.
    fn backward<E: Engine<F>>(&self, e: &E, x: &[&E::V], y: &E::V, g: E::V, needs: &[bool]) -> Grads<E::V>;

    /// [`Family::backward`] with each gradient handed to `out` (input position, gradient) as
    /// it is made, so the reverse sweep accumulates it in place. The families of small ops
    /// override it to skip the list.
    #[inline]
    fn backward_into<E: Engine<F>>(
        &self,
        e: &E,
        x: &[&E::V],
        y: &E::V,
        g: E::V,
        needs: &[bool],
        mut out: impl FnMut(usize, E::V),
    ) {
        for (k, gk) in self.backward(e, x, y, g, needs).into_iter().enumerate() {
            if let Some(gk) = gk {
                out(k, gk);
            }
        }
    }

    /// The tangent (forward-mode derivative) of the output, given the inputs `x`, the output
    /// `y` and the inputs' tangents `dx` (`dx[k]` is `None` where input `k`'s tangent is zero),
    /// computed with `e`'s differentiable ops like [`Family::backward`], so the one rule runs
    /// on plain tensors and can be recorded (for reverse-over-forward). `None` when the output's
    /// tangent is zero. Called only when some `dx[k]` is `Some`.
    fn tangent<E: Engine<F>>(&self, e: &E, x: &[&E::V], y: &E::V, dx: &[Option<E::V>]) -> Option<E::V>;
}

/// The tangent of an op that is linear in all its inputs jointly (shape and index ops, sums,
/// `where_` in its branches): the op applied to the tangents, zeros standing for `None`.
/// Inputs flagged in `fixed` (a mask) are not differentiated: they are passed as they are.
pub(crate) fn linear_tangent<F: Float, E: Engine<F>>(
    e: &E,
    op: Op<F>,
    x: &[&E::V],
    dx: &[Option<E::V>],
    fixed: &[usize],
) -> Option<E::V> {
    let zeros: SmallVec<[E::V; 3]> = x
        .iter()
        .zip(dx)
        .enumerate()
        .map(|(k, (xk, d))| match d {
            Some(d) => d.clone(),
            None if fixed.contains(&k) => (*xk).clone(),
            None => e.zeros_like(xk),
        })
        .collect();
    let ins: SmallVec<[&E::V; 3]> = zeros.iter().collect();
    Some(e.apply(op, &ins))
}

/// Adds the tangent terms that are there (`None` when none is).
pub(crate) fn sum_terms<F: Float, E: Engine<F>>(e: &E, terms: impl IntoIterator<Item = Option<E::V>>) -> Option<E::V> {
    terms
        .into_iter()
        .flatten()
        .reduce(|a, b| e.apply_binary(Binary::Add, &a, &b))
}

/// Declares the op families, once: the `Op` enum a tape node holds, the conversions from each
/// family, and the dispatch of names, forward kernels and backward rules. A family marked
/// `boxed` (a payload of shapes, axes or indices) is held behind a `Box`, so that the common
/// ops' nodes stay small; its conversion boxes it.
macro_rules! families {
    ($($(#[$doc:meta])* $Variant:ident($ty:ty) $($boxed:ident)?),* $(,)?) => {
        /// What a tape node computes from its inputs: a leaf, or an op of one family.
        pub(crate) enum Op<F> {
            /// A var or a constant: no inputs, no rule.
            Leaf,
            $($(#[$doc])* $Variant(payload!($ty $(, $boxed)?)),)*
        }

        impl<F: Float> Clone for Op<F> {
            fn clone(&self) -> Self {
                match self {
                    Op::Leaf => Op::Leaf,
                    $(Op::$Variant(op) => Op::$Variant(op.clone()),)*
                }
            }
        }

        $(impl<F: Float> From<$ty> for Op<F> {
            #[inline]
            fn from(op: $ty) -> Self {
                Op::$Variant(wrap!(op $(, $boxed)?))
            }
        })*

        impl<F: Float> Op<F> {
            /// The op's name (`leaf` for a leaf).
            pub(crate) fn name(&self) -> Cow<'static, str> {
                match self {
                    Op::Leaf => Cow::Borrowed("leaf"),
                    $(Op::$Variant(op) => {
                        let op: &$ty = op;
                        <$ty as Family<F>>::name(op)
                    })*
                }
            }

            /// The forward kernel of the node's family.
            #[track_caller]
            #[inline]
            pub(crate) fn forward(&self, x: &[&Tensor<F>]) -> Tensor<F> {
                match self {
                    Op::Leaf => unreachable!("leaves are not computed"),
                    $(Op::$Variant(op) => {
                        let op: &$ty = op;
                        <$ty as Family<F>>::forward(op, x)
                    })*
                }
            }

            /// The backward rule of the node's family: the gradients of the inputs flagged in
            /// `needs` go to `out` (input position, gradient).
            #[inline]
            pub(crate) fn backward_into<E: Engine<F>>(
                &self,
                e: &E,
                x: &[&E::V],
                y: &E::V,
                g: E::V,
                needs: &[bool],
                out: impl FnMut(usize, E::V),
            ) {
                match self {
                    Op::Leaf => {}
                    $(Op::$Variant(op) => {
                        let op: &$ty = op;
                        <$ty as Family<F>>::backward_into(op, e, x, y, g, needs, out)
                    })*
                }
            }

            /// The tangent rule of the node's family (see [`Family::tangent`]); `None` for a
            /// leaf.
            #[inline]
            pub(crate) fn tangent<E: Engine<F>>(
                &self,
                e: &E,
                x: &[&E::V],
                y: &E::V,
                dx: &[Option<E::V>],
            ) -> Option<E::V> {
                match self {
                    Op::Leaf => None,
                    $(Op::$Variant(op) => {
                        let op: &$ty = op;
                        <$ty as Family<F>>::tangent(op, e, x, y, dx)
                    })*
                }
            }
        }
    };
}

/// The type a family's payload is held as in [`Op`]: boxed or inline.
macro_rules! payload {
    ($ty:ty) => { $ty };
    ($ty:ty, boxed) => { Box<$ty> };
}

/// Wraps a family's payload as [`Op`] holds it.
macro_rules! wrap {
    ($op:expr) => {
        $op
    };
    ($op:expr, boxed) => {
        Box::new($op)
    };
}

families! {
    Unary(Unary<F>),
    Binary(Binary),
    /// Inputs: mask (constant), a, b.
    Where(Where),
    Reduce(Reduce) boxed,
    MatMul(MatMul),
    /// Inputs: A, and B for solve.
    Linalg(Linalg),
    /// Inputs: x, w and optionally b.
    Dense(Dense),
    Shape(ShapeOp) boxed,
    Index(IndexOp) boxed,
    Custom(Custom<F>) boxed,
}

/// The differentiable vocabulary that backward rules are written in.
pub(crate) trait EngineExt<F: Float>: Engine<F> {
    /// Records (or computes) an elementwise unary op.
    fn apply_unary(&self, op: Unary<F>, a: &Self::V) -> Self::V {
        self.apply(Op::Unary(op), &[a])
    }
    /// Records (or computes) a broadcasting binary op.
    fn apply_binary(&self, op: Binary, a: &Self::V, b: &Self::V) -> Self::V {
        self.apply(Op::Binary(op), &[a, b])
    }
    fn mul(&self, a: &Self::V, b: &Self::V) -> Self::V {
        self.apply_binary(Binary::Mul, a, b)
    }
    fn div(&self, a: &Self::V, b: &Self::V) -> Self::V {
        self.apply_binary(Binary::Div, a, b)
    }
    fn neg(&self, a: &Self::V) -> Self::V {
        self.apply_unary(Unary::Affine(-F::ONE, F::ZERO), a)
    }
    /// `a * s + t`.
    fn affine(&self, a: &Self::V, s: F, t: F) -> Self::V {
        self.apply_unary(Unary::Affine(s, t), a)
    }
    /// Zeros of `a`'s shape, as a constant (a derivative that is exactly 0, whatever `a` holds).
    fn zeros_like(&self, a: &Self::V) -> Self::V {
        self.constant(Tensor::zeros(&self.shape(a)))
    }
    /// Multiplies by a constant tensor (a mask, a derivative computed from values).
    fn mul_const(&self, a: &Self::V, c: Tensor<F>) -> Self::V {
        let c = self.constant(c);
        self.mul(a, &c)
    }
    /// `a` where the constant `mask` is non-zero, else `b` (broadcasting): unlike a product
    /// with the mask, a NaN or an infinity in the branch not taken does not leak through.
    fn where_const(&self, mask: Tensor<F>, a: &Self::V, b: &Self::V) -> Self::V {
        let m = self.constant(mask);
        self.apply(Where.into(), &[&m, a, b])
    }
    fn reshape(&self, a: &Self::V, shape: Shape) -> Self::V {
        if self.shape(a).as_slice() == shape.as_slice() {
            return a.clone();
        }
        self.apply(ShapeOp::Reshape(shape).into(), &[a])
    }
    fn broadcast_to(&self, a: &Self::V, shape: &[usize]) -> Self::V {
        if self.shape(a).as_slice() == shape {
            return a.clone();
        }
        self.apply(ShapeOp::BroadcastTo(shape.into()).into(), &[a])
    }
    /// Sums `a` down to `shape`: the reverse of broadcasting `shape` up to `a`'s shape.
    fn sum_to(&self, a: Self::V, shape: &[usize]) -> Self::V {
        let from = self.shape(&a);
        if from.as_slice() == shape {
            return a;
        }
        let off = from.len() - shape.len();
        let axes: Axes = (0..from.len())
            .filter(|&i| i < off || (shape[i - off] == 1 && from[i] != 1))
            .collect();
        let summed = if axes.is_empty() {
            a
        } else {
            self.apply(Reduce::sum(axes, true).into(), &[&a])
        };
        self.reshape(&summed, shape.into())
    }
}

impl<F: Float, E: Engine<F>> EngineExt<F> for E {}
