//! Integer indexing: `index_select` (backward: `index_add`) and `gather` (backward:
//! `scatter_add`), each the other's adjoint, so every order of derivative stays on the tape.

use std::borrow::Cow;
use std::sync::Arc;

use crate::float::Float;
use crate::ops::kernels::Buf;
use crate::ops::{Family, Grads};
use crate::shape::{Shape, norm_axis, numel};
use crate::tape::{Engine, Var};
use crate::tensor::Tensor;

/// Which indexing op a node applies; `size` is the length of the output's `axis` for the
/// adjoints, which scatter into zeros.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum IndexOp {
    IndexSelect {
        axis: usize,
        index: Arc<[usize]>,
    },
    IndexAdd {
        axis: usize,
        index: Arc<[usize]>,
        size: usize,
    },
    Gather {
        axis: usize,
        index: Arc<[usize]>,
    },
    ScatterAdd {
        axis: usize,
        index: Arc<[usize]>,
        size: usize,
    },
}

impl<F: Float> Family<F> for IndexOp {
    fn name(&self) -> Cow<'static, str> {
        Cow::Borrowed(match self {
            IndexOp::IndexSelect { .. } => "index_select",
            IndexOp::IndexAdd { .. } => "index_add",
            IndexOp::Gather { .. } => "gather",
            IndexOp::ScatterAdd { .. } => "scatter_add",
        })
    }

    fn forward(&self, x: &[&Tensor<F>]) -> Tensor<F> {
        match self {
            IndexOp::IndexSelect { axis, index } => index_select_forward(x[0], *axis, index),
            IndexOp::IndexAdd { axis, index, size } => index_add_forward(x[0], *axis, index, *size),
            IndexOp::Gather { axis, index } => gather_forward(x[0], *axis, index),
            IndexOp::ScatterAdd { axis, index, size } => scatter_add_forward(x[0], *axis, index, *size),
        }
    }

    /// Each op's gradient is its adjoint applied to `g`.
    fn backward<E: Engine<F>>(&self, e: &E, x: &[&E::V], _y: &E::V, g: E::V, _: &[bool]) -> Grads<E::V> {
        let (axis, index) = match self {
            IndexOp::IndexSelect { axis, index }
            | IndexOp::IndexAdd { axis, index, .. }
            | IndexOp::Gather { axis, index }
            | IndexOp::ScatterAdd { axis, index, .. } => (*axis, index.clone()),
        };
        let size = e.shape(x[0])[axis];
        let adjoint = match self {
            IndexOp::IndexSelect { .. } => IndexOp::IndexAdd { axis, index, size },
            IndexOp::IndexAdd { .. } => IndexOp::IndexSelect { axis, index },
            IndexOp::Gather { .. } => IndexOp::ScatterAdd { axis, index, size },
            IndexOp::ScatterAdd { .. } => IndexOp::Gather { axis, index },
        };
        smallvec::smallvec![Some(e.apply(adjoint.into(), &[&g]))]
    }

    /// Linear: the same op applied to the tangent.
    fn tangent<E: Engine<F>>(&self, e: &E, x: &[&E::V], _y: &E::V, dx: &[Option<E::V>]) -> Option<E::V> {
        super::linear_tangent(e, self.clone().into(), x, dx, &[])
    }
}

/// Splits a shape around `axis`: (product of the dims before, the dim, product after).
fn around(shape: &[usize], axis: usize) -> (usize, usize, usize) {
    (numel(&shape[..axis]), shape[axis], numel(&shape[axis + 1..]))
}

// ---- index_select, and its adjoint index_add ----------------------------------------------

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
        check_indices("index_select", index, &s, axis);
        self.unary(IndexOp::IndexSelect {
            axis,
            index: Arc::from(index),
        })
    }
}

/// Panics at the caller's line, naming `op`, when an index is out of range for `axis`.
#[track_caller]
fn check_indices(op: &str, index: &[usize], s: &[usize], axis: usize) {
    if let Some(&bad) = index.iter().find(|&&i| i >= s[axis]) {
        panic!("{op}: index {bad} is out of range for dim {axis} of shape {s:?}");
    }
}

