//! Header names used by Drift. HTTP/2 sends them lower-case; HTTP/1.1
//! matching is case-insensitive, so these constants are lower-case too.

/// Request: replay the newest N retained messages.
pub const HISTORY_LENGTH: &str = "x-history-length";
/// Request: replay retained messages published strictly after this Unix time (seconds).
pub const HISTORY_SINCE: &str = "x-history-since";
/// Response: `True` when the topic keeps history, `False` when not.
pub const HISTORY_ENABLED: &str = "x-history-enabled";
/// Request: resume after this message id (`EPOCH-SEQ`), as SSE clients send it.
pub const LAST_EVENT_ID: &str = "last-event-id";
/// Request: `disconnect` (default) or `drop`: what a full subscriber queue does.
pub const ON_SLOW: &str = "drift-on-slow";
/// Response: the message's (publish) or topic's (subscribe) epoch.
pub const EPOCH: &str = "drift-epoch";
/// Response to publish: the message's sequence number.
pub const SEQ: &str = "drift-seq";
/// Response to publish: the message id, `EPOCH-SEQ`.
pub const ID: &str = "drift-id";
/// Response to publish: publish time in microseconds since the Unix epoch.
pub const TIME: &str = "drift-time";
/// Response to publish: how many messages a streamed publish stored.
pub const COUNT: &str = "drift-count";
/// Trailer of a streamed publish whose answer streamed: `STATUS REASON`
/// when it failed part-way.
pub const ERROR: &str = "drift-error";
/// Response to subscribe: the newest sequence number of the topic when the
/// subscription started (0 for none).
pub const LAST_SEQ: &str = "drift-last-seq";
/// Response to subscribe: present when the requested resume point cannot be
/// honoured in full: `FROM-TO REASON` or `epoch`.
pub const GAP: &str = "drift-gap";
/// Trailer of a raw-framed subscription: why the stream ended. Sent only to
/// a request that accepts trailers (see [`accepts_trailers`]).
pub const END_REASON: &str = "drift-end-reason";

/// Whether a request's `TE` header lists `trailers` (RFC 9110 §10.1.4): the
/// client can read trailers. HTTP/2 clients that never ask may not expect
/// any (the original Go client fails on one), so none is sent to them.
pub fn accepts_trailers(headers: &http::HeaderMap) -> bool {
    headers
        .get_all(http::header::TE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|coding| coding.split(';').next())
        .any(|coding| coding.trim().eq_ignore_ascii_case("trailers"))
}

#[cfg(test)]
mod tests {
    use super::accepts_trailers;
    use http::{HeaderMap, HeaderValue, header::TE};

    fn te(values: &[&'static str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(TE, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn trailers_only_when_te_lists_them() {
        assert!(!accepts_trailers(&te(&[])));
        assert!(accepts_trailers(&te(&["trailers"])));
        assert!(accepts_trailers(&te(&["Trailers"])));
        assert!(accepts_trailers(&te(&["gzip;q=0.5, trailers"])));
        assert!(accepts_trailers(&te(&["gzip", "trailers"])));
        assert!(!accepts_trailers(&te(&["gzip"])));
        assert!(!accepts_trailers(&te(&["trailersx"])));
    }
}
