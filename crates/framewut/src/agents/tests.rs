use std::time::{Duration, UNIX_EPOCH};

use framewut_load::{CpuTime, LoadPlan, LoadReport, Segment, SegmentSummary, Stop, Target};

use super::*;

const T0: f64 = 1_795_953_600.0;

/// Agent `index` of `count` of a 7-connection, 2-second closed-loop load
/// on one thread, its window starting at `T0 + offset_s`, with these
/// latencies (µs), one request per latency, spread over two seconds.
fn agent(index: u32, count: u32, offset_s: f64, latencies: &[u64]) -> AgentResult {
    let mut whole = LoadPlan::new(Target::parse("http://127.0.0.1:1/hello").unwrap());
    whole.connections = 7;
    whole.threads = 1;
    whole.stop = Stop::After(Duration::from_secs(2));
    let segment = Segment::new(index, count).unwrap();
    let plan = segment.share_plan(&whole).unwrap();
    let mut latency = new_histogram();
    for v in latencies {
        latency.record(*v).unwrap();
    }
    let n = latencies.len() as u64;
    let report = LoadReport {
        elapsed: Duration::from_secs(2),
        requests: n,
        responses: n + 1,
        bytes: 100 * n,
        bytes_sent: 40 * n,
        errors: Errors {
            timeout: 1,
            status: [(503, 1)].into(),
            ..Errors::default()
        },
        reconnects: 0,
        connections_opened: plan.connections as u64,
        backlog: 0,
        latency,
        latency_uncorrected: None,
        unanswered: new_histogram(),
        silent_connections: 0,
        timeline: vec![
            Second {
                requests: n / 2,
                errors: 1,
                bytes: 0,
            },
            Second {
                requests: n - n / 2,
                errors: 1,
                bytes: 0,
            },
        ],
        tenths: vec![n / 2, 0, n - n / 2],
        burst: 1.0,
        thread_seconds: vec![vec![n / 2, n - n / 2]],
        cpu: CpuTime {
            user: Duration::from_millis(100),
            system: Duration::from_millis(50),
            ..CpuTime::default()
        },
        cancelled: false,
        started: UNIX_EPOCH + Duration::from_secs_f64(T0 + offset_s),
        tls: None,
        targets: Vec::new(),
        drain: None,
        http2: None,
    };
    let mut summary = Summary::of(&plan, &report);
    summary.segment = Some(SegmentSummary {
        index,
        count,
        whole_connections: 7,
        whole_rate: None,
        whole_stop_requests: None,
    });
    AgentResult {
        source: format!("agent-{index}.json"),
        summary,
    }
}

fn three() -> Vec<AgentResult> {
    vec![
        agent(0, 3, 0.0, &[100, 200, 300, 400]),
        agent(1, 3, 0.0, &[1_000, 2_000]),
        agent(2, 3, 0.0, &[50_000, 60_000]),
    ]
}

fn refusal(agents: &[AgentResult]) -> Vec<String> {
    merge(agents, false)
        .unwrap_err()
        .downcast::<Refusal>()
        .unwrap()
        .problems
}

#[test]
fn adds_histograms_counts_and_errors_exactly() {
    let merged = merge(&three(), false).unwrap();
    let mut all = new_histogram();
    for v in [100, 200, 300, 400, 1_000, 2_000, 50_000, 60_000] {
        all.record(v).unwrap();
    }
    assert_eq!(merged.latency, LatencySummary::of(&all));
    assert_eq!(merged.requests, 8);
    assert_eq!(merged.responses, 11);
    assert_eq!(merged.errors.timeout, 3);
    assert_eq!(merged.errors.status, [(503, 3)].into());
    assert_eq!(merged.plan.connections, 7);
    assert_eq!(merged.plan.threads, 3);
    assert_eq!(merged.elapsed_s, 2.0);
    assert_eq!(merged.requests_per_s, 4.0);
    let cpu = &merged.generator_cpu;
    assert!((cpu.user_s - 0.3).abs() < 1e-9 && (cpu.system_s - 0.15).abs() < 1e-9);
    assert!((cpu.cores_busy - 0.225).abs() < 1e-9, "{cpu:?}");
    let timeline: Vec<u64> = merged.timeline.iter().map(|s| s.requests).collect();
    assert_eq!(timeline, [4, 4]);
    let agents = merged.agents.unwrap();
    assert_eq!(agents.count, 3);
    assert!(agents.forced.is_empty() && agents.not_overlapping.is_empty());
    assert_eq!(agents.list[1].requests, 2);
    assert_eq!(merged.segment, None);
}

