//! Reading the seeder's Prometheus `/metrics`: the exposition text, and one
//! sample's value out of it (by labels, or by the start of its line).

use std::net::SocketAddr;
use std::time::Duration;

use super::http;

/// `GET /metrics` of the metrics server; panics unless it answers 200.
pub fn scrape(metrics: SocketAddr) -> String {
    let r = http::get(metrics, "/metrics");
    assert_eq!(r.status, 200);
    r.body
}

/// `GET /metrics` within `timeout`; `None` when it does not answer 200 in time.
pub fn try_scrape(metrics: SocketAddr, timeout: Duration) -> Option<String> {
    ureq::get(&format!("http://{metrics}/metrics"))
        .timeout(timeout)
        .call()
        .ok()?
        .into_string()
        .ok()
}

/// The value of the sample `name{…}` whose labels include every `labels` pair.
pub fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines().find_map(|l| {
        let rest = l.strip_prefix(name)?.strip_prefix('{')?;
        let (lab, value) = rest.split_once("} ")?;
        labels
            .iter()
            .all(|(k, v)| lab.split(',').any(|p| p == format!("{k}=\"{v}\"")))
            .then(|| value.trim().parse().ok())?
    })
}

/// The value of the first sample whose line starts with `prefix` (0 when
/// there is none; panics when its value is not a number).
pub fn value(text: &str, prefix: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .map_or(0.0, |v| {
            v.parse()
                .unwrap_or_else(|e| panic!("{prefix}: value {v:?}: {e}"))
        })
}
