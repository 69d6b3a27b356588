//! Standardization: one scale for the whole matrix, or one per feature.

use borel_autograd::{Float, Tensor};

/// Standardization with ONE mean and ONE standard deviation over every element of the
/// matrix (`(x - mean(x)) / std(x)`, population std as NumPy's): one scale for all
/// features, so their relative sizes are kept.
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
