//! `drift_server_config`: the settings of an in-process server, a builder
//! over drift-core's option table (`drift_core::server::options`, the
//! options of `drift serve`): each setter sets options of the table and
//! keeps the change only when drift-core's `ServerConfig::validate` accepts
//! it; `drift_server_config_set` sets any of them by name.

use std::ffi::c_char;
use std::path::PathBuf;
use std::time::Duration;

use drift_core::server::options::OptionValue;
use drift_core::server::{ServerConfig, ServerOptions};

use crate::boundary::{FfiResult, opt_str_arg, str_arg};
use crate::handle::{self, Builder, Handle, Kind, try_set};
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
    /// TLS from its `cert`, `key` and `h2c`, where h2c wins while set,
    /// whatever the order (see [`drift_server_config::to_core`]).
    pub(crate) options: ServerOptions,
}

impl Handle for drift_server_config {
    const KIND: Kind = Kind::ServerConfig;
}

impl Builder for drift_server_config {
    const ARG: &'static str = "config";

    /// drift-core's `ServerConfig::validate`, which every way of starting a
    /// server checks.
    fn check(&self) -> FfiResult<()> {
        Ok(self.options.validate()?)
    }
}

// ===== impl drift_server_config =====

impl Default for drift_server_config {
    fn default() -> Self {
        drift_server_config {
            options: ServerOptions::embedded(),
        }
    }
}

impl drift_server_config {
    /// The configuration to start with. `h2c` set by
    /// `drift_server_config_set_h2c` has always won over TLS files in C,
    /// whatever the order, where drift-core refuses the two together.
    pub(crate) fn to_core(&self) -> FfiResult<ServerConfig> {
        let mut options = self.options.clone();
        if options.h2c {
            (options.cert, options.key) = (None, None);
        }
        Ok(options.to_config()?)
    }
}

/// The body of a setter of options of the table: sets each of `values`,
/// all or nothing (see [`try_set`]).
///
/// # Safety
///
/// As for [`try_set`].
pub(crate) unsafe fn set_options<const N: usize>(
    cfg: *mut drift_server_config,
    values: [(&str, OptionValue); N],
) -> drift_status {
    // SAFETY: forwarded from the caller.
    unsafe {
        try_set(cfg, |cfg| {
            for (name, value) in values {
                cfg.options.set(name, value)?;
            }
            Ok(())
        })
    }
}

/// A C count or size as an option's value.
fn number(n: usize) -> OptionValue {
    OptionValue::Number(n as u64)
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
    // SAFETY: forwarded from the caller.
    unsafe { handle::free(cfg, "drift_server_config_free") }
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
            let addr = str_arg(addr, "addr")?;
            Ok(cfg.options.set("listen", OptionValue::Text(addr.into()))?)
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
    unsafe { set_options(cfg, [("h2c", OptionValue::Bool(h2c))]) }
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
            cfg.options
                .set("cert", OptionValue::Path(Some(cert.into())))?;
            Ok(cfg
                .options
                .set("key", OptionValue::Path(Some(key.into())))?)
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
            let dir = opt_str_arg(dir, "dir")?.map(PathBuf::from);
            Ok(cfg.options.set("cert_dir", OptionValue::Path(dir))?)
        })
    }
}

/// Keep topics, their epochs and their history in the directory `dir`, so
/// that they survive restarts and crashes; NULL (the default) keeps them in
/// memory and touches no disk. `dir` is copied. A directory another server
/// is using, or one that holds something else, is refused when the server
/// starts (`DRIFT_STATUS_STORAGE`).
///
/// # Safety
///
/// `cfg` is NULL or a live configuration used by no other thread; `dir` is
/// NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_server_config_set_data_dir(
    cfg: *mut drift_server_config,
    dir: *const c_char,
) -> drift_status {
    // SAFETY: forwarded from the caller.
    unsafe {
        try_set(cfg, |cfg| {
            // SAFETY: the caller promised NULL or a NUL-terminated string.
            let dir = opt_str_arg(dir, "dir")?.map(PathBuf::from);
            Ok(cfg.options.set("data_dir", OptionValue::Path(dir))?)
        })
    }
}

