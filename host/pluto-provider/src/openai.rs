//! OpenAI chat completions, streamed: OpenAI itself, OpenRouter, and compatible servers.
//!
//! Request: `POST {base}/chat/completions` with `stream: true` and
//! `stream_options.include_usage`. Response: SSE `data:` chunks whose `choices[0].delta` carries
//! text and `tool_calls` fragments (joined by `index`), then `finish_reason`, a usage chunk and
//! `data: [DONE]`. OpenRouter adds comment lines (`: OPENROUTER PROCESSING`) and may report an
//! error mid-stream as a chunk with an `error` object.

use std::collections::BTreeMap;

use async_trait::async_trait;
use futures::StreamExt;
use pluto_core::{
    ChatRequest, Message, OnText, Provider, ProviderError, StopReason, ToolCall, Turn,
};
use serde_json::{Value, json};

use crate::client::HttpClient;
use crate::endpoint::Endpoint;

/// An OpenAI-style chat completions provider.
#[derive(Debug, Clone)]
pub struct OpenAi {
    name: &'static str,
    endpoint: Endpoint,
    http: HttpClient,
    /// OpenRouter's attribution headers, sent only to OpenRouter.
    attribution: bool,
    /// OpenAI's newer name for `max_tokens`.
    max_tokens_field: &'static str,
}

impl OpenAi {
    /// OpenAI, or a compatible server at `endpoint`.
    pub fn official(endpoint: Endpoint, http: HttpClient) -> Self {
        OpenAi {
            name: "openai",
            endpoint,
            http,
            attribution: false,
            max_tokens_field: "max_completion_tokens",
        }
    }

    /// OpenRouter.
    pub fn openrouter(endpoint: Endpoint, http: HttpClient) -> Self {
        OpenAi {
            name: "openrouter",
            endpoint,
            http,
            attribution: true,
            max_tokens_field: "max_tokens",
        }
    }

    /// The request body for `request`.
    pub fn body(&self, request: &ChatRequest<'_>) -> Value {
        let mut messages = Vec::with_capacity(request.messages.len() + 1);
        if !request.system.is_empty() {
            messages.push(json!({"role": "system", "content": request.system}));
        }
        for m in request.messages {
            messages.push(match m {
                Message::User { content } => json!({"role": "user", "content": content}),
                Message::Assistant {
                    content,
                    tool_calls,
                } if tool_calls.is_empty() => {
                    json!({"role": "assistant", "content": content})
                }
                Message::Assistant {
                    content,
                    tool_calls,
                } => json!({
                    "role": "assistant",
                    "content": if content.is_empty() { Value::Null } else { json!(content) },
                    "tool_calls": tool_calls.iter().map(|c| json!({
                        "id": c.id,
                        "type": "function",
                        "function": {"name": c.name, "arguments": c.arguments},
                    })).collect::<Vec<_>>(),
                }),
                Message::Tool {
                    call_id, content, ..
                } => {
                    json!({"role": "tool", "tool_call_id": call_id, "content": content})
                }
            });
        }
        let mut body = json!({
            "model": request.model,
            "messages": messages,
            "stream": true,
            "stream_options": {"include_usage": true},
        });
        if !request.tools.is_empty() {
            body["tools"] = function_tools(request.tools);
        }
        if let Some(t) = request.temperature {
            body["temperature"] = json!(t);
        }
        if let Some(n) = request.max_tokens {
            body[self.max_tokens_field] = json!(n);
        }
        body
    }
}

#[async_trait]
impl Provider for OpenAi {
    async fn complete(
        &self,
        request: &ChatRequest<'_>,
        on_text: &mut OnText<'_>,
    ) -> Result<Turn, ProviderError> {
        let mut headers = Vec::new();
        if let Some(key) = &self.endpoint.api_key {
            headers.push(("authorization", format!("Bearer {key}")));
        }
        if self.attribution {
            headers.push((
                "http-referer",
                "https://github.com/pluto-agents/pluto".to_owned(),
            ));
            headers.push(("x-openrouter-title", "Pluto".to_owned()));
        }
        let url = format!("{}/chat/completions", self.endpoint.base_url);
        let response = self
            .http
            .post(self.name, &url, &headers, &self.body(request))
            .await?;
        let mut events = self.http.sse(self.name, response);
        let mut state = StreamState::new(self.name);
        while let Some(event) = events.next().await {
            let event = event?;
            if state.feed(&event.data, on_text)? {
                return Ok(state.finish());
            }
        }
        state.end_of_stream()
    }
}

