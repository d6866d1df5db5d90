//! Wall-clock times as agents exchange them: `--start-at` read as RFC 3339
//! or Unix seconds, and the measured window written in both forms so that
//! runs on different hosts line up second by second.
//!
//! Written here rather than with a date crate: only UTC is ever produced,
//! and reading needs no more than a date, a time and an offset.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A start time further ahead than this is refused: it is most likely a
/// mistake, and an agent waiting an hour holds its machine for nothing.
pub const MAX_START_AHEAD: Duration = Duration::from_secs(3600);
/// A start time this far in the past is still accepted: the agent starts at
/// once, and the spread of starts shows in the merge.
pub const MAX_START_LATE: Duration = Duration::from_secs(1);

/// Why a text is not a start time, or a start time cannot be waited for.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StartAtError {
    #[error(
        "'{0}' is not a time: give RFC 3339 (e.g. 2026-11-29T12:00:00Z or \
         2026-11-29T13:00:00.5+01:00) or Unix seconds (e.g. 1795953600 or 1795953600.25)"
    )]
    NotATime(String),
    #[error(
        "the start time {at} passed {late:.3} s ago: give one a little in the future, \
         e.g. --start-at $(( $(date +%s) + 10 ))"
    )]
    Late { at: String, late: f64 },
    #[error(
        "the start time {at} is {ahead:.0} s ahead, more than the {most} s accepted: give \
         one within the hour",
        most = MAX_START_AHEAD.as_secs()
    )]
    TooFarAhead { at: String, ahead: f64 },
}

/// Reads a time as RFC 3339 (`2026-11-29T12:00:00Z`, with fractional
/// seconds and a `+hh:mm`/`-hh:mm` offset allowed) or as Unix seconds
/// (`1795953600`, fractional allowed).
pub fn parse_time(text: &str) -> Result<SystemTime, StartAtError> {
    let t = text.trim();
    let not = || StartAtError::NotATime(text.to_string());
    let seconds = if t.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        t.parse::<f64>()
            .ok()
            .filter(|s| s.is_finite())
            .ok_or_else(not)?
    } else {
        parse_rfc3339(t).ok_or_else(not)?
    };
    // Before 1970 or past year 9999 is no start time anyone means.
    if !(0.0..253_402_300_800.0).contains(&seconds) {
        return Err(not());
    }
    Ok(UNIX_EPOCH + Duration::from_secs_f64(seconds))
}

/// How long to wait from `now` until `at`: zero when `at` passed less than
/// [`MAX_START_LATE`] ago; refused when later than that or more than
/// [`MAX_START_AHEAD`] ahead.
pub fn wait_until(at: SystemTime, now: SystemTime) -> Result<Duration, StartAtError> {
    match at.duration_since(now) {
        Ok(ahead) if ahead > MAX_START_AHEAD => Err(StartAtError::TooFarAhead {
            at: rfc3339(at),
            ahead: ahead.as_secs_f64(),
        }),
        Ok(ahead) => Ok(ahead),
        Err(late) if late.duration() > MAX_START_LATE => Err(StartAtError::Late {
            at: rfc3339(at),
            late: late.duration().as_secs_f64(),
        }),
        Err(_) => Ok(Duration::ZERO),
    }
}

