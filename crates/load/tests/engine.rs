//! The engine against real servers on loopback: counts, framing, errors by
//! kind, and the open-loop schedule.

mod common;

use std::time::{Duration, Instant};

use common::{ok, status, Reply, Server};
use framewut_load::{
    LoadPlan, LoadReport, Pacing, PlanError, Rate, RequestSpec, Stop, Summary, Target, TargetOrder,
    TargetRequest,
};

const HELLO: &[u8] = br#"{"message":"helowrld"}"#;

fn plan(url: &str, connections: usize, threads: usize, stop: Stop) -> LoadPlan {
    let mut p = LoadPlan::new(Target::parse(url).unwrap());
    p.connections = connections;
    p.threads = threads;
    p.stop = stop;
    p
}

fn run(p: &LoadPlan) -> LoadReport {
    framewut_load::run(p).unwrap()
}

#[test]
fn an_exact_number_of_requests_reaches_the_server() {
    let server = Server::start(|_| Reply::Send(ok(HELLO)));
    let r = run(&plan(&server.url("/hello"), 7, 3, Stop::Requests(1001)));
    assert_eq!(r.requests, 1001);
    assert_eq!(r.errors.total(), 0, "{:?}", r.errors);
    assert_eq!(server.requests(), 1001);
    assert_eq!(r.latency.len(), 1001);
    assert_eq!(r.reconnects, 0);
    assert_eq!(server.connections(), 7, "keep-alive: one connection each");
}

#[test]
fn a_server_that_closes_after_each_response_is_reconnected_and_counted() {
    let server = Server::start(|_| {
        Reply::SendAndClose(
            b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok".to_vec(),
        )
    });
    let r = run(&plan(&server.url("/"), 4, 1, Stop::Requests(400)));
    assert_eq!(r.requests, 400);
    assert_eq!(r.errors.total(), 0, "{:?}", r.errors);
    assert!(r.reconnects >= 396, "reconnects: {}", r.reconnects);
    assert!(server.connections() >= 400);
}

#[test]
fn chunked_bodies_are_framed() {
    let server = Server::start(|_| {
        Reply::Send(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nhelo\r\n4;ext=1\r\nwrld\r\n0\r\n\r\n".to_vec(),
        )
    });
    let r = run(&plan(&server.url("/"), 2, 1, Stop::Requests(200)));
    assert_eq!(r.requests, 200);
    assert_eq!(r.errors.total(), 0, "{:?}", r.errors);
    assert_eq!(server.connections(), 2);
}

#[test]
fn a_one_megabyte_body_is_counted_not_kept() {
    let body = vec![b'x'; 1 << 20];
    let response = ok(&body);
    let len = response.len() as u64;
    let server = Server::start(move |_| Reply::Send(response.clone()));
    let r = run(&plan(&server.url("/"), 2, 1, Stop::Requests(40)));
    assert_eq!(r.requests, 40);
    assert_eq!(r.errors.total(), 0, "{:?}", r.errors);
    assert_eq!(r.bytes, 40 * len);
}

#[test]
fn garbage_is_a_parse_error() {
    let server = Server::start(|_| Reply::Send(b"this is not http\r\n\r\n".to_vec()));
    let r = run(&plan(&server.url("/"), 2, 1, Stop::Requests(20)));
    assert_eq!(r.errors.parse, 20, "{:?}", r.errors);
    assert_eq!(r.requests, 0);
}

#[test]
fn a_stalling_server_gives_timeouts() {
    let server = Server::start(|_| Reply::Ignore);
    let mut p = plan(
        &server.url("/"),
        3,
        1,
        Stop::After(Duration::from_millis(700)),
    );
    p.timeout = Duration::from_millis(200);
    let r = run(&p);
    assert_eq!(r.requests, 0);
    // Each connection times out about every 200 ms and is replaced.
    assert!(r.errors.timeout >= 6, "{:?}", r.errors);
    assert!(server.connections() >= 6);
}

