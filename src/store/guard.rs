//! The store boundary for panics. redb may panic on a damaged file (an index out of range
//! while decoding a page, a debug assertion on an impossible allocator state); such a panic
//! must reach the person as "the database is damaged" with what to do, not as a stack trace.
//! Work inside [`catch`] runs with the panic message kept aside instead of printed, and a
//! panic comes back as its message.

use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

thread_local! {
    /// How deep this thread is inside [`catch`]; the hook stays quiet while above zero.
    static DEPTH: Cell<u32> = const { Cell::new(0) };
    /// The message of the last panic caught on this thread.
    static MESSAGE: RefCell<Option<String>> = const { RefCell::new(None) };
}

static INSTALLED: Once = Once::new();

/// Wraps the panic hook in place now (the default one, or the terminal-restoring hook of a
/// console) so that panics inside [`catch`] are kept quiet. Idempotent per process; the
/// console calls [`reinstall`] after it sets up the terminal so the filter sits outermost.
fn install() {
    INSTALLED.call_once(wrap_hook);
}

/// Puts the filter outside whatever hook is in place now.
pub fn reinstall() {
    wrap_hook();
}

fn wrap_hook() {
    let previous = panic::take_hook();
    panic::set_hook(Box::new(move |info| {
        if DEPTH.with(|d| d.get()) > 0 {
            let message = if let Some(s) = info.payload().downcast_ref::<&str>() {
                (*s).to_string()
            } else if let Some(s) = info.payload().downcast_ref::<String>() {
                s.clone()
            } else {
                "an internal check of the storage engine failed".to_string()
            };
            MESSAGE.with(|m| *m.borrow_mut() = Some(message));
        } else {
            previous(info);
        }
    }));
}

/// Runs `f`; a panic inside it comes back as `Err(message)`, with nothing printed.
pub fn catch<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    install();
    DEPTH.with(|d| d.set(d.get() + 1));
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
    result.map_err(|_| {
        MESSAGE
            .with(|m| m.borrow_mut().take())
            .unwrap_or_else(|| "an internal check of the storage engine failed".to_string())
    })
}
