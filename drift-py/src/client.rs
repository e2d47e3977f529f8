//! `drift.Client` and `drift.Subscription`: the blocking API. Every call
//! releases the GIL while it waits and stays interruptible by Ctrl-C (see
//! [`crate::runtime::wait`]).

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use drift_core::client::{Subscription, SubscriptionEvent, SubscriptionHandle};
use pyo3::prelude::*;
use pyo3::types::PyType;

use crate::errors::{closed, invalid, to_pyerr};
use crate::options::{Slot, build_client, lock, subscribe_options, topic_config};
use crate::runtime::wait;
use crate::types::{PyMessageId, item_object, payload};

// ===== Client =====

/// A Drift client with blocking methods (for asyncio use `AsyncClient`).
///
/// `url` is `https://host:port` (TLS, HTTP/2) or `http://host:port` (h2c).
/// Trust: the system's roots by default, `cafile=` (a PEM file) or `cadata=`
/// (PEM text) instead, or `insecure=True` to accept any certificate
/// (development only). `headers` are sent with every request, and so is
/// `token` as `Authorization: Bearer TOKEN`. `timeout`
/// bounds connecting and each request (not the life of a subscription).
/// Every call releases the GIL and can be interrupted by Ctrl-C.
#[pyclass(name = "Client", module = "drift", frozen)]
pub(crate) struct PyClient {
    client: Slot,
}

#[pymethods]
impl PyClient {
    #[new]
    #[pyo3(signature = (url, *, cafile = None, cadata = None, insecure = false, headers = None, token = None, timeout = None))]
    fn new(
        url: &str,
        cafile: Option<PathBuf>,
        cadata: Option<Bound<'_, PyAny>>,
        insecure: bool,
        headers: Option<Bound<'_, PyAny>>,
        token: Option<String>,
        timeout: Option<f64>,
    ) -> PyResult<Self> {
        let client = build_client(
            url,
            cafile,
            cadata.as_ref(),
            insecure,
            headers.as_ref(),
            token.as_deref(),
            timeout,
        )?;
        Ok(PyClient {
            client: Slot::new(client),
        })
    }

    /// Publishes one message (bytes, or str sent as UTF-8); returns its id.
    fn publish(
        &self,
        py: Python<'_>,
        topic: &str,
        data: &Bound<'_, PyAny>,
    ) -> PyResult<PyMessageId> {
        let client = self.client.get()?;
        let data = payload(data)?;
        let sent = wait(py, client.publish(topic, data))?.map_err(to_pyerr)?;
        Ok(PyMessageId(sent.id))
    }

    /// Publishes several messages in order in one request; returns their ids.
    fn publish_many(
        &self,
        py: Python<'_>,
        topic: &str,
        messages: &Bound<'_, PyAny>,
    ) -> PyResult<Vec<PyMessageId>> {
        let client = self.client.get()?;
        let payloads = messages
            .try_iter()?
            .map(|m| payload(&m?))
            .collect::<PyResult<Vec<_>>>()?;
        let ids = wait(py, client.publish_many(topic, payloads))?.map_err(to_pyerr)?;
        Ok(ids.into_iter().map(|sent| PyMessageId(sent.id)).collect())
    }

    /// Creates a topic; True when created, False when it already existed with
    /// the same configuration (`Conflict` when with another one).
    #[pyo3(signature = (topic, *, history = None, history_length = None, max_age = None, max_bytes = None))]
    fn create(
        &self,
        py: Python<'_>,
        topic: &str,
        history: Option<bool>,
        history_length: Option<usize>,
        max_age: Option<f64>,
        max_bytes: Option<u64>,
    ) -> PyResult<bool> {
        let client = self.client.get()?;
        let config = topic_config(history, history_length, max_age, max_bytes)?;
        wait(py, client.create(topic, &config))?.map_err(to_pyerr)
    }

    /// Deletes a topic (`NotFound` if there is none); its subscriptions end
    /// with reason "deleted".
    fn delete(&self, py: Python<'_>, topic: &str) -> PyResult<()> {
        let client = self.client.get()?;
        wait(py, client.delete(topic))?.map_err(to_pyerr)
    }

