//! `drift_server_config`: the settings of an in-process server, a builder
//! whose setters change one setting each and keep the change only when
//! drift-core's `ServerConfig::validate` accepts it.

use std::ffi::c_char;
use std::path::PathBuf;
use std::time::Duration;

use drift_core::server::{ServerConfig, TlsMode, parse_listen};

use crate::boundary::{FfiResult, millis_or_none, str_arg};
use crate::handle::{self, Builder, Handle, Kind, set, try_set};
use crate::status::drift_status;

/// The settings of an in-process server: a builder, filled with defaults by
/// `drift_server_config_new` and changed by the `drift_server_config_set_*`
/// functions. Opaque, so that new settings can be added without breaking
/// programs built against an older header.
///
/// Defaults: those of `drift serve`, but listening on `127.0.0.1:0` (a free
/// port; read it back with `drift_server_port`) and with a generated
/// self-signed certificate for localhost kept in memory: history of 1000
/// messages (and 64 MiB) per topic, messages up to 1 MiB, one connection
/// thread per core.
///
/// Owned by the caller (free it with `drift_server_config_free`; a server
/// started from it does not need it any more). Use it from one thread at a
/// time.
#[derive(Debug, Clone)]
pub struct drift_server_config {
    /// Everything but `tls`, which [`drift_server_config::to_core`] derives
    /// from `h2c` and `tls_files` (h2c wins while set, whatever the order).
    core: ServerConfig,
    h2c: bool,
    tls_files: Option<(PathBuf, PathBuf)>,
}

impl Handle for drift_server_config {
    const KIND: Kind = Kind::ServerConfig;
}

impl Builder for drift_server_config {
    const ARG: &'static str = "config";

    /// drift-core's `ServerConfig::validate`, which every way of starting a
    /// server checks.
    fn check(&self) -> FfiResult<()> {
        Ok(self.core.validate()?)
    }
}

// ===== impl drift_server_config =====

impl Default for drift_server_config {
    fn default() -> Self {
        drift_server_config {
            core: ServerConfig::embedded(),
            h2c: false,
            tls_files: None,
        }
    }
}

impl drift_server_config {
    pub(crate) fn to_core(&self) -> ServerConfig {
        let tls = match (&self.tls_files, self.h2c) {
            (_, true) => TlsMode::H2c,
            (Some((cert, key)), false) => TlsMode::Files {
                cert: cert.clone(),
                key: key.clone(),
            },
            (None, false) => TlsMode::Generated,
        };
        ServerConfig {
            tls,
            ..self.core.clone()
        }
    }
}

/// A new server configuration with the defaults (see `drift_server_config`).
/// Returns NULL only if libdrift panicked. The caller owns it and frees it
/// with `drift_server_config_free`. Any thread may call this.
#[unsafe(no_mangle)]
pub extern "C" fn drift_server_config_new() -> *mut drift_server_config {
    ffi_boundary! { handle::into_raw(drift_server_config::default()) }
}

/// Frees a server configuration. NULL is a no-op; a pointer that is not a
/// live configuration is left alone (and the last error set).
///
/// # Safety
///
/// `cfg` is NULL or a pointer from libdrift, and no other call on it is
/// running.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_server_config_free(cfg: *mut drift_server_config) {
    ffi_boundary! {
        // SAFETY: the registry only hands back live configurations.
        drop(unsafe { handle::take(cfg, "drift_server_config_free") });
    }
}

/// The address to listen on: `"HOST:PORT"` with an IP address
/// (`"0.0.0.0:5500"`, `"[::1]:0"`) or a name that resolves
/// (`"localhost:5500"`; the first address is used), or a bare port
/// (`"5500"`, on 127.0.0.1), as `drift serve --listen`. Port 0 picks a free
/// port. Default `"127.0.0.1:0"`. `addr` is copied. Fails with
/// `DRIFT_STATUS_INVALID_ARGUMENT` if it does not parse or resolve.
///
/// # Safety
///
/// `cfg` is NULL or a live configuration used by no other thread; `addr` is
/// NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_server_config_set_listen(
    cfg: *mut drift_server_config,
    addr: *const c_char,
) -> drift_status {
    // SAFETY: forwarded from the caller.
    unsafe {
        try_set(cfg, |cfg| {
            // SAFETY: the caller promised a NUL-terminated string.
            cfg.core.listen = parse_listen(str_arg(addr, "addr")?)?;
            Ok(())
        })
    }
}

