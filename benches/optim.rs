//! Optimizer step cost on the seed model's parameters (8,421 in 10 tensors). Steps after the
//! first allocate nothing (tests/alloc.rs in borel-optim asserts it); this measures the time.
//!
//! cargo bench --bench optim

use std::hint::black_box;
use std::time::Duration;

use borel::autograd::Tensor;
use borel::optim::{Adam, Optimizer, Param, RmsProp, Sgd};
use criterion::{Criterion, criterion_group, criterion_main};

fn seed_params() -> (Vec<String>, Vec<Tensor<f32>>, Vec<Tensor<f32>>) {
    let sizes = [2usize, 100, 50, 50, 10, 1];
    let mut names = vec![];
    let mut values = vec![];
    for (i, w) in sizes.windows(2).enumerate() {
        names.push(format!("{i}.kernel"));
        values.push(Tensor::from_fn(&[w[0], w[1]], |k| (k % 13) as f32 * 0.01));
        names.push(format!("{i}.bias"));
        values.push(Tensor::zeros(&[w[1]]));
    }
    let grads = values.iter().map(|v| v.map(|x| x * 0.1 + 0.01)).collect();
    (names, values, grads)
}

fn bench_step(c: &mut Criterion, label: &str, mut opt: impl Optimizer<f32>) {
    let (names, mut values, grads) = seed_params();
    c.bench_function(label, |b| {
        b.iter(|| {
            let mut params: Vec<Param<'_, f32>> = names
                .iter()
                .zip(values.iter_mut())
                .zip(&grads)
                .map(|((n, v), g)| Param::new(n, v, g))
                .collect();
            opt.step(black_box(&mut params));
        })
    });
}

fn steps(c: &mut Criterion) {
    bench_step(c, "optim_step/sgd_momentum", Sgd::new(0.01).momentum(0.9));
    bench_step(c, "optim_step/adam", Adam::new(0.001));
    bench_step(c, "optim_step/rmsprop_keras", RmsProp::keras());
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2)).sample_size(20);
    targets = steps
}
criterion_main!(benches);
