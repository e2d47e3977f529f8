//! `drift_subscribe_options` and `drift_subscription`: subscriptions read by
//! pulling (`drift_subscription_next`) or pushed to a callback on a Drift
//! thread.

use std::ffi::{CString, c_char, c_void};
use std::sync::{Mutex, OnceLock};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use drift_core::MessageId;
use drift_core::client::blocking::{BlockingClient, BlockingSubscription};
use drift_core::client::{Backoff, SubscribeOptions, SubscriptionHandle};
use drift_core::protocol::SlowPolicy;

use crate::boundary::{Failure, FfiResult, Out, write_id};
use crate::client::{client_topic, drift_client};
use crate::handle::{self, Builder, Handle, Kind, set, try_set};
use crate::message::{self, drift_message};
use crate::status::drift_status;

/// What the server does when a subscriber falls too far behind.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum drift_slow_policy {
    /// End the stream with reason "slow consumer" (the default). With resume
    /// on (the default) the subscription resumes from history by itself, so
    /// nothing is lost while history holds it.
    Disconnect = 0,
    /// Skip ahead and report what was skipped as a `DRIFT_GAP_REASON_DROPPED` gap.
    Drop = 1,
}

/// How to subscribe: what history to replay first, the slow-subscriber
/// policy, and resuming. A builder, filled with defaults by
/// `drift_subscribe_options_new` and changed by the
/// `drift_subscribe_options_*` functions; opaque, so that new options can be
/// added without breaking programs built against an older header.
///
/// Defaults: no history (live messages only), `DRIFT_SLOW_POLICY_DISCONNECT`,
/// resume on with retries forever (first at once, then from 100 ms doubling
/// up to 5 s). The history bounds that are set apply together: messages
/// after the id, published after the time, then the newest N of those.
///
/// Owned by the caller (free it with `drift_subscribe_options_free`; a
/// subscription made from it does not need it any more). Use it from one
/// thread at a time.
#[derive(Debug, Clone, Default)]
pub struct drift_subscribe_options {
    inner: SubscribeOptions,
}

impl Handle for drift_subscribe_options {
    const KIND: Kind = Kind::SubscribeOptions;
}

impl Builder for drift_subscribe_options {
    const ARG: &'static str = "options";
}

/// The type of a subscription callback. It receives the `userdata` given to
/// `drift_client_subscribe_callback` and one item: a message, a gap, or the
/// end (after which it is not called again).
///
/// It runs on a thread libdrift made for the subscription, one call at a
/// time, in order. `msg` is lent for the duration of the call: read it with
/// the accessors, copy what you need, and do not free it or keep pointers
/// into it. The callback must not unwind (C++ exceptions, longjmp) out of
/// itself. It may call libdrift functions — even free its own subscription
/// — but while it runs no other item of this subscription is delivered, so
/// return quickly, and never wait from a callback for something that
/// `drift_subscription_free` of the same subscription waits for (deadlock).
pub type drift_message_callback =
    Option<unsafe extern "C" fn(userdata: *mut c_void, msg: *const drift_message)>;

/// A subscription to one topic. Made by `drift_client_subscribe` (read it by
/// pulling with `drift_subscription_next`) or
/// `drift_client_subscribe_callback` (items are pushed to the callback).
/// Either way the server's stream is an HTTP/2 stream on the client's
/// connection; with resume on it is reopened after a break, continuing
/// after the last message delivered (a gap is reported if anything was
/// lost meanwhile).
///
/// Owned by the caller; `drift_subscription_free` unsubscribes and frees it.
/// A pull subscription has one consumer: `drift_subscription_next` from one
/// thread at a time (it may move between threads). `drift_subscription_close`,
/// `drift_subscription_last_id` and `drift_subscription_end_reason` may be
/// called from any thread, also while `drift_subscription_next` waits.
#[derive(Debug)]
pub struct drift_subscription {
    /// Closes it and knows its last id and end reason (drift-core's, shared
    /// with the reader).
    handle: SubscriptionHandle,
    /// The end reason as C text, made once it is known, so that the pointer
    /// handed out stays valid as long as the subscription.
    end_reason: OnceLock<CString>,
    mode: Mode,
}

