//! The dense kernels behind the linalg ops, on one row-major `n x n` matrix in f64 (the
//! matrices are small; f32 inputs are solved in f64 and rounded once): LU with partial
//! pivoting (as LAPACK's `getrf`), solves with it or its transpose, and Cholesky (`potrf`).

/// An LU factorization `P A = L U`: `L` unit lower and `U` upper triangular, stored together
/// in `lu`; row `i` of `P A` is row `perm[i]` of `A`.
pub(super) struct Lu {
    n: usize,
    lu: Vec<f64>,
    perm: Vec<usize>,
    /// The permutation's sign.
    sign: f64,
    /// The first column without a non-zero pivot (the matrix is singular), if any.
    pub(super) zero_pivot: Option<usize>,
}

impl Lu {
    /// Factors `a` with partial pivoting; a column without a non-zero pivot is recorded (as
    /// LAPACK's `info > 0`) and the factorization goes on, so the determinant comes out 0.
    pub(super) fn new(a: &[f64], n: usize) -> Self {
        let (mut lu, mut perm, mut sign, mut zero_pivot) = (a.to_vec(), (0..n).collect::<Vec<_>>(), 1.0, None);
        for k in 0..n {
            let p = (k..n)
                .max_by(|&i, &j| lu[i * n + k].abs().total_cmp(&lu[j * n + k].abs()))
                .expect("k < n");
            if lu[p * n + k] == 0.0 {
                zero_pivot.get_or_insert(k);
                continue;
            }
            if p != k {
                for c in 0..n {
                    lu.swap(k * n + c, p * n + c);
                }
                perm.swap(k, p);
                sign = -sign;
            }
            let pivot = lu[k * n + k];
            for r in k + 1..n {
                let f = lu[r * n + k] / pivot;
                lu[r * n + k] = f;
                for c in k + 1..n {
                    lu[r * n + c] -= f * lu[k * n + c];
                }
            }
        }
        Lu {
            n,
            lu,
            perm,
            sign,
            zero_pivot,
        }
    }

    /// `(sign, log |det|)`: `(0, -inf)` when singular.
    pub(super) fn slogdet(&self) -> (f64, f64) {
        if self.zero_pivot.is_some() {
            return (0.0, f64::NEG_INFINITY);
        }
        let n = self.n;
        let diag = (0..n).map(|i| self.lu[i * n + i]);
        let sign = diag.clone().fold(self.sign, |s, d| s * d.signum());
        (sign, diag.map(|d| d.abs().ln()).sum())
    }

    /// The determinant, as the product of the pivots (0 when singular).
    pub(super) fn det(&self) -> f64 {
        if self.zero_pivot.is_some() {
            return 0.0;
        }
        let n = self.n;
        (0..n).fold(self.sign, |d, i| d * self.lu[i * n + i])
    }

    /// `X` with `A X = B` (or `A^T X = B` when `transposed`), `B` row-major `n x k`. The
    /// matrix must not be singular.
    pub(super) fn solve(&self, b: &[f64], k: usize, transposed: bool) -> Vec<f64> {
        debug_assert!(self.zero_pivot.is_none());
        let (n, lu) = (self.n, &self.lu);
        let mut x = vec![0.0; n * k];
        if !transposed {
            // L U X = P B: forward substitution with unit L, then back substitution with U.
            for i in 0..n {
                x[i * k..(i + 1) * k].copy_from_slice(&b[self.perm[i] * k..(self.perm[i] + 1) * k]);
            }
            substitute(&mut x, k, (0..n).map(|i| (i, 0..i, None)), |i, j| lu[i * n + j]);
            substitute(&mut x, k, (0..n).rev().map(|i| (i, i + 1..n, Some(i))), |i, j| {
                lu[i * n + j]
            });
        } else {
            // U^T L^T P X = B: forward substitution with U^T, back substitution with unit L^T.
            x.copy_from_slice(b);
            substitute(&mut x, k, (0..n).map(|i| (i, 0..i, Some(i))), |i, j| lu[j * n + i]);
            substitute(&mut x, k, (0..n).rev().map(|i| (i, i + 1..n, None)), |i, j| {
                lu[j * n + i]
            });
            let w = std::mem::take(&mut x);
            x = vec![0.0; n * k];
            for i in 0..n {
                x[self.perm[i] * k..(self.perm[i] + 1) * k].copy_from_slice(&w[i * k..(i + 1) * k]);
            }
        }
        x
    }
}

