//! The `Tensor` twins of `Var`'s indexing, shape and composite ops: a column `x[:, 0]` is
//! `x.select(1, 0)`, a row range `x[10:20]` is `x.slice(0, 10, 20)`, every other row
//! `x[::2]` is `x.slice_step(0, 0, n, 2)`, `torch.stack`/`torch.cat` are [`Tensor::stack`] and
//! [`Tensor::concat`].
//!
//! Each twin runs its `Var` method on a constant of a scratch tape, so there is one copy of
//! each op: the same kernel, the same checks, the same panics at the caller's line.
//!
//! ```
//! use borel_autograd::{Tensor, tensor};
//! let x = tensor![[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]];
//! assert_eq!(x.select(1, 0).data(), &[1.0, 3.0, 5.0]); // x[:, 0]
//! assert_eq!(x.slice(0, 1, 3).data(), &[3.0, 4.0, 5.0, 6.0]); // x[1:3]
//! assert_eq!(x.slice_step(0, 0, 3, 2).data(), &[1.0, 2.0, 5.0, 6.0]); // x[::2]
//! let (a, b) = (x.select(1, 0), x.select(1, 1));
//! assert_eq!(Tensor::stack(&[&b, &a], 1), tensor![[2.0, 1.0], [4.0, 3.0], [6.0, 5.0]]);
//! ```

use std::borrow::Borrow;

use crate::LinalgError;
use crate::float::Float;
use crate::tape::{Tape, Var};
use crate::tensor::Tensor;
use crate::tensor_math::on_tape;

