//! `drift.Server`: a Drift server inside the Python process, on threads of
//! its own (its own tokio runtime), so the program keeps running while it
//! serves.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use drift_core::broker::BrokerConfig;
use drift_core::server::{Server, ServerConfig, ServerHandle, ServiceConfig, TlsMode};
use pyo3::prelude::*;
use pyo3::types::PyType;
use tokio::runtime::Runtime;

use crate::client::lock;
use crate::errors::{Exc, invalid, new_err, to_pyerr};

/// A running server: its runtime, handle and what clients need to reach it.
struct Running {
    runtime: Runtime,
    handle: Option<ServerHandle>,
    url: String,
    addr: SocketAddr,
    ca_cert: Option<String>,
    /// A file holding `ca_cert`: the server's own certificate file when it
    /// has one, else `ca.pem` in `temp_dir`.
    ca_path: Option<PathBuf>,
    /// A private temporary directory, removed on stop.
    temp_dir: Option<PathBuf>,
}

impl Running {
    /// Graceful stop: ends every subscription with reason "shutdown", sends
    /// GOAWAY, lets requests in flight finish, then stops the threads.
    fn stop(mut self) -> drift_core::Result<()> {
        let result = match self.handle.take() {
            Some(handle) => self.runtime.block_on(handle.shutdown()),
            None => Ok(()),
        };
        self.cleanup();
        result
    }

    fn cleanup(&mut self) {
        if let Some(dir) = self.temp_dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // Dropped without stop() (e.g. the Server was garbage-collected):
        // the handle's drop starts a shutdown; do not wait for it.
        self.handle.take();
        self.cleanup();
    }
}

/// A Drift server running in this process.
///
/// `Server(...)` only configures; `start()` (or `with Server(...) as s:`)
/// binds and serves on threads of its own, so the program keeps running.
/// Without `cert`/`key` (and without `h2c`) it serves TLS with a self-signed
/// certificate generated for localhost: trust it with `ca_cert` (PEM text) or
/// `ca_cert_path` (a file, e.g. for `Client(cafile=...)` or `curl --cacert`).
#[pyclass(name = "Server", module = "drift", frozen)]
pub(crate) struct PyServer {
    config: ServerConfig,
    running: Mutex<Option<Running>>,
}