#[test]
fn a_refused_port_gives_connect_errors_and_the_run_still_ends() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}/");
    let r = run(&plan(&url, 2, 1, Stop::After(Duration::from_millis(300))));
    assert!(r.errors.connect > 2, "{:?}", r.errors);
    assert_eq!(r.requests, 0);
    // A count-bounded run ends too: each failed connect spends a request.
    let r = run(&plan(&url, 2, 1, Stop::Requests(10)));
    assert_eq!(r.errors.connect, 10, "{:?}", r.errors);
    // And an open-loop one, whose backlog once counted the failed connects
    // as requests sent and overflowed.
    let mut open = plan(&url, 2, 1, Stop::Requests(5));
    open.pacing = Pacing::Open(Rate::per_second(100.0).unwrap());
    let r = run(&open);
    assert_eq!(r.errors.connect, 5, "{:?}", r.errors);
    assert_eq!(r.requests, 0);
}

#[test]
fn server_errors_are_counted_by_status_code() {
    let server = Server::start(|n| {
        if n % 4 == 0 {
            Reply::Send(status(500, b"{}"))
        } else if n % 4 == 1 {
            Reply::Send(status(503, b"{}"))
        } else {
            Reply::Send(ok(HELLO))
        }
    });
    let r = run(&plan(&server.url("/"), 1, 1, Stop::Requests(100)));
    assert_eq!(r.responses, 100);
    assert_eq!(r.requests, 50, "only successes are requests served");
    assert_eq!(r.errors.status.get(&500), Some(&25));
    assert_eq!(r.errors.status.get(&503), Some(&25));
    assert_eq!(r.errors.status_total(), 50);
}

#[test]
fn req_per_s_counts_successes_with_the_error_statuses_rate_beside_it() {
    // Every other response is a 503, over one connection: exactly half.
    let server = Server::start(|n| {
        if n % 2 == 0 {
            Reply::Send(status(503, b"{}"))
        } else {
            Reply::Send(ok(HELLO))
        }
    });
    let p = plan(&server.url("/"), 1, 1, Stop::Requests(400));
    let r = run(&p);
    assert_eq!((r.responses, r.requests), (400, 200));
    assert_eq!(r.errors.status.get(&503), Some(&200));
    let timeline: u64 = r.timeline.iter().map(|s| s.requests).sum();
    assert_eq!(timeline, 200, "the timeline counts successes too");
    let s = Summary::of(&p, &r);
    let all = s.responses as f64 / s.elapsed_s;
    assert!((s.requests_per_s - all / 2.0).abs() < 1e-6 * all, "{s:?}");
    assert!(
        (s.status_errors_per_s - all / 2.0).abs() < 1e-6 * all,
        "{s:?}"
    );
    assert_eq!(s.latency.count, 400, "every answer has a latency");
}

/// A pool of 2 workers, each answering one connection 5 ms a response until
/// it closes, loaded by 32 connections with a 200 ms timeout for 1 s.
#[test]
fn connections_a_pool_starves_are_counted_silent_and_their_requests_unanswered() {
    let server = Server::pool(2, |_| Reply::After(Duration::from_millis(5), ok(HELLO)));
    let timeout = Duration::from_millis(200);
    let mut p = plan(&server.url("/"), 32, 2, Stop::After(Duration::from_secs(1)));
    p.timeout = timeout;
    let r = run(&p);
    // The 2 connections the workers took keep them; the other 30 are
    // accepted and wait, again after each timeout, for the whole run.
    assert_eq!(r.silent_connections, 30, "{:?}", r.errors);
    assert!(r.responses > 0 && r.responses <= 2 * 200, "{}", r.responses);
    let e = &r.errors;
    assert_eq!(
        r.unanswered.len(),
        e.timeout + e.unfinished + e.read + e.write + e.parse,
        "{e:?}"
    );
    // Each starved connection timed out at least once in the second and has
    // a request in flight at the end.
    assert!(e.timeout >= 30, "{e:?}");
    assert!(r.unanswered.len() >= 60, "{e:?}");
    // At most 400 answers (two workers, 5 ms each) beside at least 30
    // requests that waited the timeout or longer: more than 1% of all, so
    // the 99th percentile with the unanswered is at least the timeout, where
    // the answered alone stay near 5 ms.
    let with = r.latency_with_unanswered();
    assert_eq!(with.len(), r.responses + r.unanswered.len());
    assert!(
        with.value_at_quantile(0.99) >= timeout.as_micros() as u64,
        "p99 with the unanswered {} us",
        with.value_at_quantile(0.99)
    );
    assert!(r.latency.value_at_quantile(0.99) < timeout.as_micros() as u64);
    let s = Summary::of(&p, &r);
    assert_eq!(s.unanswered, r.unanswered.len());
    assert_eq!(s.silent_connections, 30);
    assert!(
        s.latency_with_unanswered.at(99.0).unwrap() >= 200_000,
        "{s:?}"
    );
}

