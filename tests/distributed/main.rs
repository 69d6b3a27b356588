//! Data-parallel training gives what one process gives: seed model B on N ranks with
//! per-rank batch 32 for 3 epochs against one process with batch 32 N over the same global
//! order (the ranks' shares of one padded permutation), per step and in the final weights,
//! in f64 (within 1e-12 relative) and f32 (1e-5), for a hand-written loop and for `fit`; and
//! the checks around it (sync refuses different models on every rank, unreached parameters,
//! buckets).
//!
//! An MPI program: `tests/distributed/run.sh` runs it under `mpirun -np 2` and `-np 3`.
//! Started alone it is a world of one and runs the same checks on one rank.

mod common;
mod fit;

use borel::autograd::Float;
use borel::data::DataLoader;
use borel::distributed::{SyncError, World};
use borel::prelude::*;
use common::{assert_close, assert_weights_close, model_b, padded, rows, same_on_every_rank, seed_data};

pub const EPOCHS: usize = 3;
pub const BATCH: usize = 32;
pub const SEED: u64 = 7;
pub const SAMPLES: usize = 1000;

/// What a run leaves: the loss of every step and the final weights.
pub struct Run<F: Float> {
    pub losses: Vec<f64>,
    pub store: ParamStore<F>,
}

/// One step of the user's loop; with `world`, the two data-parallel lines' second one.
fn step<F: Float>(
    net: &Sequential<F>,
    store: &mut ParamStore<F>,
    opt: &mut RmsProp<F>,
    (xb, yb): (Tensor<F>, Tensor<F>),
    world: Option<&World>,
) -> f64 {
    let tape = Tape::new();
    let f = ForwardPass::train(&tape, store);
    let loss = Loss::Mse.of(net.forward(&f, tape.constant(xb)), yb);
    let value = loss.item().to_f64();
    let mut grads = f.backward(loss);
    if let Some(world) = world {
        world.average(&mut grads);
    }
    opt.update(store, &grads);
    value
}

/// One process, batches of `BATCH x ranks` over the padded global order.
pub fn one_process<F: Float>(x: &Tensor<F>, y: &Tensor<F>, ranks: usize) -> Run<F> {
    let mut store = ParamStore::new();
    let net = model_b(&mut store, 0);
    let mut opt = RmsProp::keras();
    let mut orders = DataLoader::new(x, y, BATCH).shuffle(SEED);
    let mut losses = Vec::new();
    for _ in 0..EPOCHS {
        let order = padded(orders.epoch().order(), ranks);
        for chunk in order.chunks(BATCH * ranks) {
            losses.push(step(&net, &mut store, &mut opt, (rows(x, chunk), rows(y, chunk)), None));
        }
    }
    Run { losses, store }
}

/// This rank's part of the data-parallel run: a model built with another seed on every rank
/// but 0 (`sync` must give them rank 0's), its shard of each epoch, averaged gradients.
fn data_parallel<F: Float>(world: &World, x: &Tensor<F>, y: &Tensor<F>) -> Run<F> {
    let mut store = ParamStore::new();
    let net = model_b(&mut store, if world.is_root() { 0 } else { 100 + world.rank() as u64 });
    world.sync(&mut store).expect("every rank built model B");
    let mut opt = RmsProp::keras();
    let mut loader = DataLoader::new(x, y, BATCH)
        .shuffle(SEED)
        .shard(world.rank(), world.size());
    let mut losses = Vec::new();
    for _ in 0..EPOCHS {
        for batch in loader.epoch() {
            let mut loss = [step(&net, &mut store, &mut opt, batch, Some(world))];
            world.sum(&mut loss);
            losses.push(loss[0] / world.size() as f64);
        }
    }
    Run { losses, store }
}

/// Panics unless `got` follows `want` step by step and ends on the same weights, and every
/// rank holds the very same weights; returns the largest relative errors of a step's loss
/// and of the final weights.
pub fn assert_same_run<F: Float>(world: &World, what: &str, got: &Run<F>, want: &Run<F>, tol: f64) -> (f64, f64) {
    assert_eq!(got.losses.len(), want.losses.len(), "{what}: steps");
    let mut worst_loss = 0.0f64;
    for (i, (g, w)) in got.losses.iter().zip(&want.losses).enumerate() {
        worst_loss = worst_loss.max(assert_close(&format!("{what}: loss of step {}", i + 1), *g, *w, tol));
    }
    let (g, w) = (got.store.snapshot(), want.store.snapshot());
    let worst_weight = assert_weights_close(what, &got.store, &g, &w, tol);
    let bytes: Vec<u8> = g.iter().flat_map(|t| t.to_le_bytes()).collect();
    assert!(same_on_every_rank(world, &bytes), "{what}: the ranks' weights differ");
    (worst_loss, worst_weight)
}

