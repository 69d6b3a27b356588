//! # borel-autograd
//!
//! Tensors in `f32` and `f64`, a define-by-run tape, reverse-mode gradients of any order,
//! and a gradient checker.
//!
//! Forward code is plain Rust on [`Var`]s: every op records a node on the [`Tape`], and
//! [`Var::backward`] returns a [`GradStore`] with the gradient of every leaf made with
//! [`Tape::var`]. [`Tape::grad`] with `create_graph = true` records the backward pass too, so
//! gradients can be differentiated again. Forward mode ([`Tape::jvp`], [`jvp`], [`jacfwd`])
//! carries tangents through the recorded nodes in order; [`hvp`] runs it over the recorded
//! gradient (forward over reverse).
//!
//! ```
//! use borel_autograd::{Tape, Tensor};
//!
//! // A two-layer network, written as its forward code.
//! let tape = Tape::<f32>::new();
//! let x = tape.constant(Tensor::from_vec(vec![0.5, -1.0], &[1, 2]));
//! let w1 = tape.var(Tensor::from_vec(vec![0.1, 0.2, 0.3, 0.4, 0.5, 0.6], &[2, 3]));
//! let w2 = tape.var(Tensor::from_vec(vec![1.0, -1.0, 0.5], &[3, 1]));
//! let y = x.matmul(w1).tanh().matmul(w2);
//! let loss = (y - 1.0).square().mean();
//! let grads = loss.backward();
//! assert_eq!(grads[w1].shape(), &[2, 3]);
//! assert_eq!(grads[w2].shape(), &[3, 1]);
//! ```
//!
//! Mixing vars of two tapes panics with the op's name. A var the output does not reach has
//! no gradient for [`GradStore::get`] (PyTorch's `None`), and parameters it does not reach
//! have no entry in [`ParamGrads`], so optimizers leave them alone; indexing a
//! [`GradStore`] with such a var gives an explicit zero.

#![warn(missing_docs)]

mod anomaly;
mod float;
pub mod functional;
pub mod gradcheck;
pub mod io;
mod ops;
mod param;
pub mod shape;
mod tape;
mod tensor;
mod tensor_data;
mod tensor_literal;
mod tensor_math;
mod tensor_twins;
mod var_fn;

pub use anomaly::{NonFiniteOp, Pass, debug_nans, set_debug_nans};
pub use float::Float;
pub use functional::{
    grad, hessian, hessian_many, hvp, hvp_many, jacfwd, jacobian, jvp, jvp_many, value_and_grad, vjp,
};
pub use gradcheck::{GradcheckOptions, GradcheckReport, expr, gradcheck, gradgradcheck};
pub use ops::Operand;
pub use ops::custom::{CustomFn, CustomOp, CustomVarFn, CustomVarOp};
pub use ops::dense::DenseAct;
pub use ops::linalg::LinalgError;
// For benchmarks and tuning, not for models: the default is chosen by benchmark.
#[doc(hidden)]
pub use ops::gemm::gemm_kernel;
pub use ops::kernels::{PAR_THRESHOLD, set_parallel_threshold};
pub use param::{ParamGrads, ParamId, ParamStore, ParamVars};
pub use shape::Shape;
pub use tape::{CaptureError, GradStore, Plan, Tape, Var};
pub use tensor::Tensor;
pub use tensor_literal::Nested;
pub use var_fn::{VarFn, VarsFn, func};
