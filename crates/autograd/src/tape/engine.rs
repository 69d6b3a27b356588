//! The backward engines: how backward rules compute (on plain tensors, or recorded onto the
//! tape for `create_graph`), and the reverse sweep that runs them.

use smallvec::SmallVec;

use crate::anomaly::debug_nans;
use crate::float::Float;
use crate::ops::Op;
use crate::shape::Shape;
use crate::tape::pool::take_spare;
use crate::tape::{Tape, Var};
use crate::tensor::Tensor;

/// Var code run by a backward rule (a custom op's `Var` backward): vars in, vars out.
pub(crate) type VarFn<'a, F> = dyn for<'t> Fn(&[Var<'t, F>]) -> Vec<Var<'t, F>> + 'a;

/// How backward rules compute: on plain tensors (first order), or by recording onto the tape
/// (`create_graph`), so that one rule, written once with differentiable ops, serves both.
pub(crate) trait Engine<F: Float> {
    type V: Clone + 'static;
    fn apply(&self, op: Op<F>, ins: &[&Self::V]) -> Self::V;
    fn constant(&self, t: Tensor<F>) -> Self::V;
    /// The value behind `v` (for masks and other derivatives computed from values).
    fn value(&self, v: &Self::V) -> Tensor<F>;
    fn shape(&self, v: &Self::V) -> Shape;
    /// Whether the rules' ops are recorded (create_graph).
    fn records(&self) -> bool;
    /// Calls `f` with non-leaf node `i`'s op, input ids, inputs, output, and which inputs
    /// need gradients.
    fn with_node(&self, tape: &Tape<F>, i: usize, f: impl FnOnce(&Op<F>, &[u32], &[&Self::V], &Self::V, &[bool]));
    /// Runs `f` on vars holding `ins` and returns its results: on this tape when recording,
    /// so what `f` computes is differentiable again; on a scratch tape of constants
    /// otherwise. `op` names the caller in the panic when `f` returns a var of another tape.
    fn with_vars(&self, op: &str, ins: &[&Self::V], f: &VarFn<'_, F>) -> Vec<Self::V>;
    fn accumulate(&self, slot: &mut Option<Self::V>, g: Self::V) {
        *slot = Some(match slot.take() {
            None => g,
            Some(old) => self.apply(Op::Binary(crate::ops::Binary::Add), &[&old, &g]),
        });
    }
}

pub(crate) struct Eager;

impl<F: Float> Engine<F> for Eager {
    type V = Tensor<F>;
    #[inline]
    fn apply(&self, op: Op<F>, ins: &[&Tensor<F>]) -> Tensor<F> {
        op.forward(ins)
    }
    fn constant(&self, t: Tensor<F>) -> Tensor<F> {
        t
    }
    fn value(&self, v: &Tensor<F>) -> Tensor<F> {
        v.clone()
    }
    #[inline]
    fn shape(&self, v: &Tensor<F>) -> Shape {
        v.dims()
    }
    fn records(&self) -> bool {
        false
    }
    #[inline]
    fn with_node(&self, tape: &Tape<F>, i: usize, f: impl FnOnce(&Op<F>, &[u32], &[&Tensor<F>], &Tensor<F>, &[bool])) {
        // Eager rules never touch the tape, so the node is read in place, without copies.
        let nodes = tape.nodes.borrow();
        let node = &nodes[i];
        let n = node.inputs.len();
        if n <= 3 {
            // The common case, on fixed arrays: collecting into a SmallVec cost more than
            // the arithmetic of a scalar op.
            let mut ins: [&Tensor<F>; 3] = [&node.value; 3];
            let mut needs = [false; 3];
            for (k, &j) in node.inputs.iter().enumerate() {
                ins[k] = &nodes[j as usize].value;
                needs[k] = nodes[j as usize].requires_grad;
            }
            return f(&node.op, &node.inputs, &ins[..n], &node.value, &needs[..n]);
        }
        let ins: SmallVec<[&Tensor<F>; 3]> = node.inputs.iter().map(|&j| &nodes[j as usize].value).collect();
        let needs: SmallVec<[bool; 3]> = node.inputs.iter().map(|&j| nodes[j as usize].requires_grad).collect();
        f(&node.op, &node.inputs, &ins, &node.value, &needs)
    }
    fn with_vars(&self, op: &str, ins: &[&Tensor<F>], f: &VarFn<'_, F>) -> Vec<Tensor<F>> {
        let scratch = Tape::new();
        let vars: Vec<Var<'_, F>> = ins.iter().map(|&t| scratch.constant(t.clone())).collect();
        f(&vars)
            .iter()
            .map(|v| {
                scratch.check_same(op, v.tape);
                v.value()
            })
            .collect()
    }
    fn accumulate(&self, slot: &mut Option<Tensor<F>>, g: Tensor<F>) {
        match slot {
            None => *slot = Some(g),
            Some(old) => crate::ops::kernels::add_assign(old, &g),
        }
    }
}

pub(crate) struct Record<'a, F: Float> {
    pub(super) tape: &'a Tape<F>,
}

impl<F: Float> Engine<F> for Record<'_, F> {
    type V = u32;
    fn apply(&self, op: Op<F>, ins: &[&u32]) -> u32 {
        let ids: SmallVec<[u32; 3]> = ins.iter().map(|&&i| i).collect();
        self.tape.apply(op, &ids)
    }
    fn constant(&self, t: Tensor<F>) -> u32 {
        self.tape.constant(t).id
    }
    fn value(&self, v: &u32) -> Tensor<F> {
        self.tape.value_of(*v)
    }
    fn shape(&self, v: &u32) -> Shape {
        self.tape.nodes.borrow()[*v as usize].value.dims()
    }
    fn records(&self) -> bool {
        true
    }
    fn with_vars(&self, op: &str, ins: &[&u32], f: &VarFn<'_, F>) -> Vec<u32> {
        let vars: Vec<Var<'_, F>> = ins.iter().map(|&&id| Var { tape: self.tape, id }).collect();
        f(&vars)
            .iter()
            .map(|v| {
                self.tape.check_same(op, v.tape);
                v.id
            })
            .collect()
    }
    fn with_node(&self, tape: &Tape<F>, i: usize, f: impl FnOnce(&Op<F>, &[u32], &[&u32], &u32, &[bool])) {
        // The rules append to the tape, so the node is copied out before they run.
        let (op, inputs, needs) = {
            let nodes = tape.nodes.borrow();
            let node = &nodes[i];
            let needs: SmallVec<[bool; 3]> = node.inputs.iter().map(|&j| nodes[j as usize].requires_grad).collect();
            (node.op.clone(), node.inputs.clone(), needs)
        };
        let ins: SmallVec<[&u32; 3]> = inputs.iter().collect();
        f(&op, &inputs, &ins, &(i as u32), &needs)
    }
}

/// One reverse sweep from `root`, seeded with `seed`. Gradients of leaves and of the ids in
/// `keep` are left in the returned vector; the others are freed as soon as they are used.
/// Linear in the number of nodes plus the length of `keep`.
pub(super) fn sweep<E: Engine<F>, F: Float>(
    e: &E,
    tape: &Tape<F>,
    root: u32,
    seed: E::V,
    keep: &[u32],
) -> Vec<Option<E::V>> {
    let n = root as usize + 1;
    let mut grads: Vec<Option<E::V>> = take_spare();
    grads.resize(n, None);
    if !tape.nodes.borrow()[root as usize].requires_grad {
        return grads;
    }
    // A mask, not `keep.contains` per node: that made `grad` quadratic in the number of vars.
    let mut kept = vec![false; if keep.is_empty() { 0 } else { n }];
    for &k in keep.iter().filter(|&&k| (k as usize) < n) {
        kept[k as usize] = true;
    }
    grads[root as usize] = Some(seed);
    for i in (0..n).rev() {
        if grads[i].is_none() || tape.nodes.borrow()[i].inputs.is_empty() {
            continue;
        }
        let g = if kept.get(i).copied().unwrap_or(false) {
            grads[i].clone()
        } else {
            grads[i].take()
        };
        let g = g.expect("checked above");
        let g_in = debug_nans().then(|| e.value(&g));
        e.with_node(tape, i, |op, ids, ins, out, needs| {
            let gi = op.backward(e, ins, out, g, needs);
            for (gk, &j) in gi.into_iter().zip(ids) {
                if let Some(gk) = gk {
                    if let Some(g_in) = &g_in {
                        tape.check_backward(i, g_in, &e.value(&gk));
                    }
                    e.accumulate(&mut grads[j as usize], gk);
                }
            }
        });
    }
    grads
}
