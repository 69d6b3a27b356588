//! A hand-written training loop that reproduces `Model::fit`
//! bit for bit: same data, weights, batches and updates.
//!
//! cargo run --release --example 05_train_loop
use borel::data::{DataLoader, GlobalStandardizer as Gs};
use borel::prelude::*;
use borel::rand::{SeedableRng, rngs::StdRng};
use std::f32::consts::PI;

/// Predictions after `e` epochs of `fit` and of the loop.
fn run(e: usize) -> [Vec<u8>; 2] {
    let r = &mut StdRng::seed_from_u64(0);
    let z = Tensor::rand_normal(&[1000, 2], 0., 1., r);
    let x = z * Tensor::from_vec(vec![2., 1.], &[2]);
    let y = Tensor::from_fn(&[1000, 1], |i| {
        let (a, b) = (x.at(&[i, 0]), x.at(&[i, 1]));
        let c = 0.2 * (3. * PI * a).cos();
        a * a + 2. * b * b - c - 0.4 * (4. * PI * b).cos()
    });
    let x = Gs::fit(&x).transform(&x);
    let mut s = ParamStore::new();
    let d = || Dense::new(20).activation("sigmoid");
    let b = Sequential::new().add(d().input_dim(2));
    let net = b.add(d()).add(Dense::new(1)).build(&mut s, 0);
    let mut m = Model::new(net, s.clone()).unwrap();
    m.compile(Loss::Mse, RmsProp::keras());
    let o = FitOptions::new().epochs(e).batch_size(64);
    m.fit(&x, &y, o.seed(7)).unwrap();
    let mut opt = RmsProp::keras();
    let mut dl = DataLoader::new(&x, &y, 64).shuffle(7);
    for _ in 0..e {
        for (xb, yb) in dl.epoch() {
            let t = Tape::new();
            let f = Forward::train(&t, &s);
            let p = m.module().forward(&f, t.constant(xb));
            let l = Loss::Mse.of(p, t.constant(yb));
            opt.update(&mut s, &f.backward(l));
        }
    }
    let by_fit = m.predict(&x).unwrap().to_le_bytes();
    [by_fit, m.module().predict(&s, &x).to_le_bytes()]
}

fn main() {
    let [a, b] = run(5);
    println!("loop == fit, bit for bit: {}", a == b);
    assert!(a == b);
}

#[test]
fn loop_reproduces_fit() {
    main();
}
