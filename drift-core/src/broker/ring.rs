//! One topic's live ring: the messages fanned out that some subscriber has
//! not read yet, bounded in messages and in bytes from the publish side.
//!
//! Each slot counts the subscribers still to read it and lets its message go
//! when the last one has, so the ring of a topic whose subscribers keep up
//! holds next to nothing. A push that takes the ring over either bound drops
//! its oldest slots at once, read or not: a subscriber that stopped reading
//! (its HTTP/2 window at 0, so that nobody polls it any more) pins no more
//! than the bounds, however long it stays, and finds itself lagged when it
//! is polled again. A push never waits for a reader, and readers are woken
//! after the lock is let go.
//!
//! Byte bounds count [`Message::charged_bytes`] (payload and per-message
//! overhead), so many small messages cannot slip under them.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use crate::model::Message;

/// The ring; shared by the topic (which pushes) and its [`Receiver`]s.
#[derive(Debug)]
pub(crate) struct Ring {
    state: Mutex<State>,
    /// Slots kept at most.
    max_messages: usize,
    /// Charged bytes kept at most (the newest message is kept whatever its
    /// size).
    max_bytes: u64,
}

#[derive(Debug)]
struct State {
    slots: VecDeque<Slot>,
    /// Position of `slots[0]`; positions count pushes from 0.
    head: u64,
    /// Charged bytes of the messages the slots still hold.
    bytes: u64,
    /// Seq of the newest message pushed (0 before the first).
    newest_seq: u64,
    receivers: usize,
    /// Receivers that found nothing to read, to wake at the next push.
    waiters: Vec<Waker>,
    /// An emptied waiter list kept for its capacity, so that waking costs
    /// no allocation.
    spare: Vec<Waker>,
    /// Counts how often `waiters` was emptied: a receiver whose round is
    /// current is in it already.
    round: u64,
    closed: bool,
}

#[derive(Debug)]
struct Slot {
    /// `None` once every receiver counted in `unread` has read it.
    msg: Option<Arc<Message>>,
    /// Receivers that were there when it was pushed and have not read it.
    unread: usize,
    charge: u64,
}

/// What a receiver finds.
#[derive(Debug)]
pub(crate) enum Received {
    Message(Arc<Message>),
    /// Messages it had not read were dropped to keep the ring within its
    /// bounds: it is too slow (see [`Receiver::skip_to_newest`]).
    Lagged,
    /// The ring was closed and everything pushed before has been read.
    Closed,
}

/// One subscriber's place in a [`Ring`].
#[derive(Debug)]
pub(crate) struct Receiver {
    ring: Arc<Ring>,
    /// Position of the next message to read.
    next: u64,
    /// The waiter round and index its waker was put in.
    waiting: Option<(u64, usize)>,
}

// ===== impl Ring =====

impl Ring {
    pub(crate) fn new(max_messages: usize, max_bytes: u64) -> Ring {
        Ring {
            state: Mutex::new(State {
                slots: VecDeque::new(),
                head: 0,
                bytes: 0,
                newest_seq: 0,
                receivers: 0,
                waiters: Vec::new(),
                spare: Vec::new(),
                round: 0,
                closed: false,
            }),
            max_messages: max_messages.max(1),
            max_bytes,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        crate::lock::lock(&self.state)
    }

    /// A receiver that reads what is pushed from now on.
    pub(crate) fn subscribe(self: &Arc<Self>) -> Receiver {
        let mut state = self.lock();
        state.receivers += 1;
        let next = state.tail();
        Receiver {
            ring: self.clone(),
            next,
            waiting: None,
        }
    }

    /// Receivers now.
    pub(crate) fn receivers(&self) -> usize {
        self.lock().receivers
    }

    /// Messages held for receivers that have not read them, and their
    /// charged bytes.
    pub(crate) fn held(&self) -> (usize, u64) {
        let state = self.lock();
        (state.slots.len(), state.bytes)
    }

    /// Pushes `messages` (in seq order) and wakes the receivers waiting.
    /// `false` when no receiver is left: nothing is kept then.
    pub(crate) fn push(&self, messages: impl IntoIterator<Item = Arc<Message>>) -> bool {
        let mut state = self.lock();
        if state.receivers == 0 {
            return false;
        }
        for msg in messages {
            let charge = msg.charged_bytes();
            state.newest_seq = msg.seq;
            state.bytes += charge;
            let unread = state.receivers;
            state.slots.push_back(Slot {
                msg: Some(msg),
                unread,
                charge,
            });
            while state.slots.len() > self.max_messages
                || (state.bytes > self.max_bytes && state.slots.len() > 1)
            {
                state.drop_oldest();
            }
        }
        self.wake(state);
        true
    }

    /// No more pushes: receivers read what is left, then find it closed.
    pub(crate) fn close(&self) {
        let mut state = self.lock();
        state.closed = true;
        self.wake(state);
    }

    /// Wakes every waiting receiver, with the lock let go first.
    fn wake(&self, mut state: MutexGuard<'_, State>) {
        if state.waiters.is_empty() {
            return;
        }
        let spare = std::mem::take(&mut state.spare);
        let mut waiters = std::mem::replace(&mut state.waiters, spare);
        state.round += 1;
        drop(state);
        for waker in waiters.drain(..) {
            waker.wake();
        }
        self.lock().spare = waiters;
    }
}

impl State {
    /// Position after the newest slot.
    fn tail(&self) -> u64 {
        self.head + self.slots.len() as u64
    }

