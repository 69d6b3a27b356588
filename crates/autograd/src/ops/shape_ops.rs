//! Ops that move elements without arithmetic: reshape, permute/transpose, broadcast_to,
//! squeeze/unsqueeze, slice (backward: pad), pad (backward: slice); concat and stack are in
//! `concat.rs`. Each op's forward and backward sit together; `ShapeOp` only dispatches to them.

use std::borrow::Cow;

use crate::float::Float;
use crate::ops::concat::{concat_backward, concat_forward};
use crate::ops::kernels::{self, Buf};
use crate::ops::{Axes, EngineExt, Family, Grads};
use crate::shape::{Shape, for_each_row, norm_axis, numel, strides};
use crate::tape::{Engine, Var};
use crate::tensor::Tensor;

/// Which shape op a node applies.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum ShapeOp {
    Reshape(Shape),
    Permute(Axes),
    BroadcastTo(Shape),
    /// Every `step`-th entry of `start..end` along `axis`.
    Slice {
        axis: usize,
        start: usize,
        end: usize,
        step: usize,
    },
    /// Zeros of length `size` along `axis`, with input entry `i` at `before + i * step`.
    Pad {
        axis: usize,
        before: usize,
        step: usize,
        size: usize,
    },
    Concat {
        axis: usize,
    },
}

impl<F: Float> Family<F> for ShapeOp {
    fn name(&self) -> Cow<'static, str> {
        Cow::Borrowed(match self {
            ShapeOp::Reshape(_) => "reshape",
            ShapeOp::Permute(_) => "permute",
            ShapeOp::BroadcastTo(_) => "broadcast_to",
            ShapeOp::Slice { .. } => "slice",
            ShapeOp::Pad { .. } => "pad",
            ShapeOp::Concat { .. } => "concat",
        })
    }

    #[track_caller]
    fn forward(&self, x: &[&Tensor<F>]) -> Tensor<F> {
        match self {
            ShapeOp::Reshape(s) => x[0].reshape(s),
            ShapeOp::Permute(p) => permute_forward(x[0], p),
            ShapeOp::BroadcastTo(s) => kernels::broadcast_to(x[0], s),
            ShapeOp::Slice { axis, start, end, step } => slice_forward(x[0], *axis, *start, *end, *step),
            ShapeOp::Pad {
                axis,
                before,
                step,
                size,
            } => pad_forward(x[0], *axis, *before, *step, *size),
            ShapeOp::Concat { axis } => concat_forward(x, *axis),
        }
    }

    fn backward<E: Engine<F>>(&self, e: &E, x: &[&E::V], _y: &E::V, g: E::V, needs: &[bool]) -> Grads<E::V> {
        let d = match self {
            ShapeOp::Reshape(_) => e.reshape(&g, e.shape(x[0])),
            ShapeOp::Permute(p) => permute_backward(e, p, &g),
            ShapeOp::BroadcastTo(_) => e.sum_to(g, &e.shape(x[0])),
            ShapeOp::Slice { axis, start, step, .. } => slice_backward(e, x[0], *axis, *start, *step, &g),
            ShapeOp::Pad { axis, before, step, .. } => pad_backward(e, x[0], *axis, *before, *step, &g),
            ShapeOp::Concat { axis } => return concat_backward(e, x, *axis, &g, needs),
        };
        smallvec::smallvec![Some(d)]
    }

    /// Linear: the same op applied to the tangents (zeros for the inputs that have none).
    fn tangent<E: Engine<F>>(&self, e: &E, x: &[&E::V], _y: &E::V, dx: &[Option<E::V>]) -> Option<E::V> {
        super::linear_tangent(e, self.clone().into(), x, dx, &[])
    }
}

// ---- reshape, squeeze, unsqueeze, flatten ------------------------------------------------

