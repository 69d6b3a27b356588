//! Weight initializers, with Keras' definitions of fans and of the truncated normal.

use borel_autograd::{Float, Tensor};
use rand::{Rng, RngExt};
use rand_distr::{Distribution, StandardNormal};

/// How a parameter's first values are drawn. Fans follow Keras: a kernel `[fan_in, fan_out]`;
/// a vector of `n` has `fan_in = fan_out = n`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Init {
    /// `U(-l, l)`, `l = sqrt(6 / (fan_in + fan_out))`: Keras' default kernel initializer.
    GlorotUniform,
    /// Truncated normal (at 2 std) with std `sqrt(2 / (fan_in + fan_out))`.
    GlorotNormal,
    /// `U(-l, l)`, `l = sqrt(6 / fan_in)`.
    HeUniform,
    /// Truncated normal with std `sqrt(2 / fan_in)`.
    HeNormal,
    /// Truncated normal with std `sqrt(1 / fan_in)`.
    LecunNormal,
    /// All zeros: Keras' default bias initializer.
    Zeros,
    /// All ones.
    Ones,
    /// Every element equal to the value.
    Constant(f64),
    /// `U(low, high)`.
    Uniform(f64, f64),
    /// `N(mean, std^2)`.
    Normal(f64, f64),
}

/// Keras scales the truncated normal's std by this, the std of a standard normal truncated
/// at two standard deviations, so the result has the intended variance.
const TRUNC_STD: f64 = 0.879_625_661_034_239_8;

fn fans(shape: &[usize]) -> (f64, f64) {
    match shape {
        [] => (1.0, 1.0),
        [n] => (*n as f64, *n as f64),
        [i, o] => (*i as f64, *o as f64),
        s => {
            let receptive: usize = s[..s.len() - 2].iter().product();
            ((s[s.len() - 2] * receptive) as f64, (s[s.len() - 1] * receptive) as f64)
        }
    }
}

fn truncated<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    loop {
        let z: f64 = StandardNormal.sample(rng);
        if z.abs() <= 2.0 {
            return z;
        }
    }
}

impl Init {
    /// Draws a tensor of `shape`.
    ///
    /// ```
    /// use borel_nn::Init;
    /// use rand::SeedableRng;
    /// let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    /// let w = Init::GlorotUniform.sample::<f32, _>(&[2, 100], &mut rng);
    /// let limit = (6.0f32 / 102.0).sqrt();
    /// assert!(w.data().iter().all(|v| v.abs() <= limit));
    /// ```
    pub fn sample<F: Float, R: Rng + ?Sized>(self, shape: &[usize], rng: &mut R) -> Tensor<F> {
        let (fan_in, fan_out) = fans(shape);
        let uniform = |l: f64, rng: &mut R| Tensor::from_fn(shape, |_| F::from_f64(rng.random_range(-l..l)));
        let trunc = |std: f64, rng: &mut R| Tensor::from_fn(shape, |_| F::from_f64(std / TRUNC_STD * truncated(rng)));
        match self {
            Init::GlorotUniform => uniform((6.0 / (fan_in + fan_out)).sqrt(), rng),
            Init::GlorotNormal => trunc((2.0 / (fan_in + fan_out)).sqrt(), rng),
            Init::HeUniform => uniform((6.0 / fan_in).sqrt(), rng),
            Init::HeNormal => trunc((2.0 / fan_in).sqrt(), rng),
            Init::LecunNormal => trunc((1.0 / fan_in).sqrt(), rng),
            Init::Zeros => Tensor::zeros(shape),
            Init::Ones => Tensor::ones(shape),
            Init::Constant(v) => Tensor::full(shape, F::from_f64(v)),
            Init::Uniform(lo, hi) => Tensor::rand_uniform(shape, lo, hi, rng),
            Init::Normal(m, s) => Tensor::rand_normal(shape, m, s, rng),
        }
    }
}

/// How a framework initialises its dense layer, for a whole model or one layer: a model ported
/// from PyTorch starts from the distribution it started from there.
///
/// - `Keras` (the default): Glorot-uniform kernel, zero bias (`Dense`'s defaults).
/// - `PyTorch`: `nn.Linear`'s `reset_parameters`: the weight from kaiming-uniform with
///   `a = sqrt(5)`, which is `U(-1/sqrt(fan_in), 1/sqrt(fan_in))`, and the bias from the same
///   `U(-1/sqrt(fan_in), 1/sqrt(fan_in))`.
///
/// Set it with [`crate::Dense::init`], [`crate::SequentialBuilder::init`] or
/// [`crate::ParamBuilder::init_preset`]; an initializer set on a layer by
/// [`crate::Dense::kernel_init`] or [`crate::Dense::bias_init`] wins over any preset.
///
/// ```
/// use borel_nn::{Dense, InitPreset, ParamStore, Sequential};
/// let mut store = ParamStore::<f32>::new();
/// let net = Sequential::new()
///     .add(Dense::new(64).input_dim(16))
///     .add(Dense::new(1))
///     .init(InitPreset::PyTorch)
///     .build(&mut store, 0);
/// let bound = 1.0 / 16f32.sqrt();
/// let bias = store.get(store.find("0.bias").unwrap());
/// assert!(bias.data().iter().all(|b| b.abs() <= bound) && bias.data().iter().any(|&b| b != 0.0));
/// # let _ = net;
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum InitPreset {
    /// Keras' `Dense`: Glorot-uniform kernel, zero bias.
    #[default]
    Keras,
    /// PyTorch's `nn.Linear`: kernel and bias uniform in `+-1/sqrt(fan_in)`.
    PyTorch,
}

impl InitPreset {
    /// The kernel's and the bias' initializers of a dense layer with `fan_in` inputs.
    pub fn dense(self, fan_in: usize) -> (Init, Init) {
        match self {
            InitPreset::Keras => (Init::GlorotUniform, Init::Zeros),
            InitPreset::PyTorch => {
                let bound = 1.0 / (fan_in.max(1) as f64).sqrt();
                (Init::Uniform(-bound, bound), Init::Uniform(-bound, bound))
            }
        }
    }
}
