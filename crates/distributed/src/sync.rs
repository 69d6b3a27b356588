//! `World::sync`: every rank checks that all built the same model, then takes rank 0's
//! parameter values.

use borel_autograd::{Float, ParamStore, Tensor};
use mpi::collective::SystemOperation;
use mpi::traits::{Communicator, CommunicatorCollectives, Root};

use crate::World;
use crate::average::{Layout, buckets};
use crate::elems::broadcast;

/// The ranks did not build the same model: returned on every rank, naming the first
/// parameter (in registration order) where a rank differs from rank 0.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyncError {
    /// A parameter's name, shape, element type or trainability differs, or one rank has
    /// more parameters than another.
    #[error("the ranks built different models: parameter #{index} is {root} on rank 0 but {other} on rank {rank}")]
    Mismatch {
        /// The parameter's position in registration order.
        index: usize,
        /// The lowest rank that differs from rank 0 there.
        rank: usize,
        /// Rank 0's parameter: `'name' [shape] dtype`, or `missing`.
        root: String,
        /// The other rank's parameter, the same way.
        other: String,
    },
}

/// One parameter as the ranks compare it.
fn describe<F: Float>(name: &str, value: &Tensor<F>, trainable: bool) -> String {
    let frozen = if trainable { "" } else { " frozen" };
    format!("'{name}' {:?} {}{frozen}", value.shape(), F::NAME)
}

/// FNV-1a: the same 64 bits on every machine and Rust version, unlike std's hasher.
fn fnv1a(items: &[String]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in items.iter().flat_map(|s| s.bytes().chain([b'\n'])) {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    h
}

impl World {
    /// Makes every rank's parameters rank 0's, as DDP does when it wraps a model: first every
    /// rank's parameter names, shapes, element type and trainability are compared (one hash
    /// allreduce; on a difference, the first differing parameter is found by name), then the
    /// values are broadcast from rank 0 in flat buckets. Call it once, after building (or
    /// loading) the model and before the first step; [`World::average`] needs it.
    ///
    /// Two ranks that built different models get [`SyncError::Mismatch`] on every rank,
    /// never a hang or a run on garbage; the stores are then unchanged.
    pub fn sync<F: Float>(&self, store: &mut ParamStore<F>) -> Result<(), SyncError> {
        let mine: Vec<String> = store
            .iter()
            .map(|(id, n, v)| describe(n, v, store.is_trainable(id)))
            .collect();
        let h = fnv1a(&mine);
        let mut extremes = [0u64; 2];
        self.comm()
            .all_reduce_into(&[h, !h][..], &mut extremes[..], SystemOperation::max());
        if extremes[0] != !extremes[1] {
            return Err(self.first_difference(&mine));
        }
        let ids: Vec<_> = store.ids().collect();
        let shapes: Vec<Vec<usize>> = ids.iter().map(|&id| store.get(id).shape().to_vec()).collect();
        let sizes: Vec<usize> = shapes.iter().map(|s| s.iter().product()).collect();
        let order: Vec<usize> = (0..ids.len()).collect();
        for bucket in buckets::<F>(&order, &sizes) {
            let mut flat: Vec<F> = bucket.iter().flat_map(|&i| store.get(ids[i]).data().to_vec()).collect();
            broadcast(self.comm(), 0, &mut flat);
            let mut at = 0;
            for &i in &bucket {
                store
                    .get_mut(ids[i])
                    .data_mut()
                    .copy_from_slice(&flat[at..at + sizes[i]]);
                at += sizes[i];
            }
        }
        *self.layout().borrow_mut() = Some(Layout::new::<F>(ids, shapes));
        Ok(())
    }

    /// After the hashes differed: the first parameter where some rank differs from rank 0,
    /// the same error on every rank.
    fn first_difference(&self, mine: &[String]) -> SyncError {
        let root_list = self.broadcast_lines(0, if self.is_root() { mine } else { &[] });
        let differs = (0..mine.len().max(root_list.len())).find(|&i| mine.get(i) != root_list.get(i));
        let key = differs.map_or(u64::MAX, |i| (i * self.size() + self.rank()) as u64);
        let mut first = 0u64;
        self.comm().all_reduce_into(&key, &mut first, SystemOperation::min());
        let (index, rank) = ((first as usize) / self.size(), (first as usize) % self.size());
        let line = |l: Option<&String>| l.cloned().unwrap_or_else(|| "missing".to_string());
        let theirs = mine.get(index).filter(|_| self.rank() == rank).cloned();
        let other = self.broadcast_lines(rank, theirs.as_slice());
        SyncError::Mismatch {
            index,
            rank,
            root: line(root_list.get(index)),
            other: line(other.first()),
        }
    }

    /// `lines` of rank `root` on every rank (the others' argument is ignored).
    fn broadcast_lines(&self, root: usize, lines: &[String]) -> Vec<String> {
        let mut bytes = lines.join("\n").into_bytes();
        let mut len = if lines.is_empty() { 0u64 } else { bytes.len() as u64 + 1 };
        let process = self.comm().process_at_rank(root as i32);
        process.broadcast_into(&mut len);
        bytes.resize(len.saturating_sub(1) as usize, 0);
        process.broadcast_into(&mut bytes[..]);
        if len == 0 {
            return Vec::new();
        }
        String::from_utf8_lossy(&bytes)
            .split('\n')
            .map(str::to_string)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_sees_names_shapes_types_and_order() {
        let t32 = Tensor::<f32>::zeros(&[2, 3]);
        let t64 = Tensor::<f64>::zeros(&[2, 3]);
        let a = vec![describe("w", &t32, true), describe("b", &t32, true)];
        let same = vec![describe("w", &t32, true), describe("b", &t32, true)];
        assert_eq!(fnv1a(&a), fnv1a(&same));
        let others = [
            vec![describe("b", &t32, true), describe("w", &t32, true)],
            vec![describe("w", &t64, true), describe("b", &t32, true)],
            vec![describe("w", &t32, false), describe("b", &t32, true)],
            vec![
                describe("w", &Tensor::<f32>::zeros(&[3, 2]), true),
                describe("b", &t32, true),
            ],
            vec![describe("w", &t32, true)],
        ];
        for o in others {
            assert_ne!(fnv1a(&a), fnv1a(&o), "{o:?}");
        }
        assert_eq!(a[0], "'w' [2, 3] f32");
    }
}
