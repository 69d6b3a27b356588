//! The functions the transforms and checks take, named: [`VarFn`] (one var in, a var of the
//! same tape out) and [`VarsFn`] (a slice of vars in), and [`func`] and [`expr`], which give a
//! closure bound with `let` those signatures.
//!
//! A closure written in the call needs neither. A closure bound with `let` does: Rust gives it
//! a signature tied to one tape before it sees the call, and rejects it there ("lifetime may
//! not live long enough", "one type is more general than the other"). Wrapping it in
//! [`func`] (or [`expr`] for a slice of vars) gives it the signature at once, in the shortest
//! form Rust allows, and the result can be passed to any number of transforms:
//!
//! ```
//! use borel_autograd::{Tensor, expr, func, grad, gradcheck, hessian, GradcheckOptions};
//! let x = Tensor::from_vec(vec![1.0f64, 2.0], &[2]);
//! let f = func(|x| x.powf(3.0).sum()); // f = lambda x: (x**3).sum()
//! assert_eq!(grad(f, &x).data(), &[3.0, 12.0]);
//! assert_eq!(hessian(f, &x).data(), &[6.0, 0.0, 0.0, 12.0]);
//!
//! let k = 2.0; // captures are fine
//! let g = expr(|v| (v[0] * v[1]).sum() * k); // g = lambda a, b: (a * b).sum() * k
//! assert!(gradcheck(g, &[x.clone(), x], &GradcheckOptions::default()).passed);
//! ```
//!
//! Without the wrapper the `let` is refused:
//!
//! ```compile_fail
//! use borel_autograd::{Tensor, Var, grad};
//! let f = |x: Var<f64>| x.powf(3.0).sum();
//! grad(f, &Tensor::from_vec(vec![1.0f64, 2.0], &[2]));
//! ```

use crate::float::Float;
use crate::tape::Var;

/// A function of one var that returns a var of the same tape: what [`grad`](crate::grad),
/// [`value_and_grad`](crate::value_and_grad), [`jacobian`](crate::jacobian),
/// [`hessian`](crate::hessian), [`hvp`](crate::hvp), [`vjp`](crate::vjp) and
/// [`jvp`](crate::jvp) take. Every `for<'t> Fn(Var<'t, F>) -> Var<'t, F>` is one: a closure
/// written in the call, a `fn` item, or a `let`-bound closure wrapped in [`func`].
///
/// ```
/// use borel_autograd::{Tensor, Var, VarFn, grad};
/// fn slope<G: VarFn<f64>>(f: G) -> f64 {
///     grad(f, &Tensor::scalar(0.0)).item()
/// }
/// assert_eq!(slope(|x: Var<f64>| x * 3.0), 3.0);
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a function from a `Var<'t, {F}>` to a `Var<'t, {F}>` of the same tape",
    label = "expected a function of one var, such as `|x| x.sin().sum()`",
    note = "a closure bound with `let` needs `func`: `let f = func(|x| ...);` (for `|v: &[Var]| ...` use `expr`)"
)]
pub trait VarFn<F: Float>: for<'t> Fn(Var<'t, F>) -> Var<'t, F> {}

impl<F: Float, T: ?Sized + for<'t> Fn(Var<'t, F>) -> Var<'t, F>> VarFn<F> for T {}

/// A function of a slice of vars that returns a var of the same tape: what
/// [`gradcheck`](crate::gradcheck), [`gradgradcheck`](crate::gradgradcheck),
/// [`hessian_many`](crate::hessian_many) and [`hvp_many`](crate::hvp_many) take. A closure
/// written in the call, a `fn` item with `<'t>`, or a `let`-bound closure wrapped in [`expr`].
///
/// ```
/// use borel_autograd::{Tensor, Var, VarsFn, hessian_many};
/// fn cross<G: VarsFn<f64>>(f: G) -> f64 {
///     hessian_many(f, &[Tensor::scalar(1.0), Tensor::scalar(2.0)])[0][1].item()
/// }
/// assert_eq!(cross(|v: &[Var<f64>]| v[0] * v[1]), 1.0);
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a function from a `&[Var<'t, {F}>]` to a `Var<'t, {F}>` of the same tape",
    label = "expected a function of a slice of vars, such as `|v| (v[0] * v[1]).sum()`",
    note = "a closure bound with `let` needs `expr`: `let f = expr(|v| ...);` (for `|x: Var| ...` use `func`)"
)]
pub trait VarsFn<F: Float>: for<'t> Fn(&[Var<'t, F>]) -> Var<'t, F> {}

impl<F: Float, T: ?Sized + for<'t> Fn(&[Var<'t, F>]) -> Var<'t, F>> VarsFn<F> for T {}

/// Gives a closure of one var the signature the transforms take, so that it can be bound with
/// `let` and passed to several of them (`f = lambda x: ...` in Python).
///
/// ```
/// use borel_autograd::{Tensor, func, grad, value_and_grad};
/// let f = func(|x| (x.sin() * x).sum());
/// let x = Tensor::from_vec(vec![0.0f64, 1.0], &[2]);
/// let (value, slope) = value_and_grad(f, &x);
/// assert_eq!(value, 1f64.sin());
/// assert_eq!(grad(f, &x), slope);
/// ```
///
/// Where the body puts a number first (`1.0 - x`), Rust cannot tell yet whether it is an
/// `f32` or an `f64` and asks for the type; name it on the argument:
///
/// ```
/// use borel_autograd::{Tensor, Var, func, grad};
/// let f = func(|x: Var<f64>| (1.0 - x).square().sum());
/// assert_eq!(grad(f, &Tensor::scalar(3.0)).item(), 4.0);
/// ```
///
/// ```compile_fail
/// use borel_autograd::{Tensor, func, grad};
/// let f = func(|x| (1.0 - x).square().sum()); // type annotations needed
/// assert_eq!(grad(f, &Tensor::scalar(3.0)).item(), 4.0);
/// ```
pub fn func<F: Float, Fun: VarFn<F>>(f: Fun) -> Fun {
    f
}

/// Gives a closure of a slice of vars the signature the checks take, so that it can be bound
/// with `let` and checked more than once (`f = lambda a, b: ...` in Python).
///
/// ```
/// use borel_autograd::{GradcheckOptions, Tensor, expr, gradcheck, gradgradcheck};
/// let f = expr(|v| (v[0] * v[1]).tanh().sum());
/// let xs = [Tensor::from_vec(vec![0.5, -0.2], &[2]), Tensor::from_vec(vec![1.0, 2.0], &[2])];
/// assert!(gradcheck(f, &xs, &GradcheckOptions::default()).passed);
/// assert!(gradgradcheck(f, &xs, &GradcheckOptions::default()).passed);
/// ```
pub fn expr<F: Float, Fun: VarsFn<F>>(f: Fun) -> Fun {
    f
}
