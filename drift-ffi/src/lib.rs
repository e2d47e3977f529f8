//! libdrift: the C ABI of Drift.
//!
//! C programs (and any language with a C FFI) link `libdrift.so` or
//! `libdrift.a` and include `include/drift.h`, which cbindgen generates from
//! this crate. The API runs a Drift server in-process, and publishes and
//! subscribes as a client; docs/C-API.md states its conventions.
//!
//! Layout (one C "class" per file, as in rustls-ffi):
//! - `boundary`: panic catching, the thread-local last error, argument checks
//!   (and `macros`, the boundary macros every export's body runs in);
//! - `handle`: the registry of live handles (type and double-free checks);
//! - [`status`]: `drift_status` and the one `ErrorKind` mapping;
//! - [`server`], [`client`], [`subscription`], [`message`]: the API.
//!
//! No protocol logic lives here: everything is drift-core, converted.
#![allow(non_camel_case_types)]
#![deny(missing_docs, missing_debug_implementations)]
#![deny(clippy::undocumented_unsafe_blocks, clippy::missing_safety_doc)]

#[macro_use]
mod macros;
mod boundary;
pub mod client;
mod handle;
pub mod message;
pub mod server;
pub mod server_auth;
pub mod server_config;
mod signals;
pub mod status;
pub mod subscription;
#[cfg(test)]
mod test_support;

use std::ffi::c_char;

pub use boundary::{drift_last_error, drift_last_error_message, drift_last_error_status};
pub use client::{drift_client, drift_client_options};
pub use message::{drift_gap_reason, drift_kind, drift_message};
pub use server::drift_server;
pub use server_config::drift_server_config;
pub use status::drift_status;
pub use subscription::{
    drift_message_callback, drift_slow_policy, drift_subscribe_options, drift_subscription,
};

/// The library version as `"MAJOR.MINOR.PATCH"`, the same as the
/// `DRIFT_VERSION_*` macros of the header it was built with (compare them
/// to detect a header/library mismatch). The string is static. Any thread
/// may call this.
#[unsafe(no_mangle)]
pub extern "C" fn drift_version() -> *const c_char {
    const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");
    ffi_boundary! { VERSION.as_ptr().cast::<c_char>() }
}

#[cfg(test)]
mod tests {
    use std::ffi::CStr;

    #[test]
    fn version_matches_the_crate() {
        // SAFETY: a static C string.
        let v = unsafe { CStr::from_ptr(super::drift_version()) };
        assert_eq!(v.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
    }
}
