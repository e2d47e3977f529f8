//! The Drift HTTP server: a hyper service ([`DriftService`]) that any hyper
//! or tower application can mount, and a listener ([`Server`]) that serves it
//! over TLS (HTTP/2 and HTTP/1.1 chosen by ALPN) or cleartext h2c, with
//! graceful shutdown.
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

mod body;
mod coalesced;
mod cors;
mod io_threads;
mod listener;
mod reference;
mod response;
mod routes;
mod service;
mod subscribe;
mod topics;
mod wake_relay;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

pub use body::DriftBody;
pub use cors::Cors;
pub use listener::{Server, ServerHandle};
pub use service::{DriftService, ServiceConfig};

use crate::broker::BrokerConfig;
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
    /// Topic, history and back-pressure limits, and hooks.
    pub broker: BrokerConfig,
    /// Protocol behaviour of the HTTP layer.
    pub service: ServiceConfig,
    /// Interval of HTTP/2 PINGs that find dead peers (`None` disables).
    pub keepalive: Option<Duration>,
    /// Largest request header block accepted.
    pub max_header_bytes: usize,
    /// Concurrent HTTP/2 streams per connection.
    pub max_concurrent_streams: u32,
    /// How long shutdown waits for in-flight requests before closing anyway.
    pub shutdown_grace: Duration,
    /// Threads that serve connections, each a single-threaded tokio runtime
    /// owning its connections (thread per core). `0` serves every connection
    /// on the runtime that runs the server. A connection and its streams
    /// then never hop between threads, and a connection's writes are
    /// batched: its streams all run before the connection flushes. A
    /// publish wakes each thread once, and each thread wakes its
    /// subscriptions one connection at a time (see `wake_relay`).
    pub io_threads: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 5500)),
            tls: TlsMode::Generated,
            cert_dir: None,
            broker: BrokerConfig::default(),
            service: ServiceConfig::default(),
            keepalive: Some(Duration::from_secs(30)),
            max_header_bytes: 16 * 1024,
            max_concurrent_streams: 1024,
            shutdown_grace: Duration::from_secs(10),
            io_threads: 0,
        }
    }
}
