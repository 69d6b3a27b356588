//! Histograms as TensorFlow makes them (`tensorflow/core/lib/histogram/histogram.cc`): the
//! default buckets grow by 10% from 1e-12 to 1e20 on each side of zero, and empty buckets
//! are merged into the next non-empty one when encoded.

use std::sync::OnceLock;

use super::record::Message;

/// TensorFlow's default bucket limits: `-DBL_MAX`, the negated limits, 0, then
/// 1e-12, 1.1e-12, ... (each 1.1 times the last, below 1e20) and `DBL_MAX`. A value `v` falls
/// in the first bucket whose limit is greater than `v`.
pub(crate) fn default_limits() -> &'static [f64] {
    static LIMITS: OnceLock<Vec<f64>> = OnceLock::new();
    LIMITS.get_or_init(|| {
        let mut positive = vec![];
        let mut v = 1.0e-12;
        while v < 1.0e20 {
            positive.push(v);
            v *= 1.1;
        }
        positive.push(f64::MAX);
        let negative = positive.iter().rev().map(|&l| -l);
        negative.chain([0.0]).chain(positive.iter().copied()).collect()
    })
}

/// Counts and moments of a set of finite values over [`default_limits`].
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Histogram {
    min: f64,
    max: f64,
    num: f64,
    sum: f64,
    sum_squares: f64,
    counts: Vec<f64>,
}

/// Field numbers of `HistogramProto`.
mod field {
    pub const MIN: u32 = 1;
    pub const MAX: u32 = 2;
    pub const NUM: u32 = 3;
    pub const SUM: u32 = 4;
    pub const SUM_SQUARES: u32 = 5;
    pub const BUCKET_LIMIT: u32 = 6;
    pub const BUCKET: u32 = 7;
}

impl Histogram {
    /// The histogram of `values`, which the caller has checked are finite. Without values,
    /// min and max are `DBL_MAX` and `-DBL_MAX`, as TensorFlow leaves them.
    pub(crate) fn of(values: impl Iterator<Item = f64>) -> Self {
        let limits = default_limits();
        let mut h = Histogram {
            min: f64::MAX,
            max: -f64::MAX,
            num: 0.0,
            sum: 0.0,
            sum_squares: 0.0,
            counts: vec![0.0; limits.len()],
        };
        for v in values {
            let bucket = limits.partition_point(|&limit| limit <= v);
            h.counts[bucket] += 1.0;
            h.min = h.min.min(v);
            h.max = h.max.max(v);
            h.num += 1.0;
            h.sum += v;
            h.sum_squares += v * v;
        }
        h
    }

    /// The buckets as TensorFlow encodes them: each run of empty buckets merged into one
    /// bucket ending where the run ends (the reader's bucket `i` spans from limit `i - 1`,
    /// or the minimum, to limit `i`).
    pub(crate) fn buckets(&self) -> (Vec<f64>, Vec<f64>) {
        let limits = default_limits();
        let (mut ends, mut counts) = (vec![], vec![]);
        let mut i = 0;
        while i < self.counts.len() {
            let (mut end, mut count) = (limits[i], self.counts[i]);
            i += 1;
            if count <= 0.0 {
                while i < self.counts.len() && self.counts[i] <= 0.0 {
                    (end, count) = (limits[i], self.counts[i]);
                    i += 1;
                }
            }
            ends.push(end);
            counts.push(count);
        }
        (ends, counts)
    }

    /// The `HistogramProto`.
    pub(crate) fn encode(&self) -> Message {
        let (limits, counts) = self.buckets();
        Message::new()
            .double(field::MIN, self.min)
            .double(field::MAX, self.max)
            .double(field::NUM, self.num)
            .double(field::SUM, self.sum)
            .double(field::SUM_SQUARES, self.sum_squares)
            .packed_doubles(field::BUCKET_LIMIT, &limits)
            .packed_doubles(field::BUCKET, &counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_limits_are_tensorflows() {
        let limits = default_limits();
        // 774 limits from 1e-12 below 1e20 on each side, DBL_MAX on each side, and zero.
        assert_eq!(limits.len(), 2 * 774 + 3);
        let zero = limits.len() / 2;
        assert_eq!(limits[zero], 0.0);
        assert_eq!(limits[zero + 1], 1e-12);
        assert_eq!(limits[zero + 2], 1e-12 * 1.1);
        assert_eq!(limits[0], -f64::MAX);
        assert_eq!(*limits.last().unwrap(), f64::MAX);
        assert!(limits.windows(2).all(|w| w[0] < w[1]));
        assert!(limits[limits.len() - 2] < 1e20 && limits[limits.len() - 2] * 1.1 >= 1e20);
    }

    #[test]
    fn values_land_below_the_first_greater_limit_and_empty_runs_merge() {
        let h = Histogram::of([0.0, 0.0, 1.0, -1.0, 0.95].into_iter());
        assert_eq!((h.min, h.max, h.num), (-1.0, 1.0, 5.0));
        assert_eq!(h.sum, 0.95);
        assert_eq!(h.sum_squares, 1.0 + 1.0 + 0.95 * 0.95);
        let (ends, counts) = h.buckets();
        assert_eq!(counts.iter().sum::<f64>(), 5.0);
        // Non-empty buckets alternate with merged empty runs.
        let filled: Vec<(f64, f64)> = ends
            .iter()
            .zip(&counts)
            .filter(|(_, c)| **c > 0.0)
            .map(|(e, c)| (*e, *c))
            .collect();
        // -1 lies in [-1.00897, -0.91725); the zeros in [0, 1e-12); 0.95 and 1 share
        // [0.91725, 1.00897) (limits 1e-12 * 1.1^k).
        assert_eq!(filled.len(), 3);
        assert!(filled[0].0 > -0.92 && filled[0].0 < -0.91 && filled[0].1 == 1.0);
        assert_eq!(filled[1], (1e-12, 2.0));
        assert!(filled[2].0 > 1.008 && filled[2].0 < 1.01 && filled[2].1 == 2.0);
        assert!(
            counts.windows(2).all(|w| w[0] > 0.0 || w[1] > 0.0),
            "two empty buckets in a row"
        );
    }

    #[test]
    fn no_values_give_one_empty_bucket_up_to_dbl_max() {
        let h = Histogram::of(std::iter::empty());
        assert_eq!(h.buckets(), (vec![f64::MAX], vec![0.0]));
        assert_eq!((h.min, h.max), (f64::MAX, -f64::MAX));
    }
}