/// Share topics, their epochs and their history with every server using the
/// Redis server at `url` (`redis://[:PASSWORD@]HOST:PORT[/DB]`, or
/// `rediss://…` for TLS), so that several servers behave as one; NULL (the
/// default) keeps them in this server. `url` is copied. A malformed URL, or
/// one beside a data directory, is refused when the server starts
/// (`DRIFT_STATUS_INVALID_ARGUMENT`); a Redis server that cannot be reached
/// is not: publishes are refused until it answers.
///
/// # Safety
///
/// `cfg` is NULL or a live configuration used by no other thread; `url` is
/// NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_server_config_set_redis(
    cfg: *mut drift_server_config,
    url: *const c_char,
) -> drift_status {
    // SAFETY: forwarded from the caller.
    unsafe {
        try_set(cfg, |cfg| {
            // SAFETY: the caller promised NULL or a NUL-terminated string.
            let url = opt_str_arg(url, "url")?.unwrap_or_default();
            Ok(cfg
                .options
                .set("redis", OptionValue::Text(url.to_owned()))?)
        })
    }
}

/// With a data directory, when an accepted publish reaches stable storage:
/// `"always"` (the default: a publish is answered once it is on stable
/// storage) or an interval such as `"100ms"` (answered once the OS has it,
/// synced every interval, so a power loss may lose that much; a crash of the
/// process loses nothing answered in either mode).
///
/// # Safety
///
/// `cfg` is NULL or a live configuration used by no other thread; `mode` is
/// NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_server_config_set_fsync(
    cfg: *mut drift_server_config,
    mode: *const c_char,
) -> drift_status {
    // SAFETY: forwarded from the caller.
    unsafe {
        try_set(cfg, |cfg| {
            // SAFETY: the caller promised NULL or a NUL-terminated string.
            let mode = str_arg(mode, "mode")?;
            Ok(cfg
                .options
                .set("fsync", OptionValue::Text(mode.to_owned()))?)
        })
    }
}

/// History capacity of a topic that does not set its own, in messages
/// (default 1000; 0 keeps no history; at most `max_history_length`, 100000
/// by default, which `drift_server_config_set` sets).
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
    unsafe { set_options(cfg, [("history_length", number(messages))]) }
}

/// History bound per topic in bytes, each message counted with 200 bytes
/// of overhead (default 64 MiB; 0: `max_history_bytes`, 256 MiB by
/// default, which `drift_server_config_set` sets).
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
    unsafe { set_options(cfg, [("history_bytes", OptionValue::Number(bytes))]) }
}

/// History bound per topic by age, in seconds (default 0: none, or
/// `max_history_age` when `drift_server_config_set` set one).
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
    let age = OptionValue::Duration(Duration::from_secs(secs));
    // SAFETY: forwarded from the caller.
    unsafe { set_options(cfg, [("history_max_age", age)]) }
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
    unsafe { set_options(cfg, [("max_message_bytes", number(bytes))]) }
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
    unsafe { set_options(cfg, [("max_topics", number(topics))]) }
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
    unsafe { set_options(cfg, [("max_subscriptions", number(subscriptions))]) }
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
        set_options(
            cfg,
            [
                ("queue_messages", number(messages)),
                ("queue_bytes", OptionValue::Number(bytes)),
            ],
        )
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
    unsafe { set_options(cfg, [("require_create", OptionValue::Bool(require))]) }
}

/// Count what the server does and answer `GET /metrics` in the Prometheus
/// text format (`true`, the default); `false` counts nothing and answers
/// `/metrics` with 404.
///
/// # Safety
///
/// `cfg` is NULL or a live configuration used by no other thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_server_config_set_metrics(
    cfg: *mut drift_server_config,
    on: bool,
) -> drift_status {
    // SAFETY: forwarded from the caller.
    unsafe { set_options(cfg, [("metrics", OptionValue::Bool(on))]) }
}

