//! Shared helpers for the server integration tests: a real Drift server on a
//! loopback port, and small clients that talk to it over real sockets.
//!
//! - [`start_server`] / [`start_h2c`] / [`start_server_v6`]: a spawned server
//!   on an ephemeral port (TLS with a generated certificate, or h2c).
//! - [`Client`]: a hyper client (HTTP/2 or HTTP/1.1, over TLS with ALPN or
//!   cleartext) with `get/put/post/delete/head` returning a [`Reply`], and
//!   `subscribe` returning a [`Sub`] whose body is read frame by frame (one
//!   hyper data frame is one HTTP/2 DATA frame).
//! - [`H2Raw`]: the `h2` crate directly, for frame-level control such as a
//!   client that never sends a stream WINDOW_UPDATE (the original Go client).
//! - [`within`]: every test body runs under a timeout, so a hang fails
//!   instead of blocking the suite.
//!
//! The tests of drift-cli and drift-bench include this file by path, so that
//! there is one copy: `#[path = "../../drift-core/tests/support/mod.rs"]
//! mod support;`.
// Each test file uses a different subset of these helpers.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use drift_core::broker::{Broker, BrokerConfig};
use drift_core::protocol::sse::{SseDecoder, SseEvent};
use drift_core::protocol::{Frame, FrameDecoder};
use drift_core::server::{EngineStats, Server, ServerConfig, ServerHandle, ServiceConfig, TlsMode};
use drift_core::tls::{ALPN_H2, ALPN_HTTP11, Trust, client_config, tls_connector};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode, Version};
use http_body::{Body, Frame as BodyFrame};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_rustls::client::TlsStream;

/// Upper bound for one whole test. Generous: it only turns a hang into a
/// failure, it is not a performance assertion.
pub const TEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs a test body under [`TEST_TIMEOUT`].
pub async fn within<F: Future>(body: F) -> F::Output {
    within_for(TEST_TIMEOUT, body).await
}

/// Runs `body` under `limit`, panicking with a clear message when it is hit.
pub async fn within_for<F: Future>(limit: Duration, body: F) -> F::Output {
    match tokio::time::timeout(limit, body).await {
        Ok(out) => out,
        Err(_) => panic!("timed out after {limit:?}"),
    }
}

/// Waits until `cond` holds, re-checking every 10 ms. Polls a condition
/// (bounded by the caller's timeout); it is not a sleep used as a barrier.
pub async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let poll = async {
        while !cond() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    if tokio::time::timeout(Duration::from_secs(10), poll)
        .await
        .is_err()
    {
        panic!("condition never held: {what}");
    }
}

// ===== servers =====

/// A Drift server running on the test's tokio runtime.
pub struct TestServer {
    handle: Option<ServerHandle>,
    broker: Broker,
    /// The bound address (ephemeral port).
    pub addr: SocketAddr,
    /// `https://127.0.0.1:PORT` or `http://…` for h2c.
    pub url: String,
    /// The certificate to trust (TLS servers only).
    pub ca_pem: Option<Vec<u8>>,
}

/// The configuration every test server starts from: the given address and
/// TLS mode, no certificate directory, and no heartbeats (tests that want them
/// set a short interval) so idle streams carry nothing unexpected.
pub fn base_config(listen: SocketAddr, tls: TlsMode) -> ServerConfig {
    ServerConfig {
        listen,
        tls,
        cert_dir: None,
        broker: BrokerConfig::default(),
        service: ServiceConfig {
            heartbeat: None,
            ..Default::default()
        },
        ..ServerConfig::default()
    }
}

/// A TLS server (generated certificate) on `127.0.0.1:0`, after `tweak`.
pub async fn start_server(tweak: impl FnOnce(&mut ServerConfig)) -> TestServer {
    start_with(([127, 0, 0, 1], 0).into(), TlsMode::Generated, tweak).await
}

