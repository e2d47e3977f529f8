//! Where a topic lives in Redis, and the notices' wire form.
//!
//! A topic named `T` has a hash `drift:{T}:meta` (epoch, configuration,
//! last seq, what is retained), a stream `drift:{T}:log` (one entry per
//! retained message, id `SEQ-0`) and a channel `drift:{T}:notice` that its
//! publishes are announced on. The braces make the two keys one hash slot.
//! Deletions and resets of every topic go to the one channel
//! [`DELETIONS`].

use std::sync::Arc;

use bytes::Bytes;

use crate::broker::store::Appended;

/// The channel deletions and resets are announced on: `D EPOCH NAME` or
/// `R EPOCH NAME`.
pub(super) const DELETIONS: &str = "drift:deleted";

/// The keys and channel of one topic.
#[derive(Debug, Clone)]
pub(super) struct Keys {
    pub(super) meta: String,
    pub(super) log: String,
    pub(super) channel: String,
}

impl Keys {
    pub(super) fn of(name: &str) -> Keys {
        Keys {
            meta: format!("drift:{{{name}}}:meta"),
            log: format!("drift:{{{name}}}:log"),
            channel: channel_of(name),
        }
    }
}

/// The notice channel of topic `name`.
pub(super) fn channel_of(name: &str) -> String {
    format!("drift:{{{name}}}:notice")
}

/// The topic whose notice channel `channel` is.
pub(super) fn topic_of_channel(channel: &str) -> Option<&str> {
    channel.strip_prefix("drift:{")?.strip_suffix("}:notice")
}

/// A published batch as the append script announces it:
/// `EPOCH FIRST_SEQ TIME LEN1 LEN2 …\n` and the payloads one after the
/// other. The payloads are slices of `bytes`, not copies.
#[derive(Debug)]
pub(super) struct BatchNotice {
    pub(super) epoch: u64,
    pub(super) appended: Appended,
    pub(super) payloads: Vec<Bytes>,
}

impl BatchNotice {
    pub(super) fn parse(bytes: Bytes) -> Option<BatchNotice> {
        let end = bytes.iter().position(|&b| b == b'\n')?;
        let head = std::str::from_utf8(&bytes[..end]).ok()?;
        let mut words = head.split(' ').map(|w| w.parse::<u64>().ok());
        let epoch = words.next()??;
        let first_seq = words.next()??;
        let time_us = words.next()??;
        let mut payloads = Vec::new();
        let mut at = end + 1;
        for len in words {
            let len = usize::try_from(len?).ok()?;
            let stop = at.checked_add(len).filter(|&s| s <= bytes.len())?;
            payloads.push(bytes.slice(at..stop));
            at = stop;
        }
        (at == bytes.len() && !payloads.is_empty()).then_some(BatchNotice {
            epoch,
            appended: Appended { first_seq, time_us },
            payloads,
        })
    }
}

/// A deletion or reset from [`DELETIONS`].
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Ended {
    Deleted { topic: Arc<str>, epoch: u64 },
    Reset { topic: Arc<str>, epoch: u64 },
}

impl Ended {
    pub(super) fn parse(text: &[u8]) -> Option<Ended> {
        let text = std::str::from_utf8(text).ok()?;
        let (kind, rest) = text.split_once(' ')?;
        let (epoch, topic) = rest.split_once(' ')?;
        let (epoch, topic) = (epoch.parse().ok()?, Arc::from(topic));
        match kind {
            "D" => Some(Ended::Deleted { topic, epoch }),
            "R" => Some(Ended::Reset { topic, epoch }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_notice_reads_back_its_payloads() {
        let n = BatchNotice::parse(Bytes::from_static(b"7 41 1000 2 0 3\nhiabc")).expect("parses");
        assert_eq!(
            (n.epoch, n.appended.first_seq, n.appended.time_us),
            (7, 41, 1000)
        );
        assert_eq!(n.payloads, [&b"hi"[..], b"", b"abc"]);
    }

    #[test]
    fn a_malformed_batch_notice_is_refused() {
        for bad in [
            &b"7 41 1000 2\nhiX"[..],
            b"7 41 1000 3\nhi",
            b"7 41\n",
            b"x 1 2 0\n",
            b"",
        ] {
            assert!(
                BatchNotice::parse(Bytes::copy_from_slice(bad)).is_none(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn keys_and_channels_name_the_topic() {
        let k = Keys::of("a b");
        assert_eq!(k.meta, "drift:{a b}:meta");
        assert_eq!(topic_of_channel(&k.channel), Some("a b"));
        assert_eq!(
            Ended::parse(b"D 9 x y"),
            Some(Ended::Deleted {
                topic: Arc::from("x y"),
                epoch: 9
            })
        );
    }
}