impl<'t, F: Float> Var<'t, F> {
    /// The same elements in another shape with the same number of elements.
    ///
    /// ```
    /// use borel_autograd::{Tape, Tensor};
    /// let tape = Tape::<f32>::new();
    /// let x = tape.var(Tensor::arange(6));
    /// assert_eq!(x.reshape(&[2, 3]).shape().as_slice(), &[2, 3]);
    /// ```
    #[track_caller]
    pub fn reshape(self, shape: &[usize]) -> Var<'t, F> {
        let from = self.shape();
        assert!(
            numel(shape) == numel(&from),
            "reshape: cannot view shape {:?} as {shape:?}",
            from.as_slice()
        );
        if from.as_slice() == shape {
            return self;
        }
        self.unary(ShapeOp::Reshape(shape.into()))
    }

    /// Removes dim `axis`, which must have size 1.
    ///
    /// ```
    /// use borel_autograd::{Tape, Tensor};
    /// let tape = Tape::<f32>::new();
    /// let x = tape.var(Tensor::zeros(&[2, 1]));
    /// assert_eq!(x.squeeze(-1).shape().as_slice(), &[2]);
    /// ```
    #[track_caller]
    pub fn squeeze(self, axis: isize) -> Var<'t, F> {
        let mut s = self.shape();
        let a = norm_axis("squeeze", axis, s.len());
        assert!(
            s[a] == 1,
            "squeeze: dim {axis} of shape {:?} has size {}, not 1",
            s.as_slice(),
            s[a]
        );
        s.remove(a);
        self.reshape(&s)
    }

    /// Inserts a dim of size 1 at `axis` (`-1` appends).
    ///
    /// ```
    /// use borel_autograd::{Tape, Tensor};
    /// let tape = Tape::<f32>::new();
    /// let x = tape.var(Tensor::zeros(&[2]));
    /// assert_eq!(x.unsqueeze(0).shape().as_slice(), &[1, 2]);
    /// assert_eq!(x.unsqueeze(-1).shape().as_slice(), &[2, 1]);
    /// ```
    #[track_caller]
    pub fn unsqueeze(self, axis: isize) -> Var<'t, F> {
        let mut s = self.shape();
        let a = norm_axis("unsqueeze", axis, s.len() + 1);
        s.insert(a, 1);
        self.reshape(&s)
    }

    /// Flattens all dims after the first: `[n, a, b, ...]` to `[n, a*b*...]`.
    ///
    /// ```
    /// use borel_autograd::{Tape, Tensor};
    /// let tape = Tape::<f32>::new();
    /// let x = tape.var(Tensor::zeros(&[2, 3, 4]));
    /// assert_eq!(x.flatten().shape().as_slice(), &[2, 12]);
    /// ```
    #[track_caller]
    pub fn flatten(self) -> Var<'t, F> {
        let s = self.shape();
        assert!(!s.is_empty(), "flatten: needs at least 1 dim");
        self.reshape(&[s[0], numel(&s[1..])])
    }
}

// ---- permute, transpose, t ------------------------------------------------------------

impl<'t, F: Float> Var<'t, F> {
    /// Reorders the dims: output dim `i` is input dim `perm[i]`.
    ///
    /// ```
    /// use borel_autograd::{Tape, Tensor};
    /// let tape = Tape::<f32>::new();
    /// let x = tape.var(Tensor::zeros(&[2, 3, 4]));
    /// assert_eq!(x.permute(&[2, 0, 1]).shape().as_slice(), &[4, 2, 3]);
    /// ```
    #[track_caller]
    pub fn permute(self, perm: &[usize]) -> Var<'t, F> {
        let rank = self.shape().len();
        let mut seen = vec![false; rank];
        let ok = perm.len() == rank && perm.iter().all(|&p| p < rank && !std::mem::replace(&mut seen[p], true));
        assert!(
            ok,
            "permute: {perm:?} is not a permutation of the {rank} dims of shape {:?}",
            self.shape().as_slice()
        );
        self.unary(ShapeOp::Permute(perm.into()))
    }

    /// Swaps two dims.
    ///
    /// ```
    /// use borel_autograd::{Tape, Tensor};
    /// let tape = Tape::<f32>::new();
    /// let x = tape.var(Tensor::zeros(&[2, 3, 4]));
    /// assert_eq!(x.transpose(0, -1).shape().as_slice(), &[4, 3, 2]);
    /// ```
    #[track_caller]
    pub fn transpose(self, a: isize, b: isize) -> Var<'t, F> {
        let r = self.shape().len();
        let (a, b) = (norm_axis("transpose", a, r), norm_axis("transpose", b, r));
        let mut perm: Axes = (0..r).collect();
        perm.swap(a, b);
        self.permute(&perm)
    }

    /// Swaps the last two dims.
    ///
    /// ```
    /// use borel_autograd::{Tape, Tensor};
    /// let tape = Tape::<f32>::new();
    /// let x = tape.var(Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[2, 2]));
    /// assert_eq!(x.t().value().data(), &[1.0, 3.0, 2.0, 4.0]);
    /// ```
    #[track_caller]
    pub fn t(self) -> Var<'t, F> {
        let r = self.shape().len();
        assert!(
            r >= 2,
            "t: needs at least 2 dims, got shape {:?}",
            self.shape().as_slice()
        );
        self.transpose(r as isize - 2, r as isize - 1)
    }
}

