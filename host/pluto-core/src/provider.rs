//! The provider seam: one streamed chat completion with tools.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::event::Usage;
use crate::message::{Message, ToolCall};
use crate::tool::ToolDef;

/// What the loop asks a provider for one turn. Borrowed, so a turn costs no copy of the history.
#[derive(Debug, Clone, Copy)]
pub struct ChatRequest<'a> {
    /// The model's name at the provider.
    pub model: &'a str,
    /// The system prompt (the agent's rendered instructions).
    pub system: &'a str,
    /// The conversation so far.
    pub messages: &'a [Message],
    /// The tools the model may call.
    pub tools: &'a [ToolDef],
    /// Sampling temperature, if the agent sets one.
    pub temperature: Option<f32>,
    /// Most tokens in the answer, if the agent sets it.
    pub max_tokens: Option<u32>,
}

/// The model's complete answer for one turn.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Turn {
    /// The text (all deltas joined).
    pub text: String,
    /// The tool calls, in order, with their arguments complete.
    pub tool_calls: Vec<ToolCall>,
    /// Why the model stopped.
    pub stop: StopReason,
    /// Tokens used, as the provider reported them.
    pub usage: Usage,
}

/// Why the model stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// A final answer.
    #[default]
    EndTurn,
    /// It wants tool results.
    ToolUse,
    /// It hit the token limit.
    MaxTokens,
    /// Another reason, as the provider named it.
    Other,
}

/// What went wrong talking to a provider. Each variant is something a caller can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// The API key is not configured.
    #[error(
        "{var} is not set: the agent's provider `{provider}` needs an API key (export {var}=...)"
    )]
    MissingKey {
        /// The provider.
        provider: &'static str,
        /// The environment variable to set.
        var: &'static str,
    },
    /// The provider refused the request (after retries, for retryable statuses).
    #[error("{provider} answered HTTP {status}: {message}")]
    Http {
        /// The provider.
        provider: &'static str,
        /// The HTTP status.
        status: u16,
        /// The provider's error message, or the start of the body.
        message: String,
    },
    /// The provider could not be reached (after retries).
    #[error("cannot reach {provider} at {url}: {message}")]
    Connect {
        /// The provider.
        provider: &'static str,
        /// The endpoint.
        url: String,
        /// Why.
        message: String,
    },
    /// The stream broke after it started; nothing of the turn is kept.
    #[error("{provider} stream ended early: {message}")]
    StreamCut {
        /// The provider.
        provider: &'static str,
        /// Why.
        message: String,
    },
    /// The provider reported an error inside the stream.
    #[error("{provider} reported an error mid-stream: {message}")]
    Api {
        /// The provider.
        provider: &'static str,
        /// Its message.
        message: String,
    },
    /// The provider sent something that is not its wire format.
    #[error("{provider} sent a malformed response: {message}")]
    Malformed {
        /// The provider.
        provider: &'static str,
        /// What was wrong.
        message: String,
    },
    /// The stream sent nothing for too long.
    #[error("{provider} sent nothing for {idle:?}; giving up")]
    IdleTimeout {
        /// The provider.
        provider: &'static str,
        /// How long it was idle.
        idle: std::time::Duration,
    },
}

/// Where a provider reports text as it arrives (see [`Provider::complete`]).
pub type OnText<'a> = dyn FnMut(&str) + Send + 'a;

/// One LLM API. Implementations stream the answer, reporting text as it arrives.
///
/// Contract: `on_text` receives the answer's text in order, as it arrives; the returned [`Turn`]
/// holds the same text joined, and every tool call with complete arguments. Dropping the future
/// cancels the request.
#[async_trait]
pub trait Provider: Send + Sync {
    /// Runs one turn.
    async fn complete(
        &self,
        request: &ChatRequest<'_>,
        on_text: &mut OnText<'_>,
    ) -> Result<Turn, ProviderError>;
}
