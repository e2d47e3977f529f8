//! Drift: topic-based publish/subscribe over HTTP/2.
//!
//! Layout, bottom up; each module imports only those above it in this list
//! (and [`error`]):
//! - [`model`]: messages and their ids, events, gaps, end reasons, history
//!   requests and slow-consumer policies: the values every layer shares.
//! - [`protocol`]: header names, parsing of history/resume requests and the
//!   three subscription framings (raw, SSE, Drift frames), encode and decode.
//! - [`broker`]: topics, history, sequence numbers and epochs, subscriber
//!   back-pressure and fan-out. No HTTP here; usable in-process.
//! - [`tls`]: certificates (PEM files or generated) and rustls configs.
//! - [`server`]: the hyper service and listener (TLS with ALPN, h2c), routes,
//!   limits and graceful shutdown.
//! - [`client`]: the HTTP/2 client, resume and the blocking facade.
#![deny(missing_docs, missing_debug_implementations)]

pub mod broker;
pub mod client;
pub mod error;
mod lock;
mod metrics;
pub mod model;
pub mod protocol;
pub mod server;
pub mod tls;

pub use error::{Error, ErrorKind, Result};
pub use model::{EndReason, Event, Gap, GapReason, Message, MessageId};

/// Messages and their identity, under their earlier path; see [`model`].
pub mod message {
    pub use crate::model::{Message, MessageId, now_us};
}

/// Gaps and the end of a stream, under their earlier path; see [`model`].
pub mod event {
    pub use crate::model::{EndReason, Event, Gap, GapReason};
}
