//! Training one batch at a time, so the page can draw between steps: the same steps as
//! `borel::Model::fit` (Keras' `fit`): an epoch is one shuffled pass over the samples in
//! batches, the last one short, and the epoch's loss is the sample-weighted mean of its
//! batches' losses.

use borel_autograd::{Tape, Tensor};
use borel_nn::{Dense, ForwardPass, Loss, Module, ParamStore, Sequential};
use borel_optim::Optimizer;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use crate::config::Config;
use crate::target::{Inputs, NotFinite, Target, sample};

/// Why a run could not be set up or could not go on.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum TrainError {
    /// The target expression did not parse.
    #[error("{0}")]
    Parse(#[from] crate::expr::ParseError),
    /// The target is not finite on some sample.
    #[error(transparent)]
    NotFinite(#[from] NotFinite),
    /// The loss became NaN or infinite.
    #[error("the loss is {loss} at epoch {epoch}: training diverged; lower the learning rate")]
    Diverged {
        /// The loss.
        loss: f64,
        /// The epoch (from 1).
        epoch: usize,
    },
}

/// A network, its data and its optimizer, trained a step at a time.
///
/// ```
/// use borel_web::{config::Config, trainer::Trainer};
/// let mut c = Config::preset("sigmoid").unwrap();
/// c.samples = 128;
/// let mut t = Trainer::new(&c).unwrap();
/// let first = t.epoch().unwrap();
/// for _ in 0..20 {
///     t.epoch().unwrap();
/// }
/// assert_eq!((t.epochs_done(), t.steps_done()), (21, 42));
/// assert!(t.epoch_losses()[20] < first);
/// ```
pub struct Trainer {
    target: Target,
    x: Tensor<f32>,
    y: Tensor<f32>,
    /// The one mean and one standard deviation over all raw inputs.
    scale: (f64, f64),
    net: Sequential<f32>,
    store: ParamStore<f32>,
    opt: Box<dyn Optimizer<f32>>,
    batch: usize,
    rng: StdRng,
    order: Vec<usize>,
    next: usize,
    loss_sum: f64,
    step_losses: Vec<f64>,
    epoch_losses: Vec<f64>,
    tape: Tape<f32>,
}

fn optimizer(c: &Config) -> Box<dyn Optimizer<f32>> {
    c.optimizer.build(c.lr)
}

fn network(c: &Config, store: &mut ParamStore<f32>) -> Sequential<f32> {
    let mut s = Sequential::new();
    for l in &c.hidden {
        s = s.add(Dense::new(l.units).activation(l.activation));
    }
    s.add(Dense::new(1)).build_with_input(store, c.seed, 2)
}

impl Trainer {
    /// Samples the target, standardizes the inputs with one global mean and std, and builds
    /// the network (Glorot-uniform kernels, zero biases) and the optimizer.
    pub fn new(c: &Config) -> Result<Trainer, TrainError> {
        let target = Target::parse(&c.target)?;
        let s = sample(&target, c.samples, c.noise)?;
        let n = s.y.len();
        // Rounded to f32 before the mean and std are taken, as `borel::data` does on f32 data.
        let raw: Vec<f64> = s.x.iter().map(|&v| v as f32 as f64).collect();
        let mean = raw.iter().sum::<f64>() / (2 * n) as f64;
        let std = (raw.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (2 * n) as f64).sqrt();
        let std = if std > 0.0 { std } else { 1.0 };
        let x = Tensor::from_fn(&[n, 2], |i| ((raw[i] - mean) / std) as f32);
        let y = Tensor::from_fn(&[n, 1], |i| s.y[i] as f32);
        let mut store = ParamStore::new();
        let net = network(c, &mut store);
        Ok(Trainer {
            target,
            x,
            y,
            scale: (mean, std),
            net,
            store,
            opt: optimizer(c),
            batch: c.batch.min(n),
            rng: StdRng::seed_from_u64(c.seed),
            order: (0..n).collect(),
            next: 0,
            loss_sum: 0.0,
            step_losses: Vec::new(),
            epoch_losses: Vec::new(),
            tape: Tape::new(),
        })
    }

    /// One step on the next batch (reshuffling at the start of an epoch); returns its loss.
    pub fn step(&mut self) -> Result<f64, TrainError> {
        if self.next == 0 {
            self.order.shuffle(&mut self.rng);
        }
        let n = self.order.len();
        let rows = &self.order[self.next..(self.next + self.batch).min(n)];
        let xb = Tensor::from_fn(&[rows.len(), 2], |i| self.x.data()[rows[i / 2] * 2 + i % 2]);
        let yb = Tensor::from_fn(&[rows.len(), 1], |i| self.y.data()[rows[i]]);
        let (loss, grads) = {
            let fw = ForwardPass::train(&self.tape, &self.store);
            let pred = self.net.forward(&fw, self.tape.constant(xb));
            let l = Loss::Mse.of(pred, self.tape.constant(yb));
            (l.item() as f64, fw.backward(l))
        };
        self.tape.reset();
        if !loss.is_finite() {
            let epoch = self.epoch_losses.len() + 1;
            return Err(TrainError::Diverged { loss, epoch });
        }
        self.opt.update(&mut self.store, &grads);
        self.loss_sum += loss * rows.len() as f64;
        self.step_losses.push(loss);
        self.next += self.batch;
        if self.next >= n {
            self.epoch_losses.push(self.loss_sum / n as f64);
            (self.next, self.loss_sum) = (0, 0.0);
        }
        Ok(loss)
    }

    /// Steps to the end of the current epoch; returns the epoch's loss.
    pub fn epoch(&mut self) -> Result<f64, TrainError> {
        let done = self.epoch_losses.len();
        while self.epoch_losses.len() == done {
            self.step()?;
        }
        Ok(self.epoch_losses[done])
    }

    /// Every step's batch loss so far.
    pub fn step_losses(&self) -> &[f64] {
        &self.step_losses
    }
    /// Every finished epoch's loss so far.
    pub fn epoch_losses(&self) -> &[f64] {
        &self.epoch_losses
    }
    /// Finished epochs.
    pub fn epochs_done(&self) -> usize {
        self.epoch_losses.len()
    }
    /// Steps taken.
    pub fn steps_done(&self) -> usize {
        self.step_losses.len()
    }
    /// Trainable numbers in the network.
    pub fn num_params(&self) -> usize {
        self.store.num_params()
    }
    /// The target being fitted.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// The network's kernels in layer order, each `(in, out, row-major weights)`.
    pub fn kernels(&self) -> Vec<(usize, usize, Vec<f32>)> {
        self.store
            .iter()
            .filter(|(_, _, t)| t.rank() == 2)
            .map(|(_, _, t)| (t.shape()[0], t.shape()[1], t.data().to_vec()))
            .collect()
    }

    /// The points of an `n x n` grid over the target's view, row by row from the top
    /// (largest `x2`) and left to right (growing `x1`), as the heat maps draw them.
    pub fn grid_points(&self, n: usize) -> Vec<(f64, f64)> {
        let ((a, b), (c, d)) = self.target.inputs().view();
        let at = |lo: f64, hi: f64, i: usize| lo + (hi - lo) * (i as f64 + 0.5) / n as f64;
        (0..n * n).map(|k| (at(a, b, k % n), at(d, c, k / n))).collect()
    }

    /// The target on [`grid_points`](Self::grid_points).
    pub fn target_grid(&self, n: usize) -> Vec<f64> {
        self.grid_points(n)
            .iter()
            .map(|&(a, b)| self.target.eval(a, b))
            .collect()
    }

    /// The network's prediction on [`grid_points`](Self::grid_points).
    pub fn predict_grid(&self, n: usize) -> Vec<f32> {
        let (mean, std) = self.scale;
        let pts = self.grid_points(n);
        let x = Tensor::from_fn(&[pts.len(), 2], |i| {
            let (a, b) = pts[i / 2];
            ((if i % 2 == 0 { a } else { b } - mean) / std) as f32
        });
        self.net.predict(&self.store, &x).data().to_vec()
    }

    /// The view the grids cover.
    pub fn inputs(&self) -> Inputs {
        self.target.inputs()
    }

    /// The mean squared error of the best affine fit `y ~ a + b x1 + c x2` on the samples: no
    /// network of linear layers can go below it.
    pub fn linear_bound(&self) -> f64 {
        let n = self.y.numel();
        let row = |i: usize| [1.0, self.x.data()[2 * i] as f64, self.x.data()[2 * i + 1] as f64];
        let (mut a, mut b) = ([[0.0; 3]; 3], [0.0; 3]);
        for i in 0..n {
            let (r, yi) = (row(i), self.y.data()[i] as f64);
            for p in 0..3 {
                b[p] += r[p] * yi;
                for q in 0..3 {
                    a[p][q] += r[p] * r[q];
                }
            }
        }
        let w = solve3(a, b);
        let sse: f64 = (0..n)
            .map(|i| (self.y.data()[i] as f64 - row(i).iter().zip(&w).map(|(v, w)| v * w).sum::<f64>()).powi(2))
            .sum();
        sse / n as f64
    }
}

/// `a w = b` by Cramer's rule; a singular system (inputs on a line) gives the mean-only fit.
fn solve3(a: [[f64; 3]; 3], b: [f64; 3]) -> [f64; 3] {
    let det = |m: [[f64; 3]; 3]| {
        m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
            + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
    };
    let d = det(a);
    if d.abs() < 1e-12 * a[0][0].powi(3).max(1.0) {
        return [b[0] / a[0][0].max(1.0), 0.0, 0.0];
    }
    let mut w = [0.0; 3];
    for (j, wj) in w.iter_mut().enumerate() {
        let mut m = a;
        for (r, row) in m.iter_mut().enumerate() {
            row[j] = b[r];
        }
        *wj = det(m) / d;
    }
    w
}

#[cfg(test)]
mod tests;
