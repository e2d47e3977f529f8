//! Property tests of every parser of client input: whatever the bytes, no
//! parser panics, and every refusal is a client error (`InvalidInput` or
//! `Protocol`, answered 400, or `TooLarge`, 413) with a reason; what Drift encodes, it
//! decodes back unchanged, however the bytes are cut into reads.

use base64::Engine;
use bytes::Bytes;
use drift_core::ErrorKind;
use drift_core::broker::{BrokerConfig, TopicConfigRequest, validate_topic_name};
use drift_core::model::{Message, MessageId};
use drift_core::protocol::history::SubscribeParams;
use drift_core::protocol::sse::{self, SseDecoder};
use drift_core::protocol::{Frame, FrameDecoder, FrameKind, HistoryRequest};
use proptest::prelude::*;

/// A refusal a client can read: a 4xx kind and a reason.
fn client_error(e: &drift_core::Error) -> Result<(), TestCaseError> {
    prop_assert!(
        matches!(
            e.kind(),
            ErrorKind::InvalidInput | ErrorKind::Protocol | ErrorKind::TooLarge
        ),
        "{:?}: {e}",
        e.kind()
    );
    prop_assert!(!e.message().trim().is_empty());
    Ok(())
}

/// `bytes` cut at the given points (each taken modulo the length).
fn pieces(bytes: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut at: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    at.sort_unstable();
    let mut out = Vec::new();
    let mut from = 0;
    for to in at.into_iter().chain([bytes.len()]) {
        out.push(bytes[from..to].to_vec());
        from = to;
    }
    out
}

fn short_text() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(any::<String>())
}

