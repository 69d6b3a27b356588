//! User-defined ops: a forward and a hand-written backward on tensors. `gradcheck` verifies
//! the backward against finite differences.

use std::sync::Arc;

use crate::float::Float;
use crate::ops::{Family, Grads};
use crate::tape::{Engine, Tape, Var};
use crate::tensor::Tensor;

/// An op written by the user: its value and its vector-Jacobian product, on plain tensors.
///
/// Custom backwards are first-order only: differentiating one twice (`create_graph`, or
/// `gradgradcheck`) panics, naming the op, rather than returning a wrong second derivative.
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

/// A node that applies a user-defined op.
#[derive(Clone)]
pub(crate) struct Custom<F>(Arc<dyn CustomOp<F>>);

impl<F: Float> Family<F> for Custom<F> {
    fn forward(&self, x: &[&Tensor<F>]) -> Tensor<F> {
        self.0.forward(x)
    }

    fn backward<E: Engine<F>>(&self, e: &E, x: &[&E::V], y: &E::V, g: E::V, needs: &[bool]) -> Grads<E::V> {
        let op = self.0.as_ref();
        if e.records() {
            panic!(
                "custom op '{}': its backward is written on tensors and cannot be differentiated again (create_graph)",
                op.name()
            );
        }
        let xs: Vec<Tensor<F>> = x.iter().map(|v| e.value(v)).collect();
        let refs: Vec<&Tensor<F>> = xs.iter().collect();
        let grads = op.backward(&refs, &e.value(y), &e.value(&g));
        check_grads(op.name(), &grads, &xs);
        grads
            .into_iter()
            .zip(needs)
            .map(|(gi, &need)| need.then(|| e.constant(gi)))
            .collect()
    }
}

/// Panics naming the op unless there is one gradient per input, of that input's shape.
fn check_grads<F: Float>(name: &str, grads: &[Tensor<F>], xs: &[Tensor<F>]) {
    assert!(
        grads.len() == xs.len(),
        "custom op '{name}': backward returned {} gradients for {} inputs",
        grads.len(),
        xs.len()
    );
    for (i, (gi, xi)) in grads.iter().zip(xs).enumerate() {
        assert!(
            gi.shape() == xi.shape(),
            "custom op '{name}': gradient {i} has shape {:?} but input {i} has shape {:?}",
            gi.shape(),
            xi.shape()
        );
    }
}

impl<F: Float> Tape<F> {
    /// Applies a user-defined op to `inputs`.
    #[track_caller]
    pub fn custom<'t>(&'t self, op: Arc<dyn CustomOp<F>>, inputs: &[Var<'t, F>]) -> Var<'t, F> {
        for x in inputs {
            self.check_same(op.name(), x.tape);
        }
        let ids: Vec<u32> = inputs.iter().map(|x| x.id).collect();
        Var {
            tape: self,
            id: self.apply(Custom(op).into(), &ids),
        }
    }
}
