//! Arithmetic on [`Tensor`]s, off the tape: the same ops as on [`Var`], computed by the same
//! kernels, for code that holds values rather than recorded vars (a metric, a Newton step,
//! an update written by hand).
//!
//! Every op here gives the tape op's value bit for bit: `&a + &b` is `(a + b).value()` for
//! vars holding `a` and `b`, with the same NumPy broadcasting and the same panics (naming the
//! op and both shapes, at the caller's line). Names follow `Var`'s (`log`, `sum_axes`,
//! `matmul`, `gt`, ...), so tape code and tensor code read alike; the one exception is
//! [`Tensor::eq_elem`], since `eq` already compares whole tensors through `PartialEq`.
//!
//! ```
//! use borel_autograd::Tensor;
//! let y = Tensor::from_vec(vec![1.0f64, 2.0, 3.0], &[3]);
//! let y_hat = Tensor::from_vec(vec![1.5, 2.0, 2.0], &[3]);
//! // Sum of squared errors in one line.
//! assert_eq!((&y - &y_hat).square().sum().item(), 1.25);
//!
//! // One Newton step on f(x) = x^T A x / 2 - b^T x lands on the minimizer A^-1 b.
//! let h_inv = Tensor::from_vec(vec![0.5, 0.0, 0.0, 0.25], &[2, 2]); // A = diag(2, 4)
//! let a = Tensor::from_vec(vec![2.0, 0.0, 0.0, 4.0], &[2, 2]);
//! let b = Tensor::from_vec(vec![2.0, 8.0], &[2, 1]);
//! let x = Tensor::from_vec(vec![5.0, -3.0], &[2, 1]);
//! let g = &a.matmul(&x) - &b;
//! let x = &x - &h_inv.matmul(&g);
//! assert_eq!(x.data(), &[1.0, 2.0]);
//! ```
//!
//! Scalars combine on either side (`&t * 2.0`, `1.0 - &t`), and every operator takes tensors
//! by reference or by value.

use std::ops::{Add, Div, Mul, Neg, Sub};

use crate::float::Float;
use crate::ops::reduce::Kind;
use crate::ops::where_::compare;
use crate::ops::{Axes, Binary, MatMul, Op, Reduce, Unary, Where};
use crate::shape::norm_axis;
use crate::tape::{Tape, Var};
use crate::tensor::Tensor;

// Two routes to the tape's value, and both keep one copy of each op. Where the tape op is an
// `Op` variant, its forward kernel is called directly. Where a `Var` method does more than
// record one variant (scalar operands folded into an affine map, comparison predicates,
// axis-list checks, means composed from sums, clamp's bounds check), that method runs on
// constants of a scratch tape: a few nodes that are dropped on return. The tape's allocation
// costs a few hundred nanoseconds per call, which matters only for the tiniest tensors.

