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
pub use rmsprop::{RmsFlavor, RmsProp};
pub use sgd::Sgd;
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
    /// Mutable buffers and step count, unchecked (prefer [`Optimizer::set_state`] for state
    /// read from a file).
    fn state_mut(&mut self) -> &mut State<F>;
    /// Replaces the buffers and step count with `state` (as read by [`State::load`]) once it
    /// is checked to be state this optimizer can step from: as many buffers per parameter as
    /// it keeps (state saved by another optimizer is refused), and values its update can
    /// take (no negative second moment or accumulator). On an error nothing changes.
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
    /// assert!(err.to_string().contains("1 buffers, Adam keeps 3"), "{err}");
    /// let mut resumed = Sgd::new(0.1).momentum(0.9);
    /// resumed.set_state(sgd.state().clone()).unwrap();
    /// assert_eq!(resumed.state(), sgd.state());
    /// ```
    fn set_state(&mut self, state: State<F>) -> Result<(), StateError>;
    /// Forgets every buffer and the step count.
    fn reset(&mut self) {
        *self.state_mut() = State::default();
    }
}

/// Stores `state` in `slot` if it fits an optimizer `name` with `count` buffers per
/// parameter whose values at each element pass `ok` (the `count` buffers' values there).
pub(crate) fn set_checked<F: Float>(
    slot: &mut State<F>,
    state: State<F>,
    name: &str,
    count: usize,
    ok: impl Fn(&[F]) -> bool,
) -> Result<(), StateError> {
    state.check_fits(name, count, ok)?;
    *slot = state;
    Ok(())
}

/// The start of every update: checks that `grads` are the gradients of `store` (panics at
/// the caller's line naming optimizer `name` otherwise), then counts the step; returns the
/// count.
#[track_caller]
pub(crate) fn begin_update<F: Float>(
    name: &str,
    state: &mut State<F>,
    store: &ParamStore<F>,
    grads: &ParamGrads<F>,
) -> u64 {
    if !grads.is_for(store) {
        panic!(
            "{name}::update: the gradients are of another ParamStore than the one being updated \
             (compute them from this store's vars, or update the store they came from)"
        );
    }
    state.next_step()
}

/// Which reference's formulas an optimizer follows, where Keras 3 and PyTorch 2 differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reference {
    PyTorch,
    Keras,
}

/// The four accessors every optimizer implements the same way, from its `lr` and `state`
/// fields (`$lr` and `$state` name the paths to them; `$name` names the optimizer in panics).
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
        fn state_mut(&mut self) -> &mut State<F> {
            &mut self.$($state).+
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

/// `f(w, g)` for each element.
pub(crate) fn each0<F: Float>(w: &mut [F], g: &[F], f: impl Fn(&mut F, F)) {
    w.iter_mut().zip(g).for_each(|(w, &g)| f(w, g));
}

/// `f(w, g, s)` for each element, with one state buffer.
pub(crate) fn each1<F: Float>(w: &mut [F], g: &[F], s: &mut [F], f: impl Fn(&mut F, F, &mut F)) {
    w.iter_mut().zip(g).zip(s).for_each(|((w, &g), s)| f(w, g, s));
}

/// `f(w, g, a, b, c)` for each element, with three state buffers.
pub(crate) fn each3<F: Float>(
    w: &mut [F],
    g: &[F],
    [a, b, c]: [&mut [F]; 3],
    f: impl Fn(&mut F, F, &mut F, &mut F, &mut F),
) {
    w.iter_mut()
        .zip(g)
        .zip(a.iter_mut().zip(b.iter_mut().zip(c.iter_mut())))
        .for_each(|((w, &g), (a, (b, c)))| f(w, g, a, b, c));
}
