//! Captured training steps: Borel's `torch.compile(step)`. The step is written as usual,
//! define-by-run; [`Captured`] records it once per input shape and replays the recording on
//! each new batch, returning the same loss and gradients as the eager step, bit for bit.

use borel_autograd::{CaptureError, Float, ParamGrads, ParamStore, Plan, Tape, Tensor, Var};

use crate::param::ForwardPass;

/// A step's loss and the gradients of the trainable parameters, or why it cannot be captured.
pub type StepResult<F> = Result<(F, ParamGrads<F>), CaptureError>;

/// How many input shapes a step keeps plans for (the full batch, the short last one, ...).
const CACHE: usize = 4;

/// The plans of one step, by input shape, without the step itself: what [`Captured`] holds,
/// and what a loop that cannot keep its step in a closure (`Model::fit`) uses directly,
/// passing the step to each run.
///
/// ```
/// use borel_autograd::{ParamStore, Tensor};
/// use borel_nn::{CapturedPlans, Dense, Loss, Module, ParamBuilder};
/// let mut store = ParamStore::<f32>::new();
/// let net = Dense::new(1).build(&mut ParamBuilder::new(&mut store, 0), "out", 2);
/// let mut plans = CapturedPlans::new();
/// let (x, y) = (Tensor::ones(&[4, 2]), Tensor::zeros(&[4, 1]));
/// let (loss, grads) = plans.run(&store, &x, &y, &|fw, x, y| Loss::Mse.of(net.forward(fw, x), y)).unwrap();
/// assert!(loss >= 0.0 && grads.get(net.kernel()).is_some());
/// ```
pub struct CapturedPlans<F: Float = f32> {
    /// Most recently used first.
    plans: Vec<Plan<F>>,
    replays: usize,
    check_every: usize,
    x_grad: bool,
}

impl<F: Float> Default for CapturedPlans<F> {
    fn default() -> Self {
        Self::new()
    }
}

impl<F: Float> CapturedPlans<F> {
    /// No plans yet. In debug builds every 100th replay records the step again and panics if
    /// it records another number of ops (control flow that depends on values).
    pub fn new() -> Self {
        CapturedPlans {
            plans: Vec::new(),
            replays: 0,
            check_every: if cfg!(debug_assertions) { 100 } else { 0 },
            x_grad: false,
        }
    }

    /// Records the step again every `n` replays (0: never) and panics when it records another
    /// number of ops than when it was captured.
    pub fn check_every(mut self, n: usize) -> Self {
        self.check_every = n;
        self
    }

    /// Places the input `x` as a var, so that the step can take gradients with respect to it
    /// (`tape.grad(u, &[x], true)` in a physics-informed loss).
    pub fn input_grad(mut self, on: bool) -> Self {
        self.x_grad = on;
        self
    }

    /// One step on the batch `(x, y)`: the loss and the gradients of the trainable
    /// parameters, replayed from the plan for these shapes (captured now if there is none, or
    /// if parameters were added or frozen since). Errs when the step cannot be captured.
    #[track_caller]
    pub fn run<S>(&mut self, store: &ParamStore<F>, x: &Tensor<F>, y: &Tensor<F>, step: &S) -> StepResult<F>
    where
        S: for<'t> Fn(&ForwardPass<'t, F>, Var<'t, F>, Var<'t, F>) -> Var<'t, F>,
    {
        let inputs = [x, y];
        if let Some(k) = self.plans.iter().position(|p| p.fits(store, &inputs)) {
            self.plans[..=k].rotate_right(1);
            self.replays += 1;
            if self.check_every > 0 && self.replays % self.check_every == 0 {
                self.check(store, x, y, step);
            }
            return Ok(self.plans[0].replay(store, &inputs));
        }
        let plan = self.capture(store, x, y, step)?;
        let out = plan.backward(store);
        self.plans.insert(0, plan);
        self.plans.truncate(CACHE);
        Ok(out)
    }

    fn capture<S>(&self, store: &ParamStore<F>, x: &Tensor<F>, y: &Tensor<F>, step: &S) -> Result<Plan<F>, CaptureError>
    where
        S: for<'t> Fn(&ForwardPass<'t, F>, Var<'t, F>, Var<'t, F>) -> Var<'t, F>,
    {
        Plan::capture(store, &[(x, self.x_grad), (y, false)], |tape: &Tape<F>, params, xs| {
            let fw = ForwardPass::with_params(tape, params, true);
            let loss = step(&fw, xs[0], xs[1]);
            match fw.capture_refusal() {
                Some(why) => Err(CaptureError::new(why)),
                None => Ok(loss),
            }
        })
    }

    /// Records the step again and panics if it records another number of nodes.
    #[track_caller]
    fn check<S>(&self, store: &ParamStore<F>, x: &Tensor<F>, y: &Tensor<F>, step: &S)
    where
        S: for<'t> Fn(&ForwardPass<'t, F>, Var<'t, F>, Var<'t, F>) -> Var<'t, F>,
    {
        let again = self.capture(store, x, y, step).map(|p| p.len());
        let had = self.plans[0].len();
        if again != Ok(had) {
            panic!(
                "Captured: the step recorded {had} nodes when captured and {again:?} now, on inputs of the same shapes: \
                 its control flow depends on values, which a captured step freezes (as jax.jit does); run it eagerly"
            );
        }
    }
}

