//! Broker-wide limits and defaults, and per-topic configuration.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::auth::{AllowAll, Authenticator};
use super::quota::Quotas;
use super::store::{MemoryStore, TopicStore};
use crate::error::{Error, Result};

/// Limits and defaults of a [`super::Broker`].
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// History capacity of a topic that does not set its own (messages).
    pub history_length: usize,
    /// History bound per topic in bytes, each message counted with its
    /// overhead ([`crate::model::charged_bytes`]), unless the topic sets its
    /// own; `None`: [`BrokerConfig::max_history_bytes`].
    pub history_bytes: Option<u64>,
    /// History bound by age per topic, unless the topic sets its own;
    /// `None`: [`BrokerConfig::max_history_age`] (none when that is none).
    pub history_max_age: Option<Duration>,
    /// The largest `historyLength` a `PUT` may ask for (at most
    /// [`MAX_HISTORY_LENGTH`]); `history_length` must fit too.
    pub max_history_length: usize,
    /// The largest `maxBytes` a `PUT` may ask for; `history_bytes` must fit
    /// too. Always a bound: no topic's history is unbounded in bytes.
    pub max_history_bytes: u64,
    /// The largest `maxAge` a `PUT` may ask for; `history_max_age` must fit
    /// too. `None`: up to [`MAX_AGE_SECS`] (the count and byte caps already
    /// bound what a topic holds, so this cap is for a retention policy).
    pub max_history_age: Option<Duration>,
    /// The history memory budget: what every retained message held in this
    /// process's memory costs together (payload and overhead, over all
    /// topics: the memory store's history, the disk store's caches). Past
    /// it the oldest messages of the topics holding the most are evicted
    /// (a resuming subscriber is told of an `expired` gap); publishes are
    /// never refused for it. The Redis store holds history in Redis.
    pub history_memory: u64,
    /// Largest accepted message payload.
    pub max_message_bytes: usize,
    /// Longest accepted topic name, in bytes.
    pub max_topic_name_bytes: usize,
    /// Topics the broker holds at most.
    pub max_topics: usize,
    /// Subscriptions the broker holds at most.
    pub max_subscriptions: usize,
    /// A subscriber may fall this many messages behind before it is slow.
    pub queue_messages: usize,
    /// A subscriber may fall this many bytes behind before it is slow, each
    /// message counted as its payload and [`crate::model::MESSAGE_OVERHEAD_BYTES`].
    pub queue_bytes: u64,
    /// Refuse to create topics implicitly (publish/subscribe then need `PUT`).
    pub require_create: bool,
    /// A topic that subscribers made by asking for it (no `PUT`, nothing
    /// ever published) is forgotten this long after its last subscriber
    /// left; `None`: kept until deleted. Only stores that hold topics in
    /// this process's memory forget them (see `TopicStore::forget_unused`).
    pub unused_topic_expiry: Option<Duration>,
    /// Turns every request's credentials into a grant that the action is
    /// checked against ([`AllowAll`] by default: an open server).
    pub authenticator: Arc<dyn Authenticator>,
    /// Holds every topic's epoch, configuration and retained messages, and
    /// assigns seqs (memory by default).
    pub store: Arc<dyn TopicStore>,
    /// What one connection, and one subject (a grant's `sub`) over all of
    /// its connections, may hold open, create and publish (see
    /// [`Quotas::default`]); refusals are HTTP 429.
    pub quotas: Quotas,
    /// Count what the broker and the HTTP service over it do, for
    /// `GET /metrics` (on by default). Off, nothing is counted and the
    /// server answers `/metrics` with 404.
    pub metrics: bool,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig {
            history_length: 1000,
            history_bytes: Some(64 << 20),
            history_max_age: None,
            max_history_length: DEFAULT_MAX_HISTORY_LENGTH,
            max_history_bytes: DEFAULT_MAX_HISTORY_BYTES,
            max_history_age: None,
            history_memory: DEFAULT_HISTORY_MEMORY,
            max_message_bytes: 1 << 20,
            max_topic_name_bytes: 256,
            max_topics: 100_000,
            max_subscriptions: 250_000,
            queue_messages: 1024,
            queue_bytes: 8 << 20,
            require_create: false,
            unused_topic_expiry: Some(Duration::from_secs(60)),
            authenticator: Arc::new(AllowAll),
            store: Arc::new(MemoryStore::new()),
            quotas: Quotas::default(),
            metrics: true,
        }
    }
}

