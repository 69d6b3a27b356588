//! # borel-optim
//!
//! Optimizers whose numerics are pinned to their references: [`Sgd`], [`Adam`], [`AdamW`],
//! [`Adagrad`] and [`RmsProp`]; [`Lbfgs`] for full-batch problems; learning-rate
//! [`schedule`]s; gradient [`clip`]ping; and optimizer [`State`] that saves and loads, so
//! training resumes bit for bit.
//!
//! Every [`Optimizer`] has the same presets: `keras()` follows Keras 3 (its defaults and its
//! formulas, computed in the parameters' float type as Keras does) and `pytorch()` follows
//! PyTorch 2 (its defaults and formulas); [`RmsProp::tf_keras2`] adds tf.keras 2. `new(lr)`
//! is PyTorch's formula with learning rate `lr`. Every optimizer takes `.lr(x)`.
//!
//! [`Lbfgs`] is `torch.optim.LBFGS` (Keras has none): its step calls a closure that
//! recomputes the loss and the gradients as often as its line search needs, so it is not an
//! [`Optimizer`], whose update takes one set of gradients.
//!
//! Every setting is checked where it is set, with the ranges and words of PyTorch's
//! constructors: a bad value panics at the caller's line, naming the method
//! (`Adam::betas: Invalid beta parameter at index 0: 1.0 (must be in [0, 1))`). Where
//! PyTorch accepts values that make the update NaN or divergent (an epsilon of 0, momentum
//! above 1, RMSprop's alpha at or above 1), the range is narrower, as each setter says.
//!
//! A parameter without a gradient (frozen, or not reached by the loss) is skipped as
//! PyTorch skips a parameter whose `grad` is `None`: its value, its buffers and its own step
//! count ([`State::param_step`]) stay as they are.
//!
//! `weight_decay` means what it means in the preset's reference: PyTorch's L2 penalty added
//! to the gradient (decoupled in [`AdamW::pytorch`]), or Keras' decoupled decay
//! `w -= w * weight_decay * lr`, applied before the update.
//!
//! An optimizer updates a whole [`ParamStore`] from gradients keyed by
//! [`ParamId`](borel_autograd::ParamId), and keeps its buffers by the same ids; it knows
//! nothing of modules.
//!
//! ```
//! use borel_autograd::{ParamStore, Tape, Tensor};
//! use borel_optim::{Optimizer, Sgd};
//! let mut store = ParamStore::new();
//! let w = store.add("w", Tensor::from_vec(vec![1.0f64, -2.0], &[2]), true);
//! let mut opt = Sgd::new(0.1).momentum(0.9);
//! for _ in 0..3 {
//!     let tape = Tape::new();
//!     let p = store.vars(&tape);
//!     let grads = p.backward(p[w].square().sum()); // |w|^2
//!     opt.update(&mut store, &grads);
//! }
//! assert!(store.get(w).data()[0].abs() < 1.0);
//! ```

#![warn(missing_docs)]

mod adagrad;
mod adam;
pub mod clip;
mod hyper;
mod lbfgs;
mod rmsprop;
pub mod schedule;
mod sgd;
mod state;

use borel_autograd::{Float, ParamGrads, ParamStore};

pub(crate) use hyper::{Hyper, checked, checked_count};

pub use adagrad::Adagrad;
pub use adam::{Adam, AdamW};
pub use lbfgs::{Lbfgs, LineSearch};
pub use rmsprop::RmsProp;
pub use sgd::{Momentum, Sgd};
pub use state::{State, StateError};

