//! Reductions over all elements or chosen axes: the primitives sum, max and min, and the
//! composite mean, which has no backward of its own (logsumexp and softmax are in
//! `softmax.rs`).
//!
//! `max`/`min` split the gradient equally between tied extremes, as PyTorch's `amax` does.

use std::borrow::Cow;

use crate::float::Float;
use crate::ops::{Axes, EngineExt, Family, Grads, kernels};
use crate::shape::{Shape, norm_axes};
use crate::tape::{Engine, Var};
use crate::tensor::Tensor;

/// Which reduction a node computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Sum,
    Max,
    Min,
}

/// A reduction over `axes` (normalized, sorted); `keepdim` keeps them with size 1.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Reduce {
    kind: Kind,
    axes: Axes,
    keepdim: bool,
}

impl Reduce {
    pub(crate) fn new(kind: Kind, axes: Axes, keepdim: bool) -> Self {
        Reduce { kind, axes, keepdim }
    }

    pub(crate) fn sum(axes: Axes, keepdim: bool) -> Self {
        Self::new(Kind::Sum, axes, keepdim)
    }
}

impl<F: Float> Family<F> for Reduce {
    fn name(&self) -> Cow<'static, str> {
        Cow::Borrowed(match self.kind {
            Kind::Sum => "sum",
            Kind::Max => "max",
            Kind::Min => "min",
        })
    }

    #[track_caller]
    fn forward(&self, x: &[&Tensor<F>]) -> Tensor<F> {
        let r = match self.kind {
            Kind::Sum => sum_forward(x[0], &self.axes),
            Kind::Max => extreme_forward(x[0], &self.axes, true),
            Kind::Min => extreme_forward(x[0], &self.axes, false),
        };
        r.reshape(&out_shape(x[0].shape(), &self.axes, self.keepdim))
    }

    fn backward<E: Engine<F>>(&self, e: &E, x: &[&E::V], y: &E::V, g: E::V, _: &[bool]) -> Grads<E::V> {
        let d = match self.kind {
            Kind::Sum => sum_backward(e, x[0], &self.axes, &g),
            Kind::Max | Kind::Min => extreme_backward(e, x[0], y, &self.axes, &g),
        };
        smallvec::smallvec![Some(d)]
    }

    /// A sum is linear: the sum of the tangent. `max`/`min`: the tangent at the extremes,
    /// split between ties with the weights of the backward rule.
    fn tangent<E: Engine<F>>(&self, e: &E, x: &[&E::V], y: &E::V, dx: &[Option<E::V>]) -> Option<E::V> {
        let d = dx[0].as_ref()?;
        let sum = Reduce::sum(self.axes.clone(), self.keepdim);
        match self.kind {
            Kind::Sum => Some(e.apply(sum.into(), &[d])),
            Kind::Max | Kind::Min => {
                let w = extreme_weight(&e.value(x[0]), &e.value(y), &self.axes);
                Some(e.apply(sum.into(), &[&e.mul_const(d, w)]))
            }
        }
    }
}

fn flags(rank: usize, axes: &[usize]) -> smallvec::SmallVec<[bool; 4]> {
    (0..rank).map(|i| axes.contains(&i)).collect()
}

