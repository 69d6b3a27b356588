//! Training checkpoints: what `fit` needs to continue a run exactly where it stopped, in one
//! safetensors file written atomically (a crash leaves the old checkpoint or the new one).
//! Tensors: `weights/{param}`, the optimizer's buffers `optimizer/{param}/{i}` (as optimizer
//! state files name them) and each state-keeping callback's tensors `callback.{k}/{name}`.
//! Metadata (strings; numbers as Rust prints them, the shortest text that reads back to the
//! same bits): the format and version, the dtype, the epoch, the rates, the optimizer's type
//! and step, the loader's drawn epochs, the run's settings, reduce-on-plateau's progress, the
//! history (one line per epoch) and each callback's numbers.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use borel_autograd::io::{self, FileError, TensorFile};
use borel_autograd::{Float, Tensor};
use borel_nn::{Layout, Module, WeightFile};
use borel_optim::{State, StateError};

use super::Model;
use super::options::{EpochLog, FitError, FitOptions, History};
use crate::callbacks::CallbackState;
use crate::data::DataLoader;

const FORMAT: &str = "borel-training-checkpoint";
const VERSION: &str = "1";

/// Where a run stands between two epochs: what `fit`'s loop carries besides the model.
#[derive(Clone, Debug, Default)]
pub(crate) struct RunState {
    /// Epochs completed.
    pub epoch: usize,
    /// The rate the run began with, which schedules scale.
    pub base_lr: f64,
    /// What reduce-on-plateau has taken off so far, as a factor.
    pub plateau_scale: f64,
    /// Whether a callback stopped the run.
    pub stopped: bool,
    /// The epochs so far.
    pub history: History,
}

impl RunState {
    /// A run about to begin at `base_lr`.
    pub fn new(base_lr: f64) -> Self {
        RunState {
            base_lr,
            plateau_scale: 1.0,
            ..RunState::default()
        }
    }
}

/// A training checkpoint that `fit` cannot resume from: each variant says what differs.
/// Nothing of the model changes when `fit` returns one.
#[derive(Debug, thiserror::Error)]
pub enum ResumeError {
    /// The file cannot be read, is not safetensors, or holds another element type.
    #[error("cannot resume: {0}")]
    File(FileError),
    /// A safetensors file that is not a training checkpoint (a weights-only checkpoint, or
    /// a damaged one).
    #[error("{path}: not a training checkpoint: {message}")]
    NotACheckpoint {
        /// The file.
        path: PathBuf,
        /// What is missing or wrong.
        message: String,
    },
    /// The weights do not fit the model: a parameter missing, one too many, or another shape.
    #[error("cannot resume, the weights do not fit the model: {0}")]
    Weights(FileError),
    /// The checkpoint was written with another optimizer.
    #[error("{path}: the checkpoint's optimizer is {checkpoint}, the model is compiled with {model}")]
    Optimizer {
        /// The file.
        path: PathBuf,
        /// The checkpoint's optimizer type.
        checkpoint: String,
        /// The model's optimizer type.
        model: String,
    },
    /// The optimizer's state does not fit the parameters or the optimizer's settings.
    #[error("{}", with_path(path, source))]
    OptimizerState {
        /// The file.
        path: PathBuf,
        /// What does not fit.
        source: StateError,
    },
    /// A setting of the run differs, so it could not continue exactly.
    #[error("{path}: the checkpoint's run has {setting} {checkpoint}, this fit has {given}")]
    Setting {
        /// The file.
        path: PathBuf,
        /// The setting (`batch_size`, `seed`, ...).
        setting: &'static str,
        /// Its value in the checkpoint.
        checkpoint: String,
        /// Its value in this call.
        given: String,
    },
    /// The callbacks keeping state differ from the checkpoint's, or one refused its state.
    #[error("{path}: callbacks: {message}")]
    Callbacks {
        /// The file.
        path: PathBuf,
        /// What differs.
        message: String,
    },
}

/// A state error prefixed with the checkpoint's path, unless it names the file already.
fn with_path(path: &Path, error: &StateError) -> String {
    match error {
        StateError::Mismatch { .. } => format!("{}: {error}", path.display()),
        named => named.to_string(),
    }
}

