//! What a subscription yields.

use std::fmt;

use bytes::Bytes;

use crate::model::{EndReason, Gap, MessageId};

/// A message as a subscriber receives it.
#[derive(Clone, PartialEq, Eq)]
pub struct ReceivedMessage {
    /// The published bytes.
    pub payload: Bytes,
    /// Sequence number in its epoch (0 from a server without Drift framing).
    pub seq: u64,
    /// The topic incarnation (0 from a server without Drift framing).
    pub epoch: u64,
    /// Publish time in µs since the Unix epoch (the arrival time from a
    /// server without Drift framing).
    pub time_us: u64,
    /// `EPOCH-SEQ`; `None` from a server without Drift framing.
    pub id: Option<MessageId>,
}

impl fmt::Debug for ReceivedMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Payloads are the user's data: show their size only.
        f.debug_struct("ReceivedMessage")
            .field("id", &self.id)
            .field("time_us", &self.time_us)
            .field("len", &self.payload.len())
            .finish()
    }
}

/// One item of a [`super::Subscription`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubscriptionEvent {
    /// A message.
    Message(ReceivedMessage),
    /// Messages are missing (expired from history, dropped because this
    /// subscriber was slow, or unknown because the topic's epoch changed).
    Gap(Gap),
    /// The server ended the subscription; nothing follows. With resume on,
    /// only "deleted" and reasons this version does not know end it:
    /// "shutdown" and "slow consumer" are resumed from instead.
    End(EndReason),
}