/// `out[.., i, ..] = x[.., index[i], ..]` along `axis`.
fn index_select_forward<F: Float>(x: &Tensor<F>, axis: usize, index: &[usize]) -> Tensor<F> {
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
fn index_add_forward<F: Float>(g: &Tensor<F>, axis: usize, index: &[usize], size: usize) -> Tensor<F> {
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

// ---- gather, and its adjoint scatter_add --------------------------------------------------

impl<'t, F: Float> Var<'t, F> {
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
        check_indices("gather", index, &s, axis);
        self.unary(IndexOp::Gather {
            axis,
            index: Arc::from(index),
        })
    }
}

/// `torch.gather`: the index has the output's shape `[.., m, ..]` (as `x` outside `axis`), and
/// `out[o, j, i] = x[o, index[o, j, i], i]`.
fn gather_forward<F: Float>(x: &Tensor<F>, axis: usize, index: &[usize]) -> Tensor<F> {
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
fn scatter_add_forward<F: Float>(g: &Tensor<F>, axis: usize, index: &[usize], size: usize) -> Tensor<F> {
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

// ---- select and at: integer indexing, composed from slice and reshape ---------------------

impl<'t, F: Float> Var<'t, F> {
    /// The entry `index` along `axis`, with that axis removed (PyTorch's `select`, `x[i]` on
    /// axis 0); a negative index counts from the end.
    ///
    /// ```
    /// use borel_autograd::{Tape, Tensor};
    /// let tape = Tape::<f32>::new();
    /// let x = tape.var(Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]));
    /// assert_eq!(x.select(0, 1).value().data(), &[4.0, 5.0, 6.0]);
    /// assert_eq!(x.select(1, -1).value().data(), &[3.0, 6.0]);
    /// assert_eq!(x.select(1, -1).sum().backward()[x].data(), &[0.0, 0.0, 1.0, 0.0, 0.0, 1.0]);
    /// ```
    #[track_caller]
    pub fn select(self, axis: isize, index: isize) -> Var<'t, F> {
        self.select_named("select", axis, index)
    }

    #[track_caller]
    fn select_named(self, op: &str, axis: isize, index: isize) -> Var<'t, F> {
        let mut s = self.shape();
        let a = norm_axis(op, axis, s.len());
        let n = s[a] as isize;
        let i = if index < 0 { index + n } else { index };
        if i < 0 || i >= n {
            panic!(
                "{op}: index {index} is out of range for dim {a} of shape {:?}",
                s.as_slice()
            );
        }
        let i = i as usize;
        let picked = self.slice_checked(op, a as isize, i, i + 1, 1);
        s.remove(a);
        picked.reshape(&s)
    }

    /// Integer indexing on the leading axes: `x.at(&[i, j])` is PyTorch's `x[i, j]`, a scalar
    /// for a 2-D `x`, the rest of the dims otherwise; negative indices count from the end.
    ///
    /// ```
    /// use borel_autograd::{Tape, Tensor};
    /// let tape = Tape::<f64>::new();
    /// let x = tape.var(Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]));
    /// assert_eq!(x.at(&[1, 2]).item(), 6.0);
    /// assert_eq!(x.at(&[-1]).value().data(), &[4.0, 5.0, 6.0]);
    /// assert_eq!(x.at(&[0, 1]).backward()[x].data(), &[0.0, 1.0, 0.0, 0.0, 0.0, 0.0]);
    /// ```
    #[track_caller]
    pub fn at(self, index: &[isize]) -> Var<'t, F> {
        let s = self.shape();
        if index.len() > s.len() {
            panic!("at: {} indices for shape {:?}", index.len(), s.as_slice());
        }
        let mut v = self;
        for &i in index {
            v = v.select_named("at", 0, i);
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::testing::*;

    op_props! {
        select((x, axis, index) in (any_values(1, 3), -1isize..=0, -3isize..3)) for [x] => |v| {
            let n = x.shape()[if axis < 0 { x.rank() - 1 } else { 0 }] as isize;
            v[0].select(axis, index.rem_euclid(n)).sin() + v[0].select(axis, -1).cos().sum()
        };
        at((x, i, j) in (any_values(2, 3), 0usize..3, 0usize..3)) for [x] => |v| {
            let (i, j) = ((i % x.shape()[0]) as isize, (j % x.shape()[1]) as isize);
            v[0].at(&[i, j]).sin() * v[0].at(&[i]).sum()
        };
        index_select((x, picks) in (any_values(1, 3), prop::collection::vec(0usize..3, 0..5))) for [x] => |v| {
            let idx: Vec<usize> = picks.iter().map(|&i| i % x.shape()[0]).collect();
            v[0].index_select(0, &idx).sin()
        };
        gather((x, m, seed) in (any_values(2, 2), 1usize..4, any::<u64>())) for [x] => |v| {
            let (rows, cols) = (x.shape()[0], x.shape()[1]);
            let idx: Vec<usize> = (0..rows * m).map(|i| ((seed >> (i % 60)) as usize + i) % cols).collect();
            v[0].gather(1, &idx, &[rows, m]).sin()
        };
    }
}
