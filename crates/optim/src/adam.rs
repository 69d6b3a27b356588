//! Adam and AdamW, with PyTorch's update and, as an option, Keras'.

use borel_autograd::{Float, ParamGrads, ParamStore};

use crate::{Buffers, Hyper, Optimizer, Reference, State, StateError, checked, for_each_param, per_element};

/// Adam (optionally AMSGrad). It keeps two buffers per parameter, the moments `m` and `v`,
/// and a third, `max v`, with AMSGrad.
///
/// [`Adam::new`] and [`Adam::pytorch`] follow `torch.optim.Adam` (PyTorch 2 defaults: lr
/// 0.001, betas 0.9/0.999, eps 1e-8, L2 weight decay added to the gradient):
///
/// ```text
/// m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;  (amsgrad: vmax = max(vmax, v), v := vmax)
/// p = p - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
/// ```
///
/// [`Adam::keras`] follows Keras 3's `Adam` (lr 0.001, betas 0.9/0.999, eps 1e-7, outside
/// the bias correction; weight decay decoupled, before the update):
///
/// ```text
/// p = p - p wd lr
/// m += (g - m)(1 - b1);  v += (g^2 - v)(1 - b2)
/// p = p - m lr sqrt(1 - b2^t) / (1 - b1^t) / (sqrt(v) + eps)
/// ```
///
/// computed as Keras does in the parameters' float type (`1 - b` rounded once from `f64`,
/// the powers `b^t` taken in `F`), so in `f32` it follows Keras to float32 rounding.
///
/// `t` is each parameter's own step count with PyTorch's formula (a parameter without a
/// gradient in a step does not advance, as in `torch.optim`) and the optimizer's with
/// Keras' (its `iterations`).
///
/// Settings are checked where they are set, with PyTorch's ranges and words, except that
/// epsilon must be > 0 (PyTorch takes 0, which makes a zero gradient's step `0 / 0`):
///
/// ```should_panic
/// use borel_optim::Adam;
/// // panics: "Adam::betas: Invalid beta parameter at index 0: 1.0 (must be in [0, 1))"
/// let _ = Adam::<f32>::new(0.1).betas(1.0, 0.999);
/// ```
///
/// ```
/// use borel_optim::{Adam, Optimizer};
/// let keras = Adam::<f32>::keras().amsgrad(true);
/// let torch = Adam::<f32>::pytorch().lr(0.01);
/// assert_eq!((keras.learning_rate(), torch.learning_rate()), (0.001, 0.01));
/// ```
#[derive(Clone, Debug)]
pub struct Adam<F: Float> {
    /// "Adam" or "AdamW", for messages.
    name: &'static str,
    lr: f64,
    beta1: f64,
    beta2: f64,
    eps: f64,
    weight_decay: f64,
    decay: Decay,
    amsgrad: bool,
    reference: Reference,
    state: State<F>,
}

