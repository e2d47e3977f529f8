//! [`Interruption`]: why a subscription that resumes by itself is not
//! streaming right now, for a program that wants to tell its user (as
//! `drift sub` does) rather than wait in silence.

use crate::model::EndReason;

/// What [`super::Subscription::interruption`] answers while a subscription
/// is resuming: the stream ended or broke and no new one is open yet. Gone
/// again once a new stream is open; what was missed meanwhile then arrives
/// as a gap, as always.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Interruption {
    /// The server's reason when it ended the stream (`shutdown`, `slow
    /// consumer`); `None` when the connection broke or the stream ended
    /// without one.
    pub end_reason: Option<EndReason>,
    /// Attempts to reopen that failed so far (0 while the first is under
    /// way).
    pub failed_attempts: u32,
    /// Why the last failed attempt failed.
    pub last_error: Option<String>,
}

impl Interruption {
    pub(crate) fn new(end_reason: Option<EndReason>) -> Interruption {
        Interruption {
            end_reason,
            failed_attempts: 0,
            last_error: None,
        }
    }
}
