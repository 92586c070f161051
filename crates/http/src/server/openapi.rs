//! The API's OpenAPI 3.1 document: `docs/openapi.yaml`, embedded at build
//! time, converted to JSON once and served at `GET /api/v1/openapi.json`.
//!
//! The YAML is the one source; the unit tests below keep it and the route
//! table ([`super::routes::ROUTES`]) and the error codes in step, and
//! `tests/openapi.rs` checks real answers against its schemas.

use std::sync::OnceLock;

use peer_node::NodeError;

/// The document as written.
pub(crate) const YAML: &str = include_str!("../../../../docs/openapi.yaml");

/// The document as JSON bytes, converted on first use.
pub(crate) fn json() -> Result<&'static [u8], NodeError> {
    static JSON: OnceLock<Result<Vec<u8>, String>> = OnceLock::new();
    JSON.get_or_init(|| {
        let value: serde_json::Value =
            serde_norway::from_str(YAML).map_err(|e| format!("docs/openapi.yaml: {e}"))?;
        serde_json::to_vec(&value).map_err(|e| format!("docs/openapi.yaml as JSON: {e}"))
    })
    .as_deref()
    .map_err(|e| {
        // Cannot happen with the checked-in document (the tests parse it);
        // stay total anyway.
        tracing::error!(error = %e, "the embedded OpenAPI document does not parse");
        NodeError::internal("the OpenAPI document is not available")
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use peer_proto::ErrorCode;
    use serde_json::Value;

    use super::super::routes::ROUTES;
    use super::*;

    fn doc() -> Value {
        serde_json::from_slice(json().unwrap()).unwrap()
    }

    /// The route pattern as an OpenAPI path: a rest parameter `{*name}`
    /// is written `{name}` there.
    fn openapi_path(pattern: &str) -> String {
        pattern.replace("{*", "{")
    }

    const METHODS: [&str; 8] = [
        "get", "put", "post", "delete", "options", "head", "patch", "trace",
    ];

    #[test]
    fn every_route_is_documented_and_every_documented_operation_is_a_route() {
        let doc = doc();
        assert_eq!(doc["openapi"], "3.1.0");
        let mut documented = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (key, _) in item.as_object().unwrap() {
                if METHODS.contains(&key.as_str()) {
                    documented.insert((key.to_uppercase(), path.clone()));
                }
            }
        }
        let routed: BTreeSet<(String, String)> = ROUTES
            .iter()
            .map(|r| (r.method.as_str().to_owned(), openapi_path(r.pattern)))
            .collect();
        let undocumented: Vec<_> = routed.difference(&documented).collect();
        let unrouted: Vec<_> = documented.difference(&routed).collect();
        assert!(
            undocumented.is_empty(),
            "routes missing from docs/openapi.yaml: {undocumented:?}"
        );
        assert!(
            unrouted.is_empty(),
            "operations in docs/openapi.yaml that no route serves: {unrouted:?}"
        );
    }

    #[test]
    fn every_operation_declares_its_security_and_path_parameters() {
        let doc = doc();
        for r in ROUTES {
            let item = &doc["paths"][openapi_path(r.pattern).as_str()];
            let op = &item[r.method.as_str().to_lowercase()];
            let security = op["security"].as_array().unwrap_or_else(|| {
                panic!("{} {}: no `security`", r.method, r.pattern);
            });
            let bearer = security.iter().any(|s| s.get("BearerToken").is_some());
            let session = security.iter().any(|s| s.get("PeerSession").is_some());
            match r.auth {
                super::super::routes::Auth::Public => {
                    assert!(security.is_empty(), "{} {}", r.method, r.pattern);
                }
                super::super::routes::Auth::Peer => {
                    assert!(session && !bearer, "{} {}", r.method, r.pattern);
                }
                super::super::routes::Auth::User => {
                    // Session-only user routes (tokens, session end) refuse
                    // bearer tokens with 403.
                    let session_only = matches!(r.pattern, "/api/v1/tokens" | "/api/v1/session");
                    assert!(session, "{} {}", r.method, r.pattern);
                    assert_eq!(bearer, !session_only, "{} {}", r.method, r.pattern);
                }
            }
            // Every `{name}` of the pattern is a path parameter.
            let mut params: Vec<Value> = Vec::new();
            for list in [&item["parameters"], &op["parameters"]] {
                if let Some(list) = list.as_array() {
                    params.extend(list.iter().map(|p| resolve(&doc, p).clone()));
                }
            }
            for seg in openapi_path(r.pattern).split('/') {
                if let Some(name) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    assert!(
                        params.iter().any(|p| p["in"] == "path"
                            && p["name"] == name
                            && p["required"] == true),
                        "{} {}: path parameter {name} undocumented",
                        r.method,
                        r.pattern
                    );
                }
            }
        }
    }

    fn resolve<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
        match v.get("$ref").and_then(Value::as_str) {
            Some(r) => doc
                .pointer(r.trim_start_matches('#'))
                .unwrap_or_else(|| panic!("dangling {r}")),
            None => v,
        }
    }

    #[test]
    fn every_error_code_is_documented_with_its_status() {
        let doc = doc();
        let schemas = &doc["components"]["schemas"];
        let all: BTreeSet<&str> = schemas["ErrorCode"]["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let codes: BTreeSet<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(all, codes, "ErrorCode enum of docs/openapi.yaml");
        for code in ErrorCode::ALL {
            let status = code.status();
            let per_status = &schemas[format!("Error{status}")]["allOf"][1]["properties"]["error"]
                ["properties"]["code"]["enum"];
            let listed = per_status
                .as_array()
                .unwrap_or_else(|| panic!("no Error{status} schema for {code}"));
            assert!(
                listed.iter().any(|v| v == code.as_str()),
                "{code} missing from Error{status}"
            );
        }
        // And nothing is listed under a status it does not have.
        for (name, schema) in schemas.as_object().unwrap() {
            let Some(status) = name
                .strip_prefix("Error")
                .and_then(|s| s.parse::<u16>().ok())
            else {
                continue;
            };
            for v in schema["allOf"][1]["properties"]["error"]["properties"]["code"]["enum"]
                .as_array()
                .unwrap()
            {
                let code: ErrorCode = v.as_str().unwrap().parse().unwrap();
                assert_eq!(code.status(), status, "{code} under {name}");
            }
        }
    }

    #[test]
    fn every_reference_resolves_and_no_value_is_null() {
        let doc = doc();
        // A null is a YAML slip (an unquoted `, ` in a flow mapping makes a
        // key without a value): the document never means null.
        fn walk(doc: &Value, v: &Value, at: &str) {
            match v {
                Value::Null => panic!("docs/openapi.yaml: null at {at}"),
                Value::Object(m) => {
                    if let Some(Value::String(r)) = m.get("$ref") {
                        assert!(
                            doc.pointer(r.trim_start_matches('#')).is_some(),
                            "dangling {r} at {at}"
                        );
                    }
                    for (k, v) in m {
                        walk(doc, v, &format!("{at}/{k}"));
                    }
                }
                Value::Array(a) => {
                    for (i, v) in a.iter().enumerate() {
                        walk(doc, v, &format!("{at}/{i}"));
                    }
                }
                _ => {}
            }
        }
        walk(&doc, &doc, "");
    }
}
