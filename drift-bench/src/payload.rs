//! The bench payload and minimal, allocation-free parsers of the four
//! subscription framings.
//!
//! A payload is ASCII (valid in SSE `data:` and in a line): 4 hex digits of
//! publisher, 12 of sequence number (per publisher and topic), 16 of publish
//! timestamp (µs on the bench's clock), then `.` up to the requested size.

use bytes::{BufMut, Bytes, BytesMut};
use drift_core::protocol::frames::{self, FrameKind, HEADER_LEN as FRAME_HEADER_LEN};

use super::FramingArg;

/// Bytes of the payload header.
pub(crate) const HEADER_LEN: usize = 32;

/// Builds one payload of `size` bytes.
pub(crate) fn encode(publisher: u16, seq: u64, ts_us: u64, size: usize) -> Bytes {
    let mut buf = BytesMut::with_capacity(size);
    put_hex(&mut buf, publisher as u64, 4);
    put_hex(&mut buf, seq, 12);
    put_hex(&mut buf, ts_us, 16);
    buf.put_bytes(b'.', size - HEADER_LEN);
    buf.freeze()
}

fn put_hex(buf: &mut BytesMut, v: u64, digits: u32) {
    for i in (0..digits).rev() {
        let d = ((v >> (i * 4)) & 0xf) as u8;
        buf.put_u8(if d < 10 { b'0' + d } else { b'a' + d - 10 });
    }
}

fn hex(s: &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for &c in s {
        let d = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => return None,
        };
        v = (v << 4) | d as u64;
    }
    Some(v)
}

/// What one payload says.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Header {
    pub publisher: u16,
    pub seq: u64,
    pub ts_us: u64,
    pub len: usize,
}

pub(crate) fn decode(p: &[u8]) -> Option<Header> {
    if p.len() < HEADER_LEN {
        return None;
    }
    Some(Header {
        publisher: hex(&p[0..4])? as u16,
        seq: hex(&p[4..16])?,
        ts_us: hex(&p[16..32])?,
        len: p.len(),
    })
}

/// What a parser found besides messages.
pub(crate) trait Sink {
    fn message(&mut self, payload: &[u8]);
    /// A payload that is not a bench payload, or an in-band gap.
    fn other(&mut self);
    /// The server ended the stream in-band (SSE `end` event, end frame).
    fn end(&mut self);
}

/// Incremental parser of one subscription body. Parses in place; only a
/// message split across DATA frames is copied (into `carry`).
#[derive(Debug)]
pub(crate) struct StreamParser {
    framing: FramingArg,
    carry: Vec<u8>,
    /// SSE: the current event has an `event:` field other than `message`.
    named_event: bool,
    /// SSE: that field was `end`.
    end_event: bool,
    /// SSE: the last `id:` field, to resume from (`Last-Event-ID`); empty
    /// before the first. One buffer, reused.
    pub(crate) last_id: String,
}

impl StreamParser {
    pub(crate) fn new(framing: FramingArg) -> StreamParser {
        StreamParser {
            framing,
            carry: Vec::new(),
            named_event: false,
            end_event: false,
            last_id: String::new(),
        }
    }

    /// Feeds one DATA frame.
    pub(crate) fn feed(&mut self, chunk: &[u8], sink: &mut impl Sink) {
        if self.framing == FramingArg::Raw {
            // One message per DATA frame (Drift raw, nchan raw stream);
            // a trailing separator newline is not part of it.
            let p = chunk.strip_suffix(b"\n").unwrap_or(chunk);
            if !p.is_empty() {
                sink.message(p);
            }
            return;
        }
        if self.carry.is_empty() {
            let used = self.parse(chunk, sink);
            self.carry.extend_from_slice(&chunk[used..]);
        } else {
            let mut carry = std::mem::take(&mut self.carry);
            carry.extend_from_slice(chunk);
            let used = self.parse(&carry, sink);
            carry.drain(..used);
            self.carry = carry;
        }
    }

    /// Parses whole units of `buf`; returns the bytes consumed.
    fn parse(&mut self, buf: &[u8], sink: &mut impl Sink) -> usize {
        match self.framing {
            FramingArg::Frames => parse_frames(buf, sink),
            FramingArg::Lines => {
                let mut pos = 0;
                while let Some(nl) = buf[pos..].iter().position(|&b| b == b'\n') {
                    let line = &buf[pos..pos + nl];
                    let line = line.strip_suffix(b"\r").unwrap_or(line);
                    if !line.is_empty() {
                        sink.message(line);
                    }
                    pos += nl + 1;
                }
                pos
            }
            FramingArg::Sse => self.parse_sse(buf, sink),
            FramingArg::Raw => unreachable!("raw is not buffered"),
        }
    }