#[test]
fn warm_up_requests_that_fail_or_wait_inside_the_window_are_counted() {
    // A silent server, a 200 ms warm-up, a 500 ms timeout and a 500 ms
    // window [200, 700]: each connection's first request, sent at 0, times
    // out at about 500, inside the window; the one sent in its place is
    // still waiting at 700, younger than the timeout.
    let server = Server::start(|_| Reply::Ignore);
    let mut p = plan(
        &server.url("/"),
        2,
        1,
        Stop::After(Duration::from_millis(500)),
    );
    p.warmup = Duration::from_millis(200);
    p.timeout = Duration::from_millis(500);
    let r = run(&p);
    assert_eq!(
        (r.errors.timeout, r.errors.unfinished),
        (2, 2),
        "{:?}",
        r.errors
    );
    assert_eq!(r.unanswered.len(), 4);
    assert!(r.unanswered.max() >= 500_000, "timed out at their age");
    assert_eq!(r.silent_connections, 2);
}

#[test]
fn requests_never_answered_are_counted() {
    // The first 50 requests are answered, then the server goes silent.
    let server = Server::start(|n| {
        if n < 50 {
            Reply::Send(ok(HELLO))
        } else {
            Reply::Ignore
        }
    });
    let mut p = plan(
        &server.url("/"),
        4,
        1,
        Stop::After(Duration::from_millis(500)),
    );
    p.timeout = Duration::from_secs(5);
    let r = run(&p);
    assert_eq!(r.requests, 50);
    // One request stuck on each connection when the run ended.
    assert_eq!(r.errors.unfinished, 4, "{:?}", r.errors);
    assert_eq!(r.errors.timeout, 0);

    // With a count, the stuck requests time out and the run still ends.
    let server = Server::start(|n| {
        if n < 10 {
            Reply::Send(ok(HELLO))
        } else {
            Reply::Ignore
        }
    });
    let mut p = plan(&server.url("/"), 2, 1, Stop::Requests(14));
    p.timeout = Duration::from_millis(200);
    let r = run(&p);
    assert_eq!(r.requests, 10);
    assert_eq!(r.errors.timeout, 4, "{:?}", r.errors);
}

#[test]
fn pipelining_keeps_several_requests_in_flight() {
    let server = Server::start(|_| Reply::Send(ok(HELLO)));
    let mut p = plan(&server.url("/"), 2, 1, Stop::Requests(1000));
    p.pipeline = 16;
    let r = run(&p);
    assert_eq!(r.requests, 1000);
    assert_eq!(r.errors.total(), 0, "{:?}", r.errors);
    assert_eq!(server.requests(), 1000);
}

#[test]
fn warm_up_is_not_counted() {
    let server = Server::start(|_| Reply::After(Duration::from_millis(5), ok(HELLO)));
    let mut p = plan(&server.url("/"), 2, 1, Stop::Requests(20));
    p.warmup = Duration::from_millis(200);
    let r = run(&p);
    assert_eq!(r.requests, 20);
    // About 2 connections x 200 ms / 5 ms were sent during the warm-up.
    assert!(server.requests() >= 20 + 20, "{}", server.requests());
}

#[test]
fn a_timed_load_counts_warm_up_requests_answered_inside_its_window() {
    // One connection, 400 ms a response: the request sent at the start of
    // the 100 ms warm-up is answered at 400 ms, inside the window
    // [100 ms, 1100 ms], as is the one sent at 400 ms (answered at 800 ms,
    // with 300 ms to spare for a busy machine); the one sent at 800 ms is
    // still in flight at the end, and a delay can only keep it so.
    let server = Server::start(|_| Reply::After(Duration::from_millis(400), ok(HELLO)));
    let mut p = plan(&server.url("/"), 1, 1, Stop::After(Duration::from_secs(1)));
    p.warmup = Duration::from_millis(100);
    let r = run(&p);
    assert_eq!(r.requests, 2, "{:?}", r.errors);
    assert_eq!(r.latency.len(), 2);
    assert_eq!(r.errors.unfinished, 1, "{:?}", r.errors);
}

