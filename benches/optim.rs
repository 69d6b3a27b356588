//! Optimizer step cost on the seed model's parameters (8,421 in 10 tensors). Steps after the
//! first allocate nothing (tests/alloc.rs in borel-optim asserts it); this measures the time.
//!
//! cargo bench --bench optim

use std::hint::black_box;
use std::time::Duration;

use borel::autograd::{ParamGrads, ParamStore, Tensor};
use borel::optim::{Adam, Optimizer, RmsProp, Sgd};
use criterion::{Criterion, criterion_group, criterion_main};

/// The seed model's parameters (Dense 2-100-50-50-10-1) and a gradient for each.
fn seed_params() -> (ParamStore<f32>, ParamGrads<f32>) {
    let sizes = [2usize, 100, 50, 50, 10, 1];
    let mut store = ParamStore::new();
    let mut ids = vec![];
    for (i, w) in sizes.windows(2).enumerate() {
        let kernel = Tensor::from_fn(&[w[0], w[1]], |k| (k % 13) as f32 * 0.01);
        ids.push(store.add(&format!("{i}.kernel"), kernel, true));
        ids.push(store.add(&format!("{i}.bias"), Tensor::zeros(&[w[1]]), true));
    }
    let mut grads = ParamGrads::new(&store);
    for id in ids {
        grads.insert(id, store.get(id).map(|x| x * 0.1 + 0.01));
    }
    (store, grads)
}

fn bench_step(c: &mut Criterion, label: &str, mut opt: impl Optimizer<f32>) {
    let (mut store, grads) = seed_params();
    c.bench_function(label, |b| {
        b.iter(|| opt.update(black_box(&mut store), black_box(&grads)))
    });
}

fn steps(c: &mut Criterion) {
    bench_step(c, "optim_step/sgd_momentum", Sgd::new(0.01).momentum(0.9));
    bench_step(c, "optim_step/adam", Adam::new(0.001));
    bench_step(c, "optim_step/adam_keras", Adam::keras());
    bench_step(c, "optim_step/rmsprop_keras", RmsProp::keras());
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2)).sample_size(20);
    targets = steps
}
criterion_main!(benches);
