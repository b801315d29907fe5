//! `pluto serve`: the HTTP host. Agents are prepared on first use and kept; state is in the
//! services, so several instances pointed at the same PostgreSQL serve the same sessions.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use pluto_core::{Event, Usage};
use pluto_runtime::{Outcome, Recorded};
use pluto_services::{ArtifactVersion, Page, Scope, Services, SessionId, StoreError, Tenant};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use crate::compose::{AgentArgs, Prepared, prepare};

/// Arguments of `pluto serve`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Routes: GET /healthz, GET /readyz, POST /v1/agents/{agent}/runs {\"input\", \"session_id\"?}, \
GET /v1/agents/{agent}/sessions, GET|DELETE /v1/sessions/{id}, GET /v1/sessions/{id}/events?after=N, \
GET /v1/sessions/{id}/artifacts, GET|PUT|DELETE /v1/sessions/{id}/artifacts/{name}[?version=N], \
GET /v1/memory?agent=A&q=WORDS (or ?scope=user:ID), POST /v1/memory, DELETE /v1/memory/{id}.\n\n\
Several instances may share one --state postgres://… (or redis://…): any of them continues any session."
)]
pub struct Args {
    /// The address to listen on (port 0 picks a free port; the address is printed).
    #[arg(
        long,
        value_name = "ADDR",
        default_value = "127.0.0.1:8080",
        env = "PLUTO_BIND"
    )]
    pub bind: SocketAddr,

    #[command(flatten)]
    pub common: AgentArgs,
}

struct App {
    args: AgentArgs,
    services: Services,
    agents: Mutex<HashMap<String, Arc<Prepared>>>,
}

type Shared = Arc<App>;

/// Runs the server until SIGINT or SIGTERM.
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let services = args.common.state.open().await?;
    let describe = services.describe.clone();
    let app = Arc::new(App {
        args: args.common,
        services,
        agents: Mutex::new(HashMap::new()),
    });
    let listener = tokio::net::TcpListener::bind(args.bind)
        .await
        .with_context(|| format!("listening on {}", args.bind))?;
    let addr = listener.local_addr()?;
    eprintln!("pluto serve: listening on http://{addr} (state: {describe})");
    axum::serve(listener, router(app))
        .with_graceful_shutdown(shutdown())
        .await
        .context("serving")?;
    Ok(ExitCode::SUCCESS)
}

async fn shutdown() {
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
    eprintln!("pluto serve: shutting down");
}

fn router(app: Shared) -> Router {
    Router::new()
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/readyz", get(ready))
        .route("/v1/agents/{agent}/runs", post(create_run))
        .route("/v1/agents/{agent}/sessions", get(list_sessions))
        .route("/v1/sessions/{id}", get(get_session).delete(delete_session))
        .route("/v1/sessions/{id}/events", get(session_events))
        .route("/v1/sessions/{id}/artifacts", get(list_artifacts))
        .route(
            "/v1/sessions/{id}/artifacts/{name}",
            get(get_artifact).put(put_artifact).delete(delete_artifact),
        )
        .route(
            "/v1/sessions/{id}/artifacts/{name}/versions",
            get(artifact_versions),
        )
        .route("/v1/memory", get(search_memory).post(add_memory))
        .route("/v1/memory/{id}", axum::routing::delete(delete_memory))
        .with_state(app)
}

/// An error in the API's one shape: `{"error": {"code", "message"}}`.
struct ApiError(StatusCode, &'static str, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {"code": self.1, "message": self.2}});
        (self.0, Json(body)).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        let (status, code) = match &e {
            StoreError::NotFound { .. } => (StatusCode::NOT_FOUND, "not_found"),
            StoreError::Conflict { .. } => (StatusCode::CONFLICT, "conflict"),
            StoreError::Invalid(_) => (StatusCode::BAD_REQUEST, "invalid"),
            StoreError::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            StoreError::Backend { .. } => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        };
        if status == StatusCode::SERVICE_UNAVAILABLE {
            tracing::error!(error = %e, "state store failed");
        }
        ApiError(status, code, e.to_string())
    }
}

type ApiResult<T> = Result<T, ApiError>;

async fn ready(State(app): State<Shared>) -> ApiResult<Json<Value>> {
    app.services.sessions.ping().await?;
    Ok(Json(json!({"status": "ready"})))
}

