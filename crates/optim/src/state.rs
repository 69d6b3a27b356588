//! Optimizer state: the step count and every parameter's buffers, saved as safetensors so
//! that training resumes bit for bit.

use std::path::Path;

use borel_autograd::io::{self, FileError, TensorFile};
use borel_autograd::{Float, ParamId, ParamStore, Tensor};

/// The step count, and the buffers and step count of every parameter, by [`ParamId`].
///
/// [`State::step`] counts updates; each parameter counts the updates that had a gradient for it
/// ([`State::param_step`], PyTorch's per-parameter `state["step"]`): a parameter the loss
/// did not reach is left as it was, buffers and count.
///
/// Saved as safetensors with the store's names: buffer `i` of parameter `p` is the tensor
/// `p/i`; the step count is in the header's metadata under `step`, and a parameter's under
/// `step/p` (state saved before parameters had counts of their own gives each parameter
/// with buffers the whole count).
///
/// ```
/// use borel_autograd::{ParamStore, Tape, Tensor};
/// use borel_optim::{Adam, Optimizer, State};
/// let mut store = ParamStore::new();
/// let w = store.add("w", Tensor::from_vec(vec![1.0f32, 2.0], &[2]), true);
/// let mut opt = Adam::new(0.1);
/// let tape = Tape::new();
/// let p = store.vars(&tape);
/// opt.update(&mut store, &p.backward(p[w].square().sum()));
/// let path = std::env::temp_dir().join("borel_doc_state.safetensors");
/// opt.state().save(&path, &store).unwrap();
/// let mut resumed = Adam::new(0.1);
/// resumed.set_state(State::load(&path, &store).unwrap()).unwrap();
/// assert_eq!(resumed.state(), opt.state());
/// ```
#[derive(Clone, Debug, Default)]
pub struct State<F: Float> {
    /// Completed steps.
    step: u64,
    slots: Vec<Vec<Tensor<F>>>,
    /// The steps each parameter took, by index (missing: none).
    steps: Vec<u64>,
}

/// Equal when the counts and buffers are: a parameter that took no step equals one that
/// is not listed.
impl<F: Float> PartialEq for State<F> {
    fn eq(&self, other: &Self) -> bool {
        let n = self
            .slots
            .len()
            .max(other.slots.len())
            .max(self.steps.len())
            .max(other.steps.len());
        let same = |i: usize| self.slot(i) == other.slot(i) && self.steps_at(i) == other.steps_at(i);
        self.step == other.step && (0..n).all(same)
    }
}

/// What went wrong saving, loading or restoring optimizer state.
///
/// ```
/// use borel_autograd::{ParamStore, Tensor};
/// use borel_optim::{State, StateError};
/// let mut store = ParamStore::new();
/// store.add("w", Tensor::from_vec(vec![1.0f32], &[1]), true);
/// let err = State::<f32>::load("no/such/state.safetensors", &store).unwrap_err();
/// assert!(matches!(err, StateError::File(_)), "{err}");
/// ```
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The file could not be read or written, is not a valid tensor file, or does not fit
    /// the parameters it would update: a buffer for a parameter the store does not have, of
    /// another shape or dtype, non-finite, or a step count out of range.
    #[error(transparent)]
    File(#[from] FileError),
    /// Well-formed state that does not fit the optimizer it is given to (saved by another
    /// optimizer, or holding values its update cannot take).
    #[error("optimizer state does not fit: {message}")]
    Mismatch {
        /// What does not fit.
        message: String,
    },
}

/// The largest step count state may hold: 2^53 - 1, the last count an `f64` (which bias
/// corrections and schedules compute with) holds exactly, and more steps than any training
/// run takes (a million steps a second for over 280 years).
const MAX_STEP: u64 = (1 << 53) - 1;

impl<F: Float> State<F> {
    /// The `k` buffers of `id`, created filled with `init` in `shape` on first use.
    pub(crate) fn buffers(&mut self, id: ParamId, k: usize, shape: &[usize], init: F) -> &mut [Tensor<F>] {
        let i = id.index();
        if self.slots.len() <= i {
            self.slots.resize_with(i + 1, Vec::new);
        }
        let b = &mut self.slots[i];
        if b.is_empty() {
            b.extend((0..k).map(|_| Tensor::full(shape, init)));
        }
        assert!(
            b.len() == k && b.iter().all(|t| t.shape() == shape),
            "optimizer: parameter #{i} changed shape to {shape:?}"
        );
        b
    }

