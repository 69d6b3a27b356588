//! RMSprop with the three references' formulas, which disagree on where epsilon goes.

use borel_autograd::{Float, ParamGrads, ParamStore};

use crate::{Buffers, Hyper, Optimizer, Reference, State, StateError, checked, for_each_param, per_element};

/// RMSprop, `v = rho v + (1 - rho) g^2`, with optional momentum and centering (subtract the
/// squared running mean of `g` from `v`). It keeps one buffer per parameter, `v`, one more
/// for the running mean when centered and one for the momentum.
///
/// Presets, each tied to its [`Reference`], which the three disagree on where epsilon goes:
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
    reference: Reference,
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
            reference: Reference::Keras,
            state: State::default(),
        }
    }
    /// tf.keras 2's `RMSprop()`: the same defaults, eps outside the square root.
    pub fn tf_keras2() -> Self {
        RmsProp {
            reference: Reference::TfKeras2,
            ..Self::keras()
        }
    }
    /// PyTorch's `RMSprop`: lr 0.01, alpha 0.99, eps 1e-8 outside the square root.
    pub fn pytorch() -> Self {
        RmsProp {
            lr: 0.01,
            rho: 0.99,
            eps: 1e-8,
            reference: Reference::PyTorch,
            ..Self::keras()
        }
    }
    /// PyTorch's `RMSprop` with learning rate `lr` and its other defaults; panics unless
    /// `lr` is finite and >= 0.
    ///
    /// ```
    /// use borel_optim::{Optimizer, RmsProp};
    /// let opt = RmsProp::<f32>::new(0.005);
    /// assert_eq!(opt.learning_rate(), 0.005);
    /// ```
    #[track_caller]
    pub fn new(lr: f64) -> Self {
        Self::pytorch().lr(lr)
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
    /// The reference whose formula this follows.
    pub fn reference(&self) -> Reference {
        self.reference
    }

    /// `v`, then the running mean when centered and the momentum buffer with momentum (state
    /// files once kept all three).
    fn buffers(&self) -> Buffers {
        let (centered, momentum) = (u8::from(self.centered), u8::from(self.momentum > 0.0));
        Buffers::of(3, 0b001 | centered << 1 | momentum << 2)
    }

    /// Where the reference puts weight decay and epsilon.
    fn placement(&self) -> Placement<F> {
        let wd = F::from_f64(self.weight_decay);
        let (decoupled, l2, eps_inside_sqrt) = match self.reference {
            Reference::Keras => (wd, F::ZERO, true),
            Reference::TfKeras2 => (wd, F::ZERO, self.momentum > 0.0),
            Reference::PyTorch => (F::ZERO, wd, false),
        };
        Placement {
            decoupled,
            l2,
            eps_inside_sqrt,
        }
    }
}

impl<F: Float> RmsProp<F> {
    /// The common case (the presets' defaults): one buffer, no branch in the loop so that it
    /// vectorizes.
    fn update_plain(&mut self, store: &mut ParamStore<F>, grads: &ParamGrads<F>) {
        let f = F::from_f64;
        let (lr, rho, eps) = (f(self.lr), f(self.rho), f(self.eps));
        let Placement {
            decoupled,
            l2,
            eps_inside_sqrt,
        } = self.placement();
        for_each_param(&mut self.state, store, grads, |w, g, [v], _| {
            per_element(w, g, [v], |w, g, [v]| {
                *w -= *w * decoupled * lr;
                let g = g + l2 * *w;
                *v = rho * *v + (F::ONE - rho) * g * g;
                let denom = if eps_inside_sqrt {
                    (*v + eps).sqrt()
                } else {
                    v.sqrt() + eps
                };
                *w -= lr * g / denom;
            });
        });
    }

    /// Centered (`C`), or with momentum (`M`), or both: `K` buffers.
    fn update_with<const K: usize, const C: bool, const M: bool>(
        &mut self,
        store: &mut ParamStore<F>,
        grads: &ParamGrads<F>,
    ) {
        let f = F::from_f64;
        let (lr, rho, eps, m) = (f(self.lr), f(self.rho), f(self.eps), f(self.momentum));
        let pytorch = self.reference == Reference::PyTorch;
        let Placement {
            decoupled,
            l2,
            eps_inside_sqrt,
        } = self.placement();
        for_each_param(&mut self.state, store, grads, |w, g, bufs: [&mut [F]; K], _| {
            per_element(w, g, bufs, |w, g, b| {
                let (v, avg, buf) = split(b, C, M);
                *w -= *w * decoupled * lr;
                let g = g + l2 * *w;
                *v = rho * *v + (F::ONE - rho) * g * g;
                let mut var = *v;
                if let Some(avg) = avg {
                    *avg = rho * *avg + (F::ONE - rho) * g;
                    var -= *avg * *avg;
                }
                let denom = if eps_inside_sqrt {
                    (var + eps).sqrt()
                } else {
                    var.sqrt() + eps
                };
                match buf {
                    None => *w -= lr * g / denom,
                    Some(buf) if pytorch => {
                        *buf = m * *buf + g / denom;
                        *w -= lr * *buf;
                    }
                    Some(buf) => {
                        *buf = m * *buf + lr * g / denom;
                        *w -= *buf;
                    }
                }
            });
        });
    }
}

/// Where a reference puts weight decay and epsilon.
#[derive(Clone, Copy)]
struct Placement<F> {
    /// Keras' decoupled decay, `p -= p wd lr` before the update (0 with PyTorch's formula).
    decoupled: F,
    /// PyTorch's L2 penalty added to the gradient (0 with Keras').
    l2: F,
    /// Whether epsilon is added under the square root (`sqrt(v + eps)`) or after it.
    eps_inside_sqrt: bool,
}

/// One element's `v`, and its running mean and momentum buffer when kept.
#[inline(always)]
fn split<F, const K: usize>(
    b: [&mut F; K],
    centered: bool,
    momentum: bool,
) -> (&mut F, Option<&mut F>, Option<&mut F>) {
    let mut b = b.into_iter();
    let v = b.next().expect("v");
    let avg = if centered { b.next() } else { None };
    let buf = if momentum { b.next() } else { None };
    (v, avg, buf)
}

impl<F: Float> Optimizer<F> for RmsProp<F> {
    fn set_state(&mut self, state: State<F>) -> Result<(), StateError> {
        // mean square, mean (centered), momentum: the mean square is never below the square
        // of the mean, so the centered variance is never negative
        let centered = self.centered;
        crate::set_checked("RmsProp", self.buffers(), &mut self.state, state, |b| {
            b[0] >= F::ZERO && (!centered || b[1] * b[1] <= b[0])
        })
    }
    #[track_caller]
    fn update(&mut self, store: &mut ParamStore<F>, grads: &ParamGrads<F>) {
        crate::begin_update("RmsProp", &mut self.state, store, grads);
        match (self.centered, self.momentum > 0.0) {
            (false, false) => self.update_plain(store, grads),
            (true, false) => self.update_with::<2, true, false>(store, grads),
            (false, true) => self.update_with::<2, false, true>(store, grads),
            (true, true) => self.update_with::<3, true, true>(store, grads),
        }
    }
    crate::accessors!("RmsProp", lr, state);
}