/// The settings a resumed run must share with the checkpoint's for its batches and rates to
/// be the same, as (name, value): one list, written and checked.
fn settings<F: Float>(opts: &FitOptions<F>, samples: usize) -> [(&'static str, String); 6] {
    [
        ("training_samples", samples.to_string()),
        ("batch_size", opts.batch_size.to_string()),
        ("shuffle", opts.shuffle.to_string()),
        ("seed", opts.seed.to_string()),
        ("schedule", opts.schedule.is_some().to_string()),
        ("reduce_on_plateau", opts.reduce_on_plateau.is_some().to_string()),
    ]
}

/// The last segment of a type's path, without generics: `Adam` for `borel_optim::adam::Adam<f32>`.
pub(crate) fn short_type_name<T: ?Sized>() -> &'static str {
    let full = std::any::type_name::<T>();
    let path = full.split('<').next().unwrap_or(full);
    path.rsplit("::").next().unwrap_or(path)
}

/// An epoch as one line of the history: fields separated by spaces, `-` for none.
fn history_line(e: &EpochLog) -> String {
    let opt = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |v| v.to_string());
    let (acc, val, val_acc) = (opt(e.accuracy), opt(e.val_loss), opt(e.val_accuracy));
    format!("{} {} {} {acc} {val} {val_acc} {}", e.epoch, e.loss, e.lr, e.seconds)
}

/// Reads a line written by [`history_line`].
fn parse_history_line(line: &str) -> Option<EpochLog> {
    let fields: Vec<&str> = line.split(' ').collect();
    let [epoch, loss, lr, accuracy, val_loss, val_accuracy, seconds] = fields.as_slice() else {
        return None;
    };
    let opt = |s: &str| if s == "-" { Some(None) } else { s.parse().ok().map(Some) };
    Some(EpochLog {
        epoch: epoch.parse().ok()?,
        loss: loss.parse().ok()?,
        lr: lr.parse().ok()?,
        accuracy: opt(accuracy)?,
        val_loss: opt(val_loss)?,
        val_accuracy: opt(val_accuracy)?,
        seconds: seconds.parse().ok()?,
    })
}

/// A callback's kind and numbers as one metadata value: `Kind name=value ...`.
#[track_caller]
fn callback_line<F: Float>(state: &CallbackState<F>) -> String {
    let plain = |s: &str| !s.is_empty() && !s.contains(|c: char| c.is_whitespace() || c == '=');
    assert!(
        plain(&state.kind) && state.numbers.iter().all(|(n, _)| plain(n)),
        "Callback::state: kind '{}' and number names {:?} must be non-empty, without spaces or '='",
        state.kind,
        state.numbers.iter().map(|(n, _)| n).collect::<Vec<_>>()
    );
    let numbers = state.numbers.iter().map(|(n, v)| format!(" {n}={v}"));
    numbers.fold(state.kind.clone(), |line, n| line + &n)
}

/// Reads a line written by [`callback_line`]; the tensors are added by the caller.
fn parse_callback_line<F: Float>(line: &str) -> Option<CallbackState<F>> {
    let mut words = line.split(' ');
    let kind = words.next()?.to_string();
    let numbers = words
        .map(|w| {
            let (name, value) = w.split_once('=')?;
            Some((name.to_string(), value.parse().ok()?))
        })
        .collect::<Option<Vec<_>>>()?;
    Some(CallbackState {
        kind,
        numbers,
        tensors: vec![],
    })
}

/// The tensors of `file` whose names start with `prefix`, with the prefix taken off.
fn group<F: Float>(file: &TensorFile<F>, prefix: &str) -> Vec<(String, Tensor<F>)> {
    let strip = |(n, t): &(String, Tensor<F>)| Some((n.strip_prefix(prefix)?.to_string(), t.clone()));
    file.tensors.iter().filter_map(strip).collect()
}

/// A checkpoint's metadata, read with its path for errors.
struct Meta<'f, F: Float> {
    file: &'f TensorFile<F>,
    path: &'f Path,
}

