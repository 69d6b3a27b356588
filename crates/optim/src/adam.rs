//! Adam and AdamW, with PyTorch's update and, as an option, Keras'.

use borel_autograd::Float;

use crate::{Optimizer, Param, State, update3};

/// Where the formulas come from: the two references differ in where epsilon sits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flavor {
    PyTorch,
    Keras,
}

/// Adam (optionally AMSGrad).
///
/// [`Adam::new`] follows `torch.optim.Adam` (lr 0.001, betas 0.9/0.999, eps 1e-8, L2 weight
/// decay added to the gradient):
///
/// ```text
/// m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;  (amsgrad: vmax = max(vmax, v), v := vmax)
/// p = p - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
/// ```
///
/// [`Adam::keras`] follows Keras 3's `Adam` (eps 1e-7, outside the bias correction):
///
/// ```text
/// p = p - lr sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)
/// ```
#[derive(Clone, Debug)]
pub struct Adam<F: Float> {
    lr: f64,
    beta1: f64,
    beta2: f64,
    eps: f64,
    weight_decay: f64,
    amsgrad: bool,
    flavor: Flavor,
    state: State<F>,
}

impl<F: Float> Adam<F> {
    /// PyTorch's Adam with learning rate `lr` and its other defaults.
    pub fn new(lr: f64) -> Self {
        Adam {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            amsgrad: false,
            flavor: Flavor::PyTorch,
            state: State::default(),
        }
    }
    /// Keras 3's Adam defaults: lr 0.001, betas 0.9/0.999, eps 1e-7, Keras' epsilon placement.
    pub fn keras() -> Self {
        Adam {
            eps: 1e-7,
            flavor: Flavor::Keras,
            ..Self::new(0.001)
        }
    }
    /// The decay rates of the first and second moments.
    pub fn betas(mut self, b1: f64, b2: f64) -> Self {
        self.beta1 = b1;
        self.beta2 = b2;
        self
    }
    /// The epsilon.
    pub fn eps(mut self, eps: f64) -> Self {
        self.eps = eps;
        self
    }
    /// L2 penalty added to the gradient (PyTorch flavor only; see [`AdamW`] for decoupled decay).
    pub fn weight_decay(mut self, wd: f64) -> Self {
        self.weight_decay = wd;
        self
    }
    /// AMSGrad: use the running maximum of the second moment.
    pub fn amsgrad(mut self, on: bool) -> Self {
        self.amsgrad = on;
        self
    }

    fn apply(&mut self, params: &mut [Param<'_, F>], decoupled_decay: f64) {
        self.state.step += 1;
        let t = self.state.step as i32;
        let (b1, b2) = (self.beta1, self.beta2);
        let (bc1, bc2) = (1.0 - b1.powi(t), 1.0 - b2.powi(t));
        let f = F::from_f64;
        let (fb1, fb2, eps, wd) = (f(b1), f(b2), f(self.eps), f(self.weight_decay));
        let shrink = f(1.0 - self.lr * decoupled_decay);
        let amsgrad = self.amsgrad;
        let (step, sqrt_bc2, keras_lr) = (f(self.lr / bc1), f(bc2.sqrt()), f(self.lr * bc2.sqrt() / bc1));
        let flavor = self.flavor;
        for p in params.iter_mut() {
            update3(&mut self.state, p, |w, g, m, v, vmax| {
                *w *= shrink;
                let g = g + wd * *w;
                *m = fb1 * *m + (F::ONE - fb1) * g;
                *v = fb2 * *v + (F::ONE - fb2) * g * g;
                let vv = if amsgrad {
                    if *v > *vmax {
                        *vmax = *v;
                    }
                    *vmax
                } else {
                    *v
                };
                match flavor {
                    Flavor::PyTorch => *w -= step * *m / (vv.sqrt_() / sqrt_bc2 + eps),
                    Flavor::Keras => *w -= keras_lr * *m / (vv.sqrt_() + eps),
                }
            });
        }
    }
}

impl<F: Float> Optimizer<F> for Adam<F> {
    fn step(&mut self, params: &mut [Param<'_, F>]) {
        self.apply(params, 0.0);
    }
    crate::accessors!(lr, state);
}

/// AdamW: Adam with decoupled weight decay, `p = p (1 - lr wd)` before the Adam update
/// (`torch.optim.AdamW`; default weight decay 0.01).
#[derive(Clone, Debug)]
pub struct AdamW<F: Float> {
    inner: Adam<F>,
    weight_decay: f64,
}

impl<F: Float> AdamW<F> {
    /// PyTorch's AdamW with learning rate `lr`, weight decay 0.01.
    pub fn new(lr: f64) -> Self {
        AdamW {
            inner: Adam::new(lr),
            weight_decay: 0.01,
        }
    }
    /// The decoupled weight decay.
    pub fn weight_decay(mut self, wd: f64) -> Self {
        self.weight_decay = wd;
        self
    }
    /// The decay rates of the moments.
    pub fn betas(mut self, b1: f64, b2: f64) -> Self {
        self.inner = self.inner.betas(b1, b2);
        self
    }
    /// AMSGrad.
    pub fn amsgrad(mut self, on: bool) -> Self {
        self.inner = self.inner.amsgrad(on);
        self
    }
}

impl<F: Float> Optimizer<F> for AdamW<F> {
    fn step(&mut self, params: &mut [Param<'_, F>]) {
        let wd = self.weight_decay;
        self.inner.apply(params, wd);
    }
    crate::accessors!(inner.lr, inner.state);
}
