//! What L-BFGS keeps from one step to the next (PyTorch's state of its first parameter), as
//! flat vectors, and its form in [`State`]: buffers per parameter, each parameter's slice of
//! the flat vectors.

use std::collections::VecDeque;

use borel_autograd::{Float, ParamId, ParamStore, Tensor};

use super::flat::{add_scaled, dot};
use crate::{State, StateError};

/// A curvature pair: the step `s`, the change of gradient `y` along it, and `1 / (y . s)`
/// (PyTorch's `old_stps`, `old_dirs` and `ro`).
#[derive(Clone, Debug)]
pub(super) struct Pair<F> {
    pub s: Vec<F>,
    pub y: Vec<F>,
    pub ro: F,
}

/// The memory: the search direction `d` and step length `t` of the last iteration, the
/// gradient it started from, and up to `history_size` curvature pairs, oldest first.
#[derive(Clone, Debug)]
pub(super) struct Memory<F: Float> {
    /// The trainable parameters the flat vectors run over, in store order, with their
    /// shapes; empty until the first step or a restored state.
    pub layout: Vec<(ParamId, Vec<usize>)>,
    pub n_iter: u64,
    pub func_evals: u64,
    pub d: Vec<F>,
    pub t: f64,
    pub prev_grad: Vec<F>,
    pub history: VecDeque<Pair<F>>,
    /// The scale of the initial inverse Hessian: `y . s / y . y` of the newest pair, or 1.
    pub h_diag: F,
}

impl<F: Float> Default for Memory<F> {
    fn default() -> Self {
        Memory {
            layout: Vec::new(),
            n_iter: 0,
            func_evals: 0,
            d: Vec::new(),
            t: 0.0,
            prev_grad: Vec::new(),
            history: VecDeque::new(),
            h_diag: F::ONE,
        }
    }
}

/// `(id, shape)` of every trainable parameter of `store`, in store order: what the flat
/// vectors run over.
pub(super) fn layout_of<F: Float>(store: &ParamStore<F>) -> Vec<(ParamId, Vec<usize>)> {
    store
        .ids()
        .filter(|&id| store.is_trainable(id))
        .map(|id| (id, store.get(id).shape().to_vec()))
        .collect()
}

/// Pairs with `y . s` at or below this are skipped (PyTorch's threshold).
const CURVATURE_MIN: f64 = 1e-10;

impl<F: Float> Memory<F> {
    /// The direction of the first iteration: steepest descent, with no history.
    pub fn start(&mut self, grad: &[F]) {
        self.d = grad.iter().map(|&g| -g).collect();
        self.history.clear();
        self.h_diag = F::ONE;
    }

    /// The direction of a later iteration: keeps the pair of the last step (if its
    /// curvature is positive), then `d = -H grad` by the two-loop recursion.
    pub fn advance(&mut self, grad: &[F], history_size: usize) {
        let y: Vec<F> = grad.iter().zip(&self.prev_grad).map(|(&g, &p)| g - p).collect();
        let t = F::from_f64(self.t);
        let s: Vec<F> = self.d.iter().map(|&d| d * t).collect();
        let ys = dot(&y, &s);
        if ys.to_f64() > CURVATURE_MIN {
            if self.history.len() == history_size {
                self.history.pop_front();
            }
            self.h_diag = ys / dot(&y, &y);
            self.history.push_back(Pair { s, y, ro: F::ONE / ys });
        }
        let mut alphas = vec![F::ZERO; self.history.len()];
        let mut q: Vec<F> = grad.iter().map(|&g| -g).collect();
        for (pair, alpha) in self.history.iter().zip(&mut alphas).rev() {
            *alpha = dot(&pair.s, &q) * pair.ro;
            add_scaled(&mut q, -*alpha, &pair.y);
        }
        q.iter_mut().for_each(|q| *q *= self.h_diag);
        for (pair, &alpha) in self.history.iter().zip(&alphas) {
            let beta = dot(&pair.y, &q) * pair.ro;
            add_scaled(&mut q, alpha - beta, &pair.s);
        }
        self.d = q;
    }