#[test]
fn open_loop_holds_its_rate_and_measures_from_the_schedule() {
    let server = Server::start(|_| Reply::After(Duration::from_millis(10), ok(HELLO)));
    let mut p = plan(&server.url("/"), 8, 2, Stop::After(Duration::from_secs(3)));
    p.pacing = Pacing::Open(Rate::per_second(200.0).unwrap());
    let r = run(&p);
    // Every request scheduled in the 3 s is sent, and answered but for
    // those in flight at the end: at most one per connection, 8 in 3 s.
    let rate = r.requests as f64 / r.elapsed.as_secs_f64();
    assert!(
        (rate - 200.0).abs() <= 8.0 / 3.0 + 0.5,
        "achieved {rate} req/s"
    );
    assert!(r.errors.unfinished <= 8, "{:?}", r.errors);
    // No request is answered before its 10 ms, and at a quarter of the 8
    // connections' capacity no queue forms: the median stays far below
    // the five service times that one would take.
    let p50 = r.latency.value_at_quantile(0.5) as f64 / 1000.0;
    assert!((10.0..50.0).contains(&p50), "p50 {p50} ms");
    assert_eq!(r.errors.total(), r.errors.unfinished, "{:?}", r.errors);
    assert!(r.latency_uncorrected.is_some());
}

/// Where nothing queues, a request goes out when it is due: its latency
/// from the schedule is its latency from the actual send, plus at most one
/// step of the loop's alarm (50 µs) and the wake-up's own lateness; not the
/// up to 1 ms that epoll's whole-millisecond timeout would add, which made
/// the median half a millisecond longer than the server's answer.
#[test]
fn open_loop_sends_on_time_and_charges_the_server_no_lateness_of_its_own() {
    let server = Server::start(|_| Reply::Send(ok(HELLO)));
    let mut p = plan(&server.url("/"), 4, 1, Stop::After(Duration::from_secs(1)));
    p.pacing = Pacing::Open(Rate::per_second(500.0).unwrap());
    let r = run(&p);
    assert_eq!(r.errors.total(), r.errors.unfinished, "{:?}", r.errors);
    assert_eq!(r.backlog, 0);
    let actual = r.latency_uncorrected.as_ref().unwrap();
    for q in [0.5, 0.75] {
        let late = r.latency.value_at_quantile(q) as i64 - actual.value_at_quantile(q) as i64;
        assert!(
            late <= 250,
            "at the {q} quantile the schedule's latency is {late} µs past the actual send's"
        );
    }
}

/// A server that answers after 2 ms, except that everything arriving during
/// one half-second window waits until the window ends.
fn stalling_once() -> Server {
    let t0 = Instant::now();
    Server::start(move |_| {
        let since = t0.elapsed();
        let (from, to) = (Duration::from_millis(1000), Duration::from_millis(1500));
        if since >= from && since < to {
            Reply::After(to - since, ok(HELLO))
        } else {
            Reply::After(Duration::from_millis(2), ok(HELLO))
        }
    })
}

#[test]
fn a_stall_shows_in_the_open_loop_tail_but_not_the_closed_loop_one() {
    let stop = Stop::After(Duration::from_millis(2500));

    let server = stalling_once();
    let mut p = plan(&server.url("/"), 4, 1, stop);
    p.pacing = Pacing::Open(Rate::per_second(200.0).unwrap());
    let open = run(&p);

    let server = stalling_once();
    let closed = run(&plan(&server.url("/"), 4, 1, stop));

    // The open loop counts from the schedule: the requests due in the
    // stall wait up to 500 ms, over 1% of them at least 250 ms. The closed
    // loop sends none while its 4 are held: 4 of thousands wait, and its
    // p99 stays under what the open loop's must reach.
    let p99 = |r: &LoadReport| r.latency.value_at_quantile(0.99) / 1000;
    assert!(p99(&open) >= 250, "open-loop p99 {} ms", p99(&open));
    assert!(p99(&closed) < 250, "closed-loop p99 {} ms", p99(&closed));
    // The uncorrected open-loop figure hides the stall the way a closed loop does.
    let unc = open
        .latency_uncorrected
        .as_ref()
        .unwrap()
        .value_at_quantile(0.99)
        / 1000;
    assert!(unc < p99(&open), "uncorrected p99 {unc} ms");
}

