//! Pluto as an MCP server: an agent's tools — built-ins, MCP servers' tools, each in its
//! configured mode — offered to any MCP client (`pluto mcp serve`, stdio).

use std::sync::Arc;
use std::time::{Duration, Instant};

use pluto_core::{ToolCall, ToolContext, ToolExecutor};
use rmcp::ErrorData;
use rmcp::handler::server::ServerHandler;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    InitializeResult, ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig,
    Tool,
};
use rmcp::service::{RequestContext, RoleServer};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

/// The longest one tool call may take.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(600);

/// Serves `tools` working in `workspace`.
pub struct ToolServer {
    tools: Arc<dyn ToolExecutor>,
    workspace: std::path::PathBuf,
    name: String,
}

impl ToolServer {
    /// A server named after the agent `name`.
    pub fn new(name: &str, tools: Arc<dyn ToolExecutor>, workspace: std::path::PathBuf) -> Self {
        ToolServer {
            tools,
            workspace,
            name: name.to_owned(),
        }
    }
}

impl ServerHandler for ToolServer {
    fn get_info(&self) -> ServerConfig {
        InitializeResult::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new(
                format!("pluto-{}", self.name),
                env!("CARGO_PKG_VERSION"),
            ))
            .with_instructions(format!("The tools of Pluto's agent `{}`.", self.name))
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let tools = self
            .tools
            .definitions()
            .iter()
            .map(|d| {
                let schema = match &d.input_schema {
                    Value::Object(o) => o.clone(),
                    _ => serde_json::Map::from_iter([("type".to_owned(), Value::from("object"))]),
                };
                Tool::new(d.name.clone(), d.description.clone(), Arc::new(schema))
            })
            .collect();
        Ok(ListToolsResult::with_all_items(tools))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        if !self
            .tools
            .definitions()
            .iter()
            .any(|d| d.name == request.name)
        {
            return Err(ErrorData::invalid_params(
                format!("no tool named `{}`", request.name),
                None,
            ));
        }
        let arguments = request
            .arguments
            .map_or_else(|| "{}".to_owned(), |a| Value::Object(a).to_string());
        let call = ToolCall {
            id: "mcp".to_owned(),
            name: request.name.to_string(),
            arguments,
        };
        let cancel = CancellationToken::new();
        let ctx = ToolContext {
            workspace: self.workspace.clone(),
            cancel: cancel.clone(),
            deadline: Instant::now() + CALL_TIMEOUT,
            session: None,
        };
        // A client's `notifications/cancelled` for this request stops the tool.
        let stop = context.ct.clone();
        let result = tokio::select! {
            r = self.tools.call(&call, &ctx) => r,
            () = stop.cancelled() => {
                cancel.cancel();
                return Err(ErrorData::internal_error("cancelled", None));
            }
        };
        let content = vec![ContentBlock::text(result.content)];
        let mut answer = if result.is_error {
            CallToolResult::error(content)
        } else {
            CallToolResult::success(content)
        };
        if !result.details.is_null() {
            answer.structured_content = Some(result.details);
        }
        Ok(CallToolResponse::Complete(answer))
    }
}
