//! `fit` replays captured steps by default: History and weights equal the eager path's, bit
//! for bit, on the seed experiments' three models and on a model that cannot be captured.

use borel::prelude::*;

type T = Tensor<f32>;

fn data() -> (T, T) {
    let rng = &mut StdRng::seed_from_u64(1);
    let x = T::randn(&[200, 2], rng);
    let y = (x.square() * tensor![1., 2.]).sum_axes(&[-1], true);
    (x, y)
}

/// The seed experiments' networks (linear, sigmoid, one relu), and one with dropout.
fn nets() -> Vec<SequentialBuilder<f32>> {
    let wide = || {
        Sequential::new()
            .add(Dense::new(100).input_dim(2))
            .add(Dense::new(50))
            .add(Dense::new(50))
    };
    let sig = |n| Dense::new(n).activation(Activation::Sigmoid);
    vec![
        wide().add(Dense::new(10)).add(Dense::new(1)),
        Sequential::new()
            .add(sig(20).input_dim(2))
            .add(sig(20))
            .add(Dense::new(1)),
        wide()
            .add(Dense::new(10).activation(Activation::Relu))
            .add(Dense::new(1)),
        Sequential::new()
            .add(sig(20).input_dim(2))
            .add(Dropout::new(0.3))
            .add(Dense::new(1)),
    ]
}

/// Losses, validation losses and final weights of a fit, as bits.
fn fit(net: SequentialBuilder<f32>, capture: bool) -> (Vec<u64>, Vec<u64>, Vec<Vec<u8>>) {
    let (x, y) = data();
    let mut store = ParamStore::new();
    let net = net.build(&mut store, 5);
    let mut model = Model::new(net, store);
    model.compile(Loss::Mse, RmsProp::keras());
    // 160 training rows in batches of 64: a short last batch of 32 each epoch.
    let opts = FitOptions::new().epochs(4).batch_size(64).validation_split(0.2).seed(3);
    let history = model.fit(&x, &y, opts.capture(capture)).unwrap();
    let bits = |v: Vec<f64>| v.iter().map(|l| l.to_bits()).collect();
    let weights = model.store().iter().map(|(_, _, w)| w.to_le_bytes()).collect();
    (bits(history.loss()), bits(history.val_loss()), weights)
}

#[test]
fn captured_fit_equals_eager_fit_bit_for_bit() {
    for (i, net) in nets().into_iter().enumerate() {
        let eager = fit(nets().remove(i), false);
        assert!(
            fit(net, true) == eager,
            "model {i}: captured fit differs from the eager one"
        );
    }
}