impl BrokerConfig {
    /// Refuses limits that cannot work (a zero where at least one is
    /// needed, a history longer than [`MAX_HISTORY_LENGTH`]), naming the
    /// setting. Every way of configuring a server (`drift serve`, the C and
    /// Python servers, [`crate::server::Server::bind`]) checks with this.
    ///
    /// # Errors
    ///
    /// [`crate::ErrorKind::InvalidInput`] naming the first bad setting.
    pub fn validate(&self) -> Result<()> {
        if self.max_history_length > MAX_HISTORY_LENGTH {
            return Err(Error::invalid(format!(
                "max history length {} exceeds the maximum of {MAX_HISTORY_LENGTH}",
                self.max_history_length
            )));
        }
        if self.history_length > self.max_history_length {
            return Err(Error::invalid(format!(
                "history length {} exceeds max history length {}",
                self.history_length, self.max_history_length
            )));
        }
        if let Some(bytes) = self.history_bytes
            && bytes > self.max_history_bytes
        {
            return Err(Error::invalid(format!(
                "history bytes {bytes} exceeds max history bytes {}",
                self.max_history_bytes
            )));
        }
        for (name, age) in [
            ("history max age", self.history_max_age),
            ("max history age", self.max_history_age),
        ] {
            if let Some(age) = age
                && age.as_secs() > MAX_AGE_SECS
            {
                return Err(Error::invalid(format!(
                    "{name} of {} s exceeds the maximum of {MAX_AGE_SECS} s (100 years)",
                    age.as_secs()
                )));
            }
        }
        if let (Some(age), Some(cap)) = (self.history_max_age, self.max_history_age)
            && age > cap
        {
            return Err(Error::invalid(format!(
                "history max age of {} s exceeds max history age of {} s",
                age.as_secs(),
                cap.as_secs()
            )));
        }
        if let Some(expiry) = self.unused_topic_expiry
            && expiry.as_secs() > MAX_AGE_SECS
        {
            return Err(Error::invalid(format!(
                "unused topic expiry of {} s exceeds the maximum of {MAX_AGE_SECS} s (100 years)",
                expiry.as_secs()
            )));
        }
        let at_least_one = [
            ("max message bytes", self.max_message_bytes as u64),
            ("max topic name bytes", self.max_topic_name_bytes as u64),
            ("max topics", self.max_topics as u64),
            ("max subscriptions", self.max_subscriptions as u64),
            ("queue messages", self.queue_messages as u64),
            ("queue bytes", self.queue_bytes),
            ("max history bytes", self.max_history_bytes),
            ("history memory", self.history_memory),
        ];
        match at_least_one.iter().find(|(_, value)| *value == 0) {
            Some((name, _)) => Err(Error::invalid(format!("{name} must be greater than 0"))),
            None => Ok(()),
        }
    }
}

/// Largest `historyLength` any server lets a topic ask for (the most
/// [`BrokerConfig::max_history_length`] may be).
pub const MAX_HISTORY_LENGTH: usize = 1_000_000;

/// Default of [`BrokerConfig::max_history_length`]: 100 times the default
/// history length, so that a topic may ask for a long history, while one
/// client's `PUT` cannot make a topic of 1 M tiny messages (200 MB of
/// overhead alone).
pub const DEFAULT_MAX_HISTORY_LENGTH: usize = 100_000;

/// Default of [`BrokerConfig::history_memory`]: 1 GiB, sixteen topics at
/// the default 64 MiB bound, or four at the largest `PUT` may ask for; a
/// server with more memory to give to history raises it.
pub const DEFAULT_HISTORY_MEMORY: u64 = 1 << 30;

