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

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::float::Float;
use crate::tape::{GradStore, Tape, Var};
use crate::tensor::Tensor;

mod buffers;

/// A parameter's identity: a number no other parameter of the process has, where it sits in
/// its store, and which store made it.
///
/// Modules keep `ParamId`s; gradients ([`ParamGrads`]) and optimizer buffers are keyed by
/// them. An id resolves in the store that made it and in clones of that store (for the
/// parameters that existed when it was cloned). Anywhere else, including a clone that has
/// since added parameters of its own, using it panics naming the parameter and both stores
/// instead of reading another parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ParamId {
    index: u32,
    unique: u64,
    store: u32,
}

impl ParamId {
    /// The position in the store, in registration order.
    pub fn index(self) -> usize {
        self.index as usize
    }
}

/// Numbers stores, for messages; a clone gets a number of its own.
static NEXT_STORE: AtomicU32 = AtomicU32::new(1);
/// Numbers parameters: what makes a [`ParamId`] unique (2^64 parameters never wrap).
static NEXT_PARAM: AtomicU64 = AtomicU64::new(1);

/// The ids of a store's parameters, by index, shared (not copied) with the [`ParamVars`] and
/// [`ParamGrads`] made from it, and the number of the store they are for.
#[derive(Clone, Debug)]
struct Ids {
    store: u32,
    ids: Arc<Vec<ParamId>>,
}

impl Ids {
    fn new() -> Self {
        Ids {
            store: NEXT_STORE.fetch_add(1, Ordering::Relaxed),
            ids: Arc::new(Vec::new()),
        }
    }

    fn contains(&self, id: ParamId) -> bool {
        self.ids.get(id.index()) == Some(&id)
    }

    /// The position of `id`; panics naming `who`, the parameter and both stores when `id` is
    /// not one of these parameters.
    #[track_caller]
    #[inline]
    fn slot(&self, who: &str, id: ParamId) -> usize {
        if !self.contains(id) {
            self.unknown(who, id);
        }
        id.index()
    }

    #[cold]
    #[track_caller]
    fn unknown(&self, who: &str, id: ParamId) -> ! {
        panic!(
            "{who} of ParamStore #{}: parameter #{} of ParamStore #{} is not one of its parameters \
             (made by another store, or added to one of two clones after the copy; was the module \
             built with this store?)",
            self.store, id.index, id.store
        )
    }

    fn iter(&self) -> impl Iterator<Item = ParamId> + use<> {
        let ids = Arc::clone(&self.ids);
        (0..ids.len()).map(move |i| ids[i])
    }
}

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
#[derive(Debug)]
pub struct ParamStore<F: Float = f32> {
    ids: Ids,
    names: Vec<String>,
    values: Vec<Tensor<F>>,
    trainable: Vec<bool>,
    /// Whether `num_params` counts it (not a counter such as `num_batches_tracked`).
    counted: Vec<bool>,
}

