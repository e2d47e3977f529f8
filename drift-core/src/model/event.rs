//! What a subscriber receives besides messages: gaps and the end of the stream.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use super::Message;
use crate::error::{Error, ErrorKind};

/// One item of a subscription.
#[derive(Debug, Clone)]
pub enum Event {
    /// A published message.
    Message(Arc<Message>),
    /// Messages the subscriber asked for, or would have received, are missing.
    Gap(Gap),
    /// The stream is over; nothing follows.
    End(EndReason),
}

/// Why messages are missing.
///
/// More reasons may come: a match outside drift-core needs a wildcard arm
/// ([`GapReason::as_str`] names every reason).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GapReason {
    /// They left history (count, bytes or age bound) before they could be replayed.
    Expired,
    /// The resume id belongs to another incarnation of the topic (deleted and
    /// recreated, or a server restart without durable history): anything
    /// after it in the old epoch is unknown.
    Epoch,
    /// The subscriber was too slow and asked for drops rather than a disconnect.
    Dropped,
}

/// A run of missing messages, `from..=to` by sequence number. For
/// [`GapReason::Epoch`] the range is unknown and both are 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Gap {
    /// First missing sequence number.
    pub from: u64,
    /// Last missing sequence number.
    pub to: u64,
    /// Why they are missing.
    pub reason: GapReason,
}

/// Why a subscription ended.
///
/// More reasons may come: a match outside
/// drift-core needs a wildcard arm ([`EndReason::as_str`] names every reason).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EndReason {
    /// The topic was deleted.
    Deleted,
    /// The subscriber fell behind its queue bound.
    SlowConsumer,
    /// The server is shutting down.
    Shutdown,
    /// The store lost this incarnation of the topic (a shared store
    /// restarted empty, or came back with older data): the topic goes on
    /// under a new epoch, and resuming by id reports the epoch gap.
    Reset,
    /// The grant the subscription was made under expired (its token's
    /// `exp` passed): subscribe again with a fresh token.
    Unauthorized,
    /// A reason this version does not know (from a newer server).
    Other(String),
}

// ===== impl GapReason =====

impl GapReason {
    /// The wire word for this reason.
    pub fn as_str(self) -> &'static str {
        match self {
            GapReason::Expired => "expired",
            GapReason::Epoch => "epoch",
            GapReason::Dropped => "dropped",
        }
    }

    /// Parses a wire word.
    pub fn parse(word: &str) -> Option<GapReason> {
        match word {
            "expired" => Some(GapReason::Expired),
            "epoch" => Some(GapReason::Epoch),
            "dropped" => Some(GapReason::Dropped),
            _ => None,
        }
    }
}

// ===== impl Gap =====

impl fmt::Display for Gap {
    /// The `Drift-Gap` header form: `FROM-TO REASON`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{} {}", self.from, self.to, self.reason.as_str())
    }
}

impl FromStr for Gap {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || Error::new(ErrorKind::Protocol, format!("malformed gap {s:?}"));
        let (range, reason) = s.trim().split_once(' ').ok_or_else(bad)?;
        let (from, to) = range.split_once('-').ok_or_else(bad)?;
        Ok(Gap {
            from: from.parse().map_err(|_| bad())?,
            to: to.parse().map_err(|_| bad())?,
            reason: GapReason::parse(reason.trim()).ok_or_else(bad)?,
        })
    }
}

// ===== impl EndReason =====

impl EndReason {
    /// The wire text for this reason.
    pub fn as_str(&self) -> &str {
        match self {
            EndReason::Deleted => "deleted",
            EndReason::SlowConsumer => "slow consumer",
            EndReason::Shutdown => "shutdown",
            EndReason::Reset => "reset",
            EndReason::Unauthorized => "unauthorized",
            EndReason::Other(s) => s,
        }
    }

    /// Parses the wire text; unknown reasons are kept as [`EndReason::Other`].
    pub fn parse(text: &str) -> EndReason {
        match text {
            "deleted" => EndReason::Deleted,
            "slow consumer" => EndReason::SlowConsumer,
            "shutdown" => EndReason::Shutdown,
            "reset" => EndReason::Reset,
            "unauthorized" => EndReason::Unauthorized,
            other => EndReason::Other(other.to_string()),
        }
    }
}

impl fmt::Display for EndReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gap_header_round_trips() {
        let gap = Gap {
            from: 3,
            to: 9,
            reason: GapReason::Expired,
        };
        assert_eq!(gap.to_string(), "3-9 expired");
        assert_eq!("3-9 expired".parse::<Gap>().unwrap(), gap);
        assert!("3 expired".parse::<Gap>().is_err());
        assert!("3-9 lost".parse::<Gap>().is_err());
    }

    #[test]
    fn end_reasons_round_trip() {
        for r in [
            EndReason::Deleted,
            EndReason::SlowConsumer,
            EndReason::Shutdown,
            EndReason::Unauthorized,
        ] {
            assert_eq!(EndReason::parse(r.as_str()), r);
        }
        assert_eq!(EndReason::parse("moved"), EndReason::Other("moved".into()));
    }
}
