//! A2A: the Agent2Agent protocol, v1.0 (JSON-RPC binding) with the 0.3 method names and shapes.
//!
//! An agent's card is at `/a2a/{agent}/.well-known/agent-card.json` (the default agent's also at
//! `/.well-known/agent-card.json`); its JSON-RPC endpoint is `POST /a2a/{agent}`. A message starts
//! or continues a run; `contextId` is the Pluto session; a task is one run, identified as
//! `SESSION.SEQ` (the number of its `run.started` event in the session log), so any instance
//! sharing the state store can answer for it. Runs started over A2A are not cancelled when the
//! client goes away: `CancelTask` cancels them.
//!
//! Version: the v1.0 method names (`SendMessage`, …) get v1.0 shapes (`TASK_STATE_COMPLETED`,
//! `{"task": …}` stream responses); the 0.3 names (`message/send`, …) — what a client without
//! the `A2A-Version: 1.0` header speaks — get 0.3 shapes (`"kind": "task"`, `"completed"`).

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use pluto_core::Event;
use pluto_runtime::Recorded;
use pluto_services::{NewSession, SessionId, StoreError, StoredEvent};
use serde_json::{Value, json};

use super::Shared;
use super::api::{ApiError, ApiResult, Caller, read_body};
use super::runs::{KEEP_ALIVE, RunRequest, Started, start_run};

/// The protocol version a request speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    V1,
    V03,
}

/// JSON-RPC and A2A error codes.
mod code {
    pub const PARSE: i64 = -32700;
    pub const INVALID_REQUEST: i64 = -32600;
    pub const METHOD_NOT_FOUND: i64 = -32601;
    pub const INVALID_PARAMS: i64 = -32602;
    pub const INTERNAL: i64 = -32603;
    pub const TASK_NOT_FOUND: i64 = -32001;
    pub const TASK_NOT_CANCELABLE: i64 = -32002;
    pub const UNSUPPORTED: i64 = -32004;
}

struct RpcError(i64, String);

fn rpc_error(id: &Value, e: RpcError) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": e.0, "message": e.1}})
}

fn rpc_result(id: &Value, result: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

impl From<ApiError> for RpcError {
    fn from(e: ApiError) -> Self {
        let code = match e.status.as_u16() {
            400 | 413 | 422 => code::INVALID_PARAMS,
            404 => code::TASK_NOT_FOUND,
            _ => code::INTERNAL,
        };
        RpcError(code, e.message)
    }
}

impl From<StoreError> for RpcError {
    fn from(e: StoreError) -> Self {
        RpcError::from(ApiError::from(e))
    }
}

/// The state of a task, from its run's events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TaskState {
    Working,
    Completed,
    Failed,
    Canceled,
}

impl TaskState {
    fn name(self, v: Version) -> &'static str {
        match (self, v) {
            (TaskState::Working, Version::V1) => "TASK_STATE_WORKING",
            (TaskState::Completed, Version::V1) => "TASK_STATE_COMPLETED",
            (TaskState::Failed, Version::V1) => "TASK_STATE_FAILED",
            (TaskState::Canceled, Version::V1) => "TASK_STATE_CANCELED",
            (TaskState::Working, Version::V03) => "working",
            (TaskState::Completed, Version::V03) => "completed",
            (TaskState::Failed, Version::V03) => "failed",
            (TaskState::Canceled, Version::V03) => "canceled",
        }
    }

    fn terminal(self) -> bool {
        self != TaskState::Working
    }
}

/// A task as its run's events describe it.
#[derive(Debug, Clone)]
struct Task {
    id: String,
    context: String,
    run_id: String,
    state: TaskState,
    input: String,
    output: Option<String>,
    error: Option<String>,
    at: String,
    tools: Vec<Value>,
}

fn text_part(v: Version, text: &str) -> Value {
    match v {
        Version::V1 => json!({"text": text}),
        Version::V03 => json!({"kind": "text", "text": text}),
    }
}

fn data_part(v: Version, data: Value) -> Value {
    match v {
        Version::V1 => json!({"data": data, "mediaType": "application/json"}),
        Version::V03 => json!({"kind": "data", "data": data}),
    }
}

