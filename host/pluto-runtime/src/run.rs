//! One run of an agent.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures::StreamExt;
use pluto_core::{
    ChatRequest, Event, EventSink, Message, Provider, ProviderError, ToolCall, ToolContext,
    ToolExecutor, ToolResult, Usage,
};
use tokio_util::sync::CancellationToken;

/// Bounds on one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The most model turns.
    pub max_turns: u32,
    /// The longest the run may take, tool calls included.
    pub timeout: Duration,
    /// The most tool calls run at once within a turn.
    pub max_parallel_tools: usize,
}

/// What a run is: who answers, with which prompt, within which bounds.
#[derive(Debug, Clone)]
pub struct RunSpec<'a> {
    /// The run's id, carried by its events.
    pub run_id: String,
    /// The agent's name.
    pub agent: &'a str,
    /// The model's name at the provider.
    pub model: &'a str,
    /// The system prompt (rendered instructions).
    pub system: &'a str,
    /// Sampling temperature, if set.
    pub temperature: Option<f32>,
    /// Most tokens per answer, if set.
    pub max_tokens: Option<u32>,
    /// Bounds.
    pub limits: Limits,
    /// The folder the tools work in.
    pub workspace: PathBuf,
    /// The session the run belongs to, if any (told to the tools).
    pub session: Option<String>,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A final answer.
    Completed {
        /// The answer.
        output: String,
    },
    /// It failed; `code` is `provider`, `max_turns` or `timeout`.
    Failed {
        /// A stable code.
        code: &'static str,
        /// What went wrong.
        message: String,
    },
    /// It was cancelled.
    Cancelled,
}

/// The result of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunReport {
    /// How it ended.
    pub outcome: Outcome,
    /// Turns taken.
    pub turns: u32,
    /// Tokens used.
    pub usage: Usage,
}

/// Why a run stopped early.
enum Stop {
    Provider(ProviderError),
    MaxTurns(u32),
    Timeout,
}

/// Runs the agent on `input`, continuing `history`.
///
/// On success `history` holds the input, every turn and every tool result. On failure or
/// cancellation it is left exactly as it was: a half-finished turn is never kept.
pub async fn run(
    spec: &RunSpec<'_>,
    provider: &dyn Provider,
    tools: &dyn ToolExecutor,
    events: &dyn EventSink,
    history: &mut Vec<Message>,
    input: String,
    cancel: &CancellationToken,
) -> RunReport {
    let kept = history.len();
    events.emit(Event::RunStarted {
        run_id: spec.run_id.clone(),
        agent: spec.agent.to_owned(),
        model: spec.model.to_owned(),
        input: input.clone(),
    });
    history.push(Message::user(input));
    let deadline = Instant::now() + spec.limits.timeout;
    let ctx = ToolContext {
        session: spec.session.clone(),
        workspace: spec.workspace.clone(),
        cancel: cancel.child_token(),
        deadline,
    };
    let mut progress = (0u32, Usage::default());

    let result = tokio::select! {
        // Cancellation and the deadline first: when they fire, the turn must not go on, even
        // if the tools it was waiting for return in the same instant.
        biased;
        () = cancel.cancelled() => None,
        () = tokio::time::sleep_until(deadline.into()) => Some(Err(Stop::Timeout)),
        r = turns(spec, provider, tools, events, history, &ctx, &mut progress) => Some(r),
    };
    // Stops tools that are still running (their futures are dropped with the select, too).
    ctx.cancel.cancel();

    let run_id = spec.run_id.clone();
    let (turns_taken, usage) = progress;
    let outcome = match result {
        Some(Ok(output)) => {
            events.emit(Event::RunCompleted {
                run_id,
                output: output.clone(),
                turns: turns_taken,
                usage,
            });
            Outcome::Completed { output }
        }
        None => {
            history.truncate(kept);
            events.emit(Event::RunCancelled { run_id });
            Outcome::Cancelled
        }
        Some(Err(stop)) => {
            history.truncate(kept);
            let (code, message) = match stop {
                Stop::Provider(e) => ("provider", e.to_string()),
                Stop::MaxTurns(n) => (
                    "max_turns",
                    format!("no final answer after max_turns ({n}) turns"),
                ),
                Stop::Timeout => (
                    "timeout",
                    format!(
                        "the run took longer than its timeout ({:?})",
                        spec.limits.timeout
                    ),
                ),
            };
            events.emit(Event::RunFailed {
                run_id,
                code: code.to_owned(),
                message: message.clone(),
            });
            Outcome::Failed { code, message }
        }
    };
    RunReport {
        outcome,
        turns: turns_taken,
        usage,
    }
}

