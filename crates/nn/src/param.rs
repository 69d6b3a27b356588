//! Parameters live outside the tape, in a [`ParamStore`]; each forward pass places the ones it
//! uses on the tape through a [`Ctx`].

use std::cell::RefCell;

use borel_autograd::{Float, GradStore, Tape, Tensor, Var};
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::init::Init;

/// A parameter's handle: its index in the [`ParamStore`] that made it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ParamId(pub(crate) usize);

impl ParamId {
    /// The index in the store.
    pub fn index(self) -> usize {
        self.0
    }
}

/// Every parameter of a model, by stable name (`0.kernel`, `encoder.dense1.bias`).
///
/// Modules hold [`ParamId`]s; optimizers and weight files walk the store. A user's own struct
/// of modules therefore lists nothing: whatever its layers registered while being built is
/// here (the design of candle's `VarMap`).
///
/// ```
/// use borel_nn::{Activation, Builder, Dense, ParamStore};
/// let mut store = ParamStore::<f32>::new();
/// let mut b = Builder::new(&mut store, 0);
/// let layer = Dense::new(3).activation(Activation::Tanh).build(&mut b.sub("encoder"), "dense1", 2);
/// assert_eq!(store.names(), vec!["encoder.dense1.kernel", "encoder.dense1.bias"]);
/// assert_eq!(store.num_params(), 9);
/// # let _ = layer;
/// ```
#[derive(Clone, Debug, Default)]
pub struct ParamStore<F: Float> {
    names: Vec<String>,
    values: Vec<Tensor<F>>,
    trainable: Vec<bool>,
}

impl<F: Float> ParamStore<F> {
    /// An empty store.
    pub fn new() -> Self {
        ParamStore {
            names: Vec::new(),
            values: Vec::new(),
            trainable: Vec::new(),
        }
    }

    /// Registers a parameter; panics if the name is taken (a programming error).
    #[track_caller]
    pub fn add(&mut self, name: &str, value: Tensor<F>, trainable: bool) -> ParamId {
        if self.names.iter().any(|n| n == name) {
            panic!("ParamStore::add: a parameter named '{name}' already exists");
        }
        self.names.push(name.to_string());
        self.values.push(value);
        self.trainable.push(trainable);
        ParamId(self.values.len() - 1)
    }

    /// Number of parameter tensors.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether the store is empty.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Total number of scalar parameters.
    pub fn num_params(&self) -> usize {
        self.values.iter().map(|t| t.numel()).sum()
    }

    /// Number of scalar parameters that training updates.
    pub fn num_trainable(&self) -> usize {
        self.values
            .iter()
            .zip(&self.trainable)
            .filter(|(_, t)| **t)
            .map(|(v, _)| v.numel())
            .sum()
    }

    /// The value of a parameter.
    pub fn get(&self, id: ParamId) -> &Tensor<F> {
        &self.values[id.0]
    }

    /// Mutable access to a parameter's value.
    pub fn get_mut(&mut self, id: ParamId) -> &mut Tensor<F> {
        &mut self.values[id.0]
    }

    /// A parameter's name.
    pub fn name(&self, id: ParamId) -> &str {
        &self.names[id.0]
    }

    /// Whether training updates this parameter.
    pub fn is_trainable(&self, id: ParamId) -> bool {
        self.trainable[id.0]
    }

    /// Freezes or unfreezes a parameter.
    pub fn set_trainable(&mut self, id: ParamId, trainable: bool) {
        self.trainable[id.0] = trainable;
    }

    /// The id of the parameter called `name`.
    pub fn find(&self, name: &str) -> Option<ParamId> {
        self.names.iter().position(|n| n == name).map(ParamId)
    }

    /// All names, in registration order.
    pub fn names(&self) -> Vec<&str> {
        self.names.iter().map(String::as_str).collect()
    }

    /// All ids, in registration order.
    pub fn ids(&self) -> impl Iterator<Item = ParamId> + use<F> {
        (0..self.values.len()).map(ParamId)
    }

    /// `(id, name, value)` for every parameter.
    pub fn iter(&self) -> impl Iterator<Item = (ParamId, &str, &Tensor<F>)> {
        self.names
            .iter()
            .zip(&self.values)
            .enumerate()
            .map(|(i, (n, v))| (ParamId(i), n.as_str(), v))
    }

    /// `(id, name, value)` for every parameter, values mutable (for optimizers).
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (ParamId, &str, &mut Tensor<F>)> {
        self.names
            .iter()
            .zip(self.values.iter_mut())
            .enumerate()
            .map(|(i, (n, v))| (ParamId(i), n.as_str(), v))
    }

    /// Replaces every value at once (used by weight loading after all checks passed).
    pub(crate) fn replace_values(&mut self, values: Vec<Tensor<F>>) {
        debug_assert_eq!(values.len(), self.values.len());
        self.values = values;
    }

    /// A copy of every value, to restore later (early stopping's best weights).
    pub fn snapshot(&self) -> Vec<Tensor<F>> {
        self.values.clone()
    }

