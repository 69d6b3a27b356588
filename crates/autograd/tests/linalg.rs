//! The linalg ops' programming errors panic at the caller's line, naming the op, the matrix
//! and the shape; Newton's method on a 2-D quadratic-plus-quartic takes its step with
//! `solve` on the tape's Hessian.

use borel_autograd::{Tape, Tensor, Var, hessian};

#[path = "common/panic_site.rs"]
mod panic_site;
use panic_site::panic_site;

#[test]
fn a_singular_solve_panics_at_the_callers_line() {
    let tape = Tape::<f64>::new();
    let a = tape.var(Tensor::from_vec(vec![1.0, 2.0, 2.0, 4.0], &[2, 2]));
    let b = tape.constant(Tensor::ones(&[2]));
    let (msg, file, line) = panic_site(|| {
        a.solve(b);
    });
    assert!(file.ends_with("tests/linalg.rs"), "{file}: {msg}");
    assert_eq!(line, line!() - 3, "{msg}");
    assert_eq!(
        msg,
        "solve: matrix 0 of the input of shape [2, 2] is singular (no non-zero pivot in column 1); \
         solve_ex returns this as an error"
    );
}

#[test]
fn an_indefinite_cholesky_and_a_non_square_inverse_panic_at_the_callers_line() {
    let tape = Tape::<f32>::new();
    let indefinite = tape.var(Tensor::from_vec(
        vec![1.0, 0.0, 0.0, 1.0, 1.0, 2.0, 2.0, 1.0],
        &[2, 2, 2],
    ));
    let (msg, file, line) = panic_site(|| {
        indefinite.cholesky();
    });
    let call = line!() - 2;
    assert!(
        file.ends_with("tests/linalg.rs") && line == call,
        "{file}:{line}: {msg}"
    );
    assert!(
        msg.starts_with("cholesky: matrix 1 of the input of shape [2, 2, 2] is not positive definite"),
        "{msg}"
    );
    let (msg, file, line) = panic_site(|| {
        tape.var(Tensor::ones(&[3, 2])).inv();
    });
    let call = line!() - 2;
    assert!(
        file.ends_with("tests/linalg.rs") && line == call,
        "{file}:{line}: {msg}"
    );
    assert_eq!(msg, "inv: needs square matrices [..., n, n], got shape [3, 2]");
}

#[test]
fn newtons_method_steps_with_solve() {
    /// x0^2 + 2 x1^2 + x0^4 / 4 + x0 x1: minimum at the origin.
    fn f<'t>(v: Var<'t, f64>) -> Var<'t, f64> {
        let (x0, x1) = (v.select(0, 0), v.select(0, 1));
        x0.square() + x1.square() * 2.0 + x0.powf(4.0) * 0.25 + x0 * x1
    }
    let mut x = Tensor::from_vec(vec![1.0, -0.5], &[2]);
    for _ in 0..8 {
        let tape = Tape::new();
        let v = tape.var(x.clone());
        let g = tape.grad(f(v), &[v], false)[0].value();
        let h = hessian(f, &x);
        let step = tape.constant(h).solve(tape.constant(g)).value();
        x = &x - &step;
    }
    assert!(x.data().iter().all(|v| v.abs() < 1e-12), "{x:?}");
}
