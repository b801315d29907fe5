//! The `http_fetch` tool: GET a URL and show the model its text (the permissive default: any
//! host; in the sandbox only the hosts the policy allows).

use std::time::Duration;

use async_trait::async_trait;
use pluto_core::{ToolContext, ToolDef, ToolResult};
use serde_json::{Map, Value, json};

use crate::toolbox::Tool;
use pluto_files::output::head;

/// The most body bytes the model is shown.
pub const MODEL_LIMIT: usize = 64 * 1024;
/// The most body bytes read at all.
pub const READ_LIMIT: usize = 5 * 1024 * 1024;
/// How long one fetch may take.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// The `http_fetch` tool, sharing the host's HTTP client.
pub struct HttpFetch {
    client: reqwest::Client,
}

impl HttpFetch {
    /// The tool using `client`.
    pub fn new(client: reqwest::Client) -> Self {
        HttpFetch { client }
    }
}

fn is_text(content_type: &str) -> bool {
    let ct = content_type.to_ascii_lowercase();
    ct.is_empty()
        || ct.starts_with("text/")
        || ["json", "xml", "javascript", "yaml", "csv", "markdown"]
            .iter()
            .any(|t| ct.contains(t))
}

#[async_trait]
impl Tool for HttpFetch {
    fn definition(&self) -> ToolDef {
        ToolDef {
            name: "http_fetch".into(),
            description:
                "Fetch a URL with HTTP GET and return the response body as text (the first 64 KiB)."
                    .into(),
            input_schema: json!({"type": "object", "properties": {
                "url": {"type": "string", "description": "An http:// or https:// URL"}},
                "required": ["url"], "additionalProperties": false}),
        }
    }

    async fn call(&self, args: Value, _ctx: &ToolContext) -> ToolResult {
        let url = args["url"].as_str().unwrap_or_default();
        let parsed = match reqwest::Url::parse(url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => u,
            Ok(u) => {
                return ToolResult::error(format!(
                    "unsupported scheme `{}`: use http or https",
                    u.scheme()
                ));
            }
            Err(e) => return ToolResult::error(format!("invalid URL `{url}`: {e}")),
        };
        let mut response = match self.client.get(parsed).timeout(TIMEOUT).send().await {
            Ok(r) => r,
            Err(e) => return ToolResult::error(format!("fetching {url} failed: {e}")),
        };
        let status = response.status();
        let final_url = response.url().to_string();
        let headers: Map<String, Value> = response
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.to_string(),
                    Value::String(String::from_utf8_lossy(v.as_bytes()).into_owned()),
                )
            })
            .collect();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let mut body = Vec::new();
        let mut cut = false;
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    body.extend_from_slice(&chunk);
                    if body.len() > READ_LIMIT {
                        body.truncate(READ_LIMIT);
                        cut = true;
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => return ToolResult::error(format!("reading {url} failed: {e}")),
            }
        }
        let (text, shown_cut) = if is_text(&content_type) {
            head(&String::from_utf8_lossy(&body), MODEL_LIMIT)
        } else {
            (
                format!("[{} bytes of {content_type}, not shown]", body.len()),
                false,
            )
        };
        let reason = status.canonical_reason().unwrap_or("");
        let content = format!("HTTP {} {reason}\n\n{text}", status.as_u16());
        let details = json!({"url": final_url, "status": status.as_u16(), "headers": headers,
                             "bytes": body.len(), "truncated": cut || shown_cut, "mode": "native"});
        ToolResult {
            content,
            details,
            is_error: status.is_client_error() || status.is_server_error(),
        }
    }
}
