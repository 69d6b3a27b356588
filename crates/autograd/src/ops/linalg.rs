//! Linear algebra on small dense matrices, with PyTorch's `torch.linalg` names and batching
//! (every leading dim is a batch of matrices): `solve`, `inv`, `det`, `slogdet`, `cholesky`,
//! and `solve_ex`, `inv_ex`, `cholesky_ex`, which return a singular or indefinite matrix as a
//! [`LinalgError`] instead of panicking.
//!
//! Each backward rule is written with the family's own ops and matrix products (solve's uses
//! a solve with the transpose), so gradients exist to any order:
//!
//! | op | forward | backward (`G` the output's gradient) |
//! |---|---|---|
//! | `solve` | `X = A^-1 B` | `gB = A^-T G`, `gA = -gB X^T` |
//! | `inv` | `Y = A^-1` | `gA = -Y^T G Y^T` |
//! | `det` | `d = det A` | `gA = G d A^-T` |
//! | `slogdet` | `log abs det A` | `gA = G A^-T` (the sign has no gradient) |
//! | `cholesky` | `L`, `A = L L^T` | `S = L^-T Phi(L^T G) L^-1`, `gA = (S + S^T) / 2`, `Phi` the lower triangle with the diagonal halved |

use std::borrow::Cow;

mod lu;

use lu::Lu;

use crate::float::Float;
use crate::ops::{EngineExt, Family, Grads, Op, Reduce, ShapeOp};
use crate::shape::Axes;
use crate::tape::Engine;
use crate::tensor::Tensor;

/// A singular or indefinite matrix met by a `_ex` op: data, not a programming error.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LinalgError {
    /// A matrix has no inverse (LU found no non-zero pivot in a column).
    #[error("{op}: matrix {index} of the input of shape {shape:?} is singular (no non-zero pivot in column {column})")]
    Singular {
        /// The op.
        op: &'static str,
        /// The shape of the matrices' input.
        shape: Vec<usize>,
        /// The matrix, in row-major order over the batch dims.
        index: usize,
        /// The column without a pivot.
        column: usize,
    },
    /// A matrix is not symmetric positive definite (Cholesky met a non-positive pivot).
    #[error(
        "{op}: matrix {index} of the input of shape {shape:?} is not positive definite (its leading minor of order {order} is not)"
    )]
    NotPositiveDefinite {
        /// The op.
        op: &'static str,
        /// The shape of the matrices' input.
        shape: Vec<usize>,
        /// The matrix, in row-major order over the batch dims.
        index: usize,
        /// The order of the first leading minor that is not positive definite (from 1).
        order: usize,
    },
}

/// The linalg ops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Linalg {
    /// Inputs `A`, `B`: `X` with `A X = B`, or `A^T X = B` when `transposed` (backward's).
    Solve {
        transposed: bool,
    },
    Inv,
    Det,
    /// `log |det A|`, the second output of `slogdet`.
    LogAbsDet,
    Cholesky,
}

impl Linalg {
    /// Every op a user calls, for the property-test list.
    #[cfg(test)]
    const ALL: [Linalg; 5] = [
        Linalg::Solve { transposed: false },
        Linalg::Inv,
        Linalg::Det,
        Linalg::LogAbsDet,
        Linalg::Cholesky,
    ];

    fn label(self) -> &'static str {
        match self {
            Linalg::Solve { .. } => "solve",
            Linalg::Inv => "inv",
            Linalg::Det => "det",
            Linalg::LogAbsDet => "slogdet",
            Linalg::Cholesky => "cholesky",
        }
    }
}

/// The batch dims and the order `n` of the square matrices of shape `s`; panics naming `op`
/// and the shape otherwise.
#[track_caller]
fn square(op: &str, s: &[usize]) -> (Vec<usize>, usize) {
    match s {
        [batch @ .., r, c] if r == c => (batch.to_vec(), *r),
        _ => panic!("{op}: needs square matrices [..., n, n], got shape {s:?}"),
    }
}

/// `f(index, matrix of a, matrix of b)` for each matrix of the batch, in f64; the results
/// concatenated into a tensor of `shape`, or the first error.
fn per_matrix<F: Float>(
    a: &Tensor<F>,
    b: Option<&Tensor<F>>,
    shape: &[usize],
    mut f: impl FnMut(usize, &[f64], &[f64]) -> Result<Vec<f64>, LinalgError>,
) -> Result<Tensor<F>, LinalgError> {
    let (batch, n) = square("linalg", a.shape());
    let count: usize = batch.iter().product();
    let wide = |t: &Tensor<F>| t.data().iter().map(|v| v.to_f64()).collect::<Vec<f64>>();
    let (da, db) = (wide(a), b.map(wide).unwrap_or_default());
    let kb = db.len() / count.max(1);
    let mut out = Vec::with_capacity(shape.iter().product());
    for i in 0..count {
        let mb = if b.is_some() {
            &db[i * kb..(i + 1) * kb]
        } else {
            &[][..]
        };
        out.extend(f(i, &da[i * n * n..(i + 1) * n * n], mb)?);
    }
    Ok(Tensor::from_vec(out.into_iter().map(F::from_f64).collect(), shape))
}