#[test]
fn memory_stays_bounded_the_timeline_has_one_entry_a_second() {
    let server = Server::start(|_| Reply::Send(ok(HELLO)));
    let r = run(&plan(
        &server.url("/"),
        2,
        1,
        Stop::After(Duration::from_millis(2100)),
    ));
    assert_eq!(r.timeline.len(), 3);
    let sum: u64 = r.timeline.iter().map(|s| s.requests).sum();
    assert_eq!(sum, r.requests);
    assert!(
        r.cpu.total() > Duration::ZERO,
        "the generator measures its own CPU"
    );
}

/// A list of three requests of very different lengths on one plan: a GET,
/// a POST with a small body, and a POST whose 64 KiB body makes pipelined
/// writes stop part-way through a request.
fn three_requests(url: &str) -> LoadPlan {
    let mut p = plan(url, 2, 1, Stop::Requests(999));
    let target = p.target.clone();
    let body = |n: usize| vec![b'x'; n];
    p.targets = [
        ("GET", "/a", 0),
        ("POST", "/b", 3),
        ("POST", "/c", 64 << 10),
    ]
    .into_iter()
    .map(|(method, path, n)| TargetRequest {
        url: format!("http://{}{path}", target.host_header),
        path: path.to_string(),
        request: RequestSpec {
            method: method.to_string(),
            headers: Vec::new(),
            body: body(n),
        },
    })
    .collect();
    p
}

#[test]
fn a_pipelined_list_of_requests_of_any_length_is_sent_whole_and_counted_per_entry() {
    let server = Server::start(|_| Reply::Send(ok(HELLO)));
    let mut p = three_requests(&server.url("/"));
    p.pipeline = 16;
    let r = run(&p);
    assert_eq!(r.errors.total(), 0, "{:?}", r.errors);
    assert_eq!(server.requests(), 999, "every request arrived whole");
    let per: Vec<u64> = r.targets.iter().map(|t| t.succeeded()).collect();
    assert_eq!(per, [333, 333, 333], "round-robin shares a count evenly");
    assert!(r
        .targets
        .iter()
        .all(|t| t.failed == 0 && t.latency.len() == 333));
    // The entries' histograms (2 significant digits) hold the same latencies
    // as the whole load's (3 digits): the slowest agree within 1%.
    let slowest = r.targets.iter().map(|t| t.latency.max()).max().unwrap() as f64;
    let all = r.latency.max() as f64;
    assert!(
        (slowest / all - 1.0).abs() < 0.01,
        "{slowest} against {all}"
    );
    let s = Summary::of(&p, &r);
    assert_eq!(
        s.targets[2].url,
        format!("http://127.0.0.1:{}/c", server.port)
    );
    assert_eq!(s.targets[2].responses.success, 333);
}

#[test]
fn a_random_order_repeats_with_its_seed() {
    let server = Server::start(|_| Reply::Send(ok(HELLO)));
    let counts = |seed: u64| {
        let mut p = three_requests(&server.url("/"));
        p.connections = 1;
        p.order = TargetOrder::Random { seed };
        run(&p)
            .targets
            .iter()
            .map(|t| t.succeeded())
            .collect::<Vec<_>>()
    };
    let first = counts(7);
    assert_eq!(first.iter().sum::<u64>(), 999);
    assert!(first.iter().all(|n| *n > 250), "uniform enough: {first:?}");
    assert_eq!(counts(7), first, "the same seed sends the same sequence");
}

#[test]
fn a_list_that_mixes_head_with_other_methods_is_refused() {
    let mut p = three_requests("http://127.0.0.1:9/");
    p.targets[0].request.method = "HEAD".into();
    assert_eq!(p.validate(), Err(PlanError::MixedHead));
    p.targets[1]
        .request
        .headers
        .push(("Bad Name".into(), "1".into()));
    p.targets[0].request.method = "GET".into();
    let err = p.validate().unwrap_err();
    assert!(
        err.to_string()
            .starts_with("request 2 of the list (http://127.0.0.1:9/b): the header name"),
        "{err}"
    );
}

