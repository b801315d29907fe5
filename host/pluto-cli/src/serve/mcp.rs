//! `/mcp/{agent}`: an agent's tools over MCP's streamable HTTP transport, for authenticated
//! tenants. Each request names its agent in the path and its tenant by its key (the session does
//! not), so a session id never carries one tenant's tools to another. Each MCP session also
//! belongs to the tenant and agent that created it ([`bind_sessions`]): any other key, or the
//! same key on another agent's path, gets 404 for it — its requests, its standalone SSE stream
//! and its DELETE alike.

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

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::Shared;
use super::api::{ApiError, Caller};
use crate::compose::Prepared;

/// The header the transport names a session by.
const SESSION_HEADER: &str = "mcp-session-id";

/// Who created each live MCP session: tenant and agent. Entries go when the session is deleted
/// or after twice rmcp's idle time (300 s), by which point rmcp has closed the session itself.
#[derive(Clone)]
pub struct SessionOwners(moka::sync::Cache<String, (String, String)>);

impl Default for SessionOwners {
    fn default() -> Self {
        SessionOwners(
            moka::sync::Cache::builder()
                .max_capacity(1_000_000)
                .time_to_idle(std::time::Duration::from_secs(600))
                .build(),
        )
    }
}

/// The agent named in an `/mcp/{agent}` path.
fn agent_of(path: &str) -> &str {
    path.strip_prefix("/mcp/")
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_default()
}

/// Binds MCP sessions to their creator: a request naming a session must come from the tenant
/// and for the agent that created it, else 404 (as for anything of another tenant); a request
/// creating one must name an agent the caller can use. A body over `--max-body` gets 413 (rmcp
/// would read any size). Runs after the key is checked.
pub async fn bind_sessions(State(app): State<Shared>, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let body = match super::api::read_body(body, app.limits.max_body).await {
        Ok(bytes) => axum::body::Body::from(bytes),
        Err(e) => return e.into_response(),
    };
    let req = Request::from_parts(parts, body);
    let Some(caller) = req.extensions().get::<Caller>() else {
        return ApiError::unauthorized("no caller").into_response();
    };
    let agent = agent_of(req.uri().path()).to_owned();
    let owner = (caller.tenant.as_str().to_owned(), agent.clone());
    let session = req
        .headers()
        .get(SESSION_HEADER)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    match &session {
        Some(id) if app.mcp_sessions.0.get(id).as_ref() != Some(&owner) => {
            return ApiError::not_found("no such MCP session").into_response();
        }
        Some(_) => {}
        None => {
            if let Err(e) = app.agents.get(&caller.tenant, &agent).await {
                return e.into_response();
            }
        }
    }
    let deleting = req.method() == axum::http::Method::DELETE;
    let response = next.run(req).await;
    match session {
        None => {
            if let Some(id) = response.headers().get(SESSION_HEADER) {
                let id = String::from_utf8_lossy(id.as_bytes()).into_owned();
                app.mcp_sessions.0.insert(id, owner);
            }
        }
        Some(id) if deleting && response.status().is_success() => {
            app.mcp_sessions.0.invalidate(&id);
        }
        Some(_) => {}
    }
    response
}

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
        let agent = agent_of(parts.uri.path());
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
