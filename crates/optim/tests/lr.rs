//! Learning rates are checked where they are set: a NaN, infinite or negative rate panics at
//! the caller's line, naming the optimizer.
//!
//! One test in this file: it installs a panic hook to read the panic's location.

use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Mutex};

use borel_optim::{Adagrad, Adam, AdamW, Optimizer, RmsProp, Sgd};

/// The message and file of the panic `f` raises.
fn panic_of(f: impl FnOnce()) -> (String, String) {
    let file = Arc::new(Mutex::new(String::new()));
    let seen = file.clone();
    let previous = panic::take_hook();
    panic::set_hook(Box::new(move |info| {
        *seen.lock().unwrap() = info.location().map(|l| l.file().to_string()).unwrap_or_default();
    }));
    let err = panic::catch_unwind(AssertUnwindSafe(f)).expect_err("expected a panic");
    panic::set_hook(previous);
    let msg = err
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    let file = file.lock().unwrap().clone();
    (msg, file)
}

#[test]
fn bad_learning_rates_panic_at_the_callers_line_naming_the_optimizer() {
    type Case = (&'static str, Box<dyn FnOnce()>);
    let cases: Vec<Case> = vec![
        ("Sgd::new", Box::new(|| drop(Sgd::<f32>::new(f64::NAN)))),
        ("Sgd::lr", Box::new(|| drop(Sgd::<f32>::keras().lr(-1.0)))),
        ("Adam::new", Box::new(|| drop(Adam::<f32>::new(f64::INFINITY)))),
        ("Adam::lr", Box::new(|| drop(Adam::<f32>::keras().lr(-1.0)))),
        ("AdamW::new", Box::new(|| drop(AdamW::<f32>::new(-0.5)))),
        ("AdamW::lr", Box::new(|| drop(AdamW::<f32>::keras().lr(f64::NAN)))),
        ("Adagrad::new", Box::new(|| drop(Adagrad::<f32>::new(f64::NAN)))),
        ("Adagrad::lr", Box::new(|| drop(Adagrad::<f32>::pytorch().lr(-1.0)))),
        ("RmsProp::lr", Box::new(|| drop(RmsProp::<f32>::pytorch().lr(-1.0)))),
        (
            "Sgd::set_learning_rate",
            Box::new(|| Sgd::<f32>::pytorch().set_learning_rate(f64::NAN)),
        ),
        (
            "AdamW::set_learning_rate",
            Box::new(|| AdamW::<f32>::pytorch().set_learning_rate(-2.0)),
        ),
    ];
    for (op, f) in cases {
        let (msg, file) = panic_of(f);
        assert!(msg.starts_with(&format!("{op}: learning rate")), "{op}: {msg}");
        assert!(msg.contains("must be finite and >= 0"), "{op}: {msg}");
        assert!(
            file.ends_with("lr.rs"),
            "{op} panicked in {file}, not at the caller's line"
        );
    }
    // zero is a valid rate (a frozen phase of a schedule)
    assert_eq!(Sgd::<f32>::new(0.0).learning_rate(), 0.0);
}
