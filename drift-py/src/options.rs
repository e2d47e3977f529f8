//! Turning arguments into drift-core's types: what `Client` and
//! `AsyncClient` share (their constructor and method arguments, and the slot
//! `close()` empties), and the values of `Server`'s options.

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use drift_core::broker::TopicConfigRequest;
use drift_core::client::{Client, SubscribeOptions};
use drift_core::protocol::{HistoryRequest, SlowPolicy};
use drift_core::server::options::{self, OPTIONS, OptionKind, OptionValue, ServerOption};
use drift_core::server::{ServerConfig, ServerOptions};
use drift_core::tls::Trust;
use pyo3::IntoPyObjectExt;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyString};

use crate::errors::{closed, invalid, to_pyerr};
use crate::types::{message_id, since_us};

/// Builds a drift-core client from the constructor arguments of `Client`
/// and `AsyncClient`.
pub(crate) fn build_client(
    url: &str,
    cafile: Option<PathBuf>,
    cadata: Option<&Bound<'_, PyAny>>,
    insecure: bool,
    headers: Option<&Bound<'_, PyAny>>,
    token: Option<&str>,
    timeout: Option<f64>,
) -> PyResult<Client> {
    let mut builder = Client::builder(url).insecure(insecure);
    if let Some(token) = token {
        builder = builder.token(token);
    }
    match (cafile, cadata) {
        (Some(_), Some(_)) => return Err(invalid("give cafile or cadata, not both")),
        (Some(path), None) => builder = builder.trust(Trust::CaFile(path)),
        (None, Some(data)) => {
            let pem = if let Ok(s) = data.cast::<PyString>() {
                s.to_cow()?.as_bytes().to_vec()
            } else if let Ok(b) = data.cast::<PyBytes>() {
                b.as_bytes().to_vec()
            } else {
                return Err(invalid("cadata must be PEM text (str or bytes)"));
            };
            builder = builder.trust(Trust::CaPem(pem));
        }
        (None, None) => {}
    }
    if let Some(headers) = headers {
        let pairs = if headers.hasattr("items")? {
            headers.call_method0("items")?
        } else {
            headers.clone()
        };
        for pair in pairs.try_iter()? {
            let (name, value): (String, String) = pair?
                .extract()
                .map_err(|_| invalid("headers must be a mapping or pairs of str (name, value)"))?;
            builder = builder.header(name, value);
        }
    }
    if let Some(seconds) = timeout {
        let limit = Duration::try_from_secs_f64(seconds)
            .ok()
            .filter(|d| !d.is_zero())
            .ok_or_else(|| invalid("timeout must be a positive number of seconds"))?;
        builder = builder.connect_timeout(limit).request_timeout(limit);
    }
    builder.build().map_err(to_pyerr)
}

/// The options of `subscribe(...)`, checked.
pub(crate) fn subscribe_options(
    history: Option<u64>,
    since: Option<&Bound<'_, PyAny>>,
    after: Option<&Bound<'_, PyAny>>,
    on_slow: &str,
    resume: bool,
) -> PyResult<SubscribeOptions> {
    let on_slow: SlowPolicy = on_slow.parse().map_err(|_| {
        invalid(format!(
            "on_slow must be \"disconnect\" or \"drop\", not {on_slow:?}"
        ))
    })?;
    Ok(SubscribeOptions {
        history: HistoryRequest {
            last: history,
            since_us: since.map(since_us).transpose()?,
            after: after.map(message_id).transpose()?,
        },
        on_slow,
        resume,
        ..SubscribeOptions::default()
    })
}

/// The body of `create(...)`.
pub(crate) fn topic_config(
    history: Option<bool>,
    history_length: Option<usize>,
    max_age: Option<f64>,
    max_bytes: Option<u64>,
) -> PyResult<TopicConfigRequest> {
    let max_age = match max_age {
        None => None,
        Some(s) if s.is_finite() && s >= 1.0 => Some(s.ceil() as u64),
        Some(_) => return Err(invalid("max_age must be at least 1 second")),
    };
    Ok(TopicConfigRequest {
        history,
        history_length,
        max_age,
        max_bytes,
    })
}

/// A client slot that `close()` empties.
pub(crate) struct Slot(Mutex<Option<Client>>);

impl Slot {
    pub(crate) fn new(client: Client) -> Slot {
        Slot(Mutex::new(Some(client)))
    }

    /// The client, or `SubscriptionClosed` after `close()`.
    pub(crate) fn get(&self) -> PyResult<Client> {
        lock(&self.0)
            .clone()
            .ok_or_else(|| closed("the client is closed"))
    }

    pub(crate) fn close(&self) {
        lock(&self.0).take();
    }

    pub(crate) fn describe(&self) -> String {
        match lock(&self.0).as_ref() {
            Some(c) => c.server(),
            None => "closed".to_string(),
        }
    }
}

/// Locks a mutex that is only ever held briefly and never across a wait.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// `Server`'s keyword arguments kept under their earlier names: (old,
/// option).
const ALIASES: &[(&str, &str)] = &[("history", "history_length")];

