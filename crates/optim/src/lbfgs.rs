//! L-BFGS, as `torch.optim.LBFGS`: full-batch, driven by a closure that recomputes the loss
//! and gradients.

mod flat;
mod memory;
mod wolfe;

use borel_autograd::{Float, ParamGrads, ParamStore, Tensor};

use crate::{Hyper, State, StateError, checked, checked_count};
use flat::{add_scaled, dot, max_abs, sum_abs};
use memory::{Memory, layout_of};
use wolfe::{Point, strong_wolfe};

/// How [`Lbfgs`] chooses the length of a step along its direction (PyTorch's
/// `line_search_fn`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LineSearch {
    /// No line search (`line_search_fn=None`): a step of `lr` (the very first one
    /// `lr * min(1, 1 / sum |g|)`), then one evaluation for the next iteration.
    #[default]
    None,
    /// A line search that finds a step satisfying the strong Wolfe conditions
    /// (`line_search_fn="strong_wolfe"`: sufficient decrease 1e-4, curvature 0.9), first
    /// trying `lr`, by bracketing and cubic interpolation; it shares the step's budget of
    /// evaluations (`max_eval`).
    StrongWolfe,
}

/// L-BFGS, PyTorch's `torch.optim.LBFGS` step for step: a quasi-Newton method that keeps the
/// last `history_size` pairs of steps and gradient changes and turns the gradient into a
/// direction with them (the two-loop recursion).
///
/// One [`Lbfgs::step`] runs up to `max_iter` iterations with at most `max_eval` evaluations
/// of the closure, which recomputes the loss and the gradients of the store's parameters.
/// Defaults are PyTorch 2's: lr 1, max_iter 20, max_eval `max_iter * 5 / 4`, tolerance_grad
/// 1e-7, tolerance_change 1e-9, history_size 100, no line search
/// ([`LineSearch::StrongWolfe`] is the usual choice for a deterministic loss).
///
/// Every trainable parameter of the store takes part, flattened in store order into one
/// vector (PyTorch's `_gather_flat_grad`); a parameter the loss does not reach has no
/// gradient and counts as a zero gradient, as in PyTorch. Frozen parameters are left out.
///
/// Settings are checked where they are set: the learning rate and tolerances finite and
/// >= 0, the counts >= 1 (PyTorch accepts 0 and then does nothing, or fails in the step).
///
/// ```
/// use borel_autograd::{ParamStore, Tape, Tensor};
/// use borel_optim::{Lbfgs, LineSearch};
/// // Rosenbrock's function (1 - x)^2 + 100 (y - x^2)^2, minimum at (1, 1)
/// let mut store = ParamStore::new();
/// let xy = store.add("xy", Tensor::from_vec(vec![-1.5f64, 2.0], &[2]), true);
/// let mut opt = Lbfgs::new(1.0).line_search(LineSearch::StrongWolfe);
/// for _ in 0..5 {
///     opt.step(&mut store, |store| {
///         let tape = Tape::new();
///         let p = store.vars(&tape);
///         let (x, y) = (p[xy].slice(0, 0, 1), p[xy].slice(0, 1, 2));
///         let loss = ((1.0 - x).square() + (y - x.square()).square() * 100.0).sum();
///         (loss.item(), p.backward(loss))
///     });
/// }
/// assert!(store.get(xy).max_abs_diff(&Tensor::ones(&[2])) < 1e-5);
/// ```
#[derive(Clone, Debug)]
pub struct Lbfgs<F: Float> {
    lr: f64,
    max_iter: usize,
    /// `None`: PyTorch's default, `max_iter * 5 / 4`.
    max_eval: Option<usize>,
    tolerance_grad: f64,
    tolerance_change: f64,
    history_size: usize,
    line_search: LineSearch,
    memory: Memory<F>,
}

impl<F: Float> Default for Lbfgs<F> {
    fn default() -> Self {
        Self::pytorch()
    }
}

