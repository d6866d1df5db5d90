//! Durations as people type them: `10s`, `500ms`, `2m`, `1h`, `250us`, `1.5s`.

use std::time::Duration;

/// Why some text is not a duration. Each message shows how to write one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// A number with no unit, such as `10`.
    #[error("'{text}' has no unit: write it as e.g. 10s, 500ms, 2m or 1h")]
    NoUnit { text: String },
    /// No number before the unit.
    #[error("'{text}' is not a duration: write it as e.g. 10s, 500ms, 2m or 1h")]
    NotANumber { text: String },
    /// A unit other than us, ms, s, m or h.
    #[error("'{text}' has an unknown unit '{unit}': use us, ms, s, m or h (e.g. 10s, 500ms, 2m)")]
    UnknownUnit { text: String, unit: String },
    /// Longer than a billion seconds.
    #[error("'{text}' is too long a duration: the longest is {MAX_SECONDS}s, about 31 years")]
    TooLong { text: String },
}

/// The longest duration [`parse_duration`] accepts, in seconds: far past any
/// benchmark, and well inside what a `Duration` holds.
const MAX_SECONDS: f64 = 1e9;

/// Parses a duration such as `10s`, `500ms`, `2m`, `1h`, `250us` or `1.5s`.
///
/// A bare number is refused rather than guessed at: `10` could mean seconds or
/// milliseconds, and a benchmark that silently runs 1000x too long helps nobody.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(framewut_load::parse_duration("500ms"), Ok(Duration::from_millis(500)));
/// assert_eq!(framewut_load::parse_duration("2m"), Ok(Duration::from_secs(120)));
/// assert!(framewut_load::parse_duration("10").is_err());
/// ```
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| DurationError::NoUnit { text: text.into() })?;
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| DurationError::NotANumber { text: text.into() })?;
    let seconds_per_unit = match unit.trim() {
        "us" | "µs" => 1e-6,
        "ms" => 1e-3,
        "s" | "sec" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        other => {
            return Err(DurationError::UnknownUnit {
                text: text.into(),
                unit: other.into(),
            })
        }
    };
    let seconds = value * seconds_per_unit;
    if !seconds.is_finite() || seconds > MAX_SECONDS {
        return Err(DurationError::TooLong { text: text.into() });
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// Formats a duration the way wrk does: `812.00us`, `1.20ms`, `2.05s`, `1.50m`.
pub fn format_duration(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us < 1000.0 {
        format!("{us:.2}us")
    } else if us < 1e6 {
        format!("{:.2}ms", us / 1e3)
    } else if us < 60e6 {
        format!("{:.2}s", us / 1e6)
    } else {
        format!("{:.2}m", us / 60e6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
    }

    #[test]
    fn refuses_what_it_cannot_read_and_says_how_to_write_it() {
        for bad in ["10", "ten seconds", "5 parsecs", "", "s"] {
            let err = parse_duration(bad).unwrap_err().to_string();
            assert!(err.contains("e.g."), "{bad}: {err}");
        }
        assert_eq!(
            parse_duration("5 parsecs"),
            Err(DurationError::UnknownUnit {
                text: "5 parsecs".into(),
                unit: "parsecs".into()
            })
        );
        assert_eq!(
            parse_duration("40y"),
            Err(DurationError::UnknownUnit {
                text: "40y".into(),
                unit: "y".into()
            })
        );
        let err = parse_duration("20000000m").unwrap_err();
        assert!(matches!(err, DurationError::TooLong { .. }), "{err}");
    }

    #[test]
    fn formats_like_wrk() {
        assert_eq!(format_duration(Duration::from_micros(812)), "812.00us");
        assert_eq!(format_duration(Duration::from_micros(1200)), "1.20ms");
        assert_eq!(format_duration(Duration::from_millis(2050)), "2.05s");
    }
}
