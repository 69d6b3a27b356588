//! NaN tracing (BOREL_DEBUG_NANS / set_debug_nans): the first op that makes a NaN or an
//! infinity, forward or backward, is named with its shapes and the line that called it.
//! One test function, because the switch is global to the program.

use std::panic::{AssertUnwindSafe, catch_unwind};

use borel_autograd::{Pass, Tape, Tensor, set_debug_nans};

fn panic_message(f: impl FnOnce()) -> String {
    let err = catch_unwind(AssertUnwindSafe(f)).expect_err("expected a panic");
    err.downcast_ref::<String>().cloned().unwrap_or_default()
}

#[test]
fn the_first_non_finite_op_is_named_with_its_shapes_and_line() {
    set_debug_nans(true);
    let tape = Tape::<f64>::new();
    let h = tape.var(Tensor::from_vec(vec![1.0, -2.0], &[2]));
    let line = line!() + 2;
    let msg = panic_message(|| {
        h.log();
    });
    let site = format!("called at {}:{line}:", file!());
    assert!(
        msg.starts_with("BOREL_DEBUG_NANS: log produced NaN from finite inputs"),
        "{msg}"
    );
    assert!(msg.contains("(input shapes [[2]])") && msg.contains(&site), "{msg}");

    // Backward: sqrt(0) is finite, its derivative 1 / (2 sqrt 0) is not.
    let x = tape.var(Tensor::from_vec(vec![4.0, 0.0], &[2]));
    let line = line!() + 1;
    let y = x.sqrt().sum();
    let msg = panic_message(|| drop(y.backward()));
    assert!(msg.contains("sqrt's backward produced a gradient of inf"), "{msg}");
    assert!(msg.contains(&format!("called at {}:{line}:", file!())), "{msg}");

    // An op fed a NaN is not blamed: only the op that made it.
    let tape = Tape::<f64>::new();
    tape.keep_first_non_finite();
    let h = tape.var(Tensor::from_vec(vec![-1.0], &[1]));
    let line = line!() + 1;
    let z = h.log();
    let w = (z * 3.0).exp().sum();
    let report = tape.take_non_finite().expect("kept, not panicked");
    assert_eq!(
        (report.op.as_str(), report.pass, report.value),
        ("log", Pass::Forward, "NaN")
    );
    assert_eq!(report.site.map(|l| (l.file(), l.line())), Some((file!(), line)));
    assert!(tape.take_non_finite().is_none() && w.item().is_nan());

    // Off: values flow as computed, nothing is checked.
    set_debug_nans(false);
    let tape = Tape::<f64>::new();
    let h = tape.var(Tensor::from_vec(vec![-2.0], &[1]));
    assert!(h.log().item().is_nan());
}
