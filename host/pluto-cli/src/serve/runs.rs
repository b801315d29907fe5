//! Runs over HTTP: started by a request, streamed as SSE (or awaited as JSON), cancellable,
//! and re-joinable: a client that reconnects to a session's events with `Last-Event-ID` gets
//! what it missed from the log, then the live rest.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use futures::Stream;
use pluto_core::Event;
use pluto_runtime::{Outcome, Recorded, RunReport};
use pluto_services::{SessionId, StoreError, StoredEvent, Tenant};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;
use utoipa::ToSchema;

use super::api::{ApiError, ApiResult, Caller, JsonBody};
use super::{Shared, metrics};

/// How often a keep-alive comment goes down an idle SSE stream.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// A run in progress on this instance.
struct Live {
    tenant: Tenant,
    session: SessionId,
    cancel: CancellationToken,
    events: broadcast::Sender<Recorded>,
}

/// The runs in progress on this instance.
#[derive(Default)]
pub struct Registry {
    runs: Mutex<HashMap<String, Live>>,
}

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Live>> {
        self.runs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// How many runs the tenant has in progress here.
    pub fn active(&self, tenant: &Tenant) -> usize {
        self.lock().values().filter(|l| &l.tenant == tenant).count()
    }

    /// How many runs are in progress here.
    pub fn total(&self) -> usize {
        self.lock().len()
    }

    /// Cancels every run (at shutdown).
    pub fn cancel_all(&self) {
        for live in self.lock().values() {
            live.cancel.cancel();
        }
    }

    /// Cancels the tenant's run `run_id` if it is in progress here.
    pub fn cancel(&self, tenant: &Tenant, run_id: &str) -> bool {
        match self.lock().get(run_id) {
            Some(live) if &live.tenant == tenant => {
                live.cancel.cancel();
                true
            }
            _ => false,
        }
    }

    /// The live events of the tenant's run `run_id`, if it is in progress here.
    pub fn follow(&self, tenant: &Tenant, run_id: &str) -> Option<broadcast::Receiver<Recorded>> {
        self.lock()
            .get(run_id)
            .filter(|l| &l.tenant == tenant)
            .map(|l| l.events.subscribe())
    }

    /// The live events of the session's run in progress here, if there is one.
    fn subscribe(
        &self,
        tenant: &Tenant,
        session: &SessionId,
    ) -> Option<broadcast::Receiver<Recorded>> {
        self.lock()
            .values()
            .find(|l| &l.tenant == tenant && &l.session == session)
            .map(|l| l.events.subscribe())
    }
}

/// A run request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunRequest {
    /// What the user says.
    #[schema(min_length = 1)]
    pub input: String,
    /// Continue this session (default: a new one).
    #[serde(default)]
    #[schema(pattern = r"^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}$")]
    pub session_id: Option<String>,
    /// Values for the instructions' `{{vars.NAME}}`.
    #[serde(default)]
    pub vars: BTreeMap<String, String>,
    /// Stream the events as SSE (also when `Accept: text/event-stream`).
    #[serde(default)]
    pub stream: bool,
    /// Keep running when the client disconnects (default: a disconnect cancels the run).
    #[serde(default)]
    pub detach: bool,
}

/// A finished run.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunResult {
    /// The run's id.
    pub run_id: String,
    /// The session it belongs to.
    pub session_id: String,
    /// `completed`, `failed` or `cancelled`.
    pub status: String,
    /// The answer, when completed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Value>,
    /// Model turns taken.
    pub turns: u32,
    /// Tokens used.
    #[schema(value_type = Object)]
    pub usage: Value,
    /// The number of the run's last event in the session log.
    pub last_event_id: u64,
}

fn wants_sse(headers: &HeaderMap) -> bool {
    headers
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/event-stream"))
}

/// One event as SSE: `event:` its name, `id:` its number in the session, `data:` its JSON.
fn sse_event(recorded: &Recorded) -> SseEvent {
    SseEvent::default()
        .event(recorded.event.name())
        .id(recorded.seq.to_string())
        .json_data(&recorded.event)
        .unwrap_or_else(|_| SseEvent::default().comment("unencodable event"))
}

/// Cancels the run when dropped, unless disarmed (the stream or request went away).
struct CancelOnDrop(Option<CancellationToken>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(token) = self.0.take() {
            token.cancel();
        }
    }
}