impl App {
    /// The agent `name`, prepared on first use.
    async fn agent(&self, name: &str) -> ApiResult<Arc<Prepared>> {
        let mut agents = self.agents.lock().await;
        if let Some(found) = agents.get(name) {
            return Ok(found.clone());
        }
        if name.contains('/') || name.ends_with(".md") {
            return Err(ApiError(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("agent `{name}` not found"),
            ));
        }
        let prepared = prepare(name, &self.args, self.services.clone())
            .await
            .map_err(|e| {
                let message = format!("{e:#}");
                if message.starts_with("no agent named") {
                    ApiError(StatusCode::NOT_FOUND, "not_found", message)
                } else {
                    ApiError(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "agent_unavailable",
                        message,
                    )
                }
            })?;
        let prepared = Arc::new(prepared);
        agents.insert(name.to_owned(), prepared.clone());
        Ok(prepared)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RunRequest {
    input: String,
    #[serde(default)]
    session_id: Option<String>,
}

fn session_id(raw: &str) -> ApiResult<SessionId> {
    SessionId::new(raw).map_err(|e| ApiError(StatusCode::BAD_REQUEST, "invalid", e.to_string()))
}

async fn create_run(
    State(app): State<Shared>,
    Path(agent): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Json<Value>> {
    let request: RunRequest = serde_json::from_slice(&body)
        .map_err(|e| ApiError(StatusCode::BAD_REQUEST, "invalid_json", e.to_string()))?;
    if request.input.trim().is_empty() {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            "invalid",
            "`input` is empty".into(),
        ));
    }
    let prepared = app.agent(&agent).await?;
    if let Some(raw) = &request.session_id {
        session_id(raw)?;
    }
    let (session, _) = prepared
        .open_session(request.session_id.as_deref())
        .await
        .map_err(|e| match e.downcast::<StoreError>() {
            Ok(store) => ApiError::from(store),
            Err(other) => ApiError(StatusCode::CONFLICT, "conflict", format!("{other:#}")),
        })?;
    let at = prepared
        .session(session.clone())
        .map_err(|e| ApiError(StatusCode::BAD_REQUEST, "invalid", format!("{e:#}")))?;
    let spec = prepared.spec();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Recorded>();
    let report = pluto_runtime::run_in_session(
        &spec,
        &*prepared.provider,
        &prepared.tools,
        tx,
        &at,
        request.input,
        &CancellationToken::new(),
    )
    .await?;
    let mut last_seq = 0;
    while let Ok(r) = rx.try_recv() {
        last_seq = r.seq;
        drop(r.event);
    }
    let Usage {
        input_tokens,
        output_tokens,
    } = report.usage;
    let mut body = json!({
        "run_id": spec.run_id,
        "session_id": session,
        "turns": report.turns,
        "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
        "last_event_id": last_seq,
    });
    match report.outcome {
        Outcome::Completed { output } => {
            body["status"] = json!("completed");
            body["output"] = json!(output);
        }
        Outcome::Failed { code, message } => {
            body["status"] = json!("failed");
            body["error"] = json!({"code": code, "message": message});
        }
        Outcome::Cancelled => body["status"] = json!("cancelled"),
    }
    Ok(Json(body))
}

#[derive(Deserialize)]
struct ListQuery {
    #[serde(default)]
    limit: usize,
    #[serde(default)]
    cursor: Option<String>,
}

async fn list_sessions(
    State(app): State<Shared>,
    Path(agent): Path<String>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    let prepared = app.agent(&agent).await?;
    let page = Page {
        limit: q.limit,
        cursor: q.cursor,
    };
    let listing = app
        .services
        .sessions
        .list(&prepared.tenant, Some(&agent), &page)
        .await?;
    Ok(Json(
        json!({"sessions": listing.items, "next": listing.next}),
    ))
}

async fn get_session(State(app): State<Shared>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let id = session_id(&id)?;
    let tenant = tenant();
    let session = app.services.sessions.get(&tenant, &id).await?;
    Ok(Json(json!(session)))
}

async fn delete_session(
    State(app): State<Shared>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id = session_id(&id)?;
    let tenant = tenant();
    app.services.delete_session(&tenant, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct EventsQuery {
    #[serde(default)]
    after: u64,
    #[serde(default)]
    limit: Option<usize>,
}

async fn session_events(
    State(app): State<Shared>,
    Path(id): Path<String>,
    Query(q): Query<EventsQuery>,
) -> ApiResult<Json<Value>> {
    let id = session_id(&id)?;
    let tenant = tenant();
    let limit = q.limit.unwrap_or(1000).clamp(1, 10_000);
    let events = app
        .services
        .sessions
        .events(&tenant, &id, q.after, limit)
        .await?;
    let names: Vec<Value> = events
        .into_iter()
        .map(|e| {
            let name = serde_json::from_value::<Event>(e.data.clone())
                .map(|ev| ev.name())
                .unwrap_or("unknown");
            json!({"id": e.seq, "event": name, "at": e.at, "data": e.data})
        })
        .collect();
    Ok(Json(json!({"events": names})))
}

fn tenant() -> Tenant {
    Tenant::default_tenant()
}

async fn list_artifacts(
    State(app): State<Shared>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let id = session_id(&id)?;
    let artifacts = app.services.artifacts.list(&tenant(), &id).await?;
    Ok(Json(
        json!({"artifacts": artifacts.iter().map(artifact_json).collect::<Vec<_>>()}),
    ))
}

/// An artifact version as clients see it (where its bytes are is the server's business).
fn artifact_json(v: &ArtifactVersion) -> Value {
    json!({"name": v.name, "version": v.version, "size": v.size,
           "content_type": v.content_type, "created_at": v.created_at})
}

async fn artifact_versions(
    State(app): State<Shared>,
    Path((id, name)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let id = session_id(&id)?;
    app.services.sessions.get(&tenant(), &id).await?;
    let versions = app
        .services
        .artifacts
        .versions(&tenant(), &id, &name)
        .await?;
    Ok(Json(
        json!({"versions": versions.iter().map(artifact_json).collect::<Vec<_>>()}),
    ))
}

#[derive(Deserialize)]
struct VersionQuery {
    #[serde(default)]
    version: Option<u32>,
}

async fn get_artifact(
    State(app): State<Shared>,
    Path((id, name)): Path<(String, String)>,
    Query(q): Query<VersionQuery>,
) -> ApiResult<Response> {
    let id = session_id(&id)?;
    app.services.sessions.get(&tenant(), &id).await?;
    let (meta, stream) = app
        .services
        .artifacts
        .load(&tenant(), &id, &name, q.version)
        .await?;
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, meta.content_type.clone()),
            (axum::http::header::CONTENT_LENGTH, meta.size.to_string()),
            (
                axum::http::HeaderName::from_static("x-artifact-version"),
                meta.version.to_string(),
            ),
        ],
        axum::body::Body::from_stream(stream),
    )
        .into_response())
}