/// The configuration `Server(listen, **options)` asks for: each keyword an
/// option of drift-core's table (as `drift serve`'s flags), the rest of
/// the embedded server's defaults.
pub(crate) fn server_config(
    listen: &str,
    kwargs: Option<&Bound<'_, PyDict>>,
) -> PyResult<ServerConfig> {
    let mut config = ServerOptions::embedded();
    config.set_text("listen", listen).map_err(to_pyerr)?;
    let mut seen = Vec::new();
    for (key, value) in kwargs.into_iter().flatten() {
        let key: String = key.extract()?;
        let name = ALIASES
            .iter()
            .find(|(old, _)| *old == key)
            .map_or(key.as_str(), |a| a.1);
        let option = options::find(name)
            .filter(|o| o.name != "listen")
            .ok_or_else(|| {
                PyTypeError::new_err(format!(
                    "Server() got an unexpected keyword argument '{key}'"
                ))
            })?;
        if seen.contains(&option.name) {
            return Err(PyTypeError::new_err(format!(
                "Server() got option {name} twice (history= is history_length=)"
            )));
        }
        seen.push(option.name);
        config
            .set(name, option_value(option, &value)?)
            .map_err(to_pyerr)?;
    }
    config.to_config().map_err(to_pyerr)
}

/// `Server.defaults()`: every option and its default.
pub(crate) fn server_defaults(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let defaults = PyDict::new(py);
    for option in OPTIONS {
        let value = py_option_value(py, option, option.default_value())?;
        defaults.set_item(option.name, value)?;
    }
    Ok(defaults)
}

/// A keyword argument of `Server` as a value of `option`, in Python's own
/// types: `bool`, `int` (counts, bytes), a number of seconds (durations),
/// `str`, `str` or `os.PathLike` (paths), a list of `str`; `None` for none
/// where the option has one. A value of another type raises `TypeError`,
/// one out of range `InvalidArgument`, both naming the option.
fn option_value(option: &ServerOption, v: &Bound<'_, PyAny>) -> PyResult<OptionValue> {
    let name = option.name;
    let is_bool = v.is_instance_of::<PyBool>();
    let is_number = v.is_instance_of::<PyInt>() && !is_bool;
    let none = v.is_none();
    Ok(match option.kind {
        OptionKind::Path if none => OptionValue::Path(None),
        OptionKind::Count | OptionKind::Bytes if none && option.zero_is_none => {
            OptionValue::Number(0)
        }
        OptionKind::Duration if none && option.zero_is_none => {
            OptionValue::Duration(Duration::ZERO)
        }
        OptionKind::Bool if is_bool => OptionValue::Bool(v.is_truthy()?),
        OptionKind::Count | OptionKind::Bytes if is_number => {
            OptionValue::Number(v.extract().map_err(|_| {
                invalid(format!(
                    "option {name}: expected a whole number >= 0, got {v}"
                ))
            })?)
        }
        OptionKind::Duration if is_number || v.is_instance_of::<PyFloat>() => {
            let seconds: f64 = v.extract()?;
            OptionValue::Duration(
                Duration::try_from_secs_f64(seconds).map_err(|_| {
                    invalid(format!("option {name}: expected seconds >= 0, got {v}"))
                })?,
            )
        }
        OptionKind::Text if v.is_instance_of::<PyString>() => OptionValue::Text(v.extract()?),
        OptionKind::Path if !is_bool && !is_number => {
            OptionValue::Path(Some(v.extract().map_err(|_| wrong_type(option, v))?))
        }
        OptionKind::List if !v.is_instance_of::<PyString>() && !none => {
            OptionValue::List(v.extract().map_err(|_| wrong_type(option, v))?)
        }
        _ => return Err(wrong_type(option, v)),
    })
}

/// `TypeError: option NAME: expected TYPE, got TYPE-OF-V`.
fn wrong_type(option: &ServerOption, v: &Bound<'_, PyAny>) -> PyErr {
    let expected = match option.kind {
        OptionKind::Bool => "a bool",
        OptionKind::Count | OptionKind::Bytes => "an int",
        OptionKind::Duration => "a number of seconds",
        OptionKind::Text => "a str",
        OptionKind::Path => "a str or os.PathLike",
        OptionKind::List => "a list of str",
        _ => "another type",
    };
    let none = if option.zero_is_none || option.kind == OptionKind::Path {
        " or None"
    } else {
        ""
    };
    let got = v
        .get_type()
        .name()
        .map_or_else(|_| "?".to_owned(), |n| n.to_string());
    PyTypeError::new_err(format!(
        "option {}: expected {expected}{none}, got {got}",
        option.name
    ))
}

/// An option's value as `option_value` takes it: `None` for none.
fn py_option_value<'py>(
    py: Python<'py>,
    option: &ServerOption,
    value: OptionValue,
) -> PyResult<Bound<'py, PyAny>> {
    match value {
        OptionValue::Bool(b) => b.into_bound_py_any(py),
        OptionValue::Number(0) if option.zero_is_none => Ok(py.None().into_bound(py)),
        OptionValue::Number(n) => n.into_bound_py_any(py),
        OptionValue::Duration(d) if d.is_zero() && option.zero_is_none => {
            Ok(py.None().into_bound(py))
        }
        OptionValue::Duration(d) => d.as_secs_f64().into_bound_py_any(py),
        OptionValue::Text(t) => t.into_bound_py_any(py),
        OptionValue::Path(p) => p
            .map(|p| p.to_string_lossy().into_owned())
            .into_bound_py_any(py),
        OptionValue::List(l) => l.into_bound_py_any(py),
        _ => Ok(py.None().into_bound(py)),
    }
}
