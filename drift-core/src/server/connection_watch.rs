//! How long a connection may say nothing. From accept, one deadline
//! ([`ServerConfig::handshake_timeout`](super::ServerConfig)) covers the TLS
//! peek and handshake, then the HTTP/2 client preface or the first HTTP/1.1
//! request: a socket that sends nothing is closed then, so idle sockets
//! cannot hold every file descriptor. (An HTTP/2 client may connect ahead
//! and ask later, as pools and browsers do: once its preface has come, only
//! the idle time applies.) After that, a connection with
//! no stream open for [`ServerConfig::idle_timeout`](super::ServerConfig) is
//! closed gracefully (GOAWAY over HTTP/2), between that time and half as
//! long again after its last stream ended, and not before the handshake
//! deadline. A subscription is an open stream, so a quiet subscriber is
//! never idle.
//!
//! The service counts streams started and ended (two atomic additions per
//! request); the connection's watcher looks at the counts a few times per
//! idle period instead of being woken by every request.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

use super::body::DriftBody;
use super::service::DriftService;
use crate::metrics::{Metrics, Protocol};

/// Why a connection's watcher ended it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Expiry {
    /// Nothing usable arrived before the deadline.
    NoRequest,
    /// No stream was open for the idle time.
    Idle,
}

/// The streams of one connection.
#[derive(Debug, Default)]
pub(super) struct Streams {
    started: AtomicU64,
    ended: AtomicU64,
    /// The HTTP/2 client preface has arrived.
    preface: AtomicBool,
    /// Counts the connection for `/metrics` from its first request, by the
    /// HTTP version it speaks, and whether it is over TLS.
    metrics: Option<(Arc<Metrics>, bool)>,
    /// The HTTP version of its first request (0: none yet, 1: HTTP/1.x,
    /// 2: HTTP/2), once counted.
    protocol: AtomicU8,
}

impl Streams {
    /// Streams of a connection that `metrics` counts (when `Some`).
    pub(super) fn counted(metrics: Option<Arc<Metrics>>, tls: bool) -> Streams {
        Streams {
            metrics: metrics.map(|m| (m, tls)),
            ..Streams::default()
        }
    }

    /// The first request: the connection is counted as open.
    fn first_request(&self, version: http::Version) {
        if let Some((m, tls)) = &self.metrics {
            let p = if version == http::Version::HTTP_2 {
                Protocol::H2
            } else {
                Protocol::H1
            };
            self.protocol.store(p as u8 + 1, Ordering::Release);
            m.connection_opened(p, *tls);
        }
    }

    /// The connection ended: counted as closed, if it was counted open.
    pub(super) fn closed(&self) {
        if let Some((m, tls)) = &self.metrics {
            let p = match self.protocol.swap(0, Ordering::AcqRel) {
                1 => Protocol::H1,
                2 => Protocol::H2,
                _ => return,
            };
            m.connection_closed(p, *tls);
        }
    }

    fn started(&self) -> u64 {
        self.started.load(Ordering::Acquire)
    }

    /// The connection has said what it is: a request, or HTTP/2's preface.
    fn spoke(&self) -> bool {
        self.started() > 0 || self.preface.load(Ordering::Acquire)
    }

    fn open(&self) -> u64 {
        // Read `ended` first: a stream that ends in between is still open.
        let ended = self.ended.load(Ordering::Acquire);
        self.started().saturating_sub(ended)
    }
}

/// Ends when the connection has said nothing for too long: no request by
/// `first_request_by`, or (with `idle`) no open stream for that long.
pub(super) async fn expired(
    streams: &Streams,
    first_request_by: Instant,
    idle: Option<Duration>,
) -> Expiry {
    if !streams.spoke() {
        tokio::time::sleep_until(first_request_by).await;
        if !streams.spoke() {
            return Expiry::NoRequest;
        }
    }
    let Some(idle) = idle else {
        return std::future::pending().await;
    };
    // Quiet from the first look that finds no stream and no new one:
    // closes after between `idle` and 1.5 × `idle` without a stream.
    let step = (idle / 4).max(Duration::from_millis(10));
    let mut seen = streams.started();
    let mut quiet_since = None;
    loop {
        tokio::time::sleep(step).await;
        let started = streams.started();
        if started != seen || streams.open() > 0 {
            seen = started;
            quiet_since = None;
        } else if quiet_since.get_or_insert_with(Instant::now).elapsed() >= idle {
            return Expiry::Idle;
        }
    }
}

/// The Drift service, counting the connection's streams.
#[derive(Debug, Clone)]
pub(super) struct Watched {
    service: DriftService,
    streams: Arc<Streams>,
}

impl Watched {
    pub(super) fn new(service: DriftService, streams: Arc<Streams>) -> Watched {
        Watched { service, streams }
    }
}

impl<B> hyper::service::Service<Request<B>> for Watched
where
    B: Body + Send + Unpin + 'static,
    B::Data: Send,
    B::Error: std::fmt::Display,
{
    type Response = Response<WatchedBody>;
    type Error = Infallible;
    type Future = WatchedFuture<<DriftService as hyper::service::Service<Request<B>>>::Future>;

    fn call(&self, req: Request<B>) -> Self::Future {
        if self.streams.started.fetch_add(1, Ordering::AcqRel) == 0 {
            self.streams.first_request(req.version());
        }
        WatchedFuture {
            inner: hyper::service::Service::call(&self.service, req),
            stream: Some(StreamGuard(self.streams.clone())),
        }
    }
}

