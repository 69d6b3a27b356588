//! Normalization layers: [`BatchNorm`] (PyTorch's `nn.BatchNorm1d`, Keras'
//! `BatchNormalization`) and [`LayerNorm`] (`nn.LayerNorm` over the last axis, Keras'
//! `LayerNormalization`).
//!
//! Their forward code is written with the tape's differentiable ops (mean, subtraction,
//! square root, division), so their gradients exist to any order.
//!
//! Parameters are stored under Keras' names (`gamma`, `beta`, `moving_mean`,
//! `moving_variance`) plus PyTorch's `num_batches_tracked`; the PyTorch weight-file layout
//! gives them PyTorch's names (`weight`, `bias`, `running_mean`, `running_var`,
//! `num_batches_tracked`) with the same shapes, so a `state_dict` maps one to one.

use borel_autograd::{Float, ParamId, Tensor, Var};

use crate::init::Init;
use crate::layers::{LayerSpec, Module, ParamNames};
use crate::param::{ForwardPass, ParamBuilder};

mod layer_norm;

pub use layer_norm::{LayerNorm, LayerNormModule};

/// The normalization layers' parameter and buffer names, in the store and in PyTorch's files.
pub(crate) const NORM_PARAM_NAMES: [ParamNames; 5] = [
    names("gamma", "weight"),
    names("beta", "bias"),
    names("moving_mean", "running_mean"),
    names("moving_variance", "running_var"),
    names("num_batches_tracked", "num_batches_tracked"),
];

const fn names(store: &'static str, pytorch: &'static str) -> ParamNames {
    ParamNames {
        store,
        pytorch,
        transposed_in_pytorch: false,
    }
}

/// `(x - mean) / sqrt(var + eps)` over `axes` (kept), and the batch mean and biased variance
/// it used: the one normalization both layers share.
fn normalize<'t, F: Float>(x: Var<'t, F>, axes: &[isize], eps: f64) -> (Var<'t, F>, Var<'t, F>, Var<'t, F>) {
    let mean = x.mean_axes(axes, true);
    let centered = x - mean;
    let var = centered.square().mean_axes(axes, true);
    (centered / (var + F::from_f64(eps)).sqrt(), mean, var)
}

/// Scales by `gamma` and shifts by `beta` where present.
fn affine<'t, F: Float>(y: Var<'t, F>, gamma: Option<Var<'t, F>>, beta: Option<Var<'t, F>>) -> Var<'t, F> {
    let y = gamma.map_or(y, |g| y * g);
    beta.map_or(y, |b| y + b)
}

/// How the running statistics follow the batches.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Average {
    /// `running = (1 - w) running + w batch`: PyTorch's `momentum` is `w`, Keras' is `1 - w`.
    Exponential(f64),
    /// The plain average of every batch so far (PyTorch's `momentum=None`).
    Cumulative,
}

/// Batch normalization over the features of `[batch, features]` (or `[batch, features,
/// length]`) data, as PyTorch's `nn.BatchNorm1d` and Keras' `BatchNormalization`: in training
/// each feature is normalized with the batch's mean and biased variance and the running
/// statistics are updated; in inference the running statistics are used. A learned scale
/// (`gamma`, PyTorch's `weight`, ones) and shift (`beta`, `bias`, zeros) follow.
///
/// The two references differ in three settings; each preset takes its reference's:
///
/// | | [`BatchNorm::pytorch`] | [`BatchNorm::keras`] (and `new`) |
/// |---|---|---|
/// | epsilon | 1e-5 | 1e-3 |
/// | momentum | 0.1 = weight of the **new** batch statistic | 0.99 = weight of the **old** running value |
/// | running variance from | the unbiased batch variance (`n / (n - 1)`) | the biased one |
///
/// Both update `running = (1 - w) running + w batch` with the same `w` = 0.1 by default;
/// [`BatchNorm::pytorch_momentum`] sets `w`, [`BatchNorm::keras_momentum`] sets `1 - w`.
/// Normalization itself always uses the biased batch variance.
///
/// The running statistics are non-trainable parameters (counted as Keras counts them:
/// `4 * features` in all, `2 * features` non-trainable), set by training passes and written
/// to the store by the optimizer's update; they are saved and loaded with the weights.
///
/// ```
/// use borel_autograd::Tensor;
/// use borel_nn::{BatchNorm, Dense, Module, ParamStore, Sequential};
/// let mut store = ParamStore::<f32>::new();
/// let net = Sequential::new()
///     .add(Dense::new(4).input_dim(2))
///     .add(BatchNorm::pytorch())
///     .add(Dense::new(1))
///     .build(&mut store, 0);
/// assert!(net.summary(&store).contains("Non-trainable params: 8"));
/// let y = net.predict(&store, &Tensor::ones(&[3, 2])); // inference: running statistics
/// assert_eq!(y.shape(), &[3, 1]);
/// ```
#[derive(Clone, Debug)]
pub struct BatchNorm {
    eps: f64,
    average: Average,
    unbiased_running_var: bool,
    affine: bool,
}

