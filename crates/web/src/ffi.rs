//! The page's interface: `extern "C"` functions over linear memory. Text goes in as UTF-8
//! bytes the caller wrote into a buffer from [`borel_alloc`], and comes out as JSON in one
//! output buffer ([`borel_out_ptr`], [`borel_out_len`]) that the next call overwrites. Each
//! Web Worker holds its own instance, so one run per instance is all the state there is.
//!
//! The `borel_*` exports are thin wrappers over the safe functions here, which the native
//! tests call directly.

use std::cell::RefCell;

use serde_json::{Value, json};

use crate::config::Config;
use crate::target::Target;
use crate::trainer::{TrainError, Trainer};

thread_local! {
    static RUN: RefCell<Option<Trainer>> = const { RefCell::new(None) };
    static OUT: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

#[cfg(target_arch = "wasm32")]
unsafe extern "C" {
    /// Shows a panic's message in the page (a panic then traps, and the trap alone says only
    /// "unreachable").
    fn borel_panic(ptr: *const u8, len: usize);
}

/// `{"error": message, "pos": character offset or null}`.
fn error_json(e: &TrainError) -> Value {
    let pos = match e {
        TrainError::Parse(p) => Some(p.pos),
        _ => None,
    };
    json!({ "error": e.to_string(), "pos": pos })
}

/// Starts a run from the page's JSON config; returns what the page draws once per run
/// (sizes, the target's grid, the linear bound) or the error to show.
///
/// ```
/// let info = borel_web::ffi::setup(r#"{"preset": "sigmoid", "samples": 100}"#, 8).unwrap();
/// assert_eq!(info["layers"], serde_json::json!([2, 20, 20, 1]));
/// let err = borel_web::ffi::setup(r#"{"target": "sin(x1"}"#, 8).unwrap_err();
/// assert_eq!(err["pos"], 6);
/// ```
pub fn setup(config: &str, grid: usize) -> Result<Value, Value> {
    #[cfg(target_arch = "wasm32")]
    std::panic::set_hook(Box::new(|info| {
        let msg = info.to_string();
        // SAFETY: the page's `env.borel_panic` reads `msg.len()` bytes at `msg.as_ptr()`.
        unsafe { borel_panic(msg.as_ptr(), msg.len()) };
    }));
    let c = Config::from_json(config).map_err(|e| json!({ "error": e.to_string(), "pos": null }))?;
    let t = Trainer::new(&c).map_err(|e| error_json(&e))?;
    let mut layers = vec![2];
    layers.extend(c.hidden.iter().map(|l| l.units));
    layers.push(1);
    let ((a, b), (lo, hi)) = t.inputs().view();
    let info = json!({
        "layers": layers,
        "activations": c.hidden.iter().map(|l| l.activation.name()).collect::<Vec<_>>(),
        "params": t.num_params(),
        "bound": t.linear_bound(),
        "view": [[a, b], [lo, hi]],
        "grid": grid,
        "target": t.target_grid(grid),
        "batchesPerEpoch": c.samples.div_ceil(c.batch.min(c.samples)),
        "config": config_json(&c),
    });
    RUN.with(|r| *r.borrow_mut() = Some(t));
    Ok(info)
}

/// The config as the page's controls show it.
fn config_json(c: &Config) -> Value {
    let optimizer = c.optimizer.name();
    let layers: Vec<Value> = c
        .hidden
        .iter()
        .map(|l| json!({ "units": l.units, "activation": l.activation.name() }))
        .collect();
    json!({
        "target": c.target, "samples": c.samples, "noise": c.noise, "layers": layers,
        "optimizer": optimizer, "lr": c.lr, "batch": c.batch, "seed": c.seed,
    })
}

/// Whether `text` parses as a target; the error to show when not.
///
/// ```
/// assert!(borel_web::ffi::check_target("x1 * x2").is_ok());
/// assert_eq!(borel_web::ffi::check_target("x1 * ").unwrap_err()["pos"], 5);
/// ```
pub fn check_target(text: &str) -> Result<(), Value> {
    Target::parse(text).map(|_| ()).map_err(|e| error_json(&e.into()))
}

/// Trains `steps` batches, or `epochs` whole epochs when `steps` is 0; an error when no run
/// is set up or the loss diverged.
pub fn train(steps: usize, epochs: usize) -> Result<(), Value> {
    with_run(|t| {
        for _ in 0..steps {
            t.step()?;
        }
        for _ in 0..epochs {
            t.epoch()?;
        }
        Ok(())
    })
}

fn with_run<R>(f: impl FnOnce(&mut Trainer) -> Result<R, TrainError>) -> Result<R, Value> {
    RUN.with(|r| match r.borrow_mut().as_mut() {
        Some(t) => f(t).map_err(|e| error_json(&e)),
        None => Err(json!({ "error": "no run: call setup first", "pos": null })),
    })
}

/// The run's state for redrawing: epochs and steps done, the epoch losses from epoch
/// `since` on, the prediction on the `grid x grid` heat map and the kernels; with `steps`,
/// the first `steps` batch losses too.
pub fn report(grid: usize, since: usize, steps: usize) -> Result<Value, Value> {
    with_run(|t| {
        let losses = t.epoch_losses();
        let kernels: Vec<Value> = t.kernels().into_iter().map(|(i, o, w)| json!([i, o, w])).collect();
        Ok(json!({
            "epoch": t.epochs_done(),
            "steps": t.steps_done(),
            "losses": losses[since.min(losses.len())..],
            "pred": t.predict_grid(grid),
            "kernels": kernels,
            "stepLosses": t.step_losses()[..steps.min(t.steps_done())],
        }))
    })
}

fn put(v: &Value) {
    OUT.with(|o| *o.borrow_mut() = v.to_string().into_bytes());
}

fn answer(r: Result<Value, Value>) -> u32 {
    match r {
        Ok(v) => {
            put(&v);
            0
        }
        Err(e) => {
            put(&e);
            1
        }
    }
}

/// Reads the UTF-8 text the caller wrote at `ptr`.
///
/// # Safety
/// `ptr..ptr + len` must be initialized memory the caller owns (from [`borel_alloc`]).
unsafe fn text<'a>(ptr: *const u8, len: usize) -> Result<&'a str, Value> {
    // SAFETY: the caller's contract.
    let bytes = unsafe { std::slice::from_raw_parts(ptr, len) };
    std::str::from_utf8(bytes).map_err(|e| json!({ "error": e.to_string(), "pos": null }))
}

/// A buffer of `len` bytes for the caller to write text into; free it with [`borel_free`].
#[unsafe(no_mangle)]
pub extern "C" fn borel_alloc(len: usize) -> *mut u8 {
    let mut v = std::mem::ManuallyDrop::new(Vec::<u8>::with_capacity(len.max(1)));
    v.as_mut_ptr()
}

/// Frees a buffer from [`borel_alloc`].
///
/// # Safety
/// `ptr` and `len` must be exactly what [`borel_alloc`] was given and returned, once.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn borel_free(ptr: *mut u8, len: usize) {
    // SAFETY: the caller's contract: this is the allocation `borel_alloc(len)` made.
    drop(unsafe { Vec::from_raw_parts(ptr, 0, len.max(1)) });
}