/// A copy with a store number of its own: the ids of the parameters it holds now resolve in
/// both, parameters either adds later only in the one that added them.
impl<F: Float> Clone for ParamStore<F> {
    fn clone(&self) -> Self {
        ParamStore {
            ids: Ids {
                store: Ids::new().store,
                ids: Arc::clone(&self.ids.ids),
            },
            names: self.names.clone(),
            values: self.values.clone(),
            trainable: self.trainable.clone(),
            counted: self.counted.clone(),
        }
    }
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
            ids: Ids::new(),
            names: Vec::new(),
            values: Vec::new(),
            trainable: Vec::new(),
            counted: Vec::new(),
        }
    }

    /// Registers a parameter; panics if the name is taken (a programming error).
    #[track_caller]
    pub fn add(&mut self, name: &str, value: Tensor<F>, trainable: bool) -> ParamId {
        if self.names.iter().any(|n| n == name) {
            panic!("ParamStore::add: a parameter named '{name}' already exists");
        }
        let id = ParamId {
            index: u32::try_from(self.values.len()).expect("at most 2^32 parameters"),
            unique: NEXT_PARAM.fetch_add(1, Ordering::Relaxed),
            store: self.ids.store,
        };
        Arc::make_mut(&mut self.ids.ids).push(id);
        self.names.push(name.to_string());
        self.values.push(value);
        self.trainable.push(trainable);
        self.counted.push(true);
        id
    }

    #[track_caller]
    #[inline]
    fn slot(&self, id: ParamId) -> usize {
        self.ids.slot("ParamStore", id)
    }

    /// Whether `id` is a parameter of this store: made by it, or by the store it was cloned
    /// from before the copy.
    pub fn contains(&self, id: ParamId) -> bool {
        self.ids.contains(id)
    }

    /// Number of parameter tensors.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether the store is empty.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
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
        Some(self.ids.ids[i])
    }

    /// All names, in registration order.
    pub fn names(&self) -> Vec<&str> {
        self.names.iter().map(String::as_str).collect()
    }

    /// All ids, in registration order.
    pub fn ids(&self) -> impl Iterator<Item = ParamId> + use<F> {
        self.ids.iter()
    }

    /// `(id, name, value)` for every parameter.
    pub fn iter(&self) -> impl Iterator<Item = (ParamId, &str, &Tensor<F>)> {
        self.ids()
            .zip(self.names.iter().zip(&self.values))
            .map(|(id, (n, v))| (id, n.as_str(), v))
    }

    /// `(id, value)` of every trainable parameter, values mutable: what an optimizer updates.
    pub fn trainable_mut(&mut self) -> impl Iterator<Item = (ParamId, &mut Tensor<F>)> {
        self.ids
            .ids
            .iter()
            .zip(self.values.iter_mut().zip(&self.trainable))
            .filter(|(_, (_, t))| **t)
            .map(|(&id, (v, _))| (id, v))
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

    /// The number of this store (what tells two stores apart in messages and guards).
    pub(crate) fn number(&self) -> u32 {
        self.ids.store
    }

    /// Every value, by index.
    pub(crate) fn values(&self) -> &[Tensor<F>] {
        &self.values
    }

    /// Whether each parameter is trainable, by index.
    pub(crate) fn trainable_flags(&self) -> &[bool] {
        &self.trainable
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
            ids: self.ids.clone(),
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
    ids: Ids,
    vars: Vec<Var<'t, F>>,
    trainable: Vec<bool>,
}

impl<'t, F: Float> ParamVars<'t, F> {
    #[track_caller]
    #[inline]
    fn slot(&self, id: ParamId) -> usize {
        self.ids.slot("ParamVars", id)
    }

    /// The node id of each parameter's var, by index.
    pub(crate) fn node_ids(&self) -> Vec<u32> {
        self.vars.iter().map(|v| v.id).collect()
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
        let taken: Vec<_> = self
            .vars
            .iter()
            .zip(&self.trainable)
            .map(|(&v, &t)| if t { grads.take(v) } else { None })
            .collect();
        ParamGrads {
            ids: self.ids.clone(),
            buffers: vec![None; taken.len()],
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
pub struct ParamGrads<F: Float = f32> {
    ids: Ids,
    grads: Vec<Option<Tensor<F>>>,
    /// New values of non-trainable buffers set by the forward pass (running statistics).
    buffers: Vec<Option<Tensor<F>>>,
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
            ids: store.ids.clone(),
            grads: vec![None; store.len()],
            buffers: vec![None; store.len()],
        }
    }

    /// Gradients of `store`'s parameters, by index (`None` where a parameter has none).
    pub(crate) fn from_vec(store: &ParamStore<F>, grads: Vec<Option<Tensor<F>>>) -> Self {
        ParamGrads {
            ids: store.ids.clone(),
            buffers: vec![None; grads.len()],
            grads,
        }
    }

    /// Sets the gradient of `id`; panics if `id` is not a parameter of the store these
    /// gradients are for.
    #[track_caller]
    pub fn insert(&mut self, id: ParamId, grad: Tensor<F>) {
        let i = self.ids.slot("ParamGrads::insert", id);
        self.grads[i] = Some(grad);
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
        self.ids.store == store.ids.store
    }

    /// The gradient of a parameter, if it has one; panics when `id` is not a parameter of the
    /// store these gradients are for (an update of one store with another's gradients).
    #[track_caller]
    pub fn get(&self, id: ParamId) -> Option<&Tensor<F>> {
        self.grads[self.ids.slot("ParamGrads", id)].as_ref()
    }

    /// `(id, gradient)` for every parameter that has one.
    pub fn iter(&self) -> impl Iterator<Item = (ParamId, &Tensor<F>)> {
        self.ids
            .ids
            .iter()
            .zip(&self.grads)
            .filter_map(|(&id, g)| Some((id, g.as_ref()?)))
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
                "ParamGrads: parameter #{} has no gradient (frozen, or unused by the loss)",
                id.index
            ),
        }
    }
}