impl<F: Float> Meta<'_, F> {
    fn bad(&self, message: String) -> ResumeError {
        ResumeError::NotACheckpoint {
            path: self.path.into(),
            message,
        }
    }
    fn text(&self, key: &str) -> Result<&str, ResumeError> {
        self.file
            .meta(key)
            .ok_or_else(|| self.bad(format!("no '{key}' in the metadata")))
    }
    fn get<T: FromStr>(&self, key: &str) -> Result<T, ResumeError> {
        let text = self.text(key)?;
        text.parse().map_err(|_| self.bad(format!("'{key}' is '{text}'")))
    }
    /// A learning rate or a factor of one: finite and >= 0.
    fn rate(&self, key: &str) -> Result<f64, ResumeError> {
        let v: f64 = self.get(key)?;
        if v.is_finite() && v >= 0.0 {
            Ok(v)
        } else {
            Err(self.bad(format!("'{key}' is {v}, not a rate")))
        }
    }
}

/// A checkpoint read and checked against the model and the run, not applied yet.
struct Resumed<F: Float> {
    run: RunState,
    weights: Vec<Tensor<F>>,
    state: State<F>,
    lr: f64,
    plateau: Option<(f64, usize)>,
    callbacks: Vec<CallbackState<F>>,
}

impl<F: Float, M: Module<F>> Model<F, M> {
    /// The training checkpoint of the run at this point, as bytes.
    fn checkpoint_bytes(&self, run: &RunState, opts: &FitOptions<F>, loader: &DataLoader<'_, F>) -> Vec<u8> {
        let opt = self
            .optimizer
            .as_deref()
            .expect("fit checked that the model is compiled");
        let mut tensors = Vec::new();
        for (id, name, value) in self.store.iter() {
            tensors.push((format!("weights/{name}"), value.clone()));
            for (i, b) in opt.state().get(id).unwrap_or_default().iter().enumerate() {
                tensors.push((format!("optimizer/{name}/{i}"), b.clone()));
            }
        }
        let param_steps = self.store.iter().filter(|(id, ..)| opt.state().param_step(*id) > 0);
        let param_steps: Vec<(String, String)> = param_steps
            .map(|(id, name, _)| (format!("optimizer.step/{name}"), opt.state().param_step(id).to_string()))
            .collect();
        let mut meta = vec![
            ("format".to_string(), FORMAT.to_string()),
            ("version".into(), VERSION.into()),
            ("dtype".into(), F::NAME.into()),
            ("epoch".into(), run.epoch.to_string()),
            ("stopped".into(), run.stopped.to_string()),
            ("base_lr".into(), run.base_lr.to_string()),
            ("plateau_scale".into(), run.plateau_scale.to_string()),
            ("optimizer".into(), self.optimizer_kind.into()),
            ("optimizer.lr".into(), opt.learning_rate().to_string()),
            ("optimizer.step".into(), opt.state().step().to_string()),
            ("loader.epochs_drawn".into(), loader.epochs_drawn().to_string()),
        ];
        meta.extend(param_steps);
        let run_settings = settings(opts, loader.num_samples());
        meta.extend(run_settings.map(|(k, v)| (format!("run.{k}"), v)));
        if let Some((best, wait)) = opts.reduce_on_plateau.as_ref().map(|r| r.progress()) {
            meta.push(("plateau.best".into(), best.to_string()));
            meta.push(("plateau.wait".into(), wait.to_string()));
        }
        let lines: Vec<String> = run.history.epochs.iter().map(history_line).collect();
        meta.push(("history".into(), lines.join("\n")));
        meta.push(("history.stopped_early".into(), run.history.stopped_early.to_string()));
        let states = opts.callbacks.iter().filter_map(|c| c.state(&self.store));
        let mut count = 0;
        for (k, state) in states.enumerate() {
            meta.push((format!("callback.{k}"), callback_line(&state)));
            tensors.extend(state.tensors.into_iter().map(|(n, t)| (format!("callback.{k}/{n}"), t)));
            count = k + 1;
        }
        meta.push(("callbacks".into(), count.to_string()));
        let meta: Vec<(&str, &str)> = meta.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        io::encode(&tensors, &meta)
    }