#[pymethods]
impl PyServer {
    #[new]
    #[pyo3(signature = (
        listen = "127.0.0.1:0",
        *,
        cert = None,
        key = None,
        h2c = false,
        history = 1000,
        history_bytes = Some(64 << 20),
        history_max_age = None,
        max_message_bytes = 1 << 20,
        max_topics = 100_000,
        max_subscriptions = 250_000,
        queue_messages = 1024,
        queue_bytes = 8 << 20,
        heartbeat = Some(15.0),
        require_create = false,
        cert_dir = None,
        shutdown_grace = 10.0,
        threads = 2,
    ))]
    #[allow(clippy::too_many_arguments)] // the Python signature
    fn new(
        listen: &str,
        cert: Option<PathBuf>,
        key: Option<PathBuf>,
        h2c: bool,
        history: usize,
        history_bytes: Option<u64>,
        history_max_age: Option<f64>,
        max_message_bytes: usize,
        max_topics: usize,
        max_subscriptions: usize,
        queue_messages: usize,
        queue_bytes: u64,
        heartbeat: Option<f64>,
        require_create: bool,
        cert_dir: Option<PathBuf>,
        shutdown_grace: f64,
        threads: usize,
    ) -> PyResult<Self> {
        let tls = match (cert, key, h2c) {
            (Some(_), _, true) | (_, Some(_), true) => {
                return Err(invalid("cert/key and h2c=True exclude each other"));
            }
            (None, None, true) => TlsMode::H2c,
            (Some(cert), Some(key), false) => TlsMode::Files { cert, key },
            (None, None, false) => TlsMode::Generated,
            _ => return Err(invalid("cert and key must be given together")),
        };
        if threads == 0 {
            return Err(invalid("threads must be at least 1"));
        }
        let config = ServerConfig {
            listen: parse_listen(listen)?,
            tls,
            cert_dir,
            broker: BrokerConfig {
                history_length: history,
                history_bytes,
                history_max_age: optional_duration("history_max_age", history_max_age)?,
                max_message_bytes,
                max_topics,
                max_subscriptions,
                queue_messages,
                queue_bytes,
                require_create,
                ..BrokerConfig::default()
            },
            service: ServiceConfig {
                heartbeat: optional_duration("heartbeat", heartbeat)?,
                ..ServiceConfig::default()
            },
            shutdown_grace: duration("shutdown_grace", shutdown_grace)?,
            io_threads: threads,
            ..ServerConfig::default()
        };
        Ok(PyServer {
            config,
            running: Mutex::new(None),
        })
    }

    /// Binds and starts serving. Raises `ConnectError` when the address is
    /// taken, `TLSError` for an unusable certificate; does nothing when the
    /// server is already running.
    fn start(&self, py: Python<'_>) -> PyResult<()> {
        // The lock is never held while the GIL is released: another thread
        // waiting for it with the GIL would deadlock us.
        if lock(&self.running).is_some() {
            return Ok(());
        }
        // Accepts connections and runs the server's own tasks; connections
        // are served by `threads` connection threads (`config.io_threads`).
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("drift-server")
            .enable_all()
            .build()
            .map_err(|e| new_err(Exc::DriftError, format!("cannot start server threads: {e}")))?;
        let config = self.config.clone();
        let server = py
            .detach(|| runtime.block_on(Server::bind(config)))
            .map_err(to_pyerr)?;
        let ca_cert = server.ca_cert_pem().map(str::to_owned);
        let (ca_path, temp_dir) = match (&ca_cert, server.cert_path()) {
            (Some(_), Some(path)) => (Some(path.to_owned()), None),
            (Some(pem), None) => {
                let dir = write_ca_file(pem).map_err(|e| {
                    new_err(
                        Exc::DriftError,
                        format!("cannot write the CA certificate file: {e}"),
                    )
                })?;
                (Some(dir.join("ca.pem")), Some(dir))
            }
            (None, _) => (None, None),
        };
        let url = server.url();
        let addr = server.local_addr();
        let handle = {
            let _entered = runtime.enter();
            server.spawn()
        };
        let started = Running {
            runtime,
            handle: Some(handle),
            url,
            addr,
            ca_cert,
            ca_path,
            temp_dir,
        };
        let mut running = lock(&self.running);
        if running.is_some() {
            // Another thread started it meanwhile: keep theirs.
            drop(running);
            return py.detach(|| started.stop()).map_err(to_pyerr);
        }
        *running = Some(started);
        Ok(())
    }

    /// Stops gracefully: subscriptions end with reason "shutdown", requests
    /// in flight finish (for at most `shutdown_grace` seconds), the port is
    /// released and `ca_cert_path` removed. Does nothing when not running.
    fn stop(&self, py: Python<'_>) -> PyResult<()> {
        let running = lock(&self.running).take();
        match running {
            Some(running) => py.detach(|| running.stop()).map_err(to_pyerr),
            None => Ok(()),
        }
    }

    /// Whether the server is running.
    #[getter]
    fn running(&self) -> bool {
        lock(&self.running).is_some()
    }

    /// The base URL for clients: `https://127.0.0.1:PORT` (or `http://` with
    /// `h2c=True`).
    #[getter]
    fn url(&self) -> PyResult<String> {
        self.with_running(|r| r.url.clone())
    }

    /// The port actually bound (useful with port 0).
    #[getter]
    fn port(&self) -> PyResult<u16> {
        self.with_running(|r| r.addr.port())
    }

    /// The host address bound, e.g. `"127.0.0.1"`.
    #[getter]
    fn host(&self) -> PyResult<String> {
        self.with_running(|r| r.addr.ip().to_string())
    }

    /// The certificate clients should trust, as PEM text (None with h2c).
    #[getter]
    fn ca_cert(&self) -> PyResult<Option<String>> {
        self.with_running(|r| r.ca_cert.clone())
    }

    /// A file holding `ca_cert` (None with h2c): the certificate file in
    /// `cert_dir` or `cert` when there is one, else a temporary file that
    /// is removed on stop.
    #[getter]
    fn ca_cert_path(&self) -> PyResult<Option<String>> {
        self.with_running(|r| r.ca_path.as_ref().map(|p| p.to_string_lossy().into_owned()))
    }

    fn __enter__(slf: Bound<'_, Self>) -> PyResult<Bound<'_, Self>> {
        slf.get().start(slf.py())?;
        Ok(slf)
    }

    #[pyo3(signature = (_exc_type = None, _exc = None, _tb = None))]
    fn __exit__(
        &self,
        py: Python<'_>,
        _exc_type: Option<Bound<'_, PyType>>,
        _exc: Option<Bound<'_, PyAny>>,
        _tb: Option<Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        self.stop(py)?;
        Ok(false)
    }

    fn __repr__(&self) -> String {
        match lock(&self.running).as_ref() {
            Some(r) => format!("<drift.Server {} running>", r.url),
            None => format!("<drift.Server {} stopped>", self.config.listen),
        }
    }
}

impl PyServer {
    fn with_running<T>(&self, f: impl FnOnce(&Running) -> T) -> PyResult<T> {
        match lock(&self.running).as_ref() {
            Some(r) => Ok(f(r)),
            None => Err(new_err(
                Exc::DriftError,
                "the server is not running (call start() first)",
            )),
        }
    }
}

/// `"127.0.0.1:0"`, `"[::1]:5500"`, `"localhost:5500"`, or a bare port `"5500"`.
fn parse_listen(listen: &str) -> PyResult<SocketAddr> {
    let listen = listen.trim();
    if let Ok(port) = listen.parse::<u16>() {
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    if let Ok(addr) = listen.parse::<SocketAddr>() {
        return Ok(addr);
    }
    listen
        .to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .ok_or_else(|| invalid(format!("listen must be HOST:PORT, not {listen:?}")))
}

fn duration(name: &str, seconds: f64) -> PyResult<Duration> {
    Duration::try_from_secs_f64(seconds)
        .map_err(|_| invalid(format!("{name} must be a non-negative number of seconds")))
}

/// `None` or 0 mean "none".
fn optional_duration(name: &str, seconds: Option<f64>) -> PyResult<Option<Duration>> {
    seconds
        .filter(|s| *s != 0.0)
        .map(|s| duration(name, s))
        .transpose()
}

/// Writes `pem` to `ca.pem` in a new private temporary directory.
fn write_ca_file(pem: &str) -> std::io::Result<PathBuf> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
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
    std::fs::write(dir.join("ca.pem"), pem)?;
    Ok(dir)
}
