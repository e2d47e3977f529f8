//! The Drift wire protocol, shared by the server and the client.
//!
//! `docs/PROTOCOL.md` is the normative description; this module is its code.

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
    /// header. Unknown `format` values are an error; an `Accept` that names
    /// neither SSE nor Drift frames means raw.
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
        let accept = accept.unwrap_or("").to_ascii_lowercase();
        let names = |media: &str| {
            accept
                .split(',')
                .any(|part| part.split(';').next().map(str::trim) == Some(media))
        };
        Ok(if names(FRAMES_MEDIA_TYPE) {
            Framing::Frames
        } else if names(SSE_MEDIA_TYPE) {
            Framing::Sse
        } else {
            Framing::Raw
        })
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

    #[test]
    fn framing_follows_accept_and_format() {
        assert_eq!(Framing::negotiate(None, None).unwrap(), Framing::Raw);
        assert_eq!(Framing::negotiate(Some("*/*"), None).unwrap(), Framing::Raw);
        assert_eq!(
            Framing::negotiate(Some("text/event-stream"), None).unwrap(),
            Framing::Sse
        );
        assert_eq!(
            Framing::negotiate(Some("text/html, Application/Vnd.Drift.Frames;q=1"), None).unwrap(),
            Framing::Frames
        );
        assert_eq!(
            Framing::negotiate(Some("text/event-stream"), Some("raw")).unwrap(),
            Framing::Raw
        );
        assert!(Framing::negotiate(None, Some("xml")).is_err());
    }
}
