//! Captured steps against eager ones, bit for bit, and the guards of a capture.

use std::cell::Cell;

use borel_autograd::{ParamGrads, ParamStore, Tape, Tensor};
use borel_nn::{
    Activation, BatchNorm, Captured, CapturedPlans, Dense, Dropout, ForwardPass, Loss, Module, ParamBuilder, Sequential,
};

fn data(shape: &[usize], seed: u64) -> Tensor<f32> {
    Tensor::from_fn(shape, |i| {
        (((i as u64 + 3) * (seed * 7919 + 17)) % 101) as f32 / 50.0 - 1.0
    })
}

/// The seed experiments' three networks (Keras' Dense stacks) and a wider tanh MLP.
fn models() -> Vec<(&'static str, Sequential<f32>, ParamStore<f32>)> {
    let relu = |n| Dense::new(n).activation(Activation::Relu);
    let sig = |n| Dense::new(n).activation(Activation::Sigmoid);
    let stacks = [
        (
            "linear",
            Sequential::new()
                .add(Dense::new(100).input_dim(2))
                .add(Dense::new(50))
                .add(Dense::new(50))
                .add(Dense::new(10))
                .add(Dense::new(1)),
        ),
        (
            "sigmoid",
            Sequential::new()
                .add(sig(20).input_dim(2))
                .add(sig(20))
                .add(Dense::new(1)),
        ),
        (
            "one relu",
            Sequential::new()
                .add(Dense::new(100).input_dim(2))
                .add(Dense::new(50))
                .add(Dense::new(50))
                .add(relu(10))
                .add(Dense::new(1)),
        ),
        (
            "mlp",
            Sequential::new()
                .add(Dense::new(32).activation(Activation::Tanh).input_dim(2))
                .add(relu(32))
                .add(Dense::new(16).activation(Activation::Gelu))
                .add(Dense::new(1)),
        ),
    ];
    stacks
        .into_iter()
        .map(|(name, s)| {
            let mut store = ParamStore::new();
            let net = s.build(&mut store, 3);
            (name, net, store)
        })
        .collect()
}

fn eager(net: &Sequential<f32>, store: &ParamStore<f32>, x: &Tensor<f32>, y: &Tensor<f32>) -> (f32, ParamGrads<f32>) {
    let tape = Tape::new();
    let fw = ForwardPass::train(&tape, store);
    let loss = Loss::Mse.of(net.forward(&fw, tape.constant(x.clone())), y);
    (loss.item(), fw.backward(loss))
}

fn assert_same(name: &str, a: &(f32, ParamGrads<f32>), b: &(f32, ParamGrads<f32>), store: &ParamStore<f32>) {
    assert_eq!(a.0.to_bits(), b.0.to_bits(), "{name}: losses differ");
    for id in store.ids() {
        let bits = |g: Option<&Tensor<f32>>| g.map(|t| t.to_le_bytes());
        assert!(
            bits(a.1.get(id)) == bits(b.1.get(id)),
            "{name}: gradients of {} differ",
            store.name(id)
        );
    }
}

fn sgd(store: &mut ParamStore<f32>, grads: &ParamGrads<f32>) {
    for (id, w) in store.trainable_mut() {
        let g = &grads[id];
        *w = Tensor::from_fn(w.shape(), |i| w.data()[i] - 0.05 * g.data()[i]);
    }
}

#[test]
fn captured_steps_of_the_seed_models_and_an_mlp_equal_eager_bit_for_bit() {
    for (name, net, mut store) in models() {
        let mut step = Captured::new(|fw, x, y| Loss::Mse.of(net.forward(fw, x), y));
        for batch in 0..6 {
            // 16-row batches, then a short last one: captured again, then replayed again.
            let rows = if batch == 4 { 5 } else { 16 };
            let (x, y) = (data(&[rows, 2], batch), data(&[rows, 1], batch + 50));
            let got = step.run(&store, &x, &y);
            assert_same(name, &got, &eager(&net, &store, &x, &y), &store);
            sgd(&mut store, &got.1);
        }
    }
}

#[test]
fn a_new_batch_shape_captures_again_and_an_added_param_invalidates() {
    let (_, net, mut store) = models().remove(1);
    let captures = Cell::new(0);
    // Replays never call the step: each call is a capture.
    let mut plans = Captured::with(CapturedPlans::new().check_every(0), |fw, x, y| {
        captures.set(captures.get() + 1);
        Loss::Mse.of(net.forward(fw, x), y)
    });
    let (x, y) = (data(&[8, 2], 1), data(&[8, 1], 2));
    let (xs, ys) = (data(&[3, 2], 1), data(&[3, 1], 2));
    for _ in 0..3 {
        plans.run(&store, &x, &y);
    }
    assert_eq!(captures.get(), 1, "one capture, then replays");
    plans.run(&store, &xs, &ys);
    plans.run(&store, &x, &y);
    assert_eq!(captures.get(), 2, "the short batch is captured once, the full one kept");
    store.add("late", Tensor::zeros(&[1]), true);
    let got = plans.run(&store, &x, &y);
    assert_eq!(captures.get(), 3, "a parameter added after the capture captures again");
    assert_same("after add", &got, &eager(&net, &store, &x, &y), &store);
}

#[test]
fn dropout_batch_norm_and_label_lookups_are_refused_with_the_reason() {
    let mut store = ParamStore::<f32>::new();
    let mut b = ParamBuilder::new(&mut store, 0);
    let dense = Dense::new(3).build(&mut b, "d", 2);
    let bn = BatchNorm::new().build(&mut b, "bn", 3);
    let (x, y) = (data(&[4, 2], 1), data(&[4, 3], 2));
    let drop = Dropout::new(0.5);
    let err = |r: borel_nn::StepResult<f32>| r.expect_err("refused").to_string();
    let mut plans = CapturedPlans::new();
    let dropout = plans.run(&store, &x, &y, &|fw, x, y| {
        Loss::Mse.of(drop.forward(fw, dense.forward(fw, x)), y)
    });
    assert!(err(dropout).contains("dropout"));
    let norm = plans.run(&store, &x, &y, &|fw, x, y| {
        Loss::Mse.of(bn.forward(fw, dense.forward(fw, x)), y)
    });
    assert!(err(norm).contains("buffers"));
    let labels = Tensor::from_vec(vec![0.0, 2.0, 1.0, 0.0], &[4, 1]);
    let sparse = plans.run(&store, &x, &labels, &|fw, x, y| {
        Loss::SparseCategoricalCrossEntropy.of(dense.forward(fw, x), y)
    });
    assert!(err(sparse).contains("reads a value"));
}

#[test]
#[should_panic(expected = "control flow depends on values")]
fn a_step_whose_ops_change_between_replays_panics_when_checked() {
    let (_, net, store) = models().remove(1);
    let calls = Cell::new(0);
    let mut step = Captured::with(CapturedPlans::new().check_every(2), |fw, x, y| {
        calls.set(calls.get() + 1);
        let pred = net.forward(fw, x);
        let pred = if calls.get() > 1 { pred * 2.0 } else { pred };
        Loss::Mse.of(pred, y)
    });
    let (x, y) = (data(&[8, 2], 1), data(&[8, 1], 2));
    for _ in 0..3 {
        step.run(&store, &x, &y);
    }
}
