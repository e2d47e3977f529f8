//! The `Accept` header (RFC 9110 §12.5.1), as far as choosing a framing
//! needs it: media ranges and their weights.
//!
//! Parsing is lenient the way content negotiation has to be: an element
//! that does not parse (a bad media range, a weight that is no qvalue) is
//! ignored rather than refused, since clients nobody here wrote send odd
//! `Accept` headers (`*; q=.2`) and expect an answer all the same.

/// A weight in thousandths: RFC 9110 §12.4.2's qvalue, 0 to 1 with at most
/// three decimals, so it is exact as an integer.
pub type Weight = u16;

/// The weight of an element without `q`.
const FULL_WEIGHT: Weight = 1000;

/// One element of an `Accept` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaRange<'a> {
    /// The type, or `*`.
    pub kind: &'a str,
    /// The subtype, or `*`.
    pub subtype: &'a str,
    /// Its `q`, in thousandths (1000 without one).
    pub weight: Weight,
}

/// The elements of an `Accept` header value that parse, in order.
pub fn media_ranges(accept: &str) -> impl Iterator<Item = MediaRange<'_>> {
    split_outside_quotes(accept, ',').filter_map(media_range)
}

/// The weight the most specific of `ranges` that matches `media_type` (a
/// lowercase `type/subtype`) gives it (of equally specific ones, the first);
/// `None` when none matches. With `wildcards` false only an element naming
/// the type exactly counts.
pub fn weight_of(ranges: &[MediaRange<'_>], media_type: &str, wildcards: bool) -> Option<Weight> {
    let (kind, subtype) = media_type.split_once('/')?;
    let mut best: Option<(u8, Weight)> = None;
    for range in ranges {
        let specificity = if range.kind.eq_ignore_ascii_case(kind)
            && range.subtype.eq_ignore_ascii_case(subtype)
        {
            2
        } else if !wildcards {
            continue;
        } else if range.kind.eq_ignore_ascii_case(kind) && range.subtype == "*" {
            1
        } else if range.kind == "*" && range.subtype == "*" {
            0
        } else {
            continue;
        };
        if best.is_none_or(|(s, _)| specificity > s) {
            best = Some((specificity, range.weight));
        }
    }
    best.map(|(_, weight)| weight)
}

/// `type/subtype *( OWS ";" OWS parameter )`, weight from the first `q`.
fn media_range(element: &str) -> Option<MediaRange<'_>> {
    let mut parts = split_outside_quotes(element, ';');
    let (kind, subtype) = parts.next()?.trim().split_once('/')?;
    if !is_token(kind) || !is_token(subtype) || (kind == "*" && subtype != "*") {
        return None;
    }
    let mut weight = FULL_WEIGHT;
    for parameter in parts {
        let (name, value) = parameter.split_once('=')?;
        // No space belongs around "=", but `q = 0` surely means q=0.
        if name.trim().eq_ignore_ascii_case("q") {
            // Parameters after the weight are extensions, not the type's.
            weight = qvalue(value.trim())?;
            break;
        }
    }
    Some(MediaRange {
        kind,
        subtype,
        weight,
    })
}

/// `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )`.
fn qvalue(text: &str) -> Option<Weight> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // "5" → 500, "05" → 50, "005" → 5.
    let thousandths = fraction
        .bytes()
        .chain(std::iter::repeat(b'0'))
        .take(3)
        .fold(0, |n, b| n * 10 + Weight::from(b - b'0'));
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(FULL_WEIGHT),
        _ => None,
    }
}

/// RFC 9110 §5.6.2's token.
fn is_token(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// `text` split at `separator`, except inside a quoted string (parameter
/// values may be quoted and hold commas and semicolons).
fn split_outside_quotes(text: &str, separator: char) -> impl Iterator<Item = &str> {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let current = rest?;
        let (mut quoted, mut escaped) = (false, false);
        for (i, c) in current.char_indices() {
            match c {
                _ if escaped => escaped = false,
                '\\' if quoted => escaped = true,
                '"' => quoted = !quoted,
                c if c == separator && !quoted => {
                    rest = Some(&current[i + c.len_utf8()..]);
                    return Some(&current[..i]);
                }
                _ => {}
            }
        }
        rest = None;
        Some(current)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ranges(accept: &str) -> Vec<(String, Weight)> {
        media_ranges(accept)
            .map(|r| (format!("{}/{}", r.kind, r.subtype), r.weight))
            .collect()
    }

    #[test]
    fn elements_and_weights() {
        assert_eq!(
            ranges("text/html, application/json;q=0.9 , */*;q=0.1"),
            [
                ("text/html".into(), 1000),
                ("application/json".into(), 900),
                ("*/*".into(), 100)
            ]
        );
        // OWS around ";", a capital Q, parameters before and after the weight.
        assert_eq!(
            ranges("text/event-stream ; charset=utf-8 ; Q=0.5 ; ext=1"),
            [("text/event-stream".into(), 500)]
        );
        // A quoted parameter may hold the separators.
        assert_eq!(
            ranges(r#"a/b;x="1,2;\"3";q=0.25, c/d"#),
            [("a/b".into(), 250), ("c/d".into(), 1000)]
        );
        assert_eq!(ranges("a/b;q = 0"), [("a/b".into(), 0)]);
        assert_eq!(ranges(""), []);
    }

    #[test]
    fn qvalues_follow_the_grammar() {
        for (text, want) in [
            ("0", 0),
            ("0.", 0),
            ("0.5", 500),
            ("0.05", 50),
            ("0.005", 5),
            ("0.999", 999),
            ("1", 1000),
            ("1.000", 1000),
        ] {
            assert_eq!(qvalue(text), Some(want), "{text}");
        }
        for text in ["", ".5", "0.0001", "1.001", "2", "-0", "0,5", "abc", "0.5 "] {
            assert_eq!(qvalue(text), None, "{text:?}");
        }
    }

    /// An element that does not parse is left out; the others stay.
    #[test]
    fn malformed_elements_are_ignored() {
        assert_eq!(
            ranges("*; q=.2, */*; q=.2, text, /x, */html, a/b;q=2, a/b c, text/plain;q, ok/yes"),
            [("ok/yes".into(), 1000)]
        );
    }

    #[test]
    fn the_most_specific_range_decides() {
        let r: Vec<_> = media_ranges("*/*;q=0.1, text/*;q=0.5, text/event-stream;q=0").collect();
        assert_eq!(weight_of(&r, "text/event-stream", true), Some(0));
        assert_eq!(weight_of(&r, "text/plain", true), Some(500));
        assert_eq!(weight_of(&r, "application/octet-stream", true), Some(100));
        assert_eq!(weight_of(&r, "text/plain", false), None);
        let r: Vec<_> = media_ranges("Text/Event-Stream;q=0.3, text/event-stream;q=0.9").collect();
        assert_eq!(weight_of(&r, "text/event-stream", false), Some(300));
        assert_eq!(weight_of(&[], "text/event-stream", true), None);
    }
}