impl Handle for drift_subscription {
    const KIND: Kind = Kind::Subscription;
}

#[derive(Debug)]
enum Mode {
    /// The reader's lock is held while `drift_subscription_next` waits; the
    /// other calls use the handle and do not take it.
    Pull(Box<Mutex<BlockingSubscription>>),
    Callback(CallbackThread),
}

/// The thread that delivers a callback subscription's items.
#[derive(Debug)]
struct CallbackThread {
    thread: Option<JoinHandle<()>>,
}

/// The caller's `userdata`, moved to the callback thread.
struct UserData(*mut c_void);

// SAFETY: the C API documents that the callback runs on a libdrift thread
// with this userdata; the caller promised that is fine for their data.
unsafe impl Send for UserData {}

// ===== impl drift_subscribe_options =====

/// New subscribe options with the defaults (see `drift_subscribe_options`).
/// Returns NULL only if libdrift panicked. The caller owns them and frees
/// them with `drift_subscribe_options_free`. Any thread may call this.
#[unsafe(no_mangle)]
pub extern "C" fn drift_subscribe_options_new() -> *mut drift_subscribe_options {
    ffi_boundary! { handle::into_raw(drift_subscribe_options::default()) }
}

/// Frees subscribe options. NULL is a no-op; a pointer that is not live
/// options is left alone (and the last error set).
///
/// # Safety
///
/// `opts` is NULL or a pointer from libdrift, and no other call on it is
/// running.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_subscribe_options_free(opts: *mut drift_subscribe_options) {
    // SAFETY: forwarded from the caller.
    unsafe { handle::free(opts, "drift_subscribe_options_free") }
}

/// Replay at most the newest `n` retained messages before live ones
/// (`X-History-Length`). `n` = 0 asks for none (but still sets the bound).
///
/// # Safety
///
/// `opts` is NULL or live options used by no other thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_subscribe_options_set_last(
    opts: *mut drift_subscribe_options,
    n: u64,
) -> drift_status {
    // SAFETY: forwarded from the caller.
    unsafe { set(opts, |o| o.inner.history.last = Some(n)) }
}

/// Replay retained messages published strictly after `unix_us`
/// (microseconds since the Unix epoch, server clock).
///
/// # Safety
///
/// `opts` is NULL or live options used by no other thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_subscribe_options_set_since_us(
    opts: *mut drift_subscribe_options,
    unix_us: u64,
) -> drift_status {
    // SAFETY: forwarded from the caller.
    unsafe { set(opts, |o| o.inner.history.since_us = Some(unix_us)) }
}

/// Resume: replay every retained message after the message `(epoch, seq)`
/// (from `drift_message_epoch` / `drift_message_seq`). If some of them have
/// left history, or the topic's epoch changed, the subscription starts with
/// a `DRIFT_KIND_GAP` message saying so.
///
/// # Safety
///
/// `opts` is NULL or live options used by no other thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_subscribe_options_set_after(
    opts: *mut drift_subscribe_options,
    epoch: u64,
    seq: u64,
) -> drift_status {
    // SAFETY: forwarded from the caller.
    unsafe {
        set(opts, |o| {
            o.inner.history.after = Some(MessageId { epoch, seq })
        })
    }
}

/// Forgets the history bounds set so far (back to live messages only).
///
/// # Safety
///
/// `opts` is NULL or live options used by no other thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_subscribe_options_clear_history(
    opts: *mut drift_subscribe_options,
) -> drift_status {
    // SAFETY: forwarded from the caller.
    unsafe { set(opts, |o| o.inner.history = Default::default()) }
}

/// What the server does when this subscriber falls behind: a
/// `drift_slow_policy` value. Other numbers give
/// `DRIFT_STATUS_INVALID_ARGUMENT`.
///
/// # Safety
///
/// `opts` is NULL or live options used by no other thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_subscribe_options_set_on_slow(
    opts: *mut drift_subscribe_options,
    policy: u32,
) -> drift_status {
    // SAFETY: forwarded from the caller.
    unsafe {
        try_set(opts, |o| {
            o.inner.on_slow = match policy {
                0 => SlowPolicy::Disconnect,
                1 => SlowPolicy::Drop,
                other => {
                    return Err(Failure::invalid(format!(
                        "{other} is not a drift_slow_policy"
                    )));
                }
            };
            Ok(())
        })
    }
}

