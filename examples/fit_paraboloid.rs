//! A shallow network (one hidden layer of 4 tanh units, as in the course assignment the post
//! points to, turned to regression) fits z = x^2 + y^2 from several seeds, to show the
//! instability the post describes: some seeds stall far above the others.
//!
//! cargo run --release --example fit_paraboloid

use borel::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, StandardNormal};

/// The data: 400 points with x ~ N(0, 1), y ~ N(0, 1/4), and z = x^2 + y^2.
fn data() -> (Tensor<f32>, Tensor<f32>) {
    let mut rng = StdRng::seed_from_u64(100);
    let x = Tensor::from_fn(&[400, 2], |i| {
        let v: f32 = StandardNormal.sample(&mut rng);
        if i % 2 == 0 { v } else { v / 2.0 }
    });
    let z = Tensor::from_fn(&[400, 1], |i| x.data()[2 * i].powi(2) + x.data()[2 * i + 1].powi(2));
    (x, z)
}

/// The mse of always predicting the mean of z: a fit that learned nothing.
fn mean_predictor_mse(z: &Tensor<f32>) -> f64 {
    let m = z.data().iter().map(|&v| v as f64).sum::<f64>() / z.numel() as f64;
    z.data().iter().map(|&v| (v as f64 - m).powi(2)).sum::<f64>() / z.numel() as f64
}

/// Trains from `seed` (initial weights and shuffling) and returns the final mse.
fn run(seed: u64, epochs: usize) -> f64 {
    let (x, z) = data();
    let mut store = ParamStore::new();
    let net = Sequential::new()
        .add(
            Dense::new(4)
                .activation(Activation::Tanh)
                .kernel_init(Init::Normal(0.0, 0.01))
                .input_dim(2),
        )
        .add(Dense::new(1))
        .build(&mut store, seed);
    let mut model = Model::new(net, store);
    model.compile(Loss::Mse, Sgd::new(0.05));
    model
        .fit(&x, &z, FitOptions::new().epochs(epochs).batch_size(32).seed(seed))
        .expect("clean data");
    model.evaluate(&x, &z).expect("clean data").loss
}

fn main() {
    let baseline = mean_predictor_mse(&data().1);
    println!("seed   final mse   (predicting the mean of z gives {baseline:.3})");
    for seed in 0..6 {
        let mse = run(seed, 300);
        let verdict = if mse > 0.5 * baseline { "stalled" } else { "fit" };
        println!("{seed:>4}   {mse:>9.4}   {verdict}");
    }
}

#[test]
fn some_seeds_fit_and_none_diverge() {
    let baseline = mean_predictor_mse(&data().1);
    let mses: Vec<f64> = (0..4).map(|seed| run(seed, 300)).collect();
    assert!(
        mses.iter().all(|m| m.is_finite() && *m < 1.05 * baseline),
        "{mses:?} vs {baseline}"
    );
    assert!(
        mses.iter().any(|m| *m < 0.1 * baseline),
        "no seed fit: {mses:?} vs {baseline}"
    );
}
