//! Shuffled mini-batches: [`DataLoader`], and its share of each epoch on one rank of a
//! data-parallel job.

use borel_autograd::{Float, Tensor};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use super::{Pair, take_rows};

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
    /// `(rank, ranks)` after [`shard`](Self::shard), and this epoch's share of `order`.
    shard: Option<(usize, usize)>,
    share: Vec<usize>,
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
            shard: None,
            share: Vec::new(),
        }
    }

    /// Reshuffle the rows at the start of every epoch, with a generator seeded by `seed`.
    /// Each epoch permutes the previous epoch's order, as Keras' and PyTorch's loaders draw
    /// each epoch from one generator, so epochs differ while the run stays reproducible.
    pub fn shuffle(mut self, seed: u64) -> Self {
        self.rng = Some(StdRng::seed_from_u64(seed));
        self
    }

    /// Only this rank's share of every epoch, for data-parallel training on `ranks` processes
    /// (rank `rank`), as PyTorch's `DistributedSampler` gives it: every rank draws the same
    /// seeded order of all rows, pads it by wrapping around to a multiple of `ranks`, and takes
    /// every `ranks`-th row from position `rank`. So the shares are disjoint (but for the
    /// padding), cover every row each epoch, and have the same length, so every rank runs the
    /// same number of steps. Step `k` of the ranks together covers the rows that one process
    /// with batches of `ranks x batch_size` would see at its step `k` over the padded order.
    ///
    /// ```
    /// use borel::Tensor;
    /// use borel::data::DataLoader;
    /// let (x, y) = (Tensor::<f32>::zeros(&[10, 1]), Tensor::<f32>::zeros(&[10, 1]));
    /// let mut all = DataLoader::new(&x, &y, 2).shuffle(7);
    /// let order = all.epoch().order().to_vec();
    /// let mut shares = (0..3).map(|r| DataLoader::new(&x, &y, 2).shuffle(7).shard(r, 3));
    /// let first = shares.next().unwrap();
    /// assert_eq!((first.num_samples(), first.len()), (4, 2)); // 10 rows padded to 12, 4 each
    /// let mut third = shares.nth(1).unwrap();
    /// let padded = [order.as_slice(), &order[..2]].concat();
    /// assert_eq!(third.epoch().order(), [padded[2], padded[5], padded[8], padded[11]]);
    /// ```
    ///
    /// # Panics
    /// When `ranks` is zero or `rank` is not below it.
    #[track_caller]
    pub fn shard(mut self, rank: usize, ranks: usize) -> Self {
        assert!(
            rank < ranks,
            "DataLoader::shard: rank {rank} of {ranks} ranks (rank must be below the count)"
        );
        self.shard = Some((rank, ranks));
        self.share = share(&self.order, rank, ranks);
        self
    }

    /// Batches per epoch (PyTorch's `len(loader)`).
    pub fn len(&self) -> usize {
        self.num_samples().div_ceil(self.batch_size)
    }

    /// Whether there are no rows at all.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// Rows per epoch (of this rank's share, after [`shard`](Self::shard)).
    pub fn num_samples(&self) -> usize {
        self.rows().len()
    }

    /// The rows of the epoch drawn last, in the order they are yielded.
    fn rows(&self) -> &[usize] {
        if self.shard.is_some() { &self.share } else { &self.order }
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
        if let Some((rank, ranks)) = self.shard {
            self.share = share(&self.order, rank, ranks);
        }
        self.drawn += 1;
    }
}

/// Rank `rank`'s share of `order` among `ranks`: `order` padded by wrapping around to a
/// multiple of `ranks`, then every `ranks`-th row from position `rank` (`DistributedSampler`).
fn share(order: &[usize], rank: usize, ranks: usize) -> Vec<usize> {
    let total = order.len().div_ceil(ranks) * ranks;
    let padded = order.iter().cycle().take(if order.is_empty() { 0 } else { total });
    padded.skip(rank).step_by(ranks).copied().collect()
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
        self.loader.rows()
    }
}

impl<F: Float> Iterator for Epoch<'_, '_, F> {
    type Item = Pair<F>;

    fn next(&mut self) -> Option<Pair<F>> {
        let l = self.loader;
        let (all, start) = (l.rows(), self.next * l.batch_size);
        if start >= all.len() {
            return None;
        }
        let rows = &all[start..(start + l.batch_size).min(all.len())];
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
    fn shards_are_equal_strided_shares_of_one_padded_order() {
        let (x, y) = data(10);
        let mut whole = DataLoader::new(&x, &y, 3).shuffle(9);
        let mut shards: Vec<_> = (0..4)
            .map(|r| DataLoader::new(&x, &y, 2).shuffle(9).shard(r, 4))
            .collect();
        for _ in 0..3 {
            let order = whole.epoch().order().to_vec();
            let padded = [order.as_slice(), &order[..2]].concat(); // 10 rows -> 12
            let shares: Vec<Vec<usize>> = shards.iter_mut().map(|s| epoch_rows(s).concat()).collect();
            for (r, share) in shares.iter().enumerate() {
                assert_eq!(share.len(), 3);
                let expected: Vec<usize> = padded.iter().skip(r).step_by(4).copied().collect();
                assert_eq!(share, &expected);
            }
            let mut seen = shares.concat();
            seen.sort_unstable();
            seen.dedup();
            assert_eq!(seen, (0..10).collect::<Vec<_>>(), "every row once, but the padding");
        }
        assert!(shards.iter().all(|s| s.len() == 2 && s.num_samples() == 3));
        // More ranks than rows: the order wraps around more than once.
        assert_eq!(share(&[4, 7], 2, 3), [4]);
        assert_eq!(share(&[4, 7], 1, 5), [7]);
        assert!(share(&[], 0, 2).is_empty());
    }

    #[test]
    #[should_panic(expected = "DataLoader::shard: rank 2 of 2 ranks")]
    fn the_rank_is_below_the_count() {
        let (x, y) = data(4);
        let _ = DataLoader::new(&x, &y, 2).shard(2, 2);
    }

    #[test]
    #[should_panic(expected = "DataLoader::new: x of shape [4, 2] and y of shape [3, 1]")]
    fn rows_must_agree() {
        let (x, _) = data(4);
        let (_, y) = data(3);
        let _ = DataLoader::new(&x, &y, 2);
    }
}
