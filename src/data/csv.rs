//! CSV loading: every value range-checked in the element type, every error naming its line
//! and column.

use std::path::{Path, PathBuf};

use borel_autograd::{Float, Tensor};

/// A CSV file that could not be used, with the line and column of the problem.
#[derive(Debug, thiserror::Error)]
pub enum CsvError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A line is not valid UTF-8 (a Latin-1 or binary file).
    #[error("{path}:{line}:{column}: invalid UTF-8 (byte 0x{byte:02x} at byte {offset} of the line)")]
    Encoding {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column (field) holding the bad byte.
        column: usize,
        /// 1-based byte offset of the bad byte within the line.
        offset: usize,
        /// The first byte that is not UTF-8.
        byte: u8,
    },
    /// A field is not a number.
    #[error("{path}:{line}:{column}: '{value}' is not a number")]
    BadValue {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The field as written.
        value: String,
    },
    /// A number is infinite, or too large for the element type (`1e39` as `f32`).
    #[error("{path}:{line}:{column}: '{value}' is out of the finite range of {dtype}")]
    OutOfRange {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The field as written.
        value: String,
        /// The element type (`"f32"` or `"f64"`).
        dtype: &'static str,
    },
    /// A requested column index is beyond the first line of the file (the header, or the
    /// first data row without one).
    #[error("{path}:{line}: column index {index} does not exist: the line has {found} fields")]
    NoSuchColumn {
        /// The file.
        path: PathBuf,
        /// 1-based line the indices were checked against.
        line: usize,
        /// The 0-based index asked for.
        index: usize,
        /// Fields on that line.
        found: usize,
    },
    /// A line has too few fields.
    #[error("{path}:{line}: {found} fields, expected at least {expected}")]
    ShortLine {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// Fields found.
        found: usize,
        /// Fields needed.
        expected: usize,
    },
    /// No data rows.
    #[error("{path}: no data rows")]
    Empty {
        /// The file.
        path: PathBuf,
    },
}

/// Loads `(x, y)` from a comma-separated UTF-8 file (a leading byte-order mark is skipped):
/// `x_cols` and `y_cols` are 0-based column indices; with `header` the first line is
/// skipped. Lines may end in `\n`, `\r\n` or a lone `\r` (old Mac files); blank lines are
/// ignored. Values are parsed and range-checked in `F`: NaN, `inf` and numbers beyond `F`'s
/// finite range (`1e39` as `f32`) are errors. Errors name the line, and the column where
/// there is one, of the first problem; a column index beyond the first line is
/// [`CsvError::NoSuchColumn`].
///
/// ```
/// let path = std::env::temp_dir().join("borel_doc.csv");
/// std::fs::write(&path, "a,b,y\n1,2,3\n4,5,6\n").unwrap();
/// let (x, y) = borel::data::load_csv::<f32>(&path, &[0, 1], &[2], true).unwrap();
/// assert_eq!((x.shape(), y.data()), (&[2, 2][..], &[3.0, 6.0][..]));
/// std::fs::write(&path, "1,2,3\n4,x,6\n").unwrap();
/// let err = borel::data::load_csv::<f32>(&path, &[0, 1], &[2], false).unwrap_err();
/// assert!(err.to_string().ends_with(":2:2: 'x' is not a number"));
/// std::fs::write(&path, "1,2,3\n4,1e39,6\n").unwrap();
/// let err = borel::data::load_csv::<f32>(&path, &[0, 1], &[2], false).unwrap_err();
/// assert!(err.to_string().ends_with(":2:2: '1e39' is out of the finite range of f32"));
/// ```
pub fn load_csv<F: Float>(
    path: impl AsRef<Path>,
    x_cols: &[usize],
    y_cols: &[usize],
    header: bool,
) -> Result<(Tensor<F>, Tensor<F>), CsvError> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|source| CsvError::Io {
        path: path.into(),
        source,
    })?;
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    let (mut xs, mut ys, mut rows) = (Vec::new(), Vec::new(), 0);
    let mut need = None;
    for (i, raw) in csv_lines(bytes).enumerate() {
        let line = csv_line(raw, path, i + 1)?;
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let need = match need {
            Some(n) => n,
            None => *need.insert(columns_needed(x_cols, y_cols, fields.len(), path, i + 1)?),
        };
        if header && i == 0 {
            continue;
        }
        if fields.len() < need {
            return Err(CsvError::ShortLine {
                path: path.into(),
                line: i + 1,
                found: fields.len(),
                expected: need,
            });
        }
        for &c in x_cols {
            xs.push(csv_value::<F>(fields[c], path, i + 1, c + 1)?);
        }
        for &c in y_cols {
            ys.push(csv_value::<F>(fields[c], path, i + 1, c + 1)?);
        }
        rows += 1;
    }
    if rows == 0 {
        return Err(CsvError::Empty { path: path.into() });
    }
    Ok((
        Tensor::from_vec(xs, &[rows, x_cols.len()]),
        Tensor::from_vec(ys, &[rows, y_cols.len()]),
    ))
}

/// The lines of `bytes`, without their endings: `\n` (Unix), `\r\n` (Windows) and a lone
/// `\r` (classic Mac OS) each end one line, also mixed in one file.
fn csv_lines(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = Some(bytes);
    std::iter::from_fn(move || {
        let text = rest?;
        let Some(end) = text.iter().position(|&b| b == b'\n' || b == b'\r') else {
            rest = None;
            return Some(text);
        };
        let ending = if text[end..].starts_with(b"\r\n") { 2 } else { 1 };
        rest = Some(&text[end + ending..]);
        Some(&text[..end])
    })
}

/// Line `line` (1-based) as text, or the position of its first byte that is not UTF-8.
fn csv_line<'b>(raw: &'b [u8], path: &Path, line: usize) -> Result<&'b str, CsvError> {
    std::str::from_utf8(raw).map_err(|e| {
        let at = e.valid_up_to();
        CsvError::Encoding {
            path: path.into(),
            line,
            column: 1 + raw[..at].iter().filter(|&&b| b == b',').count(),
            offset: at + 1,
            byte: raw[at],
        }
    })
}

/// The number of fields a row needs, once every column index is checked against the
/// `found` fields of the file's first line (so that no index, not even `usize::MAX`, can
/// overflow or index past a row).
fn columns_needed(
    x_cols: &[usize],
    y_cols: &[usize],
    found: usize,
    path: &Path,
    line: usize,
) -> Result<usize, CsvError> {
    match x_cols.iter().chain(y_cols).copied().max() {
        Some(index) if index >= found => Err(CsvError::NoSuchColumn {
            path: path.into(),
            line,
            index,
            found,
        }),
        max => Ok(max.map_or(0, |m| m + 1)),
    }
}

/// One field as an `F`: a number whose value rounded to `F` is finite.
fn csv_value<F: Float>(field: &str, path: &Path, line: usize, column: usize) -> Result<F, CsvError> {
    let value = || field.to_string();
    let v = field
        .parse::<f64>()
        .ok()
        .filter(|v| !v.is_nan())
        .ok_or_else(|| CsvError::BadValue {
            path: path.into(),
            line,
            column,
            value: value(),
        })?;
    // narrowed first: `1e39` is a finite f64 but an infinite f32
    let v = F::from_f64(v);
    if v.is_finite() {
        Ok(v)
    } else {
        Err(CsvError::OutOfRange {
            path: path.into(),
            line,
            column,
            value: value(),
            dtype: F::NAME,
        })
    }
}
