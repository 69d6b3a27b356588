//! Joining vars: `concat` along an existing axis and `stack` along a new one (a concat of
//! unsqueezed vars). The node is the shape family's `ShapeOp::Concat`; its forward and backward
//! are here.

use crate::float::Float;
use crate::ops::kernels::Buf;
use crate::ops::{Grads, ShapeOp};
use crate::shape::{Shape, norm_axis, numel};
use crate::tape::{Engine, Var};
use crate::tensor::Tensor;
impl<'t, F: Float> Var<'t, F> {
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
            id: tape.apply(ShapeOp::Concat { axis }.into(), &ids),
        }
    }

    /// Joins vars of one shape along a new axis.
    ///
    /// ```
    /// use borel_autograd::{Tape, Tensor};
    /// let tape = Tape::<f32>::new();
    /// let a = tape.var(Tensor::ones(&[2]));
    /// let b = tape.var(Tensor::zeros(&[2]));
    /// assert_eq!(borel_autograd::Var::stack(&[a, b], 0).shape().as_slice(), &[2, 2]);
    /// ```
    #[track_caller]
    pub fn stack(xs: &[Var<'t, F>], axis: isize) -> Var<'t, F> {
        assert!(!xs.is_empty(), "stack: no inputs");
        let first = xs[0].shape();
        let axis = norm_axis("stack", axis, first.len() + 1) as isize;
        // A loop, not a closure, so an error is reported at the caller's line.
        let mut parts: Vec<Var<'t, F>> = Vec::with_capacity(xs.len());
        for x in xs {
            if x.shape() != first {
                panic!(
                    "stack: shapes {:?} and {:?} differ",
                    first.as_slice(),
                    x.shape().as_slice()
                );
            }
            parts.push(x.unsqueeze(axis));
        }
        Var::concat(&parts, axis)
    }
}

#[track_caller]
pub(super) fn concat_forward<F: Float>(xs: &[&Tensor<F>], axis: usize) -> Tensor<F> {
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

pub(super) fn concat_backward<F: Float, E: Engine<F>>(
    e: &E,
    xs: &[&E::V],
    axis: usize,
    g: &E::V,
    needs: &[bool],
) -> Grads<E::V> {
    let mut start = 0;
    xs.iter()
        .zip(needs)
        .map(|(x, &need)| {
            let n = e.shape(x)[axis];
            let gi = need.then(|| {
                let end = start + n;
                e.apply(
                    ShapeOp::Slice {
                        axis,
                        start,
                        end,
                        step: 1,
                    }
                    .into(),
                    &[g],
                )
            });
            start += n;
            gi
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::ops::testing::*;

    op_props! {
        concat((a, k) in (any_values(1, 3), 1usize..=3)) for [a, side(&a, k)] => |v| Var::concat(&[v[0], v[1], v[0]], 0).sin();
        stack(a in any_values(1, 3)) for [a] => |v| Var::stack(&[v[0], v[0].cos()], -1).sin();
    }

    /// A tensor of `a`'s shape but with `k` entries along axis 0.
    fn side(a: &Tensor<f64>, k: usize) -> Tensor<f64> {
        let mut s = a.shape().to_vec();
        s[0] = k;
        Tensor::from_fn(&s, |i| (i as f64 * 0.37).sin())
    }
}
