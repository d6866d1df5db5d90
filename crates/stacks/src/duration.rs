//! A tiny parser for human durations on the command line: `50ms`, `1s`, `2m`.

use std::time::Duration;

/// Parses a whole number followed by a unit: `us`, `ms`, `s`, `m` or `h`.
/// A bare `0` is accepted as zero.
///
/// ```
/// use std::time::Duration;
/// use framewut_stacks::duration::parse_duration;
/// assert_eq!(parse_duration("50ms"), Ok(Duration::from_millis(50)));
/// assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
/// ```
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let value: u64 = digits.parse().map_err(|_| {
        format!("invalid duration {text:?}: expected a number and a unit, like 50ms, 1s or 2m")
    })?;
    let duration = match unit {
        "" if value == 0 => Duration::ZERO,
        "us" => Duration::from_micros(value),
        "ms" => Duration::from_millis(value),
        "s" => Duration::from_secs(value),
        "m" => Duration::from_secs(value.saturating_mul(60)),
        "h" => Duration::from_secs(value.saturating_mul(3600)),
        _ => {
            return Err(format!(
                "invalid duration {text:?}: the unit must be us, ms, s, m or h"
            ))
        }
    };
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_unit() {
        assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(parse_duration("30ms"), Ok(Duration::from_millis(30)));
        assert_eq!(parse_duration("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
    }

    #[test]
    fn rejects_what_is_not_a_duration() {
        for bad in ["", "ms", "5", "1.5s", "10 parsecs", "-1s"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} parsed");
        }
    }
}
