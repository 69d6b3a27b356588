//! [`SummaryWriter`]: scalars and histograms from a user's own loop, into one event file.

use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use borel_autograd::Float;

use super::SummaryError;
use super::histogram::Histogram;
use super::record::{self, Message};

/// Buffered events reach the disk at least this often while a writer is used, as PyTorch's
/// `flush_secs` default, so a running TensorBoard shows a long run as it goes.
const FLUSH_EVERY: Duration = Duration::from_secs(120);

/// Event files this process has opened: the last part of each file's name, so two writers
/// opened in the same second and directory never share a file.
static FILES_OPENED: AtomicUsize = AtomicUsize::new(0);

/// Writes scalars and histograms that TensorBoard shows, as PyTorch's
/// `torch.utils.tensorboard.SummaryWriter` does: one event file per writer,
/// `events.out.tfevents.{seconds}.{host}.{pid}.{n}` in the log directory. Events are buffered;
/// they reach the file on [`SummaryWriter::flush`], every two minutes while writing, and
/// when the writer is dropped. View them with `tensorboard --logdir runs`.
///
/// ```
/// use borel::prelude::*;
/// # let dir = tempfile::tempdir().unwrap();
/// # let runs = dir.path().join("runs");
/// let mut writer = SummaryWriter::new(runs.join("exp1"))?;
/// for step in 0..100 {
///     let loss = 1.0 / (1.0 + step as f64);
///     writer.scalar("loss", step, loss)?;
/// }
/// writer.histogram("weights", 99, &[0.5f32, -0.25, 0.125])?;
/// writer.flush()?;
/// assert!(writer.path().starts_with(runs.join("exp1")));
/// # Ok::<(), borel::tensorboard::SummaryError>(())
/// ```
pub struct SummaryWriter {
    file: BufWriter<File>,
    path: PathBuf,
    last_flush: Instant,
}

impl SummaryWriter {
    /// Creates `log_dir` (and its parents) if needed and a new event file in it, whose first
    /// record declares the file version TensorBoard expects.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// let writer = borel::tensorboard::SummaryWriter::new(dir.path().join("runs/exp1"))?;
    /// let name = writer.path().file_name().unwrap().to_str().unwrap();
    /// assert!(name.starts_with("events.out.tfevents."));
    /// # Ok::<(), borel::tensorboard::SummaryError>(())
    /// ```
    pub fn new(log_dir: impl AsRef<Path>) -> Result<Self, SummaryError> {
        let dir = log_dir.as_ref();
        fs::create_dir_all(dir).map_err(|e| SummaryError::io("create the directory", dir, e))?;
        let n = FILES_OPENED.fetch_add(1, Ordering::Relaxed);
        let seconds = wall_time() as u64;
        let name = format!(
            "events.out.tfevents.{seconds:010}.{}.{}.{n}",
            hostname(),
            std::process::id()
        );
        let path = dir.join(name);
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| SummaryError::io("create the event file", &path, e))?;
        let mut writer = SummaryWriter {
            file: BufWriter::new(file),
            path,
            last_flush: Instant::now(),
        };
        writer.write(&record::file_version_event(wall_time()))?;
        writer.flush()?;
        Ok(writer)
    }

    /// The event file this writer appends to.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// let writer = borel::tensorboard::SummaryWriter::new(dir.path())?;
    /// assert_eq!(writer.path().parent(), Some(dir.path()));
    /// # Ok::<(), borel::tensorboard::SummaryError>(())
    /// ```
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records `value` under `tag` at `step` (PyTorch's `add_scalar`). The value is stored as
    /// an f32, as TensorBoard's scalars are; NaN and infinities are kept as they are.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// let mut writer = borel::tensorboard::SummaryWriter::new(dir.path())?;
    /// writer.scalar("loss/train", 0, 0.75)?;
    /// writer.scalar("accuracy", 0, 0.5f32)?;
    /// # Ok::<(), borel::tensorboard::SummaryError>(())
    /// ```
    pub fn scalar(&mut self, tag: &str, step: usize, value: impl Into<f64>) -> Result<(), SummaryError> {
        let value = record::scalar_value(tag, value.into() as f32);
        self.write(&record::summary_event(wall_time(), step_i64(step), &value))
    }

    /// Records the distribution of `values` under `tag` at `step` (PyTorch's
    /// `add_histogram`), over TensorFlow's default buckets. A NaN or an infinity among the
    /// values is an error (TensorFlow's histograms have no bucket for it), and nothing is
    /// written.
    ///
    /// ```
    /// use borel::prelude::*;
    /// # let dir = tempfile::tempdir().unwrap();
    /// let mut writer = SummaryWriter::new(dir.path())?;
    /// let weights = Tensor::<f32>::from_fn(&[4, 3], |i| i as f32 / 12.0 - 0.5);
    /// writer.histogram("dense/kernel", 0, weights.data())?;
    /// assert!(writer.histogram("bad", 0, &[1.0, f64::NAN]).is_err());
    /// # Ok::<(), borel::tensorboard::SummaryError>(())
    /// ```
    pub fn histogram<F: Float>(&mut self, tag: &str, step: usize, values: &[F]) -> Result<(), SummaryError> {
        if let Some(bad) = values.iter().find(|v| !v.is_finite()) {
            return Err(SummaryError::NonFiniteHistogram {
                tag: tag.to_string(),
                step,
                value: bad.to_f64(),
            });
        }
        let histogram = Histogram::of(values.iter().map(|v| v.to_f64())).encode();
        let value = record::histogram_value(tag, &histogram);
        self.write(&record::summary_event(wall_time(), step_i64(step), &value))
    }

    /// Writes the buffered events to the file.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// let mut writer = borel::tensorboard::SummaryWriter::new(dir.path())?;
    /// writer.scalar("loss", 0, 1.0)?;
    /// writer.flush()?;
    /// assert!(std::fs::metadata(writer.path()).unwrap().len() > 0);
    /// # Ok::<(), borel::tensorboard::SummaryError>(())
    /// ```
    pub fn flush(&mut self) -> Result<(), SummaryError> {
        self.last_flush = Instant::now();
        self.file
            .flush()
            .map_err(|e| SummaryError::io("write to the event file", &self.path, e))
    }

    /// Appends one event as a TFRecord; flushes when the last flush is old.
    fn write(&mut self, event: &Message) -> Result<(), SummaryError> {
        record::write_record(&mut self.file, event.as_bytes())
            .map_err(|e| SummaryError::io("write to the event file", &self.path, e))?;
        if self.last_flush.elapsed() >= FLUSH_EVERY {
            self.flush()?;
        }
        Ok(())
    }
}

