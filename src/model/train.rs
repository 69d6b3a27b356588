//! `fit` in parts: options and data are checked once, then epochs of batches; each batch is
//! one forward, one backward and one update that never leaves a non-finite parameter.

use std::time::Instant;

use borel_autograd::{Float, ParamGrads, Tape, Tensor, debug_nans};
use borel_nn::{CapturedPlans, ForwardPass, Module, ParamStore};
use indicatif::{ProgressBar, ProgressStyle};

use super::{Model, correct};
use crate::callbacks::Control;
use crate::data::{DataLoader, Epoch, split_last};
use crate::model::options::{EpochLog, FitError, FitOptions, History};
use crate::model::peers::Peers;
use crate::model::resume::RunState;

type Pair<F> = (Tensor<F>, Tensor<F>);

/// The progress shown with `verbose(1)`: a bar per epoch over its batches for few long
/// epochs, one bar over the epochs for many short ones (Keras' feel, without a thousand bars).
struct Progress {
    bar: Option<ProgressBar>,
    per_epoch: bool,
}

impl Progress {
    fn new<F: Float>(opts: &FitOptions<F>, batches: usize) -> Self {
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
        Progress { bar, per_epoch }
    }

    fn epoch_start(&self, epoch: usize, epochs: usize) {
        if let Some(b) = self.bar.as_ref().filter(|_| self.per_epoch) {
            b.reset();
            b.set_prefix(format!("{epoch}/{epochs}"));
        }
    }

    fn batch_done(&self, mean_loss: f64) {
        if let Some(b) = self.bar.as_ref().filter(|_| self.per_epoch) {
            b.inc(1);
            b.set_message(format!("loss {mean_loss:.4}"));
        }
    }

    fn epoch_done(&self, log: &EpochLog, epochs: usize, verbose: u8) {
        if verbose == 2 {
            let v = log.val_loss.map(|v| format!(" - val_loss: {v:.4}")).unwrap_or_default();
            println!(
                "Epoch {}/{epochs} - {:.3}s - loss: {:.4}{v}",
                log.epoch, log.seconds, log.loss
            );
        }
        if let Some(b) = self.bar.as_ref().filter(|_| !self.per_epoch) {
            b.inc(1);
            b.set_message(format!("loss {:.4}", log.loss));
        }
    }
}

/// `rate` if an optimizer can take it (finite, >= 0), else the error naming where it came
/// from and the epoch it was for.
fn usable_rate(from: &'static str, epoch: usize, rate: f64) -> Result<f64, FitError> {
    if rate.is_finite() && rate >= 0.0 {
        Ok(rate)
    } else {
        Err(FitError::BadRate { from, epoch, rate })
    }
}

/// The op NaN tracing caught on `tape` in this step, as an error.
fn traced<F: Float>(tape: &Tape<F>, epoch: usize, batch: usize) -> Result<(), FitError> {
    match tape.take_non_finite() {
        Some(report) => Err(FitError::NonFiniteOp { report, epoch, batch }),
        None => Ok(()),
    }
}

