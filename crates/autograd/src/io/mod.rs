//! Tensor files: the one safetensors encoder and decoder behind weight files and optimizer
//! state, the one dtype map, the one atomic write, and the one error type ([`FileError`]).
//!
//! Writes go to a uniquely named temporary file in the target's directory, are flushed to
//! disk, renamed over the target, and the directory is synced: a reader sees the old file or
//! the new one, never a torn one, also with several threads saving to one path. Reads check
//! the header against the file's size before reading any tensor data, so a file that is not
//! what it claims costs a few bytes of reading, not its whole size in memory.
//!
//! Every count, shape, rank, dtype and offset in a file is checked before it is used: any
//! byte string gives tensors or a [`FileError`], never a panic.
//!
//! A process killed while saving (SIGKILL, power loss) cannot remove its temporary file.
//! The file's name says which process wrote it, so the next save or load of the same path
//! removes it as soon as that process is gone (see [`write_atomically`]): orphans never pile
//! up across crashes.
//!
//! ```
//! use borel_autograd::Tensor;
//! use borel_autograd::io::{read_tensors, write_tensors};
//! let path = std::env::temp_dir().join("borel_doc_io.safetensors");
//! let w = Tensor::from_vec(vec![1.0f32, 2.0], &[2]);
//! write_tensors(&path, &[("w".to_string(), w.clone())], &[("step", "3")]).unwrap();
//! let file = read_tensors::<f32>(&path).unwrap();
//! assert_eq!(file.tensors, vec![("w".to_string(), w)]);
//! assert_eq!(file.meta("step"), Some("3"));
//! ```

mod atomic;
mod header;

use std::collections::HashMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use safetensors::tensor::{Dtype, Metadata, TensorView};

pub use atomic::write_atomically;

use crate::float::Float;
use crate::shape::MAX_RANK;
use crate::tensor::Tensor;

/// What went wrong reading or writing a tensor file (weights or optimizer state); each
/// variant names the file and, where it applies, the tensor.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
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
        /// What was wrong.
        message: String,
    },
    /// A tensor the reader needs is not in the file.
    #[error("{path}: no tensor named '{name}' (the model's parameter '{param}')")]
    Missing {
        /// The file.
        path: PathBuf,
        /// The name looked for in the file.
        name: String,
        /// The model's parameter.
        param: String,
    },
    /// The file holds a tensor the reader has no place for.
    #[error("{path}: unexpected tensor '{name}': the model has no such parameter")]
    Unexpected {
        /// The file.
        path: PathBuf,
        /// The tensor's name.
        name: String,
    },
    /// A tensor's shape differs from the one needed.
    #[error("{path}: tensor '{name}' has shape {found:?}, the model expects {expected:?}")]
    Shape {
        /// The file.
        path: PathBuf,
        /// The tensor's name.
        name: String,
        /// The shape needed.
        expected: Vec<usize>,
        /// The shape in the file.
        found: Vec<usize>,
    },
    /// A tensor's element type differs from the reader's.
    #[error("{path}: tensor '{name}' is {found}, the model is {expected}")]
    Dtype {
        /// The file.
        path: PathBuf,
        /// The tensor's name.
        name: String,
        /// The reader's element type.
        expected: &'static str,
        /// The file's element type.
        found: String,
    },
    /// A tensor holds NaN or infinity.
    #[error("{path}: tensor '{name}' holds {value} at element {element:?}")]
    NonFinite {
        /// The file.
        path: PathBuf,
        /// The tensor's name.
        name: String,
        /// The multi-index of the first such element.
        element: Vec<usize>,
        /// The value found.
        value: f64,
    },
    /// The file is well formed but does not fit what reads it (a tensor of a rank Borel does
    /// not have, optimizer state out of range).
    #[error("{path}: {message}")]
    Mismatch {
        /// The file.
        path: PathBuf,
        /// What does not fit.
        message: String,
    },
}

/// The safetensors dtype of `F`.
fn dtype_of<F: Float>() -> Dtype {
    if F::NAME == "f32" { Dtype::F32 } else { Dtype::F64 }
}

/// A tensor file's contents: tensors in file order and the header's metadata.
#[derive(Clone)]
pub struct TensorFile<F: Float> {
    /// `(name, tensor)`, sorted by name.
    pub tensors: Vec<(String, Tensor<F>)>,
    meta: HashMap<String, String>,
}

impl<F: Float> TensorFile<F> {
    /// A metadata entry of the header.
    pub fn meta(&self, key: &str) -> Option<&str> {
        self.meta.get(key).map(String::as_str)
    }

