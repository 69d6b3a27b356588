//! # borel-nn
//!
//! Modules built on the Borel tape: [`Dense`] with Keras' semantics and defaults,
//! [`Activation`]s, [`Sequential`] with a Keras-style `summary()`, [`Dropout`], initializers,
//! losses, and safetensors weight files.
//!
//! Parameters live in a [`ParamStore`], outside the tape; a forward pass places the ones it
//! uses on a tape through a [`Ctx`], and [`Ctx::gradients`] hands back their gradients.
//!
//! ```
//! use borel_autograd::{Tape, Tensor};
//! use borel_nn::{Ctx, Dense, Module, ParamStore, Sequential, loss};
//!
//! let mut store = ParamStore::<f32>::new();
//! let model = Sequential::new()
//!     .add(Dense::new(8).activation("tanh").input_dim(2))
//!     .add(Dense::new(1))
//!     .build(&mut store, 42);
//! let x = Tensor::from_vec(vec![0.5, -1.0, 1.0, 2.0], &[2, 2]);
//! let y = Tensor::from_vec(vec![1.0, 0.0], &[2, 1]);
//!
//! let tape = Tape::new();
//! let cx = Ctx::new(&tape, &store, true);
//! let pred = model.forward(&cx, tape.constant(x));
//! let l = loss::mse(pred, tape.constant(y), loss::Reduction::Mean);
//! let grads = cx.gradients(&l.backward());
//! assert_eq!(grads.len(), store.len());
//! ```

#![warn(missing_docs)]

mod activation;
mod init;
mod layers;
pub mod loss;
mod param;
mod sequential;
mod weights;

pub use activation::{Activation, UnknownActivation};
pub use init::Init;
pub use layers::{ActivationLayer, Dense, DenseLayer, Dropout, Layer, LayerSpec, Module};
pub use loss::{Loss, Reduction};
pub use param::{Builder, Ctx, ParamId, ParamStore};
pub use sequential::{Sequential, SequentialBuilder};
pub use weights::{Layout, WeightsError, write_atomically};