/// Whether the subscription reopens its stream by itself after the
/// connection breaks, the server shuts down or ends it as a slow consumer,
/// continuing after the last message delivered (default `true`). With
/// `false` those events end it (`DRIFT_KIND_END` with the reason, or an
/// error status from `drift_subscription_next`).
///
/// # Safety
///
/// `opts` is NULL or live options used by no other thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_subscribe_options_set_resume(
    opts: *mut drift_subscribe_options,
    resume: bool,
) -> drift_status {
    // SAFETY: forwarded from the caller.
    unsafe { set(opts, |o| o.inner.resume = resume) }
}

/// Retry timing while resuming: the first retry at once, then after
/// `initial_ms`, doubling up to `max_ms`; give up after `max_attempts`
/// consecutive failures (0: never give up). Requires
/// `0 < initial_ms <= max_ms`.
///
/// # Safety
///
/// `opts` is NULL or live options used by no other thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_subscribe_options_set_reconnect(
    opts: *mut drift_subscribe_options,
    initial_ms: u64,
    max_ms: u64,
    max_attempts: u32,
) -> drift_status {
    // SAFETY: forwarded from the caller.
    unsafe {
        try_set(opts, |o| {
            if initial_ms == 0 || initial_ms > max_ms {
                return Err(Failure::invalid(
                    "reconnect delays need 0 < initial_ms <= max_ms",
                ));
            }
            o.inner.reconnect = Backoff {
                initial: Duration::from_millis(initial_ms),
                max: Duration::from_millis(max_ms),
                max_attempts: (max_attempts > 0).then_some(max_attempts),
            };
            Ok(())
        })
    }
}

// ===== impl drift_subscription =====

impl drift_subscription {
    fn new(handle: SubscriptionHandle, mode: Mode) -> drift_subscription {
        drift_subscription {
            handle,
            end_reason: OnceLock::new(),
            mode,
        }
    }

    fn pull(&self, function: &str) -> FfiResult<&Mutex<BlockingSubscription>> {
        match &self.mode {
            Mode::Pull(sub) => Ok(sub),
            Mode::Callback(_) => Err(Failure::invalid(format!(
                "a callback subscription delivers to its callback; {function} does not apply"
            ))),
        }
    }

    fn next(&self, timeout: Duration) -> FfiResult<drift_message> {
        let mut sub = self
            .pull("drift_subscription_next")?
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        match sub.next_timeout(timeout) {
            Ok(Some(event)) => Ok(drift_message::from_event(event)),
            Ok(None) => Err(Failure::new(
                drift_status::Timeout,
                "no message arrived within the timeout",
            )),
            Err(e) => Err(e.into()),
        }
    }

    fn last_id(&self) -> FfiResult<Option<MessageId>> {
        self.pull("drift_subscription_last_id")?;
        Ok(self.handle.last_id())
    }

    fn end_reason_ptr(&self) -> *const c_char {
        if self.end_reason.get().is_none()
            && let Some(reason) = self.handle.end_reason()
        {
            // Another thread may have set it meanwhile: to the same text,
            // since the handle keeps the first reason.
            let _ = self.end_reason.set(message::text_cstring(&reason));
        }
        self.end_reason
            .get()
            .map_or(std::ptr::null(), |r| r.as_ptr())
    }
}

impl Drop for drift_subscription {
    fn drop(&mut self) {
        // Wakes the callback thread (or a pull reader) at once.
        self.handle.close();
        if let Mode::Callback(cb) = &mut self.mode
            && let Some(thread) = cb.thread.take()
        {
            if thread::current().id() == thread.thread().id() {
                // Freed from its own callback: the thread sees the close
                // when the callback returns and exits by itself, without
                // calling it again.
                drop(thread);
            } else {
                // Wait until no callback runs, so userdata is never
                // touched after drift_subscription_free returns.
                let _ = thread.join();
            }
        }
        // The stream itself is reset when the core subscription drops (here
        // for a pull subscription, at the end of the thread otherwise).
    }
}

