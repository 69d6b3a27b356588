//! Where a panic was reported, for the tests that check a programming error panics at the
//! caller's line with a message naming what went wrong. Shared by the tests of
//! `borel-autograd` and `borel-nn` (included with `#[path]`).
#![allow(dead_code)]

use std::cell::RefCell;
use std::sync::Once;

thread_local! {
    /// `Some` while this thread expects a panic; then holds where it was reported.
    static SITE: RefCell<Option<Option<(String, u32)>>> = const { RefCell::new(None) };
}

/// Runs `f`, expecting a panic; returns its message, file and line. Only panics on this thread
/// while it waits are captured, so tests running in parallel keep their normal reports.
pub fn panic_site(f: impl FnOnce()) -> (String, String, u32) {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let site = info.location().map(|l| (l.file().to_string(), l.line()));
            let caught = SITE.with(|s| s.borrow_mut().as_mut().map(|slot| *slot = site).is_some());
            if !caught {
                prev(info);
            }
        }));
    });
    SITE.with(|s| *s.borrow_mut() = Some(None));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    let site = SITE.with(|s| s.borrow_mut().take()).flatten();
    let err = result.expect_err("expected a panic");
    let msg = err
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap();
    let (file, line) = site.expect("the panic hook saw no location");
    (msg, file, line)
}
