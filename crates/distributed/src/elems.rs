//! MPI collectives on buffers of any Borel [`Float`]: `f32` goes as `MPI_FLOAT`, `f64` as
//! `MPI_DOUBLE`. Buffers are `Vec`s because a `Vec<F>` can be downcast to `Vec<f32>` or
//! `Vec<f64>` without unsafe code (`Float` is sealed to those two).

use std::any::Any;

use borel_autograd::Float;
use mpi::collective::SystemOperation;
use mpi::topology::SimpleCommunicator;
use mpi::traits::{Communicator, CommunicatorCollectives, Root};

/// `recv = sum over ranks of send`, elementwise (one allreduce).
#[allow(clippy::ptr_arg)] // a Vec, not a slice: what `Any` downcasts
pub(crate) fn sum_into<F: Float>(comm: &SimpleCommunicator, send: &Vec<F>, recv: &mut Vec<F>) {
    let (send, recv): (&dyn Any, &mut dyn Any) = (send, recv);
    if let (Some(s), Some(r)) = (send.downcast_ref::<Vec<f32>>(), recv.downcast_mut::<Vec<f32>>()) {
        comm.all_reduce_into(&s[..], &mut r[..], SystemOperation::sum());
    } else if let (Some(s), Some(r)) = (send.downcast_ref::<Vec<f64>>(), recv.downcast_mut::<Vec<f64>>()) {
        comm.all_reduce_into(&s[..], &mut r[..], SystemOperation::sum());
    } else {
        unreachable!("Float is f32 or f64");
    }
}

/// Rank `root`'s `buf` on every rank (one broadcast).
#[allow(clippy::ptr_arg)] // a Vec, not a slice: what `Any` downcasts
pub(crate) fn broadcast<F: Float>(comm: &SimpleCommunicator, root: usize, buf: &mut Vec<F>) {
    let process = comm.process_at_rank(root as i32);
    let buf: &mut dyn Any = buf;
    if let Some(b) = buf.downcast_mut::<Vec<f32>>() {
        process.broadcast_into(&mut b[..]);
    } else if let Some(b) = buf.downcast_mut::<Vec<f64>>() {
        process.broadcast_into(&mut b[..]);
    } else {
        unreachable!("Float is f32 or f64");
    }
}
