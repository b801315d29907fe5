//! An example tool component: `get`, an HTTP GET through `wasi:http/outgoing-handler`.
//!
//! It shows the network policy at work: the component asks for any URL, and the host sends the
//! request only if the policy's `network.allow` covers the destination (checked on the address
//! the host resolved; `network.deny` wins). A refused request comes back at once as
//! `HTTP-request-denied`, which this tool reports to the model.
//!
//! Use it from an agent with `tools: - component: example:fetch` and a policy such as
//! `sandbox-policies/fetch.yaml`, or try it with
//! `pluto tool call example:fetch get '{"url": "https://example.com/"}' --policy fetch`.

use serde_json::{Value, json};
use wasip2::http::outgoing_handler;
use wasip2::http::types::{ErrorCode, Fields, Method, OutgoingRequest, RequestOptions, Scheme};
use wasip2::io::streams::StreamError;

wit_bindgen::generate!({ path: "../../../wit/sandbox", world: "tool-component" });

use exports::pluto::sandbox::tool::{ContentPart, Guest, ToolDefinition, ToolResult};

/// The most body bytes returned when the caller sets no `max_bytes`.
const DEFAULT_MAX_BYTES: u64 = 64 * 1024;
/// Connect and first-byte timeouts, in nanoseconds.
const TIMEOUT_NS: u64 = 10_000_000_000;

struct Fetch;

/// A fetched response.
struct Fetched {
    status: u16,
    content_type: String,
    body: Vec<u8>,
    truncated: bool,
}

fn result(content: String, details: Value, is_error: bool) -> ToolResult {
    ToolResult {
        content: vec![ContentPart::Text(content)],
        details: details.to_string(),
        is_error,
    }
}

/// What an error code means for someone reading the tool's result.
fn explain(code: &ErrorCode) -> String {
    match code {
        ErrorCode::HttpRequestDenied => {
            "refused by the sandbox policy: its network rules do not allow this destination \
             (an operator can add it to the policy's network.allow)"
                .to_owned()
        }
        ErrorCode::DnsError(e) => format!("the host name could not be resolved ({:?})", e.rcode),
        ErrorCode::ConnectionRefused => "the connection was refused".to_owned(),
        ErrorCode::ConnectionTimeout => "the connection timed out".to_owned(),
        other => format!("{other:?}"),
    }
}

fn get(url: &str, max_bytes: u64) -> Result<Fetched, String> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| format!("`{url}` is not an absolute URL"))?;
    let scheme = match scheme.to_ascii_lowercase().as_str() {
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        other => return Err(format!("unsupported scheme `{other}`: use http or https")),
    };
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) if rest[i..].starts_with('/') => (&rest[..i], rest[i..].to_owned()),
        Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
        None => (rest, "/".to_owned()),
    };
    if authority.is_empty() {
        return Err(format!("`{url}` has no host"));
    }
    let headers = Fields::new();
    headers
        .append("user-agent", b"pluto-example-fetch/0.1")
        .map_err(|e| format!("{e:?}"))?;
    let request = OutgoingRequest::new(headers);
    let bad = |what: &str| format!("invalid {what} in `{url}`");
    request
        .set_method(&Method::Get)
        .map_err(|()| bad("method"))?;
    request
        .set_scheme(Some(&scheme))
        .map_err(|()| bad("scheme"))?;
    request
        .set_authority(Some(authority))
        .map_err(|()| bad("host"))?;
    request
        .set_path_with_query(Some(&path))
        .map_err(|()| bad("path"))?;
    let options = RequestOptions::new();
    let _ = options.set_connect_timeout(Some(TIMEOUT_NS));
    let _ = options.set_first_byte_timeout(Some(TIMEOUT_NS));

    let pending = outgoing_handler::handle(request, Some(options)).map_err(|e| explain(&e))?;
    pending.subscribe().block();
    let response = match pending.get() {
        Some(Ok(Ok(response))) => response,
        Some(Ok(Err(code))) => return Err(explain(&code)),
        Some(Err(())) | None => return Err("the response was not delivered".to_owned()),
    };
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .first()
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .unwrap_or_default();
    let body = response
        .consume()
        .map_err(|()| "the response has no body".to_owned())?;
    let stream = body
        .stream()
        .map_err(|()| "the response body cannot be read".to_owned())?;
    let mut bytes = Vec::new();
    let mut truncated = false;
    loop {
        match stream.blocking_read(64 * 1024) {
            Ok(chunk) => bytes.extend_from_slice(&chunk),
            Err(StreamError::Closed) => break,
            Err(StreamError::LastOperationFailed(e)) => {
                return Err(format!("reading the body failed: {}", e.to_debug_string()));
            }
        }
        if bytes.len() as u64 > max_bytes {
            bytes.truncate(max_bytes as usize);
            truncated = true;
            break;
        }
    }
    Ok(Fetched {
        status,
        content_type,
        body: bytes,
        truncated,
    })
}

impl Guest for Fetch {
    fn describe() -> Vec<ToolDefinition> {
        let schema = json!({
            "type": "object",
            "properties": {
                "url": {"type": "string", "description": "An http:// or https:// URL."},
                "max_bytes": {"type": "integer", "minimum": 1, "maximum": 1048576,
                              "description": "The most body bytes to return (default 65536)."}
            },
            "required": ["url"],
            "additionalProperties": false
        });
        vec![ToolDefinition {
            name: "get".into(),
            description: "GET a URL and return its status and body as text. Only the hosts the \
                          sandbox policy allows can be reached."
                .into(),
            input_schema: schema.to_string(),
        }]
    }

    fn call(name: String, arguments: String) -> ToolResult {
        if name != "get" {
            return result(format!("unknown tool `{name}`"), Value::Null, true);
        }
        let args: Value = match serde_json::from_str(&arguments) {
            Ok(v) => v,
            Err(e) => return result(format!("invalid JSON arguments: {e}"), Value::Null, true),
        };
        let Some(url) = args["url"].as_str() else {
            return result("`url` must be a string".into(), Value::Null, true);
        };
        let max_bytes = args["max_bytes"].as_u64().unwrap_or(DEFAULT_MAX_BYTES);
        match get(url, max_bytes) {
            Ok(f) => {
                let text = String::from_utf8_lossy(&f.body);
                let more = if f.truncated {
                    format!("\n[truncated at {max_bytes} bytes]")
                } else {
                    String::new()
                };
                result(
                    format!("HTTP {}\n{text}{more}", f.status),
                    json!({"url": url, "status": f.status, "content_type": f.content_type,
                           "bytes": f.body.len(), "truncated": f.truncated}),
                    f.status >= 400,
                )
            }
            Err(why) => result(
                format!("GET {url} failed: {why}"),
                json!({"url": url, "error": why}),
                true,
            ),
        }
    }
}

export!(Fetch);
