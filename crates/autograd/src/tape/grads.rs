//! [`GradStore`]: the gradients of one backward pass, indexed by var.

use crate::float::Float;
use crate::tape::Var;
use crate::tensor::Tensor;

/// The gradients of one backward pass, indexed by the var they belong to.
///
/// A var leaf the output does not reach through recorded ops (unused, or used only under
/// [`Tape::no_grad`](crate::Tape::no_grad) or through [`Var::detach`]) has no gradient for [`GradStore::get`] and
/// [`GradStore::take`], as PyTorch leaves its `grad` at `None`; indexing gives an explicit
/// zero of its shape.
///
/// ```
/// use borel_autograd::{Tape, Tensor};
/// let tape = Tape::<f32>::new();
/// let w = tape.var(Tensor::from_vec(vec![1.0, 2.0], &[2]));
/// let unused = tape.var(Tensor::ones(&[3]));
/// let grads = (w * w).sum().backward();
/// assert_eq!(grads[w].data(), &[2.0, 4.0]);
/// assert!(grads.get(unused).is_none());
/// assert_eq!(grads[unused].data(), &[0.0, 0.0, 0.0]);
/// ```
pub struct GradStore<F = f32> {
    /// The var leaves' ids, ascending, and their gradients (`None` once taken; zeros for the
    /// leaves the sweep did not reach).
    pub(super) ids: Vec<u32>,
    pub(super) grads: Vec<Option<Tensor<F>>>,
    /// Whether the sweep reached each leaf (PyTorch's `grad` is not `None`).
    pub(super) reached: Vec<bool>,
    /// The id of the tape's recording these gradients are of.
    pub(super) recording: u64,
}

impl<F: Float> GradStore<F> {
    /// Panics unless `v` is of the recording these gradients were computed on: the same
    /// tape, not reset since. Node ids restart at 0 on every tape and after every reset, so
    /// anything else would answer with the gradient of another var.
    #[track_caller]
    fn check_owns(&self, v: Var<'_, F>) {
        if v.tape.id != self.recording {
            panic!(
                "GradStore: var #{} belongs to tape recording #{}, these gradients to recording #{} \
                 (another tape, or this one before Tape::reset)",
                v.id, v.tape.id, self.recording
            );
        }
    }

    /// The gradient of a var leaf the output reached; `None` for a leaf it did not reach
    /// and for intermediate values (their gradients are freed during the sweep: ask for them
    /// with [`Tape::grad`](crate::Tape::grad)). Panics for a var of another tape, or of a later recording of
    /// this one (after [`Tape::reset`](crate::Tape::reset)).
    #[track_caller]
    pub fn get(&self, v: Var<'_, F>) -> Option<&Tensor<F>> {
        let i = self.reached_slot(v)?;
        self.grads[i].as_ref()
    }

    /// Takes the gradient out of the store (`None` and panics as for [`GradStore::get`]).
    #[track_caller]
    pub fn take(&mut self, v: Var<'_, F>) -> Option<Tensor<F>> {
        let i = self.reached_slot(v)?;
        self.grads[i].take()
    }

    /// Where `v`'s gradient is, if `v` is a leaf of this recording that the sweep reached.
    #[track_caller]
    fn reached_slot(&self, v: Var<'_, F>) -> Option<usize> {
        let i = self.slot(v)?;
        self.reached[i].then_some(i)
    }

    /// Where `v`'s gradient is, if `v` is a var leaf; panics for a var of another recording.
    #[track_caller]
    fn slot(&self, v: Var<'_, F>) -> Option<usize> {
        self.check_owns(v);
        self.ids.binary_search(&v.id).ok()
    }
}

impl<F: Float> std::ops::Index<Var<'_, F>> for GradStore<F> {
    type Output = Tensor<F>;
    #[track_caller]
    fn index(&self, v: Var<'_, F>) -> &Tensor<F> {
        match self.slot(v).and_then(|i| self.grads[i].as_ref()) {
            Some(g) => g,
            None => panic!(
                "GradStore: var #{} is not a leaf created with Tape::var; use Tape::grad for intermediate values",
                v.id
            ),
        }
    }
}
