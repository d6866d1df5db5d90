//! `framewut load`'s text output: wrk's lines, with errors by kind, the
//! handshakes, the request list's table, the thresholds and the generator's CPU.

use std::fmt::Write as _;
use std::time::Duration;

use framewut_load::{
    format_duration, LatencySummary, LoadPlan, Pacing, Stop, Summary, TargetOrder,
};

/// wrk's opening lines.
pub fn header(plan: &LoadPlan) -> String {
    let what = match plan.stop {
        Stop::After(d) => format!("{} test", format_duration(d)),
        Stop::Requests(n) => format!("{n}-request test"),
    };
    let mut s = match plan.targets.len() {
        0 => format!("Running {what} @ {}\n", plan.target.url),
        n => format!(
            "Running {what} @ {n} targets on {}://{}, {}\n",
            plan.target.url.split("://").next().unwrap_or("http"),
            plan.target.host_header,
            match plan.order {
                TargetOrder::RoundRobin => "round-robin".to_string(),
                TargetOrder::Sequential => "sequential".to_string(),
                TargetOrder::Random { seed } => format!("random (seed {seed})"),
            }
        ),
    };
    write!(
        s,
        "  {} threads and {} connections",
        plan.threads, plan.connections
    )
    .unwrap();
    if let Pacing::Open(r) = plan.pacing {
        write!(s, ", open loop at {:.0} req/s", r.get()).unwrap();
    }
    if plan.pipeline > 1 {
        write!(s, ", pipeline depth {}", plan.pipeline).unwrap();
    }
    if let Some(h2) = plan.http2 {
        let over = if plan.target.https { "h2" } else { "h2c" };
        write!(s, ", HTTP/2 ({over}) with {} streams each", h2.streams).unwrap();
    }
    if !plan.warmup.is_zero() {
        write!(s, ", after a {} warm-up", format_duration(plan.warmup)).unwrap();
    }
    s
}

fn us(v: f64) -> String {
    format_duration(Duration::from_secs_f64(v.max(0.0) / 1e6))
}

fn count(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.2}k", v / 1e3)
    } else {
        format!("{v:.2}")
    }
}

fn bytes(v: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut v = v;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.2}{}", UNITS[unit])
}

