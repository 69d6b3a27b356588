//! RMSprop with the three references' formulas, which disagree on where epsilon goes.

use borel_autograd::Float;

use crate::{Optimizer, Param, State, update3};

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
/// ```
/// use borel_optim::RmsProp;
/// let opt = RmsProp::<f32>::keras();
/// assert_eq!(borel_optim::Optimizer::learning_rate(&opt), 0.001);
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
    /// The learning rate.
    pub fn lr(mut self, lr: f64) -> Self {
        self.lr = lr;
        self
    }
    /// The decay of the squared-gradient average (Keras' rho, PyTorch's alpha).
    pub fn rho(mut self, rho: f64) -> Self {
        self.rho = rho;
        self
    }
    /// The epsilon.
    pub fn eps(mut self, eps: f64) -> Self {
        self.eps = eps;
        self
    }
    /// Momentum (default 0).
    pub fn momentum(mut self, m: f64) -> Self {
        self.momentum = m;
        self
    }
    /// Centered RMSprop (default off).
    pub fn centered(mut self, on: bool) -> Self {
        self.centered = on;
        self
    }
    /// L2 penalty added to the gradient (PyTorch's weight_decay).
    pub fn weight_decay(mut self, wd: f64) -> Self {
        self.weight_decay = wd;
        self
    }
    /// The formula followed.
    pub fn flavor(&self) -> RmsFlavor {
        self.flavor
    }
}

impl<F: Float> Optimizer<F> for RmsProp<F> {
    fn step(&mut self, params: &mut [Param<'_, F>]) {
        self.state.step += 1;
        let f = F::from_f64;
        let (lr, rho, eps, m, wd) = (
            f(self.lr),
            f(self.rho),
            f(self.eps),
            f(self.momentum),
            f(self.weight_decay),
        );
        let (centered, has_momentum, flavor) = (self.centered, self.momentum > 0.0, self.flavor);
        let eps_inside = match flavor {
            RmsFlavor::Keras3 => true,
            RmsFlavor::TfKeras2 => has_momentum,
            RmsFlavor::PyTorch => false,
        };
        for p in params.iter_mut() {
            if !centered && !has_momentum {
                // The common case (the presets' defaults), without branches in the loop so
                // that it vectorizes.
                update3(&mut self.state, p, |w, g, v, _, _| {
                    let g = g + wd * *w;
                    *v = rho * *v + (F::ONE - rho) * g * g;
                    let denom = if eps_inside {
                        (*v + eps).sqrt_()
                    } else {
                        v.sqrt_() + eps
                    };
                    *w -= lr * g / denom;
                });
                continue;
            }
            update3(&mut self.state, p, |w, g, v, avg, buf| {
                let g = g + wd * *w;
                *v = rho * *v + (F::ONE - rho) * g * g;
                let mut var = *v;
                if centered {
                    *avg = rho * *avg + (F::ONE - rho) * g;
                    var -= *avg * *avg;
                }
                let denom = if eps_inside {
                    (var + eps).sqrt_()
                } else {
                    var.sqrt_() + eps
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
        }
    }
    crate::accessors!(lr, state);
}
