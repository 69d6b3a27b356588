//! The [`Module`] trait and the layers: [`Dense`], [`Dropout`], [`ActivationLayer`].

use borel_autograd::{DenseAct, Float, ParamId, ParamStore, Tape, Tensor, Var};

use crate::activation::Activation;
use crate::init::{Init, InitPreset};
use crate::param::{ForwardPass, ParamBuilder};

/// A piece of forward code with parameters in a [`ParamStore`]. The float type `F` defaults to
/// `f32` (PyTorch's default dtype), as it does for [`ForwardPass`], `Var` and `Tensor`: `impl
/// Module for Net` with `ForwardPass<'t>` and `Var<'t>` is the `f32` module.
///
/// ```
/// use borel_autograd::{ParamId, ParamStore, Tensor, Var};
/// use borel_nn::{Dense, DenseModule, ForwardPass, Init, Module, ParamBuilder};
/// // A user's own module: a dense layer plus a learned scalar gate on a skip connection.
/// struct Gated { dense: DenseModule, gate: ParamId }
/// impl Module for Gated {
///     fn forward<'t>(&self, fw: &ForwardPass<'t>, x: Var<'t>) -> Var<'t> {
///         self.dense.forward(fw, x).tanh() + x * fw.param(self.gate)
///     }
///     fn params(&self) -> Vec<ParamId> {
///         [self.dense.params(), vec![self.gate]].concat()
///     }
/// }
/// let mut store = ParamStore::new();
/// let mut b = ParamBuilder::new(&mut store, 0);
/// let m = Gated { dense: Dense::new(2).build(&mut b, "dense", 2), gate: b.param("gate", &[1], Init::Ones) };
/// let y = m.predict(&store, &Tensor::ones(&[5, 2]));
/// assert_eq!(y.shape(), &[5, 2]);
/// ```
pub trait Module<F: Float = f32> {
    /// The forward pass on the pass's tape. A panic inside it (a programming error: shapes
    /// that do not fit) is reported at the line that called `forward` (or `predict`, or
    /// `Model::fit`), in every implementation.
    #[track_caller]
    fn forward<'t>(&self, fw: &ForwardPass<'t, F>, x: Var<'t, F>) -> Var<'t, F>;

    /// Features per sample the module takes, when it knows (so that data of the wrong width
    /// can be refused with an error before the forward pass would panic).
    fn input_features(&self) -> Option<usize> {
        None
    }

    /// Every parameter the module reads (its layers' and its own): a model refuses a store
    /// that lacks one, and `summary()` counts them. A module without parameters returns an
    /// empty list.
    fn params(&self) -> Vec<ParamId>;

    /// Inference on a tensor in one call: an eval-mode pass over `store`, nothing recorded.
    #[track_caller]
    fn predict(&self, store: &ParamStore<F>, x: &Tensor<F>) -> Tensor<F> {
        let tape = Tape::new();
        tape.set_grad_enabled(false);
        let fw = ForwardPass::eval(&tape, store);
        self.forward(&fw, tape.constant(x.clone())).value()
    }
}