fn message(v: Version, role: &str, id: String, task: &Task, parts: Vec<Value>) -> Value {
    let mut m = json!({
        "messageId": id,
        "contextId": task.context,
        "taskId": task.id,
        "parts": parts,
    });
    match v {
        Version::V1 => {
            m["role"] = json!(if role == "user" {
                "ROLE_USER"
            } else {
                "ROLE_AGENT"
            })
        }
        Version::V03 => {
            m["role"] = json!(role);
            m["kind"] = json!("message");
        }
    }
    m
}

impl Task {
    /// Folds a run's events (from its `run.started`) into a task.
    fn from_events(context: &SessionId, events: &[(u64, Event, String)]) -> Option<Task> {
        let (seq, first, at) = events.first()?;
        let Event::RunStarted { run_id, input, .. } = first else {
            return None;
        };
        let mut task = Task {
            id: format!("{context}.{seq}"),
            context: context.to_string(),
            run_id: run_id.clone(),
            state: TaskState::Working,
            input: input.clone(),
            output: None,
            error: None,
            at: at.clone(),
            tools: Vec::new(),
        };
        for (_, event, at) in &events[1..] {
            task.apply(event);
            task.at = at.clone();
            if task.state.terminal() {
                break;
            }
        }
        Some(task)
    }

    fn apply(&mut self, event: &Event) {
        match event {
            Event::RunCompleted { output, .. } => {
                self.state = TaskState::Completed;
                self.output = Some(output.clone());
            }
            Event::RunFailed { message, .. } => {
                self.state = TaskState::Failed;
                self.error = Some(message.clone());
            }
            Event::RunCancelled { .. } => self.state = TaskState::Canceled,
            Event::ToolCompleted {
                name,
                content,
                details,
                is_error,
                ..
            } => self.tools.push(
                json!({"tool": name, "content": content, "details": details, "isError": is_error}),
            ),
            _ => {}
        }
    }

    fn status_message(&self, v: Version) -> Option<Value> {
        let text = match self.state {
            TaskState::Completed => self.output.clone()?,
            TaskState::Failed => self.error.clone()?,
            _ => return None,
        };
        Some(message(
            v,
            "agent",
            format!("{}-answer", self.id),
            self,
            vec![text_part(v, &text)],
        ))
    }

    fn status(&self, v: Version) -> Value {
        let mut status = json!({"state": self.state.name(v), "timestamp": self.at});
        if let Some(m) = self.status_message(v) {
            status["message"] = m;
        }
        status
    }

    fn artifact(&self, v: Version) -> Option<Value> {
        let output = self.output.as_ref()?;
        Some(
            json!({"artifactId": format!("{}-answer", self.id), "name": "answer", "parts": [text_part(v, output)]}),
        )
    }

    fn to_json(&self, v: Version, details: bool) -> Value {
        let mut history = vec![message(
            v,
            "user",
            format!("{}-input", self.id),
            self,
            vec![text_part(v, &self.input)],
        )];
        if details && !self.tools.is_empty() {
            let parts = self.tools.iter().map(|t| data_part(v, t.clone())).collect();
            history.push(message(
                v,
                "agent",
                format!("{}-tools", self.id),
                self,
                parts,
            ));
        }
        if let Some(m) = self.status_message(v) {
            history.push(m);
        }
        let mut task = json!({
            "id": self.id,
            "contextId": self.context,
            "status": self.status(v),
            "artifacts": self.artifact(v).into_iter().collect::<Vec<_>>(),
            "history": history,
        });
        if v == Version::V03 {
            task["kind"] = json!("task");
        }
        task
    }
}

/// A task id's session and the number of its `run.started` event.
fn parse_task_id(id: &str) -> Option<(SessionId, u64)> {
    let (session, seq) = id.rsplit_once('.')?;
    Some((SessionId::new(session).ok()?, seq.parse().ok()?))
}

fn decode(events: Vec<StoredEvent>) -> Vec<(u64, Event, String)> {
    events
        .into_iter()
        .filter_map(|e| {
            let at = e.at.to_string();
            serde_json::from_value::<Event>(e.data)
                .ok()
                .map(|ev| (e.seq, ev, at))
        })
        .collect()
}