/// For each listed `Var` method taking `self` and plain arguments, a `Tensor` method of the
/// same name and arguments that runs it on a scratch tape.
macro_rules! twins {
    ($($(#[$doc:meta])* $name:ident($($arg:ident: $ty:ty),*);)*) => {
        impl<F: Float> Tensor<F> {
            $(
                $(#[$doc])*
                #[track_caller]
                pub fn $name(&self $(, $arg: $ty)*) -> Tensor<F> {
                    on_tape!(x = self => x.$name($($arg),*))
                }
            )*
        }
    };
}

twins! {
    /// Every entry of `start..end` along `axis` (negative counts from the end): PyTorch's
    /// `x[..., start:end]` on that axis, as [`Var::slice`].
    ///
    /// ```
    /// use borel_autograd::tensor;
    /// let x = tensor![[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]];
    /// assert_eq!(x.slice(1, 1, 3).data(), &[2.0, 3.0, 5.0, 6.0]); // x[:, 1:3]
    /// ```
    slice(axis: isize, start: usize, end: usize);
    /// Every `step`-th entry of `start..end` along `axis`: `x[start:end:step]` on that axis,
    /// as [`Var::slice_step`].
    ///
    /// ```
    /// use borel_autograd::Tensor;
    /// assert_eq!(Tensor::<f32>::arange(7).slice_step(0, 1, 7, 3).data(), &[1.0, 4.0]);
    /// ```
    slice_step(axis: isize, start: usize, end: usize, step: usize);
    /// The entry `index` along `axis`, that axis removed (negative counts from the end):
    /// PyTorch's `select`, `x[:, i]` for axis 1, as [`Var::select`].
    ///
    /// ```
    /// use borel_autograd::tensor;
    /// let x = tensor![[1.0, 2.0], [3.0, 4.0]];
    /// assert_eq!(x.select(1, 0).data(), &[1.0, 3.0]); // x[:, 0]
    /// assert_eq!(x.select(0, -1).data(), &[3.0, 4.0]); // x[-1]
    /// ```
    select(axis: isize, index: isize);
    /// Entries along `axis` by position, repeats allowed (PyTorch's `index_select`, NumPy's
    /// `x[idx]`), as [`Var::index_select`].
    ///
    /// ```
    /// use borel_autograd::tensor;
    /// let x = tensor![[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]];
    /// assert_eq!(x.index_select(0, &[2, 0]).data(), &[5.0, 6.0, 1.0, 2.0]);
    /// ```
    index_select(axis: isize, index: &[usize]);
    /// PyTorch's `gather`, as [`Var::gather`]: `index` of shape `index_shape` picks along
    /// `axis` at every position.
    ///
    /// ```
    /// use borel_autograd::tensor;
    /// let scores = tensor![[0.1, 0.9], [0.8, 0.2]];
    /// assert_eq!(scores.gather(1, &[1, 0], &[2, 1]).data(), &[0.9, 0.8]);
    /// ```
    gather(axis: isize, index: &[usize], index_shape: &[usize]);
    /// Swaps two axes, as [`Var::transpose`].
    ///
    /// ```
    /// use borel_autograd::tensor;
    /// assert_eq!(tensor![[1.0, 2.0]].transpose(0, 1).shape(), &[2, 1]);
    /// ```
    transpose(a: isize, b: isize);
    /// The transpose of the last two axes, as [`Var::t`].
    ///
    /// ```
    /// use borel_autograd::tensor;
    /// assert_eq!(tensor![[1.0, 2.0], [3.0, 4.0]].t(), tensor![[1.0, 3.0], [2.0, 4.0]]);
    /// ```
    t();
    /// Reorders the axes (`perm[i]` is the input axis that becomes axis `i`), as
    /// [`Var::permute`].
    ///
    /// ```
    /// use borel_autograd::{Tensor, tensor};
    /// assert_eq!(Tensor::<f32>::zeros(&[2, 3, 4]).permute(&[2, 0, 1]).shape(), &[4, 2, 3]);
    /// ```
    permute(perm: &[usize]);
    /// Removes an axis of size 1, as [`Var::squeeze`].
    ///
    /// ```
    /// use borel_autograd::{Tensor, tensor};
    /// assert_eq!(Tensor::<f32>::zeros(&[3, 1]).squeeze(1).shape(), &[3]);
    /// ```
    squeeze(axis: isize);
    /// Inserts an axis of size 1 (`x[:, None]` for axis 1), as [`Var::unsqueeze`].
    ///
    /// ```
    /// use borel_autograd::tensor;
    /// assert_eq!(tensor![1.0, 2.0].unsqueeze(1).shape(), &[2, 1]);
    /// ```
    unsqueeze(axis: isize);
    /// `[n, everything else]`, as [`Var::flatten`].
    ///
    /// ```
    /// use borel_autograd::{Tensor, tensor};
    /// assert_eq!(Tensor::<f32>::zeros(&[8, 2, 3]).flatten().shape(), &[8, 6]);
    /// ```
    flatten();
    /// Repeats along axes of size 1 to `shape` (NumPy broadcasting), as [`Var::broadcast_to`].
    ///
    /// ```
    /// use borel_autograd::tensor;
    /// assert_eq!(tensor![1.0, 2.0].broadcast_to(&[2, 2]).data(), &[1.0, 2.0, 1.0, 2.0]);
    /// ```
    broadcast_to(shape: &[usize]);
    /// Zeros around along `axis`, as [`Var::pad`].
    ///
    /// ```
    /// use borel_autograd::tensor;
    /// assert_eq!(tensor![1.0, 2.0].pad(0, 1, 2).data(), &[0.0, 1.0, 2.0, 0.0, 0.0]);
    /// ```
    pad(axis: isize, before: usize, after: usize);
    /// Sums axes away until the shape is `shape` (the adjoint of broadcasting), as
    /// [`Var::sum_to_size`].
    ///
    /// ```
    /// use borel_autograd::tensor;
    /// assert_eq!(tensor![[1.0, 2.0], [3.0, 4.0]].sum_to_size(&[1, 2]).data(), &[4.0, 6.0]);
    /// ```
    sum_to_size(shape: &[usize]);
    /// `log(sum(exp(x)))` of all elements, computed stably, as [`Var::logsumexp`].
    ///
    /// ```
    /// use borel_autograd::tensor;
    /// assert_eq!(tensor![0.0, 0.0].logsumexp().item(), 2f64.ln());
    /// ```
    logsumexp();
    /// `logsumexp` over `axes`, as [`Var::logsumexp_axes`].
    ///
    /// ```
    /// use borel_autograd::tensor;
    /// assert_eq!(tensor![[0.0, 0.0], [1.0, 1.0]].logsumexp_axes(&[1], false).data(), &[2f64.ln(), 1.0 + 2f64.ln()]);
    /// ```
    logsumexp_axes(axes: &[isize], keepdim: bool);
    /// Softmax along `axis`, as [`Var::softmax`].
    ///
    /// ```
    /// use borel_autograd::tensor;
    /// let p = tensor![[0.0, 0.0], [0.0, 2f64.ln()]].softmax(-1);
    /// assert!(p.max_abs_diff(&tensor![[0.5, 0.5], [1.0 / 3.0, 2.0 / 3.0]]) < 1e-15);
    /// ```
    softmax(axis: isize);
    /// `log(softmax(x))` along `axis`, computed stably, as [`Var::log_softmax`].
    ///
    /// ```
    /// use borel_autograd::tensor;
    /// assert_eq!(tensor![0.0, 0.0].log_softmax(0).data(), &[-(2f64.ln()), -(2f64.ln())]);
    /// ```
    log_softmax(axis: isize);
    /// Leaky ReLU, as [`Var::leaky_relu`].
    ///
    /// ```
    /// use borel_autograd::tensor;
    /// assert_eq!(tensor![-2.0, 3.0].leaky_relu(0.5).data(), &[-1.0, 3.0]);
    /// ```
    leaky_relu(alpha: F);
    /// ELU, as [`Var::elu`].
    ///
    /// ```
    /// use borel_autograd::tensor;
    /// assert_eq!(tensor![0.0, 2.0].elu(1.0).data(), &[0.0, 2.0]);
    /// ```
    elu(alpha: F);
    /// GELU (exact, with erf), as [`Var::gelu`].
    ///
    /// ```
    /// use borel_autograd::tensor;
    /// assert_eq!(tensor![0.0].gelu().item(), 0.0);
    /// ```
    gelu();
    /// GELU's tanh approximation, as [`Var::gelu_tanh`].
    ///
    /// ```
    /// use borel_autograd::tensor;
    /// let x = tensor![1.0f64];
    /// assert!((x.gelu_tanh().item() - x.gelu().item()).abs() < 1e-3);
    /// ```
    gelu_tanh();
    /// The inverse of each square matrix (batched over leading dims), as [`Var::inv`]; panics
    /// on a singular matrix ([`Tensor::inv_ex`] returns the error instead).
    ///
    /// ```
    /// use borel_autograd::tensor;
    /// assert_eq!(tensor![[2.0, 0.0], [0.0, 4.0]].inv(), tensor![[0.5, 0.0], [0.0, 0.25]]);
    /// ```
    inv();
    /// The determinant of each square matrix, as [`Var::det`].
    ///
    /// ```
    /// use borel_autograd::tensor;
    /// assert_eq!(tensor![[2.0, 1.0], [1.0, 3.0]].det().item(), 5.0);
    /// ```
    det();
    /// The lower Cholesky factor of each symmetric positive-definite matrix, as
    /// [`Var::cholesky`].
    ///
    /// ```
    /// use borel_autograd::tensor;
    /// assert_eq!(tensor![[4.0, 2.0], [2.0, 2.0]].cholesky(), tensor![[2.0, 0.0], [1.0, 1.0]]);
    /// ```
    cholesky();
    /// SiLU (swish), `x sigmoid(x)`, as [`Var::silu`].
    ///
    /// ```
    /// use borel_autograd::tensor;
    /// assert_eq!(tensor![0.0].silu().item(), 0.0);
    /// ```
    silu();
}

impl<F: Float> Tensor<F> {
    /// The dot product of two 1-D tensors, as [`Var::dot`].
    ///
    /// ```
    /// use borel_autograd::tensor;
    /// assert_eq!(tensor![1.0, 2.0].dot(&tensor![3.0, 4.0]).item(), 11.0);
    /// ```
    #[track_caller]
    pub fn dot(&self, other: &Tensor<F>) -> Tensor<F> {
        on_tape!(a = self, b = other => a.dot(b))
    }

    /// Joins tensors along an existing `axis` (PyTorch's `cat`), as [`Var::concat`]; takes
    /// tensors or references to them. Panics naming the shapes when they differ outside
    /// `axis`.
    ///
    /// ```
    /// use borel_autograd::{Tensor, tensor};
    /// let a = tensor![[1.0, 2.0]];
    /// let b = tensor![[3.0, 4.0], [5.0, 6.0]];
    /// assert_eq!(Tensor::concat(&[&a, &b], 0).shape(), &[3, 2]);
    /// assert_eq!(Tensor::concat(&[a.clone(), a], 1).data(), &[1.0, 2.0, 1.0, 2.0]);
    /// ```
    #[track_caller]
    pub fn concat<T: Borrow<Tensor<F>>>(xs: &[T], axis: isize) -> Tensor<F> {
        let tape = Tape::new();
        let vars = constants(&tape, xs);
        Var::concat(&vars, axis).value()
    }

    /// Joins tensors of one shape along a new `axis` (PyTorch's `stack`), as [`Var::stack`]:
    /// columns into a matrix with axis 1.
    ///
    /// ```
    /// use borel_autograd::{Tensor, tensor};
    /// let (x, y) = (tensor![1.0, 2.0, 3.0], tensor![4.0, 5.0, 6.0]);
    /// let points = Tensor::stack(&[&x, &y], 1);
    /// assert_eq!(points, tensor![[1.0, 4.0], [2.0, 5.0], [3.0, 6.0]]);
    /// ```
    #[track_caller]
    pub fn stack<T: Borrow<Tensor<F>>>(xs: &[T], axis: isize) -> Tensor<F> {
        let tape = Tape::new();
        let vars = constants(&tape, xs);
        Var::stack(&vars, axis).value()
    }
}

impl<F: Float> Tensor<F> {
    /// `X` with `self X = b` (batched; `b` a vector or a matrix), as [`Var::solve`]: a Newton
    /// step without forming the inverse. Panics on a singular matrix ([`Tensor::solve_ex`]
    /// returns the error instead).
    ///
    /// ```
    /// use borel_autograd::tensor;
    /// let x = tensor![[2.0, 1.0], [1.0, 3.0]].solve(&tensor![3.0, 5.0]);
    /// assert!(x.max_abs_diff(&tensor![0.8, 1.4]) < 1e-12);
    /// ```
    #[track_caller]
    pub fn solve(&self, b: &Tensor<F>) -> Tensor<F> {
        on_tape!(a = self, b = b => a.solve(b))
    }

    /// [`Tensor::solve`] that returns a singular matrix as an error (data, not a programming
    /// error), as [`Var::solve_ex`].
    ///
    /// ```
    /// use borel_autograd::tensor;
    /// assert!(tensor![[1.0, 2.0], [2.0, 4.0]].solve_ex(&tensor![1.0, 1.0]).is_err());
    /// ```
    #[track_caller]
    pub fn solve_ex(&self, b: &Tensor<F>) -> Result<Tensor<F>, LinalgError> {
        let tape = Tape::new();
        let (a, b) = (tape.constant(self.clone()), tape.constant(b.clone()));
        a.solve_ex(b).map(|x| x.value())
    }

    /// [`Tensor::inv`] that returns a singular matrix as an error, as [`Var::inv_ex`].
    ///
    /// ```
    /// use borel_autograd::tensor;
    /// assert!(tensor![[1.0, 2.0], [2.0, 4.0]].inv_ex().is_err());
    /// ```
    #[track_caller]
    pub fn inv_ex(&self) -> Result<Tensor<F>, LinalgError> {
        let tape = Tape::new();
        tape.constant(self.clone()).inv_ex().map(|x| x.value())
    }

    /// [`Tensor::cholesky`] that returns a matrix that is not positive-definite as an error,
    /// as [`Var::cholesky_ex`].
    ///
    /// ```
    /// use borel_autograd::tensor;
    /// assert!(tensor![[1.0, 2.0], [2.0, 1.0]].cholesky_ex().is_err());
    /// ```
    #[track_caller]
    pub fn cholesky_ex(&self) -> Result<Tensor<F>, LinalgError> {
        let tape = Tape::new();
        tape.constant(self.clone()).cholesky_ex().map(|x| x.value())
    }

    /// The sign and the log of the absolute determinant of each square matrix, as
    /// [`Var::slogdet`].
    ///
    /// ```
    /// use borel_autograd::tensor;
    /// let (sign, logabsdet) = tensor![[0.0, 2.0], [1.0, 0.0]].slogdet();
    /// assert_eq!((sign.item(), logabsdet.item()), (-1.0, 2f64.ln()));
    /// ```
    #[track_caller]
    pub fn slogdet(&self) -> (Tensor<F>, Tensor<F>) {
        let tape = Tape::new();
        let (sign, logabsdet) = tape.constant(self.clone()).slogdet();
        (sign.value(), logabsdet.value())
    }
}

/// The tensors as constants of `tape`.
fn constants<'t, F: Float, T: Borrow<Tensor<F>>>(tape: &'t Tape<F>, xs: &[T]) -> Vec<Var<'t, F>> {
    xs.iter().map(|x| tape.constant(x.borrow().clone())).collect()
}

#[cfg(test)]
mod tests {
    use crate::{Tape, Tensor, tensor};

    #[test]
    fn twins_give_the_var_values() {
        let x = Tensor::from_fn(&[3, 4], |i| (i as f64 * 0.7).sin());
        let tape = Tape::new();
        let v = tape.constant(x.clone());
        assert_eq!(x.slice_step(1, 1, 4, 2), v.slice_step(1, 1, 4, 2).value());
        assert_eq!(x.permute(&[1, 0]), v.permute(&[1, 0]).value());
        assert_eq!(x.log_softmax(0), v.log_softmax(0).value());
        assert_eq!(x.gelu(), v.gelu().value());
        assert_eq!(x.pad(0, 1, 2).shape(), &[6, 4]);
        assert_eq!(x.unsqueeze(0).squeeze(0), x);
        assert_eq!(x.flatten().shape(), &[3, 4]);
    }

    #[test]
    fn columns_split_and_stack_back() {
        let x = Tensor::from_fn(&[5, 2], |i| i as f32);
        let cols = [x.select(1, 0), x.select(1, 1)];
        assert_eq!(cols[1].data(), &[1.0, 3.0, 5.0, 7.0, 9.0]);
        assert_eq!(Tensor::stack(&cols, 1), x);
        assert_eq!(Tensor::stack(&cols, 0), x.t());
        let halves = [x.slice(0, 0, 2), x.slice(0, 2, 5)];
        assert_eq!(Tensor::concat(&halves, 0), x);
    }

    #[test]
    #[should_panic(expected = "stack: shapes [2] and [3] differ")]
    fn stack_names_the_shapes() {
        let _ = Tensor::stack(&[tensor![1.0, 2.0], tensor![1.0, 2.0, 3.0]], 0);
    }

    #[test]
    #[should_panic(expected = "select: index 2 is out of range for dim 1 of shape [2, 2]")]
    fn select_names_the_index() {
        let _ = tensor![[1.0, 2.0], [3.0, 4.0]].select(1, 2);
    }
}
