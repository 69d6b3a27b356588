//! The tape: define-by-run recording of nodes, and the [`Var`] handles forward code is
//! written with. The reverse passes, the gradient store, the backward engines, NaN tracing
//! and the vector pool live in this folder's other files.

mod backward;
mod capture;
mod engine;
mod forward;
mod grads;
mod nodes;
mod non_finite;
mod pool;

use std::cell::{Cell, RefCell};
use std::fmt;
use std::panic::Location;
use std::sync::atomic::{AtomicU64, Ordering};

use smallvec::SmallVec;

pub use self::capture::{CaptureError, Plan};
pub(crate) use self::engine::Engine;
pub use self::grads::GradStore;
use self::nodes::Nodes;
use crate::anomaly::{NonFiniteOp, debug_nans};
use crate::float::Float;
use crate::ops::Op;
use crate::shape::Shape;
use crate::tensor::Tensor;

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
pub struct Tape<F: Float = f32> {
    pub(crate) nodes: RefCell<Nodes<F>>,
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
    /// While a [`Plan`] records: ops that need no gradient keep their inputs (so replay
    /// recomputes them from new data), and the first thing that would freeze a value computed
    /// from the data into a constant is noted here, and the capture refused.
    capturing: Cell<bool>,
    taint: RefCell<Option<String>>,
}

impl<F: Float> Default for Tape<F> {
    fn default() -> Self {
        Self::new()
    }
}

impl<F: Float> Drop for Tape<F> {
    fn drop(&mut self) {
        self.nodes.get_mut().give_back();
    }
}

/// Why a step that reads a value while it is captured is refused.
const READS_A_VALUE: &str = "the step reads a value (Var::value, item, detach, a comparison's mask, logsumexp's shift, ...): \
     a constant computed from it would be frozen at the captured batch's data";

/// The next recording id (a tape's `id`): 2^64 recordings never wrap.
static NEXT_RECORDING: AtomicU64 = AtomicU64::new(1);

fn next_recording() -> u64 {
    NEXT_RECORDING.fetch_add(1, Ordering::Relaxed)
}

impl<F: Float> fmt::Debug for Tape<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tape<{}> {{ nodes: {} }}", F::NAME, self.len())
    }
}

/// A handle to a value recorded on a [`Tape`]: what forward code is written with.
///
/// `Var` is `Copy`; arithmetic operators and methods (`exp`, `matmul`, `sum`, ...) record a
/// new node and return its handle. The float type defaults to `f32`: `Var<'t>` is
/// `Var<'t, f32>` (and `Tensor` is `Tensor<f32>`, `Tape` is `Tape<f32>`). Vars of two different tapes must not be mixed: doing so
/// panics, naming the op.
#[derive(Clone, Copy)]
pub struct Var<'t, F: Float = f32> {
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
        Tape {
            nodes: RefCell::new(Nodes::new()),
            vars: RefCell::new(Vec::new()),
            recording: Cell::new(true),
            id: next_recording(),
            keep_non_finite: Cell::new(false),
            non_finite: RefCell::new(None),
            capturing: Cell::new(false),
            taint: RefCell::new(None),
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

    /// A leaf that gradients flow to but that [`Var::backward`] does not list (the output
    /// gradient of a custom op's double-vjp tangent).
    pub(crate) fn var_unlisted(&self, value: Tensor<F>) -> Var<'_, F> {
        self.leaf(value, true)
    }

    fn leaf(&self, value: Tensor<F>, requires_grad: bool) -> Var<'_, F> {
        let id = self.nodes.borrow_mut().push(Op::Leaf, &[], value, requires_grad, None);
        Var { tape: self, id }
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

    /// Turns recording off (`false`) or back on, until changed again: PyTorch's
    /// `torch.set_grad_enabled`, for code where [`Tape::no_grad`]'s closure is in the way.
    ///
    /// ```
    /// use borel_autograd::{Tape, Tensor};
    /// let tape = Tape::<f64>::new();
    /// let x = tape.var(Tensor::scalar(3.0));
    /// tape.set_grad_enabled(false);
    /// assert!(!(x * x).requires_grad());
    /// tape.set_grad_enabled(true);
    /// assert!((x * x).requires_grad());
    /// ```
    pub fn set_grad_enabled(&self, on: bool) {
        self.recording.set(on);
    }

    /// Records `op` applied to the nodes `inputs`; computes its value now.
    #[track_caller]
    #[inline]
    pub(crate) fn apply(&self, op: Op<F>, inputs: &[u32]) -> u32 {
        let (value, requires_grad) = {
            let nodes = self.nodes.borrow();
            let value = if inputs.len() <= 3 {
                let mut values: [&Tensor<F>; 3] = [nodes.value(0); 3];
                for (k, &i) in inputs.iter().enumerate() {
                    values[k] = nodes.value(i as usize);
                }
                op.forward(&values[..inputs.len()])
            } else {
                let values: SmallVec<[&Tensor<F>; 3]> = inputs.iter().map(|&i| nodes.value(i as usize)).collect();
                op.forward(&values)
            };
            let rg = self.recording.get() && inputs.iter().any(|&i| nodes.requires_grad(i as usize));
            (value, rg)
        };
        // Not `.then(Location::caller)`: called through `then`, it would report `then`'s frame.
        let site = if debug_nans() { Some(Location::caller()) } else { None };
        if site.is_some() {
            self.check_forward(&op, inputs, &value, site);
        }
        let (op, inputs) = if requires_grad || self.capturing.get() {
            (op, inputs)
        } else {
            (Op::Leaf, &[][..])
        };
        self.nodes.borrow_mut().push(op, inputs, value, requires_grad, site)
    }

    pub(crate) fn value_of(&self, id: u32) -> Tensor<F> {
        self.refuse_capture(READS_A_VALUE);
        self.nodes.borrow().value(id as usize).clone()
    }

    /// While capturing: notes why the recording cannot be replayed (the first reason wins).
    #[inline]
    pub(crate) fn refuse_capture(&self, why: &str) {
        if self.capturing.get() {
            self.taint.borrow_mut().get_or_insert_with(|| why.to_string());
        }
    }

    #[track_caller]
    pub(crate) fn check_same(&self, op: &str, other: &Tape<F>) {
        if !std::ptr::eq(self, other) {
            panic!("{op}: operands belong to different tapes");
        }
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
        self.tape.nodes.borrow().value(self.id as usize).dims()
    }

    /// The single value of a one-element var.
    #[track_caller]
    pub fn item(&self) -> F {
        self.tape.refuse_capture(READS_A_VALUE);
        self.tape.nodes.borrow().value(self.id as usize).item()
    }

    /// Whether gradients flow back through this value.
    pub fn requires_grad(&self) -> bool {
        self.tape.nodes.borrow().requires_grad(self.id as usize)
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
}