fn run_callback(
    client: BlockingClient,
    mut sub: drift_core::client::Subscription,
    callback: unsafe extern "C" fn(*mut c_void, *const drift_message),
    userdata: UserData,
    handle: SubscriptionHandle,
) {
    // Wait outside any callback, so that a callback runs with no runtime
    // context entered and may make blocking libdrift calls. `None`: closed
    // (freed), or over without an END item: nothing more to say.
    while let Some(next) = client.handle().block_on(handle.next(&mut sub)) {
        let msg = match next {
            Ok(event) => drift_message::from_event(event),
            Err(e) => drift_message::failed(&Failure::from(e)),
        };
        let last = msg.end_reason().is_some();
        if handle.is_closed() {
            break;
        }
        message::lend(&msg, |p| {
            // SAFETY: the caller of drift_client_subscribe_callback gave a
            // callback with this signature and promised it is safe to call
            // on this thread with userdata; p is lent and valid for the call.
            unsafe { callback(userdata.0, p) }
        });
        if last {
            break;
        }
    }
    drop(sub);
    drop(client);
}

/// Subscribes to `topic` for pulling with `drift_subscription_next`.
/// `options` may be NULL for the defaults (live messages only); it is only
/// read during the call. Returns once the server has answered, so any
/// message published after this returns is delivered.
///
/// On success `*out` receives the subscription, owned by the caller, who
/// frees it with `drift_subscription_free`. Fails with
/// `DRIFT_STATUS_INVALID_ARGUMENT` for a bad topic name,
/// `DRIFT_STATUS_NOT_FOUND` on a server that requires creation, or a
/// connection status. Any thread may call this, concurrently.
///
/// # Safety
///
/// `client` is NULL or a live client; `topic` is NULL or a NUL-terminated
/// string; `options` is NULL or live options not changed meanwhile; `out` is
/// NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_client_subscribe(
    client: *const drift_client,
    topic: *const c_char,
    options: *const drift_subscribe_options,
    out: *mut *mut drift_subscription,
) -> drift_status {
    ffi_status! {
        // SAFETY: forwarded from the caller.
        let (client, topic, options) = unsafe { subscribe_args(client, topic, options) }?;
        // SAFETY: the caller promised NULL or a writable pointer.
        let out = unsafe { Out::new(out, "out") }?;
        let sub = client.blocking().subscribe(topic, options)?;
        let handle = sub.handle().clone();
        out.give(drift_subscription::new(handle, Mode::Pull(Box::new(Mutex::new(sub)))))
    }
}

/// The arguments both ways of subscribing start with: the client, the
/// topic and a copy of the options (or the defaults).
///
/// # Safety
///
/// As `drift_client_subscribe` promises for them.
unsafe fn subscribe_args<'a>(
    client: *const drift_client,
    topic: *const c_char,
    options: *const drift_subscribe_options,
) -> FfiResult<(&'a drift_client, &'a str, SubscribeOptions)> {
    // SAFETY: forwarded from the caller.
    unsafe {
        let (client, topic) = client_topic(client, topic)?;
        let options = handle::borrow_or_default(options, "options")?.inner.clone();
        Ok((client, topic, options))
    }
}

/// Subscribes to `topic` with items pushed to `callback` (see
/// `drift_message_callback`) on a thread libdrift starts for this
/// subscription, with `userdata` passed through untouched. `options` may be
/// NULL for the defaults; it is only read during the call. Returns once the
/// server has answered, so any message published after this returns is
/// delivered.
///
/// On success `*out` receives the subscription, owned by the caller;
/// `drift_subscription_free` stops the deliveries: it waits until no
/// callback is running, and `userdata` is never touched after it returns.
/// A stream that fails for good is reported as a `DRIFT_KIND_END` item
/// whose reason starts with `"error: "`. Any thread may call this.
///
/// # Safety
///
/// As `drift_client_subscribe`; in addition `callback` must be safe to call
/// from another thread with `userdata` until the subscription is freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_client_subscribe_callback(
    client: *const drift_client,
    topic: *const c_char,
    options: *const drift_subscribe_options,
    callback: drift_message_callback,
    userdata: *mut c_void,
    out: *mut *mut drift_subscription,
) -> drift_status {
    ffi_status! {
        // SAFETY: forwarded from the caller.
        let (client, topic, options) = unsafe { subscribe_args(client, topic, options) }?;
        let callback = callback.ok_or_else(|| Failure::null("callback"))?;
        // SAFETY: the caller promised NULL or a writable pointer.
        let out = unsafe { Out::new(out, "out") }?;
        let blocking = client.blocking().clone();
        let sub = blocking
            .handle()
            .block_on(blocking.client().subscribe(topic, options))?;
        let handle = SubscriptionHandle::new();
        let userdata = UserData(userdata);
        let thread = {
            let handle = handle.clone();
            thread::Builder::new()
                .name("drift-callback".into())
                .spawn(move || run_callback(blocking, sub, callback, userdata, handle))
                .map_err(|e| Failure::new(drift_status::Io, format!("cannot start the callback thread: {e}")))?
        };
        out.give(drift_subscription::new(
            handle,
            Mode::Callback(CallbackThread { thread: Some(thread) }),
        ))
    }
}

