//! Function transforms in the style of `jax.grad`, `jax.hessian`, `jax.jvp` and `torch.func`:
//! each takes a function of vars and a point, records the function on a fresh tape, and
//! returns plain tensors.
//!
//! | transform | returns |
//! |---|---|
//! | [`grad`], [`value_and_grad`] | gradient of a scalar `f` (and its value) |
//! | [`jacobian`], [`jacfwd`] | full Jacobian, shape `f(x).shape ++ x.shape` (reverse / forward mode) |
//! | [`hessian`], [`hessian_many`] | Hessian of a scalar `f`; blocks `d2f / dxi dxj` over several inputs |
//! | [`hvp`], [`hvp_many`] | Hessian-vector product without forming the Hessian |
//! | [`vjp`], [`jvp`], [`jvp_many`] | `v^T J` (reverse mode) and `J u` (forward mode) |
//!
//! # Passing a function
//!
//! The output of `f` lives on the same tape as its input, so the single-input transforms take
//! a [`VarFn`] (`for<'t> Fn(Var<'t, F>) -> Var<'t, F>`) and the `_many` ones a [`VarsFn`]
//! (`for<'t> Fn(&[Var<'t, F>]) -> Var<'t, F>`). Three forms satisfy that:
//!
//! - a closure written in the call, which may capture anything;
//! - a closure bound with `let`, wrapped in [`func`](crate::func) (or
//!   [`expr`](crate::expr) for a slice of vars), which may capture anything too and is `Copy`
//!   when its captures are, so one function can go to several transforms;
//! - a `fn` item.
//!
//! ```
//! use borel_autograd::{Tensor, Var, expr, func, grad, hessian, hessian_many, hvp};
//! let x = Tensor::from_vec(vec![1.0f64, 2.0], &[2]);
//!
//! // Inline closure.
//! assert_eq!(grad(|v| v.powf(3.0).sum(), &x).data(), &[3.0, 12.0]);
//!
//! // `let`-bound closures.
//! let f = func(|v| v.powf(3.0).sum());
//! let k = 2.0;
//! let g = func(|v| (v * k).powf(3.0).sum());
//! assert_eq!(grad(f, &x).data(), &[3.0, 12.0]);
//! assert_eq!(hessian(f, &x).data(), &[6.0, 0.0, 0.0, 12.0]);
//! assert_eq!(hvp(g, &x, &Tensor::ones(&[2])).data(), &[48.0, 96.0]); // 6 k^3 x
//! let h = expr(|v| (v[0] * v[1]).sum());
//! assert_eq!(hessian_many(h, &[Tensor::scalar(1.0), Tensor::scalar(2.0)])[0][1].item(), 1.0);
//!
//! // `fn` item.
//! fn cubes(v: Var<'_, f64>) -> Var<'_, f64> {
//!     v.powf(3.0).sum()
//! }
//! assert_eq!(hessian(cubes, &x).data(), &[6.0, 0.0, 0.0, 12.0]);
//! ```
//!
//! Without `func`, a `let`-bound closure is rejected where it is defined ("lifetime may not
//! live long enough"): Rust infers its return type apart from its argument's lifetime unless
//! the closure is written where a signature is expected, and closure lifetime binders
//! (`for<'t> |v: Var<'t, f64>| -> Var<'t, f64>`) are unstable. The compiler's note then
//! points at the transform's bound, whose line says to use `func`:
//!
//! ```compile_fail
//! use borel_autograd::{Tensor, Var, grad};
//! let f = |v: Var<'_, f64>| v.powf(3.0).sum();
//! grad(f, &Tensor::from_vec(vec![1.0f64, 2.0], &[2]));
//! ```

use std::slice::from_ref;

use crate::float::Float;
use crate::shape::{Shape, numel};
use crate::tape::{Tape, Var};
use crate::tensor::Tensor;
use crate::var_fn::{VarFn, VarsFn};

#[track_caller]
fn check_scalar<F: Float>(op: &str, y: &Var<'_, F>) {
    let shape = y.shape();
    if numel(&shape) != 1 {
        panic!(
            "{op}: f must return a scalar, but its output has shape {:?}",
            shape.as_slice()
        );
    }
}