async fn turns(
    spec: &RunSpec<'_>,
    provider: &dyn Provider,
    tools: &dyn ToolExecutor,
    events: &dyn EventSink,
    history: &mut Vec<Message>,
    ctx: &ToolContext,
    progress: &mut (u32, Usage),
) -> Result<String, Stop> {
    for turn in 1..=spec.limits.max_turns {
        progress.0 = turn;
        events.emit(Event::TurnStarted { turn });
        let request = ChatRequest {
            model: spec.model,
            system: spec.system,
            messages: history,
            tools: tools.definitions(),
            temperature: spec.temperature,
            max_tokens: spec.max_tokens,
        };
        let mut on_text = |text: &str| {
            events.emit(Event::MessageDelta {
                turn,
                text: text.to_owned(),
            })
        };
        let answer = provider
            .complete(&request, &mut on_text)
            .await
            .map_err(Stop::Provider)?;
        progress.1 += answer.usage;
        events.emit(Event::MessageCompleted {
            turn,
            text: answer.text.clone(),
            tool_calls: answer.tool_calls.clone(),
        });
        if answer.tool_calls.is_empty() {
            events.emit(Event::TurnCompleted {
                turn,
                stop_reason: answer.stop,
                usage: answer.usage,
            });
            history.push(Message::Assistant {
                content: answer.text.clone(),
                tool_calls: Vec::new(),
            });
            return Ok(answer.text);
        }
        let results = call_tools(
            &answer.tool_calls,
            turn,
            tools,
            events,
            ctx,
            spec.limits.max_parallel_tools,
        )
        .await;
        history.push(Message::Assistant {
            content: answer.text,
            tool_calls: answer.tool_calls,
        });
        history.extend(results);
        events.emit(Event::TurnCompleted {
            turn,
            stop_reason: answer.stop,
            usage: answer.usage,
        });
    }
    Err(Stop::MaxTurns(spec.limits.max_turns))
}

/// Runs `calls` at most `parallel` at a time; the results come back in call order.
async fn call_tools(
    calls: &[ToolCall],
    turn: u32,
    tools: &dyn ToolExecutor,
    events: &dyn EventSink,
    ctx: &ToolContext,
    parallel: usize,
) -> Vec<Message> {
    // The futures are made up front (not in a `map` closure over the stream), so that the
    // run's future is `Send` for every lifetime and can be spawned by a server.
    let calls: Vec<_> = calls
        .iter()
        .map(|call| call_tool(call, turn, tools, events, ctx))
        .collect();
    futures::stream::iter(calls)
        .buffered(parallel.max(1))
        .collect()
        .await
}

/// Runs one tool call, with its events.
async fn call_tool(
    call: &ToolCall,
    turn: u32,
    tools: &dyn ToolExecutor,
    events: &dyn EventSink,
    ctx: &ToolContext,
) -> Message {
    events.emit(Event::ToolStarted {
        turn,
        call_id: call.id.clone(),
        name: call.name.clone(),
        arguments: call.arguments.clone(),
    });
    let started = Instant::now();
    let ToolResult {
        content,
        details,
        is_error,
    } = tools.call(call, ctx).await;
    events.emit(Event::ToolCompleted {
        turn,
        call_id: call.id.clone(),
        name: call.name.clone(),
        content: content.clone(),
        details,
        is_error,
        duration_ms: started.elapsed().as_millis().try_into().unwrap_or(u64::MAX),
    });
    Message::Tool {
        call_id: call.id.clone(),
        name: call.name.clone(),
        content,
        is_error,
    }
}
