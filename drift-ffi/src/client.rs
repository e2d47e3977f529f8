//! `drift_client_options` and `drift_client`: a connection to a Drift
//! server, with blocking calls.

use std::ffi::c_char;
use std::path::PathBuf;
use std::time::Duration;

use drift_core::broker::TopicConfigRequest;
use drift_core::client::blocking::BlockingClient;
use drift_core::client::{Client, ClientBuilder, DEFAULT_CONNECT_TIMEOUT, DEFAULT_REQUEST_TIMEOUT};
use drift_core::tls::Trust;

use crate::boundary::{
    Failure, FfiResult, Out, bytes_arg, millis_or_none, opt_str_arg, str_arg, write_id, write_out,
};
use crate::handle::{self, Builder, Handle, Kind, set, try_set};
use crate::status::drift_status;

/// How a client connects: which server certificates it trusts, extra
/// headers, timeouts. A builder, filled with defaults by
/// `drift_client_options_new` and changed by the `drift_client_options_*`
/// functions; opaque, so that new options can be added without breaking
/// programs built against an older header.
///
/// Defaults: trust the operating system's root certificates, no extra
/// headers, 10 s to connect, 30 s per request.
///
/// Owned by the caller (free it with `drift_client_options_free`; a client
/// made from it does not need it any more). Use it from one thread at a
/// time.
#[derive(Clone)]
pub struct drift_client_options {
    trust: Trust,
    insecure: bool,
    headers: Vec<(String, String)>,
    /// Sent as a bearer header; kept apart from `headers` so that Debug
    /// never shows it.
    token: Option<String>,
    connect_timeout: Duration,
    request_timeout: Option<Duration>,
}

impl Handle for drift_client_options {
    const KIND: Kind = Kind::ClientOptions;
}

impl Builder for drift_client_options {
    const ARG: &'static str = "options";
}

/// A client of one Drift server: one multiplexed HTTP/2 connection (made by
/// the first request, made again after it breaks), served by the client's
/// own two runtime threads (named `drift-client`).
///
/// Owned by the caller; free it with `drift_client_free`. It is thread-safe:
/// any number of threads may use one client at once (their requests share
/// the connection). Every call blocks the calling thread until it is done.
#[derive(Debug)]
pub struct drift_client {
    inner: BlockingClient,
}

impl Handle for drift_client {
    const KIND: Kind = Kind::Client;
}

// ===== impl drift_client_options =====

impl std::fmt::Debug for drift_client_options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Header values may be credentials: list names only.
        let names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("drift_client_options")
            .field("trust", &self.trust)
            .field("insecure", &self.insecure)
            .field("headers", &names)
            .field("token", &self.token.as_ref().map(|_| "(set)"))
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .finish()
    }
}

impl Default for drift_client_options {
    fn default() -> Self {
        drift_client_options {
            trust: Trust::System,
            insecure: false,
            headers: Vec::new(),
            token: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            request_timeout: Some(DEFAULT_REQUEST_TIMEOUT),
        }
    }
}

impl drift_client_options {
    fn builder(&self, url: &str) -> ClientBuilder {
        let mut b = Client::builder(url)
            .trust(self.trust.clone())
            .insecure(self.insecure)
            .connect_timeout(self.connect_timeout);
        b = match self.request_timeout {
            Some(t) => b.request_timeout(t),
            None => b.no_request_timeout(),
        };
        for (name, value) in &self.headers {
            b = b.header(name.clone(), value.clone());
        }
        if let Some(token) = &self.token {
            b = b.token(token);
        }
        b
    }
}

/// New client options with the defaults (see `drift_client_options`).
/// Returns NULL only if libdrift panicked. The caller owns them and frees
/// them with `drift_client_options_free`. Any thread may call this.
#[unsafe(no_mangle)]
pub extern "C" fn drift_client_options_new() -> *mut drift_client_options {
    ffi_boundary! { handle::into_raw(drift_client_options::default()) }
}

/// Frees client options. NULL is a no-op; a pointer that is not live
/// options is left alone (and the last error set).
///
/// # Safety
///
/// `opts` is NULL or a pointer from libdrift, and no other call on it is
/// running.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_client_options_free(opts: *mut drift_client_options) {
    // SAFETY: forwarded from the caller.
    unsafe { handle::free(opts, "drift_client_options_free") }
}

