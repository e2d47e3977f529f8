//! The ABI boundary: panic catching, the thread-local last error, and the
//! checks that turn raw C arguments into Rust values.
//!
//! Every exported function's body runs inside one of three macros:
//! - `ffi_status!`: the body returns
//!   `FfiResult<()>`; an `Err` becomes its status (and the last error), a
//!   panic becomes `DRIFT_STATUS_PANIC`;
//! - `ffi_value!`: the body returns `FfiResult<T>`; an
//!   `Err` or a panic records the last error and returns the given default;
//! - `ffi_boundary!`: the body returns `T` directly;
//!   a panic returns `T`'s [`PanicDefault`].

use std::any::Any;
use std::cell::RefCell;
use std::ffi::{CStr, CString, c_char};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr::NonNull;

use drift_core::MessageId;

use crate::status::drift_status;

/// Why a call failed: the status it returns and the message the thread's
/// last error will hold.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) status: drift_status,
    pub(crate) message: String,
}

/// The result type of function bodies inside the boundary macros.
pub(crate) type FfiResult<T> = Result<T, Failure>;

/// A C duration in milliseconds where 0 means "none".
pub(crate) fn millis_or_none(ms: u64) -> Option<std::time::Duration> {
    (ms > 0).then(|| std::time::Duration::from_millis(ms))
}

// ===== impl Failure =====

impl Failure {
    pub(crate) fn new(status: drift_status, message: impl Into<String>) -> Failure {
        Failure {
            status,
            message: message.into(),
        }
    }

    /// A required pointer argument was NULL.
    pub(crate) fn null(what: impl std::fmt::Display) -> Failure {
        Failure::new(
            drift_status::NullArgument,
            format!("{what} must not be NULL"),
        )
    }

    /// A malformed argument.
    pub(crate) fn invalid(message: impl Into<String>) -> Failure {
        Failure::new(drift_status::InvalidArgument, message)
    }

    /// Makes this the calling thread's last error.
    pub(crate) fn record(self) -> drift_status {
        let status = self.status;
        set_last_error(status, &self.message);
        status
    }
}

impl From<drift_core::Error> for Failure {
    fn from(e: drift_core::Error) -> Failure {
        Failure::new(drift_status::from_kind(e.kind()), e.to_string())
    }
}

// ===== the last error =====

struct LastError {
    status: drift_status,
    message: CString,
}

thread_local! {
    static LAST_ERROR: RefCell<LastError> = RefCell::new(LastError {
        status: drift_status::Ok,
        message: CString::default(),
    });
}

/// Replaces the calling thread's last error.
pub(crate) fn set_last_error(status: drift_status, message: &str) {
    // A C string cannot hold NUL: show any as an escape instead of cutting
    // the message short.
    let message = CString::new(message.replace('\0', "\\0")).unwrap_or_default();
    // The thread-local is gone only while the thread itself is exiting; an
    // error that happens then has no one left to read it.
    let _ = LAST_ERROR.try_with(|last| {
        if let Ok(mut last) = last.try_borrow_mut() {
            *last = LastError { status, message };
        }
    });
}

/// The calling thread's last error message, as owned text (for the Rust
/// tests and the copying accessor).
pub(crate) fn last_error_bytes() -> Vec<u8> {
    LAST_ERROR
        .try_with(|last| {
            last.try_borrow()
                .map(|l| l.message.as_bytes().to_vec())
                .unwrap_or_default()
        })
        .unwrap_or_default()
}

/// The status of the calling thread's last failed call.
pub(crate) fn last_error_status() -> drift_status {
    LAST_ERROR
        .try_with(|last| {
            last.try_borrow()
                .map(|l| l.status)
                .unwrap_or(drift_status::Ok)
        })
        .unwrap_or(drift_status::Ok)
}

/// A description of the calling thread's last failed libdrift call, e.g.
/// `"topic must not be NULL"` or `"cannot connect to 127.0.0.1:5500: …"`;
/// an empty string when no call on this thread has failed yet.
///
/// Every call that fails (returns a status other than `DRIFT_STATUS_OK`, or
/// NULL/0/false where that signals an error) replaces it; calls that succeed
/// leave it alone, so read it right after the failing call. The text is for
/// people and may change between versions: branch on the status, not on it.
///
/// The string is owned by libdrift and stays valid until the next failing
/// libdrift call on this thread, or until the thread exits; never free it,
/// copy it to keep it. Any thread may call this: each has its own last error.
#[unsafe(no_mangle)]
pub extern "C" fn drift_last_error() -> *const c_char {
    ffi_boundary! {
        LAST_ERROR
            .try_with(|last| match last.try_borrow() {
                // The CString's heap buffer does not move until the next
                // set_last_error replaces it, which is what the docs promise.
                Ok(l) => l.message.as_ptr(),
                Err(_) => c"".as_ptr(),
            })
            .unwrap_or(c"".as_ptr())
    }
}

