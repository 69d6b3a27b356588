//! Ops that move elements without arithmetic: reshape, permute/transpose, broadcast_to,
//! squeeze/unsqueeze, slice (backward: pad), pad (backward: slice), concat and stack.

use crate::float::Float;
use crate::ops::kernels::Buf;
use crate::ops::{Axes, Op};
use crate::shape::{Shape, for_each_row, norm_axis, numel, strides};
use crate::tape::{Engine, Var};
use crate::tensor::Tensor;

pub(crate) fn permute_forward<F: Float>(x: &Tensor<F>, perm: &[usize]) -> Tensor<F> {
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

pub(crate) fn permute_backward<F: Float, E: Engine<F>>(e: &E, perm: &[usize], g: &E::V) -> E::V {
    let mut inv: Axes = smallvec::smallvec![0; perm.len()];
    for (i, &p) in perm.iter().enumerate() {
        inv[p] = i;
    }
    e.apply(Op::Permute(inv), &[g])
}

/// Splits a shape around `axis`: (product of the dims before, the dim, product after).
fn around(shape: &[usize], axis: usize) -> (usize, usize, usize) {
    (numel(&shape[..axis]), shape[axis], numel(&shape[axis + 1..]))
}

pub(crate) fn slice_forward<F: Float>(x: &Tensor<F>, axis: usize, start: usize, end: usize) -> Tensor<F> {
    let (outer, n, inner) = around(x.shape(), axis);
    debug_assert!(start <= end && end <= n);
    let d = x.data();
    let mut out = Buf::with_capacity(outer * (end - start) * inner);
    for o in 0..outer {
        out.extend_from_slice(&d[(o * n + start) * inner..(o * n + end) * inner]);
    }
    let mut shape: Shape = x.dims();
    shape[axis] = end - start;
    Tensor::from_parts(out.freeze(), shape)
}

pub(crate) fn pad_forward<F: Float>(x: &Tensor<F>, axis: usize, before: usize, after: usize) -> Tensor<F> {
    let (outer, n, inner) = around(x.shape(), axis);
    let m = before + n + after;
    let mut shape: Shape = x.dims();
    shape[axis] = m;
    let d = x.data();
    let mut out = Buf::full(crate::shape::numel_for("pad", &shape), F::ZERO);
    for o in 0..outer {
        out[(o * m + before) * inner..(o * m + before + n) * inner]
            .copy_from_slice(&d[o * n * inner..(o + 1) * n * inner]);
    }
    Tensor::from_parts(out.freeze(), shape)
}

#[track_caller]
pub(crate) fn concat_forward<F: Float>(xs: &[&Tensor<F>], axis: usize) -> Tensor<F> {
    let first = xs[0].shape();
    for x in &xs[1..] {
        let s = x.shape();
        let same = s.len() == first.len() && s.iter().zip(first).enumerate().all(|(i, (a, b))| i == axis || a == b);
        if !same {
            panic!("concat: shapes {first:?} and {s:?} differ outside axis {axis}");
        }
    }
    let outer = numel(&first[..axis]);
    let inner = numel(&first[axis + 1..]);
    let total: usize = xs.iter().map(|x| x.shape()[axis]).sum();
    let mut out = Buf::with_capacity(outer * total * inner);
    for o in 0..outer {
        for x in xs {
            let n = x.shape()[axis];
            out.extend_from_slice(&x.data()[o * n * inner..(o + 1) * n * inner]);
        }
    }
    let mut shape: Shape = first.into();
    shape[axis] = total;
    Tensor::from_parts(out.freeze(), shape)
}

pub(crate) fn concat_backward<F: Float, E: Engine<F>>(
    e: &E,
    xs: &[&E::V],
    axis: usize,
    g: &E::V,
    needs: &[bool],
) -> super::Grads<E::V> {
    let mut start = 0;
    xs.iter()
        .zip(needs)
        .map(|(x, &need)| {
            let n = e.shape(x)[axis];
            let gi = need.then(|| {
                e.apply(
                    Op::Slice {
                        axis,
                        start,
                        end: start + n,
                    },
                    &[g],
                )
            });
            start += n;
            gi
        })
        .collect()
}

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
        self.unary(Op::Reshape(shape.into()))
    }

    /// Reorders the dims: output dim `i` is input dim `perm[i]`.
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
        self.unary(Op::Permute(perm.into()))
    }

    /// Swaps the last two dims.
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

    /// Swaps two dims.
    #[track_caller]
    pub fn transpose(self, a: isize, b: isize) -> Var<'t, F> {
        let r = self.shape().len();
        let (a, b) = (norm_axis("transpose", a, r), norm_axis("transpose", b, r));
        let mut perm: Axes = (0..r).collect();
        perm.swap(a, b);
        self.permute(&perm)
    }

    /// Repeats size-1 (or missing leading) dims to reach `shape`, NumPy style.
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
        self.unary(Op::BroadcastTo(shape.into()))
    }

    /// Removes dim `axis`, which must have size 1.
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
    #[track_caller]
    pub fn unsqueeze(self, axis: isize) -> Var<'t, F> {
        let mut s = self.shape();
        let a = norm_axis("unsqueeze", axis, s.len() + 1);
        s.insert(a, 1);
        self.reshape(&s)
    }

    /// Elements `start..end` along `axis`.
    ///
    /// ```
    /// use borel_autograd::{Tape, Tensor};
    /// let tape = Tape::<f32>::new();
    /// let x = tape.var(Tensor::arange(5));
    /// assert_eq!(x.slice(0, 1, 3).value().data(), &[1.0, 2.0]);
    /// ```
    #[track_caller]
    pub fn slice(self, axis: isize, start: usize, end: usize) -> Var<'t, F> {
        let s = self.shape();
        let axis = norm_axis("slice", axis, s.len());
        assert!(
            start <= end && end <= s[axis],
            "slice: range {start}..{end} is out of bounds for dim {axis} of shape {:?}",
            s.as_slice()
        );
        self.unary(Op::Slice { axis, start, end })
    }

    /// Zeros added before and after the elements along `axis`.
    #[track_caller]
    pub fn pad(self, axis: isize, before: usize, after: usize) -> Var<'t, F> {
        let s = self.shape();
        let axis = norm_axis("pad", axis, s.len());
        if s[axis].checked_add(before).and_then(|m| m.checked_add(after)).is_none() {
            panic!(
                "pad: {before} + {after} zeros overflow dim {axis} of shape {:?}",
                s.as_slice()
            );
        }
        self.unary(Op::Pad { axis, before, after })
    }

    /// Joins vars along an existing axis; all other dims must agree.
    ///
    /// ```
    /// use borel_autograd::{Tape, Tensor, Var};
    /// let tape = Tape::<f32>::new();
    /// let a = tape.var(Tensor::ones(&[1, 2]));
    /// let b = tape.var(Tensor::zeros(&[2, 2]));
    /// assert_eq!(Var::concat(&[a, b], 0).shape().as_slice(), &[3, 2]);
    /// ```
    #[track_caller]
    pub fn concat(xs: &[Var<'t, F>], axis: isize) -> Var<'t, F> {
        assert!(!xs.is_empty(), "concat: no inputs");
        let tape = xs[0].tape;
        for x in xs {
            tape.check_same("concat", x.tape);
        }
        let axis = norm_axis("concat", axis, xs[0].shape().len());
        let ids: Vec<u32> = xs.iter().map(|x| x.id).collect();
        Var {
            tape,
            id: tape.apply(Op::Concat { axis }, &ids),
        }
    }

    /// Joins vars of one shape along a new axis.
    #[track_caller]
    pub fn stack(xs: &[Var<'t, F>], axis: isize) -> Var<'t, F> {
        assert!(!xs.is_empty(), "stack: no inputs");
        let parts: Vec<Var<'t, F>> = xs.iter().map(|x| x.unsqueeze(axis)).collect();
        Var::concat(&parts, axis)
    }

    /// Flattens all dims after the first: `[n, a, b, ...]` to `[n, a*b*...]`.
    #[track_caller]
    pub fn flatten(self) -> Var<'t, F> {
        let s = self.shape();
        assert!(!s.is_empty(), "flatten: needs at least 1 dim");
        self.reshape(&[s[0], numel(&s[1..])])
    }
}