impl BatchNorm {
    /// Keras' defaults ([`BatchNorm::keras`]), as [`crate::Dense::new`] takes Keras'.
    pub fn new() -> Self {
        Self::keras()
    }

    /// PyTorch's `nn.BatchNorm1d` defaults: `eps=1e-5`, `momentum=0.1` (weight of the new
    /// batch statistic), running variance from the unbiased batch variance.
    ///
    /// ```
    /// use borel_nn::BatchNorm;
    /// let bn = BatchNorm::pytorch().pytorch_momentum(0.01).eps(1e-3);
    /// # let _ = bn;
    /// ```
    pub fn pytorch() -> Self {
        BatchNorm {
            eps: 1e-5,
            average: Average::Exponential(0.1),
            unbiased_running_var: true,
            affine: true,
        }
    }

    /// Keras' `BatchNormalization` defaults: `epsilon=1e-3`, `momentum=0.99` (weight of the
    /// old running value), running variance from the biased batch variance.
    ///
    /// ```
    /// use borel_nn::BatchNorm;
    /// let bn = BatchNorm::keras().keras_momentum(0.9);
    /// # let _ = bn;
    /// ```
    pub fn keras() -> Self {
        BatchNorm {
            eps: 1e-3,
            average: Average::Exponential(0.01),
            unbiased_running_var: false,
            affine: true,
        }
    }

    /// Epsilon, added to the variance under the square root.
    #[track_caller]
    pub fn eps(mut self, eps: f64) -> Self {
        assert!(
            eps >= 0.0 && eps.is_finite(),
            "BatchNorm::eps: {eps} is not finite and >= 0"
        );
        self.eps = eps;
        self
    }

    /// PyTorch's meaning of momentum: the weight `m` of the new batch statistic,
    /// `running = (1 - m) running + m batch`.
    #[track_caller]
    pub fn pytorch_momentum(mut self, m: f64) -> Self {
        assert!(
            (0.0..=1.0).contains(&m),
            "BatchNorm::pytorch_momentum: {m} is outside [0, 1]"
        );
        self.average = Average::Exponential(m);
        self
    }

    /// Keras' meaning of momentum: the weight `m` of the old running value,
    /// `running = m running + (1 - m) batch`.
    #[track_caller]
    pub fn keras_momentum(mut self, m: f64) -> Self {
        assert!(
            (0.0..=1.0).contains(&m),
            "BatchNorm::keras_momentum: {m} is outside [0, 1]"
        );
        self.average = Average::Exponential(1.0 - m);
        self
    }

    /// The running statistics as the plain average over every batch seen (PyTorch's
    /// `momentum=None`, which uses `num_batches_tracked`).
    pub fn cumulative_average(mut self) -> Self {
        self.average = Average::Cumulative;
        self
    }

    /// Whether the running variance follows the unbiased batch variance (PyTorch) or the
    /// biased one (Keras).
    pub fn unbiased_running_var(mut self, yes: bool) -> Self {
        self.unbiased_running_var = yes;
        self
    }

    /// Whether to learn a scale and a shift (PyTorch's `affine`, Keras' `scale` and
    /// `center`; default true).
    pub fn affine(mut self, yes: bool) -> Self {
        self.affine = yes;
        self
    }

    /// Builds the layer for `features` features with parameters and buffers under
    /// `name.` in `b`: for a user's own module.
    ///
    /// ```
    /// use borel_autograd::{Tape, Tensor};
    /// use borel_nn::{BatchNorm, ForwardPass, Module, ParamBuilder, ParamStore};
    /// let mut store = ParamStore::<f64>::new();
    /// let bn = BatchNorm::pytorch().build(&mut ParamBuilder::new(&mut store, 0), "bn", 2);
    /// let tape = Tape::new();
    /// let fw = ForwardPass::train(&tape, &store);
    /// let x = Tensor::from_vec(vec![1.0, 10.0, 3.0, 30.0], &[2, 2]);
    /// let y = bn.forward(&fw, tape.constant(x));
    /// store.apply_buffers(&fw.backward(y.square().sum()));
    /// let running_mean = store.get(bn.running_mean()).data().to_vec(); // 0.9 * 0 + 0.1 * [2, 20]
    /// assert!((running_mean[0] - 0.2).abs() < 1e-12 && (running_mean[1] - 2.0).abs() < 1e-12);
    /// ```
    pub fn build<F: Float>(&self, b: &mut ParamBuilder<'_, F>, name: &str, features: usize) -> BatchNormModule {
        self.build_here(&mut b.sub(name), features)
    }

    fn build_here<F: Float>(&self, b: &mut ParamBuilder<'_, F>, features: usize) -> BatchNormModule {
        let [gamma, beta, mean, var, count] = NORM_PARAM_NAMES.map(|n| n.store);
        let (gamma, beta) = match self.affine {
            true => (
                Some(b.param(gamma, &[features], Init::Ones)),
                Some(b.param(beta, &[features], Init::Zeros)),
            ),
            false => (None, None),
        };
        BatchNormModule {
            spec: self.clone(),
            gamma,
            beta,
            running_mean: b.buffer(mean, Tensor::zeros(&[features]), true),
            running_var: b.buffer(var, Tensor::ones(&[features]), true),
            num_batches_tracked: b.buffer(count, Tensor::zeros(&[]), false),
            features,
        }
    }
}

