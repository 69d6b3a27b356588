//! Data preparation off the tape: ranges, grids, identity, random draws, literals and the
//! spread of values (`std`, `var`), named as in PyTorch.
//!
//! ```
//! use borel_autograd::{Tensor, tensor};
//! use rand::SeedableRng;
//! let rng = &mut rand::rngs::StdRng::seed_from_u64(0);
//! let x = Tensor::<f64>::randn(&[1000, 2], rng) * tensor![2.0, 1.0]; // columns of std 2 and 1
//! let spread = x.std_axes(&[0], false);
//! assert!((spread.data()[0] - 2.0).abs() < 0.2 && (spread.data()[1] - 1.0).abs() < 0.1);
//! let standardized = &(&x - &x.mean_axes(&[0], true)) / &x.std_axes(&[0], true);
//! assert!(standardized.mean().item().abs() < 1e-12);
//! ```

use rand::{Rng, RngExt};
use rand_distr::{Distribution, StandardNormal};

use crate::float::Float;
use crate::shape::norm_axes;
use crate::tensor::Tensor;

impl<F: Float> Tensor<F> {
    /// `[0, 1, ..., n-1]` as a rank-1 tensor (PyTorch's `arange(n)`).
    ///
    /// ```
    /// use borel_autograd::Tensor;
    /// assert_eq!(Tensor::<f32>::arange(4).data(), &[0.0, 1.0, 2.0, 3.0]);
    /// ```
    pub fn arange(n: usize) -> Self {
        Self::from_fn(&[n], |i| F::from_f64(i as f64))
    }

    /// `start, start + step, ...` while below `end` (above it for a negative `step`), as
    /// PyTorch's `arange(start, end, step)`: `ceil((end - start) / step)` values, each
    /// computed as `start + i * step` in `f64`. Panics when `step` is zero or points away from
    /// `end`.
    ///
    /// ```
    /// use borel_autograd::Tensor;
    /// assert_eq!(Tensor::<f64>::arange_step(0.5, 2.0, 0.25).data(), &[0.5, 0.75, 1.0, 1.25, 1.5, 1.75]);
    /// assert_eq!(Tensor::<f64>::arange_step(1.0, -1.0, -0.5).data(), &[1.0, 0.5, 0.0, -0.5]);
    /// ```
    #[track_caller]
    pub fn arange_step(start: f64, end: f64, step: f64) -> Self {
        let count = (end - start) / step;
        if step == 0.0 || !count.is_finite() || count < 0.0 {
            panic!("arange_step: step {step} cannot go from {start} to {end}");
        }
        Self::from_fn(&[count.ceil() as usize], |i| F::from_f64(start + i as f64 * step))
    }

    /// `n` evenly spaced values from `start` to `end`, both included (PyTorch's `linspace`).
    ///
    /// ```
    /// use borel_autograd::Tensor;
    /// let x = Tensor::<f64>::linspace(-1.0, 2.0, 7);
    /// assert_eq!(x.data(), &[-1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0]);
    /// ```
    pub fn linspace(start: f64, end: f64, n: usize) -> Self {
        let step = if n > 1 { (end - start) / (n - 1) as f64 } else { 0.0 };
        Self::from_fn(&[n], |i| F::from_f64(start + step * i as f64))
    }

    /// The `n x n` identity matrix (PyTorch's `eye`).
    ///
    /// ```
    /// use borel_autograd::{Tensor, tensor};
    /// assert_eq!(Tensor::<f32>::eye(2), tensor![[1.0, 0.0], [0.0, 1.0]]);
    /// ```
    #[track_caller]
    pub fn eye(n: usize) -> Self {
        Self::from_fn(&[n, n], |i| if i / n == i % n { F::ONE } else { F::ZERO })
    }

