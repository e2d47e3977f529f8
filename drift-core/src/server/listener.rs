//! The listener: binds, accepts, terminates TLS (or not), serves each
//! connection with HTTP/2 or HTTP/1.1, and shuts down gracefully.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;

use super::connection_watch::{self, Expiry, PrefaceWatch, Streams, Watched};
use super::engine::{Coalesced, Connections, EngineCounters, EngineStats, PollCount};
use super::lingering::{Lingering, lingering};
use super::metrics::{self, MetricsListener, MetricsRoute};
use super::service::DriftService;
use super::{ServerConfig, TlsMode, auth_setup, dead_peers, storage};
use crate::broker::Broker;
use crate::error::{Error, ErrorKind, Result};
use crate::tls::{ServerIdentity, tls_acceptor};

/// What a client that speaks plain HTTP to the TLS port gets (as Go's server says).
const PLAIN_HTTP_TO_TLS: &[u8] =
    b"HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain\r\n\r\nClient sent an HTTP request to an HTTPS server.\n";
/// How long a connection closed for being idle may take to finish its
/// graceful close (a peer that never answers the GOAWAY's PING).
const IDLE_CLOSE_GRACE: Duration = Duration::from_secs(2);
/// At most one warning per this long about refused connections.
const REFUSAL_LOG_EVERY: Duration = Duration::from_secs(10);

/// A bound Drift server, ready to [`run`](Server::run) or [`spawn`](Server::spawn).
pub struct Server {
    listener: TcpListener,
    local_addr: SocketAddr,
    acceptor: Option<TlsAcceptor>,
    identity: Option<ServerIdentity>,
    cert_path: Option<PathBuf>,
    service: DriftService,
    config: ServerConfig,
    engine: Arc<EngineCounters>,
    /// The metrics listener (`ServerConfig::metrics_listen`).
    metrics: Option<MetricsListener>,
}

/// A server running on the tokio runtime; shut it down with
/// [`ServerHandle::shutdown`]. Dropping the handle also starts a shutdown.
#[derive(Debug)]
pub struct ServerHandle {
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<()>>>,
    broker: Broker,
    local_addr: SocketAddr,
    url: String,
    engine: Arc<EngineCounters>,
    metrics_addr: Option<SocketAddr>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("local_addr", &self.local_addr)
            .field("tls", &self.acceptor.is_some())
            .field("cert_path", &self.cert_path)
            .finish()
    }
}

// ===== impl Server =====

impl Server {
    /// Checks the configuration, loads or generates the certificate, then
    /// binds. Fails with a clear message when a setting cannot work, the
    /// port is taken or the certificate is unusable.
    pub async fn bind(config: ServerConfig) -> Result<Server> {
        config.validate()?;
        let (identity, cert_path) = load_identity(&config)?;
        // The OS's reason is the source, which `Display` appends: naming
        // it in the message too printed it twice.
        let listener = TcpListener::bind(config.listen).await.map_err(|e| {
            Error::new(
                ErrorKind::Connect,
                format!("cannot listen on {}", config.listen),
            )
            .with_source(e)
        })?;
        Server::serve_on(listener, config, identity, cert_path)
    }

    /// As [`Server::bind`], but on a listener the caller bound (one handed
    /// over by a service manager, or bound with socket options of its
    /// own); `config.listen` is not used.
    ///
    /// # Errors
    ///
    /// As [`Server::bind`], but for binding.
    pub fn from_listener(listener: TcpListener, config: ServerConfig) -> Result<Server> {
        config.validate()?;
        let (identity, cert_path) = load_identity(&config)?;
        Server::serve_on(listener, config, identity, cert_path)
    }

