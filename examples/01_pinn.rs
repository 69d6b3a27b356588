//! A physics-informed network: u(x) with u'' = -sin x on [0, pi] and u(0) = u(pi) = 0,
//! whose solution is sin x. The residual's u'' comes from the tape: the network is
//! differentiated twice with respect to its input inside the loss.
//!
//! cargo run --release --example 01_pinn

use borel::prelude::*;
use std::f64::consts::PI;

fn hidden(n: usize) -> Dense {
    Dense::new(n).activation("tanh")
}

/// Trains u for `steps` Adam steps; returns max |u - sin| on a grid.
fn train(steps: usize) -> f64 {
    let mut store = ParamStore::<f64>::new();
    let net = Sequential::new()
        .add(hidden(32).input_dim(1))
        .add(hidden(32))
        .add(Dense::new(1))
        .build(&mut store, 0);
    let col = |n| {
        let x = Tensor::linspace(0.0, PI, n);
        x.reshape(&[n, 1])
    };
    let (xs, xb) = (col(64), col(2));
    let mut opt = Adam::new(0.01);
    for _ in 0..steps {
        let tape = Tape::new();
        let fw = Forward::train(&tape, &store);
        let x = tape.var(xs.clone());
        let u = net.forward(&fw, x);
        let ux = tape.grad(u.sum(), &[x], true)[0];
        let uxx = tape.grad(ux.sum(), &[x], true)[0];
        let r = (uxx + x.sin()).square().mean();
        let b = tape.constant(xb.clone());
        let ub = net.forward(&fw, b).square();
        let g = fw.backward(r + ub.mean());
        opt.update(&mut store, &g);
    }
    let grid = col(101);
    let u = net.predict(&store, &grid);
    u.max_abs_diff(&grid.sin())
}

fn main() {
    let err = train(5000);
    println!("max |u - sin x| = {err:.2e}");
}

#[test]
fn pinn_solves_the_poisson_problem() {
    let err = train(2000);
    assert!(err < 1e-2, "max error {err}");
}
