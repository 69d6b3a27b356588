//! The reverse passes a user starts: [`Var::backward`] (gradients of every var leaf, as a
//! [`GradStore`]) and [`Tape::grad`] (gradients of chosen vars, as vars, recorded with
//! `create_graph`).

use smallvec::SmallVec;

use crate::float::Float;
use crate::tape::engine::{Eager, Engine, Record, sweep};
use crate::tape::pool::give_spare;
use crate::tape::{GradStore, Tape, Var};
use crate::tensor::Tensor;

impl<F: Float> Tape<F> {
    /// Gradients of `output` with respect to `wrt`, as vars on this tape.
    ///
    /// With `create_graph` the backward pass is itself recorded, so the returned gradients can
    /// be differentiated again (Hessian-vector products, third derivatives, gradgradcheck).
    /// Without it they are constants. A `wrt` that `output` does not depend on gets an
    /// explicit zero gradient. `output` must be a scalar; see [`Tape::grad_with`] otherwise.
    ///
    /// ```
    /// use borel_autograd::{Tape, Tensor};
    /// let tape = Tape::<f64>::new();
    /// let x = tape.var(Tensor::scalar(0.7));
    /// let d1 = tape.grad(x.sin(), &[x], true)[0];
    /// let d2 = tape.grad(d1, &[x], true)[0];
    /// let d3 = tape.grad(d2, &[x], false)[0];
    /// assert!((d3.item() + 0.7f64.cos()).abs() < 1e-12);
    /// ```
    #[track_caller]
    pub fn grad<'t>(&'t self, output: Var<'t, F>, wrt: &[Var<'t, F>], create_graph: bool) -> Vec<Var<'t, F>> {
        let seed = scalar_seed("grad", &output);
        self.grad_with(output, seed, wrt, create_graph)
    }

    /// [`Tape::grad`] of a non-scalar output, seeded with `seed` (a vector-Jacobian product).
    #[track_caller]
    pub fn grad_with<'t>(
        &'t self,
        output: Var<'t, F>,
        seed: Tensor<F>,
        wrt: &[Var<'t, F>],
        create_graph: bool,
    ) -> Vec<Var<'t, F>> {
        self.check_same("grad", output.tape);
        for w in wrt {
            self.check_same("grad", w.tape);
        }
        check_seed("grad", &output, &seed);
        let keep: SmallVec<[u32; 4]> = wrt.iter().map(|w| w.id).collect();
        if create_graph {
            let rec = Record { tape: self };
            let seed = rec.constant(seed);
            let grads = sweep(&rec, self, output.id, seed, &keep);
            wrt.iter()
                .map(|w| match grads.get(w.id as usize).copied().flatten() {
                    Some(id) => Var { tape: self, id },
                    None => self.constant(Tensor::zeros(w.value().shape())),
                })
                .collect()
        } else {
            self.refuse_capture("the step takes a gradient without create_graph (Tape::grad(.., false)): its values would be frozen as constants; pass create_graph = true");
            let mut grads = sweep(&Eager, self, output.id, seed, &keep);
            let out = wrt
                .iter()
                .map(|w| match grads.get_mut(w.id as usize).and_then(Option::take) {
                    Some(t) => self.constant(t),
                    None => self.constant(Tensor::zeros(w.value().shape())),
                })
                .collect();
            give_spare(grads);
            out
        }
    }
}

#[track_caller]
fn scalar_seed<F: Float>(op: &str, output: &Var<'_, F>) -> Tensor<F> {
    let shape = output.shape();
    if shape.iter().product::<usize>() != 1 {
        panic!(
            "{op}: output has shape {:?}, not a scalar: reduce it first (`.mean()` for an average loss, as PyTorch's losses do; `.sum()`), or pass a seed gradient of that shape (backward_with / grad_with)",
            shape.as_slice()
        );
    }
    Tensor::ones(&shape)
}

#[track_caller]
fn check_seed<F: Float>(op: &str, output: &Var<'_, F>, seed: &Tensor<F>) {
    let shape = output.shape();
    if seed.shape() != shape.as_slice() {
        panic!(
            "{op}: seed gradient has shape {:?} but the output has shape {:?}",
            seed.shape(),
            shape.as_slice()
        );
    }
}
impl<'t, F: Float> Var<'t, F> {
    /// Gradients of this scalar with respect to every var leaf of the tape.
    ///
    /// Panics when the output is not a scalar (use [`Var::backward_with`]). A var the output
    /// does not reach through recorded ops has no gradient for [`GradStore::get`] (PyTorch's
    /// `None`) and an explicit zero when indexed.
    #[track_caller]
    pub fn backward(self) -> GradStore<F> {
        let seed = scalar_seed("backward", &self);
        self.backward_with(seed)
    }

    /// Vector-Jacobian product: gradients of `sum(self * seed)` with respect to every var.
    #[track_caller]
    pub fn backward_with(self, seed: Tensor<F>) -> GradStore<F> {
        check_seed("backward", &self, &seed);
        let mut swept = sweep(&Eager, self.tape, self.id, seed, &[]);
        let ids = self.tape.vars.borrow().clone();
        let reached = ids
            .iter()
            .map(|&id| matches!(swept.get(id as usize), Some(Some(_))))
            .collect();
        let grads = {
            let nodes = self.tape.nodes.borrow();
            ids.iter()
                .map(|&id| {
                    let g = swept.get_mut(id as usize).and_then(Option::take);
                    Some(g.unwrap_or_else(|| Tensor::zeros(nodes.value(id as usize).shape())))
                })
                .collect()
        };
        give_spare(swept);
        GradStore {
            ids,
            grads,
            reached,
            recording: self.tape.id,
        }
    }
}
