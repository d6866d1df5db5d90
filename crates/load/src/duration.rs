//! Durations as people type them: `10s`, `500ms`, `2m`, `1h`, `250us`, `1.5s`.

use std::time::Duration;

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
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| format!("'{text}' has no unit: write it as e.g. 10s, 500ms, 2m or 1h"))?;
    let (number, unit) = text.split_at(split);
    let value: f64 = number.parse().map_err(|_| {
        format!("'{text}' is not a duration: write it as e.g. 10s, 500ms, 2m or 1h")
    })?;
    let seconds_per_unit = match unit.trim() {
        "us" | "µs" => 1e-6,
        "ms" => 1e-3,
        "s" | "sec" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        other => {
            return Err(format!(
            "'{text}' has an unknown unit '{other}': use us, ms, s, m or h (e.g. 10s, 500ms, 2m)"
        ))
        }
    };
    let seconds = value * seconds_per_unit;
    if !seconds.is_finite() || seconds > 1e9 {
        return Err(format!("'{text}' is too long a duration"));
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
            let err = parse_duration(bad).unwrap_err();
            assert!(err.contains("e.g."), "{bad}: {err}");
        }
    }

    #[test]
    fn formats_like_wrk() {
        assert_eq!(format_duration(Duration::from_micros(812)), "812.00us");
        assert_eq!(format_duration(Duration::from_micros(1200)), "1.20ms");
        assert_eq!(format_duration(Duration::from_millis(2050)), "2.05s");
    }
}
