//! How to subscribe, and how to retry while resuming.

use std::time::Duration;

use crate::error::{Error, ErrorKind};
use crate::model::{HistoryRequest, SlowPolicy};

/// How a subscription retries after its connection broke: the first retry
/// at once, then after `initial`, doubling up to `max` (each delay varied by
/// up to ±20 % so that many clients do not retry in lockstep).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Delay after the first failed retry.
    pub initial: Duration,
    /// Longest delay.
    pub max: Duration,
    /// Consecutive failed attempts before giving up with the last error;
    /// `None` retries forever.
    pub max_attempts: Option<u32>,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(5),
            max_attempts: None,
        }
    }
}

/// How to subscribe. `SubscribeOptions::default()` asks for no history,
/// disconnect-when-slow, and automatic resume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscribeOptions {
    /// What to replay first: the newest N, everything since a time, or
    /// everything after a message id (all bounds apply together).
    pub history: HistoryRequest,
    /// What the server does when this subscriber falls behind.
    pub on_slow: SlowPolicy,
    /// Keep the subscription going across disconnects, server shutdowns and
    /// slow-consumer ends, resuming after the last message delivered
    /// (default `true`).
    pub resume: bool,
    /// Retry timing while resuming.
    pub reconnect: Backoff,
    /// Ask for the raw framing (no ids, one message per DATA frame), as the
    /// original Drift server sends. For interoperability tests.
    pub raw: bool,
}

impl Default for SubscribeOptions {
    fn default() -> Self {
        SubscribeOptions {
            history: HistoryRequest::default(),
            on_slow: SlowPolicy::default(),
            resume: true,
            reconnect: Backoff::default(),
            raw: false,
        }
    }
}

/// Errors worth another attempt: the server is unreachable, restarting,
/// overloaded or failing for a while — not a refusal of this request.
pub(crate) fn retryable(e: &Error) -> bool {
    match e.kind() {
        ErrorKind::Connect | ErrorKind::Timeout | ErrorKind::Io | ErrorKind::Unavailable => true,
        ErrorKind::Http => e.status().is_some_and(|s| s >= 500),
        _ => false,
    }
}

/// The wait after `failures` consecutive failed attempts.
pub(crate) fn backoff_delay(b: &Backoff, failures: u32) -> Duration {
    let exp = failures.saturating_sub(1).min(20);
    let base = b.initial.saturating_mul(1 << exp).min(b.max);
    // ±20 % from a per-call random hash; no RNG crate needed for this.
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(failures);
    let unit = (h.finish() % 1001) as f64 / 1000.0; // 0.0..=1.0
    base.mul_f64(0.8 + 0.4 * unit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_the_cap() {
        let b = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
            max_attempts: None,
        };
        let d1 = backoff_delay(&b, 1);
        assert!(d1 >= Duration::from_millis(80) && d1 <= Duration::from_millis(120));
        let d3 = backoff_delay(&b, 3);
        assert!(d3 >= Duration::from_millis(320) && d3 <= Duration::from_millis(480));
        let d30 = backoff_delay(&b, 30);
        assert!(d30 <= Duration::from_millis(1200));
    }

    #[test]
    fn only_transient_errors_are_retried() {
        assert!(retryable(&Error::new(ErrorKind::Connect, "x")));
        assert!(retryable(
            &Error::new(ErrorKind::Unavailable, "x").with_status(503)
        ));
        assert!(retryable(
            &Error::new(ErrorKind::Http, "x").with_status(502)
        ));
        assert!(!retryable(
            &Error::new(ErrorKind::Http, "x").with_status(418)
        ));
        assert!(!retryable(
            &Error::new(ErrorKind::NotFound, "x").with_status(404)
        ));
        assert!(!retryable(&Error::new(ErrorKind::Tls, "x")));
    }
}
