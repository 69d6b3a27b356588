//! Stochastic gradient descent, as PyTorch's `torch.optim.SGD` or Keras' `SGD`.

use borel_autograd::{Float, ParamGrads, ParamStore};

use crate::{Buffers, Hyper, Optimizer, Reference, State, StateError, checked, for_each_param, per_element};

/// SGD's momentum: the factor, and whether the step looks ahead along the velocity
/// (Nesterov's). A factor alone (`0.9`) is classic momentum; a factor of 0 is none.
///
/// ```
/// use borel_optim::{Momentum, Sgd};
/// let classic = Sgd::<f32>::new(0.1).momentum(0.9);
/// let nesterov = Sgd::<f32>::new(0.1).momentum(Momentum::Nesterov(0.9));
/// assert_eq!(Momentum::from(0.9), Momentum::Classic(0.9));
/// # let _ = (classic, nesterov);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Momentum {
    /// Classic (heavy-ball) momentum with this factor.
    Classic(f64),
    /// Nesterov momentum with this factor (PyTorch's `nesterov=True`).
    Nesterov(f64),
}

impl Momentum {
    /// The factor.
    pub fn factor(self) -> f64 {
        match self {
            Momentum::Classic(m) | Momentum::Nesterov(m) => m,
        }
    }
}

/// Classic momentum.
impl From<f64> for Momentum {
    fn from(m: f64) -> Self {
        Momentum::Classic(m)
    }
}

/// SGD with momentum, Nesterov momentum and weight decay.
///
/// [`Sgd::new`] and [`Sgd::pytorch`] follow `torch.optim.SGD` (PyTorch 2 defaults: lr 0.001,
/// no momentum, dampening or weight decay):
///
/// ```text
/// g = grad + weight_decay * p
/// b = g                                   (the parameter's first step)
/// b = momentum * b + (1 - dampening) * g  (after)
/// g = g + momentum * b   if nesterov, else   g = b      (when momentum > 0)
/// p = p - lr * g
/// ```
///
/// [`Sgd::keras`] follows Keras 3's `SGD` (lr 0.01, no momentum), where the learning rate
/// enters the velocity (the same path as PyTorch's while lr is constant, not when it changes):
///
/// ```text
/// p = p - p * weight_decay * lr                  (Keras' decoupled weight decay)
/// v = momentum * v - lr * g
/// p = p + momentum * v - lr * g   if nesterov, else   p = p + v
/// ```
///
/// Settings are checked where they are set, with PyTorch's ranges and words, except that
/// momentum and dampening must be at most 1 (above, the velocity grows without bound).
/// PyTorch's rule that Nesterov momentum needs a momentum and no dampening is checked at
/// the first `update`, once every setting is known.
///
/// ```
/// use borel_optim::{Momentum, Optimizer, Sgd};
/// let opt = Sgd::<f32>::new(0.01).momentum(Momentum::Nesterov(0.9)).weight_decay(1e-4);
/// assert_eq!(Sgd::<f32>::keras().learning_rate(), 0.01);
/// assert_eq!(Sgd::<f32>::pytorch().lr(0.1).learning_rate(), 0.1);
/// # let _ = opt;
/// ```
#[derive(Clone, Debug)]
pub struct Sgd<F: Float> {
    lr: f64,
    momentum: Momentum,
    dampening: f64,
    weight_decay: f64,
    reference: Reference,
    state: State<F>,
}

