//! [`Grant`]: what one set of credentials may do, and until when.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::Action;
use super::patterns::TopicPatterns;
use crate::error::{Error, ErrorKind, Result};

/// What a caller may do: the topics it may publish to, subscribe to and
/// administer (create, configure, delete), and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// Who the credentials name (a token's `sub`), if anyone.
    pub subject: Option<String>,
    /// Topics it may publish to.
    pub publish: TopicPatterns,
    /// Topics it may subscribe to (and replay the history of).
    pub subscribe: TopicPatterns,
    /// Topics it may create, configure and delete.
    pub admin: TopicPatterns,
    /// When it ends (a token's `exp`); `None`: never. A subscription
    /// made under it ends then, with reason `unauthorized`.
    pub expires: Option<SystemTime>,
    /// Whether credentials were presented: a refusal of a grant without
    /// them asks for credentials (401) rather than forbidding (403).
    pub authenticated: bool,
}

impl Grant {
    /// Everything, forever, with no credentials: an open server's grant.
    pub fn open() -> Grant {
        Grant {
            subject: None,
            publish: TopicPatterns::any(),
            subscribe: TopicPatterns::any(),
            admin: TopicPatterns::any(),
            expires: None,
            authenticated: false,
        }
    }

    /// What a caller without credentials may do: subscribe to these
    /// topics, nothing else.
    pub fn anonymous(subscribe: TopicPatterns) -> Grant {
        Grant {
            subscribe,
            publish: TopicPatterns::none(),
            admin: TopicPatterns::none(),
            ..Grant::open()
        }
    }

    /// Whether the grant names `topic` for `action` (expiry aside).
    pub fn allows(&self, action: Action, topic: &str) -> bool {
        match action {
            Action::Publish => self.publish.matches(topic),
            Action::Subscribe => self.subscribe.matches(topic),
            Action::Create | Action::Delete => self.admin.matches(topic),
            Action::Inspect => {
                self.publish.matches(topic)
                    || self.subscribe.matches(topic)
                    || self.admin.matches(topic)
            }
        }
    }

    /// Whether it grants nothing at all.
    pub fn is_empty(&self) -> bool {
        self.publish.is_empty() && self.subscribe.is_empty() && self.admin.is_empty()
    }

    /// Whether the grant has ended by `now`.
    pub fn expired_at(&self, now: SystemTime) -> bool {
        self.expires.is_some_and(|end| end <= now)
    }

    /// Allows `action` on `topic` now, or says why not in one line:
    /// [`ErrorKind::Unauthorized`] when the grant has expired or came
    /// without credentials, [`ErrorKind::Forbidden`] naming the action and
    /// topic otherwise.
    pub fn check(&self, action: Action, topic: &str) -> Result<()> {
        if self.expired_at(SystemTime::now()) {
            return Err(self.expired());
        }
        if self.allows(action, topic) {
            return Ok(());
        }
        let verb = action.verb();
        if !self.authenticated {
            return Err(Error::new(
                ErrorKind::Unauthorized,
                format!(
                    "{verb} topic {topic:?} needs a token (Authorization: Bearer, or the drift_token cookie)"
                ),
            ));
        }
        let right = match action {
            Action::Publish => "publish",
            Action::Subscribe => "subscribe",
            Action::Create | Action::Delete => "admin",
            Action::Inspect => "publish, subscribe or admin",
        };
        Err(Error::new(
            ErrorKind::Forbidden,
            format!(
                "forbidden: {verb} topic {topic:?} needs a {right} grant for it, which the token of {} does not have",
                self.who()
            ),
        ))
    }

    /// The refusal of an action after the grant's end.
    pub fn expired(&self) -> Error {
        let at = self
            .expires
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_secs());
        Error::new(
            ErrorKind::Unauthorized,
            format!("token expired at {at} (Unix time)"),
        )
    }

    /// How long until the grant ends, from `now` (zero once it has);
    /// `None` for a grant that never ends.
    pub fn remaining(&self, now: SystemTime) -> Option<Duration> {
        self.expires
            .map(|end| end.duration_since(now).unwrap_or(Duration::ZERO))
    }

    fn who(&self) -> String {
        match &self.subject {
            Some(s) => format!("{s:?}"),
            None => "this caller".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant() -> Grant {
        Grant {
            subject: Some("ann".into()),
            publish: TopicPatterns::new(["news.*"]),
            subscribe: TopicPatterns::new(["news.*", "chat"]),
            admin: TopicPatterns::new(["ann-*"]),
            expires: None,
            authenticated: true,
        }
    }

    #[test]
    fn each_action_is_checked_against_its_list() {
        let g = grant();
        assert!(g.check(Action::Publish, "news.a").is_ok());
        assert!(g.check(Action::Subscribe, "chat").is_ok());
        assert!(g.check(Action::Create, "ann-1").is_ok());
        assert!(g.check(Action::Delete, "ann-1").is_ok());
        assert!(g.check(Action::Inspect, "chat").is_ok());
        let e = g.check(Action::Publish, "chat").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Forbidden);
        assert!(e.to_string().contains("publish to topic \"chat\""), "{e}");
        assert!(e.to_string().contains("\"ann\""), "{e}");
        assert_eq!(
            g.check(Action::Delete, "news.a").unwrap_err().kind(),
            ErrorKind::Forbidden
        );
        assert_eq!(
            g.check(Action::Inspect, "other").unwrap_err().kind(),
            ErrorKind::Forbidden
        );
    }

    #[test]
    fn an_anonymous_refusal_asks_for_credentials() {
        let g = Grant::anonymous(TopicPatterns::new(["public.*"]));
        assert!(g.check(Action::Subscribe, "public.x").is_ok());
        let e = g.check(Action::Publish, "public.x").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unauthorized);
        assert!(e.to_string().contains("needs a token"), "{e}");
    }

    #[test]
    fn an_expired_grant_allows_nothing() {
        let mut g = grant();
        g.expires = Some(SystemTime::now() - Duration::from_secs(1));
        let e = g.check(Action::Subscribe, "chat").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unauthorized);
        assert!(e.to_string().contains("expired"), "{e}");
        assert_eq!(g.remaining(SystemTime::now()), Some(Duration::ZERO));
        assert_eq!(Grant::open().remaining(SystemTime::now()), None);
    }
}
