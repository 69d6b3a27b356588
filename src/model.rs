//! A Keras-style [`Model`]: `compile`, `fit`, `evaluate`, `predict`.

use std::time::Instant;

use borel_autograd::{Float, Tape, Tensor};
use borel_nn::{Ctx, Layout, Loss, Module, ParamStore, Reduction, WeightsError};
use borel_optim::schedule::{ReduceOnPlateau, Schedule};
use borel_optim::{Optimizer, Param};
use indicatif::{ProgressBar, ProgressStyle};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use crate::callbacks::{Callback, Control};
use crate::data::{split_last, take_rows};

/// What can go wrong in `fit`, `evaluate` and `predict`: all of it comes from the data or the
/// training run, so it is returned, never panicked.
#[derive(Debug, thiserror::Error)]
pub enum FitError {
    /// `x` and `y` disagree on the number of samples.
    #[error("x has {x_rows} samples but y has {y_rows}")]
    RowMismatch {
        /// Samples in x.
        x_rows: usize,
        /// Samples in y.
        y_rows: usize,
    },
    /// There is nothing to train on.
    #[error("the dataset is empty{0}")]
    Empty(&'static str),
    /// A batch size of zero.
    #[error("batch size must be at least 1")]
    ZeroBatch,
    /// The data's feature count differs from the model's input.
    #[error("x has shape {shape:?}; the model needs [n, {expected}]")]
    BadShape {
        /// The shape of x.
        shape: Vec<usize>,
        /// Features the model expects.
        expected: usize,
    },
    /// The targets' shape differs from the model's output (it would silently broadcast).
    #[error("y has samples of shape {target:?} but the model outputs {output:?}")]
    TargetShape {
        /// One sample of y.
        target: Vec<usize>,
        /// One sample of the output.
        output: Vec<usize>,
    },
    /// The data holds NaN or infinity.
    #[error("{which} holds a non-finite value at sample {row}")]
    NonFiniteData {
        /// "x" or "y".
        which: &'static str,
        /// The sample.
        row: usize,
    },
    /// The loss became NaN or infinite; the parameters are those before the failing step.
    #[error("the loss became {loss} at epoch {epoch}, batch {batch}; parameters are kept from the step before")]
    NonFiniteLoss {
        /// 1-based epoch.
        epoch: usize,
        /// 1-based batch within the epoch.
        batch: usize,
        /// The loss value.
        loss: f64,
    },
    /// `fit` before `compile`.
    #[error("the model is not compiled: call compile(loss, optimizer) first")]
    NotCompiled,
    /// An invalid option.
    #[error("invalid option: {0}")]
    BadOption(String),
    /// A checkpoint could not be written.
    #[error(transparent)]
    Weights(#[from] WeightsError),
}

/// Options of [`Model::fit`], with Keras' defaults.
pub struct FitOptions<F: Float> {
    /// Samples per gradient step; the last batch of an epoch may be smaller (default 32).
    pub batch_size: usize,
    /// Passes over the data (default 1).
    pub epochs: usize,
    /// Reshuffle the samples every epoch (default true).
    pub shuffle: bool,
    /// Seed of the shuffling and of dropout.
    pub seed: u64,
    /// Fraction of the samples, taken from the end before shuffling, held out for validation.
    pub validation_split: f64,
    /// Explicit validation data (overrides `validation_split`).
    pub validation_data: Option<(Tensor<F>, Tensor<F>)>,
    /// 0 silent; 1 a progress bar per epoch, or one bar over all epochs when there are more
    /// than [`FitOptions::ONE_BAR_ABOVE`]; 2 one line per epoch.
    pub verbose: u8,
    /// Called at the end of every epoch.
    pub callbacks: Vec<Box<dyn Callback<F>>>,
    /// A learning-rate schedule, applied at the start of each epoch to the rate the
    /// optimizer had when `fit` began (epoch index from 0).
    pub schedule: Option<Box<dyn Schedule>>,
    /// Reduce the rate when the validation loss (or, without validation data, the training
    /// loss) stops improving; applied at the end of each epoch, after `schedule`.
    pub reduce_on_plateau: Option<ReduceOnPlateau>,
}

impl<F: Float> Default for FitOptions<F> {
    fn default() -> Self {
        FitOptions {
            batch_size: 32,
            epochs: 1,
            shuffle: true,
            seed: 0,
            validation_split: 0.0,
            validation_data: None,
            verbose: 0,
            callbacks: Vec::new(),
            schedule: None,
            reduce_on_plateau: None,
        }
    }
}

impl<F: Float> FitOptions<F> {
    /// With `verbose = 1` and more epochs than this, one bar spans the whole run.
    pub const ONE_BAR_ABOVE: usize = 20;

    /// `epochs` epochs of batches of `batch_size`, other options at their defaults.
    pub fn new(epochs: usize, batch_size: usize) -> Self {
        FitOptions {
            epochs,
            batch_size,
            ..Self::default()
        }
    }
    /// Adds a callback.
    pub fn callback(mut self, c: impl Callback<F> + 'static) -> Self {
        self.callbacks.push(Box::new(c));
        self
    }
}

/// One epoch's metrics.
#[derive(Clone, Debug, PartialEq)]
pub struct EpochLog {
    /// 1-based epoch.
    pub epoch: usize,
    /// Mean training loss over the epoch's samples (batch losses weighted by batch size).
    pub loss: f64,
    /// Validation loss at the end of the epoch, when there is validation data.
    pub val_loss: Option<f64>,
    /// Seconds the epoch took.
    pub seconds: f64,
}

/// What `fit` returns: one [`EpochLog`] per epoch run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    /// The epochs, in order.
    pub epochs: Vec<EpochLog>,
    /// Whether a callback stopped training before the last epoch.
    pub stopped_early: bool,
}

impl History {
    /// The training loss of every epoch.
    pub fn loss(&self) -> Vec<f64> {
        self.epochs.iter().map(|e| e.loss).collect()
    }
    /// The validation loss of every epoch (where there was validation data).
    pub fn val_loss(&self) -> Vec<f64> {
        self.epochs.iter().filter_map(|e| e.val_loss).collect()
    }
}

/// A module with its parameters, a loss and an optimizer, trained like a Keras model.
///
/// ```
/// use borel::prelude::*;
/// let mut store = ParamStore::<f32>::new();
/// let net = Sequential::new().add(Dense::new(8).activation("tanh").input_dim(1)).add(Dense::new(1)).build(&mut store, 0);
/// let mut model = Model::new(net, store);
/// model.compile(Loss::Mse, Adam::new(0.01));
/// let x = Tensor::from_fn(&[64, 1], |i| i as f32 / 32.0 - 1.0);
/// let y = x.map(|v| v * v);
/// let history = model.fit(&x, &y, FitOptions::new(200, 16)).unwrap();
/// assert!(history.loss().last().unwrap() < &history.loss()[0]);
/// let y_hat = model.predict(&x).unwrap();
/// assert_eq!(y_hat.shape(), &[64, 1]);
/// ```
pub struct Model<F: Float, M: Module<F>> {
    module: M,
    store: ParamStore<F>,
    loss: Option<Loss>,
    optimizer: Option<Box<dyn Optimizer<F>>>,
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
        if let Some(i) = t.data().iter().position(|v| !v.is_finite_()) {
            return Err(FitError::NonFiniteData {
                which,
                row: i / w.max(1),
            });
        }
    }
    Ok(())
}

