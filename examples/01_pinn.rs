//! A physics-informed network: u(x) with u'' = -sin x on [0, pi] and u(0) = u(pi) = 0,
//! whose solution is sin x. The residual's u'' comes from the tape: the network is
//! differentiated twice with respect to its input inside the loss. Adam first, then L-BFGS
//! with the strong-Wolfe line search finishes the fit, as PINNs are usually trained.
//!
//! cargo run --release --example 01_pinn

use borel::prelude::*;
use std::f64::consts::PI;

fn hidden(n: usize) -> Dense {
    Dense::new(n).activation(Activation::Tanh)
}

fn col(n: usize) -> Tensor<f64> {
    Tensor::linspace(0.0, PI, n).reshape(&[n, 1])
}

/// The mean squared residual at 64 collocation points plus u^2 at the ends, and its
/// gradients.
fn loss(net: &Sequential<f64>, store: &ParamStore<f64>) -> (f64, ParamGrads<f64>) {
    let tape = Tape::new();
    let fw = ForwardPass::train(&tape, store);
    let x = tape.var(col(64));
    let u = net.forward(&fw, x);
    let ux = tape.grad(u.sum(), &[x], true)[0];
    let uxx = tape.grad(ux.sum(), &[x], true)[0];
    let residual = (uxx + x.sin()).square().mean();
    let ub = net.forward(&fw, tape.constant(col(2))).square();
    let loss = residual + ub.mean();
    (loss.item(), fw.backward(loss))
}

/// Trains u with `adam` Adam steps, then `lbfgs` L-BFGS steps; returns max |u - sin| on a
/// grid after each.
fn train(adam: usize, lbfgs: usize) -> (f64, f64) {
    let mut store = ParamStore::<f64>::new();
    let net = Sequential::new()
        .add(hidden(32).input_dim(1))
        .add(hidden(32))
        .add(Dense::new(1))
        .build(&mut store, 0);
    let grid = col(101);
    let error = |store: &ParamStore<f64>| net.predict(store, &grid).max_abs_diff(&grid.sin());
    let mut opt = Adam::new(0.01);
    for _ in 0..adam {
        let (_, grads) = loss(&net, &store);
        opt.update(&mut store, &grads);
    }
    let after_adam = error(&store);
    // the loss is near 1e-7 by now: PyTorch's default tolerance_change (1e-9) would end
    // every step after an iteration or two
    let mut opt = Lbfgs::new(1.0)
        .line_search(LineSearch::StrongWolfe)
        .tolerance_change(1e-12);
    for _ in 0..lbfgs {
        opt.step(&mut store, |store| loss(&net, store));
    }
    (after_adam, error(&store))
}

fn main() {
    let (adam, lbfgs) = train(5000, 20);
    println!("max |u - sin x| after Adam: {adam:.2e}, after L-BFGS: {lbfgs:.2e}");
}

#[test]
fn pinn_solves_the_poisson_problem() {
    let (adam, lbfgs) = train(1000, 20);
    assert!(adam < 1e-2, "max error after Adam {adam}");
    assert!(
        lbfgs < 1e-4 && lbfgs < adam / 10.0,
        "L-BFGS took the error from {adam} to {lbfgs}"
    );
}