/// Waits up to `timeout_ms` milliseconds (0: don't wait; negative: wait as
/// long as it takes) for the next item of a pull subscription.
///
/// Returns `DRIFT_STATUS_OK` with `*out` set to a message the caller owns
/// (free it with `drift_message_free`): a `DRIFT_KIND_MESSAGE`, a
/// `DRIFT_KIND_GAP`, or, once, a `DRIFT_KIND_END` with the reason;
/// `DRIFT_STATUS_TIMEOUT` when nothing came in time (the subscription goes
/// on: call again); `DRIFT_STATUS_CLOSED` once the subscription is over
/// (after the END item, or after a failure); another status when the stream
/// failed for good (then `drift_subscription_end_reason` says
/// `"error: …"`). Fails with `DRIFT_STATUS_INVALID_ARGUMENT` for a callback
/// subscription.
///
/// One thread at a time per subscription (calls on different subscriptions
/// run in parallel). Never from a callback of the same subscription.
///
/// # Safety
///
/// `sub` is NULL or a live subscription not being freed; `out` is NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_subscription_next(
    sub: *mut drift_subscription,
    timeout_ms: i64,
    out: *mut *mut drift_message,
) -> drift_status {
    ffi_status! {
        // SAFETY: checked by the registry; the caller keeps it alive. A
        // shared borrow: the pull state has its own lock.
        let sub = unsafe { handle::borrow(sub.cast_const(), "sub") }?;
        // SAFETY: the caller promised NULL or a writable pointer.
        let out = unsafe { Out::new(out, "out") }?;
        // Negative: Duration::MAX, a deadline tokio never fires (it lies
        // beyond what `Instant` can hold).
        let timeout = u64::try_from(timeout_ms).map_or(Duration::MAX, Duration::from_millis);
        out.give(sub.next(timeout)?)
    }
}

/// The id of the last message this pull subscription delivered through
/// `drift_subscription_next`: `*out_seq` and `*out_epoch` receive it (each
/// may be NULL when not wanted), or 0 and 0 before the first message (and
/// always from a server that assigns no ids). Keep it to resume later with
/// `drift_subscribe_options_set_after`. Fails with
/// `DRIFT_STATUS_INVALID_ARGUMENT` for a callback subscription (each message
/// passed to the callback carries its id). Any thread may call this, also
/// while `drift_subscription_next` waits on another.
///
/// # Safety
///
/// `sub` is NULL or a live subscription not being freed; `out_seq` and
/// `out_epoch` are NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_subscription_last_id(
    sub: *const drift_subscription,
    out_seq: *mut u64,
    out_epoch: *mut u64,
) -> drift_status {
    ffi_status! {
        // SAFETY: checked by the registry; the caller keeps it alive.
        let sub = unsafe { handle::borrow(sub, "sub") }?;
        let id = sub.last_id()?.unwrap_or(MessageId { epoch: 0, seq: 0 });
        // SAFETY: each is NULL (skipped) or writable, as promised.
        unsafe { write_id(out_seq, out_epoch, id) };
        Ok(())
    }
}

