//! The tokio runtime of the clients, and waiting on it from Python without
//! holding the GIL and without becoming deaf to Ctrl-C.
//!
//! `Client` and `AsyncClient` share one multi-thread runtime: the one
//! pyo3-async-runtimes hands out (configured here before first use), so an
//! asyncio future and a blocking call drive the same connection machinery.
//! Each `Server` has a runtime of its own (see `server.rs`).

use std::future::Future;
use std::pin::pin;
use std::time::Duration;

use pyo3::prelude::*;
use tokio::runtime::Runtime;

/// How long a blocking call waits with the GIL released before it takes the
/// GIL back to let Python run its signal handlers (Ctrl-C).
const SLICE: Duration = Duration::from_millis(100);

/// Worker threads of the client runtime: enough to keep TLS, timers and many
/// subscriptions moving without competing with the program on small machines.
const CLIENT_THREADS: usize = 2;

/// Sets up the client runtime's builder; called once at module import. The
/// runtime itself starts on first use.
pub(crate) fn configure() {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder
        .worker_threads(CLIENT_THREADS)
        .thread_name("drift-client")
        .enable_all();
    pyo3_async_runtimes::tokio::init(builder);
}

/// The client runtime.
pub(crate) fn runtime() -> &'static Runtime {
    pyo3_async_runtimes::tokio::get_runtime()
}

/// Runs `fut` to completion on the client runtime, with the GIL released.
///
/// The wait is cut into slices of [`SLICE`]; between slices the GIL is taken
/// back and `check_signals` runs Python's signal handlers, so Ctrl-C raises
/// `KeyboardInterrupt` here within about 100 ms. The future is then dropped,
/// which cancels it (a request in flight is reset; a subscription stays
/// usable, as reading the next event is cancel-safe).
pub(crate) fn wait<F>(py: Python<'_>, fut: F) -> PyResult<F::Output>
where
    F: Future + Send,
    F::Output: Send,
{
    let rt = runtime();
    let mut fut = pin!(fut);
    loop {
        let done = py
            .detach(|| rt.block_on(async { tokio::time::timeout(SLICE, fut.as_mut()).await.ok() }));
        if let Some(out) = done {
            return Ok(out);
        }
        py.check_signals()?;
    }
}
