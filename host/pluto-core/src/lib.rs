//! Pluto's shared vocabulary and the seams between the stages of the data path.
//!
//! The runtime loop talks to a [`Provider`] (one LLM API) and a [`ToolExecutor`] (the tools of
//! one agent) and reports what happens as [`Event`]s. Those traits and the values that cross
//! them live here, so that the runtime, the providers and the tool executors depend on this
//! crate and not on each other; the CLI (the composition root) picks the implementations.
//!
//! # Layout
//! - [`message`]: the conversation: user, assistant (with tool calls) and tool messages.
//! - [`provider`]: the [`Provider`] trait, its request, its answer and its errors.
//! - [`tool`]: tool definitions, tool results (`content` for the model, `details` for clients)
//!   and the [`ToolExecutor`] trait.
//! - [`event`]: the events of a run, as the CLI renders them and the server streams them.

pub mod event;
pub mod message;
pub mod provider;
pub mod tool;

pub use event::{Event, EventSink, Usage};
pub use message::{Message, ToolCall};
pub use provider::{ChatRequest, OnText, Provider, ProviderError, StopReason, Turn};
pub use tool::{ToolContext, ToolDef, ToolExecutor, ToolResult};