/// Why the subscription ended: the reason of its `DRIFT_KIND_END` item
/// (e.g. `"deleted"`), `"error: …"` when its stream failed for good, or
/// `"closed"` after `drift_subscription_close`; NULL while it goes on (and
/// for NULL `sub`). The string is owned by the
/// subscription and valid until `drift_subscription_free`. Any thread may
/// call this.
///
/// # Safety
///
/// `sub` is NULL or a live subscription.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_subscription_end_reason(
    sub: *const drift_subscription,
) -> *const c_char {
    ffi_value! { std::ptr::null();
        // SAFETY: checked by the registry; the caller keeps it alive.
        let sub = unsafe { handle::borrow(sub, "sub") }?;
        Ok(sub.end_reason_ptr())
    }
}

/// Ends the subscription from any thread, without freeing it: a
/// `drift_subscription_next` waiting on another thread returns
/// `DRIFT_STATUS_CLOSED` at once, and so does every later one; a callback
/// subscription's callback is not called again once the call running now
/// (if any) returns. `drift_subscription_end_reason` then says `"closed"`
/// (unless the subscription had ended before). Closing a closed
/// subscription does nothing. Free it with `drift_subscription_free` as
/// usual.
///
/// # Safety
///
/// `sub` is NULL or a live subscription not being freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_subscription_close(sub: *const drift_subscription) -> drift_status {
    ffi_status! {
        // SAFETY: checked by the registry; the caller keeps it alive.
        let sub = unsafe { handle::borrow(sub, "sub") }?;
        sub.handle.close();
        Ok(())
    }
}

/// Unsubscribes and frees the subscription: the HTTP/2 stream is reset at
/// once. For a callback subscription this waits until no callback is
/// running and none will run again; `userdata` is not touched after it
/// returns. (Called from the subscription's own callback it does not wait:
/// the current call is the last.) Messages already taken from it stay
/// valid until freed. NULL is a no-op; a pointer that is not a live
/// subscription is left alone (and the last error set). Must be the last
/// call on the subscription.
///
/// # Safety
///
/// `sub` is NULL or a pointer from libdrift, and no other call on it is
/// running.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_subscription_free(sub: *mut drift_subscription) {
    // SAFETY: forwarded from the caller.
    unsafe { handle::free(sub, "drift_subscription_free") }
}

#[cfg(test)]
mod tests {
    use std::ffi::CStr;
    use std::ptr::{null, null_mut};
    use std::sync::atomic::Ordering;

    use super::*;
    use crate::boundary::last_error_status;
    use crate::client::{drift_client_free, drift_client_new, drift_client_publish};
    use crate::message::{drift_kind, drift_message_free, drift_message_kind, drift_message_seq};
    use crate::server::drift_server_free;
    use crate::test_support::h2c_server_and_client;

    unsafe extern "C" fn count(userdata: *mut c_void, msg: *const drift_message) {
        // SAFETY: the test passes a pointer to an AtomicU64 that outlives
        // the subscription, and msg is lent for this call.
        unsafe {
            if drift_message_kind(msg) == drift_kind::Message {
                (*userdata.cast::<std::sync::atomic::AtomicU64>()).fetch_add(1, Ordering::SeqCst);
            }
        }
    }

    #[test]
    fn options_refuse_null_and_bad_values() {
        // SAFETY: NULLs and live options from libdrift.
        unsafe {
            let n = null_mut();
            for status in [
                drift_subscribe_options_set_last(n, 1),
                drift_subscribe_options_set_since_us(n, 1),
                drift_subscribe_options_set_after(n, 1, 1),
                drift_subscribe_options_clear_history(n),
                drift_subscribe_options_set_on_slow(n, 0),
                drift_subscribe_options_set_resume(n, true),
                drift_subscribe_options_set_reconnect(n, 1, 2, 0),
            ] {
                assert_status!(status, NullArgument);
            }
            let o = drift_subscribe_options_new();
            assert_status!(drift_subscribe_options_set_on_slow(o, 2), InvalidArgument);
            assert_status!(
                drift_subscribe_options_set_on_slow(o, drift_slow_policy::Drop as u32),
                Ok
            );
            assert_status!(drift_subscribe_options_set_reconnect(o, 5, 10, 3), Ok);
            assert_status!(
                drift_subscribe_options_set_reconnect(o, 0, 1, 0),
                InvalidArgument
            );
            assert_status!(
                drift_subscribe_options_set_reconnect(o, 5, 1, 0),
                InvalidArgument
            );
            // A refused value leaves the options as they were.
            assert_eq!((*o).inner.reconnect.max_attempts, Some(3));
            assert_status!(drift_subscribe_options_set_after(o, 3, 4), Ok);
            assert_eq!(
                (*o).inner.history.after,
                Some(MessageId { epoch: 3, seq: 4 })
            );
            assert_status!(drift_subscribe_options_clear_history(o), Ok);
            assert!((*o).inner.history.is_empty());
            drift_subscribe_options_free(o);
            drift_subscribe_options_free(o);
            assert_status!(last_error_status(), InvalidArgument);
            drift_subscribe_options_free(null_mut());
        }
    }

