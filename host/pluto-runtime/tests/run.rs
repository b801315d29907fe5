//! The turn loop with in-process providers and tools: ordering, parallelism, limits,
//! cancellation and what is kept in the history.

use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use pluto_core::{
    ChatRequest, Event, Message, OnText, Provider, ProviderError, StopReason, ToolCall,
    ToolContext, ToolDef, ToolExecutor, ToolResult, Turn, Usage,
};
use pluto_runtime::{Limits, Outcome, RunSpec, run};
use tokio_util::sync::CancellationToken;

/// Answers from a list of turns, one per request; records what it was sent.
struct Script {
    turns: Mutex<Vec<Result<Turn, ProviderError>>>,
    seen: Mutex<Vec<Vec<Message>>>,
    systems: Mutex<Vec<String>>,
}

impl Script {
    fn new(turns: Vec<Result<Turn, ProviderError>>) -> Self {
        Script {
            turns: Mutex::new(turns.into_iter().rev().collect()),
            seen: Mutex::new(Vec::new()),
            systems: Mutex::new(Vec::new()),
        }
    }
}

#[async_trait]
impl Provider for Script {
    async fn complete(
        &self,
        request: &ChatRequest<'_>,
        on_text: &mut OnText<'_>,
    ) -> Result<Turn, ProviderError> {
        self.seen.lock().unwrap().push(request.messages.to_vec());
        self.systems.lock().unwrap().push(request.system.to_owned());
        let next = self.turns.lock().unwrap().pop().expect("a scripted turn");
        if let Ok(turn) = &next {
            on_text(&turn.text);
        }
        next
    }
}

fn calls(n: usize, name: &str) -> Turn {
    Turn {
        text: String::new(),
        tool_calls: (0..n)
            .map(|i| ToolCall {
                id: format!("c{i}"),
                name: name.into(),
                arguments: format!("{{\"i\":{i}}}"),
            })
            .collect(),
        stop: StopReason::ToolUse,
        usage: Usage {
            input_tokens: 10,
            output_tokens: 5,
        },
    }
}

fn answer(text: &str) -> Turn {
    Turn {
        text: text.into(),
        tool_calls: Vec::new(),
        stop: StopReason::EndTurn,
        usage: Usage {
            input_tokens: 20,
            output_tokens: 7,
        },
    }
}

/// A tool that sleeps and records how many calls ran at once.
#[derive(Default)]
struct Sleeper {
    now: AtomicUsize,
    peak: AtomicUsize,
    defs: Vec<ToolDef>,
}

#[async_trait]
impl ToolExecutor for Sleeper {
    fn definitions(&self) -> &[ToolDef] {
        &self.defs
    }
    async fn call(&self, call: &ToolCall, ctx: &ToolContext) -> ToolResult {
        /// Counts the call as running until it finishes or is dropped.
        struct Running<'a>(&'a AtomicUsize);
        impl Drop for Running<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::SeqCst);
            }
        }
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        let _running = Running(&self.now);
        self.peak.fetch_max(now, Ordering::SeqCst);
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(100)) => {}
            () = ctx.cancel.cancelled() => {}
        }
        ToolResult::ok(
            format!("result of {}", call.id),
            serde_json::json!({"secret": call.id}),
        )
    }
}

fn spec(max_parallel_tools: usize, max_turns: u32, timeout: Duration) -> RunSpec<'static> {
    RunSpec {
        session: None,
        run_id: "r1".into(),
        agent: "a",
        model: "m",
        system: "sys",
        temperature: None,
        max_tokens: None,
        limits: Limits {
            max_turns,
            timeout,
            max_parallel_tools,
        },
        workspace: PathBuf::from("."),
    }
}

async fn go(
    spec: &RunSpec<'_>,
    provider: &Script,
    tools: &Sleeper,
    history: &mut Vec<Message>,
    cancel: &CancellationToken,
) -> (Outcome, Vec<Event>) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let report = run(spec, provider, tools, &tx, history, "go".into(), cancel).await;
    drop(tx);
    let mut events = Vec::new();
    while let Some(e) = rx.recv().await {
        events.push(e);
    }
    (report.outcome, events)
}

