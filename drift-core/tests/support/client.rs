//! Helpers for the client and CLI integration tests (include with
//! `#[path = "support/client.rs"] mod client_support;` next to `mod support;`,
//! or from another crate's tests by the path from there, as drift-cli does).
//!
//! - [`client_for`] / [`builder_for`]: a `drift_core::client::Client` that
//!   trusts a test server's generated certificate (or speaks h2c).
//! - [`Proxy`]: a TCP proxy between client and server whose connections can
//!   be cut (and new ones refused) and restored, to break a client's
//!   connection while the server keeps running.
//! - [`next`], [`next_message`], [`collect_messages`]: read a subscription
//!   with a per-event timeout, failing the test clearly instead of hanging.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use drift_core::client::{
    Backoff, Client, ClientBuilder, ReceivedMessage, Subscription, SubscriptionEvent,
};
use drift_core::tls::Trust;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::support::TestServer;

/// How long one subscription event may take before the test fails.
pub const EVENT_TIMEOUT: Duration = Duration::from_secs(15);

/// Fast retries for tests: reconnects are exercised, not waited for.
pub fn fast_backoff() -> Backoff {
    Backoff {
        initial: Duration::from_millis(20),
        max: Duration::from_millis(200),
        max_attempts: None,
    }
}

/// A builder for `url`, trusting `ca_pem` when given.
pub fn builder_for(url: &str, ca_pem: Option<&[u8]>) -> ClientBuilder {
    let builder = Client::builder(url).request_timeout(Duration::from_secs(20));
    match ca_pem {
        Some(pem) => builder.trust(Trust::CaPem(pem.to_vec())),
        None => builder,
    }
}

/// A client for `server` (trusting its certificate).
pub fn client_for(server: &TestServer) -> Client {
    builder_for(&server.url, server.ca_pem.as_deref())
        .build()
        .expect("client builds")
}

/// A client for `server` that connects through `proxy`.
pub fn client_via(proxy: &Proxy, server: &TestServer) -> Client {
    builder_for(&proxy.url(server.is_tls()), server.ca_pem.as_deref())
        .build()
        .expect("client builds")
}

/// The next event, failing the test on an error, the end of the stream or
/// a timeout.
pub async fn next(sub: &mut Subscription) -> SubscriptionEvent {
    match tokio::time::timeout(EVENT_TIMEOUT, sub.next_event()).await {
        Ok(Some(Ok(event))) => event,
        Ok(Some(Err(e))) => panic!("subscription failed: {e} ({e:?})"),
        Ok(None) => panic!("subscription ended unexpectedly"),
        Err(_) => panic!("no subscription event within {EVENT_TIMEOUT:?}"),
    }
}

/// The next event, which must be a message.
pub async fn next_message(sub: &mut Subscription) -> ReceivedMessage {
    match next(sub).await {
        SubscriptionEvent::Message(m) => m,
        other => panic!("expected a message, got {other:?}"),
    }
}

/// The next `n` events, which must all be messages; their payloads as text.
pub async fn collect_messages(sub: &mut Subscription, n: usize) -> Vec<String> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(text(&next_message(sub).await));
    }
    out
}

/// A message's payload as text.
pub fn text(m: &ReceivedMessage) -> String {
    String::from_utf8(m.payload.to_vec()).expect("UTF-8 payload")
}

/// Payloads `prefix1 ..= prefixN`.
pub fn numbered(prefix: &str, range: std::ops::RangeInclusive<u64>) -> Vec<String> {
    range.map(|i| format!("{prefix}{i}")).collect()
}

// ===== proxy =====

/// A TCP proxy to one upstream address.
pub struct Proxy {
    /// Where clients connect.
    pub addr: SocketAddr,
    state: watch::Sender<ProxyState>,
    accepted: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

#[derive(Debug, Clone, Copy)]
struct ProxyState {
    /// Forward new connections (when false they are closed at once).
    open: bool,
    /// Bumped by [`Proxy::cut`]: connections of older generations close.
    generation: u64,
}

impl Proxy {
    /// A proxy on `127.0.0.1:0` forwarding to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy binds");
        let addr = listener.local_addr().expect("proxy address");
        let (state, rx) = watch::channel(ProxyState {
            open: true,
            generation: 0,
        });
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((downstream, _)) = listener.accept().await else {
                    continue;
                };
                let now = *rx.borrow();
                if !now.open {
                    drop(downstream); // refused: the client sees the connection close
                    continue;
                }
                count.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(pipe(downstream, upstream, rx.clone(), now.generation));
            }
        });
        Proxy {
            addr,
            state,
            accepted,
            task,
        }
    }

    /// The proxy's URL, `https://` or `http://`.
    pub fn url(&self, tls: bool) -> String {
        let scheme = if tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// Closes every forwarded connection and refuses new ones until
    /// [`Proxy::restore`].
    pub fn cut(&self) {
        self.state.send_modify(|s| {
            s.open = false;
            s.generation += 1;
        });
    }

    /// Forwards new connections again.
    pub fn restore(&self) {
        self.state.send_modify(|s| s.open = true);
    }

    /// Connections forwarded so far.
    pub fn connections(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
        self.cut();
    }
}

async fn pipe(
    mut downstream: TcpStream,
    upstream: SocketAddr,
    mut state: watch::Receiver<ProxyState>,
    generation: u64,
) {
    let Ok(mut up) = TcpStream::connect(upstream).await else {
        return;
    };
    let _ = downstream.set_nodelay(true);
    let _ = up.set_nodelay(true);
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut downstream, &mut up) => {}
        _ = state.wait_for(|s| s.generation != generation) => {}
    }
    // Dropping both ends closes them: the client sees its connection die.
}
