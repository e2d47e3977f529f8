//! `drift_server`: a Drift server running inside the C program. The server
//! itself is drift-core's `BackgroundServer`; this file holds the handle,
//! converts its strings for C and maps errors.

use std::ffi::{CString, c_char};
use std::path::Path;
use std::sync::OnceLock;

use drift_core::server::BackgroundServer;

use crate::boundary::{Failure, FfiResult, Out};
use crate::handle::{self, Handle, Kind};
use crate::server_config::drift_server_config;
use crate::status::drift_status;

/// A Drift server running in this process: it listens, accepts and serves on
/// threads of its own while the C program goes on: one accepts connections
/// (named `drift-server`) and hands them to connection threads (`drift-io-N`,
/// see `drift_server_config_set_threads`). Start it with
/// `drift_server_start`; stop it with `drift_server_stop` and free it with
/// `drift_server_free` (which also stops it).
///
/// Owned by the caller. Every function on it may be called from any thread,
/// also concurrently, except `drift_server_free`, which must be the last
/// call. Strings read from it are valid until it is freed.
#[derive(Debug)]
pub struct drift_server {
    server: BackgroundServer,
    url: CString,
    ca_pem: Option<CString>,
    cert_path: Option<CString>,
    /// `drift_server_ca_cert_path`'s answer, made by its first call.
    ca_path: OnceLock<Option<CString>>,
}

impl Handle for drift_server {
    const KIND: Kind = Kind::Server;
}

// ===== impl drift_server =====

impl drift_server {
    fn start(config: &drift_server_config) -> FfiResult<drift_server> {
        let server = BackgroundServer::start(config.to_core()?)?;
        Ok(drift_server {
            url: cstring(server.url().as_bytes())?,
            ca_pem: server
                .ca_cert_pem()
                .map(str::as_bytes)
                .map(cstring)
                .transpose()?,
            cert_path: server.cert_path().map(path_cstring).transpose()?,
            ca_path: OnceLock::new(),
            server,
        })
    }

    fn ca_path(&self) -> FfiResult<*const c_char> {
        if self.ca_path.get().is_none() {
            let path = self.server.ca_cert_path()?.map(path_cstring).transpose()?;
            // Another thread may have set it meanwhile, to the same path.
            let _ = self.ca_path.set(path);
        }
        Ok(opt_ptr(self.ca_path.get().and_then(Option::as_ref)))
    }
}

fn cstring(bytes: &[u8]) -> FfiResult<CString> {
    CString::new(bytes).map_err(|_| Failure::invalid("NUL in a server string"))
}

/// A path as C text: its bytes on Unix, whatever they are.
fn path_cstring(path: &Path) -> FfiResult<CString> {
    #[cfg(unix)]
    let bytes = std::os::unix::ffi::OsStrExt::as_bytes(path.as_os_str()).to_vec();
    #[cfg(not(unix))]
    let bytes = path.to_string_lossy().into_owned().into_bytes();
    cstring(&bytes)
}

/// The pointer to hand out for a string the server may not have.
fn opt_ptr(s: Option<&CString>) -> *const c_char {
    s.map_or(std::ptr::null(), |s| s.as_ptr())
}

/// Starts a server: loads or generates its certificate, binds, and serves
/// on threads of its own until stopped. `config` may be NULL for the
/// defaults; it is only read during the call (free it whenever you like).
///
/// On success `*out` receives the server, owned by the caller, who frees it
/// with `drift_server_free`. Fails with `DRIFT_STATUS_CONNECT` when the
/// address cannot be bound (e.g. the port is in use),
/// `DRIFT_STATUS_IO`/`DRIFT_STATUS_TLS` for an unreadable or unusable
/// certificate. Any thread may call this.
///
/// # Safety
///
/// `config` is NULL or a live configuration not being changed by another
/// thread; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_server_start(
    config: *const drift_server_config,
    out: *mut *mut drift_server,
) -> drift_status {
    ffi_status! {
        // SAFETY: the caller promised NULL or a writable pointer.
        let out = unsafe { Out::new(out, "out") }?;
        // SAFETY: checked by the registry (NULL: the defaults); the caller
        // keeps it alive.
        let config = unsafe { handle::borrow_or_default(config, "config") }?;
        crate::signals::ignore_sigpipe();
        out.give(drift_server::start(&config)?)
    }
}

/// The base URL clients use: `"https://127.0.0.1:PORT"` (or `http://` with
/// h2c), with the port actually bound. NULL if `server` is NULL or invalid.
/// The string is owned by the server and valid until `drift_server_free`;
/// it stays readable after `drift_server_stop`. Any thread may call this.
///
/// # Safety
///
/// `server` is NULL or a pointer from libdrift.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_server_url(server: *const drift_server) -> *const c_char {
    ffi_value! { std::ptr::null();
        // SAFETY: checked by the registry; the caller keeps it alive.
        let server = unsafe { handle::borrow(server, "server") }?;
        Ok(server.url.as_ptr())
    }
}

