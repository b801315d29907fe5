//! `pluto serve`: one process serving many agents to many tenants over HTTP.
//!
//! Pluto's API under `/v1` (JSON; SSE for streamed runs and session events), the admin API under
//! `/admin/v1`, and operations: `/healthz`, `/readyz`, `/metrics`, `/openapi.json`, `/docs`.
//! State is in the services, so several instances behind a load balancer share sessions.

pub mod a2a;
pub mod admin;
pub mod agents;
pub mod ap;
pub mod api;
pub mod auth;
pub mod data;
pub mod document;
pub mod listen;
pub mod mcp;
pub mod metrics;
pub mod runs;
pub mod ws;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{Html, IntoResponse, Response};
use axum::{Json, Router};
use pluto_services::{Services, key_hash};
use serde_json::json;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::compose::AgentArgs;
use api::ApiError;

/// Arguments of `pluto serve`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Without --admin-key, Pluto runs in trusted mode: one implicit tenant `default`, no \
authentication; it then refuses to listen on a non-loopback address unless --insecure-no-auth is given. \
With --admin-key, tenants and their keys are made through the admin API (/admin/v1) and every /v1 request \
needs `Authorization: Bearer KEY`.\n\nThe API is described at /openapi.json and /docs."
)]
pub struct Args {
    /// A settings file (default `./pluto.yaml` when there is one): `bind: …`, `state: …`, and so
    /// on, one per flag (`max_runs` for --max-runs); flags and `PLUTO_*` variables win.
    #[arg(long, value_name = "FILE", env = "PLUTO_CONFIG")]
    pub config: Option<std::path::PathBuf>,

    /// The address to listen on (port 0 picks a free port; the address is printed).
    #[arg(
        long,
        value_name = "ADDR",
        default_value = "127.0.0.1:8080",
        env = "PLUTO_BIND"
    )]
    pub bind: SocketAddr,

    /// The admin key: turns on authentication (tenants' API keys, the admin API).
    #[arg(
        long,
        value_name = "KEY",
        env = "PLUTO_ADMIN_KEY",
        hide_env_values = true
    )]
    pub admin_key: Option<String>,

    /// The key `/metrics` asks for when authentication is on (the admin key works too); with
    /// neither sent, `/metrics` answers 401.
    #[arg(
        long,
        value_name = "KEY",
        env = "PLUTO_METRICS_KEY",
        hide_env_values = true
    )]
    pub metrics_key: Option<String>,

    /// Label metrics with agent and tool names. They may name tenants' own agents and tools, so
    /// with authentication on they are left out (`agent="*"`, `tool="*"`) unless this is set.
    #[arg(long, env = "PLUTO_METRICS_LABELS", value_parser = clap::builder::BoolishValueParser::new())]
    pub metrics_labels: bool,

    /// The most client connections served at once. Beyond it new connections get a short
    /// `503` (health checks still answer), counted in `pluto_connections_refused_total`.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 4096,
        env = "PLUTO_MAX_CONNECTIONS"
    )]
    pub max_connections: usize,

    /// How long a client may take to send a request's headers before it is disconnected.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = humantime::parse_duration, env = "PLUTO_HEADER_TIMEOUT")]
    pub header_timeout: Duration,

    /// How long a kept-alive connection may sit idle between requests before it is closed
    /// (SSE and WebSocket streams send keep-alives and are not idle).
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = humantime::parse_duration, env = "PLUTO_IDLE_TIMEOUT")]
    pub idle_timeout: Duration,

    /// Serve a non-loopback address without authentication.
    #[arg(long, env = "PLUTO_INSECURE_NO_AUTH", value_parser = clap::builder::BoolishValueParser::new())]
    pub insecure_no_auth: bool,

    /// The largest request body in bytes (413 beyond; artifacts stream and have their own limit).
    #[arg(long, value_name = "BYTES", default_value_t = 1 << 20, env = "PLUTO_MAX_BODY")]
    pub max_body: usize,

    /// The most runs one tenant may have in progress on this instance (429 beyond).
    #[arg(long, value_name = "N", default_value_t = 16, env = "PLUTO_MAX_RUNS")]
    pub max_runs: usize,

    /// The most prepared agents kept in memory (least recently used go first).
    #[arg(
        long,
        value_name = "N",
        default_value_t = 10_000,
        env = "PLUTO_AGENT_CACHE"
    )]
    pub agent_cache: u64,

    /// The agent served at `/.well-known/agent-card.json` (default: the only agent, if one).
    #[arg(long, value_name = "AGENT", env = "PLUTO_DEFAULT_AGENT")]
    pub default_agent: Option<String>,

    /// How long running streams may go on after SIGTERM/SIGINT before they are cancelled.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = humantime::parse_duration, env = "PLUTO_GRACE")]
    pub grace: Duration,

    #[command(flatten)]
    pub common: AgentArgs,
}