/// A cleartext (h2c + HTTP/1.1) server on `127.0.0.1:0`, after `tweak`.
pub async fn start_h2c(tweak: impl FnOnce(&mut ServerConfig)) -> TestServer {
    start_with(([127, 0, 0, 1], 0).into(), TlsMode::H2c, tweak).await
}

/// A TLS server on `[::1]:0`, after `tweak`.
pub async fn start_server_v6(tweak: impl FnOnce(&mut ServerConfig)) -> TestServer {
    let v6: IpAddr = "::1".parse().unwrap();
    start_with(SocketAddr::new(v6, 0), TlsMode::Generated, tweak).await
}

/// A server on `listen` with `tls`, after `tweak`.
pub async fn start_with(
    listen: SocketAddr,
    tls: TlsMode,
    tweak: impl FnOnce(&mut ServerConfig),
) -> TestServer {
    let mut config = base_config(listen, tls);
    tweak(&mut config);
    let server = Server::bind(config).await.expect("server binds");
    let ca_pem = server.ca_cert_pem().map(|p| p.as_bytes().to_vec());
    let addr = server.local_addr();
    let url = server.url();
    let broker = server.broker().clone();
    TestServer {
        handle: Some(server.spawn()),
        broker,
        addr,
        url,
        ca_pem,
    }
}

impl TestServer {
    /// The server's broker (for counts and in-process checks).
    pub fn broker(&self) -> &Broker {
        &self.broker
    }

    /// True for a TLS server.
    /// What the server's connection-thread engine has done so far.
    pub fn engine_stats(&self) -> EngineStats {
        self.handle
            .as_ref()
            .expect("the server is running")
            .engine_stats()
    }

    pub fn is_tls(&self) -> bool {
        self.ca_pem.is_some()
    }

    /// Shuts the server down gracefully and returns what `shutdown` returned.
    pub async fn shutdown(mut self) -> drift_core::Result<()> {
        self.handle.take().expect("running").shutdown().await
    }

    /// Takes the handle out (for tests that drive shutdown concurrently).
    pub fn take_handle(&mut self) -> ServerHandle {
        self.handle.take().expect("running")
    }

    /// An HTTP/2 client on a new connection (ALPN `h2`, or prior knowledge on h2c).
    pub async fn h2(&self) -> Client {
        Client::connect(self, Version::HTTP_2).await
    }

    /// An HTTP/1.1 client on a new connection (ALPN `http/1.1` on TLS).
    pub async fn h1(&self) -> Client {
        Client::connect(self, Version::HTTP_11).await
    }

    /// A TCP connection to the server.
    pub async fn tcp(&self) -> TcpStream {
        let tcp = TcpStream::connect(self.addr).await.expect("tcp connect");
        tcp.set_nodelay(true).ok();
        tcp
    }

    /// A TLS connection offering `alpn` (empty: no ALPN).
    pub async fn tls(&self, alpn: &[&[u8]]) -> TlsStream<TcpStream> {
        let ca = self.ca_pem.clone().expect("a TLS server");
        tls_connect(self.tcp().await, self.addr.ip(), ca, alpn).await
    }

    /// A transport for raw HTTP/1.1 bytes: TLS with ALPN `http/1.1`, or TCP.
    pub async fn raw_h1(&self) -> Box<dyn Io> {
        if self.is_tls() {
            Box::new(self.tls(&[ALPN_HTTP11]).await)
        } else {
            Box::new(self.tcp().await)
        }
    }

    /// The `host:port` form for `Host` headers.
    pub fn authority(&self) -> String {
        self.url
            .split_once("://")
            .map(|(_, a)| a.to_string())
            .unwrap()
    }
}

/// A bidirectional byte stream (TCP or TLS).
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Completes a TLS handshake to `ip` trusting only `ca_pem`.
pub async fn tls_connect(
    tcp: TcpStream,
    ip: IpAddr,
    ca_pem: Vec<u8>,
    alpn: &[&[u8]],
) -> TlsStream<TcpStream> {
    let config = client_config(&Trust::CaPem(ca_pem), alpn).expect("client TLS config");
    tls_connector(config)
        .connect(ServerName::from(ip), tcp)
        .await
        .expect("TLS handshake")
}

