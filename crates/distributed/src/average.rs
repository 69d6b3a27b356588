//! `World::average`: gradients averaged over the ranks through flat buffers in buckets, as
//! PyTorch's DistributedDataParallel does.

use borel_autograd::{Float, ParamGrads, ParamId, Tensor};
use mpi::collective::SystemOperation;
use mpi::traits::CommunicatorCollectives;

use crate::World;
use crate::elems::sum_into;

/// The first bucket's size in bytes: small, so the first allreduce starts early (DDP's
/// `bucket_cap_mb` for the first bucket).
pub const FIRST_BUCKET_BYTES: usize = 1 << 20;
/// Every later bucket's largest size in bytes (DDP's default `bucket_cap_mb=25`).
pub const BUCKET_BYTES: usize = 25 << 20;

/// The parameters of the store given to [`World::sync`].
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    ids: Vec<ParamId>,
    shapes: Vec<Vec<usize>>,
    dtype: &'static str,
}

impl Layout {
    pub(crate) fn new<F: Float>(ids: Vec<ParamId>, shapes: Vec<Vec<usize>>) -> Self {
        Layout {
            ids,
            shapes,
            dtype: F::NAME,
        }
    }
}

/// The parameters `order` (indices) grouped into buckets of consecutive ones: the first up to
/// [`FIRST_BUCKET_BYTES`], the others up to [`BUCKET_BYTES`]; a parameter larger than the cap
/// gets a bucket of its own. `sizes` are element counts by index.
pub(crate) fn buckets<F: Float>(order: &[usize], sizes: &[usize]) -> Vec<Vec<usize>> {
    let bytes = |i: usize| sizes[i] * std::mem::size_of::<F>();
    let mut out: Vec<Vec<usize>> = Vec::new();
    let mut filled = 0;
    for &i in order {
        // The bucket being filled is the first while there is at most one.
        let cap = if out.len() <= 1 {
            FIRST_BUCKET_BYTES
        } else {
            BUCKET_BYTES
        };
        match out.last_mut() {
            Some(b) if filled + bytes(i) <= cap => b.push(i),
            _ => {
                out.push(vec![i]);
                filled = 0;
            }
        }
        filled += bytes(i);
    }
    out
}

impl World {
    /// Averages `grads` over the ranks, in place: after it, every rank holds the mean of the
    /// ranks' gradients, so one optimizer step on each keeps the models identical. Call it
    /// after `backward` and before the update, every step, on every rank.
    ///
    /// Each gradient is pre-scaled by `1 / size`, then summed by allreduce, as DDP does;
    /// gradients travel through flat buffers in buckets (the first up to 1 MiB, the next up
    /// to 25 MiB), parameters in reverse order, one collective per bucket, plus one small
    /// allreduce of which parameters have a gradient.
    ///
    /// A parameter the loss did not reach has no gradient (see `ParamGrads::get`). When it
    /// has one on some ranks but not on others, the ranks without count zeros for it and all
    /// get the average (DDP's `find_unused_parameters`); when no rank has one, it stays
    /// without, and the optimizer leaves it alone everywhere.
    ///
    /// # Panics
    /// Before [`World::sync`], when `grads` are not for the store last synced, or when a
    /// gradient's shape differs from its parameter's.
    #[track_caller]
    pub fn average<F: Float>(&self, grads: &mut ParamGrads<F>) {
        let layout = self.layout().borrow();
        let layout = layout
            .as_ref()
            .expect("World::average: call World::sync(&mut store) once before the first step");
        assert!(
            layout.dtype == F::NAME,
            "World::average: gradients of {} but the synced store holds {}",
            F::NAME,
            layout.dtype
        );
        let present = self.present(layout, grads);
        for (i, &count) in present.iter().enumerate() {
            if count > 0 && grads.get(layout.ids[i]).is_none() {
                grads.insert(layout.ids[i], Tensor::zeros(&layout.shapes[i]));
            }
        }
        if self.size() == 1 {
            return; // the mean of one: nothing to send
        }
        let order: Vec<usize> = (0..present.len()).rev().filter(|&i| present[i] > 0).collect();
        let sizes: Vec<usize> = layout.shapes.iter().map(|s| s.iter().product()).collect();
        let scale = F::from_f64(1.0 / self.size() as f64);
        let mut slots = gradient_slots(grads, layout.ids.len());
        for bucket in buckets::<F>(&order, &sizes) {
            let len = bucket.iter().map(|&i| sizes[i]).sum();
            let mut send: Vec<F> = Vec::with_capacity(len);
            for &i in &bucket {
                send.extend(slots[i].as_ref().expect("present").data().iter().map(|&g| g * scale));
            }
            let mut sum = vec![F::ZERO; len];
            sum_into(self.comm(), &send, &mut sum);
            let mut at = 0;
            for &i in &bucket {
                let g = slots[i].as_mut().expect("present").data_mut();
                g.copy_from_slice(&sum[at..at + sizes[i]]);
                at += sizes[i];
            }
        }
    }

    /// How many ranks have a gradient for each parameter (one allreduce); checks each
    /// gradient's shape on the way.
    #[track_caller]
    fn present<F: Float>(&self, layout: &Layout, grads: &ParamGrads<F>) -> Vec<u32> {
        let mine: Vec<u32> = layout
            .ids
            .iter()
            .zip(&layout.shapes)
            .map(|(&id, shape)| match grads.get(id) {
                Some(g) => {
                    assert!(
                        g.shape() == shape.as_slice(),
                        "World::average: the gradient of parameter #{} has shape {:?}, the parameter {:?}",
                        id.index(),
                        g.shape(),
                        shape
                    );
                    1
                }
                None => 0,
            })
            .collect();
        if self.size() == 1 {
            return mine;
        }
        let mut counts = vec![0u32; mine.len()];
        self.comm()
            .all_reduce_into(&mine[..], &mut counts[..], SystemOperation::sum());
        counts
    }
}

/// The gradients, mutable, by parameter index (`None` where there is none).
fn gradient_slots<F: Float>(grads: &mut ParamGrads<F>, n: usize) -> Vec<Option<&mut Tensor<F>>> {
    let indices: Vec<usize> = grads.iter().map(|(id, _)| id.index()).collect();
    let mut slots: Vec<Option<&mut Tensor<F>>> = (0..n).map(|_| None).collect();
    for (i, g) in indices.into_iter().zip(grads.values_mut()) {
        slots[i] = Some(g);
    }
    slots
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_bucket_small_then_capped_and_big_ones_alone() {
        const MB: usize = 1 << 18; // f32 elements in 1 MiB
        // Reverse order as `average` gives it: 0.4 MiB, 0.4 MiB, 0.4 MiB, 30 MiB, 10 MiB x 3.
        let sizes = [
            MB * 4 / 10,
            MB * 4 / 10,
            MB * 4 / 10,
            30 * MB,
            10 * MB,
            10 * MB,
            10 * MB,
        ];
        let order: Vec<usize> = (0..sizes.len()).collect();
        let got = buckets::<f32>(&order, &sizes);
        assert_eq!(got, vec![vec![0, 1], vec![2], vec![3], vec![4, 5], vec![6]]);
        // In f64 the same elements are twice the bytes.
        let small = [MB / 4, MB / 4, MB / 4];
        assert_eq!(buckets::<f32>(&[0, 1, 2], &small), vec![vec![0, 1, 2]]);
        assert_eq!(buckets::<f64>(&[0, 1, 2], &small), vec![vec![0, 1], vec![2]]);
        assert!(buckets::<f32>(&[], &small).is_empty());
    }
}
