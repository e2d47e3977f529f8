//! `drift.AsyncClient` and `drift.AsyncSubscription`: the asyncio API. Each
//! method returns an asyncio future driven by the client runtime
//! (pyo3-async-runtimes); cancelling it cancels the Rust future.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use drift_core::client::{
    Client, SubscribeOptions, Subscription, SubscriptionEvent, SubscriptionHandle,
};
use pyo3::exceptions::PyStopAsyncIteration;
use pyo3::prelude::*;
use pyo3::types::PyType;
use pyo3_async_runtimes::tokio::future_into_py;
use tokio::sync::oneshot;

use crate::errors::to_pyerr;
use crate::options::{Slot, build_client, lock, subscribe_options, topic_config};
use crate::runtime::runtime;
use crate::types::{PyMessageId, item_object, payload};

// ===== AsyncClient =====

/// A Drift client for asyncio: the methods of `Client` as coroutines, and
/// subscriptions read with `async for`. Same arguments as `Client`.
#[pyclass(name = "AsyncClient", module = "drift", frozen)]
pub(crate) struct PyAsyncClient {
    client: Arc<Slot>,
}

#[pymethods]
impl PyAsyncClient {
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
        Ok(PyAsyncClient {
            client: Arc::new(Slot::new(client)),
        })
    }

    /// Publishes one message (bytes, or str sent as UTF-8); resolves to its id.
    fn publish<'py>(
        &self,
        py: Python<'py>,
        topic: String,
        data: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let client = self.client.get()?;
        let data = payload(data)?;
        future_into_py(py, async move {
            let sent = client.publish(&topic, data).await.map_err(to_pyerr)?;
            Ok(PyMessageId(sent.id))
        })
    }

    /// Publishes several messages in order in one request; resolves to their ids.
    fn publish_many<'py>(
        &self,
        py: Python<'py>,
        topic: String,
        messages: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let client = self.client.get()?;
        let payloads = messages
            .try_iter()?
            .map(|m| payload(&m?))
            .collect::<PyResult<Vec<_>>>()?;
        future_into_py(py, async move {
            let ids = client
                .publish_many(&topic, payloads)
                .await
                .map_err(to_pyerr)?;
            Ok(ids
                .into_iter()
                .map(|sent| PyMessageId(sent.id))
                .collect::<Vec<_>>())
        })
    }

    /// Creates a topic; resolves to True when created, False when it existed.
    #[pyo3(signature = (topic, *, history = None, history_length = None, max_age = None, max_bytes = None))]
    fn create<'py>(
        &self,
        py: Python<'py>,
        topic: String,
        history: Option<bool>,
        history_length: Option<usize>,
        max_age: Option<f64>,
        max_bytes: Option<u64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let client = self.client.get()?;
        let config = topic_config(history, history_length, max_age, max_bytes)?;
        future_into_py(py, async move {
            client.create(&topic, &config).await.map_err(to_pyerr)
        })
    }

    /// Deletes a topic (`NotFound` if there is none).
    fn delete<'py>(&self, py: Python<'py>, topic: String) -> PyResult<Bound<'py, PyAny>> {
        let client = self.client.get()?;
        future_into_py(
            py,
            async move { client.delete(&topic).await.map_err(to_pyerr) },
        )
    }

    /// Whether the topic exists (never creates it).
    fn exists<'py>(&self, py: Python<'py>, topic: String) -> PyResult<Bound<'py, PyAny>> {
        let client = self.client.get()?;
        future_into_py(
            py,
            async move { client.exists(&topic).await.map_err(to_pyerr) },
        )
    }

    /// The server's clock, in Unix seconds.
    fn time<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let client = self.client.get()?;
        future_into_py(
            py,
            async move { client.server_time().await.map_err(to_pyerr) },
        )
    }

    /// A subscription to `topic` (arguments as `Client.subscribe`). Use
    /// `sub = await client.subscribe(...)` or `async with
    /// client.subscribe(...) as sub:`; either returns once the server has
    /// answered. Iterating with `async for` also opens it if needed.
    #[pyo3(signature = (topic, history = None, since = None, after = None, *, on_slow = "disconnect", resume = true))]
    fn subscribe(
        &self,
        topic: String,
        history: Option<u64>,
        since: Option<Bound<'_, PyAny>>,
        after: Option<Bound<'_, PyAny>>,
        on_slow: &str,
        resume: bool,
    ) -> PyResult<PyAsyncSubscription> {
        let client = self.client.get()?;
        let options = subscribe_options(history, since.as_ref(), after.as_ref(), on_slow, resume)?;
        Ok(PyAsyncSubscription {
            shared: Arc::new(Shared {
                topic,
                client,
                options,
                state: tokio::sync::Mutex::new(AsyncState::Pending),
                handle: SubscriptionHandle::new(),
                stash: Mutex::new(VecDeque::new()),
            }),
        })
    }

    /// Closes the client (subscriptions already made go on).
    fn close(&self) {
        self.client.close();
    }

    fn __aenter__<'py>(slf: Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let this = slf.unbind();
        future_into_py(py, async move { Ok(this) })
    }

    #[pyo3(signature = (_exc_type = None, _exc = None, _tb = None))]
    fn __aexit__<'py>(
        &self,
        py: Python<'py>,
        _exc_type: Option<Bound<'py, PyType>>,
        _exc: Option<Bound<'py, PyAny>>,
        _tb: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.close();
        future_into_py(py, async move { Ok(false) })
    }

    fn __repr__(&self) -> String {
        format!("<drift.AsyncClient {}>", self.client.describe())
    }
}

