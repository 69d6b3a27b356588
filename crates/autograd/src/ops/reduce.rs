//! Reductions over all elements or chosen axes: sum, max, min (and, composed from them in
//! `composite.rs`, mean, logsumexp, softmax).
//!
//! `max`/`min` split the gradient equally between tied extremes, as PyTorch's `amax` does.

use crate::float::Float;
use crate::ops::{Axes, EngineExt, Op, kernels};
use crate::shape::{Shape, norm_axis};
use crate::tape::{Engine, Var};
use crate::tensor::Tensor;

fn flags(rank: usize, axes: &[usize]) -> smallvec::SmallVec<[bool; 4]> {
    (0..rank).map(|i| axes.contains(&i)).collect()
}

fn out_shape(shape: &[usize], axes: &[usize], keepdim: bool) -> Shape {
    (0..shape.len())
        .filter_map(|i| {
            if !axes.contains(&i) {
                Some(shape[i])
            } else if keepdim {
                Some(1)
            } else {
                None
            }
        })
        .collect()
}

fn kept_shape(shape: &[usize], axes: &[usize]) -> Shape {
    out_shape(shape, axes, true)
}

pub(crate) fn sum_forward<F: Float>(x: &Tensor<F>, axes: &[usize], keepdim: bool) -> Tensor<F> {
    let r = kernels::reduce(x, &flags(x.rank(), axes), F::ZERO, |a, b| a + b);
    r.reshape(&out_shape(x.shape(), axes, keepdim))
}

/// The gradient of a sum is the output gradient broadcast back over the summed axes.
pub(crate) fn sum_backward<F: Float, E: Engine<F>>(e: &E, x: &E::V, axes: &[usize], _keepdim: bool, g: &E::V) -> E::V {
    let xs = e.shape(x);
    let g = e.reshape(g, kept_shape(&xs, axes));
    e.broadcast_to(&g, &xs)
}

pub(crate) fn extreme_forward<F: Float>(x: &Tensor<F>, axes: &[usize], keepdim: bool, max: bool) -> Tensor<F> {
    let name = if max { "max" } else { "min" };
    for &a in axes {
        assert!(
            x.shape()[a] > 0,
            "{name}: cannot reduce over empty axis {a} of shape {:?}",
            x.shape()
        );
    }
    let r = if max {
        kernels::reduce(x, &flags(x.rank(), axes), F::from_f64(f64::NEG_INFINITY), |a, b| {
            if b > a { b } else { a }
        })
    } else {
        kernels::reduce(x, &flags(x.rank(), axes), F::from_f64(f64::INFINITY), |a, b| {
            if b < a { b } else { a }
        })
    };
    r.reshape(&out_shape(x.shape(), axes, keepdim))
}

/// `dx = g [x == y] / count(ties)`, broadcast back over the reduced axes.
pub(crate) fn extreme_backward<F: Float, E: Engine<F>>(
    e: &E,
    x: &E::V,
    y: &E::V,
    axes: &[usize],
    _keepdim: bool,
    g: &E::V,
) -> E::V {
    let xv = e.value(x);
    let kept = kept_shape(xv.shape(), axes);
    let yk = e.value(y).reshape(&kept);
    let hit = kernels::zip("max", &xv, &yk, |a, b| if a == b { F::ONE } else { F::ZERO });
    let count = kernels::reduce(&hit, &flags(xv.rank(), axes), F::ZERO, |a, b| a + b);
    let weight = kernels::zip("max", &hit, &count, |h, c| h / c);
    let g = e.reshape(g, kept);
    e.mul_const(&e.broadcast_to(&g, xv.shape()), weight)
}

#[track_caller]
fn norm_axes(op: &str, axes: &[isize], rank: usize) -> Axes {
    let mut out: Axes = axes.iter().map(|&a| norm_axis(op, a, rank)).collect();
    out.sort_unstable();
    let n = out.len();
    out.dedup();
    assert!(n == out.len(), "{op}: axis listed twice in {axes:?}");
    out
}

impl<'t, F: Float> Var<'t, F> {
    fn all_axes(self) -> Axes {
        (0..self.shape().len()).collect()
    }

    /// Sum of all elements, as a scalar.
    ///
    /// ```
    /// use borel_autograd::{Tape, Tensor};
    /// let tape = Tape::<f32>::new();
    /// let x = tape.var(Tensor::ones(&[2, 3]));
    /// assert_eq!(x.sum().item(), 6.0);
    /// ```
    #[track_caller]
    pub fn sum(self) -> Var<'t, F> {
        let axes = self.all_axes();
        self.unary(Op::Sum { axes, keepdim: false })
    }

    /// Sum over `axes` (negative counts from the end); `keepdim` keeps them with size 1.
    ///
    /// ```
    /// use borel_autograd::{Tape, Tensor};
    /// let tape = Tape::<f32>::new();
    /// let x = tape.var(Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[2, 2]));
    /// assert_eq!(x.sum_axes(&[0], false).value().data(), &[4.0, 6.0]);
    /// assert_eq!(x.sum_axes(&[-1], true).shape().as_slice(), &[2, 1]);
    /// ```
    #[track_caller]
    pub fn sum_axes(self, axes: &[isize], keepdim: bool) -> Var<'t, F> {
        let axes = norm_axes("sum", axes, self.shape().len());
        self.unary(Op::Sum { axes, keepdim })
    }

    /// Largest element, as a scalar.
    #[track_caller]
    pub fn max(self) -> Var<'t, F> {
        let axes = self.all_axes();
        self.unary(Op::Max { axes, keepdim: false })
    }

    /// Largest element along `axes`; tied maxima share the gradient equally.
    #[track_caller]
    pub fn max_axes(self, axes: &[isize], keepdim: bool) -> Var<'t, F> {
        let axes = norm_axes("max", axes, self.shape().len());
        self.unary(Op::Max { axes, keepdim })
    }

    /// Smallest element, as a scalar.
    #[track_caller]
    pub fn min(self) -> Var<'t, F> {
        let axes = self.all_axes();
        self.unary(Op::Min { axes, keepdim: false })
    }

    /// Smallest element along `axes`; tied minima share the gradient equally.
    #[track_caller]
    pub fn min_axes(self, axes: &[isize], keepdim: bool) -> Var<'t, F> {
        let axes = norm_axes("min", axes, self.shape().len());
        self.unary(Op::Min { axes, keepdim })
    }
}
