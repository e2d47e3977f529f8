//! The Drift wire protocol, shared by the server and the client.
//!
//! `docs/PROTOCOL.md` is the normative description; this module is its code.

pub mod accept;
pub mod frames;
pub mod headers;
pub mod history;
pub mod sse;

pub use frames::{Frame, FrameDecoder, FrameKind};
pub use history::{HistoryRequest, SlowPolicy};

/// Media type of the Drift binary framing.
pub const FRAMES_MEDIA_TYPE: &str = "application/vnd.drift.frames";
/// Media type of Server-Sent Events.
pub const SSE_MEDIA_TYPE: &str = "text/event-stream";
/// Media type of the raw framing.
pub const RAW_MEDIA_TYPE: &str = "application/octet-stream";

/// How a subscription's messages are written into the response body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Framing {
    /// Payload bytes only, one write and flush per message (original Drift).
    Raw,
    /// Server-Sent Events with `id:` = message id.
    Sse,
    /// Drift binary frames (`application/vnd.drift.frames`).
    Frames,
}

impl Framing {
    /// Picks the framing from a `format` query value (if any) or the `Accept`
    /// header. Unknown `format` values are an error.
    ///
    /// `Accept` is weighed as RFC 9110 §12.5.1 says: each framing gets the
    /// weight of the most specific element that matches its media type,
    /// weight 0 is "not acceptable", the heaviest acceptable framing wins
    /// and ties go to the server's order (frames, SSE, raw). Frames and SSE
    /// must be named: a wildcard (`*/*`, what curl sends) selects raw, as
    /// the original's clients expect. When nothing is acceptable (no
    /// `Accept`, or one naming none of them) the answer is raw, as before.
    pub fn negotiate(accept: Option<&str>, format: Option<&str>) -> crate::Result<Framing> {
        if let Some(format) = format {
            return match format {
                "raw" => Ok(Framing::Raw),
                "sse" => Ok(Framing::Sse),
                "frames" => Ok(Framing::Frames),
                other => Err(crate::Error::invalid(format!(
                    "unknown format {other:?}: expected raw, sse or frames"
                ))),
            };
        }
        let ranges: Vec<_> = accept::media_ranges(accept.unwrap_or("")).collect();
        let offers = [
            (
                Framing::Frames,
                accept::weight_of(&ranges, FRAMES_MEDIA_TYPE, false),
            ),
            (
                Framing::Sse,
                accept::weight_of(&ranges, SSE_MEDIA_TYPE, false),
            ),
            (
                Framing::Raw,
                accept::weight_of(&ranges, RAW_MEDIA_TYPE, true),
            ),
        ];
        let mut chosen = (Framing::Raw, 0);
        for (framing, weight) in offers {
            // Strictly heavier: of equals, the earlier (the server's choice).
            if let Some(weight) = weight
                && weight > chosen.1
            {
                chosen = (framing, weight);
            }
        }
        Ok(chosen.0)
    }

    /// The response `Content-Type` for this framing (raw has none of its own).
    pub fn content_type(self) -> Option<&'static str> {
        match self {
            Framing::Raw => None,
            Framing::Sse => Some("text/event-stream; charset=utf-8"),
            Framing::Frames => Some(FRAMES_MEDIA_TYPE),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framing(accept: &str) -> Framing {
        Framing::negotiate(Some(accept), None).unwrap()
    }

    #[test]
    fn framing_follows_accept_and_format() {
        assert_eq!(Framing::negotiate(None, None).unwrap(), Framing::Raw);
        assert_eq!(framing("*/*"), Framing::Raw);
        assert_eq!(framing("text/event-stream"), Framing::Sse);
        assert_eq!(
            framing("text/html, Application/Vnd.Drift.Frames;q=1"),
            Framing::Frames
        );
        assert_eq!(
            Framing::negotiate(Some("text/event-stream"), Some("raw")).unwrap(),
            Framing::Raw
        );
        assert!(Framing::negotiate(None, Some("xml")).is_err());
    }

    /// RFC 9110 §12.5.1: q=0 is "not acceptable", the heaviest wins, ties
    /// keep the server's order (frames, SSE, raw).
    #[test]
    fn framing_honours_weights() {
        use Framing::*;
        for (accept, want) in [
            ("text/event-stream;q=0", Raw),
            ("text/event-stream;q=0, */*", Raw),
            ("application/vnd.drift.frames;q=0, text/event-stream", Sse),
            (
                "application/vnd.drift.frames;q=0.2, text/event-stream;q=0.5",
                Sse,
            ),
            ("application/vnd.drift.frames, text/event-stream", Frames),
            ("text/event-stream, application/vnd.drift.frames", Frames),
            ("text/event-stream, application/octet-stream", Sse),
            ("text/event-stream;q=0.5, application/octet-stream", Raw),
            ("text/event-stream;q=0.5, */*;q=0.9", Raw),
            ("text/event-stream;q=0.5, */*;q=0.1", Sse),
            ("text/event-stream;q=0.5, application/*;q=0.9", Raw),
            (
                "text/event-stream;q=0.5, application/octet-stream;q=0, */*",
                Sse,
            ),
            // Wildcards do not select SSE or frames.
            ("text/*", Raw),
            ("application/*, text/*", Raw),
            // Nothing acceptable: raw.
            ("text/html", Raw),
            ("application/octet-stream;q=0, text/event-stream;q=0", Raw),
            // Elements that do not parse are ignored.
            ("text/event-stream;q=abc", Raw),
            (
                "text/event-stream;q=abc, application/vnd.drift.frames;q=0.1",
                Frames,
            ),
            ("text/html, image/gif, image/jpeg, *; q=.2, */*; q=.2", Raw),
        ] {
            assert_eq!(framing(accept), want, "Accept: {accept}");
        }
    }
}
