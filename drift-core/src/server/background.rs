//! A server on a runtime of its own, for programs that do not run tokio
//! themselves: the C library's `drift_server`, Python's `drift.Server`,
//! scripts and tests. One lifecycle for all of them: start (returns once the
//! port is bound and being served), read what clients need, stop from any
//! thread (idempotent; every caller waits until the server has stopped),
//! and a drop that stops too and never panics, even inside async code.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use tokio::runtime::Runtime;
use tokio::sync::oneshot;

use super::engine::EngineCounters;
use super::{EngineStats, Server, ServerConfig};
use crate::broker::Broker;
use crate::error::{Error, ErrorKind, Result};

/// How long dropping a server waits for its runtime's last tasks after the
/// server itself has stopped.
const RUNTIME_SHUTDOWN: Duration = Duration::from_secs(5);

/// A Drift server serving on threads of its own while the program goes on:
/// one thread (`drift-server`) accepts connections and runs the server's
/// own tasks, the connection threads (`drift-io-N`, see
/// [`ServerConfig::threads`]) serve them.
///
/// Every method may be called from any thread, also concurrently.
///
/// ```no_run
/// use drift_core::server::{BackgroundServer, ServerConfig, TlsMode};
///
/// let server = BackgroundServer::start(ServerConfig { tls: TlsMode::H2c, ..ServerConfig::embedded() })?;
/// println!("serving on {}", server.url());
/// server.stop()?;
/// # Ok::<(), drift_core::Error>(())
/// ```
#[derive(Debug)]
pub struct BackgroundServer {
    /// Taken by drop; `Some` for as long as the server exists.
    runtime: Option<Runtime>,
    lifecycle: Arc<Lifecycle>,
    bound: Bound,
    /// The CA certificate written for [`BackgroundServer::ca_cert_path`];
    /// dropped (removed) after the runtime.
    ca_file: OnceLock<TempCaFile>,
}

/// Where the server is in its life, shared with the task that runs it.
#[derive(Debug)]
struct Lifecycle {
    phase: Mutex<Phase>,
    /// Signalled when the phase becomes `Stopped`.
    stopped: Condvar,
}

#[derive(Debug)]
enum Phase {
    /// Serving; sending on the channel starts a graceful shutdown.
    Running(oneshot::Sender<()>),
    /// A shutdown was asked for and is under way.
    Stopping,
    /// Over. The error, if the server failed, until one `stop` reports it.
    Stopped(Option<Error>),
}

/// What a bound server tells its starter, and the server then answers.
#[derive(Debug)]
struct Bound {
    url: String,
    local_addr: SocketAddr,
    ca_cert_pem: Option<String>,
    cert_path: Option<PathBuf>,
    cert_fingerprint: Option<String>,
    broker: Broker,
    engine: Arc<EngineCounters>,
}

/// Marks the server stopped when the task that runs it ends, however it
/// ends (also if it panicked or its runtime dropped it), so that no `stop`
/// waits forever.
struct StoppedOnDrop {
    lifecycle: Arc<Lifecycle>,
    error: Option<Error>,
}

impl Drop for StoppedOnDrop {
    fn drop(&mut self) {
        let error = self.error.take();
        let mut phase = self.lifecycle.lock();
        *phase = Phase::Stopped(error);
        self.lifecycle.stopped.notify_all();
    }
}

impl Lifecycle {
    fn lock(&self) -> MutexGuard<'_, Phase> {
        // Nothing panics while holding it; tolerate poisoning anyway.
        self.phase.lock().unwrap_or_else(|e| e.into_inner())
    }
}

// ===== impl BackgroundServer =====

