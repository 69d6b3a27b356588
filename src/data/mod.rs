//! Data: standardization, train/validation split, shuffled mini-batches ([`DataLoader`]), CSV.

mod csv;

pub use csv::{CsvError, load_csv};

use borel_autograd::{Float, Tensor};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

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

/// Mini-batches of the rows of `(x, y)` (samples along the first dim), as PyTorch's
/// `DataLoader(TensorDataset(x, y), batch_size, shuffle=True)` or Keras' `fit` give them:
/// every row exactly once per epoch, the last batch short when `batch_size` does not divide
/// the rows, and, after [`shuffle`](Self::shuffle), a new order each epoch drawn from a seeded
/// generator (the same seed gives the same sequence of epochs).
///
/// ```
/// use borel::Tensor;
/// use borel::data::DataLoader;
/// let x = Tensor::<f32>::from_fn(&[10, 2], |i| i as f32);
/// let y = Tensor::<f32>::from_fn(&[10, 1], |i| i as f32);
/// let mut loader = DataLoader::new(&x, &y, 4).shuffle(7);
/// assert_eq!(loader.len(), 3); // batches per epoch
/// for _epoch in 0..2 {
///     let mut sizes = vec![];
///     for (xb, yb) in loader.epoch() {
///         assert_eq!((xb.shape()[1], yb.shape()[1]), (2, 1));
///         sizes.push(xb.shape()[0]);
///     }
///     assert_eq!(sizes, [4, 4, 2]);
/// }
/// ```
#[derive(Debug)]
pub struct DataLoader<'a, F: Float> {
    x: &'a Tensor<F>,
    y: &'a Tensor<F>,
    batch_size: usize,
    order: Vec<usize>,
    rng: Option<StdRng>,
    drawn: u64,
}

impl<'a, F: Float> DataLoader<'a, F> {
    /// Batches of `batch_size` rows of `x` and `y`, in order (no shuffling).
    ///
    /// # Panics
    /// When `batch_size` is zero, either tensor is a scalar, or `x` and `y` differ in rows.
    #[track_caller]
    pub fn new(x: &'a Tensor<F>, y: &'a Tensor<F>, batch_size: usize) -> Self {
        assert!(batch_size > 0, "DataLoader::new: batch_size must be at least 1");
        assert!(
            x.rank() > 0 && y.rank() > 0 && x.shape()[0] == y.shape()[0],
            "DataLoader::new: x of shape {:?} and y of shape {:?} need the same number of rows (first dim)",
            x.shape(),
            y.shape()
        );
        DataLoader {
            x,
            y,
            batch_size,
            order: (0..x.shape()[0]).collect(),
            rng: None,
            drawn: 0,
        }
    }

    /// Reshuffle the rows at the start of every epoch, with a generator seeded by `seed`.
    /// Each epoch permutes the previous epoch's order, as Keras' and PyTorch's loaders draw
    /// each epoch from one generator, so epochs differ while the run stays reproducible.
    pub fn shuffle(mut self, seed: u64) -> Self {
        self.rng = Some(StdRng::seed_from_u64(seed));
        self
    }

    /// Batches per epoch (PyTorch's `len(loader)`).
    pub fn len(&self) -> usize {
        self.order.len().div_ceil(self.batch_size)
    }

    /// Whether there are no rows at all.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// Rows per epoch.
    pub fn num_samples(&self) -> usize {
        self.order.len()
    }

    /// The next epoch's batches: reshuffles first when [`shuffle`](Self::shuffle) was set.
    pub fn epoch(&mut self) -> Epoch<'_, 'a, F> {
        self.draw();
        Epoch { loader: self, next: 0 }
    }

    /// Epochs drawn so far with [`epoch`](Self::epoch) or [`skip_epochs`](Self::skip_epochs):
    /// with the seed, the whole state of the shuffling.
    pub fn epochs_drawn(&self) -> u64 {
        self.drawn
    }

    /// Draws `n` epochs without yielding their batches, so that a loader built again with
    /// the same seed continues where one that had drawn `n` epochs was (how `fit` resumes):
    /// the orders are replayed, `n` shuffles of the rows.
    ///
    /// ```
    /// use borel::Tensor;
    /// use borel::data::DataLoader;
    /// let (x, y) = (Tensor::<f32>::zeros(&[10, 1]), Tensor::<f32>::zeros(&[10, 1]));
    /// let mut first = DataLoader::new(&x, &y, 4).shuffle(7);
    /// for _ in 0..3 {
    ///     let _ = first.epoch();
    /// }
    /// let mut again = DataLoader::new(&x, &y, 4).shuffle(7);
    /// again.skip_epochs(3);
    /// assert_eq!(again.epochs_drawn(), 3);
    /// assert_eq!(again.epoch().order(), first.epoch().order());
    /// ```
    pub fn skip_epochs(&mut self, n: u64) {
        for _ in 0..n {
            self.draw();
        }
    }