/// Serve cleartext (`true`): HTTP/2 with prior knowledge (h2c) and
/// HTTP/1.1, with `http://` URLs; for use behind a proxy that terminates
/// TLS. `false` (the default) serves TLS.
///
/// # Safety
///
/// `cfg` is NULL or a live configuration used by no other thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_server_config_set_h2c(
    cfg: *mut drift_server_config,
    h2c: bool,
) -> drift_status {
    // SAFETY: forwarded from the caller.
    unsafe { set(cfg, |c| c.h2c = h2c) }
}

/// Serve TLS with this certificate chain and private key (PEM files; both
/// paths are copied, the files are read by `drift_server_start`). Without
/// this a self-signed certificate is generated.
///
/// # Safety
///
/// `cfg` is NULL or a live configuration used by no other thread; `cert` and
/// `key` are NULL or NUL-terminated strings.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_server_config_set_tls_files(
    cfg: *mut drift_server_config,
    cert: *const c_char,
    key: *const c_char,
) -> drift_status {
    // SAFETY: forwarded from the caller.
    unsafe {
        try_set(cfg, |cfg| {
            // SAFETY: the caller promised NUL-terminated strings.
            let cert = str_arg(cert, "cert")?;
            // SAFETY: as above.
            let key = str_arg(key, "key")?;
            cfg.tls_files = Some((PathBuf::from(cert), PathBuf::from(key)));
            Ok(())
        })
    }
}

/// Where a generated certificate is written as `cert.pem` and `key.pem`, and
/// reused from on the next start (so clients that trust it keep working);
/// NULL (the default) keeps it in memory only (read it with
/// `drift_server_ca_cert_pem`). `dir` is copied.
///
/// # Safety
///
/// `cfg` is NULL or a live configuration used by no other thread; `dir` is
/// NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_server_config_set_cert_dir(
    cfg: *mut drift_server_config,
    dir: *const c_char,
) -> drift_status {
    // SAFETY: forwarded from the caller.
    unsafe {
        try_set(cfg, |cfg| {
            // SAFETY: the caller promised NULL or a NUL-terminated string.
            let dir = crate::boundary::opt_str_arg(dir, "dir")?;
            cfg.core.cert_dir = dir.map(PathBuf::from);
            Ok(())
        })
    }
}

/// History capacity of a topic that does not set its own, in messages
/// (default 1000; 0 keeps no history; at most 1000000).
///
/// # Safety
///
/// `cfg` is NULL or a live configuration used by no other thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_server_config_set_history_length(
    cfg: *mut drift_server_config,
    messages: usize,
) -> drift_status {
    // SAFETY: forwarded from the caller.
    unsafe { set(cfg, |c| c.core.broker.history_length = messages) }
}

/// History bound per topic in payload bytes (default 64 MiB; 0: no bound).
///
/// # Safety
///
/// `cfg` is NULL or a live configuration used by no other thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_server_config_set_history_bytes(
    cfg: *mut drift_server_config,
    bytes: u64,
) -> drift_status {
    // SAFETY: forwarded from the caller.
    unsafe {
        set(cfg, |c| {
            c.core.broker.history_bytes = (bytes > 0).then_some(bytes)
        })
    }
}

/// History bound per topic by age, in seconds (default 0: no bound).
///
/// # Safety
///
/// `cfg` is NULL or a live configuration used by no other thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_server_config_set_history_max_age_secs(
    cfg: *mut drift_server_config,
    secs: u64,
) -> drift_status {
    // SAFETY: forwarded from the caller.
    unsafe {
        set(cfg, |c| {
            c.core.broker.history_max_age = (secs > 0).then(|| Duration::from_secs(secs));
        })
    }
}

/// Largest message accepted, in bytes (default 1 MiB; must be > 0). Larger
/// publishes fail with `DRIFT_STATUS_TOO_LARGE`.
///
/// # Safety
///
/// `cfg` is NULL or a live configuration used by no other thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_server_config_set_max_message_bytes(
    cfg: *mut drift_server_config,
    bytes: usize,
) -> drift_status {
    // SAFETY: forwarded from the caller.
    unsafe { set(cfg, |c| c.core.broker.max_message_bytes = bytes) }
}

