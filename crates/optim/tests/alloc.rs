//! After the first step, optimizer steps allocate nothing: state buffers and parameters are
//! updated in place.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

mod optimizers;

use borel_autograd::{ParamGrads, ParamStore, Tensor};

/// Counts the allocations of the stepping thread only: the test harness's other threads
/// allocate at moments of their own.
struct Counting;
static ALLOCS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static STEPPING: Cell<bool> = const { Cell::new(false) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if STEPPING.with(Cell::get) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn steps_after_the_first_do_not_allocate() {
    STEPPING.with(|s| s.set(true));
    for (name, make) in optimizers::every::<f32>() {
        let mut opt = make();
        let mut store = ParamStore::new();
        let w = store.add("w", Tensor::from_fn(&[64, 32], |i| i as f32 * 1e-3), true);
        let b = store.add("b", Tensor::<f32>::zeros(&[32]), true);
        let mut grads = ParamGrads::new(&store);
        grads.insert(w, Tensor::from_fn(&[64, 32], |i| (i % 7) as f32 - 3.0));
        grads.insert(b, Tensor::<f32>::ones(&[32]));
        opt.update(&mut store, &grads);
        let before = ALLOCS.load(Ordering::Relaxed);
        for _ in 0..100 {
            opt.update(&mut store, &grads);
        }
        assert_eq!(
            ALLOCS.load(Ordering::Relaxed) - before,
            0,
            "{name}: allocations in 100 steps"
        );
        assert_eq!(opt.state().step(), 101);
    }
}
