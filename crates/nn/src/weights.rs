//! Weight files in the safetensors format, readable by PyTorch and other tools.
//!
//! Saving writes a temporary file beside the target and renames it into place, so a crash
//! never leaves a half-written file under the real name. Loading checks every name, dtype and
//! shape before touching the model: on any error the parameters stay bit-identical.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

use borel_autograd::{Float, Tensor};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use crate::param::ParamStore;

/// How parameter names and kernel layouts map to the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Layout {
    /// Names as in the store (`0.kernel` of shape `[in, out]`, as Keras keeps kernels).
    #[default]
    Borel,
    /// PyTorch's `nn.Linear` convention: `X.kernel` is stored as `X.weight` with shape
    /// `[out, in]` (transposed); other names are unchanged.
    PyTorch,
}

/// What went wrong reading or writing a weight file; each names the file and, where it
/// applies, the tensor.
#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The file is not valid safetensors (truncated, corrupted, bad header).
    #[error("{path}: not a valid safetensors file: {message}")]
    Format {
        /// The file.
        path: PathBuf,
        /// The parser's complaint.
        message: String,
    },
    /// A parameter of the model is not in the file.
    #[error("{path}: no tensor named '{name}' (the model's parameter '{param}')")]
    Missing {
        /// The file.
        path: PathBuf,
        /// The name looked for in the file.
        name: String,
        /// The model's parameter.
        param: String,
    },
    /// The file holds a tensor the model has no parameter for.
    #[error("{path}: unexpected tensor '{name}': the model has no such parameter")]
    Unexpected {
        /// The file.
        path: PathBuf,
        /// The tensor's name.
        name: String,
    },
    /// A tensor's shape differs from the parameter's.
    #[error("{path}: tensor '{name}' has shape {found:?}, the model expects {expected:?}")]
    Shape {
        /// The file.
        path: PathBuf,
        /// The tensor's name.
        name: String,
        /// The shape the model needs (in the file's layout).
        expected: Vec<usize>,
        /// The shape in the file.
        found: Vec<usize>,
    },
    /// A tensor's element type differs from the model's.
    #[error("{path}: tensor '{name}' is {found}, the model is {expected}")]
    Dtype {
        /// The file.
        path: PathBuf,
        /// The tensor's name.
        name: String,
        /// The model's element type.
        expected: &'static str,
        /// The file's element type.
        found: String,
    },
}

fn dtype_of<F: Float>() -> Dtype {
    if F::NAME == "f32" { Dtype::F32 } else { Dtype::F64 }
}

fn file_name(name: &str, layout: Layout) -> String {
    match (layout, name.strip_suffix(".kernel")) {
        (Layout::PyTorch, Some(stem)) => format!("{stem}.weight"),
        _ => name.to_string(),
    }
}

fn transposes(name: &str, t_rank: usize, layout: Layout) -> bool {
    layout == Layout::PyTorch && name.ends_with(".kernel") && t_rank == 2
}

fn transpose<F: Float>(t: &Tensor<F>) -> Tensor<F> {
    let (r, c) = (t.shape()[0], t.shape()[1]);
    Tensor::from_fn(&[c, r], |i| t.data()[(i % r) * c + i / r])
}

impl<F: Float> ParamStore<F> {
    /// Writes every parameter to `path` in the safetensors format, atomically.
    ///
    /// ```
    /// use borel_nn::{Dense, Layout, ParamStore, Sequential};
    /// let mut store = ParamStore::<f32>::new();
    /// let _model = Sequential::new().add(Dense::new(3).input_dim(2)).build(&mut store, 0);
    /// let path = std::env::temp_dir().join("borel_doc_weights.safetensors");
    /// store.save(&path, Layout::Borel).unwrap();
    /// let mut other = ParamStore::<f32>::new();
    /// let _twin = Sequential::new().add(Dense::new(3).input_dim(2)).build(&mut other, 1);
    /// other.load(&path, Layout::Borel).unwrap();
    /// assert_eq!(other.snapshot(), store.snapshot());
    /// ```
    pub fn save(&self, path: impl AsRef<Path>, layout: Layout) -> Result<(), WeightsError> {
        let path = path.as_ref();
        let bytes = self.to_safetensors(layout).map_err(|e| WeightsError::Format {
            path: path.into(),
            message: e,
        })?;
        write_atomically(path, &bytes)
    }

