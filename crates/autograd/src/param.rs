//! Parameters: values that live outside the tape, each with one identity, its [`ParamId`],
//! from the forward code through its gradient to its optimizer's buffers.
//!
//! A [`ParamStore`] holds the values; [`ParamStore::vars`] places them on a tape for one
//! step; [`ParamVars::backward`] returns their gradients as [`ParamGrads`], keyed by the same
//! ids (moved out of the tape's gradient store, not copied). Names are kept only for weight
//! files and messages.
//!
//! ```
//! use borel_autograd::{ParamStore, Tape, Tensor};
//! let mut store = ParamStore::<f64>::new();
//! let w = store.add("w", Tensor::from_vec(vec![1.0, -2.0], &[2]), true);
//! for _ in 0..100 {
//!     let tape = Tape::new();
//!     let p = store.vars(&tape);
//!     let loss = p[w].square().sum(); // |w|^2
//!     let grads = p.backward(loss);
//!     *store.get_mut(w) = store.get(w) - &(&grads[w] * 0.1);
//! }
//! assert!(store.get(w).data()[1].abs() < 1e-6);
//! ```

use std::sync::atomic::{AtomicU32, Ordering};

use crate::float::Float;
use crate::tape::{GradStore, Tape, Var};
use crate::tensor::Tensor;

/// A parameter's identity: which [`ParamStore`] made it and where it sits there.
///
/// Modules keep `ParamId`s; gradients ([`ParamGrads`]) and optimizer buffers are keyed by
/// them. Using an id with a store other than the one (or a clone of the one) that made it
/// panics with a message instead of reading another parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ParamId {
    store: u32,
    index: u32,
}

impl ParamId {
    /// The position in the store, in registration order.
    pub fn index(self) -> usize {
        self.index as usize
    }
}

static NEXT_STORE: AtomicU32 = AtomicU32::new(1);

/// Every parameter of a model: its value, its stable name (`0.kernel`, `encoder.bias`) and
/// whether training updates it.
///
/// ```
/// use borel_autograd::{ParamStore, Tensor};
/// let mut store = ParamStore::<f32>::new();
/// let w = store.add("dense.kernel", Tensor::zeros(&[2, 3]), true);
/// assert_eq!(store.name(w), "dense.kernel");
/// assert_eq!(store.num_params(), 6);
/// ```
#[derive(Clone, Debug)]
pub struct ParamStore<F: Float> {
    tag: u32,
    names: Vec<String>,
    values: Vec<Tensor<F>>,
    trainable: Vec<bool>,
}

impl<F: Float> Default for ParamStore<F> {
    fn default() -> Self {
        Self::new()
    }
}

