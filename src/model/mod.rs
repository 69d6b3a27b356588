//! A Keras-style [`Model`]: `compile`, `fit`, `evaluate`, `predict`.

mod options;
mod peers;
mod resume;
mod train;

use borel_autograd::{Float, Tape, Tensor};
use borel_nn::{FileError, ForwardPass, Layout, Loss, Module, ParamStore, WeightFile};
use borel_optim::Optimizer;

use crate::data::take_rows;
pub use options::{EpochLog, FitError, FitOptions, History, Scores};
pub use resume::ResumeError;

/// A metric `fit` and `evaluate` report besides the loss (Keras' `metrics=[...]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    /// Fraction of samples classified correctly: the largest logit against the class label
    /// (sparse cross-entropy) or the largest target (categorical), or the sign of the logit
    /// against a 0/1 target (binary cross-entropy).
    Accuracy,
}

/// [`Model::new`] refused a store that was not built with the module.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the store does not hold the module's parameters: {0}")]
pub struct StoreMismatch(pub String);

/// A module with its parameters, a loss and an optimizer, trained like a Keras model.
///
/// ```
/// use borel::prelude::*;
/// let mut store = ParamStore::<f32>::new();
/// let net = Sequential::new().add(Dense::new(8).activation(Activation::Tanh).input_dim(1)).add(Dense::new(1)).build(&mut store, 0);
/// let mut model = Model::new(net, store);
/// model.compile(Loss::Mse, Adam::new(0.01));
/// let x = Tensor::from_fn(&[64, 1], |i| i as f32 / 32.0 - 1.0);
/// let y = x.map(|v| v * v);
/// let history = model.fit(&x, &y, FitOptions::new().epochs(200).batch_size(16)).unwrap();
/// assert!(history.loss().last().unwrap() < &history.loss()[0]);
/// let y_hat = model.predict(&x).unwrap();
/// assert_eq!(y_hat.shape(), &[64, 1]);
/// ```
pub struct Model<F: Float, M: Module<F>> {
    module: M,
    store: ParamStore<F>,
    loss: Option<Loss>,
    optimizer: Option<Box<dyn Optimizer<F>>>,
    /// The optimizer's type (`Adam`), which a training checkpoint must match.
    optimizer_kind: &'static str,
    accuracy: bool,
    /// The plans of the captured training step, while `fit` replays it (`None`: eager).
    /// Behind a mutex so that a model stays `Sync` (predictions from many threads); `fit`
    /// has `&mut self` and reaches it without locking.
    captured: std::sync::Mutex<Option<borel_nn::CapturedPlans<F>>>,
}

fn check_data<F: Float>(x: &Tensor<F>, y: &Tensor<F>) -> Result<(), FitError> {
    if x.rank() == 0 || y.rank() == 0 {
        return Err(FitError::Empty(" (x or y is a scalar)"));
    }
    let (xr, yr) = (x.shape()[0], y.shape()[0]);
    if xr != yr {
        return Err(FitError::RowMismatch { x_rows: xr, y_rows: yr });
    }
    if xr == 0 {
        return Err(FitError::Empty(""));
    }
    for (which, t) in [("x", x), ("y", y)] {
        let w = t.numel() / t.shape()[0];
        if let Some(i) = t.data().iter().position(|v| !v.is_finite()) {
            return Err(FitError::NonFiniteData {
                which,
                row: i / w.max(1),
            });
        }
    }
    Ok(())
}

/// Refuses targets that do not fit an output of shape `out` under `loss`: class labels for
/// sparse cross-entropy, the output's own shape for every other loss (it would broadcast).
fn check_targets<F: Float>(loss: Loss, out: &[usize], y: &Tensor<F>) -> Result<(), FitError> {
    if loss == Loss::SparseCategoricalCrossEntropy {
        let classes = out.last().copied().unwrap_or(1);
        return borel_nn::loss::class_labels(y, out[0], classes)
            .map(|_| ())
            .map_err(|e| FitError::Labels(e.to_string()));
    }
    if out != y.shape() {
        return Err(FitError::TargetShape {
            target: y.shape()[1..].to_vec(),
            output: out[1..].to_vec(),
        });
    }
    Ok(())
}