impl<F: Float> Lbfgs<F> {
    /// PyTorch's L-BFGS with learning rate `lr` and its other defaults; panics unless `lr`
    /// is finite and >= 0.
    #[track_caller]
    pub fn new(lr: f64) -> Self {
        Lbfgs {
            lr: checked("Lbfgs", "new", Hyper::LearningRate, lr),
            max_iter: 20,
            max_eval: None,
            tolerance_grad: 1e-7,
            tolerance_change: 1e-9,
            history_size: 100,
            line_search: LineSearch::None,
            memory: Memory::default(),
        }
    }
    /// PyTorch 2's `torch.optim.LBFGS()` defaults: lr 1, max_iter 20, max_eval 25,
    /// tolerance_grad 1e-7, tolerance_change 1e-9, history_size 100, no line search.
    pub fn pytorch() -> Self {
        Self::new(1.0)
    }
    /// The learning rate: the step length tried first; panics unless it is finite and >= 0.
    #[track_caller]
    pub fn lr(mut self, lr: f64) -> Self {
        self.lr = checked("Lbfgs", "lr", Hyper::LearningRate, lr);
        self
    }
    /// The most iterations in one step; panics unless it is >= 1.
    #[track_caller]
    pub fn max_iter(mut self, n: usize) -> Self {
        self.max_iter = checked_count("Lbfgs", "max_iter", Hyper::MaxIter, n);
        self
    }
    /// The most evaluations of the closure in one step (default `max_iter * 5 / 4`);
    /// panics unless it is >= 1.
    #[track_caller]
    pub fn max_eval(mut self, n: usize) -> Self {
        self.max_eval = Some(checked_count("Lbfgs", "max_eval", Hyper::MaxEval, n));
        self
    }
    /// A step ends when no element of the gradient is larger in magnitude; panics unless it
    /// is finite and >= 0.
    #[track_caller]
    pub fn tolerance_grad(mut self, tol: f64) -> Self {
        self.tolerance_grad = checked("Lbfgs", "tolerance_grad", Hyper::ToleranceGrad, tol);
        self
    }
    /// A step ends when the loss, or every parameter, changes by less in an iteration;
    /// panics unless it is finite and >= 0.
    #[track_caller]
    pub fn tolerance_change(mut self, tol: f64) -> Self {
        self.tolerance_change = checked("Lbfgs", "tolerance_change", Hyper::ToleranceChange, tol);
        self
    }
    /// The number of curvature pairs kept; each costs two copies of the parameters. Panics
    /// unless it is >= 1.
    #[track_caller]
    pub fn history_size(mut self, n: usize) -> Self {
        self.history_size = checked_count("Lbfgs", "history_size", Hyper::HistorySize, n);
        self
    }
    /// The line search.
    pub fn line_search(mut self, search: LineSearch) -> Self {
        self.line_search = search;
        self
    }

    /// The learning rate.
    pub fn learning_rate(&self) -> f64 {
        self.lr
    }
    /// Changes the learning rate; panics unless it is finite and >= 0.
    #[track_caller]
    pub fn set_learning_rate(&mut self, lr: f64) {
        self.lr = checked("Lbfgs", "set_learning_rate", Hyper::LearningRate, lr);
    }
    /// Iterations so far, over every step (PyTorch's `state["n_iter"]`).
    pub fn n_iter(&self) -> u64 {
        self.memory.n_iter
    }
    /// Evaluations of the closure so far, over every step (PyTorch's `state["func_evals"]`).
    pub fn func_evals(&self) -> u64 {
        self.memory.func_evals
    }

    /// The memory as optimizer state, to save with [`State::save`].
    ///
    /// `step` counts evaluations (PyTorch's `func_evals`) and [`State::param_step`] the
    /// iterations (`n_iter`, the same for every parameter). Each trainable parameter keeps
    /// its slice of the flat vectors, each of its shape: buffer 0 is the last step `t d`
    /// (PyTorch's `d` times `t`: all the next iteration reads of them), buffer 1 the
    /// previous gradient, then `s` and `y` of every curvature pair, oldest first. `ro` and
    /// `H_diag` follow from the pairs; `prev_loss` is not needed (a step sets it before it
    /// reads it). The buffers are per parameter rather than flat in the first parameter (as
    /// in PyTorch's `state_dict`) so that the file names them after the parameters and is
    /// checked against their shapes like every other optimizer's.
    ///
    /// ```
    /// use borel_autograd::{ParamGrads, ParamStore, Tensor};
    /// use borel_optim::{Lbfgs, State};
    /// let mut store = ParamStore::new();
    /// let w = store.add("w", Tensor::from_vec(vec![3.0f64, -1.0], &[2]), true);
    /// let quadratic = |store: &ParamStore<f64>| {
    ///     let v = store.get(w);
    ///     let mut grads = ParamGrads::new(store);
    ///     grads.insert(w, v * 2.0);
    ///     (v.data().iter().map(|x| x * x).sum(), grads)
    /// };
    /// let mut opt = Lbfgs::new(0.1).max_iter(3);
    /// opt.step(&mut store, quadratic);
    /// let path = std::env::temp_dir().join("borel_doc_lbfgs.safetensors");
    /// opt.state().save(&path, &store).unwrap();
    /// let mut resumed = Lbfgs::new(0.1).max_iter(3);
    /// resumed.set_state(State::load(&path, &store).unwrap(), &store).unwrap();
    /// assert_eq!(resumed.state(), opt.state());
    /// // max_eval (3 * 5 / 4 = 3) ended the step after two iterations
    /// assert_eq!((resumed.n_iter(), resumed.func_evals()), (2, 3));
    /// ```
    pub fn state(&self) -> State<F> {
        self.memory.to_state()
    }

