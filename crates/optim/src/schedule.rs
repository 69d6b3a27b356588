//! Learning-rate schedules: a function of the epoch (or step) and the base rate, plus
//! reduce-on-plateau, which watches a metric.

use std::f64::consts::PI;

/// A learning rate as a function of the epoch (or step) count `t`, starting at 0.
pub trait Schedule {
    /// The rate at `t` for base rate `base`.
    fn lr(&self, t: usize, base: f64) -> f64;
}

/// Multiplies by `gamma` every `step_size` epochs (`torch.optim.lr_scheduler.StepLR`).
///
/// ```
/// use borel_optim::schedule::{Schedule, StepLr};
/// let s = StepLr { step_size: 10, gamma: 0.5 };
/// assert_eq!(s.lr(25, 1.0), 0.25);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct StepLr {
    /// Epochs between decays.
    pub step_size: usize,
    /// The factor.
    pub gamma: f64,
}

impl Schedule for StepLr {
    fn lr(&self, t: usize, base: f64) -> f64 {
        base * self.gamma.powi((t / self.step_size.max(1)) as i32)
    }
}

/// `base * gamma^t` (`ExponentialLR`).
#[derive(Clone, Copy, Debug)]
pub struct ExponentialLr {
    /// The factor per epoch.
    pub gamma: f64,
}

impl Schedule for ExponentialLr {
    fn lr(&self, t: usize, base: f64) -> f64 {
        base * self.gamma.powi(t as i32)
    }
}

/// Linear warm-up from 0 over `warmup` epochs, then cosine annealing from `base` to `min_lr`
/// over the remaining `total - warmup` epochs (`CosineAnnealingLR` after a warm-up).
#[derive(Clone, Copy, Debug)]
pub struct Cosine {
    /// Epochs of the whole schedule.
    pub total: usize,
    /// Warm-up epochs.
    pub warmup: usize,
    /// The final rate.
    pub min_lr: f64,
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

/// Divides the rate by `1/factor` when a watched metric (lower is better) has not improved by
/// more than `min_delta` for `patience` epochs; never below `min_lr` (Keras'
/// `ReduceLROnPlateau`).
///
/// ```
/// use borel_optim::schedule::ReduceOnPlateau;
/// let mut r = ReduceOnPlateau::new(0.5, 2);
/// let mut lr = 1.0;
/// for loss in [1.0, 0.9, 0.9, 0.9, 0.9] {
///     lr = r.observe(loss, lr);
/// }
/// assert_eq!(lr, 0.5);
/// ```
#[derive(Clone, Debug)]
pub struct ReduceOnPlateau {
    /// Factor applied on a plateau.
    pub factor: f64,
    /// Epochs without improvement before reducing.
    pub patience: usize,
    /// Smallest change that counts as improvement.
    pub min_delta: f64,
    /// The floor.
    pub min_lr: f64,
    best: f64,
    wait: usize,
}

impl ReduceOnPlateau {
    /// Reduce by `factor` after `patience` epochs without improvement.
    pub fn new(factor: f64, patience: usize) -> Self {
        ReduceOnPlateau {
            factor,
            patience,
            min_delta: 1e-4,
            min_lr: 0.0,
            best: f64::INFINITY,
            wait: 0,
        }
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
