//! Wake-ups of subscriptions, batched per connection thread and ordered by
//! connection.
//!
//! A publish wakes every subscription of its topic, and each subscription
//! is a task of the connection thread that serves its HTTP/2 stream.
//! Waking those tasks one by one has two costs this module removes:
//!
//! - From another thread, every wake-up of a task costs a system call (the
//!   runtime's eventfd): a message to 1000 subscribers spread over two
//!   threads made ~500 of them. Here only the first wake-up of a batch
//!   rouses the thread, through its relay task; the rest join a queue.
//! - In the order they subscribed, the woken streams of every connection
//!   are interleaved, so no connection writes until all of them have run:
//!   the first subscriber waits as long as the last. Here the relay wakes
//!   one connection's streams at a time and yields between connections, so
//!   each connection writes as soon as its own streams have run, while the
//!   rest of the fan-out is still being prepared.
//!
//! A publish made inside a [`WakeBatch`] rouses each thread's relay once,
//! when the batch ends, rather than at the first wake-up it hands over:
//! otherwise a thread woken early takes the first part of the batch, goes
//! back to sleep, and is woken again for the rest (traced: two eventfd
//! writes and two sleeps of the other thread per message with two threads).

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use futures_util::task::{ArcWake, AtomicWaker, waker_ref};
use tokio::sync::Notify;

use super::{EngineCounters, ThreadCounters};
use crate::lock::lock;

thread_local! {
    /// The relay of this connection thread, if it is one.
    static RELAY: RefCell<Option<Arc<ThreadRelay>>> = const { RefCell::new(None) };
    /// The connection being polled on this thread, if any.
    static GROUP: RefCell<Option<Arc<WakeGroup>>> = const { RefCell::new(None) };
    /// This thread's current [`WakeBatch`], if one is open.
    static DEFERRED: RefCell<Deferred> = const { RefCell::new(Deferred { open: false, relays: Vec::new() }) };
}

/// The relays to rouse when a [`WakeBatch`] ends. The list keeps its
/// capacity from one batch to the next: no allocation per publish.
struct Deferred {
    open: bool,
    relays: Vec<Arc<ThreadRelay>>,
}

/// The wake-up queue of one connection thread: connections with streams to
/// wake, in the order they were first woken.
#[derive(Debug, Default)]
pub(crate) struct ThreadRelay {
    pending: Mutex<Vec<Arc<WakeGroup>>>,
    /// The relay task has been notified and has not taken `pending` yet.
    armed: AtomicBool,
    notify: Notify,
}

/// The streams of one connection that are waiting to be woken.
#[derive(Debug)]
pub(crate) struct WakeGroup {
    relay: Arc<ThreadRelay>,
    wakers: Mutex<Vec<Waker>>,
    /// This group is in the relay's `pending` list.
    queued: AtomicBool,
}

impl ThreadRelay {
    /// Makes a relay current on this thread and returns its task, which
    /// must run on this thread's runtime.
    pub(crate) fn install(counters: Arc<ThreadCounters>) -> impl Future<Output = ()> {
        let relay = Arc::new(ThreadRelay::default());
        RELAY.with(|r| *r.borrow_mut() = Some(relay.clone()));
        async move {
            let mut groups = Vec::new();
            let mut wakers = Vec::new();
            loop {
                relay.notify.notified().await;
                EngineCounters::count(&counters.relay_passes);
                // Disarm before taking the list: a group queued after this
                // point notifies again.
                relay.armed.store(false, Ordering::SeqCst);
                std::mem::swap(&mut groups, &mut *lock(&relay.pending));
                for group in groups.drain(..) {
                    group.queued.store(false, Ordering::SeqCst);
                    std::mem::swap(&mut wakers, &mut *lock(&group.wakers));
                    for waker in wakers.drain(..) {
                        waker.wake();
                    }
                    // Let these streams and their connection run first.
                    yield_once().await;
                }
            }
        }
    }