/// `vs` pairs one tensor of the same shape with each input.
#[track_caller]
fn check_pairs<F: Float>(op: &str, what: &str, xs: &[Tensor<F>], vs: &[Tensor<F>]) {
    if xs.len() != vs.len() {
        panic!("{op}: {} inputs but {} {what}s", xs.len(), vs.len());
    }
    for (k, (x, v)) in xs.iter().zip(vs).enumerate() {
        if x.shape() != v.shape() {
            panic!(
                "{op}: {what} {k} has shape {:?} but input {k} has shape {:?}",
                v.shape(),
                x.shape()
            );
        }
    }
}

/// The gradient of a scalar `f` at `x`, like `jax.grad(f)(x)`.
///
/// Panics when `f(x)` has more than one element.
///
/// ```
/// use borel_autograd::{Tensor, grad};
/// // d/dx sum(sin x) = cos x
/// let g = grad(|x| x.sin().sum(), &Tensor::from_vec(vec![0.0f64, 1.0], &[2]));
/// assert_eq!(g.data(), &[1.0, 1f64.cos()]);
/// ```
#[track_caller]
pub fn grad<F, Fun>(f: Fun, x: &Tensor<F>) -> Tensor<F>
where
    F: Float,
    Fun: VarFn<F>, // a closure bound with `let`? write `let f = func(|x| ...);`
{
    scalar_and_grad("grad", f, x).1
}

/// The value and the gradient of a scalar `f` at `x` from one forward and one backward pass,
/// like `jax.value_and_grad(f)(x)`.
///
/// Panics when `f(x)` has more than one element.
///
/// ```
/// use borel_autograd::{Tensor, value_and_grad};
/// let (y, g) = value_and_grad(|x| (x * x).sum(), &Tensor::from_vec(vec![1.0f64, -3.0], &[2]));
/// assert_eq!(y, 10.0);
/// assert_eq!(g.data(), &[2.0, -6.0]);
/// ```
#[track_caller]
pub fn value_and_grad<F, Fun>(f: Fun, x: &Tensor<F>) -> (F, Tensor<F>)
where
    F: Float,
    Fun: VarFn<F>, // a closure bound with `let`? write `let f = func(|x| ...);`
{
    scalar_and_grad("value_and_grad", f, x)
}

#[track_caller]
fn scalar_and_grad<F, Fun>(op: &str, f: Fun, x: &Tensor<F>) -> (F, Tensor<F>)
where
    F: Float,
    Fun: VarFn<F>,
{
    let tape = Tape::new();
    let xv = tape.var(x.clone());
    let y = f(xv);
    check_scalar(op, &y);
    (y.item(), tape.grad(y, &[xv], false)[0].value())
}

/// The Jacobian of `f` at `x`, of shape `f(x).shape ++ x.shape`.
///
/// ```
/// use borel_autograd::{Tensor, jacobian};
/// let j = jacobian(|x| x * 3.0, &Tensor::<f64>::ones(&[2]));
/// assert_eq!(j.data(), &[3.0, 0.0, 0.0, 3.0]);
/// ```
pub fn jacobian<F, Fun>(f: Fun, x: &Tensor<F>) -> Tensor<F>
where
    F: Float,
    Fun: VarFn<F>, // a closure bound with `let`? write `let f = func(|x| ...);`
{
    let tape = Tape::new();
    let xv = tape.var(x.clone());
    let y = f(xv);
    rows_of(&tape, y, &[xv]).remove(0)
}

/// One backward pass per element of `y`; block `k` stacks the gradients with respect to
/// `wrt[k]`, of shape `y.shape ++ wrt[k].shape`.
fn rows_of<'t, F: Float>(tape: &'t Tape<F>, y: Var<'t, F>, wrt: &[Var<'t, F>]) -> Vec<Tensor<F>> {
    let y_shape = y.shape();
    let m = numel(&y_shape);
    let mut data: Vec<Vec<F>> = wrt.iter().map(|w| Vec::with_capacity(m * numel(&w.shape()))).collect();
    for j in 0..m {
        let seed = Tensor::from_fn(&y_shape, |i| if i == j { F::ONE } else { F::ZERO });
        for (d, g) in data.iter_mut().zip(tape.grad_with(y, seed, wrt, false)) {
            d.extend_from_slice(g.value().data());
        }
    }
    data.into_iter()
        .zip(wrt)
        .map(|(d, w)| {
            let mut shape: Shape = y_shape;
            shape.extend_from_slice(&w.shape());
            Tensor::from_vec(d, &shape)
        })
        .collect()
}

