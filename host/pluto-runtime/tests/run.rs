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
}

impl Script {
    fn new(turns: Vec<Result<Turn, ProviderError>>) -> Self {
        Script {
            turns: Mutex::new(turns.into_iter().rev().collect()),
            seen: Mutex::new(Vec::new()),
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