#[tokio::test]
async fn tool_calls_run_in_parallel_up_to_the_limit_and_come_back_in_order() {
    let provider = Script::new(vec![Ok(calls(5, "sleep")), Ok(answer("all done"))]);
    let tools = Sleeper::default();
    let mut history = Vec::new();
    let started = Instant::now();
    let (outcome, events) = go(
        &spec(2, 10, Duration::from_secs(10)),
        &provider,
        &tools,
        &mut history,
        &CancellationToken::new(),
    )
    .await;
    assert_eq!(
        outcome,
        Outcome::Completed {
            output: "all done".into()
        }
    );
    assert_eq!(
        tools.peak.load(Ordering::SeqCst),
        2,
        "at most 2 at once, and 2 did run together"
    );
    // 5 calls, 2 at a time, 100 ms each: 3 rounds.
    assert!(
        started.elapsed() >= Duration::from_millis(300)
            && started.elapsed() < Duration::from_millis(1000)
    );

    let tool_ids: Vec<&str> = history
        .iter()
        .filter_map(|m| match m {
            Message::Tool { call_id, .. } => Some(call_id.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(tool_ids, ["c0", "c1", "c2", "c3", "c4"]);
    // The second request holds the results the model sees, and no details.
    let seen = provider.seen.lock().unwrap();
    assert_eq!(seen[1].len(), 7);
    assert_eq!(
        seen[1][2],
        Message::Tool {
            call_id: "c0".into(),
            name: "sleep".into(),
            content: "result of c0".into(),
            is_error: false
        }
    );
    let completed = events
        .iter()
        .filter(|e| matches!(e, Event::ToolCompleted { .. }))
        .count();
    assert_eq!(completed, 5);
    assert!(matches!(
        events.last(),
        Some(Event::RunCompleted {
            turns: 2,
            usage: Usage {
                input_tokens: 30,
                output_tokens: 12
            },
            ..
        })
    ));
}

#[tokio::test]
async fn parallel_calls_start_before_any_finishes() {
    let provider = Script::new(vec![Ok(calls(2, "sleep")), Ok(answer("ok"))]);
    let tools = Sleeper::default();
    let (_, events) = go(
        &spec(8, 10, Duration::from_secs(10)),
        &provider,
        &tools,
        &mut Vec::new(),
        &CancellationToken::new(),
    )
    .await;
    let names: Vec<&str> = events
        .iter()
        .map(Event::name)
        .filter(|n| n.starts_with("tool."))
        .collect();
    assert_eq!(
        names,
        [
            "tool.started",
            "tool.started",
            "tool.completed",
            "tool.completed"
        ]
    );
}

#[tokio::test]
async fn max_turns_fails_the_run_and_leaves_the_history_as_it_was() {
    let provider = Script::new(vec![
        Ok(calls(1, "sleep")),
        Ok(calls(1, "sleep")),
        Ok(calls(1, "sleep")),
    ]);
    let tools = Sleeper::default();
    let mut history = vec![
        Message::user("earlier"),
        Message::Assistant {
            content: "reply".into(),
            tool_calls: vec![],
        },
    ];
    let (outcome, events) = go(
        &spec(8, 2, Duration::from_secs(10)),
        &provider,
        &tools,
        &mut history,
        &CancellationToken::new(),
    )
    .await;
    assert_eq!(
        outcome,
        Outcome::Failed {
            code: "max_turns",
            message: "no final answer after max_turns (2) turns".into()
        }
    );
    assert_eq!(history.len(), 2, "a failed run keeps nothing");
    assert!(matches!(events.last(), Some(Event::RunFailed { code, .. }) if code == "max_turns"));
}

#[tokio::test]
async fn provider_errors_fail_the_run() {
    let cut = ProviderError::StreamCut {
        provider: "openai",
        message: "connection reset".into(),
    };
    let provider = Script::new(vec![Err(cut)]);
    let (outcome, _) = go(
        &spec(8, 5, Duration::from_secs(10)),
        &provider,
        &Sleeper::default(),
        &mut Vec::new(),
        &CancellationToken::new(),
    )
    .await;
    assert_eq!(
        outcome,
        Outcome::Failed {
            code: "provider",
            message: "openai stream ended early: connection reset".into()
        }
    );
}

#[tokio::test]
async fn the_timeout_and_cancellation_stop_running_tools() {
    let provider = Script::new(vec![Ok(calls(1, "sleep")), Ok(answer("never"))]);
    let tools = Sleeper::default();
    let (outcome, _) = go(
        &spec(8, 5, Duration::from_millis(30)),
        &provider,
        &tools,
        &mut Vec::new(),
        &CancellationToken::new(),
    )
    .await;
    assert!(
        matches!(
            outcome,
            Outcome::Failed {
                code: "timeout",
                ..
            }
        ),
        "{outcome:?}"
    );

    let provider = Script::new(vec![Ok(calls(1, "sleep")), Ok(answer("never"))]);
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(30)).await;
        trigger.cancel();
    });
    let mut history = Vec::new();
    let (outcome, events) = go(
        &spec(8, 5, Duration::from_secs(10)),
        &provider,
        &tools,
        &mut history,
        &cancel,
    )
    .await;
    assert_eq!(outcome, Outcome::Cancelled);
    assert!(history.is_empty());
    assert!(matches!(events.last(), Some(Event::RunCancelled { .. })));
    assert_eq!(
        tools.now.load(Ordering::SeqCst),
        0,
        "no tool call is left running"
    );
}

mod sessions {
    //! Runs inside a stored session: the log is the conversation.

    use std::sync::Arc;

    use pluto_runtime::{Recorded, SessionContext, run_in_session};
    use pluto_services::{
        FileStore, MemoryStore, NewSession, Scope, SessionStore, StoreError, Tenant,
    };
    use serde_json::json;

    use super::*;

    fn tools() -> Sleeper {
        Sleeper {
            defs: vec![ToolDef {
                name: "slow".into(),
                description: "sleeps".into(),
                input_schema: serde_json::json!({"type": "object"}),
            }],
            ..Sleeper::default()
        }
    }

