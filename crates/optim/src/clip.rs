//! Gradient clipping, applied to the gradients before `Optimizer::update`.
//!
//! Only the gradients present are clipped and counted: a parameter the loss did not reach
//! has no entry (PyTorch's `grad` of `None`), adds nothing to the global norm and gets none.

use borel_autograd::{Float, ParamGrads};

use crate::{Hyper, checked};

/// Limits every element to `[-limit, limit]` (`clip_grad_value_`); panics unless `limit` is
/// finite and >= 0.
#[track_caller]
pub fn clip_by_value<F: Float>(grads: &mut ParamGrads<F>, limit: f64) {
    let l = F::from_f64(checked("clip", "clip_by_value", Hyper::ClipLimit, limit));
    for g in grads.values_mut() {
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
/// Returns the norm before clipping. Panics unless `max_norm` is finite and >= 0.
///
/// ```
/// use borel_autograd::{ParamStore, Tape, Tensor};
/// use borel_optim::clip::clip_by_global_norm;
/// let mut store = ParamStore::new();
/// let w = store.add("w", Tensor::from_vec(vec![1.5f64, 2.0], &[2]), true);
/// let tape = Tape::new();
/// let p = store.vars(&tape);
/// let mut g = p.backward(p[w].square().sum()); // 2w = [3, 4]
/// assert_eq!(clip_by_global_norm(&mut g, 1.0), 5.0);
/// assert!((g[w].data()[0] - 0.6).abs() < 1e-6);
/// ```
#[track_caller]
pub fn clip_by_global_norm<F: Float>(grads: &mut ParamGrads<F>, max_norm: f64) -> f64 {
    let max_norm = checked("clip", "clip_by_global_norm", Hyper::MaxNorm, max_norm);
    let norm = grads
        .iter()
        .flat_map(|(_, g)| g.data().iter())
        .map(|v| v.to_f64() * v.to_f64())
        .sum::<f64>()
        .sqrt();
    let coef = max_norm / (norm + 1e-6);
    if coef < 1.0 {
        let c = F::from_f64(coef);
        for g in grads.values_mut() {
            for v in g.data_mut() {
                *v *= c;
            }
        }
    }
    norm
}