    /// Whether the topic exists (never creates it).
    fn exists(&self, py: Python<'_>, topic: &str) -> PyResult<bool> {
        let client = self.client.get()?;
        wait(py, client.exists(topic))?.map_err(to_pyerr)
    }

    /// The server's clock, in Unix seconds.
    fn time(&self, py: Python<'_>) -> PyResult<u64> {
        let client = self.client.get()?;
        wait(py, client.server_time())?.map_err(to_pyerr)
    }

    /// Subscribes to a topic. Returns once the server has answered, so every
    /// message published after this returns is delivered.
    ///
    /// History to replay first (all given bounds apply together): `history`
    /// = the newest N retained messages; `since` = those published after a
    /// time (Unix seconds or a datetime); `after` = those after a message id
    /// (resume). `on_slow`: "disconnect" (default; resumed automatically) or
    /// "drop" (skip ahead, reported as a Gap). `resume`: reconnect and
    /// continue after a disconnect or server restart.
    #[pyo3(signature = (topic, history = None, since = None, after = None, *, on_slow = "disconnect", resume = true))]
    #[allow(clippy::too_many_arguments)] // the Python signature
    fn subscribe(
        &self,
        py: Python<'_>,
        topic: &str,
        history: Option<u64>,
        since: Option<Bound<'_, PyAny>>,
        after: Option<Bound<'_, PyAny>>,
        on_slow: &str,
        resume: bool,
    ) -> PyResult<PySubscription> {
        let client = self.client.get()?;
        let options = subscribe_options(history, since.as_ref(), after.as_ref(), on_slow, resume)?;
        let sub = wait(py, client.subscribe(topic, options))?.map_err(to_pyerr)?;
        Ok(PySubscription::new(topic, sub))
    }

    /// Closes the client. Subscriptions already made go on; new calls raise
    /// `SubscriptionClosed`.
    fn close(&self) {
        self.client.close();
    }

    fn __enter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    #[pyo3(signature = (_exc_type = None, _exc = None, _tb = None))]
    fn __exit__(
        &self,
        _exc_type: Option<Bound<'_, PyType>>,
        _exc: Option<Bound<'_, PyAny>>,
        _tb: Option<Bound<'_, PyAny>>,
    ) -> bool {
        self.close();
        false
    }

    fn __repr__(&self) -> String {
        format!("<drift.Client {}>", self.client.describe())
    }
}

// ===== Subscription =====

enum SubState {
    Open(Box<Subscription>),
    /// A thread is waiting for the next event.
    Busy,
    /// Over: ended by the server, failed, or closed.
    Done,
}

/// A subscription, read by iterating: `for item in sub:` yields `Message`s
/// and `Gap`s (messages that will not come, see `Gap`). Iteration stops when
/// the server ends the subscription (`end_reason` then says why, e.g.
/// "deleted") or after `close()` (`end_reason` "closed"). Failures raise.
/// Waiting releases the GIL and is interruptible by Ctrl-C. Leaving a
/// `with` block closes it.
#[pyclass(name = "Subscription", module = "drift", frozen)]
pub(crate) struct PySubscription {
    topic: String,
    state: Mutex<SubState>,
    /// Closes it from any thread and knows its last id and end reason.
    handle: SubscriptionHandle,
}

impl PySubscription {
    fn new(topic: &str, sub: Subscription) -> PySubscription {
        PySubscription {
            topic: topic.to_owned(),
            state: Mutex::new(SubState::Open(Box::new(sub))),
            handle: SubscriptionHandle::new(),
        }
    }