// ===== AsyncSubscription =====

enum AsyncState {
    /// Not opened yet.
    Pending,
    Open(Box<Subscription>),
    Done,
}

struct Shared {
    topic: String,
    client: Client,
    options: SubscribeOptions,
    /// A tokio mutex: `__anext__` holds it while waiting, so concurrent
    /// readers take turns.
    state: tokio::sync::Mutex<AsyncState>,
    /// Closes it from any thread and knows its last id and end reason.
    handle: SubscriptionHandle,
    /// Items taken from the stream for a reader that was cancelled before
    /// it got them; handed out first.
    stash: Mutex<VecDeque<SubscriptionEvent>>,
}

impl Shared {
    /// Opens the subscription if it is not yet.
    async fn open(&self, state: &mut AsyncState) -> PyResult<()> {
        if let AsyncState::Pending = state {
            if self.handle.is_closed() {
                *state = AsyncState::Done;
                return Ok(());
            }
            let sub = self
                .client
                .subscribe(&self.topic, self.options.clone())
                .await
                .map_err(to_pyerr)?;
            *state = AsyncState::Open(Box::new(sub));
        }
        Ok(())
    }

    /// The next item, or `None` once over.
    ///
    /// Cancel-safe: dropped while waiting, it loses nothing.
    async fn next(&self, state: &mut AsyncState) -> PyResult<Option<SubscriptionEvent>> {
        if self.handle.is_closed() {
            *state = AsyncState::Done;
            return Ok(None);
        }
        if let Some(item) = lock(&self.stash).pop_front() {
            return Ok(Some(item));
        }
        self.open(state).await?;
        let AsyncState::Open(sub) = state else {
            return Ok(None);
        };
        // The handle notes what the item says (last id, end reason).
        match self.handle.next(sub).await {
            Some(Ok(SubscriptionEvent::End(_))) | None => {
                *state = AsyncState::Done;
                Ok(None)
            }
            Some(Ok(event)) => Ok(Some(event)),
            Some(Err(e)) => {
                *state = AsyncState::Done;
                Err(to_pyerr(e))
            }
        }
    }
}

// ===== handing an item to asyncio =====
//
// `__anext__` cannot use `future_into_py`: when the awaiting task is
// cancelled (e.g. by `asyncio.wait_for`) just as the Rust side has taken an
// item from the stream, that item would be dropped with the result of the
// cancelled future. Instead the item is handed over on the event loop's own
// thread (`Deliver`), where "is the future cancelled?" and "set its result"
// cannot be separated by a cancellation; a cancelled future's item goes back
// to the front of the subscription's stash. The reader keeps the state lock
// until then, so the next reader finds it there, and order is kept.

/// Called by the event loop (`call_soon_threadsafe`) with one result.
#[pyclass]
struct Deliver {
    future: Py<PyAny>,
    result: Mutex<Option<PyResult<Option<SubscriptionEvent>>>>,
    shared: Arc<Shared>,
    /// Dropped when delivered (or when this is dropped undelivered): the
    /// reader then releases the state lock.
    done: Mutex<Option<oneshot::Sender<()>>>,
}

impl std::fmt::Debug for Deliver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deliver").finish_non_exhaustive()
    }
}

#[pymethods]
impl Deliver {
    fn __call__(&self, py: Python<'_>) -> PyResult<()> {
        // Released on return, after the item is placed.
        let _done = lock(&self.done).take();
        let Some(result) = lock(&self.result).take() else {
            return Ok(());
        };
        let future = self.future.bind(py);
        if future.call_method0("done")?.is_truthy()? {
            // Cancelled meanwhile: keep the item for the next reader.
            if let Ok(Some(item)) = result {
                lock(&self.shared.stash).push_front(item);
            }
            return Ok(());
        }
        match result {
            Ok(Some(item)) => future.call_method1("set_result", (item_object(py, &item)?,))?,
            Ok(None) => future.call_method1(
                "set_exception",
                (PyStopAsyncIteration::new_err(()).into_value(py),),
            )?,
            Err(e) => future.call_method1("set_exception", (e.into_value(py),))?,
        };
        Ok(())
    }
}

impl Drop for Deliver {
    fn drop(&mut self) {
        // Never called (the loop was closed): keep the item.
        if let Some(Ok(Some(item))) = lock(&self.result).take() {
            lock(&self.shared.stash).push_front(item);
        }
    }
}