// ===== request bodies =====

/// The request body type of [`Client`].
pub type ReqBody = BoxBody<Bytes, Infallible>;

/// A complete body (sent with a length).
pub fn full(bytes: impl Into<Bytes>) -> ReqBody {
    let bytes: Bytes = bytes.into();
    if bytes.is_empty() {
        Empty::new().boxed()
    } else {
        Full::new(bytes).boxed()
    }
}

/// A body fed chunk by chunk through the returned sender; it ends when the
/// sender is dropped. Its length is unknown, so HTTP/1.1 sends it chunked.
pub fn channel_body() -> (mpsc::UnboundedSender<Bytes>, ReqBody) {
    let (tx, rx) = mpsc::unbounded_channel();
    (tx, ChannelBody(rx).boxed())
}

struct ChannelBody(mpsc::UnboundedReceiver<Bytes>);

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<BodyFrame<Bytes>, Infallible>>> {
        self.0
            .poll_recv(cx)
            .map(|c| c.map(|b| Ok(BodyFrame::data(b))))
    }
}

/// A streamed-publish body: each payload as a Drift message frame.
pub fn frames_body<I, P>(payloads: I) -> Bytes
where
    I: IntoIterator<Item = P>,
    P: Into<Bytes>,
{
    let mut buf = BytesMut::new();
    for p in payloads {
        Frame::message(0, 0, p.into()).encode_into(&mut buf);
    }
    buf.freeze()
}

// ===== the hyper client =====

enum Sender {
    H1(http1::SendRequest<ReqBody>),
    H2(http2::SendRequest<ReqBody>),
}

/// One hyper client connection.
pub struct Client {
    sender: Sender,
    base: String,
    authority: String,
}

/// A whole response.
#[derive(Debug)]
pub struct Reply {
    /// Status code.
    pub status: StatusCode,
    /// Protocol version the response came over.
    pub version: Version,
    /// Response headers.
    pub headers: HeaderMap,
    /// The whole body.
    pub body: Bytes,
}

impl Reply {
    /// A header as text (panics when it is not visible ASCII).
    pub fn header(&self, name: &str) -> Option<&str> {
        header_str(&self.headers, name)
    }

    /// A header parsed as a number; panics when missing or malformed.
    pub fn num(&self, name: &str) -> u64 {
        let v = self
            .header(name)
            .unwrap_or_else(|| panic!("no {name} header in {self:?}"));
        v.parse()
            .unwrap_or_else(|_| panic!("{name}: {v:?} is not a number"))
    }

    /// The body as UTF-8.
    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.body).expect("UTF-8 body")
    }
}

fn header_str<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name)
        .map(|v| v.to_str().expect("visible ASCII header"))
}

impl Client {
    /// Connects to `server` speaking `version` (HTTP/2 or HTTP/1.1).
    pub async fn connect(server: &TestServer, version: Version) -> Client {
        let h2 = version == Version::HTTP_2;
        if server.is_tls() {
            let alpn: &[u8] = if h2 { ALPN_H2 } else { ALPN_HTTP11 };
            let tls = server.tls(&[alpn]).await;
            // The server must have agreed to what we offered.
            assert_eq!(tls.get_ref().1.alpn_protocol(), Some(alpn));
            Client::handshake(tls, h2, server).await
        } else {
            Client::handshake(server.tcp().await, h2, server).await
        }
    }

