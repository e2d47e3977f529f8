//! Drift: topic-based publish/subscribe over HTTP/2.
//!
//! Layout:
//! - [`broker`]: topics, history, sequence numbers and epochs, subscriber
//!   back-pressure and fan-out. No HTTP here; usable in-process.
//! - [`protocol`]: header names, history/resume requests and the three
//!   subscription framings (raw, SSE, Drift frames), encode and decode.
//! - [`server`]: the hyper service and listener (TLS with ALPN, h2c), routes,
//!   limits and graceful shutdown.
//! - [`tls`]: certificates (PEM files or generated) and rustls configs.
#![deny(missing_docs, missing_debug_implementations)]

pub mod broker;
pub mod client;
pub mod error;
pub mod event;
mod lock;
pub mod message;
pub mod protocol;
pub mod server;
pub mod tls;

pub use error::{Error, ErrorKind, Result};
pub use event::{EndReason, Event, Gap, GapReason};
pub use message::{Message, MessageId};