/// How many of the rows of `pred` are classified correctly under `loss`, as a fraction of
/// one row each (binary targets with several outputs count per element).
fn correct<F: Float>(loss: Loss, pred: &Tensor<F>, y: &Tensor<F>) -> f64 {
    let labels: Vec<usize> = match loss {
        Loss::SparseCategoricalCrossEntropy => y.data().iter().map(|v| v.to_f64() as usize).collect(),
        Loss::CategoricalCrossEntropy => y.argmax(-1),
        _ => {
            let hits = pred.data().iter().zip(y.data());
            let hits = hits.filter(|(p, t)| (p.to_f64() > 0.0) == (t.to_f64() > 0.5)).count();
            return hits as f64 * pred.shape()[0] as f64 / pred.numel().max(1) as f64;
        }
    };
    pred.argmax(-1).iter().zip(&labels).filter(|(a, b)| a == b).count() as f64
}

impl<F: Float, M: Module<F>> Model<F, M> {
    /// Wraps a module and the store holding its parameters. A store that lacks one of the
    /// module's parameters or holds parameters the module does not use (when the module lists
    /// its parameters, as every built-in module does) is a programming error: it panics at the
    /// caller's line. [`Model::try_new`] returns the refusal instead.
    #[track_caller]
    pub fn new(module: M, store: ParamStore<F>) -> Self {
        match Self::try_new(module, store) {
            Ok(model) => model,
            Err(e) => panic!("Model::new: {e}"),
        }
    }

    /// [`Model::new`] for a store that comes from outside the program: a store that does not
    /// fit the module is returned as an error.
    ///
    /// ```
    /// use borel::prelude::*;
    /// let mut store = ParamStore::<f32>::new();
    /// let net = Sequential::new().add(Dense::new(1).input_dim(2)).build(&mut store, 0);
    /// let other = ParamStore::<f32>::new();
    /// assert!(Model::try_new(net, other).is_err());
    /// ```
    pub fn try_new(module: M, store: ParamStore<F>) -> Result<Self, StoreMismatch> {
        let ids = module.params();
        if let Some(id) = ids.iter().find(|&&id| !store.contains(id)) {
            return Err(StoreMismatch(format!(
                "parameter #{} of the module is not in the store (built with another store?)",
                id.index()
            )));
        }
        if !ids.is_empty() && ids.len() != store.len() {
            return Err(StoreMismatch(format!(
                "the module uses {} parameters, the store holds {}",
                ids.len(),
                store.len()
            )));
        }
        Ok(Model {
            module,
            store,
            loss: None,
            optimizer: None,
            optimizer_kind: "",
            accuracy: false,
            captured: std::sync::Mutex::new(None),
        })
    }