/// The TCP port the server is bound to (useful after listening on port 0);
/// 0 if `server` is NULL or invalid. Any thread may call this.
///
/// # Safety
///
/// `server` is NULL or a pointer from libdrift.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_server_port(server: *const drift_server) -> u16 {
    ffi_value! { 0;
        // SAFETY: checked by the registry; the caller keeps it alive.
        let server = unsafe { handle::borrow(server, "server") }?;
        Ok(server.server.port())
    }
}

/// The PEM certificate a client must trust to connect to this server (pass
/// it to `drift_client_options_set_ca_pem`): the generated one, or the chain
/// from the files. NULL for an h2c server, or if `server` is NULL/invalid.
/// The string is owned by the server and valid until `drift_server_free`.
/// Any thread may call this.
///
/// # Safety
///
/// `server` is NULL or a pointer from libdrift.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_server_ca_cert_pem(server: *const drift_server) -> *const c_char {
    ffi_value! { std::ptr::null();
        // SAFETY: checked by the registry; the caller keeps it alive.
        let server = unsafe { handle::borrow(server, "server") }?;
        Ok(opt_ptr(server.ca_pem.as_ref()))
    }
}

/// The path of the certificate file the server uses (the generated one when
/// a certificate directory was set, or the configured file); NULL when the
/// certificate lives in memory only, for h2c, or if `server` is
/// NULL/invalid. Owned by the server, valid until `drift_server_free`. Any
/// thread may call this.
///
/// # Safety
///
/// `server` is NULL or a pointer from libdrift.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_server_cert_path(server: *const drift_server) -> *const c_char {
    ffi_value! { std::ptr::null();
        // SAFETY: checked by the registry; the caller keeps it alive.
        let server = unsafe { handle::borrow(server, "server") }?;
        Ok(opt_ptr(server.cert_path.as_ref()))
    }
}

/// The path of a PEM file holding `drift_server_ca_cert_pem`'s certificate,
/// for clients that take a file (`drift_client_options_set_ca_file`,
/// `curl --cacert`): the server's certificate file when it has one (as
/// `drift_server_cert_path`), else a file in a private temporary directory,
/// written by the first call and removed by `drift_server_free`. NULL for
/// an h2c server (the last error untouched), or when the file cannot be
/// written or `server` is NULL/invalid (the last error says why). Owned by
/// the server, valid until `drift_server_free`. Any thread may call this.
///
/// # Safety
///
/// `server` is NULL or a pointer from libdrift.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_server_ca_cert_path(server: *const drift_server) -> *const c_char {
    ffi_value! { std::ptr::null();
        // SAFETY: checked by the registry; the caller keeps it alive.
        let server = unsafe { handle::borrow(server, "server") }?;
        server.ca_path()
    }
}

/// Stops the server gracefully and blocks until it has stopped: it stops
/// accepting, ends every subscription with reason `"shutdown"`, sends
/// GOAWAY and waits (up to the shutdown grace period) for requests in
/// flight. Stopping a stopped server returns `DRIFT_STATUS_OK`. The server
/// must still be freed. Any thread may call this.
///
/// # Safety
///
/// `server` is NULL or a pointer from libdrift that is not being freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_server_stop(server: *mut drift_server) -> drift_status {
    ffi_status! {
        // SAFETY: checked by the registry; the caller keeps it alive.
        let server = unsafe { handle::borrow(server.cast_const(), "server") }?;
        Ok(server.server.stop()?)
    }
}

/// Stops the server if it is running (as `drift_server_stop`), then frees
/// it and its runtime. Strings read from it become invalid. NULL is a
/// no-op; a pointer that is not a live server is left alone (and the last
/// error set). Must be the last call on the server; any thread may make it.
///
/// # Safety
///
/// `server` is NULL or a pointer from libdrift, and no other call on it is
/// running.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_server_free(server: *mut drift_server) {
    // SAFETY: forwarded from the caller.
    unsafe { handle::free(server, "drift_server_free") }
}

#[cfg(test)]
mod tests {
    use std::ffi::CStr;
    use std::ptr::{null, null_mut};

    use super::*;
    use crate::boundary::{last_error_bytes, last_error_status};
    use crate::client::{drift_client_exists, drift_client_free};
    use crate::server_config::*;
    use crate::test_support::{client_of, h2c_server};

