//! MCP tools: an agent's MCP servers, reached with the official Rust SDK (`rmcp`) over stdio (a
//! child process) or streamable HTTP, and offered to the model as `SERVER__TOOL`.
//!
//! A `wasm:` server runs under wasmtime in the sandbox ([`WasmLauncher`]), its stdin and stdout
//! wired to the client.
//!
//! A server is started when its tools are first listed or called, reused for the calls that
//! follow, and stopped when idle or dropped (a child process is killed with it). A server that
//! fails to start, crashes, hangs past the call timeout or speaks malformed JSON-RPC gives the
//! model a tool error naming the server; the next call starts it again.
//!
//! [`server`] is the other direction: an agent's tools served to MCP clients.

pub mod frame;
pub mod server;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use pluto_core::{ToolContext, ToolDef, ToolResult};
use pluto_paf::tool::{McpServer as Spec, McpTransport};
use pluto_tools::Tool;
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::service::{RoleClient, RunningService};
use serde_json::{Map, Value, json};
use tokio::sync::Mutex;

/// Looks up environment variables for `${VAR}` in `command`, `args`, `env`, `url`, `headers`.
pub type Env = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Why a server cannot be used.
#[derive(Debug, Clone, thiserror::Error)]
#[error("MCP server `{server}`: {message}")]
pub struct McpError {
    /// The server's name.
    pub server: String,
    /// What went wrong.
    pub message: String,
}

/// Timeouts and the idle limit.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Starting the server and its handshake.
    pub start: Duration,
    /// One tool call (further capped by the run's deadline).
    pub call: Duration,
    /// A server unused this long is stopped.
    pub idle: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            start: Duration::from_secs(60),
            call: Duration::from_secs(120),
            idle: Duration::from_secs(300),
        }
    }
}

struct Connection {
    service: RunningService<RoleClient, ()>,
    last_used: Instant,
}

/// A wasm MCP server's stdout (read by the client) and stdin (written by it).
pub type WasmStdio = (
    Box<dyn tokio::io::AsyncRead + Send + Unpin>,
    Box<dyn tokio::io::AsyncWrite + Send + Unpin>,
);

/// Starts a wasm MCP server (`wasm:`) in the sandbox; the host that has one supplies it.
/// Dropping the returned stdio stops the server.
#[async_trait]
pub trait WasmLauncher: Send + Sync {
    /// Starts one instance of the server.
    async fn launch(&self) -> Result<WasmStdio, String>;
}

/// One MCP server of an agent.
pub struct McpServer {
    spec: Spec,
    env: Env,
    dir: PathBuf,
    limits: Limits,
    wasm: Option<Arc<dyn WasmLauncher>>,
    conn: Mutex<Option<Connection>>,
}

/// A tool a server offers, as listed.
#[derive(Debug, Clone)]
pub struct ListedTool {
    /// Its name at the server.
    pub name: String,
    /// Its description.
    pub description: String,
    /// Its input schema.
    pub input_schema: Value,
}

impl McpServer {
    /// The server `spec`, its child processes started in `dir`.
    pub fn new(spec: Spec, env: Env, dir: PathBuf, limits: Limits) -> Arc<McpServer> {
        Self::with_launcher(spec, env, dir, limits, None)
    }

    /// The server `spec`, a `wasm:` one started by `wasm`.
    pub fn with_launcher(
        spec: Spec,
        env: Env,
        dir: PathBuf,
        limits: Limits,
        wasm: Option<Arc<dyn WasmLauncher>>,
    ) -> Arc<McpServer> {
        Arc::new(McpServer {
            spec,
            env,
            dir,
            limits,
            wasm,
            conn: Mutex::new(None),
        })
    }

    /// The server's name.
    pub fn name(&self) -> &str {
        self.spec.name.as_str()
    }

    fn error(&self, message: impl Into<String>) -> McpError {
        McpError {
            server: self.name().to_owned(),
            message: message.into(),
        }
    }