    /// The safetensors bytes of every parameter.
    pub fn to_safetensors(&self, layout: Layout) -> Result<Vec<u8>, String> {
        let tensors: Vec<(String, Vec<usize>, Vec<u8>)> = self
            .iter()
            .map(|(_, name, t)| {
                let t = if transposes(name, t.rank(), layout) {
                    transpose(t)
                } else {
                    t.clone()
                };
                (file_name(name, layout), t.shape().to_vec(), t.to_le_bytes())
            })
            .collect();
        let views = tensors
            .iter()
            .map(|(n, s, b)| TensorView::new(dtype_of::<F>(), s.clone(), b).map(|v| (n.clone(), v)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?;
        safetensors::serialize(views, None).map_err(|e| e.to_string())
    }

    /// Loads every parameter from `path`. Names, dtypes and shapes must all match (extra
    /// tensors in the file are an error too); on any error nothing is changed.
    pub fn load(&mut self, path: impl AsRef<Path>, layout: Layout) -> Result<(), WeightsError> {
        let path = path.as_ref();
        let bytes = fs::read(path).map_err(|source| WeightsError::Io {
            path: path.into(),
            source,
        })?;
        self.load_bytes(&bytes, path, layout)
    }

    /// [`ParamStore::load`] from bytes in memory; `path` only labels errors.
    pub fn load_bytes(&mut self, bytes: &[u8], path: &Path, layout: Layout) -> Result<(), WeightsError> {
        let file = SafeTensors::deserialize(bytes).map_err(|e| WeightsError::Format {
            path: path.into(),
            message: e.to_string(),
        })?;
        let mut used = HashSet::new();
        let mut values = Vec::with_capacity(self.len());
        for (_, name, current) in self.iter() {
            let fname = file_name(name, layout);
            let view = file.tensor(&fname).map_err(|_| WeightsError::Missing {
                path: path.into(),
                name: fname.clone(),
                param: name.to_string(),
            })?;
            if view.dtype() != dtype_of::<F>() {
                return Err(WeightsError::Dtype {
                    path: path.into(),
                    name: fname,
                    expected: F::NAME,
                    found: format!("{:?}", view.dtype()).to_lowercase(),
                });
            }
            let t = transposes(name, current.rank(), layout);
            let mut expected = current.shape().to_vec();
            if t {
                expected.reverse();
            }
            if view.shape() != expected.as_slice() {
                return Err(WeightsError::Shape {
                    path: path.into(),
                    name: fname,
                    expected,
                    found: view.shape().to_vec(),
                });
            }
            let value = Tensor::<F>::from_le_bytes(view.data(), view.shape()).ok_or_else(|| WeightsError::Format {
                path: path.into(),
                message: format!("tensor '{fname}' has the wrong byte count"),
            })?;
            values.push(if t { transpose(&value) } else { value });
            used.insert(fname);
        }
        if let Some(extra) = file.names().into_iter().find(|n| !used.contains(*n)) {
            return Err(WeightsError::Unexpected {
                path: path.into(),
                name: extra.to_string(),
            });
        }
        self.replace_values(values);
        Ok(())
    }
}

/// Writes `bytes` atomically (see [`borel_autograd::io::write_atomically`]), labelling errors
/// with `path`.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), WeightsError> {
    borel_autograd::io::write_atomically(path, bytes).map_err(|source| WeightsError::Io {
        path: path.into(),
        source,
    })
}
