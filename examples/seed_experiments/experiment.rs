//! The post's three Keras models, trained as the post trained them, with their plots.

use std::path::{Path, PathBuf};
use std::time::Instant;

use borel::data::GlobalStandardizer;
use borel::plot::{HeatGrid, Labels, PlotError, heat_map, loss_curves, target_vs_prediction};
use borel::prelude::*;

use crate::report::thousands;
use crate::surface::{least_squares_sse, samples, target};

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
                .add(Dense::new(20).activation(Activation::Sigmoid).input_dim(2))
                .add(Dense::new(20).activation(Activation::Sigmoid))
                .add(Dense::new(1)),
            SeedModel::OneRelu => s
                .add(Dense::new(100).input_dim(2))
                .add(Dense::new(50))
                .add(Dense::new(50))
                .add(Dense::new(10).activation(Activation::Relu))
                .add(Dense::new(1)),
        };
        s.build(store, seed)
    }
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
    /// A progress bar.
    pub verbose: bool,
    /// The optimizer every model starts from (the post: Keras' `RMSprop()`).
    pub rmsprop: RmsProp<f32>,
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
            rmsprop: RmsProp::keras(),
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
    /// What `fit` returned.
    pub history: History,
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
    /// The results file could not be written.
    #[error(transparent)]
    File(#[from] borel::nn::FileError),
    /// The output folder could not be made.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> SeedError + '_ {
    move |source| SeedError::Io {
        path: path.into(),
        source,
    }
}

/// Trains the chosen models on the seed surface, writes `results.json` and the SVG plots into
/// `config.out`, and returns the numbers.
pub fn run(config: &SeedConfig) -> Result<SeedResults, SeedError> {
    std::fs::create_dir_all(&config.out).map_err(io_error(&config.out))?;
    let (x_raw, y) = samples::<f32>(config.samples, 1, 10);
    let scaler = GlobalStandardizer::fit(&x_raw);
    let x = scaler.transform(&x_raw);
    let ols_sse = least_squares_sse(&x, &y);
    let surfaces = Surfaces::new(&config.out, &scaler)?;
    let mut runs = Vec::new();
    for &m in &config.models {
        let mut store = ParamStore::new();
        let net = m.build(&mut store, config.seed);
        let params = store.num_params();
        let mut model = Model::new(net, store);
        model.compile(Loss::Mse, config.rmsprop.clone());
        let opts = FitOptions::new()
            .epochs(config.epochs)
            .batch_size(64)
            .seed(config.seed)
            .verbose(u8::from(config.verbose));
        let started = Instant::now();
        let history = model.fit(&x, &y, opts)?;
        let train_seconds = started.elapsed().as_secs_f64();
        let y_hat = model.predict(&x)?;
        let sse: f64 = y
            .data()
            .iter()
            .zip(y_hat.data())
            .map(|(&a, &b)| (a as f64 - b as f64).powi(2))
            .sum();
        let name = m.name();
        let title = format!("{name} model: y (red) and y_hat (green), SSE {}", thousands(sse, 1));
        target_vs_prediction(
            config.out.join(format!("{name}_fit.svg")),
            y.data(),
            y_hat.data(),
            Labels::new(&title, "sample index", "y"),
        )?;
        surfaces.learned(name, &model)?;
        runs.push(SeedRun {
            model: m,
            params,
            epochs: config.epochs,
            sse,
            mse: sse / config.samples as f64,
            train_seconds,
            history,
        });
    }
    let curves: Vec<(&str, &History)> = runs.iter().map(|r| (r.model.name(), &r.history)).collect();
    let labels = Labels::new(
        "training loss per epoch (RMSprop, batch 64)",
        "epoch",
        "training loss (mse)",
    );
    loss_curves(config.out.join("loss_curves.svg"), &curves, labels)?;
    let results = SeedResults {
        samples: config.samples,
        ols_sse,
        runs,
    };
    let json = config.out.join("results.json");
    borel::autograd::io::write_atomically(&json, results.json().as_bytes())?;
    Ok(results)
}

/// The target and learned surfaces, drawn over one square of raw inputs on the target's
/// colour scale, so that the maps can be compared by eye.
struct Surfaces<'a> {
    out: &'a Path,
    grid: HeatGrid,
    /// The grid's points, standardized as the training inputs were.
    inputs: Tensor<f32>,
}

impl<'a> Surfaces<'a> {
    /// Draws the target surface and keeps its scale for the learned ones.
    fn new(out: &'a Path, scaler: &GlobalStandardizer) -> Result<Self, PlotError> {
        let mut grid = HeatGrid::new(48, 48, (-5.0, 5.0), (-2.5, 2.5));
        let values = grid.eval(target);
        let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        grid.scale = Some((lo, hi));
        let labels = Labels::new("target surface y(x1, x2)", "x1", "x2");
        heat_map(out.join("surface_target.svg"), &values, &grid, labels)?;
        let inputs = scaler.transform(&grid.points::<f32>());
        Ok(Surfaces { out, grid, inputs })
    }

    fn learned(&self, name: &str, model: &Model<f32, Sequential<f32>>) -> Result<(), SeedError> {
        let values = model.predict(&self.inputs)?;
        let title = format!("{name} model: learned surface");
        let path = self.out.join(format!("surface_{name}.svg"));
        heat_map(path, values.data(), &self.grid, Labels::new(&title, "x1", "x2"))?;
        Ok(())
    }
}
