//! Ollama `/api/chat`, streamed as NDJSON.
//!
//! Request: `POST {host}/api/chat` with `stream: true`; tool results go back as
//! `{role: "tool", tool_name, content}`. Response: one JSON object per line with
//! `message.content` text and `message.tool_calls` (arguments as an object, no ids), ending with
//! `done: true` and the token counts; errors mid-stream are `{"error": "..."}` lines.

use async_trait::async_trait;
use futures::StreamExt;
use pluto_core::{
    ChatRequest, Message, OnText, Provider, ProviderError, StopReason, ToolCall, Turn,
};
use serde_json::{Value, json};

use crate::client::HttpClient;
use crate::endpoint::Endpoint;

const NAME: &str = "ollama";

/// The Ollama provider.
#[derive(Debug, Clone)]
pub struct Ollama {
    endpoint: Endpoint,
    http: HttpClient,
}

impl Ollama {
    /// The provider at `endpoint`.
    pub fn new(endpoint: Endpoint, http: HttpClient) -> Self {
        Ollama { endpoint, http }
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
                Message::Assistant { content, tool_calls } if tool_calls.is_empty() => {
                    json!({"role": "assistant", "content": content})
                }
                Message::Assistant { content, tool_calls } => json!({
                    "role": "assistant",
                    "content": content,
                    "tool_calls": tool_calls.iter().map(|c| json!({"function": {
                        "name": c.name,
                        "arguments": serde_json::from_str::<Value>(&c.arguments).ok().filter(Value::is_object).unwrap_or_else(|| json!({})),
                    }})).collect::<Vec<_>>(),
                }),
                Message::Tool { name, content, .. } => json!({"role": "tool", "tool_name": name, "content": content}),
            });
        }
        let mut body = json!({"model": request.model, "messages": messages, "stream": true});
        if !request.tools.is_empty() {
            body["tools"] = crate::openai::function_tools(request.tools);
        }
        let mut options = serde_json::Map::new();
        if let Some(t) = request.temperature {
            options.insert("temperature".into(), json!(t));
        }
        if let Some(n) = request.max_tokens {
            options.insert("num_predict".into(), json!(n));
        }
        if !options.is_empty() {
            body["options"] = Value::Object(options);
        }
        body
    }
}

#[async_trait]
impl Provider for Ollama {
    async fn complete(
        &self,
        request: &ChatRequest<'_>,
        on_text: &mut OnText<'_>,
    ) -> Result<Turn, ProviderError> {
        let url = format!("{}/api/chat", self.endpoint.base_url);
        let response = self.http.post(NAME, &url, &[], &self.body(request)).await?;
        let mut chunks = self.http.chunks(NAME, response);
        let mut state = StreamState::default();
        let mut pending: Vec<u8> = Vec::new();
        while let Some(chunk) = chunks.next().await {
            pending.extend_from_slice(&chunk?);
            while let Some(end) = pending.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = pending.drain(..=end).collect();
                if state.feed(&line, on_text)? {
                    return Ok(state.finish());
                }
            }
        }
        // A last line without a newline.
        if !pending.is_empty() && state.feed(&pending, on_text)? {
            return Ok(state.finish());
        }
        Err(ProviderError::StreamCut {
            provider: NAME,
            message: "the stream closed before `done`".to_owned(),
        })
    }
}

/// The turn being assembled from lines.
#[derive(Debug, Default)]
pub struct StreamState {
    turn: Turn,
}

impl StreamState {
    /// Takes one NDJSON line; `true` at `done: true`.
    pub fn feed(&mut self, line: &[u8], on_text: &mut OnText<'_>) -> Result<bool, ProviderError> {
        let line = String::from_utf8_lossy(line);
        let line = line.trim();
        if line.is_empty() {
            return Ok(false);
        }
        let v: Value = serde_json::from_str(line).map_err(|e| ProviderError::Malformed {
            provider: NAME,
            message: format!("{e} in line {line:.200}"),
        })?;
        if let Some(error) = v.get("error") {
            let message = error
                .as_str()
                .map_or_else(|| error.to_string(), str::to_owned);
            return Err(ProviderError::Api {
                provider: NAME,
                message,
            });
        }
        let message = &v["message"];
        if let Some(text) = message["content"].as_str().filter(|t| !t.is_empty()) {
            on_text(text);
            self.turn.text.push_str(text);
        }
        for call in message["tool_calls"].as_array().into_iter().flatten() {
            let n = self.turn.tool_calls.len();
            let function = &call["function"];
            let arguments = match &function["arguments"] {
                Value::String(s) => s.clone(),
                Value::Null => "{}".to_owned(),
                other => other.to_string(),
            };
            self.turn.tool_calls.push(ToolCall {
                id: call["id"]
                    .as_str()
                    .map_or_else(|| format!("call_{n}"), str::to_owned),
                name: function["name"].as_str().unwrap_or_default().to_owned(),
                arguments,
            });
        }
        if v["done"].as_bool() == Some(true) {
            self.turn.stop = match v["done_reason"].as_str() {
                Some("length") => StopReason::MaxTokens,
                _ if !self.turn.tool_calls.is_empty() => StopReason::ToolUse,
                Some("stop") | None => StopReason::EndTurn,
                Some(_) => StopReason::Other,
            };
            self.turn.usage.input_tokens = v["prompt_eval_count"].as_u64().unwrap_or(0);
            self.turn.usage.output_tokens = v["eval_count"].as_u64().unwrap_or(0);
            return Ok(true);
        }
        Ok(false)
    }

    fn finish(self) -> Turn {
        self.turn
    }
}
