//! # borel-distributed
//!
//! Data-parallel training over MPI, with the semantics of PyTorch's DistributedDataParallel
//! and Horovod: every process (a *rank*) holds the whole model, trains on its own share of
//! each global batch, and the ranks average their gradients before every update, so they
//! stay identical and train as one process would on the global batch.
//!
//! - [`World::init`] starts MPI (once per process) and makes a panic on any rank end the whole
//!   job (`MPI_Abort`) instead of leaving the others waiting.
//! - [`World::sync`] checks that every rank built the same model (names, shapes, dtype) and
//!   copies rank 0's parameter values to every rank.
//! - [`World::average`] averages the gradients over the ranks after `backward`: pre-scaled by
//!   `1 / size`, summed by allreduce through flat buffers in buckets (1 MiB first, then up to
//!   25 MiB, parameters in reverse order, as DDP), one collective per bucket.
//!
//! A user's own loop needs two more lines than on one process:
//!
//! ```no_run
//! use borel_autograd::{ParamStore, Tape, Tensor};
//! use borel_distributed::World;
//! let world = World::init().expect("MPI starts");
//! let mut store = ParamStore::<f64>::new();
//! let w = store.add("w", Tensor::ones(&[3]), true);
//! world.sync(&mut store).expect("every rank built the same model"); // once
//! for _step in 0..10 {
//!     let tape = Tape::new();
//!     let p = store.vars(&tape);
//!     let mut grads = p.backward((p[w] * p[w]).sum());
//!     world.average(&mut grads); // every step, before the update
//!     // opt.update(&mut store, &grads);
//! }
//! ```
//!
//! Run it with `mpirun -np 2 target/release/my_program`.

#![warn(missing_docs)]

mod average;
mod elems;
mod sync;
mod world;

pub use average::{BUCKET_BYTES, FIRST_BUCKET_BYTES};
pub use sync::SyncError;
pub use world::{InitError, World};

pub use mpi;
