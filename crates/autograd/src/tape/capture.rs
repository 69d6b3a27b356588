//! Captured steps: a training step recorded once on a tape and turned into a [`Plan`], then
//! replayed on new data of the same shapes without the recording's bookkeeping (no node
//! records, no closures, no shape checks): each node's forward kernel in order, then the same
//! reverse sweep as [`Var::backward`], so that loss and gradients are those of the eager step
//! bit for bit.

use std::fmt;

use crate::anomaly::debug_nans;
use crate::float::Float;
use crate::ops::kernels::add_assign;
use crate::param::{ParamGrads, ParamStore, ParamVars};
use crate::shape::Shape;
use crate::tape::engine::{Eager, eager_backward_node, sweep};
use crate::tape::pool::give_spare;
use crate::tape::pool::take_spare;
use crate::tape::{Tape, Var};
use crate::tensor::Tensor;

/// Why a step cannot be captured: it computes something a replay would not recompute.
///
/// ```
/// use borel_autograd::CaptureError;
/// let e = CaptureError::new("the step uses dropout");
/// assert_eq!(e.to_string(), "the step cannot be captured: the step uses dropout");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaptureError {
    why: String,
}

impl CaptureError {
    /// A refusal for the reason `why`.
    pub fn new(why: impl Into<String>) -> Self {
        CaptureError { why: why.into() }
    }

    /// The reason.
    pub fn reason(&self) -> &str {
        &self.why
    }
}

impl fmt::Display for CaptureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the step cannot be captured: {}", self.why)
    }
}

impl std::error::Error for CaptureError {}

/// A recorded step, to replay: which leaves are the inputs (set each replay), which are the
/// parameters (read from the store each replay), which are constants (kept), and the nodes
/// computed from them, in order.
///
/// The recording's shapes are the plan's: [`Plan::fits`] says whether new inputs and the
/// store still match them (input shapes, the store, its parameters' count, shapes and
/// trainable flags). Control flow that depends on values (an `if` on a loss) is frozen at the
/// captured batch, as under `jax.jit`: that is the caller's responsibility. What the tape can
/// see is refused: reading a value during the step, a gradient taken without `create_graph`,
/// a custom op with a tensor backward.
///
/// ```
/// use borel_autograd::{ParamStore, Plan, Tape, Tensor};
/// let mut store = ParamStore::<f64>::new();
/// let w = store.add("w", Tensor::from_vec(vec![0.5, -1.0], &[2]), true);
/// let step = |x: &Tensor<f64>| {
///     Plan::capture(&store, &[(x, false)], |_tape, p, xs| Ok(((p[w] * xs[0]).sum() * 2.0).square()))
/// };
/// let x1 = Tensor::from_vec(vec![1.0, 2.0], &[2]);
/// let mut plan = step(&x1).unwrap();
/// let (loss, grads) = plan.backward(&store);
/// assert_eq!(loss, 9.0);
/// // Replayed on other data, against the eager step:
/// let x2 = Tensor::from_vec(vec![3.0, 1.0], &[2]);
/// assert!(plan.fits(&store, &[&x2]));
/// let (loss, grads) = plan.replay(&store, &[&x2]);
/// let tape = Tape::new();
/// let p = store.vars(&tape);
/// let eager = p.backward(((p[w] * tape.constant(x2.clone())).sum() * 2.0).square());
/// assert_eq!((loss, grads[w].data()), (1.0, eager[w].data()));
/// ```
pub struct Plan<F: Float = f32> {
    tape: Tape<F>,
    root: u32,
    /// Node ids of the inputs, and the shapes they were captured with.
    inputs: Vec<(u32, Shape)>,
    /// Node id of each parameter, by index in the store.
    params: Vec<u32>,
    store: u32,
    trainable: Vec<bool>,
    param_shapes: Vec<Shape>,
    /// The non-leaf nodes up to the root, in order.
    steps: Vec<u32>,
}

impl<F: Float> fmt::Debug for Plan<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Plan<{}> {{ nodes: {}, computed: {} }}",
            F::NAME,
            self.tape.len(),
            self.steps.len()
        )
    }
}

