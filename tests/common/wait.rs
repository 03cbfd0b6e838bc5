//! Polling with deadlines: a test waits for what the daemon does in its own
//! time (a view rebuilt once a second, a log line, a closed socket) and fails
//! with what it last saw when the deadline passes.

use std::time::{Duration, Instant};

/// Calls `f` every `every` until it gives `Ok`, for at most `timeout`;
/// `Err` with `f`'s last error once the deadline has passed.
pub fn poll<T>(
    timeout: Duration,
    every: Duration,
    mut f: impl FnMut() -> Result<T, String>,
) -> Result<T, String> {
    let deadline = Instant::now() + timeout;
    loop {
        match f() {
            Ok(v) => return Ok(v),
            Err(e) if Instant::now() > deadline => return Err(e),
            Err(_) => std::thread::sleep(every),
        }
    }
}

/// Polls `f` every 100 ms until it returns `Ok`, for at most `secs`; panics with the last `Err`.
pub fn eventually<T>(secs: u64, what: &str, f: impl FnMut() -> Result<T, String>) -> T {
    poll(Duration::from_secs(secs), Duration::from_millis(100), f)
        .unwrap_or_else(|e| panic!("{what}: {e}"))
}

/// Waits until `f` returns `Some`, polling every 100 ms; panics with
/// `what` after `timeout`.
pub fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    poll(timeout, Duration::from_millis(100), || {
        f().ok_or_else(String::new)
    })
    .unwrap_or_else(|_| panic!("timed out after {timeout:?} waiting for {what}"))
}

/// Waits until `f` holds, polling every 50 ms; panics with `what` after `timeout`.
pub fn until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    poll(timeout, Duration::from_millis(50), || {
        f().then_some(()).ok_or_else(String::new)
    })
    .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}
