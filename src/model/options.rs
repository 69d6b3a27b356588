//! What `fit` is told ([`FitOptions`]), what it reports ([`History`]) and how it fails
//! ([`FitError`]).

use std::path::PathBuf;

use borel_autograd::{Float, Tensor};
use borel_nn::FileError;
use borel_optim::schedule::{ReduceOnPlateau, Schedule};

use crate::callbacks::Callback;
use crate::model::peers::{Peers, World};
use crate::model::resume::ResumeError;

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
    /// `validation_split` leaves no sample for training or none for validation.
    #[error(
        "validation_split {fraction} of {samples} samples leaves {train} for training and {validation} for validation; each needs at least 1"
    )]
    EmptySplit {
        /// The fraction asked for.
        fraction: f64,
        /// Samples in x.
        samples: usize,
        /// Samples left for training.
        train: usize,
        /// Samples held out for validation.
        validation: usize,
    },
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
    #[error(
        "y has samples of shape {target:?} but the model outputs {output:?}{}",
        reshape_hint(target, output)
    )]
    TargetShape {
        /// One sample of y.
        target: Vec<usize>,
        /// One sample of the output.
        output: Vec<usize>,
    },
    /// Class labels that do not fit the model's output (not whole numbers, out of range, or
    /// a count that differs from the rows).
    #[error("y: {0}")]
    Labels(String),
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
    /// A gradient, or a parameter after the update, became NaN or infinite; the parameters
    /// are those before the failing step.
    #[error(
        "the {what} of parameter '{param}' became non-finite at epoch {epoch}, batch {batch}; parameters are kept from the step before"
    )]
    NonFiniteParam {
        /// "gradient" or "value".
        what: &'static str,
        /// The parameter's name.
        param: String,
        /// 1-based epoch.
        epoch: usize,
        /// 1-based batch within the epoch.
        batch: usize,
    },
    /// With NaN tracing on (`BOREL_DEBUG_NANS=1`), the first op that made a NaN or an
    /// infinity, with its shapes and the line that called it; the parameters are those
    /// before the failing step.
    #[error("at epoch {epoch}, batch {batch}: {report}; parameters are kept from the step before")]
    NonFiniteOp {
        /// The op, its shapes and its call site.
        report: borel_autograd::NonFiniteOp,
        /// 1-based epoch.
        epoch: usize,
        /// 1-based batch within the epoch.
        batch: usize,
    },
    /// A learning-rate schedule or reduce-on-plateau gave a rate that is negative or not
    /// finite; the parameters are those of the last step, taken at the rate before.
    #[error(
        "the {from} gave learning rate {rate} for epoch {epoch}; a rate must be finite and >= 0 (parameters are kept from the last step)"
    )]
    BadRate {
        /// "schedule" or "reduce_on_plateau".
        from: &'static str,
        /// 1-based epoch the rate was for.
        epoch: usize,
        /// The rate given.
        rate: f64,
    },
    /// [`FitOptions::resume_from`] named a file that is not a training checkpoint of this
    /// model, its optimizer and this run; the model is unchanged.
    #[error(transparent)]
    Resume(#[from] ResumeError),
    /// `fit` before `compile`.
    #[error("the model is not compiled: call compile(loss, optimizer) first")]
    NotCompiled,
    /// An invalid option.
    #[error("invalid option: {0}")]
    BadOption(String),
    /// A checkpoint could not be written.
    #[error(transparent)]
    Weights(#[from] FileError),
    /// A TensorBoard log could not be written.
    #[error(transparent)]
    Summary(#[from] crate::tensorboard::SummaryError),
    /// In a data-parallel fit, the ranks built different models (returned on every rank).
    #[cfg(feature = "mpi")]
    #[error(transparent)]
    Distributed(borel_distributed::SyncError),
}

/// Options of [`crate::Model::fit`], with Keras' defaults, set by name.
///
/// ```
/// use borel::FitOptions;
/// let opts = FitOptions::<f32>::new().epochs(100).batch_size(64).validation_split(0.2).seed(7);
/// # let _ = opts;
/// ```
pub struct FitOptions<F: Float> {
    pub(crate) batch_size: usize,
    pub(crate) epochs: usize,
    pub(crate) shuffle: bool,
    pub(crate) seed: u64,
    pub(crate) validation_split: f64,
    pub(crate) validation_data: Option<(Tensor<F>, Tensor<F>)>,
    pub(crate) verbose: u8,
    pub(crate) callbacks: Vec<Box<dyn Callback<F>>>,
    pub(crate) schedule: Option<Box<dyn Schedule>>,
    pub(crate) reduce_on_plateau: Option<ReduceOnPlateau>,
    pub(crate) resume_from: Option<PathBuf>,
    pub(crate) world: Option<World>,
    pub(crate) capture: bool,
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
            resume_from: None,
            world: None,
            capture: true,
        }
    }
}

