//! Training memory is flat: 10,000 forward+backward+update steps of a small MLP written with
//! raw ops leave live heap memory exactly where it was after warm-up. And recording scalar ops
//! allocates nothing: scalars are stored inline and tapes reuse their vectors.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicIsize, Ordering};

use borel_autograd::{Tape, Tensor};
use rand::SeedableRng;

/// Counts the bytes the training thread allocates: other threads (the test harness, the
/// matrix product's thread pool starting up) allocate at moments of their own.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);

thread_local! {
    static TRAINING: Cell<bool> = const { Cell::new(false) };
    /// Allocation calls made on this thread while `COUNTING` is set.
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static CALLS: Cell<usize> = const { Cell::new(0) };
}

fn count(delta: isize) {
    if TRAINING.with(Cell::get) {
        let now = LIVE.fetch_add(delta, Ordering::Relaxed) + delta;
        PEAK.fetch_max(now, Ordering::Relaxed);
    }
}

fn count_call() {
    if COUNTING.with(Cell::get) {
        CALLS.with(|c| c.set(c.get() + 1));
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_call();
        count(layout.size() as isize);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(-(layout.size() as isize));
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_call();
        count(new_size as isize - layout.size() as isize);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// One SGD step of a 2-16-16-1 MLP on `tape`; returns the loss before the update.
fn sgd_step(tape: &Tape<f32>, params: &mut [Tensor<f32>; 6], x: &Tensor<f32>, y: &Tensor<f32>) -> f32 {
    let p: Vec<_> = params.iter().map(|t| tape.var(t.clone())).collect();
    let xv = tape.constant(x.clone());
    let h = (xv.matmul(p[0]) + p[1]).tanh();
    let h = (h.matmul(p[2]) + p[3]).relu();
    let out = h.matmul(p[4]) + p[5];
    let loss = (out - tape.constant(y.clone())).square().mean();
    let mut grads = loss.backward();
    for (t, v) in params.iter_mut().zip(&p) {
        let g = grads.take(*v).unwrap();
        for (w, d) in t.data_mut().iter_mut().zip(g.data()) {
            *w -= 0.05 * d;
        }
    }
    loss.item()
}

#[test]
fn ten_thousand_steps_do_not_grow_live_memory() {
    TRAINING.with(|t| t.set(true));
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let x = Tensor::<f32>::rand_normal(&[32, 2], 0.0, 1.0, &mut rng);
    let y = Tensor::from_fn(&[32, 1], |i| x.data()[2 * i] * x.data()[2 * i + 1]);
    let mut params = [
        Tensor::<f32>::rand_normal(&[2, 16], 0.0, 0.5, &mut rng),
        Tensor::zeros(&[16]),
        Tensor::rand_normal(&[16, 16], 0.0, 0.25, &mut rng),
        Tensor::zeros(&[16]),
        Tensor::rand_normal(&[16, 1], 0.0, 0.25, &mut rng),
        Tensor::zeros(&[1]),
    ];
    let mut tape = Tape::<f32>::new();
    let mut after_warmup = 0;
    let mut first_loss = 0.0;
    let mut last_loss = 0.0;
    for step in 0..10_000 {
        last_loss = sgd_step(&tape, &mut params, &x, &y);
        if step == 0 {
            first_loss = last_loss;
        }
        tape.reset();
        if step == 100 {
            after_warmup = LIVE.load(Ordering::Relaxed);
            PEAK.store(after_warmup, Ordering::Relaxed);
        }
        if step > 100 {
            assert_eq!(
                LIVE.load(Ordering::Relaxed),
                after_warmup,
                "live memory changed at step {step}"
            );
        }
    }
    let peak_growth = PEAK.load(Ordering::Relaxed) - after_warmup;
    // One step's temporaries: a few dozen 32x16 f32 tensors, nowhere near growth per step.
    assert!(
        peak_growth < 256 * 1024,
        "peak within a step grew by {peak_growth} bytes"
    );
    assert!(
        last_loss < first_loss * 0.5,
        "the MLP trained: {first_loss} -> {last_loss}"
    );
}

/// Allocation calls of one step that records `n` scalar ops (`x * 1.0001`, `x + 0.0001`,
/// `sin x`) on a new tape and differentiates them.
fn scalar_chain_allocations(n: usize) -> usize {
    let tape = Tape::<f32>::new();
    let x0 = tape.var(Tensor::scalar(0.5));
    CALLS.with(|c| c.set(0));
    COUNTING.with(|c| c.set(true));
    let mut x = x0;
    for i in 0..n {
        x = match i % 3 {
            0 => x * 1.0001,
            1 => x + 0.0001,
            _ => x.sin(),
        };
    }
    let grads = x.backward();
    assert!(grads[x0].item().is_finite());
    drop(grads);
    drop(tape);
    COUNTING.with(|c| c.set(false));
    CALLS.with(Cell::get)
}

#[test]
fn scalar_ops_allocate_nothing_per_op() {
    // Warm-up: the first tapes grow the vectors that later ones reuse.
    for _ in 0..3 {
        scalar_chain_allocations(3_000);
    }
    let (short, long) = (scalar_chain_allocations(1_500), scalar_chain_allocations(3_000));
    // What is left is per step (the var list, the gradient store), not per op.
    assert_eq!(
        short, long,
        "allocations grow with the number of ops: {short} vs {long}"
    );
    assert!(long <= 8, "{long} allocations for one step of scalar ops");
}
