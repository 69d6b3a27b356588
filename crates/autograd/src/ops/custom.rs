//! User-defined ops, in two forms. [`CustomVarOp`] (or [`CustomVarFn`] from closures) writes
//! its backward as `Var` code on the tape, so it works to any order: `create_graph`,
//! `gradgradcheck`, `hessian` and `hvp` differentiate through it. [`CustomOp`] (or
//! [`CustomFn`]) writes its backward on plain tensors, which is faster and first-order only.
//! `gradcheck` (and `gradgradcheck` for the first form) verifies either against finite
//! differences.

use std::borrow::Cow;
use std::sync::Arc;

use crate::float::Float;
use crate::ops::{EngineExt, Family, Grads};
use crate::tape::{Engine, Tape, Var};
use crate::tensor::Tensor;

/// An op written by the user: its value and its vector-Jacobian product, on plain tensors.
///
/// Tensor backwards are first-order only: differentiating one twice (`create_graph`, or
/// `gradgradcheck`) panics, naming the op, rather than returning a wrong second derivative.
/// Write the backward as `Var` code ([`CustomVarOp`]) for higher orders.
pub trait CustomOp<F: Float>: Send + Sync {
    /// Name used in error messages and gradcheck reports.
    fn name(&self) -> &str;
    /// The value of the op.
    fn forward(&self, inputs: &[&Tensor<F>]) -> Tensor<F>;
    /// One gradient per input, each of that input's shape, given the output's gradient.
    fn backward(&self, inputs: &[&Tensor<F>], output: &Tensor<F>, grad: &Tensor<F>) -> Vec<Tensor<F>>;
}

type Fwd<F> = dyn Fn(&[&Tensor<F>]) -> Tensor<F> + Send + Sync;
type Bwd<F> = dyn Fn(&[&Tensor<F>], &Tensor<F>, &Tensor<F>) -> Vec<Tensor<F>> + Send + Sync;

/// A [`CustomOp`] from two closures.
///
/// ```
/// use borel_autograd::{CustomFn, Tape, Tensor};
/// // cube with a hand-written derivative
/// let cube = CustomFn::<f64>::new(
///     "cube",
///     |x| x[0].map(|v| v * v * v),
///     |x, _y, g| vec![Tensor::from_fn(x[0].shape(), |i| 3.0 * x[0].data()[i].powi(2) * g.data()[i])],
/// );
/// let tape = Tape::<f64>::new();
/// let x = tape.var(Tensor::scalar(2.0));
/// let y = tape.custom(cube, &[x]);
/// assert_eq!(y.backward()[x].item(), 12.0);
/// ```
pub struct CustomFn<F> {
    name: String,
    forward: Box<Fwd<F>>,
    backward: Box<Bwd<F>>,
}

impl<F: Float> CustomFn<F> {
    /// An op called `name` with the given forward and backward closures.
    pub fn new(
        name: &str,
        forward: impl Fn(&[&Tensor<F>]) -> Tensor<F> + Send + Sync + 'static,
        backward: impl Fn(&[&Tensor<F>], &Tensor<F>, &Tensor<F>) -> Vec<Tensor<F>> + Send + Sync + 'static,
    ) -> Arc<Self> {
        Arc::new(CustomFn {
            name: name.to_string(),
            forward: Box::new(forward),
            backward: Box::new(backward),
        })
    }
}

impl<F: Float> CustomOp<F> for CustomFn<F> {
    fn name(&self) -> &str {
        &self.name
    }
    fn forward(&self, inputs: &[&Tensor<F>]) -> Tensor<F> {
        (self.forward)(inputs)
    }
    fn backward(&self, inputs: &[&Tensor<F>], output: &Tensor<F>, grad: &Tensor<F>) -> Vec<Tensor<F>> {
        (self.backward)(inputs, output, grad)
    }
}

/// An op written by the user whose backward is `Var` code: recorded on the tape when the
/// gradient itself is to be differentiated, so it works to any order.
pub trait CustomVarOp<F: Float>: Send + Sync {
    /// Name used in error messages and gradcheck reports.
    fn name(&self) -> &str;
    /// The value of the op.
    fn forward(&self, inputs: &[&Tensor<F>]) -> Tensor<F>;
    /// One gradient per input, each of that input's shape, from the inputs, the output and
    /// the output's gradient, computed with differentiable ops.
    fn backward<'t>(&self, inputs: &[Var<'t, F>], output: Var<'t, F>, grad: Var<'t, F>) -> Vec<Var<'t, F>>;
}

