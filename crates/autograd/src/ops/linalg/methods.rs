//! The linalg ops on [`Var`], with PyTorch's names: `a.solve(b)` is `torch.linalg.solve(a, b)`.

use super::lu::{Lu, cholesky};
use super::{Linalg, LinalgError, square};
use crate::float::Float;
use crate::tape::Var;
use crate::tensor::Tensor;

/// The first matrix of `a` (of order `n`) that `bad` finds fault with, as `(index, detail)`.
fn first_bad<F: Float>(a: &Tensor<F>, n: usize, bad: impl Fn(&[f64]) -> Option<usize>) -> Option<(usize, usize)> {
    let m = n * n;
    let data: Vec<f64> = a.data().iter().map(|v| v.to_f64()).collect();
    (0..data.len().checked_div(m).unwrap_or(0)).find_map(|i| Some((i, bad(&data[i * m..(i + 1) * m])?)))
}

/// `Err` naming the first singular matrix of `a`.
fn check_invertible<F: Float>(op: &'static str, a: &Tensor<F>, n: usize) -> Result<(), LinalgError> {
    match first_bad(a, n, |m| Lu::new(m, n).zero_pivot) {
        Some((index, column)) => Err(LinalgError::Singular {
            op,
            shape: a.shape().to_vec(),
            index,
            column,
        }),
        None => Ok(()),
    }
}

impl<'t, F: Float> Var<'t, F> {
    /// `X` with `A X = B` for `A = self` (`[..., n, n]`) and `B` of shape `[..., n, k]` or
    /// `[..., n]` (a batch of vectors), batch dims equal to `A`'s; PyTorch's
    /// `torch.linalg.solve(A, B)`. Gradients: `gB = A^-T G`, `gA = -gB X^T`, to any order.
    ///
    /// Panics at the caller's line when `A` is singular (use [`Var::solve_ex`] when the
    /// matrix comes from data) or the shapes do not fit.
    ///
    /// ```
    /// use borel_autograd::{Tape, Tensor};
    /// let tape = Tape::<f64>::new();
    /// let a = tape.var(Tensor::from_vec(vec![2.0, 1.0, 1.0, 3.0], &[2, 2]));
    /// let b = tape.var(Tensor::from_vec(vec![3.0, 5.0], &[2]));
    /// let x = a.solve(b);
    /// let close = |t: Tensor<f64>, want: &[f64]| t.data().iter().zip(want).all(|(u, v)| (u - v).abs() < 1e-12);
    /// assert!(close(x.value(), &[0.8, 1.4]));
    /// let grads = x.sum().backward(); // gB = A^-T 1
    /// assert!((grads[b].data()[0] - 0.4).abs() < 1e-12);
    /// ```
    #[track_caller]
    pub fn solve(self, b: Var<'t, F>) -> Var<'t, F> {
        let (sa, sb) = (self.shape(), b.shape());
        let (batch, n) = square("solve", &sa);
        let vector = sb.len() == sa.len() - 1;
        let fits = match sb.split_last() {
            Some((&k, rows)) if vector => rows == batch.as_slice() && k == n,
            _ => sb.len() == sa.len() && sb[..sb.len() - 2] == batch[..] && sb[sb.len() - 2] == n,
        };
        assert!(
            fits,
            "solve: A of shape {:?} and B of shape {:?} do not fit (B is [..., n, k] or [..., n] with A's batch dims)",
            sa.as_slice(),
            sb.as_slice()
        );
        if vector {
            return self.solve(b.unsqueeze(-1)).reshape(&sb);
        }
        self.binary(Linalg::Solve { transposed: false }, "solve", b)
    }

    /// [`Var::solve`] that returns a singular matrix as an error (PyTorch's
    /// `torch.linalg.solve_ex`, whose `info` is this error); wrong shapes still panic.
    ///
    /// ```
    /// use borel_autograd::{LinalgError, Tape, Tensor};
    /// let tape = Tape::<f64>::new();
    /// let a = tape.constant(Tensor::from_vec(vec![1.0, 2.0, 2.0, 4.0], &[2, 2]));
    /// let err = a.solve_ex(tape.constant(Tensor::ones(&[2]))).unwrap_err();
    /// assert!(matches!(err, LinalgError::Singular { column: 1, .. }), "{err}");
    /// ```
    #[track_caller]
    pub fn solve_ex(self, b: Var<'t, F>) -> Result<Var<'t, F>, LinalgError> {
        let (_, n) = square("solve", &self.shape());
        check_invertible("solve", &self.value(), n)?;
        Ok(self.solve(b))
    }

    /// The inverse of each matrix of `self` (`[..., n, n]`); PyTorch's `torch.linalg.inv`.
    /// Gradient `-Y^T G Y^T`. Panics when a matrix is singular ([`Var::inv_ex`] returns it).
    /// To apply an inverse to a vector or matrix, [`Var::solve`] is cheaper and more exact.
    ///
    /// ```
    /// use borel_autograd::{Tape, Tensor};
    /// let tape = Tape::<f64>::new();
    /// let a = tape.var(Tensor::from_vec(vec![4.0, 7.0, 2.0, 6.0], &[2, 2]));
    /// let want = [0.6, -0.7, -0.2, 0.4];
    /// assert!(a.inv().value().data().iter().zip(want).all(|(u, v)| (u - v).abs() < 1e-12));
    /// ```
    #[track_caller]
    pub fn inv(self) -> Var<'t, F> {
        square("inv", &self.shape());
        self.unary(Linalg::Inv)
    }

    /// [`Var::inv`] that returns a singular matrix as an error (PyTorch's `inv_ex`).
    ///
    /// ```
    /// use borel_autograd::{Tape, Tensor};
    /// let tape = Tape::<f32>::new();
    /// let a = tape.constant(Tensor::zeros(&[3, 2, 2]));
    /// assert!(a.inv_ex().unwrap_err().to_string().contains("matrix 0 of the input of shape [3, 2, 2] is singular"));
    /// ```
    #[track_caller]
    pub fn inv_ex(self) -> Result<Var<'t, F>, LinalgError> {
        let (_, n) = square("inv", &self.shape());
        check_invertible("inv", &self.value(), n)?;
        Ok(self.inv())
    }