    fn parse_sse(&mut self, buf: &[u8], sink: &mut impl Sink) -> usize {
        let mut pos = 0;
        while let Some(nl) = buf[pos..].iter().position(|&b| b == b'\n') {
            let line = &buf[pos..pos + nl];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            pos += nl + 1;
            if line.is_empty() {
                self.named_event = false;
                self.end_event = false;
            } else if let Some(v) = line.strip_prefix(b"data:") {
                let v = v.strip_prefix(b" ").unwrap_or(v);
                if self.end_event {
                    sink.end();
                } else if self.named_event {
                    sink.other();
                } else {
                    sink.message(v);
                }
            } else if let Some(v) = line.strip_prefix(b"event:") {
                let v = v.strip_prefix(b" ").unwrap_or(v);
                self.named_event = v != b"message";
                self.end_event = v == b"end";
            } else if let Some(v) = line.strip_prefix(b"id:") {
                let v = v.strip_prefix(b" ").unwrap_or(v);
                if let Ok(id) = std::str::from_utf8(v) {
                    self.last_id.clear();
                    self.last_id.push_str(id);
                }
            }
            // `retry:` and comments carry nothing the bench needs.
        }
        pos
    }
}

fn parse_frames(buf: &[u8], sink: &mut impl Sink) -> usize {
    let mut pos = 0;
    while buf.len() - pos >= FRAME_HEADER_LEN {
        let h = &buf[pos..pos + FRAME_HEADER_LEN];
        let Some(len) = frames::payload_len(h) else {
            break;
        };
        if buf.len() - pos < FRAME_HEADER_LEN + len {
            break;
        }
        let payload = &buf[pos + FRAME_HEADER_LEN..pos + FRAME_HEADER_LEN + len];
        match h[0] {
            k if k == FrameKind::Message as u8 => sink.message(payload),
            k if k == FrameKind::End as u8 => sink.end(),
            k if k == FrameKind::Heartbeat as u8 => {}
            _ => sink.other(),
        }
        pos += FRAME_HEADER_LEN + len;
    }
    pos
}

#[cfg(test)]
mod tests {
    use super::*;
    use drift_core::protocol::frames::Frame;

    #[derive(Default)]
    struct Collect(Vec<Vec<u8>>, usize, usize);
    impl Sink for Collect {
        fn message(&mut self, p: &[u8]) {
            self.0.push(p.to_vec());
        }
        fn other(&mut self) {
            self.1 += 1;
        }
        fn end(&mut self) {
            self.2 += 1;
        }
    }

    #[test]
    fn payload_round_trips() {
        let p = encode(3, 77, 123_456, 64);
        assert_eq!(p.len(), 64);
        let h = decode(&p).unwrap();
        assert_eq!((h.publisher, h.seq, h.ts_us), (3, 77, 123_456));
    }

    #[test]
    fn parsers_split_anywhere() {
        let a = encode(0, 1, 5, 40);
        let b = encode(0, 2, 6, 40);
        let mut sse = Vec::new();
        for (i, p) in [&a, &b].iter().enumerate() {
            sse.extend_from_slice(format!("id: 1-{i}\ndata: ").as_bytes());
            sse.extend_from_slice(p);
            sse.extend_from_slice(b"\n\n");
        }
        sse.extend_from_slice(b": heartbeat\n\nevent: end\ndata: deleted\n\n");
        let mut frames = Vec::new();
        frames.extend_from_slice(&Frame::message(1, 0, a.clone()).encode());
        frames.extend_from_slice(&Frame::heartbeat(1, 0).encode());
        frames.extend_from_slice(&Frame::message(2, 0, b.clone()).encode());
        let mut lines = Vec::new();
        lines.extend_from_slice(&a);
        lines.push(b'\n');
        lines.extend_from_slice(&b);
        lines.push(b'\n');
        for (framing, wire, ends) in [
            (FramingArg::Sse, sse, 1),
            (FramingArg::Frames, frames, 0),
            (FramingArg::Lines, lines, 0),
        ] {
            for step in [1, 3, 7, 1000] {
                let mut p = StreamParser::new(framing);
                let mut c = Collect::default();
                for chunk in wire.chunks(step) {
                    p.feed(chunk, &mut c);
                }
                assert_eq!(c.0, vec![a.to_vec(), b.to_vec()], "{framing:?} step {step}");
                assert_eq!(c.2, ends);
            }
        }
    }
}