/// A training step captured for replay: PyTorch's `step = torch.compile(step)`, JAX's
/// `jax.jit(jax.value_and_grad(loss))`.
///
/// Write the step closure inside the call (`Captured::new(|fw, x, y| ...)`): a closure bound
/// to a `let` first is not inferred to work for every tape lifetime, and is rejected.
///
/// The step is the usual forward and loss, from a [`ForwardPass`], the input and the target.
/// [`Captured::run`] records it the first time it meets an input shape and replays the
/// recording afterwards: the same kernels on the new data, then the same reverse sweep as
/// [`ForwardPass::backward`], so the loss and gradients are the eager step's, bit for bit.
///
/// Guards, as `jax.jit` users expect: input shapes are the cache key (a short last batch is
/// captured again, up to 4 shapes kept); parameters added to the store or frozen since the
/// capture make it capture again; a step that draws dropout masks, sets buffers (batch norm
/// in training), reads a value (`item`, a comparison's mask, a label lookup), takes a
/// gradient without `create_graph` or applies a custom op with a tensor backward is refused
/// with the reason. Control flow that depends on values is frozen at the captured batch, as
/// under `jax.jit`: that is the step's author's responsibility; debug builds record the step
/// again every 100 replays and panic when the number of ops changed.
///
/// ```
/// use borel_autograd::{ParamStore, Tape, Tensor};
/// use borel_nn::{Activation, Captured, Dense, ForwardPass, Loss, Module, ParamBuilder};
/// let mut store = ParamStore::<f32>::new();
/// let net = Dense::new(1).activation(Activation::Sigmoid).build(&mut ParamBuilder::new(&mut store, 0), "out", 2);
/// let mut step = Captured::new(|fw, x, y| Loss::Mse.of(net.forward(fw, x), y));
/// for seed in 0..3 {
///     let (x, y) = (Tensor::full(&[8, 2], seed as f32), Tensor::ones(&[8, 1]));
///     let (loss, grads) = step.run(&store, &x, &y);
///     // The eager step, for comparison:
///     let tape = Tape::new();
///     let fw = ForwardPass::train(&tape, &store);
///     let l = Loss::Mse.of(net.forward(&fw, tape.constant(x)), y);
///     assert_eq!(loss.to_bits(), l.item().to_bits());
///     assert_eq!(grads[net.kernel()], fw.backward(l)[net.kernel()]);
/// }
/// ```
pub struct Captured<F: Float, S> {
    step: S,
    plans: CapturedPlans<F>,
}

impl<F: Float, S> Captured<F, S>
where
    S: for<'t> Fn(&ForwardPass<'t, F>, Var<'t, F>, Var<'t, F>) -> Var<'t, F>,
{
    /// Wraps `step` (forward pass, input, target) -> scalar loss. Nothing runs yet.
    pub fn new(step: S) -> Self {
        Captured {
            step,
            plans: CapturedPlans::new(),
        }
    }

    /// The same, with the plans' options set (`CapturedPlans::new().input_grad(true)`).
    ///
    /// ```
    /// use borel_autograd::{ParamStore, Tensor};
    /// use borel_nn::{Captured, CapturedPlans};
    /// let mut store = ParamStore::<f64>::new();
    /// let w = store.add("w", Tensor::ones(&[1, 1]), true);
    /// // A loss with the derivative of the network with respect to its input:
    /// let mut step = Captured::with(CapturedPlans::new().input_grad(true), |fw, x, y| {
    ///     let u = x.matmul(fw.param(w)).tanh();
    ///     let du = fw.tape().grad(u.sum(), &[x], true)[0];
    ///     (du - y).square().mean()
    /// });
    /// let (_, grads) = step.run(&store, &Tensor::zeros(&[3, 1]), &Tensor::zeros(&[3, 1]));
    /// assert_eq!(grads[w].data(), &[2.0]);
    /// ```
    pub fn with(plans: CapturedPlans<F>, step: S) -> Self {
        Captured { step, plans }
    }

    /// One step on `(x, y)`: the loss and the gradients of the trainable parameters, for an
    /// optimizer's `update`. Panics with the reason when the step cannot be captured (see
    /// [`Captured::try_run`]).
    #[track_caller]
    pub fn run(&mut self, store: &ParamStore<F>, x: &Tensor<F>, y: &Tensor<F>) -> (F, ParamGrads<F>) {
        self.try_run(store, x, y)
            .unwrap_or_else(|e| panic!("Captured::run: {e}"))
    }

    /// [`Captured::run`], with a step that cannot be captured as an error (run it eagerly).
    #[track_caller]
    pub fn try_run(&mut self, store: &ParamStore<F>, x: &Tensor<F>, y: &Tensor<F>) -> StepResult<F> {
        self.plans.run(store, x, y, &self.step)
    }
}