/// The factorization of matrix `index` of an input of `shape`, or the error naming it when
/// it is singular.
fn invertible(op: &'static str, shape: &[usize], index: usize, m: &[f64], n: usize) -> Result<Lu, LinalgError> {
    let lu = Lu::new(m, n);
    match lu.zero_pivot {
        Some(column) => Err(LinalgError::Singular {
            op,
            shape: shape.to_vec(),
            index,
            column,
        }),
        None => Ok(lu),
    }
}

impl<F: Float> Family<F> for Linalg {
    fn name(&self) -> Cow<'static, str> {
        Cow::Borrowed(self.label())
    }

    #[track_caller]
    fn forward(&self, x: &[&Tensor<F>]) -> Tensor<F> {
        let (a, op) = (x[0], self.label());
        let (batch, n) = square(op, a.shape());
        let shape = a.shape();
        let out = match *self {
            Linalg::Solve { transposed } => {
                let k = x[1].shape()[x[1].rank() - 1];
                per_matrix(a, Some(x[1]), x[1].shape(), |i, m, b| {
                    Ok(invertible(op, shape, i, m, n)?.solve(b, k, transposed))
                })
            }
            Linalg::Inv => {
                let eye: Vec<f64> = (0..n * n).map(|e| f64::from(u8::from(e / n == e % n))).collect();
                per_matrix(a, None, shape, |i, m, _| {
                    Ok(invertible(op, shape, i, m, n)?.solve(&eye, n, false))
                })
            }
            Linalg::Det => per_matrix(a, None, &batch, |_, m, _| Ok(vec![Lu::new(m, n).det()])),
            Linalg::LogAbsDet => per_matrix(a, None, &batch, |_, m, _| Ok(vec![Lu::new(m, n).slogdet().1])),
            Linalg::Cholesky => per_matrix(a, None, shape, |index, m, _| {
                lu::cholesky(m, n).map_err(|order| LinalgError::NotPositiveDefinite {
                    op,
                    shape: shape.to_vec(),
                    index,
                    order,
                })
            }),
        };
        match out {
            Ok(t) => t,
            Err(e) => panic!("{e}; {op}_ex returns this as an error"),
        }
    }

    fn backward<E: Engine<F>>(&self, e: &E, x: &[&E::V], y: &E::V, g: E::V, needs: &[bool]) -> Grads<E::V> {
        let a = x[0];
        let mm = |p: &E::V, q: &E::V, ta: bool, tb: bool| e.apply(Op::MatMul(super::MatMul { ta, tb }), &[p, q]);
        let solve = |t: bool, b: &E::V| e.apply(Op::from(Linalg::Solve { transposed: t }), &[a, b]);
        let ga = match *self {
            Linalg::Solve { transposed } => {
                let gb = solve(!transposed, &g);
                let ga = if transposed {
                    mm(y, &gb, false, true)
                } else {
                    mm(&gb, y, false, true)
                };
                return smallvec::smallvec![needs[0].then(|| e.neg(&ga)), needs[1].then_some(gb)];
            }
            Linalg::Inv => e.neg(&mm(&mm(y, &g, true, false), y, false, true)),
            Linalg::Det | Linalg::LogAbsDet => {
                let shape = e.shape(a);
                let (batch, n) = square(self.label(), &shape);
                let eye = Tensor::from_fn(&shape, |i| F::from_f64(f64::from(u8::from(i % (n * n) % (n + 1) == 0))));
                let inv_t = solve(true, &e.constant(eye));
                let per = if *self == Linalg::Det { e.mul(&g, y) } else { g };
                let per = e.reshape(&per, [batch, vec![1, 1]].concat().as_slice().into());
                e.mul(&per, &inv_t)
            }
            Linalg::Cholesky => {
                let n = e.shape(a)[e.shape(a).len() - 1];
                let phi = cholesky_phi::<F>(&e.shape(a), n);
                let p = e.mul_const(&mm(y, &g, true, false), phi);
                let l_solve = |b: &E::V| e.apply(Op::from(Linalg::Solve { transposed: true }), &[y, b]);
                let s = transpose(e, &l_solve(&transpose(e, &l_solve(&p))));
                e.affine(
                    &e.apply_binary(super::Binary::Add, &s, &transpose(e, &s)),
                    F::from_f64(0.5),
                    F::ZERO,
                )
            }
        };
        smallvec::smallvec![needs[0].then_some(ga)]
    }

    /// `dX = op(A)^-1 (dB - op(dA) X)` for solve, `d(A^-1) = -A^-1 dA A^-1`,
    /// `d det A = det A tr(A^-1 dA)` (without the factor `det A` for `log |det A|`), and for
    /// `A = L L^T`: `dL = L Phi(L^-1 dA_s L^-T)`, where `Phi` keeps the lower triangle with
    /// the diagonal halved and `dA_s` is `dA` symmetrized, as the backward rule's gradient is.
    fn tangent<E: Engine<F>>(&self, e: &E, x: &[&E::V], y: &E::V, dx: &[Option<E::V>]) -> Option<E::V> {
        let a = x[0];
        let mm = |p: &E::V, q: &E::V, ta: bool, tb: bool| e.apply(Op::MatMul(super::MatMul { ta, tb }), &[p, q]);
        let solve = |m: &E::V, t: bool, b: &E::V| e.apply(Op::from(Linalg::Solve { transposed: t }), &[m, b]);
        let Linalg::Solve { transposed } = *self else {
            let da = dx[0].as_ref()?;
            return Some(self.matrix_tangent(e, a, y, da));
        };
        let rhs = match (&dx[0], &dx[1]) {
            (Some(da), Some(db)) => e.apply_binary(super::Binary::Sub, db, &mm(da, y, transposed, false)),
            (Some(da), None) => e.neg(&mm(da, y, transposed, false)),
            (None, Some(db)) => db.clone(),
            (None, None) => return None,
        };
        Some(solve(a, transposed, &rhs))
    }
}