    /// Runs `connection` as a wake group of this thread's relay, when this
    /// thread has one.
    pub(crate) fn scope<F: Future>(connection: F) -> InGroup<F> {
        let group = RELAY.with(|r| r.borrow().clone()).map(|relay| {
            Arc::new(WakeGroup {
                relay,
                wakers: Mutex::new(Vec::new()),
                queued: AtomicBool::new(false),
            })
        });
        InGroup { group, connection }
    }
}

impl WakeGroup {
    fn push(self: &Arc<Self>, waker: Waker) {
        lock(&self.wakers).push(waker);
        if self.queued.swap(true, Ordering::SeqCst) {
            return;
        }
        let relay = &self.relay;
        lock(&relay.pending).push(self.clone());
        if !relay.armed.swap(true, Ordering::SeqCst) {
            relay.rouse();
        }
    }
}

impl ThreadRelay {
    /// Notifies the relay task, at once or when this thread's batch ends.
    fn rouse(self: &Arc<Self>) {
        let deferred = DEFERRED.with(|d| {
            let mut d = d.borrow_mut();
            if d.open {
                d.relays.push(self.clone());
            }
            d.open
        });
        if !deferred {
            self.notify.notify_one();
        }
    }
}

/// While it lives, the relays that wake-ups on this thread hand work to are
/// roused only when it is dropped, each once. Open it around a publish (the
/// broker wakes every subscriber of the topic one by one); never hold it
/// across an `.await`. A batch opened inside another one does nothing.
#[must_use = "the batch ends when dropped"]
pub(crate) struct WakeBatch {
    outermost: bool,
}

impl WakeBatch {
    pub(crate) fn begin() -> WakeBatch {
        let outermost = DEFERRED.with(|d| !std::mem::replace(&mut d.borrow_mut().open, true));
        WakeBatch { outermost }
    }
}

impl Drop for WakeBatch {
    fn drop(&mut self) {
        if !self.outermost {
            return;
        }
        DEFERRED.with(|d| {
            let mut d = d.borrow_mut();
            d.open = false;
            // Draining keeps the list's capacity. Notifying only schedules
            // the relay task; nothing it runs comes back to this list.
            for relay in d.relays.drain(..) {
                relay.notify.notify_one();
            }
        });
    }
}

/// Runs `future` with a [`WakeBatch`] open during each of its polls (never
/// across a suspension, which would hold back the wake-ups of every other
/// task on the thread): a publish that completes within one poll, as every
/// publish to the memory store does, rouses each relay once.
pub(crate) async fn batched<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    std::future::poll_fn(|cx| {
        let _batch = WakeBatch::begin();
        future.as_mut().poll(cx)
    })
    .await
}

/// Runs `future` with whatever wakes it handed to `waker`'s wake group, as
/// a subscription body's wake-ups are: for a publish whose store answers
/// from a thread of its own, so that the answers of one commit rouse each
/// connection thread once instead of once per stream.
pub(crate) async fn relayed<F: Future>(waker: &BodyWaker, future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    std::future::poll_fn(|cx| waker.with(cx, |cx| future.as_mut().poll(cx))).await
}

/// A connection's future, polled with its wake group current, so that the
/// subscription bodies it creates join that group.
pub(crate) struct InGroup<F> {
    group: Option<Arc<WakeGroup>>,
    connection: F,
}

impl<F: Future + Unpin> Future for InGroup<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = &mut *self;
        let _current = CurrentGroup::enter(this.group.clone());
        Pin::new(&mut this.connection).poll(cx)
    }
}

/// Makes a group current until dropped, then restores the previous one
/// (also when the poll panics).
struct CurrentGroup(Option<Arc<WakeGroup>>);

impl CurrentGroup {
    fn enter(group: Option<Arc<WakeGroup>>) -> CurrentGroup {
        CurrentGroup(GROUP.with(|g| g.replace(group)))
    }
}

