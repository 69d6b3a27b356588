//! The differentiable ops, one file per family. In each file an op's forward kernel, its
//! backward rule and its public method stand side by side.
//!
//! Backward rules are written with the same differentiable ops as forward code (through
//! [`Engine`]), so running them while recording gives gradients that can be differentiated
//! again: that is all `create_graph` does.

pub(crate) mod binary;
pub(crate) mod composite;
pub(crate) mod custom;
pub(crate) mod index;
pub(crate) mod kernels;
pub(crate) mod matmul;
pub(crate) mod reduce;
pub(crate) mod shape_ops;
pub(crate) mod unary;
pub(crate) mod where_;

use std::sync::Arc;

use smallvec::SmallVec;

use crate::float::Float;
use crate::shape::Shape;
use crate::tape::Engine;
use crate::tensor::Tensor;

pub(crate) use binary::BinaryOp;
pub(crate) use unary::UnaryOp;

pub(crate) type Axes = SmallVec<[usize; 4]>;

/// What a tape node computes from its inputs.
#[derive(Clone)]
pub(crate) enum Op<F> {
    /// A var or a constant: no inputs, no rule.
    Leaf,
    Unary(UnaryOp<F>),
    Binary(BinaryOp),
    /// Inputs: mask (constant), a, b.
    Where,
    Sum {
        axes: Axes,
        keepdim: bool,
    },
    Max {
        axes: Axes,
        keepdim: bool,
    },
    Min {
        axes: Axes,
        keepdim: bool,
    },
    MatMul {
        ta: bool,
        tb: bool,
    },
    Reshape(Shape),
    Permute(Axes),
    BroadcastTo(Shape),
    Slice {
        axis: usize,
        start: usize,
        end: usize,
    },
    Pad {
        axis: usize,
        before: usize,
        after: usize,
    },
    Concat {
        axis: usize,
    },
    IndexSelect {
        axis: usize,
        index: Arc<[usize]>,
    },
    IndexAdd {
        axis: usize,
        index: Arc<[usize]>,
        size: usize,
    },
    Gather {
        axis: usize,
        index: Arc<[usize]>,
    },
    ScatterAdd {
        axis: usize,
        index: Arc<[usize]>,
        size: usize,
    },
    Custom(Arc<dyn custom::CustomOp<F>>),
}

type Grads<V> = SmallVec<[Option<V>; 2]>;

impl<F: Float> Op<F> {
    /// The forward kernel.
    #[track_caller]
    #[inline]
    pub(crate) fn forward(&self, x: &[&Tensor<F>]) -> Tensor<F> {
        match self {
            Op::Leaf => unreachable!("leaves are not computed"),
            Op::Unary(u) => u.forward(x[0]),
            Op::Binary(b) => b.forward(x[0], x[1]),
            Op::Where => where_::forward(x[0], x[1], x[2]),
            Op::Sum { axes, keepdim } => reduce::sum_forward(x[0], axes, *keepdim),
            Op::Max { axes, keepdim } => reduce::extreme_forward(x[0], axes, *keepdim, true),
            Op::Min { axes, keepdim } => reduce::extreme_forward(x[0], axes, *keepdim, false),
            Op::MatMul { ta, tb } => matmul::forward(x[0], x[1], *ta, *tb),
            Op::Reshape(s) => x[0].reshape(s),
            Op::Permute(p) => shape_ops::permute_forward(x[0], p),
            Op::BroadcastTo(s) => kernels::broadcast_to(x[0], s),
            Op::Slice { axis, start, end } => shape_ops::slice_forward(x[0], *axis, *start, *end),
            Op::Pad { axis, before, after } => shape_ops::pad_forward(x[0], *axis, *before, *after),
            Op::Concat { axis } => shape_ops::concat_forward(x, *axis),
            Op::IndexSelect { axis, index } => index::index_select_forward(x[0], *axis, index),
            Op::IndexAdd { axis, index, size } => index::index_add_forward(x[0], *axis, index, *size),
            Op::Gather { axis, index } => index::gather_forward(x[0], *axis, index),
            Op::ScatterAdd { axis, index, size } => index::scatter_add_forward(x[0], *axis, index, *size),
            Op::Custom(c) => custom::forward(c.as_ref(), x),
        }
    }

