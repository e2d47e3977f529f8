//! A Drift server on a loopback port, spawned on the test's runtime, and the
//! connections a test opens to it.

use std::net::{IpAddr, SocketAddr};

use drift_core::broker::{Broker, BrokerConfig};
use drift_core::server::{EngineStats, Server, ServerConfig, ServerHandle, ServiceConfig, TlsMode};
use drift_core::tls::ALPN_HTTP11;
use http::Version;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use super::hyper_client::Client;
use super::raw::{Io, tls_connect};

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
    /// The metrics listener's address, when `/metrics` has one of its own.
    pub metrics_addr: Option<SocketAddr>,
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
    let metrics_addr = server.metrics_addr();
    TestServer {
        handle: Some(server.spawn()),
        broker,
        addr,
        url,
        ca_pem,
        metrics_addr,
    }
}

impl TestServer {
    /// The server's broker (for counts and in-process checks).
    pub fn broker(&self) -> &Broker {
        &self.broker
    }

    /// What the server's connection-thread engine has done so far.
    pub fn engine_stats(&self) -> EngineStats {
        self.handle
            .as_ref()
            .expect("the server is running")
            .engine_stats()
    }

    /// True for a TLS server.
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
