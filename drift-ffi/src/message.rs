//! `drift_message`: one item of a subscription (a message, a gap or the end)
//! and its accessors.

use std::ffi::{CStr, CString, c_char};
use std::sync::LazyLock;

use drift_core::client::{ReceivedMessage, SubscriptionEvent};
use drift_core::{Gap, GapReason};

use crate::boundary::{Failure, Out, write_out};
use crate::handle::{self, Handle, Kind};
use crate::status::drift_status;

/// What a `drift_message` is.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum drift_kind {
    /// Not a message: what `drift_message_kind` returns for NULL or an
    /// invalid handle.
    None = 0,
    /// A published message: payload, seq, epoch and time are set.
    Message = 1,
    /// Messages are missing: read the range and reason with
    /// `drift_message_gap`. The subscription goes on.
    Gap = 2,
    /// The subscription is over: read why with `drift_message_end_reason`.
    /// Nothing follows; `drift_subscription_next` returns
    /// `DRIFT_STATUS_CLOSED` from then on.
    End = 3,
}

/// Why messages are missing (see `drift_message_gap`).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum drift_gap_reason {
    /// Not a gap.
    None = 0,
    /// They left the topic's history (count, bytes or age bound) before they
    /// could be replayed.
    Expired = 1,
    /// The resume id belongs to another incarnation of the topic (deleted
    /// and recreated, or a server restart): the range is unknown and both
    /// ends are 0.
    Epoch = 2,
    /// This subscriber was too slow and asked for drops (`DRIFT_SLOW_POLICY_DROP`).
    Dropped = 3,
    /// A reason drift-core added that this libdrift has no name for yet;
    /// the range is as for the named reasons.
    Other = 255,
}

/// One subscription item. Opaque; read it with the `drift_message_*`
/// accessors.
///
/// A message from `drift_subscription_next` is owned by the caller, who
/// frees it with `drift_message_free`; everything read from it (payload, end
/// reason) is borrowed from it and valid until then. A message passed to a
/// callback is lent for the duration of the call only, and must not be
/// freed. A message is immutable: any thread may read it, and several
/// threads may read it at once.
#[derive(Debug)]
pub struct drift_message {
    inner: Inner,
}

#[derive(Debug)]
enum Inner {
    Message(ReceivedMessage),
    Gap(Gap),
    End(CString),
}

impl Handle for drift_message {
    const KIND: Kind = Kind::Message;

    fn accepts(kind: Kind) -> bool {
        matches!(kind, Kind::Message | Kind::LentMessage)
    }
}

// ===== impl drift_message =====

impl drift_message {
    pub(crate) fn from_event(event: SubscriptionEvent) -> drift_message {
        let inner = match event {
            SubscriptionEvent::Message(m) => Inner::Message(m),
            SubscriptionEvent::Gap(gap) => Inner::Gap(gap),
            SubscriptionEvent::End(reason) => Inner::End(text_cstring(reason.as_str())),
        };
        drift_message { inner }
    }

    /// The END item a callback subscription delivers when its stream failed.
    pub(crate) fn failed(failure: &Failure) -> drift_message {
        drift_message {
            inner: Inner::End(error_reason(failure)),
        }
    }

    /// The reason of an END item; `None` for other kinds.
    pub(crate) fn end_reason(&self) -> Option<&CString> {
        match &self.inner {
            Inner::End(reason) => Some(reason),
            _ => None,
        }
    }

    fn kind(&self) -> drift_kind {
        match self.inner {
            Inner::Message(_) => drift_kind::Message,
            Inner::Gap(_) => drift_kind::Gap,
            Inner::End(_) => drift_kind::End,
        }
    }

    fn not(&self, wanted: drift_kind) -> Failure {
        Failure::invalid(format!(
            "the message is of kind {:?}, not {wanted:?}",
            self.kind()
        ))
    }
}

/// The end reason of a subscription whose stream failed: `"error: …"`.
pub(crate) fn error_reason(failure: &Failure) -> CString {
    text_cstring(&format!("error: {}", failure.message))
}

pub(crate) fn text_cstring(text: &str) -> CString {
    CString::new(text.replace('\0', "\\0")).unwrap_or_default()
}

/// drift-core's gap reasons in `drift_gap_reason` order (from 1).
const GAP_REASONS: [GapReason; 3] = [GapReason::Expired, GapReason::Epoch, GapReason::Dropped];

fn gap_reason(reason: GapReason) -> drift_gap_reason {
    match reason {
        GapReason::Expired => drift_gap_reason::Expired,
        GapReason::Epoch => drift_gap_reason::Epoch,
        GapReason::Dropped => drift_gap_reason::Dropped,
        // GapReason is non-exhaustive: a reason added later is still a gap.
        _ => drift_gap_reason::Other,
    }
}

