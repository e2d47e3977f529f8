//! The Drift binary framing, `application/vnd.drift.frames`.
//!
//! Every frame is a fixed 21-byte header followed by the payload:
//!
//! ```text
//! offset size field
//!      0    1 kind      1 message, 2 gap, 3 heartbeat, 4 end
//!      1    8 seq       big-endian u64
//!      9    8 time      big-endian u64, microseconds since the Unix epoch
//!     17    4 length    big-endian u32, payload bytes that follow
//!     21    n payload
//! ```
//!
//! Frames are independent of HTTP/2 DATA-frame boundaries: a decoder buffers
//! until a whole frame is there. See `docs/PROTOCOL.md` for each kind's fields.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::error::{Error, ErrorKind, Result};
use crate::model::{EndReason, Gap, GapReason, Message};

/// Bytes in a frame header.
pub const HEADER_LEN: usize = 21;

/// The kind byte of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum FrameKind {
    /// A message: seq, publish time, payload.
    Message = 1,
    /// Missing messages: seq = first missing, payload = last missing (u64) + reason word.
    Gap = 2,
    /// Keep-alive on an idle stream: seq = last seq sent, time = server now.
    Heartbeat = 3,
    /// The stream ends: payload = UTF-8 reason.
    End = 4,
}

impl FrameKind {
    fn from_byte(b: u8) -> Option<FrameKind> {
        match b {
            1 => Some(FrameKind::Message),
            2 => Some(FrameKind::Gap),
            3 => Some(FrameKind::Heartbeat),
            4 => Some(FrameKind::End),
            _ => None,
        }
    }
}

/// One decoded or to-be-encoded frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// What the frame is.
    pub kind: FrameKind,
    /// Sequence number (meaning depends on the kind).
    pub seq: u64,
    /// Microseconds since the Unix epoch.
    pub time_us: u64,
    /// The payload.
    pub payload: Bytes,
}

// ===== impl Message =====

impl Message {
    /// The message's Drift binary frame, encoded once and shared by every
    /// subscriber.
    pub fn frame_encoded(&self) -> Bytes {
        self.encoded
            .frame
            .get_or_init(|| Frame::message(self.seq, self.time_us, self.payload.clone()).encode())
            .clone()
    }
}

// ===== impl Frame =====

impl Frame {
    /// A message frame.
    pub fn message(seq: u64, time_us: u64, payload: Bytes) -> Frame {
        Frame {
            kind: FrameKind::Message,
            seq,
            time_us,
            payload,
        }
    }

    /// A gap frame for `gap`, stamped with `time_us`.
    pub fn gap(gap: &Gap, time_us: u64) -> Frame {
        let reason = gap.reason.as_str().as_bytes();
        let mut payload = BytesMut::with_capacity(8 + reason.len());
        payload.put_u64(gap.to);
        payload.put_slice(reason);
        Frame {
            kind: FrameKind::Gap,
            seq: gap.from,
            time_us,
            payload: payload.freeze(),
        }
    }

    /// A heartbeat frame.
    pub fn heartbeat(last_seq: u64, time_us: u64) -> Frame {
        Frame {
            kind: FrameKind::Heartbeat,
            seq: last_seq,
            time_us,
            payload: Bytes::new(),
        }
    }

    /// An end frame with `reason`.
    pub fn end(reason: &EndReason, last_seq: u64, time_us: u64) -> Frame {
        Frame {
            kind: FrameKind::End,
            seq: last_seq,
            time_us,
            payload: Bytes::copy_from_slice(reason.as_str().as_bytes()),
        }
    }

    /// Encodes the frame into one contiguous buffer.
    pub fn encode(&self) -> Bytes {
        let mut buf = BytesMut::with_capacity(HEADER_LEN + self.payload.len());
        self.encode_into(&mut buf);
        buf.freeze()
    }

    /// Appends the encoded frame to `buf`.
    pub fn encode_into(&self, buf: &mut BytesMut) {
        buf.reserve(HEADER_LEN + self.payload.len());
        encode_header(
            self.kind,
            self.seq,
            self.time_us,
            self.payload.len() as u32,
            buf,
        );
        buf.put_slice(&self.payload);
    }

    /// Reads the gap a gap frame carries.
    pub fn as_gap(&self) -> Result<Gap> {
        let malformed = || Error::new(ErrorKind::Protocol, "malformed gap frame");
        if self.kind != FrameKind::Gap || self.payload.len() < 8 {
            return Err(malformed());
        }
        let mut p = self.payload.clone();
        let to = p.get_u64();
        let reason = std::str::from_utf8(&p)
            .ok()
            .and_then(GapReason::parse)
            .ok_or_else(malformed)?;
        Ok(Gap {
            from: self.seq,
            to,
            reason,
        })
    }

    /// Reads the reason an end frame carries.
    pub fn as_end_reason(&self) -> Result<EndReason> {
        if self.kind != FrameKind::End {
            return Err(Error::new(ErrorKind::Protocol, "not an end frame"));
        }
        let text = std::str::from_utf8(&self.payload)
            .map_err(|_| Error::new(ErrorKind::Protocol, "end reason is not UTF-8"))?;
        Ok(EndReason::parse(text))
    }
}

/// Appends a frame header alone, for senders that send the payload from its
/// own buffer after it (no copy).
pub fn encode_header(kind: FrameKind, seq: u64, time_us: u64, len: u32, buf: &mut BytesMut) {
    buf.put_u8(kind as u8);
    buf.put_u64(seq);
    buf.put_u64(time_us);
    buf.put_u32(len);
}