    fn resolve(&self, what: &str, s: &pluto_paf::scalar::EnvString) -> Result<String, McpError> {
        let env = self.env.clone();
        s.resolve(|k| env(k)).map_err(|e| {
            self.error(format!(
                "{what} needs the environment variable {}, which is not set",
                e.0
            ))
        })
    }

    async fn start(&self) -> Result<RunningService<RoleClient, ()>, McpError> {
        let started = match &self.spec.transport {
            McpTransport::Stdio { command, args, env } => {
                let program = self.resolve("`command`", command)?;
                let mut cmd = tokio::process::Command::new(&program);
                for arg in args {
                    cmd.arg(self.resolve("`args`", arg)?);
                }
                for (k, v) in env {
                    cmd.env(
                        k.as_str(),
                        self.resolve(&format!("`env.{}`", k.as_str()), v)?,
                    );
                }
                cmd.current_dir(&self.dir).kill_on_drop(true);
                let (transport, stderr) = rmcp::transport::TokioChildProcess::builder(cmd)
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .map_err(|e| self.error(format!("cannot start `{program}`: {e}")))?;
                if let Some(stderr) = stderr {
                    let server = self.name().to_owned();
                    tokio::spawn(async move {
                        use tokio::io::AsyncBufReadExt;
                        let mut lines = tokio::io::BufReader::new(stderr).lines();
                        while let Ok(Some(line)) = lines.next_line().await {
                            tracing::info!(target: "pluto::mcp", server = %server, "{line}");
                        }
                    });
                }
                tokio::time::timeout(self.limits.start, ().serve(transport)).await
            }
            McpTransport::Http { url, headers } => {
                use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
                let url = self.resolve("`url`", url)?;
                let mut config = StreamableHttpClientTransportConfig::with_uri(url.clone());
                for (name, value) in headers {
                    let value = self.resolve(&format!("`headers.{name}`"), value)?;
                    let name = http::HeaderName::from_bytes(name.as_bytes())
                        .map_err(|e| self.error(format!("header `{name}`: {e}")))?;
                    let value = http::HeaderValue::from_str(&value)
                        .map_err(|e| self.error(format!("header `{name}`: {e}")))?;
                    config.custom_headers.insert(name, value);
                }
                let transport = rmcp::transport::StreamableHttpClientTransport::with_client(
                    reqwest_client(),
                    config,
                );
                tokio::time::timeout(self.limits.start, ().serve(transport)).await
            }
            McpTransport::Wasm { .. } => {
                let launcher = self.wasm.as_ref().ok_or_else(|| {
                    self.error("a wasm MCP server needs the sandbox, and none was given")
                })?;
                let transport = launcher
                    .launch()
                    .await
                    .map_err(|e| self.error(format!("cannot start it in the sandbox: {e}")))?;
                tokio::time::timeout(self.limits.start, ().serve(transport)).await
            }
        };
        match started {
            Err(_) => Err(self.error(format!(
                "did not complete the MCP handshake within {:?}",
                self.limits.start
            ))),
            Ok(Err(e)) => Err(self.error(format!("failed to start: {e}"))),
            Ok(Ok(service)) => Ok(service),
        }
    }

    /// Runs `f` on a connection, starting the server if it is not running. A failure drops the
    /// connection (stopping the server), so the next use starts it afresh.
    async fn with_connection<T>(
        self: &Arc<Self>,
        limit: Duration,
        what: &str,
        f: impl AsyncFnOnce(&RunningService<RoleClient, ()>) -> Result<T, rmcp::ServiceError>,
    ) -> Result<T, McpError> {
        let mut guard = self.conn.lock().await;
        if guard.is_none() {
            let service = self.start().await?;
            *guard = Some(Connection {
                service,
                last_used: Instant::now(),
            });
            self.reap_when_idle();
        }
        let conn = guard.as_mut().expect("connected above");
        conn.last_used = Instant::now();
        let answer = tokio::time::timeout(limit, f(&conn.service)).await;
        match answer {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => {
                *guard = None;
                Err(self.error(format!("{what} failed: {e}")))
            }
            Err(_) => {
                *guard = None;
                Err(self.error(format!(
                    "{what} did not answer within {limit:?}; the server was stopped"
                )))
            }
        }
    }