/// The result as wrk prints it, with errors by kind and the generator's CPU.
pub fn render(s: &Summary) -> String {
    let mut out = String::new();
    let w = &mut out;
    let lat = &s.latency;
    let rps = &s.thread_requests_per_s;
    writeln!(w, "  Thread Stats   Avg      Stdev     Max   +/- Stdev").unwrap();
    writeln!(
        w,
        "    Latency {:>9} {:>9} {:>9} {:>8.2}%",
        us(lat.mean_us),
        us(lat.stdev_us),
        us(lat.max_us as f64),
        lat.within_stdev_pct
    )
    .unwrap();
    writeln!(
        w,
        "    Req/Sec {:>9} {:>9} {:>9}",
        count(rps.mean),
        count(rps.stdev),
        count(rps.max)
    )
    .unwrap();
    distribution(
        w,
        "Latency Distribution",
        lat,
        s.latency_uncorrected.as_ref(),
    );
    if s.unanswered > 0 {
        distribution(
            w,
            &format!(
                "Latency Distribution with the {} unanswered requests at their age (a lower bound)",
                s.unanswered
            ),
            &s.latency_with_unanswered,
            None,
        );
    }
    writeln!(
        w,
        "  {} requests in {}, {} read",
        s.requests,
        format_duration(Duration::from_secs_f64(s.elapsed_s)),
        bytes(s.bytes as f64)
    )
    .unwrap();
    let e = &s.errors;
    if e.connect + e.read + e.write + e.timeout > 0 {
        writeln!(
            w,
            "  Socket errors: connect {}, read {}, write {}, timeout {}",
            e.connect, e.read, e.write, e.timeout
        )
        .unwrap();
    }
    if !e.status.is_empty() {
        let codes: Vec<String> = e.status.iter().map(|(c, n)| format!("{c}: {n}")).collect();
        writeln!(
            w,
            "  Non-2xx or 3xx responses: {} ({}), {:.2}/sec, not counted in Requests/sec",
            e.status_total(),
            codes.join(", "),
            s.status_errors_per_s
        )
        .unwrap();
    }
    if e.tls > 0 {
        let reasons: Vec<String> = e
            .tls_reasons
            .iter()
            .map(|(r, n)| format!("{r}: {n}"))
            .collect();
        writeln!(
            w,
            "  TLS errors: {} ({}): failed handshakes and requests lost to TLS",
            e.tls,
            reasons.join(", ")
        )
        .unwrap();
    }
    if e.http2_total() > 0 {
        let kinds: Vec<String> = e.http2.iter().map(|(k, n)| format!("{k}: {n}")).collect();
        writeln!(
            w,
            "  HTTP/2 errors: {} ({})",
            e.http2_total(),
            kinds.join(", ")
        )
        .unwrap();
    }
    if e.parse > 0 {
        writeln!(
            w,
            "  Parse errors: {} (responses that were not valid HTTP/1.1, or answered no request sent)",
            e.parse
        )
        .unwrap();
    }
    if e.upgrade > 0 {
        writeln!(
            w,
            "  Upgrade errors: {} (lost to a 101 Switching Protocols: the connection stopped speaking HTTP/1.1)",
            e.upgrade
        )
        .unwrap();
    }
    if e.unfinished > 0 {
        writeln!(
            w,
            "  Unfinished: {} (still in flight when the run ended, younger than the timeout)",
            e.unfinished
        )
        .unwrap();
    }
    if s.silent_connections > 0 {
        writeln!(
            w,
            "  Silent connections: {} of {} connections got no answer",
            s.silent_connections, s.plan.connections
        )
        .unwrap();
    }
    if s.reconnects > 0 {
        writeln!(
            w,
            "  Reconnects: {} (connections replaced: closed by the server, or dropped by framewut after a \
             timeout or a bad response; each was opened again)",
            s.reconnects
        )
        .unwrap();
    }
    if s.backlog > 0 {
        writeln!(
            w,
            "  Backlog: {} requests due by the schedule were never sent: every connection was busy, \
             so the server could not keep this rate",
            s.backlog
        )
        .unwrap();
    }
    if s.cancelled {
        writeln!(
            w,
            "  Interrupted: these are the figures up to the interruption"
        )
        .unwrap();
    }
    if let Some(t) = &s.tls {
        let p = |q| us(t.handshake_latency.at(q).unwrap_or(0) as f64);
        writeln!(
            w,
            "  TLS: {} handshakes ({} resumed), handshake p50 {}, p99 {}{} (not in the request latency)",
            t.handshakes,
            t.resumptions,
            p(50.0),
            p(99.0),
            match (&t.protocol, &t.cipher_suite) {
                (Some(v), Some(c)) => format!(", {v} {c}"),
                _ => String::new(),
            }
        )
        .unwrap();
    }
    if let Some(nap) = s.plan.coalesce_us {
        writeln!(
            w,
            "  Coalesced: each wake-up that read something waited {} before looking again (--coalesce); the latency includes that wait",
            us(nap as f64)
        )
        .unwrap();
    }
    if let Some(h) = &s.http2 {
        write!(
            w,
            "  HTTP/2: {} streams per connection",
            s.plan.http2.map_or(1, |p| p.streams)
        )
        .unwrap();
        match h.server.map(|server| server.max_concurrent_streams) {
            Some(Some(max)) => write!(w, "; the server allows {max} at once").unwrap(),
            Some(None) => write!(w, "; the server sets no limit").unwrap(),
            None => write!(w, "; no SETTINGS came from the server").unwrap(),
        }
        if h.waited > 0 {
            let p = |q| us(h.wait.at(q).unwrap_or(0) as f64);
            write!(
                w,
                "; {} requests waited for a stream, p50 {}, p99 {} (not in the latency)",
                h.waited,
                p(50.0),
                p(99.0)
            )
            .unwrap();
        }
        if h.retried > 0 {
            write!(w, "; {} sent again after a graceful GOAWAY", h.retried).unwrap();
        }
        writeln!(w).unwrap();
    }
    targets_table(w, s);
    writeln!(w, "Requests/sec: {:>10.2}", s.requests_per_s).unwrap();
    writeln!(w, "Transfer/sec: {:>10}", bytes(s.bytes_per_s)).unwrap();
    let cpu = &s.generator_cpu;
    write!(
        w,
        "Generator CPU: {:.2}s user + {:.2}s sys, {:.2} cores busy",
        cpu.user_s, cpu.system_s, cpu.cores_busy
    )
    .unwrap();
    if let Some(per) = cpu.per_100k_requests_s {
        write!(w, ", {per:.3}s per 100k requests").unwrap();
    }
    writeln!(w).unwrap();
    for t in &s.thresholds {
        writeln!(
            w,
            "Threshold {:<24} {:<8} measured {}",
            t.threshold,
            if t.held { "held" } else { "CROSSED" },
            t.measured_text()
        )
        .unwrap();
    }
    if s.generator_saturated() {
        writeln!(
            w,
            "Note: the generator's threads were busy almost all the time; the rate may say more about \
             the generator than the server. Try more threads (-t) on free cores."
        )
        .unwrap();
    }
    out
}