    #[test]
    fn subscriptions_refuse_null() {
        // SAFETY: NULLs, valid C strings and a live client.
        unsafe {
            let mut c = null_mut();
            assert_status!(
                drift_client_new(c"http://127.0.0.1:1".as_ptr(), null(), &mut c),
                Ok
            );
            let mut sub = null_mut();
            let t = c"t".as_ptr();
            assert_status!(
                drift_client_subscribe(null(), t, null(), &mut sub),
                NullArgument
            );
            assert_status!(
                drift_client_subscribe(c, null(), null(), &mut sub),
                NullArgument
            );
            assert_status!(
                drift_client_subscribe(c, t, null(), null_mut()),
                NullArgument
            );
            assert_status!(
                drift_client_subscribe(c, c"\xff".as_ptr(), null(), &mut sub),
                InvalidArgument
            );
            let ud = null_mut();
            assert_status!(
                drift_client_subscribe_callback(null(), t, null(), Some(count), ud, &mut sub),
                NullArgument
            );
            assert_status!(
                drift_client_subscribe_callback(c, null(), null(), Some(count), ud, &mut sub),
                NullArgument
            );
            assert_status!(
                drift_client_subscribe_callback(c, t, null(), None, ud, &mut sub),
                NullArgument
            );
            assert_status!(
                drift_client_subscribe_callback(c, t, null(), Some(count), ud, null_mut()),
                NullArgument
            );
            // Nothing listens on port 1.
            assert_status!(drift_client_subscribe(c, t, null(), &mut sub), Connect);
            assert!(sub.is_null());
            let mut msg = null_mut();
            assert_status!(
                drift_subscription_next(null_mut(), 0, &mut msg),
                NullArgument
            );
            assert!(drift_subscription_end_reason(null()).is_null());
            drift_subscription_free(null_mut());
            drift_client_free(c);
        }
    }

    /// A pointer handed to another thread of the test.
    struct Shared<T>(*mut T);
    // SAFETY: libdrift's subscriptions may be used from any thread; the
    // test keeps each alive until the threads that use it are done.
    unsafe impl<T> Send for Shared<T> {}

    /// A pull subscription's last id, end reason and close work from another
    /// thread while `drift_subscription_next` waits (as long as it takes),
    /// and the close wakes that wait at once with `DRIFT_STATUS_CLOSED`.
    #[test]
    fn close_from_another_thread_wakes_a_waiting_next() {
        // SAFETY: pointers from libdrift and local out-params; the reader
        // thread is joined before the subscription is freed.
        unsafe {
            let (server, c) = h2c_server_and_client();
            let t = c"waiting".as_ptr();
            let mut sub = null_mut();
            assert_status!(drift_client_subscribe(c, t, null(), &mut sub), Ok);
            assert_status!(
                drift_client_publish(
                    c,
                    t,
                    c"x".as_ptr().cast(),
                    1,
                    null_mut(),
                    null_mut(),
                    null_mut()
                ),
                Ok
            );
            let (started, waiting) = std::sync::mpsc::channel();
            let (done, finished) = std::sync::mpsc::channel();
            let shared = Shared(sub);
            let reader = std::thread::spawn(move || {
                let sub = shared;
                let mut msg = null_mut();
                // The published message, then a wait with no end.
                let first = drift_subscription_next(sub.0, -1, &mut msg);
                drift_message_free(msg);
                started.send(first).unwrap();
                let status = drift_subscription_next(sub.0, -1, &mut msg);
                done.send(status).unwrap();
            });
            assert_status!(waiting.recv().unwrap(), Ok);
            // Answered while the reader waits, without waiting for it.
            let (mut seq, mut epoch) = (0, 0);
            assert_status!(drift_subscription_last_id(sub, &mut seq, &mut epoch), Ok);
            assert_eq!(seq, 1);
            assert_ne!(epoch, 0);
            assert!(drift_subscription_end_reason(sub).is_null(), "still going");
            assert_status!(drift_subscription_close(sub), Ok);
            let status = finished
                .recv_timeout(Duration::from_secs(20))
                .expect("the waiting next was not woken by the close");
            assert_status!(status, Closed);
            reader.join().unwrap();
            assert_eq!(
                CStr::from_ptr(drift_subscription_end_reason(sub)).to_str(),
                Ok("closed")
            );
            assert_eq!(
                drift_subscription_close(sub),
                drift_status::Ok,
                "twice is fine"
            );
            let mut msg = null_mut();
            assert_status!(drift_subscription_next(sub, 0, &mut msg), Closed);
            assert_status!(drift_subscription_close(null()), NullArgument);
            drift_subscription_free(sub);
            drift_client_free(c);
            drift_server_free(server);
        }
    }