/// [`setup`] on the JSON config at `ptr`; 0 and the info in the output, or 1 and the error.
///
/// # Safety
/// As for [`borel_free`]'s buffer: `len` initialized bytes at `ptr`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn borel_setup(ptr: *const u8, len: usize, grid: u32) -> u32 {
    // SAFETY: passed on.
    answer(unsafe { text(ptr, len) }.and_then(|c| setup(c, grid as usize)))
}

/// [`check_target`] on the text at `ptr`; 0, or 1 and the error in the output.
///
/// # Safety
/// `len` initialized bytes at `ptr`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn borel_check(ptr: *const u8, len: usize) -> u32 {
    // SAFETY: passed on.
    answer(unsafe { text(ptr, len) }.and_then(|t| check_target(t).map(|_| Value::Null)))
}

/// [`train`]; 0, or 1 and the error in the output.
#[unsafe(no_mangle)]
pub extern "C" fn borel_train(steps: u32, epochs: u32) -> u32 {
    answer(train(steps as usize, epochs as usize).map(|_| Value::Null))
}

/// [`report`] into the output; 0, or 1 and the error.
#[unsafe(no_mangle)]
pub extern "C" fn borel_report(grid: u32, since: u32, steps: u32) -> u32 {
    answer(report(grid as usize, since as usize, steps as usize))
}

