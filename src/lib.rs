//! # Borel
//!
//! Deep learning in Rust on a tape-based, reverse-mode automatic differentiation core.
//!
//! ```
//! use borel::autograd::{Tape, Tensor};
//! let tape = Tape::<f64>::new();
//! let x = tape.var(Tensor::scalar(2.0));
//! assert_eq!((x * x).backward()[x].item(), 4.0);
//! ```

pub use borel_autograd as autograd;
pub use borel_nn as nn;
pub use borel_optim as optim;

pub use borel_autograd::{GradStore, Tape, Tensor, Var, gradcheck, gradgradcheck};
