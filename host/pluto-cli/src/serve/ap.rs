//! Agent Protocol v1: a task is a Pluto session, a step is one run (turn) in it, and the task's
//! artifacts are the session's artifacts. Served for each agent under `/agents/{agent}/ap/v1/…`
//! and for the default agent under `/ap/v1/…` (and its alias `/api/v1/…`). Errors use the
//! protocol's `{"message": "…"}` body: 404 for what does not exist, 422 for bad input.

use std::collections::HashMap;

use axum::extract::{Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use futures::StreamExt;
use pluto_core::Event;
use pluto_services::{NewSession, Page, Session, SessionId, StoreError};
use serde::Deserialize;
use serde_json::{Value, json};

use super::Shared;
use super::api::{ApiError, Caller, parse_json, read_body};
use super::runs::{RunRequest, start_run};

/// An error in the protocol's shape.
pub struct ApError(StatusCode, String);

impl IntoResponse for ApError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({"message": self.1}))).into_response()
    }
}

impl From<ApiError> for ApError {
    fn from(e: ApiError) -> Self {
        let status = match e.status.as_u16() {
            400 | 413 => StatusCode::UNPROCESSABLE_ENTITY,
            _ => e.status,
        };
        ApError(status, e.message)
    }
}

impl From<StoreError> for ApError {
    fn from(e: StoreError) -> Self {
        ApiError::from(e).into()
    }
}

type ApResult<T> = Result<T, ApError>;

/// The path's parameters by name (one handler serves the `/agents/{agent}` and the default
/// agent's prefixes, so the set of parameters varies).
pub struct PathParams(HashMap<String, String>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for PathParams {
    type Rejection = ApError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApError> {
        Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map(|Path(p)| PathParams(p))
            .map_err(|e| ApError(StatusCode::NOT_FOUND, e.to_string()))
    }
}

fn not_found(what: String) -> ApError {
    ApError(StatusCode::NOT_FOUND, format!("{what} not found"))
}

/// The agent a request is for: `{agent}` in the path, or the default agent.
async fn agent(
    app: &Shared,
    caller: &Caller,
    params: &HashMap<String, String>,
) -> ApResult<String> {
    let name = match params.get("agent") {
        Some(a) => a.clone(),
        None => app.default_agent(caller).await?,
    };
    app.agents.get(&caller.tenant, &name).await?;
    Ok(name)
}

/// The task (session) in the path, which must belong to the agent.
async fn session(
    app: &Shared,
    caller: &Caller,
    agent: &str,
    params: &HashMap<String, String>,
) -> ApResult<Session> {
    let raw = params
        .get("task_id")
        .map(String::as_str)
        .unwrap_or_default();
    let missing = || not_found(format!("task {raw}"));
    let id = SessionId::new(raw).map_err(|_| missing())?;
    match app.services.sessions.get(&caller.tenant, &id).await {
        Ok(s) if s.agent == agent => Ok(s),
        Ok(_) | Err(StoreError::NotFound { .. }) => Err(missing()),
        Err(e) => Err(e.into()),
    }
}

/// The agent and the task (session) a request names.
async fn task_of(
    app: &Shared,
    caller: &Caller,
    params: &HashMap<String, String>,
) -> ApResult<(String, Session)> {
    let agent = agent(app, caller, params).await?;
    let session = session(app, caller, &agent, params).await?;
    Ok((agent, session))
}

/// A page request.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct PageQuery {
    /// The page, from 1.
    #[serde(default)]
    #[param(minimum = 1, maximum = 4294967295_u64)]
    pub current_page: Option<u32>,
    /// Items per page (default 10, at most 100).
    #[serde(default)]
    #[param(minimum = 1, maximum = 100)]
    pub page_size: Option<u32>,
}