/// The specification of a layer of a [`crate::Sequential`] (Keras' `Layer` before it is
/// built): its configuration, built into a [`Module`] once its input size is known. [`Dense`]
/// is a spec, [`DenseModule`] what it builds. Implement it to put your own layer in a
/// `Sequential`; use [`Module`] alone for forward code in your own structs.
///
/// ```
/// use borel_autograd::{Float, ParamId, ParamStore, Var};
/// use borel_nn::{Dense, ForwardPass, LayerSpec, Module, ParamBuilder, Sequential};
/// /// Doubles its input: no parameters, same width out.
/// #[derive(Clone)]
/// struct Double;
/// impl<F: Float> Module<F> for Double {
///     fn forward<'t>(&self, _fw: &ForwardPass<'t, F>, x: Var<'t, F>) -> Var<'t, F> {
///         x * F::from_f64(2.0)
///     }
///     fn params(&self) -> Vec<ParamId> {
///         Vec::new()
///     }
/// }
/// impl<F: Float> LayerSpec<F> for Double {
///     fn kind(&self) -> &'static str {
///         "Double"
///     }
///     fn out_features(&self, n: usize) -> usize {
///         n
///     }
///     fn build_module(&self, _b: &mut ParamBuilder<'_, F>, _n: usize) -> Box<dyn Module<F> + Send + Sync> {
///         Box::new(self.clone())
///     }
/// }
/// let mut store = ParamStore::<f32>::new();
/// let net = Sequential::new().add(Dense::new(3).input_dim(2)).add(Double).build(&mut store, 0);
/// assert!(net.summary(&store).contains("double (Double)"));
/// ```
pub trait LayerSpec<F: Float = f32> {
    /// The layer's type, as `summary()` shows it (`Dense`, `Dropout`); its lower-case form
    /// names the layers (`dense`, `dense_1`).
    fn kind(&self) -> &'static str;
    /// The input size, if the configuration fixes it (Keras' `input_dim`).
    fn input_dim(&self) -> Option<usize> {
        None
    }
    /// The number of features out, given the number in.
    fn out_features(&self, in_features: usize) -> usize;
    /// Registers the parameters under `b` (already prefixed) and returns the built module.
    fn build_module(&self, b: &mut ParamBuilder<'_, F>, in_features: usize) -> Box<dyn Module<F> + Send + Sync>;
}

/// The specification of a densely connected layer, `activation(x W + b)`, with Keras'
/// semantics and defaults: linear activation, Glorot-uniform kernel `[in, units]`, zero
/// bias. [`Dense::build`] (or a [`crate::Sequential`]) makes the [`DenseModule`].
///
/// ```
/// use borel_nn::{Activation, ParamBuilder, Dense, Init, ParamStore};
/// let mut store = ParamStore::<f32>::new();
/// let spec = Dense::new(20).activation(Activation::Sigmoid).kernel_init(Init::HeNormal);
/// let layer = spec.build(&mut ParamBuilder::new(&mut store, 42), "hidden", 2);
/// assert_eq!(store.get(layer.kernel()).shape(), &[2, 20]);
/// ```
#[derive(Clone, Debug)]
pub struct Dense {
    units: usize,
    activation: Activation,
    use_bias: bool,
    /// Set by `kernel_init`/`bias_init`: wins over any preset.
    kernel_init: Option<Init>,
    bias_init: Option<Init>,
    /// Set by `init`: wins over the builder's preset.
    preset: Option<InitPreset>,
    input_dim: Option<usize>,
}

impl Dense {
    /// `units` outputs, with Keras' defaults for everything else. Panics at the caller's line
    /// when `units` is 0, as Keras refuses it: a layer with no outputs cuts the model off.
    #[track_caller]
    pub fn new(units: usize) -> Self {
        assert!(units > 0, "Dense::new: units must be a positive integer, got {units}");
        Dense {
            units,
            activation: Activation::Linear,
            use_bias: true,
            kernel_init: None,
            bias_init: None,
            preset: None,
            input_dim: None,
        }
    }

    /// The activation (from a Keras name: `"sigmoid".parse()?`).
    pub fn activation(mut self, a: Activation) -> Self {
        self.activation = a;
        self
    }

    /// Whether to add a bias (default true).
    pub fn use_bias(mut self, yes: bool) -> Self {
        self.use_bias = yes;
        self
    }

    /// The kernel's initializer (default Glorot uniform, Keras' preset).
    pub fn kernel_init(mut self, init: Init) -> Self {
        self.kernel_init = Some(init);
        self
    }

    /// The bias' initializer (default zeros, Keras' preset).
    pub fn bias_init(mut self, init: Init) -> Self {
        self.bias_init = Some(init);
        self
    }

    /// Initializes the kernel and the bias as `preset`'s framework does (PyTorch's
    /// `nn.Linear` or Keras' `Dense`), unless `kernel_init`/`bias_init` say otherwise.
    ///
    /// ```
    /// use borel_nn::{Dense, InitPreset, ParamBuilder, ParamStore};
    /// let mut store = ParamStore::<f32>::new();
    /// let spec = Dense::new(3).init(InitPreset::PyTorch);
    /// let layer = spec.build(&mut ParamBuilder::new(&mut store, 0), "fc", 4);
    /// assert!(store.get(layer.bias().unwrap()).data().iter().all(|b| b.abs() <= 0.5));
    /// ```
    pub fn init(mut self, preset: InitPreset) -> Self {
        self.preset = Some(preset);
        self
    }

