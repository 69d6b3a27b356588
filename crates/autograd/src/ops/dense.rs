//! The fused dense layer `act(x · w + b)`: one node where the composition records three, and
//! one pass over the output for bias and activation (the bias rows are copied into the
//! output and the GEMM accumulates onto them). Only activations whose derivative is a
//! function of the output are fused, so the backward rule needs nothing but the output.
//!
//! The rule is written with the tape's own ops (two matrix products, a row sum and the
//! activation's `*_backward` op), so it serves every order of derivative like any other.

use std::borrow::Cow;

use crate::float::Float;
use crate::ops::kernels::{Buf, Strided, gemm_into};
use crate::ops::{Binary, EngineExt, Family, Grads, MatMul, Reduce};
use crate::shape::{Shape, numel_for};
use crate::tape::{Engine, Var};
use crate::tensor::Tensor;

/// The activation of a fused [`Var::dense`] node.
///
/// ```
/// use borel_autograd::{DenseAct, Tape, Tensor};
/// let tape = Tape::<f32>::new();
/// let x = tape.constant(Tensor::from_vec(vec![1.0, -1.0], &[1, 2]));
/// let w = tape.var(Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[2, 2]));
/// assert_eq!(x.dense(w, None, DenseAct::Relu).value().data(), &[0.0, 0.0]);
/// assert_eq!(x.dense(w, None, DenseAct::Linear).value().data(), &[-2.0, -2.0]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DenseAct {
    /// No activation: `x · w + b`.
    Linear,
    /// `max(x, 0)`, with derivative 0 at 0 (PyTorch's choice).
    Relu,
    /// `1 / (1 + e^-x)`.
    Sigmoid,
    /// `tanh x`.
    Tanh,
}

impl DenseAct {
    /// The activation of one element, the same function as the unfused op's.
    #[inline(always)]
    fn value<F: Float>(self, z: F) -> F {
        match self {
            DenseAct::Linear => z,
            DenseAct::Relu => super::unary::relu(z),
            DenseAct::Sigmoid => super::unary::sigmoid(z),
            DenseAct::Tanh => z.tanh(),
        }
    }

    /// The op that turns the output's gradient into the pre-activation's, given the output.
    fn backward_op(self) -> Option<Binary> {
        match self {
            DenseAct::Linear => None,
            DenseAct::Relu => Some(Binary::ReluBackward),
            DenseAct::Sigmoid => Some(Binary::SigmoidBackward),
            DenseAct::Tanh => Some(Binary::TanhBackward),
        }
    }
}

/// `act(x · w + b)` for `x` of shape `[.., k]`, `w` of shape `[k, n]` and, when the node has a
/// third input, `b` of shape `[n]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Dense {
    pub(crate) act: DenseAct,
}

