//! Callbacks run by `fit` at the end of each epoch: early stopping, checkpoints, a closure.
//!
//! A non-finite loss needs no callback: `fit` itself stops with
//! [`crate::FitError::NonFiniteLoss`], keeping the parameters of the last good step.

use std::path::PathBuf;

use borel_autograd::{Float, Tensor};
use borel_nn::{Layout, ParamStore, WeightFile};

use crate::model::{EpochLog, FitError};

/// Whether training goes on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    /// Go on.
    Continue,
    /// Stop after this epoch.
    Stop,
}

/// Something `fit` calls at the end of every epoch, with the epoch's metrics and the
/// parameters.
pub trait Callback<F: Float> {
    /// Called after each epoch.
    fn on_epoch_end(&mut self, log: &EpochLog, store: &mut ParamStore<F>) -> Result<Control, FitError>;
    /// Called once when training ends (normally or stopped).
    fn on_train_end(&mut self, _store: &mut ParamStore<F>) -> Result<(), FitError> {
        Ok(())
    }
}

/// Which metric a callback watches (lower is better).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Monitor {
    /// The training loss.
    Loss,
    /// The validation loss (falls back to the training loss without validation data).
    ValLoss,
}

impl Monitor {
    fn read(self, log: &EpochLog) -> f64 {
        match self {
            Monitor::Loss => log.loss,
            Monitor::ValLoss => log.val_loss.unwrap_or(log.loss),
        }
    }
}

/// Stops when the monitored loss has not improved by more than `min_delta` for `patience`
/// epochs; optionally puts back the best epoch's weights (Keras' `EarlyStopping`).
pub struct EarlyStopping<F: Float> {
    /// The metric.
    pub monitor: Monitor,
    /// Epochs without improvement before stopping.
    pub patience: usize,
    /// Smallest decrease that counts as improvement.
    pub min_delta: f64,
    /// Restore the best weights when training ends.
    pub restore_best: bool,
    best: f64,
    wait: usize,
    best_weights: Option<Vec<Tensor<F>>>,
    /// The epoch with the best metric so far.
    pub best_epoch: usize,
}

impl<F: Float> EarlyStopping<F> {
    /// Watches `monitor` with the given patience.
    pub fn new(monitor: Monitor, patience: usize) -> Self {
        EarlyStopping {
            monitor,
            patience,
            min_delta: 0.0,
            restore_best: false,
            best: f64::INFINITY,
            wait: 0,
            best_weights: None,
            best_epoch: 0,
        }
    }
    /// Restores the best weights at the end.
    pub fn restore_best_weights(mut self) -> Self {
        self.restore_best = true;
        self
    }
}

impl<F: Float> Callback<F> for EarlyStopping<F> {
    fn on_epoch_end(&mut self, log: &EpochLog, store: &mut ParamStore<F>) -> Result<Control, FitError> {
        let m = self.monitor.read(log);
        if m < self.best - self.min_delta {
            self.best = m;
            self.wait = 0;
            self.best_epoch = log.epoch;
            if self.restore_best {
                self.best_weights = Some(store.snapshot());
            }
            return Ok(Control::Continue);
        }
        self.wait += 1;
        Ok(if self.wait >= self.patience {
            Control::Stop
        } else {
            Control::Continue
        })
    }
    fn on_train_end(&mut self, store: &mut ParamStore<F>) -> Result<(), FitError> {
        if let Some(w) = &self.best_weights {
            store.restore(w);
        }
        Ok(())
    }
}

/// Writes the weights to `path` (safetensors, atomically): every `every` epochs, or, with
/// [`Checkpoint::best_only`], whenever the monitored loss improves.
pub struct Checkpoint {
    path: PathBuf,
    every: usize,
    best_only: Option<Monitor>,
    best: f64,
    /// Epochs at which a file was written.
    pub saved_at: Vec<usize>,
}

impl Checkpoint {
    /// Saves every `every` epochs.
    pub fn every(path: impl Into<PathBuf>, every: usize) -> Self {
        Checkpoint {
            path: path.into(),
            every: every.max(1),
            best_only: None,
            best: f64::INFINITY,
            saved_at: vec![],
        }
    }
    /// Saves when `monitor` reaches a new best.
    pub fn best_only(path: impl Into<PathBuf>, monitor: Monitor) -> Self {
        Checkpoint {
            best_only: Some(monitor),
            ..Self::every(path, 1)
        }
    }
}

impl<F: Float> Callback<F> for Checkpoint {
    fn on_epoch_end(&mut self, log: &EpochLog, store: &mut ParamStore<F>) -> Result<Control, FitError> {
        let save = match self.best_only {
            Some(m) => {
                let v = m.read(log);
                let better = v < self.best;
                if better {
                    self.best = v;
                }
                better
            }
            None => log.epoch % self.every == 0,
        };
        if save {
            store.save(&self.path, Layout::Borel)?;
            self.saved_at.push(log.epoch);
        }
        Ok(Control::Continue)
    }
}

/// A user closure called after each epoch.
///
/// ```
/// use borel::callbacks::{Control, EpochEnd};
/// let cb = EpochEnd(|log: &borel::EpochLog| {
///     println!("epoch {} loss {}", log.epoch, log.loss);
///     Control::Continue
/// });
/// # let _ = cb;
/// ```
pub struct EpochEnd<G>(pub G);

impl<F: Float, G: FnMut(&EpochLog) -> Control> Callback<F> for EpochEnd<G> {
    fn on_epoch_end(&mut self, log: &EpochLog, _store: &mut ParamStore<F>) -> Result<Control, FitError> {
        Ok((self.0)(log))
    }
}
