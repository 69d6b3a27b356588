//! Parameters live outside the tape, in a [`ParamStore`]; a [`ParamBuilder`] registers them
//! while modules are built, and each forward pass places them on a tape through a [`ForwardPass`].

use std::cell::{Cell, RefCell};

use borel_autograd::{Float, GradStore, ParamGrads, ParamId, ParamStore, ParamVars, Tape, Tensor, Var};
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::init::{Init, InitPreset};

/// Registers parameters under a name prefix, initializing them from one seeded generator.
///
/// ```
/// use borel_nn::{Activation, Dense, ParamBuilder, ParamStore};
/// let mut store = ParamStore::<f32>::new();
/// let mut b = ParamBuilder::new(&mut store, 0);
/// let layer = Dense::new(3).activation(Activation::Tanh).build(&mut b.sub("encoder"), "dense1", 2);
/// assert_eq!(store.names(), vec!["encoder.dense1.kernel", "encoder.dense1.bias"]);
/// assert_eq!(store.num_params(), 9);
/// # let _ = layer;
/// ```
pub struct ParamBuilder<'a, F: Float = f32> {
    store: &'a mut ParamStore<F>,
    rng: RngRef<'a>,
    prefix: String,
    preset: InitPreset,
}

enum RngRef<'a> {
    Owned(Box<StdRng>),
    Borrowed(&'a mut StdRng),
}

impl<'a, F: Float> ParamBuilder<'a, F> {
    /// A builder for `store`, its initializers seeded with `seed`.
    pub fn new(store: &'a mut ParamStore<F>, seed: u64) -> Self {
        ParamBuilder {
            store,
            rng: RngRef::Owned(Box::new(StdRng::seed_from_u64(seed))),
            prefix: String::new(),
            preset: InitPreset::Keras,
        }
    }

    /// A builder whose names are prefixed with `name.`, sharing this one's generator.
    pub fn sub(&mut self, name: &str) -> ParamBuilder<'_, F> {
        let prefix = format!("{}{name}.", self.prefix);
        let rng = match &mut self.rng {
            RngRef::Owned(r) => RngRef::Borrowed(r),
            RngRef::Borrowed(r) => RngRef::Borrowed(r),
        };
        ParamBuilder {
            store: self.store,
            rng,
            prefix,
            preset: self.preset,
        }
    }

    /// The same builder with layers initialized as `preset`'s framework does, where a layer
    /// sets no initializer of its own (default [`InitPreset::Keras`]); sub-builders inherit it.
    ///
    /// ```
    /// use borel_nn::{Dense, InitPreset, ParamBuilder, ParamStore};
    /// let mut store = ParamStore::<f32>::new();
    /// let mut b = ParamBuilder::new(&mut store, 0).init_preset(InitPreset::PyTorch);
    /// let layer = Dense::new(2).build(&mut b, "fc", 100);
    /// assert!(store.get(layer.kernel()).data().iter().all(|w| w.abs() <= 0.1));
    /// ```
    pub fn init_preset(mut self, preset: InitPreset) -> Self {
        self.preset = preset;
        self
    }

    /// The initialization preset layers built here follow.
    pub fn preset(&self) -> InitPreset {
        self.preset
    }

    /// The prefix of the names made here (`encoder.dense1.`; empty at the top).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Creates a trainable parameter `prefix + name` of `shape`, with fans taken from the
    /// shape as Keras does (`[fan_in, fan_out]` for a kernel).
    #[track_caller]
    pub fn param(&mut self, name: &str, shape: &[usize], init: Init) -> ParamId {
        let rng = match &mut self.rng {
            RngRef::Owned(r) => &mut **r,
            RngRef::Borrowed(r) => &mut **r,
        };
        let value = init.sample(shape, rng);
        let full = format!("{}{name}", self.prefix);
        self.store.add(&full, value, true)
    }

    /// Creates a non-trainable buffer `prefix + name` holding `value`, set by training passes
    /// (a batch norm's running mean) and counted among the non-trainable parameters, as Keras
    /// counts them; `counted: false` keeps it out of the counts (PyTorch's
    /// `num_batches_tracked`, which Keras does not have).
    ///
    /// ```
    /// use borel_autograd::Tensor;
    /// use borel_nn::{ParamBuilder, ParamStore};
    /// let mut store = ParamStore::<f32>::new();
    /// let mut b = ParamBuilder::new(&mut store, 0);
    /// b.buffer("running_var", Tensor::ones(&[4]), true);
    /// b.buffer("num_batches_tracked", Tensor::zeros(&[]), false);
    /// assert_eq!((store.num_params(), store.num_trainable()), (4, 0));
    /// ```
    #[track_caller]
    pub fn buffer(&mut self, name: &str, value: Tensor<F>, counted: bool) -> ParamId {
        let full = format!("{}{name}", self.prefix);
        if counted {
            self.store.add(&full, value, false)
        } else {
            self.store.add_uncounted(&full, value)
        }
    }

    /// The store being filled.
    pub fn store(&self) -> &ParamStore<F> {
        self.store
    }
}