type VarBwd<F> = dyn for<'t> Fn(&[Var<'t, F>], Var<'t, F>, Var<'t, F>) -> Vec<Var<'t, F>> + Send + Sync;

/// A [`CustomVarOp`] from two closures: a forward on tensors and a backward on vars.
///
/// ```
/// use borel_autograd::{CustomVarFn, GradcheckOptions, Tape, Tensor, gradgradcheck};
/// // cube, with its derivative 3 x^2 written as Var code: second order works too.
/// let cube = CustomVarFn::<f64>::new("cube", |x| x[0].powf(3.0), |x, _y, g| vec![g * x[0].square() * 3.0]);
/// let tape = Tape::<f64>::new();
/// let x = tape.var(Tensor::scalar(2.0));
/// let d1 = tape.grad(tape.custom_var(cube.clone(), &[x]), &[x], true)[0];
/// assert_eq!(d1.item(), 12.0);
/// assert_eq!(tape.grad(d1, &[x], false)[0].item(), 12.0); // 6 x
/// let x0 = Tensor::from_vec(vec![0.5, -1.5], &[2]);
/// gradgradcheck(|v| v[0].tape().custom_var(cube.clone(), &[v[0]]).sum(), &[x0], &GradcheckOptions::default()).assert();
/// ```
pub struct CustomVarFn<F: Float> {
    name: String,
    forward: Box<Fwd<F>>,
    backward: Box<VarBwd<F>>,
}

impl<F: Float> CustomVarFn<F> {
    /// An op called `name` with the given forward (on tensors) and backward (on vars).
    pub fn new(
        name: &str,
        forward: impl Fn(&[&Tensor<F>]) -> Tensor<F> + Send + Sync + 'static,
        backward: impl for<'t> Fn(&[Var<'t, F>], Var<'t, F>, Var<'t, F>) -> Vec<Var<'t, F>> + Send + Sync + 'static,
    ) -> Arc<Self> {
        Arc::new(CustomVarFn {
            name: name.to_string(),
            forward: Box::new(forward),
            backward: Box::new(backward),
        })
    }
}

impl<F: Float> CustomVarOp<F> for CustomVarFn<F> {
    fn name(&self) -> &str {
        &self.name
    }
    fn forward(&self, inputs: &[&Tensor<F>]) -> Tensor<F> {
        (self.forward)(inputs)
    }
    fn backward<'t>(&self, inputs: &[Var<'t, F>], output: Var<'t, F>, grad: Var<'t, F>) -> Vec<Var<'t, F>> {
        (self.backward)(inputs, output, grad)
    }
}

/// A node that applies a user-defined op, by the form of its backward.
#[derive(Clone)]
pub(crate) enum Custom<F> {
    Tensors(Arc<dyn CustomOp<F>>),
    Vars(Arc<dyn CustomVarOp<F>>),
}

impl<F: Float> Family<F> for Custom<F> {
    fn name(&self) -> Cow<'static, str> {
        let name = match self {
            Custom::Tensors(op) => op.name(),
            Custom::Vars(op) => op.name(),
        };
        Cow::Owned(format!("custom op '{name}'"))
    }

    fn forward(&self, x: &[&Tensor<F>]) -> Tensor<F> {
        match self {
            Custom::Tensors(op) => op.forward(x),
            Custom::Vars(op) => op.forward(x),
        }
    }

    fn backward<E: Engine<F>>(&self, e: &E, x: &[&E::V], y: &E::V, g: E::V, needs: &[bool]) -> Grads<E::V> {
        let grads = match self {
            Custom::Tensors(op) => tensor_backward(op.as_ref(), e, x, y, &g),
            Custom::Vars(op) => var_backward(op.as_ref(), e, x, y, &g),
        };
        grads
            .into_iter()
            .zip(needs)
            .map(|(gi, &need)| need.then_some(gi))
            .collect()
    }

    /// A user op has no tangent rule of its own: it is derived from its backward. A `Var`
    /// backward is linear in the output's gradient `w`, so `J u` is the gradient with respect
    /// to `w` of `sum_k <backward(w)_k, u_k>` (the double-vjp trick), recorded when the engine
    /// records. A tensor backward is not differentiable: `J u` is assembled from one backward
    /// call per output element (exact, but as costly as a Jacobian), and recording it
    /// (`create_graph` over a tangent) panics, naming the op.
    fn tangent<E: Engine<F>>(&self, e: &E, x: &[&E::V], y: &E::V, dx: &[Option<E::V>]) -> Option<E::V> {
        match self {
            Custom::Tensors(op) => Some(tensor_tangent(op.as_ref(), e, x, y, dx)),
            Custom::Vars(op) => Some(var_tangent(op.as_ref(), e, x, y, dx)),
        }
    }
}

