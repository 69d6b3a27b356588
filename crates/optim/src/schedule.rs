//! Learning-rate schedules: a function of the epoch (or step) and the base rate, plus
//! reduce-on-plateau, which watches a metric.
//!
//! Every setting is checked where it is set: a value that would make a rate negative, NaN
//! or growing where it should shrink panics at the caller's line, naming the method.

use std::f64::consts::PI;

use crate::{Hyper, checked, checked_count};

/// A learning rate as a function of the epoch (or step) count `t`, starting at 0.
pub trait Schedule {
    /// The rate at `t` for base rate `base`.
    fn lr(&self, t: usize, base: f64) -> f64;
}

/// Multiplies by `gamma` every `step_size` epochs (`torch.optim.lr_scheduler.StepLR`).
///
/// ```
/// use borel_optim::schedule::{Schedule, StepLr};
/// let s = StepLr::new(10, 0.5);
/// assert_eq!(s.lr(25, 1.0), 0.25);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct StepLr {
    step_size: usize,
    gamma: f64,
}

impl StepLr {
    /// Multiply by `gamma` every `step_size` epochs; panics unless `step_size` >= 1 and
    /// `gamma` is finite and >= 0.
    #[track_caller]
    pub fn new(step_size: usize, gamma: f64) -> Self {
        StepLr {
            step_size: checked_count("StepLr", "new", Hyper::StepSize, step_size),
            gamma: checked("StepLr", "new", Hyper::Gamma, gamma),
        }
    }
}

impl Schedule for StepLr {
    fn lr(&self, t: usize, base: f64) -> f64 {
        base * self.gamma.powi((t / self.step_size) as i32)
    }
}

/// `base * gamma^t` (`ExponentialLR`).
///
/// ```
/// use borel_optim::schedule::{ExponentialLr, Schedule};
/// assert_eq!(ExponentialLr::new(0.5).lr(2, 1.0), 0.25);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct ExponentialLr {
    gamma: f64,
}

impl ExponentialLr {
    /// Multiply by `gamma` every epoch; panics unless `gamma` is finite and >= 0.
    #[track_caller]
    pub fn new(gamma: f64) -> Self {
        ExponentialLr {
            gamma: checked("ExponentialLr", "new", Hyper::Gamma, gamma),
        }
    }
}

impl Schedule for ExponentialLr {
    fn lr(&self, t: usize, base: f64) -> f64 {
        base * self.gamma.powi(t as i32)
    }
}

/// Linear warm-up from 0 over `warmup` epochs, then cosine annealing from `base` to `min_lr`
/// over the remaining `total - warmup` epochs (`CosineAnnealingLR` after a warm-up).
///
/// ```
/// use borel_optim::schedule::{Cosine, Schedule};
/// let c = Cosine::new(10).warmup(2).min_lr(0.1);
/// assert_eq!((c.lr(0, 1.0), c.lr(1, 1.0), c.lr(2, 1.0), c.lr(10, 1.0)), (0.5, 1.0, 1.0, 0.1));
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Cosine {
    total: usize,
    warmup: usize,
    min_lr: f64,
}

impl Cosine {
    /// Cosine annealing over `total` epochs to a final rate of 0, without warm-up; panics
    /// unless `total` >= 1.
    #[track_caller]
    pub fn new(total: usize) -> Self {
        Cosine {
            total: checked_count("Cosine", "new", Hyper::Total, total),
            warmup: 0,
            min_lr: 0.0,
        }
    }
    /// Warm-up epochs, part of the total; panics when above the total.
    #[track_caller]
    pub fn warmup(mut self, epochs: usize) -> Self {
        if epochs > self.total {
            panic!(
                "Cosine::warmup: Invalid warmup value: {epochs} (must be at most the total, {})",
                self.total
            );
        }
        self.warmup = epochs;
        self
    }
    /// The final rate; panics unless it is finite and >= 0.
    #[track_caller]
    pub fn min_lr(mut self, lr: f64) -> Self {
        self.min_lr = checked("Cosine", "min_lr", Hyper::MinLr, lr);
        self
    }
}