async fn put_artifact(
    State(app): State<Shared>,
    Path((id, name)): Path<(String, String)>,
    headers: axum::http::HeaderMap,
    body: axum::body::Body,
) -> ApiResult<(StatusCode, Json<Value>)> {
    use futures::TryStreamExt;
    let id = session_id(&id)?;
    let content_type = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream")
        .to_owned();
    let stream = body
        .into_data_stream()
        .map_err(|e| std::io::Error::other(e.to_string()));
    let saved = app
        .services
        .artifacts
        .save(&tenant(), &id, &name, &content_type, Box::pin(stream))
        .await?;
    Ok((StatusCode::CREATED, Json(artifact_json(&saved))))
}

async fn delete_artifact(
    State(app): State<Shared>,
    Path((id, name)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let id = session_id(&id)?;
    app.services.sessions.get(&tenant(), &id).await?;
    app.services.artifacts.delete(&tenant(), &id, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct MemoryQuery {
    #[serde(default)]
    agent: Option<String>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    session: Option<String>,
    #[serde(default)]
    q: Option<String>,
    #[serde(default)]
    limit: usize,
}

impl App {
    /// The memory scope a request names: `scope=KIND:ID`, or the scope of `agent`'s manifest.
    async fn memory_scope(
        &self,
        agent: Option<&str>,
        scope: Option<&str>,
        session: Option<&str>,
    ) -> ApiResult<Scope> {
        let invalid = |m: String| ApiError(StatusCode::BAD_REQUEST, "invalid", m);
        match (scope, agent) {
            (Some(scope), _) => {
                Scope::try_from(scope.to_owned()).map_err(|e| invalid(e.to_string()))
            }
            (None, Some(agent)) => {
                let prepared = self.agent(agent).await?;
                let access = prepared.memory.as_ref().ok_or_else(|| {
                    invalid(format!(
                        "agent `{agent}` has no memory (memory.enabled is off)"
                    ))
                })?;
                access.scope(session).map_err(invalid)
            }
            (None, None) => Err(invalid("name `agent` or `scope`".into())),
        }
    }
}

async fn search_memory(
    State(app): State<Shared>,
    Query(q): Query<MemoryQuery>,
) -> ApiResult<Json<Value>> {
    let scope = app
        .memory_scope(q.agent.as_deref(), q.scope.as_deref(), q.session.as_deref())
        .await?;
    let memory = &app.services.memory;
    match q.q.as_deref().filter(|q| !q.trim().is_empty()) {
        Some(query) => {
            let limit = if q.limit == 0 { 10 } else { q.limit.min(100) };
            let hits = memory.search(&tenant(), &scope, query, limit).await?;
            Ok(Json(json!({"hits": hits})))
        }
        None => {
            let listing = memory
                .list(&tenant(), &scope, &Page::first(q.limit))
                .await?;
            Ok(Json(
                json!({"entries": listing.items, "next": listing.next}),
            ))
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewMemory {
    #[serde(default)]
    agent: Option<String>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    session: Option<String>,
    text: String,
    #[serde(default)]
    metadata: Value,
}

async fn add_memory(
    State(app): State<Shared>,
    body: axum::body::Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let new: NewMemory = serde_json::from_slice(&body)
        .map_err(|e| ApiError(StatusCode::BAD_REQUEST, "invalid_json", e.to_string()))?;
    let scope = app
        .memory_scope(
            new.agent.as_deref(),
            new.scope.as_deref(),
            new.session.as_deref(),
        )
        .await?;
    let entry = app
        .services
        .memory
        .add(&tenant(), &scope, &new.text, new.metadata)
        .await?;
    Ok((StatusCode::CREATED, Json(json!(entry))))
}

async fn delete_memory(State(app): State<Shared>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    app.services.memory.delete(&tenant(), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
