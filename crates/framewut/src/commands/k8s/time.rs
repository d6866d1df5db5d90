//! Wall-clock instants as RFC 3339 UTC text (`2026-11-29T12:00:00Z`), the
//! form `framewut load --start-at` takes, without a date library: the civil
//! calendar conversions are Howard Hinnant's `days_from_civil` and
//! `civil_from_days`.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch, now.
pub fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Unix seconds as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn format_utc(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let second_of_day = unix.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        second_of_day / 3600,
        second_of_day / 60 % 60,
        second_of_day % 60
    )
}

/// Reads a start time: Unix seconds (`1795953600`) or RFC 3339 with whole
/// seconds and `Z` or an offset (`2026-11-29T12:00:00Z`,
/// `2026-11-29T13:00:00+01:00`). The error says how to write one.
pub fn parse_instant(text: &str) -> Result<i64, String> {
    let how =
        "write it as RFC 3339 in whole seconds, e.g. 2026-11-29T12:00:00Z, or as Unix seconds";
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text
            .parse()
            .map_err(|_| format!("'{text}' is too large a time: {how}"));
    }
    let bad = || format!("'{text}' is not a time framewut reads: {how}");
    let b = text.as_bytes();
    if !text.is_ascii()
        || b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't')
    {
        return Err(bad());
    }
    if b[13] != b':' || b[16] != b':' {
        return Err(bad());
    }
    let number = |range: std::ops::Range<usize>| -> Result<i64, String> {
        let part = &text[range];
        if part.bytes().all(|c| c.is_ascii_digit()) {
            part.parse().map_err(|_| bad())
        } else {
            Err(bad())
        }
    };
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    let offset = match &text[19..] {
        "Z" | "z" => 0,
        zone if zone.len() == 6 && matches!(&zone[..1], "+" | "-") && &zone[3..4] == ":" => {
            let minutes = number(20..22)? * 60 + number(23..25)?;
            if zone.starts_with('-') {
                -minutes * 60
            } else {
                minutes * 60
            }
        }
        zone if zone.starts_with('.') => {
            return Err(format!("'{text}' has a fraction of a second: {how}"))
        }
        _ => return Err(bad()),
    };
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        _ => return Err(bad()),
    };
    if !(1..=days_in_month).contains(&day) || hour > 23 || minute > 59 || second > 59 {
        return Err(bad());
    }
    Ok(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset)
}

fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::{format_utc, parse_instant};

    #[test]
    fn formats_and_reads_back_utc() {
        assert_eq!(format_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(format_utc(1_795_953_600), "2026-11-29T12:00:00Z");
        for unix in [0, 951_782_399, 1_795_953_600, 4_102_444_800] {
            assert_eq!(parse_instant(&format_utc(unix)), Ok(unix));
        }
    }

    #[test]
    fn reads_offsets_and_unix_seconds() {
        assert_eq!(
            parse_instant("2026-11-29T13:30:00+01:30"),
            Ok(1_795_953_600)
        );
        assert_eq!(
            parse_instant("2026-11-29T10:00:00-02:00"),
            Ok(1_795_953_600)
        );
        assert_eq!(parse_instant("1795953600"), Ok(1_795_953_600));
    }

    #[test]
    fn refuses_what_is_not_a_time() {
        for text in [
            "",
            "tomorrow",
            "2026-11-29",
            "2026-11-29 12:00:00",
            "2026-02-30T12:00:00Z",
            "2026-11-29T24:00:00Z",
            "2026-11-29T12:00:00",
            "2026-11-29T12:00:00.5Z",
            "2026-11-29T12:00:00+0100",
        ] {
            let err = parse_instant(text).unwrap_err();
            assert!(err.contains("RFC 3339"), "{text:?}: {err}");
        }
    }
}