fn paginate(items: Vec<Value>, q: &PageQuery) -> (Vec<Value>, Value) {
    let size = q.page_size.unwrap_or(10).clamp(1, 100) as usize;
    let page = q.current_page.unwrap_or(1).max(1) as usize;
    let total = items.len();
    let pages = total.div_ceil(size);
    let items: Vec<Value> = items
        .into_iter()
        .skip((page - 1) * size)
        .take(size)
        .collect();
    (
        items,
        json!({"total_items": total, "total_pages": pages, "current_page": page, "page_size": size}),
    )
}

async fn artifacts_of(app: &Shared, caller: &Caller, session: &SessionId) -> ApResult<Vec<Value>> {
    let list = app.services.artifacts.list(&caller.tenant, session).await?;
    Ok(list
        .iter()
        .map(|a| json!({"artifact_id": a.name, "agent_created": false, "file_name": a.name, "relative_path": ""}))
        .collect())
}

async fn task_json(app: &Shared, caller: &Caller, s: &Session) -> ApResult<Value> {
    Ok(json!({
        "task_id": s.id,
        "input": s.metadata["ap"]["input"],
        "additional_input": s.metadata["ap"]["additional_input"],
        "artifacts": artifacts_of(app, caller, &s.id).await?,
    }))
}

/// A new task's input.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct TaskRequest {
    /// The task's input prompt (the first step's input when it has none).
    #[serde(default)]
    pub input: Option<String>,
    /// Anything else the client sends along.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub additional_input: Option<Value>,
}

/// Creates a task (a new session).
#[utoipa::path(post, path = "/agents/{agent}/ap/v1/agent/tasks", tag = "agent-protocol",
    params(("agent" = String, Path, description = "The agent (omit the prefix for the default agent: /ap/v1/agent/tasks, /api/v1/agent/tasks)")),
    request_body = TaskRequest,
    responses((status = 200, description = "The task"), (status = 422, description = "Bad input")),
    security(("bearer" = [])))]
pub async fn create_task(
    State(app): State<Shared>,
    Extension(caller): Extension<Caller>,
    PathParams(params): PathParams,
    body: axum::body::Body,
) -> ApResult<Json<Value>> {
    let agent = agent(&app, &caller, &params).await?;
    let bytes = read_body(body, app.limits.max_body).await?;
    let request: TaskRequest = if bytes.iter().all(u8::is_ascii_whitespace) {
        TaskRequest::default()
    } else {
        parse_json(&bytes)?
    };
    let session = app
        .services
        .sessions
        .create(
            &caller.tenant,
            NewSession {
                agent,
                id: None,
                metadata: json!({"via": "agent-protocol", "ap": {"input": request.input, "additional_input": request.additional_input}}),
            },
        )
        .await?;
    Ok(Json(task_json(&app, &caller, &session).await?))
}

/// Lists the agent's tasks, newest first.
#[utoipa::path(get, path = "/agents/{agent}/ap/v1/agent/tasks", tag = "agent-protocol",
    params(("agent" = String, Path, description = "The agent"), PageQuery),
    responses((status = 200, description = "`{tasks, pagination}`")),
    security(("bearer" = [])))]
pub async fn list_tasks(
    State(app): State<Shared>,
    Extension(caller): Extension<Caller>,
    PathParams(params): PathParams,
    Query(q): Query<PageQuery>,
) -> ApResult<Json<Value>> {
    let agent = agent(&app, &caller, &params).await?;
    let sessions = app
        .services
        .sessions
        .list(&caller.tenant, Some(&agent), &Page::first(Page::MAX))
        .await?
        .items;
    let mut tasks = Vec::new();
    for s in &sessions {
        tasks.push(json!({"task_id": s.id, "input": s.metadata["ap"]["input"],
                          "additional_input": s.metadata["ap"]["additional_input"], "artifacts": []}));
    }
    let (tasks, pagination) = paginate(tasks, &q);
    Ok(Json(json!({"tasks": tasks, "pagination": pagination})))
}