fn permute_forward<F: Float>(x: &Tensor<F>, perm: &[usize]) -> Tensor<F> {
    let s = x.shape();
    let out_shape: Shape = perm.iter().map(|&p| s[p]).collect();
    let in_st = strides(s);
    let st: Shape = perm.iter().map(|&p| in_st[p]).collect();
    let inner = out_shape.last().copied().unwrap_or(1);
    let is = st.last().copied().unwrap_or(0);
    let d = x.data();
    let mut out = Buf::with_capacity(x.numel());
    for_each_row(&out_shape, [&st], |[o]| out.extend((0..inner).map(|j| d[o + j * is])));
    Tensor::from_parts(out.freeze(), out_shape)
}

fn permute_backward<F: Float, E: Engine<F>>(e: &E, perm: &[usize], g: &E::V) -> E::V {
    let mut inv: Axes = smallvec::smallvec![0; perm.len()];
    for (i, &p) in perm.iter().enumerate() {
        inv[p] = i;
    }
    e.apply(ShapeOp::Permute(inv).into(), &[g])
}

// ---- broadcast_to ----------------------------------------------------------------------

impl<'t, F: Float> Var<'t, F> {
    /// Repeats size-1 (or missing leading) dims to reach `shape`, NumPy style.
    ///
    /// ```
    /// use borel_autograd::{Tape, Tensor};
    /// let tape = Tape::<f32>::new();
    /// let x = tape.var(Tensor::from_vec(vec![1.0, 2.0], &[2]));
    /// let y = x.broadcast_to(&[3, 2]);
    /// assert_eq!(y.value().data(), &[1.0, 2.0, 1.0, 2.0, 1.0, 2.0]);
    /// assert_eq!(y.sum().backward()[x].data(), &[3.0, 3.0]);
    /// ```
    #[track_caller]
    pub fn broadcast_to(self, shape: &[usize]) -> Var<'t, F> {
        let from = self.shape();
        match crate::shape::broadcast_shapes(&from, shape) {
            Some(s) if s.as_slice() == shape => {}
            _ => panic!(
                "broadcast_to: shape {:?} cannot be broadcast to {shape:?}",
                from.as_slice()
            ),
        }
        if from.as_slice() == shape {
            return self;
        }
        self.unary(ShapeOp::BroadcastTo(shape.into()))
    }
}

// ---- slice and pad: each the other's adjoint --------------------------------------------

