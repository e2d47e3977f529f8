//! What a shared store says other nodes did, applied to the topics this
//! node holds: their batches fanned out to local subscribers (through the
//! same reorder buffer as local publishes, so each seq goes out once and in
//! order), their deletions ending local subscriptions.

use std::sync::{Arc, Weak};

use futures_util::StreamExt;

use super::store::{Notice, Notices};
use super::{Broker, Inner};
use crate::model::EndReason;

/// Applies `notices` to `broker` until the stream ends or the broker is
/// dropped. Needs a tokio runtime (a shared store is only used in one).
pub(super) fn follow(broker: &Broker, mut notices: Notices) {
    let weak: Weak<Inner> = Arc::downgrade(&broker.inner);
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        tracing::error!(
            "the store shares topics with other nodes, but the broker was made outside a \
             tokio runtime: their publishes will not reach subscribers here"
        );
        return;
    };
    runtime.spawn(async move {
        while let Some(notice) = notices.next().await {
            let Some(inner) = weak.upgrade() else {
                return;
            };
            Broker { inner }.apply(notice);
        }
    });
}

impl Broker {
    fn apply(&self, notice: Notice) {
        match notice {
            Notice::Published {
                topic,
                epoch,
                appended,
                payloads,
            } => {
                if let Some(t) = self.cached(&topic).filter(|t| t.epoch == epoch) {
                    t.fan_out(appended, &payloads);
                }
            }
            Notice::Missed {
                topic,
                epoch,
                from,
                to,
            } => {
                if let Some(t) = self.cached(&topic).filter(|t| t.epoch == epoch) {
                    t.missed(from, to);
                }
            }
            Notice::Deleted { topic, epoch } => {
                if let Some(t) = self.cached(&topic).filter(|t| t.epoch == epoch) {
                    self.forget(&t);
                }
            }
            Notice::Reset { topic, epoch } => {
                if let Some(t) = self.cached(&topic).filter(|t| t.epoch == epoch) {
                    self.drop_held(&t);
                    t.close(EndReason::Reset, true);
                }
            }
            Notice::Resync => {
                let idle: Vec<_> = self
                    .read_topics()
                    .values()
                    .filter(|t| t.subscribers() == 0)
                    .cloned()
                    .collect();
                for t in idle {
                    self.drop_held(&t);
                }
            }
        }
    }
}