/// Most topics held at once (default 100000; must be > 0).
///
/// # Safety
///
/// `cfg` is NULL or a live configuration used by no other thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_server_config_set_max_topics(
    cfg: *mut drift_server_config,
    topics: usize,
) -> drift_status {
    // SAFETY: forwarded from the caller.
    unsafe { set(cfg, |c| c.core.broker.max_topics = topics) }
}

/// Most subscriptions held at once (default 250000; must be > 0).
///
/// # Safety
///
/// `cfg` is NULL or a live configuration used by no other thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_server_config_set_max_subscriptions(
    cfg: *mut drift_server_config,
    subscriptions: usize,
) -> drift_status {
    // SAFETY: forwarded from the caller.
    unsafe { set(cfg, |c| c.core.broker.max_subscriptions = subscriptions) }
}

/// How far a subscriber may fall behind before it counts as slow: `messages`
/// (default 1024) and `bytes` of payload (default 8 MiB); both must be > 0.
///
/// # Safety
///
/// `cfg` is NULL or a live configuration used by no other thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_server_config_set_queue_limits(
    cfg: *mut drift_server_config,
    messages: usize,
    bytes: u64,
) -> drift_status {
    // SAFETY: forwarded from the caller.
    unsafe {
        set(cfg, |c| {
            c.core.broker.queue_messages = messages;
            c.core.broker.queue_bytes = bytes;
        })
    }
}

/// Refuse to create topics implicitly (`true`): publishing or subscribing
/// to a topic that was not created with `drift_client_create` fails with
/// `DRIFT_STATUS_NOT_FOUND`. Default `false`.
///
/// # Safety
///
/// `cfg` is NULL or a live configuration used by no other thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_server_config_set_require_create(
    cfg: *mut drift_server_config,
    require: bool,
) -> drift_status {
    // SAFETY: forwarded from the caller.
    unsafe { set(cfg, |c| c.core.broker.require_create = require) }
}

/// Interval of heartbeats on idle subscriptions, in milliseconds (default
/// 15000; 0: none).
///
/// # Safety
///
/// `cfg` is NULL or a live configuration used by no other thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_server_config_set_heartbeat_ms(
    cfg: *mut drift_server_config,
    ms: u64,
) -> drift_status {
    // SAFETY: forwarded from the caller.
    unsafe { set(cfg, |c| c.core.service.heartbeat = millis_or_none(ms)) }
}

/// How long `drift_server_stop` waits for requests in flight before closing
/// their connections anyway, in milliseconds (default 10000).
///
/// # Safety
///
/// `cfg` is NULL or a live configuration used by no other thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_server_config_set_shutdown_grace_ms(
    cfg: *mut drift_server_config,
    ms: u64,
) -> drift_status {
    // SAFETY: forwarded from the caller.
    unsafe { set(cfg, |c| c.core.shutdown_grace = Duration::from_millis(ms)) }
}

/// Connection threads, as `drift serve --threads`: 0 (the default) starts
/// one per core, N starts N. Each runs the connections handed to it, so a
/// connection and its subscriptions never move between threads. One more
/// thread accepts connections.
///
/// # Safety
///
/// `cfg` is NULL or a live configuration used by no other thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_server_config_set_threads(
    cfg: *mut drift_server_config,
    threads: usize,
) -> drift_status {
    // SAFETY: forwarded from the caller.
    unsafe { set(cfg, |c| c.core.threads = threads) }
}

/// The former name of `drift_server_config_set_threads`, kept so that
/// programs built against libdrift 0.1 keep linking; the same in every
/// respect (0 now means one thread per core instead of an error).
///
/// # Safety
///
/// As `drift_server_config_set_threads`.
#[deprecated = "use drift_server_config_set_threads"]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_server_config_set_worker_threads(
    cfg: *mut drift_server_config,
    threads: usize,
) -> drift_status {
    // SAFETY: forwarded from the caller.
    unsafe { drift_server_config_set_threads(cfg, threads) }
}

#[cfg(test)]
mod tests {
    use std::ptr::{null, null_mut};

    use drift_core::broker::MAX_HISTORY_LENGTH;

    use super::*;
    use crate::boundary::{last_error_bytes, last_error_status};

