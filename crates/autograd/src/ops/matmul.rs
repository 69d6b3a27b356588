//! Matrix products through `matrixmultiply`'s GEMM, for 2-D and batched operands (batch
//! dimensions broadcast). Either operand may be read transposed through its strides, so the
//! backward products `G B^T` and `A^T G` never materialize a transpose.

use crate::float::Float;
use crate::ops::kernels::Buf;
use crate::ops::{EngineExt, Family, Grads};
use crate::shape::{Shape, broadcast_or_panic, numel_for};
use crate::tape::{Engine, Var};
use crate::tensor::Tensor;

/// `op(a) op(b)` where `op` transposes the last two dims of an operand when its flag is set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct MatMul {
    pub(crate) ta: bool,
    pub(crate) tb: bool,
}

impl<F: Float> Family<F> for MatMul {
    #[track_caller]
    fn forward(&self, x: &[&Tensor<F>]) -> Tensor<F> {
        forward(x[0], x[1], self.ta, self.tb)
    }

    /// With `C = op(A) op(B)`:
    /// `dA = G op(B)^T` (or its transpose when `A` was read transposed) and
    /// `dB = op(A)^T G` (likewise), each summed over broadcast batch dims.
    fn backward<E: Engine<F>>(&self, e: &E, x: &[&E::V], _y: &E::V, g: E::V, needs: &[bool]) -> Grads<E::V> {
        let (a, b, ta, tb) = (x[0], x[1], self.ta, self.tb);
        let mm = |x: &E::V, y: &E::V, ta: bool, tb: bool| e.apply(MatMul { ta, tb }.into(), &[x, y]);
        let ga = needs[0].then(|| {
            let d = if ta { mm(b, &g, tb, true) } else { mm(&g, b, false, !tb) };
            e.sum_to(d, &e.shape(a))
        });
        let gb = needs[1].then(|| {
            let d = if tb { mm(&g, a, true, ta) } else { mm(a, &g, !ta, false) };
            e.sum_to(d, &e.shape(b))
        });
        smallvec::smallvec![ga, gb]
    }
}

