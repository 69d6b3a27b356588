//! Classification with `Model::fit`: logistic regression on
//! two Gaussian blobs (binary cross-entropy from logits), and a
//! softmax classifier on three blobs fed integer labels.
//!
//! cargo run --release --example 04_classify
use borel::prelude::*;
use borel::rand::{SeedableRng, rngs::StdRng};
type T = Tensor<f32>;

/// `n` points around each center (std 0.7), labelled by
/// the index of their center.
fn blobs(c: &[[f32; 2]], n: usize, seed: u64) -> (T, T) {
    let r = &mut StdRng::seed_from_u64(seed);
    let m = c.len() * n;
    let z = T::rand_normal(&[m, 2], 0., 0.7, r);
    let mu = T::from_fn(&[m, 2], |i| c[i / 2 / n][i % 2]);
    let y = T::from_fn(&[m, 1], |i| (i / n) as f32);
    (z + mu, y)
}

/// Accuracy on fresh samples of a linear classifier fitted
/// with `loss`: one logit for two classes, else one a class.
fn accuracy(c: &[[f32; 2]], loss: Loss) -> f64 {
    let k = if c.len() == 2 { 1 } else { c.len() };
    let mut s = ParamStore::new();
    let d = Dense::new(k).input_dim(2);
    let net = Sequential::new().add(d).build(&mut s, 0);
    let mut m = Model::new(net, s);
    m.compile(loss, Adam::new(0.05));
    m.metrics(&[Metric::Accuracy]);
    let (x, y) = blobs(c, 200, 0);
    let o = FitOptions::new().epochs(30);
    m.fit(&x, &y, o).unwrap();
    let (x, y) = blobs(c, 200, 1);
    m.evaluate(&x, &y).unwrap().accuracy.unwrap()
}

fn main() {
    let two = [[-1.5, -1.], [1.5, 1.]];
    let bce = Loss::BinaryCrossEntropyWithLogits;
    let a2 = accuracy(&two, bce);
    let three = [[-2., 0.], [2., 0.], [0., 3.]];
    let sce = Loss::SparseCategoricalCrossEntropy;
    let a3 = accuracy(&three, sce);
    println!("accuracy: two {a2:.3}, three {a3:.3}");
    assert!(a2 > 0.95 && a3 > 0.95);
}

#[test]
fn both_classifiers_beat_95_percent() {
    main();
}
