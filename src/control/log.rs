//! The recent log lines, kept for the control surfaces (`log/main` of the
//! qBittorrent WebUI API): a `tracing` layer that copies every event at
//! INFO or above into a bounded ring of the last [`KEEP`] lines.

use std::collections::VecDeque;
use std::fmt::Write;
use std::sync::OnceLock;

use parking_lot::Mutex;
use tracing::field::{Field, Visit};

/// Lines kept.
pub const KEEP: usize = 2000;

/// A log line.
#[derive(Clone, Debug)]
pub struct LogLine {
    /// Counts up from 0 over the daemon's run.
    pub id: u64,
    /// Unix time, milliseconds.
    pub unix_ms: i64,
    /// The tracing level.
    pub level: tracing::Level,
    /// The message then its fields (`key=value`).
    pub message: String,
}

#[derive(Default)]
struct Ring {
    next_id: u64,
    lines: VecDeque<LogLine>,
}

fn ring() -> &'static Mutex<Ring> {
    static RING: OnceLock<Mutex<Ring>> = OnceLock::new();
    RING.get_or_init(Mutex::default)
}

/// The kept lines with an id above `after` (all with `None`), oldest first.
pub fn recent(after: Option<u64>) -> Vec<LogLine> {
    let r = ring().lock();
    r.lines
        .iter()
        .filter(|l| after.is_none_or(|a| l.id > a))
        .cloned()
        .collect()
}

/// The layer that keeps the lines; add it to the subscriber.
pub struct RecentLines;

/// The message and the other fields, kept apart so the message comes first.
#[derive(Default)]
struct Fields {
    message: String,
    rest: String,
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.rest, " {}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.rest, " {}={value}", field.name());
        }
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for RecentLines {
    fn on_event(
        &self,
        event: &tracing::Event<'_>,
        _ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        let level = *event.metadata().level();
        if level > tracing::Level::INFO {
            return;
        }
        let mut f = Fields::default();
        event.record(&mut f);
        let unix_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        let mut r = ring().lock();
        let id = r.next_id;
        r.next_id += 1;
        if r.lines.len() >= KEEP {
            r.lines.pop_front();
        }
        r.lines.push_back(LogLine {
            id,
            unix_ms,
            level,
            message: format!("{}{}", f.message, f.rest),
        });
    }
}