/// Per-tenant limits.
pub struct Limits {
    /// Runs in progress per tenant.
    pub runs_per_tenant: usize,
    /// The largest request body.
    pub max_body: usize,
}

/// What every handler shares.
pub struct App {
    args: Arc<AgentArgs>,
    services: Services,
    agents: agents::Agents,
    runs: runs::Registry,
    metrics: Arc<metrics::Metrics>,
    /// Who created each MCP session on `/mcp/{agent}`.
    mcp_sessions: mcp::SessionOwners,
    auth: auth::Auth,
    limits: Limits,
    default_agent: Option<String>,
    /// Cancelled when shutdown begins: no new runs.
    shutdown: CancellationToken,
    /// Cancelled when the grace period is over: the runs still going are cancelled.
    shutdown_runs: CancellationToken,
}

/// The shared state of the handlers.
pub type Shared = Arc<App>;

impl App {
    /// The default agent: `--default-agent`, or the only agent the caller can run.
    pub async fn default_agent(&self, caller: &api::Caller) -> api::ApiResult<String> {
        if let Some(name) = &self.default_agent {
            return Ok(name.clone());
        }
        let agents = self.agents.list(&caller.tenant).await?;
        match agents.as_slice() {
            [only] => Ok(only.name.clone()),
            _ => Err(ApiError::not_found(format!(
                "no default agent: there are {} agents; start with --default-agent NAME",
                agents.len()
            ))),
        }
    }
}

/// Builds the application: the services opened, nothing listening yet.
pub async fn app(args: &Args) -> anyhow::Result<Shared> {
    let services = args.common.state.open().await?;
    let auth = auth::Auth {
        admin_hash: args.admin_key.as_deref().map(key_hash),
        metrics_hash: args.metrics_key.as_deref().map(key_hash),
    };
    let labels = args.metrics_labels || auth.trusted();
    let common = Arc::new(clone_args(&args.common));
    Ok(Arc::new(App {
        agents: agents::Agents::new(
            common.clone(),
            services.clone(),
            args.common.state.data.clone(),
            auth.trusted(),
            args.agent_cache,
        ),
        args: common,
        services,
        runs: runs::Registry::default(),
        metrics: metrics::Metrics::new(labels),
        mcp_sessions: mcp::SessionOwners::default(),
        auth,
        limits: Limits {
            runs_per_tenant: args.max_runs.max(1),
            max_body: args.max_body,
        },
        default_agent: args.default_agent.clone(),
        shutdown: CancellationToken::new(),
        shutdown_runs: CancellationToken::new(),
    }))
}

fn clone_args(a: &AgentArgs) -> AgentArgs {
    AgentArgs {
        agents: a.agents.clone(),
        workspace: a.workspace.clone(),
        vars: a.vars.clone(),
        user: a.user.clone(),
        sandbox: crate::compose::SandboxArgs {
            policies: a.sandbox.policies.clone(),
            sandbox: a.sandbox.sandbox,
        },
        state: a.state.clone(),
    }
}

