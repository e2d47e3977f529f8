//! The exception classes of `drift` and the one mapping from
//! [`drift_core::ErrorKind`] to them ([`to_pyerr`]).
//!
//! Every class is rooted at `drift.DriftError`. Some also subclass a builtin
//! so that generic handlers work: `DriftTimeout` is a `TimeoutError`,
//! `ConnectError` a `ConnectionError`, `InvalidArgument` a `ValueError`.
//! `create_exception!` allows one base only, so the classes are made with
//! `type(name, bases, namespace)` when the module is initialised.

use drift_core::{Error, ErrorKind};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple, PyType};

/// The exception classes, in the order they are created (a class's own
/// bases come before it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exc {
    DriftError,
    ConnectError,
    TlsError,
    DriftTimeout,
    ProtocolError,
    SubscriptionClosed,
    InvalidArgument,
    HttpError,
    BadRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    Conflict,
    PayloadTooLarge,
    Unavailable,
    StorageError,
    InsufficientStorage,
    TooManyRequests,
}

/// A base class: one of ours, or a builtin by name.
enum Base {
    Own(Exc),
    Builtin(&'static str),
}

struct Spec {
    exc: Exc,
    name: &'static str,
    bases: &'static [Base],
    /// The HTTP status for the `status` class attribute (HTTP classes only).
    status: Option<u16>,
    doc: &'static str,
}

const SPECS: &[Spec] = &[
    Spec {
        exc: Exc::DriftError,
        name: "DriftError",
        bases: &[Base::Builtin("Exception")],
        status: None,
        doc: "Base class of every error raised by drift.",
    },
    Spec {
        exc: Exc::ConnectError,
        name: "ConnectError",
        bases: &[Base::Own(Exc::DriftError), Base::Builtin("ConnectionError")],
        status: None,
        doc: "The server could not be reached, or the connection broke.",
    },
    Spec {
        exc: Exc::TlsError,
        name: "TLSError",
        bases: &[Base::Own(Exc::ConnectError)],
        status: None,
        doc: "TLS set-up or handshake failed (e.g. the server's certificate is not trusted).",
    },
    Spec {
        exc: Exc::DriftTimeout,
        name: "DriftTimeout",
        bases: &[Base::Own(Exc::DriftError), Base::Builtin("TimeoutError")],
        status: None,
        doc: "An operation did not finish within the client's timeout.",
    },
    Spec {
        exc: Exc::ProtocolError,
        name: "ProtocolError",
        bases: &[Base::Own(Exc::DriftError)],
        status: None,
        doc: "The peer spoke something that is not the Drift protocol.",
    },
    Spec {
        exc: Exc::SubscriptionClosed,
        name: "SubscriptionClosed",
        bases: &[Base::Own(Exc::DriftError)],
        status: None,
        doc: "The subscription or client is closed.",
    },
    Spec {
        exc: Exc::InvalidArgument,
        name: "InvalidArgument",
        bases: &[Base::Own(Exc::DriftError), Base::Builtin("ValueError")],
        status: None,
        doc: "An argument is malformed (topic name, message id, URL, option).",
    },
    Spec {
        exc: Exc::HttpError,
        name: "HTTPError",
        bases: &[Base::Own(Exc::DriftError)],
        status: Some(0),
        doc: "The server answered with an error status. `status` is the HTTP status code; \
              the message carries the server's reason.",
    },
    Spec {
        exc: Exc::BadRequest,
        name: "BadRequest",
        bases: &[Base::Own(Exc::HttpError), Base::Own(Exc::InvalidArgument)],
        status: Some(400),
        doc: "400: the server rejected a malformed request (also an InvalidArgument).",
    },
    Spec {
        exc: Exc::Unauthorized,
        name: "Unauthorized",
        bases: &[Base::Own(Exc::HttpError)],
        status: Some(401),
        doc: "401: credentials are missing or invalid.",
    },
    Spec {
        exc: Exc::Forbidden,
        name: "Forbidden",
        bases: &[Base::Own(Exc::HttpError)],
        status: Some(403),
        doc: "403: the server does not allow this operation.",
    },
    Spec {
        exc: Exc::NotFound,
        name: "NotFound",
        bases: &[Base::Own(Exc::HttpError)],
        status: Some(404),
        doc: "404: no such topic.",
    },
    Spec {
        exc: Exc::Conflict,
        name: "Conflict",
        bases: &[Base::Own(Exc::HttpError)],
        status: Some(409),
        doc: "409: the topic exists with another configuration.",
    },
    Spec {
        exc: Exc::PayloadTooLarge,
        name: "PayloadTooLarge",
        bases: &[Base::Own(Exc::HttpError)],
        status: Some(413),
        doc: "413: the message is larger than the server accepts.",
    },
    Spec {
        exc: Exc::Unavailable,
        name: "Unavailable",
        bases: &[Base::Own(Exc::HttpError)],
        status: Some(503),
        doc: "503: a server limit is reached, or the server is shutting down.",
    },
    Spec {
        exc: Exc::StorageError,
        name: "StorageError",
        bases: &[Base::Own(Exc::DriftError)],
        status: None,
        doc: "The server's topic store failed: its data directory cannot be used, or a write failed.",
    },
    Spec {
        exc: Exc::InsufficientStorage,
        name: "InsufficientStorage",
        bases: &[Base::Own(Exc::HttpError), Base::Own(Exc::StorageError)],
        status: Some(507),
        doc: "507: the server's topic store has no space left.",
    },
    Spec {
        exc: Exc::TooManyRequests,
        name: "TooManyRequests",
        bases: &[Base::Own(Exc::HttpError)],
        status: Some(429),
        doc: "429: a quota of this connection or of the token's subject is used up (subscriptions \
              open, topics created, publish rate); `retry_after` is the seconds the server asked \
              to wait, for a rate quota, else None.",
    },
];

/// The classes, indexed like [`SPECS`].
static CLASSES: PyOnceLock<Vec<Py<PyType>>> = PyOnceLock::new();

fn classes(py: Python<'_>) -> &Vec<Py<PyType>> {
    CLASSES
        .get_or_try_init(py, || create_classes(py))
        .expect("creating drift's exception classes failed")
}

fn create_classes(py: Python<'_>) -> PyResult<Vec<Py<PyType>>> {
    let builtins = py.import("builtins")?;
    let type_ = builtins.getattr("type")?;
    let mut made: Vec<Py<PyType>> = Vec::with_capacity(SPECS.len());
    for (i, spec) in SPECS.iter().enumerate() {
        debug_assert_eq!(spec.exc as usize, i, "SPECS is out of order");
        let bases = spec
            .bases
            .iter()
            .map(|base| match base {
                Base::Own(exc) => Ok(made[*exc as usize].bind(py).clone().into_any()),
                Base::Builtin(name) => builtins.getattr(*name),
            })
            .collect::<PyResult<Vec<_>>>()?;
        let namespace = PyDict::new(py);
        namespace.set_item("__module__", "drift")?;
        namespace.set_item("__doc__", spec.doc)?;
        if let Some(status) = spec.status {
            namespace.set_item("status", status)?;
        }
        if spec.exc == Exc::DriftError {
            // Every instance reads `reason`: the server's own, or None; and
            // `retry_after`: the seconds the server asked to wait, or None.
            namespace.set_item("reason", py.None())?;
            namespace.set_item("retry_after", py.None())?;
        }
        let class = type_.call1((spec.name, PyTuple::new(py, bases)?, namespace))?;
        made.push(class.cast_into::<PyType>()?.unbind());
    }
    Ok(made)
}

/// Adds every class to the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    let all = CLASSES.get_or_try_init(py, || create_classes(py))?;
    for (spec, class) in SPECS.iter().zip(all) {
        m.add(spec.name, class.bind(py))?;
    }
    Ok(())
}

