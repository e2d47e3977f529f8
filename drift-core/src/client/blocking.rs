//! A blocking facade over [`Client`] for synchronous callers (the C and
//! Python bindings, scripts): the same operations, each waiting for its
//! result on the calling thread while a tokio runtime does the I/O.
//!
//! ```no_run
//! # fn demo() -> drift_core::Result<()> {
//! use std::time::Duration;
//! use drift_core::client::{Client, SubscribeOptions, SubscriptionEvent};
//! use drift_core::client::blocking::BlockingClient;
//!
//! let client = BlockingClient::new(Client::builder("https://127.0.0.1:5500").insecure(true))?;
//! let mut sub = client.subscribe("news", SubscribeOptions::default())?;
//! client.publish("news", "hello")?;
//! while let Some(event) = sub.next_timeout(Duration::from_secs(1))? {
//!     if let SubscriptionEvent::Message(m) = event {
//!         println!("{:?}", m.payload);
//!         break;
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! The calls block the calling thread: do not make them from async code
//! (a task would stall its runtime's worker, and on a current-thread runtime
//! never finish). They do not panic there, though. The I/O always runs on
//! the facade's runtime: its own multi-thread runtime ([`BlockingClient::new`])
//! or a multi-thread runtime the caller shares ([`BlockingClient::with_handle`]);
//! a current-thread runtime's handle works only while that runtime is being
//! driven by another thread.

use std::fmt;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::Duration;

use bytes::Bytes;
use tokio::runtime::{Handle, Runtime};

use super::{
    Client, ClientBuilder, Publish, SubscribeOptions, Subscription, SubscriptionEvent,
    SubscriptionHandle,
};
use crate::broker::TopicConfigRequest;
use crate::error::{Error, ErrorKind, Result};
use crate::model::MessageId;

/// Worker threads of the runtime a [`BlockingClient`] makes for itself: one
/// drives the connection, the second keeps timers and TLS going meanwhile.
const WORKER_THREADS: usize = 2;

/// A [`Client`] whose methods block. Cheap to clone; clones share the
/// connection and the runtime.
#[derive(Clone)]
pub struct BlockingClient {
    client: Client,
    rt: Rt,
}

/// A [`Subscription`] read by blocking calls; also an [`Iterator`]. Its
/// [`handle`](BlockingSubscription::handle) lets another thread close it
/// (waking a waiting reader at once) and read its last id and end reason
/// while the reader waits.
pub struct BlockingSubscription {
    sub: Subscription,
    handle: SubscriptionHandle,
    rt: Rt,
    done: bool,
}

/// The runtime the facade waits on. The owned one lives as long as any
/// client or subscription that uses it.
#[derive(Clone)]
struct Rt {
    handle: Handle,
    _owned: Option<Arc<OwnedRuntime>>,
}

struct OwnedRuntime(Option<Runtime>);

impl Drop for OwnedRuntime {
    fn drop(&mut self) {
        // A plain drop panics when the last user happens to be dropped inside
        // async code; this never blocks and never panics.
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

impl Rt {
    /// Runs `fut` to completion on this thread, with the runtime's context
    /// entered so that it can spawn, sleep and do I/O. The waker unparks this
    /// thread; the runtime's workers drive the I/O meanwhile.
    fn wait<F: Future>(&self, fut: F) -> F::Output {
        let _guard = self.handle.enter();
        let waker = Waker::from(Arc::new(Unpark(thread::current())));
        let mut cx = Context::from_waker(&waker);
        let mut fut = pin!(fut);
        loop {
            if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
                return out;
            }
            thread::park();
        }
    }
}

struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

impl BlockingClient {
    /// A client that owns a small multi-thread runtime (two worker threads
    /// named `drift-client`).
    ///
    /// # Errors
    ///
    /// As [`ClientBuilder::build`], or [`ErrorKind::Io`] when the runtime's
    /// threads cannot be started.
    pub fn new(builder: ClientBuilder) -> Result<BlockingClient> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(WORKER_THREADS)
            .thread_name("drift-client")
            .enable_all()
            .build()
            .map_err(|e| {
                Error::new(ErrorKind::Io, "cannot start the client runtime").with_source(e)
            })?;
        let rt = Rt {
            handle: runtime.handle().clone(),
            _owned: Some(Arc::new(OwnedRuntime(Some(runtime)))),
        };
        Ok(BlockingClient {
            client: builder.build()?,
            rt,
        })
    }

    /// A client whose I/O runs on the caller's runtime (which must be a
    /// multi-thread runtime, or be driven by another thread).
    ///
    /// # Errors
    ///
    /// As [`ClientBuilder::build`].
    pub fn with_handle(builder: ClientBuilder, handle: Handle) -> Result<BlockingClient> {
        Ok(BlockingClient {
            client: builder.build()?,
            rt: Rt {
                handle,
                _owned: None,
            },
        })
    }