    fn serve_on(
        listener: TcpListener,
        config: ServerConfig,
        identity: Option<ServerIdentity>,
        cert_path: Option<PathBuf>,
    ) -> Result<Server> {
        let acceptor = match &identity {
            Some(id) => Some(tls_acceptor(id.server_config()?)),
            None => None,
        };
        let local_addr = listener.local_addr()?;
        let broker = Broker::new(auth_setup::authenticated(
            &config,
            storage::broker_config(&config)?,
        )?);
        let metrics = match config.metrics_listen {
            Some(addr) if broker.metrics().is_some() => Some(metrics::bind(addr)?),
            _ => None,
        };
        let mut service = DriftService::serving(broker, config.service.clone(), &[local_addr]);
        if metrics.is_some() {
            service = service.with_metrics_route(MetricsRoute::Elsewhere);
        }
        Ok(Server {
            listener,
            local_addr,
            acceptor,
            identity,
            cert_path,
            service,
            config,
            engine: Arc::default(),
            metrics,
        })
    }

    /// The address of the metrics listener, when `/metrics` has one of its
    /// own (`ServerConfig::metrics_listen`).
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().map(MetricsListener::local_addr)
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The base URL clients use: `https://…` or, for h2c, `http://…`.
    pub fn url(&self) -> String {
        base_url(self.local_addr, self.acceptor.is_some())
    }

    /// The PEM certificate clients should trust (TLS modes only).
    pub fn ca_cert_pem(&self) -> Option<&str> {
        self.identity.as_ref().map(|i| i.cert_pem.as_str())
    }

    /// Where the generated certificate was written, if it was.
    pub fn cert_path(&self) -> Option<&Path> {
        self.cert_path.as_deref()
    }

    /// SHA-256 fingerprint of the served certificate (TLS modes only).
    pub fn cert_fingerprint(&self) -> Option<String> {
        self.identity
            .as_ref()
            .and_then(|i| i.fingerprint_sha256().ok())
    }

    /// The broker, for in-process publishing and subscribing.
    pub fn broker(&self) -> &Broker {
        self.service.broker()
    }

    /// Whether it serves the web console at `/console`.
    pub fn serves_console(&self) -> bool {
        self.service.serves_console()
    }