/// Trust only the CA certificates in this PEM file (e.g. the `cert.pem` that
/// `drift serve` generated). The path is copied; the file is read by
/// `drift_client_new`.
///
/// # Safety
///
/// `opts` is NULL or live options used by no other thread; `path` is NULL
/// or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_client_options_set_ca_file(
    opts: *mut drift_client_options,
    path: *const c_char,
) -> drift_status {
    // SAFETY: forwarded from the caller.
    unsafe {
        try_set(opts, |opts| {
            // SAFETY: the caller promised a NUL-terminated string.
            let path = str_arg(path, "path")?;
            opts.trust = Trust::CaFile(PathBuf::from(path));
            Ok(())
        })
    }
}

/// Trust only the CA certificates in this NUL-terminated PEM text (e.g. from
/// `drift_server_ca_cert_pem`). The text is copied.
///
/// # Safety
///
/// `opts` is NULL or live options used by no other thread; `pem` is NULL or
/// a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_client_options_set_ca_pem(
    opts: *mut drift_client_options,
    pem: *const c_char,
) -> drift_status {
    // SAFETY: forwarded from the caller.
    unsafe {
        try_set(opts, |opts| {
            // SAFETY: the caller promised a NUL-terminated string.
            let pem = str_arg(pem, "pem")?;
            opts.trust = Trust::CaPem(pem.as_bytes().to_vec());
            Ok(())
        })
    }
}

/// Accept any server certificate (`true`). **For development servers
/// only**: it gives no protection against an active attacker. Overrides the
/// CA settings while set. Default `false`.
///
/// # Safety
///
/// `opts` is NULL or live options used by no other thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_client_options_set_insecure(
    opts: *mut drift_client_options,
    insecure: bool,
) -> drift_status {
    // SAFETY: forwarded from the caller.
    unsafe { set(opts, |o| o.insecure = insecure) }
}

/// Adds a header sent with every request (e.g. `"authorization"`,
/// `"Bearer …"`). May be called several times. Both strings are copied;
/// they are checked by `drift_client_new`.
///
/// # Safety
///
/// `opts` is NULL or live options used by no other thread; `name` and
/// `value` are NULL or NUL-terminated strings.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_client_options_add_header(
    opts: *mut drift_client_options,
    name: *const c_char,
    value: *const c_char,
) -> drift_status {
    // SAFETY: forwarded from the caller.
    unsafe {
        try_set(opts, |opts| {
            // SAFETY: the caller promised NUL-terminated strings.
            let name = str_arg(name, "name")?;
            // SAFETY: as above.
            let value = str_arg(value, "value")?;
            opts.headers.push((name.to_owned(), value.to_owned()));
            Ok(())
        })
    }
}

/// Send `token` as `Authorization: Bearer TOKEN` with every request (a JWT
/// the server's authentication accepts); NULL removes it. The token is
/// copied, and never appears in an error message.
///
/// # Safety
///
/// `opts` is NULL or live options used by no other thread; `token` is NULL
/// or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_client_options_set_token(
    opts: *mut drift_client_options,
    token: *const c_char,
) -> drift_status {
    // SAFETY: forwarded from the caller.
    unsafe {
        try_set(opts, |opts| {
            // SAFETY: the caller promised NULL or a NUL-terminated string.
            opts.token = opt_str_arg(token, "token")?.map(str::to_owned);
            Ok(())
        })
    }
}

/// Time allowed to set up a connection (TCP, TLS, HTTP/2), in milliseconds
/// (default 10000; must be > 0).
///
/// # Safety
///
/// `opts` is NULL or live options used by no other thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_client_options_set_connect_timeout_ms(
    opts: *mut drift_client_options,
    ms: u64,
) -> drift_status {
    // SAFETY: forwarded from the caller.
    unsafe {
        try_set(opts, |opts| {
            if ms == 0 {
                return Err(Failure::invalid(
                    "the connect timeout must be greater than 0",
                ));
            }
            opts.connect_timeout = Duration::from_millis(ms);
            Ok(())
        })
    }
}

/// Time allowed for one request, from sending to the whole response, in
/// milliseconds (default 30000; 0: no limit). For a subscription it bounds
/// the wait for the server's answer only, not the stream.
///
/// # Safety
///
/// `opts` is NULL or live options used by no other thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_client_options_set_request_timeout_ms(
    opts: *mut drift_client_options,
    ms: u64,
) -> drift_status {
    // SAFETY: forwarded from the caller.
    unsafe { set(opts, |o| o.request_timeout = millis_or_none(ms)) }
}

// ===== impl drift_client =====