    /// Independent draws from the standard normal distribution (PyTorch's `randn`), from the
    /// generator you pass: the same seed gives the same tensor. Equal, bit for bit, to
    /// [`Tensor::rand_normal`] with mean 0 and std 1.
    ///
    /// ```
    /// use borel_autograd::Tensor;
    /// use rand::SeedableRng;
    /// let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    /// let z = Tensor::<f32>::randn(&[2, 3], &mut rng);
    /// assert_eq!(z.shape(), &[2, 3]);
    /// ```
    #[track_caller]
    pub fn randn<R: Rng + ?Sized>(shape: &[usize], rng: &mut R) -> Self {
        Self::rand_normal(shape, 0.0, 1.0, rng)
    }

    /// Independent draws from the uniform distribution on `[0, 1)` (PyTorch's `rand`), from
    /// the generator you pass. Equal, bit for bit, to [`Tensor::rand_uniform`] on `[0, 1)`.
    ///
    /// ```
    /// use borel_autograd::Tensor;
    /// use rand::SeedableRng;
    /// let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    /// let u = Tensor::<f64>::rand(&[100], &mut rng);
    /// assert!(u.data().iter().all(|v| (0.0..1.0).contains(v)));
    /// ```
    #[track_caller]
    pub fn rand<R: Rng + ?Sized>(shape: &[usize], rng: &mut R) -> Self {
        Self::rand_uniform(shape, 0.0, 1.0, rng)
    }

    /// Independent draws from the uniform distribution on `[low, high)`.
    ///
    /// ```
    /// use borel_autograd::Tensor;
    /// use rand::SeedableRng;
    /// let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    /// let t = Tensor::<f32>::rand_uniform(&[3, 2], -1.0, 1.0, &mut rng);
    /// assert!(t.data().iter().all(|v| (-1.0..1.0).contains(v)));
    /// ```
    #[track_caller]
    pub fn rand_uniform<R: Rng + ?Sized>(shape: &[usize], low: f64, high: f64, rng: &mut R) -> Self {
        Self::from_fn(shape, |_| F::from_f64(low + (high - low) * rng.random::<f64>()))
    }

    /// Independent draws from the normal distribution `N(mean, std^2)`.
    ///
    /// ```
    /// use borel_autograd::Tensor;
    /// use rand::SeedableRng;
    /// let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    /// let t = Tensor::<f64>::rand_normal(&[10_000], 5.0, 0.5, &mut rng);
    /// assert!((t.mean().item() - 5.0).abs() < 0.05);
    /// ```
    #[track_caller]
    pub fn rand_normal<R: Rng + ?Sized>(shape: &[usize], mean: f64, std: f64, rng: &mut R) -> Self {
        Self::from_fn(shape, |_| {
            let z: f64 = StandardNormal.sample(rng);
            F::from_f64(mean + std * z)
        })
    }
}

impl<F: Float> Tensor<F> {
    /// Variance of all elements with Bessel's correction (divided by `n - 1`), as a rank-0
    /// tensor: PyTorch's `var()`. One element gives NaN, as in PyTorch.
    ///
    /// ```
    /// use borel_autograd::tensor;
    /// assert_eq!(tensor![1.0, 2.0, 3.0, 6.0].var().item(), 14.0 / 3.0);
    /// ```
    #[track_caller]
    pub fn var(&self) -> Tensor<F> {
        let all: Vec<isize> = (0..self.rank() as isize).collect();
        self.spread("var", &all, 1, false, false)
    }

    /// Variance over `axes` with Bessel's correction: PyTorch's `var(dim, keepdim=keepdim)`.
    ///
    /// ```
    /// use borel_autograd::tensor;
    /// let x = tensor![[1.0, 2.0], [3.0, 6.0]];
    /// assert_eq!(x.var_axes(&[0], false).data(), &[2.0, 8.0]);
    /// ```
    #[track_caller]
    pub fn var_axes(&self, axes: &[isize], keepdim: bool) -> Tensor<F> {
        self.spread("var_axes", axes, 1, keepdim, false)
    }

