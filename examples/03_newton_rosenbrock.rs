//! Derivatives you can trust, then use: gradcheck and gradgradcheck of an expression, a
//! custom op (swish with a hand-written backward) checked against finite differences, and
//! Newton's method on Rosenbrock with the Hessian taken from the tape.
//!
//! cargo run --release --example 03_newton_rosenbrock

use borel::autograd::*;

// swish below is a `fn` item: the checks take functions of the vars of one tape.
type Var64<'t> = Var<'t, f64>;

/// swish(x) = x sigmoid(x) as a custom op, with
/// swish' = swish + sigmoid (1 - swish) by hand, as Var
/// code: so it can be differentiated again.
fn swish<'t>(inputs: &[Var64<'t>]) -> Var64<'t> {
    let op = CustomVarFn::new(
        "swish",
        |x| x[0] * &x[0].sigmoid(),
        |x, y, grad_y| {
            let sigmoid = x[0].sigmoid();
            vec![grad_y * (y + sigmoid * (1.0 - y))]
        },
    );
    inputs[0].tape().custom_var(op, inputs)
}

/// The checks (each panics with its report if it fails), then ten Newton steps from
/// (-1.2, 1); returns the distance to the minimum (1, 1).
fn run() -> f64 {
    // f(A, b) = logsumexp(A b) + ||A||_F^2, A: [3, 4], b: [4].
    let f = expr(|v| v[0].matmul(v[1]).logsumexp() + v[0].square().sum());
    let options = GradcheckOptions::default();
    let a = (Tensor::arange(12).sin() * 3.0).reshape(&[3, 4]);
    let a_and_b = [a, Tensor::arange(4).sin() * 3.0];
    gradcheck(f, &a_and_b, &options).assert();
    gradgradcheck(f, &a_and_b, &options).assert();
    // swish, at the entries of A.
    gradcheck(swish, &a_and_b[..1], &options).assert();
    gradgradcheck(swish, &a_and_b[..1], &options).assert();
    let rosen = func(|v| {
        let x = v.slice(0, 0, 1);
        // 10 (y - x^2): its square is the 100 (y - x^2)^2 term.
        let y = (v.slice(0, 1, 2) - x.square()) * 10.0;
        ((x - 1.0).square() + y.square()).sum()
    });
    let mut point = tensor![-1.2, 1.0];
    for _ in 0..10 {
        point = &point - &hessian(rosen, &point).solve(&grad(rosen, &point));
    }
    (&point - 1.0).abs().max().item()
}

fn main() {
    let err = run();
    println!("|p - (1, 1)| = {err:.1e}");
}

#[test]
fn checks_pass_and_newton_converges() {
    assert!(run() < 1e-8);
}
