//! Whole training steps as a user writes them (`Sequential` of `Dense`, a tape per step,
//! `ForwardPass::backward`, `RmsProp::keras()`): the seed models A (2-100-50-50-10-1, linear),
//! B (2-20-20-1, sigmoid) and C (A with a relu on its 10-unit layer) at batch 64, and the MLP 784-1024-1024-10 (relu,
//! sparse cross-entropy) at batch 256. `benches/compare/run.sh` times the same steps next to
//! a hand-written loop, PyTorch and JAX; these track Borel alone from commit to commit.
//!
//! cargo bench --bench models

use std::hint::black_box;
use std::time::Duration;

use borel::prelude::*;
use criterion::{Criterion, criterion_group, criterion_main};

/// A `Sequential` of Dense layers `dims[0] -> dims[1] -> ...`, layer `i` with `acts[i]`.
fn net(dims: &[usize], acts: &[&str], store: &mut ParamStore<f32>) -> Sequential<f32> {
    let mut b = Sequential::new();
    for (&units, &act) in dims[1..].iter().zip(acts) {
        b = b.add(Dense::new(units).activation(act.parse().expect("an activation name")));
    }
    b.build_with_input(store, 0, dims[0])
}

/// Benchmarks one training step of `dims` on the batch `(x, y)`.
fn step(c: &mut Criterion, name: &str, dims: &[usize], acts: &[&str], loss: Loss, x: Tensor<f32>, y: Tensor<f32>) {
    let mut store = ParamStore::new();
    let model = net(dims, acts, &mut store);
    let mut opt = RmsProp::keras();
    c.bench_function(name, |b| {
        b.iter(|| {
            let tape = Tape::new();
            let fw = ForwardPass::train(&tape, &store);
            let out = model.forward(&fw, tape.constant(x.clone()));
            let grads = fw.backward(loss.of(out, tape.constant(y.clone())));
            opt.update(&mut store, &grads);
            black_box(&store);
        })
    });
}

fn seed_models(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(0);
    let x = Tensor::<f32>::rand_uniform(&[64, 2], -10.0, 10.0, &mut rng);
    let y = Tensor::from_fn(&[64, 1], |i| x.at(&[i, 0]).powi(2) + x.at(&[i, 1]).powi(2));
    let a = [2, 100, 50, 50, 10, 1];
    let linear = ["linear"; 5];
    step(
        c,
        "seed_step_b64/A_linear",
        &a,
        &linear,
        Loss::Mse,
        x.clone(),
        y.clone(),
    );
    let b = ["sigmoid", "sigmoid", "linear"];
    step(
        c,
        "seed_step_b64/B_sigmoid",
        &[2, 20, 20, 1],
        &b,
        Loss::Mse,
        x.clone(),
        y.clone(),
    );
    let one_relu = ["linear", "linear", "linear", "relu", "linear"];
    step(c, "seed_step_b64/C_one_relu", &a, &one_relu, Loss::Mse, x, y);
}

fn large_mlp(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(1);
    let x = Tensor::<f32>::rand_normal(&[256, 784], 0.0, 1.0, &mut rng);
    let y = Tensor::from_fn(&[256], |i| (i % 10) as f32);
    let loss = Loss::SparseCategoricalCrossEntropy;
    let acts = ["relu", "relu", "linear"];
    step(
        c,
        "mlp_step_b256/784-1024-1024-10",
        &[784, 1024, 1024, 10],
        &acts,
        loss,
        x,
        y,
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3)).sample_size(20);
    targets = seed_models, large_mlp
}
criterion_main!(benches);
