//! What a cell's load sends and what its stack must answer before any
//! load: a built-in scenario's path and contract, or a custom scenario's
//! requests and the answer it expects.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use framewut_load::{LoadPlan, TargetOrder, TargetRequest};
use framewut_stacks::contract::{self, Ask};
use rustls::ClientConfig;

use crate::spec::{CellSpec, CustomScenario, ScenarioSpec};

/// How long verification waits for one answer.
const VERIFY_TIMEOUT: Duration = Duration::from_secs(10);

/// The path a cell's load starts from: a built-in scenario's, or a custom
/// scenario's first request's.
pub(super) fn first_path(spec: &CellSpec) -> &str {
    match &spec.scenario {
        ScenarioSpec::Custom(custom) => &custom.requests[0].path,
        builtin => builtin.scenario().map_or("/", |s| s.path()),
    }
}

/// Points `plan` at a custom scenario's requests: its one request, or its
/// list taking turns round-robin. A built-in scenario's plan is left as is.
pub(super) fn aim(plan: &mut LoadPlan, custom: &CustomScenario) {
    let close = plan.request.headers.clone();
    if let [one] = custom.requests.as_slice() {
        plan.target.path = one.path.clone();
        plan.request = one.request_spec();
        plan.request.headers.extend(close);
        return;
    }
    // Each entry is named by its whole URL, as a request list's are.
    let origin = plan
        .target
        .url
        .strip_suffix(plan.target.path.as_str())
        .unwrap_or(&plan.target.url)
        .to_string();
    plan.targets = custom
        .requests
        .iter()
        .map(|r| {
            let mut request = r.request_spec();
            request.headers.extend(close.iter().cloned());
            TargetRequest {
                url: format!("{origin}{}", r.path),
                path: r.path.clone(),
                request,
            }
        })
        .collect();
    plan.order = TargetOrder::RoundRobin;
}

/// Checks the stack at `addr` (`host` its `Host` header) answers a cell's
/// requests correctly: the contract for a built-in scenario, the expected
/// answer to every request of a custom one. The error says what was wrong.
pub(super) fn verify(
    spec: &CellSpec,
    addr: SocketAddr,
    host: &str,
    tls: Option<&Arc<ClientConfig>>,
) -> Result<(), String> {
    let custom = match &spec.scenario {
        ScenarioSpec::Custom(custom) => custom,
        builtin => {
            let scenario = builtin.scenario().expect("a built-in scenario");
            let checked = match tls {
                None if addr.ip().is_loopback() && host.starts_with("127.0.0.1") => {
                    contract::check(addr.port(), scenario)
                }
                None => contract::check_at(addr, host, scenario),
                Some(config) => contract::check_https(addr.port(), scenario, config),
            };
            return checked.map_err(|e| {
                format!(
                    "{} does not follow the contract, so it was not measured: {e}",
                    spec.stack.label
                )
            });
        }
    };
    for request in &custom.requests {
        let headers: Vec<(&str, &str)> = request
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let ask = Ask {
            method: &request.method,
            path: &request.path,
            headers: &headers,
            body: request.body.as_bytes(),
        };
        let fail = |why: String| {
            format!(
                "{} answered {} wrongly, so {} was not measured: {why}",
                spec.stack.label,
                request.line(),
                custom.label
            )
        };
        let response = contract::send(addr, host, &ask, VERIFY_TIMEOUT, tls)
            .map_err(|e| fail(e.to_string()))?;
        custom
            .expect
            .check(
                response.status,
                response.header("content-type"),
                &response.body,
            )
            .map_err(fail)?;
    }
    Ok(())
}