    /// Waits for the next item; `Ok(None)` when over, or when `timeout`
    /// passed (`timed_out` is then set).
    fn next_item(
        &self,
        py: Python<'_>,
        timeout: Option<Duration>,
        timed_out: &mut bool,
    ) -> PyResult<Option<Py<PyAny>>> {
        let mut sub = {
            let mut state = lock(&self.state);
            match std::mem::replace(&mut *state, SubState::Busy) {
                SubState::Open(sub) => sub,
                SubState::Busy => {
                    return Err(pyo3::exceptions::PyRuntimeError::new_err(
                        "another thread is reading this subscription",
                    ));
                }
                SubState::Done => {
                    *state = SubState::Done;
                    return Ok(None);
                }
            }
        };
        let handle = &self.handle;
        let waited = wait(py, async {
            match timeout {
                None => Some(handle.next(&mut sub).await),
                Some(limit) => tokio::time::timeout(limit, handle.next(&mut sub))
                    .await
                    .ok(),
            }
        });
        let next = match waited {
            Ok(Some(next)) => next,
            Ok(None) => {
                *timed_out = true;
                self.put_back(sub);
                return Ok(None);
            }
            Err(interrupted) => {
                // Ctrl-C: the subscription is intact (reading is cancel-safe).
                self.put_back(sub);
                return Err(interrupted);
            }
        };
        // The handle noted what the item says (last id, end reason).
        match next {
            Some(Ok(SubscriptionEvent::End(_))) | None => {
                drop(sub);
                self.finish();
                Ok(None)
            }
            Some(Ok(event)) => {
                self.put_back(sub);
                item_object(py, &event).map(Some)
            }
            Some(Err(e)) => {
                drop(sub);
                self.finish();
                Err(to_pyerr(e))
            }
        }
    }

    fn put_back(&self, sub: Box<Subscription>) {
        let mut state = lock(&self.state);
        *state = if self.handle.is_closed() {
            drop(sub);
            SubState::Done
        } else {
            SubState::Open(sub)
        };
    }

    fn finish(&self) {
        *lock(&self.state) = SubState::Done;
    }
}

#[pymethods]
impl PySubscription {
    fn __iter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        let mut timed_out = false;
        self.next_item(py, None, &mut timed_out)
    }

    /// The next `Message` or `Gap`, waiting at most `timeout` seconds (None:
    /// as long as it takes). Returns None when the time is up; raises
    /// `SubscriptionClosed` when the subscription is over.
    #[pyo3(signature = (timeout = None))]
    fn next(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Py<PyAny>> {
        let limit = timeout
            .map(|s| {
                Duration::try_from_secs_f64(s)
                    .map_err(|_| invalid("timeout must be a non-negative number of seconds"))
            })
            .transpose()?;
        let mut timed_out = false;
        match self.next_item(py, limit, &mut timed_out)? {
            Some(item) => Ok(item),
            None if timed_out => Ok(py.None()),
            None => {
                let reason = self.end_reason().unwrap_or_else(|| "over".into());
                Err(closed(format!(
                    "the subscription to {:?} has ended ({reason})",
                    self.topic
                )))
            }
        }
    }

    /// Ends the subscription now. A thread blocked iterating it stops
    /// iterating (`end_reason` "closed").
    fn close(&self) {
        self.handle.close();
        let mut state = lock(&self.state);
        if let SubState::Open(_) = &*state {
            *state = SubState::Done;
        }
    }

    /// The topic.
    #[getter]
    fn topic(&self) -> &str {
        &self.topic
    }

    /// The id of the last message received, or None.
    #[getter]
    fn last_id(&self) -> Option<PyMessageId> {
        self.handle.last_id().map(PyMessageId)
    }

    /// Why the subscription ended ("deleted", "shutdown", "slow consumer",
    /// "closed", "error: …", …), or None while it goes on.
    #[getter]
    fn end_reason(&self) -> Option<String> {
        self.handle.end_reason()
    }

    /// Whether the subscription is over.
    #[getter]
    fn closed(&self) -> bool {
        matches!(*lock(&self.state), SubState::Done)
    }

    fn __enter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    #[pyo3(signature = (_exc_type = None, _exc = None, _tb = None))]
    fn __exit__(
        &self,
        _exc_type: Option<Bound<'_, PyType>>,
        _exc: Option<Bound<'_, PyAny>>,
        _tb: Option<Bound<'_, PyAny>>,
    ) -> bool {
        self.close();
        false
    }

    fn __repr__(&self) -> String {
        format!("<drift.Subscription {:?}>", self.topic)
    }
}