    /// Stops the server once it has been idle for the idle limit.
    fn reap_when_idle(self: &Arc<Self>) {
        let weak = Arc::downgrade(self);
        let idle = self.limits.idle;
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(idle / 4).await;
                let Some(server) = weak.upgrade() else { return };
                let mut guard = server.conn.lock().await;
                match guard.as_ref() {
                    None => return,
                    Some(c) if c.last_used.elapsed() >= idle => {
                        tracing::info!(server = server.name(), "stopping an idle MCP server");
                        *guard = None;
                        return;
                    }
                    Some(_) => {}
                }
            }
        });
    }

    /// The server's tools (all of them, before the agent's filter).
    pub async fn list(self: &Arc<Self>) -> Result<Vec<ListedTool>, McpError> {
        let tools = self
            .with_connection(self.limits.call, "listing tools", async |s| {
                s.list_all_tools().await
            })
            .await?;
        Ok(tools
            .into_iter()
            .map(|t| {
                let v = serde_json::to_value(&t).unwrap_or(Value::Null);
                ListedTool {
                    name: v["name"].as_str().unwrap_or_default().to_owned(),
                    description: v["description"].as_str().unwrap_or_default().to_owned(),
                    input_schema: match &v["inputSchema"] {
                        Value::Object(o) => Value::Object(o.clone()),
                        _ => json!({"type": "object"}),
                    },
                }
            })
            .collect())
    }

    /// Calls `tool` with `args`, within `limit`.
    pub async fn call(self: &Arc<Self>, tool: &str, args: Value, limit: Duration) -> ToolResult {
        let arguments: Option<Map<String, Value>> = match args {
            Value::Object(map) => Some(map),
            Value::Null => None,
            other => Some(Map::from_iter([("value".to_owned(), other)])),
        };
        let mut params = CallToolRequestParams::new(tool.to_owned());
        params.arguments = arguments;
        let what = format!("calling `{tool}`");
        match self
            .with_connection(limit, &what, async move |s| s.call_tool(params).await)
            .await
        {
            Ok(result) => map_result(
                serde_json::to_value(&result).unwrap_or(Value::Null),
                self.name(),
            ),
            Err(e) => {
                tracing::warn!("{e}");
                ToolResult::error(e.to_string())
            }
        }
    }

    /// Stops the server now (if it runs).
    pub async fn stop(&self) {
        self.conn.lock().await.take();
    }
}

fn reqwest_client() -> reqwest::Client {
    reqwest::Client::builder()
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
}

/// Maps an MCP tool result: text (and a note for each image or audio block) is what the model
/// sees; structured content, resource links, embedded resources and `_meta` go to details;
/// `isError` makes it a tool error.
pub fn map_result(result: Value, server: &str) -> ToolResult {
    let mut text = Vec::new();
    let mut resources = Vec::new();
    let mut images = Vec::new();
    for block in result["content"].as_array().into_iter().flatten() {
        match block["type"].as_str() {
            Some("text") => text.push(block["text"].as_str().unwrap_or_default().to_owned()),
            Some(kind @ ("image" | "audio")) => {
                let mime = block["mimeType"].as_str().unwrap_or("?");
                let bytes = block["data"].as_str().map_or(0, |d| d.len() * 3 / 4);
                text.push(format!("[{kind}: {mime}, about {bytes} bytes]"));
                images.push(json!({"type": kind, "mimeType": mime, "data": block["data"]}));
            }
            _ => resources.push(block.clone()),
        }
    }
    let mut details = json!({"server": server});
    if let Some(s) = result.get("structuredContent") {
        details["structured_content"] = s.clone();
    }
    if !resources.is_empty() {
        details["resources"] = Value::Array(resources);
    }
    if !images.is_empty() {
        details["media"] = Value::Array(images);
    }
    if let Some(meta) = result.get("_meta") {
        details["meta"] = meta.clone();
    }
    let content = text.join("\n");
    if result["isError"] == json!(true) {
        ToolResult {
            content: if content.is_empty() {
                "the tool reported an error".into()
            } else {
                content
            },
            details,
            is_error: true,
        }
    } else {
        ToolResult::ok(content, details)
    }
}