#[test]
fn adds_the_agents_tls_handshakes_and_their_histograms_exactly() {
    let mut agents = vec![agent(0, 2, 0.0, &[100]), agent(1, 2, 0.0, &[100])];
    let mut all = new_histogram();
    for (a, handshakes) in agents.iter_mut().zip([[900, 1_100], [2_000, 40_000]]) {
        let mut h = new_histogram();
        for v in handshakes {
            h.record(v).unwrap();
            all.record(v).unwrap();
        }
        a.summary.tls = Some(TlsSummary {
            handshakes: 2,
            resumptions: 1,
            handshake_latency: LatencySummary::of(&h),
            protocol: Some("TLSv1.3".into()),
            cipher_suite: Some("TLS13_AES_256_GCM_SHA384".into()),
        });
    }
    let tls = merge(&agents, false).unwrap().tls.unwrap();
    assert_eq!((tls.handshakes, tls.resumptions), (4, 2));
    assert_eq!(tls.handshake_latency, LatencySummary::of(&all));
    assert_eq!(tls.protocol.as_deref(), Some("TLSv1.3"));
    assert!(merge(&agents[..1], true).unwrap().tls.is_some());
}

#[test]
fn adds_request_list_entries_and_checks_the_agents_thresholds_on_the_whole() {
    let mut agents = vec![agent(0, 2, 0.0, &[100, 200]), agent(1, 2, 0.0, &[5_000])];
    let mut all = new_histogram();
    for a in &mut agents {
        let own = decode_histogram(&a.summary.latency.histogram).unwrap();
        all.add(&own).unwrap();
        a.summary.targets = vec![TargetSummary {
            method: "GET".into(),
            url: "http://127.0.0.1:1/hello".into(),
            requests: own.len(),
            responses: StatusClasses {
                success: own.len(),
                ..StatusClasses::default()
            },
            failed: 0,
            errors: 0,
            latency: LatencySummary::of(&own),
        }];
        // Agent 0's share alone holds p99 < 1ms; the whole does not.
        let threshold: framewut_load::Threshold = "p99<1ms".parse().unwrap();
        a.summary.thresholds = vec![threshold.check(&a.summary)];
    }
    assert!(agents[0].summary.thresholds[0].held);
    let merged = merge(&agents, false).unwrap();
    assert_eq!(merged.targets.len(), 1);
    assert_eq!(merged.targets[0].requests, 3);
    assert_eq!(merged.targets[0].responses.success, 3);
    assert_eq!(merged.targets[0].latency, LatencySummary::of(&all));
    assert_eq!(merged.thresholds.len(), 1);
    assert!(!merged.thresholds[0].held, "{:?}", merged.thresholds);

    agents[1].summary.targets[0].url = "http://127.0.0.1:1/other".into();
    let refusal = merge(&agents, false).unwrap_err().to_string();
    assert!(refusal.contains("different request lists"), "{refusal}");
    assert!(merge(&agents, true).unwrap().targets.is_empty());
}

#[test]
fn reports_the_start_spread_and_lines_timelines_up_by_wall_clock_second() {
    let agents = vec![agent(0, 2, 0.0, &[100, 200]), agent(1, 2, 0.3, &[100, 200])];
    let merged = merge(&agents, false).unwrap();
    let block = merged.agents.as_ref().unwrap();
    assert!((block.start_spread_s - 0.3).abs() < 1e-6, "{block:?}");
    assert!(block.not_overlapping.is_empty());
    // The union of [0, 2] and [0.3, 2.3].
    assert!((merged.elapsed_s - 2.3).abs() < 1e-6);
    assert_eq!(merged.timeline.len(), 2);
    assert!(render_agents(&merged).contains("starts spread over 300.0ms"));

    // 1.3 s late: its seconds go one later, and the timeline is 3 long.
    let late = vec![agent(0, 2, 0.0, &[100, 200]), agent(1, 2, 1.3, &[100, 200])];
    let merged = merge(&late, false).unwrap();
    let timeline: Vec<u64> = merged.timeline.iter().map(|s| s.requests).collect();
    assert_eq!(timeline, [1, 2, 1]);
    // Its tenths go 13 later.
    let mut tenths = vec![1, 0, 1];
    tenths.resize(13, 0);
    tenths.extend([1, 0, 1]);
    assert_eq!(merged.tenths, tenths);
}