    /// The input size, for a first layer (Keras' `input_dim`).
    pub fn input_dim(mut self, n: usize) -> Self {
        self.input_dim = Some(n);
        self
    }

    /// Builds the layer with parameters `name.kernel` and `name.bias` under `b`.
    pub fn build<F: Float>(&self, b: &mut ParamBuilder<'_, F>, name: &str, in_features: usize) -> DenseModule {
        self.build_here(&mut b.sub(name), in_features)
    }

    /// Its parameters' names, in the store and in each weight-file layout: the kernel
    /// `[in, units]` is PyTorch's `nn.Linear` weight `[units, in]`.
    pub(crate) const PARAM_NAMES: [ParamNames; 2] = [
        ParamNames {
            store: "kernel",
            pytorch: "weight",
            transposed_in_pytorch: true,
        },
        ParamNames {
            store: "bias",
            pytorch: "bias",
            transposed_in_pytorch: false,
        },
    ];

    /// Builds the layer with parameters `kernel` and `bias` directly under `b`'s prefix.
    fn build_here<F: Float>(&self, b: &mut ParamBuilder<'_, F>, in_features: usize) -> DenseModule {
        let [kernel, bias] = Self::PARAM_NAMES.map(|n| n.store);
        let (preset_kernel, preset_bias) = self.preset.unwrap_or(b.preset()).dense(in_features);
        let kernel_init = self.kernel_init.unwrap_or(preset_kernel);
        let kernel = b.param(kernel, &[in_features, self.units], kernel_init);
        let bias_init = self.bias_init.unwrap_or(preset_bias);
        let bias = self.use_bias.then(|| b.param(bias, &[self.units], bias_init));
        DenseModule {
            name: b.prefix().trim_end_matches('.').to_string(),
            kernel,
            bias,
            activation: self.activation,
        }
    }
}

/// A parameter's name under its layer's prefix, in the store (and Borel's weight files) and
/// in PyTorch's, and whether PyTorch keeps it transposed (a matrix).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ParamNames {
    pub store: &'static str,
    pub pytorch: &'static str,
    pub transposed_in_pytorch: bool,
}

/// A built dense layer: the [`Module`] that [`Dense`] builds, holding its parameters' ids.
#[derive(Clone, Debug)]
pub struct DenseModule {
    /// The prefix of its parameters' names (`hidden`, `0`): what errors call it.
    name: String,
    kernel: ParamId,
    bias: Option<ParamId>,
    activation: Activation,
}

impl DenseModule {
    /// The kernel `[in, units]`.
    pub fn kernel(&self) -> ParamId {
        self.kernel
    }
    /// The bias `[units]`, if any.
    pub fn bias(&self) -> Option<ParamId> {
        self.bias
    }
    /// The activation.
    pub fn activation(&self) -> Activation {
        self.activation
    }
    /// Its parameters: the kernel, then the bias if any.
    pub fn params(&self) -> Vec<ParamId> {
        std::iter::once(self.kernel).chain(self.bias).collect()
    }
}

impl<F: Float> Module<F> for DenseModule {
    fn forward<'t>(&self, fw: &ForwardPass<'t, F>, x: Var<'t, F>) -> Var<'t, F> {
        let (w, b) = (fw.param(self.kernel), self.bias.map(|b| fw.param(b)));
        let (x_shape, w_shape) = (x.shape(), w.shape());
        if x_shape.last() != w_shape.first() {
            panic!(
                "Dense layer `{}`: its kernel {:?} takes inputs of {} features, got shape {:?}",
                self.name,
                w_shape.as_slice(),
                w_shape[0],
                x_shape.as_slice()
            );
        }
        if let Some(act) = self.activation.fused() {
            return x.dense(w, b, act);
        }
        let y = x.dense(w, b, DenseAct::Linear);
        self.activation.apply(y)
    }
    fn params(&self) -> Vec<ParamId> {
        DenseModule::params(self)
    }
}

