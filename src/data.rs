//! Datasets: the seed experiment's surface, standardization, train/validation split, CSV.

use std::path::{Path, PathBuf};

use borel_autograd::{Float, Tensor};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, StandardNormal};

/// The seed post's target: `y = x1^2 + 2 x2^2 - 0.2 cos(3 pi x1) - 0.4 cos(4 pi x2)`.
pub fn seed_target(x1: f64, x2: f64) -> f64 {
    use std::f64::consts::PI;
    x1 * x1 + 2.0 * x2 * x2 - 0.2 * (3.0 * PI * x1).cos() - 0.4 * (4.0 * PI * x2).cos()
}

/// The seed surface: `n` samples with `x1 = 2 N(0, 1)` (generator seeded with `seed_x1`) and
/// `x2 = N(0, 1)` (seeded with `seed_x2`), raw (not standardized), and the target `y`.
/// Returns `x` of shape `[n, 2]` and `y` of shape `[n, 1]`.
///
/// ```
/// let (x, y) = borel::data::seed_surface::<f64>(1000, 1, 10);
/// assert_eq!((x.shape(), y.shape()), (&[1000, 2][..], &[1000, 1][..]));
/// ```
pub fn seed_surface<F: Float>(n: usize, seed_x1: u64, seed_x2: u64) -> (Tensor<F>, Tensor<F>) {
    let (mut r1, mut r2) = (StdRng::seed_from_u64(seed_x1), StdRng::seed_from_u64(seed_x2));
    let x1: Vec<f64> = (0..n)
        .map(|_| 2.0 * Distribution::<f64>::sample(&StandardNormal, &mut r1))
        .collect();
    let x2: Vec<f64> = (0..n).map(|_| StandardNormal.sample(&mut r2)).collect();
    let x = Tensor::from_fn(&[n, 2], |i| F::from_f64(if i % 2 == 0 { x1[i / 2] } else { x2[i / 2] }));
    let y = Tensor::from_fn(&[n, 1], |i| F::from_f64(seed_target(x1[i], x2[i])));
    (x, y)
}

/// Standardization with ONE mean and ONE standard deviation over every element of the
/// matrix, as the seed post does (`(x - mean(x)) / std(x)`, population std as NumPy's).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GlobalStandardizer {
    /// The mean of all elements.
    pub mean: f64,
    /// Their standard deviation.
    pub std: f64,
}

impl GlobalStandardizer {
    /// Mean and std of every element of `x`.
    pub fn fit<F: Float>(x: &Tensor<F>) -> Self {
        let n = x.numel().max(1) as f64;
        let mean = x.data().iter().map(|v| v.to_f64()).sum::<f64>() / n;
        let var = x.data().iter().map(|v| (v.to_f64() - mean).powi(2)).sum::<f64>() / n;
        GlobalStandardizer { mean, std: var.sqrt() }
    }
    /// `(x - mean) / std`.
    pub fn transform<F: Float>(&self, x: &Tensor<F>) -> Tensor<F> {
        x.map(|v| F::from_f64((v.to_f64() - self.mean) / self.std))
    }
}

/// Standardization per feature (column) of an `[n, d]` matrix.
#[derive(Clone, Debug, PartialEq)]
pub struct Standardizer {
    /// The mean of each column.
    pub mean: Vec<f64>,
    /// The standard deviation of each column.
    pub std: Vec<f64>,
}

impl Standardizer {
    /// Column means and stds of `x` (`[n, d]`).
    #[track_caller]
    pub fn fit<F: Float>(x: &Tensor<F>) -> Self {
        assert!(
            x.rank() == 2,
            "Standardizer::fit: needs an [n, d] matrix, got shape {:?}",
            x.shape()
        );
        let (n, d) = (x.shape()[0], x.shape()[1]);
        let col = |j: usize| (0..n).map(move |i| x.data()[i * d + j].to_f64());
        let mean: Vec<f64> = (0..d).map(|j| col(j).sum::<f64>() / n.max(1) as f64).collect();
        let std = (0..d)
            .map(|j| (col(j).map(|v| (v - mean[j]).powi(2)).sum::<f64>() / n.max(1) as f64).sqrt())
            .collect();
        Standardizer { mean, std }
    }
    /// `(x - mean) / std` per column; columns with zero spread are only centered.
    pub fn transform<F: Float>(&self, x: &Tensor<F>) -> Tensor<F> {
        let d = self.mean.len();
        Tensor::from_fn(x.shape(), |i| {
            let j = i % d;
            let s = if self.std[j] > 0.0 { self.std[j] } else { 1.0 };
            F::from_f64((x.data()[i].to_f64() - self.mean[j]) / s)
        })
    }
}

/// Rows `rows` of a matrix (any rank; rows along the first dim).
pub fn take_rows<F: Float>(x: &Tensor<F>, rows: &[usize]) -> Tensor<F> {
    let w = x.numel() / x.shape()[0].max(1);
    let mut shape = x.shape().to_vec();
    shape[0] = rows.len();
    Tensor::from_fn(&shape, |i| x.data()[rows[i / w] * w + i % w])
}