    /// Sets the loss and the optimizer (Keras' `compile`); chain [`Model::metrics`] to report
    /// more than the loss.
    pub fn compile<O: Optimizer<F> + 'static>(&mut self, loss: Loss, optimizer: O) -> &mut Self {
        self.loss = Some(loss);
        self.optimizer = Some(Box::new(optimizer));
        self.optimizer_kind = resume::short_type_name::<O>();
        self
    }

    /// The metrics `fit` and `evaluate` report besides the loss; call it after
    /// [`Model::compile`]. Accuracy needs a classification loss (binary, categorical or sparse
    /// categorical cross-entropy): otherwise, or before `compile`, it panics at the caller's
    /// line (a choice fixed in code).
    #[track_caller]
    pub fn metrics(&mut self, metrics: &[Metric]) -> &mut Self {
        let wants = metrics.contains(&Metric::Accuracy);
        let classifies = matches!(
            self.loss,
            Some(
                Loss::BinaryCrossEntropyWithLogits
                    | Loss::CategoricalCrossEntropy
                    | Loss::SparseCategoricalCrossEntropy
            )
        );
        if wants && !classifies {
            panic!(
                "Model::metrics: accuracy needs a classification loss (BinaryCrossEntropyWithLogits, \
                 CategoricalCrossEntropy or SparseCategoricalCrossEntropy) set by compile first; the model has {:?}",
                self.loss
            );
        }
        self.accuracy = wants;
        self
    }

    /// The module.
    pub fn module(&self) -> &M {
        &self.module
    }

    /// The parameters.
    pub fn store(&self) -> &ParamStore<F> {
        &self.store
    }

    /// The parameters, mutable.
    pub fn store_mut(&mut self) -> &mut ParamStore<F> {
        &mut self.store
    }

    /// The optimizer, once compiled.
    pub fn optimizer(&self) -> Option<&dyn Optimizer<F>> {
        self.optimizer.as_deref()
    }

    /// Writes the weights (safetensors, atomically).
    pub fn save_weights(&self, path: impl AsRef<std::path::Path>) -> Result<(), FileError> {
        self.store.save(path, Layout::Borel)
    }

    /// Reads weights written by [`Model::save_weights`]; on error the model is unchanged.
    pub fn load_weights(&mut self, path: impl AsRef<std::path::Path>) -> Result<(), FileError> {
        self.store.load(path, Layout::Borel)
    }

    /// Refuses inputs whose width differs from what the module takes.
    fn check_width(&self, x: &Tensor<F>) -> Result<(), FitError> {
        match self.module.input_features() {
            Some(expected) if x.rank() != 2 || x.shape()[1] != expected => Err(FitError::BadShape {
                shape: x.shape().to_vec(),
                expected,
            }),
            _ => Ok(()),
        }
    }

    /// Checks `(x, y)` before any training or scoring: finite, as many samples, the module's
    /// width, and targets that fit the output (its shape comes from a pass on one sample),
    /// so every error names a sample of the caller's data.
    #[track_caller]
    fn check_pair(&self, x: &Tensor<F>, y: &Tensor<F>) -> Result<(), FitError> {
        let loss = self.loss.ok_or(FitError::NotCompiled)?;
        check_data(x, y)?;
        self.check_width(x)?;
        let mut out = self.infer(&take_rows(x, &[0]), 1)?.shape().to_vec();
        out[0] = x.shape()[0];
        check_targets(loss, &out, y)
    }

    /// One inference pass, nothing recorded; with NaN tracing on, the first non-finite op is
    /// returned as an error (epoch 0: outside training; `batch`: the chunk of rows).
    #[track_caller]
    fn infer(&self, x: &Tensor<F>, batch: usize) -> Result<Tensor<F>, FitError> {
        let tape = Tape::new();
        tape.keep_first_non_finite();
        tape.set_grad_enabled(false);
        let fw = ForwardPass::eval(&tape, &self.store);
        let y = self.module.forward(&fw, tape.constant(x.clone())).value();
        match tape.take_non_finite() {
            Some(report) => Err(FitError::NonFiniteOp {
                report,
                epoch: 0,
                batch,
            }),
            None => Ok(y),
        }
    }

    /// The model's output on `x` in inference mode (dropout off), in batches of 1024 rows.
    #[track_caller]
    pub fn predict(&self, x: &Tensor<F>) -> Result<Tensor<F>, FitError> {
        check_data(x, x)?;
        self.check_width(x)?;
        let n = x.shape()[0];
        let mut out: Vec<F> = Vec::new();
        let mut shape = Vec::new();
        for start in (0..n).step_by(1024) {
            let rows: Vec<usize> = (start..(start + 1024).min(n)).collect();
            let y = self.infer(&take_rows(x, &rows), start / 1024 + 1)?;
            shape = y.shape().to_vec();
            out.extend_from_slice(y.data());
        }
        shape[0] = n;
        Ok(Tensor::from_vec(out, &shape))
    }

    /// The compiled loss (mean over samples) of the model on `(x, y)` in inference mode, and
    /// the accuracy when [`Model::metrics`] asked for it.
    #[track_caller]
    pub fn evaluate(&self, x: &Tensor<F>, y: &Tensor<F>) -> Result<Scores, FitError> {
        let loss = self.loss.ok_or(FitError::NotCompiled)?;
        self.check_pair(x, y)?;
        let pred = self.predict(x)?;
        let tape = Tape::new();
        let value = loss
            .of(tape.constant(pred.clone()), tape.constant(y.clone()))
            .item()
            .to_f64();
        let accuracy = self.accuracy.then(|| correct(loss, &pred, y) / y.shape()[0] as f64);
        Ok(Scores { loss: value, accuracy })
    }
}
