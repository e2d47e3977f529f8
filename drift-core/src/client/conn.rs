//! The one HTTP/2 connection of a client: connect (TCP, then TLS with ALPN
//! h2 or cleartext h2c), share it among all requests, and replace it when it
//! breaks.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use http::{Request, Response};
use hyper::body::Incoming;
use hyper::client::conn::http2::{self, SendRequest};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::body::Chunks;
use super::builder::Target;
use crate::error::{Error, ErrorKind, Result};
use crate::tls::ALPN_H2;

/// Receive window of each stream. A subscription can have this much in
/// flight before the server must wait, which keeps a fast stream fast over
/// a long round trip.
const STREAM_WINDOW: u32 = 1 << 20;
/// Receive window of the whole connection, shared by every stream.
const CONNECTION_WINDOW: u32 = 16 << 20;
/// How often to PING an idle connection, and how long to wait for the answer:
/// a silently dead peer (cable pulled, NAT entry gone) is found within
/// roughly the sum, and every stream on it fails so subscriptions resume.
const KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(15);
const KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(10);

/// Hands out the shared connection, making a new one when needed: to the
/// server it last reached, or, when that one cannot be reached, to the next
/// of the servers it was given (nodes sharing topics), in turn.
pub(crate) struct Connector {
    targets: Vec<Target>,
    /// The server connected to last (an index into `targets`).
    current: AtomicUsize,
    tls: Option<TlsConnector>,
    connect_timeout: Duration,
    /// The current connection. A tokio mutex so that concurrent callers
    /// finding it broken wait for one reconnect instead of each making one.
    slot: tokio::sync::Mutex<Slot>,
    generations: AtomicU64,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector")
            .field("targets", &self.targets)
            .field("connect_timeout", &self.connect_timeout)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Default)]
struct Slot {
    current: Option<Cached>,
    /// The last failed attempt to connect: callers that were waiting for it
    /// share its outcome instead of each waiting out a timeout in turn.
    failed: Option<(Instant, ErrorKind, String)>,
}

#[derive(Debug)]
struct Cached {
    sender: SendRequest<Chunks>,
    /// Tells connections apart, so that a caller whose request failed only
    /// forgets the connection it used, not a newer one.
    generation: u64,
}

impl Connector {
    /// `targets` is not empty.
    pub(crate) fn new(
        targets: Vec<Target>,
        tls: Option<TlsConnector>,
        connect_timeout: Duration,
    ) -> Connector {
        Connector {
            targets,
            current: AtomicUsize::new(0),
            tls,
            connect_timeout,
            slot: tokio::sync::Mutex::new(Slot::default()),
            generations: AtomicU64::new(0),
        }
    }

    /// The server this connector talks to (or last did).
    pub(crate) fn target(&self) -> &Target {
        &self.targets[self.current.load(Ordering::Relaxed) % self.targets.len()]
    }

    /// Sends `req` on the shared connection and waits for the response head.
    ///
    /// A request the server provably did not process (the connection was
    /// found closed before sending, or the server refused the stream or
    /// answered it with a graceful GOAWAY) is sent once more on a new
    /// connection; that is safe even for a publish.
    pub(crate) async fn send(&self, req: Request<Chunks>) -> Result<Response<Incoming>> {
        let spare = clone_request(&req);
        let (mut sender, generation) = self.sender().await?;
        let err = match sender.try_send_request(req).await {
            Ok(resp) => return Ok(resp),
            Err(err) => err,
        };
        if !was_unprocessed(err.message().is_some(), err.error()) {
            if breaks_connection(err.error()) || sender.is_closed() {
                self.forget(generation).await;
            }
            return Err(self.request_error(err.into_error()));
        }
        tracing::debug!(
            "request not processed ({}); retrying on a new connection",
            err.error()
        );
        self.forget(generation).await;
        let (mut sender, generation) = self.sender().await?;
        match sender.send_request(spare).await {
            Ok(resp) => Ok(resp),
            Err(e) => {
                if breaks_connection(&e) || sender.is_closed() {
                    self.forget(generation).await;
                }
                Err(self.request_error(e))
            }
        }
    }

    /// The live connection, connecting first if there is none.
    async fn sender(&self) -> Result<(SendRequest<Chunks>, u64)> {
        let arrived = Instant::now();
        let mut slot = self.slot.lock().await;
        if let Some(cached) = slot.current.as_ref()
            && !cached.sender.is_closed()
        {
            return Ok((cached.sender.clone(), cached.generation));
        }
        if let Some((at, kind, message)) = &slot.failed
            && *at >= arrived
        {
            return Err(Error::new(*kind, message.clone()));
        }
        slot.current = None;
        let sender = match self.connect_any().await {
            Ok(sender) => sender,
            Err(e) => {
                slot.failed = Some((Instant::now(), e.kind(), e.to_string()));
                return Err(e);
            }
        };
        let generation = self.generations.fetch_add(1, Ordering::Relaxed);
        slot.failed = None;
        slot.current = Some(Cached {
            sender: sender.clone(),
            generation,
        });
        Ok((sender, generation))
    }

    /// Drops the cached connection if it is still `generation`. Streams
    /// already running on it go on until it closes.
    async fn forget(&self, generation: u64) {
        let mut slot = self.slot.lock().await;
        if slot
            .current
            .as_ref()
            .is_some_and(|c| c.generation == generation)
        {
            slot.current = None;
        }
    }

