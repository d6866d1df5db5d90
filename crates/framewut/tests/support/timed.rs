//! A stack's own timing of its handler (`x-framewut-time-calls`), which
//! the built-in Rust stacks and framewut's Python apps both answer.

use std::time::Duration;

use framewut_stacks::app::{Timing, TIME_CALLS_HEADER};
use framewut_stacks::contract;
use framewut_stacks::Scenario;

/// A timed request makes the calls it asks for and answers what they
/// cost the stack's process, and, where the stack hands the scenario's
/// work to a blocking pool (`offloaded`), what the work took there, which
/// is part of the process's; a count out of range is refused with a 400.
pub fn check_timed(port: u16, scenario: Scenario, offloaded: bool) -> Result<(), String> {
    let timeout = Duration::from_secs(10);
    let path = scenario.path();
    let plain = contract::fetch(port, path, timeout).map_err(|e| e.to_string())?;
    let timed = contract::fetch_with(port, path, &[(TIME_CALLS_HEADER, "3")], timeout, None)
        .map_err(|e| e.to_string())?;
    let timing: Timing = serde_json::from_slice(&timed.body).map_err(|e| {
        format!(
            "{path} timed: {e}: {:?}",
            String::from_utf8_lossy(&timed.body)
        )
    })?;
    // A db row's body varies in its digits; its length only by a few.
    let close = timing.bytes.abs_diff(plain.body.len() as u64) <= 8;
    if timed.status != 200
        || timing.calls != 3
        || timing.status != 200
        || !close
        || timing.cpu_ns == 0
        || timing.pid == 0
        || timing.offloaded_ns.is_some() != offloaded
        || timing
            .offloaded_ns
            .is_some_and(|work| work == 0 || work > timing.cpu_ns)
    {
        return Err(format!(
            "{path} timed answered {} {timing:?}; the plain body is {} bytes",
            timed.status,
            plain.body.len()
        ));
    }
    let refused = contract::fetch_with(port, path, &[(TIME_CALLS_HEADER, "0")], timeout, None)
        .map_err(|e| e.to_string())?;
    if refused.status != 400 {
        return Err(format!("{path} with 0 calls answered {}", refused.status));
    }
    Ok(())
}