/// Reads the task `id` of `agent` from the session log.
async fn load_task(app: &Shared, caller: &Caller, agent: &str, id: &str) -> Result<Task, RpcError> {
    let missing = || RpcError(code::TASK_NOT_FOUND, format!("task {id} not found"));
    let (session, seq) = parse_task_id(id).ok_or_else(missing)?;
    let stored = match app.services.sessions.get(&caller.tenant, &session).await {
        Ok(s) if s.agent == agent => s,
        Ok(_) | Err(StoreError::NotFound { .. }) => return Err(missing()),
        Err(e) => return Err(e.into()),
    };
    let _ = stored;
    let events =
        pluto_services::all_events(&*app.services.sessions, &caller.tenant, &session, seq - 1)
            .await?;
    Task::from_events(&session, &decode(events))
        .filter(|t| t.id == id)
        .ok_or_else(missing)
}

/// The text of a message's text parts.
fn message_text(m: &Value) -> Result<String, RpcError> {
    let parts = m["parts"].as_array().ok_or_else(|| {
        RpcError(
            code::INVALID_PARAMS,
            "params.message.parts is missing".into(),
        )
    })?;
    let texts: Vec<&str> = parts.iter().filter_map(|p| p["text"].as_str()).collect();
    if texts.is_empty() || texts.iter().all(|t| t.trim().is_empty()) {
        return Err(RpcError(
            code::INVALID_PARAMS,
            "the message has no text part (this agent reads text)".into(),
        ));
    }
    Ok(texts.join("\n"))
}

/// Whether the client asked for tool details (`metadata: {"pluto/toolDetails": true}` on the
/// request or the message); they are never sent to the model either way.
fn wants_details(params: &Value) -> bool {
    params["metadata"]["pluto/toolDetails"] == json!(true)
        || params["message"]["metadata"]["pluto/toolDetails"] == json!(true)
}

