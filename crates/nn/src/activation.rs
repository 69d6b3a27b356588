//! Activations as functions (an enum applied to a var) and, through [`crate::Sequential`], as
//! layers; selectable by Keras' names for configs.

use std::fmt;
use std::str::FromStr;

use borel_autograd::{DenseAct, Float, Var};

/// An elementwise activation, named as in Keras.
///
/// ```
/// use borel_nn::Activation;
/// let a: Activation = "sigmoid".parse().unwrap();
/// assert_eq!(a, Activation::Sigmoid);
/// assert!("sigmoidd".parse::<Activation>().unwrap_err().to_string().contains("sigmoidd"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub enum Activation {
    /// The identity (Keras' default for `Dense`).
    #[default]
    Linear,
    /// `max(x, 0)`.
    Relu,
    /// `x` if positive, else `alpha x` (Keras' default alpha is 0.3).
    LeakyRelu(f64),
    /// `x` if positive, else `alpha (e^x - 1)`.
    Elu(f64),
    /// Exact GELU.
    Gelu,
    /// GELU's tanh approximation.
    GeluTanh,
    /// Logistic sigmoid.
    Sigmoid,
    /// Hyperbolic tangent.
    Tanh,
    /// `log(1 + e^x)`.
    Softplus,
    /// `x sigmoid(x)` (also called swish).
    Silu,
    /// Softmax over the last axis.
    Softmax,
}

impl Activation {
    /// Applies the activation.
    pub fn apply<'t, F: Float>(self, x: Var<'t, F>) -> Var<'t, F> {
        match self {
            Activation::Linear => x,
            Activation::Relu => x.relu(),
            Activation::LeakyRelu(a) => x.leaky_relu(F::from_f64(a)),
            Activation::Elu(a) => x.elu(F::from_f64(a)),
            Activation::Gelu => x.gelu(),
            Activation::GeluTanh => x.gelu_tanh(),
            Activation::Sigmoid => x.sigmoid(),
            Activation::Tanh => x.tanh(),
            Activation::Softplus => x.softplus(),
            Activation::Silu => x.silu(),
            Activation::Softmax => x.softmax(-1),
        }
    }

    /// The activation a fused [`Var::dense`] node can apply (those whose derivative is a
    /// function of their output), or `None`.
    pub(crate) fn fused(self) -> Option<DenseAct> {
        match self {
            Activation::Linear => Some(DenseAct::Linear),
            Activation::Relu => Some(DenseAct::Relu),
            Activation::Sigmoid => Some(DenseAct::Sigmoid),
            Activation::Tanh => Some(DenseAct::Tanh),
            _ => None,
        }
    }

    /// Keras' name for it.
    pub fn name(self) -> &'static str {
        match self {
            Activation::Linear => "linear",
            Activation::Relu => "relu",
            Activation::LeakyRelu(_) => "leaky_relu",
            Activation::Elu(_) => "elu",
            Activation::Gelu => "gelu",
            Activation::GeluTanh => "gelu_tanh",
            Activation::Sigmoid => "sigmoid",
            Activation::Tanh => "tanh",
            Activation::Softplus => "softplus",
            Activation::Silu => "silu",
            Activation::Softmax => "softmax",
        }
    }
}

impl fmt::Display for Activation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An activation name that Borel does not know.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "unknown activation '{0}' (expected one of linear, relu, leaky_relu, elu, gelu, gelu_tanh, sigmoid, tanh, softplus, silu, swish, softmax)"
)]
pub struct UnknownActivation(pub String);

impl FromStr for Activation {
    type Err = UnknownActivation;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "linear" | "None" | "none" => Activation::Linear,
            "relu" => Activation::Relu,
            "leaky_relu" => Activation::LeakyRelu(0.3),
            "elu" => Activation::Elu(1.0),
            "gelu" => Activation::Gelu,
            "gelu_tanh" => Activation::GeluTanh,
            "sigmoid" => Activation::Sigmoid,
            "tanh" => Activation::Tanh,
            "softplus" => Activation::Softplus,
            "silu" | "swish" => Activation::Silu,
            "softmax" => Activation::Softmax,
            other => return Err(UnknownActivation(other.to_string())),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_activations_a_dense_node_fuses() {
        assert_eq!(Activation::Tanh.fused(), Some(DenseAct::Tanh));
        assert_eq!(Activation::Gelu.fused(), None);
    }
}