/// `J u` of a tensor-backward op, row by row: row `j` of `J` is the backward of unit `j`.
fn tensor_tangent<F: Float, E: Engine<F>>(
    op: &dyn CustomOp<F>,
    e: &E,
    x: &[&E::V],
    y: &E::V,
    dx: &[Option<E::V>],
) -> E::V {
    if e.records() {
        panic!(
            "custom op '{}': its backward is written on tensors, so its forward-mode derivative cannot be \
             recorded; write it as Var code (CustomVarFn)",
            op.name()
        );
    }
    let xs: Vec<Tensor<F>> = x.iter().map(|v| e.value(v)).collect();
    let refs: Vec<&Tensor<F>> = xs.iter().collect();
    let us: Vec<Option<Tensor<F>>> = dx.iter().map(|d| d.as_ref().map(|d| e.value(d))).collect();
    let yv = e.value(y);
    let in_shapes: Vec<&[usize]> = refs.iter().map(|xi| xi.shape()).collect();
    let out = (0..yv.data().len())
        .map(|j| {
            let unit = Tensor::from_fn(yv.shape(), |i| if i == j { F::ONE } else { F::ZERO });
            let rows = op.backward(&refs, &yv, &unit);
            let shapes: Vec<&[usize]> = rows.iter().map(|r| r.shape()).collect();
            check_grads(op.name(), &shapes, &in_shapes);
            rows.iter()
                .zip(&us)
                .filter_map(|(r, u)| u.as_ref().map(|u| dot(r, u)))
                .fold(F::ZERO, |s, v| s + v)
        })
        .collect();
    e.constant(Tensor::from_vec(out, yv.shape()))
}

fn dot<F: Float>(a: &Tensor<F>, b: &Tensor<F>) -> F {
    a.data().iter().zip(b.data()).fold(F::ZERO, |s, (&p, &q)| s + p * q)
}

/// `J u` of a `Var`-backward op by the double-vjp trick, on the engine's vars.
fn var_tangent<F: Float, E: Engine<F>>(
    op: &dyn CustomVarOp<F>,
    e: &E,
    x: &[&E::V],
    y: &E::V,
    dx: &[Option<E::V>],
) -> E::V {
    let n = x.len();
    let zeros = e.zeros_like(y);
    let mut ins: Vec<&E::V> = x.to_vec();
    ins.extend([y, &zeros]);
    let has: Vec<usize> = (0..n).filter(|&k| dx[k].is_some()).collect();
    ins.extend(has.iter().map(|&k| dx[k].as_ref().expect("filtered")));
    let records = e.records();
    let out = e.with_vars(op.name(), &ins, &|v| {
        let tape = v[0].tape();
        // The output's gradient, a var of its own so the backward can be differentiated in it.
        let w = tape.var_unlisted(v[n + 1].value());
        let grads = op.backward(&v[..n], v[n], w);
        let s = has
            .iter()
            .enumerate()
            .map(|(j, &k)| (grads[k] * v[n + 2 + j]).sum())
            .reduce(|a, b| a + b)
            .expect("called with some tangent");
        tape.grad(s, &[w], records)
    });
    out.into_iter().next().expect("one tangent")
}

fn tensor_backward<F: Float, E: Engine<F>>(op: &dyn CustomOp<F>, e: &E, x: &[&E::V], y: &E::V, g: &E::V) -> Vec<E::V> {
    if e.records() {
        panic!(
            "custom op '{}': its backward is written on tensors and cannot be differentiated again (create_graph); \
             write it as Var code (CustomVarFn) for higher orders",
            op.name()
        );
    }
    let xs: Vec<Tensor<F>> = x.iter().map(|v| e.value(v)).collect();
    let refs: Vec<&Tensor<F>> = xs.iter().collect();
    let grads = op.backward(&refs, &e.value(y), &e.value(g));
    let shapes: Vec<&[usize]> = grads.iter().map(|gi| gi.shape()).collect();
    check_grads(op.name(), &shapes, &xs.iter().map(|xi| xi.shape()).collect::<Vec<_>>());
    grads.into_iter().map(|gi| e.constant(gi)).collect()
}

