//! The value types a subscriber sees (`MessageId`, `Message`, `Gap`) and the
//! conversions of Python arguments (payloads, times, ids) into Rust.

use std::fmt;

use bytes::Bytes;
use drift_core::client::{ReceivedMessage, SubscriptionEvent};
use drift_core::{Gap, MessageId};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyByteArray, PyBytes, PyString};

use crate::errors::{invalid, to_pyerr};

// ===== MessageId =====

/// Identifies one message: the topic incarnation (`epoch`) and the position
/// in it (`seq`, from 1). `str(id)` is the wire form `"EPOCH-SEQ"`.
#[pyclass(name = "MessageId", module = "drift", frozen, eq, ord, hash, str)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct PyMessageId(pub(crate) MessageId);

impl fmt::Display for PyMessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[pymethods]
impl PyMessageId {
    #[new]
    fn new(epoch: u64, seq: u64) -> Self {
        PyMessageId(MessageId { epoch, seq })
    }

    /// Parses the wire form `"EPOCH-SEQ"`; raises `InvalidArgument` when
    /// malformed.
    #[staticmethod]
    fn parse(text: &str) -> PyResult<Self> {
        text.parse().map(PyMessageId).map_err(to_pyerr)
    }

    /// The topic incarnation.
    #[getter]
    fn epoch(&self) -> u64 {
        self.0.epoch
    }

    /// Position in the incarnation, from 1.
    #[getter]
    fn seq(&self) -> u64 {
        self.0.seq
    }

    fn __repr__(&self) -> String {
        format!("MessageId(epoch={}, seq={})", self.0.epoch, self.0.seq)
    }

    fn __reduce__(&self, py: Python<'_>) -> PyResult<(Py<PyAny>, (u64, u64))> {
        let class = py.get_type::<PyMessageId>().into_any().unbind();
        Ok((class, (self.0.epoch, self.0.seq)))
    }
}

// ===== Message =====

/// One received message.
#[pyclass(name = "Message", module = "drift", frozen)]
#[derive(Debug)]
pub(crate) struct PyMessage {
    data: Py<PyBytes>,
    seq: u64,
    epoch: u64,
    time_us: u64,
    id: Option<MessageId>,
}

impl PyMessage {
    /// Everything but the payload, for comparing and hashing.
    fn key(&self) -> (u64, u64, u64, Option<MessageId>) {
        (self.seq, self.epoch, self.time_us, self.id)
    }

    pub(crate) fn new(py: Python<'_>, m: &ReceivedMessage) -> PyMessage {
        PyMessage {
            data: PyBytes::new(py, &m.payload).unbind(),
            seq: m.seq,
            epoch: m.epoch,
            time_us: m.time_us,
            id: m.id,
        }
    }
}

#[pymethods]
impl PyMessage {
    /// The payload, exactly as published.
    #[getter]
    fn data(&self, py: Python<'_>) -> Py<PyBytes> {
        self.data.clone_ref(py)
    }

    /// The payload decoded as UTF-8 (raises `UnicodeDecodeError` if it is not).
    #[getter]
    fn text<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.data.bind(py).call_method1("decode", ("utf-8",))
    }

    /// Sequence number within the epoch (0 from a server without ids).
    #[getter]
    fn seq(&self) -> u64 {
        self.seq
    }

    /// The topic incarnation (0 from a server without ids).
    #[getter]
    fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The message id, or None from a server that does not assign ids.
    #[getter]
    fn id(&self) -> Option<PyMessageId> {
        self.id.map(PyMessageId)
    }

    /// Publish time in microseconds since the Unix epoch (server clock).
    #[getter]
    fn time_us(&self) -> u64 {
        self.time_us
    }

    /// Publish time as an aware `datetime` in UTC.
    #[getter]
    fn time<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        utc_datetime(py, self.time_us)
    }

    fn __bytes__(&self, py: Python<'_>) -> Py<PyBytes> {
        self.data.clone_ref(py)
    }

    /// Equal when every field is: payload, seq, epoch, time and id.
    fn __eq__(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> bool {
        let Ok(other) = other.cast::<PyMessage>() else {
            return false;
        };
        let other = other.get();
        self.key() == other.key() && self.data.bind(py).as_bytes() == other.data.bind(py).as_bytes()
    }

    fn __hash__(&self, py: Python<'_>) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.key().hash(&mut h);
        self.data.bind(py).as_bytes().hash(&mut h);
        h.finish()
    }

    /// Pickles as the fields it was made of.
    #[allow(clippy::type_complexity)]
    fn __reduce__(
        &self,
        py: Python<'_>,
    ) -> PyResult<(Py<PyAny>, (Py<PyBytes>, u64, u64, u64, Option<(u64, u64)>))> {
        let restore = py.get_type::<PyMessage>().getattr("_restore")?.unbind();
        let id = self.id.map(|id| (id.epoch, id.seq));
        Ok((
            restore,
            (
                self.data.clone_ref(py),
                self.seq,
                self.epoch,
                self.time_us,
                id,
            ),
        ))
    }

    /// Rebuilds a pickled message (see `__reduce__`).
    #[staticmethod]
    fn _restore(
        data: Py<PyBytes>,
        seq: u64,
        epoch: u64,
        time_us: u64,
        id: Option<(u64, u64)>,
    ) -> PyMessage {
        PyMessage {
            data,
            seq,
            epoch,
            time_us,
            id: id.map(|(epoch, seq)| MessageId { epoch, seq }),
        }
    }

    fn __len__(&self, py: Python<'_>) -> usize {
        self.data.bind(py).as_bytes().len()
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let data = self.data.bind(py).repr()?;
        let id = match self.id {
            Some(id) => format!("'{id}'"),
            None => "None".to_string(),
        };
        Ok(format!(
            "Message(id={id}, time_us={}, data={data})",
            self.time_us
        ))
    }
}

