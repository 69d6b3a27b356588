//! NaN and infinity tracing, after JAX's `jax_debug_nans` and PyTorch's anomaly mode.
//!
//! With the environment variable `BOREL_DEBUG_NANS=1`, or after [`set_debug_nans`]`(true)`,
//! every op checks its value: the first op whose value holds a NaN or an infinity computed
//! from finite inputs (forward), or whose backward rule turns a finite gradient into a
//! non-finite one, panics naming the op, the shapes and the line of the program that called
//! the op. A tape in [`Tape::keep_first_non_finite`](crate::Tape::keep_first_non_finite) mode
//! keeps that report instead of panicking (what `fit` does, to return it as an error).
//! When tracing is off, an op pays one relaxed atomic load.
//!
//! ```
//! use borel_autograd::{Tape, Tensor, set_debug_nans};
//! set_debug_nans(true);
//! let tape = Tape::<f64>::new();
//! tape.keep_first_non_finite();
//! let h = tape.var(Tensor::from_vec(vec![1.0, -2.0], &[2]));
//! let y = (h.log() * 2.0).sum(); // log(-2) is NaN
//! let report = tape.take_non_finite().unwrap();
//! assert_eq!(report.op, "log");
//! assert!(report.to_string().contains("anomaly.rs") || report.site.is_some());
//! # let _ = y;
//! set_debug_nans(false);
//! ```

use std::fmt;
use std::panic::Location;
use std::sync::atomic::{AtomicU8, Ordering};

use crate::float::Float;
use crate::tensor::Tensor;

const UNREAD: u8 = 0;
const OFF: u8 = 1;
const ON: u8 = 2;

static MODE: AtomicU8 = AtomicU8::new(UNREAD);

/// Switches NaN tracing on or off for every tape of the program, overriding
/// `BOREL_DEBUG_NANS`.
pub fn set_debug_nans(on: bool) {
    MODE.store(if on { ON } else { OFF }, Ordering::Relaxed);
}

/// Whether NaN tracing is on: [`set_debug_nans`], else `BOREL_DEBUG_NANS=1` (read once).
#[inline]
pub fn debug_nans() -> bool {
    match MODE.load(Ordering::Relaxed) {
        ON => true,
        OFF => false,
        _ => read_env(),
    }
}

#[cold]
fn read_env() -> bool {
    let on = std::env::var("BOREL_DEBUG_NANS").is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"));
    let _ = MODE.compare_exchange(UNREAD, if on { ON } else { OFF }, Ordering::Relaxed, Ordering::Relaxed);
    debug_nans()
}

/// Which pass an op was in when its value or gradient became non-finite.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pass {
    /// The op's value.
    Forward,
    /// A gradient its backward rule produced.
    Backward,
}

/// The first op that made a NaN or an infinity, and where the program called it.
#[derive(Clone, Debug, PartialEq)]
pub struct NonFiniteOp {
    /// The op (`log`, `div`, `matmul`, ...).
    pub op: String,
    /// Forward value or backward gradient.
    pub pass: Pass,
    /// The shapes of the op's inputs.
    pub input_shapes: Vec<Vec<usize>>,
    /// What was produced: `NaN` or `inf`.
    pub value: &'static str,
    /// The caller's file, line and column; `None` when the op ran while tracing was off.
    pub site: Option<&'static Location<'static>>,
}

impl fmt::Display for NonFiniteOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (what, from) = match self.pass {
            Pass::Forward => (" produced", "from finite inputs"),
            Pass::Backward => ("'s backward produced a gradient of", "from a finite incoming gradient"),
        };
        write!(
            f,
            "{}{what} {} {from} (input shapes {:?})",
            self.op, self.value, self.input_shapes
        )?;
        match self.site {
            Some(l) => write!(f, ", called at {}:{}:{}", l.file(), l.line(), l.column()),
            None => write!(f, " (call site not recorded: tracing was off when the op ran)"),
        }
    }
}

/// `NaN` or `inf` when `t` holds one (NaN first).
pub(crate) fn non_finite_kind<F: Float>(t: &Tensor<F>) -> Option<&'static str> {
    if t.all_finite() {
        return None;
    }
    Some(if t.data().iter().any(|v| v.to_f64().is_nan()) {
        "NaN"
    } else {
        "inf"
    })
}