impl drift_client {
    pub(crate) fn blocking(&self) -> &BlockingClient {
        &self.inner
    }
}

/// The client and topic arguments most calls on a client start with.
///
/// # Safety
///
/// `client` is NULL or a pointer from libdrift that the caller keeps alive;
/// `topic` is NULL or a NUL-terminated string.
pub(crate) unsafe fn client_topic<'a>(
    client: *const drift_client,
    topic: *const c_char,
) -> FfiResult<(&'a drift_client, &'a str)> {
    // SAFETY: checked by the registry; the caller keeps it alive.
    let client = unsafe { handle::borrow(client, "client") }?;
    // SAFETY: the caller promised a NUL-terminated string.
    let topic = unsafe { str_arg(topic, "topic") }?;
    Ok((client, topic))
}

/// Makes a client for the server at `url`: `"https://HOST:PORT"` (TLS,
/// HTTP/2 by ALPN) or `"http://HOST:PORT"` (cleartext HTTP/2, for an h2c
/// server); several, separated by commas, name nodes that share topics
/// (`drift serve --redis`), and the client moves to the next when it cannot
/// reach one. `options` may be NULL for the defaults; it is only read during
/// the call. It does not connect: the first request does, so a server that
/// is down shows up as `DRIFT_STATUS_CONNECT` from that request.
///
/// On success `*out` receives the client, owned by the caller, who frees it
/// with `drift_client_free`. Fails with `DRIFT_STATUS_INVALID_ARGUMENT` for
/// a malformed URL or header, `DRIFT_STATUS_IO` / `DRIFT_STATUS_TLS` when a
/// CA file cannot be read or holds no certificate. Any thread may call this.
///
/// # Safety
///
/// `url` is NULL or a NUL-terminated string; `options` is NULL or live
/// options not changed meanwhile; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_client_new(
    url: *const c_char,
    options: *const drift_client_options,
    out: *mut *mut drift_client,
) -> drift_status {
    ffi_status! {
        // SAFETY: the caller promised a NUL-terminated url, live (or NULL)
        // options and a writable (or NULL) out.
        let (url, out) = unsafe { (str_arg(url, "url")?, Out::new(out, "out")?) };
        // SAFETY: as above.
        let options = unsafe { handle::borrow_or_default(options, "options") }?;
        crate::signals::ignore_sigpipe();
        let inner = BlockingClient::new(options.builder(url))?;
        out.give(drift_client { inner })
    }
}

/// Frees a client. Subscriptions made from it stay usable (they keep what
/// they need of it alive) until they are freed themselves. NULL is a no-op;
/// a pointer that is not a live client is left alone (and the last error
/// set). Must be the last call on the client.
///
/// # Safety
///
/// `client` is NULL or a pointer from libdrift, and no other call on it is
/// running.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_client_free(client: *mut drift_client) {
    // SAFETY: forwarded from the caller.
    unsafe { handle::free(client, "drift_client_free") }
}

/// Publishes one message: `len` bytes at `data` (any bytes; `data` may be
/// NULL when `len` is 0), copied before the call returns. Creates the topic
/// unless the server requires `drift_client_create` first.
///
/// On success `*out_seq` and `*out_epoch` receive the message's id (both
/// 0 from a server that assigns no ids) and `*out_time_us` its publish
/// time in microseconds since the Unix epoch, by the server's clock (by the
/// client's when the server does not say); each may be NULL when not
/// wanted. Fails with `DRIFT_STATUS_TOO_LARGE` above the server's message size
/// limit, `DRIFT_STATUS_INVALID_ARGUMENT` for a bad topic name,
/// `DRIFT_STATUS_NOT_FOUND` on a server that requires creation, or a
/// connection status. Any thread may call this, concurrently.
///
/// # Safety
///
/// `client` is NULL or a live client; `topic` is NULL or a NUL-terminated
/// string; `data` is NULL or points to `len` readable bytes; `out_seq`,
/// `out_epoch` and `out_time_us` are NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_client_publish(
    client: *const drift_client,
    topic: *const c_char,
    data: *const u8,
    len: usize,
    out_seq: *mut u64,
    out_epoch: *mut u64,
    out_time_us: *mut u64,
) -> drift_status {
    ffi_status! {
        // SAFETY: forwarded from the caller.
        let (client, topic) = unsafe { client_topic(client, topic) }?;
        // SAFETY: the caller promised len readable bytes.
        let payload = unsafe { bytes_arg(data, len, "data") }?;
        let sent = client.inner.publish(topic, bytes::Bytes::copy_from_slice(payload))?;
        // SAFETY: each is NULL (skipped) or writable, as promised.
        unsafe {
            write_id(out_seq, out_epoch, sent.id);
            write_out(out_time_us, sent.time_us);
        }
        Ok(())
    }
}