impl<F: Float> Family<F> for Dense {
    fn name(&self) -> Cow<'static, str> {
        Cow::Borrowed("dense")
    }

    #[track_caller]
    fn forward(&self, x: &[&Tensor<F>]) -> Tensor<F> {
        let (xs, ws) = (x[0].shape(), x[1].shape());
        let (k, n) = (ws[0], ws[1]);
        let rows: usize = xs[..xs.len() - 1].iter().product();
        let mut out_shape: Shape = xs[..xs.len() - 1].into();
        out_shape.push(n);
        let total = numel_for("dense", &out_shape);
        let mut out = match x.get(2) {
            Some(b) => {
                let mut out = Buf::with_capacity(total);
                for _ in 0..rows {
                    out.extend_from_slice(b.data());
                }
                out
            }
            None => Buf::full(total, F::ZERO),
        };
        // The output holds the bias rows (or zeros), which the GEMM adds onto (beta = 1).
        let xm = Strided {
            data: x[0].data(),
            rs: k,
            cs: 1,
        };
        let wm = Strided {
            data: x[1].data(),
            rs: n,
            cs: 1,
        };
        gemm_into("dense", (rows, k, n), xm, wm, F::ONE, &mut out, 0);
        if self.act != DenseAct::Linear {
            let act = self.act;
            out.iter_mut().for_each(|v| *v = act.value(*v));
        }
        Tensor::from_parts(out.freeze(), out_shape)
    }

    /// With `z = x · w + b` and `gz = g act'(z)` (computed from the output):
    /// `dx = gz · w^T`, `dw = x^T · gz` (rows of every batch dim together), `db = sum_rows gz`.
    fn backward<E: Engine<F>>(&self, e: &E, x: &[&E::V], y: &E::V, g: E::V, needs: &[bool]) -> Grads<E::V> {
        let (xv, w) = (x[0], x[1]);
        let ws = e.shape(w);
        let (k, n) = (ws[0], ws[1]);
        let gz = match self.act.backward_op() {
            Some(op) => e.apply_binary(op, &g, y),
            None => g,
        };
        let xs = e.shape(xv);
        let rows: usize = xs[..xs.len() - 1].iter().product();
        let mm = |a: &E::V, b: &E::V, ta: bool, tb: bool| e.apply(MatMul { ta, tb }.into(), &[a, b]);
        let gz2 = e.reshape(&gz, Shape::from(&[rows, n][..]));
        let mut grads = Grads::new();
        grads.push(needs[0].then(|| e.reshape(&mm(&gz2, w, false, true), xs)));
        grads.push(needs[1].then(|| mm(&e.reshape(xv, Shape::from(&[rows, k][..])), &gz2, true, false)));
        if x.len() > 2 {
            let axes = std::iter::once(0).collect();
            grads.push(needs[2].then(|| e.apply(Reduce::sum(axes, false).into(), &[&gz2])));
        }
        grads
    }

    /// `dz = dx · w + x · dw + db` (as linear dense nodes, the bias tangent riding on the
    /// first), then `dy = act'(z) dz` by the activation's backward op, from the output.
    fn tangent<E: Engine<F>>(&self, e: &E, x: &[&E::V], y: &E::V, dx: &[Option<E::V>]) -> Option<E::V> {
        let lin = |a: &E::V, w: &E::V, b: Option<&E::V>| {
            let op = Dense { act: DenseAct::Linear }.into();
            match b {
                Some(b) => e.apply(op, &[a, w, b]),
                None => e.apply(op, &[a, w]),
            }
        };
        let db = dx.get(2).and_then(Option::as_ref);
        let mut db_left = db;
        let t_x = dx[0].as_ref().map(|d| lin(d, x[1], db_left.take()));
        let t_w = dx[1].as_ref().map(|d| lin(x[0], d, db_left.take()));
        let t_b = db_left.map(|b| e.broadcast_to(b, &e.shape(y)));
        let dz = super::sum_terms(e, [t_x, t_w, t_b])?;
        Some(match self.act.backward_op() {
            Some(op) => e.apply_binary(op, &dz, y),
            None => dz,
        })
    }
}

