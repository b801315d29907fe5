//! The WebSocket transport: one connection carries several runs. The client sends
//! `{"type": "run", "input", "session_id"?, "vars"?, "detach"?, "request_id"?}` and
//! `{"type": "cancel", "run_id"}`; the server answers `{"type": "run.accepted", "run_id",
//! "session_id", "request_id"}`, then each event as `{"type": "event", "run_id", "id", "event",
//! "data"}`, and errors as `{"type": "error", "request_id"?, "error": {"code", "message"}}`.
//! Closing the connection cancels its runs, except those sent with `"detach": true`.

use std::collections::{BTreeMap, HashMap};

use axum::Extension;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::response::Response;
use futures::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::Shared;
use super::api::{ApiError, Caller};
use super::runs::{RunRequest, Started, start_run};

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
enum ClientMessage {
    Run {
        input: String,
        #[serde(default)]
        session_id: Option<String>,
        #[serde(default)]
        vars: BTreeMap<String, String>,
        #[serde(default)]
        detach: bool,
        #[serde(default)]
        request_id: Option<String>,
    },
    Cancel {
        run_id: String,
    },
}

fn error(request_id: Option<&str>, e: &ApiError) -> Value {
    json!({"type": "error", "request_id": request_id, "error": {"code": e.code, "message": e.message}})
}

/// Upgrades to a WebSocket carrying runs of the agent.
#[utoipa::path(get, path = "/v1/agents/{agent}/ws", tag = "runs",
    params(("agent" = String, Path, description = "The agent's name")),
    responses((status = 101, description = "Switching to the WebSocket protocol: run requests and cancels in, the same events as SSE out, as JSON messages")),
    security(("bearer" = [])))]
pub async fn websocket(
    State(app): State<Shared>,
    Extension(caller): Extension<Caller>,
    Path(agent): Path<String>,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    app.agents.get(&caller.tenant, &agent).await?;
    let limit = app.limits.max_body;
    Ok(ws
        .max_message_size(limit)
        .on_upgrade(move |socket| connection(app, caller, agent, socket)))
}

async fn connection(app: Shared, caller: Caller, agent: String, socket: WebSocket) {
    let (mut sink, mut incoming) = socket.split();
    let (out, mut outgoing) = mpsc::unbounded_channel::<Value>();
    let writer = tokio::spawn(async move {
        while let Some(message) = outgoing.recv().await {
            if sink
                .send(Message::Text(message.to_string().into()))
                .await
                .is_err()
            {
                break;
            }
        }
        let _ = sink.close().await;
    });
    let mut runs: HashMap<String, (CancellationToken, bool)> = HashMap::new();
    while let Some(Ok(message)) = incoming.next().await {
        let text = match message {
            Message::Text(text) => text.to_string(),
            Message::Close(_) => break,
            _ => continue,
        };
        let parsed: ClientMessage = match super::api::parse_json(text.as_bytes()) {
            Ok(m) => m,
            Err(e) => {
                let _ = out.send(error(None, &e));
                continue;
            }
        };
        match parsed {
            ClientMessage::Cancel { run_id } => match runs.get(&run_id) {
                Some((token, _)) => token.cancel(),
                None => {
                    let e = ApiError::not_found(format!("run {run_id} is not on this connection"));
                    let _ = out.send(error(None, &e));
                }
            },
            ClientMessage::Run {
                input,
                session_id,
                vars,
                detach,
                request_id,
            } => {
                let request = RunRequest {
                    input,
                    session_id,
                    vars,
                    stream: true,
                    detach,
                };
                if request.input.trim().is_empty() {
                    let e = ApiError::invalid("field `input`: is empty");
                    let _ = out.send(error(request_id.as_deref(), &e));
                    continue;
                }
                match start_run(&app, &caller, &agent, request).await {
                    Err(e) => {
                        let _ = out.send(error(request_id.as_deref(), &e));
                    }
                    Ok(Started {
                        run_id,
                        session,
                        cancel,
                        mut rx,
                        ..
                    }) => {
                        runs.insert(run_id.clone(), (cancel, detach));
                        let _ = out.send(json!({"type": "run.accepted", "run_id": run_id,
                            "session_id": session, "request_id": request_id}));
                        let out = out.clone();
                        tokio::spawn(async move {
                            while let Some(r) = rx.recv().await {
                                let _ = out.send(json!({"type": "event", "run_id": run_id,
                                    "id": r.seq, "event": r.event.name(), "data": r.event}));
                            }
                        });
                    }
                }
            }
        }
    }
    for (token, detach) in runs.values() {
        if !detach {
            token.cancel();
        }
    }
    drop(out);
    let _ = writer.await;
}
