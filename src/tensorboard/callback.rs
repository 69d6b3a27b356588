//! [`TensorBoard`]: the callback that logs `fit` as Keras' `keras.callbacks.TensorBoard` does.

use std::path::{Path, PathBuf};

use borel_autograd::Float;
use borel_nn::ParamStore;

use super::{SummaryError, SummaryWriter};
use crate::callbacks::{Callback, Control};
use crate::model::{EpochLog, FitError};

/// Logs every epoch of `fit` for TensorBoard, with Keras 3's layout and tags: in
/// `log_dir/train`, `epoch_loss`, `epoch_accuracy` (when [`crate::Metric::Accuracy`] is
/// tracked) and `epoch_learning_rate`; in `log_dir/validation` (when there is validation
/// data), `epoch_loss` and `epoch_accuracy`. So TensorBoard draws training and validation as
/// two runs on one chart. As in Keras the step is the epoch counted from 0 (Borel's
/// [`EpochLog::epoch`] counts from 1), so Borel and Keras runs line up.
///
/// With [`TensorBoard::histogram_freq`], every n-th epoch (from the first) also writes a
/// histogram of each parameter to `train`, tagged `{name}/histogram` (e.g.
/// `0.kernel/histogram`), as Keras does.
///
/// The event files are created at the first epoch's end and flushed at every epoch's end,
/// so a running TensorBoard follows the fit.
///
/// ```
/// use borel::prelude::*;
/// # let dir = tempfile::tempdir().unwrap();
/// # let logs = dir.path().join("logs");
/// let mut store = ParamStore::<f32>::new();
/// let net = Sequential::new().add(Dense::new(8).activation(Activation::Tanh).input_dim(1)).add(Dense::new(1)).build(&mut store, 0);
/// let mut model = Model::new(net, store);
/// model.compile(Loss::Mse, Adam::new(0.01));
/// let x = Tensor::from_fn(&[64, 1], |i| i as f32 / 32.0 - 1.0);
/// let y = x.map(|v| v * v);
/// let options = FitOptions::new()
///     .epochs(10)
///     .validation_split(0.25)
///     .callback(TensorBoard::new(&logs).histogram_freq(5));
/// model.fit(&x, &y, options)?;
/// assert!(logs.join("train").is_dir() && logs.join("validation").is_dir());
/// # Ok::<(), FitError>(())
/// ```
pub struct TensorBoard {
    log_dir: PathBuf,
    histogram_freq: usize,
    train: Option<SummaryWriter>,
    validation: Option<SummaryWriter>,
}

impl TensorBoard {
    /// Logs into `log_dir` (Keras' default is `"logs"`); no file is made before the first
    /// epoch ends.
    ///
    /// ```
    /// let callback = borel::tensorboard::TensorBoard::new("logs/fit");
    /// # let _ = callback;
    /// ```
    pub fn new(log_dir: impl AsRef<Path>) -> Self {
        TensorBoard {
            log_dir: log_dir.as_ref().to_path_buf(),
            histogram_freq: 0,
            train: None,
            validation: None,
        }
    }

    /// Writes the parameters' histograms every `every` epochs (0, the default: never), at
    /// steps 0, `every`, `2 * every`, ... as Keras' `histogram_freq`.
    ///
    /// ```
    /// let callback = borel::tensorboard::TensorBoard::new("logs/fit").histogram_freq(1);
    /// # let _ = callback;
    /// ```
    pub fn histogram_freq(mut self, every: usize) -> Self {
        self.histogram_freq = every;
        self
    }

    fn writer<'a>(slot: &'a mut Option<SummaryWriter>, dir: &Path) -> Result<&'a mut SummaryWriter, SummaryError> {
        if slot.is_none() {
            *slot = Some(SummaryWriter::new(dir)?);
        }
        Ok(slot.as_mut().expect("just opened"))
    }

    fn log_histograms<F: Float>(&mut self, step: usize, store: &ParamStore<F>) -> Result<(), SummaryError> {
        let train = Self::writer(&mut self.train, &self.log_dir.join("train"))?;
        for (_, name, value) in store.iter() {
            train.histogram(&format!("{name}/histogram"), step, value.data())?;
        }
        Ok(())
    }
}

/// The metrics Keras writes for one side (train or validation) of an epoch.
fn write_metrics(
    writer: &mut SummaryWriter,
    step: usize,
    loss: f64,
    accuracy: Option<f64>,
) -> Result<(), SummaryError> {
    writer.scalar("epoch_loss", step, loss)?;
    if let Some(accuracy) = accuracy {
        writer.scalar("epoch_accuracy", step, accuracy)?;
    }
    Ok(())
}

impl<F: Float> Callback<F> for TensorBoard {
    fn on_epoch_end(&mut self, log: &EpochLog, store: &mut ParamStore<F>) -> Result<Control, FitError> {
        let step = log.epoch - 1;
        let train = Self::writer(&mut self.train, &self.log_dir.join("train"))?;
        write_metrics(train, step, log.loss, log.accuracy)?;
        train.scalar("epoch_learning_rate", step, log.lr)?;
        if self.histogram_freq > 0 && step % self.histogram_freq == 0 {
            self.log_histograms(step, store)?;
        }
        if let Some(val_loss) = log.val_loss {
            let validation = Self::writer(&mut self.validation, &self.log_dir.join("validation"))?;
            write_metrics(validation, step, val_loss, log.val_accuracy)?;
            validation.flush()?;
        }
        if let Some(train) = &mut self.train {
            train.flush()?;
        }
        Ok(Control::Continue)
    }

    fn on_train_end(&mut self, _store: &mut ParamStore<F>) -> Result<(), FitError> {
        for writer in [&mut self.train, &mut self.validation].into_iter().flatten() {
            writer.flush()?;
        }
        Ok(())
    }

    fn root_only(&self) -> bool {
        true
    }
}
