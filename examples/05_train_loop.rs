//! The seed's sigmoid model trained by a hand-written loop that
//! reproduces `Model::fit` bit for bit: same data, weights,
//! batches and updates; then by the same loop with the step
//! captured (`torch.compile(step)`), again bit for bit.
//!
//! cargo run --release --example 05_train_loop
type T = Tensor<f32>;
use borel::prelude::*;
use std::f32::consts::PI;

/// The seed's surface at 1000 points, x standardized.
fn data() -> (T, T) {
    let rng = &mut StdRng::seed_from_u64(0);
    let x = T::randn(&[1000, 2], rng) * tensor![2., 1.];
    let waves = (&x * tensor![3. * PI, 4. * PI]).cos();
    let y = x.square() * tensor![1., 2.] - waves * tensor![0.2, 0.4];
    (GlobalStandardizer::fit(&x).transform(&x), y.sum_axes(&[-1], true))
}

/// Predictions after `e` epochs of `fit`, of the loop and of the captured loop.
fn run(epochs: usize) -> [Vec<u8>; 3] {
    let (x, y) = data();
    let mut store = ParamStore::new();
    let sigmoid = || Dense::new(20).activation(Activation::Sigmoid);
    let layers = Sequential::new().add(sigmoid().input_dim(2)).add(sigmoid());
    let net = layers.add(Dense::new(1)).build(&mut store, 0);
    let mut model = Model::new(net, store.clone());
    model.compile(Loss::Mse, RmsProp::keras());
    let options = FitOptions::new().epochs(epochs).batch_size(64);
    model.fit(&x, &y, options.seed(7)).unwrap();
    let mut captured_store = store.clone();
    let mut opt = RmsProp::keras();
    let mut loader = DataLoader::new(&x, &y, 64).shuffle(7);
    for _ in 0..epochs {
        for (xb, yb) in loader.epoch() {
            let tape = Tape::new();
            let fw = ForwardPass::train(&tape, &store);
            let pred = model.module().forward(&fw, tape.constant(xb));
            opt.update(&mut store, &fw.backward(Loss::Mse.of(pred, yb)));
        }
    }
    // The same loop, captured: recorded on the first batch (and the short last one),
    // replayed on the others.
    let mut opt = RmsProp::keras();
    let mut loader = DataLoader::new(&x, &y, 64).shuffle(7);
    let mut step = Captured::new(|fw, x, y| Loss::Mse.of(model.module().forward(fw, x), y));
    for _ in 0..epochs {
        for (xb, yb) in loader.epoch() {
            let (_loss, grads) = step.run(&captured_store, &xb, &yb);
            opt.update(&mut captured_store, &grads);
        }
    }
    let by_fit = model.predict(&x).unwrap();
    let module = model.module();
    [by_fit, module.predict(&store, &x), module.predict(&captured_store, &x)].map(|pred| pred.to_le_bytes())
}

#[test]
fn loop_reproduces_fit() {
    main();
}

fn main() {
    let [by_fit, by_loop, by_captured] = run(5);
    assert!(by_fit == by_loop, "the loop differs from fit");
    assert!(by_captured == by_loop, "the captured loop differs from the eager one");
    println!("captured loop == loop == fit, bit for bit, after 5 epochs");
}
