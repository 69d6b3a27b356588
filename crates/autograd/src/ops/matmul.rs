//! Matrix products through the `gemm` crate's GEMM, for 2-D and batched operands (batch
//! dimensions broadcast). Either operand may be read transposed through its strides, so the
//! backward products `G B^T` and `A^T G` never materialize a transpose.

use std::borrow::Cow;

use crate::float::Float;
use crate::ops::kernels::{Buf, Strided, gemm_into};
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
    fn name(&self) -> Cow<'static, str> {
        Cow::Borrowed(match (self.ta, self.tb) {
            (true, false) => "t_matmul",
            (false, true) => "matmul_t",
            _ => "matmul",
        })
    }

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

    /// Bilinear: `d(op(A) op(B)) = op(dA) op(B) + op(A) op(dB)`.
    fn tangent<E: Engine<F>>(&self, e: &E, x: &[&E::V], _y: &E::V, dx: &[Option<E::V>]) -> Option<E::V> {
        let mm = |p: &E::V, q: &E::V| e.apply((*self).into(), &[p, q]);
        let ta = dx[0].as_ref().map(|d| mm(d, x[1]));
        let tb = dx[1].as_ref().map(|d| mm(x[0], d));
        super::sum_terms(e, [ta, tb])
    }
}

/// `(m, k, n)` of `op(a) op(b)` for operands of shapes `sa` and `sb`; panics naming both
/// shapes when they are not matrices or their inner dims differ.
#[track_caller]
fn product_dims(sa: &[usize], sb: &[usize], ta: bool, tb: bool) -> (usize, usize, usize) {
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
    (m, ka, n)
}

