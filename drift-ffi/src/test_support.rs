//! What the crate's tests share: an in-process h2c server and a client of
//! it, made through the C API itself.

use std::ptr::{null, null_mut};

use crate::client::{drift_client, drift_client_new};
use crate::server::{drift_server, drift_server_start, drift_server_url};
use crate::server_config::{
    drift_server_config, drift_server_config_free, drift_server_config_new,
    drift_server_config_set_h2c,
};
use crate::status::drift_status;

/// Starts an h2c server on a free port of 127.0.0.1, with `configure`
/// applied to its configuration first. Free it with `drift_server_free`.
pub(crate) fn h2c_server(configure: impl FnOnce(*mut drift_server_config)) -> *mut drift_server {
    // SAFETY: a live configuration from libdrift and a local out-param.
    unsafe {
        let cfg = drift_server_config_new();
        assert_eq!(drift_server_config_set_h2c(cfg, true), drift_status::Ok);
        configure(cfg);
        let mut server = null_mut();
        assert_eq!(drift_server_start(cfg, &mut server), drift_status::Ok);
        drift_server_config_free(cfg);
        server
    }
}

/// A client of `server` with the default options. Free it with
/// `drift_client_free`.
///
/// # Safety
///
/// `server` is a live server from libdrift.
pub(crate) unsafe fn client_of(server: *const drift_server) -> *mut drift_client {
    let mut client = null_mut();
    // SAFETY: the caller promised a live server; its URL is a C string.
    let status = unsafe { drift_client_new(drift_server_url(server), null(), &mut client) };
    assert_eq!(status, drift_status::Ok);
    client
}

/// An h2c server with the defaults and a client of it, for tests that
/// publish and subscribe. Free both (`drift_client_free`,
/// `drift_server_free`).
pub(crate) fn h2c_server_and_client() -> (*mut drift_server, *mut drift_client) {
    let server = h2c_server(|_| {});
    // SAFETY: just started, so live.
    (server, unsafe { client_of(server) })
}