impl<F: Float> Adam<F> {
    /// PyTorch's Adam with learning rate `lr` and its other defaults; panics unless `lr` is
    /// finite and >= 0.
    #[track_caller]
    pub fn new(lr: f64) -> Self {
        Adam {
            name: "Adam",
            lr: checked("Adam", "new", Hyper::LearningRate, lr),
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            decay: Decay::L2,
            amsgrad: false,
            reference: Reference::PyTorch,
            state: State::default(),
        }
    }
    /// PyTorch 2's `torch.optim.Adam()` defaults: lr 0.001, betas 0.9/0.999, eps 1e-8.
    pub fn pytorch() -> Self {
        Self::new(0.001)
    }
    /// Keras 3's `keras.optimizers.Adam()` defaults: lr 0.001, betas 0.9/0.999, eps 1e-7,
    /// Keras' formula.
    pub fn keras() -> Self {
        Adam {
            eps: 1e-7,
            decay: Decay::Decoupled,
            reference: Reference::Keras,
            ..Self::new(0.001)
        }
    }
    /// The learning rate; panics unless it is finite and >= 0.
    #[track_caller]
    pub fn lr(mut self, lr: f64) -> Self {
        self.lr = checked(self.name, "lr", Hyper::LearningRate, lr);
        self
    }
    /// The decay rates of the first and second moments; panics unless each is in [0, 1).
    #[track_caller]
    pub fn betas(mut self, b1: f64, b2: f64) -> Self {
        self.beta1 = checked(self.name, "betas", Hyper::Beta(0), b1);
        self.beta2 = checked(self.name, "betas", Hyper::Beta(1), b2);
        self
    }
    /// The epsilon; panics unless it is finite and > 0.
    #[track_caller]
    pub fn eps(mut self, eps: f64) -> Self {
        self.eps = checked(self.name, "eps", Hyper::Epsilon, eps);
        self
    }
    /// Weight decay: PyTorch's L2 penalty added to the gradient, or with [`Adam::keras`]
    /// Keras' decoupled decay (which makes it Keras' `AdamW`). See [`AdamW`] for PyTorch's
    /// decoupled decay. Panics unless it is finite and >= 0.
    #[track_caller]
    pub fn weight_decay(mut self, wd: f64) -> Self {
        self.weight_decay = checked(self.name, "weight_decay", Hyper::WeightDecay, wd);
        self
    }
    /// AMSGrad: use the running maximum of the second moment (one more buffer per
    /// parameter).
    pub fn amsgrad(mut self, on: bool) -> Self {
        self.amsgrad = on;
        self
    }
    /// The reference whose formula this follows.
    pub fn reference(&self) -> Reference {
        self.reference
    }

    /// `m` and `v`, and `max v` with AMSGrad (state files once kept all three).
    fn buffers(&self) -> Buffers {
        Buffers::of(3, if self.amsgrad { 0b111 } else { 0b011 })
    }

    /// Whether `[m, v]` or `[m, v, max v]` at one element can be Adam's moments: the second moments are
    /// never negative, and as `m` and `v` average the same gradients, Cauchy-Schwarz bounds
    /// `m^2 <= (1 - b1)^2 / ((1 - b2)(1 - b1^2 / b2)) v` when `b1^2 < b2`. A buffer beyond
    /// that bound (a corrupted file) would make the next step overflow, as `m / sqrt(v)` is
    /// the step's size. Twice the bound leaves room for rounding.
    fn moments_ok(&self) -> impl Fn(&[F]) -> bool + use<F> {
        let (b1, b2) = (self.beta1, self.beta2);
        let bound = (b1 * b1 < b2 && b2 < 1.0)
            .then(|| F::from_f64(2.0 * (1.0 - b1).powi(2) / ((1.0 - b2) * (1.0 - b1 * b1 / b2))));
        move |b: &[F]| b[1..].iter().all(|&v| v >= F::ZERO) && bound.is_none_or(|k| b[0] * b[0] <= k * b[1])
    }

    #[track_caller]
    fn apply(&mut self, store: &mut ParamStore<F>, grads: &ParamGrads<F>) {
        let t = crate::begin_update(self.name, &mut self.state, store, grads) as f64;
        match (self.reference, self.amsgrad) {
            (Reference::PyTorch, false) => self.apply_pytorch::<2>(store, grads),
            (Reference::PyTorch, true) => self.apply_pytorch::<3>(store, grads),
            (_, false) => self.apply_keras::<2>(store, grads, t),
            (_, true) => self.apply_keras::<3>(store, grads, t),
        }
    }

