//! Tensors too large for memory panic with the op's name and the size where the process
//! used to abort (an abort cannot be caught, reported or tested). The sizes used here exceed
//! the address space of current 64-bit machines; with overcommit set to "always"
//! (`vm.overcommit_memory = 1`) an allocator may still promise them, so the test is skipped
//! there with a message rather than left to the OOM killer.

use std::panic::{AssertUnwindSafe, catch_unwind};

use borel_autograd::Tensor;

/// The panic message of `f`, which must panic.
fn panic_message(f: impl FnOnce()) -> String {
    let payload = catch_unwind(AssertUnwindSafe(f)).expect_err("no panic");
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

fn overcommit_always() -> bool {
    std::fs::read_to_string("/proc/sys/vm/overcommit_memory").is_ok_and(|s| s.trim() == "1")
}

#[test]
fn allocations_beyond_memory_panic_with_the_op_and_the_size() {
    if overcommit_always() || cfg!(target_pointer_width = "32") {
        eprintln!("skipped: vm.overcommit_memory = 1 may promise any allocation");
        return;
    }
    let cases: [(&str, fn(), &str); 5] = [
        (
            "zeros",
            || drop(Tensor::<f32>::zeros(&[1 << 46])),
            "Tensor::zeros: cannot allocate 70368744177664 elements of f32 (262144.0 GiB)",
        ),
        (
            "ones",
            || drop(Tensor::<f64>::ones(&[1 << 20, 1 << 25])),
            "Tensor::ones: cannot allocate 35184372088832 elements of f64 (262144.0 GiB)",
        ),
        (
            "full",
            || drop(Tensor::<f32>::full(&[1 << 46], 2.0)),
            "Tensor::full: cannot allocate 70368744177664 elements",
        ),
        (
            "from_fn",
            || drop(Tensor::<f32>::from_fn(&[1 << 46], |i| i as f32)),
            "Tensor::from_fn: cannot allocate 70368744177664 elements",
        ),
        (
            "a broadcasting kernel",
            || {
                let column = Tensor::<f32>::zeros(&[1 << 23, 1]);
                let row = Tensor::<f32>::zeros(&[1, 1 << 23]);
                drop(column.maximum(&row));
            },
            "cannot allocate 70368744177664 elements of f32 (262144.0 GiB): out of memory",
        ),
    ];
    for (what, f, expected) in cases {
        let message = panic_message(f);
        assert!(message.contains(expected), "{what}: {message}");
    }
}

#[test]
fn allocations_that_fit_are_unchanged() {
    // at the probing threshold (64 MiB) and just below it
    for n in [(64 << 20) / 4, (64 << 20) / 4 - 1] {
        let t = Tensor::<f32>::full(&[n], 1.5);
        assert_eq!(t.numel(), n);
        assert!(t.data().iter().all(|&v| v == 1.5));
    }
}