    /// Runs the HTTP handshake over an established transport.
    pub async fn handshake<T>(io: T, h2: bool, server: &TestServer) -> Client
    where
        T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let io = TokioIo::new(io);
        let sender = if h2 {
            let (send, conn) = http2::Builder::new(TokioExecutor::new())
                .timer(TokioTimer::new())
                .handshake(io)
                .await
                .expect("h2 handshake");
            tokio::spawn(async move {
                let _ = conn.await;
            });
            Sender::H2(send)
        } else {
            let (send, conn) = http1::handshake(io).await.expect("h1 handshake");
            tokio::spawn(async move {
                let _ = conn.await;
            });
            Sender::H1(send)
        };
        Client {
            sender,
            base: server.url.clone(),
            authority: server.authority(),
        }
    }

    /// Another client on the same HTTP/2 connection (a multiplexed stream).
    pub fn multiplexed(&self) -> Client {
        match &self.sender {
            Sender::H2(s) => Client {
                sender: Sender::H2(s.clone()),
                base: self.base.clone(),
                authority: self.authority.clone(),
            },
            Sender::H1(_) => panic!("HTTP/1.1 connections cannot multiplex"),
        }
    }

    /// Sends one request; transport errors are returned, not panicked on.
    pub async fn try_send(
        &mut self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: ReqBody,
    ) -> hyper::Result<Response<Incoming>> {
        let mut req = Request::builder().method(method);
        req = match &self.sender {
            // HTTP/2 takes :scheme and :authority from an absolute URI.
            Sender::H2(_) => req.uri(format!("{}{path}", self.base)),
            Sender::H1(_) => req
                .uri(path)
                .header(http::header::HOST, self.authority.as_str()),
        };
        for (k, v) in headers {
            req = req.header(
                HeaderName::from_bytes(k.as_bytes()).expect("header name"),
                HeaderValue::from_bytes(v.as_bytes()).expect("header value"),
            );
        }
        let req = req.body(body).expect("request");
        match &mut self.sender {
            Sender::H1(s) => {
                s.ready().await?;
                s.send_request(req).await
            }
            Sender::H2(s) => {
                s.ready().await?;
                s.send_request(req).await
            }
        }
    }

    /// Sends a request and reads the whole response.
    pub async fn request(
        &mut self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: ReqBody,
    ) -> Reply {
        let res = self
            .try_send(method.clone(), path, headers, body)
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        read_reply(res).await
    }

    /// `GET path`.
    pub async fn get(&mut self, path: &str) -> Reply {
        self.request(Method::GET, path, &[], full("")).await
    }

    /// `GET path` with headers.
    pub async fn get_with(&mut self, path: &str, headers: &[(&str, &str)]) -> Reply {
        self.request(Method::GET, path, headers, full("")).await
    }

    /// `HEAD path`.
    pub async fn head(&mut self, path: &str) -> Reply {
        self.request(Method::HEAD, path, &[], full("")).await
    }

    /// `PUT path` with `body`.
    pub async fn put(&mut self, path: &str, body: impl Into<Bytes>) -> Reply {
        self.request(Method::PUT, path, &[], full(body)).await
    }

    /// `POST path` with `body`.
    pub async fn post(&mut self, path: &str, body: impl Into<Bytes>) -> Reply {
        self.request(Method::POST, path, &[], full(body)).await
    }

    /// `POST path` with headers and `body`.
    pub async fn post_with(
        &mut self,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Reply {
        self.request(Method::POST, path, headers, full(body)).await
    }

    /// `DELETE path`.
    pub async fn delete(&mut self, path: &str) -> Reply {
        self.request(Method::DELETE, path, &[], full("")).await
    }

    /// Publishes `body` to `topic` and checks the 200.
    pub async fn publish(&mut self, topic: &str, body: impl Into<Bytes>) -> Reply {
        let r = self.post(&format!("/v1/t/{topic}"), body).await;
        assert_eq!(r.status, StatusCode::OK, "publish to {topic}: {r:?}");
        r
    }

    /// `GET path` with headers, returning as soon as the response headers
    /// are in; the body is read from the returned [`Sub`].
    pub async fn subscribe(&mut self, path: &str, headers: &[(&str, &str)]) -> Sub {
        let res = self
            .try_send(Method::GET, path, headers, full(""))
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        Sub::new(res)
    }
}

/// Reads a whole response.
pub async fn read_reply(res: Response<Incoming>) -> Reply {
    let (parts, body) = res.into_parts();
    let body = body.collect().await.expect("response body").to_bytes();
    Reply {
        status: parts.status,
        version: parts.version,
        headers: parts.headers,
        body,
    }
}