/// Lends `msg` to `f` as a registered handle that accessors accept and
/// `drift_message_free` refuses (for callbacks).
pub(crate) fn lend<R>(msg: &drift_message, f: impl FnOnce(*const drift_message) -> R) -> R {
    let p: *const drift_message = msg;
    handle::register(p as usize, Kind::LentMessage);
    // Unregister even if `f` unwinds (it should not: C callbacks cannot).
    struct Unlend(usize);
    impl Drop for Unlend {
        fn drop(&mut self) {
            handle::unregister(self.0, Kind::LentMessage);
        }
    }
    let _unlend = Unlend(p as usize);
    f(p)
}

/// The kind of `msg`: `DRIFT_KIND_MESSAGE`, `DRIFT_KIND_GAP` or
/// `DRIFT_KIND_END`; `DRIFT_KIND_NONE` (and the last error set) when `msg`
/// is NULL or not a live message.
///
/// # Safety
///
/// `msg` is NULL or a message from libdrift that is still valid. Any thread
/// may call this.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_message_kind(msg: *const drift_message) -> drift_kind {
    ffi_value! { drift_kind::None;
        // SAFETY: checked by the registry; the caller keeps it alive.
        let msg = unsafe { handle::borrow(msg, "msg") }?;
        Ok(msg.kind())
    }
}

/// The payload of a `DRIFT_KIND_MESSAGE` message, without copying.
///
/// On success `*data` points to `*len` bytes owned by the message (not
/// NUL-terminated, possibly 0 bytes), valid until the message is freed (for
/// a lent message: until the callback returns). Do not write to or free
/// them. Fails with `DRIFT_STATUS_INVALID_ARGUMENT` for a gap or end, and
/// `DRIFT_STATUS_NULL_ARGUMENT` if any argument is NULL. Any thread may call
/// this.
///
/// # Safety
///
/// `msg` is NULL or a valid message; `data` and `len` are NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_message_payload(
    msg: *const drift_message,
    data: *mut *const u8,
    len: *mut usize,
) -> drift_status {
    ffi_status! {
        // SAFETY: the caller promised a live message and writable (or NULL)
        // out-parameters.
        let (m, data, len) = unsafe {
            (handle::borrow(msg, "msg")?, Out::new(data, "data")?, Out::new(len, "len")?)
        };
        let Inner::Message(ReceivedMessage { payload, .. }) = &m.inner else {
            return Err(m.not(drift_kind::Message));
        };
        data.write(payload.as_ptr())?;
        len.write(payload.len())
    }
}

fn message_field(msg: *const drift_message, field: fn(&ReceivedMessage) -> u64) -> u64 {
    ffi_value! { 0;
        // SAFETY: checked by the registry; the caller of the export keeps it
        // alive.
        let m = unsafe { handle::borrow(msg, "msg") }?;
        match &m.inner {
            Inner::Message(received) => Ok(field(received)),
            _ => Err(m.not(drift_kind::Message)),
        }
    }
}

/// The sequence number (from 1) of a `DRIFT_KIND_MESSAGE` message within its
/// topic's epoch; 0 for other kinds, NULL, or a message from a server
/// without Drift framing. Any thread may call this.
///
/// # Safety
///
/// `msg` is NULL or a valid message.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_message_seq(msg: *const drift_message) -> u64 {
    message_field(msg, |m| m.seq)
}

/// The epoch (topic incarnation) of a `DRIFT_KIND_MESSAGE` message; 0 for
/// other kinds or NULL. `(epoch, seq)` identifies the message: pass it to
/// `drift_subscribe_options_set_after` to resume after it. Any thread may
/// call this.
///
/// # Safety
///
/// `msg` is NULL or a valid message.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_message_epoch(msg: *const drift_message) -> u64 {
    message_field(msg, |m| m.epoch)
}

/// The publish time of a `DRIFT_KIND_MESSAGE` message, in microseconds since
/// the Unix epoch by the server's clock; 0 for other kinds or NULL. Any
/// thread may call this.
///
/// # Safety
///
/// `msg` is NULL or a valid message.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_message_time_us(msg: *const drift_message) -> u64 {
    message_field(msg, |m| m.time_us)
}

