//! A user's model with a skip connection, a Huber loss written
//! from raw ops, AdamW, and weights that survive a file.
//!
//! cargo run --release --example 02_residual_model
use borel::prelude::*;
use std::f32::consts::PI;
type V<'t> = Var<'t, f32>;
type T = Tensor<f32>;

struct Res(DenseModule, DenseModule, DenseModule);

fn res(s: &mut ParamStore<f32>, seed: u64) -> Res {
    let b = &mut ParamBuilder::new(s, seed);
    let d = || Dense::new(32).activation(Activation::Tanh);
    let h = d().build(b, "in", 2);
    let m = d().build(b, "mid", 32);
    Res(h, m, Dense::new(1).build(b, "out", 32))
}

impl Module<f32> for Res {
    fn forward<'t>(&self, f: &ForwardPass<'t, f32>, x: V<'t>) -> V<'t> {
        let h = self.0.forward(f, x);
        self.2.forward(f, h + self.1.forward(f, h))
    }
    fn params(&self) -> Vec<ParamId> {
        [&self.0, &self.1, &self.2].iter().flat_map(|d| d.params()).collect()
    }
}

/// Huber, delta 1: `d^2 / 2` inside, `|d| - 1/2` outside.
fn huber<'t>(p: V<'t>, y: V<'t>) -> V<'t> {
    let a = (p - y).abs();
    let q = a.clamp(0.0, 1.0);
    (q * (q * 0.5 - 1.0) + a).mean()
}

/// Trains on the seed's surface; returns the MSE and whether
/// a twin loaded from the weight file predicts the same bits.
fn run() -> (f32, bool) {
    let r = &mut StdRng::seed_from_u64(0);
    let x = T::randn(&[400, 2], r) * tensor![2., 1.];
    let c = (&x * tensor![3. * PI, 4. * PI]).cos();
    let y = x.square() * tensor![1., 2.] - c * tensor![0.2, 0.4];
    let y = y.sum_axes(&[-1], true);
    let x = GlobalStandardizer::fit(&x).transform(&x);
    let mut s = ParamStore::new();
    let net = res(&mut s, 0);
    let mut opt = AdamW::new(0.01);
    for _ in 0..3000 {
        let t = Tape::new();
        let f = ForwardPass::train(&t, &s);
        let p = net.forward(&f, t.constant(x.clone()));
        let l = huber(p, t.constant(y.clone()));
        opt.update(&mut s, &f.backward(l));
    }
    let path = std::env::temp_dir().join("02.st");
    s.save(&path, Layout::Borel).unwrap();
    let mut s2 = ParamStore::new();
    let twin = res(&mut s2, 1);
    s2.load(&path, Layout::Borel).unwrap();
    let p = net.predict(&s, &x);
    let q = twin.predict(&s2, &x).to_le_bytes();
    let mse = (&p - &y).square().mean().item();
    (mse, p.to_le_bytes() == q)
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
