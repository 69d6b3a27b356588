//! Optimizer state: the step count and every parameter's buffers, saved as safetensors so
//! that training resumes bit for bit.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use borel_autograd::io::FileError;
use borel_autograd::{Float, ParamId, ParamStore, Tensor};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};

/// The step count, and the buffers and step count of every parameter, by [`ParamId`].
///
/// `step` counts updates; each parameter counts the updates that had a gradient for it
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
    pub step: u64,
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

/// What went wrong saving or loading optimizer state.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The file is not optimizer state in the safetensors format, or does not fit the
    /// parameters it would update.
    #[error("{path}: not optimizer state for these parameters: {message}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        message: String,
    },
    /// Well-formed state that does not fit the optimizer it is given to (saved by another
    /// optimizer, or holding values its update cannot take).
    #[error("optimizer state does not fit: {message}")]
    Mismatch {
        /// What does not fit.
        message: String,
    },
}

fn dtype_of<F: Float>() -> Dtype {
    if F::NAME == "f32" { Dtype::F32 } else { Dtype::F64 }
}

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

    /// Counts one more step (saturating: a restored count near `u64::MAX` never wraps).
    pub(crate) fn next_step(&mut self) -> u64 {
        self.step = self.step.saturating_add(1);
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
        let mut owned: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
        for id in store.ids() {
            for (i, t) in self.get(id).unwrap_or_default().iter().enumerate() {
                owned.push((format!("{}/{i}", store.name(id)), t.shape().to_vec(), t.to_le_bytes()));
            }
        }
        let views: Vec<(String, TensorView<'_>)> = owned
            .iter()
            .map(|(n, s, b)| {
                let view = TensorView::new(dtype_of::<F>(), s.clone(), b).expect("sizes match by construction");
                (n.clone(), view)
            })
            .collect();
        let mut meta = HashMap::from([
            ("step".to_string(), self.step.to_string()),
            ("dtype".to_string(), F::NAME.to_string()),
        ]);
        for id in store.ids().filter(|&id| self.param_step(id) > 0) {
            meta.insert(format!("step/{}", store.name(id)), self.param_step(id).to_string());
        }
        safetensors::serialize(views, Some(meta)).expect("valid views serialize")
    }

    /// Checks that the state fits an optimizer `name` keeping `count` buffers per parameter,
    /// whose values at each element pass `ok`.
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
            let mut values = vec![F::ZERO; count];
            for e in 0..b.first().map_or(0, Tensor::numel) {
                values.iter_mut().zip(b).for_each(|(v, t)| *v = t.data()[e]);
                if !ok(&values) {
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
    /// will update: every buffer must name a parameter of `store`, have its shape and hold
    /// finite values, and every parameter must have the same number of buffers. `path` only
    /// labels errors.
    pub fn from_bytes(bytes: &[u8], path: &Path, store: &ParamStore<F>) -> Result<Self, StateError> {
        let bad = |message: String| StateError::Format {
            path: path.into(),
            message,
        };
        let (_, meta) = SafeTensors::read_metadata(bytes).map_err(|e| bad(e.to_string()))?;
        let file = SafeTensors::deserialize(bytes).map_err(|e| bad(e.to_string()))?;
        let info = meta.metadata().clone().unwrap_or_default();
        let step = info
            .get("step")
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("no step count in the metadata".into()))?;
        let mut slots: Vec<Vec<(usize, Tensor<F>)>> = vec![Vec::new(); store.len()];
        // in name order, so that the first error reported is the same on every run
        let mut tensors = file.tensors();
        tensors.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, view) in tensors {
            let (id, idx, t) = parse_buffer(&name, &view, store).map_err(bad)?;
            slots[id.index()].push((idx, t));
        }
        let slots = slots
            .into_iter()
            .zip(store.names())
            .map(|(mut v, name)| {
                v.sort_by_key(|(i, _)| *i);
                if v.iter().enumerate().any(|(k, (i, _))| k != *i) {
                    return Err(bad(format!("buffers of '{name}' are not numbered 0..{}", v.len())));
                }
                Ok(v.into_iter().map(|(_, t)| t).collect::<Vec<_>>())
            })
            .collect::<Result<Vec<_>, _>>()?;
        let counts: Vec<usize> = slots.iter().map(Vec::len).filter(|&n| n > 0).collect();
        if counts.windows(2).any(|w| w[0] != w[1]) {
            return Err(bad("parameters have different numbers of buffers".into()));
        }
        let steps = param_steps(&info, step, &slots, store).map_err(bad)?;
        Ok(State { step, slots, steps })
    }

    /// Writes the state to `path` atomically, buffers named after `store`'s parameters.
    pub fn save(&self, path: impl AsRef<Path>, store: &ParamStore<F>) -> Result<(), StateError> {
        let path = path.as_ref();
        borel_autograd::io::write_atomically(path, &self.to_bytes(store)).map_err(|e| match e {
            FileError::Io { path, source } => StateError::Io { path, source },
            other => StateError::Format {
                path: path.into(),
                message: other.to_string(),
            },
        })
    }

    /// Reads state saved with [`State::save`], checked against `store` (see
    /// [`State::from_bytes`]).
    pub fn load(path: impl AsRef<Path>, store: &ParamStore<F>) -> Result<Self, StateError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| StateError::Io {
            path: path.into(),
            source,
        })?;
        Self::from_bytes(&bytes, path, store)
    }
}

/// Every parameter's step count from the metadata's `step/<name>` entries: each names a
/// parameter of `store` and is at most the whole count `step`. Without any such entry (state
/// saved before parameters had counts of their own), a parameter with buffers took `step`;
/// with them, a parameter with buffers must have one.
fn param_steps<F: Float>(
    info: &HashMap<String, String>,
    step: u64,
    slots: &[Vec<Tensor<F>>],
    store: &ParamStore<F>,
) -> Result<Vec<u64>, String> {
    let mut entries: Vec<(&str, &String)> = info
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("step/")?, v)))
        .collect();
    if entries.is_empty() {
        return Ok(slots.iter().map(|b| if b.is_empty() { 0 } else { step }).collect());
    }
    entries.sort();
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

/// One tensor of a state file: the parameter it belongs to (which must exist in `store`),
/// its buffer index, and its value (the parameter's shape, the optimizer's dtype, finite).
fn parse_buffer<F: Float>(
    name: &str,
    view: &TensorView<'_>,
    store: &ParamStore<F>,
) -> Result<(ParamId, usize, Tensor<F>), String> {
    let malformed = || format!("tensor '{name}' is not named param/index");
    let (param, idx) = name.rsplit_once('/').ok_or_else(malformed)?;
    let idx: usize = idx.parse().map_err(|_| malformed())?;
    let id = store
        .find(param)
        .ok_or_else(|| format!("tensor '{name}' is for '{param}', which the model does not have"))?;
    if view.dtype() != dtype_of::<F>() {
        return Err(format!(
            "tensor '{name}' is {:?}, the optimizer is {}",
            view.dtype(),
            F::NAME
        ));
    }
    let want = store.get(id).shape();
    if view.shape() != want {
        return Err(format!(
            "tensor '{name}' has shape {:?}, the parameter has {want:?}",
            view.shape()
        ));
    }
    let t = Tensor::from_le_bytes(view.data(), view.shape())
        .ok_or_else(|| format!("tensor '{name}' has the wrong byte count"))?;
    if !t.all_finite() {
        return Err(format!("tensor '{name}' holds a NaN or infinite value"));
    }
    Ok((id, idx, t))
}
