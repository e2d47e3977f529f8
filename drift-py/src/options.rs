//! What `Client` and `AsyncClient` share: turning their constructor and
//! method arguments into drift-core's types, and the slot `close()` empties.

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use drift_core::broker::TopicConfigRequest;
use drift_core::client::{Client, SubscribeOptions};
use drift_core::protocol::{HistoryRequest, SlowPolicy};
use drift_core::tls::Trust;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};

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
    timeout: Option<f64>,
) -> PyResult<Client> {
    let mut builder = Client::builder(url).insecure(insecure);
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
