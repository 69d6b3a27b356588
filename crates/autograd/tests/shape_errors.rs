//! Every shape error of a `Var` op, out-of-range axes and empty reductions included, panics
//! at the caller's line with a message that starts with the op's name.

use std::any::Any;
use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Once;

use borel_autograd::{Tape, Tensor, Var};

thread_local! {
    static PANIC_AT: Cell<Option<(&'static str, u32)>> = const { Cell::new(None) };
    static EXPECTED: Cell<bool> = const { Cell::new(false) };
}

/// The message and the file and line a panic of `f` was reported at.
fn panic_of(f: impl FnOnce()) -> (String, (&'static str, u32)) {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !EXPECTED.with(|e| e.get()) {
                return prev(info);
            }
            if let Some(loc) = info.location() {
                // Leaked once per recorded panic, in tests only: a &'static str fits a Cell.
                let file: &'static str = Box::leak(loc.file().to_string().into_boxed_str());
                PANIC_AT.with(|p| p.set(Some((file, loc.line()))));
            }
        }));
    });
    PANIC_AT.with(|p| p.set(None));
    EXPECTED.with(|e| e.set(true));
    let result = catch_unwind(AssertUnwindSafe(f));
    EXPECTED.with(|e| e.set(false));
    let err: Box<dyn Any + Send> = result.expect_err("expected a panic");
    let msg = match err.downcast::<String>() {
        Ok(s) => *s,
        Err(e) => e.downcast_ref::<&str>().map(|s| s.to_string()).unwrap_or_default(),
    };
    (msg, PANIC_AT.with(|p| p.get()).expect("the hook saw the panic"))
}

/// `op` panics at this line of this file, with a message naming `op` first. A macro only so
/// that `line!()` and the call share one line.
macro_rules! panics_here {
    ($op:literal, $e:expr) => {{
        let (msg, at) = panic_of(|| {
            let _ = $e;
        });
        assert_eq!(at, (file!(), line!()), "{}: reported at the wrong place ({msg})", $op);
        assert!(msg.starts_with(concat!($op, ":")), "{}: message {msg:?}", $op);
    }};
}

#[test]
fn elementwise_and_broadcasting_errors() {
    let tape = Tape::<f32>::new();
    let (a, b) = (tape.var(Tensor::ones(&[2, 3])), tape.var(Tensor::ones(&[4])));
    panics_here!("add", a + b);
    panics_here!("sub", a - b);
    panics_here!("mul", a * b);
    panics_here!("div", a / b);
    panics_here!("pow", a.pow(b));
    panics_here!("maximum", a.maximum(b));
    panics_here!("minimum", a.minimum(b));
    panics_here!("gt", a.gt(b));
    panics_here!("lt", a.lt(b));
    panics_here!("ge", a.ge(b));
    panics_here!("le", a.le(b));
    panics_here!("eq", a.eq(b));
    panics_here!("where_", Var::where_(a.gt(0.0), a, b));
    panics_here!("clamp", a.clamp(1.0, 0.0));
}

#[test]
fn reduction_errors() {
    let tape = Tape::<f32>::new();
    let a = tape.var(Tensor::ones(&[2, 3]));
    let empty = tape.var(Tensor::zeros(&[2, 0]));
    panics_here!("sum_axes", a.sum_axes(&[2], false));
    panics_here!("sum_axes", a.sum_axes(&[0, -2], false));
    panics_here!("mean_axes", a.mean_axes(&[-3], true));
    panics_here!("max_axes", a.max_axes(&[5], false));
    panics_here!("min_axes", a.min_axes(&[2], false));
    panics_here!("logsumexp_axes", a.logsumexp_axes(&[2], false));
    panics_here!("softmax", a.softmax(2));
    panics_here!("log_softmax", a.log_softmax(-3));
    panics_here!("argmax", a.argmax(2));
    panics_here!("argmin", empty.argmin(1));
    panics_here!("max", empty.max());
    panics_here!("min", empty.min());
    panics_here!("max_axes", empty.max_axes(&[1], true));
    panics_here!("min_axes", empty.min_axes(&[-1], false));
    panics_here!("sum_to_size", a.sum_to_size(&[4]));
}

#[test]
fn matmul_errors() {
    let tape = Tape::<f32>::new();
    let (a, v, s) = (
        tape.var(Tensor::ones(&[2, 3])),
        tape.var(Tensor::ones(&[2])),
        tape.var(Tensor::scalar(1.0)),
    );
    let batch = tape.var(Tensor::ones(&[4, 3, 2]));
    panics_here!("matmul", a.matmul(a));
    panics_here!("matmul", a.matmul(v));
    panics_here!("matmul", v.matmul(a.t()));
    panics_here!("matmul", s.matmul(a));
    panics_here!("matmul", batch.matmul(tape.var(Tensor::ones(&[3, 2, 5]))));
    panics_here!("t_matmul", a.t_matmul(v));
    panics_here!("matmul_t", a.matmul_t(a.t()));
    panics_here!("dot", v.dot(a));
    panics_here!("dot", v.dot(tape.var(Tensor::ones(&[3]))));
}

#[test]
fn shape_and_index_errors() {
    let tape = Tape::<f32>::new();
    let a = tape.var(Tensor::ones(&[2, 3]));
    panics_here!("reshape", a.reshape(&[4]));
    panics_here!("permute", a.permute(&[0, 0]));
    panics_here!("transpose", a.transpose(0, 2));
    panics_here!("t", a.sum_axes(&[0], false).t());
    panics_here!("broadcast_to", a.broadcast_to(&[3, 3]));
    panics_here!("squeeze", a.squeeze(0));
    panics_here!("unsqueeze", a.unsqueeze(4));
    panics_here!("flatten", a.sum().flatten());
    panics_here!("slice", a.slice(1, 2, 4));
    panics_here!("slice_step", a.slice_step(1, 0, 3, 0));
    panics_here!("pad", a.pad(2, 1, 1));
    panics_here!("concat", Var::concat(&[a, a.t()], 0));
    panics_here!("concat", Var::concat(&[a, a], 2));
    panics_here!("stack", Var::stack(&[a, a.t()], 0));
    panics_here!("stack", Var::stack(&[a, a], 3));
    panics_here!("index_select", a.index_select(1, &[0, 3]));
    panics_here!("gather", a.gather(1, &[0, 5], &[2, 1]));
    panics_here!("select", a.select(0, 2));
    panics_here!("select", a.select(-3, 0));
    panics_here!("at", a.at(&[1, -4]));
    panics_here!("at", a.at(&[0, 0, 0]));
}
