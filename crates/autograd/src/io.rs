//! Tensor files: the one safetensors encoder and decoder behind weight files and optimizer
//! state, the one dtype map, the one atomic write, and the one error type ([`FileError`]).
//!
//! Writes go to a uniquely named temporary file in the target's directory, are flushed to
//! disk, renamed over the target, and the directory is synced: a reader sees the old file or
//! the new one, never a torn one, also with several threads saving to one path. Reads check
//! the header against the file's size before reading any tensor data, so a file that is not
//! what it claims costs a few bytes of reading, not its whole size in memory.
//!
//! A process killed while saving (SIGKILL, power loss) cannot remove its temporary file;
//! the next successful save to the same path removes such files once they have not been
//! modified for 15 minutes, so orphans do not pile up across crashes.
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

use std::collections::HashMap;
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use safetensors::tensor::{Dtype, Metadata, SafeTensors, TensorView};

use crate::float::Float;
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
    /// The file is well formed but does not fit what reads it (optimizer state for other
    /// parameters, a step count out of range).
    #[error("{path}: {message}")]
    Mismatch {
        /// The file.
        path: PathBuf,
        /// What does not fit.
        message: String,
    },
}

/// The safetensors dtype of `F`.
pub fn dtype_of<F: Float>() -> Dtype {
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
    let format = |message: String| FileError::Format {
        path: path.into(),
        message,
    };
    let (_, header) = SafeTensors::read_metadata(bytes).map_err(|e| format(e.to_string()))?;
    let file = SafeTensors::deserialize(bytes).map_err(|e| format(e.to_string()))?;
    let mut tensors = Vec::with_capacity(file.len());
    for (name, view) in file.iter() {
        if view.dtype() != dtype_of::<F>() {
            return Err(FileError::Dtype {
                path: path.into(),
                name: name.to_string(),
                expected: F::NAME,
                found: format!("{:?}", view.dtype()).to_lowercase(),
            });
        }
        let t = Tensor::from_le_bytes(view.data(), view.shape())
            .ok_or_else(|| format(format!("tensor '{name}' has the wrong byte count")))?;
        tensors.push((name.to_string(), t));
    }
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    let meta = header.metadata().clone().unwrap_or_default();
    Ok(TensorFile { tensors, meta })
}

/// Reads a tensor file: first its 8-byte length and its header, which must account for the
/// file's exact size, then its data.
pub fn read_tensors<F: Float>(path: &Path) -> Result<TensorFile<F>, FileError> {
    let io = |source| FileError::Io {
        path: path.into(),
        source,
    };
    let format = |message: String| FileError::Format {
        path: path.into(),
        message,
    };
    let mut file = fs::File::open(path).map_err(io)?;
    let size = file.metadata().map_err(io)?.len();
    let mut len = [0u8; 8];
    file.read_exact(&mut len)
        .map_err(|_| format(format!("{size} bytes is too short for a header")))?;
    let n = u64::from_le_bytes(len);
    if n > size - 8 || n > 100 << 20 {
        return Err(format(format!("header of {n} bytes in a file of {size} bytes")));
    }
    let mut buf = vec![0u8; 8 + n as usize];
    buf[..8].copy_from_slice(&len);
    file.read_exact(&mut buf[8..]).map_err(io)?;
    let header: Metadata = std::str::from_utf8(&buf[8..])
        .ok()
        .and_then(|s| serde_json::from_str(s).ok())
        .ok_or_else(|| format("the header is not a safetensors header".into()))?;
    let want = 8 + n + header.data_len() as u64;
    if want != size {
        return Err(format(format!(
            "the header describes {want} bytes, the file has {size}"
        )));
    }
    buf.reserve_exact((size - 8 - n) as usize);
    file.read_to_end(&mut buf).map_err(io)?;
    decode(&buf, path)
}

/// Writes `tensors` with `meta` to `path` atomically (see [`write_atomically`]).
pub fn write_tensors<F: Float>(
    path: &Path,
    tensors: &[(String, Tensor<F>)],
    meta: &[(&str, &str)],
) -> Result<(), FileError> {
    write_atomically(path, &encode(tensors, meta))
}

/// Writes `bytes` to a uniquely named temporary file beside `path` (`.{name}.XXXXXX.tmp`),
/// flushes it to disk, renames it over `path` and syncs the directory. On any error the
/// temporary file is removed and `path` is untouched. After a successful save, temporary
/// files of earlier saves to `path` that were killed (unmodified for 15 minutes) are
/// removed.
///
/// ```
/// let path = std::env::temp_dir().join("borel_doc_atomic.txt");
/// borel_autograd::io::write_atomically(&path, b"hello").unwrap();
/// assert_eq!(std::fs::read(&path).unwrap(), b"hello");
/// ```
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), FileError> {
    let io = |source| FileError::Io {
        path: path.into(),
        source,
    };
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let prefix = format!(
        ".{}.",
        path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default()
    );
    let mut tmp = tempfile::Builder::new()
        .prefix(&prefix)
        .rand_bytes(TEMP_RAND_LEN)
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(io)?;
    tmp.write_all(bytes).map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    sync_dir(dir).map_err(io)?;
    remove_stale_temps(dir, &prefix);
    Ok(())
}

/// The length of the random part of a temporary file's name.
const TEMP_RAND_LEN: usize = 6;

/// How long a temporary file must be left untouched before a save takes it for the orphan
/// of a killed save. A live save writes to its file from its start and renames it right
/// after the fsync, so only a save stalled for this long (suspended mid-save) could lose
/// its file, and it would then fail with an error, never corrupt the target.
const STALE_AFTER: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// Removes the orphaned temporary files of saves to the target named by `prefix`
/// (`.{name}.`): regular files named `{prefix}XXXXXX.tmp` and unmodified for
/// [`STALE_AFTER`]. Best effort: an error here never fails the save that has succeeded.
fn remove_stale_temps(dir: &Path, prefix: &str) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    let now = std::time::SystemTime::now();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let ours = name
            .to_str()
            .and_then(|n| n.strip_prefix(prefix)?.strip_suffix(".tmp"))
            .is_some_and(|r| r.len() == TEMP_RAND_LEN && r.bytes().all(|b| b.is_ascii_alphanumeric()));
        // `DirEntry::metadata` does not follow symbolic links: only our own regular files
        let stale = || {
            entry.metadata().is_ok_and(|m| {
                m.is_file()
                    && m.modified()
                        .is_ok_and(|t| now.duration_since(t).is_ok_and(|age| age > STALE_AFTER))
            })
        };
        if ours && stale() {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Makes a rename in `dir` durable (a no-op where directories cannot be opened as files).
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    fs::File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}