impl<F: Float> FitOptions<F> {
    /// With `verbose(1)` and more epochs than this, one bar spans the whole run.
    pub const ONE_BAR_ABOVE: usize = 20;

    /// Keras' defaults: 1 epoch, batches of 32, shuffled, no validation, silent.
    pub fn new() -> Self {
        Self::default()
    }
    /// Passes over the data (default 1).
    pub fn epochs(mut self, n: usize) -> Self {
        self.epochs = n;
        self
    }
    /// Replay captured steps (default true): the step is recorded once per batch shape and
    /// replayed on later batches, with the same History and weights, bit for bit, as the
    /// eager loop. A step that cannot be captured (dropout, batch norm in training, a label
    /// lookup, tracked accuracy, NaN tracing) runs eagerly without being asked; `false` runs
    /// every step eagerly.
    ///
    /// ```
    /// use borel::FitOptions;
    /// let eager = FitOptions::<f32>::new().capture(false);
    /// # let _ = eager;
    /// ```
    pub fn capture(mut self, on: bool) -> Self {
        self.capture = on;
        self
    }
    /// Samples per gradient step; the last batch of an epoch may be smaller (default 32).
    pub fn batch_size(mut self, n: usize) -> Self {
        self.batch_size = n;
        self
    }
    /// Reshuffle the samples every epoch (default true).
    pub fn shuffle(mut self, on: bool) -> Self {
        self.shuffle = on;
        self
    }
    /// Seed of the shuffling and of dropout (default 0): the batches are exactly those of
    /// `DataLoader::new(&x, &y, batch_size).shuffle(seed)`, epoch after epoch.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
    /// Fraction of the samples, taken from the end before shuffling, held out for validation.
    pub fn validation_split(mut self, fraction: f64) -> Self {
        self.validation_split = fraction;
        self
    }
    /// Explicit validation data (overrides `validation_split`).
    pub fn validation_data(mut self, x: Tensor<F>, y: Tensor<F>) -> Self {
        self.validation_data = Some((x, y));
        self
    }
    /// 0 silent (default); 1 a progress bar per epoch, or one bar over all epochs when there
    /// are more than [`FitOptions::ONE_BAR_ABOVE`]; 2 one line per epoch.
    pub fn verbose(mut self, level: u8) -> Self {
        self.verbose = level;
        self
    }
    /// Adds a callback, called at the end of every epoch.
    pub fn callback(mut self, c: impl Callback<F> + 'static) -> Self {
        self.callbacks.push(Box::new(c));
        self
    }
    /// A learning-rate schedule, applied at the start of each epoch to the rate the optimizer
    /// had when `fit` began (epoch index from 0).
    pub fn schedule(mut self, s: impl Schedule + 'static) -> Self {
        self.schedule = Some(Box::new(s));
        self
    }
    /// Reduce the rate when the validation loss (or, without validation data, the training
    /// loss) stops improving. Its reductions multiply whatever `schedule` gives.
    pub fn reduce_on_plateau(mut self, r: ReduceOnPlateau) -> Self {
        self.reduce_on_plateau = Some(r);
        self
    }

    /// Continues the run saved in a training checkpoint (written by
    /// [`Checkpoint::resumable`](crate::callbacks::Checkpoint::resumable)) exactly where it
    /// stopped: the weights, the optimizer's state and learning rate, the epoch, the
    /// shuffling, the schedule's and reduce-on-plateau's progress, the history so far and
    /// the callbacks' state (early stopping's best and wait) come from the file, so the
    /// resumed run ends bit for bit as the uninterrupted one would have (the epochs'
    /// `seconds` aside). `epochs` counts from the run's start, as Keras' `initial_epoch`:
    /// `epochs(100)` resumed at epoch 60 trains 40 more.
    ///
    /// The checkpoint must fit: the model's parameters (names and shapes), the optimizer's
    /// type, the number of training samples, `batch_size`, `shuffle`, `seed`, whether
    /// reduce-on-plateau is used, and the kinds of the callbacks that keep state, in order.
    /// Otherwise `fit` returns [`FitError::Resume`] naming what differs and changes nothing.
    /// A missing file is an error too: check that it exists to start afresh.
    ///
    /// ```
    /// use borel::prelude::*;
    /// let path = std::env::temp_dir().join("borel_doc_resume.ckpt");
    /// let (x, y) = (Tensor::<f32>::ones(&[8, 2]), Tensor::<f32>::zeros(&[8, 1]));
    /// let model = || {
    ///     let mut store = ParamStore::new();
    ///     let net = Sequential::new().add(Dense::new(1).input_dim(2)).build(&mut store, 0);
    ///     let mut m = Model::new(net, store);
    ///     m.compile(Loss::Mse, Adam::new(0.1));
    ///     m
    /// };
    /// let opts = || FitOptions::new().batch_size(4).callback(Checkpoint::every(&path, 1).resumable());
    /// let mut whole = model();
    /// let full = whole.fit(&x, &y, opts().epochs(6)).unwrap();
    /// let mut first = model();
    /// first.fit(&x, &y, opts().epochs(4)).unwrap(); // as if killed after epoch 4
    /// let mut resumed = model();
    /// let rest = resumed.fit(&x, &y, opts().epochs(6).resume_from(&path)).unwrap();
    /// assert_eq!(rest.loss(), full.loss());
    /// assert_eq!(resumed.store().snapshot(), whole.store().snapshot());
    /// ```
    pub fn resume_from(mut self, path: impl Into<PathBuf>) -> Self {
        self.resume_from = Some(path.into());
        self
    }