    /// Drops the oldest slot, whoever has not read it.
    fn drop_oldest(&mut self) {
        if let Some(slot) = self.slots.pop_front() {
            if slot.msg.is_some() {
                self.bytes -= slot.charge;
            }
            self.head += 1;
        }
    }

    /// Counts one reader fewer for the slot at `index`. When it was the
    /// last, the message leaves the slot (and its bytes the count) and is
    /// answered; otherwise `None`.
    fn unread_once(&mut self, index: usize) -> Option<Arc<Message>> {
        let slot = self.slots.get_mut(index)?;
        slot.unread = slot.unread.saturating_sub(1);
        if slot.unread > 0 {
            return None;
        }
        let msg = slot.msg.take()?;
        self.bytes -= slot.charge;
        Some(msg)
    }

    /// Drops the oldest slots every reader has read. Readers read in order,
    /// so the slots read by all are the oldest ones.
    fn drop_read(&mut self) {
        while self.slots.front().is_some_and(|s| s.msg.is_none()) {
            self.drop_oldest();
        }
    }

    /// The message at `index` for one of its readers.
    fn read(&mut self, index: usize) -> Option<Arc<Message>> {
        let msg = match self.unread_once(index) {
            Some(last) => Some(last),
            None => self.slots.get(index)?.msg.clone(),
        };
        self.drop_read();
        msg
    }

    /// A receiver at `next` gives up every slot from there on.
    fn release_from(&mut self, next: u64) {
        let from = (next.max(self.head) - self.head) as usize;
        for index in from..self.slots.len() {
            self.unread_once(index);
        }
        self.drop_read();
    }
}

// ===== impl Receiver =====

impl Receiver {
    /// The next message, `Lagged` or `Closed`; `Pending` (with the waker
    /// kept) when there is nothing yet.
    pub(crate) fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Received> {
        let mut state = self.ring.lock();
        loop {
            if self.next < state.head {
                return Poll::Ready(Received::Lagged);
            }
            if self.next < state.tail() {
                let index = (self.next - state.head) as usize;
                self.next += 1;
                match state.read(index) {
                    Some(msg) => return Poll::Ready(Received::Message(msg)),
                    None => continue, // not counted for this receiver
                }
            }
            if state.closed {
                return Poll::Ready(Received::Closed);
            }
            match self.waiting {
                Some((round, index)) if round == state.round => {
                    let waker = &mut state.waiters[index];
                    if !waker.will_wake(cx.waker()) {
                        waker.clone_from(cx.waker());
                    }
                }
                _ => {
                    self.waiting = Some((state.round, state.waiters.len()));
                    state.waiters.push(cx.waker().clone());
                }
            }
            return Poll::Pending;
        }
    }

