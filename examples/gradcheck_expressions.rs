//! Checks the tape's gradients of a few expressions against finite differences, then shows
//! what the report says about a custom op whose hand-written backward is wrong.
//!
//! cargo run --release --example gradcheck_expressions

use std::f64::consts::PI;

use borel::autograd::{CustomFn, GradcheckOptions, Tensor, expr, gradcheck, gradgradcheck};

fn main() {
    let opts = GradcheckOptions::default();
    let x = Tensor::from_vec(vec![0.3, -1.2, 0.8, 0.1, -0.4, 1.5], &[3, 2]);
    let w = Tensor::from_vec(vec![0.5, -0.3, 0.8, 0.2, -0.7, 0.4], &[2, 3]);

    println!("The seed's target: y = x1^2 + 2 x2^2 - 0.2 cos(3 pi x1) - 0.4 cos(4 pi x2)");
    let target = expr(|v| {
        let (x1, x2) = (v[0].slice(1, 0, 1), v[0].slice(1, 1, 2));
        x1.square() + x2.square() * 2.0 - (x1 * (3.0 * PI)).cos() * 0.2 - (x2 * (4.0 * PI)).cos() * 0.4
    });
    print!("{}", gradcheck(target, std::slice::from_ref(&x), &opts));
    print!("{}", gradgradcheck(target, std::slice::from_ref(&x), &opts));

    println!("\nA dense layer with softmax cross-entropy against class 2:");
    let ce = expr(|v| -v[0].matmul(v[1]).log_softmax(-1).slice(1, 2, 3).mean());
    print!("{}", gradcheck(ce, &[x.clone(), w.clone()], &opts));
    print!("{}", gradgradcheck(ce, &[x.clone(), w.clone()], &opts));

    println!("\nThe same in fast mode (random projections v^T J u):");
    print!("{}", gradcheck(ce, &[x.clone(), w], &GradcheckOptions::fast()));

    println!("\nA custom softsign x / (1 + |x|) whose backward forgot the square in 1 / (1 + |x|)^2:");
    let softsign = CustomFn::<f64>::new(
        "softsign",
        |x| x[0].map(|v| v / (1.0 + v.abs())),
        |x, _y, g| {
            vec![Tensor::from_fn(x[0].shape(), |i| {
                g.data()[i] / (1.0 + x[0].data()[i].abs())
            })]
        },
    );
    let report = gradcheck(|v| v[0].tape().custom(softsign.clone(), &[v[0]]).sum(), &[x], &opts);
    print!("{report}");
    assert!(!report.passed, "the wrong backward must be caught");
}