pub(super) fn out_shape(shape: &[usize], axes: &[usize], keepdim: bool) -> Shape {
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

/// The shape with the reduced axes kept at size 1.
pub(super) fn kept_shape(shape: &[usize], axes: &[usize]) -> Shape {
    out_shape(shape, axes, true)
}

/// Number of elements reduced into each output element.
pub(super) fn count(shape: &[usize], axes: &[usize]) -> usize {
    axes.iter().map(|&a| shape[a]).product()
}

// ---- sum (mean) -------------------------------------------------------------------------

/// Pairwise, so f32 sums of millions of terms stay accurate (see `kernels::sum`); a sum over
/// an empty axis is 0, as in PyTorch.
fn sum_forward<F: Float>(x: &Tensor<F>, axes: &[usize]) -> Tensor<F> {
    kernels::sum(x, &flags(x.rank(), axes))
}

/// The gradient of a sum is the output gradient broadcast back over the summed axes.
fn sum_backward<F: Float, E: Engine<F>>(e: &E, x: &E::V, axes: &[usize], g: &E::V) -> E::V {
    let xs = e.shape(x);
    let g = e.reshape(g, kept_shape(&xs, axes));
    e.broadcast_to(&g, &xs)
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
    /// assert_eq!(x.sum().backward()[x].data(), &[1.0; 6]);
    /// ```
    #[track_caller]
    pub fn sum(self) -> Var<'t, F> {
        self.unary(Reduce::sum(self.all_axes(), false))
    }

    /// Sum over `axes` (negative counts from the end); `keepdim` keeps them with size 1
    /// (PyTorch's `sum(dim, keepdim)`).
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
        let axes = norm_axes("sum_axes", axes, self.shape().len());
        self.unary(Reduce::sum(axes, keepdim))
    }

    /// Mean of all elements, as a scalar.
    ///
    /// ```
    /// use borel_autograd::{Tape, Tensor};
    /// let tape = Tape::<f64>::new();
    /// let x = tape.var(Tensor::from_vec(vec![1.0, 2.0, 3.0, 6.0], &[2, 2]));
    /// assert_eq!(x.mean().item(), 3.0);
    /// assert_eq!(x.mean().backward()[x].data(), &[0.25; 4]);
    /// ```
    #[track_caller]
    pub fn mean(self) -> Var<'t, F> {
        // From the shape, not the value: reading a value would refuse a captured step.
        let n: usize = self.shape().iter().product();
        self.sum() * F::from_f64(1.0 / n as f64)
    }

    /// Mean over `axes` (PyTorch's `mean(dim, keepdim)`).
    ///
    /// ```
    /// use borel_autograd::{Tape, Tensor};
    /// let tape = Tape::<f64>::new();
    /// let x = tape.var(Tensor::from_vec(vec![1.0, 2.0, 3.0, 6.0], &[2, 2]));
    /// assert_eq!(x.mean_axes(&[1], false).value().data(), &[1.5, 4.5]);
    /// ```
    #[track_caller]
    pub fn mean_axes(self, axes: &[isize], keepdim: bool) -> Var<'t, F> {
        let shape = self.shape();
        let n = count(&shape, &norm_axes("mean_axes", axes, shape.len()));
        self.sum_axes(axes, keepdim) * F::from_f64(1.0 / n as f64)
    }
}

impl<'t, F: Float> Var<'t, F> {
    /// Sums down to `shape`, a shape that broadcasts to this var's: the reverse of
    /// broadcasting, what a backward written by hand needs for a broadcast operand (PyTorch's
    /// `sum_to_size`).
    ///
    /// ```
    /// use borel_autograd::{Tape, Tensor};
    /// let tape = Tape::<f32>::new();
    /// let x = tape.var(Tensor::ones(&[2, 3]));
    /// assert_eq!(x.sum_to_size(&[1, 3]).value().data(), &[2.0, 2.0, 2.0]);
    /// assert_eq!(x.sum_to_size(&[]).item(), 6.0);
    /// ```
    #[track_caller]
    pub fn sum_to_size(self, shape: &[usize]) -> Var<'t, F> {
        let from = self.shape();
        match crate::shape::broadcast_shapes(shape, &from) {
            Some(s) if s.as_slice() == from.as_slice() => {}
            _ => panic!("sum_to_size: shape {:?} cannot be summed to {shape:?}", from.as_slice()),
        }
        let off = from.len() - shape.len();
        let axes: Axes = (0..from.len())
            .filter(|&i| i < off || (shape[i - off] == 1 && from[i] != 1))
            .collect();
        let summed = if axes.is_empty() {
            self
        } else {
            self.unary(Reduce::sum(axes, true))
        };
        summed.reshape(shape)
    }
}

// ---- max, min ---------------------------------------------------------------------------

/// Panics naming `op` when one of `axes` is empty: a max or min of nothing has no value
/// (PyTorch raises too; a sum of nothing is 0).
#[track_caller]
fn check_nonempty(op: &str, shape: &[usize], axes: &[usize]) {
    if let Some(&a) = axes.iter().find(|&&a| shape[a] == 0) {
        panic!("{op}: cannot reduce over empty axis {a} of shape {shape:?}");
    }
}