/// One tool of a server, as the model sees it: `SERVER__TOOL`.
pub struct McpTool {
    server: Arc<McpServer>,
    tool: ListedTool,
}

#[async_trait]
impl Tool for McpTool {
    fn definition(&self) -> ToolDef {
        ToolDef {
            name: format!("{}__{}", self.server.name(), self.tool.name),
            description: self.tool.description.clone(),
            input_schema: self.tool.input_schema.clone(),
        }
    }

    async fn call(&self, args: Value, ctx: &ToolContext) -> ToolResult {
        let left = ctx.deadline.saturating_duration_since(Instant::now());
        let limit = self.server.limits.call.min(left);
        tokio::select! {
            r = self.server.call(&self.tool.name, args, limit) => r,
            () = ctx.cancel.cancelled() => ToolResult::error("cancelled"),
        }
    }
}

/// The tools of `server` the agent's filter allows, listed now (starting the server).
pub async fn tools(server: &Arc<McpServer>) -> Result<Vec<Arc<dyn Tool>>, McpError> {
    let listed = server.list().await?;
    Ok(listed
        .into_iter()
        .filter(|t| server.spec.filter.allows(&t.name))
        .filter(|t| {
            // Tool names must be usable by every provider: letters, digits, `_` and `-`.
            let ok = !t.name.is_empty()
                && t.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if !ok {
                tracing::warn!(server = server.name(), tool = %t.name, "skipping a tool whose name providers refuse");
            }
            ok
        })
        .map(|tool| {
            Arc::new(McpTool {
                server: server.clone(),
                tool,
            }) as Arc<dyn Tool>
        })
        .collect())
}

/// What `pluto mcp list` prints: each server's tools (after the filter) with their schemas.
pub async fn describe(
    servers: &[Arc<McpServer>],
) -> BTreeMap<String, Result<Vec<ListedTool>, McpError>> {
    let mut out = BTreeMap::new();
    for server in servers {
        let listed = server.list().await.map(|tools| {
            tools
                .into_iter()
                .filter(|t| server.spec.filter.allows(&t.name))
                .collect()
        });
        out.insert(server.name().to_owned(), listed);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_split_into_what_the_model_sees_and_details() {
        let r = map_result(
            json!({
                "content": [
                    {"type": "text", "text": "first"},
                    {"type": "image", "data": "aGVsbG8=", "mimeType": "image/png"},
                    {"type": "resource_link", "uri": "file:///x", "name": "x"},
                    {"type": "text", "text": "second"}
                ],
                "structuredContent": {"temperature": 21},
                "_meta": {"trace": "abc"}
            }),
            "srv",
        );
        assert!(!r.is_error);
        assert_eq!(
            r.content,
            "first\n[image: image/png, about 6 bytes]\nsecond"
        );
        assert_eq!(r.details["server"], "srv");
        assert_eq!(r.details["structured_content"]["temperature"], 21);
        assert_eq!(r.details["resources"][0]["uri"], "file:///x");
        assert_eq!(r.details["meta"]["trace"], "abc");
        assert!(
            !r.content.contains("aGVsbG8="),
            "image bytes never reach the model"
        );
    }

    #[test]
    fn is_error_makes_a_tool_error() {
        let r = map_result(json!({"content": [], "isError": true}), "srv");
        assert!(r.is_error);
        assert_eq!(r.content, "the tool reported an error");
        let r = map_result(
            json!({"content": [{"type": "text", "text": "bad input"}], "isError": true}),
            "srv",
        );
        assert_eq!(r.content, "bad input");
    }
}
