//! What the MPI programs share: the seed's data, its model B, comparisons across ranks.
// Each program uses part of it.
#![allow(dead_code)]

use borel::autograd::Float;
use borel::data::GlobalStandardizer;
use borel::distributed::World;
use borel::distributed::mpi::collective::SystemOperation;
use borel::distributed::mpi::traits::CommunicatorCollectives;
use borel::prelude::*;

/// The seed's surface at `n` points (x standardized globally), in `F`.
pub fn seed_data<F: Float>(n: usize) -> (Tensor<F>, Tensor<F>) {
    let r = &mut StdRng::seed_from_u64(0);
    let raw = Tensor::<f64>::rand_normal(&[n, 2], 0., 1., r);
    let x = Tensor::from_fn(&[n, 2], |i| raw.data()[i] * if i % 2 == 0 { 2.0 } else { 1.0 });
    let pi = std::f64::consts::PI;
    let y = Tensor::from_fn(&[n, 1], |i| {
        let (a, b) = (x.data()[2 * i], x.data()[2 * i + 1]);
        a * a + 2.0 * b * b - 0.2 * (3.0 * pi * a).cos() - 0.4 * (4.0 * pi * b).cos()
    });
    let x = GlobalStandardizer::fit(&x).transform(&x);
    (cast(&x), cast(&y))
}

/// `t` in another element type.
pub fn cast<F: Float, G: Float>(t: &Tensor<F>) -> Tensor<G> {
    Tensor::from_fn(t.shape(), |i| G::from_f64(t.data()[i].to_f64()))
}

/// The seed's model B: 2-20-20-1, sigmoid hidden layers, Keras' initializers.
pub fn model_b<F: Float>(store: &mut ParamStore<F>, seed: u64) -> Sequential<F> {
    let d = || Dense::new(20).activation(Activation::Sigmoid);
    Sequential::new()
        .add(d().input_dim(2))
        .add(d())
        .add(Dense::new(1))
        .build(store, seed)
}

/// Rows `rows` of `t`.
pub fn rows<F: Float>(t: &Tensor<F>, rows: &[usize]) -> Tensor<F> {
    let w = t.numel() / t.shape()[0];
    Tensor::from_fn(&[rows.len(), w], |i| t.data()[rows[i / w] * w + i % w])
}

/// `order` padded by wrapping around to a multiple of `ranks`: the global order the ranks'
/// shares come from, written here independently of the loader.
pub fn padded(order: &[usize], ranks: usize) -> Vec<usize> {
    let total = order.len().div_ceil(ranks) * ranks;
    (0..total).map(|i| order[i % order.len()]).collect()
}

/// Whether every rank passed the same bytes (one allreduce of a 64-bit hash).
pub fn same_on_every_rank(world: &World, bytes: &[u8]) -> bool {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    let mut max = [0u64; 2];
    world
        .communicator()
        .all_reduce_into(&[h, !h][..], &mut max[..], SystemOperation::max());
    max[0] == !max[1]
}

/// Panics unless `got` is within `tol` of `want` relative to the larger magnitude; returns
/// that relative error.
#[track_caller]
pub fn assert_close(what: &str, got: f64, want: f64, tol: f64) -> f64 {
    let err = (got - want).abs() / got.abs().max(want.abs());
    assert!(
        err <= tol,
        "{what}: {got:e} vs {want:e}, relative error {err:e} above {tol:e}"
    );
    err
}

/// Panics unless each tensor of `got` is within `tol` of `want`, relative to the largest
/// magnitude in the tensor: `max |got - want| <= tol * max |want|`; returns the largest of
/// those relative errors.
#[track_caller]
pub fn assert_weights_close<F: Float>(
    what: &str,
    store: &ParamStore<F>,
    got: &[Tensor<F>],
    want: &[Tensor<F>],
    tol: f64,
) -> f64 {
    let mut worst = 0.0f64;
    for ((_, name, _), (g, w)) in store.iter().zip(got.iter().zip(want)) {
        let scale = w.data().iter().fold(0.0f64, |m, v| m.max(v.to_f64().abs()));
        let err = g
            .data()
            .iter()
            .zip(w.data())
            .fold(0.0f64, |m, (a, b)| m.max((a.to_f64() - b.to_f64()).abs()));
        assert!(
            err <= tol * scale,
            "{what}: parameter '{name}' differs by {err:e} (scale {scale:e}), relative {:e} above {tol:e}",
            err / scale
        );
        worst = worst.max(err / scale);
    }
    worst
}