/// NaN propagates, as in PyTorch: once the running extreme is NaN no number replaces it, and
/// a NaN replaces any number.
#[track_caller]
fn extreme_forward<F: Float>(x: &Tensor<F>, axes: &[usize], max: bool) -> Tensor<F> {
    check_nonempty(if max { "max" } else { "min" }, x.shape(), axes);
    let flags = flags(x.rank(), axes);
    if max {
        kernels::reduce(x, &flags, F::from_f64(f64::NEG_INFINITY), |a, b| {
            if b > a || b.is_nan() { b } else { a }
        })
    } else {
        kernels::reduce(x, &flags, F::from_f64(f64::INFINITY), |a, b| {
            if b < a || b.is_nan() { b } else { a }
        })
    }
}

/// `dx = g [x == y] / count(ties)`, broadcast back over the reduced axes; where the extreme
/// is NaN, the NaNs share the gradient (PyTorch's `evenly_distribute_backward`).
fn extreme_backward<F: Float, E: Engine<F>>(e: &E, x: &E::V, y: &E::V, axes: &[usize], g: &E::V) -> E::V {
    let xv = e.value(x);
    let weight = extreme_weight(&xv, &e.value(y), axes);
    let g = e.reshape(g, kept_shape(xv.shape(), axes));
    e.mul_const(&e.broadcast_to(&g, xv.shape()), weight)
}

/// The share of each element of `x` in its extreme `y`: 1 over the number of ties where it is
/// the extreme, 0 elsewhere (of `x`'s shape).
fn extreme_weight<F: Float>(x: &Tensor<F>, y: &Tensor<F>, axes: &[usize]) -> Tensor<F> {
    let yk = y.reshape(&kept_shape(x.shape(), axes));
    let hit = kernels::zip("max", x, &yk, |a, b| {
        if a == b || (a.is_nan() && b.is_nan()) {
            F::ONE
        } else {
            F::ZERO
        }
    });
    let ties = kernels::reduce(&hit, &flags(x.rank(), axes), F::ZERO, |a, b| a + b);
    kernels::zip("max", &hit, &ties, |h, c| h / c)
}

impl<'t, F: Float> Var<'t, F> {
    /// Largest element, as a scalar.
    ///
    /// ```
    /// use borel_autograd::{Tape, Tensor};
    /// let tape = Tape::<f32>::new();
    /// let x = tape.var(Tensor::from_vec(vec![1.0, 5.0, -2.0], &[3]));
    /// assert_eq!(x.max().item(), 5.0);
    /// assert_eq!(x.max().backward()[x].data(), &[0.0, 1.0, 0.0]);
    /// ```
    #[track_caller]
    pub fn max(self) -> Var<'t, F> {
        check_nonempty("max", &self.shape(), &self.all_axes());
        self.unary(Reduce::new(Kind::Max, self.all_axes(), false))
    }

    /// Largest element along `axes` (PyTorch's `amax`); tied maxima share the gradient equally.
    ///
    /// ```
    /// use borel_autograd::{Tape, Tensor};
    /// let tape = Tape::<f32>::new();
    /// let x = tape.var(Tensor::from_vec(vec![1.0, 5.0, 7.0, -2.0], &[2, 2]));
    /// assert_eq!(x.max_axes(&[1], false).value().data(), &[5.0, 7.0]);
    /// ```
    #[track_caller]
    pub fn max_axes(self, axes: &[isize], keepdim: bool) -> Var<'t, F> {
        let axes = norm_axes("max_axes", axes, self.shape().len());
        check_nonempty("max_axes", &self.shape(), &axes);
        self.unary(Reduce::new(Kind::Max, axes, keepdim))
    }

    /// Smallest element, as a scalar.
    ///
    /// ```
    /// use borel_autograd::{Tape, Tensor};
    /// let tape = Tape::<f32>::new();
    /// let x = tape.var(Tensor::from_vec(vec![1.0, 5.0, -2.0], &[3]));
    /// assert_eq!(x.min().item(), -2.0);
    /// ```
    #[track_caller]
    pub fn min(self) -> Var<'t, F> {
        check_nonempty("min", &self.shape(), &self.all_axes());
        self.unary(Reduce::new(Kind::Min, self.all_axes(), false))
    }

    /// Smallest element along `axes` (PyTorch's `amin`); tied minima share the gradient equally.
    ///
    /// ```
    /// use borel_autograd::{Tape, Tensor};
    /// let tape = Tape::<f32>::new();
    /// let x = tape.var(Tensor::from_vec(vec![1.0, 5.0, 7.0, -2.0], &[2, 2]));
    /// assert_eq!(x.min_axes(&[0], false).value().data(), &[1.0, -2.0]);
    /// ```
    #[track_caller]
    pub fn min_axes(self, axes: &[isize], keepdim: bool) -> Var<'t, F> {
        let axes = norm_axes("min_axes", axes, self.shape().len());
        check_nonempty("min_axes", &self.shape(), &axes);
        self.unary(Reduce::new(Kind::Min, axes, keepdim))
    }
}