/// An optimizer: one [`Optimizer::update`] applies one step to every trainable parameter of a
/// [`ParamStore`] from gradients keyed by [`ParamId`](borel_autograd::ParamId).
///
/// Its buffers are kept per `ParamId` too; parameter names are used only when the state is
/// written to or read from a file ([`State::save`]). Without modules, make a `ParamStore` of
/// the tensors to optimize: that is the whole setup (see the crate example).
pub trait Optimizer<F: Float>: Send + Sync {
    /// One step: updates every trainable parameter of `store` that has a gradient in
    /// `grads`. Frozen parameters and parameters without a gradient are left as they are,
    /// with their buffers and their own step count (as PyTorch skips a `grad` of `None`).
    /// First it writes the running statistics that the training pass set (a batch norm's
    /// running mean and variance, carried in `grads`: [`ParamStore::apply_buffers`]).
    ///
    /// Panics at the caller's line when `grads` are the gradients of another store.
    ///
    /// ```should_panic
    /// use borel_autograd::{ParamGrads, ParamStore, Tensor};
    /// use borel_optim::{Optimizer, Sgd};
    /// let mut a = ParamStore::new();
    /// a.add("w", Tensor::from_vec(vec![1.0f32], &[1]), true);
    /// let mut b = ParamStore::new();
    /// let wb = b.add("w", Tensor::from_vec(vec![1.0f32], &[1]), true);
    /// let mut grads_of_b = ParamGrads::new(&b);
    /// grads_of_b.insert(wb, Tensor::from_vec(vec![0.5], &[1]));
    /// Sgd::new(0.1).update(&mut a, &grads_of_b); // panics: the gradients are of `b`
    /// ```
    #[track_caller]
    fn update(&mut self, store: &mut ParamStore<F>, grads: &ParamGrads<F>);
    /// The learning rate.
    fn learning_rate(&self) -> f64;
    /// Changes the learning rate (schedules call this); panics unless it is finite and >= 0.
    fn set_learning_rate(&mut self, lr: f64);
    /// The buffers and step count.
    fn state(&self) -> &State<F>;
    /// How many buffers this optimizer keeps per parameter in its configuration: what its
    /// update reads and writes, and what its state files hold (Adam keeps 2, 3 with amsgrad;
    /// plain RMSprop 1, one more for centering and one for momentum).
    ///
    /// ```
    /// use borel_optim::{Adam, Optimizer, RmsProp};
    /// assert_eq!(Optimizer::<f32>::buffers_per_param(&Adam::new(0.1)), 2);
    /// assert_eq!(Optimizer::<f32>::buffers_per_param(&Adam::new(0.1).amsgrad(true)), 3);
    /// assert_eq!(Optimizer::<f32>::buffers_per_param(&RmsProp::keras().centered(true)), 2);
    /// ```
    fn buffers_per_param(&self) -> usize;
    /// Replaces the buffers and step count with `state` (as read by [`State::load`]) once it
    /// is checked to be state this optimizer can step from: as many buffers per parameter as
    /// it keeps (state saved by another optimizer is refused), and values its update can
    /// take (no negative second moment or accumulator). State files written when Adam and
    /// RMSprop kept three buffers whatever their options load too: the buffers their
    /// options do not use (zeros in such files) are dropped. On an error nothing changes.
    ///
    /// ```
    /// use borel_autograd::{ParamGrads, ParamStore, Tensor};
    /// use borel_optim::{Adam, Optimizer, Sgd};
    /// let mut store = ParamStore::new();
    /// let w = store.add("w", Tensor::from_vec(vec![1.0f32, 2.0], &[2]), true);
    /// let mut sgd = Sgd::new(0.1).momentum(0.9);
    /// let mut grads = ParamGrads::new(&store);
    /// grads.insert(w, Tensor::from_vec(vec![0.5, 0.5], &[2]));
    /// sgd.update(&mut store, &grads);
    /// let mut adam = Adam::new(0.1);
    /// let err = adam.set_state(sgd.state().clone()).unwrap_err();
    /// assert!(err.to_string().contains("1 buffers, Adam keeps 2"), "{err}");
    /// let mut resumed = Sgd::new(0.1).momentum(0.9);
    /// resumed.set_state(sgd.state().clone()).unwrap();
    /// assert_eq!(resumed.state(), sgd.state());
    /// ```
    fn set_state(&mut self, state: State<F>) -> Result<(), StateError>;
    /// Forgets every buffer and the step count.
    fn reset(&mut self);
}

/// The buffers an optimizer keeps per parameter in its configuration, and where they were
/// in state files written when it kept all of its buffers whatever its options.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Buffers {
    /// The buffers kept now.
    pub count: usize,
    /// The number of buffers of the older layout, and a mask of those kept now (bit `i`:
    /// buffer `i`), in order.
    pub legacy: Option<(usize, u8)>,
}

impl Buffers {
    /// `count` buffers, in the only layout there ever was.
    pub(crate) fn fixed(count: usize) -> Self {
        Buffers { count, legacy: None }
    }
    /// The buffers of `all` (the older layout's count) whose bit is set in `kept`.
    pub(crate) fn of(all: usize, kept: u8) -> Self {
        let count = kept.count_ones() as usize;
        Buffers {
            count,
            legacy: (count < all).then_some((all, kept)),
        }
    }
}

/// Stores `state` in `slot` if it fits an optimizer `name` keeping `buffers` per parameter
/// (state in the older layout is first brought to the current one) whose values at each
/// element pass `ok` (the buffers' values there).
pub(crate) fn set_checked<F: Float>(
    name: &str,
    buffers: Buffers,
    slot: &mut State<F>,
    mut state: State<F>,
    ok: impl Fn(&[F]) -> bool,
) -> Result<(), StateError> {
    if let Some((all, kept)) = buffers.legacy {
        state.drop_unused_buffers(name, all, kept)?;
    }
    state.check_fits(name, buffers.count, ok)?;
    *slot = state;
    Ok(())
}

