//! # borel-optim
//!
//! Optimizers whose numerics are pinned to their references: [`Sgd`], [`Adam`] (and
//! [`Adam::keras`]), [`AdamW`], [`Adagrad`], and [`RmsProp`] with the Keras 3, tf.keras 2 and
//! PyTorch presets; learning-rate [`schedule`]s; gradient [`clip`]ping; and optimizer
//! [`State`] that saves and loads, so training resumes bit for bit.
//!
//! An optimizer sees parameters as `(name, value, gradient)` triples ([`Param`]) and keeps its
//! buffers per name; it knows nothing of modules.
//!
//! ```
//! use borel_autograd::Tensor;
//! use borel_optim::{Optimizer, Param, Sgd};
//! let mut w = Tensor::from_vec(vec![1.0f64, -2.0], &[2]);
//! let mut opt = Sgd::new(0.1).momentum(0.9);
//! for _ in 0..3 {
//!     let g = w.map(|v| 2.0 * v); // gradient of |w|^2
//!     opt.step(&mut [Param::new("w", &mut w, &g)]);
//! }
//! assert!(w.data()[0].abs() < 1.0);
//! ```

#![warn(missing_docs)]

mod adagrad;
mod adam;
pub mod clip;
mod rmsprop;
pub mod schedule;
mod sgd;
mod state;

use borel_autograd::{Float, Tensor};

pub use adagrad::Adagrad;
pub use adam::{Adam, AdamW};
pub use rmsprop::{RmsFlavor, RmsProp};
pub use sgd::Sgd;
pub use state::{State, StateError};

/// One parameter as an optimizer sees it.
pub struct Param<'a, F: Float> {
    /// A stable name; the optimizer's buffers for this parameter are kept under it.
    pub name: &'a str,
    /// The value, updated in place.
    pub value: &'a mut Tensor<F>,
    /// Its gradient.
    pub grad: &'a Tensor<F>,
}

impl<'a, F: Float> Param<'a, F> {
    /// Bundles a parameter.
    pub fn new(name: &'a str, value: &'a mut Tensor<F>, grad: &'a Tensor<F>) -> Self {
        Param { name, value, grad }
    }
}

/// An optimizer: one [`Optimizer::step`] updates every parameter from its gradient.
pub trait Optimizer<F: Float> {
    /// Applies one update to every parameter.
    fn step(&mut self, params: &mut [Param<'_, F>]);
    /// The learning rate.
    fn learning_rate(&self) -> f64;
    /// Changes the learning rate (schedules call this).
    fn set_learning_rate(&mut self, lr: f64);
    /// The buffers and step count.
    fn state(&self) -> &State<F>;
    /// Mutable buffers and step count (for loading).
    fn state_mut(&mut self) -> &mut State<F>;
    /// Forgets every buffer and the step count.
    fn reset(&mut self) {
        *self.state_mut() = State::default();
    }
}

/// The four accessors every optimizer implements the same way, from its `lr` and `state`
/// fields (`$lr` and `$state` name the paths to them).
macro_rules! accessors {
    ($($lr:ident).+, $($state:ident).+) => {
        fn learning_rate(&self) -> f64 {
            self.$($lr).+
        }
        fn set_learning_rate(&mut self, lr: f64) {
            self.$($lr).+ = lr;
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

/// The state buffers of `p` (created as zeros on first use) with its value and gradient, as
/// slices; panics if the gradient's size differs from the parameter's.
fn slices<'a, F: Float, const K: usize>(
    state: &'a mut State<F>,
    p: &'a mut Param<'_, F>,
) -> (&'a mut [F], &'a [F], [&'a mut [F]; K]) {
    let bufs = state.buffers(p.name, K, p.value.shape());
    let (value, grad) = (p.value.data_mut(), p.grad.data());
    assert!(
        value.len() == grad.len(),
        "optimizer: gradient of '{}' has {} elements, the parameter {}",
        p.name,
        grad.len(),
        value.len()
    );
    let mut bufs = bufs.iter_mut();
    (
        value,
        grad,
        std::array::from_fn(|_| bufs.next().expect("K buffers").data_mut()),
    )
}

/// Elementwise update with no state: `f(p, g)`.
pub(crate) fn update0<F: Float>(state: &mut State<F>, p: &mut Param<'_, F>, f: impl Fn(&mut F, F)) {
    let (value, grad, []) = slices::<F, 0>(state, p);
    value.iter_mut().zip(grad).for_each(|(w, &g)| f(w, g));
}

/// Elementwise update with one state buffer: `f(p, g, s)`. Buffers are created (zeros) on the
/// first step and reused in place after.
pub(crate) fn update1<F: Float>(state: &mut State<F>, p: &mut Param<'_, F>, f: impl Fn(&mut F, F, &mut F)) {
    let (value, grad, [s]) = slices::<F, 1>(state, p);
    value
        .iter_mut()
        .zip(grad)
        .zip(s.iter_mut())
        .for_each(|((w, &g), s)| f(w, g, s));
}

/// Elementwise update with three state buffers: `f(p, g, a, b, c)`.
pub(crate) fn update3<F: Float>(
    state: &mut State<F>,
    p: &mut Param<'_, F>,
    f: impl Fn(&mut F, F, &mut F, &mut F, &mut F),
) {
    let (value, grad, [a, b, c]) = slices::<F, 3>(state, p);
    value
        .iter_mut()
        .zip(grad)
        .zip(a.iter_mut().zip(b.iter_mut().zip(c.iter_mut())))
        .for_each(|((w, &g), (a, (b, c)))| f(w, g, a, b, c));
}
