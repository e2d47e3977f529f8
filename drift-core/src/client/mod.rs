//! The Drift client: one multiplexed HTTP/2 connection per [`Client`],
//! publishing, topic management, and subscriptions as a `Stream` that resume
//! by themselves after a disconnect.
//!
//! ```no_run
//! // The README's example, kept identical so that it is compiled.
//! use drift_core::client::{Client, SubscribeOptions, SubscriptionEvent};
//! use drift_core::protocol::HistoryRequest;
//!
//! #[tokio::main]
//! async fn main() -> drift_core::Result<()> {
//!     let client = Client::builder("https://localhost:5500")
//!         .ca_file(".drift/cert.pem")
//!         .build()?;
//!     let options = SubscribeOptions {
//!         history: HistoryRequest { last: Some(10), ..Default::default() },
//!         ..Default::default()
//!     };
//!     let mut sub = client.subscribe("news", options).await?;
//!     let sent = client.publish("news", "hello from Rust").await?;
//!     while let Some(event) = sub.next_event().await {
//!         match event? {
//!             SubscriptionEvent::Message(m) => {
//!                 println!("{} {}", m.seq, String::from_utf8_lossy(&m.payload));
//!                 if m.id == Some(sent.id) {
//!                     break;
//!                 }
//!             }
//!             SubscriptionEvent::Gap(gap) => eprintln!("missed {gap}"),
//!             SubscriptionEvent::End(reason) => eprintln!("ended: {reason}"),
//!         }
//!     }
//!     Ok(())
//! }
//! ```
//!
//! # Connections
//!
//! Every request of a client and of all its clones shares one HTTP/2
//! connection (TLS with ALPN `h2` for `https://` URLs, cleartext HTTP/2 with
//! prior knowledge for `http://`). It is made by the first request and made
//! again by the next request after it breaks. Keep-alive PINGs find a dead
//! peer even when no data flows.
//!
//! # Servers without Drift framing
//!
//! The original (Go) Drift server ignores `Accept` and sends each message as
//! raw bytes, one HTTP/2 DATA frame per message. A subscription whose
//! response is not `application/vnd.drift.frames` falls back to that: each
//! DATA frame is one message with no id (`seq` and `epoch` 0, `id: None`),
//! stamped with the time it arrived. Such a server returns no ids from a
//! publish either ([`Publish::id`] is `0-0`), and [`Client::publish_many`]
//! publishes one plain `POST` per message. Resume cannot be exact without
//! ids: after a reconnect the subscription reports a [`crate::Gap`] with
//! reason [`crate::GapReason::Epoch`] (range unknown) and continues live.
//! Messages over 16 KiB may span several DATA frames and then arrive split.
//! The original also holds back a subscription's response headers until the
//! first message, so [`Client::subscribe`] returns only then, and the
//! request timeout bounds that wait (`drift sub` sets none). Our server's
//! raw framing (ask for it with [`SubscribeOptions::raw`]) behaves the same
//! except that it answers at once and names the end reason in a trailer.
//!
//! Must be used inside a tokio runtime (multi-thread or current-thread);
//! [`blocking`] wraps it for synchronous callers.

mod api;
pub mod blocking;
mod body;
mod builder;
mod conn;
mod event;
mod handle;
mod interruption;
mod open;
mod options;
mod request;
mod subscribe;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use http::HeaderMap;

pub use api::Publish;
pub use builder::{ClientBuilder, DEFAULT_CONNECT_TIMEOUT, DEFAULT_REQUEST_TIMEOUT};
pub use event::{ReceivedMessage, SubscriptionEvent};
pub use handle::{CLOSED, SubscriptionHandle};
pub use interruption::Interruption;
pub use options::{Backoff, SubscribeOptions};
pub use subscribe::{MAX_FRAME_PAYLOAD, Subscription};

/// A Drift client. Cheap to clone: clones share the connection.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    connector: conn::Connector,
    /// Sent with every request (e.g. `Authorization`).
    headers: HeaderMap,
    request_timeout: Option<Duration>,
    /// What the server turned out to be; see [`ServerKind`].
    server_kind: AtomicU8,
}

/// What a server has shown itself to be, learnt from responses. Decides
/// whether [`Client::publish_many`] may send a streamed publish, which a
/// server without Drift framing would store as one big message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum ServerKind {
    Unknown = 0,
    /// Answers with `drift-*` headers.
    Drift = 1,
    /// Answered a publish or subscription without them (the original server).
    Plain = 2,
}

impl Client {
    /// Starts configuring a client for the server at `url`:
    /// `https://host:port` (TLS, HTTP/2 by ALPN) or `http://host:port`
    /// (cleartext HTTP/2, e.g. a server started with `--h2c`). A path after
    /// the port is kept as a prefix of every route (for a server mounted
    /// below a reverse proxy path).
    ///
    /// Several URLs separated by commas name nodes that share topics
    /// (`drift serve --redis`): the client connects to the first that
    /// answers, stays with it, and moves to the next when it can no longer
    /// connect; subscriptions then resume there by id.
    pub fn builder(url: impl Into<String>) -> ClientBuilder {
        ClientBuilder::new(url)
    }

    /// The server address, `host:port`.
    pub fn server(&self) -> String {
        self.inner.connector.target().display()
    }

    fn server_kind(&self) -> ServerKind {
        match self.inner.server_kind.load(Ordering::Relaxed) {
            1 => ServerKind::Drift,
            2 => ServerKind::Plain,
            _ => ServerKind::Unknown,
        }
    }

    fn learn_server_kind(&self, drift: bool) {
        let kind = if drift {
            ServerKind::Drift
        } else {
            ServerKind::Plain
        };
        self.inner.server_kind.store(kind as u8, Ordering::Relaxed);
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Header values may be credentials: list names only.
        let names: Vec<&str> = self.inner.headers.keys().map(|k| k.as_str()).collect();
        f.debug_struct("Client")
            .field("server", &self.server())
            .field("tls", &self.inner.connector.target().tls)
            .field("headers", &names)
            .field("request_timeout", &self.inner.request_timeout)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_is_shareable() {
        fn assert_send_sync<T: Send + Sync + Clone + 'static>() {}
        assert_send_sync::<Client>();
        fn assert_send<T: Send + 'static>() {}
        assert_send::<Subscription>();
        assert_send::<blocking::BlockingClient>();
        assert_send::<blocking::BlockingSubscription>();
    }

    #[test]
    fn debug_hides_header_values() {
        let c = Client::builder("http://127.0.0.1:1")
            .header("authorization", "Bearer secret")
            .build()
            .unwrap();
        let text = format!("{c:?}");
        assert!(text.contains("authorization"));
        assert!(!text.contains("secret"));
    }
}
