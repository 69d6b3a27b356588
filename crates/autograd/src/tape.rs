//! The tape: define-by-run recording, reverse sweeps, higher-order gradients.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::fmt;
use std::panic::Location;
use std::sync::atomic::{AtomicU64, Ordering};

use smallvec::SmallVec;

use crate::anomaly::{NonFiniteOp, Pass, debug_nans, non_finite_kind, op_name};
use crate::float::Float;
use crate::ops::Op;
use crate::shape::Shape;
use crate::tensor::Tensor;

pub(crate) type Inputs = SmallVec<[u32; 2]>;

/// Var code run by a backward rule (a custom op's `Var` backward): vars in, vars out.
pub(crate) type VarFn<'a, F> = dyn for<'t> Fn(&[Var<'t, F>]) -> Vec<Var<'t, F>> + 'a;

pub(crate) struct Node<F> {
    pub(crate) op: Op<F>,
    pub(crate) inputs: Inputs,
    pub(crate) value: Tensor<F>,
    pub(crate) requires_grad: bool,
    /// Where the program called the op, recorded while NaN tracing is on.
    pub(crate) site: Option<&'static Location<'static>>,
}

/// A record of the operations applied to its [`Var`]s, in the order they ran.
///
/// Every op on a `Var` appends one node (its value, its inputs and which rule differentiates
/// it). [`Var::backward`] sweeps the nodes once in reverse. A tape belongs to one thread;
/// clear it with [`Tape::reset`] (or drop it) between training steps, so memory stays flat.
///
/// ```
/// use borel_autograd::{Tape, Tensor};
/// let tape = Tape::<f64>::new();
/// let x = tape.var(Tensor::from_vec(vec![1.0, 2.0, 3.0], &[3]));
/// let c = tape.constant(Tensor::scalar(2.0));
/// let y = (x.sin() * x + c).sum();
/// let grads = y.backward();
/// // d/dx (x sin x) = sin x + x cos x
/// let want: Vec<f64> = [1.0f64, 2.0, 3.0].iter().map(|x| x.sin() + x * x.cos()).collect();
/// assert!(grads[x].data().iter().zip(&want).all(|(a, b)| (a - b).abs() < 1e-12));
///
/// // Second order: the gradient is itself on the tape.
/// let g = tape.grad(y, &[x], true);
/// let v = tape.constant(Tensor::ones(&[3]));
/// let hvp = (g[0] * v).sum().backward();
/// assert!((hvp[x].at(&[0]) - (2.0 * 1f64.cos() - 1f64.sin())).abs() < 1e-12);
/// ```
pub struct Tape<F: Float> {
    pub(crate) nodes: RefCell<Vec<Node<F>>>,
    /// The ids of the leaves made with [`Tape::var`], in order: what `backward` returns
    /// gradients for, found without a walk over every node.
    vars: RefCell<Vec<u32>>,
    recording: Cell<bool>,
    /// Which recording this is, unique in the process: a new tape and every `reset` take a
    /// new one, so a [`GradStore`] of another tape, of a dropped one at the same address or of
    /// an earlier recording (whose node ids are reused) is refused.
    id: u64,
    /// With NaN tracing on: keep the first report here instead of panicking.
    keep_non_finite: Cell<bool>,
    non_finite: RefCell<Option<NonFiniteOp>>,
}

impl<F: Float> Default for Tape<F> {
    fn default() -> Self {
        Self::new()
    }
}

impl<F: Float> Drop for Tape<F> {
    fn drop(&mut self) {
        give_spare(std::mem::take(self.nodes.get_mut()));
    }
}

/// The next recording id (a tape's `id`): 2^64 recordings never wrap.
static NEXT_RECORDING: AtomicU64 = AtomicU64::new(1);

fn next_recording() -> u64 {
    NEXT_RECORDING.fetch_add(1, Ordering::Relaxed)
}

thread_local! {
    /// Node and gradient vectors of dropped tapes and finished sweeps, kept (emptied) for the
    /// next ones on this thread: a training loop that makes a tape per step then grows none.
    static SPARE: RefCell<Vec<Box<dyn Any>>> = const { RefCell::new(Vec::new()) };
}

/// Vectors up to this many bytes are kept for reuse.
const SPARE_BYTES: usize = 4 << 20;

/// An empty vector, with the capacity of a spare one when this thread has one.
fn take_spare<T: 'static>() -> Vec<T> {
    let spare = SPARE.try_with(|s| {
        let mut s = s.borrow_mut();
        let i = s.iter().position(|b| b.is::<Vec<T>>())?;
        s.swap_remove(i).downcast::<Vec<T>>().ok()
    });
    spare.ok().flatten().map(|v| *v).unwrap_or_default()
}

/// Empties `v` and keeps it for [`take_spare`] (a few per thread, none beyond [`SPARE_BYTES`]).
fn give_spare<T: 'static>(mut v: Vec<T>) {
    v.clear();
    if v.capacity() < 64 || v.capacity().saturating_mul(std::mem::size_of::<T>()) > SPARE_BYTES {
        return;
    }
    let _ = SPARE.try_with(|s| {
        let mut s = s.borrow_mut();
        if s.len() < 8 {
            s.push(Box::new(v));
        }
    });
}