/// Starts a run of an agent.
#[utoipa::path(
    post,
    path = "/v1/agents/{agent}/runs",
    tag = "runs",
    params(("agent" = String, Path, description = "The agent's name")),
    request_body = RunRequest,
    responses(
        (status = 200, description = "The finished run, or with `stream` its events as SSE (`event:` name, `id:` number, `data:` JSON)", body = RunResult),
        (status = 400, description = "Bad input", body = super::api::ErrorBody),
        (status = 401, description = "No or a wrong key", body = super::api::ErrorBody),
        (status = 404, description = "No such agent or session", body = super::api::ErrorBody),
        (status = 409, description = "The session has a run in progress", body = super::api::ErrorBody),
        (status = 413, description = "The body is too large", body = super::api::ErrorBody),
        (status = 429, description = "Too many runs in progress for this tenant", body = super::api::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn create_run(
    State(app): State<Shared>,
    Extension(caller): Extension<Caller>,
    Path(agent): Path<String>,
    headers: HeaderMap,
    JsonBody(request): JsonBody<RunRequest>,
) -> ApiResult<Response> {
    let (stream, detach) = (request.stream || wants_sse(&headers), request.detach);
    let Started {
        run_id: spec_run_id,
        session,
        cancel,
        rx,
        task,
    } = start_run(&app, &caller, &agent, request).await?;
    let guard = CancelOnDrop((!detach).then(|| cancel.clone()));
    if stream {
        app.metrics.streams.inc();
        let body = RunStream {
            rx,
            _guard: guard,
            _gauge: metrics::GaugeGuard(app.metrics.streams.clone()),
        };
        let mut response = Sse::new(body)
            .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
            .into_response();
        let headers = response.headers_mut();
        headers.insert("x-run-id", header(&spec_run_id));
        headers.insert("x-session-id", header(session.as_str()));
        return Ok(response);
    }
    let mut guard = guard;
    let report = task
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?;
    guard.0 = None;
    let report = report?;
    drop(rx);
    let last = app
        .services
        .sessions
        .get(&caller.tenant, &session)
        .await
        .map(|s| s.last_seq)
        .unwrap_or(0);
    Ok(Json(result(spec_run_id, &session, report, last)).into_response())
}

/// A run started: its events arrive on `rx` once recorded; `task` ends with its report.
pub struct Started {
    /// The run's id.
    pub run_id: String,
    /// Its session.
    pub session: SessionId,
    /// Cancels it.
    pub cancel: CancellationToken,
    /// Its events, numbered.
    pub rx: mpsc::UnboundedReceiver<Recorded>,
    /// The run itself.
    pub task: tokio::task::JoinHandle<Result<RunReport, StoreError>>,
}

/// Starts a run of `agent` for `caller` (shared by the HTTP and WebSocket transports).
pub async fn start_run(
    app: &Shared,
    caller: &Caller,
    agent: &str,
    request: RunRequest,
) -> ApiResult<Started> {
    if request.input.trim().is_empty() {
        return Err(ApiError::invalid("field `input`: is empty"));
    }
    if app.shutdown.is_cancelled() {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            "the server is shutting down",
        ));
    }
    let prepared = app.agents.get(&caller.tenant, agent).await?;
    let session = match &request.session_id {
        Some(raw) => Some(
            SessionId::new(raw.as_str())
                .map_err(|e| ApiError::invalid(format!("field `session_id`: {e}")))?,
        ),
        None => None,
    };
    let system = prepared
        .system_with(&request.vars)
        .map_err(|e| ApiError::invalid(format!("field `vars`: {e:#}")))?;
    if app.runs.active(&caller.tenant) >= app.limits.runs_per_tenant {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_runs",
            format!(
                "this tenant already has {} runs in progress (the limit)",
                app.limits.runs_per_tenant
            ),
        ));
    }
    let (session, _) = prepared
        .open_session(session.as_ref().map(SessionId::as_str))
        .await
        .map_err(|e| match e.downcast::<StoreError>() {
            Ok(store) => ApiError::from(store),
            Err(other) => ApiError::new(StatusCode::CONFLICT, "conflict", format!("{other:#}")),
        })?;
    if app.runs.subscribe(&caller.tenant, &session).is_some() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            format!("session {session} has a run in progress"),
        ));
    }
    let at = prepared
        .session(session.clone())
        .map_err(|e| ApiError::invalid(format!("{e:#}")))?;

    let spec_run_id = uuid::Uuid::now_v7().to_string();
    let cancel = app.shutdown_runs.child_token();
    // Live followers that fall behind catch up from the log, so the buffer can stay small
    // (its slots are allocated up front: 256 cost ~30 KiB per run).
    let (events, _) = broadcast::channel::<Recorded>(256);
    app.runs.lock().insert(
        spec_run_id.clone(),
        Live {
            tenant: caller.tenant.clone(),
            session: session.clone(),
            cancel: cancel.clone(),
            events: events.clone(),
        },
    );
    let (tx, rx) = mpsc::unbounded_channel::<Recorded>();
    let task = tokio::spawn({
        let (app, run_id, agent, cancel) = (
            app.clone(),
            spec_run_id.clone(),
            agent.to_owned(),
            cancel.clone(),
        );
        async move {
            let mut spec = prepared.spec();
            spec.run_id = run_id.clone();
            spec.system = &system;
            let (out, mut recorded) = mpsc::unbounded_channel::<Recorded>();
            let forward = tokio::spawn({
                let (events, metrics) = (events.clone(), app.metrics.clone());
                let agent = agent.clone();
                async move {
                    let mut timer = metrics::RunTimer::new(&agent);
                    while let Some(r) = recorded.recv().await {
                        timer.observe(&metrics, &r.event);
                        let _ = events.send(r.clone());
                        let _ = tx.send(r);
                    }
                }
            });
            let report = pluto_runtime::run_in_session(
                &spec,
                &*prepared.provider,
                &prepared.tools,
                out,
                &at,
                request.input,
                &cancel,
            )
            .await;
            let _ = forward.await;
            app.runs.lock().remove(&run_id);
            report
        }
    });

    Ok(Started {
        run_id: spec_run_id,
        session,
        cancel,
        rx,
        task,
    })
}