/// Publishes `count` messages to `topic`, in order, in one request: message
/// `i` is `lens[i]` bytes at `data[i]` (`data[i]` may be NULL when
/// `lens[i]` is 0). Everything is copied before the call returns. `data`
/// and `lens` may be NULL when `count` is 0, which publishes nothing.
///
/// On success `out_seqs[i]` and `out_epochs[i]` receive the id of message
/// `i` (0 from a server that assigns none) and `out_times_us[i]` its
/// publish time, as `drift_client_publish` says; each array may be NULL when
/// not wanted, or has room for `count` values. Fails as
/// `drift_client_publish`; when the server fails part-way, the messages
/// before the failure stay published and the out arrays are not written.
/// Any thread may call this, concurrently.
///
/// # Safety
///
/// `client` is NULL or a live client; `topic` is NULL or a NUL-terminated
/// string; when `count` > 0, `data` and `lens` are NULL or point to `count`
/// readable values, and each `data[i]` is NULL or points to `lens[i]`
/// readable bytes; `out_seqs`, `out_epochs` and `out_times_us` are NULL or
/// writable for `count` values.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_client_publish_many(
    client: *const drift_client,
    topic: *const c_char,
    data: *const *const u8,
    lens: *const usize,
    count: usize,
    out_seqs: *mut u64,
    out_epochs: *mut u64,
    out_times_us: *mut u64,
) -> drift_status {
    ffi_status! {
        // SAFETY: forwarded from the caller.
        let (client, topic) = unsafe { client_topic(client, topic) }?;
        // SAFETY: the caller promised count readable pointers and lengths.
        let payloads = unsafe { payloads_arg(data, lens, count) }?;
        let sent = client.inner.publish_many(topic, payloads)?;
        let at = |array: *mut u64, i| if array.is_null() { array } else { array.wrapping_add(i) };
        for (i, one) in sent.into_iter().take(count).enumerate() {
            // SAFETY: each array is NULL (skipped) or writable for count
            // values, as promised, and i < count.
            unsafe {
                write_id(at(out_seqs, i), at(out_epochs, i), one.id);
                write_out(at(out_times_us, i), one.time_us);
            }
        }
        Ok(())
    }
}

/// The `count` payloads of `drift_client_publish_many`, copied.
///
/// # Safety
///
/// As `drift_client_publish_many` promises for `data`, `lens` and `count`.
unsafe fn payloads_arg(
    data: *const *const u8,
    lens: *const usize,
    count: usize,
) -> FfiResult<Vec<bytes::Bytes>> {
    if count == 0 {
        return Ok(Vec::new());
    }
    if data.is_null() {
        return Err(Failure::null("data"));
    }
    if lens.is_null() {
        return Err(Failure::null("lens"));
    }
    if count > isize::MAX as usize / std::mem::size_of::<usize>() {
        return Err(Failure::invalid(format!("count {count} is too large")));
    }
    // SAFETY: non-NULL, count fits, and the caller promised count readable
    // values in each array.
    let (data, lens) = unsafe {
        (
            std::slice::from_raw_parts(data, count),
            std::slice::from_raw_parts(lens, count),
        )
    };
    data.iter()
        .zip(lens)
        .enumerate()
        .map(|(i, (&ptr, &len))| {
            // SAFETY: the caller promised lens[i] readable bytes at data[i].
            let bytes = unsafe { bytes_arg(ptr, len, format_args!("data[{i}]")) }?;
            Ok(bytes::Bytes::copy_from_slice(bytes))
        })
        .collect()
}

