//! The finishing touches of the OpenAPI document that the handlers' annotations cannot give:
//! the default agent's Agent Protocol routes, the MCP endpoint, and for every operation the key
//! it needs and the errors every operation can answer with.

use serde_json::{Value, json};

use super::ap;

/// The document with everything below added, as JSON (utoipa's types do not read back every
/// schema they write, so the finished document stays JSON).
pub fn finish(doc: &utoipa::openapi::OpenApi) -> Value {
    let mut value = serde_json::to_value(doc).unwrap_or_default();
    with_default_agent_paths(&mut value);
    with_security_and_errors(&mut value);
    with_constraints(&mut value);
    value
}

/// What every id in a path is (`check_id`): letters, digits, `_`, `-`, `.` (not first), at
/// most 128 bytes.
pub const ID_PATTERN: &str = r"^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}$";

/// Constraints the annotations cannot state: every path parameter is an id of [`ID_PATTERN`],
/// and a memory entry names an agent or a scope.
fn with_constraints(value: &mut Value) {
    if let Some(paths) = value["paths"].as_object_mut() {
        for item in paths.values_mut() {
            let Some(operations) = item.as_object_mut() else {
                continue;
            };
            for operation in operations.values_mut() {
                let Some(params) = operation
                    .get_mut("parameters")
                    .and_then(Value::as_array_mut)
                else {
                    continue;
                };
                for param in params.iter_mut().filter(|p| p["in"] == "path") {
                    param["schema"] = json!({"type": "string", "pattern": ID_PATTERN});
                }
            }
        }
    }
    let named =
        |field: &str| json!({"required": [field], "properties": {field: {"type": "string"}}});
    value["components"]["schemas"]["NewMemory"]["anyOf"] = json!([named("agent"), named("scope")]);
}

/// Whether `path` is one of the Agent Protocol's, whose errors are `{"message": …}`.
pub fn is_agent_protocol(path: &str) -> bool {
    ap::DEFAULT_PREFIXES
        .iter()
        .any(|p| path.starts_with(&format!("{p}/")))
        || (path.starts_with("/agents/") && path.contains("/ap/v1/"))
}

/// The key a route needs: the admin key, the metrics key, a tenant's key, or none.
fn scheme_of(path: &str) -> Option<&'static str> {
    if path.starts_with("/admin/") {
        Some("admin")
    } else if path == "/metrics" {
        Some("metrics")
    } else if ["/healthz", "/readyz", "/openapi.json", "/docs"].contains(&path) {
        None
    } else {
        Some("bearer")
    }
}

/// Declares on each operation the key it needs (`security`), and adds the errors any operation
/// may answer with when it does not document them itself: 400 (a malformed path, query or
/// body) and 401 (no key or the wrong one) where a key is needed, 404 where the request names
/// something, and 503 when the server is shutting down or its store does not answer.
fn with_security_and_errors(value: &mut Value) {
    let error = |description: &str, agent_protocol: bool| {
        // The Agent Protocol's routes answer its own shape; the key check in front of every
        // route answers Pluto's.
        let schema = if agent_protocol {
            json!({"anyOf": [
                {"type": "object", "required": ["message"], "properties": {"message": {"type": "string"}}},
                {"$ref": "#/components/schemas/ErrorBody"}]})
        } else {
            json!({"$ref": "#/components/schemas/ErrorBody"})
        };
        json!({"description": description, "content": {"application/json": {"schema": schema}}})
    };
    let Some(paths) = value["paths"].as_object_mut() else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let scheme = scheme_of(path);
        let agent_protocol = is_agent_protocol(path);
        let Some(operations) = item.as_object_mut() else {
            continue;
        };
        for (method, operation) in operations.iter_mut() {
            if !["get", "put", "post", "delete", "patch"].contains(&method.as_str()) {
                continue;
            }
            operation["security"] = match scheme {
                Some(name) => json!([{ name: [] }]),
                None => json!([]),
            };
            let names_something = path.contains('{')
                || agent_protocol
                || operation
                    .get("parameters")
                    .and_then(Value::as_array)
                    .is_some_and(|ps| ps.iter().any(|p| p["name"] == "agent"));
            let responses = &mut operation["responses"];
            let mut add = |code: &str, description: &str| {
                if responses.get(code).is_none() {
                    responses[code] = error(description, agent_protocol);
                }
            };
            if scheme.is_some() {
                add(
                    "400",
                    "A malformed path, query or body (the message names the field)",
                );
                add("401", "No key, or not the key this route needs");
            }
            if names_something {
                add(
                    "404",
                    "Nothing of that name for the caller (another tenant's things included)",
                );
            }
            if path.starts_with("/v1/") || path.starts_with("/admin/") {
                add("503", "Shutting down, or the state store does not answer");
            }
        }
    }
}

/// Documents the default agent's Agent Protocol routes: each `/agents/{agent}/ap/v1/…` operation
/// again under `/ap/v1/…` and `/api/v1/…`, without the `agent` parameter.
fn with_default_agent_paths(value: &mut Value) {
    let paths = value["paths"].as_object().cloned().unwrap_or_default();
    for (path, item) in paths {
        let Some(rest) = path.strip_prefix("/agents/{agent}/ap/v1") else {
            continue;
        };
        let mut item = item.clone();
        if let Some(operations) = item.as_object_mut() {
            for operation in operations.values_mut() {
                if let Some(params) = operation["parameters"].as_array_mut() {
                    params.retain(|p| p["name"] != "agent");
                }
            }
        }
        for prefix in ap::DEFAULT_PREFIXES {
            value["paths"][format!("{prefix}{rest}")] = item.clone();
        }
    }
    // The MCP endpoint is rmcp's tower service, not a handler of ours: described here.
    value["paths"]["/mcp/{agent}"] = serde_json::json!({"post": {
        "tags": ["mcp"],
        "summary": "MCP (streamable HTTP): the agent's tools for the caller's tenant",
        "description": "JSON-RPC messages of the Model Context Protocol (initialize, tools/list, tools/call); GET and DELETE with an Mcp-Session-Id as the transport defines.",
        "parameters": [{"name": "agent", "in": "path", "required": true, "schema": {"type": "string"}}],
        "responses": {"200": {"description": "A JSON-RPC response, or an SSE stream of them"}},
        "security": [{"bearer": []}]
    }});
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_operation_gets_its_key_and_the_common_errors() {
        let doc: utoipa::openapi::OpenApi = serde_json::from_value(serde_json::json!({
            "openapi": "3.1.0", "info": {"title": "t", "version": "1"},
            "paths": {
                "/v1/agents": {"get": {"responses": {"200": {"description": "ok"}}}},
                "/admin/v1/tenants/{tenant}": {"put": {"responses": {"201": {"description": "ok"}}}},
                "/healthz": {"get": {"responses": {"200": {"description": "ok"}}}}
            }
        }))
        .unwrap();
        let value = super::finish(&doc);
        let op = |p: &str, m: &str| value["paths"][p][m].clone();
        assert!(
            op("/v1/agents", "get")["responses"]["401"].is_object(),
            "{value}"
        );
        assert!(
            op("/v1/agents", "get")["responses"]["400"].is_object(),
            "{value}"
        );
        assert_eq!(
            op("/v1/agents", "get")["security"],
            serde_json::json!([{"bearer": []}])
        );
        assert_eq!(
            op("/admin/v1/tenants/{tenant}", "put")["security"],
            serde_json::json!([{"admin": []}])
        );
        assert_eq!(op("/healthz", "get")["security"], serde_json::json!([]));
        assert!(op("/healthz", "get")["responses"]["401"].is_null());
    }
}
