//! Publishing and topic management: everything but subscribe.

use bytes::{Bytes, BytesMut};
use http::header::{CONTENT_TYPE, HeaderValue};
use http::{Method, StatusCode};

use super::body::Chunks;
use super::request::{header_u64, status_error, topic_path};
use super::{Client, ServerKind};
use crate::broker::TopicConfigRequest;
use crate::error::{Error, ErrorKind, Result};
use crate::model::{MessageId, now_us};
use crate::protocol::frames::{self, FrameKind, HEADER_LEN};
use crate::protocol::{FRAMES_MEDIA_TYPE, headers};

/// What the server said about a published message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Publish {
    /// The message's id. `0-0` from a server that does not assign ids (the
    /// original Drift server).
    pub id: MessageId,
    /// Publish time in µs since the Unix epoch, by the server's clock; by the
    /// client's clock when the server did not say.
    pub time_us: u64,
}

impl Client {
    /// Publishes one message (a `POST` whose body is `payload`, any bytes,
    /// possibly empty) and returns its id.
    ///
    /// # Errors
    ///
    /// The server's answer as an error kind with its reason (e.g.
    /// [`ErrorKind::TooLarge`], [`ErrorKind::NotFound`] on a server that
    /// requires topics to be created), or a connection error.
    pub async fn publish(&self, topic: &str, payload: impl Into<Bytes>) -> Result<Publish> {
        let mut req = self.request(
            Method::POST,
            &topic_path(topic)?,
            Chunks::one(payload.into()),
        )?;
        // Never the frames type: that would make the server parse the payload.
        req.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        let (parts, _) = self.call(req).await?;
        let epoch = header_u64(&parts.headers, headers::EPOCH);
        let seq = header_u64(&parts.headers, headers::SEQ);
        self.learn_server_kind(epoch.is_some() && seq.is_some());
        Ok(Publish {
            id: MessageId {
                epoch: epoch.unwrap_or(0),
                seq: seq.unwrap_or(0),
            },
            time_us: header_u64(&parts.headers, headers::TIME).unwrap_or_else(now_us),
        })
    }

    /// Publishes `payloads` in order in one streamed request (a `POST` of
    /// Drift message frames) and returns their ids and publish times in the
    /// same order.
    ///
    /// A server that does not speak Drift framing would store such a body as
    /// a single message, so until this client has seen the server answer
    /// with Drift headers, the first message goes as a plain publish; against
    /// a server without them (the original) every message is a plain `POST`
    /// and every id is `0-0`.
    ///
    /// # Errors
    ///
    /// As [`Client::publish`]. When the server fails part-way, the messages
    /// before the failure stay published.
    pub async fn publish_many(&self, topic: &str, payloads: Vec<Bytes>) -> Result<Vec<Publish>> {
        let mut sent = Vec::with_capacity(payloads.len());
        let mut rest = payloads.into_iter().peekable();
        if self.server_kind() == ServerKind::Unknown
            && let Some(first) = rest.next()
        {
            sent.push(self.publish(topic, first).await?);
        }
        if rest.peek().is_none() {
            return Ok(sent);
        }
        if self.server_kind() != ServerKind::Drift {
            for payload in rest {
                sent.push(self.publish(topic, payload).await?);
            }
            return Ok(sent);
        }
        let rest: Vec<Bytes> = rest.collect();
        sent.extend(self.publish_stream(topic, rest).await?);
        Ok(sent)
    }