    /// Completed steps (updates), saturating at 2^53 - 1.
    ///
    /// ```
    /// use borel_autograd::{ParamGrads, ParamStore, Tensor};
    /// use borel_optim::{Optimizer, Sgd};
    /// let mut store = ParamStore::new();
    /// let w = store.add("w", Tensor::from_vec(vec![1.0f32], &[1]), true);
    /// let mut opt = Sgd::new(0.1);
    /// let mut grads = ParamGrads::new(&store);
    /// grads.insert(w, Tensor::from_vec(vec![0.5], &[1]));
    /// opt.update(&mut store, &grads);
    /// opt.update(&mut store, &grads);
    /// assert_eq!(opt.state().step(), 2);
    /// ```
    pub fn step(&self) -> u64 {
        self.step
    }

    /// Sets the step count (L-BFGS counts its evaluations), at most 2^53 - 1.
    pub(crate) fn set_step(&mut self, step: u64) {
        self.step = step.min(MAX_STEP);
    }

    /// Brings state in an older layout, `all` buffers per parameter, to the buffers whose
    /// bit is set in `kept`: the others must be zeros (what the update left in buffers it did
    /// not use), or the state was saved with other options. State already in the current
    /// layout, or of another count, is left for [`State::check_fits`] to judge.
    pub(crate) fn drop_unused_buffers(&mut self, name: &str, all: usize, kept: u8) -> Result<(), StateError> {
        if !self.slots.iter().any(|b| b.len() == all) {
            return Ok(());
        }
        for (i, b) in self.slots.iter().enumerate().filter(|(_, b)| b.len() == all) {
            let used = (0..all).find(|&k| kept & (1 << k) == 0 && b[k].data().iter().any(|v| *v != F::ZERO));
            if let Some(k) = used {
                return Err(StateError::Mismatch {
                    message: format!(
                        "parameter #{i} has {all} buffers and buffer {k}, which {name} with these options does not \
                         keep, is not zero (state saved with other options)"
                    ),
                });
            }
        }
        for b in self.slots.iter_mut().filter(|b| b.len() == all) {
            let old = std::mem::take(b);
            b.extend(
                old.into_iter()
                    .enumerate()
                    .filter(|(k, _)| kept & (1 << k) != 0)
                    .map(|(_, t)| t),
            );
        }
        Ok(())
    }

    /// Counts one more step, saturating at 2^53 - 1 (the largest count a file may hold).
    pub(crate) fn next_step(&mut self) -> u64 {
        self.step = self.step.saturating_add(1).min(MAX_STEP);
        self.step
    }

    /// The buffers of the parameter at index `i` (none if it has none).
    fn slot(&self, i: usize) -> &[Tensor<F>] {
        self.slots.get(i).map_or(&[], Vec::as_slice)
    }

    /// The steps of the parameter at index `i`.
    fn steps_at(&self, i: usize) -> u64 {
        self.steps.get(i).copied().unwrap_or(0)
    }

    /// Counts one more step of parameter `id` (it had a gradient); returns its count.
    pub(crate) fn next_param_step(&mut self, id: ParamId) -> u64 {
        let i = id.index();
        if self.steps.len() <= i {
            self.steps.resize(i + 1, 0);
        }
        self.steps[i] = self.steps[i].saturating_add(1);
        self.steps[i]
    }

    /// Sets the steps parameter `id` took (L-BFGS counts its iterations for every parameter
    /// at once).
    pub(crate) fn set_param_step(&mut self, id: ParamId, steps: u64) {
        let i = id.index();
        if self.steps.len() <= i {
            self.steps.resize(i + 1, 0);
        }
        self.steps[i] = steps;
    }

    /// The steps parameter `id` took: the updates that had a gradient for it (PyTorch's
    /// per-parameter `state["step"]`, which its bias corrections and decays use).
    ///
    /// ```
    /// use borel_autograd::{ParamGrads, ParamStore, Tensor};
    /// use borel_optim::{Adam, Optimizer};
    /// let mut store = ParamStore::new();
    /// let used = store.add("used", Tensor::from_vec(vec![1.0f32], &[1]), true);
    /// let unused = store.add("unused", Tensor::from_vec(vec![2.0f32], &[1]), true);
    /// let mut opt = Adam::new(0.1);
    /// let mut grads = ParamGrads::new(&store);
    /// grads.insert(used, Tensor::from_vec(vec![0.5], &[1]));
    /// opt.update(&mut store, &grads);
    /// assert_eq!((opt.state().param_step(used), opt.state().param_step(unused)), (1, 0));
    /// assert_eq!(store.get(unused).data(), &[2.0]);
    /// ```
    pub fn param_step(&self, id: ParamId) -> u64 {
        self.steps_at(id.index())
    }