impl Drop for SummaryWriter {
    /// Flushes what is buffered; an error here cannot be returned, so call
    /// [`SummaryWriter::flush`] first to see it.
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

/// Seconds since the Unix epoch, as the `wall_time` of an event.
fn wall_time() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Steps are `int64` in the protobuf; no loop reaches `i64::MAX`.
fn step_i64(step: usize) -> i64 {
    i64::try_from(step).unwrap_or(i64::MAX)
}

/// The machine's name for the event file's name, as TensorFlow and PyTorch put it there.
/// TensorBoard reads any file whose name holds "tfevents", so this is only a label: the
/// kernel's name on Linux, `COMPUTERNAME` on Windows, `HOSTNAME` if exported, else
/// "localhost"; characters a file name should not hold become '_'.
fn hostname() -> String {
    let name = fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".to_string());
    let safe = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    name.chars().map(|c| if safe(c) { c } else { '_' }).collect()
}

#[cfg(test)]
mod tests {
    use super::record::decode::{Field, fields, records};
    use super::*;

    fn events(writer: &SummaryWriter) -> Vec<Vec<Field>> {
        let bytes = fs::read(writer.path()).unwrap();
        records(&bytes).iter().map(|r| fields(r)).collect()
    }

    #[test]
    fn the_file_starts_with_its_version_and_holds_each_scalar() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = SummaryWriter::new(dir.path()).unwrap();
        assert_eq!(events(&w).len(), 1, "the version record is flushed at once");
        for step in 0..3 {
            w.scalar("loss", step, 1.5 * step as f64).unwrap();
        }
        assert_eq!(events(&w).len(), 1, "scalars wait in the buffer");
        w.flush().unwrap();
        let ev = events(&w);
        assert_eq!(ev[0][1], Field::Bytes(3, b"brain.Event:2".to_vec()));
        assert_eq!(ev.len(), 4);
        assert_eq!(ev[3][1], Field::Varint(2, 2));
    }

    #[test]
    fn dropping_the_writer_flushes() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = SummaryWriter::new(dir.path()).unwrap();
        w.scalar("loss", 0, 1.0).unwrap();
        let path = w.path().to_path_buf();
        drop(w);
        assert_eq!(records(&fs::read(path).unwrap()).len(), 2);
    }

    #[test]
    fn two_writers_in_one_directory_get_two_files() {
        let dir = tempfile::tempdir().unwrap();
        let a = SummaryWriter::new(dir.path()).unwrap();
        let b = SummaryWriter::new(dir.path()).unwrap();
        assert_ne!(a.path(), b.path());
        let name = a.path().file_name().unwrap().to_str().unwrap().to_string();
        let parts: Vec<&str> = name.split('.').collect();
        assert_eq!(&parts[..3], ["events", "out", "tfevents"]);
        assert_eq!(parts[3].len(), 10, "seconds, ten digits: {name}");
        assert_eq!(parts[5], std::process::id().to_string());
        assert_eq!(parts.len(), 7, "{name}");
    }

    #[test]
    fn a_directory_that_cannot_be_made_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("plain_file");
        fs::write(&file, b"x").unwrap();
        let err = SummaryWriter::new(file.join("runs"))
            .err()
            .expect("a file cannot hold a directory");
        assert!(matches!(err, SummaryError::Io { .. }));
        assert!(err.to_string().contains("plain_file"), "{err}");
    }

    #[test]
    fn non_finite_histogram_values_are_refused_and_nothing_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = SummaryWriter::new(dir.path()).unwrap();
        let err = w.histogram("w", 3, &[0.0f32, f32::INFINITY]).unwrap_err();
        assert!(err.to_string().contains("'w' at step 3"), "{err}");
        w.flush().unwrap();
        assert_eq!(events(&w).len(), 1);
    }
}
