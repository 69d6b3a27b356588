//! RMSprop with the three references' formulas, which disagree on where epsilon goes.

use borel_autograd::{Float, ParamGrads, ParamStore};

use crate::{Hyper, Optimizer, State, StateError, checked, each3, for_each_param};

/// Which reference's RMSprop formula to follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RmsFlavor {
    /// Keras 3: `p -= lr g / sqrt(v + eps)` (epsilon inside the square root).
    Keras3,
    /// tf.keras 2 (TensorFlow 2.x, the Keras of the seed post's time): epsilon outside the
    /// square root on the plain path, `p -= lr g / (sqrt(v) + eps)`; with momentum it uses
    /// TensorFlow's fused op, epsilon inside.
    TfKeras2,
    /// PyTorch: `p -= lr g / (sqrt(v) + eps)`; momentum accumulates `g / (sqrt(v) + eps)` and
    /// is scaled by lr when applied.
    PyTorch,
}

/// RMSprop, `v = rho v + (1 - rho) g^2`, with optional momentum and centering (subtract the
/// squared running mean of `g` from `v`).
///
/// Presets, each tied to its reference:
/// - [`RmsProp::keras`] (the default): Keras 3, lr 0.001, rho 0.9, eps 1e-7, eps inside the
///   square root: `p -= lr g / sqrt(v + eps)`; momentum `b = m b + lr g / sqrt(v + eps)`,
///   `p -= b`.
/// - [`RmsProp::tf_keras2`]: tf.keras 2, same defaults, `p -= lr g / (sqrt(v) + eps)` without
///   momentum; with momentum as Keras 3.
/// - [`RmsProp::pytorch`]: PyTorch, lr 0.01, alpha 0.99, eps 1e-8,
///   `p -= lr g / (sqrt(v) + eps)`; momentum `b = m b + g / (sqrt(v) + eps)`, `p -= lr b`.
///
/// Weight decay is PyTorch's L2 penalty with [`RmsProp::pytorch`], Keras' decoupled decay
/// `p -= p wd lr` (before the update) with the Keras presets.
///
/// Settings are checked where they are set, with PyTorch's ranges and words, except that
/// rho (alpha) must be below 1 and momentum at most 1, and epsilon above 0: PyTorch takes
/// any alpha >= 0, momentum >= 0 and epsilon >= 0, but alpha above 1 makes the average
/// negative (NaN), alpha 1 never lets it grow from 0, momentum above 1 diverges, and epsilon
/// 0 makes a zero gradient's step `0 / 0`.
///
/// ```
/// use borel_optim::{Optimizer, RmsProp};
/// let opt = RmsProp::<f32>::keras();
/// assert_eq!(opt.learning_rate(), 0.001);
/// assert_eq!(RmsProp::<f32>::pytorch().lr(0.1).learning_rate(), 0.1);
/// ```
#[derive(Clone, Debug)]
pub struct RmsProp<F: Float> {
    lr: f64,
    rho: f64,
    eps: f64,
    momentum: f64,
    centered: bool,
    weight_decay: f64,
    flavor: RmsFlavor,
    state: State<F>,
}

impl<F: Float> Default for RmsProp<F> {
    fn default() -> Self {
        Self::keras()
    }
}