    /// The buffers kept for `id`, if any.
    pub fn get(&self, id: ParamId) -> Option<&[Tensor<F>]> {
        Some(self.slot(id.index())).filter(|b| !b.is_empty())
    }

    /// The state as safetensors bytes, buffers named after `store`'s parameters.
    pub fn to_bytes(&self, store: &ParamStore<F>) -> Vec<u8> {
        let step = self.step.to_string();
        let param_steps: Vec<(String, String)> = store
            .ids()
            .filter(|&id| self.param_step(id) > 0)
            .map(|id| (format!("step/{}", store.name(id)), self.param_step(id).to_string()))
            .collect();
        let mut meta = vec![("step", step.as_str()), ("dtype", F::NAME)];
        meta.extend(param_steps.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        io::encode(&self.named(store), &meta)
    }

    /// `("{parameter}/{i}", buffer i)` for every buffer kept for a parameter of `store`.
    fn named(&self, store: &ParamStore<F>) -> Vec<(String, Tensor<F>)> {
        let buffers = |id| self.get(id).unwrap_or_default().iter().enumerate();
        store
            .ids()
            .flat_map(|id| buffers(id).map(move |(i, t)| (format!("{}/{i}", store.name(id)), t.clone())))
            .collect()
    }

    /// Checks that the state fits an optimizer `name` keeping `count` buffers per parameter,
    /// whose values at each element pass `ok`: as many buffers of one shape for each
    /// parameter, finite values that `ok` accepts (the step count is checked where state is
    /// read, and no state holds one above 2^53 - 1).
    pub(crate) fn check_fits(&self, name: &str, count: usize, ok: impl Fn(&[F]) -> bool) -> Result<(), StateError> {
        let mismatch = |message: String| Err(StateError::Mismatch { message });
        let bare = (0..self.steps.len()).find(|&i| self.steps[i] > 0 && self.slot(i).is_empty());
        if let Some(i) = bare.filter(|_| count > 0) {
            return mismatch(format!(
                "parameter #{i} took {} steps without buffers, {name} keeps {count}",
                self.steps[i]
            ));
        }
        for (i, b) in self.slots.iter().enumerate().filter(|(_, b)| !b.is_empty()) {
            if b.len() != count {
                return mismatch(format!("parameter #{i} has {} buffers, {name} keeps {count}", b.len()));
            }
            if b.iter().any(|t| t.shape() != b[0].shape()) {
                return mismatch(format!("parameter #{i} has buffers of different shapes"));
            }
            let mut values = vec![F::ZERO; count];
            for e in 0..b[0].numel() {
                values.iter_mut().zip(b).for_each(|(v, t)| *v = t.data()[e]);
                if !(values.iter().all(|v| v.is_finite()) && ok(&values)) {
                    let shown: Vec<f64> = values.iter().map(|v| v.to_f64()).collect();
                    return mismatch(format!(
                        "parameter #{i}, element {e}: buffers {shown:?} are not state {name} can step from"
                    ));
                }
            }
        }
        Ok(())
    }

    /// Parses state written by [`State::to_bytes`] and checks it against the parameters it
    /// will update: a step count of at most 2^53 - 1, every buffer named after a parameter
    /// of `store`, of its shape and dtype and finite, buffers numbered from 0, and as many
    /// for every parameter that has any. `path` only labels errors.
    pub fn from_bytes(bytes: &[u8], path: &Path, store: &ParamStore<F>) -> Result<Self, StateError> {
        Ok(Self::from_file(io::decode(bytes, path)?, path, store)?)
    }

    /// Writes the state to `path` atomically, buffers named after `store`'s parameters.
    pub fn save(&self, path: impl AsRef<Path>, store: &ParamStore<F>) -> Result<(), StateError> {
        Ok(io::write_atomically(path.as_ref(), &self.to_bytes(store))?)
    }

    /// Reads state saved with [`State::save`], checked against `store` (see
    /// [`State::from_bytes`]); the file's size is checked against its header before its data
    /// is read.
    pub fn load(path: impl AsRef<Path>, store: &ParamStore<F>) -> Result<Self, StateError> {
        let path = path.as_ref();
        Ok(Self::from_file(io::read_tensors(path)?, path, store)?)
    }

    /// The state in `file`, checked (see [`State::from_bytes`]).
    fn from_file(file: TensorFile<F>, path: &Path, store: &ParamStore<F>) -> Result<Self, FileError> {
        let mismatch = |message: String| FileError::Mismatch {
            path: path.into(),
            message,
        };
        let step = read_step(&file).map_err(mismatch)?;
        let mut numbered: Vec<Vec<(usize, Tensor<F>)>> = vec![Vec::new(); store.len()];
        for (name, t) in &file.tensors {
            let (id, index) = buffer_of(name, t, path, store)?;
            numbered[id.index()].push((index, t.clone()));
        }
        let mut slots = Vec::with_capacity(store.len());
        for (mut buffers, param) in numbered.into_iter().zip(store.names()) {
            buffers.sort_by_key(|(i, _)| *i);
            if buffers.iter().enumerate().any(|(k, (i, _))| k != *i) {
                return Err(mismatch(format!(
                    "buffers of '{param}' are not numbered 0..{}",
                    buffers.len()
                )));
            }
            slots.push(buffers.into_iter().map(|(_, t)| t).collect::<Vec<_>>());
        }
        let counts: Vec<usize> = slots.iter().map(Vec::len).filter(|&n| n > 0).collect();
        if counts.windows(2).any(|w| w[0] != w[1]) {
            return Err(mismatch("parameters have different numbers of buffers".into()));
        }
        let steps = param_steps(&file, step, &slots, store).map_err(mismatch)?;
        Ok(State { step, slots, steps })
    }
}

/// The step count in a state file's metadata, in range.
fn read_step<F: Float>(file: &TensorFile<F>) -> Result<u64, String> {
    let text = file.meta("step").ok_or("no step count in the metadata")?;
    let step = text
        .parse()
        .map_err(|_| format!("step count '{text}' is not a count"))?;
    check_step(step).map(|()| step)
}

fn check_step(step: u64) -> Result<(), String> {
    if step > MAX_STEP {
        return Err(format!("step count {step} is above the maximum of 2^53 - 1"));
    }
    Ok(())
}

/// The parameter of `store` that buffer `name` (`{parameter}/{index}`) belongs to, and its
/// index, once the buffer is checked to have the parameter's shape and finite values.
fn buffer_of<F: Float>(
    name: &str,
    t: &Tensor<F>,
    path: &Path,
    store: &ParamStore<F>,
) -> Result<(ParamId, usize), FileError> {
    let malformed = || FileError::Mismatch {
        path: path.into(),
        message: format!("tensor '{name}' is not named parameter/index"),
    };
    let (param, index) = name.rsplit_once('/').ok_or_else(malformed)?;
    let index: usize = index.parse().map_err(|_| malformed())?;
    let id = store.find(param).ok_or_else(|| FileError::Unexpected {
        path: path.into(),
        name: name.to_string(),
    })?;
    let expected = store.get(id).shape();
    if t.shape() != expected {
        return Err(FileError::Shape {
            path: path.into(),
            name: name.to_string(),
            expected: expected.to_vec(),
            found: t.shape().to_vec(),
        });
    }
    io::check_finite(t, name, path)?;
    Ok((id, index))
}

/// Every parameter's step count from the metadata's `step/<name>` entries: each names a
/// parameter of `store` and is at most the whole count `step`. Without any such entry (state
/// saved before parameters had counts of their own), a parameter with buffers took `step`;
/// with them, a parameter with buffers must have one.
fn param_steps<F: Float>(
    file: &TensorFile<F>,
    step: u64,
    slots: &[Vec<Tensor<F>>],
    store: &ParamStore<F>,
) -> Result<Vec<u64>, String> {
    let entries = file.meta_with_prefix("step/");
    if entries.is_empty() {
        return Ok(slots.iter().map(|b| if b.is_empty() { 0 } else { step }).collect());
    }
    let mut steps = vec![0; store.len()];
    for (name, count) in entries {
        let id = store
            .find(name)
            .ok_or_else(|| format!("step count 'step/{name}' is for '{name}', which the model does not have"))?;
        steps[id.index()] = count
            .parse()
            .ok()
            .filter(|&n| n <= step)
            .ok_or_else(|| format!("step count of '{name}' is '{count}', not a count of at most {step} steps"))?;
    }
    let names = store.names();
    match (0..slots.len()).find(|&i| steps[i] == 0 && !slots[i].is_empty()) {
        Some(i) => Err(format!("'{}' has buffers but no step count", names[i])),
        None => Ok(steps),
    }
}