    async fn publish_stream(&self, topic: &str, payloads: Vec<Bytes>) -> Result<Vec<Publish>> {
        let expected = payloads.len();
        let mut body = Chunks::empty();
        for payload in payloads {
            // Only the frame header is encoded, so each payload is sent as
            // the caller's own `Bytes`, never copied; seq and time are 0
            // because the server assigns them.
            let len = u32::try_from(payload.len())
                .map_err(|_| Error::new(ErrorKind::TooLarge, "a message is larger than 4 GiB"))?;
            let mut head = BytesMut::with_capacity(HEADER_LEN);
            frames::encode_header(FrameKind::Message, 0, 0, len, &mut head);
            body.push(head.freeze());
            body.push(payload);
        }
        let mut req = self.request(Method::POST, &topic_path(topic)?, body)?;
        req.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static(FRAMES_MEDIA_TYPE));
        let (parts, text) = self.call(req).await?;
        let bad = |why: String| Error::new(ErrorKind::Protocol, format!("streamed publish: {why}"));
        let text =
            std::str::from_utf8(&text).map_err(|_| bad("the id list is not UTF-8".into()))?;
        let received_us = now_us();
        let mut sent = Vec::with_capacity(expected);
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            // A long stream's answer streams: a failure part-way is its
            // last line, `error: STATUS REASON`, after the ids published.
            if let Some(failure) = line.strip_prefix("error: ") {
                let (status, reason) = failure.split_once(' ').unwrap_or((failure, ""));
                let status = status
                    .parse::<u16>()
                    .ok()
                    .and_then(|s| StatusCode::from_u16(s).ok())
                    .ok_or_else(|| bad(format!("bad outcome {line:?}")))?;
                return Err(status_error(status, reason.as_bytes()));
            }
            sent.push(
                published_line(line, received_us).ok_or_else(|| bad(format!("bad id {line:?}")))?,
            );
        }
        // A streaming answer has no count header: its ids are the count.
        let count = header_u64(&parts.headers, headers::COUNT).unwrap_or(sent.len() as u64);
        if sent.len() != expected || count != expected as u64 {
            return Err(bad(format!(
                "sent {expected} messages, the server stored {count} and listed {}",
                sent.len()
            )));
        }
        Ok(sent)
    }

    /// Creates `topic` with `config` (`PUT`). Returns `true` when it was
    /// created, `false` when it already existed with the same configuration.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Conflict`] when it exists with another configuration;
    /// [`ErrorKind::InvalidInput`] for a configuration the server rejects.
    pub async fn create(&self, topic: &str, config: &TopicConfigRequest) -> Result<bool> {
        let mut body = Chunks::empty();
        let has_body = *config != TopicConfigRequest::default();
        if has_body {
            let json = serde_json::to_vec(config).map_err(|e| {
                Error::new(
                    ErrorKind::Internal,
                    format!("cannot encode topic config: {e}"),
                )
            })?;
            body.push(json.into());
        }
        let mut req = self.request(Method::PUT, &topic_path(topic)?, body)?;
        if has_body {
            req.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        let (parts, _) = self.call(req).await?;
        Ok(parts.status == StatusCode::CREATED)
    }

    /// Deletes `topic`; its subscribers' streams end with reason "deleted".
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotFound`] when there is no such topic.
    pub async fn delete(&self, topic: &str) -> Result<()> {
        let req = self.request(Method::DELETE, &topic_path(topic)?, Chunks::empty())?;
        self.call(req).await.map(|_| ())
    }

    /// Whether `topic` exists (`HEAD`; never creates it).
    pub async fn exists(&self, topic: &str) -> Result<bool> {
        let req = self.request(Method::HEAD, &topic_path(topic)?, Chunks::empty())?;
        match self.call(req).await {
            Ok(_) => Ok(true),
            Err(e) if e.status() == Some(404) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The server's clock, in Unix seconds (`GET /v1/time`).
    pub async fn server_time(&self) -> Result<u64> {
        let req = self.request(Method::GET, "/v1/time", Chunks::empty())?;
        let (_, body) = self.call(req).await?;
        let text = String::from_utf8_lossy(&body);
        let text = text.trim();
        // Only the whole seconds; tolerate a fraction from other servers.
        let whole = text.split('.').next().unwrap_or("");
        whole.parse().map_err(|_| {
            Error::new(
                ErrorKind::Protocol,
                format!("the server time {text:?} is not Unix seconds"),
            )
        })
    }
}

/// One line of a streamed publish's answer: `EPOCH-SEQ TIME_US`, or the
/// bare id of a server that lists no times (then the time is `received_us`,
/// the client's clock, as [`Publish::time_us`] says).
fn published_line(line: &str, received_us: u64) -> Option<Publish> {
    let (id, time) = match line.split_once(' ') {
        Some((id, time)) => (id, Some(time)),
        None => (line, None),
    };
    let time_us = match time {
        Some(time) => time.parse().ok()?,
        None => received_us,
    };
    Some(Publish {
        id: id.parse().ok()?,
        time_us,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_streamed_answer_line_carries_the_id_and_maybe_the_time() {
        let id = MessageId { epoch: 7, seq: 3 };
        assert_eq!(
            published_line("7-3 1764700000000001", 5),
            Some(Publish {
                id,
                time_us: 1_764_700_000_000_001
            })
        );
        assert_eq!(published_line("7-3", 5), Some(Publish { id, time_us: 5 }));
        for bad in ["7-3 ", "7-3 x", "x 1", "7-3 1 2", ""] {
            assert_eq!(published_line(bad, 5), None, "{bad:?}");
        }
    }
}
