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
/// Response to subscribe: the newest sequence number of the topic when the
/// subscription started (0 for none).
pub const LAST_SEQ: &str = "drift-last-seq";
/// Response to subscribe: present when the requested resume point cannot be
/// honoured in full: `FROM-TO REASON` or `epoch`.
pub const GAP: &str = "drift-gap";
/// Trailer of a raw-framed subscription: why the stream ended.
pub const END_REASON: &str = "drift-end-reason";