proptest! {
    // Failures are printed with their minimal input; nothing is written
    // into the source tree.
    #![proptest_config(ProptestConfig {
        cases: 512,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// A streamed publish's frames: any bytes in any reads.
    #[test]
    fn frames_of_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512),
                           cuts in proptest::collection::vec(any::<usize>(), 0..8),
                           max in 0usize..256) {
        let mut decoder = FrameDecoder::new(max);
        'feed: for piece in pieces(&bytes, &cuts) {
            decoder.extend(&piece);
            loop {
                match decoder.next_frame() {
                    Ok(Some(frame)) => prop_assert!(frame.payload.len() <= max),
                    Ok(None) => break,
                    Err(e) => {
                        client_error(&e)?;
                        break 'feed;
                    }
                }
            }
        }
    }

    /// Encoded message frames decode to the same payloads, cut anywhere.
    #[test]
    fn frames_round_trip(payloads in proptest::collection::vec(
                             proptest::collection::vec(any::<u8>(), 0..64), 0..8),
                         cuts in proptest::collection::vec(any::<usize>(), 0..8)) {
        let mut bytes = Vec::new();
        for p in &payloads {
            bytes.extend_from_slice(&Frame::message(7, 9, Bytes::from(p.clone())).encode());
        }
        let mut decoder = FrameDecoder::new(64);
        let mut got = Vec::new();
        for piece in pieces(&bytes, &cuts) {
            decoder.extend(&piece);
            while let Some(frame) = decoder.next_frame().expect("a valid frame") {
                prop_assert_eq!(frame.kind, FrameKind::Message);
                got.push(frame.payload.to_vec());
            }
        }
        prop_assert_eq!(got, payloads);
    }

    /// The client's SSE decoder: any bytes in any reads.
    #[test]
    fn sse_of_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512),
                        cuts in proptest::collection::vec(any::<usize>(), 0..8)) {
        let mut decoder = SseDecoder::new();
        for piece in pieces(&bytes, &cuts) {
            let _ = decoder.feed(&piece);
        }
    }

    /// Every payload sent as an SSE event comes back byte for byte (as
    /// text, or as a `base64` event), cut anywhere.
    #[test]
    fn sse_round_trip(payload in proptest::collection::vec(any::<u8>(), 0..128),
                      text in any::<String>(),
                      as_text in any::<bool>(),
                      cuts in proptest::collection::vec(any::<usize>(), 0..8)) {
        let payload = if as_text { text.into_bytes() } else { payload };
        let id = MessageId { epoch: 3, seq: 5 };
        let msg = Message::new(id, 11, Bytes::from(payload.clone()));
        let bytes = sse::encode_message(id.epoch, &msg);
        let mut decoder = SseDecoder::new();
        let mut events = Vec::new();
        for piece in pieces(&bytes, &cuts) {
            events.extend(decoder.feed(&piece));
        }
        prop_assert_eq!(events.len(), 1);
        let event = &events[0];
        prop_assert_eq!(event.id.as_deref(), Some("3-5"));
        let data = match event.event.as_str() {
            "base64" => base64::engine::general_purpose::STANDARD
                .decode(&event.data)
                .expect("valid base64"),
            "message" => event.data.clone().into_bytes(),
            other => return Err(TestCaseError::fail(format!("event {other:?}"))),
        };
        prop_assert_eq!(data, payload);
    }

    /// History headers, `Last-Event-ID`, `Drift-On-Slow` and the query.
    #[test]
    fn subscribe_requests_of_any_text(history_length in short_text(),
                                      history_since in short_text(),
                                      last_event_id in short_text(),
                                      on_slow in short_text(),
                                      query in short_text()) {
        let params = SubscribeParams {
            history_length: history_length.as_deref(),
            history_since: history_since.as_deref(),
            last_event_id: last_event_id.as_deref(),
            on_slow: on_slow.as_deref(),
            query: query.as_deref(),
        };
        if let Err(e) = HistoryRequest::parse(params) {
            client_error(&e)?;
        }
    }

    /// Numbers where numbers go: huge, negative, fractional or padded.
    #[test]
    fn subscribe_requests_of_any_numbers(n in any::<i128>(), frac in any::<u32>(),
                                         epoch in any::<u64>(), seq in any::<u64>()) {
        let since = format!("{n}.{frac}");
        let length = n.to_string();
        let after = format!("{epoch}-{seq}");
        let query = format!("history={n}&since={since}&after={after}");
        let params = SubscribeParams {
            history_length: Some(&length),
            history_since: Some(&since),
            last_event_id: Some(&after),
            on_slow: None,
            query: Some(&query),
        };
        if let Err(e) = HistoryRequest::parse(params) {
            client_error(&e)?;
        }
    }

    /// Message ids: any text parses or is refused; every id round-trips.
    #[test]
    fn message_ids(text in any::<String>(), epoch in any::<u64>(), seq in any::<u64>()) {
        if let Err(e) = text.parse::<MessageId>() {
            client_error(&e)?;
        }
        let id = MessageId { epoch, seq };
        prop_assert_eq!(id.to_string().parse::<MessageId>().expect("parses"), id);
    }

    /// Topic names.
    #[test]
    fn topic_names(name in any::<String>(), max in 0usize..64) {
        if let Err(e) = validate_topic_name(&name, max) {
            client_error(&e)?;
        }
    }

    /// `PUT` bodies: any bytes, then any values in the known fields; a
    /// parsed configuration resolves or is refused, never overflows.
    #[test]
    fn topic_configs_of_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        match TopicConfigRequest::from_json(&bytes) {
            Ok(req) => {
                if let Err(e) = req.resolve(&BrokerConfig::default()) {
                    client_error(&e)?;
                }
            }
            Err(e) => client_error(&e)?,
        }
    }

    #[test]
    fn topic_configs_of_any_numbers(history in any::<bool>(), length in any::<i128>(),
                                    bytes in any::<i128>(), age in any::<f64>()) {
        let json = format!(
            r#"{{"history":{history},"historyLength":{length},"maxBytes":{bytes},"maxAge":{age}}}"#
        );
        match TopicConfigRequest::from_json(json.as_bytes()) {
            Ok(req) => {
                if let Err(e) = req.resolve(&BrokerConfig::default()) {
                    client_error(&e)?;
                }
            }
            Err(e) => client_error(&e)?,
        }
    }
}
