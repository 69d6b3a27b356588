//! The experiment's data: the target surface, its seeded samples, and the least-squares bound
//! that no linear network can beat.

use borel::Tensor;
use borel::autograd::Float;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, StandardNormal};

/// The target: `y = x1^2 + 2 x2^2 - 0.2 cos(3 pi x1) - 0.4 cos(4 pi x2)`.
pub fn target(x1: f64, x2: f64) -> f64 {
    use std::f64::consts::PI;
    x1 * x1 + 2.0 * x2 * x2 - 0.2 * (3.0 * PI * x1).cos() - 0.4 * (4.0 * PI * x2).cos()
}

/// `n` samples with `x1 = 2 N(0, 1)` (generator seeded with `seed_x1`) and `x2 = N(0, 1)`
/// (seeded with `seed_x2`), raw (not standardized): `x` of shape `[n, 2]`, `y` of `[n, 1]`.
/// Two generators, as the post seeds NumPy once per input.
pub fn samples<F: Float>(n: usize, seed_x1: u64, seed_x2: u64) -> (Tensor<F>, Tensor<F>) {
    let (mut r1, mut r2) = (StdRng::seed_from_u64(seed_x1), StdRng::seed_from_u64(seed_x2));
    let x1: Vec<f64> = (0..n)
        .map(|_| 2.0 * Distribution::<f64>::sample(&StandardNormal, &mut r1))
        .collect();
    let x2: Vec<f64> = (0..n).map(|_| StandardNormal.sample(&mut r2)).collect();
    let x = Tensor::from_fn(&[n, 2], |i| F::from_f64(if i % 2 == 0 { x1[i / 2] } else { x2[i / 2] }));
    let y = Tensor::from_fn(&[n, 1], |i| F::from_f64(target(x1[i], x2[i])));
    (x, y)
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
    let w = solve(a, b);
    (0..n)
        .map(|i| (y.data()[i].to_f64() - row(i).zip(&w).map(|(v, wi)| v * wi).sum::<f64>()).powi(2))
        .sum()
}

/// Solves `a w = b` (`a` is `k x k`, row-major) by Gaussian elimination with partial pivoting.
fn solve(mut a: Vec<f64>, mut b: Vec<f64>) -> Vec<f64> {
    let k = b.len();
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
    w
}

#[cfg(test)]
mod tests {
    use super::*;
    use borel::data::{GlobalStandardizer, Standardizer};

    #[test]
    fn least_squares_bound_and_standardization_match_the_seed_setup() {
        let (x, y) = samples::<f64>(1000, 1, 10);
        let xs = GlobalStandardizer::fit(&x).transform(&x);
        let all: Vec<f64> = xs.data().to_vec();
        let mean = all.iter().sum::<f64>() / 2000.0;
        let var = all.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 2000.0;
        assert!(mean.abs() < 1e-12 && (var - 1.0).abs() < 1e-12);
        let ols = least_squares_sse(&xs, &y);
        // The post's regime: y is even in x1 and x2, so a linear fit explains almost nothing.
        assert!((35_000.0..50_000.0).contains(&ols), "{ols}");
        let mean_y = y.data().iter().sum::<f64>() / 1000.0;
        let sst: f64 = y.data().iter().map(|v| (v - mean_y).powi(2)).sum();
        assert!(ols <= sst && ols > 0.95 * sst);
        // Per-feature standardization gives the same bound (the fit is affine-invariant).
        let pf = Standardizer::fit(&x).transform(&x);
        assert!((least_squares_sse(&pf, &y) - ols).abs() < 1e-6 * ols);
    }

    #[test]
    fn least_squares_recovers_an_exact_plane() {
        let x = Tensor::from_fn(&[6, 2], |i| ((i * 7) % 5) as f64 - (i % 3) as f64);
        let y = Tensor::from_fn(&[6, 1], |i| 1.5 - 2.0 * x.data()[2 * i] + 0.5 * x.data()[2 * i + 1]);
        assert!(least_squares_sse(&x, &y) < 1e-18);
    }

    #[test]
    fn samples_follow_the_target_and_the_seeds() {
        let (x, y) = samples::<f64>(50, 1, 10);
        for i in 0..50 {
            assert_eq!(y.data()[i], target(x.data()[2 * i], x.data()[2 * i + 1]));
        }
        assert_eq!(samples::<f64>(50, 1, 10).0.data(), x.data());
        assert_ne!(samples::<f64>(50, 2, 10).0.data(), x.data());
    }
}