    /// Replaces the memory with `state` (as [`Lbfgs::state`] made it, or [`State::load`]
    /// read it) for the trainable parameters of `store`, once it is checked to be L-BFGS
    /// state for them: buffers for all of them or none, as many for each, at most
    /// `history_size` pairs, finite, and pairs of positive curvature. On an error nothing
    /// changes.
    pub fn set_state(&mut self, state: State<F>, store: &ParamStore<F>) -> Result<(), StateError> {
        self.memory = Memory::from_state(&state, store, self.history_size)?;
        Ok(())
    }

    /// Forgets the memory and the counts.
    pub fn reset(&mut self) {
        self.memory = Memory::default();
    }
}

/// The parameters and the closure: what L-BFGS evaluates and moves.
struct Problem<'a, F: Float, C> {
    store: &'a mut ParamStore<F>,
    closure: C,
}

impl<F: Float, C: FnMut(&ParamStore<F>) -> (F, ParamGrads<F>)> Problem<'_, F, C> {
    /// The closure's loss and its gradients as one flat vector (zeros for a parameter
    /// without a gradient).
    #[track_caller]
    fn evaluate(&mut self) -> (F, Vec<F>) {
        let (loss, grads) = (self.closure)(self.store);
        if !grads.is_for(self.store) {
            panic!(
                "Lbfgs::step: the closure returned gradients of another ParamStore than the one being \
                 optimized (compute them from the store it is given)"
            );
        }
        self.store.apply_buffers(&grads);
        let mut flat = Vec::with_capacity(self.store.num_trainable());
        for id in self.store.ids().filter(|&id| self.store.is_trainable(id)) {
            let shape = self.store.get(id).shape();
            match grads.get(id) {
                Some(g) if g.shape() == shape => flat.extend_from_slice(g.data()),
                Some(g) => panic!(
                    "Lbfgs::step: gradient of shape {:?} for parameter '{}' of shape {shape:?}",
                    g.shape(),
                    self.store.name(id)
                ),
                None => flat.resize(flat.len() + self.store.get(id).numel(), F::ZERO),
            }
        }
        (loss, flat)
    }

    /// `p += t d` for the trainable parameters (`_add_grad`).
    fn add(&mut self, t: f64, d: &[F]) {
        let t = F::from_f64(t);
        let mut offset = 0;
        for (_, value) in self.store.trainable_mut() {
            let n = value.numel();
            add_scaled(value.data_mut(), t, &d[offset..offset + n]);
            offset += n;
        }
    }

    /// The loss (as `f64`) and flat gradient at `x + t d`; leaves the parameters at `x`.
    fn at(&mut self, x: &[Tensor<F>], t: f64, d: &[F]) -> (f64, Vec<F>) {
        self.add(t, d);
        let (loss, grad) = self.evaluate();
        self.store.restore(x);
        (loss.to_f64(), grad)
    }
}

/// Where an iteration stands: the loss and flat gradient at the current parameters.
struct Here<F> {
    loss: f64,
    grad: Vec<F>,
}

impl<F: Float> Lbfgs<F> {
    /// One step: up to `max_iter` iterations of L-BFGS on the trainable parameters of
    /// `store`, calling `closure(store)` for the loss and the gradients wherever they are
    /// needed (PyTorch's `optimizer.step(closure)`). Returns the loss at the start.
    ///
    /// The step stops early, as PyTorch's does, when every gradient element is within
    /// `tolerance_grad` of 0 (before any iteration, too), when the loss or the parameters
    /// change by less than `tolerance_change`, when the direction does not descend, or when
    /// `max_eval` evaluations are spent.
    ///
    /// Panics at the caller's line when the closure returns gradients of another store, or
    /// when the store's trainable parameters are not those of the previous steps (call
    /// [`Lbfgs::reset`] to start over with others).
    ///
    /// ```
    /// use borel_autograd::{ParamStore, Tape, Tensor};
    /// use borel_optim::Lbfgs;
    /// let mut store = ParamStore::new();
    /// let w = store.add("w", Tensor::from_vec(vec![1.0f64, -2.0], &[2]), true);
    /// let mut opt = Lbfgs::new(1.0);
    /// let first = opt.step(&mut store, |store| {
    ///     let tape = Tape::new();
    ///     let p = store.vars(&tape);
    ///     let loss = (p[w] - 0.5).square().sum();
    ///     (loss.item(), p.backward(loss))
    /// });
    /// assert_eq!(first, 0.25 + 6.25);
    /// assert!(store.get(w).max_abs_diff(&Tensor::full(&[2], 0.5)) < 1e-7);
    /// ```
    #[track_caller]
    pub fn step<C>(&mut self, store: &mut ParamStore<F>, closure: C) -> F
    where
        C: FnMut(&ParamStore<F>) -> (F, ParamGrads<F>),
    {
        self.check_layout(store);
        let mut problem = Problem { store, closure };
        let (orig_loss, grad) = problem.evaluate();
        if self.memory.layout.is_empty() {
            return orig_loss; // nothing to optimize: PyTorch returns the closure's loss
        }
        self.memory.func_evals = self.memory.func_evals.saturating_add(1);
        if max_abs(&grad).to_f64() <= self.tolerance_grad {
            return orig_loss;
        }
        let mut here = Here {
            loss: orig_loss.to_f64(),
            grad,
        };
        let max_eval = self.max_eval.unwrap_or(self.max_iter.saturating_mul(5) / 4);
        let mut evals = 1;
        for n_iter in 1..=self.max_iter {
            let prev_loss = here.loss;
            let Some(gtd) = self.direction(&here.grad) else { break };
            let budget = max_eval.saturating_sub(evals);
            evals += self.advance(&mut problem, &mut here, gtd, n_iter == self.max_iter, budget);
            if n_iter == self.max_iter
                || evals >= max_eval
                || max_abs(&here.grad).to_f64() <= self.tolerance_grad
                || self.moved_too_little()
                || (here.loss - prev_loss).abs() < self.tolerance_change
            {
                break;
            }
        }
        orig_loss
    }