    /// Puts back values taken with [`ParamStore::snapshot`].
    #[track_caller]
    pub fn restore(&mut self, values: &[Tensor<F>]) {
        assert!(
            values.len() == self.values.len(),
            "ParamStore::restore: {} values for {} parameters",
            values.len(),
            self.len()
        );
        for (v, new) in self.values.iter_mut().zip(values) {
            assert!(
                v.shape() == new.shape(),
                "ParamStore::restore: shape {:?} for a parameter of shape {:?}",
                new.shape(),
                v.shape()
            );
            *v = new.clone();
        }
    }
}

/// Registers parameters under a name prefix, initializing them from one seeded generator.
pub struct Builder<'a, F: Float> {
    store: &'a mut ParamStore<F>,
    rng: RngRef<'a>,
    prefix: String,
}

enum RngRef<'a> {
    Owned(Box<StdRng>),
    Borrowed(&'a mut StdRng),
}

impl<'a, F: Float> Builder<'a, F> {
    /// A builder for `store`, its initializers seeded with `seed`.
    pub fn new(store: &'a mut ParamStore<F>, seed: u64) -> Self {
        Builder {
            store,
            rng: RngRef::Owned(Box::new(StdRng::seed_from_u64(seed))),
            prefix: String::new(),
        }
    }

    /// A builder whose names are prefixed with `name.`, sharing this one's generator.
    pub fn sub(&mut self, name: &str) -> Builder<'_, F> {
        let prefix = format!("{}{name}.", self.prefix);
        let rng = match &mut self.rng {
            RngRef::Owned(r) => RngRef::Borrowed(r),
            RngRef::Borrowed(r) => RngRef::Borrowed(r),
        };
        Builder {
            store: self.store,
            rng,
            prefix,
        }
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

    /// The store being filled.
    pub fn store(&self) -> &ParamStore<F> {
        self.store
    }
}

/// One forward pass: the tape, the parameters, train/eval mode and dropout's generator.
///
/// ```
/// use borel_autograd::{Tape, Tensor};
/// use borel_nn::{Builder, Ctx, Dense, Module, ParamStore};
/// let mut store = ParamStore::<f64>::new();
/// let layer = Dense::new(1).build(&mut Builder::new(&mut store, 0), "out", 2);
/// let tape = Tape::new();
/// let cx = Ctx::new(&tape, &store, true);
/// let y = layer.forward(&cx, tape.constant(Tensor::ones(&[4, 2])));
/// let grads = y.sum().backward();
/// let g = cx.gradients(&grads);
/// assert_eq!(g[0].as_ref().unwrap().shape(), &[2, 1]); // the kernel's gradient
/// ```
pub struct Ctx<'t, 's, F: Float> {
    tape: &'t Tape<F>,
    store: &'s ParamStore<F>,
    vars: RefCell<Vec<Option<Var<'t, F>>>>,
    training: bool,
    rng: RefCell<StdRng>,
}

impl<'t, 's, F: Float> Ctx<'t, 's, F> {
    /// A context in training (`true`) or inference mode; dropout's generator seeded with 0.
    pub fn new(tape: &'t Tape<F>, store: &'s ParamStore<F>, training: bool) -> Self {
        Self::with_seed(tape, store, training, 0)
    }

    /// A context whose dropout masks come from `seed`.
    pub fn with_seed(tape: &'t Tape<F>, store: &'s ParamStore<F>, training: bool, seed: u64) -> Self {
        Ctx {
            tape,
            store,
            vars: RefCell::new(vec![None; store.len()]),
            training,
            rng: RefCell::new(StdRng::seed_from_u64(seed)),
        }
    }

    /// The tape.
    pub fn tape(&self) -> &'t Tape<F> {
        self.tape
    }

    /// Whether this is a training pass (dropout active).
    pub fn training(&self) -> bool {
        self.training
    }

    /// The parameter as a var, placed on the tape on first use (as a constant when frozen).
    pub fn param(&self, id: ParamId) -> Var<'t, F> {
        let mut vars = self.vars.borrow_mut();
        if let Some(v) = vars[id.0] {
            return v;
        }
        let value = self.store.get(id).clone();
        let v = if self.store.is_trainable(id) {
            self.tape.var(value)
        } else {
            self.tape.constant(value)
        };
        vars[id.0] = Some(v);
        v
    }

    /// Uses `var` for parameter `id` in this pass instead of the store's value: for checking a
    /// module's gradients with `gradcheck`, or calling it with other weights.
    #[track_caller]
    pub fn bind(&self, id: ParamId, var: Var<'t, F>) {
        let expected = self.store.get(id).shape();
        assert!(
            var.shape().as_slice() == expected,
            "Ctx::bind: var of shape {:?} for parameter '{}' of shape {expected:?}",
            var.shape(),
            self.store.name(id)
        );
        self.vars.borrow_mut()[id.0] = Some(var);
    }

    /// Runs `f` with dropout's generator.
    pub fn with_rng<R>(&self, f: impl FnOnce(&mut StdRng) -> R) -> R {
        f(&mut self.rng.borrow_mut())
    }

    /// The gradient of every parameter, indexed by [`ParamId`]; `None` for parameters this pass
    /// did not use or that are frozen.
    pub fn gradients(&self, grads: &GradStore<F>) -> Vec<Option<Tensor<F>>> {
        self.vars
            .borrow()
            .iter()
            .enumerate()
            .map(|(i, v)| {
                v.filter(|_| self.store.is_trainable(ParamId(i)))
                    .and_then(|v| grads.get(v).cloned())
            })
            .collect()
    }
}
