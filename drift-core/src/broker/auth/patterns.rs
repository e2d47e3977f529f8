//! Topic patterns of a grant: exact names, and `*` for any run of
//! characters (also none), anywhere and as often as wanted. `*` alone is
//! every topic; `news.*` every topic whose name starts with `news.`. There
//! is no escape: a topic whose name holds a `*` is matched by a pattern's
//! `*` like any other character.

use std::fmt;

/// One pattern, split at its `*`s.
#[derive(Clone, PartialEq, Eq)]
pub struct TopicPattern {
    text: Box<str>,
    /// The literal runs between `*`s; one run for a pattern without `*`.
    parts: Box<[Box<str>]>,
}

impl TopicPattern {
    /// The pattern written as `text`.
    pub fn new(text: &str) -> TopicPattern {
        TopicPattern {
            text: text.into(),
            parts: text.split('*').map(Box::from).collect(),
        }
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether `topic` is one the pattern names.
    pub fn matches(&self, topic: &str) -> bool {
        let (first, rest) = match self.parts.split_first() {
            Some(split) => split,
            None => return topic.is_empty(),
        };
        let Some(mut left) = topic.strip_prefix(&**first) else {
            return false;
        };
        let Some((last, middle)) = rest.split_last() else {
            return left.is_empty(); // no `*`: an exact name
        };
        // Each middle run at its first place keeps the most room for the
        // rest (greedy from the left is exact for `*`-only globs).
        for part in middle {
            match left.find(&**part) {
                Some(at) => left = &left[at + part.len()..],
                None => return false,
            }
        }
        left.ends_with(&**last)
    }
}

impl fmt::Debug for TopicPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.text, f)
    }
}

impl fmt::Display for TopicPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// A list of patterns; a topic is in it when any pattern matches.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct TopicPatterns(Vec<TopicPattern>);

impl TopicPatterns {
    /// No topic at all.
    pub fn none() -> TopicPatterns {
        TopicPatterns(Vec::new())
    }

    /// Every topic (`*`).
    pub fn any() -> TopicPatterns {
        TopicPatterns(vec![TopicPattern::new("*")])
    }

    /// The patterns written as `texts`.
    pub fn new<I, S>(texts: I) -> TopicPatterns
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        TopicPatterns(
            texts
                .into_iter()
                .map(|t| TopicPattern::new(t.as_ref()))
                .collect(),
        )
    }

    /// Whether any pattern matches `topic`.
    pub fn matches(&self, topic: &str) -> bool {
        self.0.iter().any(|p| p.matches(topic))
    }

    /// Whether there is no pattern (no topic matches).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The patterns.
    pub fn iter(&self) -> impl Iterator<Item = &TopicPattern> {
        self.0.iter()
    }
}

impl fmt::Debug for TopicPatterns {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(&self.0).finish()
    }
}

impl fmt::Display for TopicPatterns {
    /// Comma-separated, as options take them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(p.as_str())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, topic: &str) -> bool {
        TopicPattern::new(pattern).matches(topic)
    }

    #[test]
    fn exact_names_match_only_themselves() {
        assert!(m("news", "news"));
        assert!(!m("news", "news2"));
        assert!(!m("news", "new"));
        assert!(!m("news", ""));
    }

    #[test]
    fn a_star_is_any_run_of_characters() {
        assert!(m("*", ""));
        assert!(m("*", "anything at all"));
        assert!(m("news.*", "news."));
        assert!(m("news.*", "news.sport"));
        assert!(!m("news.*", "news"));
        assert!(m("*.log", "app.log"));
        assert!(!m("*.log", "app.logs"));
        assert!(m("a*b*c", "abc"));
        assert!(m("a*b*c", "a-b-b-c"));
        assert!(!m("a*b*c", "a-c-b"));
        assert!(m("user-*-inbox", "user-ann-inbox"));
        assert!(!m("user-*-inbox", "user-ann-outbox"));
        assert!(m("**", "x"));
        assert!(m("é*", "été"));
    }

    #[test]
    fn a_list_matches_when_any_pattern_does() {
        let list = TopicPatterns::new(["a", "b.*"]);
        assert!(list.matches("a"));
        assert!(list.matches("b.c"));
        assert!(!list.matches("c"));
        assert!(!TopicPatterns::none().matches("a"));
        assert!(TopicPatterns::any().matches("a"));
        assert_eq!(list.to_string(), "a,b.*");
    }

    proptest::proptest! {
        /// A pattern made of a topic with one run replaced by `*` matches it.
        #[test]
        fn a_starred_topic_matches_itself(
            letters in proptest::collection::vec(0u8..4, 0..12),
            a in 0usize..13,
            b in 0usize..13,
        ) {
            let topic: String = letters.iter().map(|&l| char::from(b'a' + l)).collect();
            let (a, b) = (a.min(topic.len()), b.min(topic.len()));
            let (a, b) = (a.min(b), a.max(b));
            let pattern = format!("{}*{}", &topic[..a], &topic[b..]);
            proptest::prop_assert!(m(&pattern, &topic));
            proptest::prop_assert!(m(&topic, &topic));
        }
    }
}