    /// Whether the last step moved no parameter by more than `tolerance_change`
    /// (`d.mul(t).abs().max()`, computed element by element as PyTorch does).
    fn moved_too_little(&self) -> bool {
        let t = F::from_f64(self.memory.t);
        let largest = self.memory.d.iter().fold(F::ZERO, |m, &d| {
            let x = (d * t).abs();
            if x > m || x.is_nan() { x } else { m }
        });
        largest.to_f64() <= self.tolerance_change
    }

    /// Starts an iteration at gradient `grad`: the new direction `d`, the first step length
    /// `t`, and the slope `grad . d`; `None` when the direction does not descend (by more
    /// than `tolerance_change`), which ends the step.
    fn direction(&mut self, grad: &[F]) -> Option<f64> {
        let memory = &mut self.memory;
        memory.n_iter = memory.n_iter.saturating_add(1);
        let first = memory.n_iter == 1;
        if first {
            memory.start(grad);
        } else {
            memory.advance(grad, self.history_size);
        }
        memory.prev_grad.clear();
        memory.prev_grad.extend_from_slice(grad);
        memory.t = if first {
            let inverse = (F::ONE / sum_abs(grad)).to_f64();
            (if inverse < 1.0 { inverse } else { 1.0 }) * self.lr
        } else {
            self.lr
        };
        let gtd = dot(grad, &memory.d).to_f64();
        // PyTorch's test, so that a NaN slope goes on as there
        if gtd > -self.tolerance_change { None } else { Some(gtd) }
    }

    /// Moves the parameters along `d` (by the line search, or by `t`), updating `here`;
    /// returns the evaluations it made. Without a line search the last iteration of a step
    /// (`last`) does not evaluate the new point, as in PyTorch.
    fn advance<C>(
        &mut self,
        problem: &mut Problem<'_, F, C>,
        here: &mut Here<F>,
        gtd: f64,
        last: bool,
        budget: usize,
    ) -> usize
    where
        C: FnMut(&ParamStore<F>) -> (F, ParamGrads<F>),
    {
        let d = &self.memory.d;
        let evals = match self.line_search {
            LineSearch::StrongWolfe => {
                let x = problem.store.snapshot();
                let start = Point {
                    t: 0.0,
                    f: here.loss,
                    g: std::mem::take(&mut here.grad),
                    gtd,
                };
                let (found, evals) = strong_wolfe(|t| problem.at(&x, t, d), d, &start, self.memory.t, budget);
                problem.add(found.t, d);
                (self.memory.t, here.loss, here.grad) = (found.t, found.f, found.g);
                evals
            }
            LineSearch::None => {
                problem.add(self.memory.t, d);
                if last {
                    return 0;
                }
                let (loss, grad) = problem.evaluate();
                (here.loss, here.grad) = (loss.to_f64(), grad);
                1
            }
        };
        self.memory.func_evals = self.memory.func_evals.saturating_add(evals as u64);
        evals
    }

    /// Takes the trainable parameters of `store` as those the memory is for, or panics
    /// when the memory is for others.
    #[track_caller]
    fn check_layout(&mut self, store: &ParamStore<F>) {
        let layout = layout_of(store);
        if self.memory.n_iter == 0 {
            self.memory.layout = layout;
        } else if layout != self.memory.layout {
            panic!(
                "Lbfgs::step: the trainable parameters are not those of the previous steps ({} tensors \
                 now, {} then); call reset() to start over with these",
                layout.len(),
                self.memory.layout.len()
            );
        }
    }
}