/// Runs a `Var` expression on constants of a scratch tape and returns its value. A macro, not
/// a closure, so that `#[track_caller]` of the calling method reaches the `Var` method.
macro_rules! on_tape {
    ($($v:ident = $t:expr),+ => $body:expr) => {{
        let tape = Tape::new();
        $(let $v: Var<'_, _> = tape.constant(Tensor::clone($t));)+
        $body.value()
    }};
}
pub(crate) use on_tape;

impl<F: Float> Tensor<F> {
    /// The value of the elementwise op `op` (what the generated twins of the unary table call).
    #[track_caller]
    #[inline]
    pub(crate) fn unary(&self, op: Unary<F>) -> Tensor<F> {
        Op::Unary(op).forward(&[self])
    }

    /// The value of the broadcasting binary op `op` (what the binary table's twins call).
    #[track_caller]
    #[inline]
    pub(crate) fn binary(&self, op: Binary, other: &Tensor<F>) -> Tensor<F> {
        Op::Binary(op).forward(&[self, other])
    }

    fn all_axes(&self) -> Axes {
        (0..self.rank()).collect()
    }

    /// Panics naming `op` when an axis is out of range. `Var`'s axis-list check would panic
    /// with the same message, but from inside a closure, which loses the caller's line.
    #[track_caller]
    fn check_axes(&self, op: &str, axes: &[isize]) {
        for &a in axes {
            norm_axis(op, a, self.rank());
        }
    }
}

impl<F: Float> Tensor<F> {
    /// `x^2` elementwise, as [`Var::square`] (the product `x * x`).
    ///
    /// ```
    /// use borel_autograd::Tensor;
    /// let y = Tensor::from_vec(vec![1.0f64, 2.0, 3.0], &[3]);
    /// let y_hat = Tensor::from_vec(vec![1.5, 2.0, 2.0], &[3]);
    /// assert_eq!((&y - &y_hat).square().sum().item(), 1.25);
    /// ```
    #[track_caller]
    pub fn square(&self) -> Tensor<F> {
        self.binary(Binary::Mul, self)
    }

    /// `a` where `mask != 0`, else `b`, all three broadcast together, as [`Var::where_`].
    ///
    /// ```
    /// use borel_autograd::Tensor;
    /// let x = Tensor::from_vec(vec![-2.0f64, 3.0], &[2]);
    /// let y = Tensor::where_(&x.gt(&Tensor::scalar(0.0)), &x, &(&x * 0.5));
    /// assert_eq!(y.data(), &[-1.0, 3.0]);
    /// ```
    #[track_caller]
    pub fn where_(mask: &Tensor<F>, a: &Tensor<F>, b: &Tensor<F>) -> Tensor<F> {
        Op::from(Where).forward(&[mask, a, b])
    }
}

impl<F: Float> Tensor<F> {
    /// Matrix product over the last two dims, leading (batch) dims broadcast, 1-D operands
    /// taken as vectors (PyTorch's `matmul`), as [`Var::matmul`]; panics naming both shapes
    /// when the inner dims differ.
    ///
    /// ```
    /// use borel_autograd::Tensor;
    /// // A Newton step x - H^-1 g.
    /// let x = Tensor::from_vec(vec![1.0f64, 1.0], &[2, 1]);
    /// let h_inv = Tensor::from_vec(vec![0.5, 0.0, 0.0, 0.25], &[2, 2]);
    /// let g = Tensor::from_vec(vec![2.0, 4.0], &[2, 1]);
    /// assert_eq!((&x - &h_inv.matmul(&g)).data(), &[0.0, 0.0]);
    /// ```
    #[track_caller]
    pub fn matmul(&self, other: &Tensor<F>) -> Tensor<F> {
        if self.rank() < 2 || other.rank() < 2 {
            return on_tape!(a = self, b = other => a.matmul(b));
        }
        Op::from(MatMul { ta: false, tb: false }).forward(&[self, other])
    }

    /// `self^T other` without materializing the transpose, as [`Var::t_matmul`].
    #[track_caller]
    pub fn t_matmul(&self, other: &Tensor<F>) -> Tensor<F> {
        Op::from(MatMul { ta: true, tb: false }).forward(&[self, other])
    }

    /// `self other^T` without materializing the transpose, as [`Var::matmul_t`].
    #[track_caller]
    pub fn matmul_t(&self, other: &Tensor<F>) -> Tensor<F> {
        Op::from(MatMul { ta: false, tb: true }).forward(&[self, other])
    }
}

impl<F: Float> Tensor<F> {
    /// Sum of all elements, as a rank-0 tensor, as [`Var::sum`].
    ///
    /// ```
    /// use borel_autograd::Tensor;
    /// let t = Tensor::<f32>::ones(&[2, 3]);
    /// assert_eq!(t.sum().shape(), &[] as &[usize]);
    /// assert_eq!(t.sum().item(), 6.0);
    /// ```
    #[track_caller]
    pub fn sum(&self) -> Tensor<F> {
        Op::from(Reduce::sum(self.all_axes(), false)).forward(&[self])
    }

    /// Sum over `axes` (negative counts from the end); `keepdim` keeps them with size 1, as
    /// [`Var::sum_axes`].
    ///
    /// ```
    /// use borel_autograd::Tensor;
    /// let t = Tensor::from_vec(vec![1.0f64, 2.0, 3.0, 4.0], &[2, 2]);
    /// assert_eq!(t.sum_axes(&[0], false).data(), &[4.0, 6.0]);
    /// assert_eq!(t.sum_axes(&[-1], true).shape(), &[2, 1]);
    /// ```
    #[track_caller]
    pub fn sum_axes(&self, axes: &[isize], keepdim: bool) -> Tensor<F> {
        self.check_axes("sum_axes", axes);
        on_tape!(x = self => x.sum_axes(axes, keepdim))
    }

    /// Mean of all elements, as a rank-0 tensor, as [`Var::mean`].
    ///
    /// ```
    /// use borel_autograd::Tensor;
    /// let t = Tensor::from_vec(vec![1.0f64, 2.0, 3.0, 6.0], &[2, 2]);
    /// assert_eq!(t.mean().item(), 3.0);
    /// ```
    #[track_caller]
    pub fn mean(&self) -> Tensor<F> {
        on_tape!(x = self => x.mean())
    }

    /// Mean over `axes`, as [`Var::mean_axes`].
    #[track_caller]
    pub fn mean_axes(&self, axes: &[isize], keepdim: bool) -> Tensor<F> {
        self.check_axes("mean_axes", axes);
        on_tape!(x = self => x.mean_axes(axes, keepdim))
    }

    /// Largest element, as a rank-0 tensor, as [`Var::max`]: NaN if any element is NaN (as in
    /// PyTorch), and a panic naming the op for an empty tensor.
    ///
    /// ```
    /// use borel_autograd::Tensor;
    /// assert_eq!(Tensor::from_vec(vec![1.0f32, 5.0, -2.0], &[3]).max().item(), 5.0);
    /// ```
    #[track_caller]
    pub fn max(&self) -> Tensor<F> {
        Op::from(Reduce::new(Kind::Max, self.all_axes(), false)).forward(&[self])
    }

    /// Largest element along `axes`, as [`Var::max_axes`].
    #[track_caller]
    pub fn max_axes(&self, axes: &[isize], keepdim: bool) -> Tensor<F> {
        self.check_axes("max_axes", axes);
        on_tape!(x = self => x.max_axes(axes, keepdim))
    }

    /// Smallest element, as a rank-0 tensor, as [`Var::min`] (NaN propagates, as in `max`).
    #[track_caller]
    pub fn min(&self) -> Tensor<F> {
        Op::from(Reduce::new(Kind::Min, self.all_axes(), false)).forward(&[self])
    }

    /// Smallest element along `axes`, as [`Var::min_axes`].
    #[track_caller]
    pub fn min_axes(&self, axes: &[isize], keepdim: bool) -> Tensor<F> {
        self.check_axes("min_axes", axes);
        on_tape!(x = self => x.min_axes(axes, keepdim))
    }
}

impl<F: Float> Tensor<F> {
    /// Index of the largest element along `axis` (negative counts from the end), for each
    /// position of the other dims in row-major order. As in PyTorch and NumPy, the first
    /// index wins on ties and a NaN counts as larger than any number (the first NaN wins).
    /// Panics when the axis is out of range or empty.
    ///
    /// ```
    /// use borel_autograd::Tensor;
    /// let scores = Tensor::from_vec(vec![0.1f32, 0.7, 0.2, 0.5, 0.5, 0.0], &[2, 3]);
    /// assert_eq!(scores.argmax(-1), vec![1, 0]);
    /// assert_eq!(scores.argmax(0), vec![1, 0, 0]);
    /// ```
    #[track_caller]
    pub fn argmax(&self, axis: isize) -> Vec<usize> {
        self.arg_extreme("argmax", axis, |v, best| v > best)
    }

    /// Index of the smallest element along `axis`, like [`Tensor::argmax`]: the first index
    /// wins on ties, and a NaN wins over any number (as in PyTorch and NumPy, where NaN
    /// propagates through both `min` and `max`).
    ///
    /// ```
    /// use borel_autograd::Tensor;
    /// let t = Tensor::from_vec(vec![3.0f64, 1.0, 1.0, f64::NAN, 0.0, 2.0], &[2, 3]);
    /// assert_eq!(t.argmin(1), vec![1, 0]);
    /// ```
    #[track_caller]
    pub fn argmin(&self, axis: isize) -> Vec<usize> {
        self.arg_extreme("argmin", axis, |v, best| v < best)
    }

    /// The index along `axis` of the element that `better` prefers, NaN before everything.
    #[track_caller]
    fn arg_extreme(&self, op: &str, axis: isize, better: impl Fn(F, F) -> bool) -> Vec<usize> {
        let shape = self.shape();
        let a = norm_axis(op, axis, shape.len());
        let n = shape[a];
        if n == 0 {
            panic!("{op}: cannot reduce over empty axis {a} of shape {shape:?}");
        }
        let outer: usize = shape[..a].iter().product();
        let inner: usize = shape[a + 1..].iter().product();
        let d = self.data();
        let is_nan = |v: F| v.to_f64().is_nan();
        let mut out = Vec::with_capacity(outer * inner);
        for o in 0..outer {
            for i in 0..inner {
                let at = |k: usize| d[(o * n + k) * inner + i];
                let mut best = 0;
                for k in 1..n {
                    if is_nan(at(best)) {
                        break;
                    }
                    if is_nan(at(k)) || better(at(k), at(best)) {
                        best = k;
                    }
                }
                out.push(best);
            }
        }
        out
    }

    /// A `[labels.len(), classes]` tensor with a 1 at `(i, labels[i])` and 0 elsewhere (the
    /// targets of categorical cross-entropy). Panics naming the label when one is not below
    /// `classes`.
    ///
    /// ```
    /// use borel_autograd::Tensor;
    /// let t = Tensor::<f32>::one_hot(&[2, 0], 3);
    /// assert_eq!(t.shape(), &[2, 3]);
    /// assert_eq!(t.data(), &[0.0, 0.0, 1.0, 1.0, 0.0, 0.0]);
    /// ```
    #[track_caller]
    pub fn one_hot(labels: &[usize], classes: usize) -> Tensor<F> {
        if let Some((i, &l)) = labels.iter().enumerate().find(|&(_, &l)| l >= classes) {
            panic!("one_hot: label {l} (at position {i}) is out of range for {classes} classes");
        }
        Tensor::from_fn(&[labels.len(), classes], |k| {
            if labels[k / classes] == k % classes {
                F::ONE
            } else {
                F::ZERO
            }
        })
    }
}

macro_rules! comparisons {
    ($($(#[$doc:meta])* $name:ident: $cmp:expr;)*) => {
        impl<F: Float> Tensor<F> {
            $(
                $(#[$doc])*
                /// Returns a tensor of 0s and 1s of the broadcast shape; panics naming the op
                /// and both shapes when they do not broadcast.
                #[track_caller]
                pub fn $name(&self, other: &Tensor<F>) -> Tensor<F> {
                    compare(stringify!($name), self, other, $cmp)
                }
            )*
        }
    };
}

comparisons! {
    /// `self > other` elementwise with broadcasting, as [`Var::gt`].
    ///
    /// ```
    /// use borel_autograd::Tensor;
    /// let t = Tensor::from_vec(vec![-1.0f32, 0.0, 2.0], &[3]);
    /// assert_eq!(t.gt(&Tensor::scalar(0.0)).data(), &[0.0, 0.0, 1.0]);
    /// ```
    gt: |x, y| x > y;
    /// `self >= other` elementwise with broadcasting, as [`Var::ge`].
    ge: |x, y| x >= y;
    /// `self < other` elementwise with broadcasting, as [`Var::lt`].
    lt: |x, y| x < y;
    /// `self <= other` elementwise with broadcasting, as [`Var::le`].
    le: |x, y| x <= y;
    /// `self == other` elementwise with broadcasting, as [`Var::eq`]. Named `eq_elem` because
    /// `Tensor`'s `eq` (from `PartialEq`) compares whole tensors and returns a `bool`.
    ///
    /// ```
    /// use borel_autograd::Tensor;
    /// let labels = Tensor::from_vec(vec![2.0f32, 0.0, 1.0], &[3]);
    /// let predicted = Tensor::from_vec(vec![2.0, 1.0, 1.0], &[3]);
    /// assert_eq!(labels.eq_elem(&predicted).mean().item(), 2.0 / 3.0); // accuracy
    /// ```
    eq_elem: |x, y| x == y;
}

/// Tensor-tensor operators in all four combinations of references and values; scalars on the
/// right for any `F`, on the left for `f32` and `f64` (coherence rules out a generic left
/// scalar). Tensor-tensor ops call the binary kernel; scalar ones run `Var`'s scalar operator.
macro_rules! tensor_binop {
    ($trait:ident, $method:ident, $op:ident) => {
        impl<F: Float> $trait<&Tensor<F>> for &Tensor<F> {
            type Output = Tensor<F>;
            #[track_caller]
            #[inline]
            fn $method(self, rhs: &Tensor<F>) -> Tensor<F> {
                self.binary(Binary::$op, rhs)
            }
        }
        impl<F: Float> $trait<Tensor<F>> for Tensor<F> {
            type Output = Tensor<F>;
            #[track_caller]
            #[inline]
            fn $method(self, rhs: Tensor<F>) -> Tensor<F> {
                $trait::$method(&self, &rhs)
            }
        }
        impl<F: Float> $trait<&Tensor<F>> for Tensor<F> {
            type Output = Tensor<F>;
            #[track_caller]
            #[inline]
            fn $method(self, rhs: &Tensor<F>) -> Tensor<F> {
                $trait::$method(&self, rhs)
            }
        }
        impl<F: Float> $trait<Tensor<F>> for &Tensor<F> {
            type Output = Tensor<F>;
            #[track_caller]
            #[inline]
            fn $method(self, rhs: Tensor<F>) -> Tensor<F> {
                $trait::$method(self, &rhs)
            }
        }
        impl<F: Float> $trait<F> for &Tensor<F> {
            type Output = Tensor<F>;
            #[track_caller]
            fn $method(self, rhs: F) -> Tensor<F> {
                on_tape!(x = self => $trait::$method(x, rhs))
            }
        }
        impl<F: Float> $trait<F> for Tensor<F> {
            type Output = Tensor<F>;
            #[track_caller]
            fn $method(self, rhs: F) -> Tensor<F> {
                $trait::$method(&self, rhs)
            }
        }
        tensor_binop!(@left $trait, $method, f32);
        tensor_binop!(@left $trait, $method, f64);
    };
    (@left $trait:ident, $method:ident, $f:ty) => {
        impl $trait<&Tensor<$f>> for $f {
            type Output = Tensor<$f>;
            #[track_caller]
            fn $method(self, rhs: &Tensor<$f>) -> Tensor<$f> {
                on_tape!(x = rhs => $trait::$method(self, x))
            }
        }
        impl $trait<Tensor<$f>> for $f {
            type Output = Tensor<$f>;
            #[track_caller]
            fn $method(self, rhs: Tensor<$f>) -> Tensor<$f> {
                $trait::$method(self, &rhs)
            }
        }
    };
}

tensor_binop!(Add, add, Add);
tensor_binop!(Sub, sub, Sub);
tensor_binop!(Mul, mul, Mul);
tensor_binop!(Div, div, Div);

impl<F: Float> Neg for &Tensor<F> {
    type Output = Tensor<F>;
    fn neg(self) -> Tensor<F> {
        on_tape!(x = self => -x)
    }
}

impl<F: Float> Neg for Tensor<F> {
    type Output = Tensor<F>;
    fn neg(self) -> Tensor<F> {
        -&self
    }
}
