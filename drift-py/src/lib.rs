//! The native module `drift._drift` behind the Python package `drift`.
//!
//! A thin adapter over drift-core: it converts types, maps errors
//! ([`errors::to_pyerr`], the one mapping), and manages runtimes and the GIL.
//! Protocol, TLS and broker logic live only in drift-core.
//!
//! Layout:
//! - `errors`: the exception classes, rooted at `drift.DriftError`.
//! - `runtime`: the client runtime and GIL-free, Ctrl-C-aware waiting.
//! - `server`: `drift.Server`, a server on threads of its own.
//! - `client`: `drift.Client` and `drift.Subscription` (blocking).
//! - `aio`: `drift.AsyncClient` and `drift.AsyncSubscription` (asyncio).
//! - `types`: `MessageId`, `Message`, `Gap` and argument conversions.
//! - `cli`: the `drift` command line (drift-cli's), for the console script.
#![deny(missing_debug_implementations)]

mod aio;
mod cli;
mod client;
mod errors;
mod options;
mod runtime;
mod server;
mod types;

use pyo3::prelude::*;

/// The `#[pymodule]` name must equal the last part of maturin's
/// `module-name` (`drift._drift`): Python looks for `PyInit__drift`.
#[pymodule(gil_used = false)]
mod _drift {
    use super::*;

    #[pymodule_export]
    use crate::server::PyServer;

    #[pymodule_export]
    use crate::client::{PyClient, PySubscription};

    #[pymodule_export]
    use crate::aio::{PyAsyncClient, PyAsyncSubscription};

    #[pymodule_export]
    use crate::types::{PyGap, PyMessage, PyMessageId};

    #[pymodule_export]
    use crate::cli::cli;

    #[pymodule_init]
    fn init(m: &Bound<'_, PyModule>) -> PyResult<()> {
        runtime::configure();
        errors::register(m)?;
        m.add("__version__", env!("CARGO_PKG_VERSION"))?;
        Ok(())
    }
}
