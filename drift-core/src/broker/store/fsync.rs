//! When a durable store's accepted appends reach stable storage: the
//! `--fsync` setting. Always compiled, so that a server configuration can
//! carry it whether or not this build has the disk store.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::error::Error;

/// When an accepted append reaches stable storage.
///
/// In both modes an append is answered only after its transaction has been
/// written to the operating system, so killing the process (`kill -9`)
/// loses nothing that was acknowledged; the modes differ on a power loss or
/// an operating-system crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fsync {
    /// Every commit is on stable storage before its appends are answered;
    /// appends that arrive together share one commit and one fsync.
    Always,
    /// Appends are answered once written to the operating system, and the
    /// log is synced to stable storage every interval: a power loss may lose
    /// up to this much of acknowledged appends.
    Interval(Duration),
}

impl fmt::Display for Fsync {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = match self {
            Fsync::Always => return f.write_str("always"),
            Fsync::Interval(d) => *d,
        };
        let ms = d.as_millis();
        if d.subsec_nanos() % 1_000_000 != 0 {
            write!(f, "{}us", d.as_micros())
        } else if ms % 60_000 == 0 && ms > 0 {
            write!(f, "{}m", ms / 60_000)
        } else if ms % 1000 == 0 && ms > 0 {
            write!(f, "{}s", ms / 1000)
        } else {
            write!(f, "{ms}ms")
        }
    }
}

impl FromStr for Fsync {
    type Err = Error;

    /// `always`, or a positive interval: a whole number followed by `us`,
    /// `ms`, `s` or `m` (`100ms`, `1s`, `2m`).
    fn from_str(s: &str) -> Result<Fsync, Error> {
        let bad = || {
            Error::invalid(format!(
                "invalid fsync {s:?}: expected \"always\" or an interval such as 100ms, 1s or 2m"
            ))
        };
        if s.eq_ignore_ascii_case("always") {
            return Ok(Fsync::Always);
        }
        let split = s.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        let (digits, unit) = s.split_at(split);
        let n: u64 = digits.parse().map_err(|_| bad())?;
        let d = match unit {
            "us" => Duration::from_micros(n),
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" => Duration::from_secs(n.checked_mul(60).ok_or_else(bad)?),
            _ => return Err(bad()),
        };
        if d.is_zero() {
            return Err(Error::invalid(format!(
                "invalid fsync {s:?}: the interval must be positive (use \"always\" to sync every commit)"
            )));
        }
        Ok(Fsync::Interval(d))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn fsync_parses_and_prints_back() {
        for (text, fsync) in [
            ("always", Fsync::Always),
            ("100ms", Fsync::Interval(Duration::from_millis(100))),
            ("1s", Fsync::Interval(Duration::from_secs(1))),
            ("2m", Fsync::Interval(Duration::from_secs(120))),
            ("1500ms", Fsync::Interval(Duration::from_millis(1500))),
            ("250us", Fsync::Interval(Duration::from_micros(250))),
        ] {
            assert_eq!(text.parse::<Fsync>().ok(), Some(fsync), "{text}");
            assert_eq!(fsync.to_string(), text);
        }
        assert_eq!(
            "60s"
                .parse::<Fsync>()
                .ok()
                .map(|f| f.to_string())
                .as_deref(),
            Some("1m")
        );
    }

    #[test]
    fn fsync_refuses_what_it_cannot_mean() {
        for text in ["", "never", "0ms", "10", "ms", "-1s", "1h", "1.5s", " 1s"] {
            let e = text.parse::<Fsync>().expect_err(text);
            assert_eq!(e.kind(), ErrorKind::InvalidInput);
            assert!(e.message().contains("fsync"), "{e}");
        }
    }
}
