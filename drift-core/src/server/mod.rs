//! The Drift HTTP server: a hyper service ([`DriftService`]) that any hyper
//! or tower application can mount, and a listener ([`Server`]) that serves it
//! over TLS (HTTP/2 and HTTP/1.1 chosen by ALPN) or cleartext h2c, with
//! graceful shutdown.
//!
//! A request goes one way down: the service builds a `Context` (broker,
//! peer, CORS, heartbeats) and hands it to the routes, which dispatch to the
//! handlers of `subscribe` and `topics`; those answer with `response`'s
//! builders. Nothing below the service names it.
//!
//! ```no_run
//! # async fn demo() -> drift_core::Result<()> {
//! use drift_core::server::{Server, ServerConfig, TlsMode};
//!
//! let config = ServerConfig { listen: "127.0.0.1:0".parse().unwrap(), tls: TlsMode::H2c, ..Default::default() };
//! let server = Server::bind(config).await?;
//! println!("listening on {}", server.url());
//! let handle = server.spawn();
//! // ... later
//! handle.shutdown().await?;
//! # Ok(()) }
//! ```

mod auth_cookie;
mod auth_setup;
mod background;
mod body;
mod connection_watch;
mod console;
mod context;
mod cors;
mod credentials;
mod dead_peers;
mod drain;
mod engine;
mod files_limit;
mod health;
mod inspect;
mod lingering;
mod listen;
mod listener;
mod metrics;
pub mod options;
mod reference;
mod response;
mod restartable;
mod routes;
mod service;
mod storage;
mod streamed;
mod subscribe;
mod topics;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

pub use background::BackgroundServer;
pub use body::DriftBody;
pub use console::Console;
pub use cors::Cors;
pub use engine::EngineStats;
pub use files_limit::{open_files_limit, raise_open_files_limit};
pub use listen::parse_listen;
pub use listener::{Server, ServerHandle};
pub use options::ServerOptions;
pub use restartable::RestartableServer;
pub use service::{DriftService, ServiceConfig};

use crate::broker::store::Fsync;
use crate::broker::{BrokerConfig, JwtConfig};
use crate::tls::ServerIdentity;

/// How the server secures its port.
#[derive(Debug, Clone, Default)]
pub enum TlsMode {
    /// TLS with a self-signed certificate for localhost, 127.0.0.1 and ::1,
    /// generated at start (or reused from `cert_dir` when one is there).
    #[default]
    Generated,
    /// TLS with a PEM certificate chain and private key from files.
    Files {
        /// Certificate chain (PEM).
        cert: PathBuf,
        /// Private key (PEM).
        key: PathBuf,
    },
    /// TLS with an identity already in memory.
    Identity(ServerIdentity),
    /// Cleartext: HTTP/2 with prior knowledge (h2c) and HTTP/1.1.
    H2c,
}

/// Everything a [`Server`] needs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to listen on (port 0 picks a free one).
    pub listen: SocketAddr,
    /// TLS or cleartext.
    pub tls: TlsMode,
    /// Where a generated certificate is written (and reused from), so that
    /// clients can trust it. `None` keeps it in memory only.
    pub cert_dir: Option<PathBuf>,
    /// Where topics, their configurations and epochs and their retained
    /// messages are kept, so that they survive restarts and crashes (the
    /// disk store; this replaces `broker.store`). `None` (the default) keeps
    /// them in `broker.store`, memory unless a program set another, and
    /// touches no disk.
    pub data_dir: Option<PathBuf>,
    /// With `data_dir`: when an accepted publish is on stable storage
    /// (before its answer, by default).
    pub fsync: Fsync,
    /// A Redis server (`redis://[:PASSWORD@]HOST:PORT[/DB]`, `rediss://…`
    /// for TLS) that keeps topics, epochs and history for every node that
    /// uses it: several servers then behave as one (the shared store; this
    /// replaces `broker.store`, and excludes `data_dir`).
    pub redis: Option<String>,
    /// Topic, history and back-pressure limits, and hooks.
    pub broker: BrokerConfig,
    /// JWT authentication: with a secret file or a public key, this
    /// replaces `broker.authenticator`, and everything not granted is
    /// refused. Without (the default) the server keeps
    /// `broker.authenticator`, open unless a program set another.
    pub jwt: JwtConfig,
    /// Protocol behaviour of the HTTP layer.
    pub service: ServiceConfig,
    /// Idle time after which an accepted connection's peer is probed by
    /// TCP keep-alive (every third of it, at least every second), and
    /// closed after three unanswered probes or when data it was sent stays
    /// unacknowledged as long (`None` disables). Dead peers are not found by
    /// HTTP/2 PINGs: some clients never answer them.
    pub keepalive: Option<Duration>,
    /// How long, from accept, a connection has to complete its TLS
    /// handshake and send its HTTP/2 client preface or (HTTP/1.1) its first
    /// request; one that has not by then is closed.
    pub handshake_timeout: Duration,
    /// A connection with no stream open (no request in flight, no
    /// subscription) for this long is closed gracefully (`None`: never).
    pub idle_timeout: Option<Duration>,
    /// Most connections served at once; one accepted past it is closed at
    /// once. `0` (the default): the process's open-file limit less 64 for
    /// everything else (see [`open_files_limit`]).
    pub max_connections: usize,
    /// Largest request header block accepted.
    pub max_header_bytes: usize,
    /// Concurrent HTTP/2 streams per connection.
    pub max_concurrent_streams: u32,
    /// How long shutdown waits for in-flight requests before closing anyway.
    pub shutdown_grace: Duration,
    /// Connection threads, each a single-threaded tokio runtime owning the
    /// connections handed to it (thread per core): `0` (the default) starts
    /// one per core, `N` starts N. The same number means the same in
    /// `drift serve --threads`, `drift_server_config_set_threads` and
    /// `drift.Server(threads=...)`. A connection and its streams never hop
    /// between threads, and a connection's writes are batched: its streams
    /// all run before the connection flushes. A publish wakes each thread
    /// once, and each thread wakes its subscriptions one connection at a
    /// time (see `wake_relay`).
    pub threads: usize,
    /// Serve every connection as a task of the runtime that runs the server
    /// instead of on connection threads (`threads` is then not used): for a
    /// program that wants the server on its own runtime. `drift serve` and
    /// the C and Python servers never do this.
    pub inline_connections: bool,
    /// Serve `GET /metrics` on this address of its own (plain HTTP/1.1 and
    /// h2c, no authentication: an operator's private address) instead of
    /// on `listen`, where it is then 404. `None` (the default): on `listen`,
    /// to a grant with admin rights. Counting is `broker.metrics`.
    pub metrics_listen: Option<SocketAddr>,
}

