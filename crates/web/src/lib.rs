//! Borel in the browser: the playground page's engine. It samples a target function of two
//! inputs, builds a network of `Dense` layers and trains it a batch at a time with the same
//! autograd, layers and optimizers as native Borel, compiled to `wasm32-unknown-unknown`.
//! [`ffi`] is the JavaScript-facing surface: plain `extern "C"` functions over the module's
//! linear memory, no bindings generator needed.
#![warn(missing_docs)]

pub mod config;
pub mod expr;
pub mod ffi;
pub mod target;
pub mod trainer;