fn header(value: &str) -> axum::http::HeaderValue {
    axum::http::HeaderValue::from_str(value).unwrap_or(axum::http::HeaderValue::from_static(""))
}

fn result(run_id: String, session: &SessionId, report: RunReport, last: u64) -> RunResult {
    let (status, output, error) = match report.outcome {
        Outcome::Completed { output } => ("completed", Some(output), None),
        Outcome::Failed { code, message } => (
            "failed",
            None,
            Some(json!({"code": code, "message": message})),
        ),
        Outcome::Cancelled => ("cancelled", None, None),
    };
    RunResult {
        run_id,
        session_id: session.to_string(),
        status: status.into(),
        output,
        error,
        turns: report.turns,
        usage: json!(report.usage),
        last_event_id: last,
    }
}

/// The SSE body of a run: its events as they are recorded.
struct RunStream {
    rx: mpsc::UnboundedReceiver<Recorded>,
    _guard: CancelOnDrop,
    _gauge: metrics::GaugeGuard,
}

impl Stream for RunStream {
    type Item = Result<SseEvent, Infallible>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        match self.rx.poll_recv(cx) {
            std::task::Poll::Ready(Some(r)) => {
                if r.event.name().starts_with("run.") && r.event.name() != "run.started" {
                    // The run is over: a disconnect from here on cancels nothing.
                    self._guard.0 = None;
                }
                std::task::Poll::Ready(Some(Ok(sse_event(&r))))
            }
            std::task::Poll::Ready(None) => std::task::Poll::Ready(None),
            std::task::Poll::Pending => std::task::Poll::Pending,
        }
    }
}

