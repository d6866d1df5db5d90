//! `[scenario.NAME]` tables that are not a built-in scenario's options: the
//! matrix's own scenarios, a request or a request list with the answer
//! each must get, checked into [`CustomScenario`]s.

use framewut_load::RequestSpec;
use framewut_stacks::Scenario;

use super::error::{MatrixError, Text};
use super::raw::RawCustom;
use crate::spec::{CustomRequest, CustomScenario, Expect, ScenarioSpec};

/// Checks the custom scenario `name`; `builtin` gives a built-in scenario's
/// spec, with the matrix's options, for what it `uses`.
pub(super) fn check_custom(
    src: &Text,
    name: &str,
    raw: RawCustom,
    builtin: &dyn Fn(Scenario) -> ScenarioSpec,
) -> Result<ScenarioSpec, MatrixError> {
    let fail = |what: String| src.error(None, format!("[scenario.{name}]: {what}"));
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_".contains(c))
    {
        return Err(fail(
            "a scenario's name goes into cell ids: use letters, digits, - and _".into(),
        ));
    }
    let (requests, targets) = match (&raw.path, &raw.targets) {
        (Some(_), Some(_)) => {
            return Err(fail(
                "path and targets both given: a scenario is one request (path) or a request list (targets)".into(),
            ))
        }
        (None, None) => {
            return Err(fail(
                "no path or targets: give the request's path (path = \"/items\") or a request list (targets = \"list.txt\"); the built-in scenarios' options are [scenario.sleep], [scenario.upstream], [scenario.cpu] and [scenario.db]".into(),
            ))
        }
        (Some(path), None) => (vec![one_request(src, name, path, &raw)?], None),
        (None, Some(list)) => {
            if raw.method.is_some() || !raw.headers.is_empty() || raw.body.is_some() || raw.body_file.is_some() {
                return Err(fail(
                    "method, headers and body belong to a single request: a request list says them per request".into(),
                ));
            }
            let requests = crate::targets::read_paths(&src.path(list))
                .map_err(|e| fail(format!("{e:#}")))?;
            let requests = requests
                .into_iter()
                .map(|t| {
                    Ok(CustomRequest {
                        method: t.request.method,
                        path: t.path,
                        headers: t.request.headers,
                        body: String::from_utf8(t.request.body).map_err(|_| {
                            fail(format!("{}: a body that is not UTF-8 text", t.url))
                        })?,
                    })
                })
                .collect::<Result<Vec<_>, MatrixError>>()?;
            (requests, Some(list.clone()))
        }
    };
    let expect = Expect {
        status: raw.expect.status.unwrap_or(200),
        content_type: raw.expect.content_type,
        contains: raw.expect.contains,
    };
    if !(100..=599).contains(&expect.status) {
        return Err(fail(format!(
            "expect.status = {}: an HTTP status is 100 to 599",
            expect.status
        )));
    }
    let mut uses = Vec::new();
    for service in raw.uses.unwrap_or_default() {
        match service.parse::<Scenario>() {
            Ok(s @ (Scenario::Upstream | Scenario::Db)) => uses.push(builtin(s)),
            _ => {
                return Err(fail(format!(
                    "uses = [{service:?}]: a scenario uses \"upstream\" (framewut starts the upstream stand-in and passes FRAMEWUT_UPSTREAM_URL) or \"db\" (the World database, FRAMEWUT_DB)"
                )))
            }
        }
    }
    Ok(ScenarioSpec::Custom(CustomScenario {
        label: name.to_string(),
        requests,
        targets,
        expect,
        uses,
    }))
}

/// The one request of a scenario with a `path`.
fn one_request(
    src: &Text,
    name: &str,
    path: &str,
    raw: &RawCustom,
) -> Result<CustomRequest, MatrixError> {
    let fail = |what: String| src.error(None, format!("[scenario.{name}]: {what}"));
    if !path.starts_with('/') || path.contains(char::is_whitespace) {
        return Err(fail(format!(
            "path = {path:?}: a path starts with / and has no spaces, e.g. \"/items?page=2\""
        )));
    }
    let body = match (&raw.body, &raw.body_file) {
        (Some(_), Some(_)) => return Err(fail("body and body_file both given: give one".into())),
        (Some(body), None) => body.clone(),
        (None, Some(file)) => {
            let at = src.path(file);
            std::fs::read_to_string(&at).map_err(|e| {
                fail(format!(
                    "cannot read body_file {} ({e}); it is relative to the matrix file, and must be UTF-8 text",
                    at.display()
                ))
            })?
        }
        (None, None) => String::new(),
    };
    let request = CustomRequest {
        method: raw.method.clone().unwrap_or_else(|| "GET".to_string()),
        path: path.to_string(),
        headers: raw
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        body,
    };
    RequestSpec {
        method: request.method.clone(),
        headers: request.headers.clone(),
        body: request.body.clone().into_bytes(),
    }
    .validate()
    .map_err(|e| fail(e.to_string()))?;
    Ok(request)
}