/// One forward pass: the tape, the parameters placed on it, train or eval mode, and
/// dropout's generator.
///
/// ```
/// use borel_autograd::{ParamStore, Tape, Tensor};
/// use borel_nn::{Dense, ForwardPass, Module, ParamBuilder};
/// let mut store = ParamStore::<f64>::new();
/// let layer = Dense::new(1).build(&mut ParamBuilder::new(&mut store, 0), "out", 2);
/// let tape = Tape::new();
/// let fw = ForwardPass::train(&tape, &store);
/// let y = layer.forward(&fw, tape.constant(Tensor::ones(&[4, 2])));
/// let grads = fw.backward(y.sum());
/// assert_eq!(grads[layer.kernel()].shape(), &[2, 1]);
/// ```
pub struct ForwardPass<'t, F: Float = f32> {
    tape: &'t Tape<F>,
    params: ParamVars<'t, F>,
    training: bool,
    rng: RefCell<StdRng>,
    /// Buffer values set by this pass, in the order set (the last for an id wins).
    buffers: RefCell<Vec<(ParamId, Tensor<F>)>>,
    /// Whether dropout's generator was used (a step that cannot be captured).
    rng_used: Cell<bool>,
}

impl<'t, F: Float> ForwardPass<'t, F> {
    /// A training pass (dropout active) over the parameters of `store`.
    pub fn train(tape: &'t Tape<F>, store: &ParamStore<F>) -> Self {
        Self::new(tape, store, true)
    }

    /// An inference pass (dropout off).
    pub fn eval(tape: &'t Tape<F>, store: &ParamStore<F>) -> Self {
        Self::new(tape, store, false)
    }

    /// A pass in training (`true`) or inference mode; dropout's generator seeded with 0.
    pub fn new(tape: &'t Tape<F>, store: &ParamStore<F>, training: bool) -> Self {
        Self::with_params(tape, store.vars(tape), training)
    }

    /// A pass over parameters already placed on `tape` (by a capture).
    pub(crate) fn with_params(tape: &'t Tape<F>, params: ParamVars<'t, F>, training: bool) -> Self {
        ForwardPass {
            tape,
            params,
            training,
            rng: RefCell::new(StdRng::seed_from_u64(0)),
            buffers: RefCell::new(Vec::new()),
            rng_used: Cell::new(false),
        }
    }

