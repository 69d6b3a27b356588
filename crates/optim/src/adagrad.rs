//! Adagrad, as `torch.optim.Adagrad`.

use borel_autograd::Float;

use crate::{Optimizer, Param, State, update1};

/// Adagrad with PyTorch's update (lr 0.01, lr_decay 0, eps 1e-10, initial accumulator 0):
///
/// ```text
/// clr = lr / (1 + (t - 1) lr_decay);  g = g + wd p;  s = s + g^2;  p = p - clr g / (sqrt(s) + eps)
/// ```
#[derive(Clone, Debug)]
pub struct Adagrad<F: Float> {
    lr: f64,
    lr_decay: f64,
    weight_decay: f64,
    eps: f64,
    state: State<F>,
}

impl<F: Float> Adagrad<F> {
    /// Adagrad with learning rate `lr`.
    pub fn new(lr: f64) -> Self {
        Adagrad {
            lr,
            lr_decay: 0.0,
            weight_decay: 0.0,
            eps: 1e-10,
            state: State::default(),
        }
    }
    /// Learning-rate decay per step.
    pub fn lr_decay(mut self, d: f64) -> Self {
        self.lr_decay = d;
        self
    }
    /// L2 penalty added to the gradient.
    pub fn weight_decay(mut self, wd: f64) -> Self {
        self.weight_decay = wd;
        self
    }
    /// The epsilon.
    pub fn eps(mut self, eps: f64) -> Self {
        self.eps = eps;
        self
    }
}

impl<F: Float> Optimizer<F> for Adagrad<F> {
    fn step(&mut self, params: &mut [Param<'_, F>]) {
        self.state.step += 1;
        let clr = F::from_f64(self.lr / (1.0 + (self.state.step - 1) as f64 * self.lr_decay));
        let (wd, eps) = (F::from_f64(self.weight_decay), F::from_f64(self.eps));
        for p in params.iter_mut() {
            update1(&mut self.state, p, |w, g, s| {
                let g = g + wd * *w;
                *s += g * g;
                *w -= clr * g / (s.sqrt_() + eps);
            });
        }
    }
    crate::accessors!(lr, state);
}
