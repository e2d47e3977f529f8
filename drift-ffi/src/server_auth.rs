//! The authentication settings of `drift_server_config`: JWT keys, the
//! claims checked, and what a caller without a token may do (drift-core's
//! options `jwt_*`, `anonymous` and `allow_query_token`, which
//! `drift_server_config_set` also takes by name). Without a JWT key the
//! server is open, as before.

use std::ffi::c_char;
use std::path::PathBuf;

use drift_core::server::options::OptionValue;

use crate::boundary::{opt_str_arg, str_arg};
use crate::handle::try_set;
use crate::server_config::{drift_server_config, set_options};
use crate::status::drift_status;

/// Authenticate callers with HS256 JWTs signed with the secret in the file
/// `path` (at least 32 bytes; a trailing line end is ignored); NULL removes
/// it. With a JWT key set, everything a token does not grant is refused
/// (401 without a valid token, 403 without the right). The path is copied;
/// the file is read by `drift_server_start`, which fails with
/// `DRIFT_STATUS_INVALID_ARGUMENT` naming it when it is unusable.
///
/// # Safety
///
/// `cfg` is NULL or a live configuration used by no other thread; `path` is
/// NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_server_config_set_jwt_secret_file(
    cfg: *mut drift_server_config,
    path: *const c_char,
) -> drift_status {
    // SAFETY: forwarded from the caller.
    unsafe {
        try_set(cfg, |cfg| {
            // SAFETY: the caller promised NULL or a NUL-terminated string.
            let path = opt_str_arg(path, "path")?.map(PathBuf::from);
            Ok(cfg
                .options
                .set("jwt_secret_file", OptionValue::Path(path))?)
        })
    }
}

/// Also accept RS256 or ES256 JWTs signed by the public key in the PEM file
/// `path` (call once per key: tokens signed by any of them are accepted, so
/// that keys can be rotated). The path is copied; the file is read by
/// `drift_server_start`.
///
/// # Safety
///
/// `cfg` is NULL or a live configuration used by no other thread; `path` is
/// NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_server_config_add_jwt_public_key(
    cfg: *mut drift_server_config,
    path: *const c_char,
) -> drift_status {
    // SAFETY: forwarded from the caller.
    unsafe {
        try_set(cfg, |cfg| {
            // SAFETY: the caller promised a NUL-terminated string.
            let path = str_arg(path, "path")?;
            let mut keys: Vec<String> = cfg
                .options
                .config
                .jwt
                .public_key_files
                .iter()
                .map(|p| p.display().to_string())
                .collect();
            keys.push(path.to_owned());
            Ok(cfg.options.set("jwt_public_key", OptionValue::List(keys))?)
        })
    }
}

/// The `iss` and an `aud` a token must have; NULL for either: not checked
/// (the default). Both are copied.
///
/// # Safety
///
/// `cfg` is NULL or a live configuration used by no other thread; `issuer`
/// and `audience` are NULL or NUL-terminated strings.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_server_config_set_jwt_claims(
    cfg: *mut drift_server_config,
    issuer: *const c_char,
    audience: *const c_char,
) -> drift_status {
    // SAFETY: forwarded from the caller.
    unsafe {
        try_set(cfg, |cfg| {
            // SAFETY: the caller promised NULL or NUL-terminated strings.
            let issuer = opt_str_arg(issuer, "issuer")?.unwrap_or_default();
            // SAFETY: as above.
            let audience = opt_str_arg(audience, "audience")?.unwrap_or_default();
            cfg.options
                .set("jwt_issuer", OptionValue::Text(issuer.to_owned()))?;
            Ok(cfg
                .options
                .set("jwt_audience", OptionValue::Text(audience.to_owned()))?)
        })
    }
}

/// Accept tokens without `exp`, which never expire (`false`, the default,
/// refuses them).
///
/// # Safety
///
/// `cfg` is NULL or a live configuration used by no other thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_server_config_set_jwt_allow_no_exp(
    cfg: *mut drift_server_config,
    allow: bool,
) -> drift_status {
    // SAFETY: forwarded from the caller.
    unsafe { set_options(cfg, [("jwt_allow_no_exp", OptionValue::Bool(allow))]) }
}

/// What a caller without a token may subscribe to, with a JWT key set:
/// comma-separated topic patterns (`*` is any run of characters, as in
/// `"public.*,news"`), `"subscribe"` for every topic, or NULL or `"none"`
/// (the default) for nothing. Copied.
///
/// # Safety
///
/// `cfg` is NULL or a live configuration used by no other thread;
/// `patterns` is NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_server_config_set_anonymous(
    cfg: *mut drift_server_config,
    patterns: *const c_char,
) -> drift_status {
    // SAFETY: forwarded from the caller.
    unsafe {
        try_set(cfg, |cfg| {
            // SAFETY: the caller promised NULL or a NUL-terminated string.
            let text = opt_str_arg(patterns, "patterns")?.unwrap_or("none");
            let list: Vec<String> = text
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(str::to_owned)
                .collect();
            Ok(cfg.options.set("anonymous", OptionValue::List(list))?)
        })
    }
}

/// Also take a token from the `access_token` query parameter (RFC 6750).
/// `false` (the default) does not: URLs end up in logs and histories, and
/// RFC 9700 advises against tokens in them.
///
/// # Safety
///
/// `cfg` is NULL or a live configuration used by no other thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_server_config_set_allow_query_token(
    cfg: *mut drift_server_config,
    allow: bool,
) -> drift_status {
    // SAFETY: forwarded from the caller.
    unsafe { set_options(cfg, [("allow_query_token", OptionValue::Bool(allow))]) }
}
