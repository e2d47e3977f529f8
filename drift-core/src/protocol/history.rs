//! What a subscriber asks to be replayed, and how it wants back-pressure
//! handled, parsed from headers or (for browsers, which cannot set headers on
//! `EventSource`) the query string. The types themselves are the model's.

use percent_encoding::percent_decode_str;

use crate::error::{Error, Result};
use crate::model::MessageId;
pub use crate::model::{HistoryRequest, SlowPolicy};
use crate::protocol::headers;

/// The raw inputs of a subscription request, as the HTTP layer sees them.
#[derive(Debug, Default, Clone, Copy)]
pub struct SubscribeParams<'a> {
    /// `X-History-Length`.
    pub history_length: Option<&'a str>,
    /// `X-History-Since`.
    pub history_since: Option<&'a str>,
    /// `Last-Event-ID`.
    pub last_event_id: Option<&'a str>,
    /// `Drift-On-Slow`.
    pub on_slow: Option<&'a str>,
    /// The URL query string, without the `?`.
    pub query: Option<&'a str>,
}

// ===== impl HistoryRequest =====

impl HistoryRequest {
    /// Parses headers and query. A header wins over the same query parameter.
    /// Malformed values are errors (the server answers 400).
    pub fn parse(p: SubscribeParams<'_>) -> Result<(HistoryRequest, SlowPolicy)> {
        let mut q_history = None;
        let mut q_since = None;
        let mut q_after = None;
        let mut q_slow = None;
        for pair in p.query.unwrap_or("").split('&').filter(|s| !s.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = percent_decode_str(&value.replace('+', " "))
                .decode_utf8()
                .map_err(|_| Error::invalid(format!("query parameter {key} is not UTF-8")))?
                .into_owned();
            match key {
                "history" => q_history = Some(value),
                "since" => q_since = Some(value),
                "after" | "lastEventId" => q_after = Some(value),
                "slow" => q_slow = Some(value),
                _ => {} // unknown parameters (cache busters and the like) are ignored
            }
        }
        let length = p.history_length.map(str::to_owned).or(q_history);
        let since = p.history_since.map(str::to_owned).or(q_since);
        let after = p.last_event_id.map(str::to_owned).or(q_after);
        let slow = p.on_slow.map(str::to_owned).or(q_slow);

        let req = HistoryRequest {
            last: length.as_deref().map(parse_length).transpose()?,
            since_us: since.as_deref().map(parse_unix_seconds).transpose()?,
            after: after
                .as_deref()
                .map(|v| {
                    v.parse::<MessageId>().map_err(|_| {
                        Error::invalid(format!(
                            "malformed {}: {v:?} is not EPOCH-SEQ",
                            headers::LAST_EVENT_ID
                        ))
                    })
                })
                .transpose()?,
        };
        let policy = match slow.as_deref().map(str::trim) {
            None => SlowPolicy::Disconnect,
            Some(word) => word.parse().map_err(|_| {
                Error::invalid(format!(
                    "malformed {}: {word:?} (expected disconnect or drop)",
                    headers::ON_SLOW
                ))
            })?,
        };
        Ok((req, policy))
    }

    /// The request headers a client sends for this request.
    pub fn to_headers(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if let Some(n) = self.last {
            out.push((headers::HISTORY_LENGTH, n.to_string()));
        }
        if let Some(us) = self.since_us {
            out.push((headers::HISTORY_SINCE, format_unix_seconds(us)));
        }
        if let Some(id) = self.after {
            out.push((headers::LAST_EVENT_ID, id.to_string()));
        }
        out
    }
}

fn parse_length(v: &str) -> Result<u64> {
    let v = v.trim();
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::invalid(format!(
            "malformed {}: {v:?} is not a non-negative decimal integer",
            headers::HISTORY_LENGTH
        )));
    }
    v.parse().map_err(|_| {
        Error::invalid(format!(
            "malformed {}: {v:?} is too large",
            headers::HISTORY_LENGTH
        ))
    })
}

/// Parses Unix seconds, `1436464998` or with a fraction `1436464998.25`,
/// into microseconds.
pub fn parse_unix_seconds(v: &str) -> Result<u64> {
    let bad = || {
        Error::invalid(format!(
            "malformed {}: {v:?} is not Unix seconds (decimal, optional fraction)",
            headers::HISTORY_SINCE
        ))
    };
    let v = v.trim();
    let (whole, frac) = v.split_once('.').unwrap_or((v, ""));
    if whole.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    if v.ends_with('.') {
        return Err(bad());
    }
    let secs: u64 = whole.parse().map_err(|_| bad())?;
    // Keep microsecond precision; extra digits are truncated.
    let mut micros = 0u64;
    for (i, d) in frac.bytes().take(6).enumerate() {
        micros += u64::from(d - b'0') * 10u64.pow(5 - i as u32);
    }
    secs.checked_mul(1_000_000)
        .and_then(|s| s.checked_add(micros))
        .ok_or_else(bad)
}

/// Formats microseconds as Unix seconds with a fraction when needed.
pub fn format_unix_seconds(us: u64) -> String {
    let (secs, micros) = (us / 1_000_000, us % 1_000_000);
    if micros == 0 {
        secs.to_string()
    } else {
        format!("{secs}.{micros:06}")
            .trim_end_matches('0')
            .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(p: SubscribeParams<'_>) -> Result<HistoryRequest> {
        HistoryRequest::parse(p).map(|(r, _)| r)
    }

    #[test]
    fn headers_parse() {
        let r = parse(SubscribeParams {
            history_length: Some("5"),
            history_since: Some("10.5"),
            last_event_id: Some("3-4"),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(r.last, Some(5));
        assert_eq!(r.since_us, Some(10_500_000));
        assert_eq!(r.after, Some(MessageId { epoch: 3, seq: 4 }));
    }

    #[test]
    fn malformed_values_are_errors() {
        for (len, since, id) in [
            (Some("abc"), None, None),
            (Some("-1"), None, None),
            (Some("0x10"), None, None),
            (None, Some("yesterday"), None),
            (None, Some("0x10"), None),
            (None, Some("-5"), None),
            (None, Some("1."), None),
            (None, None, Some("x")),
        ] {
            let p = SubscribeParams {
                history_length: len,
                history_since: since,
                last_event_id: id,
                ..Default::default()
            };
            assert!(parse(p).is_err(), "{len:?} {since:?} {id:?}");
        }
    }

    #[test]
    fn query_is_the_browser_form() {
        let (r, slow) = HistoryRequest::parse(SubscribeParams {
            query: Some("history=2&since=7&after=1-2&slow=drop&_=123"),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            r,
            HistoryRequest {
                last: Some(2),
                since_us: Some(7_000_000),
                after: Some(MessageId { epoch: 1, seq: 2 })
            }
        );
        assert_eq!(slow, SlowPolicy::Drop);
        let r = parse(SubscribeParams {
            history_length: Some("9"),
            query: Some("history=2"),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(r.last, Some(9));
        assert!(
            HistoryRequest::parse(SubscribeParams {
                query: Some("slow=later"),
                ..Default::default()
            })
            .is_err()
        );
    }

    #[test]
    fn unix_seconds_format_round_trips() {
        for us in [0, 1_000_000, 1_500_000, 1_436_464_998_000_001] {
            assert_eq!(parse_unix_seconds(&format_unix_seconds(us)).unwrap(), us);
        }
    }
}