/// Seconds since the Unix epoch, fractional.
pub fn unix_seconds(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The time in UTC as RFC 3339 with microseconds, e.g. `2026-11-29T12:00:00.250000Z`.
pub fn rfc3339(t: SystemTime) -> String {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let whole = rfc3339_seconds(t);
    format!(
        "{}.{:06}Z",
        whole.trim_end_matches('Z'),
        since.subsec_micros()
    )
}

/// The time in UTC as RFC 3339 in whole seconds (the fraction dropped),
/// e.g. `2026-11-29T12:00:00Z`: the form a start time is written in.
pub fn rfc3339_seconds(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs() as i64;
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// Unix seconds of an RFC 3339 date-time, or `None` if it is not one.
fn parse_rfc3339(t: &str) -> Option<f64> {
    let b = t.as_bytes();
    let digits = |from: usize, len: usize| -> Option<i64> {
        let part = b.get(from..from + len)?;
        part.iter()
            .all(u8::is_ascii_digit)
            .then(|| part.iter().fold(0, |n, d| n * 10 + i64::from(d - b'0')))
    };
    let at = |i: usize, c: u8| b.get(i) == Some(&c);
    if !(at(4, b'-') && at(7, b'-') && matches!(b.get(10), Some(b'T' | b't' | b' '))) {
        return None;
    }
    if !(at(13, b':') && at(16, b':')) {
        return None;
    }
    let (year, month, day) = (digits(0, 4)?, digits(5, 2)?, digits(8, 2)?);
    let (hour, minute, second) = (digits(11, 2)?, digits(14, 2)?, digits(17, 2)?);
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    // RFC 3339 allows a leap second (60); it is read as the next second's start.
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut i = 19;
    let mut fraction = 0.0;
    if at(i, b'.') {
        let start = i + 1;
        i = start;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return None;
        }
        fraction = format!("0.{}", &t[start..i]).parse::<f64>().ok()?;
    }
    let offset = match b.get(i)? {
        b'Z' | b'z' if i + 1 == b.len() => 0,
        sign @ (b'+' | b'-') if i + 6 == b.len() && at(i + 3, b':') => {
            let (oh, om) = (digits(i + 1, 2)?, digits(i + 4, 2)?);
            if oh > 23 || om > 59 {
                return None;
            }
            let minutes = oh * 60 + om;
            if *sign == b'+' {
                minutes * 60
            } else {
                -minutes * 60
            }
        }
        _ => return None,
    };
    let secs =
        days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset;
    Some(secs as f64 + fraction)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day count since 1970-01-01 (Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(text: &str) -> f64 {
        unix_seconds(parse_time(text).unwrap())
    }

    #[test]
    fn reads_rfc3339_in_utc_and_with_offsets() {
        // `date -u -d 2026-11-29T12:00:00Z +%s`
        assert_eq!(secs("2026-11-29T12:00:00Z"), 1_795_953_600.0);
        assert_eq!(secs("2026-11-29t12:00:00z"), 1_795_953_600.0);
        assert_eq!(secs("2026-11-29T13:00:00+01:00"), 1_795_953_600.0);
        assert_eq!(secs("2026-11-29T06:30:00-05:30"), 1_795_953_600.0);
        assert_eq!(secs("2026-11-29T12:00:00.25Z"), 1_795_953_600.25);
        assert_eq!(secs("1970-01-01T00:00:00Z"), 0.0);
        assert_eq!(secs("2000-02-29T00:00:00Z"), 951_782_400.0);
        assert_eq!(secs("2024-12-31T23:59:59Z"), 1_735_689_599.0);
    }

    #[test]
    fn reads_unix_seconds_whole_or_fractional() {
        assert_eq!(secs("1795953600"), 1_795_953_600.0);
        assert_eq!(secs(" 1795953600.5 "), 1_795_953_600.5);
    }

    #[test]
    fn refuses_what_is_not_a_time() {
        for bad in [
            "",
            "soon",
            "-5",
            "1e9",
            "1.2.3",
            "2026-11-29",
            "2026-11-29T12:00:00",
            "2026-11-29T12:00Z",
            "2026-13-01T00:00:00Z",
            "2026-02-29T00:00:00Z",
            "2026-11-31T00:00:00Z",
            "2026-11-29T24:00:00Z",
            "2026-11-29T12:00:00.Z",
            "2026-11-29T12:00:00+0100",
            "2026-11-29T12:00:00+01:00trailing",
            "12026-11-29T12:00:00Z",
        ] {
            let err = parse_time(bad).unwrap_err();
            assert_eq!(err, StartAtError::NotATime(bad.to_string()), "{bad}");
        }
        assert!(parse_time("soon")
            .unwrap_err()
            .to_string()
            .contains("2026-11-29T12:00:00Z"));
    }

    #[test]
    fn writes_utc_with_microseconds_and_reads_it_back() {
        let t = UNIX_EPOCH + Duration::from_micros(1_795_953_600_250_000);
        assert_eq!(rfc3339(t), "2026-11-29T12:00:00.250000Z");
        assert_eq!(parse_time(&rfc3339(t)).unwrap(), t);
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000000Z");
        assert_eq!(rfc3339_seconds(t), "2026-11-29T12:00:00Z");
        assert_eq!(
            rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00Z"
        );
        // Every day for 1,200 years round-trips through the civil calendar.
        for day in -200_000..250_000 {
            let (y, m, d) = civil_from_days(day);
            assert_eq!(days_from_civil(y, m, d), day);
            assert!(d <= days_in_month(y, m));
        }
    }

    #[test]
    fn waits_for_a_near_future_start_and_refuses_late_or_far_ones() {
        let now = UNIX_EPOCH + Duration::from_secs(1_795_953_600);
        let s = Duration::from_secs;
        assert_eq!(wait_until(now + s(2), now).unwrap(), s(2));
        assert_eq!(
            wait_until(now - Duration::from_millis(500), now).unwrap(),
            s(0)
        );
        let err = wait_until(now - s(3), now).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the start time 2026-11-29T11:59:57.000000Z passed 3.000 s ago: give one a little \
             in the future, e.g. --start-at $(( $(date +%s) + 10 ))"
        );
        assert!(wait_until(now + s(3600), now).is_ok());
        let err = wait_until(now + s(3601), now).unwrap_err();
        assert!(matches!(err, StartAtError::TooFarAhead { .. }), "{err}");
    }
}