impl<F: Float> LayerSpec<F> for Dense {
    fn kind(&self) -> &'static str {
        "Dense"
    }
    fn input_dim(&self) -> Option<usize> {
        self.input_dim
    }
    fn out_features(&self, _in_features: usize) -> usize {
        self.units
    }
    fn build_module(&self, b: &mut ParamBuilder<'_, F>, in_features: usize) -> Box<dyn Module<F> + Send + Sync> {
        Box::new(self.build_here(b, in_features))
    }
}

/// Zeroes each element with probability `rate` in training, scaling the rest by
/// `1 / (1 - rate)`; the identity in inference. Masks come from the context's seeded
/// generator.
///
/// ```
/// use borel_autograd::{Tape, Tensor};
/// use borel_nn::{Dropout, ForwardPass, Module, ParamStore};
/// let store = ParamStore::<f32>::new();
/// let tape = Tape::new();
/// let x = tape.constant(Tensor::ones(&[1000]));
/// let train = Dropout::new(0.2).forward(&ForwardPass::train(&tape, &store), x).value();
/// let kept = train.data().iter().filter(|v| **v != 0.0).count();
/// assert!((700..900).contains(&kept));
/// let eval = Dropout::new(0.2).forward(&ForwardPass::eval(&tape, &store), x).value();
/// assert_eq!(eval.data(), x.value().data());
/// ```
#[derive(Clone, Debug)]
pub struct Dropout {
    rate: f64,
}

impl Dropout {
    /// Drops with probability `rate` in `[0, 1)`.
    #[track_caller]
    pub fn new(rate: f64) -> Self {
        assert!((0.0..1.0).contains(&rate), "Dropout: rate {rate} is outside [0, 1)");
        Dropout { rate }
    }
}

impl<F: Float> Module<F> for Dropout {
    fn forward<'t>(&self, fw: &ForwardPass<'t, F>, x: Var<'t, F>) -> Var<'t, F> {
        if !fw.training() || self.rate == 0.0 {
            return x;
        }
        let keep = 1.0 - self.rate;
        let scale = F::from_f64(1.0 / keep);
        let mask = fw.with_rng(|rng| {
            Tensor::from_fn(&x.shape(), |_| {
                if rand::RngExt::random::<f64>(rng) < keep {
                    scale
                } else {
                    F::ZERO
                }
            })
        });
        x * fw.tape().constant(mask)
    }
    fn params(&self) -> Vec<ParamId> {
        Vec::new()
    }
}

impl<F: Float> LayerSpec<F> for Dropout {
    fn kind(&self) -> &'static str {
        "Dropout"
    }
    fn out_features(&self, in_features: usize) -> usize {
        in_features
    }
    fn build_module(&self, _b: &mut ParamBuilder<'_, F>, _in: usize) -> Box<dyn Module<F> + Send + Sync> {
        Box::new(self.clone())
    }
}

/// An activation as a layer (Keras' `Activation("relu")`).
#[derive(Clone, Debug)]
pub struct ActivationLayer {
    activation: Activation,
}

impl ActivationLayer {
    /// The layer applying `a`.
    pub fn new(a: Activation) -> Self {
        ActivationLayer { activation: a }
    }
}

impl<F: Float> Module<F> for ActivationLayer {
    fn forward<'t>(&self, _fw: &ForwardPass<'t, F>, x: Var<'t, F>) -> Var<'t, F> {
        self.activation.apply(x)
    }
    fn params(&self) -> Vec<ParamId> {
        Vec::new()
    }
}

impl<F: Float> LayerSpec<F> for ActivationLayer {
    fn kind(&self) -> &'static str {
        "Activation"
    }
    fn out_features(&self, in_features: usize) -> usize {
        in_features
    }
    fn build_module(&self, _b: &mut ParamBuilder<'_, F>, _in: usize) -> Box<dyn Module<F> + Send + Sync> {
        Box::new(self.clone())
    }
}
