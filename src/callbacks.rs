//! Callbacks run by `fit` at the end of each epoch: early stopping, checkpoints (of the
//! weights, or of the whole training state to resume from), a closure.
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

/// What a callback carries from one epoch to the next, kept in a training checkpoint so that
/// a resumed `fit` hands it back (early stopping's best value and wait count): named numbers,
/// saved exactly, and named tensors.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CallbackState<F: Float> {
    /// The kind of callback that keeps it (`"EarlyStopping"`); a resumed `fit` gives it back
    /// only to a callback of the same kind at the same place among those keeping state.
    pub kind: String,
    /// Numbers by name (names of letters, digits, `_` and `-`).
    pub numbers: Vec<(String, f64)>,
    /// Tensors by name.
    pub tensors: Vec<(String, Tensor<F>)>,
}

impl<F: Float> CallbackState<F> {
    /// The number named `name`, or an error saying it is missing.
    pub fn number(&self, name: &str) -> Result<f64, String> {
        self.numbers
            .iter()
            .find(|(n, _)| n == name)
            .map(|&(_, v)| v)
            .ok_or_else(|| format!("{}: no value for '{name}'", self.kind))
    }
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
    /// What this callback must remember for a resumed run to continue it, or `None` when it
    /// keeps nothing (the default). Called after `on_epoch_end` when a training checkpoint
    /// is written.
    fn state(&self, _store: &ParamStore<F>) -> Option<CallbackState<F>> {
        None
    }
    /// Takes back what [`Callback::state`] gave, when `fit` resumes; an error message when
    /// it does not fit (the resume is then refused).
    fn set_state(&mut self, _state: CallbackState<F>, _store: &ParamStore<F>) -> Result<(), String> {
        Ok(())
    }
    /// Where `fit` should write a training checkpoint now that every callback has seen this
    /// epoch, if anywhere: [`Checkpoint::resumable`] asks here.
    fn training_checkpoint_due(&mut self) -> Option<PathBuf> {
        None
    }
    /// Whether, in a data-parallel `fit`, only rank 0 runs it: true for callbacks that write
    /// files or print (checkpoints, TensorBoard), false (the default) for those every rank
    /// must run to decide the same way (early stopping).
    fn root_only(&self) -> bool {
        false
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
    fn state(&self, store: &ParamStore<F>) -> Option<CallbackState<F>> {
        let names = store.names();
        let best = self.best_weights.iter().flatten().zip(names);
        Some(CallbackState {
            kind: "EarlyStopping".into(),
            numbers: vec![
                ("best".into(), self.best),
                ("wait".into(), self.wait as f64),
                ("best_epoch".into(), self.best_epoch as f64),
                ("restore_best".into(), f64::from(u8::from(self.restore_best))),
            ],
            tensors: best.map(|(t, name)| (format!("best/{name}"), t.clone())).collect(),
        })
    }
    fn set_state(&mut self, state: CallbackState<F>, store: &ParamStore<F>) -> Result<(), String> {
        if state.number("restore_best")? != f64::from(u8::from(self.restore_best)) {
            return Err("EarlyStopping: restore_best_weights differs from the checkpoint's".into());
        }
        let (best, wait, best_epoch) = (
            state.number("best")?,
            state.number("wait")?,
            state.number("best_epoch")?,
        );
        let best_weights = if state.tensors.is_empty() {
            None
        } else {
            Some(weights_by_name(state.tensors, "best/", store)?)
        };
        (self.best, self.wait, self.best_epoch) = (best, count(wait)?, count(best_epoch)?);
        self.best_weights = best_weights;
        Ok(())
    }
}

/// A count saved as a number: a whole number that fits `usize`.
fn count(v: f64) -> Result<usize, String> {
    if v >= 0.0 && v.fract() == 0.0 && v < 2f64.powi(53) {
        Ok(v as usize)
    } else {
        Err(format!("{v} is not a count"))
    }
}

/// One tensor per parameter of `store`, in its order, from `tensors` named `{prefix}{name}`
/// with the parameter's shape; none left over.
fn weights_by_name<F: Float>(
    mut tensors: Vec<(String, Tensor<F>)>,
    prefix: &str,
    store: &ParamStore<F>,
) -> Result<Vec<Tensor<F>>, String> {
    let mut values = Vec::with_capacity(store.len());
    for (_, name, current) in store.iter() {
        let key = format!("{prefix}{name}");
        let at = tensors.iter().position(|(n, _)| *n == key);
        let t = at
            .map(|i| tensors.swap_remove(i).1)
            .ok_or(format!("no tensor '{key}'"))?;
        if t.shape() != current.shape() {
            return Err(format!(
                "tensor '{key}' has shape {:?}, the parameter has {:?}",
                t.shape(),
                current.shape()
            ));
        }
        values.push(t);
    }
    match tensors.first() {
        Some((extra, _)) => Err(format!("tensor '{extra}' is for no parameter of the model")),
        None => Ok(values),
    }
}

/// Writes the weights to `path` (safetensors, atomically): every `every` epochs, or, with
/// [`Checkpoint::best_only`], whenever the monitored loss improves, as Keras' `ModelCheckpoint`
/// with `save_weights_only`. With [`Checkpoint::resumable`] it writes a training checkpoint
/// instead, which [`FitOptions::resume_from`](crate::FitOptions::resume_from) continues.
pub struct Checkpoint {
    path: PathBuf,
    every: usize,
    best_only: Option<Monitor>,
    best: f64,
    resumable: bool,
    due: bool,
    /// Epochs at which this callback wrote its file during this call to `fit`.
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
            resumable: false,
            due: false,
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
    /// Writes the whole training state instead of the weights alone, what a PyTorch user
    /// saves as `{model, optimizer, epoch}` and more: the weights, the optimizer's state and
    /// learning rate, the epoch, the shuffling's progress, the schedule's and
    /// reduce-on-plateau's progress, the history so far and the state of every callback
    /// (early stopping's best value, wait count and best weights; this checkpoint's best).
    /// One safetensors file, written atomically once all callbacks have seen the epoch: the
    /// weights are tensors `weights/{name}` that any safetensors reader opens. Resume with
    /// [`FitOptions::resume_from`](crate::FitOptions::resume_from).
    ///
    /// ```
    /// use borel::prelude::*;
    /// let path = std::env::temp_dir().join("borel_doc_resumable.ckpt");
    /// let opts = FitOptions::<f32>::new().epochs(1000).callback(Checkpoint::every(&path, 10).resumable());
    /// // after a crash: the same options, plus
    /// let opts = if path.exists() { opts.resume_from(&path) } else { opts };
    /// # let _ = opts;
    /// ```
    pub fn resumable(mut self) -> Self {
        self.resumable = true;
        self
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
        if save && self.resumable {
            self.due = true;
        } else if save {
            store.save(&self.path, Layout::Borel)?;
        }
        if save {
            self.saved_at.push(log.epoch);
        }
        Ok(Control::Continue)
    }
    fn state(&self, _store: &ParamStore<F>) -> Option<CallbackState<F>> {
        Some(CallbackState {
            kind: "Checkpoint".into(),
            numbers: vec![("best".into(), self.best)],
            tensors: vec![],
        })
    }
    fn set_state(&mut self, state: CallbackState<F>, _store: &ParamStore<F>) -> Result<(), String> {
        self.best = state.number("best")?;
        Ok(())
    }
    fn training_checkpoint_due(&mut self) -> Option<PathBuf> {
        std::mem::take(&mut self.due).then(|| self.path.clone())
    }
    fn root_only(&self) -> bool {
        true
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
