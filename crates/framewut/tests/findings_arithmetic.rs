//! Numbers on one page agree: every finding of real runs of every preset
//! (tests/fixtures/findings/, the results.json of `framewut run PRESET` on
//! the 2-core machine, gzipped, with its histograms and each trial's
//! timelines left out)
//! is read for the arithmetic it quotes, and each sum is done again:
//!
//! - a rate quoted with a CPU cost (`4,085 req/s ≈ 1 core / 245 µs per
//!   request`, `answered 48.1 req/s (CPU: 1 core / 21 ms per request)`)
//!   fits the cores: rate x cost <= cores x 1.1, the displayed cost's
//!   rounding allowed for;
//! - a rate quoted with a ratio to the model (`4,733 req/s is 1.18x the
//!   model's 3,997 req/s`, `48.1 req/s (1.20x the model's CPU: 1 core / 25
//!   ms per request)`) has that ratio to the model's own numbers;
//! - a rate quoted with a worker ceiling (`99.3 req/s ≈ 10 workers x 1 /
//!   101 ms`) stays under it;
//! - a product quoted as such (`48.1 req/s x 21 ms = 1.01 cores busy`)
//!   adds up;
//! - a drift quoted as a change (`from 3,198 to 2,747 req/s (-14%)`) is
//!   that change;
//! - a spread quoted with its mean (`its trials ran at 3,982, 3,396, 4,014,
//!   2,882 req/s, a 95% interval of ±24% around 3,568 req/s`) has that mean;
//! - Little's law quoted with its gap (`200 connections, but rate x mean
//!   latency = 16,461 req/s x 6.1 ms = 101.1 in flight: 6 ms of every
//!   request`) multiplies out, and the gap is (N - L) / rate.
//!
//! To record a fixture again: `framewut run PRESET --out DIR`, then, in
//! tests/fixtures/findings/, `python3 strip.py DIR/results.json PRESET.json.gz`.

use std::io::Read;
use std::path::Path;

use framewut::lab::results::Results;
use framewut::report;
use regex::Regex;

/// A quoted number: `4,085`, `48.1`, `0.6`.
fn number(text: &str) -> f64 {
    text.replace(',', "").parse().unwrap()
}

/// A quoted length of time in seconds, and the largest share by which its
/// rounding for display can be off (`2.4 ms` is 2.35 to 2.45 ms).
fn seconds(value: &str, unit: &str) -> (f64, f64) {
    let x = number(value);
    let scale = match unit {
        "µs" => 1e-6,
        "ms" => 1e-3,
        "s" => 1.0,
        other => panic!("a unit of time: {other}"),
    };
    let step = if value.contains('.') { 0.05 } else { 0.5 };
    (x * scale, step / x)
}

/// The same for a rate: `4,085` is 4,084.5 to 4,085.5, `48.1` 48.05 to 48.15.
fn rate(value: &str) -> (f64, f64) {
    let x = number(value);
    let step = if value.contains('.') { 0.05 } else { 0.5 };
    (x, step / x)
}