fn windows(p: &LoadPlan) -> Vec<LoadReport> {
    framewut_load::run_windows(p, &std::sync::atomic::AtomicBool::new(false)).unwrap()
}

#[test]
fn windows_report_apart_and_every_answer_counts_in_exactly_one() {
    let server = Server::start(|_| Reply::After(Duration::from_millis(30), ok(HELLO)));
    let mut p = plan(
        &server.url("/"),
        4,
        1,
        Stop::After(Duration::from_millis(200)),
    );
    p.windows = 3;
    p.drain = Some(Duration::from_secs(10));
    let reports = windows(&p);
    assert_eq!(reports.len(), 3);
    for r in &reports {
        assert_eq!(r.elapsed, Duration::from_millis(200));
        assert!(r.responses > 0, "{:?}", r.errors);
    }
    for pair in reports.windows(2) {
        let step = pair[1].started.duration_since(pair[0].started).unwrap();
        assert_eq!(step, Duration::from_millis(200), "back to back");
    }
    // No warm-up: every request the server saw was answered in one window
    // or in the drain, and a request in flight across a boundary was
    // counted unanswered in the first and answered in the second.
    let drain = reports[2].drain.expect("the last window carries the drain");
    assert_eq!((drain.left, drain.lost), (0, 0), "{drain:?}");
    let answered: u64 = reports.iter().map(|r| r.responses).sum::<u64>() + drain.answered;
    assert_eq!(answered, server.requests());
    assert!(reports[..2].iter().all(|r| r.drain.is_none()));
    // The same connections throughout: opened once, in the first window.
    let opened: Vec<u64> = reports.iter().map(|r| r.connections_opened).collect();
    assert_eq!(opened, [4, 0, 0]);
}

#[test]
fn a_drained_load_leaves_a_queueing_server_no_work_and_an_undrained_one_does() {
    // Two workers, 8 connections, 20 ms a request: at the end of the window
    // 2 requests are being served and 6 wait in the queue, as behind
    // gunicorn's sync workers.
    let leftover = |drain: Option<Duration>| {
        let server = Server::pool(2, |_| Reply::After(Duration::from_millis(20), ok(HELLO)));
        let mut p = plan(
            &server.url("/"),
            8,
            1,
            Stop::After(Duration::from_millis(300)),
        );
        p.drain = drain;
        let r = run(&p);
        let at_return = server.requests();
        // The pool serves what the load left queued on its 8 connections,
        // then sees each closed.
        server.wait_until_connections_end(8, Duration::from_secs(30));
        (r, server.requests() - at_return)
    };
    let (drained, after) = leftover(Some(Duration::from_secs(10)));
    let d = drained.drain.unwrap();
    assert_eq!((d.answered, d.lost, d.left), (8, 0, 0), "{d:?}");
    assert!(d.elapsed >= Duration::from_millis(60), "{d:?}");
    assert_eq!(after, 0, "a drained server has nothing left to do");
    let (abandoned, after) = leftover(None);
    assert!(abandoned.drain.is_none());
    assert!(after >= 4, "the pool served {after} abandoned requests");
}

#[test]
fn a_drain_ends_at_its_limit_with_the_requests_left() {
    let server = Server::start(|_| Reply::Ignore);
    let mut p = plan(
        &server.url("/"),
        3,
        1,
        Stop::After(Duration::from_millis(100)),
    );
    p.drain = Some(Duration::from_millis(300));
    let d = run(&p).drain.unwrap();
    assert_eq!((d.answered, d.left), (0, 3), "{d:?}");
    assert!(d.elapsed >= Duration::from_millis(300), "{d:?}");
}

#[test]
fn windows_are_lengths_of_time_and_are_run_apart() {
    let mut p = plan("http://127.0.0.1:9/", 1, 1, Stop::Requests(10));
    p.windows = 2;
    assert_eq!(p.validate(), Err(PlanError::WindowsOfACount { windows: 2 }));
    p.windows = 0;
    assert_eq!(p.validate(), Err(PlanError::NoWindows));
    p.stop = Stop::After(Duration::from_millis(10));
    p.windows = 2;
    let err = framewut_load::run(&p).unwrap_err();
    assert!(err.to_string().contains("run_windows"), "{err}");
}
