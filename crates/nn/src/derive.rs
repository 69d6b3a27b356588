//! [`Params`]: what `#[derive(Module)]` lists a module's parameters with, field by field.

use borel_autograd::{Float, ParamId};

use crate::layers::{DenseModule, Module};
use crate::norm::{BatchNormModule, LayerNormModule};
use crate::sequential::Sequential;

/// Something that holds parameters: a layer, a [`ParamId`], a module, or a collection of them.
/// `#[derive(Module)]` lists a struct's parameters by calling this on each field, in order.
///
/// Implement it for a type of your own that holds parameters and is a field of a derived
/// module (a derived module implements it already).
///
/// With the `borel` facade, `use borel::prelude::*` brings the derive; here, in `borel-nn` on
/// its own, `crate = borel_nn` says where it is.
///
/// ```
/// use borel_nn::{Activation, Dense, DenseModule, ForwardPass, Init, Module, ParamBuilder, ParamId, ParamStore, Var};
/// use borel_autograd::Tensor;
///
/// /// A dense layer, a second one on a skip connection, and a learned scale.
/// #[derive(Module)]
/// #[module(crate = borel_nn)]
/// struct Residual {
///     input: DenseModule,
///     mid: DenseModule,
///     scale: ParamId,
///     #[module(skip)]
///     width: usize,
/// }
///
/// impl Residual {
///     fn forward<'t>(&self, fw: &ForwardPass<'t>, x: Var<'t>) -> Var<'t> {
///         let h = self.input.forward(fw, x);
///         h + self.mid.forward(fw, h) * fw.param(self.scale)
///     }
/// }
///
/// let mut store = ParamStore::new();
/// let b = &mut ParamBuilder::new(&mut store, 0);
/// let tanh = |units| Dense::new(units).activation(Activation::Tanh);
/// let net = Residual {
///     input: tanh(8).build(b, "input", 2),
///     mid: tanh(8).build(b, "mid", 8),
///     scale: b.param("scale", &[1], Init::Ones),
///     width: 8,
/// };
/// assert_eq!(net.params().len(), 5); // two kernels, two biases, the scale
/// let y = net.predict(&store, &Tensor::ones(&[3, 2]));
/// assert_eq!(y.shape(), &[3, net.width]);
/// ```
///
/// A field whose type holds no parameters is refused at compile time, with a note saying to
/// mark it `#[module(skip)]`:
///
/// ```compile_fail
/// # use borel_nn::{DenseModule, ForwardPass, Module, Var};
/// #[derive(Module)]
/// #[module(crate = borel_nn)]
/// struct Net {
///     dense: DenseModule,
///     width: usize, // error: `usize` is not known to hold parameters
/// }
/// # impl Net { fn forward<'t>(&self, fw: &ForwardPass<'t>, x: Var<'t>) -> Var<'t> { x } }
/// ```
///
/// and so is a derived module without a `forward` of its own (the derived `Module::forward`
/// calls it):
///
/// ```compile_fail
/// # use borel_nn::{DenseModule, Module};
/// #[derive(Module)]
/// #[module(crate = borel_nn)]
/// struct Net {
///     dense: DenseModule,
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not known to hold parameters",
    label = "a field of a `#[derive(Module)]` struct",
    note = "mark a field without parameters `#[module(skip)]`, or implement `Params` for its type"
)]
pub trait Params {
    /// Appends the ids of its parameters to `ids`, in order.
    fn collect_params(&self, ids: &mut Vec<ParamId>);
}

impl Params for ParamId {
    fn collect_params(&self, ids: &mut Vec<ParamId>) {
        ids.push(*self);
    }
}

/// The built layers: their parameters (and buffers) are what `Module::params` lists, whatever
/// the float type.
macro_rules! built_layers {
    ($($layer:ty),* $(,)?) => {$(
        impl Params for $layer {
            fn collect_params(&self, ids: &mut Vec<ParamId>) {
                ids.extend(<$layer as Module<f32>>::params(self));
            }
        }
    )*};
}

built_layers!(DenseModule, BatchNormModule, LayerNormModule);

impl<F: Float> Params for Sequential<F> {
    fn collect_params(&self, ids: &mut Vec<ParamId>) {
        ids.extend(Module::params(self));
    }
}

impl<F: Float> Params for Box<dyn Module<F> + Send + Sync> {
    fn collect_params(&self, ids: &mut Vec<ParamId>) {
        ids.extend(self.params());
    }
}

impl<T: Params> Params for Option<T> {
    fn collect_params(&self, ids: &mut Vec<ParamId>) {
        if let Some(inner) = self {
            inner.collect_params(ids);
        }
    }
}

impl<T: Params> Params for [T] {
    fn collect_params(&self, ids: &mut Vec<ParamId>) {
        for item in self {
            item.collect_params(ids);
        }
    }
}

impl<T: Params, const N: usize> Params for [T; N] {
    fn collect_params(&self, ids: &mut Vec<ParamId>) {
        self.as_slice().collect_params(ids);
    }
}

impl<T: Params> Params for Vec<T> {
    fn collect_params(&self, ids: &mut Vec<ParamId>) {
        self.as_slice().collect_params(ids);
    }
}