    fn draw(&mut self) {
        if let Some(rng) = self.rng.as_mut() {
            self.order.shuffle(rng);
        }
        self.drawn += 1;
    }
}

/// One epoch of a [`DataLoader`]: yields `(x_batch, y_batch)`.
#[derive(Debug)]
pub struct Epoch<'l, 'a, F: Float> {
    loader: &'l DataLoader<'a, F>,
    next: usize,
}

impl<F: Float> Epoch<'_, '_, F> {
    /// The row indices of this epoch's batches, in the order they are yielded.
    pub fn order(&self) -> &[usize] {
        &self.loader.order
    }
}

impl<F: Float> Iterator for Epoch<'_, '_, F> {
    type Item = Pair<F>;

    fn next(&mut self) -> Option<Pair<F>> {
        let l = self.loader;
        let start = self.next * l.batch_size;
        if start >= l.order.len() {
            return None;
        }
        let rows = &l.order[start..(start + l.batch_size).min(l.order.len())];
        self.next += 1;
        Some((take_rows(l.x, rows), take_rows(l.y, rows)))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.loader.len() - self.next.min(self.loader.len());
        (left, Some(left))
    }
}

impl<F: Float> ExactSizeIterator for Epoch<'_, '_, F> {}

#[cfg(test)]
mod tests {
    use super::*;

    /// Row `i` of x is `[i, -i]`, of y `[10 i]`: any batch can be traced back to its rows.
    fn data(n: usize) -> (Tensor<f64>, Tensor<f64>) {
        let x = Tensor::from_fn(&[n, 2], |k| if k % 2 == 0 { (k / 2) as f64 } else { -((k / 2) as f64) });
        let y = Tensor::from_fn(&[n, 1], |i| 10.0 * i as f64);
        (x, y)
    }

    /// The rows of each batch of one epoch, checked to agree between x and y.
    fn epoch_rows(loader: &mut DataLoader<'_, f64>) -> Vec<Vec<usize>> {
        loader
            .epoch()
            .map(|(xb, yb)| {
                let rows: Vec<usize> = xb.data().iter().step_by(2).map(|&v| v as usize).collect();
                let from_y: Vec<usize> = yb.data().iter().map(|&v| (v / 10.0) as usize).collect();
                assert_eq!(rows, from_y, "x and y batches hold different rows");
                assert!(xb.data().chunks(2).all(|r| r[1] == -r[0]), "a row was torn apart");
                rows
            })
            .collect()
    }

    #[test]
    fn every_row_once_per_epoch_and_the_last_batch_short() {
        let (x, y) = data(10);
        let mut loader = DataLoader::new(&x, &y, 4).shuffle(3);
        assert_eq!((loader.len(), loader.num_samples()), (3, 10));
        for _ in 0..5 {
            let batches = epoch_rows(&mut loader);
            assert_eq!(batches.iter().map(Vec::len).collect::<Vec<_>>(), [4, 4, 2]);
            let mut all: Vec<usize> = batches.concat();
            all.sort_unstable();
            assert_eq!(all, (0..10).collect::<Vec<_>>());
        }
        assert_eq!(loader.epoch().len(), 3);
    }

    #[test]
    fn unshuffled_batches_keep_the_row_order() {
        let (x, y) = data(5);
        let mut loader = DataLoader::new(&x, &y, 2);
        for _ in 0..2 {
            assert_eq!(epoch_rows(&mut loader), [vec![0, 1], vec![2, 3], vec![4]]);
        }
    }

    #[test]
    fn same_seed_same_epochs_and_epochs_differ() {
        let (x, y) = data(64);
        let run = |seed| {
            let mut loader = DataLoader::new(&x, &y, 16).shuffle(seed);
            (0..3).map(|_| epoch_rows(&mut loader).concat()).collect::<Vec<_>>()
        };
        let a = run(11);
        assert_eq!(a, run(11));
        assert_ne!(a, run(12));
        assert!(a[0] != a[1] && a[1] != a[2], "epochs repeat their order");
        assert_ne!(a[0], (0..64).collect::<Vec<_>>());
    }

    #[test]
    fn shuffling_matches_one_generator_permuting_the_last_order() {
        // What `Model::fit` has always done; a loader in its place keeps results bit for bit.
        let (x, y) = data(40);
        let mut loader = DataLoader::new(&x, &y, 8).shuffle(5);
        let mut rng = StdRng::seed_from_u64(5);
        let mut order: Vec<usize> = (0..40).collect();
        for _ in 0..3 {
            order.shuffle(&mut rng);
            assert_eq!(loader.epoch().order(), order.as_slice());
        }
    }

    #[test]
    #[should_panic(expected = "DataLoader::new: x of shape [4, 2] and y of shape [3, 1]")]
    fn rows_must_agree() {
        let (x, _) = data(4);
        let (_, y) = data(3);
        let _ = DataLoader::new(&x, &y, 2);
    }
}