/// One triangular substitution on the rows of `x` (`k` columns), in the order given: row `i`
/// loses `t(i, j) x_j` for each `j` of its range, then is divided by `t(i, d)` when a diagonal
/// `d` is given (none: a unit diagonal).
fn substitute(
    x: &mut [f64],
    k: usize,
    rows: impl Iterator<Item = (usize, std::ops::Range<usize>, Option<usize>)>,
    t: impl Fn(usize, usize) -> f64,
) {
    for (i, range, diag) in rows {
        for j in range {
            let f = t(i, j);
            for c in 0..k {
                x[i * k + c] -= f * x[j * k + c];
            }
        }
        if let Some(d) = diag {
            let p = t(i, d);
            for c in 0..k {
                x[i * k + c] /= p;
            }
        }
    }
}

/// The lower Cholesky factor `L` (`A = L L^T`) from the lower triangle of `a`, or the order
/// of the first leading minor that is not positive definite (as LAPACK's `info`, from 1).
pub(super) fn cholesky(a: &[f64], n: usize) -> Result<Vec<f64>, usize> {
    let mut l = vec![0.0; n * n];
    for j in 0..n {
        let d = a[j * n + j] - (0..j).map(|p| l[j * n + p] * l[j * n + p]).sum::<f64>();
        if d.is_nan() || d <= 0.0 {
            return Err(j + 1);
        }
        let d = d.sqrt();
        l[j * n + j] = d;
        for i in j + 1..n {
            let s = a[i * n + j] - (0..j).map(|p| l[i * n + p] * l[j * n + p]).sum::<f64>();
            l[i * n + j] = s / d;
        }
    }
    Ok(l)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: [f64; 9] = [0.0, 2.0, 1.0, 1.0, 1.0, 0.0, 3.0, 0.0, 1.0];

    fn matmul(a: &[f64], b: &[f64], n: usize, k: usize, ta: bool) -> Vec<f64> {
        let at = |i: usize, p: usize| if ta { a[p * n + i] } else { a[i * n + p] };
        (0..n * k)
            .map(|e| (0..n).map(|p| at(e / k, p) * b[p * k + e % k]).sum())
            .collect()
    }

    #[test]
    fn solves_and_determinants_of_a_matrix_that_needs_pivoting() {
        let lu = Lu::new(&A, 3);
        let b = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        for transposed in [false, true] {
            let x = lu.solve(&b, 2, transposed);
            let back = matmul(&A, &x, 3, 2, transposed);
            for (u, v) in back.iter().zip(&b) {
                assert!((u - v).abs() < 1e-12, "transposed {transposed}: {back:?}");
            }
        }
        // det = 0 (1 - 0) - 2 (1 - 0) + 1 (0 - 3) = -5
        assert!((lu.det() + 5.0).abs() < 1e-12);
        let (sign, log) = lu.slogdet();
        assert_eq!(sign, -1.0);
        assert!((log - 5f64.ln()).abs() < 1e-12);
    }

    #[test]
    fn a_singular_matrix_has_a_zero_pivot_and_determinant_zero() {
        let lu = Lu::new(&[1.0, 2.0, 2.0, 4.0], 2);
        assert_eq!(lu.zero_pivot, Some(1));
        assert_eq!((lu.det(), lu.slogdet()), (0.0, (0.0, f64::NEG_INFINITY)));
    }

    #[test]
    fn cholesky_factors_and_refuses_indefinite_matrices() {
        let l = cholesky(&[4.0, 2.0, 2.0, 5.0], 2).unwrap();
        assert_eq!(l, vec![2.0, 0.0, 1.0, 2.0]);
        assert_eq!(cholesky(&[1.0, 2.0, 2.0, 1.0], 2), Err(2));
        assert_eq!(cholesky(&[-1.0, 0.0, 0.0, 1.0], 2), Err(1));
    }
}