/// The status of the calling thread's last failed libdrift call
/// (`DRIFT_STATUS_OK` when none has failed). Any thread may call this.
#[unsafe(no_mangle)]
pub extern "C" fn drift_last_error_status() -> drift_status {
    ffi_boundary! { last_error_status() }
}

/// Copies the calling thread's last error message (see `drift_last_error`)
/// into `buf`, `snprintf`-style.
///
/// At most `len - 1` bytes and a terminating NUL are written; `buf` may be
/// NULL when `len` is 0. `*out_len` receives the full length of the message
/// without the NUL, so `*out_len >= len` means it was truncated. Returns
/// `DRIFT_STATUS_NULL_ARGUMENT` when `out_len` is NULL, or `buf` is NULL with
/// `len > 0`. This call does not change the last error when it succeeds.
/// Any thread may call this.
///
/// # Safety
///
/// `buf` must point to `len` writable bytes (or be NULL with `len == 0`) and
/// `out_len` to a writable `size_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_last_error_message(
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> drift_status {
    ffi_status! {
        if out_len.is_null() {
            return Err(Failure::null("out_len"));
        }
        if buf.is_null() && len > 0 {
            return Err(Failure::null("buf"));
        }
        let message = last_error_bytes();
        if len > 0 {
            let n = message.len().min(len - 1);
            // SAFETY: the caller promised `len` writable bytes at `buf`, and
            // n + 1 <= len; the source is our own Vec, so they don't overlap.
            unsafe {
                std::ptr::copy_nonoverlapping(message.as_ptr(), buf.cast::<u8>(), n);
                buf.add(n).write(0);
            }
        }
        // SAFETY: checked non-NULL above; the caller promised it is writable.
        unsafe { out_len.write(message.len()) };
        Ok(())
    }
}

// ===== panics =====

/// What an export returns when its body panicked.
pub(crate) trait PanicDefault {
    fn panic_default() -> Self;
}

impl PanicDefault for drift_status {
    fn panic_default() -> Self {
        drift_status::Panic
    }
}

impl<T> PanicDefault for *mut T {
    fn panic_default() -> Self {
        std::ptr::null_mut()
    }
}

impl<T> PanicDefault for *const T {
    fn panic_default() -> Self {
        std::ptr::null()
    }
}

macro_rules! zero_default {
    ($($t:ty),*) => {$(
        impl PanicDefault for $t {
            fn panic_default() -> Self {
                Default::default()
            }
        }
    )*};
}

zero_default!((), bool, u16, u32, u64, usize, i64);

impl PanicDefault for crate::message::drift_kind {
    fn panic_default() -> Self {
        crate::message::drift_kind::None
    }
}

impl PanicDefault for crate::message::drift_gap_reason {
    fn panic_default() -> Self {
        crate::message::drift_gap_reason::None
    }
}

fn panic_text(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "(no message)"
    }
}

/// Runs `f`, turning a panic into `R`'s default and the last error
/// `DRIFT_STATUS_PANIC`. Used by the macros; not directly.
pub(crate) fn catch<R: PanicDefault>(f: impl FnOnce() -> R) -> R {
    // Unwind safety: after a panic the objects `f` touched may be in a
    // half-updated state. Their mutexes recover from poisoning and the
    // status tells the caller a bug happened, which is all C can act on.
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => {
            set_last_error(
                drift_status::Panic,
                &format!("libdrift panicked (a bug): {}", panic_text(&*payload)),
            );
            R::panic_default()
        }
    }
}

/// [`catch`] for bodies that return a status.
pub(crate) fn catch_status(f: impl FnOnce() -> FfiResult<()>) -> drift_status {
    catch(|| match f() {
        Ok(()) => drift_status::Ok,
        Err(failure) => failure.record(),
    })
}

/// [`catch`] for bodies that return a value, with `default` on failure.
pub(crate) fn catch_value<T: PanicDefault>(default: T, f: impl FnOnce() -> FfiResult<T>) -> T {
    catch(|| match f() {
        Ok(v) => v,
        Err(failure) => {
            failure.record();
            default
        }
    })
}