/// A new exception of class `exc` with `message`.
pub(crate) fn new_err(exc: Exc, message: impl Into<String>) -> PyErr {
    let message = message.into();
    Python::attach(|py| {
        let class = classes(py)[exc as usize].bind(py);
        match class.call1((message,)) {
            Ok(value) => PyErr::from_value(value),
            Err(e) => e,
        }
    })
}

/// `drift.InvalidArgument(message)`.
pub(crate) fn invalid(message: impl Into<String>) -> PyErr {
    new_err(Exc::InvalidArgument, message)
}

/// `drift.SubscriptionClosed(message)`.
pub(crate) fn closed(message: impl Into<String>) -> PyErr {
    new_err(Exc::SubscriptionClosed, message)
}

/// The one mapping from a drift-core error to a Python exception. The
/// message is the error's text (for HTTP errors: the status and the
/// server's reason); HTTP classes carry the status as `.status`.
pub(crate) fn to_pyerr(err: Error) -> PyErr {
    let status = err.status();
    let exc = match err.kind() {
        ErrorKind::InvalidInput if status.is_some() => Exc::BadRequest,
        ErrorKind::InvalidInput => Exc::InvalidArgument,
        ErrorKind::NotFound => Exc::NotFound,
        ErrorKind::Conflict => Exc::Conflict,
        ErrorKind::TooLarge => Exc::PayloadTooLarge,
        ErrorKind::Unavailable => Exc::Unavailable,
        ErrorKind::Forbidden => Exc::Forbidden,
        ErrorKind::Unauthorized => Exc::Unauthorized,
        ErrorKind::Http => Exc::HttpError,
        ErrorKind::Connect => Exc::ConnectError,
        ErrorKind::Tls => Exc::TlsError,
        ErrorKind::Timeout => Exc::DriftTimeout,
        ErrorKind::Protocol => Exc::ProtocolError,
        ErrorKind::Closed => Exc::SubscriptionClosed,
        ErrorKind::Storage => Exc::StorageError,
        ErrorKind::StorageFull => Exc::InsufficientStorage,
        ErrorKind::QuotaExceeded => Exc::TooManyRequests,
        ErrorKind::Io | ErrorKind::Internal => Exc::DriftError,
        _ => Exc::DriftError,
    };
    let pyerr = new_err(exc, err.to_string());
    Python::attach(|py| {
        // The class attribute is the usual status of the class; the
        // instance gets the one the server actually sent.
        if let Some(status) = status {
            let _ = pyerr.value(py).setattr("status", status);
        }
        if let Some(reason) = err.reason() {
            let _ = pyerr.value(py).setattr("reason", reason);
        }
        if let Some(after) = err.retry_after() {
            let _ = pyerr.value(py).setattr("retry_after", after.as_secs_f64());
        }
    });
    pyerr
}