impl<F: Float> ParamStore<F> {
    /// An empty store.
    pub fn new() -> Self {
        ParamStore {
            tag: NEXT_STORE.fetch_add(1, Ordering::Relaxed),
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
        let index = u32::try_from(self.values.len()).expect("at most 2^32 parameters");
        self.names.push(name.to_string());
        self.values.push(value);
        self.trainable.push(trainable);
        ParamId { store: self.tag, index }
    }

    #[track_caller]
    fn slot(&self, id: ParamId) -> usize {
        if id.store != self.tag || id.index() >= self.values.len() {
            panic!(
                "ParamStore: parameter #{} was made by another ParamStore (was the module built with this store?)",
                id.index
            );
        }
        id.index()
    }

    /// Whether `id` was made by this store (or by the store it was cloned from).
    pub fn contains(&self, id: ParamId) -> bool {
        id.store == self.tag && id.index() < self.values.len()
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
        self.values.iter().map(Tensor::numel).sum()
    }

    /// Number of scalar parameters that training updates.
    pub fn num_trainable(&self) -> usize {
        self.ids()
            .filter(|&id| self.is_trainable(id))
            .map(|id| self.get(id).numel())
            .sum()
    }

    /// The value of a parameter.
    #[track_caller]
    pub fn get(&self, id: ParamId) -> &Tensor<F> {
        &self.values[self.slot(id)]
    }

    /// Mutable access to a parameter's value.
    #[track_caller]
    pub fn get_mut(&mut self, id: ParamId) -> &mut Tensor<F> {
        let i = self.slot(id);
        &mut self.values[i]
    }

    /// A parameter's name.
    #[track_caller]
    pub fn name(&self, id: ParamId) -> &str {
        &self.names[self.slot(id)]
    }

    /// Whether training updates this parameter.
    #[track_caller]
    pub fn is_trainable(&self, id: ParamId) -> bool {
        self.trainable[self.slot(id)]
    }

    /// Freezes (`false`) or unfreezes a parameter.
    #[track_caller]
    pub fn set_trainable(&mut self, id: ParamId, trainable: bool) {
        let i = self.slot(id);
        self.trainable[i] = trainable;
    }

    /// The id of the parameter called `name`.
    pub fn find(&self, name: &str) -> Option<ParamId> {
        let i = self.names.iter().position(|n| n == name)?;
        Some(self.id_at(i))
    }

    fn id_at(&self, i: usize) -> ParamId {
        ParamId {
            store: self.tag,
            index: i as u32,
        }
    }

    /// All names, in registration order.
    pub fn names(&self) -> Vec<&str> {
        self.names.iter().map(String::as_str).collect()
    }

    /// All ids, in registration order.
    pub fn ids(&self) -> impl Iterator<Item = ParamId> + use<F> {
        let tag = self.tag;
        (0..self.values.len() as u32).map(move |index| ParamId { store: tag, index })
    }

    /// `(id, name, value)` for every parameter.
    pub fn iter(&self) -> impl Iterator<Item = (ParamId, &str, &Tensor<F>)> {
        self.ids()
            .zip(self.names.iter().zip(&self.values))
            .map(|(id, (n, v))| (id, n.as_str(), v))
    }

    /// `(id, value)` of every trainable parameter, values mutable: what an optimizer updates.
    pub fn trainable_mut(&mut self) -> impl Iterator<Item = (ParamId, &mut Tensor<F>)> {
        let tag = self.tag;
        self.values
            .iter_mut()
            .zip(&self.trainable)
            .enumerate()
            .filter(|(_, (_, t))| **t)
            .map(move |(i, (v, _))| {
                (
                    ParamId {
                        store: tag,
                        index: i as u32,
                    },
                    v,
                )
            })
    }

    /// A copy of every value, to restore later (early stopping's best weights). Cheap: values
    /// share storage until written.
    pub fn snapshot(&self) -> Vec<Tensor<F>> {
        self.values.clone()
    }

    /// Puts back values taken with [`ParamStore::snapshot`] (or checked by the caller): all at
    /// once, after checking every count and shape, so a failure changes nothing.
    #[track_caller]
    pub fn restore(&mut self, values: &[Tensor<F>]) {
        assert!(
            values.len() == self.values.len(),
            "ParamStore::restore: {} values for {} parameters",
            values.len(),
            self.len()
        );
        for ((v, new), name) in self.values.iter().zip(values).zip(&self.names) {
            assert!(
                v.shape() == new.shape(),
                "ParamStore::restore: shape {:?} for parameter '{name}' of shape {:?}",
                new.shape(),
                v.shape()
            );
        }
        self.values = values.to_vec();
    }

    /// Places every parameter on `tape` for one step: trainable ones as vars (their
    /// gradients are computed), frozen ones as constants.
    pub fn vars<'t>(&self, tape: &'t Tape<F>) -> ParamVars<'t, F> {
        let vars = self
            .values
            .iter()
            .zip(&self.trainable)
            .map(|(v, &t)| {
                if t {
                    tape.var(v.clone())
                } else {
                    tape.constant(v.clone())
                }
            })
            .collect();
        ParamVars {
            tag: self.tag,
            vars,
            trainable: self.trainable.clone(),
        }
    }
}

/// A [`ParamStore`] placed on a tape for one step: the var of each parameter, by id.
///
/// Index it with a [`ParamId`] in forward code; [`ParamVars::backward`] returns the
/// gradients keyed by the same ids.
pub struct ParamVars<'t, F: Float> {
    tag: u32,
    vars: Vec<Var<'t, F>>,
    trainable: Vec<bool>,
}

impl<'t, F: Float> ParamVars<'t, F> {
    #[track_caller]
    fn slot(&self, id: ParamId) -> usize {
        if id.store != self.tag || id.index() >= self.vars.len() {
            panic!("ParamVars: parameter #{} was made by another ParamStore", id.index);
        }
        id.index()
    }

    /// The var of a parameter.
    #[track_caller]
    pub fn get(&self, id: ParamId) -> Var<'t, F> {
        self.vars[self.slot(id)]
    }

    /// Uses `var` for parameter `id` in this step instead of the store's value: to check a
    /// module's gradients with `gradcheck`, or to call it with other weights.
    #[track_caller]
    pub fn bind(&mut self, id: ParamId, var: Var<'t, F>) {
        let i = self.slot(id);
        let (want, got) = (self.vars[i].shape(), var.shape());
        assert!(
            want == got,
            "ParamVars::bind: var of shape {:?} for parameter #{i} of shape {:?}",
            got.as_slice(),
            want.as_slice()
        );
        self.vars[i] = var;
    }

    /// The gradient of every trainable parameter that the backward pass reached, moved out
    /// of `grads` (the others have no entry).
    pub fn grads(&self, mut grads: GradStore<F>) -> ParamGrads<F> {
        let taken = self
            .vars
            .iter()
            .zip(&self.trainable)
            .map(|(&v, &t)| if t { grads.take(v) } else { None })
            .collect();
        ParamGrads {
            tag: self.tag,
            grads: taken,
        }
    }

    /// Runs backward from the scalar `loss` and returns the gradient of every trainable
    /// parameter it depends on through recorded ops (the others have no entry).
    #[track_caller]
    pub fn backward(&self, loss: Var<'t, F>) -> ParamGrads<F> {
        self.grads(loss.backward())
    }
}

