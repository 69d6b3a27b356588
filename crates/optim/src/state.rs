//! Optimizer state: the step count and every parameter's buffers, saved as safetensors so
//! that training resumes bit for bit.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use borel_autograd::{Float, Tensor};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};

/// The step count and the buffers of every parameter, by parameter name.
///
/// Saved as safetensors: buffer `i` of parameter `p` is the tensor `p/i`; the step count is in
/// the header's metadata under `step`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct State<F: Float> {
    /// Completed steps.
    pub step: u64,
    slots: BTreeMap<String, Vec<Tensor<F>>>,
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
    /// The file is not optimizer state in the safetensors format.
    #[error("{path}: not optimizer state: {message}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        message: String,
    },
}

impl<F: Float> State<F> {
    /// The `k` buffers of `name`, created as zeros of `shape` on first use.
    pub(crate) fn buffers(&mut self, name: &str, k: usize, shape: &[usize]) -> &mut [Tensor<F>] {
        if !self.slots.contains_key(name) {
            self.slots
                .insert(name.to_string(), (0..k).map(|_| Tensor::zeros(shape)).collect());
        }
        let b = self.slots.get_mut(name).expect("inserted above");
        assert!(
            b.len() == k && b.iter().all(|t| t.shape() == shape),
            "optimizer: parameter '{name}' changed shape to {shape:?}"
        );
        b
    }

    /// The buffers kept for `name`, if any.
    pub fn get(&self, name: &str) -> Option<&[Tensor<F>]> {
        self.slots.get(name).map(Vec::as_slice)
    }

    /// Names of the parameters with buffers.
    pub fn names(&self) -> Vec<&str> {
        self.slots.keys().map(String::as_str).collect()
    }

    /// The state as safetensors bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let dtype = if F::NAME == "f32" { Dtype::F32 } else { Dtype::F64 };
        let mut owned: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
        for (name, bufs) in &self.slots {
            for (i, t) in bufs.iter().enumerate() {
                owned.push((format!("{name}/{i}"), t.shape().to_vec(), t.to_le_bytes()));
            }
        }
        let views: Vec<(String, TensorView<'_>)> = owned
            .iter()
            .map(|(n, s, b)| {
                (
                    n.clone(),
                    TensorView::new(dtype, s.clone(), b).expect("sizes match by construction"),
                )
            })
            .collect();
        let meta = HashMap::from([
            ("step".to_string(), self.step.to_string()),
            ("dtype".to_string(), F::NAME.to_string()),
        ]);
        safetensors::serialize(views, Some(meta)).expect("valid views serialize")
    }

    /// Parses state written by [`State::to_bytes`]; `path` only labels errors.
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Self, StateError> {
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
        let mut slots: BTreeMap<String, Vec<(usize, Tensor<F>)>> = BTreeMap::new();
        for (name, view) in file.tensors() {
            let (param, idx) = name
                .rsplit_once('/')
                .ok_or_else(|| bad(format!("tensor '{name}' is not named param/index")))?;
            let idx: usize = idx
                .parse()
                .map_err(|_| bad(format!("tensor '{name}' is not named param/index")))?;
            let want = if F::NAME == "f32" { Dtype::F32 } else { Dtype::F64 };
            if view.dtype() != want {
                return Err(bad(format!(
                    "tensor '{name}' is {:?}, the optimizer is {}",
                    view.dtype(),
                    F::NAME
                )));
            }
            let t = Tensor::from_le_bytes(view.data(), view.shape())
                .ok_or_else(|| bad(format!("tensor '{name}' has the wrong byte count")))?;
            slots.entry(param.to_string()).or_default().push((idx, t));
        }
        let slots = slots
            .into_iter()
            .map(|(name, mut v)| {
                v.sort_by_key(|(i, _)| *i);
                if v.iter().enumerate().any(|(k, (i, _))| k != *i) {
                    return Err(bad(format!("buffers of '{name}' are not numbered 0..{}", v.len())));
                }
                Ok((name, v.into_iter().map(|(_, t)| t).collect()))
            })
            .collect::<Result<_, _>>()?;
        Ok(State { step, slots })
    }

    /// Writes the state to `path` atomically.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), StateError> {
        let path = path.as_ref();
        borel_autograd::io::write_atomically(path, &self.to_bytes()).map_err(|source| StateError::Io {
            path: path.into(),
            source,
        })
    }

    /// Reads state saved with [`State::save`].
    pub fn load(path: impl AsRef<Path>) -> Result<Self, StateError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| StateError::Io {
            path: path.into(),
            source,
        })?;
        Self::from_bytes(&bytes, path)
    }
}