/// The missing range `from..=to` (sequence numbers) and the reason of a
/// `DRIFT_KIND_GAP` message. Each out-parameter may be NULL when not wanted;
/// they are written only on success. For `DRIFT_GAP_REASON_EPOCH` the range is
/// unknown and both ends are 0. Fails with `DRIFT_STATUS_INVALID_ARGUMENT`
/// for other kinds. Any thread may call this.
///
/// # Safety
///
/// `msg` is NULL or a valid message; each out-parameter is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_message_gap(
    msg: *const drift_message,
    from: *mut u64,
    to: *mut u64,
    reason: *mut drift_gap_reason,
) -> drift_status {
    ffi_status! {
        // SAFETY: checked by the registry; the caller keeps it alive.
        let m = unsafe { handle::borrow(msg, "msg") }?;
        let Inner::Gap(gap) = &m.inner else {
            return Err(m.not(drift_kind::Gap));
        };
        // SAFETY: each is NULL (skipped) or writable, as the caller promised.
        unsafe {
            write_out(from, gap.from);
            write_out(to, gap.to);
            write_out(reason, gap_reason(gap.reason));
        }
        Ok(())
    }
}

/// Why the subscription ended, for a `DRIFT_KIND_END` message: `"deleted"`
/// (the topic was deleted), `"shutdown"` or `"slow consumer"` (only with
/// resume off: otherwise the subscription resumes), another word from a
/// newer server, or `"error: …"` when a callback subscription's stream
/// failed. NULL for other kinds or NULL `msg`.
///
/// The string is owned by the message and valid until it is freed (for a
/// lent message: until the callback returns). Any thread may call this.
///
/// # Safety
///
/// `msg` is NULL or a valid message.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_message_end_reason(msg: *const drift_message) -> *const c_char {
    ffi_value! { std::ptr::null();
        // SAFETY: checked by the registry; the caller keeps it alive.
        let m = unsafe { handle::borrow(msg, "msg") }?;
        match &m.inner {
            Inner::End(reason) => Ok(reason.as_ptr()),
            _ => Err(m.not(drift_kind::End)),
        }
    }
}

/// The wire word of a gap reason: `"expired"`, `"epoch"`, `"dropped"`,
/// `"other"` for `DRIFT_GAP_REASON_OTHER`, or `"none"` / `"unknown"`.
/// `reason` is a `drift_gap_reason` value. The string is static. Any thread
/// may call this.
#[unsafe(no_mangle)]
pub extern "C" fn drift_gap_reason_str(reason: u32) -> *const c_char {
    /// drift-core's wire words, NUL-terminated once.
    static WORDS: LazyLock<Vec<CString>> = LazyLock::new(|| {
        GAP_REASONS
            .iter()
            .map(|r| text_cstring(r.as_str()))
            .collect()
    });
    ffi_boundary! {
        let text: &CStr = match reason {
            0 => c"none",
            r if r == drift_gap_reason::Other as u32 => c"other",
            n => WORDS
                .get(n as usize - 1)
                .map_or(c"unknown", |w| w.as_c_str()),
        };
        text.as_ptr()
    }
}

/// Frees a message from `drift_subscription_next`, and with it everything
/// borrowed from it. NULL is a no-op. A message lent to a callback, one
/// freed already, or any other pointer is left alone (and the last error
/// set). Any thread may call this, once, after every other use is over.
///
/// # Safety
///
/// `msg` is NULL or a pointer from libdrift.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_message_free(msg: *mut drift_message) {
    // SAFETY: forwarded from the caller; the registry refuses lent messages.
    unsafe { handle::free(msg, "drift_message_free") }
}

/// A message for tests (Rust and the C-free boundary tests).
#[cfg(test)]
pub(crate) fn test_message(payload: &'static [u8], seq: u64) -> *mut drift_message {
    handle::into_raw(drift_message {
        inner: Inner::Message(ReceivedMessage {
            payload: bytes::Bytes::from_static(payload),
            seq,
            epoch: 7,
            time_us: 1_000,
            id: Some(drift_core::MessageId { epoch: 7, seq }),
        }),
    })
}

#[cfg(test)]
mod tests {
    use std::ffi::CStr;
    use std::ptr::{null, null_mut};

    use drift_core::EndReason;

    use super::*;
    use crate::boundary::last_error_status;