impl<'t, F: Float> Var<'t, F> {
    /// Elements `start..end` along `axis` (PyTorch's `x[start:end]` on that axis).
    ///
    /// ```
    /// use borel_autograd::{Tape, Tensor};
    /// let tape = Tape::<f32>::new();
    /// let x = tape.var(Tensor::arange(5));
    /// assert_eq!(x.slice(0, 1, 3).value().data(), &[1.0, 2.0]);
    /// ```
    #[track_caller]
    pub fn slice(self, axis: isize, start: usize, end: usize) -> Var<'t, F> {
        self.slice_checked("slice", axis, start, end, 1)
    }

    /// Every `step`-th element of `start..end` along `axis` (PyTorch's `x[start:end:step]`).
    ///
    /// ```
    /// use borel_autograd::{Tape, Tensor};
    /// let tape = Tape::<f32>::new();
    /// let x = tape.var(Tensor::arange(6));
    /// let y = x.slice_step(0, 1, 6, 2);
    /// assert_eq!(y.value().data(), &[1.0, 3.0, 5.0]);
    /// assert_eq!(y.sum().backward()[x].data(), &[0.0, 1.0, 0.0, 1.0, 0.0, 1.0]);
    /// ```
    #[track_caller]
    pub fn slice_step(self, axis: isize, start: usize, end: usize, step: usize) -> Var<'t, F> {
        self.slice_checked("slice_step", axis, start, end, step)
    }

    #[track_caller]
    pub(crate) fn slice_checked(self, op: &str, axis: isize, start: usize, end: usize, step: usize) -> Var<'t, F> {
        let s = self.shape();
        let axis = norm_axis(op, axis, s.len());
        if step == 0 {
            panic!("{op}: step must be at least 1");
        }
        if start > end || end > s[axis] {
            panic!(
                "{op}: range {start}..{end} is out of bounds for dim {axis} of shape {:?}",
                s.as_slice()
            );
        }
        self.unary(ShapeOp::Slice { axis, start, end, step })
    }

    /// Zeros added before and after the elements along `axis`.
    ///
    /// ```
    /// use borel_autograd::{Tape, Tensor};
    /// let tape = Tape::<f32>::new();
    /// let x = tape.var(Tensor::ones(&[2]));
    /// assert_eq!(x.pad(0, 1, 2).value().data(), &[0.0, 1.0, 1.0, 0.0, 0.0]);
    /// ```
    #[track_caller]
    pub fn pad(self, axis: isize, before: usize, after: usize) -> Var<'t, F> {
        let s = self.shape();
        let axis = norm_axis("pad", axis, s.len());
        let Some(size) = s[axis].checked_add(before).and_then(|m| m.checked_add(after)) else {
            panic!(
                "pad: {before} + {after} zeros overflow dim {axis} of shape {:?}",
                s.as_slice()
            );
        };
        self.unary(ShapeOp::Pad {
            axis,
            before,
            step: 1,
            size,
        })
    }
}

/// Splits a shape around `axis`: (product of the dims before, the dim, product after).
fn around(shape: &[usize], axis: usize) -> (usize, usize, usize) {
    (numel(&shape[..axis]), shape[axis], numel(&shape[axis + 1..]))
}

/// Entries `start, start + step, ...` below `end`.
fn slice_forward<F: Float>(x: &Tensor<F>, axis: usize, start: usize, end: usize, step: usize) -> Tensor<F> {
    let (outer, n, inner) = around(x.shape(), axis);
    debug_assert!(start <= end && end <= n && step > 0);
    let m = (end - start).div_ceil(step);
    let d = x.data();
    let mut out = Buf::with_capacity(outer * m * inner);
    for o in 0..outer {
        if step == 1 {
            out.extend_from_slice(&d[(o * n + start) * inner..(o * n + end) * inner]);
        } else {
            for k in (start..end).step_by(step) {
                out.extend_from_slice(&d[(o * n + k) * inner..(o * n + k + 1) * inner]);
            }
        }
    }
    let mut shape: Shape = x.dims();
    shape[axis] = m;
    Tensor::from_parts(out.freeze(), shape)
}

/// The adjoint of a slice puts the gradient back in place, zeros around it: a pad.
fn slice_backward<F: Float, E: Engine<F>>(e: &E, x: &E::V, axis: usize, start: usize, step: usize, g: &E::V) -> E::V {
    let size = e.shape(x)[axis];
    e.apply(
        ShapeOp::Pad {
            axis,
            before: start,
            step,
            size,
        }
        .into(),
        &[g],
    )
}