    #[test]
    fn pull_and_callback_subscriptions_deliver() {
        let received = std::sync::atomic::AtomicU64::new(0);
        // SAFETY: pointers from libdrift, local out-params; `received`
        // outlives the callback subscription.
        unsafe {
            let (server, c) = h2c_server_and_client();
            let t = c"rust".as_ptr();
            let (mut pull, mut push) = (null_mut(), null_mut());
            assert_status!(drift_client_subscribe(c, t, null(), &mut pull), Ok);
            let ud = (&raw const received).cast_mut().cast::<c_void>();
            assert_status!(
                drift_client_subscribe_callback(c, t, null(), Some(count), ud, &mut push),
                Ok
            );
            let mut msg = null_mut();
            assert_status!(drift_subscription_next(push, 0, &mut msg), InvalidArgument);
            // A callback receives each id; there is no last id to ask for.
            let mut seq = 7;
            assert_status!(
                drift_subscription_last_id(push, &mut seq, null_mut()),
                InvalidArgument
            );
            assert_eq!(seq, 7, "out-param untouched on failure");
            for _ in 0..3 {
                assert_status!(
                    drift_client_publish(
                        c,
                        t,
                        c"x".as_ptr().cast(),
                        1,
                        null_mut(),
                        null_mut(),
                        null_mut()
                    ),
                    Ok
                );
            }
            for seq in 1..=3 {
                assert_status!(drift_subscription_next(pull, 5000, &mut msg), Ok);
                assert_eq!(drift_message_seq(msg), seq);
                drift_message_free(msg);
            }
            assert_status!(drift_subscription_next(pull, 10, &mut msg), Timeout);
            for _ in 0..500 {
                if received.load(Ordering::SeqCst) == 3 {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            drift_subscription_free(push);
            assert_eq!(received.load(Ordering::SeqCst), 3);
            // A negative timeout waits as long as it takes.
            assert_status!(
                drift_client_publish(
                    c,
                    t,
                    c"x".as_ptr().cast(),
                    1,
                    null_mut(),
                    null_mut(),
                    null_mut()
                ),
                Ok
            );
            assert_status!(drift_subscription_next(pull, -1, &mut msg), Ok);
            assert_eq!(drift_message_seq(msg), 4);
            drift_message_free(msg);
            assert!(drift_subscription_end_reason(pull).is_null());
            assert_status!(crate::client::drift_client_delete(c, t), Ok);
            assert_status!(drift_subscription_next(pull, 5000, &mut msg), Ok);
            assert_eq!(drift_message_kind(msg), drift_kind::End);
            drift_message_free(msg);
            assert_status!(drift_subscription_next(pull, 0, &mut msg), Closed);
            let reason = CStr::from_ptr(drift_subscription_end_reason(pull));
            assert_eq!(reason.to_str().unwrap(), "deleted");
            drift_subscription_free(pull);
            drift_client_free(c);
            drift_server_free(server);
        }
    }
}