    /// The memory as optimizer state: `step` counts evaluations (`func_evals`), each
    /// parameter's own count the iterations (`n_iter`), and each parameter keeps its slice
    /// of `t d`, of the previous gradient, and of every pair's `s` and `y`, oldest first.
    pub fn to_state(&self) -> State<F> {
        let mut state = State::default();
        state.set_step(self.func_evals);
        if self.n_iter == 0 {
            return state;
        }
        let t = F::from_f64(self.t);
        let step: Vec<F> = self.d.iter().map(|&d| d * t).collect();
        let mut flats = vec![&step, &self.prev_grad];
        flats.extend(self.history.iter().flat_map(|p| [&p.s, &p.y]));
        let mut offset = 0;
        for (id, shape) in &self.layout {
            let n: usize = shape.iter().product();
            let buffers = state.buffers(*id, flats.len(), shape, F::ZERO);
            for (buffer, flat) in buffers.iter_mut().zip(&flats) {
                buffer.data_mut().copy_from_slice(&flat[offset..offset + n]);
            }
            state.set_param_step(*id, self.n_iter);
            offset += n;
        }
        state
    }

    /// The memory in `state` (as [`Memory::to_state`] writes it) for the trainable
    /// parameters of `store`, checked: buffers for every trainable parameter or for none, as
    /// many pairs as `history_size` allows, finite values, and pairs of positive curvature.
    pub fn from_state(state: &State<F>, store: &ParamStore<F>, history_size: usize) -> Result<Self, StateError> {
        let mismatch = |message: String| Err(StateError::Mismatch { message });
        let layout = layout_of(store);
        if let Some(id) = store
            .ids()
            .find(|&id| !store.is_trainable(id) && state.get(id).is_some())
        {
            return mismatch(format!("'{}' has L-BFGS buffers but is frozen", store.name(id)));
        }
        let with = layout.iter().filter(|(id, _)| state.get(*id).is_some()).count();
        let mut memory = Memory {
            layout,
            func_evals: state.step(),
            ..Memory::default()
        };
        if with == 0 {
            return Ok(memory);
        }
        if let Some((id, _)) = memory.layout.iter().find(|(id, _)| state.get(*id).is_none()) {
            return mismatch(format!(
                "'{}' has no L-BFGS buffers (L-BFGS keeps them for every trainable parameter)",
                store.name(*id)
            ));
        }
        let count = state.get(memory.layout[0].0).map_or(0, <[Tensor<F>]>::len);
        let pairs = count.saturating_sub(2) / 2;
        if count < 2 || count % 2 != 0 || pairs > history_size {
            return mismatch(format!(
                "{count} buffers per parameter; L-BFGS keeps 2 and 2 per curvature pair, with history_size \
                 {history_size} at most {} buffers",
                2 + 2 * history_size
            ));
        }
        state.check_fits("Lbfgs", count, |v| v.iter().all(|x| x.is_finite()))?;
        memory.fill(state, count)?;
        Ok(memory)
    }

