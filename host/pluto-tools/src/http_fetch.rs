//! The `http_fetch` tool: GET a URL and show the model its text (the permissive default: any
//! host; in sandbox mode only what the policy's `network` rules allow, checked on the host for
//! every address and redirect).

use std::time::Duration;

use async_trait::async_trait;
use pluto_core::{ToolContext, ToolDef, ToolResult};
use serde_json::{Map, Value, json};

use std::sync::Arc;

use pluto_paf::policy::NetworkPolicy;

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
    /// In sandbox mode, the policy's network rules, checked for every request and redirect.
    network: Option<Arc<NetworkPolicy>>,
}

/// The most redirects followed in sandbox mode (each one checked again).
const MAX_REDIRECTS: usize = 5;

impl HttpFetch {
    /// The tool using `client` (the permissive mode: any host).
    pub fn new(client: reqwest::Client) -> Self {
        HttpFetch {
            client,
            network: None,
        }
    }

    /// The tool in sandbox mode: only what `network` allows. The host resolves each name itself,
    /// checks every address it would connect to (so a name resolving to a private address, or
    /// resolving differently a moment later, gains nothing) and connects to the checked address;
    /// redirects are followed by hand and checked the same way.
    pub fn sandboxed(network: NetworkPolicy) -> Self {
        HttpFetch {
            client: reqwest::Client::new(),
            network: Some(Arc::new(network)),
        }
    }

    /// Sends a GET for `url` under the network policy, following redirects; the response, or
    /// why the request was refused.
    async fn checked_get(
        &self,
        network: &NetworkPolicy,
        mut url: reqwest::Url,
    ) -> Result<reqwest::Response, String> {
        for _ in 0..=MAX_REDIRECTS {
            let host = url
                .host_str()
                .ok_or_else(|| format!("{url} has no host"))?
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned();
            let port = url.port_or_known_default().unwrap_or(80);
            let addr = pluto_sandbox::destination(network, url.scheme(), &host, port)
                .await
                .map_err(|refused| refused.to_string())?;
            // Connect to the address that was checked, not whatever the name says next.
            let client = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .resolve(&host, addr)
                .timeout(TIMEOUT)
                .build()
                .map_err(|e| e.to_string())?;
            let response = client
                .get(url.clone())
                .send()
                .await
                .map_err(|e| format!("fetching {url} failed: {e}"))?;
            if !response.status().is_redirection() {
                return Ok(response);
            }
            let location = response
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| format!("{url} redirected without a Location"))?;
            url = url
                .join(location)
                .map_err(|e| format!("bad redirect to `{location}`: {e}"))?;
            if !matches!(url.scheme(), "http" | "https") {
                return Err(format!("redirect to an unsupported scheme: {url}"));
            }
        }
        Err(format!("more than {MAX_REDIRECTS} redirects"))
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
        let mode = if self.network.is_some() {
            "sandbox"
        } else {
            "native"
        };
        let sent = match &self.network {
            Some(network) => self.checked_get(network, parsed).await,
            None => self
                .client
                .get(parsed)
                .timeout(TIMEOUT)
                .send()
                .await
                .map_err(|e| format!("fetching {url} failed: {e}")),
        };
        let mut response = match sent {
            Ok(r) => r,
            Err(why) => {
                return ToolResult {
                    content: why.clone(),
                    details: json!({"url": url, "refused": why, "mode": mode}),
                    is_error: true,
                };
            }
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
                             "bytes": body.len(), "truncated": cut || shown_cut, "mode": mode});
        ToolResult {
            content,
            details,
            is_error: status.is_client_error() || status.is_server_error(),
        }
    }
}
