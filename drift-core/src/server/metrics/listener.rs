//! The metrics listener (`--metrics-listen`): plain HTTP/1.1 and h2c on an
//! address of the operator's, answering `/metrics` only. It runs on the
//! runtime that accepts the main listener's connections; a scrape is a
//! few kilobytes a few times a minute.

use std::net::SocketAddr;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::error::{Error, ErrorKind, Result};
use crate::server::service::DriftService;

/// A bound metrics listener, not yet serving.
#[derive(Debug)]
pub(crate) struct MetricsListener {
    listener: std::net::TcpListener,
    addr: SocketAddr,
}

/// Binds `addr` (at once, so that a taken port fails the server's start).
pub(crate) fn bind(addr: SocketAddr) -> Result<MetricsListener> {
    let listener = std::net::TcpListener::bind(addr).map_err(|e| {
        Error::new(
            ErrorKind::Connect,
            format!("cannot listen on {addr} for metrics"),
        )
        .with_source(e)
    })?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    Ok(MetricsListener { listener, addr })
}

impl MetricsListener {
    /// The address bound (useful with port 0).
    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves `service` (made for this listener) until `stop` becomes
    /// true; its connections are closed then.
    pub(crate) async fn serve(self, service: DriftService, mut stop: watch::Receiver<bool>) {
        let listener = match TcpListener::from_std(self.listener) {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!("metrics listener on {} failed: {e}", self.addr);
                return;
            }
        };
        let builder = auto::Builder::new(TokioExecutor::new());
        let mut connections = JoinSet::new();
        loop {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => {
                        let _ = stream.set_nodelay(true);
                        let conn = builder
                            .serve_connection(TokioIo::new(stream), service.with_peer(peer))
                            .into_owned();
                        connections.spawn(async move {
                            if let Err(e) = conn.await {
                                tracing::debug!(%peer, "metrics connection: {e}");
                            }
                        });
                    }
                    Err(e) => {
                        tracing::warn!("metrics accept failed: {e}");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    }
                },
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
                _ = stop.changed() => break,
            }
        }
        connections.shutdown().await;
    }
}
