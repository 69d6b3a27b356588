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
fn blobs(centers: &[[f32; 2]], n: usize, seed: u64) -> (T, T) {
    let rng = &mut StdRng::seed_from_u64(seed);
    let label: Vec<usize> = (0..centers.len() * n).map(|i| i / n).collect();
    let noise = T::rand_normal(&[label.len(), 2], 0., 0.7, rng);
    let y = T::from_fn(&[label.len(), 1], |i| label[i] as f32);
    (noise + T::from(centers).index_select(0, &label), y)
}

/// Accuracy on fresh samples of a linear classifier fitted
/// with `loss`: one logit for two classes, else one a class.
fn accuracy(centers: &[[f32; 2]], loss: Loss) -> f64 {
    let outputs = if centers.len() == 2 { 1 } else { centers.len() };
    let mut store = ParamStore::new();
    let linear = Dense::new(outputs).input_dim(2);
    let net = Sequential::new().add(linear).build(&mut store, 0);
    let mut model = Model::new(net, store);
    model.compile(loss, Adam::new(0.05)).metrics(&[Metric::Accuracy]);
    let (x, y) = blobs(centers, 200, 0);
    model.fit(&x, &y, FitOptions::new().epochs(30)).unwrap();
    let (x, y) = blobs(centers, 200, 1);
    model.evaluate(&x, &y).unwrap().accuracy.unwrap()
}

fn main() {
    let two = [[-1.5, -1.], [1.5, 1.]];
    let bce = Loss::BinaryCrossEntropyWithLogits;
    let accuracy_two = accuracy(&two, bce);
    let three = [[-2., 0.], [2., 0.], [0., 3.]];
    let sce = Loss::SparseCategoricalCrossEntropy;
    let accuracy_three = accuracy(&three, sce);
    println!("accuracy: two {accuracy_two:.3}, three {accuracy_three:.3}");
    assert!(accuracy_two > 0.95 && accuracy_three > 0.95);
}

#[test]
fn both_classifiers_beat_95_percent() {
    main();
}