/// Counts a stream as ended when dropped.
#[derive(Debug)]
struct StreamGuard(Arc<Streams>);

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.0.ended.fetch_add(1, Ordering::AcqRel);
    }
}

/// The service's answer, its stream counted until the body is done with.
#[derive(Debug)]
pub(super) struct WatchedFuture<F> {
    inner: F,
    /// Moves into the response body.
    stream: Option<StreamGuard>,
}

impl<F, E> Future for WatchedFuture<F>
where
    F: Future<Output = Result<Response<DriftBody>, E>> + Unpin,
{
    type Output = Result<Response<WatchedBody>, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let res = std::task::ready!(Pin::new(&mut self.inner).poll(cx));
        let stream = self.stream.take();
        Poll::Ready(res.map(|r| {
            r.map(|body| WatchedBody {
                body,
                _stream: stream,
            })
        }))
    }
}

/// A response body that keeps its stream counted as open.
#[derive(Debug)]
pub(super) struct WatchedBody {
    body: DriftBody,
    _stream: Option<StreamGuard>,
}

impl Body for WatchedBody {
    type Data = <DriftBody as Body>::Data;
    type Error = <DriftBody as Body>::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// What an HTTP/2 client sends first (RFC 9113 §3.4).
const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// A connection's byte stream, noting in its [`Streams`] when the HTTP/2
/// client preface has been read; past the first bytes it only passes
/// reads and writes through.
pub(super) struct PrefaceWatch<IO> {
    io: IO,
    streams: Arc<Streams>,
    /// Bytes of the preface matched so far; `None` once decided.
    matched: Option<usize>,
}

impl<IO> PrefaceWatch<IO> {
    pub(super) fn new(io: IO, streams: Arc<Streams>) -> PrefaceWatch<IO> {
        PrefaceWatch {
            io,
            streams,
            matched: Some(0),
        }
    }

    fn watch(&mut self, read: &[u8]) {
        let Some(mut matched) = self.matched else {
            return;
        };
        for &b in read {
            if b != PREFACE[matched] {
                self.matched = None;
                return;
            }
            matched += 1;
            if matched == PREFACE.len() {
                self.streams.preface.store(true, Ordering::Release);
                self.matched = None;
                return;
            }
        }
        self.matched = Some(matched);
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for PrefaceWatch<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.io).poll_read(cx, buf);
        if self.matched.is_some() && matches!(polled, Poll::Ready(Ok(()))) {
            let this = &mut *self;
            this.watch(&buf.filled()[before..]);
        }
        polled
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for PrefaceWatch<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, data)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, data)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The clock is paused: this bound is virtual time, far past the
    /// deadlines under test, so only a hang reaches it.
    async fn within<T>(f: impl Future<Output = T>) -> T {
        tokio::time::timeout(Duration::from_secs(3600), f)
            .await
            .expect("timed out")
    }

    #[test]
    fn the_preface_is_seen_however_it_is_cut() {
        for cut in 0..=PREFACE.len() {
            let streams = Arc::new(Streams::default());
            let mut watch = PrefaceWatch::new((), streams.clone());
            watch.watch(&PREFACE[..cut]);
            assert_eq!(streams.spoke(), cut == PREFACE.len(), "cut at {cut}");
            watch.watch(&PREFACE[cut..]);
            assert!(streams.spoke(), "cut at {cut}");
        }
        let streams = Arc::new(Streams::default());
        let mut watch = PrefaceWatch::new((), streams.clone());
        watch.watch(b"GET / HTTP/1.1\r\n\r\nPRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
        assert!(!streams.spoke(), "HTTP/1.1 speaks with its first request");
    }

    #[tokio::test(start_paused = true)]
    async fn no_request_by_the_deadline() {
        let streams = Streams::default();
        let by = Instant::now() + Duration::from_secs(10);
        let e = within(expired(&streams, by, None)).await;
        assert_eq!(e, Expiry::NoRequest);
        assert!(Instant::now() >= by);
    }

    #[tokio::test(start_paused = true)]
    async fn an_open_stream_is_never_idle_and_a_closed_one_is_after_the_idle_time() {
        let streams = Arc::new(Streams::default());
        streams.started.fetch_add(1, Ordering::AcqRel);
        let idle = Duration::from_secs(60);
        let watch = {
            let streams = streams.clone();
            tokio::spawn(async move { expired(&streams, Instant::now(), Some(idle)).await })
        };
        tokio::time::sleep(idle * 10).await;
        assert!(!watch.is_finished(), "a subscription is not idle");
        let ended = Instant::now();
        streams.ended.fetch_add(1, Ordering::AcqRel);
        assert_eq!(within(watch).await.expect("watcher"), Expiry::Idle);
        let waited = ended.elapsed();
        assert!(waited >= idle && waited <= idle * 3 / 2, "{waited:?}");
    }
}
