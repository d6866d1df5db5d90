//! Pass/fail thresholds on a load's summary, k6-like: `p99<50ms`,
//! `errors<1%`, `rate>5000`. Each is checked against the summary and
//! reported as held or crossed with the value measured.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::duration::{format_duration, parse_duration};
use crate::{Errors, LatencySummary, Summary};

/// The grammar, as `--help` and every parse error show it.
pub const THRESHOLD_GRAMMAR: &str = "METRIC < LIMIT or METRIC > LIMIT, where METRIC is \
p50, p75, p90, p99, p99.9, p99.99, mean or max with a duration (p99<50ms), errors with a \
percentage or a count (errors<1% or errors<10), or rate with requests per second (rate>5000)";

/// What a threshold measures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Metric {
    /// A latency percentile of the answers, e.g. 99.0.
    Percentile(f64),
    MeanLatency,
    MaxLatency,
    /// Failed requests and error statuses over every attempt, in percent.
    ErrorShare,
    /// Failed requests and error statuses, counted.
    ErrorCount,
    /// Successful requests per second.
    Rate,
}

/// One parsed threshold: the measured value must stay below (`<`) or above (`>`) the limit.
/// Saved and read back through its canonical text, `p99 < 50ms`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct Threshold {
    pub metric: Metric,
    /// `true` for `<`, `false` for `>`.
    pub below: bool,
    /// In the metric's unit: microseconds, percent, a count or req/s.
    pub limit: f64,
}

/// Why a text is not a threshold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{text}' is not a threshold ({problem}): write {THRESHOLD_GRAMMAR}")]
pub struct ThresholdError {
    pub text: String,
    pub problem: String,
}

/// The unit a threshold's metric is measured in, saved as `us`, `%`,
/// `requests` or `req/s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Unit {
    /// Microseconds of latency.
    #[serde(rename = "us")]
    Micros,
    /// A share of the attempts, in percent.
    #[serde(rename = "%")]
    Percent,
    /// A count of failed requests.
    #[serde(rename = "requests")]
    Requests,
    /// Successful requests per second.
    #[serde(rename = "req/s")]
    PerSecond,
}

/// A threshold checked against a load: held or crossed, and the value measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThresholdResult {
    /// The threshold, saved in its canonical form, e.g. `p99 < 50ms`.
    pub threshold: Threshold,
    pub unit: Unit,
    /// The limit, in `unit`.
    pub limit: f64,
    /// The value measured, in `unit`.
    pub measured: f64,
    pub held: bool,
}

impl From<Threshold> for String {
    fn from(t: Threshold) -> String {
        t.to_string()
    }
}

impl TryFrom<String> for Threshold {
    type Error = ThresholdError;

    fn try_from(text: String) -> Result<Threshold, ThresholdError> {
        text.parse()
    }
}

impl std::str::FromStr for Threshold {
    type Err = ThresholdError;

    fn from_str(text: &str) -> Result<Threshold, ThresholdError> {
        let fail = |problem: &str| ThresholdError {
            text: text.to_string(),
            problem: problem.to_string(),
        };
        let (at, below) = match (text.find('<'), text.find('>')) {
            (Some(i), None) => (i, true),
            (None, Some(i)) => (i, false),
            _ => return Err(fail("expected one '<' or '>'")),
        };
        let name = text[..at].trim();
        let value = text[at + 1..].trim();
        if value.starts_with('=') {
            return Err(fail(
                "'<=' and '>=' are not needed: the limit itself is crossed",
            ));
        }
        if value.is_empty() {
            return Err(fail("no limit after the comparison"));
        }
        let latency = |value: &str| {
            parse_duration(value)
                .map(|d| d.as_secs_f64() * 1e6)
                .map_err(|e| fail(&e.to_string()))
        };
        let number = |value: &str| {
            value
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v >= 0.0)
                .ok_or_else(|| fail(&format!("'{value}' is not a number of 0 or more")))
        };
        let (metric, limit) = match name {
            "mean" => (Metric::MeanLatency, latency(value)?),
            "max" => (Metric::MaxLatency, latency(value)?),
            "rate" => (Metric::Rate, number(value)?),
            "errors" => match value.strip_suffix('%') {
                Some(share) => (Metric::ErrorShare, number(share.trim())?),
                None => (Metric::ErrorCount, number(value)?),
            },
            p if p.starts_with('p') => {
                let percentile = crate::PERCENTILES
                    .iter()
                    .find(|q| format_percentile(**q) == p[1..])
                    .ok_or_else(|| fail(&format!("unknown percentile '{p}'")))?;
                (Metric::Percentile(*percentile), latency(value)?)
            }
            "" => return Err(fail("no metric before the comparison")),
            other => return Err(fail(&format!("unknown metric '{other}'"))),
        };
        Ok(Threshold {
            metric,
            below,
            limit,
        })
    }
}

/// `99.9` as `99.9`, `50.0` as `50`.
fn format_percentile(p: f64) -> String {
    format!("{p}")
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = if self.below { '<' } else { '>' };
        let us = |v: f64| {
            if v >= 1e6 && v % 1e6 == 0.0 {
                format!("{}s", v / 1e6)
            } else if v >= 1e3 && v % 1e3 == 0.0 {
                format!("{}ms", v / 1e3)
            } else {
                format!("{v}us")
            }
        };
        match self.metric {
            Metric::Percentile(p) => {
                write!(f, "p{} {op} {}", format_percentile(p), us(self.limit))
            }
            Metric::MeanLatency => write!(f, "mean {op} {}", us(self.limit)),
            Metric::MaxLatency => write!(f, "max {op} {}", us(self.limit)),
            Metric::ErrorShare => write!(f, "errors {op} {}%", self.limit),
            Metric::ErrorCount => write!(f, "errors {op} {}", self.limit),
            Metric::Rate => write!(f, "rate {op} {}", self.limit),
        }
    }
}

