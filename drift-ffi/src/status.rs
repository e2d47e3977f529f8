//! `drift_status`: the result of every fallible call, and the one mapping
//! from drift-core's [`ErrorKind`] to it.

use std::ffi::c_char;

use drift_core::ErrorKind;

/// The result of every fallible libdrift call.
///
/// The numbers are stable: a value keeps its meaning in every future version
/// and a retired value is never reused. New values may be added, so handle
/// unknown ones (e.g. with `default:`) and print them with
/// `drift_status_str`. A call that returns anything but `DRIFT_STATUS_OK`
/// has written none of its out-parameters and has set the calling thread's
/// last error (`drift_last_error`).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum drift_status {
    /// Success.
    Ok = 0,
    /// A required pointer argument was NULL.
    NullArgument = 1,
    /// An argument was malformed: not UTF-8, a bad topic name, URL, header,
    /// address or JSON config, a handle of the wrong type or already freed,
    /// or the call does not apply to this object.
    InvalidArgument = 2,
    /// The topic does not exist.
    NotFound = 3,
    /// The request conflicts with existing state (e.g. a topic config differs).
    Conflict = 4,
    /// A message or request is larger than a configured limit.
    TooLarge = 5,
    /// A server limit is reached, or the server is shutting down.
    Unavailable = 6,
    /// The server's authorisation refused the operation.
    Forbidden = 7,
    /// Credentials are missing or invalid.
    Unauthorized = 8,
    /// A connection could not be made, or it broke; or a listen address is in use.
    Connect = 9,
    /// TLS set-up or handshake failed (bad certificate, untrusted server).
    Tls = 10,
    /// Nothing arrived in time (e.g. `drift_subscription_next` timed out).
    Timeout = 11,
    /// The peer does not speak the Drift protocol.
    Protocol = 12,
    /// The subscription, client or server is closed.
    Closed = 13,
    /// Reading a local file or socket failed.
    Io = 14,
    /// The server answered with an unexpected HTTP status.
    Http = 15,
    /// A bug in libdrift: an invariant did not hold.
    Internal = 16,
    /// A bug in libdrift: it panicked. The panic was caught at the boundary
    /// and did not unwind into C; the object involved may be unusable.
    Panic = 17,
    /// The server's topic store failed: its data directory cannot be used
    /// (foreign, unreadable, in use by another server) or a write failed.
    Storage = 18,
    /// The server's topic store has no space left (HTTP 507).
    StorageFull = 19,
    /// A quota of the caller's connection or subject (a token's `sub`) is
    /// used up: subscriptions open, topics created, or publish rate (HTTP
    /// 429); the last error names the quota, and a rate one says when to
    /// try again.
    QuotaExceeded = 20,
}

/// Every status, in numeric order (for tests and `drift_status_str`).
pub(crate) const ALL_STATUSES: [drift_status; 21] = [
    drift_status::Ok,
    drift_status::NullArgument,
    drift_status::InvalidArgument,
    drift_status::NotFound,
    drift_status::Conflict,
    drift_status::TooLarge,
    drift_status::Unavailable,
    drift_status::Forbidden,
    drift_status::Unauthorized,
    drift_status::Connect,
    drift_status::Tls,
    drift_status::Timeout,
    drift_status::Protocol,
    drift_status::Closed,
    drift_status::Io,
    drift_status::Http,
    drift_status::Internal,
    drift_status::Panic,
    drift_status::Storage,
    drift_status::StorageFull,
    drift_status::QuotaExceeded,
];

// ===== impl drift_status =====

impl drift_status {
    /// The status a drift-core error kind maps to. The only place that
    /// branches on [`ErrorKind`].
    pub(crate) fn from_kind(kind: ErrorKind) -> drift_status {
        match kind {
            ErrorKind::InvalidInput => drift_status::InvalidArgument,
            ErrorKind::NotFound => drift_status::NotFound,
            ErrorKind::Conflict => drift_status::Conflict,
            ErrorKind::TooLarge => drift_status::TooLarge,
            ErrorKind::Unavailable => drift_status::Unavailable,
            ErrorKind::Forbidden => drift_status::Forbidden,
            ErrorKind::Unauthorized => drift_status::Unauthorized,
            ErrorKind::Connect => drift_status::Connect,
            ErrorKind::Tls => drift_status::Tls,
            ErrorKind::Timeout => drift_status::Timeout,
            ErrorKind::Protocol => drift_status::Protocol,
            ErrorKind::Closed => drift_status::Closed,
            ErrorKind::Io => drift_status::Io,
            ErrorKind::Http => drift_status::Http,
            ErrorKind::Internal => drift_status::Internal,
            ErrorKind::Storage => drift_status::Storage,
            ErrorKind::StorageFull => drift_status::StorageFull,
            ErrorKind::QuotaExceeded => drift_status::QuotaExceeded,
            // ErrorKind is non-exhaustive: a kind added to drift-core before
            // this match learns it is reported as a bug rather than guessed.
            _ => drift_status::Internal,
        }
    }

    /// The status with this number, if there is one.
    pub(crate) fn from_u32(n: u32) -> Option<drift_status> {
        ALL_STATUSES.get(n as usize).copied()
    }

