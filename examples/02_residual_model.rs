//! A user's model with a skip connection, a Huber loss written
//! from raw ops, AdamW, and weights that survive a file.
//!
//! cargo run --release --example 02_residual_model
use borel::prelude::*;
use std::f32::consts::PI;

#[derive(Module)]
struct Residual {
    input: DenseModule,
    mid: DenseModule,
    out: DenseModule,
}

impl Residual {
    fn new(store: &mut ParamStore, seed: u64) -> Self {
        let b = &mut ParamBuilder::new(store, seed);
        let tanh = |units| Dense::new(units).activation(Activation::Tanh);
        Residual {
            input: tanh(32).build(b, "input", 2),
            mid: tanh(32).build(b, "mid", 32),
            out: Dense::new(1).build(b, "out", 32),
        }
    }

    fn forward<'t>(&self, fw: &ForwardPass<'t>, x: Var<'t>) -> Var<'t> {
        let h = self.input.forward(fw, x);
        self.out.forward(fw, h + self.mid.forward(fw, h))
    }
}

/// Huber, delta 1: `d^2 / 2` inside, `|d| - 1/2` outside.
fn huber<'t>(pred: Var<'t>, target: Var<'t>) -> Var<'t> {
    let error = (pred - target).abs();
    let inside = error.clamp(0.0, 1.0);
    (inside * (inside * 0.5 - 1.0) + error).mean()
}

/// Trains on the seed's surface; returns the MSE and whether
/// a twin loaded from the weight file predicts the same bits.
fn run() -> (f32, bool) {
    let rng = &mut StdRng::seed_from_u64(0);
    let x = Tensor::randn(&[400, 2], rng) * tensor![2., 1.];
    let waves = (&x * tensor![3. * PI, 4. * PI]).cos();
    let y = x.square() * tensor![1., 2.] - waves * tensor![0.2, 0.4];
    let y = y.sum_axes(&[-1], true);
    let x = GlobalStandardizer::fit(&x).transform(&x);
    let mut store = ParamStore::new();
    let net = Residual::new(&mut store, 0);
    let mut opt = AdamW::new(0.01);
    for _ in 0..3000 {
        let tape = Tape::new();
        let fw = ForwardPass::train(&tape, &store);
        let pred = net.forward(&fw, tape.constant(x.clone()));
        let loss = huber(pred, tape.constant(y.clone()));
        opt.update(&mut store, &fw.backward(loss));
    }
    let path = std::env::temp_dir().join("02.safetensors");
    store.save(&path, Layout::Borel).unwrap();
    let mut twin_store = ParamStore::new();
    let twin = Residual::new(&mut twin_store, 1);
    twin_store.load(&path, Layout::Borel).unwrap();
    let pred = net.predict(&store, &x);
    let mse = (&pred - &y).square().mean().item();
    (mse, pred.to_le_bytes() == twin.predict(&twin_store, &x).to_le_bytes())
}

fn main() {
    let (mse, same) = run();
    println!("MSE {mse:.3}, reloaded equal: {same}");
    assert!(mse < 1.0 && same);
}

#[test]
fn trains_and_round_trips() {
    main();
}