/// Starts a run for a `SendMessage`/`message/send` request; returns the run and its task once
/// its `run.started` is recorded.
async fn send(
    app: &Shared,
    caller: &Caller,
    agent: &str,
    params: &Value,
) -> Result<(Started, Task), RpcError> {
    let m = &params["message"];
    if !m.is_object() {
        return Err(RpcError(
            code::INVALID_PARAMS,
            "params.message is missing".into(),
        ));
    }
    let input = message_text(m)?;
    let context = match m["contextId"].as_str().filter(|c| !c.is_empty()) {
        Some(c) => {
            let id = SessionId::new(c)
                .map_err(|e| RpcError(code::INVALID_PARAMS, format!("contextId: {e}")))?;
            // A context the client named first: a new session with that id.
            match app.services.sessions.get(&caller.tenant, &id).await {
                Ok(s) if s.agent != agent => {
                    return Err(RpcError(
                        code::INVALID_PARAMS,
                        format!("context {id} belongs to another agent"),
                    ));
                }
                Ok(_) => {}
                Err(StoreError::NotFound { .. }) => {
                    app.agents.get(&caller.tenant, agent).await?;
                    let new = NewSession {
                        agent: agent.to_owned(),
                        id: Some(id.clone()),
                        metadata: json!({"via": "a2a"}),
                    };
                    match app.services.sessions.create(&caller.tenant, new).await {
                        Ok(_) | Err(StoreError::Invalid(_)) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
                Err(e) => return Err(e.into()),
            }
            Some(id.to_string())
        }
        None => None,
    };
    let request = RunRequest {
        input,
        session_id: context,
        vars: BTreeMap::new(),
        stream: true,
        detach: true,
    };
    let mut started = start_run(app, caller, agent, request).await?;
    let first = tokio::time::timeout(Duration::from_secs(30), started.rx.recv())
        .await
        .ok()
        .flatten()
        .ok_or_else(|| RpcError(code::INTERNAL, "the run did not start".into()))?;
    let at = pluto_services::Timestamp::now().to_string();
    let task = Task::from_events(&started.session, &[(first.seq, first.event, at)])
        .ok_or_else(|| RpcError(code::INTERNAL, "the run did not start".into()))?;
    Ok((started, task))
}

/// What one recorded event means for a streaming client, if anything.
fn updates(v: Version, task: &mut Task, event: &Event, details: bool) -> Vec<Value> {
    task.apply(event);
    task.at = pluto_services::Timestamp::now().to_string();
    let status_update = |task: &Task, fin: bool| {
        let mut u = json!({"taskId": task.id, "contextId": task.context, "status": task.status(v)});
        match v {
            Version::V1 => json!({"statusUpdate": u}),
            Version::V03 => {
                u["kind"] = json!("status-update");
                u["final"] = json!(fin);
                u
            }
        }
    };
    match event {
        Event::ToolCompleted { .. } if details => {
            let last = task.tools.last().cloned().unwrap_or(Value::Null);
            let mut u = status_update(task, false);
            let m = message(
                v,
                "agent",
                format!("{}-tool-{}", task.id, task.tools.len()),
                task,
                vec![data_part(v, last)],
            );
            match v {
                Version::V1 => u["statusUpdate"]["status"]["message"] = m,
                Version::V03 => u["status"]["message"] = m,
            }
            vec![u]
        }
        Event::RunCompleted { .. } => {
            let artifact = task.artifact(v).unwrap_or(Value::Null);
            let mut a = json!({"taskId": task.id, "contextId": task.context, "artifact": artifact, "append": false, "lastChunk": true});
            let a = match v {
                Version::V1 => json!({"artifactUpdate": a}),
                Version::V03 => {
                    a["kind"] = json!("artifact-update");
                    a
                }
            };
            vec![a, status_update(task, true)]
        }
        Event::RunFailed { .. } | Event::RunCancelled { .. } => vec![status_update(task, true)],
        _ => Vec::new(),
    }
}

fn wrap_task(v: Version, task: Value) -> Value {
    match v {
        Version::V1 => json!({"task": task}),
        Version::V03 => task,
    }
}

/// A stream of JSON-RPC responses as SSE.
fn sse_of(rx: tokio::sync::mpsc::UnboundedReceiver<Value>) -> Response {
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|v| {
            (
                Ok::<_, Infallible>(SseEvent::default().data(v.to_string())),
                rx,
            )
        })
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response()
}

/// Follows a run's recorded events into stream responses until it ends.
fn follow(
    v: Version,
    id: Value,
    mut task: Task,
    mut rx: tokio::sync::mpsc::UnboundedReceiver<Recorded>,
    details: bool,
) -> Response {
    let (tx, out) = tokio::sync::mpsc::unbounded_channel::<Value>();
    let _ = tx.send(rpc_result(&id, wrap_task(v, task.to_json(v, false))));
    tokio::spawn(async move {
        while let Some(r) = rx.recv().await {
            for update in updates(v, &mut task, &r.event, details) {
                if tx.send(rpc_result(&id, update)).is_err() {
                    return;
                }
            }
            if task.state.terminal() {
                return;
            }
        }
    });
    sse_of(out)
}

/// Waits for the run behind `task` to end (up to `limit`), reading the log.
async fn settle(
    app: &Shared,
    caller: &Caller,
    agent: &str,
    task: &Task,
    limit: Duration,
) -> Result<Task, RpcError> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let now = load_task(app, caller, agent, &task.id).await?;
        if now.state.terminal() || tokio::time::Instant::now() >= deadline {
            return Ok(now);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The agent's JSON-RPC endpoint.
#[utoipa::path(post, path = "/a2a/{agent}", tag = "a2a",
    params(("agent" = String, Path, description = "The agent's name")),
    request_body(content = Object, description = "A JSON-RPC 2.0 request: SendMessage, SendStreamingMessage, GetTask, ListTasks, CancelTask, SubscribeToTask (v1.0) or message/send, message/stream, tasks/get, tasks/cancel, tasks/resubscribe (0.3)"),
    responses((status = 200, description = "A JSON-RPC response, or for the streaming methods an SSE stream of them")),
    security(("bearer" = [])))]
pub async fn rpc(
    State(app): State<Shared>,
    Extension(caller): Extension<Caller>,
    Path(agent): Path<String>,
    body: axum::body::Body,
) -> ApiResult<Response> {
    app.agents.get(&caller.tenant, &agent).await?;
    let bytes = read_body(body, app.limits.max_body).await?;
    let Ok(request) = serde_json::from_slice::<Value>(&bytes) else {
        return Ok(Json(rpc_error(
            &Value::Null,
            RpcError(code::PARSE, "the body is not JSON".into()),
        ))
        .into_response());
    };
    let id = request["id"].clone();
    if request["jsonrpc"] != "2.0" || !request["method"].is_string() {
        let e = RpcError(
            code::INVALID_REQUEST,
            "not a JSON-RPC 2.0 request (jsonrpc: \"2.0\", method)".into(),
        );
        return Ok(Json(rpc_error(&id, e)).into_response());
    }
    let method = request["method"].as_str().unwrap_or_default();
    let params = &request["params"];
    let answer = dispatch(&app, &caller, &agent, method, params, &id).await;
    Ok(match answer {
        Ok(Reply::Json(result)) => Json(rpc_result(&id, result)).into_response(),
        Ok(Reply::Stream(response)) => response,
        Err(e) => Json(rpc_error(&id, e)).into_response(),
    })
}