/// The Hessian of a scalar `f` at `x`, of shape `x.shape ++ x.shape`.
///
/// Panics when `f(x)` has more than one element.
///
/// ```
/// use borel_autograd::{Tensor, hessian};
/// // Hessian of sum(x^3) is diag(6x)
/// let h = hessian(|x| x.powf(3.0).sum(), &Tensor::from_vec(vec![1.0f64, 2.0], &[2]));
/// assert_eq!(h.data(), &[6.0, 0.0, 0.0, 12.0]);
/// ```
#[track_caller]
pub fn hessian<F, Fun>(f: Fun, x: &Tensor<F>) -> Tensor<F>
where
    F: Float,
    Fun: VarFn<F>, // a closure bound with `let`? write `let f = func(|x| ...);`
{
    hessian_many(|v| f(v[0]), from_ref(x)).remove(0).remove(0)
}

/// The Hessian of a scalar `f` of several inputs, as blocks: `h[i][j]` is `d2f / dxi dxj`, of
/// shape `xs[i].shape ++ xs[j].shape`, and `h[j][i]` is its transpose.
///
/// Reverse over reverse: the gradient is recorded (`create_graph`), then one backward pass
/// over it per element of all inputs together gives a row of blocks. Panics when `f` has more than
/// one output element.
///
/// ```
/// use borel_autograd::{Tensor, hessian_many};
/// // f = x^2 y: d2f/dx2 = 2y, d2f/dxdy = 2x, d2f/dy2 = 0
/// let h = hessian_many(|v| v[0] * v[0] * v[1], &[Tensor::scalar(3.0f64), Tensor::scalar(5.0)]);
/// assert_eq!([h[0][0].item(), h[0][1].item(), h[1][0].item(), h[1][1].item()], [10.0, 6.0, 6.0, 0.0]);
/// ```
#[track_caller]
pub fn hessian_many<F, Fun>(f: Fun, xs: &[Tensor<F>]) -> Vec<Vec<Tensor<F>>>
where
    F: Float,
    Fun: VarsFn<F>, // a closure bound with `let`? write `let f = expr(|v| ...);`
{
    let tape = Tape::new();
    let vars: Vec<Var<'_, F>> = xs.iter().map(|x| tape.var(x.clone())).collect();
    let y = f(&vars);
    check_scalar("hessian", &y);
    // Row i of blocks is the Jacobian of df/dxi with respect to every input. Reverse over
    // reverse: forward over reverse (`columns_of` over the gradient, one tangent sweep per
    // input element) measured 1.2-1.3x slower (benches/autograd.rs, forward_mode/hessian_*).
    tape.grad(y, &vars, true)
        .into_iter()
        .map(|g| rows_of(&tape, g, &vars))
        .collect()
}

/// Hessian-vector product `H v` of a scalar `f` at `x`, without forming `H`: forward over
/// reverse, the tangent along `v` of the recorded gradient, one tangent sweep.
///
/// Panics when `v`'s shape differs from `x`'s or `f(x)` has more than one element.
///
/// ```
/// use borel_autograd::{Tensor, hvp};
/// // H of sum(x^3) is diag(6x)
/// let x = Tensor::from_vec(vec![1.0f64, 2.0], &[2]);
/// let hv = hvp(|x| x.powf(3.0).sum(), &x, &Tensor::from_vec(vec![1.0, -1.0], &[2]));
/// assert_eq!(hv.data(), &[6.0, -12.0]);
/// ```
#[track_caller]
pub fn hvp<F, Fun>(f: Fun, x: &Tensor<F>, v: &Tensor<F>) -> Tensor<F>
where
    F: Float,
    Fun: VarFn<F>, // a closure bound with `let`? write `let f = func(|x| ...);`
{
    hvp_many(|vars| f(vars[0]), from_ref(x), from_ref(v)).remove(0)
}