    async fn session(store: &Arc<FileStore>) -> SessionContext {
        let tenant = Tenant::new("t1").unwrap();
        let session = store
            .create(
                &tenant,
                NewSession {
                    agent: "a".into(),
                    ..NewSession::default()
                },
            )
            .await
            .unwrap();
        SessionContext {
            sessions: store.clone(),
            tenant,
            session: session.id,
            memory: None,
        }
    }

    async fn go_in(
        at: &SessionContext,
        provider: &Script,
        input: &str,
    ) -> (Result<pluto_runtime::RunReport, StoreError>, Vec<Recorded>) {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let report = run_in_session(
            &spec(3, 5, Duration::from_secs(10)),
            provider,
            &tools(),
            tx,
            at,
            input.into(),
            &CancellationToken::new(),
        )
        .await;
        let mut recorded = Vec::new();
        while let Ok(r) = rx.try_recv() {
            recorded.push(r);
        }
        (report, recorded)
    }

    #[tokio::test]
    async fn the_session_log_is_the_conversation() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(FileStore::new(dir.path()));
        let at = session(&store).await;

        let first = Script::new(vec![Ok(calls(3, "slow")), Ok(answer("one"))]);
        let (report, recorded) = go_in(&at, &first, "first").await;
        assert!(matches!(report.unwrap().outcome, Outcome::Completed { .. }));
        let seqs: Vec<u64> = recorded.iter().map(|r| r.seq).collect();
        assert_eq!(seqs, (1..=recorded.len() as u64).collect::<Vec<_>>());
        assert!(
            matches!(recorded[0].event, Event::RunStarted { ref input, .. } if input == "first")
        );

        // A failed run leaves nothing in the conversation…
        let failing = Script::new(vec![Err(ProviderError::Http {
            provider: "test",
            status: 500,
            message: "boom".into(),
        })]);
        let (report, _) = go_in(&at, &failing, "lost").await;
        assert!(matches!(report.unwrap().outcome, Outcome::Failed { .. }));

        // …and the next run continues from exactly what the loop kept.
        let second = Script::new(vec![Ok(answer("two"))]);
        let (report, recorded) = go_in(&at, &second, "second").await;
        assert!(matches!(report.unwrap().outcome, Outcome::Completed { .. }));
        assert!(recorded[0].seq > seqs.len() as u64 + 1);
        let mut expected = vec![
            Message::user("first"),
            Message::Assistant {
                content: String::new(),
                tool_calls: calls(3, "slow").tool_calls,
            },
        ];
        for i in 0..3 {
            expected.push(Message::Tool {
                call_id: format!("c{i}"),
                name: "slow".into(),
                content: format!("result of c{i}"),
                is_error: false,
            });
        }
        expected.push(Message::Assistant {
            content: "one".into(),
            tool_calls: Vec::new(),
        });
        expected.push(Message::user("second"));
        assert_eq!(second.seen.lock().unwrap()[0], expected);
        // What the first run's loop sent in its second turn is the same conversation.
        assert_eq!(first.seen.lock().unwrap()[1], expected[..5].to_vec());
    }

    #[tokio::test]
    async fn memories_matching_the_input_reach_the_system_prompt() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(FileStore::new(dir.path()));
        let mut at = session(&store).await;
        let scope = Scope::new("user", "alice").unwrap();
        store
            .add(
                &at.tenant,
                &scope,
                "The user's cat is named Miso",
                json!(null),
            )
            .await
            .unwrap();
        store
            .add(&at.tenant, &scope, "Deploys happen on Fridays", json!(null))
            .await
            .unwrap();
        at.memory = Some((store.clone() as Arc<dyn MemoryStore>, scope));
        let script = Script::new(vec![Ok(answer("Miso"))]);
        let (report, _) = go_in(&at, &script, "What is my cat called?").await;
        report.unwrap();
        let system = script.systems.lock().unwrap()[0].clone();
        assert!(
            system.starts_with("sys\n\n## What you remember\n"),
            "{system}"
        );
        assert!(
            system.contains("- The user's cat is named Miso"),
            "{system}"
        );
        assert!(!system.contains("Fridays"), "{system}");
    }

    #[tokio::test]
    async fn another_writer_in_the_session_stops_the_run_with_a_conflict() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(FileStore::new(dir.path()));
        let at = session(&store).await;
        let intruder = tokio::spawn({
            let (store, at) = (store.clone(), at.clone());
            async move {
                tokio::time::sleep(Duration::from_millis(40)).await;
                let last = store.get(&at.tenant, &at.session).await.unwrap().last_seq;
                store
                    .append(&at.tenant, &at.session, last, &[json!({"type": "note"})])
                    .await
                    .unwrap();
            }
        });
        let script = Script::new(vec![Ok(calls(1, "slow")), Ok(answer("never"))]);
        let (report, _) = go_in(&at, &script, "hello").await;
        intruder.await.unwrap();
        assert!(
            matches!(report, Err(StoreError::Conflict { .. })),
            "{report:?}"
        );
    }
}