/// One task.
#[utoipa::path(get, path = "/agents/{agent}/ap/v1/agent/tasks/{task_id}", tag = "agent-protocol",
    params(("agent" = String, Path, description = "The agent"), ("task_id" = String, Path, description = "The task")),
    responses((status = 200, description = "The task"), (status = 404, description = "No such task")),
    security(("bearer" = [])))]
pub async fn get_task(
    State(app): State<Shared>,
    Extension(caller): Extension<Caller>,
    PathParams(params): PathParams,
) -> ApResult<Json<Value>> {
    let (_, s) = task_of(&app, &caller, &params).await?;
    Ok(Json(task_json(&app, &caller, &s).await?))
}

/// The steps (runs) of a session, from its log.
async fn steps_of(app: &Shared, caller: &Caller, s: &Session) -> ApResult<Vec<Value>> {
    let events =
        pluto_services::all_events(&*app.services.sessions, &caller.tenant, &s.id, 0).await?;
    let mut steps: Vec<Value> = Vec::new();
    for e in events {
        let Ok(event) = serde_json::from_value::<Event>(e.data) else {
            continue;
        };
        match event {
            Event::RunStarted { run_id, input, .. } => steps.push(json!({
                "task_id": s.id, "step_id": e.seq.to_string(), "name": "run", "input": input,
                "status": "running", "output": null, "additional_output": {"run_id": run_id},
                "artifacts": [], "is_last": false,
            })),
            Event::RunCompleted { output, .. } => {
                if let Some(step) = steps.last_mut() {
                    step["status"] = json!("completed");
                    step["output"] = json!(output);
                    step["is_last"] = json!(true);
                    step["additional_output"]["outcome"] = json!("completed");
                }
            }
            Event::RunFailed { message, code, .. } => {
                if let Some(step) = steps.last_mut() {
                    step["status"] = json!("completed");
                    step["output"] = json!(format!("The run failed ({code}): {message}"));
                    step["additional_output"]["outcome"] = json!("failed");
                }
            }
            Event::RunCancelled { .. } => {
                if let Some(step) = steps.last_mut() {
                    step["status"] = json!("completed");
                    step["additional_output"]["outcome"] = json!("cancelled");
                }
            }
            _ => {}
        }
    }
    Ok(steps)
}

/// A step's input.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct StepRequest {
    /// What the user says in this step (default: the task's input, for the first step).
    #[serde(default)]
    pub input: Option<String>,
    /// Anything else (accepted; the agent reads only `input`).
    #[serde(default)]
    #[schema(value_type = Object)]
    #[allow(dead_code)]
    pub additional_input: Option<Value>,
}

/// Executes a step: one run of the agent in the task's session.
#[utoipa::path(post, path = "/agents/{agent}/ap/v1/agent/tasks/{task_id}/steps", tag = "agent-protocol",
    params(("agent" = String, Path, description = "The agent"), ("task_id" = String, Path, description = "The task")),
    request_body = StepRequest,
    responses((status = 200, description = "The step, with the run's output; `is_last` when the agent answered"),
              (status = 404, description = "No such task"), (status = 422, description = "Bad input")),
    security(("bearer" = [])))]
pub async fn execute_step(
    State(app): State<Shared>,
    Extension(caller): Extension<Caller>,
    PathParams(params): PathParams,
    body: axum::body::Body,
) -> ApResult<Json<Value>> {
    let (agent, s) = task_of(&app, &caller, &params).await?;
    let bytes = read_body(body, app.limits.max_body).await?;
    let request: StepRequest = if bytes.iter().all(u8::is_ascii_whitespace) {
        StepRequest::default()
    } else {
        parse_json(&bytes)?
    };
    let input = request
        .input
        .filter(|i| !i.trim().is_empty())
        .or_else(|| {
            (s.last_seq == 0)
                .then(|| s.metadata["ap"]["input"].as_str().map(str::to_owned))
                .flatten()
        })
        .ok_or_else(|| {
            ApError(
                StatusCode::UNPROCESSABLE_ENTITY,
                "the step has no input (and the task's input was used by its first step)".into(),
            )
        })?;
    let run = RunRequest {
        input,
        session_id: Some(s.id.to_string()),
        vars: Default::default(),
        stream: false,
        detach: true,
    };
    let started = start_run(&app, &caller, &agent, run).await?;
    let _ = started.task.await;
    let steps = steps_of(&app, &caller, &s).await?;
    let step = steps
        .last()
        .cloned()
        .ok_or_else(|| not_found("the step".into()))?;
    Ok(Json(step))
}