/// What is wrong with the arithmetic of one finding, if anything.
fn problems(text: &str) -> Vec<String> {
    let cores =
        r"(?P<cores>\d+) cores?(?: \([^)]*\))? / (?P<cost>[\d.]+) (?P<unit>µs|ms|s) per request";
    let with_cost = Regex::new(&format!(
        r"(?P<rate>[\d,.]+) req/s(?: ≈ |: CPU: | \((?:(?P<ratio>[\d.]+)x the model's )?CPU: ){cores}"
    ))
    .unwrap();
    let with_model = Regex::new(
        r"(?P<rate>[\d,.]+) req/s is (?P<ratio>[\d.]+)x the model's (?P<model>[\d,.]+) req/s",
    )
    .unwrap();
    let with_workers = Regex::new(
        r"(?P<rate>[\d,.]+) req/s ≈ (?P<n>\d+) [a-z ]+? x (?P<k>\d+) / (?P<wait>[\d.]+) (?P<unit>µs|ms|s)",
    )
    .unwrap();
    let product = Regex::new(
        r"(?P<rate>[\d,.]+) req/s x (?P<cost>[\d.]+) (?P<unit>µs|ms|s) = (?P<busy>[\d.]+) cores busy",
    )
    .unwrap();
    let drift =
        Regex::new(r"from (?P<first>[\d,.]+) to (?P<last>[\d,.]+) req/s \((?P<pct>[+-]\d+)%\)")
            .unwrap();
    let spread = Regex::new(
        r"its trials ran at (?P<rates>[\d,., ]+?) req/s, a 95% interval of ±\d+% around (?P<mean>[\d,.]+) req/s",
    )
    .unwrap();
    let little = Regex::new(
        r"(?P<n>\d+) connections, but rate x mean latency = (?P<rate>[\d,.]+) req/s x (?P<w>[\d.]+) (?P<wu>µs|ms|s) = (?P<l>[\d.]+) in flight: (?P<gap>[\d.]+) (?P<gu>µs|ms|s) of every request",
    )
    .unwrap();
    let mut out = Vec::new();
    for c in little.captures_iter(text) {
        let (r, r_err) = rate(&c["rate"]);
        let (w, w_err) = seconds(&c["w"], &c["wu"]);
        let (gap, gap_err) = seconds(&c["gap"], &c["gu"]);
        let (n, l) = (number(&c["n"]), number(&c["l"]));
        if ((r * w) / l - 1.0).abs() > r_err + w_err + 0.05 / l + 1e-9 {
            out.push(format!(
                "{} req/s x {} {} is {:.1}, not {l} in flight",
                &c["rate"],
                &c["w"],
                &c["wu"],
                r * w
            ));
        }
        let want = (n - l) / r;
        if (want - gap).abs() > gap * gap_err + 0.05 / r + want * r_err + 1e-12 {
            out.push(format!(
                "({n} - {l}) / {} req/s is {:.1} µs, not {} {}",
                &c["rate"],
                want * 1e6,
                &c["gap"],
                &c["gu"]
            ));
        }
    }
    for c in drift.captures_iter(text) {
        let (first, first_err) = rate(&c["first"]);
        let (last, last_err) = rate(&c["last"]);
        let change = 100.0 * (last - first) / first;
        if (change - number(&c["pct"])).abs() > 0.5 + 100.0 * (first_err + last_err) {
            out.push(format!(
                "from {} to {} is {change:+.1}%, not {}%",
                &c["first"], &c["last"], &c["pct"]
            ));
        }
    }
    for c in spread.captures_iter(text) {
        let rates: Vec<f64> = c["rates"].split(", ").map(number).collect();
        let mean = rates.iter().sum::<f64>() / rates.len() as f64;
        // The cell's mean is over its trials' time; equal trials make it
        // the mean of their rates.
        if (mean / number(&c["mean"]) - 1.0).abs() > 0.01 {
            out.push(format!(
                "the mean of {} is {mean:.0}, not {}",
                &c["rates"], &c["mean"]
            ));
        }
    }
    for c in with_cost.captures_iter(text) {
        let (r, r_err) = rate(&c["rate"]);
        let (cost, cost_err) = seconds(&c["cost"], &c["unit"]);
        let n = number(&c["cores"]);
        let ratio = c.name("ratio").map_or(1.0, |m| number(m.as_str()));
        // With a ratio, the model's rate is rate / ratio; its cost over its
        // cores is its ceiling, so the two must agree.
        let busy = r / ratio * cost;
        let slack = 1.1 * (1.0 + r_err + cost_err + if ratio == 1.0 { 0.0 } else { 0.005 / ratio });
        if busy > n * slack {
            out.push(format!(
                "{} at {} per request is {busy:.2} cores of work, over {n} cores",
                &c["rate"], &c["cost"]
            ));
        }
        if c.name("ratio").is_some() && busy < n / slack {
            out.push(format!(
                "{} is {}x a ceiling of {n} cores / {} {}, which is {:.0} req/s",
                &c["rate"],
                &c["ratio"],
                &c["cost"],
                &c["unit"],
                n / cost
            ));
        }
    }
    for c in with_model.captures_iter(text) {
        let (r, r_err) = rate(&c["rate"]);
        let (m, m_err) = rate(&c["model"]);
        let ratio = number(&c["ratio"]);
        let slack = r_err + m_err + 0.005 / ratio + 1e-9;
        if ((r / m) / ratio - 1.0).abs() > slack {
            out.push(format!(
                "{} / {} is {:.3}, not {}x",
                &c["rate"],
                &c["model"],
                r / m,
                &c["ratio"]
            ));
        }
    }
    for c in with_workers.captures_iter(text) {
        let (r, r_err) = rate(&c["rate"]);
        let (wait, wait_err) = seconds(&c["wait"], &c["unit"]);
        let ceiling = number(&c["n"]) * number(&c["k"]) / wait;
        if r > ceiling * 1.1 * (1.0 + r_err + wait_err) {
            out.push(format!(
                "{} is over the ceiling {ceiling:.0} req/s it is said to be near",
                &c["rate"]
            ));
        }
    }
    for c in product.captures_iter(text) {
        let (r, r_err) = rate(&c["rate"]);
        let (cost, cost_err) = seconds(&c["cost"], &c["unit"]);
        let busy = number(&c["busy"]);
        if ((r * cost) / busy - 1.0).abs() > r_err + cost_err + 0.005 / busy + 0.01 {
            out.push(format!(
                "{} x {} {} is {:.2}, not {busy}",
                &c["rate"],
                &c["cost"],
                &c["unit"],
                r * cost
            ));
        }
    }
    out
}