impl<F: Float, M: Module<F>> Model<F, M> {
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

    /// Wraps a module and the store holding its parameters.
    pub fn new(module: M, store: ParamStore<F>) -> Self {
        Model {
            module,
            store,
            loss: None,
            optimizer: None,
        }
    }

    /// Sets the loss and the optimizer (Keras' `compile`).
    pub fn compile(&mut self, loss: Loss, optimizer: impl Optimizer<F> + 'static) {
        self.loss = Some(loss);
        self.optimizer = Some(Box::new(optimizer));
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
    pub fn save_weights(&self, path: impl AsRef<std::path::Path>) -> Result<(), WeightsError> {
        self.store.save(path, Layout::Borel)
    }

    /// Reads weights written by [`Model::save_weights`]; on error the model is unchanged.
    pub fn load_weights(&mut self, path: impl AsRef<std::path::Path>) -> Result<(), WeightsError> {
        self.store.load(path, Layout::Borel)
    }

    /// The model's output on `x` in inference mode (dropout off), in batches of 1024.
    pub fn predict(&self, x: &Tensor<F>) -> Result<Tensor<F>, FitError> {
        check_data(x, x)?;
        self.check_width(x)?;
        let n = x.shape()[0];
        let mut out: Vec<F> = Vec::new();
        let mut tape = Tape::new();
        let mut shape = Vec::new();
        for start in (0..n).step_by(1024) {
            let rows: Vec<usize> = (start..(start + 1024).min(n)).collect();
            let xb = take_rows(x, &rows);
            {
                let cx = Ctx::new(&tape, &self.store, false);
                let y = tape.no_grad(|| self.module.forward(&cx, tape.constant(xb))).value();
                shape = y.shape().to_vec();
                out.extend_from_slice(y.data());
            }
            tape.reset();
        }
        shape[0] = n;
        Ok(Tensor::from_vec(out, &shape))
    }

    /// The compiled loss (mean over samples) of the model on `(x, y)`, in inference mode.
    pub fn evaluate(&self, x: &Tensor<F>, y: &Tensor<F>) -> Result<f64, FitError> {
        let loss = self.loss.ok_or(FitError::NotCompiled)?;
        check_data(x, y)?;
        let pred = self.predict(x)?;
        if pred.shape() != y.shape() {
            return Err(FitError::TargetShape {
                target: y.shape()[1..].to_vec(),
                output: pred.shape()[1..].to_vec(),
            });
        }
        let tape = Tape::new();
        Ok(loss
            .compute(tape.constant(pred), tape.constant(y.clone()), Reduction::Mean)
            .item()
            .to_f64())
    }

    /// Trains on `(x, y)` (samples along the first dim) as Keras' `fit` does: shuffled batches
    /// each epoch, the last batch smaller when the size does not divide, a [`History`] back.
    pub fn fit(&mut self, x: &Tensor<F>, y: &Tensor<F>, mut opts: FitOptions<F>) -> Result<History, FitError> {
        let loss_fn = self.loss.ok_or(FitError::NotCompiled)?;
        if opts.batch_size == 0 {
            return Err(FitError::ZeroBatch);
        }
        if !(0.0..1.0).contains(&opts.validation_split) {
            return Err(FitError::BadOption(format!(
                "validation_split {} is outside [0, 1)",
                opts.validation_split
            )));
        }
        check_data(x, y)?;
        self.check_width(x)?;
        let (train, val) = match opts.validation_data.take() {
            Some((vx, vy)) => {
                check_data(&vx, &vy)?;
                self.check_width(&vx)?;
                ((x.clone(), y.clone()), Some((vx, vy)))
            }
            None if opts.validation_split > 0.0 => {
                let (t, v) = split_last(x, y, opts.validation_split);
                if t.0.shape()[0] == 0 {
                    return Err(FitError::Empty(" after taking the validation split"));
                }
                (t, Some(v))
            }
            None => ((x.clone(), y.clone()), None),
        };
        let (tx, ty) = train;
        let n = tx.shape()[0];
        let batches = n.div_ceil(opts.batch_size);
        let mut rng = StdRng::seed_from_u64(opts.seed);
        let mut order: Vec<usize> = (0..n).collect();
        let mut history = History::default();
        let mut tape = Tape::new();
        // Few long epochs: a bar per epoch over its batches. Many short ones: one bar over the
        // epochs (Keras' verbose=1 and verbose=2 feel, without a thousand bars).
        let per_epoch = opts.epochs <= FitOptions::<F>::ONE_BAR_ABOVE;
        let bar = (opts.verbose == 1).then(|| {
            let (len, template) = if per_epoch {
                (
                    batches,
                    "Epoch {prefix} {bar:30} {pos}/{len} batches [{elapsed_precise}<{eta_precise}] {msg}",
                )
            } else {
                (
                    opts.epochs,
                    "{bar:30} epoch {pos}/{len} [{elapsed_precise}<{eta_precise}] {msg}",
                )
            };
            let b = ProgressBar::new(len as u64);
            b.set_style(ProgressStyle::with_template(template).expect("valid template"));
            b
        });
        let base_lr = self.optimizer.as_ref().ok_or(FitError::NotCompiled)?.learning_rate();
        for epoch in 1..=opts.epochs {
            if let (Some(s), Some(opt)) = (&opts.schedule, self.optimizer.as_mut()) {
                opt.set_learning_rate(s.lr(epoch - 1, base_lr));
            }
            let started = Instant::now();
            if opts.shuffle {
                order.shuffle(&mut rng);
            }
            if let Some(b) = bar.as_ref().filter(|_| per_epoch) {
                b.reset();
                b.set_prefix(format!("{epoch}/{}", opts.epochs));
            }
            let mut total = 0.0;
            for (bi, rows) in order.chunks(opts.batch_size).enumerate() {
                let (xb, yb) = (take_rows(&tx, rows), take_rows(&ty, rows));
                let (batch_loss, grads) = {
                    let cx = Ctx::with_seed(
                        &tape,
                        &self.store,
                        true,
                        opts.seed.wrapping_add((epoch * batches + bi) as u64),
                    );
                    let pred = self.module.forward(&cx, tape.constant(xb));
                    if pred.shape().as_slice() != yb.shape() {
                        return Err(FitError::TargetShape {
                            target: yb.shape()[1..].to_vec(),
                            output: pred.shape()[1..].to_vec(),
                        });
                    }
                    let l = loss_fn.compute(pred, tape.constant(yb), Reduction::Mean);
                    let value = l.item().to_f64();
                    if !value.is_finite() {
                        return Err(FitError::NonFiniteLoss {
                            epoch,
                            batch: bi + 1,
                            loss: value,
                        });
                    }
                    (value, cx.gradients(&l.backward()))
                };
                tape.reset();
                let opt = self.optimizer.as_mut().ok_or(FitError::NotCompiled)?;
                let mut params: Vec<Param<'_, F>> = self
                    .store
                    .iter_mut()
                    .zip(&grads)
                    .filter_map(|((_, name, value), g)| g.as_ref().map(|g| Param::new(name, value, g)))
                    .collect();
                opt.step(&mut params);
                total += batch_loss * rows.len() as f64;
                if let Some(b) = bar.as_ref().filter(|_| per_epoch) {
                    b.inc(1);
                    b.set_message(format!(
                        "loss {:.4}",
                        total / ((bi * opts.batch_size + rows.len()) as f64)
                    ));
                }
            }
            let val_loss = match &val {
                Some((vx, vy)) => Some(self.evaluate(vx, vy)?),
                None => None,
            };
            let log = EpochLog {
                epoch,
                loss: total / n as f64,
                val_loss,
                seconds: started.elapsed().as_secs_f64(),
            };
            if opts.verbose == 2 {
                let v = val_loss.map(|v| format!(" - val_loss: {v:.4}")).unwrap_or_default();
                println!(
                    "Epoch {epoch}/{} - {:.3}s - loss: {:.4}{v}",
                    opts.epochs, log.seconds, log.loss
                );
            }
            if let Some(b) = bar.as_ref().filter(|_| !per_epoch) {
                b.inc(1);
                b.set_message(format!("loss {:.4}", log.loss));
            }
            history.epochs.push(log.clone());
            if let (Some(r), Some(opt)) = (opts.reduce_on_plateau.as_mut(), self.optimizer.as_mut()) {
                let lr = r.observe(val_loss.unwrap_or(log.loss), opt.learning_rate());
                opt.set_learning_rate(lr);
            }
            let mut stop = false;
            for c in opts.callbacks.iter_mut() {
                if c.on_epoch_end(&log, &mut self.store)? == Control::Stop {
                    stop = true;
                }
            }
            if stop {
                history.stopped_early = epoch < opts.epochs;
                break;
            }
        }
        if let Some(b) = &bar {
            b.finish();
        }
        for c in opts.callbacks.iter_mut() {
            c.on_train_end(&mut self.store)?;
        }
        Ok(history)
    }
}