impl BackgroundServer {
    /// Loads or generates the certificate, binds and starts serving; returns
    /// once the port is bound, so a client may connect at once.
    ///
    /// # Errors
    ///
    /// As [`Server::bind`] ([`ErrorKind::Connect`] when the address is
    /// taken, [`ErrorKind::Io`] or [`ErrorKind::Tls`] for an unusable
    /// certificate), or [`ErrorKind::Io`] when the threads cannot be started.
    pub fn start(config: ServerConfig) -> Result<BackgroundServer> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("drift-server")
            .enable_all()
            .build()
            .map_err(|e| {
                Error::new(ErrorKind::Io, "cannot start the server threads").with_source(e)
            })?;
        let lifecycle = Arc::new(Lifecycle {
            phase: Mutex::new(Phase::Stopping),
            stopped: Condvar::new(),
        });
        let (bound_tx, bound_rx) = std::sync::mpsc::channel::<Result<Bound>>();
        // Bound on the server's own runtime and waited for on a channel:
        // `block_on` would panic when `start` is called from async code.
        runtime.spawn(Self::serve(config, lifecycle.clone(), bound_tx));
        let bound = bound_rx.recv().map_err(|_| {
            Error::new(ErrorKind::Internal, "the server task ended before binding")
        })??;
        Ok(BackgroundServer {
            runtime: Some(runtime),
            lifecycle,
            bound,
            ca_file: OnceLock::new(),
        })
    }

    /// The server's whole life, on its runtime.
    async fn serve(
        config: ServerConfig,
        lifecycle: Arc<Lifecycle>,
        bound_tx: std::sync::mpsc::Sender<Result<Bound>>,
    ) {
        let mut done = StoppedOnDrop {
            lifecycle: lifecycle.clone(),
            error: None,
        };
        let server = match Server::bind(config).await {
            Ok(server) => server,
            Err(e) => {
                let _ = bound_tx.send(Err(e));
                return;
            }
        };
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        *lifecycle.lock() = Phase::Running(stop_tx);
        let bound = Bound {
            url: server.url(),
            local_addr: server.local_addr(),
            ca_cert_pem: server.ca_cert_pem().map(str::to_owned),
            cert_path: server.cert_path().map(Path::to_path_buf),
            cert_fingerprint: server.cert_fingerprint(),
            broker: server.broker().clone(),
            engine: server.engine_counters(),
        };
        let _ = bound_tx.send(Ok(bound));
        // Stops when asked, or when every sender is gone.
        let result = server
            .run(async move {
                let _ = stop_rx.await;
            })
            .await;
        done.error = result.err();
    }

    /// Stops gracefully: stops accepting, ends every subscription with
    /// reason "shutdown", sends GOAWAY and lets requests in flight finish
    /// (for at most [`ServerConfig::shutdown_grace`]). Blocks until the
    /// server has stopped, also when another thread asked first. Stopping a
    /// stopped server returns `Ok`. Do not call it from a task of the
    /// server's own runtime (nothing the server runs does).
    ///
    /// # Errors
    ///
    /// The error the server stopped with, if it failed (reported once).
    pub fn stop(&self) -> Result<()> {
        let mut phase = self.lifecycle.lock();
        if matches!(*phase, Phase::Running(_))
            && let Phase::Running(stop) = std::mem::replace(&mut *phase, Phase::Stopping)
        {
            let _ = stop.send(());
        }
        while matches!(*phase, Phase::Stopping) {
            phase = self
                .lifecycle
                .stopped
                .wait(phase)
                .unwrap_or_else(|e| e.into_inner());
        }
        match &mut *phase {
            Phase::Stopped(error) => error.take().map_or(Ok(()), Err),
            // Only `Stopped` ends the wait above.
            Phase::Running(_) | Phase::Stopping => Ok(()),
        }
    }

    /// Whether the server still serves (it has not been stopped and has not
    /// failed).
    pub fn is_running(&self) -> bool {
        matches!(*self.lifecycle.lock(), Phase::Running(_))
    }

    /// The base URL clients use: `https://127.0.0.1:PORT`, or `http://…`
    /// for h2c, with the port actually bound.
    pub fn url(&self) -> &str {
        &self.bound.url
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.bound.local_addr
    }

    /// The port actually bound (useful after listening on port 0).
    pub fn port(&self) -> u16 {
        self.bound.local_addr.port()
    }

    /// The PEM certificate clients must trust (the generated one, or the
    /// chain from the files); `None` for h2c.
    pub fn ca_cert_pem(&self) -> Option<&str> {
        self.bound.ca_cert_pem.as_deref()
    }

    /// The certificate file the server uses, when there is one (a generated
    /// certificate written to `cert_dir`, or the configured file).
    pub fn cert_path(&self) -> Option<&Path> {
        self.bound.cert_path.as_deref()
    }

    /// A PEM file holding [`BackgroundServer::ca_cert_pem`], for clients
    /// that take a path (`curl --cacert`, Python's `cafile`): the server's
    /// own certificate file when it has one ([`BackgroundServer::cert_path`]),
    /// else `ca.pem` in a private temporary directory, written by the first
    /// call and removed when the server is dropped. `None` for h2c.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Io`] when the temporary file cannot be written (a later
    /// call tries again).
    pub fn ca_cert_path(&self) -> Result<Option<&Path>> {
        let Some(pem) = self.ca_cert_pem() else {
            return Ok(None);
        };
        if let Some(path) = self.cert_path() {
            return Ok(Some(path));
        }
        if self.ca_file.get().is_none() {
            let file = TempCaFile::write(pem).map_err(|e| {
                Error::new(ErrorKind::Io, "cannot write the CA certificate file").with_source(e)
            })?;
            // Another thread may have written one meanwhile: then this one
            // is removed again here, and both callers see the same file.
            let _ = self.ca_file.set(file);
        }
        Ok(self.ca_file.get().map(|f| f.path.as_path()))
    }

    /// SHA-256 fingerprint of the served certificate; `None` for h2c.
    pub fn cert_fingerprint(&self) -> Option<&str> {
        self.bound.cert_fingerprint.as_deref()
    }

    /// The server's broker, for publishing and subscribing in-process.
    pub fn broker(&self) -> &Broker {
        &self.bound.broker
    }

    /// What the connection-thread engine has done so far.
    pub fn engine_stats(&self) -> EngineStats {
        self.bound.engine.snapshot()
    }
}