impl<F: Float> Sgd<F> {
    /// PyTorch's SGD with learning rate `lr`; panics unless `lr` is finite and >= 0.
    #[track_caller]
    pub fn new(lr: f64) -> Self {
        Sgd {
            lr: checked("Sgd", "new", Hyper::LearningRate, lr),
            momentum: Momentum::Classic(0.0),
            dampening: 0.0,
            weight_decay: 0.0,
            reference: Reference::PyTorch,
            state: State::default(),
        }
    }
    /// PyTorch 2's `torch.optim.SGD()` defaults: lr 0.001, PyTorch's formula.
    pub fn pytorch() -> Self {
        Self::new(0.001)
    }
    /// Keras 3's `keras.optimizers.SGD()` defaults: lr 0.01, Keras' formula (learning rate
    /// inside the velocity, decoupled weight decay).
    pub fn keras() -> Self {
        Sgd {
            reference: Reference::Keras,
            ..Self::new(0.01)
        }
    }
    /// The learning rate; panics unless it is finite and >= 0.
    #[track_caller]
    pub fn lr(mut self, lr: f64) -> Self {
        self.lr = checked("Sgd", "lr", Hyper::LearningRate, lr);
        self
    }
    /// Momentum (default none): a factor for classic momentum, or [`Momentum::Nesterov`];
    /// panics unless the factor is in [0, 1]. With PyTorch's formula Nesterov momentum needs
    /// a factor above 0 and no dampening, as in PyTorch; the first `update` panics
    /// otherwise.
    #[track_caller]
    pub fn momentum(mut self, m: impl Into<Momentum>) -> Self {
        let m = m.into();
        checked("Sgd", "momentum", Hyper::Momentum, m.factor());
        self.momentum = m;
        self
    }
    /// Dampening of the momentum (default 0); panics unless it is in [0, 1]. PyTorch's
    /// formula only: Keras' SGD has none, so a nonzero value on [`Sgd::keras`] panics.
    #[track_caller]
    pub fn dampening(mut self, d: f64) -> Self {
        self.dampening = checked("Sgd", "dampening", Hyper::Dampening, d);
        if d != 0.0 && self.reference == Reference::Keras {
            panic!("Sgd::dampening: Keras' SGD has no dampening (use Sgd::new or Sgd::pytorch)");
        }
        self
    }
    /// Weight decay (default 0): PyTorch's L2 penalty added to the gradient, or with
    /// [`Sgd::keras`] Keras' decoupled decay. Panics unless it is finite and >= 0.
    #[track_caller]
    pub fn weight_decay(mut self, wd: f64) -> Self {
        self.weight_decay = checked("Sgd", "weight_decay", Hyper::WeightDecay, wd);
        self
    }
    /// The reference whose formula this follows.
    pub fn reference(&self) -> Reference {
        self.reference
    }

    /// The velocity, with momentum.
    fn buffers(&self) -> Buffers {
        Buffers::fixed(usize::from(self.momentum.factor() != 0.0))
    }

    /// PyTorch's rule for Nesterov momentum (Keras' SGD has no dampening, and with no
    /// momentum its Nesterov step is the plain one).
    #[track_caller]
    fn check_nesterov(&self) {
        let pytorch = self.reference == Reference::PyTorch;
        if let (true, Momentum::Nesterov(m)) = (pytorch, self.momentum)
            && (m <= 0.0 || self.dampening != 0.0)
        {
            panic!(
                "Sgd::update: Nesterov momentum requires a momentum and zero dampening (momentum {m:?}, dampening {:?})",
                self.dampening
            );
        }
    }

    fn update_keras(&mut self, store: &mut ParamStore<F>, grads: &ParamGrads<F>) {
        let f = F::from_f64;
        let nesterov = matches!(self.momentum, Momentum::Nesterov(_));
        let (lr, m, wd) = (f(self.lr), f(self.momentum.factor()), f(self.weight_decay));
        if self.momentum.factor() == 0.0 {
            for_each_param(&mut self.state, store, grads, |w, g, [], _| {
                per_element(w, g, [], |w, g, []| {
                    *w -= *w * wd * lr;
                    *w -= g * lr;
                });
            });
            return;
        }
        for_each_param(&mut self.state, store, grads, |w, g, [v], _| {
            per_element(w, g, [v], |w, g, [v]| {
                *w -= *w * wd * lr;
                *v = *v * m - g * lr;
                *w += if nesterov { *v * m - g * lr } else { *v };
            });
        });
    }
}

impl<F: Float> Optimizer<F> for Sgd<F> {
    fn set_state(&mut self, state: State<F>) -> Result<(), StateError> {
        crate::set_checked("Sgd", self.buffers(), &mut self.state, state, |_| true)
    }
    #[track_caller]
    fn update(&mut self, store: &mut ParamStore<F>, grads: &ParamGrads<F>) {
        self.check_nesterov();
        crate::begin_update("Sgd", &mut self.state, store, grads);
        if self.reference == Reference::Keras {
            return self.update_keras(store, grads);
        }
        let (lr, m, damp, wd) = (
            F::from_f64(self.lr),
            F::from_f64(self.momentum.factor()),
            F::from_f64(self.dampening),
            F::from_f64(self.weight_decay),
        );
        let nesterov = matches!(self.momentum, Momentum::Nesterov(_));
        if self.momentum.factor() == 0.0 {
            for_each_param(&mut self.state, store, grads, |w, g, [], _| {
                per_element(w, g, [], |w, g, []| *w -= lr * (g + wd * *w));
            });
            return;
        }
        for_each_param(&mut self.state, store, grads, |w, g, [b], t| {
            // the buffer starts as the gradient at the parameter's first step
            let first = t == 1;
            per_element(w, g, [b], |w, g, [b]| {
                let g = g + wd * *w;
                *b = if first { g } else { m * *b + (F::ONE - damp) * g };
                let d = if nesterov { g + m * *b } else { *b };
                *w -= lr * d;
            });
        });
    }
    crate::accessors!("Sgd", lr, state);
}