    /// The constant name without the `DRIFT_STATUS_` prefix, NUL-terminated.
    fn name(self) -> &'static [u8] {
        match self {
            drift_status::Ok => b"OK\0",
            drift_status::NullArgument => b"NULL_ARGUMENT\0",
            drift_status::InvalidArgument => b"INVALID_ARGUMENT\0",
            drift_status::NotFound => b"NOT_FOUND\0",
            drift_status::Conflict => b"CONFLICT\0",
            drift_status::TooLarge => b"TOO_LARGE\0",
            drift_status::Unavailable => b"UNAVAILABLE\0",
            drift_status::Forbidden => b"FORBIDDEN\0",
            drift_status::Unauthorized => b"UNAUTHORIZED\0",
            drift_status::Connect => b"CONNECT\0",
            drift_status::Tls => b"TLS\0",
            drift_status::Timeout => b"TIMEOUT\0",
            drift_status::Protocol => b"PROTOCOL\0",
            drift_status::Closed => b"CLOSED\0",
            drift_status::Io => b"IO\0",
            drift_status::Http => b"HTTP\0",
            drift_status::Internal => b"INTERNAL\0",
            drift_status::Panic => b"PANIC\0",
            drift_status::Storage => b"STORAGE\0",
            drift_status::StorageFull => b"STORAGE_FULL\0",
            drift_status::QuotaExceeded => b"QUOTA_EXCEEDED\0",
        }
    }
}

/// The name of a status without its prefix, e.g. `"NOT_FOUND"` for
/// `DRIFT_STATUS_NOT_FOUND`, or `"UNKNOWN"` for a number this version does
/// not know.
///
/// `status` is a `drift_status` value (passed as its integer type so that any
/// number is safe). The returned string is static: never free it; it stays
/// valid for the life of the process. Any thread may call this.
#[unsafe(no_mangle)]
pub extern "C" fn drift_status_str(status: u32) -> *const c_char {
    ffi_boundary! {
        let name: &'static [u8] = match drift_status::from_u32(status) {
            Some(s) => s.name(),
            None => b"UNKNOWN\0",
        };
        name.as_ptr().cast::<c_char>()
    }
}

#[cfg(test)]
mod tests {
    use std::ffi::CStr;

    use super::*;

    #[test]
    fn numbers_are_stable_and_dense() {
        for (i, s) in ALL_STATUSES.iter().enumerate() {
            assert_eq!(*s as u32, i as u32);
            assert_eq!(drift_status::from_u32(i as u32), Some(*s));
        }
        assert_eq!(drift_status::Ok as u32, 0);
        assert_eq!(drift_status::Panic as u32, 17);
        assert_eq!(drift_status::StorageFull as u32, 19);
        assert_eq!(drift_status::QuotaExceeded as u32, 20);
        assert_eq!(drift_status::from_u32(21), None);
    }

    #[test]
    fn every_status_has_a_static_name() {
        for s in ALL_STATUSES {
            // SAFETY: drift_status_str returns a static NUL-terminated string.
            let name = unsafe { CStr::from_ptr(drift_status_str(s as u32)) };
            let name = name.to_str().unwrap();
            let debug = format!("{s:?}");
            // The name is the SCREAMING_SNAKE_CASE form of the variant.
            assert_eq!(name.replace('_', ""), debug.to_uppercase(), "{s:?}");
        }
        // SAFETY: as above.
        let unknown = unsafe { CStr::from_ptr(drift_status_str(9999)) };
        assert_eq!(unknown.to_str().unwrap(), "UNKNOWN");
    }

    #[test]
    fn every_error_kind_maps() {
        use drift_status as S;
        let cases = [
            (ErrorKind::InvalidInput, S::InvalidArgument),
            (ErrorKind::NotFound, S::NotFound),
            (ErrorKind::Conflict, S::Conflict),
            (ErrorKind::TooLarge, S::TooLarge),
            (ErrorKind::Unavailable, S::Unavailable),
            (ErrorKind::Forbidden, S::Forbidden),
            (ErrorKind::Unauthorized, S::Unauthorized),
            (ErrorKind::Connect, S::Connect),
            (ErrorKind::Tls, S::Tls),
            (ErrorKind::Timeout, S::Timeout),
            (ErrorKind::Protocol, S::Protocol),
            (ErrorKind::Closed, S::Closed),
            (ErrorKind::Io, S::Io),
            (ErrorKind::Http, S::Http),
            (ErrorKind::Internal, S::Internal),
            (ErrorKind::Storage, S::Storage),
            (ErrorKind::StorageFull, S::StorageFull),
            (ErrorKind::QuotaExceeded, S::QuotaExceeded),
        ];
        for (kind, status) in cases {
            assert_eq!(drift_status::from_kind(kind), status, "{kind:?}");
        }
        // Each kind has its own status (the mapping loses nothing).
        let mut seen = std::collections::HashMap::new();
        for (kind, _) in cases {
            let status = drift_status::from_kind(kind);
            if let Some(other) = seen.insert(status, kind) {
                panic!("{kind:?} and {other:?} both map to {status:?}");
            }
        }
    }
}
