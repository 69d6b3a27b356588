//! The composites of reductions and elementwise ops: logsumexp, softmax and log_softmax, each
//! shifted by the maximum so no exponential overflows. They have no backward of their own.

use crate::float::Float;
use crate::ops::reduce::{Kind, count, kept_shape, out_shape};
use crate::ops::{Axes, Family, Reduce};
use crate::shape::norm_axes;
use crate::tape::Var;
use crate::tensor::Tensor;

impl<'t, F: Float> Var<'t, F> {
    /// `log(sum(exp(x)))` of all elements, as a scalar, stable for large values.
    ///
    /// ```
    /// use borel_autograd::{Tape, Tensor};
    /// let tape = Tape::<f64>::new();
    /// let x = tape.var(Tensor::from_vec(vec![1000.0, 1000.0], &[2]));
    /// assert!((x.logsumexp().item() - (1000.0 + 2f64.ln())).abs() < 1e-9);
    /// assert_eq!(x.logsumexp().backward()[x].data(), &[0.5, 0.5]); // softmax
    /// ```
    #[track_caller]
    pub fn logsumexp(self) -> Var<'t, F> {
        let all: Vec<isize> = (0..self.shape().len() as isize).collect();
        self.logsumexp_named("logsumexp", &all, false)
    }

    /// `log(sum(exp(x)))` over `axes` (PyTorch's `logsumexp(dim, keepdim)`), stable for large
    /// values: the max is subtracted first (as a constant, which leaves the derivative,
    /// softmax, unchanged).
    ///
    /// ```
    /// use borel_autograd::{Tape, Tensor};
    /// let tape = Tape::<f64>::new();
    /// let x = tape.var(Tensor::from_vec(vec![1000.0, 1000.0, 0.0, 0.0], &[2, 2]));
    /// let l = x.logsumexp_axes(&[1], false).value();
    /// assert!((l.data()[0] - (1000.0 + 2f64.ln())).abs() < 1e-9);
    /// assert!((l.data()[1] - 2f64.ln()).abs() < 1e-12);
    /// ```
    #[track_caller]
    pub fn logsumexp_axes(self, axes: &[isize], keepdim: bool) -> Var<'t, F> {
        self.logsumexp_named("logsumexp_axes", axes, keepdim)
    }

    #[track_caller]
    fn logsumexp_named(self, op: &str, axes: &[isize], keepdim: bool) -> Var<'t, F> {
        let shape = self.shape();
        let ax = norm_axes(op, axes, shape.len());
        let (shifted, max) = self.minus_max(&ax);
        let s = shifted.exp().unary(Reduce::sum(ax.clone(), true)).log() + max;
        if keepdim {
            s
        } else {
            s.reshape(&out_shape(&shape, &ax, false))
        }
    }

    /// `x - max(x)` over `ax` (normalized), and that max as a constant: the shift that keeps
    /// `exp` from overflowing, and from rounding the small terms away when the max is large.
    /// A constant leaves every derivative unchanged, since softmax and friends are invariant
    /// to it. A non-finite max (or none, over an empty axis) shifts by 0, so infinities and
    /// NaNs propagate as in PyTorch.
    #[track_caller]
    fn minus_max(self, ax: &[usize]) -> (Var<'t, F>, Var<'t, F>) {
        let shape = self.shape();
        let max = if count(&shape, ax) == 0 {
            Tensor::zeros(&kept_shape(&shape, ax))
        } else {
            Family::<F>::forward(&Reduce::new(Kind::Max, Axes::from_slice(ax), true), &[&self.value()])
        };
        let max = self.tape.constant(max.map(|v| if v.is_finite() { v } else { F::ZERO }));
        (self - max, max)
    }

    /// `softmax` along `axis`: `exp(x - max) / sum(exp(x - max))`, as PyTorch computes it, so
    /// right for any finite logits (`[1e30, 1e30]` gives `[0.5, 0.5]` in f32 and f64).
    ///
    /// ```
    /// use borel_autograd::{Tape, Tensor};
    /// let tape = Tape::<f32>::new();
    /// let x = tape.var(Tensor::from_vec(vec![1.0, 2.0, 3.0], &[1, 3]));
    /// let p = x.softmax(-1).value();
    /// assert!((p.data().iter().sum::<f32>() - 1.0).abs() < 1e-6);
    /// let big = tape.var(Tensor::from_vec(vec![1e30, 1e30], &[2]));
    /// assert_eq!(big.softmax(0).value().data(), &[0.5, 0.5]);
    /// ```
    #[track_caller]
    pub fn softmax(self, axis: isize) -> Var<'t, F> {
        let ax = norm_axes("softmax", &[axis], self.shape().len());
        let e = self.minus_max(&ax).0.exp();
        e / e.unary(Reduce::sum(ax, true))
    }

    /// `log(softmax(x))` along `axis`, computed as PyTorch does,
    /// `(x - max) - log(sum(exp(x - max)))`: right for any finite logits, and never through
    /// the log of a rounded probability.
    ///
    /// ```
    /// use borel_autograd::{Tape, Tensor};
    /// let tape = Tape::<f64>::new();
    /// let x = tape.var(Tensor::from_vec(vec![0.0, 0.0], &[2]));
    /// assert_eq!(x.log_softmax(0).value().data(), &[-2f64.ln(), -2f64.ln()]);
    /// let big = tape.var(Tensor::from_vec(vec![1e30, 1e30], &[2]));
    /// assert_eq!(big.log_softmax(0).value().data(), &[-2f64.ln(), -2f64.ln()]);
    /// ```
    #[track_caller]
    pub fn log_softmax(self, axis: isize) -> Var<'t, F> {
        let ax = norm_axes("log_softmax", &[axis], self.shape().len());
        let shifted = self.minus_max(&ax).0;
        shifted - shifted.exp().unary(Reduce::sum(ax, true)).log()
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::testing::*;

    op_props! {
        logsumexp_axes((x, axes, keep) in with_axes()) for [x] => |v| v[0].logsumexp_axes(&axes, keep);
        logsumexp(x in any_values(0, 3)) for [x] => |v| v[0].logsumexp();
        softmax((x, axis) in (any_values(1, 3), -1isize..=0)) for [x] => |v| v[0].softmax(axis);
        log_softmax((x, axis) in (any_values(1, 3), -1isize..=0)) for [x] => |v| v[0].log_softmax(axis);
    }
}
