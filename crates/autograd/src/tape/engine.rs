//! The backward engines: how backward rules compute (on plain tensors, or recorded onto the
//! tape for `create_graph`), and the reverse sweep that runs them.

use smallvec::SmallVec;

use crate::anomaly::debug_nans;
use crate::float::Float;
use crate::ops::Op;
use crate::shape::Shape;
use crate::tape::nodes::Nodes;
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
    /// Runs non-leaf node `i`'s backward rule on its output's gradient `g`, handing each
    /// input gradient to `out` (input id, gradient) as the rule makes it.
    fn backward_node(&self, tape: &Tape<F>, i: usize, g: Self::V, out: impl FnMut(u32, Self::V));
    /// Runs `f` on vars holding `ins` and returns its results: on this tape when recording,
    /// so what `f` computes is differentiable again; on a scratch tape of constants
    /// otherwise. `op` names the caller in the panic when `f` returns a var of another tape.
    fn with_vars(&self, op: &str, ins: &[&Self::V], f: &VarFn<'_, F>) -> Vec<Self::V>;
    /// Runs non-leaf node `i`'s tangent rule on its inputs' tangents `dx` (`None`: zero).
    fn tangent_node(&self, tape: &Tape<F>, i: usize, dx: &[Option<Self::V>]) -> Option<Self::V>;
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
    fn backward_node(&self, tape: &Tape<F>, i: usize, g: Tensor<F>, out: impl FnMut(u32, Tensor<F>)) {
        // Eager rules never touch the tape, so the node is read in place, without copies.
        eager_backward_node(&tape.nodes.borrow(), i, g, out)
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
    fn tangent_node(&self, tape: &Tape<F>, i: usize, dx: &[Option<Tensor<F>>]) -> Option<Tensor<F>> {
        // Eager rules never touch the tape, so the node is read in place.
        let nodes = tape.nodes.borrow();
        let node = nodes.node(i);
        let ins: SmallVec<[&Tensor<F>; 3]> = nodes.inputs(node).iter().map(|&j| nodes.value(j as usize)).collect();
        node.op.tangent(self, &ins, nodes.value(i), dx)
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
        self.tape.nodes.borrow().value(*v as usize).dims()
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
    fn tangent_node(&self, tape: &Tape<F>, i: usize, dx: &[Option<u32>]) -> Option<u32> {
        // The rules append to the tape, so the node is copied out before they run.
        let (op, inputs) = {
            let nodes = tape.nodes.borrow();
            let node = nodes.node(i);
            (node.op.clone(), SmallVec::<[u32; 3]>::from(nodes.inputs(node)))
        };
        let ins: SmallVec<[&u32; 3]> = inputs.iter().collect();
        op.tangent(self, &ins, &(i as u32), dx)
    }
    fn backward_node(&self, tape: &Tape<F>, i: usize, g: u32, mut out: impl FnMut(u32, u32)) {
        // The rules append to the tape, so the node is copied out before they run.
        let (op, inputs, needs) = {
            let nodes = tape.nodes.borrow();
            let node = nodes.node(i);
            let inputs: SmallVec<[u32; 3]> = nodes.inputs(node).into();
            let needs: SmallVec<[bool; 3]> = inputs.iter().map(|&j| nodes.requires_grad(j as usize)).collect();
            (node.op.clone(), inputs, needs)
        };
        let ins: SmallVec<[&u32; 3]> = inputs.iter().collect();
        op.backward_into(self, &ins, &(i as u32), g, &needs, |k, gk| out(inputs[k], gk))
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
    if !tape.nodes.borrow().requires_grad(root as usize) {
        return grads;
    }
    // A mask, not `keep.contains` per node: that made `grad` quadratic in the number of vars.
    let mut kept = vec![false; if keep.is_empty() { 0 } else { n }];
    for &k in keep.iter().filter(|&&k| (k as usize) < n) {
        kept[k as usize] = true;
    }
    grads[root as usize] = Some(seed);
    // Read once: tracing is switched between passes, not within one.
    let tracing = debug_nans();
    for i in (0..n).rev() {
        if grads[i].is_none() || tape.nodes.borrow().is_leaf(i) {
            continue;
        }
        let g = if kept.get(i).copied().unwrap_or(false) {
            grads[i].clone()
        } else {
            grads[i].take()
        };
        let g = g.expect("checked above");
        let g_in = tracing.then(|| e.value(&g));
        e.backward_node(tape, i, g, |j, gk| {
            if let Some(g_in) = &g_in {
                tape.check_backward(i, g_in, &e.value(&gk));
            }
            e.accumulate(&mut grads[j as usize], gk);
        });
    }
    grads
}

/// [`Eager`]'s backward of non-leaf node `i` on nodes already borrowed: the rule's input
/// gradients handed to `out` (input id, gradient).
#[inline]
pub(super) fn eager_backward_node<F: Float>(
    nodes: &Nodes<F>,
    i: usize,
    g: Tensor<F>,
    mut out: impl FnMut(u32, Tensor<F>),
) {
    let node = nodes.node(i);
    let ids = nodes.inputs(node);
    let y = nodes.value(i);
    let n = ids.len();
    let out = |k: usize, gk| out(ids[k], gk);
    if n <= 3 {
        // The common case, on fixed arrays: collecting into a SmallVec cost more than
        // the arithmetic of a scalar op.
        let mut ins: [&Tensor<F>; 3] = [y; 3];
        let mut needs = [false; 3];
        for (k, &j) in ids.iter().enumerate() {
            ins[k] = nodes.value(j as usize);
            needs[k] = nodes.requires_grad(j as usize);
        }
        return node.op.backward_into(&Eager, &ins[..n], y, g, &needs[..n], out);
    }
    let ins: SmallVec<[&Tensor<F>; 3]> = ids.iter().map(|&j| nodes.value(j as usize)).collect();
    let needs: SmallVec<[bool; 3]> = ids.iter().map(|&j| nodes.requires_grad(j as usize)).collect();
    node.op.backward_into(&Eager, &ins, y, g, &needs, out)
}