    /// Trains data-parallel on the ranks of `world` (feature `mpi`; run under `mpirun`), as
    /// PyTorch's DistributedDataParallel with a `DistributedSampler` does. Every rank calls
    /// `fit` with the same model, data and options: `fit` checks that the ranks built the
    /// same model and gives them rank 0's weights, each rank trains on its share of every
    /// epoch ([`DataLoader::shard`](crate::data::DataLoader::shard)) with `batch_size` rows
    /// per step (a global batch of `batch_size x ranks`), and the gradients are averaged over
    /// the ranks before every update, so the ranks stay identical and train as one process
    /// would with the global batch.
    ///
    /// The [`History`] holds the losses and metrics averaged over all ranks' samples, the same
    /// on every rank; validation runs on every rank over the whole validation data. Only rank
    /// 0 shows progress, prints and runs the callbacks that write files
    /// ([`Checkpoint`](crate::callbacks::Checkpoint), the TensorBoard callback); early
    /// stopping runs everywhere and rank 0's decision to stop is every rank's.
    /// [`FitOptions::resume_from`] works as on one process: every rank reads the checkpoint
    /// (put it where every rank can read it). An error on one rank during training (a loss
    /// that became NaN on its share, a checkpoint that cannot be written) ends every rank of
    /// the job with the message on stderr, since the others would wait for it forever.
    ///
    /// ```no_run
    /// use borel::prelude::*;
    /// let world = World::init().unwrap();
    /// let mut store = ParamStore::<f32>::new();
    /// let net = Sequential::new().add(Dense::new(1).input_dim(2)).build(&mut store, 0);
    /// let mut model = Model::new(net, store);
    /// model.compile(Loss::Mse, Adam::new(0.01));
    /// let (x, y) = (Tensor::ones(&[64, 2]), Tensor::zeros(&[64, 1]));
    /// let history = model.fit(&x, &y, FitOptions::new().batch_size(16).distributed(&world)).unwrap();
    /// ```
    #[cfg(feature = "mpi")]
    pub fn distributed(mut self, world: &borel_distributed::World) -> Self {
        self.world = Some(world.clone());
        self
    }

    /// The ranks this fit trains with.
    pub(crate) fn peers(&self) -> Peers<'_> {
        Peers {
            world: self.world.as_ref(),
        }
    }

    pub(crate) fn check(&self) -> Result<(), FitError> {
        if self.batch_size == 0 {
            return Err(FitError::ZeroBatch);
        }
        if !(0.0..1.0).contains(&self.validation_split) {
            return Err(FitError::BadOption(format!(
                "validation_split {} is outside [0, 1)",
                self.validation_split
            )));
        }
        Ok(())
    }
}

/// One epoch's metrics.
#[derive(Clone, Debug, PartialEq)]
pub struct EpochLog {
    /// 1-based epoch.
    pub epoch: usize,
    /// Mean training loss over the epoch's samples: the sum over batches of (batch mean loss
    /// x batch size), in f64, divided by the number of samples.
    pub loss: f64,
    /// The learning rate of the epoch's steps (after the schedule; a reduction on plateau
    /// at this epoch's end shows from the next epoch).
    pub lr: f64,
    /// Fraction of training samples classified correctly, when accuracy was asked for.
    pub accuracy: Option<f64>,
    /// Validation loss at the end of the epoch, when there is validation data.
    pub val_loss: Option<f64>,
    /// Validation accuracy, when asked for and there is validation data.
    pub val_accuracy: Option<f64>,
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

/// What [`crate::Model::evaluate`] measures.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scores {
    /// The compiled loss, mean over samples.
    pub loss: f64,
    /// Fraction of samples classified correctly, when accuracy was asked for.
    pub accuracy: Option<f64>,
}

/// What to do when targets lack the output's trailing axes (`[n]` for an `[n, 1]` output).
fn reshape_hint(target: &[usize], output: &[usize]) -> String {
    let same_count = target.iter().product::<usize>() == output.iter().product::<usize>();
    if same_count && target.len() < output.len() {
        let dims: Vec<String> = output.iter().map(usize::to_string).collect();
        format!(
            ": reshape y to [n, {}] (y.reshape(&[n, {}]))",
            dims.join(", "),
            dims.join(", ")
        )
    } else {
        String::new()
    }
}