/// Where the last answer's JSON starts.
#[unsafe(no_mangle)]
pub extern "C" fn borel_out_ptr() -> *const u8 {
    OUT.with(|o| o.borrow().as_ptr())
}

/// The last answer's length in bytes.
#[unsafe(no_mangle)]
pub extern "C" fn borel_out_len() -> usize {
    OUT.with(|o| o.borrow().len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out() -> Value {
        // SAFETY: the output buffer is live until the next call on this thread.
        let bytes = unsafe { std::slice::from_raw_parts(borel_out_ptr(), borel_out_len()) };
        serde_json::from_slice(bytes).unwrap()
    }

    fn call_with(text: &str, f: impl FnOnce(*const u8, usize) -> u32) -> u32 {
        let p = borel_alloc(text.len());
        // SAFETY: `p` has room for `text.len()` bytes.
        unsafe { std::ptr::copy_nonoverlapping(text.as_ptr(), p, text.len()) };
        let rc = f(p, text.len());
        // SAFETY: as allocated.
        unsafe { borel_free(p, text.len()) };
        rc
    }

    #[test]
    fn exports_round_trip_a_run_through_memory() {
        assert_eq!(borel_train(1, 0), 1);
        assert_eq!(out()["error"], "no run: call setup first");
        // SAFETY: `call_with` passes its own buffer.
        let rc = call_with(r#"{"preset":"sigmoid","samples":200}"#, |p, n| unsafe {
            borel_setup(p, n, 6)
        });
        assert_eq!(rc, 0, "{}", out());
        let info = out();
        assert_eq!(
            (info["params"].as_u64(), info["batchesPerEpoch"].as_u64()),
            (Some(501), Some(4))
        );
        assert_eq!(info["target"].as_array().unwrap().len(), 36);
        assert_eq!(
            info["config"]["layers"][1],
            json!({"units": 20, "activation": "sigmoid"})
        );
        assert_eq!(
            (&info["config"]["optimizer"], &info["config"]["samples"]),
            (&json!("rmsprop"), &json!(200))
        );
        assert_eq!(borel_train(0, 3), 0);
        assert_eq!(borel_train(2, 0), 0);
        assert_eq!(borel_report(6, 1, 5), 0);
        let r = out();
        assert_eq!((r["epoch"].as_u64(), r["steps"].as_u64()), (Some(3), Some(14)));
        assert_eq!(r["losses"].as_array().unwrap().len(), 2);
        assert_eq!(r["stepLosses"].as_array().unwrap().len(), 5);
        assert_eq!(r["pred"].as_array().unwrap().len(), 36);
        assert_eq!((&r["kernels"][1][0], &r["kernels"][1][1]), (&json!(20), &json!(20)));
    }

    #[test]
    fn bad_expressions_come_back_with_their_position() {
        // SAFETY: as above.
        let rc = call_with("x1 + sin(", |p, n| unsafe { borel_check(p, n) });
        assert_eq!((rc, out()["pos"].as_u64()), (1, Some(9)));
        assert!(
            out()["error"]
                .as_str()
                .unwrap()
                .starts_with("column 10: expected a number")
        );
        // SAFETY: as above.
        assert_eq!(call_with("x1 * x2", |p, n| unsafe { borel_check(p, n) }), 0);
        let rc = call_with(r#"{"target":"log(x1)"}"#, |p, n| unsafe { borel_setup(p, n, 4) });
        assert_eq!(rc, 1);
        assert!(
            out()["error"].as_str().unwrap().starts_with("the function is NaN"),
            "{}",
            out()
        );
    }
}