    /// Serves one connection over `io`, any byte stream (past TLS, if the
    /// transport has any), as an accepted connection is served — HTTP/2
    /// with prior knowledge or HTTP/1.1, with this server's limits and
    /// broker — until it closes, on the current task. `peer` is the remote
    /// address given to the authoriser, if there is one. For tests of
    /// connection-level behaviour without TCP (e.g. over
    /// `tokio::io::duplex`), and for programs that bring their own
    /// transport. The connection is not part of the server's graceful
    /// shutdown; [`Broker::shutdown`] still ends its subscriptions.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Protocol`] when the connection ends in an HTTP error.
    pub async fn serve_connection<IO>(&self, io: IO, peer: Option<SocketAddr>) -> Result<()>
    where
        IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let service = match peer {
            Some(peer) => self.service.with_peer(peer),
            None => self.service.clone(),
        };
        // Never signalled: this connection is not part of a shutdown.
        let (_never, shutdown) = watch::channel(false);
        let conn = Connection {
            builder: Arc::new(connection_builder(&self.config)),
            acceptor: None,
            service,
            shutdown,
            engine: self.engine.clone(),
            // Not a TCP socket of ours.
            keepalive: None,
            timeouts: Timeouts::of(&self.config),
            _slot: None,
        };
        conn.serve_io(io, Instant::now() + self.config.handshake_timeout, false)
            .await
            .map_err(|e| Error::new(ErrorKind::Protocol, format!("connection failed: {e}")))
    }

    /// What the connection-thread engine has done so far.
    pub fn engine_stats(&self) -> EngineStats {
        self.engine.snapshot()
    }

    pub(crate) fn engine_counters(&self) -> Arc<EngineCounters> {
        self.engine.clone()
    }

    /// Runs the server on the current tokio runtime.
    pub fn spawn(self) -> ServerHandle {
        let (stop, stopped) = oneshot::channel::<()>();
        let broker = self.broker().clone();
        let engine = self.engine.clone();
        let local_addr = self.local_addr;
        let url = self.url();
        let metrics_addr = self.metrics_addr();
        let task = tokio::spawn(self.run(async move {
            let _ = stopped.await;
        }));
        ServerHandle {
            stop: Some(stop),
            task: Some(task),
            broker,
            local_addr,
            url,
            engine,
            metrics_addr,
        }
    }

    /// Serves until `shutdown` completes, then stops accepting, ends every
    /// subscription with reason "shutdown", sends GOAWAY and waits (up to the
    /// configured grace period) for requests in flight.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) -> Result<()> {
        let (metrics_stop, metrics_stopped) = watch::channel(false);
        let metrics_task = self.metrics.take().map(|listener| {
            let service = self.service.with_metrics_route(MetricsRoute::Only);
            tokio::spawn(listener.serve(service, metrics_stopped))
        });
        let builder = Arc::new(connection_builder(&self.config));
        // Each connection holds a receiver: the sender's `closed` is "every
        // connection has ended".
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let timeouts = Timeouts::of(&self.config);
        let limit = self.config.connection_limit();
        let open = Arc::new(AtomicUsize::new(0));
        let mut last_refusal_log: Option<Instant> = None;
        // Connection tasks are kept so that shutdown can close the ones that
        // outlive the grace period (a peer that stopped reading, say) even
        // when the runtime itself keeps running, as in an embedding program.
        let mut connections =
            Connections::start(self.config.connection_threads(), self.engine.clone())?;
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, peer)) => {
                        let Some(slot) = Slot::take(&open, limit) else {
                            // Closed at once: the descriptor is free again.
                            drop(stream);
                            if last_refusal_log.is_none_or(|t| t.elapsed() >= REFUSAL_LOG_EVERY) {
                                last_refusal_log = Some(Instant::now());
                                tracing::warn!(
                                    "connection limit of {limit} reached: closing new connections"
                                );
                            }
                            continue;
                        };
                        let deadline = Instant::now() + self.config.handshake_timeout;
                        let conn = Connection {
                            builder: builder.clone(),
                            acceptor: self.acceptor.clone(),
                            service: self.service.with_peer(peer),
                            shutdown: shutdown_rx.clone(),
                            engine: self.engine.clone(),
                            keepalive: self.config.keepalive,
                            timeouts,
                            _slot: Some(slot),
                        };
                        connections.dispatch(stream, move |stream| {
                            Box::pin(conn.serve(stream, peer, deadline))
                        });
                    }
                    Err(e) => {
                        // Out of file descriptors and the like: back off a
                        // little instead of spinning on the error.
                        tracing::warn!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
                () = &mut shutdown => break,
            }
        }
        drop(self.listener);
        tracing::info!(
            "shutting down: refusing publishes, ending subscriptions after those in flight"
        );
        // Publishes already accepted reach every live subscriber before the
        // subscriptions end; later ones are refused (503).
        let broker = self.service.broker();
        if tokio::time::timeout(self.config.shutdown_grace, broker.shutdown_gracefully())
            .await
            .is_err()
        {
            broker.shutdown();
        }
        drop(shutdown_rx);
        let _ = shutdown_tx.send(true);
        if tokio::time::timeout(self.config.shutdown_grace, shutdown_tx.closed())
            .await
            .is_err()
        {
            tracing::warn!("shutdown grace period over; closing remaining connections");
        }
        connections.stop().await;
        let _ = metrics_stop.send(true);
        if let Some(task) = metrics_task {
            let _ = task.await;
        }
        Ok(())
    }
}

// ===== impl ServerHandle =====

impl ServerHandle {
    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The base URL clients use.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The server's broker.
    pub fn broker(&self) -> &Broker {
        &self.broker
    }

    /// What the connection-thread engine has done so far.
    pub fn engine_stats(&self) -> EngineStats {
        self.engine.snapshot()
    }