    /// Connects to the current server, else to each next one in turn; the
    /// last error when none answers.
    async fn connect_any(&self) -> Result<SendRequest<Chunks>> {
        let start = self.current.load(Ordering::Relaxed);
        let mut last_error = None;
        for i in 0..self.targets.len() {
            let index = (start + i) % self.targets.len();
            let target = &self.targets[index];
            let attempt = tokio::time::timeout(self.connect_timeout, self.connect(target)).await;
            let error = match attempt {
                Ok(Ok(sender)) => {
                    if i > 0 {
                        tracing::info!(server = %target.display(), "connected to the next server");
                    }
                    self.current.store(index, Ordering::Relaxed);
                    return Ok(sender);
                }
                Ok(Err(e)) => e,
                Err(_) => Error::new(
                    ErrorKind::Timeout,
                    format!(
                        "connecting to {} timed out after {:?}",
                        target.display(),
                        self.connect_timeout
                    ),
                ),
            };
            // Only a server that cannot be reached is passed over: a TLS
            // or protocol failure is the same on every node.
            let next = matches!(error.kind(), ErrorKind::Connect | ErrorKind::Timeout);
            if !next {
                return Err(error);
            }
            last_error = Some(error);
        }
        Err(last_error
            .unwrap_or_else(|| Error::new(ErrorKind::Internal, "no server to connect to")))
    }

    async fn connect(&self, target: &Target) -> Result<SendRequest<Chunks>> {
        let addr = target.display();
        let tcp = TcpStream::connect((target.host.as_str(), target.port))
            .await
            .map_err(|e| {
                Error::new(ErrorKind::Connect, format!("cannot connect to {addr}")).with_source(e)
            })?;
        // Small frames (acknowledgements, publishes) should not wait for Nagle.
        let _ = tcp.set_nodelay(true);
        let Some(tls) = &self.tls else {
            return handshake(tcp, &addr).await;
        };
        let name = ServerName::try_from(target.host.clone()).map_err(|_| {
            Error::invalid(format!("{:?} is not a valid TLS server name", target.host))
        })?;
        let stream = tls.connect(name, tcp).await.map_err(|e| {
            let is_tls = e
                .get_ref()
                .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some());
            let (kind, what) = if is_tls {
                (ErrorKind::Tls, "TLS handshake with")
            } else {
                (
                    ErrorKind::Connect,
                    "connection lost during the TLS handshake with",
                )
            };
            Error::new(kind, format!("{what} {addr} failed")).with_source(e)
        })?;
        if stream.get_ref().1.alpn_protocol() != Some(ALPN_H2) {
            return Err(Error::new(
                ErrorKind::Protocol,
                format!("{addr} does not offer HTTP/2 (ALPN h2)"),
            ));
        }
        handshake(stream, &addr).await
    }

    fn request_error(&self, e: hyper::Error) -> Error {
        let addr = self.target().display();
        if e.is_timeout() {
            return Error::new(ErrorKind::Timeout, format!("request to {addr} timed out"));
        }
        // hyper's own text ("http2 error") says little; its causes say more.
        let mut message = format!("request to {addr} failed: {}", chain(&e));
        // The usual cause of a cleartext connection failing as a whole is
        // a TLS server at the other end.
        if !self.target().tls && breaks_connection(&e) {
            message.push_str(" (if the server uses TLS, use an https:// URL)");
        }
        Error::new(ErrorKind::Connect, message)
    }
}

/// The HTTP/2 handshake on a connected stream; the connection is driven by a
/// task of its own until it closes.
async fn handshake<T>(io: T, addr: &str) -> Result<SendRequest<Chunks>>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut builder = http2::Builder::new(TokioExecutor::new());
    builder
        .timer(TokioTimer::new())
        .initial_stream_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
        .keep_alive_interval(KEEP_ALIVE_INTERVAL)
        .keep_alive_timeout(KEEP_ALIVE_TIMEOUT)
        .keep_alive_while_idle(true);
    let (sender, conn) = builder.handshake(TokioIo::new(io)).await.map_err(|e| {
        // Mostly a peer that hung up at once (a restarting server, a proxy):
        // a connection failure, worth retrying.
        Error::new(
            ErrorKind::Connect,
            format!("HTTP/2 handshake with {addr} failed"),
        )
        .with_source(e)
    })?;
    let addr = addr.to_owned();
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!("connection to {addr} ended: {e}");
        }
    });
    Ok(sender)
}

/// A copy of `req` for one retry (the body is shared `Bytes`).
fn clone_request(req: &Request<Chunks>) -> Request<Chunks> {
    let mut copy = Request::new(req.body().clone());
    *copy.method_mut() = req.method().clone();
    *copy.uri_mut() = req.uri().clone();
    *copy.headers_mut() = req.headers().clone();
    copy
}

/// `e` and its causes, `: `-separated, skipping repeats.
fn chain(e: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if parts.last().is_none_or(|last| !last.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

fn h2_error(e: &hyper::Error) -> Option<&h2::Error> {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(h2) = s.downcast_ref::<h2::Error>() {
            return Some(h2);
        }
        source = s.source();
    }
    None
}

/// True when the server cannot have processed the request.
fn was_unprocessed(returned: bool, e: &hyper::Error) -> bool {
    if returned {
        return true; // hyper handed the request back unsent
    }
    h2_error(e).is_some_and(|h2| {
        h2.reason() == Some(h2::Reason::REFUSED_STREAM)
            || (h2.is_go_away() && h2.is_remote() && h2.reason() == Some(h2::Reason::NO_ERROR))
    })
}

/// True when the error means the connection as a whole is unusable (as
/// opposed to one stream being reset).
fn breaks_connection(e: &hyper::Error) -> bool {
    match h2_error(e) {
        Some(h2) => h2.is_go_away() || h2.is_io() || h2.reason().is_none(),
        None => true,
    }
}