/// A done-callback of the asyncio future: tells the reader it was cancelled.
#[pyclass]
struct OnDone(Mutex<Option<oneshot::Sender<()>>>);

impl std::fmt::Debug for OnDone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnDone").finish_non_exhaustive()
    }
}

#[pymethods]
impl OnDone {
    fn __call__(&self, future: &Bound<'_, PyAny>) -> PyResult<()> {
        if future.call_method0("cancelled")?.is_truthy()?
            && let Some(tx) = lock(&self.0).take()
        {
            let _ = tx.send(());
        }
        Ok(())
    }
}

/// Reads the next item for `future` (an asyncio future of `event_loop`)
/// and hands it over on the loop's thread. Stops early, losing nothing,
/// when the future is cancelled.
async fn read_into(
    shared: Arc<Shared>,
    event_loop: Py<PyAny>,
    future: Py<PyAny>,
    mut cancelled: oneshot::Receiver<()>,
) {
    let mut state = tokio::select! {
        state = shared.state.lock() => state,
        Ok(()) = &mut cancelled => return,
    };
    let result = tokio::select! {
        result = shared.next(&mut state) => result,
        Ok(()) = &mut cancelled => return,
    };
    let (done_tx, done_rx) = oneshot::channel();
    let deliver = Deliver {
        future,
        result: Mutex::new(Some(result)),
        shared: shared.clone(),
        done: Mutex::new(Some(done_tx)),
    };
    Python::attach(|py| {
        // On failure (loop closed) `deliver` is dropped here, which keeps
        // the item and releases the wait below.
        if let Ok(deliver) = Py::new(py, deliver) {
            let _ = event_loop.call_method1(py, "call_soon_threadsafe", (deliver,));
        }
    });
    let _ = done_rx.await;
    if shared.handle.is_closed() {
        // close() came while this reader held the state: end it here.
        *state = AsyncState::Done;
    }
    drop(state);
}

/// A subscription for asyncio: `async for item in sub:` yields `Message`s
/// and `Gap`s and stops when the server ends the subscription (see
/// `end_reason`) or after `close()`. Awaiting it (or `async with`) opens it.
#[pyclass(name = "AsyncSubscription", module = "drift", frozen)]
pub(crate) struct PyAsyncSubscription {
    shared: Arc<Shared>,
}

#[pymethods]
impl PyAsyncSubscription {
    fn __await__<'py>(slf: Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let opened = Self::opened(slf)?;
        opened.call_method0("__await__")
    }

    fn __aenter__<'py>(slf: Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        Self::opened(slf)
    }

    #[pyo3(signature = (_exc_type = None, _exc = None, _tb = None))]
    fn __aexit__<'py>(
        &self,
        py: Python<'py>,
        _exc_type: Option<Bound<'py, PyType>>,
        _exc: Option<Bound<'py, PyAny>>,
        _tb: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.close();
        future_into_py(py, async move { Ok(false) })
    }

    fn __aiter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __anext__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let event_loop = pyo3_async_runtimes::tokio::get_current_loop(py)?;
        let future = event_loop.call_method0("create_future")?;
        let (cancel_tx, cancel_rx) = oneshot::channel();
        future.call_method1("add_done_callback", (OnDone(Mutex::new(Some(cancel_tx))),))?;
        runtime().spawn(read_into(
            self.shared.clone(),
            event_loop.unbind(),
            future.clone().unbind(),
            cancel_rx,
        ));
        Ok(future)
    }

    /// Ends the subscription now; a pending `__anext__` stops the iteration
    /// (`end_reason` "closed").
    fn close(&self) {
        self.shared.handle.close();
        // A reader holding the lock sees the close and ends it.
        if let Ok(mut state) = self.shared.state.try_lock() {
            *state = AsyncState::Done;
        }
    }

    /// The topic.
    #[getter]
    fn topic(&self) -> &str {
        &self.shared.topic
    }

    /// The id of the last message received, or None.
    #[getter]
    fn last_id(&self) -> Option<PyMessageId> {
        self.shared.handle.last_id().map(PyMessageId)
    }

    /// Why the subscription ended, or None while it goes on.
    #[getter]
    fn end_reason(&self) -> Option<String> {
        self.shared.handle.end_reason()
    }

    fn __repr__(&self) -> String {
        format!("<drift.AsyncSubscription {:?}>", self.shared.topic)
    }
}

impl PyAsyncSubscription {
    /// An asyncio future that opens the subscription and resolves to it.
    fn opened(slf: Bound<'_, Self>) -> PyResult<Bound<'_, PyAny>> {
        let py = slf.py();
        let shared = slf.get().shared.clone();
        let this = slf.unbind();
        future_into_py(py, async move {
            let mut state = shared.state.lock().await;
            shared.open(&mut state).await?;
            Ok(this)
        })
    }
}