#[track_caller]
fn forward<F: Float>(a: &Tensor<F>, b: &Tensor<F>, ta: bool, tb: bool) -> Tensor<F> {
    let (sa, sb) = (a.shape(), b.shape());
    if sa.len() < 2 || sb.len() < 2 {
        panic!("matmul: operands need at least 2 dims, got shapes {sa:?} and {sb:?}");
    }
    let (ra, rb) = (sa.len(), sb.len());
    let (m, ka) = if ta {
        (sa[ra - 1], sa[ra - 2])
    } else {
        (sa[ra - 2], sa[ra - 1])
    };
    let (kb, n) = if tb {
        (sb[rb - 1], sb[rb - 2])
    } else {
        (sb[rb - 2], sb[rb - 1])
    };
    if ka != kb {
        panic!(
            "matmul: inner dimensions differ: shapes {sa:?}{} and {sb:?}{}",
            if ta { " (transposed)" } else { "" },
            if tb { " (transposed)" } else { "" }
        );
    }
    let k = ka;
    let batch = broadcast_or_panic("matmul (batch dims)", &sa[..ra - 2], &sb[..rb - 2]);
    let nb = numel_for("matmul", &batch);
    let mut out_shape: Shape = batch;
    out_shape.extend_from_slice(&[m, n]);
    // The output's element count is checked (two empty operands can ask for an output of
    // more than usize::MAX elements); every product below is then bounded by it.
    let total = numel_for("matmul", &out_shape);
    // GEMM with beta = 0 writes every element without reading it, so the output starts
    // unwritten; with k = 0 the product is all zeros.
    let mut out = if k == 0 {
        Buf::full(total, F::ZERO)
    } else {
        Buf::with_capacity(total)
    };
    // Row and column strides of op(a) (m x k) and op(b) (k x n) inside one matrix.
    let (rsa, csa) = if ta { (1, m as isize) } else { (k as isize, 1) };
    let (rsb, csb) = if tb { (1, k as isize) } else { (n as isize, 1) };
    let (mat_a, mat_b) = (m * k, k * n);
    let (da, db) = (a.data(), b.data());
    let mut idx = Shape::zeros(batch.len());
    for bi in 0..nb {
        let pa = off_of(&sa[..ra - 2], &idx, mat_a);
        let pb = off_of(&sb[..rb - 2], &idx, mat_b);
        if m > 0 && n > 0 && k > 0 {
            // Cheap next to the product, and it keeps the unsafe call below locally sound
            // whatever shapes reach it.
            assert!(
                pa + mat_a <= da.len() && pb + mat_b <= db.len() && (bi + 1) * m * n <= total,
                "matmul: operand storage does not cover shapes {sa:?} and {sb:?}"
            );
            // SAFETY: the assert above puts whole matrices of `a`, `b` and `out` in bounds,
            // and the strides describe m x k, k x n and m x n matrices inside them.
            unsafe {
                F::gemm(
                    m,
                    k,
                    n,
                    F::ONE,
                    da.as_ptr().add(pa),
                    rsa,
                    csa,
                    db.as_ptr().add(pb),
                    rsb,
                    csb,
                    F::ZERO,
                    out.as_mut_ptr().add(bi * m * n),
                    n as isize,
                    1,
                );
            }
        }
        for d in (0..batch.len()).rev() {
            idx[d] += 1;
            if idx[d] < batch[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    if k > 0 {
        // SAFETY: the GEMM calls above wrote all nb * m * n elements.
        unsafe { out.set_len(total) };
    }
    Tensor::from_parts(out.freeze(), out_shape)
}

/// Offset of the matrix at batch index `idx` (of the broadcast batch) in an operand whose own
/// batch dims are `own` (right-aligned, size-1 dims broadcast).
fn off_of(own: &[usize], idx: &[usize], mat: usize) -> usize {
    let skip = idx.len() - own.len();
    let mut off = 0;
    for (d, &n) in own.iter().enumerate() {
        let i = if n == 1 { 0 } else { idx[skip + d] };
        off = off * n + i;
    }
    off * mat
}

impl<'t, F: Float> Var<'t, F> {
    /// Matrix product over the last two dims; leading (batch) dims broadcast.
    ///
    /// ```
    /// use borel_autograd::{Tape, Tensor};
    /// let tape = Tape::<f32>::new();
    /// let a = tape.var(Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[2, 2]));
    /// let b = tape.constant(Tensor::from_vec(vec![1.0, 0.0, 0.0, 2.0], &[2, 2]));
    /// assert_eq!(a.matmul(b).value().data(), &[1.0, 4.0, 3.0, 8.0]);
    /// ```
    #[track_caller]
    pub fn matmul(self, other: Var<'t, F>) -> Var<'t, F> {
        self.binary(MatMul { ta: false, tb: false }, "matmul", other)
    }

    /// `self^T other` without materializing the transpose.
    #[track_caller]
    pub fn t_matmul(self, other: Var<'t, F>) -> Var<'t, F> {
        self.binary(MatMul { ta: true, tb: false }, "t_matmul", other)
    }

    /// `self other^T` without materializing the transpose (a `Dense` layer with a PyTorch
    /// `[out, in]` weight).
    #[track_caller]
    pub fn matmul_t(self, other: Var<'t, F>) -> Var<'t, F> {
        self.binary(MatMul { ta: false, tb: true }, "matmul_t", other)
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::testing::*;

    /// Operands of `op(a) op(b)` for transpose flags `ta`, `tb`, with batch dims (0 to 2 of
    /// them) that broadcast.
    fn operands() -> impl Strategy<Value = (Tensor<f64>, Tensor<f64>, bool, bool)> {
        (
            shape(0, 2),
            shape(0, 2),
            1usize..=3,
            1usize..=3,
            1usize..=3,
            any::<bool>(),
            any::<bool>(),
        )
            .prop_flat_map(|(ba, bb, m, k, n, ta, tb)| {
                // Align the batch dims from the right and use 1 where they differ.
                let r = ba.len().max(bb.len());
                let pad = |v: &Vec<usize>| {
                    let mut p = vec![1; r - v.len()];
                    p.extend(v);
                    p
                };
                let (pa, pb) = (pad(&ba), pad(&bb));
                let mut sa: Vec<usize> = pa.iter().zip(&pb).map(|(&p, &q)| if p == q { p } else { 1 }).collect();
                sa.drain(..r - ba.len());
                let mut sb: Vec<usize> = pb
                    .iter()
                    .zip(&pa)
                    .map(|(&q, &p)| if p == q || p == 1 { q } else { 1 })
                    .collect();
                sb.drain(..r - bb.len());
                sa.extend(if ta { [k, m] } else { [m, k] });
                sb.extend(if tb { [n, k] } else { [k, n] });
                (values_of(sa, -2.0, 2.0), values_of(sb, -2.0, 2.0), Just(ta), Just(tb))
            })
    }

    op_props! {
        matmul((a, b, ta, tb) in operands()) for [a, b] => |v| match (ta, tb) {
            (false, false) => v[0].matmul(v[1]),
            (true, false) => v[0].t_matmul(v[1]),
            (false, true) => v[0].matmul_t(v[1]),
            (true, true) => v[0].t().matmul(v[1].t()),
        };
    }
}