/// Runs the server until SIGINT or SIGTERM, then shuts down gracefully.
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    if !args.bind.ip().is_loopback() && args.admin_key.is_none() && !args.insecure_no_auth {
        bail!(
            "refusing to serve {} without authentication: set --admin-key (PLUTO_ADMIN_KEY), \
             bind to 127.0.0.1, or pass --insecure-no-auth",
            args.bind
        );
    }
    let open_files = listen::raise_open_files();
    let app = app(&args).await?;
    let listener = tokio::net::TcpListener::bind(args.bind)
        .await
        .with_context(|| format!("listening on {}", args.bind))?;
    let addr = listener.local_addr()?;
    let mode = if app.auth.trusted() {
        "trusted mode: no authentication, tenant `default`"
    } else {
        "API keys required"
    };
    eprintln!(
        "pluto serve: listening on http://{addr} (state: {}; {mode})",
        app.services.describe
    );
    let grace = args.grace;
    let on_signal = {
        let app = app.clone();
        async move {
            shutdown_signal().await;
            eprintln!("pluto serve: shutting down; letting runs finish for up to {grace:?}");
            app.shutdown.cancel();
            let deadline = Instant::now() + grace;
            while app.runs.total() > 0 && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            if app.runs.total() > 0 {
                eprintln!("pluto serve: cancelling {} run(s)", app.runs.total());
                app.shutdown_runs.cancel();
                app.runs.cancel_all();
                let deadline = Instant::now() + Duration::from_secs(10);
                while app.runs.total() > 0 && Instant::now() < deadline {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
    };
    let limits = listen::ConnLimits {
        max: listen::fit_cap(args.max_connections.max(1), open_files),
        header_timeout: args.header_timeout,
        idle_timeout: args.idle_timeout,
    };
    let metrics = app.metrics.clone();
    listen::serve(
        listener,
        router(app.clone()),
        health_router(app),
        limits,
        metrics,
        on_signal,
    )
    .await;
    eprintln!("pluto serve: stopped");
    Ok(ExitCode::SUCCESS)
}

async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Pluto", description = "Pluto's own API: agents, runs (JSON or SSE), sessions and their events, artifacts, memory; the admin API; operations."),
    modifiers(&Security),
    tags(
        (name = "agents", description = "The agents a tenant can run"),
        (name = "runs", description = "Runs, streamed or not"),
        (name = "sessions", description = "Sessions and their event logs"),
        (name = "artifacts", description = "Versioned files of a session"),
        (name = "memory", description = "What agents remember"),
        (name = "a2a", description = "The A2A protocol (v1.0 JSON-RPC, 0.3 compatible)"),
        (name = "mcp", description = "An agent's tools over MCP (streamable HTTP)"),
        (name = "agent-protocol", description = "Agent Protocol v1: tasks are sessions, steps are runs"),
        (name = "admin", description = "Tenants, keys and deployed agents (admin key)"),
        (name = "operations", description = "Health, readiness, metrics, this document")
    )
)]
struct ApiDoc;

struct Security;

impl utoipa::Modify for Security {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        let bearer =
            || SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build());
        components.add_security_scheme("bearer", bearer());
        components.add_security_scheme("admin", bearer());
        components.add_security_scheme("metrics", bearer());
    }
}

/// The routes and their OpenAPI document, built together so that neither lacks the other.
pub fn routes(app: Shared) -> (Router<Shared>, serde_json::Value) {
    let v1 = OpenApiRouter::new()
        .routes(routes!(data::list_agents))
        .routes(routes!(data::get_agent))
        .routes(routes!(runs::create_run))
        .routes(routes!(ws::websocket))
        .routes(routes!(data::create_session, data::list_sessions))
        .routes(routes!(data::get_session, data::delete_session))
        .routes(routes!(runs::session_events))
        .routes(routes!(runs::cancel_run))
        .routes(routes!(data::list_artifacts))
        .routes(routes!(
            data::get_artifact,
            data::put_artifact,
            data::delete_artifact
        ))
        .routes(routes!(data::artifact_versions))
        .routes(routes!(data::search_memory, data::add_memory))
        .routes(routes!(data::delete_memory))
        .routes(routes!(a2a::rpc))
        .routes(routes!(a2a::agent_card))
        .routes(routes!(a2a::default_card))
        .routes(routes!(ap::create_task, ap::list_tasks))
        .routes(routes!(ap::get_task))
        .routes(routes!(ap::execute_step, ap::list_steps))
        .routes(routes!(ap::get_step))
        .routes(routes!(ap::upload_artifact, ap::list_artifacts))
        .routes(routes!(ap::download_artifact));
    // The default agent's Agent Protocol routes: the same handlers, documented below by copying.
    let v1 = ap::DEFAULT_PREFIXES.iter().fold(v1, |router, prefix| {
        use axum::routing::{get, post};
        router
            .route(
                &format!("{prefix}/agent/tasks"),
                post(ap::create_task).get(ap::list_tasks),
            )
            .route(
                &format!("{prefix}/agent/tasks/{{task_id}}"),
                get(ap::get_task),
            )
            .route(
                &format!("{prefix}/agent/tasks/{{task_id}}/steps"),
                post(ap::execute_step).get(ap::list_steps),
            )
            .route(
                &format!("{prefix}/agent/tasks/{{task_id}}/steps/{{step_id}}"),
                get(ap::get_step),
            )
            .route(
                &format!("{prefix}/agent/tasks/{{task_id}}/artifacts"),
                post(ap::upload_artifact).get(ap::list_artifacts),
            )
            .route(
                &format!("{prefix}/agent/tasks/{{task_id}}/artifacts/{{artifact_id}}"),
                get(ap::download_artifact),
            )
    });
    let v1 = v1.layer(from_fn_with_state(app.clone(), auth::tenant));
    let admin = OpenApiRouter::new()
        .routes(routes!(admin::put_tenant))
        .routes(routes!(admin::create_key))
        .routes(routes!(admin::revoke_key))
        .routes(routes!(
            admin::put_agent,
            admin::get_agent,
            admin::delete_agent
        ))
        .layer(from_fn_with_state(app.clone(), auth::admin));
    let ops = OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .merge(
            OpenApiRouter::new()
                .routes(routes!(metrics_text))
                .layer(from_fn_with_state(app.clone(), auth::metrics)),
        )
        .routes(routes!(openapi_json))
        .routes(routes!(docs));
    let (router, doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(v1)
        .merge(admin)
        .merge(ops)
        .split_for_parts();
    (router, document::finish(&doc))
}

/// The whole application as an axum router.
pub fn router(app: Shared) -> Router {
    let (routes, doc) = routes(app.clone());
    let doc = Arc::new(doc);
    // MCP's streamable HTTP transport at /mcp/{agent}: a tower service, behind the same keys.
    let config = rmcp::transport::StreamableHttpServerConfig::default();
    let config = if app.auth.trusted() {
        config
    } else {
        config.disable_allowed_hosts()
    };
    let mcp = rmcp::transport::StreamableHttpService::new(
        {
            let app = app.clone();
            move || Ok(mcp::TenantTools::new(app.clone()))
        },
        Arc::new(
            rmcp::transport::streamable_http_server::session::local::LocalSessionManager::default(),
        ),
        config,
    );
    let mcp = Router::new()
        .route_service("/mcp/{agent}", mcp)
        .layer(from_fn_with_state(app.clone(), mcp::bind_sessions))
        .layer(from_fn_with_state(app.clone(), auth::tenant));
    routes
        .merge(mcp)
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "no_route", "no such route") })
        .layer(axum::Extension(doc))
        .layer(axum::middleware::from_fn(api::json_errors))
        .layer(from_fn_with_state(app.clone(), observe))
        .with_state(app)
}

