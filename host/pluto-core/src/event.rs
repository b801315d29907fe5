//! The events of a run: what the CLI renders and the server streams as SSE (`event:` = `type`).

use serde::{Deserialize, Serialize};

use crate::message::ToolCall;
use crate::provider::StopReason;

/// Tokens used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Usage {
    /// Tokens read (prompt).
    pub input_tokens: u64,
    /// Tokens written (answer).
    pub output_tokens: u64,
}

impl std::ops::AddAssign for Usage {
    fn add_assign(&mut self, other: Usage) {
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
    }
}

/// One thing that happened in a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Event {
    /// The run began.
    #[serde(rename = "run.started")]
    RunStarted {
        /// The run's id.
        run_id: String,
        /// The agent's name.
        agent: String,
        /// The model's name.
        model: String,
        /// The user's input (the session log is rebuilt into a conversation from it).
        input: String,
    },
    /// A model turn began.
    #[serde(rename = "turn.started")]
    TurnStarted {
        /// The turn's number, from 1.
        turn: u32,
    },
    /// Text arrived from the model.
    #[serde(rename = "message.delta")]
    MessageDelta {
        /// The turn.
        turn: u32,
        /// The new text.
        text: String,
    },
    /// The model's message for this turn is complete.
    #[serde(rename = "message.completed")]
    MessageCompleted {
        /// The turn.
        turn: u32,
        /// The full text.
        text: String,
        /// The tool calls it asked for.
        tool_calls: Vec<ToolCall>,
    },
    /// A tool call began.
    #[serde(rename = "tool.started")]
    ToolStarted {
        /// The turn.
        turn: u32,
        /// The call's id.
        call_id: String,
        /// The tool.
        name: String,
        /// The arguments as the model wrote them.
        arguments: String,
    },
    /// A tool call finished.
    #[serde(rename = "tool.completed")]
    ToolCompleted {
        /// The turn.
        turn: u32,
        /// The call's id.
        call_id: String,
        /// The tool.
        name: String,
        /// What the model sees.
        content: String,
        /// Structured data for clients.
        details: serde_json::Value,
        /// Whether it failed.
        is_error: bool,
        /// How long it took.
        duration_ms: u64,
    },
    /// A model turn and its tool calls are done.
    #[serde(rename = "turn.completed")]
    TurnCompleted {
        /// The turn.
        turn: u32,
        /// Why the model stopped.
        stop_reason: StopReason,
        /// Tokens used by this turn.
        usage: Usage,
    },
    /// The run ended with a final answer.
    #[serde(rename = "run.completed")]
    RunCompleted {
        /// The run's id.
        run_id: String,
        /// The final answer.
        output: String,
        /// How many turns it took.
        turns: u32,
        /// Tokens used by the whole run.
        usage: Usage,
    },
    /// The run failed.
    #[serde(rename = "run.failed")]
    RunFailed {
        /// The run's id.
        run_id: String,
        /// A stable code: `provider`, `max_turns`, `timeout`, `tools`.
        code: String,
        /// What went wrong.
        message: String,
    },
    /// The run was cancelled.
    #[serde(rename = "run.cancelled")]
    RunCancelled {
        /// The run's id.
        run_id: String,
    },
}

impl Event {
    /// The event's name, as in SSE `event:` lines.
    pub fn name(&self) -> &'static str {
        match self {
            Event::RunStarted { .. } => "run.started",
            Event::TurnStarted { .. } => "turn.started",
            Event::MessageDelta { .. } => "message.delta",
            Event::MessageCompleted { .. } => "message.completed",
            Event::ToolStarted { .. } => "tool.started",
            Event::ToolCompleted { .. } => "tool.completed",
            Event::TurnCompleted { .. } => "turn.completed",
            Event::RunCompleted { .. } => "run.completed",
            Event::RunFailed { .. } => "run.failed",
            Event::RunCancelled { .. } => "run.cancelled",
        }
    }
}

/// Where a run's events go. Called from the loop's task; must not block.
pub trait EventSink: Send + Sync {
    /// Delivers one event.
    fn emit(&self, event: Event);
}

impl EventSink for tokio::sync::mpsc::UnboundedSender<Event> {
    fn emit(&self, event: Event) {
        // A receiver that went away (a client that disconnected) is not the run's problem.
        let _ = self.send(event);
    }
}

/// Drops every event (for benchmarks and callers that only want the result).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoEvents;

impl EventSink for NoEvents {
    fn emit(&self, _event: Event) {}
}
