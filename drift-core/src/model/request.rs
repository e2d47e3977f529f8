//! What a subscriber asks for: the history to replay and how a full queue is
//! handled. Parsing them from a request is the protocol's job
//! (`protocol::history`).

use super::MessageId;
use crate::error::{Error, Result};

/// A history request. All given bounds apply together: messages after `after`
/// and strictly after `since_us`, then the newest `last` of those.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HistoryRequest {
    /// Replay at most the newest N messages.
    pub last: Option<u64>,
    /// Replay messages published strictly after this time (µs since the Unix epoch).
    pub since_us: Option<u64>,
    /// Resume: replay every retained message after this id.
    pub after: Option<MessageId>,
}

/// What happens when a subscriber's queue is full.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum SlowPolicy {
    /// End the subscription with reason "slow consumer" (default); the
    /// subscriber can resume by id.
    #[default]
    Disconnect,
    /// Skip ahead and report the skipped messages as a gap.
    Drop,
}

// ===== impl HistoryRequest =====

impl HistoryRequest {
    /// True when nothing is to be replayed.
    pub fn is_empty(&self) -> bool {
        self.last.is_none() && self.since_us.is_none() && self.after.is_none()
    }
}

// ===== impl SlowPolicy =====

impl SlowPolicy {
    /// The wire word: `disconnect` or `drop`.
    pub fn as_str(self) -> &'static str {
        match self {
            SlowPolicy::Disconnect => "disconnect",
            SlowPolicy::Drop => "drop",
        }
    }
}

impl std::str::FromStr for SlowPolicy {
    type Err = Error;

    fn from_str(word: &str) -> Result<SlowPolicy> {
        match word {
            "disconnect" => Ok(SlowPolicy::Disconnect),
            "drop" => Ok(SlowPolicy::Drop),
            other => Err(Error::invalid(format!(
                "unknown slow-consumer policy {other:?} (expected disconnect or drop)"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_policy_words_round_trip() {
        for p in [SlowPolicy::Disconnect, SlowPolicy::Drop] {
            assert_eq!(p.as_str().parse::<SlowPolicy>().unwrap(), p);
        }
        assert!("later".parse::<SlowPolicy>().is_err());
    }
}