    /// The async client underneath (sharing the connection).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The runtime the I/O runs on.
    pub fn handle(&self) -> &Handle {
        &self.rt.handle
    }

    /// See [`Client::publish`].
    pub fn publish(&self, topic: &str, payload: impl Into<Bytes>) -> Result<Publish> {
        self.rt.wait(self.client.publish(topic, payload))
    }

    /// See [`Client::publish_many`].
    pub fn publish_many(&self, topic: &str, payloads: Vec<Bytes>) -> Result<Vec<Publish>> {
        self.rt.wait(self.client.publish_many(topic, payloads))
    }

    /// See [`Client::create`].
    pub fn create(&self, topic: &str, config: &TopicConfigRequest) -> Result<bool> {
        self.rt.wait(self.client.create(topic, config))
    }

    /// See [`Client::delete`].
    pub fn delete(&self, topic: &str) -> Result<()> {
        self.rt.wait(self.client.delete(topic))
    }

    /// See [`Client::exists`].
    pub fn exists(&self, topic: &str) -> Result<bool> {
        self.rt.wait(self.client.exists(topic))
    }

    /// See [`Client::server_time`].
    pub fn server_time(&self) -> Result<u64> {
        self.rt.wait(self.client.server_time())
    }

    /// See [`Client::subscribe`].
    pub fn subscribe(
        &self,
        topic: &str,
        options: SubscribeOptions,
    ) -> Result<BlockingSubscription> {
        let sub = self.rt.wait(self.client.subscribe(topic, options))?;
        Ok(BlockingSubscription {
            sub,
            handle: SubscriptionHandle::new(),
            rt: self.rt.clone(),
            done: false,
        })
    }
}

impl BlockingSubscription {
    /// Waits up to `timeout` for the next event: `Ok(Some(event))`,
    /// `Ok(None)` when none came in time (the subscription goes on; call
    /// again), `Err` for a failure — and `Err` of kind
    /// [`ErrorKind::Closed`] once the subscription is over (also when
    /// another thread closed it meanwhile).
    pub fn next_timeout(&mut self, timeout: Duration) -> Result<Option<SubscriptionEvent>> {
        if self.done {
            return Err(self.closed());
        }
        let (handle, sub) = (&self.handle, &mut self.sub);
        let next = self
            .rt
            .wait(async { tokio::time::timeout(timeout, handle.next(sub)).await });
        let Ok(next) = next else {
            return Ok(None); // timed out
        };
        match self.track(next) {
            Some(result) => result.map(Some),
            None => Err(self.closed()),
        }
    }

    /// Waits as long as it takes for the next event; `None` once the
    /// subscription is over.
    pub fn next_event(&mut self) -> Option<Result<SubscriptionEvent>> {
        if self.done {
            return None;
        }
        let next = self.rt.wait(self.handle.next(&mut self.sub));
        self.track(next)
    }

    /// Notes when `next` is the last thing the subscription yields (an end,
    /// an error, or the end of the stream), and passes it on.
    fn track(
        &mut self,
        next: Option<Result<SubscriptionEvent>>,
    ) -> Option<Result<SubscriptionEvent>> {
        if !matches!(
            next,
            Some(Ok(SubscriptionEvent::Message(_) | SubscriptionEvent::Gap(_)))
        ) {
            self.done = true;
        }
        next
    }

    /// See [`Subscription::last_id`].
    pub fn last_id(&self) -> Option<MessageId> {
        self.sub.last_id()
    }

    /// The handle other threads use to close this subscription and to read
    /// its last id and end reason while a reader waits.
    pub fn handle(&self) -> &SubscriptionHandle {
        &self.handle
    }

    /// See [`Subscription::epoch`].
    pub fn epoch(&self) -> Option<u64> {
        self.sub.epoch()
    }

    /// Ends the subscription now (the same as dropping it).
    pub fn close(self) {}

    fn closed(&self) -> Error {
        let reason = self.handle.end_reason();
        let reason = reason.as_deref().unwrap_or("over");
        Error::new(
            ErrorKind::Closed,
            format!(
                "the subscription to {:?} has ended ({reason})",
                self.sub.topic()
            ),
        )
    }
}

impl Iterator for BlockingSubscription {
    type Item = Result<SubscriptionEvent>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_event()
    }
}

impl fmt::Debug for BlockingClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockingClient")
            .field("client", &self.client)
            .field("owns_runtime", &self.rt._owned.is_some())
            .finish()
    }
}

impl fmt::Debug for BlockingSubscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockingSubscription")
            .field("subscription", &self.sub)
            .field("handle", &self.handle)
            .field("done", &self.done)
            .finish()
    }
}