/// The payload length a frame header announces, for parsers that work in
/// place; `None` while `head` is shorter than [`HEADER_LEN`] bytes.
pub fn payload_len(head: &[u8]) -> Option<usize> {
    let len: [u8; 4] = head.get(17..HEADER_LEN)?.try_into().ok()?;
    Some(u32::from_be_bytes(len) as usize)
}

/// Incremental decoder: feed it body chunks, take whole frames out.
#[derive(Debug)]
pub struct FrameDecoder {
    buf: BytesMut,
    max_payload: usize,
}

impl FrameDecoder {
    /// A decoder that rejects frames whose payload exceeds `max_payload` bytes.
    pub fn new(max_payload: usize) -> FrameDecoder {
        FrameDecoder {
            buf: BytesMut::new(),
            max_payload,
        }
    }

    /// Adds received bytes.
    pub fn extend(&mut self, chunk: &[u8]) {
        self.buf.extend_from_slice(chunk);
    }

    /// Bytes received but not yet part of a returned frame.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next whole frame, `Ok(None)` when more bytes are needed. A bad kind
    /// or an oversized length is an error: the stream cannot be resynchronised.
    pub fn next_frame(&mut self) -> Result<Option<Frame>> {
        let Some(len) = payload_len(&self.buf) else {
            return Ok(None);
        };
        let kind = FrameKind::from_byte(self.buf[0]).ok_or_else(|| {
            Error::new(
                ErrorKind::Protocol,
                format!("unknown frame kind {}", self.buf[0]),
            )
        })?;
        if len > self.max_payload {
            return Err(Error::new(
                ErrorKind::TooLarge,
                format!(
                    "frame payload of {len} bytes exceeds the limit of {}",
                    self.max_payload
                ),
            ));
        }
        if self.buf.len() < HEADER_LEN + len {
            self.buf.reserve(HEADER_LEN + len - self.buf.len());
            return Ok(None);
        }
        let mut head = self.buf.split_to(HEADER_LEN);
        head.advance(1);
        let seq = head.get_u64();
        let time_us = head.get_u64();
        let payload = self.buf.split_to(len).freeze();
        Ok(Some(Frame {
            kind,
            seq,
            time_us,
            payload,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_header_announces_no_length() {
        let head = Frame::message(1, 2, Bytes::from_static(b"hello")).encode();
        assert_eq!(payload_len(&head[..HEADER_LEN]), Some(5));
        assert_eq!(payload_len(&head), Some(5), "the payload may follow");
        for short in 0..HEADER_LEN {
            assert_eq!(payload_len(&head[..short]), None, "{short} bytes");
        }
    }

    #[test]
    fn message_frame_layout_is_exact() {
        let f = Frame::message(0x0102, 0x0A0B, Bytes::from_static(b"hi"));
        let bytes = f.encode();
        assert_eq!(
            &bytes[..],
            &[
                1, 0, 0, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 0, 0, 0x0A, 0x0B, 0, 0, 0, 2, b'h', b'i'
            ]
        );
    }

    #[test]
    fn the_cached_frame_is_the_encoded_one() {
        let m = Message::new(
            crate::model::MessageId { epoch: 1, seq: 4 },
            5,
            Bytes::from_static(b"hi"),
        );
        assert_eq!(
            m.frame_encoded(),
            Frame::message(4, 5, m.payload.clone()).encode()
        );
        assert_eq!(
            m.frame_encoded().as_ptr(),
            m.frame_encoded().as_ptr(),
            "shared"
        );
    }

    #[test]
    fn decoder_reassembles_split_frames() {
        let mut wire = BytesMut::new();
        Frame::message(1, 10, Bytes::from_static(b"")).encode_into(&mut wire);
        Frame::message(2, 11, Bytes::from(vec![7u8; 1000])).encode_into(&mut wire);
        Frame::end(&EndReason::Deleted, 2, 12).encode_into(&mut wire);
        let mut dec = FrameDecoder::new(1 << 20);
        let mut out = Vec::new();
        for chunk in wire.chunks(7) {
            dec.extend(chunk);
            while let Some(f) = dec.next_frame().unwrap() {
                out.push(f);
            }
        }
        assert_eq!(out.len(), 3);
        assert_eq!(out[0].payload.len(), 0);
        assert_eq!(out[1].seq, 2);
        assert_eq!(out[1].payload.len(), 1000);
        assert_eq!(out[2].as_end_reason().unwrap(), EndReason::Deleted);
        assert_eq!(dec.buffered(), 0);
    }

    #[test]
    fn gap_frames_round_trip() {
        let gap = Gap {
            from: 5,
            to: 9,
            reason: GapReason::Dropped,
        };
        let f = Frame::gap(&gap, 1);
        let mut dec = FrameDecoder::new(16);
        dec.extend(&f.encode());
        assert_eq!(dec.next_frame().unwrap().unwrap().as_gap().unwrap(), gap);
    }

    #[test]
    fn bad_kind_and_oversize_are_errors() {
        let mut dec = FrameDecoder::new(4);
        dec.extend(&[9u8; HEADER_LEN]);
        assert_eq!(dec.next_frame().unwrap_err().kind(), ErrorKind::Protocol);
        let mut dec = FrameDecoder::new(4);
        dec.extend(&Frame::message(1, 1, Bytes::from_static(b"12345")).encode());
        assert_eq!(dec.next_frame().unwrap_err().kind(), ErrorKind::TooLarge);
    }
}