    /// Variance over `axes`, the sum of squared deviations divided by `n - correction`
    /// (`n` the count reduced over): PyTorch's `var(dim, correction=c, keepdim=keepdim)`.
    /// `correction` 0 is the biased (population) variance, 1 the unbiased one; where
    /// `n <= correction` the result is infinite or NaN, as in PyTorch.
    ///
    /// ```
    /// use borel_autograd::tensor;
    /// let x = tensor![[1.0, 2.0], [3.0, 6.0]];
    /// assert_eq!(x.var_correction(&[-1], 0, true).data(), &[0.25, 2.25]);
    /// assert_eq!(x.var_correction(&[-1], 0, true).shape(), &[2, 1]);
    /// ```
    #[track_caller]
    pub fn var_correction(&self, axes: &[isize], correction: usize, keepdim: bool) -> Tensor<F> {
        self.spread("var_correction", axes, correction, keepdim, false)
    }

    /// Standard deviation of all elements with Bessel's correction: PyTorch's `std()`.
    ///
    /// ```
    /// use borel_autograd::tensor;
    /// assert_eq!(tensor![2.0, 4.0, 6.0].std().item(), 2.0);
    /// ```
    #[track_caller]
    pub fn std(&self) -> Tensor<F> {
        let all: Vec<isize> = (0..self.rank() as isize).collect();
        self.spread("std", &all, 1, false, true)
    }

    /// Standard deviation over `axes` with Bessel's correction: PyTorch's
    /// `std(dim, keepdim=keepdim)`.
    ///
    /// ```
    /// use borel_autograd::tensor;
    /// let x = tensor![[1.0, 10.0], [3.0, 10.0]];
    /// assert_eq!(x.std_axes(&[0], false).data(), &[2f64.sqrt(), 0.0]);
    /// ```
    #[track_caller]
    pub fn std_axes(&self, axes: &[isize], keepdim: bool) -> Tensor<F> {
        self.spread("std_axes", axes, 1, keepdim, true)
    }

    /// Standard deviation over `axes`, the square root of [`Tensor::var_correction`]:
    /// PyTorch's `std(dim, correction=c, keepdim=keepdim)` (0 for the biased one).
    ///
    /// ```
    /// use borel_autograd::tensor;
    /// let x = tensor![[1.0, 3.0], [2.0, 8.0]];
    /// assert_eq!(x.std_correction(&[1], 0, false).data(), &[1.0, 3.0]);
    /// ```
    #[track_caller]
    pub fn std_correction(&self, axes: &[isize], correction: usize, keepdim: bool) -> Tensor<F> {
        self.spread("std_correction", axes, correction, keepdim, true)
    }

    /// Sum of squared deviations from the mean over `axes`, divided by `n - correction`
    /// (clamped at 0), and its square root when `root`.
    #[track_caller]
    fn spread(&self, op: &str, axes: &[isize], correction: usize, keepdim: bool, root: bool) -> Tensor<F> {
        let n: usize = norm_axes(op, axes, self.rank())
            .iter()
            .map(|&a| self.shape()[a])
            .product();
        let centred = self - &self.mean_axes(axes, true);
        let dof = n.saturating_sub(correction) as f64;
        // a true division (a scalar divisor would multiply by its reciprocal)
        let v = &centred.square().sum_axes(axes, keepdim) / &Tensor::scalar(F::from_f64(dof));
        if root { v.sqrt() } else { v }
    }
}

#[cfg(test)]
mod tests {
    use crate::{Tensor, tensor};

    /// A [3, 4] tensor and its spreads as PyTorch 2.15 computes them in float64.
    fn x() -> Tensor<f64> {
        tensor![[1., 2., 3., 4.], [2., 4., 8., 16.], [0.5, -1., 3., 7.]]
    }