#[test]
fn names_an_agent_whose_window_misses_the_others() {
    let agents = vec![
        agent(0, 3, 0.0, &[100]),
        agent(1, 3, 0.5, &[100]),
        agent(2, 3, 20.0, &[100]),
    ];
    let merged = merge(&agents, false).unwrap();
    assert_eq!(merged.agents.as_ref().unwrap().not_overlapping, [2]);
    // The rate is over the union: 2.5 s and 2 s apart, not 22 s.
    assert!(
        (merged.elapsed_s - 4.5).abs() < 1e-6,
        "{}",
        merged.elapsed_s
    );
    assert!(render_agents(&merged)
        .contains("agent-2.json's window does not overlap most other agents' windows"));
}

#[test]
fn refuses_agents_of_different_loads_saying_why_unless_forced() {
    let mut other = three();
    other[2].summary.plan.url = "http://127.0.0.1:2/hello".into();
    let problems = refusal(&other);
    assert_eq!(
        problems,
        [
            "different targets: http://127.0.0.1:1/hello in agent-0.json, agent-1.json; \
          http://127.0.0.1:2/hello in agent-2.json"
        ]
    );
    let forced = merge(&other, true).unwrap();
    assert_eq!(forced.agents.unwrap().forced, problems);

    let mut open = three();
    open[0].summary.plan.pacing = "open".into();
    assert!(refusal(&open)[0].starts_with("different pacings: closed loop in"));

    let mut longer = three();
    longer[1].summary.plan.duration_s = Some(5.0);
    assert!(refusal(&longer)[0].starts_with("different stops: a duration of 2s in"));

    let twice = vec![three()[0].clone(), three()[0].clone(), three()[2].clone()];
    assert_eq!(
        refusal(&twice),
        [
            "segment 0 appears 2 times (agent-0.json, agent-0.json): give each agent's \
             result once",
            "segments missing: 1/3 (of 3 agents); give every agent's result"
        ]
    );

    let mut counts = three();
    counts.push(agent(3, 4, 0.0, &[100]));
    let problems = refusal(&counts);
    assert!(
        problems[0].starts_with("different agent counts: 3 agents in"),
        "{problems:?}"
    );

    let mut plain = three();
    plain[1].summary.segment = None;
    assert!(refusal(&plain).contains(
        &"agent-1.json is not an agent's result (it has no segment): run each agent with \
          --segment I/N"
            .to_string()
    ));

    let mut share = three();
    share[2].summary.plan.connections = 3;
    assert!(refusal(&share).contains(
        &"agent-2.json: segment 2/3 of 7 connections should have 2, it ran 3".to_string()
    ));
    let text = merge(&share, false).unwrap_err().to_string();
    assert!(text.contains("or give --force"), "{text}");
}

#[test]
fn a_merge_with_no_agents_or_a_broken_histogram_is_an_error_even_forced() {
    assert!(merge(&[], true)
        .unwrap_err()
        .to_string()
        .contains("no agents"));
    let mut broken = three();
    broken[1].summary.latency.histogram = "TWFu".into();
    let err = format!("{:#}", merge(&broken, true).unwrap_err());
    assert!(err.starts_with("agent-1.json: latency.histogram"), "{err}");
}

#[test]
fn reads_one_document_several_concatenated_or_one_per_line() {
    let a = serde_json::to_string_pretty(&three()[0].summary).unwrap();
    let b = serde_json::to_string(&three()[1].summary).unwrap();
    let one = parse_documents(&a, "a.json").unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].source, "a.json");
    let several = parse_documents(&format!("{a}{a}\n{b}\n{b}\n"), "-").unwrap();
    assert_eq!(several.len(), 4);
    assert_eq!(several[3].source, "- #4");
    let err = parse_documents(&format!("{b}\n{{\"x\":1}}"), "pod-1").unwrap_err();
    assert!(
        err.to_string().starts_with("pod-1: document 2 is not"),
        "{err}"
    );
    let err = parse_documents(" \n", "empty.json").unwrap_err();
    assert!(
        err.to_string().contains("no `framewut load --json` result"),
        "{err}"
    );
}

#[test]
fn union_length_counts_overlaps_once() {
    assert_eq!(union_length(&[(0.0, 2.0), (1.0, 3.0), (5.0, 6.0)]), 4.0);
    assert_eq!(union_length(&[(0.0, 10.0), (1.0, 2.0)]), 10.0);
}