impl Default for BatchNorm {
    fn default() -> Self {
        Self::new()
    }
}

/// A built batch normalization: the [`Module`] that [`BatchNorm`] builds.
#[derive(Clone, Debug)]
pub struct BatchNormModule {
    spec: BatchNorm,
    gamma: Option<ParamId>,
    beta: Option<ParamId>,
    running_mean: ParamId,
    running_var: ParamId,
    num_batches_tracked: ParamId,
    features: usize,
}

impl BatchNormModule {
    /// The scale `[features]` (PyTorch's `weight`), if affine.
    pub fn gamma(&self) -> Option<ParamId> {
        self.gamma
    }
    /// The shift `[features]` (PyTorch's `bias`), if affine.
    pub fn beta(&self) -> Option<ParamId> {
        self.beta
    }
    /// The running mean `[features]` (Keras' `moving_mean`).
    pub fn running_mean(&self) -> ParamId {
        self.running_mean
    }
    /// The running variance `[features]` (Keras' `moving_variance`).
    pub fn running_var(&self) -> ParamId {
        self.running_var
    }
    /// The number of training batches seen, a scalar not counted as a parameter.
    pub fn num_batches_tracked(&self) -> ParamId {
        self.num_batches_tracked
    }

    /// The axes normalized over and the shape the per-feature values take to broadcast.
    #[track_caller]
    fn layout(&self, shape: &[usize]) -> (&'static [isize], Vec<usize>) {
        let c = self.features;
        match shape {
            [_, n] if *n == c => (&[0], vec![c]),
            [_, n, _] if *n == c => (&[0, 2], vec![c, 1]),
            _ => panic!("BatchNorm: input of shape {shape:?}; expected [batch, {c}] or [batch, {c}, length]"),
        }
    }

    /// Sets the running statistics from a training batch's mean and biased variance over
    /// `count` values per feature.
    fn update_running<F: Float>(&self, fw: &ForwardPass<'_, F>, mean: &Tensor<F>, var: &Tensor<F>, count: usize) {
        let batches = fw.buffer(self.num_batches_tracked).item().to_f64() + 1.0;
        let w = match self.spec.average {
            Average::Exponential(w) => w,
            Average::Cumulative => 1.0 / batches,
        };
        let correction = match self.spec.unbiased_running_var {
            true => count as f64 / (count - 1) as f64,
            false => 1.0,
        };
        let blend = |id: ParamId, batch: &Tensor<F>, scale: f64| {
            let old = fw.buffer(id);
            let new = Tensor::from_fn(old.shape(), |i| {
                let (o, b) = (old.data()[i].to_f64(), batch.data()[i].to_f64() * scale);
                F::from_f64((1.0 - w) * o + w * b)
            });
            fw.set_buffer(id, new);
        };
        blend(self.running_mean, mean, 1.0);
        blend(self.running_var, var, correction);
        fw.set_buffer(self.num_batches_tracked, Tensor::scalar(F::from_f64(batches)));
    }
}

impl<F: Float> Module<F> for BatchNormModule {
    #[track_caller]
    fn forward<'t>(&self, fw: &ForwardPass<'t, F>, x: Var<'t, F>) -> Var<'t, F> {
        let shape = x.shape();
        let (axes, per_feature) = self.layout(&shape);
        let per = |id: ParamId| fw.param(id).reshape(&per_feature);
        let (gamma, beta) = (self.gamma.map(per), self.beta.map(per));
        if !fw.training() {
            let (mean, var) = (per(self.running_mean), per(self.running_var));
            let y = (x - mean) / (var + F::from_f64(self.spec.eps)).sqrt();
            return affine(y, gamma, beta);
        }
        let count = shape.iter().product::<usize>() / self.features;
        assert!(
            count > 1,
            "BatchNorm: expected more than 1 value per feature in training, got input of shape {:?}",
            shape.as_slice()
        );
        let (y, mean, var) = normalize(x, axes, self.spec.eps);
        let flat = |v: Var<'t, F>| v.value().reshape(&[self.features]);
        self.update_running(fw, &flat(mean), &flat(var), count);
        affine(y, gamma, beta)
    }

    fn input_features(&self) -> Option<usize> {
        Some(self.features)
    }

    fn params(&self) -> Vec<ParamId> {
        let buffers = [self.running_mean, self.running_var, self.num_batches_tracked];
        self.gamma.into_iter().chain(self.beta).chain(buffers).collect()
    }
}

impl<F: Float> LayerSpec<F> for BatchNorm {
    fn kind(&self) -> &'static str {
        "BatchNormalization"
    }
    fn out_features(&self, in_features: usize) -> usize {
        in_features
    }
    fn build_module(&self, b: &mut ParamBuilder<'_, F>, in_features: usize) -> Box<dyn Module<F> + Send + Sync> {
        Box::new(self.build_here(b, in_features))
    }
}
