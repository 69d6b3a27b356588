//! Arithmetic on L-BFGS's flat vectors: every trainable parameter, one after another.
//!
//! Sums run over eight interleaved accumulators (the compiler vectorizes them), always in
//! the same order, so a run and its resumption from saved state round alike.

use borel_autograd::Float;

const LANES: usize = 8;

/// `sum_i term(a_i, b_i)`.
fn sum_of<F: Float>(a: &[F], b: &[F], term: impl Fn(F, F) -> F) -> F {
    assert_eq!(a.len(), b.len(), "L-BFGS: flat vectors of different lengths");
    let mut lanes = [F::ZERO; LANES];
    let (chunks_a, chunks_b) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail = chunks_a.remainder().iter().zip(chunks_b.remainder());
    for (x, y) in chunks_a.zip(chunks_b) {
        for k in 0..LANES {
            lanes[k] += term(x[k], y[k]);
        }
    }
    for (lane, (&x, &y)) in lanes.iter_mut().zip(tail) {
        *lane += term(x, y);
    }
    // halves added lane by lane, as a vector register is reduced
    let [l0, l1, l2, l3, l4, l5, l6, l7] = lanes;
    let (m0, m1, m2, m3) = (l0 + l4, l1 + l5, l2 + l6, l3 + l7);
    (m0 + m2) + (m1 + m3)
}

/// `a . b`.
pub(super) fn dot<F: Float>(a: &[F], b: &[F]) -> F {
    sum_of(a, b, |x, y| x * y)
}

/// `sum |a_i|`.
pub(super) fn sum_abs<F: Float>(a: &[F]) -> F {
    sum_of(a, a, |x, _| x.abs())
}

/// `max |a_i|`, NaN if any element is NaN (as `tensor.abs().max()`), 0 for no elements.
pub(super) fn max_abs<F: Float>(a: &[F]) -> F {
    a.iter().fold(F::ZERO, |m, &x| {
        let x = x.abs();
        if x > m || x.is_nan() { x } else { m }
    })
}

/// `y += alpha x` with one rounding per element (`y.add_(x, alpha=alpha)`, which PyTorch's
/// CPU kernels compute as a fused multiply-add).
pub(super) fn add_scaled<F: Float>(y: &mut [F], alpha: F, x: &[F]) {
    assert_eq!(y.len(), x.len(), "L-BFGS: flat vectors of different lengths");
    y.iter_mut().zip(x).for_each(|(y, &x)| *y = mul_add(alpha, x, *y));
}

/// `a b + c` rounded once in `f64` (exactly `fma` for `f64`; for `f32` within its rounding).
pub(super) fn mul_add<F: Float>(a: F, b: F, c: F) -> F {
    F::from_f64(a.to_f64().mul_add(b.to_f64(), c.to_f64()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_cover_every_element() {
        for n in [0, 1, 7, 8, 9, 17, 100] {
            let a: Vec<f64> = (0..n).map(|i| i as f64 - 3.0).collect();
            let b: Vec<f64> = (0..n).map(|i| 0.5 * i as f64).collect();
            let want: f64 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            assert_eq!(dot(&a, &b), want, "n = {n}");
            assert_eq!(sum_abs(&a), a.iter().map(|x| x.abs()).sum::<f64>(), "n = {n}");
        }
    }

    #[test]
    fn max_abs_propagates_nan() {
        assert_eq!(max_abs(&[1.0f64, -3.0, 2.0]), 3.0);
        assert!(max_abs(&[f64::NAN, 1.0]).is_nan());
        assert!(max_abs(&[1.0, f64::NAN, 0.5]).is_nan());
        assert_eq!(max_abs::<f32>(&[]), 0.0);
    }
}