// ===== subscriptions =====

/// A streaming response, read frame by frame.
pub struct Sub {
    /// Status code.
    pub status: StatusCode,
    /// Protocol version.
    pub version: Version,
    /// Response headers.
    pub headers: HeaderMap,
    body: Incoming,
    /// Trailers, once the stream has ended with some.
    pub trailers: Option<HeaderMap>,
    ended: bool,
    frames: FrameDecoder,
    sse: SseDecoder,
    sse_events: VecDeque<SseEvent>,
}

impl Sub {
    fn new(res: Response<Incoming>) -> Sub {
        let (parts, body) = res.into_parts();
        Sub {
            status: parts.status,
            version: parts.version,
            headers: parts.headers,
            body,
            trailers: None,
            ended: false,
            frames: FrameDecoder::new(usize::MAX >> 1),
            sse: SseDecoder::new(),
            sse_events: VecDeque::new(),
        }
    }

    /// A response header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        header_str(&self.headers, name)
    }

    /// A response header parsed as a number; panics when missing.
    pub fn num(&self, name: &str) -> u64 {
        self.header(name)
            .unwrap_or_else(|| panic!("no {name} header"))
            .parse()
            .expect("numeric header")
    }

    /// The next body data frame (over HTTP/2: one DATA frame), or `None`
    /// once the stream ended (END_STREAM; trailers are kept in `trailers`).
    pub async fn next_chunk(&mut self) -> Option<Bytes> {
        loop {
            if self.ended {
                return None;
            }
            match self.body.frame().await {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => return Some(data),
                    Err(frame) => {
                        if let Ok(t) = frame.into_trailers() {
                            self.trailers = Some(t);
                        }
                    }
                },
                Some(Err(e)) => panic!("subscription body failed: {e}"),
                None => self.ended = true,
            }
        }
    }

    /// Like [`Sub::next_chunk`] but returns the transport error instead of
    /// panicking.
    pub async fn try_next_chunk(&mut self) -> Result<Option<Bytes>, hyper::Error> {
        loop {
            if self.ended {
                return Ok(None);
            }
            match self.body.frame().await {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => return Ok(Some(data)),
                    Err(frame) => {
                        if let Ok(t) = frame.into_trailers() {
                            self.trailers = Some(t);
                        }
                    }
                },
                Some(Err(e)) => return Err(e),
                None => self.ended = true,
            }
        }
    }

    /// Reads exactly `n` body bytes, across as many frames as they take.
    pub async fn read_bytes(&mut self, n: usize) -> Bytes {
        let mut buf = BytesMut::new();
        while buf.len() < n {
            let chunk = self
                .next_chunk()
                .await
                .unwrap_or_else(|| panic!("stream ended after {} of {n} bytes", buf.len()));
            buf.extend_from_slice(&chunk);
        }
        assert_eq!(buf.len(), n, "read past the expected bytes");
        buf.freeze()
    }

    /// The next Drift frame (`application/vnd.drift.frames`), or `None` at
    /// the end of the stream (which must not fall inside a frame).
    pub async fn next_frame(&mut self) -> Option<Frame> {
        loop {
            if let Some(f) = self.frames.next_frame().expect("well-formed Drift frames") {
                return Some(f);
            }
            match self.next_chunk().await {
                Some(chunk) => self.frames.extend(&chunk),
                None => {
                    assert_eq!(self.frames.buffered(), 0, "stream ended inside a frame");
                    return None;
                }
            }
        }
    }

    /// The next SSE event (comments skipped), or `None` at the end.
    pub async fn next_event(&mut self) -> Option<SseEvent> {
        loop {
            if let Some(ev) = self.sse_events.pop_front() {
                return Some(ev);
            }
            let chunk = self.next_chunk().await?;
            self.sse_events.extend(self.sse.feed(&chunk));
        }
    }

    /// Asserts that the stream ends now (END_STREAM, no more data).
    pub async fn expect_end(&mut self) {
        if let Some(chunk) = self.next_chunk().await {
            panic!("expected the end of the stream, got {chunk:?}");
        }
    }
}

