//! # Borel
//!
//! Deep learning in Rust on a tape-based, reverse-mode automatic differentiation core. The
//! facade re-exports the three crates and adds a Keras-like [`Model`] (`compile`, `fit`,
//! `evaluate`, `predict`), callbacks, data handling (standardization, mini-batches, CSV),
//! TensorBoard logs and, with the default feature `plot`, SVG plots.
//!
//! ```
//! use borel::prelude::*;
//!
//! // Your own forward code, differentiated by the tape:
//! let tape = Tape::<f64>::new();
//! let x = tape.var(Tensor::scalar(2.0));
//! assert_eq!((x * x).backward()[x].item(), 4.0);
//!
//! // Keras-style:
//! let mut store = ParamStore::<f32>::new();
//! let net = Sequential::new().add(Dense::new(4).activation(Activation::Relu).input_dim(2)).add(Dense::new(1)).build(&mut store, 0);
//! let mut model = Model::new(net, store);
//! model.compile(Loss::Mse, RmsProp::keras());
//! let (x, y) = (Tensor::ones(&[8, 2]), Tensor::zeros(&[8, 1]));
//! let history = model.fit(&x, &y, FitOptions::new().epochs(5).batch_size(4)).unwrap();
//! assert_eq!(history.epochs.len(), 5);
//! ```

#![warn(missing_docs)]

pub mod callbacks;
pub mod data;
mod model;
#[cfg(feature = "plot")]
pub mod plot;
pub mod tensorboard;

pub use borel_autograd as autograd;
/// Data-parallel training over MPI (feature `mpi`): [`World`](distributed::World),
/// `sync`, `average`.
#[cfg(feature = "mpi")]
pub use borel_distributed as distributed;
pub use borel_nn as nn;
pub use borel_optim as optim;

pub use borel_autograd::{GradStore, Tape, Tensor, Var, gradcheck, gradgradcheck};
pub use model::{EpochLog, FitError, FitOptions, History, Metric, Model, ResumeError, Scores, StoreMismatch};
pub use rand;

/// The names most programs use.
pub mod prelude {
    pub use crate::callbacks::{Checkpoint, Control, EarlyStopping, EpochEnd, Monitor};
    pub use crate::data::{DataLoader, GlobalStandardizer};
    pub use crate::tensorboard::{SummaryWriter, TensorBoard};
    pub use crate::{EpochLog, FitError, FitOptions, History, Metric, Model};
    pub use borel_autograd::{
        CustomFn, CustomVarFn, DenseAct, GradcheckOptions, ParamGrads, ParamId, Tape, Tensor, Var, expr, func, grad,
        gradcheck, gradgradcheck, hessian, hvp, jacfwd, jacobian, jvp, tensor, value_and_grad,
    };
    #[cfg(feature = "mpi")]
    pub use borel_distributed::World;
    pub use borel_nn::loss::{self, Reduction};
    pub use borel_nn::{
        Activation, Captured, Dense, DenseModule, Dropout, ForwardPass, Init, InitPreset, Layout, Loss, Module,
        ParamBuilder, ParamStore, Sequential, SequentialBuilder, WeightFile,
    };
    pub use borel_nn::{BatchNorm, LayerNorm};
    pub use borel_optim::{Adagrad, Adam, AdamW, Lbfgs, LineSearch, Momentum, Optimizer, RmsProp, Sgd};
    pub use rand::rngs::StdRng;
    pub use rand::{self, RngExt, SeedableRng};
}

/// The README's code, compiled and run as a doc test so it cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
