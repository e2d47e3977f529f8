//! Server-Sent Events framing (`text/event-stream`).
//!
//! A message is `id: EPOCH-SEQ` plus one `data:` line per payload line. SSE
//! cannot carry a carriage return or non-UTF-8 bytes in `data:`, so such
//! payloads are sent base64-encoded under `event: base64`. Gaps and the end
//! of the stream are events named `gap` and `end`; heartbeats are comments.

use base64::Engine;
use bytes::{BufMut, Bytes, BytesMut};

use crate::model::{EndReason, Gap, Message, MessageId};

/// The heartbeat comment.
pub const HEARTBEAT: &[u8] = b": heartbeat\n\n";

impl Message {
    /// The message's SSE event, encoded once and shared by every subscriber;
    /// its id is the message's own (epoch and seq).
    pub fn sse_encoded(&self) -> Bytes {
        self.encoded
            .sse
            .get_or_init(|| encode_message(self.epoch, self))
            .clone()
    }
}

/// Encodes one message as an SSE event whose id is in `epoch` (uncached;
/// see [`Message::sse_encoded`]).
pub fn encode_message(epoch: u64, msg: &Message) -> Bytes {
    let id = MessageId {
        epoch,
        seq: msg.seq,
    };
    let mut buf = BytesMut::with_capacity(msg.payload.len() + 48);
    buf.put_slice(b"id: ");
    buf.put_slice(id.to_string().as_bytes());
    buf.put_u8(b'\n');
    match std::str::from_utf8(&msg.payload) {
        Ok(text) if !text.contains('\r') => {
            // `split` yields one empty piece for an empty payload, so an
            // empty message is still one `data:` line and still an event.
            for line in text.split('\n') {
                buf.put_slice(b"data: ");
                buf.put_slice(line.as_bytes());
                buf.put_u8(b'\n');
            }
        }
        _ => {
            buf.put_slice(b"event: base64\ndata: ");
            buf.put_slice(
                base64::engine::general_purpose::STANDARD
                    .encode(&msg.payload)
                    .as_bytes(),
            );
            buf.put_u8(b'\n');
        }
    }
    buf.put_u8(b'\n');
    buf.freeze()
}

/// Encodes a gap as an SSE `gap` event with a JSON body.
pub fn encode_gap(gap: &Gap) -> Bytes {
    Bytes::from(format!(
        "event: gap\ndata: {{\"from\":{},\"to\":{},\"reason\":\"{}\"}}\n\n",
        gap.from,
        gap.to,
        gap.reason.as_str()
    ))
}

/// Encodes the end of the stream as an SSE `end` event.
pub fn encode_end(reason: &EndReason) -> Bytes {
    Bytes::from(format!("event: end\ndata: {}\n\n", reason.as_str()))
}

/// One parsed SSE event (comments are skipped by the parser).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseEvent {
    /// The `id:` field, when the event carried one.
    pub id: Option<String>,
    /// The `event:` field, `message` when absent.
    pub event: String,
    /// The `data:` lines joined with `\n`.
    pub data: String,
}

/// Incremental SSE parser following the WHATWG event-stream rules closely
/// enough for Drift's own output and for other servers' plain events.
#[derive(Debug, Default)]
pub struct SseDecoder {
    buf: Vec<u8>,
    current: SseEvent,
    has_data: bool,
}

impl SseDecoder {
    /// A new parser.
    pub fn new() -> SseDecoder {
        SseDecoder::default()
    }

    /// Feeds bytes, returning the events they complete.
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<SseEvent> {
        self.buf.extend_from_slice(chunk);
        let mut events = Vec::new();
        while let Some(nl) = self.buf.iter().position(|&b| b == b'\n') {
            let mut line: Vec<u8> = self.buf.drain(..=nl).collect();
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            let line = String::from_utf8_lossy(&line).into_owned();
            if line.is_empty() {
                if self.has_data {
                    let mut ev = std::mem::take(&mut self.current);
                    if ev.event.is_empty() {
                        ev.event = "message".into();
                    }
                    events.push(ev);
                } else {
                    self.current = SseEvent::default();
                }
                self.has_data = false;
                continue;
            }
            if line.starts_with(':') {
                continue;
            }
            let (field, value) = match line.split_once(':') {
                Some((f, v)) => (f.to_string(), v.strip_prefix(' ').unwrap_or(v).to_string()),
                None => (line.clone(), String::new()),
            };
            match field.as_str() {
                "id" => self.current.id = Some(value),
                "event" => self.current.event = value,
                "data" => {
                    if self.has_data {
                        self.current.data.push('\n');
                    }
                    self.current.data.push_str(&value);
                    self.has_data = true;
                }
                _ => {}
            }
        }
        events
    }
}

/// Decodes the payload of an SSE event produced by [`encode_message`].
pub fn decode_payload(ev: &SseEvent) -> Option<Bytes> {
    if ev.event == "base64" {
        base64::engine::general_purpose::STANDARD
            .decode(ev.data.as_bytes())
            .ok()
            .map(Bytes::from)
    } else {
        Some(Bytes::from(ev.data.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::GapReason;

    fn msg(payload: &'static [u8]) -> Message {
        Message::new(
            MessageId { epoch: 7, seq: 3 },
            0,
            Bytes::from_static(payload),
        )
    }

    #[test]
    fn text_messages_become_data_lines() {
        assert_eq!(
            &encode_message(7, &msg(b"a\nb"))[..],
            b"id: 7-3\ndata: a\ndata: b\n\n"
        );
        assert_eq!(&encode_message(7, &msg(b""))[..], b"id: 7-3\ndata: \n\n");
    }

    #[test]
    fn the_cached_event_is_the_encoded_one() {
        let m = msg(b"a");
        assert_eq!(m.sse_encoded(), encode_message(7, &m));
        assert_eq!(m.sse_encoded().as_ptr(), m.sse_encoded().as_ptr(), "shared");
    }

    #[test]
    fn binary_messages_are_base64() {
        let wire = encode_message(7, &msg(b"\x00\xff\r"));
        assert_eq!(&wire[..], b"id: 7-3\nevent: base64\ndata: AP8N\n\n");
        let ev = SseDecoder::new().feed(&wire).pop().unwrap();
        assert_eq!(&decode_payload(&ev).unwrap()[..], b"\x00\xff\r");
    }

    #[test]
    fn parser_round_trips_every_kind() {
        let mut wire = Vec::new();
        wire.extend_from_slice(&encode_message(1, &msg(b"x\ny")));
        wire.extend_from_slice(HEARTBEAT);
        wire.extend_from_slice(&encode_gap(&Gap {
            from: 1,
            to: 2,
            reason: GapReason::Expired,
        }));
        wire.extend_from_slice(&encode_end(&EndReason::Deleted));
        let mut dec = SseDecoder::new();
        let mut events = Vec::new();
        for b in wire.chunks(3) {
            events.extend(dec.feed(b));
        }
        assert_eq!(events.len(), 3);
        assert_eq!(events[0].id.as_deref(), Some("1-3"));
        assert_eq!(events[0].data, "x\ny");
        assert_eq!(events[1].event, "gap");
        assert_eq!(events[2].event, "end");
        assert_eq!(events[2].data, "deleted");
    }
}