    /// Why this pass could not be replayed by a captured step: it drew from dropout's
    /// generator, or set a buffer (running statistics).
    pub(crate) fn capture_refusal(&self) -> Option<&'static str> {
        if self.rng_used.get() {
            Some("the step draws from dropout's generator (a new mask each step); run it eagerly")
        } else if !self.buffers.borrow().is_empty() {
            Some("the step sets buffers (a batch norm's running statistics); run it eagerly")
        } else {
            None
        }
    }

    /// The same pass with dropout's masks drawn from `seed`.
    pub fn seed(self, seed: u64) -> Self {
        self.rng.replace(StdRng::seed_from_u64(seed));
        self
    }

    /// The tape.
    pub fn tape(&self) -> &'t Tape<F> {
        self.tape
    }

    /// Whether this is a training pass (dropout active).
    pub fn training(&self) -> bool {
        self.training
    }

    /// The parameter as a var on the tape (a constant when frozen).
    #[track_caller]
    pub fn param(&self, id: ParamId) -> Var<'t, F> {
        self.params.get(id)
    }

    /// Uses `var` for parameter `id` in this pass instead of the store's value: for checking a
    /// module's gradients with `gradcheck`, or calling it with other weights.
    #[track_caller]
    pub fn bind(&mut self, id: ParamId, var: Var<'t, F>) {
        self.params.bind(id, var);
    }

    /// Runs `f` with dropout's generator.
    pub fn with_rng<R>(&self, f: impl FnOnce(&mut StdRng) -> R) -> R {
        self.rng_used.set(true);
        f(&mut self.rng.borrow_mut())
    }

    /// Backward from the scalar `loss`: the gradient of every trainable parameter, keyed by
    /// [`ParamId`], ready for an optimizer's `update`.
    #[track_caller]
    pub fn backward(&self, loss: Var<'t, F>) -> ParamGrads<F> {
        self.with_buffers(self.params.backward(loss))
    }

    /// The parameters' gradients moved out of a [`GradStore`] (when the backward pass was run
    /// by hand).
    pub fn grads(&self, grads: GradStore<F>) -> ParamGrads<F> {
        self.with_buffers(self.params.grads(grads))
    }

    /// The current value of the buffer `id` in this pass: the last value set by
    /// [`ForwardPass::set_buffer`], else the store's.
    ///
    /// ```
    /// use borel_autograd::{ParamStore, Tape, Tensor};
    /// use borel_nn::ForwardPass;
    /// let mut store = ParamStore::<f32>::new();
    /// let mean = store.add("running_mean", Tensor::zeros(&[2]), false);
    /// let tape = Tape::new();
    /// let fw = ForwardPass::train(&tape, &store);
    /// fw.set_buffer(mean, Tensor::ones(&[2]));
    /// assert_eq!(fw.buffer(mean).data(), &[1.0, 1.0]);
    /// let grads = fw.backward(tape.constant(Tensor::scalar(0.0)));
    /// store.apply_buffers(&grads); // what every optimizer's update does first
    /// assert_eq!(store.get(mean).data(), &[1.0, 1.0]);
    /// ```
    #[track_caller]
    pub fn buffer(&self, id: ParamId) -> Tensor<F> {
        let set = self.buffers.borrow();
        match set.iter().rev().find(|(i, _)| *i == id) {
            Some((_, v)) => v.clone(),
            None => self.params.get(id).value(),
        }
    }

    /// Sets the buffer `id` (a running statistic) to `value` for the rest of this pass; the
    /// gradients from [`ForwardPass::backward`] carry it to the store, where the optimizer's
    /// update writes it (or [`ForwardPass::write_buffers`] without an optimizer).
    #[track_caller]
    pub fn set_buffer(&self, id: ParamId, value: Tensor<F>) {
        let current = self.params.get(id).shape();
        assert!(
            value.shape() == current.as_slice(),
            "ForwardPass::set_buffer: value of shape {:?} for a buffer of shape {:?}",
            value.shape(),
            current.as_slice()
        );
        self.buffers.borrow_mut().push((id, value));
    }

    /// Writes the buffers this pass set into `store` (running statistics recomputed by
    /// training-mode passes without a backward pass or an optimizer).
    #[track_caller]
    pub fn write_buffers(&self, store: &mut ParamStore<F>) {
        store.apply_buffers(&self.with_buffers(ParamGrads::new(store)));
    }

    fn with_buffers(&self, mut grads: ParamGrads<F>) -> ParamGrads<F> {
        for (id, value) in self.buffers.borrow().iter() {
            grads.set_buffer(*id, value.clone());
        }
        grads
    }
}
