//! What `drift sub` says on standard error about the subscription itself
//! (standard output carries payloads only): the server ending it, being
//! away and back, and what may have been missed, in words.

use std::pin::Pin;

use drift_core::client::{Subscription, SubscriptionEvent};
use drift_core::{Gap, GapReason, Result};
use futures_core::Stream;

/// Remembers what was said, so that each thing is said once: a server that
/// stays down is retried many times but reported once.
#[derive(Debug, Default)]
pub struct Reporter {
    /// The end reason of the current interruption was printed.
    told_end: bool,
    /// "disconnected, retrying" was printed and "reconnected" is owed.
    told_retrying: bool,
}

impl Reporter {
    /// The next event of `sub`, telling about interruptions as they happen.
    /// The subscription changes its state only while polled, so it is
    /// looked at after every poll.
    pub async fn next_event(
        &mut self,
        sub: &mut Subscription,
    ) -> Option<Result<SubscriptionEvent>> {
        std::future::poll_fn(|cx| {
            let polled = Pin::new(&mut *sub).poll_next(cx);
            self.look_at(sub);
            polled
        })
        .await
    }

    fn look_at(&mut self, sub: &Subscription) {
        let Some(interruption) = sub.interruption() else {
            if self.told_retrying {
                eprintln!("drift: reconnected");
            }
            *self = Reporter::default();
            return;
        };
        if let Some(reason) = &interruption.end_reason
            && !self.told_end
        {
            eprintln!("drift: subscription ended: {reason} (resuming)");
            self.told_end = true;
        }
        if interruption.failed_attempts > 0 && !self.told_retrying {
            match &interruption.last_error {
                Some(why) => eprintln!("drift: disconnected, retrying ({why})"),
                None => eprintln!("drift: disconnected, retrying"),
            }
            self.told_retrying = true;
        }
    }
}

/// A gap in words. `last_id` is the last message printed (`EPOCH-SEQ`).
pub fn gap_text(gap: &Gap, last_id: Option<String>) -> String {
    match gap.reason {
        GapReason::Epoch => {
            let after = last_id.map_or_else(
                || "messages published before this point".to_owned(),
                |id| format!("messages after {id}"),
            );
            format!("server restarted or topic re-created (new epoch): {after} may be missing")
        }
        GapReason::Expired => format!(
            "gap: messages {} to {} are no longer in the server's history",
            gap.from, gap.to
        ),
        GapReason::Dropped => format!(
            "gap: messages {} to {} were skipped because this subscriber was too slow",
            gap.from, gap.to
        ),
        _ => format!("gap {gap}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_in_words() {
        let gap = |from, to, reason| Gap { from, to, reason };
        assert_eq!(
            gap_text(&gap(0, 0, GapReason::Epoch), Some("7-3".to_owned())),
            "server restarted or topic re-created (new epoch): messages after 7-3 may be missing"
        );
        assert!(gap_text(&gap(0, 0, GapReason::Epoch), None).contains("before this point"));
        assert_eq!(
            gap_text(&gap(4, 9, GapReason::Expired), None),
            "gap: messages 4 to 9 are no longer in the server's history"
        );
        assert!(gap_text(&gap(4, 9, GapReason::Dropped), None).contains("too slow"));
    }
}