impl Schedule for Cosine {
    fn lr(&self, t: usize, base: f64) -> f64 {
        if t < self.warmup {
            return base * (t + 1) as f64 / self.warmup as f64;
        }
        let span = self.total.saturating_sub(self.warmup).max(1) as f64;
        let progress = ((t - self.warmup) as f64 / span).min(1.0);
        self.min_lr + (base - self.min_lr) * 0.5 * (1.0 + (PI * progress).cos())
    }
}

/// Multiplies the rate by `factor` when a watched metric (lower is better) has not improved
/// by more than `min_delta` for `patience` epochs; never below `min_lr` (Keras'
/// `ReduceLROnPlateau`).
///
/// ```
/// use borel_optim::schedule::ReduceOnPlateau;
/// let mut r = ReduceOnPlateau::new(0.5, 2).min_delta(1e-3).min_lr(0.1);
/// let mut lr = 1.0;
/// for loss in [1.0, 0.9, 0.9, 0.9, 0.9] {
///     lr = r.observe(loss, lr);
/// }
/// assert_eq!(lr, 0.5);
/// ```
#[derive(Clone, Debug)]
pub struct ReduceOnPlateau {
    factor: f64,
    patience: usize,
    min_delta: f64,
    min_lr: f64,
    best: f64,
    wait: usize,
}

impl ReduceOnPlateau {
    /// Reduce by `factor` after `patience` epochs without improvement (with a `min_delta`
    /// of 1e-4 and no floor); panics unless `factor` is in (0, 1), as a factor of 1 or more
    /// would never reduce (PyTorch: "Factor should be < 1.0.") and one of 0 or less would
    /// drop the rate to the floor at once.
    #[track_caller]
    pub fn new(factor: f64, patience: usize) -> Self {
        ReduceOnPlateau {
            factor: checked("ReduceOnPlateau", "new", Hyper::Factor, factor),
            patience,
            min_delta: 1e-4,
            min_lr: 0.0,
            best: f64::INFINITY,
            wait: 0,
        }
    }

    /// The smallest change that counts as improvement; panics unless it is finite and >= 0.
    #[track_caller]
    pub fn min_delta(mut self, delta: f64) -> Self {
        self.min_delta = checked("ReduceOnPlateau", "min_delta", Hyper::MinDelta, delta);
        self
    }

    /// The floor of the rate; panics unless it is finite and >= 0.
    #[track_caller]
    pub fn min_lr(mut self, lr: f64) -> Self {
        self.min_lr = checked("ReduceOnPlateau", "min_lr", Hyper::MinLr, lr);
        self
    }

    /// The best metric so far and the epochs waited since: with the settings, its whole state
    /// (what a training checkpoint saves).
    pub fn progress(&self) -> (f64, usize) {
        (self.best, self.wait)
    }

    /// Continues from a state read with [`ReduceOnPlateau::progress`].
    ///
    /// ```
    /// use borel_optim::schedule::ReduceOnPlateau;
    /// let mut r = ReduceOnPlateau::new(0.5, 2);
    /// r.observe(1.0, 1.0);
    /// r.observe(1.0, 1.0);
    /// let mut resumed = ReduceOnPlateau::new(0.5, 2);
    /// resumed.resume(r.progress());
    /// assert_eq!(resumed.observe(1.0, 1.0), r.observe(1.0, 1.0)); // both cut the rate
    /// ```
    pub fn resume(&mut self, (best, wait): (f64, usize)) {
        (self.best, self.wait) = (best, wait);
    }

    /// Records this epoch's metric; returns the rate to use next.
    pub fn observe(&mut self, metric: f64, lr: f64) -> f64 {
        if metric < self.best - self.min_delta {
            self.best = metric;
            self.wait = 0;
            return lr;
        }
        self.wait += 1;
        if self.wait >= self.patience {
            self.wait = 0;
            return (lr * self.factor).max(self.min_lr);
        }
        lr
    }
}
