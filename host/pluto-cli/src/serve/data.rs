//! Sessions, artifacts and memory of the caller's tenant.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use pluto_services::{ArtifactVersion, NewSession, Page, Scope, SessionId};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

use super::Shared;
use super::agents::AgentInfo;
use super::api::{ApiError, ApiResult, Caller, ErrorBody, JsonBody};

fn session_id(raw: &str) -> ApiResult<SessionId> {
    SessionId::new(raw).map_err(|e| ApiError::invalid(e.to_string()))
}

/// The agents the caller can run, as `{"agents": [...]}`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct AgentList {
    /// Each agent the caller can run.
    agents: Vec<AgentInfo>,
}

/// The agents the caller can run.
#[utoipa::path(get, path = "/v1/agents", tag = "agents",
    responses((status = 200, description = "The agents", body = AgentList)),
    security(("bearer" = [])))]
pub async fn list_agents(
    State(app): State<Shared>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Json<Value>> {
    let agents = app.agents.list(&caller.tenant).await?;
    Ok(Json(json!({"agents": agents})))
}

/// One agent.
#[utoipa::path(get, path = "/v1/agents/{agent}", tag = "agents",
    params(("agent" = String, Path, description = "The agent's name")),
    responses((status = 200, description = "The agent", body = AgentDetail),
              (status = 404, description = "No such agent", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_agent(
    State(app): State<Shared>,
    Extension(caller): Extension<Caller>,
    Path(agent): Path<String>,
) -> ApiResult<Json<Value>> {
    let prepared = app.agents.get(&caller.tenant, &agent).await?;
    let m = &prepared.agent.manifest;
    let tools: Vec<&str> = prepared.tools_names();
    // The fields of `AgentDetail`.
    Ok(Json(json!({
        "name": m.name.as_str(),
        "description": m.description.to_string(),
        "version": m.version.to_string(),
        "model": format!("{} {}", m.model.provider.as_str(), m.model.name),
        "tools": tools,
        "memory": m.memory.enabled,
        "sandboxed": prepared.sandboxed,
    })))
}

/// One agent in detail.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct AgentDetail {
    /// Its name.
    name: String,
    /// What it does.
    description: String,
    /// Its version.
    version: String,
    /// The provider and model.
    model: String,
    /// The tools the model is offered.
    tools: Vec<String>,
    /// Whether it keeps memory.
    memory: bool,
    /// Whether its tools run in the sandbox.
    sandboxed: bool,
}

/// A new session's fields.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSessionBody {
    /// Free-form data kept with the session (an object).
    #[serde(default, deserialize_with = "super::api::object_or_null")]
    #[schema(value_type = Object)]
    pub metadata: Value,
}

/// Creates a session for an agent.
#[utoipa::path(post, path = "/v1/agents/{agent}/sessions", tag = "sessions",
    params(("agent" = String, Path, description = "The agent's name")),
    request_body = NewSessionBody,
    responses((status = 201, description = "The session"),
              (status = 404, description = "No such agent", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_session(
    State(app): State<Shared>,
    Extension(caller): Extension<Caller>,
    Path(agent): Path<String>,
    JsonBody(body): JsonBody<NewSessionBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    app.agents.get(&caller.tenant, &agent).await?;
    let session = app
        .services
        .sessions
        .create(
            &caller.tenant,
            NewSession {
                agent,
                id: None,
                metadata: body.metadata,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(json!(session))))
}

/// A page of a listing.
#[derive(Debug, Deserialize, IntoParams)]
pub struct ListQuery {
    /// The most items (default 50, at most 1000).
    #[serde(default)]
    pub limit: usize,
    /// The `next` value of the previous page.
    #[serde(default)]
    pub cursor: Option<String>,
}

/// An agent's sessions, newest first.
#[utoipa::path(get, path = "/v1/agents/{agent}/sessions", tag = "sessions",
    params(("agent" = String, Path, description = "The agent's name"), ListQuery),
    responses((status = 200, description = "`{\"sessions\": [...], \"next\": cursor}`")),
    security(("bearer" = [])))]
pub async fn list_sessions(
    State(app): State<Shared>,
    Extension(caller): Extension<Caller>,
    Path(agent): Path<String>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    app.agents.get(&caller.tenant, &agent).await?;
    let page = Page {
        limit: q.limit,
        cursor: q.cursor,
    };
    let listing = app
        .services
        .sessions
        .list(&caller.tenant, Some(&agent), &page)
        .await?;
    Ok(Json(
        json!({"sessions": listing.items, "next": listing.next}),
    ))
}

/// One session.
#[utoipa::path(get, path = "/v1/sessions/{id}", tag = "sessions",
    params(("id" = String, Path, description = "The session's id")),
    responses((status = 200, description = "The session"),
              (status = 404, description = "No such session", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_session(
    State(app): State<Shared>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let session = app
        .services
        .sessions
        .get(&caller.tenant, &session_id(&id)?)
        .await?;
    Ok(Json(json!(session)))
}

/// Deletes a session, its events and its artifacts.
#[utoipa::path(delete, path = "/v1/sessions/{id}", tag = "sessions",
    params(("id" = String, Path, description = "The session's id")),
    responses((status = 204, description = "Deleted"),
              (status = 404, description = "No such session", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn delete_session(
    State(app): State<Shared>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    app.services
        .delete_session(&caller.tenant, &session_id(&id)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An artifact version as clients see it (where its bytes are is the server's business).
fn artifact_json(v: &ArtifactVersion) -> Value {
    json!({"name": v.name, "version": v.version, "size": v.size,
           "content_type": v.content_type, "created_at": v.created_at})
}

/// The latest version of each of the session's artifacts.
#[utoipa::path(get, path = "/v1/sessions/{id}/artifacts", tag = "artifacts",
    params(("id" = String, Path, description = "The session's id")),
    responses((status = 200, description = "`{\"artifacts\": [...]}`"),
              (status = 404, description = "No such session", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_artifacts(
    State(app): State<Shared>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let artifacts = app
        .services
        .artifacts
        .list(&caller.tenant, &session_id(&id)?)
        .await?;
    Ok(Json(
        json!({"artifacts": artifacts.iter().map(artifact_json).collect::<Vec<_>>()}),
    ))
}

/// Which version of an artifact.
#[derive(Debug, Deserialize, IntoParams)]
pub struct VersionQuery {
    /// The version (default: the latest).
    #[serde(default)]
    pub version: Option<u32>,
}

/// Downloads an artifact (streamed).
#[utoipa::path(get, path = "/v1/sessions/{id}/artifacts/{name}", tag = "artifacts",
    params(("id" = String, Path, description = "The session's id"),
           ("name" = String, Path, description = "The artifact's name"), VersionQuery),
    responses((status = 200, description = "The bytes, with `Content-Type` and `x-artifact-version`"),
              (status = 404, description = "No such session, artifact or version", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_artifact(
    State(app): State<Shared>,
    Extension(caller): Extension<Caller>,
    Path((id, name)): Path<(String, String)>,
    Query(q): Query<VersionQuery>,
) -> ApiResult<Response> {
    let id = session_id(&id)?;
    app.services.sessions.get(&caller.tenant, &id).await?;
    let (meta, stream) = app
        .services
        .artifacts
        .load(&caller.tenant, &id, &name, q.version)
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

/// Saves a new version of an artifact (the body is streamed through, never held whole).
#[utoipa::path(put, path = "/v1/sessions/{id}/artifacts/{name}", tag = "artifacts",
    params(("id" = String, Path, description = "The session's id"),
           ("name" = String, Path, description = "The artifact's name")),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 201, description = "The new version"),
              (status = 404, description = "No such session", body = ErrorBody),
              (status = 413, description = "Over the tenant's artifact limit", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn put_artifact(
    State(app): State<Shared>,
    Extension(caller): Extension<Caller>,
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
        .save(&caller.tenant, &id, &name, &content_type, Box::pin(stream))
        .await?;
    Ok((StatusCode::CREATED, Json(artifact_json(&saved))))
}

/// Deletes every version of an artifact.
#[utoipa::path(delete, path = "/v1/sessions/{id}/artifacts/{name}", tag = "artifacts",
    params(("id" = String, Path, description = "The session's id"),
           ("name" = String, Path, description = "The artifact's name")),
    responses((status = 204, description = "Deleted"),
              (status = 404, description = "No such session or artifact", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn delete_artifact(
    State(app): State<Shared>,
    Extension(caller): Extension<Caller>,
    Path((id, name)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let id = session_id(&id)?;
    app.services.sessions.get(&caller.tenant, &id).await?;
    app.services
        .artifacts
        .delete(&caller.tenant, &id, &name)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Every version of an artifact.
#[utoipa::path(get, path = "/v1/sessions/{id}/artifacts/{name}/versions", tag = "artifacts",
    params(("id" = String, Path, description = "The session's id"),
           ("name" = String, Path, description = "The artifact's name")),
    responses((status = 200, description = "`{\"versions\": [...]}`, oldest first"),
              (status = 404, description = "No such session or artifact", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn artifact_versions(
    State(app): State<Shared>,
    Extension(caller): Extension<Caller>,
    Path((id, name)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let id = session_id(&id)?;
    app.services.sessions.get(&caller.tenant, &id).await?;
    let versions = app
        .services
        .artifacts
        .versions(&caller.tenant, &id, &name)
        .await?;
    Ok(Json(
        json!({"versions": versions.iter().map(artifact_json).collect::<Vec<_>>()}),
    ))
}

/// Whose memory, and what to look for.
#[derive(Debug, Deserialize, IntoParams)]
pub struct MemoryQuery {
    /// The agent whose memory scope applies (its manifest's `memory.scope`).
    #[serde(default)]
    pub agent: Option<String>,
    /// Or an explicit scope: `user:ID`, `agent:NAME`, `session:ID`.
    #[serde(default)]
    #[param(pattern = r"^(user|agent|session):[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}$")]
    pub scope: Option<String>,
    /// The session, for session-scoped memory.
    #[serde(default)]
    #[param(pattern = r"^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}$")]
    pub session: Option<String>,
    /// Words to search for; without it, the newest entries.
    #[serde(default)]
    pub q: Option<String>,
    /// The most results.
    #[serde(default)]
    pub limit: usize,
}

impl super::App {
    /// The memory scope a request names: `scope=KIND:ID`, or the scope of `agent`'s manifest.
    async fn memory_scope(
        &self,
        caller: &Caller,
        agent: Option<&str>,
        scope: Option<&str>,
        session: Option<&str>,
    ) -> ApiResult<Scope> {
        if let Some(session) = session {
            session_id(session)?;
        }
        match (scope, agent) {
            (Some(scope), _) => {
                Scope::try_from(scope.to_owned()).map_err(|e| ApiError::invalid(e.to_string()))
            }
            (None, Some(agent)) => {
                let prepared = self.agents.get(&caller.tenant, agent).await?;
                let access = prepared.memory.as_ref().ok_or_else(|| {
                    ApiError::invalid(format!(
                        "agent `{agent}` has no memory (memory.enabled is off)"
                    ))
                })?;
                access.scope(session).map_err(ApiError::invalid)
            }
            (None, None) => Err(ApiError::invalid("name `agent` or `scope`")),
        }
    }
}

/// Searches (with `q`) or lists memory.
#[utoipa::path(get, path = "/v1/memory", tag = "memory", params(MemoryQuery),
    responses((status = 200, description = "`{\"hits\": [...]}` with `q`, else `{\"entries\": [...]}`"),
              (status = 400, description = "No scope named", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn search_memory(
    State(app): State<Shared>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<MemoryQuery>,
) -> ApiResult<Json<Value>> {
    let scope = app
        .memory_scope(
            &caller,
            q.agent.as_deref(),
            q.scope.as_deref(),
            q.session.as_deref(),
        )
        .await?;
    let memory = &app.services.memory;
    match q.q.as_deref().filter(|q| !q.trim().is_empty()) {
        Some(query) => {
            let limit = if q.limit == 0 { 10 } else { q.limit.min(100) };
            let hits = memory.search(&caller.tenant, &scope, query, limit).await?;
            Ok(Json(json!({"hits": hits})))
        }
        None => {
            let listing = memory
                .list(&caller.tenant, &scope, &Page::first(q.limit))
                .await?;
            Ok(Json(
                json!({"entries": listing.items, "next": listing.next}),
            ))
        }
    }
}

/// A memory entry to add.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMemory {
    /// The agent whose memory scope applies.
    #[serde(default)]
    pub agent: Option<String>,
    /// Or an explicit scope: `user:ID`, `agent:NAME`, `session:ID`.
    #[serde(default)]
    #[schema(pattern = r"^(user|agent|session):[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}$")]
    pub scope: Option<String>,
    /// The session, for session-scoped memory.
    #[serde(default)]
    #[schema(pattern = r"^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}$")]
    pub session: Option<String>,
    /// The text.
    #[schema(min_length = 1)]
    pub text: String,
    /// Free-form data (an object).
    #[serde(default, deserialize_with = "super::api::object_or_null")]
    #[schema(value_type = Object)]
    pub metadata: Value,
}

/// Adds a memory entry.
#[utoipa::path(post, path = "/v1/memory", tag = "memory", request_body = NewMemory,
    responses((status = 201, description = "The entry"),
              (status = 404, description = "No such agent", body = ErrorBody),
              (status = 400, description = "Bad input", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn add_memory(
    State(app): State<Shared>,
    Extension(caller): Extension<Caller>,
    JsonBody(new): JsonBody<NewMemory>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let scope = app
        .memory_scope(
            &caller,
            new.agent.as_deref(),
            new.scope.as_deref(),
            new.session.as_deref(),
        )
        .await?;
    let entry = app
        .services
        .memory
        .add(&caller.tenant, &scope, &new.text, new.metadata)
        .await?;
    Ok((StatusCode::CREATED, Json(json!(entry))))
}

/// Deletes a memory entry.
#[utoipa::path(delete, path = "/v1/memory/{id}", tag = "memory",
    params(("id" = String, Path, description = "The entry's id")),
    responses((status = 204, description = "Deleted"),
              (status = 404, description = "No such entry", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn delete_memory(
    State(app): State<Shared>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    app.services.memory.delete(&caller.tenant, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
