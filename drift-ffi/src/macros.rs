//! The boundary macros every export's body runs in (see [`crate::boundary`]).
//! Declared first in lib.rs so that every module sees them.

/// Runs the body inside the panic boundary; a panic returns the return
/// type's [`PanicDefault`](crate::boundary::PanicDefault).
macro_rules! ffi_boundary {
    ($($body:tt)*) => {
        $crate::boundary::catch(move || { $($body)* })
    };
}

/// Runs a body returning `FfiResult<()>` inside the panic boundary and
/// turns it into a `drift_status`.
macro_rules! ffi_status {
    ($($body:tt)*) => {
        $crate::boundary::catch_status(move || -> $crate::boundary::FfiResult<()> { $($body)* })
    };
}

/// Runs a body returning `FfiResult<T>` inside the panic boundary; failure
/// records the last error and returns `default`.
macro_rules! ffi_value {
    ($default:expr; $($body:tt)*) => {
        $crate::boundary::catch_value($default, move || { $($body)* })
    };
}

/// In tests: asserts that a C call returns the status named, e.g.
/// `assert_status!(drift_client_free_thing(NULL), NullArgument)`, and names
/// the call when it does not.
#[cfg(test)]
macro_rules! assert_status {
    ($call:expr, $status:ident $(,)?) => {
        assert_eq!(
            $call,
            $crate::status::drift_status::$status,
            "{}",
            stringify!($call)
        )
    };
}
