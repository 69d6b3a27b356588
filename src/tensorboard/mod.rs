//! Logs that TensorBoard reads: a [`SummaryWriter`] for your own loop (PyTorch's
//! `SummaryWriter`) and a [`TensorBoard`] callback for `fit` (Keras' `TensorBoard`).
//!
//! Both write TensorFlow event files, `events.out.tfevents.{seconds}.{host}.{pid}.{n}`: a
//! sequence of TFRecords (length, masked CRC-32C of the length, an `Event` protobuf, masked
//! CRC-32C of the event), the first declaring `file_version = "brain.Event:2"`. A scalar is a
//! `Summary.Value` with `simple_value`, the form PyTorch writes: TensorBoard's classic
//! reader (`event_accumulator.EventAccumulator`) lists it under `Scalars(tag)`, and the
//! reader behind TensorBoard's web page migrates it to its scalars plugin. (The newer form,
//! a tensor with scalars-plugin metadata that `tf.summary.scalar` writes, shows on the page
//! too but the classic reader files it under `Tensors`, not `Scalars`.) Histograms are
//! `HistogramProto`s over TensorFlow's default buckets.
//!
//! ```
//! use borel::prelude::*;
//! # let dir = tempfile::tempdir().unwrap();
//! # let runs = dir.path().join("runs");
//! let mut writer = SummaryWriter::new(runs.join("exp1"))?;
//! for step in 0..10 {
//!     writer.scalar("loss", step, 1.0 / (1.0 + step as f64))?;
//! }
//! // Then: tensorboard --logdir runs
//! # Ok::<(), borel::tensorboard::SummaryError>(())
//! ```

mod callback;
mod histogram;
mod record;
mod writer;

use std::path::{Path, PathBuf};

pub use callback::TensorBoard;
pub use writer::SummaryWriter;

/// What can go wrong while logging: the file system, or values a histogram cannot hold.
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// # let blocker = dir.path().join("a_file");
/// # std::fs::write(&blocker, b"").unwrap();
/// use borel::tensorboard::{SummaryError, SummaryWriter};
/// match SummaryWriter::new(blocker.join("runs")) {
///     Err(SummaryError::Io { path, .. }) => assert!(path.ends_with("runs")),
///     _ => unreachable!("a file cannot hold a directory"),
/// }
/// ```
#[derive(Debug, thiserror::Error)]
pub enum SummaryError {
    /// A directory or an event file could not be made or written.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// What was being done ("create the directory", "write to the event file", ...).
        action: &'static str,
        /// The directory or file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A histogram was given a NaN or an infinity; nothing was written.
    #[error("histogram '{tag}' at step {step}: {value} has no bucket (values must be finite)")]
    NonFiniteHistogram {
        /// The histogram's tag.
        tag: String,
        /// Its step.
        step: usize,
        /// The first non-finite value.
        value: f64,
    },
}

impl SummaryError {
    fn io(action: &'static str, path: &Path, source: std::io::Error) -> Self {
        SummaryError::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}
