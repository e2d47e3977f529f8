//! `drift.Server`: a Drift server inside the Python process. The server
//! itself is drift-core's `BackgroundServer` (its own runtime and threads,
//! so the program keeps running while it serves); this file converts
//! arguments, maps errors and keeps a CA file for clients that want a path.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use drift_core::broker::BrokerConfig;
use drift_core::server::{BackgroundServer, ServerConfig, ServiceConfig, TlsMode, parse_listen};
use pyo3::prelude::*;
use pyo3::types::PyType;

use crate::errors::{Exc, invalid, new_err, to_pyerr};
use crate::options::lock;

/// A running server and the CA file made for it.
struct Running {
    server: BackgroundServer,
    /// A file holding the CA certificate: the server's own certificate file
    /// when it has one, else `ca.pem` in `temp_dir`.
    ca_path: Option<PathBuf>,
    /// A private temporary directory, removed when this is dropped (after
    /// the server has stopped: `server` is dropped first).
    _temp_dir: Option<TempDir>,
}

/// A directory removed on drop.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Running {
    fn start(config: ServerConfig) -> PyResult<Running> {
        let server = BackgroundServer::start(config).map_err(to_pyerr)?;
        let (ca_path, temp_dir) = match (server.ca_cert_pem(), server.cert_path()) {
            (Some(_), Some(path)) => (Some(path.to_owned()), None),
            (Some(pem), None) => {
                let dir = write_ca_file(pem).map_err(|e| {
                    new_err(
                        Exc::DriftError,
                        format!("cannot write the CA certificate file: {e}"),
                    )
                })?;
                (Some(dir.0.join("ca.pem")), Some(dir))
            }
            (None, _) => (None, None),
        };
        Ok(Running {
            server,
            ca_path,
            _temp_dir: temp_dir,
        })
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
    /// Shared so that every thread that stops it can wait for the stop
    /// without holding the lock (see `stop`).
    running: Mutex<Option<Arc<Running>>>,
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
        threads = 0,
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
        let config = ServerConfig {
            listen: parse_listen(listen).map_err(to_pyerr)?,
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
            threads,
            ..ServerConfig::embedded()
        };
        config.validate().map_err(to_pyerr)?;
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
        let config = self.config.clone();
        let started = Arc::new(py.detach(|| Running::start(config))?);
        let mut running = lock(&self.running);
        if running.is_some() {
            // Another thread started it meanwhile: keep theirs.
            drop(running);
            return py.detach(|| started.server.stop()).map_err(to_pyerr);
        }
        *running = Some(started);
        Ok(())
    }

    /// Stops gracefully: subscriptions end with reason "shutdown", requests
    /// in flight finish (for at most `shutdown_grace` seconds), the port is
    /// released and `ca_cert_path` removed. Returns once the server has
    /// stopped, also when another thread is stopping it. Does nothing when
    /// not running.
    fn stop(&self, py: Python<'_>) -> PyResult<()> {
        let Some(running) = lock(&self.running).clone() else {
            return Ok(());
        };
        let stopped = py.detach(|| running.server.stop());
        let mut slot = lock(&self.running);
        if slot.as_ref().is_some_and(|r| Arc::ptr_eq(r, &running)) {
            *slot = None;
        }
        drop(slot);
        // The last one out drops it, which removes the CA file; dropping a
        // stopped server does not wait.
        py.detach(|| drop(running));
        stopped.map_err(to_pyerr)
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
        self.with_running(|r| r.server.url().to_owned())
    }

    /// The port actually bound (useful with port 0).
    #[getter]
    fn port(&self) -> PyResult<u16> {
        self.with_running(|r| r.server.port())
    }

    /// The host address bound, e.g. `"127.0.0.1"`.
    #[getter]
    fn host(&self) -> PyResult<String> {
        self.with_running(|r| r.server.local_addr().ip().to_string())
    }

    /// The certificate clients should trust, as PEM text (None with h2c).
    #[getter]
    fn ca_cert(&self) -> PyResult<Option<String>> {
        self.with_running(|r| r.server.ca_cert_pem().map(str::to_owned))
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
            Some(r) => format!("<drift.Server {} running>", r.server.url()),
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
fn write_ca_file(pem: &str) -> std::io::Result<TempDir> {
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
    let dir = TempDir(dir);
    std::fs::write(dir.0.join("ca.pem"), pem)?;
    Ok(dir)
}