/// Runs the op's `Var` backward on the engine's vars: recorded on the tape under
/// `create_graph`, on a scratch tape of constants otherwise.
fn var_backward<F: Float, E: Engine<F>>(op: &dyn CustomVarOp<F>, e: &E, x: &[&E::V], y: &E::V, g: &E::V) -> Vec<E::V> {
    let n = x.len();
    let mut ins: Vec<&E::V> = x.to_vec();
    ins.extend([y, g]);
    let grads = e.with_vars(op.name(), &ins, &|v| op.backward(&v[..n], v[n], v[n + 1]));
    let shapes: Vec<_> = grads.iter().map(|gi| e.shape(gi)).collect();
    let want: Vec<_> = x.iter().map(|xi| e.shape(xi)).collect();
    check_grads(
        op.name(),
        &shapes.iter().map(|s| s.as_slice()).collect::<Vec<_>>(),
        &want.iter().map(|s| s.as_slice()).collect::<Vec<_>>(),
    );
    grads
}

/// Panics naming the op unless there is one gradient per input, of that input's shape.
fn check_grads(name: &str, grads: &[&[usize]], inputs: &[&[usize]]) {
    assert!(
        grads.len() == inputs.len(),
        "custom op '{name}': backward returned {} gradients for {} inputs",
        grads.len(),
        inputs.len()
    );
    for (i, (gi, xi)) in grads.iter().zip(inputs).enumerate() {
        assert!(
            gi == xi,
            "custom op '{name}': gradient {i} has shape {gi:?} but input {i} has shape {xi:?}"
        );
    }
}