/// Cancels a run in progress.
#[utoipa::path(
    post,
    path = "/v1/runs/{run_id}/cancel",
    tag = "runs",
    params(("run_id" = String, Path, description = "The run's id")),
    responses(
        (status = 202, description = "Cancelling: the run ends with `run.cancelled`"),
        (status = 404, description = "No such run in progress", body = super::api::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn cancel_run(
    State(app): State<Shared>,
    Extension(caller): Extension<Caller>,
    Path(run_id): Path<String>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let runs = app.runs.lock();
    match runs.get(&run_id) {
        Some(live) if live.tenant == caller.tenant => {
            live.cancel.cancel();
            Ok((
                StatusCode::ACCEPTED,
                Json(json!({"run_id": run_id, "status": "cancelling"})),
            ))
        }
        _ => Err(ApiError::not_found(format!(
            "run {run_id} is not in progress here"
        ))),
    }
}

/// Where to read a session's events from.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct EventsQuery {
    /// Events after this number (default 0: from the start; `Last-Event-ID` wins for SSE).
    #[serde(default)]
    pub after: u64,
    /// The most events in a JSON answer (default 1000, at most 10000).
    #[serde(default)]
    pub limit: Option<usize>,
}

fn is_terminal(data: &Value) -> bool {
    matches!(
        data["type"].as_str(),
        Some("run.completed" | "run.failed" | "run.cancelled")
    )
}

/// Sends a stored event on; `false` when the client has gone.
fn forward(tx: &mpsc::UnboundedSender<Recorded>, e: StoredEvent) -> bool {
    match serde_json::from_value::<Event>(e.data) {
        Ok(event) => tx.send(Recorded { seq: e.seq, event }).is_ok(),
        // An event this version does not know is skipped, not sent half-understood.
        Err(_) => true,
    }
}

/// A session's events: JSON, or SSE with resume (`Last-Event-ID`) that re-joins a live run.
#[utoipa::path(
    get,
    path = "/v1/sessions/{id}/events",
    tag = "sessions",
    params(("id" = String, Path, description = "The session's id"), EventsQuery,
           ("Last-Event-ID" = Option<u64>, Header, description = "SSE resume: the last event the client saw")),
    responses(
        (status = 200, description = "`{\"events\": [{id, event, at, data}]}`, or with `Accept: text/event-stream` the events after `Last-Event-ID`, then the live rest of a run in progress"),
        (status = 404, description = "No such session", body = super::api::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn session_events(
    State(app): State<Shared>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Query(q): Query<EventsQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let id = SessionId::new(id).map_err(|e| ApiError::invalid(e.to_string()))?;
    let store = app.services.sessions.clone();
    let tenant = caller.tenant.clone();
    if !wants_sse(&headers) {
        let limit = q.limit.unwrap_or(1000).clamp(1, 10_000);
        let events = store.events(&tenant, &id, q.after, limit).await?;
        let events: Vec<Value> = events
            .into_iter()
            .map(|e| {
                let name = e.data["type"].as_str().unwrap_or("unknown").to_owned();
                json!({"id": e.seq, "event": name, "at": e.at, "data": e.data})
            })
            .collect();
        return Ok(Json(json!({"events": events})).into_response());
    }
    let after = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(q.after);
    // Subscribe before reading the log, so that nothing falls between the two.
    let live = app.runs.subscribe(&tenant, &id);
    let backlog = pluto_services::all_events(&*store, &tenant, &id, after).await?;
    let in_progress = match backlog.last() {
        Some(last) => !is_terminal(&last.data),
        None => {
            let session = store.get(&tenant, &id).await?;
            let tail = store
                .events(&tenant, &id, session.last_seq.saturating_sub(1), 1)
                .await?;
            tail.last().is_some_and(|e| !is_terminal(&e.data))
        }
    };
    let (tx, rx) = mpsc::unbounded_channel::<Recorded>();
    app.metrics.streams.inc();
    let gauge = metrics::GaugeGuard(app.metrics.streams.clone());
    let shutdown = app.shutdown.clone();
    tokio::spawn(async move {
        let _gauge = gauge;
        let mut last = after;
        let mut done = false;
        for e in backlog {
            last = e.seq;
            done = is_terminal(&e.data);
            if !forward(&tx, e) {
                return;
            }
        }
        if done || !in_progress {
            return;
        }
        match live {
            // The run is here: its live events, minus those already sent from the log.
            Some(mut live) => loop {
                match live.recv().await {
                    Ok(r) if r.seq <= last => {}
                    Ok(r) => {
                        last = r.seq;
                        let end =
                            r.event.name().starts_with("run.") && r.event.name() != "run.started";
                        if tx.send(r).is_err() || end {
                            return;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        // Too slow for the live feed: catch up from the log and go on.
                        let Ok(missed) =
                            pluto_services::all_events(&*store, &tenant, &id, last).await
                        else {
                            return;
                        };
                        for e in missed {
                            last = e.seq;
                            if !forward(&tx, e) {
                                return;
                            }
                        }
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            },
            // The run is on another instance: follow the log until it ends.
            None => {
                let started = Instant::now();
                while started.elapsed() < Duration::from_secs(3600) && !shutdown.is_cancelled() {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    let Ok(new) = pluto_services::all_events(&*store, &tenant, &id, last).await
                    else {
                        return;
                    };
                    for e in new {
                        last = e.seq;
                        let end = is_terminal(&e.data);
                        if !forward(&tx, e) {
                            return;
                        }
                        if end {
                            return;
                        }
                    }
                }
            }
        }
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|r| (Ok::<_, Infallible>(sse_event(&r)), rx))
    });
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response())
}