/// Inputs and targets: `(x, y)`.
pub type Pair<F> = (Tensor<F>, Tensor<F>);

/// Keras' `validation_split`: the LAST `fraction` of the samples (taken before any shuffling)
/// become the validation set. Returns `((x_train, y_train), (x_val, y_val))`.
pub fn split_last<F: Float>(x: &Tensor<F>, y: &Tensor<F>, fraction: f64) -> (Pair<F>, Pair<F>) {
    let n = x.shape()[0];
    let n_val = ((n as f64) * fraction).round() as usize;
    let train: Vec<usize> = (0..n - n_val).collect();
    let val: Vec<usize> = (n - n_val..n).collect();
    (
        (take_rows(x, &train), take_rows(y, &train)),
        (take_rows(x, &val), take_rows(y, &val)),
    )
}

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

/// Loads `(x, y)` from a comma-separated file: `x_cols` and `y_cols` are 0-based column
/// indices; with `header` the first line is skipped. Blank lines are ignored. Errors name the
/// line and column of the first bad value.
///
/// ```
/// let path = std::env::temp_dir().join("borel_doc.csv");
/// std::fs::write(&path, "a,b,y\n1,2,3\n4,5,6\n").unwrap();
/// let (x, y) = borel::data::load_csv::<f32>(&path, &[0, 1], &[2], true).unwrap();
/// assert_eq!((x.shape(), y.data()), (&[2, 2][..], &[3.0, 6.0][..]));
/// std::fs::write(&path, "1,2,3\n4,x,6\n").unwrap();
/// let err = borel::data::load_csv::<f32>(&path, &[0, 1], &[2], false).unwrap_err();
/// assert!(err.to_string().ends_with(":2:2: 'x' is not a number"));
/// ```
pub fn load_csv<F: Float>(
    path: impl AsRef<Path>,
    x_cols: &[usize],
    y_cols: &[usize],
    header: bool,
) -> Result<(Tensor<F>, Tensor<F>), CsvError> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|source| CsvError::Io {
        path: path.into(),
        source,
    })?;
    let need = x_cols.iter().chain(y_cols).max().map_or(0, |m| m + 1);
    let (mut xs, mut ys, mut rows) = (Vec::new(), Vec::new(), 0);
    for (i, line) in text.lines().enumerate().skip(usize::from(header)) {
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if fields.len() < need {
            return Err(CsvError::ShortLine {
                path: path.into(),
                line: i + 1,
                found: fields.len(),
                expected: need,
            });
        }
        let parse = |c: usize| {
            fields[c]
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .map(F::from_f64)
                .ok_or_else(|| CsvError::BadValue {
                    path: path.into(),
                    line: i + 1,
                    column: c + 1,
                    value: fields[c].to_string(),
                })
        };
        for &c in x_cols {
            xs.push(parse(c)?);
        }
        for &c in y_cols {
            ys.push(parse(c)?);
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

/// The least-squares SSE of `y` on `[1, x]` (a linear model with intercept), solved in `f64`
/// by the normal equations: the best any purely linear network can do on the same data.
pub fn least_squares_sse<F: Float>(x: &Tensor<F>, y: &Tensor<F>) -> f64 {
    let (n, d) = (x.shape()[0], x.shape()[1]);
    let k = d + 1;
    let row = |i: usize| std::iter::once(1.0).chain((0..d).map(move |j| x.data()[i * d + j].to_f64()));
    let mut a = vec![0.0; k * k];
    let mut b = vec![0.0; k];
    for i in 0..n {
        let r: Vec<f64> = row(i).collect();
        let yi = y.data()[i].to_f64();
        for p in 0..k {
            b[p] += r[p] * yi;
            for q in 0..k {
                a[p * k + q] += r[p] * r[q];
            }
        }
    }
    // Gaussian elimination with partial pivoting.
    for c in 0..k {
        let piv = (c..k)
            .max_by(|&i, &j| a[i * k + c].abs().total_cmp(&a[j * k + c].abs()))
            .unwrap_or(c);
        for q in 0..k {
            a.swap(c * k + q, piv * k + q);
        }
        b.swap(c, piv);
        for r in c + 1..k {
            let f = a[r * k + c] / a[c * k + c];
            for q in c..k {
                a[r * k + q] -= f * a[c * k + q];
            }
            b[r] -= f * b[c];
        }
    }
    let mut w = vec![0.0; k];
    for c in (0..k).rev() {
        let s: f64 = (c + 1..k).map(|q| a[c * k + q] * w[q]).sum();
        w[c] = (b[c] - s) / a[c * k + c];
    }
    (0..n)
        .map(|i| (y.data()[i].to_f64() - row(i).zip(&w).map(|(v, wi)| v * wi).sum::<f64>()).powi(2))
        .sum()
}