// ===== Gap =====

/// Messages that will not be delivered: `from_seq..=to_seq` of the current
/// epoch, with a reason: `"expired"` (left history before they could be
/// replayed), `"dropped"` (skipped because the subscriber was slow and asked
/// for `on_slow="drop"`), or `"epoch"` (the topic was recreated or the
/// server restarted; the range is unknown and both bounds are 0). A later
/// version may add reasons: treat another word as "missing, for a reason
/// this code does not know".
#[pyclass(name = "Gap", module = "drift", frozen, eq, hash)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct PyGap(pub(crate) Gap);

#[pymethods]
impl PyGap {
    /// First missing sequence number.
    #[getter(from_seq)]
    fn first(&self) -> u64 {
        self.0.from
    }

    /// Last missing sequence number.
    #[getter(to_seq)]
    fn last(&self) -> u64 {
        self.0.to
    }

    /// `"expired"`, `"dropped"`, `"epoch"`, or a word a later version adds.
    #[getter]
    fn reason(&self) -> &'static str {
        self.0.reason.as_str()
    }

    fn __repr__(&self) -> String {
        format!(
            "Gap(from_seq={}, to_seq={}, reason='{}')",
            self.0.from,
            self.0.to,
            self.0.reason.as_str()
        )
    }

    fn __str__(&self) -> String {
        self.0.to_string()
    }
}

// ===== events =====

/// A `Message` or a `Gap` as a Python object (not for the end).
pub(crate) fn item_object(py: Python<'_>, item: &SubscriptionEvent) -> PyResult<Py<PyAny>> {
    match item {
        SubscriptionEvent::Message(m) => Ok(Py::new(py, PyMessage::new(py, m))?.into_any()),
        SubscriptionEvent::Gap(g) => Ok(Py::new(py, PyGap(*g))?.into_any()),
        SubscriptionEvent::End(_) => Err(pyo3::exceptions::PyRuntimeError::new_err(
            "internal error: the end of a subscription is no item",
        )),
    }
}

// ===== argument conversions =====

/// A payload from `bytes`, `bytearray`, `memoryview` (anything with the
/// buffer protocol, through `bytes(obj)`) or `str` (encoded as UTF-8).
pub(crate) fn payload(data: &Bound<'_, PyAny>) -> PyResult<Bytes> {
    if let Ok(b) = data.cast::<PyBytes>() {
        return Ok(Bytes::copy_from_slice(b.as_bytes()));
    }
    if let Ok(s) = data.cast::<PyString>() {
        return Ok(Bytes::copy_from_slice(s.to_cow()?.as_bytes()));
    }
    if let Ok(b) = data.cast::<PyByteArray>() {
        return Ok(Bytes::from(b.to_vec()));
    }
    // Anything else with the buffer protocol (memoryview, array, mmap…).
    let py = data.py();
    if let Ok(view) = py.import("builtins")?.getattr("memoryview")?.call1((data,)) {
        let bytes = view.call_method0("tobytes")?;
        return Ok(Bytes::copy_from_slice(bytes.cast::<PyBytes>()?.as_bytes()));
    }
    Err(pyo3::exceptions::PyTypeError::new_err(format!(
        "a message must be bytes or str, not {}",
        data.get_type().name()?
    )))
}

/// `since=`: Unix seconds (int or float) or a `datetime` (naive ones are
/// local time, as `datetime.timestamp()` takes them), to microseconds.
pub(crate) fn since_us(since: &Bound<'_, PyAny>) -> PyResult<u64> {
    let seconds: f64 = if since.hasattr("timestamp")? {
        since.call_method0("timestamp")?.extract()?
    } else {
        since.extract().map_err(|_| {
            invalid(format!(
                "since must be Unix seconds or a datetime, not {}",
                since
                    .get_type()
                    .name()
                    .map(|n| n.to_string())
                    .unwrap_or_default()
            ))
        })?
    };
    if !seconds.is_finite() || seconds < 0.0 {
        return Err(invalid(format!(
            "since must be a time after 1970, not {seconds}"
        )));
    }
    Ok((seconds * 1e6).round() as u64)
}

/// `after=`: a `MessageId` or its wire form `"EPOCH-SEQ"`.
pub(crate) fn message_id(after: &Bound<'_, PyAny>) -> PyResult<MessageId> {
    if let Ok(id) = after.cast::<PyMessageId>() {
        return Ok(id.get().0);
    }
    if let Ok(s) = after.cast::<PyString>() {
        return s.to_cow()?.parse().map_err(to_pyerr);
    }
    Err(invalid(format!(
        "after must be a MessageId or an \"EPOCH-SEQ\" string, not {}",
        after.get_type().name()?
    )))
}

/// Microseconds since the Unix epoch as an aware UTC `datetime`, exactly
/// (no float rounding).
pub(crate) fn utc_datetime(py: Python<'_>, us: u64) -> PyResult<Bound<'_, PyAny>> {
    static EPOCH: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    static TIMEDELTA: PyOnceLock<Py<pyo3::types::PyType>> = PyOnceLock::new();
    let epoch = EPOCH.get_or_try_init(py, || -> PyResult<Py<PyAny>> {
        let datetime = py.import("datetime")?;
        let utc = datetime.getattr("timezone")?.getattr("utc")?;
        Ok(datetime
            .getattr("datetime")?
            .call1((1970, 1, 1, 0, 0, 0, 0, utc))?
            .unbind())
    })?;
    let timedelta = TIMEDELTA.import(py, "datetime", "timedelta")?;
    let delta = timedelta.call1((0, us / 1_000_000, us % 1_000_000))?;
    epoch.bind(py).add(delta)
}