    #[test]
    fn config_setters_check_their_arguments() {
        // SAFETY: a live config from libdrift, NULLs and valid C strings.
        unsafe {
            let cfg = drift_server_config_new();
            assert!(!cfg.is_null());
            assert_eq!(
                drift_server_config_set_listen(cfg, c"127.0.0.1:0".as_ptr()),
                drift_status::Ok
            );
            assert_eq!(
                drift_server_config_set_listen(cfg, c"localhost:0".as_ptr()),
                drift_status::Ok
            );
            assert_eq!(
                drift_server_config_set_listen(cfg, c"nonsense".as_ptr()),
                drift_status::InvalidArgument
            );
            assert_eq!(
                drift_server_config_set_listen(cfg, null()),
                drift_status::NullArgument
            );
            assert_eq!(
                drift_server_config_set_listen(null_mut(), c"127.0.0.1:0".as_ptr()),
                drift_status::NullArgument
            );
            assert_eq!(
                drift_server_config_set_listen(cfg, c"\xff:0".as_ptr()),
                drift_status::InvalidArgument
            );
            assert!(
                String::from_utf8(last_error_bytes())
                    .unwrap()
                    .contains("UTF-8")
            );
            assert_eq!(
                drift_server_config_set_tls_files(cfg, null(), c"k".as_ptr()),
                drift_status::NullArgument
            );
            assert_eq!(
                drift_server_config_set_tls_files(cfg, c"c".as_ptr(), null()),
                drift_status::NullArgument
            );
            assert_eq!(
                drift_server_config_set_cert_dir(cfg, null()),
                drift_status::Ok
            );
            assert_eq!(
                drift_server_config_set_history_length(cfg, 5),
                drift_status::Ok
            );
            assert_eq!(
                drift_server_config_set_history_length(cfg, MAX_HISTORY_LENGTH + 1),
                drift_status::InvalidArgument
            );
            assert_eq!(
                drift_server_config_set_max_message_bytes(cfg, 0),
                drift_status::InvalidArgument
            );
            assert_eq!(
                drift_server_config_set_max_topics(cfg, 0),
                drift_status::InvalidArgument
            );
            assert_eq!(
                drift_server_config_set_max_subscriptions(cfg, 0),
                drift_status::InvalidArgument
            );
            assert_eq!(
                drift_server_config_set_queue_limits(cfg, 0, 1),
                drift_status::InvalidArgument
            );
            assert_eq!(
                drift_server_config_set_queue_limits(cfg, 1, 0),
                drift_status::InvalidArgument
            );
            // A refused value leaves the config as it was.
            assert_eq!((*cfg).core.broker.history_length, 5);
            assert_eq!((*cfg).core.broker.max_topics, 100_000);
            // 0 threads: one per core, as `drift serve --threads 0`.
            assert_eq!(drift_server_config_set_threads(cfg, 0), drift_status::Ok);
            assert_eq!((*cfg).core.threads, 0);
            #[allow(deprecated)] // the old name still links and means the same
            let old_name = drift_server_config_set_worker_threads(cfg, 3);
            assert_eq!(old_name, drift_status::Ok);
            assert_eq!((*cfg).core.threads, 3);
            // Every setter refuses NULL.
            let n = null_mut();
            for status in [
                drift_server_config_set_h2c(n, true),
                drift_server_config_set_tls_files(n, c"c".as_ptr(), c"k".as_ptr()),
                drift_server_config_set_cert_dir(n, null()),
                drift_server_config_set_history_length(n, 1),
                drift_server_config_set_history_bytes(n, 1),
                drift_server_config_set_history_max_age_secs(n, 1),
                drift_server_config_set_max_message_bytes(n, 1),
                drift_server_config_set_max_topics(n, 1),
                drift_server_config_set_max_subscriptions(n, 1),
                drift_server_config_set_queue_limits(n, 1, 1),
                drift_server_config_set_require_create(n, true),
                drift_server_config_set_heartbeat_ms(n, 1),
                drift_server_config_set_shutdown_grace_ms(n, 1),
                drift_server_config_set_threads(n, 1),
            ] {
                assert_eq!(status, drift_status::NullArgument);
            }
            drift_server_config_free(cfg);
            drift_server_config_free(cfg); // refused, not a double free
            assert_eq!(last_error_status(), drift_status::InvalidArgument);
            drift_server_config_free(null_mut());
        }
    }
}
