//! Forward mode: the tangent sweep over a recorded tape, and [`Tape::jvp`], the entry point
//! the functional transforms (`jvp`, `jacfwd`, the forward-over-reverse `hvp`) use.

use smallvec::SmallVec;

use crate::float::Float;
use crate::tape::engine::{Eager, Engine, Record};
use crate::tape::pool::{give_spare, take_spare};
use crate::tape::{Tape, Var};
use crate::tensor::Tensor;

/// One forward sweep: the tangents of nodes `0..=last`, given the tangents of the leaves in
/// `seeds` (the others zero). Each node's tangent rule runs once, in recording order, on the
/// tangents of its inputs; a node none of whose inputs moves is skipped (`None`, a zero).
pub(super) fn tangent_sweep<E: Engine<F>, F: Float>(
    e: &E,
    tape: &Tape<F>,
    seeds: &[(u32, E::V)],
    last: u32,
) -> Vec<Option<E::V>> {
    let n = last as usize + 1;
    let mut t: Vec<Option<E::V>> = take_spare();
    t.resize(n, None);
    let mut start = n;
    for (id, v) in seeds {
        let i = *id as usize;
        if i < n {
            e.accumulate(&mut t[i], v.clone());
            start = start.min(i);
        }
    }
    for i in start..n {
        let dx: SmallVec<[Option<E::V>; 3]> = {
            let nodes = tape.nodes.borrow();
            if nodes.is_leaf(i) {
                continue;
            }
            let ids = nodes.inputs(nodes.node(i));
            if ids.iter().all(|&j| t[j as usize].is_none()) {
                continue;
            }
            ids.iter().map(|&j| t[j as usize].clone()).collect()
        };
        t[i] = e.tangent_node(tape, i, &dx);
    }
    t
}

impl<F: Float> Tape<F> {
    /// Jacobian-vector products by forward mode: the tangent of each of `outputs` when each
    /// var of `wrt` moves along the tensor of `tangents` at its position (`J u`, summed over
    /// the inputs), from one sweep over the recorded nodes in order: no backward pass.
    ///
    /// With `create_graph` the sweep is itself recorded, so the tangents can be differentiated
    /// again (reverse-over-forward); without it they are constants. An output that does not
    /// depend on `wrt` gets an explicit zero. Panics when a `wrt` is not a var leaf (made with
    /// [`Tape::var`]) or a tangent's shape differs from its var's.
    ///
    /// ```
    /// use borel_autograd::{Tape, Tensor};
    /// let tape = Tape::<f64>::new();
    /// let x = tape.var(Tensor::from_vec(vec![0.0, 1.0], &[2]));
    /// let y = x.sin() * 2.0;
    /// // d/dt 2 sin(x + t u) = 2 cos(x) u
    /// let d = tape.jvp(&[y], &[x], &[Tensor::from_vec(vec![1.0, 3.0], &[2])], false);
    /// assert_eq!(d[0].value().data(), &[2.0, 6.0 * 1f64.cos()]);
    /// ```
    #[track_caller]
    pub fn jvp<'t>(
        &'t self,
        outputs: &[Var<'t, F>],
        wrt: &[Var<'t, F>],
        tangents: &[Tensor<F>],
        create_graph: bool,
    ) -> Vec<Var<'t, F>> {
        self.check_jvp_args(outputs, wrt, tangents);
        let last = outputs.iter().map(|o| o.id).max().unwrap_or(0);
        let found: Vec<Option<u32>> = if create_graph {
            let rec = Record { tape: self };
            let seeds: Vec<(u32, u32)> = wrt
                .iter()
                .zip(tangents)
                .map(|(w, u)| (w.id, rec.constant(u.clone())))
                .collect();
            let t = tangent_sweep(&rec, self, &seeds, last);
            outputs.iter().map(|o| t[o.id as usize]).collect()
        } else {
            let seeds: Vec<(u32, Tensor<F>)> = wrt.iter().zip(tangents).map(|(w, u)| (w.id, u.clone())).collect();
            self.tangents(outputs, &seeds)
                .into_iter()
                .map(|d| d.map(|d| self.constant(d).id))
                .collect()
        };
        outputs
            .iter()
            .zip(found)
            .map(|(o, id)| Var {
                tape: self,
                id: id.unwrap_or_else(|| self.constant(Tensor::zeros(&o.shape())).id),
            })
            .collect()
    }

    /// The tangents of `outputs` (`None`: zero) from one eager sweep seeded with `seeds`
    /// (var leaf id, tangent), unchecked: what `jacfwd` and `hvp` run per direction.
    pub(crate) fn tangents(&self, outputs: &[Var<'_, F>], seeds: &[(u32, Tensor<F>)]) -> Vec<Option<Tensor<F>>> {
        let last = outputs.iter().map(|o| o.id).max().unwrap_or(0);
        let mut t = tangent_sweep(&Eager, self, seeds, last);
        let out = outputs.iter().map(|o| t[o.id as usize].take()).collect();
        give_spare(t);
        out
    }

    #[track_caller]
    fn check_jvp_args(&self, outputs: &[Var<'_, F>], wrt: &[Var<'_, F>], tangents: &[Tensor<F>]) {
        for v in outputs.iter().chain(wrt) {
            self.check_same("jvp", v.tape);
        }
        if wrt.len() != tangents.len() {
            panic!("jvp: {} vars but {} tangents", wrt.len(), tangents.len());
        }
        let nodes = self.nodes.borrow();
        for (k, (w, u)) in wrt.iter().zip(tangents).enumerate() {
            let i = w.id as usize;
            if !nodes.is_leaf(i) || !nodes.requires_grad(i) {
                panic!("jvp: wrt {k} is not a var leaf (made with Tape::var)");
            }
            let shape = nodes.value(i).shape();
            if u.shape() != shape {
                panic!(
                    "jvp: tangent {k} has shape {:?} but var {k} has shape {shape:?}",
                    u.shape()
                );
            }
        }
    }
}