/// The task's steps, oldest first.
#[utoipa::path(get, path = "/agents/{agent}/ap/v1/agent/tasks/{task_id}/steps", tag = "agent-protocol",
    params(("agent" = String, Path, description = "The agent"), ("task_id" = String, Path, description = "The task"), PageQuery),
    responses((status = 200, description = "`{steps, pagination}`"), (status = 404, description = "No such task")),
    security(("bearer" = [])))]
pub async fn list_steps(
    State(app): State<Shared>,
    Extension(caller): Extension<Caller>,
    PathParams(params): PathParams,
    Query(q): Query<PageQuery>,
) -> ApResult<Json<Value>> {
    let (_, s) = task_of(&app, &caller, &params).await?;
    let (steps, pagination) = paginate(steps_of(&app, &caller, &s).await?, &q);
    Ok(Json(json!({"steps": steps, "pagination": pagination})))
}

/// One step.
#[utoipa::path(get, path = "/agents/{agent}/ap/v1/agent/tasks/{task_id}/steps/{step_id}", tag = "agent-protocol",
    params(("agent" = String, Path, description = "The agent"), ("task_id" = String, Path, description = "The task"),
           ("step_id" = String, Path, description = "The step")),
    responses((status = 200, description = "The step"), (status = 404, description = "No such task or step")),
    security(("bearer" = [])))]
pub async fn get_step(
    State(app): State<Shared>,
    Extension(caller): Extension<Caller>,
    PathParams(params): PathParams,
) -> ApResult<Json<Value>> {
    let (_, s) = task_of(&app, &caller, &params).await?;
    let id = params.get("step_id").cloned().unwrap_or_default();
    steps_of(&app, &caller, &s)
        .await?
        .into_iter()
        .find(|step| step["step_id"] == id.as_str())
        .map(Json)
        .ok_or_else(|| not_found(format!("step {id}")))
}

/// The parts of an artifact upload.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct ArtifactUpload {
    /// The file.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
    /// Where the file belongs in the task's folder.
    relative_path: Option<String>,
}

/// Uploads an artifact (multipart: `file`, optional `relative_path`), streamed to the store.
#[utoipa::path(post, path = "/agents/{agent}/ap/v1/agent/tasks/{task_id}/artifacts", tag = "agent-protocol",
    params(("agent" = String, Path, description = "The agent"), ("task_id" = String, Path, description = "The task")),
    request_body(content_type = "multipart/form-data", description = "`file` and an optional `relative_path`", content = ArtifactUpload),
    responses((status = 200, description = "The artifact"), (status = 404, description = "No such task"),
              (status = 422, description = "No file, or a bad file name")),
    security(("bearer" = [])))]