    #[test]
    fn server_starts_reports_and_stops() {
        // SAFETY: pointers from libdrift and local out-params.
        unsafe {
            let cfg = drift_server_config_new();
            assert_status!(drift_server_config_set_shutdown_grace_ms(cfg, 1000), Ok);
            assert_status!(drift_server_start(cfg, null_mut()), NullArgument);
            let mut server = null_mut();
            assert_status!(drift_server_start(cfg, &mut server), Ok);
            drift_server_config_free(cfg);
            let port = drift_server_port(server);
            assert_ne!(port, 0);
            let url = CStr::from_ptr(drift_server_url(server)).to_str().unwrap();
            assert_eq!(url, format!("https://127.0.0.1:{port}"));
            let pem = CStr::from_ptr(drift_server_ca_cert_pem(server))
                .to_str()
                .unwrap();
            assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));
            assert!(drift_server_cert_path(server).is_null());
            let ca_path = CStr::from_ptr(drift_server_ca_cert_path(server));
            let ca_path = std::path::PathBuf::from(ca_path.to_str().unwrap());
            assert_eq!(std::fs::read_to_string(&ca_path).unwrap(), pem);
            assert_eq!(
                CStr::from_ptr(drift_server_ca_cert_path(server)).to_str(),
                Ok(ca_path.to_str().unwrap()),
                "written once"
            );

            // The port is taken now.
            let cfg = drift_server_config_new();
            let addr = CString::new(format!("127.0.0.1:{port}")).unwrap();
            assert_status!(drift_server_config_set_listen(cfg, addr.as_ptr()), Ok);
            let mut second = null_mut();
            assert_status!(drift_server_start(cfg, &mut second), Connect);
            assert!(second.is_null(), "out-param untouched on failure");
            assert!(
                String::from_utf8(last_error_bytes())
                    .unwrap()
                    .contains("cannot listen")
            );
            drift_server_config_free(cfg);

            assert_status!(drift_server_stop(server), Ok);
            assert_status!(drift_server_stop(server), Ok);
            assert_eq!(drift_server_port(server), port, "readable after stop");
            drift_server_free(server);
            assert!(!ca_path.exists(), "removed by drift_server_free");
            drift_server_free(server); // refused, not a double free
            drift_server_free(null_mut());
        }
    }

    /// Whether a thread of this process has the name `name`.
    #[cfg(target_os = "linux")]
    fn thread_named(name: &str) -> bool {
        std::fs::read_dir("/proc/self/task")
            .unwrap()
            .filter_map(|t| std::fs::read_to_string(t.unwrap().path().join("comm")).ok())
            .any(|comm| comm.trim_end() == name)
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn worker_threads_are_the_servers_connection_threads() {
        // SAFETY: pointers from libdrift and local out-params.
        unsafe {
            // No other test asks for three, so only this server has a third.
            let server = h2c_server(|cfg| {
                assert_status!(drift_server_config_set_threads(cfg, 3), Ok);
            });
            // The server starts its threads before it accepts: once it has
            // answered a request, they are there.
            let client = client_of(server);
            let mut exists = true;
            assert_status!(drift_client_exists(client, c"t".as_ptr(), &mut exists), Ok);
            assert!(!exists);
            drift_client_free(client);
            // A new thread names itself when it first runs, which on a busy
            // machine may be after the server has answered on another one.
            let appears = (0..500).any(|_| {
                thread_named("drift-io-2") || {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                    false
                }
            });
            assert!(appears, "no third connection thread");
            drift_server_free(server);
            assert!(
                !thread_named("drift-io-2"),
                "connection thread left running"
            );
        }
    }

    #[test]
    fn h2c_server_has_no_certificate() {
        // SAFETY: pointers from libdrift and local out-params.
        unsafe {
            let server = h2c_server(|_| {});
            let url = CStr::from_ptr(drift_server_url(server)).to_str().unwrap();
            assert!(url.starts_with("http://127.0.0.1:"), "{url}");
            assert!(drift_server_ca_cert_pem(server).is_null());
            assert!(drift_server_ca_cert_path(server).is_null());
            // Freeing a running server stops it.
            drift_server_free(server);
        }
    }

    #[test]
    fn server_readers_refuse_null() {
        // SAFETY: NULL is the input under test.
        unsafe {
            assert!(drift_server_url(null()).is_null());
            assert_status!(last_error_status(), NullArgument);
            assert_eq!(drift_server_port(null()), 0);
            assert!(drift_server_ca_cert_pem(null()).is_null());
            assert!(drift_server_cert_path(null()).is_null());
            assert!(drift_server_ca_cert_path(null()).is_null());
            assert_status!(drift_server_stop(null_mut()), NullArgument);
            drift_server_free(null_mut());
        }
    }
}
