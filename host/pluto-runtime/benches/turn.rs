//! The loop's own overhead per turn, with an in-process provider and tool (no I/O, no JSON).
//!
//! Each iteration is one run of two turns: the model calls one tool, then answers. It is
//! measured on a fresh session (turn 1) and on sessions that already hold 300 and 3000 turns, to show
//! that the loop's cost does not grow with the session.
//!
//!     cargo bench -p pluto-runtime --bench turn

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use criterion::{Criterion, criterion_group, criterion_main};
use pluto_core::event::NoEvents;
use pluto_core::{
    ChatRequest, Message, OnText, Provider, ProviderError, StopReason, ToolCall, ToolContext,
    ToolDef, ToolExecutor, ToolResult, Turn,
};
use pluto_runtime::{Limits, RunSpec, run};
use tokio_util::sync::CancellationToken;

/// Calls `echo` once, then answers.
struct InProcessModel;

#[async_trait]
impl Provider for InProcessModel {
    async fn complete(
        &self,
        request: &ChatRequest<'_>,
        on_text: &mut OnText<'_>,
    ) -> Result<Turn, ProviderError> {
        if let Some(Message::Tool { .. }) = request.messages.last() {
            on_text("done");
            return Ok(Turn {
                text: "done".into(),
                stop: StopReason::EndTurn,
                ..Turn::default()
            });
        }
        Ok(Turn {
            tool_calls: vec![ToolCall {
                id: "call_0".into(),
                name: "echo".into(),
                arguments: r#"{"x":1}"#.into(),
            }],
            stop: StopReason::ToolUse,
            ..Turn::default()
        })
    }
}

struct Echo(Vec<ToolDef>);

#[async_trait]
impl ToolExecutor for Echo {
    fn definitions(&self) -> &[ToolDef] {
        &self.0
    }
    async fn call(&self, call: &ToolCall, _ctx: &ToolContext) -> ToolResult {
        ToolResult::ok(call.arguments.clone(), serde_json::Value::Null)
    }
}

/// A session that already holds `turns` tool-calling turns.
fn session(turns: usize) -> Vec<Message> {
    let mut history = Vec::with_capacity(turns * 4 + 8);
    for i in 0..turns {
        history.push(Message::user(format!("request {i}")));
        history.push(Message::Assistant {
            content: String::new(),
            tool_calls: vec![ToolCall {
                id: format!("call_{i}"),
                name: "echo".into(),
                arguments: "{}".into(),
            }],
        });
        history.push(Message::Tool {
            call_id: format!("call_{i}"),
            name: "echo".into(),
            content: "{}".into(),
            is_error: false,
        });
        history.push(Message::Assistant {
            content: "done".into(),
            tool_calls: Vec::new(),
        });
    }
    history
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let tools = Echo(vec![ToolDef {
        name: "echo".into(),
        description: "Echoes its arguments".into(),
        input_schema: serde_json::json!({"type": "object"}),
    }]);
    let spec = RunSpec {
        session: None,
        run_id: "bench".into(),
        agent: "bench",
        model: "in-process",
        system: "You are a benchmark.",
        temperature: None,
        max_tokens: None,
        limits: Limits {
            max_turns: 25,
            timeout: Duration::from_secs(60),
            max_parallel_tools: 8,
        },
        workspace: PathBuf::from("."),
    };
    let cancel = CancellationToken::new();
    let mut group = c.benchmark_group("run with one tool call (2 turns)");
    for prior_turns in [0usize, 300, 3000] {
        let name = match prior_turns {
            0 => "turn 1 of a new session".to_owned(),
            n => format!("turn {} of a {n}-turn session", n + 1),
        };
        group.bench_function(name.as_str(), |b| {
            // One session, kept hot as a server keeps it: each run appends its 4 messages, which
            // are then dropped again (constant work) so every run sees the same session size.
            b.iter_custom(|iters| {
                let mut history = session(prior_turns);
                let started = Instant::now();
                for _ in 0..iters {
                    let report = rt.block_on(run(
                        &spec,
                        &InProcessModel,
                        &tools,
                        &NoEvents,
                        &mut history,
                        "go".to_owned(),
                        &cancel,
                    ));
                    black_box(report);
                    history.truncate(prior_turns * 4);
                }
                started.elapsed()
            });
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