/// Most entries of a request list the text output tabulates; the JSON has them all.
const TARGETS_TABLE_MAX: usize = 20;

/// One line per entry of a short request list: counts by outcome and latency.
fn targets_table(w: &mut String, s: &Summary) {
    if s.targets.is_empty() {
        return;
    }
    if s.targets.len() > TARGETS_TABLE_MAX {
        writeln!(
            w,
            "  {} targets: per-target figures are in --json (the table lists at most {TARGETS_TABLE_MAX})",
            s.targets.len()
        )
        .unwrap();
        return;
    }
    writeln!(
        w,
        "  {:<40} {:>9} {:>9} {:>7} {:>7} {:>7} {:>9} {:>9}",
        "Target", "Requests", "2xx/3xx", "4xx", "5xx", "Failed", "p50", "p99"
    )
    .unwrap();
    for t in &s.targets {
        let name = format!("{} {}", t.method, t.url);
        let r = &t.responses;
        writeln!(
            w,
            "  {name:<40} {:>9} {:>9} {:>7} {:>7} {:>7} {:>9} {:>9}",
            t.requests,
            r.success + r.redirection,
            r.client_error,
            r.server_error,
            t.failed,
            us(t.latency.at(50.0).unwrap_or(0) as f64),
            us(t.latency.at(99.0).unwrap_or(0) as f64),
        )
        .unwrap();
    }
}

fn distribution(
    w: &mut String,
    title: &str,
    lat: &LatencySummary,
    uncorrected: Option<&LatencySummary>,
) {
    match uncorrected {
        None => writeln!(w, "  {title}").unwrap(),
        Some(_) => writeln!(
            w,
            "  {title}  (from intended send time | from actual send time)"
        )
        .unwrap(),
    }
    for p in &lat.percentiles {
        let label = format!("{}%", p.percentile);
        write!(w, "  {label:>7} {:>10}", us(p.us as f64)).unwrap();
        if let Some(u) = uncorrected.and_then(|u| u.at(p.percentile)) {
            write!(w, " | {:>10}", us(u as f64)).unwrap();
        }
        writeln!(w).unwrap();
    }
}

/// The detailed percentile spectrum (`--latency`), halving the distance to
/// 100% at each step, as HdrHistogram prints it.
pub(super) fn spectrum(title: &str, h: &framewut_load::Histogram<u64>) -> String {
    let mut out = format!("  {title}\n       Value   Percentile   TotalCount\n");
    if h.is_empty() {
        return out;
    }
    let mut total = 0;
    for v in h.iter_quantiles(2) {
        total += v.count_since_last_iteration();
        writeln!(
            out,
            "  {:>10} {:>12.6} {:>12}",
            us(v.value_iterated_to() as f64),
            v.quantile_iterated_to(),
            total
        )
        .unwrap();
        if v.quantile_iterated_to() >= 0.99999 {
            break;
        }
    }
    out
}
