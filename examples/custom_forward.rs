//! A user's own model: a struct whose forward function mixes layers and raw ops (a skip
//! connection and a learned scalar gate), trained with a hand-written loop of ten lines.
//!
//! cargo run --release --example custom_forward

use borel::prelude::*;
use borel_nn::{DenseLayer, ParamId};

/// y = dense2(sigmoid(dense1(x)) + gate * (x summed into every unit)): the gate is a raw
/// parameter, not a layer.
struct Residual {
    dense1: DenseLayer,
    dense2: DenseLayer,
    gate: ParamId,
}

impl Residual {
    fn new(store: &mut ParamStore<f32>, seed: u64) -> Self {
        let mut b = Builder::new(store, seed);
        Residual {
            dense1: Dense::new(16).build(&mut b, "dense1", 2),
            dense2: Dense::new(1).build(&mut b, "dense2", 16),
            gate: b.param("gate", &[1], Init::Constant(0.5)),
        }
    }
}

impl Module<f32> for Residual {
    fn forward<'t>(&self, cx: &Ctx<'t, '_, f32>, x: Var<'t, f32>) -> Var<'t, f32> {
        let h = self.dense1.forward(cx, x).sigmoid();
        let skip = x.matmul(cx.tape().constant(Tensor::full(&[2, 16], 0.5))) * cx.param(self.gate);
        self.dense2.forward(cx, h + skip)
    }
}

fn train(steps: usize) -> (f64, f64) {
    let (x, y) = borel::data::seed_surface::<f32>(256, 1, 10);
    let x = borel::data::GlobalStandardizer::fit(&x).transform(&x);
    let mut store = ParamStore::new();
    let model = Residual::new(&mut store, 0);
    let mut opt = Adam::new(0.01);
    let mut losses = vec![];
    // The training loop: forward, loss, backward, step.
    for _ in 0..steps {
        let tape = Tape::new();
        let cx = Ctx::new(&tape, &store, true);
        let loss = loss::mse(
            model.forward(&cx, tape.constant(x.clone())),
            tape.constant(y.clone()),
            Reduction::Mean,
        );
        let grads = cx.gradients(&loss.backward());
        losses.push(loss.item() as f64);
        let names: Vec<String> = store.names().iter().map(|s| s.to_string()).collect();
        let mut params: Vec<Param<'_, f32>> = store
            .iter_mut()
            .zip(&grads)
            .zip(&names)
            .map(|(((_, _, v), g), n)| Param::new(n, v, g.as_ref().unwrap()))
            .collect();
        opt.step(&mut params);
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