    /// Waits for the next message, `Lagged` or `Closed`.
    pub(crate) async fn recv(&mut self) -> Received {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// The next message if one is there now.
    #[cfg(test)]
    pub(crate) fn try_recv(&mut self) -> Option<Received> {
        match self.poll_recv(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(r) => Some(r),
            Poll::Pending => None,
        }
    }

    /// Gives up everything not read yet and goes on after the newest message
    /// pushed, whose seq it returns (what a lagged receiver does, or one that
    /// will read no more).
    pub(crate) fn skip_to_newest(&mut self) -> u64 {
        let mut state = self.ring.lock();
        state.release_from(self.next);
        self.next = state.tail();
        state.newest_seq
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let mut state = self.ring.lock();
        state.receivers -= 1;
        state.release_from(self.next);
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::model::{MESSAGE_OVERHEAD_BYTES, MessageId};

    fn msg(seq: u64, len: usize) -> Arc<Message> {
        let id = MessageId { epoch: 1, seq };
        Arc::new(Message::new(id, seq, Bytes::from(vec![b'x'; len])))
    }

    fn seq_of(r: Option<Received>) -> u64 {
        match r {
            Some(Received::Message(m)) => m.seq,
            other => panic!("expected a message, got {other:?}"),
        }
    }

    fn held(ring: &Ring) -> (usize, u64) {
        let state = ring.lock();
        let live = state.slots.iter().filter(|s| s.msg.is_some()).count();
        (live, state.bytes)
    }

    #[test]
    fn a_message_goes_once_every_receiver_has_read_it() {
        let ring = Arc::new(Ring::new(8, 1 << 20));
        let mut a = ring.subscribe();
        let mut b = ring.subscribe();
        assert!(ring.push([msg(1, 10), msg(2, 10)]));
        assert_eq!(held(&ring).0, 2);
        assert_eq!(seq_of(a.try_recv()), 1);
        assert_eq!(seq_of(a.try_recv()), 2);
        assert!(a.try_recv().is_none());
        assert_eq!(held(&ring).0, 2, "b has read nothing yet");
        assert_eq!(seq_of(b.try_recv()), 1);
        assert_eq!(held(&ring), (1, 10 + MESSAGE_OVERHEAD_BYTES));
        assert_eq!(seq_of(b.try_recv()), 2);
        assert_eq!(held(&ring), (0, 0));
        assert!(ring.lock().slots.is_empty());
    }

    #[test]
    fn a_receiver_that_never_reads_pins_no_more_than_the_bounds() {
        // The message bound.
        let ring = Arc::new(Ring::new(4, u64::MAX));
        let mut stalled = ring.subscribe();
        let mut reader = ring.subscribe();
        for seq in 1..=100 {
            ring.push([msg(seq, 1000)]);
            assert_eq!(seq_of(reader.try_recv()), seq);
            assert!(held(&ring).0 <= 4);
        }
        assert!(matches!(stalled.try_recv(), Some(Received::Lagged)));
        assert_eq!(stalled.skip_to_newest(), 100);
        assert_eq!(held(&ring), (0, 0), "nothing left unread");
        ring.push([msg(101, 1)]);
        assert_eq!(seq_of(stalled.try_recv()), 101);

        // The byte bound, which counts the per-message overhead.
        let bound = 10 * (1000 + MESSAGE_OVERHEAD_BYTES);
        let ring = Arc::new(Ring::new(1 << 20, bound));
        let _stalled = ring.subscribe();
        for seq in 1..=1000 {
            ring.push([msg(seq, 1000)]);
            assert!(held(&ring).1 <= bound);
        }
        assert_eq!(held(&ring).0, 10);
        // Small messages fill it by their overhead.
        for seq in 1001..=2000 {
            ring.push([msg(seq, 1)]);
        }
        assert_eq!(held(&ring).0 as u64, bound / (1 + MESSAGE_OVERHEAD_BYTES));
    }

    #[test]
    fn the_newest_message_is_kept_whatever_its_size() {
        let ring = Arc::new(Ring::new(4, 10));
        let mut r = ring.subscribe();
        ring.push([msg(1, 100)]);
        assert_eq!(seq_of(r.try_recv()), 1);
        ring.push([msg(2, 100), msg(3, 100)]);
        assert!(matches!(r.try_recv(), Some(Received::Lagged)));
        assert_eq!(r.skip_to_newest(), 3);
    }

    #[test]
    fn leaving_gives_back_what_was_left_unread() {
        let ring = Arc::new(Ring::new(8, 1 << 20));
        let mut reader = ring.subscribe();
        let leaver = ring.subscribe();
        ring.push([msg(1, 5), msg(2, 5)]);
        drop(leaver);
        assert_eq!(ring.receivers(), 1);
        assert_eq!(seq_of(reader.try_recv()), 1);
        assert_eq!(seq_of(reader.try_recv()), 2);
        assert_eq!(held(&ring), (0, 0));
        drop(reader);
        assert!(!ring.push([msg(3, 5)]), "nobody left to push to");
    }

    #[test]
    fn a_late_receiver_reads_only_what_comes_after_it() {
        let ring = Arc::new(Ring::new(8, 1 << 20));
        let mut early = ring.subscribe();
        ring.push([msg(1, 5)]);
        let mut late = ring.subscribe();
        ring.push([msg(2, 5)]);
        assert_eq!(seq_of(late.try_recv()), 2);
        assert_eq!(seq_of(early.try_recv()), 1);
        assert_eq!(seq_of(early.try_recv()), 2);
        assert_eq!(held(&ring), (0, 0));
    }

    #[tokio::test]
    async fn a_waiting_receiver_is_woken_by_a_push_and_by_close() {
        let ring = Arc::new(Ring::new(8, 1 << 20));
        let mut r = ring.subscribe();
        let pusher = ring.clone();
        let waiting = tokio::spawn(async move {
            let first = r.recv().await;
            let second = r.recv().await;
            (first, second)
        });
        // Wait until the receiver is parked, then push and close.
        tokio::time::timeout(std::time::Duration::from_secs(5), async {
            while pusher.lock().waiters.is_empty() {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("the receiver waits");
        pusher.push([msg(1, 1)]);
        pusher.close();
        let (first, second) = tokio::time::timeout(std::time::Duration::from_secs(5), waiting)
            .await
            .expect("woken in time")
            .expect("task");
        assert!(matches!(first, Received::Message(m) if m.seq == 1));
        assert!(matches!(second, Received::Closed));
    }
}
