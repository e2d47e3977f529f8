//! The readiness probe: a message published to an internal topic must reach
//! a subscriber of this broker, through the store and the fan-out, within a
//! bound. A server that answers but delivers nothing is not ready.

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::config::TopicConfigRequest;
use super::ring::Received;
use super::{Broker, shutting_down};
use crate::error::{Error, ErrorKind, Result};
use crate::model::HistoryRequest;

/// The probe's topic. No client can name it: a topic name never contains
/// `/`.
pub const PROBE_TOPIC: &str = "drift/readyz";

impl Broker {
    /// Publishes a probe message to [`PROBE_TOPIC`] (made without history
    /// when missing, whatever `require_create` says) and waits until a live
    /// subscriber here receives it. Returns how long that took.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Unavailable`] when shutting down or when the message was
    /// not delivered within `within`; the store's error when it refused the
    /// message.
    pub async fn probe(&self, within: Duration) -> Result<Duration> {
        if self.is_shutting_down() {
            return Err(shutting_down());
        }
        let started = Instant::now();
        let delivered = async {
            let topic = match self.cached(PROBE_TOPIC) {
                Some(t) => t,
                None => {
                    let no_history = TopicConfigRequest {
                        history: Some(false),
                        ..TopicConfigRequest::default()
                    };
                    let config = no_history.resolve(&self.inner.config)?;
                    match self.open(PROBE_TOPIC, Some(&config)).await? {
                        Some((t, _)) => t,
                        None => return Err(Error::new(ErrorKind::Internal, "no probe topic")),
                    }
                }
            };
            let Some(joined) = topic.join(&HistoryRequest::default()).await else {
                return Err(Error::new(
                    ErrorKind::Unavailable,
                    "the probe topic was deleted",
                ));
            };
            let mut live = joined?.live;
            let appended = topic.publish(&[Bytes::from_static(b"ready?")]).await?;
            loop {
                match live.recv().await {
                    Received::Message(m) if m.seq >= appended.first_seq => return Ok(()),
                    Received::Message(_) => {}
                    // Other probes filled the ring: the message was fanned
                    // out when the newest is at or past it.
                    Received::Lagged => {
                        if live.skip_to_newest() >= appended.first_seq {
                            return Ok(());
                        }
                    }
                    Received::Closed => {
                        return Err(Error::new(
                            ErrorKind::Unavailable,
                            "the probe's subscription ended before the message arrived",
                        ));
                    }
                }
            }
        };
        match tokio::time::timeout(within, delivered).await {
            Ok(outcome) => outcome.map(|()| started.elapsed()),
            Err(_) => Err(Error::new(
                ErrorKind::Unavailable,
                format!(
                    "a probe message did not reach a local subscriber within {} ms",
                    within.as_millis()
                ),
            )),
        }
    }
}