impl<F: Float> Tape<F> {
    /// Applies a user-defined op with a tensor backward to `inputs` (first-order only).
    #[track_caller]
    pub fn custom<'t>(&'t self, op: Arc<dyn CustomOp<F>>, inputs: &[Var<'t, F>]) -> Var<'t, F> {
        for x in inputs {
            self.check_same(op.name(), x.tape);
        }
        let ids: Vec<u32> = inputs.iter().map(|x| x.id).collect();
        self.refuse_capture(&format!(
            "custom op '{}' has a backward written on tensors, which a plan does not capture: write it as Var code (CustomVarFn)",
            op.name()
        ));
        Var {
            tape: self,
            id: self.apply(Custom::Tensors(op).into(), &ids),
        }
    }
}

impl<F: Float> Tape<F> {
    /// Applies a user-defined op with a `Var` backward to `inputs`; its gradient can be
    /// differentiated again.
    ///
    /// ```
    /// use borel_autograd::{CustomVarFn, Tape, Tensor};
    /// let double = CustomVarFn::<f32>::new("double", |x| x[0].affine(2.0, 0.0), |_x, _y, g| vec![g * 2.0]);
    /// let tape = Tape::<f32>::new();
    /// let x = tape.var(Tensor::from_vec(vec![1.0, 2.0], &[2]));
    /// let y = tape.custom_var(double, &[x]);
    /// assert_eq!(y.value().data(), &[2.0, 4.0]);
    /// assert_eq!(y.sum().backward()[x].data(), &[2.0, 2.0]);
    /// ```
    #[track_caller]
    pub fn custom_var<'t>(&'t self, op: Arc<dyn CustomVarOp<F>>, inputs: &[Var<'t, F>]) -> Var<'t, F> {
        for x in inputs {
            self.check_same(op.name(), x.tape);
        }
        let ids: Vec<u32> = inputs.iter().map(|x| x.id).collect();
        Var {
            tape: self,
            id: self.apply(Custom::Vars(op).into(), &ids),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::{CustomFn, CustomVarFn};
    use crate::functional::{hessian, hvp};
    use crate::ops::testing::*;

    /// swish (`x sigmoid x`) with its backward as Var code, written in the order in which the
    /// tape differentiates `silu`, so the two agree bit for bit.
    fn swish_vars<F: Float>() -> Arc<CustomVarFn<F>> {
        CustomVarFn::new(
            "swish",
            |x| x[0] * &x[0].sigmoid(),
            |x, _y, g| {
                let s = x[0].sigmoid();
                vec![g * s + (g * x[0]) * (s * s.affine(-F::ONE, F::ONE))]
            },
        )
    }

    /// The same swish with its backward on tensors.
    fn swish_tensors<F: Float>() -> Arc<CustomFn<F>> {
        CustomFn::new(
            "swish",
            |x| x[0] * &x[0].sigmoid(),
            |x, _y, g| {
                let s = x[0].sigmoid();
                vec![&(g * &s) + &(&(g * x[0]) * &(&s * &s.affine(-F::ONE, F::ONE)))]
            },
        )
    }

    /// Values and gradients of silu and of both custom swishes, on one tape.
    fn three_ways<F: Float>(x: &Tensor<f64>) -> [(Tensor<F>, Tensor<F>); 3] {
        let tape = Tape::<F>::new();
        let x = tape.var(x.cast());
        let run = |y: Var<'_, F>| (y.value(), y.sum().backward()[x].clone());
        [
            run(x.silu()),
            run(tape.custom_var(swish_vars(), &[x])),
            run(tape.custom(swish_tensors(), &[x])),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(CASES))]

        #[test]
        fn swish_both_ways_matches_silu_exactly(x in values(-6.0, 6.0, &[])) {
            let [silu, vars, tensors] = three_ways::<f64>(&x);
            prop_assert_eq!(&vars, &silu);
            prop_assert_eq!(&tensors, &silu);
            let [silu, vars, tensors] = three_ways::<f32>(&x);
            prop_assert_eq!(&vars, &silu);
            prop_assert_eq!(&tensors, &silu);
        }

        #[test]
        fn tensor_backward_passes_gradcheck(x in values(-3.0, 3.0, &[])) {
            let r = gradcheck(|v| v[0].tape().custom(swish_tensors(), &[v[0]]), &[x], &GradcheckOptions::default());
            prop_assert!(r.passed, "{}", r);
        }
    }

    op_props! {
        var_backward(x in values(-3.0, 3.0, &[])) for [x] => |v| v[0].tape().custom_var(swish_vars(), &[v[0]]);
        var_backward_two_inputs((a, b) in broadcast_values((-2.0, 2.0), (-2.0, 2.0))) for [a, b] =>
            |v| v[0].tape().custom_var(scaled_product(), &[v[0].sin(), v[1]]).exp();
    }

    /// `a b` with broadcasting (so the backward must sum back to each input's shape).
    fn scaled_product<F: Float>() -> Arc<CustomVarFn<F>> {
        CustomVarFn::new(
            "product",
            |x| x[0] * x[1],
            |x, _y, g| {
                let (a, b) = (x[0].shape(), x[1].shape());
                vec![(g * x[1]).sum_to_size(&a), (g * x[0]).sum_to_size(&b)]
            },
        )
    }

    #[test]
    fn hessian_and_hvp_go_through_a_var_backward() {
        let x = Tensor::from_vec(vec![0.3, -1.2, 2.0], &[3]);
        let via_custom = hessian(|v| v.tape().custom_var(swish_vars(), &[v]).sum(), &x);
        let via_silu = hessian(|v| v.silu().sum(), &x);
        // The same derivatives, by another order of float operations.
        let close =
            |a: &Tensor<f64>, b: &Tensor<f64>| a.data().iter().zip(b.data()).all(|(p, q)| (p - q).abs() < 1e-14);
        assert!(close(&via_custom, &via_silu), "{via_custom} vs {via_silu}");
        let u = Tensor::from_vec(vec![1.0, 0.5, -2.0], &[3]);
        let hv = hvp(|v| v.tape().custom_var(swish_vars(), &[v]).sum(), &x, &u);
        let want = hvp(|v| v.silu().sum(), &x, &u);
        assert!(close(&hv, &want), "{hv} vs {want}");
    }

    #[test]
    #[should_panic(expected = "custom op 'swish': backward returned 2 gradients for 1 inputs")]
    fn a_var_backward_with_the_wrong_number_of_gradients_panics_naming_the_op() {
        let bad = CustomVarFn::<f64>::new("swish", |x| x[0].clone(), |_x, _y, g| vec![g, g]);
        let tape = Tape::new();
        let x = tape.var(Tensor::scalar(1.0));
        let _ = tape.custom_var(bad, &[x]).backward();
    }
}