    #[test]
    fn accessors_read_a_message() {
        let m = test_message(b"hello", 3);
        // SAFETY: m is a live message; out-params are local.
        unsafe {
            assert_eq!(drift_message_kind(m), drift_kind::Message);
            let (mut data, mut len) = (null(), 0usize);
            assert_status!(drift_message_payload(m, &mut data, &mut len), Ok);
            assert_eq!(std::slice::from_raw_parts(data, len), b"hello");
            assert_eq!(drift_message_seq(m), 3);
            assert_eq!(drift_message_epoch(m), 7);
            assert_eq!(drift_message_time_us(m), 1_000);
            let mut from = 99;
            assert_status!(
                drift_message_gap(m, &mut from, null_mut(), null_mut()),
                InvalidArgument
            );
            assert_eq!(from, 99, "out-params are untouched on failure");
            assert!(drift_message_end_reason(m).is_null());
            drift_message_free(m);
            // Double free is refused, not undefined.
            drift_message_free(m);
            assert_status!(last_error_status(), InvalidArgument);
            assert_eq!(drift_message_kind(m), drift_kind::None);
        }
    }

    #[test]
    fn gaps_and_ends_are_visible() {
        let gap = handle::into_raw(drift_message::from_event(SubscriptionEvent::Gap(Gap {
            from: 2,
            to: 5,
            reason: GapReason::Expired,
        })));
        let end = handle::into_raw(drift_message::from_event(SubscriptionEvent::End(
            EndReason::Deleted,
        )));
        // SAFETY: live messages and local out-params.
        unsafe {
            assert_eq!(drift_message_kind(gap), drift_kind::Gap);
            let (mut from, mut to, mut reason) = (0, 0, drift_gap_reason::None);
            assert_status!(drift_message_gap(gap, &mut from, &mut to, &mut reason), Ok);
            assert_eq!((from, to, reason), (2, 5, drift_gap_reason::Expired));
            assert_eq!(drift_message_seq(gap), 0);
            let (mut data, mut len) = (null(), 0usize);
            assert_status!(
                drift_message_payload(gap, &mut data, &mut len),
                InvalidArgument
            );
            assert_eq!(drift_message_kind(end), drift_kind::End);
            let reason = CStr::from_ptr(drift_message_end_reason(end));
            assert_eq!(reason.to_str().unwrap(), "deleted");
            drift_message_free(gap);
            drift_message_free(end);
        }
    }

    #[test]
    fn null_arguments_are_errors() {
        // SAFETY: NULL is the input under test.
        unsafe {
            assert_eq!(drift_message_kind(null()), drift_kind::None);
            assert_status!(last_error_status(), NullArgument);
            let (mut data, mut len) = (null(), 0usize);
            assert_status!(
                drift_message_payload(null(), &mut data, &mut len),
                NullArgument
            );
            let m = test_message(b"x", 1);
            assert_status!(drift_message_payload(m, null_mut(), &mut len), NullArgument);
            assert_status!(
                drift_message_payload(m, &mut data, null_mut()),
                NullArgument
            );
            drift_message_free(m);
            assert_eq!(drift_message_seq(null()), 0);
            assert_eq!(drift_message_epoch(null()), 0);
            assert_eq!(drift_message_time_us(null()), 0);
            assert_status!(
                drift_message_gap(null(), null_mut(), null_mut(), null_mut()),
                NullArgument
            );
            assert!(drift_message_end_reason(null()).is_null());
            drift_message_free(null_mut());
        }
    }

    #[test]
    fn lent_messages_cannot_be_freed() {
        let msg = drift_message::from_event(SubscriptionEvent::End(EndReason::Shutdown));
        lend(&msg, |p| {
            // SAFETY: p is lent and live for this closure.
            unsafe {
                assert_eq!(drift_message_kind(p), drift_kind::End);
                drift_message_free(p.cast_mut());
            }
            assert_status!(last_error_status(), InvalidArgument);
            assert!(
                String::from_utf8(crate::boundary::last_error_bytes())
                    .unwrap()
                    .contains("lent to a callback")
            );
        });
        // SAFETY: after lending the pointer is no longer accepted.
        assert_eq!(unsafe { drift_message_kind(&msg) }, drift_kind::None);
    }

    #[test]
    fn every_gap_reason_has_a_c_value_and_word() {
        for (n, reason) in GAP_REASONS.iter().enumerate() {
            assert_eq!(gap_reason(*reason) as usize, n + 1, "{reason:?}");
            // SAFETY: static C strings.
            let word = unsafe { CStr::from_ptr(drift_gap_reason_str(n as u32 + 1)) };
            assert_eq!(word.to_str().unwrap(), reason.as_str());
        }
    }

    #[test]
    fn gap_reason_words() {
        for (n, word) in [
            (0, "none"),
            (1, "expired"),
            (2, "epoch"),
            (3, "dropped"),
            (9, "unknown"),
            (255, "other"),
        ] {
            // SAFETY: static C strings.
            let got = unsafe { CStr::from_ptr(drift_gap_reason_str(n)) };
            assert_eq!(got.to_str().unwrap(), word);
        }
    }
}