/// Zeros of length `size` along `axis`, with input entry `i` at `before + i * step`.
fn pad_forward<F: Float>(x: &Tensor<F>, axis: usize, before: usize, step: usize, size: usize) -> Tensor<F> {
    let (outer, n, inner) = around(x.shape(), axis);
    let mut shape: Shape = x.dims();
    shape[axis] = size;
    let d = x.data();
    let mut out = Buf::full(crate::shape::numel_for("pad", &shape), F::ZERO);
    for o in 0..outer {
        let src = &d[o * n * inner..(o + 1) * n * inner];
        if step == 1 {
            out[(o * size + before) * inner..(o * size + before + n) * inner].copy_from_slice(src);
        } else {
            for i in 0..n {
                let k = o * size + before + i * step;
                out[k * inner..(k + 1) * inner].copy_from_slice(&src[i * inner..(i + 1) * inner]);
            }
        }
    }
    Tensor::from_parts(out.freeze(), shape)
}

/// The adjoint of a pad drops the padding: a slice.
fn pad_backward<F: Float, E: Engine<F>>(e: &E, x: &E::V, axis: usize, before: usize, step: usize, g: &E::V) -> E::V {
    let n = e.shape(x)[axis];
    let end = if n == 0 { before } else { before + (n - 1) * step + 1 };
    e.apply(
        ShapeOp::Slice {
            axis,
            start: before,
            end,
            step,
        }
        .into(),
        &[g],
    )
}

#[cfg(test)]
mod tests {
    use crate::ops::testing::*;

    /// A shape and a larger one it broadcasts to: size-1 dims may grow, and a leading dim is
    /// added.
    fn broadcastable() -> impl Strategy<Value = (Tensor<f64>, Vec<usize>)> {
        broadcast_pair()
            .prop_map(|(a, _)| a)
            .prop_flat_map(|a| {
                let r = a.len();
                (Just(a.clone()), prop::collection::vec(1usize..=3, r..=r)).prop_map(|(a, big)| {
                    let mut to: Vec<usize> = a.iter().zip(&big).map(|(&d, &b)| if d == 1 { b } else { d }).collect();
                    to.insert(0, 2);
                    (a, to)
                })
            })
            .prop_flat_map(|(a, to)| (values_of(a, -2.0, 2.0), Just(to)))
    }

    /// A permutation of `0..r`: reversed, or rotated by one.
    fn perm(r: usize, flip: bool) -> Vec<usize> {
        if flip {
            (0..r).rev().collect()
        } else {
            (0..r).map(|i| (i + 1) % r).collect()
        }
    }

    op_props! {
        reshape(x in any_values(1, 3)) for [x] => |v| v[0].reshape(&[x.numel()]).sin();
        permute((x, flip) in (any_values(1, 3), any::<bool>())) for [x] =>
            |v| v[0].permute(&perm(x.rank(), flip)).sin() * v[0].permute(&perm(x.rank(), flip));
        transpose(x in any_values(2, 3)) for [x] => |v| v[0].t().sin() + v[0].transpose(0, -1).sum();
        broadcast_to((x, to) in broadcastable()) for [x] => |v| v[0].broadcast_to(&to).sin();
        squeeze_unsqueeze(x in any_values(0, 3)) for [x] => |v| v[0].unsqueeze(0).unsqueeze(-1).squeeze(0).sin();
        flatten(x in any_values(1, 3)) for [x] => |v| v[0].flatten().sin();
        slice((x, start, len) in (any_values(1, 3), 0usize..3, 0usize..3)) for [x] => |v| {
            let d = x.shape()[0];
            v[0].slice(0, start.min(d), (start + len).min(d)).sin()
        };
        slice_step((x, start, len, step) in (any_values(1, 3), 0usize..3, 0usize..4, 1usize..4)) for [x] => |v| {
            let d = x.shape()[x.rank() - 1];
            v[0].slice_step(-1, start.min(d), (start + len).min(d), step).sin()
        };
        pad((x, before, after) in (any_values(1, 3), 0usize..3, 0usize..3)) for [x] => |v| v[0].pad(-1, before, after).sin();
    }
}