    /// Keras' update at step `t`, with `K` buffers (3 for AMSGrad).
    fn apply_keras<const K: usize>(&mut self, store: &mut ParamStore<F>, grads: &ParamGrads<F>, t: f64) {
        let f = F::from_f64;
        let (fb1, fb2, eps, wd) = (f(self.beta1), f(self.beta2), f(self.eps), f(self.weight_decay));
        // Keras computes in the variable's dtype: `1 - beta` rounded once from the Python
        // float, the bias corrections from powers taken in that dtype.
        let (one_b1, one_b2) = (f(1.0 - self.beta1), f(1.0 - self.beta2));
        let (p1, p2) = (fb1.powf(f(t)), fb2.powf(f(t)));
        let lr = f(self.lr);
        let alpha = lr * (F::ONE - p2).sqrt() / (F::ONE - p1);
        for_each_param(&mut self.state, store, grads, |w, g, bufs: [&mut [F]; K], _| {
            per_element(w, g, bufs, |w, g, b| {
                let (m, v, vmax) = moments(b);
                *w -= *w * wd * lr;
                *m += (g - *m) * one_b1;
                *v += (g * g - *v) * one_b2;
                *w -= *m * alpha / (second(v, vmax).sqrt() + eps);
            });
        });
    }

    /// PyTorch's update, with `K` buffers (3 for AMSGrad).
    fn apply_pytorch<const K: usize>(&mut self, store: &mut ParamStore<F>, grads: &ParamGrads<F>) {
        let f = F::from_f64;
        let (fb1, fb2, eps, wd) = (f(self.beta1), f(self.beta2), f(self.eps), f(self.weight_decay));
        // PyTorch's AdamW multiplies by `1 - lr wd`, computed in Python floats.
        let (shrink, l2) = match self.decay {
            Decay::Decoupled => (f(1.0 - self.lr * self.weight_decay), F::ZERO),
            Decay::L2 => (F::ONE, wd),
        };
        let (lr, b1, b2) = (self.lr, self.beta1, self.beta2);
        for_each_param(&mut self.state, store, grads, |w, g, bufs: [&mut [F]; K], t| {
            // PyTorch's bias corrections use the parameter's own step count
            let (bc1, bc2) = (1.0 - b1.powf(t as f64), 1.0 - b2.powf(t as f64));
            let (step, sqrt_bc2) = (f(lr / bc1), f(bc2.sqrt()));
            per_element(w, g, bufs, |w, g, b| {
                let (m, v, vmax) = moments(b);
                *w *= shrink;
                let g = g + l2 * *w;
                *m = fb1 * *m + (F::ONE - fb1) * g;
                *v = fb2 * *v + (F::ONE - fb2) * g * g;
                *w -= step * *m / (second(v, vmax).sqrt() / sqrt_bc2 + eps);
            });
        });
    }
}

/// Where weight decay enters PyTorch's update: an L2 penalty added to the gradient (Adam),
/// or decoupled, `p (1 - lr wd)` before the update (AdamW). Keras' decay is decoupled too.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Decay {
    L2,
    Decoupled,
}

/// One element's `m`, `v`, and `max v` when there is a third buffer (AMSGrad).
#[inline(always)]
fn moments<F, const K: usize>(b: [&mut F; K]) -> (&mut F, &mut F, Option<&mut F>) {
    let mut b = b.into_iter();
    let (m, v) = (b.next().expect("m"), b.next().expect("v"));
    (m, v, b.next())
}

/// The second moment a step divides by: `v`, or with AMSGrad its running maximum, updated.
#[inline(always)]
fn second<F: Float>(v: &mut F, vmax: Option<&mut F>) -> F {
    match vmax {
        Some(vmax) => {
            if *v > *vmax {
                *vmax = *v;
            }
            *vmax
        }
        None => *v,
    }
}

impl<F: Float> Optimizer<F> for Adam<F> {
    fn set_state(&mut self, state: State<F>) -> Result<(), StateError> {
        let ok = self.moments_ok();
        crate::set_checked("Adam", self.buffers(), &mut self.state, state, ok)
    }
    #[track_caller]
    fn update(&mut self, store: &mut ParamStore<F>, grads: &ParamGrads<F>) {
        self.apply(store, grads);
    }
    crate::accessors!("Adam", lr, state);
}