impl<F: Float> RmsProp<F> {
    /// Keras 3's `RMSprop()`: lr 0.001, rho 0.9, eps 1e-7 inside the square root.
    pub fn keras() -> Self {
        RmsProp {
            lr: 0.001,
            rho: 0.9,
            eps: 1e-7,
            momentum: 0.0,
            centered: false,
            weight_decay: 0.0,
            flavor: RmsFlavor::Keras3,
            state: State::default(),
        }
    }
    /// tf.keras 2's `RMSprop()`: the same defaults, eps outside the square root.
    pub fn tf_keras2() -> Self {
        RmsProp {
            flavor: RmsFlavor::TfKeras2,
            ..Self::keras()
        }
    }
    /// PyTorch's `RMSprop`: lr 0.01, alpha 0.99, eps 1e-8 outside the square root.
    pub fn pytorch() -> Self {
        RmsProp {
            lr: 0.01,
            rho: 0.99,
            eps: 1e-8,
            flavor: RmsFlavor::PyTorch,
            ..Self::keras()
        }
    }
    /// The learning rate; panics unless it is finite and >= 0.
    #[track_caller]
    pub fn lr(mut self, lr: f64) -> Self {
        self.lr = checked("RmsProp", "lr", Hyper::LearningRate, lr);
        self
    }
    /// The decay of the squared-gradient average (Keras' rho, PyTorch's alpha); panics
    /// unless it is in [0, 1).
    #[track_caller]
    pub fn rho(mut self, rho: f64) -> Self {
        self.rho = checked("RmsProp", "rho", Hyper::Alpha, rho);
        self
    }
    /// The epsilon; panics unless it is finite and > 0.
    #[track_caller]
    pub fn eps(mut self, eps: f64) -> Self {
        self.eps = checked("RmsProp", "eps", Hyper::Epsilon, eps);
        self
    }
    /// Momentum (default 0); panics unless it is in [0, 1].
    #[track_caller]
    pub fn momentum(mut self, m: f64) -> Self {
        self.momentum = checked("RmsProp", "momentum", Hyper::Momentum, m);
        self
    }
    /// Centered RMSprop (default off).
    pub fn centered(mut self, on: bool) -> Self {
        self.centered = on;
        self
    }
    /// Weight decay: with [`RmsProp::pytorch`], PyTorch's L2 penalty added to the gradient;
    /// with the Keras presets, Keras' decoupled decay `p -= p wd lr` before the update.
    /// Panics unless it is finite and >= 0.
    #[track_caller]
    pub fn weight_decay(mut self, wd: f64) -> Self {
        self.weight_decay = checked("RmsProp", "weight_decay", Hyper::WeightDecay, wd);
        self
    }
    /// The formula followed.
    pub fn flavor(&self) -> RmsFlavor {
        self.flavor
    }

    /// Where the flavor puts weight decay and epsilon: `(kd, l2, eps_inside)`, with `kd`
    /// Keras' decoupled decay and `l2` PyTorch's penalty on the gradient (one of them 0).
    fn placement(&self) -> (F, F, bool) {
        let wd = F::from_f64(self.weight_decay);
        match self.flavor {
            RmsFlavor::Keras3 => (wd, F::ZERO, true),
            RmsFlavor::TfKeras2 => (wd, F::ZERO, self.momentum > 0.0),
            RmsFlavor::PyTorch => (F::ZERO, wd, false),
        }
    }
}

impl<F: Float> Optimizer<F> for RmsProp<F> {
    fn set_state(&mut self, state: State<F>) -> Result<(), StateError> {
        // mean square, mean (centered), momentum: the mean square is never below the square
        // of the mean, so the centered variance is never negative
        let centered = self.centered;
        crate::set_checked(&mut self.state, state, "RmsProp", 3, |b| {
            b[0] >= F::ZERO && (!centered || b[1] * b[1] <= b[0])
        })
    }
    #[track_caller]
    fn update(&mut self, store: &mut ParamStore<F>, grads: &ParamGrads<F>) {
        crate::begin_update("RmsProp", &mut self.state, store, grads);
        let f = F::from_f64;
        let (lr, rho, eps, m) = (f(self.lr), f(self.rho), f(self.eps), f(self.momentum));
        let (centered, has_momentum, flavor) = (self.centered, self.momentum > 0.0, self.flavor);
        let (kd, l2, eps_inside) = self.placement();
        if !centered && !has_momentum {
            // The common case (the presets' defaults), without branches in the loop so that
            // it vectorizes.
            for_each_param(&mut self.state, store, grads, |w, g, bufs: [&mut [F]; 3], _| {
                each3(w, g, bufs, |w, g, v, _, _| {
                    *w -= *w * kd * lr;
                    let g = g + l2 * *w;
                    *v = rho * *v + (F::ONE - rho) * g * g;
                    let denom = if eps_inside { (*v + eps).sqrt() } else { v.sqrt() + eps };
                    *w -= lr * g / denom;
                });
            });
            return;
        }
        for_each_param(&mut self.state, store, grads, |w, g, bufs, _| {
            each3(w, g, bufs, |w, g, v, avg, buf| {
                *w -= *w * kd * lr;
                let g = g + l2 * *w;
                *v = rho * *v + (F::ONE - rho) * g * g;
                let mut var = *v;
                if centered {
                    *avg = rho * *avg + (F::ONE - rho) * g;
                    var -= *avg * *avg;
                }
                let denom = if eps_inside {
                    (var + eps).sqrt()
                } else {
                    var.sqrt() + eps
                };
                match (has_momentum, flavor) {
                    (false, _) => *w -= lr * g / denom,
                    (true, RmsFlavor::PyTorch) => {
                        *buf = m * *buf + g / denom;
                        *w -= lr * *buf;
                    }
                    (true, _) => {
                        *buf = m * *buf + lr * g / denom;
                        *w -= *buf;
                    }
                }
            });
        });
    }
    crate::accessors!("RmsProp", lr, state);
}