enum Reply {
    Json(Value),
    Stream(Response),
}

async fn dispatch(
    app: &Shared,
    caller: &Caller,
    agent: &str,
    method: &str,
    params: &Value,
    id: &Value,
) -> Result<Reply, RpcError> {
    let (v, op) = match method {
        "SendMessage" => (Version::V1, "send"),
        "SendStreamingMessage" => (Version::V1, "stream"),
        "GetTask" => (Version::V1, "get"),
        "ListTasks" => (Version::V1, "list"),
        "CancelTask" => (Version::V1, "cancel"),
        "SubscribeToTask" => (Version::V1, "subscribe"),
        "message/send" => (Version::V03, "send"),
        "message/stream" => (Version::V03, "stream"),
        "tasks/get" => (Version::V03, "get"),
        "tasks/cancel" => (Version::V03, "cancel"),
        "tasks/resubscribe" => (Version::V03, "subscribe"),
        m if m.contains("PushNotification") || m.starts_with("tasks/pushNotificationConfig") => {
            return Err(RpcError(
                code::UNSUPPORTED,
                "push notifications are not supported".into(),
            ));
        }
        other => {
            return Err(RpcError(
                code::METHOD_NOT_FOUND,
                format!("method `{other}` not found"),
            ));
        }
    };
    let details = wants_details(params);
    match op {
        "send" => {
            let (started, task) = send(app, caller, agent, params).await?;
            if params["configuration"]["returnImmediately"] == json!(true)
                || params["configuration"]["blocking"] == json!(false)
            {
                return Ok(Reply::Json(wrap_reply(v, task.to_json(v, details))));
            }
            let _ = started.task.await;
            let task = settle(app, caller, agent, &task, Duration::from_secs(10)).await?;
            Ok(Reply::Json(wrap_reply(v, task.to_json(v, details))))
        }
        "stream" => {
            let (started, task) = send(app, caller, agent, params).await?;
            Ok(Reply::Stream(follow(
                v,
                id.clone(),
                task,
                started.rx,
                details,
            )))
        }
        "get" => {
            let task_id = params["id"].as_str().unwrap_or_default();
            let task = load_task(app, caller, agent, task_id).await?;
            Ok(Reply::Json(task.to_json(v, details)))
        }
        "cancel" => {
            let task_id = params["id"].as_str().unwrap_or_default();
            let task = load_task(app, caller, agent, task_id).await?;
            if task.state.terminal() || !app.runs.cancel(&caller.tenant, &task.run_id) {
                return Err(RpcError(
                    code::TASK_NOT_CANCELABLE,
                    format!(
                        "task {task_id} is {} and cannot be canceled",
                        task.state.name(Version::V03)
                    ),
                ));
            }
            let task = settle(app, caller, agent, &task, Duration::from_secs(10)).await?;
            Ok(Reply::Json(task.to_json(v, details)))
        }
        "subscribe" => {
            let task_id = params["id"].as_str().unwrap_or_default();
            let task = load_task(app, caller, agent, task_id).await?;
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Recorded>();
            let live = (!task.state.terminal())
                .then(|| app.runs.follow(&caller.tenant, &task.run_id))
                .flatten();
            if let Some(mut live) = live {
                tokio::spawn(async move {
                    while let Ok(r) = live.recv().await {
                        if tx.send(r).is_err() {
                            return;
                        }
                    }
                });
            }
            Ok(Reply::Stream(follow(v, id.clone(), task, rx, details)))
        }
        _ => list(app, caller, agent, params, v).await.map(Reply::Json),
    }
}

fn wrap_reply(v: Version, task: Value) -> Value {
    match v {
        Version::V1 => json!({"task": task}),
        Version::V03 => task,
    }
}

