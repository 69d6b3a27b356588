//! Stochastic gradient descent, as PyTorch's `torch.optim.SGD`.

use borel_autograd::Float;

use crate::{Optimizer, Param, State, update0, update1};

/// SGD with momentum, dampening, Nesterov momentum and L2 weight decay, with PyTorch's
/// update (`torch.optim.SGD`):
///
/// ```text
/// g = grad + weight_decay * p
/// b = g                                   (first step)
/// b = momentum * b + (1 - dampening) * g  (after)
/// g = g + momentum * b   if nesterov, else   g = b      (when momentum > 0)
/// p = p - lr * g
/// ```
///
/// ```
/// use borel_optim::Sgd;
/// let opt = Sgd::<f32>::new(0.01).momentum(0.9).nesterov(true).weight_decay(1e-4);
/// # let _ = opt;
/// ```
#[derive(Clone, Debug)]
pub struct Sgd<F: Float> {
    lr: f64,
    momentum: f64,
    dampening: f64,
    nesterov: bool,
    weight_decay: f64,
    state: State<F>,
}

impl<F: Float> Sgd<F> {
    /// Plain SGD with learning rate `lr`.
    pub fn new(lr: f64) -> Self {
        Sgd {
            lr,
            momentum: 0.0,
            dampening: 0.0,
            nesterov: false,
            weight_decay: 0.0,
            state: State::default(),
        }
    }
    /// Momentum factor (default 0).
    pub fn momentum(mut self, m: f64) -> Self {
        self.momentum = m;
        self
    }
    /// Dampening of the momentum (default 0).
    pub fn dampening(mut self, d: f64) -> Self {
        self.dampening = d;
        self
    }
    /// Nesterov momentum (default off).
    pub fn nesterov(mut self, on: bool) -> Self {
        self.nesterov = on;
        self
    }
    /// L2 penalty added to the gradient (default 0).
    pub fn weight_decay(mut self, wd: f64) -> Self {
        self.weight_decay = wd;
        self
    }
}

impl<F: Float> Optimizer<F> for Sgd<F> {
    fn step(&mut self, params: &mut [Param<'_, F>]) {
        let first = self.state.step == 0;
        self.state.step += 1;
        let (lr, m, damp, wd) = (
            F::from_f64(self.lr),
            F::from_f64(self.momentum),
            F::from_f64(self.dampening),
            F::from_f64(self.weight_decay),
        );
        let nesterov = self.nesterov;
        for p in params.iter_mut() {
            if self.momentum == 0.0 {
                update0(&mut self.state, p, |w, g| *w -= lr * (g + wd * *w));
            } else {
                update1(&mut self.state, p, |w, g, b| {
                    let g = g + wd * *w;
                    *b = if first { g } else { m * *b + (F::ONE - damp) * g };
                    let d = if nesterov { g + m * *b } else { *b };
                    *w -= lr * d;
                });
            }
        }
    }
    crate::accessors!(lr, state);
}
