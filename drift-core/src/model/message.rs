//! Messages and their identity.
//!
//! A message is published once and shared by every subscriber and by the
//! history store through one `Arc<Message>`: the payload is a single `Bytes`
//! and each framing's encoding is computed at most once, on first use.
//! The message carries its own epoch, so encoding it needs nothing else.

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use crate::error::Error;

/// Identifies one message: the topic incarnation (`epoch`) and its position
/// in that incarnation (`seq`, from 1). Written `EPOCH-SEQ` on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageId {
    /// The topic incarnation the message belongs to.
    pub epoch: u64,
    /// Position in the incarnation, starting at 1.
    pub seq: u64,
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.epoch, self.seq)
    }
}

impl FromStr for MessageId {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || Error::invalid(format!("malformed message id {s:?}: expected EPOCH-SEQ"));
        let (epoch, seq) = s.trim().split_once('-').ok_or_else(bad)?;
        let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
        if !digits(epoch) || !digits(seq) {
            return Err(bad());
        }
        Ok(MessageId {
            epoch: epoch.parse().map_err(|_| bad())?,
            seq: seq.parse().map_err(|_| bad())?,
        })
    }
}

/// One published message as the broker stores and fans it out.
///
/// The protocol adds each framing's encoding (`sse_encoded`, `frame_encoded`
/// in [`crate::protocol`]); it is computed once per message, on first use,
/// and shared by every subscriber.
pub struct Message {
    /// The topic incarnation the message belongs to.
    pub epoch: u64,
    /// Sequence number within the topic's epoch, from 1.
    pub seq: u64,
    /// Publish time, microseconds since the Unix epoch (server clock), never
    /// before the previous message's in the topic.
    pub time_us: u64,
    /// The user's bytes, untouched.
    pub payload: Bytes,
    /// Slots the protocol fills with the message's encodings.
    pub(crate) encoded: Encoded,
}

/// Each framing's encoding of one message, filled by the protocol at most
/// once; the model only holds them.
#[derive(Default)]
pub(crate) struct Encoded {
    /// The SSE event (`protocol::sse`).
    pub(crate) sse: OnceLock<Bytes>,
    /// The Drift binary frame (`protocol::frames`).
    pub(crate) frame: OnceLock<Bytes>,
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print payloads: they are the user's data.
        f.debug_struct("Message")
            .field("epoch", &self.epoch)
            .field("seq", &self.seq)
            .field("time_us", &self.time_us)
            .field("len", &self.payload.len())
            .finish()
    }
}

impl Message {
    /// A message with identity `id`, published at `time_us` (microseconds
    /// since the Unix epoch), carrying `payload`.
    ///
    /// This is how a store that keeps messages outside drift-core hands them
    /// back: the store assigns the id and the time, and the message is then
    /// shared as an `Arc<Message>` by history and every subscriber. The
    /// payload is not copied.
    ///
    /// ```
    /// use drift_core::{Message, MessageId};
    ///
    /// let msg = Message::new(MessageId { epoch: 7, seq: 1 }, 1_436_464_998_000_000, "hi".into());
    /// assert_eq!(msg.id().to_string(), "7-1");
    /// assert_eq!(&msg.payload[..], b"hi");
    /// ```
    pub fn new(id: MessageId, time_us: u64, payload: Bytes) -> Message {
        Message {
            epoch: id.epoch,
            seq: id.seq,
            time_us,
            payload,
            encoded: Encoded::default(),
        }
    }

    /// What holding this message counts against a byte bound (history,
    /// a subscriber's queue): its payload and [`MESSAGE_OVERHEAD_BYTES`].
    pub fn charged_bytes(&self) -> u64 {
        charged_bytes(self.payload.len())
    }

    /// The message's id: its epoch and seq.
    pub fn id(&self) -> MessageId {
        MessageId {
            epoch: self.epoch,
            seq: self.seq,
        }
    }
}

/// What a message costs in memory beside its payload, counted toward every
/// byte bound so that many small messages cannot slip under one: the
/// `Arc<Message>` (header, ids, time, the payload's `Bytes`, the encoding
/// slots), the payload's shared allocation header, the allocator's rounding
/// and a slot in the ring or log that holds it (about 200 bytes, measured
/// with `size_of` and counted generously).
pub const MESSAGE_OVERHEAD_BYTES: u64 = 200;

/// What a message of `payload_len` bytes counts against a byte bound.
pub fn charged_bytes(payload_len: usize) -> u64 {
    payload_len as u64 + MESSAGE_OVERHEAD_BYTES
}

/// Now, in microseconds since the Unix epoch.
pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_id_round_trips() {
        let id = MessageId { epoch: 17, seq: 42 };
        assert_eq!(id.to_string(), "17-42");
        assert_eq!("17-42".parse::<MessageId>().unwrap(), id);
        assert_eq!(" 17-42 ".parse::<MessageId>().unwrap(), id);
    }

    #[test]
    fn malformed_ids_are_rejected() {
        for bad in [
            "",
            "17",
            "-1",
            "1-",
            "a-1",
            "1-b",
            "1-2-3",
            "1--2",
            "+1-2",
            "99999999999999999999-1",
        ] {
            assert!(bad.parse::<MessageId>().is_err(), "{bad:?} parsed");
        }
    }
}
