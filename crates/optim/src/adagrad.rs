//! Adagrad, as `torch.optim.Adagrad` or Keras' `Adagrad`.

use borel_autograd::{Float, ParamGrads, ParamStore};

use crate::{Buffers, Hyper, Optimizer, Reference, State, StateError, checked, for_each_param_from, per_element};

/// Adagrad: the accumulator `s` starts at `initial_accumulator_value` and sums the squared
/// gradients.
///
/// [`Adagrad::new`] and [`Adagrad::pytorch`] follow `torch.optim.Adagrad` (PyTorch 2
/// defaults: lr 0.01, lr_decay 0, eps 1e-10, initial accumulator 0; L2 weight decay):
///
/// ```text
/// lr_t = lr / (1 + (t - 1) lr_decay);  g = g + wd p;  s = s + g^2;  p = p - lr_t g / (sqrt(s) + eps)
/// ```
///
/// [`Adagrad::keras`] follows Keras 3's `Adagrad` (lr 0.001, initial accumulator 0.1, eps
/// 1e-7 inside the square root; decoupled weight decay before the update), computed in the
/// parameters' float type:
///
/// ```text
/// p = p - p wd lr_t;  s = s + g^2;  p = p - lr_t g / sqrt(s + eps)
/// ```
///
/// Keras has no `lr_decay`; set on a Keras preset, it scales the learning rate as above.
/// `t` is each parameter's own step count with PyTorch's formula (a parameter without a
/// gradient in a step does not advance, as in `torch.optim`) and the optimizer's with
/// Keras'.
///
/// Settings are checked where they are set, with PyTorch's ranges and words, except that
/// epsilon must be > 0 (PyTorch takes 0, which makes a zero gradient's step `0 / 0`).
///
/// ```
/// use borel_optim::{Adagrad, Optimizer};
/// let opt = Adagrad::<f32>::keras().lr(0.01).initial_accumulator_value(0.0);
/// assert_eq!(opt.learning_rate(), 0.01);
/// assert_eq!(Adagrad::<f32>::pytorch().learning_rate(), 0.01);
/// ```
#[derive(Clone, Debug)]
pub struct Adagrad<F: Float> {
    lr: f64,
    lr_decay: f64,
    weight_decay: f64,
    eps: f64,
    initial_accumulator: f64,
    reference: Reference,
    state: State<F>,
}

impl<F: Float> Adagrad<F> {
    /// PyTorch's Adagrad with learning rate `lr` and its other defaults; panics unless `lr`
    /// is finite and >= 0.
    #[track_caller]
    pub fn new(lr: f64) -> Self {
        Adagrad {
            lr: checked("Adagrad", "new", Hyper::LearningRate, lr),
            lr_decay: 0.0,
            weight_decay: 0.0,
            eps: 1e-10,
            initial_accumulator: 0.0,
            reference: Reference::PyTorch,
            state: State::default(),
        }
    }
    /// PyTorch 2's `torch.optim.Adagrad()` defaults: lr 0.01, eps 1e-10, initial accumulator 0.
    pub fn pytorch() -> Self {
        Self::new(0.01)
    }
    /// Keras 3's `keras.optimizers.Adagrad()` defaults: lr 0.001, initial accumulator 0.1,
    /// eps 1e-7, Keras' formula.
    pub fn keras() -> Self {
        Adagrad {
            eps: 1e-7,
            initial_accumulator: 0.1,
            reference: Reference::Keras,
            ..Self::new(0.001)
        }
    }
    /// The learning rate; panics unless it is finite and >= 0.
    #[track_caller]
    pub fn lr(mut self, lr: f64) -> Self {
        self.lr = checked("Adagrad", "lr", Hyper::LearningRate, lr);
        self
    }
    /// Learning-rate decay per step; panics unless it is finite and >= 0.
    #[track_caller]
    pub fn lr_decay(mut self, d: f64) -> Self {
        self.lr_decay = checked("Adagrad", "lr_decay", Hyper::LrDecay, d);
        self
    }
    /// Weight decay: PyTorch's L2 penalty added to the gradient, or with [`Adagrad::keras`]
    /// Keras' decoupled decay. Panics unless it is finite and >= 0.
    #[track_caller]
    pub fn weight_decay(mut self, wd: f64) -> Self {
        self.weight_decay = checked("Adagrad", "weight_decay", Hyper::WeightDecay, wd);
        self
    }
    /// The epsilon; panics unless it is finite and > 0.
    #[track_caller]
    pub fn eps(mut self, eps: f64) -> Self {
        self.eps = checked("Adagrad", "eps", Hyper::Epsilon, eps);
        self
    }
    /// The accumulator's starting value (applies to parameters not yet updated); panics
    /// unless it is finite and >= 0.
    #[track_caller]
    pub fn initial_accumulator_value(mut self, v: f64) -> Self {
        self.initial_accumulator = checked("Adagrad", "initial_accumulator_value", Hyper::InitialAccumulator, v);
        self
    }
    /// The reference whose formula this follows.
    pub fn reference(&self) -> Reference {
        self.reference
    }

    /// The sum of squared gradients.
    fn buffers(&self) -> Buffers {
        Buffers::fixed(1)
    }
}

impl<F: Float> Optimizer<F> for Adagrad<F> {
    fn set_state(&mut self, state: State<F>) -> Result<(), StateError> {
        // the sum of squared gradients
        crate::set_checked("Adagrad", self.buffers(), &mut self.state, state, |b| b[0] >= F::ZERO)
    }
    #[track_caller]
    fn update(&mut self, store: &mut ParamStore<F>, grads: &ParamGrads<F>) {
        let step = crate::begin_update("Adagrad", &mut self.state, store, grads);
        let f = F::from_f64;
        let (lr, lr_decay) = (self.lr, self.lr_decay);
        let decayed = move |t: u64| f(lr / (1.0 + (t - 1) as f64 * lr_decay));
        let (wd, eps, init) = (f(self.weight_decay), f(self.eps), f(self.initial_accumulator));
        if self.reference == Reference::Keras {
            let lr_t = decayed(step);
            for_each_param_from(&mut self.state, store, grads, init, |w, g, [s], _| {
                per_element(w, g, [s], |w, g, [s]| {
                    *w -= *w * wd * lr_t;
                    *s += g * g;
                    *w -= lr_t * g / (*s + eps).sqrt();
                });
            });
            return;
        }
        for_each_param_from(&mut self.state, store, grads, init, |w, g, [s], t| {
            // PyTorch decays by the parameter's own step count
            let lr_t = decayed(t);
            per_element(w, g, [s], |w, g, [s]| {
                let g = g + wd * *w;
                *s += g * g;
                *w -= lr_t * g / (s.sqrt() + eps);
            });
        });
    }
    crate::accessors!("Adagrad", lr, state);
}