// ===== arguments =====

/// A required NUL-terminated UTF-8 string argument.
///
/// # Safety
///
/// `p` is NULL or points to a NUL-terminated string that outlives `'a` and
/// is not written to meanwhile.
pub(crate) unsafe fn str_arg<'a>(p: *const c_char, what: &str) -> FfiResult<&'a str> {
    if p.is_null() {
        return Err(Failure::null(what));
    }
    // SAFETY: non-NULL, and the caller promised a NUL-terminated string that
    // lives long enough.
    let s = unsafe { CStr::from_ptr(p) };
    s.to_str()
        .map_err(|e| Failure::invalid(format!("{what} is not valid UTF-8: {e}")))
}

/// An optional string argument: NULL is `None`.
///
/// # Safety
///
/// As for [`str_arg`].
pub(crate) unsafe fn opt_str_arg<'a>(p: *const c_char, what: &str) -> FfiResult<Option<&'a str>> {
    if p.is_null() {
        return Ok(None);
    }
    // SAFETY: forwarded from the caller.
    unsafe { str_arg(p, what) }.map(Some)
}

/// A `(data, len)` byte argument. `data` may be NULL when `len` is 0.
/// `what` names it in an error and is formatted only then (a
/// `format_args!` costs nothing on success).
///
/// # Safety
///
/// `data` is NULL or points to `len` readable bytes that outlive `'a` and
/// are not written to meanwhile.
pub(crate) unsafe fn bytes_arg<'a>(
    data: *const u8,
    len: usize,
    what: impl std::fmt::Display,
) -> FfiResult<&'a [u8]> {
    if len == 0 {
        return Ok(&[]);
    }
    if data.is_null() {
        return Err(Failure::null(what));
    }
    if len > isize::MAX as usize {
        return Err(Failure::invalid(format!(
            "{what}: length {len} is too large"
        )));
    }
    // SAFETY: non-NULL, len fits isize, and the caller promised len readable
    // bytes that live long enough.
    Ok(unsafe { std::slice::from_raw_parts(data, len) })
}

/// A required out-parameter: refused when NULL as soon as it is made,
/// before any work is done (so that a NULL out-parameter never loses a
/// result), and written once, on success.
pub(crate) struct Out<T>(NonNull<T>);

impl<T> Out<T> {
    /// # Safety
    ///
    /// `p` is NULL or valid for a write of `T` until the export returns.
    pub(crate) unsafe fn new(p: *mut T, what: &str) -> FfiResult<Out<T>> {
        NonNull::new(p).map(Out).ok_or_else(|| Failure::null(what))
    }

    /// Writes the result; `Ok(())`, so that it can end a body.
    pub(crate) fn write(self, value: T) -> FfiResult<()> {
        // SAFETY: non-NULL, and writable as promised to `Out::new`.
        unsafe { self.0.as_ptr().write(value) };
        Ok(())
    }
}

/// Writes an optional out-parameter: nothing when it is NULL.
///
/// # Safety
///
/// `p` is NULL or valid for a write of `T`.
pub(crate) unsafe fn write_out<T>(p: *mut T, value: T) {
    if !p.is_null() {
        // SAFETY: non-NULL, and the caller promised it is writable.
        unsafe { p.write(value) };
    }
}

