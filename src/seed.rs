//! The seed experiments ("a neural network can fit any function"): the post's three Keras
//! models trained as the post trained them, with the least-squares bound beside them.
//! `cargo run --release --example seed_experiments` is a command line around [`run`].

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use borel_autograd::Tensor;
use borel_nn::{Dense, Loss, ParamStore, Sequential};
use borel_optim::RmsProp;

use crate::data::{GlobalStandardizer, least_squares_sse, seed_surface, seed_target};
use crate::model::{FitError, FitOptions, Model};
use crate::plot::{HeatGrid, PlotError, heat_map, loss_curves, target_vs_prediction};

/// The post's SSE for the linear model.
pub const POST_LINEAR_SSE: f64 = 40648.0;

/// One of the post's three networks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeedModel {
    /// 100, 50, 50, 10, 1 units, all linear.
    Linear,
    /// 20 sigmoid, 20 sigmoid, 1 linear.
    Sigmoid,
    /// 100, 50, 50 linear, 10 relu, 1 linear.
    OneRelu,
}

impl SeedModel {
    /// All three, in the post's order.
    pub const ALL: [SeedModel; 3] = [SeedModel::Linear, SeedModel::Sigmoid, SeedModel::OneRelu];

    /// The name used on the command line, in tables and in `results.json`.
    pub fn name(self) -> &'static str {
        match self {
            SeedModel::Linear => "linear",
            SeedModel::Sigmoid => "sigmoid",
            SeedModel::OneRelu => "relu",
        }
    }

    /// Parses `linear`, `sigmoid` or `relu`.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.name() == s)
    }

    /// The network, as Keras' `Sequential` of `Dense` layers with Keras' default initializers.
    pub fn build(self, store: &mut ParamStore<f32>, seed: u64) -> Sequential<f32> {
        let s = Sequential::new();
        let s = match self {
            SeedModel::Linear => s
                .add(Dense::new(100).input_dim(2))
                .add(Dense::new(50))
                .add(Dense::new(50))
                .add(Dense::new(10))
                .add(Dense::new(1)),
            SeedModel::Sigmoid => s
                .add(Dense::new(20).activation("sigmoid").input_dim(2))
                .add(Dense::new(20).activation("sigmoid"))
                .add(Dense::new(1)),
            SeedModel::OneRelu => s
                .add(Dense::new(100).input_dim(2))
                .add(Dense::new(50))
                .add(Dense::new(50))
                .add(Dense::new(10).activation("relu"))
                .add(Dense::new(1)),
        };
        s.build(store, seed)
    }
}

/// Which RMSprop formula to train with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RmsPreset {
    /// Keras 3's (the default).
    Keras3,
    /// tf.keras 2's, the Keras of the post's time.
    TfKeras2,
}

/// How to run the experiments.
#[derive(Clone, Debug)]
pub struct SeedConfig {
    /// Epochs per model (the post: 1000).
    pub epochs: usize,
    /// Which models.
    pub models: Vec<SeedModel>,
    /// Seed of the initializers and the shuffling.
    pub seed: u64,
    /// Where `results.json` and the SVGs go.
    pub out: PathBuf,
    /// A progress bar per epoch.
    pub verbose: bool,
    /// The RMSprop preset.
    pub rmsprop: RmsPreset,
    /// Samples (the post: 1000).
    pub samples: usize,
}

impl Default for SeedConfig {
    fn default() -> Self {
        SeedConfig {
            epochs: 1000,
            models: SeedModel::ALL.to_vec(),
            seed: 0,
            out: PathBuf::from("target/seed-experiments"),
            verbose: false,
            rmsprop: RmsPreset::Keras3,
            samples: 1000,
        }
    }
}

/// One model's outcome.
#[derive(Clone, Debug)]
pub struct SeedRun {
    /// The model.
    pub model: SeedModel,
    /// Its parameter count.
    pub params: usize,
    /// Epochs trained.
    pub epochs: usize,
    /// Sum of squared errors over the samples.
    pub sse: f64,
    /// Mean squared error.
    pub mse: f64,
    /// Seconds `fit` took.
    pub train_seconds: f64,
    /// Training loss per epoch.
    pub loss_curve: Vec<f64>,
}

/// Everything the experiments produced.
#[derive(Clone, Debug)]
pub struct SeedResults {
    /// Samples.
    pub samples: usize,
    /// The least-squares SSE of `y` on `[1, x]`: no linear model does better.
    pub ols_sse: f64,
    /// One entry per model run.
    pub runs: Vec<SeedRun>,
}