/// The start of every update: checks that `grads` are the gradients of `store` (panics at
/// the caller's line naming optimizer `name` otherwise), writes the buffer values they carry (running
/// statistics set by a training pass), then counts the step; returns the count.
#[track_caller]
pub(crate) fn begin_update<F: Float>(
    name: &str,
    state: &mut State<F>,
    store: &mut ParamStore<F>,
    grads: &ParamGrads<F>,
) -> u64 {
    if !grads.is_for(store) {
        panic!(
            "{name}::update: the gradients are of another ParamStore than the one being updated \
             (compute them from this store's vars, or update the store they came from)"
        );
    }
    store.apply_buffers(grads);
    state.next_step()
}

/// Which reference's formulas an optimizer follows, where they differ: every optimizer's
/// `reference()` says which, as its preset chose.
///
/// ```
/// use borel_optim::{Adam, Reference, RmsProp};
/// assert_eq!(Adam::<f32>::keras().reference(), Reference::Keras);
/// assert_eq!(RmsProp::<f32>::tf_keras2().reference(), Reference::TfKeras2);
/// assert_eq!(RmsProp::<f32>::pytorch().reference(), Reference::PyTorch);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reference {
    /// PyTorch 2 (`torch.optim`).
    PyTorch,
    /// Keras 3 (`keras.optimizers`).
    Keras,
    /// tf.keras 2 (TensorFlow 2.x), whose RMSprop puts epsilon outside the square root on
    /// its plain path ([`RmsProp::tf_keras2`]); the other optimizers have no preset for it.
    TfKeras2,
}

/// The accessors every optimizer implements the same way, from its `lr` and `state` fields
/// (`$lr` and `$state` name the paths to them; `$name` names the optimizer in panics), and
/// `buffers_per_param` from its `buffers()`.
macro_rules! accessors {
    ($name:literal, $($lr:ident).+, $($state:ident).+) => {
        fn learning_rate(&self) -> f64 {
            self.$($lr).+
        }
        #[track_caller]
        fn set_learning_rate(&mut self, lr: f64) {
            self.$($lr).+ = crate::checked($name, "set_learning_rate", crate::Hyper::LearningRate, lr);
        }
        fn state(&self) -> &State<F> {
            &self.$($state).+
        }
        fn buffers_per_param(&self) -> usize {
            self.buffers().count
        }
        fn reset(&mut self) {
            self.$($state).+ = State::default();
        }
    };
}
pub(crate) use accessors;

/// Calls `f` with the value, gradient and `K` state buffers (zeros on first use) of every
/// trainable parameter of `store` that has a gradient, as slices, and the parameter's step
/// count (this step included). Parameters without a gradient are not touched.
pub(crate) fn for_each_param<F: Float, const K: usize>(
    state: &mut State<F>,
    store: &mut ParamStore<F>,
    grads: &ParamGrads<F>,
    f: impl FnMut(&mut [F], &[F], [&mut [F]; K], u64),
) {
    for_each_param_from(state, store, grads, F::ZERO, f);
}

/// [`for_each_param`] with the buffers filled with `init` on first use.
pub(crate) fn for_each_param_from<F: Float, const K: usize>(
    state: &mut State<F>,
    store: &mut ParamStore<F>,
    grads: &ParamGrads<F>,
    init: F,
    mut f: impl FnMut(&mut [F], &[F], [&mut [F]; K], u64),
) {
    for (id, value) in store.trainable_mut() {
        let Some(grad) = grads.get(id) else { continue };
        assert!(
            grad.shape() == value.shape(),
            "optimizer: gradient of shape {:?} for parameter #{} of shape {:?}",
            grad.shape(),
            id.index(),
            value.shape()
        );
        let t = state.next_param_step(id);
        let mut bufs = state.buffers(id, K, value.shape(), init).iter_mut();
        let bufs = std::array::from_fn(|_| bufs.next().expect("K buffers").data_mut());
        f(value.data_mut(), grad.data(), bufs, t);
    }
}

/// `f(w, g, buffers)` at each element of the value `w`, its gradient `g` and the `K` state
/// buffers, which all have `w`'s length.
#[inline(always)]
pub(crate) fn per_element<F: Float, const K: usize>(
    w: &mut [F],
    g: &[F],
    bufs: [&mut [F]; K],
    f: impl Fn(&mut F, F, [&mut F; K]),
) {
    let n = w.len();
    // slices of length `n` exactly, so that the indexing below needs no bounds checks
    let g = &g[..n];
    let mut bufs = bufs.map(|b| &mut b[..n]);
    for i in 0..n {
        f(&mut w[i], g[i], bufs.each_mut().map(|b| &mut b[i]));
    }
}
