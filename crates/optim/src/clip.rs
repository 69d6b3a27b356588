//! Gradient clipping, applied to the gradients before `Optimizer::step`.

use borel_autograd::{Float, Tensor};

/// Limits every element to `[-limit, limit]` (`clip_grad_value_`).
pub fn clip_by_value<F: Float>(grads: &mut [Tensor<F>], limit: f64) {
    let l = F::from_f64(limit);
    for g in grads {
        for v in g.data_mut() {
            *v = if *v > l {
                l
            } else if *v < -l {
                -l
            } else {
                *v
            };
        }
    }
}

/// Scales all gradients together so their global L2 norm is at most `max_norm`, as
/// `torch.nn.utils.clip_grad_norm_` does (scale `max_norm / (norm + 1e-6)` when below 1).
/// Returns the norm before clipping.
///
/// ```
/// use borel_autograd::Tensor;
/// use borel_optim::clip::clip_by_global_norm;
/// let mut g = vec![Tensor::from_vec(vec![3.0f64, 4.0], &[2])];
/// assert_eq!(clip_by_global_norm(&mut g, 1.0), 5.0);
/// assert!((g[0].data()[0] - 0.6).abs() < 1e-6);
/// ```
pub fn clip_by_global_norm<F: Float>(grads: &mut [Tensor<F>], max_norm: f64) -> f64 {
    let norm = grads
        .iter()
        .flat_map(|g| g.data().iter())
        .map(|v| v.to_f64() * v.to_f64())
        .sum::<f64>()
        .sqrt();
    let coef = max_norm / (norm + 1e-6);
    if coef < 1.0 {
        let c = F::from_f64(coef);
        for g in grads {
            for v in g.data_mut() {
                *v *= c;
            }
        }
    }
    norm
}
