//! Buffers: values kept, saved and loaded with the parameters that training sets instead of
//! differentiating (a batch norm's running mean and variance, its batch counter).
//!
//! A training pass computes their new values; they travel to the store inside the
//! [`ParamGrads`] of the step ([`ParamGrads::set_buffer`]) and are written by
//! [`ParamStore::apply_buffers`], which every optimizer's update calls first. So a training
//! loop of forward, backward and update keeps them current without a line of its own.

use crate::float::Float;
use crate::tensor::Tensor;

use super::{ParamGrads, ParamId, ParamStore};

impl<F: Float> ParamStore<F> {
    /// Total number of scalar parameters (counters added by [`ParamStore::add_uncounted`]
    /// are not parameters).
    pub fn num_params(&self) -> usize {
        self.values
            .iter()
            .zip(&self.counted)
            .filter(|c| *c.1)
            .map(|(v, _)| v.numel())
            .sum()
    }

    /// Number of scalar parameters that training updates.
    pub fn num_trainable(&self) -> usize {
        self.ids()
            .filter(|&id| self.is_trainable(id))
            .map(|id| self.get(id).numel())
            .sum()
    }

    /// Registers a value kept with the parameters (saved, loaded, restored) that is not one:
    /// never trainable, and not counted by [`ParamStore::num_params`] (PyTorch's
    /// `num_batches_tracked`, which Keras does not count).
    ///
    /// ```
    /// use borel_autograd::{ParamStore, Tensor};
    /// let mut store = ParamStore::<f32>::new();
    /// store.add("bn.running_mean", Tensor::zeros(&[3]), false);
    /// let n = store.add_uncounted("bn.num_batches_tracked", Tensor::zeros(&[]));
    /// assert_eq!(store.num_params(), 3);
    /// assert!(!store.is_counted(n) && !store.is_trainable(n));
    /// ```
    #[track_caller]
    pub fn add_uncounted(&mut self, name: &str, value: Tensor<F>) -> ParamId {
        let id = self.add(name, value, false);
        *self.counted.last_mut().expect("just added") = false;
        id
    }

    /// Whether [`ParamStore::num_params`] counts this value.
    #[track_caller]
    pub fn is_counted(&self, id: ParamId) -> bool {
        self.counted[self.slot(id)]
    }

    /// Writes the buffer values that `grads` carry (set by a training pass): what an
    /// optimizer's update does first. Panics when `grads` are of another store, or a value
    /// is for a trainable parameter or has another shape (programming errors).
    ///
    /// ```
    /// use borel_autograd::{ParamGrads, ParamStore, Tensor};
    /// let mut store = ParamStore::<f64>::new();
    /// let mean = store.add("running_mean", Tensor::zeros(&[2]), false);
    /// let mut grads = ParamGrads::new(&store);
    /// grads.set_buffer(mean, Tensor::from_vec(vec![0.5, 1.0], &[2]));
    /// store.apply_buffers(&grads);
    /// assert_eq!(store.get(mean).data(), &[0.5, 1.0]);
    /// ```
    #[track_caller]
    pub fn apply_buffers(&mut self, grads: &ParamGrads<F>) {
        if grads.buffers.iter().all(Option::is_none) {
            return;
        }
        assert!(
            grads.is_for(self),
            "ParamStore::apply_buffers: the buffers are of another ParamStore"
        );
        for (id, value) in grads.buffers() {
            let i = self.slot(id);
            assert!(
                !self.trainable[i],
                "ParamStore::apply_buffers: '{}' is trainable: its gradient, not a buffer value, updates it",
                self.names[i]
            );
            assert!(
                value.shape() == self.values[i].shape(),
                "ParamStore::apply_buffers: value of shape {:?} for '{}' of shape {:?}",
                value.shape(),
                self.names[i],
                self.values[i].shape()
            );
            self.values[i] = value.clone();
        }
    }
}

impl<F: Float> ParamGrads<F> {
    /// Carries `value` as the new value of the non-trainable buffer `id`, for
    /// [`ParamStore::apply_buffers`] (which optimizers call) to write.
    ///
    /// ```
    /// use borel_autograd::{ParamGrads, ParamStore, Tensor};
    /// let mut store = ParamStore::<f32>::new();
    /// let count = store.add_uncounted("num_batches_tracked", Tensor::zeros(&[]));
    /// let mut grads = ParamGrads::new(&store);
    /// grads.set_buffer(count, Tensor::scalar(1.0));
    /// assert_eq!(grads.buffers().count(), 1);
    /// ```
    #[track_caller]
    pub fn set_buffer(&mut self, id: ParamId, value: Tensor<F>) {
        let i = self.ids.slot("ParamGrads::set_buffer", id);
        self.buffers[i] = Some(value);
    }

    /// `(id, new value)` of every buffer these gradients carry.
    pub fn buffers(&self) -> impl Iterator<Item = (ParamId, &Tensor<F>)> {
        self.ids
            .ids
            .iter()
            .zip(&self.buffers)
            .filter_map(|(&id, b)| Some((id, b.as_ref()?)))
    }
}