/// `ca.pem` in a private temporary directory, both removed on drop.
#[derive(Debug)]
struct TempCaFile {
    path: PathBuf,
}

impl TempCaFile {
    fn write(pem: &str) -> std::io::Result<TempCaFile> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir = std::env::temp_dir().join(format!(
            "drift-{}-{}-{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let mut builder = std::fs::DirBuilder::new();
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder.create(&dir)?;
        let file = TempCaFile {
            path: dir.join("ca.pem"),
        };
        // Dropped (the directory removed) if the write fails.
        std::fs::write(&file.path, pem)?;
        Ok(file)
    }
}

impl Drop for TempCaFile {
    fn drop(&mut self) {
        if let Some(dir) = self.path.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

impl Drop for BackgroundServer {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            tracing::warn!("the server stopped with an error: {e}");
        }
        if let Some(runtime) = self.runtime.take() {
            // Waiting for the runtime panics inside async code; the server
            // has stopped already, so not waiting loses nothing there.
            if tokio::runtime::Handle::try_current().is_ok() {
                runtime.shutdown_background();
            } else {
                runtime.shutdown_timeout(RUNTIME_SHUTDOWN);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::TlsMode;

    #[test]
    fn ca_cert_path_is_written_once_and_removed_on_drop() {
        let server = BackgroundServer::start(ServerConfig::embedded()).expect("start");
        let path = server.ca_cert_path().unwrap().expect("TLS").to_owned();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            server.ca_cert_pem().unwrap()
        );
        assert_eq!(server.ca_cert_path().unwrap(), Some(path.as_path()));
        server.stop().unwrap();
        assert!(path.exists(), "kept until the server is dropped");
        drop(server);
        assert!(!path.exists() && !path.parent().unwrap().exists());
    }

    #[test]
    fn ca_cert_path_is_the_certificate_file_or_none() {
        let dir = std::env::temp_dir().join(format!("drift-ca-test-{}", std::process::id()));
        let server = BackgroundServer::start(ServerConfig {
            cert_dir: Some(dir.clone()),
            ..ServerConfig::embedded()
        })
        .expect("start");
        assert_eq!(
            server.ca_cert_path().unwrap(),
            Some(dir.join("cert.pem").as_path())
        );
        drop(server);
        assert!(dir.join("cert.pem").exists(), "the server's own file stays");
        let _ = std::fs::remove_dir_all(&dir);
        let h2c = BackgroundServer::start(ServerConfig {
            tls: TlsMode::H2c,
            ..ServerConfig::embedded()
        })
        .expect("start");
        assert_eq!(h2c.ca_cert_path().unwrap(), None);
    }
}