/// Creates `topic`. `json_config` may be NULL for the server's defaults, or
/// a JSON object such as `{"historyLength": 10}` with the fields `history`
/// (bool), `historyLength`, `maxAge` (seconds) and `maxBytes`; unknown
/// fields are refused with `DRIFT_STATUS_INVALID_ARGUMENT`.
///
/// On success `*out_created` (may be NULL) receives `true` if the topic was
/// created, `false` if it existed already with the same configuration. Fails
/// with `DRIFT_STATUS_CONFLICT` when it exists with another configuration.
/// Any thread may call this, concurrently.
///
/// # Safety
///
/// `client` is NULL or a live client; `topic` and `json_config` are NULL or
/// NUL-terminated strings; `out_created` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_client_create(
    client: *const drift_client,
    topic: *const c_char,
    json_config: *const c_char,
    out_created: *mut bool,
) -> drift_status {
    ffi_status! {
        // SAFETY: forwarded from the caller.
        let (client, topic) = unsafe { client_topic(client, topic) }?;
        // SAFETY: the caller promised NULL or a NUL-terminated string.
        let json = unsafe { opt_str_arg(json_config, "json_config") }?;
        let config = match json {
            Some(text) => TopicConfigRequest::from_json(text.as_bytes())?,
            None => TopicConfigRequest::default(),
        };
        let created = client.inner.create(topic, &config)?;
        // SAFETY: NULL (skipped) or writable, as promised.
        unsafe { write_out(out_created, created) };
        Ok(())
    }
}

/// Deletes `topic`: its history is dropped and every subscription to it
/// ends with a `DRIFT_KIND_END` message whose reason is `"deleted"`. Fails
/// with `DRIFT_STATUS_NOT_FOUND` when there is no such topic. Any thread may
/// call this, concurrently.
///
/// # Safety
///
/// `client` is NULL or a live client; `topic` is NULL or a NUL-terminated
/// string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_client_delete(
    client: *const drift_client,
    topic: *const c_char,
) -> drift_status {
    ffi_status! {
        // SAFETY: forwarded from the caller.
        let (client, topic) = unsafe { client_topic(client, topic) }?;
        Ok(client.inner.delete(topic)?)
    }
}

/// Whether `topic` exists (never creates it). On success `*out_exists`
/// receives the answer. Any thread may call this, concurrently.
///
/// # Safety
///
/// `client` is NULL or a live client; `topic` is NULL or a NUL-terminated
/// string; `out_exists` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_client_exists(
    client: *const drift_client,
    topic: *const c_char,
    out_exists: *mut bool,
) -> drift_status {
    ffi_status! {
        // SAFETY: forwarded from the caller.
        let (client, topic) = unsafe { client_topic(client, topic) }?;
        // SAFETY: the caller promised NULL or a writable bool.
        let out = unsafe { Out::new(out_exists, "out_exists") }?;
        out.write(client.inner.exists(topic)?)
    }
}

/// The server's clock in Unix seconds (to estimate clock skew before asking
/// for history since a time). On success `*out_unix_secs` receives it. Any
/// thread may call this, concurrently.
///
/// # Safety
///
/// `client` is NULL or a live client; `out_unix_secs` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_client_server_time(
    client: *const drift_client,
    out_unix_secs: *mut u64,
) -> drift_status {
    ffi_status! {
        // SAFETY: checked by the registry; the caller keeps it alive.
        let client = unsafe { handle::borrow(client, "client") }?;
        // SAFETY: the caller promised NULL or a writable uint64_t.
        let out = unsafe { Out::new(out_unix_secs, "out_unix_secs") }?;
        out.write(client.inner.server_time()?)
    }
}

#[cfg(test)]
mod tests {
    use std::ptr::{null, null_mut};

    use super::*;
    use crate::boundary::{last_error_bytes, last_error_status};