/// Tool definitions as `{"type": "function", "function": {...}}` entries (also Ollama's form).
pub(crate) fn function_tools(tools: &[pluto_core::ToolDef]) -> Value {
    tools
        .iter()
        .map(|t| json!({"type": "function", "function": {"name": t.name, "description": t.description, "parameters": t.input_schema}}))
        .collect()
}

/// The turn being assembled from chunks.
#[derive(Debug)]
pub struct StreamState {
    provider: &'static str,
    turn: Turn,
    calls: BTreeMap<u64, ToolCall>,
    finished: bool,
}

impl StreamState {
    /// A fresh turn for `provider`.
    pub fn new(provider: &'static str) -> Self {
        StreamState {
            provider,
            turn: Turn::default(),
            calls: BTreeMap::new(),
            finished: false,
        }
    }

    /// Takes one `data:` payload; `true` when the stream is done (`[DONE]`).
    pub fn feed(&mut self, data: &str, on_text: &mut OnText<'_>) -> Result<bool, ProviderError> {
        let data = data.trim();
        if data == "[DONE]" {
            return Ok(true);
        }
        if data.is_empty() {
            return Ok(false);
        }
        let malformed = |message: String| ProviderError::Malformed {
            provider: self.provider,
            message,
        };
        let chunk: Value = serde_json::from_str(data)
            .map_err(|e| malformed(format!("{e} in chunk {data:.200}")))?;
        if let Some(error) = chunk.get("error") {
            let message = error
                .get("message")
                .and_then(Value::as_str)
                .map_or_else(|| error.to_string(), str::to_owned);
            return Err(ProviderError::Api {
                provider: self.provider,
                message,
            });
        }
        if let Some(usage) = chunk.get("usage").filter(|u| !u.is_null()) {
            self.turn.usage.input_tokens = usage["prompt_tokens"].as_u64().unwrap_or(0);
            self.turn.usage.output_tokens = usage["completion_tokens"].as_u64().unwrap_or(0);
        }
        let Some(choice) = chunk.get("choices").and_then(|c| c.get(0)) else {
            return Ok(false);
        };
        let delta = &choice["delta"];
        if let Some(text) = delta
            .get("content")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
        {
            on_text(text);
            self.turn.text.push_str(text);
        }
        for fragment in delta
            .get("tool_calls")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let index = fragment
                .get("index")
                .and_then(Value::as_u64)
                .unwrap_or(self.calls.len() as u64);
            let call = self.calls.entry(index).or_insert_with(|| ToolCall {
                id: String::new(),
                name: String::new(),
                arguments: String::new(),
            });
            if let Some(id) = fragment
                .get("id")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
            {
                call.id = id.to_owned();
            }
            let function = &fragment["function"];
            if let Some(name) = function.get("name").and_then(Value::as_str) {
                call.name.push_str(name);
            }
            if let Some(args) = function.get("arguments").and_then(Value::as_str) {
                call.arguments.push_str(args);
            }
        }
        if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
            self.finished = true;
            self.turn.stop = match reason {
                "stop" => StopReason::EndTurn,
                "tool_calls" | "function_call" => StopReason::ToolUse,
                "length" => StopReason::MaxTokens,
                "error" => {
                    return Err(ProviderError::Api {
                        provider: self.provider,
                        message: "the stream finished with reason `error`".to_owned(),
                    });
                }
                _ => StopReason::Other,
            };
        }
        Ok(false)
    }

    /// The stream ended without `[DONE]`: complete if a `finish_reason` came, cut otherwise.
    pub fn end_of_stream(self) -> Result<Turn, ProviderError> {
        if self.finished {
            Ok(self.finish())
        } else {
            Err(ProviderError::StreamCut {
                provider: self.provider,
                message: "the connection closed before the answer finished".to_owned(),
            })
        }
    }

    fn finish(mut self) -> Turn {
        self.turn.tool_calls = self
            .calls
            .into_iter()
            .map(|(index, mut call)| {
                if call.id.is_empty() {
                    call.id = format!("call_{index}");
                }
                call
            })
            .collect();
        if !self.turn.tool_calls.is_empty() && self.turn.stop == StopReason::EndTurn {
            self.turn.stop = StopReason::ToolUse;
        }
        self.turn
    }
}
