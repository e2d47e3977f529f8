//! `drift.Server`: a Drift server inside the Python process. The server
//! itself is drift-core's `RestartableServer` (started and stopped from any
//! thread, as often as the script likes) over a `BackgroundServer` (its own
//! runtime and threads, so the program keeps running while it serves; the
//! CA file for clients too); its keyword arguments are drift-core's option table, as `drift
//! serve`'s flags are. This file converts Python values and maps errors.

use std::sync::Arc;

use drift_core::server::{BackgroundServer, RestartableServer};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyType};

use crate::errors::{Exc, new_err, to_pyerr};
use crate::options::{server_config, server_defaults};

/// A Drift server running in this process.
///
/// `Server(listen, **options)` only configures; `start()` (or `with
/// Server(...) as s:`) binds and serves on threads of its own, so the
/// program keeps running. The options are those of `drift serve`, with `_`
/// for `-` (`queue_messages=` for `--queue-messages`); `Server.defaults()`
/// lists them with their defaults. Without `cert`/`key` (and without `h2c`)
/// it serves TLS with a self-signed certificate generated for localhost:
/// trust it with `ca_cert` (PEM text) or `ca_cert_path` (a file, e.g. for
/// `Client(cafile=...)` or `curl --cacert`).
#[pyclass(name = "Server", module = "drift", frozen)]
pub(crate) struct PyServer(RestartableServer);

#[pymethods]
impl PyServer {
    #[new]
    #[pyo3(signature = (listen = "127.0.0.1:0", **options))]
    fn new(listen: &str, options: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        Ok(PyServer(RestartableServer::new(server_config(
            listen, options,
        )?)))
    }

    /// Every option with its default, as `Server(**options)` takes it.
    #[staticmethod]
    fn defaults(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
        server_defaults(py)
    }

    /// Binds and starts serving. Raises `ConnectError` when the address is
    /// taken, `TLSError` for an unusable certificate; does nothing when the
    /// server is already running.
    fn start(&self, py: Python<'_>) -> PyResult<()> {
        py.detach(|| self.0.start()).map_err(to_pyerr)
    }

    /// Stops gracefully: subscriptions end with reason "shutdown", requests
    /// in flight finish (for at most `shutdown_grace` seconds), the port is
    /// released and `ca_cert_path` removed. Returns once the server has
    /// stopped, also when another thread is stopping it. Does nothing when
    /// not running.
    fn stop(&self, py: Python<'_>) -> PyResult<()> {
        py.detach(|| self.0.stop()).map_err(to_pyerr)
    }

    /// Whether the server is running.
    #[getter]
    fn running(&self) -> bool {
        self.0.current().is_some()
    }

    /// The base URL for clients: `https://127.0.0.1:PORT` (or `http://` with
    /// `h2c=True`).
    #[getter]
    fn url(&self) -> PyResult<String> {
        Ok(self.server()?.url().to_owned())
    }

    /// The port actually bound (useful with port 0).
    #[getter]
    fn port(&self) -> PyResult<u16> {
        Ok(self.server()?.port())
    }

    /// The host address bound, e.g. `"127.0.0.1"`.
    #[getter]
    fn host(&self) -> PyResult<String> {
        Ok(self.server()?.local_addr().ip().to_string())
    }

    /// The certificate clients should trust, as PEM text (None with h2c).
    #[getter]
    fn ca_cert(&self) -> PyResult<Option<String>> {
        Ok(self.server()?.ca_cert_pem().map(str::to_owned))
    }

    /// A file holding `ca_cert` (None with h2c): the certificate file in
    /// `cert_dir` or `cert` when there is one, else a temporary file that
    /// is removed on stop.
    #[getter]
    fn ca_cert_path(&self) -> PyResult<Option<String>> {
        let server = self.server()?;
        let path = server.ca_cert_path().map_err(to_pyerr)?;
        Ok(path.map(|p| p.to_string_lossy().into_owned()))
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
        match self.0.current() {
            Some(s) => format!("<drift.Server {} running>", s.url()),
            None => format!("<drift.Server {} stopped>", self.0.config().listen),
        }
    }
}

impl PyServer {
    /// The running server, or `DriftError` when it is not running.
    fn server(&self) -> PyResult<Arc<BackgroundServer>> {
        self.0.current().ok_or_else(|| {
            new_err(
                Exc::DriftError,
                "the server is not running (call start() first)",
            )
        })
    }
}