    /// The determinant of each matrix of `self` (`[..., n, n]` gives `[...]`); PyTorch's
    /// `torch.linalg.det`. Gradient `G det(A) A^-T`. A singular matrix has determinant 0
    /// (no panic); its gradient, which needs the inverse, panics.
    ///
    /// ```
    /// use borel_autograd::{Tape, Tensor};
    /// let tape = Tape::<f64>::new();
    /// let a = tape.var(Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[2, 2]));
    /// let d = a.det();
    /// assert!((d.item() + 2.0).abs() < 1e-12);
    /// let g = d.backward()[a].to_vec(); // det(A) A^-T = [[4, -3], [-2, 1]]
    /// assert!(g.iter().zip([4.0, -3.0, -2.0, 1.0]).all(|(u, v)| (u - v).abs() < 1e-12));
    /// ```
    #[track_caller]
    pub fn det(self) -> Var<'t, F> {
        square("det", &self.shape());
        self.unary(Linalg::Det)
    }

    /// `(sign, log |det|)` of each matrix of `self`; PyTorch's `torch.linalg.slogdet`: the
    /// log-determinant without overflow. The sign is a constant (-1, 0 or 1; 0 with `-inf`
    /// for a singular matrix); `log |det|` has gradient `G A^-T`.
    ///
    /// ```
    /// use borel_autograd::{Tape, Tensor};
    /// let tape = Tape::<f64>::new();
    /// let a = tape.var(Tensor::from_vec(vec![0.0, 2.0, 3.0, 0.0], &[2, 2]));
    /// let (sign, logabsdet) = a.slogdet();
    /// assert_eq!(sign.item(), -1.0);
    /// assert!((logabsdet.item() - 6f64.ln()).abs() < 1e-12);
    /// ```
    #[track_caller]
    pub fn slogdet(self) -> (Var<'t, F>, Var<'t, F>) {
        let (batch, n) = square("slogdet", &self.shape());
        let a = self.value();
        let signs = super::per_matrix(&a, None, &batch, |_, m, _| Ok(vec![Lu::new(m, n).slogdet().0]));
        let signs = signs.expect("slogdet has no error");
        (self.tape().constant(signs), self.unary(Linalg::LogAbsDet))
    }

    /// The lower Cholesky factor `L` of each symmetric positive definite matrix of `self`
    /// (`A = L L^T`, only the lower triangle of `A` read); PyTorch's
    /// `torch.linalg.cholesky`. Its gradient is symmetric, as PyTorch's. Panics when a
    /// matrix is not positive definite ([`Var::cholesky_ex`] returns it).
    ///
    /// ```
    /// use borel_autograd::{Tape, Tensor};
    /// let tape = Tape::<f64>::new();
    /// let a = tape.var(Tensor::from_vec(vec![4.0, 2.0, 2.0, 5.0], &[2, 2]));
    /// assert_eq!(a.cholesky().value().data(), &[2.0, 0.0, 1.0, 2.0]);
    /// ```
    #[track_caller]
    pub fn cholesky(self) -> Var<'t, F> {
        square("cholesky", &self.shape());
        self.unary(Linalg::Cholesky)
    }

    /// [`Var::cholesky`] that returns a matrix that is not positive definite as an error
    /// (PyTorch's `cholesky_ex`).
    ///
    /// ```
    /// use borel_autograd::{LinalgError, Tape, Tensor};
    /// let tape = Tape::<f64>::new();
    /// let a = tape.constant(Tensor::from_vec(vec![1.0, 2.0, 2.0, 1.0], &[2, 2]));
    /// assert!(matches!(a.cholesky_ex(), Err(LinalgError::NotPositiveDefinite { order: 2, .. })));
    /// ```
    #[track_caller]
    pub fn cholesky_ex(self) -> Result<Var<'t, F>, LinalgError> {
        let (_, n) = square("cholesky", &self.shape());
        let a = self.value();
        if let Some((index, order)) = first_bad(&a, n, |m| cholesky(m, n).err()) {
            let shape = a.shape().to_vec();
            return Err(LinalgError::NotPositiveDefinite {
                op: "cholesky",
                shape,
                index,
                order,
            });
        }
        Ok(self.cholesky())
    }
}