/// `ListTasks`: the tasks of one context, or of the agent's newest sessions; newest first.
async fn list(
    app: &Shared,
    caller: &Caller,
    agent: &str,
    params: &Value,
    v: Version,
) -> Result<Value, RpcError> {
    let size = params["pageSize"].as_u64().map_or(50, |n| n.clamp(1, 100)) as usize;
    let sessions: Vec<SessionId> = match params["contextId"].as_str() {
        Some(c) => {
            vec![SessionId::new(c).map_err(|e| RpcError(code::INVALID_PARAMS, e.to_string()))?]
        }
        None => app
            .services
            .sessions
            .list(
                &caller.tenant,
                Some(agent),
                &pluto_services::Page::first(size),
            )
            .await?
            .items
            .into_iter()
            .map(|s| s.id)
            .collect(),
    };
    let mut tasks = Vec::new();
    for session in sessions {
        let events =
            match pluto_services::all_events(&*app.services.sessions, &caller.tenant, &session, 0)
                .await
            {
                Ok(e) => decode(e),
                Err(StoreError::NotFound { .. }) => continue,
                Err(e) => return Err(e.into()),
            };
        let starts: Vec<usize> = events
            .iter()
            .enumerate()
            .filter(|(_, (_, e, _))| matches!(e, Event::RunStarted { .. }))
            .map(|(i, _)| i)
            .collect();
        for i in starts.into_iter().rev() {
            if let Some(t) = Task::from_events(&session, &events[i..]) {
                tasks.push(t.to_json(v, false));
            }
        }
    }
    tasks.truncate(size);
    let n = tasks.len();
    Ok(json!({"tasks": tasks, "nextPageToken": "", "pageSize": size, "totalSize": n}))
}

/// The agent's card (A2A v1.0).
fn card(app: &Shared, prepared: &crate::compose::Prepared, headers: &HeaderMap) -> Value {
    let m = &prepared.agent.manifest;
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1:8080");
    let name = m.name.as_str();
    let skills: Vec<Value> = if m.card.skills.is_empty() {
        vec![
            json!({"id": name, "name": name, "description": m.description.to_string(), "tags": ["general"]}),
        ]
    } else {
        m.card
            .skills
            .iter()
            .map(|s| json!({"id": s.id.to_string(), "name": s.name.to_string(), "description": s.description.to_string(),
                           "tags": s.tags, "examples": s.examples}))
            .collect()
    };
    let mut card = json!({
        "name": name,
        "description": m.description.to_string(),
        "version": m.version.to_string(),
        "supportedInterfaces": [{"url": format!("http://{host}/a2a/{name}"), "protocolBinding": "JSONRPC", "protocolVersion": "1.0"}],
        "capabilities": {"streaming": true, "pushNotifications": false},
        "defaultInputModes": ["text/plain"],
        "defaultOutputModes": ["text/plain"],
        "skills": skills,
    });
    if let Some(p) = &m.card.provider {
        card["provider"] = json!({"organization": p.organization.to_string(), "url": p.url});
    }
    if let Some(url) = &m.card.documentation_url {
        card["documentationUrl"] = json!(url);
    }
    if let Some(url) = &m.card.icon_url {
        card["iconUrl"] = json!(url);
    }
    if !app.auth.trusted() {
        card["securitySchemes"] = json!({"bearer": {"httpAuthSecurityScheme": {"scheme": "Bearer", "description": "A Pluto API key"}}});
        card["securityRequirements"] = json!([{"schemes": {"bearer": {"list": []}}}]);
    }
    card
}

/// An agent's A2A Agent Card.
#[utoipa::path(get, path = "/a2a/{agent}/.well-known/agent-card.json", tag = "a2a",
    params(("agent" = String, Path, description = "The agent's name")),
    responses((status = 200, description = "The Agent Card (A2A v1.0)"),
              (status = 404, description = "No such agent", body = super::api::ErrorBody)),
    security(("bearer" = [])))]
pub async fn agent_card(
    State(app): State<Shared>,
    Extension(caller): Extension<Caller>,
    Path(agent): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    let prepared = app.agents.get(&caller.tenant, &agent).await?;
    Ok(Json(card(&app, &prepared, &headers)))
}

/// The default agent's card (`--default-agent`, or the only agent).
#[utoipa::path(get, path = "/.well-known/agent-card.json", tag = "a2a",
    responses((status = 200, description = "The default agent's Agent Card"),
              (status = 404, description = "No default agent", body = super::api::ErrorBody)),
    security(("bearer" = [])))]
pub async fn default_card(
    State(app): State<Shared>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    let name = app.default_agent(&caller).await?;
    let prepared = app.agents.get(&caller.tenant, &name).await?;
    Ok(Json(card(&app, &prepared, &headers)))
}