    /// The backward rule: gradients of the inputs flagged in `needs`, given the inputs `x`,
    /// the output `y` and the output's gradient `g`.
    pub(crate) fn backward<E: Engine<F>>(&self, e: &E, x: &[&E::V], y: &E::V, g: E::V, needs: &[bool]) -> Grads<E::V> {
        match self {
            Op::Leaf => Grads::new(),
            Op::Unary(u) => smallvec::smallvec![Some(u.backward(e, x[0], y, &g))],
            Op::Binary(b) => b.backward(e, x[0], x[1], y, &g, needs),
            Op::Where => where_::backward(e, x, &g, needs),
            Op::Sum { axes, keepdim } => smallvec::smallvec![Some(reduce::sum_backward(e, x[0], axes, *keepdim, &g))],
            Op::Max { axes, keepdim } | Op::Min { axes, keepdim } => {
                smallvec::smallvec![Some(reduce::extreme_backward(e, x[0], y, axes, *keepdim, &g))]
            }
            Op::MatMul { ta, tb } => matmul::backward(e, x[0], x[1], *ta, *tb, &g, needs),
            Op::Reshape(_) => {
                let s = e.shape(x[0]);
                smallvec::smallvec![Some(e.reshape(&g, s))]
            }
            Op::Permute(p) => smallvec::smallvec![Some(shape_ops::permute_backward(e, p, &g))],
            Op::BroadcastTo(_) => {
                let s = e.shape(x[0]);
                smallvec::smallvec![Some(e.sum_to(g, &s))]
            }
            Op::Slice { axis, start, end } => {
                let n = e.shape(x[0])[*axis];
                smallvec::smallvec![Some(e.apply(
                    Op::Pad {
                        axis: *axis,
                        before: *start,
                        after: n - end
                    },
                    &[&g]
                ))]
            }
            Op::Pad { axis, before, .. } => {
                let n = e.shape(x[0])[*axis];
                smallvec::smallvec![Some(e.apply(
                    Op::Slice {
                        axis: *axis,
                        start: *before,
                        end: before + n
                    },
                    &[&g]
                ))]
            }
            Op::Concat { axis } => shape_ops::concat_backward(e, x, *axis, &g, needs),
            Op::IndexSelect { axis, index } => {
                let size = e.shape(x[0])[*axis];
                smallvec::smallvec![Some(e.apply(
                    Op::IndexAdd {
                        axis: *axis,
                        index: index.clone(),
                        size
                    },
                    &[&g]
                ))]
            }
            Op::IndexAdd { axis, index, .. } => {
                smallvec::smallvec![Some(e.apply(
                    Op::IndexSelect {
                        axis: *axis,
                        index: index.clone()
                    },
                    &[&g]
                ))]
            }
            Op::Gather { axis, index } => {
                let size = e.shape(x[0])[*axis];
                smallvec::smallvec![Some(e.apply(
                    Op::ScatterAdd {
                        axis: *axis,
                        index: index.clone(),
                        size
                    },
                    &[&g]
                ))]
            }
            Op::ScatterAdd { axis, index, .. } => {
                smallvec::smallvec![Some(e.apply(
                    Op::Gather {
                        axis: *axis,
                        index: index.clone()
                    },
                    &[&g]
                ))]
            }
            Op::Custom(c) => custom::backward(c.as_ref(), e, x, y, &g, needs),
        }
    }
}

/// The differentiable vocabulary that backward rules are written in.
pub(crate) trait EngineExt<F: Float>: Engine<F> {
    fn un(&self, op: UnaryOp<F>, a: &Self::V) -> Self::V {
        self.apply(Op::Unary(op), &[a])
    }
    fn bin(&self, op: BinaryOp, a: &Self::V, b: &Self::V) -> Self::V {
        self.apply(Op::Binary(op), &[a, b])
    }
    fn mul(&self, a: &Self::V, b: &Self::V) -> Self::V {
        self.bin(BinaryOp::Mul, a, b)
    }
    fn div(&self, a: &Self::V, b: &Self::V) -> Self::V {
        self.bin(BinaryOp::Div, a, b)
    }
    fn neg(&self, a: &Self::V) -> Self::V {
        self.un(UnaryOp::Affine(-F::ONE, F::ZERO), a)
    }
    /// `a * s + t`.
    fn affine(&self, a: &Self::V, s: F, t: F) -> Self::V {
        self.un(UnaryOp::Affine(s, t), a)
    }
    /// Multiplies by a constant tensor (a mask, a derivative computed from values).
    fn mul_const(&self, a: &Self::V, c: Tensor<F>) -> Self::V {
        let c = self.constant(c);
        self.mul(a, &c)
    }
    fn reshape(&self, a: &Self::V, shape: Shape) -> Self::V {
        if self.shape(a).as_slice() == shape.as_slice() {
            return a.clone();
        }
        self.apply(Op::Reshape(shape), &[a])
    }
    fn broadcast_to(&self, a: &Self::V, shape: &[usize]) -> Self::V {
        if self.shape(a).as_slice() == shape {
            return a.clone();
        }
        self.apply(Op::BroadcastTo(shape.into()), &[a])
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
            self.apply(Op::Sum { axes, keepdim: true }, &[&a])
        };
        self.reshape(&summed, shape.into())
    }
}

impl<F: Float, E: Engine<F>> EngineExt<F> for E {}