impl<F: Float, M: Module<F>> Model<F, M> {
    /// Trains on `(x, y)` (samples along the first dim) as Keras' `fit` does: shuffled batches
    /// each epoch, the last batch smaller when the size does not divide, a [`History`] back.
    ///
    /// Each batch is one step of the loop a user writes by hand: a tape,
    /// `ForwardPass::train(&tape, &store)` (dropout seeded per batch), the compiled loss with mean
    /// reduction, `ForwardPass::backward`, `Optimizer::update`; so a hand-written loop over the
    /// same `DataLoader` reproduces `fit` bit for bit.
    ///
    /// Every step checks the loss, the gradients and the updated parameters; on a NaN or an
    /// infinity `fit` returns the error naming the epoch, the batch and the parameter, and the
    /// parameters are those of the last finite step. A parameter the loss does not reach has
    /// no gradient: the optimizer leaves it (and its state) as it was, as PyTorch does.
    ///
    /// A [`Checkpoint::resumable`](crate::callbacks::Checkpoint::resumable) callback saves the
    /// whole run after each epoch, and [`FitOptions::resume_from`] continues it from there,
    /// bit for bit as if it had never stopped.
    #[track_caller]
    pub fn fit(&mut self, x: &Tensor<F>, y: &Tensor<F>, mut opts: FitOptions<F>) -> Result<History, FitError> {
        let base_lr = self.optimizer.as_ref().ok_or(FitError::NotCompiled)?.learning_rate();
        self.loss.ok_or(FitError::NotCompiled)?;
        opts.check()?;
        let ((tx, ty), val) = self.split(x, y, &mut opts)?;
        let mut loader = DataLoader::new(&tx, &ty, opts.batch_size);
        if opts.shuffle {
            loader = loader.shuffle(opts.seed);
        }
        let world = opts.world.clone();
        let peers = Peers { world: world.as_ref() };
        let mut loader = peers.shard(loader);
        let mut run = match opts.resume_from.take() {
            Some(path) => peers.fail(self.resume(&path, &mut opts, &mut loader))?,
            None => RunState::new(base_lr),
        };
        peers.sync(&mut self.store)?;
        if !peers.is_root() {
            opts.verbose = 0;
        }
        let progress = Progress::new(&opts, loader.len());
        // Fresh plans each fit: the loss may have been recompiled since the last one.
        *self.captured.get_mut().unwrap_or_else(|e| e.into_inner()) = opts.capture.then(CapturedPlans::new);
        while run.epoch < opts.epochs && !run.stopped {
            let epoch = run.epoch + 1;
            self.set_epoch_lr(&opts, epoch, run.base_lr * run.plateau_scale)?;
            progress.epoch_start(epoch, opts.epochs);
            let log = peers.fail(self.epoch_log(epoch, &mut loader, val.as_ref(), &opts, &progress))?;
            progress.epoch_done(&log, opts.epochs, opts.verbose);
            run.plateau_scale *= self.observe_plateau(&mut opts, &log)?;
            run.history.epochs.push(log.clone());
            run.epoch = epoch;
            let control = peers.fail(self.run_callbacks(&mut opts, &log, peers))?;
            run.stopped = peers.agree(control == Control::Stop);
            run.history.stopped_early = run.stopped && epoch < opts.epochs;
            peers.fail(self.write_checkpoints(&mut opts, &run, &loader))?;
        }
        if let Some(b) = &progress.bar {
            b.finish();
        }
        for c in opts.callbacks.iter_mut().filter(|c| peers.is_root() || !c.root_only()) {
            peers.fail(c.on_train_end(&mut self.store))?;
        }
        Ok(run.history)
    }

    /// Trains epoch `epoch` (1-based) on the loader's next epoch of batches and scores the
    /// validation data: the epoch's log.
    #[track_caller]
    fn epoch_log(
        &mut self,
        epoch: usize,
        loader: &mut DataLoader<'_, F>,
        val: Option<&Pair<F>>,
        opts: &FitOptions<F>,
        progress: &Progress,
    ) -> Result<EpochLog, FitError> {
        let started = Instant::now();
        let (loss_sum, hits) = self.train_epoch(epoch, loader.epoch(), opts, progress)?;
        // Over every rank's samples (padding included) in a data-parallel fit.
        let mut sums = [loss_sum, hits, loader.num_samples() as f64];
        opts.peers().sum(&mut sums);
        let [loss_sum, hits, n] = sums;
        let val_scores = val.map(|(vx, vy)| self.evaluate(vx, vy)).transpose()?;
        Ok(EpochLog {
            epoch,
            loss: loss_sum / n,
            lr: self.optimizer.as_ref().map_or(f64::NAN, |o| o.learning_rate()),
            accuracy: self.accuracy.then(|| hits / n),
            val_loss: val_scores.map(|s| s.loss),
            val_accuracy: val_scores.and_then(|s| s.accuracy),
            seconds: started.elapsed().as_secs_f64(),
        })
    }