// ---- argmax, argmin: no gradient ----------------------------------------------------------

impl<'t, F: Float> Var<'t, F> {
    /// Index of the largest element along `axis`, for each position of the other dims in
    /// row-major order, as [`Tensor::argmax`]: the first index wins on ties and a NaN counts
    /// as the largest. An index has no gradient.
    ///
    /// ```
    /// use borel_autograd::{Tape, Tensor};
    /// let tape = Tape::<f32>::new();
    /// let logits = tape.var(Tensor::from_vec(vec![0.1, 0.7, 0.2, 0.5, 0.5, 0.0], &[2, 3]));
    /// assert_eq!(logits.argmax(-1), vec![1, 0]);
    /// ```
    #[track_caller]
    pub fn argmax(self, axis: isize) -> Vec<usize> {
        self.value().argmax(axis)
    }

    /// Index of the smallest element along `axis`, as [`Tensor::argmin`] (first index on ties,
    /// a NaN wins). An index has no gradient.
    ///
    /// ```
    /// use borel_autograd::{Tape, Tensor};
    /// let tape = Tape::<f32>::new();
    /// let x = tape.var(Tensor::from_vec(vec![3.0, 1.0, 2.0], &[3]));
    /// assert_eq!(x.argmin(0), vec![1]);
    /// ```
    #[track_caller]
    pub fn argmin(self, axis: isize) -> Vec<usize> {
        self.value().argmin(axis)
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::testing::*;

    /// The sum over `axes` by a plain loop in f64: the reference for the pairwise kernel.
    fn naive_sum(x: &Tensor<f64>, axes: &[usize]) -> Vec<f64> {
        let s = x.shape();
        let kept: Vec<usize> = (0..s.len()).map(|d| if axes.contains(&d) { 1 } else { s[d] }).collect();
        let mut out = vec![0.0; kept.iter().product()];
        for (i, &v) in x.data().iter().enumerate() {
            let (mut rest, mut o) = (i, 0);
            let mut stride = 1;
            for d in (0..s.len()).rev() {
                let k = rest % s[d];
                rest /= s[d];
                o += if axes.contains(&d) { 0 } else { k * stride };
                stride *= kept[d];
            }
            out[o] += v;
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Every layout of reduced and kept axes, with dims long enough to cross the kernel's
        /// sequential blocks, sums to what a plain loop gives.
        #[test]
        fn sum_matches_a_plain_loop(
            (x, axes) in prop::collection::vec(1usize..40, 1..=4)
                .prop_flat_map(|s| {
                    let r = s.len();
                    (values_of(s, -1.0, 1.0), prop::sample::subsequence((0..r).collect::<Vec<_>>(), 0..=r))
                })
        ) {
            let flags: Vec<bool> = (0..x.rank()).map(|d| axes.contains(&d)).collect();
            let got = crate::ops::kernels::sum(&x, &flags);
            for (g, w) in got.data().iter().zip(naive_sum(&x, &axes)) {
                prop_assert!((g - w).abs() <= 1e-12 * (1.0 + w.abs()), "{} vs {}", g, w);
            }
        }
    }

    #[test]
    fn f32_sums_are_pairwise() {
        let ones = Tensor::<f32>::ones(&[1 << 25]);
        assert_eq!(ones.sum().item(), 33_554_432.0);
        // Down rows too: 2^25 ones in one column, and in 2 x 2^24.
        assert_eq!(ones.reshape(&[1 << 25, 1]).sum_axes(&[0], false).item(), 33_554_432.0);
        assert_eq!(
            ones.reshape(&[2, 1 << 24]).sum_axes(&[1], false).data(),
            &[16_777_216.0; 2]
        );
        let tenths = Tensor::<f32>::full(&[10_000_000], 0.1);
        let tape = Tape::<f32>::new();
        let mean = tape.var(tenths.clone()).mean().item() as f64;
        assert!((mean - 0.1).abs() <= 1e-6 * 0.1, "mean of 10^7 tenths: {mean}");
        let cols = tape.var(tenths.reshape(&[10_000_000, 1])).mean_axes(&[0], false).item() as f64;
        assert!((cols - 0.1).abs() <= 1e-6 * 0.1, "mean down 10^7 rows: {cols}");
    }

    #[test]
    fn max_and_min_propagate_nan() {
        let nan = f32::NAN;
        let tape = Tape::<f32>::new();
        let x = tape.var(Tensor::from_vec(vec![1.0, nan, 3.0, 4.0, 5.0, 6.0], &[2, 3]));
        assert!(x.max().item().is_nan() && x.min().item().is_nan());
        let rows = x.max_axes(&[1], false).value();
        assert!(rows.data()[0].is_nan());
        assert_eq!(rows.data()[1], 6.0);
        assert!(x.min_axes(&[0], false).value().data()[1].is_nan());
        // The NaN takes the gradient of the NaN maximum (PyTorch's evenly_distribute_backward).
        assert_eq!(x.max().backward()[x].data(), &[0.0, 1.0, 0.0, 0.0, 0.0, 0.0]);
    }

    #[test]
    fn reductions_over_an_empty_axis_follow_pytorch() {
        let tape = Tape::<f64>::new();
        let x = tape.var(Tensor::zeros(&[2, 0]));
        assert_eq!(x.sum_axes(&[1], false).value().data(), &[0.0, 0.0]);
        assert_eq!(x.sum().item(), 0.0);
        assert!(x.mean_axes(&[1], false).value().data().iter().all(|v| v.is_nan()));
        assert_eq!(x.logsumexp_axes(&[1], false).value().data(), &[f64::NEG_INFINITY; 2]);
        assert_eq!(x.softmax(1).shape().as_slice(), &[2, 0]);
        assert_eq!(x.max_axes(&[0], false).shape().as_slice(), &[0]);
        let g = (x.sum() + x.logsumexp_axes(&[1], false).exp().sum()).backward();
        assert_eq!(g[x].shape(), &[2, 0]);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(CASES))]

        /// argmax/argmin pick an index whose value is the max/min of its row, the first such.
        #[test]
        fn argmax_argmin_pick_the_first_extreme(x in any_values(1, 3), axis in -1isize..=0) {
            let tape = Tape::<f64>::new();
            let v = tape.var(x.clone());
            let (hi, lo) = (v.max_axes(&[axis], false).value(), v.min_axes(&[axis], false).value());
            let a = if axis < 0 { x.rank() - 1 } else { 0 };
            // The reduced axis moved last, the others kept in order: one row per output.
            let perm: Vec<usize> = (0..x.rank()).filter(|&d| d != a).chain([a]).collect();
            let rows = v.permute(&perm).value();
            let n = x.shape()[a];
            for (r, (&i, &j)) in v.argmax(axis).iter().zip(&v.argmin(axis)).enumerate() {
                let row = &rows.data()[r * n..(r + 1) * n];
                prop_assert_eq!(row[i], hi.data()[r]);
                prop_assert_eq!(row[j], lo.data()[r]);
                prop_assert!(row[..i].iter().all(|&e| e < row[i]) && row[..j].iter().all(|&e| e > row[j]));
            }
        }
    }

    op_props! {
        sum((x, axes, keep) in with_axes()) for [x] => |v| v[0].sum_axes(&axes, keep).sin() + v[0].sum().sin();
        sum_to_size((a, b) in broadcast_values((-2.0, 2.0), (-2.0, 2.0))) for [a, b] => |v| {
            let out = crate::shape::broadcast_shapes(a.shape(), b.shape()).unwrap();
            (v[0] * v[1]).broadcast_to(&out).sum_to_size(b.shape()).sin()
        };
        mean((x, axes, keep) in with_axes()) for [x] => |v| v[0].mean_axes(&axes, keep).sin() + v[0].mean().sin();
        max((x, axes, keep) in with_axes()) for [x] => |v| v[0].max_axes(&axes, keep).sin() + v[0].max().square();
        min((x, axes, keep) in with_axes()) for [x] => |v| v[0].min_axes(&axes, keep).sin() + v[0].min().square();
    }
}
