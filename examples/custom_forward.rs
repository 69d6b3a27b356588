//! A user's own model: a struct whose forward function mixes layers and raw ops (a skip
//! connection and a learned scalar gate), trained with a hand-written loop: a tape, the
//! forward code, the loss, one call for the gradients, one call for the update.
//!
//! cargo run --release --example custom_forward

use borel::prelude::*;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

/// y = dense2(sigmoid(dense1(x)) + gate * (x summed into every unit)): the gate is a raw
/// parameter, not a layer.
struct Residual {
    dense1: DenseModule,
    dense2: DenseModule,
    gate: ParamId,
}

impl Residual {
    fn new(store: &mut ParamStore<f32>, seed: u64) -> Self {
        let mut b = ParamBuilder::new(store, seed);
        Residual {
            dense1: Dense::new(16).build(&mut b, "dense1", 2),
            dense2: Dense::new(1).build(&mut b, "dense2", 16),
            gate: b.param("gate", &[1], Init::Constant(0.5)),
        }
    }
}

impl Module<f32> for Residual {
    fn forward<'t>(&self, fw: &ForwardPass<'t, f32>, x: Var<'t, f32>) -> Var<'t, f32> {
        let h = self.dense1.forward(fw, x).sigmoid();
        let skip = x.sum_axes(&[-1], true) * fw.param(self.gate);
        self.dense2.forward(fw, h + skip)
    }
    fn params(&self) -> Vec<ParamId> {
        [self.dense1.params(), self.dense2.params(), vec![self.gate]].concat()
    }
}

/// 256 random points of the bowl y = x1^2 + 2 x2^2 over [-2, 2]^2.
fn data() -> (Tensor<f32>, Tensor<f32>) {
    let mut rng = StdRng::seed_from_u64(1);
    let x = Tensor::<f32>::from_fn(&[256, 2], |_| rng.random_range(-2.0..2.0));
    let weights = Tensor::from_vec(vec![1.0, 2.0], &[2]);
    let y = (&x.square() * &weights).sum_axes(&[-1], true);
    (x, y)
}

fn train(steps: usize) -> (f64, f64) {
    let (x, y) = data();
    let mut store = ParamStore::new();
    let model = Residual::new(&mut store, 0);
    let mut opt = Adam::new(0.01);
    let mut losses = vec![];
    for _ in 0..steps {
        let tape = Tape::new();
        let fw = ForwardPass::train(&tape, &store);
        let pred = model.forward(&fw, tape.constant(x.clone()));
        let loss = Loss::Mse.of(pred, &y);
        losses.push(loss.item() as f64);
        let grads = fw.backward(loss);
        opt.update(&mut store, &grads);
    }
    (losses[0], *losses.last().unwrap())
}

fn main() {
    let (first, last) = train(2000);
    println!("Residual model with a learned gate: mse {first:.2} -> {last:.2} in 2000 full-batch Adam steps");
}

#[test]
fn short_run_reduces_the_loss() {
    let (first, last) = train(60);
    assert!(last < 0.7 * first, "{first} -> {last}");
}