/// AdamW: Adam with decoupled weight decay.
///
/// [`AdamW::new`] and [`AdamW::pytorch`] follow `torch.optim.AdamW` (PyTorch 2 defaults: lr
/// 0.001, weight decay 0.01, betas 0.9/0.999, eps 1e-8): `p = p (1 - lr wd)`, then PyTorch's
/// Adam update (see [`Adam`]).
///
/// [`AdamW::keras`] follows Keras 3's `AdamW` (lr 0.001, weight decay 0.004, betas
/// 0.9/0.999, eps 1e-7), which is Keras' `Adam` with its decoupled decay `p = p - p wd lr`
/// before the update ([`Adam::keras`] with [`Adam::weight_decay`]).
///
/// ```
/// use borel_optim::{AdamW, Optimizer};
/// let opt = AdamW::<f32>::keras().lr(0.01).weight_decay(0.1);
/// assert_eq!(opt.learning_rate(), 0.01);
/// ```
#[derive(Clone, Debug)]
pub struct AdamW<F: Float> {
    inner: Adam<F>,
}

impl<F: Float> AdamW<F> {
    /// PyTorch's AdamW with learning rate `lr`, weight decay 0.01; panics unless `lr` is
    /// finite and >= 0.
    #[track_caller]
    pub fn new(lr: f64) -> Self {
        AdamW {
            inner: Adam {
                name: "AdamW",
                lr: checked("AdamW", "new", Hyper::LearningRate, lr),
                weight_decay: 0.01,
                decay: Decay::Decoupled,
                ..Adam::pytorch()
            },
        }
    }
    /// PyTorch 2's `torch.optim.AdamW()` defaults: lr 0.001, weight decay 0.01, eps 1e-8.
    pub fn pytorch() -> Self {
        Self::new(0.001)
    }
    /// Keras 3's `keras.optimizers.AdamW()` defaults: lr 0.001, weight decay 0.004, eps 1e-7,
    /// Keras' formula.
    pub fn keras() -> Self {
        AdamW {
            inner: Adam {
                name: "AdamW",
                weight_decay: 0.004,
                ..Adam::keras()
            },
        }
    }
    /// The learning rate; panics unless it is finite and >= 0.
    #[track_caller]
    pub fn lr(mut self, lr: f64) -> Self {
        self.inner = self.inner.lr(lr);
        self
    }
    /// The decoupled weight decay; panics unless it is finite and >= 0.
    #[track_caller]
    pub fn weight_decay(mut self, wd: f64) -> Self {
        self.inner = self.inner.weight_decay(wd);
        self
    }
    /// The decay rates of the moments; panics unless each is in [0, 1).
    #[track_caller]
    pub fn betas(mut self, b1: f64, b2: f64) -> Self {
        self.inner = self.inner.betas(b1, b2);
        self
    }
    /// The epsilon; panics unless it is finite and > 0.
    #[track_caller]
    pub fn eps(mut self, eps: f64) -> Self {
        self.inner = self.inner.eps(eps);
        self
    }
    /// AMSGrad (one more buffer per parameter).
    pub fn amsgrad(mut self, on: bool) -> Self {
        self.inner = self.inner.amsgrad(on);
        self
    }
    /// The reference whose formula this follows.
    pub fn reference(&self) -> Reference {
        self.inner.reference
    }
    fn buffers(&self) -> Buffers {
        self.inner.buffers()
    }
}

impl<F: Float> Optimizer<F> for AdamW<F> {
    fn set_state(&mut self, state: State<F>) -> Result<(), StateError> {
        let ok = self.inner.moments_ok();
        crate::set_checked("AdamW", self.inner.buffers(), &mut self.inner.state, state, ok)
    }
    #[track_caller]
    fn update(&mut self, store: &mut ParamStore<F>, grads: &ParamGrads<F>) {
        self.inner.apply(store, grads);
    }
    crate::accessors!("AdamW", inner.lr, inner.state);
}