/// Default of [`BrokerConfig::max_history_bytes`]: four times the default
/// history bound (64 MiB) and a quarter of the default history memory
/// budget, so that a topic may ask for more than the default while one
/// topic alone never takes the whole budget.
pub const DEFAULT_MAX_HISTORY_BYTES: u64 = 256 << 20;

/// Longest history age, in seconds (100 years): anything longer would
/// overflow the stores' microsecond clocks.
pub const MAX_AGE_SECS: u64 = 100 * 365 * 86_400;

/// The JSON body of `PUT /v1/t/{topic}`; every field optional. Unknown fields
/// are rejected so a typo never goes unnoticed.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TopicConfigRequest {
    /// Keep history at all (default true).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history: Option<bool>,
    /// History capacity in messages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history_length: Option<usize>,
    /// History bound in seconds of age.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_age: Option<u64>,
    /// History bound in bytes, each message counted with its overhead.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_bytes: Option<u64>,
}

/// Retention bounds of one topic's history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Messages kept at most (0 keeps none).
    pub max_messages: usize,
    /// Bytes kept at most, each message counted with its overhead
    /// ([`crate::model::charged_bytes`]; the disk store counts payload
    /// bytes on disk, Redis in Redis).
    pub max_bytes: Option<u64>,
    /// Messages older than this are dropped.
    pub max_age: Option<Duration>,
}

/// A topic's effective configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopicConfig {
    /// Whether the topic keeps history.
    pub history: bool,
    /// History bounds (all zero when `history` is false).
    pub retention: Retention,
}

impl TopicConfigRequest {
    /// Parses a `PUT` body; an empty body means all defaults.
    pub fn from_json(body: &[u8]) -> Result<TopicConfigRequest> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(TopicConfigRequest::default());
        }
        serde_json::from_slice(body)
            .map_err(|e| Error::invalid(format!("invalid topic config: {e}")))
    }

    /// Fills unset fields from the broker's defaults and checks bounds: a
    /// field over the operator's cap (`max_history_*`) is refused, naming
    /// the field, the value and the cap, since this server never grants it.
    pub fn resolve(&self, cfg: &BrokerConfig) -> Result<TopicConfig> {
        let history = self.history.unwrap_or(true);
        // `validate` keeps the defaults within the caps and the caps within
        // the absolute maximum; a broker made without it grants no more.
        let length_cap = cfg.max_history_length.min(MAX_HISTORY_LENGTH);
        let length = match self.history_length {
            Some(length) if length > length_cap => {
                return Err(Error::invalid(format!(
                    "historyLength {length} exceeds this server's cap of {length_cap} messages"
                )));
            }
            Some(length) => length,
            None => cfg.history_length.min(length_cap),
        };
        if self.max_age == Some(0) || self.max_bytes == Some(0) {
            return Err(Error::invalid("maxAge and maxBytes must be positive"));
        }
        if let Some(age) = self.max_age
            && age > MAX_AGE_SECS
        {
            return Err(Error::invalid(format!(
                "maxAge {age} exceeds the maximum of {MAX_AGE_SECS} seconds (100 years)"
            )));
        }
        if let (Some(age), Some(cap)) = (self.max_age, cfg.max_history_age)
            && age > cap.as_secs()
        {
            return Err(Error::invalid(format!(
                "maxAge {age} exceeds this server's cap of {} seconds",
                cap.as_secs()
            )));
        }
        if let Some(bytes) = self.max_bytes
            && bytes > cfg.max_history_bytes
        {
            return Err(Error::invalid(format!(
                "maxBytes {bytes} exceeds this server's cap of {} bytes",
                cfg.max_history_bytes
            )));
        }
        let retention = if history {
            Retention {
                max_messages: length,
                // Never unbounded: an unset default means the cap.
                max_bytes: Some(
                    self.max_bytes
                        .or(cfg.history_bytes)
                        .map_or(cfg.max_history_bytes, |b| b.min(cfg.max_history_bytes)),
                ),
                max_age: self
                    .max_age
                    .map(Duration::from_secs)
                    .or(cfg.history_max_age)
                    .map(|a| cfg.max_history_age.map_or(a, |cap| a.min(cap)))
                    .or(cfg.max_history_age),
            }
        } else {
            Retention {
                max_messages: 0,
                max_bytes: None,
                max_age: None,
            }
        };
        Ok(TopicConfig { history, retention })
    }
}