/// The longest timeout or interval a server takes (a year).
pub const MAX_TIMEOUT: Duration = Duration::from_secs(365 * 86_400);

impl ServerConfig {
    /// The defaults of a server embedded in a program (the C and Python
    /// servers, [`BackgroundServer`]): as [`ServerConfig::default`] (which
    /// is `drift serve`'s), but on a free port of 127.0.0.1 rather than
    /// 5500, so that several programs and tests can each run one.
    pub fn embedded() -> ServerConfig {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            ..ServerConfig::default()
        }
    }

    /// Refuses settings that cannot work, naming the setting (see
    /// [`BrokerConfig::validate`]). [`Server::bind`] checks with it.
    ///
    /// # Errors
    ///
    /// [`crate::ErrorKind::InvalidInput`] naming the first bad setting.
    pub fn validate(&self) -> crate::Result<()> {
        self.broker.validate()?;
        if self.handshake_timeout.is_zero() {
            return Err(crate::Error::invalid(
                "handshake timeout must be greater than 0",
            ));
        }
        // Deadlines are instants in the future: a duration that does not
        // fit one would panic where it is added.
        let durations = [
            ("handshake timeout", Some(self.handshake_timeout)),
            ("idle timeout", self.idle_timeout),
            ("keepalive", self.keepalive),
            ("shutdown grace", Some(self.shutdown_grace)),
            ("heartbeat", self.service.heartbeat),
        ];
        for (name, d) in durations {
            if let Some(d) = d
                && d > MAX_TIMEOUT
            {
                return Err(crate::Error::invalid(format!(
                    "{name} of {} s exceeds the maximum of {} s (a year)",
                    d.as_secs(),
                    MAX_TIMEOUT.as_secs()
                )));
            }
        }
        if !(1024..=u32::MAX as usize).contains(&self.max_header_bytes) {
            return Err(crate::Error::invalid(format!(
                "max header bytes must be between 1 KiB and 4 GiB, not {}",
                self.max_header_bytes
            )));
        }
        if self.max_concurrent_streams == 0 {
            return Err(crate::Error::invalid(
                "max concurrent streams must be greater than 0",
            ));
        }
        if self.metrics_listen.is_some() && !self.broker.metrics {
            return Err(crate::Error::invalid(
                "a metrics listen address needs metrics on",
            ));
        }
        if self.data_dir.is_some() && self.redis.is_some() {
            return Err(crate::Error::invalid(
                "a data dir and a Redis store exclude each other: history lives in one store",
            ));
        }
        Ok(())
    }

    /// The connection limit in effect: `max_connections`, or for 0 the
    /// open-file limit less 64 (at least 64; 1024 when it cannot be read).
    pub fn connection_limit(&self) -> usize {
        match self.max_connections {
            0 => {
                let files = open_files_limit().map_or(1024, |(soft, _)| soft);
                usize::try_from(files.saturating_sub(64).max(64)).unwrap_or(usize::MAX)
            }
            n => n,
        }
    }

    /// How many connection threads `threads` asks for: itself, or the
    /// number of cores for 0 (1 when that cannot be told). `None` when
    /// connections are served inline.
    pub fn connection_threads(&self) -> Option<usize> {
        if self.inline_connections {
            return None;
        }
        Some(match self.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        })
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 5500)),
            tls: TlsMode::Generated,
            cert_dir: None,
            data_dir: None,
            fsync: Fsync::Always,
            redis: None,
            broker: BrokerConfig::default(),
            jwt: JwtConfig::default(),
            service: ServiceConfig::default(),
            keepalive: Some(Duration::from_secs(30)),
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Some(Duration::from_secs(300)),
            max_connections: 0,
            max_header_bytes: 16 * 1024,
            max_concurrent_streams: 1024,
            shutdown_grace: Duration::from_secs(10),
            threads: 0,
            inline_connections: false,
            metrics_listen: None,
        }
    }
}
