//! Durations as Istio writes them: Go's syntax (`10s`, `0.5s`, `1m30s`,
//! `250ms`), which is what Istio's own YAML accepts.

use std::time::Duration;

/// Why a text is not a duration; each message quotes the text and says
/// what to write instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// Nothing but whitespace.
    #[error("empty duration")]
    Empty,
    /// Starts with `-`: Istio's durations cannot go backwards.
    #[error("'{0}' is negative")]
    Negative(String),
    /// A number without a unit (`10`).
    #[error("'{0}' has no unit (use e.g. 2s, 500ms, 1m)")]
    NoUnit(String),
    /// A unit or other text where a number should be (`s`, `x5s`).
    #[error("'{0}' is not a duration (use e.g. 2s, 500ms, 1m)")]
    NotADuration(String),
    /// Digits and dots that do not make a number (`1.2.3s`).
    #[error("'{0}' has a bad number")]
    BadNumber(String),
    /// A unit Go does not know.
    #[error("'{text}' has unknown unit '{unit}' (use ns, us, ms, s, m or h)")]
    UnknownUnit {
        /// The whole text, as given.
        text: String,
        /// The unit as written.
        unit: String,
    },
    /// More than about 31 years, which nothing in a mesh means.
    #[error("'{0}' is too long")]
    TooLong(String),
    /// Longer than the field allows ([`MAX_RESOURCE`] for Istio resources).
    #[error("'{text}' is longer than the maximum of {max} (see README, Limits)")]
    AboveLimit {
        /// The whole text, as given.
        text: String,
        /// The limit, formatted as a duration.
        max: String,
    },
}

/// The longest duration an Istio resource field may hold (timeouts,
/// per-try timeouts, fault delays, connect and idle timeouts, outlier
/// intervals). Istio and Envoy only bound them by protobuf's ten thousand
/// years; a day is far beyond any request, and keeps every deadline well
/// inside what the runtime's timers can represent.
pub const MAX_RESOURCE: Duration = Duration::from_secs(24 * 3600);

/// Parses a Go-style duration of at most `max`.
pub fn parse_at_most(text: &str, max: Duration) -> Result<Duration, DurationError> {
    let d = parse(text)?;
    if d > max {
        return Err(DurationError::AboveLimit {
            text: text.into(),
            max: format_go(max),
        });
    }
    Ok(d)
}

/// `24h`, `1m`, `30s`: a whole number of the largest unit that divides it.
fn format_go(d: Duration) -> String {
    let s = d.as_secs();
    if s > 0 && u128::from(s) * 1000 == d.as_millis() {
        if s.is_multiple_of(3600) {
            return format!("{}h", s / 3600);
        }
        if s.is_multiple_of(60) {
            return format!("{}m", s / 60);
        }
    }
    format(d)
}

/// Parses a Go-style duration. Negative durations are refused.
pub fn parse(text: &str) -> Result<Duration, DurationError> {
    let s = text.trim();
    if s.is_empty() {
        return Err(DurationError::Empty);
    }
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.starts_with('-') {
        return Err(DurationError::Negative(text.into()));
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| DurationError::NoUnit(text.into()))?;
        if num_len == 0 {
            return Err(DurationError::NotADuration(text.into()));
        }
        let value: f64 = rest[..num_len]
            .parse()
            .map_err(|_| DurationError::BadNumber(text.into()))?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            unit => {
                return Err(DurationError::UnknownUnit {
                    text: text.into(),
                    unit: unit.into(),
                })
            }
        };
        total += value * scale;
        rest = &rest[unit_len..];
    }
    if !total.is_finite() || total > 1e9 {
        return Err(DurationError::TooLong(text.into()));
    }
    Ok(Duration::from_secs_f64(total))
}

/// Formats a duration the way Istio users write it (`2s`, `250ms`, `1.5s`).
pub fn format(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if d.is_zero() {
        "0s".into()
    } else if ms < 1.0 {
        format!("{}us", d.as_micros())
    } else if ms < 1000.0 {
        let s = format!("{ms:.3}");
        format!("{}ms", s.trim_end_matches('0').trim_end_matches('.'))
    } else {
        let s = format!("{:.3}", d.as_secs_f64());
        format!("{}s", s.trim_end_matches('0').trim_end_matches('.'))
    }
}

/// Serde for `Duration` fields written as Go durations.
pub mod serde_go {
    use super::*;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Serializes as `2s`.
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(*d))
    }

    /// Deserializes from `2s`.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Serde for `Option<Duration>` fields written as Go durations.
pub mod serde_go_opt {
    use super::*;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Serializes as `2s` or null.
    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_str(&format(*d)),
            None => s.serialize_none(),
        }
    }

    /// Deserializes from `2s` or null, refusing more than [`MAX_RESOURCE`].
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let text = Option::<String>::deserialize(d)?;
        text.map(|t| parse_at_most(&t, MAX_RESOURCE).map_err(serde::de::Error::custom))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_durations() {
        assert_eq!(parse("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse("0.5s"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("0"), Ok(Duration::ZERO));
    }

    #[test]
    fn rejects_with_reasons() {
        assert!(parse("10")
            .expect_err("no unit")
            .to_string()
            .contains("no unit"));
        assert!(parse("5x")
            .expect_err("unknown unit")
            .to_string()
            .contains("unknown unit 'x'"));
        assert!(parse("-1s")
            .expect_err("negative")
            .to_string()
            .contains("negative"));
        assert!(parse("").is_err());
    }

    #[test]
    fn limits_are_named_in_the_refusal() {
        assert_eq!(
            parse_at_most("24h", MAX_RESOURCE),
            Ok(Duration::from_secs(86400))
        );
        let e = parse_at_most("100000h", MAX_RESOURCE).expect_err("too long");
        assert_eq!(
            e.to_string(),
            "'100000h' is longer than the maximum of 24h (see README, Limits)"
        );
        let e = parse_at_most("2m", Duration::from_secs(60)).expect_err("too long");
        assert!(e.to_string().contains("maximum of 1m"), "{e}");
    }

    #[test]
    fn formats_back() {
        assert_eq!(format(Duration::from_millis(250)), "250ms");
        assert_eq!(format(Duration::from_secs(2)), "2s");
        assert_eq!(format(Duration::from_millis(1500)), "1.5s");
    }
}