    fn close(a: &Tensor<f64>, want: &[f64]) {
        let err = a
            .data()
            .iter()
            .zip(want)
            .map(|(a, b)| (a - b).abs() / b.abs())
            .fold(0.0, f64::max);
        assert!(a.numel() == want.len() && err < 1e-15, "{a:?} against {want:?}");
    }

    #[test]
    fn spreads_match_pytorch() {
        let x = x();
        close(&x.var(), &[20.460227272727273]);
        close(&x.std(), &[4.523298273685616]);
        close(&x.var_correction(&[0, 1], 0, false), &[18.755208333333332]);
        close(
            &x.var_axes(&[0], false),
            &[0.5833333333333334, 6.333333333333334, 8.333333333333334, 39.0],
        );
        close(
            &x.std_correction(&[1], 0, false),
            &[1.118033988749895, 5.361902647381804, 3.0285103598964294],
        );
        let v = x.var_correction(&[-1], 2, true);
        assert_eq!(v.shape(), &[3, 1]);
        close(&v, &[2.5, 57.5, 18.34375]);
        close(&x.std_axes(&[0, 1], false), &[4.523298273685616]);
    }

    #[test]
    fn spread_of_too_few_values_is_nan_or_infinite_as_in_pytorch() {
        assert!(tensor![3.0f64].var().item().is_nan());
        assert_eq!(
            tensor![1.0f64, 3.0].var_correction(&[0], 2, false).item(),
            f64::INFINITY
        );
    }

    #[test]
    #[should_panic(expected = "std_axes: axis 2 is out of range for a tensor of rank 2")]
    fn spread_names_a_bad_axis() {
        let _ = x().std_axes(&[2], false);
    }

    #[test]
    fn ranges_match_pytorch() {
        assert_eq!(
            Tensor::<f64>::linspace(-1.0, 2.0, 7).data(),
            &[-1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0]
        );
        // float32 linspace(0, pi, 5) from PyTorch, within one f32 ulp (PyTorch counts from
        // both ends; values here are computed in f64 from the start).
        let torch = [
            0.0,
            0.7853981852531433,
            1.5707963705062866,
            2.356194496154785,
            3.1415927410125732,
        ];
        let ours = Tensor::<f32>::linspace(0.0, std::f64::consts::PI, 5);
        for (a, b) in ours.data().iter().zip(torch) {
            assert!((*a as f64 - b).abs() <= b * f32::EPSILON as f64, "{a} against {b}");
        }
        assert_eq!(Tensor::<f64>::linspace(3.0, 5.0, 1).data(), &[3.0]);
        assert_eq!(
            Tensor::<f64>::arange_step(0.0, 1.0, 0.3).data(),
            &[0.0, 0.3, 0.6, 0.8999999999999999]
        );
        assert_eq!(Tensor::<f32>::arange_step(2.0, 2.0, 1.0).shape(), &[0]);
    }

    #[test]
    #[should_panic(expected = "arange_step: step -1 cannot go from 0 to 3")]
    fn arange_step_refuses_a_step_away_from_the_end() {
        let _ = Tensor::<f32>::arange_step(0.0, 3.0, -1.0);
    }

    #[test]
    fn eye_and_draws() {
        assert_eq!(Tensor::<f64>::eye(3).data(), &[1., 0., 0., 0., 1., 0., 0., 0., 1.]);
        use rand::SeedableRng;
        let draw = |f: fn(&mut rand::rngs::StdRng) -> Tensor<f32>| f(&mut rand::rngs::StdRng::seed_from_u64(3));
        let n = draw(|r| Tensor::randn(&[5, 2], r));
        assert_eq!(n, draw(|r| Tensor::rand_normal(&[5, 2], 0.0, 1.0, r)));
        assert_ne!(n, Tensor::randn(&[5, 2], &mut rand::rngs::StdRng::seed_from_u64(4)));
        assert_eq!(
            draw(|r| Tensor::rand(&[7], r)),
            draw(|r| Tensor::rand_uniform(&[7], 0.0, 1.0, r))
        );
    }
}
