//! [`LayerNorm`]: each sample normalized over its features.

use borel_autograd::{Float, ParamId, Var};

use super::{NORM_PARAM_NAMES, affine, normalize};
use crate::init::Init;
use crate::layers::{LayerSpec, Module};
use crate::param::{ForwardPass, ParamBuilder};

/// Layer normalization over the last axis, as PyTorch's `nn.LayerNorm(features)` and Keras'
/// `LayerNormalization()`: each sample is normalized with its own mean and biased variance
/// over its features, then scaled by `gamma` (PyTorch's `weight`, ones) and shifted by
/// `beta` (`bias`, zeros). Training and inference compute the same thing.
///
/// The references differ in epsilon only: 1e-5 in [`LayerNorm::pytorch`], 1e-3 in
/// [`LayerNorm::keras`] (and `new`).
///
/// ```
/// use borel_autograd::Tensor;
/// use borel_nn::{Dense, LayerNorm, Module, ParamStore, Sequential};
/// let mut store = ParamStore::<f64>::new();
/// let net = Sequential::new().add(Dense::new(4).input_dim(2)).add(LayerNorm::pytorch()).build(&mut store, 0);
/// assert!(net.summary(&store).contains("Trainable params: 20"));
/// let y = net.predict(&store, &Tensor::from_vec(vec![1.0, 2.0], &[1, 2]));
/// assert!(y.data().iter().sum::<f64>().abs() < 1e-9); // zero mean per sample
/// ```
#[derive(Clone, Debug)]
pub struct LayerNorm {
    eps: f64,
    affine: bool,
}

impl LayerNorm {
    /// Keras' defaults ([`LayerNorm::keras`]), as [`crate::Dense::new`] takes Keras'.
    pub fn new() -> Self {
        Self::keras()
    }

    /// PyTorch's `nn.LayerNorm` defaults: `eps=1e-5`, affine.
    ///
    /// ```
    /// let ln = borel_nn::LayerNorm::pytorch().eps(1e-6);
    /// # let _ = ln;
    /// ```
    pub fn pytorch() -> Self {
        LayerNorm {
            eps: 1e-5,
            affine: true,
        }
    }

    /// Keras' `LayerNormalization` defaults: `epsilon=1e-3`, scale and center.
    ///
    /// ```
    /// let ln = borel_nn::LayerNorm::keras().affine(false);
    /// # let _ = ln;
    /// ```
    pub fn keras() -> Self {
        LayerNorm {
            eps: 1e-3,
            affine: true,
        }
    }

    /// Epsilon, added to the variance under the square root.
    #[track_caller]
    pub fn eps(mut self, eps: f64) -> Self {
        assert!(
            eps >= 0.0 && eps.is_finite(),
            "LayerNorm::eps: {eps} is not finite and >= 0"
        );
        self.eps = eps;
        self
    }

    /// Whether to learn a scale and a shift (PyTorch's `elementwise_affine`, Keras' `scale`
    /// and `center`; default true).
    pub fn affine(mut self, yes: bool) -> Self {
        self.affine = yes;
        self
    }

    /// Builds the layer for `features` features with parameters under `name.` in `b`: for a
    /// user's own module.
    ///
    /// ```
    /// use borel_autograd::Tensor;
    /// use borel_nn::{LayerNorm, Module, ParamBuilder, ParamStore};
    /// let mut store = ParamStore::<f64>::new();
    /// let ln = LayerNorm::pytorch().build(&mut ParamBuilder::new(&mut store, 0), "ln", 2);
    /// let y = ln.predict(&store, &Tensor::from_vec(vec![1.0, 3.0], &[1, 2]));
    /// assert!((y.data()[1] - 1.0).abs() < 1e-5);
    /// ```
    pub fn build<F: Float>(&self, b: &mut ParamBuilder<'_, F>, name: &str, features: usize) -> LayerNormModule {
        self.build_here(&mut b.sub(name), features)
    }

    fn build_here<F: Float>(&self, b: &mut ParamBuilder<'_, F>, features: usize) -> LayerNormModule {
        let [gamma, beta, ..] = NORM_PARAM_NAMES.map(|n| n.store);
        let (gamma, beta) = match self.affine {
            true => (
                Some(b.param(gamma, &[features], Init::Ones)),
                Some(b.param(beta, &[features], Init::Zeros)),
            ),
            false => (None, None),
        };
        LayerNormModule {
            eps: self.eps,
            gamma,
            beta,
            features,
        }
    }
}

impl Default for LayerNorm {
    fn default() -> Self {
        Self::new()
    }
}

/// A built layer normalization: the [`Module`] that [`LayerNorm`] builds.
#[derive(Clone, Debug)]
pub struct LayerNormModule {
    eps: f64,
    gamma: Option<ParamId>,
    beta: Option<ParamId>,
    features: usize,
}

impl LayerNormModule {
    /// The scale `[features]` (PyTorch's `weight`), if affine.
    pub fn gamma(&self) -> Option<ParamId> {
        self.gamma
    }
    /// The shift `[features]` (PyTorch's `bias`), if affine.
    pub fn beta(&self) -> Option<ParamId> {
        self.beta
    }
}

impl<F: Float> Module<F> for LayerNormModule {
    #[track_caller]
    fn forward<'t>(&self, fw: &ForwardPass<'t, F>, x: Var<'t, F>) -> Var<'t, F> {
        let shape = x.shape();
        assert!(
            shape.last() == Some(&self.features),
            "LayerNorm: input of shape {:?}; expected {} features on the last axis",
            shape.as_slice(),
            self.features
        );
        let (y, _, _) = normalize(x, &[-1], self.eps);
        affine(y, self.gamma.map(|g| fw.param(g)), self.beta.map(|b| fw.param(b)))
    }

    fn input_features(&self) -> Option<usize> {
        Some(self.features)
    }

    fn params(&self) -> Vec<ParamId> {
        self.gamma.into_iter().chain(self.beta).collect()
    }
}

impl<F: Float> LayerSpec<F> for LayerNorm {
    fn kind(&self) -> &'static str {
        "LayerNormalization"
    }
    fn out_features(&self, in_features: usize) -> usize {
        in_features
    }
    fn build_module(&self, b: &mut ParamBuilder<'_, F>, in_features: usize) -> Box<dyn Module<F> + Send + Sync> {
        Box::new(self.build_here(b, in_features))
    }
}