// ===== the h2 crate, for frame-level control =====

/// A bare `h2` client connection: every DATA frame is seen as it came, and
/// flow control is the test's to manage.
pub struct H2Raw {
    send: h2::client::SendRequest<Bytes>,
    base: String,
}

/// A response stream of an [`H2Raw`] request.
pub struct H2Stream {
    /// Response head.
    pub head: http::response::Parts,
    /// The body's DATA frames.
    pub body: h2::RecvStream,
}

impl H2Raw {
    /// Connects with the given initial stream and connection windows.
    /// `H2Raw::connect(s, 65_535, 1 << 30)` is the original Go client.
    pub async fn connect(server: &TestServer, stream_window: u32, conn_window: u32) -> H2Raw {
        let mut builder = h2::client::Builder::new();
        builder
            .initial_window_size(stream_window)
            .initial_connection_window_size(conn_window);
        let send = if server.is_tls() {
            let tls = server.tls(&[ALPN_H2]).await;
            let (send, conn) = builder.handshake(tls).await.expect("h2 handshake");
            tokio::spawn(async move {
                let _ = conn.await;
            });
            send
        } else {
            let (send, conn) = builder
                .handshake(server.tcp().await)
                .await
                .expect("h2 handshake");
            tokio::spawn(async move {
                let _ = conn.await;
            });
            send
        };
        H2Raw {
            send,
            base: server.url.clone(),
        }
    }

    /// Sends `GET path` with `headers` and waits for the response headers.
    pub async fn get(&mut self, path: &str, headers: &[(&str, &str)]) -> H2Stream {
        let mut req = Request::get(format!("{}{path}", self.base));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let mut send = self.send.clone().ready().await.expect("h2 ready");
        let (res, _) = send
            .send_request(req.body(()).unwrap(), true)
            .expect("h2 send_request");
        let res = res.await.expect("h2 response");
        let (head, body) = res.into_parts();
        H2Stream { head, body }
    }
}

impl H2Stream {
    /// The next DATA frame's payload, giving the window back (a normal client).
    pub async fn next_data_releasing(&mut self) -> Option<Bytes> {
        let data = self.body.data().await?.expect("DATA frame");
        self.body
            .flow_control()
            .release_capacity(data.len())
            .expect("release capacity");
        Some(data)
    }

    /// The next DATA frame's payload, keeping the window consumed (a client
    /// that never sends a stream WINDOW_UPDATE).
    pub async fn next_data_holding(&mut self) -> Option<Bytes> {
        self.body.data().await.map(|d| d.expect("DATA frame"))
    }
}

// ===== misc =====

/// A directory under the system temp dir, removed on drop.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    /// A new, empty, unique directory.
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir = std::env::temp_dir().join(format!(
            "drift-test-{tag}-{}-{}-{nanos}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Writes a CA certificate as `ca.pem` in this directory; its path.
    pub fn write_ca(&self, ca_pem: &[u8]) -> PathBuf {
        let path = self.0.join("ca.pem");
        std::fs::write(&path, ca_pem).expect("write ca.pem");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Reads from `io` into `buf` until `needle` appears; returns the index just
/// past it. Panics if the stream ends first.
pub async fn read_until<R: AsyncRead + Unpin + ?Sized>(
    io: &mut R,
    buf: &mut Vec<u8>,
    needle: &[u8],
) -> usize {
    loop {
        if let Some(i) = find(buf, needle) {
            return i + needle.len();
        }
        let mut chunk = [0u8; 16 * 1024];
        let n = io.read(&mut chunk).await.expect("read");
        if n == 0 {
            panic!(
                "stream ended before {:?}; got {:?}",
                String::from_utf8_lossy(needle),
                String::from_utf8_lossy(buf)
            );
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Position of `needle` in `hay`.
pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Now in microseconds since the Unix epoch.
pub fn now_us() -> u64 {
    drift_core::message::now_us()
}