    /// Writes a training checkpoint wherever a callback asks for one after this epoch.
    pub(super) fn write_checkpoints(
        &self,
        opts: &mut FitOptions<F>,
        run: &RunState,
        loader: &DataLoader<'_, F>,
    ) -> Result<(), FitError> {
        let due: Vec<PathBuf> = opts
            .callbacks
            .iter_mut()
            .filter_map(|c| c.training_checkpoint_due())
            .collect();
        if due.is_empty() {
            return Ok(());
        }
        let bytes = self.checkpoint_bytes(run, opts, loader);
        for path in due {
            io::write_atomically(&path, &bytes)?;
        }
        Ok(())
    }

    /// Reads the checkpoint at `path`, checks all of it against this model and `opts`, then
    /// applies it: the callbacks' state, the optimizer's state (checked once more by the
    /// optimizer itself), the weights, the rate, reduce-on-plateau's progress and the
    /// loader's shuffling. On an error the model is unchanged.
    pub(super) fn resume(
        &mut self,
        path: &Path,
        opts: &mut FitOptions<F>,
        loader: &mut DataLoader<'_, F>,
    ) -> Result<RunState, FitError> {
        let r = self.read_checkpoint(path, opts, loader.num_samples())?;
        self.give_callbacks_state(path, opts, r.callbacks)?;
        let opt = self.optimizer.as_mut().ok_or(FitError::NotCompiled)?;
        opt.set_state(r.state).map_err(|source| ResumeError::OptimizerState {
            path: path.into(),
            source,
        })?;
        opt.set_learning_rate(r.lr);
        self.store.restore(&r.weights);
        if let (Some(plateau), Some(progress)) = (opts.reduce_on_plateau.as_mut(), r.plateau) {
            plateau.resume(progress);
        }
        loader.skip_epochs(r.run.epoch as u64);
        Ok(r.run)
    }

    /// Everything in the checkpoint at `path`, checked against the model and the run.
    fn read_checkpoint(&self, path: &Path, opts: &FitOptions<F>, samples: usize) -> Result<Resumed<F>, ResumeError> {
        let file = io::read_tensors::<F>(path).map_err(ResumeError::File)?;
        let meta = Meta { file: &file, path };
        if meta.text("format").ok() != Some(FORMAT) {
            return Err(meta.bad("no 'format' of a training checkpoint (a weights-only file?)".into()));
        }
        if meta.text("version")? != VERSION {
            return Err(meta.bad(format!("version {} is not {VERSION}", meta.text("version")?)));
        }
        check_settings(&meta, opts, samples)?;
        if meta.text("optimizer")? != self.optimizer_kind {
            return Err(ResumeError::Optimizer {
                path: path.into(),
                checkpoint: meta.text("optimizer")?.into(),
                model: self.optimizer_kind.into(),
            });
        }
        Ok(Resumed {
            run: read_run(&meta)?,
            weights: self.read_weights(&file, path)?,
            state: self.read_optimizer_state(&meta)?,
            lr: meta.rate("optimizer.lr")?,
            plateau: read_plateau(&meta, opts)?,
            callbacks: read_callbacks(&meta)?,
        })
    }

    /// The checkpoint's weights, checked as a weight file is (names, shapes, finite values).
    fn read_weights(&self, file: &TensorFile<F>, path: &Path) -> Result<Vec<Tensor<F>>, ResumeError> {
        let bytes = io::encode(&group(file, "weights/"), &[]);
        let mut store = self.store.clone();
        store
            .load_bytes(&bytes, path, Layout::Borel)
            .map_err(ResumeError::Weights)?;
        Ok(store.snapshot())
    }

    /// The checkpoint's optimizer state, checked as a state file is.
    fn read_optimizer_state(&self, meta: &Meta<'_, F>) -> Result<State<F>, ResumeError> {
        let step = meta.text("optimizer.step")?;
        // each parameter's own count, as a state file names it: `step/{param}`
        let param_steps: Vec<(String, &str)> = meta
            .file
            .meta_with_prefix("optimizer.step/")
            .into_iter()
            .map(|(name, count)| (format!("step/{name}"), count))
            .collect();
        let mut state_meta = vec![("step", step), ("dtype", F::NAME)];
        state_meta.extend(param_steps.iter().map(|(k, v)| (k.as_str(), *v)));
        let bytes = io::encode(&group(meta.file, "optimizer/"), &state_meta);
        State::from_bytes(&bytes, meta.path, &self.store).map_err(|source| ResumeError::OptimizerState {
            path: meta.path.into(),
            source,
        })
    }

