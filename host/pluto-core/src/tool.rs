//! Tools: what the model is offered, what a call returns, and the executor seam.

use std::path::PathBuf;
use std::time::Instant;

use async_trait::async_trait;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::message::ToolCall;

/// A tool as the model is offered it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolDef {
    /// The name the model calls it by.
    pub name: String,
    /// What it does; the model reads this to decide when to call it.
    pub description: String,
    /// The JSON Schema of its arguments.
    pub input_schema: serde_json::Value,
}

/// The result of one tool call: `content` for the model, `details` for clients.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolResult {
    /// What the model sees: short text (or JSON text).
    pub content: String,
    /// Structured data for clients (a diff, an exit code, a file list); never sent to the model.
    pub details: serde_json::Value,
    /// Whether the call failed; the model sees the failure in `content`.
    pub is_error: bool,
}

impl ToolResult {
    /// A successful result.
    pub fn ok(content: impl Into<String>, details: serde_json::Value) -> Self {
        ToolResult {
            content: content.into(),
            details,
            is_error: false,
        }
    }

    /// A failed call: the message goes to the model, the run goes on.
    pub fn error(message: impl Into<String>) -> Self {
        ToolResult {
            content: message.into(),
            details: serde_json::Value::Null,
            is_error: true,
        }
    }
}

/// What a tool call may use from its run.
#[derive(Debug, Clone)]
pub struct ToolContext {
    /// The folder the tools work in.
    pub workspace: PathBuf,
    /// Cancelled when the run is cancelled or times out; a tool stops its work when it fires.
    pub cancel: CancellationToken,
    /// When the run must end; tools cap their own timeouts by it.
    pub deadline: Instant,
    /// The session the run belongs to, when it has one (session-scoped memory uses it).
    pub session: Option<String>,
}

/// The tools of one agent.
///
/// Contract: `call` never fails outright — an unknown tool, bad arguments, a crash or a timeout
/// is a [`ToolResult`] with `is_error`, which the loop hands back to the model.
#[async_trait]
pub trait ToolExecutor: Send + Sync {
    /// The tools offered to the model.
    fn definitions(&self) -> &[ToolDef];

    /// Runs one call.
    async fn call(&self, call: &ToolCall, ctx: &ToolContext) -> ToolResult;
}
