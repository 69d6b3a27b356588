//! # borel-optim
//!
//! Optimizers whose numerics are pinned to their references: [`Sgd`], [`Adam`], [`AdamW`],
//! [`Adagrad`] and [`RmsProp`]; learning-rate [`schedule`]s; gradient [`clip`]ping; and
//! optimizer [`State`] that saves and loads, so training resumes bit for bit.
//!
//! Every optimizer has the same presets: `keras()` follows Keras 3 (its defaults and its
//! formulas, computed in the parameters' float type as Keras does) and `pytorch()` follows
//! PyTorch 2 (its defaults and formulas); [`RmsProp::tf_keras2`] adds tf.keras 2. `new(lr)`
//! is PyTorch's formula with learning rate `lr`. Every optimizer takes `.lr(x)`; learning
//! rates are checked (finite, >= 0) where they are set.
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
mod rmsprop;
pub mod schedule;
mod sgd;
mod state;

use borel_autograd::{Float, ParamGrads, ParamStore};

pub use adagrad::Adagrad;
pub use adam::{Adam, AdamW};
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
    /// `grads` (frozen parameters and parameters without a gradient are left as they are).
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

/// Panics at the caller's line unless `lr` is a usable learning rate (finite, >= 0).
#[track_caller]
pub(crate) fn checked_lr(op: &str, lr: f64) -> f64 {
    if !(lr.is_finite() && lr >= 0.0) {
        panic!("{op}: learning rate {lr} must be finite and >= 0");
    }
    lr
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
            self.$($lr).+ = crate::checked_lr(concat!($name, "::set_learning_rate"), lr);
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
/// trainable parameter of `store` that has a gradient, as slices.
pub(crate) fn for_each_param<F: Float, const K: usize>(
    state: &mut State<F>,
    store: &mut ParamStore<F>,
    grads: &ParamGrads<F>,
    f: impl FnMut(&mut [F], &[F], [&mut [F]; K]),
) {
    for_each_param_from(state, store, grads, F::ZERO, f);
}

/// [`for_each_param`] with the buffers filled with `init` on first use.
pub(crate) fn for_each_param_from<F: Float, const K: usize>(
    state: &mut State<F>,
    store: &mut ParamStore<F>,
    grads: &ParamGrads<F>,
    init: F,
    mut f: impl FnMut(&mut [F], &[F], [&mut [F]; K]),
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
        let mut bufs = state.buffers(id, K, value.shape(), init).iter_mut();
        let bufs = std::array::from_fn(|_| bufs.next().expect("K buffers").data_mut());
        f(value.data_mut(), grad.data(), bufs);
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