impl Linalg {
    /// The tangent of a one-input op (inv, det, log |det|, cholesky) of `a`, given `da`.
    fn matrix_tangent<F: Float, E: Engine<F>>(&self, e: &E, a: &E::V, y: &E::V, da: &E::V) -> E::V {
        let mm = |p: &E::V, q: &E::V, ta: bool, tb: bool| e.apply(Op::MatMul(super::MatMul { ta, tb }), &[p, q]);
        let solve = |m: &E::V, t: bool, b: &E::V| e.apply(Op::from(Linalg::Solve { transposed: t }), &[m, b]);
        let shape = e.shape(a);
        let (batch, n) = square(self.label(), &shape);
        match *self {
            Linalg::Inv => e.neg(&mm(&mm(y, da, false, false), y, false, false)),
            Linalg::Det | Linalg::LogAbsDet => {
                // tr(A^-1 dA) = sum(A^-T * dA) per matrix.
                let eye = Tensor::from_fn(&shape, |i| F::from_f64(f64::from(u8::from(i % (n * n) % (n + 1) == 0))));
                let inv_t = solve(a, true, &e.constant(eye));
                let r = shape.len();
                let tr = e.apply(
                    Reduce::sum([r - 2, r - 1].into_iter().collect(), false).into(),
                    &[&e.mul(&inv_t, da)],
                );
                let tr = e.reshape(&tr, batch.as_slice().into());
                if *self == Linalg::Det { e.mul(y, &tr) } else { tr }
            }
            Linalg::Cholesky => {
                let half = F::from_f64(0.5);
                let sym = e.affine(
                    &e.apply_binary(super::Binary::Add, da, &transpose(e, da)),
                    half,
                    F::ZERO,
                );
                // L^-1 dA_s L^-T, as (L^-1 (L^-1 dA_s)^T)^T.
                let m = transpose(e, &solve(y, false, &transpose(e, &solve(y, false, &sym))));
                let phi = cholesky_phi::<F>(&shape, n);
                mm(y, &e.mul_const(&m, phi), false, false)
            }
            Linalg::Solve { .. } => unreachable!("solve has two inputs"),
        }
    }
}

/// The matrices of `v` transposed (its last two dims swapped).
fn transpose<F: Float, E: Engine<F>>(e: &E, v: &E::V) -> E::V {
    let r = e.shape(v).len();
    let mut perm: Axes = (0..r).collect();
    perm.swap(r - 2, r - 1);
    e.apply(ShapeOp::Permute(perm).into(), &[v])
}

mod methods;
#[cfg(test)]
mod tests;

/// Cholesky's Φ mask over matrices of `n x n` batched to `shape`: 1 below the diagonal, 1/2 on
/// it, 0 above (the lower-triangular half that both its backward and tangent rules use).
fn cholesky_phi<F: Float>(shape: &[usize], n: usize) -> Tensor<F> {
    Tensor::from_fn(shape, |i| {
        let (r, c) = (i % (n * n) / n, i % n);
        F::from_f64(match r.cmp(&c) {
            std::cmp::Ordering::Greater => 1.0,
            std::cmp::Ordering::Equal => 0.5,
            std::cmp::Ordering::Less => 0.0,
        })
    })
}