impl<F: Float> fmt::Debug for Tape<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tape<{}> {{ nodes: {} }}", F::NAME, self.len())
    }
}

/// A handle to a value recorded on a [`Tape`]: what forward code is written with.
///
/// `Var` is `Copy`; arithmetic operators and methods (`exp`, `matmul`, `sum`, ...) record a
/// new node and return its handle. Vars of two different tapes must not be mixed: doing so
/// panics, naming the op.
#[derive(Clone, Copy)]
pub struct Var<'t, F: Float> {
    pub(crate) tape: &'t Tape<F>,
    pub(crate) id: u32,
}

impl<F: Float> fmt::Debug for Var<'_, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Var#{} {:?}", self.id, self.value())
    }
}

impl<F: Float> Tape<F> {
    /// An empty tape.
    pub fn new() -> Self {
        let mut nodes = take_spare();
        nodes.reserve(64);
        Tape {
            nodes: RefCell::new(nodes),
            vars: RefCell::new(Vec::new()),
            recording: Cell::new(true),
            id: next_recording(),
            keep_non_finite: Cell::new(false),
            non_finite: RefCell::new(None),
        }
    }

    /// Number of recorded nodes.
    pub fn len(&self) -> usize {
        self.nodes.borrow().len()
    }

    /// Whether nothing is recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets every node, keeping the allocation for the next step. Needs `&mut`, so no
    /// `Var` of the old contents can outlive it.
    pub fn reset(&mut self) {
        self.nodes.get_mut().clear();
        self.vars.get_mut().clear();
        self.non_finite.get_mut().take();
        self.id = next_recording();
    }

    /// With NaN tracing on ([`crate::set_debug_nans`] or `BOREL_DEBUG_NANS=1`), keep the
    /// first non-finite report for [`Tape::take_non_finite`] instead of panicking.
    pub fn keep_first_non_finite(&self) {
        self.keep_non_finite.set(true);
    }

    /// The first op that made a NaN or an infinity since the last call (or reset), when
    /// tracing is on and [`Tape::keep_first_non_finite`] was asked for.
    pub fn take_non_finite(&self) -> Option<NonFiniteOp> {
        self.non_finite.borrow_mut().take()
    }

    /// Panics with `report`, or keeps it when asked to (the first one only).
    #[track_caller]
    pub(crate) fn report_non_finite(&self, report: NonFiniteOp) {
        if !self.keep_non_finite.get() {
            panic!("BOREL_DEBUG_NANS: {report}");
        }
        let mut kept = self.non_finite.borrow_mut();
        if kept.is_none() {
            *kept = Some(report);
        }
    }