    /// The address of the metrics listener, when `/metrics` has one of its
    /// own.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// Shuts down gracefully and waits until the server has stopped.
    pub async fn shutdown(mut self) -> Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => task
                .await
                .map_err(|e| Error::new(ErrorKind::Internal, format!("server task failed: {e}")))?,
            None => Ok(()),
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

// ===== connections =====

struct Connection {
    builder: Arc<auto::Builder<TokioExecutor>>,
    acceptor: Option<TlsAcceptor>,
    service: DriftService,
    /// Becomes `true` when the server shuts down.
    shutdown: watch::Receiver<bool>,
    engine: Arc<EngineCounters>,
    /// See [`ServerConfig::keepalive`].
    keepalive: Option<Duration>,
    timeouts: Timeouts,
    /// Counts the connection against the limit while it lives.
    _slot: Option<Slot>,
}

/// A connection's deadlines (see `connection_watch`).
#[derive(Debug, Clone, Copy)]
struct Timeouts {
    handshake: Duration,
    idle: Option<Duration>,
}

impl Timeouts {
    fn of(config: &ServerConfig) -> Timeouts {
        Timeouts {
            handshake: config.handshake_timeout,
            idle: config.idle_timeout,
        }
    }
}

/// One of the connections the limit allows; given back when dropped.
#[derive(Debug)]
struct Slot(Arc<AtomicUsize>);

impl Slot {
    fn take(open: &Arc<AtomicUsize>, limit: usize) -> Option<Slot> {
        // Only the accept loop takes slots, so load-then-add cannot overshoot.
        if open.load(Ordering::Acquire) >= limit {
            return None;
        }
        open.fetch_add(1, Ordering::AcqRel);
        Some(Slot(open.clone()))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Connection {
    async fn serve(mut self, stream: TcpStream, peer: SocketAddr, deadline: Instant) {
        let _ = stream.set_nodelay(true);
        if let Err(e) = dead_peers::watch(&stream, self.keepalive) {
            tracing::debug!(%peer, "no TCP keep-alive: {e}");
        }
        // A lingering socket still counts against the connection limit.
        let slot = self._slot.take();
        let (stream, reclaimed) = lingering(stream);
        let result = match self.acceptor.clone() {
            None => self.serve_io(stream, deadline, false).await,
            Some(acceptor) => match accept_tls(acceptor, stream, deadline).await {
                Ok(Some(tls)) => self.serve_io(tls, deadline, true).await,
                Ok(None) => Ok(()),
                Err(e) => Err(Failure::Other(e)),
            },
        };
        match result {
            Ok(()) => {}
            Err(Failure::Http(e)) => {
                tracing::info!(%peer, "connection error: {e}");
                // The HTTP layer gave up with its reason written, maybe
                // while the client is still sending.
                reclaimed.close().await;
            }
            Err(e) => tracing::info!(%peer, "connection error: {e}"),
        }
        drop(slot);
    }

    /// Serves until the connection ends, is idle too long, sends no
    /// request by `deadline`, or the server shuts down (then gracefully).
    async fn serve_io<IO>(
        self,
        io: IO,
        deadline: Instant,
        tls: bool,
    ) -> std::result::Result<(), Failure>
    where
        IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let http = |e: Box<dyn std::error::Error + Send + Sync>| Failure::Http(e.to_string());
        let Connection {
            builder,
            service,
            mut shutdown,
            engine,
            timeouts,
            _slot,
            ..
        } = self;
        let polls = PollCount::default();
        let metrics = service.broker().metrics().cloned();
        let streams = Arc::new(Streams::counted(metrics.clone(), tls));
        let conn = builder.serve_connection(
            TokioIo::new(Coalesced::new(
                PrefaceWatch::new(io, streams.clone()),
                polls.clone(),
                engine.current(),
            )),
            Watched::new(service, streams.clone()),
        );
        let watched = streams.clone();
        let result = polls
            .count(async move {
                tokio::pin!(conn);
                let expiry = connection_watch::expired(&watched, deadline, timeouts.idle);
                tokio::pin!(expiry);
                let idle = tokio::select! {
                    r = conn.as_mut() => return r.map_err(http),
                    _ = shutdown.wait_for(|stopping| *stopping) => false,
                    why = &mut expiry => match why {
                        Expiry::NoRequest => {
                            return Err(Failure::Other(format!(
                                "no request within {:?} of connecting",
                                timeouts.handshake
                            )));
                        }
                        Expiry::Idle => true,
                    },
                };
                conn.as_mut().graceful_shutdown();
                if !idle {
                    // The server bounds its own shutdown.
                    return conn.await.map_err(http);
                }
                match tokio::time::timeout(IDLE_CLOSE_GRACE, conn).await {
                    Ok(r) => r.map_err(http),
                    Err(_) => Ok(()),
                }
            })
            .await;
        streams.closed();
        result
    }
}

/// Why a connection ended other than cleanly.
enum Failure {
    /// The HTTP layer ended it (a protocol error, a header block far over
    /// the limit): the connection closes lingering.
    Http(String),
    /// A timeout or a failed TLS handshake: it closes at once.
    Other(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Http(why) | Failure::Other(why) => f.write_str(why),
        }
    }
}

/// Completes the TLS handshake; answers a plain-HTTP client with a 400 and
/// `Ok(None)`.
async fn accept_tls(
    acceptor: TlsAcceptor,
    mut stream: Lingering,
    deadline: Instant,
) -> std::result::Result<Option<tokio_rustls::server::TlsStream<Lingering>>, String> {
    let mut first = [0u8; 1];
    let n = match tokio::time::timeout_at(deadline, stream.peek(&mut first)).await {
        Ok(n) => n.map_err(|e| e.to_string())?,
        Err(_) => return Err("no TLS handshake before the deadline".to_string()),
    };
    // Every TLS connection starts with a handshake record (content type 22).
    if n == 1 && first[0] != 0x16 {
        let _ = stream.write_all(PLAIN_HTTP_TO_TLS).await;
        let _ = stream.shutdown().await;
        return Ok(None);
    }
    match tokio::time::timeout_at(deadline, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => Ok(Some(tls)),
        Ok(Err(e)) => Err(format!("TLS handshake failed: {e}")),
        Err(_) => Err("TLS handshake timed out".to_string()),
    }
}

fn connection_builder(config: &ServerConfig) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .max_buf_size(config.max_header_bytes.max(8192))
        .header_read_timeout(Duration::from_secs(30));
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(config.max_concurrent_streams)
        .max_header_list_size(u32::try_from(config.max_header_bytes).unwrap_or(u32::MAX))
        // Publishers send up to a whole message before we answer: let them.
        .initial_stream_window_size(1 << 20)
        .initial_connection_window_size(16 << 20)
        // No PINGs: a client that ignores them (the original Go client)
        // would lose its connection. TCP keep-alive finds dead peers.
        .keep_alive_interval(None);
    builder
}