/// What a connection beyond the cap is served: the health checks, and `503` for the rest.
pub fn health_router(app: Shared) -> Router {
    Router::new()
        .route("/healthz", axum::routing::get(healthz))
        .route("/readyz", axum::routing::get(readyz))
        .fallback(|| async {
            let mut response = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "too_many_connections",
                "the server is at its connection limit; try again shortly",
            )
            .into_response();
            response.headers_mut().insert(
                axum::http::header::CONNECTION,
                HeaderValue::from_static("close"),
            );
            response
        })
        .with_state(app)
}

/// Gives every request an id (kept from `x-request-id` when it is sane), logs it within a span
/// carrying that id, counts it in the metrics, and returns the id in `x-request-id`.
async fn observe(State(app): State<Shared>, req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.chars().all(|c| c.is_ascii_graphic()))
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let method = req.method().to_string();
    let span = tracing::info_span!("request", request_id = %id, %method, %route);
    let started = Instant::now();
    let mut response = next.run(req).instrument(span.clone()).await;
    let status = response.status().as_u16();
    span.in_scope(|| {
        tracing::info!(status, ms = started.elapsed().as_millis() as u64, "request");
    });
    app.metrics.request(&route, &method, status);
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}

/// Alive.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "`{\"status\": \"ok\"}`")))]
async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// Ready: the state store answers.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, description = "`{\"status\": \"ready\"}`"),
              (status = 503, description = "The state store does not answer", body = api::ErrorBody)))]
async fn readyz(State(app): State<Shared>) -> api::ApiResult<Json<serde_json::Value>> {
    if app.shutdown.is_cancelled() {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            "shutting down",
        ));
    }
    app.services.sessions.ping().await?;
    Ok(Json(json!({"status": "ready"})))
}

/// Prometheus metrics (text exposition format).
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus metrics in the OpenMetrics text format", body = String,
               content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8")))]
async fn metrics_text(State(app): State<Shared>) -> Response {
    app.metrics
        .agent_cache
        .set(i64::try_from(app.agents.cached()).unwrap_or(i64::MAX));
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        app.metrics.encode(),
    )
        .into_response()
}

/// This API's OpenAPI 3.1 document.
#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "The OpenAPI document")))]
async fn openapi_json(
    axum::Extension(doc): axum::Extension<Arc<serde_json::Value>>,
) -> Json<serde_json::Value> {
    Json((*doc).clone())
}

/// The API reference, rendered from `/openapi.json`.
#[utoipa::path(get, path = "/docs", tag = "operations",
    responses((status = 200, description = "An HTML page", content_type = "text/html")))]
async fn docs() -> Html<&'static str> {
    Html(include_str!("docs.html"))
}

#[cfg(test)]
mod tests;
