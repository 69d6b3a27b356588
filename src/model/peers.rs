//! The other ranks of a data-parallel `fit` ([`FitOptions::distributed`]), or none: what
//! `fit` asks of them, in one place, so the training loop reads the same either way.
//!
//! [`FitOptions::distributed`]: crate::FitOptions::distributed

use borel_autograd::{Float, ParamGrads};
use borel_nn::ParamStore;

use crate::data::DataLoader;
use crate::model::options::FitError;

/// The MPI world `fit` can train with (feature `mpi`).
#[cfg(feature = "mpi")]
pub(crate) type World = borel_distributed::World;
/// Without the feature `mpi` there is no world to train with.
#[cfg(not(feature = "mpi"))]
#[derive(Clone)]
pub(crate) enum World {}

/// The ranks `fit` trains with: this process alone, or (feature `mpi`) an MPI world. Each
/// method does nothing (or the one-process thing) without a world.
#[derive(Clone, Copy, Default)]
pub(crate) struct Peers<'w> {
    #[cfg_attr(not(feature = "mpi"), allow(dead_code))]
    pub world: Option<&'w World>,
}

impl Peers<'_> {
    /// Whether this rank prints, shows progress and writes checkpoints: rank 0, or the only one.
    pub fn is_root(&self) -> bool {
        #[cfg(feature = "mpi")]
        if let Some(w) = self.world {
            return w.is_root();
        }
        true
    }

    /// This rank's share of every epoch.
    pub fn shard<'d, F: Float>(&self, loader: DataLoader<'d, F>) -> DataLoader<'d, F> {
        #[cfg(feature = "mpi")]
        if let Some(w) = self.world {
            return loader.shard(w.rank(), w.size());
        }
        loader
    }

    /// Every rank gets rank 0's parameters, after checking that all built the same model.
    pub fn sync<F: Float>(&self, _store: &mut ParamStore<F>) -> Result<(), FitError> {
        #[cfg(feature = "mpi")]
        if let Some(w) = self.world {
            w.sync(_store).map_err(FitError::Distributed)?;
        }
        Ok(())
    }

    /// The gradients averaged over the ranks.
    pub fn average<F: Float>(&self, _grads: &mut ParamGrads<F>) {
        #[cfg(feature = "mpi")]
        if let Some(w) = self.world {
            w.average(_grads);
        }
    }

    /// `values` summed over the ranks, in place.
    pub fn sum(&self, _values: &mut [f64]) {
        #[cfg(feature = "mpi")]
        if let Some(w) = self.world {
            w.sum(_values);
        }
    }

    /// Rank 0's `flag` on every rank.
    pub fn agree(&self, flag: bool) -> bool {
        #[cfg(feature = "mpi")]
        if let Some(w) = self.world {
            return w.broadcast_flag(flag);
        }
        flag
    }

    /// An error of this rank's training ends every rank (the others would wait for it in the
    /// next collective); on one process it is returned.
    pub fn fail<T>(&self, result: Result<T, FitError>) -> Result<T, FitError> {
        #[cfg(feature = "mpi")]
        if let (Err(e), Some(w)) = (&result, self.world) {
            w.abort(e);
        }
        result
    }
}