impl Drop for CurrentGroup {
    fn drop(&mut self) {
        let previous = self.0.take();
        GROUP.with(|g| *g.borrow_mut() = previous);
    }
}

/// A subscription body's stand-in waker: it hands the task's own waker to
/// the body's wake group instead of waking the task at once.
#[derive(Debug)]
struct RelayWaker {
    group: Arc<WakeGroup>,
    task: AtomicWaker,
}

impl ArcWake for RelayWaker {
    fn wake_by_ref(arc_self: &Arc<Self>) {
        // `None` when the task was already handed over and has not been
        // polled since: one wake-up is enough.
        if let Some(task) = arc_self.task.take() {
            arc_self.group.push(task);
        }
    }
}

/// What a subscription body polls with: its relay waker inside a wake group
/// (connection threads), the task's own waker elsewhere.
#[derive(Debug)]
pub(crate) struct BodyWaker {
    relayed: Option<Arc<RelayWaker>>,
}

impl BodyWaker {
    /// For a body created while its connection is being polled.
    pub(crate) fn new() -> BodyWaker {
        let group = GROUP.with(|g| g.borrow().clone());
        BodyWaker {
            relayed: group.map(|group| {
                Arc::new(RelayWaker {
                    group,
                    task: AtomicWaker::new(),
                })
            }),
        }
    }

    /// Runs `f` with the context to hand to whatever wakes this body.
    pub(crate) fn with<R>(&self, cx: &mut Context<'_>, f: impl FnOnce(&mut Context<'_>) -> R) -> R {
        match &self.relayed {
            Some(inner) => {
                inner.task.register(cx.waker());
                f(&mut Context::from_waker(&waker_ref(inner)))
            }
            None => f(cx),
        }
    }
}

/// Returns `Pending` once, after waking itself: the task goes to the back of
/// the run queue, behind the tasks it just woke.
async fn yield_once() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if std::mem::replace(&mut yielded, true) {
            Poll::Ready(())
        } else {
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use futures_util::FutureExt;
    use futures_util::task::noop_waker;

    use super::*;

    fn group(relay: &Arc<ThreadRelay>) -> Arc<WakeGroup> {
        Arc::new(WakeGroup {
            relay: relay.clone(),
            wakers: Mutex::new(Vec::new()),
            queued: AtomicBool::new(false),
        })
    }

    fn notified(relay: &ThreadRelay) -> bool {
        relay.notify.notified().now_or_never().is_some()
    }

    #[test]
    fn a_batch_rouses_each_relay_once_when_it_ends() {
        let (a, b) = (
            Arc::new(ThreadRelay::default()),
            Arc::new(ThreadRelay::default()),
        );
        let (a1, a2, b1) = (group(&a), group(&a), group(&b));
        let batch = WakeBatch::begin();
        a1.push(noop_waker());
        a2.push(noop_waker());
        b1.push(noop_waker());
        {
            // A nested batch leaves the rousing to the outer one.
            let _inner = WakeBatch::begin();
            a1.push(noop_waker());
        }
        assert!(!notified(&a) && !notified(&b), "roused inside the batch");
        // Each relay is listed once, however many wake-ups it received.
        assert_eq!(DEFERRED.with(|d| d.borrow().relays.len()), 2);
        drop(batch);
        assert!(
            notified(&a) && notified(&b),
            "not roused when the batch ended"
        );
        assert_eq!(DEFERRED.with(|d| d.borrow().relays.len()), 0);
        assert_eq!(lock(&a.pending).len(), 2);
        assert_eq!(lock(&a1.wakers).len(), 2);
    }

    #[test]
    fn outside_a_batch_the_first_wake_up_rouses_at_once() {
        let relay = Arc::new(ThreadRelay::default());
        let g = group(&relay);
        g.push(noop_waker());
        assert!(notified(&relay));
        // Still armed (the relay task has not taken the list): no second notify.
        g.push(noop_waker());
        assert!(!notified(&relay));
    }
}