    /// Gathers the flat vectors of `state` (`count` buffers per parameter) and the counts.
    fn fill(&mut self, state: &State<F>, count: usize) -> Result<(), StateError> {
        let mismatch = |message: String| Err(StateError::Mismatch { message });
        let mut flats = vec![Vec::new(); count];
        let n_iter = state.param_step(self.layout[0].0);
        for (index, (id, shape)) in self.layout.iter().enumerate() {
            let buffers = state.get(*id).expect("checked: every parameter has buffers");
            if buffers.iter().any(|b| b.shape() != shape.as_slice()) {
                return mismatch(format!("parameter #{index}'s buffers are not of its shape {shape:?}"));
            }
            if state.param_step(*id) != n_iter {
                return mismatch("the parameters' iteration counts differ".into());
            }
            for (flat, buffer) in flats.iter_mut().zip(buffers) {
                flat.extend_from_slice(buffer.data());
            }
        }
        if n_iter == 0 || n_iter > state.step() {
            return mismatch(format!("{n_iter} iterations for {} evaluations", state.step()));
        }
        let mut flats = flats.into_iter();
        // `t d` is kept as `d` with `t = 1`: the next iteration's `s` is the same product
        (self.n_iter, self.t) = (n_iter, 1.0);
        self.d = flats.next().expect("count >= 2");
        self.prev_grad = flats.next().expect("count >= 2");
        while let (Some(s), Some(y)) = (flats.next(), flats.next()) {
            let ys = dot(&y, &s);
            if ys.is_nan() || ys.to_f64() <= CURVATURE_MIN {
                return mismatch(format!(
                    "a pair has y . s = {ys}, L-BFGS keeps pairs above {CURVATURE_MIN}"
                ));
            }
            self.h_diag = ys / dot(&y, &y);
            self.history.push_back(Pair { s, y, ro: F::ONE / ys });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A memory over two parameters (one frozen in between) after four iterations on the
    /// quadratic `sum a_i x_i^2 / 2` with a history of `history_size`.
    fn memory(history_size: usize) -> (Memory<f64>, ParamStore<f64>) {
        let mut store = ParamStore::new();
        store.add("a", Tensor::zeros(&[2]), true);
        store.add("frozen", Tensor::zeros(&[1]), false);
        store.add("b", Tensor::zeros(&[1, 2]), true);
        let scale = [1.0, 3.0, 0.5, 7.0];
        let grad = |x: &[f64]| -> Vec<f64> { x.iter().zip(scale).map(|(x, a)| a * x).collect() };
        let mut x = vec![1.0, -2.0, 0.5, 0.25];
        let mut m = Memory {
            layout: layout_of(&store),
            ..Memory::default()
        };
        for k in 0..4 {
            let g = grad(&x);
            if k == 0 {
                m.start(&g)
            } else {
                m.advance(&g, history_size)
            }
            m.prev_grad = g;
            m.t = 0.3 + 0.1 * k as f64;
            add_scaled(&mut x, m.t, &m.d);
            m.n_iter += 1;
            m.func_evals += 2;
        }
        (m, store)
    }

    #[test]
    fn state_round_trips_every_field_the_next_iteration_reads() {
        for history_size in [1, 2, 10] {
            let (m, store) = memory(history_size);
            let back = Memory::from_state(&m.to_state(), &store, history_size).unwrap();
            let next_s = |m: &Memory<f64>| m.d.iter().map(|d| d * m.t).collect::<Vec<_>>();
            assert_eq!(next_s(&back), next_s(&m));
            assert_eq!((back.n_iter, back.func_evals), (m.n_iter, m.func_evals));
            assert_eq!(
                (back.prev_grad.clone(), back.h_diag.to_bits()),
                (m.prev_grad.clone(), m.h_diag.to_bits())
            );
            assert_eq!(back.history.len(), history_size.min(3));
            for (a, b) in back.history.iter().zip(&m.history) {
                assert_eq!((&a.s, &a.y, a.ro.to_bits()), (&b.s, &b.y, b.ro.to_bits()));
            }
        }
    }

    #[test]
    fn state_that_does_not_fit_is_refused() {
        let (m, store) = memory(10);
        let message = |r: Result<Memory<f64>, StateError>| r.unwrap_err().to_string();
        // more pairs than the history holds
        let err = message(Memory::from_state(&m.to_state(), &store, 2));
        assert!(err.contains("at most 6 buffers"), "{err}");
        // a store with another trainable parameter
        let mut other = store.clone();
        other.add("c", Tensor::zeros(&[3]), true);
        let err = message(Memory::from_state(&m.to_state(), &other, 10));
        assert!(err.contains("'c' has no L-BFGS buffers"), "{err}");
        // a parameter frozen since
        let mut frozen = store.clone();
        frozen.set_trainable(frozen.find("b").unwrap(), false);
        let err = message(Memory::from_state(&m.to_state(), &frozen, 10));
        assert!(err.contains("'b' has L-BFGS buffers but is frozen"), "{err}");
    }
}