    /// The metadata entries whose key starts with `prefix`, as `(rest of the key, value)`,
    /// sorted by key.
    pub fn meta_with_prefix<'a>(&'a self, prefix: &'a str) -> Vec<(&'a str, &'a str)> {
        let mut found: Vec<(&str, &str)> = self
            .meta
            .iter()
            .filter_map(|(k, v)| Some((k.strip_prefix(prefix)?, v.as_str())))
            .collect();
        found.sort();
        found
    }
}

/// The safetensors bytes of `tensors` with `meta` in the header.
pub fn encode<F: Float>(tensors: &[(String, Tensor<F>)], meta: &[(&str, &str)]) -> Vec<u8> {
    let bytes: Vec<Vec<u8>> = tensors.iter().map(|(_, t)| t.to_le_bytes()).collect();
    let views = tensors.iter().zip(&bytes).map(|((name, t), b)| {
        let view = TensorView::new(dtype_of::<F>(), t.shape().to_vec(), b).expect("sizes match by construction");
        (name.clone(), view)
    });
    let meta: HashMap<String, String> = meta.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    safetensors::serialize(views, (!meta.is_empty()).then_some(meta)).expect("valid views serialize")
}

/// Parses safetensors `bytes` whose tensors are all of type `F`; `path` only labels errors.
pub fn decode<F: Float>(bytes: &[u8], path: &Path) -> Result<TensorFile<F>, FileError> {
    let size = bytes.len() as u64;
    let len = bytes.get(..8).ok_or_else(|| too_short(size, path))?;
    let n = header_len(len.try_into().expect("8 bytes"), size, path)?;
    let header = header::parse(&bytes[8..8 + n], path)?;
    let data_len = data_len(&header, n, size, path)?;
    tensors_of(&header, &bytes[8 + n..][..data_len], path)
}

/// Reads a tensor file: first its 8-byte length and its header, which must account for the
/// file's exact size, then its data. Temporary files that killed saves to `path` left
/// behind are removed first (see [`write_atomically`]).
pub fn read_tensors<F: Float>(path: &Path) -> Result<TensorFile<F>, FileError> {
    atomic::remove_orphans(path);
    let io = |source| FileError::Io {
        path: path.into(),
        source,
    };
    let mut file = fs::File::open(path).map_err(io)?;
    let size = file.metadata().map_err(io)?.len();
    let mut len = [0u8; 8];
    file.read_exact(&mut len)
        .map_err(|e| if size < 8 { too_short(size, path) } else { io(e) })?;
    let n = header_len(len, size, path)?;
    let mut bytes = vec![0u8; n];
    file.read_exact(&mut bytes).map_err(io)?;
    let header = header::parse(&bytes, path)?;
    let data_len = data_len(&header, n, size, path)?;
    bytes.clear();
    bytes
        .try_reserve_exact(data_len)
        .map_err(|e| io(std::io::Error::other(e)))?;
    file.take(data_len as u64).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() != data_len {
        return Err(format_error(
            path,
            format!("the file shrank to {} bytes while read", 8 + n + bytes.len()),
        ));
    }
    tensors_of(&header, &bytes, path)
}

/// Writes `tensors` with `meta` to `path` atomically (see [`write_atomically`]).
pub fn write_tensors<F: Float>(
    path: &Path,
    tensors: &[(String, Tensor<F>)],
    meta: &[(&str, &str)],
) -> Result<(), FileError> {
    write_atomically(path, &encode(tensors, meta))
}

/// [`FileError::NonFinite`] naming the first NaN or infinite element of `t`, the tensor
/// `name` of the file `path`.
///
/// ```
/// use borel_autograd::Tensor;
/// use borel_autograd::io::{FileError, check_finite};
/// let t = Tensor::from_vec(vec![1.0f32, 2.0, f32::NAN, 0.0], &[2, 2]);
/// let err = check_finite(&t, "w", "w.safetensors".as_ref()).unwrap_err();
/// assert!(matches!(err, FileError::NonFinite { ref element, .. } if element == &[1, 0]), "{err}");
/// ```
pub fn check_finite<F: Float>(t: &Tensor<F>, name: &str, path: &Path) -> Result<(), FileError> {
    let Some(i) = t.data().iter().position(|v| !v.is_finite()) else {
        return Ok(());
    };
    let mut element = vec![0; t.rank()];
    let mut rest = i;
    for (e, &n) in element.iter_mut().zip(t.shape()).rev() {
        *e = rest % n;
        rest /= n;
    }
    Err(FileError::NonFinite {
        path: path.into(),
        name: name.to_string(),
        element,
        value: t.data()[i].to_f64(),
    })
}