    /// A leaf that gradients are computed for (a parameter or an input to differentiate).
    pub fn var(&self, value: Tensor<F>) -> Var<'_, F> {
        let v = self.leaf(value, true);
        self.vars.borrow_mut().push(v.id);
        v
    }

    /// A leaf that needs no gradient (data, targets, masks).
    pub fn constant(&self, value: Tensor<F>) -> Var<'_, F> {
        self.leaf(value, false)
    }

    /// A rank-0 constant.
    pub fn scalar(&self, v: F) -> Var<'_, F> {
        self.constant(Tensor::scalar(v))
    }

    fn leaf(&self, value: Tensor<F>, requires_grad: bool) -> Var<'_, F> {
        let id = self.push(Node {
            op: Op::Leaf,
            inputs: Inputs::new(),
            value,
            requires_grad,
            site: None,
        });
        Var { tape: self, id }
    }

    #[inline]
    fn push(&self, node: Node<F>) -> u32 {
        let mut nodes = self.nodes.borrow_mut();
        let id = u32::try_from(nodes.len()).expect("a tape holds at most 2^32 nodes");
        nodes.push(node);
        id
    }

    /// Whether ops are being recorded (false inside [`Tape::no_grad`]).
    pub fn is_recording(&self) -> bool {
        self.recording.get()
    }

    /// Runs `f` without recording: every value it computes is a constant, so nothing flows
    /// back through it. Restored on exit, also when `f` panics.
    ///
    /// ```
    /// use borel_autograd::{Tape, Tensor};
    /// let tape = Tape::<f64>::new();
    /// let x = tape.var(Tensor::scalar(3.0));
    /// let y = tape.no_grad(|| x * x);
    /// assert!(!y.requires_grad());
    /// ```
    pub fn no_grad<R>(&self, f: impl FnOnce() -> R) -> R {
        struct Restore<'a>(&'a Cell<bool>, bool);
        impl Drop for Restore<'_> {
            fn drop(&mut self) {
                self.0.set(self.1);
            }
        }
        let _restore = Restore(&self.recording, self.recording.replace(false));
        f()
    }

    /// Records `op` applied to the nodes `inputs`; computes its value now.
    #[track_caller]
    #[inline]
    pub(crate) fn apply(&self, op: Op<F>, inputs: &[u32]) -> u32 {
        let (value, requires_grad) = {
            let nodes = self.nodes.borrow();
            let value = if inputs.len() <= 3 {
                let mut values: [&Tensor<F>; 3] = [&nodes[0].value; 3];
                for (k, &i) in inputs.iter().enumerate() {
                    values[k] = &nodes[i as usize].value;
                }
                op.forward(&values[..inputs.len()])
            } else {
                let values: SmallVec<[&Tensor<F>; 3]> = inputs.iter().map(|&i| &nodes[i as usize].value).collect();
                op.forward(&values)
            };
            let rg = self.recording.get() && inputs.iter().any(|&i| nodes[i as usize].requires_grad);
            (value, rg)
        };
        // Not `.then(Location::caller)`: called through `then`, it would report `then`'s frame.
        let site = if debug_nans() { Some(Location::caller()) } else { None };
        if site.is_some() {
            self.check_forward(&op, inputs, &value, site);
        }
        let (op, inputs) = if requires_grad {
            (op, Inputs::from_slice(inputs))
        } else {
            (Op::Leaf, Inputs::new())
        };
        self.push(Node {
            op,
            inputs,
            value,
            requires_grad,
            site,
        })
    }

    /// NaN tracing, forward: a non-finite value computed from finite inputs is reported.
    #[cold]
    #[track_caller]
    fn check_forward(&self, op: &Op<F>, inputs: &[u32], value: &Tensor<F>, site: Option<&'static Location<'static>>) {
        let Some(kind) = non_finite_kind(value) else { return };
        let report = {
            let nodes = self.nodes.borrow();
            if inputs.iter().any(|&i| !nodes[i as usize].value.all_finite()) {
                return;
            }
            NonFiniteOp {
                op: op_name(op),
                pass: Pass::Forward,
                input_shapes: inputs
                    .iter()
                    .map(|&i| nodes[i as usize].value.shape().to_vec())
                    .collect(),
                value: kind,
                site,
            }
        };
        self.report_non_finite(report);
    }

    /// NaN tracing, backward: node `i`'s rule turned the finite gradient `g` into the
    /// non-finite gradient `gk` of one of its inputs.
    #[cold]
    pub(crate) fn check_backward(&self, i: usize, g: &Tensor<F>, gk: &Tensor<F>) {
        let Some(kind) = non_finite_kind(gk) else { return };
        if !g.all_finite() {
            return;
        }
        let report = {
            let nodes = self.nodes.borrow();
            let node = &nodes[i];
            NonFiniteOp {
                op: op_name(&node.op),
                pass: Pass::Backward,
                input_shapes: node
                    .inputs
                    .iter()
                    .map(|&j| nodes[j as usize].value.shape().to_vec())
                    .collect(),
                value: kind,
                site: node.site,
            }
        };
        self.report_non_finite(report);
    }

    pub(crate) fn value_of(&self, id: u32) -> Tensor<F> {
        self.nodes.borrow()[id as usize].value.clone()
    }

    #[track_caller]
    pub(crate) fn check_same(&self, op: &str, other: &Tape<F>) {
        if !std::ptr::eq(self, other) {
            panic!("{op}: operands belong to different tapes");
        }
    }

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
            "{op}: output has shape {:?}; pass a seed gradient of that shape (backward_with / grad_with) for non-scalar outputs",
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
    /// The tape this var lives on.
    pub fn tape(&self) -> &'t Tape<F> {
        self.tape
    }

    /// The value (a cheap clone of the shared storage).
    pub fn value(&self) -> Tensor<F> {
        self.tape.value_of(self.id)
    }

    /// The value's shape.
    pub fn shape(&self) -> Shape {
        self.tape.nodes.borrow()[self.id as usize].value.dims()
    }

    /// The single value of a one-element var.
    #[track_caller]
    pub fn item(&self) -> F {
        self.tape.nodes.borrow()[self.id as usize].value.item()
    }

    /// Whether gradients flow back through this value.
    pub fn requires_grad(&self) -> bool {
        self.tape.nodes.borrow()[self.id as usize].requires_grad
    }

    /// The same value as a constant: nothing flows back through the result.
    pub fn detach(self) -> Var<'t, F> {
        self.tape.constant(self.value())
    }

    #[track_caller]
    #[inline]
    pub(crate) fn unary(self, op: impl Into<Op<F>>) -> Var<'t, F> {
        Var {
            tape: self.tape,
            id: self.tape.apply(op.into(), &[self.id]),
        }
    }

    #[track_caller]
    #[inline]
    pub(crate) fn binary(self, op: impl Into<Op<F>>, name: &str, other: Var<'t, F>) -> Var<'t, F> {
        self.tape.check_same(name, other.tape);
        Var {
            tape: self.tape,
            id: self.tape.apply(op.into(), &[self.id, other.id]),
        }
    }

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
                    Some(g.unwrap_or_else(|| Tensor::zeros(nodes[id as usize].value.shape())))
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

/// The gradients of one backward pass, indexed by the var they belong to.
///
/// A var leaf the output does not reach through recorded ops (unused, or used only under
/// [`Tape::no_grad`] or through [`Var::detach`]) has no gradient for [`GradStore::get`] and
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
pub struct GradStore<F> {
    /// The var leaves' ids, ascending, and their gradients (`None` once taken; zeros for the
    /// leaves the sweep did not reach).
    ids: Vec<u32>,
    grads: Vec<Option<Tensor<F>>>,
    /// Whether the sweep reached each leaf (PyTorch's `grad` is not `None`).
    reached: Vec<bool>,
    /// The id of the tape's recording these gradients are of.
    recording: u64,
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
    /// with [`Tape::grad`]). Panics for a var of another tape, or of a later recording of
    /// this one (after [`Tape::reset`]).
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
    tape: &'a Tape<F>,
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
fn sweep<E: Engine<F>, F: Float>(e: &E, tape: &Tape<F>, root: u32, seed: E::V, keep: &[u32]) -> Vec<Option<E::V>> {
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