/// Rank 0 prints how close a run came.
pub fn report(world: &World, what: &str, unit: &str, (loss, weights): (f64, f64), tol: f64) {
    if world.is_root() {
        println!(
            "{what} on {} ranks: largest relative error {loss:.1e} in {unit} loss, {weights:.1e} in the final weights (bound {tol:.0e})",
            world.size()
        );
    }
}

fn user_loop<F: Float>(world: &World, tol: f64) {
    let (x, y) = seed_data::<F>(SAMPLES);
    let want = one_process(&x, &y, world.size());
    let got = data_parallel(world, &x, &y);
    let what = format!("user loop, {}", F::NAME);
    let errors = assert_same_run(world, &what, &got, &want, tol);
    report(world, &what, "a step's", errors, tol);
    let steps = SAMPLES.div_ceil(world.size()).div_ceil(BATCH) * EPOCHS;
    assert_eq!(
        got.losses.len(),
        steps,
        "{what}: every rank runs ceil(ceil(n / ranks) / batch) steps"
    );
    assert!(
        got.losses[steps - 1] < got.losses[0] / 2.0,
        "{what}: the loss did not fall"
    );
}

/// The last rank builds a wider second layer: `sync` fails on every rank naming it, and no
/// store changes.
fn different_models_fail_on_every_rank(world: &World) {
    if world.size() == 1 {
        return;
    }
    let last = world.size() - 1;
    let mut store = ParamStore::<f64>::new();
    let d = |n| Dense::new(n).activation(Activation::Sigmoid);
    let width = if world.rank() == last { 21 } else { 20 };
    let _net = Sequential::new()
        .add(d(20).input_dim(2))
        .add(d(width))
        .add(Dense::new(1))
        .build(&mut store, 0);
    let before = store.snapshot();
    let err = world.sync(&mut store).expect_err("different models");
    let SyncError::Mismatch { index, rank, .. } = &err;
    assert_eq!((*index, *rank), (2, last), "{err}");
    let message = err.to_string();
    for part in [
        "'1.kernel' [20, 20] f64",
        "'1.kernel' [20, 21] f64",
        &format!("rank {last}"),
    ] {
        assert!(message.contains(part), "'{message}' lacks {part}");
    }
    assert_eq!(store.snapshot(), before, "a failed sync changed the store");
}

/// `a` reached everywhere, `b` only on the last rank, `c` nowhere; `big` spans buckets.
fn unreached_parameters_and_buckets(world: &World) {
    let (rank, size) = (world.rank(), world.size());
    let mut store = ParamStore::<f32>::new();
    let a = store.add("a", Tensor::ones(&[2]), true);
    let b = store.add("b", Tensor::ones(&[3]), true);
    let c = store.add("c", Tensor::ones(&[2]), true);
    let big = store.add("big", Tensor::zeros(&[700_000]), true);
    world.sync(&mut store).unwrap();
    let tape = Tape::new();
    let p = store.vars(&tape);
    let mut loss = p[a].sum() + (p[big] * (rank + 1) as f32).sum();
    if rank == size - 1 {
        loss = loss + (p[b] * size as f32).sum();
    }
    let mut grads = p.backward(loss);
    world.average(&mut grads);
    assert_eq!(grads[a].data(), &[1.0, 1.0]);
    assert_eq!(
        grads[b].data(),
        &[1.0; 3],
        "b: (0 x (size - 1) + size) / size on every rank"
    );
    assert!(grads.get(c).is_none(), "c: no rank reached it");
    let mean = (size + 1) as f32 / 2.0;
    assert!(
        grads[big].data().iter().all(|&g| (g - mean).abs() <= 1e-6 * mean),
        "big: mean of rank + 1"
    );
}

fn main() {
    let world = World::init().expect("MPI starts");
    different_models_fail_on_every_rank(&world);
    unreached_parameters_and_buckets(&world);
    user_loop::<f64>(&world, 1e-12);
    user_loop::<f32>(&world, 1e-5);
    fit::fit_matches_one_process::<f64>(&world, 1e-12);
    fit::fit_matches_one_process::<f32>(&world, 1e-5);
    if world.is_root() {
        println!("distributed: every check passed on {} ranks", world.size());
    }
}
