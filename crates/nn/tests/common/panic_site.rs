//! The message and the line of a panic, for tests that check a programming error is reported
//! at the caller's line. Shared by the tests of `borel-nn` and `borel`.
//!
//! It swaps the process's panic hook while `f` runs; panics of other threads (tests running in
//! parallel) still go to the usual hook.

use std::panic::{self, AssertUnwindSafe, PanicHookInfo};
use std::sync::{Arc, Mutex};

type Hook = Arc<dyn Fn(&PanicHookInfo<'_>) + Send + Sync>;

/// Runs `f`, which must panic in the file `file` (the caller's `file!()`); returns the panic's
/// message and its line.
pub fn panic_of(file: &str, f: impl FnOnce()) -> (String, u32) {
    let seen: Arc<Mutex<Option<(String, String, u32)>>> = Arc::default();
    let keep = seen.clone();
    let old: Hook = Arc::from(panic::take_hook());
    let others = old.clone();
    let this_thread = std::thread::current().id();
    panic::set_hook(Box::new(move |info| {
        if std::thread::current().id() != this_thread {
            return others(info);
        }
        let message = match info.payload().downcast_ref::<String>() {
            Some(s) => s.clone(),
            None => info
                .payload()
                .downcast_ref::<&str>()
                .map_or(String::new(), |s| s.to_string()),
        };
        let at = info.location().unwrap();
        *keep.lock().unwrap() = Some((message, at.file().to_string(), at.line()));
    }));
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    panic::set_hook(Box::new(move |info| old(info)));
    assert!(result.is_err(), "expected a panic");
    let (message, at_file, line) = seen.lock().unwrap().take().expect("the hook saw the panic");
    assert_eq!(
        at_file, file,
        "reported in {at_file}, not at the caller's line: {message}"
    );
    (message, line)
}
