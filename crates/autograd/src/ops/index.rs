//! Integer indexing: `index_select` (backward: `index_add`) and `gather` (backward:
//! `scatter_add`), each the other's adjoint, so every order of derivative stays on the tape.

use std::sync::Arc;

use crate::float::Float;
use crate::ops::Op;
use crate::ops::kernels::Buf;
use crate::shape::{Shape, norm_axis, numel};
use crate::tape::Var;
use crate::tensor::Tensor;

fn around(shape: &[usize], axis: usize) -> (usize, usize, usize) {
    (numel(&shape[..axis]), shape[axis], numel(&shape[axis + 1..]))
}

/// `out[.., i, ..] = x[.., index[i], ..]` along `axis`.
pub(crate) fn index_select_forward<F: Float>(x: &Tensor<F>, axis: usize, index: &[usize]) -> Tensor<F> {
    let (outer, n, inner) = around(x.shape(), axis);
    let d = x.data();
    let mut out = Buf::with_capacity(outer * index.len() * inner);
    for o in 0..outer {
        for &i in index {
            out.extend_from_slice(&d[(o * n + i) * inner..(o * n + i + 1) * inner]);
        }
    }
    let mut shape: Shape = x.dims();
    shape[axis] = index.len();
    Tensor::from_parts(out.freeze(), shape)
}

/// Adjoint of `index_select`: `out[.., index[i], ..] += g[.., i, ..]`, `out` having `size`
/// entries along `axis`.
pub(crate) fn index_add_forward<F: Float>(g: &Tensor<F>, axis: usize, index: &[usize], size: usize) -> Tensor<F> {
    let (outer, m, inner) = around(g.shape(), axis);
    let d = g.data();
    let mut out = Buf::full(outer * size * inner, F::ZERO);
    for o in 0..outer {
        for (j, &i) in index.iter().enumerate() {
            let src = &d[(o * m + j) * inner..(o * m + j + 1) * inner];
            for (a, &b) in out[(o * size + i) * inner..(o * size + i + 1) * inner]
                .iter_mut()
                .zip(src)
            {
                *a += b;
            }
        }
    }
    let mut shape: Shape = g.dims();
    shape[axis] = size;
    Tensor::from_parts(out.freeze(), shape)
}

/// `torch.gather`: the index has the output's shape `[.., m, ..]` (as `x` outside `axis`), and
/// `out[o, j, i] = x[o, index[o, j, i], i]`.
pub(crate) fn gather_forward<F: Float>(x: &Tensor<F>, axis: usize, index: &[usize]) -> Tensor<F> {
    let (outer, n, inner) = around(x.shape(), axis);
    let m = index.len() / (outer * inner).max(1);
    let d = x.data();
    let mut out = Buf::with_capacity(index.len());
    for o in 0..outer {
        for j in 0..m {
            for i in 0..inner {
                let k = index[(o * m + j) * inner + i];
                out.push(d[(o * n + k) * inner + i]);
            }
        }
    }
    let mut shape: Shape = x.dims();
    shape[axis] = m;
    Tensor::from_parts(out.freeze(), shape)
}

/// Adjoint of `gather`: `out[o, index[o, j, i], i] += g[o, j, i]`.
pub(crate) fn scatter_add_forward<F: Float>(g: &Tensor<F>, axis: usize, index: &[usize], size: usize) -> Tensor<F> {
    let (outer, m, inner) = around(g.shape(), axis);
    let d = g.data();
    let mut out = Buf::full(outer * size * inner, F::ZERO);
    for o in 0..outer {
        for j in 0..m {
            for i in 0..inner {
                let k = index[(o * m + j) * inner + i];
                out[(o * size + k) * inner + i] += d[(o * m + j) * inner + i];
            }
        }
    }
    let mut shape: Shape = g.dims();
    shape[axis] = size;
    Tensor::from_parts(out.freeze(), shape)
}

impl<'t, F: Float> Var<'t, F> {
    /// Picks entries along `axis` by position (repeats allowed): PyTorch's `index_select`.
    ///
    /// ```
    /// use borel_autograd::{Tape, Tensor};
    /// let tape = Tape::<f32>::new();
    /// let x = tape.var(Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[3, 2]));
    /// let y = x.index_select(0, &[2, 0, 2]);
    /// assert_eq!(y.value().data(), &[5.0, 6.0, 1.0, 2.0, 5.0, 6.0]);
    /// assert_eq!(y.sum().backward()[x].data(), &[1.0, 1.0, 0.0, 0.0, 2.0, 2.0]);
    /// ```
    #[track_caller]
    pub fn index_select(self, axis: isize, index: &[usize]) -> Var<'t, F> {
        let s = self.shape();
        let axis = norm_axis("index_select", axis, s.len());
        if let Some(&bad) = index.iter().find(|&&i| i >= s[axis]) {
            panic!(
                "index_select: index {bad} is out of range for dim {axis} of shape {:?}",
                s.as_slice()
            );
        }
        self.unary(Op::IndexSelect {
            axis,
            index: Arc::from(index),
        })
    }

    /// PyTorch's `gather`: `index` has the output's shape, equal to `self`'s outside `axis`,
    /// and picks along `axis` for every position (e.g. the target class of each row).
    ///
    /// ```
    /// use borel_autograd::{Tape, Tensor};
    /// let tape = Tape::<f32>::new();
    /// let x = tape.var(Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[2, 2]));
    /// let y = x.gather(1, &[1, 0], &[2, 1]);
    /// assert_eq!(y.value().data(), &[2.0, 3.0]);
    /// ```
    #[track_caller]
    pub fn gather(self, axis: isize, index: &[usize], index_shape: &[usize]) -> Var<'t, F> {
        let s = self.shape();
        let axis = norm_axis("gather", axis, s.len());
        let ok = index_shape.len() == s.len() && (0..s.len()).all(|d| d == axis || index_shape[d] == s[d]);
        assert!(
            ok,
            "gather: index shape {index_shape:?} must match shape {:?} outside axis {axis}",
            s.as_slice()
        );
        assert!(
            index.len() == numel(index_shape),
            "gather: {} indices do not fill shape {index_shape:?}",
            index.len()
        );
        if let Some(&bad) = index.iter().find(|&&i| i >= s[axis]) {
            panic!(
                "gather: index {bad} is out of range for dim {axis} of shape {:?}",
                s.as_slice()
            );
        }
        self.unary(Op::Gather {
            axis,
            index: Arc::from(index),
        })
    }
}