/// Checks a (percent-decoded) topic name.
pub fn validate_topic_name(name: &str, max_bytes: usize) -> Result<()> {
    if name.is_empty() {
        return Err(Error::invalid("topic name is empty"));
    }
    if name.len() > max_bytes {
        return Err(Error::invalid(format!(
            "topic name is longer than {max_bytes} bytes"
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(Error::invalid("topic name contains a control character"));
    }
    if name.contains('/') {
        return Err(Error::invalid("topic name contains '/'"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_json_is_strict() {
        let r = TopicConfigRequest::from_json(br#"{"history":false,"historyLength":5}"#).unwrap();
        assert_eq!(r.history, Some(false));
        assert!(TopicConfigRequest::from_json(br#"{"histroy":true}"#).is_err());
        assert!(TopicConfigRequest::from_json(b"[1]").is_err());
        assert_eq!(
            TopicConfigRequest::from_json(b" \n").unwrap(),
            TopicConfigRequest::default()
        );
    }

    #[test]
    fn resolve_applies_defaults_and_bounds() {
        let cfg = BrokerConfig::default();
        let t = TopicConfigRequest::default().resolve(&cfg).unwrap();
        assert!(t.history);
        assert_eq!(t.retention.max_messages, 1000);
        let off = TopicConfigRequest {
            history: Some(false),
            ..Default::default()
        }
        .resolve(&cfg)
        .unwrap();
        assert_eq!(off.retention.max_messages, 0);
        let big = TopicConfigRequest {
            history_length: Some(MAX_HISTORY_LENGTH + 1),
            ..Default::default()
        };
        assert!(big.resolve(&cfg).is_err());
        // Ages that would overflow a microsecond clock are refused, not wrapped.
        let ancient = TopicConfigRequest::from_json(br#"{"maxAge":18446744073710}"#).unwrap();
        let refused = ancient.resolve(&cfg).unwrap_err();
        assert!(refused.to_string().contains("maxAge"), "{refused}");
        let century = TopicConfigRequest {
            max_age: Some(MAX_AGE_SECS),
            ..Default::default()
        };
        assert!(century.resolve(&cfg).is_ok());
        let server = BrokerConfig {
            history_max_age: Some(Duration::from_secs(u64::MAX)),
            ..BrokerConfig::default()
        };
        assert!(server.validate().is_err());
    }

    /// Operator caps: a PUT over one is refused with the field, the value
    /// and the cap; at the cap it is granted.
    #[test]
    fn put_over_a_cap_is_refused_naming_field_value_and_cap() {
        let cfg = BrokerConfig {
            history_length: 5,
            history_bytes: Some(500),
            max_history_length: 10,
            max_history_bytes: 1000,
            max_history_age: Some(Duration::from_secs(60)),
            ..BrokerConfig::default()
        };
        cfg.validate().unwrap();
        for (json, reason) in [
            (
                r#"{"historyLength":11}"#,
                "historyLength 11 exceeds this server's cap of 10 messages",
            ),
            (
                r#"{"maxBytes":1099511627776}"#,
                "maxBytes 1099511627776 exceeds this server's cap of 1000 bytes",
            ),
            (
                r#"{"maxAge":61}"#,
                "maxAge 61 exceeds this server's cap of 60 seconds",
            ),
        ] {
            let req = TopicConfigRequest::from_json(json.as_bytes()).unwrap();
            let e = req.resolve(&cfg).unwrap_err();
            assert_eq!(e.kind(), crate::ErrorKind::InvalidInput, "{json}");
            assert_eq!(e.message(), reason, "{json}");
        }
        let at_caps =
            TopicConfigRequest::from_json(br#"{"historyLength":10,"maxBytes":1000,"maxAge":60}"#)
                .unwrap()
                .resolve(&cfg)
                .unwrap();
        assert_eq!(
            at_caps.retention,
            Retention {
                max_messages: 10,
                max_bytes: Some(1000),
                max_age: Some(Duration::from_secs(60)),
            }
        );
        // Asking nothing gets the defaults, and the age cap as the age bound.
        let defaults = TopicConfigRequest::default().resolve(&cfg).unwrap();
        assert_eq!(
            defaults.retention,
            Retention {
                max_messages: 5,
                max_bytes: Some(500),
                max_age: Some(Duration::from_secs(60)),
            }
        );
    }

    /// No topic's history is unbounded in bytes: an unset default means the
    /// cap, and a broker made without `validate` grants no more than a cap.
    #[test]
    fn no_history_is_unbounded_in_bytes() {
        let cfg = BrokerConfig {
            history_bytes: None,
            ..BrokerConfig::default()
        };
        cfg.validate().unwrap();
        let t = TopicConfigRequest::default().resolve(&cfg).unwrap();
        assert_eq!(t.retention.max_bytes, Some(DEFAULT_MAX_HISTORY_BYTES));
        let unvalidated = BrokerConfig {
            history_length: 50,
            history_bytes: Some(u64::MAX),
            max_history_length: 20,
            max_history_bytes: 100,
            ..BrokerConfig::default()
        };
        let t = TopicConfigRequest::default().resolve(&unvalidated).unwrap();
        assert_eq!(
            (t.retention.max_messages, t.retention.max_bytes),
            (20, Some(100))
        );
    }

    /// The server-wide defaults must fit within the caps: `validate` says
    /// which default exceeds which cap.
    #[test]
    fn validate_refuses_defaults_over_the_caps() {
        let refusal = |cfg: BrokerConfig| cfg.validate().unwrap_err().message().to_owned();
        let base = BrokerConfig::default();
        assert!(base.validate().is_ok());
        assert_eq!(
            refusal(BrokerConfig {
                history_length: 200_001,
                max_history_length: 200_000,
                ..base.clone()
            }),
            "history length 200001 exceeds max history length 200000"
        );
        assert_eq!(
            refusal(BrokerConfig {
                history_bytes: Some(2048),
                max_history_bytes: 1024,
                ..base.clone()
            }),
            "history bytes 2048 exceeds max history bytes 1024"
        );
        assert_eq!(
            refusal(BrokerConfig {
                history_max_age: Some(Duration::from_secs(120)),
                max_history_age: Some(Duration::from_secs(60)),
                ..base.clone()
            }),
            "history max age of 120 s exceeds max history age of 60 s"
        );
        assert_eq!(
            refusal(BrokerConfig {
                max_history_length: MAX_HISTORY_LENGTH + 1,
                ..base.clone()
            }),
            "max history length 1000001 exceeds the maximum of 1000000"
        );
        assert_eq!(
            refusal(BrokerConfig {
                max_history_bytes: 0,
                history_bytes: None,
                ..base.clone()
            }),
            "max history bytes must be greater than 0"
        );
        assert_eq!(
            refusal(BrokerConfig {
                history_memory: 0,
                ..base.clone()
            }),
            "history memory must be greater than 0"
        );
        assert!(
            refusal(BrokerConfig {
                max_history_age: Some(Duration::from_secs(u64::MAX)),
                ..base
            })
            .starts_with("max history age of")
        );
    }

    #[test]
    fn topic_names() {
        assert!(validate_topic_name("a b", 10).is_ok());
        assert!(validate_topic_name("", 10).is_err());
        assert!(validate_topic_name("a\nb", 10).is_err());
        assert!(validate_topic_name("a/b", 10).is_err());
        assert!(validate_topic_name("abcdefghijk", 10).is_err());
    }
}