fn load_identity(config: &ServerConfig) -> Result<(Option<ServerIdentity>, Option<PathBuf>)> {
    match &config.tls {
        TlsMode::H2c => Ok((None, None)),
        TlsMode::Identity(id) => Ok((Some(id.clone()), None)),
        TlsMode::Files { cert, key } => Ok((
            Some(ServerIdentity::from_files(cert, key)?),
            Some(cert.clone()),
        )),
        TlsMode::Generated => {
            let Some(dir) = &config.cert_dir else {
                return Ok((Some(ServerIdentity::generate_self_signed()?), None));
            };
            // Reuse a certificate generated before, so clients that trust it
            // keep working across restarts.
            let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
            if cert.exists()
                && key.exists()
                && let Ok(id) = ServerIdentity::from_files(&cert, &key)
                && id.server_config().is_ok()
            {
                return Ok((Some(id), Some(cert)));
            }
            let id = ServerIdentity::generate_self_signed()?;
            let (cert, _) = id.write_to_dir(dir)?;
            Ok((Some(id), Some(cert)))
        }
    }
}

fn base_url(addr: SocketAddr, tls: bool) -> String {
    let scheme = if tls { "https" } else { "http" };
    let ip = match addr.ip() {
        ip if ip.is_unspecified() && ip.is_ipv4() => "127.0.0.1".to_string(),
        ip if ip.is_unspecified() => "[::1]".to_string(),
        std::net::IpAddr::V6(v6) => format!("[{v6}]"),
        ip => ip.to_string(),
    };
    format!("{scheme}://{ip}:{}", addr.port())
}
