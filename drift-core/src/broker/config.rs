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
    /// History bound in payload bytes per topic, unless the topic sets its own.
    pub history_bytes: Option<u64>,
    /// History bound by age per topic, unless the topic sets its own.
    pub history_max_age: Option<Duration>,
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
    /// A subscriber may fall this many payload bytes behind before it is slow.
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
        if self.history_length > MAX_HISTORY_LENGTH {
            return Err(Error::invalid(format!(
                "history length {} exceeds the maximum of {MAX_HISTORY_LENGTH}",
                self.history_length
            )));
        }
        if let Some(age) = self.history_max_age
            && age.as_secs() > MAX_AGE_SECS
        {
            return Err(Error::invalid(format!(
                "history max age of {} s exceeds the maximum of {MAX_AGE_SECS} s (100 years)",
                age.as_secs()
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
        ];
        match at_least_one.iter().find(|(_, value)| *value == 0) {
            Some((name, _)) => Err(Error::invalid(format!("{name} must be greater than 0"))),
            None => Ok(()),
        }
    }
}

/// Largest `historyLength` a topic may ask for.
pub const MAX_HISTORY_LENGTH: usize = 1_000_000;

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
    /// History bound in payload bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_bytes: Option<u64>,
}

/// Retention bounds of one topic's history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Messages kept at most (0 keeps none).
    pub max_messages: usize,
    /// Payload bytes kept at most.
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

    /// Fills unset fields from the broker's defaults and checks bounds.
    pub fn resolve(&self, cfg: &BrokerConfig) -> Result<TopicConfig> {
        let history = self.history.unwrap_or(true);
        let length = self.history_length.unwrap_or(cfg.history_length);
        if length > MAX_HISTORY_LENGTH {
            return Err(Error::invalid(format!(
                "historyLength {length} exceeds the maximum of {MAX_HISTORY_LENGTH}"
            )));
        }
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
        let retention = if history {
            Retention {
                max_messages: length,
                max_bytes: self.max_bytes.or(cfg.history_bytes),
                max_age: self
                    .max_age
                    .map(Duration::from_secs)
                    .or(cfg.history_max_age),
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

    #[test]
    fn topic_names() {
        assert!(validate_topic_name("a b", 10).is_ok());
        assert!(validate_topic_name("", 10).is_err());
        assert!(validate_topic_name("a\nb", 10).is_err());
        assert!(validate_topic_name("a/b", 10).is_err());
        assert!(validate_topic_name("abcdefghijk", 10).is_err());
    }
}
