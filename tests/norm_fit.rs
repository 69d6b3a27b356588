//! `fit` trains a `Sequential` with `BatchNorm` and `LayerNorm`: the optimizer's update writes
//! the running statistics each batch, inference (`predict`, `evaluate`) uses them and changes
//! nothing, and the weight file carries them.

use borel::prelude::*;

#[test]
fn fit_updates_running_statistics_and_predict_uses_them() {
    let mut store = ParamStore::<f32>::new();
    let net = Sequential::new()
        .add(Dense::new(8).activation(Activation::Tanh).input_dim(2))
        .add(BatchNorm::pytorch())
        .add(LayerNorm::keras())
        .add(Dense::new(1))
        .build(&mut store, 0);
    let mut model = Model::new(net, store);
    model.compile(Loss::Mse, Adam::new(0.01));
    let x = Tensor::from_fn(&[64, 2], |i| ((i * 7 % 13) as f32 - 6.0) / 3.0 + 2.0);
    let y = Tensor::from_fn(&[64, 1], |i| (i % 5) as f32 / 5.0);
    let history = model.fit(&x, &y, FitOptions::new().epochs(3).batch_size(16)).unwrap();
    let first = history.loss()[0];
    assert!(history.loss()[2] < first, "{:?}", history.loss());
    let store = model.store();
    let count = store.get(store.find("1.num_batches_tracked").unwrap()).item();
    assert_eq!(count, 12.0, "3 epochs of 4 batches");
    let mean = store.get(store.find("1.moving_mean").unwrap()).clone();
    assert!(mean.data().iter().any(|m| m.abs() > 0.05), "{mean:?}");
    let before = store.snapshot();
    let once = model.predict(&x).unwrap();
    assert_eq!(model.predict(&x).unwrap(), once);
    model.evaluate(&x, &y).unwrap();
    assert_eq!(model.store().snapshot(), before, "inference changed the store");
    // One sample predicts as in a batch: inference does not use batch statistics.
    let row = Tensor::from_vec(x.data()[..2].to_vec(), &[1, 2]);
    assert!((model.predict(&row).unwrap().item() - once.data()[0]).abs() < 1e-6);
}
