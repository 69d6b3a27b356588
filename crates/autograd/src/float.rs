//! The element types a [`Tensor`](crate::Tensor) can hold.

use std::fmt::{Debug, Display};
use std::iter::Sum;
use std::ops::{Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Sub, SubAssign};

/// A floating-point element type: implemented for `f32` (training speed) and `f64`
/// (gradient checking), and sealed: the kernels rely on exactly these two.
///
/// The math functions carry the names of the inherent methods of `f32`/`f64`, so generic code
/// (`fn f<F: Float>(x: F) -> F { x.exp() }`) reads like concrete code; on a concrete `f32` the
/// inherent method is the one called, with the same result.
///
/// ```
/// use borel_autograd::Float;
/// fn softplus<F: Float>(x: F) -> F {
///     (F::ONE + x.exp()).ln()
/// }
/// assert_eq!(<f32 as Float>::from_f64(0.5), 0.5f32);
/// assert_eq!(softplus(0.0f64), 2f64.ln());
/// assert_eq!(<f64 as Float>::erf(2.0), libm::erf(2.0));
/// ```
pub trait Float:
    sealed::Kernels
    + Copy
    + Send
    + Sync
    + 'static
    + PartialOrd
    + Debug
    + Display
    + Default
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + AddAssign
    + SubAssign
    + MulAssign
    + DivAssign
    + Sum
{
    /// Additive identity.
    const ZERO: Self;
    /// Multiplicative identity.
    const ONE: Self;
    /// The type's name, used in error messages and weight files ("f32", "f64").
    const NAME: &'static str;
    /// Converts from `f64`, rounding to nearest.
    fn from_f64(v: f64) -> Self;
    /// Converts to `f64` exactly.
    fn to_f64(self) -> f64;
    /// `e^self`.
    fn exp(self) -> Self;
    /// Natural logarithm.
    fn ln(self) -> Self;
    /// Square root.
    fn sqrt(self) -> Self;
    /// Sine.
    fn sin(self) -> Self;
    /// Cosine.
    fn cos(self) -> Self;
    /// Tangent.
    fn tan(self) -> Self;
    /// Hyperbolic tangent.
    fn tanh(self) -> Self;
    /// Absolute value.
    fn abs(self) -> Self;
    /// `self^p`.
    fn powf(self, p: Self) -> Self;
    /// `ln(1 + self)`, accurate near zero.
    fn ln_1p(self) -> Self;
    /// The error function (from `libm`).
    fn erf(self) -> Self;
    /// Whether the value is neither infinite nor NaN.
    fn is_finite(self) -> bool;
    /// Whether the value is NaN.
    fn is_nan(self) -> bool;
}

/// What the kernels need of an element type beyond arithmetic; private, which seals [`Float`].
pub(crate) mod sealed {
    /// Element functions whose implementation differs by type.
    pub trait Kernels: Sized {
        /// `e^x` computed inline, without a library call, so that loops over it vectorize
        /// (the sigmoid's): within 2 ulp of `exp` for `f32`, `exp` itself for `f64`.
        fn exp_inline(x: Self) -> Self;
    }
}

macro_rules! impl_float {
    ($t:ty, $name:literal, $erf:path, $exp_inline:path) => {
        impl Float for $t {
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            const NAME: &'static str = $name;
            #[inline(always)]
            fn from_f64(v: f64) -> Self {
                v as $t
            }
            #[inline(always)]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline(always)]
            fn exp(self) -> Self {
                <$t>::exp(self)
            }
            #[inline(always)]
            fn ln(self) -> Self {
                <$t>::ln(self)
            }
            #[inline(always)]
            fn sqrt(self) -> Self {
                <$t>::sqrt(self)
            }
            #[inline(always)]
            fn sin(self) -> Self {
                <$t>::sin(self)
            }
            #[inline(always)]
            fn cos(self) -> Self {
                <$t>::cos(self)
            }
            #[inline(always)]
            fn tan(self) -> Self {
                <$t>::tan(self)
            }
            #[inline(always)]
            fn tanh(self) -> Self {
                <$t>::tanh(self)
            }
            #[inline(always)]
            fn abs(self) -> Self {
                <$t>::abs(self)
            }
            #[inline(always)]
            fn powf(self, p: Self) -> Self {
                <$t>::powf(self, p)
            }
            #[inline(always)]
            fn ln_1p(self) -> Self {
                <$t>::ln_1p(self)
            }
            #[inline(always)]
            fn erf(self) -> Self {
                $erf(self)
            }
            #[inline(always)]
            fn is_finite(self) -> bool {
                <$t>::is_finite(self)
            }
            #[inline(always)]
            fn is_nan(self) -> bool {
                <$t>::is_nan(self)
            }
        }

        impl sealed::Kernels for $t {
            #[inline(always)]
            fn exp_inline(x: Self) -> Self {
                $exp_inline(x)
            }
        }
    };
}

impl_float!(f32, "f32", libm::erff, exp_f32);
impl_float!(f64, "f64", libm::erf, f64::exp);

/// `e^x` for `f32` with selects and arithmetic only (Cephes' `expf`: Cody-Waite reduction
/// to `|r| <= ln2 / 2`, a degree-6 polynomial, and `2^n` built in two halves so that results
/// down to the smallest subnormal are rounded once). NaN gives NaN, `-inf` 0, `+inf` `inf`.
#[inline(always)]
fn exp_f32(x: f32) -> f32 {
    // Beyond these the result is 0 or infinite; the clamp keeps `n` inside `-151..=128`.
    let x = x.clamp(-105.0, 89.0);
    // n = round(x / ln2), read from the low bits of a float whose ulp is 1.
    const MAGIC: f32 = 12_582_912.0; // 1.5 * 2^23
    let t = x * std::f32::consts::LOG2_E + MAGIC;
    let nf = t - MAGIC;
    let n = (t.to_bits() as i32).wrapping_sub(MAGIC.to_bits() as i32);
    let r = (x - nf * 0.693_359_4) - nf * -2.121_944_4e-4;
    let p = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r + 1.666_666_5e-1)
        * r
        + 0.5;
    let p = p * (r * r) + r + 1.0;
    let n1 = n >> 1;
    let scale = |k: i32| f32::from_bits(((k + 127) as u32) << 23);
    p * scale(n1) * scale(n - n1)
}

#[cfg(test)]
mod tests {
    use super::exp_f32;

    /// Within 2 ulp of the correctly rounded `e^x` over the whole range (every 61st float
    /// from -110 to 90), subnormal results included; the special values exactly.
    #[test]
    fn inline_exp_is_within_two_ulp() {
        let ulps = |a: f32, b: f32| (a.to_bits() as i64 - b.to_bits() as i64).abs();
        let (lo, hi) = (110.0f32.to_bits(), 90.0f32.to_bits());
        let neg = (0..lo).step_by(61).map(|b| -f32::from_bits(b));
        let pos = (0..hi).step_by(61).map(f32::from_bits);
        let mut worst = 0;
        for x in neg.chain(pos) {
            let want = (x as f64).exp() as f32;
            let d = ulps(exp_f32(x), want);
            assert!(d <= 2, "exp({x:e}) = {:e}, want {want:e}", exp_f32(x));
            worst = worst.max(d);
        }
        assert!(worst >= 1, "the sweep compared something");
        assert!(exp_f32(f32::NAN).is_nan());
        assert_eq!(exp_f32(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp_f32(f32::INFINITY), f32::INFINITY);
        assert_eq!(exp_f32(0.0), 1.0);
    }
}