/// Writes a message id to the optional out-parameters `seq` and `epoch`.
///
/// # Safety
///
/// Each is NULL or valid for a write of a `u64`.
pub(crate) unsafe fn write_id(seq: *mut u64, epoch: *mut u64, id: MessageId) {
    // SAFETY: forwarded from the caller.
    unsafe {
        write_out(seq, id.seq);
        write_out(epoch, id.epoch);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    extern "C" fn panics_with_status() -> drift_status {
        ffi_status! {
            panic!("boom");
        }
    }

    extern "C" fn panics_with_pointer() -> *const u8 {
        ffi_boundary! {
            panic!("{}", String::from("pointer boom"));
        }
    }

    extern "C" fn panics_with_value() -> u64 {
        ffi_value! { 7; panic!("value boom") }
    }

    #[test]
    fn panics_stop_at_the_boundary() {
        assert_status!(panics_with_status(), Panic);
        assert_status!(last_error_status(), Panic);
        assert_eq!(
            String::from_utf8(last_error_bytes()).unwrap(),
            "libdrift panicked (a bug): boom"
        );
        assert!(panics_with_pointer().is_null());
        assert!(
            String::from_utf8(last_error_bytes())
                .unwrap()
                .ends_with("pointer boom")
        );
        assert_eq!(panics_with_value(), 0);
    }

    #[test]
    fn last_error_copies_like_snprintf() {
        set_last_error(drift_status::NotFound, "topic \"x\" does not exist");
        let full = "topic \"x\" does not exist";
        let mut n = 0usize;
        // SAFETY: measuring: NULL buffer with len 0, valid out_len.
        let s = unsafe { drift_last_error_message(std::ptr::null_mut(), 0, &mut n) };
        assert_eq!((s, n), (drift_status::Ok, full.len()));
        let mut buf = [0x55 as c_char; 8];
        // SAFETY: buf holds 8 bytes.
        let s = unsafe { drift_last_error_message(buf.as_mut_ptr(), buf.len(), &mut n) };
        assert_eq!((s, n), (drift_status::Ok, full.len()));
        // SAFETY: the function NUL-terminated it.
        let got = unsafe { CStr::from_ptr(buf.as_ptr()) };
        assert_eq!(got.to_str().unwrap(), &full[..7]);
        // Success did not replace the last error.
        assert_status!(last_error_status(), NotFound);
        // SAFETY: drift_last_error returns a valid C string.
        let borrowed = unsafe { CStr::from_ptr(drift_last_error()) };
        assert_eq!(borrowed.to_str().unwrap(), full);
    }

    #[test]
    fn last_error_rejects_null() {
        // SAFETY: NULL out_len is the case under test.
        let s = unsafe { drift_last_error_message(std::ptr::null_mut(), 0, std::ptr::null_mut()) };
        assert_status!(s, NullArgument);
        assert_eq!(
            String::from_utf8(last_error_bytes()).unwrap(),
            "out_len must not be NULL"
        );
        let mut n = 0;
        // SAFETY: NULL buf with len > 0 is the case under test.
        let s = unsafe { drift_last_error_message(std::ptr::null_mut(), 4, &mut n) };
        assert_status!(s, NullArgument);
    }

    #[test]
    fn last_error_is_per_thread_and_keeps_nul_visible() {
        set_last_error(drift_status::Io, "a\0b");
        assert_eq!(last_error_bytes(), b"a\\0b");
        std::thread::spawn(|| {
            assert_status!(last_error_status(), Ok);
            assert!(last_error_bytes().is_empty());
        })
        .join()
        .unwrap();
    }

    #[test]
    fn out_parameters_refuse_null_and_are_written_once() {
        let mut n = 0u64;
        // SAFETY: NULL, then a local that outlives the Out.
        unsafe {
            let e = Out::new(std::ptr::null_mut::<u64>(), "out_n")
                .err()
                .unwrap();
            assert_eq!(e.status, drift_status::NullArgument);
            assert_eq!(e.message, "out_n must not be NULL");
            Out::new(&raw mut n, "out_n").unwrap().write(7).unwrap();
            let (mut seq, mut epoch) = (0, 0);
            write_id(
                &raw mut seq,
                std::ptr::null_mut(),
                MessageId { epoch: 2, seq: 3 },
            );
            write_id(
                std::ptr::null_mut(),
                &raw mut epoch,
                MessageId { epoch: 2, seq: 3 },
            );
            assert_eq!((seq, epoch), (3, 2));
        }
        assert_eq!(n, 7);
    }

    #[test]
    fn string_arguments_are_checked() {
        // SAFETY: NULL is allowed input.
        let e = unsafe { str_arg(std::ptr::null(), "topic") }.unwrap_err();
        assert_eq!(e.status, drift_status::NullArgument);
        let bad = c"\xff\xfe";
        // SAFETY: a valid C string.
        let e = unsafe { str_arg(bad.as_ptr(), "topic") }.unwrap_err();
        assert_eq!(e.status, drift_status::InvalidArgument);
        // SAFETY: NULL is allowed input.
        assert_eq!(unsafe { opt_str_arg(std::ptr::null(), "x") }.unwrap(), None);
        // SAFETY: NULL with len 0 is allowed; NULL with len 1 is rejected.
        unsafe {
            assert_eq!(bytes_arg(std::ptr::null(), 0, "data").unwrap(), b"");
            assert_status!(
                bytes_arg(std::ptr::null(), 1, "data").unwrap_err().status,
                NullArgument
            );
        }
    }
}