/// Serve `/metrics` on the address `addr` of its own (`HOST:PORT`, plain
/// HTTP/1.1 and h2c, no authentication) instead of on the server's listen
/// address, where it is then 404; NULL or "" (the default): on the listen
/// address, to a grant with admin rights. `addr` is copied. A malformed
/// address is refused here (`DRIFT_STATUS_INVALID_ARGUMENT`), a taken one
/// when the server starts.
///
/// # Safety
///
/// `cfg` is NULL or a live configuration used by no other thread; `addr`
/// is NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_server_config_set_metrics_listen(
    cfg: *mut drift_server_config,
    addr: *const c_char,
) -> drift_status {
    // SAFETY: forwarded from the caller.
    unsafe {
        try_set(cfg, |cfg| {
            // SAFETY: the caller promised NULL or a NUL-terminated string.
            let addr = opt_str_arg(addr, "addr")?.unwrap_or_default();
            Ok(cfg
                .options
                .set("metrics_listen", OptionValue::Text(addr.to_owned()))?)
        })
    }
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
    let interval = OptionValue::Duration(Duration::from_millis(ms));
    // SAFETY: forwarded from the caller.
    unsafe { set_options(cfg, [("heartbeat", interval)]) }
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
    let grace = OptionValue::Duration(Duration::from_millis(ms));
    // SAFETY: forwarded from the caller.
    unsafe { set_options(cfg, [("shutdown_grace", grace)]) }
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
    unsafe { set_options(cfg, [("threads", number(threads))]) }
}

