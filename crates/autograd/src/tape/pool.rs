//! Spare vectors: node and gradient vectors of dropped tapes and finished sweeps, kept
//! (emptied) for the next ones on this thread, so a training loop that makes a tape per step
//! grows none.

use std::any::Any;
use std::cell::RefCell;

thread_local! {
    /// Node and gradient vectors of dropped tapes and finished sweeps, kept (emptied) for the
    /// next ones on this thread: a training loop that makes a tape per step then grows none.
    static SPARE: RefCell<Vec<Box<dyn Any>>> = const { RefCell::new(Vec::new()) };
}

/// Vectors up to this many bytes are kept for reuse.
const SPARE_BYTES: usize = 4 << 20;

/// An empty vector, with the capacity of a spare one when this thread has one.
pub(super) fn take_spare<T: 'static>() -> Vec<T> {
    let spare = SPARE.try_with(|s| {
        let mut s = s.borrow_mut();
        let i = s.iter().position(|b| b.is::<Vec<T>>())?;
        s.swap_remove(i).downcast::<Vec<T>>().ok()
    });
    spare.ok().flatten().map(|v| *v).unwrap_or_default()
}

/// Empties `v` and keeps it for [`take_spare`] (a few per thread, none beyond [`SPARE_BYTES`]).
pub(super) fn give_spare<T: 'static>(mut v: Vec<T>) {
    v.clear();
    if v.capacity() < 64 || v.capacity().saturating_mul(std::mem::size_of::<T>()) > SPARE_BYTES {
        return;
    }
    let _ = SPARE.try_with(|s| {
        let mut s = s.borrow_mut();
        if s.len() < 8 {
            s.push(Box::new(v));
        }
    });
}
