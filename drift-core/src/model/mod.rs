//! The values every layer shares: messages and their ids, subscription
//! events, gaps and end reasons, and what a subscriber asks for.
//!
//! The model is the bottom layer: it depends on nothing of drift-core but
//! [`crate::error`]. The protocol encodes and parses these values, the broker
//! stores and fans them out, the server and the client carry them over HTTP,
//! and a store crate outside drift-core builds [`Message`]s with
//! [`Message::new`].

mod event;
mod message;
mod request;

pub use event::{EndReason, Event, Gap, GapReason};
pub use message::{MESSAGE_OVERHEAD_BYTES, Message, MessageId, charged_bytes, now_us};
pub use request::{HistoryRequest, SlowPolicy};