    /// Hands each callback that keeps state its state from the checkpoint, in order.
    fn give_callbacks_state(
        &self,
        path: &Path,
        opts: &mut FitOptions<F>,
        states: Vec<CallbackState<F>>,
    ) -> Result<(), ResumeError> {
        let refuse = |message: String| ResumeError::Callbacks {
            path: path.into(),
            message,
        };
        let store = &self.store;
        let (mut keeping, mut here) = (Vec::new(), Vec::new());
        for c in opts.callbacks.iter_mut() {
            if let Some(state) = c.state(store) {
                here.push(state.kind);
                keeping.push(c);
            }
        }
        let saved: Vec<&str> = states.iter().map(|s| s.kind.as_str()).collect();
        if here != saved {
            return Err(refuse(format!(
                "the checkpoint holds the state of {saved:?}, this fit has {here:?}"
            )));
        }
        for (c, state) in keeping.into_iter().zip(states) {
            c.set_state(state, store).map_err(&refuse)?;
        }
        Ok(())
    }
}

/// Refuses a run whose settings differ from the checkpoint's.
fn check_settings<F: Float>(meta: &Meta<'_, F>, opts: &FitOptions<F>, samples: usize) -> Result<(), ResumeError> {
    for (setting, given) in settings(opts, samples) {
        let saved = meta.text(&format!("run.{setting}"))?;
        if saved != given {
            return Err(ResumeError::Setting {
                path: meta.path.into(),
                setting,
                checkpoint: saved.into(),
                given,
            });
        }
    }
    Ok(())
}

/// The loop's state: epoch, rates, whether stopped, and the history, which must hold one
/// line per completed epoch, numbered from 1.
fn read_run<F: Float>(meta: &Meta<'_, F>) -> Result<RunState, ResumeError> {
    let epoch: usize = meta.get("epoch")?;
    let text = meta.text("history")?;
    let epochs = text
        .split('\n')
        .filter(|l| !l.is_empty())
        .map(parse_history_line)
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| meta.bad("a line of 'history' cannot be read".into()))?;
    if epochs.len() != epoch || epochs.iter().enumerate().any(|(i, e)| e.epoch != i + 1) {
        return Err(meta.bad(format!("'history' does not hold epochs 1 to {epoch}")));
    }
    if meta.get::<u64>("loader.epochs_drawn")? != epoch as u64 {
        return Err(meta.bad("the loader's epochs differ from the run's".into()));
    }
    Ok(RunState {
        epoch,
        base_lr: meta.rate("base_lr")?,
        plateau_scale: meta.rate("plateau_scale")?,
        stopped: meta.get("stopped")?,
        history: History {
            epochs,
            stopped_early: meta.get("history.stopped_early")?,
        },
    })
}

/// Reduce-on-plateau's best value and wait count, when the run uses it.
fn read_plateau<F: Float>(meta: &Meta<'_, F>, opts: &FitOptions<F>) -> Result<Option<(f64, usize)>, ResumeError> {
    match opts.reduce_on_plateau {
        Some(_) => Ok(Some((meta.get("plateau.best")?, meta.get("plateau.wait")?))),
        None => Ok(None),
    }
}

/// The state of every callback that keeps one, with its tensors.
fn read_callbacks<F: Float>(meta: &Meta<'_, F>) -> Result<Vec<CallbackState<F>>, ResumeError> {
    let count: usize = meta.get("callbacks")?;
    // a count beyond the file's entries stops at the first missing one
    (0..count)
        .map(|k| {
            let key = format!("callback.{k}");
            let mut state =
                parse_callback_line(meta.text(&key)?).ok_or_else(|| meta.bad(format!("'{key}' cannot be read")))?;
            state.tensors = group(meta.file, &format!("{key}/"));
            Ok(state)
        })
        .collect()
}
