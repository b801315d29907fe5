//! `/mcp/{agent}`: an agent's tools over MCP's streamable HTTP transport, for authenticated
//! tenants. Each request names its agent in the path and its tenant by its key (the session does
//! not), so a session id never carries one tenant's tools to another.

use std::sync::Arc;

use pluto_core::{ToolCall, ToolContext, ToolDef, ToolExecutor, ToolResult};
use pluto_mcp::server::ToolServer;
use rmcp::ErrorData;
use rmcp::handler::server::ServerHandler;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, InitializeResult, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig,
};
use rmcp::service::{RequestContext, RoleServer};

use super::Shared;
use super::api::Caller;
use crate::compose::Prepared;

/// A prepared agent's tools as a `ToolExecutor`.
struct AgentTools(Arc<Prepared>);

#[async_trait::async_trait]
impl ToolExecutor for AgentTools {
    fn definitions(&self) -> &[ToolDef] {
        self.0.tools.definitions()
    }

    async fn call(&self, call: &ToolCall, ctx: &ToolContext) -> ToolResult {
        self.0.tools.call(call, ctx).await
    }
}

/// Serves the tools of the agent and tenant each request names.
#[derive(Clone)]
pub struct TenantTools {
    app: Shared,
}

impl TenantTools {
    /// Over the server's agents.
    pub fn new(app: Shared) -> Self {
        TenantTools { app }
    }

    /// The tool server for this request's agent and tenant.
    async fn resolve(&self, ctx: &RequestContext<RoleServer>) -> Result<ToolServer, ErrorData> {
        let parts = ctx
            .extensions
            .get::<axum::http::request::Parts>()
            .ok_or_else(|| ErrorData::internal_error("no HTTP request", None))?;
        let caller = parts
            .extensions
            .get::<Caller>()
            .ok_or_else(|| ErrorData::internal_error("no caller", None))?;
        let agent = parts
            .uri
            .path()
            .strip_prefix("/mcp/")
            .and_then(|rest| rest.split('/').next())
            .unwrap_or_default();
        let prepared = self
            .app
            .agents
            .get(&caller.tenant, agent)
            .await
            .map_err(|e| ErrorData::invalid_params(e.message, None))?;
        let workspace = prepared.workspace.clone();
        Ok(ToolServer::new(
            agent,
            Arc::new(AgentTools(prepared)),
            workspace,
        ))
    }
}

impl ServerHandler for TenantTools {
    fn get_info(&self) -> ServerConfig {
        InitializeResult::new(ServerCapabilities::builder().enable_tools().build())
            .with_instructions("The tools of one of Pluto's agents (named in the path).")
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let server = self.resolve(&context).await?;
        server.list_tools(request, context).await
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let server = self.resolve(&context).await?;
        server.call_tool(request, context).await
    }
}