impl<'t, F: Float> Var<'t, F> {
    /// `act(self · w + b)` as one node: Keras' `Dense` layer (`w` of shape `[in, out]`, `b` of
    /// shape `[out]`) on `self` of shape `[.., in]`, the leading dims kept. The same values and
    /// gradients, of every order, as `(self.matmul(w) + b).relu()` and its siblings, with one
    /// node instead of three and one pass over the output instead of three.
    ///
    /// ```
    /// use borel_autograd::{DenseAct, Tape, Tensor};
    /// let tape = Tape::<f64>::new();
    /// let x = tape.constant(Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[3, 2]));
    /// let w = tape.var(Tensor::from_vec(vec![0.1, -0.2, 0.3, 0.4], &[2, 2]));
    /// let b = tape.var(Tensor::from_vec(vec![0.5, -0.5], &[2]));
    /// let fused = x.dense(w, Some(b), DenseAct::Tanh);
    /// let composed = (x.matmul(w) + b).tanh();
    /// assert_eq!(fused.value(), composed.value());
    /// let (g1, g2) = (fused.sum().backward(), composed.sum().backward());
    /// assert_eq!(g1[w], g2[w]);
    /// assert_eq!(g1[b], g2[b]);
    /// ```
    #[track_caller]
    pub fn dense(self, w: Var<'t, F>, b: Option<Var<'t, F>>, act: DenseAct) -> Var<'t, F> {
        let (xs, ws) = (self.shape(), w.shape());
        if ws.len() != 2 || xs.is_empty() || xs[xs.len() - 1] != ws[0] {
            panic!(
                "dense: needs x of shape [.., k] and w of shape [k, n], got shapes {:?} and {:?}",
                xs.as_slice(),
                ws.as_slice()
            );
        }
        self.tape.check_same("dense", w.tape);
        let mut ids = smallvec::SmallVec::<[u32; 3]>::from_slice(&[self.id, w.id]);
        if let Some(b) = b {
            let bs = b.shape();
            if bs.as_slice() != [ws[1]] {
                panic!(
                    "dense: bias of shape {:?} does not match w of shape {:?} (want [{}])",
                    bs.as_slice(),
                    ws.as_slice(),
                    ws[1]
                );
            }
            self.tape.check_same("dense", b.tape);
            ids.push(b.id);
        }
        Var {
            tape: self.tape,
            id: self.tape.apply(Dense { act }.into(), &ids),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::DenseAct;
    use crate::ops::testing::*;

    /// `x` of shape `[.., k]` (1 to 3 dims), `w` `[k, n]`, `b` `[n]`, and an activation;
    /// for relu, no pre-activation within 0.05 of the kink.
    fn operands() -> impl Strategy<Value = (Tensor<f64>, Tensor<f64>, Tensor<f64>, DenseAct)> {
        let acts = prop::sample::select(vec![
            DenseAct::Linear,
            DenseAct::Relu,
            DenseAct::Sigmoid,
            DenseAct::Tanh,
        ]);
        (shape(0, 2), 1usize..=3, 1usize..=3, acts)
            .prop_flat_map(|(mut lead, k, n, act)| {
                lead.push(k);
                (
                    values_of(lead, -2.0, 2.0),
                    values_of(vec![k, n], -1.0, 1.0),
                    values_of(vec![n], -1.0, 1.0),
                    Just(act),
                )
            })
            .prop_filter("relu kink", |(x, w, b, act)| {
                let t = Tape::<f64>::new();
                let z = t.constant(x.clone()).matmul(t.constant(w.clone())) + t.constant(b.clone());
                *act != DenseAct::Relu || z.abs().min().item() > 0.05
            })
    }

    fn composed<'t, F: Float>(x: Var<'t, F>, w: Var<'t, F>, b: Option<Var<'t, F>>, act: DenseAct) -> Var<'t, F> {
        let z = match b {
            Some(b) => x.matmul(w) + b,
            None => x.matmul(w),
        };
        match act {
            DenseAct::Linear => z,
            DenseAct::Relu => z.relu(),
            DenseAct::Sigmoid => z.sigmoid(),
            DenseAct::Tanh => z.tanh(),
        }
    }

    /// Bit for bit on 2-D inputs; with batch dims the weight's gradient sums the rows of all
    /// batches in one product where the composition sums per-batch products, so it may
    /// differ in the last bits.
    #[test]
    fn matches_the_composition() {
        for lead in [&[3][..], &[2, 3]] {
            let tape = Tape::<f32>::new();
            let mut xs = lead.to_vec();
            xs.push(4);
            let x = tape.var(Tensor::from_fn(&xs, |i| (i as f32 * 0.37).sin()));
            let w = tape.var(Tensor::from_fn(&[4, 5], |i| (i as f32 * 0.61).cos()));
            let b = tape.var(Tensor::from_fn(&[5], |i| i as f32 * 0.1 - 0.2));
            for act in [DenseAct::Linear, DenseAct::Relu, DenseAct::Sigmoid, DenseAct::Tanh] {
                for bias in [Some(b), None] {
                    let (f, c) = (x.dense(w, bias, act), composed(x, w, bias, act));
                    assert_eq!(f.value(), c.value(), "{act:?}");
                    let (gf, gc) = (f.square().sum().backward(), c.square().sum().backward());
                    for v in [x, w, b] {
                        let close = gf[v]
                            .data()
                            .iter()
                            .zip(gc[v].data())
                            .all(|(p, q)| (p - q).abs() <= 1e-6 * q.abs().max(1.0));
                        assert!(
                            gf[v] == gc[v] || (lead.len() > 1 && close),
                            "{act:?} {lead:?} bias {}",
                            bias.is_some()
                        );
                    }
                }
            }
        }
    }

    #[test]
    #[should_panic(expected = "dense: needs x of shape [.., k] and w of shape [k, n], got shapes [2, 3] and [4, 5]")]
    fn mismatched_shapes_name_the_op_and_both_shapes() {
        let tape = Tape::<f32>::new();
        let x = tape.constant(Tensor::zeros(&[2, 3]));
        x.dense(tape.var(Tensor::zeros(&[4, 5])), None, DenseAct::Relu);
    }

    #[test]
    #[should_panic(expected = "dense: bias of shape [4] does not match w of shape [3, 5] (want [5])")]
    fn a_bias_of_the_wrong_width_is_refused() {
        let tape = Tape::<f32>::new();
        let x = tape.constant(Tensor::zeros(&[2, 3]));
        let b = Some(tape.var(Tensor::zeros(&[4])));
        x.dense(tape.var(Tensor::zeros(&[3, 5])), b, DenseAct::Relu);
    }

    op_props! {
        dense((x, w, b, act) in operands()) for [x, w, b] => |v| v[0].dense(v[1], Some(v[2]), act);
        dense_no_bias((x, w, _b, act) in operands().prop_filter("relu", |o| o.3 != DenseAct::Relu)) for [x, w] =>
            |v| v[0].dense(v[1], None, act).sin();
    }
}
