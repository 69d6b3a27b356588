//! Data: standardization, train/validation split, shuffled mini-batches ([`DataLoader`],
//! sharded over the ranks of a data-parallel job with [`DataLoader::shard`]), CSV.

mod csv;
mod loader;
mod standardize;

pub use csv::{CsvError, load_csv};
pub use loader::{DataLoader, Epoch};
pub use standardize::{GlobalStandardizer, Standardizer};

use borel_autograd::{Float, Tensor};

/// Rows `rows` of a matrix (any rank; rows along the first dim).
pub(crate) fn take_rows<F: Float>(x: &Tensor<F>, rows: &[usize]) -> Tensor<F> {
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