/// What can stop the experiments.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    /// Training failed.
    #[error(transparent)]
    Fit(#[from] FitError),
    /// A plot could not be written.
    #[error(transparent)]
    Plot(#[from] PlotError),
    /// The output folder or a file in it could not be written.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
}

fn thousands(v: f64, decimals: usize) -> String {
    let s = format!("{v:.decimals$}");
    let (int, frac) = s.split_once('.').map_or((s.as_str(), ""), |(a, b)| (a, b));
    let (sign, digits) = int.strip_prefix('-').map_or(("", int), |d| ("-", d));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if frac.is_empty() {
        format!("{sign}{out}")
    } else {
        format!("{sign}{out}.{frac}")
    }
}

impl SeedResults {
    /// The table the main job prints.
    pub fn table(&self) -> String {
        let mut t = String::new();
        let _ = writeln!(
            t,
            "{:<8} {:>7} {:>7} {:>12} {:>9} {:>8}  note",
            "model", "params", "epochs", "SSE", "MSE", "train s"
        );
        for r in &self.runs {
            let note = if r.model == SeedModel::Linear {
                format!(
                    "least-squares bound {} (SSE {:+.4}% above it); the post: {}",
                    thousands(self.ols_sse, 1),
                    100.0 * (r.sse / self.ols_sse - 1.0),
                    thousands(POST_LINEAR_SSE, 0)
                )
            } else {
                String::new()
            };
            let _ = writeln!(
                t,
                "{:<8} {:>7} {:>7} {:>12} {:>9.3} {:>8.2}  {note}",
                r.model.name(),
                thousands(r.params as f64, 0),
                r.epochs,
                thousands(r.sse, 1),
                r.mse,
                r.train_seconds
            );
        }
        t
    }

    /// `results.json`: `{"samples", "ols_sse", "models": [{"name", "params", "epochs", "sse",
    /// "mse", "train_seconds"}]}`.
    pub fn json(&self) -> String {
        let num = |v: f64| {
            if v.is_finite() {
                format!("{v:?}")
            } else {
                "null".to_string()
            }
        };
        let models: Vec<String> = self
            .runs
            .iter()
            .map(|r| {
                format!(
                    "{{\"name\": \"{}\", \"params\": {}, \"epochs\": {}, \"sse\": {}, \"mse\": {}, \"train_seconds\": {}}}",
                    r.model.name(),
                    r.params,
                    r.epochs,
                    num(r.sse),
                    num(r.mse),
                    num(r.train_seconds)
                )
            })
            .collect();
        format!(
            "{{\"samples\": {}, \"ols_sse\": {}, \"models\": [{}]}}\n",
            self.samples,
            num(self.ols_sse),
            models.join(", ")
        )
    }
}

fn write(path: &Path, text: &str) -> Result<(), SeedError> {
    borel_autograd::io::write_atomically(path, text.as_bytes()).map_err(|source| SeedError::Io {
        path: path.into(),
        source,
    })
}

/// Trains the chosen models on the seed surface, writes `results.json` and the SVG plots into
/// `config.out`, and returns the numbers.
pub fn run(config: &SeedConfig) -> Result<SeedResults, SeedError> {
    std::fs::create_dir_all(&config.out).map_err(|source| SeedError::Io {
        path: config.out.clone(),
        source,
    })?;
    let (x_raw, y) = seed_surface::<f32>(config.samples, 1, 10);
    let scaler = GlobalStandardizer::fit(&x_raw);
    let x = scaler.transform(&x_raw);
    let ols_sse = least_squares_sse(&x, &y);
    let y64: Vec<f64> = y.data().iter().map(|&v| v as f64).collect();

    // The surfaces are drawn over this square of raw inputs, all on the target's color scale.
    let mut grid = HeatGrid {
        rows: 48,
        cols: 48,
        x: (-5.0, 5.0),
        y: (-2.5, 2.5),
        scale: (0.0, 1.0),
    };
    let target: Vec<f64> = (0..grid.len())
        .map(|k| seed_target(grid.center(k).0, grid.center(k).1))
        .collect();
    grid.scale = target
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
    heat_map(
        &config.out.join("surface_target.svg"),
        "target surface y(x1, x2)",
        &target,
        &grid,
    )?;
    let grid_x = scaler.transform(&Tensor::from_fn(&[grid.len(), 2], |i| {
        let (a, b) = grid.center(i / 2);
        (if i % 2 == 0 { a } else { b }) as f32
    }));

    let mut runs = Vec::new();
    for &m in &config.models {
        let mut store = ParamStore::new();
        let net = m.build(&mut store, config.seed);
        let params = store.num_params();
        let mut model = Model::new(net, store);
        match config.rmsprop {
            RmsPreset::Keras3 => model.compile(Loss::Mse, RmsProp::keras()),
            RmsPreset::TfKeras2 => model.compile(Loss::Mse, RmsProp::tf_keras2()),
        }
        let opts = FitOptions {
            seed: config.seed,
            verbose: u8::from(config.verbose),
            ..FitOptions::new(config.epochs, 64)
        };
        let started = Instant::now();
        let history = model.fit(&x, &y, opts)?;
        let train_seconds = started.elapsed().as_secs_f64();
        let y_hat: Vec<f64> = model.predict(&x)?.data().iter().map(|&v| v as f64).collect();
        let sse: f64 = y64.iter().zip(&y_hat).map(|(a, b)| (a - b).powi(2)).sum();
        let name = m.name();
        target_vs_prediction(
            &config.out.join(format!("{name}_fit.svg")),
            &format!("{name} model: y (red) and y_hat (green), SSE {}", thousands(sse, 1)),
            &y64,
            &y_hat,
        )?;
        let learned: Vec<f64> = model.predict(&grid_x)?.data().iter().map(|&v| v as f64).collect();
        let surface_title = format!("{name} model: learned surface");
        heat_map(
            &config.out.join(format!("surface_{name}.svg")),
            &surface_title,
            &learned,
            &grid,
        )?;
        runs.push(SeedRun {
            model: m,
            params,
            epochs: config.epochs,
            sse,
            mse: sse / y64.len() as f64,
            train_seconds,
            loss_curve: history.loss(),
        });
    }
    let curves: Vec<(&str, &[f64])> = runs.iter().map(|r| (r.model.name(), r.loss_curve.as_slice())).collect();
    loss_curves(
        &config.out.join("loss_curves.svg"),
        "training loss per epoch (RMSprop, batch 64)",
        &curves,
    )?;
    let results = SeedResults {
        samples: config.samples,
        ols_sse,
        runs,
    };
    write(&config.out.join("results.json"), &results.json())?;
    Ok(results)
}
