//! The seed's sigmoid model trained by a hand-written loop that
//! reproduces `Model::fit` bit for bit: same data, weights,
//! batches and updates.
//!
//! cargo run --release --example 05_train_loop
type T = Tensor<f32>;
use borel::prelude::*;
use std::f32::consts::PI;

fn v(a: &[f32]) -> T {
    T::from_vec(a.to_vec(), &[a.len()])
}

/// The seed's surface at 1000 points, x standardized.
fn data() -> (T, T) {
    let r = &mut StdRng::seed_from_u64(0);
    let x = T::rand_normal(&[1000, 2], 0., 1., r) * v(&[2., 1.]);
    let c = (&x * v(&[3. * PI, 4. * PI])).cos();
    let y = x.square() * v(&[1., 2.]) - c * v(&[0.2, 0.4]);
    (GlobalStandardizer::fit(&x).transform(&x), y.sum_axes(&[-1], true))
}

/// Predictions after `e` epochs of `fit` and of the loop.
fn run(e: usize) -> [Vec<u8>; 2] {
    let (x, y) = data();
    let mut s = ParamStore::new();
    let d = || Dense::new(20).activation(Activation::Sigmoid);
    let seq = Sequential::new().add(d().input_dim(2)).add(d());
    let net = seq.add(Dense::new(1)).build(&mut s, 0);
    let mut m = Model::new(net, s.clone());
    m.compile(Loss::Mse, RmsProp::keras());
    let o = FitOptions::new().epochs(e).batch_size(64);
    m.fit(&x, &y, o.seed(7)).unwrap();
    let mut opt = RmsProp::keras();
    let mut dl = DataLoader::new(&x, &y, 64).shuffle(7);
    for (xb, yb) in (0..e).flat_map(|_| dl.epoch().collect::<Vec<_>>()) {
        let t = Tape::new();
        let f = ForwardPass::train(&t, &s);
        let p = m.module().forward(&f, t.constant(xb));
        opt.update(&mut s, &f.backward(Loss::Mse.of(p, yb)));
    }
    let a = m.predict(&x).unwrap();
    [a, m.module().predict(&s, &x)].map(|p| p.to_le_bytes())
}

#[test]
fn loop_reproduces_fit() {
    main();
}

fn main() {
    let [by_fit, by_loop] = run(5);
    assert!(by_fit == by_loop, "the loop differs from fit");
    println!("loop == fit, bit for bit, after 5 epochs");
}