    /// The training and validation data, both checked.
    #[track_caller]
    fn split(
        &self,
        x: &Tensor<F>,
        y: &Tensor<F>,
        opts: &mut FitOptions<F>,
    ) -> Result<(Pair<F>, Option<Pair<F>>), FitError> {
        self.check_pair(x, y)?;
        match opts.validation_data.take() {
            Some((vx, vy)) => {
                self.check_pair(&vx, &vy)?;
                Ok(((x.clone(), y.clone()), Some((vx, vy))))
            }
            None if opts.validation_split > 0.0 => {
                let (t, v) = split_last(x, y, opts.validation_split);
                let (train, validation) = (t.0.shape()[0], v.0.shape()[0]);
                if train == 0 || validation == 0 {
                    return Err(FitError::EmptySplit {
                        fraction: opts.validation_split,
                        samples: x.shape()[0],
                        train,
                        validation,
                    });
                }
                Ok((t, Some(v)))
            }
            None => Ok(((x.clone(), y.clone()), None)),
        }
    }

    /// At the start of an epoch: the schedule's rate for it (from the rate `fit` began with),
    /// times what reduce-on-plateau has taken off so far.
    fn set_epoch_lr(&mut self, opts: &FitOptions<F>, epoch: usize, scaled_base: f64) -> Result<(), FitError> {
        if let (Some(s), Some(opt)) = (&opts.schedule, self.optimizer.as_mut()) {
            let rate = s.lr(epoch - 1, scaled_base);
            opt.set_learning_rate(usable_rate("schedule", epoch, rate)?);
        }
        Ok(())
    }

    /// At the end of an epoch: lets reduce-on-plateau lower the rate now; returns the factor
    /// it applied (1 when it did nothing), which later epochs' schedule keeps applying.
    fn observe_plateau(&mut self, opts: &mut FitOptions<F>, log: &EpochLog) -> Result<f64, FitError> {
        let (Some(r), Some(opt)) = (opts.reduce_on_plateau.as_mut(), self.optimizer.as_mut()) else {
            return Ok(1.0);
        };
        let lr = opt.learning_rate();
        let new = r.observe(log.val_loss.unwrap_or(log.loss), lr);
        opt.set_learning_rate(usable_rate("reduce_on_plateau", log.epoch + 1, new)?);
        Ok(if lr > 0.0 { new / lr } else { 1.0 })
    }

    /// Every callback's `on_epoch_end` (on ranks but 0, only those not [`root_only`]).
    ///
    /// [`root_only`]: crate::callbacks::Callback::root_only
    fn run_callbacks(
        &mut self,
        opts: &mut FitOptions<F>,
        log: &EpochLog,
        peers: Peers<'_>,
    ) -> Result<Control, FitError> {
        let mut control = Control::Continue;
        for c in opts.callbacks.iter_mut().filter(|c| peers.is_root() || !c.root_only()) {
            if c.on_epoch_end(log, &mut self.store)? == Control::Stop {
                control = Control::Stop;
            }
        }
        Ok(control)
    }

    /// One pass over an epoch's batches: the summed loss (weighted by batch size) and the
    /// number of correctly classified samples.
    #[track_caller]
    fn train_epoch(
        &mut self,
        epoch: usize,
        batches: Epoch<'_, '_, F>,
        opts: &FitOptions<F>,
        progress: &Progress,
    ) -> Result<(f64, f64), FitError> {
        let count = batches.len();
        let mut tape = Tape::new();
        tape.keep_first_non_finite();
        let (mut loss_sum, mut hits, mut seen) = (0.0, 0.0, 0);
        for (bi, batch) in batches.enumerate() {
            let rows = batch.0.shape()[0];
            let dropout_seed = opts.seed.wrapping_add((epoch * count + bi) as u64);
            let (loss, correct) = self.train_batch(&mut tape, batch, dropout_seed, (epoch, bi + 1), opts.peers())?;
            loss_sum += loss * rows as f64;
            hits += correct;
            seen += rows;
            progress.batch_done(loss_sum / seen as f64);
        }
        Ok((loss_sum, hits))
    }