/// Hessian-vector product of a scalar `f` of several inputs: entry `i` is
/// `sum_j (d2f / dxi dxj) vs[j]`, the `i`-th block of `H v` for the stacked inputs.
///
/// Panics when `vs` does not pair one tensor of the same shape with each input, or `f` has
/// more than one output element.
///
/// ```
/// use borel_autograd::{Tensor, hvp_many};
/// // f = x^2 y: H = [[2y, 2x], [2x, 0]]
/// let (x, y) = (Tensor::scalar(3.0f64), Tensor::scalar(5.0));
/// let hv = hvp_many(|v| v[0] * v[0] * v[1], &[x, y], &[Tensor::scalar(1.0), Tensor::scalar(2.0)]);
/// assert_eq!([hv[0].item(), hv[1].item()], [10.0 + 12.0, 6.0]);
/// ```
#[track_caller]
pub fn hvp_many<F, Fun>(f: Fun, xs: &[Tensor<F>], vs: &[Tensor<F>]) -> Vec<Tensor<F>>
where
    F: Float,
    Fun: VarsFn<F>, // a closure bound with `let`? write `let f = expr(|v| ...);`
{
    check_pairs("hvp", "vector", xs, vs);
    let tape = Tape::new();
    let vars: Vec<Var<'_, F>> = xs.iter().map(|x| tape.var(x.clone())).collect();
    let y = f(&vars);
    check_scalar("hvp", &y);
    // Forward over reverse: the tangent of the recorded gradient along `vs`, one sweep.
    let g = tape.grad(y, &vars, true);
    let seeds: Vec<(u32, Tensor<F>)> = vars.iter().zip(vs).map(|(x, v)| (x.id, v.clone())).collect();
    tape.tangents(&g, &seeds)
        .into_iter()
        .zip(xs)
        .map(|(d, x)| d.unwrap_or_else(|| Tensor::zeros(x.shape())))
        .collect()
}

/// Vector-Jacobian product: `(f(x), v^T J)`, where `v` has the shape of `f(x)`.
///
/// ```
/// use borel_autograd::{Tensor, vjp};
/// let x = Tensor::from_vec(vec![1.0f64, 2.0], &[2]);
/// let (y, g) = vjp(|x| x * x, &x, &Tensor::from_vec(vec![1.0, 10.0], &[2]));
/// assert_eq!((y.data(), g.data()), (&[1.0, 4.0][..], &[2.0, 40.0][..]));
/// ```
#[track_caller]
pub fn vjp<F, Fun>(f: Fun, x: &Tensor<F>, v: &Tensor<F>) -> (Tensor<F>, Tensor<F>)
where
    F: Float,
    Fun: VarFn<F>, // a closure bound with `let`? write `let f = func(|x| ...);`
{
    let tape = Tape::new();
    let xv = tape.var(x.clone());
    let y = f(xv);
    let g = tape.grad_with(y, v.clone(), &[xv], false)[0];
    (y.value(), g.value())
}

/// Jacobian-vector product `(f(x), J u)` by forward mode, like `jax.jvp(f, (x,), (u,))`: one
/// forward pass records `f`, one tangent sweep carries `u` through it, node by node in order,
/// each op's tangent rule applied to its inputs' tangents. No backward pass.
///
/// Panics when `u`'s shape differs from `x`'s.
///
/// ```
/// use borel_autograd::{Tensor, jvp};
/// let x = Tensor::from_vec(vec![0.0f64, 1.0], &[2]);
/// let (y, d) = jvp(|x| x.sin() * x, &x, &Tensor::ones(&[2]));
/// // d/dx (x sin x) = sin x + x cos x
/// assert_eq!(y.data(), &[0.0, 1f64.sin()]);
/// assert_eq!(d.data(), &[0.0, 1f64.sin() + 1f64.cos()]);
/// ```
#[track_caller]
pub fn jvp<F, Fun>(f: Fun, x: &Tensor<F>, u: &Tensor<F>) -> (Tensor<F>, Tensor<F>)
where
    F: Float,
    Fun: VarFn<F>, // a closure bound with `let`? write `let f = func(|x| ...);`
{
    jvp_many(|v| f(v[0]), from_ref(x), from_ref(u))
}