pub async fn upload_artifact(
    State(app): State<Shared>,
    Extension(caller): Extension<Caller>,
    PathParams(params): PathParams,
    mut form: Multipart,
) -> ApResult<Json<Value>> {
    let (_, s) = task_of(&app, &caller, &params).await?;
    let bad = |m: String| ApError(StatusCode::UNPROCESSABLE_ENTITY, m);
    let mut relative_path = String::new();
    let mut saved = None;
    while let Some(mut field) = form.next_field().await.map_err(|e| bad(e.to_string()))? {
        match field.name() {
            Some("relative_path") => {
                relative_path = field.text().await.map_err(|e| bad(e.to_string()))?
            }
            Some("file") => {
                let name = field
                    .file_name()
                    .unwrap_or("upload")
                    .rsplit('/')
                    .next()
                    .unwrap_or("upload")
                    .to_owned();
                let content_type = field
                    .content_type()
                    .unwrap_or("application/octet-stream")
                    .to_owned();
                // The field borrows the form: its chunks go to the store through a channel.
                let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<bytes::Bytes>>(8);
                let body = futures::stream::unfold(rx, |mut rx| async move {
                    rx.recv().await.map(|c| (c, rx))
                })
                .boxed();
                let store = app.services.artifacts.clone();
                let (tenant, id, n) = (caller.tenant.clone(), s.id.clone(), name.clone());
                let save =
                    tokio::spawn(
                        async move { store.save(&tenant, &id, &n, &content_type, body).await },
                    );
                loop {
                    match field.chunk().await {
                        Ok(Some(chunk)) => {
                            if tx.send(Ok(chunk)).await.is_err() {
                                break;
                            }
                        }
                        Ok(None) => break,
                        Err(e) => {
                            let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
                            break;
                        }
                    }
                }
                drop(tx);
                let version = save
                    .await
                    .map_err(|e| ApError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))??;
                saved = Some(version.name);
            }
            _ => {}
        }
    }
    let name = saved.ok_or_else(|| bad("the form has no `file` field".into()))?;
    Ok(Json(
        json!({"artifact_id": name, "agent_created": false, "file_name": name, "relative_path": relative_path}),
    ))
}

/// The task's artifacts.
#[utoipa::path(get, path = "/agents/{agent}/ap/v1/agent/tasks/{task_id}/artifacts", tag = "agent-protocol",
    params(("agent" = String, Path, description = "The agent"), ("task_id" = String, Path, description = "The task"), PageQuery),
    responses((status = 200, description = "`{artifacts, pagination}`"), (status = 404, description = "No such task")),
    security(("bearer" = [])))]
pub async fn list_artifacts(
    State(app): State<Shared>,
    Extension(caller): Extension<Caller>,
    PathParams(params): PathParams,
    Query(q): Query<PageQuery>,
) -> ApResult<Json<Value>> {
    let (_, s) = task_of(&app, &caller, &params).await?;
    let (artifacts, pagination) = paginate(artifacts_of(&app, &caller, &s.id).await?, &q);
    Ok(Json(
        json!({"artifacts": artifacts, "pagination": pagination}),
    ))
}

/// Downloads an artifact (its latest version).
#[utoipa::path(get, path = "/agents/{agent}/ap/v1/agent/tasks/{task_id}/artifacts/{artifact_id}", tag = "agent-protocol",
    params(("agent" = String, Path, description = "The agent"), ("task_id" = String, Path, description = "The task"),
           ("artifact_id" = String, Path, description = "The artifact")),
    responses((status = 200, description = "The bytes"), (status = 404, description = "No such task or artifact")),
    security(("bearer" = [])))]
pub async fn download_artifact(
    State(app): State<Shared>,
    Extension(caller): Extension<Caller>,
    PathParams(params): PathParams,
) -> ApResult<Response> {
    let (_, s) = task_of(&app, &caller, &params).await?;
    let name = params.get("artifact_id").cloned().unwrap_or_default();
    let (meta, stream) = app
        .services
        .artifacts
        .load(&caller.tenant, &s.id, &name, None)
        .await
        .map_err(|e| match e {
            StoreError::NotFound { .. } | StoreError::Invalid(_) => {
                not_found(format!("artifact {name}"))
            }
            other => other.into(),
        })?;
    Ok((
        [
            (
                axum::http::header::CONTENT_TYPE,
                "application/octet-stream".to_owned(),
            ),
            (axum::http::header::CONTENT_LENGTH, meta.size.to_string()),
            (
                axum::http::header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}\"", meta.name),
            ),
        ],
        axum::body::Body::from_stream(stream),
    )
        .into_response())
}

/// Where the default agent's routes are, besides `/agents/{agent}`.
pub const DEFAULT_PREFIXES: [&str; 2] = ["/ap/v1", "/api/v1"];