    #[test]
    fn options_check_their_arguments() {
        // SAFETY: live options from libdrift, NULLs and valid C strings.
        unsafe {
            let o = drift_client_options_new();
            assert_status!(drift_client_options_set_ca_file(o, null()), NullArgument);
            assert_status!(drift_client_options_set_ca_pem(o, null()), NullArgument);
            assert_status!(
                drift_client_options_add_header(o, null(), c"v".as_ptr()),
                NullArgument
            );
            assert_status!(
                drift_client_options_add_header(o, c"n".as_ptr(), null()),
                NullArgument
            );
            assert_status!(
                drift_client_options_add_header(o, c"\xc3\x28".as_ptr(), c"v".as_ptr()),
                InvalidArgument
            );
            assert_status!(
                drift_client_options_set_connect_timeout_ms(o, 0),
                InvalidArgument
            );
            assert_eq!((*o).connect_timeout, DEFAULT_CONNECT_TIMEOUT, "unchanged");
            assert_status!(drift_client_options_set_insecure(o, true), Ok);
            assert!((*o).insecure);
            let n = null_mut();
            for status in [
                drift_client_options_set_ca_file(n, c"x".as_ptr()),
                drift_client_options_set_ca_pem(n, c"x".as_ptr()),
                drift_client_options_set_insecure(n, true),
                drift_client_options_add_header(n, c"n".as_ptr(), c"v".as_ptr()),
                drift_client_options_set_connect_timeout_ms(n, 1),
                drift_client_options_set_request_timeout_ms(n, 1),
            ] {
                assert_status!(status, NullArgument);
            }
            // A bad header is caught when the client is made.
            assert_status!(
                drift_client_options_add_header(o, c"bad name".as_ptr(), c"v".as_ptr()),
                Ok
            );
            let mut c = null_mut();
            assert_status!(
                drift_client_new(c"http://127.0.0.1:1".as_ptr(), o, &mut c),
                InvalidArgument
            );
            assert!(c.is_null());
            drift_client_options_free(o);

            let o = drift_client_options_new();
            assert_status!(
                drift_client_options_set_ca_file(o, c"/nonexistent/ca.pem".as_ptr()),
                Ok
            );
            assert_status!(
                drift_client_new(c"https://127.0.0.1:1".as_ptr(), o, &mut c),
                Io
            );
            drift_client_options_free(o);
            drift_client_options_free(null_mut());
        }
    }

    #[test]
    fn client_calls_refuse_null_and_bad_utf8() {
        // SAFETY: NULLs, valid C strings, and a live client.
        unsafe {
            let mut c = null_mut();
            assert_status!(drift_client_new(null(), null(), &mut c), NullArgument);
            assert_status!(
                drift_client_new(c"http://127.0.0.1:1".as_ptr(), null(), null_mut()),
                NullArgument
            );
            assert_status!(
                drift_client_new(c"ftp://x".as_ptr(), null(), &mut c),
                InvalidArgument
            );
            assert_status!(
                drift_client_new(c"http://127.0.0.1:1".as_ptr(), null(), &mut c),
                Ok
            );
            let t = c"t".as_ptr();
            let bad = c"\xff".as_ptr();
            let (mut seq, mut b, mut secs) = (0u64, false, 0u64);
            assert_status!(
                drift_client_publish(null(), t, null(), 0, null_mut(), null_mut(), null_mut()),
                NullArgument
            );
            assert_status!(
                drift_client_publish(c, null(), null(), 0, null_mut(), null_mut(), null_mut()),
                NullArgument
            );
            assert_status!(
                drift_client_publish(c, t, null(), 3, null_mut(), null_mut(), null_mut()),
                NullArgument
            );
            assert_status!(
                drift_client_publish(c, bad, null(), 0, &mut seq, null_mut(), null_mut()),
                InvalidArgument
            );
            assert!(
                String::from_utf8(last_error_bytes())
                    .unwrap()
                    .contains("topic is not valid UTF-8")
            );
            assert_status!(
                drift_client_create(null(), t, null(), null_mut()),
                NullArgument
            );
            assert_status!(
                drift_client_create(c, null(), null(), null_mut()),
                NullArgument
            );
            assert_status!(
                drift_client_create(c, bad, null(), null_mut()),
                InvalidArgument
            );
            assert_status!(drift_client_create(c, t, bad, null_mut()), InvalidArgument);
            assert_status!(
                drift_client_create(c, t, c"{\"histroy\":1}".as_ptr(), &mut b),
                InvalidArgument
            );
            assert_status!(drift_client_delete(null(), t), NullArgument);
            assert_status!(drift_client_delete(c, null()), NullArgument);
            assert_status!(drift_client_delete(c, bad), InvalidArgument);
            assert_status!(drift_client_exists(null(), t, &mut b), NullArgument);
            assert_status!(drift_client_exists(c, null(), &mut b), NullArgument);
            assert_status!(drift_client_exists(c, t, null_mut()), NullArgument);
            assert_status!(drift_client_exists(c, bad, &mut b), InvalidArgument);
            assert_status!(drift_client_server_time(null(), &mut secs), NullArgument);
            assert_status!(drift_client_server_time(c, null_mut()), NullArgument);
            // Nothing listens on port 1.
            assert_status!(drift_client_server_time(c, &mut secs), Connect);
            assert_status!(last_error_status(), Connect);
            assert_eq!(
                (seq, b, secs),
                (0, false, 0),
                "out-params untouched on failure"
            );
            drift_client_free(c);
            drift_client_free(c);
            assert_status!(last_error_status(), InvalidArgument);
            drift_client_free(null_mut());
        }
    }
}