impl<'t, F: Float> std::ops::Index<ParamId> for ParamVars<'t, F> {
    type Output = Var<'t, F>;
    #[track_caller]
    fn index(&self, id: ParamId) -> &Var<'t, F> {
        &self.vars[self.slot(id)]
    }
}

/// Gradients of parameters, keyed by [`ParamId`]: what an optimizer consumes.
///
/// A parameter that is frozen, or that the loss did not reach through a recorded op, has no
/// entry (PyTorch's `grad` of `None`), so optimizers, clipping and the non-finite checks
/// leave it alone. A parameter the loss reaches has one, zero or not.
///
/// ```
/// use borel_autograd::{ParamStore, Tape, Tensor};
/// let mut store = ParamStore::<f64>::new();
/// let used = store.add("used", Tensor::ones(&[2]), true);
/// let unused = store.add("unused", Tensor::ones(&[2]), true);
/// let tape = Tape::new();
/// let p = store.vars(&tape);
/// let grads = p.backward((p[used] * 0.0).sum());
/// assert_eq!(grads.get(used).map(|g| g.data().to_vec()), Some(vec![0.0, 0.0]));
/// assert!(grads.get(unused).is_none());
/// ```
#[derive(Clone, Debug)]
pub struct ParamGrads<F: Float> {
    tag: u32,
    grads: Vec<Option<Tensor<F>>>,
}

impl<F: Float> ParamGrads<F> {
    /// No gradients yet, for the parameters of `store`: fill it with [`ParamGrads::insert`]
    /// when gradients come from elsewhere (derived by hand, or from another program).
    ///
    /// ```
    /// use borel_autograd::{ParamGrads, ParamStore, Tensor};
    /// let mut store = ParamStore::<f64>::new();
    /// let w = store.add("w", Tensor::zeros(&[2]), true);
    /// let mut grads = ParamGrads::new(&store);
    /// grads.insert(w, Tensor::ones(&[2]));
    /// assert_eq!(grads[w].data(), &[1.0, 1.0]);
    /// ```
    pub fn new(store: &ParamStore<F>) -> Self {
        ParamGrads {
            tag: store.tag,
            grads: vec![None; store.len()],
        }
    }

    /// Sets the gradient of `id`; panics if `id` is not a parameter of the store these
    /// gradients are for.
    #[track_caller]
    pub fn insert(&mut self, id: ParamId, grad: Tensor<F>) {
        if id.store != self.tag || id.index() >= self.grads.len() {
            panic!("ParamGrads::insert: parameter #{} is from another ParamStore", id.index);
        }
        self.grads[id.index()] = Some(grad);
    }

    /// Whether these are gradients of `store`'s parameters (made from its vars, or by
    /// [`ParamGrads::new`] with it): what an optimizer checks before it updates `store`.
    ///
    /// ```
    /// use borel_autograd::{ParamGrads, ParamStore};
    /// let (a, b) = (ParamStore::<f32>::new(), ParamStore::<f32>::new());
    /// let grads = ParamGrads::new(&a);
    /// assert!(grads.is_for(&a) && !grads.is_for(&b));
    /// ```
    pub fn is_for(&self, store: &ParamStore<F>) -> bool {
        self.tag == store.tag
    }

    /// The gradient of a parameter, if it has one.
    pub fn get(&self, id: ParamId) -> Option<&Tensor<F>> {
        if id.store != self.tag {
            return None;
        }
        self.grads.get(id.index()).and_then(Option::as_ref)
    }

    /// `(id, gradient)` for every parameter that has one.
    pub fn iter(&self) -> impl Iterator<Item = (ParamId, &Tensor<F>)> {
        let tag = self.tag;
        self.grads.iter().enumerate().filter_map(move |(i, g)| {
            g.as_ref().map(|g| {
                (
                    ParamId {
                        store: tag,
                        index: i as u32,
                    },
                    g,
                )
            })
        })
    }

    /// Every gradient, mutable (for clipping).
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut Tensor<F>> {
        self.grads.iter_mut().flatten()
    }

    /// The first parameter whose gradient has a NaN or infinite element.
    pub fn first_non_finite(&self) -> Option<ParamId> {
        self.iter().find(|(_, g)| !g.all_finite()).map(|(id, _)| id)
    }
}

impl<F: Float> std::ops::Index<ParamId> for ParamGrads<F> {
    type Output = Tensor<F>;
    #[track_caller]
    fn index(&self, id: ParamId) -> &Tensor<F> {
        match self.get(id) {
            Some(g) => g,
            None => panic!(
                "ParamGrads: parameter #{} has no gradient (frozen, unused by the loss, or from another store)",
                id.index
            ),
        }
    }
}