impl Threshold {
    /// The metric's unit.
    pub fn unit(&self) -> Unit {
        match self.metric {
            Metric::Percentile(_) | Metric::MeanLatency | Metric::MaxLatency => Unit::Micros,
            Metric::ErrorShare => Unit::Percent,
            Metric::ErrorCount => Unit::Requests,
            Metric::Rate => Unit::PerSecond,
        }
    }

    /// The value measured for this threshold's metric.
    ///
    /// Errors are every failure (connect, read, write, timeout, parse,
    /// upgrade, unfinished) and every answer outside 2xx and 3xx; their
    /// share is over every attempt, answered or failed. A load that made no
    /// attempt at all has a share of 100%: nothing it measured can pass.
    pub fn measure(&self, m: &Measured) -> f64 {
        let errors = m.errors.total();
        match self.metric {
            Metric::Percentile(p) => m.latency.at(p).unwrap_or(0) as f64,
            Metric::MeanLatency => m.latency.mean_us,
            Metric::MaxLatency => m.latency.max_us as f64,
            Metric::ErrorCount => errors as f64,
            Metric::ErrorShare => {
                let attempts = m.responses + errors - m.errors.status_total();
                if attempts == 0 {
                    100.0
                } else {
                    100.0 * errors as f64 / attempts as f64
                }
            }
            Metric::Rate => m.requests_per_s,
        }
    }

    /// Checks a load's summary.
    pub fn check(&self, s: &Summary) -> ThresholdResult {
        self.check_measured(&Measured {
            latency: &s.latency,
            errors: &s.errors,
            responses: s.responses,
            requests_per_s: s.requests_per_s,
        })
    }

    /// Checks figures: held when the measured value is strictly on the
    /// threshold's side of the limit.
    pub fn check_measured(&self, m: &Measured) -> ThresholdResult {
        let measured = self.measure(m);
        ThresholdResult {
            threshold: self.clone(),
            unit: self.unit(),
            limit: self.limit,
            measured,
            held: if self.below {
                measured < self.limit
            } else {
                measured > self.limit
            },
        }
    }
}

/// The figures a threshold is checked against: one load's, or a lab cell's
/// trials taken together.
#[derive(Debug, Clone, Copy)]
pub struct Measured<'a> {
    /// Latency of every answer.
    pub latency: &'a LatencySummary,
    pub errors: &'a Errors,
    /// Answers of any status.
    pub responses: u64,
    /// Successful (2xx and 3xx) requests per second.
    pub requests_per_s: f64,
}

impl ThresholdResult {
    /// The measured value as a person reads it, e.g. `3.21ms` or `2.50%`.
    pub fn measured_text(&self) -> String {
        match self.unit {
            Unit::Micros => format_duration(Duration::from_secs_f64(self.measured.max(0.0) / 1e6)),
            Unit::Percent => format!("{:.2}%", self.measured),
            Unit::Requests => format!("{:.0}", self.measured),
            Unit::PerSecond => format!("{:.2} req/s", self.measured),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_threshold_and_its_result_are_saved_as_the_text_they_were_before() {
        let t: Threshold = "p99<50ms".parse().unwrap();
        assert_eq!(serde_json::to_string(&t).unwrap(), "\"p99 < 50ms\"");
        let back: Threshold = serde_json::from_str("\"errors < 1%\"").unwrap();
        assert_eq!(back.metric, Metric::ErrorShare);
        let bad = serde_json::from_str::<Threshold>("\"p99\"").unwrap_err();
        assert!(bad.to_string().contains("expected one '<' or '>'"), "{bad}");
        let result = "rate>10"
            .parse::<Threshold>()
            .unwrap()
            .check_measured(&Measured {
                latency: &LatencySummary::default(),
                errors: &Errors::default(),
                responses: 5,
                requests_per_s: 5.0,
            });
        let json = serde_json::to_value(&result).unwrap();
        assert_eq!(json["threshold"], "rate > 10");
        assert_eq!(json["unit"], "req/s");
        assert_eq!(json["held"], false);
        let again: ThresholdResult = serde_json::from_value(json).unwrap();
        assert_eq!(again, result);
    }

    #[test]
    fn parses_the_small_grammar_and_writes_it_back() {
        for (text, shown) in [
            ("p99<50ms", "p99 < 50ms"),
            (" p99.9 < 1s ", "p99.9 < 1s"),
            ("mean<2ms", "mean < 2ms"),
            ("max<250us", "max < 250us"),
            ("errors<1%", "errors < 1%"),
            ("errors < 10", "errors < 10"),
            ("rate>5000", "rate > 5000"),
        ] {
            let t: Threshold = text.parse().unwrap();
            assert_eq!(t.to_string(), shown, "{text}");
        }
        let t: Threshold = "p50<1ms".parse().unwrap();
        assert_eq!(t.metric, Metric::Percentile(50.0));
        assert_eq!(t.limit, 1000.0);
    }

    #[test]
    fn refuses_what_it_cannot_read_naming_the_problem() {
        for (text, problem) in [
            ("p99", "expected one '<' or '>'"),
            ("p42<1ms", "unknown percentile 'p42'"),
            ("p99<50", "has no unit"),
            ("latency<1ms", "unknown metric 'latency'"),
            ("rate>fast", "'fast' is not a number"),
            ("errors<=1%", "'<=' and '>=' are not needed"),
            ("<1ms", "no metric"),
            ("rate>", "no limit"),
        ] {
            let err = text.parse::<Threshold>().unwrap_err().to_string();
            assert!(err.contains(problem), "{text}: {err}");
            assert!(err.contains("p99<50ms"), "shows the grammar: {err}");
        }
    }
}