#[test]
fn the_checker_finds_what_contradicts_itself() {
    // The seed preset's own failure before issue 18: 4.8 cores of work on one.
    assert_eq!(
        problems("python/wsgi/gunicorn-sync answered 4,801 req/s (CPU: 1 core / 1 ms per request)")
            .len(),
        1
    );
    assert!(problems("rust/std/sync-pool 112,420 req/s ≈ 1 core / 8.5 µs per request").is_empty());
    assert_eq!(
        problems("3,846 req/s is 2.13x the model's 1,808 req/s (CPU: 1 core / 553 µs per request)"),
        Vec::<String>::new()
    );
    assert_eq!(
        problems("3,846 req/s is 1.13x the model's 1,808 req/s").len(),
        1
    );
    assert!(problems("48.1 req/s (1.20x the model's CPU: 1 core / 25 ms per request)").is_empty());
    assert_eq!(
        problems("48.1 req/s (1.50x the model's CPU: 1 core / 25 ms per request)").len(),
        1
    );
    assert!(problems("python/wsgi/gunicorn-sync 99.3 req/s ≈ 10 workers x 1 / 101 ms").is_empty());
    assert_eq!(
        problems("python/wsgi/gunicorn-sync 150 req/s ≈ 10 workers x 1 / 101 ms").len(),
        1
    );
    assert!(problems("(48.1 req/s x 21 ms = 1.01 cores busy)").is_empty());
    assert_eq!(problems("(48.1 req/s x 21 ms = 2.01 cores busy)").len(), 1);
    assert!(problems("trial 1 from 3,198 to 2,747 req/s (-14%)").is_empty());
    assert_eq!(
        problems("trial 1 from 3,198 to 2,747 req/s (-24%)").len(),
        1
    );
    let little =
        "200 connections, but rate x mean latency = 16,461 req/s x 6.1 ms = 101.1 in flight:";
    assert!(problems(&format!("{little} 6 ms of every request")).is_empty());
    assert_eq!(
        problems(&format!("{little} 60 ms of every request")).len(),
        1
    );
    assert_eq!(
        problems("200 connections, but rate x mean latency = 16,461 req/s x 6.1 ms = 150.0 in flight: 3 ms of every request").len(),
        1,
        "the product is wrong, the gap follows from it"
    );
    let spread =
        "its trials ran at 3,982, 3,396, 4,014, 2,882 req/s, a 95% interval of ±24% around";
    assert!(problems(&format!("{spread} 3,568 req/s.")).is_empty());
    assert_eq!(problems(&format!("{spread} 3,868 req/s.")).len(), 1);
}

#[test]
fn every_finding_of_every_preset_adds_up() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/findings");
    let mut checked = 0;
    for preset in ["seed", "seed-rust", "quick", "tls"] {
        let file = std::fs::File::open(dir.join(format!("{preset}.json.gz"))).unwrap();
        let mut text = String::new();
        flate2::read::GzDecoder::new(file)
            .read_to_string(&mut text)
            .unwrap();
        let results: Results = serde_json::from_str(&text).unwrap();
        assert_eq!(results.run.matrix, format!("preset:{preset}"));
        let analysis = report::analyse(&results);
        assert!(!analysis.findings.is_empty(), "{preset}");
        for finding in &analysis.findings {
            let wrong = problems(&finding.text);
            assert!(wrong.is_empty(), "{preset}: {wrong:?} in: {}", finding.text);
            checked += 1;
        }
    }
    assert!(checked > 20, "{checked} findings");
}
