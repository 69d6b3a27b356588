//! The seed post's C program, with Borel: a 1-4-1 sigmoid network fits sin(x) on [-pi, pi],
//! trained with plain SGD. No backward pass is written; the plot shows the fit.
//!
//! cargo run --release --example fit_sin

use borel::plot::{Labels, target_vs_prediction};
use borel::prelude::*;

fn train(epochs: usize) -> (Tensor<f32>, Tensor<f32>, f64) {
    let n = 64;
    let x = Tensor::<f32>::linspace(-std::f64::consts::PI, std::f64::consts::PI, n).reshape(&[n, 1]);
    let y = x.map(f32::sin);
    let mut store = ParamStore::new();
    let net = Sequential::new()
        .add(Dense::new(4).activation(Activation::Sigmoid).input_dim(1))
        .add(Dense::new(1))
        .build(&mut store, 7);
    let mut model = Model::new(net, store);
    model.compile(Loss::Mse, Sgd::new(0.5));
    let history = model
        .fit(&x, &y, FitOptions::new().epochs(epochs).batch_size(8).seed(1))
        .expect("clean data");
    let y_hat = model.predict(&x).expect("clean data");
    (y, y_hat, *history.loss().last().unwrap())
}

fn main() {
    let (y, y_hat, mse) = train(2000);
    println!("1-4-1 sigmoid network on sin(x), 2000 epochs of SGD (lr 0.5, batch 8): final mse {mse:.5}");
    let path = std::path::Path::new("target/fit_sin.svg");
    std::fs::create_dir_all("target").expect("target/ is writable");
    let labels = Labels::new(
        "sin(x) (red) and the 1-4-1 network (green)",
        "sample (x from -pi to pi)",
        "y",
    );
    target_vs_prediction(path, y.data(), y_hat.data(), labels).expect("plot");
    println!("Wrote {}", path.display());
}

#[test]
fn short_run_learns() {
    let (_, _, mse) = train(300);
    assert!(mse < 0.1, "mse {mse}");
}