/// Sets any option of `drift serve` but `--log` by name, from text, as
/// `drift serve --NAME VALUE` would: the name is the flag's with `_` for `-`
/// (`"queue_messages"`, `"max_streams"`, `"cors_origin"`), the text is read
/// by the option's kind: whole numbers (`"1024"`), byte sizes (`"65536"`,
/// `"64MiB"`), durations in seconds or with a unit (`"15"`, `"500ms"`,
/// `"2m"`), `"true"`/`"false"`, paths (`""` for none) and comma-separated
/// lists. 0 means none for `history_max_age`, `max_history_age` and
/// `heartbeat`, and the cap (`max_history_bytes`) for `history_bytes`. The
/// caps on what a topic may ask for (`max_history_length`,
/// `max_history_bytes`, `max_history_age`) and the history memory budget
/// (`history_memory`) are set here. Both strings are copied.
///
/// Fails with `DRIFT_STATUS_INVALID_ARGUMENT` for an unknown name or a
/// value that does not parse or cannot work, the last error saying which
/// (`"option queue_messages: expected a whole number, got 'x'"`); the
/// configuration is then unchanged. `cert` and `key` go together, which
/// `drift_server_start` checks.
///
/// # Safety
///
/// `cfg` is NULL or a live configuration used by no other thread; `name`
/// and `value` are NULL or NUL-terminated strings.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_server_config_set(
    cfg: *mut drift_server_config,
    name: *const c_char,
    value: *const c_char,
) -> drift_status {
    // SAFETY: forwarded from the caller.
    unsafe {
        try_set(cfg, |cfg| {
            // SAFETY: the caller promised NUL-terminated strings.
            let name = str_arg(name, "name")?;
            // SAFETY: as above.
            let value = str_arg(value, "value")?;
            Ok(cfg.options.set_text(name, value)?)
        })
    }
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
    use std::ffi::CStr;
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
            assert_status!(
                drift_server_config_set_listen(cfg, c"127.0.0.1:0".as_ptr()),
                Ok
            );
            assert_status!(
                drift_server_config_set_listen(cfg, c"localhost:0".as_ptr()),
                Ok
            );
            assert_status!(
                drift_server_config_set_listen(cfg, c"nonsense".as_ptr()),
                InvalidArgument
            );
            assert_status!(drift_server_config_set_listen(cfg, null()), NullArgument);
            assert_status!(
                drift_server_config_set_listen(null_mut(), c"127.0.0.1:0".as_ptr()),
                NullArgument
            );
            assert_status!(
                drift_server_config_set_listen(cfg, c"\xff:0".as_ptr()),
                InvalidArgument
            );
            assert!(
                String::from_utf8(last_error_bytes())
                    .unwrap()
                    .contains("UTF-8")
            );
            assert_status!(
                drift_server_config_set_tls_files(cfg, null(), c"k".as_ptr()),
                NullArgument
            );
            assert_status!(
                drift_server_config_set_tls_files(cfg, c"c".as_ptr(), null()),
                NullArgument
            );
            assert_status!(drift_server_config_set_cert_dir(cfg, null()), Ok);
            assert_status!(drift_server_config_set_history_length(cfg, 5), Ok);
            assert_status!(
                drift_server_config_set_history_length(cfg, MAX_HISTORY_LENGTH + 1),
                InvalidArgument
            );
            assert_status!(
                drift_server_config_set_max_message_bytes(cfg, 0),
                InvalidArgument
            );
            assert_status!(drift_server_config_set_max_topics(cfg, 0), InvalidArgument);
            assert_status!(
                drift_server_config_set_max_subscriptions(cfg, 0),
                InvalidArgument
            );
            assert_status!(
                drift_server_config_set_queue_limits(cfg, 0, 1),
                InvalidArgument
            );
            assert_status!(
                drift_server_config_set_queue_limits(cfg, 1, 0),
                InvalidArgument
            );
            // A refused value leaves the config as it was.
            assert_eq!((*cfg).options.config.broker.history_length, 5);
            assert_eq!((*cfg).options.config.broker.max_topics, 100_000);
            // 0 threads: one per core, as `drift serve --threads 0`.
            assert_status!(drift_server_config_set_threads(cfg, 0), Ok);
            assert_eq!((*cfg).options.config.threads, 0);
            #[allow(deprecated)] // the old name still links and means the same
            let old_name = drift_server_config_set_worker_threads(cfg, 3);
            assert_status!(old_name, Ok);
            assert_eq!((*cfg).options.config.threads, 3);
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
                assert_status!(status, NullArgument);
            }
            drift_server_config_free(cfg);
            drift_server_config_free(cfg); // refused, not a double free
            assert_status!(last_error_status(), InvalidArgument);
            drift_server_config_free(null_mut());
        }
    }

    /// Each typed setter sets the option of the table it names, in the
    /// unit its name says.
    #[test]
    fn setters_set_the_options_of_the_table() {
        // SAFETY: a live config from libdrift and valid C strings.
        unsafe {
            let cfg = drift_server_config_new();
            assert_status!(drift_server_config_set_listen(cfg, c"7".as_ptr()), Ok);
            assert_status!(drift_server_config_set_h2c(cfg, true), Ok);
            assert_status!(
                drift_server_config_set_tls_files(cfg, c"c".as_ptr(), c"k".as_ptr()),
                Ok
            );
            assert_status!(drift_server_config_set_cert_dir(cfg, c"d".as_ptr()), Ok);
            assert_status!(drift_server_config_set_history_length(cfg, 7), Ok);
            assert_status!(drift_server_config_set_history_bytes(cfg, 0), Ok);
            assert_status!(drift_server_config_set_history_max_age_secs(cfg, 2), Ok);
            assert_status!(drift_server_config_set_max_message_bytes(cfg, 9), Ok);
            assert_status!(drift_server_config_set_max_topics(cfg, 10), Ok);
            assert_status!(drift_server_config_set_max_subscriptions(cfg, 11), Ok);
            assert_status!(drift_server_config_set_queue_limits(cfg, 12, 13), Ok);
            assert_status!(drift_server_config_set_require_create(cfg, true), Ok);
            assert_status!(drift_server_config_set_heartbeat_ms(cfg, 0), Ok);
            assert_status!(drift_server_config_set_shutdown_grace_ms(cfg, 1500), Ok);
            assert_status!(drift_server_config_set_threads(cfg, 2), Ok);
            let url = c"redis://:pw@127.0.0.1:6379/1";
            assert_status!(drift_server_config_set_redis(cfg, url.as_ptr()), Ok);
            // h2c wins over the TLS files, whatever the order.
            let c = (*cfg).to_core().unwrap();
            assert_eq!(c.redis.as_deref(), Some("redis://:pw@127.0.0.1:6379/1"));
            assert!(matches!(c.tls, drift_core::server::TlsMode::H2c));
            assert_eq!(c.listen.to_string(), "127.0.0.1:7");
            assert_eq!(c.cert_dir.as_deref(), Some(std::path::Path::new("d")));
            let b = &c.broker;
            assert_eq!((b.history_length, b.history_bytes), (7, None));
            assert_eq!(b.history_max_age, Some(Duration::from_secs(2)));
            assert_eq!(
                (b.max_message_bytes, b.max_topics, b.max_subscriptions),
                (9, 10, 11)
            );
            assert_eq!(
                (b.queue_messages, b.queue_bytes, b.require_create),
                (12, 13, true)
            );
            assert_eq!(c.service.heartbeat, None);
            assert_eq!(c.shutdown_grace, Duration::from_millis(1500));
            assert_eq!(c.threads, 2);
            assert!(
                c.broker.metrics && c.metrics_listen.is_none(),
                "the defaults"
            );
            assert_status!(drift_server_config_set_metrics(cfg, false), Ok);
            assert!(!(*cfg).to_core().unwrap().broker.metrics);
            assert_status!(drift_server_config_set_metrics(cfg, true), Ok);
            let addr = c"127.0.0.1:9090";
            assert_status!(
                drift_server_config_set_metrics_listen(cfg, addr.as_ptr()),
                Ok
            );
            assert_eq!(
                (*cfg).to_core().unwrap().metrics_listen,
                Some(([127, 0, 0, 1], 9090).into())
            );
            assert_status!(
                drift_server_config_set_metrics_listen(cfg, c"nowhere:x".as_ptr()),
                InvalidArgument
            );
            assert_status!(
                drift_server_config_set_metrics_listen(cfg, std::ptr::null()),
                Ok
            );
            assert_eq!((*cfg).to_core().unwrap().metrics_listen, None);
            assert_status!(drift_server_config_set_redis(cfg, std::ptr::null()), Ok);
            assert_eq!(
                (*cfg).to_core().unwrap().redis,
                None,
                "NULL: this server only"
            );
            assert_status!(drift_server_config_set_h2c(cfg, false), Ok);
            assert!(matches!(
                (*cfg).to_core().unwrap().tls,
                drift_core::server::TlsMode::Files { .. }
            ));
            drift_server_config_free(cfg);
        }
    }

    #[test]
    fn any_option_can_be_set_by_name() {
        // SAFETY: a live config from libdrift, NULLs and valid C strings.
        unsafe {
            let cfg = drift_server_config_new();
            let set = |name: &CStr, value: &CStr| {
                drift_server_config_set(cfg, name.as_ptr(), value.as_ptr())
            };
            assert_status!(set(c"max_streams", c"8"), Ok);
            assert_status!(set(c"cors_origin", c"https://a, https://b"), Ok);
            assert_status!(set(c"heartbeat", c"500ms"), Ok);
            assert_status!(set(c"history_bytes", c"1MiB"), Ok);
            assert_status!(set(c"console", c"on"), Ok);
            let c = (*cfg).to_core().unwrap();
            assert_eq!(c.service.console, drift_core::server::Console::On);
            assert_eq!(c.max_concurrent_streams, 8);
            assert_eq!(
                c.service.cors.unwrap().allow_origins,
                ["https://a", "https://b"]
            );
            assert_eq!(c.service.heartbeat, Some(Duration::from_millis(500)));
            assert_eq!(c.broker.history_bytes, Some(1 << 20));
            assert_status!(set(c"queue_messages", c"x"), InvalidArgument);
            assert_eq!(
                String::from_utf8(last_error_bytes()).unwrap(),
                "option queue_messages: expected a whole number, got 'x'"
            );
            assert_status!(set(c"nonsense", c"1"), InvalidArgument);
            assert_status!(set(c"max_topics", c"0"), InvalidArgument);
            assert_eq!(
                (*cfg).options.config.broker.max_topics,
                100_000,
                "unchanged"
            );
            assert_status!(
                drift_server_config_set(cfg, null(), c"1".as_ptr()),
                NullArgument
            );
            assert_status!(
                drift_server_config_set(cfg, c"threads".as_ptr(), null()),
                NullArgument
            );
            assert_status!(
                drift_server_config_set(null_mut(), c"threads".as_ptr(), c"1".as_ptr()),
                NullArgument
            );
            // cert without key: refused when the server starts.
            assert_status!(set(c"cert", c"c.pem"), Ok);
            let mut server = null_mut();
            assert_status!(
                crate::server::drift_server_start(cfg, &mut server),
                InvalidArgument
            );
            assert!(server.is_null());
            drift_server_config_free(cfg);
        }
    }
}