#[track_caller]
fn forward<F: Float>(a: &Tensor<F>, b: &Tensor<F>, ta: bool, tb: bool) -> Tensor<F> {
    let (sa, sb) = (a.shape(), b.shape());
    let (m, k, n) = product_dims(sa, sb, ta, tb);
    let (ra, rb) = (sa.len(), sb.len());
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
    let (rsa, csa) = if ta { (1, m) } else { (k, 1) };
    let (rsb, csb) = if tb { (1, k) } else { (n, 1) };
    let (mat_a, mat_b) = (m * k, k * n);
    let (da, db) = (a.data(), b.data());
    let mut idx = Shape::zeros(batch.len());
    for bi in 0..nb {
        let pa = off_of(&sa[..ra - 2], &idx, mat_a);
        let pb = off_of(&sb[..rb - 2], &idx, mat_b);
        let a = Strided {
            data: &da[pa.min(da.len())..],
            rs: rsa,
            cs: csa,
        };
        let b = Strided {
            data: &db[pb.min(db.len())..],
            rs: rsb,
            cs: csb,
        };
        gemm_into("matmul", (m, k, n), a, b, F::ZERO, &mut out, bi * m * n);
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

/// Panics naming `op` and both shapes unless `op(a) op(b)` is defined: at least 2 dims each,
/// equal inner dims, batch dims that broadcast.
#[track_caller]
fn check_operands(op: &str, sa: &[usize], sb: &[usize], ta: bool, tb: bool) {
    if sa.len() < 2 || sb.len() < 2 {
        panic!("{op}: operands need at least 2 dims, got shapes {sa:?} and {sb:?}");
    }
    let ka = if ta { sa[sa.len() - 2] } else { sa[sa.len() - 1] };
    let kb = if tb { sb[sb.len() - 1] } else { sb[sb.len() - 2] };
    if ka != kb {
        panic!("{op}: inner dimensions differ: shapes {sa:?} and {sb:?}");
    }
    if crate::shape::broadcast_shapes(&sa[..sa.len() - 2], &sb[..sb.len() - 2]).is_none() {
        panic!("{op}: batch dims of shapes {sa:?} and {sb:?} cannot be broadcast together");
    }
}

impl<'t, F: Float> Var<'t, F> {
    /// Matrix product with PyTorch's `matmul` semantics: over the last two dims, leading
    /// (batch) dims broadcast; a 1-D left operand is a row vector and a 1-D right operand a
    /// column vector, whose added dim is dropped from the result (`[k] @ [k, n]` is `[n]`,
    /// `[b, m, k] @ [k]` is `[b, m]`, `[k] @ [k]` is a scalar).
    ///
    /// ```
    /// use borel_autograd::{Tape, Tensor};
    /// let tape = Tape::<f32>::new();
    /// let a = tape.var(Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[2, 2]));
    /// let b = tape.constant(Tensor::from_vec(vec![1.0, 0.0, 0.0, 2.0], &[2, 2]));
    /// assert_eq!(a.matmul(b).value().data(), &[1.0, 4.0, 3.0, 8.0]);
    /// let v = tape.constant(Tensor::from_vec(vec![1.0, 1.0], &[2]));
    /// assert_eq!(a.matmul(v).value().data(), &[3.0, 7.0]); // A v
    /// assert_eq!(v.matmul(a).value().data(), &[4.0, 6.0]); // v^T A
    /// assert_eq!(v.matmul(v).shape().as_slice(), &[] as &[usize]);
    /// ```
    #[track_caller]
    pub fn matmul(self, other: Var<'t, F>) -> Var<'t, F> {
        self.matmul_named("matmul", other)
    }

    #[track_caller]
    fn matmul_named(self, op: &str, other: Var<'t, F>) -> Var<'t, F> {
        let (sa, sb) = (self.shape(), other.shape());
        let (va, vb) = (sa.len() == 1, sb.len() == 1);
        if sa.is_empty() || sb.is_empty() {
            panic!(
                "{op}: operands need at least 1 dim, got shapes {:?} and {:?}",
                sa.as_slice(),
                sb.as_slice()
            );
        }
        if !va && !vb {
            check_operands(op, &sa, &sb, false, false);
            return self.binary(MatMul { ta: false, tb: false }, op, other);
        }
        let k = if vb { sb[0] } else { sb[sb.len() - 2] };
        if sa[sa.len() - 1] != k {
            panic!(
                "{op}: inner dimensions differ: shapes {:?} and {:?}",
                sa.as_slice(),
                sb.as_slice()
            );
        }
        let a = if va { self.unsqueeze(0) } else { self };
        let b = if vb { other.unsqueeze(-1) } else { other };
        let y = a.binary(MatMul { ta: false, tb: false }, op, b);
        let mut s = y.shape();
        if vb {
            s.remove(s.len() - 1);
        }
        if va {
            let row = if vb { s.len() - 1 } else { s.len() - 2 };
            s.remove(row);
        }
        y.reshape(&s)
    }

    /// Inner product of two 1-D vars of one length, as a scalar (PyTorch's `dot`).
    ///
    /// ```
    /// use borel_autograd::{Tape, Tensor};
    /// let tape = Tape::<f64>::new();
    /// let a = tape.var(Tensor::from_vec(vec![1.0, 2.0, 3.0], &[3]));
    /// let b = tape.constant(Tensor::from_vec(vec![4.0, 5.0, 6.0], &[3]));
    /// assert_eq!(a.dot(b).item(), 32.0);
    /// assert_eq!(a.dot(b).backward()[a].data(), &[4.0, 5.0, 6.0]);
    /// ```
    #[track_caller]
    pub fn dot(self, other: Var<'t, F>) -> Var<'t, F> {
        let (sa, sb) = (self.shape(), other.shape());
        if sa.len() != 1 || sb.len() != 1 || sa != sb {
            panic!(
                "dot: needs two 1-D operands of one length, got shapes {:?} and {:?}",
                sa.as_slice(),
                sb.as_slice()
            );
        }
        self.matmul_named("dot", other)
    }

    /// `self^T other` without materializing the transpose (both at least 2-D).
    ///
    /// ```
    /// use borel_autograd::{Tape, Tensor};
    /// let tape = Tape::<f32>::new();
    /// let a = tape.var(Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[2, 2]));
    /// assert_eq!(a.t_matmul(a).value(), a.t().matmul(a).value());
    /// ```
    #[track_caller]
    pub fn t_matmul(self, other: Var<'t, F>) -> Var<'t, F> {
        check_operands("t_matmul", &self.shape(), &other.shape(), true, false);
        self.binary(MatMul { ta: true, tb: false }, "t_matmul", other)
    }

    /// `self other^T` without materializing the transpose (a `Dense` layer with a PyTorch
    /// `[out, in]` weight; both at least 2-D).
    ///
    /// ```
    /// use borel_autograd::{Tape, Tensor};
    /// let tape = Tape::<f32>::new();
    /// let x = tape.constant(Tensor::ones(&[4, 3]));
    /// let w = tape.var(Tensor::ones(&[2, 3]));
    /// assert_eq!(x.matmul_t(w).shape().as_slice(), &[4, 2]);
    /// ```
    #[track_caller]
    pub fn matmul_t(self, other: Var<'t, F>) -> Var<'t, F> {
        check_operands("matmul_t", &self.shape(), &other.shape(), false, true);
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

    /// Operands with at least one 1-D side: `[k] @ [k]`, `[k] @ [k, n]`, `[m, k] @ [k]`,
    /// `[b, m, k] @ [k]` and `[k] @ [b, k, n]`; `which` says which.
    fn vector_operands() -> impl Strategy<Value = (Tensor<f64>, Tensor<f64>, usize)> {
        (0usize..5, 1usize..=3, 1usize..=3, 1usize..=3, 1usize..=2).prop_flat_map(|(which, b, m, k, n)| {
            let (sa, sb) = match which {
                0 => (vec![k], vec![k]),
                1 => (vec![k], vec![k, n]),
                2 => (vec![m, k], vec![k]),
                3 => (vec![b, m, k], vec![k]),
                _ => (vec![k], vec![b, k, n]),
            };
            (values_of(sa, -2.0, 2.0), values_of(sb, -2.0, 2.0), Just(which))
        })
    }

    /// The shapes of PyTorch's `matmul` with 1-D operands, and its values: those of the
    /// explicit unsqueeze, matmul, squeeze.
    #[test]
    fn one_dimensional_operands_follow_pytorch() {
        let tape = Tape::<f64>::new();
        let t = |s: &[usize]| tape.constant(Tensor::from_fn(s, |i| (i as f64 * 0.7).sin()));
        let cases: [(&[usize], &[usize], &[usize]); 5] = [
            (&[3], &[3], &[]),
            (&[3], &[3, 2], &[2]),
            (&[4, 3], &[3], &[4]),
            (&[2, 4, 3], &[3], &[2, 4]),
            (&[3], &[2, 3, 5], &[2, 5]),
        ];
        for (sa, sb, want) in cases {
            let (a, b) = (t(sa), t(sb));
            let y = a.matmul(b);
            assert_eq!(y.shape().as_slice(), want, "{sa:?} @ {sb:?}");
            let a2 = if sa.len() == 1 { a.unsqueeze(0) } else { a };
            let b2 = if sb.len() == 1 { b.unsqueeze(-1) } else { b };
            let explicit = a2.matmul(b2).reshape(want);
            assert_eq!(y.value(), explicit.value());
        }
    }

    op_props! {
        matmul((a, b, ta, tb) in operands()) for [a, b] => |v| match (ta, tb) {
            (false, false) => v[0].matmul(v[1]),
            (true, false) => v[0].t_matmul(v[1]),
            (false, true) => v[0].matmul_t(v[1]),
            (true, true) => v[0].t().matmul(v[1].t()),
        };
        matmul_vectors((a, b, _) in vector_operands()) for [a, b] => |v| v[0].matmul(v[1]);
        dot((a, b) in (1usize..=4).prop_flat_map(|k| (values_of(vec![k], -2.0, 2.0), values_of(vec![k], -2.0, 2.0)))) for [a, b] =>
            |v| v[0].dot(v[1]).sin();
    }
}
