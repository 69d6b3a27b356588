//! The linalg ops' property tests (gradcheck and gradgradcheck in f64, f32 against f64) on
//! well-conditioned batches, and their panics and errors.

use super::{Linalg, LinalgError};
use crate::ops::testing::*;

/// `[batch..., n, n]` with entries in `-1..1` plus `n + 1` times a random sign on the
/// diagonal: strictly diagonally dominant, so invertible and well conditioned, with
/// determinants of both signs.
fn invertible() -> impl Strategy<Value = Tensor<f64>> {
    (shape(0, 2), 1usize..=3).prop_flat_map(|(batch, n)| {
        let shape = [batch, vec![n, n]].concat();
        let count: usize = shape.iter().product();
        (values_of(shape, -1.0, 1.0), prop::collection::vec(any::<bool>(), count)).prop_map(move |(t, signs)| {
            let d = t.to_vec();
            Tensor::from_fn(t.shape(), |i| {
                let on_diagonal = i % (n * n) % (n + 1) == 0;
                d[i] + if on_diagonal {
                    (n + 1) as f64 * if signs[i] { 1.0 } else { -1.0 }
                } else {
                    0.0
                }
            })
        })
    })
}

/// An invertible `A` and a right-hand side `[batch..., n, k]` (or `[batch..., n]` when
/// `vector`).
fn system(vector: bool) -> impl Strategy<Value = (Tensor<f64>, Tensor<f64>)> {
    (invertible(), 1usize..=2).prop_flat_map(move |(a, k)| {
        let mut s = a.shape().to_vec();
        s.pop();
        if !vector {
            s.push(k);
        }
        (Just(a), values_of(s, -2.0, 2.0))
    })
}

/// `X` of `[batch..., n, 2n]` whose left half is diagonally dominant, so `X X^T` is
/// symmetric positive definite and well conditioned.
fn wide() -> impl Strategy<Value = Tensor<f64>> {
    (shape(0, 2), 1usize..=3).prop_flat_map(|(batch, n)| {
        values_of([batch, vec![n, 2 * n]].concat(), -1.0, 1.0).prop_map(move |t| {
            let d = t.to_vec();
            Tensor::from_fn(t.shape(), |i| {
                d[i] + if i % (2 * n * n) % (2 * n + 1) == 0 { 2.0 } else { 0.0 }
            })
        })
    })
}

op_props! {
    ops: &Linalg::ALL.map(Linalg::label);
    solve((a, b) in system(false)) for [a, b] => |v| v[0].solve(v[1]);
    solve_vector((a, b) in system(true)) for [a, b] => |v| v[0].solve(v[1]);
    inv(a in invertible()) for [a] => |v| v[0].inv();
    det(a in invertible()) for [a] => |v| v[0].det();
    slogdet(a in invertible()) for [a] => |v| v[0].slogdet().1;
    cholesky(x in wide()) for [x] => |v| v[0].matmul_t(v[0]).cholesky();
}

#[test]
fn wide_rows_make_the_diagonal_dominant() {
    // n = 2: rows of 4, the diagonal of the left half at 0 and 5.
    let n = 2;
    let on: Vec<usize> = (0..8).filter(|i| i % (2 * n * n) % (2 * n + 1) == 0).collect();
    assert_eq!(on, [0, 5]);
}

#[test]
fn values_match_the_definitions() {
    let tape = Tape::<f64>::new();
    let a = tape.constant(Tensor::from_vec(
        vec![2.0, 1.0, 1.0, 3.0, 1.0, 0.0, 0.0, 2.0],
        &[2, 2, 2],
    ));
    let close = |x: Var<'_, f64>, want: &[f64]| {
        let got = x.value().to_vec();
        assert!(
            got.iter().zip(want).all(|(u, v)| (u - v).abs() < 1e-12),
            "{got:?} vs {want:?}"
        );
    };
    close(a.det(), &[5.0, 2.0]);
    close(a.slogdet().1, &[5f64.ln(), 2f64.ln()]);
    close(a.matmul(a.inv()), &[1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0]);
    let l = a.cholesky();
    close(l.matmul_t(l), &a.value().to_vec());
    close(
        l,
        &[
            2f64.sqrt(),
            0.0,
            0.5f64.sqrt(),
            2.5f64.sqrt(),
            1.0,
            0.0,
            0.0,
            2f64.sqrt(),
        ],
    );
}

#[test]
#[should_panic(
    expected = "solve: matrix 1 of the input of shape [2, 2, 2] is singular (no non-zero pivot in column 1); solve_ex returns this as an error"
)]
fn solve_panics_on_a_singular_matrix_naming_it() {
    let tape = Tape::<f64>::new();
    let a = tape.var(Tensor::from_vec(
        vec![1.0, 0.0, 0.0, 1.0, 1.0, 2.0, 2.0, 4.0],
        &[2, 2, 2],
    ));
    a.solve(tape.constant(Tensor::ones(&[2, 2])));
}

#[test]
#[should_panic(expected = "solve: A of shape [2, 2] and B of shape [3] do not fit")]
fn solve_panics_on_shapes_that_do_not_fit() {
    let tape = Tape::<f64>::new();
    tape.var(Tensor::<f64>::ones(&[2, 2]))
        .solve(tape.constant(Tensor::ones(&[3])));
}

#[test]
#[should_panic(expected = "inv: needs square matrices [..., n, n], got shape [2, 3]")]
fn inv_panics_on_a_matrix_that_is_not_square() {
    Tape::<f32>::new().var(Tensor::ones(&[2, 3])).inv();
}

#[test]
fn the_ex_variants_return_errors_and_values() {
    let tape = Tape::<f64>::new();
    let singular = tape.var(Tensor::from_vec(vec![1.0, 2.0, 2.0, 4.0], &[2, 2]));
    let err = singular.inv_ex().unwrap_err();
    assert_eq!(
        err,
        LinalgError::Singular {
            op: "inv",
            shape: vec![2, 2],
            index: 0,
            column: 1
        }
    );
    assert_eq!(singular.det().item(), 0.0);
    let (sign, log) = singular.slogdet();
    assert_eq!((sign.item(), log.item()), (0.0, f64::NEG_INFINITY));
    let err = singular.cholesky_ex().unwrap_err();
    assert!(
        err.to_string()
            .contains("not positive definite (its leading minor of order 2 is not)"),
        "{err}"
    );
    let fine = tape.var(Tensor::from_vec(vec![2.0, 1.0, 1.0, 2.0], &[2, 2]));
    assert_eq!(fine.inv_ex().unwrap().value(), fine.inv().value());
    assert_eq!(fine.cholesky_ex().unwrap().value(), fine.cholesky().value());
    let b = tape.constant(Tensor::ones(&[2]));
    assert_eq!(fine.solve_ex(b).unwrap().value(), fine.solve(b).value());
}
