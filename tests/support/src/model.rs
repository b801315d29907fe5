//! A scripted model: decides each turn's answer from the request, and answers in a provider's
//! wire format.

use serde_json::Value;

use crate::server::{Recorded, Reply};
use crate::wire;

/// One turn of the scripted model: some text, then tool calls (name, arguments).
#[derive(Debug, Clone, Default)]
pub struct Step {
    /// The text.
    pub text: String,
    /// The tool calls.
    pub tools: Vec<(String, Value)>,
}

impl Step {
    /// A final answer.
    pub fn answer(text: impl Into<String>) -> Self {
        Step {
            text: text.into(),
            tools: Vec::new(),
        }
    }

    /// Tool calls, after some text.
    pub fn calls(text: impl Into<String>, tools: Vec<(&str, Value)>) -> Self {
        Step {
            text: text.into(),
            tools: tools.into_iter().map(|(n, a)| (n.to_owned(), a)).collect(),
        }
    }
}

/// A provider wire format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// OpenAI chat completions.
    OpenAi,
    /// OpenRouter (OpenAI format with its own additions).
    OpenRouter,
    /// Anthropic Messages.
    Anthropic,
    /// Ollama `/api/chat`.
    Ollama,
}

impl Format {
    /// All four.
    pub const ALL: [Format; 4] = [
        Format::OpenAi,
        Format::OpenRouter,
        Format::Anthropic,
        Format::Ollama,
    ];

    /// The streamed reply for `step`.
    pub fn reply(self, step: &Step) -> Reply {
        match self {
            Format::OpenAi => Reply::stream(
                "text/event-stream; charset=utf-8",
                wire::openai(step, false),
            ),
            Format::OpenRouter => Reply::stream("text/event-stream", wire::openai(step, true)),
            Format::Anthropic => {
                Reply::stream("text/event-stream; charset=utf-8", wire::anthropic(step))
            }
            Format::Ollama => Reply::stream("application/x-ndjson", wire::ollama(step)),
        }
    }

    /// The path the provider posts to, below its base URL.
    pub fn path(self) -> &'static str {
        match self {
            Format::OpenAi | Format::OpenRouter => "/chat/completions",
            Format::Anthropic => "/v1/messages",
            Format::Ollama => "/api/chat",
        }
    }

    /// The contents of the tool results in a request body, in order.
    pub fn tool_results(self, body: &Value) -> Vec<String> {
        let messages = body["messages"].as_array().cloned().unwrap_or_default();
        let text = |v: &Value| {
            v.as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| v.to_string())
        };
        match self {
            Format::Anthropic => messages
                .iter()
                .filter_map(|m| m["content"].as_array())
                .flatten()
                .filter(|b| b["type"] == "tool_result")
                .map(|b| text(&b["content"]))
                .collect(),
            _ => messages
                .iter()
                .filter(|m| m["role"] == "tool")
                .map(|m| text(&m["content"]))
                .collect(),
        }
    }
}

/// A stand-in handler: `brain` picks each turn's [`Step`] from the request body, and the answer
/// is written in `format`. Requests to other paths get a 404.
pub fn scripted_model(
    format: Format,
    brain: impl Fn(&Value) -> Step + Send + Sync + 'static,
) -> impl Fn(&Recorded, usize) -> Reply + Send + Sync + 'static {
    move |request, _| {
        if !request.path.ends_with(format.path()) {
            return Reply::error(404, r#"{"error":{"message":"no such path"}}"#);
        }
        format.reply(&brain(&request.json()))
    }
}
