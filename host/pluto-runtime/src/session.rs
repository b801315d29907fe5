//! A run inside a stored session: the conversation is rebuilt from the session's event log, the
//! agent's memory is searched for the input, and every event of the run is appended to the log
//! (in batches, with the log's optimistic concurrency) before it is handed on with its number.

use std::collections::HashMap;
use std::sync::Arc;

use pluto_core::{Event, EventSink, Message, Provider, ToolExecutor};
use pluto_services::{
    MemoryStore, Scope, SessionId, SessionStore, StoreError, StoredEvent, Tenant, all_events,
};
use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};
use tokio_util::sync::CancellationToken;

use crate::run::{RunReport, RunSpec, run};

/// An event as recorded: its number in the session's log, and the event.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    /// Its sequence number in the session log (the SSE `id:`).
    pub seq: u64,
    /// The event.
    pub event: Event,
}

/// Where a run is kept and what it remembers.
#[derive(Clone)]
pub struct SessionContext {
    /// The session store.
    pub sessions: Arc<dyn SessionStore>,
    /// The tenant the session belongs to.
    pub tenant: Tenant,
    /// The session.
    pub session: SessionId,
    /// The agent's memory and its scope, when the agent has memory.
    pub memory: Option<(Arc<dyn MemoryStore>, Scope)>,
}

/// How many memory hits go into the system prompt.
pub const MEMORY_HITS: usize = 5;

/// Rebuilds the conversation from a session's events: the runs that completed, each as the
/// runtime kept it (the input, every assistant turn, the tool results in call order). Runs that
/// failed, were cancelled or never finished leave nothing, as in [`run`].
pub fn history(events: &[StoredEvent]) -> Vec<Message> {
    let mut history = Vec::new();
    let mut pending: Vec<Message> = Vec::new();
    let mut calls: Vec<String> = Vec::new();
    let mut results: HashMap<String, Message> = HashMap::new();
    for stored in events {
        // Events of other kinds (or newer versions) are not part of the conversation.
        let Ok(event) = serde_json::from_value::<Event>(stored.data.clone()) else {
            continue;
        };
        match event {
            Event::RunStarted { input, .. } => {
                pending = vec![Message::user(input)];
                calls.clear();
                results.clear();
            }
            Event::MessageCompleted {
                text, tool_calls, ..
            } => {
                calls = tool_calls.iter().map(|c| c.id.clone()).collect();
                pending.push(Message::Assistant {
                    content: text,
                    tool_calls,
                });
            }
            Event::ToolCompleted {
                call_id,
                name,
                content,
                is_error,
                ..
            } => {
                results.insert(
                    call_id.clone(),
                    Message::Tool {
                        call_id,
                        name,
                        content,
                        is_error,
                    },
                );
            }
            Event::TurnCompleted { .. } => {
                for id in calls.drain(..) {
                    if let Some(result) = results.remove(&id) {
                        pending.push(result);
                    }
                }
            }
            Event::RunCompleted { .. } => history.append(&mut pending),
            Event::RunFailed { .. } | Event::RunCancelled { .. } => pending.clear(),
            Event::TurnStarted { .. } | Event::MessageDelta { .. } | Event::ToolStarted { .. } => {}
        }
    }
    history
}

/// The system prompt with what the agent remembers about `input` appended.
pub async fn with_memories(
    system: &str,
    memory: &dyn MemoryStore,
    tenant: &Tenant,
    scope: &Scope,
    input: &str,
) -> Result<String, StoreError> {
    let hits = memory.search(tenant, scope, input, MEMORY_HITS).await?;
    if hits.is_empty() {
        return Ok(system.to_owned());
    }
    let mut out = format!("{system}\n\n## What you remember\n");
    for hit in hits {
        out.push_str("- ");
        out.push_str(&hit.entry.text.replace('\n', " "));
        out.push('\n');
    }
    Ok(out)
}

struct Recorder(UnboundedSender<Event>);

impl EventSink for Recorder {
    fn emit(&self, event: Event) {
        let _ = self.0.send(event);
    }
}

/// Runs the agent on `input` in the stored session `at`, and records the run in its log.
///
/// Events reach `out` once they are durable, with their numbers. If the log cannot be written
/// (the store failed, or another writer appended to the session meanwhile), the run is
/// cancelled and the store's error returned.
pub async fn run_in_session(
    spec: &RunSpec<'_>,
    provider: &dyn Provider,
    tools: &dyn ToolExecutor,
    out: UnboundedSender<Recorded>,
    at: &SessionContext,
    input: String,
    cancel: &CancellationToken,
) -> Result<RunReport, StoreError> {
    let store = &at.sessions;
    let session = store.get(&at.tenant, &at.session).await?;
    let mut conversation = history(&all_events(&**store, &at.tenant, &at.session, 0).await?);
    let system = match &at.memory {
        Some((memory, scope)) => {
            with_memories(spec.system, &**memory, &at.tenant, scope, &input).await?
        }
        None => spec.system.to_owned(),
    };
    let spec = RunSpec {
        system: &system,
        session: Some(at.session.to_string()),
        ..spec.clone()
    };

    let (tx, mut rx) = unbounded_channel::<Event>();
    let stop = cancel.child_token();
    let writer = tokio::spawn({
        let (store, tenant, id, stop) = (
            Arc::clone(store),
            at.tenant.clone(),
            at.session.clone(),
            stop.clone(),
        );
        let mut last = session.last_seq;
        async move {
            while let Some(first) = rx.recv().await {
                let mut batch = vec![first];
                while batch.len() < 256 {
                    match rx.try_recv() {
                        Ok(event) => batch.push(event),
                        Err(_) => break,
                    }
                }
                let values: Vec<_> = batch
                    .iter()
                    .map(|e| serde_json::to_value(e).expect("events serialize"))
                    .collect();
                match store.append(&tenant, &id, last, &values).await {
                    Ok(now) => {
                        for (i, event) in batch.into_iter().enumerate() {
                            let _ = out.send(Recorded {
                                seq: last + 1 + i as u64,
                                event,
                            });
                        }
                        last = now;
                    }
                    Err(e) => {
                        stop.cancel();
                        return Err(e);
                    }
                }
            }
            Ok(())
        }
    });
    let report = run(
        &spec,
        provider,
        tools,
        &Recorder(tx),
        &mut conversation,
        input,
        &stop,
    )
    .await;
    writer
        .await
        .map_err(|e| StoreError::backend("recording the run", e))??;
    Ok(report)
}