impl<F: Float> Plan<F> {
    /// Records `step` once on a fresh tape: the store's parameters placed on it (trainable
    /// ones as vars, as [`ParamStore::vars`] does), then `inputs` as leaves (`(value, true)`
    /// for a var, whose gradient the step may take, `(value, false)` for a constant). `step`
    /// returns the scalar loss, or refuses. The gradients of this first step come from
    /// [`Plan::backward`].
    ///
    /// ```
    /// use borel_autograd::{ParamStore, Plan, Tensor};
    /// let mut store = ParamStore::<f32>::new();
    /// let w = store.add("w", Tensor::ones(&[2]), true);
    /// let x = Tensor::from_vec(vec![3.0, 4.0], &[2]);
    /// let plan = Plan::capture(&store, &[(&x, false)], |_t, p, xs| Ok((p[w] * xs[0]).sum())).unwrap();
    /// let (loss, grads) = plan.backward(&store);
    /// assert_eq!((loss, grads[w].data()), (7.0, &[3.0, 4.0][..]));
    /// // A step that reads a value is refused, naming why:
    /// let err = Plan::capture(&store, &[(&x, false)], |_t, p, xs| Ok(p[w] * xs[0].sum().item())).unwrap_err();
    /// assert!(err.reason().contains("reads a value"));
    /// ```
    pub fn capture(
        store: &ParamStore<F>,
        inputs: &[(&Tensor<F>, bool)],
        step: impl for<'t> FnOnce(&'t Tape<F>, ParamVars<'t, F>, &[Var<'t, F>]) -> Result<Var<'t, F>, CaptureError>,
    ) -> Result<Plan<F>, CaptureError> {
        let tape = Tape::new();
        tape.capturing.set(true);
        let (root, params, ins) = {
            let p = store.vars(&tape);
            let params = p.node_ids();
            let xs: Vec<Var<'_, F>> = inputs
                .iter()
                .map(|&(x, grad)| {
                    if grad {
                        tape.var(x.clone())
                    } else {
                        tape.constant(x.clone())
                    }
                })
                .collect();
            let ins = xs.iter().zip(inputs).map(|(v, (x, _))| (v.id, x.dims())).collect();
            (step(&tape, p, &xs)?.id, params, ins)
        };
        tape.capturing.set(false);
        if let Some(why) = tape.taint.borrow_mut().take() {
            return Err(CaptureError::new(why));
        }
        let nodes = tape.nodes.borrow();
        let numel: usize = nodes.value(root as usize).shape().iter().product();
        if numel != 1 {
            return Err(CaptureError::new(format!(
                "the step returned a value of shape {:?}, not a scalar loss",
                nodes.value(root as usize).shape()
            )));
        }
        let steps = (0..=root).filter(|&i| !nodes.is_leaf(i as usize)).collect();
        drop(nodes);
        Ok(Plan {
            tape,
            root,
            inputs: ins,
            params,
            store: store.number(),
            trainable: store.trainable_flags().to_vec(),
            param_shapes: store.values().iter().map(Tensor::dims).collect(),
            steps,
        })
    }

    /// Number of nodes the capture recorded (leaves included): what a re-recording of the
    /// same step on the same shapes must record again.
    pub fn len(&self) -> usize {
        self.tape.len()
    }

    /// Whether the plan recorded nothing (never: a plan has at least its loss).
    pub fn is_empty(&self) -> bool {
        self.tape.is_empty()
    }

    /// Whether the plan can be replayed on `inputs` with `store`: the same input shapes, the
    /// store it was captured with, holding as many parameters, of the same shapes, trainable
    /// as they were. Otherwise capture again.
    pub fn fits(&self, store: &ParamStore<F>, inputs: &[&Tensor<F>]) -> bool {
        store.number() == self.store
            && store.trainable_flags() == self.trainable.as_slice()
            && inputs.len() == self.inputs.len()
            && inputs
                .iter()
                .zip(&self.inputs)
                .all(|(x, (_, s))| x.shape() == s.as_slice())
            && store
                .values()
                .iter()
                .zip(&self.param_shapes)
                .all(|(v, s)| v.shape() == s.as_slice())
    }

    /// Runs the plan on new `inputs` with the store's current parameters: the loss and the
    /// gradient of every trainable parameter it reaches, as the eager step gives them. Panics
    /// unless [`Plan::fits`].
    #[track_caller]
    pub fn replay(&mut self, store: &ParamStore<F>, inputs: &[&Tensor<F>]) -> (F, ParamGrads<F>) {
        if !self.fits(store, inputs) {
            let shapes: Vec<&[usize]> = inputs.iter().map(|x| x.shape()).collect();
            let want: Vec<&[usize]> = self.inputs.iter().map(|(_, s)| s.as_slice()).collect();
            panic!(
                "Plan::replay: inputs of shapes {shapes:?} (captured with {want:?}) or a store that changed since the capture: capture again"
            );
        }
        self.load(store, inputs);
        self.backward(store)
    }

    /// Sets the leaves and recomputes every node from them.
    fn load(&mut self, store: &ParamStore<F>, inputs: &[&Tensor<F>]) {
        let nodes = self.tape.nodes.get_mut();
        for (&id, v) in self.params.iter().zip(store.values()) {
            nodes.set_value(id as usize, v.clone());
        }
        for (&(id, _), &x) in self.inputs.iter().zip(inputs) {
            nodes.set_value(id as usize, x.clone());
        }
        for &i in &self.steps {
            nodes.recompute(i as usize);
        }
    }

    /// The loss and the parameters' gradients of the values the plan holds now (those of the
    /// capture, or of the last replay): the reverse sweep of [`Var::backward`].
    pub fn backward(&self, store: &ParamStore<F>) -> (F, ParamGrads<F>) {
        let (loss, seed) = {
            let nodes = self.tape.nodes.borrow();
            let y = nodes.value(self.root as usize);
            (y.item(), Tensor::ones(y.shape()))
        };
        let mut swept = if debug_nans() {
            sweep(&Eager, &self.tape, self.root, seed, &[])
        } else {
            self.sweep(seed)
        };
        let grads = self
            .params
            .iter()
            .zip(&self.trainable)
            .map(|(&id, &t)| {
                if t {
                    swept.get_mut(id as usize).and_then(Option::take)
                } else {
                    None
                }
            })
            .collect();
        give_spare(swept);
        (loss, ParamGrads::from_vec(store, grads))
    }

    /// The reverse sweep of [`Var::backward`] over the plan's computed nodes only, on nodes
    /// borrowed once: the same rules in the same order, so the same gradients, bit for bit
    /// (NaN tracing takes the tape's own sweep).
    fn sweep(&self, seed: Tensor<F>) -> Vec<Option<Tensor<F>>> {
        let nodes = self.tape.nodes.borrow();
        let root = self.root as usize;
        let mut grads: Vec<Option<Tensor<F>>> = take_spare();
        grads.resize(root + 1, None);
        if !nodes.requires_grad(root) {
            return grads;
        }
        grads[root] = Some(seed);
        for &i in self.steps.iter().rev() {
            let Some(g) = grads[i as usize].take() else {
                continue;
            };
            eager_backward_node(&nodes, i as usize, g, |j, gk| match &mut grads[j as usize] {
                slot @ None => *slot = Some(gk),
                Some(old) => add_assign(old, &gk),
            });
        }
        grads
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::param::{ParamGrads, ParamId};

    /// A tensor of `shape` from a seed: data that differs from batch to batch.
    fn data(shape: &[usize], seed: u64) -> Tensor<f64> {
        Tensor::from_fn(shape, |i| {
            (((i as u64 + 1) * (seed * 7919 + 13)) % 97) as f64 / 48.0 - 1.0
        })
    }

    fn bits(t: &Tensor<f64>) -> Vec<u64> {
        t.data().iter().map(|v| v.to_bits()).collect()
    }

    /// A random graph of ops over two parameters and the input, chosen by `seed`: the same
    /// code runs eagerly and under capture.
    fn dag<'t>(
        seed: u64,
        tape: &'t Tape<f64>,
        p: &ParamVars<'t, f64>,
        ws: &[ParamId],
        x: Var<'t, f64>,
    ) -> Var<'t, f64> {
        let mut pool = vec![x.matmul(p[ws[0]]), p[ws[1]] * 1.0];
        let mut s = seed;
        for _ in 0..24 {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let (a, b) = (
                pool[(s >> 33) as usize % pool.len()],
                pool[(s >> 17) as usize % pool.len()],
            );
            let v = match (s >> 45) % 9 {
                0 => a + b,
                1 => a * b,
                2 => a - b,
                3 => a.tanh(),
                4 => a.sin() * 0.5,
                5 => a.sigmoid() / (b.square() + 1.0),
                6 => a.relu() + b.gelu(),
                7 => a.matmul_t(b).matmul(b) * 0.1,
                _ => (a.sum_axes(&[0], true) + b).exp().affine(0.1, 0.0),
            };
            pool.push(v);
        }
        let _ = tape;
        pool.iter().fold(x.sum() * 0.0, |acc, v| acc + v.square().mean())
    }

    fn store() -> (ParamStore<f64>, Vec<ParamId>) {
        let mut store = ParamStore::new();
        let ws = vec![
            store.add("w", data(&[4, 3], 1), true),
            store.add("b", data(&[5, 3], 2), true),
        ];
        store.add("frozen", data(&[2], 3), false);
        (store, ws)
    }

    fn assert_same(a: &(f64, ParamGrads<f64>), b: &(f64, ParamGrads<f64>), store: &ParamStore<f64>) {
        assert_eq!(a.0.to_bits(), b.0.to_bits(), "losses differ");
        for id in store.ids() {
            assert_eq!(
                a.1.get(id).map(bits),
                b.1.get(id).map(bits),
                "gradients of {} differ",
                store.name(id)
            );
        }
    }

    /// Updates the parameters with their gradients, as an optimizer would.
    fn sgd(store: &mut ParamStore<f64>, grads: &ParamGrads<f64>) {
        for (id, w) in store.trainable_mut() {
            if let Some(g) = grads.get(id) {
                *w = Tensor::from_fn(w.shape(), |i| w.data()[i] - 0.01 * g.data()[i]);
            }
        }
    }

    #[test]
    fn replays_of_random_graphs_equal_the_eager_steps_bit_for_bit() {
        for seed in 0..12 {
            let (mut store, ws) = store();
            let x0 = data(&[5, 4], 100);
            let mut plan = Plan::capture(&store, &[(&x0, false)], |t, p, xs| Ok(dag(seed, t, &p, &ws, xs[0]))).unwrap();
            for batch in 0..4 {
                let x = data(&[5, 4], batch + 100);
                let eager = {
                    let tape = Tape::new();
                    let p = store.vars(&tape);
                    let loss = dag(seed, &tape, &p, &ws, tape.constant(x.clone()));
                    (loss.item(), p.backward(loss))
                };
                let got = if batch == 0 {
                    plan.backward(&store)
                } else {
                    plan.replay(&store, &[&x])
                };
                assert_same(&got, &eager, &store);
                sgd(&mut store, &got.1);
            }
        }
    }

    /// A PINN-style step: the loss holds the derivative of the network with respect to its
    /// input (create_graph), so the backward pass runs through a recorded backward pass.
    fn pinn<'t>(p: &ParamVars<'t, f64>, ws: &[ParamId], x: Var<'t, f64>, y: Var<'t, f64>) -> Var<'t, f64> {
        let v = p[ws[1]].sum_axes(&[0], true).matmul_t(p[ws[0]]).tanh();
        let u = (x.matmul_t(p[ws[0]]).tanh() * v).sum_axes(&[1], true);
        let du = x.tape().grad(u.sum(), &[x], true)[0];
        (du - y).square().mean() + u.square().mean()
    }

    #[test]
    fn a_pinn_step_with_create_graph_replays_bit_for_bit() {
        let (mut store, ws) = store();
        let (x0, y0) = (data(&[6, 3], 5), data(&[6, 3], 6));
        let mut plan = Plan::capture(&store, &[(&x0, true), (&y0, false)], |_t, p, xs| {
            Ok(pinn(&p, &ws, xs[0], xs[1]))
        })
        .unwrap();
        for batch in 1..5 {
            let (x, y) = (data(&[6, 3], batch + 10), data(&[6, 3], batch + 20));
            let eager = {
                let tape = Tape::new();
                let p = store.vars(&tape);
                let loss = pinn(&p, &ws, tape.var(x.clone()), tape.constant(y.clone()));
                (loss.item(), p.backward(loss))
            };
            let got = plan.replay(&store, &[&x, &y]);
            assert_same(&got, &eager, &store);
            sgd(&mut store, &got.1);
        }
    }

    #[test]
    fn guards_refuse_other_shapes_and_changed_stores() {
        let (mut store, ws) = store();
        let x = data(&[5, 4], 1);
        let plan = Plan::capture(&store, &[(&x, false)], |t, p, xs| Ok(dag(3, t, &p, &ws, xs[0]))).unwrap();
        assert!(plan.fits(&store, &[&x]));
        assert!(
            !plan.fits(&store, &[&data(&[3, 4], 1)]),
            "a short batch needs a capture of its own"
        );
        assert!(!plan.fits(&store.clone(), &[&x]), "another store");
        store.set_trainable(ws[1], false);
        assert!(!plan.fits(&store, &[&x]), "a frozen parameter");
        store.set_trainable(ws[1], true);
        store.add("late", Tensor::zeros(&[1]), true);
        assert!(!plan.fits(&store, &[&x]), "a parameter added after the capture");
    }

    /// A step of the tape, a weight and the input.
    type Step = dyn for<'t> Fn(&'t Tape<f64>, Var<'t, f64>, Var<'t, f64>) -> Var<'t, f64>;

    #[test]
    fn steps_whose_constants_would_freeze_data_are_refused() {
        let (store, ws) = store();
        let x = data(&[5, 4], 1);
        let refused = |f: &Step| {
            Plan::capture(&store, &[(&x, false)], |t, p, xs| Ok(f(t, p[ws[0]], xs[0])))
                .unwrap_err()
                .to_string()
        };
        assert!(refused(&|_, w, x| (x.matmul(w).detach() * w.sum()).sum()).contains("reads a value"));
        assert!(refused(&|_, w, x| (x.matmul(w).gt(0.0) * x.matmul(w)).sum()).contains("reads a value"));
        fn grad_without_graph<'t>(t: &'t Tape<f64>, w: Var<'t, f64>, x: Var<'t, f64>) -> Var<'t, f64> {
            let g = t.grad(x.matmul(w).sum(), &[w], false)[0];
            (g * w).sum()
        }
        assert!(refused(&grad_without_graph).contains("create_graph"));
    }

    #[test]
    fn work_under_no_grad_is_recomputed_not_frozen() {
        let (store, ws) = store();
        fn f<'t>(t: &'t Tape<f64>, w: Var<'t, f64>, x: Var<'t, f64>) -> Var<'t, f64> {
            let scale = t.no_grad(|| x.square().mean() + 1.0);
            (x.matmul(w) / scale).square().sum()
        }
        let x = data(&[5, 4], 1);
        let mut plan = Plan::capture(&store, &[(&x, false)], |t, p, xs| Ok(f(t, p[ws[0]], xs[0]))).unwrap();
        let x2 = data(&[5, 4], 9);
        let tape = Tape::new();
        let p = store.vars(&tape);
        let eager_loss = f(&tape, p[ws[0]], tape.constant(x2.clone()));
        let eager = (eager_loss.item(), p.backward(eager_loss));
        assert_same(&plan.replay(&store, &[&x2]), &eager, &store);
    }
}
