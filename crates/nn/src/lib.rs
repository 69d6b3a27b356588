//! # borel-nn
//!
//! Modules built on the Borel tape: [`Dense`] with Keras' semantics and defaults,
//! [`Activation`]s, [`Sequential`] with a Keras-style `summary()`, [`Dropout`], [`BatchNorm`]
//! and [`LayerNorm`], initializers,
//! losses, and safetensors weight files.
//!
//! Parameters live in a [`ParamStore`], outside the tape; a forward pass places them on a
//! tape through a [`ForwardPass`], and [`ForwardPass::backward`] hands back their gradients keyed by
//! [`ParamId`].
//!
//! ```
//! use borel_autograd::{Tape, Tensor};
//! use borel_nn::{Activation, Dense, ForwardPass, Loss, Module, ParamStore, Sequential};
//!
//! let mut store = ParamStore::<f32>::new();
//! let model = Sequential::new()
//!     .add(Dense::new(8).activation(Activation::Tanh).input_dim(2))
//!     .add(Dense::new(1))
//!     .build(&mut store, 42);
//! let x = Tensor::from_vec(vec![0.5, -1.0, 1.0, 2.0], &[2, 2]);
//! let y = Tensor::from_vec(vec![1.0, 0.0], &[2, 1]);
//!
//! let tape = Tape::new();
//! let fw = ForwardPass::train(&tape, &store);
//! let pred = model.forward(&fw, tape.constant(x));
//! let l = Loss::Mse.of(pred, tape.constant(y));
//! let grads = fw.backward(l);
//! assert_eq!(grads.iter().count(), store.len());
//! ```

#![warn(missing_docs)]

mod activation;
mod capture;
mod derive;
mod init;
mod layers;
pub mod loss;
mod norm;
mod param;
mod sequential;
mod weights;

pub use activation::{Activation, UnknownActivation};
pub use borel_autograd::io::FileError;
pub use borel_autograd::{ParamGrads, ParamId, ParamStore, Var};
/// `#[derive(Module)]`: see [`Params`] for an example.
pub use borel_derive::Module;
pub use capture::{Captured, CapturedPlans, StepResult};
pub use derive::Params;
pub use init::{Init, InitPreset};
pub use layers::{ActivationLayer, Dense, DenseModule, Dropout, LayerSpec, Module};
pub use loss::{LabelError, Loss, Reduction, Target, UnknownLoss, class_labels};
pub use norm::{BatchNorm, BatchNormModule, LayerNorm, LayerNormModule};
pub use param::{ForwardPass, ParamBuilder};
pub use sequential::{Sequential, SequentialBuilder};
pub use weights::{Layout, WeightFile};