/// [`jvp`] of a function of several inputs: `(f(xs), sum_k J_k us[k])`, every input moving
/// along its tangent at once, from one forward pass and one tangent sweep.
///
/// Panics when `us` does not pair one tensor of the same shape with each input.
///
/// ```
/// use borel_autograd::{Tensor, jvp_many};
/// // d(x y) = y dx + x dy
/// let (x, y) = (Tensor::scalar(3.0f64), Tensor::scalar(5.0));
/// let (v, d) = jvp_many(|v| v[0] * v[1], &[x, y], &[Tensor::scalar(1.0), Tensor::scalar(2.0)]);
/// assert_eq!((v.item(), d.item()), (15.0, 5.0 + 6.0));
/// ```
#[track_caller]
pub fn jvp_many<F, Fun>(f: Fun, xs: &[Tensor<F>], us: &[Tensor<F>]) -> (Tensor<F>, Tensor<F>)
where
    F: Float,
    Fun: VarsFn<F>, // a closure bound with `let`? write `let f = expr(|v| ...);`
{
    check_pairs("jvp", "tangent", xs, us);
    let tape = Tape::new();
    let vars: Vec<Var<'_, F>> = xs.iter().map(|x| tape.var(x.clone())).collect();
    let y = f(&vars);
    let d = tape.jvp(&[y], &vars, us, false)[0];
    (y.value(), d.value())
}

/// The Jacobian of `f` at `x` by forward mode, like `jax.jacfwd(f)(x)`: one tangent sweep per
/// element of `x`, against [`jacobian`]'s one backward pass per element of `f(x)`, so it is
/// the cheaper of the two when `f` has more outputs than inputs. Same layout as [`jacobian`]:
/// shape `f(x).shape ++ x.shape`.
///
/// ```
/// use borel_autograd::{Tensor, jacfwd, jacobian};
/// // R^2 -> R^3
/// let f = borel_autograd::func(|v| v.matmul(v.tape().constant(Tensor::from_vec(vec![1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]))).tanh());
/// let x = Tensor::from_vec(vec![0.1, -0.2], &[1, 2]);
/// let j = jacfwd(f, &x);
/// assert_eq!(j.shape(), &[1, 3, 1, 2]);
/// let r = jacobian(f, &x);
/// assert!(j.data().iter().zip(r.data()).all(|(a, b)| (a - b).abs() < 1e-12));
/// ```
pub fn jacfwd<F, Fun>(f: Fun, x: &Tensor<F>) -> Tensor<F>
where
    F: Float,
    Fun: VarFn<F>, // a closure bound with `let`? write `let f = func(|x| ...);`
{
    let tape = Tape::new();
    let xv = tape.var(x.clone());
    let y = f(xv);
    columns_of(&tape, &[y], &[xv]).remove(0).remove(0)
}

/// One tangent sweep per element of all of `wrt` together; block `[i][k]` holds the
/// derivatives of `outputs[i]` with respect to `wrt[k]`, of shape
/// `outputs[i].shape ++ wrt[k].shape`.
fn columns_of<'t, F: Float>(tape: &'t Tape<F>, outputs: &[Var<'t, F>], wrt: &[Var<'t, F>]) -> Vec<Vec<Tensor<F>>> {
    let out_shapes: Vec<Shape> = outputs.iter().map(|o| o.shape()).collect();
    let in_shapes: Vec<Shape> = wrt.iter().map(|w| w.shape()).collect();
    let mut blocks: Vec<Vec<Vec<F>>> = out_shapes
        .iter()
        .map(|so| {
            in_shapes
                .iter()
                .map(|si| vec![F::ZERO; numel(so) * numel(si)])
                .collect()
        })
        .collect();
    for (k, si) in in_shapes.iter().enumerate() {
        let n = numel(si);
        for q in 0..n {
            let unit = Tensor::from_fn(si, |i| if i == q { F::ONE } else { F::ZERO });
            // Outputs that do not move keep their zeros.
            for (i, t) in tape.tangents(outputs, &[(wrt[k].id, unit)]).iter().enumerate() {
                for (p, &v) in t.iter().flat_map(|t| t.data().iter().enumerate()) {
                    blocks[i][k][p * n + q] = v;
                }
            }
        }
    }
    blocks
        .into_iter()
        .zip(&out_shapes)
        .map(|(row, so)| {
            row.into_iter()
                .zip(&in_shapes)
                .map(|(d, si)| Tensor::from_vec(d, &[so.as_slice(), si.as_slice()].concat()))
                .collect()
        })
        .collect()
}