/// The longest header read (safetensors' own limit is about as long).
const MAX_HEADER_LEN: u64 = 100 << 20;

fn format_error(path: &Path, message: String) -> FileError {
    FileError::Format {
        path: path.into(),
        message,
    }
}

fn too_short(size: u64, path: &Path) -> FileError {
    format_error(path, format!("{size} bytes is too short for a header"))
}

/// The header's length from the first 8 bytes of a file of `size` (at least 8) bytes.
fn header_len(len: [u8; 8], size: u64, path: &Path) -> Result<usize, FileError> {
    let n = u64::from_le_bytes(len);
    if n > size.saturating_sub(8) || n > MAX_HEADER_LEN {
        return Err(format_error(
            path,
            format!("header of {n} bytes in a file of {size} bytes"),
        ));
    }
    Ok(n as usize)
}

/// The length of the data after a header of `n` bytes, which must fill the file's `size`.
fn data_len(header: &Metadata, n: usize, size: u64, path: &Path) -> Result<usize, FileError> {
    let want = (8 + n as u64).checked_add(header.data_len() as u64);
    if want != Some(size) {
        let want = want.map_or("more than 2^64".into(), |w| w.to_string());
        return Err(format_error(
            path,
            format!("the header describes {want} bytes, the file has {size}"),
        ));
    }
    Ok(header.data_len())
}

/// The tensors of a checked `header` from its `data`, sorted by name (so that the first
/// error reported is the same on every run).
fn tensors_of<F: Float>(header: &Metadata, data: &[u8], path: &Path) -> Result<TensorFile<F>, FileError> {
    let mut infos: Vec<_> = header.tensors().into_iter().collect();
    infos.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let mut tensors = Vec::with_capacity(infos.len());
    for (name, info) in infos {
        let (start, end) = info.data_offsets;
        let bytes = data.get(start..end).ok_or_else(|| {
            format_error(
                path,
                format!("tensor '{name}' lies at bytes {start}..{end}, past the data"),
            )
        })?;
        let t = tensor_of(&name, info.dtype, &info.shape, bytes, path)?;
        tensors.push((name, t));
    }
    let meta = header.metadata().clone().unwrap_or_default();
    Ok(TensorFile { tensors, meta })
}

/// One tensor of type `F`, checked: its dtype, its rank, its byte count.
fn tensor_of<F: Float>(
    name: &str,
    dtype: Dtype,
    shape: &[usize],
    bytes: &[u8],
    path: &Path,
) -> Result<Tensor<F>, FileError> {
    if dtype == Dtype::I64 && is_counter(name, shape) {
        return counter_of(name, bytes, path);
    }
    if dtype != dtype_of::<F>() {
        return Err(FileError::Dtype {
            path: path.into(),
            name: name.to_string(),
            expected: F::NAME,
            found: format!("{dtype:?}").to_lowercase(),
        });
    }
    if shape.len() > MAX_RANK {
        return Err(FileError::Mismatch {
            path: path.into(),
            message: format!(
                "tensor '{name}' has rank {} (shape {shape:?}); tensors have at most {MAX_RANK} dimensions",
                shape.len()
            ),
        });
    }
    Tensor::from_le_bytes(bytes, shape).ok_or_else(|| {
        let message = format!(
            "tensor '{name}' of shape {shape:?} does not fit its {} bytes",
            bytes.len()
        );
        format_error(path, message)
    })
}

/// Whether a tensor is a batch counter PyTorch keeps as an int64 scalar (a batch norm's
/// `num_batches_tracked`): the one integer tensor a weight file of floats may hold.
fn is_counter(name: &str, shape: &[usize]) -> bool {
    shape.is_empty() && name.rsplit('.').next() == Some("num_batches_tracked")
}

/// A counter's int64 value as a float scalar, refused unless `F` holds it exactly.
fn counter_of<F: Float>(name: &str, bytes: &[u8], path: &Path) -> Result<Tensor<F>, FileError> {
    let Ok(le) = <[u8; 8]>::try_from(bytes) else {
        return Err(format_error(
            path,
            format!("tensor '{name}' of dtype i64 does not fit its {} bytes", bytes.len()),
        ));
    };
    let n = i64::from_le_bytes(le);
    let value = F::from_f64(n as f64);
    if value.to_f64() != n as f64 || (n as f64) as i64 != n {
        return Err(FileError::Mismatch {
            path: path.into(),
            message: format!("counter '{name}' = {n} is not exactly a {}", F::NAME),
        });
    }
    Ok(Tensor::scalar(value))
}