    /// One step on one batch: forward, loss, gradients, update. Returns the batch's loss and
    /// its correctly classified samples (0 unless accuracy is tracked).
    #[track_caller]
    fn train_batch(
        &mut self,
        tape: &mut Tape<F>,
        (xb, yb): Pair<F>,
        dropout_seed: u64,
        (epoch, batch): (usize, usize),
        peers: Peers<'_>,
    ) -> Result<(f64, f64), FitError> {
        let (loss, hits, mut grads) = match self.captured_step(&xb, &yb, (epoch, batch))? {
            Some(done) => done,
            None => self.eager_step(tape, (xb, yb), dropout_seed, (epoch, batch))?,
        };
        peers.average(&mut grads);
        tape.reset();
        let non_finite = |store: &ParamStore<F>, what, id| FitError::NonFiniteParam {
            what,
            param: store.name(id).to_string(),
            epoch,
            batch,
        };
        if let Some(id) = grads.first_non_finite() {
            return Err(non_finite(&self.store, "gradient", id));
        }
        let before = self.store.snapshot();
        let opt = self.optimizer.as_mut().ok_or(FitError::NotCompiled)?;
        opt.update(&mut self.store, &grads);
        // Only parameters with a gradient were updated: one the loss did not reach has no
        // entry, so it is neither checked here nor above, as the optimizer skipped it.
        let bad = grads
            .iter()
            .map(|(id, _)| id)
            .find(|&id| !self.store.get(id).all_finite());
        if let Some(id) = bad {
            let err = non_finite(&self.store, "value", id);
            self.store.restore(&before);
            return Err(err);
        }
        Ok((loss, hits))
    }

    /// The batch's loss and gradients replayed from the captured step, or `None` when fit
    /// runs eagerly (capture off or refused, accuracy tracked, NaN tracing on).
    fn captured_step(
        &mut self,
        xb: &Tensor<F>,
        yb: &Tensor<F>,
        at: (usize, usize),
    ) -> Result<Option<Step<F>>, FitError> {
        let loss_fn = self.loss.ok_or(FitError::NotCompiled)?;
        if self.accuracy || debug_nans() {
            return Ok(None);
        }
        let captured = self.captured.get_mut().unwrap_or_else(|e| e.into_inner());
        let Some(plans) = captured.as_mut() else {
            return Ok(None);
        };
        let module = &self.module;
        let Ok((loss, grads)) = plans.run(&self.store, xb, yb, &|fw, x, y| loss_fn.of(module.forward(fw, x), y)) else {
            *captured = None;
            return Ok(None);
        };
        let loss = loss.to_f64();
        if !loss.is_finite() {
            return Err(FitError::NonFiniteLoss {
                epoch: at.0,
                batch: at.1,
                loss,
            });
        }
        Ok(Some((loss, 0.0, grads)))
    }

    /// The batch's loss, correctly classified samples and gradients, recorded on `tape`.
    #[track_caller]
    fn eager_step(
        &mut self,
        tape: &mut Tape<F>,
        (xb, yb): Pair<F>,
        dropout_seed: u64,
        (epoch, batch): (usize, usize),
    ) -> Result<Step<F>, FitError> {
        let loss_fn = self.loss.ok_or(FitError::NotCompiled)?;
        let fw = ForwardPass::train(tape, &self.store).seed(dropout_seed);
        let pred = self.module.forward(&fw, tape.constant(xb));
        let hits = if self.accuracy {
            correct(loss_fn, &pred.value(), &yb)
        } else {
            0.0
        };
        let l = loss_fn.of(pred, tape.constant(yb));
        let loss = l.item().to_f64();
        traced(tape, epoch, batch)?;
        if !loss.is_finite() {
            return Err(FitError::NonFiniteLoss { epoch, batch, loss });
        }
        let grads = fw.backward(l);
        traced(tape, epoch, batch)?;
        Ok((loss, hits, grads))
    }
}

/// A batch's loss, correctly classified samples and gradients.
type Step<F> = (f64, f64, ParamGrads<F>);
