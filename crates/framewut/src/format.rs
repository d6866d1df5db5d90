//! Numbers as framewut writes them in tables and sentences: rates with thousands
//! separators, times with the unit a person would pick.

use std::time::Duration;

/// A rate with thousands separators: `47,622`; below 100 with one decimal.
pub fn thousands(rate: f64) -> String {
    if rate < 100.0 {
        return format!("{rate:.1}");
    }
    let digits = format!("{:.0}", rate);
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Bytes in mebibytes: `3.5MiB`.
pub fn mebibytes(bytes: u64) -> String {
    format!("{:.1}MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// A number with about two significant figures below 10 and none after the
/// point above: `2.5`, `85`, `100`.
fn short(x: f64) -> String {
    if x >= 9.95 {
        format!("{x:.0}")
    } else {
        let text = format!("{x:.1}");
        text.strip_suffix(".0").map_or(text.clone(), str::to_string)
    }
}

/// A time in seconds as `85 µs`, `2.5 ms`, `100 ms` or `1.5 s`.
pub fn seconds(s: f64) -> String {
    if s <= 0.0 {
        "0".to_string()
    } else if s < 1e-3 {
        format!("{} µs", short(s * 1e6))
    } else if s < 1.0 {
        format!("{} ms", short(s * 1e3))
    } else {
        format!("{} s", short(s))
    }
}

/// A length of time to wait, in whole seconds: `45s`, `2m05s`.
pub fn minutes(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

/// A time in microseconds, as [`seconds`] writes it.
pub fn micros(us: f64) -> String {
    seconds(us / 1e6)
}

/// A rate with its unit: `1,939 req/s`, `97.5 req/s`.
pub fn rate(per_s: f64) -> String {
    format!("{} req/s", thousands(per_s))
}

/// A count of things with the noun made plural when it needs to be:
/// `1 worker`, `10 workers`.
pub fn count(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// A ratio as `0.98x` or `12x`.
pub fn times(x: f64) -> String {
    if x >= 9.95 {
        format!("{x:.0}x")
    } else {
        format!("{x:.2}x")
    }
}

/// A signed percentage change: `+12.3%`, `-50.0%`.
pub fn change(fraction: f64) -> String {
    format!("{:+.1}%", fraction * 100.0)
}

/// Items in words: `a`, `a and b`, `a, b and c`.
pub fn and_list<S: AsRef<str>>(items: &[S]) -> String {
    match items.split_last() {
        None => String::new(),
        Some((last, [])) => last.as_ref().to_string(),
        Some((last, rest)) => {
            let rest: Vec<&str> = rest.iter().map(AsRef::as_ref).collect();
            format!("{} and {}", rest.join(", "), last.as_ref())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_rates() {
        assert_eq!(thousands(47621.63), "47,622");
        assert_eq!(thousands(123.4), "123");
        assert_eq!(thousands(1_000_000.0), "1,000,000");
        assert_eq!(thousands(9.75), "9.8");
        assert_eq!(mebibytes(3 * 1024 * 1024 + 512 * 1024), "3.5MiB");
    }

    #[test]
    fn times_pick_their_unit() {
        assert_eq!(seconds(0.1), "100 ms");
        assert_eq!(seconds(0.0025), "2.5 ms");
        assert_eq!(seconds(85e-6), "85 µs");
        assert_eq!(seconds(1.5), "1.5 s");
        assert_eq!(seconds(0.001), "1 ms");
        assert_eq!(micros(4.2), "4.2 µs");
    }

    #[test]
    fn rates_ratios_and_counts() {
        assert_eq!(rate(1939.15), "1,939 req/s");
        assert_eq!(rate(97.54), "97.5 req/s");
        assert_eq!(times(0.984), "0.98x");
        assert_eq!(times(57.8), "58x");
        assert_eq!(count(1, "worker", "workers"), "1 worker");
        assert_eq!(count(10, "worker", "workers"), "10 workers");
        assert_eq!(change(-0.5), "-50.0%");
    }
}
