//! Backing off a listener whose `accept` fails.
//!
//! Descriptor exhaustion (EMFILE/ENFILE) fails every accept at once; a loop
//! that retried at once would spin a core and flood the log. Shared by the
//! shards' peer listeners and the control servers (HTTP, IPC).

use std::time::{Duration, Instant};

/// First wait after a failed accept; it doubles up to [`MAX_WAIT`].
const MIN_WAIT: Duration = Duration::from_millis(5);
/// Longest wait between accepts while they keep failing.
const MAX_WAIT: Duration = Duration::from_secs(1);
/// At most one log line per this interval.
const LOG_EVERY: Duration = Duration::from_secs(10);

/// The wait and log state of one accept loop.
#[derive(Debug)]
pub(crate) struct AcceptBackoff {
    wait: Duration,
    last_log: Option<Instant>,
    suppressed: u64,
}

impl Default for AcceptBackoff {
    fn default() -> Self {
        AcceptBackoff {
            wait: MIN_WAIT,
            last_log: None,
            suppressed: 0,
        }
    }
}

impl AcceptBackoff {
    /// An accept succeeded: the next failure waits [`MIN_WAIT`] again.
    pub(crate) fn accepted(&mut self) {
        self.wait = MIN_WAIT;
    }

    /// An accept failed. Returns how long to wait before the next one
    /// (5 ms doubling to 1 s) and, at most once per 10 s, `Some(n)`: log
    /// now, `n` failures having gone unlogged since the last line.
    pub(crate) fn failed(&mut self) -> (Duration, Option<u64>) {
        let wait = self.wait;
        self.wait = (self.wait * 2).min(MAX_WAIT);
        if self.last_log.is_none_or(|t| t.elapsed() >= LOG_EVERY) {
            self.last_log = Some(Instant::now());
            (wait, Some(std::mem::take(&mut self.suppressed)))
        } else {
            self.suppressed += 1;
            (wait, None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_to_a_second_and_logs_once_per_interval() {
        let mut b = AcceptBackoff::default();
        let (w, log) = b.failed();
        assert_eq!((w, log), (Duration::from_millis(5), Some(0)));
        let waits: Vec<_> = (0..10).map(|_| b.failed()).collect();
        assert_eq!(waits[0], (Duration::from_millis(10), None));
        assert_eq!(waits[9].0, MAX_WAIT);
        b.accepted();
        assert_eq!(b.failed().0, MIN_WAIT);
        assert_eq!(b.suppressed, 11, "failures not logged are counted");
    }
}
